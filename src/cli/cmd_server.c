/*
 * cmd_server.c — `bridge --server`: flags → config → one loop running the relay pool, the TENEX
 * directory, the bridge and the HTTP front → orderly shutdown on SIGINT/SIGTERM.
 *
 * SIGHUP: reopen --log-file (after logrotate moved it away); without --log-file it only logs.
 *
 * Shutdown: stop accepting; every open request ends (SSE error + [DONE], or a 503); wait for
 * the responses to flush (at most --shutdown-grace); close HTTP, then the relays; the loop
 * then has nothing left and uv_loop_close() succeeds.
 */
#include "bridge/apikeys.h"
#include "bridge/config.h"
#include "bridge/bridge.h"
#include "bridge/convo.h"
#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/keys.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "cli_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 64

typedef struct {
    const char *bind;
    const char *relays[MAX_LIST];
    size_t n_relays;
    char *relay_env; /* owned copy of BRIDGE_RELAYS, split in place */
    const char *owner;
    const char *nsec_file;
    const char *relay_ca; /* --relay-ca / BRIDGE_RELAY_CA; NULL = the system CA store */
    uint8_t backends[MAX_LIST][32];
    size_t n_backends;
    const char *cors[MAX_LIST];
    size_t n_cors;
    size_t max_body, max_stream_queue, max_frame;
    uint32_t first_event_s, idle_s, turn_s, boot_s, publish_s, shutdown_s, startup_s;
    bool history_transcript;
    nb_apikeys_t apikeys;
    bool protect_health;
    nb_log_level_t log_level;
    bool log_json;
    const char *log_file; /* --log-file; NULL = stderr */
    const char *state;    /* --state; NULL until parsed = the XDG default */
    char state_default[4096];
    uint32_t state_max, state_ttl_s;
    uint32_t max_streams, max_streams_per_key, rate_per_minute;
    const char *filler;
    bool stop_on_disconnect;
    bool log_content;
    uint32_t max_ws_threads, ws_idle_s;
} opts_t;

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t drain;
    nb_keys_t keys;
    nb_pool_t *pool;
    nb_tenex_dir_t *dir;
    nb_bridge_t *bridge;
    nb_http_server_t *http;
    uint64_t drain_deadline;
    uint32_t shutdown_s;
    const char *log_file;
    bool stopping;
} server_t;

static int parse_u32(const char *flag, const char *v, uint32_t *out, uint32_t min, uint32_t max)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || *end || end == v || x < min || x > max)
        return nb_cli_fail("--server", "%s needs a whole number from %u to %u", flag, min, max);
    *out = (uint32_t)x;
    return 0;
}

static int parse_size(const char *flag, const char *v, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || x == 0) goto bad;
    if (*end == 'k' || *end == 'K')
        x <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        x <<= 20, end++;
    if (*end || x > (1ull << 34)) goto bad;
    *out = (size_t)x;
    return 0;
bad:
    return nb_cli_fail("--server", "%s needs a size in bytes (e.g. 1048576 or 1M)", flag);
}

