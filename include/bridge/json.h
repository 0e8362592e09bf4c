/*
 * json.h — a strict, allocation-free JSON tokenizer for outside input (relay frames, events),
 * plus the NIP-01 string writer.
 *
 * Why not cJSON here: cJSON accepts trailing garbage, truncates strings at an escaped \u0000,
 * and its printer escapes differently from NIP-01, so an event id recomputed from a cJSON
 * round-trip can differ from the author's. This tokenizer keeps raw spans into the input, so the
 * exact bytes are always recoverable.
 *
 * Grammar: RFC 8259, whole input (surrounding whitespace allowed, nothing else), nesting at
 * most NB_JSON_MAX_DEPTH, strings must be valid UTF-8 with valid escapes (a lone UTF-16
 * surrogate escape is rejected), numbers per the RFC grammar. Input up to 4 GiB - 1.
 */
#ifndef BRIDGE_JSON_H
#define BRIDGE_JSON_H

#include "bridge/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_JSON_MAX_DEPTH 64

typedef enum {
    NB_JSON_OBJECT = 1,
    NB_JSON_ARRAY,
    NB_JSON_STRING,
    NB_JSON_NUMBER,
    NB_JSON_TRUE,
    NB_JSON_FALSE,
    NB_JSON_NULL,
} nb_json_type_t;

/*
 * One token, in document order (pre-order). Tokens of an object alternate key (a STRING),
 * value. For a STRING, [start, start+len) is the raw text between the quotes (escapes not
 * decoded; has_escapes tells whether decoding is needed). For other types it is the raw
 * text of the value (for OBJECT/ARRAY: from the bracket to the matching bracket, inclusive).
 */
typedef struct {
    uint8_t type;        /* nb_json_type_t */
    uint8_t has_escapes; /* STRING: contains a backslash */
    uint32_t start;
    uint32_t len;
    uint32_t size; /* OBJECT: number of keys; ARRAY: number of elements; else 0 */
    uint32_t next; /* index of the first token after this one's subtree */
} nb_json_tok_t;

/**
 * Tokenize s[0..len) into toks (capacity cap). On success *ntoks is the token count and the
 * root is toks[0]. Errors: NB_EJSON (syntax, trailing data), NB_EJSON_DEPTH, NB_EUTF8,
 * NB_ETOOBIG (more than cap tokens or len >= 4 GiB). Never reads outside s[0..len).
 */
int nb_json_parse(nb_json_tok_t *toks, size_t cap, size_t *ntoks, const char *s, size_t len);

/**
 * Decode the STRING token t of document s into out (appended). Handles every escape,
 * including \u0000 and surrogate pairs, producing UTF-8. 0, NB_EINVAL (not a string) or
 * NB_ETOOBIG (out's ceiling).
 */
int nb_json_string(nb_buf_t *out, const char *s, const nb_json_tok_t *t);

/** Decoded length of the STRING token t (same result as nb_json_string's byte count). */
size_t nb_json_string_len(const char *s, const nb_json_tok_t *t);

/** Decode the STRING token t into dst[0..cap); fails with NB_ETOOBIG if it does not fit with a NUL. */
int nb_json_string_to(char *dst, size_t cap, size_t *outlen, const char *s, const nb_json_tok_t *t);

/** True when STRING token t decodes to exactly lit (NUL-terminated). */
bool nb_json_str_eq(const char *s, const nb_json_tok_t *t, const char *lit);

/**
 * The NUMBER token t as an exact integer: no fraction, no exponent (an exponent form such as
 * 1e3 is accepted only when it denotes an integer in range), within int64. 0 or NB_EINVAL.
 */
int nb_json_int64(const char *s, const nb_json_tok_t *t, int64_t *out);

/** Index of the value for key in OBJECT token obj (toks as returned by parse), or 0 if absent. */
uint32_t nb_json_obj_get(const char *s, const nb_json_tok_t *toks, uint32_t obj, const char *key);

/**
 * Append p[0..len) as a JSON string literal (with the quotes) using the NIP-01 escaping rules:
 * escape exactly `"` `\` and \n \r \t \b \f; other bytes < 0x20 as \u00XX (lowercase hex);
 * everything else (including '/', DEL and non-ASCII) verbatim. 0 or NB_ETOOBIG.
 */
int nb_json_write_string(nb_buf_t *out, const char *p, size_t len);

/**
 * At p (p < end, *p >= 0x80): the length of the well-formed UTF-8 sequence starting there (*ok
 * true), else of its maximal ill-formed subpart, at least 1 (*ok false) — the bytes one U+FFFD
 * replaces.
 */
size_t nb_utf8_step(const unsigned char *p, const unsigned char *end, bool *ok);
/** True when p[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool nb_utf8_valid(const char *p, size_t len);

#endif
