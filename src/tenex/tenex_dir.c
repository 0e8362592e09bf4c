/*
 * tenex_dir.c — projects, rosters, slugs and liveness from relay events (see the header).
 *
 * Sizes are small (a handful of projects, tens of agents), so everything is arrays and linear
 * scans: simple to reason about, and cheaper than hashing at these sizes.
 */
#include "bridge/tenex_dir.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/tenex_tags.h"

#include <stdio.h>
#include <string.h>

#define MAX_NAMES 4096

typedef struct {
    nb_tenex_project_t p;
    bool deleted;
    uint8_t id[32]; /* of the 31933 version we hold */
} project_t;

typedef struct {
    uint8_t pubkey[32];
    char slug[NB_TENEX_MAX_SLUG + 1];
    uint8_t rank;
} name_t;

struct nb_tenex_dir {
    nb_tenex_dir_config_t cfg;
    uint8_t (*backends)[32]; /* owned copy of the pins */
    project_t *projects;
    size_t n_projects, cap_projects;
    name_t *names;
    size_t n_names;
    int64_t backend_seen;
    bool loaded;
    nb_pool_t *pool;
    nb_sub_t *sub_projects, *sub_status, *sub_profiles;
    uint8_t (*profile_authors)[32];
    size_t n_profile_authors;
    void (*on_change)(void *ud);
    void *change_ud;
};

void nb_tenex_dir_create(nb_tenex_dir_t **out, const nb_tenex_dir_config_t *cfg)
{
    nb_tenex_dir_t *d = nb_calloc(1, sizeof(*d));
    d->cfg = *cfg;
    if (d->cfg.max_projects == 0) d->cfg.max_projects = 1000;
    if (cfg->n_backends > 0) {
        d->backends = nb_malloc(cfg->n_backends * 32);
        memcpy(d->backends, cfg->backends, cfg->n_backends * 32);
        d->cfg.backends = (const uint8_t(*)[32])d->backends;
    }
    d->names = nb_calloc(MAX_NAMES, sizeof(*d->names));
    *out = d;
}

void nb_tenex_dir_stop(nb_tenex_dir_t *d)
{
    if (d->sub_projects) nb_sub_release(d->sub_projects);
    if (d->sub_status) nb_sub_release(d->sub_status);
    if (d->sub_profiles) nb_sub_release(d->sub_profiles);
    d->sub_projects = d->sub_status = d->sub_profiles = NULL;
    d->pool = NULL;
}

void nb_tenex_dir_destroy(nb_tenex_dir_t *d)
{
    if (d == NULL) return;
    nb_tenex_dir_stop(d);
    for (size_t i = 0; i < d->n_projects; i++) {
        nb_free(d->projects[i].p.dtag);
        nb_free(d->projects[i].p.title);
    }
    nb_free(d->projects);
    nb_free(d->names);
    nb_free(d->backends);
    nb_free(d->profile_authors);
    nb_free(d);
}

void nb_tenex_dir_on_change(nb_tenex_dir_t *d, void (*cb)(void *ud), void *ud)
{
    d->on_change = cb;
    d->change_ud = ud;
}

static void changed(nb_tenex_dir_t *d)
{
    if (d->on_change) d->on_change(d->change_ud);
}

static bool trusted_backend(const nb_tenex_dir_t *d, const uint8_t pk[32])
{
    if (d->cfg.n_backends == 0) return true;
    for (size_t i = 0; i < d->cfg.n_backends; i++)
        if (memcmp(d->cfg.backends[i], pk, 32) == 0) return true;
    return false;
}

/* ---- names ------------------------------------------------------------------------------ */

static bool valid_slug(const nb_str_t *s)
{
    if (s->len == 0 || s->len > NB_TENEX_MAX_SLUG) return false;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->p[i];
        if (c < 0x21 || c == 0x7f || c == '/') /* a slug goes into `model` and URLs */
            return false;
    }
    return true;
}

static void apply_name(nb_tenex_agent_t *a, const char *slug, uint8_t rank)
{
    if (rank >= a->slug_rank) {
        snprintf(a->slug, sizeof(a->slug), "%s", slug);
        a->slug_rank = rank;
    }
}

