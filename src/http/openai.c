/*
 * openai.c — OpenAI Chat Completions requests in, chunks / completions / errors out.
 *
 * Requests go through the strict tokenizer (json.h), so trailing garbage, invalid UTF-8 and
 * deep nesting are rejected before anything else looks at the body. Responses are written by
 * hand into nb_buf_t: a chunk is built for every agent delta, so this is on the hot path and
 * must not allocate per call beyond the buffer's growth.
 */
#include "bridge/openai.h"

#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/mem.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

int nb_api_error_set(nb_api_error_t *e, int status, const char *type, const char *code, const char *param,
                     const char *fmt, ...)
{
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return status;
}

static int invalid(nb_api_error_t *e, int err, const char *param, const char *msg)
{
    nb_api_error_set(e, 400, "invalid_request_error", NULL, param, "%s", msg);
    return err;
}

void nb_chat_req_dispose(nb_chat_req_t *req)
{
    for (size_t i = 0; i < req->n_messages; i++)
        nb_free(req->messages[i].text);
    nb_free(req->messages);
    nb_free(req->model);
    memset(req, 0, sizeof(*req));
}

static const struct {
    const char *name;
    nb_chat_role_t role;
} roles[] = {
    {"system", NB_ROLE_SYSTEM},       {"developer", NB_ROLE_DEVELOPER}, {"user", NB_ROLE_USER},
    {"assistant", NB_ROLE_ASSISTANT}, {"tool", NB_ROLE_TOOL},           {"function", NB_ROLE_FUNCTION},
};

nb_chat_role_t nb_chat_role_parse(const char *s, const nb_json_tok_t *t)
{
    if (t->type != NB_JSON_STRING) return 0;
    for (size_t k = 0; k < sizeof(roles) / sizeof(roles[0]); k++)
        if (nb_json_str_eq(s, t, roles[k].name)) return roles[k].role;
    return 0;
}

/* content: a string, null (assistant tool calls), or an array of parts of which the "text" ones
 * count (images, audio and refusals carry no text for an agent). */
int nb_chat_content_text(nb_buf_t *text, const char *s, const nb_json_tok_t *toks, uint32_t v,
                         const char *param, const char *too_long, nb_api_error_t *err)
{
    if (toks[v].type == NB_JSON_NULL) return 0;
    if (toks[v].type == NB_JSON_STRING)
        return nb_json_string(text, s, &toks[v]) == 0 ? 0 : invalid(err, NB_ETOOBIG, param, too_long);
    if (toks[v].type != NB_JSON_ARRAY)
        return invalid(err, NB_EINVAL, param, "content must be a string or an array of content parts");
    uint32_t p = v + 1;
    bool first = true;
    for (uint32_t j = 0; j < toks[v].size; j++, p = toks[p].next) {
        if (toks[p].type != NB_JSON_OBJECT)
            return invalid(err, NB_EINVAL, param, "each content part must be an object with a \"type\"");
        uint32_t ty = nb_json_obj_get(s, toks, p, "type");
        if (ty == 0 || toks[ty].type != NB_JSON_STRING)
            return invalid(err, NB_EINVAL, param, "each content part must be an object with a \"type\"");
        if (!nb_json_str_eq(s, &toks[ty], "text")) continue;
        uint32_t tx = nb_json_obj_get(s, toks, p, "text");
        if (tx == 0 || toks[tx].type != NB_JSON_STRING)
            return invalid(err, NB_EINVAL, param, "a text content part needs a string \"text\"");
        if ((!first && nb_buf_appendc(text, '\n') != 0) || nb_json_string(text, s, &toks[tx]) != 0)
            return invalid(err, NB_ETOOBIG, param, too_long);
        first = false;
    }
    return 0;
}

