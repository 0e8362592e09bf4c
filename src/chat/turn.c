/*
 * turn.c — the agent's events of one turn → answer text (see turn.h and PROTOCOL.md).
 *
 * The shape of a TENEX run, as the agent publishes it:
 *
 *   24133 (working) · 24135 seq 1,2,3 · kind:1 "conversation" · kind:1 tool · 24135 seq 1,2 ·
 *   kind:1 completion (status completed, p = us) · 24133 (not working)
 *
 * Deltas are ephemeral and best-effort; kind:1s are authoritative. So deltas are streamed as
 * they come (in stream-seq order, briefly holding for a gap), and every kind:1 of the agent
 * closes the current step: whatever the deltas missed is sent from its content.
 */
#include "bridge/turn.h"

#include "bridge/hex.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/tenex_tags.h"

#include <string.h>

#define TEXT_MAX (64u * 1024 * 1024) /* a turn's text is capped by the relay frame size anyway */

void nb_turn_config_defaults(nb_turn_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->gap_hold_ms = 500;
    c->idle_grace_ms = 3000;
}

/* The held ask: its text, and its fields for on_ask as NUL-terminated strings in store, by
 * offset (offset 0 is always ""; ceiling NB_TURN_ASK_MAX). */
typedef struct nb_turn_held_ask nb_turn_held_ask_t;
struct nb_turn_held_ask {
    uint8_t id[32];
    nb_buf_t text;
    nb_buf_t store;
    size_t title, title_len, question, question_len;
    size_t suggestions[NB_TURN_MAX_SUGGESTIONS];
    size_t n_suggestions;
    bool multiselect;
};

void nb_turn_init(nb_turn_t *t, const nb_turn_config_t *cfg, const nb_turn_cb_t *cb, void *ud)
{
    memset(t, 0, sizeof(*t));
    t->cfg = *cfg;
    t->cb = *cb;
    t->ud = ud;
    t->next_seq = 1;
    nb_buf_init(&t->step_sent, TEXT_MAX);
    nb_buf_init(&t->attempt, TEXT_MAX);
}

static void clear_pending(nb_turn_t *t)
{
    for (size_t i = 0; i < t->n_pending; i++)
        nb_free(t->pending[i].text);
    t->n_pending = 0;
    t->gap_deadline = 0;
}

void nb_turn_dispose(nb_turn_t *t)
{
    clear_pending(t);
    nb_free(t->pending);
    t->pending = NULL;
    t->cap_pending = 0;
    nb_buf_dispose(&t->step_sent);
    nb_buf_dispose(&t->attempt);
    if (t->ask != NULL) {
        nb_buf_dispose(&t->ask->text);
        nb_buf_dispose(&t->ask->store);
        nb_free(t->ask);
        t->ask = NULL;
    }
}

/* ---- output ---------------------------------------------------------------------------- */

static void emit(nb_turn_t *t, const char *p, size_t len)
{
    if (len == 0 || t->ended) return;
    /* "\n\n" between steps that produced text: this is the step's first text and an earlier
     * step already said something. */
    if (t->step_sent.len == 0 && t->emitted_any) t->cb.on_text(t->ud, "\n\n", 2);
    t->cb.on_text(t->ud, p, len);
    if (nb_buf_append(&t->step_sent, p, len) != 0)
        nb_buf_reset(&t->step_sent); /* beyond the cap repair is impossible; keep streaming */
    t->emitted_any = true;
}

static void end(nb_turn_t *t, nb_turn_end_t *e)
{
    if (t->ended) return;
    t->ended = true;
    t->gap_deadline = t->idle_deadline = 0;
    t->cb.on_end(t->ud, e);
}

/* ---- deltas ---------------------------------------------------------------------------- */

/* Accept the next in-order delta of the step. */
static void accept(nb_turn_t *t, const char *p, size_t len)
{
    t->stats.deltas++;
    if (!t->retrying) {
        emit(t, p, len);
        return;
    }
    /* A retried step re-streams from the start: send only what goes past what was sent. */
    if (nb_buf_append(&t->attempt, p, len) != 0) return;
    if (t->attempt.len <= t->attempt_upto) return;
    size_t start = t->attempt_upto;
    while (start < t->attempt.len && ((unsigned char)t->attempt.data[start] & 0xC0) == 0x80)
        start++; /* never start in the middle of a UTF-8 sequence */
    t->attempt_upto = t->attempt.len;
    if (start < t->attempt.len) emit(t, t->attempt.data + start, t->attempt.len - start);
}

