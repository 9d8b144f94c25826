/* test_codec.c — hex and base64 as gRPC metadata and OTLP/JSON carry them. */
#include <string.h>

#include "base/codec.h"
#include "unit.h"

START_TEST(test_hex_digits_of_either_case)
{
    ck_assert_int_eq(codec_hex_value('0'), 0);
    ck_assert_int_eq(codec_hex_value('a'), 10);
    ck_assert_int_eq(codec_hex_value('F'), 15);
    ck_assert_int_eq(codec_hex_value('g'), -1);
    ck_assert_int_eq(codec_hex_value('%'), -1);
}
END_TEST

START_TEST(test_base64_known_vectors)
{
    char enc[32];
    uint8_t dec[32];
    codec_base64_encode(enc, sizeof(enc), (const uint8_t *)"foobar", 6);
    ck_assert_str_eq(enc, "Zm9vYmFy");
    codec_base64_encode(enc, sizeof(enc), (const uint8_t *)"fooba", 5);
    ck_assert_str_eq(enc, "Zm9vYmE");          /* no padding: gRPC's -bin form */
    ck_assert_int_eq(codec_base64_decode((const uint8_t *)"Zm9vYmE", 7, dec), 5);
    ck_assert_int_eq(memcmp(dec, "fooba", 5), 0);
    /* the URL-safe alphabet decodes too */
    ck_assert_int_eq(codec_base64_decode((const uint8_t *)"-_-_", 4, dec), 3);
    ck_assert_int_eq(dec[0], 0xfb);
    ck_assert_int_eq(codec_base64_decode((const uint8_t *)"Zm9=", 4, dec), -1);
}
END_TEST

START_TEST(test_base64_round_trip_every_length)
{
    uint8_t src[64], back[64];
    char enc[128];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(src); n++) {
        codec_base64_encode(enc, sizeof(enc), src, n);
        long m = codec_base64_decode((const uint8_t *)enc, strlen(enc), back);
        if (m != (long)n || memcmp(src, back, n) != 0)
            ck_abort_msg("round trip failed at length %zu", n);
    }
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_hex_digits_of_either_case);
    tcase_add_test(tc, test_base64_known_vectors);
    tcase_add_test(tc, test_base64_round_trip_every_length);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(codec_suite());
}
