/*
 * bench_bridge_load — `bridge --server` end to end, driven by one process on one libuv loop that
 * plays every other part:
 *
 *   - a minimal Nostr relay: a WebSocket server speaking NIP-01 (REQ → stored matches → EOSE,
 *     EVENT → signature check → OK, CLOSE) that the bridge connects to as its only relay;
 *   - the TENEX side: the owner's 31933 project (one agent on the roster), the backend's 24010
 *     status (re-signed every 10 s), and one agent that answers each kind:1 p-tagging it with
 *     24135 stream deltas and a completion. The deltas are signed before the measured phase and
 *     each frame is written straight onto the bridge's relay socket; the bench notes the time
 *     just before that write (uv_hrtime);
 *   - N HTTP/1.1 clients, each holding one SSE stream (`POST /bench/chat/completions`,
 *     stream:true), noting when each delta's bytes arrive (uv_hrtime at the read callback).
 *
 * Every delta's content starts with "B<stream>.<seq>|", so arrival − send is joined in memory,
 * on one clock. The bench spawns the bridge itself, pinned to one CPU (--bridge-cpu), and pins
 * itself to the other (--bench-cpu). Before the bridge starts it measures, on the bridge's CPU,
 * the libsecp256k1 floor (schnorrsig verify / sign32, and nb_event parse + verify) and the
 * loopback transport floor (a 900-byte message to an echo process on the bridge's CPU and back).
 * In every measured phase the loop busy-polls (an active idle handle), so the bench's own wake-ups
 * never add to a figure; the transport floor is read the same way (and, for reference, sleeping).
 * Other processes' CPU time during the measured phase is reported (others_cpu_pct) so a noisy run
 * can be recognised and repeated. --dump FILE writes "sent_at_ms latency_us" per delta.
 *
 * The bridge's own view: just before the measured phase starts and just after it ends (outside
 * it, and outside the bridge CPU figures), the bench reads GET /metrics once with a blocking
 * client and subtracts the two snapshots of bridge_chunk_delay_seconds (relay message received →
 * its text handed to the SSE stream) and bridge_prepublish_seconds (the bridge's own time before a
 * turn's kind:1 goes out), so only the measured window counts; p50/p90/p99 are interpolated inside
 * the bucket as Prometheus' histogram_quantile does (bridge_chunk_* and bridge_prepub_* on the
 * result line, only where the bridge has the histogram and the window has observations).
 *
 * Scenarios (one per run; bench/bench_bridge.sh runs the set and prints the table):
 *   latency     N streams, each receiving deltas at --rate per second for --seconds, spread
 *               evenly (stream i is offset by i/N of a period); added latency per delta
 *   throughput  N streams, closed loop: each stream has --window deltas in flight, the next is
 *               sent when one arrives; verified chunks per bridge CPU second at saturation
 *   publish     --requests sequential requests on fresh connections: request written → the
 *               signed kind:1 read on the relay socket (and where that time goes)
 *   capacity    N idle streams: bridge RSS before/after, held --hold seconds, then one delta to
 *               every stream at once, then a completion to each
 *   requests    --clients C keep-alive HTTP/1.1 connections, closed loop for --seconds: each POSTs a
 *               short non-streaming request ("stream":false, a fresh user text, so a new thread
 *               each time), reads the whole JSON answer, checks its status and text, and sends
 *               the next; the agent answers each kind:1 at once with one delta (seq 1) and the
 *               completion, signed then. Requests/s, request written → whole response read, and
 *               requests per bridge CPU second
 *
 * Prints a "floor …" and a "result …" line (key=value); never fails on figures. Exit status 1 only when the run itself broke (bridge died, timeout, no stream open).
 */
#include "bridge/err.h"
#include "bridge/event.h"
#include "bridge/filter.h"
#include "bridge/hex.h"
#include "bridge/keys.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/relay_msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sched.h>
#include <secp256k1_schnorrsig.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

extern char **environ;

/* ---- options ------------------------------------------------------------------------------ */

typedef enum { SC_LATENCY = 1, SC_THROUGHPUT, SC_PUBLISH, SC_CAPACITY, SC_REQUESTS } scenario_t;

static struct {
    const char *bridge;
    scenario_t sc;
    const char *sc_name;
    int streams;
    double rate;
    double seconds;
    int requests;
    int clients;
    int window;
    double hold;
    int content;
    int bridge_cpu, bench_cpu;
    const char *bridge_log;
    double timeout;
    int floor_ms;
    int warmup;
    bool probe_extra;
    int open_concurrency;
    const char *dump;
    const char *bridge_args[32];
    int n_bridge_args;
} o = {
    .sc = SC_LATENCY,
    .sc_name = "latency",
    .streams = 1,
    .rate = 20,
    .seconds = 10,
    .requests = 200,
    .clients = 32,
    .window = 1,
    .hold = 5,
    .content = 100,
    .bridge_cpu = 0,
    .bench_cpu = 1,
    .bridge_log = "/dev/null",
    .timeout = 600,
    .floor_ms = 200,
    .warmup = 20,
    .open_concurrency = 64,
};

/* ---- small helpers ------------------------------------------------------------------------ */

static uv_loop_t *loop;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static uv_process_t bridge_proc;
static bool bridge_running;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_bridge_load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (bridge_running) {
        kill(bridge_proc.pid, SIGKILL);
        waitpid(bridge_proc.pid, NULL, 0);
    }
    exit(1);
}

static void pin(int cpu)
{
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) fprintf(stderr, "warning: cannot pin to cpu %d\n", cpu);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* percentile q (0..1) of sorted v[0..n), in µs */
static double pct_us(const uint64_t *v, size_t n, double q)
{
    if (n == 0) return 0;
    size_t i = (size_t)(q * (double)n);
    if (i >= n) i = n - 1;
    return (double)v[i] / 1e3;
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of process pid in seconds (whole process, all threads) */
static double cpu_of(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL) return 0;
    unsigned long ut = 0, st = 0;
    /* fields after ") ": 3 state … 14 utime 15 stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy and total jiffies of the whole machine (all CPUs), from /proc/stat. */
static void machine_jiffies(double *busy, double *total)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    *busy = *total = 0;
    if (f == NULL) return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &v[7]) == 8) {
        for (int i = 0; i < 8; i++)
            *total += (double)v[i];
        *busy = *total - (double)v[3] - (double)v[4];
    }
    fclose(f);
}

/* VmRSS of pid in kB */
static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* ---- keys and the TENEX side's stored events ---------------------------------------------- */

static nb_keys_t k_owner, k_backend, k_agent;
static char coord[200];
static const char DTAG[] = "bench";
static const char SLUG[] = "bench-agent";
static const char MODEL[] = "bench-model";

typedef struct {
    bool used;
    nb_event_t ev;
} stored_t;
enum { ST_PROJECT, ST_STATUS, ST_HEARTBEAT, ST_N };
static stored_t store[ST_N];

static void store_put(int slot, nb_event_t *ev)
{
    if (store[slot].used) nb_event_dispose(&store[slot].ev);
    store[slot].ev = *ev; /* takes the event over */
    store[slot].used = true;
}

static void make_project(void)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 31933;
    ev.created_at = (int64_t)time(NULL);
    nb_event_set_content(&ev, "bench project", 13);
    NB_EVENT_TAG(&ev, "d", DTAG);
    NB_EVENT_TAG(&ev, "title", "Bench project");
    NB_EVENT_TAG(&ev, "p", k_agent.pubkey_hex);
    nb_event_sign(&ev, &k_owner);
    store_put(ST_PROJECT, &ev);
}

static void make_status(void)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 24010;
    ev.created_at = (int64_t)time(NULL);
    NB_EVENT_TAG(&ev, "a", coord);
    NB_EVENT_TAG(&ev, "p", k_owner.pubkey_hex);
    NB_EVENT_TAG(&ev, "agent", k_agent.pubkey_hex, SLUG);
    nb_event_sign(&ev, &k_backend);
    store_put(ST_STATUS, &ev);
    nb_event_init(&ev);
    ev.kind = 24012;
    ev.created_at = (int64_t)time(NULL);
    NB_EVENT_TAG(&ev, "p", k_owner.pubkey_hex);
    nb_event_sign(&ev, &k_backend);
    store_put(ST_HEARTBEAT, &ev);
}

/* ---- a tiny multimap (chained, 2^16 buckets) ---------------------------------------------- */

typedef struct hent {
    uint64_t key;
    void *val;
    struct hent *next;
} hent_t;
#define HBITS 16
static hent_t *h_subid[1u << HBITS], *h_etag[1u << HBITS];

static size_t hslot(uint64_t k)
{
    return (size_t)((k * 0x9E3779B97F4A7C15ull) >> (64 - HBITS));
}
static void hput(hent_t **t, uint64_t k, void *v)
{
    hent_t *e = nb_malloc(sizeof *e);
    e->key = k;
    e->val = v;
    size_t i = hslot(k);
    e->next = t[i];
    t[i] = e;
}
static void hdel(hent_t **t, uint64_t k, void *v)
{
    for (hent_t **pp = &t[hslot(k)]; *pp; pp = &(*pp)->next)
        if ((*pp)->key == k && (*pp)->val == v) {
            hent_t *e = *pp;
            *pp = e->next;
            nb_free(e);
            return;
        }
}
static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}
static uint64_t hexkey(const char *hex, size_t n)
{
    return fnv(hex, n < 16 ? n : 16);
}

/* ---- the relay: WebSocket server ---------------------------------------------------------- */

typedef struct rconn rconn_t;
typedef struct rsub {
    rconn_t *c;
    char id[NB_SUBID_MAX + 1];
    nb_filter_t f[NB_REQ_MAX_FILTERS];
    uint32_t n;
    int stream; /* client slot answered on this subscription, or -1 */
    uint64_t t_req, t_eose;
    struct rsub *prev, *next;
} rsub_t;

struct rconn {
    uv_tcp_t tcp;
    bool ws, closing;
    nb_buf_t in;
    nb_buf_t frag; /* a fragmented message being reassembled */
    nb_buf_t q;    /* bytes waiting behind the write in flight */
    bool writing;
    uv_write_t wr;
    char *wdata;
    rsub_t *subs;
    uint32_t n_subs;
    rconn_t *prev, *next;
};

static uv_tcp_t relay_listener;
static int relay_port;
static rconn_t *conns;
static nb_relay_msg_t rmsg;
static nb_buf_t scratch;
static struct {
    uint64_t reqs, closes, events_in, bad_sig, frames_out, bytes_out, queued_writes;
} rstat;

static void rc_write_next(rconn_t *c);

static void on_rc_written(uv_write_t *w, int status)
{
    rconn_t *c = w->data;
    nb_free(c->wdata);
    c->wdata = NULL;
    c->writing = false;
    if (status < 0 || c->closing) return;
    if (c->q.len) rc_write_next(c);
}

static void rc_write_next(rconn_t *c)
{
    size_t n;
    c->wdata = nb_buf_steal(&c->q, &n);
    uv_buf_t b = uv_buf_init(c->wdata, (unsigned)n);
    c->writing = true;
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_rc_written) != 0) {
        nb_free(c->wdata);
        c->wdata = NULL;
        c->writing = false;
    }
}

/* Write p[0..n) on the relay connection: at once if nothing is queued, else behind the queue. */
static void rc_send(rconn_t *c, const char *p, size_t n)
{
    if (c->closing) return;
    rstat.frames_out++;
    rstat.bytes_out += n;
    if (!c->writing && c->q.len == 0) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r == (int)n) return;
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r != UV_EAGAIN) {
            return; /* the read side notices the failure */
        }
    }
    rstat.queued_writes++;
    nb_buf_append(&c->q, p, n);
    if (!c->writing) rc_write_next(c);
}

