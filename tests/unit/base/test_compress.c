/* test_compress.c — compress.c: gzip and zstd round trips, the output bound (exact fit,
 * one byte over, bombs, oversized zstd windows), and every kind of bad input the
 * receivers can be sent: corrupt headers and checksums, truncation, trailing bytes. */
#include "unit.h"

#include <malloc.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "base/compress.h"

#define MiB (1024 * 1024)

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static uint8_t *random_bytes(size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)rng_next();
    return p;
}

/* Text that compresses the way span payloads do: repeated keys, varying values. */
static uint8_t *compressible_bytes(size_t len)
{
    static const char words[][12] = { "trace_id", "span_id", "http.route", "GET", "/api/v1",
                                      "db.system", "postgres", "service", "web", "200" };
    uint8_t *p = malloc(len > 0 ? len : 1);
    ck_assert_ptr_nonnull(p);
    size_t i = 0;
    while (i < len) {
        const char *w = words[rng_next() % 10];
        for (size_t j = 0; w[j] != '\0' && i < len; j++)
            p[i++] = (uint8_t)w[j];
        if (i < len)
            p[i++] = (uint8_t)('0' + rng_next() % 10);
    }
    return p;
}

static uint8_t *gzip_of(const uint8_t *in, size_t len, size_t *out_len)
{
    uint8_t *out;
    ck_assert_int_eq(compress_gzip(in, len, 6, &out, out_len), COMPRESS_OK);
    return out;
}

static uint8_t *zstd_of(const uint8_t *in, size_t len, size_t *out_len)
{
    uint8_t *out;
    ck_assert_int_eq(compress_zstd(in, len, 3, &out, out_len), COMPRESS_OK);
    return out;
}

/* One buffer that is a followed by b. */
static uint8_t *joined(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uint8_t *p = malloc(alen + blen);
    ck_assert_ptr_nonnull(p);
    memcpy(p, a, alen);
    memcpy(p + alen, b, blen);
    return p;
}

typedef int (*decode_fn)(const uint8_t *, size_t, size_t, uint8_t **, size_t *);

/* decode(in) gives exactly want[0..want_len) and a buffer no larger than max_out
 * (plus what malloc itself rounds up). */
static void expect_decodes_to(decode_fn decode, const uint8_t *in, size_t len, size_t max_out,
                              const uint8_t *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t out_len = 12345;
    ck_assert_int_eq(decode(in, len, max_out, &out, &out_len), COMPRESS_OK);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, want_len);
    ck_assert(want_len == 0 || memcmp(out, want, want_len) == 0);
    ck_assert_uint_le(malloc_usable_size(out), (max_out > 0 ? max_out : 1) + 4096);
    free(out);
}

static void expect_fails(decode_fn decode, const uint8_t *in, size_t len, size_t max_out,
                         int want)
{
    uint8_t *out = (uint8_t *)"sentinel";
    size_t out_len = 12345;
    int err = decode(in, len, max_out, &out, &out_len);
    ck_assert_msg(err == want, "got %s, want %s", compress_strerror(err),
                  compress_strerror(want));
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
}

static const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 65536, MiB + 7 };

static void round_trip_gzip(const uint8_t *data, size_t len, int level)
{
    uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(compress_gzip(data, len, level, &z, &zlen), COMPRESS_OK);
    ck_assert_uint_ge(zlen, 18);
    ck_assert_uint_eq(z[0], 0x1f);
    ck_assert_uint_eq(z[1], 0x8b);
    expect_decodes_to(compress_gunzip, z, zlen, len, data, len);
    free(z);
}

static void round_trip_zstd(const uint8_t *data, size_t len, int level)
{
    uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(compress_zstd(data, len, level, &z, &zlen), COMPRESS_OK);
    ck_assert_uint_eq(ZSTD_getFrameContentSize(z, zlen), len);
    expect_decodes_to(compress_unzstd, z, zlen, len, data, len);
    free(z);
}

START_TEST(test_gzip_round_trip)
{
    static const int levels[] = { -1, 0, 1, 9 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *rnd = random_bytes(sizes[i]);
        uint8_t *txt = compressible_bytes(sizes[i]);
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
            round_trip_gzip(rnd, sizes[i], levels[l]);
            round_trip_gzip(txt, sizes[i], levels[l]);
        }
        free(rnd);
        free(txt);
    }
}
END_TEST