/* A name remembered from some project's status counts as an inventory name for other rosters:
 * only the project's own status (applied directly, rank 3) outranks it. */
static uint8_t global_rank(uint8_t rank)
{
    return rank == 3 ? 2 : rank;
}

static void remember_name(nb_tenex_dir_t *d, const uint8_t pk[32], const nb_str_t *slug, uint8_t rank)
{
    if (!valid_slug(slug)) return;
    name_t *n = NULL;
    for (size_t i = 0; i < d->n_names; i++)
        if (memcmp(d->names[i].pubkey, pk, 32) == 0) n = &d->names[i];
    if (n == NULL) {
        if (d->n_names == MAX_NAMES) return;
        n = &d->names[d->n_names++];
        memcpy(n->pubkey, pk, 32);
    }
    if (rank < n->rank) return;
    memcpy(n->slug, slug->p, slug->len);
    n->slug[slug->len] = '\0';
    n->rank = rank;
    for (size_t i = 0; i < d->n_projects; i++)
        for (size_t j = 0; j < d->projects[i].p.n_agents; j++)
            if (memcmp(d->projects[i].p.agents[j].pubkey, pk, 32) == 0)
                apply_name(&d->projects[i].p.agents[j], n->slug, global_rank(rank));
}

static void name_agent(const nb_tenex_dir_t *d, nb_tenex_agent_t *a)
{
    for (size_t i = 0; i < d->n_names; i++)
        if (memcmp(d->names[i].pubkey, a->pubkey, 32) == 0)
            apply_name(a, d->names[i].slug, global_rank(d->names[i].rank));
}

/* ---- profiles subscription --------------------------------------------------------------- */

static void on_sub_event(void *ud, nb_sub_t *s, const nb_event_t *ev, const char *url)
{
    nb_tenex_dir_on_event(ud, ev);
}

static void on_projects_eose(void *ud, nb_sub_t *s)
{
    nb_tenex_dir_t *d = ud;
    d->loaded = true;
    changed(d);
}

static void on_sub_closed(void *ud, nb_sub_t *s, const char *url, const char *msg)
{
    NB_WARN("tenex: relay %s closed a directory subscription: %s", url, msg);
}

static void resubscribe_profiles(nb_tenex_dir_t *d)
{
    if (d->pool == NULL) return;
    /* the set of roster pubkeys */
    size_t n = 0;
    uint8_t(*set)[32] = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < d->n_projects; i++) {
        if (d->projects[i].deleted) continue;
        for (size_t j = 0; j < d->projects[i].p.n_agents; j++) {
            const uint8_t *pk = d->projects[i].p.agents[j].pubkey;
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = memcmp(set[k], pk, 32) == 0;
            if (dup || n == 1000) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                set = nb_realloc(set, cap * 32);
            }
            memcpy(set[n++], pk, 32);
        }
    }
    bool same = n == d->n_profile_authors && (n == 0 || memcmp(set, d->profile_authors, n * 32) == 0);
    if (same) {
        nb_free(set);
        return;
    }
    if (d->sub_profiles) {
        nb_sub_release(d->sub_profiles);
        d->sub_profiles = NULL;
    }
    nb_free(d->profile_authors);
    d->profile_authors = set;
    d->n_profile_authors = n;
    if (n == 0) return;
    nb_filter_t f;
    nb_filter_init(&f);
    nb_filter_add_kind(&f, NB_KIND_PROFILE);
    for (size_t i = 0; i < n; i++)
        nb_filter_add_author(&f, set[i]);
    static const nb_sub_cb_t cb = {on_sub_event, NULL, on_sub_closed};
    int r = nb_pool_subscribe(d->pool, &d->sub_profiles, &f, 1, &cb, d);
    if (r != 0) NB_WARN("tenex: cannot subscribe to agent profiles: %s", nb_strerror(r));
    nb_filter_dispose(&f);
}

