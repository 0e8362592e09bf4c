/*
 * nip19.h — NIP-19 entities: npub / nsec / note (32 bytes) and nprofile / nevent / naddr (TLV).
 *
 * naddr is how people share a TENEX project ("31933:<owner>:<d-tag>"): accept it wherever a
 * project is named. Decoding is strict: wrong prefix, wrong length, bad checksum, mixed case and
 * malformed TLV are errors. nsec strings are secrets: callers must never log them.
 */
#ifndef BRIDGE_NIP19_H
#define BRIDGE_NIP19_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_NIP19_MAX_RELAYS 16
#define NB_NIP19_MAX_RELAY_LEN 255
#define NB_NIP19_MAX_IDENT 255

typedef enum {
    NB_NIP19_NPUB = 1,
    NB_NIP19_NSEC,
    NB_NIP19_NOTE,
    NB_NIP19_NPROFILE,
    NB_NIP19_NEVENT,
    NB_NIP19_NADDR,
} nb_nip19_type_t;

typedef struct {
    nb_nip19_type_t type;
    /* npub/nprofile: the pubkey; nsec: the secret; note/nevent: the event id; naddr: unused */
    uint8_t bytes[32];
    bool has_author; /* nevent (optional TLV 2), naddr (required) */
    uint8_t author[32];
    bool has_kind; /* nevent (optional TLV 3), naddr (required) */
    uint32_t kind;
    size_t ident_len; /* naddr: the d-tag (TLV 0), may be empty; ident is NUL-terminated */
    char ident[NB_NIP19_MAX_IDENT + 1];
    size_t n_relays; /* relay hints (TLV 1), extra ones beyond the max are dropped */
    char relays[NB_NIP19_MAX_RELAYS][NB_NIP19_MAX_RELAY_LEN + 1];
} nb_nip19_t;

/**
 * Decode any NIP-19 entity (an optional "nostr:" URI prefix is accepted). Unknown TLV types
 * are ignored as NIP-19 requires; missing required TLVs, a repeated single-valued TLV (0, 2, 3),
 * a control byte in a relay hint or a NUL in a d-tag are NB_ENIP19_TLV. Empty relay hints are
 * skipped. On error *out is all zero. On an nsec the caller must wipe out->bytes when done.
 */
int nb_nip19_decode(nb_nip19_t *out, const char *s, size_t len);

/**
 * Decode s, which must be of the given type (else NB_EBECH32_HRP, checked before the payload), into
 * its 32-byte value: npub/nsec/note → the payload, nprofile → the pubkey, nevent → the event id.
 * NB_EINVAL for NB_NIP19_NADDR, which has no such value.
 */
int nb_nip19_decode_as(nb_nip19_type_t type, uint8_t out[32], const char *s, size_t len);

/**
 * Encode 32 bytes as npub / nsec / note. out needs >= 64 bytes (63 chars + NUL).
 * 0, NB_EINVAL (not one of those types) or NB_ETOOBIG.
 */
int nb_nip19_encode32(char *out, size_t outcap, nb_nip19_type_t type, const uint8_t bytes[32]);

/**
 * Encode an nprofile / nevent / naddr from e (fields as in the decode result; TLVs in the order
 * 0, 1…, 2, 3 as go-nostr writes them; empty relay hints are left out; has_author/has_kind are ignored for
 * nprofile). 0, NB_EINVAL (type or fields) or NB_ETOOBIG.
 */
int nb_nip19_encode(char *out, size_t outcap, const nb_nip19_t *e);

#endif
