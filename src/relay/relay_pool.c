/*
 * relay_pool.c — relays, subscriptions, the receive path, publishing, NIP-42, shutdown.
 *
 * Re-entrancy: user callbacks may release subscriptions, cancel publishes, subscribe, publish
 * or close the pool. Released subscriptions and finished publishes are therefore only marked
 * (dead / done) and stay linked until the outermost pool entry point returns (depth 0), where
 * reap() frees them; every loop over the lists skips marked entries.
 */
#include "bridge/relay_pool.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/relay_msg.h"

#include "dedup.h"
#include "relay_conn.h"

#include <assert.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PROTOCOL_NAME "nb-relay"
#define CLOSE_GRACE_MS 2000 /* flush CLOSEs / close frames before destroying the context */
#define CLOSE_POLL_MS 20
#define SECOND_DESTROY_MS 100 /* lws with a foreign loop needs a second lws_context_destroy */
#define AUTH_PREFIX "auth-required:"
/* A relay that drops the connection every time it gets an event (e.g. a frame above its size
 * limit) gets it this many times, then counts as having refused it. */
#define MAX_SENDS_PER_RELAY 3

/* Per (subscription, relay) state. SENT_AUTHED marks a REQ sent after the relay accepted our
 * AUTH: an "auth-required:" CLOSED for it is final (no retry loop). */
enum { RS_IDLE = 0, RS_SENT, RS_LIVE, RS_CLOSED, RS_AUTH_WAIT };
#define RS_AUTHED 0x80
#define RS_STATE(x) ((x)&0x7f)

/* Per (publish, relay) state. */
enum { PS_UNSENT = 0, PS_SENT, PS_OK, PS_FAILED, PS_AUTH_WAIT };

typedef struct {
    nb_relay_conn_t conn;
    nb_pool_t *pool;
    bool authed;
    bool auth_pending;
    uint8_t auth_id[32];
    uint32_t subs;
} relay_t;

struct nb_sub {
    nb_pool_t *pool;
    uint64_t serial;
    char id[16];
    nb_filter_t *filters;
    size_t n_filters;
    nb_sub_cb_t cb;
    void *ud;
    uint8_t *rs;        /* per relay */
    uint8_t *eose_wait; /* per relay: still owes us EOSE */
    uint32_t eose_pending;
    bool eose_armed; /* the set of relays we wait for is decided */
    bool eose_done;
    bool dead;
    nb_sub_t *next, *prev; /* pool list */
    nb_sub_t *hnext;       /* hash chain */
};

struct nb_pub {
    nb_pool_t *pool;
    uint8_t id[32];
    char *frame;
    size_t frame_len;
    nb_pub_cb cb;
    void *ud;
    uint8_t *rs;          /* per relay */
    uint8_t *authed_send; /* per relay: last send happened after AUTH */
    uint8_t *sends;       /* per relay: how often the EVENT was sent */
    char **msg;           /* per relay: the relay's OK false text, or NULL */
    bool ever_sent;
    bool done;
    uv_timer_t timer;
    nb_pub_t *next, *prev;
};

struct nb_pool {
    uv_loop_t *loop;
    nb_pool_config_t cfg;
    struct lws_context *ctx; /* lws NULLs it (pcontext) when destruction completes */
    struct lws_context *ctx_to_destroy;
    struct lws_protocols protocols[2];
    relay_t *relays;
    size_t n_relays;

    nb_sub_t *subs; /* list, newest first */
    nb_sub_t **buckets;
    size_t n_buckets;
    uint32_t n_subs; /* live ones */
    uint64_t next_serial;
    nb_pub_t *pubs;

    nb_dedup_t dedup;
    nb_relay_msg_t *msg; /* one parse target, reused */
    nb_buf_t scratch;
    nb_pool_stats_t stats;
    uint64_t frame_hrtime;

    int depth;
    bool need_reap;
    bool closing;
    int close_phase;
    uint64_t close_started, destroy_at;
    bool destroyed_twice;
    int handles_open;
    int pub_closes;
    uv_timer_t close_timer;
    void (*on_closed)(void *data);
    void *on_closed_data;
};

static const char *const state_names[] = {"?",       "resolving", "connecting", "open",
                                          "backoff", "closing",   "closed"};

const char *nb_relay_state_name(nb_relay_state_t s)
{
    return (unsigned)s < sizeof state_names / sizeof *state_names ? state_names[s] : "?";
}

void nb_pool_config_defaults(nb_pool_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->max_frame = 1u << 20;
    c->max_queue_bytes = 4u << 20;
    c->max_subs = 20000;
    c->ping_interval_s = 20;
    c->pong_timeout_s = 10;
    c->backoff_min_ms = 500;
    c->backoff_max_ms = 30000;
    c->publish_timeout_ms = 5000;
    c->connect_timeout_s = 10;
    c->dedup_capacity = 65536;
    c->fd_limit = 4096;
}

/* ---- re-entrancy guard -------------------------------------------------------------------- */

