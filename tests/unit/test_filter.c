/*
 * test_filter.c — NIP-01 filters: building, exact JSON output, strict parsing, matching.
 */
#include "bridge/filter.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "test.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_E "5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36"

static void fill(uint8_t k[32], uint8_t b)
{
    memset(k, b, 32);
}

/* Tokenize json and parse the filter at the root. Returns the parser's result (or the
 * tokenizer's, which no test here expects). */
static int parse(nb_filter_t *f, const char *json)
{
    nb_json_tok_t toks[512];
    size_t n;
    int r = nb_json_parse(toks, 512, &n, json, strlen(json));
    if (r != 0) return 1000 + r; /* never an nb_err_t: makes a tokenizer failure visible in the check */
    return nb_filter_from_tokens(f, json, toks, 0);
}

/* f as JSON, in a static buffer (tests are single-threaded). */
static const char *to_json(const nb_filter_t *f)
{
    static char s[8192];
    nb_buf_t b;
    nb_buf_init(&b, sizeof(s) - 1);
    int r = nb_filter_to_json(&b, f);
    snprintf(s, sizeof(s), "%s", r == 0 ? b.data : "(error)");
    nb_buf_dispose(&b);
    return s;
}

/* ---- building and printing ------------------------------------------------------------------- */

static void test_empty(void)
{
    nb_filter_t f;
    nb_filter_init(&f);
    NB_CHECK_STR(to_json(&f), "{}");
    NB_CHECK_INT(f.since, -1);
    NB_CHECK_INT(f.until, -1);
    NB_CHECK_INT(f.limit, -1);
    nb_filter_dispose(&f);
    nb_filter_dispose(&f); /* dispose leaves an empty filter: disposing again is harmless */
}

static void test_to_json_order(void)
{
    nb_filter_t f;
    uint8_t k[32];
    nb_filter_init(&f);
    /* Added out of NIP-01 order on purpose: the printer imposes the order. */
    f.limit = 10;
    f.until = 1700000100;
    f.since = 1700000000;
    NB_CHECK_INT(nb_filter_add_tag(&f, 'e', HEX_E, 64), 0);
    static const char pv[] = "x\"y\n\\z/é\x01";
    NB_CHECK_INT(nb_filter_add_tag(&f, 'P', pv, sizeof(pv) - 1), 0);
    nb_filter_add_kind(&f, 1);
    nb_filter_add_kind(&f, 30023);
    fill(k, 0xbb);
    nb_filter_add_author(&f, k);
    fill(k, 0xaa);
    nb_filter_add_id(&f, k);
    NB_CHECK_INT(nb_filter_add_tag(&f, 'e', "second", 6), 0);
    NB_CHECK_STR(to_json(&f), "{\"ids\":[\"" HEX_A "\"],\"authors\":[\"" HEX_B "\"],\"kinds\":[1,30023],"
                              "\"#e\":[\"" HEX_E "\",\"second\"],\"#P\":[\"x\\\"y\\n\\\\z/é\\u0001\"],"
                              "\"since\":1700000000,\"until\":1700000100,\"limit\":10}");
    NB_CHECK_INT(f.n_tags, 2);
    nb_filter_dispose(&f);
}

static void test_to_json_fields(void)
{
    nb_filter_t f;
    nb_filter_init(&f);
    f.since = 0; /* 0 is present: only negative means absent */
    NB_CHECK_STR(to_json(&f), "{\"since\":0}");
    f.since = -1;
    f.limit = 0;
    NB_CHECK_STR(to_json(&f), "{\"limit\":0}");
    f.limit = -1;
    nb_filter_add_kind(&f, 0);
    NB_CHECK_STR(to_json(&f), "{\"kinds\":[0]}");
    NB_CHECK_INT(nb_filter_add_tag(&f, 'a', "", 0), 0);
    NB_CHECK_STR(to_json(&f), "{\"kinds\":[0],\"#a\":[\"\"]}");
    NB_CHECK_INT(nb_filter_add_tag(&f, 'z', "a\0b", 3), 0); /* an embedded NUL survives */
    NB_CHECK_STR(to_json(&f), "{\"kinds\":[0],\"#a\":[\"\"],\"#z\":[\"a\\u0000b\"]}");
    nb_filter_dispose(&f);
}

