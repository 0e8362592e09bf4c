/* The configuration file: every member, every error (with k untouched), loading and permissions. */
#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/mem.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* A set with two keys already in it (one with a policy), as after flags and the environment. */
static void preload(nb_apikeys_t *k)
{
    nb_apikeys_init(k);
    char *projects[] = {"pre"};
    nb_apikey_policy_t pol = {.name = "pre", .projects = projects, .n_projects = 1, .max_streams = 2};
    NB_CHECK_INT(nb_apikeys_add(k, "sk-from-flag", 12), 0);
    NB_CHECK_INT(nb_apikeys_add_policy(k, "sk-preloaded", 12, &pol), 0);
}

/* k byte for byte (the policies' pointers included: nothing may be freed or replaced). */
static bool same(const nb_apikeys_t *a, const nb_apikeys_t *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

static int parse_str(nb_apikeys_t *k, const char *text, char *err, size_t cap)
{
    return nb_config_parse(k, text, strlen(text), err, cap);
}

/* text must fail with code, a message containing want, and leave a preloaded set as it was. */
static void expect_fail_(int line, const char *text, int code, const char *want)
{
    nb_apikeys_t k;
    preload(&k);
    nb_apikeys_t *before = nb_malloc(sizeof(k));
    memcpy(before, &k, sizeof(k));
    char err[256];
    int r = parse_str(&k, text, err, sizeof(err));
    if (r != code) NB_FAIL_("line %d: code %d (%s), want %d: %s", line, r, nb_err_name(r), code, err);
    if (strstr(err, want) == NULL) NB_FAIL_("line %d: message \"%s\" lacks \"%s\"", line, err, want);
    if (strchr(err, '\n') != NULL) NB_FAIL_("line %d: message has a newline", line);
    if (strstr(err, "sk-secret") != NULL) NB_FAIL_("line %d: message \"%s\" shows a key", line, err);
    if (!same(&k, before)) NB_FAIL_("line %d: the key set changed", line);
    nb_free(before);
    nb_apikeys_dispose(&k);
}
#define expect_fail(text, code, want) expect_fail_(__LINE__, text, code, want)

static void test_full(void)
{
    nb_apikeys_t k;
    preload(&k);
    char err[256];
    const char *text = "{\n"
                       "  \"api_keys\": [\n"
                       "    {\"key\": \"sk-alice\", \"name\": \"alice\", \"projects\": [\"my-project\", "
                       "\"naddr1qqxyz\", \"caf\\u00e9 \\u2603\"],\n"
                       "     \"max_streams\": 4, \"rate_per_minute\": 60},\n"
                       "    {\"rate_per_minute\": 1000000, \"name\": \"\", \"key\": \"  sk-ops\\t\", "
                       "\"max_streams\": 0},\n"
                       "    {\"key\": \"sk-\\u0062ob\", \"max_streams\": 1e3}\n"
                       "  ]\n"
                       "}\n";
    NB_CHECK_INT(parse_str(&k, text, err, sizeof(err)), 0);
    NB_CHECK_STR(err, "");
    NB_REQUIRE(k.n == 5);
    /* The keys already there are untouched. */
    NB_CHECK_INT(nb_apikeys_find(&k, "sk-from-flag", 12), 0);
    NB_CHECK_INT(nb_apikeys_find(&k, "sk-preloaded", 12), 1);
    NB_CHECK_STR(nb_apikeys_policy(&k, 1)->projects[0], "pre");

    int a = nb_apikeys_find(&k, "sk-alice", 8);
    NB_CHECK_INT(a, 2);
    const nb_apikey_policy_t *p = nb_apikeys_policy(&k, a);
    NB_CHECK_STR(p->name, "alice");
    NB_REQUIRE(p->n_projects == 3);
    NB_CHECK_STR(p->projects[0], "my-project");
    NB_CHECK_STR(p->projects[1], "naddr1qqxyz"); /* an naddr is kept as given */
    NB_CHECK_STR(p->projects[2], "caf\xc3\xa9 \xe2\x98\x83");
    NB_CHECK_INT(p->max_streams, 4);
    NB_CHECK_INT(p->rate_per_minute, 60);
    NB_CHECK(nb_apikeys_allows_project(&k, a, "my-project"));
    NB_CHECK(!nb_apikeys_allows_project(&k, a, "other"));

    int o = nb_apikeys_find(&k, "sk-ops", 6); /* trimmed */
    NB_CHECK_INT(o, 3);
    p = nb_apikeys_policy(&k, o);
    char name[NB_APIKEY_NAME_MAX + 1];
    NB_CHECK_STR(nb_apikeys_name(&k, o, name, sizeof(name)), "key3");
    NB_CHECK(p->projects == NULL && p->n_projects == 0);
    NB_CHECK_INT(p->max_streams, 0);
    NB_CHECK_INT(p->rate_per_minute, 1000000);
    NB_CHECK(nb_apikeys_allows_project(&k, o, "anything"));

    int b = nb_apikeys_find(&k, "sk-bob", 6); /* escapes decoded */
    NB_CHECK_INT(b, 4);
    NB_CHECK_INT(nb_apikeys_policy(&k, b)->max_streams, 1000);

    /* A second file adds to the set; the same key again is refused. */
    NB_CHECK_INT(parse_str(&k, "{\"api_keys\":[{\"key\":\"sk-carol\"}]}", err, sizeof(err)), 0);
    NB_CHECK_INT(k.n, 6);
    NB_CHECK_INT(parse_str(&k, "{\"api_keys\":[{\"key\":\"sk-carol\"}]}", err, sizeof(err)), NB_EINVAL);
    NB_CHECK(strstr(err, "api_keys[0].key: already configured") != NULL);
    NB_CHECK_INT(k.n, 6);
    nb_apikeys_dispose(&k);
}

static void test_empty(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char err[64];
    NB_CHECK_INT(parse_str(&k, "{}", err, sizeof(err)), 0);
    NB_CHECK_INT(parse_str(&k, " \n{ \"api_keys\" : [ ] }\n\t", err, sizeof(err)), 0);
    NB_CHECK_INT(k.n, 0);
    NB_CHECK(nb_apikeys_open(&k));
    /* No room for a message is fine. */
    NB_CHECK_INT(nb_config_parse(&k, "[]", 2, NULL, 0), NB_EINVAL);
    NB_CHECK_INT(nb_config_parse(&k, "{\"api_keys\":[{\"key\":\"x\"}]}", 26, NULL, 0), 0);
    NB_CHECK_INT(k.n, 1);
    nb_apikeys_dispose(&k);
}

static void test_syntax(void)
{
    expect_fail("", NB_EINVAL, "not valid JSON");
    expect_fail("{", NB_EINVAL, "not valid JSON");
    expect_fail("{\"api_keys\":[]} x", NB_EINVAL, "not valid JSON"); /* trailing garbage */
    expect_fail("{\"api_keys\":[]}{}", NB_EINVAL, "not valid JSON");
    expect_fail("{\"api_keys\":[{\"key\":\"sk-secret-1\",}]}", NB_EINVAL, "not valid JSON");
    expect_fail("{\"api_keys\":[{\"key\":\"sk-secret-\xff\"}]}", NB_EINVAL, "not valid JSON");
    expect_fail("\xef\xbb\xbf{}", NB_EINVAL, "not valid JSON"); /* a byte-order mark */
    expect_fail("// comment\n{}", NB_EINVAL, "not valid JSON");
    expect_fail("[]", NB_EINVAL, "expected an object, got an array");
    expect_fail("\"sk-secret-1\"", NB_EINVAL, "expected an object, got a string");
    expect_fail("null", NB_EINVAL, "expected an object, got null");
}

static void test_structure(void)
{
    expect_fail("{\"api_key\":[]}", NB_EINVAL, "top-level member #1 is unknown (allowed: api_keys)");
    expect_fail("{\"api_keys\":[],\"sk-secret-12345\":1}", NB_EINVAL, "top-level member #2 is unknown");
    expect_fail("{\"api_keys\":[],\"api_keys\":[]}", NB_EINVAL, "api_keys: given twice");
    expect_fail("{\"api_keys\":{}}", NB_EINVAL, "api_keys: expected an array, got an object");
    expect_fail("{\"api_keys\":null}", NB_EINVAL, "api_keys: expected an array, got null");
    expect_fail("{\"api_keys\":[{\"key\":\"a\"},\"sk-secret-1\"]}", NB_EINVAL,
                "api_keys[1]: expected an object, got a string");
    expect_fail("{\"api_keys\":[[]]}", NB_EINVAL, "api_keys[0]: expected an object, got an array");
    /* An unknown member is an error (a typo must not silently open access), and is not echoed. */
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"projcts\":[\"p\"]}]}", NB_EINVAL,
                "api_keys[0]: member #2 is unknown (allowed: key, name, projects, max_streams, "
                "rate_per_minute)");
    expect_fail("{\"api_keys\":[{\"key\":\"a\"},{\"sk-secret-1\":\"b\"}]}", NB_EINVAL,
                "api_keys[1]: member #1 is unknown");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"key\":\"b\"}]}", NB_EINVAL, "api_keys[0].key: given twice");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"name\":\"x\",\"name\":\"y\"}]}", NB_EINVAL,
                "api_keys[0].name: given twice");
    expect_fail("{\"api_keys\":[{\"key\":\"a\"},{\"name\":\"no-key\"}]}", NB_EINVAL,
                "api_keys[1]: \"key\" is missing");
    expect_fail("{\"api_keys\":[{}]}", NB_EINVAL, "api_keys[0]: \"key\" is missing");
}