static int parse_messages(nb_chat_req_t *req, const char *s, const nb_json_tok_t *toks, uint32_t arr,
                          const nb_chat_limits_t *lim, nb_api_error_t *err)
{
    if (toks[arr].type != NB_JSON_ARRAY)
        return invalid(err, NB_EINVAL, "messages", "'messages' must be an array");
    if (toks[arr].size == 0)
        return invalid(err, NB_EINVAL, "messages", "'messages' must contain at least one message");
    if (toks[arr].size > lim->max_messages) return invalid(err, NB_ETOOBIG, "messages", "too many messages");
    req->messages = nb_calloc(toks[arr].size, sizeof(*req->messages));
    nb_buf_t text;
    nb_buf_init(&text, lim->max_text);
    size_t used = 0;
    bool have_user = false;
    int r = 0;
    uint32_t m = arr + 1;
    for (uint32_t i = 0; i < toks[arr].size; i++, m = toks[m].next) {
        char param[64];
        if (toks[m].type != NB_JSON_OBJECT) {
            snprintf(param, sizeof(param), "messages[%u]", i);
            r = invalid(err, NB_EINVAL, param,
                        "each message must be an object with \"role\" and \"content\"");
            goto out;
        }
        uint32_t ro = nb_json_obj_get(s, toks, m, "role");
        snprintf(param, sizeof(param), "messages[%u].role", i);
        if (ro == 0 || toks[ro].type != NB_JSON_STRING) {
            r = invalid(err, NB_EINVAL, param, "each message needs a string \"role\"");
            goto out;
        }
        nb_chat_role_t role = nb_chat_role_parse(s, &toks[ro]);
        if (role == 0) {
            r = invalid(err, NB_EINVAL, param,
                        "unknown role (expected system, developer, user, assistant or tool)");
            goto out;
        }
        uint32_t co = nb_json_obj_get(s, toks, m, "content");
        nb_buf_reset(&text);
        text.max = lim->max_text - used;
        snprintf(param, sizeof(param), "messages[%u].content", i);
        if (co != 0 &&
            (r = nb_chat_content_text(&text, s, toks, co, param, "messages are too long", err)) != 0)
            goto out;
        if (co == 0 && role != NB_ROLE_ASSISTANT) {
            snprintf(param, sizeof(param), "messages[%u].content", i);
            r = invalid(err, NB_EINVAL, param, "each message needs \"content\"");
            goto out;
        }
        used += text.len;
        req->messages[i].role = role;
        req->messages[i].text = nb_buf_steal(&text, &req->messages[i].len);
        req->n_messages = i + 1;
        if (role == NB_ROLE_USER) {
            req->last_user = i;
            have_user = true;
        }
    }
    if (!have_user) {
        r = invalid(err, NB_EINVAL, "messages", "'messages' must contain a user message");
        goto out;
    }
    const nb_chat_msg_t *u = &req->messages[req->last_user];
    size_t k = 0;
    while (k < u->len && strchr(" \t\r\n", u->text[k]) != NULL)
        k++;
    if (k == u->len) {
        char param[64];
        snprintf(param, sizeof(param), "messages[%zu].content", req->last_user);
        r = invalid(err, NB_EINVAL, param, "the last user message has no text");
    }
out:
    nb_buf_dispose(&text);
    return r;
}

int nb_chat_req_parse(nb_chat_req_t *req, const char *body, size_t len, const nb_chat_limits_t *lim,
                      nb_api_error_t *err)
{
    static const nb_chat_limits_t defaults = {1000, 1024 * 1024};
    if (lim == NULL) lim = &defaults;
    memset(req, 0, sizeof(*req));
    req->max_tokens = -1;
    /* A token needs at least one byte of input plus a separator for all but the first. */
    size_t cap = len / 2 + 2, n = 0;
    nb_json_tok_t stack[256];
    nb_json_tok_t *toks = cap <= 256 ? stack : nb_malloc(cap * sizeof(*toks));
    int r = nb_json_parse(toks, cap <= 256 ? 256 : cap, &n, body, len);
    if (r != 0) {
        invalid(err, r, NULL,
                r == NB_EUTF8 ? "the request body is not valid UTF-8" : "the request body is not valid JSON");
        goto out;
    }
    if (toks[0].type != NB_JSON_OBJECT) {
        r = invalid(err, NB_EINVAL, NULL, "the request body must be a JSON object");
        goto out;
    }
    uint32_t v = nb_json_obj_get(body, toks, 0, "model");
    if (v == 0 || toks[v].type != NB_JSON_STRING) {
        r = invalid(err, NB_EINVAL, "model",
                    v ? "'model' must be a string" : "'model' is a required property");
        goto out;
    }
    nb_buf_t model;
    nb_buf_init(&model, 256);
    if (nb_json_string(&model, body, &toks[v]) != 0) {
        nb_buf_dispose(&model);
        r = invalid(err, NB_ETOOBIG, "model", "'model' is too long");
        goto out;
    }
    req->model = nb_buf_steal(&model, NULL);

    v = nb_json_obj_get(body, toks, 0, "stream");
    if (v != 0 && toks[v].type != NB_JSON_NULL) {
        if (toks[v].type != NB_JSON_TRUE && toks[v].type != NB_JSON_FALSE) {
            r = invalid(err, NB_EINVAL, "stream", "'stream' must be a boolean");
            goto out;
        }
        req->stream = toks[v].type == NB_JSON_TRUE;
    }
    v = nb_json_obj_get(body, toks, 0, "stream_options");
    if (v != 0 && toks[v].type != NB_JSON_NULL) {
        if (toks[v].type != NB_JSON_OBJECT) {
            r = invalid(err, NB_EINVAL, "stream_options", "'stream_options' must be an object");
            goto out;
        }
        uint32_t iu = nb_json_obj_get(body, toks, v, "include_usage");
        if (iu != 0 && toks[iu].type != NB_JSON_TRUE && toks[iu].type != NB_JSON_FALSE &&
            toks[iu].type != NB_JSON_NULL) {
            r = invalid(err, NB_EINVAL, "stream_options.include_usage", "'include_usage' must be a boolean");
            goto out;
        }
        req->include_usage = iu != 0 && toks[iu].type == NB_JSON_TRUE;
    }
    static const char *const token_fields[] = {"max_tokens", "max_completion_tokens"};
    for (size_t i = 0; i < 2; i++) {
        v = nb_json_obj_get(body, toks, 0, token_fields[i]);
        int64_t x;
        if (v == 0 || toks[v].type == NB_JSON_NULL) continue;
        if (toks[v].type != NB_JSON_NUMBER || nb_json_int64(body, &toks[v], &x) != 0 || x < 1) {
            r = invalid(err, NB_EINVAL, token_fields[i], "must be a positive integer");
            goto out;
        }
        req->max_tokens = x; /* max_completion_tokens comes second and wins */
    }
    v = nb_json_obj_get(body, toks, 0, "messages");
    if (v == 0) {
        r = invalid(err, NB_EINVAL, "messages", "'messages' is a required property");
        goto out;
    }
    r = parse_messages(req, body, toks, v, lim, err);
out:
    if (toks != stack) nb_free(toks);
    if (r != 0) nb_chat_req_dispose(req);
    return r;
}

