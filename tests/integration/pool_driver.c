/*
 * pool_driver — runs an nb_pool on a libuv loop for the integration tests.
 *
 *   pool_driver --relay URL [--relay URL …] [--backoff-min MS] [--backoff-max MS]
 *               [--connect-timeout S] [--ping S] [--pong S] [--max-frame N] [--max-queue N]
 *               [--max-subs N] [--publish-timeout MS] [--dedup N] [--ca PEM] [--no-keys]
 *
 * Commands on stdin, one per line:
 *   sub NAME FILTERS      FILTERS: a JSON filter object or an array of them
 *   unsub NAME
 *   pub NAME KIND TEXT…   sign (with the driver's random key) and publish
 *   pubtag NAME KIND TAG VALUE TEXT…   the same with one tag [TAG, VALUE]
 *   stats | relays
 *   quit                  (also on EOF) orderly shutdown, then {"ev":"exit","loop_close":rc}
 *
 * Everything that happens is printed as one JSON object per line on stdout ("ev" says what).
 * Exit status 0 only if the pool closed cleanly and uv_loop_close() returned 0.
 */
#include "bridge/err.h"
#include "bridge/event.h"
#include "bridge/filter.h"
#include "bridge/hex.h"
#include "bridge/json.h"
#include "bridge/keys.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "bridge/relay_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define MAX_RELAYS 16
#define MAX_NAMES 256

typedef struct {
    char name[64];
    nb_sub_t *sub;
} named_sub_t;

typedef struct named_pub named_pub_t;
struct named_pub {
    char name[64];
    named_pub_t *next, *prev; /* outstanding: freed at exit if the pool closed first */
};
static named_pub_t *pubs;

static void pub_unlink(named_pub_t *np)
{
    if (np->prev != NULL)
        np->prev->next = np->next;
    else
        pubs = np->next;
    if (np->next != NULL) np->next->prev = np->prev;
    nb_free(np);
}

static uv_loop_t loop;
static uv_pipe_t in_pipe;
static bool in_open;
static nb_pool_t *pool;
static nb_keys_t keys;
static bool have_keys = true;
static named_sub_t subs[MAX_NAMES];
static nb_buf_t line;
static bool quitting;
static bool pool_closed;

/* ---- output ------------------------------------------------------------------------------- */

static void jstr(nb_buf_t *b, const char *key, const char *s, size_t len)
{
    nb_buf_appendf(b, ",\"%s\":", key);
    nb_json_write_string(b, s, len);
}

static void emit(nb_buf_t *b)
{
    nb_buf_appends(b, "}\n");
    fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
    nb_buf_dispose(b);
}

static void begin(nb_buf_t *b, const char *ev)
{
    nb_buf_init(b, 1u << 24);
    nb_buf_appendf(b, "{\"ev\":\"%s\"", ev);
}

static void print_error(const char *what, int err)
{
    nb_buf_t b;
    begin(&b, "error");
    jstr(&b, "what", what, strlen(what));
    jstr(&b, "err", nb_err_name(err), strlen(nb_err_name(err)));
    emit(&b);
}

static void append_relay(nb_buf_t *b, size_t idx, const nb_relay_info_t *ri)
{
    nb_buf_appendf(b, ",\"idx\":%zu", idx);
    jstr(b, "url", ri->url, strlen(ri->url));
    nb_buf_appendf(b, ",\"state\":\"%s\"", nb_relay_state_name(ri->state));
    jstr(b, "error", ri->last_error, strlen(ri->last_error));
    nb_buf_appendf(b, ",\"reconnects\":%llu,\"connects\":%llu,\"authenticated\":%s,\"subs\":%u",
                   (unsigned long long)ri->reconnects, (unsigned long long)ri->connects,
                   ri->authenticated ? "true" : "false", ri->subs);
}

/* ---- pool callbacks ----------------------------------------------------------------------- */

static void on_relay_state(void *ud, size_t idx, const nb_relay_info_t *ri)
{
    nb_buf_t b;
    begin(&b, "relay");
    append_relay(&b, idx, ri);
    emit(&b);
}