static void test_to_json_too_big(void)
{
    nb_filter_t f;
    nb_buf_t b;
    nb_filter_init(&f);
    nb_filter_add_kind(&f, 1);
    nb_buf_init(&b, 12);
    NB_CHECK_INT(nb_buf_appends(&b, "[x,"), 0);
    NB_CHECK_INT(nb_filter_to_json(&b, &f), NB_ETOOBIG); /* {"kinds":[1]} is 13 bytes */
    NB_CHECK_INT(b.len, 3);
    NB_CHECK_STR(b.data, "[x,");
    nb_buf_dispose(&b);
    nb_filter_dispose(&f);
}

static void test_add_tag_letters(void)
{
    nb_filter_t f;
    nb_filter_init(&f);
    const char bad[] = {'1', '#', '\0', ' ', '[', '{', '@', '`', (char)0xc3};
    for (size_t i = 0; i < sizeof(bad); i++)
        NB_CHECK_INT(nb_filter_add_tag(&f, bad[i], "v", 1), NB_EINVAL);
    NB_CHECK_INT(f.n_tags, 0);
    NB_CHECK_INT(nb_filter_add_tag(&f, 'a', "v", 1), 0);
    NB_CHECK_INT(nb_filter_add_tag(&f, 'z', "v", 1), 0);
    NB_CHECK_INT(nb_filter_add_tag(&f, 'A', "v", 1), 0);
    NB_CHECK_INT(nb_filter_add_tag(&f, 'Z', "v", 1), 0);
    NB_CHECK_INT(nb_filter_add_tag(&f, 'a', "w", 1), 0); /* same letter: one condition */
    NB_CHECK_INT(f.n_tags, 4);
    NB_CHECK_INT(f.tags[0].n, 2);
    nb_filter_dispose(&f);
}

/* Many values exercise every growth step; the copy must be deep (ASan catches sharing). */
static void test_grow_and_copy(void)
{
    nb_filter_t f, g;
    uint8_t k[32];
    char v[16];
    nb_filter_init(&f);
    for (uint32_t i = 0; i < 300; i++) {
        nb_filter_add_kind(&f, i);
        fill(k, (uint8_t)i);
        nb_filter_add_id(&f, k);
        nb_filter_add_author(&f, k);
        int n = snprintf(v, sizeof(v), "v%u", (unsigned)i);
        NB_CHECK_INT(nb_filter_add_tag(&f, (char)('a' + i % 26), v, (size_t)n), 0);
    }
    NB_CHECK_INT(f.n_kinds, 300);
    NB_CHECK_INT(f.n_tags, 26);
    NB_CHECK_INT(f.kinds[299], 299);
    f.since = 5;
    nb_filter_copy(&g, &f);
    nb_buf_t a, b;
    nb_buf_init(&a, 1 << 20);
    nb_buf_init(&b, 1 << 20);
    NB_CHECK_INT(nb_filter_to_json(&a, &f), 0);
    nb_filter_dispose(&f);
    /* The copy outlives the original and can still grow. */
    nb_filter_add_kind(&g, 70000);
    NB_CHECK_INT(nb_filter_add_tag(&g, 'a', "more", 4), 0);
    NB_CHECK_INT(nb_filter_to_json(&b, &g), 0);
    NB_CHECK(b.len > a.len);
    NB_CHECK(strstr(b.data, ",70000]") != NULL);
    NB_CHECK(strstr(b.data, "\"v286\",\"more\"]") != NULL);
    nb_buf_dispose(&a);
    nb_buf_dispose(&b);
    nb_filter_dispose(&g);

    nb_filter_init(&f);
    nb_filter_copy(&g, &f); /* an empty copy */
    NB_CHECK_STR(to_json(&g), "{}");
    nb_filter_dispose(&g);
    nb_filter_dispose(&f);
}

/* ---- parsing ---------------------------------------------------------------------------------- */