int nb_tenex_dir_start(nb_tenex_dir_t *d, nb_pool_t *pool, int64_t now)
{
    d->pool = pool;
    nb_filter_t f[1];
    nb_filter_init(&f[0]);
    nb_filter_add_kind(&f[0], NB_KIND_PROJECT);
    nb_filter_add_author(&f[0], d->cfg.owner);
    static const nb_sub_cb_t pcb = {on_sub_event, on_projects_eose, on_sub_closed};
    int r = nb_pool_subscribe(pool, &d->sub_projects, f, 1, &pcb, d);
    nb_filter_dispose(&f[0]);
    if (r != 0) return r;
    char owner_hex[65];
    nb_hex_encode(owner_hex, d->cfg.owner, 32);
    nb_filter_init(&f[0]);
    nb_filter_add_kind(&f[0], NB_KIND_STATUS);
    nb_filter_add_kind(&f[0], NB_KIND_INVENTORY);
    nb_filter_add_kind(&f[0], NB_KIND_HEARTBEAT);
    nb_filter_add_tag(&f[0], 'p', owner_hex, 64);
    f[0].since = now - NB_TENEX_ONLINE_SECS;
    static const nb_sub_cb_t scb = {on_sub_event, NULL, on_sub_closed};
    r = nb_pool_subscribe(pool, &d->sub_status, f, 1, &scb, d);
    nb_filter_dispose(&f[0]);
    return r;
}

/* ---- events ----------------------------------------------------------------------------- */

static project_t *find(const nb_tenex_dir_t *d, const char *dtag, size_t len)
{
    for (size_t i = 0; i < d->n_projects; i++)
        if (strlen(d->projects[i].p.dtag) == len && memcmp(d->projects[i].p.dtag, dtag, len) == 0)
            return &d->projects[i];
    return NULL;
}

static project_t *find_coord(const nb_tenex_dir_t *d, const nb_str_t *coord)
{
    for (size_t i = 0; i < d->n_projects; i++)
        if (strlen(d->projects[i].p.coord) == coord->len &&
            memcmp(d->projects[i].p.coord, coord->p, coord->len) == 0)
            return &d->projects[i];
    return NULL;
}

static void on_project(nb_tenex_dir_t *d, const nb_event_t *ev)
{
    if (memcmp(ev->pubkey, d->cfg.owner, 32) != 0) return;
    const nb_str_t *dtag = nb_event_tag_value(ev, "d");
    if (dtag == NULL || dtag->len == 0 || dtag->len > 256 || memchr(dtag->p, '\0', dtag->len) != NULL) return;
    project_t *pr = find(d, dtag->p, dtag->len);
    if (pr != NULL) {
        /* NIP-01: the newest version wins; on a tie, the lowest id. */
        if (ev->created_at < pr->p.created_at ||
            (ev->created_at == pr->p.created_at && memcmp(ev->id, pr->id, 32) >= 0))
            return;
    } else {
        if (d->n_projects == d->cfg.max_projects) return;
        if (d->n_projects == d->cap_projects) {
            d->cap_projects = d->cap_projects ? d->cap_projects * 2 : 8;
            d->projects = nb_realloc(d->projects, d->cap_projects * sizeof(*d->projects));
        }
        pr = &d->projects[d->n_projects++];
        memset(pr, 0, sizeof(*pr));
        pr->p.dtag = nb_strndup(dtag->p, dtag->len);
        char owner_hex[65];
        nb_hex_encode(owner_hex, d->cfg.owner, 32);
        snprintf(pr->p.coord, sizeof(pr->p.coord), "31933:%s:%s", owner_hex, pr->p.dtag);
    }
    memcpy(pr->id, ev->id, 32);
    pr->p.created_at = ev->created_at;
    pr->deleted = nb_tenex_has_tag(ev, "deleted", NULL);
    nb_free(pr->p.title);
    const nb_str_t *title = nb_event_tag_value(ev, "title");
    if (title == NULL) title = nb_event_tag_value(ev, "name");
    pr->p.title = title ? nb_strndup(title->p, title->len) : nb_strdup(pr->p.dtag);
    /* The roster: lowercase p tags in order, the first is the PM. */
    pr->p.n_agents = 0;
    for (uint32_t i = 0; i < ev->ntags && pr->p.n_agents < NB_TENEX_MAX_AGENTS; i++) {
        uint8_t pk[32];
        if (!nb_tag_is(&ev->tags[i], "p") || !nb_tenex_tag_hex32(&ev->tags[i], 1, pk)) continue;
        bool dup = false;
        for (size_t j = 0; j < pr->p.n_agents && !dup; j++)
            dup = memcmp(pr->p.agents[j].pubkey, pk, 32) == 0;
        if (dup) continue;
        nb_tenex_agent_t *a = &pr->p.agents[pr->p.n_agents++];
        memset(a, 0, sizeof(*a));
        memcpy(a->pubkey, pk, 32);
        name_agent(d, a);
    }
    pr->p.legacy = pr->p.n_agents == 0 && nb_tenex_has_tag(ev, "agent", NULL);
    NB_DEBUG("tenex: project %s (%zu agents%s%s)", pr->p.dtag, pr->p.n_agents, pr->p.legacy ? ", legacy" : "",
             pr->deleted ? ", deleted" : "");
    resubscribe_profiles(d);
    changed(d);
}

