/*
 * test_nip19.c — bech32 (BIP-173) and NIP-19 entities: vectors, round trips, every error class.
 */
#include "test.h"

#include "bridge/bech32.h"
#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/nip19.h"

#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

#define MAX_DATA 3200

#define CHECK_ERR(expr, code)                                                                                \
    do {                                                                                                     \
        int rc_ = (expr);                                                                                    \
        if (rc_ != (code)) NB_FAIL_("%s: %s, expected %s", #expr, nb_err_name(rc_), nb_err_name(code));      \
    } while (0)

/* ---- helpers ---------------------------------------------------------------------------------- */

static void lower(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[n] = '\0';
}

/* Decode "\xNN" escapes of a vector string in place; returns the length. */
static size_t unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] == '\\' && s[i + 1] == 'x' && isxdigit((unsigned char)s[i + 2]) &&
            isxdigit((unsigned char)s[i + 3])) {
            char h[3] = {s[i + 2], s[i + 3], 0};
            s[o++] = (char)strtol(h, NULL, 16);
            i += 3;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

/* The error code whose nb_err_name() is name, or 1 when there is none (never a valid result). */
static int err_by_name(const char *name)
{
    for (int e = NB_ERR__FIRST + 1; e < NB_ERR__LAST; e++)
        if (strcmp(nb_err_name(e), name) == 0) return e;
    return 1;
}

static FILE *open_vectors(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", NB_VECTORS_DIR, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) fprintf(stderr, "cannot open %s\n", path);
    return f;
}

/* Split a line into whitespace-separated tokens; returns their count. */
static int tokenize(char *line, char **tok, int max)
{
    int n = 0;
    for (char *t = strtok(line, " \t\r\n"); t != NULL && n < max; t = strtok(NULL, " \t\r\n"))
        tok[n++] = t;
    return n;
}

/* ---- bech32 ----------------------------------------------------------------------------------- */

static void test_bech32_vectors(void)
{
    FILE *f = open_vectors("bech32.txt");
    NB_REQUIRE(f != NULL);
    char line[8192];
    int nvalid = 0, ninvalid = 0, lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *tok[8];
        int n = tokenize(line, tok, 8);
        if (n == 0 || tok[0][0] == '#') continue;
        size_t len = unescape(tok[0]);
        char hrp[NB_BECH32_MAX_HRP + 1];
        uint8_t data[MAX_DATA];
        size_t dlen = 99;
        int rc = nb_bech32_decode(hrp, data, sizeof data, &dlen, tok[0], len);
        if (strncmp(tok[1], "err=", 4) == 0) {
            ninvalid++;
            int want = err_by_name(tok[1] + 4);
            if (rc != want) NB_FAIL_("bech32.txt:%d: got %s, want %s", lineno, nb_err_name(rc), tok[1] + 4);
            continue;
        }
        nvalid++;
        if (rc != 0 || n != 3) {
            NB_FAIL_("bech32.txt:%d: got %s", lineno, nb_err_name(rc));
            continue;
        }
        const char *want_hrp = tok[1] + 4, *want_hex = tok[2] + 5;
        char got_hex[2 * MAX_DATA + 1];
        nb_hex_encode(got_hex, data, dlen);
        if (strcmp(hrp, want_hrp) != 0 || strcmp(got_hex, want_hex) != 0)
            NB_FAIL_("bech32.txt:%d: got %s / %s", lineno, hrp, got_hex);
        /* and back: the same string, in lowercase */
        char enc[NB_BECH32_MAX_LEN + 1], low[NB_BECH32_MAX_LEN + 1];
        NB_CHECK_INT(nb_bech32_encode(enc, sizeof enc, hrp, data, dlen), 0);
        lower(low, tok[0], len);
        NB_CHECK_STR(enc, low);
    }
    fclose(f);
    NB_CHECK(nvalid >= 10);
    NB_CHECK(ninvalid >= 15);
}

