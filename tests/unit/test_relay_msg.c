/*
 * test_relay_msg.c — the relay message codec: every message type both ways, exact builder output,
 * text cutting, large frames, and a table of malformed frames.
 */
#include "bridge/relay_msg.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "test.h"

/* Signed by nostr-tools 2.25.2 (finalizeEvent), so the signatures are independently valid. */
#define EV1_ID "d080cad9725d01bc0ff0e78587deb4a75ea21ceb5d782e7b03f7dc9f7ebdf22a"
#define EV1                                                                                                  \
    "{\"kind\":1,\"created_at\":1700000000,\"tags\":[[\"e\","                                                \
    "\"5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36\",\"\",\"root\"],[\"p\","            \
    "\"17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917\"],[\"E\","                          \
    "\"5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36\"]],\"content\":\"héllo "           \
    "wörld 👋 \\\"quoted\\\"\\nnew line\\ttab \\\\ back\",\"pubkey\":"                                    \
    "\"17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917\",\"id\":\"" EV1_ID                  \
    "\",\"sig\":\"86bb9d48856ef72b636718d0902a586a3249156444bc3a5dd489023b50e84f9dd07601ff3088bd3"           \
    "75a196e7c2102e26725b668b07be305f87a530a60ab2764fa\"}"
#define EV1_CONTENT "héllo wörld 👋 \"quoted\"\nnew line\ttab \\ back"

/* A NIP-42 auth event (kind 22242 with relay and challenge tags). */
#define EV2_ID "d2d5003a4a7e5422fd275e3d9f7b9badc5efeec8df4971b525447f3834a81656"
#define EV2                                                                                                  \
    "{\"kind\":22242,\"created_at\":1700000100,\"tags\":[[\"relay\",\"wss://relay.example.com\"],"           \
    "[\"challenge\",\"chal-123\"]],\"content\":\"\",\"pubkey\":"                                             \
    "\"17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917\",\"id\":\"" EV2_ID                  \
    "\",\"sig\":\"298b3e7a54446313eac58e6c038e3df5619d2cd57d62af86d02052c50952386b840f1ca85764a82"           \
    "67b8ed2ba40497ff4e06a507caaa55dd6787d9976ac2556d3\"}"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SUB64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The message is large (several KiB): one per test file, reused, as the pool will. */
static nb_relay_msg_t m;

static int rparse(const char *s)
{
    return nb_relay_msg_parse(&m, s, strlen(s), NULL);
}

static int cparse(const char *s)
{
    return nb_client_msg_parse(&m, s, strlen(s), NULL);
}

/* An unsigned event with fixed bytes: parsing never verifies, so it round-trips as is. */
static void make_event(nb_event_t *ev)
{
    nb_event_init(ev);
    memset(ev->id, 0x11, 32);
    memset(ev->pubkey, 0x22, 32);
    memset(ev->sig, 0x33, 64);
    ev->kind = 1;
    ev->created_at = 1700000000;
    NB_EVENT_TAG(ev, "e", HEX_A, "", "root");
    NB_EVENT_TAG(ev, "P", HEX_A);
    NB_EVENT_TAG(ev, "t");
    static const char content[] = "multi\nline \"quoted\" \\ é 👋 \x01 and a NUL:\0end";
    nb_event_set_content(ev, content, sizeof(content) - 1);
}

static bool same_event(const nb_event_t *a, const nb_event_t *b)
{
    nb_buf_t x, y;
    nb_buf_init(&x, 1 << 20);
    nb_buf_init(&y, 1 << 20);
    bool same = nb_event_to_json(&x, a) == 0 && nb_event_to_json(&y, b) == 0 && x.len == y.len &&
                memcmp(x.data, y.data, x.len) == 0;
    nb_buf_dispose(&x);
    nb_buf_dispose(&y);
    return same;
}

static void check_clean(void)
{
    NB_CHECK_INT(m.type, 0);
    NB_CHECK(!m.has_event);
    NB_CHECK_INT(m.n_filters, 0);
    NB_CHECK_INT(m.text_len, 0);
    NB_CHECK_STR(m.sub_id, "");
}

/* ---- relay → client ---------------------------------------------------------------------------- */

