/* The native thread protocol: client messages (every shape, every error and its param, limits,
 * thread ids) and the exact bytes of every server event. */
#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/mem.h"
#include "bridge/native.h"
#include "bridge/nip19.h"
#include "test.h"

#define HEX_A "45326f5d6962ab1e3cd424e758c3002b8665f7b0d8dcee9fe9e288d7751ac194"
#define HEX_A_UPPER "45326F5D6962AB1E3CD424E758C3002B8665F7B0D8DCEE9FE9E288D7751AC194"
/* tests/vectors/nip19.txt: the same event id as a note and as nevents (with relay/author/kind). */
#define NOTE_A "note1g5ex7htfv243u0x5ynn43scq9wrxtaasmrwwa8lfu2ydwag6cx2qpjfkfp"
#define NEVENT_A                                                                                             \
    "nevent1qqsy2vn0t45k92c78n2zfe6ccvqzhpn977cd3h8wnl579zxhw5dvr9qpzpmhxue69uhkyctwv9hxztnrdaksygrl54h466"  \
    "tz4v0re4pyuavvxqptsejl0vxcmnhfl60z3rth2x4m3q04ndyp"
#define NEVENT_A_BARE "nevent1qqsy2vn0t45k92c78n2zfe6ccvqzhpn977cd3h8wnl579zxhw5dvr9qe6ufk3"
#define NPUB_1 "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6"

static const uint8_t id_a[32] = {0x45, 0x32, 0x6f, 0x5d, 0x69, 0x62, 0xab, 0x1e, 0x3c, 0xd4, 0x24,
                                 0xe7, 0x58, 0xc3, 0x00, 0x2b, 0x86, 0x65, 0xf7, 0xb0, 0xd8, 0xdc,
                                 0xee, 0x9f, 0xe9, 0xe2, 0x88, 0xd7, 0x75, 0x1a, 0xc1, 0x94};

static int parse(nb_native_msg_t *m, const char *json, nb_api_error_t *e)
{
    return nb_native_parse(m, json, strlen(json), NULL, e);
}

static void test_defaults(void)
{
    nb_native_limits_t l;
    nb_native_limits_defaults(&l);
    NB_CHECK_INT(l.max_history, 1000);
    NB_CHECK_INT(l.max_text, 1024 * 1024);
    NB_CHECK_INT(l.max_field, 512);
}

static void test_minimal_message(void)
{
    nb_native_msg_t m;
    nb_api_error_t e;
    NB_REQUIRE(parse(&m, "{\"project\":\"p\",\"content\":\"hi\"}", &e) == 0);
    NB_CHECK_INT(m.type, NB_NATIVE_MESSAGE);
    NB_CHECK_STR(m.project, "p");
    NB_CHECK(m.model == NULL);
    NB_CHECK(!m.has_thread);
    NB_CHECK(m.chat.model == NULL);
    NB_CHECK(m.chat.stream && !m.chat.include_usage);
    NB_CHECK_INT(m.chat.max_tokens, -1);
    NB_REQUIRE(m.chat.n_messages == 1);
    NB_CHECK_INT(m.chat.last_user, 0);
    NB_CHECK_INT(m.chat.messages[0].role, NB_ROLE_USER);
    NB_CHECK_STR(m.chat.messages[0].text, "hi");
    NB_CHECK_INT(m.chat.messages[0].len, 2);
    nb_native_msg_dispose(&m);
    NB_CHECK(m.project == NULL && m.chat.messages == NULL);
    nb_native_msg_dispose(&m); /* disposing twice is harmless */
}

static void test_full_message(void)
{
    /* Everything NodeTool's chat client may send, plus fields we do not know. */
    const char *json =
        "{\"type\":\"message\",\"project\":\"31933:abc:my-proj\",\"thread_id\":\"" HEX_A_UPPER "\","
        "\"role\":\"user\",\"model\":\"coder\",\"workflow_id\":null,\"tools\":[1,{}],"
        "\"content\":[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\",\"image_url\":{}},"
        "{\"type\":\"text\",\"text\":\"at \\u00e9\"}],"
        "\"history\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"dev\"}]},"
        "{\"role\":\"user\",\"content\":\"q1\",\"id\":7},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]},"
        "{\"role\":\"assistant\"},"
        "{\"role\":\"tool\",\"content\":\"42\"},"
        "{\"role\":\"function\",\"content\":[]},"
        "{\"role\":\"assistant\",\"content\":\"a1\"}]}";
    nb_native_msg_t m;
    nb_api_error_t e;
    NB_REQUIRE(parse(&m, json, &e) == 0);
    NB_CHECK_INT(m.type, NB_NATIVE_MESSAGE);
    NB_CHECK_STR(m.project, "31933:abc:my-proj");
    NB_CHECK_STR(m.model, "coder");
    NB_CHECK_STR(m.chat.model, "coder");
    NB_CHECK(m.chat.model != m.model); /* each owns its copy */
    NB_CHECK(m.has_thread);
    NB_CHECK_MEM(m.thread, id_a, 32);
    NB_REQUIRE(m.chat.n_messages == 9);
    NB_CHECK_INT(m.chat.last_user, 8);
    static const nb_chat_role_t want_roles[] = {NB_ROLE_SYSTEM,    NB_ROLE_DEVELOPER, NB_ROLE_USER,
                                                NB_ROLE_ASSISTANT, NB_ROLE_ASSISTANT, NB_ROLE_TOOL,
                                                NB_ROLE_FUNCTION,  NB_ROLE_ASSISTANT, NB_ROLE_USER};
    static const char *const want_text[] = {"be brief",         "dev", "q1", "", "", "42", "", "a1",
                                            "look\nat \xc3\xa9"};
    for (size_t i = 0; i < 9; i++) {
        NB_CHECK_INT(m.chat.messages[i].role, want_roles[i]);
        NB_CHECK_STR(m.chat.messages[i].text, want_text[i]);
        NB_CHECK_INT(m.chat.messages[i].len, strlen(want_text[i]));
    }
    nb_native_msg_dispose(&m);
}

