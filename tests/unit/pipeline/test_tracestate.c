/* test_tracestate.c — `th` and `rv` in the tracestate (daemon/pipeline/tracestate.c).
 *
 * Thresholds are checked against the OpenTelemetry specification's table ("TraceState:
 * Probability Sampling", 1-in-N at precision 3, 4 and 5) and its edge cases; rewrites
 * against the W3C rules: the `ot` member updated and moved first, every other member
 * kept byte for byte and in order, nothing written past the limits. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/tracestate.h"
#include "unit.h"

static const char *th_text(uint64_t t)
{
    static char buf[TRACESTATE_HEX_DIGITS + 1];
    tracestate_th_format(t, buf);
    return buf;
}

START_TEST(specification_table)
{
    static const struct {
        double p;
        const char *th[3]; /* precision 3, 4, 5 */
    } rows[] = {
        {1.0, {"0", "0", "0"}},
        {0.5, {"8", "8", "8"}},
        {1.0 / 3, {"aab", "aaab", "aaaab"}},
        {0.25, {"c", "c", "c"}},
        {0.2, {"ccd", "cccd", "ccccd"}},
        {0.125, {"e", "e", "e"}},
        {0.1, {"e66", "e666", "e6666"}},
        {0.0625, {"f", "f", "f"}},
        {0.01, {"fd71", "fd70a", "fd70a4"}},
        {0.001, {"ffbe7", "ffbe77", "ffbe76d"}},
        {0.0001, {"fff972", "fff9724", "fff97247"}},
        {0.00001, {"ffff584", "ffff583a", "ffff583a5"}},
        {0.000001, {"ffffef4", "ffffef39", "ffffef391"}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (unsigned k = 0; k < 3; k++) {
            uint64_t t = tracestate_threshold(rows[i].p, 3 + k);
            ck_assert_msg(strcmp(th_text(t), rows[i].th[k]) == 0,
                          "p %.17g precision %u: th:%s, the specification says th:%s",
                          rows[i].p, 3 + k, th_text(t), rows[i].th[k]);
        }
    }
    /* The specification's worked example: 1 % at five digits is fd70a4. */
    ck_assert_uint_eq(tracestate_threshold(0.01, 5), 0xfd70a400000000ULL);
    ck_assert_uint_eq(tracestate_threshold(0.1, 4), 0xe6660000000000ULL);
}
END_TEST

START_TEST(threshold_edges)
{
    /* Keep everything, and nothing. */
    ck_assert_uint_eq(tracestate_threshold(1.0, 4), 0);
    ck_assert_uint_eq(tracestate_threshold(1.5, 4), 0);
    ck_assert_uint_eq(tracestate_threshold(0.0, 4), TRACESTATE_REJECT_ALL);
    ck_assert_uint_eq(tracestate_threshold(-1.0, 4), TRACESTATE_REJECT_ALL);
    ck_assert_uint_eq(tracestate_threshold(NAN, 4), TRACESTATE_REJECT_ALL);
    ck_assert_uint_eq(tracestate_threshold(ldexp(1.0, -60), 4), TRACESTATE_REJECT_ALL);

    /* The smallest probability, 2^-56, needs all 14 digits: one value of R is kept. */
    uint64_t t = tracestate_threshold(ldexp(1.0, -56), 4);
    ck_assert_uint_eq(t, TRACESTATE_RANDOMNESS_MASK);
    ck_assert_str_eq(th_text(t), "ffffffffffffff");
    /* 2^-57 rounds half up to that one value, as the JS sampler's Math.round does. */
    ck_assert_uint_eq(tracestate_threshold(ldexp(1.0, -57), 4), TRACESTATE_RANDOMNESS_MASK);
    ck_assert_uint_eq(tracestate_threshold(ldexp(3.0, -56), 14), (1ULL << 56) - 3);

    /* Full precision: the exact 2^56 - round(p * 2^56), e.g. what the JS sampler writes. */
    ck_assert_uint_eq(tracestate_threshold(0.1, 14), 0xe6666666666666ULL);
    ck_assert_str_eq(th_text(tracestate_threshold(0.1, 14)), "e6666666666666");
    /* Near 1 there is no extra precision: 0.99999 keeps all but 2^-16. */
    ck_assert_str_eq(th_text(tracestate_threshold(0.99999, 4)), "0001");
    /* Precision 0 counts as 1. */
    ck_assert_str_eq(th_text(tracestate_threshold(0.1, 0)), "e");
}
END_TEST

