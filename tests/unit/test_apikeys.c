/* API keys: adding, lists, files (permissions), checking, policies, names, owner tags. */
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
    NB_CHECK(nb_apikeys_check(&k, "c", 1) && nb_apikeys_check(&k, "d", 1) &&
             nb_apikeys_check(&k, "sk-one", 6));
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

static void test_add_dedup(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    NB_CHECK_INT(nb_apikeys_add(&k, "sk-same", 7), 0);
    NB_CHECK_INT(nb_apikeys_add(&k, " sk-same\n", 9), 0); /* already there: not added twice */
    NB_CHECK_INT(k.n, 1);
    NB_CHECK_INT(nb_apikeys_find(&k, "sk-same", 7), 0);
    /* A plain key never shadows the policy of the same key added before. */
    char *projects[] = {"p"};
    nb_apikey_policy_t pol = {.name = "pol", .projects = projects, .n_projects = 1};
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "sk-pol", 6, &pol), 0);
    NB_CHECK_INT(nb_apikeys_add(&k, "sk-pol", 6), 0);
    NB_CHECK_INT(k.n, 2);
    NB_CHECK(!nb_apikeys_allows_project(&k, nb_apikeys_find(&k, "sk-pol", 6), "other"));
    nb_apikeys_dispose(&k);
}

static void test_policy(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char p0[] = "proj-a", p1[] = "naddr1xyz";
    char *projects[] = {p0, p1};
    nb_apikey_policy_t pol = {
        .name = "alice", .projects = projects, .n_projects = 2, .max_streams = 4, .rate_per_minute = 60};
    NB_CHECK_INT(nb_apikeys_add(&k, "sk-plain", 8), 0);
    NB_CHECK_INT(nb_apikeys_add_policy(&k, " sk-alice\t", 10, &pol), 0);
    NB_CHECK_INT(k.n, 2);
    /* Deep copy: the caller's strings may change or go away. */
    p0[0] = 'X';
    int a = nb_apikeys_find(&k, "sk-alice", 8);
    NB_CHECK_INT(a, 1);
    const nb_apikey_policy_t *got = nb_apikeys_policy(&k, a);
    NB_REQUIRE(got != NULL);
    NB_CHECK_STR(got->name, "alice");
    NB_CHECK_INT(got->n_projects, 2);
    NB_REQUIRE(got->projects != NULL && got->projects != projects);
    NB_CHECK_STR(got->projects[0], "proj-a");
    NB_CHECK_STR(got->projects[1], "naddr1xyz");
    NB_CHECK_INT(got->max_streams, 4);
    NB_CHECK_INT(got->rate_per_minute, 60);
    /* nb_apikeys_add: the empty policy. */
    const nb_apikey_policy_t *plain = nb_apikeys_policy(&k, 0);
    NB_REQUIRE(plain != NULL);
    NB_CHECK_STR(plain->name, "");
    NB_CHECK(plain->projects == NULL && plain->n_projects == 0 && plain->max_streams == 0 &&
             plain->rate_per_minute == 0);
    NB_CHECK(nb_apikeys_policy(&k, -1) == NULL);

    /* Errors leave the set as it was. */
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "sk-alice", 8, &pol), NB_EINVAL); /* duplicate */
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "sk-plain", 8, &pol), NB_EINVAL); /* duplicate of a plain key */
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "  \n", 3, &pol), NB_EINVAL);     /* empty */
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "", 0, &pol), NB_EINVAL);
    char big[NB_APIKEY_MAX_LEN + 1];
    memset(big, 'x', sizeof(big));
    NB_CHECK_INT(nb_apikeys_add_policy(&k, big, sizeof(big), &pol), NB_EINVAL);
    NB_CHECK_INT(nb_apikeys_add_policy(&k, big, sizeof(big) - 1, &pol), 0); /* exactly the maximum */
    NB_CHECK_INT(k.n, 3);

    /* No projects = every project. */
    nb_apikey_policy_t open_pol = {.name = ""};
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "sk-open", 7, &open_pol), 0);
    NB_CHECK(nb_apikeys_policy(&k, 3)->projects == NULL);
    nb_apikeys_dispose(&k);
    NB_CHECK_INT(k.n, 0);
    NB_CHECK(k.policy[1].projects == NULL);
}

static void test_policy_limit(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char key[16];
    for (int i = 0; i < NB_APIKEYS_MAX - 1; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        NB_CHECK_INT(nb_apikeys_add(&k, key, (size_t)n), 0);
    }
    char *projects[] = {"p"};
    nb_apikey_policy_t pol = {.projects = projects, .n_projects = 1};
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "last", 4, &pol), 0);
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "one-more", 8, &pol), NB_ELIMIT);
    NB_CHECK_INT(k.n, NB_APIKEYS_MAX);
    nb_apikeys_dispose(&k); /* frees the one policy (ASan would report a leak) */
}

