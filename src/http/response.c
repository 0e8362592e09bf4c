/*
 * response.c — writing responses: complete bodies, OpenAI error objects, request ids, and the
 * two h2o hooks that see every response: the filter and the access log.
 *
 * The filter exists for the responses h2o writes by itself before any handler runs (413 for a
 * body over max_body, 400 for broken chunked encoding, 417 for an unknown Expect): they get an
 * X-Request-Id like every other response, and their plain-text bodies become OpenAI error
 * objects. h2o 2.2.5 sends them through h2o_send_error_generic on the host's fallback path,
 * which runs that path's filters, so registering ours there is enough.
 */
#include "server_internal.h"

#include "bridge/hex.h"
#include "bridge/log.h"
#include "bridge/openai.h"

#include <string.h>
#include <sys/time.h>
#include <uuid/uuid.h>

/* Replaces the plain-text body of an error h2o wrote by itself with our JSON one. */
typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
} json_ostream_t;

/* ---- ids and headers ----------------------------------------------------------------------------- */

void nb_http__make_id(char out[40])
{
    uuid_t u;
    uuid_generate_random(u);
    memcpy(out, "req_", 4);
    nb_hex_encode(out + 4, u, 16);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

void nb_http__add_header(h2o_req_t *req, const char *name, const char *value, size_t len)
{
    size_t n = strlen(name);
    char *lc = h2o_mem_alloc_pool(&req->pool, n);
    for (size_t i = 0; i < n; i++)
        lc[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, lc, n, 1, name, v.base, v.len);
}

static bool is_head(const h2o_req_t *req)
{
    return req->method.len == 4 && memcmp(req->method.base, "HEAD", 4) == 0;
}

/* ---- complete responses -------------------------------------------------------------------------- */

static h2o_generator_t once_generator = {NULL, NULL};

/* Answer req with a complete body (copied into its pool). req must not have a response yet. */
void nb_http__send_whole(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    if (status < 100 || status > 999) {
        NB_ERROR("http: invalid status %d, sending 500", status);
        status = 500;
    }
    bool bodiless = status < 200 || status == 204 || status == 304;
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = bodiless ? SIZE_MAX : len;
    if (content_type != NULL && !bodiless)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", content_type,
                       strlen(content_type));
    h2o_iovec_t buf = {NULL, 0};
    if (!bodiless && len > 0 && !is_head(req)) {
        buf.base = h2o_mem_alloc_pool(&req->pool, len);
        memcpy(buf.base, body, len);
        buf.len = len;
    }
    h2o_start_response(req, &once_generator);
    h2o_send(req, buf.len ? &buf : NULL, buf.len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

void nb_http__send_error(h2o_req_t *req, const nb_api_error_t *e)
{
    nb_buf_t b;
    nb_buf_init(&b, 16384);
    if (nb_oai_error_json(&b, e) != 0) {
        nb_buf_reset(&b);
        nb_buf_appends(&b,
                       "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\",\"param\":null,"
                       "\"code\":null}}");
    }
    /* The official SDKs retry 408/409/429/5xx; tell them not to bother with the other 4xx. */
    /* Likewise when the agent itself failed or timed out: a retry would run it again, and make
     * the caller wait three times as long for the same outcome. */
    bool agent_failed =
        e->code != NULL && (strcmp(e->code, "agent_error") == 0 || strcmp(e->code, "agent_timeout") == 0 ||
                            strcmp(e->code, "turn_timeout") == 0);
    if ((e->status >= 400 && e->status < 500 && e->status != 408 && e->status != 409 && e->status != 429) ||
        agent_failed)
        nb_http__add_header(req, "X-Should-Retry", "false", 5);
    nb_http__send_whole(req, e->status, "application/json", b.data, b.len);
    nb_buf_dispose(&b);
}

/* ---- responses h2o writes by itself (413, broken chunked bodies, ...) ---------------------------- */

static void json_ostream_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                              h2o_send_state_t state)
{
    json_ostream_t *o = (json_ostream_t *)self;
    if (bufcnt == 0 || o->body.len == 0) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    h2o_iovec_t b = o->body;
    o->body.len = 0; /* once: h2o_send_inline sends its body in one FINAL call */
    h2o_ostream_send_next(self, req, &b, 1, state);
}

void nb_http__on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    nb_http_server_t *s = ((filter_t *)self)->srv;
    /* Our handler stamps every request it sees; a response without the id is one h2o wrote
     * before routing (413 body too large, 400 broken chunked encoding, 417 bad Expect). */
    if (h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1) >= 0) goto next;
    char id[40];
    nb_http__make_id(id);
    nb_http__add_header(req, "X-Request-Id", id, strlen(id));
    if (req->res.status < 400) goto next;

    nb_api_error_t e;
    if (req->res.status == 413)
        nb_api_error_set(&e, 413, "invalid_request_error", NULL, NULL,
                         "The request body is too large (the limit is %zu bytes).", s->cfg.max_body);
    else
        nb_api_error_set(&e, req->res.status, "invalid_request_error", NULL, NULL, "%s",
                         req->res.status == 417 ? "Unsupported Expect header." : "Malformed HTTP request.");
    nb_buf_t b;
    nb_buf_init(&b, 4096);
    if (nb_oai_error_json(&b, &e) == 0) {
        json_ostream_t *o = (json_ostream_t *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = json_ostream_send;
        o->body = h2o_strdup(&req->pool, b.data, b.len);
        req->res.content_length = b.len;
        ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
        if (ct >= 0)
            req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/json"));
        else
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                           H2O_STRLIT("application/json"));
        slot = &o->super.next;
    }
    nb_buf_dispose(&b);
