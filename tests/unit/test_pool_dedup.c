/* The pool's bounded recent (event id, subscription) set. */
#include "../../src/relay/dedup.h"
#include "test.h"

#include <stdint.h>

static void make_id(uint8_t id[32], uint32_t n)
{
    /* Spread n over the bytes the hash reads, like a SHA-256 output would. */
    uint64_t x = n * 0x9E3779B97F4A7C15ull + 12345;
    for (int i = 0; i < 32; i++) {
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ull;
        id[i] = (uint8_t)(x >> 56);
    }
}

static void test_insert_contains(void)
{
    nb_dedup_t d;
    nb_dedup_init(&d, 8);
    uint8_t a[32], b[32];
    make_id(a, 1);
    make_id(b, 2);
    NB_CHECK(!nb_dedup_contains(&d, a, 1));
    NB_CHECK(nb_dedup_insert(&d, a, 1));
    NB_CHECK(nb_dedup_contains(&d, a, 1));
    NB_CHECK(!nb_dedup_contains(&d, a, 2)); /* same event, other subscription */
    NB_CHECK(!nb_dedup_contains(&d, b, 1));
    NB_CHECK(!nb_dedup_insert(&d, a, 1)); /* already there */
    NB_CHECK(nb_dedup_insert(&d, a, 2));
    NB_CHECK_INT(d.count, 2);
    nb_dedup_dispose(&d);
}

static void test_fifo_eviction(void)
{
    nb_dedup_t d;
    nb_dedup_init(&d, 100);
    uint8_t id[32];
    for (uint32_t i = 0; i < 1000; i++) {
        make_id(id, i);
        NB_CHECK(nb_dedup_insert(&d, id, i % 3));
    }
    NB_CHECK_INT(d.count, 100);
    for (uint32_t i = 0; i < 1000; i++) {
        make_id(id, i);
        bool want = i >= 900;
        if (nb_dedup_contains(&d, id, i % 3) != want)
            NB_FAIL_("entry %u: contains=%d want=%d", i, !want, want);
    }
    nb_dedup_dispose(&d);
}

/* Many colliding keys (same id, tags hashing near each other) exercise backward-shift deletion. */
static void test_collisions_and_deletion(void)
{
    nb_dedup_t d;
    nb_dedup_init(&d, 7);
    uint8_t id[32] = {0};
    for (uint64_t t = 0; t < 5000; t++) {
        NB_CHECK(nb_dedup_insert(&d, id, t));
        for (uint64_t k = (t >= 6 ? t - 6 : 0); k <= t; k++)
            if (!nb_dedup_contains(&d, id, k))
                NB_FAIL_("lost tag %llu after inserting %llu", (unsigned long long)k, (unsigned long long)t);
        if (t >= 7 && nb_dedup_contains(&d, id, t - 7))
            NB_FAIL_("tag %llu should have been evicted", (unsigned long long)(t - 7));
    }
    nb_dedup_dispose(&d);
}

static void test_capacity_one(void)
{
    nb_dedup_t d;
    nb_dedup_init(&d, 1);
    uint8_t a[32], b[32];
    make_id(a, 7);
    make_id(b, 8);
    NB_CHECK(nb_dedup_insert(&d, a, 0));
    NB_CHECK(nb_dedup_insert(&d, b, 0));
    NB_CHECK(!nb_dedup_contains(&d, a, 0));
    NB_CHECK(nb_dedup_contains(&d, b, 0));
    nb_dedup_dispose(&d);
}

int main(void)
{
    NB_RUN(test_insert_contains);
    NB_RUN(test_fifo_eviction);
    NB_RUN(test_collisions_and_deletion);
    NB_RUN(test_capacity_one);
    return nb_test_summary();
}