static void test_name(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    nb_apikey_policy_t pol = {.name = "ops.team-1"};
    NB_CHECK_INT(nb_apikeys_add(&k, "a", 1), 0);
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "b", 1, &pol), 0);
    char buf[NB_APIKEY_NAME_MAX + 1];
    NB_CHECK_STR(nb_apikeys_name(&k, -1, buf, sizeof(buf)), "local");
    NB_CHECK_STR(nb_apikeys_name(&k, 0, buf, sizeof(buf)), "key0");
    NB_CHECK_STR(nb_apikeys_name(&k, 1, buf, sizeof(buf)), "ops.team-1");
    char small[4];
    NB_CHECK_STR(nb_apikeys_name(&k, 1, small, sizeof(small)), "ops"); /* truncated, terminated */
    NB_CHECK_STR(nb_apikeys_name(&k, 1, small, 0), "");
    /* A full-length name survives. */
    memset(pol.name, 'n', NB_APIKEY_NAME_MAX);
    pol.name[NB_APIKEY_NAME_MAX] = '\0';
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "c", 1, &pol), 0);
    NB_CHECK_INT(strlen(nb_apikeys_name(&k, 2, buf, sizeof(buf))), NB_APIKEY_NAME_MAX);
    nb_apikeys_dispose(&k);
}

static void test_allows_project(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char *projects[] = {"alpha", "naddr1abc"};
    nb_apikey_policy_t pol = {.projects = projects, .n_projects = 2};
    NB_CHECK_INT(nb_apikeys_add(&k, "plain", 5), 0);
    NB_CHECK_INT(nb_apikeys_add_policy(&k, "limited", 7, &pol), 0);
    /* Local mode (idx < 0) and keys without a list: every project. */
    NB_CHECK(nb_apikeys_allows_project(&k, -1, "anything"));
    NB_CHECK(nb_apikeys_allows_project(&k, -1, NULL));
    NB_CHECK(nb_apikeys_allows_project(&k, 0, "anything"));
    NB_CHECK(nb_apikeys_allows_project(&k, 0, NULL));
    /* A list: exactly its entries. */
    NB_CHECK(nb_apikeys_allows_project(&k, 1, "alpha"));
    NB_CHECK(nb_apikeys_allows_project(&k, 1, "naddr1abc")); /* stored as given */
    NB_CHECK(!nb_apikeys_allows_project(&k, 1, "alph"));
    NB_CHECK(!nb_apikeys_allows_project(&k, 1, "alphabet"));
    NB_CHECK(!nb_apikeys_allows_project(&k, 1, "ALPHA"));
    NB_CHECK(!nb_apikeys_allows_project(&k, 1, ""));
    NB_CHECK(!nb_apikeys_allows_project(&k, 1, NULL));
    nb_apikeys_dispose(&k);
}

static void test_owner(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    NB_CHECK_INT(nb_apikeys_add(&k, "sk-one", 6), 0);
    NB_CHECK_INT(nb_apikeys_add(&k, "sk-two", 6), 0);
    uint8_t o0[16], o1[16], again[16], local[16], zero[16] = {0};
    memset(local, 0xaa, sizeof(local));
    nb_apikeys_owner(&k, -1, local);
    NB_CHECK_MEM(local, zero, 16);
    nb_apikeys_owner(&k, 0, o0);
    nb_apikeys_owner(&k, 1, o1);
    NB_CHECK(memcmp(o0, o1, 16) != 0);
    NB_CHECK(memcmp(o0, zero, 16) != 0);
    /* Neither a prefix of the stored digest nor of SHA-256(key). */
    NB_CHECK(memcmp(o0, k.digest[0], 16) != 0);
    /* Stable: the same key in another set (another start) gives the same tag. */
    nb_apikeys_t k2;
    nb_apikeys_init(&k2);
    NB_CHECK_INT(nb_apikeys_add(&k2, "other", 5), 0);
    NB_CHECK_INT(nb_apikeys_add(&k2, "sk-one", 6), 0);
    nb_apikeys_owner(&k2, 1, again);
    NB_CHECK_MEM(o0, again, 16);
    /* The fixed vector: SHA-256("bridge-owner-v1\0" || SHA-256("sk-one"))[0..16). */
    static const uint8_t want[16] = {0xc0, 0xf2, 0x60, 0xb8, 0x51, 0xfd, 0x16, 0x68,
                                     0x46, 0x0e, 0xf9, 0x88, 0x8b, 0xb7, 0x80, 0xf0};
    NB_CHECK_MEM(o0, want, 16);
    nb_apikeys_dispose(&k);
    nb_apikeys_dispose(&k2);
}

int main(void)
{
    NB_RUN(test_check);
    NB_RUN(test_limit);
    NB_RUN(test_file);
    NB_RUN(test_add_dedup);
    NB_RUN(test_policy);
    NB_RUN(test_policy_limit);
    NB_RUN(test_name);
    NB_RUN(test_allows_project);
    NB_RUN(test_owner);
    return nb_test_summary();
}
