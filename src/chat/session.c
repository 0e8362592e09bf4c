/*
 * session.c — one chat completion request, from the parsed body to the last byte.
 *
 *   RESOLVE ──▶ EOSE ──▶ PUBLISH ──▶ STREAM ──▶ (closed)
 *      │ waits for: the directory, the first status period, a lazy boot, a relay
 *      └──────────────── any error before the first byte: an HTTP error; after it: SSE error
 *
 * One uv_timer per session serves every deadline (the earliest one is armed). The session is
 * freed from the timer's close callback, so no callback can reach freed memory.
 */
#include "bridge_internal.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/json.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/nip19.h"
#include "bridge/tenex_tags.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TEXT_CAP (16u * 1024 * 1024)
#define POLL_MS 100

typedef enum { ST_RESOLVE = 1, ST_EOSE, ST_PUBLISH, ST_STREAM, ST_DONE } state_t;

struct nb_session {
    nb_bridge_t *b;
    nb_session_t *prev, *next;
    nb_http_req_t *req; /* NULL once answered or gone */
    /* a native turn (WS /chat, POST /chat/sse): events go to the sink until done */
    const nb_native_sink_t *sink; /* NULL once done or detached */
    char *request_id;             /* the client's id of the message (native), or NULL */
    void *sink_ud;
    bool native;
    bool detached;                     /* the client is gone; the published turn runs on to be recorded */
    bool counted_key;                  /* holds one of per_key[key].open */
    bool counted_stream;               /* counted in b->n_streams */
    uint8_t owner[NB_CONVO_OWNER_LEN]; /* the API key's owner tag (zero: local mode) */
    uint8_t thread[32];                /* the thread as the client knows it */
    bool has_thread;
    uv_timer_t *timer;
    state_t state;
    bool closing;
    bool streaming; /* SSE headers started */
    bool cut;       /* the server cut a slow reader: write nothing more */
    char *dtag;     /* NULL on the global route */
    nb_chat_req_t chat;
    /* resolution */
    char *coord; /* the project's coordinate ("31933:<owner hex>:<dtag>") once resolved */
    char slug[NB_TENEX_MAX_SLUG + 1];
    uint8_t agent[32];
    bool continued;       /* a follow-up in a known thread */
    bool explicit_thread; /* named by X-Nostr-Thread */
    bool filler_sent;
    const char *outcome; /* for the summary log line */
    int status;          /* HTTP status of an error answer; 200 otherwise */
    int key;             /* the bridge's per_key slot */
    nb_convo_entry_t prior;
    bool boot_sent;
    uint64_t resolve_deadline; /* uv ms; 0 = none */
    const char *waiting_for;   /* for the 503 message */
    /* the turn */
    nb_event_t *msg; /* our kind:1, signed; from begin_turn until the pool has its copy */
    uint8_t msg_id[32];
    uint8_t root[32];
    nb_sub_t *sub;
    nb_pub_t *pub;
    nb_turn_t turn;
    bool turn_started;
    uint64_t started_ms, published_ms, last_event_ms, publish_started_ms;
    uint64_t work_t0_ns; /* uv_hrtime() when the current stretch of our own pre-publish work began */
    uint64_t own_ns;     /* our own pre-publish time so far (bridge_prepublish_seconds) */
    bool first_chunk_seen;
    uint64_t eose_deadline;
    nb_buf_t text; /* everything sent as content (for non-streaming and the conversation key) */
    nb_buf_t scratch;
    char id[48]; /* chatcmpl-… */
    int64_t created;
};

