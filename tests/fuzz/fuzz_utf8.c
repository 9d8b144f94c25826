/* fuzz_utf8.c — libFuzzer differential target for the UTF-8 validator: utf8_valid, with
 * its word-at-a-time ASCII paths, must agree on every input with a plain validator that
 * decodes one code point at a time as the Unicode standard defines well-formed UTF-8
 * (no overlong forms, no surrogates, nothing above U+10FFFF); and utf8_sequence must
 * give the length the plain decoder finds. Every suffix of the input is checked too, so
 * the fast paths see every alignment and length. */
#include <stdint.h>
#include <stdlib.h>

#include "base/utf8.h"

/* Length of the well-formed character at s[0..n), 0 when there is none. */
static size_t plain_char(const uint8_t *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t smallest[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < smallest[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int plain_valid(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = plain_char(s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    uint8_t *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    for (size_t i = 0; i < size; i++)
        s[i] = data[i];
    for (size_t start = 0; start <= size && start < 64; start++) {
        if (utf8_valid(s + start, size - start) != plain_valid(s + start, size - start))
            abort();
        if (start < size && utf8_sequence(s + start, size - start) !=
                                plain_char(s + start, size - start))
            abort();
    }
    free(s);
    return 0;
}