next:
    h2o_setup_next_ostream(req, slot);
}

/* ---- access log ---------------------------------------------------------------------------------- */

/* Client bytes go to the log escaped (\xHH), without the query (it may carry secrets). */
static void log_span(char *out, size_t cap, const char *p, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '?') break;
        if (c < 0x21 || c > 0x7e || c == '\\') {
            static const char hx[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static void count(nb_http_server_t *s, h2o_req_t *req, int status)
{
    nb_route_t rt;
    nb_http_route_parse(&rt, req->input.method.base, req->input.method.len, req->input.path.base,
                        req->input.path.len);
    int kind = rt.outcome == NB_ROUTE_NOT_FOUND ? NB_ROUTE_NONE : (int)rt.kind;
    if (kind < 0 || kind >= NB_HTTP_ROUTE_KINDS) kind = NB_ROUTE_NONE;
    status_count_t *row = s->counts[kind];
    for (size_t i = 0; i < NB_HTTP_STATUS_SLOTS; i++) {
        if (row[i].n == 0 || row[i].status == status || i == NB_HTTP_STATUS_SLOTS - 1) {
            if (row[i].n == 0) row[i].status = i == NB_HTTP_STATUS_SLOTS - 1 ? 0 : (uint16_t)status;
            row[i].n++;
            return;
        }
    }
}

static const char *const route_names[NB_HTTP_ROUTE_KINDS] = {
    [NB_ROUTE_NONE] = "unknown",      [NB_ROUTE_CHAT] = "chat",       [NB_ROUTE_MODELS] = "models",
    [NB_ROUTE_HEALTH] = "health",     [NB_ROUTE_METRICS] = "metrics", [NB_ROUTE_CHAT_WS] = "chat_ws",
    [NB_ROUTE_CHAT_SSE] = "chat_sse",
};

void nb_http_req_metrics(const nb_http_req_t *r, nb_buf_t *out)
{
    const nb_http_server_t *s = r->srv;
    nb_buf_appends(out,
                   "# HELP bridge_http_requests_total HTTP responses by route and status (499: the client "
                   "left first).\n# TYPE bridge_http_requests_total counter\n");
    for (int k = 0; k < NB_HTTP_ROUTE_KINDS; k++)
        for (size_t i = 0; i < NB_HTTP_STATUS_SLOTS && s->counts[k][i].n != 0; i++)
            nb_buf_appendf(out, "bridge_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                           route_names[k], (unsigned)s->counts[k][i].status,
                           (unsigned long long)s->counts[k][i].n);
}

void nb_http__on_access_log(h2o_logger_t *self, h2o_req_t *req)
{
    count(((logger_t *)self)->srv, req, req->res.status != 0 ? req->res.status : 499);
    if (!nb_log_enabled(NB_LOG_INFO)) return;
    char method[64], path[512];
    log_span(method, sizeof(method), req->input.method.base, req->input.method.len);
    log_span(path, sizeof(path), req->input.path.base, req->input.path.len);
    ssize_t i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1);
    int idlen = i >= 0 ? (int)req->res.headers.entries[i].value.len : 1;
    const char *id = i >= 0 ? req->res.headers.entries[i].value.base : "-";
    struct timeval now;
    gettimeofday(&now, NULL);
    const struct timeval *t0 = &req->timestamps.request_begin_at;
    double ms = t0->tv_sec == 0
                    ? 0.0
                    : (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_usec - t0->tv_usec) / 1e3;
    /* A request the client left before it was answered never got a status. */
    int status = req->res.status != 0 ? req->res.status : 499;
    NB_INFO("http: %s %s %d bytes=%zu ms=%.1f id=%.*s", method, path, status, req->bytes_sent, ms, idlen, id);
}
