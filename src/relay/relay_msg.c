/*
 * relay_msg.c — the NIP-01 / NIP-42 relay message codec.
 *
 * A frame is tokenized once by the strict JSON tokenizer; the first element names the message,
 * the arity is checked exactly, and each element is taken from its token. Nothing here keeps a
 * pointer into the frame: sub ids and texts are copied into the message, the event and filters
 * own their memory.
 */
#include "bridge/relay_msg.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/mem.h"

#include <string.h>

/*
 * Tokens for a typical frame (an event with a few dozen tags) fit on the stack: 256 tokens are
 * 5 KiB. Larger frames get a heap array sized by the worst case (see parse_frame).
 */
#define STACK_TOKS 256

/* Indices of the first elements of the root array: enough for every fixed-arity message. */
#define MAX_ELEMS 4

void nb_relay_msg_init(nb_relay_msg_t *m)
{
    memset(m, 0, sizeof(*m));
    nb_event_init(&m->event);
    for (uint32_t i = 0; i < NB_REQ_MAX_FILTERS; i++)
        nb_filter_init(&m->filters[i]);
}

void nb_relay_msg_dispose(nb_relay_msg_t *m)
{
    nb_event_dispose(&m->event);
    nb_event_init(&m->event);
    for (uint32_t i = 0; i < m->n_filters; i++)
        nb_filter_dispose(&m->filters[i]);
    m->n_filters = 0;
    m->has_event = false;
    m->type = 0;
    m->sub_id[0] = '\0';
    memset(m->event_id, 0, sizeof(m->event_id));
    m->ok = false;
    m->text[0] = '\0';
    m->text_len = 0;
}

/* ---- elements ------------------------------------------------------------------------------- */

/*
 * NIP-01: "<subscription_id> is an arbitrary, non-empty string of max length 64 chars."
 * Counted in bytes (the stricter reading). A sub id with an escaped NUL is refused: it could not
 * be used as the C string the rest of bridge (and every builder here) takes.
 */
static int get_sub_id(nb_relay_msg_t *m, const char *json, const nb_json_tok_t *t)
{
    size_t len;
    if (t->type != NB_JSON_STRING || nb_json_string_to(m->sub_id, sizeof(m->sub_id), &len, json, t) != 0)
        goto bad;
    if (len == 0 || strlen(m->sub_id) != len) goto bad;
    return 0;
bad:
    m->sub_id[0] = '\0';
    return NB_EFRAME;
}

/*
 * Texts (OK and CLOSED messages, NOTICEs, AUTH challenges) are cut at NB_RELAY_MSG_MAX_TEXT
 * bytes rather than refused: a chatty relay must not make its verdict unreadable. The cut falls
 * on a UTF-8 boundary so the text stays valid (the tokenizer guarantees the decoded string is).
 */
static int get_text(nb_relay_msg_t *m, const char *json, const nb_json_tok_t *t)
{
    if (t->type != NB_JSON_STRING) return NB_EFRAME;
    size_t n = nb_json_string_len(json, t);
    if (n <= NB_RELAY_MSG_MAX_TEXT)
        return nb_json_string_to(m->text, sizeof(m->text), &m->text_len, json, t) == 0 ? 0 : NB_EFRAME;

    nb_buf_t b;
    int r = 0;
    nb_buf_init(&b, n);
    if (nb_json_string(&b, json, t) != 0 || b.len != n) {
        r = NB_EFRAME;
        goto out;
    }
    size_t cut = NB_RELAY_MSG_MAX_TEXT;
    while (cut > 0 && ((unsigned char)b.data[cut] & 0xC0) == 0x80) /* a continuation byte */
        cut--;
    memcpy(m->text, b.data, cut);
    m->text[cut] = '\0';
    m->text_len = cut;
out:
    nb_buf_dispose(&b);
    return r;
}

static int get_event_id(nb_relay_msg_t *m, const char *json, const nb_json_tok_t *t)
{
    char hex[65];
    size_t len;
    if (t->type != NB_JSON_STRING || nb_json_string_to(hex, sizeof(hex), &len, json, t) != 0)
        return NB_EFRAME;
    /* NIP-01 puts ids on the wire as 64 lowercase hex digits; anything else is not an id. */
    if (len != 64 || !nb_hex_is_lower(hex, len) || nb_hex_decode(m->event_id, 32, hex, len) != 0)
        return NB_EFRAME;
    return 0;
}

