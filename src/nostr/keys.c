/*
 * keys.c — the process-wide secp256k1 context, getrandom(2), and the user's key pair.
 *
 * Every buffer that holds a secret or the text of one is wiped before it goes out of scope, on
 * the error paths too. Nothing here logs: the error codes have fixed texts, so a bad key can be
 * reported without ever echoing it.
 */
#include "bridge/keys.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/mem.h"
#include "bridge/nip19.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* A key file holds one nsec (63 chars) or 64 hex digits plus a newline: anything near this cap is
 * not a key file, and reading it whole would only copy more of someone's data around. */
#define KEYFILE_CAP 512

/* Created once at start-up from the main thread (nb_secp_init), then only read. */
static secp256k1_context *ctx;

int nb_random_bytes(void *out, size_t n)
{
    uint8_t *p = out;
    while (n > 0) {
        /* getrandom may return fewer bytes than asked (over 256 bytes, when a signal arrives). */
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return NB_ERANDOM;
        }
        if (r == 0) return NB_ERANDOM; /* cannot happen for n > 0; never spin on it */
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int nb_secp_init(void)
{
    if (ctx != NULL) return 0;
    uint8_t seed[32];
    int rc = nb_random_bytes(seed, sizeof seed);
    if (rc != 0) return rc;
    secp256k1_context *c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    /* Blinding for the signing and key-generation multiplications (side-channel hardening). */
    if (!secp256k1_context_randomize(c, seed)) {
        secp256k1_context_destroy(c);
        nb_memwipe(seed, sizeof seed);
        return NB_ERANDOM;
    }
    nb_memwipe(seed, sizeof seed);
    ctx = c;
    return 0;
}

const secp256k1_context *nb_secp_ctx(void)
{
    if (ctx == NULL && nb_secp_init() != 0) {
        /* Like out-of-memory: without a random source the daemon can neither sign nor go on. */
        fprintf(stderr, "bridge: %s\n", nb_strerror(NB_ERANDOM));
        abort();
    }
    return ctx;
}

void nb_secp_dispose(void)
{
    if (ctx != NULL) {
        secp256k1_context_destroy(ctx);
        ctx = NULL;
    }
}

int nb_keys_from_secret(nb_keys_t *k, const uint8_t sec[32])
{
    const secp256k1_context *c = nb_secp_ctx();
    secp256k1_xonly_pubkey xonly;
    uint8_t tmp[32];
    int rc = NB_EKEY;

    /* sec may be k->seckey itself (re-deriving in place): take a copy before k is cleared. */
    memcpy(tmp, sec, sizeof tmp);
    nb_memwipe(k, sizeof *k);
    /* keypair_create rejects zero and >= n itself; seckey_verify says so without touching k. */
    if (!secp256k1_ec_seckey_verify(c, tmp) || !secp256k1_keypair_create(c, &k->keypair, tmp)) goto out;
    if (!secp256k1_keypair_xonly_pub(c, &xonly, NULL, &k->keypair) ||
        !secp256k1_xonly_pubkey_serialize(c, k->pubkey, &xonly))
        goto out;
    memcpy(k->seckey, tmp, sizeof tmp);
    nb_hex_encode(k->pubkey_hex, k->pubkey, 32);
    if (nb_nip19_encode32(k->npub, sizeof k->npub, NB_NIP19_NPUB, k->pubkey) != 0) goto out;
    rc = 0;
out:
    nb_memwipe(tmp, sizeof tmp);
    if (rc != 0) nb_memwipe(k, sizeof *k);
    return rc;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int nb_keys_parse(nb_keys_t *k, const char *s, size_t len)
{
    uint8_t sec[32];
    int rc;

    while (len > 0 && is_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    /* 64 characters can only be hex; an nsec is 63 (and "nostr:nsec1…" is 69). */
    if (len == 64)
        rc = nb_hex_decode(sec, sizeof sec, s, len);
    else
        rc = nb_nip19_decode_as(NB_NIP19_NSEC, sec, s, len);
    if (rc == 0) rc = nb_keys_from_secret(k, sec);
    nb_memwipe(sec, sizeof sec);
    if (rc != 0) {
        nb_memwipe(k, sizeof *k);
        return NB_EKEY; /* one answer for every kind of bad secret: no hints about its contents */
    }
    return 0;
}

int nb_keys_generate(nb_keys_t *k)
{
    uint8_t sec[32];
    int rc = NB_ERANDOM;

    /* A random 32-byte string is out of range with probability ~2^-128: retrying a few times is
     * a formality, but a source stuck on one bad value must not loop forever. */
    for (int attempt = 0; attempt < 8; attempt++) {
        if ((rc = nb_random_bytes(sec, sizeof sec)) != 0) break;
        if ((rc = nb_keys_from_secret(k, sec)) == 0) break;
        rc = NB_ERANDOM;
    }
    nb_memwipe(sec, sizeof sec);
    return rc;
}

int nb_secret_file_check(int fd, struct stat *st)
{
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) return NB_EIO;
    /* Group and others may neither read it nor write it (and so put their own secret in it). */
    if ((st->st_mode & 077) != 0) return NB_EKEYFILE;
    return 0;
}

int nb_keys_load_file(nb_keys_t *k, const char *path)
{
    char buf[KEYFILE_CAP + 1];
    size_t n = 0;
    struct stat st;
    int rc = NB_EKEYFILE;

    /* O_NONBLOCK: a FIFO in place of the file must not hang start-up before fstat refuses it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) goto out;
    if (nb_secret_file_check(fd, &st) != 0) goto out;
    /* Read one byte past the cap to tell a full-size key file from an oversized one. */
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            goto out;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    rc = n > KEYFILE_CAP ? NB_EKEY : nb_keys_parse(k, buf, n);
out:
    nb_memwipe(buf, sizeof buf);
    if (fd >= 0) close(fd);
    /* Whatever went wrong, k holds no key afterwards (nb_keys_parse already guarantees it). */
    if (rc != 0) nb_memwipe(k, sizeof *k);
    return rc;
}

int nb_keys_load_env(nb_keys_t *k, const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        nb_memwipe(k, sizeof *k);
        return NB_ENOKEY;
    }
    return nb_keys_parse(k, v, strlen(v));
}

int nb_keys_nsec(const nb_keys_t *k, char *out, size_t outcap)
{
    return nb_nip19_encode32(out, outcap, NB_NIP19_NSEC, k->seckey);
}

void nb_keys_dispose(nb_keys_t *k)
{
    nb_memwipe(k, sizeof *k);
}

int nb_pubkey_parse(uint8_t out[32], const char *s, size_t len)
{
    secp256k1_xonly_pubkey xonly;
    int rc;

    if (len == 64)
        rc = nb_hex_decode(out, 32, s, len);
    else
        rc = nb_nip19_decode_as(NB_NIP19_NPUB, out, s, len);
    /* Not every 32-byte string is the x coordinate of a curve point. */
    if (rc != 0 || !secp256k1_xonly_pubkey_parse(nb_secp_ctx(), &xonly, out)) return NB_EPUBKEY;
    return 0;
}
