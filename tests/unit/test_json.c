/*
 * test_json.c — the strict tokenizer, string decoding, integers, and the NIP-01 string writer.
 */
#include "test.h"

#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/mem.h"

#define MAXTOK 4096

static nb_json_tok_t toks[MAXTOK];

static int parse(const char *s, size_t len, size_t *n)
{
    size_t dummy;
    return nb_json_parse(toks, MAXTOK, n ? n : &dummy, s, len);
}

static int parse_str(const char *s)
{
    return parse(s, strlen(s), NULL);
}

static void test_token_layout(void)
{
    const char *s = " {\"a\":[1,2,{\"b\":null}],\"c\":\"x\\n\",\"d\":true} ";
    size_t n = 0;
    NB_CHECK_INT(parse(s, strlen(s), &n), 0);
    NB_REQUIRE(n == 12);
    /* 0 obj, 1 "a", 2 arr, 3 1, 4 2, 5 obj, 6 "b", 7 null, 8 "c", 9 "x\n", 10 "d", 11 true */
    NB_CHECK_INT(toks[0].type, NB_JSON_OBJECT);
    NB_CHECK_INT(toks[0].size, 3);
    NB_CHECK_INT(toks[0].next, 12);
    NB_CHECK_INT(toks[0].start, 1);
    NB_CHECK_INT(toks[0].len, strlen(s) - 2);
    NB_CHECK_INT(toks[1].type, NB_JSON_STRING);
    NB_CHECK_INT(toks[1].len, 1);
    NB_CHECK_INT(s[toks[1].start], 'a');
    NB_CHECK_INT(toks[2].type, NB_JSON_ARRAY);
    NB_CHECK_INT(toks[2].size, 3);
    NB_CHECK_INT(toks[2].next, 8);
    NB_CHECK_INT(s[toks[2].start], '[');
    NB_CHECK_INT(s[toks[2].start + toks[2].len - 1], ']');
    NB_CHECK_INT(toks[3].type, NB_JSON_NUMBER);
    NB_CHECK_INT(toks[3].next, 4);
    NB_CHECK_INT(toks[5].type, NB_JSON_OBJECT);
    NB_CHECK_INT(toks[5].size, 1);
    NB_CHECK_INT(toks[5].next, 8);
    NB_CHECK_INT(toks[7].type, NB_JSON_NULL);
    NB_CHECK_INT(toks[9].type, NB_JSON_STRING);
    NB_CHECK_INT(toks[9].has_escapes, 1);
    NB_CHECK_INT(toks[9].len, 3);
    NB_CHECK_INT(toks[1].has_escapes, 0);
    NB_CHECK_INT(toks[11].type, NB_JSON_TRUE);
    NB_CHECK_INT(nb_json_obj_get(s, toks, 0, "c"), 9);
    NB_CHECK_INT(nb_json_obj_get(s, toks, 0, "d"), 11);
    NB_CHECK_INT(nb_json_obj_get(s, toks, 0, "b"), 0); /* nested keys are not ours */
    NB_CHECK_INT(nb_json_obj_get(s, toks, 5, "b"), 7);
    NB_CHECK_INT(nb_json_obj_get(s, toks, 2, "a"), 0); /* not an object */
}

static void test_valid_documents(void)
{
    static const char *const ok[] = {
        "0",
        "-0",
        "1",
        "-1.5e+10",
        "0.0",
        "1E5",
        "1e-5",
        "123456789012345678901234567890",
        "\"\"",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        " [ ] ",
        "\t\r\n{}\n",
        "[[]]",
        "[1,[2,[3]]]",
        "{\"a\":{\"b\":{}}}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uFFFF\\u00e9\"",
        "\"\\ud83d\\ude00\"",
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        "\"\x7f\"",
        "{\"\":0}",
        "{\"a\":1,\"a\":2}",
        "[\"\xef\xbf\xbf\",\"\xf4\x8f\xbf\xbf\",\"\xed\x9f\xbf\",\"\xee\x80\x80\"]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int r = parse_str(ok[i]);
        if (r != 0) NB_FAIL_("case %zu <%s>: %s", i, ok[i], nb_err_name(r));
    }
}

