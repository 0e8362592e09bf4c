/*
 * filter.c — NIP-01 subscription filters.
 *
 * The arrays keep insertion order, so a filter prints back the way it was built. Matching is a
 * linear scan: subscriptions here carry a handful of kinds, authors and tag values, and for
 * that size a scan over contiguous memory beats sorting plus binary search (and keeps
 * nb_filter_t free of a hidden index). The checks run cheapest first, since most events fail a
 * subscription on kind or time.
 */
#include "bridge/filter.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/mem.h"

#include <string.h>

/*
 * The struct stores counts but no capacities: the capacity is a function of the count
 * (0, then 4, 8, 16, …), so an array grows exactly when the count reaches a power of two >= 4.
 */
static size_t cap_for(uint32_t n)
{
    size_t cap = 4;
    if (n == 0) return 0;
    while (cap < n)
        cap *= 2;
    return cap;
}

static void *grow(void *arr, uint32_t n, size_t elem)
{
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) return nb_realloc(arr, (n == 0 ? 4 : (size_t)n * 2) * elem);
    return arr;
}

static void *dup_array(const void *src, uint32_t n, size_t elem)
{
    if (n == 0) return NULL;
    void *p = nb_malloc(cap_for(n) * elem);
    memcpy(p, src, (size_t)n * elem);
    return p;
}

static nb_str_t dup_str(const char *p, size_t len)
{
    char *d = nb_malloc(len + 1);
    if (len > 0) memcpy(d, p, len);
    d[len] = '\0';
    return (nb_str_t){d, len};
}

static bool is_tag_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void nb_filter_init(nb_filter_t *f)
{
    memset(f, 0, sizeof(*f));
    f->since = -1;
    f->until = -1;
    f->limit = -1;
}

void nb_filter_dispose(nb_filter_t *f)
{
    for (uint32_t i = 0; i < f->n_tags; i++) {
        for (uint32_t j = 0; j < f->tags[i].n; j++)
            nb_free((void *)f->tags[i].values[j].p);
        nb_free(f->tags[i].values);
    }
    nb_free(f->tags);
    nb_free(f->ids);
    nb_free(f->authors);
    nb_free(f->kinds);
    nb_filter_init(f);
}

void nb_filter_copy(nb_filter_t *dst, const nb_filter_t *src)
{
    *dst = *src;
    dst->ids = dup_array(src->ids, src->n_ids, sizeof(*src->ids));
    dst->authors = dup_array(src->authors, src->n_authors, sizeof(*src->authors));
    dst->kinds = dup_array(src->kinds, src->n_kinds, sizeof(*src->kinds));
    dst->tags = dup_array(src->tags, src->n_tags, sizeof(*src->tags));
    for (uint32_t i = 0; i < src->n_tags; i++) {
        const nb_filter_tag_t *st = &src->tags[i];
        dst->tags[i].values = dup_array(st->values, st->n, sizeof(*st->values));
        for (uint32_t j = 0; j < st->n; j++)
            dst->tags[i].values[j] = dup_str(st->values[j].p, st->values[j].len);
    }
}

void nb_filter_add_id(nb_filter_t *f, const uint8_t id[32])
{
    f->ids = grow(f->ids, f->n_ids, sizeof(*f->ids));
    memcpy(f->ids[f->n_ids++], id, 32);
}

void nb_filter_add_author(nb_filter_t *f, const uint8_t pubkey[32])
{
    f->authors = grow(f->authors, f->n_authors, sizeof(*f->authors));
    memcpy(f->authors[f->n_authors++], pubkey, 32);
}

void nb_filter_add_kind(nb_filter_t *f, uint32_t kind)
{
    f->kinds = grow(f->kinds, f->n_kinds, sizeof(*f->kinds));
    f->kinds[f->n_kinds++] = kind;
}

static nb_filter_tag_t *find_tag(const nb_filter_t *f, char letter)
{
    for (uint32_t i = 0; i < f->n_tags; i++)
        if (f->tags[i].letter == letter) return &f->tags[i];
    return NULL;
}