static void ws_frame(nb_buf_t *out, int opcode, const char *p, size_t n)
{
    uint8_t h[10];
    size_t hl = 2;
    h[0] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        h[1] = (uint8_t)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)(n >> (56 - 8 * i));
        hl = 10;
    }
    nb_buf_append(out, h, hl);
    nb_buf_append(out, p, n);
}

static nb_buf_t framebuf;

/* Send one text message (already built in msg) as a WebSocket frame. */
static void rc_send_msg(rconn_t *c, const char *msg, size_t n)
{
    nb_buf_reset(&framebuf);
    ws_frame(&framebuf, 0x1, msg, n);
    rc_send(c, framebuf.data, framebuf.len);
}

static void sub_index(rsub_t *s, bool add)
{
    uint64_t k = fnv(s->id, strlen(s->id)) ^ (uint64_t)(uintptr_t)s->c;
    if (add)
        hput(h_subid, k, s);
    else
        hdel(h_subid, k, s);
    for (uint32_t i = 0; i < s->n; i++)
        for (uint32_t t = 0; t < s->f[i].n_tags; t++) {
            const nb_filter_tag_t *ft = &s->f[i].tags[t];
            if (ft->letter != 'e') continue;
            for (uint32_t v = 0; v < ft->n; v++) {
                uint64_t ek = hexkey(ft->values[v].p, ft->values[v].len);
                if (add)
                    hput(h_etag, ek, s);
                else
                    hdel(h_etag, ek, s);
            }
        }
}

static rsub_t *sub_find(rconn_t *c, const char *id)
{
    uint64_t k = fnv(id, strlen(id)) ^ (uint64_t)(uintptr_t)c;
    for (hent_t *e = h_subid[hslot(k)]; e; e = e->next) {
        rsub_t *s = e->val;
        if (e->key == k && s->c == c && strcmp(s->id, id) == 0) return s;
    }
    return NULL;
}

/* The subscription of connection c whose #e condition names root_hex. */
static rsub_t *sub_by_e(rconn_t *c, const char *root_hex)
{
    uint64_t k = hexkey(root_hex, 64);
    for (hent_t *e = h_etag[hslot(k)]; e; e = e->next) {
        rsub_t *s = e->val;
        if (e->key != k || s->c != c) continue;
        for (uint32_t i = 0; i < s->n; i++)
            for (uint32_t t = 0; t < s->f[i].n_tags; t++) {
                const nb_filter_tag_t *ft = &s->f[i].tags[t];
                if (ft->letter != 'e') continue;
                for (uint32_t v = 0; v < ft->n; v++)
                    if (ft->values[v].len == 64 && memcmp(ft->values[v].p, root_hex, 64) == 0) return s;
            }
    }
    return NULL;
}

static void on_sub_gone(rsub_t *s); /* client side: forget it */

static void sub_free(rsub_t *s)
{
    rconn_t *c = s->c;
    sub_index(s, false);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->subs = s->next;
    if (s->next) s->next->prev = s->prev;
    c->n_subs--;
    on_sub_gone(s);
    for (uint32_t i = 0; i < s->n; i++)
        nb_filter_dispose(&s->f[i]);
    nb_free(s);
}

static bool sub_matches(const rsub_t *s, const nb_event_t *ev)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (nb_filter_matches(&s->f[i], ev)) return true;
    return false;
}

static void send_event_to(rsub_t *s, const nb_event_t *ev)
{
    nb_buf_reset(&scratch);
    nb_msg_build_sub_event(&scratch, s->id, ev);
    rc_send_msg(s->c, scratch.data, scratch.len);
}

/* A stored event changed: hand it to every live subscription it matches (rare: status). */
static void broadcast_stored(int slot)
{
    for (rconn_t *c = conns; c; c = c->next)
        for (rsub_t *s = c->subs; s; s = s->next)
            if (sub_matches(s, &store[slot].ev)) send_event_to(s, &store[slot].ev);
}

static void agent_on_message(rconn_t *c, const nb_event_t *ev, uint64_t t);

static void on_req(rconn_t *c, uint64_t t)
{
    rstat.reqs++;
    rsub_t *old = sub_find(c, rmsg.sub_id);
    if (old) sub_free(old);
    rsub_t *s = nb_calloc(1, sizeof *s);
    s->c = c;
    s->stream = -1;
    s->t_req = t;
    snprintf(s->id, sizeof s->id, "%s", rmsg.sub_id);
    s->n = rmsg.n_filters;
    for (uint32_t i = 0; i < s->n; i++)
        nb_filter_copy(&s->f[i], &rmsg.filters[i]);
    s->next = c->subs;
    if (c->subs) c->subs->prev = s;
    c->subs = s;
    c->n_subs++;
    sub_index(s, true);
    for (int i = 0; i < ST_N; i++)
        if (store[i].used && sub_matches(s, &store[i].ev)) send_event_to(s, &store[i].ev);
    nb_buf_reset(&scratch);
    nb_msg_build_eose(&scratch, s->id);
    s->t_eose = uv_hrtime(); /* the relay's part ends here: the write is transport */
    rc_send_msg(c, scratch.data, scratch.len);
}

static void on_event_in(rconn_t *c, uint64_t t)
{
    rstat.events_in++;
    const nb_event_t *ev = &rmsg.event;
    bool ok = nb_event_verify(ev) == 0;
    if (!ok) rstat.bad_sig++;
    nb_buf_reset(&scratch);
    nb_msg_build_ok(&scratch, ev->id, ok, ok ? "" : "invalid: bad signature");
    rc_send_msg(c, scratch.data, scratch.len);
    if (!ok || ev->kind != 1) return;
    uint32_t from = 0;
    const nb_tag_t *tag;
    while ((tag = nb_event_next_tag(ev, "p", &from)) != NULL)
        if (tag->n >= 2 && nb_tag_item_eq(tag, 1, k_agent.pubkey_hex)) {
            agent_on_message(c, ev, t);
            return;
        }
}

static void relay_message(rconn_t *c, const char *p, size_t n, uint64_t t)
{
    if (nb_client_msg_parse(&rmsg, p, n, NULL) != 0) {
        fprintf(stderr, "relay: unparsable message from the bridge: %.*s\n", (int)(n > 200 ? 200 : n), p);
        return;
    }
    switch (rmsg.type) {
    case NB_RMSG_REQ:
        on_req(c, t);
        break;
    case NB_RMSG_CLOSE: {
        rstat.closes++;
        rsub_t *s = sub_find(c, rmsg.sub_id);
        if (s) sub_free(s);
        break;
    }
    case NB_RMSG_EVENT:
        on_event_in(c, t);
        break;
    default:
        break;
    }
}

static void on_rc_closed(uv_handle_t *h)
{
    rconn_t *c = h->data;
    nb_buf_dispose(&c->in);
    nb_buf_dispose(&c->frag);
    nb_buf_dispose(&c->q);
    nb_free(c);
}

static void rc_close(rconn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    while (c->subs)
        sub_free(c->subs);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next) c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_rc_closed);
}

static int ws_handshake(rconn_t *c)
{
    char *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
    if (end == NULL) return c->in.len > 16384 ? -1 : 0;
    *end = '\0';
    char *k = strcasestr(c->in.data, "\r\nSec-WebSocket-Key:");
    if (k == NULL) return -1;
    k += 20;
    while (*k == ' ')
        k++;
    size_t kl = strcspn(k, "\r\n ");
    char cat[128];
    snprintf(cat, sizeof cat, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)(kl > 60 ? 60 : kl), k);
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned int sl = 0;
    EVP_Digest(cat, strlen(cat), sha, &sl, EVP_sha1(), NULL);
    char acc[64];
    EVP_EncodeBlock((unsigned char *)acc, sha, (int)sl);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     acc);
    rc_send(c, resp, (size_t)n);
    nb_buf_consume(&c->in, (size_t)(end + 4 - c->in.data));
    c->ws = true;
    return 1;
}

/* Parse every complete frame in c->in. */
static void ws_frames(rconn_t *c, uint64_t t)
{
    size_t pos = 0;
    while (!c->closing) {
        const uint8_t *b = (const uint8_t *)c->in.data + pos;
        size_t avail = c->in.len - pos;
        if (avail < 2) break;
        int op = b[0] & 0x0f;
        bool fin = (b[0] & 0x80) != 0, masked = (b[1] & 0x80) != 0;
        uint64_t len = b[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4) break;
            len = ((uint64_t)b[2] << 8) | b[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | b[2 + i];
            hl = 10;
        }
        if (len > (64u << 20)) {
            rc_close(c);
            return;
        }
        size_t mk = hl;
        if (masked) hl += 4;
        if (avail < hl + len) break;
        char *p = c->in.data + pos + hl;
        if (masked)
            for (uint64_t i = 0; i < len; i++)
                p[i] ^= (char)b[mk + (i & 3)];
        pos += hl + (size_t)len;
        if (op == 0x8) { /* close */
            rc_close(c);
            return;
        } else if (op == 0x9) { /* ping → pong */
            nb_buf_reset(&framebuf);
            ws_frame(&framebuf, 0xA, p, (size_t)len);
            rc_send(c, framebuf.data, framebuf.len);
        } else if (op == 0x1 || op == 0x0) {
            if (fin && op == 0x1 && c->frag.len == 0) {
                relay_message(c, p, (size_t)len, t);
            } else {
                nb_buf_append(&c->frag, p, (size_t)len);
                if (fin) {
                    relay_message(c, c->frag.data, c->frag.len, t);
                    nb_buf_reset(&c->frag);
                }
            }
        }
    }
    if (!c->closing) nb_buf_consume(&c->in, pos);
}

static char rbuf[1 << 16];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    *b = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_rc_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    uint64_t t = uv_hrtime();
    rconn_t *c = st->data;
    if (nread < 0) {
        rc_close(c);
        return;
    }
    if (nread == 0) return;
    nb_buf_append(&c->in, b->base, (size_t)nread);
    if (!c->ws) {
        int r = ws_handshake(c);
        if (r < 0) {
            rc_close(c);
            return;
        }
        if (r == 0) return;
    }
    ws_frames(c, t);
}

static void on_relay_conn(uv_stream_t *server, int status)
{
    if (status < 0) return;
    rconn_t *c = nb_calloc(1, sizeof *c);
    nb_buf_init(&c->in, 128u << 20);
    nb_buf_init(&c->frag, 64u << 20);
    nb_buf_init(&c->q, SIZE_MAX);
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_rc_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_rc_read);
}

/* ---- the client streams ------------------------------------------------------------------- */

typedef enum { R_QUICK = 1, R_MEASURE } role_t;
typedef enum { CS_IDLE = 0, CS_CONNECTING, CS_SENT, CS_OPEN, CS_DONE } cstate_t;
typedef enum { B_HEAD = 0, B_SIZE, B_DATA, B_CRLF, B_END, B_PLAIN } bstate_t;
#define LINE_CAP 1024

typedef struct stream {
    int slot;
    role_t role;
    cstate_t st;
    bool tcp_live;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wr;
    char req[512];
    /* the response */
    nb_buf_t hdr;
    int status;
    bstate_t bs;
    uint64_t chunk_left;
    char line[LINE_CAP];
    size_t line_len;
    bool done_seen, early_close, sse_error, settled;
    uint64_t t_req, t_headers, t_done;
    /* relay side */
    rsub_t *sub;
    char root_hex[65], msg_hex[65], user_hex[65];
    uint64_t t_relay_req, t_relay_eose, t_relay_event;
    bool published;
    /* the agent's frames for this stream */
    nb_buf_t frames;
    uint32_t *off; /* off[k] .. off[k+1]: frame of seq k+1 */
    uint32_t k;    /* frames built */
    uint32_t sent; /* frames sent (seq 1..sent) */
    uint64_t *tsend;
    uint32_t recvd, next_seq, misorder;
    bool completion_sent;
} stream_t;

