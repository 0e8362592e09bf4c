/* The turn state machine: every case of PROTOCOL.md "One turn, step by step" (4 and 5). */
#include "bridge/hex.h"
#include "bridge/tenex_tags.h"
#include "bridge/turn.h"
#include "test.h"
#include "test_events.h"

static uint8_t AGENT[32], USER[32], BACKEND[32], STRANGER[32], ROOT[32], MSG[32], OTHER_ROOT[32], CODER[32];
static char ROOT_HEX[65], MSG_HEX[65], USER_HEX[65], AGENT_HEX[65], OTHER_HEX[65], CODER_HEX[65],
    STRANGER_HEX[65];

typedef struct {
    nb_buf_t text;
    nb_buf_t status;
    int ends;
    nb_turn_end_t end;
    char error[256];
    bool dispose_in_end; /* on_end disposes the turn (allowed there) */
    int after_end;       /* callbacks made after on_end: must stay 0 */
    nb_buf_t order;      /* one letter per callback: x text, t tool, a activity, q ask, d delegation, E end */
    /* on_tool: "name(args)" per call; the last args byte for byte */
    nb_buf_t tools;
    nb_buf_t tool_args;
    int n_tools;
    /* on_activity / on_delegation: calls and the last list */
    int activities;
    size_t n_agents;
    uint8_t agents[NB_TURN_MAX_AGENTS][32];
    int delegations;
    size_t n_to;
    uint8_t to[NB_TURN_MAX_AGENTS][32];
    /* on_ask: a copy of the last one, and the text sent before it */
    int asks;
    nb_turn_ask_t ask;
    nb_buf_t ask_title, ask_question, ask_suggestions; /* suggestions joined with '|' */
    char text_at_ask[512];
} sink_t;

static void log_call(sink_t *s, char what)
{
    if (s->ends > 0) s->after_end++;
    nb_buf_appendc(&s->order, what);
}

static void on_text(void *ud, const char *p, size_t len)
{
    log_call(ud, 'x');
    nb_buf_append(&((sink_t *)ud)->text, p, len);
}
static void on_status(void *ud, const char *p, size_t len)
{
    nb_buf_append(&((sink_t *)ud)->status, p, len);
    nb_buf_appendc(&((sink_t *)ud)->status, '|');
}
static nb_turn_t T;
static void on_end(void *ud, const nb_turn_end_t *e)
{
    sink_t *s = ud;
    log_call(s, 'E');
    s->ends++;
    s->end = *e;
    if (e->error) snprintf(s->error, sizeof(s->error), "%.*s", (int)e->error_len, e->error);
    if (s->dispose_in_end) nb_turn_dispose(&T);
}
static void on_tool(void *ud, const char *name, size_t name_len, const char *args, size_t args_len)
{
    sink_t *s = ud;
    log_call(s, 't');
    s->n_tools++;
    NB_CHECK(name != NULL && name[name_len] == '\0');
    NB_CHECK(args != NULL && args[args_len] == '\0');
    nb_buf_append(&s->tools, name, name_len);
    nb_buf_appendc(&s->tools, '(');
    nb_buf_append(&s->tools, args, args_len);
    nb_buf_appends(&s->tools, ")");
    nb_buf_reset(&s->tool_args);
    nb_buf_append(&s->tool_args, args, args_len);
}
static void on_activity_cb(void *ud, const uint8_t (*agents)[32], size_t n)
{
    sink_t *s = ud;
    log_call(s, 'a');
    s->activities++;
    NB_CHECK(n <= NB_TURN_MAX_AGENTS);
    s->n_agents = n;
    if (n > 0) memcpy(s->agents, agents, n * 32);
}
static void on_ask(void *ud, const nb_turn_ask_t *a)
{
    sink_t *s = ud;
    log_call(s, 'q');
    s->asks++;
    s->ask = *a;
    snprintf(s->text_at_ask, sizeof(s->text_at_ask), "%s", s->text.data ? s->text.data : "");
    NB_CHECK(a->title[a->title_len] == '\0' && a->question[a->question_len] == '\0');
    nb_buf_reset(&s->ask_title);
    nb_buf_append(&s->ask_title, a->title, a->title_len);
    nb_buf_reset(&s->ask_question);
    nb_buf_append(&s->ask_question, a->question, a->question_len);
    nb_buf_reset(&s->ask_suggestions);
    for (size_t i = 0; i < a->n_suggestions; i++) {
        if (i > 0) nb_buf_appendc(&s->ask_suggestions, '|');
        nb_buf_appends(&s->ask_suggestions, a->suggestions[i]);
    }
}
static void on_delegation(void *ud, const uint8_t (*to)[32], size_t n)
{
    sink_t *s = ud;
    log_call(s, 'd');
    s->delegations++;
    s->n_to = n;
    if (n > 0) memcpy(s->to, to, n * 32);
}

static sink_t S;
static uint64_t NOW;

/* structured: the native API's ask; all: install every optional callback (else only the OpenAI
 * route's on_text / on_status / on_end). */
static void start_with(bool structured, bool all)
{
    memset(&S, 0, sizeof(S));
    nb_buf_init(&S.text, 1 << 20);
    nb_buf_init(&S.status, 1 << 20);
    nb_buf_init(&S.order, 1 << 20);
    nb_buf_init(&S.tools, 1 << 20);
    nb_buf_init(&S.tool_args, 1 << 20);
    nb_buf_init(&S.ask_title, 1 << 20);
    nb_buf_init(&S.ask_question, 1 << 20);
    nb_buf_init(&S.ask_suggestions, 1 << 20);
    nb_turn_config_t c;
    nb_turn_config_defaults(&c);
    memcpy(c.agent, AGENT, 32);
    memcpy(c.user, USER, 32);
    memcpy(c.root, ROOT, 32);
    memcpy(c.msg_id, MSG, 32);
    memcpy(c.backends[0], BACKEND, 32);
    c.n_backends = 1;
    c.structured_ask = structured;
    nb_turn_cb_t cb = {.on_text = on_text, .on_status = on_status, .on_end = on_end};
    if (all) {
        cb.on_tool = on_tool;
        cb.on_activity = on_activity_cb;
        cb.on_ask = on_ask;
        cb.on_delegation = on_delegation;
    }
    nb_turn_init(&T, &c, &cb, &S);
    NOW = 1000;
}

