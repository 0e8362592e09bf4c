/*
 * bench_http_floor — the HTTP floor for bench/bench_bridge.sh: the bridge's own HTTP layer
 * (nb_http_server, h2o underneath) on one libuv loop, answering with static content of the sizes
 * the bridge sends, so the bridge's figures can be set against what the bare HTTP layer does per
 * CPU second.
 *
 *   bench_http_floor [--bind ADDR (127.0.0.1:0)] [--log debug|info|warn|error|off (info)]
 *
 * Prints "listening port=N" once listening. The chat route (POST /<dtag>/chat/completions and
 * the other chat paths) reads a small JSON body:
 *   {"floor":"json","bytes":N}            200 application/json, a static JSON object of exactly
 *                                         N bytes (N >= 2; built once per N)
 *   {"floor":"sse","chunks":K,"bytes":B}  an SSE stream: K events, each the same pre-built
 *                                         `data: {…}\n\n` line of exactly B bytes (B >= 18), then
 *                                         `data: [DONE]\n\n`, then the end
 * Both carry X-Nostr-Event-Id and X-Nostr-Thread (64 hex digits each), as the bridge's answers
 * do, so the response heads are the same size too. As in the bridge, every SSE event is its own
 * nb_http_sse_write: an idle handle writes the next event of every open stream once per loop
 * iteration ([DONE] and the end in the iteration after the last event). A stream whose write is
 * refused is dropped (its on_gone frees it); one whose client leaves goes with on_gone.
 *
 * The access log (one info line per request, as the bridge writes) goes to stderr. SIGTERM/SIGINT:
 * close the server (open streams are broken off), print "exit json=… streams=… chunks=…
 * dropped=… loop_close=…" and exit 0 only if uv_loop_close() returned 0. SIGPIPE is ignored, as
 * the owner of a loop running nb_http_server must.
 */
#include "bridge/err.h"
#include "bridge/http_server.h"
#include "bridge/json.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/openai.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum { MAX_BYTES = 1 << 20, MAX_CHUNKS = 1000000, MAX_BLOBS = 64, SSE_OVERHEAD = 18 };

static const char EVENT_ID[] = "5af6de97a3ab8b277f7a74ea3a61a50417f2a45d010100d7378eac8fa39e9625";
static const char DONE[] = "data: [DONE]\n\n";

/* A static body ({"pad":"…"}) or SSE line (data: {"pad":"…"}\n\n), built once per size. */
typedef struct blob blob_t;
struct blob {
    bool sse;
    size_t len;
    char *data;
    blob_t *next;
};

typedef struct fstream fstream_t;
struct fstream {
    nb_http_req_t *r;
    const blob_t *line;
    int64_t left; /* events still to write */
    bool listed;  /* in the open list (false once dropped: on_gone frees it) */
    fstream_t *prev, *next;
};

static uv_loop_t loop;
static nb_http_server_t *srv;
static uv_signal_t sig_term, sig_int;
static uv_idle_t tick;
static blob_t *blobs;
static size_t n_blobs;
static fstream_t *streams; /* open streams with events left to write */
static bool stopping;
static struct {
    unsigned long long json, streams, chunks, dropped;
} st;

/* ---- static content ------------------------------------------------------------------------ */

static const blob_t *blob_get(bool sse, size_t len)
{
    for (blob_t *b = blobs; b != NULL; b = b->next)
        if (b->sse == sse && b->len == len) return b;
    if (n_blobs == MAX_BLOBS) return NULL;
    blob_t *b = nb_calloc(1, sizeof(*b));
    b->sse = sse;
    b->len = len;
    b->data = nb_malloc(len);
    if (sse) {
        /* data: {"pad":"xx…"}\n\n */
        memset(b->data, 'x', len);
        memcpy(b->data, "data: {\"pad\":\"", 14);
        memcpy(b->data + len - 4, "\"}\n\n", 4);
    } else if (len >= 10) {
        /* {"pad":"bb…"} */
        memset(b->data, 'b', len);
        memcpy(b->data, "{\"pad\":\"", 8);
        memcpy(b->data + len - 2, "\"}", 2);
    } else {
        /* { … } with spaces: still one JSON object */
        memset(b->data, ' ', len);
        b->data[0] = '{';
        b->data[len - 1] = '}';
    }
    b->next = blobs;
    blobs = b;
    n_blobs++;
    return b;
}

/* ---- streams ------------------------------------------------------------------------------- */

static void unlist(fstream_t *s)
{
    if (!s->listed) return;
    s->listed = false;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        streams = s->next;
    if (s->next != NULL) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    if (streams == NULL) uv_idle_stop(&tick);
}

static void on_gone(void *ud)
{
    fstream_t *s = ud;
    unlist(s);
    nb_free(s);
}

/* The write was refused: the server cuts the stream and on_gone follows, which frees it. */
static void drop(fstream_t *s)
{
    st.dropped++;
    unlist(s);
}

static void on_tick(uv_idle_t *h)
{
    (void)h;
    for (fstream_t *s = streams, *next; s != NULL; s = next) {
        next = s->next;
        if (s->left > 0) {
            if (nb_http_sse_write(s->r, s->line->data, s->line->len) != 0) {
                drop(s);
                continue;
            }
            s->left--;
            st.chunks++;
            continue;
        }
        if (nb_http_sse_write(s->r, DONE, sizeof(DONE) - 1) != 0) {
            drop(s);
            continue;
        }
        nb_http_sse_end(s->r);
        st.streams++;
        unlist(s);
        nb_free(s);
    }
}

/* ---- routes -------------------------------------------------------------------------------- */