static void drain(nb_turn_t *t)
{
    bool progress = true;
    while (progress) {
        progress = false;
        for (size_t i = 0; i < t->n_pending; i++) {
            if (t->pending[i].seq < t->next_seq) { /* superseded while held */
                nb_free(t->pending[i].text);
                t->pending[i--] = t->pending[--t->n_pending];
                continue;
            }
            if (t->pending[i].seq == t->next_seq) {
                nb_turn_pending_t d = t->pending[i];
                t->pending[i] = t->pending[--t->n_pending];
                t->next_seq++;
                accept(t, d.text, d.len);
                nb_free(d.text);
                progress = true;
                break;
            }
        }
    }
    if (t->n_pending == 0) t->gap_deadline = 0;
}

static void open_step(nb_turn_t *t, int64_t ral)
{
    t->step_open = true;
    t->step_ral = ral;
    t->next_seq = t->acp ? t->closed_last_seq + 1 : 1;
    nb_buf_reset(&t->step_sent);
    nb_buf_reset(&t->attempt);
    t->retrying = false;
    t->attempt_upto = 0;
}

static void close_step(nb_turn_t *t, const char *content, size_t len, bool repair)
{
    /* The kind:1 is authoritative: held deltas beyond a gap are dropped, the content repairs. */
    clear_pending(t);
    if (repair && len > 0) {
        const nb_buf_t *sent = &t->step_sent;
        if (sent->len == 0) {
            emit(t, content, len);
            t->stats.repaired++;
        } else if (sent->len <= len && memcmp(sent->data, content, sent->len) == 0) {
            if (sent->len < len) {
                emit(t, content + sent->len, len - sent->len);
                t->stats.repaired++;
            }
        } else {
            t->stats.mismatches++;
            NB_DEBUG("turn: streamed text of a step differs from its kind:1 (%zu vs %zu bytes); kept what "
                     "was sent",
                     sent->len, len);
        }
    }
    if (t->max_seq_seen > t->closed_last_seq) t->closed_last_seq = t->max_seq_seen;
    t->any_closed = true;
    t->step_open = false;
    t->retrying = false;
    nb_buf_reset(&t->step_sent);
    nb_buf_reset(&t->attempt);
    t->next_seq = t->acp ? t->closed_last_seq + 1 : 1;
}

static void hold(nb_turn_t *t, int64_t seq, const char *p, size_t len, uint64_t now)
{
    for (size_t i = 0; i < t->n_pending; i++) {
        if (t->pending[i].seq == seq) {
            t->stats.duplicates++;
            return;
        }
    }
    if (t->n_pending == NB_TURN_MAX_PENDING) {
        /* Too far ahead: give up on the gap now rather than hold without bound. */
        t->gap_deadline = now;
        return;
    }
    if (t->n_pending == t->cap_pending) {
        t->cap_pending = t->cap_pending ? t->cap_pending * 2 : 8;
        if (t->cap_pending > NB_TURN_MAX_PENDING) t->cap_pending = NB_TURN_MAX_PENDING;
        t->pending = nb_realloc(t->pending, t->cap_pending * sizeof(*t->pending));
    }
    nb_turn_pending_t *d = &t->pending[t->n_pending++];
    d->seq = seq;
    d->text = nb_malloc(len + 1);
    memcpy(d->text, p, len);
    d->len = len;
    if (t->gap_deadline == 0) t->gap_deadline = now + t->cfg.gap_hold_ms;
}