static void test_key(void)
{
    expect_fail("{\"api_keys\":[{\"key\":1}]}", NB_EINVAL,
                "api_keys[0].key: expected a string, got a number");
    expect_fail("{\"api_keys\":[{\"key\":null}]}", NB_EINVAL, "api_keys[0].key: expected a string, got null");
    expect_fail("{\"api_keys\":[{\"key\":[\"sk-secret-1\"]}]}", NB_EINVAL,
                "api_keys[0].key: expected a string, got an array");
    expect_fail("{\"api_keys\":[{\"key\":\"\"}]}", NB_EINVAL, "api_keys[0].key: empty");
    expect_fail("{\"api_keys\":[{\"key\":\"a\"},{\"key\":\" \\t\\n \"}]}", NB_EINVAL,
                "api_keys[1].key: empty");
    /* Duplicates, in the file and with the keys already configured; not echoed. */
    expect_fail("{\"api_keys\":[{\"key\":\"sk-secret-1\"},{\"key\":\"x\"},{\"key\":\" sk-secret-1\"}]}",
                NB_EINVAL, "api_keys[2].key: the same key as api_keys[0]");
    expect_fail("{\"api_keys\":[{\"key\":\"sk-secret-1\"},{\"key\":\"sk-secret-\\u0031\"}]}", NB_EINVAL,
                "api_keys[1].key: the same key as api_keys[0]");
    expect_fail("{\"api_keys\":[{\"key\":\"a\"},{\"key\":\"sk-from-flag\"}]}", NB_EINVAL,
                "api_keys[1].key: already configured");
    expect_fail("{\"api_keys\":[{\"key\":\"sk-preloaded\"}]}", NB_EINVAL,
                "api_keys[0].key: already configured");

    /* Length: 512 bytes after trimming is the most. */
    char text[2 * NB_APIKEY_MAX_LEN];
    char long_key[NB_APIKEY_MAX_LEN + 2];
    memset(long_key, 's', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    snprintf(text, sizeof(text), "{\"api_keys\":[{\"key\":\"%s\"}]}", long_key);
    expect_fail(text, NB_EINVAL, "api_keys[0].key: longer than 512 bytes");
    long_key[NB_APIKEY_MAX_LEN] = '\0';
    snprintf(text, sizeof(text), "{\"api_keys\":[{\"key\":\"  %s  \"}]}", long_key);
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char err[256];
    NB_CHECK_INT(parse_str(&k, text, err, sizeof(err)), 0);
    NB_CHECK(nb_apikeys_check(&k, long_key, NB_APIKEY_MAX_LEN));
    nb_apikeys_dispose(&k);
}

static void test_name(void)
{
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"name\":7}]}", NB_EINVAL,
                "api_keys[0].name: expected a string, got a number");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"name\":\"has space\"}]}", NB_EINVAL,
                "api_keys[0].name: byte 3 is not one of A-Z a-z 0-9 . _ -");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"name\":\"a/b\"}]}", NB_EINVAL, "api_keys[0].name: byte 1");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"name\":\"caf\\u00e9\"}]}", NB_EINVAL,
                "api_keys[0].name: byte 3");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"name\":\"x\\u0000\"}]}", NB_EINVAL,
                "api_keys[0].name: byte 1");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"name\":\"sk-secret-1!\"}]}", NB_EINVAL,
                "api_keys[0].name: byte 11");
    char text[256];
    char name[NB_APIKEY_NAME_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(text, sizeof(text), "{\"api_keys\":[{\"key\":\"a\",\"name\":\"%s\"}]}", name);
    expect_fail(text, NB_EINVAL, "api_keys[0].name: longer than 64 bytes");
    name[NB_APIKEY_NAME_MAX] = '\0';
    snprintf(text, sizeof(text), "{\"api_keys\":[{\"key\":\"a\",\"name\":\"%s\"}]}", name);
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char err[256];
    NB_CHECK_INT(parse_str(&k, text, err, sizeof(err)), 0);
    NB_CHECK_STR(nb_apikeys_policy(&k, 0)->name, name);
    NB_CHECK_INT(parse_str(&k, "{\"api_keys\":[{\"key\":\"b\",\"name\":\"A-z_0.9\"}]}", err, sizeof(err)), 0);
    NB_CHECK_STR(nb_apikeys_policy(&k, 1)->name, "A-z_0.9");
    nb_apikeys_dispose(&k);
}

