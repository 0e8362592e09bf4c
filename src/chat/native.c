/*
 * native.c — the native thread protocol: client messages in, server event objects out.
 *
 * Parsing follows openai.c: the strict tokenizer (json.h) first, so trailing garbage, invalid
 * UTF-8 and deep nesting are gone before anything looks at a field; then every field we use is
 * checked for its type and size, and the first failure becomes a 400 naming the field. Unlike
 * openai.c, a known key given twice is refused (as event.c and filter.c do): two "thread_id"s
 * must not mean one thing to us and another to whatever proxy sits in front.
 *
 * The builders append to a caller's nb_buf_t and are atomic: on NB_ETOOBIG the buffer keeps its
 * old length. content and status are built for every agent delta, so the valid-UTF-8 path costs
 * one validation pass and the NIP-01 writer; only text with invalid bytes takes a scratch copy.
 */
#include "bridge/native.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/json.h"
#include "bridge/mem.h"
#include "bridge/nip19.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void nb_native_limits_defaults(nb_native_limits_t *l)
{
    l->max_history = 1000;
    l->max_text = 1024 * 1024;
    l->max_field = 512;
}

void nb_native_msg_dispose(nb_native_msg_t *msg)
{
    nb_free(msg->project);
    nb_free(msg->model);
    nb_free(msg->request_id);
    nb_chat_req_dispose(&msg->chat);
    memset(msg, 0, sizeof(*msg));
}