static void test_invalid_documents(void)
{
    static const struct {
        const char *s;
        int err;
    } bad[] = {
        {"", NB_EJSON},
        {"   ", NB_EJSON},
        {"{} x", NB_EJSON},
        {"{}x", NB_EJSON},
        {"{}{}", NB_EJSON},
        {"[1]]", NB_EJSON},
        {"01", NB_EJSON},
        {"-01", NB_EJSON},
        {"1.", NB_EJSON},
        {".5", NB_EJSON},
        {"-", NB_EJSON},
        {"+1", NB_EJSON},
        {"1e", NB_EJSON},
        {"1e+", NB_EJSON},
        {"0x10", NB_EJSON},
        {"NaN", NB_EJSON},
        {"Infinity", NB_EJSON},
        {"tru", NB_EJSON},
        {"nul", NB_EJSON},
        {"True", NB_EJSON},
        {"'a'", NB_EJSON},
        {"\"abc", NB_EJSON},
        {"\"a\tb\"", NB_EJSON},
        {"\"a\nb\"", NB_EJSON},
        {"\"\\x\"", NB_EJSON},
        {"\"\\u12\"", NB_EJSON},
        {"\"\\u12g4\"", NB_EJSON},
        {"\"\\", NB_EJSON},
        {"[1,]", NB_EJSON},
        {"[,1]", NB_EJSON},
        {"[1 2]", NB_EJSON},
        {"[", NB_EJSON},
        {"]", NB_EJSON},
        {"[}", NB_EJSON},
        {"{]", NB_EJSON},
        {"{,}", NB_EJSON},
        {"{\"a\"}", NB_EJSON},
        {"{\"a\":}", NB_EJSON},
        {"{\"a\":1,}", NB_EJSON},
        {"{\"a\":1 \"b\":2}", NB_EJSON},
        {"{1:2}", NB_EJSON},
        {"{a:1}", NB_EJSON},
        {"\xef\xbb\xbf{}", NB_EJSON}, /* RFC 8259: a BOM is not part of JSON text */
        /* invalid UTF-8 inside strings */
        {"\"\x80\"", NB_EUTF8},
        {"\"\xc0\x80\"", NB_EUTF8},         /* overlong NUL */
        {"\"\xc1\xbf\"", NB_EUTF8},         /* overlong */
        {"\"\xe0\x80\xaf\"", NB_EUTF8},     /* overlong '/' */
        {"\"\xed\xa0\x80\"", NB_EUTF8},     /* encoded surrogate */
        {"\"\xf4\x90\x80\x80\"", NB_EUTF8}, /* above U+10FFFF */
        {"\"\xf5\x80\x80\x80\"", NB_EUTF8},
        {"\"\xff\"", NB_EUTF8},
        {"\"\xe2\x82\"", NB_EUTF8}, /* truncated by the closing quote */
        {"\"\xe2\x82", NB_EUTF8},   /* truncated by the end of input */
        {"\"\xc3\"", NB_EUTF8},
        {"\"abcdefgh\xc3(ijklmnop\"", NB_EUTF8},
        /* lone surrogate escapes */
        {"\"\\ud800\"", NB_EUTF8},
        {"\"\\uDBFF\"", NB_EUTF8},
        {"\"\\udc00\"", NB_EUTF8},
        {"\"\\ud800\\u0041\"", NB_EUTF8},
        {"\"\\ud800x\"", NB_EUTF8},
        {"\"\\ud800\\ud800\"", NB_EUTF8},
        {"\"\\ude00\\ud83d\"", NB_EUTF8},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = parse(bad[i].s, strlen(bad[i].s), NULL);
        if (r != bad[i].err)
            NB_FAIL_("case %zu <%s>: got %s, want %s", i, bad[i].s, nb_err_name(r), nb_err_name(bad[i].err));
    }
}