nb_session_t *nb_session_next(nb_session_t *s)
{
    return s->next;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* Whether anybody still receives this session's output. */
static bool attached(const nb_session_t *s)
{
    return s->req != NULL || s->sink != NULL;
}

/* The client's share of the counters (its stream and its key's concurrency slot). */
static void release_client(nb_session_t *s)
{
    if (s->counted_stream) s->b->n_streams--;
    if (s->counted_key) s->b->per_key[s->key].open--;
    s->counted_stream = s->counted_key = false;
}

/* The native sink's end: no event after it. */
static void sink_done(nb_session_t *s)
{
    const nb_native_sink_t *sink = s->sink;
    s->sink = NULL;
    if (sink != NULL) sink->done(s->sink_ud, s);
}

/* One native event; false when the peer is gone or too slow (write nothing more). */
static bool sink_emit(nb_session_t *s, const char *type, const nb_buf_t *json, const nb_api_error_t *e)
{
    if (s->sink == NULL || s->cut) return false;
    if (s->sink->emit(s->sink_ud, s, type, json->data ? json->data : "", json->len, e) != 0) {
        s->cut = true;
        NB_WARN("chat %s: the client reads too slowly; its events were cut", s->id);
        return false;
    }
    return true;
}

/* The thread id events carry (NULL before it is known). */
static const uint8_t *ev_thread(const nb_session_t *s)
{
    return s->has_thread ? s->thread : NULL;
}

/* Our kind:1 is no longer needed (the pool has its frame, or the turn is over): only msg_id stays. */
static void drop_msg(nb_session_t *s)
{
    if (s->msg == NULL) return;
    nb_event_dispose(s->msg);
    nb_free(s->msg);
    s->msg = NULL;
}

/* bridge_prepublish_seconds: our own work comes in stretches (request in → a wait, a retry →
 * REQ sent, EOSE in → publish); a stretch starts at t0 and ends at work_pause. */
static void work_start(nb_session_t *s, uint64_t t0)
{
    s->work_t0_ns = t0 != 0 ? t0 : uv_hrtime();
}

static void work_pause(nb_session_t *s)
{
    if (s->work_t0_ns != 0) s->own_ns += uv_hrtime() - s->work_t0_ns;
    s->work_t0_ns = 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    nb_session_t *s = h->data;
    nb_free(h);
    if (s->turn_started) nb_turn_dispose(&s->turn);
    drop_msg(s);
    nb_free(s->coord);
    nb_chat_req_dispose(&s->chat);
    nb_buf_dispose(&s->text);
    nb_buf_dispose(&s->scratch);
    nb_free(s->dtag);
    nb_free(s->request_id);
    nb_free(s);
}

/* One line per chat request: never keys, and message content only with --log-content. */
static void log_summary(nb_session_t *s)
{
    char thread[65] = "-", keyname[NB_APIKEY_NAME_MAX + 8] = "local";
    if (s->has_thread) nb_hex_encode(thread, s->thread, 32);
    if (s->b->cfg.apikeys != NULL && !nb_apikeys_open(s->b->cfg.apikeys))
        nb_apikeys_name(s->b->cfg.apikeys, nb_bridge_key_index(s->key), keyname, sizeof(keyname));
    uint64_t ms = uv_now(s->b->loop) - s->started_ms;
    nb_buf_t content;
    nb_buf_init(&content, 64 * 1024);
    if (s->b->cfg.log_content && s->chat.n_messages > 0) {
        /* JSON-escaped and bounded: one line whatever the text holds */
        const nb_chat_msg_t *u = &s->chat.messages[s->chat.last_user];
        nb_buf_appends(&content, " user_text=");
        nb_json_write_string(&content, u->text, u->len > 4000 ? 4000 : u->len);
        nb_buf_appends(&content, " reply_text=");
        nb_json_write_string(&content, s->text.data ? s->text.data : "",
                             s->text.len > 4000 ? 4000 : s->text.len);
    }
    NB_INFO("chat %s api=%s key=%s project=%s agent=%s thread=%.16s outcome=%s status=%d ms=%llu "
            "text_bytes=%zu stream=%d%s",
            s->id, s->native ? "native" : "openai", keyname,
            s->dtag ? s->dtag : (s->chat.model ? s->chat.model : "-"), s->slug[0] ? s->slug : "-", thread,
            s->outcome ? s->outcome : "closed", s->status ? s->status : 200, (unsigned long long)ms,
            s->text.len, s->chat.stream, content.data ? content.data : "");
    nb_buf_dispose(&content);
}

static void session_close(nb_session_t *s)
{
    if (s->closing) return;
    s->closing = true;
    log_summary(s);
    s->state = ST_DONE;
    nb_bridge_t *b = s->b;
    if (s->sub) {
        nb_sub_release(s->sub);
        s->sub = NULL;
    }
    if (s->pub) {
        nb_pub_cancel(s->pub);
        s->pub = NULL;
    }
    release_client(s);
    if (s->detached) b->n_detached--;
    if (s->turn_started) {
        const nb_turn_stats_t *ts = &s->turn.stats;
        b->counters.rejected_author += ts->wrong_author;
        b->counters.rejected_thread += ts->wrong_thread;
        b->counters.rejected_late += ts->dropped_late;
        b->counters.turn_mismatches += ts->mismatches;
        b->counters.turn_repaired += ts->repaired;
    }
    if (s->published_ms != 0)
        nb_hist_observe(&b->counters.turn_duration, (double)(uv_now(b->loop) - s->started_ms) / 1000.0);
    if (s->prev)
        s->prev->next = s->next;
    else
        b->sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    b->n_sessions--;
    uv_timer_stop(s->timer);
    uv_close((uv_handle_t *)s->timer, on_timer_closed);
}

static void send_stop(nb_session_t *s, const char *reason);

/* The client went away. A turn already published runs on without it, so that its end is recorded
 * and the thread stays usable for the next request (bounded by the same timeouts) — unless the
 * operator asked for a TENEX stop instead, which ends the agent's run (and blocks it in the
 * thread until the next message to it). */
static void client_left(nb_session_t *s)
{
    nb_bridge_t *b = s->b;
    b->counters.client_gone++;
    s->outcome = "client gone";
    release_client(s);
    bool published = s->state == ST_STREAM || s->state == ST_PUBLISH;
    if (published && b->cfg.stop_on_disconnect) {
        send_stop(s, "the client disconnected");
    } else if (published) {
        s->detached = true;
        b->n_detached++;
        NB_DEBUG("chat %s: client gone; the turn runs on to be recorded", s->id);
        return;
    }
    session_close(s);
}

static void on_gone(void *ud)
{
    nb_session_t *s = ud;
    s->req = NULL;
    client_left(s);
}

void nb_session_detach(nb_session_t *s)
{
    if (s->sink == NULL || s->closing) return;
    s->sink = NULL;
    client_left(s);
}

/* The one place a session turns an error into a response. */
static void fail(nb_session_t *s, const nb_api_error_t *e)
{
    nb_bridge_t *b = s->b;
    s->status = e->status;
    if (s->outcome == NULL) s->outcome = e->code ? e->code : "error";
    if (e->status == 504)
        b->counters.timeouts++;
    else
        b->counters.errors++;
    if (s->sink != NULL) {
        nb_buf_reset(&s->scratch);
        nb_native_ev_error(&s->scratch, ev_thread(s), e->message, e->code ? e->code : e->type);
        sink_emit(s, "error", &s->scratch, e);
        sink_done(s);
    } else if (s->req != NULL) {
        if (s->streaming) {
            if (!s->cut) {
                nb_buf_reset(&s->scratch);
                nb_oai_sse_error(&s->scratch, e);
                nb_oai_sse_done(&s->scratch);
                nb_http_sse_write(s->req, s->scratch.data, s->scratch.len);
            }
            nb_http_sse_end(s->req);
        } else {
            nb_http_respond_error(s->req, e);
        }
        s->req = NULL;
    }
    session_close(s);
}

static void failf(nb_session_t *s, int status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void failf(nb_session_t *s, int status, const char *type, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nb_api_error_t e;
    nb_api_error_set(&e, status, type, code, NULL, "%s", msg);
    fail(s, &e);
}

static void arm(nb_session_t *s);

/* ---- finishing ------------------------------------------------------------------------------ */

/* The store's calls run on the loop: their time is the store latency operators see. */
static const nb_convo_entry_t *store_get(nb_session_t *s, const uint8_t key[32])
{
    uint64_t t0 = uv_hrtime();
    const nb_convo_entry_t *e = nb_convo_get(s->b->convo, key, time(NULL));
    nb_hist_observe(&s->b->counters.store_latency, (double)(uv_hrtime() - t0) / 1e9);
    return e;
}

static void store_put(nb_session_t *s, const uint8_t key[32], const nb_convo_entry_t *e)
{
    uint64_t t0 = uv_hrtime();
    nb_convo_put(s->b->convo, key, e, time(NULL));
    nb_hist_observe(&s->b->counters.store_latency, (double)(uv_hrtime() - t0) / 1e9);
}

/* The thread's own record: where its next message goes, and whose it is. */
static void put_thread(nb_session_t *s, const nb_convo_entry_t *e)
{
    uint8_t key[32];
    nb_convo_thread_key(key, s->thread);
    store_put(s, key, e);
}

/* A key may use a thread it created, or one nobody owns (local mode, or made outside bridge). */
static bool owner_may_use(const nb_session_t *s, const nb_convo_entry_t *e)
{
    static const uint8_t zero[NB_CONVO_OWNER_LEN];
    return memcmp(e->owner, zero, sizeof(zero)) == 0 || memcmp(e->owner, s->owner, sizeof(zero)) == 0;
}

static void entry_base(const nb_session_t *s, nb_convo_entry_t *e)
{
    memset(e, 0, sizeof(*e));
    memcpy(e->owner, s->owner, sizeof(e->owner));
    memcpy(e->thread, s->thread, 32);
    memcpy(e->agent, s->agent, 32);
    /* After the answer to an ask the agent resumes in the parent thread: go on there. */
    memcpy(e->root, s->continued && s->prior.ask ? s->thread : s->root, 32);
}

static void remember(nb_session_t *s, const nb_turn_end_t *end)
{
    uint8_t key[32];
    nb_convo_entry_t e;
    entry_base(s, &e);
    if (end->kind == NB_TURN_END_ASK) {
        memcpy(e.root, end->ask_id, 32);
        memcpy(e.agent, end->ask_agent, 32);
        e.ask = true;
    }
    nb_convo_key(key, s->chat.messages, s->chat.n_messages, s->text.data ? s->text.data : "", s->text.len);
    store_put(s, key, &e);
    put_thread(s, &e);
}

static void stream_started(nb_session_t *s);

static void on_turn_end(void *ud, const nb_turn_end_t *end)
{
    nb_session_t *s = ud;
    if (!attached(s) && !s->detached) return;
    if (s->state == ST_PUBLISH && end->kind != NB_TURN_END_ERROR) {
        /* the agent answered before any relay's OK reached us: it evidently got the message */
        if (s->pub) {
            nb_pub_cancel(s->pub);
            s->pub = NULL;
        }
        stream_started(s);
    }
    if (end->kind == NB_TURN_END_ERROR) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%.*s", (int)(end->error_len > 300 ? 300 : end->error_len), end->error);
        failf(s, 500, "server_error", "agent_error", "the agent reported an error: %s", msg);
        return;
    }
    remember(s, end);
    const char *reason = end->kind == NB_TURN_END_COMPLETED ? "completed"
                         : end->kind == NB_TURN_END_ASK     ? "ask"
                                                            : "idle";
    if (s->detached) {
        /* nobody listens any more: the turn was only run on to be recorded */
        s->b->counters.recorded_detached++;
        s->outcome = "recorded after the client left";
        session_close(s);
        return;
    }
    nb_usage_t usage = {0, 0, 0};
    if (end->has_usage) usage = end->usage;
    nb_chunk_ctx_t c = {s->id, s->created, s->slug, s->chat.include_usage};
    nb_buf_reset(&s->scratch);
    if (s->native) {
        nb_native_ev_end(&s->scratch, ev_thread(s), reason, end->has_usage ? &usage : NULL);
        sink_emit(s, "end", &s->scratch, NULL);
        sink_done(s);
    } else if (s->chat.stream) {
        if (!s->cut) {
            nb_oai_chunk_finish(&s->scratch, &c, "stop");
            if (s->chat.include_usage) nb_oai_chunk_usage(&s->scratch, &c, &usage);
            nb_oai_sse_done(&s->scratch);
            nb_http_sse_write(s->req, s->scratch.data, s->scratch.len);
        }
        nb_http_sse_end(s->req);
    } else {
        nb_buf_t *out = &s->scratch; /* ceiling set at start: twice the text cap */
        nb_oai_completion(out, &c, s->text.data ? s->text.data : "", s->text.len, &usage);
        nb_http_respond_json(s->req, 200, out->data, out->len);
    }
    s->req = NULL;
    s->b->counters.completed++;
    s->outcome = reason;
    session_close(s);
}

/* Text that a relay message brought went to the client's stream: the bridge's own delay, from the
 * message's arrival (text sent from a timer, a held gap given up on, is not a relay's delay). */
static void chunk_delay(nb_session_t *s)
{
    uint64_t t0 = nb_pool_frame_hrtime(s->b->pool);
    if (t0 != 0 && (s->native || s->chat.stream))
        nb_hist_observe(&s->b->counters.chunk_delay, (double)(uv_hrtime() - t0) / 1e9);
}

/* Text to the client (already in s->text). */
static void send_text(nb_session_t *s, const char *p, size_t len)
{
    if (!s->first_chunk_seen) {
        s->first_chunk_seen = true;
        nb_hist_observe(&s->b->counters.first_chunk, (double)(uv_now(s->b->loop) - s->started_ms) / 1000.0);
    }
    if (s->native) {
        nb_buf_reset(&s->scratch);
        nb_native_ev_content(&s->scratch, ev_thread(s), p, len);
        s->b->counters.chunks++;
        sink_emit(s, "content", &s->scratch, NULL);
        return;
    }
    if (!s->chat.stream) return;
    nb_chunk_ctx_t c = {s->id, s->created, s->slug, s->chat.include_usage};
    nb_buf_reset(&s->scratch);
    nb_oai_chunk_content(&s->scratch, &c, p, len);
    s->b->counters.chunks++;
    if (nb_http_sse_write(s->req, s->scratch.data, s->scratch.len) != 0) {
        /* over the slow-reader cap: the server cuts the connection and on_gone follows */
        s->cut = true;
        NB_WARN("chat %s: the client reads too slowly; the stream was cut", s->id);
    }
}

static void on_turn_text(void *ud, const char *p, size_t len)
{
    nb_session_t *s = ud;
    if ((!attached(s) && !s->detached) || s->cut) return;
    nb_buf_append(&s->text, p, len);
    /* A fast agent may answer before the relay's OK: that text goes out once the stream has
     * started (on_published), after the role chunk / thread event. */
    if (!attached(s) || s->state == ST_PUBLISH) return;
    send_text(s, p, len);
    chunk_delay(s); /* not for text held until the stream started, nor the filler: not a relay's delay */
}

/* ---- the native API's extra events ------------------------------------------------------------ */

/* Agents by slug (the project's roster), else as npub. names[i] point into store. */
#define NAMES_MAX NB_TURN_MAX_AGENTS
typedef struct {
    char store[NAMES_MAX][NB_TENEX_MAX_SLUG + 72];
    const char *names[NAMES_MAX];
    size_t n;
} names_t;

static void agent_names(nb_session_t *s, const uint8_t (*pks)[32], size_t n, names_t *out)
{
    /* the d-tag is the coordinate's third part ("31933:<owner hex>:<dtag>") */
    const char *c = s->coord ? strchr(s->coord, ':') : NULL;
    const char *dtag = c ? strchr(c + 1, ':') : NULL;
    const nb_tenex_project_t *p = dtag ? nb_tenex_dir_project(s->b->dir, dtag + 1) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n && out->n < NAMES_MAX; i++) {
        char *dst = out->store[out->n];
        const nb_tenex_agent_t *a = NULL;
        for (size_t k = 0; p != NULL && k < p->n_agents && a == NULL; k++)
            if (memcmp(p->agents[k].pubkey, pks[i], 32) == 0) a = &p->agents[k];
        if (a != NULL) {
            char buf[NB_TENEX_MAX_SLUG + 1];
            snprintf(dst, sizeof(out->store[0]), "%s", nb_tenex_agent_name(a, buf));
        } else if (nb_nip19_encode32(dst, sizeof(out->store[0]), NB_NIP19_NPUB, pks[i]) != 0) {
            continue;
        }
        out->names[out->n++] = dst;
    }
}

