/*
 * test_bip340.c — the official BIP-340 test vectors (tests/vectors/bip340.csv) against the
 * libsecp256k1 calls event.c makes, through the process context from nb_secp_ctx().
 *
 * Signing needs the vector's aux_rand, which nb_event_sign deliberately never takes (it draws fresh
 * bytes), so signing calls secp256k1_schnorrsig_sign32 directly, exactly as event.c does.
 * Verification goes the same way as nb_event_verify: xonly_pubkey_parse, then schnorrsig_verify.
 */
#include "test.h"

#include "bridge/hex.h"
#include "bridge/keys.h"
#include "bridge/mem.h"

#include <secp256k1_schnorrsig.h>

#define MAX_MSG 1024

typedef struct {
    int index;
    bool has_seckey;
    uint8_t seckey[32];
    uint8_t pubkey[32];
    uint8_t aux[32];
    uint8_t msg[MAX_MSG];
    size_t msglen;
    uint8_t sig[64];
    bool expect;
} row_t;

/* Split line at commas into at most max fields (the last one, the comment, may contain commas). */
static int split(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == ',') {
            *p = '\0';
            f[n++] = p + 1;
        }
    }
    return n;
}

static bool unhex(uint8_t *out, size_t outlen, const char *s)
{
    return nb_hex_decode(out, outlen, s, strlen(s)) == 0;
}

static bool parse_row(char *line, row_t *r)
{
    char *f[8];
    if (split(line, f, 8) != 8) return false;
    memset(r, 0, sizeof *r);
    r->index = atoi(f[0]);
    r->has_seckey = f[1][0] != '\0';
    if (r->has_seckey && !unhex(r->seckey, 32, f[1])) return false;
    if (!unhex(r->pubkey, 32, f[2])) return false;
    if (f[3][0] != '\0' && !unhex(r->aux, 32, f[3])) return false;
    /* Newer revisions of the file have messages of other lengths (even empty). */
    size_t mhex = strlen(f[4]);
    if (mhex % 2 != 0 || mhex / 2 > MAX_MSG || !unhex(r->msg, mhex / 2, f[4])) return false;
    r->msglen = mhex / 2;
    if (!unhex(r->sig, 64, f[5])) return false;
    if (strcmp(f[6], "TRUE") == 0)
        r->expect = true;
    else if (strcmp(f[6], "FALSE") == 0)
        r->expect = false;
    else
        return false;
    return true;
}

/*
 * Event ids are 32 bytes, signed with sign32 as event.c does. Later revisions of the file add
 * messages of other lengths (0, 1, 17, 100 bytes): those go through sign_custom, same algorithm.
 */
static int sign(const secp256k1_context *ctx, uint8_t sig[64], const row_t *r, const secp256k1_keypair *kp)
{
    if (r->msglen == 32) return secp256k1_schnorrsig_sign32(ctx, sig, r->msg, kp, r->aux);
    secp256k1_schnorrsig_extraparams ep = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
    ep.ndata = (unsigned char *)r->aux;
    return secp256k1_schnorrsig_sign_custom(ctx, sig, r->msg, r->msglen, kp, &ep);
}

static void test_vectors(void)
{
    FILE *fp = fopen(NB_VECTORS_DIR "/bip340.csv", "r");
    NB_REQUIRE(fp != NULL);
    const secp256k1_context *ctx = nb_secp_ctx();
    char line[4096];
    int rows = 0, signed_rows = 0, true_rows = 0, false_rows = 0;
    NB_REQUIRE(fgets(line, sizeof line, fp) != NULL);
    NB_CHECK(strncmp(line, "index,secret key,public key,aux_rand,message,signature", 54) == 0);
    while (fgets(line, sizeof line, fp) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') continue;
        row_t r;
        if (!parse_row(line, &r)) {
            NB_FAIL_("unparsable row: %s", line);
            continue;
        }
        rows++;
        if (r.has_seckey) {
            signed_rows++;
            secp256k1_keypair kp;
            secp256k1_xonly_pubkey xo;
            uint8_t pub[32], sig[64];
            NB_CHECK(secp256k1_keypair_create(ctx, &kp, r.seckey) == 1);
            NB_CHECK(secp256k1_keypair_xonly_pub(ctx, &xo, NULL, &kp) == 1);
            NB_CHECK(secp256k1_xonly_pubkey_serialize(ctx, pub, &xo) == 1);
            if (memcmp(pub, r.pubkey, 32) != 0) NB_FAIL_("row %d: derived public key differs", r.index);
            NB_CHECK(sign(ctx, sig, &r, &kp) == 1);
            if (memcmp(sig, r.sig, 64) != 0) NB_FAIL_("row %d: signature differs from the vector", r.index);
            nb_memwipe(&kp, sizeof kp);
            /* The event path reaches the same key through nb_keys_from_secret. */
            nb_keys_t k;
            NB_CHECK_INT(nb_keys_from_secret(&k, r.seckey), 0);
            NB_CHECK_MEM(k.pubkey, r.pubkey, 32);
            NB_CHECK(sign(ctx, sig, &r, &k.keypair) == 1);
            NB_CHECK_MEM(sig, r.sig, 64);
            nb_keys_dispose(&k);
        }
        secp256k1_xonly_pubkey pk;
        bool ok = secp256k1_xonly_pubkey_parse(ctx, &pk, r.pubkey) == 1 &&
                  secp256k1_schnorrsig_verify(ctx, r.sig, r.msg, r.msglen, &pk) == 1;
        if (ok != r.expect)
            NB_FAIL_("row %d: verify gave %s, vector says %s", r.index, ok ? "TRUE" : "FALSE",
                     r.expect ? "TRUE" : "FALSE");
        if (r.expect)
            true_rows++;
        else
            false_rows++;
    }
    fclose(fp);
    /* The file must actually have been read: the BIP has 15 rows (19 in later revisions). */
    NB_CHECK(rows >= 15);
    NB_CHECK(signed_rows >= 4);
    NB_CHECK(true_rows >= 5);
    NB_CHECK(false_rows >= 9);
}

int main(void)
{
    NB_RUN(test_vectors);
    nb_secp_dispose();
    return nb_test_summary();
}