/* Every test runs with all callbacks installed: they must never change the text. */
static void start(void)
{
    start_with(false, true);
}

static void finish(void)
{
    NB_CHECK_INT(S.after_end, 0);
    if (!S.dispose_in_end || S.ends == 0) nb_turn_dispose(&T);
    nb_buf_dispose(&S.text);
    nb_buf_dispose(&S.status);
    nb_buf_dispose(&S.order);
    nb_buf_dispose(&S.tools);
    nb_buf_dispose(&S.tool_args);
    nb_buf_dispose(&S.ask_title);
    nb_buf_dispose(&S.ask_question);
    nb_buf_dispose(&S.ask_suggestions);
}

static const char *text(void)
{
    return S.text.data ? S.text.data : "";
}

static const char *str(const nb_buf_t *b)
{
    return b->data ? b->data : "";
}

/* Feed an event: kind, author, content, then tags as NULL-terminated string lists ended by NULL. */
/* Feed the turn one event (see test_events.h for the tag syntax). */
#define feed(kind, author, ...)                                                                              \
    do {                                                                                                     \
        nb_event_t ev_;                                                                                      \
        nb_test_event(&ev_, kind, author, 1700000000, __VA_ARGS__);                                          \
        nb_turn_on_event(&T, &ev_, NOW);                                                                     \
        nb_event_dispose(&ev_);                                                                              \
    } while (0)

static void delta(int seq, int ral, const char *s)
{
    char sq[16], rl[16];
    snprintf(sq, sizeof(sq), "%d", seq);
    snprintf(rl, sizeof(rl), "%d", ral);
    feed(24135, AGENT, s, TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"),
         TAG("a", "31933:x:d"), TAG("llm-ral", rl), TAG("stream-seq", sq), END);
}

static void conversation(const char *s)
{
    feed(1, AGENT, s, TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("llm-ral", "1"),
         END);
}

static void completion(const char *s)
{
    feed(1, AGENT, s, TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("p", USER_HEX),
         TAG("status", "completed"), TAG("llm-prompt-tokens", "10"), TAG("llm-completion-tokens", "5"),
         TAG("llm-total-tokens", "15"), END);
}

static void activity(bool working)
{
    if (working)
        feed(24133, BACKEND, "", TAG("e", ROOT_HEX), TAG("P", USER_HEX), TAG("p", AGENT_HEX), END);
    else
        feed(24133, BACKEND, "", TAG("e", ROOT_HEX), TAG("P", USER_HEX), END);
}

static void tick(uint64_t ms)
{
    NOW += ms;
    nb_turn_tick(&T, NOW);
}

static void test_simple_stream(void)
{
    start();
    activity(true);
    delta(1, 0, "Hello");
    delta(2, 0, ", wor");
    NB_CHECK_STR(text(), "Hello, wor");
    delta(3, 0, "ld.");
    NB_CHECK_INT(S.ends, 0);
    completion("Hello, world.");
    NB_CHECK_STR(text(), "Hello, world.");
    NB_CHECK_INT(S.ends, 1);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_COMPLETED);
    NB_CHECK(S.end.has_usage);
    NB_CHECK_INT(S.end.usage.prompt_tokens, 10);
    NB_CHECK_INT(S.end.usage.total_tokens, 15);
    /* nothing counts after the end */
    delta(4, 0, "more");
    completion("x");
    NB_CHECK_STR(text(), "Hello, world.");
    NB_CHECK_INT(S.ends, 1);
    finish();
}

static void test_reorder_and_duplicates(void)
{
    start();
    delta(2, 0, "B");
    NB_CHECK_STR(text(), "");
    NB_CHECK(nb_turn_deadline(&T) == NOW + 500);
    delta(1, 0, "A");
    NB_CHECK_STR(text(), "AB");
    NB_CHECK_INT(nb_turn_deadline(&T), 0);
    delta(2, 0, "B");
    delta(4, 0, "D");
    delta(4, 0, "D");
    delta(3, 0, "C");
    NB_CHECK_STR(text(), "ABCD");
    NB_CHECK_INT(T.stats.duplicates, 2);
    completion("ABCD");
    NB_CHECK_STR(text(), "ABCD");
    finish();
}

static void test_many_held_out_of_order(void)
{
    /* 199 deltas arrive backwards before seq 1: all are held (the holding array grows), then
     * released in order. */
    start();
    char piece[16], want[4096] = "";
    for (int seq = 200; seq >= 2; seq--) {
        snprintf(piece, sizeof(piece), "%d,", seq);
        delta(seq, 0, piece);
    }
    NB_CHECK_STR(text(), "");
    delta(1, 0, "1,");
    for (int seq = 1; seq <= 200; seq++) {
        snprintf(piece, sizeof(piece), "%d,", seq);
        strcat(want, piece);
    }
    NB_CHECK_STR(text(), want);
    NB_CHECK_INT(T.n_pending, 0);
    NB_CHECK_INT(nb_turn_deadline(&T), 0);
    finish();
}

static void test_lost_delta_repaired(void)
{
    start();
    delta(1, 0, "one ");
    delta(3, 0, "three");
    NB_CHECK_STR(text(), "one ");
    completion("one two three");
    NB_CHECK_STR(text(), "one two three");
    NB_CHECK_INT(T.stats.repaired, 1);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_COMPLETED);
    finish();
}

