/* test_batch_split.c — batch_split.c: pieces within a span limit, within a byte limit
 * (a span larger than it alone), and halves; every piece decodes, every span arrives
 * once, in order, under its own resource and scope; span counts add up; a body that
 * does not parse or disagrees with its span count is refused. */
#include "unit.h"

#include <stdint.h>
#include <string.h>

#include "export/batch_split.h"
#include "otlp_request.h"

static struct exporter_batch batch;
static struct req_buf body;

static void setup(void)
{
    body = (struct req_buf){ 0 };
    batch = (struct exporter_batch){ .first_try_ms = 1234 };
}

static void teardown(void)
{
    free(body.data);
}

static void build(unsigned resources, unsigned scopes, unsigned spans, size_t base, size_t spread)
{
    uint32_t next = 0;
    free(body.data);
    body = (struct req_buf){ 0 };
    batch.spans = req_build(&body, resources, scopes, spans, base, spread, &next);
    batch.data = body.data;
    batch.len = body.len;
}

/* Checks the pieces against the batch and the limits; returns how many there are. */
static int check_pieces(const struct exporter_batch *pieces, size_t max_spans, size_t max_bytes)
{
    uint32_t expect = 0;
    uint64_t spans = 0;
    int n = 0;
    for (const struct exporter_batch *p = pieces; p; p = p->next, n++) {
        ck_assert_uint_gt(p->spans, 0);
        ck_assert_uint_le(p->spans, max_spans);
        if (p->spans > 1)
            ck_assert_uint_le(p->len, max_bytes);
        ck_assert_uint_eq(p->first_try_ms, 1234);
        ck_assert_int_eq(p->attempts, 0);
        ck_assert_uint_eq(req_check(p->data, p->len, &expect), p->spans);
        spans += p->spans;
    }
    ck_assert_uint_eq(spans, batch.spans);
    ck_assert_uint_eq(expect, batch.spans);
    return n;
}

START_TEST(test_split_by_spans)
{
    build(1, 1, 1024, 60, 0);
    char err[128];
    struct exporter_batch *p = batch_split_limits(&batch, batch.data, 100, 1 << 30, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(check_pieces(p, 100, 1 << 30), 11);
    batch_split_free(p);
}
END_TEST

START_TEST(test_split_by_bytes_across_resources_and_scopes)
{
    build(3, 4, 40, 100, 900);
    char err[128];
    size_t max = batch.len / 7;
    struct exporter_batch *p = batch_split_limits(&batch, batch.data, 1000, max, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    int n = check_pieces(p, 1000, max);
    ck_assert_int_ge(n, 7);
    /* The margin for repeated headers keeps the pieces few. */
    ck_assert_int_le(n, 10);
    batch_split_free(p);
}
END_TEST

/* Greedy pieces that end up over the limit once their headers are added are halved. */
START_TEST(test_tight_byte_limit_is_kept)
{
    build(2, 2, 50, 50, 0);
    char err[128];
    for (size_t max = 200; max < 2000; max += 97) {
        struct exporter_batch *p = batch_split_limits(&batch, batch.data, 1000, max, err,
                                                      sizeof(err));
        ck_assert_msg(p != NULL, "%s", err);
        check_pieces(p, 1000, max);
        batch_split_free(p);
    }
}
END_TEST

START_TEST(test_span_over_the_byte_limit_goes_alone)
{
    build(1, 1, 9, 100, 0);
    /* Span 9 is made huge, in a second request appended (a concatenated batch). */
    uint32_t next = 9;
    batch.spans += req_build(&body, 1, 1, 1, 5000, 0, &next);
    batch.spans += req_build(&body, 1, 1, 5, 100, 0, &next);
    batch.data = body.data;
    batch.len = body.len;
    char err[128];
    struct exporter_batch *p = batch_split_limits(&batch, batch.data, 1000, 1000, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    check_pieces(p, 1000, 1000);
    int alone = 0;
    for (struct exporter_batch *q = p; q; q = q->next)
        alone += q->len > 1000 && q->spans == 1;
    ck_assert_int_eq(alone, 1);
    batch_split_free(p);
}
END_TEST

START_TEST(test_halves)
{
    build(2, 3, 17, 80, 300);
    char err[128];
    struct exporter_batch *p = batch_split_halves(&batch, batch.data, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(check_pieces(p, batch.spans, batch.len), 2);
    /* About half the bytes each. */
    ck_assert_uint_gt(p->len, batch.len / 3);
    ck_assert_uint_gt(p->next->len, batch.len / 3);
    batch_split_free(p);
}
END_TEST

START_TEST(test_two_spans_halve_into_one_each)
{
    build(1, 1, 2, 100, 0);
    char err[128];
    struct exporter_batch *p = batch_split_halves(&batch, batch.data, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(check_pieces(p, 1, batch.len), 2);
    batch_split_free(p);
}
END_TEST

START_TEST(test_refusals)
{
    build(1, 1, 1, 100, 0);
    char err[128];
    ck_assert_ptr_null(batch_split_halves(&batch, batch.data, err, sizeof(err)));
    ck_assert_str_eq(err, "a batch of 1 span(s) has no halves");
    build(1, 1, 5, 100, 0);
    batch.spans = 7;
    ck_assert_ptr_null(batch_split_limits(&batch, batch.data, 2, 1 << 20, err, sizeof(err)));
    ck_assert_str_eq(err, "the body holds 5 spans, the batch 7");
    batch.spans = 5;
    batch.len -= 3;
    ck_assert_ptr_null(batch_split_halves(&batch, batch.data, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "malformed"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch_split");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_split_by_spans);
    tcase_add_test(tc, test_split_by_bytes_across_resources_and_scopes);
    tcase_add_test(tc, test_tight_byte_limit_is_kept);
    tcase_add_test(tc, test_span_over_the_byte_limit_goes_alone);
    tcase_add_test(tc, test_halves);
    tcase_add_test(tc, test_two_spans_halve_into_one_each);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