/* A legacy project's roster comes from its status: ["agent",pk,slug,"pm"?]. */
static void legacy_roster(nb_tenex_dir_t *d, project_t *pr, const nb_event_t *ev)
{
    nb_tenex_agent_t agents[NB_TENEX_MAX_AGENTS];
    size_t n = 0, pm = 0;
    for (uint32_t i = 0; i < ev->ntags && n < NB_TENEX_MAX_AGENTS; i++) {
        const nb_tag_t *t = &ev->tags[i];
        if (!nb_tag_is(t, "agent") || !nb_tenex_tag_hex32(t, 1, agents[n].pubkey)) continue;
        agents[n].slug[0] = '\0';
        agents[n].slug_rank = 0;
        if (t->n >= 3 && valid_slug(&t->items[2]))
            apply_name(&agents[n], t->items[2].p, 3);
        else
            name_agent(d, &agents[n]);
        if (t->n >= 4 && strcmp(t->items[3].p, "pm") == 0) pm = n;
        n++;
    }
    if (n == 0) return;
    /* the PM first */
    pr->p.agents[0] = agents[pm];
    size_t k = 1;
    for (size_t i = 0; i < n; i++)
        if (i != pm) pr->p.agents[k++] = agents[i];
    pr->p.n_agents = n;
    resubscribe_profiles(d);
}

static void on_status(nb_tenex_dir_t *d, const nb_event_t *ev)
{
    if (!trusted_backend(d, ev->pubkey)) return;
    if (ev->created_at > d->backend_seen) d->backend_seen = ev->created_at;
    if (ev->kind == NB_KIND_HEARTBEAT) {
        changed(d);
        return;
    }
    project_t *status_of = NULL;
    if (ev->kind == NB_KIND_STATUS) {
        for (uint32_t i = 0; i < ev->ntags && status_of == NULL; i++)
            if (nb_tag_is(&ev->tags[i], "a") && ev->tags[i].n >= 2)
                status_of = find_coord(d, &ev->tags[i].items[1]);
        if (status_of == NULL) return; /* a status for a project we do not know (yet) */
    }
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const nb_tag_t *t = &ev->tags[i];
        uint8_t pk[32];
        if (nb_tag_is(t, "agent") && t->n >= 3 && nb_tenex_tag_hex32(t, 1, pk))
            remember_name(d, pk, &t->items[2], ev->kind == NB_KIND_STATUS ? 3 : 2);
    }
    if (status_of != NULL && ev->created_at >= status_of->p.status_at) {
        status_of->p.status_at = ev->created_at;
        memcpy(status_of->p.backend, ev->pubkey, 32);
        status_of->p.has_backend = true;
        if (status_of->p.legacy || status_of->p.n_agents == 0) legacy_roster(d, status_of, ev);
        /* A status names this project's agents authoritatively (rank 3 beats inventory). */
        for (uint32_t i = 0; i < ev->ntags; i++) {
            const nb_tag_t *t = &ev->tags[i];
            uint8_t pk[32];
            if (!nb_tag_is(t, "agent") || t->n < 3 || !nb_tenex_tag_hex32(t, 1, pk) ||
                !valid_slug(&t->items[2]))
                continue;
            for (size_t j = 0; j < status_of->p.n_agents; j++)
                if (memcmp(status_of->p.agents[j].pubkey, pk, 32) == 0)
                    apply_name(&status_of->p.agents[j], t->items[2].p, 3);
        }
    }
    changed(d);
}

