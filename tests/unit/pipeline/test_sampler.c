/* test_sampler.c — the sampling rules (daemon/pipeline/sampler.c).
 *
 * Python rule: decisions are compared with the OpenTelemetry Python SDK's formula, evaluated by
 * /usr/bin/python3 in integer arithmetic: round(ratio * 2**64), then the low 64 bits
 * of the trace id compared with it. Ratios go to Python as hex floats so both sides
 * start from the same double.
 * Consistent rule: the randomness from `rv` or the trace id, equalizing with the
 * incoming `th`, erasure of an inconsistent one, the tracestate written, and which rule
 * `auto` picks, on trace ids and tracestates chosen either side of each threshold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/sampler.h"
#include "unit.h"

static const char python_reference[] =
    "import sys\n"
    "for line in sys.stdin:\n"
    "    ratio, trace_id = line.split()\n"
    "    bound = round(float.fromhex(ratio) * 2**64)\n"
    "    print(1 if (int(trace_id, 16) & (2**64 - 1)) < bound else 0)\n";

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void random_trace_id(uint8_t id[16])
{
    uint64_t hi = rnd(), lo = rnd();
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(hi >> (56 - 8 * i));
        id[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
}

static void set_low64(uint8_t id[16], uint64_t low)
{
    for (int i = 0; i < 8; i++)
        id[8 + i] = (uint8_t)(low >> (56 - 8 * i));
}

START_TEST(bounds)
{
    struct sampler s;

    sampler_init(&s, 0.0, CONFIG_SAMPLER_PYTHON);
    ck_assert_int_eq(s.keep_all, 0);
    ck_assert_uint_eq(s.bound, 0);
    sampler_init(&s, -1.0, CONFIG_SAMPLER_PYTHON);
    ck_assert_uint_eq(s.bound, 0);
    sampler_init(&s, NAN, CONFIG_SAMPLER_PYTHON);
    ck_assert_int_eq(s.keep_all, 0);
    ck_assert_uint_eq(s.bound, 0);
    sampler_init(&s, 1.0, CONFIG_SAMPLER_PYTHON);
    ck_assert_int_eq(s.keep_all, 1);
    sampler_init(&s, 7.5, CONFIG_SAMPLER_PYTHON);
    ck_assert_int_eq(s.keep_all, 1);
    sampler_init(&s, 0.5, CONFIG_SAMPLER_PYTHON);
    ck_assert_int_eq(s.keep_all, 0);
    ck_assert_uint_eq(s.bound, 1ULL << 63);
    sampler_init(&s, 0.25, CONFIG_SAMPLER_PYTHON);
    ck_assert_uint_eq(s.bound, 1ULL << 62);

    /* Halves round to even, as Python's round() does. */
    sampler_init(&s, ldexp(1.0, -65), CONFIG_SAMPLER_PYTHON);
    ck_assert_uint_eq(s.bound, 0);
    sampler_init(&s, ldexp(3.0, -65), CONFIG_SAMPLER_PYTHON);
    ck_assert_uint_eq(s.bound, 2);
    sampler_init(&s, ldexp(5.0, -65), CONFIG_SAMPLER_PYTHON);
    ck_assert_uint_eq(s.bound, 2);

    /* The largest ratio below 1 stays below 2^64. */
    sampler_init(&s, nextafter(1.0, 0.0), CONFIG_SAMPLER_PYTHON);
    ck_assert_int_eq(s.keep_all, 0);
    ck_assert_uint_eq(s.bound, UINT64_MAX - 2047);
}
END_TEST

START_TEST(keep_all_and_none)
{
    struct sampler all, none;
    uint8_t id[16];

    sampler_init(&all, 1.0, CONFIG_SAMPLER_PYTHON);
    sampler_init(&none, 0.0, CONFIG_SAMPLER_PYTHON);
    rng_state = 7;
    for (int i = 0; i < 1000; i++) {
        random_trace_id(id);
        ck_assert_int_eq(sampler_keep(&all, id), 1);
        ck_assert_int_eq(sampler_keep(&none, id), 0);
    }
    memset(id, 0xff, sizeof id);
    ck_assert_int_eq(sampler_keep(&all, id), 1);
    memset(id, 0, sizeof id);
    ck_assert_int_eq(sampler_keep(&none, id), 0);
}
END_TEST