static void test_relay_event_signed(void)
{
    NB_CHECK_INT(rparse("[\"EVENT\",\"sub-1\"," EV1 "]"), 0);
    NB_CHECK_INT(m.type, NB_RMSG_EVENT);
    NB_CHECK_STR(m.sub_id, "sub-1");
    NB_REQUIRE(m.has_event);
    char hex[65];
    nb_event_id_hex(&m.event, hex);
    NB_CHECK_STR(hex, EV1_ID);
    NB_CHECK_INT(m.event.kind, 1);
    NB_CHECK_INT(m.event.created_at, 1700000000);
    NB_CHECK_INT(m.event.ntags, 3);
    NB_CHECK_STR(m.event.content.p, EV1_CONTENT);
    /* Parsing does not verify, but this one is genuine: the codec kept every byte intact. */
    NB_CHECK_INT(nb_event_verify(&m.event), 0);

    const nb_str_t *root = nb_event_tag_value(&m.event, "e");
    NB_CHECK(root != NULL && root->len == 64);

    /* Build it again and parse that: the same event comes back, still valid. */
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    NB_CHECK_INT(nb_msg_build_sub_event(&b, "sub-2", &m.event), 0);
    nb_relay_msg_t *copy = malloc(sizeof(*copy));
    NB_REQUIRE(copy != NULL);
    nb_relay_msg_init(copy);
    NB_CHECK_INT(nb_relay_msg_parse(copy, b.data, b.len, NULL), 0);
    NB_CHECK_STR(copy->sub_id, "sub-2");
    NB_CHECK(copy->has_event && same_event(&copy->event, &m.event));
    NB_CHECK_INT(nb_event_verify(&copy->event), 0);
    nb_relay_msg_dispose(copy);
    free(copy);
    nb_buf_dispose(&b);
}

static void test_relay_event_roundtrip(void)
{
    nb_event_t ev;
    nb_buf_t b;
    make_event(&ev);
    nb_buf_init(&b, 1 << 20);
    NB_CHECK_INT(nb_msg_build_sub_event(&b, SUB64, &ev), 0);
    NB_CHECK_INT(nb_relay_msg_parse(&m, b.data, b.len, NULL), 0);
    NB_CHECK_INT(m.type, NB_RMSG_EVENT);
    NB_CHECK_STR(m.sub_id, SUB64);
    NB_CHECK(m.has_event && same_event(&m.event, &ev));
    NB_CHECK_INT(m.event.content.len, ev.content.len);
    nb_buf_dispose(&b);
    nb_event_dispose(&ev);
}

static void test_relay_ok(void)
{
    uint8_t id[32];
    NB_REQUIRE(nb_hex_decode(id, 32, EV1_ID, 64) == 0);

    NB_CHECK_INT(rparse("[\"OK\",\"" EV1_ID "\",true,\"\"]"), 0);
    NB_CHECK_INT(m.type, NB_RMSG_OK);
    NB_CHECK_MEM(m.event_id, id, 32);
    NB_CHECK(m.ok);
    NB_CHECK_INT(m.text_len, 0);

    NB_CHECK_INT(rparse(" [ \"OK\" , \"" EV1_ID "\" , false , \"blocked: you are banned\" ] "), 0);
    NB_CHECK(!m.ok);
    NB_CHECK_STR(m.text, "blocked: you are banned");

    /* NIP-01 makes the 4th element mandatory; its absence is tolerated as an empty message. */
    NB_CHECK_INT(rparse("[\"OK\",\"" EV1_ID "\",true]"), 0);
    NB_CHECK(m.ok);
    NB_CHECK_INT(m.text_len, 0);

    nb_buf_t b;
    nb_buf_init(&b, 4096);
    NB_CHECK_INT(nb_msg_build_ok(&b, id, false, "rate-limited: slow \"down\""), 0);
    NB_CHECK_STR(b.data, "[\"OK\",\"" EV1_ID "\",false,\"rate-limited: slow \\\"down\\\"\"]");
    NB_CHECK_INT(nb_relay_msg_parse(&m, b.data, b.len, NULL), 0);
    NB_CHECK_STR(m.text, "rate-limited: slow \"down\"");
    NB_CHECK(!m.ok);
    NB_CHECK_MEM(m.event_id, id, 32);
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_ok(&b, id, true, NULL), 0);
    NB_CHECK_STR(b.data, "[\"OK\",\"" EV1_ID "\",true,\"\"]");
    nb_buf_dispose(&b);
}

