/* compress.h — gzip and zstd for request and export bodies.
 *
 * The receivers inflate what clients send (Content-Encoding / grpc-encoding gzip or
 * zstd) with a hard bound on the output, so a small compressed body can never make the
 * daemon allocate more than the caller's limit (DESIGN.md decision 4). The exporter
 * compresses batches with gzip (the OTLP standard) or zstd.
 *
 * Every function takes a whole body and returns a whole body: *out is a malloc'd
 * buffer of *out_len bytes that the caller frees, never NULL on success (even for 0
 * bytes). On failure *out is NULL, *out_len is 0 and nothing needs freeing. */
#ifndef SPANRELAY_COMPRESS_H
#define SPANRELAY_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

enum compress_err {
    COMPRESS_OK = 0,
    COMPRESS_ERR_TOO_LARGE = -1, /* the output would exceed max_out */
    COMPRESS_ERR_CORRUPT = -2,   /* not valid data: bad header, checksum, truncated, trailing bytes */
    COMPRESS_ERR_NOMEM = -3,
    COMPRESS_ERR_LEVEL = -4,     /* compression level out of range */
    COMPRESS_ERR_INTERNAL = -5   /* the library failed in a way valid input cannot cause */
};

/* Inflates a gzip body. Concatenated gzip members are accepted (RFC 1952 allows them)
 * and their outputs joined; anything after the last member that is not a gzip member
 * is CORRUPT, as is an empty input. Decoding stops as soon as the output would exceed
 * max_out: the output buffer, grown geometrically, never exceeds max_out bytes (one
 * byte when max_out is 0). zlib's own state adds about 40 KiB while it runs. */
int compress_gunzip(const uint8_t *in, size_t len, size_t max_out,
                    uint8_t **out, size_t *out_len);

/* Decompresses a zstd body (one or more frames) under the same output bound. The
 * decoder's history window is limited to the larger of 8 MiB and max_out (at most
 * 128 MiB); frames asking for more are TOO_LARGE. */
int compress_unzstd(const uint8_t *in, size_t len, size_t max_out,
                    uint8_t **out, size_t *out_len);

/* Compresses into one gzip member. level: -1 (the default, 6) or 0..9, on libdeflate's
 * scale, which at each level compresses about as well as zlib, faster. */
int compress_gzip(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len);

/* Compresses into one zstd frame recording its content size and checksum. level: 0 (zstd's default,
 * 3), or ZSTD_minCLevel()..ZSTD_maxCLevel() (negative levels are the fast ones). */
int compress_zstd(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len);

/* Static text for a compress_err value ("output too large"); "unknown error" otherwise. */
const char *compress_strerror(int err);

#endif
