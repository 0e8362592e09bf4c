/*
 * bech32.h — BIP-173 bech32 (not bech32m), as NIP-19 uses it.
 *
 * NIP-19 strings are longer than BIP-173's 90-character limit (TLV entities carry relay URLs),
 * so the limit here is NB_BECH32_MAX_LEN.
 */
#ifndef BRIDGE_BECH32_H
#define BRIDGE_BECH32_H

#include <stddef.h>
#include <stdint.h>

#define NB_BECH32_MAX_LEN 5000
#define NB_BECH32_MAX_HRP 83

/**
 * Encode hrp (lowercase ASCII, 1..83 chars) and 8-bit data into out (NUL-terminated,
 * lowercase). 0, NB_EINVAL (bad hrp) or NB_ETOOBIG (out too small or result over the limit).
 */
int nb_bech32_encode(char *out, size_t outcap, const char *hrp, const uint8_t *data, size_t len);

/**
 * Decode s[0..len) into hrp (NUL-terminated, lowercased; capacity NB_BECH32_MAX_HRP+1) and 8-bit
 * data (capacity datacap; *datalen set). Strict: all one case (else NB_EBECH32_CASE), valid
 * charset and separator (NB_EBECH32), checksum (NB_EBECH32_CHECKSUM), zero padding bits of at
 * most 4 bits (NB_EBECH32), length limits (NB_ETOOBIG).
 */
int nb_bech32_decode(char *hrp, uint8_t *data, size_t datacap, size_t *datalen, const char *s, size_t len);

#endif
