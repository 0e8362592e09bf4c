/*
 * bech32.c — BIP-173 bech32 with 8-bit payloads, as NIP-19 uses it.
 *
 * Neither direction allocates: the encoder writes characters straight into the caller's buffer
 * while it feeds the checksum, the decoder regroups 5-bit values into bytes in the same pass that
 * checks the checksum. Only the length limit differs from BIP-173 (NB_BECH32_MAX_LEN, not 90).
 */
#include "bridge/bech32.h"

#include "bridge/err.h"

#include <stdbool.h>
#include <string.h>

#define CHECKSUM_LEN 6

static const char charset[32] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/* charset[] inverted for lowercase ASCII, plus one so that 0 (the default) means "not in the set". */
static const int8_t rev[128] = {
    ['q'] = 1,  ['p'] = 2,  ['z'] = 3,  ['r'] = 4,  ['y'] = 5,  ['9'] = 6,  ['x'] = 7,  ['8'] = 8,
    ['g'] = 9,  ['f'] = 10, ['2'] = 11, ['t'] = 12, ['v'] = 13, ['d'] = 14, ['w'] = 15, ['0'] = 16,
    ['s'] = 17, ['3'] = 18, ['j'] = 19, ['n'] = 20, ['5'] = 21, ['4'] = 22, ['k'] = 23, ['h'] = 24,
    ['c'] = 25, ['e'] = 26, ['6'] = 27, ['m'] = 28, ['u'] = 29, ['a'] = 30, ['7'] = 31, ['l'] = 32};

/* One step of the BCH checksum over GF(32) (BIP-173 "bech32_polymod"). */
static uint32_t polymod_step(uint32_t chk, uint8_t v)
{
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    if (top & 1) chk ^= 0x3b6a57b2;
    if (top & 2) chk ^= 0x26508e6d;
    if (top & 4) chk ^= 0x1ea119fa;
    if (top & 8) chk ^= 0x3d4233dd;
    if (top & 16) chk ^= 0x2a1462b3;
    return chk;
}

/* The checksum state after the expanded hrp: high bits of each char, a zero, low bits of each. */
static uint32_t polymod_hrp(const char *hrp, size_t n)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (uint8_t)((unsigned char)hrp[i] >> 5));
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (uint8_t)((unsigned char)hrp[i] & 31));
    return chk;
}

int nb_bech32_encode(char *out, size_t outcap, const char *hrp, const uint8_t *data, size_t len)
{
    size_t hrplen = strnlen(hrp, NB_BECH32_MAX_HRP + 1);
    if (hrplen == 0 || hrplen > NB_BECH32_MAX_HRP) return NB_EINVAL;
    for (size_t i = 0; i < hrplen; i++) {
        unsigned char c = (unsigned char)hrp[i];
        if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z')) return NB_EINVAL;
    }
    /* Checked before the multiplication below so that it cannot overflow. */
    if (len > NB_BECH32_MAX_LEN) return NB_ETOOBIG;
    size_t ngroups = (len * 8 + 4) / 5;
    size_t total = hrplen + 1 + ngroups + CHECKSUM_LEN;
    if (total > NB_BECH32_MAX_LEN || total >= outcap) return NB_ETOOBIG;

    memcpy(out, hrp, hrplen);
    out[hrplen] = '1';
    char *p = out + hrplen + 1;
    uint32_t chk = polymod_hrp(hrp, hrplen);
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = ((acc << 8) | data[i]) & 0xfff; /* at most 4 + 8 bits are ever pending */
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            uint8_t v = (uint8_t)((acc >> bits) & 31);
            chk = polymod_step(chk, v);
            *p++ = charset[v];
        }
    }
    if (bits > 0) { /* pad the last group with zero bits */
        uint8_t v = (uint8_t)((acc << (5 - bits)) & 31);
        chk = polymod_step(chk, v);
        *p++ = charset[v];
    }
    for (int i = 0; i < CHECKSUM_LEN; i++)
        chk = polymod_step(chk, 0);
    chk ^= 1;
    for (int i = 0; i < CHECKSUM_LEN; i++)
        *p++ = charset[(chk >> (5 * (CHECKSUM_LEN - 1 - i))) & 31];
    *p = '\0';
    return 0;
}

int nb_bech32_decode(char *hrp, uint8_t *data, size_t datacap, size_t *datalen, const char *s, size_t len)
{
    *datalen = 0;
    if (len > NB_BECH32_MAX_LEN) return NB_ETOOBIG;

    /* BIP-173: every character in 33..126, and all of one case. */
    bool lower = false, upper = false;
    size_t sep = len; /* the last '1': the hrp may itself contain '1' */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126) return NB_EBECH32;
        if (c >= 'a' && c <= 'z')
            lower = true;
        else if (c >= 'A' && c <= 'Z')
            upper = true;
        else if (c == '1')
            sep = i;
    }
    if (lower && upper) return NB_EBECH32_CASE;
    if (sep == len || sep == 0) return NB_EBECH32;       /* no separator, or an empty hrp */
    if (len - sep - 1 < CHECKSUM_LEN) return NB_EBECH32; /* the data part cannot even hold the checksum */
    if (sep > NB_BECH32_MAX_HRP) return NB_ETOOBIG;

    for (size_t i = 0; i < sep; i++) {
        char c = s[i];
        hrp[i] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
    }
    hrp[sep] = '\0';

    size_t nvalues = len - sep - 1 - CHECKSUM_LEN;
    if (nvalues * 5 / 8 > datacap) return NB_ETOOBIG;

    uint32_t chk = polymod_hrp(hrp, sep);
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;
    for (size_t i = sep + 1; i < len; i++) {
        int v = rev[(unsigned char)s[i] | 0x20] - 1; /* all one case, so folding to lower is safe */
        if (v < 0) return NB_EBECH32;
        chk = polymod_step(chk, (uint8_t)v);
        if (i >= len - CHECKSUM_LEN) continue; /* checksum characters carry no data */
        acc = ((acc << 5) | (uint32_t)v) & 0xfff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            data[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (chk != 1) return NB_EBECH32_CHECKSUM;
    /* BIP-173: "Any incomplete group at the end MUST be 4 bits or less, MUST be all zeroes". */
    if (bits > 4 || (acc & ((1u << bits) - 1)) != 0) return NB_EBECH32;
    *datalen = n;
    return 0;
}
