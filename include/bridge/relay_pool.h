/*
 * relay_pool.h — many Nostr relays behind one interface, on the program's one libuv loop.
 *
 * The pool owns one libwebsockets context attached to the caller's uv_loop_t (foreign loop) and
 * one connection per relay URL. Each connection resolves its host with uv_getaddrinfo (never on
 * the loop thread), connects, pings, and reconnects forever with capped exponential backoff and
 * jitter. On top of that the pool keeps:
 *
 *   - a subscription registry: every open subscription is (re-)sent as a REQ to every relay
 *     that is open, after every reconnect, and after NIP-42 AUTH when a relay refused it with
 *     "auth-required:";
 *   - the receive path: frame → parse → is it for a live subscription and does it match one of
 *     its filters (if not: dropped, counted "unwanted", never verified) → already delivered to
 *     this subscription from another relay (bounded recent set; "duplicate") → id + signature
 *     verified ("invalid" when not; the relay stays) → on_event, once per subscription;
 *   - publishing: the EVENT goes to every open relay, and to relays that open before the
 *     publish timeout; the first `OK true` is success; `OK false` from every relay, or the
 *     timeout, is failure with the relays' messages;
 *   - NIP-42: an AUTH challenge is answered with a signed kind 22242 event; REQs refused with
 *     CLOSED "auth-required:" and events refused with OK false "auth-required:" are re-sent once
 *     the relay accepted the AUTH;
 *   - limits: a frame larger than max_frame (after reassembly) or a send queue above
 *     max_queue_bytes drops the connection (logged with the reason) and it reconnects;
 *   - liveness: ping_interval_s after the open or the last PONG the connection sends a PING;
 *     when no PONG came pong_timeout_s later it is hung up (last_error says so) and reconnects;
 *   - TLS (wss://): the system CA store or ca_file, and the certificate must match the host
 *     name; a refused certificate is the attempt's last_error ("connect failed: TLS certificate
 *     refused: hostname mismatch", "…: unable to get local issuer certificate", …).
 *
 * Threading: none. Every function must be called on the loop's thread. Callbacks run on the loop
 * and are never invoked from inside the call that started the operation (libuv's rule): a
 * publish that fails at once still reports from a later loop iteration.
 *
 * Scaling note: today one nb_sub_t is one REQ on every relay. Relays cap subscriptions per
 * connection (often 20–300), and the bridge will hold thousands of chat streams; the registry is
 * keyed by wire subscription id so that a later "coalescer" can merge many nb_sub_t into one
 * REQ (union of filters, routed by nb_filter_matches) without changing this interface.
 */
#ifndef BRIDGE_RELAY_POOL_H
#define BRIDGE_RELAY_POOL_H

#include "bridge/event.h"
#include "bridge/filter.h"
#include "bridge/keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct nb_pool nb_pool_t;
typedef struct nb_sub nb_sub_t;
typedef struct nb_pub nb_pub_t;

/** Connection state of one relay. */
typedef enum {
    NB_RELAY_RESOLVING = 1, /* uv_getaddrinfo in flight */
    NB_RELAY_CONNECTING,    /* TCP / TLS / WebSocket upgrade in progress */
    NB_RELAY_OPEN,          /* WebSocket open: REQs and EVENTs flow */
    NB_RELAY_BACKOFF,       /* waiting before the next attempt */
    NB_RELAY_CLOSING,       /* pool shutting down: flushing, then closing */
    NB_RELAY_CLOSED,        /* pool shut down (terminal) */
} nb_relay_state_t;

/** "resolving", "connecting", "open", "backoff", "closing", "closed". */
const char *nb_relay_state_name(nb_relay_state_t s);

/** A snapshot of one relay. Strings are borrowed from the pool: valid until the pool changes them
 *  (copy them if you keep them past the current callback / loop iteration). */
typedef struct {
    const char *url; /* as configured */
    nb_relay_state_t state;
    int64_t since_ms;       /* wall clock (Unix ms) when the state was entered */
    const char *last_error; /* why the last connection ended or failed; "" if none */
    uint64_t reconnects;    /* attempts after the first one */
    uint64_t connects;      /* successful opens */
    bool authenticated;     /* NIP-42 AUTH accepted on the current connection */
    size_t queued_bytes;    /* waiting in the send queue */
    uint32_t subs;          /* subscriptions with a REQ on the current connection */
} nb_relay_info_t;

