/* test_ring.c — ring.c: FIFO order and content, byte accounting after every operation,
 * exact-fit and one-byte-over boundaries, the skip at the end of the buffer, tiny
 * capacities, and long random runs checked against a plain queue. */
#include "unit.h"

#include <stdint.h>
#include <string.h>

#include "export/ring.h"

#define HDR 8

/* The bytes a record of len takes in the ring. */
static size_t rec_size(size_t len)
{
    return HDR + ((len + 7) & ~(size_t)7);
}

/* Deterministic generator so a failure replays the same way. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
}

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng_next() % n) : 0;
}

/* Payload byte i of a record tagged tag: lets the reader check content without
 * keeping a copy of every record. */
static uint8_t pattern(uint32_t tag, size_t i)
{
    return (uint8_t)(tag * 131u + i * 7u + (i >> 8));
}

static void fill(uint8_t *buf, size_t len, uint32_t tag)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(tag, i);
}

static int matches(const uint8_t *buf, size_t len, uint32_t tag)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern(tag, i))
            return 0;
    return 1;
}

/* The reference model: a plain queue of what should be in the ring. The tag is also
 * the span count, so peek tells which record came out. */
struct model_rec {
    size_t len;
    uint32_t tag;
};

struct model {
    struct model_rec *q;
    size_t size;
    size_t first;
    size_t count;
    size_t rec_bytes;  /* sum of rec_size over records: ring_bytes minus skipped space */
    uint64_t spans;
};

static void model_init(struct model *m, size_t size)
{
    m->q = malloc(size * sizeof *m->q);
    ck_assert_ptr_nonnull(m->q);
    m->size = size;
    m->first = 0;
    m->count = 0;
    m->rec_bytes = 0;
    m->spans = 0;
}

static void model_push(struct model *m, size_t len, uint32_t tag)
{
    if (m->count == m->size)
        ck_abort_msg("model full: the ring holds more records than fit");
    m->q[(m->first + m->count) % m->size] = (struct model_rec){ len, tag };
    m->count++;
    m->rec_bytes += rec_size(len);
    m->spans += tag;
}

static struct model_rec model_pop(struct model *m)
{
    struct model_rec rec = m->q[m->first];
    m->first = (m->first + 1) % m->size;
    m->count--;
    m->rec_bytes -= rec_size(rec.len);
    m->spans -= rec.tag;
    return rec;
}

/* Everything observable about the ring agrees with the model: NULL, or what differs.
 * Plain comparisons rather than ck_assert, which costs a pipe write per passing check
 * and would dominate the long random runs. */
static const char *differs(const struct ring *r, const struct model *m)
{
    if (ring_records(r) != m->count)
        return "record count";
    if (ring_spans(r) != m->spans)
        return "span count";
    if (ring_bytes(r) > ring_capacity(r))
        return "bytes over capacity";
    if (ring_bytes(r) < m->rec_bytes)
        return "bytes under the records' size";

    const uint8_t *data;
    size_t len;
    uint32_t spans;
    if (m->count == 0) {
        if (ring_bytes(r) != 0)
            return "bytes left in an empty ring";
        if (ring_peek(r, &data, &len, &spans) != -1)
            return "peek on an empty ring";
        return NULL;
    }
    const struct model_rec *front = &m->q[m->first];
    if (ring_peek(r, &data, &len, &spans) != 0)
        return "peek failed";
    if (len != front->len || spans != front->tag)
        return "front record length or spans";
    if ((uintptr_t)data % 8 != 0)
        return "payload not 8-aligned";
    if (!matches(data, len, front->tag))
        return "front record content";
    return NULL;
}

static void check_against(const struct ring *r, const struct model *m)
{
    const char *what = differs(r, m);
    if (what != NULL)
        ck_abort_msg("ring and model differ: %s", what);
}

