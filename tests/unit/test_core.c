/* Core modules: error table, capped buffers, logging helpers. */
#include "bridge/buf.h"
#include "bridge/err.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "test.h"

#include <stdint.h>

static void test_err_table(void)
{
    NB_CHECK_STR(nb_strerror(0), "success");
    NB_CHECK_STR(nb_err_name(NB_EHEX), "EHEX");
    NB_CHECK_STR(nb_strerror(NB_ETOOBIG), "input exceeds its size limit");
    NB_CHECK_STR(nb_strerror(12345), "unknown error");
    NB_CHECK(NB_EINVAL < 0 && NB_ENORELAY < 0);
    /* every code has a distinct, non-generic message */
    for (int e = NB_ERR__FIRST + 1; e < NB_ERR__LAST; e++) {
        NB_CHECK(strcmp(nb_strerror(e), "unknown error") != 0);
        NB_CHECK(strcmp(nb_err_name(e), "EUNKNOWN") != 0);
    }
}

static void test_buf_ceiling(void)
{
    nb_buf_t b;
    nb_buf_init(&b, 8);
    NB_CHECK_INT(nb_buf_appends(&b, "12345"), 0);
    NB_CHECK_INT(nb_buf_appends(&b, "6789"), NB_ETOOBIG);
    NB_CHECK_INT(b.len, 5);
    NB_CHECK_STR(b.data, "12345");
    NB_CHECK_INT(nb_buf_appends(&b, "678"), 0);
    NB_CHECK_STR(b.data, "12345678");
    NB_CHECK_INT(nb_buf_appendc(&b, 'x'), NB_ETOOBIG);
    NB_CHECK_INT(nb_buf_appendf(&b, "%d", 1), NB_ETOOBIG);
    nb_buf_consume(&b, 3);
    NB_CHECK_STR(b.data, "45678");
    NB_CHECK_INT(nb_buf_appendf(&b, "%03d", 7), 0);
    NB_CHECK_STR(b.data, "45678007");
    size_t n;
    char *p = nb_buf_steal(&b, &n);
    NB_CHECK_INT(n, 8);
    NB_CHECK_STR(p, "45678007");
    NB_CHECK(b.data == NULL && b.len == 0);
    nb_free(p);
    nb_buf_dispose(&b);
}

static void test_buf_unlimited(void)
{
    /* SIZE_MAX means "no ceiling": it must not wrap when the capacity is clamped. */
    nb_buf_t b;
    nb_buf_init(&b, SIZE_MAX);
    for (int i = 0; i < 1000; i++)
        NB_CHECK_INT(nb_buf_appends(&b, "abcdefghij"), 0);
    NB_CHECK_INT(b.len, 10000);
    NB_CHECK(b.data[9999] == 'j' && b.data[10000] == '\0');
    nb_buf_dispose(&b);
    nb_buf_init(&b, SIZE_MAX);
    NB_CHECK_INT(nb_buf_reserve(&b, SIZE_MAX), NB_ETOOBIG);
    nb_buf_dispose(&b);
}

static void test_buf_empty_steal(void)
{
    nb_buf_t b;
    nb_buf_init(&b, 16);
    size_t n = 99;
    char *p = nb_buf_steal(&b, &n);
    NB_CHECK_INT(n, 0);
    NB_CHECK_STR(p, "");
    nb_free(p);
}

static void test_log_levels(void)
{
    nb_log_level_t l;
    NB_CHECK_INT(nb_log_level_parse("debug", &l), 0);
    NB_CHECK_INT(l, NB_LOG_DEBUG);
    NB_CHECK_INT(nb_log_level_parse("WARNING", &l), 0);
    NB_CHECK_INT(l, NB_LOG_WARN);
    NB_CHECK_INT(nb_log_level_parse("loud", &l), NB_EINVAL);
    nb_log_setup(NB_LOG_ERROR, false);
    NB_CHECK(!nb_log_enabled(NB_LOG_INFO));
    NB_CHECK(nb_log_enabled(NB_LOG_ERROR));
    nb_log_setup(NB_LOG_INFO, false);
}

int main(void)
{
    NB_RUN(test_err_table);
    NB_RUN(test_buf_ceiling);
    NB_RUN(test_buf_unlimited);
    NB_RUN(test_buf_empty_steal);
    NB_RUN(test_log_levels);
    return nb_test_summary();
}
