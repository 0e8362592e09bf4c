/*
 * mem.h — allocation that never returns NULL.
 *
 * A daemon that runs out of memory cannot do anything useful with a NULL: these wrappers log
 * and abort instead, so callers never carry an ENOMEM path. nb_mem_install() routes cJSON's
 * allocations through the same functions.
 */
#ifndef BRIDGE_MEM_H
#define BRIDGE_MEM_H

#include <stddef.h>

/** malloc that aborts on failure; nb_malloc(0) returns a unique pointer. */
void *nb_malloc(size_t n);
/** calloc that aborts on failure (and on n*size overflow). */
void *nb_calloc(size_t n, size_t size);
/** realloc that aborts on failure. */
void *nb_realloc(void *p, size_t n);
/** strdup/strndup that abort on failure. */
char *nb_strdup(const char *s);
char *nb_strndup(const char *s, size_t n);
/** free; NULL is fine. */
void nb_free(void *p);
/** Overwrite n bytes at p with zeros in a way the compiler cannot elide (for secrets). */
void nb_memwipe(void *p, size_t n);
/** Install the aborting allocator into cJSON. Call once at start-up. */
void nb_mem_install(void);

#endif