static void check_empty(const struct ring *r)
{
    const uint8_t *data = NULL;
    size_t len = 99;
    uint32_t spans = 99;
    ck_assert_int_eq(ring_peek(r, &data, &len, &spans), -1);
    ck_assert_uint_eq(ring_records(r), 0);
    ck_assert_uint_eq(ring_spans(r), 0);
    ck_assert_uint_eq(ring_bytes(r), 0);
}

static int push_tagged(struct ring *r, size_t len, uint32_t tag)
{
    uint8_t buf[4096];
    if (len > sizeof buf)
        ck_abort_msg("test record of %zu bytes is too long", len);
    fill(buf, len, tag);
    return ring_push(r, buf, len, tag);
}

static void pop_expect(struct ring *r, size_t len, uint32_t tag)
{
    const uint8_t *data;
    size_t got_len;
    uint32_t spans;
    ck_assert_int_eq(ring_peek(r, &data, &got_len, &spans), 0);
    ck_assert_uint_eq(got_len, len);
    ck_assert_uint_eq(spans, tag);
    ck_assert(matches(data, got_len, tag));
    ring_pop(r);
}

START_TEST(test_empty)
{
    struct ring *r = ring_new(1024);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(ring_capacity(r), 1024);
    check_empty(r);
    ring_pop(r);
    check_empty(r);
    ring_free(r);
    ring_free(NULL);
}
END_TEST

START_TEST(test_fifo_order)
{
    struct ring *r = ring_new(4096);
    size_t bytes = 0;
    for (uint32_t i = 1; i <= 20; i++) {
        ck_assert_int_eq(push_tagged(r, i * 13, i), 0);
        bytes += rec_size(i * 13);
        ck_assert_uint_eq(ring_bytes(r), bytes);
        ck_assert_uint_eq(ring_records(r), i);
        ck_assert_uint_eq(ring_spans(r), (uint64_t)i * (i + 1) / 2);
    }
    uint64_t spans = ring_spans(r);
    for (uint32_t i = 1; i <= 20; i++) {
        pop_expect(r, i * 13, i);
        bytes -= rec_size(i * 13);
        spans -= i;
        ck_assert_uint_eq(ring_bytes(r), bytes);
        ck_assert_uint_eq(ring_records(r), 20 - i);
        ck_assert_uint_eq(ring_spans(r), spans);
    }
    check_empty(r);
    ring_free(r);
}
END_TEST

START_TEST(test_zero_length_record)
{
    struct ring *r = ring_new(64);
    ck_assert_int_eq(ring_push(r, NULL, 0, 3), 0);
    ck_assert_uint_eq(ring_bytes(r), HDR);
    ck_assert_uint_eq(ring_spans(r), 3);
    pop_expect(r, 0, 3);
    check_empty(r);
    ring_free(r);
}
END_TEST

START_TEST(test_exactly_full)
{
    struct ring *r = ring_new(256);

    /* One record that fills the ring exactly; one byte more never fits. */
    ck_assert_int_eq(push_tagged(r, 256 - HDR, 1), 0);
    ck_assert_uint_eq(ring_bytes(r), 256);
    ck_assert_int_eq(ring_push(r, NULL, 0, 1), -1);
    pop_expect(r, 256 - HDR, 1);
    check_empty(r);
    ck_assert_int_eq(push_tagged(r, 256 - HDR + 1, 1), -1);
    check_empty(r);

    /* Two records that together fill it exactly. */
    ck_assert_int_eq(push_tagged(r, 100, 2), 0);
    ck_assert_int_eq(push_tagged(r, 256 - rec_size(100) - HDR, 3), 0);
    ck_assert_uint_eq(ring_bytes(r), 256);
    ck_assert_int_eq(ring_push(r, NULL, 0, 1), -1);
    ck_assert_uint_eq(ring_records(r), 2);
    pop_expect(r, 100, 2);
    pop_expect(r, 256 - rec_size(100) - HDR, 3);
    check_empty(r);
    ring_free(r);
}
END_TEST

