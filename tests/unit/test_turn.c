/* The turn state machine: every case of PROTOCOL.md "One turn, step by step" (4 and 5). */
#include "bridge/hex.h"
#include "bridge/tenex_tags.h"
#include "bridge/turn.h"
#include "test.h"
#include "test_events.h"

static uint8_t AGENT[32], USER[32], BACKEND[32], STRANGER[32], ROOT[32], MSG[32], OTHER_ROOT[32];
static char ROOT_HEX[65], MSG_HEX[65], USER_HEX[65], AGENT_HEX[65], OTHER_HEX[65];

typedef struct {
    nb_buf_t text;
    nb_buf_t status;
    int ends;
    nb_turn_end_t end;
    char error[256];
} sink_t;

static void on_text(void *ud, const char *p, size_t len)
{
    nb_buf_append(&((sink_t *)ud)->text, p, len);
}
static void on_status(void *ud, const char *p, size_t len)
{
    nb_buf_append(&((sink_t *)ud)->status, p, len);
    nb_buf_appendc(&((sink_t *)ud)->status, '|');
}
static void on_end(void *ud, const nb_turn_end_t *e)
{
    sink_t *s = ud;
    s->ends++;
    s->end = *e;
    if (e->error) snprintf(s->error, sizeof(s->error), "%.*s", (int)e->error_len, e->error);
}

static nb_turn_t T;
static sink_t S;
static uint64_t NOW;

static void start(void)
{
    memset(&S, 0, sizeof(S));
    nb_buf_init(&S.text, 1 << 20);
    nb_buf_init(&S.status, 1 << 20);
    nb_turn_config_t c;
    nb_turn_config_defaults(&c);
    memcpy(c.agent, AGENT, 32);
    memcpy(c.user, USER, 32);
    memcpy(c.root, ROOT, 32);
    memcpy(c.msg_id, MSG, 32);
    memcpy(c.backends[0], BACKEND, 32);
    c.n_backends = 1;
    nb_turn_cb_t cb = {on_text, on_status, on_end};
    nb_turn_init(&T, &c, &cb, &S);
    NOW = 1000;
}

static void finish(void)
{
    nb_turn_dispose(&T);
    nb_buf_dispose(&S.text);
    nb_buf_dispose(&S.status);
}

static const char *text(void)
{
    return S.text.data ? S.text.data : "";
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
    NB_RUN(test_simple_stream);
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
    return nb_test_summary();
}
