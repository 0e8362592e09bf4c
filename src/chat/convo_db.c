/*
 * convo_db.c — the conversation store's SQLite database.
 *
 * One table, keyed by the 32-byte history (or thread) hash (WITHOUT ROWID), with an index on the
 * time of last use for LRU eviction and expiry:
 *
 *   convo(key BLOB PRIMARY KEY, root BLOB, agent BLOB, ask INTEGER, at INTEGER,
 *         owner BLOB, thread BLOB)                                        -- user_version 2
 *
 * owner (16 bytes) and thread (32 bytes) are NULL when all zero — local mode, and a thread that
 * is its own root, the common rows — which SQLite stores in no bytes beyond the record header.
 * Separate nullable columns rather than a wider blob also make the migration from version 1
 * (which had neither) two ALTER TABLE ... ADD COLUMN: no rewrite of existing rows, which read
 * NULL, i.e. zero. A column of any other length is corruption: the row is not used (reading it
 * as zero would hand a keyed thread to everyone).
 *
 * Two connections. The writer owns every write; with a loop set it is used only inside libuv
 * work requests (one at a time), so commits, WAL appends and SQLite's automatic checkpoints (the
 * fsyncs) happen on a pool thread, never on the loop. The reader (read-only, on the loop's
 * thread) serves cache misses; WAL lets it read while a batch commits.
 *
 * Puts go to `queue`; when no batch is being written the queue becomes the next batch. A batch
 * is one transaction: upsert each record, then delete the oldest rows beyond max_entries and
 * expired rows, each in a bounded number. Records queued or in the batch being written are
 * looked up before the database, so a get never misses a put that is not yet on disk.
 *
 * Errors: nothing here is fatal. A batch that fails is rolled back and logged; after
 * NB_CONVO_DB_MAX_FAILS failures in a row the database is abandoned and the store carries on in
 * memory (convo.c's cache).
 */
#include "convo_db.h"

#include "bridge/err.h"
#include "bridge/log.h"
#include "bridge/mem.h"

#include <errno.h>
#include <stdint.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NB_CONVO_DB_MAX_FAILS 3
#define NB_CONVO_DB_MAX_QUEUE 65536 /* beyond this, puts are dropped (the writer is stuck) */
#define NB_CONVO_DB_EVICT_MIN 64    /* rows deleted per batch beyond what the batch added */
#define NB_CONVO_DB_MAX_BATCH 256   /* records per transaction: keeps commits (and the WAL) small */

typedef struct {
    uint8_t key[32];
    nb_convo_entry_t e;
    int64_t at;
} rec_t;

typedef struct {
    uv_work_t work;
    struct nb_convo_db *db;
    rec_t *recs;
    size_t n;
    int64_t now;  /* the latest record's time: what expiry is measured against */
    int64_t rows; /* in: rows before the batch; out: after */
    int rc;       /* out: SQLite result */
    char err[256];
    uint64_t us;
} batch_t;

struct nb_convo_db {
    char *path;
    sqlite3 *w, *r;
    sqlite3_stmt *ins, *upd, *del_old, *del_exp, *sel;
    size_t max;
    int64_t ttl;
    int64_t rows;
    rec_t *queue; /* waiting: queue[q_head .. n_queue) */
    size_t q_head, n_queue, cap_queue;
    batch_t *busy; /* the batch being written by a work request */
    uv_loop_t *loop;
    bool failed;  /* abandoned after errors: memory only */
    bool closing; /* close requested while busy */
    int fails;    /* batches failed in a row */
    uint64_t dropped;
    nb_convo_stats_t st;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* mkdir -p of path's directory, new components 0700. 0 or -1 (errno set). */
static int make_parents(const char *path)
{
    char *dir = nb_strdup(path);
    int r = 0;
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) goto out;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        struct stat sb;
        if (mkdir(dir, 0700) != 0 && (errno != EEXIST || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            if (errno == EEXIST) errno = ENOTDIR;
            r = -1;
            goto out;
        }
        *p = c;
        if (c == '\0') break;
    }
out:
    nb_free(dir);
    return r;
}