static int invalid(nb_api_error_t *e, int err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int invalid(nb_api_error_t *e, int err, const char *param, const char *fmt, ...)
{
    nb_api_error_set(e, 400, "invalid_request_error", NULL, param, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return err;
}

/* ---- parsing ---------------------------------------------------------------------------------- */

/* A key we read: where its value is (0 = absent) and whether the key came more than once. */
typedef struct {
    const char *name;
    uint32_t val;
    bool dup;
} field_t;

/* Fill f[0..n) from object obj. Returns the name of the first repeated known key, or NULL. */
static const char *collect(const char *s, const nb_json_tok_t *toks, uint32_t obj, field_t *f, size_t n)
{
    const char *dup = NULL;
    uint32_t k = obj + 1;
    for (uint32_t i = 0; i < toks[obj].size; i++, k = toks[k + 1].next) {
        for (size_t j = 0; j < n; j++) {
            if (!nb_json_str_eq(s, &toks[k], f[j].name)) continue;
            if (f[j].val != 0) {
                f[j].dup = true;
                if (dup == NULL) dup = f[j].name;
            } else {
                f[j].val = k + 1;
            }
            break;
        }
    }
    return dup;
}

static bool present(const nb_json_tok_t *toks, uint32_t v)
{
    return v != 0 && toks[v].type != NB_JSON_NULL;
}

/* A short string field (project, model, thread_id): decoded, at most max bytes, no NUL (it is
 * used as a C string). *out is new (never NULL on success). */
static int short_string(char **out, size_t *outlen, const char *s, const nb_json_tok_t *t, size_t max,
                        const char *param, nb_api_error_t *e)
{
    if (t->type != NB_JSON_STRING) return invalid(e, NB_EINVAL, param, "'%s' must be a string", param);
    nb_buf_t b;
    nb_buf_init(&b, max);
    if (nb_json_string(&b, s, t) != 0) {
        nb_buf_dispose(&b);
        return invalid(e, NB_ETOOBIG, param, "'%s' is too long", param);
    }
    if (b.len > 0 && memchr(b.data, '\0', b.len) != NULL) {
        nb_buf_dispose(&b);
        return invalid(e, NB_EINVAL, param, "'%s' must not contain NUL characters", param);
    }
    *out = nb_buf_steal(&b, outlen);
    return 0;
}

/* thread_id: "" → none; 64 hex digits (either case); note1… / nevent1… (NIP-19, "nostr:" allowed). */
static int parse_thread(nb_native_msg_t *msg, const char *s, const nb_json_tok_t *t, size_t max,
                        nb_api_error_t *e)
{
    if (t->type == NB_JSON_NULL) return 0;
    if (t->type != NB_JSON_STRING)
        return invalid(e, NB_EINVAL, "thread_id", "'%s' must be a string or null", "thread_id");
    char *id;
    size_t n;
    int r = short_string(&id, &n, s, t, max, "thread_id", e);
    if (r != 0) return r;
    if (n == 0) goto out;
    if (n == 64 && nb_hex_decode(msg->thread, 32, id, n) == 0) {
        msg->has_thread = true;
        goto out;
    }
    nb_nip19_t ent;
    if (nb_nip19_decode(&ent, id, n) == 0 && (ent.type == NB_NIP19_NOTE || ent.type == NB_NIP19_NEVENT)) {
        memcpy(msg->thread, ent.bytes, 32);
        msg->has_thread = true;
        goto out;
    }
    r = invalid(e, NB_EINVAL, "thread_id", "%s",
                "'thread_id' must be an event id: 64 hex digits, a note1… or an nevent1…");
out:
    nb_free(id);
    return r;
}

/* One message of chat from content token v (0 or null = empty text), charged to *used. */
static int add_message(nb_chat_req_t *chat, nb_chat_role_t role, const char *s, const nb_json_tok_t *toks,
                       uint32_t v, const char *param, const nb_native_limits_t *lim, size_t *used,
                       nb_api_error_t *e)
{
    nb_buf_t text;
    nb_buf_init(&text, lim->max_text - *used);
    int r = present(toks, v)
                ? nb_chat_content_text(&text, s, toks, v, param, "the conversation is too long", e)
                : 0;
    if (r != 0) {
        nb_buf_dispose(&text);
        return r;
    }
    *used += text.len;
    nb_chat_msg_t *m = &chat->messages[chat->n_messages++];
    m->role = role;
    m->text = nb_buf_steal(&text, &m->len);
    return 0;
}

static int parse_history(nb_chat_req_t *chat, const char *s, const nb_json_tok_t *toks, uint32_t arr,
                         const nb_native_limits_t *lim, size_t *used, nb_api_error_t *e)
{
    uint32_t m = arr + 1;
    for (uint32_t i = 0; i < toks[arr].size; i++, m = toks[m].next) {
        char param[64];
        snprintf(param, sizeof(param), "history[%u]", i);
        if (toks[m].type != NB_JSON_OBJECT)
            return invalid(e, NB_EINVAL, param, "'%s' must be an object with \"role\" and \"content\"",
                           param);
        field_t f[] = {{"role", 0, false}, {"content", 0, false}};
        const char *dup = collect(s, toks, m, f, 2);
        if (dup != NULL) {
            snprintf(param, sizeof(param), "history[%u].%s", i, dup);
            return invalid(e, NB_EINVAL, param, "'%s' is given more than once", param);
        }
        snprintf(param, sizeof(param), "history[%u].role", i);
        if (f[0].val == 0 || toks[f[0].val].type != NB_JSON_STRING)
            return invalid(e, NB_EINVAL, param, "'%s' must be a string", param);
        nb_chat_role_t role = nb_chat_role_parse(s, &toks[f[0].val]);
        if (role == 0)
            return invalid(e, NB_EINVAL, param,
                           "'%s' is unknown (expected system, developer, user, assistant, tool or function)",
                           param);
        snprintf(param, sizeof(param), "history[%u].content", i);
        /* As in OpenAI requests, only an assistant turn (tool calls) may leave content out. */
        if (f[1].val == 0 && role != NB_ROLE_ASSISTANT)
            return invalid(e, NB_EINVAL, param, "'%s' is a required property", param);
        int r = add_message(chat, role, s, toks, f[1].val, param, lim, used, e);
        if (r != 0) return r;
    }
    return 0;
}

enum { F_TYPE, F_PROJECT, F_THREAD, F_ROLE, F_CONTENT, F_MODEL, F_HISTORY, F_REQUEST, F_COUNT };

static int parse_message(nb_native_msg_t *msg, const char *s, const nb_json_tok_t *toks, const field_t *f,
                         const nb_native_limits_t *lim, nb_api_error_t *e)
{
    uint32_t v = f[F_ROLE].val;
    if (present(toks, v) && !nb_json_str_eq(s, &toks[v], "user"))
        return invalid(e, NB_EINVAL, "role", "%s", "'role' must be \"user\"");

    v = f[F_PROJECT].val;
    if (!present(toks, v)) return invalid(e, NB_EINVAL, "project", "%s", "'project' is a required property");
    size_t n;
    int r = short_string(&msg->project, &n, s, &toks[v], lim->max_field, "project", e);
    if (r != 0) return r;
    if (n == 0) return invalid(e, NB_EINVAL, "project", "%s", "'project' must not be empty");

    v = f[F_MODEL].val;
    if (present(toks, v)) {
        if ((r = short_string(&msg->model, &n, s, &toks[v], lim->max_field, "model", e)) != 0) return r;
        if (n == 0) { /* "" names no agent, like null */
            nb_free(msg->model);
            msg->model = NULL;
        }
    }

    v = f[F_CONTENT].val;
    if (!present(toks, v)) return invalid(e, NB_EINVAL, "content", "%s", "'content' is a required property");

    uint32_t h = f[F_HISTORY].val;
    size_t n_hist = 0;
    if (present(toks, h)) {
        if (toks[h].type != NB_JSON_ARRAY)
            return invalid(e, NB_EINVAL, "history", "%s", "'history' must be an array");
        n_hist = toks[h].size;
        if (n_hist > lim->max_history)
            return invalid(e, NB_ETOOBIG, "history", "%s", "'history' has too many entries");
    }
    nb_chat_req_t *chat = &msg->chat;
    chat->model = msg->model ? nb_strdup(msg->model) : NULL;
    chat->stream = true;
    chat->max_tokens = -1;
    chat->messages = nb_calloc(n_hist + 1, sizeof(*chat->messages));
    size_t used = 0;
    if (n_hist > 0 && (r = parse_history(chat, s, toks, h, lim, &used, e)) != 0) return r;
    if ((r = add_message(chat, NB_ROLE_USER, s, toks, v, "content", lim, &used, e)) != 0) return r;
    chat->last_user = chat->n_messages - 1;

    const nb_chat_msg_t *u = &chat->messages[chat->last_user];
    size_t k = 0;
    while (k < u->len &&
           (u->text[k] == ' ' || u->text[k] == '\t' || u->text[k] == '\r' || u->text[k] == '\n'))
        k++;
    if (k == u->len) return invalid(e, NB_EINVAL, "content", "%s", "the message has no text");
    return 0;
}

int nb_native_parse(nb_native_msg_t *msg, const char *p, size_t len, const nb_native_limits_t *lim,
                    nb_api_error_t *e)
{
    nb_native_limits_t defaults;
    if (lim == NULL) {
        nb_native_limits_defaults(&defaults);
        lim = &defaults;
    }
    memset(msg, 0, sizeof(*msg));
    /* A token needs at least one byte of input plus a separator for all but the first. */
    size_t cap = len / 2 + 2, n = 0;
    nb_json_tok_t stack[128];
    nb_json_tok_t *toks = cap <= 128 ? stack : nb_malloc(cap * sizeof(*toks));
    int r = nb_json_parse(toks, cap <= 128 ? 128 : cap, &n, p, len);
    if (r != 0) {
        invalid(e, r, NULL, "%s",
                r == NB_EUTF8         ? "the message is not valid UTF-8"
                : r == NB_ETOOBIG     ? "the message is too large"
                : r == NB_EJSON_DEPTH ? "the message is nested too deeply"
                                      : "the message is not valid JSON");
        goto out;
    }
    if (toks[0].type != NB_JSON_OBJECT) {
        r = invalid(e, NB_EINVAL, NULL, "%s", "the message must be a JSON object");
        goto out;
    }
    field_t f[F_COUNT] = {{"type", 0, false},    {"project", 0, false},   {"thread_id", 0, false},
                          {"role", 0, false},    {"content", 0, false},   {"model", 0, false},
                          {"history", 0, false}, {"request_id", 0, false}};
    const char *dup = collect(p, toks, 0, f, F_COUNT);
    /* The thread first, so that any later error can still name it. */
    if (f[F_THREAD].val != 0 && !f[F_THREAD].dup &&
        (r = parse_thread(msg, p, &toks[f[F_THREAD].val], lim->max_field, e)) != 0)
        goto out;
    /* … and the client's id of the message, so errors reach the right place too */
    if (present(toks, f[F_REQUEST].val) && !f[F_REQUEST].dup) {
        size_t rn;
        if ((r = short_string(&msg->request_id, &rn, p, &toks[f[F_REQUEST].val], lim->max_field, "request_id",
                              e)) != 0)
            goto out;
    }
    if (dup != NULL) {
        r = invalid(e, NB_EINVAL, dup, "'%s' is given more than once", dup);
        goto out;
    }

    /* NodeTool sends messages without a type. */
    uint32_t v = f[F_TYPE].val;
    if (!present(toks, v) || nb_json_str_eq(p, &toks[v], "message"))
        msg->type = NB_NATIVE_MESSAGE;
    else if (nb_json_str_eq(p, &toks[v], "stop"))
        msg->type = NB_NATIVE_STOP;
    else if (nb_json_str_eq(p, &toks[v], "ping"))
        msg->type = NB_NATIVE_PING;
    if (msg->type == 0) {
        r = toks[v].type != NB_JSON_STRING
                ? invalid(e, NB_EINVAL, "type", "%s", "'type' must be a string")
                : invalid(e, NB_EINVAL, "type", "%s", "unknown 'type' (expected message, stop or ping)");
        goto out;
    }
    switch (msg->type) {
    case NB_NATIVE_PING:
        break;
    case NB_NATIVE_STOP:
        if (!msg->has_thread) r = invalid(e, NB_EINVAL, "thread_id", "%s", "a stop needs a 'thread_id'");
        break;
    case NB_NATIVE_MESSAGE:
        r = parse_message(msg, p, toks, f, lim, e);
        break;
    }
out:
    if (toks != stack) nb_free(toks);
    if (r != 0) {
        /* Keep what lets the caller answer in the right place: the type, the thread and the
         * client's request id. */
        nb_native_type_t type = msg->type;
        bool has_thread = msg->has_thread;
        uint8_t thread[32];
        memcpy(thread, msg->thread, 32);
        char *request_id = msg->request_id;
        msg->request_id = NULL;
        nb_native_msg_dispose(msg);
        msg->type = type;
        msg->has_thread = has_thread;
        memcpy(msg->thread, thread, 32);
        msg->request_id = request_id;
    }
    return r;
}

/* ---- events ----------------------------------------------------------------------------------- */

/* p[0..len) as a JSON string literal; invalid UTF-8 becomes U+FFFD. */
static int put_str(nb_buf_t *out, const char *p, size_t len)
{
    if (len == 0) return nb_buf_appends(out, "\"\"");
    if (nb_utf8_valid(p, len)) return nb_json_write_string(out, p, len);
    /* Rare: repair into a scratch copy. It is never longer than the literal, so out's room is its
     * ceiling too. */
    nb_buf_t fixed;
    nb_buf_init(&fixed, out->max - out->len);
    const unsigned char *s = (const unsigned char *)p, *end = s + len;
    int r = 0;
    while (r == 0 && s < end) {
        const unsigned char *run = s;
        while (s < end && *s < 0x80)
            s++;
        bool ok = true;
        size_t n = s < end ? nb_utf8_step(s, end, &ok) : 0;
        if (ok) s += n;
        r = nb_buf_append(&fixed, run, (size_t)(s - run));
        if (r == 0 && !ok) {
            r = nb_buf_append(&fixed, "\xef\xbf\xbd", 3);
            s += n;
        }
    }
    if (r == 0) r = nb_json_write_string(out, fixed.data, fixed.len);
    nb_buf_dispose(&fixed);
    return r;
}

/* A C string; NULL → "" (clients may count on every text field being a string). */
static int put_cstr(nb_buf_t *out, const char *s)
{
    return s ? put_str(out, s, strlen(s)) : nb_buf_appends(out, "\"\"");
}

/* A 32-byte id as 64 lowercase hex digits in quotes; NULL → null. */
static int put_id(nb_buf_t *out, const uint8_t *id)
{
    if (id == NULL) return nb_buf_appends(out, "null");
    char hex[67];
    hex[0] = '"';
    nb_hex_encode(hex + 1, id, 32);
    hex[65] = '"';
    return nb_buf_append(out, hex, 66);
}

static int put_strs(nb_buf_t *out, const char *const *v, size_t n)
{
    int r = nb_buf_appendc(out, '[');
    for (size_t i = 0; r == 0 && i < n; i++) {
        assert(v[i] != NULL);
        if (i > 0) r = nb_buf_appendc(out, ',');
        r = r ? r : put_str(out, v[i], strlen(v[i]));
    }
    return r ? r : nb_buf_appendc(out, ']');
}

/*
 * Valid JSON a[0..n) without the whitespace between tokens: strings, numbers and literals are
 * copied byte for byte (the tokenizer already checked them, escapes included). Writes to o
 * when it is not NULL; returns the length either way, and the deepest nesting in *depth.
 */
static size_t compact(char *o, const char *a, size_t n, size_t *depth)
{
    size_t k = 0, d = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (in_str) {
            if (o) o[k] = c;
            k++;
            if (c == '\\') { /* valid JSON: an escape is never the last byte */
                i++;
                if (o) o[k] = a[i];
                k++;
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++d > max) max = d;
        } else if (c == ']' || c == '}') {
            d--;
        }
        if (o) o[k] = c;
        k++;
    }
    *depth = max;
    return k;
}

/*
 * The tool-args tag: its JSON value when it is one, else the raw text as a string; empty → null.
 * A value nested NB_JSON_MAX_DEPTH deep is valid on its own but not inside the event object (our
 * own tokenizer, and so the fuzzer, would refuse the event), so it goes out as a string too.
 */
static int put_args(nb_buf_t *out, const char *a, size_t n)
{
    if (a == NULL || n == 0) return nb_buf_appends(out, "null");
    size_t cap = n / 2 + 2, nt, depth;
    nb_json_tok_t stack[64];
    nb_json_tok_t *toks = cap <= 64 ? stack : nb_malloc(cap * sizeof(*toks));
    int valid = nb_json_parse(toks, cap <= 64 ? 64 : cap, &nt, a, n) == 0;
    if (toks != stack) nb_free(toks);
    size_t k = valid ? compact(NULL, a, n, &depth) : 0;
    if (!valid || depth >= NB_JSON_MAX_DEPTH) return put_str(out, a, n);
    int r = nb_buf_reserve(out, k);
    if (r != 0) return r;
    out->len += compact(out->data + out->len, a, n, &depth);
    out->data[out->len] = '\0';
    return 0;
}

/* Run a builder's steps; on failure put out back as it was (the caller may retry elsewhere). */
static int finish(nb_buf_t *out, size_t mark, int r)
{
    if (r != 0) {
        out->len = mark;
        if (out->data) out->data[mark] = '\0';
    }
    return r;
}

/* `{"type":"<type>","thread_id":<id>` — every event but pong starts so. */
static int head(nb_buf_t *out, const char *type, const uint8_t *thread)
{
    int r = nb_buf_appends(out, "{\"type\":\"");
    r = r ? r : nb_buf_appends(out, type);
    r = r ? r : nb_buf_appends(out, "\",\"thread_id\":");
    return r ? r : put_id(out, thread);
}

int nb_native_ev_thread(nb_buf_t *out, const uint8_t thread[32], const uint8_t event_id[32],
                        const char *agent)
{
    size_t mark = out->len;
    int r = head(out, "thread", thread);
    r = r ? r : nb_buf_appends(out, ",\"event_id\":");
    r = r ? r : put_id(out, event_id);
    r = r ? r : nb_buf_appends(out, ",\"agent\":");
    r = r ? r : put_cstr(out, agent);
    r = r ? r : nb_buf_appendc(out, '}');
    return finish(out, mark, r);
}

/* An event with one text field. */
static int text_event(nb_buf_t *out, const char *type, const uint8_t *thread, const char *key,
                      const char *text, size_t len)
{
    size_t mark = out->len;
    int r = head(out, type, thread);
    r = r ? r : nb_buf_appends(out, key);
    r = r ? r : put_str(out, text, len);
    r = r ? r : nb_buf_appendc(out, '}');
    return finish(out, mark, r);
}

int nb_native_ev_content(nb_buf_t *out, const uint8_t *thread, const char *text, size_t len)
{
    return text_event(out, "content", thread, ",\"content\":", text, len);
}

int nb_native_ev_status(nb_buf_t *out, const uint8_t *thread, const char *text, size_t len)
{
    return text_event(out, "status", thread, ",\"message\":", text, len);
}

int nb_native_ev_tool(nb_buf_t *out, const uint8_t *thread, const char *name, size_t name_len,
                      const char *args, size_t args_len)
{
    size_t mark = out->len;
    int r = head(out, "tool", thread);
    r = r ? r : nb_buf_appends(out, ",\"name\":");
    r = r ? r : put_str(out, name, name_len);
    r = r ? r : nb_buf_appends(out, ",\"args\":");
    r = r ? r : put_args(out, args, args_len);
    r = r ? r : nb_buf_appendc(out, '}');
    return finish(out, mark, r);
}

/* An event with one array of slugs. */
static int list_event(nb_buf_t *out, const char *type, const uint8_t *thread, const char *key,
                      const char *const *v, size_t n)
{
    size_t mark = out->len;
    int r = head(out, type, thread);
    r = r ? r : nb_buf_appends(out, key);
    r = r ? r : put_strs(out, v, n);
    r = r ? r : nb_buf_appendc(out, '}');
    return finish(out, mark, r);
}

int nb_native_ev_activity(nb_buf_t *out, const uint8_t *thread, const char *const *agents, size_t n)
{
    return list_event(out, "activity", thread, ",\"agents\":", agents, n);
}

int nb_native_ev_delegation(nb_buf_t *out, const uint8_t *thread, const char *const *to, size_t n)
{
    return list_event(out, "delegation", thread, ",\"to\":", to, n);
}

int nb_native_ev_ask(nb_buf_t *out, const uint8_t *thread, const nb_native_ask_t *ask)
{
    size_t mark = out->len;
    int r = head(out, "ask", thread);
    r = r ? r : nb_buf_appends(out, ",\"ask_id\":");
    r = r ? r : put_id(out, ask->ask_id);
    r = r ? r : nb_buf_appends(out, ",\"title\":");
    r = r ? r : put_str(out, ask->title, ask->title_len);
    r = r ? r : nb_buf_appends(out, ",\"question\":");
    r = r ? r : put_str(out, ask->question, ask->question_len);
    r = r ? r : nb_buf_appends(out, ",\"suggestions\":");
    r = r ? r : put_strs(out, ask->suggestions, ask->n_suggestions);
    r = r ? r : nb_buf_appends(out, ask->multiselect ? ",\"multiselect\":true}" : ",\"multiselect\":false}");
    return finish(out, mark, r);
}

int nb_native_ev_end(nb_buf_t *out, const uint8_t *thread, const char *reason, const nb_usage_t *usage)
{
    assert(reason != NULL);
    size_t mark = out->len;
    int r = head(out, "end", thread);
    r = r ? r : nb_buf_appends(out, ",\"reason\":");
    r = r ? r : put_cstr(out, reason);
    if (usage == NULL)
        r = r ? r : nb_buf_appends(out, ",\"usage\":null}");
    else
        r = r ? r
              : nb_buf_appendf(out,
                               ",\"usage\":{\"prompt_tokens\":%" PRId64 ",\"completion_tokens\":%" PRId64
                               ",\"total_tokens\":%" PRId64 "}}",
                               usage->prompt_tokens, usage->completion_tokens, usage->total_tokens);
    return finish(out, mark, r);
}

int nb_native_ev_error(nb_buf_t *out, const uint8_t *thread, const char *message, const char *code)
{
    size_t mark = out->len;
    int r = head(out, "error", thread);
    r = r ? r : nb_buf_appends(out, ",\"message\":");
    r = r ? r : put_cstr(out, message);
    r = r ? r : nb_buf_appends(out, ",\"code\":");
    r = r ? r : put_cstr(out, code ? code : "error");
    r = r ? r : nb_buf_appendc(out, '}');
    return finish(out, mark, r);
}

int nb_native_ev_stopped(nb_buf_t *out, const uint8_t *thread)
{
    size_t mark = out->len;
    int r = head(out, "stopped", thread);
    r = r ? r : nb_buf_appendc(out, '}');
    return finish(out, mark, r);
}

int nb_native_ev_pong(nb_buf_t *out)
{
    return nb_buf_appends(out, "{\"type\":\"pong\"}");
}
