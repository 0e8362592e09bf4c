/*
 * test.h — always-on assertions for unit tests (they do not vanish under NDEBUG) that print both
 * sides, and a tiny runner that ends with the line "N passed, N failed".
 *
 *     static void test_roundtrip(void) { NB_CHECK_INT(f(1), 2); }
 *     int main(void) { NB_RUN(test_roundtrip); return nb_test_summary(); }
 */
#ifndef BRIDGE_TEST_H
#define BRIDGE_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nb_test_failures_; /* checks failed in the current test */
static int nb_tests_passed_;
static int nb_tests_failed_;

#define NB_FAIL_(...)                                                                                        \
    do {                                                                                                     \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                      \
        fprintf(stderr, __VA_ARGS__);                                                                        \
        fputc('\n', stderr);                                                                                 \
        nb_test_failures_++;                                                                                 \
    } while (0)

#define NB_CHECK(cond)                                                                                       \
    do {                                                                                                     \
        if (!(cond)) NB_FAIL_("check failed: %s", #cond);                                                    \
    } while (0)

#define NB_CHECK_INT(a, b)                                                                                   \
    do {                                                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                  \
        if (a_ != b_) NB_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                                    \
    } while (0)

#define NB_CHECK_STR(a, b)                                                                                   \
    do {                                                                                                     \
        const char *a_ = (a), *b_ = (b);                                                                     \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                                 \
            NB_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");          \
    } while (0)

#define NB_CHECK_MEM(a, b, n)                                                                                \
    do {                                                                                                     \
        if (memcmp((a), (b), (n)) != 0) NB_FAIL_("%s == %s: %zu bytes differ", #a, #b, (size_t)(n));         \
    } while (0)

/** Stop the current test function if a check already failed (use before dereferencing). */
#define NB_REQUIRE(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            NB_FAIL_("required: %s", #cond);                                                                 \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

#define NB_RUN(fn)                                                                                           \
    do {                                                                                                     \
        nb_test_failures_ = 0;                                                                               \
        fn();                                                                                                \
        if (nb_test_failures_ == 0) {                                                                        \
            nb_tests_passed_++;                                                                              \
            printf("ok   %s\n", #fn);                                                                        \
        } else {                                                                                             \
            nb_tests_failed_++;                                                                              \
            printf("FAIL %s (%d checks)\n", #fn, nb_test_failures_);                                         \
        }                                                                                                    \
        fflush(stdout);                                                                                      \
    } while (0)

static inline int nb_test_summary(void)
{
    printf("%d passed, %d failed\n", nb_tests_passed_, nb_tests_failed_);
    return nb_tests_failed_ == 0 && nb_tests_passed_ > 0 ? 0 : 1;
}

/** Path of a file under tests/vectors (the build passes NB_VECTORS_DIR). */
#ifndef NB_VECTORS_DIR
#define NB_VECTORS_DIR "tests/vectors"
#endif

#endif
