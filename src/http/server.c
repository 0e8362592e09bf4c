/*
 * server.c — the HTTP front: h2o 2.2.5 (libuv build) on the shared loop. This file owns the
 * server: configuration, the listening socket, connections, and the orderly close.
 *
 * Setup: every request lands on the host's fallback path, where one handler routes it
 * (request.c), one filter stamps the responses h2o writes by itself and one logger writes the
 * access log (response.c). SSE streams live in sse.c, WebSockets in ws.c, CORS in cors.c;
 * server_internal.h explains who owns a request when.
 *
 * h2o 2.2.5 facts this file relies on (checked against its source):
 *  - the handler runs once the whole body sits in req->entity; a body over
 *    max_request_entity_size gets a 413 before routing;
 *  - HTTP/1 has no close hook for keep-alive connections: we keep our own list and shutdown(2)
 *    their sockets, which makes h2o's pending read or write fail and close the connection;
 *  - h2o_context_dispose ends with uv_run(NOWAIT), which must not run inside a callback, so
 *    close_h2o_context() below does its work without it.
 */
#include "server_internal.h"

#include "bridge/err.h"
#include "bridge/log.h"
#include "bridge/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_sweep(uv_timer_t *t);

void nb_http_config_defaults(nb_http_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->bind = "127.0.0.1:3000";
    c->max_body = 1u << 20;
    c->heartbeat_ms = 10000;
    c->max_stream_queue = 1u << 20;
    c->max_connections = 20000;
    c->max_ws_message = 1u << 20;
    c->ws_idle_timeout_ms = 60000;
}

void nb_http__cut_fd(int fd)
{
    /* The pending read or write fails with an error, and h2o closes the connection. */
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
}

/* ---- connections --------------------------------------------------------------------------------- */

static void on_rejected_closed(uv_handle_t *h)
{
    nb_free(h);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = (conn_t *)h;
    nb_http_server_t *s = c->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    s->n_conns--;
    nb_free(c);
    nb_http__maybe_finish(s);
}

/*
 * Each connection's read buffer. h2o's default prototype starts every buffer at 8 KiB, and an
 * HTTP/1 request keeps its buffer for as long as it runs (the parsed headers and the body point
 * into it), so a held SSE stream would keep 8 KiB for a request of a few hundred bytes. 4 KiB is
 * the least h2o's libuv reader asks for; a bigger request grows the buffer as before. Up to 16
 * free 4 KiB buffers are kept for the next connections, as h2o's own prototype does (short
 * requests would otherwise malloc and free one each); the prototype is static, so they stay
 * reachable until exit.
 */
static h2o_buffer_prototype_t inbuf_prototype = {.allocator = {.max = 16}, ._initial_buf = {.capacity = 4096}};

static void on_connection(uv_stream_t *ls, int status)
{
    nb_http_server_t *s = ls->data;
    if (status < 0) {
        NB_WARN("http: accept failed: %s", uv_strerror(status));
        return;
    }
    conn_t *c = nb_calloc(1, sizeof(*c));
    uv_tcp_init(s->loop, &c->tcp);
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_rejected_closed);
        return;
    }
    if (s->closing || s->n_conns >= s->cfg.max_connections) {
        if (s->rejected++ % 1000 == 0)
            NB_WARN("http: connection refused: %zu open (max_connections %u)", s->n_conns,
                    s->cfg.max_connections);
        uv_close((uv_handle_t *)&c->tcp, on_rejected_closed);
        return;
    }
    /* Small SSE frames must not wait for Nagle's algorithm. */
    uv_tcp_nodelay(&c->tcp, 1);
    c->srv = s;
    c->next = s->conns;
    if (s->conns != NULL) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_buffer_init(&sock->input, &inbuf_prototype); /* still empty: nothing was read yet */
    h2o_accept(&s->accept_ctx, sock);
}

/* ---- start --------------------------------------------------------------------------------------- */

