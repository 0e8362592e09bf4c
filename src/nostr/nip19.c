/*
 * nip19.c — NIP-19 entities on top of bech32.c.
 *
 * The decoded payload goes through a stack buffer that is wiped before returning, because it may
 * be an nsec. TLV payloads are parsed strictly: a TLV that runs past the end, a known TLV with the
 * wrong length, a repeated single-valued TLV or a missing required one is NB_ENIP19_TLV; unknown
 * TLV types are skipped ("TLVs that are not recognized or supported should be ignored").
 */
#include "bridge/nip19.h"

#include "bridge/bech32.h"
#include "bridge/err.h"
#include "bridge/mem.h"

#include <string.h>
#include <strings.h>

/* The largest payload a NB_BECH32_MAX_LEN string can carry (shortest hrp is one char). */
#define MAX_PAYLOAD ((NB_BECH32_MAX_LEN - 8) * 5 / 8)
/* The largest TLV payload the encoder can build from an nb_nip19_t (the limit then decides). */
#define MAX_TLV_BUILD (3 * (2 + 255) + NB_NIP19_MAX_RELAYS * (2 + NB_NIP19_MAX_RELAY_LEN) + 6)

enum { TLV_SPECIAL = 0, TLV_RELAY = 1, TLV_AUTHOR = 2, TLV_KIND = 3 };

static const char *const prefixes[] = {
    [NB_NIP19_NPUB] = "npub",         [NB_NIP19_NSEC] = "nsec",     [NB_NIP19_NOTE] = "note",
    [NB_NIP19_NPROFILE] = "nprofile", [NB_NIP19_NEVENT] = "nevent", [NB_NIP19_NADDR] = "naddr",
};

static bool is_tlv_type(nb_nip19_type_t t)
{
    return t == NB_NIP19_NPROFILE || t == NB_NIP19_NEVENT || t == NB_NIP19_NADDR;
}

static bool is_bare_type(nb_nip19_type_t t)
{
    return t == NB_NIP19_NPUB || t == NB_NIP19_NSEC || t == NB_NIP19_NOTE;
}

static nb_nip19_type_t type_of_hrp(const char *hrp)
{
    for (int t = NB_NIP19_NPUB; t <= NB_NIP19_NADDR; t++)
        if (strcmp(hrp, prefixes[t]) == 0) return (nb_nip19_type_t)t;
    return 0;
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Relay hints are ASCII URLs that end up in C strings: control bytes (NUL above all) are malformed. */
static bool relay_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f) return false;
    return true;
}

static int parse_tlv(nb_nip19_t *out, const uint8_t *p, size_t n)
{
    bool has_special = false;
    size_t i = 0;
    while (i < n) {
        if (n - i < 2) return NB_ENIP19_TLV;
        uint8_t t = p[i], l = p[i + 1];
        const uint8_t *v = p + i + 2;
        if (n - i - 2 < l) return NB_ENIP19_TLV;
        i += 2 + (size_t)l;

        switch (t) {
        case TLV_SPECIAL:
            if (has_special) return NB_ENIP19_TLV;
            has_special = true;
            if (out->type == NB_NIP19_NADDR) {
                if (memchr(v, 0, l) != NULL) return NB_ENIP19_TLV; /* the d-tag must survive as a C string */
                memcpy(out->ident, v, l);                          /* l <= 255 == NB_NIP19_MAX_IDENT */
                out->ident[l] = '\0';
                out->ident_len = l;
            } else {
                if (l != 32) return NB_ENIP19_TLV;
                memcpy(out->bytes, v, 32);
            }
            break;
        case TLV_RELAY:
            if (!relay_ok(v, l)) return NB_ENIP19_TLV;
            /* Empty hints carry nothing; hints past the maximum are dropped, as the header says. */
            if (l > 0 && out->n_relays < NB_NIP19_MAX_RELAYS) {
                memcpy(out->relays[out->n_relays], v, l); /* l <= 255 == NB_NIP19_MAX_RELAY_LEN */
                out->relays[out->n_relays][l] = '\0';
                out->n_relays++;
            }
            break;
        case TLV_AUTHOR:
            if (out->type == NB_NIP19_NPROFILE)
                break; /* not defined for nprofile: ignored like any unknown type */
            if (out->has_author || l != 32) return NB_ENIP19_TLV;
            memcpy(out->author, v, 32);
            out->has_author = true;
            break;
        case TLV_KIND:
            if (out->type == NB_NIP19_NPROFILE) break;
            if (out->has_kind || l != 4) return NB_ENIP19_TLV;
            out->kind = load_be32(v);
            out->has_kind = true;
            break;
        default:
            break;
        }
    }
    if (!has_special) return NB_ENIP19_TLV;
    if (out->type == NB_NIP19_NADDR && !(out->has_author && out->has_kind)) return NB_ENIP19_TLV;
    return 0;
}

