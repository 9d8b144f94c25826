/* utf8.h — UTF-8 as proto3 requires it of `string` fields: shortest form, no
 * surrogates, nothing above U+10FFFF. */
#ifndef SPANRELAY_UTF8_H
#define SPANRELAY_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1 to 4) of the well-formed sequence that starts s[0..n), n > 0; 0 when the
 * bytes there are not one. */
size_t utf8_sequence(const uint8_t *s, size_t n);

/* 1 when all of s[0..n) is well-formed UTF-8. An all-ASCII string is recognised with a
 * few word loads and no per-byte work; others go eight ASCII bytes at a time. */
int utf8_valid(const uint8_t *s, size_t n);

#endif
