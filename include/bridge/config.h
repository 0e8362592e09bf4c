/*
 * config.h — the configuration file (`bridge --server --config PATH`): per-key policies.
 *
 * JSON (strict: the nb_json tokenizer, trailing garbage rejected), at most 1 MiB:
 *
 *   {
 *     "api_keys": [
 *       {"key": "sk-alice-…", "name": "alice", "projects": ["my-project", "naddr1…"],
 *        "max_streams": 4, "rate_per_minute": 60},
 *       {"key": "sk-ops-…", "name": "ops"}
 *     ]
 *   }
 *
 * Every key needs "key" (1..NB_APIKEY_MAX_LEN bytes after trimming); "name" (≤ 64 bytes of
 * printable ASCII, [A-Za-z0-9._-]), "projects" (d-tags, ≤ 256 entries, each 1..256 bytes of UTF-8
 * without '/'), "max_streams" and "rate_per_minute" (0..1,000,000) are optional. Unknown members
 * are errors (a typo must not silently open access). The file holds secrets: like the key file it
 * is refused when group or others can read it.
 */
#ifndef BRIDGE_CONFIG_H
#define BRIDGE_CONFIG_H

#include "bridge/apikeys.h"

#include <stddef.h>

#define NB_CONFIG_MAX_BYTES (1u << 20)

/**
 * Parse a config text and add its keys to k. 0, or NB_EINVAL / NB_ELIMIT with a one-line reason
 * in err (never containing a key) — then k is left as it was. Pure: no I/O (fuzzed).
 */
int nb_config_parse(nb_apikeys_t *k, const char *text, size_t len, char *err, size_t err_cap);
/** Read path (permission check as the key file: NB_EKEYFILE) and nb_config_parse it. NB_EIO when
 *  unreadable, NB_ELIMIT when over NB_CONFIG_MAX_BYTES. err says why, naming the path. */
int nb_config_load(nb_apikeys_t *k, const char *path, char *err, size_t err_cap);

#endif