static void test_gap_given_up(void)
{
    start();
    delta(1, 0, "one ");
    delta(3, 0, "three");
    tick(499);
    NB_CHECK_STR(text(), "one ");
    tick(1);
    NB_CHECK_STR(text(), "one three");
    NB_CHECK_INT(T.stats.gaps_skipped, 1);
    delta(2, 0, "two "); /* too late now */
    NB_CHECK_STR(text(), "one three");
    completion("one two three");
    NB_CHECK_STR(text(), "one three"); /* never unsay; the mismatch is counted */
    NB_CHECK_INT(T.stats.mismatches, 1);
    finish();
}

static void test_nothing_streamed(void)
{
    start();
    completion("All at once.");
    NB_CHECK_STR(text(), "All at once.");
    NB_CHECK_INT(S.ends, 1);
    finish();
}

static void test_multi_step_with_tool(void)
{
    start();
    activity(true);
    delta(1, 0, "Let me ");
    delta(2, 0, "check.");
    conversation("Let me check.");
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool", "shell"),
         TAG("tool-args", "{\"cmd\":\"ls\"}"), END);
    delta(3, 0, "late piece of step 1"); /* after a kind:1: not seq 1 → dropped */
    NB_CHECK_INT(T.stats.dropped_late, 1);
    delta(1, 1, "Done: ");
    delta(2, 1, "3 files.");
    completion("Done: 3 files.");
    NB_CHECK_STR(text(), "Let me check.\n\nDone: 3 files.");
    finish();
}

/* Relays deliver a stored kind:1 after ephemeral deltas published later: the next step's first
 * delta closes the step, and the late kind:1s (conversation, tool) must close nothing. */
static void test_late_step_notes_close_nothing(void)
{
    start();
    activity(true);
    delta(1, 1, "Let me ");
    delta(2, 1, "check.");
    delta(1, 2, "Done: "); /* step 2 starts before step 1's kind:1s arrive */
    conversation("Let me check.");
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool", "shell"),
         TAG("tool-args", "{}"), TAG("llm-ral", "1"), END);
    delta(2, 2, "3 files.");
    completion("Done: 3 files.");
    NB_CHECK_STR(text(), "Let me check.\n\nDone: 3 files.");
    NB_CHECK_INT(T.stats.dropped_late, 0);
    NB_CHECK_INT(T.stats.mismatches, 0);
    finish();
}

static void test_tool_only_step_has_no_separator(void)
{
    start();
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool", "read"),
         END);
    delta(1, 1, "Answer.");
    completion("Answer.");
    NB_CHECK_STR(text(), "Answer.");
    finish();
}

static void test_retry_never_repeats(void)
{
    start();
    delta(1, 0, "Hel");
    delta(2, 0, "lo wo");
    delta(0, 0, "⚠️ retrying in 1s");
    delta(1, 0, "Hel");
    delta(2, 0, "lo wo");
    NB_CHECK_STR(text(), "Hello wo");
    delta(3, 0, "rld");
    NB_CHECK_STR(text(), "Hello world");
    NB_CHECK_STR(S.status.data, "⚠️ retrying in 1s|");
    NB_CHECK_INT(T.stats.retries, 1);
    completion("Hello world");
    NB_CHECK_STR(text(), "Hello world");
    NB_CHECK_INT(T.stats.mismatches, 0);
    finish();
}

static void test_retry_shorter_chunks_utf8(void)
{
    start();
    delta(1, 0, "caf\xc3\xa9 ");
    delta(0, 0, "retry");
    delta(1, 0, "caf\xc3");
    delta(2, 0, "\xa9 au lait");
    NB_CHECK_STR(text(), "caf\xc3\xa9 au lait");
    finish();
}

static void test_acp_sequence(void)
{
    start();
    delta(57, 0, "a");
    delta(58, 0, "b");
    NB_CHECK_STR(text(), ""); /* holding: maybe seq 1 is late */
    tick(500);
    NB_CHECK_STR(text(), "ab");
    delta(59, 0, "c");
    conversation("abc");
    delta(58, 0, "late"); /* not above the closed step's last seq */
    delta(60, 0, "d");    /* next step */
    NB_CHECK_STR(text(), "abc\n\nd");
    completion("de");
    NB_CHECK_STR(text(), "abc\n\nde");
    finish();
}

static void test_idle_fallback(void)
{
    start();
    activity(true);
    delta(1, 0, "I will stay ");
    conversation("I will stay quiet.");
    activity(false);
    NB_CHECK_INT(S.ends, 0);
    NB_CHECK(nb_turn_deadline(&T) == NOW + 3000);
    tick(3000);
    NB_CHECK_INT(S.ends, 1);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_IDLE);
    NB_CHECK_STR(text(), "I will stay quiet.");
    finish();
}

static void test_late_completion_cancels_fallback(void)
{
    start();
    activity(true);
    delta(1, 0, "x");
    activity(false);
    tick(1000);
    completion("xy");
    NB_CHECK_INT(S.end.kind, NB_TURN_END_COMPLETED);
    NB_CHECK_STR(text(), "xy");
    finish();
}

static void test_delegation_waits_for_second_run(void)
{
    start();
    activity(true);
    conversation("Asking the coder.");
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"),
         TAG("tool", "delegate"), END);
    activity(false);
    NB_CHECK_INT(nb_turn_deadline(&T), 0);
    tick(60000);
    NB_CHECK_INT(S.ends, 0);
    activity(true);
    delta(1, 0, "The coder says hi.");
    completion("The coder says hi.");
    NB_CHECK_STR(text(), "Asking the coder.\n\nThe coder says hi.");
    NB_CHECK_INT(S.end.kind, NB_TURN_END_COMPLETED);
    finish();
}

static void test_agent_error(void)
{
    start();
    delta(1, 0, "partial");
    feed(1, AGENT, "Rate limited by provider", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"),
         TAG("error", "system"), TAG("status", "completed"), TAG("p", USER_HEX), END);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_ERROR);
    NB_CHECK_STR(S.error, "Rate limited by provider");
    finish();
}