static void on_event(void *ud, nb_sub_t *s, const nb_event_t *ev, const char *relay_url)
{
    named_sub_t *ns = ud;
    char id[65], pk[65];
    nb_event_id_hex(ev, id);
    nb_hex_encode(pk, ev->pubkey, 32);
    nb_buf_t b;
    begin(&b, "event");
    jstr(&b, "name", ns->name, strlen(ns->name));
    jstr(&b, "id", id, 64);
    jstr(&b, "pubkey", pk, 64);
    nb_buf_appendf(&b, ",\"kind\":%u", ev->kind);
    jstr(&b, "content", ev->content.p, ev->content.len);
    jstr(&b, "relay", relay_url, strlen(relay_url));
    emit(&b);
}

static void on_eose(void *ud, nb_sub_t *s)
{
    named_sub_t *ns = ud;
    nb_buf_t b;
    begin(&b, "eose");
    jstr(&b, "name", ns->name, strlen(ns->name));
    emit(&b);
}

static void on_closed_sub(void *ud, nb_sub_t *s, const char *relay_url, const char *msg)
{
    named_sub_t *ns = ud;
    nb_buf_t b;
    begin(&b, "closed");
    jstr(&b, "name", ns->name, strlen(ns->name));
    jstr(&b, "relay", relay_url, strlen(relay_url));
    jstr(&b, "msg", msg, strlen(msg));
    emit(&b);
}

static void on_pub(void *ud, int result, const char *detail)
{
    named_pub_t *np = ud;
    nb_buf_t b;
    begin(&b, "pub_result");
    jstr(&b, "name", np->name, strlen(np->name));
    const char *r = result == 0 ? "OK" : nb_err_name(result);
    jstr(&b, "result", r, strlen(r));
    jstr(&b, "detail", detail, strlen(detail));
    emit(&b);
    pub_unlink(np);
}

static void on_pool_closed(void *data)
{
    pool_closed = true;
    pool = NULL;
    nb_buf_t b;
    begin(&b, "pool_closed");
    emit(&b);
}

/* ---- commands ----------------------------------------------------------------------------- */

static named_sub_t *find_sub(const char *name)
{
    for (size_t i = 0; i < MAX_NAMES; i++)
        if (subs[i].sub != NULL && strcmp(subs[i].name, name) == 0) return &subs[i];
    return NULL;
}

static int parse_filters(const char *json, nb_filter_t *out, size_t cap, size_t *n)
{
    size_t ntoks = 0, len = strlen(json);
    nb_json_tok_t *toks = nb_calloc(4096, sizeof *toks);
    int err = nb_json_parse(toks, 4096, &ntoks, json, len);
    *n = 0;
    if (err < 0) goto out;
    if (toks[0].type == NB_JSON_OBJECT) {
        nb_filter_init(&out[0]);
        err = nb_filter_from_tokens(&out[0], json, toks, 0);
        *n = 1;
    } else if (toks[0].type == NB_JSON_ARRAY) {
        uint32_t idx = 1;
        for (uint32_t i = 0; i < toks[0].size && *n < cap; i++) {
            nb_filter_init(&out[*n]);
            (*n)++;
            err = nb_filter_from_tokens(&out[*n - 1], json, toks, idx);
            if (err < 0) break;
            idx = toks[idx].next;
        }
    } else {
        err = NB_EFILTER;
    }
out:
    nb_free(toks);
    return err;
}

static void cmd_sub(char *args)
{
    char *name = strtok_r(args, " ", &args);
    if (name == NULL || args == NULL || find_sub(name) != NULL) {
        print_error("sub: usage or duplicate name", NB_EINVAL);
        return;
    }
    named_sub_t *ns = NULL;
    for (size_t i = 0; i < MAX_NAMES; i++)
        if (subs[i].sub == NULL) {
            ns = &subs[i];
            break;
        }
    nb_filter_t f[8];
    size_t n = 0;
    int err = ns != NULL ? parse_filters(args, f, 8, &n) : NB_ELIMIT;
    if (err == 0) {
        snprintf(ns->name, sizeof ns->name, "%s", name);
        nb_sub_cb_t cb = {on_event, on_eose, on_closed_sub};
        err = nb_pool_subscribe(pool, &ns->sub, f, n, &cb, ns);
    }
    for (size_t i = 0; i < n; i++)
        nb_filter_dispose(&f[i]);
    nb_buf_t b;
    begin(&b, "sub");
    jstr(&b, "name", name, strlen(name));
    nb_buf_appendf(&b, ",\"rc\":%d", err);
    if (err == 0) jstr(&b, "id", nb_sub_id(ns->sub), strlen(nb_sub_id(ns->sub)));
    emit(&b);
}

