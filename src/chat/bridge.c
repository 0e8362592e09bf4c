/*
 * bridge.c — the service: routes (chat → session.c; models, health, metrics here), the
 * conversation store, and graceful shutdown.
 */
#include "bridge_internal.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/json.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/nip19.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void nb_bridge_config_defaults(nb_bridge_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->first_event_timeout_ms = 60000;
    c->idle_timeout_ms = 120000;
    c->turn_timeout_ms = 900000;
    c->boot_timeout_ms = 30000;
    c->startup_grace_ms = 35000;
    c->relay_wait_ms = 2000;
    c->eose_timeout_ms = 3000;
    c->limits.max_messages = 1000;
    c->limits.max_text = 1024 * 1024;
    c->max_sessions = 10000;
    c->history_transcript = true;
    c->max_ws_threads = 16;
}

static void on_dir_change(void *ud)
{
    nb_bridge_poke(ud);
}

nb_bridge_t *nb_bridge_create(uv_loop_t *loop, nb_pool_t *pool, nb_tenex_dir_t *dir,
                              const nb_bridge_config_t *c)
{
    nb_bridge_t *b = nb_calloc(1, sizeof(*b));
    b->loop = loop;
    b->pool = pool;
    b->dir = dir;
    b->cfg = *c;
    if (c->n_backends > 0) {
        b->backends = nb_malloc(c->n_backends * 32);
        memcpy(b->backends, c->backends, c->n_backends * 32);
        b->cfg.backends = (const uint8_t(*)[32])b->backends;
    }
    /* logs and falls back to memory on error, so the result needs no check here */
    nb_convo_open(&b->convo, c->state_path, c->state_max_entries, c->state_ttl_s);
    nb_convo_set_loop(b->convo, loop);
    nb_hist_init_latency(&b->counters.first_chunk);
    nb_hist_init_duration(&b->counters.turn_duration);
    nb_hist_init_latency(&b->counters.publish_latency);
    nb_hist_init_latency(&b->counters.store_latency);
    nb_hist_init_fine(&b->counters.chunk_delay);
    nb_hist_init_fine(&b->counters.prepublish);
    b->started_ms = uv_now(loop);
    b->started_s = time(NULL);
    nb_tenex_dir_on_change(dir, on_dir_change, b);
    return b;
}

void nb_bridge_poke(nb_bridge_t *b)
{
    /* A session may close while poked (an error answer): take the next one first. */
    for (nb_session_t *s = b->sessions, *next; s != NULL; s = next) {
        next = nb_session_next(s);
        nb_session_poke(s);
    }
}

void nb_bridge_shutdown(nb_bridge_t *b)
{
    b->shutting_down = true;
    for (nb_session_t *s = b->sessions, *next; s != NULL; s = next) {
        next = nb_session_next(s);
        nb_session_abort(s, "the server is shutting down");
    }
    /* after the aborts, so each socket's turns have their error events queued before the close */
    nb_bridge_native_shutdown(b);
}

size_t nb_bridge_sessions(const nb_bridge_t *b)
{
    return b->n_sessions;
}

void nb_bridge_destroy(nb_bridge_t *b)
{
    if (b == NULL) return;
    nb_tenex_dir_on_change(b->dir, NULL, NULL);
    nb_convo_destroy(b->convo);
    nb_free(b->backends);
    nb_free(b);
}

bool nb_bridge_project_name(const nb_bridge_t *b, const char *name, size_t len, char *dtag, size_t cap,
                            nb_api_error_t *e)
{
    bool uri = len > 6 && strncmp(name, "nostr:", 6) == 0;
    if (!(len >= 6 && strncmp(name + (uri ? 6 : 0), "naddr1", 6) == 0)) {
        snprintf(dtag, cap, "%.*s", (int)(len < cap ? len : cap - 1), name);
        return true;
    }
    nb_nip19_t n;
    int r = nb_nip19_decode(&n, name, len);
    if (r != 0) {
        nb_api_error_set(e, 404, "invalid_request_error", "project_not_found", NULL, "malformed naddr: %s",
                         nb_strerror(r));
        return false;
    }
    if (n.type != NB_NIP19_NADDR || !n.has_kind || n.kind != 31933 || !n.has_author ||
        memcmp(n.author, b->cfg.owner, 32) != 0) {
        nb_api_error_set(e, 404, "invalid_request_error", "project_not_found", NULL,
                         "the naddr does not name a TENEX project (kind 31933) of this bridge's owner");
        return false;
    }
    snprintf(dtag, cap, "%s", n.ident);
    return true;
}

