/*
 * fuzz_json.c — libFuzzer driver for the strict tokenizer and the NIP-01 string writer.
 *
 * Beyond "no crash, no out-of-bounds read" (ASan), it checks invariants that would otherwise fail
 * silently: token spans inside the input, subtree indexes consistent, every accepted string valid
 * UTF-8 before and after decoding, write → parse → decode gives the decoded bytes back, and
 * nb_utf8_valid agrees with an independent, slow decoder.
 *
 *   build-fuzz/tests/fuzz/fuzz_json tests/fuzz/corpus/json -dict=tests/fuzz/json.dict
 */
#include "bridge/err.h"
#include "bridge/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "fuzz_json: %s:%d: %s\n", __FILE__, __LINE__, #cond);                            \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

#define MAXTOK 4096

/* Decode code points one by one and judge each by its value: a second opinion on nb_utf8_valid. */
static int slow_utf8_valid(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        unsigned long cp;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            cp = c & 0x1f;
            len = 2;
        } else if ((c & 0xf0) == 0xe0) {
            cp = c & 0x0f;
            len = 3;
        } else if ((c & 0xf8) == 0xf0) {
            cp = c & 0x07;
            len = 4;
        } else {
            return 0;
        }
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        static const unsigned long min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

static void check_string(const char *s, const nb_json_tok_t *t)
{
    CHECK(nb_utf8_valid(s + t->start, t->len));
    size_t n = nb_json_string_len(s, t);
    CHECK(n <= t->len);
    char *dec = malloc(n + 1);
    size_t outlen = 0;
    CHECK(nb_json_string_to(dec, n + 1, &outlen, s, t) == 0);
    CHECK(outlen == n);
    CHECK(nb_json_string_to(dec, n, &outlen, s, t) == NB_ETOOBIG);
    CHECK(nb_json_string_to(dec, n + 1, &outlen, s, t) == 0);
    CHECK(nb_utf8_valid(dec, n)); /* escapes decode to valid UTF-8 only (no lone surrogates) */
    if (t->has_escapes == 0) CHECK(memcmp(dec, s + t->start, n) == 0);
    dec[n] = '\0';
    if (strlen(dec) == n) CHECK(nb_json_str_eq(s, t, dec));

    /* Round trip through the NIP-01 writer. */
    nb_buf_t b;
    nb_buf_init(&b, 6 * n + 16);
    CHECK(nb_json_write_string(&b, dec, n) == 0);
    nb_json_tok_t t2[2];
    size_t n2 = 0;
    CHECK(nb_json_parse(t2, 2, &n2, b.data, b.len) == 0);
    CHECK(n2 == 1 && t2[0].type == NB_JSON_STRING);
    nb_buf_t d;
    nb_buf_init(&d, n + 1);
    CHECK(nb_json_string(&d, b.data, &t2[0]) == 0);
    CHECK(d.len == n && (n == 0 || memcmp(d.data, dec, n) == 0));
    nb_buf_dispose(&d);
    nb_buf_dispose(&b);
    free(dec);
}

static nb_json_tok_t toks[MAXTOK];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    CHECK(nb_utf8_valid(s, size) == slow_utf8_valid(data, size));

    size_t n = 0;
    int r = nb_json_parse(toks, MAXTOK, &n, s, size);
    CHECK(r == 0 || r == NB_EJSON || r == NB_EJSON_DEPTH || r == NB_EUTF8 || r == NB_ETOOBIG);

    /* A smaller token array fails with ETOOBIG or the same answer, never anything else. */
    size_t n_small = 0;
    int r_small = nb_json_parse(toks, 8, &n_small, s, size);
    if (r == 0) CHECK(n <= 8 ? (r_small == 0 && n_small == n) : r_small == NB_ETOOBIG);
    if (r == 0) CHECK(n <= (size + 1) / 2 + 1); /* the bound nb_event_parse sizes its array with */
    if (r != 0) return 0;
    /* r_small may have overwritten toks: parse again. */
    CHECK(nb_json_parse(toks, MAXTOK, &n, s, size) == 0);

    CHECK(n >= 1 && toks[0].next == n);
    for (size_t i = 0; i < n; i++) {
        const nb_json_tok_t *t = &toks[i];
        CHECK((size_t)t->start + t->len <= size);
        CHECK(t->next > i && t->next <= n);
        switch (t->type) {
        case NB_JSON_OBJECT:
        case NB_JSON_ARRAY: {
            CHECK(t->len >= 2);
            CHECK(s[t->start] == (t->type == NB_JSON_OBJECT ? '{' : '['));
            CHECK(s[t->start + t->len - 1] == (t->type == NB_JSON_OBJECT ? '}' : ']'));
            /* Walk the children with next: they must end exactly at this token's next. */
            uint32_t c = (uint32_t)i + 1;
            for (uint32_t k = 0; k < t->size; k++) {
                if (t->type == NB_JSON_OBJECT) {
                    CHECK(toks[c].type == NB_JSON_STRING);
                    uint32_t v = nb_json_obj_get(s, toks, (uint32_t)i, "id");
                    CHECK(v == 0 || (v > i && v < t->next));
                    c++;
                }
                c = toks[c].next;
            }
            CHECK(c == t->next);
            break;
        }
        case NB_JSON_STRING:
            CHECK(t->start >= 1 && s[t->start - 1] == '"' && s[t->start + t->len] == '"');
            check_string(s, t);
            break;
        case NB_JSON_NUMBER: {
            CHECK(t->size == 0 && t->next == i + 1);
            int64_t v;
            int ri = nb_json_int64(s, t, &v);
            CHECK(ri == 0 || ri == NB_EINVAL);
            if (ri == 0 && t->len < 19 && memchr(s + t->start, 'e', t->len) == NULL &&
                memchr(s + t->start, 'E', t->len) == NULL) {
                /* Plain short integers: compare with strtoll. */
                char tmp[32];
                memcpy(tmp, s + t->start, t->len);
                tmp[t->len] = '\0';
                CHECK(strtoll(tmp, NULL, 10) == v);
            }
            break;
        }
        case NB_JSON_TRUE:
        case NB_JSON_FALSE:
        case NB_JSON_NULL:
            CHECK(t->size == 0 && t->next == i + 1);
            break;
        default:
            CHECK(0);
        }
    }
    return 0;
}
