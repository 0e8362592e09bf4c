/*
 * ws.c — WebSockets (GET /chat): h2o's websocket support, with wslay underneath, on the server's
 * own connections, plus the limits and close rules of http_server.h.
 *
 * h2o 2.2.5 facts this file relies on (lib/handler/websocket.c, lib/http1.c; read them before
 * changing anything here):
 *  - h2o_upgrade_to_websocket queues the 101 and hands the socket over only when that write has
 *    completed: conn->sock is NULL until then, and the upgrade completion still points at conn.
 *    Before it nothing may call h2o_websocket_proceed or h2o_websocket_close (the completion
 *    would use a freed conn); such a connection is cut with shutdown(2) instead.
 *  - The message callback with arg == NULL means the connection is over, and the callee must call
 *    h2o_websocket_close (it closes the socket and frees conn and the wslay context).
 *  - h2o_websocket_proceed runs wslay until nothing moves and calls that NULL callback itself
 *    when wslay fails or nothing is left to do (close frames exchanged). It must never run while
 *    wslay is on the stack for the same conn: a close there would free the context under wslay.
 *    So nothing is proceeded from inside on_message; the proceed that delivered the message sends
 *    what on_message queued right after wslay returns.
 *  - h2o's wslay send callback allows one piece per write: a frame header and its payload go out
 *    separately, two loop round trips per message. We install our own: frames collect in `out`
 *    while a write is in flight and go out together (up to OUT_BATCH bytes per write).
 *  - wslay sends control frames before queued messages, and nothing after a close frame: a close
 *    queued behind messages overtakes them and they are dropped. nb_ws_close promises the close
 *    after what is queued, so it waits until wslay's queue is empty (close_pending). The limit and
 *    idle closes do want to overtake: the peer is not reading anyway.
 *  - wslay answers pings and close frames by itself, and queues a close 1009 and stops reading
 *    when a message passes max_recv_msg_length; the rest of its queue is then dropped.
 *
 * A close we start gives the peer CLOSE_GRACE_MS to read up to our close frame and answer it;
 * then the connection is cut. on_close always runs from the server's zero timer (request.c).
 */
#include "server_internal.h"

#include "bridge/err.h"
#include "bridge/log.h"
#include "bridge/mem.h"

#include <assert.h>
#include <string.h>

/* Most bytes handed to one write. */
#define OUT_BATCH (64u * 1024)
/* A buffer that grew for a burst is given back once it drained, so idle sockets stay small. */
#define KEEP_BUF_BYTES (16u * 1024)
/* How long a peer has to finish the close handshake we started. */
#define CLOSE_GRACE_MS NB_HTTP_CLOSE_GRACE_MS

static void pump(nb_ws_t *ws);

/* The upgrade is complete: h2o's websocket conn owns the socket. */
static bool ready(const nb_ws_t *ws)
{
    return ws->conn != NULL && ws->conn->sock != NULL;
}

/* ---- the end ------------------------------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    nb_free(h);
}

/* h2o's side is over, or we end it: close the socket, free h2o's conn, queue on_close. Never
 * called while wslay runs for this conn (see above). */
static void finish(nb_ws_t *ws)
{
    if (ws->gone) return;
    nb_http_server_t *s = ws->srv;
    h2o_websocket_conn_t *c = ws->conn;
    ws->gone = true;
    ws->closing = true;
    ws->conn = NULL;
    /* A write may be in flight: h2o closes the socket without calling us back, and libuv does
     * not read `inflight` after uv_close; it is freed with ws, after on_close. */
    if (c != NULL) h2o_websocket_close(c);
    if (ws->timer != NULL) {
        uv_close((uv_handle_t *)ws->timer, on_timer_closed);
        ws->timer = NULL;
    }
    ws->defer_next = NULL;
    if (s->ws_defer_tail != NULL)
        s->ws_defer_tail->defer_next = ws;
    else
        s->ws_defer_head = ws;
    s->ws_defer_tail = ws;
    nb_http__defer_kick(s);
}

/* The peer had its chance: end the connection now. */
static void cut(nb_ws_t *ws)
{
    if (ws->gone) return;
    if (ready(ws))
        finish(ws);
    else
        nb_http__cut_fd(ws->fd); /* the 101 write fails; h2o reports it as a close */
}