static void test_relay_eose_closed_notice_auth(void)
{
    nb_buf_t b;
    nb_buf_init(&b, 4096);

    NB_CHECK_INT(nb_msg_build_eose(&b, "s1"), 0);
    NB_CHECK_STR(b.data, "[\"EOSE\",\"s1\"]");
    NB_CHECK_INT(rparse(b.data), 0);
    NB_CHECK_INT(m.type, NB_RMSG_EOSE);
    NB_CHECK_STR(m.sub_id, "s1");

    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_closed(&b, "s1", "auth-required: we only serve our members"), 0);
    NB_CHECK_STR(b.data, "[\"CLOSED\",\"s1\",\"auth-required: we only serve our members\"]");
    NB_CHECK_INT(rparse(b.data), 0);
    NB_CHECK_INT(m.type, NB_RMSG_CLOSED);
    NB_CHECK_STR(m.sub_id, "s1");
    NB_CHECK_STR(m.text, "auth-required: we only serve our members");
    NB_CHECK_INT(rparse("[\"CLOSED\",\"s2\"]"), 0); /* tolerated like OK */
    NB_CHECK_STR(m.sub_id, "s2");
    NB_CHECK_INT(m.text_len, 0);

    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_notice(&b, "héllo\n\t\x1f/👋"), 0);
    NB_CHECK_STR(b.data, "[\"NOTICE\",\"héllo\\n\\t\\u001f/👋\"]");
    NB_CHECK_INT(rparse(b.data), 0);
    NB_CHECK_INT(m.type, NB_RMSG_NOTICE);
    NB_CHECK_STR(m.text, "héllo\n\t\x1f/👋");
    NB_CHECK_STR(m.sub_id, "");

    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_auth_challenge(&b, "chal-123"), 0);
    NB_CHECK_STR(b.data, "[\"AUTH\",\"chal-123\"]");
    NB_CHECK_INT(rparse(b.data), 0);
    NB_CHECK_INT(m.type, NB_RMSG_AUTH);
    NB_CHECK_STR(m.text, "chal-123");
    NB_CHECK(!m.has_event);

    /* Escapes in texts and names are decoded (a message name is just a JSON string). */
    NB_CHECK_INT(rparse("[\"\\u004eOTICE\",\"a\\u0000b\\ud83d\\udc4b\"]"), 0);
    NB_CHECK_INT(m.type, NB_RMSG_NOTICE);
    NB_CHECK_INT(m.text_len, 7);
    NB_CHECK_MEM(m.text, "a\0b👋", 8);
    nb_buf_dispose(&b);
}

/* Texts longer than NB_RELAY_MSG_MAX_TEXT are cut on a UTF-8 boundary, not refused. */
static void test_text_cut(void)
{
    static const struct {
        size_t pad;       /* 'a' bytes first */
        const char *tail; /* then this (raw JSON string text) */
        size_t want;      /* decoded length after the cut */
    } cases[] = {
        {4096, "", 4096}, /* exactly the maximum: untouched */
        {4095, "b", 4096},
        {4096, "b", 4096},
        {4095, "é", 4095}, /* 2-byte char straddles the cut */
        {4094, "é", 4096}, /* ends exactly at the cut */
        {4095, "€", 4095}, /* 3 bytes, cut after the first */
        {4094, "€", 4094}, /* cut after the second */
        {4093, "€", 4096}, /* fits exactly */
        {4093, "👋", 4093}, /* 4 bytes */
        {4092, "👋", 4096},
        {4095, "\\u00e9", 4095}, /* escaped input, same rule */
        {4095, "\\ud83d\\udc4b", 4095},
        {10000, "", 4096},
        {0, "", 0},
    };
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *types[] = {"NOTICE", "AUTH", "CLOSED", "OK"};
        for (size_t t = 0; t < 4; t++) {
            nb_buf_reset(&b);
            nb_buf_appendf(&b, "[\"%s\",", types[t]);
            if (t == 2) nb_buf_appends(&b, "\"sub\",");
            if (t == 3) nb_buf_appends(&b, "\"" HEX_A "\",true,");
            nb_buf_appendc(&b, '"');
            for (size_t k = 0; k < cases[i].pad; k++)
                nb_buf_appendc(&b, 'a');
            nb_buf_appendf(&b, "%s\"]", cases[i].tail);
            int r = nb_relay_msg_parse(&m, b.data, b.len, NULL);
            NB_CHECK_INT(r, 0);
            if (m.text_len != cases[i].want) fprintf(stderr, "case %zu (%s)\n", i, types[t]);
            NB_CHECK_INT(m.text_len, cases[i].want);
            NB_CHECK_INT(strlen(m.text), cases[i].want);
        }
    }
    nb_buf_dispose(&b);
}

/* ---- client → relay ---------------------------------------------------------------------------- */