int nb_filter_add_tag(nb_filter_t *f, char letter, const char *value, size_t len)
{
    if (!is_tag_letter(letter)) return NB_EINVAL;
    nb_filter_tag_t *t = find_tag(f, letter);
    if (t == NULL) {
        f->tags = grow(f->tags, f->n_tags, sizeof(*f->tags));
        t = &f->tags[f->n_tags++];
        *t = (nb_filter_tag_t){.letter = letter};
    }
    t->values = grow(t->values, t->n, sizeof(*t->values));
    t->values[t->n++] = dup_str(value, len);
    return 0;
}

/* ---- matching ------------------------------------------------------------------------------- */

/*
 * Is key among set[0..n)? The first 8 bytes are compared as one word: ids and pubkeys are
 * hashes, so a mismatch almost always shows there and the full memcmp runs about once per hit.
 */
static bool has_key(const uint8_t (*set)[32], uint32_t n, const uint8_t key[32])
{
    uint64_t head, h;
    memcpy(&head, key, 8);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(&h, set[i], 8);
        if (h == head && memcmp(set[i] + 8, key + 8, 24) == 0) return true;
    }
    return false;
}

static bool tag_matches(const nb_filter_tag_t *cond, const nb_event_t *ev)
{
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const nb_tag_t *t = &ev->tags[i];
        /* NIP-01: "Only the first value in any given tag is indexed", i.e. items[1]. */
        if (t->n < 2 || t->items[0].len != 1 || t->items[0].p[0] != cond->letter) continue;
        const nb_str_t *v = &t->items[1];
        for (uint32_t j = 0; j < cond->n; j++)
            if (cond->values[j].len == v->len && memcmp(cond->values[j].p, v->p, v->len) == 0) return true;
    }
    return false;
}

bool nb_filter_matches(const nb_filter_t *f, const nb_event_t *ev)
{
    /* NIP-01: "an event matches a filter if since <= created_at <= until holds." */
    if (f->since >= 0 && ev->created_at < f->since) return false;
    if (f->until >= 0 && ev->created_at > f->until) return false;

    /*
     * NIP-01: "At least one of the arrays' values must match the relevant field in an event for
     * the condition to be considered a match", and "multiple conditions are interpreted as &&
     * conditions". An empty array is an absent condition (the parser never produces one).
     */
    if (f->n_kinds > 0) {
        uint32_t i = 0;
        while (i < f->n_kinds && f->kinds[i] != ev->kind)
            i++;
        if (i == f->n_kinds) return false;
    }
    if (f->n_authors > 0 && !has_key((const uint8_t(*)[32])f->authors, f->n_authors, ev->pubkey))
        return false;
    if (f->n_ids > 0 && !has_key((const uint8_t(*)[32])f->ids, f->n_ids, ev->id)) return false;
    for (uint32_t i = 0; i < f->n_tags; i++)
        if (f->tags[i].n > 0 && !tag_matches(&f->tags[i], ev)) return false;
    /* NIP-01: "The limit property of a filter is only valid for the initial query and MUST be
     * ignored afterwards." */
    return true;
}

/* ---- printing ------------------------------------------------------------------------------- */

static int put_keys(nb_buf_t *out, const char *name, const uint8_t (*keys)[32], uint32_t n, bool *first)
{
    int r = nb_buf_appendf(out, "%s\"%s\":[", *first ? "" : ",", name);
    *first = false;
    for (uint32_t i = 0; r == 0 && i < n; i++) {
        char hex[65];
        nb_hex_encode(hex, keys[i], 32);
        r = nb_buf_appendf(out, "%s\"%s\"", i ? "," : "", hex);
    }
    return r != 0 ? r : nb_buf_appendc(out, ']');
}

static int put_int(nb_buf_t *out, const char *name, int64_t v, bool *first)
{
    int r = nb_buf_appendf(out, "%s\"%s\":%lld", *first ? "" : ",", name, (long long)v);
    *first = false;
    return r;
}