static int add_relays(opts_t *o, char *list)
{
    for (char *save = NULL, *u = strtok_r(list, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
        if (o->n_relays == MAX_LIST) return nb_cli_fail("--server", "at most %d relays", MAX_LIST);
        if (strncmp(u, "ws://", 5) != 0 && strncmp(u, "wss://", 6) != 0)
            return nb_cli_fail("--server", "relay '%s' must be a ws:// or wss:// URL", u);
        o->relays[o->n_relays++] = u;
    }
    return 0;
}

static int parse_opts(opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->bind = getenv("BRIDGE_BIND") ? getenv("BRIDGE_BIND") : "127.0.0.1:3000";
    o->max_body = 1 << 20;
    o->max_stream_queue = 1 << 20;
    o->first_event_s = 60;
    o->idle_s = 120;
    o->turn_s = 900;
    o->boot_s = 30;
    o->publish_s = 5;
    o->shutdown_s = 5;
    o->startup_s = 35;
    o->history_transcript = true;
    o->log_level = NB_LOG_INFO;
    nb_apikeys_init(&o->apikeys);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        /* --flag=value and --flag value */
        char name[64];
        const char *eq = strchr(a, '=');
        if (eq && strncmp(a, "--", 2) == 0 && (size_t)(eq - a) < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            v = eq + 1;
            a = name;
        }
#define VALUE()                                                                                              \
    do {                                                                                                     \
        if (v == NULL) {                                                                                     \
            if (i + 1 >= argc) return nb_cli_fail("--server", "%s needs a value", a);                        \
            v = argv[++i];                                                                                   \
        }                                                                                                    \
    } while (0)
        int r = 0;
        if (strcmp(a, "--bind") == 0) {
            VALUE();
            o->bind = v;
        } else if (strcmp(a, "--relay") == 0) {
            VALUE();
            r = add_relays(o, (char *)v);
        } else if (strcmp(a, "--relay-ca") == 0) {
            VALUE();
            if (*v == '\0') return nb_cli_fail("--server", "--relay-ca needs a path");
            o->relay_ca = v;
        } else if (strcmp(a, "--owner") == 0) {
            VALUE();
            o->owner = v;
        } else if (strcmp(a, "--nsec-file") == 0) {
            VALUE();
            o->nsec_file = v;
        } else if (strcmp(a, "--backend") == 0) {
            VALUE();
            if (o->n_backends == MAX_LIST || nb_pubkey_parse(o->backends[o->n_backends], v, strlen(v)) != 0)
                return nb_cli_fail("--server", "--backend needs an npub or 64 hex digits");
            o->n_backends++;
        } else if (strcmp(a, "--cors-origin") == 0) {
            VALUE();
            if (o->n_cors == MAX_LIST) return nb_cli_fail("--server", "at most %d CORS origins", MAX_LIST);
            o->cors[o->n_cors++] = v;
        } else if (strcmp(a, "--max-body") == 0) {
            VALUE();
            r = parse_size(a, v, &o->max_body);
        } else if (strcmp(a, "--max-stream-queue") == 0) {
            VALUE();
            r = parse_size(a, v, &o->max_stream_queue);
        } else if (strcmp(a, "--first-event-timeout") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->first_event_s, 1, 86400);
        } else if (strcmp(a, "--idle-timeout") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->idle_s, 1, 86400);
        } else if (strcmp(a, "--turn-timeout") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->turn_s, 1, 7 * 86400);
        } else if (strcmp(a, "--boot-timeout") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->boot_s, 1, 3600);
        } else if (strcmp(a, "--publish-timeout") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->publish_s, 1, 600);
        } else if (strcmp(a, "--startup-grace") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->startup_s, 0, 3600);
        } else if (strcmp(a, "--shutdown-grace") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->shutdown_s, 0, 600);
        } else if (strcmp(a, "--api-key") == 0) {
            VALUE();
            if (nb_apikeys_add(&o->apikeys, v, strlen(v)) != 0)
                return nb_cli_fail("--server", "--api-key: too long (at most %d bytes) or too many keys",
                                   NB_APIKEY_MAX_LEN);
        } else if (strcmp(a, "--api-key-file") == 0) {
            VALUE();
            int kr = nb_apikeys_load_file(&o->apikeys, v);
            if (kr != 0) return nb_cli_fail("--server", "--api-key-file %s: %s", v, nb_strerror(kr));
        } else if (strcmp(a, "--protect-health") == 0) {
            o->protect_health = true;
        } else if (strcmp(a, "--filler") == 0) {
            VALUE();
            if (strlen(v) > 256) return nb_cli_fail("--server", "--filler: at most 256 bytes");
            o->filler = v;
        } else if (strcmp(a, "--stop-on-disconnect") == 0) {
            o->stop_on_disconnect = true;
        } else if (strcmp(a, "--config") == 0) {
            VALUE();
            char err[512];
            if (nb_config_load(&o->apikeys, v, err, sizeof(err)) != 0)
                return nb_cli_fail("--server", "--config: %s", err);
        } else if (strcmp(a, "--max-frame") == 0) {
            VALUE();
            r = parse_size(a, v, &o->max_frame);
            if (r == 0 && (o->max_frame < 4096 || o->max_frame > (64u << 20)))
                return nb_cli_fail("--server", "--max-frame must be between 4K and 64M");
        } else if (strcmp(a, "--log-content") == 0) {
            o->log_content = true;
        } else if (strcmp(a, "--max-ws-threads") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->max_ws_threads, 1, 1024);
        } else if (strcmp(a, "--ws-idle-timeout") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->ws_idle_s, 1, 86400);
        } else if (strcmp(a, "--log-format") == 0) {
            VALUE();
            if (strcmp(v, "json") == 0)
                o->log_json = true;
            else if (strcmp(v, "text") == 0)
                o->log_json = false;
            else
                return nb_cli_fail("--server", "--log-format must be text or json");
        } else if (strcmp(a, "--max-streams") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->max_streams, 1, 1000000);
        } else if (strcmp(a, "--max-streams-per-key") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->max_streams_per_key, 0, 1000000);
        } else if (strcmp(a, "--rate-limit") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->rate_per_minute, 0, 1000000);
        } else if (strcmp(a, "--no-history-transcript") == 0) {
            o->history_transcript = false;
        } else if (strcmp(a, "--log-level") == 0) {
            VALUE();
            if (nb_log_level_parse(v, &o->log_level) != 0)
                return nb_cli_fail("--server", "--log-level must be debug, info, warn, error or off");
        } else if (strcmp(a, "--log-json") == 0) {
            o->log_json = true;
        } else if (strcmp(a, "--log-file") == 0) {
            VALUE();
            if (*v == '\0') return nb_cli_fail("--server", "--log-file needs a path");
            o->log_file = v;
        } else if (strcmp(a, "--state") == 0) {
            VALUE();
            if (*v == '\0') return nb_cli_fail("--server", "--state needs a path or :memory:");
            o->state = v;
        } else if (strcmp(a, "--state-max-entries") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->state_max, 1, 100000000);
        } else if (strcmp(a, "--state-ttl") == 0) {
            VALUE();
            r = parse_u32(a, v, &o->state_ttl_s, 1, 10 * 366 * 86400);
        } else {
            return nb_cli_fail("--server", "unknown option '%s' (see bridge --help)", argv[i]);
        }