START_TEST(test_one_byte_over_refused)
{
    struct ring *r = ring_new(128);
    ck_assert_int_eq(push_tagged(r, 40, 7), 0);
    size_t left = 128 - ring_bytes(r);
    ck_assert_uint_eq(left, 80);

    /* A payload of left - HDR fills the space; one byte more must leave the ring as it was. */
    ck_assert_int_eq(push_tagged(r, left - HDR + 1, 9), -1);
    ck_assert_uint_eq(ring_bytes(r), 48);
    ck_assert_uint_eq(ring_records(r), 1);
    ck_assert_uint_eq(ring_spans(r), 7);

    ck_assert_int_eq(push_tagged(r, left - HDR, 9), 0);
    ck_assert_uint_eq(ring_bytes(r), 128);
    pop_expect(r, 40, 7);
    pop_expect(r, left - HDR, 9);
    check_empty(r);
    ring_free(r);
}
END_TEST

START_TEST(test_never_fits)
{
    struct ring *r = ring_new(64);
    uint8_t byte = 0;
    ck_assert_int_eq(ring_push(r, &byte, SIZE_MAX, 1), -1);
    ck_assert_int_eq(ring_push(r, &byte, (size_t)UINT32_MAX + 1, 1), -1);
    ck_assert_int_eq(ring_push(r, &byte, 64, 1), -1);
    check_empty(r);
    ring_free(r);
}
END_TEST

/* The end of the buffer is too small for the next record: it goes to offset 0, and the
 * skipped space counts as used until the reader passes it. */
START_TEST(test_skip_at_end)
{
    struct ring *r = ring_new(96);
    ck_assert_int_eq(push_tagged(r, 40, 1), 0);   /* [0, 48) */
    ck_assert_int_eq(push_tagged(r, 24, 2), 0);   /* [48, 80) */
    pop_expect(r, 40, 1);
    ck_assert_uint_eq(ring_bytes(r), 32);

    ck_assert_int_eq(push_tagged(r, 32, 3), 0);   /* skips [80, 96), lands at [0, 40) */
    ck_assert_uint_eq(ring_bytes(r), 32 + 16 + 40);
    ck_assert_uint_eq(ring_records(r), 2);
    ck_assert_uint_eq(ring_spans(r), 5);

    /* Free space is now only [40, 48): 8 bytes, enough for an empty record. */
    ck_assert_int_eq(push_tagged(r, 1, 4), -1);
    ck_assert_int_eq(ring_push(r, NULL, 0, 4), 0);
    ck_assert_uint_eq(ring_bytes(r), 96);

    pop_expect(r, 24, 2);                         /* the reader passes the skip */
    ck_assert_uint_eq(ring_bytes(r), 40 + 8);
    pop_expect(r, 32, 3);
    pop_expect(r, 0, 4);
    check_empty(r);
    ring_free(r);
}
END_TEST

/* After a skip, a record that fills the start of the buffer up to head exactly fits. */
START_TEST(test_skip_exact_fit_at_start)
{
    struct ring *r = ring_new(96);
    ck_assert_int_eq(push_tagged(r, 24, 1), 0);   /* [0, 32) */
    ck_assert_int_eq(push_tagged(r, 40, 2), 0);   /* [32, 80) */
    pop_expect(r, 24, 1);                         /* free: [80, 96) and [0, 32) */

    ck_assert_int_eq(push_tagged(r, 25, 3), -1);
    ck_assert_uint_eq(ring_bytes(r), 48);
    ck_assert_int_eq(push_tagged(r, 24, 3), 0);   /* skips [80, 96), fills [0, 32) */
    ck_assert_uint_eq(ring_bytes(r), 96);
    ck_assert_int_eq(ring_push(r, NULL, 0, 1), -1);
    pop_expect(r, 40, 2);
    ck_assert_uint_eq(ring_bytes(r), 32);
    pop_expect(r, 24, 3);
    check_empty(r);
    ring_free(r);
}
END_TEST

/* A record that would need the skip but has no room at the start either is refused,
 * and no skip is left behind. */
