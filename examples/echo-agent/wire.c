/*
 * wire.c — the exact event shapes of TENEX today (and, with --legacy, before 2025-12-30).
 *
 * Every tag list here follows /work/shared/design/PROTOCOL.md and TENEX-NOTES.md §1–§6 in the
 * order the Rust encoder writes it (crates/tenex-protocol/src/nostr/encoder.rs): the thread
 * tags first (e root, e reply), then the event's own tags, then the "standard tags" (a,
 * llm-model, llm-ral). All e/p values are 64 lowercase hex.
 */
#include "echo_agent.h"

#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- publishing --------------------------------------------------------------------------- */

static void on_published(void *ud, int result, const char *detail)
{
    uint32_t kind = (uint32_t)(uintptr_t)ud;
    if (result != 0) NB_WARN("publish: kind %u failed: %s (%s)", kind, nb_err_name(result), detail);
}

static void on_project_published(void *ud, int result, const char *detail)
{
    echo_app_t *app = ud;
    if (result != 0) {
        NB_WARN("publish: project 31933 failed: %s (%s)", nb_err_name(result), detail);
        return;
    }
    if (!app->project_ok) NB_INFO("project: stored coord=%s", app->cfg.coord);
    app->project_ok = true;
    echo_app_check_ready(app);
}

static int sign_and_send(echo_app_t *app, nb_event_t *ev, const nb_keys_t *keys, nb_pub_cb cb, void *ud)
{
    if (app->pool == NULL || app->stopping) return NB_ECLOSED;
    if (ev->created_at == 0) ev->created_at = (int64_t)time(NULL);
    int err = nb_event_sign(ev, keys);
    if (err == 0) err = nb_pool_publish(app->pool, NULL, ev, cb, ud);
    if (err < 0) NB_WARN("publish: kind %u not sent: %s", ev->kind, nb_err_name(err));
    return err;
}

/* Sign, publish (twice: the very same event again, as a relay may repeat it), dispose; the id
 * goes to id_out (may be NULL), "" on failure. */
static void publish_id(echo_app_t *app, nb_event_t *ev, const nb_keys_t *keys, bool twice, char id_out[65])
{
    void *ud = (void *)(uintptr_t)ev->kind;
    int err = sign_and_send(app, ev, keys, on_published, ud);
    if (err == 0 && twice) nb_pool_publish(app->pool, NULL, ev, on_published, ud);
    if (id_out != NULL) {
        if (err == 0)
            nb_event_id_hex(ev, id_out);
        else
            id_out[0] = '\0';
    }
    nb_event_dispose(ev);
}

void echo_wire_publish(echo_app_t *app, nb_event_t *ev, const nb_keys_t *keys, bool twice)
{
    publish_id(app, ev, keys, twice, NULL);
}

/* ---- small helpers ------------------------------------------------------------------------ */

static void tag_u64(nb_event_t *ev, const char *name, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    NB_EVENT_TAG(ev, name, num);
}

/* a, llm-model, llm-ral (legacy: no llm-ral, it did not exist). */
static void tag_standard(echo_app_t *app, nb_event_t *ev, uint32_t ral)
{
    NB_EVENT_TAG(ev, "a", app->cfg.coord);
    NB_EVENT_TAG(ev, "llm-model", app->cfg.model);
    if (!app->cfg.legacy) tag_u64(ev, "llm-ral", ral);
}

/* The thread tags of a run's event: today e root + e reply; legacy (NIP-22 style) E/K/P + an
 * unmarked e parent. */
static void tag_thread(echo_app_t *app, nb_event_t *ev, const echo_run_t *r)
{
    if (app->cfg.legacy) {
        NB_EVENT_TAG(ev, "E", r->msg.root_hex);
        NB_EVENT_TAG(ev, "K", "1");
        NB_EVENT_TAG(ev, "P", r->msg.root_author_hex);
        NB_EVENT_TAG(ev, "e", r->msg.id_hex);
    } else {
        NB_EVENT_TAG(ev, "e", r->msg.root_hex, "", "root");
        NB_EVENT_TAG(ev, "e", r->msg.id_hex, "", "reply");
    }
}