static void test_crash_notice(void)
{
    start();
    /* a stranger cannot end the turn with a crash notice */
    feed(1, STRANGER, "⚠️ pm: crashed", TAG("e", MSG_HEX), TAG("p", USER_HEX), END);
    NB_CHECK_INT(S.ends, 0);
    /* nor can the backend for another message */
    feed(1, BACKEND, "⚠️ pm: crashed", TAG("e", OTHER_HEX), TAG("p", USER_HEX), END);
    NB_CHECK_INT(S.ends, 0);
    feed(1, BACKEND, "⚠️ pm: agent process exited with code 1", TAG("e", MSG_HEX), TAG("p", USER_HEX),
         TAG("a", "31933:x:d"), END);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_ERROR);
    NB_CHECK_STR(S.error, "⚠️ pm: agent process exited with code 1");
    finish();
}

static void test_forgeries_ignored(void)
{
    start();
    /* right tags, wrong key */
    feed(24135, STRANGER, "FORGED", TAG("e", ROOT_HEX, "", "root"), TAG("stream-seq", "1"),
         TAG("llm-ral", "0"), END);
    feed(1, STRANGER, "FORGED", TAG("e", ROOT_HEX, "", "root"), TAG("p", USER_HEX),
         TAG("status", "completed"), END);
    /* right key, other thread */
    feed(24135, AGENT, "OTHER", TAG("e", OTHER_HEX, "", "root"), TAG("stream-seq", "1"), TAG("llm-ral", "0"),
         END);
    feed(1, AGENT, "OTHER", TAG("e", OTHER_HEX, "", "root"), TAG("p", USER_HEX), TAG("status", "completed"),
         END);
    /* activity from the agent's key or a stranger is not the backend's */
    feed(24133, STRANGER, "", TAG("e", ROOT_HEX), END);
    activity(true);
    feed(24133, AGENT, "", TAG("e", ROOT_HEX), END);
    NB_CHECK_INT(nb_turn_deadline(&T), 0);
    NB_CHECK_STR(text(), "");
    NB_CHECK_INT(S.ends, 0);
    NB_CHECK_INT(T.stats.wrong_author, 4);
    NB_CHECK_INT(T.stats.wrong_thread, 2);
    /* a completion to someone else does not end our turn */
    feed(1, AGENT, "for the PM", TAG("e", ROOT_HEX, "", "root"), TAG("p", AGENT_HEX),
         TAG("status", "completed"), END);
    NB_CHECK_INT(S.ends, 0);
    finish();
}

static void test_ask(void)
{
    start();
    activity(true);
    feed(1, AGENT, "Which database?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("t", "ask"), TAG("title", "DB"),
         TAG("question", "DB", "Postgres or SQLite?", "Postgres", "SQLite"), END);
    NB_CHECK_INT(S.ends, 0);
    conversation("I need to know one thing.");
    activity(false);
    NB_CHECK_INT(S.ends, 1);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_ASK);
    NB_CHECK_STR(
        text(),
        "I need to know one thing.\n\nWhich database?\n\nPostgres or SQLite?\n\n- Postgres\n- SQLite");
    NB_CHECK_MEM(S.end.ask_agent, AGENT, 32);
    finish();
}

static void test_ask_of_another_thread_ignored(void)
{
    start();
    feed(1, AGENT, "?", TAG("delegation", OTHER_HEX), TAG("p", USER_HEX), TAG("ask", "true"), END);
    NB_CHECK_INT(nb_turn_deadline(&T), 0);
    finish();
}

static void test_ask_without_activity_times_out_into_ask(void)
{
    start();
    feed(1, AGENT, "Sure?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("question", "Q", "Sure?", "yes", "no"), END);
    tick(3000);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_ASK);
    NB_CHECK_STR(text(), "Sure?\n\n- yes\n- no");
    finish();
}

static void test_answer_reply_in_parent_thread(void)
{
    /* Answering an ask: our message's root is the ask; the agent may reply in the parent thread,
     * carrying our message as its reply e-tag. */
    start();
    feed(1, AGENT, "Postgres it is.", TAG("e", OTHER_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"),
         TAG("p", USER_HEX), TAG("status", "completed"), END);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_COMPLETED);
    NB_CHECK_STR(text(), "Postgres it is.");
    finish();
}

static void test_legacy_shapes(void)
{
    start();
    feed(21111, AGENT, "think", TAG("E", ROOT_HEX), TAG("K", "1"), TAG("e", MSG_HEX),
         TAG("streaming", "true"), TAG("sequence", "0"), TAG("reasoning"), END);
    feed(21111, AGENT, "Old ", TAG("E", ROOT_HEX), TAG("K", "1"), TAG("P", USER_HEX), TAG("e", MSG_HEX),
         TAG("streaming", "true"), TAG("sequence", "1"), END);
    feed(21111, AGENT, "times.", TAG("E", ROOT_HEX), TAG("K", "1"), TAG("P", USER_HEX), TAG("e", MSG_HEX),
         TAG("streaming", "true"), TAG("sequence", "2"), END);
    tick(500); /* the first legacy sequence number is not known in advance */
    NB_CHECK_STR(text(), "Old times.");
    feed(1111, AGENT, "Old times.", TAG("E", ROOT_HEX), TAG("K", "1"), TAG("P", USER_HEX), TAG("e", MSG_HEX),
         TAG("p", USER_HEX), TAG("status", "completed"), END);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_COMPLETED);
    NB_CHECK_STR(text(), "Old times.");
    finish();
}

static void test_unmarked_root_era(void)
{
    /* 2025-12-30 .. 2026-04-09: kind 1 with an unmarked root e-tag and no reply tag. */
    start();
    feed(1, AGENT, "Plain reply.", TAG("e", ROOT_HEX), TAG("p", USER_HEX), TAG("status", "completed"), END);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_COMPLETED);
    NB_CHECK_STR(text(), "Plain reply.");
    finish();
}

/* ---- the native API's callbacks ------------------------------------------------------------ */

