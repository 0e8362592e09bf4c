/*
 * openai.h — the OpenAI Chat Completions wire format: request parsing and response building.
 *
 * Pure functions over (ptr, len) and nb_buf_t; no I/O. The request parser is strict about what
 * it needs (model, messages, their roles and content types; strict JSON, valid UTF-8, nothing
 * after the value) and ignores every field it does not use (tools, user, metadata,
 * elevenlabs_extra_body, …), as the official SDKs and ElevenLabs send many.
 *
 * Errors are described by nb_api_error_t, the one shape every HTTP error takes
 * ({"error":{"message","type","param","code"}}); src/http maps them to responses.
 */
#ifndef BRIDGE_OPENAI_H
#define BRIDGE_OPENAI_H

#include "bridge/buf.h"
#include "bridge/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    NB_ROLE_SYSTEM = 1,
    NB_ROLE_DEVELOPER,
    NB_ROLE_USER,
    NB_ROLE_ASSISTANT,
    NB_ROLE_TOOL,
    NB_ROLE_FUNCTION,
} nb_chat_role_t;

typedef struct {
    nb_chat_role_t role;
    char *text; /* the message's text: a string content, or its "text" parts joined by "\n" */
    size_t len;
} nb_chat_msg_t;

typedef struct {
    char *model; /* as sent */
    bool stream;
    bool include_usage;      /* stream_options.include_usage */
    int64_t max_tokens;      /* max_completion_tokens, else max_tokens; -1 when absent */
    nb_chat_msg_t *messages; /* in order */
    size_t n_messages;
    size_t last_user; /* index of the last user message (always valid after a successful parse) */
} nb_chat_req_t;

/** An API error: HTTP status and the OpenAI error object's fields. */
typedef struct {
    int status;       /* 400, 401, 404, 405, 413, 429, 500, 502, 503, 504 */
    const char *type; /* e.g. "invalid_request_error" (static string) */
    const char *code; /* e.g. "model_not_found", or NULL → JSON null (static string) */
    char param[64];   /* "" → JSON null */
    char message[512];
} nb_api_error_t;

/** Fill e (param may be NULL). Returns e->status for convenience. */
int nb_api_error_set(nb_api_error_t *e, int status, const char *type, const char *code, const char *param,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/** Limits for nb_chat_req_parse. */
typedef struct {
    size_t max_messages; /* default 1,000 */
    size_t max_text;     /* decoded bytes of all message texts together; default 1 MiB */
} nb_chat_limits_t;

/**
 * Parse a chat completion request body. On failure returns a negative nb_err_t and fills err
 * with a 400 invalid_request_error naming the offending param (e.g. "messages[2].content").
 * req must be zeroed or disposed; on failure it is left empty.
 */
int nb_chat_req_parse(nb_chat_req_t *req, const char *body, size_t len, const nb_chat_limits_t *lim,
                      nb_api_error_t *err);
void nb_chat_req_dispose(nb_chat_req_t *req);

/* The pieces of a message, for other parsers of OpenAI-shaped messages (the native API). */
/** The role a JSON string token names (system, developer, user, assistant, tool, function), or 0. */
nb_chat_role_t nb_chat_role_parse(const char *s, const nb_json_tok_t *t);
/**
 * Append the text of a content token to text: a string, null (nothing), or an array of parts of
 * which the "text" ones count, joined by "\n". Errors are 400s naming param; too_long is the
 * message when text's ceiling is reached (NB_ETOOBIG).
 */
int nb_chat_content_text(nb_buf_t *text, const char *s, const nb_json_tok_t *toks, uint32_t v,
                         const char *param, const char *too_long, nb_api_error_t *err);

/** What every chunk of one completion shares. */
typedef struct {
    const char *id;    /* "chatcmpl-…" */
    int64_t created;   /* unix seconds */
    const char *model; /* the agent's slug */
    bool include_usage;
} nb_chunk_ctx_t;

typedef struct {
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t total_tokens;
} nb_usage_t;

/* SSE builders: each appends one complete event "data: {…}\n\n" to out. 0 or NB_ETOOBIG. */
/** The first chunk: delta {"role":"assistant","content":""}. */
int nb_oai_chunk_role(nb_buf_t *out, const nb_chunk_ctx_t *c);
/** A content delta. text must be valid UTF-8. */
int nb_oai_chunk_content(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *text, size_t len);
/** The last choice chunk: empty delta, finish_reason (e.g. "stop"). */
int nb_oai_chunk_finish(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *finish_reason);
/** The usage chunk (choices: []), sent only when include_usage. */
int nb_oai_chunk_usage(nb_buf_t *out, const nb_chunk_ctx_t *c, const nb_usage_t *u);
/** An error after the stream started: data: {"error":{…}}. */
int nb_oai_sse_error(nb_buf_t *out, const nb_api_error_t *e);
/** The terminator "data: [DONE]\n\n". */
int nb_oai_sse_done(nb_buf_t *out);

/** A non-streaming chat.completion object. */
int nb_oai_completion(nb_buf_t *out, const nb_chunk_ctx_t *c, const char *text, size_t len,
                      const nb_usage_t *u);
/** {"error":{"message","type","param","code"}}. */
int nb_oai_error_json(nb_buf_t *out, const nb_api_error_t *e);
/** {"object":"list","data":[{"id","object":"model","created","owned_by"}…]}. */
int nb_oai_models(nb_buf_t *out, const char *const *ids, size_t n, int64_t created, const char *owned_by);

/** A fresh "chatcmpl-<32 hex>" id (libuuid) into out (>= 48 bytes). */
void nb_oai_completion_id(char *out, size_t cap);

#endif
