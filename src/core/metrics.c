/*
 * metrics.c — fixed-bucket histograms in the Prometheus text format.
 */
#include "bridge/metrics.h"

#include <string.h>

static void init(nb_hist_t *h, const double *b, size_t n)
{
    memset(h, 0, sizeof(*h));
    memcpy(h->bounds, b, n * sizeof(*b));
    h->n = n;
}

void nb_hist_init_latency(nb_hist_t *h)
{
    static const double b[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                               0.5,   1,      2.5,   5,    10,    30,   60};
    init(h, b, sizeof(b) / sizeof(b[0]));
}

void nb_hist_init_fine(nb_hist_t *h)
{
    static const double b[] = {0.00001, 0.00002, 0.000035, 0.00005, 0.000075, 0.0001, 0.00015, 0.00025,
                               0.0005,  0.001,   0.0025,   0.005,   0.01,     0.05,   0.25,    1};
    init(h, b, sizeof(b) / sizeof(b[0]));
}

void nb_hist_init_duration(nb_hist_t *h)
{
    static const double b[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900};
    init(h, b, sizeof(b) / sizeof(b[0]));
}

void nb_hist_observe(nb_hist_t *h, double v)
{
    for (size_t i = 0; i < h->n; i++)
        if (v <= h->bounds[i]) {
            h->counts[i]++;
            break;
        }
    h->count++;
    h->sum += v;
}

int nb_hist_print(nb_buf_t *out, const char *name, const char *help, const nb_hist_t *h)
{
    int r = nb_buf_appendf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; r == 0 && i < h->n; i++) {
        cum += h->counts[i];
        r = nb_buf_appendf(out, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
    }
    if (r == 0)
        r = nb_buf_appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                           (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
    return r;
}
