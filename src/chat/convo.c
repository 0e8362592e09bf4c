/*
 * convo.c — the in-memory conversation store: an open-addressing table of SHA-256 keys with an
 * intrusive LRU list. O(1) get/put; memory is bounded by max_entries.
 */
#include "bridge/convo.h"

#include "bridge/mem.h"

#include <openssl/evp.h>
#include <string.h>

typedef struct node {
    uint8_t key[32];
    nb_convo_entry_t e;
    int64_t at;
    struct node *prev, *next; /* LRU: head = most recent */
    struct node *chain;       /* hash bucket chain */
} node_t;

struct nb_convo {
    node_t **buckets;
    size_t n_buckets;
    size_t n, max;
    int64_t ttl;
    node_t *head, *tail;
};

nb_convo_t *nb_convo_create(size_t max_entries, int64_t ttl_s)
{
    nb_convo_t *c = nb_calloc(1, sizeof(*c));
    c->max = max_entries ? max_entries : 10000;
    c->ttl = ttl_s ? ttl_s : 7 * 24 * 3600;
    c->n_buckets = 1;
    while (c->n_buckets < c->max)
        c->n_buckets <<= 1;
    c->buckets = nb_calloc(c->n_buckets, sizeof(*c->buckets));
    return c;
}

void nb_convo_destroy(nb_convo_t *c)
{
    if (c == NULL) return;
    for (node_t *n = c->head, *next; n != NULL; n = next) {
        next = n->next;
        nb_free(n);
    }
    nb_free(c->buckets);
    nb_free(c);
}

static void trim(const char **p, size_t *len)
{
    while (*len > 0 && strchr(" \t\r\n", (*p)[0]) != NULL && (*p)[0] != '\0') {
        (*p)++;
        (*len)--;
    }
    while (*len > 0 && strchr(" \t\r\n", (*p)[*len - 1]) != NULL && (*p)[*len - 1] != '\0')
        (*len)--;
}

static void add_msg(EVP_MD_CTX *md, int role, const char *p, size_t len)
{
    trim(&p, &len);
    uint8_t hdr[9];
    hdr[0] = (uint8_t)role;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    EVP_DigestUpdate(md, hdr, sizeof(hdr));
    EVP_DigestUpdate(md, p, len);
}

void nb_convo_key(uint8_t key[32], const nb_chat_msg_t *msgs, size_t n, const char *reply, size_t reply_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        /* tool and function results are not part of what TENEX saw; assistant tool-call turns
         * with no text are likewise skipped, so SDK-side tool loops do not break continuity */
        if (msgs[i].role == NB_ROLE_TOOL || msgs[i].role == NB_ROLE_FUNCTION) continue;
        if (msgs[i].role == NB_ROLE_ASSISTANT && msgs[i].len == 0) continue;
        int role = msgs[i].role == NB_ROLE_DEVELOPER ? NB_ROLE_SYSTEM : (int)msgs[i].role;
        add_msg(md, role, msgs[i].text, msgs[i].len);
    }
    if (reply != NULL) add_msg(md, NB_ROLE_ASSISTANT, reply, reply_len);
    unsigned int len = 32;
    EVP_DigestFinal_ex(md, key, &len);
    EVP_MD_CTX_free(md);
}

static node_t **slot(nb_convo_t *c, const uint8_t key[32])
{
    size_t h;
    memcpy(&h, key, sizeof(h));
    node_t **s = &c->buckets[h & (c->n_buckets - 1)];
    while (*s != NULL && memcmp((*s)->key, key, 32) != 0)
        s = &(*s)->chain;
    return s;
}

static void unlink_lru(nb_convo_t *c, node_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        c->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        c->tail = n->prev;
    n->prev = n->next = NULL;
}

static void push_front(nb_convo_t *c, node_t *n)
{
    n->next = c->head;
    n->prev = NULL;
    if (c->head) c->head->prev = n;
    c->head = n;
    if (c->tail == NULL) c->tail = n;
}

static void evict(nb_convo_t *c, node_t *n)
{
    node_t **s = slot(c, n->key);
    *s = n->chain;
    unlink_lru(c, n);
    nb_free(n);
    c->n--;
}

const nb_convo_entry_t *nb_convo_get(nb_convo_t *c, const uint8_t key[32], int64_t now)
{
    node_t *n = *slot(c, key);
    if (n == NULL) return NULL;
    if (now - n->at > c->ttl) {
        evict(c, n);
        return NULL;
    }
    unlink_lru(c, n);
    push_front(c, n);
    return &n->e;
}

void nb_convo_put(nb_convo_t *c, const uint8_t key[32], const nb_convo_entry_t *e, int64_t now)
{
    node_t **s = slot(c, key);
    node_t *n = *s;
    if (n == NULL) {
        if (c->n == c->max) evict(c, c->tail);
        s = slot(c, key); /* eviction may have changed the chain */
        n = nb_calloc(1, sizeof(*n));
        memcpy(n->key, key, 32);
        n->chain = *s;
        *s = n;
        c->n++;
    } else {
        unlink_lru(c, n);
    }
    n->e = *e;
    n->at = now;
    push_front(c, n);
}

size_t nb_convo_size(const nb_convo_t *c)
{
    return c->n;
}
