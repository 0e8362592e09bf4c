/*
 * tenex_dir.h — what the bridge knows about TENEX: projects, their agents, and liveness.
 *
 * Fed by three subscriptions on the relay pool (PROTOCOL.md "What the bridge reads"):
 *   {"kinds":[31933],"authors":[owner]}                         projects (latest per d-tag wins)
 *   {"kinds":[24010,24011,24012],"#p":[owner],"since":now-45}   status, inventory, heartbeat
 *   {"kinds":[0],"authors":[roster…]}                           agent profiles (name fallback)
 *
 * The project's roster (lowercase p tags of the owner-signed 31933; the first is the PM) is the
 * authority for which pubkeys are agents: a status event can name slugs, never add agents.
 * Legacy projects (31933 with ["agent",<event id>] tags and no p) take their agents from the
 * 24010 status instead (the "pm" marker, else the first agent tag) — any key can publish a
 * status, so pin the backend keys (nb_tenex_dir_config_t.backends) when that matters.
 *
 * All times are Unix seconds from the caller (so tests can move the clock).
 */
#ifndef BRIDGE_TENEX_DIR_H
#define BRIDGE_TENEX_DIR_H

#include "bridge/event.h"
#include "bridge/relay_pool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_TENEX_MAX_SLUG 64
#define NB_TENEX_MAX_AGENTS 64
#define NB_TENEX_ONLINE_SECS 45 /* a 24010 younger than this = online (TENEX's STALENESS_THRESHOLD) */

typedef struct {
    uint8_t pubkey[32];
    char slug[NB_TENEX_MAX_SLUG + 1]; /* "" until a status, inventory or profile names it */
    uint8_t slug_rank;                /* private: 0 none, 1 profile, 2 inventory, 3 project status */
} nb_tenex_agent_t;

typedef struct {
    char *dtag;
    char *title;
    char coord[160]; /* "31933:<owner hex>:<dtag>" */
    int64_t created_at;
    bool legacy;                                  /* roster from the status (no p tags in the 31933) */
    nb_tenex_agent_t agents[NB_TENEX_MAX_AGENTS]; /* roster order: agents[0] is the PM */
    size_t n_agents;
    int64_t status_at;   /* newest 24010 for this project; 0 = never */
    uint8_t backend[32]; /* its author */
    bool has_backend;
} nb_tenex_project_t;

typedef struct {
    uint8_t owner[32];
    const uint8_t (*backends)[32]; /* pinned backend keys; n_backends 0 = trust any author */
    size_t n_backends;
    size_t max_projects; /* default 1,000 */
} nb_tenex_dir_config_t;

typedef struct nb_tenex_dir nb_tenex_dir_t;

/** Create the directory (no I/O yet). */
void nb_tenex_dir_create(nb_tenex_dir_t **out, const nb_tenex_dir_config_t *cfg);
void nb_tenex_dir_destroy(nb_tenex_dir_t *d);
/** Open the subscriptions on pool (now: for the since of the status filter). 0 or an nb_err_t. */
int nb_tenex_dir_start(nb_tenex_dir_t *d, nb_pool_t *pool, int64_t now);
/** Release the subscriptions (before the pool closes). */
void nb_tenex_dir_stop(nb_tenex_dir_t *d);

/** Feed one verified event (the subscriptions do this; tests call it directly). */
void nb_tenex_dir_on_event(nb_tenex_dir_t *d, const nb_event_t *ev);
/** Called when something changed that waiters care about (a project or a status arrived). */
void nb_tenex_dir_on_change(nb_tenex_dir_t *d, void (*cb)(void *ud), void *ud);

/** True once the project subscription reached EOSE (projects known so far are complete). */
bool nb_tenex_dir_projects_loaded(const nb_tenex_dir_t *d);
/** The project with that d-tag, or NULL (unknown or deleted). Borrowed until the next event. */
const nb_tenex_project_t *nb_tenex_dir_project(const nb_tenex_dir_t *d, const char *dtag);
/** The i-th known project (for /v1/models, /health); NULL past the end. */
const nb_tenex_project_t *nb_tenex_dir_project_at(const nb_tenex_dir_t *d, size_t i);
size_t nb_tenex_dir_project_count(const nb_tenex_dir_t *d);

/** The roster agent whose slug is slug (exact), or NULL. */
const nb_tenex_agent_t *nb_tenex_project_agent(const nb_tenex_project_t *p, const char *slug);
/** The agent's slug, or a stable fallback ("agent-<8 hex>") if nothing named it yet. */
const char *nb_tenex_agent_name(const nb_tenex_agent_t *a, char buf[NB_TENEX_MAX_SLUG + 1]);

/** Online: the project's newest 24010 is younger than NB_TENEX_ONLINE_SECS. */
bool nb_tenex_project_online(const nb_tenex_project_t *p, int64_t now);
/** Newest trusted 24012 heartbeat (or 24011/24010, which only a live backend sends); 0 = never. */
int64_t nb_tenex_dir_backend_seen(const nb_tenex_dir_t *d);

#endif
