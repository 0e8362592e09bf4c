/*
 * main.c — echo-agent's lifecycle: configuration, the loop, the relay pool, signals, and a
 * shutdown that leaves uv_loop_close() == 0 and nothing for LeakSanitizer to find.
 *
 * Shutdown order (SIGINT/SIGTERM): end every run (no more events), release the inbox, close the
 * status timer and the signal handles, then nb_pool_close(); the loop ends when the last handle
 * has closed.
 */
#include "echo_agent.h"

#include "bridge/err.h"
#include "bridge/mem.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The EVENT frames we send (a #huge reply) and receive; the relays have their own limits. */
#define MAX_FRAME (8u * 1024 * 1024)

static echo_app_t app;

void echo_app_check_ready(echo_app_t *a)
{
    if (a->ready_printed || !a->project_ok || (!a->cfg.offline && !a->inbox_eose)) return;
    a->ready_printed = true;
    printf("ready\n");
    fflush(stdout);
    NB_INFO("ready: project %s with %zu agents", a->cfg.coord, a->cfg.n_agents);
}

static void on_relay_state(void *ud, size_t idx, const nb_relay_info_t *info)
{
    /* The pool logs the transitions itself. */
    if (info->state == NB_RELAY_OPEN) echo_project_on_relay_open(ud);
}

static void on_pool_closed(void *data)
{
    echo_app_t *a = data;
    a->pool = NULL;
    NB_INFO("shutdown: relay pool closed");
}

static void on_signal(uv_signal_t *s, int signum)
{
    echo_app_t *a = s->data;
    if (a->stopping) return;
    NB_INFO("shutdown: %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
    a->stopping = true;
    echo_run_stop_all(a);
    echo_inbox_stop(a);
    echo_project_stop(a);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    nb_pool_close(a->pool, on_pool_closed, a);
}

static void print_identities(const echo_config_t *c)
{
    printf("owner %s %s\n", c->owner.pubkey_hex, c->owner.npub);
    printf("backend %s %s\n", c->backend.pubkey_hex, c->backend.npub);
    for (size_t i = 0; i < c->n_agents; i++)
        printf("agent %s %s %s\n", c->agents[i].slug, c->agents[i].keys.pubkey_hex, c->agents[i].keys.npub);
    printf("project %s\n", c->coord);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    nb_mem_install();
    nb_log_setup(NB_LOG_INFO, false);
    signal(SIGPIPE, SIG_IGN);
    if (nb_secp_init() < 0) {
        fprintf(stderr, "echo-agent: %s\n", nb_strerror(NB_ERANDOM));
        return 1;
    }
    int rc = 1;
    echo_config_result_t cr = echo_config_parse(&app.cfg, argc, argv);
    if (cr != ECHO_CONFIG_RUN) {
        nb_secp_dispose();
        return cr == ECHO_CONFIG_EXIT_OK ? 0 : 2;
    }
    echo_config_t *c = &app.cfg;
    nb_log_setup(c->log_level, c->log_json);
    print_identities(c);

    uv_loop_t loop;
    uv_loop_init(&loop);
    app.loop = &loop;
    app.start = (int64_t)time(NULL);
    app.running = !c->lazy && !c->offline;

    nb_pool_config_t pc;
    nb_pool_config_defaults(&pc);
    pc.urls = (const char *const *)c->relays;
    pc.n_urls = c->n_relays;
    pc.keys = &c->backend; /* NIP-42 AUTH as the backend, like the TENEX daemon */
    pc.max_frame = MAX_FRAME;
    pc.max_queue_bytes = 4 * MAX_FRAME;
    pc.backoff_min_ms = 200;
    pc.backoff_max_ms = 5000;
    pc.on_relay_state = on_relay_state;
    pc.ud = &app;
    int err = nb_pool_create(&app.pool, &loop, &pc);
    if (err < 0) {
        NB_ERROR("relay pool: %s", nb_strerror(err));
        uv_loop_close(&loop);
        goto out;
    }

    uv_signal_init(&loop, &app.sigint);
    uv_signal_init(&loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);

    echo_project_start(&app);
    if (!c->offline && echo_inbox_start(&app) < 0) {
        /* Only NB_ELIMIT/NB_EINVAL: a bug, not an outside condition. Shut down the same way. */
        app.exit_code = 1;
        on_signal(&app.sigterm, SIGTERM);
    }
    NB_INFO("echo-agent: project %s, %zu agents, %zu relays%s%s%s", c->coord, c->n_agents, c->n_relays,
            c->lazy ? ", lazy" : "", c->offline ? ", offline" : "", c->legacy ? ", legacy shapes" : "");

    uv_run(&loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&loop);
    if (lc != 0) NB_ERROR("shutdown: uv_loop_close: %s (a handle is still open)", uv_strerror(lc));
    rc = lc == 0 ? app.exit_code : 1;
    NB_INFO("shutdown: done, exit %d", rc);
out:
    echo_memory_dispose(&app);
    nb_free(app.seen);
    echo_config_dispose(&app.cfg);
    nb_secp_dispose();
    return rc;
}