static uint32_t reply_kind(const echo_app_t *app)
{
    return app->cfg.legacy ? 1111 : 1;
}

static const nb_keys_t *agent_keys(echo_app_t *app, const echo_run_t *r)
{
    return &app->cfg.agents[r->agent].keys;
}

/* ---- project, profiles, status ------------------------------------------------------------ */

void echo_wire_project(echo_app_t *app)
{
    const echo_config_t *c = &app->cfg;
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 31933;
    const char *about = "A project served by echo-agent, a TENEX stand-in for bridge demos and tests.";
    nb_event_set_content(&ev, about, strlen(about));
    NB_EVENT_TAG(&ev, "d", c->dtag);
    NB_EVENT_TAG(&ev, "title", c->title);
    /* The roster: today lowercase p = agent pubkeys, the first is the PM; legacy: ids of agent
       definitions (no pubkeys at all). */
    for (size_t i = 0; i < c->n_agents; i++) {
        if (c->legacy)
            NB_EVENT_TAG(&ev, "agent", c->agents[i].legacy_id);
        else
            NB_EVENT_TAG(&ev, "p", c->agents[i].keys.pubkey_hex);
    }
    sign_and_send(app, &ev, &c->owner, on_project_published, app);
    nb_event_dispose(&ev);
}

void echo_wire_profiles(echo_app_t *app)
{
    const echo_config_t *c = &app->cfg;
    for (size_t i = 0; i < c->n_agents; i++) {
        nb_buf_t b;
        nb_buf_init(&b, 4096);
        char about[256];
        snprintf(about, sizeof about, "Echo agent of project %s (echo-agent)", c->dtag);
        nb_buf_appends(&b, "{\"name\":");
        nb_json_write_string(&b, c->agents[i].slug, strlen(c->agents[i].slug));
        nb_buf_appends(&b, ",\"about\":");
        nb_json_write_string(&b, about, strlen(about));
        nb_buf_appends(&b, "}");
        nb_event_t ev;
        nb_event_init(&ev);
        ev.kind = 0;
        nb_event_set_content(&ev, b.data, b.len);
        echo_wire_publish(app, &ev, &c->agents[i].keys, false);
        nb_buf_dispose(&b);
    }
}

/* ["p",owner], ["p",whitelisted]… (the owner is whitelist[0]; no duplicates). */
static void tag_humans(nb_event_t *ev, const echo_config_t *c, const char *name)
{
    for (size_t i = 0; i < c->n_whitelist; i++)
        NB_EVENT_TAG(ev, name, c->whitelist_hex[i]);
}

/* ["agent",pk,slug] in roster order, or reversed with --status-order reversed; legacy 24010
 * marks the PM with a 4th element "pm". */
static void tag_agents(nb_event_t *ev, const echo_config_t *c, bool mark_pm)
{
    for (size_t k = 0; k < c->n_agents; k++) {
        size_t i = c->status_reversed ? c->n_agents - 1 - k : k;
        const echo_agent_t *a = &c->agents[i];
        if (mark_pm && i == 0)
            NB_EVENT_TAG(ev, "agent", a->keys.pubkey_hex, a->slug, "pm");
        else
            NB_EVENT_TAG(ev, "agent", a->keys.pubkey_hex, a->slug);
    }
}

void echo_wire_heartbeat(echo_app_t *app)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 24012;
    tag_humans(&ev, &app->cfg, "p");
    echo_wire_publish(app, &ev, &app->cfg.backend, false);
}

void echo_wire_inventory(echo_app_t *app)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 24011;
    tag_humans(&ev, &app->cfg, "p");
    tag_agents(&ev, &app->cfg, false);
    NB_EVENT_TAG(&ev, "model", app->cfg.model);
    echo_wire_publish(app, &ev, &app->cfg.backend, false);
}