static void test_client_event_auth(void)
{
    NB_CHECK_INT(cparse("[\"EVENT\"," EV1 "]"), 0);
    NB_CHECK_INT(m.type, NB_RMSG_EVENT);
    NB_CHECK(m.has_event);
    NB_CHECK_STR(m.sub_id, "");
    NB_CHECK_INT(nb_event_verify(&m.event), 0);

    NB_CHECK_INT(cparse("[\"AUTH\"," EV2 "]"), 0);
    NB_CHECK_INT(m.type, NB_RMSG_AUTH);
    NB_REQUIRE(m.has_event);
    NB_CHECK_INT(m.event.kind, 22242);
    const nb_str_t *c = nb_event_tag_value(&m.event, "challenge");
    NB_CHECK(c != NULL && c->len == 8 && memcmp(c->p, "chal-123", 8) == 0);
    NB_CHECK_INT(nb_event_verify(&m.event), 0);

    nb_event_t ev;
    nb_buf_t b;
    make_event(&ev);
    nb_buf_init(&b, 1 << 20);
    NB_CHECK_INT(nb_msg_build_event(&b, &ev), 0);
    NB_CHECK(strncmp(b.data, "[\"EVENT\",{", 10) == 0);
    NB_CHECK_INT(nb_client_msg_parse(&m, b.data, b.len, NULL), 0);
    NB_CHECK_INT(m.type, NB_RMSG_EVENT);
    NB_CHECK(m.has_event && same_event(&m.event, &ev));
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_auth(&b, &ev), 0);
    NB_CHECK(strncmp(b.data, "[\"AUTH\",{", 9) == 0);
    NB_CHECK_INT(nb_client_msg_parse(&m, b.data, b.len, NULL), 0);
    NB_CHECK_INT(m.type, NB_RMSG_AUTH);
    NB_CHECK(m.has_event && same_event(&m.event, &ev));
    /* The client forms are not relay messages. */
    NB_CHECK_INT(nb_relay_msg_parse(&m, b.data, b.len, NULL), NB_EFRAME);
    check_clean();
    nb_buf_dispose(&b);
    nb_event_dispose(&ev);
}

static void test_client_req_close(void)
{
    nb_filter_t f[3];
    uint8_t k[32];
    for (int i = 0; i < 3; i++)
        nb_filter_init(&f[i]);
    nb_filter_add_kind(&f[0], 1);
    nb_filter_add_kind(&f[0], 24133);
    memset(k, 0xaa, 32);
    nb_filter_add_author(&f[0], k);
    f[0].since = 1700000000;
    NB_CHECK_INT(nb_filter_add_tag(&f[1], 'E', "root", 4), 0);
    NB_CHECK_INT(nb_filter_add_tag(&f[1], 'p', "é👋\"", 7), 0);
    f[1].limit = 0;

    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    NB_CHECK_INT(nb_msg_build_req(&b, "conv-1", f, 3), 0);
    NB_CHECK_STR(b.data, "[\"REQ\",\"conv-1\",{\"authors\":[\"" HEX_A "\"],\"kinds\":[1,24133],"
                         "\"since\":1700000000},{\"#E\":[\"root\"],\"#p\":[\"é👋\\\"\"],\"limit\":0},{}]");
    NB_CHECK_INT(cparse(b.data), 0);
    NB_CHECK_INT(m.type, NB_RMSG_REQ);
    NB_CHECK_STR(m.sub_id, "conv-1");
    NB_REQUIRE(m.n_filters == 3);
    nb_buf_t again;
    nb_buf_init(&again, 1 << 20);
    NB_CHECK_INT(nb_msg_build_req(&again, m.sub_id, m.filters, m.n_filters), 0);
    NB_CHECK_STR(again.data, b.data);
    nb_buf_dispose(&again);

    /* A REQ with the maximum number of filters is fine; one more is too big. */
    nb_filter_t many[NB_REQ_MAX_FILTERS + 1];
    for (int i = 0; i <= NB_REQ_MAX_FILTERS; i++) {
        nb_filter_init(&many[i]);
        nb_filter_add_kind(&many[i], (uint32_t)i);
    }
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_req(&b, "m", many, NB_REQ_MAX_FILTERS), 0);
    NB_CHECK_INT(cparse(b.data), 0);
    NB_CHECK_INT(m.n_filters, NB_REQ_MAX_FILTERS);
    NB_CHECK_INT(m.filters[NB_REQ_MAX_FILTERS - 1].kinds[0], NB_REQ_MAX_FILTERS - 1);
    NB_CHECK_INT(nb_msg_build_req(&b, "m", many, NB_REQ_MAX_FILTERS + 1), NB_EINVAL);
    nb_buf_reset(&b);
    nb_buf_appends(&b, "[\"REQ\",\"m\"");
    for (int i = 0; i <= NB_REQ_MAX_FILTERS; i++)
        nb_buf_appends(&b, ",{}");
    nb_buf_appendc(&b, ']');
    NB_CHECK_INT(cparse(b.data), NB_ETOOBIG);
    check_clean();
    for (int i = 0; i <= NB_REQ_MAX_FILTERS; i++)
        nb_filter_dispose(&many[i]);

    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_close(&b, "conv-1"), 0);
    NB_CHECK_STR(b.data, "[\"CLOSE\",\"conv-1\"]");
    NB_CHECK_INT(cparse(b.data), 0);
    NB_CHECK_INT(m.type, NB_RMSG_CLOSE);
    NB_CHECK_STR(m.sub_id, "conv-1");

    nb_buf_dispose(&b);
    for (int i = 0; i < 3; i++)
        nb_filter_dispose(&f[i]);
}

