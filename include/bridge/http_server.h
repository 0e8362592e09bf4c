/*
 * http_server.h — the HTTP front: h2o (libuv build) on the shared loop, routing, CORS, request
 * bodies, JSON responses and SSE streams with back-pressure.
 *
 * The server knows nothing about Nostr: it parses the path, enforces the body cap, and calls a
 * route callback with an nb_http_req_t. The callback (or any later loop iteration) answers with
 * exactly one of nb_http_respond_*() or nb_http_sse_start() … nb_http_sse_end(). The request
 * stays valid until it is answered or until on_gone has been called, whichever comes first.
 *
 * Routes (all also answer OPTIONS preflight and set CORS headers):
 *   POST /<dtag>/chat/completions, /<dtag>/v1/chat/completions   → routes.chat(dtag)
 *   POST /v1/chat/completions                                    → routes.chat(NULL)
 *   GET  /<dtag>/models, /<dtag>/v1/models                       → routes.models(dtag)
 *   GET  /v1/models                                              → routes.models(NULL)
 *   GET  /chat (WebSocket upgrade)                               → routes.chat_ws
 *   POST /chat/sse                                               → routes.chat_sse
 *   GET  /health                                                 → routes.health
 *   GET  /metrics                                                → routes.metrics (404 if NULL)
 * Anything else → 404, a known path with the wrong method → 405 (both OpenAI error objects).
 * A d-tag in the path is percent-decoded; it must be 1..256 bytes of valid UTF-8 without '/'.
 * Every response carries X-Request-Id.
 *
 * HTTP/1.1 only (no h2c upgrade). The program that owns the loop must ignore SIGPIPE: a write to
 * a socket the client closed raises it (libuv writes with plain write(2)).
 *
 * When on_gone runs: from h2o's I/O callback when a write to a vanished client fails; from a
 * later loop iteration when the server ends the request itself — a stream over
 * max_stream_queue, a client seen leaving by the liveness check (every heartbeat_ms the socket
 * is peeked: a client that closed its side is gone, which also covers requests not answered yet,
 * where HTTP/1 writes nothing), or nb_http_server_close. The d-tag stays valid until on_gone
 * returns; the body may already be released when on_gone runs, so keep what you need of it.
 */
#ifndef BRIDGE_HTTP_SERVER_H
#define BRIDGE_HTTP_SERVER_H

#include "bridge/openai.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct nb_http_server nb_http_server_t;
typedef struct nb_http_req nb_http_req_t;

typedef struct {
    const char *bind;                /* "HOST:PORT" ("[::1]:3000" for IPv6); default "127.0.0.1:3000" */
    size_t max_body;                 /* request body cap; default 1 MiB; larger → 413 */
    const char *const *cors_origins; /* allowed origins; NULL/0 = any ("*") */
    size_t n_cors_origins;
    uint32_t heartbeat_ms;    /* ": ping" comment on idle SSE streams; default 10,000 */
    size_t max_stream_queue;  /* bytes queued per SSE stream before it is cut; default 1 MiB */
    uint32_t max_connections; /* default 20,000; beyond it new connections are closed at once */
    size_t max_ws_message;       /* WebSocket message cap; default 1 MiB */
    uint32_t ws_idle_timeout_ms; /* close a WebSocket silent this long (pings unanswered); default 60,000 */
} nb_http_config_t;

void nb_http_config_defaults(nb_http_config_t *c);

typedef struct {
    /** POST chat completions. dtag is NULL on the global /v1 route, and borrowed for the call only;
     *  body is the whole request body (not NUL-terminated, len may be 0), borrowed until the
     *  request is answered or gone. */
    void (*chat)(void *ud, nb_http_req_t *r, const char *dtag, const char *body, size_t len);
    /** GET models; dtag NULL on /v1/models, borrowed for the call only. */
    void (*models)(void *ud, nb_http_req_t *r, const char *dtag);
    void (*health)(void *ud, nb_http_req_t *r);
    void (*metrics)(void *ud, nb_http_req_t *r); /* may be NULL */
    /** GET /chat (any query string): the native thread API. The callback checks auth, then
     *  answers with nb_http_ws_accept (or an error response). May be NULL (→ 404). */
    void (*chat_ws)(void *ud, nb_http_req_t *r);
    /** POST /chat/sse: one native turn (body as for chat). May be NULL (→ 404). */
    void (*chat_sse)(void *ud, nb_http_req_t *r, const char *body, size_t len);
} nb_http_routes_t;

/**
 * Bind and listen on the loop. routes and ud are borrowed for the server's lifetime.
 * 0, NB_EINVAL (bad bind string) or NB_EIO (bind/listen failed; the log says why).
 */
int nb_http_server_start(nb_http_server_t **out, uv_loop_t *loop, const nb_http_config_t *c,
                         const nb_http_routes_t *routes, void *ud);
/** The port actually bound (useful with port 0). */
int nb_http_server_port(const nb_http_server_t *s);
/** Stop accepting new connections (graceful shutdown step 1). Idempotent. */
void nb_http_server_stop_accepting(nb_http_server_t *s);
/** Requests not yet answered plus SSE streams not yet ended. */
size_t nb_http_server_active(const nb_http_server_t *s);
/**
 * Close everything: every open request gets on_gone (unanswered ones are answered 503 and
 * streams broken off first), connections are closed, handles are closed, then on_closed runs
 * (from a later loop iteration) and the server is freed. Responses already complete on our side
 * (answered, or nb_http_sse_end called) are given up to 2 s to drain before their connections
 * are cut. Also closes the uv_async_t h2o keeps, so the loop can end by itself afterwards.
 */