static void test_parse_roundtrip(void)
{
    static const char *const cases[] = {
        "{}",
        "{\"kinds\":[1]}",
        "{\"ids\":[\"" HEX_A "\",\"" HEX_B "\"],\"authors\":[\"" HEX_B "\"],\"kinds\":[0,1,65535],"
        "\"#e\":[\"" HEX_E "\"],\"#E\":[\"x\"],\"#p\":[\"\"],\"#P\":[\"é👋\",\"\\\"\\\\\\n\\u0000\"],"
        "\"since\":0,\"until\":9223372036854775807,\"limit\":500}",
        "{\"#a\":[\"30023:" HEX_A ":d\"],\"#t\":[\"a\",\"b\",\"c\"]}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nb_filter_t f;
        nb_filter_init(&f);
        NB_CHECK_INT(parse(&f, cases[i]), 0);
        NB_CHECK_STR(to_json(&f), cases[i]);
        nb_filter_dispose(&f);
    }
}

static void test_parse_lenient(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        /* Unknown keys are ignored, including multi-letter and non-letter tag keys. */
        {"{\"search\":\"x\",\"#ab\":[1],\"#1\":[\"x\"],\"#\":[],\"kinds\":[7],\"x\":{\"y\":[]}}",
         "{\"kinds\":[7]}"},
        /* Keys are compared decoded; fields print in NIP-01 order whatever the input order. */
        {"{\"limit\":3,\"\\u0069ds\":[\"" HEX_A "\"],\"\\u0023e\":[\"v\"]}",
         "{\"ids\":[\"" HEX_A "\"],\"#e\":[\"v\"],\"limit\":3}"},
        /* Escaped hex decodes to hex. */
        {"{\"authors\":[\"\\u0061aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}",
         "{\"authors\":[\"" HEX_A "\"]}"},
        /* An exponent that denotes an integer is an integer (the tokenizer's rule). */
        {"{\"kinds\":[1e3],\"since\":10}", "{\"kinds\":[1000],\"since\":10}"},
        /* Whitespace anywhere. */
        {" { \"kinds\" : [ 1 , 2 ] } ", "{\"kinds\":[1,2]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nb_filter_t f;
        nb_filter_init(&f);
        NB_CHECK_INT(parse(&f, cases[i].in), 0);
        NB_CHECK_STR(to_json(&f), cases[i].out);
        nb_filter_dispose(&f);
    }
}

static void test_parse_embedded_nul(void)
{
    nb_filter_t f;
    nb_filter_init(&f);
    NB_CHECK_INT(parse(&f, "{\"#d\":[\"a\\u0000b\"]}"), 0);
    NB_REQUIRE(f.n_tags == 1 && f.tags[0].n == 1);
    NB_CHECK_INT(f.tags[0].values[0].len, 3);
    NB_CHECK_MEM(f.tags[0].values[0].p, "a\0b", 4);
    nb_filter_dispose(&f);
}