/* The trace ids checked for one ratio: either side of the bound, the ends, random. */
static size_t trace_ids_for(const struct sampler *s, uint8_t ids[][16], size_t max)
{
    size_t n = 0;
    uint64_t near[] = {0, 1, UINT64_MAX, UINT64_MAX - 1, s->bound, s->bound - 1, s->bound + 1,
                       s->bound - 2, s->bound + 2};

    for (size_t i = 0; i < sizeof near / sizeof near[0] && n < max; i++) {
        random_trace_id(ids[n]);
        set_low64(ids[n++], near[i]);
    }
    while (n < max)
        random_trace_id(ids[n++]);
    return n;
}

START_TEST(same_as_python_sdk)
{
    const double ratios[] = {
        0.0, 1.0, 0.5, 0.1, 0.01, 1e-9, 0.25, 0.3, 0.999999, 1e-300,
        ldexp(1.0, -65), ldexp(3.0, -65), ldexp(5.0, -65), nextafter(1.0, 0.0),
        1.5, -0.5,
    };
    enum { PER_RATIO = 64 };
    size_t nratios = sizeof ratios / sizeof ratios[0];
    uint8_t ids[PER_RATIO][16];
    int mine[sizeof ratios / sizeof ratios[0]][PER_RATIO];

    char path[] = "/tmp/test_sampler_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *in = fdopen(fd, "w");
    ck_assert_ptr_nonnull(in);

    rng_state = 42;
    for (size_t r = 0; r < nratios; r++) {
        struct sampler s;
        sampler_init(&s, ratios[r], CONFIG_SAMPLER_PYTHON);
        size_t n = trace_ids_for(&s, ids, PER_RATIO);
        for (size_t i = 0; i < n; i++) {
            fprintf(in, "%a ", ratios[r]);
            for (int k = 0; k < 16; k++)
                fprintf(in, "%02x", ids[i][k]);
            fputc('\n', in);
            mine[r][i] = sampler_keep(&s, ids[i]);
        }
    }
    ck_assert_int_eq(fclose(in), 0);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"$SPANRELAY_PY\" < %s", path);
    ck_assert_int_eq(setenv("SPANRELAY_PY", python_reference, 1), 0);
    FILE *py = popen(cmd, "r");
    ck_assert_ptr_nonnull(py);

    size_t checked = 0, kept = 0;
    for (size_t r = 0; r < nratios; r++) {
        for (size_t i = 0; i < PER_RATIO; i++) {
            int theirs;
            ck_assert_int_eq(fscanf(py, "%d", &theirs), 1);
            ck_assert_msg(theirs == mine[r][i], "ratio %a, id %zu: python %d, sampler %d",
                          ratios[r], i, theirs, mine[r][i]);
            checked++;
            kept += (size_t)theirs;
        }
    }
    ck_assert_int_eq(pclose(py), 0);
    unlink(path);
    ck_assert_uint_eq(checked, nratios * PER_RATIO);
    /* Both answers occur, so the comparison means something. */
    ck_assert_uint_gt(kept, 0);
    ck_assert_uint_lt(kept, checked);
}
END_TEST

START_TEST(kept_fraction)
{
    const double ratios[] = {0.5, 0.1, 0.01, 1e-9, 0.9};
    const int n = 100000;
    uint8_t id[16];

    rng_state = 1234;
    for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
        struct sampler s;
        sampler_init(&s, ratios[r], CONFIG_SAMPLER_PYTHON);
        int kept = 0;
        for (int i = 0; i < n; i++) {
            random_trace_id(id);
            kept += sampler_keep(&s, id);
        }
        double expected = n * ratios[r];
        double sigma = sqrt(n * ratios[r] * (1 - ratios[r]));
        ck_assert_msg(fabs(kept - expected) <= 5 * sigma + 0.5,
                      "ratio %g: kept %d of %d, expected %.1f +- %.1f", ratios[r], kept, n,
                      expected, 5 * sigma);
    }
}
END_TEST

/* Two sidecars (two samplers) and any span of a trace: one answer, taken from the
 * low 64 bits only. */
