/* bridge_internal.h — shared by src/chat/bridge.c (service, routes) and session.c (one request). */
#ifndef BRIDGE_BRIDGE_INTERNAL_H
#define BRIDGE_BRIDGE_INTERNAL_H

#include "bridge/bridge.h"
#include "bridge/convo.h"
#include "bridge/metrics.h"
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
    uint64_t limited; /* 429s */
    uint64_t rejected_late;     /* deltas of a step already closed */
    uint64_t turn_mismatches;   /* streamed text that was not a prefix of the kind:1 */
    uint64_t turn_repaired;     /* steps completed from kind:1 content */
    nb_hist_t first_chunk;      /* request in → first content chunk */
    nb_hist_t turn_duration;    /* request in → end of the turn */
    nb_hist_t publish_latency;  /* publish → first OK */
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
    size_t n_streams; /* SSE responses open */
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

/** Start a session for one chat request (takes over r). key: the per_key slot of its API key. */
void nb_session_start(nb_bridge_t *b, nb_http_req_t *r, int key, const char *dtag, const char *body, size_t len);
/** Look again at whatever the session waits for. */
void nb_session_poke(nb_session_t *s);
/** End the session at shutdown (SSE error or 503). */
void nb_session_abort(nb_session_t *s, const char *why);
/** The next session in the bridge's list. */
nb_session_t *nb_session_next(nb_session_t *s);

#endif
