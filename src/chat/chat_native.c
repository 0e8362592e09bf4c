/*
 * chat_native.c — the native thread API's two routes: WS /chat (many turns per socket, each
 * tagged with its thread id) and POST /chat/sse (one turn per request). Both parse native.h
 * messages and run each turn as a session with a native sink; this file only moves events and
 * keeps track of which turns belong to which client.
 */
#include "bridge_internal.h"

#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/log.h"
#include "bridge/mem.h"

#include <stdio.h>
#include <string.h>

/* Append an event, with the client's request id (if any) as its first member:
 * {"request_id":"…", + the rest. */
static void tag_event(nb_buf_t *out, const char *json, size_t len, const char *request_id)
{
    if (request_id == NULL || len == 0 || json[0] != '{') {
        nb_buf_append(out, json, len);
        return;
    }
    nb_buf_appends(out, "{\"request_id\":");
    nb_json_write_string(out, request_id, strlen(request_id));
    if (len > 2) nb_buf_appendc(out, ',');
    nb_buf_append(out, json + 1, len - 1);
}

/* The request limits, for a native message as for an OpenAI body. */
static void limits_of(const nb_bridge_t *b, nb_native_limits_t *lim)
{
    nb_native_limits_defaults(lim);
    lim->max_history = b->cfg.limits.max_messages;
    lim->max_text = b->cfg.limits.max_text;
}

/* ---- WS /chat ---------------------------------------------------------------------------------- */

typedef struct sock sock_t;
struct sock {
    nb_bridge_t *b;
    nb_ws_t *ws;
    int slot; /* the API key's per_key slot */
    sock_t *prev, *next;
    nb_session_t **turns; /* running turns (max_ws_threads) */
    size_t n_turns;
    nb_buf_t out;    /* scratch for our own events */
    nb_buf_t tagged; /* an event with its request id */
};

static int ws_send_tagged(sock_t *k, const char *json, size_t len, const char *request_id)
{
    if (k->ws == NULL) return NB_ECLOSED;
    if (request_id == NULL) return nb_ws_send(k->ws, json, len);
    nb_buf_reset(&k->tagged);
    tag_event(&k->tagged, json, len, request_id);
    return nb_ws_send(k->ws, k->tagged.data, k->tagged.len);
}

static void ws_send_buf(sock_t *k, const char *request_id)
{
    ws_send_tagged(k, k->out.data ? k->out.data : "", k->out.len, request_id);
}

static void ws_error(sock_t *k, const nb_native_msg_t *m, const char *message, const char *code)
{
    nb_buf_reset(&k->out);
    nb_native_ev_error(&k->out, m != NULL && m->has_thread ? m->thread : NULL, message, code);
    ws_send_buf(k, m != NULL ? m->request_id : NULL);
}

static int ws_emit(void *ud, nb_session_t *s, const char *type, const char *json, size_t len,
                   const nb_api_error_t *e)
{
    sock_t *k = ud;
    (void)type, (void)e;
    return ws_send_tagged(k, json, len, nb_session_request_id(s));
}

static void ws_done(void *ud, nb_session_t *s)
{
    sock_t *k = ud;
    for (size_t i = 0; i < k->n_turns; i++)
        if (k->turns[i] == s) {
            k->turns[i] = k->turns[--k->n_turns];
            return;
        }
}

static const nb_native_sink_t ws_sink = {ws_emit, ws_done};

static nb_session_t *find_turn(sock_t *k, const uint8_t thread[32])
{
    for (size_t i = 0; i < k->n_turns; i++) {
        const uint8_t *t = nb_session_thread(k->turns[i]);
        if (t != NULL && memcmp(t, thread, 32) == 0) return k->turns[i];
    }
    return NULL;
}

static void ws_stop(sock_t *k, const nb_native_msg_t *m)
{
    /* this socket's turn in that thread, else the same key's turn there on another connection
     * (a client that reconnected) */
    nb_session_t *s = find_turn(k, m->thread);
    for (nb_session_t *o = k->b->sessions; s == NULL && o != NULL; o = nb_session_next(o)) {
        const uint8_t *t = nb_session_thread(o);
        if (t != NULL && memcmp(t, m->thread, 32) == 0 && nb_session_key(o) == k->slot) s = o;
    }
    if (s == NULL || !nb_session_stop(s)) {
        ws_error(k, m, "no turn of yours is running in that thread", "not_running");
        return;
    }
    nb_buf_reset(&k->out);
    nb_native_ev_stopped(&k->out, m->thread);
    ws_send_buf(k, m->request_id);
}