static void on_turn_status(void *ud, const char *p, size_t len)
{
    nb_session_t *s = ud;
    if (s->sink == NULL) return;
    nb_buf_reset(&s->scratch);
    nb_native_ev_status(&s->scratch, ev_thread(s), p, len);
    sink_emit(s, "status", &s->scratch, NULL);
}

static void on_turn_tool(void *ud, const char *name, size_t name_len, const char *args, size_t args_len)
{
    nb_session_t *s = ud;
    if (s->sink == NULL) return;
    nb_buf_reset(&s->scratch);
    nb_native_ev_tool(&s->scratch, ev_thread(s), name, name_len, args, args_len);
    sink_emit(s, "tool", &s->scratch, NULL);
}

static void on_turn_activity(void *ud, const uint8_t (*agents)[32], size_t n)
{
    nb_session_t *s = ud;
    if (s->sink == NULL) return;
    names_t *names = nb_malloc(sizeof(*names));
    agent_names(s, agents, n, names);
    nb_buf_reset(&s->scratch);
    nb_native_ev_activity(&s->scratch, ev_thread(s), names->names, names->n);
    nb_free(names);
    sink_emit(s, "activity", &s->scratch, NULL);
}

static void on_turn_delegation(void *ud, const uint8_t (*to)[32], size_t n)
{
    nb_session_t *s = ud;
    if (s->sink == NULL) return;
    names_t *names = nb_malloc(sizeof(*names));
    agent_names(s, to, n, names);
    nb_buf_reset(&s->scratch);
    nb_native_ev_delegation(&s->scratch, ev_thread(s), names->names, names->n);
    nb_free(names);
    sink_emit(s, "delegation", &s->scratch, NULL);
}