/* ---- writing a batch (a pool thread with a loop; the caller's without) ----------------------- */

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* A blob, or NULL for all zero bytes (every parameter is bound anew: bindings persist). */
static void bind_or_null(sqlite3_stmt *st, int i, const uint8_t *p, size_t n)
{
    if (all_zero(p, n))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

/* The whole batch in one transaction. Touches nothing but db->w, its statements and b. */
static void write_batch(struct nb_convo_db *db, batch_t *b)
{
    uint64_t t0 = now_us();
    sqlite3 *w = db->w;
    int64_t added = 0, removed = 0;
    int rc = exec(w, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) goto out;
    for (size_t i = 0; i < b->n; i++) {
        const rec_t *x = &b->recs[i];
        sqlite3_stmt *st = db->ins;
        for (int pass = 0; pass < 2; pass++, st = db->upd) {
            sqlite3_bind_blob(st, 1, x->key, 32, SQLITE_STATIC);
            sqlite3_bind_blob(st, 2, x->e.root, 32, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, x->e.agent, 32, SQLITE_STATIC);
            sqlite3_bind_int(st, 4, x->e.ask ? 1 : 0);
            sqlite3_bind_int64(st, 5, x->at);
            bind_or_null(st, 6, x->e.owner, sizeof(x->e.owner));
            bind_or_null(st, 7, x->e.thread, sizeof(x->e.thread));
            rc = step_done(st);
            if (rc != SQLITE_OK) goto rollback;
            if (sqlite3_changes(w) > 0) {
                if (pass == 0) added++;
                break;
            }
        }
    }
    int64_t excess = b->rows + added - (int64_t)db->max;
    if (excess > 0) {
        int64_t limit = added + NB_CONVO_DB_EVICT_MIN;
        sqlite3_bind_int64(db->del_old, 1, excess < limit ? excess : limit);
        if ((rc = step_done(db->del_old)) != SQLITE_OK) goto rollback;
        removed += sqlite3_changes(w);
    }
    sqlite3_bind_int64(db->del_exp, 1, b->now - db->ttl);
    sqlite3_bind_int64(db->del_exp, 2, NB_CONVO_DB_EVICT_MIN);
    if ((rc = step_done(db->del_exp)) != SQLITE_OK) goto rollback;
    removed += sqlite3_changes(w);
    rc = exec(w, "COMMIT");
    if (rc == SQLITE_OK) {
        b->rows += added - removed;
        goto out;
    }
rollback:
    snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(w));
    exec(w, "ROLLBACK");
out:
    if (rc != SQLITE_OK && b->err[0] == '\0') snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(w));
    b->rc = rc;
    b->us = now_us() - t0;
}

/* Back on the loop's thread (or right after a synchronous write): account for b. */
static void batch_done(struct nb_convo_db *db, batch_t *b)
{
    if (b->rc == SQLITE_OK) {
        db->rows = b->rows;
        db->st.writes++;
        db->fails = 0;
        if (b->us > db->st.max_write_us) db->st.max_write_us = b->us;
        return;
    }
    db->st.write_errors++;
    db->fails++;
    NB_ERROR("state %s: writing %zu conversation(s) failed: %s", db->path, b->n, b->err);
    if (db->fails >= NB_CONVO_DB_MAX_FAILS && !db->failed) {
        db->failed = true;
        db->n_queue = db->q_head = 0;
        NB_ERROR("state %s: %d writes in a row failed; conversations are kept in memory only from now on",
                 db->path, db->fails);
    }
}

static void close_now(struct nb_convo_db *db);

/* The callers' clock, not ours: the latest time in the batch. */
static int64_t latest(const rec_t *recs, size_t n)
{
    int64_t t = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (recs[i].at > t) t = recs[i].at;
    return t;
}

static void kick(struct nb_convo_db *db);

static void on_work(uv_work_t *req)
{
    batch_t *b = req->data;
    write_batch(b->db, b);
}

static void on_work_done(uv_work_t *req, int status)
{
    batch_t *b = req->data;
    struct nb_convo_db *db = b->db;
    if (status != 0) { /* canceled: cannot happen for a started request; keep the records */
        b->rc = SQLITE_ABORT;
        snprintf(b->err, sizeof(b->err), "the write was canceled");
    }
    batch_done(db, b);
    db->busy = NULL;
    nb_free(b->recs);
    nb_free(b);
    if (db->closing)
        close_now(db);
    else
        kick(db);
}