static void reap(nb_pool_t *p);

static void enter(nb_pool_t *p)
{
    p->depth++;
}

static void leave(nb_pool_t *p)
{
    if (--p->depth == 0 && p->need_reap) reap(p);
}

/* ---- subscription registry ---------------------------------------------------------------- */

static size_t bucket_of(const nb_pool_t *p, uint64_t serial)
{
    return (size_t)(serial * 0x9E3779B97F4A7C15ull >> 20) & (p->n_buckets - 1);
}

static void hash_insert(nb_pool_t *p, nb_sub_t *s)
{
    if (p->n_subs + 1 > p->n_buckets) { /* grow to keep chains short */
        size_t old_n = p->n_buckets;
        nb_sub_t **old = p->buckets;
        p->n_buckets = old_n * 2;
        p->buckets = nb_calloc(p->n_buckets, sizeof *p->buckets);
        for (size_t i = 0; i < old_n; i++) {
            for (nb_sub_t *x = old[i], *nx; x != NULL; x = nx) {
                nx = x->hnext;
                size_t b = bucket_of(p, x->serial);
                x->hnext = p->buckets[b];
                p->buckets[b] = x;
            }
        }
        nb_free(old);
    }
    size_t b = bucket_of(p, s->serial);
    s->hnext = p->buckets[b];
    p->buckets[b] = s;
}

static void hash_remove(nb_pool_t *p, nb_sub_t *s)
{
    for (nb_sub_t **pp = &p->buckets[bucket_of(p, s->serial)]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            return;
        }
    }
}

/* Sub ids are "n" + base-36 serial: short, unique for the pool's lifetime, and they map back
 * to the serial without a string table. */
static void make_sub_id(char out[16], uint64_t serial)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[serial % 36];
        serial /= 36;
    } while (serial > 0);
    out[0] = 'n';
    for (size_t i = 0; i < n; i++)
        out[1 + i] = tmp[n - 1 - i];
    out[1 + n] = '\0';
}

static nb_sub_t *sub_lookup(const nb_pool_t *p, const char *id)
{
    if (id[0] != 'n' || id[1] == '\0' || strlen(id) > 13) return NULL;
    uint64_t serial = 0;
    for (const char *q = id + 1; *q; q++) {
        int d;
        if (*q >= '0' && *q <= '9')
            d = *q - '0';
        else if (*q >= 'a' && *q <= 'z')
            d = *q - 'a' + 10;
        else
            return NULL;
        serial = serial * 36 + (uint64_t)d;
    }
    for (nb_sub_t *s = p->buckets[bucket_of(p, serial)]; s != NULL; s = s->hnext)
        if (s->serial == serial && !s->dead) return s;
    return NULL;
}

static size_t relay_index(const nb_pool_t *p, const relay_t *r)
{
    return (size_t)(r - p->relays);
}

/* s's REQ into p->scratch. The frame is rebuilt from the filters whenever it is sent (a
 * subscribe, a reconnect, an AUTH retry) rather than kept: a held stream's subscription then
 * costs no copy of it. nb_pool_subscribe built it once already, so it cannot fail here. */
static int build_req(nb_pool_t *p, const nb_sub_t *s)
{
    nb_buf_reset(&p->scratch);
    return nb_msg_build_req(&p->scratch, s->id, s->filters, s->n_filters);
}

/* Send s's REQ, already built in p->scratch, to r. */
static void send_built_req(relay_t *r, nb_sub_t *s)
{
    size_t i = relay_index(r->pool, r);
    if (RS_STATE(s->rs[i]) == RS_IDLE || RS_STATE(s->rs[i]) == RS_CLOSED) r->subs++;
    s->rs[i] = RS_SENT | (r->authed ? RS_AUTHED : 0);
    nb_relay_conn_send(&r->conn, r->pool->scratch.data, r->pool->scratch.len, false);
}

static void send_req(relay_t *r, nb_sub_t *s)
{
    if (build_req(r->pool, s) < 0) return;
    send_built_req(r, s);
}

static void sub_free(nb_sub_t *s)
{
    for (size_t i = 0; i < s->n_filters; i++)
        nb_filter_dispose(&s->filters[i]);
    nb_free(s->filters);
    nb_free(s->rs);
    nb_free(s->eose_wait);
    nb_free(s);
}

/* Relay i no longer owes s an EOSE (it sent one, closed the sub, or went away). */
static void eose_progress(nb_sub_t *s, size_t i)
{
    if (!s->eose_wait[i]) return;
    s->eose_wait[i] = 0;
    s->eose_pending--;
    if (s->eose_pending == 0 && !s->eose_done) {
        s->eose_done = true;
        if (s->cb.on_eose != NULL && !s->dead && !s->pool->closing) s->cb.on_eose(s->ud, s);
    }
}