static void on_turn_ask(void *ud, const nb_turn_ask_t *ask)
{
    nb_session_t *s = ud;
    if (s->sink == NULL) return;
    nb_native_ask_t a;
    memcpy(a.ask_id, ask->ask_id, 32);
    a.title = ask->title;
    a.title_len = ask->title_len;
    a.question = ask->question;
    a.question_len = ask->question_len;
    a.suggestions = ask->suggestions;
    a.n_suggestions = ask->n_suggestions;
    a.multiselect = ask->multiselect;
    nb_buf_reset(&s->scratch);
    nb_native_ev_ask(&s->scratch, ev_thread(s), &a);
    sink_emit(s, "ask", &s->scratch, NULL);
}

/* ---- streaming ------------------------------------------------------------------------------ */

static void on_thread_event(void *ud, nb_sub_t *sub, const nb_event_t *ev, const char *url)
{
    nb_session_t *s = ud;
    /* Before EOSE: history, ignored. While publishing: a fast agent on the same relay may
     * answer before our OK arrives, so those count. */
    if (s->state != ST_STREAM && s->state != ST_PUBLISH) return;
    uint64_t before = s->turn.stats.agent_events;
    nb_turn_on_event(&s->turn, ev, uv_now(s->b->loop));
    if (s->closing) return;
    /* ElevenLabs-style filler: something to say as soon as the agent starts working */
    if (s->b->cfg.filler != NULL && s->chat.stream && !s->filler_sent && s->text.len == 0 &&
        s->turn.agent_working && s->req != NULL) {
        s->filler_sent = true;
        on_turn_text(s, s->b->cfg.filler, strlen(s->b->cfg.filler));
    }
    if (s->turn.stats.agent_events != before) s->last_event_ms = uv_now(s->b->loop);
    arm(s);
}

static void on_thread_eose(void *ud, nb_sub_t *sub);

/* A relay refused or ended the thread subscription. While another relay still has it, the turn
 * goes on. When none has it, nothing the agent says can reach us: before the message is out
 * (on_thread_eose saw it refused everywhere) it is not published at all, and a published turn
 * ends now, instead of at a timeout with the agent's answer lost. */
/* No relay carries the thread's subscription before the message is out: it is never sent. */
static void refused(nb_session_t *s, const char *why)
{
    s->b->counters.sub_refused++;
    failf(s, 503, "server_error", "relay_refused", "%s", why);
}

static void on_thread_closed(void *ud, nb_sub_t *sub, const char *url, const char *msg)
{
    nb_session_t *s = ud;
    NB_WARN("chat %s: relay %s closed the thread subscription: %s", s->id, url, msg);
    if (s->closing || nb_sub_unrefused_relays(sub) > 0) return;
    if (s->state == ST_EOSE) {
        char why[512];
        snprintf(
            why, sizeof(why),
            "the relay refused the subscription for this conversation, so the message was not sent: %s: %s",
            url, msg);
        refused(s, why);
        return;
    }
    s->b->counters.sub_refused++;
    if (s->state == ST_PUBLISH || s->state == ST_STREAM)
        failf(s, 502, "server_error", "relay_closed",
              "the relay closed the subscription for this conversation, so the agent's answer cannot be "
              "received: %s: %s",
              url, msg);
}

static void on_published(void *ud, int result, const char *detail)
{
    nb_session_t *s = ud;
    s->pub = NULL;
    if (result != 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s", detail && *detail ? detail : nb_strerror(result));
        if (result == NB_ENORELAY)
            failf(s, 503, "server_error", "relay_unavailable", "no relay is connected: %s", msg);
        else
            failf(s, 502, "server_error", "publish_failed", "no relay accepted the message: %s", msg);
        return;
    }
    nb_hist_observe(&s->b->counters.publish_latency,
                    (double)(uv_now(s->b->loop) - s->publish_started_ms) / 1000.0);
    stream_started(s);
    arm(s);
}

/* The message is out (a relay's OK, or the agent already answered it): the stream starts, with
 * whatever text came before. */