static void cmd_unsub(char *args)
{
    named_sub_t *ns = find_sub(args);
    if (ns == NULL) {
        print_error("unsub: unknown name", NB_ENOTFOUND);
        return;
    }
    nb_sub_release(ns->sub);
    ns->sub = NULL;
    nb_buf_t b;
    begin(&b, "unsub");
    jstr(&b, "name", args, strlen(args));
    emit(&b);
}

static void cmd_pub(char *args, bool with_tag)
{
    char *name = strtok_r(args, " ", &args);
    char *kind = name ? strtok_r(args, " ", &args) : NULL;
    char *tag = with_tag && kind ? strtok_r(args, " ", &args) : NULL;
    char *value = tag ? strtok_r(args, " ", &args) : NULL;
    if (kind == NULL || !have_keys || (with_tag && value == NULL)) {
        print_error("usage: pub NAME KIND TEXT | pubtag NAME KIND TAG VALUE TEXT", NB_EINVAL);
        return;
    }
    nb_event_t ev;
    nb_event_init(&ev);
    if (with_tag) NB_EVENT_TAG(&ev, tag, value);
    ev.kind = (uint32_t)strtoul(kind, NULL, 10);
    ev.created_at = (int64_t)time(NULL);
    const char *text = args != NULL ? args : "";
    nb_event_set_content(&ev, text, strlen(text));
    int err = nb_event_sign(&ev, &keys);
    named_pub_t *np = nb_calloc(1, sizeof *np);
    snprintf(np->name, sizeof np->name, "%s", name);
    np->next = pubs;
    if (pubs != NULL) pubs->prev = np;
    pubs = np;
    if (err == 0) err = nb_pool_publish(pool, NULL, &ev, on_pub, np);
    char id[65];
    nb_event_id_hex(&ev, id);
    nb_buf_t b;
    begin(&b, "published");
    jstr(&b, "name", name, strlen(name));
    jstr(&b, "id", id, 64);
    nb_buf_appendf(&b, ",\"rc\":%d", err);
    emit(&b);
    if (err < 0) pub_unlink(np);
    nb_event_dispose(&ev);
}

static void cmd_stats(void)
{
    nb_pool_stats_t s;
    nb_pool_stats(pool, &s);
    nb_buf_t b;
    begin(&b, "stats");
    nb_buf_appendf(
        &b,
        ",\"frames\":%llu,\"malformed\":%llu,\"events\":%llu,\"unwanted\":%llu,"
        "\"duplicate\":%llu,\"invalid\":%llu,\"delivered\":%llu,\"published\":%llu,"
        "\"publish_ok\":%llu,\"publish_failed\":%llu,\"auths\":%llu,"
        "\"limit_drops\":%llu,\"subs_open\":%u,\"relays_open\":%u",
        (unsigned long long)s.frames, (unsigned long long)s.malformed, (unsigned long long)s.events,
        (unsigned long long)s.unwanted, (unsigned long long)s.duplicate, (unsigned long long)s.invalid,
        (unsigned long long)s.delivered, (unsigned long long)s.published, (unsigned long long)s.publish_ok,
        (unsigned long long)s.publish_failed, (unsigned long long)s.auths, (unsigned long long)s.limit_drops,
        s.subs_open, s.relays_open);
    emit(&b);
}

static void cmd_relays(void)
{
    nb_buf_t b;
    begin(&b, "relays");
    nb_buf_appends(&b, ",\"relays\":[");
    for (size_t i = 0; i < nb_pool_relay_count(pool); i++) {
        nb_relay_info_t ri;
        nb_pool_relay_info(pool, i, &ri);
        nb_buf_appends(&b, i ? ",{\"_\":0" : "{\"_\":0");
        append_relay(&b, i, &ri);
        nb_buf_appends(&b, "}");
    }
    nb_buf_appends(&b, "]");
    emit(&b);
}

static void on_in_closed(uv_handle_t *h) {}

static void quit(void)
{
    if (quitting) return;
    quitting = true;
    if (in_open) {
        uv_read_stop((uv_stream_t *)&in_pipe);
        uv_close((uv_handle_t *)&in_pipe, on_in_closed);
        in_open = false;
    }
    for (size_t i = 0; i < MAX_NAMES; i++)
        subs[i].sub = NULL; /* the pool closes them */
    nb_pool_close(pool, on_pool_closed, NULL);
}