/* ---- builders ---------------------------------------------------------------------------------- */

static void test_builder_sub_ids(void)
{
    nb_buf_t b;
    nb_filter_t f;
    nb_event_t ev;
    nb_buf_init(&b, 1 << 20);
    nb_filter_init(&f);
    make_event(&ev);
    nb_buf_appends(&b, "prefix");
    const char *bad[] = {NULL, "", SUB64 "x"};
    for (size_t i = 0; i < 3; i++) {
        NB_CHECK_INT(nb_msg_build_req(&b, bad[i], &f, 1), NB_EINVAL);
        NB_CHECK_INT(nb_msg_build_close(&b, bad[i]), NB_EINVAL);
        NB_CHECK_INT(nb_msg_build_eose(&b, bad[i]), NB_EINVAL);
        NB_CHECK_INT(nb_msg_build_closed(&b, bad[i], "x"), NB_EINVAL);
        NB_CHECK_INT(nb_msg_build_sub_event(&b, bad[i], &ev), NB_EINVAL);
    }
    NB_CHECK_INT(nb_msg_build_req(&b, "s", &f, 0), NB_EINVAL);
    NB_CHECK_STR(b.data, "prefix");
    NB_CHECK_INT(nb_msg_build_close(&b, SUB64), 0);
    NB_CHECK_STR(b.data, "prefix[\"CLOSE\",\"" SUB64 "\"]");
    /* Sub ids are written as JSON strings: quotes and control bytes are escaped. */
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_eose(&b, "a\"b\\c\n"), 0);
    NB_CHECK_STR(b.data, "[\"EOSE\",\"a\\\"b\\\\c\\n\"]");
    NB_CHECK_INT(rparse(b.data), 0);
    NB_CHECK_STR(m.sub_id, "a\"b\\c\n");
    nb_event_dispose(&ev);
    nb_filter_dispose(&f);
    nb_buf_dispose(&b);
}

/* A builder that hits the buffer's ceiling leaves the buffer exactly as it was. */
static void test_builder_too_big(void)
{
    nb_event_t ev;
    nb_filter_t f[2];
    uint8_t id[32] = {0};
    make_event(&ev);
    nb_filter_init(&f[0]);
    nb_filter_init(&f[1]);
    nb_filter_add_kind(&f[1], 1);
    for (size_t max = 0; max < 400; max += 7) {
        nb_buf_t b;
        nb_buf_init(&b, max);
        int pre = nb_buf_appends(&b, "xy") == 0 ? 2 : 0;
        int rs[] = {
            nb_msg_build_event(&b, &ev),          nb_msg_build_auth(&b, &ev),
            nb_msg_build_sub_event(&b, "s", &ev), nb_msg_build_req(&b, "s", f, 2),
            nb_msg_build_close(&b, "s"),          nb_msg_build_ok(&b, id, true, "some text"),
            nb_msg_build_eose(&b, "s"),           nb_msg_build_closed(&b, "s", "some text"),
            nb_msg_build_notice(&b, "some text"), nb_msg_build_auth_challenge(&b, "some text"),
        };
        /* Each result is 0 or NB_ETOOBIG; whatever succeeded is a whole frame. */
        for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
            NB_CHECK(rs[i] == 0 || rs[i] == NB_ETOOBIG);
        if (b.len > 0) NB_CHECK(b.data[b.len - 1] == ']' || (size_t)pre == b.len);
        NB_CHECK(b.len <= max);
        nb_buf_dispose(&b);
    }
    nb_buf_t b;
    nb_buf_init(&b, 10);
    nb_buf_appends(&b, "abc");
    NB_CHECK_INT(nb_msg_build_eose(&b, "long-sub-id"), NB_ETOOBIG);
    NB_CHECK_INT(b.len, 3);
    NB_CHECK_STR(b.data, "abc");
    nb_buf_dispose(&b);
    nb_filter_dispose(&f[0]);
    nb_filter_dispose(&f[1]);
    nb_event_dispose(&ev);
}

/* ---- large frames ------------------------------------------------------------------------------- */