#undef VALUE
        if (r != 0) return r;
    }
    const char *keys_env = getenv("BRIDGE_API_KEYS");
    if (keys_env != NULL && nb_apikeys_add_list(&o->apikeys, keys_env, strlen(keys_env)) != 0)
        return nb_cli_fail("--server", "BRIDGE_API_KEYS: a key is too long or there are too many");
    if (o->n_relays == 0) {
        const char *env = getenv("BRIDGE_RELAYS");
        o->relay_env = nb_strdup(env && *env ? env : "wss://relay.tenex.chat");
        if (add_relays(o, o->relay_env) != 0) return NB_EXIT_USAGE;
    }
    if (o->relay_ca == NULL) {
        const char *env = getenv("BRIDGE_RELAY_CA");
        if (env != NULL && *env) o->relay_ca = env;
    }
    /* no XDG_STATE_HOME nor HOME: memory (nb_cmd_server warns) */
    if (o->state == NULL && nb_convo_default_path(o->state_default, sizeof(o->state_default)) == 0)
        o->state = o->state_default;
    return 0;
}

/* The secret is in our memory now; take it out of the environment block too, so it does not
 * linger in /proc/<pid>/environ for the daemon's whole life. */
static void scrub_env(const char *name)
{
    char *v = getenv(name);
    if (v != NULL) explicit_bzero(v, strlen(v));
    unsetenv(name);
}

/* ---- shutdown -------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_pool_closed(void *data)
{
    server_t *s = data;
    s->pool = NULL;
    uv_close((uv_handle_t *)&s->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&s->sighup, on_handle_closed);
    uv_close((uv_handle_t *)&s->drain, on_handle_closed);
}

static void on_http_closed(void *data)
{
    server_t *s = data;
    s->http = NULL;
    nb_tenex_dir_stop(s->dir);
    nb_pool_close(s->pool, on_pool_closed, s);
}

static void on_drain(uv_timer_t *t)
{
    server_t *s = t->data;
    size_t active = s->http ? nb_http_server_active(s->http) : 0;
    if (active > 0 && uv_now(&s->loop) < s->drain_deadline) return; /* keep waiting (the timer repeats) */
    uv_timer_stop(t);
    if (active > 0)
        NB_WARN("shutdown: %zu responses still open after the grace period; closing them", active);
    if (s->http)
        nb_http_server_close(s->http, on_http_closed, s);
    else
        on_http_closed(s);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    server_t *s = sig->data;
    if (s->stopping) {
        NB_WARN("second signal: exiting now");
        exit(1);
    }
    s->stopping = true;
    NB_INFO("%s: shutting down (open requests: %zu)", signum == SIGINT ? "SIGINT" : "SIGTERM",
            nb_bridge_sessions(s->bridge));
    nb_http_server_stop_accepting(s->http);
    nb_bridge_shutdown(s->bridge);
    s->drain_deadline = uv_now(&s->loop) + 1000ull * s->shutdown_s;
    uv_timer_start(&s->drain, on_drain, 0, 50);
}

