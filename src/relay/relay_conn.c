/*
 * relay_conn.c — one lws WebSocket client with DNS off the loop, backoff, a capped send queue
 * and capped message reassembly. See relay_conn.h for the life cycle.
 *
 * Facts about lws 4.1.6 this file relies on (verified, see ARCHITECTURE.md):
 *  - lws_client_connect_via_info() would call getaddrinfo() on the loop thread; we resolve with
 *    uv_getaddrinfo and hand lws a numeric address plus the host name (Host, SNI, cert check).
 *  - A server that accepts TCP but never answers the upgrade ends with only WSI_DESTROY (after
 *    the context's timeout_secs), so "the attempt ended" is driven from ERROR, CLOSED *and*
 *    WSI_DESTROY, whichever comes first; the wsi's opaque pointer is cleared at that point so the
 *    later ones are ignored.
 *  - Retry timers are our own uv_timer_t: an lws_sul scheduled from a close path fired late.
 *  - Writes only from CLIENT_WRITEABLE, one lws_write per callback, LWS_PRE bytes of headroom.
 *  - A refused server certificate reaches CLIENT_CONNECTION_ERROR only as "connect SSL err 1:
 *    error:00000001:lib(0)::reason(1)"; the reason comes earlier, through
 *    OPENSSL_PERFORM_SERVER_CERT_VERIFICATION (lws' verify callback, preverify_ok in len), and is
 *    kept for the error text.
 */
#include "relay_conn.h"

#include "bridge/err.h"
#include "bridge/log.h"
#include "bridge/mem.h"

#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct nb_frame {
    nb_frame_t *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE headroom, then len bytes */
};

/* ---- pure helpers ------------------------------------------------------------------------- */

int nb_relay_url_parse(nb_relay_url_t *u, const char *url)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (strncasecmp(url, "ws://", 5) == 0) {
        p = url + 5;
        u->port = 80;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        p = url + 6;
        u->tls = true;
        u->port = 443;
    } else {
        return NB_EURL;
    }
    for (const char *q = url; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f || *q == '#') return NB_EURL;

    const char *host, *host_end, *rest;
    if (*p == '[') { /* IPv6 literal */
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL) return NB_EURL;
        rest = host_end + 1;
    } else {
        host = p;
        host_end = p + strcspn(p, ":/?");
        rest = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof u->host || memchr(host, '@', hlen) != NULL) return NB_EURL;
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';

    if (*rest == ':') {
        rest++;
        long port = 0;
        int digits = 0;
        while (*rest >= '0' && *rest <= '9' && digits < 6) {
            port = port * 10 + (*rest++ - '0');
            digits++;
        }
        if (digits == 0 || port < 1 || port > 65535) return NB_EURL;
        u->port = (int)port;
    }
    if (*rest != '\0' && *rest != '/' && *rest != '?') return NB_EURL;
    int n = snprintf(u->path, sizeof u->path, "%s%s", *rest == '/' ? "" : "/", rest);
    if (n < 0 || (size_t)n >= sizeof u->path) return NB_EURL;
    return 0;
}

uint32_t nb_backoff_delay_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms, uint32_t rnd)
{
    if (min_ms == 0) min_ms = 1;
    if (max_ms < min_ms) max_ms = min_ms;
    uint64_t d = min_ms;
    for (uint32_t i = 1; i < attempt && d < max_ms; i++)
        d <<= 1;
    if (d > max_ms) d = max_ms;
    uint64_t half = d / 2;
    return (uint32_t)(d - half + (half == 0 ? 0 : rnd % (half + 1)));
}

/* ---- state -------------------------------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_state(nb_relay_conn_t *c, nb_relay_state_t s)
{
    if (c->state == s) return;
    c->state = s;
    c->since_ms = wall_ms();
    if (c->cb.on_state != NULL) c->cb.on_state(c->ud, c);
}

__attribute__((format(printf, 2, 3))) static void set_error(nb_relay_conn_t *c, const char *fmt, ...)
{
    if (c->err_set) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
    va_end(ap);
    c->err_set = true;
}

static void queue_clear(nb_relay_conn_t *c)
{
    nb_frame_t *f = c->q_head;
    while (f != NULL) {
        nb_frame_t *next = f->next;
        nb_free(f);
        f = next;
    }
    c->q_head = c->q_tail = NULL;
    c->q_bytes = 0;
}

static void begin_attempt(nb_relay_conn_t *c);

static void on_retry_timer(uv_timer_t *t)
{
    nb_relay_conn_t *c = t->data;
    c->reconnects++;
    begin_attempt(c);
}

static void schedule_retry(nb_relay_conn_t *c)
{
    c->attempt++;
    uint32_t rnd = 0;
    (void)lws_get_random(c->ctx, &rnd, sizeof rnd);
    uint32_t delay = nb_backoff_delay_ms(c->attempt, c->backoff_min_ms, c->backoff_max_ms, rnd);
    NB_INFO("relay: down url=%s error=\"%s\" retry=%u in_ms=%u", c->url, c->last_error, c->attempt, delay);
    set_state(c, NB_RELAY_BACKOFF);
    uv_timer_start(&c->timer, on_retry_timer, delay, 0);
}

/* The current attempt (or open connection) is over, whatever ended it. Called at most once per
 * attempt: attempt_live guards it, and the wsi is detached so later lws callbacks are ignored. */
