/*
 * test_hex.c — lowercase encoding, strict decoding, the wire check.
 */
#include "test.h"

#include "bridge/err.h"
#include "bridge/hex.h"

static void test_encode(void)
{
    char out[16];
    const uint8_t in[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
    memset(out, 'x', sizeof out);
    nb_hex_encode(out, in, sizeof in);
    NB_CHECK_STR(out, "0001abcdefff");
    nb_hex_encode(out, in, 0);
    NB_CHECK_STR(out, "");
}

static void test_decode_both_cases(void)
{
    uint8_t out[4];
    NB_CHECK_INT(nb_hex_decode(out, 4, "deadBEEF", 8), 0);
    NB_CHECK_MEM(out, "\xde\xad\xbe\xef", 4);
    NB_CHECK_INT(nb_hex_decode(out, 4, "0a1B2c3D", 8), 0);
    NB_CHECK_MEM(out, "\x0a\x1b\x2c\x3d", 4);
    NB_CHECK_INT(nb_hex_decode(out, 0, "", 0), 0);
}

static void test_roundtrip_all_bytes(void)
{
    uint8_t in[256], back[256];
    char hex[513];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    nb_hex_encode(hex, in, sizeof in);
    NB_CHECK_INT(strlen(hex), 512);
    NB_CHECK(nb_hex_is_lower(hex, 512));
    NB_CHECK_INT(nb_hex_decode(back, sizeof back, hex, 512), 0);
    NB_CHECK_MEM(back, in, sizeof in);
    memset(back, 0, sizeof back);
    NB_CHECK_INT(nb_hex_decode_lower(back, sizeof back, hex, 512), 0);
    NB_CHECK_MEM(back, in, sizeof in);
}

static void test_decode_length(void)
{
    uint8_t out[32];
    NB_CHECK_INT(nb_hex_decode(out, 2, "abc", 3), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode(out, 2, "ab", 2), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode(out, 2, "abcdef", 6), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode(out, 1, "", 0), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode(out, 32, "00", 2), NB_EHEXLEN);
    /* 2*outlen overflowing must not make a short string pass */
    NB_CHECK_INT(nb_hex_decode(out, (size_t)1 << (sizeof(size_t) * 8 - 1), "", 0), NB_EHEXLEN);
    /* a length error wins over bad characters */
    NB_CHECK_INT(nb_hex_decode(out, 2, "zzz", 3), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode_lower(out, 2, "abc", 3), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode_lower(out, 2, "abcdef", 6), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode_lower(out, 1, "", 0), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode_lower(out, (size_t)1 << (sizeof(size_t) * 8 - 1), "", 0), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode_lower(out, 2, "zzz", 3), NB_EHEXLEN);
    NB_CHECK_INT(nb_hex_decode_lower(out, 0, "", 0), 0);
}

static void test_decode_every_byte_value(void)
{
    /* Each of the 256 byte values in either position: exactly 0-9 a-f A-F decode. */
    for (int c = 0; c < 256; c++) {
        bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        char s[2] = {(char)c, '0'};
        uint8_t out;
        int want = digit ? 0 : NB_EHEX;
        if (nb_hex_decode(&out, 1, s, 2) != want)
            NB_FAIL_("byte 0x%02x first: got %d", c, nb_hex_decode(&out, 1, s, 2));
        if (digit) {
            int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
            if (out != (uint8_t)(v << 4)) NB_FAIL_("byte 0x%02x decoded as 0x%02x", c, out);
        }
        s[0] = '0';
        s[1] = (char)c;
        if (nb_hex_decode(&out, 1, s, 2) != want) NB_FAIL_("byte 0x%02x second: wrong result", c);
        bool lowdigit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (nb_hex_is_lower(s, 2) != lowdigit) NB_FAIL_("nb_hex_is_lower wrong for byte 0x%02x", c);
        /* nb_hex_decode_lower == nb_hex_is_lower + nb_hex_decode, in either position */
        int want_lower = lowdigit ? 0 : NB_EHEX;
        uint8_t low_out = 0xaa;
        if (nb_hex_decode_lower(&low_out, 1, s, 2) != want_lower || (lowdigit && low_out != out))
            NB_FAIL_("nb_hex_decode_lower wrong for byte 0x%02x second", c);
        s[0] = (char)c;
        s[1] = 'f';
        low_out = 0xaa;
        if (nb_hex_decode_lower(&low_out, 1, s, 2) != want_lower ||
            (lowdigit && nb_hex_decode(&out, 1, s, 2) == 0 && low_out != out))
            NB_FAIL_("nb_hex_decode_lower wrong for byte 0x%02x first", c);
    }
}

static void test_decode_bad_chars(void)
{
    uint8_t out[4];
    NB_CHECK_INT(nb_hex_decode(out, 4, "deadbeeg", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode(out, 4, "g0000000", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode(out, 4, " eadbeef", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode(out, 4, "dead\0eef", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode(out, 4, "0x000000", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode(out, 4, "-1000000", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode_lower(out, 4, "deadbeef", 8), 0);
    NB_CHECK_MEM(out, "\xde\xad\xbe\xef", 4);
    NB_CHECK_INT(nb_hex_decode_lower(out, 4, "deadBEEF", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode_lower(out, 4, "deadbeeg", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode_lower(out, 4, "dead\0eef", 8), NB_EHEX);
    NB_CHECK_INT(nb_hex_decode_lower(out, 4,
                                     "\xff\xff"
                                     "000000",
                                     8),
                 NB_EHEX);
}

static void test_is_lower(void)
{
    NB_CHECK(nb_hex_is_lower("0123456789abcdef", 16));
    NB_CHECK(nb_hex_is_lower("", 0));
    NB_CHECK(!nb_hex_is_lower("0123456789ABCDEF", 16));
    NB_CHECK(!nb_hex_is_lower("abcdeF", 6));
    NB_CHECK(!nb_hex_is_lower("abcdeg", 6));
    NB_CHECK(!nb_hex_is_lower("ab\0d", 4));
    /* only len characters are looked at */
    NB_CHECK(nb_hex_is_lower("abXY", 2));
}

int main(void)
{
    NB_RUN(test_encode);
    NB_RUN(test_decode_both_cases);
    NB_RUN(test_roundtrip_all_bytes);
    NB_RUN(test_decode_length);
    NB_RUN(test_decode_every_byte_value);
    NB_RUN(test_decode_bad_chars);
    NB_RUN(test_is_lower);
    return nb_test_summary();
}
