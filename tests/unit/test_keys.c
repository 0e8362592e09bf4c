/*
 * test_keys.c — the secp256k1 context, getrandom, key parsing and loading, wiping.
 */
#include "test.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/keys.h"
#include "bridge/nip19.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_ERR(expr, code)                                                                                \
    do {                                                                                                     \
        int rc_ = (expr);                                                                                    \
        if (rc_ != (code)) NB_FAIL_("%s: %s, expected %s", #expr, nb_err_name(rc_), nb_err_name(code));      \
    } while (0)

/* The example pair of NIP-19: this nsec and this npub belong together. */
#define SPEC_NSEC "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"
#define SPEC_SEC_HEX "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
#define SPEC_NPUB "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg"
#define SPEC_PUB_HEX "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e"

static char tmpdir[256];

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return false;
    return true;
}

static void check_spec_pair(const nb_keys_t *k)
{
    uint8_t sec[32];
    NB_CHECK_INT(nb_hex_decode(sec, 32, SPEC_SEC_HEX, 64), 0);
    NB_CHECK_MEM(k->seckey, sec, 32);
    NB_CHECK_STR(k->pubkey_hex, SPEC_PUB_HEX);
    NB_CHECK_STR(k->npub, SPEC_NPUB);
    char nsec[64];
    NB_CHECK_INT(nb_keys_nsec(k, nsec, sizeof nsec), 0);
    NB_CHECK_STR(nsec, SPEC_NSEC);
}

static void test_secp_context(void)
{
    NB_CHECK_INT(nb_secp_init(), 0);
    const secp256k1_context *c = nb_secp_ctx();
    NB_REQUIRE(c != NULL);
    NB_CHECK_INT(nb_secp_init(), 0); /* idempotent: the same context */
    NB_CHECK(nb_secp_ctx() == c);
    nb_secp_dispose();
    nb_secp_dispose();               /* twice is harmless */
    NB_CHECK(nb_secp_ctx() != NULL); /* initialized on first use */
}

static void test_random_bytes(void)
{
    static uint8_t a[1 << 20], b[64];
    NB_CHECK_INT(nb_random_bytes(a, sizeof a), 0); /* larger than one getrandom read */
    NB_CHECK(!all_zero(a + sizeof a - 64, 64));
    NB_CHECK_INT(nb_random_bytes(b, sizeof b), 0);
    NB_CHECK(memcmp(a, b, sizeof b) != 0);
    NB_CHECK_INT(nb_random_bytes(b, 0), 0);
}

static void test_from_secret_spec(void)
{
    nb_keys_t k;
    uint8_t sec[32];
    NB_CHECK_INT(nb_hex_decode(sec, 32, SPEC_SEC_HEX, 64), 0);
    NB_CHECK_INT(nb_keys_from_secret(&k, sec), 0);
    check_spec_pair(&k);
    /* re-deriving in place from k's own secret works */
    NB_CHECK_INT(nb_keys_from_secret(&k, k.seckey), 0);
    check_spec_pair(&k);
    nb_keys_dispose(&k);
}

/* BIP-340 vectors (tests/vectors/bip340.csv): every row with a secret key gives its public key. */
static void test_from_secret_bip340(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/bip340.csv", NB_VECTORS_DIR);
    FILE *f = fopen(path, "r");
    NB_REQUIRE(f != NULL);
    char line[1024];
    int rows = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *rest = line;
        char *idx = strsep(&rest, ","), *sec_hex = strsep(&rest, ","), *pub_hex = strsep(&rest, ",");
        if (idx == NULL || sec_hex == NULL || pub_hex == NULL || strlen(sec_hex) != 64)
            continue; /* the header, and the verification-only rows (no secret key) */
        uint8_t sec[32], pub[32];
        if (nb_hex_decode(sec, 32, sec_hex, 64) != 0 || nb_hex_decode(pub, 32, pub_hex, 64) != 0) continue;
        nb_keys_t k;
        NB_CHECK_INT(nb_keys_from_secret(&k, sec), 0);
        NB_CHECK_MEM(k.pubkey, pub, 32);
        uint8_t parsed[32];
        NB_CHECK_INT(nb_pubkey_parse(parsed, pub_hex, 64), 0); /* uppercase hex is fine */
        NB_CHECK_MEM(parsed, pub, 32);
        nb_keys_dispose(&k);
        rows++;
    }
    fclose(f);
    NB_CHECK(rows >= 4);
}

