/*
 * hex.c — lowercase hex out, strict hex in.
 *
 * nb_hex_decode is branch-free per character: it also decodes secret keys, and a table lookup or
 * an if-chain on the digit value would let the timing depend on the secret. nb_hex_decode_lower
 * is for what every event carries in public (id, pubkey, sig: 128 bytes per event on the relay
 * path): a table lookup, several times cheaper per character (see docs/benchmarks.md, "Hot-path
 * profile").
 */
#include "bridge/hex.h"

#include "bridge/err.h"

static const char digits[16] = "0123456789abcdef";

/* The value of hex digit c (0..15), or -1 when c is not a hex digit. No data-dependent branches. */
static int nibble(uint8_t c)
{
    int digit = (int)c - '0';
    int letter = (int)(c | 0x20) - 'a'; /* folds 'A'..'F' onto 'a'..'f' */
    int is_digit = (digit >= 0) & (digit <= 9);
    int is_letter = (letter >= 0) & (letter <= 5);
    return (digit & -is_digit) | ((letter + 10) & -is_letter) | ((is_digit | is_letter) - 1);
}

void nb_hex_encode(char *out, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int nb_hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen)
{
    if (hexlen % 2 != 0 || hexlen / 2 != outlen) return NB_EHEXLEN;
    int bad = 0;
    for (size_t i = 0; i < outlen; i++) {
        int hi = nibble((uint8_t)hex[2 * i]);
        int lo = nibble((uint8_t)hex[2 * i + 1]);
        bad |= hi | lo; /* negative as soon as one character was not a digit */
        out[i] = (uint8_t)(((unsigned)hi << 4) | (unsigned)lo); /* garbage on error, never UB */
    }
    return bad < 0 ? NB_EHEX : 0;
}

/* 1 + the value of lowercase hex digit c; 0 for anything else (uppercase too). */
static const uint8_t lower_value1[256] = {
    ['0'] = 1, ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

int nb_hex_decode_lower(uint8_t *out, size_t outlen, const char *hex, size_t hexlen)
{
    if (hexlen % 2 != 0 || hexlen / 2 != outlen) return NB_EHEXLEN;
    unsigned bad = 0;
    for (size_t i = 0; i < outlen; i++) {
        unsigned hi = (unsigned)lower_value1[(uint8_t)hex[2 * i]] - 1u;
        unsigned lo = (unsigned)lower_value1[(uint8_t)hex[2 * i + 1]] - 1u;
        bad |= hi | lo; /* > 15 (wrapped) as soon as one character was not a lowercase digit */
        out[i] = (uint8_t)((hi << 4) | (lo & 0x0f)); /* garbage on error */
    }
    return bad > 15 ? NB_EHEX : 0;
}

bool nb_hex_is_lower(const char *hex, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}
