/*
 * apikeys.c — API key storage and constant-time checking (see the header).
 */
#include "bridge/apikeys.h"

#include "bridge/err.h"
#include "bridge/keys.h"
#include "bridge/mem.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void nb_apikeys_init(nb_apikeys_t *k)
{
    memset(k, 0, sizeof(*k));
}

static void digest(uint8_t out[32], const char *p, size_t len)
{
    unsigned int n = 32;
    EVP_Digest(p, len, out, &n, EVP_sha256(), NULL);
}

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **key, size_t *len)
{
    while (*len > 0 && space((*key)[0]))
        (*key)++, (*len)--;
    while (*len > 0 && space((*key)[*len - 1]))
        (*len)--;
}

/* Index of the stored digest d, or -1. Not constant time: only for adding keys at start-up. */
static int index_of(const nb_apikeys_t *k, const uint8_t d[32])
{
    for (size_t i = 0; i < k->n; i++)
        if (CRYPTO_memcmp(d, k->digest[i], 32) == 0) return (int)i;
    return -1;
}

int nb_apikeys_add(nb_apikeys_t *k, const char *key, size_t len)
{
    trim(&key, &len);
    if (len == 0) return 0;
    if (len > NB_APIKEY_MAX_LEN) return NB_EINVAL;
    uint8_t d[32];
    digest(d, key, len);
    /* Already there (from a flag and a file, or with a policy): a second copy would add nothing,
     * and as the later match it would shadow the policy of the first. */
    if (index_of(k, d) >= 0) return 0;
    if (k->n == NB_APIKEYS_MAX) return NB_ELIMIT;
    memcpy(k->digest[k->n], d, 32);
    memset(&k->policy[k->n], 0, sizeof(k->policy[k->n]));
    k->n++;
    return 0;
}

int nb_apikeys_add_policy(nb_apikeys_t *k, const char *key, size_t len, const nb_apikey_policy_t *pol)
{
    assert(pol != NULL && (pol->n_projects == 0 || pol->projects != NULL));
    trim(&key, &len);
    /* Unlike nb_apikeys_add, an empty key is an error: a policy for no key is a mistake. */
    if (len == 0 || len > NB_APIKEY_MAX_LEN) return NB_EINVAL;
    uint8_t d[32];
    digest(d, key, len);
    if (index_of(k, d) >= 0) return NB_EINVAL;
    if (k->n == NB_APIKEYS_MAX) return NB_ELIMIT;
    nb_apikey_policy_t *p = &k->policy[k->n];
    memset(p, 0, sizeof(*p));
    size_t nl = strnlen(pol->name, NB_APIKEY_NAME_MAX);
    memcpy(p->name, pol->name, nl);
    if (pol->n_projects > 0) {
        p->projects = nb_calloc(pol->n_projects, sizeof(char *));
        for (size_t i = 0; i < pol->n_projects; i++)
            p->projects[i] = nb_strdup(pol->projects[i]);
        p->n_projects = pol->n_projects;
    }
    p->max_streams = pol->max_streams;
    p->rate_per_minute = pol->rate_per_minute;
    memcpy(k->digest[k->n], d, 32);
    k->n++;
    return 0;
}

int nb_apikeys_add_list(nb_apikeys_t *k, const char *list, size_t len)
{
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && list[j] != ',' && list[j] != '\n')
            j++;
        int r = nb_apikeys_add(k, list + i, j - i);
        if (r != 0) return r;
        i = j + 1;
    }
    return 0;
}

int nb_apikeys_load_file(nb_apikeys_t *k, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return NB_EKEYFILE;
    struct stat st;
    int r = NB_EKEYFILE;
    char *buf = NULL;
    if (nb_secret_file_check(fd, &st) != 0 || st.st_size > 1 << 20) goto out;
    buf = nb_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    r = 0;
    for (size_t i = 0; i < got && r == 0;) {
        size_t j = i;
        while (j < got && buf[j] != '\n')
            j++;
        size_t e = j;
        for (size_t h = i; h < j; h++)
            if (buf[h] == '#') {
                e = h;
                break;
            }
        r = nb_apikeys_add(k, buf + i, e - i);
        i = j + 1;
    }
out:
    if (buf != NULL) {
        nb_memwipe(buf, (size_t)st.st_size);
        nb_free(buf);
    }
    close(fd);
    return r;
}

bool nb_apikeys_open(const nb_apikeys_t *k)
{
    return k->n == 0;
}

int nb_apikeys_find(const nb_apikeys_t *k, const char *key, size_t len)
{
    if (len == 0 || len > NB_APIKEY_MAX_LEN) return -1;
    uint8_t d[32];
    digest(d, key, len);
    /* Look at every stored key, whatever matches: the time depends only on how many there are. */
    int found = -1;
    for (size_t i = 0; i < k->n; i++) {
        int eq = CRYPTO_memcmp(d, k->digest[i], 32) == 0;
        found = eq ? (int)i : found;
    }
    return found;
}

bool nb_apikeys_check(const nb_apikeys_t *k, const char *key, size_t len)
{
    return nb_apikeys_find(k, key, len) >= 0;
}

const nb_apikey_policy_t *nb_apikeys_policy(const nb_apikeys_t *k, int idx)
{
    if (idx < 0) return NULL;
    assert((size_t)idx < k->n);
    return &k->policy[idx];
}

const char *nb_apikeys_name(const nb_apikeys_t *k, int idx, char *buf, size_t cap)
{
    if (cap == 0) return "";
    if (idx < 0)
        snprintf(buf, cap, "local");
    else if (nb_apikeys_policy(k, idx)->name[0] != '\0')
        snprintf(buf, cap, "%s", k->policy[idx].name);
    else
        snprintf(buf, cap, "key%d", idx);
    return buf;
}

bool nb_apikeys_allows_project(const nb_apikeys_t *k, int idx, const char *dtag)
{
    const nb_apikey_policy_t *p = nb_apikeys_policy(k, idx);
    if (p == NULL || p->n_projects == 0) return true;
    if (dtag == NULL) return false;
    for (size_t i = 0; i < p->n_projects; i++)
        if (strcmp(p->projects[i], dtag) == 0) return true;
    return false;
}

void nb_apikeys_owner(const nb_apikeys_t *k, int idx, uint8_t out[16])
{
    if (idx < 0) {
        memset(out, 0, 16);
        return;
    }
    assert((size_t)idx < k->n);
    /* A domain prefix (16 bytes with its NUL) keeps the tag from ever equalling a digest that
     * some other part of the bridge derives from the same key. */
    static const char prefix[16] = "bridge-owner-v1";
    uint8_t in[sizeof(prefix) + 32], d[32];
    memcpy(in, prefix, sizeof(prefix));
    memcpy(in + sizeof(prefix), k->digest[idx], 32);
    digest(d, (const char *)in, sizeof(in));
    memcpy(out, d, 16);
    nb_memwipe(in, sizeof(in));
    nb_memwipe(d, sizeof(d));
}

void nb_apikeys_dispose(nb_apikeys_t *k)
{
    for (size_t i = 0; i < k->n; i++) {
        nb_apikey_policy_t *p = &k->policy[i];
        for (size_t j = 0; j < p->n_projects; j++)
            nb_free(p->projects[j]);
        nb_free(p->projects);
    }
    nb_memwipe(k, sizeof(*k));
}