static void test_projects(void)
{
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"projects\":\"p\"}]}", NB_EINVAL,
                "api_keys[0].projects: expected an array, got a string");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"projects\":[]}]}", NB_EINVAL,
                "api_keys[0].projects: empty (leave it out to allow every project)");
    expect_fail("{\"api_keys\":[{\"key\":\"a\"},{\"key\":\"b\",\"projects\":[\"p\",3]}]}", NB_EINVAL,
                "api_keys[1].projects[1]: expected a string, got a number");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"projects\":[\"\"]}]}", NB_EINVAL,
                "api_keys[0].projects[0]: expected 1 to 256 bytes");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"projects\":[\"ok\",\"a/b\"]}]}", NB_EINVAL,
                "api_keys[0].projects[1]: byte 1 is '/' or a control character");
    /* \u0000 would cut the stored C string short and so allow another project. */
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"projects\":[\"ab\\u0000cd\"]}]}", NB_EINVAL,
                "api_keys[0].projects[0]: byte 2");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"projects\":[\"a\\tb\"]}]}", NB_EINVAL,
                "api_keys[0].projects[0]");
    expect_fail("{\"api_keys\":[{\"key\":\"a\",\"projects\":[\"a\\u007f\"]}]}", NB_EINVAL,
                "api_keys[0].projects[0]");

    /* 256 bytes and 256 entries are the most. */
    size_t cap = 300 * 8 + 1024;
    char *text = nb_malloc(cap);
    char p257[258];
    memset(p257, 'p', 257);
    p257[257] = '\0';
    snprintf(text, cap, "{\"api_keys\":[{\"key\":\"a\",\"projects\":[\"%s\"]}]}", p257);
    expect_fail(text, NB_EINVAL, "api_keys[0].projects[0]: expected 1 to 256 bytes");

    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char err[256];
    snprintf(text, cap, "{\"api_keys\":[{\"key\":\"a\",\"projects\":[\"%s\"]}]}", p257 + 1);
    NB_CHECK_INT(parse_str(&k, text, err, sizeof(err)), 0);
    NB_CHECK_INT(strlen(nb_apikeys_policy(&k, 0)->projects[0]), 256);

    for (int n = 256; n <= 257; n++) {
        size_t o = (size_t)snprintf(text, cap, "{\"api_keys\":[{\"key\":\"k%d\",\"projects\":[", n);
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(text + o, cap - o, "%s\"p%d\"", i ? "," : "", i);
        snprintf(text + o, cap - o, "]}]}");
        if (n == 256) {
            NB_CHECK_INT(parse_str(&k, text, err, sizeof(err)), 0);
            NB_CHECK_INT(nb_apikeys_policy(&k, 1)->n_projects, 256);
            NB_CHECK_STR(nb_apikeys_policy(&k, 1)->projects[255], "p255");
            NB_CHECK(nb_apikeys_allows_project(&k, 1, "p200"));
            NB_CHECK(!nb_apikeys_allows_project(&k, 1, "p256"));
        } else {
            expect_fail(text, NB_EINVAL, "api_keys[0].projects: more than 256 entries");
        }
    }
    nb_free(text);
    nb_apikeys_dispose(&k);
}