START_TEST(test_skip_refused_leaves_ring_unchanged)
{
    struct ring *r = ring_new(96);
    ck_assert_int_eq(push_tagged(r, 16, 1), 0);   /* [0, 24) */
    ck_assert_int_eq(push_tagged(r, 40, 2), 0);   /* [24, 72) */
    pop_expect(r, 16, 1);                         /* free: [72, 96) and [0, 24) */

    ck_assert_int_eq(push_tagged(r, 24, 3), -1);  /* needs 32 */
    ck_assert_uint_eq(ring_bytes(r), 48);
    ck_assert_uint_eq(ring_records(r), 1);

    ck_assert_int_eq(push_tagged(r, 16, 4), 0);   /* fits the end: [72, 96) */
    ck_assert_uint_eq(ring_bytes(r), 72);
    ck_assert_int_eq(push_tagged(r, 16, 5), 0);   /* wraps exactly to [0, 24) */
    ck_assert_uint_eq(ring_bytes(r), 96);
    pop_expect(r, 40, 2);
    pop_expect(r, 16, 4);
    pop_expect(r, 16, 5);
    check_empty(r);
    ring_free(r);
}
END_TEST

START_TEST(test_tiny_capacities)
{
    ck_assert_ptr_null(ring_new(0));
    ck_assert_ptr_null(ring_new(1));
    ck_assert_ptr_null(ring_new(7));

    struct ring *r = ring_new(15);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(ring_capacity(r), 8);
    ck_assert_int_eq(push_tagged(r, 1, 1), -1);
    ck_assert_int_eq(ring_push(r, NULL, 0, 1), 0);
    ck_assert_uint_eq(ring_bytes(r), 8);
    ck_assert_int_eq(ring_push(r, NULL, 0, 1), -1);
    pop_expect(r, 0, 1);
    check_empty(r);
    ring_free(r);

    r = ring_new(16);
    for (int round = 0; round < 10; round++) {
        ck_assert_int_eq(push_tagged(r, 9, 1), -1);
        ck_assert_int_eq(push_tagged(r, 8, 2), 0);
        ck_assert_uint_eq(ring_bytes(r), 16);
        ck_assert_int_eq(ring_push(r, NULL, 0, 1), -1);
        pop_expect(r, 8, 2);
        check_empty(r);
    }
    ring_free(r);
}
END_TEST

/* A record's payload pointer stays valid while other records come and go behind it. */
START_TEST(test_peek_pointer_stable)
{
    struct ring *r = ring_new(256);
    ck_assert_int_eq(push_tagged(r, 50, 1), 0);
    const uint8_t *data;
    size_t len;
    uint32_t spans;
    ck_assert_int_eq(ring_peek(r, &data, &len, &spans), 0);
    while (push_tagged(r, 20, 2) == 0)
        ;
    ck_assert(matches(data, len, 1));
    ring_free(r);
}
END_TEST

START_TEST(test_spans_sum_wide)
{
    struct ring *r = ring_new(1024);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(ring_push(r, NULL, 0, UINT32_MAX), 0);
    ck_assert_uint_eq(ring_spans(r), 10ull * UINT32_MAX);
    ring_pop(r);
    ck_assert_uint_eq(ring_spans(r), 9ull * UINT32_MAX);
    ring_free(r);
}
END_TEST

/* Random pushes and pops against the model, wrapping many times. A refusal is only
 * allowed when the record is larger than half the free space: the free space is in
 * at most two pieces and the larger one must have been tried. */
/* Pops every record, checking the ring against the model after each, then frees both. */
static void empty_and_free(struct ring *r, struct model *m)
{
    while (m->count > 0) {
        model_pop(m);
        ring_pop(r);
        check_against(r, m);
    }
    check_empty(r);
    free(m->q);
    ring_free(r);
}