static stream_t *streams;
static int n_slots;
static struct sockaddr_in http_addr;
static int http_port;
static struct {
    uint64_t opened, open_ok, ended, early, non200, sse_errors, misrouted, deltas_in, refused_retries;
    int first_bad_status;
    char first_error[512];
} cs;

static void on_stream_open(stream_t *s);
static void on_stream_end(stream_t *s);
static void settle(stream_t *s);
static void on_delta_in(stream_t *s, int slot, uint32_t seq, uint64_t t);
static void start_stream(stream_t *s);

static void on_sub_gone(rsub_t *sub)
{
    if (sub->stream >= 0 && sub->stream < n_slots && streams[sub->stream].sub == sub)
        streams[sub->stream].sub = NULL;
}

static void on_stream_closed(uv_handle_t *h)
{
    stream_t *s = h->data;
    s->tcp_live = false;
}

static void stream_end(stream_t *s, uint64_t t)
{
    if (s->st == CS_DONE) return;
    bool was_open = s->st == CS_OPEN;
    s->st = CS_DONE;
    s->t_done = t;
    if (!s->done_seen && was_open) {
        s->early_close = true;
        cs.early++;
    }
    cs.ended++;
    settle(s);
    if (s->tcp_live && !uv_is_closing((uv_handle_t *)&s->tcp)) uv_close((uv_handle_t *)&s->tcp, on_stream_closed);
    on_stream_end(s);
}

static void note_error(const char *p, size_t n)
{
    if (cs.first_error[0] == '\0')
        snprintf(cs.first_error, sizeof cs.first_error, "%.*s", (int)(n > 400 ? 400 : n), p);
}

static void sse_line(stream_t *s, const char *p, size_t n, uint64_t t)
{
    if (n < 6 || memcmp(p, "data: ", 6) != 0) return;
    p += 6;
    n -= 6;
    if (n >= 6 && memcmp(p, "[DONE]", 6) == 0) {
        s->done_seen = true;
        return;
    }
    const char *m = memmem(p, n, "\"content\":\"B", 12);
    if (m != NULL) {
        m += 12;
        char *e;
        long slot = strtol(m, &e, 10);
        if (*e == '.') {
            unsigned long seq = strtoul(e + 1, &e, 10);
            if (*e == '|') on_delta_in(s, (int)slot, (uint32_t)seq, t);
        }
        return;
    }
    if (memmem(p, n, "\"error\"", 7) != NULL) {
        s->sse_error = true;
        cs.sse_errors++;
        note_error(p, n);
    }
}

static void sse_bytes(stream_t *s, const char *p, size_t n, uint64_t t)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        size_t room = LINE_CAP - s->line_len;
        memcpy(s->line + s->line_len, p, take < room ? take : room);
        s->line_len += take < room ? take : room;
        if (nl == NULL) return;
        sse_line(s, s->line, s->line_len, t);
        s->line_len = 0;
        p = nl + 1;
        n -= take + 1;
    }
}

static void body_bytes(stream_t *s, const char *p, size_t n, uint64_t t)
{
    while (n > 0) {
        switch (s->bs) {
        case B_SIZE: {
            char ch = *p++;
            n--;
            if (ch == '\n') {
                s->bs = s->chunk_left ? B_DATA : B_END;
            } else if (ch >= '0' && ch <= '9') {
                s->chunk_left = s->chunk_left * 16 + (uint64_t)(ch - '0');
            } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
                s->chunk_left = s->chunk_left * 16 + (uint64_t)((ch | 0x20) - 'a' + 10);
            }
            break;
        }
        case B_DATA: {
            size_t m = n < s->chunk_left ? n : (size_t)s->chunk_left;
            sse_bytes(s, p, m, t);
            p += m;
            n -= m;
            s->chunk_left -= m;
            if (s->chunk_left == 0) s->bs = B_CRLF;
            break;
        }
        case B_CRLF:
            if (*p == '\n') {
                s->bs = B_SIZE;
                s->chunk_left = 0;
            }
            p++;
            n--;
            break;
        case B_PLAIN:
            if (s->status == 200)
                sse_bytes(s, p, n, t);
            else
                note_error(p, n);
            return;
        default:
            return;
        }
    }
}

static void client_bytes(stream_t *s, const char *p, size_t n, uint64_t t)
{
    if (s->bs != B_HEAD) {
        body_bytes(s, p, n, t);
        return;
    }
    nb_buf_append(&s->hdr, p, n);
    char *end = s->hdr.data ? memmem(s->hdr.data, s->hdr.len, "\r\n\r\n", 4) : NULL;
    if (end == NULL) return;
    *end = '\0';
    int status = 0;
    sscanf(s->hdr.data, "HTTP/1.%*d %d", &status);
    s->status = status;
    s->t_headers = t;
    s->bs = strcasestr(s->hdr.data, "\r\ntransfer-encoding: chunked") ? B_SIZE : B_PLAIN;
    size_t off = (size_t)(end + 4 - s->hdr.data);
    size_t rest = s->hdr.len - off;
    char tmp[4096];
    size_t nt = rest < sizeof tmp ? rest : sizeof tmp;
    memcpy(tmp, s->hdr.data + off, nt);
    nb_buf_dispose(&s->hdr);
    if (status == 200) {
        s->st = CS_OPEN;
        cs.open_ok++;
        settle(s);
        on_stream_open(s);
        if (nt) body_bytes(s, tmp, nt, t);
    } else {
        /* an error answer (JSON): note it and hang up (the connection may be kept alive); the
           capacity probe's answer is reported on its own (probe_status) */
        if (!(o.probe_extra && s->slot == n_slots - 1)) {
            cs.non200++;
            if (cs.first_bad_status == 0) cs.first_bad_status = status;
            note_error(tmp, nt);
        }
        stream_end(s, t);
    }
}

static void on_client_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    uint64_t t = uv_hrtime();
    stream_t *s = st->data;
    if (s->st == CS_DONE) return;
    if (nread < 0) {
        stream_end(s, t);
        return;
    }
    if (nread > 0) client_bytes(s, b->base, (size_t)nread, t);
    if (s->done_seen && s->st != CS_DONE) stream_end(s, t);
}

static uv_timer_t retry_timer;
static stream_t *retry_list[4096];
static int n_retry;

static void on_retry(uv_timer_t *t)
{
    int n = n_retry;
    n_retry = 0;
    for (int i = 0; i < n; i++)
        start_stream(retry_list[i]);
}

static void on_connect(uv_connect_t *req, int status)
{
    stream_t *s = req->data;
    if (status < 0) {
        /* the bridge's listener may not be up yet (start-up), or the backlog overflowed */
        cs.refused_retries++;
        s->st = CS_IDLE;
        uv_close((uv_handle_t *)&s->tcp, on_stream_closed);
        if (n_retry < (int)(sizeof retry_list / sizeof retry_list[0])) retry_list[n_retry++] = s;
        if (!uv_is_active((uv_handle_t *)&retry_timer)) uv_timer_start(&retry_timer, on_retry, 100, 0);
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_client_read);
    char body[256];
    int bl = snprintf(body, sizeof body,
                      "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"bench %d: hello\"}]}",
                      SLUG, s->slot);
    int rl = snprintf(s->req, sizeof s->req,
                      "POST /%s/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: "
                      "application/json\r\nContent-Length: %d\r\n\r\n%s",
                      DTAG, http_port, bl, body);
    uv_buf_t b = uv_buf_init(s->req, (unsigned)rl);
    s->st = CS_SENT;
    s->t_req = uv_hrtime();
    int r = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (r == rl) return;
    if (r > 0) b = uv_buf_init(s->req + r, (unsigned)(rl - r));
    uv_write(&s->wr, (uv_stream_t *)&s->tcp, &b, 1, NULL);
}

static void start_stream(stream_t *s)
{
    if (s->st == CS_IDLE) cs.opened++;
    s->st = CS_CONNECTING;
    s->bs = B_HEAD;
    s->chunk_left = 0;
    s->line_len = 0;
    nb_buf_init(&s->hdr, 16384);
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    s->tcp_live = true;
    s->creq.data = s;
    uv_tcp_connect(&s->creq, &s->tcp, (const struct sockaddr *)&http_addr, on_connect);
}

/* ---- the agent ------------------------------------------------------------------------------ */

static size_t content_of(char *out, size_t cap, int slot, uint32_t seq)
{
    static const char filler[] = "the quick brown fox jumps over the lazy dog, and then some more words. ";
    int n = snprintf(out, cap, "B%d.%u| ", slot, seq);
    size_t len = (size_t)n, want = (size_t)o.content < cap - 1 ? (size_t)o.content : cap - 1;
    size_t fi = 0;
    while (len < want) {
        out[len++] = filler[fi++];
        if (filler[fi] == '\0') fi = 0;
    }
    out[len] = '\0';
    return len;
}

static void make_delta(nb_event_t *ev, const stream_t *s, uint32_t seq, int64_t now)
{
    char txt[4096], num[16];
    nb_event_init(ev);
    ev->kind = 24135;
    ev->created_at = now;
    size_t n = content_of(txt, sizeof txt, s->slot, seq);
    nb_event_set_content(ev, txt, n);
    NB_EVENT_TAG(ev, "e", s->root_hex, "", "root");
    NB_EVENT_TAG(ev, "e", s->msg_hex, "", "reply");
    NB_EVENT_TAG(ev, "a", coord);
    NB_EVENT_TAG(ev, "llm-model", MODEL);
    NB_EVENT_TAG(ev, "llm-ral", "1");
    snprintf(num, sizeof num, "%u", seq);
    NB_EVENT_TAG(ev, "stream-seq", num);
    nb_event_sign(ev, &k_agent);
}

/* The completion: content = every delta sent, so the bridge has nothing to repair. */
static void make_completion(nb_event_t *ev, const stream_t *s, uint32_t n_deltas, int64_t now)
{
    nb_buf_t text;
    nb_buf_init(&text, SIZE_MAX);
    char txt[4096], num[3][24];
    for (uint32_t q = 1; q <= n_deltas; q++) {
        size_t n = content_of(txt, sizeof txt, s->slot, q);
        nb_buf_append(&text, txt, n);
    }
    nb_event_init(ev);
    ev->kind = 1;
    ev->created_at = now;
    nb_event_set_content(ev, text.data ? text.data : "", text.len);
    nb_buf_dispose(&text);
    NB_EVENT_TAG(ev, "e", s->root_hex, "", "root");
    NB_EVENT_TAG(ev, "e", s->msg_hex, "", "reply");
    NB_EVENT_TAG(ev, "p", s->user_hex);
    NB_EVENT_TAG(ev, "status", "completed");
    snprintf(num[0], sizeof num[0], "%d", 10);
    snprintf(num[1], sizeof num[1], "%u", n_deltas);
    snprintf(num[2], sizeof num[2], "%u", 10 + n_deltas);
    NB_EVENT_TAG(ev, "llm-prompt-tokens", num[0]);
    NB_EVENT_TAG(ev, "llm-completion-tokens", num[1]);
    NB_EVENT_TAG(ev, "llm-total-tokens", num[2]);
    NB_EVENT_TAG(ev, "a", coord);
    NB_EVENT_TAG(ev, "llm-model", MODEL);
    NB_EVENT_TAG(ev, "llm-ral", "1");
    nb_event_sign(ev, &k_agent);
}

