/*
 * fuzz_nip19.c — libFuzzer driver for nb_bech32_decode and nb_nip19_decode.
 *
 * The raw input is the string. Whatever decodes must encode back: bech32 to the very same string
 * (in lowercase: the 8-to-5 regrouping with strict padding is a bijection), NIP-19 entities to a
 * string that decodes to the same entity (unknown TLVs and empty relay hints are dropped on the way,
 * so the strings may differ). A mismatch aborts. The raw bytes are also tried as the payload of each
 * entity type, which is how the fuzzer reaches the TLV parser.
 *
 *   build-fuzz/tests/fuzz/fuzz_nip19 tests/fuzz/corpus/nip19 -max_total_time=60
 */
#include "bridge/bech32.h"
#include "bridge/nip19.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_nip19: %s\n", what);
    abort();
}

static bool same_entity(const nb_nip19_t *a, const nb_nip19_t *b)
{
    if (a->type != b->type || a->has_author != b->has_author || a->has_kind != b->has_kind ||
        a->n_relays != b->n_relays)
        return false;
    if (a->type == NB_NIP19_NADDR) {
        if (a->ident_len != b->ident_len || memcmp(a->ident, b->ident, a->ident_len) != 0) return false;
    } else if (memcmp(a->bytes, b->bytes, 32) != 0) {
        return false;
    }
    if (a->has_author && memcmp(a->author, b->author, 32) != 0) return false;
    if (a->has_kind && a->kind != b->kind) return false;
    for (size_t i = 0; i < a->n_relays; i++)
        if (strcmp(a->relays[i], b->relays[i]) != 0) return false;
    return true;
}

/* Invariants of any successful decode, whatever the input. */
static void check_entity(const nb_nip19_t *e)
{
    if (e->type < NB_NIP19_NPUB || e->type > NB_NIP19_NADDR) fail("decoded type out of range");
    if (e->n_relays > NB_NIP19_MAX_RELAYS || e->ident_len > NB_NIP19_MAX_IDENT)
        fail("decoded counts out of range");
    if (e->type == NB_NIP19_NADDR && (!e->has_author || !e->has_kind || strlen(e->ident) != e->ident_len))
        fail("naddr without author/kind, or a d-tag with a NUL");
    for (size_t i = 0; i < e->n_relays; i++) {
        size_t l = strnlen(e->relays[i], NB_NIP19_MAX_RELAY_LEN + 1);
        if (l == 0 || l > NB_NIP19_MAX_RELAY_LEN) fail("bad relay hint length");
    }
}

static void fuzz_bech32(const char *s, size_t size)
{
    static uint8_t payload[NB_BECH32_MAX_LEN];
    static char enc[NB_BECH32_MAX_LEN + 1];
    char hrp[NB_BECH32_MAX_HRP + 1];
    size_t n = 0;

    if (nb_bech32_decode(hrp, payload, sizeof payload, &n, s, size) != 0) return;
    if (nb_bech32_encode(enc, sizeof enc, hrp, payload, n) != 0)
        fail("bech32: decoded but does not re-encode");
    if (strlen(enc) != size || strncasecmp(enc, s, size) != 0) fail("bech32: round trip changed the string");
}

static void fuzz_nip19(const char *s, size_t size)
{
    static nb_nip19_t e, e2;
    static char enc[NB_BECH32_MAX_LEN + 1];
    int rc;

    if (nb_nip19_decode(&e, s, size) != 0) return;
    check_entity(&e);
    if (e.type <= NB_NIP19_NOTE) {
        rc = nb_nip19_encode32(enc, sizeof enc, e.type, e.bytes);
        /* bare entities are canonical: the same string without its "nostr:" */
        const char *body = size >= 6 && strncasecmp(s, "nostr:", 6) == 0 ? s + 6 : s;
        size_t blen = size - (size_t)(body - s);
        if (rc == 0 && (strlen(enc) != blen || strncasecmp(enc, body, blen) != 0))
            fail("nip19: bare entity round trip changed the string");
    } else {
        rc = nb_nip19_encode(enc, sizeof enc, &e);
    }
    if (rc != 0) fail("nip19: decoded but does not re-encode");
    if (nb_nip19_decode(&e2, enc, strlen(enc)) != 0) fail("nip19: our own encoding does not decode");
    if (!same_entity(&e, &e2)) fail("nip19: round trip changed the entity");

    uint8_t b[32];
    if (e.type != NB_NIP19_NADDR) {
        if (nb_nip19_decode_as(e.type, b, s, size) != 0 || memcmp(b, e.bytes, 32) != 0)
            fail("nip19: decode_as disagrees with decode");
    }
}

/* The checksum keeps random mutations from ever reaching the TLV parser: so also wrap the raw bytes
 * as the payload of each entity type and decode that, with the same round-trip checks. */
static void fuzz_payload(const uint8_t *data, size_t size)
{
    static const char *const hrps[] = {"npub", "nsec", "nprofile", "nevent", "naddr"};
    static char s[NB_BECH32_MAX_LEN + 1];
    for (size_t i = 0; i < sizeof hrps / sizeof hrps[0]; i++)
        if (nb_bech32_encode(s, sizeof s, hrps[i], data, size) == 0) fuzz_nip19(s, strlen(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy, exactly size bytes long: ASan catches any read past (s, size). */
    char *s = malloc(size ? size : 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    fuzz_bech32(s, size);
    fuzz_nip19(s, size);
    free(s);
    fuzz_payload(data, size);
    return 0;
}