/* Decode s into out; when want is not 0 the prefix must be that type's (checked before the payload). */
static int decode(nb_nip19_t *out, nb_nip19_type_t want, const char *s, size_t len)
{
    uint8_t payload[MAX_PAYLOAD];
    char hrp[NB_BECH32_MAX_HRP + 1];
    size_t n = 0;
    nb_nip19_type_t type;
    int rc;

    memset(out, 0, sizeof *out);
    /* NIP-21 URIs; the scheme is case-insensitive (RFC 3986). */
    if (len >= 6 && strncasecmp(s, "nostr:", 6) == 0) {
        s += 6;
        len -= 6;
    }
    if ((rc = nb_bech32_decode(hrp, payload, sizeof payload, &n, s, len)) != 0) goto out;
    type = type_of_hrp(hrp);
    if (type == 0 || (want != 0 && type != want)) {
        rc = NB_EBECH32_HRP;
        goto out;
    }
    out->type = type;
    if (is_bare_type(type)) {
        if (n != 32) {
            rc = NB_ENIP19_LEN;
            goto out;
        }
        memcpy(out->bytes, payload, 32);
    } else {
        rc = parse_tlv(out, payload, n);
    }
out:
    nb_memwipe(payload, sizeof payload);
    if (rc != 0) nb_memwipe(out, sizeof *out);
    return rc;
}

int nb_nip19_decode(nb_nip19_t *out, const char *s, size_t len)
{
    return decode(out, 0, s, len);
}

int nb_nip19_decode_as(nb_nip19_type_t type, uint8_t out[32], const char *s, size_t len)
{
    if (!is_bare_type(type) && type != NB_NIP19_NPROFILE && type != NB_NIP19_NEVENT)
        return NB_EINVAL; /* naddr has no 32-byte value to return */
    nb_nip19_t e;
    int rc = decode(&e, type, s, len);
    if (rc == 0) memcpy(out, e.bytes, 32);
    nb_memwipe(&e, sizeof e);
    return rc;
}

int nb_nip19_encode32(char *out, size_t outcap, nb_nip19_type_t type, const uint8_t bytes[32])
{
    if (!is_bare_type(type)) return NB_EINVAL;
    return nb_bech32_encode(out, outcap, prefixes[type], bytes, 32);
}

static uint8_t *put_tlv(uint8_t *p, uint8_t t, const void *v, size_t l)
{
    p[0] = t;
    p[1] = (uint8_t)l;
    memcpy(p + 2, v, l);
    return p + 2 + l;
}

int nb_nip19_encode(char *out, size_t outcap, const nb_nip19_t *e)
{
    uint8_t buf[MAX_TLV_BUILD];
    uint8_t *p = buf;

    if (!is_tlv_type(e->type) || e->n_relays > NB_NIP19_MAX_RELAYS) return NB_EINVAL;
    if (e->type == NB_NIP19_NADDR && !(e->has_author && e->has_kind)) return NB_EINVAL;

    /* The TLV order of go-nostr (special, relays, author, kind), so that our
     * strings are byte-identical to theirs. */
    if (e->type == NB_NIP19_NADDR) {
        if (e->ident_len > NB_NIP19_MAX_IDENT || memchr(e->ident, 0, e->ident_len) != NULL) return NB_EINVAL;
        p = put_tlv(p, TLV_SPECIAL, e->ident, e->ident_len);
    } else {
        p = put_tlv(p, TLV_SPECIAL, e->bytes, 32);
    }
    for (size_t i = 0; i < e->n_relays; i++) {
        size_t l = strnlen(e->relays[i], NB_NIP19_MAX_RELAY_LEN + 1);
        if (l > NB_NIP19_MAX_RELAY_LEN || !relay_ok((const uint8_t *)e->relays[i], l)) return NB_EINVAL;
        if (l > 0) /* the decoder skips empty hints, so never write one */
            p = put_tlv(p, TLV_RELAY, e->relays[i], l);
    }
    if (e->type != NB_NIP19_NPROFILE && e->has_author) p = put_tlv(p, TLV_AUTHOR, e->author, 32);
    if (e->type != NB_NIP19_NPROFILE && e->has_kind) {
        uint8_t k[4] = {(uint8_t)(e->kind >> 24), (uint8_t)(e->kind >> 16), (uint8_t)(e->kind >> 8),
                        (uint8_t)e->kind};
        p = put_tlv(p, TLV_KIND, k, 4);
    }
    return nb_bech32_encode(out, outcap, prefixes[e->type], buf, (size_t)(p - buf));
}
