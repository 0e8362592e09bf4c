/*
 * convo.h — conversation continuity: which Nostr thread an OpenAI message history belongs to.
 *
 * OpenAI clients resend the whole history every turn. When a turn completes, the bridge stores
 * hash(history including the assistant's reply) → (thread root, agent). A request whose history
 * before its final user message hashes to a stored key continues that thread. Normalization:
 * role + text, whitespace trimmed at both ends; system/developer messages are part of the key.
 *
 * Bounded (LRU) and with a TTL counted from the last put or get. Two stores behind one API:
 *
 *   nb_convo_create()            in memory only (lost on restart);
 *   nb_convo_open(path)          an SQLite database (WAL, synchronous=NORMAL, schema versioned by
 *                                PRAGMA user_version) with the in-memory LRU in front of it as a
 *                                cache. ":memory:" is the in-memory store.
 *
 * Writes never wait on disk on the caller's thread once a loop is set (nb_convo_set_loop): puts
 * are queued, and one batch at a time is written in one transaction by a libuv work request
 * (uv_queue_work, the loop's thread pool) on the store's own writer connection — also where
 * SQLite's WAL checkpoints run. Whatever is queued or being written is answered from memory, so
 * get() after put() never waits on disk. Without a loop each put is written at once (tests,
 * tools). Reads that miss the cache use a second, read-only connection on the caller's thread (a
 * primary-key lookup: tens of µs). Eviction (rows beyond max_entries, oldest use first, and
 * expired rows) happens in bounded batches inside the write transactions.
 *
 * A database that cannot be opened, is corrupt or read-only is never fatal: nb_convo_open logs
 * it and hands back an in-memory store; writes that keep failing later switch the store to
 * memory only (logged once).
 */
#ifndef BRIDGE_CONVO_H
#define BRIDGE_CONVO_H

#include "bridge/openai.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/** Who created an entry: a tag derived from the API key (nb_apikeys_owner), all zero in local
 *  mode. Threads are scoped to it: another key cannot continue or name them. */
#define NB_CONVO_OWNER_LEN 16

typedef struct {
    uint8_t root[32];  /* the thread to continue (for an open ask: the ask's id) */
    uint8_t agent[32]; /* who to p-tag */
    bool ask;          /* the last turn ended with the agent asking */
    uint8_t owner[NB_CONVO_OWNER_LEN]; /* the creating key's tag; zero = local mode (anyone) */
    uint8_t thread[32]; /* the thread as its client knows it (the first root; an ask's answer keeps
                           it): what X-Nostr-Thread and thread_id report. Zero = same as root. */
} nb_convo_entry_t;

typedef struct nb_convo nb_convo_t;

/** In memory. max_entries: LRU bound (default 10,000 when 0); ttl_s: forget after this long
 * unused (default 7 days when 0). */
nb_convo_t *nb_convo_create(size_t max_entries, int64_t ttl_s);

/** Defaults of nb_convo_open (and of bridge's --state-max-entries / --state-ttl). */
#define NB_CONVO_DEFAULT_MAX 100000
#define NB_CONVO_DEFAULT_TTL (7 * 24 * 3600)
/** Schema version stored in PRAGMA user_version. */
#define NB_CONVO_SCHEMA_VERSION 2 /* 2: owner and thread columns (1 is migrated) */

/**
 * Open (creating it and its missing parent directories, mode 0700) the SQLite store at path;
 * ":memory:" (or NULL) gives the in-memory store. max_entries 0 → NB_CONVO_DEFAULT_MAX, ttl_s 0 →
 * NB_CONVO_DEFAULT_TTL. 0, or NB_EIO after logging an error that names path and SQLite's message
 * (unwritable, read-only, corrupt, a newer schema): *out is then an in-memory store with the same
 * bounds, so the caller can carry on. *out is never NULL.
 */
int nb_convo_open(nb_convo_t **out, const char *path, size_t max_entries, int64_t ttl_s);

/**
 * Write in the background from now on: puts are queued and written in batches by libuv work
 * requests on loop (which then stays alive until the queue is written). No-op for the in-memory
 * store. Call it from the loop's thread, before the loop runs or from a callback.
 */
void nb_convo_set_loop(nb_convo_t *c, uv_loop_t *loop);

/**
 * Free the store. A persistent store writes what is still queued first (blocking: this is
 * shutdown). Called while a background write is under way (the loop still running), the last
 * write finishes on the loop and the database is closed there.
 */
void nb_convo_destroy(nb_convo_t *c);

/** The XDG default: $XDG_STATE_HOME/bridge/state.db, else $HOME/.local/state/bridge/state.db.
 * 0, NB_ENOTFOUND (neither variable set, or not absolute) or NB_ETOOBIG (cap too small). */
int nb_convo_default_path(char *buf, size_t cap);

typedef struct {
    bool persistent;       /* an SQLite database is in use (false: memory only, or fell back) */
    size_t rows;           /* rows in the database (last written batch) */
    size_t queued;         /* puts waiting to be written, including the batch being written */
    uint64_t writes;       /* batches committed */
    uint64_t write_errors; /* batches that failed (rolled back) */
    uint64_t max_write_us; /* the slowest batch commit (off the loop once a loop is set) */
} nb_convo_stats_t;

/** Counters (for /metrics and tests). */
void nb_convo_stats(const nb_convo_t *c, nb_convo_stats_t *st);

/** Hash msgs[0..n) (normalized) followed, when reply != NULL, by an assistant message reply. */
void nb_convo_key(uint8_t key[32], const nb_chat_msg_t *msgs, size_t n, const char *reply, size_t reply_len);

/**
 * The key under which a thread's own record is kept: SHA-256 over a fixed domain prefix and the
 * thread id (never equal to a message-history key). The bridge puts one record per thread id it
 * created or continued (root, agent, open ask, owner), so `X-Nostr-Thread` / `thread_id` can find
 * the agent, an open ask, and who may use the thread.
 */
void nb_convo_thread_key(uint8_t key[32], const uint8_t thread[32]);

/** Look a key up (refreshes its LRU position). NULL when unknown or expired. */
const nb_convo_entry_t *nb_convo_get(nb_convo_t *c, const uint8_t key[32], int64_t now);
/** Store (or replace) key → e. Never blocks on disk once a loop is set. */
void nb_convo_put(nb_convo_t *c, const uint8_t key[32], const nb_convo_entry_t *e, int64_t now);
/** Entries stored: in memory exact; with a database, its rows plus the queued puts (an upper
 * bound until they are written, capped at max_entries). */
size_t nb_convo_size(const nb_convo_t *c);

#endif
