/*
 * fuzz_config.c — libFuzzer driver for the config file parser (nb_config_parse).
 *
 * Each input is parsed into a key set that already holds two keys (one with a policy), and:
 *   - on error the set is byte for byte what it was, and the message is one non-empty line;
 *   - on success n grew by the number of "api_keys" entries, each entry's key finds its own
 *     index, every policy is within the documented bounds, and the keys already there are intact;
 *   - the message never shows a key. Checked two ways: the input is parsed again with the letters
 *     and digits of every "key" value remapped (rot13 / rot5, a bijection, so lengths, trimming and
 *     which keys are equal do not change): the result and the message must be the same, which they
 *     cannot be if the message quotes a key. And no "key" value longer than 8 bytes that the
 *     remapping leaves alone may appear in the message. (A plain "not in the message" check on
 *     every key would flag a key such as "api_keys[0]", which the message says by itself.)
 *
 *   build-fuzz-config/tests/fuzz/fuzz_config tests/fuzz/corpus/config -dict=tests/fuzz/json.dict
 */
#include "bridge/apikeys.h"
#include "bridge/buf.h"
#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "fuzz_config: %s:%d: %s\n", __FILE__, __LINE__, #cond);                          \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

/* Made of bytes the remapping leaves alone, so a "key" equal to one stays equal to it. */
#define PRE_PLAIN "~~~~~~~~~~~~"
#define PRE_POLICY "-_.-_.-_.-_."

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void preload(nb_apikeys_t *k)
{
    char *projects[] = {"pre-project"};
    nb_apikey_policy_t pol = {.name = "pre", .projects = projects, .n_projects = 1, .max_streams = 3};
    nb_apikeys_init(k);
    CHECK(nb_apikeys_add(k, PRE_PLAIN, strlen(PRE_PLAIN)) == 0);
    CHECK(nb_apikeys_add_policy(k, PRE_POLICY, strlen(PRE_POLICY), &pol) == 0);
}

static char remap(char c)
{
    if (c >= 'a' && c <= 'z') return (char)('a' + (c - 'a' + 13) % 26);
    if (c >= 'A' && c <= 'Z') return (char)('A' + (c - 'A' + 13) % 26);
    if (c >= '0' && c <= '9') return (char)('0' + (c - '0' + 5) % 10);
    return c;
}

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The decoded value of STRING token t (a new string; *len its length). */
static char *decode(const char *s, const nb_json_tok_t *t, size_t *len)
{
    size_t n = nb_json_string_len(s, t);
    char *d = nb_malloc(n + 1);
    CHECK(nb_json_string_to(d, n + 1, len, s, t) == 0);
    return d;
}