static void delegation(const uint8_t *author, const char *parent_hex)
{
    feed(1, author, "@coder: count the files", TAG("delegation", parent_hex), TAG("p", CODER_HEX),
         TAG("a", "31933:x:d"), TAG("llm-model", "m"), TAG("llm-ral", "1"), END);
}

static void test_tool_callback(void)
{
    start();
    activity(true);
    delta(1, 0, "Let me check.");
    conversation("Let me check.");
    /* hostile JSON: unicode, escapes, quotes, a newline — passed through untouched */
    const char *args =
        "{\"cmd\":\"ls -la \\\"d\\u00e9j\\u00e0\\\"\\n\",\"path\":\"C:\\\\x\",\"e\":\"\xF0\x9F\x91\x8D\"} ";
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool", "shell"),
         TAG("tool-args", args), TAG("llm-ral", "1"), END);
    NB_CHECK_INT(S.n_tools, 1);
    NB_CHECK_INT(S.tool_args.len, strlen(args));
    NB_CHECK_STR(str(&S.tool_args), args);
    /* no tool-args tag, and an empty one (TENEX: JSON over 100,000 bytes): "" */
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool", "read"),
         END);
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool", "write"),
         TAG("tool-args", ""), END);
    /* a bare ["tool"]: a tool use all the same */
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool"), END);
    NB_CHECK_INT(S.n_tools, 4);
    /* not the agent's, or not this thread: no tool */
    feed(1, STRANGER, "", TAG("e", ROOT_HEX, "", "root"), TAG("tool", "forged"), TAG("tool-args", "{}"), END);
    feed(1, AGENT, "", TAG("e", OTHER_HEX, "", "root"), TAG("tool", "elsewhere"), TAG("tool-args", "{}"),
         END);
    NB_CHECK_INT(S.n_tools, 4);
    delta(1, 1, "Done.");
    completion("Done.");
    NB_CHECK_STR(text(), "Let me check.\n\nDone.");
    nb_buf_t want;
    nb_buf_init(&want, 4096);
    nb_buf_appendf(&want, "shell(%s)read()write()()", args);
    NB_CHECK_STR(str(&S.tools), want.data);
    nb_buf_dispose(&want);
    /* the tool comes after the text of the step it closes */
    NB_CHECK_STR(str(&S.order), "axttttxxE");
    finish();
}

static void test_tool_args_byte_exact(void)
{
    /* tag values may hold "\u0000": the length is authoritative, every byte passes */
    start();
    nb_event_t ev;
    nb_test_event(&ev, 1, AGENT, 1700000000, "", TAG("e", ROOT_HEX, "", "root"),
                  TAG("e", MSG_HEX, "", "reply"), END);
    static const char raw[] = "{\"a\":\"x\0y\",\"b\":\"\x01\x7f\"}";
    nb_str_t items[2] = {{"tool-args", 9}, {raw, sizeof(raw) - 1}};
    nb_str_t name[2] = {{"tool", 4}, {"bin", 3}};
    nb_event_add_tag_str(&ev, name, 2);
    nb_event_add_tag_str(&ev, items, 2);
    nb_turn_on_event(&T, &ev, NOW);
    nb_event_dispose(&ev);
    NB_CHECK_INT(S.n_tools, 1);
    NB_CHECK_INT(S.tool_args.len, sizeof(raw) - 1);
    NB_CHECK_MEM(S.tool_args.data, raw, sizeof(raw) - 1);
    finish();
}

static void test_delegate_tool_still_pending(void)
{
    /* on_tool changes nothing about a delegation: the turn still waits for the second run */
    start();
    activity(true);
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"),
         TAG("tool", "delegate"), TAG("tool-args", "{\"recipients\":[\"coder\"]}"), END);
    activity(false);
    NB_CHECK_INT(nb_turn_deadline(&T), 0);
    NB_CHECK_STR(str(&S.tools), "delegate({\"recipients\":[\"coder\"]})");
    finish();
}

static void test_activity_callback(void)
{
    start();
    activity(true);
    NB_CHECK_INT(S.activities, 1);
    NB_CHECK_INT(S.n_agents, 1);
    NB_CHECK_MEM(S.agents[0], AGENT, 32);
    /* invalid p values are skipped; P (humans) are not agents; order kept */
    feed(24133, BACKEND, "", TAG("e", ROOT_HEX), TAG("P", USER_HEX), TAG("p", CODER_HEX), TAG("p", "zz"),
         TAG("p", "AA00"), TAG("p"), TAG("p", AGENT_HEX), TAG("a", "31933:x:d"), END);
    NB_CHECK_INT(S.activities, 2);
    NB_CHECK_INT(S.n_agents, 2);
    NB_CHECK_MEM(S.agents[0], CODER, 32);
    NB_CHECK_MEM(S.agents[1], AGENT, 32);
    /* not the backend's, or another thread's: nothing */
    feed(24133, STRANGER, "", TAG("e", ROOT_HEX), TAG("p", AGENT_HEX), END);
    feed(24133, AGENT, "", TAG("e", ROOT_HEX), TAG("p", AGENT_HEX), END);
    feed(24133, BACKEND, "", TAG("e", OTHER_HEX), TAG("p", AGENT_HEX), END);
    feed(24133, BACKEND, "", TAG("e", ROOT_HEX, "", "root"), TAG("p", AGENT_HEX), END); /* not unmarked */
    NB_CHECK_INT(S.activities, 2);
    /* nobody working: called with an empty list */
    activity(false);
    NB_CHECK_INT(S.activities, 3);
    NB_CHECK_INT(S.n_agents, 0);
    tick(3000);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_IDLE);
    NB_CHECK_STR(str(&S.order), "aaaE");
    finish();
}

static void test_activity_of_another_agents_run(void)
{
    /* a 24133 about someone else's run in this thread is still reported (the turn ignores it) */
    start();
    feed(24133, BACKEND, "", TAG("e", ROOT_HEX), TAG("p", CODER_HEX), END);
    feed(24133, BACKEND, "", TAG("e", ROOT_HEX), END);
    NB_CHECK_INT(S.activities, 2);
    NB_CHECK_INT(nb_turn_deadline(&T), 0);
    finish();
}

