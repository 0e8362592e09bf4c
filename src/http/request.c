/*
 * request.c — one request: routing (route.c decides, this file dispatches), its lifetime between
 * the user and h2o (see server_internal.h), the liveness check, and the public nb_http_req_* and
 * nb_http_respond* functions.
 *
 * How we learn that h2o is done with a request: h2o_dispose_request (2.2.5) stops the generator,
 * runs the loggers, then clears req->pool, which runs the dispose callbacks of the shared chunks
 * linked to it. track() links one (live_t) to every request that reaches the handler.
 */
#include "server_internal.h"

#include "bridge/log.h"
#include "bridge/mem.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* ---- liveness ------------------------------------------------------------------------------------ */

int nb_http__req_fd(const h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    return sock != NULL ? h2o_socket_get_fd(sock) : -1;
}

/*
 * h2o stops reading an HTTP/1 socket once the request is in, so it cannot see a client leave
 * until a write fails. A peek can: 0 means the client sent FIN (or the connection broke).
 * A client that half-closes after its request and still waits for the answer would be taken
 * for gone; HTTP clients do not do that.
 */
bool nb_http__peer_closed(const h2o_req_t *req)
{
    int fd = nb_http__req_fd(req);
    if (fd < 0) return true;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The liveness check for requests not answered yet (HTTP/1 writes nothing to them). */
void nb_http__check_pending(nb_http_server_t *s)
{
    for (nb_http_req_t *r = s->reqs, *next; r != NULL; r = next) {
        next = r->next;
        if (r->sse || r->user_done || r->gone || r->req == NULL) continue;
        if (nb_http__peer_closed(r->req)) nb_http__req_gone(r, GONE_CLIENT);
    }
}

/* ---- lifetime ------------------------------------------------------------------------------------ */

void nb_http__uncount(nb_http_req_t *r)
{
    if (r->counted) {
        r->counted = false;
        r->srv->active--;
    }
}

void nb_http__req_release(nb_http_req_t *r)
{
    if (r->live != NULL) {
        r->live->r = NULL;
        r->live->finishing = true;
        r->live = NULL;
    }
    r->req = NULL;
    r->sending = false;
}

void nb_http__req_maybe_free(nb_http_req_t *r)
{
    if (!r->user_done || r->req != NULL || r->gone_queued || r->in_gone_cb) return;
    nb_http_server_t *s = r->srv;
    nb_http__sse_dispose(r);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        s->reqs = r->next;
    if (r->next != NULL) r->next->prev = r->prev;
    nb_free(r);
    nb_http__maybe_finish(s);
}

static void run_on_gone(nb_http_req_t *r)
{
    if (r->user_done) return;
    r->in_gone_cb = true;
    if (r->on_gone != NULL) r->on_gone(r->gone_ud);
    r->in_gone_cb = false;
    r->user_done = true;
}

static void on_defer(uv_timer_t *t)
{
    nb_http_server_t *s = t->data;
    nb_http_req_t *r;
    while ((r = s->defer_head) != NULL) {
        s->defer_head = r->defer_next;
        if (s->defer_head == NULL) s->defer_tail = NULL;
        r->gone_queued = false;
        run_on_gone(r);
        nb_http__req_maybe_free(r);
    }
    nb_http__ws_run_deferred(s);
}

void nb_http__defer_kick(nb_http_server_t *s)
{
    uv_timer_start(&s->defer_timer, on_defer, 0, 0);
}

void nb_http__req_gone(nb_http_req_t *r, gone_why_t why)
{
    nb_http_server_t *s = r->srv;
    if (r->gone || r->user_done) return;
    r->gone = true;
    r->gone_why = (uint8_t)why;
    nb_http__uncount(r);
    /* The decision may have been taken inside the user's own call (a write over the cap, the
     * server closing): on_gone runs from the next timer phase, never from inside that call. */
    r->gone_queued = true;
    r->defer_next = NULL;
    if (s->defer_tail != NULL)
        s->defer_tail->defer_next = r;
    else
        s->defer_head = r;
    s->defer_tail = r;
    nb_http__defer_kick(s);

    if (r->req == NULL) return;
    if (r->sse) {
        nb_http__sse_abort(r);
        return;
    }
    /* Not answered yet: answer now and close, so h2o lets go of the request. */
    h2o_req_t *req = r->req;
    nb_http__req_release(r);
    req->http1_is_persistent = 0;
    if (why == GONE_CLOSING) {
        nb_api_error_t e;
        nb_api_error_set(&e, 503, "server_error", NULL, NULL, "The server is shutting down; retry later.");
        nb_http__send_error(req, &e);
    } else {
        nb_http__send_whole(req, 499, NULL, NULL, 0); /* nobody reads it: only the access log sees 499 */
    }
}

/* h2o disposed a request that reached our handler (its pool is being cleared). */
static void on_live_disposed(void *p)
{
    live_t *lv = p;
    nb_http_server_t *s = lv->srv;
    if (lv->prev != NULL)
        lv->prev->next = lv->next;
    else
        s->live = lv->next;
    if (lv->next != NULL) lv->next->prev = lv->prev;
    /* Closing: a keep-alive connection would now wait for its next request; end it instead. An
     * upgraded one now belongs to its WebSocket, which is closing on its own terms. */
    if (s->closing && !lv->upgraded) nb_http__cut_fd(nb_http__req_fd(lv->req));

    nb_http_req_t *r = lv->r;
    if (r == NULL) return;
    r->live = NULL;
    r->req = NULL;
    r->sending = false;
    if (!r->user_done && !r->gone) {
        /* The client went away (a write failed) while the user still held r. Called from h2o's
         * I/O callback, not from a user call, so on_gone runs now, while the body is valid. */
        r->gone = true;
        r->gone_why = GONE_CLIENT;
        nb_http__uncount(r);
        nb_http__sse_dispose(r);
        run_on_gone(r);
    }
    nb_http__req_maybe_free(r);
}

static live_t *track(nb_http_server_t *s, h2o_req_t *req)
{
    live_t *lv = h2o_mem_alloc_shared(&req->pool, sizeof(*lv), on_live_disposed);
    memset(lv, 0, sizeof(*lv));
    lv->req = req;
    lv->srv = s;
    lv->next = s->live;
    if (s->live != NULL) s->live->prev = lv;
    s->live = lv;
    return lv;
}

/* ---- routing ------------------------------------------------------------------------------------- */

/* Printable ASCII only, so client bytes can go into a log line or an error message as is. */
static bool printable(const char *p, size_t len, size_t max)
{
    if (len > max) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e) return false;
    return true;
}

