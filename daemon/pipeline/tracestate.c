/* tracestate.c — reading and rewriting the `ot` entry of a W3C tracestate (see
 * tracestate.h). Everything works on the caller's bytes: no allocation, and a
 * rewrite copies every byte it does not change. */
#include <math.h>
#include <string.h>

#include "pipeline/tracestate.h"
#include "base/codec.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Reads n hex digits; -1 at anything else. */
static int hex_read(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        int d = codec_hex_value((unsigned char)s[i]);
        if (d < 0)
            return -1;
        x = (x << 4) | (uint64_t)d;
    }
    *v = x;
    return 0;
}

int tracestate_th_parse(const char *s, size_t len, uint64_t *t)
{
    uint64_t v;
    if (len == 0 || len > TRACESTATE_HEX_DIGITS || hex_read(s, len, &v) != 0)
        return -1;
    *t = v << (4 * (TRACESTATE_HEX_DIGITS - len));
    return 0;
}

int tracestate_rv_parse(const char *s, size_t len, uint64_t *rv)
{
    if (len != TRACESTATE_HEX_DIGITS)
        return -1;
    return hex_read(s, len, rv);
}

size_t tracestate_th_format(uint64_t t, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = TRACESTATE_HEX_DIGITS;

    if (t == 0) {
        out[0] = '0';
        out[1] = '\0';
        return 1;
    }
    for (size_t i = 0; i < TRACESTATE_HEX_DIGITS; i++)
        out[i] = digits[(t >> (4 * (TRACESTATE_HEX_DIGITS - 1 - i))) & 0xf];
    while (out[n - 1] == '0')
        n--;
    out[n] = '\0';
    return n;
}

uint64_t tracestate_threshold(double p, unsigned precision)
{
    if (!(p > 0.0))
        return TRACESTATE_REJECT_ALL;
    if (p >= 1.0)
        return 0;

    /* p * 2^56 only moves the exponent: the product is exact before rounding. */
    double kept = round(ldexp(p, 56));
    if (kept < 1.0)
        return TRACESTATE_REJECT_ALL;
    uint64_t t = TRACESTATE_REJECT_ALL - (uint64_t)kept;

    /* A small probability has leading `f` digits that say nothing about it: each one
     * adds a digit, so the precision applies to its significant digits. */
    int exp;
    frexp(p, &exp);
    unsigned prec = precision + (unsigned)(-exp / 4);
    if (prec < 1)
        prec = 1;
    if (prec >= TRACESTATE_HEX_DIGITS)
        return t;

    unsigned shift = 4 * (TRACESTATE_HEX_DIGITS - prec);
    uint64_t rounded = ((t + (1ULL << (shift - 1))) >> shift) << shift;
    /* Rounding up to 2^56 would reject everything: keep the exact value instead. */
    return rounded < TRACESTATE_REJECT_ALL ? rounded : t;
}

/* The sub-keys of the `ot` value [from, to): the first th and the first rv count. */
static void parse_ot_value(const char *ts, size_t from, size_t to, struct tracestate_ot *ot)
{
    size_t i = from;

    while (i <= to) {
        size_t start = i;
        while (i < to && ts[i] != ';')
            i++;
        size_t n = i - start;
        const char *s = ts + start;
        if (n >= 3 && memcmp(s, "th:", 3) == 0 && ot->th_end == 0) {
            ot->th_start = start;
            ot->th_end = i;
            if (tracestate_th_parse(s + 3, n - 3, &ot->th) == 0) {
                size_t digits = n - 3;
                while (digits > 0 && s[3 + digits - 1] == '0')
                    digits--;
                ot->has_th = 1;
                ot->th_digits = (unsigned)digits;
            }
        } else if (n >= 3 && memcmp(s, "rv:", 3) == 0 && !ot->has_rv) {
            ot->has_rv = tracestate_rv_parse(s + 3, n - 3, &ot->rv) == 0;
        }
        i++;
    }
}