START_TEST(test_zstd_round_trip)
{
    static const int levels[] = { 0, 1, -5, 9 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *rnd = random_bytes(sizes[i]);
        uint8_t *txt = compressible_bytes(sizes[i]);
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
            round_trip_zstd(rnd, sizes[i], levels[l]);
            round_trip_zstd(txt, sizes[i], levels[l]);
        }
        free(rnd);
        free(txt);
    }
}
END_TEST

START_TEST(test_compression_shrinks_text)
{
    uint8_t *txt = compressible_bytes(65536);
    uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(compress_gzip(txt, 65536, -1, &z, &zlen), COMPRESS_OK);
    ck_assert_uint_lt(zlen, 65536 / 2);
    free(z);
    ck_assert_int_eq(compress_zstd(txt, 65536, 0, &z, &zlen), COMPRESS_OK);
    ck_assert_uint_lt(zlen, 65536 / 2);
    free(z);
    free(txt);
}
END_TEST

START_TEST(test_levels_out_of_range)
{
    uint8_t *out = (uint8_t *)"sentinel";
    size_t out_len = 1;
    ck_assert_int_eq(compress_gzip((const uint8_t *)"x", 1, 10, &out, &out_len), COMPRESS_ERR_LEVEL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(compress_gzip((const uint8_t *)"x", 1, -2, &out, &out_len), COMPRESS_ERR_LEVEL);
    ck_assert_int_eq(compress_zstd((const uint8_t *)"x", 1, ZSTD_maxCLevel() + 1, &out, &out_len),
                     COMPRESS_ERR_LEVEL);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
}
END_TEST

/* Output of exactly max_out bytes is accepted, one byte more is refused, for sizes on
 * both sides of the first guess and of each doubling. */
static void check_bound(decode_fn decode, uint8_t *(*encode)(const uint8_t *, size_t, size_t *))
{
    static const size_t bounds[] = { 0, 1, 4095, 4096, 4097, 8192, 100000, MiB };
    uint8_t *data = compressible_bytes(MiB + 1);
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        size_t max = bounds[i];
        size_t zlen;
        uint8_t *z = encode(data, max, &zlen);
        expect_decodes_to(decode, z, zlen, max, data, max);
        expect_decodes_to(decode, z, zlen, max + 1, data, max);
        if (max > 0)
            expect_fails(decode, z, zlen, max - 1, COMPRESS_ERR_TOO_LARGE);
        free(z);

        z = encode(data, max + 1, &zlen);
        expect_fails(decode, z, zlen, max, COMPRESS_ERR_TOO_LARGE);
        expect_decodes_to(decode, z, zlen, max + 1, data, max + 1);
        free(z);
    }
    free(data);
}

START_TEST(test_gunzip_bound_exact)
{
    check_bound(compress_gunzip, gzip_of);
}
END_TEST

START_TEST(test_unzstd_bound_exact)
{
    check_bound(compress_unzstd, zstd_of);
}
END_TEST

/* The gzip trailer's length field is only a hint: a stream whose real output is larger
 * still decodes, into a grown buffer. */
START_TEST(test_gunzip_grows_past_guess)
{
    uint8_t *data = random_bytes(3 * 65536);
    size_t alen, blen;
    uint8_t *a = gzip_of(data, 3 * 65536 - 10, &alen);
    uint8_t *b = gzip_of(data + 3 * 65536 - 10, 10, &blen);
    uint8_t *both = joined(a, alen, b, blen);
    expect_decodes_to(compress_gunzip, both, alen + blen, 4 * MiB, data, 3 * 65536);
    free(both);
    free(a);
    free(b);
    free(data);
}
END_TEST

/* 10 MB of zeros compress to about 10 KB; with a 4 MiB bound decoding stops there. */
START_TEST(test_gzip_bomb)
{
    size_t big = 10 * 1000 * 1000;
    uint8_t *zeros = calloc(big, 1);
    ck_assert_ptr_nonnull(zeros);
    uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(compress_gzip(zeros, big, 9, &z, &zlen), COMPRESS_OK);
    ck_assert_uint_lt(zlen, 20 * 1000);
    expect_fails(compress_gunzip, z, zlen, 4 * MiB, COMPRESS_ERR_TOO_LARGE);
    expect_fails(compress_gunzip, z, zlen, 0, COMPRESS_ERR_TOO_LARGE);
    free(z);
    free(zeros);
}
END_TEST

