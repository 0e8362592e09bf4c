/*
 * convo_db.h — the SQLite side of the conversation store (src/chat/convo_db.c), used only by
 * convo.c, which keeps its in-memory LRU in front of it as a cache. See include/bridge/convo.h.
 */
#ifndef BRIDGE_CONVO_DB_H
#define BRIDGE_CONVO_DB_H

#include "bridge/convo.h"

typedef struct nb_convo_db nb_convo_db_t;

/** Open or create the database at path. 0 or NB_EIO (logged: path and SQLite's message). */
int nb_convo_db_open(nb_convo_db_t **out, const char *path, size_t max_entries, int64_t ttl_s);
/** Write queued puts in the background on loop from now on (no-op when SQLite is not thread-safe). */
void nb_convo_db_set_loop(nb_convo_db_t *db, uv_loop_t *loop);
/** Write what is queued, then close (or, with a write under way, let its completion do that). */
void nb_convo_db_close(nb_convo_db_t *db);

/** Look key up: queued puts first, then the database. true and *e, *at filled when found. */
bool nb_convo_db_get(nb_convo_db_t *db, const uint8_t key[32], nb_convo_entry_t *e, int64_t *at);
/** Queue (with a loop) or write (without) key → e used at time at. */
void nb_convo_db_put(nb_convo_db_t *db, const uint8_t key[32], const nb_convo_entry_t *e, int64_t at);

size_t nb_convo_db_size(const nb_convo_db_t *db);
void nb_convo_db_stats(const nb_convo_db_t *db, nb_convo_stats_t *st);

#endif