static void test_bech32_roundtrip_lengths(void)
{
    uint8_t in[300], out[300];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof in; n++) {
        char s[NB_BECH32_MAX_LEN + 1], hrp[NB_BECH32_MAX_HRP + 1];
        size_t got = 0;
        NB_CHECK_INT(nb_bech32_encode(s, sizeof s, "test", in, n), 0);
        NB_CHECK_INT(strlen(s), 4 + 1 + (n * 8 + 4) / 5 + 6);
        NB_CHECK_INT(nb_bech32_decode(hrp, out, sizeof out, &got, s, strlen(s)), 0);
        NB_CHECK_STR(hrp, "test");
        NB_CHECK_INT(got, n);
        NB_CHECK_MEM(out, in, n);
    }
}

static void test_bech32_every_single_char_error_is_caught(void)
{
    uint8_t in[32], out[64];
    char s[128], hrp[NB_BECH32_MAX_HRP + 1];
    size_t n;
    for (int i = 0; i < 32; i++)
        in[i] = (uint8_t)i;
    NB_CHECK_INT(nb_bech32_encode(s, sizeof s, "npub", in, 32), 0);
    size_t len = strlen(s);
    static const char cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    for (size_t pos = 5; pos < len; pos++) {
        char orig = s[pos];
        for (int c = 0; c < 32; c++) {
            if (cs[c] == orig) continue;
            s[pos] = cs[c];
            int rc = nb_bech32_decode(hrp, out, sizeof out, &n, s, len);
            if (rc != NB_EBECH32_CHECKSUM) /* BIP-173 detects any single substitution */
                NB_FAIL_("substitution at %zu not detected: %s", pos, nb_err_name(rc));
        }
        s[pos] = orig;
    }
    /* and a changed hrp */
    s[0] = 'm';
    CHECK_ERR(nb_bech32_decode(hrp, out, sizeof out, &n, s, len), NB_EBECH32_CHECKSUM);
}

static void test_bech32_limits(void)
{
    static uint8_t big[MAX_DATA];
    static char s[NB_BECH32_MAX_LEN + 16];
    char hrp[NB_BECH32_MAX_HRP + 1];
    size_t n;
    memset(big, 0xa5, sizeof big);

    /* 3120 bytes -> 4992 groups; with "a", "1" and the checksum: exactly 5000 characters */
    NB_CHECK_INT(nb_bech32_encode(s, sizeof s, "a", big, 3120), 0);
    NB_CHECK_INT(strlen(s), NB_BECH32_MAX_LEN);
    NB_CHECK_INT(nb_bech32_decode(hrp, big, sizeof big, &n, s, strlen(s)), 0);
    NB_CHECK_INT(n, 3120);
    /* one group more is over the limit */
    CHECK_ERR(nb_bech32_encode(s, sizeof s, "a", big, 3121), NB_ETOOBIG);
    CHECK_ERR(nb_bech32_encode(s, sizeof s, "ab", big, 3120), NB_ETOOBIG);
    /* a decode input over the limit is refused before anything else */
    memset(s, 'q', NB_BECH32_MAX_LEN + 1);
    s[0] = 'a';
    s[1] = '1';
    CHECK_ERR(nb_bech32_decode(hrp, big, sizeof big, &n, s, NB_BECH32_MAX_LEN + 1), NB_ETOOBIG);
    CHECK_ERR(nb_bech32_encode(s, sizeof s, "a", big, (size_t)-1), NB_ETOOBIG);

    /* the caller's buffers */
    uint8_t in[32] = {1, 2, 3};
    char out[64];
    CHECK_ERR(nb_bech32_encode(out, 63, "npub", in, 32), NB_ETOOBIG); /* 63 chars need 64 */
    NB_CHECK_INT(nb_bech32_encode(out, 64, "npub", in, 32), 0);
    uint8_t small[31];
    CHECK_ERR(nb_bech32_decode(hrp, small, sizeof small, &n, out, strlen(out)), NB_ETOOBIG);
    NB_CHECK_INT(n, 0);
}

static void test_bech32_encode_rejects_bad_hrp(void)
{
    char out[128];
    uint8_t d[1] = {0};
    char hrp84[85];
    memset(hrp84, 'a', 84);
    hrp84[84] = '\0';
    CHECK_ERR(nb_bech32_encode(out, sizeof out, "", d, 1), NB_EINVAL);
    CHECK_ERR(nb_bech32_encode(out, sizeof out, "Npub", d, 1), NB_EINVAL);
    CHECK_ERR(nb_bech32_encode(out, sizeof out, "n pub", d, 1), NB_EINVAL);
    CHECK_ERR(nb_bech32_encode(out, sizeof out, "n\x7f", d, 1), NB_EINVAL);
    CHECK_ERR(nb_bech32_encode(out, sizeof out, hrp84, d, 1), NB_EINVAL);
    hrp84[83] = '\0';
    NB_CHECK_INT(nb_bech32_encode(out, sizeof out, hrp84, d, 0), 0);
}

