/* The conversation store on SQLite: persistence, TTL, LRU bound, WAL, fallbacks, a concurrent
 * reader, background writes on a libuv loop. */
#include "bridge/convo.h"
#include "bridge/err.h"
#include "bridge/log.h"
#include "test.h"

#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

static char dir[256];

static const char *path_in(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

static void K(uint8_t k[32], int i)
{
    memset(k, 0, 32);
    memcpy(k, &i, sizeof(i));
    k[31] = 0x5a;
}

static nb_convo_entry_t E(int i)
{
    nb_convo_entry_t e;
    memset(&e, 0, sizeof(e));
    memcpy(e.root, &i, sizeof(i));
    e.agent[0] = 0xa9;
    e.ask = i % 2 == 1;
    if (i % 3 == 0) { /* some with an owner, some with a thread of their own, some with both */
        memset(e.owner, 0x0b, sizeof(e.owner));
        memcpy(e.owner, &i, sizeof(i));
    }
    if (i % 4 == 0) {
        memset(e.thread, 0x7d, sizeof(e.thread));
        memcpy(e.thread + 28, &i, sizeof(i));
    }
    return e;
}

/* The entry stored for i is there (and right). */
static bool has(nb_convo_t *c, int i, int64_t now)
{
    uint8_t k[32];
    K(k, i);
    const nb_convo_entry_t *e = nb_convo_get(c, k, now);
    if (e == NULL) return false;
    nb_convo_entry_t want = E(i);
    return memcmp(e, &want, sizeof(want)) == 0;
}

static void put(nb_convo_t *c, int i, int64_t now)
{
    uint8_t k[32];
    nb_convo_entry_t e = E(i);
    K(k, i);
    nb_convo_put(c, k, &e, now);
}

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void test_persists_across_reopen(void)
{
    const char *p = path_in("sub/dir/state.db"); /* parents are created */
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0);
    NB_REQUIRE(c != NULL);
    nb_convo_stats_t st;
    nb_convo_stats(c, &st);
    NB_CHECK(st.persistent);
    for (int i = 0; i < 20; i++)
        put(c, i, 10);
    NB_CHECK_INT(nb_convo_size(c), 20);
    NB_CHECK(has(c, 3, 11));
    nb_convo_destroy(c);

    struct stat sb;
    NB_CHECK(stat(path_in("sub/dir"), &sb) == 0 && (sb.st_mode & 0777) == 0700);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 20);

    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0);
    NB_REQUIRE(c != NULL);
    NB_CHECK_INT(nb_convo_size(c), 20);
    for (int i = 0; i < 20; i++)
        NB_CHECK(has(c, i, 12));
    NB_CHECK(!has(c, 20, 12));
    nb_convo_destroy(c);
}

static void test_wal_and_schema(void)
{
    const char *p = path_in("wal.db");
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 0, 0), 0);
    put(c, 1, 1);
    sqlite3 *h = NULL;
    NB_REQUIRE(sqlite3_open(p, &h) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    NB_CHECK(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK);
    NB_CHECK(sqlite3_step(st) == SQLITE_ROW);
    NB_CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(h);
    NB_CHECK_INT(query_int(p, "PRAGMA user_version"), 2);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM pragma_table_info('convo')"
                              " WHERE name IN ('owner', 'thread')"),
                 2);
    nb_convo_destroy(c);
}

/* owner and thread survive a close and reopen, are NULL in the row when zero (compact rows), and
 * are replaced with the rest of the entry. */
