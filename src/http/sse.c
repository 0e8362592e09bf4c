/*
 * sse.c — one Server-Sent Events response: a capped per-stream queue, one h2o_send in flight,
 * heartbeats, and the cut for readers that stop reading.
 *
 * h2o's rules (2.2.5): at most one h2o_send outstanding, the buffers are not copied (the bytes
 * must stay put until the generator's proceed), nothing after a FINAL or ERROR send (no proceed,
 * no stop), and never an empty IN_PROGRESS send (h2o would call proceed again at once, forever).
 * So writes go into `queue`; when nothing is in flight the queue becomes `inflight` and is sent
 * as one piece; proceed frees `inflight` and sends whatever queued up meanwhile. Nothing comes
 * from req->pool except the very last bytes (which must outlive r).
 *
 * A stalled reader: h2o has no write timeout, so the queue would grow without bound. The queue
 * plus the bytes in flight may not pass max_stream_queue; past it we shutdown(2) the socket
 * (HTTP/1 only, like everything here), the pending write fails, and h2o disposes the request.
 *
 * Heartbeats: an idle stream gets ": ping\n\n" every heartbeat_ms. On HTTP/1 a vanished client is
 * only noticed when a write fails, so the ping also finds dead clients; before pinging we peek
 * at the socket, which catches a client that closed politely one tick earlier.
 */
#include "server_internal.h"

#include "bridge/err.h"
#include "bridge/log.h"
#include "bridge/mem.h"

#include <string.h>
#include <sys/socket.h>

/* A buffer that grew for a burst is given back once it drained, so idle streams stay small. */
#define KEEP_BUF_BYTES (64u * 1024)

static void on_hb_closed(uv_handle_t *h)
{
    nb_free(h);
}

static void hb_stop(nb_http_req_t *r)
{
    if (r->hb != NULL) {
        uv_close((uv_handle_t *)r->hb, on_hb_closed);
        r->hb = NULL;
    }
}

void nb_http__sse_dispose(nb_http_req_t *r)
{
    hb_stop(r);
    if (r->sse) {
        nb_buf_dispose(&r->queue);
        nb_buf_dispose(&r->inflight);
    }
}

/* Send the queue as the last piece of the body and let go of the request. */
static void send_final(nb_http_req_t *r)
{
    h2o_req_t *req = r->req;
    h2o_iovec_t b = {NULL, 0};
    if (r->queue.len > 0) {
        /* h2o keeps no reference to r after FINAL: the bytes must live in the request's pool. */
        b.base = h2o_mem_alloc_pool(&req->pool, r->queue.len);
        memcpy(b.base, r->queue.data, r->queue.len);
        b.len = r->queue.len;
        nb_buf_reset(&r->queue);
    }
    nb_http__req_release(r);
    h2o_send(req, b.len ? &b : NULL, b.len ? 1 : 0, H2O_SEND_STATE_FINAL);
    nb_http__req_maybe_free(r);
}