static void on_delta(nb_turn_t *t, int64_t seq, int64_t ral, bool legacy, const char *p, size_t len,
                     uint64_t now)
{
    if (!legacy && seq == 0) { /* a status line, never answer text */
        if (t->cb.on_status != NULL) t->cb.on_status(t->ud, p, len);
        return;
    }
    if (legacy)
        t->acp = true; /* legacy chunks carry one running sequence number */
    else if (ral != 0)
        t->acp = false; /* ACP agents always say llm-ral 0; the built-in agent counts steps */
    if (!t->step_open) {
        if (t->any_closed && ((!t->acp && seq != 1) || (t->acp && seq <= t->closed_last_seq))) {
            t->stats.dropped_late++; /* a late piece of the step a kind:1 already closed */
            return;
        }
        open_step(t, ral);
    } else if (seq == 1 && !t->acp && t->next_seq > 1) {
        /* seq 1 although this step already had its seq 1 (a reordered first delta is not this) */
        if (ral == t->step_ral) {
            /* seq 1 again with the same llm-ral: the agent retries this step from the start */
            t->stats.retries++;
            clear_pending(t);
            if (!t->retrying) {
                t->retrying = true;
                nb_buf_reset(&t->attempt);
            } else {
                nb_buf_reset(&t->attempt);
            }
            t->attempt_upto = t->step_sent.len;
            t->next_seq = 1;
        } else {
            /* a new step whose predecessor's kind:1 is late: when it comes it closes nothing */
            t->late_rals[t->n_late_rals++ % NB_TURN_LATE_RALS] = t->step_ral;
            close_step(t, NULL, 0, false);
            open_step(t, ral);
        }
    }
    if (seq > t->max_seq_seen) t->max_seq_seen = seq;
    if (seq == t->next_seq) {
        t->next_seq++;
        accept(t, p, len);
        drain(t);
    } else if (seq > t->next_seq) {
        hold(t, seq, p, len, now);
    } else {
        t->stats.duplicates++;
    }
}

/* ---- kind:1 ---------------------------------------------------------------------------- */

static void usage_from(const nb_event_t *ev, nb_turn_end_t *e)
{
    int64_t a = 0, b = 0, c = 0;
    bool ha = nb_tenex_tag_int(ev, "llm-prompt-tokens", &a);
    bool hb = nb_tenex_tag_int(ev, "llm-completion-tokens", &b);
    bool hc = nb_tenex_tag_int(ev, "llm-total-tokens", &c);
    e->has_usage = ha || hb || hc;
    e->usage.prompt_tokens = a;
    e->usage.completion_tokens = b;
    e->usage.total_tokens = hc ? c : a + b;
}

static void on_agent_note(nb_turn_t *t, const nb_event_t *ev)
{
    if (nb_tenex_has_tag(ev, "reasoning", NULL)) return; /* legacy thinking, not answer text */
    const nb_str_t *tool = nb_event_tag_value(ev, "tool");
    bool completed = nb_tenex_has_tag(ev, "status", "completed");
    /* A kind:1 (conversation or tool use) of a step that the next step's first delta already
     * closed — relays deliver stored events after ephemeral ones published later — must not
     * close the step streaming now. It is recognised by its llm-ral: the closed step's, not the
     * open one's. Its text was streamed (what is missing stays lost: repairing it here would put
     * it after the next step's words). A completion or an error always counts. */
    bool owed = false;
    int64_t note_ral;
    if (!completed && t->step_open && nb_tenex_tag_int(ev, "llm-ral", &note_ral) && note_ral != t->step_ral)
        for (size_t i = 0; i < NB_TURN_LATE_RALS && i < t->n_late_rals && !owed; i++)
            owed = t->late_rals[i] == note_ral;
    if (tool != NULL || nb_tenex_has_tag(ev, "tool", NULL)) {
        if (!owed) close_step(t, NULL, 0, false);
        if (tool != NULL && strcmp(tool->p, "delegate") == 0) t->delegate_pending = true;
        if (t->cb.on_tool != NULL) {
            /* The args are passed as sent: the native API decides whether they parse as JSON. */
            const nb_str_t *args = nb_event_tag_value(ev, "tool-args");
            t->cb.on_tool(t->ud, tool != NULL ? tool->p : "", tool != NULL ? tool->len : 0,
                          args != NULL ? args->p : "", args != NULL ? args->len : 0);
        }
        return;
    }
    if (nb_tenex_has_tag(ev, "error", NULL)) {
        close_step(t, NULL, 0, false);
        nb_turn_end_t e = {.kind = NB_TURN_END_ERROR, .error = ev->content.p, .error_len = ev->content.len};
        end(t, &e);
        return;
    }
    if (owed) return;
    close_step(t, ev->content.p, ev->content.len, true);
    if (completed && nb_tenex_has_pubkey_tag(ev, "p", t->cfg.user)) {
        nb_turn_end_t e = {.kind = NB_TURN_END_COMPLETED};
        usage_from(ev, &e);
        end(t, &e);
    }
}

/* Copy p[0..len) into the ask store as a NUL-terminated string; false (nothing kept) when it
 * would pass the store's ceiling. */