static void test_bech32_decode_odd_inputs(void)
{
    char hrp[NB_BECH32_MAX_HRP + 1];
    uint8_t d[64];
    size_t n;
    CHECK_ERR(nb_bech32_decode(hrp, d, sizeof d, &n, "", 0), NB_EBECH32);
    CHECK_ERR(nb_bech32_decode(hrp, d, sizeof d, &n, "1", 1), NB_EBECH32);
    CHECK_ERR(nb_bech32_decode(hrp, d, sizeof d, &n, "a1", 2), NB_EBECH32);
    CHECK_ERR(nb_bech32_decode(hrp, d, sizeof d, &n, "a1qqqqq", 7), NB_EBECH32); /* 5 < checksum */
    /* an embedded NUL is a character outside 33..126, not an end of string */
    CHECK_ERR(nb_bech32_decode(hrp, d, sizeof d, &n, "a12uel5l\0", 9), NB_EBECH32);
    CHECK_ERR(nb_bech32_decode(hrp, d, sizeof d, &n,
                               "a1\0"
                               "2uel5l",
                               9),
              NB_EBECH32);
    /* only (s, len) is read */
    NB_CHECK_INT(nb_bech32_decode(hrp, d, sizeof d, &n, "a12uel5lXYZ", 8), 0);
}

/* ---- NIP-19 ----------------------------------------------------------------------------------- */

static const char *type_names[] = {
    [NB_NIP19_NPUB] = "npub",         [NB_NIP19_NSEC] = "nsec",     [NB_NIP19_NOTE] = "note",
    [NB_NIP19_NPROFILE] = "nprofile", [NB_NIP19_NEVENT] = "nevent", [NB_NIP19_NADDR] = "naddr"};

static bool check_hex32(const uint8_t got[32], const char *want)
{
    char h[65];
    nb_hex_encode(h, got, 32);
    return strcmp(h, want) == 0;
}

/* Compare a decoded entity with the key=value fields of one vector line. */
static void check_fields(int lineno, const nb_nip19_t *e, char **tok, int n)
{
    bool want_author = false, want_kind = false;
    size_t nrelays = 0;
    for (int i = 1; i < n; i++) {
        const char *t = tok[i];
        if (strncmp(t, "type=", 5) == 0) {
            if (strcmp(type_names[e->type], t + 5) != 0)
                NB_FAIL_("nip19.txt:%d: type %s", lineno, type_names[e->type]);
        } else if (strncmp(t, "hex=", 4) == 0) {
            if (!check_hex32(e->bytes, t + 4)) NB_FAIL_("nip19.txt:%d: wrong 32-byte value", lineno);
        } else if (strncmp(t, "author=", 7) == 0) {
            want_author = true;
            if (!e->has_author || !check_hex32(e->author, t + 7))
                NB_FAIL_("nip19.txt:%d: wrong author", lineno);
        } else if (strncmp(t, "kind=", 5) == 0) {
            want_kind = true;
            if (!e->has_kind || e->kind != strtoul(t + 5, NULL, 10))
                NB_FAIL_("nip19.txt:%d: wrong kind %u", lineno, (unsigned)e->kind);
        } else if (strncmp(t, "ident=", 6) == 0) {
            if (e->ident_len != strlen(t + 6) || strcmp(e->ident, t + 6) != 0)
                NB_FAIL_("nip19.txt:%d: ident \"%s\"", lineno, e->ident);
        } else if (strncmp(t, "relay=", 6) == 0) {
            if (nrelays >= e->n_relays || strcmp(e->relays[nrelays], t + 6) != 0)
                NB_FAIL_("nip19.txt:%d: relay %zu", lineno, nrelays);
            nrelays++;
        } else if (strcmp(t, "noncanonical") != 0) {
            NB_FAIL_("nip19.txt:%d: unknown field %s", lineno, t);
        }
    }
    if (e->has_author != want_author || e->has_kind != want_kind || e->n_relays != nrelays)
        NB_FAIL_("nip19.txt:%d: extra fields (author %d kind %d relays %zu)", lineno, e->has_author,
                 e->has_kind, e->n_relays);
}