static void attempt_over(nb_relay_conn_t *c, struct lws *wsi, const char *why)
{
    if (!c->attempt_live) return;
    if (why != NULL) set_error(c, "%s", why);
    c->attempt_live = false;
    if (wsi != NULL) lws_set_opaque_user_data(wsi, NULL);
    if (c->wsi != NULL && c->wsi != wsi) lws_set_opaque_user_data(c->wsi, NULL);
    c->wsi = NULL;
    bool was_open = c->was_open;
    c->was_open = false;
    c->dropping = false;
    c->close_when_flushed = false;
    queue_clear(c);
    nb_buf_reset(&c->rx);
    /* A connection that stayed up a while starts the backoff sequence afresh. */
    if (was_open && uv_now(c->loop) - c->opened_at >= 10000) c->attempt = 0;
    if (c->stopping)
        set_state(c, NB_RELAY_CLOSED);
    else
        schedule_retry(c);
    c->cb.on_down(c->ud, c, was_open);
}

static void connect_now(nb_relay_conn_t *c)
{
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = c->ctx;
    i.address = c->addr;
    i.port = c->u.port;
    i.ssl_connection = c->u.tls ? LCCSCF_USE_SSL : 0; /* never LCCSCF_ALLOW_SELFSIGNED */
    i.path = c->u.path;
    i.host = c->u.host;
    i.origin = c->u.host;
    i.ietf_version_or_minus_one = -1;
    i.local_protocol_name = c->protocol_name;
    i.opaque_user_data = c;
    i.retry_and_idle_policy = &c->retry;

    set_state(c, NB_RELAY_CONNECTING);
    c->attempt_live = true;
    c->tls_verify_err = 0;
    struct lws *wsi = lws_client_connect_via_info(&i);
    if (!c->attempt_live) return; /* failed synchronously; attempt_over already ran from a callback */
    if (wsi == NULL) {
        attempt_over(c, NULL, "connect failed");
        return;
    }
    c->wsi = wsi;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    nb_relay_conn_t *c = req->data;
    c->gai_pending = false;
    if (c->stopping) {
        uv_freeaddrinfo(res);
        set_state(c, NB_RELAY_CLOSED);
        c->cb.on_down(c->ud, c, false);
        return;
    }
    if (status < 0 || res == NULL) {
        set_error(c, "dns: %s", status < 0 ? uv_strerror(status) : "no address");
        uv_freeaddrinfo(res);
        schedule_retry(c);
        c->cb.on_down(c->ud, c, false);
        return;
    }
    int r;
    if (res->ai_family == AF_INET6)
        r = uv_ip6_name((const struct sockaddr_in6 *)res->ai_addr, c->addr, sizeof c->addr);
    else
        r = uv_ip4_name((const struct sockaddr_in *)res->ai_addr, c->addr, sizeof c->addr);
    uv_freeaddrinfo(res);
    if (r < 0) {
        set_error(c, "dns: %s", uv_strerror(r));
        schedule_retry(c);
        c->cb.on_down(c->ud, c, false);
        return;
    }
    connect_now(c);
}

static void begin_attempt(nb_relay_conn_t *c)
{
    if (c->stopping) return;
    c->err_set = false;
    /* A numeric host needs no resolver round trip. */
    unsigned char tmp[16];
    if (uv_inet_pton(AF_INET, c->u.host, tmp) == 0 || uv_inet_pton(AF_INET6, c->u.host, tmp) == 0) {
        snprintf(c->addr, sizeof c->addr, "%.63s", c->u.host);
        connect_now(c);
        return;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    set_state(c, NB_RELAY_RESOLVING);
    c->gai.data = c;
    int r = uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->u.host, NULL, &hints);
    if (r < 0) {
        set_error(c, "dns: %s", uv_strerror(r));
        schedule_retry(c);
        return;
    }
    c->gai_pending = true;
}

/* ---- public ------------------------------------------------------------------------------- */

