/*
 * convo.c — the conversation store: a chained hash table of SHA-256 keys with an intrusive LRU
 * list. O(1) get/put; memory is bounded by max_entries. With a database (convo_db.c) the table is
 * a cache in front of it, bounded by NB_CONVO_CACHE_MAX.
 */
#include "bridge/convo.h"

#include "bridge/err.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "convo_db.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB_CONVO_CACHE_MAX 4096 /* entries kept in memory in front of a database */

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
    nb_convo_db_t *db; /* NULL: memory only */
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
    nb_convo_db_close(c->db);
    nb_free(c);
}

int nb_convo_default_path(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, cap, "%s/bridge/state.db", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(buf, cap, "%s/.local/state/bridge/state.db", home);
    else
        return NB_ENOTFOUND;
    return n < 0 || (size_t)n >= cap ? NB_ETOOBIG : 0;
}

int nb_convo_open(nb_convo_t **out, const char *path, size_t max_entries, int64_t ttl_s)
{
    if (max_entries == 0) max_entries = NB_CONVO_DEFAULT_MAX;
    if (ttl_s <= 0) ttl_s = NB_CONVO_DEFAULT_TTL;
    if (path == NULL || strcmp(path, ":memory:") == 0) {
        *out = nb_convo_create(max_entries, ttl_s);
        return 0;
    }
    nb_convo_db_t *db;
    int r = nb_convo_db_open(&db, path, max_entries, ttl_s);
    if (r != 0) {
        NB_WARN("state %s: conversations are kept in memory only (%zu, %lld s)", path, max_entries,
                (long long)ttl_s);
        *out = nb_convo_create(max_entries, ttl_s);
        return r;
    }
    nb_convo_t *c =
        nb_convo_create(max_entries < NB_CONVO_CACHE_MAX ? max_entries : NB_CONVO_CACHE_MAX, ttl_s);
    c->db = db;
    NB_INFO("state %s: %zu conversation(s) remembered (at most %zu, %lld s)", path, nb_convo_db_size(db),
            max_entries, (long long)ttl_s);
    *out = c;
    return 0;
}

void nb_convo_set_loop(nb_convo_t *c, uv_loop_t *loop)
{
    if (c->db != NULL) nb_convo_db_set_loop(c->db, loop);
}

void nb_convo_stats(const nb_convo_t *c, nb_convo_stats_t *st)
{
    if (c->db != NULL) {
        nb_convo_db_stats(c->db, st);
        return;
    }
    memset(st, 0, sizeof(*st));
    st->rows = c->n;
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

/* One message of the history preimage: role (1 byte), the trimmed text's length (8 bytes, little
 * endian), the text. Length-prefixed records: distinct histories give distinct preimages. */
static void add_msg(EVP_MD_CTX *md, int role, const char *p, size_t len)
{
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
         * with no text are likewise skipped, so SDK-side tool loops do not break continuity.
         * "No text" is judged after trimming: a client may send "" or " " for the same turn. */
        if (msgs[i].role == NB_ROLE_TOOL || msgs[i].role == NB_ROLE_FUNCTION) continue;
        const char *p = msgs[i].text;
        size_t len = msgs[i].len;
        trim(&p, &len);
        if (msgs[i].role == NB_ROLE_ASSISTANT && len == 0) continue;
        int role = msgs[i].role == NB_ROLE_DEVELOPER ? NB_ROLE_SYSTEM : (int)msgs[i].role;
        add_msg(md, role, p, len);
    }
    if (reply != NULL) {
        /* an empty reply is skipped like the empty assistant message the client sends back for it */
        trim(&reply, &reply_len);
        if (reply_len > 0) add_msg(md, NB_ROLE_ASSISTANT, reply, reply_len);
    }
    unsigned int len = 32;
    EVP_DigestFinal_ex(md, key, &len);
    EVP_MD_CTX_free(md);
}

/* A thread record's key: SHA-256("bridge-thread-v1\0" || thread id), 49 bytes of preimage. It can
 * never equal a history key (short of a SHA-256 collision) because the two preimages never
 * coincide: a history preimage is either empty or starts with a role byte (1..6, see the
 * assertion below: system, user or assistant after normalization), never 'b' (0x62), the first
 * byte of the prefix. Two thread keys differ when their thread ids do: same prefix, fixed length. */
_Static_assert(NB_ROLE_SYSTEM > 0 && NB_ROLE_FUNCTION < 'b',
               "a history preimage's first byte (a role) must not be the thread prefix's first byte");
static const char thread_prefix[] = "bridge-thread-v1"; /* its NUL terminator is hashed too */

void nb_convo_thread_key(uint8_t key[32], const uint8_t thread[32])
{
    uint8_t pre[sizeof(thread_prefix) + 32];
    memcpy(pre, thread_prefix, sizeof(thread_prefix));
    memcpy(pre + sizeof(thread_prefix), thread, 32);
    unsigned int len = 32;
    EVP_Digest(pre, sizeof(pre), key, &len, EVP_sha256(), NULL);
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

/* Into the table only (for a database: the cache). */
static node_t *put_mem(nb_convo_t *c, const uint8_t key[32], const nb_convo_entry_t *e, int64_t now)
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
    return n;
}

const nb_convo_entry_t *nb_convo_get(nb_convo_t *c, const uint8_t key[32], int64_t now)
{
    node_t *n = *slot(c, key);
    if (n != NULL && now - n->at > c->ttl) {
        evict(c, n);
        n = NULL;
    }
    if (n == NULL) {
        nb_convo_entry_t e;
        int64_t at;
        if (c->db == NULL || !nb_convo_db_get(c->db, key, &e, &at) || now - at > c->ttl) return NULL;
        n = put_mem(c, key, &e, now);
    } else {
        unlink_lru(c, n);
        push_front(c, n);
        n->at = now;
    }
    if (c->db != NULL) nb_convo_db_put(c->db, key, &n->e, now); /* the use refreshes its row */
    return &n->e;
}

void nb_convo_put(nb_convo_t *c, const uint8_t key[32], const nb_convo_entry_t *e, int64_t now)
{
    put_mem(c, key, e, now);
    if (c->db != NULL) nb_convo_db_put(c->db, key, e, now);
}

size_t nb_convo_size(const nb_convo_t *c)
{
    return c->db != NULL ? nb_convo_db_size(c->db) : c->n;
}