int nb_pool_subscribe(nb_pool_t *p, nb_sub_t **out, const nb_filter_t *filters, size_t n,
                      const nb_sub_cb_t *cb, void *ud)
{
    if (n == 0 || n > NB_REQ_MAX_FILTERS || cb == NULL || cb->on_event == NULL || p->closing)
        return NB_EINVAL;
    if (p->n_subs >= p->cfg.max_subs) return NB_ELIMIT;
    nb_sub_t *s = nb_calloc(1, sizeof *s);
    s->pool = p;
    s->serial = p->next_serial++;
    make_sub_id(s->id, s->serial);
    s->filters = nb_calloc(n, sizeof *s->filters);
    for (size_t i = 0; i < n; i++)
        nb_filter_copy(&s->filters[i], &filters[i]);
    s->n_filters = n;
    int err = build_req(p, s); /* also the check that it fits in a frame */
    if (err < 0) {
        sub_free(s);
        return err;
    }
    s->cb = *cb;
    s->ud = ud;
    s->rs = nb_calloc(p->n_relays ? p->n_relays : 1, 1);
    s->eose_wait = nb_calloc(p->n_relays ? p->n_relays : 1, 1);

    s->next = p->subs;
    if (p->subs != NULL) p->subs->prev = s;
    p->subs = s;
    hash_insert(p, s);
    p->n_subs++;

    for (size_t i = 0; i < p->n_relays; i++) {
        relay_t *r = &p->relays[i];
        if (r->conn.state != NB_RELAY_OPEN) continue;
        s->eose_wait[i] = 1;
        s->eose_pending++;
        send_built_req(r, s); /* p->scratch still holds the REQ built above: sending copies it */
    }
    s->eose_armed = s->eose_pending > 0;
    *out = s;
    return 0;
}

/* The relays where s is in one of the states of mask (bit 1 << RS_*). */
static size_t relays_in(const nb_sub_t *s, unsigned mask)
{
    size_t n = 0;
    for (size_t i = 0; i < s->pool->n_relays; i++)
        n += (mask >> RS_STATE(s->rs[i])) & 1u;
    return n;
}

size_t nb_sub_unrefused_relays(const nb_sub_t *s)
{
    return relays_in(s, ~(1u << RS_CLOSED));
}

size_t nb_sub_holding_relays(const nb_sub_t *s)
{
    return relays_in(s, 1u << RS_SENT | 1u << RS_LIVE | 1u << RS_AUTH_WAIT);
}

const char *nb_sub_id(const nb_sub_t *s)
{
    return s->id;
}

void nb_sub_release(nb_sub_t *s)
{
    if (s == NULL || s->dead) return;
    nb_pool_t *p = s->pool;
    s->dead = true;
    hash_remove(p, s);
    p->n_subs--;
    nb_buf_reset(&p->scratch);
    bool have_close = nb_msg_build_close(&p->scratch, s->id) == 0;
    for (size_t i = 0; i < p->n_relays; i++) {
        int st = RS_STATE(s->rs[i]);
        if (st == RS_SENT || st == RS_LIVE) {
            if (have_close) nb_relay_conn_send(&p->relays[i].conn, p->scratch.data, p->scratch.len, false);
        }
        if (st != RS_IDLE && st != RS_CLOSED && p->relays[i].subs > 0) p->relays[i].subs--;
    }
    p->need_reap = true;
    if (p->depth == 0) reap(p);
}

/* ---- publishing --------------------------------------------------------------------------- */

static void pub_send(relay_t *r, nb_pub_t *pub)
{
    size_t i = relay_index(r->pool, r);
    pub->rs[i] = PS_SENT;
    pub->authed_send[i] = r->authed;
    pub->sends[i]++;
    pub->ever_sent = true;
    nb_relay_conn_send(&r->conn, pub->frame, pub->frame_len, false);
}

static void pub_finish(nb_pub_t *pub, int result)
{
    nb_pool_t *p = pub->pool;
    pub->done = true;
    uv_timer_stop(&pub->timer);
    p->need_reap = true;
    if (result == 0)
        p->stats.publish_ok++;
    else
        p->stats.publish_failed++;
    if (pub->cb == NULL || p->closing) return;
    nb_buf_t d;
    nb_buf_init(&d, 64 * 1024);
    if (result != 0) {
        for (size_t i = 0; i < p->n_relays; i++) {
            const char *m = pub->msg[i];
            if (m == NULL) m = pub->rs[i] == PS_UNSENT ? "not connected" : "no answer";
            nb_buf_appendf(&d, "%s%s: %s", d.len ? "; " : "", p->relays[i].conn.url, m);
        }
        if (p->n_relays == 0) nb_buf_appends(&d, "no relays configured");
    }
    pub->cb(pub->ud, result, d.data != NULL ? d.data : "");
    nb_buf_dispose(&d);
}

static void on_pub_timeout(uv_timer_t *t)
{
    nb_pub_t *pub = t->data;
    nb_pool_t *p = pub->pool;
    enter(p);
    if (!pub->done) pub_finish(pub, pub->ever_sent ? NB_ETIMEDOUT : NB_ENORELAY);
    leave(p);
}