/* ---- responses ------------------------------------------------------------------------ */

static int chunk_head(nb_buf_t *out, const nb_chunk_ctx_t *c)
{
    int r = nb_buf_appends(out, "data: {\"id\":");
    r = r ? r : nb_json_write_string(out, c->id, strlen(c->id));
    /* one chunk per agent delta: no printf here (it was a third of this function's cost) */
    r = r ? r : nb_buf_appends(out, ",\"object\":\"chat.completion.chunk\",\"created\":");
    r = r ? r : nb_buf_append_int(out, c->created);
    r = r ? r : nb_buf_appends(out, ",\"model\":");
    r = r ? r : nb_json_write_string(out, c->model, strlen(c->model));
    return r;
}

static int chunk_tail(nb_buf_t *out, const nb_chunk_ctx_t *c)
{
    return nb_buf_appends(out, c->include_usage ? ",\"usage\":null}\n\n" : "}\n\n");
}

/* Build into out atomically: on failure out keeps its old length. */
#define ATOMIC(out, expr)                                                                                    \
    do {                                                                                                     \
        size_t mark_ = (out)->len;                                                                           \
        int r_ = (expr);                                                                                     \
        if (r_ != 0) {                                                                                       \
            (out)->len = mark_;                                                                              \
            if ((out)->data) (out)->data[mark_] = '\0';                                                      \
        }                                                                                                    \
        return r_;                                                                                           \
    } while (0)

static int role_chunk(nb_buf_t *out, const nb_chunk_ctx_t *c)
{
    int r = chunk_head(out, c);
    r = r ? r
          : nb_buf_appends(out,
                           ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                           "\"logprobs\":null,\"finish_reason\":null}]");
    return r ? r : chunk_tail(out, c);
}

int nb_oai_chunk_role(nb_buf_t *out, const nb_chunk_ctx_t *c)
{
    ATOMIC(out, role_chunk(out, c));
}