static void frame_event(nb_buf_t *out, const char *subid, const nb_event_t *ev)
{
    nb_buf_reset(&scratch);
    nb_msg_build_sub_event(&scratch, subid, ev);
    ws_frame(out, 0x1, scratch.data, scratch.len);
}

/* Sign and send now (not the measured path). */
static void send_live_delta(stream_t *s, uint32_t seq)
{
    if (s->sub == NULL) return;
    nb_event_t ev;
    make_delta(&ev, s, seq, (int64_t)time(NULL));
    nb_buf_t f;
    nb_buf_init(&f, SIZE_MAX);
    frame_event(&f, s->sub->id, &ev);
    rc_send(s->sub->c, f.data, f.len);
    nb_buf_dispose(&f);
    nb_event_dispose(&ev);
}

static void send_completion(stream_t *s, uint32_t n_deltas)
{
    if (s->sub == NULL || s->completion_sent) return;
    s->completion_sent = true;
    nb_event_t ev;
    make_completion(&ev, s, n_deltas, (int64_t)time(NULL));
    nb_buf_t f;
    nb_buf_init(&f, SIZE_MAX);
    frame_event(&f, s->sub->id, &ev);
    rc_send(s->sub->c, f.data, f.len);
    nb_buf_dispose(&f);
    nb_event_dispose(&ev);
}

/* Build frames seq k+1 .. upto for s (signed now, sent later). */
static void prebuild(stream_t *s, uint32_t upto, int64_t now)
{
    if (s->off == NULL) {
        s->off = nb_calloc(upto + 1, sizeof *s->off);
        s->tsend = nb_calloc(upto ? upto : 1, sizeof *s->tsend);
        nb_buf_init(&s->frames, SIZE_MAX);
    }
    while (s->k < upto) {
        nb_event_t ev;
        make_delta(&ev, s, s->k + 1, now);
        frame_event(&s->frames, s->sub ? s->sub->id : "-", &ev);
        nb_event_dispose(&ev);
        s->k++;
        s->off[s->k] = (uint32_t)s->frames.len;
    }
}

/* The measured path: write the prepared frame of the next seq and note the time just before. */
static bool send_next(stream_t *s)
{
    if (s->sub == NULL || s->sent >= s->k || s->st != CS_OPEN) return false;
    uint32_t i = s->sent++;
    s->tsend[i] = uv_hrtime();
    rc_send(s->sub->c, s->frames.data + s->off[i], s->off[i + 1] - s->off[i]);
    return true;
}

static void rq_agent(rconn_t *c, const nb_event_t *ev, const char *root_hex, const char *id_hex);

static void agent_on_message(rconn_t *c, const nb_event_t *ev, uint64_t t)
{
    char id_hex[65], root_hex[65];
    nb_event_id_hex(ev, id_hex);
    memcpy(root_hex, id_hex, 65);
    uint32_t from = 0;
    const nb_tag_t *tag;
    while ((tag = nb_event_next_tag(ev, "e", &from)) != NULL)
        if (tag->n >= 4 && nb_tag_item_eq(tag, 3, "root") && tag->items[1].len == 64)
            memcpy(root_hex, tag->items[1].p, 64);
    if (o.sc == SC_REQUESTS && ev->content.len >= 6 && memcmp(ev->content.p, "breq ", 5) == 0) {
        rq_agent(c, ev, root_hex, id_hex);
        return;
    }
    if (ev->content.len < 7 || memcmp(ev->content.p, "bench ", 6) != 0) return;
    int slot = atoi(ev->content.p + 6);
    if (slot < 0 || slot >= n_slots) return;
    stream_t *s = &streams[slot];
    rsub_t *sub = sub_by_e(c, root_hex);
    if (sub == NULL) {
        fprintf(stderr, "relay: kind:1 for stream %d but no subscription names its root\n", slot);
        return;
    }
    sub->stream = slot;
    s->sub = sub;
    memcpy(s->root_hex, root_hex, 65);
    memcpy(s->msg_hex, id_hex, 65);
    nb_hex_encode(s->user_hex, ev->pubkey, 32);
    s->t_relay_req = sub->t_req;
    s->t_relay_eose = sub->t_eose;
    s->t_relay_event = t;
    s->published = true;
    if (s->role == R_QUICK) {
        /* warm-up and publish requests: a short answer at once */
        for (uint32_t q = 1; q <= 3; q++)
            send_live_delta(s, q);
        send_completion(s, 3);
    }
}

/* ---- the floors (measured before the bridge starts, on the bridge's CPU) ------------------ */

static struct {
    double verify_us, sign_us, parse_verify_us, rtt_p50_us, rtt_p99_us, rtt_sleep_p50_us;
} fl;

static volatile uint64_t sink; /* keeps the floor loops from being optimized away */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void measure_floors(void)
{
    enum { NEV = 64 };
    nb_keys_t k;
    nb_keys_generate(&k);
    nb_event_t evs[NEV];
    nb_buf_t js[NEV];
    stream_t fake;
    memset(&fake, 0, sizeof fake);
    memset(fake.root_hex, 'a', 64);
    memset(fake.msg_hex, 'b', 64);
    for (int i = 0; i < NEV; i++) {
        make_delta(&evs[i], &fake, (uint32_t)i + 1, (int64_t)time(NULL));
        nb_event_sign(&evs[i], &k);
        nb_buf_init(&js[i], SIZE_MAX);
        nb_event_to_json(&js[i], &evs[i]);
    }
    const secp256k1_context *ctx = nb_secp_ctx();
    secp256k1_xonly_pubkey pk;
    if (secp256k1_xonly_pubkey_parse(ctx, &pk, k.pubkey) != 1) die("floor: bad key");
    double v[3], sg[3], pv[3];
    for (int r = 0; r < 3; r++) {
        double t0 = now_s(), t;
        uint64_t n = 0;
        do {
            for (int i = 0; i < NEV; i++)
                sink += (uint64_t)secp256k1_schnorrsig_verify(ctx, evs[i].sig, evs[i].id, 32, &pk);
            n += NEV;
        } while ((t = now_s()) - t0 < o.floor_ms / 1e3);
        v[r] = (t - t0) / (double)n * 1e6;
        unsigned char aux[32] = {1}, sig[64];
        t0 = now_s();
        n = 0;
        do {
            for (int i = 0; i < NEV; i++)
                sink += (uint64_t)secp256k1_schnorrsig_sign32(ctx, sig, evs[i].id, &k.keypair, aux);
            n += NEV;
        } while ((t = now_s()) - t0 < o.floor_ms / 1e3);
        sg[r] = (t - t0) / (double)n * 1e6;
        t0 = now_s();
        n = 0;
        do {
            for (int i = 0; i < NEV; i++) {
                nb_event_t e;
                nb_event_init(&e);
                if (nb_event_parse(&e, js[i].data, js[i].len, NULL) == 0) sink += nb_event_verify(&e) == 0;
                nb_event_dispose(&e);
            }
            n += NEV;
        } while ((t = now_s()) - t0 < o.floor_ms / 1e3);
        pv[r] = (t - t0) / (double)n * 1e6;
    }
    qsort(v, 3, sizeof v[0], cmp_dbl);
    qsort(sg, 3, sizeof sg[0], cmp_dbl);
    qsort(pv, 3, sizeof pv[0], cmp_dbl);
    fl.verify_us = v[1];
    fl.sign_us = sg[1];
    fl.parse_verify_us = pv[1];
    for (int i = 0; i < NEV; i++) {
        nb_event_dispose(&evs[i]);
        nb_buf_dispose(&js[i]);
    }
    nb_keys_dispose(&k);
}

/* A 900-byte message to an echo process pinned to the bridge's CPU and back: two loopback hops
 * and the echo's wake-up, without the bridge. Measured with this side busy-polling (as the bench
 * does in every measured phase: the figure to compare with) and with this side sleeping in read()
 * (what one more wake-up costs on this machine). */
static void rtt_series(int s, bool spin, uint64_t *rtt, int n)
{
    enum { MSG = 900 };
    char msg[MSG], buf[MSG];
    memset(msg, 'x', sizeof msg);
    int fl0 = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, spin ? fl0 | O_NONBLOCK : fl0 & ~O_NONBLOCK);
    for (int i = 0; i < n; i++) {
        usleep(2000);
        uint64_t t0 = uv_hrtime();
        if (write(s, msg, MSG) != MSG) die("transport floor: write");
        size_t got = 0;
        while (got < MSG) {
            ssize_t r = read(s, buf, MSG - got);
            if (r < 0 && spin && errno == EAGAIN) continue;
            if (r <= 0) die("transport floor: read");
            got += (size_t)r;
        }
        rtt[i] = uv_hrtime() - t0;
    }
    fcntl(s, F_SETFL, fl0);
    qsort(rtt, (size_t)n, sizeof rtt[0], cmp_u64);
}

static void measure_transport(void)
{
    enum { N = 400 };
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0)
        die("transport floor: socket: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        pin(o.bridge_cpu);
        int c = accept(ls, NULL, NULL);
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char buf[4096];
        for (;;) {
            ssize_t r = read(c, buf, sizeof buf);
            if (r <= 0) _exit(0);
            for (ssize_t w = 0; w < r;) {
                ssize_t k = write(c, buf + w, (size_t)(r - w));
                if (k <= 0) _exit(0);
                w += k;
            }
        }
    }
    close(ls);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) die("transport floor: connect: %s", strerror(errno));
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint64_t rtt[N];
    rtt_series(s, false, rtt, N);
    fl.rtt_sleep_p50_us = pct_us(rtt, N, 0.5);
    rtt_series(s, true, rtt, N);
    fl.rtt_p50_us = pct_us(rtt, N, 0.5);
    fl.rtt_p99_us = pct_us(rtt, N, 0.99);
    close(s);
    waitpid(pid, NULL, 0);
}

/* ---- the scenario driver ------------------------------------------------------------------ */

typedef enum {
    P_WAIT_BRIDGE = 1,
    P_WARMUP,
    P_PUBLISH,
    P_OPEN,
    P_SETTLE,
    P_HOLD,
    P_PREPARE,
    P_SEND,
    P_DRAIN,
    P_FINISH,
    P_STOP,
} phase_t;

static phase_t phase = P_WAIT_BRIDGE;
static uint64_t phase_t0;   /* uv_hrtime when the phase began */
static int first_measure;   /* slots [first_measure, first_measure + n_measure) */
static int n_measure;
static int seq_next_slot;   /* sequential (quick) requests: the next slot */
static int seq_end_slot;
static int seq_inflight;
static int opened_measure;  /* measured streams started */
static int measure_settled; /* measured streams that got their response headers, or ended */
static int prep_next;       /* next stream to prebuild */
static uint32_t k_per_stream;
static uint64_t send_t0, period_ns, slot_next, slots_total;
static uint64_t *lat;    /* delivery latencies, ns */
static uint64_t *lat_at; /* --dump: when each was sent, ns */
static size_t n_lat, cap_lat;
static uint64_t *late; /* send lateness vs schedule, ns */
static size_t n_late;
static uint64_t lost_deadline;
static double br_cpu0, br_cpu1, me_cpu0, me_cpu1, mach_busy0, mach_busy1, mach_tot0, mach_tot1;
static uint64_t meas_t0, meas_t1, last_recv_t;
static long rss_base, rss_open, rss_end;
static int probe_status;
static uint64_t probe_t0;
static bool probe_started;
static uv_timer_t tick_timer, status_timer, watchdog;
static uv_idle_t spin;
static uv_check_t check;
static int exit_code;
static int bridge_exit_status = -1;
static bool bridge_exited;