static void peer_text(h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    out[0] = '\0';
    socklen_t n = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (n == 0) return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, out, cap);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, out, cap);
}

static void answer_not_found(h2o_req_t *req, const char *why)
{
    nb_api_error_t e;
    if (printable(req->method.base, req->method.len, 16) && printable(req->path.base, req->path.len, 200))
        nb_api_error_set(&e, 404, "invalid_request_error", NULL, NULL, "Invalid URL (%.*s %.*s): %s",
                         (int)req->method.len, req->method.base, (int)req->path.len, req->path.base, why);
    else
        nb_api_error_set(&e, 404, "invalid_request_error", NULL, NULL, "Invalid URL: %s", why);
    nb_http__send_error(req, &e);
}

static void answer_bad_method(h2o_req_t *req, const char *allow)
{
    nb_api_error_t e;
    if (printable(req->method.base, req->method.len, 16))
        nb_api_error_set(&e, 405, "invalid_request_error", NULL, NULL,
                         "Method %.*s is not allowed here (allowed: %s)", (int)req->method.len,
                         req->method.base, allow);
    else
        nb_api_error_set(&e, 405, "invalid_request_error", NULL, NULL, "Method not allowed (allowed: %s)",
                         allow);
    nb_http__add_header(req, "Allow", allow, strlen(allow));
    nb_http__send_error(req, &e);
}

int nb_http__on_req(h2o_handler_t *self, h2o_req_t *req)
{
    nb_http_server_t *s = ((handler_t *)self)->srv;
    char id[40];
    nb_http__make_id(id);
    nb_http__add_header(req, "X-Request-Id", id, strlen(id));

    nb_route_t rt;
    nb_http_route_parse(&rt, req->method.base, req->method.len, req->path.base, req->path.len);
    nb_http__cors(s, req, rt.outcome == NB_ROUTE_PREFLIGHT);
    live_t *lv = track(s, req);

    if (s->closing) {
        nb_api_error_t e;
        nb_api_error_set(&e, 503, "server_error", NULL, NULL, "The server is shutting down; retry later.");
        req->http1_is_persistent = 0;
        lv->finishing = true;
        nb_http__send_error(req, &e);
        return 0;
    }
    if (rt.outcome == NB_ROUTE_DISPATCH && rt.kind == NB_ROUTE_METRICS && s->routes->metrics == NULL)
        rt = (nb_route_t){.outcome = NB_ROUTE_NOT_FOUND, .why = "metrics are disabled"};
    /* A native route without a callback does not exist, for preflights and other methods too. */
    if ((rt.kind == NB_ROUTE_CHAT_WS && s->routes->chat_ws == NULL) ||
        (rt.kind == NB_ROUTE_CHAT_SSE && s->routes->chat_sse == NULL))
        rt = (nb_route_t){.outcome = NB_ROUTE_NOT_FOUND, .why = "unknown path"};
    switch (rt.outcome) {
    case NB_ROUTE_PREFLIGHT:
        lv->finishing = true;
        nb_http__send_whole(req, 204, NULL, NULL, 0);
        return 0;
    case NB_ROUTE_NOT_FOUND:
        lv->finishing = true;
        answer_not_found(req, rt.why);
        return 0;
    case NB_ROUTE_BAD_METHOD:
        lv->finishing = true;
        answer_bad_method(req, rt.allow);
        return 0;
    case NB_ROUTE_DISPATCH:
        break;
    }

    nb_http_req_t *r = nb_calloc(1, sizeof(*r));
    r->srv = s;
    r->req = req;
    r->live = lv;
    lv->r = r;
    r->counted = true;
    s->active++;
    memcpy(r->id, id, sizeof(r->id));
    peer_text(req, r->peer, sizeof(r->peer));
    r->next = s->reqs;
    if (s->reqs != NULL) s->reqs->prev = r;
    s->reqs = r;

    const char *dtag = rt.has_dtag ? rt.dtag : NULL; /* the callbacks copy what they keep */
    const char *body = req->entity.base != NULL ? req->entity.base : "";
    switch (rt.kind) {
    case NB_ROUTE_CHAT:
        s->routes->chat(s->ud, r, dtag, body, req->entity.len);
        break;
    case NB_ROUTE_CHAT_SSE:
        s->routes->chat_sse(s->ud, r, body, req->entity.len);
        break;
    case NB_ROUTE_CHAT_WS:
        s->routes->chat_ws(s->ud, r);
        break;
    case NB_ROUTE_MODELS:
        s->routes->models(s->ud, r, dtag);
        break;
    case NB_ROUTE_HEALTH:
        s->routes->health(s->ud, r);
        break;
    case NB_ROUTE_METRICS:
        s->routes->metrics(s->ud, r);
        break;
    case NB_ROUTE_NONE:
        break;
    }
    return 0;
}