/* A key limited to some projects (config file) sees no others: they do not exist for it. */
bool nb_bridge_project_allowed(const nb_bridge_t *b, int slot, const char *dtag)
{
    const nb_apikey_policy_t *pol =
        b->cfg.apikeys ? nb_apikeys_policy(b->cfg.apikeys, nb_bridge_key_index(slot)) : NULL;
    if (pol == NULL || pol->n_projects == 0) return true;
    for (size_t i = 0; i < pol->n_projects; i++) {
        char name[300];
        nb_api_error_t e;
        const char *want = pol->projects[i];
        if (nb_bridge_project_name(b, want, strlen(want), name, sizeof(name), &e) && strcmp(name, dtag) == 0)
            return true;
    }
    return false;
}

/* ---- routes ------------------------------------------------------------------------------ */

/* The query parameter token=<key> (WebSocket clients in browsers cannot set headers). */
static const char *query_token(nb_http_req_t *r, size_t *len)
{
    size_t qlen = 0;
    const char *q = nb_http_req_query(r, &qlen);
    for (size_t i = 0; q != NULL && i < qlen;) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i >= 6 && memcmp(q + i, "token=", 6) == 0) {
            *len = end - i - 6;
            return q + i + 6;
        }
        i = end + 1;
    }
    return NULL;
}

int nb_bridge_auth(nb_bridge_t *b, nb_http_req_t *r, bool allow_query, nb_api_error_t *e)
{
    if (b->cfg.apikeys == NULL || nb_apikeys_open(b->cfg.apikeys)) return NB_APIKEYS_MAX;
    size_t len = 0;
    const char *v = nb_http_req_header(r, "authorization", &len);
    if (v != NULL && len > 7 && strncasecmp(v, "bearer ", 7) == 0) {
        v += 7;
        len -= 7;
        while (len > 0 && *v == ' ')
            v++, len--;
    } else {
        v = nb_http_req_header(r, "x-api-key", &len);
    }
    if (v == NULL && allow_query) v = query_token(r, &len);
    int found = v != NULL ? nb_apikeys_find(b->cfg.apikeys, v, len) : -1;
    if (found >= 0) return found;
    b->counters.unauthorized++;
    nb_api_error_set(e, 401, "invalid_request_error", "invalid_api_key", NULL,
                     v == NULL ? "Missing API key: send it as 'Authorization: Bearer <key>' or 'X-Api-Key'"
                               : "Incorrect API key provided");
    return -1;
}

/* Answers 401 and returns false when the key is missing or wrong; *slot (may be NULL) gets the
 * key's per_key slot (NB_APIKEYS_MAX in local mode). */
static bool authorized_as(nb_bridge_t *b, nb_http_req_t *r, int *slot)
{
    nb_api_error_t e;
    int k = nb_bridge_auth(b, r, false, &e);
    if (k < 0) {
        nb_http_respond_error(r, &e);
        return false;
    }
    if (slot != NULL) *slot = k;
    return true;
}

static bool authorized(nb_bridge_t *b, nb_http_req_t *r)
{
    return authorized_as(b, r, NULL);
}

static bool refuse(nb_bridge_t *b, nb_api_error_t *e, uint64_t *retry_s, uint64_t secs, const char *what)
{
    *retry_s = secs ? secs : 1;
    b->counters.limited++;
    nb_api_error_set(e, 429, "rate_limit_exceeded", "rate_limit_exceeded", NULL, "%s; retry in %llu s", what,
                     (unsigned long long)*retry_s);
    return false;
}