static void test_from_secret_out_of_range(void)
{
    nb_keys_t k;
    uint8_t zero[32] = {0}, order[32], max[32];
    NB_CHECK_INT(
        nb_hex_decode(order, 32, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 64), 0);
    memset(max, 0xff, sizeof max);
    memset(&k, 0x55, sizeof k);
    CHECK_ERR(nb_keys_from_secret(&k, zero), NB_EKEY);
    NB_CHECK(all_zero(&k, sizeof k)); /* a failure leaves nothing behind */
    CHECK_ERR(nb_keys_from_secret(&k, order), NB_EKEY);
    CHECK_ERR(nb_keys_from_secret(&k, max), NB_EKEY);
    order[31] = 0x40; /* n - 1 is the largest valid secret */
    NB_CHECK_INT(nb_keys_from_secret(&k, order), 0);
    nb_keys_dispose(&k);
}

static void test_parse_forms(void)
{
    nb_keys_t k;
    static const char *good[] = {
        SPEC_NSEC,
        SPEC_SEC_HEX,
        "67DEA2ED018072D675F5415ECFAED7D2597555E202D85B3D65EA4E58D2D92FFA",
        ("  " SPEC_NSEC "\n"),
        ("\t" SPEC_SEC_HEX "\r\n"),
        ("nostr:" SPEC_NSEC),
        "NSEC1VL029MGPSPEDVA04G90VLTKH6FVH240ZQTV9K0T9AF8935KE9LAQSNLFE5",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        memset(&k, 0, sizeof k);
        int rc = nb_keys_parse(&k, good[i], strlen(good[i]));
        if (rc != 0)
            NB_FAIL_("form %zu: %s", i, nb_err_name(rc));
        else
            check_spec_pair(&k);
        nb_keys_dispose(&k);
    }
    /* only len bytes are read */
    NB_CHECK_INT(nb_keys_parse(&k, SPEC_SEC_HEX "ff", 64), 0);
    nb_keys_dispose(&k);
}

static void test_parse_rejects(void)
{
    nb_keys_t k;
    static const char *bad[] = {
        "",
        "   \n",
        SPEC_NPUB,                                                           /* a public key */
        "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ff",   /* 63 digits */
        "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa0", /* 65 digits */
        "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffg",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", /* the curve order */
        "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe4",  /* checksum */
        "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnLfe5",  /* mixed case */
        "67dea2ed018072d675f5415ecfaed7d2 597555e202d85b3d65ea4e58d2d92ffa",
        "note1g5ex7htfv243u0x5ynn43scq9wrxtaasmrwwa8lfu2ydwag6cx2qpjfkfp",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&k, 0x55, sizeof k);
        int rc = nb_keys_parse(&k, bad[i], strlen(bad[i]));
        if (rc != NB_EKEY) NB_FAIL_("bad form %zu: %s", i, nb_err_name(rc));
        if (!all_zero(&k, sizeof k)) NB_FAIL_("bad form %zu left bytes in k", i);
    }
}

static void test_generate(void)
{
    nb_keys_t a, b;
    NB_CHECK_INT(nb_keys_generate(&a), 0);
    NB_CHECK_INT(nb_keys_generate(&b), 0);
    NB_CHECK(memcmp(a.seckey, b.seckey, 32) != 0);
    NB_CHECK(memcmp(a.pubkey, b.pubkey, 32) != 0);
    /* the derived fields agree with each other */
    uint8_t pub[32];
    NB_CHECK_INT(nb_pubkey_parse(pub, a.npub, strlen(a.npub)), 0);
    NB_CHECK_MEM(pub, a.pubkey, 32);
    NB_CHECK_INT(nb_pubkey_parse(pub, a.pubkey_hex, 64), 0);
    NB_CHECK_MEM(pub, a.pubkey, 32);
    NB_CHECK(nb_hex_is_lower(a.pubkey_hex, 64));
    char nsec[64];
    NB_CHECK_INT(nb_keys_nsec(&a, nsec, sizeof nsec), 0);
    nb_keys_t c;
    NB_CHECK_INT(nb_keys_parse(&c, nsec, strlen(nsec)), 0);
    NB_CHECK_MEM(c.pubkey, a.pubkey, 32);
    CHECK_ERR(nb_keys_nsec(&a, nsec, 63), NB_ETOOBIG);
    nb_keys_dispose(&a);
    nb_keys_dispose(&b);
    nb_keys_dispose(&c);
}

