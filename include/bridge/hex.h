/*
 * hex.h — lowercase hex encoding, strict decoding.
 */
#ifndef BRIDGE_HEX_H
#define BRIDGE_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Write 2*n lowercase hex digits and a NUL into out (capacity >= 2*n+1). */
void nb_hex_encode(char *out, const uint8_t *in, size_t n);

/**
 * Decode exactly outlen bytes from hex[0..hexlen). Upper- and lowercase digits are accepted.
 * 0, NB_EHEXLEN (hexlen != 2*outlen) or NB_EHEX (a non-hex character). On error out is
 * unspecified.
 */
int nb_hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen);

/**
 * nb_hex_decode for public data on the wire (event ids, pubkeys, signatures): only lowercase
 * digits are accepted (NIP-01), so this is nb_hex_is_lower + nb_hex_decode in one pass. The
 * same results, but by table lookup: its timing depends on the digits, so never use it for
 * secrets.
 */
int nb_hex_decode_lower(uint8_t *out, size_t outlen, const char *hex, size_t hexlen);

/** True when hex[0..len) is exactly len lowercase hex digits (what NIP-01 requires on the wire). */
bool nb_hex_is_lower(const char *hex, size_t len);

#endif
