/*
 * event.h — NIP-01 events: build, serialize (id preimage), sign, verify, wire JSON.
 *
 * An nb_event_t owns every string it points to (an internal arena freed by nb_event_dispose).
 * Strings are stored with a trailing NUL for convenience, but the length is authoritative:
 * content and tag values may contain "\u0000".
 *
 * Typical use:
 *     nb_event_t ev;
 *     nb_event_init(&ev);
 *     ev.kind = 1;
 *     ev.created_at = time(NULL);
 *     nb_event_set_content(&ev, text, len);
 *     NB_EVENT_TAG(&ev, "a", coord);
 *     NB_EVENT_TAG(&ev, "e", root, "", "root");
 *     nb_event_sign(&ev, &keys);
 *     nb_event_to_json(&buf, &ev);
 *     nb_event_dispose(&ev);
 */
#ifndef BRIDGE_EVENT_H
#define BRIDGE_EVENT_H

#include "bridge/buf.h"
#include "bridge/json.h"
#include "bridge/keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *p; /* NUL-terminated (the NUL is not counted) */
    size_t len;
} nb_str_t;

typedef struct {
    nb_str_t *items; /* items[0] is the tag name */
    uint32_t n;
} nb_tag_t;

typedef struct nb_arena_chunk nb_arena_chunk_t;

typedef struct {
    uint8_t id[32];
    uint8_t pubkey[32];
    uint8_t sig[64];
    int64_t created_at;
    uint32_t kind;
    nb_tag_t *tags;
    uint32_t ntags;
    uint32_t tags_cap;
    nb_str_t content;
    nb_arena_chunk_t *arena; /* private */
} nb_event_t;

/** Limits applied when parsing outside input. */
typedef struct {
    uint32_t max_tags;      /* tags per event */
    uint32_t max_tag_items; /* strings per tag */
    size_t max_content;     /* bytes of decoded content */
    size_t max_json;        /* bytes of the event's JSON text */
} nb_event_limits_t;

/** 2,000 tags, 64 items per tag, 256 KiB content, 512 KiB JSON. */
extern const nb_event_limits_t nb_event_default_limits;

/** An empty event (kind 0, created_at 0, no tags, empty content). */
void nb_event_init(nb_event_t *ev);
/** Free everything the event owns. */
void nb_event_dispose(nb_event_t *ev);

/** Copy p[0..len) into the event as its content. */
void nb_event_set_content(nb_event_t *ev, const char *p, size_t len);
/** Append a tag whose items are the NUL-terminated strings items[0..n) (copied). n >= 1. */
void nb_event_add_tag(nb_event_t *ev, const char *const *items, size_t n);
/** Append a tag from length-delimited strings (copied). n >= 1. */
void nb_event_add_tag_str(nb_event_t *ev, const nb_str_t *items, size_t n);
#define NB_EVENT_TAG(ev, ...)                                                                                \
    nb_event_add_tag((ev), (const char *const[]){__VA_ARGS__},                                               \
                     sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/** First tag named name whose index is >= *from (start with 0); advances *from past it. NULL at end. */
const nb_tag_t *nb_event_next_tag(const nb_event_t *ev, const char *name, uint32_t *from);
/** items[1] of the first tag named name that has one, or NULL. */
const nb_str_t *nb_event_tag_value(const nb_event_t *ev, const char *name);
/** True when the tag's name is name. */
bool nb_tag_is(const nb_tag_t *t, const char *name);
/** True when item i exists and equals s. */
bool nb_tag_item_eq(const nb_tag_t *t, uint32_t i, const char *s);

/**
 * Append the NIP-01 id preimage [0,"<pubkey>",<created_at>,<kind>,<tags>,"<content>"]
 * (no whitespace, NIP-01 string escaping) to out. 0 or NB_ETOOBIG.
 */
int nb_event_serialize(nb_buf_t *out, const nb_event_t *ev);
/** SHA-256 of the preimage. */
void nb_event_compute_id(const nb_event_t *ev, uint8_t id[32]);

/**
 * Set pubkey from keys, compute id, and sign it (BIP-340 with 32 fresh bytes from getrandom).
 * kind, created_at, tags and content must already be set. 0, NB_ERANDOM or NB_ECRYPTO.
 */
int nb_event_sign(nb_event_t *ev, const nb_keys_t *keys);

/**
 * Check the event: id recomputed and equal, pubkey a valid x-only key (NB_EPUBKEY),
 * signature valid for id (NB_EEVENT_SIG). 0, NB_EEVENT_ID, NB_EPUBKEY or NB_EEVENT_SIG.
 */
int nb_event_verify(const nb_event_t *ev);

/**
 * Parse one event from JSON text json[0..len) (the whole text is the event object). Strict:
 * exactly the seven NIP-01 fields with the right types (unknown extra fields are ignored,
 * duplicates rejected), id/pubkey/sig lowercase hex of the right length, kind 0..65535,
 * created_at a non-negative integer, tags an array of non-empty arrays of strings, limits
 * from lim (NULL = defaults). Does not verify: call nb_event_verify.
 * ev must be initialized; on error it is left empty. 0, NB_EJSON*, NB_EUTF8, NB_EEVENT, NB_ETOOBIG.
 */
int nb_event_parse(nb_event_t *ev, const char *json, size_t len, const nb_event_limits_t *lim);

/** Like nb_event_parse, but from an OBJECT token idx of an already tokenized document. */
int nb_event_from_tokens(nb_event_t *ev, const char *json, const nb_json_tok_t *toks, uint32_t idx,
                         const nb_event_limits_t *lim);

/** Append the event as wire JSON {"id","pubkey","created_at","kind","tags","content","sig"}. */
int nb_event_to_json(nb_buf_t *out, const nb_event_t *ev);

/** 64 lowercase hex digits + NUL of the event's id. */
void nb_event_id_hex(const nb_event_t *ev, char out[65]);

#endif