static void on_profile(nb_tenex_dir_t *d, const nb_event_t *ev)
{
    /* kind 0 content is JSON with a "name"; take it only as a fallback slug. */
    nb_json_tok_t toks[256];
    size_t n;
    if (ev->content.len == 0 || nb_json_parse(toks, 256, &n, ev->content.p, ev->content.len) != 0 ||
        toks[0].type != NB_JSON_OBJECT)
        return;
    uint32_t v = nb_json_obj_get(ev->content.p, toks, 0, "name");
    char name[NB_TENEX_MAX_SLUG + 1];
    size_t len;
    if (v == 0 || toks[v].type != NB_JSON_STRING ||
        nb_json_string_to(name, sizeof(name), &len, ev->content.p, &toks[v]) != 0)
        return;
    nb_str_t s = {name, len};
    remember_name(d, ev->pubkey, &s, 1);
}

void nb_tenex_dir_on_event(nb_tenex_dir_t *d, const nb_event_t *ev)
{
    switch (ev->kind) {
    case NB_KIND_PROJECT:
        on_project(d, ev);
        break;
    case NB_KIND_STATUS:
    case NB_KIND_INVENTORY:
    case NB_KIND_HEARTBEAT:
        on_status(d, ev);
        break;
    case NB_KIND_PROFILE:
        on_profile(d, ev);
        break;
    default:
        break;
    }
}

/* ---- queries ---------------------------------------------------------------------------- */

bool nb_tenex_dir_projects_loaded(const nb_tenex_dir_t *d)
{
    return d->loaded;
}

const nb_tenex_project_t *nb_tenex_dir_project(const nb_tenex_dir_t *d, const char *dtag)
{
    project_t *pr = find(d, dtag, strlen(dtag));
    return pr != NULL && !pr->deleted ? &pr->p : NULL;
}

size_t nb_tenex_dir_project_count(const nb_tenex_dir_t *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_projects; i++)
        n += !d->projects[i].deleted;
    return n;
}

const nb_tenex_project_t *nb_tenex_dir_project_at(const nb_tenex_dir_t *d, size_t i)
{
    for (size_t k = 0; k < d->n_projects; k++) {
        if (d->projects[k].deleted) continue;
        if (i-- == 0) return &d->projects[k].p;
    }
    return NULL;
}

const nb_tenex_agent_t *nb_tenex_project_agent(const nb_tenex_project_t *p, const char *slug)
{
    for (size_t i = 0; i < p->n_agents; i++)
        if (p->agents[i].slug[0] != '\0' && strcmp(p->agents[i].slug, slug) == 0) return &p->agents[i];
    return NULL;
}

const char *nb_tenex_agent_name(const nb_tenex_agent_t *a, char buf[NB_TENEX_MAX_SLUG + 1])
{
    if (a->slug[0] != '\0') return a->slug;
    char hex[65];
    nb_hex_encode(hex, a->pubkey, 32);
    snprintf(buf, NB_TENEX_MAX_SLUG + 1, "agent-%.8s", hex);
    return buf;
}

bool nb_tenex_project_online(const nb_tenex_project_t *p, int64_t now)
{
    return p->status_at > 0 && now - p->status_at < NB_TENEX_ONLINE_SECS;
}

int64_t nb_tenex_dir_backend_seen(const nb_tenex_dir_t *d)
{
    return d->backend_seen;
}
