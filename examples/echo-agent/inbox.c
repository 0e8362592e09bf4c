/*
 * inbox.c — what the backend listens to, and who gets to run (TENEX-NOTES §5, §6).
 *
 * One subscription with the runtime's filters:
 *   {"kinds":[1],"#a":[coord],"since":start}      messages in the project
 *   {"kinds":[1],"#p":[agents],"since":start}     messages to its agents
 *   {"kinds":[24134],"#p":[agents]}               stop commands
 *   {"kinds":[24000],"#a":[coord],"since":start}  boot requests (the daemon's filter has since)
 * The real backend also filters by author; this one takes everything and logs why it ignores an
 * event ("ignore id=… reason=…"), which tells a test that the agent saw it and decided.
 *
 * Routing of a kind:1 (event_routing.rs select_agent, dispatch_pipeline.rs):
 *   - author not whitelisted (owner, --whitelist, the backend itself) → ignored;
 *   - a 31933 a-tag naming another project → ignored; no a-tag passes;
 *   - thread root = the e marked "root", else the first unmarked e, else the event's own id;
 *   - the agent = the first roster agent (roster order, not tag order) named by a p tag;
 *   - p tags that name no agent → not dispatched; no p at all: a new root goes to the PM, a
 *     reply (any e tag) is only stored.
 * Whitelisted messages in the project are remembered (memory.c) even when not dispatched.
 */
#include "echo_agent.h"

#include "bridge/err.h"
#include "bridge/filter.h"
#include "bridge/hex.h"
#include "bridge/mem.h"

#include <string.h>

/* Keep the log readable: a long text is shown up to this many bytes. */
#define LOG_TEXT 80

/* ---- recently seen ids -------------------------------------------------------------------- */

static bool seen_before(echo_app_t *app, const uint8_t id[32])
{
    for (size_t i = 0; i < app->seen_n; i++)
        if (memcmp(app->seen[i], id, 32) == 0) return true;
    memcpy(app->seen[app->seen_next], id, 32);
    app->seen_next = (app->seen_next + 1) % ECHO_SEEN_CAP;
    if (app->seen_n < ECHO_SEEN_CAP) app->seen_n++;
    return false;
}

/* ---- tag helpers -------------------------------------------------------------------------- */

static bool is_id(const nb_str_t *s)
{
    return s->len == 64 && nb_hex_is_lower(s->p, 64);
}

/* The thread root by the §5 rule. *has_e: the event has an e tag at all (a reply). */
static void find_root(const nb_event_t *ev, const char *own_id, char root[65], bool *has_e)
{
    const nb_str_t *marked = NULL, *unmarked = NULL;
    *has_e = false;
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const nb_tag_t *t = &ev->tags[i];
        if (!nb_tag_is(t, "e") || t->n < 2 || !is_id(&t->items[1])) continue;
        *has_e = true;
        bool is_unmarked = t->n < 4 || t->items[3].len == 0;
        if (marked == NULL && nb_tag_item_eq(t, 3, "root")) marked = &t->items[1];
        if (unmarked == NULL && is_unmarked) unmarked = &t->items[1];
    }
    const nb_str_t *pick = marked != NULL ? marked : unmarked;
    if (pick != NULL) {
        memcpy(root, pick->p, 64);
        root[64] = '\0';
    } else {
        memcpy(root, own_id, 65);
    }
}

/* A 31933 a-tag for another project puts the event out of scope. */
static bool other_project(const echo_app_t *app, const nb_event_t *ev)
{
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const nb_tag_t *t = &ev->tags[i];
        if (!nb_tag_is(t, "a") || t->n < 2) continue;
        const nb_str_t *v = &t->items[1];
        if (v->len >= 6 && memcmp(v->p, "31933:", 6) == 0 &&
            (v->len != strlen(app->cfg.coord) || memcmp(v->p, app->cfg.coord, v->len) != 0))
            return true;
    }
    return false;
}

