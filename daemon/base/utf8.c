/* utf8.c — UTF-8 validation for the wire walk and for the strings spanrelay-emit sends. */
#include "base/utf8.h"

#include <string.h>

size_t utf8_sequence(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

#define HIGH_BITS 0x8080808080808080ULL

/* 1 when no byte of s[0..n) has its high bit set. Every byte is read exactly as a whole
 * word or a pair of overlapping loads, so short strings (most attribute keys and values)
 * take no loop at all. */
static int ascii_only(const uint8_t *s, size_t n)
{
    uint64_t acc = 0, w;

    if (n >= 8) {
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
            uint64_t a, b, c, d;
            memcpy(&a, s + i, 8);
            memcpy(&b, s + i + 8, 8);
            memcpy(&c, s + i + 16, 8);
            memcpy(&d, s + i + 24, 8);
            if (((a | b | c | d) & HIGH_BITS) != 0)
                return 0;
        }
        for (; i + 8 <= n; i += 8) {
            memcpy(&w, s + i, 8);
            acc |= w;
        }
        memcpy(&w, s + n - 8, 8);
        return ((acc | w) & HIGH_BITS) == 0;
    }
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return ((a | b) & 0x80808080u) == 0;
    }
    if (n == 0)
        return 1;
    return ((s[0] | s[n / 2] | s[n - 1]) & 0x80) == 0;
}

/* The general case: ASCII runs a word at a time, other characters one sequence at a
 * time. */
static int valid_mixed(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        if (n - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            if ((word & HIGH_BITS) == 0) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = utf8_sequence(s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

int utf8_valid(const uint8_t *s, size_t n)
{
    return ascii_only(s, n) || valid_mixed(s, n);
}