/* ---- the public per-request API ------------------------------------------------------------------ */

const char *nb_http_req_id(const nb_http_req_t *r)
{
    return r->id;
}

const char *nb_http_req_peer(const nb_http_req_t *r)
{
    return r->peer;
}

const char *nb_http_req_header(const nb_http_req_t *r, const char *name, size_t *len)
{
    if (r->req == NULL) return NULL;
    char lc[128];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(lc)) return NULL;
    for (size_t i = 0; i < n; i++)
        lc[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    if (n == 4 && memcmp(lc, "host", 4) == 0) { /* h2o moves it out of the header list */
        if (r->req->input.authority.base == NULL) return NULL;
        if (len != NULL) *len = r->req->input.authority.len;
        return r->req->input.authority.base;
    }
    const h2o_token_t *tok = h2o_lookup_token(lc, n);
    ssize_t i = tok != NULL ? h2o_find_header(&r->req->headers, tok, -1)
                            : h2o_find_header_by_str(&r->req->headers, lc, n, -1);
    if (i < 0) return NULL;
    if (len != NULL) *len = r->req->headers.entries[i].value.len;
    return r->req->headers.entries[i].value.base;
}

const char *nb_http_req_query(const nb_http_req_t *r, size_t *len)
{
    if (len != NULL) *len = 0;
    if (r->req == NULL) return "";
    const h2o_iovec_t *path = &r->req->input.path;
    size_t at = r->req->input.query_at;
    if (at == SIZE_MAX || at >= path->len) return "";
    if (len != NULL) *len = path->len - at - 1;
    return path->base + at + 1;
}

static bool header_name_ok(const char *p)
{
    if (*p == '\0') return false;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c) != NULL))
            return false;
    }
    return true;
}

void nb_http_req_add_header(nb_http_req_t *r, const char *name, const char *value)
{
    if (r->req == NULL || r->user_done) return;
    /* A CR or LF in a value would let it write headers (or a body) of its own. */
    if (!header_name_ok(name) || strpbrk(value, "\r\n") != NULL) {
        NB_WARN("http: refusing an invalid response header (id=%s)", r->id);
        return;
    }
    nb_http__add_header(r->req, name, value, strlen(value));
}

void nb_http_req_on_gone(nb_http_req_t *r, void (*cb)(void *ud), void *ud)
{
    r->on_gone = cb;
    r->gone_ud = ud;
}

void nb_http_respond(nb_http_req_t *r, int status, const char *content_type, const char *body, size_t len)
{
    if (r->in_gone_cb || r->user_done) return;
    if (r->sse) {
        NB_ERROR("http: respond after sse_start (id=%s): ending the stream instead", r->id);
        nb_http_sse_end(r);
        return;
    }
    r->user_done = true;
    nb_http__uncount(r);
    if (r->req != NULL && !r->gone) {
        h2o_req_t *req = r->req;
        nb_http__req_release(r);
        nb_http__send_whole(req, status, content_type, body, len);
    }
    nb_http__req_maybe_free(r);
}

void nb_http_respond_json(nb_http_req_t *r, int status, const char *json, size_t len)
{
    nb_http_respond(r, status, "application/json", json, len);
}

void nb_http_respond_error(nb_http_req_t *r, const nb_api_error_t *e)
{
    if (r->in_gone_cb || r->user_done) return;
    if (r->sse || r->req == NULL || r->gone) {
        nb_http_respond(r, e->status, NULL, NULL, 0);
        return;
    }
    r->user_done = true;
    nb_http__uncount(r);
    h2o_req_t *req = r->req;
    nb_http__req_release(r);
    nb_http__send_error(req, e);
    nb_http__req_maybe_free(r);
}
