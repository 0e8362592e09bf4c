/*
 * buf.h — a growable byte buffer with a ceiling (curl's dynbuf idea).
 *
 * Every buffer that holds outside input is created with a maximum; an append that would pass it
 * fails with NB_ETOOBIG and leaves the buffer unchanged. The data is always NUL-terminated
 * (the terminator is not counted in len and not against max).
 */
#ifndef BRIDGE_BUF_H
#define BRIDGE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data; /* NULL until the first append; always NUL-terminated after it */
    size_t len;
    size_t cap;
    size_t max; /* ceiling for len */
} nb_buf_t;

/** Initialize an empty buffer that may grow to max bytes. Allocates nothing. */
void nb_buf_init(nb_buf_t *b, size_t max);
/** Free the storage; the buffer may be reused after nb_buf_init. */
void nb_buf_dispose(nb_buf_t *b);
/** Forget the contents, keep the storage. */
void nb_buf_reset(nb_buf_t *b);
/** Forget the contents; free the storage too when it grew past keep bytes (a burst is over). */
void nb_buf_shrink(nb_buf_t *b, size_t keep);
/** Make room for n more bytes. 0 or NB_ETOOBIG. */
int nb_buf_reserve(nb_buf_t *b, size_t n);
/** Append n bytes. 0 or NB_ETOOBIG (buffer unchanged). */
int nb_buf_append(nb_buf_t *b, const void *p, size_t n);
/** Append a NUL-terminated string. */
int nb_buf_appends(nb_buf_t *b, const char *s);
/** Append one byte. */
int nb_buf_appendc(nb_buf_t *b, char c);
/** Append v in decimal (what "%" PRId64 prints, without printf's cost). 0 or NB_ETOOBIG. */
int nb_buf_append_int(nb_buf_t *b, int64_t v);
/** Append printf-formatted text. 0 or NB_ETOOBIG (buffer unchanged). */
int nb_buf_appendf(nb_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nb_buf_vappendf(nb_buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/** Take the storage out (caller frees with nb_free); the buffer becomes empty. Never NULL. */
char *nb_buf_steal(nb_buf_t *b, size_t *len);
/** Drop the first n bytes (n <= len). */
void nb_buf_consume(nb_buf_t *b, size_t n);

#endif
