/*
 * fuzz_convo_key.c — libFuzzer driver for nb_convo_key (the normalization of a message history into
 * the key that continues its thread) and nb_convo_thread_key.
 *
 * Input: a flags byte, then messages separated by 0x1e; a message's first byte picks its role
 * (byte % 6 + 1), the rest is its text (any bytes, NULs included). Flag bit 0: the last message is
 * passed as the reply instead. Every text is a private allocation of exactly its length, so ASan
 * catches a read past it. Invariants (a violation aborts):
 *
 *   - the key is deterministic;
 *   - whitespace (" \t\r\n") added at either end of a text, or removed from both ends, never
 *     changes it; nor does it for the reply;
 *   - a reply is the same as an assistant message appended to the history;
 *   - changing one message's role changes the key exactly when the role's class changes: system
 *     and developer are one class, user and assistant one each, and tool, function and an
 *     assistant message with no text (after trimming) are all left out;
 *   - a thread key is never the history key.
 *
 *   build-fuzz/tests/fuzz/fuzz_convo_key tests/fuzz/corpus/convo_key -max_total_time=60
 */
#include "bridge/convo.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MSGS 32
#define SEP 0x1e

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "fuzz_convo_key: %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The trimmed length of p[0..len), and its start in *off. Written apart from convo.c's on purpose. */
static size_t trimmed(const char *p, size_t len, size_t *off)
{
    size_t a = 0, b = len;
    while (a < b && is_ws(p[a]))
        a++;
    while (b > a && is_ws(p[b - 1]))
        b--;
    *off = a;
    return b - a;
}

/* 0 left out; 1 system (and developer); 2 user; 3 assistant. */
static int role_class(nb_chat_role_t role, const char *p, size_t len)
{
    size_t off;
    switch (role) {
    case NB_ROLE_SYSTEM:
    case NB_ROLE_DEVELOPER:
        return 1;
    case NB_ROLE_USER:
        return 2;
    case NB_ROLE_ASSISTANT:
        return trimmed(p, len, &off) > 0 ? 3 : 0;
    default:
        return 0;
    }
}

/* A copy of exactly len bytes (malloc(0) may return NULL: use 1). */
static char *dup_exact(const char *p, size_t len)
{
    char *s = malloc(len ? len : 1);
    CHECK(s != NULL);
    if (len) memcpy(s, p, len);
    return s;
}

/* t padded with pads chosen by sel: at most 3 whitespace characters on each side. */
static char *padded(const char *t, size_t len, unsigned sel, size_t *out_len)
{
    static const char ws[] = " \t\r\n";
    size_t left = sel % 4, right = (sel / 4) % 4;
    if (left == 0 && right == 0) left = 1;
    char *s = malloc(left + len + right);
    CHECK(s != NULL);
    for (size_t i = 0; i < left; i++)
        s[i] = ws[(sel + i) % 4];
    if (len) memcpy(s + left, t, len);
    for (size_t i = 0; i < right; i++)
        s[left + len + i] = ws[(sel / 3 + i) % 4];
    *out_len = left + len + right;
    return s;
}