static void drive(void);

static bool verbose;
static const char *const phase_names[] = {"",        "wait-bridge", "warmup", "publish", "open", "settle",
                                          "hold",    "prepare",     "send",   "drain",   "finish", "stop"};

static void set_phase(phase_t p)
{
    phase = p;
    phase_t0 = uv_hrtime();
    if (verbose) {
        fprintf(stderr, "bench_bridge_load: phase %s (bridge pid %d, rss %ld kB)\n", phase_names[p], bridge_proc.pid,
                rss_kb(bridge_proc.pid));
        fflush(stderr);
    }
}

static void on_delta_in(stream_t *s, int slot, uint32_t seq, uint64_t t)
{
    cs.deltas_in++;
    if (slot != s->slot) {
        cs.misrouted++;
        return;
    }
    if (s->role != R_MEASURE) return;
    if (seq != s->next_seq + 1) s->misorder++;
    s->next_seq = seq;
    s->recvd++;
    last_recv_t = t;
    if (seq >= 1 && seq <= s->sent && n_lat < cap_lat) {
        if (lat_at) lat_at[n_lat] = s->tsend[seq - 1];
        lat[n_lat++] = t - s->tsend[seq - 1];
    }
    if (o.sc == SC_THROUGHPUT && phase == P_SEND) {
        if (t - send_t0 < (uint64_t)(o.seconds * 1e9)) send_next(s);
    }
}

static void settle(stream_t *s)
{
    if (s->settled) return;
    s->settled = true;
    if (s->role == R_MEASURE) measure_settled++;
}

static void on_stream_open(stream_t *s)
{
    if (s->role == R_MEASURE && (phase == P_OPEN)) drive();
}

static void on_seq_gap(uv_timer_t *t);
static uv_timer_t gap_timer;

static void on_stream_end(stream_t *s)
{
    if (s->role == R_QUICK) {
        seq_inflight--;
        if (s->slot == n_slots - 1 && o.probe_extra) {
            probe_status = s->status;
            return;
        }
        /* the next sequential request after a short gap: the bridge is idle when it comes */
        if (!uv_is_active((uv_handle_t *)&gap_timer)) uv_timer_start(&gap_timer, on_seq_gap, 5, 0);
        return;
    }
    drive();
}

static void start_seq_next(void)
{
    if (seq_next_slot >= seq_end_slot || seq_inflight > 0) return;
    seq_inflight++;
    start_stream(&streams[seq_next_slot++]);
}

static void on_seq_gap(uv_timer_t *t)
{
    start_seq_next();
    drive();
}

/* Open measured streams, at most --open-concurrency waiting for their response headers. */
static void open_more(void)
{
    while (opened_measure < n_measure && opened_measure - measure_settled < o.open_concurrency)
        start_stream(&streams[first_measure + opened_measure++]);
}

static int measure_open(void)
{
    int n = 0;
    for (int i = 0; i < n_measure; i++)
        n += streams[first_measure + i].st == CS_OPEN;
    return n;
}

static void on_spin(uv_idle_t *h);
static void want_spin(bool on);

/* The bridge's own histograms, read from GET /metrics before and after the measured phase. */
#define HB_MAX 40
typedef struct {
    bool present; /* the histogram was in the answer, ending with the +Inf bucket */
    int n;        /* buckets, the last one +Inf */
    double le[HB_MAX];
    double cum[HB_MAX]; /* cumulative counts */
} hsnap_t;
enum { H_CHUNK, H_PREPUB, H_N };
static const char *const h_names[H_N] = {"bridge_chunk_delay_seconds", "bridge_prepublish_seconds"};
static hsnap_t h_before[H_N], h_after[H_N];
static void scrape_hists(hsnap_t snap[H_N]);

/* The measured phase: from here the loop never blocks (an idle handle keeps it polling), so the
 * bench's reads and writes happen at once and its own wake-ups never add to a figure. The
 * bridge's histograms are read first, before anything of the phase is timed. */
static void begin_measured_send(void)
{
    scrape_hists(h_before);
    want_spin(true);
    set_phase(P_SEND);
    send_t0 = uv_hrtime() + 20 * 1000000ull;
    meas_t0 = send_t0;
    br_cpu0 = cpu_of(bridge_proc.pid);
    me_cpu0 = cpu_self_s();
    machine_jiffies(&mach_busy0, &mach_tot0);
}

static void end_measure(void)
{
    want_spin(false);
    meas_t1 = uv_hrtime();
    br_cpu1 = cpu_of(bridge_proc.pid);
    me_cpu1 = cpu_self_s();
    machine_jiffies(&mach_busy1, &mach_tot1);
    scrape_hists(h_after); /* after every figure of the phase is taken */
}

static void finish_all(void)
{
    set_phase(P_FINISH);
    for (int i = 0; i < n_measure; i++) {
        stream_t *s = &streams[first_measure + i];
        if (s->st == CS_OPEN) send_completion(s, s->sent);
    }
}

static void stop_bridge(void)
{
    set_phase(P_STOP);
    rss_end = rss_kb(bridge_proc.pid);
    if (bridge_running) uv_process_kill(&bridge_proc, SIGTERM);
}

static void on_spin(uv_idle_t *h)
{
}

static void want_spin(bool on)
{
    if (on && !uv_is_active((uv_handle_t *)&spin)) uv_idle_start(&spin, on_spin);
    if (!on && uv_is_active((uv_handle_t *)&spin)) uv_idle_stop(&spin);
}

/* The latency schedule: slot j = (seq − 1) × N + i is due at t0 + j × period / N. */
static void send_due(void)
{
    uint64_t now = uv_hrtime();
    while (slot_next < slots_total) {
        uint64_t due = send_t0 + (uint64_t)((double)slot_next * (double)period_ns / (double)n_measure);
        if (due > now) return; /* the loop spins: the check handle calls again */
        stream_t *s = &streams[first_measure + (int)(slot_next % (uint64_t)n_measure)];
        slot_next++;
        uint64_t t = uv_hrtime();
        if (send_next(s) && n_late < slots_total) late[n_late++] = t - due;
        now = t;
    }
}

static void alloc_samples(uint64_t n)
{
    cap_lat = (size_t)n;
    lat = nb_calloc(cap_lat ? cap_lat : 1, sizeof *lat);
    late = nb_calloc(cap_lat ? cap_lat : 1, sizeof *late);
    if (o.dump) lat_at = nb_calloc(cap_lat ? cap_lat : 1, sizeof *lat_at);
}

/* ---- the requests scenario: keep-alive clients, short non-streaming turns ------------------ */

typedef struct rclient {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wr;
    bool tcp_live, reopen, busy, stopped, counted;
    nb_buf_t in;
    char req[512];
    uint64_t reqno, t_req;
    char expect[4200]; /* "\"content\":\"<the agent's answer>\"" */
    size_t expect_len;
} rclient_t;

static rclient_t *rcl;
static int rq_connected, rq_stopped;
static uint64_t rq_next_no, rq_deadline, rq_last_t;
static struct {
    uint64_t sent, ok, non200, bad_body, conn_errors, timeouts, reconnects, answers;
} rq;
static uint64_t *rq_lat;
static size_t rq_n_lat, rq_cap_lat;
static nb_buf_t rq_body;

static void rq_connect(rclient_t *c);
static void rq_send(rclient_t *c);

/* The agent: one delta (seq 1) and the completion, signed now, both frames in one write. */
static void rq_agent(rconn_t *c, const nb_event_t *ev, const char *root_hex, const char *id_hex)
{
    static stream_t tmp; /* only slot and the three ids are read by make_delta / make_completion */
    long no = 0;
    for (size_t i = 5; i < ev->content.len && ev->content.p[i] >= '0' && ev->content.p[i] <= '9'; i++)
        no = no * 10 + (ev->content.p[i] - '0');
    rsub_t *sub = sub_by_e(c, root_hex);
    if (sub == NULL) {
        fprintf(stderr, "relay: kind:1 for request %ld but no subscription names its root\n", no);
        return;
    }
    tmp.slot = (int)no;
    memcpy(tmp.root_hex, root_hex, 65);
    memcpy(tmp.msg_hex, id_hex, 65);
    nb_hex_encode(tmp.user_hex, ev->pubkey, 32);
    int64_t now = (int64_t)time(NULL);
    nb_event_t e;
    nb_buf_t f;
    nb_buf_init(&f, SIZE_MAX);
    make_delta(&e, &tmp, 1, now);
    frame_event(&f, sub->id, &e);
    nb_event_dispose(&e);
    make_completion(&e, &tmp, 1, now);
    frame_event(&f, sub->id, &e);
    nb_event_dispose(&e);
    rc_send(c, f.data, f.len);
    nb_buf_dispose(&f);
    rq.answers++;
}

/* A whole response in p[0..n)? 1: yes (*used bytes, body decoded into body), 0: not yet,
 * -1: not a response this client can read (no length and not chunked). */
static int rq_response(const char *p, size_t n, int *status, nb_buf_t *body, bool *conn_close, size_t *used)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (end == NULL) return n > 65536 ? -1 : 0;
    size_t hl = (size_t)(end + 4 - p);
    char hdr[4096];
    size_t cp = hl < sizeof hdr ? hl : sizeof hdr - 1;
    memcpy(hdr, p, cp);
    hdr[cp] = '\0';
    if (sscanf(hdr, "HTTP/1.%*d %d", status) != 1) return -1;
    *conn_close = strcasestr(hdr, "\r\nconnection: close") != NULL;
    nb_buf_reset(body);
    const char *cl = strcasestr(hdr, "\r\ncontent-length:");
    if (cl != NULL) {
        size_t len = (size_t)strtoul(cl + 17, NULL, 10);
        if (n - hl < len) return 0;
        nb_buf_append(body, p + hl, len);
        *used = hl + len;
        return 1;
    }
    if (strcasestr(hdr, "\r\ntransfer-encoding: chunked") == NULL) return -1;
    size_t pos = hl;
    for (;;) {
        const char *le = memmem(p + pos, n - pos, "\r\n", 2);
        if (le == NULL) return 0;
        size_t sz = (size_t)strtoul(p + pos, NULL, 16);
        pos = (size_t)(le + 2 - p);
        if (sz == 0) {
            if (n - pos < 2) return 0; /* no trailers expected: the final CRLF */
            *used = pos + 2;
            return 1;
        }
        if (n - pos < sz + 2) return 0;
        nb_buf_append(body, p + pos, sz);
        pos += sz + 2;
    }
}

static void rq_finish(rclient_t *c)
{
    c->busy = false;
    if (!c->stopped) {
        c->stopped = true;
        rq_stopped++;
    }
    if (c->tcp_live && !uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, NULL);
    c->tcp_live = false;
}

static bool rq_in_window(void)
{
    return phase == P_SEND && !bridge_exited && uv_hrtime() < rq_deadline;
}

static void rq_next(rclient_t *c)
{
    if (rq_in_window())
        rq_send(c);
    else
        rq_finish(c);
}

static void rq_on_closed(uv_handle_t *h)
{
    rclient_t *c = h->data;
    if (!c->reopen) return;
    c->reopen = false;
    if (phase == P_OPEN) {
        rq_connect(c);
    } else if (rq_in_window()) {
        rq.reconnects++;
        rq_connect(c);
    } else {
        rq_finish(c);
    }
}