/* With a loop: hand the queue to a work request unless one is under way. */
static void kick(struct nb_convo_db *db)
{
    if (db->busy != NULL || db->n_queue == db->q_head || db->failed || db->loop == NULL) return;
    batch_t *b = nb_calloc(1, sizeof(*b));
    b->db = db;
    size_t waiting = db->n_queue - db->q_head;
    b->n = waiting < NB_CONVO_DB_MAX_BATCH ? waiting : NB_CONVO_DB_MAX_BATCH;
    b->recs = nb_malloc(b->n * sizeof(*b->recs));
    memcpy(b->recs, db->queue + db->q_head, b->n * sizeof(*b->recs));
    db->q_head += b->n;
    if (db->q_head == db->n_queue) db->q_head = db->n_queue = 0;
    b->now = latest(b->recs, b->n);
    b->rows = db->rows;
    b->work.data = b;
    db->busy = b;
    int r = uv_queue_work(db->loop, &b->work, on_work, on_work_done);
    if (r != 0) { /* cannot happen with a live loop; write here rather than lose them */
        NB_WARN("state %s: cannot queue a background write (%s); writing now", db->path, uv_strerror(r));
        write_batch(db, b);
        on_work_done(&b->work, 0);
    }
}

/* Write records synchronously on this thread (no loop, or closing). */
static void write_now(struct nb_convo_db *db, rec_t *recs, size_t n)
{
    if (n == 0 || db->failed) return;
    batch_t b;
    memset(&b, 0, sizeof(b));
    b.db = db;
    b.recs = recs;
    b.n = n;
    b.now = latest(recs, n);
    b.rows = db->rows;
    write_batch(db, &b);
    batch_done(db, &b);
}

/* ---- open / close ------------------------------------------------------------------------- */

static void finalize_all(struct nb_convo_db *db)
{
    sqlite3_finalize(db->ins);
    sqlite3_finalize(db->upd);
    sqlite3_finalize(db->del_old);
    sqlite3_finalize(db->del_exp);
    sqlite3_finalize(db->sel);
    db->ins = db->upd = db->del_old = db->del_exp = db->sel = NULL;
    sqlite3_close(db->r); /* reader first: the writer's close then checkpoints and removes the WAL */
    sqlite3_close(db->w);
    db->r = db->w = NULL;
}

static void close_now(struct nb_convo_db *db)
{
    write_now(db, db->queue + db->q_head, db->n_queue - db->q_head);
    finalize_all(db);
    nb_free(db->queue);
    nb_free(db->path);
    nb_free(db);
}

void nb_convo_db_close(nb_convo_db_t *db)
{
    if (db == NULL) return;
    if (db->busy != NULL) {
        db->closing = true; /* on_work_done finishes */
        return;
    }
    close_now(db);
}

