/* route.c — path parsing and the route/method table (see route.h). */
#include "route.h"

#include "bridge/json.h"

#include <string.h>

static bool span_eq(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(p, lit, n) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode seg into out->dtag; a static reason on failure, NULL on success. */
static const char *decode_dtag(nb_route_t *out, const char *seg, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = seg[i];
        if (c == '%') {
            if (len - i < 3) return "malformed percent-encoding in the d-tag";
            int h = hexval(seg[i + 1]), l = hexval(seg[i + 2]);
            if (h < 0 || l < 0) return "malformed percent-encoding in the d-tag";
            c = (char)(h << 4 | l);
            i += 2;
        }
        if (c == '/' || c == '\0') return "the d-tag must not contain '/' or NUL";
        if (n == NB_HTTP_DTAG_MAX) return "the d-tag is longer than 256 bytes";
        out->dtag[n++] = c;
    }
    if (n == 0) return "empty d-tag";
    if (!nb_utf8_valid(out->dtag, n)) return "the d-tag is not valid UTF-8";
    out->dtag[n] = '\0';
    out->dtag_len = n;
    out->has_dtag = true;
    return NULL;
}

static nb_route_outcome_t not_found(nb_route_t *out, const char *why)
{
    out->outcome = NB_ROUTE_NOT_FOUND;
    out->kind = NB_ROUTE_NONE;
    out->allow = NULL;
    out->why = why;
    out->has_dtag = false;
    out->dtag_len = 0;
    out->dtag[0] = '\0';
    return out->outcome;
}

/* The path is known: decide by method. */
static nb_route_outcome_t with_method(nb_route_t *out, nb_route_kind_t kind, const char *method, size_t mlen)
{
    bool post = kind == NB_ROUTE_CHAT || kind == NB_ROUTE_CHAT_SSE;
    const char *want = post ? "POST" : "GET";
    out->kind = kind;
    out->allow = post ? "POST, OPTIONS" : "GET, OPTIONS";
    if (span_eq(method, mlen, want))
        out->outcome = NB_ROUTE_DISPATCH;
    else if (span_eq(method, mlen, "OPTIONS"))
        out->outcome = NB_ROUTE_PREFLIGHT;
    else
        out->outcome = NB_ROUTE_BAD_METHOD;
    return out->outcome;
}

nb_route_outcome_t nb_http_route_parse(nb_route_t *out, const char *method, size_t method_len,
                                       const char *path, size_t path_len)
{
    out->why = NULL;
    out->has_dtag = false;
    out->dtag_len = 0;
    out->dtag[0] = '\0';

    /* The query (and a fragment, which clients should not send) play no part in routing. */
    for (size_t i = 0; i < path_len; i++) {
        if (path[i] == '?' || path[i] == '#') {
            path_len = i;
            break;
        }
    }
    if (path_len == 0 || path[0] != '/') return not_found(out, "the path must start with '/'");

    if (span_eq(path, path_len, "/health")) return with_method(out, NB_ROUTE_HEALTH, method, method_len);
    if (span_eq(path, path_len, "/metrics")) return with_method(out, NB_ROUTE_METRICS, method, method_len);
    if (span_eq(path, path_len, "/v1/models")) return with_method(out, NB_ROUTE_MODELS, method, method_len);
    if (span_eq(path, path_len, "/v1/chat/completions"))
        return with_method(out, NB_ROUTE_CHAT, method, method_len);
    if (span_eq(path, path_len, "/chat")) return with_method(out, NB_ROUTE_CHAT_WS, method, method_len);
    if (span_eq(path, path_len, "/chat/sse")) return with_method(out, NB_ROUTE_CHAT_SSE, method, method_len);

    /* /<dtag>/<rest>: the d-tag is the first segment, the rest must be one of the known tails. */
    const char *seg = path + 1;
    const char *slash = memchr(seg, '/', path_len - 1);
    if (slash == NULL) return not_found(out, "unknown path");
    const char *rest = slash;
    size_t rest_len = (size_t)(path + path_len - rest);
    nb_route_kind_t kind;
    if (span_eq(rest, rest_len, "/chat/completions") || span_eq(rest, rest_len, "/v1/chat/completions"))
        kind = NB_ROUTE_CHAT;
    else if (span_eq(rest, rest_len, "/models") || span_eq(rest, rest_len, "/v1/models"))
        kind = NB_ROUTE_MODELS;
    else
        return not_found(out, "unknown path");

    const char *why = decode_dtag(out, seg, (size_t)(slash - seg));
    if (why != NULL) return not_found(out, why);
    return with_method(out, kind, method, method_len);
}
