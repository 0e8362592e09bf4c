/*
 * cors.c — Cross-Origin Resource Sharing headers.
 *
 * With no configured origins every origin may call us ("*": bearer tokens travel in the
 * Authorization header, not in cookies, so "*" is allowed by the Fetch standard). With a list,
 * an Origin on it is echoed back (with Vary: Origin, so caches keep the answers apart) and any
 * other origin gets no Access-Control-Allow-Origin, which makes the browser refuse the response.
 *
 * The preflight allows the requested headers as well as Authorization and Content-Type: the
 * official SDKs send a changing set of X-Stainless-* headers, and a fixed list would break them.
 */
#include "server_internal.h"

#include <strings.h>

/* A header list a client may ask for: tokens, commas and spaces, and not absurdly long. */
static bool header_list_ok(const char *p, size_t len)
{
    if (len == 0 || len > 1024) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        bool tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     strchr("!#$%&'*+-.^_`|~", c) != NULL;
        if (c == 0 || !(tchar || c == ',' || c == ' ' || c == '\t')) return false;
    }
    return true;
}

static const h2o_iovec_t *find(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i < 0 ? NULL : &req->headers.entries[i].value;
}

void nb_http__cors(const nb_http_server_t *s, h2o_req_t *req, bool preflight)
{
    h2o_mem_pool_t *pool = &req->pool;
    h2o_headers_t *hs = &req->res.headers;
    const h2o_iovec_t *origin = find(req, "origin");
    bool allowed = true;

    if (s->cfg.n_cors_origins == 0) {
        h2o_add_header(pool, hs, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, "Access-Control-Allow-Origin",
                       H2O_STRLIT("*"));
    } else {
        allowed = false;
        for (size_t i = 0; origin != NULL && i < s->cfg.n_cors_origins; i++) {
            const char *o = s->origins[i];
            size_t n = strlen(o);
            if ((n == 1 && o[0] == '*') || (n == origin->len && strncasecmp(o, origin->base, n) == 0)) {
                allowed = true;
                break;
            }
        }
        h2o_add_header(pool, hs, H2O_TOKEN_VARY, "Vary", H2O_STRLIT("Origin"));
        if (allowed) {
            h2o_iovec_t v = h2o_strdup(pool, origin->base, origin->len);
            h2o_add_header(pool, hs, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, "Access-Control-Allow-Origin",
                           v.base, v.len);
        }
    }
    if (!allowed) return;
    if (!preflight) {
        nb_http__add_header(req, "Access-Control-Expose-Headers", "X-Request-Id", strlen("X-Request-Id"));
        return;
    }
    nb_http__add_header(req, "Access-Control-Allow-Methods", "GET, POST, OPTIONS",
                        strlen("GET, POST, OPTIONS"));
    const h2o_iovec_t *asked = find(req, "access-control-request-headers");
    if (asked != NULL && header_list_ok(asked->base, asked->len)) {
        static const char base[] = "Authorization, Content-Type, ";
        size_t n = sizeof(base) - 1 + asked->len;
        char *v = h2o_mem_alloc_pool(pool, n);
        memcpy(v, base, sizeof(base) - 1);
        memcpy(v + sizeof(base) - 1, asked->base, asked->len);
        nb_http__add_header(req, "Access-Control-Allow-Headers", v, n);
    } else {
        nb_http__add_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type",
                            strlen("Authorization, Content-Type"));
    }
    nb_http__add_header(req, "Access-Control-Max-Age", "86400", 5);
}