static int get_event(nb_relay_msg_t *m, const char *json, const nb_json_tok_t *toks, uint32_t idx,
                     const nb_event_limits_t *lim)
{
    if (toks[idx].type != NB_JSON_OBJECT) return NB_EEVENT;
    int r = nb_event_from_tokens(&m->event, json, toks, idx, lim);
    if (r == 0) m->has_event = true;
    return r;
}

/* ---- messages ------------------------------------------------------------------------------- */

typedef struct {
    const char *json;
    const nb_json_tok_t *toks;
    uint32_t n;             /* elements in the root array */
    uint32_t el[MAX_ELEMS]; /* token index of each of the first elements */
    const nb_event_limits_t *lim;
} frame_t;

static int relay_msg(nb_relay_msg_t *m, const frame_t *f)
{
    const char *j = f->json;
    const nb_json_tok_t *t = f->toks;
    const nb_json_tok_t *name = &t[f->el[0]];

    if (nb_json_str_eq(j, name, "EVENT")) {
        /* ["EVENT", <subscription_id>, <event JSON>] */
        if (f->n != 3) return NB_EFRAME;
        m->type = NB_RMSG_EVENT;
        int r = get_sub_id(m, j, &t[f->el[1]]);
        return r != 0 ? r : get_event(m, j, t, f->el[2], f->lim);
    }
    if (nb_json_str_eq(j, name, "OK")) {
        /*
         * ["OK", <event_id>, <true|false>, <message>]. NIP-01: "The 4th parameter MUST always be
         * present, but MAY be an empty string when the 3rd is true". Some relays still omit it; a
         * missing message reads as empty, because the verdict in the 3rd element is what counts.
         */
        if (f->n != 3 && f->n != 4) return NB_EFRAME;
        m->type = NB_RMSG_OK;
        int r = get_event_id(m, j, &t[f->el[1]]);
        if (r != 0) return r;
        const nb_json_tok_t *b = &t[f->el[2]];
        if (b->type != NB_JSON_TRUE && b->type != NB_JSON_FALSE) return NB_EFRAME;
        m->ok = b->type == NB_JSON_TRUE;
        return f->n == 4 ? get_text(m, j, &t[f->el[3]]) : 0;
    }
    if (nb_json_str_eq(j, name, "EOSE")) {
        /* ["EOSE", <subscription_id>] */
        if (f->n != 2) return NB_EFRAME;
        m->type = NB_RMSG_EOSE;
        return get_sub_id(m, j, &t[f->el[1]]);
    }
    if (nb_json_str_eq(j, name, "CLOSED")) {
        /* ["CLOSED", <subscription_id>, <message>]; tolerated without the message, like OK. */
        if (f->n != 2 && f->n != 3) return NB_EFRAME;
        m->type = NB_RMSG_CLOSED;
        int r = get_sub_id(m, j, &t[f->el[1]]);
        return r != 0 || f->n == 2 ? r : get_text(m, j, &t[f->el[2]]);
    }
    if (nb_json_str_eq(j, name, "NOTICE")) {
        /* ["NOTICE", <message>] */
        if (f->n != 2) return NB_EFRAME;
        m->type = NB_RMSG_NOTICE;
        return get_text(m, j, &t[f->el[1]]);
    }
    if (nb_json_str_eq(j, name, "AUTH")) {
        /* NIP-42: ["AUTH", <challenge-string>] */
        if (f->n != 2) return NB_EFRAME;
        m->type = NB_RMSG_AUTH;
        return get_text(m, j, &t[f->el[1]]);
    }
    return NB_EFRAME;
}

