/*
 * project.c — the project and the backend's liveness (TENEX-NOTES §3, §4).
 *
 * On every relay (re)connection: the 31933 project signed by the owner, the agents' kind 0
 * profiles, and a status round. Every --status-interval seconds a status round: 24012 heartbeat
 * and 24011 inventory (the daemon's, whether or not the project runs) and, while the project
 * runs, its 24010. --offline publishes no status at all; --lazy holds the 24010 back until a
 * boot request (inbox.c) calls echo_project_boot.
 */
#include "echo_agent.h"

static void status_round(echo_app_t *app)
{
    if (app->cfg.offline || app->stopping) return;
    echo_wire_heartbeat(app);
    echo_wire_inventory(app);
    if (app->running) echo_wire_status(app);
}

static void on_status_timer(uv_timer_t *t)
{
    status_round(t->data);
}

void echo_project_start(echo_app_t *app)
{
    if (app->cfg.offline) return;
    uint64_t ms = (uint64_t)app->cfg.status_interval_s * 1000;
    uv_timer_init(app->loop, &app->status_timer);
    app->status_timer.data = app;
    uv_timer_start(&app->status_timer, on_status_timer, ms, ms);
    app->status_timer_on = true;
}

void echo_project_on_relay_open(echo_app_t *app)
{
    if (app->stopping) return;
    /* Stored events: the same again after a reconnect is harmless (the newest 31933 wins). */
    echo_wire_project(app);
    echo_wire_profiles(app);
    status_round(app);
}

void echo_project_boot(echo_app_t *app)
{
    if (app->running || app->cfg.offline) return;
    app->running = true;
    NB_INFO("boot: project %s is running now", app->cfg.dtag);
    echo_wire_status(app);
}

void echo_project_stop(echo_app_t *app)
{
    if (!app->status_timer_on) return;
    app->status_timer_on = false;
    /* The handle lives in app (static storage): nothing to free when it has closed. */
    uv_close((uv_handle_t *)&app->status_timer, NULL);
}
