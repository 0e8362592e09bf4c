/*
 * apikeys.h — API keys for the HTTP routes.
 *
 * Keys are stored as SHA-256 digests, never as text, and a presented key is compared with every
 * stored digest in constant time (CRYPTO_memcmp over fixed-length digests, no early exit), so
 * neither the key's contents nor its length leak through timing. No keys configured = local mode
 * (everything allowed).
 */
#ifndef BRIDGE_APIKEYS_H
#define BRIDGE_APIKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_APIKEYS_MAX 256
#define NB_APIKEY_MAX_LEN 512

typedef struct {
    uint8_t digest[NB_APIKEYS_MAX][32];
    size_t n;
} nb_apikeys_t;

void nb_apikeys_init(nb_apikeys_t *k);
/** Add one key (surrounding whitespace trimmed; empty ignored). 0, NB_EINVAL (too long) or NB_ELIMIT. */
int nb_apikeys_add(nb_apikeys_t *k, const char *key, size_t len);
/** Add every comma- or newline-separated key of list. */
int nb_apikeys_add_list(nb_apikeys_t *k, const char *list, size_t len);
/**
 * Add the keys of a file, one per line ('#' starts a comment). Refuses a file that group or
 * others can read (NB_EKEYFILE), like the key file.
 */
int nb_apikeys_load_file(nb_apikeys_t *k, const char *path);
/** True when no key is configured (local mode). */
bool nb_apikeys_open(const nb_apikeys_t *k);
/** True when key[0..len) is one of the configured keys. Constant time in the stored keys. */
bool nb_apikeys_check(const nb_apikeys_t *k, const char *key, size_t len);
/** Which configured key key[0..len) is (0..n-1), or -1. Constant time in the stored keys. */
int nb_apikeys_find(const nb_apikeys_t *k, const char *key, size_t len);
/** Wipe the digests. */
void nb_apikeys_dispose(nb_apikeys_t *k);

#endif