/* Frames with more tokens than the stack array take the heap path. */
static void test_large_frames(void)
{
    nb_buf_t b;
    nb_buf_init(&b, 1 << 22);
    nb_filter_t f;
    nb_filter_init(&f);
    for (uint32_t i = 0; i < 5000; i++)
        nb_filter_add_kind(&f, i % 65536);
    NB_CHECK_INT(nb_msg_build_req(&b, "big", &f, 1), 0);
    NB_CHECK_INT(cparse(b.data), 0);
    NB_REQUIRE(m.n_filters == 1);
    NB_CHECK_INT(m.filters[0].n_kinds, 5000);
    NB_CHECK_INT(m.filters[0].kinds[4999], 4999);
    nb_filter_dispose(&f);

    /* The densest possible frame (one-byte tokens): the heap bound must hold. */
    nb_buf_reset(&b);
    nb_buf_appends(&b, "[\"REQ\",\"d\",{\"kinds\":[0");
    for (int i = 0; i < 20000; i++)
        nb_buf_appends(&b, ",1");
    nb_buf_appends(&b, "]}]");
    NB_CHECK_INT(cparse(b.data), 0);
    NB_CHECK_INT(m.filters[0].n_kinds, 20001);
    nb_buf_reset(&b);
    nb_buf_appends(&b, "[\"NOTICE\"");
    for (int i = 0; i < 20000; i++)
        nb_buf_appends(&b, ",1");
    nb_buf_appends(&b, "]");
    NB_CHECK_INT(rparse(b.data), NB_EFRAME);
    check_clean();

    /* An event with many tags. */
    nb_event_t ev;
    make_event(&ev);
    for (int i = 0; i < 1500; i++)
        NB_EVENT_TAG(&ev, "p", HEX_A, "wss://relay.example.com");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_msg_build_sub_event(&b, "s", &ev), 0);
    NB_CHECK_INT(rparse(b.data), 0);
    NB_CHECK(m.has_event && same_event(&m.event, &ev));
    NB_CHECK_INT(m.event.ntags, 1503);

    /* Limits reach the embedded event. */
    nb_event_limits_t lim = nb_event_default_limits;
    lim.max_tags = 100;
    NB_CHECK(nb_relay_msg_parse(&m, b.data, b.len, &lim) != 0);
    check_clean();
    nb_event_dispose(&ev);
    nb_buf_dispose(&b);
}

/* ---- malformed frames --------------------------------------------------------------------------- */

