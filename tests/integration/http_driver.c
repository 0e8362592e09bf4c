/*
 * http_driver — runs nb_http_server on a libuv loop with fake routes, for the integration tests.
 *
 *   http_driver [--bind ADDR] [--max-body N] [--heartbeat-ms N] [--max-queue N]
 *               [--max-conns N] [--cors ORIGIN]… [--no-metrics] [--no-native]
 *               [--ws-idle-ms N] [--max-ws-message N]
 *
 * The chat route does what the request body says (a JSON object, "mode" picks):
 *   {"mode":"json"}                              200 {"ok":true,"dtag":…,"len":…,"auth":bool}
 *   {"mode":"error","status":503}                an OpenAI error object with that status
 *   {"mode":"stream","chunks":5,"interval_ms":20[,"bytes":N]}
 *                                                SSE: a role chunk at once, then one chunk per
 *                                                interval ("bytes" pads each), then [DONE], end
 *   {"mode":"idle"}                              SSE started, nothing written (heartbeats only)
 *   {"mode":"flood","bytes":65536}               SSE: writes as fast as the timer allows until
 *                                                the server refuses (slow-reader cut);
 *                                                {"ev":"flood"} every 100 writes
 *   {"mode":"hang"}                              never answered
 *   {"mode":"big","bytes":N}                     200 with a JSON body of about N bytes
 * GET models answers a models list ("agent-a", "agent-b"; "<dtag>/…" on the global route),
 * /health answers {"status":"ok","active":…,"sessions":…,"ws":…}, /metrics a text gauge.
 *
 * GET /chat accepts a WebSocket (query "deny" → 401 instead; "defer" → accepted 20 ms after the
 * handler returned) and sends {"hello":ID} at once. Then, per text message (a JSON object):
 *   {"echo":…}                                   the same message back
 *   {"close":CODE[,"reason":"…"]}                nb_ws_close
 *   {"burst":N[,"bytes":B][,"then_close":CODE]}  N messages {"i":…,"pad":"…"} sent from inside
 *                                                on_message, then optionally nb_ws_close
 *   {"flood":N[,"bytes":B][,"per_tick":K]}       K messages per 1 ms tick until N are sent
 *                                                ({"flood_done":N} then) or the queue cap
 *                                                refuses one ("ws_limit" line)
 * anything else as text → {"error":"…"}; a binary message → {"binary":LEN}. Lines: "ws_open",
 * "ws_message", "ws_limit", "ws_close" (with the message count). --no-native leaves chat_ws and
 * chat_sse NULL. POST /chat/sse answers an SSE stream: data {"len":body length}, then [DONE].
 *
 * Every event is one JSON line on stdout ("ev" says what). SIGTERM/SIGINT: stop accepting, end
 * every open stream with an SSE error event and [DONE], answer pending requests with 503, send
 * {"bye":true} on every WebSocket (the server then closes them with 1001), close the server, and
 * exit 0 only if uv_loop_close() returned 0. SIGPIPE is ignored, as the owner of
 * a loop running nb_http_server must.
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
#include <time.h>
#include <uv.h>

#define MAX_ORIGINS 8

typedef enum { M_JSON, M_ERROR, M_STREAM, M_IDLE, M_FLOOD, M_HANG, M_BIG } mode_t_;

typedef struct session session_t;
struct session {
    nb_http_req_t *r;
    char id[40];
    mode_t_ mode;
    int64_t chunks, sent, interval_ms, bytes;
    uv_timer_t *timer; /* malloc'd, closed with uv_close */
    session_t *prev, *next;
};

/* One accepted WebSocket (or one waiting to be accepted, with "defer"). */
typedef struct wsess wsess_t;
struct wsess {
    nb_ws_t *ws;
    nb_http_req_t *pending; /* "defer": the request, until the timer accepts it */
    int id;
    int64_t received, sent;
    int64_t flood_left, flood_i, bytes, per_tick;
    uv_timer_t *timer; /* malloc'd, closed with uv_close */
    wsess_t *prev, *next;
};