static void test_depth(void)
{
    char doc[2 * 70 + 1];
    NB_CHECK_INT(parse("[1]\0", 4, NULL), NB_EJSON);    /* a NUL after the document is trailing data */
    NB_CHECK_INT(parse("\"a\0b\"", 5, NULL), NB_EJSON); /* and a raw NUL in a string is a control byte */
    for (int depth = 1; depth <= 70; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            doc[n++] = '[';
        for (int i = 0; i < depth; i++)
            doc[n++] = ']';
        int r = parse(doc, n, NULL);
        NB_CHECK_INT(r, depth <= NB_JSON_MAX_DEPTH ? 0 : NB_EJSON_DEPTH);
    }
    /* Objects count too, and a huge unclosed nest must not recurse or read past the end. */
    size_t big = 1000000;
    char *deep = nb_malloc(big);
    for (size_t i = 0; i < big; i++)
        deep[i] = i % 2 ? '[' : '{';
    NB_CHECK_INT(parse(deep, big, NULL), NB_EJSON); /* '{' then '[' is a syntax error first */
    memset(deep, '[', big);
    NB_CHECK_INT(parse(deep, big, NULL), NB_EJSON_DEPTH);
    nb_free(deep);
    const char *obj = "{\"a\":{\"a\":{\"a\":1}}}";
    NB_CHECK_INT(parse_str(obj), 0);
}

static void test_token_cap(void)
{
    nb_json_tok_t t[3];
    size_t n = 99;
    NB_CHECK_INT(nb_json_parse(t, 3, &n, "[1,2]", 5), 0);
    NB_CHECK_INT(n, 3);
    NB_CHECK_INT(nb_json_parse(t, 2, &n, "[1,2]", 5), NB_ETOOBIG);
    NB_CHECK_INT(nb_json_parse(t, 0, &n, "1", 1), NB_ETOOBIG);
    /* A document of len bytes never needs more than (len + 1) / 2 + 1 tokens (nb_event_parse
       relies on it): the densest shapes. */
    static const char *const dense[] = {"[0,0,0,0,0]",     "[[[[[0]]]]]", "[[],[],[]]",
                                        "{\"\":0,\"\":0}", "0",           "[\"\",\"\"]"};
    for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++) {
        size_t len = strlen(dense[i]);
        NB_CHECK_INT(parse(dense[i], len, &n), 0);
        NB_CHECK(n <= (len + 1) / 2 + 1);
    }
}

static void check_decode(const char *json, const char *want, size_t wantlen)
{
    size_t n = 0;
    int r = parse(json, strlen(json), &n);
    if (r != 0) {
        NB_FAIL_("<%s>: %s", json, nb_err_name(r));
        return;
    }
    NB_CHECK_INT(toks[0].type, NB_JSON_STRING);
    NB_CHECK_INT(nb_json_string_len(json, &toks[0]), wantlen);
    nb_buf_t b;
    nb_buf_init(&b, 1024);
    NB_CHECK_INT(nb_buf_append(&b, "pre", 3), 0);
    NB_CHECK_INT(nb_json_string(&b, json, &toks[0]), 0);
    NB_CHECK_INT(b.len, 3 + wantlen);
    if (b.len == 3 + wantlen) NB_CHECK_MEM(b.data + 3, want, wantlen);
    nb_buf_dispose(&b);
    char dst[64];
    size_t outlen = 0;
    NB_CHECK_INT(nb_json_string_to(dst, sizeof dst, &outlen, json, &toks[0]), 0);
    NB_CHECK_INT(outlen, wantlen);
    NB_CHECK_MEM(dst, want, wantlen);
    NB_CHECK_INT(dst[wantlen], 0);
    NB_CHECK_INT(nb_json_string_to(dst, wantlen, &outlen, json, &toks[0]), NB_ETOOBIG); /* no room for NUL */
}