START_TEST(test_zstd_bomb)
{
    size_t big = 10 * 1000 * 1000;
    uint8_t *zeros = calloc(big, 1);
    ck_assert_ptr_nonnull(zeros);
    uint8_t *z;
    size_t zlen;
    ck_assert_int_eq(compress_zstd(zeros, big, 3, &z, &zlen), COMPRESS_OK);
    ck_assert_uint_lt(zlen, 20 * 1000);
    expect_fails(compress_unzstd, z, zlen, 4 * MiB, COMPRESS_ERR_TOO_LARGE);
    free(z);
    free(zeros);
}
END_TEST

/* A zstd frame of unknown size with the given window, as a streaming encoder makes it. */
static uint8_t *zstd_streamed(const uint8_t *in, size_t len, int window_log, size_t *out_len)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ck_assert_ptr_nonnull(cctx);
    ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log)));
    size_t cap = ZSTD_compressBound(len) + 64;
    uint8_t *out = malloc(cap);
    ZSTD_outBuffer dst = { out, cap, 0 };
    ZSTD_inBuffer src = { in, len, 0 };
    /* Continue before end, so the encoder cannot see the whole input and record its size. */
    ck_assert(!ZSTD_isError(ZSTD_compressStream2(cctx, &dst, &src, ZSTD_e_continue)));
    size_t left;
    do {
        left = ZSTD_compressStream2(cctx, &dst, &src, ZSTD_e_end);
        ck_assert(!ZSTD_isError(left));
    } while (left != 0);
    ZSTD_freeCCtx(cctx);
    ck_assert_uint_eq(ZSTD_getFrameContentSize(out, dst.pos), ZSTD_CONTENTSIZE_UNKNOWN);
    *out_len = dst.pos;
    return out;
}

/* The decoder sizes its window from the frame header before producing anything, so a
 * tiny frame could otherwise ask for 128 MiB. Up to 8 MiB is allowed whatever max_out;
 * beyond that the window may not exceed max_out. */
START_TEST(test_zstd_window_limit)
{
    uint8_t *data = compressible_bytes(100000);
    size_t zlen;
    uint8_t *z = zstd_streamed(data, 100000, 25, &zlen);
    expect_fails(compress_unzstd, z, zlen, MiB, COMPRESS_ERR_TOO_LARGE);
    expect_decodes_to(compress_unzstd, z, zlen, 32 * MiB, data, 100000);
    free(z);

    z = zstd_streamed(data, 100000, 23, &zlen);
    expect_decodes_to(compress_unzstd, z, zlen, MiB, data, 100000);
    free(z);
    free(data);
}
END_TEST

START_TEST(test_empty_input_is_corrupt)
{
    expect_fails(compress_gunzip, NULL, 0, MiB, COMPRESS_ERR_CORRUPT);
    expect_fails(compress_unzstd, NULL, 0, MiB, COMPRESS_ERR_CORRUPT);
}
END_TEST

START_TEST(test_gunzip_corrupt_header)
{
    uint8_t *data = compressible_bytes(5000);
    size_t zlen;
    uint8_t *z = gzip_of(data, 5000, &zlen);

    z[0] ^= 0xff;                             /* magic */
    expect_fails(compress_gunzip, z, zlen, MiB, COMPRESS_ERR_CORRUPT);
    z[0] ^= 0xff;
    z[2] = 7;                                 /* compression method other than deflate */
    expect_fails(compress_gunzip, z, zlen, MiB, COMPRESS_ERR_CORRUPT);
    z[2] = 8;
    z[3] = 0xe0;                              /* reserved flag bits */
    expect_fails(compress_gunzip, z, zlen, MiB, COMPRESS_ERR_CORRUPT);
    z[3] = 0;
    expect_decodes_to(compress_gunzip, z, zlen, MiB, data, 5000);
    free(z);
    free(data);
}
END_TEST

/* A header carrying a file name and its own CRC (FHCRC): accepted, and refused when
 * the header CRC is wrong. */