static int client_msg(nb_relay_msg_t *m, const frame_t *f)
{
    const char *j = f->json;
    const nb_json_tok_t *t = f->toks;
    const nb_json_tok_t *name = &t[f->el[0]];

    bool auth = nb_json_str_eq(j, name, "AUTH");
    if (auth || nb_json_str_eq(j, name, "EVENT")) {
        /* ["EVENT", <event JSON>]; NIP-42: ["AUTH", <signed event JSON>] */
        if (f->n != 2) return NB_EFRAME;
        m->type = auth ? NB_RMSG_AUTH : NB_RMSG_EVENT;
        return get_event(m, j, t, f->el[1], f->lim);
    }
    if (nb_json_str_eq(j, name, "REQ")) {
        /* ["REQ", <subscription_id>, <filters1>, <filters2>, ...] */
        if (f->n < 3) return NB_EFRAME;
        if (f->n - 2 > NB_REQ_MAX_FILTERS) return NB_ETOOBIG;
        m->type = NB_RMSG_REQ;
        int r = get_sub_id(m, j, &t[f->el[1]]);
        if (r != 0) return r;
        uint32_t e = t[f->el[1]].next;
        for (uint32_t i = 0; i < f->n - 2; i++, e = t[e].next) {
            /* Count it first: the filter is then disposed with the message whatever happens. */
            nb_filter_t *flt = &m->filters[m->n_filters++];
            if ((r = nb_filter_from_tokens(flt, j, t, e)) != 0) return r;
        }
        return 0;
    }
    if (nb_json_str_eq(j, name, "CLOSE")) {
        /* ["CLOSE", <subscription_id>] */
        if (f->n != 2) return NB_EFRAME;
        m->type = NB_RMSG_CLOSE;
        return get_sub_id(m, j, &t[f->el[1]]);
    }
    return NB_EFRAME;
}

static int parse_frame(nb_relay_msg_t *m, const char *frame, size_t len, const nb_event_limits_t *lim,
                       bool from_client)
{
    nb_json_tok_t stack[STACK_TOKS];
    nb_json_tok_t *toks = stack;
    size_t ntoks = 0;
    int r;

    nb_relay_msg_dispose(m);
    if (len > UINT32_MAX) /* the tokenizer's spans are 32-bit */
        return NB_ETOOBIG;
    r = nb_json_parse(toks, STACK_TOKS, &ntoks, frame, len);
    if (r == NB_ETOOBIG) {
        /*
         * A scalar token takes at least one byte and a container two (its brackets); every
         * token but the root is preceded by ',' or ':' unless it is first in its container. So
         * n tokens need at least 2n - 1 bytes, and len/2 + 1 always suffice. The array is large
         * for a large frame, but only the pages the tokenizer writes get touched.
         */
        size_t cap = len / 2 + 2;
        toks = nb_malloc(cap * sizeof(*toks));
        r = nb_json_parse(toks, cap, &ntoks, frame, len);
    }
    if (r != 0) goto out;

    /* A message is an array whose first element is a string naming it; anything else is not. */
    if (toks[0].type != NB_JSON_ARRAY || toks[0].size == 0 || toks[1].type != NB_JSON_STRING) {
        r = NB_EFRAME;
        goto out;
    }
    frame_t f = {.json = frame, .toks = toks, .n = toks[0].size, .lim = lim};
    uint32_t e = 1;
    for (uint32_t i = 0; i < f.n && i < MAX_ELEMS; i++, e = toks[e].next)
        f.el[i] = e;
    r = from_client ? client_msg(m, &f) : relay_msg(m, &f);
out:
    if (toks != stack) nb_free(toks);
    if (r != 0) nb_relay_msg_dispose(m);
    return r;
}

int nb_relay_msg_parse(nb_relay_msg_t *m, const char *frame, size_t len, const nb_event_limits_t *lim)
{
    return parse_frame(m, frame, len, lim, false);
}

int nb_client_msg_parse(nb_relay_msg_t *m, const char *frame, size_t len, const nb_event_limits_t *lim)
{
    return parse_frame(m, frame, len, lim, true);
}

/* ---- builders ------------------------------------------------------------------------------- */

/* A builder that fails leaves out as it found it: never half a frame on the wire. */
static int finish(nb_buf_t *out, size_t start, int r)
{
    if (r != 0 && out->data != NULL) {
        out->len = start;
        out->data[start] = '\0';
    }
    return r;
}

static bool sub_id_ok(const char *sub_id)
{
    /* NIP-01: "an arbitrary, non-empty string of max length 64 chars". */
    return sub_id != NULL && sub_id[0] != '\0' && strnlen(sub_id, NB_SUBID_MAX + 1) <= NB_SUBID_MAX;
}