static const struct {
    const char *frame;
    int relay, client; /* expected results of the two parsers */
} malformed[] = {
    /* not JSON, not an array, empty */
    {"", NB_EJSON, NB_EJSON},
    {"   ", NB_EJSON, NB_EJSON},
    {"{}", NB_EFRAME, NB_EFRAME},
    {"\"EOSE\"", NB_EFRAME, NB_EFRAME},
    {"null", NB_EFRAME, NB_EFRAME},
    {"[]", NB_EFRAME, NB_EFRAME},
    {"[1]", NB_EFRAME, NB_EFRAME},
    {"[null,\"s\"]", NB_EFRAME, NB_EFRAME},
    {"[[\"EOSE\"],\"s\"]", NB_EFRAME, NB_EFRAME},
    /* unknown and miscased types */
    {"[\"FOO\",\"s\"]", NB_EFRAME, NB_EFRAME},
    {"[\"eose\",\"s\"]", NB_EFRAME, NB_EFRAME},
    {"[\"EOSE \",\"s\"]", NB_EFRAME, NB_EFRAME},
    {"[\"\",\"s\"]", NB_EFRAME, NB_EFRAME},
    {"[\"COUNT\",\"s\",{}]", NB_EFRAME, NB_EFRAME},
    /* trailing garbage and broken JSON */
    {"[\"EOSE\",\"s\"]x", NB_EJSON, NB_EJSON},
    {"[\"EOSE\",\"s\"],", NB_EJSON, NB_EJSON},
    {"[\"EOSE\",\"s\"] [\"EOSE\",\"s\"]", NB_EJSON, NB_EJSON},
    {"[\"EOSE\",\"s\"", NB_EJSON, NB_EJSON},
    {"[\"EOSE\",\"s\",]", NB_EJSON, NB_EJSON},
    {"[\"EOSE\",'s']", NB_EJSON, NB_EJSON},
    {"[\"NOTICE\",\"\xff\"]", NB_EUTF8, NB_EUTF8},
    {"[\"NOTICE\",\"\xc0\xaf\"]", NB_EUTF8, NB_EUTF8},
    {"[\"NOTICE\",\"\\ud800\"]", NB_EUTF8, NB_EUTF8},
    /* EOSE / CLOSE: arity, sub id type, empty, too long, embedded NUL */
    {"[\"EOSE\"]", NB_EFRAME, NB_EFRAME},
    {"[\"EOSE\",\"s\",\"t\"]", NB_EFRAME, NB_EFRAME},
    {"[\"EOSE\",1]", NB_EFRAME, NB_EFRAME},
    {"[\"EOSE\",null]", NB_EFRAME, NB_EFRAME},
    {"[\"EOSE\",\"\"]", NB_EFRAME, NB_EFRAME},
    {"[\"EOSE\",\"" SUB64 "x\"]", NB_EFRAME, NB_EFRAME},
    {"[\"EOSE\",\"a\\u0000b\"]", NB_EFRAME, NB_EFRAME},
    {"[\"CLOSE\"]", NB_EFRAME, NB_EFRAME},
    {"[\"CLOSE\",\"s\",\"t\"]", NB_EFRAME, NB_EFRAME},
    {"[\"CLOSE\",\"\"]", NB_EFRAME, NB_EFRAME},
    {"[\"CLOSE\",\"" SUB64 "x\"]", NB_EFRAME, NB_EFRAME},
    {"[\"CLOSE\",[]]", NB_EFRAME, NB_EFRAME},
    /* OK: arity, id, boolean, message */
    {"[\"OK\",\"" EV1_ID "\"]", NB_EFRAME, NB_EFRAME},
    {"[\"OK\",\"" EV1_ID "\",true,\"\",\"extra\"]", NB_EFRAME, NB_EFRAME},
    {"[\"OK\",\"D080CAD9725D01BC0FF0E78587DEB4A75EA21CEB5D782E7B03F7DC9F7EBDF22A\",true,\"\"]", NB_EFRAME,
     NB_EFRAME},
    {"[\"OK\",\"d080cad9725d01bc0ff0e78587deb4a75ea21ceb5d782e7b03f7dc9f7ebdf22\",true,\"\"]", NB_EFRAME,
     NB_EFRAME},
    {"[\"OK\",\"" EV1_ID "0\",true,\"\"]", NB_EFRAME, NB_EFRAME},
    {"[\"OK\",\"g080cad9725d01bc0ff0e78587deb4a75ea21ceb5d782e7b03f7dc9f7ebdf22a\",true,\"\"]", NB_EFRAME,
     NB_EFRAME},
    {"[\"OK\",1,true,\"\"]", NB_EFRAME, NB_EFRAME},
    {"[\"OK\",\"" EV1_ID "\",\"true\",\"\"]", NB_EFRAME, NB_EFRAME},
    {"[\"OK\",\"" EV1_ID "\",1,\"\"]", NB_EFRAME, NB_EFRAME},
    {"[\"OK\",\"" EV1_ID "\",null,\"\"]", NB_EFRAME, NB_EFRAME},
    {"[\"OK\",\"" EV1_ID "\",true,null]", NB_EFRAME, NB_EFRAME},
    {"[\"OK\",\"" EV1_ID "\",true,1]", NB_EFRAME, NB_EFRAME},
    /* CLOSED / NOTICE / relay AUTH */
    {"[\"CLOSED\"]", NB_EFRAME, NB_EFRAME},
    {"[\"CLOSED\",\"s\",\"m\",\"x\"]", NB_EFRAME, NB_EFRAME},
    {"[\"CLOSED\",\"s\",1]", NB_EFRAME, NB_EFRAME},
    {"[\"CLOSED\",\"\",\"m\"]", NB_EFRAME, NB_EFRAME},
    {"[\"NOTICE\"]", NB_EFRAME, NB_EFRAME},
    {"[\"NOTICE\",\"a\",\"b\"]", NB_EFRAME, NB_EFRAME},
    {"[\"NOTICE\",{}]", NB_EFRAME, NB_EFRAME},
    {"[\"AUTH\"]", NB_EFRAME, NB_EFRAME},
    {"[\"AUTH\",\"c\",\"d\"]", NB_EFRAME, NB_EFRAME},
    {"[\"AUTH\",1]", NB_EFRAME, NB_EEVENT},
    {"[\"AUTH\",\"challenge\"]", 0, NB_EEVENT},
    {"[\"AUTH\"," EV2 "]", NB_EFRAME, 0},
    /* EVENT: relay form has a sub id, client form does not */
    {"[\"EVENT\"," EV1 "]", NB_EFRAME, 0},
    {"[\"EVENT\",\"s\"," EV1 "]", 0, NB_EFRAME},
    {"[\"EVENT\",\"s\"," EV1 ",1]", NB_EFRAME, NB_EFRAME},
    {"[\"EVENT\"]", NB_EFRAME, NB_EFRAME},
    {"[\"EVENT\",\"s\",\"{}\"]", NB_EEVENT, NB_EFRAME},
    {"[\"EVENT\",\"s\",[]]", NB_EEVENT, NB_EFRAME},
    {"[\"EVENT\",\"s\",{}]", NB_EEVENT, NB_EFRAME},
    {"[\"EVENT\",{}]", NB_EFRAME, NB_EEVENT},
    {"[\"EVENT\",1," EV1 "]", NB_EFRAME, NB_EFRAME},
    {"[\"EVENT\",\"\"," EV1 "]", NB_EFRAME, NB_EFRAME},
    /* REQ */
    {"[\"REQ\"]", NB_EFRAME, NB_EFRAME},
    {"[\"REQ\",\"s\"]", NB_EFRAME, NB_EFRAME},
    {"[\"REQ\",\"s\",{}]", NB_EFRAME, 0},
    {"[\"REQ\",\"\",{}]", NB_EFRAME, NB_EFRAME},
    {"[\"REQ\",\"" SUB64 "x\",{}]", NB_EFRAME, NB_EFRAME},
    {"[\"REQ\",1,{}]", NB_EFRAME, NB_EFRAME},
    {"[\"REQ\",\"s\",1]", NB_EFRAME, NB_EFILTER},
    {"[\"REQ\",\"s\",{},[]]", NB_EFRAME, NB_EFILTER},
    {"[\"REQ\",\"s\",{\"kinds\":[1]},{\"kinds\":[-1]}]", NB_EFRAME, NB_EFILTER},
    {"[\"REQ\",\"s\",{\"ids\":[\"AA\"]}]", NB_EFRAME, NB_EFILTER},
    {"[\"REQ\",\"s\",{\"#e\":[1]}]", NB_EFRAME, NB_EFILTER},
};