static void stream_started(nb_session_t *s)
{
    s->state = ST_STREAM;
    s->published_ms = uv_now(s->b->loop);
    char hex[65];
    nb_hex_encode(hex, s->msg_id, 32);
    NB_DEBUG("chat %s: published %.16s… to %s (agent %s)", s->id, hex, s->coord, s->slug);
    /* the thread's record exists from now on: a follow-up by thread id works even if this turn
     * never completes */
    nb_convo_entry_t e;
    entry_base(s, &e);
    memcpy(e.root, s->root, 32);
    put_thread(s, &e);
    if (s->sink != NULL) {
        s->streaming = true;
        s->counted_stream = true;
        s->b->n_streams++;
        nb_buf_reset(&s->scratch);
        nb_native_ev_thread(&s->scratch, s->thread, s->msg_id, s->slug);
        sink_emit(s, "thread", &s->scratch, NULL);
    } else if (s->chat.stream && s->req != NULL) {
        nb_http_sse_start(s->req);
        s->streaming = true;
        s->counted_stream = true;
        s->b->n_streams++;
        nb_chunk_ctx_t c = {s->id, s->created, s->slug, s->chat.include_usage};
        nb_buf_reset(&s->scratch);
        nb_oai_chunk_role(&s->scratch, &c);
        nb_http_sse_write(s->req, s->scratch.data, s->scratch.len);
    }
    if (s->text.len > 0 && attached(s) && !s->cut) send_text(s, s->text.data, s->text.len);
}

static void publish(nb_session_t *s)
{
    s->state = ST_PUBLISH;
    s->publish_started_ms = uv_now(s->b->loop);
    int r = nb_pool_publish(s->b->pool, &s->pub, s->msg, on_published, s);
    drop_msg(s); /* the pool has the frame: a held stream should not keep the text */
    if (r != 0) {
        failf(s, 503, "server_error", "relay_unavailable", "cannot publish: %s", nb_strerror(r));
        return;
    }
    work_pause(s);
    nb_hist_observe(&s->b->counters.prepublish, (double)s->own_ns / 1e9);
}

static void on_thread_eose(void *ud, nb_sub_t *sub)
{
    nb_session_t *s = ud;
    if (s->state != ST_EOSE) return;
    if (nb_sub_holding_relays(sub) == 0) {
        /* Every relay said CLOSED: on_thread_closed, called next, fails the turn with the reason. */
        if (nb_sub_unrefused_relays(sub) == 0) return;
        /* The relays that are up refused it or went down while we waited; the others are down. */
        refused(s, "no relay carries the subscription for this conversation (the open ones refused it or "
                   "disconnected), so the message was not sent");
        return;
    }
    work_start(s, nb_pool_frame_hrtime(s->b->pool)); /* from the EOSE's arrival */
    publish(s);
}

/* ---- the message ---------------------------------------------------------------------------- */

/* The first 50 characters (not bytes) of the text, with "…" when cut. */
static void title_of(char *out, size_t cap, const char *p, size_t len)
{
    size_t i = 0, chars = 0;
    while (i < len && chars < 50 && p[i] != '\n') {
        size_t k = 1;
        while (i + k < len && ((unsigned char)p[i + k] & 0xC0) == 0x80)
            k++;
        i += k;
        chars++;
    }
    snprintf(out, cap, "%.*s%s", (int)i, p, i < len ? "…" : "");
}

/* For a client that starts mid-conversation: the earlier turns as a compact transcript. */
static void build_content(nb_session_t *s, nb_buf_t *out)
{
    const nb_chat_msg_t *u = &s->chat.messages[s->chat.last_user];
    bool any = false;
    if (!s->continued && s->b->cfg.history_transcript) {
        for (size_t i = 0; i < s->chat.last_user; i++) {
            const nb_chat_msg_t *m = &s->chat.messages[i];
            if (m->len == 0 || (m->role != NB_ROLE_USER && m->role != NB_ROLE_ASSISTANT)) continue;
            if (!any) nb_buf_appends(out, "Earlier in this conversation:\n");
            any = true;
            nb_buf_appends(out, m->role == NB_ROLE_USER ? "user: " : "assistant: ");
            nb_buf_append(out, m->text, m->len);
            nb_buf_appendc(out, '\n');
        }
        if (any) nb_buf_appends(out, "\n");
    }
    nb_buf_append(out, u->text, u->len);
}

static int sign_message(nb_session_t *s)
{
    nb_bridge_t *b = s->b;
    nb_event_t *ev = s->msg = nb_malloc(sizeof(*ev));
    nb_event_init(ev);
    ev->kind = NB_KIND_TEXT;
    ev->created_at = time(NULL);
    nb_buf_t content;
    nb_buf_init(&content, TEXT_CAP);
    build_content(s, &content);
    nb_event_set_content(ev, content.data ? content.data : "", content.len);
    nb_buf_dispose(&content);
    char agent_hex[65];
    nb_hex_encode(agent_hex, s->agent, 32);
    if (s->continued) {
        char root_hex[65];
        nb_hex_encode(root_hex, s->prior.root, 32);
        NB_EVENT_TAG(ev, "e", root_hex, "", "root");
    }
    NB_EVENT_TAG(ev, "a", s->coord);
    NB_EVENT_TAG(ev, "p", agent_hex);
    if (!s->continued) {
        char title[256];
        const nb_chat_msg_t *u = &s->chat.messages[s->chat.last_user];
        title_of(title, sizeof(title), u->text, u->len);
        NB_EVENT_TAG(ev, "title", title);
    }
    NB_EVENT_TAG(ev, "client", "bridge");
    int r;
    for (;;) {
        if ((r = nb_event_sign(ev, b->cfg.keys)) != 0) return r;
        bool seen = false;
        for (size_t i = 0; i < 256 && !seen; i++)
            seen = memcmp(b->recent_ids[i], ev->id, 32) == 0;
        if (!seen) break;
        ev->created_at++; /* the same text again within a second: make it a new message */
    }
    memcpy(b->recent_ids[b->recent_pos++ % 256], ev->id, 32);
    memcpy(s->msg_id, ev->id, 32);
    memcpy(s->root, s->continued ? s->prior.root : ev->id, 32);
    if (!s->has_thread) {
        memcpy(s->thread, ev->id, 32); /* a new thread: our message is its root */
        s->has_thread = true;
    }
    return 0;
}