static void key(uint8_t k[32], const nb_chat_msg_t *m, size_t n, const char *reply, size_t reply_len)
{
    nb_convo_key(k, m, n, reply, reply_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned flags = data[0];
    const char *in = (const char *)data + 1;
    size_t in_len = size - 1;

    nb_chat_msg_t msgs[MAX_MSGS + 1], alt[MAX_MSGS + 1];
    size_t n = 0;
    for (size_t at = 0; at <= in_len && n < MAX_MSGS;) {
        const char *end = memchr(in + at, SEP, in_len - at);
        size_t chunk = end ? (size_t)(end - (in + at)) : in_len - at;
        nb_chat_role_t role = chunk > 0 ? (nb_chat_role_t)((uint8_t)in[at] % 6 + 1) : NB_ROLE_USER;
        size_t tlen = chunk > 0 ? chunk - 1 : 0;
        msgs[n].role = role;
        msgs[n].text = dup_exact(in + at + (chunk > 0), tlen);
        msgs[n].len = tlen;
        n++;
        if (end == NULL) break;
        at += chunk + 1;
    }
    const char *reply = NULL;
    size_t reply_len = 0, hist = n;
    if ((flags & 1) && n > 0) {
        hist = n - 1;
        reply = msgs[hist].text;
        reply_len = msgs[hist].len;
    }

    uint8_t k[32], k2[32];
    key(k, msgs, hist, reply, reply_len);
    key(k2, msgs, hist, reply, reply_len);
    CHECK(memcmp(k, k2, 32) == 0); /* deterministic */

    /* a reply is an assistant message appended to the history */
    if (reply != NULL) {
        memcpy(alt, msgs, hist * sizeof(*msgs));
        alt[hist] = (nb_chat_msg_t){NB_ROLE_ASSISTANT, (char *)reply, reply_len};
        key(k2, alt, hist + 1, NULL, 0);
        CHECK(memcmp(k, k2, 32) == 0);
    }

    /* whitespace at the ends: every text padded at once, then every text trimmed at once */
    char *pads[MAX_MSGS + 1] = {0};
    memcpy(alt, msgs, n * sizeof(*msgs));
    for (size_t i = 0; i < n; i++) {
        pads[i] = padded(msgs[i].text, msgs[i].len, flags / 2 + (unsigned)i * 5, &alt[i].len);
        alt[i].text = pads[i];
    }
    key(k2, alt, hist, reply ? alt[hist].text : NULL, reply ? alt[hist].len : 0);
    CHECK(memcmp(k, k2, 32) == 0);
    for (size_t i = 0; i < n; i++) {
        free(pads[i]);
        size_t off, len = trimmed(msgs[i].text, msgs[i].len, &off);
        pads[i] = dup_exact(msgs[i].text + off, len);
        alt[i].text = pads[i];
        alt[i].len = len;
    }
    key(k2, alt, hist, reply ? alt[hist].text : NULL, reply ? alt[hist].len : 0);
    CHECK(memcmp(k, k2, 32) == 0);
    for (size_t i = 0; i < n; i++)
        free(pads[i]);

    /* one message padded alone (the one the flags pick) */
    if (hist > 0) {
        size_t i = (flags >> 3) % hist;
        memcpy(alt, msgs, hist * sizeof(*msgs));
        char *p = padded(msgs[i].text, msgs[i].len, flags, &alt[i].len);
        alt[i].text = p;
        key(k2, alt, hist, reply, reply_len);
        CHECK(memcmp(k, k2, 32) == 0);
        free(p);
    }

    /* roles: each message of the history in turn, to every other role */
    for (size_t i = 0; i < hist; i++) {
        memcpy(alt, msgs, hist * sizeof(*msgs));
        int was = role_class(msgs[i].role, msgs[i].text, msgs[i].len);
        for (int r = NB_ROLE_SYSTEM; r <= NB_ROLE_FUNCTION; r++) {
            if ((nb_chat_role_t)r == msgs[i].role) continue;
            alt[i].role = (nb_chat_role_t)r;
            key(k2, alt, hist, reply, reply_len);
            bool same = memcmp(k, k2, 32) == 0;
            CHECK(same == (role_class(alt[i].role, alt[i].text, alt[i].len) == was));
        }
    }

    /* thread keys live apart from history keys */
    uint8_t id[32] = {0}, tk[32];
    memcpy(id, data, size < 32 ? size : 32);
    nb_convo_thread_key(tk, id);
    CHECK(memcmp(tk, k, 32) != 0);
    nb_convo_thread_key(tk, k);
    CHECK(memcmp(tk, k, 32) != 0);

    for (size_t i = 0; i < n; i++)
        free(msgs[i].text);
    return 0;
}