void nb_http__ws_run_deferred(nb_http_server_t *s)
{
    /* Only those queued so far: one that ends inside an on_close waits for the next round. */
    nb_ws_t *ws = s->ws_defer_head;
    s->ws_defer_head = s->ws_defer_tail = NULL;
    while (ws != NULL) {
        nb_ws_t *next = ws->defer_next;
        if (ws->counted) {
            ws->counted = false;
            s->active--;
        }
        if (ws->cb.on_close != NULL) ws->cb.on_close(ws->ud, ws);
        if (ws->prev != NULL)
            ws->prev->next = ws->next;
        else
            s->ws = ws->next;
        if (ws->next != NULL) ws->next->prev = ws->prev;
        nb_buf_dispose(&ws->out);
        nb_buf_dispose(&ws->inflight);
        nb_free(ws);
        ws = next;
    }
    nb_http__maybe_finish(s);
}

/* ---- closing ------------------------------------------------------------------------------------- */

static void on_deadline(uv_timer_t *t)
{
    nb_ws_t *ws = t->data;
    NB_DEBUG("http: websocket close handshake timed out peer=%s", ws->peer);
    cut(ws);
}

/* From now on nothing more is sent, and the connection ends within CLOSE_GRACE_MS. */
static void begin_closing(nb_ws_t *ws)
{
    if (ws->closing) return;
    ws->closing = true;
    if (ws->timer != NULL) uv_timer_start(ws->timer, on_deadline, CLOSE_GRACE_MS, 0);
}

/* Queue the close frame now; wslay sends it before any queued message (and drops those). */
static void queue_close(nb_ws_t *ws, uint16_t code, const char *reason, size_t len)
{
    begin_closing(ws);
    ws->close_pending = false;
    /* WSLAY_ERR_NO_MORE_MSG when wslay is closing by itself already: that close stands. */
    if (ws->conn != NULL) (void)wslay_event_queue_close(ws->conn->ws_ctx, code, (const uint8_t *)reason, len);
}

/* nb_ws_close: the close frame goes out once everything queued before it has left wslay. */
static void maybe_send_close(nb_ws_t *ws)
{
    if (!ws->close_pending || ws->conn == NULL) return;
    if (wslay_event_get_queued_msg_count(ws->conn->ws_ctx) != 0) return;
    queue_close(ws, ws->close_code, ws->close_reason, ws->close_reason_len);
}

/* ---- writing ------------------------------------------------------------------------------------- */

static void on_written(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *c = sock->data;
    nb_ws_t *ws = c->data;
    if (err != NULL) {
        finish(ws);
        return;
    }
    nb_buf_shrink(&ws->inflight, KEEP_BUF_BYTES);
    pump(ws);
}

/* Write what collected in `out`, unless a write is in flight (on_written comes back here). */
static void flush(nb_ws_t *ws)
{
    h2o_socket_t *sock = ws->conn->sock;
    if (ws->out.len == 0 || h2o_socket_is_writing(sock)) return;
    nb_buf_t t = ws->inflight; /* empty: nothing is in flight */
    ws->inflight = ws->out;
    ws->out = t;
    h2o_iovec_t b = h2o_iovec_init(ws->inflight.data, ws->inflight.len);
    h2o_socket_write(sock, &b, 1, on_written);
}

/*
 * wslay's send callback. h2o_websocket_proceed calls wslay only when no write is in flight, and
 * then checks whether one is (or wslay wants to write) before it decides the connection is idle,
 * so unless we are corked a write starts at the end of each frame. Corked (our own pump), frames
 * only collect and the pump writes them all at once.
 */
static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                             void *user_data)
{
    h2o_websocket_conn_t *c = user_data;
    nb_ws_t *ws = c->data;
    size_t room = OUT_BATCH - ws->out.len;
    if (room == 0) {
        if (!ws->corked) flush(ws);
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < room ? len : room;
    (void)nb_buf_append(&ws->out, data, n); /* fits: out.max is OUT_BATCH */
    if (!ws->corked && !(flags & WSLAY_MSG_MORE)) flush(ws);
    return (ssize_t)n;
}

/* Move wslay's queue into writes, then let h2o read what is pending, start or stop reading, or
 * end an idle closed connection (that comes back as on_ws_msg(NULL) → finish). */
static void pump(nb_ws_t *ws)
{
    h2o_websocket_conn_t *c = ws->conn;
    maybe_send_close(ws);
    if (!h2o_socket_is_writing(c->sock) && wslay_event_want_write(c->ws_ctx)) {
        ws->corked = true;
        int rc = wslay_event_send(c->ws_ctx);
        ws->corked = false;
        if (rc != 0) {
            finish(ws);
            return;
        }
        maybe_send_close(ws); /* goes out with the next write */
    }
    flush(ws);
    h2o_websocket_proceed(c);
}

/* After a user call queued something: start writing unless a write or a proceed is under way. */
static void kick(nb_ws_t *ws)
{
    if (!ready(ws) || ws->in_msg) return;
    if (h2o_socket_is_writing(ws->conn->sock)) return; /* on_written pumps */
    pump(ws);
}

/* ---- reading ------------------------------------------------------------------------------------- */

/* h2o's recv callback, noting that the peer is alive. */
static ssize_t on_wslay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                             void *user_data)
{
    h2o_websocket_conn_t *c = user_data;
    nb_ws_t *ws = c->data;
    ssize_t n = ws->h2o_recv(ctx, buf, len, flags, user_data);
    if (n > 0) {
        ws->last_rx = uv_now(ws->srv->loop);
        ws->rx_since_tick = true;
    }
    return n;
}