static int subscribe_thread(nb_session_t *s)
{
    nb_bridge_t *b = s->b;
    char root_hex[65], msg_hex[65];
    nb_hex_encode(root_hex, s->root, 32);
    nb_hex_encode(msg_hex, s->msg_id, 32);
    int64_t now = time(NULL);
    nb_filter_t f[4];
    size_t nf = s->native ? 4 : 3;
    for (size_t i = 0; i < nf; i++)
        nb_filter_init(&f[i]);
    static const uint32_t kinds[] = {NB_KIND_TEXT, NB_KIND_ACTIVITY, NB_KIND_DELTA, NB_KIND_LEGACY_REPLY,
                                     NB_KIND_LEGACY_CHUNK};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        nb_filter_add_kind(&f[0], kinds[i]);
    nb_filter_add_tag(&f[0], 'e', root_hex, 64);
    if (memcmp(s->root, s->msg_id, 32) != 0) nb_filter_add_tag(&f[0], 'e', msg_hex, 64);
    f[0].since = now - 60;
    nb_filter_add_kind(&f[1], NB_KIND_LEGACY_REPLY);
    nb_filter_add_kind(&f[1], NB_KIND_LEGACY_CHUNK);
    nb_filter_add_tag(&f[1], 'E', root_hex, 64);
    f[1].since = now - 60;
    nb_filter_add_kind(&f[2], NB_KIND_TEXT);
    nb_filter_add_tag(&f[2], 't', "ask", 3);
    nb_filter_add_tag(&f[2], 'p', b->cfg.keys->pubkey_hex, 64);
    f[2].since = now - 5;
    if (nf == 4) {
        /* the native API shows delegations: new roots by the agent, linked to this thread only
         * by a "delegation" tag, which no filter can select */
        nb_filter_add_kind(&f[3], NB_KIND_TEXT);
        nb_filter_add_author(&f[3], s->agent);
        f[3].since = now - 5;
    }
    static const nb_sub_cb_t cb = {on_thread_event, on_thread_eose, on_thread_closed};
    int r = nb_pool_subscribe(b->pool, &s->sub, f, nf, &cb, s);
    for (size_t i = 0; i < nf; i++)
        nb_filter_dispose(&f[i]);
    return r;
}

static void begin_turn(nb_session_t *s, const nb_tenex_project_t *p)
{
    nb_bridge_t *b = s->b;
    int r = sign_message(s);
    if (r != 0) {
        failf(s, 500, "server_error", NULL, "cannot sign the message: %s", nb_strerror(r));
        return;
    }
    nb_turn_config_t tc;
    nb_turn_config_defaults(&tc);
    memcpy(tc.agent, s->agent, 32);
    memcpy(tc.user, b->cfg.keys->pubkey, 32);
    memcpy(tc.root, s->root, 32);
    memcpy(tc.msg_id, s->msg_id, 32);
    if (p->has_backend) memcpy(tc.backends[tc.n_backends++], p->backend, 32);
    for (size_t i = 0; i < b->cfg.n_backends && tc.n_backends < NB_TURN_MAX_BACKENDS; i++)
        if (!p->has_backend || memcmp(b->cfg.backends[i], p->backend, 32) != 0)
            memcpy(tc.backends[tc.n_backends++], b->cfg.backends[i], 32);
    tc.structured_ask = s->native;
    static const nb_turn_cb_t cb = {
        .on_text = on_turn_text,
        .on_status = on_turn_status,
        .on_end = on_turn_end,
        .on_tool = on_turn_tool,
        .on_activity = on_turn_activity,
        .on_ask = on_turn_ask,
        .on_delegation = on_turn_delegation,
    };
    nb_turn_init(&s->turn, &tc, &cb, s);
    s->turn_started = true;
    if (s->req != NULL) {
        char hex[65];
        nb_hex_encode(hex, s->msg_id, 32);
        nb_http_req_add_header(s->req, "X-Nostr-Event-Id", hex);
        nb_hex_encode(hex, s->thread, 32);
        nb_http_req_add_header(s->req, "X-Nostr-Thread", hex);
    }
    r = subscribe_thread(s);
    if (r != 0) {
        failf(s, 503, "server_error", "overloaded", "cannot subscribe: %s", nb_strerror(r));
        return;
    }
    s->state = ST_EOSE;
    s->eose_deadline = uv_now(b->loop) + b->cfg.eose_timeout_ms;
    work_pause(s); /* request in (or the last resolve attempt) → REQ; the wait for EOSE is not ours */
    arm(s);
}

/* ---- resolution ---------------------------------------------------------------------------- */

/* A control event (boot, stop) of kind with tags name/value pairs (NULL-terminated), signed and
 * published fire-and-forget. True when it went to the pool. */
static bool publish_control(nb_session_t *s, uint32_t kind, const char *const *tags)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = kind;
    ev.created_at = time(NULL);
    for (size_t i = 0; tags[i] != NULL; i += 2)
        NB_EVENT_TAG(&ev, tags[i], tags[i + 1]);
    NB_EVENT_TAG(&ev, "client", "bridge");
    bool ok =
        nb_event_sign(&ev, s->b->cfg.keys) == 0 && nb_pool_publish(s->b->pool, NULL, &ev, NULL, NULL) == 0;
    nb_event_dispose(&ev);
    return ok;
}

static void send_stop(nb_session_t *s, const char *reason)
{
    char root[65], agent[65];
    nb_hex_encode(root, s->root, 32);
    nb_hex_encode(agent, s->agent, 32);
    /* without a p the backend ignores a stop */
    const char *tags[] = {"e", root, "p", agent, "a", s->coord, "reason", reason, NULL};
    if (publish_control(s, NB_KIND_STOP, tags)) {
        s->b->counters.stops++;
        NB_INFO("chat %s: sent a stop for thread %.8s (%s)", s->id, root, reason);
    }
}

bool nb_session_stop(nb_session_t *s)
{
    if (s->closing || (s->state != ST_STREAM && s->state != ST_PUBLISH)) return false;
    send_stop(s, "stopped by the client");
    return true;
}

const uint8_t *nb_session_thread(const nb_session_t *s)
{
    return ev_thread(s);
}

const char *nb_session_request_id(const nb_session_t *s)
{
    return s->request_id;
}

int nb_session_key(const nb_session_t *s)
{
    return s->key;
}

static void send_boot(nb_session_t *s)
{
    char owner_hex[65];
    nb_hex_encode(owner_hex, s->b->cfg.owner, 32);
    const char *tags[] = {"a", s->coord, "p", owner_hex, NULL};
    if (publish_control(s, NB_KIND_BOOT, tags)) {
        s->b->counters.boots++;
        NB_INFO("chat %s: project %s is offline; sent a boot request", s->id, s->dtag ? s->dtag : s->coord);
    }
}

/* Wait (bounded) for something; the deadline's expiry turns into the given 503/404. */
static void wait_for(nb_session_t *s, const char *what, uint32_t ms)
{
    uint64_t now = uv_now(s->b->loop);
    work_pause(s); /* waiting is not our work: the retry starts a new stretch */
    if (s->resolve_deadline == 0 || s->waiting_for != what) {
        s->resolve_deadline = now + ms;
        s->waiting_for = what;
    }
    arm(s);
}

static const char W_RELAY[] = "relay", W_PROJECTS[] = "projects", W_STARTUP[] = "startup", W_BOOT[] = "boot";