static void test_activity_caps_agents(void)
{
    start();
    nb_event_t ev;
    nb_test_event(&ev, 24133, BACKEND, 1700000000, "", TAG("e", ROOT_HEX), END);
    for (int i = 0; i < NB_TURN_MAX_AGENTS + 10; i++) {
        char hex[65];
        snprintf(hex, sizeof(hex), "%064x", i + 1);
        NB_EVENT_TAG(&ev, "p", hex);
    }
    nb_turn_on_event(&T, &ev, NOW);
    nb_event_dispose(&ev);
    NB_CHECK_INT(S.activities, 1);
    NB_CHECK_INT(S.n_agents, NB_TURN_MAX_AGENTS);
    NB_CHECK_INT(S.agents[NB_TURN_MAX_AGENTS - 1][31], NB_TURN_MAX_AGENTS);
    finish();
}

static void test_activity_ends_held_ask_after_callback(void)
{
    /* the activity that ends the run is reported before the ask it releases, and the end */
    start();
    activity(true);
    feed(1, AGENT, "Sure?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("question", "Q", "Sure?", "yes", "no"), END);
    activity(false);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_ASK);
    NB_CHECK_STR(str(&S.order), "aaxqE");
    finish();
}

static void test_delegation_callback(void)
{
    start();
    activity(true);
    delta(1, 0, "Let me ");
    delta(2, 0, "delegate ");
    uint64_t wrong_thread = T.stats.wrong_thread;
    delegation(AGENT, ROOT_HEX);
    NB_CHECK_INT(S.delegations, 1);
    NB_CHECK_INT(S.n_to, 1);
    NB_CHECK_MEM(S.to[0], CODER, 32);
    NB_CHECK_INT(T.stats.wrong_thread, wrong_thread);
    /* neither text nor a step end: the step goes on */
    delta(3, 0, "this.");
    NB_CHECK_STR(text(), "Let me delegate this.");
    NB_CHECK_INT(T.stats.dropped_late, 0);
    conversation("Let me delegate this.");
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"),
         TAG("tool", "delegate"), TAG("tool-args", "{}"), END);
    activity(false);
    NB_CHECK_INT(nb_turn_deadline(&T), 0); /* waiting for the second run */
    activity(true);
    delta(1, 0, "Coder says: 3.");
    completion("Coder says: 3.");
    NB_CHECK_STR(text(), "Let me delegate this.\n\nCoder says: 3.");
    NB_CHECK_INT(S.end.kind, NB_TURN_END_COMPLETED);
    NB_CHECK_STR(str(&S.order), "axxdxtaaxxE");
    finish();
}

static void test_delegation_alone_keeps_turn_waiting(void)
{
    /* the delegation event marks the delegation pending even if its tool kind:1 is lost */
    start();
    activity(true);
    conversation("Asking the coder.");
    delegation(AGENT, ROOT_HEX);
    activity(false);
    NB_CHECK_INT(nb_turn_deadline(&T), 0);
    finish();
}

static void test_delegation_ignored(void)
{
    start();
    activity(true);
    /* another author's delegation (the delegatee's, a stranger's) */
    delegation(STRANGER, ROOT_HEX);
    delegation(CODER, ROOT_HEX);
    NB_CHECK_INT(T.stats.wrong_author, 2);
    /* the agent delegating from another thread: wrong thread, as before */
    uint64_t wrong_thread = T.stats.wrong_thread;
    delegation(AGENT, OTHER_HEX);
    NB_CHECK_INT(T.stats.wrong_thread, wrong_thread + 1);
    /* a malformed delegation tag */
    feed(1, AGENT, "@coder: x", TAG("delegation", "1100"), TAG("p", CODER_HEX), END);
    NB_CHECK_INT(T.stats.wrong_thread, wrong_thread + 2);
    /* the agent's other kind:1s in other threads (they arrive through the authors filter) */
    feed(1, AGENT, "elsewhere", TAG("e", OTHER_HEX, "", "root"), TAG("p", CODER_HEX), END);
    feed(1, AGENT, "a new root", TAG("p", CODER_HEX), END);
    NB_CHECK_INT(T.stats.wrong_thread, wrong_thread + 4);
    NB_CHECK_INT(S.delegations, 0);
    /* an ask is not a delegation, although it carries the delegation tag */
    feed(1, AGENT, "Sure?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"), END);
    NB_CHECK_INT(S.delegations, 0);
    NB_CHECK(T.ask_pending);
    NB_CHECK_STR(text(), "");
    finish();
}

static void test_ask_callback(void)
{
    /* structured_ask off (the OpenAI route): the text is exactly as before, and on_ask sees the ask */
    start();
    activity(true);
    feed(1, AGENT, "Which database?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("t", "ask"), TAG("title", "Storage"),
         TAG("question", "DB", "Postgres or SQLite?", "Postgres", "SQLite"), END);
    NB_CHECK_INT(S.asks, 0); /* held until the run ends */
    conversation("I need to know one thing.");
    activity(false);
    NB_CHECK_INT(S.asks, 1);
    NB_CHECK_INT(S.ends, 1);
    const char *want =
        "I need to know one thing.\n\nWhich database?\n\nPostgres or SQLite?\n\n- Postgres\n- SQLite";
    NB_CHECK_STR(text(), want);
    NB_CHECK_STR(S.text_at_ask, want); /* the text is out before on_ask */
    NB_CHECK_STR(str(&S.ask_title), "Storage");
    NB_CHECK_STR(str(&S.ask_question), "Postgres or SQLite?");
    NB_CHECK_STR(str(&S.ask_suggestions), "Postgres|SQLite");
    NB_CHECK_INT(S.ask.n_suggestions, 2);
    NB_CHECK(!S.ask.multiselect);
    NB_CHECK_MEM(S.ask.ask_id, S.end.ask_id, 32);
    NB_CHECK_MEM(S.ask.agent, AGENT, 32);
    NB_CHECK_STR(str(&S.order), "axaxxqE");
    finish();
}