void echo_wire_status(echo_app_t *app)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 24010;
    NB_EVENT_TAG(&ev, "a", app->cfg.coord);
    tag_humans(&ev, &app->cfg, "p");
    tag_agents(&ev, &app->cfg, app->cfg.legacy);
    echo_wire_publish(app, &ev, &app->cfg.backend, false);
}

void echo_wire_activity(echo_app_t *app, const char *root_hex, const int *agents, size_t n)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 24133;
    NB_EVENT_TAG(&ev, "e", root_hex);
    tag_humans(&ev, &app->cfg, "P");
    for (size_t i = 0; i < n; i++)
        NB_EVENT_TAG(&ev, "p", app->cfg.agents[agents[i]].keys.pubkey_hex);
    NB_EVENT_TAG(&ev, "a", app->cfg.coord);
    echo_wire_publish(app, &ev, &app->cfg.backend, false);
}

/* ---- a run's events ----------------------------------------------------------------------- */

static void wire_delta(echo_app_t *app, const echo_run_t *r, const echo_act_t *a)
{
    nb_event_t ev;
    nb_event_init(&ev);
    nb_event_set_content(&ev, a->text, a->len);
    if (app->cfg.legacy) {
        ev.kind = 21111;
        tag_thread(app, &ev, r);
        NB_EVENT_TAG(&ev, "a", app->cfg.coord);
        NB_EVENT_TAG(&ev, "streaming", "true");
        tag_u64(&ev, "sequence", a->seq);
    } else {
        ev.kind = 24135;
        tag_thread(app, &ev, r);
        tag_standard(app, &ev, a->ral);
        tag_u64(&ev, "stream-seq", a->seq);
    }
    echo_wire_publish(app, &ev, agent_keys(app, r), a->twice);
}

static void wire_conversation(echo_app_t *app, const echo_run_t *r, const echo_act_t *a)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = reply_kind(app);
    nb_event_set_content(&ev, a->text, a->len);
    tag_thread(app, &ev, r);
    tag_standard(app, &ev, a->ral);
    echo_wire_publish(app, &ev, agent_keys(app, r), false);
}

static void wire_tool(echo_app_t *app, const echo_run_t *r, const echo_act_t *a, const char *q)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = reply_kind(app);
    tag_thread(app, &ev, r);
    NB_EVENT_TAG(&ev, "tool", a->aux);
    NB_EVENT_TAG(&ev, "tool-args", a->args != NULL ? a->args : "{}");
    if (q != NULL) NB_EVENT_TAG(&ev, "q", q);
    tag_standard(app, &ev, a->ral);
    echo_wire_publish(app, &ev, agent_keys(app, r), false);
}

static void wire_completion(echo_app_t *app, const echo_run_t *r, const echo_act_t *a)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = reply_kind(app);
    nb_event_set_content(&ev, a->text, a->len);
    tag_thread(app, &ev, r);
    NB_EVENT_TAG(&ev, "p", r->recipient_hex);
    NB_EVENT_TAG(&ev, "status", "completed");
    tag_u64(&ev, "llm-prompt-tokens", a->usage[0]);
    tag_u64(&ev, "llm-completion-tokens", a->usage[1]);
    tag_u64(&ev, "llm-total-tokens", a->usage[2]);
    tag_standard(app, &ev, a->ral);
    echo_wire_publish(app, &ev, agent_keys(app, r), false);
}

static void wire_error(echo_app_t *app, const echo_run_t *r, const echo_act_t *a)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = reply_kind(app);
    nb_event_set_content(&ev, a->text, a->len);
    tag_thread(app, &ev, r);
    NB_EVENT_TAG(&ev, "error", "system");
    NB_EVENT_TAG(&ev, "p", r->recipient_hex);
    NB_EVENT_TAG(&ev, "status", "completed");
    tag_standard(app, &ev, a->ral);
    echo_wire_publish(app, &ev, agent_keys(app, r), false);
}