static void test_nip19_vectors(void)
{
    FILE *f = open_vectors("nip19.txt");
    NB_REQUIRE(f != NULL);
    char line[8192];
    int nvalid = 0, ninvalid = 0, lineno = 0;
    static nb_nip19_t e;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *tok[40];
        int n = tokenize(line, tok, 40);
        if (n == 0 || tok[0][0] == '#') continue;
        const char *s = tok[0];
        size_t len = strlen(s);
        int rc = nb_nip19_decode(&e, s, len);
        if (n >= 2 && strncmp(tok[1], "err=", 4) == 0) {
            ninvalid++;
            if (rc != err_by_name(tok[1] + 4))
                NB_FAIL_("nip19.txt:%d: got %s, want %s", lineno, nb_err_name(rc), tok[1] + 4);
            continue;
        }
        nvalid++;
        if (rc != 0) {
            NB_FAIL_("nip19.txt:%d: got %s", lineno, nb_err_name(rc));
            continue;
        }
        check_fields(lineno, &e, tok, n);

        /* decode_as agrees for the 32-byte types (and nprofile/nevent) */
        if (e.type != NB_NIP19_NADDR) {
            uint8_t b[32];
            NB_CHECK_INT(nb_nip19_decode_as(e.type, b, s, len), 0);
            NB_CHECK_MEM(b, e.bytes, 32);
        }

        /* encode it back */
        char enc[NB_BECH32_MAX_LEN + 1], low[NB_BECH32_MAX_LEN + 1];
        if (e.type <= NB_NIP19_NOTE)
            rc = nb_nip19_encode32(enc, sizeof enc, e.type, e.bytes);
        else
            rc = nb_nip19_encode(enc, sizeof enc, &e);
        if (rc != 0) {
            NB_FAIL_("nip19.txt:%d: encode: %s", lineno, nb_err_name(rc));
            continue;
        }
        if (strcmp(tok[n - 1], "noncanonical") != 0) {
            const char *body = strncasecmp(s, "nostr:", 6) == 0 ? s + 6 : s;
            lower(low, body, strlen(body));
            if (strcmp(enc, low) != 0) NB_FAIL_("nip19.txt:%d: re-encoded as %s", lineno, enc);
        }
        /* whatever the encoder wrote decodes to the same entity */
        static nb_nip19_t e2;
        NB_CHECK_INT(nb_nip19_decode(&e2, enc, strlen(enc)), 0);
        check_fields(lineno, &e2, tok, n);
    }
    fclose(f);
    NB_CHECK(nvalid >= 15);
    NB_CHECK(ninvalid >= 25);
}

static const char *spec_npub = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg";
static const char *spec_nsec = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5";
static const char *spec_nprofile = "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mh"
                                   "xue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p";