static int parse_bind(const char *bind, struct sockaddr_storage *ss, socklen_t *sslen)
{
    const char *host, *port;
    size_t hlen;
    bool v6 = false;
    if (bind[0] == '[') {
        const char *end = strchr(bind, ']');
        if (end == NULL || end[1] != ':') return NB_EINVAL;
        host = bind + 1;
        hlen = (size_t)(end - host);
        port = end + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(bind, ':');
        if (colon == NULL || memchr(bind, ':', (size_t)(colon - bind)) != NULL) return NB_EINVAL;
        host = bind;
        hlen = (size_t)(colon - bind);
        port = colon + 1;
    }
    char hostbuf[64];
    if (hlen == 0 || hlen >= sizeof(hostbuf)) return NB_EINVAL;
    memcpy(hostbuf, host, hlen);
    hostbuf[hlen] = '\0';
    if (!v6 && strcmp(hostbuf, "localhost") == 0) strcpy(hostbuf, "127.0.0.1");
    size_t plen = strlen(port);
    if (plen == 0 || plen > 5 || strspn(port, "0123456789") != plen) return NB_EINVAL;
    long p = strtol(port, NULL, 10);
    if (p > 65535) return NB_EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (v6) {
        if (uv_ip6_addr(hostbuf, (int)p, (struct sockaddr_in6 *)ss) != 0) return NB_EINVAL;
        *sslen = sizeof(struct sockaddr_in6);
    } else {
        if (uv_ip4_addr(hostbuf, (int)p, (struct sockaddr_in *)ss) != 0) return NB_EINVAL;
        *sslen = sizeof(struct sockaddr_in);
    }
    return 0;
}

/* Socket, bind and listen with plain syscalls first, so that a failure leaves no libuv handle
 * behind that would need a loop iteration to close. */
static int open_listen_fd(const char *bind_text, const struct sockaddr_storage *ss, socklen_t sslen,
                          int *port)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        NB_ERROR("http: socket(): %s", strerror(errno));
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, sslen) != 0 || listen(fd, 1024) != 0) {
        NB_ERROR("http: cannot listen on %s: %s", bind_text, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage got;
    socklen_t gotlen = sizeof(got);
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&got, &gotlen) == 0)
        *port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

