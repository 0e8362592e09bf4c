/*
 * directives.c — "#steps=3 #retry" tokens in a user message.
 *
 * A directive is a whitespace-delimited token: `#name` or `#name=value`, lowercase, one of the
 * table below. Anything else that starts with '#' is ordinary text (hashtags stay). Values are
 * checked against a range; a directive with a bad value is left in the text (and so echoed),
 * which makes a typo visible in the reply.
 */
#include "echo_agent.h"

#include "bridge/err.h"

#include <stdio.h>
#include <string.h>

typedef enum { FLAG, NUMBER } shape_t;

typedef struct {
    const char *name;
    shape_t shape;
    uint64_t min, max;
} directive_t;

static const directive_t table[] = {
    {"steps", NUMBER, 1, 20},
    {"tool", FLAG, 0, 0},
    {"retry", FLAG, 0, 0},
    {"acp", FLAG, 0, 0},
    {"ask", FLAG, 0, 0},
    {"nocompletion", FLAG, 0, 0},
    {"delegate", FLAG, 0, 0},
    {"silent", FLAG, 0, 0},
    {"error", FLAG, 0, 0},
    {"crash", FLAG, 0, 0},
    {"drop", NUMBER, 1, 1000000},
    {"reorder", FLAG, 0, 0},
    {"dup", FLAG, 0, 0},
    {"huge", NUMBER, 1, ECHO_MAX_HUGE},
    {"die", FLAG, 0, 0},
    {"slow", NUMBER, 0, 60000},
    {"chunk", NUMBER, 1, 1u << 20},
    {"unicode", FLAG, 0, 0},
};

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Digits only, no sign, no leading '+', at most 10 digits. */
static bool parse_number(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 10) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static void set(echo_directives_t *d, const char *name, uint64_t v)
{
    if (strcmp(name, "steps") == 0)
        d->steps = (uint32_t)v;
    else if (strcmp(name, "tool") == 0)
        d->tool = true;
    else if (strcmp(name, "retry") == 0)
        d->retry = true;
    else if (strcmp(name, "acp") == 0)
        d->acp = true;
    else if (strcmp(name, "ask") == 0)
        d->ask = true;
    else if (strcmp(name, "nocompletion") == 0)
        d->nocompletion = true;
    else if (strcmp(name, "delegate") == 0)
        d->delegate = true;
    else if (strcmp(name, "silent") == 0)
        d->silent = true;
    else if (strcmp(name, "error") == 0)
        d->error = true;
    else if (strcmp(name, "crash") == 0)
        d->crash = true;
    else if (strcmp(name, "drop") == 0)
        d->drop = (uint32_t)v;
    else if (strcmp(name, "reorder") == 0)
        d->reorder = true;
    else if (strcmp(name, "dup") == 0)
        d->dup = true;
    else if (strcmp(name, "huge") == 0)
        d->huge = (size_t)v;
    else if (strcmp(name, "die") == 0)
        d->die = true;
    else if (strcmp(name, "slow") == 0)
        d->slow_ms = (int64_t)v;
    else if (strcmp(name, "chunk") == 0)
        d->chunk = (size_t)v;
    else if (strcmp(name, "unicode") == 0)
        d->unicode = true;
}

/* Is tok[0..len) a directive? If so, apply it to d. */
static bool apply(echo_directives_t *d, const char *tok, size_t len)
{
    if (len < 2 || tok[0] != '#') return false;
    const char *name = tok + 1;
    const char *eq = memchr(name, '=', len - 1);
    size_t nlen = eq != NULL ? (size_t)(eq - name) : len - 1;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const directive_t *t = &table[i];
        if (strlen(t->name) != nlen || memcmp(t->name, name, nlen) != 0) continue;
        uint64_t v = 0;
        if (t->shape == FLAG) {
            if (eq != NULL) return false;
        } else {
            if (eq == NULL || !parse_number(eq + 1, (size_t)(tok + len - eq - 1), &v)) return false;
            if (v < t->min || v > t->max) return false;
        }
        set(d, t->name, v);
        return true;
    }
    return false;
}

int echo_directives_parse(echo_directives_t *d, nb_buf_t *out, const char *text, size_t len)
{
    memset(d, 0, sizeof *d);
    d->slow_ms = -1;
    size_t start = out->len;
    size_t i = 0;
    /* Copy tokens and the whitespace between kept tokens; a directive drops the whitespace
       before it (so "a #tool b" becomes "a b"), leading and trailing whitespace is trimmed. */
    bool any_kept = false;
    while (i < len) {
        size_t ws = i;
        while (i < len && is_space(text[i]))
            i++;
        size_t tok = i;
        while (i < len && !is_space(text[i]))
            i++;
        if (tok == i) break; /* trailing whitespace */
        if (apply(d, text + tok, i - tok)) continue;
        int err = nb_buf_append(out, text + (any_kept ? ws : tok), i - (any_kept ? ws : tok));
        if (err < 0) {
            out->len = start;
            if (out->data != NULL) out->data[start] = '\0';
            return err;
        }
        any_kept = true;
    }
    if (out->data == NULL) nb_buf_append(out, "", 0);
    return 0;
}

void echo_directives_describe(const echo_directives_t *d, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
#define ADD(...)                                                                                             \
    do {                                                                                                     \
        if (n < cap) {                                                                                       \
            int w_ = snprintf(out + n, cap - n, "%s", n ? "," : "");                                         \
            if (w_ > 0) n += (size_t)w_;                                                                     \
        }                                                                                                    \
        if (n < cap) {                                                                                       \
            int w_ = snprintf(out + n, cap - n, __VA_ARGS__);                                                \
            if (w_ > 0) n += (size_t)w_;                                                                     \
        }                                                                                                    \
    } while (0)
    if (d->steps) ADD("steps=%u", d->steps);
    if (d->tool) ADD("tool");
    if (d->retry) ADD("retry");
    if (d->acp) ADD("acp");
    if (d->ask) ADD("ask");
    if (d->nocompletion) ADD("nocompletion");
    if (d->delegate) ADD("delegate");
    if (d->silent) ADD("silent");
    if (d->error) ADD("error");
    if (d->crash) ADD("crash");
    if (d->drop) ADD("drop=%u", d->drop);
    if (d->reorder) ADD("reorder");
    if (d->dup) ADD("dup");
    if (d->huge) ADD("huge=%zu", d->huge);
    if (d->die) ADD("die");
    if (d->slow_ms >= 0) ADD("slow=%lld", (long long)d->slow_ms);
    if (d->chunk) ADD("chunk=%zu", d->chunk);
    if (d->unicode) ADD("unicode");
#undef ADD
    if (n == 0) snprintf(out, cap, "none");
}