static void test_optional_fields(void)
{
    nb_native_msg_t m;
    nb_api_error_t e;
    /* null everywhere it is allowed; "" model = none; escaped keys are still the keys. */
    NB_REQUIRE(parse(&m,
                     "{\"type\":null,\"role\":null,\"model\":\"\",\"thread_id\":null,\"history\":null,"
                     "\"\\u0070roject\":\"p\",\"content\":\"x\\u0000y\"}",
                     &e) == 0);
    NB_CHECK_INT(m.type, NB_NATIVE_MESSAGE);
    NB_CHECK(m.model == NULL && m.chat.model == NULL);
    NB_CHECK(!m.has_thread);
    NB_CHECK_STR(m.project, "p");
    NB_REQUIRE(m.chat.n_messages == 1);
    NB_CHECK_INT(m.chat.messages[0].len, 3); /* an escaped NUL is text like any other */
    NB_CHECK_MEM(m.chat.messages[0].text, "x\0y", 3);
    nb_native_msg_dispose(&m);

    NB_REQUIRE(parse(&m, "{\"project\":\"p\",\"content\":\"hi\",\"history\":[]}", &e) == 0);
    NB_CHECK_INT(m.chat.n_messages, 1);
    nb_native_msg_dispose(&m);

    /* Only space, tab, CR and LF are "nothing to say"; a NUL or a no-break space is text. */
    NB_REQUIRE(parse(&m, "{\"project\":\"p\",\"content\":\" \\u0000\"}", &e) == 0);
    nb_native_msg_dispose(&m);
    NB_REQUIRE(parse(&m, "{\"project\":\"p\",\"content\":\"\\u00a0\"}", &e) == 0);
    nb_native_msg_dispose(&m);
}

static void check_thread(const char *id_json, bool want_thread)
{
    char json[512];
    snprintf(json, sizeof(json), "{\"project\":\"p\",\"content\":\"hi\",\"thread_id\":%s}", id_json);
    nb_native_msg_t m;
    nb_api_error_t e;
    int r = parse(&m, json, &e);
    if (r != 0) {
        NB_FAIL_("%s refused: %s", id_json, e.message);
        return;
    }
    if (m.has_thread != want_thread) NB_FAIL_("%s: has_thread %d", id_json, m.has_thread);
    if (want_thread && memcmp(m.thread, id_a, 32) != 0) NB_FAIL_("%s: wrong id", id_json);
    nb_native_msg_dispose(&m);
}

static void test_thread_ids(void)
{
    check_thread("\"" HEX_A "\"", true);
    check_thread("\"" HEX_A_UPPER "\"", true);
    check_thread("\"" NOTE_A "\"", true);
    check_thread("\"nostr:" NOTE_A "\"", true);
    check_thread("\"" NEVENT_A "\"", true);
    check_thread("\"" NEVENT_A_BARE "\"", true);
    check_thread("\"\"", false);
    check_thread("null", false);

    /* What nb_nip19 encodes must come back. */
    char note[64];
    NB_REQUIRE(nb_nip19_encode32(note, sizeof(note), NB_NIP19_NOTE, id_a) == 0);
    char q[80];
    snprintf(q, sizeof(q), "\"%s\"", note);
    check_thread(q, true);

    static const char *const bad[] = {
        "5",
        "true",
        "[]",
        "{}",
        "\"" NPUB_1 "\"",
        "\"45326f5d6962ab1e3cd424e758c3002b8665f7b0d8dcee9fe9e288d7751ac19\"",   /* 63 hex */
        "\"45326f5d6962ab1e3cd424e758c3002b8665f7b0d8dcee9fe9e288d7751ac1944\"", /* 65 hex */
        "\"g5326f5d6962ab1e3cd424e758c3002b8665f7b0d8dcee9fe9e288d7751ac194\"",  /* 64, not hex */
        "\" " HEX_A "\"",
        "\"note1G5ex7htfv243u0x5ynn43scq9wrxtaasmrwwa8lfu2ydwag6cx2qpjfkfp\"", /* mixed case */
        "\"note1g5ex7htfv243u0x5ynn43scq9wrxtaasmrwwa8lfu2ydwag6cx2qpjfkfq\"", /* checksum */
        "\"hello\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json), "{\"project\":\"p\",\"content\":\"hi\",\"thread_id\":%s}", bad[i]);
        nb_native_msg_t m;
        nb_api_error_t e;
        if (parse(&m, json, &e) == 0) {
            NB_FAIL_("thread_id %s accepted", bad[i]);
            nb_native_msg_dispose(&m);
            continue;
        }
        NB_CHECK_INT(e.status, 400);
        NB_CHECK_STR(e.param, "thread_id");
        NB_CHECK(!m.has_thread);
    }
}