static void test_structured_ask(void)
{
    /* the same events with structured_ask: the content is text, the question goes to on_ask only */
    start_with(true, true);
    activity(true);
    feed(1, AGENT, "Which database?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("t", "ask"), TAG("title", "Storage"),
         TAG("question", "DB", "Postgres or SQLite?", "Postgres", "SQLite"), END);
    conversation("I need to know one thing.");
    activity(false);
    NB_CHECK_STR(text(), "I need to know one thing.\n\nWhich database?");
    NB_CHECK_STR(str(&S.ask_title), "Storage");
    NB_CHECK_STR(str(&S.ask_question), "Postgres or SQLite?");
    NB_CHECK_STR(str(&S.ask_suggestions), "Postgres|SQLite");
    NB_CHECK_INT(S.end.kind, NB_TURN_END_ASK);
    NB_CHECK_MEM(S.ask.ask_id, S.end.ask_id, 32);
    finish();
}

static void test_structured_ask_multiselect_from_tick(void)
{
    /* no title tag: the question's title; the ask is released by the grace timer */
    start_with(true, true);
    feed(1, AGENT, "Pick the targets.", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("multiselect", "Targets", "Which platforms?", "linux", "macos", "windows"), END);
    tick(3000);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_ASK);
    NB_CHECK_STR(text(), "Pick the targets.");
    NB_CHECK_STR(str(&S.ask_title), "Targets");
    NB_CHECK_STR(str(&S.ask_question), "Which platforms?");
    NB_CHECK_STR(str(&S.ask_suggestions), "linux|macos|windows");
    NB_CHECK(S.ask.multiselect);
    NB_CHECK_STR(str(&S.order), "xqE");
    finish();
}