static void test_numbers(void)
{
    static const char *const members[] = {"max_streams", "rate_per_minute"};
    for (int m = 0; m < 2; m++) {
        char text[256], want[128];
        static const char *const bad[] = {"-1", "1000001", "1.5", "1e7", "9223372036854775808", "-0.5"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(text, sizeof(text), "{\"api_keys\":[{\"key\":\"a\"},{\"key\":\"b\",\"%s\":%s}]}",
                     members[m], bad[i]);
            snprintf(want, sizeof(want), "api_keys[1].%s: expected a whole number from 0 to 1000000",
                     members[m]);
            expect_fail(text, NB_EINVAL, want);
        }
        static const char *const types[] = {"\"4\"", "true", "null", "[4]"};
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
            snprintf(text, sizeof(text), "{\"api_keys\":[{\"key\":\"a\",\"%s\":%s}]}", members[m], types[i]);
            snprintf(want, sizeof(want), "api_keys[0].%s: expected a number, got", members[m]);
            expect_fail(text, NB_EINVAL, want);
        }
        nb_apikeys_t k;
        nb_apikeys_init(&k);
        char err[256];
        snprintf(text, sizeof(text),
                 "{\"api_keys\":[{\"key\":\"a\",\"%s\":1000000},{\"key\":\"b\",\"%s\":-0}]}", members[m],
                 members[m]);
        NB_CHECK_INT(parse_str(&k, text, err, sizeof(err)), 0);
        const nb_apikey_policy_t *p0 = nb_apikeys_policy(&k, 0), *p1 = nb_apikeys_policy(&k, 1);
        NB_CHECK_INT(m == 0 ? p0->max_streams : p0->rate_per_minute, 1000000);
        NB_CHECK_INT(m == 0 ? p1->max_streams : p1->rate_per_minute, 0);
        nb_apikeys_dispose(&k);
    }
}