int nb_relay_conn_init(nb_relay_conn_t *c, uv_loop_t *loop, struct lws_context *ctx,
                       const char *protocol_name, const char *url, const nb_pool_config_t *cfg,
                       const nb_relay_conn_cb_t *cb, void *ud, size_t index)
{
    static const uint32_t unused_table[] = {1000};
    memset(c, 0, sizeof *c);
    int err = nb_relay_url_parse(&c->u, url);
    if (err < 0) return err;
    c->url = nb_strdup(url);
    c->loop = loop;
    c->ctx = ctx;
    c->protocol_name = protocol_name;
    c->max_frame = cfg->max_frame;
    c->max_queue_bytes = cfg->max_queue_bytes;
    c->backoff_min_ms = cfg->backoff_min_ms;
    c->backoff_max_ms = cfg->backoff_max_ms;
    c->retry.retry_ms_table = unused_table; /* our own timer does the retries */
    c->retry.retry_ms_table_count = 1;
    c->retry.secs_since_valid_ping = (uint16_t)cfg->ping_interval_s;
    c->retry.secs_since_valid_hangup = (uint16_t)(cfg->ping_interval_s + cfg->pong_timeout_s);
    c->ping_ms = cfg->ping_interval_s * 1000u;
    c->pong_ms = cfg->pong_timeout_s * 1000u;
    c->cb = *cb;
    c->ud = ud;
    c->index = index;
    c->state = NB_RELAY_BACKOFF;
    c->since_ms = wall_ms();
    nb_buf_init(&c->rx, cfg->max_frame);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 1;
    return 0;
}

static void on_start_timer(uv_timer_t *t)
{
    begin_attempt(t->data);
}

void nb_relay_conn_start(nb_relay_conn_t *c)
{
    /* Through the timer, so nothing happens inside the caller's call. */
    uv_timer_start(&c->timer, on_start_timer, 0, 0);
}

int nb_relay_conn_send(nb_relay_conn_t *c, const char *p, size_t len, bool front)
{
    if (c->state != NB_RELAY_OPEN || c->dropping || c->close_when_flushed || c->wsi == NULL) return 0;
    if (len > c->max_queue_bytes || c->q_bytes > c->max_queue_bytes - len) {
        char why[128];
        snprintf(why, sizeof why, "send queue would exceed max_queue_bytes (%zu)", c->max_queue_bytes);
        c->limit_drops++;
        nb_relay_conn_drop(c, why);
        return NB_ELIMIT;
    }
    nb_frame_t *f = nb_malloc(sizeof *f + LWS_PRE + len);
    f->next = NULL;
    f->len = len;
    memcpy(f->data + LWS_PRE, p, len);
    if (front) {
        f->next = c->q_head;
        c->q_head = f;
        if (c->q_tail == NULL) c->q_tail = f;
    } else {
        if (c->q_tail != NULL)
            c->q_tail->next = f;
        else
            c->q_head = f;
        c->q_tail = f;
    }
    c->q_bytes += len;
    lws_callback_on_writable(c->wsi);
    return 0;
}