static void test_nip19_decode_as(void)
{
    uint8_t b[32];
    NB_CHECK_INT(nb_nip19_decode_as(NB_NIP19_NPUB, b, spec_npub, strlen(spec_npub)), 0);
    NB_CHECK(check_hex32(b, "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e"));
    NB_CHECK_INT(nb_nip19_decode_as(NB_NIP19_NSEC, b, spec_nsec, strlen(spec_nsec)), 0);
    NB_CHECK(check_hex32(b, "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"));
    NB_CHECK_INT(nb_nip19_decode_as(NB_NIP19_NPROFILE, b, spec_nprofile, strlen(spec_nprofile)), 0);
    NB_CHECK(check_hex32(b, "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"));

    /* the wrong prefix, whichever way round */
    CHECK_ERR(nb_nip19_decode_as(NB_NIP19_NSEC, b, spec_npub, strlen(spec_npub)), NB_EBECH32_HRP);
    CHECK_ERR(nb_nip19_decode_as(NB_NIP19_NPUB, b, spec_nsec, strlen(spec_nsec)), NB_EBECH32_HRP);
    CHECK_ERR(nb_nip19_decode_as(NB_NIP19_NOTE, b, spec_npub, strlen(spec_npub)), NB_EBECH32_HRP);
    CHECK_ERR(nb_nip19_decode_as(NB_NIP19_NPUB, b, spec_nprofile, strlen(spec_nprofile)), NB_EBECH32_HRP);
    /* the prefix is checked before the payload: a malformed nprofile asked for as npub is HRP */
    const char *bad_nprofile = "nprofile1qq0nhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24may2nlp78g";
    CHECK_ERR(nb_nip19_decode(&(nb_nip19_t){0}, bad_nprofile, strlen(bad_nprofile)), NB_ENIP19_TLV);
    CHECK_ERR(nb_nip19_decode_as(NB_NIP19_NPUB, b, bad_nprofile, strlen(bad_nprofile)), NB_EBECH32_HRP);
    /* naddr has no 32-byte value */
    CHECK_ERR(nb_nip19_decode_as(NB_NIP19_NADDR, b, spec_npub, strlen(spec_npub)), NB_EINVAL);
    CHECK_ERR(nb_nip19_decode_as((nb_nip19_type_t)0, b, spec_npub, strlen(spec_npub)), NB_EINVAL);
    CHECK_ERR(nb_nip19_decode_as((nb_nip19_type_t)77, b, spec_npub, strlen(spec_npub)), NB_EINVAL);
}

static void test_nip19_error_clears_output(void)
{
    nb_nip19_t e;
    memset(&e, 0xee, sizeof e);
    /* the spec's nsec with its last character changed */
    char s[80];
    snprintf(s, sizeof s, "%s", spec_nsec);
    s[strlen(s) - 1] = 'q';
    CHECK_ERR(nb_nip19_decode(&e, s, strlen(s)), NB_EBECH32_CHECKSUM);
    uint8_t zero[sizeof e];
    memset(zero, 0, sizeof zero);
    NB_CHECK_MEM(&e, zero, sizeof e);
}

static void test_nip19_encode32(void)
{
    uint8_t b[32];
    char out[64];
    NB_CHECK_INT(nb_hex_decode(b, 32, "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e", 64),
                 0);
    NB_CHECK_INT(nb_nip19_encode32(out, sizeof out, NB_NIP19_NPUB, b), 0);
    NB_CHECK_STR(out, spec_npub);
    CHECK_ERR(nb_nip19_encode32(out, 63, NB_NIP19_NPUB, b), NB_ETOOBIG);
    CHECK_ERR(nb_nip19_encode32(out, sizeof out, NB_NIP19_NPROFILE, b), NB_EINVAL);
    CHECK_ERR(nb_nip19_encode32(out, sizeof out, NB_NIP19_NADDR, b), NB_EINVAL);
    CHECK_ERR(nb_nip19_encode32(out, sizeof out, (nb_nip19_type_t)0, b), NB_EINVAL);
}

static void fill32(uint8_t *b, uint8_t seed)
{
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(seed + i * 7);
}

static void roundtrip(const nb_nip19_t *e)
{
    static char s[NB_BECH32_MAX_LEN + 1];
    static nb_nip19_t d;
    int rc = nb_nip19_encode(s, sizeof s, e);
    if (rc != 0) {
        NB_FAIL_("encode: %s", nb_err_name(rc));
        return;
    }
    rc = nb_nip19_decode(&d, s, strlen(s));
    if (rc != 0) {
        NB_FAIL_("decode: %s", nb_err_name(rc));
        return;
    }
    NB_CHECK_INT(d.type, e->type);
    if (e->type != NB_NIP19_NADDR) NB_CHECK_MEM(d.bytes, e->bytes, 32);
    if (e->type == NB_NIP19_NADDR) {
        NB_CHECK_INT(d.ident_len, e->ident_len);
        NB_CHECK_MEM(d.ident, e->ident, e->ident_len);
    }
    bool tags = e->type != NB_NIP19_NPROFILE;
    NB_CHECK_INT(d.has_author, tags && e->has_author);
    if (d.has_author) NB_CHECK_MEM(d.author, e->author, 32);
    NB_CHECK_INT(d.has_kind, tags && e->has_kind);
    if (d.has_kind) NB_CHECK_INT(d.kind, e->kind);
    NB_CHECK_INT(d.n_relays, e->n_relays);
    for (size_t i = 0; i < d.n_relays && i < e->n_relays; i++)
        NB_CHECK_STR(d.relays[i], e->relays[i]);
}

