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

#define NB_APIKEY_NAME_MAX 64 /* bytes of a key's name, for logs and metrics */

/** What one key may do (from the config file; keys from flags/env/--api-key-file have none). */
typedef struct {
    char name[NB_APIKEY_NAME_MAX + 1]; /* "" → shown as "key<N>" */
    char **projects;                   /* d-tags this key may use; NULL/0 = every project */
    size_t n_projects;
    uint32_t max_streams;     /* concurrent chat requests; 0 = the global per-key limit */
    uint32_t rate_per_minute; /* 0 = the global per-key rate */
} nb_apikey_policy_t;

typedef struct {
    uint8_t digest[NB_APIKEYS_MAX][32];
    nb_apikey_policy_t policy[NB_APIKEYS_MAX];
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
/** Add a key with a policy (copied; projects deep-copied). Same errors as nb_apikeys_add, and
 *  NB_EINVAL for a duplicate key. */
int nb_apikeys_add_policy(nb_apikeys_t *k, const char *key, size_t len, const nb_apikey_policy_t *pol);
/** The policy of key idx (0..n-1); NULL for idx < 0. */
const nb_apikey_policy_t *nb_apikeys_policy(const nb_apikeys_t *k, int idx);
/** The key's name for logs ("key<idx>" when unnamed, "local" for idx < 0) into buf. */
const char *nb_apikeys_name(const nb_apikeys_t *k, int idx, char *buf, size_t cap);
/** True when key idx may use project dtag (no list, or listed; idx < 0: local mode, always). */
bool nb_apikeys_allows_project(const nb_apikeys_t *k, int idx, const char *dtag);
/**
 * The key's owner tag (stored with the threads it creates): the first 16 bytes of SHA-256 over a
 * domain prefix and the key's digest, so the state file never holds anything that checks a key
 * by itself. All zero for idx < 0 (local mode).
 */
void nb_apikeys_owner(const nb_apikeys_t *k, int idx, uint8_t out[16]);
/** Wipe the digests (and free the policies). */
void nb_apikeys_dispose(nb_apikeys_t *k);

#endif
