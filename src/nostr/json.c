/*
 * json.c — strict RFC 8259 tokenizer, string decoding, and the NIP-01 string writer.
 *
 * The tokenizer is a loop over an explicit stack of open containers (at most NB_JSON_MAX_DEPTH),
 * so hostile nesting costs a fixed 256 bytes of stack and never recursion. Every read is guarded
 * by `p < end`; the only multi-byte loads are the 8-byte string scans, done with memcpy and only
 * when 8 bytes remain.
 *
 * Strings are validated in the same pass (UTF-8 per Unicode table 3-7, escapes, surrogate
 * pairs), so the decoding functions below can trust a token that came from nb_json_parse.
 */
#include "bridge/json.h"

#include "bridge/err.h"

#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

/*
 * Unicode 15, table 3-7: this rejects overlongs (C0, C1, E0 80..9F, F0 80..8F), surrogates
 * (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..FF). On an ill-formed sequence the
 * length is that of its maximal subpart (ch. 3, "U+FFFD Substitution of Maximal Subparts"): what a
 * browser's TextDecoder replaces with one U+FFFD.
 */
size_t nb_utf8_step(const unsigned char *p, const unsigned char *end, bool *ok)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    size_t n;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        *ok = false;
        return 1;
    }
    size_t i = 1, avail = (size_t)(end - p);
    if (avail > 1 && p[1] >= lo && p[1] <= hi) {
        i = 2;
        while (i < n && i < avail && (p[i] & 0xc0) == 0x80)
            i++;
    }
    *ok = i == n;
    return i;
}

/* Length of the well-formed UTF-8 sequence starting at p (lead byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    bool ok;
    size_t n = nb_utf8_step(p, end, &ok);
    return ok ? n : 0;
}

/* The 8 bytes at p, in whatever byte order: the checks below look at every byte alike. */
static uint64_t load8(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Nonzero when some byte of v is zero (exact as a whole-word answer; per-byte flags may lie). */
static uint64_t has_zero(uint64_t v)
{
    return (v - ONES) & ~v & HIGHS;
}

/*
 * How many bytes of the word come before the first flagged one (special != 0). The lowest flag of
 * each test above is exact (a false flag needs a borrow from a true one below it), so on a
 * little-endian machine that is the first flagged byte in memory; elsewhere 0, which is always
 * safe: the caller looks at the bytes one at a time from there.
 */
static size_t first_flagged(uint64_t special)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(special) / 8;
#else
    (void)special;
    return 0;
#endif
}

bool nb_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        /* ASCII runs are the common case: skip them a word at a time. */
        while (end - p >= 8 && (load8(p) & HIGHS) == 0)
            p += 8;
        if (p == end) break;
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_seq(p, end);
        if (n == 0) return false;
        p += n;
    }
    return true;
}

/* ---- tokenizer -------------------------------------------------------------------------------- */

typedef struct {
    nb_json_tok_t *toks;
    size_t cap;
    size_t n;
    const unsigned char *base;
} parser_t;

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at p (caller checked 4 bytes remain); -1 when invalid. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hexval(p[i]);
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

static int new_token(parser_t *ps, nb_json_type_t type, const unsigned char *start, uint32_t *idx)
{
    if (ps->n >= ps->cap) return NB_ETOOBIG;
    nb_json_tok_t *t = &ps->toks[ps->n];
    t->type = (uint8_t)type;
    t->has_escapes = 0;
    t->start = (uint32_t)(start - ps->base);
    t->len = 0;
    t->size = 0;
    t->next = (uint32_t)(ps->n + 1);
    *idx = (uint32_t)ps->n++;
    return 0;
}

/*
 * Scan the string whose opening quote is at *pp; on success *pp is just past the closing quote.
 * A byte that needs a closer look: '"', '\\', a control byte, or any non-ASCII byte.
 */