static void test_fields_round_trip(void)
{
    const char *p = path_in("fields.db");
    nb_convo_entry_t es[4];
    memset(es, 0, sizeof(es));
    for (int i = 0; i < 4; i++) {
        es[i].root[0] = (uint8_t)(0x10 + i);
        es[i].agent[31] = 0x42;
    }
    memset(es[1].owner, 0xff, sizeof(es[1].owner)); /* owner only */
    memcpy(es[2].thread, es[2].root, 32);           /* thread = root, spelled out: kept as given */
    memset(es[3].owner, 0x01, sizeof(es[3].owner)); /* both */
    es[3].thread[0] = 0x80;
    es[3].ask = true;
    uint8_t k[4][32];
    for (int i = 0; i < 4; i++)
        nb_convo_thread_key(k[i], es[i].root);

    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0);
    for (int i = 0; i < 4; i++)
        nb_convo_put(c, k[i], &es[i], 10);
    nb_convo_destroy(c);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo WHERE owner IS NULL"), 2);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo WHERE length(owner) = 16"), 2);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo WHERE thread IS NULL"), 2);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo WHERE length(thread) = 32"), 2);

    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0);
    for (int i = 0; i < 4; i++) {
        const nb_convo_entry_t *e = nb_convo_get(c, k[i], 11); /* from the database: a fresh cache */
        NB_REQUIRE(e != NULL);
        NB_CHECK_MEM(e, &es[i], sizeof(es[i]));
    }
    /* replaced: the owner goes, the thread changes */
    memset(es[3].owner, 0, sizeof(es[3].owner));
    es[3].thread[0] = 0x81;
    nb_convo_put(c, k[3], &es[3], 12);
    nb_convo_destroy(c);

    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0);
    const nb_convo_entry_t *e = nb_convo_get(c, k[3], 13);
    NB_REQUIRE(e != NULL);
    NB_CHECK_MEM(e, &es[3], sizeof(es[3]));
    nb_convo_destroy(c);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo WHERE owner IS NULL"), 3);
}

/* An owner or thread of the wrong length is corruption: the row is not used (an owner read as zero
 * would open a keyed thread to everyone). */
static void test_corrupt_fields_miss(void)
{
    const char *p = path_in("badfields.db");
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0);
    for (int i = 0; i < 4; i++)
        put(c, i, 1);
    nb_convo_destroy(c);
    uint8_t k1[32], k2[32];
    K(k1, 1);
    K(k2, 2);
    sqlite3 *h = NULL;
    NB_REQUIRE(sqlite3_open(p, &h) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    NB_REQUIRE(sqlite3_prepare_v2(h, "UPDATE convo SET owner = x'01' WHERE key = ?1", -1, &st, NULL) ==
               SQLITE_OK);
    sqlite3_bind_blob(st, 1, k1, 32, SQLITE_STATIC);
    NB_CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    NB_REQUIRE(sqlite3_prepare_v2(h, "UPDATE convo SET thread = 'text' WHERE key = ?1", -1, &st, NULL) ==
               SQLITE_OK);
    sqlite3_bind_blob(st, 1, k2, 32, SQLITE_STATIC);
    NB_CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);

    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0);
    NB_CHECK(has(c, 0, 2) && has(c, 3, 2));
    NB_CHECK(nb_convo_get(c, k1, 2) == NULL);
    NB_CHECK(nb_convo_get(c, k2, 2) == NULL);
    nb_convo_destroy(c);
}