static bool keep(nb_turn_held_ask_t *a, const char *p, size_t len, size_t *off)
{
    nb_buf_t *b = &a->store;
    size_t at = b->len;
    if (nb_buf_reserve(b, len + 1) != 0) return false;
    nb_buf_append(b, p, len);
    nb_buf_appendc(b, '\0');
    *off = at;
    return true;
}

/* The ask's fields for on_ask, copied: the ask is held until its run ends (finish_ask), and the
 * event is gone by then. Returns the question tag (NULL: none), which the text then leaves out
 * under structured_ask. */
static const nb_tag_t *keep_ask(nb_turn_held_ask_t *a, const nb_event_t *ev)
{
    nb_buf_reset(&a->store);
    nb_buf_appendc(&a->store, '\0'); /* offset 0: "" */
    a->title = a->title_len = a->question = a->question_len = 0;
    a->n_suggestions = 0;
    a->multiselect = false;
    const nb_tag_t *q = NULL;
    for (uint32_t i = 0; i < ev->ntags && q == NULL; i++) {
        const nb_tag_t *x = &ev->tags[i];
        if ((nb_tag_is(x, "question") || nb_tag_is(x, "multiselect")) && x->n >= 3) q = x;
    }
    const nb_str_t *title = nb_event_tag_value(ev, "title");
    if ((title == NULL || title->len == 0) && q != NULL) title = &q->items[1];
    if (title != NULL && keep(a, title->p, title->len, &a->title)) a->title_len = title->len;
    const nb_str_t *question = q != NULL && q->items[2].len > 0 ? &q->items[2] : &ev->content;
    if (keep(a, question->p, question->len, &a->question)) a->question_len = question->len;
    if (q == NULL) return NULL;
    a->multiselect = nb_tag_is(q, "multiselect");
    for (uint32_t j = 3; j < q->n && a->n_suggestions < NB_TURN_MAX_SUGGESTIONS; j++)
        if (keep(a, q->items[j].p, q->items[j].len, &a->suggestions[a->n_suggestions])) a->n_suggestions++;
    return q;
}

/* The ask: text, then the question's prompt and its suggested answers as a list — except, under
 * structured_ask, the question that goes to on_ask. */
static void note_ask(nb_turn_t *t, const nb_event_t *ev, uint64_t now)
{
    if (t->ask == NULL) {
        t->ask = nb_calloc(1, sizeof(*t->ask));
        nb_buf_init(&t->ask->text, 64 * 1024);
        nb_buf_init(&t->ask->store, NB_TURN_ASK_MAX);
    }
    const nb_tag_t *asked = keep_ask(t->ask, ev);
    nb_buf_t *b = &t->ask->text;
    nb_buf_reset(b);
    if (ev->content.len > 0) nb_buf_append(b, ev->content.p, ev->content.len);
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const nb_tag_t *q = &ev->tags[i];
        if ((!nb_tag_is(q, "question") && !nb_tag_is(q, "multiselect")) || q->n < 3) continue;
        if (t->cfg.structured_ask && q == asked) continue;
        /* ["question", title, prompt, suggestion…] */
        if (q->items[2].len > 0 && !(ev->content.len == q->items[2].len &&
                                     memcmp(ev->content.p, q->items[2].p, q->items[2].len) == 0)) {
            if (b->len > 0) nb_buf_appends(b, "\n\n");
            nb_buf_append(b, q->items[2].p, q->items[2].len);
        }
        for (uint32_t j = 3; j < q->n; j++) {
            nb_buf_appends(b, j == 3 ? "\n\n- " : "\n- ");
            nb_buf_append(b, q->items[j].p, q->items[j].len);
        }
    }
    memcpy(t->ask->id, ev->id, 32);
    t->ask_pending = true;
    /* The run ends with the agent's last words in the original thread (a conversation kind:1)
     * and an activity update; wait for either, but not for long. */
    t->idle_deadline = now + t->cfg.idle_grace_ms;
}