static int scan_string(parser_t *ps, const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp + 1;
    uint32_t idx;
    int r = new_token(ps, NB_JSON_STRING, p, &idx);
    if (r != 0) return r;
    uint8_t esc = 0;
    for (;;) {
        while (end - p >= 8) {
            uint64_t v = load8(p);
            uint64_t special = (v & HIGHS) | has_zero(v ^ (ONES * '"')) | has_zero(v ^ (ONES * '\\')) |
                               ((v - ONES * 0x20) & ~v & HIGHS);
            if (special != 0) {
                p += first_flagged(special); /* straight to the byte that stopped the scan */
                break;
            }
            p += 8;
        }
        if (p >= end) return NB_EJSON; /* unterminated */
        unsigned char c = *p;
        if (c == '"') break;
        if (c < 0x20) return NB_EJSON; /* RFC 8259: control characters must be escaped */
        if (c < 0x80 && c != '\\') {
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(p, end);
            if (n == 0) return NB_EUTF8;
            p += n;
            continue;
        }
        /* backslash */
        esc = 1;
        if (end - p < 2) return NB_EJSON;
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p += 2;
            continue;
        case 'u':
            break;
        default:
            return NB_EJSON;
        }
        if (end - p < 6) return NB_EJSON;
        long u = hex4(p + 2);
        if (u < 0) return NB_EJSON;
        p += 6;
        if (u >= 0xdc00 && u <= 0xdfff) return NB_EUTF8; /* low surrogate without a high one */
        if (u >= 0xd800 && u <= 0xdbff) {
            /* A high surrogate must be followed at once by an escaped low surrogate. */
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return NB_EUTF8;
            long lo = hex4(p + 2);
            if (lo < 0) return NB_EJSON;
            if (lo < 0xdc00 || lo > 0xdfff) return NB_EUTF8;
            p += 6;
        }
    }
    nb_json_tok_t *t = &ps->toks[idx];
    t->len = (uint32_t)(p - ps->base) - t->start;
    t->has_escapes = esc;
    *pp = p + 1;
    return 0;
}

static int scan_number(parser_t *ps, const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp, *start = p;
    if (*p == '-') p++;
    if (p >= end) return NB_EJSON;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NB_EJSON;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return NB_EJSON;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return NB_EJSON;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    uint32_t idx;
    int r = new_token(ps, NB_JSON_NUMBER, start, &idx);
    if (r != 0) return r;
    ps->toks[idx].len = (uint32_t)(p - start);
    *pp = p;
    return 0;
}

static int scan_literal(parser_t *ps, const unsigned char **pp, const unsigned char *end, const char *lit,
                        nb_json_type_t type)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0) return NB_EJSON;
    uint32_t idx;
    int r = new_token(ps, type, *pp, &idx);
    if (r != 0) return r;
    ps->toks[idx].len = (uint32_t)n;
    *pp += n;
    return 0;
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

int nb_json_parse(nb_json_tok_t *toks, size_t cap, size_t *ntoks, const char *s, size_t len)
{
    *ntoks = 0;
    if (len > UINT32_MAX) return NB_ETOOBIG;
    if (len == 0) return NB_EJSON; /* also keeps NULL + 0 arithmetic out of the way */
    parser_t ps = {toks, cap, 0, (const unsigned char *)s};
    const unsigned char *p = ps.base, *end = ps.base + len;
    uint32_t stack[NB_JSON_MAX_DEPTH]; /* token index of every open container */
    size_t depth = 0;
    int r;

    p = skip_ws(p, end);
    for (;;) {
        /* Here a value must start at p. */
        if (p >= end) return NB_EJSON;
        switch (*p) {
        case '{':
        case '[': {
            if (depth == NB_JSON_MAX_DEPTH) return NB_EJSON_DEPTH;
            uint32_t idx;
            r = new_token(&ps, *p == '{' ? NB_JSON_OBJECT : NB_JSON_ARRAY, p, &idx);
            if (r != 0) return r;
            stack[depth++] = idx;
            p = skip_ws(p + 1, end);
            if (p < end && (*p == '}' || *p == ']'))
                goto close; /* empty container: checked for the right bracket there */
            if (toks[idx].type == NB_JSON_OBJECT) goto key;
            continue;
        }
        case '"':
            r = scan_string(&ps, &p, end);
            break;
        case 't':
            r = scan_literal(&ps, &p, end, "true", NB_JSON_TRUE);
            break;
        case 'f':
            r = scan_literal(&ps, &p, end, "false", NB_JSON_FALSE);
            break;
        case 'n':
            r = scan_literal(&ps, &p, end, "null", NB_JSON_NULL);
            break;
        default:
            if (*p == '-' || (*p >= '0' && *p <= '9'))
                r = scan_number(&ps, &p, end);
            else
                r = NB_EJSON;
            break;
        }
        if (r != 0) return r;

    after_value:
        if (depth == 0) break;
        toks[stack[depth - 1]].size++;
        p = skip_ws(p, end);
        if (p >= end) return NB_EJSON;
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (toks[stack[depth - 1]].type == NB_JSON_OBJECT) goto key;
            continue;
        }
    close:
        if (p >= end) return NB_EJSON;
        {
            nb_json_tok_t *c = &toks[stack[depth - 1]];
            if (*p != (c->type == NB_JSON_OBJECT ? '}' : ']')) return NB_EJSON;
            p++;
            c->len = (uint32_t)(p - ps.base) - c->start;
            c->next = (uint32_t)ps.n;
            depth--;
        }
        goto after_value;

    key:
        /* Inside an object, after '{' or ',': a string key, then ':'. */
        if (p >= end || *p != '"') return NB_EJSON;
        r = scan_string(&ps, &p, end);
        if (r != 0) return r;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') return NB_EJSON;
        p = skip_ws(p + 1, end);
        /* the value follows: loop */
    }
    if (skip_ws(p, end) != end) return NB_EJSON; /* trailing data */
    *ntoks = ps.n;
    return 0;
}