static void run_random(size_t capacity, size_t max_len, int ops, uint64_t seed)
{
    rng_seed(seed);
    struct ring *r = ring_new(capacity);
    ck_assert_ptr_nonnull(r);
    struct model m;
    model_init(&m, capacity / HDR + 1);
    uint32_t next_tag = 1;
    uint64_t pushed_bytes = 0;
    int skips_seen = 0;
    uint8_t buf[4096];

    for (int op = 0; op < ops; op++) {
        if (rng_below(100) < 55) {
            size_t len = rng_below(max_len + 1);
            size_t free_before = ring_capacity(r) - ring_bytes(r);
            uint32_t tag = next_tag++;
            fill(buf, len, tag);
            if (ring_push(r, buf, len, tag) == 0) {
                model_push(&m, len, tag);
                pushed_bytes += rec_size(len);
            } else if (2 * rec_size(len) <= free_before) {
                ck_abort_msg("op %d: %zu bytes refused with %zu free", op, len, free_before);
            }
        } else if (m.count > 0) {
            model_pop(&m);
            ring_pop(r);
        }
        const char *what = differs(r, &m);
        if (what != NULL)
            ck_abort_msg("op %d: ring and model differ: %s", op, what);
        if (ring_bytes(r) > m.rec_bytes)
            skips_seen = 1;
    }
    ck_assert_uint_gt(pushed_bytes, 20 * (uint64_t)ring_capacity(r));
    ck_assert(skips_seen);
    empty_and_free(r, &m);
}

/* Records written in place (reserve, then commit at most what was reserved), with
 * pops between the two, mixed with pushes, against the model: the same FIFO, content
 * and accounting as pushes alone. */
static void run_random_in_place(size_t capacity, size_t max_len, int ops, uint64_t seed)
{
    rng_seed(seed);
    struct ring *r = ring_new(capacity);
    ck_assert_ptr_nonnull(r);
    struct model m;
    model_init(&m, capacity / HDR + 1);
    uint32_t next_tag = 1;
    int in_place = 0;
    uint8_t buf[4096];

    for (int op = 0; op < ops; op++) {
        int dice = (int)rng_below(100);
        if (dice < 30) {
            size_t len = rng_below(max_len + 1);
            uint32_t tag = next_tag++;
            fill(buf, len, tag);
            if (ring_push(r, buf, len, tag) == 0)
                model_push(&m, len, tag);
        } else if (dice < 60) {
            size_t max = rng_below(max_len + 1);
            size_t len = rng_below(max + 1);
            uint32_t tag = next_tag++;
            uint8_t *room = ring_reserve(r, max);
            if (room != NULL) {
                memset(room, 0xee, max);
                fill(room, len, tag);
                for (size_t pops = rng_below(3); pops > 0 && m.count > 0; pops--) {
                    model_pop(&m);
                    ring_pop(r);
                }
                ck_assert_int_eq(ring_commit(r, len, tag), 0);
                model_push(&m, len, tag);
                in_place++;
            }
        } else if (m.count > 0) {
            model_pop(&m);
            ring_pop(r);
        }
        const char *what = differs(r, &m);
        if (what != NULL)
            ck_abort_msg("op %d: ring and model differ: %s", op, what);
    }
    ck_assert_int_gt(in_place, ops / 10);
    empty_and_free(r, &m);
}

START_TEST(test_in_place_random)
{
    run_random_in_place(64, 40, 100000, 99);
    run_random_in_place(1000, 300, 100000, 4242);
    run_random_in_place(8192, 4096, 100000, 31337);
}
END_TEST

