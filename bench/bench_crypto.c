/*
 * bench_crypto.c — the cost of events on one core: sign, verify, id, parse, parse+verify, against
 * the libsecp256k1 floor (schnorrsig_verify alone, public keys already parsed) measured in the
 * same run. Prints figures; never fails on them.
 *
 *   bench_crypto [runs=9] [ms per measurement=300]
 *
 * The events are what the hot path sees: TENEX kind 24135 stream deltas with six tags
 * (e root, e reply, a, llm-model, llm-ral, stream-seq) and 50–300 bytes of content (some of it
 * non-ASCII, quotes, newlines), as the wire JSON a relay sends. Each run measures every figure
 * once, interleaved, so slow drift of the machine hits all of them alike; medians over runs. The
 * ratios to the floor come from alternating passes (see paired_ratio), the figure that matters.
 */
#include "bridge/err.h"
#include "bridge/event.h"
#include "bridge/keys.h"
#include "bridge/mem.h"

#include <openssl/opensslv.h>
#include <sched.h>
#include <secp256k1_schnorrsig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NEVENTS 64
#define MAXRUNS 31

static volatile uint64_t sink; /* keeps results alive so nothing is optimized away */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    nb_event_t ev[NEVENTS]; /* signed, built with the API */
    char *wire[NEVENTS];    /* their wire JSON */
    size_t wire_len[NEVENTS];
    secp256k1_xonly_pubkey pk; /* parsed once, for the floor */
    nb_keys_t keys;
} fixture_t;

static void make_fixture(fixture_t *fx)
{
    uint8_t sec[32];
    for (int i = 0; i < 32; i++)
        sec[i] = (uint8_t)(0x5a ^ i);
    if (nb_keys_from_secret(&fx->keys, sec) != 0) {
        fprintf(stderr, "bench_crypto: key setup failed\n");
        exit(1);
    }
    static const char *const pieces[] = {
        "The build finished without errors. ",
        "Next I will run the integration suite against both relays, ",
        "then compare the latency figures with last week's numbers.\n\n",
        "Résumé: “déjà vu” — naïve café. ",
        "Use `\"quotes\"` and back\\slashes carefully; ",
        "日本語のテキストも少し。 ",
        "Done 🚀 ",
        "\tindented line\n",
    };
    char content[400];
    for (int i = 0; i < NEVENTS; i++) {
        size_t target = 50 + (size_t)(i * 250) / (NEVENTS - 1); /* 50 … 300 bytes */
        size_t n = 0;
        for (int k = i; n < target; k++) {
            const char *p = pieces[k % 8];
            size_t len = strlen(p);
            if (n + len > target) break;
            memcpy(content + n, p, len);
            n += len;
        }
        while (n < target)
            content[n++] = '.';
        nb_event_t *ev = &fx->ev[i];
        nb_event_init(ev);
        ev->kind = 24135;
        ev->created_at = 1767225600 + i;
        char seq[16], ral[16];
        snprintf(seq, sizeof seq, "%d", i + 1);
        snprintf(ral, sizeof ral, "%d", i / 16 + 1);
        NB_EVENT_TAG(ev, "e", "5d040f72ef72b379b4ea80a4dec909c9ef78d820858095285956026f6ff43f2e", "", "root");
        NB_EVENT_TAG(ev, "e", "0d14c74baaeb441d040fa61286e9f66790458369a1a30ad29a7459f27725a3a6", "",
                     "reply");
        NB_EVENT_TAG(ev, "a",
                     "31933:17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917:my-project");
        NB_EVENT_TAG(ev, "llm-model", "claude-sonnet-4");
        NB_EVENT_TAG(ev, "llm-ral", ral);
        NB_EVENT_TAG(ev, "stream-seq", seq);
        nb_event_set_content(ev, content, n);
        if (nb_event_sign(ev, &fx->keys) != 0) {
            fprintf(stderr, "bench_crypto: signing failed\n");
            exit(1);
        }
        nb_buf_t b;
        nb_buf_init(&b, 1 << 16);
        if (nb_event_to_json(&b, ev) != 0) exit(1);
        fx->wire[i] = nb_buf_steal(&b, &fx->wire_len[i]);
    }
    if (secp256k1_xonly_pubkey_parse(nb_secp_ctx(), &fx->pk, fx->keys.pubkey) != 1) exit(1);
}