/* Parse text into a preloaded set and check everything that does not need the other run. */
static int run(const char *text, size_t len, char *err, size_t err_cap)
{
    size_t cap = len / 2 + 2, ntoks = 0;
    nb_json_tok_t *toks = nb_malloc(cap * sizeof(*toks));
    bool tok_ok = nb_json_parse(toks, cap, &ntoks, text, len) == 0;
    nb_apikeys_t *k = nb_malloc(sizeof(*k)), *before = nb_malloc(sizeof(*k));
    preload(k);
    memcpy(before, k, sizeof(*k));
    memset(err, 'x', err_cap);
    int r = nb_config_parse(k, text, len, err, err_cap);
    CHECK(memchr(err, '\0', err_cap) != NULL);
    if (r != 0) {
        CHECK(r == NB_EINVAL || r == NB_ELIMIT);
        CHECK(memcmp(k, before, sizeof(*k)) == 0);
        CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        /* Not JSON: the message can only be a fixed one. */
        if (!tok_ok)
            CHECK(strncmp(err, "not valid JSON", 14) == 0 || strncmp(err, "more JSON values", 16) == 0);
        goto out;
    }
    CHECK(err[0] == '\0');
    CHECK(tok_ok && ntoks > 0 && toks[0].type == NB_JSON_OBJECT);
    /* The keys already there: untouched. */
    CHECK(memcmp(k->digest, before->digest, 2 * 32) == 0);
    CHECK(memcmp(k->policy, before->policy, 2 * sizeof(k->policy[0])) == 0);
    uint32_t arr = nb_json_obj_get(text, toks, 0, "api_keys");
    size_t entries = arr == 0 ? 0 : toks[arr].size;
    CHECK(k->n == 2 + entries);
    uint32_t o = arr + 1;
    for (size_t e = 0; e < entries; e++, o = toks[o].next) {
        uint32_t v = nb_json_obj_get(text, toks, o, "key");
        CHECK(v != 0 && toks[v].type == NB_JSON_STRING);
        size_t kl;
        char *key = decode(text, &toks[v], &kl), *kp = key;
        while (kl > 0 && space(kp[0]))
            kp++, kl--;
        while (kl > 0 && space(kp[kl - 1]))
            kl--;
        CHECK(kl >= 1 && kl <= NB_APIKEY_MAX_LEN);
        CHECK(nb_apikeys_find(k, kp, kl) == (int)(2 + e));
        nb_free(key);

        const nb_apikey_policy_t *p = nb_apikeys_policy(k, (int)(2 + e));
        size_t nl = strnlen(p->name, sizeof(p->name));
        CHECK(nl <= NB_APIKEY_NAME_MAX);
        for (size_t i = 0; i < nl; i++)
            CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", p->name[i]));
        CHECK((p->projects == NULL) == (p->n_projects == 0) && p->n_projects <= 256);
        for (size_t i = 0; i < p->n_projects; i++) {
            size_t pl = strlen(p->projects[i]);
            CHECK(pl >= 1 && pl <= 256 && strchr(p->projects[i], '/') == NULL);
            CHECK(nb_utf8_valid(p->projects[i], pl));
            CHECK(nb_apikeys_allows_project(k, (int)(2 + e), p->projects[i]));
        }
        CHECK(p->max_streams <= 1000000 && p->rate_per_minute <= 1000000);
    }
out:
    nb_apikeys_dispose(k);
    nb_free(k);
    nb_free(before);
    nb_free(toks);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > NB_CONFIG_MAX_BYTES) return 0;
    const char *text = (const char *)data;
    char err1[256], err2[256];
    int r1 = run(text, size, err1, sizeof(err1));

    size_t cap = size / 2 + 2, ntoks = 0;
    nb_json_tok_t *toks = nb_malloc(cap * sizeof(*toks));
    if (nb_json_parse(toks, cap, &ntoks, text, size) != 0) {
        nb_free(toks);
        return 0;
    }
    /* The "key" values of every object, wherever it is. Tokens are in document order, and a
     * string is a leaf, so walking the marks in index order walks the spans in order. */
    bool *mark = nb_calloc(ntoks, sizeof(bool));
    for (size_t i = 0; i < ntoks; i++) {
        if (toks[i].type != NB_JSON_OBJECT) continue;
        uint32_t m = (uint32_t)i + 1;
        for (uint32_t j = 0; j < toks[i].size; j++, m = toks[m + 1].next)
            if (nb_json_str_eq(text, &toks[m], "key") && toks[m + 1].type == NB_JSON_STRING)
                mark[m + 1] = true;
    }

    /* The input again, with those values remapped and re-escaped. */
    nb_buf_t alt;
    nb_buf_init(&alt, 8 * (size_t)NB_CONFIG_MAX_BYTES);
    size_t at = 0;
    for (size_t i = 0; i < ntoks; i++) {
        if (!mark[i]) continue;
        const nb_json_tok_t *v = &toks[i];
        size_t kl;
        char *key = decode(text, v, &kl);
        if (kl > 8) {
            bool plain = true;
            for (size_t b = 0; b < kl; b++)
                plain = plain && remap(key[b]) == key[b];
            /* Unchanged by the remapping, so the comparison below cannot see it: look for it. */
            if (plain) CHECK(memmem(err1, strlen(err1), key, kl) == NULL);
        }
        for (size_t b = 0; b < kl; b++)
            key[b] = remap(key[b]);
        CHECK(v->start >= at + 1);
        CHECK(nb_buf_append(&alt, text + at, v->start - 1 - at) == 0); /* up to the opening quote */
        CHECK(nb_json_write_string(&alt, key, kl) == 0);
        at = v->start + v->len + 1;
        nb_memwipe(key, kl);
        nb_free(key);
    }
    CHECK(nb_buf_append(&alt, text + at, size - at) == 0);
    if (alt.len <= NB_CONFIG_MAX_BYTES) {
        int r2 = run(alt.data, alt.len, err2, sizeof(err2));
        CHECK(r1 == r2);
        CHECK(strcmp(err1, err2) == 0);
    }
    nb_buf_dispose(&alt);
    nb_free(mark);
    nb_free(toks);
    return 0;
}