static void bad_request(nb_http_req_t *r, const char *param, const char *msg)
{
    nb_api_error_t e;
    nb_api_error_set(&e, 400, "invalid_request_error", NULL, param, "%s", msg);
    nb_http_respond_error(r, &e);
}

static int64_t get_int(const char *body, const nb_json_tok_t *toks, const char *key)
{
    uint32_t v = nb_json_obj_get(body, toks, 0, key);
    int64_t out;
    if (v == 0 || toks[v].type != NB_JSON_NUMBER || nb_json_int64(body, &toks[v], &out) != 0) return -1;
    return out;
}

static void route_chat(void *ud, nb_http_req_t *r, const char *dtag, const char *body, size_t len)
{
    (void)ud;
    (void)dtag;
    nb_json_tok_t toks[16];
    size_t ntoks;
    if (nb_json_parse(toks, 16, &ntoks, body, len) != 0 || toks[0].type != NB_JSON_OBJECT) {
        bad_request(r, NULL, "the body must be a JSON object");
        return;
    }
    uint32_t f = nb_json_obj_get(body, toks, 0, "floor");
    bool sse = f != 0 && nb_json_str_eq(body, &toks[f], "sse");
    if (f == 0 || (!sse && !nb_json_str_eq(body, &toks[f], "json"))) {
        bad_request(r, "floor", "floor must be \"json\" or \"sse\"");
        return;
    }
    int64_t bytes = get_int(body, toks, "bytes");
    if (bytes < (sse ? SSE_OVERHEAD : 2) || bytes > MAX_BYTES) {
        bad_request(r, "bytes", sse ? "bytes must be 18 .. 1048576" : "bytes must be 2 .. 1048576");
        return;
    }
    int64_t chunks = sse ? get_int(body, toks, "chunks") : 0;
    if (chunks < 0 || chunks > MAX_CHUNKS) {
        bad_request(r, "chunks", "chunks must be 0 .. 1000000");
        return;
    }
    const blob_t *b = blob_get(sse, (size_t)bytes);
    if (b == NULL) {
        bad_request(r, "bytes", "too many different sizes");
        return;
    }
    nb_http_req_add_header(r, "X-Nostr-Event-Id", EVENT_ID);
    nb_http_req_add_header(r, "X-Nostr-Thread", EVENT_ID);
    if (!sse) {
        nb_http_respond_json(r, 200, b->data, b->len);
        st.json++;
        return;
    }
    fstream_t *s = nb_calloc(1, sizeof(*s));
    s->r = r;
    s->line = b;
    s->left = chunks;
    s->listed = true;
    s->next = streams;
    if (streams != NULL) streams->prev = s;
    streams = s;
    nb_http_req_on_gone(r, on_gone, s);
    nb_http_sse_start(r);
    if (!uv_is_active((uv_handle_t *)&tick)) uv_idle_start(&tick, on_tick);
}

static void route_models(void *ud, nb_http_req_t *r, const char *dtag)
{
    (void)ud;
    (void)dtag;
    static const char body[] = "{\"object\":\"list\",\"data\":[]}";
    nb_http_respond_json(r, 200, body, sizeof(body) - 1);
}

static void route_health(void *ud, nb_http_req_t *r)
{
    (void)ud;
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"status\":\"ok\",\"json\":%llu,\"streams\":%llu,\"chunks\":%llu,\"dropped\":%llu}",
                     st.json, st.streams, st.chunks, st.dropped);
    nb_http_respond_json(r, 200, body, (size_t)n);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    if (stopping) return;
    stopping = true;
    uv_idle_stop(&tick);
    nb_http_server_stop_accepting(srv);
    /* every open stream gets on_gone (broken off), which frees it */
    nb_http_server_close(srv, NULL, NULL);
    srv = NULL;
    uv_close((uv_handle_t *)&tick, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

/* ---- main ---------------------------------------------------------------------------------- */

static const nb_http_routes_t routes = {
    .chat = route_chat,
    .models = route_models,
    .health = route_health,
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    nb_mem_install();
    nb_http_config_t cfg;
    nb_http_config_defaults(&cfg);
    cfg.bind = "127.0.0.1:0";
    nb_log_level_t level = NB_LOG_INFO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) goto usage;
        i++;
        if (strcmp(a, "--bind") == 0)
            cfg.bind = v;
        else if (strcmp(a, "--log") != 0 || nb_log_level_parse(v, &level) != 0)
            goto usage;
    }
    nb_log_setup(level, false);

    uv_loop_init(&loop);
    int rc = nb_http_server_start(&srv, &loop, &cfg, &routes, NULL);
    if (rc != 0) {
        fprintf(stderr, "bench_http_floor: cannot listen on %s: %s\n", cfg.bind, nb_err_name(rc));
        uv_loop_close(&loop);
        return 1;
    }
    uv_idle_init(&loop, &tick);
    uv_signal_init(&loop, &sig_term);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_init(&loop, &sig_int);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    printf("listening port=%d\n", nb_http_server_port(srv));
    fflush(stdout);

    uv_run(&loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&loop);
    while (blobs != NULL) {
        blob_t *b = blobs;
        blobs = b->next;
        nb_free(b->data);
        nb_free(b);
    }
    printf("exit json=%llu streams=%llu chunks=%llu dropped=%llu loop_close=%d\n", st.json, st.streams,
           st.chunks, st.dropped, lc);
    return lc == 0 ? 0 : 1;

usage:
    fprintf(stderr, "usage: bench_http_floor [--bind HOST:PORT] [--log debug|info|warn|error|off]\n");
    return 2;
}