static void on_ws_msg(h2o_websocket_conn_t *c, const struct wslay_event_on_msg_recv_arg *arg)
{
    nb_ws_t *ws = c->data;
    if (arg == NULL) {
        finish(ws);
        return;
    }
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        /* After a close began, the peer's messages are not ours to handle any more. */
        if (ws->closing || ws->cb.on_message == NULL) return;
        ws->in_msg = true;
        ws->cb.on_message(ws->ud, ws, arg->msg != NULL ? (const char *)arg->msg : "", arg->msg_length,
                          arg->opcode == WSLAY_TEXT_FRAME);
        ws->in_msg = false;
        return;
    case WSLAY_CONNECTION_CLOSE:
        /* wslay has queued the answer; h2o ends the connection once it is written. */
        NB_DEBUG("http: websocket closed by the peer (%u) peer=%s", arg->status_code, ws->peer);
        begin_closing(ws);
        return;
    default:
        return; /* ping (wslay answers it) or pong */
    }
}

/* ---- liveness ------------------------------------------------------------------------------------ */

static void on_tick(uv_timer_t *t)
{
    nb_ws_t *ws = t->data;
    nb_http_server_t *s = ws->srv;
    if (ws->closing || !ready(ws)) return;
    wslay_event_context_ptr ctx = ws->conn->ws_ctx;
    if (!wslay_event_get_read_enabled(ctx)) {
        /* wslay is closing by itself (message too big, protocol error): bound the wait. */
        begin_closing(ws);
        return;
    }
    uint64_t silent = uv_now(s->loop) - ws->last_rx;
    if (silent >= s->cfg.ws_idle_timeout_ms) {
        NB_INFO("http: websocket silent for %llu ms, closing peer=%s", (unsigned long long)silent, ws->peer);
        queue_close(ws, 1001, "idle timeout", strlen("idle timeout"));
        kick(ws);
        return;
    }
    if (!ws->rx_since_tick) {
        static const uint8_t none[1];
        struct wslay_event_msg ping = {WSLAY_PING, none, 0};
        if (wslay_event_queue_msg(ctx, &ping) == 0) kick(ws);
    }
    ws->rx_since_tick = false;
}

/* ---- public API ---------------------------------------------------------------------------------- */

/* The client's Sec-WebSocket-Key (24 bytes, not NUL-terminated) if req is a version 13 handshake. */
static const char *handshake_key(h2o_req_t *req)
{
    const char *key = NULL;
    if (req->version < 0x101 || req->version >= 0x200) return NULL; /* RFC 6455 §4.1: HTTP/1.1 */
    if (h2o_is_websocket_handshake(req, &key) != 0 || key == NULL) return NULL;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-version"), -1);
    if (i < 0) return NULL;
    const h2o_iovec_t *v = &req->headers.entries[i].value;
    return h2o_memis(v->base, v->len, H2O_STRLIT("13")) ? key : NULL;
}

bool nb_http_is_ws_handshake(nb_http_req_t *r)
{
    return r->req != NULL && !r->user_done && !r->gone && !r->sse && handshake_key(r->req) != NULL;
}