static void resolve(nb_session_t *s)
{
    nb_bridge_t *b = s->b;
    if (s->work_t0_ns == 0) work_start(s, 0); /* a retry after a wait */
    uint64_t now_ms = uv_now(b->loop);
    int64_t now = time(NULL);
    bool in_startup = now_ms - b->started_ms < b->cfg.startup_grace_ms;
    if (!nb_pool_any_open(b->pool)) {
        wait_for(s, W_RELAY, b->cfg.relay_wait_ms);
        return;
    }
    if (!nb_tenex_dir_projects_loaded(b->dir)) {
        wait_for(s, W_PROJECTS, b->cfg.eose_timeout_ms + b->cfg.relay_wait_ms);
        return;
    }
    /* the project: from the route, or from model "<dtag>" / "<dtag>/<slug>" on /v1 */
    const char *model = s->chat.model;
    char dtag[300];
    const char *slug = model;
    nb_api_error_t name_err;
    bool named;
    if (s->dtag != NULL) {
        named = nb_bridge_project_name(b, s->dtag, strlen(s->dtag), dtag, sizeof(dtag), &name_err);
    } else {
        const char *slash = strchr(model, '/');
        size_t n = slash ? (size_t)(slash - model) : strlen(model);
        named = nb_bridge_project_name(b, model, n, dtag, sizeof(dtag), &name_err);
        slug = slash ? slash + 1 : NULL;
    }
    if (!named) {
        fail(s, &name_err);
        return;
    }
    const nb_tenex_project_t *p =
        nb_bridge_project_allowed(b, s->key, dtag) ? nb_tenex_dir_project(b->dir, dtag) : NULL;
    if (p == NULL) {
        nb_api_error_t e;
        if (s->dtag == NULL)
            nb_api_error_set(&e, 404, "invalid_request_error", "model_not_found", "model",
                             "The model '%s' does not exist: no TENEX project with that d-tag", model);
        else
            nb_api_error_set(&e, 404, "invalid_request_error", "project_not_found", NULL,
                             "no TENEX project '%s' is known for this owner", dtag);
        fail(s, &e);
        return;
    }
    nb_free(s->coord);
    s->coord = nb_strdup(p->coord);
    if (p->n_agents == 0) {
        if (in_startup) {
            wait_for(s, W_STARTUP, (uint32_t)(b->cfg.startup_grace_ms - (now_ms - b->started_ms)));
            return;
        }
        failf(s, 503, "server_error", "no_agents", "project '%s' has no agents", dtag);
        return;
    }
    /* the agent: a continued conversation keeps its agent; else model names a slug, else the PM */
    const nb_tenex_agent_t *a = NULL;
    if (s->continued) {
        for (size_t i = 0; i < p->n_agents && a == NULL; i++)
            if (memcmp(p->agents[i].pubkey, s->prior.agent, 32) == 0) a = &p->agents[i];
        /* The store is keyed by the messages alone: the same history in another project (or an
         * agent since removed from the roster) must not continue that thread here. */
        if (a == NULL && !s->explicit_thread) s->continued = false;
    }
    if (a == NULL && slug != NULL && *slug != '\0') a = nb_tenex_project_agent(p, slug);
    if (a == NULL) {
        if (s->dtag == NULL && slug != NULL && *slug != '\0') {
            nb_api_error_t e;
            nb_api_error_set(&e, 404, "invalid_request_error", "model_not_found", "model",
                             "The model '%s' does not exist: project '%s' has no agent '%s'", model, dtag,
                             slug);
            fail(s, &e);
            return;
        }
        a = &p->agents[0];
    }
    memcpy(s->agent, a->pubkey, 32);
    char buf[NB_TENEX_MAX_SLUG + 1];
    snprintf(s->slug, sizeof(s->slug), "%s", nb_tenex_agent_name(a, buf));
    /* liveness */
    if (!nb_tenex_project_online(p, now)) {
        int64_t seen = nb_tenex_dir_backend_seen(b->dir);
        bool backend_fresh = seen > 0 && now - seen < NB_TENEX_ONLINE_SECS;
        if (backend_fresh) {
            if (!s->boot_sent) {
                s->boot_sent = true;
                send_boot(s);
            }
            wait_for(s, W_BOOT, b->cfg.boot_timeout_ms);
            return;
        }
        if (in_startup) {
            wait_for(s, W_STARTUP, (uint32_t)(b->cfg.startup_grace_ms - (now_ms - b->started_ms)));
            return;
        }
        failf(s, 503, "server_error", "agent_offline", "no TENEX backend is online for project %s", dtag);
        return;
    }
    s->resolve_deadline = 0;
    s->waiting_for = NULL;
    begin_turn(s, p);
}

static void resolve_timed_out(nb_session_t *s)
{
    const char *w = s->waiting_for;
    const char *dtag = s->dtag ? s->dtag : s->chat.model;
    if (w == W_RELAY)
        failf(s, 503, "server_error", "relay_unavailable", "no relay is connected");
    else if (w == W_PROJECTS)
        failf(s, 503, "server_error", "relay_unavailable",
              "the project list could not be loaded from the relays");
    else if (w == W_BOOT)
        failf(s, 503, "server_error", "agent_offline", "project %s did not come online after a boot request",
              dtag);
    else
        failf(s, 503, "server_error", "agent_offline", "no TENEX backend is online for project %s", dtag);
}

/* ---- the timer ------------------------------------------------------------------------------ */

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return a == 0 ? b : b == 0 ? a : (a < b ? a : b);
}

static uint64_t next_deadline(nb_session_t *s)
{
    const nb_bridge_config_t *c = &s->b->cfg;
    uint64_t d = s->started_ms + c->turn_timeout_ms;
    switch (s->state) {
    case ST_RESOLVE: {
        uint64_t poll = uv_now(s->b->loop) + POLL_MS; /* relays and clocks change without events */
        return earliest(earliest(d, s->resolve_deadline), poll);
    }
    case ST_EOSE:
        return earliest(d, s->eose_deadline);
    case ST_PUBLISH:
        return d;
    case ST_STREAM:
        if (s->turn.stats.agent_events == 0)
            d = earliest(d, s->published_ms + c->first_event_timeout_ms);
        else
            d = earliest(d, s->last_event_ms + c->idle_timeout_ms);
        return earliest(d, nb_turn_deadline(&s->turn));
    default:
        return 0;
    }
}

static void on_timer(uv_timer_t *t);

