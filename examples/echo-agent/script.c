/*
 * script.c — what a run will say, decided up front as a list of actions (echo_act_t).
 *
 * A run is one or more LLM "steps", like the built-in TENEX agent's turn loop: every step but
 * the last ends in a tool call (its text, if any, goes out as a "conversation" kind:1 first);
 * the last step's text is the completion. Deltas of a step carry stream-seq 1, 2, … and the
 * agent's step counter as llm-ral; the kind:1 that closes the step carries counter + 1
 * (hook.rs's finish_stream increments first — the off-by-one a reader must not rely on).
 *
 * Directives change the shape (see README.md); everything is deterministic so tests can
 * predict every byte of the reply.
 */
#include "echo_agent.h"

#include "bridge/json.h"
#include "bridge/mem.h"

#include <stdio.h>
#include <string.h>

/* Words mode: one word and the whitespace after it per delta, but never more than this. */
#define WORD_MAX 64
/* #huge without #chunk / --chunk: bytes per delta (words would mean thousands of events). */
#define HUGE_CHUNK 1024
/* The retry status line promises 1 s. */
#define RETRY_WAIT_MS 1000
/* #die: how long the deltas before it get to reach the relay. */
#define DIE_FLUSH_MS 250
/* #delegate: the delegator resumes this long after its delegatee finished. */
#define RESUME_WAIT_MS 1000

static const char retry_status[] = "\xE2\x9A\xA0\xEF\xB8\x8F Model temporarily unavailable, retrying in 1s "
                                   "(attempt 1/5)\xE2\x80\xA6";

/* #unicode: what a hostile model may write. Emoji (ZWJ family, flag, skin tone), Arabic and
 * Hebrew with RTL overrides, combining marks (and a zalgo pile), every kind of quote,
 * backslashes and things that look like escapes, CR/LF/CRLF, control characters including NUL
 * and ESC, U+2028/U+2029 (which break JavaScript string literals), zero-width characters and a
 * BOM, and an SSE "data: [DONE]" line. */
static const char hostile[] =
    "emoji: "
    "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6 "
    "\xF0\x9F\x87\xBA\xF0\x9F\x87\xB3 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD \xF0\x9F\x98\x80.\n"
    "rtl: \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D "
    "\xE2\x80\xAE"
    "desrever\xE2\x80\xAC end.\n"
    "combining: e\xCC\x81 n\xCC\x83 Z\xCC\xA4\xCD\x94\xCD\xA7\xCC\x91\xCC\x93"
    "a\xCC\x88\xCD\x96\xCC\xAD\xCC\x87"
    "l\xCD\xAE\xCC\x92\xCD\xAB"
    "g\xCC\x8C\xCC\x97\xCD\x9A"
    "o\xCC\x99\xCC\x94\xCD\xAE.\n"
    "quotes: \"double\" 'single' `back` \xC2\xAB"
    "guillemets\xC2\xBB \xE2\x80\x9E"
    "low\xE2\x80\x9C "
    "\xE2\x80\x98"
    "curly\xE2\x80\x99.\n"
    "backslashes: \\ \\\\ \\n \\u0041 \\\" C:\\path\\to\\file.\n"
    "newlines: one\ntwo\r\nthree\rfour\n\n"
    "control: [\x01][\x1B[31m][\x7F][\t][\b][\f][\0] end.\n"
    "separators: [\xE2\x80\xA8][\xE2\x80\xA9] zero-width: a\xE2\x80\x8B"
    "b\xE2\x80\x8D"
    "c\xEF\xBB\xBF"
    "d.\n"
    "sse: \ndata: [DONE]\n\n"
    "json: {\"role\":\"assistant\",\"content\":null} </script> %s %n.";

static const char filler[] = "lorem ipsum dolor sit amet, consectetur adipiscing elit. ";