static void test_stop_and_ping(void)
{
    nb_native_msg_t m;
    nb_api_error_t e;
    NB_REQUIRE(parse(&m, "{\"type\":\"stop\",\"thread_id\":\"" NOTE_A "\"}", &e) == 0);
    NB_CHECK_INT(m.type, NB_NATIVE_STOP);
    NB_CHECK(m.has_thread);
    NB_CHECK_MEM(m.thread, id_a, 32);
    NB_CHECK(m.project == NULL && m.chat.messages == NULL);
    nb_native_msg_dispose(&m);

    /* A stop's other fields are not looked at. */
    NB_REQUIRE(
        parse(&m, "{\"type\":\"stop\",\"thread_id\":\"" HEX_A "\",\"content\":5,\"project\":[]}", &e) == 0);
    NB_CHECK_INT(m.type, NB_NATIVE_STOP);
    nb_native_msg_dispose(&m);

    memset(&e, 0, sizeof(e));
    NB_CHECK_INT(parse(&m, "{\"type\":\"stop\"}", &e), NB_EINVAL);
    NB_CHECK_STR(e.param, "thread_id");
    NB_CHECK(strstr(e.message, "stop") != NULL);
    NB_CHECK_INT(m.type, NB_NATIVE_STOP);
    NB_CHECK_INT(parse(&m, "{\"type\":\"stop\",\"thread_id\":\"\"}", &e), NB_EINVAL);
    NB_CHECK_STR(e.param, "thread_id");
    NB_CHECK_INT(parse(&m, "{\"type\":\"stop\",\"thread_id\":null}", &e), NB_EINVAL);

    NB_REQUIRE(parse(&m, "{\"type\":\"ping\"}", &e) == 0);
    NB_CHECK_INT(m.type, NB_NATIVE_PING);
    NB_CHECK(!m.has_thread && m.project == NULL && m.chat.n_messages == 0);
    nb_native_msg_dispose(&m);
    NB_REQUIRE(parse(&m, " {\"type\":\"\\u0070ing\",\"content\":{},\"history\":7} \n", &e) == 0);
    NB_CHECK_INT(m.type, NB_NATIVE_PING);
    nb_native_msg_dispose(&m);
    /* thread_id is checked whenever it is given, even on a ping. */
    NB_CHECK_INT(parse(&m, "{\"type\":\"ping\",\"thread_id\":\"x\"}", &e), NB_EINVAL);
    NB_CHECK_STR(e.param, "thread_id");
}

