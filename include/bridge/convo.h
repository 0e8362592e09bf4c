/*
 * convo.h — conversation continuity: which Nostr thread an OpenAI message history belongs to.
 *
 * OpenAI clients resend the whole history every turn. When a turn completes, the bridge stores
 * hash(history including the assistant's reply) → (thread root, agent). A request whose history
 * before its final user message hashes to a stored key continues that thread. Normalization:
 * role + text, whitespace trimmed at both ends; system/developer messages are part of the key.
 *
 * In memory, bounded (LRU) and with a TTL. (A persistent store is a later feature.)
 */
#ifndef BRIDGE_CONVO_H
#define BRIDGE_CONVO_H

#include "bridge/openai.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t root[32];  /* the thread to continue (for an open ask: the ask's id) */
    uint8_t agent[32]; /* who to p-tag */
    bool ask;          /* the last turn ended with the agent asking */
} nb_convo_entry_t;

typedef struct nb_convo nb_convo_t;

/** max_entries: LRU bound (default 10,000 when 0); ttl_s: forget after (default 7 days when 0). */
nb_convo_t *nb_convo_create(size_t max_entries, int64_t ttl_s);
void nb_convo_destroy(nb_convo_t *c);

/** Hash msgs[0..n) (normalized) followed, when reply != NULL, by an assistant message reply. */
void nb_convo_key(uint8_t key[32], const nb_chat_msg_t *msgs, size_t n, const char *reply, size_t reply_len);

/** Look a key up (refreshes its LRU position). NULL when unknown or expired. */
const nb_convo_entry_t *nb_convo_get(nb_convo_t *c, const uint8_t key[32], int64_t now);
/** Store (or replace) key → e. */
void nb_convo_put(nb_convo_t *c, const uint8_t key[32], const nb_convo_entry_t *e, int64_t now);
size_t nb_convo_size(const nb_convo_t *c);

#endif