/* The connection is gone (or unusable): a new one, and the next request on it if time is left. */
static void rq_reconnect(rclient_t *c)
{
    c->busy = false;
    if (!c->tcp_live || uv_is_closing((uv_handle_t *)&c->tcp)) return;
    c->tcp_live = false;
    c->reopen = true;
    uv_close((uv_handle_t *)&c->tcp, rq_on_closed);
}

static void rq_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    uint64_t t = uv_hrtime();
    rclient_t *c = st->data;
    if (nread < 0) {
        if (c->busy) {
            rq.conn_errors++;
            note_error("connection closed before the whole response", 44);
        }
        rq_reconnect(c);
        return;
    }
    if (nread == 0) return;
    nb_buf_append(&c->in, b->base, (size_t)nread);
    if (!c->busy) return;
    int status = 0;
    bool conn_close = false;
    size_t used = 0;
    int r = rq_response(c->in.data, c->in.len, &status, &rq_body, &conn_close, &used);
    if (r == 0) return;
    c->busy = false;
    rq_last_t = t;
    if (r < 0) {
        rq.conn_errors++;
        note_error(c->in.data, c->in.len);
        rq_reconnect(c);
        return;
    }
    if (status != 200) {
        rq.non200++;
        if (cs.first_bad_status == 0) cs.first_bad_status = status;
        note_error(rq_body.data ? rq_body.data : "", rq_body.len);
    } else if (rq_body.data == NULL || memmem(rq_body.data, rq_body.len, c->expect, c->expect_len) == NULL) {
        rq.bad_body++;
        note_error(rq_body.data ? rq_body.data : "", rq_body.len);
    } else {
        rq.ok++;
        if (rq_n_lat == rq_cap_lat) {
            rq_cap_lat = rq_cap_lat ? 2 * rq_cap_lat : 65536;
            rq_lat = nb_realloc(rq_lat, rq_cap_lat * sizeof *rq_lat);
        }
        rq_lat[rq_n_lat++] = t - c->t_req;
    }
    nb_buf_consume(&c->in, used);
    if (conn_close) {
        rq_reconnect(c);
        return;
    }
    rq_next(c);
}

static void rq_send(rclient_t *c)
{
    c->reqno = ++rq_next_no;
    char txt[4096], body[256];
    size_t tl = content_of(txt, sizeof txt, (int)c->reqno, 1);
    c->expect_len = (size_t)snprintf(c->expect, sizeof c->expect, "\"content\":\"%.*s\"", (int)tl, txt);
    int bl = snprintf(body, sizeof body,
                      "{\"model\":\"%s\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"breq %" PRIu64 ": hello\"}]}",
                      SLUG, c->reqno);
    int rl = snprintf(c->req, sizeof c->req,
                      "POST /%s/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: "
                      "application/json\r\nContent-Length: %d\r\n\r\n%s",
                      DTAG, http_port, bl, body);
    c->busy = true;
    rq.sent++;
    uv_buf_t b = uv_buf_init(c->req, (unsigned)rl);
    c->t_req = uv_hrtime();
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r == rl) return;
    if (r > 0) b = uv_buf_init(c->req + r, (unsigned)(rl - r));
    if (r > 0 || r == UV_EAGAIN) {
        if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, NULL) == 0) return;
    }
    rq.conn_errors++;
    note_error("cannot write the request", 24);
    rq_reconnect(c);
}

static void rq_on_connect(uv_connect_t *req, int status)
{
    rclient_t *c = req->data;
    if (status < 0) {
        rq.conn_errors++;
        note_error("cannot connect", 14);
        c->tcp_live = false;
        c->reopen = true;
        uv_close((uv_handle_t *)&c->tcp, rq_on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, rq_on_read);
    if (phase == P_OPEN) {
        if (!c->counted) {
            c->counted = true;
            rq_connected++;
        }
        drive();
    } else {
        rq_next(c);
    }
}

static void rq_connect(rclient_t *c)
{
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->tcp_live = true;
    c->creq.data = c;
    nb_buf_reset(&c->in);
    if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&http_addr, rq_on_connect) != 0) {
        rq.conn_errors++;
        note_error("cannot connect", 14);
        rq_finish(c);
    }
}

static void rq_open_all(void)
{
    rcl = nb_calloc((size_t)o.clients, sizeof *rcl);
    nb_buf_init(&rq_body, 16u << 20);
    for (int i = 0; i < o.clients; i++) {
        nb_buf_init(&rcl[i].in, 16u << 20);
        rq_connect(&rcl[i]);
    }
}

/* Every client connected: the measured phase, each sends its first request now. */
static void rq_begin(void)
{
    begin_measured_send();
    send_t0 = uv_hrtime();
    meas_t0 = send_t0;
    rq_deadline = send_t0 + (uint64_t)(o.seconds * 1e9);
    for (int i = 0; i < o.clients; i++)
        rq_send(&rcl[i]);
}

/* In P_SEND: done when every client has stopped; a request unanswered 30 s after the end is
 * counted as a timeout. */
static void rq_drive(uint64_t now)
{
    if (rq_stopped < o.clients && now > rq_deadline + 30000000000ull) {
        for (int i = 0; i < o.clients; i++) {
            if (rcl[i].busy) rq.timeouts++;
            if (!rcl[i].stopped) rq_finish(&rcl[i]);
        }
        if (rq.timeouts) note_error("no response within 30 s of the end", 34);
    }
    if (rq_stopped < o.clients) return;
    end_measure();
    if (rq_last_t > meas_t0) meas_t1 = rq_last_t;
    stop_bridge();
}

/* ---- the bridge's own histograms (GET /metrics) -------------------------------------------- */

/* Histogram name's buckets from a Prometheus text answer p[0..n) into h (present = false when it
 * is not there, or its buckets are not in increasing order ending with +Inf). */
static void parse_hist(const char *p, size_t n, const char *name, hsnap_t *h)
{
    memset(h, 0, sizeof *h);
    char pre[96];
    int pl = snprintf(pre, sizeof pre, "%s_bucket{", name);
    if (pl <= 0 || (size_t)pl >= sizeof pre) return;
    bool bad = false;
    const char *end = p + n;
    while (p < end && !bad) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[256];
        if (ll > (size_t)pl && ll < sizeof line && memcmp(p, pre, (size_t)pl) == 0) {
            memcpy(line, p, ll);
            line[ll] = '\0';
            char *lv = strstr(line + pl, "le=\""), *rb = strchr(line + pl, '}'), *q;
            double le = 0, cnt = 0;
            if (lv == NULL || rb == NULL || lv > rb || h->n == HB_MAX) {
                bad = true;
            } else {
                lv += 4;
                if (strncmp(lv, "+Inf\"", 5) == 0) {
                    le = INFINITY;
                } else {
                    le = strtod(lv, &q);
                    bad = q == lv || *q != '"';
                }
                cnt = strtod(rb + 1, &q);
                bad = bad || q == rb + 1 || (h->n > 0 && !(le > h->le[h->n - 1]));
            }
            if (!bad) {
                h->le[h->n] = le;
                h->cum[h->n] = cnt;
                h->n++;
            }
        }
        p = nl ? nl + 1 : end;
    }
    h->present = !bad && h->n > 0 && isinf(h->le[h->n - 1]);
}

/* GET /metrics from the bridge with a blocking client, bounded (3 s, 4 MiB): called only just
 * outside a measured phase. Fills snap[] (present = false on any failure, or where the bridge has
 * no such histogram: an older bridge). */
static void scrape_hists(hsnap_t snap[H_N])
{
    nb_buf_t in, body;
    nb_buf_init(&in, 4u << 20);
    nb_buf_init(&body, 4u << 20);
    for (int i = 0; i < H_N; i++)
        memset(&snap[i], 0, sizeof snap[i]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) goto out;
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&http_addr, sizeof http_addr) != 0) goto out;
    char req[160];
    int rl = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                      http_port);
    if (write(fd, req, (size_t)rl) != rl) goto out;
    uint64_t deadline = uv_hrtime() + 3000000000ull;
    int r = 0, status = 0;
    bool conn_close = false;
    size_t used = 0;
    char buf[16384];
    while (r == 0 && uv_hrtime() < deadline) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0 || nb_buf_append(&in, buf, (size_t)k) != 0) break;
        r = rq_response(in.data, in.len, &status, &body, &conn_close, &used);
    }
    if (r == 1 && status == 200 && body.data != NULL)
        for (int i = 0; i < H_N; i++)
            parse_hist(body.data, body.len, h_names[i], &snap[i]);
out:
    if (fd >= 0) close(fd);
    nb_buf_dispose(&in);
    nb_buf_dispose(&body);
}

/* The measured window: after − before, bucket by bucket. false when either snapshot lacks the
 * histogram, the bucket layouts differ, or a count went down (not the same bridge). */
static bool hist_window(const hsnap_t *a, const hsnap_t *b, hsnap_t *w)
{
    memset(w, 0, sizeof *w);
    if (!a->present || !b->present || a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        if (a->le[i] != b->le[i] || b->cum[i] < a->cum[i]) return false;
        w->le[i] = a->le[i];
        w->cum[i] = b->cum[i] - a->cum[i];
    }
    w->n = a->n;
    w->present = true;
    return true;
}

/* Quantile q (0..1) of a window, in seconds, as Prometheus' histogram_quantile: the first bucket
 * whose cumulative count reaches q × total, linear inside it (0 is the lower edge of the first);
 * in the +Inf bucket, the highest finite bound. */
static double hist_quantile(const hsnap_t *w, double q)
{
    double total = w->cum[w->n - 1], rank = q * total;
    int i = 0;
    while (i < w->n - 1 && w->cum[i] < rank)
        i++;
    if (isinf(w->le[i])) return w->n >= 2 ? w->le[w->n - 2] : 0;
    double lo = i > 0 ? w->le[i - 1] : 0, below = i > 0 ? w->cum[i - 1] : 0, in = w->cum[i] - below;
    if (i == 0 && w->le[0] <= 0) return w->le[0];
    if (in <= 0) return w->le[i];
    return lo + (w->le[i] - lo) * (rank - below) / in;
}

/* The result-line fields of the bridge's own histograms: each group only where the bridge has the
 * histogram and the measured window has observations. */
static void report_hists(void)
{
    hsnap_t w;
    if (hist_window(&h_before[H_CHUNK], &h_after[H_CHUNK], &w) && w.cum[w.n - 1] > 0)
        printf(" bridge_chunk_p50_us=%.1f bridge_chunk_p90_us=%.1f bridge_chunk_p99_us=%.1f bridge_chunk_n=%.0f",
               hist_quantile(&w, 0.5) * 1e6, hist_quantile(&w, 0.9) * 1e6, hist_quantile(&w, 0.99) * 1e6,
               w.cum[w.n - 1]);
    if (hist_window(&h_before[H_PREPUB], &h_after[H_PREPUB], &w) && w.cum[w.n - 1] > 0)
        printf(" bridge_prepub_p50_us=%.1f bridge_prepub_p99_us=%.1f bridge_prepub_n=%.0f",
               hist_quantile(&w, 0.5) * 1e6, hist_quantile(&w, 0.99) * 1e6, w.cum[w.n - 1]);
}

static bool all_received(void)
{
    for (int i = 0; i < n_measure; i++) {
        const stream_t *s = &streams[first_measure + i];
        if (s->st == CS_OPEN && s->recvd < s->sent) return false;
    }
    return true;
}

static bool all_ended(void)
{
    for (int i = 0; i < n_measure; i++)
        if (streams[first_measure + i].st != CS_DONE && streams[first_measure + i].st != CS_IDLE) return false;
    return true;
}