/* Each measurement runs whole passes over the 64 events until ms have passed; returns ops/s. */
typedef uint64_t (*pass_fn)(fixture_t *fx);

static double measure(fixture_t *fx, pass_fn fn, double seconds)
{
    uint64_t ops = 0;
    double t0 = now(), t;
    do {
        ops += fn(fx);
        t = now();
    } while (t - t0 < seconds);
    return (double)ops / (t - t0);
}

/*
 * Seconds per op of a and of b, measured in alternating passes so that both see the same
 * machine (the other core's load, frequency changes): the ratio of the two is what we report.
 */
static double paired_ratio(fixture_t *fx, pass_fn a, pass_fn b, double seconds)
{
    double ta = 0, tb = 0;
    uint64_t na = 0, nb = 0;
    double start = now();
    while (now() - start < seconds) {
        double t0 = now();
        na += a(fx);
        double t1 = now();
        nb += b(fx);
        double t2 = now();
        ta += t1 - t0;
        tb += t2 - t1;
    }
    return (ta / (double)na) / (tb / (double)nb);
}

static uint64_t pass_sign(fixture_t *fx)
{
    for (int i = 0; i < NEVENTS; i++)
        sink += (uint64_t)nb_event_sign(&fx->ev[i], &fx->keys);
    return NEVENTS;
}

static uint64_t pass_raw_sign(fixture_t *fx)
{
    /* libsecp256k1 alone: sign32 over the ready id with fixed aux bytes (no hashing, no getrandom). */
    const secp256k1_context *ctx = nb_secp_ctx();
    uint8_t sig[64], aux[32] = {1};
    for (int i = 0; i < NEVENTS; i++) {
        sink += (uint64_t)secp256k1_schnorrsig_sign32(ctx, sig, fx->ev[i].id, &fx->keys.keypair, aux);
        sink += sig[0];
    }
    return NEVENTS;
}

static uint64_t pass_verify(fixture_t *fx)
{
    for (int i = 0; i < NEVENTS; i++)
        sink += (uint64_t)(nb_event_verify(&fx->ev[i]) != 0);
    return NEVENTS;
}

static uint64_t pass_raw_verify(fixture_t *fx)
{
    const secp256k1_context *ctx = nb_secp_ctx();
    for (int i = 0; i < NEVENTS; i++)
        sink += (uint64_t)secp256k1_schnorrsig_verify(ctx, fx->ev[i].sig, fx->ev[i].id, 32, &fx->pk);
    return NEVENTS;
}

static uint64_t pass_raw_keyparse(fixture_t *fx)
{
    /* What nb_event_verify's key cache saves per event from a known author. */
    const secp256k1_context *ctx = nb_secp_ctx();
    secp256k1_xonly_pubkey pk;
    for (int i = 0; i < NEVENTS; i++)
        sink += (uint64_t)secp256k1_xonly_pubkey_parse(ctx, &pk, fx->ev[i].pubkey);
    return NEVENTS;
}

static uint64_t pass_id(fixture_t *fx)
{
    uint8_t id[32];
    for (int i = 0; i < NEVENTS; i++) {
        nb_event_compute_id(&fx->ev[i], id);
        sink += id[0];
    }
    return NEVENTS;
}

static uint64_t pass_parse(fixture_t *fx)
{
    nb_event_t ev;
    nb_event_init(&ev);
    for (int i = 0; i < NEVENTS; i++) {
        sink += (uint64_t)(nb_event_parse(&ev, fx->wire[i], fx->wire_len[i], NULL) != 0);
        nb_event_dispose(&ev);
    }
    return NEVENTS;
}