static void test_dispose_wipes(void)
{
    nb_keys_t k;
    NB_CHECK_INT(nb_keys_parse(&k, SPEC_NSEC, strlen(SPEC_NSEC)), 0);
    NB_CHECK(!all_zero(k.seckey, 32));
    nb_keys_dispose(&k);
    NB_CHECK(all_zero(&k, sizeof k)); /* secret, keypair and the public parts */
    /* reusable after dispose */
    NB_CHECK_INT(nb_keys_parse(&k, SPEC_SEC_HEX, 64), 0);
    check_spec_pair(&k);
    nb_keys_dispose(&k);
}

/* Write contents to a fresh file with the given mode; returns its path (static storage). */
static const char *write_file(const char *name, const char *contents, size_t len, mode_t mode)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
    FILE *f = fopen(path, "w");
    if (f == NULL) return NULL;
    fwrite(contents, 1, len, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static void test_load_file(void)
{
    nb_keys_t k;
    const char *body = SPEC_NSEC "\n";
    const char *p = write_file("key", body, strlen(body), 0600);
    NB_REQUIRE(p != NULL);
    NB_CHECK_INT(nb_keys_load_file(&k, p), 0);
    check_spec_pair(&k);
    nb_keys_dispose(&k);

    chmod(p, 0400);
    NB_CHECK_INT(nb_keys_load_file(&k, p), 0);
    nb_keys_dispose(&k);

    /* readable or writable by group or others: refused, whatever the contents */
    static const mode_t loose[] = {0644, 0640, 0604, 0660, 0602, 0620, 0601, 0610, 0666};
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        chmod(p, loose[i]);
        memset(&k, 0x55, sizeof k);
        int rc = nb_keys_load_file(&k, p);
        if (rc != NB_EKEYFILE) NB_FAIL_("mode %04o: %s", (unsigned)loose[i], nb_err_name(rc));
    }

    /* hex, with surrounding blank lines */
    const char *hex = "\n" SPEC_SEC_HEX "\n\n";
    p = write_file("hexkey", hex, strlen(hex), 0600);
    NB_CHECK_INT(nb_keys_load_file(&k, p), 0);
    check_spec_pair(&k);
    nb_keys_dispose(&k);
}

static void test_load_file_refusals(void)
{
    nb_keys_t k;
    char path[512];

    snprintf(path, sizeof path, "%s/missing", tmpdir);
    CHECK_ERR(nb_keys_load_file(&k, path), NB_EKEYFILE);
    CHECK_ERR(nb_keys_load_file(&k, tmpdir), NB_EKEYFILE); /* a directory (mode 0700) */

    /* a FIFO must be refused without blocking on open */
    snprintf(path, sizeof path, "%s/fifo", tmpdir);
    unlink(path);
    NB_REQUIRE(mkfifo(path, 0600) == 0);
    CHECK_ERR(nb_keys_load_file(&k, path), NB_EKEYFILE);
    unlink(path);

    /* bad contents: NB_EKEY */
    const char *p = write_file("empty", "", 0, 0600);
    CHECK_ERR(nb_keys_load_file(&k, p), NB_EKEY);
    p = write_file("npub", SPEC_NPUB "\n", strlen(SPEC_NPUB) + 1, 0600);
    CHECK_ERR(nb_keys_load_file(&k, p), NB_EKEY);
    p = write_file("two", SPEC_NSEC "\n" SPEC_NSEC "\n", 2 * strlen(SPEC_NSEC) + 2, 0600);
    CHECK_ERR(nb_keys_load_file(&k, p), NB_EKEY);

    /* a key padded to just under the cap is read; a file over the cap is not a key file */
    static char big[2048];
    memset(big, ' ', sizeof big);
    memcpy(big, SPEC_NSEC, strlen(SPEC_NSEC));
    p = write_file("padded", big, 500, 0600);
    NB_CHECK_INT(nb_keys_load_file(&k, p), 0);
    nb_keys_dispose(&k);
    p = write_file("big", big, sizeof big, 0600);
    memset(&k, 0x55, sizeof k);
    CHECK_ERR(nb_keys_load_file(&k, p), NB_EKEY);
    NB_CHECK(all_zero(&k, sizeof k));
}