int nb_pool_publish(nb_pool_t *p, nb_pub_t **out, const nb_event_t *ev, nb_pub_cb cb, void *ud)
{
    if (p->closing) return NB_EINVAL;
    nb_buf_t b;
    nb_buf_init(&b, p->cfg.max_frame);
    int err = nb_msg_build_event(&b, ev);
    if (err < 0) {
        nb_buf_dispose(&b);
        return err;
    }
    nb_pub_t *pub = nb_calloc(1, sizeof *pub);
    pub->pool = p;
    memcpy(pub->id, ev->id, 32);
    pub->frame = nb_buf_steal(&b, &pub->frame_len);
    pub->cb = cb;
    pub->ud = ud;
    size_t n = p->n_relays ? p->n_relays : 1;
    pub->rs = nb_calloc(n, 1);
    pub->authed_send = nb_calloc(n, 1);
    pub->sends = nb_calloc(n, 1);
    pub->msg = nb_calloc(n, sizeof *pub->msg);
    uv_timer_init(p->loop, &pub->timer);
    pub->timer.data = pub;
    uv_timer_start(&pub->timer, on_pub_timeout, p->n_relays ? p->cfg.publish_timeout_ms : 0, 0);
    pub->next = p->pubs;
    if (p->pubs != NULL) p->pubs->prev = pub;
    p->pubs = pub;
    p->stats.published++;
    for (size_t i = 0; i < p->n_relays; i++)
        if (p->relays[i].conn.state == NB_RELAY_OPEN) pub_send(&p->relays[i], pub);
    if (out != NULL) *out = pub;
    return 0;
}

void nb_pub_cancel(nb_pub_t *pub)
{
    if (pub == NULL || pub->done) return;
    nb_pool_t *p = pub->pool;
    pub->done = true;
    uv_timer_stop(&pub->timer);
    p->need_reap = true;
    if (p->depth == 0) reap(p);
}

static void on_pub_closed(uv_handle_t *h)
{
    nb_pub_t *pub = h->data;
    nb_pool_t *p = pub->pool;
    for (size_t i = 0; i < (p->n_relays ? p->n_relays : 1); i++)
        nb_free(pub->msg[i]);
    nb_free(pub->msg);
    nb_free(pub->rs);
    nb_free(pub->authed_send);
    nb_free(pub->sends);
    nb_free(pub->frame);
    nb_free(pub);
    p->pub_closes--;
}

static nb_pub_t *pub_lookup(const nb_pool_t *p, const uint8_t id[32])
{
    /* Linear: outstanding publishes are few (one per chat turn, for <= publish_timeout). */
    for (nb_pub_t *pub = p->pubs; pub != NULL; pub = pub->next)
        if (!pub->done && memcmp(pub->id, id, 32) == 0) return pub;
    return NULL;
}

static void pub_check_rejected(nb_pub_t *pub)
{
    nb_pool_t *p = pub->pool;
    for (size_t i = 0; i < p->n_relays; i++)
        if (pub->rs[i] != PS_FAILED) return;
    pub_finish(pub, NB_EREJECTED);
}

static void pub_fail_relay(nb_pub_t *pub, size_t i, const char *text)
{
    pub->rs[i] = PS_FAILED;
    nb_free(pub->msg[i]);
    pub->msg[i] = nb_strdup(text[0] ? text : "rejected");
    pub_check_rejected(pub);
}

static void on_ok(relay_t *r, const nb_relay_msg_t *m)
{
    nb_pool_t *p = r->pool;
    size_t i = relay_index(p, r);
    if (r->auth_pending && memcmp(m->event_id, r->auth_id, 32) == 0) {
        r->auth_pending = false;
        if (m->ok) {
            r->authed = true;
            NB_INFO("relay: authenticated url=%s", r->conn.url);
            for (nb_sub_t *s = p->subs; s != NULL; s = s->next)
                if (!s->dead && RS_STATE(s->rs[i]) == RS_AUTH_WAIT) send_req(r, s);
            for (nb_pub_t *pub = p->pubs; pub != NULL; pub = pub->next)
                if (!pub->done && pub->rs[i] == PS_AUTH_WAIT) pub_send(r, pub);
        } else {
            NB_WARN("relay: AUTH refused url=%s msg=\"%s\"", r->conn.url, m->text);
            for (nb_sub_t *s = p->subs; s != NULL; s = s->next) {
                if (s->dead || RS_STATE(s->rs[i]) != RS_AUTH_WAIT) continue;
                s->rs[i] = RS_CLOSED;
                if (r->subs > 0) r->subs--; /* as on_sub_closed: it was counted when sent */
                eose_progress(s, i);
                if (!s->dead && !p->closing && s->cb.on_closed != NULL)
                    s->cb.on_closed(s->ud, s, r->conn.url, m->text);
            }
            for (nb_pub_t *pub = p->pubs; pub != NULL; pub = pub->next)
                if (!pub->done && pub->rs[i] == PS_AUTH_WAIT) pub_fail_relay(pub, i, m->text);
        }
        return;
    }
    nb_pub_t *pub = pub_lookup(p, m->event_id);
    if (pub == NULL || pub->rs[i] == PS_OK || pub->rs[i] == PS_FAILED) return;
    if (m->ok) {
        pub->rs[i] = PS_OK;
        pub_finish(pub, 0);
    } else if (strncmp(m->text, AUTH_PREFIX, strlen(AUTH_PREFIX)) == 0 && p->cfg.keys != NULL &&
               !pub->authed_send[i]) {
        pub->rs[i] = PS_AUTH_WAIT;
        if (r->authed) pub_send(r, pub);
    } else {
        pub_fail_relay(pub, i, m->text);
    }
}