int nb_filter_to_json(nb_buf_t *out, const nb_filter_t *f)
{
    size_t start = out->len;
    bool first = true;
    int r = nb_buf_appendc(out, '{');
    if (r == 0 && f->n_ids > 0) r = put_keys(out, "ids", (const uint8_t(*)[32])f->ids, f->n_ids, &first);
    if (r == 0 && f->n_authors > 0)
        r = put_keys(out, "authors", (const uint8_t(*)[32])f->authors, f->n_authors, &first);
    if (r == 0 && f->n_kinds > 0) {
        r = nb_buf_appendf(out, "%s\"kinds\":[", first ? "" : ",");
        first = false;
        for (uint32_t i = 0; r == 0 && i < f->n_kinds; i++)
            r = nb_buf_appendf(out, "%s%u", i ? "," : "", (unsigned)f->kinds[i]);
        if (r == 0) r = nb_buf_appendc(out, ']');
    }
    for (uint32_t i = 0; r == 0 && i < f->n_tags; i++) {
        const nb_filter_tag_t *t = &f->tags[i];
        if (t->n == 0) continue;
        r = nb_buf_appendf(out, "%s\"#%c\":[", first ? "" : ",", t->letter);
        first = false;
        for (uint32_t j = 0; r == 0 && j < t->n; j++) {
            if (j > 0) r = nb_buf_appendc(out, ',');
            if (r == 0) r = nb_json_write_string(out, t->values[j].p, t->values[j].len);
        }
        if (r == 0) r = nb_buf_appendc(out, ']');
    }
    if (r == 0 && f->since >= 0) r = put_int(out, "since", f->since, &first);
    if (r == 0 && f->until >= 0) r = put_int(out, "until", f->until, &first);
    if (r == 0 && f->limit >= 0) r = put_int(out, "limit", f->limit, &first);
    if (r == 0) r = nb_buf_appendc(out, '}');
    if (r != 0 && out->data != NULL) {
        /* Never leave half an object behind: the caller may retry with a larger buffer. */
        out->len = start;
        out->data[start] = '\0';
    }
    return r;
}

/* ---- parsing -------------------------------------------------------------------------------- */

/* Bits of the "seen" mask that rejects duplicate keys: fields, then one per tag letter. */
enum { SEEN_IDS, SEEN_AUTHORS, SEEN_KINDS, SEEN_SINCE, SEEN_UNTIL, SEEN_LIMIT, SEEN_TAG0 };

static int seen_bit(uint64_t *seen, unsigned bit)
{
    if (*seen & ((uint64_t)1 << bit)) return NB_EFILTER;
    *seen |= (uint64_t)1 << bit;
    return 0;
}

/*
 * NIP-01: "Filter attributes containing lists (ids, authors, kinds and tag filters like #e) are
 * JSON arrays with one or more values." An empty list cannot be represented here (n == 0 means
 * "absent" and matches everything), so it is refused rather than silently widened.
 */
static int check_list(const nb_json_tok_t *t)
{
    return t->type == NB_JSON_ARRAY && t->size > 0 ? 0 : NB_EFILTER;
}

/* NIP-01: "The ids, authors, #e and #p filter fields MUST contain exact 64-character lowercase
 * hex values." ids and authors are stored as bytes, so anything else cannot be kept anyway. */
static int parse_key(uint8_t key[32], const char *json, const nb_json_tok_t *t)
{
    char hex[65];
    size_t len;
    if (t->type != NB_JSON_STRING || nb_json_string_to(hex, sizeof(hex), &len, json, t) != 0)
        return NB_EFILTER;
    if (len != 64 || !nb_hex_is_lower(hex, len) || nb_hex_decode(key, 32, hex, len) != 0) return NB_EFILTER;
    return 0;
}

static int parse_keys(nb_filter_t *f, bool authors, const char *json, const nb_json_tok_t *toks, uint32_t idx)
{
    if (check_list(&toks[idx]) != 0) return NB_EFILTER;
    uint32_t e = idx + 1;
    for (uint32_t i = 0; i < toks[idx].size; i++, e = toks[e].next) {
        uint8_t key[32];
        if (parse_key(key, json, &toks[e]) != 0) return NB_EFILTER;
        if (authors)
            nb_filter_add_author(f, key);
        else
            nb_filter_add_id(f, key);
    }
    return 0;
}

static int parse_kinds(nb_filter_t *f, const char *json, const nb_json_tok_t *toks, uint32_t idx)
{
    if (check_list(&toks[idx]) != 0) return NB_EFILTER;
    uint32_t e = idx + 1;
    for (uint32_t i = 0; i < toks[idx].size; i++, e = toks[e].next) {
        int64_t k;
        if (toks[e].type != NB_JSON_NUMBER || nb_json_int64(json, &toks[e], &k) != 0 || k < 0 || k > 65535)
            return NB_EFILTER;
        nb_filter_add_kind(f, (uint32_t)k);
    }
    return 0;
}