void tracestate_parse(const char *ts, size_t len, struct tracestate_ot *ot)
{
    size_t i = 0;

    memset(ot, 0, sizeof(*ot));
    while (i < len) {
        size_t start = i;
        while (i < len && ts[i] != ',')
            i++;
        size_t end = i;
        while (start < end && is_ows(ts[start]))
            start++;
        while (end > start && is_ows(ts[end - 1]))
            end--;
        if (start < end) {
            ot->members++;
            if (!ot->has_ot && end - start >= 3 && memcmp(ts + start, "ot=", 3) == 0) {
                ot->has_ot = 1;
                ot->ot_start = start;
                ot->ot_end = end;
                parse_ot_value(ts, start + 3, end, ot);
            }
        }
        i++;
    }
}

/* Appends within TRACESTATE_MAX_LEN; remembers an overflow instead of writing past. */
struct out {
    char *buf;
    size_t n;
    int over;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->over || n > TRACESTATE_MAX_LEN - o->n) {
        o->over = 1;
        return;
    }
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* The `ot` member with th set: in place of the old th, else first. */
static void put_ot(struct out *o, const char *ts, const struct tracestate_ot *ot,
                   const char *th)
{
    put_str(o, "ot=");
    if (!ot->has_ot) {
        put_str(o, "th:");
        put_str(o, th);
        return;
    }
    size_t from = ot->ot_start + 3, to = ot->ot_end;
    if (ot->th_end != 0) {
        put(o, ts + from, ot->th_start - from);
        put_str(o, "th:");
        put_str(o, th);
        put(o, ts + ot->th_end, to - ot->th_end);
        return;
    }
    put_str(o, "th:");
    put_str(o, th);
    if (to > from) {
        put_str(o, ";");
        put(o, ts + from, to - from);
    }
}

/* The list without the `ot` member and one comma next to it, copied as it was. */
static void put_rest(struct out *o, const char *ts, size_t len, const struct tracestate_ot *ot)
{
    size_t a_end = len, b_start = len;

    if (ot->has_ot) {
        size_t after = ot->ot_end, before = ot->ot_start;
        while (after < len && is_ows(ts[after]))
            after++;
        while (before > 0 && is_ows(ts[before - 1]))
            before--;
        a_end = ot->ot_start;
        b_start = ot->ot_end;
        if (after < len && ts[after] == ',') {
            a_end = before;
            b_start = after + 1;
        }
        else if (before > 0 && ts[before - 1] == ',')
            a_end = before - 1;
    }

    /* Trimmed at both ends: the pieces join without a stray separator. */
    size_t a = 0, b_end = len;
    while (a < a_end && is_ows(ts[a]))
        a++;
    while (b_end > b_start && is_ows(ts[b_end - 1]))
        b_end--;
    if (b_start == b_end) {
        while (a_end > a && is_ows(ts[a_end - 1]))
            a_end--;
    }
    if (a == a_end) {
        while (b_start < b_end && is_ows(ts[b_start]))
            b_start++;
    }
    if (a == a_end && b_start == b_end)
        return;
    put_str(o, ",");
    put(o, ts + a, a_end - a);
    put(o, ts + b_start, b_end - b_start);
}

int tracestate_set_th(const char *ts, size_t len, const struct tracestate_ot *ot, uint64_t t,
                      char *out)
{
    char th[TRACESTATE_HEX_DIGITS + 1];
    struct out o = { .buf = out };

    if (t >= TRACESTATE_REJECT_ALL)
        return -1;
    if (ot->members + (ot->has_ot ? 0 : 1) > TRACESTATE_MAX_MEMBERS)
        return -1;
    tracestate_th_format(t, th);
    put_ot(&o, ts, ot, th);
    if (o.over || o.n - 3 > TRACESTATE_OT_MAX_LEN)
        return -1;
    put_rest(&o, ts, len, ot);
    if (o.over)
        return -1;
    return (int)o.n;
}