static void test_parse_errors(void)
{
    static const char *const bad[] = {
        "[]",
        "\"x\"",
        "1",
        "null",
        /* ids / authors: arrays of 64 lowercase hex */
        "{\"ids\":\"" HEX_A "\"}",
        "{\"ids\":[]}",
        "{\"ids\":[1]}",
        "{\"ids\":[\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"]}",
        "{\"ids\":[\"aaaa\"]}",
        "{\"ids\":[\"" HEX_A "a\"]}",
        "{\"ids\":[\"" HEX_A "\",\"zz\"]}",
        "{\"authors\":[\"gaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}",
        "{\"authors\":[null]}",
        "{\"authors\":{}}",
        /* kinds: integers 0..65535 */
        "{\"kinds\":1}",
        "{\"kinds\":[]}",
        "{\"kinds\":[-1]}",
        "{\"kinds\":[65536]}",
        "{\"kinds\":[1.5]}",
        "{\"kinds\":[\"1\"]}",
        "{\"kinds\":[1,true]}",
        "{\"kinds\":[99999999999999999999]}",
        /* tags: non-empty arrays of strings */
        "{\"#e\":\"x\"}",
        "{\"#e\":[]}",
        "{\"#e\":[1]}",
        "{\"#e\":[\"x\",null]}",
        "{\"#e\":[[\"x\"]]}",
        /* since / until / limit: non-negative integers */
        "{\"since\":-1}",
        "{\"until\":\"1\"}",
        "{\"limit\":1.5}",
        "{\"limit\":null}",
        "{\"since\":[1]}",
        /* duplicate keys (also spelled differently) */
        "{\"kinds\":[1],\"kinds\":[2]}",
        "{\"#e\":[\"a\"],\"#e\":[\"b\"]}",
        "{\"since\":1,\"\\u0073ince\":2}",
        "{\"ids\":[\"" HEX_A "\"],\"ids\":[\"" HEX_A "\"]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nb_filter_t f;
        nb_filter_init(&f);
        int r = parse(&f, bad[i]);
        if (r != NB_EFILTER) fprintf(stderr, "case %zu: %s\n", i, bad[i]);
        NB_CHECK_INT(r, NB_EFILTER);
        /* A failed parse leaves an empty filter behind (and nothing leaked). */
        NB_CHECK_INT(f.n_ids + f.n_authors + f.n_kinds + f.n_tags, 0);
        NB_CHECK_INT(f.since, -1);
        nb_filter_dispose(&f);
    }
}

/* A filter nested in a larger document: idx is not 0 and the tokens around it are ignored. */
static void test_parse_nested(void)
{
    const char *doc = "[\"REQ\",\"s\",{\"kinds\":[1]},{\"#p\":[\"x\"],\"limit\":2}]";
    nb_json_tok_t toks[64];
    size_t n;
    NB_REQUIRE(nb_json_parse(toks, 64, &n, doc, strlen(doc)) == 0);
    uint32_t second = toks[toks[toks[1].next].next].next;
    nb_filter_t f;
    nb_filter_init(&f);
    NB_CHECK_INT(nb_filter_from_tokens(&f, doc, toks, second), 0);
    NB_CHECK_STR(to_json(&f), "{\"#p\":[\"x\"],\"limit\":2}");
    nb_filter_dispose(&f);
}

/* ---- matching --------------------------------------------------------------------------------- */

static void make_event(nb_event_t *ev, uint8_t id, uint8_t author, uint32_t kind, int64_t created_at)
{
    nb_event_init(ev);
    fill(ev->id, id);
    fill(ev->pubkey, author);
    ev->kind = kind;
    ev->created_at = created_at;
}

static void test_match_empty(void)
{
    nb_filter_t f;
    nb_event_t ev;
    nb_filter_init(&f);
    make_event(&ev, 1, 2, 3, 0);
    NB_CHECK(nb_filter_matches(&f, &ev));
    f.limit = 0; /* limit never affects matching */
    NB_CHECK(nb_filter_matches(&f, &ev));
    nb_event_dispose(&ev);
    nb_filter_dispose(&f);
}