static void test_nip19_tlv_roundtrips(void)
{
    static nb_nip19_t e;

    memset(&e, 0, sizeof e);
    e.type = NB_NIP19_NPROFILE;
    fill32(e.bytes, 1);
    roundtrip(&e);
    e.n_relays = 2;
    strcpy(e.relays[0], "wss://relay.tenex.chat");
    strcpy(e.relays[1], "wss://nos.lol/");
    roundtrip(&e);
    e.has_author = true; /* not part of an nprofile: dropped */
    e.has_kind = true;
    roundtrip(&e);

    memset(&e, 0, sizeof e);
    e.type = NB_NIP19_NEVENT;
    fill32(e.bytes, 2);
    roundtrip(&e);
    e.has_kind = true;
    e.kind = 24135;
    roundtrip(&e);
    e.has_author = true;
    fill32(e.author, 3);
    e.n_relays = 1;
    strcpy(e.relays[0], "ws://127.0.0.1:7777");
    roundtrip(&e);

    memset(&e, 0, sizeof e);
    e.type = NB_NIP19_NADDR;
    e.has_author = e.has_kind = true;
    fill32(e.author, 4);
    e.kind = 31933;
    roundtrip(&e); /* empty d-tag */
    strcpy(e.ident, "tenex-project");
    e.ident_len = strlen(e.ident);
    roundtrip(&e);
    memset(e.ident, 'd', NB_NIP19_MAX_IDENT);
    e.ident_len = NB_NIP19_MAX_IDENT;
    e.kind = 0xffffffffu;
    roundtrip(&e);

    /* ten relays, each as long as allowed: still within the 5000-character limit */
    e.ident_len = 0;
    e.ident[0] = '\0';
    e.n_relays = 10;
    for (size_t i = 0; i < e.n_relays; i++) {
        memset(e.relays[i], 'a' + (int)i, NB_NIP19_MAX_RELAY_LEN);
        e.relays[i][NB_NIP19_MAX_RELAY_LEN] = '\0';
    }
    roundtrip(&e);
}

static void test_nip19_encode_errors(void)
{
    static nb_nip19_t e;
    static char s[NB_BECH32_MAX_LEN + 1];
    char small[20];

    memset(&e, 0, sizeof e);
    e.type = NB_NIP19_NPUB; /* a bare type is not for nb_nip19_encode */
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);
    e.type = (nb_nip19_type_t)0;
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);

    e.type = NB_NIP19_NADDR; /* author and kind are required */
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);
    e.has_author = true;
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);
    e.has_kind = true;
    NB_CHECK_INT(nb_nip19_encode(s, sizeof s, &e), 0);
    CHECK_ERR(nb_nip19_encode(small, sizeof small, &e), NB_ETOOBIG);
    e.ident_len = NB_NIP19_MAX_IDENT + 1;
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);
    e.ident_len = 3;
    memcpy(e.ident, "a\0b", 4);
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);
    e.ident_len = 0;

    e.type = NB_NIP19_NPROFILE;
    e.n_relays = NB_NIP19_MAX_RELAYS + 1;
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);
    e.n_relays = 1;
    strcpy(e.relays[0], "wss://a\nb");
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);
    memset(e.relays[0], 'r', sizeof e.relays[0]); /* no terminator within the slot */
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_EINVAL);

    /* 16 maximal relays: valid fields, but over the 5000-character limit */
    e.n_relays = NB_NIP19_MAX_RELAYS;
    for (size_t i = 0; i < e.n_relays; i++) {
        memset(e.relays[i], 'r', NB_NIP19_MAX_RELAY_LEN);
        e.relays[i][NB_NIP19_MAX_RELAY_LEN] = '\0';
    }
    CHECK_ERR(nb_nip19_encode(s, sizeof s, &e), NB_ETOOBIG);
}