/* The runtime's notice for an agent process that died: signed by the backend, an unmarked e on
 * the trigger, no status, no root marker (tenex/src/runtime_cmd/agent_subprocess.rs). */
static void wire_crash(echo_app_t *app, const echo_run_t *r)
{
    char text[128];
    snprintf(text, sizeof text, "\xE2\x9A\xA0\xEF\xB8\x8F %s: agent process exited with code 1",
             app->cfg.agents[r->agent].slug);
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 1;
    nb_event_set_content(&ev, text, strlen(text));
    NB_EVENT_TAG(&ev, "e", r->msg.id_hex);
    NB_EVENT_TAG(&ev, "p", r->recipient_hex);
    NB_EVENT_TAG(&ev, "a", app->cfg.coord);
    echo_wire_publish(app, &ev, &app->cfg.backend, false);
}

/* An ask is a new root (since 686c2d93): no e tags, linked to our thread by "delegation". */
static void wire_ask(echo_app_t *app, const echo_run_t *r, const echo_act_t *a, char id_out[65])
{
    const char *title = "Confirm echo";
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 1;
    nb_event_set_content(&ev, a->text, a->len);
    NB_EVENT_TAG(&ev, "ask", "true");
    NB_EVENT_TAG(&ev, "t", "ask");
    NB_EVENT_TAG(&ev, "delegation", r->msg.root_hex);
    NB_EVENT_TAG(&ev, "p", r->recipient_hex);
    NB_EVENT_TAG(&ev, "title", title);
    NB_EVENT_TAG(&ev, "question", title, a->aux, "yes", "no");
    tag_standard(app, &ev, a->ral);
    publish_id(app, &ev, agent_keys(app, r), false, id_out);
}

/* delegate tool: a new root for the delegatee (created_at now+1, content "@slug: prompt"),
 * then the tool-use kind:1 in our thread, q-tagging the delegation. */
static void wire_delegate(echo_app_t *app, const echo_run_t *r, const echo_act_t *a, char id_out[65])
{
    int to = echo_config_delegatee(&app->cfg, r->agent);
    const echo_agent_t *dst = &app->cfg.agents[to];
    nb_buf_t text;
    nb_buf_init(&text, SIZE_MAX);
    nb_buf_appendf(&text, "@%s: ", dst->slug);
    nb_buf_append(&text, a->text, a->len);
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 1;
    ev.created_at = (int64_t)time(NULL) + 1;
    nb_event_set_content(&ev, text.data, text.len);
    NB_EVENT_TAG(&ev, "delegation", r->msg.root_hex);
    NB_EVENT_TAG(&ev, "p", dst->keys.pubkey_hex);
    tag_standard(app, &ev, a->ral);
    char id[65];
    publish_id(app, &ev, agent_keys(app, r), false, id);
    nb_buf_dispose(&text);
    wire_tool(app, r, a, id[0] != '\0' ? id : NULL);
    if (id_out != NULL) memcpy(id_out, id, 65);
}

void echo_wire_act(echo_app_t *app, const echo_run_t *r, const echo_act_t *a, char id_out[65])
{
    switch (a->kind) {
    case ECHO_ACT_DELTA:
    case ECHO_ACT_STATUS:
        wire_delta(app, r, a);
        break;
    case ECHO_ACT_CONVERSATION:
        wire_conversation(app, r, a);
        break;
    case ECHO_ACT_TOOL:
        wire_tool(app, r, a, NULL);
        break;
    case ECHO_ACT_COMPLETION:
        wire_completion(app, r, a);
        break;
    case ECHO_ACT_ERROR:
        wire_error(app, r, a);
        break;
    case ECHO_ACT_CRASH:
        wire_crash(app, r);
        break;
    case ECHO_ACT_ASK:
        wire_ask(app, r, a, id_out);
        break;
    case ECHO_ACT_DELEGATE:
        wire_delegate(app, r, a, id_out);
        break;
    default:
        break;
    }
}