/* A database as version 1 of the schema wrote it (PRAGMAs and CREATE copied from that code). */
static void make_v1(const char *p, const char *extra_sql)
{
    sqlite3 *h = NULL;
    NB_CHECK(sqlite3_open(p, &h) == SQLITE_OK);
    NB_CHECK(sqlite3_exec(h,
                          "PRAGMA journal_mode=WAL;"
                          "BEGIN IMMEDIATE;"
                          "CREATE TABLE IF NOT EXISTS convo(key BLOB PRIMARY KEY, root BLOB NOT NULL,"
                          " agent BLOB NOT NULL, ask INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;"
                          "CREATE INDEX IF NOT EXISTS convo_at ON convo(at);"
                          "PRAGMA user_version=1;"
                          "COMMIT",
                          NULL, NULL, NULL) == SQLITE_OK);
    for (int i = 0; i < 3; i++) {
        uint8_t k[32];
        nb_convo_entry_t e = E(i);
        K(k, i);
        sqlite3_stmt *st = NULL;
        NB_CHECK(sqlite3_prepare_v2(h,
                                    "INSERT INTO convo(key, root, agent, ask, at) VALUES(?1, ?2, ?3, ?4, ?5)",
                                    -1, &st, NULL) == SQLITE_OK);
        sqlite3_bind_blob(st, 1, k, 32, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, e.root, 32, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, e.agent, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, e.ask);
        sqlite3_bind_int64(st, 5, 100 + i);
        NB_CHECK(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_finalize(st);
    }
    if (extra_sql != NULL) NB_CHECK(sqlite3_exec(h, extra_sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
}

static void test_migrate_v1(void)
{
    const char *p = path_in("v1.db");
    make_v1(p, NULL);
    NB_CHECK_INT(query_int(p, "PRAGMA user_version"), 1);

    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0);
    nb_convo_stats_t st;
    nb_convo_stats(c, &st);
    NB_CHECK(st.persistent);
    NB_CHECK_INT(st.rows, 3);
    NB_CHECK_INT(query_int(p, "PRAGMA user_version"), 2);
    for (int i = 0; i < 3; i++) { /* the old rows: zero owner (local mode) and thread (= root) */
        uint8_t k[32];
        K(k, i);
        const nb_convo_entry_t *e = nb_convo_get(c, k, 150);
        NB_REQUIRE(e != NULL);
        nb_convo_entry_t want = E(i);
        memset(want.owner, 0, sizeof(want.owner));
        memset(want.thread, 0, sizeof(want.thread));
        NB_CHECK_MEM(e, &want, sizeof(want));
    }
    put(c, 3, 160); /* and new rows carry the new fields */
    put(c, 4, 160);
    nb_convo_destroy(c);

    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), 0); /* version 2 now: opened as it is */
    NB_CHECK(has(c, 3, 170) && has(c, 4, 170));
    NB_CHECK_INT(nb_convo_size(c), 5);
    nb_convo_destroy(c);
    NB_CHECK_INT(query_int(p, "PRAGMA user_version"), 2);
}

/* The migration is one transaction: when a step fails the file is left as version 1 wrote it, and
 * the store carries on in memory. (Here the version 1 table already has a thread column, so
 * adding it fails after owner was added.) */
static void test_migration_rolls_back(void)
{
    const char *p = path_in("v1-odd.db");
    make_v1(p, "ALTER TABLE convo ADD COLUMN thread BLOB");
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 1000), NB_EIO);
    NB_REQUIRE(c != NULL);
    nb_convo_stats_t st;
    nb_convo_stats(c, &st);
    NB_CHECK(!st.persistent);
    nb_convo_destroy(c);
    NB_CHECK_INT(query_int(p, "PRAGMA user_version"), 1);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM pragma_table_info('convo') WHERE name = 'owner'"), 0);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 3);
}

static void test_ttl(void)
{
    const char *p = path_in("ttl.db");
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 1000, 100), 0);
    for (int i = 0; i < 100; i++)
        put(c, i, 0);
    put(c, 1000, 90);
    NB_CHECK(has(c, 5, 50));   /* used at 50: alive until 150 */
    NB_CHECK(!has(c, 6, 101)); /* expired, also in the cache */
    nb_convo_destroy(c);

    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 1000, 100), 0);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 101);
    NB_CHECK(!has(c, 7, 140)); /* from the database: expired too */
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 101);
    /* refreshed by the get at 50; its refresh is a write, and each write also deletes expired rows,
     * a bounded number (64) at a time: 99 rows are older than 140 - 100 */
    NB_CHECK(has(c, 5, 140));
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 101 - 64);
    NB_CHECK(has(c, 1000, 140));
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 2);
    nb_convo_stats_t st;
    nb_convo_stats(c, &st);
    NB_CHECK_INT(st.rows, 2);
    nb_convo_destroy(c);
}

