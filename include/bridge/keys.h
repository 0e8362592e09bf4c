/*
 * keys.h — the secp256k1 context, randomness, and the user's key pair.
 *
 * One secp256k1 context for the whole process, created and randomized (blinding) once by
 * nb_secp_init() at start-up. Secret bytes live only inside nb_keys_t and are wiped by
 * nb_keys_dispose(); no function here ever puts a secret or its input string into a log line or
 * an error message (errors are codes with fixed texts).
 */
#ifndef BRIDGE_KEYS_H
#define BRIDGE_KEYS_H

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/** Create and randomize the process-wide context. Idempotent. 0 or NB_ERANDOM. */
int nb_secp_init(void);
/**
 * The context (initializes it on first use if nb_secp_init was not called; aborts if the random
 * source fails then). Not thread-safe until initialized: call nb_secp_init from the main thread.
 */
const secp256k1_context *nb_secp_ctx(void);
/** Destroy the context (at exit; tests use it to stay leak-free). */
void nb_secp_dispose(void);

/** Fill out with n bytes from getrandom(2) (retries partial reads and EINTR). 0 or NB_ERANDOM. */
int nb_random_bytes(void *out, size_t n);

typedef struct {
    secp256k1_keypair keypair; /* holds the secret */
    uint8_t seckey[32];
    uint8_t pubkey[32];  /* BIP-340 x-only public key */
    char pubkey_hex[65]; /* lowercase hex */
    char npub[64];       /* npub1… */
} nb_keys_t;

/*
 * The functions below that fill k leave it all zero when they fail: it never holds half a key or
 * the previous one.
 */

/** Derive the key pair from 32 secret bytes (sec may be k->seckey). 0 or NB_EKEY (zero or >= curve order). */
int nb_keys_from_secret(nb_keys_t *k, const uint8_t sec[32]);
/** Parse a secret given as nsec1… or 64 hex digits (surrounding whitespace ignored). 0, NB_EKEY. */
int nb_keys_parse(nb_keys_t *k, const char *s, size_t len);
/** A fresh random key pair. 0 or NB_ERANDOM. */
int nb_keys_generate(nb_keys_t *k);
/**
 * Read a secret (nsec or hex, one line) from a file. Refuses a file that group or others can
 * read or write (NB_EKEYFILE), a missing/unreadable file or one that is not a regular file (NB_EKEYFILE),
 * bad contents or a file over 512 bytes (NB_EKEY). Symbolic links are followed (the target is checked).
 */
int nb_keys_load_file(nb_keys_t *k, const char *path);
/**
 * The check of every file that holds a secret (the key file, the API key file, the config file),
 * on an open fd: fills *st, then 0, NB_EIO (fstat failed or not a regular file) or NB_EKEYFILE
 * (group or others may read or write it).
 */
int nb_secret_file_check(int fd, struct stat *st);
/** Read the secret from environment variable name. NB_ENOKEY if unset or empty, NB_EKEY if bad. */
int nb_keys_load_env(nb_keys_t *k, const char *name);
/** Write the nsec1… form of the secret into out (>= 64 bytes). For `bridge keygen` only. */
int nb_keys_nsec(const nb_keys_t *k, char *out, size_t outcap);
/** Wipe every secret byte. The struct may be reused after another from/parse/generate. */
void nb_keys_dispose(nb_keys_t *k);

/**
 * Parse a public key given as npub1… or 64 hex digits (either case; no whitespace trimming) and
 * check it is a valid x-only key. 0, NB_EPUBKEY.
 */
int nb_pubkey_parse(uint8_t out[32], const char *s, size_t len);

#endif
