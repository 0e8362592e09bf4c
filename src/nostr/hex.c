/*
 * hex.c — lowercase hex out, strict hex in.
 *
 * The decoder is branch-free per character: it also decodes secret keys, and a table lookup or
 * an if-chain on the digit value would let the timing depend on the secret.
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

bool nb_hex_is_lower(const char *hex, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}