/* ---- NIP-42 ------------------------------------------------------------------------------- */

static void on_auth_challenge(relay_t *r, const char *challenge)
{
    nb_pool_t *p = r->pool;
    if (p->cfg.keys == NULL) {
        NB_INFO("relay: AUTH challenge ignored (no key) url=%s", r->conn.url);
        return;
    }
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 22242;
    ev.created_at = (int64_t)time(NULL);
    NB_EVENT_TAG(&ev, "relay", r->conn.url);
    NB_EVENT_TAG(&ev, "challenge", challenge);
    int err = nb_event_sign(&ev, p->cfg.keys);
    nb_buf_reset(&p->scratch);
    if (err == 0) err = nb_msg_build_auth(&p->scratch, &ev);
    if (err < 0) {
        NB_WARN("relay: cannot build AUTH url=%s err=%s", r->conn.url, nb_strerror(err));
    } else {
        memcpy(r->auth_id, ev.id, 32);
        r->auth_pending = true;
        p->stats.auths++;
        /* First in the queue: REQs queued behind it then meet an authenticated connection. */
        nb_relay_conn_send(&r->conn, p->scratch.data, p->scratch.len, true);
    }
    nb_event_dispose(&ev);
}

/* ---- the receive path --------------------------------------------------------------------- */

static bool sub_wants(const nb_sub_t *s, const nb_event_t *ev)
{
    for (size_t i = 0; i < s->n_filters; i++)
        if (nb_filter_matches(&s->filters[i], ev)) return true;
    return false;
}

static void on_sub_event(relay_t *r, nb_relay_msg_t *m)
{
    nb_pool_t *p = r->pool;
    p->stats.events++;
    nb_sub_t *s = sub_lookup(p, m->sub_id);
    /* Cheap checks first: a frame nobody wants never costs a signature verification. */
    if (s == NULL || !m->has_event || !sub_wants(s, &m->event)) {
        p->stats.unwanted++;
        return;
    }
    if (nb_dedup_contains(&p->dedup, m->event.id, s->serial)) {
        p->stats.duplicate++;
        return;
    }
    int err = nb_event_verify(&m->event);
    if (err < 0) {
        char hex[65];
        nb_event_id_hex(&m->event, hex);
        p->stats.invalid++;
        NB_INFO("relay: dropped invalid event url=%s id=%s err=%s", r->conn.url, hex, nb_err_name(err));
        return;
    }
    nb_dedup_insert(&p->dedup, m->event.id, s->serial);
    p->stats.delivered++;
    if (!p->closing) s->cb.on_event(s->ud, s, &m->event, r->conn.url);
}

static void on_sub_closed(relay_t *r, const nb_relay_msg_t *m)
{
    nb_pool_t *p = r->pool;
    size_t i = relay_index(p, r);
    nb_sub_t *s = sub_lookup(p, m->sub_id);
    if (s == NULL || RS_STATE(s->rs[i]) == RS_IDLE || RS_STATE(s->rs[i]) == RS_CLOSED) return;
    bool auth = strncmp(m->text, AUTH_PREFIX, strlen(AUTH_PREFIX)) == 0;
    if (auth && p->cfg.keys != NULL && !(s->rs[i] & RS_AUTHED)) {
        /* "auth-required:" for a REQ sent before AUTH completed: re-send once it has. */
        if (r->authed)
            send_req(r, s);
        else
            s->rs[i] = RS_AUTH_WAIT;
        return;
    }
    s->rs[i] = RS_CLOSED;
    if (r->subs > 0) r->subs--;
    NB_INFO("relay: subscription closed url=%s sub=%s msg=\"%s\"", r->conn.url, s->id, m->text);
    eose_progress(s, i);
    if (!s->dead && !p->closing && s->cb.on_closed != NULL) s->cb.on_closed(s->ud, s, r->conn.url, m->text);
}