static uv_loop_t loop;
static nb_http_server_t *srv;
static uv_signal_t sig_term, sig_int;
static session_t *sessions;
static size_t n_sessions;
static wsess_t *wsessions;
static size_t n_ws;
static int ws_ids;
static bool stopping;

/* ---- output ------------------------------------------------------------------------------- */

static void emit(nb_buf_t *b)
{
    nb_buf_appends(b, "}\n");
    fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
    nb_buf_dispose(b);
}

static void begin(nb_buf_t *b, const char *ev)
{
    nb_buf_init(b, 1u << 20);
    nb_buf_appendf(b, "{\"ev\":\"%s\"", ev);
}

static void jstr(nb_buf_t *b, const char *key, const char *s)
{
    nb_buf_appendf(b, ",\"%s\":", key);
    if (s == NULL)
        nb_buf_appends(b, "null");
    else
        nb_json_write_string(b, s, strlen(s));
}

static void print_simple(const char *ev, const session_t *ss, const char *why)
{
    nb_buf_t b;
    begin(&b, ev);
    if (ss != NULL) jstr(&b, "id", ss->id);
    if (why != NULL) jstr(&b, "why", why);
    if (ss != NULL) nb_buf_appendf(&b, ",\"sent\":%lld", (long long)ss->sent);
    nb_buf_appendf(&b, ",\"active\":%zu,\"sessions\":%zu", srv ? nb_http_server_active(srv) : 0, n_sessions);
    emit(&b);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void on_timer_closed(uv_handle_t *h)
{
    nb_free(h);
}

static void session_free(session_t *ss)
{
    if (ss->timer != NULL) uv_close((uv_handle_t *)ss->timer, on_timer_closed);
    if (ss->prev != NULL)
        ss->prev->next = ss->next;
    else
        sessions = ss->next;
    if (ss->next != NULL) ss->next->prev = ss->prev;
    n_sessions--;
    nb_free(ss);
}

static void on_gone(void *ud)
{
    session_t *ss = ud;
    ss->r = NULL;
    print_simple("gone", ss, NULL);
    session_free(ss);
}

static session_t *session_new(nb_http_req_t *r, mode_t_ mode)
{
    session_t *ss = nb_calloc(1, sizeof(*ss));
    ss->r = r;
    ss->mode = mode;
    snprintf(ss->id, sizeof(ss->id), "%s", nb_http_req_id(r));
    ss->next = sessions;
    if (sessions != NULL) sessions->prev = ss;
    sessions = ss;
    n_sessions++;
    nb_http_req_on_gone(r, on_gone, ss);
    return ss;
}

static void stream_write_or_cut(session_t *ss, const char *p, size_t len)
{
    int rc = nb_http_sse_write(ss->r, p, len);
    if (rc == NB_ELIMIT) {
        /* The server cuts the connection; on_gone follows and frees the session. */
        print_simple("limit", ss, NULL);
        if (ss->timer != NULL) uv_timer_stop(ss->timer);
    } else if (rc != 0) {
        print_simple("write_error", ss, nb_err_name(rc));
    }
}

static void on_stream_tick(uv_timer_t *t)
{
    session_t *ss = t->data;
    if (ss->mode == M_FLOOD) {
        nb_buf_t b;
        nb_buf_init(&b, (size_t)ss->bytes + 64);
        nb_buf_appends(&b, "data: ");
        for (int64_t i = 0; i < ss->bytes; i++)
            nb_buf_appendc(&b, 'f');
        nb_buf_appends(&b, "\n\n");
        ss->sent++;
        stream_write_or_cut(ss, b.data, b.len);
        nb_buf_dispose(&b);
        if (ss->sent % 100 == 0 && ss->r != NULL) print_simple("flood", ss, NULL);
        return;
    }
    nb_buf_t b;
    nb_buf_init(&b, (size_t)ss->bytes + 128);
    if (ss->sent < ss->chunks) {
        nb_buf_appendf(&b, "data: {\"i\":%lld,\"pad\":\"", (long long)ss->sent);
        for (int64_t i = 0; i < ss->bytes; i++)
            nb_buf_appendc(&b, 'x');
        nb_buf_appends(&b, "\"}\n\n");
        ss->sent++;
        stream_write_or_cut(ss, b.data, b.len);
        nb_buf_dispose(&b);
        return;
    }
    nb_buf_dispose(&b);
    stream_write_or_cut(ss, "data: [DONE]\n\n", 14);
    nb_http_sse_end(ss->r);
    print_simple("stream_end", ss, "done");
    session_free(ss);
}

/* ---- routes -------------------------------------------------------------------------------- */

static int64_t get_int(const char *body, const nb_json_tok_t *toks, const char *key, int64_t dflt)
{
    uint32_t v = nb_json_obj_get(body, toks, 0, key);
    int64_t out;
    if (v == 0 || toks[v].type != NB_JSON_NUMBER || nb_json_int64(body, &toks[v], &out) != 0) return dflt;
    return out;
}

static void route_chat(void *ud, nb_http_req_t *r, const char *dtag, const char *body, size_t len)
{
    nb_buf_t b;
    begin(&b, "request");
    jstr(&b, "route", "chat");
    jstr(&b, "dtag", dtag);
    jstr(&b, "id", nb_http_req_id(r));
    jstr(&b, "peer", nb_http_req_peer(r));
    nb_buf_appendf(&b, ",\"len\":%zu", len);
    emit(&b);

    nb_json_tok_t toks[64];
    size_t ntoks;
    nb_api_error_t e;
    if (nb_json_parse(toks, 64, &ntoks, body, len) != 0 || toks[0].type != NB_JSON_OBJECT) {
        nb_api_error_set(&e, 400, "invalid_request_error", NULL, NULL, "the test body must be a JSON object");
        nb_http_respond_error(r, &e);
        return;
    }
    uint32_t m = nb_json_obj_get(body, toks, 0, "mode");
    const char *names[] = {"json", "error", "stream", "idle", "flood", "hang", "big"};
    int mode = -1;
    for (int i = 0; m != 0 && i < 7; i++)
        if (nb_json_str_eq(body, &toks[m], names[i])) mode = i;
    if (mode < 0) {
        nb_api_error_set(&e, 400, "invalid_request_error", NULL, "mode", "unknown mode");
        nb_http_respond_error(r, &e);
        return;
    }
    switch ((mode_t_)mode) {
    case M_JSON: {
        nb_buf_t out;
        nb_buf_init(&out, 4096);
        size_t alen = 0;
        bool auth = nb_http_req_header(r, "Authorization", &alen) != NULL;
        nb_buf_appends(&out, "{\"ok\":true,\"dtag\":");
        if (dtag == NULL)
            nb_buf_appends(&out, "null");
        else
            nb_json_write_string(&out, dtag, strlen(dtag));
        nb_buf_appendf(&out, ",\"len\":%zu,\"auth\":%s,\"auth_len\":%zu}", len, auth ? "true" : "false",
                       alen);
        nb_http_req_add_header(r, "X-Nostr-Event-Id", "abc123");
        nb_http_req_add_header(r, "X-Bad", "evil\r\nInjected: 1");
        nb_http_respond_json(r, 200, out.data, out.len);
        nb_buf_dispose(&out);
        return;
    }
    case M_ERROR: {
        int status = (int)get_int(body, toks, "status", 500);
        nb_api_error_set(&e, status, status < 500 ? "invalid_request_error" : "server_error",
                         status == 404 ? "model_not_found" : NULL, NULL, "fake error %d", status);
        nb_http_respond_error(r, &e);
        return;
    }
    case M_BIG: {
        int64_t n = get_int(body, toks, "bytes", 1000);
        nb_buf_t out;
        nb_buf_init(&out, (size_t)n + 64);
        nb_buf_appends(&out, "{\"pad\":\"");
        for (int64_t i = 0; i < n; i++)
            nb_buf_appendc(&out, 'b');
        nb_buf_appends(&out, "\"}");
        nb_http_respond_json(r, 200, out.data, out.len);
        nb_buf_dispose(&out);
        return;
    }
    case M_HANG:
        session_new(r, M_HANG);
        return;
    case M_STREAM:
    case M_IDLE:
    case M_FLOOD: {
        session_t *ss = session_new(r, (mode_t_)mode);
        ss->chunks = get_int(body, toks, "chunks", 3);
        ss->interval_ms = get_int(body, toks, "interval_ms", 10);
        ss->bytes = get_int(body, toks, "bytes", mode == M_FLOOD ? 65536 : 0);
        nb_http_req_add_header(r, "X-Stream-Mode", names[mode]);
        nb_http_sse_start(r);
        if (mode == M_IDLE) return;
        if (mode == M_STREAM) {
            nb_chunk_ctx_t c = {.id = "chatcmpl-test", .created = 1, .model = "agent-a"};
            nb_buf_t out;
            nb_buf_init(&out, 4096);
            nb_oai_chunk_role(&out, &c);
            int rc = nb_http_sse_write(r, out.data, out.len);
            nb_buf_dispose(&out);
            if (rc != 0) return;
        }
        ss->timer = nb_malloc(sizeof(*ss->timer));
        uv_timer_init(&loop, ss->timer);
        ss->timer->data = ss;
        uint64_t iv = ss->interval_ms > 0 ? (uint64_t)ss->interval_ms : 1;
        uv_timer_start(ss->timer, on_stream_tick, iv, iv);
        return;
    }
    }
}

/* ---- WebSockets ---------------------------------------------------------------------------- */

static void ws_line(const char *ev, const wsess_t *w, const char *why)
{
    nb_buf_t b;
    begin(&b, ev);
    nb_buf_appendf(&b, ",\"id\":%d,\"received\":%lld,\"sent\":%lld", w->id, (long long)w->received,
                   (long long)w->sent);
    if (why != NULL) jstr(&b, "why", why);
    if (w->ws != NULL) nb_buf_appendf(&b, ",\"queued\":%zu", nb_ws_queued(w->ws));
    nb_buf_appendf(&b, ",\"active\":%zu,\"ws\":%zu", srv ? nb_http_server_active(srv) : 0, n_ws);
    emit(&b);
}

static void wsess_free(wsess_t *w)
{
    if (w->timer != NULL) uv_close((uv_handle_t *)w->timer, on_timer_closed);
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        wsessions = w->next;
    if (w->next != NULL) w->next->prev = w->prev;
    n_ws--;
    nb_free(w);
}

/* Send one message; false once the socket refuses (the reason is logged). */
static bool ws_send(wsess_t *w, const char *p, size_t len)
{
    int rc = nb_ws_send(w->ws, p, len);
    if (rc == 0) {
        w->sent++;
        return true;
    }
    ws_line(rc == NB_ELIMIT ? "ws_limit" : "ws_send_error", w, nb_err_name(rc));
    return false;
}

static bool ws_send_pad(wsess_t *w, int64_t i, int64_t bytes)
{
    nb_buf_t b;
    nb_buf_init(&b, (size_t)bytes + 64);
    nb_buf_appendf(&b, "{\"i\":%lld,\"pad\":\"", (long long)i);
    for (int64_t k = 0; k < bytes; k++)
        nb_buf_appendc(&b, 'p');
    nb_buf_appends(&b, "\"}");
    bool ok = ws_send(w, b.data, b.len);
    nb_buf_dispose(&b);
    return ok;
}

static void on_flood_tick(uv_timer_t *t)
{
    wsess_t *w = t->data;
    for (int64_t k = 0; k < w->per_tick && w->flood_left > 0; k++) {
        if (!ws_send_pad(w, w->flood_i, w->bytes)) {
            uv_timer_stop(t);
            return;
        }
        w->flood_i++;
        w->flood_left--;
    }
    if (w->flood_left == 0) {
        uv_timer_stop(t);
        char done[64];
        int n = snprintf(done, sizeof(done), "{\"flood_done\":%lld}", (long long)w->flood_i);
        (void)ws_send(w, done, (size_t)n);
        ws_line("ws_flood_done", w, NULL);
    }
}

static void on_ws_message(void *ud, nb_ws_t *ws, const char *p, size_t len, bool is_text)
{
    wsess_t *w = ud;
    w->received++;
    {
        nb_buf_t b;
        begin(&b, "ws_message");
        nb_buf_appendf(&b, ",\"id\":%d,\"len\":%zu,\"text\":%s", w->id, len, is_text ? "true" : "false");
        emit(&b);
    }
    char out[128];
    if (!is_text) {
        int n = snprintf(out, sizeof(out), "{\"binary\":%zu}", len);
        (void)ws_send(w, out, (size_t)n);
        return;
    }
    nb_json_tok_t toks[64];
    size_t ntoks;
    if (nb_json_parse(toks, 64, &ntoks, p, len) != 0 || toks[0].type != NB_JSON_OBJECT) {
        static const char bad[] = "{\"error\":\"not a JSON object\"}";
        (void)ws_send(w, bad, sizeof(bad) - 1);
        return;
    }
    if (nb_json_obj_get(p, toks, 0, "echo") != 0) {
        (void)ws_send(w, p, len);
        return;
    }
    uint32_t v;
    if ((v = nb_json_obj_get(p, toks, 0, "close")) != 0) {
        char reason[256] = "";
        uint32_t rv = nb_json_obj_get(p, toks, 0, "reason");
        if (rv != 0) (void)nb_json_string_to(reason, sizeof(reason), NULL, p, &toks[rv]);
        nb_ws_close(ws, (uint16_t)get_int(p, toks, "close", 1000), reason);
        ws_line("ws_closing", w, NULL);
        return;
    }
    if (nb_json_obj_get(p, toks, 0, "burst") != 0) {
        int64_t n = get_int(p, toks, "burst", 1), bytes = get_int(p, toks, "bytes", 10);
        for (int64_t i = 0; i < n; i++)
            if (!ws_send_pad(w, i, bytes)) return;
        if (nb_json_obj_get(p, toks, 0, "then_close") != 0)
            nb_ws_close(ws, (uint16_t)get_int(p, toks, "then_close", 1000), "burst done");
        return;
    }
    if (nb_json_obj_get(p, toks, 0, "flood") != 0) {
        w->flood_left = get_int(p, toks, "flood", 1000);
        w->flood_i = 0;
        w->bytes = get_int(p, toks, "bytes", 65536);
        w->per_tick = get_int(p, toks, "per_tick", 1);
        if (w->timer == NULL) {
            w->timer = nb_malloc(sizeof(*w->timer));
            uv_timer_init(&loop, w->timer);
            w->timer->data = w;
        }
        uv_timer_start(w->timer, on_flood_tick, 1, 1);
        return;
    }
    static const char unknown[] = "{\"error\":\"unknown command\"}";
    (void)ws_send(w, unknown, sizeof(unknown) - 1);
}

static void on_ws_close(void *ud, nb_ws_t *ws)
{
    wsess_t *w = ud;
    w->ws = NULL;
    ws_line("ws_close", w, NULL);
    wsess_free(w);
}

static const nb_ws_cb_t ws_callbacks = {on_ws_message, on_ws_close};

static void ws_accept(wsess_t *w, nb_http_req_t *r)
{
    w->ws = nb_http_ws_accept(r, &ws_callbacks, w);
    if (w->ws == NULL) {
        ws_line("ws_rejected", w, "not a handshake");
        wsess_free(w);
        return;
    }
    nb_buf_t b;
    begin(&b, "ws_open");
    nb_buf_appendf(&b, ",\"id\":%d", w->id);
    jstr(&b, "peer", nb_ws_peer(w->ws));
    emit(&b);
    char hello[64];
    int n = snprintf(hello, sizeof(hello), "{\"hello\":%d}", w->id);
    (void)ws_send(w, hello, (size_t)n); /* before the 101 is even written */
}

static void on_defer_accept(uv_timer_t *t)
{
    wsess_t *w = t->data;
    nb_http_req_t *r = w->pending;
    w->pending = NULL;
    ws_accept(w, r);
}

static void on_pending_gone(void *ud)
{
    wsess_t *w = ud;
    ws_line("ws_pending_gone", w, NULL);
    wsess_free(w);
}

static void route_chat_ws(void *ud, nb_http_req_t *r)
{
    size_t qlen;
    const char *q = nb_http_req_query(r, &qlen);
    nb_buf_t b;
    begin(&b, "request");
    jstr(&b, "route", "chat_ws");
    jstr(&b, "id", nb_http_req_id(r));
    nb_buf_appends(&b, ",\"query\":");
    nb_json_write_string(&b, q, qlen);
    nb_buf_appendf(&b, ",\"handshake\":%s", nb_http_is_ws_handshake(r) ? "true" : "false");
    emit(&b);

    char query[256];
    snprintf(query, sizeof(query), "%.*s", (int)(qlen < 255 ? qlen : 255), q);
    if (strstr(query, "deny") != NULL) {
        nb_api_error_t e;
        nb_api_error_set(&e, 401, "invalid_request_error", "invalid_api_key", NULL, "denied by the test");
        nb_http_respond_error(r, &e);
        return;
    }
    wsess_t *w = nb_calloc(1, sizeof(*w));
    w->id = ++ws_ids;
    w->next = wsessions;
    if (wsessions != NULL) wsessions->prev = w;
    wsessions = w;
    n_ws++;
    if (strstr(query, "defer") != NULL) {
        w->pending = r;
        nb_http_req_on_gone(r, on_pending_gone, w);
        w->timer = nb_malloc(sizeof(*w->timer));
        uv_timer_init(&loop, w->timer);
        w->timer->data = w;
        uv_timer_start(w->timer, on_defer_accept, 20, 0);
        return;
    }
    ws_accept(w, r);
}

static void route_chat_sse(void *ud, nb_http_req_t *r, const char *body, size_t len)
{
    nb_buf_t b;
    begin(&b, "request");
    jstr(&b, "route", "chat_sse");
    jstr(&b, "id", nb_http_req_id(r));
    nb_buf_appendf(&b, ",\"len\":%zu", len);
    emit(&b);
    char out[128];
    int n = snprintf(out, sizeof(out), "data: {\"len\":%zu}\n\ndata: [DONE]\n\n", len);
    nb_http_sse_start(r);
    (void)nb_http_sse_write(r, out, (size_t)n);
    nb_http_sse_end(r);
}

static void route_models(void *ud, nb_http_req_t *r, const char *dtag)
{
    nb_buf_t b;
    begin(&b, "request");
    jstr(&b, "route", "models");
    jstr(&b, "dtag", dtag);
    emit(&b);
    const char *local[] = {"agent-a", "agent-b"};
    const char *global[] = {"proj/agent-a", "proj/agent-b"};
    nb_buf_t out;
    nb_buf_init(&out, 4096);
    nb_oai_models(&out, dtag ? local : global, 2, 1700000000, "tenex");
    nb_http_respond_json(r, 200, out.data, out.len);
    nb_buf_dispose(&out);
}

static void route_health(void *ud, nb_http_req_t *r)
{
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"status\":\"ok\",\"active\":%zu,\"sessions\":%zu,\"ws\":%zu}",
                     nb_http_server_active(srv), n_sessions, n_ws);
    nb_http_respond_json(r, 200, body, (size_t)n);
}

