/*
 * event.c — NIP-01 events: arena-owned strings and tags, the id preimage serializer, BIP-340
 * signing and verification, and the strict wire parser.
 *
 * Memory: every string, tag array and item array of an event lives in its arena, a list of
 * chunks freed together by nb_event_dispose. The parser measures everything first and makes one
 * chunk of exactly the right size, so a parsed event costs one malloc.
 */
#include "bridge/event.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/mem.h"

#include <assert.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <secp256k1_schnorrsig.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const nb_event_limits_t nb_event_default_limits = {
    .max_tags = 2000,
    .max_tag_items = 64,
    .max_content = 256 * 1024,
    .max_json = 512 * 1024,
};

/* JavaScript clients cannot represent a larger created_at exactly (Number.MAX_SAFE_INTEGER). */
#define MAX_CREATED_AT ((INT64_C(1) << 53) - 1)

/* Tokens kept on the stack by nb_event_parse: an event with ~80 two-item tags still fits. */
#define STACK_TOKENS 256

/* ---- arena ------------------------------------------------------------------------------------ */

struct nb_arena_chunk {
    nb_arena_chunk_t *next;
    size_t cap;  /* bytes in data */
    size_t used; /* always a multiple of ARENA_ALIGN */
    max_align_t data[];
};

/* Every allocation is rounded to this, so a size computed in advance needs no padding slack. */
#define ARENA_ALIGN sizeof(void *)
static_assert(alignof(nb_tag_t) <= ARENA_ALIGN && alignof(nb_str_t) <= ARENA_ALIGN, "arena alignment");

#define ARENA_MIN_CHUNK 512
#define ARENA_MAX_GROWTH (64 * 1024)