START_TEST(one_answer_per_trace)
{
    struct sampler a, b;
    uint8_t id[16], other[16];

    sampler_init(&a, 0.3, CONFIG_SAMPLER_PYTHON);
    sampler_init(&b, 0.3, CONFIG_SAMPLER_PYTHON);
    rng_state = 99;
    for (int i = 0; i < 10000; i++) {
        random_trace_id(id);
        int decision = sampler_keep(&a, id);
        ck_assert_int_eq(sampler_keep(&b, id), decision);
        ck_assert_int_eq(sampler_keep(&a, id), decision);
        random_trace_id(other);
        memcpy(other + 8, id + 8, 8);
        ck_assert_int_eq(sampler_keep(&b, other), decision);
    }
}
END_TEST

static void set_low56(uint8_t id[16], uint64_t r)
{
    id[8] = 0xa5; /* not part of the randomness */
    for (int i = 0; i < 7; i++)
        id[9 + i] = (uint8_t)(r >> (48 - 8 * i));
}

/* Decides a span of randomness r (in the trace id) with tracestate ts. */
static struct sampler_decision decide(const struct sampler *s, uint64_t r, const char *ts)
{
    struct sampler_decision d;
    uint8_t id[16];
    memset(id, 0x11, sizeof id);
    set_low56(id, r);
    memset(&d, 0x5a, sizeof d);
    sampler_decide(s, id, ts, strlen(ts), &d);
    return d;
}

static void expect_ts(const struct sampler_decision *d, const char *want)
{
    if (want == NULL) {
        ck_assert_msg(!d->rewrite, "tracestate rewritten to \"%.*s\"",
                      (int)d->trace_state_len, d->trace_state);
        return;
    }
    ck_assert_msg(d->rewrite, "tracestate not rewritten, want \"%s\"", want);
    ck_assert_msg(d->trace_state_len == strlen(want) &&
                      memcmp(d->trace_state, want, d->trace_state_len) == 0,
                  "tracestate \"%.*s\", want \"%s\"", (int)d->trace_state_len, d->trace_state,
                  want);
}

START_TEST(consistent_from_trace_id)
{
    struct sampler s;
    struct sampler_decision d;

    sampler_init(&s, 0.1, CONFIG_SAMPLER_CONSISTENT);
    ck_assert_uint_eq(s.threshold[4], 0xe6660000000000ULL);

    d = decide(&s, 0xe665ffffffffffULL, "");
    ck_assert_int_eq(d.keep, 0);
    ck_assert_int_eq(d.rule, STATS_RULE_CONSISTENT);
    expect_ts(&d, NULL);

    d = decide(&s, 0xe6660000000000ULL, "");
    ck_assert_int_eq(d.keep, 1);
    ck_assert_int_eq(d.th_inconsistent, 0);
    expect_ts(&d, "ot=th:e666");

    d = decide(&s, TRACESTATE_RANDOMNESS_MASK, "vendor=1");
    ck_assert_int_eq(d.keep, 1);
    expect_ts(&d, "ot=th:e666,vendor=1");

    /* Byte 8 of the trace id is not randomness: all ones there change nothing. */
    uint8_t id[16];
    memset(id, 0, sizeof id);
    id[8] = 0xff;
    sampler_decide(&s, id, "", 0, &d);
    ck_assert_int_eq(d.keep, 0);
}
END_TEST

START_TEST(consistent_from_rv)
{
    struct sampler s;
    struct sampler_decision d;

    sampler_init(&s, 0.1, CONFIG_SAMPLER_AUTO);
    /* rv decides, whatever the trace id says; rv is kept as it was. */
    d = decide(&s, 0, "ot=rv:e6660000000000");
    ck_assert_int_eq(d.keep, 1);
    ck_assert_int_eq(d.rule, STATS_RULE_CONSISTENT);
    expect_ts(&d, "ot=th:e666;rv:e6660000000000");

    d = decide(&s, TRACESTATE_RANDOMNESS_MASK, "a=b,ot=rv:E665FFFFFFFFFF");
    ck_assert_int_eq(d.keep, 0);

    /* A malformed rv is no rv: the trace id decides, under the Python rule in auto. */
    d = decide(&s, TRACESTATE_RANDOMNESS_MASK, "ot=rv:e666");
    ck_assert_int_eq(d.rule, STATS_RULE_PYTHON);
    expect_ts(&d, NULL);
}
END_TEST