START_TEST(test_gunzip_header_crc)
{
    uint8_t *data = compressible_bytes(3000);
    uint8_t z[8192];
    z_stream zs = { 0 };
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    gz_header head = { 0 };
    head.name = (Bytef *)"spans.pb";
    head.hcrc = 1;
    ck_assert_int_eq(deflateSetHeader(&zs, &head), Z_OK);
    zs.next_in = data;
    zs.avail_in = 3000;
    zs.next_out = z;
    zs.avail_out = sizeof z;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t zlen = sizeof z - zs.avail_out;
    deflateEnd(&zs);

    expect_decodes_to(compress_gunzip, z, zlen, MiB, data, 3000);
    size_t hcrc_at = 10 + strlen("spans.pb") + 1;
    z[hcrc_at] ^= 0x01;
    expect_fails(compress_gunzip, z, zlen, MiB, COMPRESS_ERR_CORRUPT);
    free(data);
}
END_TEST

START_TEST(test_gunzip_corrupt_trailer)
{
    uint8_t *data = random_bytes(5000);
    size_t zlen;
    uint8_t *z = gzip_of(data, 5000, &zlen);

    z[zlen - 8] ^= 0x01;                      /* CRC-32 */
    expect_fails(compress_gunzip, z, zlen, MiB, COMPRESS_ERR_CORRUPT);
    z[zlen - 8] ^= 0x01;
    z[zlen - 4] ^= 0x01;                      /* ISIZE */
    expect_fails(compress_gunzip, z, zlen, MiB, COMPRESS_ERR_CORRUPT);
    z[zlen - 4] ^= 0x01;
    z[zlen / 2] ^= 0x10;                      /* the compressed data itself */
    expect_fails(compress_gunzip, z, zlen, MiB, COMPRESS_ERR_CORRUPT);
    free(z);
    free(data);
}
END_TEST

/* Every proper prefix of a stream is refused. */
static void check_truncations(decode_fn decode, const uint8_t *z, size_t zlen)
{
    for (size_t cut = 0; cut < zlen; cut++) {
        uint8_t *part = malloc(cut > 0 ? cut : 1);
        memcpy(part, z, cut);
        uint8_t *out = NULL;
        size_t out_len = 0;
        int err = decode(part, cut, MiB, &out, &out_len);
        free(part);
        if (err != COMPRESS_ERR_CORRUPT)
            ck_abort_msg("prefix of %zu/%zu bytes: %s", cut, zlen, compress_strerror(err));
    }
}

START_TEST(test_gunzip_truncated)
{
    uint8_t *data = compressible_bytes(20000);
    size_t zlen;
    uint8_t *z = gzip_of(data, 20000, &zlen);
    check_truncations(compress_gunzip, z, zlen);
    free(z);
    free(data);
}
END_TEST

START_TEST(test_unzstd_truncated)
{
    uint8_t *data = compressible_bytes(20000);
    size_t zlen;
    uint8_t *z = zstd_of(data, 20000, &zlen);
    check_truncations(compress_unzstd, z, zlen);
    free(z);
    free(data);
}
END_TEST

/* Concatenated members are valid gzip; bytes after the last member that are not a
 * member (garbage, zero padding) are not. */
START_TEST(test_gunzip_members_and_trailing_bytes)
{
    uint8_t *data = compressible_bytes(9000);
    size_t alen, blen, elen;
    uint8_t *a = gzip_of(data, 4000, &alen);
    uint8_t *b = gzip_of(data + 4000, 5000, &blen);
    uint8_t *e = gzip_of(NULL, 0, &elen);

    uint8_t *ab = joined(a, alen, b, blen);
    expect_decodes_to(compress_gunzip, ab, alen + blen, MiB, data, 9000);
    expect_decodes_to(compress_gunzip, ab, alen + blen, 9000, data, 9000);
    expect_fails(compress_gunzip, ab, alen + blen, 8999, COMPRESS_ERR_TOO_LARGE);

    uint8_t *ae = joined(a, alen, e, elen);
    expect_decodes_to(compress_gunzip, ae, alen + elen, MiB, data, 4000);
    expect_decodes_to(compress_gunzip, e, elen, 0, NULL, 0);

    uint8_t *garbage = joined(a, alen, (const uint8_t *)"x", 1);
    expect_fails(compress_gunzip, garbage, alen + 1, MiB, COMPRESS_ERR_CORRUPT);
    uint8_t *zeros = joined(a, alen, (const uint8_t[8]){ 0 }, 8);
    expect_fails(compress_gunzip, zeros, alen + 8, MiB, COMPRESS_ERR_CORRUPT);
    uint8_t *half = joined(a, alen, b, blen / 2);
    expect_fails(compress_gunzip, half, alen + blen / 2, MiB, COMPRESS_ERR_CORRUPT);

    free(half);
    free(zeros);
    free(garbage);
    free(ae);
    free(ab);
    free(e);
    free(b);
    free(a);
    free(data);
}
END_TEST

