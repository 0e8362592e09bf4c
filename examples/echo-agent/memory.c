/*
 * memory.c — what the agents remember: the messages of every thread (so a follow-up can quote
 * the previous one) and the questions they asked (so an answer finds its way back).
 *
 * Bounded like everything that grows from outside input: at most MAX_THREADS threads (the
 * oldest is forgotten), MAX_MESSAGES messages per thread (older ones are forgotten but still
 * counted in the turn number), MAX_TEXT bytes kept per message, MAX_ASKS pending asks. Lists
 * are linear: a demo agent holds a few hundred threads at most.
 */
#include "echo_agent.h"

#include "bridge/mem.h"

#include <string.h>

#define MAX_THREADS 512
#define MAX_MESSAGES 64
#define MAX_TEXT 4096
#define MAX_ASKS 64

typedef struct {
    char id[65];
    char *text;
    size_t len;
} message_t;

struct echo_thread {
    echo_thread_t *next; /* newest first */
    char root[65];
    char root_author[65]; /* "" until the root message itself is seen */
    message_t msgs[MAX_MESSAGES];
    size_t n;         /* kept (<= MAX_MESSAGES) */
    uint32_t dropped; /* forgotten from the front */
};

struct echo_ask {
    echo_ask_t *next;
    char id[65];
    int agent;
    char *text;
    size_t len;
};

static echo_thread_t *find_thread(echo_app_t *app, const char *root_hex)
{
    for (echo_thread_t *t = app->threads; t != NULL; t = t->next)
        if (strcmp(t->root, root_hex) == 0) return t;
    return NULL;
}

static void free_thread(echo_thread_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        nb_free(t->msgs[i].text);
    nb_free(t);
}

/* Forget the oldest thread (the last in the list). */
static void evict_thread(echo_app_t *app)
{
    echo_thread_t **pp = &app->threads;
    while (*pp != NULL && (*pp)->next != NULL)
        pp = &(*pp)->next;
    if (*pp == NULL) return;
    free_thread(*pp);
    *pp = NULL;
    app->n_threads--;
}

void echo_memory_add(echo_app_t *app, const char *root_hex, const char *id_hex, const char *author_hex,
                     const char *text, size_t len)
{
    echo_thread_t *t = find_thread(app, root_hex);
    if (t == NULL) {
        if (app->n_threads == MAX_THREADS) evict_thread(app);
        t = nb_calloc(1, sizeof *t);
        memcpy(t->root, root_hex, 65);
        t->next = app->threads;
        app->threads = t;
        app->n_threads++;
    }
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->msgs[i].id, id_hex) == 0) return;
    if (strcmp(root_hex, id_hex) == 0) memcpy(t->root_author, author_hex, 65);
    if (t->n == MAX_MESSAGES) {
        nb_free(t->msgs[0].text);
        memmove(&t->msgs[0], &t->msgs[1], (MAX_MESSAGES - 1) * sizeof t->msgs[0]);
        t->n--;
        t->dropped++;
    }
    message_t *m = &t->msgs[t->n++];
    memcpy(m->id, id_hex, 65);
    m->len = len < MAX_TEXT ? len : MAX_TEXT;
    /* Never cut a UTF-8 sequence in half: the text is quoted back in a reply. */
    while (m->len > 0 && m->len < len && ((unsigned char)text[m->len] & 0xC0) == 0x80)
        m->len--;
    m->text = nb_malloc(m->len + 1); /* not strndup: the text may hold NUL bytes */
    memcpy(m->text, text, m->len);
    m->text[m->len] = '\0';
}

bool echo_memory_lookup(echo_app_t *app, const char *root_hex, const char *id_hex, uint32_t *turn,
                        const char **prev, size_t *prev_len)
{
    echo_thread_t *t = find_thread(app, root_hex);
    if (t == NULL) return false;
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->msgs[i].id, id_hex) != 0) continue;
        *turn = t->dropped + (uint32_t)i + 1;
        *prev = i > 0 ? t->msgs[i - 1].text : NULL;
        *prev_len = i > 0 ? t->msgs[i - 1].len : 0;
        return true;
    }
    return false;
}

const char *echo_memory_root_author(echo_app_t *app, const char *root_hex)
{
    echo_thread_t *t = find_thread(app, root_hex);
    return t != NULL && t->root_author[0] != '\0' ? t->root_author : NULL;
}

void echo_memory_add_ask(echo_app_t *app, const char *ask_id_hex, int agent, const char *text, size_t len)
{
    if (app->n_asks == MAX_ASKS) {
        /* Forget the oldest question. */
        echo_ask_t **pp = &app->asks;
        while ((*pp)->next != NULL)
            pp = &(*pp)->next;
        nb_free((*pp)->text);
        nb_free(*pp);
        *pp = NULL;
        app->n_asks--;
    }
    echo_ask_t *a = nb_calloc(1, sizeof *a);
    memcpy(a->id, ask_id_hex, 65);
    a->agent = agent;
    a->text = nb_malloc(len + 1);
    memcpy(a->text, text, len);
    a->text[len] = '\0';
    a->len = len;
    a->next = app->asks;
    app->asks = a;
    app->n_asks++;
}

bool echo_memory_take_ask(echo_app_t *app, const char *ask_id_hex, int agent, char **text, size_t *len)
{
    for (echo_ask_t **pp = &app->asks; *pp != NULL; pp = &(*pp)->next) {
        echo_ask_t *a = *pp;
        if (a->agent != agent || strcmp(a->id, ask_id_hex) != 0) continue;
        *pp = a->next;
        *text = a->text;
        *len = a->len;
        nb_free(a);
        app->n_asks--;
        return true;
    }
    return false;
}

void echo_memory_dispose(echo_app_t *app)
{
    while (app->threads != NULL) {
        echo_thread_t *t = app->threads;
        app->threads = t->next;
        free_thread(t);
    }
    app->n_threads = 0;
    while (app->asks != NULL) {
        echo_ask_t *a = app->asks;
        app->asks = a->next;
        nb_free(a->text);
        nb_free(a);
    }
    app->n_asks = 0;
}