static void on_frame(void *ud, nb_relay_conn_t *c, const char *data, size_t len)
{
    relay_t *r = ud;
    nb_pool_t *p = r->pool;
    if (p->closing) return;
    enter(p);
    p->frame_hrtime = uv_hrtime();
    p->stats.frames++;
    nb_relay_msg_t *m = p->msg;
    int err = nb_relay_msg_parse(m, data, len, NULL);
    if (err < 0) {
        p->stats.malformed++;
        NB_DEBUG("relay: malformed message url=%s err=%s len=%zu", c->url, nb_err_name(err), len);
        goto out;
    }
    switch (m->type) {
    case NB_RMSG_EVENT:
        on_sub_event(r, m);
        break;
    case NB_RMSG_OK:
        on_ok(r, m);
        break;
    case NB_RMSG_EOSE: {
        nb_sub_t *s = sub_lookup(p, m->sub_id);
        size_t i = relay_index(p, r);
        if (s != NULL && RS_STATE(s->rs[i]) == RS_SENT) {
            s->rs[i] = RS_LIVE | (s->rs[i] & RS_AUTHED);
            eose_progress(s, i);
        }
        break;
    }
    case NB_RMSG_CLOSED:
        on_sub_closed(r, m);
        break;
    case NB_RMSG_NOTICE:
        NB_INFO("relay: notice url=%s msg=\"%s\"", c->url, m->text);
        break;
    case NB_RMSG_AUTH:
        on_auth_challenge(r, m->text);
        break;
    default:
        p->stats.malformed++;
        break;
    }
out:
    nb_relay_msg_dispose(m);
    p->frame_hrtime = 0;
    leave(p);
}

/* ---- connection events -------------------------------------------------------------------- */

static void on_open(void *ud, nb_relay_conn_t *c)
{
    relay_t *r = ud;
    nb_pool_t *p = r->pool;
    if (p->closing) return;
    enter(p);
    size_t i = relay_index(p, r);
    r->authed = false;
    r->auth_pending = false;
    r->subs = 0;
    for (nb_sub_t *s = p->subs; s != NULL; s = s->next) {
        if (s->dead) continue;
        if (!s->eose_armed) { /* nobody was open at subscribe time: wait for this one */
            s->eose_armed = true;
            s->eose_wait[i] = 1;
            s->eose_pending++;
        }
        s->rs[i] = RS_IDLE;
        send_req(r, s);
    }
    for (nb_pub_t *pub = p->pubs; pub != NULL; pub = pub->next)
        if (!pub->done && pub->rs[i] == PS_UNSENT) pub_send(r, pub);
    leave(p);
}

static void close_step(nb_pool_t *p);

static void on_down(void *ud, nb_relay_conn_t *c, bool was_open)
{
    relay_t *r = ud;
    nb_pool_t *p = r->pool;
    size_t i = relay_index(p, r);
    enter(p);
    r->authed = false;
    r->auth_pending = false;
    r->subs = 0;
    for (nb_sub_t *s = p->subs; s != NULL; s = s->next) {
        if (s->dead) continue;
        s->rs[i] = RS_IDLE;
        eose_progress(s, i);
    }
    for (nb_pub_t *pub = p->pubs; pub != NULL; pub = pub->next) {
        if (pub->done || (pub->rs[i] != PS_SENT && pub->rs[i] != PS_AUTH_WAIT)) continue;
        if (pub->sends[i] >= MAX_SENDS_PER_RELAY) {
            pub_fail_relay(pub, i, "connection lost before OK, every time it was sent");
        } else {
            pub->rs[i] = PS_UNSENT; /* re-sent if the relay is back before the timeout */
            nb_free(pub->msg[i]);
            pub->msg[i] = nb_strdup("connection lost before OK");
        }
    }
    leave(p);
}

static void fill_info(const nb_pool_t *p, size_t i, nb_relay_info_t *out)
{
    const relay_t *r = &p->relays[i];
    out->url = r->conn.url;
    out->state = r->conn.state;
    out->since_ms = r->conn.since_ms;
    out->last_error = r->conn.last_error;
    out->reconnects = r->conn.reconnects;
    out->connects = r->conn.connects;
    out->authenticated = r->authed;
    out->queued_bytes = r->conn.q_bytes;
    out->subs = r->subs;
}

static void on_state(void *ud, nb_relay_conn_t *c)
{
    relay_t *r = ud;
    nb_pool_t *p = r->pool;
    if (p->closing || p->cfg.on_relay_state == NULL) return;
    enter(p);
    nb_relay_info_t info;
    fill_info(p, relay_index(p, r), &info);
    p->cfg.on_relay_state(p->cfg.ud, relay_index(p, r), &info);
    leave(p);
}

/* ---- reaping ------------------------------------------------------------------------------ */

static void reap(nb_pool_t *p)
{
    p->need_reap = false;
    for (nb_sub_t *s = p->subs, *next; s != NULL; s = next) {
        next = s->next;
        if (!s->dead) continue;
        if (s->prev != NULL)
            s->prev->next = s->next;
        else
            p->subs = s->next;
        if (s->next != NULL) s->next->prev = s->prev;
        sub_free(s);
    }
    for (nb_pub_t *pub = p->pubs, *next; pub != NULL; pub = next) {
        next = pub->next;
        if (!pub->done) continue;
        if (pub->prev != NULL)
            pub->prev->next = pub->next;
        else
            p->pubs = pub->next;
        if (pub->next != NULL) pub->next->prev = pub->prev;
        p->pub_closes++;
        uv_close((uv_handle_t *)&pub->timer, on_pub_closed);
    }
}