static int pragma_int(sqlite3 *h, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_ERROR;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * Bring the schema from *version (0: an empty database; 1) to NB_CONVO_SCHEMA_VERSION in one
 * transaction, and set *version to what the file holds then. The version is read again under the
 * write lock: another process may have upgraded in between (nothing to do), or written a version
 * this code does not know (left for the caller to refuse). On an error everything is rolled back —
 * the file stays as it was — and SQLite's first message is copied to msg (ROLLBACK resets it).
 */
static int upgrade(sqlite3 *w, int64_t *version, char *msg, size_t cap)
{
    int rc = exec(w, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        snprintf(msg, cap, "%s", sqlite3_errmsg(w));
        return rc;
    }
    if ((rc = pragma_int(w, "PRAGMA user_version", version)) != SQLITE_OK) goto rollback;
    switch (*version) {
    case 0: /* new: the current schema at once */
        rc = exec(w, "CREATE TABLE IF NOT EXISTS convo(key BLOB PRIMARY KEY, root BLOB NOT NULL,"
                     " agent BLOB NOT NULL, ask INTEGER NOT NULL, at INTEGER NOT NULL,"
                     " owner BLOB, thread BLOB) WITHOUT ROWID;"
                     "CREATE INDEX IF NOT EXISTS convo_at ON convo(at);"
                     "PRAGMA user_version=2");
        break;
    case 1: /* 1 → 2: owner and thread; existing rows read NULL (zero: local mode, thread = root) */
        rc = exec(w, "ALTER TABLE convo ADD COLUMN owner BLOB;"
                     "ALTER TABLE convo ADD COLUMN thread BLOB;"
                     "PRAGMA user_version=2");
        break;
    default: /* already current, or a version this code does not know: nothing to write */
        break;
    }
    _Static_assert(NB_CONVO_SCHEMA_VERSION == 2, "add the step to the new version above");
    if (rc != SQLITE_OK) goto rollback;
    if ((rc = exec(w, "COMMIT")) != SQLITE_OK) goto rollback;
    if (*version == 0 || *version == 1) *version = NB_CONVO_SCHEMA_VERSION;
    return SQLITE_OK;
rollback:
    snprintf(msg, cap, "%s", sqlite3_errmsg(w));
    exec(w, "ROLLBACK");
    return rc;
}

int nb_convo_db_open(nb_convo_db_t **out, const char *path, size_t max_entries, int64_t ttl_s)
{
    *out = NULL;
    struct nb_convo_db *db = nb_calloc(1, sizeof(*db));
    db->path = nb_strdup(path);
    db->max = max_entries;
    db->ttl = ttl_s;
    const char *what = "open";
    char msg[256] = "";
    int rc;

    if (make_parents(path) != 0) {
        snprintf(msg, sizeof(msg), "cannot create its directory: %s", strerror(errno));
        goto fail;
    }
    rc =
        sqlite3_open_v2(path, &db->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) goto fail_sqlite;
    if (sqlite3_db_readonly(db->w, "main") == 1) {
        snprintf(msg, sizeof(msg), "the database is read-only");
        goto fail;
    }
    sqlite3_busy_timeout(db->w, 5000); /* another process's write: the writer may wait (off the loop) */
    sqlite3_extended_result_codes(db->w, 1);

    what = "set WAL mode";
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db->w, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (mode == NULL || strcmp(mode, "wal") != 0) {
            snprintf(msg, sizeof(msg), "journal_mode is %s, not wal", mode ? mode : "unknown");
            sqlite3_finalize(st);
            goto fail;
        }
    }
    rc = sqlite3_finalize(st);
    if (rc != SQLITE_OK) goto fail_sqlite;
    what = "configure";
    if ((rc = exec(db->w, "PRAGMA synchronous=NORMAL")) != SQLITE_OK) goto fail_sqlite;

    what = "read the schema version";
    int64_t version = 0;
    if ((rc = pragma_int(db->w, "PRAGMA user_version", &version)) != SQLITE_OK) goto fail_sqlite;
    if (version >= 0 && version < NB_CONVO_SCHEMA_VERSION) {
        int64_t from = version;
        what = version == 0 ? "create the schema" : "upgrade the schema";
        if (upgrade(db->w, &version, msg, sizeof(msg)) != SQLITE_OK) goto fail;
        if (from > 0 && version == NB_CONVO_SCHEMA_VERSION)
            NB_INFO("state %s: schema version %lld upgraded to %d", path, (long long)from,
                    NB_CONVO_SCHEMA_VERSION);
    }
    if (version != NB_CONVO_SCHEMA_VERSION) {
        snprintf(msg, sizeof(msg), "schema version %lld is not %d (written by another version of bridge?)",
                 (long long)version, NB_CONVO_SCHEMA_VERSION);
        goto fail;
    }
    what = "count its rows";
    if ((rc = pragma_int(db->w, "SELECT count(*) FROM convo", &db->rows)) != SQLITE_OK) goto fail_sqlite;

    what = "prepare statements";
    if ((rc = sqlite3_prepare_v3(db->w,
                                 "INSERT OR IGNORE INTO convo(key, root, agent, ask, at, owner, thread)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                 -1, SQLITE_PREPARE_PERSISTENT, &db->ins, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v3(db->w,
                                 "UPDATE convo SET root = ?2, agent = ?3, ask = ?4, at = ?5,"
                                 " owner = ?6, thread = ?7 WHERE key = ?1",
                                 -1, SQLITE_PREPARE_PERSISTENT, &db->upd, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v3(
             db->w, "DELETE FROM convo WHERE key IN (SELECT key FROM convo ORDER BY at LIMIT ?1)", -1,
             SQLITE_PREPARE_PERSISTENT, &db->del_old, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v3(
             db->w,
             "DELETE FROM convo WHERE key IN (SELECT key FROM convo WHERE at < ?1 ORDER BY at LIMIT ?2)", -1,
             SQLITE_PREPARE_PERSISTENT, &db->del_exp, NULL)) != SQLITE_OK)
        goto fail_sqlite;

    what = "open a reader";
    rc = sqlite3_open_v2(path, &db->r, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(msg, sizeof(msg), "%s", db->r ? sqlite3_errmsg(db->r) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(db->r, 1); /* a WAL reader is almost never busy; a busy read is a miss */
    if ((rc =
             sqlite3_prepare_v3(db->r, "SELECT root, agent, ask, at, owner, thread FROM convo WHERE key = ?1",
                                -1, SQLITE_PREPARE_PERSISTENT, &db->sel, NULL)) != SQLITE_OK) {
        snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(db->r));
        goto fail;
    }
    db->st.persistent = true;
    *out = db;
    return 0;

fail_sqlite:
    snprintf(msg, sizeof(msg), "%s", db->w ? sqlite3_errmsg(db->w) : sqlite3_errstr(rc));
fail:
    NB_ERROR("state %s: cannot %s: %s", path, what, msg);
    finalize_all(db);
    nb_free(db->path);
    nb_free(db);
    return NB_EIO;
}

void nb_convo_db_set_loop(nb_convo_db_t *db, uv_loop_t *loop)
{
    if (sqlite3_threadsafe() == 0) {
        NB_WARN("state %s: SQLite is built without thread support; writes stay on the loop", db->path);
        return;
    }
    db->loop = loop;
    kick(db);
}

/* ---- get / put ---------------------------------------------------------------------------- */

static const rec_t *find_rec(const rec_t *recs, size_t n, const uint8_t key[32])
{
    for (size_t i = n; i-- > 0;) /* newest first */
        if (memcmp(recs[i].key, key, 32) == 0) return &recs[i];
    return NULL;
}

/* Column i into out[0..n): NULL is all zero; a blob of another length (or another type) is
 * corruption: false, and the row is not used. */
static bool column_or_zero(uint8_t *out, size_t n, sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        memset(out, 0, n);
        return true;
    }
    if (sqlite3_column_type(st, i) != SQLITE_BLOB || (size_t)sqlite3_column_bytes(st, i) != n) return false;
    memcpy(out, sqlite3_column_blob(st, i), n);
    return true;
}

bool nb_convo_db_get(nb_convo_db_t *db, const uint8_t key[32], nb_convo_entry_t *e, int64_t *at)
{
    if (db->failed) return false;
    /* the batch being written is only read here while the writer reads it too */
    const rec_t *x = find_rec(db->queue + db->q_head, db->n_queue - db->q_head, key);
    if (x == NULL && db->busy != NULL) x = find_rec(db->busy->recs, db->busy->n, key);
    if (x != NULL) {
        *e = x->e;
        *at = x->at;
        return true;
    }
    bool found = false;
    sqlite3_bind_blob(db->sel, 1, key, 32, SQLITE_STATIC);
    int rc = sqlite3_step(db->sel);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(db->sel, 0) == 32 &&
        sqlite3_column_bytes(db->sel, 1) == 32 && column_or_zero(e->owner, sizeof(e->owner), db->sel, 4) &&
        column_or_zero(e->thread, sizeof(e->thread), db->sel, 5)) {
        memcpy(e->root, sqlite3_column_blob(db->sel, 0), 32);
        memcpy(e->agent, sqlite3_column_blob(db->sel, 1), 32);
        e->ask = sqlite3_column_int(db->sel, 2) != 0;
        *at = sqlite3_column_int64(db->sel, 3);
        found = true;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        NB_WARN("state %s: lookup failed: %s", db->path, sqlite3_errmsg(db->r));
    }
    sqlite3_reset(db->sel);
    return found;
}

void nb_convo_db_put(nb_convo_db_t *db, const uint8_t key[32], const nb_convo_entry_t *e, int64_t at)
{
    if (db->failed) return;
    rec_t x;
    memcpy(x.key, key, 32);
    x.e = *e;
    x.at = at;
    if (db->loop == NULL) {
        write_now(db, &x, 1);
        return;
    }
    if (db->n_queue - db->q_head == NB_CONVO_DB_MAX_QUEUE) {
        if (db->dropped++ % 1000 == 0)
            NB_WARN("state %s: the write queue is full (the disk is stuck?); dropped %llu conversation(s)",
                    db->path, (unsigned long long)db->dropped);
        return;
    }
    if (db->n_queue == db->cap_queue && db->q_head > 0) { /* slide down what is still waiting */
        db->n_queue -= db->q_head;
        memmove(db->queue, db->queue + db->q_head, db->n_queue * sizeof(*db->queue));
        db->q_head = 0;
    }
    if (db->n_queue == db->cap_queue) {
        db->cap_queue = db->cap_queue ? db->cap_queue * 2 : NB_CONVO_DB_MAX_BATCH;
        db->queue = nb_realloc(db->queue, db->cap_queue * sizeof(*db->queue));
    }
    db->queue[db->n_queue++] = x;
    kick(db);
}

size_t nb_convo_db_size(const nb_convo_db_t *db)
{
    size_t n = (size_t)db->rows + (db->n_queue - db->q_head) + (db->busy ? db->busy->n : 0);
    return n < db->max ? n : db->max;
}

void nb_convo_db_stats(const nb_convo_db_t *db, nb_convo_stats_t *st)
{
    *st = db->st;
    st->persistent = !db->failed;
    st->rows = (size_t)db->rows;
    st->queued = (db->n_queue - db->q_head) + (db->busy ? db->busy->n : 0);
}