static int put_str(nb_buf_t *out, const char *s)
{
    if (s == NULL) s = "";
    return nb_json_write_string(out, s, strlen(s));
}

/* ["<name>",<event>] or ["<name>","<sub>",<event>] */
static int build_with_event(nb_buf_t *out, const char *name, const char *sub_id, const nb_event_t *ev)
{
    size_t start = out->len;
    int r = nb_buf_appendf(out, "[\"%s\",", name);
    if (r == 0 && sub_id != NULL) {
        r = put_str(out, sub_id);
        if (r == 0) r = nb_buf_appendc(out, ',');
    }
    if (r == 0) r = nb_event_to_json(out, ev);
    if (r == 0) r = nb_buf_appendc(out, ']');
    return finish(out, start, r);
}

/* ["<name>","<a>"] or ["<name>","<a>","<b>"] (b NULL: absent) */
static int build_strings(nb_buf_t *out, const char *name, const char *a, const char *b)
{
    size_t start = out->len;
    int r = nb_buf_appendf(out, "[\"%s\",", name);
    if (r == 0) r = put_str(out, a);
    if (r == 0 && b != NULL) {
        r = nb_buf_appendc(out, ',');
        if (r == 0) r = put_str(out, b);
    }
    if (r == 0) r = nb_buf_appendc(out, ']');
    return finish(out, start, r);
}

int nb_msg_build_event(nb_buf_t *out, const nb_event_t *ev)
{
    return build_with_event(out, "EVENT", NULL, ev);
}

int nb_msg_build_req(nb_buf_t *out, const char *sub_id, const nb_filter_t *filters, size_t n)
{
    /* NIP-01 requires at least one filter; more than we parse back would be refused by us. */
    if (!sub_id_ok(sub_id) || n == 0 || n > NB_REQ_MAX_FILTERS) return NB_EINVAL;
    size_t start = out->len;
    int r = nb_buf_appends(out, "[\"REQ\",");
    if (r == 0) r = put_str(out, sub_id);
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = nb_buf_appendc(out, ',');
        if (r == 0) r = nb_filter_to_json(out, &filters[i]);
    }
    if (r == 0) r = nb_buf_appendc(out, ']');
    return finish(out, start, r);
}

int nb_msg_build_close(nb_buf_t *out, const char *sub_id)
{
    if (!sub_id_ok(sub_id)) return NB_EINVAL;
    return build_strings(out, "CLOSE", sub_id, NULL);
}

int nb_msg_build_auth(nb_buf_t *out, const nb_event_t *ev)
{
    return build_with_event(out, "AUTH", NULL, ev);
}

int nb_msg_build_sub_event(nb_buf_t *out, const char *sub_id, const nb_event_t *ev)
{
    if (!sub_id_ok(sub_id)) return NB_EINVAL;
    return build_with_event(out, "EVENT", sub_id, ev);
}

int nb_msg_build_ok(nb_buf_t *out, const uint8_t id[32], bool ok, const char *text)
{
    char hex[65];
    nb_hex_encode(hex, id, 32);
    size_t start = out->len;
    int r = nb_buf_appendf(out, "[\"OK\",\"%s\",%s,", hex, ok ? "true" : "false");
    if (r == 0) r = put_str(out, text);
    if (r == 0) r = nb_buf_appendc(out, ']');
    return finish(out, start, r);
}

int nb_msg_build_eose(nb_buf_t *out, const char *sub_id)
{
    if (!sub_id_ok(sub_id)) return NB_EINVAL;
    return build_strings(out, "EOSE", sub_id, NULL);
}

int nb_msg_build_closed(nb_buf_t *out, const char *sub_id, const char *text)
{
    if (!sub_id_ok(sub_id)) return NB_EINVAL;
    return build_strings(out, "CLOSED", sub_id, text != NULL ? text : "");
}

int nb_msg_build_notice(nb_buf_t *out, const char *text)
{
    return build_strings(out, "NOTICE", text, NULL);
}

int nb_msg_build_auth_challenge(nb_buf_t *out, const char *challenge)
{
    return build_strings(out, "AUTH", challenge, NULL);
}
