/*
 * apikeys.c — API key storage and constant-time checking (see the header).
 */
#include "bridge/apikeys.h"

#include "bridge/err.h"
#include "bridge/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
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

int nb_apikeys_add(nb_apikeys_t *k, const char *key, size_t len)
{
    while (len > 0 && space(key[0]))
        key++, len--;
    while (len > 0 && space(key[len - 1]))
        len--;
    if (len == 0) return 0;
    if (len > NB_APIKEY_MAX_LEN) return NB_EINVAL;
    if (k->n == NB_APIKEYS_MAX) return NB_ELIMIT;
    digest(k->digest[k->n++], key, len);
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
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return NB_EKEYFILE;
    struct stat st;
    int r = NB_EKEYFILE;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_size > 1 << 20)
        goto out;
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

void nb_apikeys_dispose(nb_apikeys_t *k)
{
    nb_memwipe(k, sizeof(*k));
}