/* ---- string decoding -------------------------------------------------------------------------- */

static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * Decode one escape starting at the backslash *pp (inside [.., end)); writes up to 4 bytes to out
 * and returns their count. The token was validated by the tokenizer, but this still stays inside
 * the span if handed something else: a malformed escape decodes as the backslash itself.
 */
static size_t decode_escape(const unsigned char **pp, const unsigned char *end, char out[4])
{
    const unsigned char *p = *pp;
    if (end - p < 2) {
        *pp = p + 1;
        out[0] = '\\';
        return 1;
    }
    char c = 0;
    switch (p[1]) {
    case '"':
        c = '"';
        break;
    case '\\':
        c = '\\';
        break;
    case '/':
        c = '/';
        break;
    case 'b':
        c = '\b';
        break;
    case 'f':
        c = '\f';
        break;
    case 'n':
        c = '\n';
        break;
    case 'r':
        c = '\r';
        break;
    case 't':
        c = '\t';
        break;
    case 'u': {
        long u = end - p >= 6 ? hex4(p + 2) : -1;
        if (u < 0) break;
        if (u >= 0xd800 && u <= 0xdbff && end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
            long lo = hex4(p + 8);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                *pp = p + 12;
                return put_utf8(out,
                                0x10000 + (((unsigned long)u - 0xd800) << 10) + ((unsigned long)lo - 0xdc00));
            }
        }
        *pp = p + 6;
        return put_utf8(out, (unsigned long)u);
    }
    default:
        break;
    }
    if (c == 0) {
        *pp = p + 1;
        out[0] = '\\';
        return 1;
    }
    *pp = p + 2;
    out[0] = c;
    return 1;
}

/* Decode t into dst, which has room for nb_json_string_len bytes. Returns the byte count. */
static size_t decode_into(char *dst, const char *s, const nb_json_tok_t *t)
{
    const unsigned char *p = (const unsigned char *)s + t->start, *end = p + t->len;
    if (!t->has_escapes) {
        memcpy(dst, p, t->len);
        return t->len;
    }
    char *o = dst;
    while (p < end) {
        const unsigned char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t run = bs ? (size_t)(bs - p) : (size_t)(end - p);
        memcpy(o, p, run);
        o += run;
        p += run;
        if (p < end) o += decode_escape(&p, end, o);
    }
    return (size_t)(o - dst);
}

size_t nb_json_string_len(const char *s, const nb_json_tok_t *t)
{
    if (t->type != NB_JSON_STRING) return 0;
    if (!t->has_escapes) return t->len;
    const unsigned char *p = (const unsigned char *)s + t->start, *end = p + t->len;
    size_t n = 0;
    char tmp[4];
    while (p < end) {
        const unsigned char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t run = bs ? (size_t)(bs - p) : (size_t)(end - p);
        n += run;
        p += run;
        if (p < end) n += decode_escape(&p, end, tmp);
    }
    return n;
}

int nb_json_string(nb_buf_t *out, const char *s, const nb_json_tok_t *t)
{
    if (t->type != NB_JSON_STRING) return NB_EINVAL;
    size_t n = nb_json_string_len(s, t);
    int r = nb_buf_reserve(out, n);
    if (r != 0) return r;
    out->len += decode_into(out->data + out->len, s, t);
    out->data[out->len] = '\0';
    return 0;
}

int nb_json_string_to(char *dst, size_t cap, size_t *outlen, const char *s, const nb_json_tok_t *t)
{
    if (t->type != NB_JSON_STRING) return NB_EINVAL;
    size_t n = nb_json_string_len(s, t);
    if (n >= cap) return NB_ETOOBIG;
    decode_into(dst, s, t);
    dst[n] = '\0';
    if (outlen != NULL) *outlen = n;
    return 0;
}

bool nb_json_str_eq(const char *s, const nb_json_tok_t *t, const char *lit)
{
    if (t->type != NB_JSON_STRING) return false;
    size_t n = strlen(lit);
    const unsigned char *p = (const unsigned char *)s + t->start, *end = p + t->len;
    if (!t->has_escapes) return t->len == n && memcmp(p, lit, n) == 0;
    /* Compare while decoding, without a buffer: keys are short but may be escaped ("\u0069d"). */
    size_t i = 0;
    char tmp[4];
    while (p < end) {
        if (*p != '\\') {
            if (i >= n || lit[i] != (char)*p) return false;
            i++;
            p++;
            continue;
        }
        size_t k = decode_escape(&p, end, tmp);
        if (k > n - i || memcmp(lit + i, tmp, k) != 0) return false;
        i += k;
    }
    return i == n;
}