static size_t arena_round(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

/* Start a chunk of at least cap bytes. */
static void arena_add_chunk(nb_event_t *ev, size_t cap)
{
    nb_arena_chunk_t *c = nb_malloc(sizeof *c + cap);
    c->next = ev->arena;
    c->cap = cap;
    c->used = 0;
    ev->arena = c;
}

static void *arena_alloc(nb_event_t *ev, size_t n)
{
    n = arena_round(n);
    nb_arena_chunk_t *c = ev->arena;
    if (c == NULL || c->cap - c->used < n) {
        /* Doubling keeps a builder that adds many tags at O(n) copies, capped so one big string
           does not make every later chunk big. */
        size_t cap = c != NULL ? c->cap * 2 : ARENA_MIN_CHUNK;
        if (cap > ARENA_MAX_GROWTH) cap = ARENA_MAX_GROWTH;
        if (cap < n) cap = n;
        arena_add_chunk(ev, cap);
        c = ev->arena;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

static nb_str_t arena_str(nb_event_t *ev, const char *p, size_t len)
{
    char *d = arena_alloc(ev, len + 1);
    if (len > 0) memcpy(d, p, len);
    d[len] = '\0';
    return (nb_str_t){d, len};
}

/* ---- building --------------------------------------------------------------------------------- */

void nb_event_init(nb_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->content.p = "";
}

void nb_event_dispose(nb_event_t *ev)
{
    nb_arena_chunk_t *c = ev->arena;
    while (c != NULL) {
        nb_arena_chunk_t *next = c->next;
        nb_free(c);
        c = next;
    }
    nb_event_init(ev);
}

void nb_event_set_content(nb_event_t *ev, const char *p, size_t len)
{
    ev->content = arena_str(ev, p, len);
}

/* Append an empty tag of n items and return its item array. */
static nb_str_t *push_tag(nb_event_t *ev, size_t n)
{
    assert(n >= 1 && n <= UINT32_MAX);
    if (ev->ntags == ev->tags_cap) {
        uint32_t cap = ev->tags_cap ? ev->tags_cap * 2 : 8;
        nb_tag_t *tags = arena_alloc(ev, cap * sizeof *tags);
        if (ev->ntags > 0) memcpy(tags, ev->tags, ev->ntags * sizeof *tags);
        ev->tags = tags; /* the old array stays in the arena until dispose */
        ev->tags_cap = cap;
    }
    nb_str_t *items = arena_alloc(ev, n * sizeof *items);
    ev->tags[ev->ntags++] = (nb_tag_t){items, (uint32_t)n};
    return items;
}

void nb_event_add_tag(nb_event_t *ev, const char *const *items, size_t n)
{
    nb_str_t *it = push_tag(ev, n);
    for (size_t i = 0; i < n; i++)
        it[i] = arena_str(ev, items[i], strlen(items[i]));
}

void nb_event_add_tag_str(nb_event_t *ev, const nb_str_t *items, size_t n)
{
    nb_str_t *it = push_tag(ev, n);
    for (size_t i = 0; i < n; i++)
        it[i] = arena_str(ev, items[i].p, items[i].len);
}

/* ---- tags ------------------------------------------------------------------------------------- */

static bool str_is(const nb_str_t *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->len == n && memcmp(s->p, lit, n) == 0;
}

bool nb_tag_is(const nb_tag_t *t, const char *name)
{
    return t->n >= 1 && str_is(&t->items[0], name);
}

bool nb_tag_item_eq(const nb_tag_t *t, uint32_t i, const char *s)
{
    return i < t->n && str_is(&t->items[i], s);
}

const nb_tag_t *nb_event_next_tag(const nb_event_t *ev, const char *name, uint32_t *from)
{
    for (uint32_t i = *from; i < ev->ntags; i++) {
        if (nb_tag_is(&ev->tags[i], name)) {
            *from = i + 1;
            return &ev->tags[i];
        }
    }
    *from = ev->ntags;
    return NULL;
}

const nb_str_t *nb_event_tag_value(const nb_event_t *ev, const char *name)
{
    for (uint32_t i = 0; i < ev->ntags; i++)
        if (ev->tags[i].n >= 2 && nb_tag_is(&ev->tags[i], name)) return &ev->tags[i].items[1];
    return NULL;
}

/* ---- serialization ---------------------------------------------------------------------------- */

static int append_hex_string(nb_buf_t *out, const uint8_t *bytes, size_t n)
{
    char hex[2 * 64 + 3];
    assert(n <= 64);
    hex[0] = '"';
    nb_hex_encode(hex + 1, bytes, n);
    hex[2 * n + 1] = '"';
    return nb_buf_append(out, hex, 2 * n + 2);
}

static int append_tags(nb_buf_t *out, const nb_event_t *ev)
{
    int r = nb_buf_appendc(out, '[');
    for (uint32_t i = 0; i < ev->ntags && r == 0; i++) {
        const nb_tag_t *t = &ev->tags[i];
        r = nb_buf_append(out, i > 0 ? ",[" : "[", i > 0 ? 2 : 1);
        for (uint32_t j = 0; j < t->n && r == 0; j++) {
            if (j > 0) r = nb_buf_appendc(out, ',');
            if (r == 0) r = nb_json_write_string(out, t->items[j].p, t->items[j].len);
        }
        if (r == 0) r = nb_buf_appendc(out, ']');
    }
    if (r == 0) r = nb_buf_appendc(out, ']');
    return r;
}

/* On failure, drop whatever part was appended: the buffer is either extended or unchanged. */
static int truncate_on_error(nb_buf_t *out, size_t len0, int r)
{
    if (r != 0 && out->data != NULL) {
        out->len = len0;
        out->data[len0] = '\0';
    }
    return r;
}

int nb_event_serialize(nb_buf_t *out, const nb_event_t *ev)
{
    size_t len0 = out->len;
    int r = nb_buf_append(out, "[0,", 3);
    if (r == 0) r = append_hex_string(out, ev->pubkey, 32);
    if (r == 0) r = nb_buf_appendc(out, ',');
    if (r == 0) r = nb_buf_append_int(out, ev->created_at);
    if (r == 0) r = nb_buf_appendc(out, ',');
    if (r == 0) r = nb_buf_append_int(out, ev->kind);
    if (r == 0) r = nb_buf_appendc(out, ',');
    if (r == 0) r = append_tags(out, ev);
    if (r == 0) r = nb_buf_appendc(out, ',');
    if (r == 0) r = nb_json_write_string(out, ev->content.p, ev->content.len);
    if (r == 0) r = nb_buf_appendc(out, ']');
    return truncate_on_error(out, len0, r);
}

int nb_event_to_json(nb_buf_t *out, const nb_event_t *ev)
{
    size_t len0 = out->len;
    int r = nb_buf_append(out, "{\"id\":", 6);
    if (r == 0) r = append_hex_string(out, ev->id, 32);
    if (r == 0) r = nb_buf_appends(out, ",\"pubkey\":");
    if (r == 0) r = append_hex_string(out, ev->pubkey, 32);
    if (r == 0) r = nb_buf_appends(out, ",\"created_at\":");
    if (r == 0) r = nb_buf_append_int(out, ev->created_at);
    if (r == 0) r = nb_buf_appends(out, ",\"kind\":");
    if (r == 0) r = nb_buf_append_int(out, ev->kind);
    if (r == 0) r = nb_buf_appends(out, ",\"tags\":");
    if (r == 0) r = append_tags(out, ev);
    if (r == 0) r = nb_buf_appends(out, ",\"content\":");
    if (r == 0) r = nb_json_write_string(out, ev->content.p, ev->content.len);
    if (r == 0) r = nb_buf_appends(out, ",\"sig\":");
    if (r == 0) r = append_hex_string(out, ev->sig, 64);
    if (r == 0) r = nb_buf_appendc(out, '}');
    return truncate_on_error(out, len0, r);
}

void nb_event_id_hex(const nb_event_t *ev, char out[65])
{
    nb_hex_encode(out, ev->id, 32);
}

/* ---- id, sign, verify ------------------------------------------------------------------------- */

/*
 * OpenSSL 3 looks the algorithm up by name on every EVP_sha256()/SHA256() call unless it is
 * fetched once; that lookup cost ~40% of hashing a typical event here, so fetch it once.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void on_sha256_once(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, on_sha256_once);
    return sha256_md != NULL ? (const EVP_MD *)sha256_md : EVP_sha256();
}

void nb_event_compute_id(const nb_event_t *ev, uint8_t id[32])
{
    /* One buffer sized for the usual case and one digest call: measured faster than feeding
       EVP_DigestUpdate piece by piece (each update costs more than copying the piece). */
    size_t guess = 200 + ev->content.len;
    for (uint32_t i = 0; i < ev->ntags; i++)
        for (uint32_t j = 0; j < ev->tags[i].n; j++)
            guess += ev->tags[i].items[j].len + 4;
    nb_buf_t b;
    nb_buf_init(&b, SIZE_MAX);
    unsigned int n = 0;
    if (nb_buf_reserve(&b, guess) != 0 || nb_event_serialize(&b, ev) != 0 ||
        EVP_Digest(b.data, b.len, id, &n, sha256(), NULL) != 1 || n != 32) {
        /* Cannot happen short of a broken libcrypto; like running out of memory, stop. */
        fprintf(stderr, "bridge: SHA-256 failed\n");
        abort();
    }
    nb_buf_dispose(&b);
}

int nb_event_sign(nb_event_t *ev, const nb_keys_t *keys)
{
    uint8_t aux[32];
    memcpy(ev->pubkey, keys->pubkey, 32);
    nb_event_compute_id(ev, ev->id);
    int r = nb_random_bytes(aux, sizeof aux);
    if (r != 0) goto out;
    if (secp256k1_schnorrsig_sign32(nb_secp_ctx(), ev->sig, ev->id, &keys->keypair, aux) != 1) r = NB_ECRYPTO;
out:
    if (r != 0) memset(ev->sig, 0, sizeof ev->sig);
    nb_memwipe(aux, sizeof aux);
    return r;
}

/*
 * Parsing an x-only key takes a square root, about 15% of a whole verification. The events on
 * the hot path come from a handful of authors (a project's agents and backend), so the last
 * parsed keys are kept, direct-mapped by their first bytes (uniformly random for real keys; a
 * hostile author can only evict, never alias: the whole key is compared). Per thread, so no lock.
 */
#define PUBKEY_CACHE_SLOTS 64

typedef struct {
    uint8_t key[32];
    secp256k1_xonly_pubkey parsed; /* documented as safe to copy */
    bool used;
} pubkey_slot_t;

static _Thread_local pubkey_slot_t pubkey_cache[PUBKEY_CACHE_SLOTS];

static bool parse_pubkey(const secp256k1_context *ctx, secp256k1_xonly_pubkey *pk, const uint8_t key[32])
{
    pubkey_slot_t *slot = &pubkey_cache[(key[0] | (unsigned)key[1] << 8) % PUBKEY_CACHE_SLOTS];
    if (slot->used && memcmp(slot->key, key, 32) == 0) {
        *pk = slot->parsed;
        return true;
    }
    if (secp256k1_xonly_pubkey_parse(ctx, pk, key) != 1)
        return false; /* invalid keys are not cached: they are rare and must keep failing */
    memcpy(slot->key, key, 32);
    slot->parsed = *pk;
    slot->used = true;
    return true;
}

int nb_event_verify(const nb_event_t *ev)
{
    uint8_t id[32];
    nb_event_compute_id(ev, id);
    if (memcmp(id, ev->id, sizeof id) != 0) return NB_EEVENT_ID;
    const secp256k1_context *ctx = nb_secp_ctx();
    secp256k1_xonly_pubkey pk;
    if (!parse_pubkey(ctx, &pk, ev->pubkey)) return NB_EPUBKEY;
    if (secp256k1_schnorrsig_verify(ctx, ev->sig, ev->id, sizeof ev->id, &pk) != 1) return NB_EEVENT_SIG;
    return 0;
}

/* ---- parsing ---------------------------------------------------------------------------------- */

enum { F_ID, F_PUBKEY, F_CREATED_AT, F_KIND, F_TAGS, F_CONTENT, F_SIG, F_COUNT };

static const char *const field_names[F_COUNT] = {"id",   "pubkey",  "created_at", "kind",
                                                 "tags", "content", "sig"};

/* Which NIP-01 field key token k names, or -1 for an unknown key. */
static int field_of(const char *s, const nb_json_tok_t *k)
{
    if (!k->has_escapes) {
        /* The usual case: dispatch on length, one memcmp. */
        const char *p = s + k->start;
        int f;
        switch (k->len) {
        case 2:
            f = F_ID;
            break;
        case 3:
            f = F_SIG;
            break;
        case 4:
            f = p[0] == 'k' ? F_KIND : F_TAGS;
            break;
        case 6:
            f = F_PUBKEY;
            break;
        case 7:
            f = F_CONTENT;
            break;
        case 10:
            f = F_CREATED_AT;
            break;
        default:
            return -1;
        }
        return memcmp(p, field_names[f], k->len) == 0 ? f : -1;
    }
    for (int f = 0; f < F_COUNT; f++)
        if (nb_json_str_eq(s, k, field_names[f])) return f;
    return -1;
}

/* A string token holding exactly 2*n lowercase hex digits, decoded into out. */
static int parse_hex(uint8_t *out, size_t n, const char *s, const nb_json_tok_t *t)
{
    if (t->type != NB_JSON_STRING) return NB_EEVENT;
    const char *p = s + t->start;
    size_t len = t->len;
    char tmp[2 * 64 + 1];
    if (t->has_escapes) {
        /* Unusual but valid JSON ("\u0061…"): judge the decoded text. */
        if (nb_json_string_to(tmp, sizeof tmp, &len, s, t) != 0) return NB_EEVENT;
        p = tmp;
    }
    if (len != 2 * n || nb_hex_decode_lower(out, n, p, len) != 0) return NB_EEVENT;
    return 0;
}

static int parse_int(int64_t *out, int64_t max, const char *s, const nb_json_tok_t *t)
{
    if (t->type != NB_JSON_NUMBER || nb_json_int64(s, t, out) != 0 || *out < 0 || *out > max)
        return NB_EEVENT;
    return 0;
}

/* Copy the string token t into the arena, decoded. raw length >= decoded length. */
static nb_str_t arena_json_str(nb_event_t *ev, const char *s, const nb_json_tok_t *t)
{
    if (!t->has_escapes) return arena_str(ev, s + t->start, t->len);
    char *d = arena_alloc(ev, (size_t)t->len + 1);
    size_t n = 0;
    int r = nb_json_string_to(d, (size_t)t->len + 1, &n, s, t);
    assert(r == 0);
    (void)r;
    return (nb_str_t){d, n};
}

static int from_tokens(nb_event_t *ev, const char *s, const nb_json_tok_t *toks, uint32_t idx,
                       const nb_event_limits_t *lim)
{
    const nb_json_tok_t *obj = &toks[idx];
    if (obj->type != NB_JSON_OBJECT) return NB_EEVENT;
    if (obj->len > lim->max_json) return NB_ETOOBIG;

    uint32_t val[F_COUNT] = {0};
    unsigned seen = 0;
    uint32_t k = idx + 1;
    for (uint32_t i = 0; i < obj->size; i++) {
        int f = field_of(s, &toks[k]);
        if (f >= 0) {
            if (seen & (1u << f))
                return NB_EEVENT; /* a second "id" could smuggle a different event past a check */
            seen |= 1u << f;
            val[f] = k + 1;
        }
        k = toks[k + 1].next;
    }
    if (seen != (1u << F_COUNT) - 1) return NB_EEVENT;

    int r;
    int64_t v;
    if ((r = parse_hex(ev->id, 32, s, &toks[val[F_ID]])) != 0 ||
        (r = parse_hex(ev->pubkey, 32, s, &toks[val[F_PUBKEY]])) != 0 ||
        (r = parse_hex(ev->sig, 64, s, &toks[val[F_SIG]])) != 0)
        return r;
    if ((r = parse_int(&v, 65535, s, &toks[val[F_KIND]])) != 0) return r;
    ev->kind = (uint32_t)v;
    if ((r = parse_int(&v, MAX_CREATED_AT, s, &toks[val[F_CREATED_AT]])) != 0) return r;
    ev->created_at = v;

    /* Validate tags and content and add up the arena they need, before allocating anything. */
    const nb_json_tok_t *tags = &toks[val[F_TAGS]];
    if (tags->type != NB_JSON_ARRAY) return NB_EEVENT;
    if (tags->size > lim->max_tags) return NB_ETOOBIG;
    size_t need = arena_round((size_t)tags->size * sizeof(nb_tag_t));
    uint32_t t = val[F_TAGS] + 1;
    for (uint32_t i = 0; i < tags->size; i++) {
        const nb_json_tok_t *tag = &toks[t];
        if (tag->type != NB_JSON_ARRAY || tag->size == 0) return NB_EEVENT;
        if (tag->size > lim->max_tag_items) return NB_ETOOBIG;
        need += arena_round((size_t)tag->size * sizeof(nb_str_t));
        for (uint32_t j = 1; j <= tag->size; j++) {
            if (toks[t + j].type != NB_JSON_STRING)
                return NB_EEVENT; /* strings are leaves, so items are consecutive tokens */
            need += arena_round((size_t)toks[t + j].len + 1);
        }
        t = tag->next;
    }
    const nb_json_tok_t *content = &toks[val[F_CONTENT]];
    if (content->type != NB_JSON_STRING) return NB_EEVENT;
    if (content->len > lim->max_content && nb_json_string_len(s, content) > lim->max_content)
        return NB_ETOOBIG;
    need += arena_round((size_t)content->len + 1);

    arena_add_chunk(ev, need);
    ev->content = arena_json_str(ev, s, content);
    if (tags->size > 0) {
        ev->tags = arena_alloc(ev, (size_t)tags->size * sizeof(nb_tag_t));
        ev->tags_cap = tags->size;
    }
    t = val[F_TAGS] + 1;
    for (uint32_t i = 0; i < tags->size; i++) {
        const nb_json_tok_t *tag = &toks[t];
        nb_str_t *items = arena_alloc(ev, (size_t)tag->size * sizeof *items);
        for (uint32_t j = 0; j < tag->size; j++)
            items[j] = arena_json_str(ev, s, &toks[t + 1 + j]);
        ev->tags[ev->ntags++] = (nb_tag_t){items, tag->size};
        t = tag->next;
    }
    assert(ev->arena->next == NULL && ev->arena->used <= ev->arena->cap);
    return 0;
}

int nb_event_from_tokens(nb_event_t *ev, const char *json, const nb_json_tok_t *toks, uint32_t idx,
                         const nb_event_limits_t *lim)
{
    nb_event_dispose(ev);
    int r = from_tokens(ev, json, toks, idx, lim != NULL ? lim : &nb_event_default_limits);
    if (r != 0) nb_event_dispose(ev); /* leave it empty, as documented */
    return r;
}

int nb_event_parse(nb_event_t *ev, const char *json, size_t len, const nb_event_limits_t *lim)
{
    if (lim == NULL) lim = &nb_event_default_limits;
    nb_event_dispose(ev);
    if (len > lim->max_json || len > UINT32_MAX) return NB_ETOOBIG;

    /* Real events have a few dozen tokens whatever their size (content is one token), so try
       the stack first; only a tag-heavy event pays for a heap array and a second pass. Every
       token takes at least two bytes of text but the root, so (len + 1) / 2 + 1 always fits. */
    nb_json_tok_t stack_toks[STACK_TOKENS];
    nb_json_tok_t *toks = stack_toks;
    size_t ntoks;
    int r = nb_json_parse(toks, STACK_TOKENS, &ntoks, json, len);
    if (r == NB_ETOOBIG) {
        size_t cap = (len + 1) / 2 + 1;
        toks = nb_malloc(cap * sizeof *toks);
        r = nb_json_parse(toks, cap, &ntoks, json, len);
    }
    if (r == 0) r = nb_event_from_tokens(ev, json, toks, 0, lim);
    if (toks != stack_toks) nb_free(toks);
    return r;
}