static void test_limits(void)
{
    /* Bigger than 1 MiB: refused before it is read. */
    size_t big = NB_CONFIG_MAX_BYTES + 1;
    char *text = nb_malloc(big + 1);
    memset(text, ' ', big);
    memcpy(text, "{}", 2);
    text[big] = '\0';
    expect_fail(text, NB_ELIMIT, "larger than 1048576 bytes");
    nb_apikeys_t k0;
    nb_apikeys_init(&k0);
    NB_CHECK_INT(nb_config_parse(&k0, text, big - 1, NULL, 0), 0); /* exactly 1 MiB: fine */
    nb_free(text);

    /* 256 keys in all: two are preloaded, so 254 more fit and 255 do not. */
    size_t cap = 300 * 32;
    text = nb_malloc(cap);
    for (int n = 255; n >= 254; n--) {
        size_t o = (size_t)snprintf(text, cap, "{\"api_keys\":[");
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(text + o, cap - o, "%s{\"key\":\"key-%d\"}", i ? "," : "", i);
        snprintf(text + o, cap - o, "]}");
        if (n == 255) {
            expect_fail(text, NB_ELIMIT, "api_keys[254]: more than 256 keys in all");
        } else {
            nb_apikeys_t k;
            preload(&k);
            char err[256];
            NB_CHECK_INT(parse_str(&k, text, err, sizeof(err)), 0);
            NB_CHECK_INT(k.n, NB_APIKEYS_MAX);
            NB_CHECK_INT(nb_apikeys_find(&k, "key-253", 7), 255);
            nb_apikeys_dispose(&k);
        }
    }
    nb_free(text);

    /* More JSON values than any valid file has: refused without tokenizing all of them. */
    cap = 2 * 100000 + 64;
    text = nb_malloc(cap);
    size_t o = (size_t)snprintf(text, cap, "{\"api_keys\":[");
    for (int i = 0; i < 100000; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s1", i ? "," : "");
    snprintf(text + o, cap - o, "]}");
    expect_fail(text, NB_ELIMIT, "more JSON values");
    nb_free(text);
}

static void test_err_cap(void)
{
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char err[8];
    memset(err, 'x', sizeof(err));
    NB_CHECK_INT(parse_str(&k, "{\"api_keys\":[{\"key\":1}]}", err, sizeof(err)), NB_EINVAL);
    NB_CHECK_STR(err, "api_key"); /* truncated and terminated */
    char one[1] = {'x'};
    NB_CHECK_INT(parse_str(&k, "{}", one, 1), 0);
    NB_CHECK_INT(one[0], '\0');
    nb_apikeys_dispose(&k);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path); /* it may be read-only */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    NB_REQUIRE(fd >= 0);
    size_t len = strlen(text);
    NB_CHECK(write(fd, text, len) == (ssize_t)len);
    close(fd);
    NB_CHECK_INT(chmod(path, mode), 0);
}