/* ---- create / observe --------------------------------------------------------------------- */

static void lws_log_to_ours(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        NB_WARN("lws: %.*s", (int)n, line);
    else
        NB_DEBUG("lws: %.*s", (int)n, line);
}

/* lws 4.1.6 only logs when it cannot load client_ssl_ca_filepath and carries on with an empty
 * trust store (every wss:// relay would then fail its handshake): check the file up front. */
static int check_ca_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        NB_ERROR("relay: cannot read the CA file %s: %s", path, strerror(errno));
        return NB_EIO;
    }
    fclose(f);
    X509_STORE *st = X509_STORE_new();
    int ok = st != NULL && X509_STORE_load_locations(st, path, NULL) == 1;
    X509_STORE_free(st);
    ERR_clear_error();
    if (!ok) {
        NB_ERROR("relay: the CA file %s holds no PEM certificate", path);
        return NB_EINVAL;
    }
    return 0;
}

int nb_pool_create(nb_pool_t **out, uv_loop_t *loop, const nb_pool_config_t *c)
{
    if (c->max_frame < 1024 || c->max_queue_bytes < 1024 || c->max_subs == 0 || c->backoff_min_ms == 0 ||
        c->dedup_capacity == 0 || c->fd_limit == 0 || (c->n_urls > 0 && c->urls == NULL))
        return NB_EINVAL;
    for (size_t i = 0; i < c->n_urls; i++) {
        nb_relay_url_t u;
        if (c->urls[i] == NULL || nb_relay_url_parse(&u, c->urls[i]) < 0) {
            NB_ERROR("relay: malformed relay URL \"%s\"", c->urls[i] ? c->urls[i] : "(null)");
            return NB_EURL;
        }
    }
    if (c->ca_file != NULL) {
        int err = check_ca_file(c->ca_file);
        if (err < 0) return err;
    }

    nb_pool_t *p = nb_calloc(1, sizeof *p);
    p->loop = loop;
    p->cfg = *c;
    p->cfg.urls = NULL;
    p->cfg.ca_file = NULL; /* loaded into the context's TLS client context below; not kept */
    p->protocols[0].name = PROTOCOL_NAME;
    p->protocols[0].callback = nb_relay_conn_lws_cb;
    p->protocols[0].rx_buffer_size = 16384;

    lws_set_log_level(LLL_ERR, lws_log_to_ours);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign_loops[1] = {loop};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (c->ca_file != NULL) {
        /* The default vhost's client SSL_CTX gets this file instead of the OS store (without
         * DISABLE_OS_CA_CERTS lws 4.1.6 would load both). Host names are checked either way. */
        info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        info.client_ssl_ca_filepath = c->ca_file;
    }
    info.foreign_loops = foreign_loops;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = p->protocols;
    info.fd_limit_per_thread = c->fd_limit;
    info.timeout_secs = c->connect_timeout_s ? c->connect_timeout_s : 10;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    info.pcontext = &p->ctx;
    p->ctx = lws_create_context(&info);
    if (p->ctx == NULL) {
        NB_ERROR("relay: libwebsockets context creation failed (is libwebsockets-evlib-uv installed?)");
        nb_free(p);
        return NB_EIO;
    }
    p->ctx_to_destroy = p->ctx;

    p->n_buckets = 64;
    p->buckets = nb_calloc(p->n_buckets, sizeof *p->buckets);
    p->next_serial = 1;
    nb_dedup_init(&p->dedup, c->dedup_capacity);
    p->msg = nb_calloc(1, sizeof *p->msg);
    nb_relay_msg_init(p->msg);
    nb_buf_init(&p->scratch, c->max_frame);
    uv_timer_init(loop, &p->close_timer);
    p->close_timer.data = p;

    static const nb_relay_conn_cb_t conn_cb = {on_open, on_frame, on_down, on_state};
    p->n_relays = c->n_urls;
    p->relays = nb_calloc(c->n_urls ? c->n_urls : 1, sizeof *p->relays);
    for (size_t i = 0; i < c->n_urls; i++) {
        relay_t *r = &p->relays[i];
        r->pool = p;
        int err =
            nb_relay_conn_init(&r->conn, loop, p->ctx, PROTOCOL_NAME, c->urls[i], &p->cfg, &conn_cb, r, i);
        assert(err == 0); /* URLs were checked above */
        (void)err;
        nb_relay_conn_start(&r->conn);
    }
    *out = p;
    return 0;
}

size_t nb_pool_relay_count(const nb_pool_t *p)
{
    return p->n_relays;
}

