/*
 * bench_pool — verified events per second through the relay pool, frame → callback latency, and
 * the raw parse / verify cost beside it. Prints figures; never fails on them.
 *
 *   bench_pool --generate FILE --events N
 *       write N signed kind-20001 events (one JSON per line) for the flood server
 *   bench_pool --relay URL --events N [--verify-file FILE]
 *       subscribe on URL (bench/flood_relay.mjs sends every event of FILE, then EOSE), count
 *       the verified deliveries; with --verify-file also time nb_event_parse / nb_event_verify
 *       over the same events in a plain loop
 *
 * bench/bench_pool.sh runs both with the pool pinned to one CPU and the sender to the other.
 */
#include "bridge/err.h"
#include "bridge/event.h"
#include "bridge/filter.h"
#include "bridge/keys.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/relay_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

static size_t n_events = 100000;
static size_t received;
static uint64_t *lat_ns;
static uint64_t first_ns, last_ns;
static double cpu_first, cpu_last;
static nb_pool_t *pool;
static bool finished;

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int generate(const char *path)
{
    nb_keys_t keys;
    if (nb_keys_generate(&keys) < 0) return 1;
    FILE *f = fopen(path, "w");
    if (f == NULL) return 1;
    nb_buf_t b;
    nb_buf_init(&b, 1u << 20);
    for (size_t i = 0; i < n_events; i++) {
        nb_event_t ev;
        nb_event_init(&ev);
        ev.kind = 20001;
        ev.created_at = (int64_t)time(NULL);
        char text[160];
        int n = snprintf(text, sizeof text,
                         "chunk %zu: the quick brown fox jumps over the lazy dog, twice over.", i);
        nb_event_set_content(&ev, text, (size_t)n);
        NB_EVENT_TAG(&ev, "e", "5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36", "",
                     "root");
        NB_EVENT_TAG(&ev, "stream-seq", "1");
        nb_event_sign(&ev, &keys);
        nb_buf_reset(&b);
        nb_event_to_json(&b, &ev);
        fwrite(b.data, 1, b.len, f);
        fputc('\n', f);
        nb_event_dispose(&ev);
    }
    nb_buf_dispose(&b);
    nb_keys_dispose(&keys);
    return fclose(f) == 0 ? 0 : 1;
}

static void raw_costs(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t n = 0, bad = 0;
    uint64_t parse_ns = 0, verify_ns = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && line[len - 1] == '\n')
            len--;
        nb_event_t ev;
        nb_event_init(&ev);
        uint64_t t0 = uv_hrtime();
        int err = nb_event_parse(&ev, line, (size_t)len, NULL);
        uint64_t t1 = uv_hrtime();
        if (err == 0 && nb_event_verify(&ev) != 0) bad++;
        uint64_t t2 = uv_hrtime();
        parse_ns += t1 - t0;
        verify_ns += t2 - t1;
        nb_event_dispose(&ev);
        n++;
    }
    free(line);
    fclose(f);
    if (n == 0) return;
    printf("raw (same events, plain loop): parse %.2f us/event, verify (id + schnorr) %.2f us/event "
           "= %.0f verifies/s, parse+verify %.0f events/s%s\n",
           parse_ns / 1e3 / n, verify_ns / 1e3 / n, n / (verify_ns / 1e9), n / ((parse_ns + verify_ns) / 1e9),
           bad ? " (SOME FAILED)" : "");
}

static void on_event(void *ud, nb_sub_t *s, const nb_event_t *ev, const char *url)
{
    uint64_t now = uv_hrtime();
    if (received == 0) {
        first_ns = now;
        cpu_first = cpu_seconds();
    }
    if (received < n_events) lat_ns[received] = now - nb_pool_frame_hrtime(pool);
    received++;
    last_ns = now;
}

static void on_eose(void *ud, nb_sub_t *s)
{
    cpu_last = cpu_seconds();
    finished = true;
    nb_pool_stats_t st;
    nb_pool_stats(pool, &st);
    size_t n = received < n_events ? received : n_events;
    double wall = (last_ns - first_ns) / 1e9, cpu = cpu_last - cpu_first;
    qsort(lat_ns, n, sizeof *lat_ns, cmp_u64);
    printf("pool: %zu verified events (invalid %llu, dropped %llu) in %.1f ms wall = %.0f events/s; "
           "pool process CPU %.1f ms = %.0f events/s per core; frame->callback p50 %.1f us, p99 "
           "%.1f us, max %.1f us\n",
           received, (unsigned long long)st.invalid, (unsigned long long)(st.unwanted + st.duplicate),
           wall * 1e3, wall > 0 ? (received - 1) / wall : 0, cpu * 1e3, cpu > 0 ? (received - 1) / cpu : 0,
           n ? lat_ns[n / 2] / 1e3 : 0, n ? lat_ns[(size_t)(n * 0.99)] / 1e3 : 0,
           n ? lat_ns[n - 1] / 1e3 : 0);
    fflush(stdout);
    nb_pool_close(pool, NULL, NULL);
}

int main(int argc, char **argv)
{
    const char *gen = NULL, *url = NULL, *verify_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--generate") == 0)
            gen = argv[i + 1];
        else if (strcmp(argv[i], "--relay") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--events") == 0)
            n_events = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--verify-file") == 0)
            verify_file = argv[i + 1];
    }
    nb_mem_install();
    nb_log_setup(NB_LOG_WARN, false);
    nb_secp_init();
    if (gen != NULL) return generate(gen);
    if (url == NULL) {
        fprintf(stderr, "usage: bench_pool --generate FILE --events N | --relay URL --events N "
                        "[--verify-file FILE]\n");
        return 2;
    }
    if (verify_file != NULL) raw_costs(verify_file);

    uv_loop_t loop;
    uv_loop_init(&loop);
    nb_pool_config_t cfg;
    nb_pool_config_defaults(&cfg);
    cfg.urls = &url;
    cfg.n_urls = 1;
    cfg.dedup_capacity = n_events + 16; /* the realistic case: every id is new */
    if (nb_pool_create(&pool, &loop, &cfg) < 0) return 1;
    lat_ns = nb_calloc(n_events ? n_events : 1, sizeof *lat_ns);
    nb_filter_t f;
    nb_filter_init(&f);
    nb_filter_add_kind(&f, 20001);
    nb_sub_t *sub;
    nb_sub_cb_t cb = {on_event, on_eose, NULL};
    nb_pool_subscribe(pool, &sub, &f, 1, &cb, NULL);
    nb_filter_dispose(&f);
    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop);
    nb_free(lat_ns);
    nb_secp_dispose();
    return finished && rc == 0 ? 0 : 1;
}