/* Is agent i named by a p tag? *any_p: there is a p tag at all. */
static bool names_agent(const echo_app_t *app, const nb_event_t *ev, size_t i, bool *any_p)
{
    for (uint32_t k = 0; k < ev->ntags; k++) {
        const nb_tag_t *t = &ev->tags[k];
        if (!nb_tag_is(t, "p") || t->n < 2) continue;
        *any_p = true;
        if (t->items[1].len == 64 && memcmp(t->items[1].p, app->cfg.agents[i].keys.pubkey_hex, 64) == 0)
            return true;
    }
    return false;
}

/* First roster agent named by a p tag, or -1. */
static int target_agent(const echo_app_t *app, const nb_event_t *ev, bool *any_p)
{
    *any_p = false;
    for (size_t i = 0; i < app->cfg.n_agents; i++)
        if (names_agent(app, ev, i, any_p)) return (int)i;
    return -1;
}

static void log_ignore(const char *id_hex, uint32_t kind, const char *reason)
{
    NB_INFO("ignore id=%.8s kind=%u reason=%s", id_hex, kind, reason);
}

/* ---- kind:1 ------------------------------------------------------------------------------- */

static void on_message(echo_app_t *app, const nb_event_t *ev, const char *id_hex)
{
    echo_msg_t m;
    memset(&m, 0, sizeof m);
    nb_buf_t text;
    nb_buf_init(&text, SIZE_MAX);

    if (!echo_config_trusted(&app->cfg, ev->pubkey)) {
        log_ignore(id_hex, ev->kind, "author-not-whitelisted");
        goto out;
    }
    if (other_project(app, ev)) {
        log_ignore(id_hex, ev->kind, "other-project");
        goto out;
    }
    if (!app->running) {
        log_ignore(id_hex, ev->kind, "project-not-running");
        goto out;
    }
    bool has_e, any_p;
    memcpy(m.id_hex, id_hex, 65);
    memcpy(m.id, ev->id, 32);
    nb_hex_encode(m.author_hex, ev->pubkey, 32);
    find_root(ev, id_hex, m.root_hex, &has_e);
    if (echo_directives_parse(&m.d, &text, ev->content.p, ev->content.len) < 0) {
        log_ignore(id_hex, ev->kind, "unparsable");
        goto out;
    }
    m.text = text.data;
    m.len = text.len;
    echo_memory_add(app, m.root_hex, m.id_hex, m.author_hex, m.text, m.len);
    const char *root_author = echo_memory_root_author(app, m.root_hex);
    memcpy(m.root_author_hex, root_author != NULL ? root_author : m.author_hex, 65);

    int agent = target_agent(app, ev, &any_p);
    if (agent < 0 && any_p) {
        log_ignore(id_hex, ev->kind, "p-names-no-agent");
        goto out;
    }
    if (agent < 0 && has_e) {
        NB_INFO("stored id=%.8s root=%.8s reason=reply-without-p (not dispatched)", id_hex, m.root_hex);
        goto out;
    }
    if (agent < 0) agent = 0; /* a new conversation with no p: the PM */

    char *asked = NULL;
    size_t asked_len = 0;
    if (echo_memory_take_ask(app, m.root_hex, agent, &asked, &asked_len)) {
        m.ask_answer = true;
        m.asked_text = asked;
        m.asked_len = asked_len;
    }
    NB_DEBUG("message id=%.8s root=%.8s agent=%s text=\"%.*s\"", id_hex, m.root_hex,
             app->cfg.agents[agent].slug, (int)(m.len < LOG_TEXT ? m.len : LOG_TEXT), m.text);
    echo_run_dispatch(app, agent, &m);
out:
    nb_free(m.asked_text);
    nb_buf_dispose(&text);
}

/* ---- 24134 stop, 24000 boot --------------------------------------------------------------- */