static void test_load_env(void)
{
    nb_keys_t k;
    unsetenv("NB_TEST_NSEC");
    CHECK_ERR(nb_keys_load_env(&k, "NB_TEST_NSEC"), NB_ENOKEY);
    setenv("NB_TEST_NSEC", "", 1);
    CHECK_ERR(nb_keys_load_env(&k, "NB_TEST_NSEC"), NB_ENOKEY);
    setenv("NB_TEST_NSEC", "not a key", 1);
    CHECK_ERR(nb_keys_load_env(&k, "NB_TEST_NSEC"), NB_EKEY);
    setenv("NB_TEST_NSEC", SPEC_NSEC, 1);
    NB_CHECK_INT(nb_keys_load_env(&k, "NB_TEST_NSEC"), 0);
    check_spec_pair(&k);
    nb_keys_dispose(&k);
    setenv("NB_TEST_NSEC", SPEC_SEC_HEX "\n", 1);
    NB_CHECK_INT(nb_keys_load_env(&k, "NB_TEST_NSEC"), 0);
    check_spec_pair(&k);
    nb_keys_dispose(&k);
    unsetenv("NB_TEST_NSEC");
}

static void test_pubkey_parse(void)
{
    uint8_t pk[32], want[32];
    NB_CHECK_INT(nb_hex_decode(want, 32, SPEC_PUB_HEX, 64), 0);
    NB_CHECK_INT(nb_pubkey_parse(pk, SPEC_NPUB, strlen(SPEC_NPUB)), 0);
    NB_CHECK_MEM(pk, want, 32);
    NB_CHECK_INT(nb_pubkey_parse(pk, SPEC_PUB_HEX, 64), 0);
    NB_CHECK_MEM(pk, want, 32);
    NB_CHECK_INT(nb_pubkey_parse(pk, "nostr:" SPEC_NPUB, strlen(SPEC_NPUB) + 6), 0);

    static const char *bad[] = {
        "",
        SPEC_NSEC,
        (SPEC_SEC_HEX "0"),
        "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4",
        /* BIP-340 vectors 5 and 14: not on the curve, and x >= p */
        "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34",
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc30",
        "0000000000000000000000000000000000000000000000000000000000000000",
        (" " SPEC_PUB_HEX), /* no trimming for public keys: 65 characters */
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptq",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = nb_pubkey_parse(pk, bad[i], strlen(bad[i]));
        if (rc != NB_EPUBKEY) NB_FAIL_("bad pubkey %zu: %s", i, nb_err_name(rc));
    }
    /* an npub of a non-point is rejected too */
    uint8_t notpoint[32];
    char npub[64];
    NB_CHECK_INT(
        nb_hex_decode(notpoint, 32, "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34", 64),
        0);
    NB_CHECK_INT(nb_nip19_encode32(npub, sizeof npub, NB_NIP19_NPUB, notpoint), 0);
    CHECK_ERR(nb_pubkey_parse(pk, npub, strlen(npub)), NB_EPUBKEY);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/nb_test_keys_XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (nb_secp_init() != 0) {
        fprintf(stderr, "nb_secp_init failed\n");
        return 1;
    }

    NB_RUN(test_secp_context);
    NB_RUN(test_random_bytes);
    NB_RUN(test_from_secret_spec);
    NB_RUN(test_from_secret_bip340);
    NB_RUN(test_from_secret_out_of_range);
    NB_RUN(test_parse_forms);
    NB_RUN(test_parse_rejects);
    NB_RUN(test_generate);
    NB_RUN(test_dispose_wipes);
    NB_RUN(test_load_file);
    NB_RUN(test_load_file_refusals);
    NB_RUN(test_load_env);
    NB_RUN(test_pubkey_parse);

    static const char *names[] = {"key", "hexkey", "empty", "npub", "two", "padded", "big"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    nb_secp_dispose();
    return nb_test_summary();
}