static void test_lru_bound(void)
{
    const char *p = path_in("lru.db");
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 10, 0), 0);
    for (int i = 0; i < 10; i++)
        put(c, i, 100 + i);
    NB_CHECK(has(c, 0, 200)); /* k0 is now the most recently used */
    for (int i = 10; i < 15; i++)
        put(c, i, 300 + i);
    NB_CHECK_INT(nb_convo_size(c), 10);
    nb_convo_destroy(c);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 10);

    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 10, 0), 0);
    NB_CHECK(has(c, 0, 400));
    for (int i = 1; i <= 5; i++)
        NB_CHECK(!has(c, i, 400));
    for (int i = 6; i < 15; i++)
        NB_CHECK(has(c, i, 400));
    nb_convo_destroy(c);
}

static void test_unusable_files_fall_back(void)
{
    /* corrupt */
    const char *p = path_in("corrupt.db");
    FILE *f = fopen(p, "wb");
    NB_REQUIRE(f != NULL);
    for (int i = 0; i < 4096; i++)
        fputc("not a database "[i % 15], f);
    fclose(f);
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 10, 0), NB_EIO);
    NB_REQUIRE(c != NULL); /* an in-memory store anyway */
    nb_convo_stats_t st;
    nb_convo_stats(c, &st);
    NB_CHECK(!st.persistent);
    put(c, 1, 1);
    NB_CHECK(has(c, 1, 2));
    nb_convo_destroy(c);

    /* its directory cannot be created: a file is in the way */
    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, path_in("corrupt.db/state.db"), 10, 0), NB_EIO);
    NB_REQUIRE(c != NULL);
    put(c, 1, 1);
    NB_CHECK(has(c, 1, 2));
    nb_convo_destroy(c);

    /* a directory where the file should be */
    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, dir, 10, 0), NB_EIO);
    nb_convo_destroy(c);

    /* a newer schema (the next version, and a far one), or a negative version: left untouched */
    static const char *const newer[] = {"PRAGMA user_version=3", "PRAGMA user_version=7",
                                        "PRAGMA user_version=-1"};
    for (size_t i = 0; i < sizeof(newer) / sizeof(newer[0]); i++) {
        p = path_in("newer.db");
        unlink(p);
        sqlite3 *h = NULL;
        NB_REQUIRE(sqlite3_open(p, &h) == SQLITE_OK);
        NB_CHECK(sqlite3_exec(h, newer[i], NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(h);
        int64_t v = query_int(p, "PRAGMA user_version");
        c = NULL;
        NB_CHECK_INT(nb_convo_open(&c, p, 10, 0), NB_EIO);
        nb_convo_stats(c, &st);
        NB_CHECK(!st.persistent);
        nb_convo_destroy(c);
        NB_CHECK_INT(query_int(p, "PRAGMA user_version"), v);
        NB_CHECK_INT(query_int(p, "SELECT count(*) FROM sqlite_master"), 0);
    }

    /* read-only (root can write anyway: then this case is skipped) */
    if (geteuid() != 0) {
        p = path_in("ro.db");
        c = NULL;
        NB_CHECK_INT(nb_convo_open(&c, p, 10, 0), 0);
        nb_convo_destroy(c);
        NB_CHECK(chmod(p, 0400) == 0);
        c = NULL;
        NB_CHECK_INT(nb_convo_open(&c, p, 10, 0), NB_EIO);
        nb_convo_destroy(c);
    }

    /* :memory: */
    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, ":memory:", 0, 0), 0);
    nb_convo_stats(c, &st);
    NB_CHECK(!st.persistent);
    nb_convo_destroy(c);
}