static void test_match_kinds_authors_ids(void)
{
    nb_filter_t f;
    uint8_t k[32];
    nb_filter_init(&f);
    nb_filter_add_kind(&f, 1);
    nb_filter_add_kind(&f, 24133);
    fill(k, 0x10);
    nb_filter_add_author(&f, k);
    fill(k, 0x11);
    k[31] = 0x12; /* differs only in the last byte from a non-member below */
    nb_filter_add_author(&f, k);

    static const struct {
        uint8_t id, author;
        uint32_t kind;
        bool want;
    } cases[] = {
        {0, 0x10, 1, true},      {0, 0x10, 24133, true}, {0, 0x10, 2, false},
        {0, 0x10, 0, false},     {0, 0x20, 1, false},    {0, 0x11, 1, false}, /* 0x11…11 is not 0x11…12 */
        {0, 0x10, 65535, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nb_event_t ev;
        make_event(&ev, cases[i].id, cases[i].author, cases[i].kind, 100);
        NB_CHECK_INT(nb_filter_matches(&f, &ev), cases[i].want);
        nb_event_dispose(&ev);
    }
    {
        nb_event_t ev;
        make_event(&ev, 0, 0x11, 1, 100);
        ev.pubkey[31] = 0x12;
        NB_CHECK(nb_filter_matches(&f, &ev));
        ev.pubkey[0] = 0x12; /* differs in the first word */
        NB_CHECK(!nb_filter_matches(&f, &ev));
        nb_event_dispose(&ev);
    }

    /* ids AND kinds */
    fill(k, 0x77);
    nb_filter_add_id(&f, k);
    nb_event_t ev;
    make_event(&ev, 0x77, 0x10, 1, 100);
    NB_CHECK(nb_filter_matches(&f, &ev));
    ev.id[16] ^= 1;
    NB_CHECK(!nb_filter_matches(&f, &ev));
    nb_event_dispose(&ev);
    nb_filter_dispose(&f);
}

static void test_match_since_until(void)
{
    static const struct {
        int64_t since, until, at;
        bool want;
    } cases[] = {
        {-1, -1, 0, true},      {100, -1, 99, false},   {100, -1, 100, true},
        {100, -1, 101, true},   {-1, 200, 199, true},   {-1, 200, 200, true},
        {-1, 200, 201, false},  {100, 200, 100, true},  {100, 200, 200, true},
        {100, 200, 150, true},  {100, 200, 99, false},  {100, 200, 201, false},
        {150, 150, 150, true},  {150, 150, 149, false}, {150, 150, 151, false},
        {200, 100, 150, false}, /* an empty window matches nothing */
        {0, -1, 0, true},       {-1, 0, 0, true},       {-1, 0, 1, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nb_filter_t f;
        nb_event_t ev;
        nb_filter_init(&f);
        f.since = cases[i].since;
        f.until = cases[i].until;
        make_event(&ev, 1, 1, 1, cases[i].at);
        if (nb_filter_matches(&f, &ev) != cases[i].want) fprintf(stderr, "case %zu\n", i);
        NB_CHECK_INT(nb_filter_matches(&f, &ev), cases[i].want);
        nb_event_dispose(&ev);
        nb_filter_dispose(&f);
    }
}

static void test_match_tags(void)
{
    nb_filter_t f;
    nb_filter_init(&f);
    NB_CHECK_INT(nb_filter_add_tag(&f, 'e', "root", 4), 0);
    NB_CHECK_INT(nb_filter_add_tag(&f, 'e', "other", 5), 0);

    nb_event_t ev;
    make_event(&ev, 1, 1, 1, 1);
    NB_CHECK(!nb_filter_matches(&f, &ev)); /* no tags at all */
    NB_EVENT_TAG(&ev, "e");                /* a name without a value */
    NB_CHECK(!nb_filter_matches(&f, &ev));
    NB_EVENT_TAG(&ev, "E", "root"); /* upper case is another letter */
    NB_CHECK(!nb_filter_matches(&f, &ev));
    NB_EVENT_TAG(&ev, "ee", "root"); /* not a single-letter tag */
    NB_CHECK(!nb_filter_matches(&f, &ev));
    NB_EVENT_TAG(&ev, "e", "x", "root"); /* only items[1] counts */
    NB_CHECK(!nb_filter_matches(&f, &ev));
    NB_EVENT_TAG(&ev, "e", "roo"); /* a prefix is not a match */
    NB_CHECK(!nb_filter_matches(&f, &ev));
    NB_EVENT_TAG(&ev, "e", "roots");
    NB_CHECK(!nb_filter_matches(&f, &ev));
    NB_EVENT_TAG(&ev, "e", "other", "wss://r", "reply");
    NB_CHECK(nb_filter_matches(&f, &ev));
    nb_event_dispose(&ev);

    /* Upper-case conditions (#E, #P: NIP-22 root scope) only see upper-case tags. */
    nb_filter_t g;
    nb_filter_init(&g);
    NB_CHECK_INT(nb_filter_add_tag(&g, 'E', HEX_E, 64), 0);
    NB_CHECK_INT(nb_filter_add_tag(&g, 'P', HEX_A, 64), 0);
    make_event(&ev, 1, 1, 1, 1);
    NB_EVENT_TAG(&ev, "e", HEX_E);
    NB_EVENT_TAG(&ev, "p", HEX_A);
    NB_CHECK(!nb_filter_matches(&g, &ev));
    NB_EVENT_TAG(&ev, "E", HEX_E);
    NB_CHECK(!nb_filter_matches(&g, &ev)); /* #P still unmet: conditions are ANDed */
    NB_EVENT_TAG(&ev, "P", HEX_A);
    NB_CHECK(nb_filter_matches(&g, &ev));
    nb_event_dispose(&ev);
    nb_filter_dispose(&g);

    /* Values with an embedded NUL compare by length, not as C strings. */
    NB_CHECK_INT(nb_filter_add_tag(&f, 'd', "a\0b", 3), 0);
    make_event(&ev, 1, 1, 1, 1);
    NB_EVENT_TAG(&ev, "e", "root");
    NB_EVENT_TAG(&ev, "d", "a");
    NB_CHECK(!nb_filter_matches(&f, &ev));
    nb_str_t items[2] = {{"d", 1}, {"a\0b", 3}};
    nb_event_add_tag_str(&ev, items, 2);
    NB_CHECK(nb_filter_matches(&f, &ev));
    nb_event_dispose(&ev);
    nb_filter_dispose(&f);
}

static void test_match_all(void)
{
    /* Every condition at once, then each broken in turn. */
    nb_filter_t f;
    uint8_t k[32];
    nb_filter_init(&f);
    NB_CHECK_INT(parse(&f, "{\"ids\":[\"" HEX_A "\"],\"authors\":[\"" HEX_B "\"],\"kinds\":[1111],"
                           "\"#K\":[\"1\"],\"#t\":[\"x\",\"y\"],\"since\":10,\"until\":20,\"limit\":1}"),
                 0);
    nb_event_t ev;
    make_event(&ev, 0xaa, 0xbb, 1111, 15);
    NB_EVENT_TAG(&ev, "K", "1");
    NB_EVENT_TAG(&ev, "t", "y");
    NB_CHECK(nb_filter_matches(&f, &ev));
    ev.created_at = 9;
    NB_CHECK(!nb_filter_matches(&f, &ev));
    ev.created_at = 21;
    NB_CHECK(!nb_filter_matches(&f, &ev));
    ev.created_at = 20;
    ev.kind = 1;
    NB_CHECK(!nb_filter_matches(&f, &ev));
    ev.kind = 1111;
    fill(k, 0xab);
    memcpy(ev.pubkey, k, 32);
    NB_CHECK(!nb_filter_matches(&f, &ev));
    fill(ev.pubkey, 0xbb);
    fill(ev.id, 0xab);
    NB_CHECK(!nb_filter_matches(&f, &ev));
    fill(ev.id, 0xaa);
    NB_CHECK(nb_filter_matches(&f, &ev));
    nb_event_dispose(&ev);
    make_event(&ev, 0xaa, 0xbb, 1111, 15);
    NB_EVENT_TAG(&ev, "K", "1");
    NB_EVENT_TAG(&ev, "t", "z");
    NB_CHECK(!nb_filter_matches(&f, &ev));
    nb_event_dispose(&ev);
    nb_filter_dispose(&f);
}

int main(void)
{
    NB_RUN(test_empty);
    NB_RUN(test_to_json_order);
    NB_RUN(test_to_json_fields);
    NB_RUN(test_to_json_too_big);
    NB_RUN(test_add_tag_letters);
    NB_RUN(test_grow_and_copy);
    NB_RUN(test_parse_roundtrip);
    NB_RUN(test_parse_lenient);
    NB_RUN(test_parse_embedded_nul);
    NB_RUN(test_parse_errors);
    NB_RUN(test_parse_nested);
    NB_RUN(test_match_empty);
    NB_RUN(test_match_kinds_authors_ids);
    NB_RUN(test_match_since_until);
    NB_RUN(test_match_tags);
    NB_RUN(test_match_all);
    return nb_test_summary();
}