void nb_relay_conn_drop(nb_relay_conn_t *c, const char *why)
{
    if (!c->attempt_live || c->dropping) return;
    NB_WARN("relay: dropping connection url=%s reason=\"%s\"", c->url, why);
    set_error(c, "%s", why);
    c->dropping = true;
    queue_clear(c);
    if (c->wsi != NULL) lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void nb_relay_conn_stop(nb_relay_conn_t *c)
{
    if (c->stopping) return;
    c->stopping = true;
    uv_timer_stop(&c->timer);
    if (c->gai_pending) {
        uv_cancel((uv_req_t *)&c->gai); /* on_resolved still runs (UV_ECANCELED or a result) */
        set_state(c, NB_RELAY_CLOSING);
    } else if (c->attempt_live && c->wsi != NULL) {
        set_state(c, NB_RELAY_CLOSING);
        if (c->was_open && !c->dropping) {
            /* Flush what is queued (the pool's CLOSEs), then a normal close. */
            c->close_when_flushed = true;
            lws_callback_on_writable(c->wsi);
        } else {
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
    } else if (!c->attempt_live) {
        set_state(c, NB_RELAY_CLOSED);
    }
}

bool nb_relay_conn_quiescent(const nb_relay_conn_t *c)
{
    return c->stopping && !c->attempt_live && !c->gai_pending;
}

static void on_timer_closed(uv_handle_t *h)
{
    nb_relay_conn_t *c = h->data;
    if (--c->handles_open == 0 && c->on_handles_closed != NULL) c->on_handles_closed(c);
}

void nb_relay_conn_close_handles(nb_relay_conn_t *c, void (*cb)(nb_relay_conn_t *c))
{
    c->on_handles_closed = cb;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

void nb_relay_conn_dispose(nb_relay_conn_t *c)
{
    queue_clear(c);
    nb_buf_dispose(&c->rx);
    nb_free(c->url);
    c->url = NULL;
}

/* ---- the lws callback --------------------------------------------------------------------- */

static int on_writeable(nb_relay_conn_t *c, struct lws *wsi)
{
    nb_frame_t *f = c->q_head;
    if (f == NULL) {
        if (c->close_when_flushed) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            set_error(c, "closed by us");
            return -1;
        }
        return 0;
    }
    c->q_head = f->next;
    if (c->q_head == NULL) c->q_tail = NULL;
    c->q_bytes -= f->len;
    int n = lws_write(wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT);
    size_t len = f->len;
    nb_free(f);
    if (n < 0 || (size_t)n < len) {
        set_error(c, "write failed");
        return -1;
    }
    if (c->q_head != NULL || c->close_when_flushed) lws_callback_on_writable(wsi);
    return 0;
}

static int on_receive(nb_relay_conn_t *c, struct lws *wsi, const char *in, size_t len)
{
    if (c->dropping || c->close_when_flushed) return 0;
    if (nb_buf_append(&c->rx, in, len) < 0) {
        char why[128];
        snprintf(why, sizeof why, "message larger than max_frame (%zu bytes)", c->max_frame);
        NB_WARN("relay: dropping connection url=%s reason=\"%s\"", c->url, why);
        set_error(c, "%s", why);
        c->limit_drops++;
        nb_buf_reset(&c->rx);
        return -1;
    }
    if (!lws_is_final_fragment(wsi)) return 0;
    bool binary = lws_frame_is_binary(wsi);
    if (binary) {
        NB_DEBUG("relay: ignoring a binary message url=%s len=%zu", c->url, c->rx.len);
    } else if (c->rx.len > 0) {
        c->cb.on_frame(c->ud, c, c->rx.data, c->rx.len);
    }
    nb_buf_reset(&c->rx);
    /* lws 4.1 can lose a writable request made in CLIENT_ESTABLISHED when the first frame came
     * in the same read as the 101 response (a NIP-42 relay sends AUTH at once): ask again. */
    if (c->q_head != NULL && c->wsi == wsi) lws_callback_on_writable(wsi);
    return 0;
}

/* lws hangs up a connection whose PING went unanswered (its "validity" timer) without telling
 * the callback why: an open connection that ends after the ping time plus most of the pong time
 * without a PONG was that hang-up. */
static void note_pong_timeout(nb_relay_conn_t *c)
{
    if (!c->was_open || c->ping_ms == 0) return;
    uint64_t silent = uv_now(c->loop) - c->valid_at;
    if (silent >= c->ping_ms + c->pong_ms / 2)
        set_error(c, "no pong within %u s of a ping (relay unresponsive)", c->pong_ms / 1000u);
}

int nb_relay_conn_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    nb_relay_conn_t *c = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;
    if (c == NULL) return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c->attempt_live) return -1;
        c->wsi = wsi;
        c->was_open = true;
        c->connects++;
        c->opened_at = c->valid_at = uv_now(c->loop);
        NB_INFO("relay: open url=%s", c->url);
        set_state(c, NB_RELAY_OPEN);
        c->cb.on_open(c->ud, c);
        if (c->q_head != NULL) lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(c, wsi, in, len);
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        if (c->wsi == wsi) c->valid_at = uv_now(c->loop);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            set_error(c, "closed by relay (code %u)", (unsigned)(b[0] << 8 | b[1]));
        }
        return 0;
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        /* user: the X509_STORE_CTX, len: OpenSSL's preverify_ok. Returning 0 keeps its verdict. */
        if (len == 0 && user != NULL && c->tls_verify_err == 0)
            c->tls_verify_err = X509_STORE_CTX_get_error((X509_STORE_CTX *)user);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        char why[160];
        if (c->tls_verify_err != 0)
            snprintf(why, sizeof why, "connect failed: TLS certificate refused: %s",
                     X509_verify_cert_error_string(c->tls_verify_err));
        else
            snprintf(why, sizeof why, "connect failed: %s", in != NULL ? (const char *)in : "unknown");
        attempt_over(c, wsi, why);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c->attempt_live) note_pong_timeout(c);
        attempt_over(c, wsi, "connection closed");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (c->attempt_live) note_pong_timeout(c);
        attempt_over(c, wsi,
                     c->state == NB_RELAY_CONNECTING ? "no WebSocket upgrade before the connect timeout"
                                                     : "connection destroyed");
        return 0;
    default:
        return 0;
    }
}