static void test_failing_writes_switch_to_memory(void)
{
    const char *p = path_in("vanish.db");
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100, 0), 0);
    put(c, 1, 1);
    sqlite3 *h = NULL;
    NB_REQUIRE(sqlite3_open(p, &h) == SQLITE_OK);
    NB_CHECK(sqlite3_exec(h, "DROP TABLE convo", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    for (int i = 2; i < 6; i++)
        put(c, i, 2);
    nb_convo_stats_t st;
    nb_convo_stats(c, &st);
    NB_CHECK(!st.persistent);
    NB_CHECK(st.write_errors >= 3);
    for (int i = 2; i < 6; i++)
        NB_CHECK(has(c, i, 3)); /* the cache carries on */
    nb_convo_destroy(c);
}

static void test_concurrent_reader(void)
{
    const char *p = path_in("readers.db");
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 1000, 0), 0);
    for (int i = 0; i < 10; i++)
        put(c, i, 1);
    sqlite3 *h = NULL;
    NB_REQUIRE(sqlite3_open_v2(p, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    NB_REQUIRE(sqlite3_prepare_v2(h, "SELECT count(*) FROM convo", -1, &st, NULL) == SQLITE_OK);
    NB_CHECK(sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    NB_CHECK(sqlite3_step(st) == SQLITE_ROW);
    NB_CHECK_INT(sqlite3_column_int(st, 0), 10);
    sqlite3_reset(st);
    /* the reader holds a read transaction: the store still writes, and the reader keeps its snapshot */
    for (int i = 10; i < 20; i++)
        put(c, i, 2);
    nb_convo_stats_t s;
    nb_convo_stats(c, &s);
    NB_CHECK(s.persistent);
    NB_CHECK_INT(s.write_errors, 0);
    NB_CHECK_INT(s.rows, 20);
    NB_CHECK(sqlite3_step(st) == SQLITE_ROW);
    NB_CHECK_INT(sqlite3_column_int(st, 0), 10);
    sqlite3_reset(st);
    NB_CHECK(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    NB_CHECK(sqlite3_step(st) == SQLITE_ROW);
    NB_CHECK_INT(sqlite3_column_int(st, 0), 20);
    sqlite3_finalize(st);
    sqlite3_close(h);
    nb_convo_destroy(c);
}

static void test_background_writes(void)
{
    const char *p = path_in("async.db");
    uv_loop_t loop;
    uv_loop_init(&loop);
    nb_convo_t *c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100000, 0), 0);
    nb_convo_set_loop(c, &loop);
    for (int i = 0; i < 5000; i++) {
        put(c, i, 1);
        NB_CHECK(has(c, i, 1)); /* at once, whether queued, being written or written */
    }
    nb_convo_stats_t st;
    nb_convo_stats(c, &st);
    NB_CHECK(st.queued > 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the queue is written */
    nb_convo_stats(c, &st);
    NB_CHECK_INT(st.queued, 0);
    NB_CHECK_INT(st.write_errors, 0);
    NB_CHECK_INT(st.rows, 5000);
    NB_CHECK(st.writes >= 1 && st.writes < 5000); /* batched */
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 5000);

    /* destroyed while a write is under way: the loop finishes it and closes the database */
    for (int i = 5000; i < 6000; i++)
        put(c, i, 2);
    nb_convo_destroy(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    NB_CHECK_INT(uv_loop_close(&loop), 0);
    NB_CHECK_INT(query_int(p, "SELECT count(*) FROM convo"), 6000);

    c = NULL;
    NB_CHECK_INT(nb_convo_open(&c, p, 100000, 0), 0);
    NB_CHECK(has(c, 0, 3) && has(c, 5999, 3));
    nb_convo_destroy(c);
}

int main(void)
{
    nb_log_setup(NB_LOG_OFF, false);
    snprintf(dir, sizeof(dir), "%s/convo-sqlite-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    NB_RUN(test_persists_across_reopen);
    NB_RUN(test_wal_and_schema);
    NB_RUN(test_fields_round_trip);
    NB_RUN(test_corrupt_fields_miss);
    NB_RUN(test_migrate_v1);
    NB_RUN(test_migration_rolls_back);
    NB_RUN(test_ttl);
    NB_RUN(test_lru_bound);
    NB_RUN(test_unusable_files_fall_back);
    NB_RUN(test_failing_writes_switch_to_memory);
    NB_RUN(test_concurrent_reader);
    NB_RUN(test_background_writes);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return nb_test_summary();
}
