/*
 * filter.h — NIP-01 subscription filters: build, print, parse, match.
 *
 * A filter owns its arrays. Absent fields match everything; since/until/limit are absent when
 * negative. Tag conditions are `#<letter>` (a–z, A–Z) with a list of values; an event matches a
 * condition when one of its tags named <letter> has items[1] equal to one of the values.
 */
#ifndef BRIDGE_FILTER_H
#define BRIDGE_FILTER_H

#include "bridge/buf.h"
#include "bridge/event.h"
#include "bridge/json.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char letter;
    uint32_t n;
    nb_str_t *values; /* owned copies */
} nb_filter_tag_t;

typedef struct {
    uint8_t (*ids)[32];
    uint32_t n_ids;
    uint8_t (*authors)[32];
    uint32_t n_authors;
    uint32_t *kinds;
    uint32_t n_kinds;
    nb_filter_tag_t *tags;
    uint32_t n_tags;
    int64_t since; /* < 0: absent */
    int64_t until; /* < 0: absent */
    int64_t limit; /* < 0: absent */
} nb_filter_t;

/** An empty filter (matches every event). */
void nb_filter_init(nb_filter_t *f);
void nb_filter_dispose(nb_filter_t *f);
/** Deep copy src into dst (dst uninitialized). */
void nb_filter_copy(nb_filter_t *dst, const nb_filter_t *src);

void nb_filter_add_id(nb_filter_t *f, const uint8_t id[32]);
void nb_filter_add_author(nb_filter_t *f, const uint8_t pubkey[32]);
void nb_filter_add_kind(nb_filter_t *f, uint32_t kind);
/** Add value to the #letter condition (letter in a–z / A–Z, else NB_EINVAL). */
int nb_filter_add_tag(nb_filter_t *f, char letter, const char *value, size_t len);

/** True when ev satisfies every present condition (limit is ignored). */
bool nb_filter_matches(const nb_filter_t *f, const nb_event_t *ev);

/** Append the filter as a JSON object, fields in NIP-01 order. */
int nb_filter_to_json(nb_buf_t *out, const nb_filter_t *f);

/**
 * Parse a filter from OBJECT token idx. Strict about types (ids/authors 64 lowercase hex,
 * kinds integers 0..65535, #x arrays of strings, since/until/limit non-negative integers);
 * unknown keys are ignored. 0 or NB_EFILTER. f must be initialized.
 */
int nb_filter_from_tokens(nb_filter_t *f, const char *json, const nb_json_tok_t *toks, uint32_t idx);

#endif
