/* libFuzzer: the native protocol's client message parser (a WebSocket frame or SSE body is outside
 * input), and its event builders round-tripped through our own tokenizer. A parsed message must be
 * consistent (what native.h promises); a content event built from its last message, and a tool
 * event whose args are the raw input, must be one valid JSON object, the content decoding back to
 * the exact text. A failed parse must leave nothing allocated and say why. */
#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/mem.h"
#include "bridge/native.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* out must hold exactly one JSON object whose "type" is type; returns the value index of key. */
static uint32_t check_event(const nb_buf_t *out, nb_json_tok_t *toks, size_t cap, const char *type,
                            const char *key)
{
    size_t n;
    if (nb_json_parse(toks, cap, &n, out->data, out->len) != 0 || toks[0].type != NB_JSON_OBJECT) abort();
    uint32_t t = nb_json_obj_get(out->data, toks, 0, "type");
    if (t == 0 || !nb_json_str_eq(out->data, &toks[t], type)) abort();
    if (nb_json_obj_get(out->data, toks, 0, "thread_id") == 0) abort();
    return key ? nb_json_obj_get(out->data, toks, 0, key) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    nb_native_limits_t lim = {16, 16 * 1024, 128};
    nb_native_msg_t m;
    nb_api_error_t e;
    memset(&e, 0, sizeof(e));
    /* Tokens for the events built below: an event adds a handful to what its input holds. */
    size_t cap = size + 64;
    nb_json_tok_t *toks = nb_malloc(cap * sizeof(*toks));
    nb_buf_t out;
    nb_buf_init(&out, 8 * size + 1024); /* content escapes to at most 6 bytes per input byte */

    if (nb_native_parse(&m, p, size, &lim, &e) != 0) {
        if (e.status != 400 || e.message[0] == '\0' || strcmp(e.type, "invalid_request_error") != 0) abort();
        if (m.project || m.model || m.chat.messages || m.chat.model || m.chat.n_messages) abort();
        if (m.request_id != NULL && strlen(m.request_id) > lim.max_field) abort();
        nb_native_msg_dispose(&m); /* the request id survives a failure */
    } else {
        const uint8_t *thread = m.has_thread ? m.thread : NULL;
        switch (m.type) {
        case NB_NATIVE_PING:
            if (m.project || m.chat.messages) abort();
            break;
        case NB_NATIVE_STOP:
            if (!m.has_thread || m.project || m.chat.messages) abort();
            break;
        case NB_NATIVE_MESSAGE: {
            if (m.project == NULL || m.project[0] == '\0' || strlen(m.project) > lim.max_field) abort();
            if ((m.model == NULL) != (m.chat.model == NULL)) abort();
            if (m.model && (strcmp(m.model, m.chat.model) != 0 || strlen(m.model) > lim.max_field)) abort();
            if (!m.chat.stream || m.chat.n_messages == 0 || m.chat.n_messages > lim.max_history + 1 ||
                m.chat.last_user != m.chat.n_messages - 1)
                abort();
            size_t total = 0;
            for (size_t i = 0; i < m.chat.n_messages; i++) {
                const nb_chat_msg_t *c = &m.chat.messages[i];
                if (c->role < NB_ROLE_SYSTEM || c->role > NB_ROLE_FUNCTION || c->text == NULL ||
                    !nb_utf8_valid(c->text, c->len))
                    abort();
                total += c->len;
            }
            if (total > lim.max_text) abort();
            const nb_chat_msg_t *u = &m.chat.messages[m.chat.last_user];
            if (u->role != NB_ROLE_USER || strspn(u->text, " \t\r\n") == u->len) abort();

            /* Round trip: the content event carries exactly the text. */
            if (nb_native_ev_content(&out, thread, u->text, u->len) != 0) abort();
            uint32_t v = check_event(&out, toks, cap, "content", "content");
            nb_buf_t back;
            nb_buf_init(&back, u->len);
            if (v == 0 || nb_json_string(&back, out.data, &toks[v]) != 0 || back.len != u->len ||
                (u->len && memcmp(back.data, u->text, u->len) != 0))
                abort();
            nb_buf_dispose(&back);
            nb_buf_reset(&out);
            break;
        }
        default:
            abort();
        }
        nb_native_msg_dispose(&m);
    }

    /* The raw input as text (invalid UTF-8 repaired) and as tool args (JSON or not). */
    static const uint8_t id[32] = {1, 2, 3};
    if (nb_native_ev_status(&out, id, p, size) != 0) abort();
    check_event(&out, toks, cap, "status", "message");
    nb_buf_reset(&out);
    if (nb_native_ev_tool(&out, NULL, p, size < 8 ? size : 8, p, size) != 0) abort();
    if (check_event(&out, toks, cap, "tool", "args") == 0) abort();
    nb_buf_reset(&out);
    /* The same with a ceiling that cannot hold it: refused, buffer untouched. */
    nb_buf_t small;
    nb_buf_init(&small, size / 2);
    if (nb_native_ev_content(&small, NULL, p, size) != NB_ETOOBIG || small.len != 0) abort();
    nb_buf_dispose(&small);

    nb_buf_dispose(&out);
    nb_free(toks);
    return 0;
}