static void ws_message(sock_t *k, nb_native_msg_t *m)
{
    nb_bridge_t *b = k->b;
    if (k->n_turns >= b->cfg.max_ws_threads) {
        ws_error(k, m, "too many turns are running on this connection", "too_many_threads");
        return;
    }
    if (m->has_thread && find_turn(k, m->thread) != NULL) {
        ws_error(k, m, "a turn is already running in this thread: wait for its end or stop it",
                 "thread_busy");
        return;
    }
    nb_api_error_t e;
    uint64_t retry_s;
    if (!nb_bridge_admit(b, k->slot, &e, &retry_s)) {
        ws_error(k, m, e.message, "rate_limit_exceeded");
        return;
    }
    /* the session may end (and call ws_done) before it returns: then it returns NULL */
    nb_session_t *s = nb_session_start_native(b, &ws_sink, k, k->slot, m);
    if (s != NULL) k->turns[k->n_turns++] = s;
}

static void on_ws_message(void *ud, nb_ws_t *ws, const char *p, size_t len, bool is_text)
{
    sock_t *k = ud;
    (void)ws;
    if (!is_text) {
        ws_error(k, NULL, "binary frames are not supported: send JSON text frames", "invalid_request");
        return;
    }
    nb_native_limits_t lim;
    limits_of(k->b, &lim);
    nb_native_msg_t m;
    memset(&m, 0, sizeof(m));
    nb_api_error_t e;
    if (nb_native_parse(&m, p, len, &lim, &e) != 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s%s%s", e.param[0] ? e.param : "", e.param[0] ? ": " : "", e.message);
        ws_error(k, &m, msg, "invalid_request");
        nb_native_msg_dispose(&m);
        return;
    }
    switch (m.type) {
    case NB_NATIVE_PING:
        nb_buf_reset(&k->out);
        nb_native_ev_pong(&k->out);
        ws_send_buf(k, m.request_id);
        break;
    case NB_NATIVE_STOP:
        ws_stop(k, &m);
        break;
    case NB_NATIVE_MESSAGE:
        ws_message(k, &m);
        break;
    }
    nb_native_msg_dispose(&m);
}

static void unlink_sock(sock_t *k)
{
    nb_bridge_t *b = k->b;
    if (k->prev)
        k->prev->next = k->next;
    else
        b->native_sockets = k->next;
    if (k->next) k->next->prev = k->prev;
    b->n_sockets--;
}

static void on_ws_close(void *ud, nb_ws_t *ws)
{
    sock_t *k = ud;
    (void)ws;
    k->ws = NULL;
    /* the turns lose their client: each runs on to be recorded, or is stopped (flag) */
    while (k->n_turns > 0) {
        nb_session_t *s = k->turns[--k->n_turns];
        nb_session_detach(s);
    }
    unlink_sock(k);
    nb_buf_dispose(&k->out);
    nb_buf_dispose(&k->tagged);
    nb_free(k->turns);
    nb_free(k);
}

void nb_bridge_route_chat_ws(void *ud, nb_http_req_t *r)
{
    nb_bridge_t *b = ud;
    nb_api_error_t e;
    int slot = nb_bridge_auth(b, r, true, &e);
    if (slot < 0) {
        nb_http_respond_error(r, &e); /* before the upgrade: a plain 401 */
        return;
    }
    if (b->shutting_down) {
        nb_api_error_set(&e, 503, "server_error", "shutting_down", NULL, "the server is shutting down");
        nb_http_respond_error(r, &e);
        return;
    }
    sock_t *k = nb_calloc(1, sizeof(*k));
    k->b = b;
    k->slot = slot;
    k->turns = nb_calloc(b->cfg.max_ws_threads ? b->cfg.max_ws_threads : 1, sizeof(*k->turns));
    nb_buf_init(&k->out, 64 * 1024);
    nb_buf_init(&k->tagged, 64u * 1024 * 1024);
    static const nb_ws_cb_t cb = {on_ws_message, on_ws_close};
    k->ws = nb_http_ws_accept(r, &cb, k);
    if (k->ws == NULL) { /* not a WebSocket handshake: answered 400 */
        nb_buf_dispose(&k->out);
        nb_buf_dispose(&k->tagged);
        nb_free(k->turns);
        nb_free(k);
        return;
    }
    k->next = b->native_sockets;
    if (k->next) ((sock_t *)k->next)->prev = k;
    b->native_sockets = k;
    b->n_sockets++;
}