static void finish_ask(nb_turn_t *t)
{
    const nb_turn_held_ask_t *h = t->ask; /* set: ask_pending */
    close_step(t, NULL, 0, false);
    if (h->text.len > 0) emit(t, h->text.data, h->text.len);
    if (t->cb.on_ask != NULL) {
        const char *store = h->store.data;
        nb_turn_ask_t a = {
            .title = store + h->title,
            .title_len = h->title_len,
            .question = store + h->question,
            .question_len = h->question_len,
            .n_suggestions = h->n_suggestions,
            .multiselect = h->multiselect,
        };
        memcpy(a.ask_id, h->id, 32);
        memcpy(a.agent, t->cfg.agent, 32);
        for (size_t i = 0; i < h->n_suggestions; i++)
            a.suggestions[i] = store + h->suggestions[i];
        t->cb.on_ask(t->ud, &a);
    }
    nb_turn_end_t e = {.kind = NB_TURN_END_ASK};
    memcpy(e.ask_id, h->id, 32);
    memcpy(e.ask_agent, t->cfg.agent, 32);
    end(t, &e);
}

/* ---- dispatch -------------------------------------------------------------------------- */

static bool is_backend(const nb_turn_t *t, const uint8_t pk[32])
{
    for (size_t i = 0; i < t->cfg.n_backends; i++)
        if (memcmp(t->cfg.backends[i], pk, 32) == 0) return true;
    return false;
}

static bool in_thread(const nb_turn_t *t, const nb_event_t *ev)
{
    uint8_t id[32];
    if (nb_tenex_root(ev, id) && memcmp(id, t->cfg.root, 32) == 0) return true;
    return nb_tenex_reply(ev, id) && memcmp(id, t->cfg.msg_id, 32) == 0;
}

/* The pubkeys of ev's tags named name (items[1], 64 hex; others skipped), at most
 * NB_TURN_MAX_AGENTS. */
static size_t pubkeys(const nb_event_t *ev, const char *name, uint8_t out[NB_TURN_MAX_AGENTS][32])
{
    size_t n = 0;
    for (uint32_t i = 0; i < ev->ntags && n < NB_TURN_MAX_AGENTS; i++)
        if (nb_tag_is(&ev->tags[i], name) && nb_tenex_tag_hex32(&ev->tags[i], 1, out[n])) n++;
    return n;
}

/* The target agent's new root whose delegation tag names our thread (an ask or a delegation). */
static bool delegated_from_here(const nb_turn_t *t, const nb_event_t *ev)
{
    const nb_str_t *d = nb_event_tag_value(ev, "delegation");
    uint8_t parent[32];
    return d != NULL && d->len == 64 && nb_hex_decode(parent, 32, d->p, 64) == 0 &&
           memcmp(parent, t->cfg.root, 32) == 0;
}

static void on_activity(nb_turn_t *t, const nb_event_t *ev, uint64_t now)
{
    uint8_t e[32];
    if (!nb_tenex_unmarked_e(ev, e) || memcmp(e, t->cfg.root, 32) != 0) {
        t->stats.wrong_thread++;
        return;
    }
    if (t->cb.on_activity != NULL) {
        uint8_t agents[NB_TURN_MAX_AGENTS][32];
        size_t n = pubkeys(ev, "p", agents);
        t->cb.on_activity(t->ud, (const uint8_t(*)[32])agents, n);
    }
    if (nb_tenex_has_pubkey_tag(ev, "p", t->cfg.agent)) {
        t->agent_working = true; /* a (new) run started: a delegation's second run, say */
        t->delegate_pending = false;
        if (!t->ask_pending) t->idle_deadline = 0;
        return;
    }
    if (!t->agent_working && t->stats.agent_events == 0) return; /* about another agent's run */
    t->agent_working = false;
    if (t->ask_pending) {
        finish_ask(t);
        return;
    }
    if (!t->delegate_pending) t->idle_deadline = now + t->cfg.idle_grace_ms;
}