static void test_ask_without_question_tag(void)
{
    /* no question tag: the question is the content, no title, no suggestions; text as before */
    start_with(true, true);
    feed(1, AGENT, "Shall I go on?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         END);
    tick(3000);
    NB_CHECK_STR(text(), "Shall I go on?");
    NB_CHECK_STR(str(&S.ask_title), "");
    NB_CHECK_INT(S.ask.title_len, 0);
    NB_CHECK_STR(str(&S.ask_question), "Shall I go on?");
    NB_CHECK_INT(S.ask.n_suggestions, 0);
    NB_CHECK(!S.ask.multiselect);
    finish();
}

static void test_ask_empty_prompt_is_content(void)
{
    start_with(true, true);
    feed(1, AGENT, "Go?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("question", "Go", "", "yes", "no"), END);
    tick(3000);
    NB_CHECK_STR(text(), "Go?");
    NB_CHECK_STR(str(&S.ask_question), "Go?");
    NB_CHECK_STR(str(&S.ask_suggestions), "yes|no");
    finish();
}

static void test_structured_ask_several_questions(void)
{
    /* TENEX's ask may carry several questions: the first goes to on_ask, the rest stay text */
    for (int structured = 0; structured <= 1; structured++) {
        start_with(structured, true);
        feed(1, AGENT, "Two things.", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
             TAG("title", "Setup"), TAG("question", "DB", "Which DB?", "pg", "sqlite"),
             TAG("multiselect", "OS", "Which OS?", "linux", "mac"), END);
        tick(3000);
        if (structured)
            NB_CHECK_STR(text(), "Two things.\n\nWhich OS?\n\n- linux\n- mac");
        else
            NB_CHECK_STR(text(), "Two things.\n\nWhich DB?\n\n- pg\n- sqlite\n\nWhich OS?\n\n- linux\n- mac");
        NB_CHECK_STR(str(&S.ask_question), "Which DB?");
        NB_CHECK_STR(str(&S.ask_suggestions), "pg|sqlite");
        NB_CHECK(!S.ask.multiselect);
        finish();
    }
}

static void test_ask_caps_suggestions(void)
{
    start_with(true, true);
    nb_event_t ev;
    nb_test_event(&ev, 1, AGENT, 1700000000, "Pick one.", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX),
                  TAG("ask", "true"), END);
    const char *items[3 + NB_TURN_MAX_SUGGESTIONS + 8];
    char opts[NB_TURN_MAX_SUGGESTIONS + 8][8];
    size_t n = 0;
    items[n++] = "question";
    items[n++] = "Pick";
    items[n++] = "Which one?";
    for (int i = 0; i < NB_TURN_MAX_SUGGESTIONS + 8; i++) {
        snprintf(opts[i], sizeof(opts[i]), "o%d", i);
        items[n++] = opts[i];
    }
    nb_event_add_tag(&ev, items, n);
    nb_turn_on_event(&T, &ev, NOW);
    nb_event_dispose(&ev); /* the ask's strings must outlive its event */
    tick(3000);
    NB_CHECK_INT(S.ask.n_suggestions, NB_TURN_MAX_SUGGESTIONS);
    NB_CHECK(S.ask.suggestions[NB_TURN_MAX_SUGGESTIONS - 1] != NULL);
    NB_CHECK(strncmp(str(&S.ask_suggestions), "o0|o1|o2|", 9) == 0);
    NB_CHECK_STR(text(), "Pick one.");
    finish();
}

static void test_second_ask_replaces_first(void)
{
    start_with(true, true);
    feed(1, AGENT, "First?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("title", "One"), TAG("question", "One", "First prompt", "a", "b", "c"), END);
    feed(1, AGENT, "Second?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("question", "Two", "Second prompt", "x"), END);
    tick(3000);
    NB_CHECK_INT(S.asks, 1);
    NB_CHECK_STR(text(), "Second?");
    NB_CHECK_STR(str(&S.ask_title), "Two");
    NB_CHECK_STR(str(&S.ask_question), "Second prompt");
    NB_CHECK_STR(str(&S.ask_suggestions), "x");
    finish();
}

static void test_null_callbacks(void)
{
    /* the OpenAI route installs none of the new callbacks: same text, no crash */
    start_with(false, false);
    activity(true);
    delta(1, 0, "Hi.");
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool", "x"),
         TAG("tool-args", "{}"), END);
    delegation(AGENT, ROOT_HEX);
    feed(1, AGENT, "Sure?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("question", "Q", "Sure?", "yes", "no"), END);
    activity(false);
    NB_CHECK_INT(S.end.kind, NB_TURN_END_ASK);
    NB_CHECK_STR(text(), "Hi.\n\nSure?\n\n- yes\n- no");
    NB_CHECK_STR(str(&S.order), "xxxE");
    finish();
}

static void test_callbacks_never_after_end(void)
{
    start();
    activity(true);
    completion("Done.");
    NB_CHECK_INT(S.ends, 1);
    feed(1, AGENT, "", TAG("e", ROOT_HEX, "", "root"), TAG("e", MSG_HEX, "", "reply"), TAG("tool", "late"),
         END);
    activity(false);
    delegation(AGENT, ROOT_HEX);
    feed(1, AGENT, "Sure?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"), END);
    tick(60000);
    NB_CHECK_INT(S.n_tools, 0);
    NB_CHECK_INT(S.activities, 1);
    NB_CHECK_INT(S.delegations, 0);
    NB_CHECK_INT(S.asks, 0);
    NB_CHECK_STR(str(&S.order), "axE");
    finish(); /* checks S.after_end == 0 */
}

static void test_dispose_in_end_after_ask(void)
{
    /* on_end may dispose the turn, also when on_ask came just before it (from a tick) */
    start_with(true, true);
    S.dispose_in_end = true;
    feed(1, AGENT, "Sure?", TAG("delegation", ROOT_HEX), TAG("p", USER_HEX), TAG("ask", "true"),
         TAG("question", "Q", "Really?", "yes", "no"), END);
    tick(3000);
    NB_CHECK_INT(S.ends, 1);
    NB_CHECK_INT(S.asks, 1);
    NB_CHECK_STR(str(&S.ask_question), "Really?");
    finish();
}

int main(void)
{
    nb_hex_decode(AGENT, 32, "aa00000000000000000000000000000000000000000000000000000000000001", 64);
    nb_hex_decode(USER, 32, "bb00000000000000000000000000000000000000000000000000000000000002", 64);
    nb_hex_decode(BACKEND, 32, "cc00000000000000000000000000000000000000000000000000000000000003", 64);
    nb_hex_decode(STRANGER, 32, "dd00000000000000000000000000000000000000000000000000000000000004", 64);
    nb_hex_decode(ROOT, 32, "1100000000000000000000000000000000000000000000000000000000000005", 64);
    nb_hex_decode(MSG, 32, "2200000000000000000000000000000000000000000000000000000000000006", 64);
    nb_hex_decode(OTHER_ROOT, 32, "3300000000000000000000000000000000000000000000000000000000000007", 64);
    nb_hex_encode(ROOT_HEX, ROOT, 32);
    nb_hex_encode(MSG_HEX, MSG, 32);
    nb_hex_encode(USER_HEX, USER, 32);
    nb_hex_encode(AGENT_HEX, AGENT, 32);
    nb_hex_encode(OTHER_HEX, OTHER_ROOT, 32);
    nb_hex_decode(CODER, 32, "ee00000000000000000000000000000000000000000000000000000000000008", 64);
    nb_hex_encode(CODER_HEX, CODER, 32);
    nb_hex_encode(STRANGER_HEX, STRANGER, 32);
    NB_RUN(test_simple_stream);
    NB_RUN(test_late_step_notes_close_nothing);
    NB_RUN(test_reorder_and_duplicates);
    NB_RUN(test_many_held_out_of_order);
    NB_RUN(test_lost_delta_repaired);
    NB_RUN(test_gap_given_up);
    NB_RUN(test_nothing_streamed);
    NB_RUN(test_multi_step_with_tool);
    NB_RUN(test_tool_only_step_has_no_separator);
    NB_RUN(test_retry_never_repeats);
    NB_RUN(test_retry_shorter_chunks_utf8);
    NB_RUN(test_acp_sequence);
    NB_RUN(test_idle_fallback);
    NB_RUN(test_late_completion_cancels_fallback);
    NB_RUN(test_delegation_waits_for_second_run);
    NB_RUN(test_agent_error);
    NB_RUN(test_crash_notice);
    NB_RUN(test_forgeries_ignored);
    NB_RUN(test_ask);
    NB_RUN(test_ask_of_another_thread_ignored);
    NB_RUN(test_ask_without_activity_times_out_into_ask);
    NB_RUN(test_answer_reply_in_parent_thread);
    NB_RUN(test_legacy_shapes);
    NB_RUN(test_unmarked_root_era);
    NB_RUN(test_tool_callback);
    NB_RUN(test_tool_args_byte_exact);
    NB_RUN(test_delegate_tool_still_pending);
    NB_RUN(test_activity_callback);
    NB_RUN(test_activity_of_another_agents_run);
    NB_RUN(test_activity_caps_agents);
    NB_RUN(test_activity_ends_held_ask_after_callback);
    NB_RUN(test_delegation_callback);
    NB_RUN(test_delegation_alone_keeps_turn_waiting);
    NB_RUN(test_delegation_ignored);
    NB_RUN(test_ask_callback);
    NB_RUN(test_structured_ask);
    NB_RUN(test_structured_ask_multiselect_from_tick);
    NB_RUN(test_ask_without_question_tag);
    NB_RUN(test_ask_empty_prompt_is_content);
    NB_RUN(test_structured_ask_several_questions);
    NB_RUN(test_ask_caps_suggestions);
    NB_RUN(test_second_ask_replaces_first);
    NB_RUN(test_null_callbacks);
    NB_RUN(test_callbacks_never_after_end);
    NB_RUN(test_dispose_in_end_after_ask);
    return nb_test_summary();
}
