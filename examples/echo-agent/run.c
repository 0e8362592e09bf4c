/*
 * run.c — carrying out runs: one timer per run walks its action list (script.c), publishing
 * each action through wire.c after its delay.
 *
 * Like the TENEX dispatcher, one agent runs at most once per thread at a time: a message that
 * arrives while the agent is busy there waits, and only the newest waiting message gets the
 * next run (dispatch_coordinator.rs: pop_back + clear). A stop (24134) ends the run at once,
 * publishes the activity end, and forgets what was waiting: the agent stays quiet in that
 * thread until the next message.
 *
 * 24133 activity lists, per thread, every agent whose run is in a "working" stretch (between a
 * BUSY and an IDLE action), in roster order.
 */
#include "echo_agent.h"

#include "bridge/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void schedule(echo_run_t *r);
static void finish(echo_run_t *r, bool stopped);

/* ---- messages ----------------------------------------------------------------------------- */

static char *dup_bytes(const char *p, size_t len)
{
    char *s = nb_malloc(len + 1);
    if (len > 0) memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

void echo_msg_copy(echo_msg_t *dst, const echo_msg_t *src)
{
    *dst = *src;
    dst->text = dup_bytes(src->text != NULL ? src->text : "", src->len);
    dst->asked_text = src->asked_text != NULL ? dup_bytes(src->asked_text, src->asked_len) : NULL;
}

void echo_msg_dispose(echo_msg_t *m)
{
    nb_free(m->text);
    nb_free(m->asked_text);
    m->text = m->asked_text = NULL;
}

/* ---- bookkeeping -------------------------------------------------------------------------- */

static echo_run_t *find_live(echo_app_t *app, int agent, const char *root_hex)
{
    for (echo_run_t *r = app->runs; r != NULL; r = r->next)
        if (!r->ended && r->agent == agent && strcmp(r->msg.root_hex, root_hex) == 0) return r;
    return NULL;
}

static void publish_activity(echo_app_t *app, const char *root_hex)
{
    if (app->stopping) return;
    int agents[ECHO_MAX_AGENTS];
    size_t n = 0;
    for (size_t i = 0; i < app->cfg.n_agents; i++) {
        for (echo_run_t *r = app->runs; r != NULL; r = r->next) {
            if (r->working && r->agent == (int)i && strcmp(r->msg.root_hex, root_hex) == 0) {
                agents[n++] = (int)i;
                break;
            }
        }
    }
    echo_wire_activity(app, root_hex, agents, n);
}

static void on_run_closed(uv_handle_t *h)
{
    echo_run_t *r = h->data;
    echo_app_t *app = r->app;
    for (size_t i = 0; i < r->n_acts; i++) {
        nb_free(r->acts[i].text);
        nb_free(r->acts[i].aux);
        nb_free(r->acts[i].args);
    }
    nb_free(r->acts);
    echo_msg_dispose(&r->msg);
    nb_free(r);
    app->runs_closing--;
}

static echo_run_t *new_run(echo_app_t *app, int agent, const echo_msg_t *msg)
{
    echo_run_t *r = nb_calloc(1, sizeof *r);
    r->app = app;
    r->agent = agent;
    echo_msg_copy(&r->msg, msg);
    memcpy(r->recipient_hex, msg->author_hex, 65);
    uv_timer_init(app->loop, &r->timer);
    r->timer.data = r;
    r->next = app->runs;
    if (app->runs != NULL) app->runs->prev = r;
    app->runs = r;
    return r;
}

static void log_run(echo_app_t *app, const echo_run_t *r, const char *what)
{
    char desc[256];
    if (what != NULL)
        snprintf(desc, sizeof desc, "%s", what);
    else
        echo_directives_describe(&r->msg.d, desc, sizeof desc);
    NB_INFO("run %s root=%.8s directives=%s trigger=%.8s", app->cfg.agents[r->agent].slug, r->msg.root_hex,
            desc, r->msg.id_hex);
}

/* ---- executing ---------------------------------------------------------------------------- */

static void execute(echo_run_t *r, const echo_act_t *a)
{
    echo_app_t *app = r->app;
    char id[65] = "";
    switch (a->kind) {
    case ECHO_ACT_BUSY:
        r->working = true;
        publish_activity(app, r->msg.root_hex);
        break;
    case ECHO_ACT_IDLE:
        r->working = false;
        publish_activity(app, r->msg.root_hex);
        break;
    case ECHO_ACT_ASK:
        echo_wire_act(app, r, a, id);
        if (id[0] != '\0') {
            echo_memory_add_ask(app, id, r->agent, r->msg.text, r->msg.len);
            NB_INFO("ask %s id=%.8s root=%.8s", app->cfg.agents[r->agent].slug, id, r->msg.root_hex);
        }
        break;
    case ECHO_ACT_DELEGATE: {
        echo_wire_act(app, r, a, id);
        int to = echo_config_delegatee(&app->cfg, r->agent);
        if (id[0] != '\0') echo_run_delegatee(app, r, to, id, a->text, a->len);
        break;
    }
    case ECHO_ACT_AWAIT:
        break;
    case ECHO_ACT_DIE:
        NB_WARN("run %s root=%.8s: dying on purpose (#die)", app->cfg.agents[r->agent].slug, r->msg.root_hex);
        fflush(stdout);
        fflush(stderr);
        _exit(ECHO_DIE_STATUS);
    default:
        echo_wire_act(app, r, a, NULL);
        break;
    }
}

static void on_tick(uv_timer_t *t)
{
    echo_run_t *r = t->data;
    if (r->ended || r->pc >= r->n_acts) return;
    const echo_act_t *a = &r->acts[r->pc++];
    execute(r, a);
    if (r->ended) return;
    if (a->kind == ECHO_ACT_AWAIT && r->child != NULL) {
        r->parked = true; /* the child's finish() resumes us */
        return;
    }
    schedule(r);
}

static void schedule(echo_run_t *r)
{
    if (r->pc >= r->n_acts) {
        finish(r, false);
        return;
    }
    uv_timer_start(&r->timer, on_tick, r->acts[r->pc].delay_ms, 0);
}

static void finish(echo_run_t *r, bool stopped)
{
    if (r->ended) return;
    echo_app_t *app = r->app;
    r->ended = true;
    uv_timer_stop(&r->timer);
    if (r->working) {
        r->working = false;
        publish_activity(app, r->msg.root_hex);
    }
    if (stopped) NB_INFO("run %s root=%.8s: stopped", app->cfg.agents[r->agent].slug, r->msg.root_hex);
    if (r->child != NULL) r->child->parent = NULL;
    echo_run_t *parent = r->parent;
    if (parent != NULL) {
        parent->child = NULL;
        if (parent->parked && !parent->ended && !app->stopping) {
            parent->parked = false;
            schedule(parent);
        }
    }
    echo_msg_t *queued = r->queued;
    r->queued = NULL;
    int agent = r->agent;

    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        app->runs = r->next;
    if (r->next != NULL) r->next->prev = r->prev;
    app->runs_closing++;
    uv_close((uv_handle_t *)&r->timer, on_run_closed);

    if (queued != NULL) {
        if (!stopped && !app->stopping) echo_run_dispatch(app, agent, queued);
        echo_msg_dispose(queued);
        nb_free(queued);
    }
}

/* ---- the interface ------------------------------------------------------------------------ */

void echo_run_dispatch(echo_app_t *app, int agent, const echo_msg_t *msg)
{
    if (app->stopping) return;
    echo_run_t *busy = find_live(app, agent, msg->root_hex);
    if (busy != NULL) {
        if (busy->queued != NULL) {
            echo_msg_dispose(busy->queued);
        } else {
            busy->queued = nb_malloc(sizeof *busy->queued);
        }
        echo_msg_copy(busy->queued, msg);
        NB_INFO("queued %s root=%.8s trigger=%.8s: the agent is busy there", app->cfg.agents[agent].slug,
                msg->root_hex, msg->id_hex);
        return;
    }
    echo_run_t *r = new_run(app, agent, msg);
    log_run(app, r, NULL);
    echo_script_reply(app, r);
    schedule(r); /* an empty script (#silent) ends here */
}

echo_run_t *echo_run_delegatee(echo_app_t *app, echo_run_t *parent, int agent, const char *delegation_id_hex,
                               const char *text, size_t len)
{
    echo_msg_t m;
    memset(&m, 0, sizeof m);
    memcpy(m.id_hex, delegation_id_hex, 65);
    memcpy(m.root_hex, delegation_id_hex, 65);
    memcpy(m.author_hex, app->cfg.agents[parent->agent].keys.pubkey_hex, 65);
    memcpy(m.root_author_hex, m.author_hex, 65);
    m.text = (char *)text;
    m.len = len;
    m.d.slow_ms = -1;
    echo_run_t *r = new_run(app, agent, &m);
    r->delegated = true;
    r->parent = parent;
    parent->child = r;
    log_run(app, r, "delegated");
    echo_script_delegatee(app, r);
    schedule(r);
    return r;
}

bool echo_run_stop(echo_app_t *app, int agent, const char *root_hex)
{
    echo_run_t *r = find_live(app, agent, root_hex);
    if (r == NULL) return false;
    finish(r, true);
    return true;
}

void echo_run_stop_all(echo_app_t *app)
{
    while (app->runs != NULL)
        finish(app->runs, true);
}
