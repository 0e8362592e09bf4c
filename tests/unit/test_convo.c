/* The conversation store: normalization of keys, LRU bound, TTL. */
#include "bridge/convo.h"
#include "bridge/hex.h"
#include "test.h"

static nb_chat_msg_t M(nb_chat_role_t role, const char *text)
{
    nb_chat_msg_t m = {role, (char *)text, strlen(text)};
    return m;
}

static void test_key_normalization(void)
{
    nb_chat_msg_t a[] = {M(NB_ROLE_SYSTEM, "be brief"), M(NB_ROLE_USER, "hi")};
    nb_chat_msg_t b[] = {M(NB_ROLE_DEVELOPER, "  be brief\n"), M(NB_ROLE_USER, "hi ")};
    nb_chat_msg_t c[] = {M(NB_ROLE_USER, "hi")};
    nb_chat_msg_t d[] = {M(NB_ROLE_SYSTEM, "be brief"), M(NB_ROLE_ASSISTANT, "hi")};
    uint8_t ka[32], kb[32], kc[32], kd[32], ke[32], kf[32];
    nb_convo_key(ka, a, 2, "reply", 5);
    nb_convo_key(kb, b, 2, "reply\n", 6);
    nb_convo_key(kc, c, 1, "reply", 5);
    nb_convo_key(kd, d, 2, "reply", 5);
    NB_CHECK_MEM(ka, kb, 32);          /* whitespace at the ends and developer≡system do not matter */
    NB_CHECK(memcmp(ka, kc, 32) != 0); /* the system message is part of the key */
    NB_CHECK(memcmp(ka, kd, 32) != 0); /* roles matter */
    /* what the next request sends: the history including our reply, before its new user message */
    nb_chat_msg_t next[] = {M(NB_ROLE_SYSTEM, "be brief"), M(NB_ROLE_USER, "hi"),
                            M(NB_ROLE_ASSISTANT, "reply"), M(NB_ROLE_USER, "more")};
    nb_convo_key(ke, next, 3, NULL, 0);
    NB_CHECK_MEM(ka, ke, 32);
    /* tool results and text-less assistant tool calls are skipped */
    nb_chat_msg_t tools[] = {M(NB_ROLE_SYSTEM, "be brief"), M(NB_ROLE_USER, "hi"), M(NB_ROLE_ASSISTANT, ""),
                             M(NB_ROLE_TOOL, "42"), M(NB_ROLE_ASSISTANT, "reply")};
    nb_convo_key(kf, tools, 5, NULL, 0);
    NB_CHECK_MEM(ka, kf, 32);
}

/* An assistant message whose text is only whitespace is skipped like an empty one (the trimmed
 * text decides), and so is an empty reply: the client sends it back as an empty assistant message. */
static void test_key_blank_assistant(void)
{
    nb_chat_msg_t a[] = {M(NB_ROLE_USER, "hi"), M(NB_ROLE_ASSISTANT, "")};
    nb_chat_msg_t b[] = {M(NB_ROLE_USER, "hi"), M(NB_ROLE_ASSISTANT, " \n\t")};
    nb_chat_msg_t c[] = {M(NB_ROLE_USER, "hi")};
    uint8_t ka[32], kb[32], kc[32], kr[32], kn[32];
    nb_convo_key(ka, a, 2, NULL, 0);
    nb_convo_key(kb, b, 2, NULL, 0);
    nb_convo_key(kc, c, 1, NULL, 0);
    nb_convo_key(kr, c, 1, "", 0);
    nb_convo_key(kn, c, 1, "\n ", 2);
    NB_CHECK_MEM(ka, kc, 32);
    NB_CHECK_MEM(kb, kc, 32);
    NB_CHECK_MEM(kr, kc, 32);
    NB_CHECK_MEM(kn, kc, 32);
    /* a blank user or system message still counts */
    nb_convo_key(ka, (nb_chat_msg_t[]){M(NB_ROLE_USER, " "), M(NB_ROLE_USER, "hi")}, 2, NULL, 0);
    NB_CHECK(memcmp(ka, kc, 32) != 0);
}

