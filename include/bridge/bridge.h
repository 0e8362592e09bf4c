/*
 * bridge.h — the bridge service: OpenAI chat completions in, TENEX conversations over Nostr out.
 *
 * It implements the HTTP routes (nb_bridge_routes) on top of the relay pool and the TENEX
 * directory. One chat request is one session (src/chat/session.c):
 *
 *   parse → resolve project + agent (waiting for the directory, the first status period, a
 *   lazy boot, or a relay, each bounded) → sign the kind:1 → subscribe to the thread → EOSE →
 *   publish (first OK wins) → stream the agent's text (turn.h) → finish / error / timeout.
 *
 * Everything runs on the loop; nothing blocks. A client that goes away releases its
 * subscription and timers at once.
 */
#ifndef BRIDGE_BRIDGE_H
#define BRIDGE_BRIDGE_H

#include "bridge/apikeys.h"
#include "bridge/http_server.h"
#include "bridge/keys.h"
#include "bridge/relay_pool.h"
#include "bridge/tenex_dir.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct {
    const nb_keys_t *keys;           /* the user's key (borrowed) */
    uint8_t owner[32];               /* project owner (default: keys->pubkey) */
    uint32_t first_event_timeout_ms; /* publish → the agent's first event; default 60,000 */
    uint32_t idle_timeout_ms;        /* between agent events; default 120,000 */
    uint32_t turn_timeout_ms;        /* whole turn; default 900,000 */
    uint32_t boot_timeout_ms;        /* lazy boot (24000) → the project's status; default 30,000 */
    uint32_t startup_grace_ms;     /* listen this long for a first status before saying 503; default 35,000 */
    uint32_t relay_wait_ms;        /* no relay open: wait this long for one; default 2,000 */
    uint32_t eose_timeout_ms;      /* thread subscription EOSE before publishing anyway; default 3,000 */
    const uint8_t (*backends)[32]; /* pinned backend keys (also trusted for crash notices) */
    size_t n_backends;
    nb_chat_limits_t limits;      /* request parsing */
    size_t max_sessions;          /* concurrent chat requests; default 10,000 */
    bool history_transcript;      /* unseen earlier turns go above the user's text; default true */
    const nb_apikeys_t *apikeys;  /* borrowed; NULL or empty = local mode (no keys) */
    bool protect_health;          /* /health needs a key too (public otherwise) */
    uint32_t max_streams_per_key; /* concurrent chat requests per API key; 0 = no limit */
    uint32_t rate_per_minute;     /* chat requests per API key per minute; 0 = no limit */
    const char *filler; /* sent as the first delta when the agent starts working (ElevenLabs); NULL = none */
    bool stop_on_disconnect; /* a client gone mid-turn → a TENEX stop (kind 24134) for the run; else
                                the turn runs on without it and is recorded when it ends */
    bool log_content;        /* the summary log line carries the user's text and the reply (bounded) */
    uint32_t max_ws_threads; /* turns running at once on one WS /chat socket; default 16 */

    /* the conversation store (convo.h): nb_convo_open(state_path, state_max_entries, state_ttl_s) */
    const char *state_path;   /* an SQLite file; NULL or ":memory:" = in memory */
    size_t state_max_entries; /* 0 = NB_CONVO_DEFAULT_MAX (100,000) */
    int64_t state_ttl_s;      /* forget conversations unused this long; 0 = NB_CONVO_DEFAULT_TTL (7 days) */
} nb_bridge_config_t;

typedef struct nb_bridge nb_bridge_t;

void nb_bridge_config_defaults(nb_bridge_config_t *c);
/** Create the service. loop, pool and dir are borrowed for its lifetime. */
nb_bridge_t *nb_bridge_create(uv_loop_t *loop, nb_pool_t *pool, nb_tenex_dir_t *dir,
                              const nb_bridge_config_t *c);
/** The HTTP routes; pass the bridge as their ud. */
const nb_http_routes_t *nb_bridge_routes(void);
/** Graceful shutdown: every open request ends (SSE error + [DONE], or a 503). No new ones start. */
void nb_bridge_shutdown(nb_bridge_t *b);
/** Sessions still open (requests being answered). */
size_t nb_bridge_sessions(const nb_bridge_t *b);
/** Free the bridge (after shutdown and once nb_bridge_sessions() is 0 or the loop is done). */
void nb_bridge_destroy(nb_bridge_t *b);
/** Tell waiting sessions to look again (the directory or a relay changed). */
void nb_bridge_poke(nb_bridge_t *b);

#endif