int nb_pool_relay_info(const nb_pool_t *p, size_t i, nb_relay_info_t *out)
{
    if (i >= p->n_relays) return NB_EINVAL;
    fill_info(p, i, out);
    return 0;
}

bool nb_pool_any_open(const nb_pool_t *p)
{
    for (size_t i = 0; i < p->n_relays; i++)
        if (p->relays[i].conn.state == NB_RELAY_OPEN) return true;
    return false;
}

void nb_pool_stats(const nb_pool_t *p, nb_pool_stats_t *out)
{
    *out = p->stats;
    out->subs_open = p->n_subs;
    out->relays_open = 0;
    out->limit_drops = 0;
    for (size_t i = 0; i < p->n_relays; i++) {
        if (p->relays[i].conn.state == NB_RELAY_OPEN) out->relays_open++;
        out->limit_drops += p->relays[i].conn.limit_drops;
    }
}

uint64_t nb_pool_frame_hrtime(const nb_pool_t *p)
{
    return p->frame_hrtime;
}

/* ---- shutdown ----------------------------------------------------------------------------- *
 * phase 0: CLOSEs queued, every connection asked to stop (open ones flush, then close);
 *          wait until all are quiescent or CLOSE_GRACE_MS passed.
 * phase 1: lws_context_destroy; with a foreign loop it needs the loop to run its close
 *          callbacks and then a second call (ARCHITECTURE.md); wait until lws NULLed p->ctx.
 * phase 2: wait for DNS requests still in the thread pool and publish timers closing, then
 *          close our handles and free everything. */

static void free_pool(nb_pool_t *p)
{
    void (*cb)(void *) = p->on_closed;
    void *data = p->on_closed_data;
    for (size_t i = 0; i < p->n_relays; i++)
        nb_relay_conn_dispose(&p->relays[i].conn);
    nb_free(p->relays);
    nb_free(p->buckets);
    nb_dedup_dispose(&p->dedup);
    nb_relay_msg_dispose(p->msg);
    nb_free(p->msg);
    nb_buf_dispose(&p->scratch);
    nb_free(p);
    if (cb != NULL) cb(data);
}

static void on_pool_handle_closed(uv_handle_t *h)
{
    nb_pool_t *p = h->data;
    if (--p->handles_open == 0) free_pool(p);
}

static void on_conn_handles_closed(nb_relay_conn_t *c)
{
    relay_t *r = c->ud;
    nb_pool_t *p = r->pool;
    if (--p->handles_open == 0) free_pool(p);
}

static void on_close_timer(uv_timer_t *t)
{
    close_step(t->data);
}

static bool all_quiescent(const nb_pool_t *p)
{
    for (size_t i = 0; i < p->n_relays; i++)
        if (!nb_relay_conn_quiescent(&p->relays[i].conn)) return false;
    return true;
}

static void close_step(nb_pool_t *p)
{
    if (p->depth > 0) return;
    uint64_t now = uv_now(p->loop);
    if (p->close_phase == 0) {
        if (!all_quiescent(p) && now - p->close_started < CLOSE_GRACE_MS) return;
        p->close_phase = 1;
        p->destroy_at = now;
        lws_context_destroy(p->ctx_to_destroy);
    }
    if (p->close_phase == 1) {
        if (p->ctx != NULL) {
            if (!p->destroyed_twice && now - p->destroy_at >= SECOND_DESTROY_MS) {
                p->destroyed_twice = true;
                lws_context_destroy(p->ctx_to_destroy);
            }
            if (p->ctx != NULL) return;
        }
        p->close_phase = 2;
    }
    if (p->close_phase == 2) {
        for (size_t i = 0; i < p->n_relays; i++)
            if (p->relays[i].conn.gai_pending) return;
        if (p->need_reap) reap(p);
        if (p->pub_closes > 0) return;
        p->close_phase = 3;
        uv_timer_stop(&p->close_timer);
        p->handles_open = 1 + (int)p->n_relays;
        uv_close((uv_handle_t *)&p->close_timer, on_pool_handle_closed);
        for (size_t i = 0; i < p->n_relays; i++)
            nb_relay_conn_close_handles(&p->relays[i].conn, on_conn_handles_closed);
    }
}

void nb_pool_close(nb_pool_t *p, void (*on_closed)(void *data), void *data)
{
    if (p->closing) return;
    enter(p);
    for (nb_sub_t *s = p->subs; s != NULL; s = s->next)
        nb_sub_release(s);
    for (nb_pub_t *pub = p->pubs; pub != NULL; pub = pub->next) {
        if (!pub->done) {
            pub->done = true;
            uv_timer_stop(&pub->timer);
            p->need_reap = true;
        }
    }
    p->closing = true;
    p->on_closed = on_closed;
    p->on_closed_data = data;
    p->close_started = uv_now(p->loop);
    for (size_t i = 0; i < p->n_relays; i++)
        nb_relay_conn_stop(&p->relays[i].conn);
    uv_timer_start(&p->close_timer, on_close_timer, 0, CLOSE_POLL_MS);
    leave(p);
}