static void arm(nb_session_t *s)
{
    if (s->closing) return;
    uint64_t d = next_deadline(s), now = uv_now(s->b->loop);
    if (d == 0) return;
    uv_timer_start(s->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    nb_session_t *s = t->data;
    nb_bridge_t *b = s->b;
    uint64_t now = uv_now(b->loop);
    const nb_bridge_config_t *c = &b->cfg;
    if (now >= s->started_ms + c->turn_timeout_ms) {
        failf(s, 504, "timeout_error", "turn_timeout", "the agent did not finish within the turn timeout");
        return;
    }
    switch (s->state) {
    case ST_RESOLVE:
        if (s->resolve_deadline != 0 && now >= s->resolve_deadline)
            resolve_timed_out(s);
        else
            resolve(s);
        return;
    case ST_EOSE:
        if (now >= s->eose_deadline) {
            work_start(s, 0);
            publish(s); /* a relay that never says EOSE must not block the turn */
        } else
            arm(s);
        return;
    case ST_STREAM:
        if (s->turn.stats.agent_events == 0 && now >= s->published_ms + c->first_event_timeout_ms) {
            failf(s, 504, "timeout_error", "agent_timeout", "the agent did not answer (first-event timeout)");
            return;
        }
        if (s->turn.stats.agent_events > 0 && now >= s->last_event_ms + c->idle_timeout_ms) {
            failf(s, 504, "timeout_error", "agent_timeout", "the agent went silent (idle timeout)");
            return;
        }
        nb_turn_tick(&s->turn, now);
        if (!s->closing) arm(s);
        return;
    default:
        arm(s);
        return;
    }
}

/* ---- entry points ---------------------------------------------------------------------------- */

void nb_session_poke(nb_session_t *s)
{
    if (s->state == ST_RESOLVE && !s->closing) resolve(s);
}

void nb_session_abort(nb_session_t *s, const char *why)
{
    failf(s, 503, "server_error", "shutting_down", "%s", why);
}

static nb_session_t *session_new(nb_bridge_t *b, int key)
{
    b->counters.requests++;
    nb_session_t *s = nb_calloc(1, sizeof(*s));
    s->b = b;
    s->key = key;
    work_start(s, 0); /* the request is in */
    b->per_key[key].open++;
    s->counted_key = true;
    if (b->cfg.apikeys != NULL) nb_apikeys_owner(b->cfg.apikeys, nb_bridge_key_index(key), s->owner);
    s->started_ms = uv_now(b->loop);
    s->created = time(NULL);
    nb_oai_completion_id(s->id, sizeof(s->id));
    nb_buf_init(&s->text, TEXT_CAP);
    nb_buf_init(&s->scratch, TEXT_CAP * 2);
    s->timer = nb_malloc(sizeof(*s->timer));
    uv_timer_init(b->loop, s->timer);
    s->timer->data = s;
    s->state = ST_RESOLVE;
    s->next = b->sessions;
    if (b->sessions) b->sessions->prev = s;
    b->sessions = s;
    b->n_sessions++;
    return s;
}

/*
 * A thread the client names (X-Nostr-Thread, thread_id): its record says where the next message
 * goes (an open ask: to the ask) and to which agent; a thread bridge has no record of continues
 * with the agent that model or the PM picks. Another key's thread is not found (404).
 */
static bool use_thread(nb_session_t *s, const uint8_t thread[32])
{
    uint8_t key[32];
    nb_convo_thread_key(key, thread);
    const nb_convo_entry_t *rec = store_get(s, key);
    memset(&s->prior, 0, sizeof(s->prior));
    memcpy(s->thread, thread, 32); /* the client's name for it, also on the error below */
    s->has_thread = true;
    if (rec != NULL && !owner_may_use(s, rec)) {
        s->b->counters.forbidden_threads++;
        nb_api_error_t e;
        nb_api_error_set(&e, 404, "invalid_request_error", "thread_not_found", NULL,
                         "no thread with that id is known for this API key");
        fail(s, &e);
        return false;
    }
    if (rec != NULL)
        s->prior = *rec;
    else
        memcpy(s->prior.root, thread, 32);
    s->continued = true;
    s->explicit_thread = true;
    return true;
}

/* A history the store knows continues its thread (an open ask: the answer goes to the ask). */
static void use_history(nb_session_t *s)
{
    if (s->chat.last_user == 0) return;
    uint8_t key[32];
    nb_convo_key(key, s->chat.messages, s->chat.last_user, NULL, 0);
    const nb_convo_entry_t *prior = store_get(s, key);
    /* another key's identical history is not this client's conversation */
    if (prior == NULL || !owner_may_use(s, prior)) return;
    static const uint8_t zero[32];
    s->prior = *prior;
    s->continued = true;
    memcpy(s->thread, memcmp(prior->thread, zero, 32) != 0 ? prior->thread : prior->root, 32);
    s->has_thread = true;
}

void nb_session_start(nb_bridge_t *b, nb_http_req_t *r, int key, const char *dtag, const char *body,
                      size_t len)
{
    nb_session_t *s = session_new(b, key);
    s->req = r;
    s->dtag = dtag ? nb_strdup(dtag) : NULL;
    nb_http_req_on_gone(r, on_gone, s);

    nb_api_error_t e;
    if (b->shutting_down) {
        failf(s, 503, "server_error", "shutting_down", "the server is shutting down");
        return;
    }
    if (nb_chat_req_parse(&s->chat, body, len, &b->cfg.limits, &e) != 0) {
        fail(s, &e);
        return;
    }
    /* X-Nostr-Thread names a thread explicitly (hex root id, note or nevent) */
    size_t tlen = 0;
    const char *thread = nb_http_req_header(r, "x-nostr-thread", &tlen);
    if (thread != NULL) {
        nb_nip19_t n;
        uint8_t id[32];
        if (tlen == 64 && nb_hex_decode(id, 32, thread, 64) == 0) {
        } else if (nb_nip19_decode(&n, thread, tlen) == 0 &&
                   (n.type == NB_NIP19_NOTE || n.type == NB_NIP19_NEVENT)) {
            memcpy(id, n.bytes, 32);
        } else {
            nb_api_error_set(
                &e, 400, "invalid_request_error", NULL, NULL,
                "X-Nostr-Thread must be a thread's root event id (64 hex digits, note1… or nevent1…)");
            fail(s, &e);
            return;
        }
        if (use_thread(s, id)) resolve(s);
        return;
    }
    use_history(s);
    resolve(s);
}

nb_session_t *nb_session_start_native(nb_bridge_t *b, const nb_native_sink_t *sink, void *ud, int key,
                                      nb_native_msg_t *msg)
{
    nb_session_t *s = session_new(b, key);
    b->counters.native_turns++;
    s->native = true;
    s->sink = sink;
    s->sink_ud = ud;
    s->dtag = nb_strdup(msg->project);
    s->request_id = msg->request_id;
    msg->request_id = NULL;
    s->chat = msg->chat;
    memset(&msg->chat, 0, sizeof(msg->chat));
    s->chat.stream = true;
    if (b->shutting_down) {
        failf(s, 503, "server_error", "shutting_down", "the server is shutting down");
        return NULL;
    }
    if (msg->has_thread) {
        if (!use_thread(s, msg->thread)) return NULL;
    } else {
        use_history(s);
    }
    resolve(s);
    return s->closing ? NULL : s;
}