nb_ws_t *nb_http_ws_accept(nb_http_req_t *r, const nb_ws_cb_t *cb, void *ud)
{
    assert(cb != NULL);
    if (r->in_gone_cb || r->user_done) return NULL;
    const char *key = nb_http_is_ws_handshake(r) ? handshake_key(r->req) : NULL;
    if (key == NULL) {
        nb_api_error_t e;
        nb_api_error_set(&e, 400, "invalid_request_error", NULL, NULL,
                         "This endpoint speaks WebSocket: send a GET with Upgrade: websocket, "
                         "Connection: Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version: 13.");
        if (r->req != NULL && !r->gone && !r->sse)
            nb_http__add_header(r->req, "Sec-WebSocket-Version", "13", 2);
        nb_http_respond_error(r, &e);
        return NULL;
    }

    nb_http_server_t *s = r->srv;
    h2o_req_t *req = r->req;
    nb_ws_t *ws = nb_calloc(1, sizeof(*ws));
    ws->srv = s;
    ws->cb = *cb;
    ws->ud = ud;
    ws->fd = nb_http__req_fd(req);
    memcpy(ws->peer, r->peer, sizeof(ws->peer));
    nb_buf_init(&ws->out, OUT_BATCH);
    nb_buf_init(&ws->inflight, OUT_BATCH);
    ws->last_rx = uv_now(s->loop);
    ws->next = s->ws;
    if (s->ws != NULL) s->ws->prev = ws;
    s->ws = ws;
    ws->counted = true;
    s->active++;

    /* r is answered: the user lets go of it now, h2o once the 101 is written. */
    if (r->live != NULL) r->live->upgraded = true;
    r->user_done = true;
    nb_http__uncount(r);
    nb_http__req_release(r);
    ws->conn = h2o_upgrade_to_websocket(req, key, ws, on_ws_msg);
    nb_http__req_maybe_free(r);

    /* Nothing runs on the conn before the 101 is written, so it can still be configured. */
    struct wslay_event_callbacks cbs = ws->conn->ws_callbacks;
    ws->h2o_recv = cbs.recv_callback;
    cbs.recv_callback = on_wslay_recv;
    cbs.send_callback = on_wslay_send;
    wslay_event_config_set_callbacks(ws->conn->ws_ctx, &cbs);
    wslay_event_config_set_max_recv_msg_length(ws->conn->ws_ctx, s->cfg.max_ws_message);

    uint64_t tick = s->cfg.heartbeat_ms;
    if (tick > s->cfg.ws_idle_timeout_ms / 2) tick = s->cfg.ws_idle_timeout_ms / 2;
    if (tick == 0) tick = 1;
    ws->timer = nb_malloc(sizeof(*ws->timer));
    uv_timer_init(s->loop, ws->timer);
    ws->timer->data = ws;
    uv_timer_start(ws->timer, on_tick, tick, tick);
    return ws;
}

int nb_ws_send(nb_ws_t *ws, const char *p, size_t len)
{
    if (ws->closing || ws->conn == NULL) return NB_ECLOSED;
    size_t max = ws->srv->cfg.max_stream_queue;
    size_t used = nb_ws_queued(ws);
    if (len > max || used > max - len) {
        NB_WARN("http: websocket cut, the peer does not read: %zu bytes would be queued (limit %zu) peer=%s",
                used + len, max, ws->peer);
        queue_close(ws, 1008, "send queue limit", strlen("send queue limit"));
        kick(ws);
        return NB_ELIMIT;
    }
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)(len > 0 ? p : ""), len};
    if (wslay_event_queue_msg(ws->conn->ws_ctx, &m) != 0) return NB_ECLOSED; /* wslay is closing */
    kick(ws);
    return 0;
}

void nb_ws_close(nb_ws_t *ws, uint16_t code, const char *reason)
{
    if (ws->closing) return;
    begin_closing(ws);
    ws->close_pending = true;
    ws->close_code = code;
    /* A close reason is at most 123 bytes (RFC 6455 §5.5); cut at a UTF-8 character boundary. */
    size_t n = reason != NULL ? strlen(reason) : 0;
    if (code == 0) n = 0;
    if (n > sizeof(ws->close_reason) - 1) {
        n = sizeof(ws->close_reason) - 1;
        while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
            n--;
    }
    if (n > 0) memcpy(ws->close_reason, reason, n);
    ws->close_reason_len = (uint8_t)n;
    maybe_send_close(ws);
    kick(ws);
}

void nb_http__ws_close_all(nb_http_server_t *s)
{
    for (nb_ws_t *ws = s->ws; ws != NULL; ws = ws->next)
        nb_ws_close(ws, 1001, "server shutting down");
}

const char *nb_ws_peer(const nb_ws_t *ws)
{
    return ws->peer;
}

size_t nb_ws_queued(const nb_ws_t *ws)
{
    size_t n = ws->out.len + ws->inflight.len;
    if (ws->conn != NULL) n += wslay_event_get_queued_msg_length(ws->conn->ws_ctx);
    return n;
}
