/*
 * route.h — the HTTP route table: (method, raw path) → which callback, with the d-tag decoded.
 *
 * A pure function over (ptr, len) with no I/O, so it can be unit-tested and fuzzed on its own.
 * The table is the one documented in include/bridge/http_server.h:
 *
 *   POST /<dtag>/chat/completions, /<dtag>/v1/chat/completions, /v1/chat/completions, /chat/sse
 *   GET  /<dtag>/models, /<dtag>/v1/models, /v1/models, /health, /metrics, /chat (WebSocket)
 *   OPTIONS on any of them → preflight
 *
 * The global routes win over a d-tag named "v1" ("/v1/models" is the global list; the project
 * "v1" is reached as "/v1/v1/models"). "/chat" and "/chat/sse" do not clash with a project
 * named "chat": its routes have longer tails ("/chat/chat/completions", "/chat/models"). The
 * query string is ignored. The d-tag segment is percent-decoded (%XX, either case; a malformed
 * escape is an error) and must then be 1..256 bytes of valid UTF-8 with no '/' and no NUL (it
 * is handed on as a C string). Methods are compared case-sensitively (RFC 9110 §9.1). Private
 * to src/http/.
 */
#ifndef BRIDGE_HTTP_ROUTE_H
#define BRIDGE_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

/** Longest d-tag, in decoded bytes. */
#define NB_HTTP_DTAG_MAX 256

typedef enum {
    NB_ROUTE_NONE = 0,
    NB_ROUTE_CHAT,
    NB_ROUTE_MODELS,
    NB_ROUTE_HEALTH,
    NB_ROUTE_METRICS,
    NB_ROUTE_CHAT_WS,  /* GET /chat: the WebSocket upgrade */
    NB_ROUTE_CHAT_SSE, /* POST /chat/sse */
} nb_route_kind_t;

typedef enum {
    NB_ROUTE_DISPATCH = 0, /* call the route's callback */
    NB_ROUTE_PREFLIGHT,    /* OPTIONS on a known path: answer the CORS preflight */
    NB_ROUTE_NOT_FOUND,    /* 404: unknown path or invalid d-tag (why says which) */
    NB_ROUTE_BAD_METHOD,   /* 405: known path, other method (allow lists the right ones) */
} nb_route_outcome_t;

typedef struct {
    nb_route_outcome_t outcome;
    nb_route_kind_t kind; /* set unless NOT_FOUND */
    const char *allow;    /* "GET, OPTIONS" or "POST, OPTIONS"; set unless NOT_FOUND */
    const char *why;      /* NOT_FOUND: a short static reason, safe to show the client */
    bool has_dtag;        /* the path named a project */
    size_t dtag_len;
    char dtag[NB_HTTP_DTAG_MAX + 1]; /* decoded, NUL-terminated when has_dtag */
} nb_route_t;

/**
 * Classify one request. method and path are the raw bytes from the request line (path with its
 * query, if any). Never reads outside them; fills every field of out.
 */
nb_route_outcome_t nb_http_route_parse(nb_route_t *out, const char *method, size_t method_len,
                                       const char *path, size_t path_len);

#endif