START_TEST(test_gunzip_refuses_zlib_and_zstd)
{
    uint8_t *data = compressible_bytes(1000);
    uLongf zlen = compressBound(1000);
    uint8_t *z = malloc(zlen);
    ck_assert_int_eq(compress2(z, &zlen, data, 1000, 6), Z_OK);
    expect_fails(compress_gunzip, z, zlen, MiB, COMPRESS_ERR_CORRUPT);
    free(z);

    size_t slen;
    uint8_t *s = zstd_of(data, 1000, &slen);
    expect_fails(compress_gunzip, s, slen, MiB, COMPRESS_ERR_CORRUPT);
    expect_fails(compress_unzstd, data, 1000, MiB, COMPRESS_ERR_CORRUPT);
    free(s);
    free(data);
}
END_TEST

START_TEST(test_unzstd_frames_and_corruption)
{
    uint8_t *data = random_bytes(9000);
    size_t alen, blen;
    uint8_t *a = zstd_of(data, 4000, &alen);
    uint8_t *b = zstd_of(data + 4000, 5000, &blen);

    uint8_t *ab = joined(a, alen, b, blen);
    expect_decodes_to(compress_unzstd, ab, alen + blen, 9000, data, 9000);
    expect_fails(compress_unzstd, ab, alen + blen, 8999, COMPRESS_ERR_TOO_LARGE);

    uint8_t *garbage = joined(a, alen, (const uint8_t *)"xxxxxxxx", 8);
    expect_fails(compress_unzstd, garbage, alen + 8, MiB, COMPRESS_ERR_CORRUPT);

    a[0] ^= 0xff;                             /* magic number */
    expect_fails(compress_unzstd, a, alen, MiB, COMPRESS_ERR_CORRUPT);
    a[0] ^= 0xff;
    a[alen - 1] ^= 0x01;                      /* content checksum */
    expect_fails(compress_unzstd, a, alen, MiB, COMPRESS_ERR_CORRUPT);

    free(garbage);
    free(ab);
    free(b);
    free(a);
    free(data);
}
END_TEST

START_TEST(test_strerror)
{
    static const int codes[] = { COMPRESS_OK, COMPRESS_ERR_TOO_LARGE, COMPRESS_ERR_CORRUPT,
                                 COMPRESS_ERR_NOMEM, COMPRESS_ERR_LEVEL, COMPRESS_ERR_INTERNAL };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_ne(compress_strerror(codes[i]), "unknown error");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(compress_strerror(codes[i]), compress_strerror(codes[j]));
    }
    ck_assert_str_eq(compress_strerror(42), "unknown error");
}
END_TEST

static Suite *compress_suite(void)
{
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gzip_round_trip);
    tcase_add_test(tc, test_zstd_round_trip);
    tcase_add_test(tc, test_compression_shrinks_text);
    tcase_add_test(tc, test_levels_out_of_range);
    tcase_add_test(tc, test_gunzip_bound_exact);
    tcase_add_test(tc, test_unzstd_bound_exact);
    tcase_add_test(tc, test_gunzip_grows_past_guess);
    tcase_add_test(tc, test_gzip_bomb);
    tcase_add_test(tc, test_zstd_bomb);
    tcase_add_test(tc, test_zstd_window_limit);
    tcase_add_test(tc, test_empty_input_is_corrupt);
    tcase_add_test(tc, test_gunzip_corrupt_header);
    tcase_add_test(tc, test_gunzip_header_crc);
    tcase_add_test(tc, test_gunzip_corrupt_trailer);
    tcase_add_test(tc, test_gunzip_truncated);
    tcase_add_test(tc, test_unzstd_truncated);
    tcase_add_test(tc, test_gunzip_members_and_trailing_bytes);
    tcase_add_test(tc, test_gunzip_refuses_zlib_and_zstd);
    tcase_add_test(tc, test_unzstd_frames_and_corruption);
    tcase_add_test(tc, test_strerror);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(compress_suite());
}
