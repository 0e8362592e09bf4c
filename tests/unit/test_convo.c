/* The conversation store: normalization of keys, LRU bound, TTL. */
#include "bridge/convo.h"
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
    NB_RUN(test_lru_and_ttl);
    NB_RUN(test_many);
    return nb_test_summary();
}