/* Limits, in the order a client can fix them: concurrency (wait for a stream to end), then the
 * per-minute rate (a token bucket of rate_per_minute tokens, refilled continuously). A key's
 * policy (config file) overrides the global per-key values. */
bool nb_bridge_admit(nb_bridge_t *b, int slot, nb_api_error_t *e, uint64_t *retry_s)
{
    const nb_apikey_policy_t *pol =
        b->cfg.apikeys ? nb_apikeys_policy(b->cfg.apikeys, nb_bridge_key_index(slot)) : NULL;
    uint32_t max_streams = pol && pol->max_streams ? pol->max_streams : b->cfg.max_streams_per_key;
    uint32_t rate = pol && pol->rate_per_minute ? pol->rate_per_minute : b->cfg.rate_per_minute;
    if (b->n_sessions >= b->cfg.max_sessions)
        return refuse(b, e, retry_s, 1, "too many concurrent requests on this server");
    if (max_streams && b->per_key[slot].open >= max_streams)
        return refuse(b, e, retry_s, 1, "too many concurrent requests for this API key");
    if (rate) {
        double cap = rate, per_ms = cap / 60000.0;
        uint64_t now = uv_now(b->loop);
        if (b->per_key[slot].refilled_ms == 0)
            b->per_key[slot].tokens = cap;
        else
            b->per_key[slot].tokens += (double)(now - b->per_key[slot].refilled_ms) * per_ms;
        if (b->per_key[slot].tokens > cap) b->per_key[slot].tokens = cap;
        b->per_key[slot].refilled_ms = now;
        if (b->per_key[slot].tokens < 1.0)
            return refuse(b, e, retry_s, (uint64_t)((1.0 - b->per_key[slot].tokens) / per_ms / 1000.0) + 1,
                          "too many requests per minute for this API key");
        b->per_key[slot].tokens -= 1.0;
    }
    return true;
}

void nb_bridge_respond_limited(nb_http_req_t *r, const nb_api_error_t *e, uint64_t retry_s)
{
    char v[24];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)retry_s);
    nb_http_req_add_header(r, "Retry-After", v);
    nb_http_respond_error(r, e);
}

static void route_chat(void *ud, nb_http_req_t *r, const char *dtag, const char *body, size_t len)
{
    nb_bridge_t *b = ud;
    int slot;
    if (!authorized_as(b, r, &slot)) return;
    nb_api_error_t e;
    uint64_t retry_s;
    if (!nb_bridge_admit(b, slot, &e, &retry_s)) {
        nb_bridge_respond_limited(r, &e, retry_s);
        return;
    }
    nb_session_start(b, r, slot, dtag, body, len);
}

static void respond_buf(nb_http_req_t *r, int status, nb_buf_t *b)
{
    nb_http_respond_json(r, status, b->data ? b->data : "", b->len);
    nb_buf_dispose(b);
}