static uint64_t pass_parse_verify(fixture_t *fx)
{
    nb_event_t ev;
    nb_event_init(&ev);
    for (int i = 0; i < NEVENTS; i++) {
        sink += (uint64_t)(nb_event_parse(&ev, fx->wire[i], fx->wire_len[i], NULL) != 0);
        sink += (uint64_t)(nb_event_verify(&ev) != 0);
        nb_event_dispose(&ev);
    }
    return NEVENTS;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { M_SIGN, M_RAW_SIGN, M_VERIFY, M_RAW_VERIFY, M_RAW_KEYPARSE, M_ID, M_PARSE, M_PARSE_VERIFY, M_COUNT };

static const struct {
    const char *name;
    pass_fn fn;
} measures[M_COUNT] = {
    [M_SIGN] = {"nb_event_sign (id + getrandom + sign32)", pass_sign},
    [M_RAW_SIGN] = {"  floor: secp256k1_schnorrsig_sign32", pass_raw_sign},
    [M_VERIFY] = {"nb_event_verify (id + cached key + verify)", pass_verify},
    [M_RAW_VERIFY] = {"  floor: secp256k1_schnorrsig_verify", pass_raw_verify},
    [M_RAW_KEYPARSE] = {"  xonly_pubkey_parse (skipped on cache hit)", pass_raw_keyparse},
    [M_ID] = {"nb_event_compute_id", pass_id},
    [M_PARSE] = {"nb_event_parse (+ dispose)", pass_parse},
    [M_PARSE_VERIFY] = {"nb_event_parse + nb_event_verify", pass_parse_verify},
};

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 9;
    double secs = (argc > 2 ? atof(argv[2]) : 300) / 1000.0;
    if (runs < 1 || runs > MAXRUNS) runs = 9;
    if (secs <= 0) secs = 0.3;

    /* One core: stay on the CPU we started on, so migrations do not add noise. */
    int cpu = sched_getcpu();
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) cpu = -1;
    }

    fixture_t *fx = nb_calloc(1, sizeof *fx);
    make_fixture(fx);
    size_t wire = 0, content = 0;
    for (int i = 0; i < NEVENTS; i++) {
        wire += fx->wire_len[i];
        content += fx->ev[i].content.len;
        if (nb_event_verify(&fx->ev[i]) != 0) {
            fprintf(stderr, "bench_crypto: fixture does not verify\n");
            return 1;
        }
    }
    printf(
        "bench_crypto: %d kind-24135 events, 6 tags, content %zu..%zu B (mean %zu), wire JSON mean %zu B\n",
        NEVENTS, fx->ev[0].content.len, fx->ev[NEVENTS - 1].content.len, content / NEVENTS, wire / NEVENTS);
    printf("runs: %d x %.0f ms per figure, pinned to cpu %d, libsecp256k1 + OpenSSL %s\n\n", runs,
           secs * 1000, cpu, OPENSSL_VERSION_TEXT);

    double rate[M_COUNT][MAXRUNS], ratio[MAXRUNS], vratio[MAXRUNS];
    for (int m = 0; m < M_COUNT; m++)
        measure(fx, measures[m].fn, 0.05); /* warm caches and the CPU clock */
    for (int r = 0; r < runs; r++) {
        for (int m = 0; m < M_COUNT; m++)
            rate[m][r] = measure(fx, measures[m].fn, secs);
        ratio[r] = paired_ratio(fx, pass_parse_verify, pass_raw_verify, secs);
        vratio[r] = paired_ratio(fx, pass_verify, pass_raw_verify, secs);
    }

    printf("%-44s %12s %10s %12s %12s\n", "", "median op/s", "us/op", "min op/s", "max op/s");
    for (int m = 0; m < M_COUNT; m++) {
        double lo = rate[m][0], hi = rate[m][0];
        for (int r = 1; r < runs; r++) {
            lo = rate[m][r] < lo ? rate[m][r] : lo;
            hi = rate[m][r] > hi ? rate[m][r] : hi;
        }
        double med = median(rate[m], runs);
        printf("%-44s %12.0f %10.2f %12.0f %12.0f\n", measures[m].name, med, 1e6 / med, lo, hi);
    }
    double rlo = ratio[0], rhi = ratio[0];
    for (int r = 1; r < runs; r++) {
        rlo = ratio[r] < rlo ? ratio[r] : rlo;
        rhi = ratio[r] > rhi ? ratio[r] : rhi;
    }
    printf("\ntime per op, measured in alternating passes against the raw verify floor:\n");
    printf("parse+verify / raw verify: %.3fx median (min %.3f, max %.3f; goal <= 1.3x)\n",
           median(ratio, runs), rlo, rhi);
    printf("verify       / raw verify: %.3fx median\n", median(vratio, runs));

    for (int i = 0; i < NEVENTS; i++) {
        nb_event_dispose(&fx->ev[i]);
        nb_free(fx->wire[i]);
    }
    nb_keys_dispose(&fx->keys);
    nb_free(fx);
    nb_secp_dispose();
    return 0;
}
