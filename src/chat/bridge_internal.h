/* bridge_internal.h — shared by src/chat/bridge.c (service, routes) and session.c (one request). */
#ifndef BRIDGE_BRIDGE_INTERNAL_H
#define BRIDGE_BRIDGE_INTERNAL_H

#include "bridge/bridge.h"
#include "bridge/convo.h"
#include "bridge/metrics.h"
#include "bridge/native.h"
#include "bridge/turn.h"

typedef struct nb_session nb_session_t;

typedef struct {
    uint64_t requests;
    uint64_t completed;
    uint64_t errors;
    uint64_t timeouts;
    uint64_t client_gone;
    uint64_t chunks;
    uint64_t rejected_author;
    uint64_t rejected_thread;
    uint64_t boots;
    uint64_t unauthorized;
    uint64_t limited;           /* 429s */
    uint64_t rejected_late;     /* deltas of a step already closed */
    uint64_t turn_mismatches;   /* streamed text that was not a prefix of the kind:1 */
    uint64_t turn_repaired;     /* steps completed from kind:1 content */
    nb_hist_t first_chunk;      /* request in → first content chunk */
    nb_hist_t turn_duration;    /* request in → end of the turn */
    nb_hist_t publish_latency;  /* publish → first OK */
    nb_hist_t store_latency;    /* one conversation-store call on the loop (get or put) */
    uint64_t sub_refused;       /* turns ended because every relay refused/closed the thread subscription */
    nb_hist_t chunk_delay;      /* relay message received → its text handed to the client's stream */
    nb_hist_t prepublish;       /* the bridge's own time before a turn's kind:1 goes to the pool */
    uint64_t recorded_detached; /* turns recorded after their client had gone */
    uint64_t stops;             /* TENEX stop requests sent */
    uint64_t forbidden_threads; /* thread ids another key tried to use */
    uint64_t native_turns;      /* turns started through WS /chat or POST /chat/sse */
} nb_bridge_counters_t;

struct nb_bridge {
    uv_loop_t *loop;
    nb_pool_t *pool;
    nb_tenex_dir_t *dir;
    nb_bridge_config_t cfg;
    uint8_t (*backends)[32];
    nb_convo_t *convo;
    uint64_t started_ms; /* uv_now at creation */
    int64_t started_s;   /* wall clock */
    bool shutting_down;
    nb_session_t *sessions; /* doubly linked */
    size_t n_sessions;
    size_t n_streams;     /* SSE responses and native turns streaming */
    size_t n_detached;    /* turns whose client is gone, still running to be recorded */
    size_t n_sockets;     /* WS /chat connections */
    void *native_sockets; /* chat_native.c's list of them */
    nb_bridge_counters_t counters;
    /* ids of the kind:1s signed lately: two identical messages in one second would otherwise
     * get the same id, and relays would drop the second as a duplicate */
    uint8_t recent_ids[256][32];
    size_t recent_pos;
    /* per API key (the last slot: local mode, no keys): open requests and a token bucket */
    struct {
        uint32_t open;
        double tokens;
        uint64_t refilled_ms;
    } per_key[NB_APIKEYS_MAX + 1];
};

/**
 * A project as named by a client: a d-tag, or an naddr (NIP-19) of the owner's kind 31933 — how
 * TENEX users share projects. Writes the d-tag into dtag. false (and e filled: 404) when an naddr
 * is malformed or names another owner's or another kind's event.
 */
bool nb_bridge_project_name(const nb_bridge_t *b, const char *name, size_t len, char *dtag, size_t cap,
                            nb_api_error_t *e);

/**
 * Who is asking: the per_key slot of the request's API key (Authorization: Bearer, X-Api-Key, and
 * with allow_query also ?token=), NB_APIKEYS_MAX in local mode. -1 with e filled (401) when the
 * key is missing or wrong.
 */
int nb_bridge_auth(nb_bridge_t *b, nb_http_req_t *r, bool allow_query, nb_api_error_t *e);

/** Whether the key in slot may use project dtag (its policy's project list; no list = all). */
bool nb_bridge_project_allowed(const nb_bridge_t *b, int slot, const char *dtag);

/** The API key index of a per_key slot (-1 for the local-mode slot NB_APIKEYS_MAX). */
static inline int nb_bridge_key_index(int slot)
{
    return slot >= NB_APIKEYS_MAX ? -1 : slot;
}

/**
 * Whether a new chat may start for the key in slot: the server's session cap, the key's
 * concurrency and per-minute rate (a token taken when it may). false fills e (429) and *retry_s.
 */
bool nb_bridge_admit(nb_bridge_t *b, int slot, nb_api_error_t *e, uint64_t *retry_s);
/** Answer r with a refusal of nb_bridge_admit: its 429 and Retry-After. */
void nb_bridge_respond_limited(nb_http_req_t *r, const nb_api_error_t *e, uint64_t retry_s);

/** Start a session for one chat request (takes over r). key: the per_key slot of its API key. */
void nb_session_start(nb_bridge_t *b, nb_http_req_t *r, int key, const char *dtag, const char *body,
                      size_t len);

/**
 * Where a native turn (WS /chat, POST /chat/sse) writes: one server event at a time (a JSON
 * object from native.h; type is its "type"; e is set for "error"). emit returns 0, or NB_ELIMIT
 * when the peer reads too slowly (the session writes nothing more). done runs once, after the
 * last event, unless the session was detached first.
 */
typedef struct {
    int (*emit)(void *ud, nb_session_t *s, const char *type, const char *json, size_t len,
                const nb_api_error_t *e);
    void (*done)(void *ud, nb_session_t *s);
} nb_native_sink_t;

/** Start a native turn: takes msg's chat and request_id (left empty in msg), copies the rest. Events go to
 *  sink (borrowed, with ud) until done. The caller has checked auth and nb_bridge_admit. */
nb_session_t *nb_session_start_native(nb_bridge_t *b, const nb_native_sink_t *sink, void *ud, int key,
                                      nb_native_msg_t *msg);
/** The native peer is gone: no more events and no done. A turn already published keeps running
 *  (to be recorded) unless --stop-on-disconnect, which stops it. */
void nb_session_detach(nb_session_t *s);
/** Send a TENEX stop (kind 24134) for the session's run. false when it has not been published. */
bool nb_session_stop(nb_session_t *s);
/** The client's thread id once known (NULL before). */
const uint8_t *nb_session_thread(const nb_session_t *s);
/** The client's request id of a native turn (NULL when none). */
const char *nb_session_request_id(const nb_session_t *s);
/** The per_key slot the session runs under. */
int nb_session_key(const nb_session_t *s);

/* The native API's routes (chat_native.c). */
void nb_bridge_route_chat_ws(void *ud, nb_http_req_t *r);
void nb_bridge_route_chat_sse(void *ud, nb_http_req_t *r, const char *body, size_t len);
/** Close every native WebSocket (shutdown). */
void nb_bridge_native_shutdown(nb_bridge_t *b);
/** Look again at whatever the session waits for. */
void nb_session_poke(nb_session_t *s);
/** End the session at shutdown (SSE error or 503). */
void nb_session_abort(nb_session_t *s, const char *why);
/** The next session in the bridge's list. */
nb_session_t *nb_session_next(nb_session_t *s);

#endif