static void test_bad_messages(void)
{
    static const struct {
        const char *json;
        int err;
        const char *param; /* "" = null */
        const char *msg_part;
    } cases[] = {
        {"", NB_EJSON, "", "not valid JSON"},
        {"{\"project\":\"p\",\"content\":\"hi\"} x", NB_EJSON, "", "not valid JSON"},
        {"{\"project\":\"p\",\"content\":\"hi\",}", NB_EJSON, "", "not valid JSON"},
        {"{\"project\":\"p\",\"content\":\"\xff\"}", NB_EUTF8, "", "UTF-8"},
        {"{\"project\":\"p\",\"content\":\"\\ud800\"}", NB_EUTF8, "", "UTF-8"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
         NB_EJSON_DEPTH, "", "nested"},
        {"[]", NB_EINVAL, "", "JSON object"},
        {"\"message\"", NB_EINVAL, "", "JSON object"},
        {"{\"type\":5}", NB_EINVAL, "type", "string"},
        {"{\"type\":\"chat\"}", NB_EINVAL, "type", "unknown"},
        {"{\"type\":\"Message\",\"project\":\"p\",\"content\":\"hi\"}", NB_EINVAL, "type", "unknown"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"role\":\"assistant\"}", NB_EINVAL, "role", "user"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"role\":1}", NB_EINVAL, "role", "user"},
        {"{\"content\":\"hi\"}", NB_EINVAL, "project", "required"},
        {"{\"project\":null,\"content\":\"hi\"}", NB_EINVAL, "project", "required"},
        {"{\"project\":5,\"content\":\"hi\"}", NB_EINVAL, "project", "string"},
        {"{\"project\":\"\",\"content\":\"hi\"}", NB_EINVAL, "project", "empty"},
        {"{\"project\":\"a\\u0000b\",\"content\":\"hi\"}", NB_EINVAL, "project", "NUL"},
        {"{\"project\":\"p\",\"model\":5,\"content\":\"hi\"}", NB_EINVAL, "model", "string"},
        {"{\"project\":\"p\",\"model\":\"\\u0000\",\"content\":\"hi\"}", NB_EINVAL, "model", "NUL"},
        {"{\"project\":\"p\"}", NB_EINVAL, "content", "required"},
        {"{\"project\":\"p\",\"content\":null}", NB_EINVAL, "content", "required"},
        {"{\"project\":\"p\",\"content\":5}", NB_EINVAL, "content", "string or an array"},
        {"{\"project\":\"p\",\"content\":{\"text\":\"a\"}}", NB_EINVAL, "content", "string or an array"},
        {"{\"project\":\"p\",\"content\":[\"a\"]}", NB_EINVAL, "content", "\"type\""},
        {"{\"project\":\"p\",\"content\":[{\"text\":\"a\"}]}", NB_EINVAL, "content", "\"type\""},
        {"{\"project\":\"p\",\"content\":[{\"type\":1,\"text\":\"a\"}]}", NB_EINVAL, "content", "\"type\""},
        {"{\"project\":\"p\",\"content\":[{\"type\":\"text\"}]}", NB_EINVAL, "content", "\"text\""},
        {"{\"project\":\"p\",\"content\":[{\"type\":\"text\",\"text\":null}]}", NB_EINVAL, "content",
         "\"text\""},
        {"{\"project\":\"p\",\"content\":\"\"}", NB_EINVAL, "content", "no text"},
        {"{\"project\":\"p\",\"content\":\" \\n\\t\\r \"}", NB_EINVAL, "content", "no text"},
        {"{\"project\":\"p\",\"content\":[]}", NB_EINVAL, "content", "no text"},
        {"{\"project\":\"p\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}", NB_EINVAL, "content",
         "no text"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":{}}", NB_EINVAL, "history", "array"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":\"x\"}", NB_EINVAL, "history", "array"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":[1]}", NB_EINVAL, "history[0]", "object"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":[{\"content\":\"x\"}]}", NB_EINVAL,
         "history[0].role", "string"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
         NB_EINVAL, "history[0].role", "unknown"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":[{\"role\":\"user\"}]}", NB_EINVAL,
         "history[0].content", "required"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":[{\"role\":\"user\",\"content\":\"a\"},"
         "{\"role\":\"user\",\"content\":5}]}",
         NB_EINVAL, "history[1].content", "string or an array"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":[{\"role\":\"user\",\"content\":\"a\"},"
         "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}]}",
         NB_EINVAL, "history[1].content", "\"text\""},
        {"{\"project\":\"p\",\"content\":\"hi\",\"history\":[{\"role\":\"user\",\"content\":\"a\","
         "\"role\":\"user\"}]}",
         NB_EINVAL, "history[0].role", "more than once"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"content\":\"ho\"}", NB_EINVAL, "content", "more than once"},
        {"{\"type\":\"ping\",\"type\":\"stop\"}", NB_EINVAL, "type", "more than once"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"thread_id\":null,\"thread_id\":null}", NB_EINVAL,
         "thread_id", "more than once"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"\\u0070roject\":\"q\"}", NB_EINVAL, "project",
         "more than once"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"thread_id\":5}", NB_EINVAL, "thread_id", "string"},
        {"{\"project\":\"p\",\"content\":\"hi\",\"thread_id\":\"abc\"}", NB_EINVAL, "thread_id", "event id"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nb_native_msg_t m;
        nb_api_error_t e;
        memset(&e, 0, sizeof(e));
        int rc = parse(&m, cases[i].json, &e);
        if (rc == 0) {
            NB_FAIL_("case %zu accepted: %s", i, cases[i].json);
            nb_native_msg_dispose(&m);
            continue;
        }
        if (rc != cases[i].err)
            NB_FAIL_("case %zu: %s, expected %s", i, nb_err_name(rc), nb_err_name(cases[i].err));
        NB_CHECK_INT(e.status, 400);
        NB_CHECK_STR(e.type, "invalid_request_error");
        NB_CHECK(e.code == NULL);
        if (strcmp(e.param, cases[i].param) != 0)
            NB_FAIL_("case %zu: param \"%s\", expected \"%s\"", i, e.param, cases[i].param);
        if (strstr(e.message, cases[i].msg_part) == NULL)
            NB_FAIL_("case %zu: message \"%s\" lacks \"%s\"", i, e.message, cases[i].msg_part);
        NB_CHECK(m.project == NULL && m.model == NULL && m.chat.messages == NULL && m.chat.model == NULL);
        NB_CHECK_INT(m.chat.n_messages, 0);
    }
}

static void test_error_keeps_thread(void)
{
    /* The error can be sent on the right thread: thread (and type) survive a failure. */
    nb_native_msg_t m;
    nb_api_error_t e;
    NB_CHECK_INT(parse(&m, "{\"thread_id\":\"" NEVENT_A "\",\"content\":\"hi\"}", &e), NB_EINVAL);
    NB_CHECK_STR(e.param, "project");
    NB_CHECK(m.has_thread);
    NB_CHECK_MEM(m.thread, id_a, 32);
    NB_CHECK_INT(m.type, NB_NATIVE_MESSAGE);
    NB_CHECK(m.project == NULL);

    /* Even when a later field fails after memory was allocated, and for a repeated other key. */
    NB_CHECK_INT(
        parse(&m,
              "{\"project\":\"p\",\"model\":\"m\",\"thread_id\":\"" HEX_A "\",\"content\":\"hi\","
              "\"history\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"x\",\"content\":\"b\"}]}",
              &e),
        NB_EINVAL);
    NB_CHECK_STR(e.param, "history[1].role");
    NB_CHECK(m.has_thread && m.project == NULL && m.model == NULL && m.chat.messages == NULL);
    NB_CHECK_INT(parse(&m, "{\"type\":\"x\",\"type\":\"y\",\"thread_id\":\"" HEX_A "\"}", &e), NB_EINVAL);
    NB_CHECK_STR(e.param, "type");
    NB_CHECK(m.has_thread);
    NB_CHECK_INT(parse(&m, "{\"type\":\"nope\",\"thread_id\":\"" HEX_A "\"}", &e), NB_EINVAL);
    NB_CHECK(m.has_thread);
    NB_CHECK_INT(m.type, 0); /* no type known */
    NB_CHECK_INT(parse(&m, "{\"type\":[],\"thread_id\":\"" HEX_A "\"}", &e), NB_EINVAL);
    NB_CHECK(m.has_thread);
    NB_CHECK_INT(m.type, 0);
    NB_CHECK_INT(parse(&m, "{\"type\":\"stop\",\"thread_id\":\"" HEX_A "\",\"thread_id\":null}", &e),
                 NB_EINVAL); /* a repeated thread_id names no thread */
    NB_CHECK(!m.has_thread);
    /* A syntax error leaves nothing known. */
    NB_CHECK_INT(parse(&m, "{\"thread_id\":\"" HEX_A "\"", &e), NB_EJSON);
    NB_CHECK(!m.has_thread);
}

static void test_request_id(void)
{
    nb_native_msg_t m;
    nb_api_error_t e;
    const char *ok = "{\"project\":\"p\",\"content\":\"hi\",\"request_id\":\"r\\u00e9-1\"}";
    NB_CHECK_INT(nb_native_parse(&m, ok, strlen(ok), NULL, &e), 0);
    NB_CHECK_STR(m.request_id, "r\xc3\xa9-1");
    nb_native_msg_dispose(&m);
    NB_CHECK(m.request_id == NULL);
    /* kept on errors (after it was read), so the error reaches the right place */
    const char *bad = "{\"request_id\":\"r2\",\"content\":\"hi\"}";
    NB_CHECK_INT(nb_native_parse(&m, bad, strlen(bad), NULL, &e), NB_EINVAL);
    NB_CHECK_STR(e.param, "project");
    NB_CHECK_STR(m.request_id, "r2");
    nb_native_msg_dispose(&m);
    const char *ping = "{\"type\":\"ping\",\"request_id\":\"r3\"}";
    NB_CHECK_INT(nb_native_parse(&m, ping, strlen(ping), NULL, &e), 0);
    NB_CHECK_STR(m.request_id, "r3");
    nb_native_msg_dispose(&m);
    const char *null_id = "{\"type\":\"ping\",\"request_id\":null}";
    NB_CHECK_INT(nb_native_parse(&m, null_id, strlen(null_id), NULL, &e), 0);
    NB_CHECK(m.request_id == NULL);
    nb_native_msg_dispose(&m);
    const char *num = "{\"type\":\"ping\",\"request_id\":7}";
    NB_CHECK_INT(nb_native_parse(&m, num, strlen(num), NULL, &e), NB_EINVAL);
    NB_CHECK_STR(e.param, "request_id");
    NB_CHECK(m.request_id == NULL);
    nb_native_msg_dispose(&m);
}

static int parse_lim(nb_native_msg_t *m, const char *json, const nb_native_limits_t *l, nb_api_error_t *e)
{
    int r = nb_native_parse(m, json, strlen(json), l, e);
    if (r == 0) nb_native_msg_dispose(m);
    return r;
}

static void test_limits(void)
{
    nb_native_limits_t l = {2, 10, 8};
    nb_native_msg_t m;
    nb_api_error_t e;
    /* history: 2 entries fit, 3 do not */
    NB_CHECK_INT(
        parse_lim(&m,
                  "{\"project\":\"p\",\"content\":\"c\",\"history\":[{\"role\":\"user\",\"content\":\"a\"},"
                  "{\"role\":\"assistant\",\"content\":\"b\"}]}",
                  &l, &e),
        0);
    NB_CHECK_INT(
        parse_lim(&m,
                  "{\"project\":\"p\",\"content\":\"c\",\"history\":[{\"role\":\"user\",\"content\":\"a\"},"
                  "{\"role\":\"user\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"c\"}]}",
                  &l, &e),
        NB_ETOOBIG);
    NB_CHECK_STR(e.param, "history");
    NB_CHECK(strstr(e.message, "too many") != NULL);

    /* text: 10 decoded bytes in all (escapes count decoded, joins count) */
    NB_CHECK_INT(parse_lim(&m,
                           "{\"project\":\"p\",\"content\":\"\\u00e9fgh\",\"history\":[{\"role\":\"user\","
                           "\"content\":\"abcd\"}]}",
                           &l, &e),
                 0);
    NB_CHECK_INT(parse_lim(&m,
                           "{\"project\":\"p\",\"content\":\"efghij\",\"history\":[{\"role\":\"user\","
                           "\"content\":\"abcde\"}]}",
                           &l, &e),
                 NB_ETOOBIG);
    NB_CHECK_STR(e.param, "content");
    NB_CHECK(strstr(e.message, "too long") != NULL);
    NB_CHECK_INT(parse_lim(&m,
                           "{\"project\":\"p\",\"content\":\"e\",\"history\":[{\"role\":\"user\","
                           "\"content\":\"abcdef\"},{\"role\":\"user\",\"content\":\"ghijk\"}]}",
                           &l, &e),
                 NB_ETOOBIG);
    NB_CHECK_STR(e.param, "history[1].content");
    NB_CHECK_INT(parse_lim(&m,
                           "{\"project\":\"p\",\"content\":[{\"type\":\"text\",\"text\":\"abcde\"},"
                           "{\"type\":\"text\",\"text\":\"fghij\"}]}",
                           &l, &e),
                 NB_ETOOBIG); /* 5 + "\n" + 5 */
    NB_CHECK_STR(e.param, "content");
    NB_CHECK_INT(parse_lim(&m,
                           "{\"project\":\"p\",\"content\":[{\"type\":\"text\",\"text\":\"abcd\"},"
                           "{\"type\":\"text\",\"text\":\"fghij\"}]}",
                           &l, &e),
                 0);

    /* fields: 8 bytes */
    NB_CHECK_INT(parse_lim(&m, "{\"project\":\"12345678\",\"model\":\"abcdefgh\",\"content\":\"c\"}", &l, &e),
                 0);
    NB_CHECK_INT(parse_lim(&m, "{\"project\":\"123456789\",\"content\":\"c\"}", &l, &e), NB_ETOOBIG);
    NB_CHECK_STR(e.param, "project");
    NB_CHECK(strstr(e.message, "too long") != NULL);
    NB_CHECK_INT(parse_lim(&m, "{\"project\":\"p\",\"model\":\"abcdefghi\",\"content\":\"c\"}", &l, &e),
                 NB_ETOOBIG);
    NB_CHECK_STR(e.param, "model");
    NB_CHECK_INT(parse_lim(&m, "{\"project\":\"p\",\"thread_id\":\"" HEX_A "\",\"content\":\"c\"}", &l, &e),
                 NB_ETOOBIG);
    NB_CHECK_STR(e.param, "thread_id");
    l.max_field = 64;
    NB_CHECK_INT(parse_lim(&m, "{\"project\":\"p\",\"thread_id\":\"" HEX_A "\",\"content\":\"c\"}", &l, &e),
                 0);
    NB_CHECK_INT(
        parse_lim(&m, "{\"project\":\"p\",\"thread_id\":\"" NEVENT_A "\",\"content\":\"c\"}", &l, &e),
        NB_ETOOBIG);
    l.max_field = 512;
    NB_CHECK_INT(
        parse_lim(&m, "{\"project\":\"p\",\"thread_id\":\"" NEVENT_A "\",\"content\":\"c\"}", &l, &e), 0);
}

/* ---- events ----------------------------------------------------------------------------------- */

#define T "\"thread_id\":\"" HEX_A "\""

static void test_events_exact(void)
{
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    uint8_t ev[32];
    memset(ev, 0xab, 32);
    const char *ev_hex = "abababababababababababababababababababababababababababababababab";
    char want[512];

    NB_CHECK_INT(nb_native_ev_thread(&b, id_a, ev, "coder"), 0);
    snprintf(want, sizeof(want), "{\"type\":\"thread\"," T ",\"event_id\":\"%s\",\"agent\":\"coder\"}",
             ev_hex);
    NB_CHECK_STR(b.data, want);
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_thread(&b, id_a, ev, NULL), 0);
    snprintf(want, sizeof(want), "{\"type\":\"thread\"," T ",\"event_id\":\"%s\",\"agent\":\"\"}", ev_hex);
    NB_CHECK_STR(b.data, want);
    nb_buf_reset(&b);

    NB_CHECK_INT(nb_native_ev_content(&b, id_a, "hello", 5), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"content\"," T ",\"content\":\"hello\"}");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_content(&b, NULL, "hel", 3), 0); /* len counts, not the NUL */
    NB_CHECK_STR(b.data, "{\"type\":\"content\",\"thread_id\":null,\"content\":\"hel\"}");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_content(&b, NULL, NULL, 0), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"content\",\"thread_id\":null,\"content\":\"\"}");
    nb_buf_reset(&b);

    NB_CHECK_INT(nb_native_ev_status(&b, id_a, "thinking", 8), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"status\"," T ",\"message\":\"thinking\"}");
    nb_buf_reset(&b);

    NB_CHECK_INT(nb_native_ev_tool(&b, id_a, "shell", 5, "{\"cmd\": \"ls -l\"}", 16), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"tool\"," T ",\"name\":\"shell\",\"args\":{\"cmd\":\"ls -l\"}}");
    nb_buf_reset(&b);

    const char *agents[] = {"pm", "coder"};
    NB_CHECK_INT(nb_native_ev_activity(&b, id_a, agents, 2), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"activity\"," T ",\"agents\":[\"pm\",\"coder\"]}");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_activity(&b, id_a, NULL, 0), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"activity\"," T ",\"agents\":[]}");
    nb_buf_reset(&b);

    NB_CHECK_INT(nb_native_ev_delegation(&b, NULL, agents + 1, 1), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"delegation\",\"thread_id\":null,\"to\":[\"coder\"]}");
    nb_buf_reset(&b);

    const char *opts[] = {"yes", "no \"way\""};
    nb_native_ask_t ask = {{0}, "Deploy?", 7, "Ship it now?", 12, opts, 2, false};
    memset(ask.ask_id, 0xab, 32);
    NB_CHECK_INT(nb_native_ev_ask(&b, id_a, &ask), 0);
    snprintf(want, sizeof(want),
             "{\"type\":\"ask\"," T ",\"ask_id\":\"%s\",\"title\":\"Deploy?\",\"question\":\"Ship it now?\","
             "\"suggestions\":[\"yes\",\"no \\\"way\\\"\"],\"multiselect\":false}",
             ev_hex);
    NB_CHECK_STR(b.data, want);
    nb_buf_reset(&b);
    nb_native_ask_t multi = {{0}, NULL, 0, "Pick", 4, NULL, 0, true};
    NB_CHECK_INT(nb_native_ev_ask(&b, NULL, &multi), 0);
    NB_CHECK_STR(b.data,
                 "{\"type\":\"ask\",\"thread_id\":null,\"ask_id\":\"0000000000000000000000000000000000000000"
                 "000000000000000000000000\",\"title\":\"\",\"question\":\"Pick\",\"suggestions\":[],"
                 "\"multiselect\":true}");
    nb_buf_reset(&b);

    nb_usage_t u = {12, 30, 42};
    NB_CHECK_INT(nb_native_ev_end(&b, id_a, "completed", &u), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"end\"," T ",\"reason\":\"completed\",\"usage\":{\"prompt_tokens\":12,"
                         "\"completion_tokens\":30,\"total_tokens\":42}}");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_end(&b, id_a, "idle", NULL), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"end\"," T ",\"reason\":\"idle\",\"usage\":null}");
    nb_buf_reset(&b);

    NB_CHECK_INT(nb_native_ev_error(&b, NULL, "no such project", "project_not_found"), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"error\",\"thread_id\":null,\"message\":\"no such project\","
                         "\"code\":\"project_not_found\"}");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_error(&b, id_a, "boom", NULL), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"error\"," T ",\"message\":\"boom\",\"code\":\"error\"}");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_error(&b, NULL, NULL, NULL), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"error\",\"thread_id\":null,\"message\":\"\",\"code\":\"error\"}");
    nb_buf_reset(&b);

    NB_CHECK_INT(nb_native_ev_stopped(&b, id_a), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"stopped\"," T "}");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_stopped(&b, NULL), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"stopped\",\"thread_id\":null}");
    nb_buf_reset(&b);

    NB_CHECK_INT(nb_native_ev_pong(&b), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"pong\"}");

    /* Builders append: two events back to back. */
    NB_CHECK_INT(nb_native_ev_pong(&b), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"pong\"}{\"type\":\"pong\"}");
    nb_buf_dispose(&b);
}

