/* test_sampler.c — ParentBased(TraceIdRatioBased) (daemon/pipeline/sampler.c).
 *
 * Decisions are compared with the OpenTelemetry Python SDK's formula, evaluated by
 * /usr/bin/python3 in integer arithmetic: round(ratio * 2**64), then the low 64 bits
 * of the trace id compared with it. Ratios go to Python as hex floats so both sides
 * start from the same double. */
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

    sampler_init(&s, 0.0);
    ck_assert_int_eq(s.keep_all, 0);
    ck_assert_uint_eq(s.bound, 0);
    sampler_init(&s, -1.0);
    ck_assert_uint_eq(s.bound, 0);
    sampler_init(&s, NAN);
    ck_assert_int_eq(s.keep_all, 0);
    ck_assert_uint_eq(s.bound, 0);
    sampler_init(&s, 1.0);
    ck_assert_int_eq(s.keep_all, 1);
    sampler_init(&s, 7.5);
    ck_assert_int_eq(s.keep_all, 1);
    sampler_init(&s, 0.5);
    ck_assert_int_eq(s.keep_all, 0);
    ck_assert_uint_eq(s.bound, 1ULL << 63);
    sampler_init(&s, 0.25);
    ck_assert_uint_eq(s.bound, 1ULL << 62);

    /* Halves round to even, as Python's round() does. */
    sampler_init(&s, ldexp(1.0, -65));
    ck_assert_uint_eq(s.bound, 0);
    sampler_init(&s, ldexp(3.0, -65));
    ck_assert_uint_eq(s.bound, 2);
    sampler_init(&s, ldexp(5.0, -65));
    ck_assert_uint_eq(s.bound, 2);

    /* The largest ratio below 1 stays below 2^64. */
    sampler_init(&s, nextafter(1.0, 0.0));
    ck_assert_int_eq(s.keep_all, 0);
    ck_assert_uint_eq(s.bound, UINT64_MAX - 2047);
}
END_TEST

START_TEST(keep_all_and_none)
{
    struct sampler all, none;
    uint8_t id[16];

    sampler_init(&all, 1.0);
    sampler_init(&none, 0.0);
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
        sampler_init(&s, ratios[r]);
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
        sampler_init(&s, ratios[r]);
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

    sampler_init(&a, 0.3);
    sampler_init(&b, 0.3);
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
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(sampler_suite());
}