void nb_bridge_native_shutdown(nb_bridge_t *b)
{
    /* each socket's turns end with an error event from the session abort that follows; the
     * sockets close after what is queued (on_ws_close frees them) */
    for (sock_t *k = b->native_sockets; k != NULL; k = k->next)
        if (k->ws != NULL) nb_ws_close(k->ws, 1001, "server shutting down");
}

/* ---- POST /chat/sse ---------------------------------------------------------------------------- */

typedef struct {
    nb_http_req_t *r; /* NULL once answered or gone */
    nb_session_t *s;
    bool started;
    nb_buf_t out; /* one SSE event */
} sse_t;

static void sse_free(sse_t *x)
{
    nb_buf_dispose(&x->out);
    nb_free(x);
}

static int sse_emit(void *ud, nb_session_t *s, const char *type, const char *json, size_t len,
                    const nb_api_error_t *e)
{
    sse_t *x = ud;
    if (x->r == NULL) return NB_ECLOSED;
    if (!x->started && e != NULL) {
        /* nothing streamed yet: an HTTP error says it best */
        nb_http_respond_error(x->r, e);
        x->r = NULL;
        return 0;
    }
    if (!x->started) {
        nb_http_sse_start(x->r);
        x->started = true;
    }
    nb_buf_t *b = &x->out;
    nb_buf_reset(b);
    if (strcmp(type, "end") == 0 || strcmp(type, "error") == 0) nb_buf_appendf(b, "event: %s\n", type);
    nb_buf_appends(b, "data: ");
    tag_event(b, json, len, nb_session_request_id(s));
    nb_buf_appends(b, "\n\n");
    return nb_http_sse_write(x->r, b->data, b->len);
}

static void sse_done(void *ud, nb_session_t *s)
{
    sse_t *x = ud;
    (void)s;
    if (x->r != NULL) nb_http_sse_end(x->r);
    sse_free(x);
}

static const nb_native_sink_t sse_sink = {sse_emit, sse_done};

static void on_sse_gone(void *ud)
{
    sse_t *x = ud;
    x->r = NULL;
    nb_session_t *s = x->s;
    sse_free(x);
    if (s != NULL) nb_session_detach(s);
}

void nb_bridge_route_chat_sse(void *ud, nb_http_req_t *r, const char *body, size_t len)
{
    nb_bridge_t *b = ud;
    nb_api_error_t e;
    int slot = nb_bridge_auth(b, r, true, &e);
    if (slot < 0) {
        nb_http_respond_error(r, &e);
        return;
    }
    nb_native_limits_t lim;
    limits_of(b, &lim);
    nb_native_msg_t m;
    memset(&m, 0, sizeof(m));
    if (nb_native_parse(&m, body, len, &lim, &e) != 0) {
        nb_native_msg_dispose(&m);
        nb_http_respond_error(r, &e);
        return;
    }
    if (m.type != NB_NATIVE_MESSAGE) {
        nb_native_msg_dispose(&m);
        nb_api_error_set(
            &e, 400, "invalid_request_error", NULL, "type",
            "POST /chat/sse takes one message; stop a run with {\"type\":\"stop\"} over WS /chat");
        nb_http_respond_error(r, &e);
        return;
    }
    uint64_t retry_s;
    if (!nb_bridge_admit(b, slot, &e, &retry_s)) {
        nb_native_msg_dispose(&m);
        nb_bridge_respond_limited(r, &e, retry_s);
        return;
    }
    sse_t *x = nb_calloc(1, sizeof(*x));
    x->r = r;
    nb_buf_init(&x->out, 64u * 1024 * 1024);
    nb_http_req_on_gone(r, on_sse_gone, x);
    /* the session may end (sse_done frees x) before it returns: then it returns NULL */
    nb_session_t *s = nb_session_start_native(b, &sse_sink, x, slot, &m);
    if (s != NULL) x->s = s;
    nb_native_msg_dispose(&m);
}
