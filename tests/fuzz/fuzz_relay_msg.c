/*
 * fuzz_relay_msg.c — libFuzzer driver for the relay message codec.
 *
 * Each input is parsed as a relay → client and as a client → relay message. Whatever parses is
 * built again with the matching builder and parsed a second time; the two messages must agree
 * field for field (events and filters compared through their canonical JSON). A disagreement is
 * a codec bug and aborts.
 *
 *     build-fuzz/tests/fuzz/fuzz_relay_msg tests/fuzz/corpus/relay_msg -dict=tests/fuzz/json.dict
 */
#include "bridge/err.h"
#include "bridge/relay_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (64u << 20)

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_relay_msg: round trip mismatch: %s\n", what);
    abort();
}

static bool same_json(int (*print)(nb_buf_t *, const void *), const void *a, const void *b)
{
    nb_buf_t x, y;
    nb_buf_init(&x, OUT_MAX);
    nb_buf_init(&y, OUT_MAX);
    if (print(&x, a) != 0 || print(&y, b) != 0) fail("printing failed");
    bool same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
    nb_buf_dispose(&x);
    nb_buf_dispose(&y);
    return same;
}

static int print_event(nb_buf_t *out, const void *ev)
{
    return nb_event_to_json(out, ev);
}

static int print_filter(nb_buf_t *out, const void *f)
{
    return nb_filter_to_json(out, f);
}

/* Build m again with the builder for its type. */
static int rebuild(nb_buf_t *out, const nb_relay_msg_t *m, bool client)
{
    /* Builders take C strings: a text with an escaped NUL is rebuilt up to the NUL. */
    switch (m->type) {
    case NB_RMSG_EVENT:
        return client ? nb_msg_build_event(out, &m->event)
                      : nb_msg_build_sub_event(out, m->sub_id, &m->event);
    case NB_RMSG_OK:
        return nb_msg_build_ok(out, m->event_id, m->ok, m->text);
    case NB_RMSG_EOSE:
        return nb_msg_build_eose(out, m->sub_id);
    case NB_RMSG_CLOSED:
        return nb_msg_build_closed(out, m->sub_id, m->text);
    case NB_RMSG_NOTICE:
        return nb_msg_build_notice(out, m->text);
    case NB_RMSG_AUTH:
        return client ? nb_msg_build_auth(out, &m->event) : nb_msg_build_auth_challenge(out, m->text);
    case NB_RMSG_REQ:
        return nb_msg_build_req(out, m->sub_id, m->filters, m->n_filters);
    case NB_RMSG_CLOSE:
        return nb_msg_build_close(out, m->sub_id);
    }
    fail("parsed message has no type");
    return NB_EINVAL;
}

static void compare(const nb_relay_msg_t *a, const nb_relay_msg_t *b)
{
    if (a->type != b->type) fail("type");
    if (strcmp(a->sub_id, b->sub_id) != 0) fail("sub_id");
    if (a->type == NB_RMSG_OK && (memcmp(a->event_id, b->event_id, 32) != 0 || a->ok != b->ok))
        fail("OK id or verdict");
    /* The text survives up to its first NUL (see rebuild). */
    size_t tl = strlen(a->text);
    if (b->text_len != tl || memcmp(a->text, b->text, tl) != 0) fail("text");
    if (a->has_event != b->has_event) fail("has_event");
    if (a->has_event && !same_json(print_event, &a->event, &b->event)) fail("event");
    if (a->n_filters != b->n_filters) fail("filter count");
    for (uint32_t i = 0; i < a->n_filters; i++)
        if (!same_json(print_filter, &a->filters[i], &b->filters[i])) fail("filter");
}

static void one(nb_relay_msg_t *m, nb_relay_msg_t *m2, const char *p, size_t n, bool client)
{
    int (*parse)(nb_relay_msg_t *, const char *, size_t, const nb_event_limits_t *) =
        client ? nb_client_msg_parse : nb_relay_msg_parse;
    if (parse(m, p, n, NULL) != 0) return;
    if (m->text_len > NB_RELAY_MSG_MAX_TEXT || m->text[m->text_len] != '\0')
        fail("text not cut or not terminated");

    nb_buf_t out;
    nb_buf_init(&out, OUT_MAX);
    /* Everything the parser accepts is something the builders can express. */
    if (rebuild(&out, m, client) != 0) fail("builder refused a parsed message");
    /*
     * The event limits are lifted for the second parse: a rebuilt event can be a few bytes
     * longer than its source (1e3 becomes 1000), which must not count as a mismatch.
     */
    nb_event_limits_t lim = nb_event_default_limits;
    lim.max_json = OUT_MAX;
    int r = parse(m2, out.data, out.len, &lim);
    if (r != 0) {
        fprintf(stderr, "rebuilt frame refused (%s): %.*s\n", nb_err_name(r),
                (int)(out.len > 2000 ? 2000 : out.len), out.data);
        fail("rebuilt frame does not parse");
    }
    compare(m, m2);
    nb_buf_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Messages are several KiB: keep two for the whole run, as the pool keeps one per relay. */
    static nb_relay_msg_t *m, *m2;
    if (m == NULL) {
        m = malloc(sizeof(*m));
        m2 = malloc(sizeof(*m2));
        if (m == NULL || m2 == NULL) abort();
        nb_relay_msg_init(m);
        nb_relay_msg_init(m2);
    }
    one(m, m2, (const char *)data, size, false);
    one(m, m2, (const char *)data, size, true);
    /* Free between inputs so LeakSanitizer sees only real leaks. */
    nb_relay_msg_dispose(m);
    nb_relay_msg_dispose(m2);
    return 0;
}