START_TEST(equalizing)
{
    struct sampler s;
    struct sampler_decision d;

    sampler_init(&s, 0.1, CONFIG_SAMPLER_AUTO);

    /* Upstream 50 %: raised to e666 for what stays. */
    d = decide(&s, 0xe6660000000000ULL, "ot=th:8");
    ck_assert_int_eq(d.keep, 1);
    expect_ts(&d, "ot=th:e666");
    d = decide(&s, 0xe665ffffffffffULL, "ot=th:8");
    ck_assert_int_eq(d.keep, 0);
    ck_assert_int_eq(d.th_inconsistent, 0);

    /* Upstream 1/16, stricter than 10 %: kept as it came, never lowered. */
    d = decide(&s, 0xf0000000000000ULL, "ot=th:f;rv:f0000000000000");
    ck_assert_int_eq(d.keep, 1);
    expect_ts(&d, NULL);

    /* Upstream at full precision (the JS sampler at 0.1): equal, unchanged. */
    d = decide(&s, 0xe6666666666666ULL, "ot=th:e6666666666666");
    ck_assert_int_eq(d.keep, 1);
    expect_ts(&d, NULL);

    /* A more precise incoming th raises the stage's precision: 5 % at 14 digits. */
    struct sampler five;
    sampler_init(&five, 0.05, CONFIG_SAMPLER_AUTO);
    d = decide(&five, 0xf4000000000000ULL, "ot=th:e6666666666666");
    expect_ts(&d, "ot=th:f3333333333333");
    d = decide(&five, 0xf4000000000000ULL, "ot=th:8");
    expect_ts(&d, "ot=th:f3333");

    /* A second stage at a lower ratio over the first one's output raises th again
     * (a destination sampling below the primary). */
    struct sampler lower;
    sampler_init(&lower, 0.01, CONFIG_SAMPLER_AUTO);
    d = decide(&lower, 0xfd70a400000000ULL, "ot=th:e666");
    ck_assert_int_eq(d.keep, 1);
    expect_ts(&d, "ot=th:fd70a");
    d = decide(&lower, 0xf0000000000000ULL, "ot=th:e666");
    ck_assert_int_eq(d.keep, 0);
}
END_TEST

START_TEST(inconsistent_th_erased)
{
    struct sampler s;
    struct sampler_decision d;

    sampler_init(&s, 0.5, CONFIG_SAMPLER_AUTO);
    /* th:f says R >= f0..., but R is 9...: th is erased, the span decided without it. */
    d = decide(&s, 0x90000000000000ULL, "x=1,ot=th:f;rv:90000000000000");
    ck_assert_int_eq(d.th_inconsistent, 1);
    ck_assert_int_eq(d.keep, 1);
    expect_ts(&d, "ot=th:8;rv:90000000000000,x=1");

    sampler_init(&s, 0.1, CONFIG_SAMPLER_AUTO);
    d = decide(&s, 0x90000000000000ULL, "ot=th:f");
    ck_assert_int_eq(d.th_inconsistent, 1);
    ck_assert_int_eq(d.keep, 0);

    /* At ratio 1: kept, marked as certain. */
    sampler_init(&s, 1.0, CONFIG_SAMPLER_AUTO);
    d = decide(&s, 0x10000000000000ULL, "ot=th:8");
    ck_assert_int_eq(d.th_inconsistent, 1);
    ck_assert_int_eq(d.keep, 1);
    expect_ts(&d, "ot=th:0");
    d = decide(&s, 0x80000000000000ULL, "ot=th:8");
    ck_assert_int_eq(d.th_inconsistent, 0);
    expect_ts(&d, NULL);
}
END_TEST

