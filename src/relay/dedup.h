/*
 * dedup.h — a bounded set of recently seen (event id, subscription serial) pairs.
 *
 * The pool asks "was this event already delivered to this subscription?" before it spends a
 * signature verification, and records the pair after delivering. Capacity is fixed at init; when
 * full, the oldest pair is forgotten (FIFO), so memory is O(capacity) forever: a ring of entries
 * plus an open-addressing index (linear probing, backward-shift deletion, load <= 1/2).
 * Insert and lookup are O(1) expected. Private to src/relay/.
 */
#ifndef BRIDGE_RELAY_DEDUP_H
#define BRIDGE_RELAY_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t id[32];
    uint64_t tag;
} nb_dedup_entry_t;

typedef struct {
    nb_dedup_entry_t *ring; /* capacity entries, oldest at head once full */
    uint32_t *index;        /* slot → ring position + 1; 0 = empty */
    size_t capacity;
    size_t count;
    size_t head; /* next ring position to write */
    size_t mask; /* index size - 1 */
} nb_dedup_t;

/** Allocate for capacity pairs (>= 1, <= 2^30). */
void nb_dedup_init(nb_dedup_t *d, size_t capacity);
void nb_dedup_dispose(nb_dedup_t *d);
/** True when (id, tag) is in the set. */
bool nb_dedup_contains(const nb_dedup_t *d, const uint8_t id[32], uint64_t tag);
/** Add (id, tag), forgetting the oldest pair when full. Returns false if it was already there. */
bool nb_dedup_insert(nb_dedup_t *d, const uint8_t id[32], uint64_t tag);

#endif