static void on_stop(echo_app_t *app, const nb_event_t *ev, const char *id_hex)
{
    if (!echo_config_trusted(&app->cfg, ev->pubkey)) {
        log_ignore(id_hex, ev->kind, "author-not-whitelisted");
        return;
    }
    if (other_project(app, ev)) {
        log_ignore(id_hex, ev->kind, "other-project");
        return;
    }
    char root[65];
    bool has_e, any_p = false;
    find_root(ev, id_hex, root, &has_e);
    bool any_agent = false;
    for (size_t i = 0; i < app->cfg.n_agents; i++)
        if (names_agent(app, ev, i, &any_p)) any_agent = true;
    /* dispatch_pipeline.rs handle_stop_command: at least one e and one agent p, else ignored. */
    if (!has_e || !any_agent) {
        log_ignore(id_hex, ev->kind, "stop-missing-target-tags");
        return;
    }
    for (size_t i = 0; i < app->cfg.n_agents; i++) {
        if (!names_agent(app, ev, i, &any_p)) continue;
        bool ended = echo_run_stop(app, (int)i, root);
        NB_INFO("stop %s root=%.8s: %s", app->cfg.agents[i].slug, root,
                ended ? "run ended" : "nothing was running");
    }
}

static void on_boot(echo_app_t *app, const nb_event_t *ev, const char *id_hex)
{
    if (!echo_config_trusted(&app->cfg, ev->pubkey)) {
        log_ignore(id_hex, ev->kind, "author-not-whitelisted");
        return;
    }
    if (app->running) {
        NB_INFO("boot request id=%.8s: the project is already running", id_hex);
        return;
    }
    echo_project_boot(app);
}

/* ---- the subscription --------------------------------------------------------------------- */

static void on_event(void *ud, nb_sub_t *s, const nb_event_t *ev, const char *relay_url)
{
    echo_app_t *app = ud;
    if (app->stopping || seen_before(app, ev->id)) return;
    char id_hex[65];
    nb_event_id_hex(ev, id_hex);
    switch (ev->kind) {
    case 1:
        on_message(app, ev, id_hex);
        break;
    case 24134:
        on_stop(app, ev, id_hex);
        break;
    case 24000:
        on_boot(app, ev, id_hex);
        break;
    default:
        break;
    }
}

static void on_eose(void *ud, nb_sub_t *s)
{
    echo_app_t *app = ud;
    NB_INFO("inbox: subscription live");
    app->inbox_eose = true;
    echo_app_check_ready(app);
}

static void on_closed(void *ud, nb_sub_t *s, const char *relay_url, const char *msg)
{
    NB_WARN("inbox: relay %s closed the subscription: %s", relay_url, msg);
}

int echo_inbox_start(echo_app_t *app)
{
    const echo_config_t *c = &app->cfg;
    nb_filter_t f[4];
    for (size_t i = 0; i < 4; i++)
        nb_filter_init(&f[i]);
    nb_filter_add_kind(&f[0], 1);
    nb_filter_add_tag(&f[0], 'a', c->coord, strlen(c->coord));
    f[0].since = app->start;
    nb_filter_add_kind(&f[1], 1);
    for (size_t i = 0; i < c->n_agents; i++)
        nb_filter_add_tag(&f[1], 'p', c->agents[i].keys.pubkey_hex, 64);
    f[1].since = app->start;
    nb_filter_add_kind(&f[2], 24134);
    for (size_t i = 0; i < c->n_agents; i++)
        nb_filter_add_tag(&f[2], 'p', c->agents[i].keys.pubkey_hex, 64);
    nb_filter_add_kind(&f[3], 24000);
    nb_filter_add_tag(&f[3], 'a', c->coord, strlen(c->coord));
    f[3].since = app->start;

    app->seen = nb_calloc(ECHO_SEEN_CAP, sizeof *app->seen);
    nb_sub_cb_t cb = {on_event, on_eose, on_closed};
    int err = nb_pool_subscribe(app->pool, &app->inbox, f, 4, &cb, app);
    for (size_t i = 0; i < 4; i++)
        nb_filter_dispose(&f[i]);
    if (err < 0) NB_ERROR("inbox: subscribe failed: %s", nb_strerror(err));
    return err;
}

void echo_inbox_stop(echo_app_t *app)
{
    if (app->inbox != NULL) nb_sub_release(app->inbox);
    app->inbox = NULL;
}