static void flush(nb_http_req_t *r)
{
    if (r->end_requested) {
        send_final(r);
        return;
    }
    if (r->queue.len == 0) return;
    nb_buf_t t = r->inflight; /* empty: nothing is in flight */
    r->inflight = r->queue;
    r->queue = t;
    r->sending = true;
    h2o_iovec_t b = h2o_iovec_init(r->inflight.data, r->inflight.len);
    h2o_send(r->req, &b, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    nb_http_req_t *r = H2O_STRUCT_FROM_MEMBER(nb_http_req_t, gen, g);
    r->sending = false;
    nb_buf_shrink(&r->inflight, KEEP_BUF_BYTES);
    if (r->gone) {
        /* Ended by us (server closing) while that write was in flight: break the body off. */
        nb_http__req_release(r);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        nb_http__req_maybe_free(r);
        return;
    }
    flush(r);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    /* The connection is going away; the pool tracker (request.c) runs right after and does the rest. */
    nb_http_req_t *r = H2O_STRUCT_FROM_MEMBER(nb_http_req_t, gen, g);
    r->sending = false;
}

static int enqueue(nb_http_req_t *r, const char *p, size_t len)
{
    size_t max = r->srv->cfg.max_stream_queue;
    size_t used = r->queue.len + r->inflight.len;
    if (len > max || used > max - len || nb_buf_append(&r->queue, p, len) != 0) {
        NB_WARN("http: stream cut, the client does not read: %zu bytes would be queued (limit %zu) id=%s",
                used + len, max, r->id);
        nb_http__req_gone(r, GONE_LIMIT);
        return NB_ELIMIT;
    }
    r->wrote = true;
    if (!r->sending) flush(r);
    return 0;
}

static void on_heartbeat(uv_timer_t *t)
{
    nb_http_req_t *r = t->data;
    if (r->gone || r->user_done || r->req == NULL) return;
    if (nb_http__peer_closed(r->req)) {
        NB_DEBUG("http: stream client went away id=%s", r->id);
        nb_http__req_gone(r, GONE_CLIENT);
        return;
    }
    if (!r->wrote) (void)enqueue(r, ": ping\n\n", 8);
    r->wrote = false;
}

void nb_http__sse_abort(nb_http_req_t *r)
{
    hb_stop(r);
    if (r->req == NULL) return;
    if (r->sending) {
        /* Closing: the write may well finish; proceed then ends the body (or the close grace
         * period cuts it). A slow reader or a dead client: cut now, the write fails. */
        if (r->gone_why != GONE_CLOSING) shutdown(nb_http__req_fd(r->req), SHUT_RDWR);
        return;
    }
    h2o_req_t *req = r->req;
    nb_http__req_release(r);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
}

void nb_http_sse_start(nb_http_req_t *r)
{
    if (r->user_done || r->sse) return;
    nb_http_server_t *s = r->srv;
    r->sse = true;
    nb_buf_init(&r->queue, s->cfg.max_stream_queue);
    nb_buf_init(&r->inflight, s->cfg.max_stream_queue);
    if (r->gone || r->req == NULL) return;

    h2o_req_t *req = r->req;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                   H2O_STRLIT("text/event-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, "Cache-Control",
                   H2O_STRLIT("no-cache"));
    nb_http__add_header(req, "X-Accel-Buffering", "no", 2);
    /* The body ends with the connection: the SDKs wait for the close after [DONE]. */
    req->http1_is_persistent = 0;
    r->gen.proceed = on_proceed;
    r->gen.stop = on_stop;
    h2o_start_response(req, &r->gen);

    r->hb = nb_malloc(sizeof(*r->hb));
    uv_timer_init(s->loop, r->hb);
    r->hb->data = r;
    uv_timer_start(r->hb, on_heartbeat, s->cfg.heartbeat_ms, s->cfg.heartbeat_ms);
}

bool nb_http_sse_started(const nb_http_req_t *r)
{
    return r->sse;
}

int nb_http_sse_write(nb_http_req_t *r, const char *p, size_t len)
{
    if (r->user_done || !r->sse) return NB_EINVAL;
    if (r->gone || r->req == NULL) return r->gone_why == GONE_LIMIT ? NB_ELIMIT : NB_ECLOSED;
    if (len == 0) return 0;
    return enqueue(r, p, len);
}

void nb_http_sse_end(nb_http_req_t *r)
{
    if (r->in_gone_cb || r->user_done) return;
    if (!r->sse) nb_http_sse_start(r);
    r->user_done = true;
    nb_http__uncount(r);
    hb_stop(r);
    if (r->gone || r->req == NULL) {
        nb_http__req_maybe_free(r);
        return;
    }
    if (r->sending) {
        r->end_requested = true; /* proceed sends the rest and the end */
        return;
    }
    send_final(r);
}