START_TEST(which_rule)
{
    struct sampler autos, python, consistent;
    struct sampler_decision d;
    uint8_t id[16];

    sampler_init(&autos, 0.3, CONFIG_SAMPLER_AUTO);
    sampler_init(&python, 0.3, CONFIG_SAMPLER_PYTHON);
    sampler_init(&consistent, 0.3, CONFIG_SAMPLER_CONSISTENT);
    static const char *const python_in_auto[] = {
        "", "vendor=ot", "ot=xy:1", "ot=th:zz", "ot=th:", "ot=rv:123", "bot=th:8", "x@ot=th:8",
    };

    rng_state = 77;
    for (int i = 0; i < 2000; i++) {
        random_trace_id(id);
        int python_keep = sampler_keep(&python, id);
        const char *ts = python_in_auto[i % (sizeof python_in_auto / sizeof python_in_auto[0])];

        sampler_decide(&autos, id, ts, strlen(ts), &d);
        ck_assert_int_eq(d.rule, STATS_RULE_PYTHON);
        ck_assert_int_eq(d.keep, python_keep);
        ck_assert_int_eq(d.rewrite, 0);

        /* The Python rule never reads or writes the tracestate. */
        sampler_decide(&python, id, "ot=th:0", 7, &d);
        ck_assert_int_eq(d.rule, STATS_RULE_PYTHON);
        ck_assert_int_eq(d.keep, python_keep);
        ck_assert_int_eq(d.rewrite, 0);

        uint64_t r = 0;
        for (int k = 9; k < 16; k++)
            r = (r << 8) | id[k];
        int consistent_keep = r >= consistent.threshold[4];
        sampler_decide(&consistent, id, ts, strlen(ts), &d);
        ck_assert_int_eq(d.rule, STATS_RULE_CONSISTENT);
        ck_assert_int_eq(d.keep, consistent_keep);
        ck_assert_int_eq(d.rewrite, consistent_keep);

        sampler_decide(&autos, id, "ot=th:0", 7, &d);
        ck_assert_int_eq(d.rule, STATS_RULE_CONSISTENT);
        ck_assert_int_eq(d.keep, consistent_keep);
    }
}
END_TEST

START_TEST(tracestate_too_long)
{
    struct sampler s;
    struct sampler_decision d;
    char ts[512];
    size_t n = 0;

    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(ts + n, sizeof ts - n, "%sk%d=v", i ? "," : "", i);
    sampler_init(&s, 0.1, CONFIG_SAMPLER_CONSISTENT);
    d = decide(&s, TRACESTATE_RANDOMNESS_MASK, ts);
    ck_assert_int_eq(d.keep, 1);
    ck_assert_int_eq(d.too_long, 1);
    expect_ts(&d, NULL);
    d = decide(&s, 0, ts);
    ck_assert_int_eq(d.keep, 0);
    ck_assert_int_eq(d.too_long, 0);
}
END_TEST

START_TEST(consistent_kept_fraction)
{
    const double ratios[] = {0.5, 0.1, 0.01, 0.9};
    const int n = 100000;
    uint8_t id[16];
    struct sampler_decision d;

    rng_state = 4321;
    for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
        struct sampler s;
        sampler_init(&s, ratios[r], CONFIG_SAMPLER_CONSISTENT);
        int kept = 0;
        for (int i = 0; i < n; i++) {
            random_trace_id(id);
            sampler_decide(&s, id, "", 0, &d);
            kept += d.keep;
        }
        double expected = n * ratios[r];
        double sigma = sqrt(n * ratios[r] * (1 - ratios[r]));
        ck_assert_msg(fabs(kept - expected) <= 5 * sigma + 0.5,
                      "ratio %g: kept %d of %d, expected %.1f +- %.1f", ratios[r], kept, n,
                      expected, 5 * sigma);
    }

    struct sampler none;
    sampler_init(&none, 0.0, CONFIG_SAMPLER_CONSISTENT);
    d = decide(&none, TRACESTATE_RANDOMNESS_MASK, "ot=th:0");
    ck_assert_int_eq(d.keep, 0);
}
END_TEST

static Suite *sampler_suite(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("sampler");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bounds);
    tcase_add_test(tc, keep_all_and_none);
    tcase_add_test(tc, same_as_python_sdk);
    tcase_add_test(tc, kept_fraction);
    tcase_add_test(tc, one_answer_per_trace);
    tcase_add_test(tc, consistent_from_trace_id);
    tcase_add_test(tc, consistent_from_rv);
    tcase_add_test(tc, equalizing);
    tcase_add_test(tc, inconsistent_th_erased);
    tcase_add_test(tc, which_rule);
    tcase_add_test(tc, tracestate_too_long);
    tcase_add_test(tc, consistent_kept_fraction);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(sampler_suite());
}