int nb_http_server_start(nb_http_server_t **out, uv_loop_t *loop, const nb_http_config_t *c,
                         const nb_http_routes_t *routes, void *ud)
{
    *out = NULL;
    nb_http_config_t cfg, def;
    nb_http_config_defaults(&def);
    cfg = *c;
    if (cfg.bind == NULL) cfg.bind = def.bind;
    if (cfg.max_body == 0) cfg.max_body = def.max_body;
    if (cfg.heartbeat_ms == 0) cfg.heartbeat_ms = def.heartbeat_ms;
    if (cfg.max_stream_queue == 0) cfg.max_stream_queue = def.max_stream_queue;
    if (cfg.max_connections == 0) cfg.max_connections = def.max_connections;
    if (cfg.max_ws_message == 0) cfg.max_ws_message = def.max_ws_message;
    if (cfg.ws_idle_timeout_ms == 0) cfg.ws_idle_timeout_ms = def.ws_idle_timeout_ms;
    if (routes == NULL || routes->chat == NULL || routes->models == NULL || routes->health == NULL)
        return NB_EINVAL;

    struct sockaddr_storage ss;
    socklen_t sslen;
    if (parse_bind(cfg.bind, &ss, &sslen) != 0) {
        NB_ERROR("http: invalid listen address \"%s\" (want HOST:PORT or [IPv6]:PORT)", cfg.bind);
        return NB_EINVAL;
    }
    int port;
    int fd = open_listen_fd(cfg.bind, &ss, sslen, &port);
    if (fd < 0) return NB_EIO;

    nb_http_server_t *s = nb_calloc(1, sizeof(*s));
    s->loop = loop;
    s->routes = routes;
    s->ud = ud;
    s->cfg = cfg;
    s->bind = nb_strdup(cfg.bind);
    s->cfg.bind = s->bind;
    if (cfg.n_cors_origins > 0) {
        s->origins = nb_calloc(cfg.n_cors_origins, sizeof(char *));
        for (size_t i = 0; i < cfg.n_cors_origins; i++)
            s->origins[i] = nb_strdup(cfg.cors_origins[i]);
        s->cfg.cors_origins = (const char *const *)s->origins;
    }
    s->port = port;

    h2o_config_init(&s->h2o_cfg);
    s->h2o_cfg.server_name = h2o_iovec_init(H2O_STRLIT("bridge"));
    s->h2o_cfg.max_request_entity_size = cfg.max_body;
    s->h2o_cfg.http1.upgrade_to_http2 = 0; /* HTTP/1.1 only: "Upgrade: h2c" is ignored */
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->h2o_cfg, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = &host->fallback_path; /* no paths registered: every request lands here */
    handler_t *h = (handler_t *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = nb_http__on_req;
    h->srv = s;
    filter_t *f = (filter_t *)h2o_create_filter(path, sizeof(*f));
    f->super.on_setup_ostream = nb_http__on_setup_ostream;
    f->srv = s;
    logger_t *lg = (logger_t *)h2o_create_logger(path, sizeof(*lg));
    lg->super.log_access = nb_http__on_access_log;
    lg->srv = s;
    h2o_context_init(&s->ctx, loop, &s->h2o_cfg);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->h2o_cfg.hosts;

    uv_timer_init(loop, &s->defer_timer);
    s->defer_timer.data = s;
    uv_timer_init(loop, &s->sweep_timer);
    s->sweep_timer.data = s;
    uv_timer_start(&s->sweep_timer, on_sweep, cfg.heartbeat_ms, cfg.heartbeat_ms);

    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    int rc = uv_tcp_open(&s->listener, fd);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc != 0) {
        /* A fresh, listening fd on a fresh handle: libuv has no reason to refuse it. */
        NB_ERROR("http: libuv refused the listening socket: %s", uv_strerror(rc));
        abort();
    }
    s->listening = true;
    NB_INFO("http: listening on %s (port %d)", s->bind, s->port);
    *out = s;
    return 0;
}

int nb_http_server_port(const nb_http_server_t *s)
{
    return s->port;
}

size_t nb_http_server_active(const nb_http_server_t *s)
{
    return s->active;
}

/* ---- stop and close ------------------------------------------------------------------------------ */

static void on_listener_closed(uv_handle_t *h)
{
    nb_http_server_t *s = h->data;
    s->listener_closed = true;
    nb_http__maybe_finish(s);
}

void nb_http_server_stop_accepting(nb_http_server_t *s)
{
    if (!s->listening) return;
    s->listening = false;
    /* Responses from now on say "Connection: close", so keep-alive clients drain away. */
    s->ctx.shutdown_requested = 1;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Cut the connections that have nothing left to write; with all = true, every one. WebSockets
 * count as busy: they are being closed with a close frame of their own. */
static void cut_connections(nb_http_server_t *s, bool all)
{
    size_t n = 0, cap = 0;
    int *busy = NULL;
    if (!all) {
        for (live_t *lv = s->live; lv != NULL; lv = lv->next)
            cap++;
        for (nb_ws_t *ws = s->ws; ws != NULL; ws = ws->next)
            cap++;
        busy = nb_malloc((cap ? cap : 1) * sizeof(int));
        for (live_t *lv = s->live; lv != NULL; lv = lv->next)
            busy[n++] = nb_http__req_fd(lv->req);
        for (nb_ws_t *ws = s->ws; ws != NULL; ws = ws->next)
            if (ws->conn != NULL) busy[n++] = ws->fd;
        qsort(busy, n, sizeof(int), cmp_int);
    }
    for (conn_t *c = s->conns; c != NULL; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) continue;
        if (!all && bsearch(&fd, busy, n, sizeof(int), cmp_int) != NULL) continue;
        nb_http__cut_fd(fd);
    }
    nb_free(busy);
}

