/*
 * tenex_tags.c — tag conventions shared by every TENEX era (see the header).
 */
#include "bridge/tenex_tags.h"

#include "bridge/hex.h"

#include <stdlib.h>
#include <string.h>

bool nb_tenex_tag_hex32(const nb_tag_t *t, uint32_t i, uint8_t out[32])
{
    return i < t->n && t->items[i].len == 64 && nb_hex_decode(out, 32, t->items[i].p, 64) == 0;
}

static bool marked(const nb_tag_t *t, const char *marker)
{
    return t->n >= 4 && strcmp(t->items[3].p, marker) == 0;
}

static bool unmarked(const nb_tag_t *t)
{
    return t->n < 4 || t->items[3].len == 0;
}

bool nb_tenex_root(const nb_event_t *ev, uint8_t out[32])
{
    bool legacy = ev->kind == NB_KIND_LEGACY_REPLY || ev->kind == NB_KIND_LEGACY_CHUNK;
    const nb_tag_t *first_unmarked = NULL, *upper = NULL;
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const nb_tag_t *t = &ev->tags[i];
        if (t->n < 2) continue;
        if (nb_tag_is(t, "e")) {
            if (!legacy && marked(t, "root")) return nb_tenex_tag_hex32(t, 1, out);
            if (first_unmarked == NULL && unmarked(t)) first_unmarked = t;
        } else if (upper == NULL && nb_tag_is(t, "E")) {
            upper = t;
        }
    }
    if (legacy) return upper != NULL && nb_tenex_tag_hex32(upper, 1, out);
    if (first_unmarked != NULL) return nb_tenex_tag_hex32(first_unmarked, 1, out);
    return upper != NULL && nb_tenex_tag_hex32(upper, 1, out);
}

bool nb_tenex_reply(const nb_event_t *ev, uint8_t out[32])
{
    for (uint32_t i = 0; i < ev->ntags; i++)
        if (nb_tag_is(&ev->tags[i], "e") && marked(&ev->tags[i], "reply"))
            return nb_tenex_tag_hex32(&ev->tags[i], 1, out);
    return false;
}

bool nb_tenex_unmarked_e(const nb_event_t *ev, uint8_t out[32])
{
    for (uint32_t i = 0; i < ev->ntags; i++)
        if (nb_tag_is(&ev->tags[i], "e") && ev->tags[i].n >= 2 && unmarked(&ev->tags[i]))
            return nb_tenex_tag_hex32(&ev->tags[i], 1, out);
    return false;
}

bool nb_tenex_has_pubkey_tag(const nb_event_t *ev, const char *name, const uint8_t pk[32])
{
    uint8_t v[32];
    for (uint32_t i = 0; i < ev->ntags; i++)
        if (nb_tag_is(&ev->tags[i], name) && nb_tenex_tag_hex32(&ev->tags[i], 1, v) && memcmp(v, pk, 32) == 0)
            return true;
    return false;
}

bool nb_tenex_tag_int(const nb_event_t *ev, const char *name, int64_t *out)
{
    const nb_str_t *v = nb_event_tag_value(ev, name);
    if (v == NULL || v->len == 0 || v->len > 18) return false;
    int64_t x = 0;
    size_t i = 0;
    bool neg = v->p[0] == '-';
    if (neg) i = 1;
    if (i == v->len) return false;
    for (; i < v->len; i++) {
        if (v->p[i] < '0' || v->p[i] > '9') return false;
        x = x * 10 + (v->p[i] - '0');
    }
    *out = neg ? -x : x;
    return true;
}

bool nb_tenex_has_tag(const nb_event_t *ev, const char *name, const char *value)
{
    for (uint32_t i = 0; i < ev->ntags; i++) {
        const nb_tag_t *t = &ev->tags[i];
        if (nb_tag_is(t, name) && (value == NULL || nb_tag_item_eq(t, 1, value))) return true;
    }
    return false;
}