/* Build an nprofile by hand with n relay TLVs and check that the hints past the maximum go. */
static void test_nip19_extra_relays_dropped(void)
{
    uint8_t p[34 + 20 * 5];
    size_t n = 0;
    p[n++] = 0;
    p[n++] = 32;
    fill32(p + n, 9);
    n += 32;
    for (int i = 0; i < 20; i++) {
        p[n++] = 1;
        p[n++] = 3;
        p[n++] = 'r';
        p[n++] = (uint8_t)('a' + i);
        p[n++] = 'z';
    }
    char s[400];
    NB_CHECK_INT(nb_bech32_encode(s, sizeof s, "nprofile", p, n), 0);
    static nb_nip19_t e;
    NB_CHECK_INT(nb_nip19_decode(&e, s, strlen(s)), 0);
    NB_CHECK_INT(e.n_relays, NB_NIP19_MAX_RELAYS);
    NB_CHECK_STR(e.relays[0], "raz");
    NB_CHECK_STR(e.relays[15], "rpz");
}

/* A relay hint of 255 bytes (the TLV maximum) and a d-tag of 255 bytes fit the struct exactly. */
static void test_nip19_max_tlv_lengths(void)
{
    uint8_t p[2 + 255 + 2 + 255 + 34 + 6];
    size_t n = 0;
    p[n++] = 0;
    p[n++] = 255;
    memset(p + n, 'd', 255);
    n += 255;
    p[n++] = 1;
    p[n++] = 255;
    memset(p + n, 'r', 255);
    n += 255;
    p[n++] = 2;
    p[n++] = 32;
    fill32(p + n, 5);
    n += 32;
    p[n++] = 3;
    p[n++] = 4;
    memcpy(p + n, "\x00\x00\x7c\xbd", 4); /* 31933 */
    n += 4;
    static char s[NB_BECH32_MAX_LEN + 1];
    NB_CHECK_INT(nb_bech32_encode(s, sizeof s, "naddr", p, n), 0);
    static nb_nip19_t e;
    NB_CHECK_INT(nb_nip19_decode(&e, s, strlen(s)), 0);
    NB_CHECK_INT(e.ident_len, 255);
    NB_CHECK_INT(strlen(e.ident), 255);
    NB_CHECK_INT(strlen(e.relays[0]), 255);
    NB_CHECK_INT(e.kind, 31933);
}

static void test_nip19_prefix_and_garbage(void)
{
    static nb_nip19_t e;
    char s[128];
    snprintf(s, sizeof s, "NoStR:%s", spec_npub);
    NB_CHECK_INT(nb_nip19_decode(&e, s, strlen(s)), 0);
    NB_CHECK_INT(e.type, NB_NIP19_NPUB);
    snprintf(s, sizeof s, " %s", spec_npub);
    CHECK_ERR(nb_nip19_decode(&e, s, strlen(s)), NB_EBECH32);
    snprintf(s, sizeof s, "%s\n", spec_npub);
    CHECK_ERR(nb_nip19_decode(&e, s, strlen(s)), NB_EBECH32);
    CHECK_ERR(nb_nip19_decode(&e, "", 0), NB_EBECH32);
    CHECK_ERR(nb_nip19_decode(&e, "nostr", 5), NB_EBECH32);
    /* only len bytes count: the npub cut one short */
    CHECK_ERR(nb_nip19_decode(&e, spec_npub, strlen(spec_npub) - 1), NB_EBECH32_CHECKSUM);
}

int main(void)
{
    NB_RUN(test_bech32_vectors);
    NB_RUN(test_bech32_roundtrip_lengths);
    NB_RUN(test_bech32_every_single_char_error_is_caught);
    NB_RUN(test_bech32_limits);
    NB_RUN(test_bech32_encode_rejects_bad_hrp);
    NB_RUN(test_bech32_decode_odd_inputs);
    NB_RUN(test_nip19_vectors);
    NB_RUN(test_nip19_decode_as);
    NB_RUN(test_nip19_error_clears_output);
    NB_RUN(test_nip19_encode32);
    NB_RUN(test_nip19_tlv_roundtrips);
    NB_RUN(test_nip19_encode_errors);
    NB_RUN(test_nip19_extra_relays_dropped);
    NB_RUN(test_nip19_max_tlv_lengths);
    NB_RUN(test_nip19_prefix_and_garbage);
    return nb_test_summary();
}
