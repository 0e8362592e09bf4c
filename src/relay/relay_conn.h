/*
 * relay_conn.h — one WebSocket client connection to one relay (private to src/relay/).
 *
 * A connection owns: the parsed URL, a uv_getaddrinfo request (DNS never blocks the loop), the
 * lws client wsi, a uv_timer_t for backoff (lws_sul timers fire late from close paths), the
 * reassembly buffer for fragmented messages (capped at max_frame) and the send queue (capped at
 * max_queue_bytes). It reconnects forever with capped exponential backoff and jitter until
 * nb_relay_conn_stop. It knows nothing about Nostr: the pool reacts to on_open / on_frame /
 * on_down and queues frames with nb_relay_conn_send.
 *
 * Life cycle: init (caller storage) → start → … → stop → (on_down with stopping=true, when
 * the connection is quiescent) → the owner destroys the lws context → close_handles(cb) → cb →
 * dispose. The conn must stay allocated until the lws context is gone.
 */
#ifndef BRIDGE_RELAY_CONN_H
#define BRIDGE_RELAY_CONN_H

#include "bridge/buf.h"
#include "bridge/relay_pool.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- pure helpers (unit tested) ---------------------------------------------------------- */

typedef struct {
    bool tls;
    char host[256]; /* without brackets for IPv6 literals */
    int port;
    char path[1024]; /* always starts with '/'; includes the query */
} nb_relay_url_t;

/** Parse ws://host[:port][/path][?query] or wss://…; scheme case-insensitive. No userinfo, no
 *  fragment, no whitespace. 0 or NB_EURL. */
int nb_relay_url_parse(nb_relay_url_t *u, const char *url);

/**
 * Delay before retry number attempt (1 = first retry): min·2^(attempt-1) capped at max, then
 * "equal jitter": a uniform value in [d/2, d] chosen by rnd (any 32-bit random number).
 */
uint32_t nb_backoff_delay_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms, uint32_t rnd);

/* ---- the connection ---------------------------------------------------------------------- */

typedef struct nb_relay_conn nb_relay_conn_t;

typedef struct {
    /** The WebSocket is open; the send queue is empty. */
    void (*on_open)(void *ud, nb_relay_conn_t *c);
    /** One complete text message (borrowed for the call; NUL-terminated at p[len]). */
    void (*on_frame)(void *ud, nb_relay_conn_t *c, const char *p, size_t len);
    /** The connection (or attempt) ended; was_open tells whether on_open had run. The queue is
     *  already cleared. When c->stopping, this is the last callback. */
    void (*on_down)(void *ud, nb_relay_conn_t *c, bool was_open);
    /** Any state change (for observation). */
    void (*on_state)(void *ud, nb_relay_conn_t *c);
} nb_relay_conn_cb_t;

typedef struct nb_frame nb_frame_t;

struct nb_relay_conn {
    /* configuration */
    char *url;
    nb_relay_url_t u;
    uv_loop_t *loop;
    struct lws_context *ctx;
    const char *protocol_name;
    size_t max_frame, max_queue_bytes;
    uint32_t backoff_min_ms, backoff_max_ms;
    uint32_t ping_ms, pong_ms; /* liveness: lws pings ping_ms after valid_at, hangs up pong_ms later */
    lws_retry_bo_t retry;      /* ping / hang-up policy for lws */
    nb_relay_conn_cb_t cb;
    void *ud;
    size_t index; /* the owner's index of this relay */

    /* state */
    nb_relay_state_t state;
    int64_t since_ms;
    char last_error[160];
    uint64_t reconnects, connects;
    uint32_t attempt; /* consecutive failed attempts */
    uint64_t opened_at;
    uint64_t valid_at;  /* uv_now() of the open or the last PONG */
    int tls_verify_err; /* first X509_V_ERR_* of this attempt's certificate check; 0 = none */
    bool stopping;
    bool gai_pending;
    bool attempt_live; /* a wsi exists (or is being created) for the current attempt */
    bool was_open;
    bool close_when_flushed;
    bool dropping; /* a drop was requested; the close callbacks are on their way */
    bool err_set;  /* last_error already holds this attempt's first error */
    uint64_t limit_drops;
    struct lws *wsi;
    char addr[64]; /* numeric address of the current attempt */

    uv_getaddrinfo_t gai;
    uv_timer_t timer;
    int handles_open;
    void (*on_handles_closed)(nb_relay_conn_t *c);

    nb_buf_t rx;
    nb_frame_t *q_head, *q_tail;
    size_t q_bytes;
};

/** Set up c (caller storage) for url: parses the URL (0 or NB_EURL) and inits the timer. */
int nb_relay_conn_init(nb_relay_conn_t *c, uv_loop_t *loop, struct lws_context *ctx,
                       const char *protocol_name, const char *url, const nb_pool_config_t *cfg,
                       const nb_relay_conn_cb_t *cb, void *ud, size_t index);
/** Begin the first attempt (asynchronously). */
void nb_relay_conn_start(nb_relay_conn_t *c);
/**
 * Queue one text message (copied). front: before everything queued (AUTH). Only while OPEN
 * (otherwise dropped and 0 returned: the owner re-sends on the next on_open). NB_ELIMIT when the
 * queue would exceed max_queue_bytes: the connection is then dropped (reason logged) and will
 * reconnect.
 */
int nb_relay_conn_send(nb_relay_conn_t *c, const char *p, size_t len, bool front);
/** Drop the current connection now (reason logged and kept as last_error); it reconnects. */
void nb_relay_conn_drop(nb_relay_conn_t *c, const char *why);
/** Stop for good: flush the queue and close an open socket, cancel DNS / backoff / attempts.
 *  on_down(stopping) follows once nothing is in flight. */
void nb_relay_conn_stop(nb_relay_conn_t *c);
/** True once stopped and nothing is in flight (no wsi, no DNS request). */
bool nb_relay_conn_quiescent(const nb_relay_conn_t *c);
/** Close the uv handles; cb runs when they are closed (then dispose may run). */
void nb_relay_conn_close_handles(nb_relay_conn_t *c, void (*cb)(nb_relay_conn_t *c));
/** Free the memory (handles must be closed). */
void nb_relay_conn_dispose(nb_relay_conn_t *c);

/** The lws protocol callback the owner puts into its protocol table. */
int nb_relay_conn_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
