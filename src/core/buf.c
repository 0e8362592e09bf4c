#include "bridge/buf.h"

#include "bridge/err.h"
#include "bridge/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void nb_buf_init(nb_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void nb_buf_dispose(nb_buf_t *b)
{
    nb_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void nb_buf_reset(nb_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL) b->data[0] = '\0';
}

void nb_buf_shrink(nb_buf_t *b, size_t keep)
{
    if (b->cap > keep) {
        size_t max = b->max;
        nb_buf_dispose(b);
        nb_buf_init(b, max);
    } else {
        nb_buf_reset(b);
    }
}

int nb_buf_reserve(nb_buf_t *b, size_t n)
{
    /* Written so nothing can wrap: len <= max always holds, and len + n + 1 must fit. */
    if (n > b->max - b->len || n >= SIZE_MAX - b->len) return NB_ETOOBIG;
    size_t need = b->len + n + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    /* max may be SIZE_MAX ("no ceiling"): compare without computing max + 1. */
    if (cap - 1 > b->max) cap = b->max + 1;
    b->data = nb_realloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int nb_buf_append(nb_buf_t *b, const void *p, size_t n)
{
    int r = nb_buf_reserve(b, n);
    if (r != 0) return r;
    if (n > 0) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int nb_buf_appends(nb_buf_t *b, const char *s)
{
    return nb_buf_append(b, s, strlen(s));
}

int nb_buf_appendc(nb_buf_t *b, char c)
{
    return nb_buf_append(b, &c, 1);
}

int nb_buf_vappendf(nb_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return NB_EINVAL;
    int r = nb_buf_reserve(b, (size_t)n);
    if (r != 0) return r;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int nb_buf_append_int(nb_buf_t *b, int64_t v)
{
    char tmp[20]; /* the digits of 2^63, backwards */
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    char out[21];
    size_t k = 0;
    if (v < 0) out[k++] = '-';
    while (n > 0)
        out[k++] = tmp[--n];
    return nb_buf_append(b, out, k);
}

int nb_buf_appendf(nb_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = nb_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return r;
}

char *nb_buf_steal(nb_buf_t *b, size_t *len)
{
    char *p = b->data;
    if (p == NULL) {
        p = nb_malloc(1);
        p[0] = '\0';
    }
    if (len != NULL) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void nb_buf_consume(nb_buf_t *b, size_t n)
{
    if (n >= b->len) {
        nb_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}