static int content_chunk(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *text, size_t len)
{
    int r = chunk_head(out, c);
    r = r ? r : nb_buf_appends(out, ",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
    r = r ? r : nb_json_write_string(out, text, len);
    r = r ? r : nb_buf_appends(out, "},\"logprobs\":null,\"finish_reason\":null}]");
    return r ? r : chunk_tail(out, c);
}

int nb_oai_chunk_content(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *text, size_t len)
{
    ATOMIC(out, content_chunk(out, c, text, len));
}

static int finish_chunk(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *reason)
{
    int r = chunk_head(out, c);
    r = r ? r
          : nb_buf_appends(out,
                           ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":");
    r = r ? r : nb_json_write_string(out, reason, strlen(reason));
    r = r ? r : nb_buf_appends(out, "}]");
    return r ? r : chunk_tail(out, c);
}

int nb_oai_chunk_finish(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *finish_reason)
{
    ATOMIC(out, finish_chunk(out, c, finish_reason));
}

static int usage_json(nb_buf_t *out, const nb_usage_t *u)
{
    return nb_buf_appendf(
        out, "{\"prompt_tokens\":%" PRId64 ",\"completion_tokens\":%" PRId64 ",\"total_tokens\":%" PRId64 "}",
        u->prompt_tokens, u->completion_tokens, u->total_tokens);
}

static int usage_chunk(nb_buf_t *out, const nb_chunk_ctx_t *c, const nb_usage_t *u)
{
    int r = chunk_head(out, c);
    r = r ? r : nb_buf_appends(out, ",\"choices\":[],\"usage\":");
    r = r ? r : usage_json(out, u);
    return r ? r : nb_buf_appends(out, "}\n\n");
}

int nb_oai_chunk_usage(nb_buf_t *out, const nb_chunk_ctx_t *c, const nb_usage_t *u)
{
    ATOMIC(out, usage_chunk(out, c, u));
}

static int error_obj(nb_buf_t *out, const nb_api_error_t *e)
{
    int r = nb_buf_appends(out, "{\"error\":{\"message\":");
    r = r ? r : nb_json_write_string(out, e->message, strlen(e->message));
    r = r ? r : nb_buf_appends(out, ",\"type\":");
    r = r ? r
          : nb_json_write_string(out, e->type ? e->type : "server_error",
                                 strlen(e->type ? e->type : "server_error"));
    r = r ? r : nb_buf_appends(out, ",\"param\":");
    r = r ? r
          : (e->param[0] ? nb_json_write_string(out, e->param, strlen(e->param))
                         : nb_buf_appends(out, "null"));
    r = r ? r : nb_buf_appends(out, ",\"code\":");
    r = r ? r : (e->code ? nb_json_write_string(out, e->code, strlen(e->code)) : nb_buf_appends(out, "null"));
    return r ? r : nb_buf_appends(out, "}}");
}

static int sse_error(nb_buf_t *out, const nb_api_error_t *e)
{
    int r = nb_buf_appends(out, "data: ");
    r = r ? r : error_obj(out, e);
    return r ? r : nb_buf_appends(out, "\n\n");
}

int nb_oai_sse_error(nb_buf_t *out, const nb_api_error_t *e)
{
    ATOMIC(out, sse_error(out, e));
}

int nb_oai_sse_done(nb_buf_t *out)
{
    return nb_buf_appends(out, "data: [DONE]\n\n");
}

int nb_oai_error_json(nb_buf_t *out, const nb_api_error_t *e)
{
    ATOMIC(out, error_obj(out, e));
}

static int completion(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *text, size_t len,
                      const nb_usage_t *u)
{
    static const nb_usage_t zero = {0, 0, 0};
    int r = nb_buf_appends(out, "{\"id\":");
    r = r ? r : nb_json_write_string(out, c->id, strlen(c->id));
    r = r ? r
          : nb_buf_appendf(out,
                           ",\"object\":\"chat.completion\",\"created\":%" PRId64 ",\"model\":", c->created);
    r = r ? r : nb_json_write_string(out, c->model, strlen(c->model));
    r = r ? r
          : nb_buf_appends(out,
                           ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    r = r ? r : nb_json_write_string(out, text, len);
    r = r ? r
          : nb_buf_appends(out,
                           ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":");
    r = r ? r : usage_json(out, u ? u : &zero);
    return r ? r : nb_buf_appends(out, "}");
}

int nb_oai_completion(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *text, size_t len,
                      const nb_usage_t *u)
{
    ATOMIC(out, completion(out, c, text, len, u));
}

static int models(nb_buf_t *out, const char *const *ids, size_t n, int64_t created, const char *owned_by)
{
    int r = nb_buf_appends(out, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = nb_buf_appends(out, i ? ",{\"id\":" : "{\"id\":");
        r = r ? r : nb_json_write_string(out, ids[i], strlen(ids[i]));
        r = r ? r
              : nb_buf_appendf(out, ",\"object\":\"model\",\"created\":%" PRId64 ",\"owned_by\":", created);
        r = r ? r : nb_json_write_string(out, owned_by, strlen(owned_by));
        r = r ? r : nb_buf_appendc(out, '}');
    }
    return r ? r : nb_buf_appends(out, "]}");
}

int nb_oai_models(nb_buf_t *out, const char *const *ids, size_t n, int64_t created, const char *owned_by)
{
    ATOMIC(out, models(out, ids, n, created, owned_by));
}

void nb_oai_completion_id(char *out, size_t cap)
{
    uuid_t u;
    uuid_generate_random(u);
    char hex[33];
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[u[i] >> 4];
        hex[2 * i + 1] = digits[u[i] & 15];
    }
    hex[32] = '\0';
    snprintf(out, cap, "chatcmpl-%s", hex);
}