/* The "content" of one content event for text[0..len). */
static void check_escape(const char *text, size_t len, const char *want_json)
{
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    NB_CHECK_INT(nb_native_ev_content(&b, NULL, text, len), 0);
    const char *prefix = "{\"type\":\"content\",\"thread_id\":null,\"content\":";
    size_t pl = strlen(prefix);
    if (b.len < pl + 1 || strncmp(b.data, prefix, pl) != 0 || b.data[b.len - 1] != '}') {
        NB_FAIL_("bad event %s", b.data ? b.data : "(null)");
    } else {
        b.data[b.len - 1] = '\0';
        NB_CHECK_STR(b.data + pl, want_json);
        b.data[b.len - 1] = '}';
    }
    nb_json_tok_t toks[16];
    size_t n;
    NB_CHECK_INT(nb_json_parse(toks, 16, &n, b.data, b.len), 0);
    nb_buf_dispose(&b);
}

#define ESC(lit, want) check_escape(lit, sizeof(lit) - 1, want)

static void test_escaping(void)
{
    ESC("a\"b\\c", "\"a\\\"b\\\\c\"");
    ESC("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
    ESC("\x01\x1f", "\"\\u0001\\u001f\"");
    ESC("x\0y", "\"x\\u0000y\"");
    ESC("/\x7f", "\"/\x7f\"");
    ESC("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* Invalid UTF-8: one U+FFFD per maximal ill-formed subpart (as TextDecoder does). */
    ESC("\xff", "\"\xef\xbf\xbd\"");
    ESC("a\x80z", "\"a\xef\xbf\xbdz\"");
    ESC("\xe2\x82", "\"\xef\xbf\xbd\"");
    ESC("\xe2\x82"
        "A\n",
        "\"\xef\xbf\xbd"
        "A\\n\"");
    ESC("\xf0\x9f\x98", "\"\xef\xbf\xbd\"");
    ESC("\xf0\x9f\x98\xc3\xa9", "\"\xef\xbf\xbd\xc3\xa9\"");
    ESC("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");                                 /* overlong */
    ESC("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");                 /* surrogate */
    ESC("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* > U+10FFFF */
    ESC("ok\xe2\x82\xac\xe2", "\"ok\xe2\x82\xac\xef\xbf\xbd\"");

    /* Other fields go through the same writer. */
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    const char *agents[] = {"a\"\xff"};
    NB_CHECK_INT(nb_native_ev_activity(&b, NULL, agents, 1), 0);
    NB_CHECK_STR(b.data, "{\"type\":\"activity\",\"thread_id\":null,\"agents\":[\"a\\\"\xef\xbf\xbd\"]}");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_native_ev_error(&b, NULL, "bad\tthing\x01", "c\""), 0);
    NB_CHECK_STR(
        b.data,
        "{\"type\":\"error\",\"thread_id\":null,\"message\":\"bad\\tthing\\u0001\",\"code\":\"c\\\"\"}");
    nb_buf_dispose(&b);
}

/* The "args" of one tool event. */
static void check_args(const char *args, size_t len, const char *want_json)
{
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    NB_CHECK_INT(nb_native_ev_tool(&b, NULL, "t", 1, args, len), 0);
    const char *prefix = "{\"type\":\"tool\",\"thread_id\":null,\"name\":\"t\",\"args\":";
    size_t pl = strlen(prefix);
    if (b.len < pl + 1 || strncmp(b.data, prefix, pl) != 0 || b.data[b.len - 1] != '}') {
        NB_FAIL_("bad event %s", b.data ? b.data : "(null)");
    } else {
        b.data[b.len - 1] = '\0';
        NB_CHECK_STR(b.data + pl, want_json);
        b.data[b.len - 1] = '}';
    }
    nb_json_tok_t toks[256];
    size_t n;
    NB_CHECK_INT(nb_json_parse(toks, 256, &n, b.data, b.len), 0);
    nb_buf_dispose(&b);
}

#define ARGS(lit, want) check_args(lit, sizeof(lit) - 1, want)

static void test_tool_args(void)
{
    /* Valid JSON: embedded, compacted, strings and numbers byte for byte. */
    ARGS("{\"command\":\"ls\"}", "{\"command\":\"ls\"}");
    ARGS(" {\n  \"a b\" : \"c  d\",\t\"n\": [1, 2.50e3 , -0, true,false,null ] ,\"o\":{ }}\r\n",
         "{\"a b\":\"c  d\",\"n\":[1,2.50e3,-0,true,false,null],\"o\":{}}");
    ARGS("{\"q\": \"x\\\" y\\\\\", \"u\": \"\\u00e9 \\/\"}", "{\"q\":\"x\\\" y\\\\\",\"u\":\"\\u00e9 \\/\"}");
    ARGS("42", "42");
    ARGS(" \"just a string\" ", "\"just a string\"");
    ARGS("null", "null");
    ARGS("[]", "[]");
    /* Not JSON: the raw text as a string. */
    ARGS("{command: ls}", "\"{command: ls}\"");
    ARGS("{} x", "\"{} x\"");
    ARGS("ls -l \"dir\"", "\"ls -l \\\"dir\\\"\"");
    ARGS("  ", "\"  \"");
    ARGS("{\"a\":\"\xff\"}", "\"{\\\"a\\\":\\\"\xef\xbf\xbd\\\"}\"");
    /* Nested NB_JSON_MAX_DEPTH deep: valid alone, but the event around it would be one level too
     * deep for our own tokenizer, so it goes out as a string; one level less is embedded. */
    char deep[2 * NB_JSON_MAX_DEPTH + 1], want[sizeof(deep) + 2];
    memset(deep, '[', NB_JSON_MAX_DEPTH);
    memset(deep + NB_JSON_MAX_DEPTH, ']', NB_JSON_MAX_DEPTH);
    deep[sizeof(deep) - 1] = '\0';
    snprintf(want, sizeof(want), "\"%s\"", deep);
    check_args(deep, strlen(deep), want);
    deep[2 * NB_JSON_MAX_DEPTH - 1] = '\0';
    check_args(deep + 1, strlen(deep + 1), deep + 1);
    /* Brackets inside strings do not nest. */
    char quoted[NB_JSON_MAX_DEPTH + 8];
    memset(quoted, '[', sizeof(quoted));
    quoted[0] = '[';
    quoted[1] = '"';
    memcpy(quoted + sizeof(quoted) - 3, "\"]", 3);
    check_args(quoted, strlen(quoted), quoted);
    /* Nothing: null. */
    check_args(NULL, 0, "null");
    check_args("{}", 0, "null");

    /* Large args take the heap token array. */
    nb_buf_t big;
    nb_buf_init(&big, 1 << 20);
    nb_buf_appendc(&big, '[');
    for (int i = 0; i < 500; i++)
        nb_buf_appends(&big, i ? " , 1" : "1");
    nb_buf_appendc(&big, ']');
    nb_buf_t out;
    nb_buf_init(&out, 1 << 20);
    NB_CHECK_INT(nb_native_ev_tool(&out, NULL, "t", 1, big.data, big.len), 0);
    NB_CHECK(strstr(out.data, "\"args\":[1,1,1,") != NULL);
    NB_CHECK(out.len ==
             strlen("{\"type\":\"tool\",\"thread_id\":null,\"name\":\"t\",\"args\":}") + 1 + 500 * 2);
    nb_buf_dispose(&out);
    nb_buf_dispose(&big);
}

/* Build event `which` into b. Returns the builder's result; -1 past the last. */
static int build(int which, nb_buf_t *b)
{
    static const char *const agents[] = {"pm", "co\"der"};
    static const char *const opts[] = {"a", "b"};
    static const nb_usage_t u = {1, 2, 3};
    nb_native_ask_t ask = {{0}, "t", 1, "q?", 2, opts, 2, true};
    switch (which) {
    case 0:
        return nb_native_ev_thread(b, id_a, id_a, "agent");
    case 1:
        return nb_native_ev_content(b, id_a, "some text \xe2\x82\xac", 13);
    case 2:
        return nb_native_ev_content(b, id_a, "bad \xff utf8", 10); /* the repair path */
    case 3:
        return nb_native_ev_status(b, NULL, "status\n", 7);
    case 4:
        return nb_native_ev_tool(b, id_a, "shell", 5, "{ \"cmd\" : [ 1 , 2 ] }", 21);
    case 5:
        return nb_native_ev_tool(b, id_a, "shell", 5, "not json", 8);
    case 6:
        return nb_native_ev_activity(b, id_a, agents, 2);
    case 7:
        return nb_native_ev_ask(b, id_a, &ask);
    case 8:
        return nb_native_ev_delegation(b, NULL, agents, 2);
    case 9:
        return nb_native_ev_end(b, id_a, "ask", &u);
    case 10:
        return nb_native_ev_error(b, id_a, "m", "agent_timeout");
    case 11:
        return nb_native_ev_stopped(b, id_a);
    case 12:
        return nb_native_ev_pong(b);
    default:
        return -1;
    }
}

static void test_ceiling(void)
{
    /* Every builder: it fits in exactly its length, fails with NB_ETOOBIG at any smaller ceiling,
     * and a failure leaves what the buffer held untouched. */
    for (int w = 0;; w++) {
        nb_buf_t full;
        nb_buf_init(&full, 1 << 20);
        int r = build(w, &full);
        if (r == -1) {
            nb_buf_dispose(&full);
            break;
        }
        NB_CHECK_INT(r, 0);
        nb_json_tok_t toks[64];
        size_t n;
        if (nb_json_parse(toks, 64, &n, full.data, full.len) != 0 || toks[0].type != NB_JSON_OBJECT)
            NB_FAIL_("event %d is not a JSON object: %s", w, full.data);
        for (size_t max = 4; max <= 4 + full.len; max++) {
            nb_buf_t b;
            nb_buf_init(&b, max);
            NB_CHECK_INT(nb_buf_appends(&b, "keep"), 0);
            r = build(w, &b);
            if (max == 4 + full.len) {
                NB_CHECK_INT(r, 0);
                NB_CHECK(b.len == max && strncmp(b.data + 4, full.data, full.len) == 0);
            } else if (r != NB_ETOOBIG || b.len != 4 || strcmp(b.data, "keep") != 0) {
                NB_FAIL_("event %d, ceiling %zu: %d, \"%s\"", w, max, r, b.data);
            }
            nb_buf_dispose(&b);
        }
        nb_buf_dispose(&full);
    }
}

int main(void)
{
    NB_RUN(test_defaults);
    NB_RUN(test_minimal_message);
    NB_RUN(test_full_message);
    NB_RUN(test_optional_fields);
    NB_RUN(test_thread_ids);
    NB_RUN(test_stop_and_ping);
    NB_RUN(test_bad_messages);
    NB_RUN(test_request_id);
    NB_RUN(test_error_keeps_thread);
    NB_RUN(test_limits);
    NB_RUN(test_events_exact);
    NB_RUN(test_escaping);
    NB_RUN(test_tool_args);
    NB_RUN(test_ceiling);
    return nb_test_summary();
}