static void test_thread_keys(void)
{
    uint8_t t0[32] = {0}, t1[32], k0[32], k1[32], again[32];
    for (int i = 0; i < 32; i++)
        t1[i] = (uint8_t)i;
    nb_convo_thread_key(k0, t0);
    nb_convo_thread_key(k1, t1);
    nb_convo_thread_key(again, t1);
    NB_CHECK_MEM(k1, again, 32);       /* deterministic */
    NB_CHECK(memcmp(k0, k1, 32) != 0); /* per thread */
    /* pinned: SHA-256("bridge-thread-v1\0" || id). Changing the prefix orphans every stored thread
     * record, so it must be a deliberate change (a new prefix, and this vector with it). */
    uint8_t want0[32], want1[32];
    NB_REQUIRE(nb_hex_decode(want0, 32, "e6ef59827adca3a6891cea8c1ff1123e0f8e2a14568c2d70271fb05c5d584635",
                             64) == 0);
    NB_REQUIRE(nb_hex_decode(want1, 32, "d000f519ed111ccb8e90ae300e2b706df59fcbf3d7dd30fa69ffad15c7298c52",
                             64) == 0);
    NB_CHECK_MEM(k0, want0, 32);
    NB_CHECK_MEM(k1, want1, 32);
    for (int bit = 0; bit < 256; bit++) { /* every single-bit change of the id gives another key */
        uint8_t t[32], k[32];
        memcpy(t, t1, 32);
        t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        nb_convo_thread_key(k, t);
        NB_CHECK(memcmp(k, k1, 32) != 0);
    }

    /* never a history key: the empty history, and histories whose texts are the prefix or the id */
    uint8_t h[32];
    nb_convo_key(h, NULL, 0, NULL, 0);
    NB_CHECK(memcmp(h, k0, 32) != 0 && memcmp(h, k1, 32) != 0);
    char pre[17 + 32];
    memcpy(pre, "bridge-thread-v1", 17);
    memcpy(pre + 17, t1, 32);
    for (int role = NB_ROLE_SYSTEM; role <= NB_ROLE_ASSISTANT; role++) {
        nb_chat_msg_t m[] = {{(nb_chat_role_t)role, pre, sizeof(pre)}};
        nb_convo_key(h, m, 1, NULL, 0);
        NB_CHECK(memcmp(h, k1, 32) != 0);
        nb_convo_key(h, NULL, 0, pre, sizeof(pre));
        NB_CHECK(memcmp(h, k1, 32) != 0);
    }
    /* and a thread id that happens to be a history key names another record than that history */
    nb_convo_key(h, (nb_chat_msg_t[]){M(NB_ROLE_USER, "hi")}, 1, "reply", 5);
    nb_convo_thread_key(k0, h);
    NB_CHECK(memcmp(k0, h, 32) != 0);
}

/* owner and thread are stored and replaced with the rest of the entry. */
static void test_entry_fields(void)
{
    nb_convo_t *c = nb_convo_create(4, 100);
    uint8_t k[32] = {7};
    nb_convo_entry_t e;
    memset(&e, 0, sizeof(e));
    e.root[0] = 1;
    memset(e.owner, 0xee, sizeof(e.owner));
    memset(e.thread, 0x77, sizeof(e.thread));
    nb_convo_put(c, k, &e, 1);
    const nb_convo_entry_t *got = nb_convo_get(c, k, 2);
    NB_REQUIRE(got != NULL);
    NB_CHECK_MEM(got, &e, sizeof(e));
    memset(e.owner, 0, sizeof(e.owner)); /* back to local mode, thread = root */
    memset(e.thread, 0, sizeof(e.thread));
    nb_convo_put(c, k, &e, 3);
    got = nb_convo_get(c, k, 4);
    NB_REQUIRE(got != NULL);
    NB_CHECK_MEM(got, &e, sizeof(e));
    nb_convo_destroy(c);
}

static void test_lru_and_ttl(void)
{
    nb_convo_t *c = nb_convo_create(2, 100);
    uint8_t k1[32] = {1}, k2[32] = {2}, k3[32] = {3};
    nb_convo_entry_t e;
    memset(&e, 0, sizeof(e));
    e.root[0] = 0xaa;
    nb_convo_put(c, k1, &e, 0);
    e.root[0] = 0xbb;
    nb_convo_put(c, k2, &e, 0);
    NB_CHECK(nb_convo_get(c, k1, 1) != NULL); /* k1 is now the most recent */
    e.root[0] = 0xcc;
    nb_convo_put(c, k3, &e, 2); /* evicts k2 */
    NB_CHECK_INT(nb_convo_size(c), 2);
    NB_CHECK(nb_convo_get(c, k2, 2) == NULL);
    NB_REQUIRE(nb_convo_get(c, k1, 2) != NULL);
    NB_CHECK_INT(nb_convo_get(c, k1, 2)->root[0], 0xaa);
    e.root[0] = 0xdd; /* replace */
    nb_convo_put(c, k1, &e, 3);
    NB_CHECK_INT(nb_convo_get(c, k1, 3)->root[0], 0xdd);
    NB_CHECK_INT(nb_convo_size(c), 2);
    NB_CHECK(nb_convo_get(c, k3, 500) == NULL); /* expired */
    NB_CHECK_INT(nb_convo_size(c), 1);
    nb_convo_destroy(c);
}

static void test_many(void)
{
    nb_convo_t *c = nb_convo_create(1000, 0);
    nb_convo_entry_t e;
    memset(&e, 0, sizeof(e));
    for (int i = 0; i < 5000; i++) {
        uint8_t k[32] = {0};
        memcpy(k, &i, sizeof(i));
        nb_convo_put(c, k, &e, i);
    }
    NB_CHECK_INT(nb_convo_size(c), 1000);
    uint8_t last[32] = {0}, first[32] = {0};
    int i = 4999, j = 0;
    memcpy(last, &i, sizeof(i));
    memcpy(first, &j, sizeof(j));
    NB_CHECK(nb_convo_get(c, last, 5000) != NULL);
    NB_CHECK(nb_convo_get(c, first, 5000) == NULL);
    nb_convo_destroy(c);
}

int main(void)
{
    NB_RUN(test_key_normalization);
    NB_RUN(test_key_blank_assistant);
    NB_RUN(test_thread_keys);
    NB_RUN(test_entry_fields);
    NB_RUN(test_lru_and_ttl);
    NB_RUN(test_many);
    return nb_test_summary();
}
