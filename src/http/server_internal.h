/*
 * server_internal.h — what the files of src/http/ share (not openai.c). Private to src/http/.
 *
 * Lifetimes (the subtle part). An nb_http_req_t is malloc'd per routed request and has two
 * owners that let go independently:
 *   - the user holds it until it answers (respond / sse_end) or on_gone has run: user_done;
 *   - h2o holds the h2o_req_t until the request is disposed (client gone, response written,
 *     connection closed). We learn about the dispose through a tracker allocated in req->pool
 *     with a dispose callback (live_t); once we sent the FINAL/ERROR part ourselves we detach
 *     from it ("released") because h2o calls neither proceed nor stop after that.
 * r is freed when both have let go (and it is not waiting in the deferred on_gone queue).
 *
 * on_gone timing: when h2o disposes a request the user still holds (the client vanished and a
 * write failed, or the connection broke), on_gone runs right there, from h2o's I/O callback, so
 * the borrowed body and d-tag are still valid while it runs. When we end a request ourselves
 * (stream over its queue cap, client gone seen by our liveness check, server closing), the call
 * that decided it may be the user's own, so on_gone is queued and runs from a zero timer.
 *
 * A WebSocket (ws.c) is an nb_ws_t of its own: nb_http_ws_accept answers the request (the user
 * lets go of r as with any answer) and hands the connection to h2o's websocket code once the
 * 101 is written. The nb_ws_t lives in srv->ws until its on_close has run, which always comes
 * from the same zero timer as the deferred on_gone callbacks.
 */
#ifndef BRIDGE_HTTP_SERVER_INTERNAL_H
#define BRIDGE_HTTP_SERVER_INTERNAL_H

#include "bridge/buf.h"
#include "bridge/http_server.h"
#include "route.h"

#include <h2o.h>
#include <h2o/websocket.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* How long nb_http_server_close lets responses already being written finish before it cuts. */
#define NB_HTTP_CLOSE_GRACE_MS 2000

typedef struct conn conn_t;
typedef struct live live_t;

/* One accepted connection. tcp comes first: h2o hands us back only the handle when it closes. */
struct conn {
    uv_tcp_t tcp;
    nb_http_server_t *srv;
    conn_t *prev, *next;
};

/* One h2o request that reached our handler, allocated in req->pool; its dispose callback tells
 * us h2o is done with the request. */
struct live {
    h2o_req_t *req;
    nb_http_req_t *r; /* NULL once r released the request or for requests answered at once */
    nb_http_server_t *srv;
    live_t *prev, *next;
    bool finishing; /* the last bytes were handed to h2o: let them drain on close */
    bool upgraded;  /* answered with 101: the connection now belongs to a WebSocket */
};

typedef enum {
    GONE_NONE = 0,
    GONE_CLIENT,  /* the client went away */
    GONE_LIMIT,   /* the stream passed max_stream_queue */
    GONE_CLOSING, /* nb_http_server_close */
} gone_why_t;

struct nb_http_req {
    h2o_generator_t gen; /* the SSE generator (proceed/stop) */
    nb_http_server_t *srv;
    h2o_req_t *req; /* NULL once h2o is done with it or we released it */
    live_t *live;
    nb_http_req_t *prev, *next; /* srv->reqs */
    nb_http_req_t *defer_next;  /* srv deferred on_gone queue */
    void (*on_gone)(void *ud);
    void *gone_ud;
    bool counted;     /* included in nb_http_server_active */
    bool user_done;   /* answered, ended, or on_gone has run */
    bool gone;        /* the response will not complete */
    bool gone_queued; /* in the deferred on_gone queue */
    bool in_gone_cb;
    uint8_t gone_why; /* gone_why_t */
    /* SSE */
    bool sse;
    bool sending;       /* one h2o_send outstanding: wait for proceed */
    bool end_requested; /* sse_end came while sending: send FINAL from proceed */
    bool wrote;         /* something was queued since the last heartbeat tick */
    nb_buf_t queue;     /* bytes waiting for the next send */
    nb_buf_t inflight;  /* the bytes h2o is writing: alive until proceed */
    uv_timer_t *hb;     /* heartbeat + liveness timer (malloc'd, closed with uv_close) */
    char id[40];
    char peer[INET6_ADDRSTRLEN];
};

