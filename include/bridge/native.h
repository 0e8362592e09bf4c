/*
 * native.h — the native thread protocol of `WS /chat` and `POST /chat/sse` (NodeTool's
 * chat-server shapes, extended with TENEX's event stream). Pure functions over (ptr, len): the
 * client's messages in, the server's event objects out. No I/O; fuzzed (tests/fuzz/fuzz_native.c).
 *
 * Client → server (one JSON object per WebSocket text frame, or the SSE request body):
 *
 *   {"type":"message","project":"<dtag or naddr>","thread_id":"<64 hex | nevent1… | note1…>"|null,
 *    "role":"user","content":"…" | [{"type":"text","text":"…"},…],"model":"<agent slug>",
 *    "history":[{"role":"user"|"assistant"|"system"|…,"content":…},…]}
 *   {"type":"stop","thread_id":"…"}
 *   {"type":"ping"}                                   (answered by {"type":"pong"})
 *
 * Any message may carry "request_id" (a string the server echoes in every event about it).
 * `type` may be omitted (= "message", as NodeTool allows). `role` must be "user" when present.
 * `thread_id` null, absent or "" = a new thread. An unknown `thread_id` (a valid id the bridge has
 * no record of) is still a thread id: the caller decides. Unknown fields are ignored. Strict JSON
 * (nb_json tokenizer: trailing garbage, bad UTF-8, duplicate... rejected as elsewhere).
 *
 * Server → client: every object carries "thread_id" (64 hex, or null before one exists):
 *   thread     {"type":"thread","thread_id","event_id","agent"}         the message was published
 *   content    {"type":"content","thread_id","content"}
 *   status     {"type":"status","thread_id","message"}
 *   tool       {"type":"tool","thread_id","name","args"}                args: the JSON value of
 *              the tool-args tag when it parses, else the raw string, else null
 *   activity   {"type":"activity","thread_id","agents":[slugs]}
 *   ask        {"type":"ask","thread_id","ask_id","title","question","suggestions":[…],"multiselect":bool}
 *   delegation {"type":"delegation","thread_id","to":[slugs]}
 *   end        {"type":"end","thread_id","reason":"completed"|"ask"|"idle","usage":{prompt_tokens,
 *              completion_tokens,total_tokens}|null}
 *   error      {"type":"error","thread_id","message","code"}             code: a short static
 *              string ("invalid_request", "project_not_found", "agent_timeout", …)
 *   stopped    {"type":"stopped","thread_id"}                             a stop was sent
 *   pong       {"type":"pong"}
 *
 * Every builder appends exactly one JSON object (no newline) to out and returns 0 or NB_ETOOBIG
 * (out's ceiling). Strings are escaped as JSON (valid UTF-8 in; invalid bytes → U+FFFD).
 */
#ifndef BRIDGE_NATIVE_H
#define BRIDGE_NATIVE_H

#include "bridge/buf.h"
#include "bridge/openai.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    NB_NATIVE_MESSAGE = 1,
    NB_NATIVE_STOP,
    NB_NATIVE_PING,
} nb_native_type_t;

/** Limits for nb_native_parse. */
typedef struct {
    size_t max_history;  /* history entries; default 1,000 */
    size_t max_text;     /* decoded bytes of content + every history text together; default 1 MiB */
    size_t max_field;    /* project / model / thread_id bytes; default 512 */
} nb_native_limits_t;

void nb_native_limits_defaults(nb_native_limits_t *l);

typedef struct {
    nb_native_type_t type;
    char *project;       /* MESSAGE: required, non-empty; NUL-terminated */
    char *model;         /* MESSAGE: optional agent slug, NULL when absent or null */
    char *request_id;    /* any type: the client's own id for this message (≤ max_field bytes), NULL
                            when absent; the server echoes it as "request_id" in every event it
                            sends about this message (how a client tells two new threads apart) */
    bool has_thread;     /* a thread_id was given (not null/absent/"") */
    uint8_t thread[32];  /* decoded from 64 hex, note1… or nevent1… */
    /*
     * MESSAGE: the conversation as an OpenAI request would carry it: history (in order, every
     * entry with text), then the user's content as the last message. chat.model = model (or
     * NULL), chat.stream = true, chat.last_user = the last index. Disposed with the message.
     */
    nb_chat_req_t chat;
} nb_native_msg_t;

/**
 * Parse one client message. 0 on success; else a negative nb_err_t, with e filled (status 400,
 * type "invalid_request_error", param naming the field, e.g. "history[3].content") and, when
 * the object had a parseable thread_id, msg->has_thread/thread set so the error can name it.
 * msg must be zeroed or disposed; on failure everything allocated is released except
 * msg->request_id (kept, when it was read, so the error can carry it): dispose msg either way.
 */
int nb_native_parse(nb_native_msg_t *msg, const char *p, size_t len, const nb_native_limits_t *lim,
                    nb_api_error_t *e);
void nb_native_msg_dispose(nb_native_msg_t *msg);

/* ---- server events (thread may be NULL → "thread_id":null) ---------------------------------- */

int nb_native_ev_thread(nb_buf_t *out, const uint8_t thread[32], const uint8_t event_id[32], const char *agent);
int nb_native_ev_content(nb_buf_t *out, const uint8_t *thread, const char *text, size_t len);
int nb_native_ev_status(nb_buf_t *out, const uint8_t *thread, const char *text, size_t len);
/** args: the raw tool-args tag value (may be NULL/len 0 → null). Embedded as JSON when it is a
 *  valid JSON value (strictly parsed, re-serialized compactly), else as a JSON string. */
int nb_native_ev_tool(nb_buf_t *out, const uint8_t *thread, const char *name, size_t name_len, const char *args,
                      size_t args_len);
int nb_native_ev_activity(nb_buf_t *out, const uint8_t *thread, const char *const *agents, size_t n);

typedef struct {
    uint8_t ask_id[32];
    const char *title;
    size_t title_len;
    const char *question; /* the question (or multiselect) tag's prompt */
    size_t question_len;
    const char *const *suggestions; /* options, NUL-terminated strings */
    size_t n_suggestions;
    bool multiselect;
} nb_native_ask_t;

int nb_native_ev_ask(nb_buf_t *out, const uint8_t *thread, const nb_native_ask_t *ask);
int nb_native_ev_delegation(nb_buf_t *out, const uint8_t *thread, const char *const *to, size_t n);
/** reason: "completed", "ask" or "idle"; usage NULL → null. */
int nb_native_ev_end(nb_buf_t *out, const uint8_t *thread, const char *reason, const nb_usage_t *usage);
/** code NULL → "error". */
int nb_native_ev_error(nb_buf_t *out, const uint8_t *thread, const char *message, const char *code);
int nb_native_ev_stopped(nb_buf_t *out, const uint8_t *thread);
int nb_native_ev_pong(nb_buf_t *out);

#endif