typedef struct {
    const char *const *urls; /* ws:// or wss:// URLs, borrowed during nb_pool_create (copied) */
    size_t n_urls;
    const nb_keys_t *keys;       /* borrowed for the pool's lifetime, for NIP-42 AUTH; NULL = never AUTH */
    size_t max_frame;            /* largest incoming message after reassembly; default 1 MiB */
    size_t max_queue_bytes;      /* per relay send queue; default 4 MiB */
    uint32_t max_subs;           /* open subscriptions; default 20,000 */
    uint32_t ping_interval_s;    /* idle time before a PING; default 20 */
    uint32_t pong_timeout_s;     /* hang up when no valid traffic this long after the PING; default 10 */
    uint32_t backoff_min_ms;     /* first retry delay; default 500 */
    uint32_t backoff_max_ms;     /* retry delay cap; default 30,000 */
    uint32_t publish_timeout_ms; /* default 5,000 */
    uint32_t connect_timeout_s;  /* TCP + TLS + upgrade; default 10 */
    size_t dedup_capacity;       /* recent (event, subscription) pairs remembered; default 65,536 */
    uint32_t fd_limit;           /* lws fd_limit_per_thread; default 4,096 */
    /** wss:// trust: NULL (default) = the system CA store (which also honours SSL_CERT_FILE /
     *  SSL_CERT_DIR); else a PEM file of CA certificates trusted INSTEAD of the system store
     *  (a private CA). Read during nb_pool_create only (not kept). The relay's certificate must
     *  match the URL's host name either way. */
    const char *ca_file;
    /** Optional: called on every state change of relay idx (info borrowed for the call). Never
     *  called from inside nb_pool_create or nb_pool_close. */
    void (*on_relay_state)(void *ud, size_t idx, const nb_relay_info_t *info);
    void *ud;
} nb_pool_config_t;

/** Fill c with the defaults above (no URLs, no keys, no state callback). */
void nb_pool_config_defaults(nb_pool_config_t *c);

/**
 * Create the pool on loop and start connecting every relay (asynchronously). The config is
 * copied (urls too); keys stays borrowed. 0, NB_EINVAL (bad config, or ca_file holds no PEM
 * certificate), NB_EURL (a malformed URL; nothing is created), NB_EIO (ca_file cannot be read, or
 * libwebsockets context creation failed, e.g. the evlib_uv plugin is missing). The reason is
 * logged. *out is set only on success.
 */
int nb_pool_create(nb_pool_t **out, uv_loop_t *loop, const nb_pool_config_t *c);

/**
 * Shut down: send CLOSE for every subscription, close every socket (flushing briefly), destroy
 * the lws context, close every uv handle, free p, then call on_closed(data) (may be NULL) from
 * the loop. After nb_pool_close returns no subscription, publish or state callback is invoked,
 * and every nb_sub_t / nb_pub_t of the pool is invalid. Once on_closed ran, the pool holds no
 * handle on the loop (uv_loop_close can succeed). Safe to call from inside a pool callback.
 */
void nb_pool_close(nb_pool_t *p, void (*on_closed)(void *data), void *data);

/* ---- subscriptions ------------------------------------------------------------------------ */

typedef struct {
    /** A verified event that matches one of the subscription's filters. ev and relay_url are
     *  borrowed for the call. At most once per (event id, subscription) while the id is in the
     *  recent set. */
    void (*on_event)(void *ud, nb_sub_t *s, const nb_event_t *ev, const char *relay_url);
    /** Once per subscription: every relay that was open at subscribe time (or, if none was, the
     *  first relay to open) sent EOSE, CLOSED it, or disconnected. May be NULL. */
    void (*on_eose)(void *ud, nb_sub_t *s);
    /** A relay closed the subscription with CLOSED (other than "auth-required:" that AUTH can
     *  fix). The subscription stays registered (other relays, and this one after a
     *  reconnect). msg is borrowed for the call. May be NULL. */
    void (*on_closed)(void *ud, nb_sub_t *s, const char *relay_url, const char *msg);
} nb_sub_cb_t;