void nb_turn_on_event(nb_turn_t *t, const nb_event_t *ev, uint64_t now)
{
    if (t->ended) return;
    bool from_agent = memcmp(ev->pubkey, t->cfg.agent, 32) == 0;
    bool from_backend = is_backend(t, ev->pubkey);
    if (!from_agent && !from_backend) {
        t->stats.wrong_author++;
        return;
    }
    if (ev->kind == NB_KIND_ACTIVITY) {
        if (from_backend)
            on_activity(t, ev, now);
        else
            t->stats.wrong_author++;
        return;
    }
    if (!from_agent) {
        /* The backend speaks for a crashed agent process: kind:1, unmarked e = our message,
         * p = us, no status. */
        uint8_t e[32];
        if (ev->kind == NB_KIND_TEXT && !nb_tenex_has_tag(ev, "status", NULL) && nb_tenex_unmarked_e(ev, e) &&
            memcmp(e, t->cfg.msg_id, 32) == 0 && nb_tenex_has_pubkey_tag(ev, "p", t->cfg.user)) {
            close_step(t, NULL, 0, false);
            nb_turn_end_t x = {
                .kind = NB_TURN_END_ERROR, .error = ev->content.p, .error_len = ev->content.len};
            end(t, &x);
        } else {
            t->stats.wrong_author++;
        }
        return;
    }
    /* An ask is a new root linked to our thread only by its delegation tag. */
    if ((ev->kind == NB_KIND_TEXT || ev->kind == NB_KIND_LEGACY_REPLY) &&
        nb_tenex_has_tag(ev, "ask", "true")) {
        if (delegated_from_here(t, ev) && nb_tenex_has_pubkey_tag(ev, "p", t->cfg.user)) {
            t->stats.agent_events++;
            note_ask(t, ev, now);
        } else {
            t->stats.wrong_thread++;
        }
        return;
    }
    /* A delegation is a new root too (p = the delegatees, content "@slug: …"): not text and not a
     * step end. Like the ["tool","delegate"] kind:1 that follows it, it means the agent's run
     * will end without a completion and a later run brings it. */
    if (ev->kind == NB_KIND_TEXT && delegated_from_here(t, ev)) {
        t->stats.agent_events++;
        t->delegate_pending = true;
        if (t->cb.on_delegation != NULL) {
            uint8_t to[NB_TURN_MAX_AGENTS][32];
            size_t n = pubkeys(ev, "p", to);
            t->cb.on_delegation(t->ud, (const uint8_t(*)[32])to, n);
        }
        return;
    }
    if (!in_thread(t, ev)) {
        t->stats.wrong_thread++;
        return;
    }
    t->stats.agent_events++;
    switch (ev->kind) {
    case NB_KIND_DELTA:
    case NB_KIND_LEGACY_CHUNK: {
        bool legacy = ev->kind == NB_KIND_LEGACY_CHUNK;
        if (legacy && nb_tenex_has_tag(ev, "reasoning", NULL)) return;
        int64_t seq = 0, ral = 0;
        if (!nb_tenex_tag_int(ev, legacy ? "sequence" : "stream-seq", &seq) || seq < 0) return;
        if (legacy)
            seq += 1; /* keep 0 free: legacy sequences may start at 0 and have no status lines */
        else
            nb_tenex_tag_int(ev, "llm-ral", &ral);
        on_delta(t, seq, ral, legacy, ev->content.p, ev->content.len, now);
        return;
    }
    case NB_KIND_TEXT:
    case NB_KIND_LEGACY_REPLY:
        on_agent_note(t, ev);
        return;
    default:
        return;
    }
}

uint64_t nb_turn_deadline(const nb_turn_t *t)
{
    if (t->ended) return 0;
    uint64_t d = t->gap_deadline;
    if (t->idle_deadline != 0 && (d == 0 || t->idle_deadline < d)) d = t->idle_deadline;
    return d;
}

static void skip_gap(nb_turn_t *t)
{
    /* Give up on the missing delta(s): go on from the lowest one held. */
    int64_t low = t->pending[0].seq;
    for (size_t i = 1; i < t->n_pending; i++)
        if (t->pending[i].seq < low) low = t->pending[i].seq;
    t->stats.gaps_skipped += (uint64_t)(low - t->next_seq);
    if (!t->any_closed && t->step_sent.len == 0 && t->next_seq == 1 && low > 1 && t->step_ral == 0)
        t->acp = true; /* a first step that starts above 1: one never-resetting counter */
    t->next_seq = low;
    drain(t);
}

void nb_turn_tick(nb_turn_t *t, uint64_t now)
{
    if (t->ended) return;
    while (t->gap_deadline != 0 && now >= t->gap_deadline && t->n_pending > 0) {
        t->gap_deadline = 0;
        skip_gap(t);
        if (t->n_pending > 0) t->gap_deadline = now + t->cfg.gap_hold_ms;
    }
    if (t->idle_deadline != 0 && now >= t->idle_deadline) {
        t->idle_deadline = 0;
        if (t->ask_pending) {
            finish_ask(t);
            return;
        }
        nb_turn_flush(t);
        nb_turn_end_t e = {.kind = NB_TURN_END_IDLE};
        end(t, &e);
    }
}

void nb_turn_flush(nb_turn_t *t)
{
    while (t->n_pending > 0)
        skip_gap(t);
}