void nb_http_server_close(nb_http_server_t *s, void (*on_closed)(void *data), void *data);

/* ---- one request ------------------------------------------------------------------------ */

/** The request id ("req_<32 hex>", also sent as X-Request-Id). */
const char *nb_http_req_id(const nb_http_req_t *r);
/** A request header (case-insensitive name), or NULL; *len gets its length. Borrowed, not
 *  NUL-terminated. "Host" works too; Content-Length and Transfer-Encoding are consumed by h2o. */
const char *nb_http_req_header(const nb_http_req_t *r, const char *name, size_t *len);
/** The peer address as text ("127.0.0.1"). */
const char *nb_http_req_peer(const nb_http_req_t *r);
/** Add a response header (copied) before the response starts, e.g. X-Nostr-Event-Id. */
void nb_http_req_add_header(nb_http_req_t *r, const char *name, const char *value);
/**
 * Call cb(ud) if the client goes away (or the server closes) before the response is complete.
 * After cb returns, r is invalid. Never called after the response completed.
 */
void nb_http_req_on_gone(nb_http_req_t *r, void (*cb)(void *ud), void *ud);

/** Answer with a complete body (copied). Content-Type as given. r is invalid afterwards. */
void nb_http_respond(nb_http_req_t *r, int status, const char *content_type, const char *body, size_t len);
/** Answer with JSON (application/json). r is invalid afterwards. */
void nb_http_respond_json(nb_http_req_t *r, int status, const char *json, size_t len);
/** Answer with the OpenAI error object for e (status from e). Adds `x-should-retry: false` for 4xx
 *  other than 408/409/429. r is invalid afterwards. */
void nb_http_respond_error(nb_http_req_t *r, const nb_api_error_t *e);

/**
 * Start a 200 SSE response: Content-Type text/event-stream, Cache-Control no-cache,
 * X-Accel-Buffering no, the added headers. Headers go out with the first write.
 */
void nb_http_sse_start(nb_http_req_t *r);
/**
 * Queue bytes (copied) for the stream; they are flushed as one h2o_send when the previous send
 * completes. NB_ELIMIT if the queue would pass max_stream_queue: then the server cuts the
 * connection (on_gone follows from a later iteration) and the caller must stop writing.
 * NB_ECLOSED once the stream is gone for another reason (on_gone is on its way).
 */
int nb_http_sse_write(nb_http_req_t *r, const char *p, size_t len);
/** Flush what is queued and end the body (the connection closes after it). r is invalid afterwards. */
void nb_http_sse_end(nb_http_req_t *r);
/** True once nb_http_sse_start was called on r. */
bool nb_http_sse_started(const nb_http_req_t *r);
/** Append the server's responses by route and status as Prometheus text
 *  (bridge_http_requests_total{route,status}) to out; r is any request of that server. */
void nb_http_req_metrics(const nb_http_req_t *r, nb_buf_t *out);
/** The request's query string without '?' ("" when none); borrowed like the headers. */
const char *nb_http_req_query(const nb_http_req_t *r, size_t *len);

/* ---- WebSocket (GET /chat) --------------------------------------------------------------------
 *
 * h2o's own WebSocket support (wslay) on the same loop and port. One nb_ws_t per upgraded
 * connection; it is independent of the nb_http_req_t it came from (which is invalid after
 * nb_http_ws_accept). Messages are whole (wslay reassembles fragments); text and binary both
 * reach on_message (binary with is_text false). Control frames are answered by wslay.
 *
 * Limits (nb_http_config_t): a message over max_ws_message closes the connection with 1009; bytes
 * queued for a peer that does not read past max_stream_queue close it with 1008 (nb_ws_send
 * returns NB_ELIMIT); every heartbeat_ms without traffic from the peer a ping is sent, and a peer
 * silent for ws_idle_timeout_ms is closed (1001). Each ends with on_close (from a later loop
 * iteration, never from inside nb_ws_send/nb_ws_close). nb_http_server_close closes every
 * WebSocket (1001 "server shutting down") and counts them in nb_http_server_active.
 */
typedef struct nb_ws nb_ws_t;

typedef struct {
    /** One complete message from the peer (p borrowed for the call). */
    void (*on_message)(void *ud, nb_ws_t *ws, const char *p, size_t len, bool is_text);
    /** The connection is gone (peer close, error, limit, nb_ws_close, server close). Exactly once;
     *  ws is invalid after it returns. */
    void (*on_close)(void *ud, nb_ws_t *ws);
} nb_ws_cb_t;

/** True when r is a valid WebSocket handshake (GET, Upgrade: websocket, Sec-WebSocket-Key, version 13). */
bool nb_http_is_ws_handshake(nb_http_req_t *r);
/**
 * Answer r with 101 and switch the connection to WebSocket. cb copied, ud borrowed. NULL (r
 * answered 400 already) when r is not a WebSocket handshake. r is invalid afterwards either way.
 */
nb_ws_t *nb_http_ws_accept(nb_http_req_t *r, const nb_ws_cb_t *cb, void *ud);
/** Queue one text message (copied). 0, NB_ELIMIT (over the queue cap: the connection is being
 *  closed, on_close follows) or NB_ECLOSED (closing already). */
int nb_ws_send(nb_ws_t *ws, const char *p, size_t len);
/** Close with a status code and reason (sent after what is queued); on_close follows. Idempotent. */
void nb_ws_close(nb_ws_t *ws, uint16_t code, const char *reason);
/** The peer address ("127.0.0.1"), kept from the handshake. */
const char *nb_ws_peer(const nb_ws_t *ws);
/** Bytes queued and not yet written. */
size_t nb_ws_queued(const nb_ws_t *ws);

#endif