/* One WebSocket (ws.c). */
struct nb_ws {
    nb_http_server_t *srv;
    h2o_websocket_conn_t *conn; /* NULL once h2o's side is closed (then on_close is queued) */
    nb_ws_cb_t cb;
    void *ud;
    nb_ws_t *prev, *next; /* srv->ws */
    nb_ws_t *defer_next;  /* srv deferred on_close queue */
    uv_timer_t *timer;    /* pings, idle check, close deadline (malloc'd, closed with uv_close) */
    int fd;               /* the socket, to cut a connection whose upgrade is not complete */
    /* h2o's wslay recv callback, which we wrap to see the peer's traffic */
    wslay_event_recv_callback h2o_recv;
    nb_buf_t out;       /* frame bytes wslay handed us, waiting for the next write */
    nb_buf_t inflight;  /* the bytes being written: alive until the write completes */
    uint64_t last_rx;   /* uv_now() when the peer last sent anything */
    bool rx_since_tick; /* the peer sent something since the last timer tick */
    bool in_msg;        /* inside on_message: the proceed that runs it sends what it queued */
    bool corked;        /* collecting frames into out without starting a write */
    bool closing;       /* a close was asked for or has begun: no more sends */
    bool close_pending; /* nb_ws_close: queue the close frame once the messages are out */
    bool gone;          /* h2o's side is closed; on_close is queued */
    bool counted;       /* included in nb_http_server_active */
    uint16_t close_code;
    uint8_t close_reason_len;
    char close_reason[124];
    char peer[INET6_ADDRSTRLEN];
};

/* Responses by route and status, for /metrics (nb_http_req_metrics). */
#define NB_HTTP_ROUTE_KINDS (NB_ROUTE_CHAT_SSE + 1)
#define NB_HTTP_STATUS_SLOTS 24 /* distinct statuses per route; more are counted as status 0 */
typedef struct {
    uint16_t status;
    uint64_t n;
} status_count_t;

struct nb_http_server {
    uv_loop_t *loop;
    nb_http_config_t cfg; /* strings below are our own copies */
    char *bind;
    char **origins;
    const nb_http_routes_t *routes;
    void *ud;

    h2o_globalconf_t h2o_cfg;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;

    uv_tcp_t listener;
    bool listening;       /* not yet closed */
    bool listener_closed; /* close callback ran */
    int port;

    conn_t *conns;
    size_t n_conns;
    nb_http_req_t *reqs;
    size_t active;
    live_t *live;
    nb_http_req_t *defer_head, *defer_tail;
    nb_ws_t *ws; /* open WebSockets, until their on_close has run */
    nb_ws_t *ws_defer_head, *ws_defer_tail;
    uv_timer_t defer_timer; /* runs queued on_gone and WebSocket on_close callbacks */
    uv_timer_t sweep_timer; /* liveness of requests not answered yet; on close, the grace deadline */
    uint64_t rejected;      /* connections refused over max_connections */

    bool closing;
    bool finalizing;
    void (*on_closed)(void *data);
    void *closed_data;
    status_count_t counts[NB_HTTP_ROUTE_KINDS][NB_HTTP_STATUS_SLOTS];
};

/* The h2o objects registered on the fallback path, with a way back to the server. */
typedef struct {
    h2o_handler_t super;
    nb_http_server_t *srv;
} handler_t;

typedef struct {
    h2o_filter_t super;
    nb_http_server_t *srv;
} filter_t;

typedef struct {
    h2o_logger_t super;
    nb_http_server_t *srv;
} logger_t;

/* server.c */
void nb_http__maybe_finish(nb_http_server_t *s); /* closing: free the server once all is gone */
void nb_http__cut_fd(int fd);                    /* shutdown(2): h2o's pending I/O fails */

/* request.c */
int nb_http__on_req(h2o_handler_t *self, h2o_req_t *req);
void nb_http__check_pending(nb_http_server_t *s);
void nb_http__req_release(nb_http_req_t *r);
void nb_http__req_maybe_free(nb_http_req_t *r);
void nb_http__req_gone(nb_http_req_t *r, gone_why_t why);
void nb_http__defer_kick(nb_http_server_t *s); /* run the deferred callbacks from a zero timer */
void nb_http__uncount(nb_http_req_t *r);
int nb_http__req_fd(const h2o_req_t *req);
bool nb_http__peer_closed(const h2o_req_t *req);

/* response.c */
void nb_http__make_id(char out[40]);
void nb_http__add_header(h2o_req_t *req, const char *name, const char *value, size_t len);
void nb_http__send_whole(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
void nb_http__send_error(h2o_req_t *req, const nb_api_error_t *e);
void nb_http__on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot);
void nb_http__on_access_log(h2o_logger_t *self, h2o_req_t *req);

/* sse.c */
void nb_http__sse_abort(nb_http_req_t *r);
void nb_http__sse_dispose(nb_http_req_t *r);

/* ws.c */
void nb_http__ws_run_deferred(nb_http_server_t *s); /* the queued on_close callbacks */
void nb_http__ws_close_all(nb_http_server_t *s);    /* server closing: 1001 to every WebSocket */

/* cors.c: add the CORS headers for this request's Origin (and the preflight ones). */
void nb_http__cors(const nb_http_server_t *s, h2o_req_t *req, bool preflight);

#endif