static void route_metrics(void *ud, nb_http_req_t *r)
{
    char body[128];
    int n = snprintf(body, sizeof(body), "bridge_streams_open %zu\n", n_sessions);
    nb_http_respond(r, 200, "text/plain; version=0.0.4", body, (size_t)n);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static void on_server_closed(void *data)
{
    srv = NULL;
    print_simple("closed", NULL, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    if (stopping) return;
    stopping = true;
    print_simple("signal", NULL, signum == SIGTERM ? "SIGTERM" : "SIGINT");
    nb_http_server_stop_accepting(srv);
    nb_api_error_t e;
    nb_api_error_set(&e, 503, "server_error", NULL, NULL, "The server is shutting down.");
    while (sessions != NULL) {
        session_t *ss = sessions;
        if (nb_http_sse_started(ss->r)) {
            nb_buf_t b;
            nb_buf_init(&b, 8192);
            nb_oai_sse_error(&b, &e);
            nb_oai_sse_done(&b);
            (void)nb_http_sse_write(ss->r, b.data, b.len);
            nb_buf_dispose(&b);
            nb_http_sse_end(ss->r);
            print_simple("stream_end", ss, "shutdown");
        } else {
            nb_http_respond_error(ss->r, &e);
            print_simple("answered", ss, "shutdown");
        }
        session_free(ss);
    }
    for (wsess_t *w = wsessions, *next; w != NULL; w = next) {
        next = w->next;
        if (w->pending != NULL) continue; /* the server answers it 503 */
        if (w->timer != NULL) uv_timer_stop(w->timer);
        if (w->ws != NULL) (void)ws_send(w, "{\"bye\":true}", 12);
    }
    nb_http_server_close(srv, on_server_closed, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

/* ---- main ---------------------------------------------------------------------------------- */

static nb_http_routes_t routes = {
    .chat = route_chat,
    .models = route_models,
    .health = route_health,
    .metrics = route_metrics,
    .chat_ws = route_chat_ws,
    .chat_sse = route_chat_sse,
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    nb_mem_install();
    nb_log_setup(NB_LOG_INFO, false);

    nb_http_config_t cfg;
    nb_http_config_defaults(&cfg);
    cfg.bind = "127.0.0.1:0";
    const char *origins[MAX_ORIGINS];
    size_t n_origins = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-metrics") == 0) {
            routes.metrics = NULL;
            continue;
        }
        if (strcmp(a, "--no-native") == 0) {
            routes.chat_ws = NULL;
            routes.chat_sse = NULL;
            continue;
        }
        if (v == NULL) goto usage;
        i++;
        if (strcmp(a, "--bind") == 0)
            cfg.bind = v;
        else if (strcmp(a, "--max-body") == 0)
            cfg.max_body = strtoull(v, NULL, 10);
        else if (strcmp(a, "--heartbeat-ms") == 0)
            cfg.heartbeat_ms = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--max-queue") == 0)
            cfg.max_stream_queue = strtoull(v, NULL, 10);
        else if (strcmp(a, "--max-conns") == 0)
            cfg.max_connections = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--ws-idle-ms") == 0)
            cfg.ws_idle_timeout_ms = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--max-ws-message") == 0)
            cfg.max_ws_message = strtoull(v, NULL, 10);
        else if (strcmp(a, "--cors") == 0 && n_origins < MAX_ORIGINS)
            origins[n_origins++] = v;
        else
            goto usage;
    }
    cfg.cors_origins = n_origins ? origins : NULL;
    cfg.n_cors_origins = n_origins;

    uv_loop_init(&loop);
    int rc = nb_http_server_start(&srv, &loop, &cfg, &routes, NULL);
    if (rc != 0) {
        nb_buf_t b;
        begin(&b, "start_failed");
        jstr(&b, "err", nb_err_name(rc));
        emit(&b);
        uv_loop_close(&loop);
        return 1;
    }
    uv_signal_init(&loop, &sig_term);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_init(&loop, &sig_int);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    {
        nb_buf_t b;
        begin(&b, "listening");
        nb_buf_appendf(&b, ",\"port\":%d", nb_http_server_port(srv));
        emit(&b);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&loop);
    {
        nb_buf_t b;
        begin(&b, "exit");
        nb_buf_appendf(&b, ",\"loop_close\":%d", lc);
        emit(&b);
    }
    return lc == 0 ? 0 : 1;

usage:
    fprintf(stderr, "usage: http_driver [--bind ADDR] [--max-body N] [--heartbeat-ms N] [--max-queue N] "
                    "[--max-conns N] [--cors ORIGIN]... [--no-metrics] [--no-native] [--ws-idle-ms N] "
                    "[--max-ws-message N]\n");
    return 2;
}