static void test_string_decoding(void)
{
    check_decode("\"plain\"", "plain", 5);
    check_decode("\"\"", "", 0);
    check_decode("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
    check_decode("\"a\\u0000b\"", "a\0b", 3);
    check_decode("\"\\u00e9\\u20AC\"", "\xc3\xa9\xe2\x82\xac", 5);
    check_decode("\"\\ud83d\\ude00!\"", "\xf0\x9f\x98\x80!", 5);
    check_decode("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
    check_decode("\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf",
                 11);
    check_decode("\"x\xf0\x9f\x98\x80y\"", "x\xf0\x9f\x98\x80y", 6);

    /* nb_json_string honours the buffer ceiling and leaves the buffer unchanged. */
    const char *s = "\"0123456789\"";
    NB_CHECK_INT(parse_str(s), 0);
    nb_buf_t b;
    nb_buf_init(&b, 8);
    NB_CHECK_INT(nb_json_string(&b, s, &toks[0]), NB_ETOOBIG);
    NB_CHECK_INT(b.len, 0);
    nb_buf_dispose(&b);
    /* Non-strings are refused. */
    NB_CHECK_INT(parse_str("12"), 0);
    nb_buf_init(&b, 8);
    NB_CHECK_INT(nb_json_string(&b, "12", &toks[0]), NB_EINVAL);
    nb_buf_dispose(&b);
    char dst[8];
    NB_CHECK_INT(nb_json_string_to(dst, sizeof dst, NULL, "12", &toks[0]), NB_EINVAL);
    NB_CHECK(!nb_json_str_eq("12", &toks[0], "12"));
}

static void test_str_eq(void)
{
    const char *s = "[\"id\",\"\\u0069d\",\"i\\u0064\",\"idx\",\"i\",\"\\u0000\",\"\\ud83d\\ude00\"]";
    NB_CHECK_INT(parse_str(s), 0);
    NB_CHECK(nb_json_str_eq(s, &toks[1], "id"));
    NB_CHECK(nb_json_str_eq(s, &toks[2], "id"));
    NB_CHECK(nb_json_str_eq(s, &toks[3], "id"));
    NB_CHECK(!nb_json_str_eq(s, &toks[4], "id"));
    NB_CHECK(!nb_json_str_eq(s, &toks[5], "id"));
    NB_CHECK(!nb_json_str_eq(s, &toks[2], "i"));
    NB_CHECK(!nb_json_str_eq(s, &toks[2], "idx"));
    NB_CHECK(!nb_json_str_eq(s, &toks[6], ""));
    NB_CHECK(nb_json_str_eq(s, &toks[7], "\xf0\x9f\x98\x80"));
    NB_CHECK(!nb_json_str_eq(s, &toks[0], "id")); /* the array itself */
}

static void test_int64(void)
{
    static const struct {
        const char *s;
        int err;
        int64_t v;
    } cases[] = {
        {"0", 0, 0},
        {"-0", 0, 0},
        {"7", 0, 7},
        {"-42", 0, -42},
        {"1700000000", 0, 1700000000},
        {"9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"9223372036854775808", NB_EINVAL, 0},
        {"-9223372036854775809", NB_EINVAL, 0},
        {"99999999999999999999", NB_EINVAL, 0},
        {"1e3", 0, 1000},
        {"1E+2", 0, 100},
        {"25e0", 0, 25},
        {"1200e-2", 0, 12},
        {"-1200E-2", 0, -12},
        {"15e-1", NB_EINVAL, 0},
        {"1e-1", NB_EINVAL, 0},
        {"100e-3", NB_EINVAL, 0},
        {"0e99999999999", 0, 0},
        {"0e-5", 0, 0},
        {"9e18", 0, INT64_C(9000000000000000000)},
        {"1e19", NB_EINVAL, 0},
        {"1e999999999999", NB_EINVAL, 0},
        {"1.0", NB_EINVAL, 0},
        {"1.5", NB_EINVAL, 0},
        {"0.0", NB_EINVAL, 0},
        {"1.5e1", NB_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        NB_REQUIRE(parse(cases[i].s, strlen(cases[i].s), &n) == 0);
        int64_t v = -999;
        int r = nb_json_int64(cases[i].s, &toks[0], &v);
        if (r != cases[i].err || (r == 0 && v != cases[i].v))
            NB_FAIL_("case %zu <%s>: r=%s v=%lld", i, cases[i].s, nb_err_name(r), (long long)v);
    }
    NB_CHECK_INT(parse_str("\"1\""), 0);
    int64_t v;
    NB_CHECK_INT(nb_json_int64("\"1\"", &toks[0], &v), NB_EINVAL);
}

/* What JSON.stringify writes for bytes 0x00..0x1f. */
static const char *const control_escapes[32] = {
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
    "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
    "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
    "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
};

static void check_write(const char *in, size_t len, const char *want)
{
    nb_buf_t b;
    nb_buf_init(&b, 4096);
    NB_CHECK_INT(nb_json_write_string(&b, in, len), 0);
    if (b.data == NULL || strcmp(b.data, want) != 0)
        NB_FAIL_("write: got <%s>, want <%s>", b.data ? b.data : "(null)", want);
    nb_buf_dispose(&b);
}

static void test_write_string(void)
{
    char in[2], want[16];
    for (int c = 0; c < 0x20; c++) {
        in[0] = (char)c;
        snprintf(want, sizeof want, "\"%s\"", control_escapes[c]);
        check_write(in, 1, want);
    }
    /* Every other ASCII byte is verbatim except the quote and the backslash. */
    for (int c = 0x20; c < 0x80; c++) {
        in[0] = (char)c;
        if (c == '"')
            strcpy(want, "\"\\\"\"");
        else if (c == '\\')
            strcpy(want, "\"\\\\\"");
        else
            snprintf(want, sizeof want, "\"%c\"", c);
        check_write(in, 1, want);
    }
    check_write("", 0, "\"\"");
    check_write("a/b", 3, "\"a/b\""); /* no \/ */
    check_write("\x7f", 1, "\"\x7f\"");
    check_write("\xc3\xa9\xe2\x82\xac", 5, "\"\xc3\xa9\xe2\x82\xac\"");
    check_write("\xf0\x9f\x98\x80\xf0\x9d\x84\x9e", 8, "\"\xf0\x9f\x98\x80\xf0\x9d\x84\x9e\"");
    check_write("say \"hi\"\n\\o/\t\x01", 14, "\"say \\\"hi\\\"\\n\\\\o/\\t\\u0001\"");
    check_write("\xe2\x80\xa8\xe2\x80\xa9", 6,
                "\"\xe2\x80\xa8\xe2\x80\xa9\""); /* U+2028/2029 raw, as JS does */

    /* The ceiling: either the whole literal or nothing. */
    nb_buf_t b;
    nb_buf_init(&b, 6);
    NB_CHECK_INT(nb_buf_append(&b, "ab", 2), 0);
    NB_CHECK_INT(nb_json_write_string(&b, "\n\n", 2), NB_ETOOBIG); /* needs 6 more */
    NB_CHECK_INT(b.len, 2);
    NB_CHECK_INT(nb_json_write_string(&b, "\n", 1), 0);
    NB_CHECK_STR(b.data, "ab\"\\n\"");
    nb_buf_dispose(&b);
}

/* xorshift: reproducible pseudo-random bytes. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

/* The writer skips 8 bytes at a time: every byte value at every offset of a longer string, against
 * the one-byte results above. */
static void test_write_string_words(void)
{
    char in[21], want[21 * 6 + 3];
    memset(in, 'a', sizeof in);
    for (int c = 0; c < 256; c++) {
        for (size_t pos = 0; pos < sizeof in; pos++) {
            in[pos] = (char)c;
            char one[8];
            if (c < 0x20)
                snprintf(one, sizeof one, "%s", control_escapes[c]);
            else if (c == '"' || c == '\\')
                snprintf(one, sizeof one, "\\%c", c);
            else
                snprintf(one, sizeof one, "%c", c);
            snprintf(want, sizeof want, "\"%.*s%s%.*s\"", (int)pos, in, one, (int)(sizeof in - pos - 1),
                     in + pos + 1);
            check_write(in, sizeof in, want);
            in[pos] = 'a';
        }
    }
}

static void test_write_parse_roundtrip(void)
{
    /* Arbitrary bytes: the writer escapes controls, the tokenizer accepts exactly the valid UTF-8
       ones, and decoding gives back the input. */
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    unsigned valid = 0;
    for (int iter = 0; iter < 2000; iter++) {
        unsigned char in[64];
        size_t len = rnd() % sizeof in;
        for (size_t i = 0; i < len; i++) {
            uint32_t x = rnd();
            in[i] = (unsigned char)(x % 4 == 0 ? x >> 8 : x % 4 == 1 ? (x >> 8) % 0x20 : (x >> 8) % 0x80);
        }
        nb_buf_reset(&b);
        NB_REQUIRE(nb_json_write_string(&b, (const char *)in, len) == 0);
        size_t n;
        int r = parse(b.data, b.len, &n);
        bool utf8 = nb_utf8_valid((const char *)in, len);
        if (!utf8) {
            NB_CHECK_INT(r, NB_EUTF8);
            continue;
        }
        valid++;
        NB_REQUIRE(r == 0 && n == 1);
        char out[sizeof in + 1];
        size_t outlen = 0;
        NB_CHECK_INT(nb_json_string_to(out, sizeof out, &outlen, b.data, &toks[0]), 0);
        NB_CHECK_INT(outlen, len);
        NB_CHECK_MEM(out, in, len);
    }
    NB_CHECK(valid > 200);
    nb_buf_dispose(&b);
}

static void test_utf8_valid(void)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},
        {"plain ascii text that is longer than eight bytes", true},
        {"\xc2\x80\xdf\xbf", true},
        {"\xe0\xa0\x80\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80", true},
        {"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", true},
        {"0123456789abcdef\xf0\x9f\x98\x80", true},
        {"\x80", false},
        {"\xbf", false},
        {"\xc0\x80", false},
        {"\xc1\xbf", false},
        {"\xe0\x9f\xbf", false},
        {"\xed\xa0\x80", false},
        {"\xed\xbf\xbf", false},
        {"\xf0\x8f\xbf\xbf", false},
        {"\xf4\x90\x80\x80", false},
        {"\xf8\x88\x80\x80\x80", false},
        {"\xff", false},
        {"\xc2", false},
        {"\xe2\x82", false},
        {"\xf0\x9f\x98", false},
        {"\xc2\x41", false},
        {"0123456789abcdef\xe2\x28\xa1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (nb_utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok) NB_FAIL_("utf8 case %zu", i);
    }
    NB_CHECK(nb_utf8_valid("\0\x7f", 2)); /* NUL is valid UTF-8; length is authoritative */
    NB_CHECK(!nb_utf8_valid("\0\x80", 2));
}

int main(void)
{
    NB_RUN(test_token_layout);
    NB_RUN(test_valid_documents);
    NB_RUN(test_invalid_documents);
    NB_RUN(test_depth);
    NB_RUN(test_token_cap);
    NB_RUN(test_string_decoding);
    NB_RUN(test_str_eq);
    NB_RUN(test_int64);
    NB_RUN(test_write_string);
    NB_RUN(test_write_string_words);
    NB_RUN(test_write_parse_roundtrip);
    NB_RUN(test_utf8_valid);
    return nb_test_summary();
}