/**
 * Register a subscription: filters[0..n) (1 <= n <= 32) are copied, cb is copied, ud is
 * borrowed. The REQ goes to every open relay now (queued) and to each relay when it opens.
 * 0, NB_EINVAL, NB_ELIMIT (max_subs reached). *out is set on success.
 */
int nb_pool_subscribe(nb_pool_t *p, nb_sub_t **out, const nb_filter_t *filters, size_t n,
                      const nb_sub_cb_t *cb, void *ud);

/** Send CLOSE to every relay that has the REQ and free s. No callback for s runs after this
 *  returns. Safe to call from inside any of s's callbacks (or another subscription's). */
void nb_sub_release(nb_sub_t *s);

/** The wire subscription id (short, unique within the pool; borrowed). */
const char *nb_sub_id(const nb_sub_t *s);

/** The relays that have not refused s: every relay but those whose last word on it was CLOSED
 *  (a relay that is down counts: it gets the REQ again when it reconnects). 0: every relay
 *  refused it. */
size_t nb_sub_unrefused_relays(const nb_sub_t *s);
/** The relays that hold s now: its REQ was sent on the current connection and not CLOSED (EOSE
 *  or not), or waits there for AUTH to complete. */
size_t nb_sub_holding_relays(const nb_sub_t *s);

/* ---- publishing --------------------------------------------------------------------------- */

/**
 * Result of a publish. result: 0 (a relay said OK true), NB_EREJECTED (every relay said OK
 * false), NB_ETIMEDOUT (the timeout came first; some relays may have said OK false),
 * NB_ENORELAY (no relay was open at any time before the timeout, or the pool has no relays).
 * detail: "" on success, else "url: message; url: message" (borrowed for the call).
 * Called exactly once unless the publish was canceled or the pool closed first.
 */
typedef void (*nb_pub_cb)(void *ud, int result, const char *detail);

/**
 * Publish a signed event (serialized at once; ev is not kept). cb may be NULL (fire and
 * forget). 0 or NB_ETOOBIG (the EVENT frame is larger than max_frame). *out (may be NULL) is
 * valid until cb has run or nb_pub_cancel is called.
 */
int nb_pool_publish(nb_pool_t *p, nb_pub_t **out, const nb_event_t *ev, nb_pub_cb cb, void *ud);

/** Forget a publish: no callback afterwards. Frames already queued may still go out. */
void nb_pub_cancel(nb_pub_t *pub);

/* ---- observation -------------------------------------------------------------------------- */

typedef struct {
    uint64_t frames;    /* messages received (after reassembly) */
    uint64_t malformed; /* messages that failed to parse (relay kept) */
    uint64_t events;    /* EVENT messages received */
    uint64_t unwanted;  /* no live subscription / no filter match: dropped before verify */
    uint64_t duplicate; /* already delivered to that subscription */
    uint64_t invalid;   /* bad id or signature (relay kept) */
    uint64_t delivered; /* on_event calls */
    uint64_t published; /* nb_pool_publish calls */
    uint64_t publish_ok;
    uint64_t publish_failed;
    uint64_t auths;       /* AUTH events sent */
    uint64_t limit_drops; /* connections dropped for a transport limit */
    uint32_t subs_open;
    uint32_t relays_open;
} nb_pool_stats_t;

size_t nb_pool_relay_count(const nb_pool_t *p);
/** Snapshot of relay i (0 <= i < count). 0 or NB_EINVAL. */
int nb_pool_relay_info(const nb_pool_t *p, size_t i, nb_relay_info_t *out);
/** True when at least one relay is open. */
bool nb_pool_any_open(const nb_pool_t *p);
void nb_pool_stats(const nb_pool_t *p, nb_pool_stats_t *out);
/** uv_hrtime() at which the relay message now being dispatched was fully received, or 0 outside
 *  that dispatch (e.g. in a timer); for latency measurement. */
uint64_t nb_pool_frame_hrtime(const nb_pool_t *p);

#endif
