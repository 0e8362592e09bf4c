#include "dedup.h"

#include "bridge/mem.h"

#include <assert.h>
#include <string.h>

/* Event ids are SHA-256 outputs, so their bytes are already uniform; mixing in the tag keeps
 * one event delivered to many subscriptions from clustering. */
static size_t hash(const uint8_t id[32], uint64_t tag)
{
    uint64_t h;
    memcpy(&h, id, sizeof h);
    h ^= tag * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return (size_t)h;
}

static bool same(const nb_dedup_entry_t *e, const uint8_t id[32], uint64_t tag)
{
    return e->tag == tag && memcmp(e->id, id, 32) == 0;
}

void nb_dedup_init(nb_dedup_t *d, size_t capacity)
{
    assert(capacity >= 1 && capacity <= ((size_t)1 << 30));
    size_t n = 4;
    while (n < capacity * 2)
        n <<= 1;
    d->ring = nb_calloc(capacity, sizeof *d->ring);
    d->index = nb_calloc(n, sizeof *d->index);
    d->capacity = capacity;
    d->count = 0;
    d->head = 0;
    d->mask = n - 1;
}

void nb_dedup_dispose(nb_dedup_t *d)
{
    nb_free(d->ring);
    nb_free(d->index);
    memset(d, 0, sizeof *d);
}

/* Slot of (id, tag) in the index, or the empty slot where it would go. */
static size_t find_slot(const nb_dedup_t *d, const uint8_t id[32], uint64_t tag)
{
    size_t i = hash(id, tag) & d->mask;
    while (d->index[i] != 0 && !same(&d->ring[d->index[i] - 1], id, tag))
        i = (i + 1) & d->mask;
    return i;
}

bool nb_dedup_contains(const nb_dedup_t *d, const uint8_t id[32], uint64_t tag)
{
    return d->index[find_slot(d, id, tag)] != 0;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void index_delete(nb_dedup_t *d, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & d->mask;
        if (d->index[j] == 0) break;
        const nb_dedup_entry_t *e = &d->ring[d->index[j] - 1];
        size_t home = hash(e->id, e->tag) & d->mask;
        /* Move j's entry into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            d->index[i] = d->index[j];
            i = j;
        }
    }
    d->index[i] = 0;
}

bool nb_dedup_insert(nb_dedup_t *d, const uint8_t id[32], uint64_t tag)
{
    if (nb_dedup_contains(d, id, tag)) return false;
    if (d->count == d->capacity) {
        const nb_dedup_entry_t *old = &d->ring[d->head];
        index_delete(d, find_slot(d, old->id, old->tag));
    } else {
        d->count++;
    }
    nb_dedup_entry_t *e = &d->ring[d->head];
    memcpy(e->id, id, 32);
    e->tag = tag;
    d->index[find_slot(d, id, tag)] = (uint32_t)d->head + 1;
    d->head = (d->head + 1) % d->capacity;
    return true;
}