static void drive(void)
{
    uint64_t now = uv_hrtime();
    switch (phase) {
    case P_WAIT_BRIDGE: {
        /* the bridge's directory subscriptions are in: start the warm-up requests */
        uint32_t subs = 0;
        for (rconn_t *c = conns; c; c = c->next)
            subs += c->n_subs;
        if (subs >= 3) {
            set_phase(P_WARMUP);
            seq_next_slot = 0;
            seq_end_slot = o.warmup;
            start_seq_next();
        }
        break;
    }
    case P_WARMUP:
        if (seq_next_slot >= seq_end_slot && seq_inflight == 0) {
            int ok = 0;
            for (int i = 0; i < o.warmup; i++)
                ok += streams[i].done_seen;
            if (ok == 0) die("no warm-up request succeeded (first error: %s)", cs.first_error);
            rss_base = rss_kb(bridge_proc.pid);
            if (o.sc == SC_REQUESTS) {
                set_phase(P_OPEN);
                rq_open_all();
            } else if (o.sc == SC_PUBLISH) {
                begin_measured_send();
                set_phase(P_PUBLISH);
                seq_next_slot = first_measure;
                seq_end_slot = first_measure + n_measure;
                start_seq_next();
            } else {
                set_phase(P_OPEN);
                open_more();
            }
        }
        break;
    case P_PUBLISH:
        if (seq_next_slot >= seq_end_slot && seq_inflight == 0) {
            end_measure();
            stop_bridge();
        }
        break;
    case P_OPEN: {
        if (o.sc == SC_REQUESTS) {
            if (rq_connected == o.clients) rq_begin();
            break;
        }
        open_more();
        if (opened_measure == n_measure && measure_settled == n_measure) {
            if (measure_open() == 0) die("no stream opened (first error: %s)", cs.first_error);
            set_phase(P_SETTLE);
        }
        break;
    }
    case P_SETTLE:
        if (now - phase_t0 < 1000000000ull) break;
        rss_open = rss_kb(bridge_proc.pid);
        if (o.probe_extra && !probe_started) {
            probe_started = true;
            probe_t0 = now;
            streams[n_slots - 1].role = R_QUICK;
            seq_inflight++;
            start_stream(&streams[n_slots - 1]);
        }
        if (probe_started && streams[n_slots - 1].st != CS_DONE && now - probe_t0 < 10000000000ull) break;
        if (o.sc == SC_CAPACITY) {
            set_phase(P_HOLD);
        } else {
            set_phase(P_PREPARE);
            prep_next = 0;
            k_per_stream = o.sc == SC_LATENCY ? (uint32_t)(o.rate * o.seconds + 0.5)
                                              : (uint32_t)(o.seconds * 25000.0 / n_measure) + (uint32_t)o.window;
            if (k_per_stream < 1) k_per_stream = 1;
            alloc_samples((uint64_t)k_per_stream * (uint64_t)n_measure);
            want_spin(true);
        }
        break;
    case P_HOLD:
        if (now - phase_t0 < (uint64_t)(o.hold * 1e9)) break;
        /* one delta to every stream at once (signed first) */
        k_per_stream = 1;
        alloc_samples((uint64_t)n_measure);
        for (int i = 0; i < n_measure; i++)
            if (streams[first_measure + i].st == CS_OPEN) prebuild(&streams[first_measure + i], 1, (int64_t)time(NULL));
        begin_measured_send();
        send_t0 = uv_hrtime();
        meas_t0 = send_t0;
        for (int i = 0; i < n_measure; i++)
            send_next(&streams[first_measure + i]);
        set_phase(P_DRAIN);
        lost_deadline = uv_hrtime() + 30000000000ull;
        break;
    case P_PREPARE: {
        /* sign in slices of ~5 ms so the loop keeps answering pings */
        int64_t ts = (int64_t)time(NULL);
        while (prep_next < n_measure && uv_hrtime() - now < 5000000ull) {
            stream_t *s = &streams[first_measure + prep_next];
            if (s->st == CS_OPEN) prebuild(s, k_per_stream, ts);
            prep_next++;
        }
        if (prep_next < n_measure) break;
        begin_measured_send();
        if (o.sc == SC_LATENCY) {
            period_ns = (uint64_t)(1e9 / o.rate);
            slot_next = 0;
            slots_total = (uint64_t)k_per_stream * (uint64_t)n_measure;
            send_due();
        } else {
            send_t0 = uv_hrtime();
            meas_t0 = send_t0;
            for (int w = 0; w < o.window; w++)
                for (int i = 0; i < n_measure; i++)
                    send_next(&streams[first_measure + i]);
        }
        break;
    }
    case P_SEND:
        if (o.sc == SC_REQUESTS) {
            rq_drive(now);
        } else if (o.sc == SC_LATENCY) {
            send_due();
            if (slot_next >= slots_total) {
                set_phase(P_DRAIN);
                lost_deadline = uv_hrtime() + 10000000000ull;
            }
        } else {
            bool more = false;
            for (int i = 0; i < n_measure && !more; i++) {
                const stream_t *s = &streams[first_measure + i];
                more = s->st == CS_OPEN && s->recvd < s->sent;
            }
            if (!more) {
                end_measure();
                meas_t1 = last_recv_t;
                finish_all();
            }
        }
        break;
    case P_DRAIN:
        if (all_received() || now > lost_deadline) {
            end_measure();
            if (o.sc == SC_LATENCY || o.sc == SC_CAPACITY) meas_t1 = last_recv_t;
            finish_all();
        }
        break;
    case P_FINISH:
        if (all_ended() || now - phase_t0 > 30000000000ull) stop_bridge();
        break;
    case P_STOP:
        break;
    }
}

static void on_check(uv_check_t *h)
{
    if (phase == P_SEND || phase == P_PREPARE) drive();
}

static void on_tick(uv_timer_t *t)
{
    drive();
}

static void on_status_timer(uv_timer_t *t)
{
    make_status();
    broadcast_stored(ST_STATUS);
    broadcast_stored(ST_HEARTBEAT);
}

static void on_watchdog(uv_timer_t *t)
{
    die("timed out after %.0f s in phase %d (streams open %d of %d)", o.timeout, phase, measure_open(), n_measure);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_bridge_exit(uv_process_t *p, int64_t status, int sig)
{
    bridge_running = false;
    bridge_exited = true;
    bridge_exit_status = sig ? 128 + sig : (int)status;
    if (phase != P_STOP) {
        fprintf(stderr, "bench_bridge_load: the bridge exited early (status %d) in phase %d\n", bridge_exit_status,
                phase);
        exit_code = 1;
    }
    uv_close((uv_handle_t *)p, NULL);
    /* everything else: close and let the loop end */
    uv_walk(loop, close_walk, NULL);
}

/* ---- reporting ------------------------------------------------------------------------------ */

static void report(void)
{
    printf("floor verify_us=%.2f sign_us=%.2f parse_verify_us=%.2f loopback_rtt_p50_us=%.1f "
           "loopback_rtt_p99_us=%.1f loopback_rtt_sleeping_p50_us=%.1f\n",
           fl.verify_us, fl.sign_us, fl.parse_verify_us, fl.rtt_p50_us, fl.rtt_p99_us, fl.rtt_sleep_p50_us);
    uint64_t sent = 0, recvd = 0, misorder = 0;
    int open_ok = 0, done = 0;
    for (int i = 0; i < n_measure; i++) {
        const stream_t *s = &streams[first_measure + i];
        sent += s->sent;
        recvd += s->recvd;
        misorder += s->misorder;
        open_ok += s->status == 200;
        done += s->done_seen;
    }
    printf("result scenario=%s streams=%d", o.sc_name, n_measure);
    if (o.sc == SC_REQUESTS) {
        qsort(rq_lat, rq_n_lat, sizeof *rq_lat, cmp_u64);
        double wall = (double)(meas_t1 - meas_t0) / 1e9;
        double bcpu = br_cpu1 - br_cpu0, mcpu = me_cpu1 - me_cpu0;
        uint64_t errors = rq.non200 + rq.bad_body + rq.conn_errors + rq.timeouts;
        printf(" clients=%d sent=%" PRIu64 " completed=%" PRIu64 " errors=%" PRIu64 " req_non200=%" PRIu64
               " bad_body=%" PRIu64 " conn_errors=%" PRIu64 " timeouts=%" PRIu64 " reconnects=%" PRIu64
               " agent_answers=%" PRIu64 " relay_reqs=%" PRIu64 " relay_closes=%" PRIu64,
               o.clients, rq.sent, rq.ok, errors, rq.non200, rq.bad_body, rq.conn_errors, rq.timeouts, rq.reconnects,
               rq.answers, rstat.reqs, rstat.closes);
        printf(" wall_s=%.2f requests_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f"
               " bridge_cpu_s=%.2f bridge_cpu_pct=%.1f bench_cpu_pct=%.1f requests_per_bridge_cpu_s=%.0f",
               wall, wall > 0 ? (double)rq.ok / wall : 0, pct_us(rq_lat, rq_n_lat, 0.5), pct_us(rq_lat, rq_n_lat, 0.9),
               pct_us(rq_lat, rq_n_lat, 0.99), pct_us(rq_lat, rq_n_lat, 0.999), pct_us(rq_lat, rq_n_lat, 1.0), bcpu,
               wall > 0 ? 100 * bcpu / wall : 0, wall > 0 ? 100 * mcpu / wall : 0, bcpu > 0 ? (double)rq.ok / bcpu : 0);
    } else if (o.sc == SC_PUBLISH) {
        uint64_t *pub = nb_calloc((size_t)n_measure, sizeof *pub), *hold = nb_calloc((size_t)n_measure, sizeof *hold),
                 *ttfb = nb_calloc((size_t)n_measure, sizeof *ttfb), *req = nb_calloc((size_t)n_measure, sizeof *req),
                 *after = nb_calloc((size_t)n_measure, sizeof *after);
        size_t n = 0;
        for (int i = 0; i < n_measure; i++) {
            const stream_t *s = &streams[first_measure + i];
            if (!s->published || s->t_relay_event < s->t_req) continue;
            pub[n] = s->t_relay_event - s->t_req;
            hold[n] = s->t_relay_eose - s->t_relay_req;
            req[n] = s->t_relay_req - s->t_req;
            after[n] = s->t_relay_event - s->t_relay_eose;
            ttfb[n] = s->t_headers > s->t_req ? s->t_headers - s->t_req : 0;
            n++;
        }
        qsort(pub, n, sizeof *pub, cmp_u64);
        qsort(hold, n, sizeof *hold, cmp_u64);
        qsort(req, n, sizeof *req, cmp_u64);
        qsort(after, n, sizeof *after, cmp_u64);
        qsort(ttfb, n, sizeof *ttfb, cmp_u64);
        double p50 = pct_us(pub, n, 0.5), p99 = pct_us(pub, n, 0.99);
        printf(" requests=%zu publish_p50_us=%.1f publish_p99_us=%.1f publish_max_us=%.1f req_to_REQ_p50_us=%.1f "
               "relay_hold_p50_us=%.1f EOSE_to_EVENT_p50_us=%.1f bridge_only_p50_us=%.1f ttfb_p50_us=%.1f "
               "ttfb_p99_us=%.1f publish_p50_over_sign=%.2f ok=%d",
               n, p50, p99, pct_us(pub, n, 1.0), pct_us(req, n, 0.5), pct_us(hold, n, 0.5), pct_us(after, n, 0.5),
               p50 - pct_us(hold, n, 0.5), pct_us(ttfb, n, 0.5), pct_us(ttfb, n, 0.99), p50 / fl.sign_us, done);
        nb_free(pub);
        nb_free(hold);
        nb_free(ttfb);
        nb_free(req);
        nb_free(after);
    } else {
        if (o.dump && lat_at) { /* before sorting: "sent_at_ms latency_us" per delta, in arrival order */
            FILE *f = fopen(o.dump, "w");
            for (size_t i = 0; f && i < n_lat; i++)
                fprintf(f, "%.3f %.1f\n", (double)(lat_at[i] - meas_t0) / 1e6, (double)lat[i] / 1e3);
            if (f) fclose(f);
        }
        qsort(lat, n_lat, sizeof *lat, cmp_u64);
        qsort(late, n_late, sizeof *late, cmp_u64);
        double wall = (double)(meas_t1 - meas_t0) / 1e9;
        double bcpu = br_cpu1 - br_cpu0, mcpu = me_cpu1 - me_cpu0;
        printf(" rate=%.1f sent=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64 " misrouted=%" PRIu64
               " misordered=%" PRIu64 " p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
               o.sc == SC_LATENCY ? o.rate : 0.0, sent, recvd, sent - recvd, cs.misrouted, misorder,
               pct_us(lat, n_lat, 0.5), pct_us(lat, n_lat, 0.9), pct_us(lat, n_lat, 0.99), pct_us(lat, n_lat, 0.999),
               pct_us(lat, n_lat, 1.0));
        printf(" wall_s=%.2f chunks_per_s=%.0f bridge_cpu_s=%.2f bridge_cpu_pct=%.1f bench_cpu_pct=%.1f "
               "chunks_per_bridge_cpu_s=%.0f send_late_p99_us=%.1f",
               wall, wall > 0 ? (double)recvd / wall : 0, bcpu, wall > 0 ? 100 * bcpu / wall : 0,
               wall > 0 ? 100 * mcpu / wall : 0, bcpu > 0 ? (double)recvd / bcpu : 0, pct_us(late, n_late, 0.99));
        printf(" p99_over_verify=%.2f bridge_share_p50_us=%.1f", pct_us(lat, n_lat, 0.99) / fl.verify_us,
               pct_us(lat, n_lat, 0.5) - fl.rtt_p50_us);
        printf(" rss_base_kb=%ld rss_open_kb=%ld rss_per_stream_b=%.0f", rss_base, rss_open,
               open_ok ? (double)(rss_open - rss_base) * 1024.0 / open_ok : 0);
        printf(" open_ok=%d done=%d early_close=%" PRIu64, open_ok, done, cs.early);
        if (o.probe_extra) printf(" probe_status=%d", probe_status);
    }
    {
        /* what the rest of the machine did meanwhile: CPU seconds of other processes per second */
        double hz = (double)sysconf(_SC_CLK_TCK), wall = (double)(meas_t1 - meas_t0) / 1e9;
        double others = (mach_busy1 - mach_busy0) / hz - (br_cpu1 - br_cpu0) - (me_cpu1 - me_cpu0);
        printf(" others_cpu_pct=%.0f", wall > 0 && others > 0 ? 100 * others / wall : 0);
    }
    report_hists();
    printf(" non200=%" PRIu64 " sse_errors=%" PRIu64 " relay_queued_writes=%" PRIu64 " verify_us=%.2f sign_us=%.2f "
           "parse_verify_us=%.2f loopback_rtt_p50_us=%.1f loopback_rtt_p99_us=%.1f loopback_rtt_sleeping_p50_us=%.1f "
           "bridge_exit=%d\n",
           cs.non200, cs.sse_errors, rstat.queued_writes, fl.verify_us, fl.sign_us, fl.parse_verify_us,
           fl.rtt_p50_us, fl.rtt_p99_us, fl.rtt_sleep_p50_us, bridge_exit_status);
    if (cs.first_error[0]) printf("first error (status %d): %s\n", cs.first_bad_status, cs.first_error);
    fflush(stdout);
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_bridge_load --bridge PATH --scenario latency|throughput|publish|capacity|requests\n"
            "         [--streams N] [--rate HZ] [--seconds S] [--requests N] [--clients C] [--window W]\n"
            "         [--hold S] [--content BYTES] [--bridge-cpu C] [--bench-cpu C] [--bridge-log PATH]\n"
            "         [--timeout S] [--floor-ms MS] [--warmup N] [--probe-extra] [--bridge-arg ARG]...\n"
            "         [--open-concurrency N] [--verbose] [--dump FILE]\n");
    exit(2);
}