typedef struct {
    echo_app_t *app;
    echo_run_t *r;
    echo_agent_t *agent;
    const echo_directives_t *d;
    size_t chunk;         /* bytes per delta; 0 = words */
    uint32_t delay;       /* before other actions */
    uint32_t delta_delay; /* before deltas */
    bool acp;
    bool retried;
    uint32_t ral; /* the step counter the deltas carry */
    uint64_t prompt_tokens, completion_tokens;
} script_t;

/* ---- actions ------------------------------------------------------------------------------ */

echo_act_t *echo_run_push(echo_run_t *r, echo_act_kind_t kind, uint32_t delay_ms)
{
    if (r->n_acts == r->cap_acts) {
        r->cap_acts = r->cap_acts ? r->cap_acts * 2 : 16;
        r->acts = nb_realloc(r->acts, r->cap_acts * sizeof *r->acts);
    }
    echo_act_t *a = &r->acts[r->n_acts++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->delay_ms = delay_ms;
    return a;
}

static char *dup_bytes(const char *p, size_t len)
{
    char *s = nb_malloc(len + 1);
    if (len > 0) memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

static echo_act_t *push_text(script_t *s, echo_act_kind_t kind, uint32_t delay, const char *text, size_t len)
{
    echo_act_t *a = echo_run_push(s->r, kind, delay);
    a->text = dup_bytes(text, len);
    a->len = len;
    return a;
}

/* The counter the kind:1 closing the current step carries (ACP: always 0). */
static uint32_t closing_ral(const script_t *s)
{
    return s->acp ? 0 : s->ral + 1;
}

/* ---- cutting text into deltas ------------------------------------------------------------- */

static bool is_cont(const char *t, size_t i)
{
    return ((unsigned char)t[i] & 0xC0) == 0x80;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
}

/* End of the piece that starts at pos: never inside a UTF-8 sequence, never empty. */
static size_t piece_end(const char *t, size_t len, size_t pos, size_t chunk)
{
    size_t end;
    if (chunk == 0) {
        end = pos;
        while (end < len && !is_space(t[end]))
            end++;
        while (end < len && is_space(t[end]))
            end++;
        if (end - pos > WORD_MAX) end = pos + WORD_MAX;
    } else {
        end = len - pos > chunk ? pos + chunk : len;
    }
    while (end < len && end > pos && is_cont(t, end))
        end--;
    if (end == pos) { /* a chunk smaller than one character: take the whole character */
        end = pos + 1;
        while (end < len && is_cont(t, end))
            end++;
    }
    return end;
}

/* Offsets of the pieces of t: cuts[0] = 0 < cuts[1] < … < cuts[n] = len. Returns n (new array). */
static size_t split(const char *t, size_t len, size_t chunk, size_t **cuts)
{
    size_t n = 0, cap = 16;
    size_t *c = nb_malloc(cap * sizeof *c);
    c[0] = 0;
    for (size_t pos = 0; pos < len;) {
        pos = piece_end(t, len, pos, chunk);
        if (n + 2 > cap) {
            cap *= 2;
            c = nb_realloc(c, cap * sizeof *c);
        }
        c[++n] = pos;
    }
    *cuts = c;
    return n;
}

static void push_delta(script_t *s, const char *t, const size_t *cuts, size_t k, uint64_t seq, bool twice)
{
    echo_act_t *a = push_text(s, ECHO_ACT_DELTA, s->delta_delay, t + cuts[k], cuts[k + 1] - cuts[k]);
    a->seq = seq;
    a->ral = s->acp ? 0 : s->ral;
    a->twice = twice;
}

/*
 * Stream text as one step's deltas. final: the answer step, where #drop/#reorder/#dup apply.
 * max_pieces (0 = all): stop early (#crash, #die). #retry applies to the first step with text:
 * part of it, a seq-0 status line, then the whole step again from seq 1 with the same llm-ral.
 */
static void stream(script_t *s, const char *t, size_t len, bool final, size_t max_pieces)
{
    size_t *cuts;
    size_t n = split(t, len, s->chunk, &cuts);
    s->completion_tokens += (len + 3) / 4;
    s->prompt_tokens += 10 + s->r->msg.len / 4;
    if (n == 0) goto out;
    if (s->d->retry && !s->acp && !s->retried && max_pieces == 0) {
        s->retried = true;
        size_t part = n > 1 ? n / 2 : 1;
        for (size_t k = 0; k < part; k++)
            push_delta(s, t, cuts, k, k + 1, false);
        echo_act_t *st = push_text(s, ECHO_ACT_STATUS, s->delta_delay, retry_status, strlen(retry_status));
        st->seq = 0;
        st->ral = s->ral;
        /* the re-stream's first delta comes after the promised wait */
        push_delta(s, t, cuts, 0, 1, false);
        s->r->acts[s->r->n_acts - 1].delay_ms = RETRY_WAIT_MS;
        for (size_t k = 1; k < n; k++)
            push_delta(s, t, cuts, k, k + 1, final && s->d->dup && (k + 1) % 2 == 0);
        goto out;
    }
    if (max_pieces != 0 && n > max_pieces) n = max_pieces;
    /* Order of publication: #reorder swaps the 2nd and 3rd delta. */
    for (size_t i = 0; i < n; i++) {
        size_t k = i;
        if (final && s->d->reorder && n >= 3 && (i == 1 || i == 2)) k = i == 1 ? 2 : 1;
        uint64_t seq = s->acp ? s->agent->acp_seq + 1 + k : (uint64_t)k + 1;
        if (final && s->d->drop == k + 1) continue; /* never published: a gap */
        push_delta(s, t, cuts, k, seq, final && s->d->dup && (k + 1) % 2 == 0);
    }
    if (s->acp) s->agent->acp_seq += n;
out:
    nb_free(cuts);
}

/* ---- the texts ---------------------------------------------------------------------------- */

/* "echo: <text>", the memory sentence on a follow-up, then #unicode / #huge. */
static void answer_text(script_t *s, nb_buf_t *out)
{
    const echo_msg_t *m = &s->r->msg;
    nb_buf_appends(out, "echo: ");
    if (m->ask_answer) {
        nb_buf_append(out, m->asked_text, m->asked_len);
        nb_buf_appends(out, " (you answered: ");
        nb_buf_append(out, m->text, m->len);
        nb_buf_appends(out, ")");
    } else {
        if (m->len > 0)
            nb_buf_append(out, m->text, m->len);
        else
            nb_buf_appends(out, "(empty message)");
        uint32_t turn = 0;
        const char *prev = NULL;
        size_t prev_len = 0;
        if (!s->r->delegated && echo_memory_lookup(s->app, m->root_hex, m->id_hex, &turn, &prev, &prev_len) &&
            turn > 1) {
            nb_buf_appendf(out, " (turn %u; you said before: ", turn);
            if (prev != NULL) nb_buf_append(out, prev, prev_len);
            nb_buf_appends(out, ")");
        }
    }
    if (s->d->unicode) {
        nb_buf_appendc(out, '\n');
        nb_buf_append(out, hostile, sizeof hostile - 1);
    }
    if (s->d->huge > out->len) {
        nb_buf_appendc(out, ' ');
        while (out->len < s->d->huge) {
            size_t want = s->d->huge - out->len;
            nb_buf_append(out, filler, want < sizeof filler - 1 ? want : sizeof filler - 1);
        }
    }
}

static void tool_args_step(nb_buf_t *b, uint32_t step, uint32_t of)
{
    nb_buf_appendf(b, "{\"step\":%u,\"of\":%u}", step, of);
}

/* ---- the shapes of a run ------------------------------------------------------------------ */

static void script_init(script_t *s, echo_app_t *app, echo_run_t *r)
{
    memset(s, 0, sizeof *s);
    s->app = app;
    s->r = r;
    s->agent = &app->cfg.agents[r->agent];
    s->d = &r->msg.d;
    s->acp = s->d->acp;
    s->chunk = s->d->chunk ? s->d->chunk : app->cfg.chunk ? app->cfg.chunk : s->d->huge ? HUGE_CHUNK : 0;
    s->delay = app->cfg.delay_ms;
    s->delta_delay = s->d->slow_ms >= 0 ? (uint32_t)s->d->slow_ms : app->cfg.delay_ms;
}

static void push_completion(script_t *s, const char *t, size_t len)
{
    echo_act_t *a = push_text(s, ECHO_ACT_COMPLETION, s->delay, t, len);
    a->ral = closing_ral(s);
    a->usage[0] = s->prompt_tokens;
    a->usage[1] = s->completion_tokens;
    a->usage[2] = s->prompt_tokens + s->completion_tokens;
}

/* Every step but the last: text (unless #tool) + conversation kind:1, then a tool call. */
static void intermediate_steps(script_t *s, uint32_t steps)
{
    for (uint32_t k = 0; k + 1 < steps; k++) {
        s->ral = s->acp ? 0 : k;
        if (!s->d->tool) {
            char text[96];
            int n = snprintf(text, sizeof text, "Step %u of %u: thinking it over. ", k + 1, steps);
            stream(s, text, (size_t)n, false, 0);
            push_text(s, ECHO_ACT_CONVERSATION, s->delay, text, (size_t)n)->ral = closing_ral(s);
        } else {
            s->prompt_tokens += 10 + s->r->msg.len / 4;
        }
        nb_buf_t args;
        nb_buf_init(&args, 256);
        tool_args_step(&args, k + 1, steps);
        echo_act_t *a = echo_run_push(s->r, ECHO_ACT_TOOL, s->delay);
        a->aux = dup_bytes("echo_probe", 10);
        a->aux_len = 10;
        a->args = nb_buf_steal(&args, NULL);
        a->ral = closing_ral(s);
    }
    s->ral = s->acp ? 0 : steps - 1;
}

static void final_ask(script_t *s)
{
    static const char intro[] = "I need your input before I can answer. ";
    static const char body[] = "Before I echo your message, please confirm.";
    const echo_msg_t *m = &s->r->msg;
    stream(s, intro, sizeof intro - 1, true, 0);
    echo_act_t *a = push_text(s, ECHO_ACT_ASK, s->delay, body, sizeof body - 1);
    a->ral = closing_ral(s);
    nb_buf_t prompt;
    nb_buf_init(&prompt, SIZE_MAX);
    nb_buf_appends(&prompt, "Should I echo \"");
    nb_buf_append(&prompt, m->text, m->len);
    nb_buf_appends(&prompt, "\"?");
    a->aux = nb_buf_steal(&prompt, &a->aux_len);
    push_text(s, ECHO_ACT_CONVERSATION, s->delay, intro, sizeof intro - 1)->ral = closing_ral(s);
}

/* delegate: say so, delegate (tool kind:1), go idle, wait for the delegatee, then a second run
 * with the completion. */
static void final_delegate(script_t *s, const char *answer, size_t answer_len)
{
    echo_app_t *app = s->app;
    const echo_msg_t *m = &s->r->msg;
    bool other = app->cfg.n_agents > 1;
    const char *to = app->cfg.agents[echo_config_delegatee(&app->cfg, s->r->agent)].slug;
    char intro[96];
    int n = snprintf(intro, sizeof intro, "Let me delegate this to %s. ", to);
    stream(s, intro, (size_t)n, false, 0);
    push_text(s, ECHO_ACT_CONVERSATION, s->delay, intro, (size_t)n)->ral = closing_ral(s);

    nb_buf_t args;
    nb_buf_init(&args, SIZE_MAX);
    nb_buf_appends(&args, "{\"recipients\":[");
    nb_json_write_string(&args, to, strlen(to));
    nb_buf_appends(&args, "],\"prompt\":");
    nb_json_write_string(&args, m->text, m->len);
    nb_buf_appends(&args, "}");
    /* DELEGATE: text = the prompt for the delegatee; without another agent only the tool call. */
    echo_act_t *a = other ? push_text(s, ECHO_ACT_DELEGATE, s->delay, m->text, m->len)
                          : echo_run_push(s->r, ECHO_ACT_TOOL, s->delay);
    a->aux = dup_bytes("delegate", 8);
    a->aux_len = 8;
    a->args = nb_buf_steal(&args, NULL);
    a->ral = closing_ral(s);
    echo_run_push(s->r, ECHO_ACT_IDLE, s->delay);
    echo_run_push(s->r, ECHO_ACT_AWAIT, 0);
    echo_run_push(s->r, ECHO_ACT_BUSY, RESUME_WAIT_MS);

    /* The second run: a fresh step counter and usage. */
    s->ral = 0;
    s->prompt_tokens = s->completion_tokens = 0;
    nb_buf_t t;
    nb_buf_init(&t, SIZE_MAX);
    nb_buf_append(&t, answer, answer_len);
    nb_buf_appendf(&t, " (delegated to %s)", to);
    stream(s, t.data, t.len, true, 0);
    push_completion(s, t.data, t.len);
    nb_buf_dispose(&t);
}

void echo_script_reply(echo_app_t *app, echo_run_t *r)
{
    script_t s;
    script_init(&s, app, r);
    const echo_directives_t *d = s.d;
    if (d->silent) return; /* nothing at all */

    nb_buf_t answer;
    nb_buf_init(&answer, SIZE_MAX);
    answer_text(&s, &answer);

    uint32_t steps = d->steps ? d->steps : 1;
    if (d->tool && steps < 2) steps = 2;
    echo_run_push(r, ECHO_ACT_BUSY, 0);
    intermediate_steps(&s, steps);

    if (d->error) {
        static const char text[] = "Simulated failure: the echo model returned an error (#error).";
        s.prompt_tokens += 10;
        push_text(&s, ECHO_ACT_ERROR, s.delay, text, sizeof text - 1)->ral = closing_ral(&s);
    } else if (d->crash) {
        stream(&s, answer.data, answer.len, true, 2);
        echo_run_push(r, ECHO_ACT_CRASH, s.delay);
    } else if (d->die) {
        /* Give the last deltas time to leave the process: the bridge should see some text. */
        stream(&s, answer.data, answer.len, true, 3);
        echo_run_push(r, ECHO_ACT_DIE, s.delay + DIE_FLUSH_MS);
    } else if (d->ask && !r->msg.ask_answer) {
        final_ask(&s);
    } else if (d->delegate) {
        final_delegate(&s, answer.data, answer.len);
    } else {
        stream(&s, answer.data, answer.len, true, 0);
        if (d->nocompletion)
            push_text(&s, ECHO_ACT_CONVERSATION, s.delay, answer.data, answer.len)->ral = closing_ral(&s);
        else
            push_completion(&s, answer.data, answer.len);
    }
    echo_run_push(r, ECHO_ACT_IDLE, s.delay);
    nb_buf_dispose(&answer);
}

void echo_script_delegatee(echo_app_t *app, echo_run_t *r)
{
    script_t s;
    script_init(&s, app, r);
    nb_buf_t answer;
    nb_buf_init(&answer, SIZE_MAX);
    answer_text(&s, &answer);
    echo_run_push(r, ECHO_ACT_BUSY, 0);
    stream(&s, answer.data, answer.len, false, 0);
    push_completion(&s, answer.data, answer.len);
    echo_run_push(r, ECHO_ACT_IDLE, s.delay);
    nb_buf_dispose(&answer);
}