static void route_models(void *ud, nb_http_req_t *r, const char *dtag)
{
    nb_bridge_t *b = ud;
    int slot;
    if (!authorized_as(b, r, &slot)) return;
    nb_buf_t out;
    nb_buf_init(&out, 16 * 1024 * 1024);
    size_t n = 0, cap = 16;
    char **ids = nb_malloc(cap * sizeof(*ids));
    char name[NB_TENEX_MAX_SLUG + 1];
    if (dtag != NULL) {
        char name_buf[300];
        nb_api_error_t e;
        if (!nb_bridge_project_name(b, dtag, strlen(dtag), name_buf, sizeof(name_buf), &e)) {
            nb_free(ids);
            nb_http_respond_error(r, &e);
            return;
        }
        const nb_tenex_project_t *p =
            nb_bridge_project_allowed(b, slot, name_buf) ? nb_tenex_dir_project(b->dir, name_buf) : NULL;
        if (p == NULL) {
            nb_api_error_set(&e, 404, "invalid_request_error", "project_not_found", NULL,
                             "no TENEX project '%s' is known for this owner", name_buf);
            nb_free(ids);
            nb_http_respond_error(r, &e);
            return;
        }
        for (size_t i = 0; i < p->n_agents; i++) {
            if (n == cap) ids = nb_realloc(ids, (cap *= 2) * sizeof(*ids));
            ids[n++] = nb_strdup(nb_tenex_agent_name(&p->agents[i], name));
        }
    } else {
        /* every project as "<dtag>" (its PM) and "<dtag>/<slug>" for each agent */
        for (size_t k = 0; k < nb_tenex_dir_project_count(b->dir); k++) {
            const nb_tenex_project_t *p = nb_tenex_dir_project_at(b->dir, k);
            if (!nb_bridge_project_allowed(b, slot, p->dtag)) continue;
            for (size_t i = 0; i <= p->n_agents; i++) {
                if (n == cap) ids = nb_realloc(ids, (cap *= 2) * sizeof(*ids));
                nb_buf_t id;
                nb_buf_init(&id, 1024);
                nb_buf_appends(&id, p->dtag);
                if (i > 0) nb_buf_appendf(&id, "/%s", nb_tenex_agent_name(&p->agents[i - 1], name));
                ids[n++] = nb_buf_steal(&id, NULL);
            }
        }
    }
    nb_oai_models(&out, (const char *const *)ids, n, b->started_s, "tenex");
    for (size_t i = 0; i < n; i++)
        nb_free(ids[i]);
    nb_free(ids);
    respond_buf(r, 200, &out);
}

static void route_health(void *ud, nb_http_req_t *r)
{
    nb_bridge_t *b = ud;
    if (b->cfg.protect_health && !authorized(b, r)) return;
    int64_t now = time(NULL);
    nb_pool_stats_t ps;
    nb_pool_stats(b->pool, &ps);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", ps.relays_open > 0 ? "ok" : "degraded");
    cJSON_AddNumberToObject(root, "uptime_s", (double)(now - b->started_s));
    cJSON_AddNumberToObject(root, "streams_open", (double)b->n_streams);
    cJSON_AddNumberToObject(root, "requests_open", (double)b->n_sessions);
    cJSON_AddNumberToObject(root, "detached_turns", (double)b->n_detached);
    cJSON_AddNumberToObject(root, "sockets_open", (double)b->n_sockets);
    cJSON_AddNumberToObject(root, "subscriptions_open", (double)ps.subs_open);
    cJSON *relays = cJSON_AddArrayToObject(root, "relays");
    for (size_t i = 0; i < nb_pool_relay_count(b->pool); i++) {
        nb_relay_info_t info;
        if (nb_pool_relay_info(b->pool, i, &info) != 0) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "url", info.url);
        cJSON_AddStringToObject(o, "state", nb_relay_state_name(info.state));
        cJSON_AddNumberToObject(o, "since_ms", (double)info.since_ms);
        cJSON_AddStringToObject(o, "last_error", info.last_error ? info.last_error : "");
        cJSON_AddBoolToObject(o, "authenticated", info.authenticated);
        cJSON_AddNumberToObject(o, "reconnects", (double)info.reconnects);
        cJSON_AddItemToArray(relays, o);
    }
    int64_t seen = nb_tenex_dir_backend_seen(b->dir);
    cJSON_AddBoolToObject(root, "projects_loaded", nb_tenex_dir_projects_loaded(b->dir));
    cJSON_AddBoolToObject(root, "backend_online", seen > 0 && now - seen < NB_TENEX_ONLINE_SECS);
    cJSON *projects = cJSON_AddArrayToObject(root, "projects");
    char name[NB_TENEX_MAX_SLUG + 1];
    for (size_t k = 0; k < nb_tenex_dir_project_count(b->dir); k++) {
        const nb_tenex_project_t *p = nb_tenex_dir_project_at(b->dir, k);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dtag", p->dtag);
        cJSON_AddStringToObject(o, "title", p->title);
        cJSON_AddBoolToObject(o, "online", nb_tenex_project_online(p, now));
        cJSON *agents = cJSON_AddArrayToObject(o, "agents");
        for (size_t i = 0; i < p->n_agents; i++)
            cJSON_AddItemToArray(agents, cJSON_CreateString(nb_tenex_agent_name(&p->agents[i], name)));
        cJSON_AddItemToArray(projects, o);
    }
    char *json = cJSON_PrintUnformatted(root);
    nb_http_respond_json(r, 200, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(root);
}