START_TEST(test_in_place_refused_as_push_is)
{
    struct ring *r = ring_new(64);
    uint8_t data[40] = { 0 };
    ck_assert_ptr_null(ring_reserve(r, 64 - HDR + 1));
    ck_assert_ptr_nonnull(ring_reserve(r, 64 - HDR));
    ck_assert_int_eq(ring_push(r, data, 24, 1), 0);
    /* The push gave the room up: nothing to commit. */
    ck_assert_int_eq(ring_commit(r, 8, 1), -1);
    ck_assert_ptr_null(ring_reserve(r, 40 - HDR + 1));
    uint8_t *room = ring_reserve(r, 16);
    ck_assert_ptr_nonnull(room);
    ck_assert_int_eq(ring_commit(r, 17, 1), -1);
    ck_assert_int_eq(ring_commit(r, 16, 2), 0);
    ck_assert_int_eq(ring_commit(r, 0, 1), -1);
    ck_assert_uint_eq(ring_records(r), 2);
    ck_assert_uint_eq(ring_spans(r), 3);
    ck_assert_uint_eq(ring_bytes(r), rec_size(24) + rec_size(16));
    /* The room of a longer record, a shorter one committed: it takes what it holds. */
    ring_pop(r);
    ring_pop(r);
    room = ring_reserve(r, 56);
    ck_assert_ptr_nonnull(room);
    memcpy(room, "abc", 3);
    ck_assert_int_eq(ring_commit(r, 3, 1), 0);
    ck_assert_uint_eq(ring_bytes(r), rec_size(3));
    const uint8_t *got;
    size_t len;
    uint32_t spans;
    ck_assert_int_eq(ring_peek(r, &got, &len, &spans), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(got, "abc", 3), 0);
    ring_free(r);
}
END_TEST

START_TEST(test_random_small)
{
    run_random(64, 40, 200000, 0x9e3779b97f4a7c15ull);
}
END_TEST

START_TEST(test_random_medium)
{
    run_random(1000, 300, 200000, 12345);
}
END_TEST

START_TEST(test_random_large_records)
{
    run_random(8192, 4096, 200000, 777);
}
END_TEST

START_TEST(test_random_many_small_records)
{
    run_random(65536, 200, 400000, 42);
}
END_TEST

/* Pushes with no reader until refused, then a partial drain, many rounds: the ring
 * never reports more than its capacity and every record comes out intact. */
START_TEST(test_flood)
{
    rng_seed(2024);
    struct ring *r = ring_new(64 * 1024);
    struct model m;
    model_init(&m, 64 * 1024 / HDR + 1);
    uint32_t next_tag = 1;
    int refused = 0;

    for (int round = 0; round < 200; round++) {
        for (;;) {
            size_t len = 100 + rng_below(2000);
            uint32_t tag = next_tag++;
            if (push_tagged(r, len, tag) != 0) {
                refused++;
                break;
            }
            model_push(&m, len, tag);
            if (ring_bytes(r) > ring_capacity(r))
                ck_abort_msg("%zu bytes in a ring of %zu", ring_bytes(r), ring_capacity(r));
        }
        check_against(r, &m);
        ck_assert_uint_gt(ring_bytes(r), ring_capacity(r) / 2);
        size_t drain = 1 + rng_below(m.count);
        while (drain-- > 0) {
            model_pop(&m);
            ring_pop(r);
            check_against(r, &m);
        }
        check_against(r, &m);
    }
    ck_assert_int_eq(refused, 200);
    free(m.q);
    ring_free(r);
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_fifo_order);
    tcase_add_test(tc, test_zero_length_record);
    tcase_add_test(tc, test_exactly_full);
    tcase_add_test(tc, test_one_byte_over_refused);
    tcase_add_test(tc, test_never_fits);
    tcase_add_test(tc, test_skip_at_end);
    tcase_add_test(tc, test_skip_exact_fit_at_start);
    tcase_add_test(tc, test_skip_refused_leaves_ring_unchanged);
    tcase_add_test(tc, test_tiny_capacities);
    tcase_add_test(tc, test_peek_pointer_stable);
    tcase_add_test(tc, test_spans_sum_wide);
    tcase_add_test(tc, test_in_place_refused_as_push_is);
    tcase_add_test(tc, test_in_place_random);
    tcase_add_test(tc, test_random_small);
    tcase_add_test(tc, test_random_medium);
    tcase_add_test(tc, test_random_large_records);
    tcase_add_test(tc, test_random_many_small_records);
    tcase_add_test(tc, test_flood);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(ring_suite());
}