static void test_load(void)
{
    char dir[] = "/tmp/bridge-config-XXXXXX";
    NB_REQUIRE(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    const char *text = "{\"api_keys\":[{\"key\":\"sk-file\",\"name\":\"file\",\"projects\":[\"p\"]}]}";
    nb_apikeys_t k;
    nb_apikeys_init(&k);
    char err[512];

    /* Readable by others: refused, whatever it holds. */
    write_file(path, text, 0644);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), NB_EKEYFILE);
    NB_CHECK(strstr(err, path) != NULL && strstr(err, "chmod 600") != NULL);
    NB_CHECK_INT(k.n, 0);
    NB_CHECK_INT(chmod(path, 0640), 0);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), NB_EKEYFILE);
    NB_CHECK_INT(chmod(path, 0602), 0);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), NB_EKEYFILE);
    NB_CHECK_INT(k.n, 0);

    NB_CHECK_INT(chmod(path, 0600), 0);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), 0);
    NB_CHECK_INT(k.n, 1);
    int i = nb_apikeys_find(&k, "sk-file", 7);
    NB_CHECK_INT(i, 0);
    NB_CHECK(!nb_apikeys_allows_project(&k, i, "q"));
    NB_CHECK_INT(chmod(path, 0400), 0);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), NB_EINVAL); /* the same key again */
    NB_CHECK(strstr(err, path) != NULL && strstr(err, "api_keys[0].key: already configured") != NULL);
    NB_CHECK(strstr(err, "sk-file") == NULL);
    NB_CHECK_INT(k.n, 1);

    /* Bad contents: the parser's message, after the path. */
    write_file(path, "{\"api_keys\":[{\"key\":\"sk-x\",\"max_streams\":-1}]}", 0600);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), NB_EINVAL);
    NB_CHECK(strstr(err, path) != NULL && strstr(err, "api_keys[0].max_streams") != NULL);

    /* Too big. */
    char *big = nb_malloc(NB_CONFIG_MAX_BYTES + 2);
    memset(big, ' ', NB_CONFIG_MAX_BYTES + 1);
    memcpy(big, "{}", 2);
    big[NB_CONFIG_MAX_BYTES + 1] = '\0';
    write_file(path, big, 0600);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), NB_ELIMIT);
    NB_CHECK(strstr(err, path) != NULL && strstr(err, "larger than") != NULL);
    big[NB_CONFIG_MAX_BYTES] = '\0';
    write_file(path, big, 0600);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), 0); /* exactly 1 MiB */
    nb_free(big);

    /* Missing, a directory, a FIFO (must not hang). */
    unlink(path);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), NB_EIO);
    NB_CHECK(strstr(err, path) != NULL && strstr(err, "No such file") != NULL);
    NB_CHECK_INT(chmod(dir, 0700), 0);
    NB_CHECK_INT(nb_config_load(&k, dir, err, sizeof(err)), NB_EIO);
    NB_CHECK(strstr(err, "not a regular file") != NULL);
    NB_CHECK_INT(mkfifo(path, 0600), 0);
    NB_CHECK_INT(nb_config_load(&k, path, err, sizeof(err)), NB_EIO);
    unlink(path);
    rmdir(dir);
    NB_CHECK_INT(k.n, 1);
    nb_apikeys_dispose(&k);
}

int main(void)
{
    NB_RUN(test_full);
    NB_RUN(test_empty);
    NB_RUN(test_syntax);
    NB_RUN(test_structure);
    NB_RUN(test_key);
    NB_RUN(test_name);
    NB_RUN(test_projects);
    NB_RUN(test_numbers);
    NB_RUN(test_limits);
    NB_RUN(test_err_cap);
    NB_RUN(test_load);
    return nb_test_summary();
}