/* ---- numbers ---------------------------------------------------------------------------------- */

int nb_json_int64(const char *s, const nb_json_tok_t *t, int64_t *out)
{
    if (t->type != NB_JSON_NUMBER || t->len == 0) return NB_EINVAL;
    const char *p = s + t->start, *end = p + t->len;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    size_t ndigits = (size_t)(p - digits);
    if (ndigits == 0) return NB_EINVAL;
    if (p < end && *p == '.') return NB_EINVAL; /* a fraction, even ".0", is not an integer on the wire */
    long exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end) return NB_EINVAL;
        while (p < end && *p >= '0' && *p <= '9') {
            if (exp < 100000) /* saturate: anything this large is out of range or zero anyway */
                exp = exp * 10 + (*p - '0');
            p++;
        }
        if (eneg) exp = -exp;
    }
    if (p != end) return NB_EINVAL;

    bool zero = ndigits == 1 && digits[0] == '0'; /* JSON has no other spelling of a zero mantissa */
    if (zero) {
        *out = 0;
        return 0;
    }
    if (exp < 0) {
        /* 1200e-2 is 12: the dropped digits must all be zeros. */
        if ((size_t)-exp >= ndigits) return NB_EINVAL;
        for (size_t i = ndigits - (size_t)-exp; i < ndigits; i++)
            if (digits[i] != '0') return NB_EINVAL;
        ndigits -= (size_t)-exp;
        exp = 0;
    }
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (size_t i = 0; i < ndigits + (size_t)exp; i++) {
        unsigned d = i < ndigits ? (unsigned)(digits[i] - '0') : 0;
        if (v > (limit - d) / 10) return NB_EINVAL;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* ---- objects ---------------------------------------------------------------------------------- */

uint32_t nb_json_obj_get(const char *s, const nb_json_tok_t *toks, uint32_t obj, const char *key)
{
    if (toks[obj].type != NB_JSON_OBJECT) return 0;
    uint32_t i = obj + 1;
    for (uint32_t k = 0; k < toks[obj].size; k++) {
        if (nb_json_str_eq(s, &toks[i], key)) return i + 1;
        i = toks[i + 1].next;
    }
    return 0;
}

/* ---- NIP-01 writer ---------------------------------------------------------------------------- */

/*
 * Escape class of each byte for NIP-01 (what JSON.stringify emits): 0 verbatim, 'u' for \u00XX,
 * otherwise the letter that follows the backslash.
 */
static const char escape_class[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u', 'u',  'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 0,   0,   '"', 0,    0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   '\\',
};

/* Nonzero when one of the 8 bytes in v has an escape class: '"', '\\' or below 0x20. Exact as a
 * whole-word answer (the same tests as scan_string's). */
static uint64_t needs_escape8(uint64_t v)
{
    return has_zero(v ^ (ONES * '"')) | has_zero(v ^ (ONES * '\\')) | ((v - ONES * 0x20) & ~v & HIGHS);
}

int nb_json_write_string(nb_buf_t *out, const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    /* Size first, so the buffer is either fully written or untouched. */
    size_t need = len + 2;
    for (size_t i = 0; i < len;) {
        /* Runs without '"', '\\' or control bytes (nearly all text) are skipped a word at a time. */
        if (len - i >= 8 && !needs_escape8(load8(s + i))) {
            i += 8;
            continue;
        }
        char c = escape_class[s[i++]];
        if (c != 0) need += c == 'u' ? 5 : 1;
    }
    int r = nb_buf_reserve(out, need);
    if (r != 0) return r;
    char *o = out->data + out->len;
    *o++ = '"';
    if (need == len + 2) {
        memcpy(o, p, len);
        o += len;
    } else {
        static const char hexd[16] = "0123456789abcdef";
        size_t i = 0;
        while (i < len) {
            size_t j = i;
            while (len - j >= 8 && !needs_escape8(load8(s + j)))
                j += 8;
            while (j < len && escape_class[s[j]] == 0)
                j++;
            memcpy(o, p + i, j - i);
            o += j - i;
            if (j == len) break;
            char c = escape_class[s[j]];
            *o++ = '\\';
            if (c == 'u') {
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hexd[s[j] >> 4];
                *o++ = hexd[s[j] & 0xf];
            } else {
                *o++ = c;
            }
            i = j + 1;
        }
    }
    *o++ = '"';
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}