static void on_sweep(uv_timer_t *t)
{
    nb_http_server_t *s = t->data;
    if (s->closing)
        cut_connections(s, true); /* the grace period is over: whatever still writes is cut */
    else
        nb_http__check_pending(s);
}

static void close_h2o_context(h2o_context_t *ctx)
{
    /* h2o_context_dispose() without its trailing uv_run(): we may be inside a callback. */
    h2o_globalconf_t *g = ctx->globalconf;
    for (size_t i = 0; g->hosts[i] != NULL; i++) {
        for (size_t j = 0; j < g->hosts[i]->paths.size; j++)
            h2o_context_dispose_pathconf_context(ctx, g->hosts[i]->paths.entries + j);
        h2o_context_dispose_pathconf_context(ctx, &g->hosts[i]->fallback_path);
    }
    free(ctx->_pathconfs_inited.entries);
    free(ctx->_module_configs);
    h2o_timeout_dispose(ctx->loop, &ctx->zero_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->one_sec_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->hundred_ms_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->handshake_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->http1.req_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->http2.idle_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->http2.graceful_shutdown_timeout);
    h2o_timeout_dispose(ctx->loop, &ctx->proxy.io_timeout);
    h2o_filecache_destroy(ctx->filecache);
    ctx->filecache = NULL;
    for (size_t i = 0; i < ctx->storage.size; i++)
        if (ctx->storage.entries[i].dispose != NULL)
            ctx->storage.entries[i].dispose(ctx->storage.entries[i].data);
    free(ctx->storage.entries);
    h2o_multithread_unregister_receiver(ctx->queue, &ctx->receivers.hostinfo_getaddr);
    h2o_multithread_destroy_queue(ctx->queue); /* closes the referenced uv_async_t */
    if (ctx->_timestamp_cache.value != NULL) h2o_mem_release_shared(ctx->_timestamp_cache.value);
}

static void on_final_closed(uv_handle_t *h)
{
    nb_http_server_t *s = h->data;
    void (*cb)(void *) = s->on_closed;
    void *data = s->closed_data;
    h2o_config_dispose(&s->h2o_cfg);
    for (size_t i = 0; i < s->cfg.n_cors_origins; i++)
        nb_free(s->origins[i]);
    nb_free(s->origins);
    nb_free(s->bind);
    nb_free(s);
    if (cb != NULL) cb(data);
}

static void on_defer_closed(uv_handle_t *h)
{
    nb_http_server_t *s = h->data;
    /* One more close, so this runs a pass after the h2o timers closed above: they live inside s. */
    uv_close((uv_handle_t *)&s->sweep_timer, on_final_closed);
}

void nb_http__maybe_finish(nb_http_server_t *s)
{
    if (!s->closing || s->finalizing) return;
    if (!s->listener_closed || s->n_conns != 0 || s->reqs != NULL || s->live != NULL || s->ws != NULL) return;
    s->finalizing = true;
    uv_timer_stop(&s->sweep_timer);
    close_h2o_context(&s->ctx);
    uv_close((uv_handle_t *)&s->defer_timer, on_defer_closed);
}

void nb_http_server_close(nb_http_server_t *s, void (*on_closed)(void *data), void *data)
{
    if (s->closing) return;
    s->closing = true;
    s->on_closed = on_closed;
    s->closed_data = data;
    nb_http_server_stop_accepting(s);
    for (nb_http_req_t *r = s->reqs, *next; r != NULL; r = next) {
        next = r->next;
        if (!r->user_done && !r->gone) nb_http__req_gone(r, GONE_CLOSING);
    }
    nb_http__ws_close_all(s);
    /* Idle keep-alive connections and half-read requests go now; responses being written get a
     * short grace (the sweep timer turns into the deadline). */
    cut_connections(s, false);
    uv_timer_start(&s->sweep_timer, on_sweep, NB_HTTP_CLOSE_GRACE_MS, 0);
    nb_http__maybe_finish(s);
}