/* Point stderr (and so the log) at path. The file is opened once first: freopen() closes
 * stderr before it opens the new file, so a path that cannot be opened would leave no log at all. */
static int open_log_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return NB_EIO;
    close(fd);
    return nb_log_reopen(path);
}

static void on_sighup(uv_signal_t *sig, int signum)
{
    (void)signum;
    server_t *s = sig->data;
    if (s->log_file == NULL) {
        NB_INFO("SIGHUP: no --log-file, nothing to reopen");
        return;
    }
    if (open_log_file(s->log_file) != 0) {
        NB_WARN("SIGHUP: cannot reopen the log file %s (%s); still logging to the old one", s->log_file,
                strerror(errno));
        return;
    }
    NB_INFO("SIGHUP: log file reopened");
}

static void on_relay_state(void *ud, size_t idx, const nb_relay_info_t *info)
{
    server_t *s = ud;
    if (info->state == NB_RELAY_OPEN)
        NB_INFO("relay %s: open", info->url);
    else if (info->state == NB_RELAY_BACKOFF)
        NB_WARN("relay %s: down (%s); retrying", info->url,
                info->last_error && *info->last_error ? info->last_error : "closed");
    if (s->bridge) nb_bridge_poke(s->bridge);
}

int nb_cmd_server(int argc, char **argv)
{
    opts_t o;
    int status = NB_EXIT_USAGE;
    server_t *s = nb_calloc(1, sizeof(*s));
    if (parse_opts(&o, argc, argv) != 0) goto out_opts;
    nb_log_setup(o.log_level, o.log_json);
    if (nb_cli_load_key("--server", &s->keys, o.nsec_file) != 0) goto out_opts;
    scrub_env("TENEX_NSEC");
    scrub_env("BRIDGE_API_KEYS");
    uint8_t owner[32];
    memcpy(owner, s->keys.pubkey, 32);
    if (o.owner && nb_pubkey_parse(owner, o.owner, strlen(o.owner)) != 0) {
        nb_cli_fail("--server", "--owner needs an npub or 64 hex digits");
        goto out_keys;
    }
    if (o.log_file != NULL && open_log_file(o.log_file) != 0) {
        nb_cli_fail("--server", "--log-file %s: %s", o.log_file, strerror(errno));
        goto out_keys;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&s->loop);
    s->shutdown_s = o.shutdown_s;
    s->log_file = o.log_file;

    nb_pool_config_t pc;
    nb_pool_config_defaults(&pc);
    pc.urls = o.relays;
    pc.n_urls = o.n_relays;
    pc.keys = &s->keys;
    pc.publish_timeout_ms = o.publish_s * 1000;
    if (o.max_frame) pc.max_frame = o.max_frame;
    pc.ca_file = o.relay_ca;
    if (o.relay_ca != NULL) NB_INFO("relay TLS: trusting only the CA certificates in %s", o.relay_ca);
    pc.on_relay_state = on_relay_state;
    pc.ud = s;
    int r = nb_pool_create(&s->pool, &s->loop, &pc);
    if (r != 0) {
        nb_cli_fail("--server", "cannot start the relay pool: %s", nb_strerror(r));
        goto out_loop;
    }
    nb_tenex_dir_config_t dc = {0};
    memcpy(dc.owner, owner, 32);
    dc.backends = (const uint8_t(*)[32])o.backends;
    dc.n_backends = o.n_backends;
    nb_tenex_dir_create(&s->dir, &dc);
    nb_tenex_dir_start(s->dir, s->pool, time(NULL));

    nb_bridge_config_t bc;
    nb_bridge_config_defaults(&bc);
    bc.keys = &s->keys;
    memcpy(bc.owner, owner, 32);
    bc.first_event_timeout_ms = o.first_event_s * 1000;
    bc.idle_timeout_ms = o.idle_s * 1000;
    bc.turn_timeout_ms = o.turn_s * 1000;
    bc.boot_timeout_ms = o.boot_s * 1000;
    bc.startup_grace_ms = o.startup_s * 1000;
    bc.backends = (const uint8_t(*)[32])o.backends;
    bc.n_backends = o.n_backends;
    bc.history_transcript = o.history_transcript;
    bc.apikeys = &o.apikeys;
    bc.protect_health = o.protect_health;
    if (o.max_streams) bc.max_sessions = o.max_streams;
    bc.max_streams_per_key = o.max_streams_per_key;
    bc.rate_per_minute = o.rate_per_minute;
    bc.filler = o.filler;
    bc.stop_on_disconnect = o.stop_on_disconnect;
    bc.log_content = o.log_content;
    if (o.max_ws_threads) bc.max_ws_threads = o.max_ws_threads;
    if (o.state == NULL)
        NB_WARN("neither XDG_STATE_HOME nor HOME is set: conversations are kept in memory only "
                "(see --state)");
    bc.state_path = o.state;
    bc.state_max_entries = o.state_max ? o.state_max : NB_CONVO_DEFAULT_MAX;
    bc.state_ttl_s = o.state_ttl_s ? o.state_ttl_s : NB_CONVO_DEFAULT_TTL;
    s->bridge = nb_bridge_create(&s->loop, s->pool, s->dir, &bc);

    nb_http_config_t hc;
    nb_http_config_defaults(&hc);
    hc.bind = o.bind;
    hc.max_body = o.max_body;
    hc.max_stream_queue = o.max_stream_queue;
    hc.max_ws_message = o.max_body;
    if (o.ws_idle_s) hc.ws_idle_timeout_ms = o.ws_idle_s * 1000;
    hc.cors_origins = o.n_cors ? o.cors : NULL;
    hc.n_cors_origins = o.n_cors;
    r = nb_http_server_start(&s->http, &s->loop, &hc, nb_bridge_routes(), s->bridge);
    if (r != 0) {
        nb_cli_fail("--server", "cannot listen on %s: %s", o.bind, nb_strerror(r));
        nb_tenex_dir_stop(s->dir);
        nb_pool_close(s->pool, NULL, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        goto out_bridge;
    }
    /* Signals are handled from here on, before "listening on" tells a supervisor (or a test)
     * that bridge is up: a SIGTERM or SIGHUP right after that line must not hit the default action. */
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sighup);
    uv_timer_init(&s->loop, &s->drain);
    s->sigint.data = s->sigterm.data = s->sighup.data = s->drain.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sighup, on_sighup, SIGHUP);

    char owner_hex[65];
    nb_hex_encode(owner_hex, owner, 32);
    NB_INFO("bridge %s: user %s", BRIDGE_VERSION, s->keys.npub);
    NB_INFO("project owner %.16s…%s", owner_hex, o.owner ? "" : " (the user)");
    for (size_t i = 0; i < o.n_relays; i++)
        NB_INFO("relay %s", o.relays[i]);
    NB_INFO("listening on http://%s (port %d)", o.bind, nb_http_server_port(s->http));
    if (nb_apikeys_open(&o.apikeys)) {
        bool loopback = strncmp(o.bind, "127.", 4) == 0 || strncmp(o.bind, "[::1]", 5) == 0 ||
                        strncmp(o.bind, "localhost:", 10) == 0;
        if (!loopback)
            NB_WARN(
                "no API keys configured and %s is not a loopback address: anyone who can reach it can talk "
                "to your agents as you (set --api-key-file or BRIDGE_API_KEYS)",
                o.bind);
        else
            NB_INFO("no API keys configured (local mode)");
    } else {
        NB_INFO("%zu API key(s) configured", o.apikeys.n);
    }

    uv_run(&s->loop, UV_RUN_DEFAULT);
    status = NB_EXIT_OK;
out_bridge:
    nb_bridge_destroy(s->bridge);
    nb_tenex_dir_destroy(s->dir);
out_loop:
    if (uv_loop_close(&s->loop) != 0) {
        NB_ERROR("shutdown: the event loop still had open handles");
        status = status == NB_EXIT_OK ? 1 : status;
    } else if (status == NB_EXIT_OK) {
        NB_INFO("shutdown complete");
    }
out_keys:
    nb_keys_dispose(&s->keys);
out_opts:
    nb_apikeys_dispose(&o.apikeys);
    nb_free(o.relay_env);
    nb_free(s);
    return status;
}