static void test_malformed(void)
{
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        int r = rparse(malformed[i].frame);
        if (r != malformed[i].relay)
            fprintf(stderr, "relay case %zu: %s -> %s\n", i, malformed[i].frame, nb_err_name(r));
        NB_CHECK_INT(r, malformed[i].relay);
        if (r != 0) check_clean();
        r = cparse(malformed[i].frame);
        if (r != malformed[i].client)
            fprintf(stderr, "client case %zu: %s -> %s\n", i, malformed[i].frame, nb_err_name(r));
        NB_CHECK_INT(r, malformed[i].client);
        if (r != 0) check_clean();
    }
    /* Embedded NUL bytes in the frame itself: the length, not a terminator, bounds the input. */
    static const char nul[] = "[\"EOSE\",\"s\"]\0";
    NB_CHECK_INT(nb_relay_msg_parse(&m, nul, sizeof(nul) - 1, NULL), NB_EJSON);
    NB_CHECK_INT(nb_relay_msg_parse(&m, nul, sizeof(nul) - 2, NULL), 0);
    /* Every prefix of a valid frame fails cleanly. */
    static const char full[] = "[\"EVENT\",\"sub\"," EV1 "]";
    for (size_t n = 0; n < sizeof(full) - 1; n++)
        NB_CHECK(nb_relay_msg_parse(&m, full, n, NULL) != 0);
    check_clean();
}

/* One message reused for many parses of every kind: nothing leaks between them (LSan). */
static void test_reuse(void)
{
    static const char *const frames[] = {
        "[\"EVENT\",\"s\"," EV1 "]",
        "[\"REQ\",\"s\",{\"kinds\":[1]},{\"#p\":[\"x\"]}]",
        "[\"EVENT\"," EV2 "]",
        "[\"NOTICE\",\"n\"]",
    };
    for (int round = 0; round < 50; round++)
        for (size_t i = 0; i < 4; i++) {
            size_t len = strlen(frames[i]);
            int a = nb_relay_msg_parse(&m, frames[i], len, NULL);
            int b = nb_client_msg_parse(&m, frames[i], len, NULL);
            NB_CHECK(a == 0 || b == 0);
        }
    nb_relay_msg_dispose(&m);
    nb_relay_msg_dispose(&m); /* twice is fine */
    check_clean();
}

int main(void)
{
    nb_relay_msg_init(&m);
    NB_RUN(test_relay_event_signed);
    NB_RUN(test_relay_event_roundtrip);
    NB_RUN(test_relay_ok);
    NB_RUN(test_relay_eose_closed_notice_auth);
    NB_RUN(test_text_cut);
    NB_RUN(test_client_event_auth);
    NB_RUN(test_client_req_close);
    NB_RUN(test_builder_sub_ids);
    NB_RUN(test_builder_too_big);
    NB_RUN(test_large_frames);
    NB_RUN(test_malformed);
    NB_RUN(test_reuse);
    nb_relay_msg_dispose(&m);
    nb_secp_dispose();
    return nb_test_summary();
}