static int parse_tag(nb_filter_t *f, char letter, const char *json, const nb_json_tok_t *toks, uint32_t idx)
{
    if (check_list(&toks[idx]) != 0) return NB_EFILTER;
    /*
     * NIP-01 wants #e and #p values to be 64-character lowercase hex too, but the contract here is
     * "arrays of strings": values are compared as exact strings, so a malformed one can only
     * match nothing, and a test relay built on this parser stays as lenient as common relays.
     */
    int r = 0;
    nb_buf_t v;
    /* A value can never be longer than its raw JSON text, which the caller already bounded. */
    nb_buf_init(&v, toks[idx].len);
    uint32_t e = idx + 1;
    for (uint32_t i = 0; i < toks[idx].size; i++, e = toks[e].next) {
        if (toks[e].type != NB_JSON_STRING) {
            r = NB_EFILTER;
            goto out;
        }
        nb_buf_reset(&v);
        if ((r = nb_json_string(&v, json, &toks[e])) != 0) {
            r = NB_EFILTER;
            goto out;
        }
        nb_filter_add_tag(f, letter, v.data != NULL ? v.data : "", v.len);
    }
out:
    nb_buf_dispose(&v);
    return r;
}

static int parse_nonneg(int64_t *out, const char *json, const nb_json_tok_t *t)
{
    if (t->type != NB_JSON_NUMBER || nb_json_int64(json, t, out) != 0 || *out < 0) return NB_EFILTER;
    return 0;
}

/* The seen-bit of a known key, or -1 for a key to ignore. */
static int key_bit(const char *name, size_t len)
{
    static const char *const fields[] = {"ids", "authors", "kinds", "since", "until", "limit"};
    for (int i = 0; i < SEEN_TAG0; i++)
        if (strcmp(name, fields[i]) == 0) return i;
    if (len == 2 && name[0] == '#' && is_tag_letter(name[1]))
        return SEEN_TAG0 + (name[1] >= 'a' ? name[1] - 'a' : 26 + name[1] - 'A');
    /* Anything else (other attributes, "#" with more than one letter) is ignored, as relays do
     * with filter attributes they do not know. */
    return -1;
}

int nb_filter_from_tokens(nb_filter_t *f, const char *json, const nb_json_tok_t *toks, uint32_t idx)
{
    const nb_json_tok_t *obj = &toks[idx];
    uint64_t seen = 0;
    int r = 0;

    if (obj->type != NB_JSON_OBJECT) {
        r = NB_EFILTER;
        goto out;
    }
    uint32_t k = idx + 1;
    for (uint32_t i = 0; i < obj->size && r == 0; i++, k = toks[k + 1].next) {
        uint32_t val = k + 1;
        char name[8];
        size_t len;
        /* Every key we know is shorter than 8 bytes: a longer one is unknown. A decoded NUL
         * ("ids\u0000") makes a key unknown too. */
        if (nb_json_string_to(name, sizeof(name), &len, json, &toks[k]) != 0 || strlen(name) != len) continue;
        int bit = key_bit(name, len);
        if (bit < 0) continue;
        if ((r = seen_bit(&seen, (unsigned)bit)) != 0) break;
        switch (bit) {
        case SEEN_IDS:
        case SEEN_AUTHORS:
            r = parse_keys(f, bit == SEEN_AUTHORS, json, toks, val);
            break;
        case SEEN_KINDS:
            r = parse_kinds(f, json, toks, val);
            break;
        case SEEN_SINCE:
            r = parse_nonneg(&f->since, json, &toks[val]);
            break;
        case SEEN_UNTIL:
            r = parse_nonneg(&f->until, json, &toks[val]);
            break;
        case SEEN_LIMIT:
            r = parse_nonneg(&f->limit, json, &toks[val]);
            break;
        default:
            r = parse_tag(f, name[1], json, toks, val);
            break;
        }
    }
out:
    if (r != 0) {
        /* Leave nothing half-parsed behind: the caller sees an empty filter. */
        nb_filter_dispose(f);
        r = NB_EFILTER;
    }
    return r;
}
