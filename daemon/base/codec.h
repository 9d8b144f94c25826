/* codec.h — the small text encodings several modules read or write: hex digits
 * (percent-decoding, OTLP/JSON ids, configuration values) and base64 (gRPC -bin
 * metadata, OTLP/JSON bytes). */
#ifndef SPANRELAY_CODEC_H
#define SPANRELAY_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* 0..15 for a hex digit of either case, -1 otherwise. */
int codec_hex_value(int ch);

/* 0..63 for a base64 digit of the standard or the URL-safe alphabet, -1 otherwise
 * ('=' included: padding is the caller's to strip). */
int codec_base64_value(int ch);

/* Decodes base64 digits src[0..len) without padding into out, which holds at least
 * len * 3 / 4 + 2 bytes. Returns the decoded length, or -1 at a byte that is not a
 * digit. */
long codec_base64_decode(const uint8_t *src, size_t len, uint8_t *out);

/* Encodes src[0..n) as standard base64 without padding (gRPC's -bin form) into dst,
 * NUL-terminated; stops early rather than overflow dstlen. */
void codec_base64_encode(char *dst, size_t dstlen, const uint8_t *src, size_t n);

#endif
