/*
 * metrics.h — Prometheus histograms with fixed buckets (cumulative on output), and the text
 * exposition helpers. O(buckets) per observation, no allocation.
 */
#ifndef BRIDGE_METRICS_H
#define BRIDGE_METRICS_H

#include "bridge/buf.h"

#include <stddef.h>
#include <stdint.h>

#define NB_HIST_MAX_BUCKETS 16

typedef struct {
    double bounds[NB_HIST_MAX_BUCKETS]; /* upper bounds (le), ascending */
    uint64_t counts[NB_HIST_MAX_BUCKETS];
    size_t n;
    uint64_t count;
    double sum;
} nb_hist_t;

/** Buckets for latencies in seconds: 1 ms … 60 s. */
void nb_hist_init_latency(nb_hist_t *h);
/** Buckets for the bridge's own processing in seconds: 10 µs … 1 s (chunk delay, pre-publish
 *  work; fine enough to compare with a ≈ 35 µs signature check). */
void nb_hist_init_fine(nb_hist_t *h);
/** Buckets for long durations in seconds: 0.1 s … 15 min. */
void nb_hist_init_duration(nb_hist_t *h);
void nb_hist_observe(nb_hist_t *h, double v);
/** Append the HELP/TYPE lines and the _bucket/_sum/_count series of h named name. */
int nb_hist_print(nb_buf_t *out, const char *name, const char *help, const nb_hist_t *h);

#endif