static void route_metrics(void *ud, nb_http_req_t *r)
{
    nb_bridge_t *b = ud;
    if (!authorized(b, r)) return;
    nb_pool_stats_t ps;
    nb_pool_stats(b->pool, &ps);
    const nb_bridge_counters_t *c = &b->counters;
    nb_buf_t out;
    nb_buf_init(&out, 1 << 20);
#define GAUGE(name, help, v)                                                                                 \
    nb_buf_appendf(&out, "# HELP " name " " help "\n# TYPE " name " gauge\n" name " %" PRIu64 "\n",          \
                   (uint64_t)(v))
#define COUNTER(name, help, v)                                                                               \
    nb_buf_appendf(&out, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %" PRIu64 "\n",        \
                   (uint64_t)(v))
    GAUGE("bridge_streams_open", "SSE responses open.", b->n_streams);
    GAUGE("bridge_requests_open", "Chat requests being answered.", b->n_sessions);
    GAUGE("bridge_subscriptions_open", "Relay subscriptions open.", ps.subs_open);
    GAUGE("bridge_detached_turns", "Turns whose client left, running on to be recorded.", b->n_detached);
    GAUGE("bridge_ws_sockets_open", "WS /chat connections open.", b->n_sockets);
    GAUGE("bridge_relays_open", "Relays connected.", ps.relays_open);
    COUNTER("bridge_chat_requests_total", "Chat completion requests.", c->requests);
    COUNTER("bridge_chat_completed_total", "Turns that ended normally.", c->completed);
    COUNTER("bridge_chat_errors_total", "Turns that ended in an error (not timeouts).", c->errors);
    COUNTER("bridge_chat_timeouts_total", "Turns that timed out.", c->timeouts);
    COUNTER("bridge_chat_client_gone_total", "Clients that went away before the end.", c->client_gone);
    COUNTER("bridge_chunks_total", "Content chunks sent.", c->chunks);
    COUNTER("bridge_subscriptions_refused_total",
            "Turns ended because every relay refused or closed the conversation's subscription.",
            c->sub_refused);
    COUNTER("bridge_native_turns_total", "Turns started through WS /chat or POST /chat/sse.",
            c->native_turns);
    COUNTER("bridge_turns_recorded_detached_total", "Turns recorded after their client had gone.",
            c->recorded_detached);
    COUNTER("bridge_stop_requests_total", "TENEX stop requests (kind 24134) sent.", c->stops);
    COUNTER("bridge_thread_forbidden_total", "Thread ids refused because another API key owns them.",
            c->forbidden_threads);
    COUNTER("bridge_boot_requests_total", "Boot requests (kind 24000) sent.", c->boots);
    COUNTER("bridge_unauthorized_total", "Requests refused for a missing or wrong API key.", c->unauthorized);
    COUNTER("bridge_rate_limited_total", "Requests refused with 429 (concurrency or rate limits).",
            c->limited);
    COUNTER("bridge_relay_events_total", "EVENT messages received from relays.", ps.events);
    COUNTER("bridge_relay_events_invalid_total", "Events with a bad id or signature.", ps.invalid);
    COUNTER("bridge_relay_events_duplicate_total", "Events already delivered.", ps.duplicate);
    COUNTER("bridge_relay_events_unwanted_total", "Events no subscription wanted.", ps.unwanted);
    COUNTER("bridge_publish_ok_total", "Publishes a relay accepted.", ps.publish_ok);
    COUNTER("bridge_publish_failed_total", "Publishes no relay accepted.", ps.publish_failed);
    COUNTER("bridge_turn_steps_repaired_total", "Steps completed from the agent's kind:1.", c->turn_repaired);
    COUNTER("bridge_turn_mismatches_total", "Streamed steps that differed from their kind:1.",
            c->turn_mismatches);
    nb_buf_appends(&out, "# HELP bridge_events_rejected_total Events that could not speak in a turn.\n"
                         "# TYPE bridge_events_rejected_total counter\n");
    nb_buf_appendf(&out, "bridge_events_rejected_total{reason=\"wrong_author\"} %" PRIu64 "\n",
                   c->rejected_author);
    nb_buf_appendf(&out, "bridge_events_rejected_total{reason=\"wrong_thread\"} %" PRIu64 "\n",
                   c->rejected_thread);
    nb_buf_appendf(&out, "bridge_events_rejected_total{reason=\"late\"} %" PRIu64 "\n", c->rejected_late);
    nb_buf_appendf(&out, "bridge_events_rejected_total{reason=\"bad_signature\"} %" PRIu64 "\n", ps.invalid);
    nb_hist_print(&out, "bridge_time_to_first_chunk_seconds", "Request in to the first content chunk.",
                  &c->first_chunk);
    nb_hist_print(&out, "bridge_turn_duration_seconds", "Request in to the end of the turn.",
                  &c->turn_duration);
    nb_hist_print(&out, "bridge_publish_latency_seconds", "Publish to the first relay OK.",
                  &c->publish_latency);
    nb_hist_print(&out, "bridge_store_latency_seconds", "One conversation-store call on the loop.",
                  &c->store_latency);
    nb_hist_print(&out, "bridge_chunk_delay_seconds",
                  "A relay message received to its text handed to the client's stream (the bridge's own "
                  "delay: parse, signature check, turn, chunk).",
                  &c->chunk_delay);
    nb_hist_print(&out, "bridge_prepublish_seconds",
                  "The bridge's own time before a turn's kind:1 goes to the relays: request in to "
                  "subscription sent, plus EOSE in to message handed over (the waits excluded).",
                  &c->prepublish);
    {
        nb_convo_stats_t cs;
        nb_convo_stats(b->convo, &cs);
        GAUGE("bridge_store_persistent", "Whether the SQLite store is in use.", cs.persistent);
        GAUGE("bridge_store_rows", "Rows in the conversation store.", cs.rows);
        GAUGE("bridge_store_queued", "Store writes queued.", cs.queued);
        COUNTER("bridge_store_write_batches_total", "Store write batches committed.", cs.writes);
        COUNTER("bridge_store_write_errors_total", "Store write batches that failed.", cs.write_errors);
        GAUGE("bridge_store_max_write_microseconds", "The slowest store write batch (off the loop).",
              cs.max_write_us);
    }
    static const char *const relay_series[2][2] = {
        {"bridge_relay_up",
         "# HELP bridge_relay_up Whether the relay connection is open.\n# TYPE bridge_relay_up gauge\n"},
        {"bridge_relay_reconnects_total", "# HELP bridge_relay_reconnects_total Reconnection attempts.\n# "
                                          "TYPE bridge_relay_reconnects_total counter\n"},
    };
    for (int k = 0; k < 2; k++) {
        nb_buf_appends(&out, relay_series[k][1]);
        for (size_t i = 0; i < nb_pool_relay_count(b->pool); i++) {
            nb_relay_info_t info;
            if (nb_pool_relay_info(b->pool, i, &info) != 0) continue;
            nb_buf_appendf(&out, "%s{url=", relay_series[k][0]);
            nb_json_write_string(&out, info.url, strlen(info.url)); /* also a valid label value */
            nb_buf_appendf(&out, "} %" PRIu64 "\n",
                           k == 0 ? (uint64_t)(info.state == NB_RELAY_OPEN) : info.reconnects);
        }
    }
#undef GAUGE
#undef COUNTER
    nb_http_req_metrics(r, &out);
    nb_http_respond(r, 200, "text/plain; version=0.0.4", out.data, out.len);
    nb_buf_dispose(&out);
}

static const nb_http_routes_t routes = {
    .chat = route_chat,
    .models = route_models,
    .health = route_health,
    .metrics = route_metrics,
    .chat_ws = nb_bridge_route_chat_ws,
    .chat_sse = nb_bridge_route_chat_sse,
};

const nb_http_routes_t *nb_bridge_routes(void)
{
    return &routes;
}
