/* API keys: adding, lists, files (permissions), checking. */
#include "bridge/apikeys.h"
#include "bridge/err.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_check(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    NB_CHECK(nb_apikeys_open(&k));
    NB_CHECK(!nb_apikeys_check(&k, "anything", 8)); /* open mode is the caller's decision */
    NB_CHECK_INT(nb_apikeys_add(&k, "  sk-one \n", 10), 0);
    NB_CHECK_INT(nb_apikeys_add(&k, "   ", 3), 0); /* blank: ignored */
    NB_CHECK_INT(k.n, 1);
    NB_CHECK(!nb_apikeys_open(&k));
    NB_CHECK(nb_apikeys_check(&k, "sk-one", 6));
    NB_CHECK(!nb_apikeys_check(&k, "sk-one ", 7));
    NB_CHECK(!nb_apikeys_check(&k, "sk-on", 5));
    NB_CHECK(!nb_apikeys_check(&k, "SK-ONE", 6));
    NB_CHECK(!nb_apikeys_check(&k, "", 0));
    NB_CHECK_INT(nb_apikeys_add_list(&k, "a,b,,c\nd", 8), 0);
    NB_CHECK_INT(k.n, 5);
    NB_CHECK(nb_apikeys_check(&k, "c", 1) && nb_apikeys_check(&k, "d", 1) && nb_apikeys_check(&k, "sk-one", 6));
    char big[NB_APIKEY_MAX_LEN + 2];
    memset(big, 'x', sizeof(big));
    NB_CHECK_INT(nb_apikeys_add(&k, big, sizeof(big)), NB_EINVAL);
    NB_CHECK(!nb_apikeys_check(&k, big, sizeof(big)));
    nb_apikeys_dispose(&k);
    NB_CHECK_INT(k.n, 0);
}

static void test_limit(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char key[16];
    for (int i = 0; i < NB_APIKEYS_MAX; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        NB_CHECK_INT(nb_apikeys_add(&k, key, (size_t)n), 0);
    }
    NB_CHECK_INT(nb_apikeys_add(&k, "one-more", 8), NB_ELIMIT);
    NB_CHECK(nb_apikeys_check(&k, "k255", 4));
}

static void test_file(void)
{
    char path[] = "/tmp/bridge-apikeys-XXXXXX";
    int fd = mkstemp(path);
    NB_REQUIRE(fd >= 0);
    const char *text = "# keys for bridge\nsk-alpha\n\n  sk-beta   # the second\n";
    NB_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    chmod(path, 0600);
    NB_CHECK_INT(nb_apikeys_load_file(&k, path), 0);
    NB_CHECK_INT(k.n, 2);
    NB_CHECK(nb_apikeys_check(&k, "sk-alpha", 8));
    NB_CHECK(nb_apikeys_check(&k, "sk-beta", 7));
    NB_CHECK(!nb_apikeys_check(&k, "# keys for bridge", 17));
    chmod(path, 0640);
    NB_CHECK_INT(nb_apikeys_load_file(&k, path), NB_EKEYFILE);
    unlink(path);
    NB_CHECK_INT(nb_apikeys_load_file(&k, path), NB_EKEYFILE);
}

int main(void)
{
    NB_RUN(test_check);
    NB_RUN(test_limit);
    NB_RUN(test_file);
    return nb_test_summary();
}
