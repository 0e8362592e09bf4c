/*
 * bench_state.c — the conversation store on SQLite (src/chat/convo_db.c): latency of nb_convo_put
 * and nb_convo_get with a database of 100,000 conversations.
 *
 *   bench_state [ops (20000)] [dir (a new one under $TMPDIR or /tmp)]
 *
 * Three figures, each p50 / p99 / max over `ops` calls:
 *   1. put, written at once (no loop): one transaction per put on the calling thread — what the
 *      loop would pay if writes were synchronous (the commit, and now and then a WAL checkpoint);
 *   2. put and get as the daemon runs them (a loop set): the put queues, a libuv work request
 *      writes the batch; after each call the loop runs once (UV_RUN_NOWAIT), also timed, since
 *      the write's completion callback runs there;
 *   3. get of a conversation that is not in the memory cache: a primary-key read on the disk
 *      (page cache warm), plus queuing its refresh.
 * The reference line times a 1 µs operation (hashing a history) in the same loop: on shared vCPUs its max
 * shows what preemption alone costs (the background writer and the kernel's writeback compete for the two
 * CPUs), so maxima at that level are the machine, not the store. It prints figures; it never fails on them.
 */
#include "bridge/convo.h"
#include "bridge/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define PREFILL 100000

static uint64_t ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void key(uint8_t k[32], uint32_t i)
{
    /* spread like SHA-256 output: a cheap mix of i */
    uint64_t x = i * 0x9e3779b97f4a7c15ull;
    for (int j = 0; j < 4; j++) {
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ull;
        memcpy(k + 8 * j, &x, 8);
    }
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp);
    printf("%-52s p50 %8.1f µs   p99 %8.1f µs   max %9.1f µs\n", what, v[n / 2] / 1e3, v[n * 99 / 100] / 1e3,
           v[n - 1] / 1e3);
}

/* PREFILL rows straight into the table, in one transaction (the store created the schema). */
static int prefill(const char *path, int64_t now)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open(path, &h);
    if (rc == SQLITE_OK) rc = sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(h, "INSERT INTO convo(key, root, agent, ask, at) VALUES(?1, ?1, ?1, 0, ?2)",
                                -1, &st, NULL);
    for (uint32_t i = 0; rc == SQLITE_OK && i < PREFILL; i++) {
        uint8_t k[32];
        key(k, i);
        sqlite3_bind_blob(st, 1, k, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now - PREFILL + i);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK) rc = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "prefill: %s\n", sqlite3_errmsg(h));
    sqlite3_close(h);
    return rc;
}

int main(int argc, char **argv)
{
    size_t ops = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    char dir[512], path[600];
    if (argc > 2) {
        snprintf(dir, sizeof(dir), "%s", argv[2]);
    } else {
        snprintf(dir, sizeof(dir), "%s/bench-state-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (mkdtemp(dir) == NULL) return perror("mkdtemp"), 1;
    }
    snprintf(path, sizeof(path), "%s/state.db", dir);
    unlink(path);
    nb_log_setup(NB_LOG_WARN, false);
    int64_t now = time(NULL);
    uint64_t *t = calloc(ops, sizeof(*t)), *t2 = calloc(ops, sizeof(*t2)), *t3 = calloc(ops, sizeof(*t3));
    nb_convo_entry_t e;
    memset(&e, 0, sizeof(e));
    e.agent[0] = 1;
    nb_chat_msg_t hist[3] = {{NB_ROLE_USER, "remember the word kiwi", 22},
                             {NB_ROLE_ASSISTANT, "echo: remember the word kiwi", 28},
                             {NB_ROLE_USER, "what did I say?", 15}};

    nb_convo_t *c = NULL;
    if (nb_convo_open(&c, path, PREFILL, 0) != 0) return 1;
    nb_convo_destroy(c);
    if (prefill(path, now) != SQLITE_OK) return 1;
    if (nb_convo_open(&c, path, PREFILL, 0) != 0) return 1;
    printf("SQLite %s, %s, %zu ops per figure, database of %zu conversations (max %d)\n",
           sqlite3_libversion(), path, ops, nb_convo_size(c), PREFILL);

    /* 1. synchronous puts: new keys, each evicts the oldest row */
    uint32_t next = PREFILL;
    for (size_t i = 0; i < ops; i++) {
        uint8_t k[32];
        key(k, next++);
        uint64_t t0 = ns();
        nb_convo_put(c, k, &e, now);
        t[i] = ns() - t0;
    }
    nb_convo_stats_t st;
    nb_convo_stats(c, &st);
    report("put, written at once (no loop; 1 transaction/put)", t, ops);

    /* 2. as the daemon runs it */
    uv_loop_t loop;
    uv_loop_init(&loop);
    nb_convo_set_loop(c, &loop);
    uint64_t writes0 = st.writes;
    for (size_t i = 0; i < ops; i++) {
        uint8_t k[32];
        key(k, next++);
        uint64_t t0 = ns();
        nb_convo_put(c, k, &e, now);
        t[i] = ns() - t0;
        t0 = ns();
        uv_run(&loop, UV_RUN_NOWAIT);
        t2[i] = ns() - t0;
        t0 = ns(); /* the reference: hashing a 3-message history, as every request does */
        nb_convo_key(k, hist, 3, NULL, 0);
        t3[i] = ns() - t0;
        if (i % 4 == 0) usleep(100); /* ~ 25,000 puts/s: still far more than real traffic */
    }
    report("put, background writes (loop set): the call", t, ops);
    report("  then one loop iteration (completions)", t2, ops);
    report("  reference: nb_convo_key of 3 messages, same loop", t3, ops);
    uv_run(&loop, UV_RUN_DEFAULT);
    nb_convo_stats(c, &st);
    printf("  background batches: %llu for %zu puts, slowest commit %.1f µs (off the loop), errors %llu\n",
           (unsigned long long)(st.writes - writes0), ops, st.max_write_us / 1.0,
           (unsigned long long)st.write_errors);

    /* 3. gets: cache hits (just put) and misses (older rows, only on disk) */
    for (size_t i = 0; i < ops; i++) {
        uint8_t k[32];
        key(k, next - 1 - (uint32_t)(i % 1000));
        uint64_t t0 = ns();
        const nb_convo_entry_t *g = nb_convo_get(c, k, now);
        t[i] = ns() - t0;
        if (g == NULL) fprintf(stderr, "hit %zu missing\n", i);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    report("get, in the memory cache", t, ops);
    uint32_t lo = next - PREFILL + 5000; /* alive rows, far from the cache */
    size_t misses = 0;
    for (size_t i = 0; i < ops; i++) {
        uint8_t k[32];
        key(k, lo + (uint32_t)((i * 7919u) % (PREFILL - 10000)));
        uint64_t t0 = ns();
        const nb_convo_entry_t *g = nb_convo_get(c, k, now);
        t[i] = ns() - t0;
        if (g == NULL) misses++;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    report("get, not cached: read from the database", t, ops);
    if (misses) printf("  (%zu not found)\n", misses);
    uv_run(&loop, UV_RUN_DEFAULT);
    nb_convo_stats(c, &st);
    printf("rows %zu, writes %llu, errors %llu, slowest background commit %llu µs\n", st.rows,
           (unsigned long long)st.writes, (unsigned long long)st.write_errors,
           (unsigned long long)st.max_write_us);
    nb_convo_destroy(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (argc <= 2) {
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    free(t);
    free(t2);
    free(t3);
    return 0;
}