static void run_command(char *cmd)
{
    char *args = strchr(cmd, ' ');
    if (args != NULL) *args++ = '\0';
    if (quitting) return;
    if (strcmp(cmd, "sub") == 0 && args)
        cmd_sub(args);
    else if (strcmp(cmd, "unsub") == 0 && args)
        cmd_unsub(args);
    else if (strcmp(cmd, "pub") == 0 && args)
        cmd_pub(args, false);
    else if (strcmp(cmd, "pubtag") == 0 && args)
        cmd_pub(args, true);
    else if (strcmp(cmd, "stats") == 0)
        cmd_stats();
    else if (strcmp(cmd, "relays") == 0)
        cmd_relays();
    else if (strcmp(cmd, "quit") == 0)
        quit();
    else if (cmd[0] != '\0')
        print_error("unknown command", NB_EINVAL);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char mem[65536];
    buf->base = mem;
    buf->len = sizeof mem;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        quit();
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf->base[i] == '\n') {
            char *cmd = nb_buf_steal(&line, NULL);
            run_command(cmd);
            nb_free(cmd);
        } else if (nb_buf_appendc(&line, buf->base[i]) < 0) {
            print_error("command line too long", NB_ETOOBIG);
            nb_buf_reset(&line);
        }
    }
}

int main(int argc, char **argv)
{
    nb_mem_install();
    nb_log_setup(NB_LOG_INFO, false);
    const char *urls[MAX_RELAYS];
    nb_pool_config_t cfg;
    nb_pool_config_defaults(&cfg);
    cfg.backoff_min_ms = 100;
    cfg.backoff_max_ms = 1000;
    cfg.connect_timeout_s = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-keys") == 0) {
            have_keys = false;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "missing value for %s\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--relay") == 0 && cfg.n_urls < MAX_RELAYS)
            urls[cfg.n_urls++] = v;
        else if (strcmp(a, "--backoff-min") == 0)
            cfg.backoff_min_ms = (uint32_t)atoi(v);
        else if (strcmp(a, "--backoff-max") == 0)
            cfg.backoff_max_ms = (uint32_t)atoi(v);
        else if (strcmp(a, "--connect-timeout") == 0)
            cfg.connect_timeout_s = (uint32_t)atoi(v);
        else if (strcmp(a, "--ping") == 0)
            cfg.ping_interval_s = (uint32_t)atoi(v);
        else if (strcmp(a, "--pong") == 0)
            cfg.pong_timeout_s = (uint32_t)atoi(v);
        else if (strcmp(a, "--max-frame") == 0)
            cfg.max_frame = (size_t)atol(v);
        else if (strcmp(a, "--max-queue") == 0)
            cfg.max_queue_bytes = (size_t)atol(v);
        else if (strcmp(a, "--max-subs") == 0)
            cfg.max_subs = (uint32_t)atoi(v);
        else if (strcmp(a, "--publish-timeout") == 0)
            cfg.publish_timeout_ms = (uint32_t)atoi(v);
        else if (strcmp(a, "--dedup") == 0)
            cfg.dedup_capacity = (size_t)atol(v);
        else if (strcmp(a, "--ca") == 0)
            cfg.ca_file = v;
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    cfg.urls = urls;
    cfg.on_relay_state = on_relay_state;
    if (nb_secp_init() < 0 || (have_keys && nb_keys_generate(&keys) < 0)) {
        fprintf(stderr, "key setup failed\n");
        return 1;
    }
    cfg.keys = have_keys ? &keys : NULL;

    uv_loop_init(&loop);
    int err = nb_pool_create(&pool, &loop, &cfg);
    if (err < 0) {
        print_error("pool create", err);
        uv_loop_close(&loop);
        return 1;
    }
    nb_buf_init(&line, 1u << 22);
    uv_pipe_init(&loop, &in_pipe, 0);
    uv_pipe_open(&in_pipe, 0);
    in_open = true;
    uv_read_start((uv_stream_t *)&in_pipe, on_alloc, on_read);

    nb_buf_t b;
    begin(&b, "ready");
    if (have_keys) jstr(&b, "pubkey", keys.pubkey_hex, 64);
    emit(&b);

    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop);
    begin(&b, "exit");
    nb_buf_appendf(&b, ",\"loop_close\":%d,\"pool_closed\":%s", rc, pool_closed ? "true" : "false");
    emit(&b);
    while (pubs != NULL)
        pub_unlink(pubs);
    nb_buf_dispose(&line);
    nb_keys_dispose(&keys);
    nb_secp_dispose();
    return rc == 0 && pool_closed ? 0 : 1;
}
