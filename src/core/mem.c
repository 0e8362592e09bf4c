#include "bridge/mem.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    /* No allocation here: stderr is unbuffered and fprintf of a number does not malloc. */
    fprintf(stderr, "bridge: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *nb_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) oom(n);
    return p;
}

void *nb_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) oom(n * size);
    return p;
}

void *nb_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) oom(n);
    return q;
}

char *nb_strdup(const char *s)
{
    return nb_strndup(s, strlen(s));
}

char *nb_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = nb_malloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void nb_free(void *p)
{
    free(p);
}

void nb_memwipe(void *p, size_t n)
{
    /* explicit_bzero is in glibc >= 2.25 and is documented not to be optimized away. */
    if (p != NULL && n > 0) explicit_bzero(p, n);
}

static void *cjson_malloc(size_t n)
{
    return nb_malloc(n);
}

void nb_mem_install(void)
{
    cJSON_Hooks hooks = {cjson_malloc, free};
    cJSON_InitHooks(&hooks);
}