START_TEST(th_and_rv_text)
{
    uint64_t v;

    ck_assert_str_eq(th_text(0), "0");
    ck_assert_str_eq(th_text(0x80000000000000ULL), "8");
    ck_assert_str_eq(th_text(0xc0000000000000ULL), "c");
    ck_assert_str_eq(th_text(0xe6660000000000ULL), "e666");
    ck_assert_str_eq(th_text(0x00000000000001ULL), "00000000000001");
    ck_assert_str_eq(th_text(0x0a000000000000ULL), "0a");
    ck_assert_str_eq(th_text(0xfffffffffffff0ULL), "fffffffffffff");

    ck_assert_int_eq(tracestate_th_parse("0", 1, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(tracestate_th_parse("c", 1, &v), 0);
    ck_assert_uint_eq(v, 0xc0000000000000ULL);
    ck_assert_int_eq(tracestate_th_parse("E666", 4, &v), 0);
    ck_assert_uint_eq(v, 0xe6660000000000ULL);
    ck_assert_int_eq(tracestate_th_parse("e6660", 5, &v), 0);
    ck_assert_uint_eq(v, 0xe6660000000000ULL);
    ck_assert_int_eq(tracestate_th_parse("ffffffffffffff", 14, &v), 0);
    ck_assert_uint_eq(v, TRACESTATE_RANDOMNESS_MASK);
    ck_assert_int_eq(tracestate_th_parse("", 0, &v), -1);
    ck_assert_int_eq(tracestate_th_parse("fffffffffffffff", 15, &v), -1);
    ck_assert_int_eq(tracestate_th_parse("e6g", 3, &v), -1);
    ck_assert_int_eq(tracestate_th_parse("-1", 2, &v), -1);

    ck_assert_int_eq(tracestate_rv_parse("00000000000000", 14, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(tracestate_rv_parse("FFfFffFFfFFffF", 14, &v), 0);
    ck_assert_uint_eq(v, TRACESTATE_RANDOMNESS_MASK);
    ck_assert_int_eq(tracestate_rv_parse("e6", 2, &v), -1);
    ck_assert_int_eq(tracestate_rv_parse("0123456789abcde", 15, &v), -1);
    ck_assert_int_eq(tracestate_rv_parse("0123456789abcx", 14, &v), -1);

    /* Every value writes and reads back the same, in at most 14 digits. */
    uint64_t x = 0x0123456789abcdULL;
    for (int i = 0; i < 10000; i++) {
        x = (x * 6364136223846793005ULL + 1442695040888963407ULL);
        uint64_t t = (x >> 8) & TRACESTATE_RANDOMNESS_MASK;
        const char *s = th_text(t);
        ck_assert_uint_le(strlen(s), 14);
        ck_assert_int_eq(tracestate_th_parse(s, strlen(s), &v), 0);
        ck_assert_uint_eq(v, t);
    }
}
END_TEST

static struct tracestate_ot parse(const char *ts)
{
    struct tracestate_ot ot;
    tracestate_parse(ts, strlen(ts), &ot);
    return ot;
}

START_TEST(parsing)
{
    struct tracestate_ot ot = parse("");
    ck_assert_uint_eq(ot.members, 0);
    ck_assert(!ot.has_ot && !ot.has_th && !ot.has_rv);

    ot = parse("vendor=x,ot=th:c;rv:0123456789abcd;xy:1,other=y");
    ck_assert_uint_eq(ot.members, 3);
    ck_assert(ot.has_ot && ot.has_th && ot.has_rv);
    ck_assert_uint_eq(ot.th, 0xc0000000000000ULL);
    ck_assert_uint_eq(ot.th_digits, 1);
    ck_assert_uint_eq(ot.rv, 0x0123456789abcdULL);

    ot = parse("ot=rv:0123456789abcd");
    ck_assert(ot.has_ot && !ot.has_th && ot.has_rv);

    ot = parse("ot=th:e6666666666666");
    ck_assert(ot.has_th && !ot.has_rv);
    ck_assert_uint_eq(ot.th_digits, 14);
    ot = parse("ot=th:e6660");
    ck_assert_uint_eq(ot.th_digits, 4);

    /* Malformed values are absent: th of 15 digits, rv of 13, a key that only ends in ot. */
    ot = parse("ot=th:fffffffffffffff;rv:0123456789abc");
    ck_assert(ot.has_ot && !ot.has_th && !ot.has_rv);
    ck_assert_uint_ne(ot.th_end, 0);
    ot = parse("bot=th:8,x@ot=th:8,ot:th=8");
    ck_assert(!ot.has_ot && !ot.has_th);
    ck_assert_uint_eq(ot.members, 3);

    /* Spaces and tabs around members, empty members. */
    ot = parse(" a=1 ,\t ot=th:8 ,, b=2");
    ck_assert_uint_eq(ot.members, 3);
    ck_assert(ot.has_th);
    ck_assert_uint_eq(ot.th, 0x80000000000000ULL);

    /* The first ot member and the first th in it count. */
    ot = parse("ot=th:8;th:c,ot=th:e");
    ck_assert_uint_eq(ot.th, 0x80000000000000ULL);
}
END_TEST

/* set_th on ts must give want (NULL: refused). */
static void expect_set(const char *ts, uint64_t t, const char *want)
{
    char out[TRACESTATE_MAX_LEN];
    struct tracestate_ot ot = parse(ts);
    int n = tracestate_set_th(ts, strlen(ts), &ot, t, out);
    if (want == NULL) {
        ck_assert_msg(n < 0, "\"%s\": rewritten although over the limits", ts);
        return;
    }
    ck_assert_msg(n >= 0, "\"%s\": refused", ts);
    ck_assert_msg((size_t)n == strlen(want) && memcmp(out, want, (size_t)n) == 0,
                  "\"%s\" with th:%s gave \"%.*s\", want \"%s\"", ts, th_text(t), n, out, want);
}

START_TEST(rewriting)
{
    const uint64_t e666 = 0xe6660000000000ULL;

    expect_set("", e666, "ot=th:e666");
    expect_set("ot=th:8", e666, "ot=th:e666");
    expect_set("ot=rv:0123456789abcd", e666, "ot=th:e666;rv:0123456789abcd");
    /* The ot member moves first; the others keep their bytes and their order. */
    expect_set("a=1,ot=th:8;rv:0123456789abcd,b=2", e666,
               "ot=th:e666;rv:0123456789abcd,a=1,b=2");
    expect_set("a=1,b=2,ot=th:8", e666, "ot=th:e666,a=1,b=2");
    expect_set("ot=th:8,a=1,b=2", e666, "ot=th:e666,a=1,b=2");
    expect_set("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", e666,
               "ot=th:e666,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    /* Other ot sub-keys stay where they were around th. */
    expect_set("x=1,ot=xy:1;th:8;rv:0123456789abcd;zz:q", 0, "ot=xy:1;th:0;rv:0123456789abcd;zz:q,x=1");
    expect_set("ot=xy:1", e666, "ot=th:e666;xy:1");
    /* An invalid th is replaced in place. */
    expect_set("ot=th:xyz;rv:0123456789abcd", e666, "ot=th:e666;rv:0123456789abcd");
    /* Whitespace and empty members around the others are theirs to keep. */
    expect_set(" a=1 ,\tot=th:8 , b=2 ", e666, "ot=th:e666,a=1 , b=2");
    expect_set("a=1,,b=2", e666, "ot=th:e666,a=1,,b=2");
    expect_set("  ", e666, "ot=th:e666");
    /* 14 digits when the value needs them. */
    expect_set("ot=th:8", TRACESTATE_RANDOMNESS_MASK, "ot=th:ffffffffffffff");
    /* Never the reject-all value. */
    expect_set("ot=th:8", TRACESTATE_REJECT_ALL, NULL);
}
END_TEST

START_TEST(limits)
{
    char ts[TRACESTATE_MAX_LEN + 64], want[TRACESTATE_MAX_LEN + 128];
    char expect[TRACESTATE_MAX_LEN + 128];
    size_t n = 0;

    /* 32 members without ot: a 33rd cannot be added. */
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(ts + n, sizeof ts - n, "%sk%d=v", i ? "," : "", i);
    expect_set(ts, 0xe6660000000000ULL, NULL);
    /* With 31 it can, first. */
    char *last = strrchr(ts, ',');
    *last = '\0';
    snprintf(want, sizeof want, "ot=th:e666,%s", ts);
    expect_set(ts, 0xe6660000000000ULL, want);
    /* 32 members, one of them ot: updated in place, still 32. */
    snprintf(expect, sizeof expect, "ot=th:e666,%s", ts);
    strcat(ts, ",ot=th:8");
    expect_set(ts, 0xe6660000000000ULL, expect);

    /* 512 characters: a result of exactly 512 is written, 513 is not. */
    memset(ts, 0, sizeof ts);
    memcpy(ts, "a=", 2);
    memset(ts + 2, 'x', 512 - 2 - strlen(",ot=th:e666"));
    strcat(ts, ",ot=th:8");
    ck_assert_uint_eq(strlen(ts) + 3, 512);
    snprintf(expect, sizeof expect, "ot=th:e666,%.*s", (int)(strlen(ts) - strlen(",ot=th:8")), ts);
    ck_assert_uint_eq(strlen(expect), 512);
    expect_set(ts, 0xe6660000000000ULL, expect);
    expect_set(ts, 0xe6661000000000ULL, NULL);

    /* The ot value itself: at most 256 characters. */
    n = (size_t)snprintf(ts, sizeof ts, "ot=th:8;zz:");
    memset(ts + n, 'q', 256 - strlen("th:8;zz:"));
    ts[n + 256 - strlen("th:8;zz:")] = '\0';
    snprintf(expect, sizeof expect, "%s", ts);
    expect[6] = 'c';
    expect_set(ts, 0xc0000000000000ULL, expect);
    expect_set(ts, 0xe6660000000000ULL, NULL);
}
END_TEST

static Suite *tracestate_suite(void)
{
    Suite *s = suite_create("tracestate");
    TCase *tc = tcase_create("tracestate");
    tcase_add_test(tc, specification_table);
    tcase_add_test(tc, threshold_edges);
    tcase_add_test(tc, th_and_rv_text);
    tcase_add_test(tc, parsing);
    tcase_add_test(tc, rewriting);
    tcase_add_test(tc, limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(tracestate_suite());
}