/* Interrupted: never leave the bridge behind (async-signal-safe: kill and _exit only). */
static void on_fatal_signal(int sig)
{
    if (bridge_running) kill(bridge_proc.pid, SIGTERM);
    _exit(128 + sig);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    return ntohs(a.sin_port);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && (i++, true))
        if (OPT("--bridge"))
            o.bridge = v;
        else if (OPT("--scenario")) {
            o.sc_name = v;
            o.sc = !strcmp(v, "latency")      ? SC_LATENCY
                   : !strcmp(v, "throughput") ? SC_THROUGHPUT
                   : !strcmp(v, "publish")    ? SC_PUBLISH
                   : !strcmp(v, "capacity")   ? SC_CAPACITY
                   : !strcmp(v, "requests")   ? SC_REQUESTS
                                              : 0;
            if (o.sc == 0) usage();
        } else if (OPT("--streams"))
            o.streams = atoi(v);
        else if (OPT("--rate"))
            o.rate = atof(v);
        else if (OPT("--seconds"))
            o.seconds = atof(v);
        else if (OPT("--requests"))
            o.requests = atoi(v);
        else if (OPT("--clients"))
            o.clients = atoi(v);
        else if (OPT("--window"))
            o.window = atoi(v);
        else if (OPT("--hold"))
            o.hold = atof(v);
        else if (OPT("--content"))
            o.content = atoi(v);
        else if (OPT("--bridge-cpu"))
            o.bridge_cpu = atoi(v);
        else if (OPT("--bench-cpu"))
            o.bench_cpu = atoi(v);
        else if (OPT("--bridge-log"))
            o.bridge_log = v;
        else if (OPT("--timeout"))
            o.timeout = atof(v);
        else if (OPT("--floor-ms"))
            o.floor_ms = atoi(v);
        else if (OPT("--warmup"))
            o.warmup = atoi(v);
        else if (OPT("--open-concurrency"))
            o.open_concurrency = atoi(v);
        else if (strcmp(a, "--probe-extra") == 0)
            o.probe_extra = true;
        else if (strcmp(a, "--verbose") == 0)
            verbose = true;
        else if (OPT("--dump"))
            o.dump = v;
        else if (OPT("--bridge-arg") && o.n_bridge_args < 32)
            o.bridge_args[o.n_bridge_args++] = v;
        else
            usage();
#undef OPT
    }
    if (o.bridge == NULL || o.streams < 1 || o.clients < 1 || o.rate <= 0 || o.window < 1 || o.warmup < 1) usage();
    if (o.content < 16) o.content = 16;
    if (o.content > 4000) o.content = 4000;

    nb_mem_install();
    nb_log_setup(NB_LOG_WARN, false);
    nb_secp_init();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
    nb_keys_generate(&k_owner);
    nb_keys_generate(&k_backend);
    nb_keys_generate(&k_agent);
    snprintf(coord, sizeof coord, "31933:%s:%s", k_owner.pubkey_hex, DTAG);
    nb_buf_init(&scratch, SIZE_MAX);
    nb_buf_init(&framebuf, SIZE_MAX);
    nb_relay_msg_init(&rmsg);

    /* the floors: on the bridge's CPU while nothing else of ours runs */
    pin(o.bridge_cpu);
    measure_floors();
    pin(o.bench_cpu);
    measure_transport();

    n_measure = o.sc == SC_PUBLISH ? o.requests : o.sc == SC_REQUESTS ? 0 : o.streams;
    first_measure = o.warmup;
    n_slots = o.warmup + n_measure + (o.probe_extra ? 1 : 0);
    streams = nb_calloc((size_t)n_slots, sizeof *streams);
    for (int i = 0; i < n_slots; i++) {
        streams[i].slot = i;
        streams[i].role = (i < o.warmup || o.sc == SC_PUBLISH) ? R_QUICK : R_MEASURE;
    }

    loop = uv_default_loop();
    uv_tcp_init(loop, &relay_listener);
    struct sockaddr_in ra;
    uv_ip4_addr("127.0.0.1", 0, &ra);
    if (uv_tcp_bind(&relay_listener, (const struct sockaddr *)&ra, 0) != 0 ||
        uv_listen((uv_stream_t *)&relay_listener, 128, on_relay_conn) != 0)
        die("relay: cannot listen");
    int al = sizeof ra;
    uv_tcp_getsockname(&relay_listener, (struct sockaddr *)&ra, &al);
    relay_port = ntohs(ra.sin_port);
    http_port = free_port();
    uv_ip4_addr("127.0.0.1", http_port, &http_addr);
    make_project();
    make_status();

    /* the bridge: inherits the pinning to --bridge-cpu from this process at fork */
    char bind_arg[64], relay_arg[64], nsec_env[80];
    snprintf(bind_arg, sizeof bind_arg, "127.0.0.1:%d", http_port);
    snprintf(relay_arg, sizeof relay_arg, "ws://127.0.0.1:%d", relay_port);
    char sec_hex[65];
    nb_hex_encode(sec_hex, k_owner.seckey, 32);
    snprintf(nsec_env, sizeof nsec_env, "TENEX_NSEC=%s", sec_hex);
    const char *args[64];
    int na = 0;
    args[na++] = o.bridge;
    args[na++] = "--server";
    args[na++] = "--bind";
    args[na++] = bind_arg;
    args[na++] = "--relay";
    args[na++] = relay_arg;
    args[na++] = "--first-event-timeout";
    args[na++] = "900";
    args[na++] = "--idle-timeout";
    args[na++] = "900";
    args[na++] = "--turn-timeout";
    args[na++] = "3600";
    for (int i = 0; i < o.n_bridge_args; i++)
        args[na++] = o.bridge_args[i];
    args[na] = NULL;
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = nb_calloc(ne + 2, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "TENEX_NSEC=", 11) != 0) env[k++] = environ[i];
    env[k++] = nsec_env;
    int logfd = open(o.bridge_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) die("cannot open %s", o.bridge_log);
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = logfd},
                                     {.flags = UV_INHERIT_FD, .data.fd = logfd}};
    uv_process_options_t po = {.exit_cb = on_bridge_exit,
                               .file = o.bridge,
                               .args = (char **)args,
                               .env = env,
                               .stdio_count = 3,
                               .stdio = stdio};
    pin(o.bridge_cpu);
    int r = uv_spawn(loop, &bridge_proc, &po);
    pin(o.bench_cpu);
    if (r != 0) die("cannot start %s: %s", o.bridge, uv_strerror(r));
    bridge_running = true;
    close(logfd);
    nb_memwipe(sec_hex, sizeof sec_hex);
    nb_memwipe(nsec_env, sizeof nsec_env);

    uv_timer_init(loop, &tick_timer);
    uv_timer_start(&tick_timer, on_tick, 50, 50);
    uv_timer_init(loop, &gap_timer);
    uv_timer_init(loop, &retry_timer);
    uv_timer_init(loop, &status_timer);
    uv_timer_start(&status_timer, on_status_timer, 10000, 10000);
    uv_timer_init(loop, &watchdog);
    uv_timer_start(&watchdog, on_watchdog, (uint64_t)(o.timeout * 1000), 0);
    uv_idle_init(loop, &spin);
    uv_check_init(loop, &check);
    uv_check_start(&check, on_check);

    uv_run(loop, UV_RUN_DEFAULT);
    report();
    nb_free(env);
    return exit_code;
}
