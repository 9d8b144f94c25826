/* test_lane.c — lane.c against a fake transport (fake_transport.h): every pushed span
 * ends in exactly one term of the lane's accounting equation (exported, dropped_overflow,
 * export_failed by reason, buffered, in_flight), a full ring drops only there, a
 * disabled lane does no I/O, and the drain: a healthy backend gets everything, a black
 * hole is retried to the deadline and what is left is counted shutdown (never sent) or
 * shutdown_in_flight (sent, unanswered). */
#include "unit.h"

#include <stdint.h>
#include <string.h>

#include "base/log.h"
#include "export/lane.h"
#include "fake_transport.h"
#include "otlp_record.h"
#include "otlp_request.h"

static uv_loop_t loop;
static uv_timer_t tick;
static struct export_target target;
static FILE *log_out;
static uint64_t pushed;          /* spans given to the lane: the equation's left side */
static int drained;

static void setup(void)
{
    log_out = fake_loop_init(&loop, &tick);
    pushed = 0;
    drained = 0;
    target = (struct export_target){
        .name = "vendor", .key = "destinations[1]", .enabled = 1, .endpoint = "http://fake:1",
        .timeout_ms = 1000, .retry_initial_interval_ms = 20, .retry_max_interval_ms = 50,
        .retry_max_elapsed_ms = 5000, .max_batch_bytes = 4096, .max_batch_spans = 10,
        .batch_timeout_ms = 10, .buffer_max_bytes = 64 * 1024, .sampling_ratio = 1.0,
    };
}

static void teardown(void)
{
    fake_loop_close(&loop, log_out);
}

static enum lane_push_result push(struct lane *l, uint32_t spans)
{
    uint8_t buf[4096];
    size_t len = make_record(buf, spans, (uint8_t)pushed);
    pushed += spans;
    return lane_push(l, buf, len, spans);
}

static struct lane *new_lane(void)
{
    char err[256];
    struct lane *l = lane_new(&loop, &target, &fake_ops, err, sizeof(err));
    ck_assert_msg(l != NULL, "%s", err);
    return l;
}

static uint64_t failed(const struct lane *l, enum stats_fail_reason r)
{
    return lane_stats(l)->spans.export_failed[r];
}

/* The lane's side of the equation, without the receive-side terms (none here). */
static void assert_books_balance(const struct lane *l)
{
    const struct stats_lane_spans *s = &lane_stats(l)->spans;
    uint64_t right = s->sampled_out + s->dropped_overflow + s->exported +
                     stats_export_failed_total(s) + s->buffered + s->in_flight;
    ck_assert_uint_eq(right, pushed);
}

static int settled(void *arg)
{
    const struct stats_lane_spans *s = &lane_stats(arg)->spans;
    return s->buffered == 0 && s->in_flight == 0;
}

static int settled_in_flight(void *arg)
{
    const struct stats_lane_spans *s = &lane_stats(arg)->spans;
    return s->buffered == 0 && s->in_flight > 0;
}

static void on_drained(void *arg)
{
    (void)arg;
    drained++;
}

static int is_drained(void *arg)
{
    (void)arg;
    return drained > 0;
}

START_TEST(test_pushed_spans_are_exported_in_batches)
{
    struct lane *l = new_lane();
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(push(l, 3), LANE_PUSHED);
    ck_assert(fake_run_until(&loop, settled, l, 2000));
    const struct stats_destination *st = lane_stats(l);
    ck_assert_str_eq(st->name, "vendor");
    ck_assert_uint_eq(st->spans.exported, 21);
    ck_assert_uint_eq(st->spans.buffer_bytes, 0);
    ck_assert_uint_gt(st->spans.buffer_capacity_bytes, 0);
    /* maxBatchSpans 10 of 3-span records: batches of at most three records. */
    ck_assert_int_ge(fake.sent_count, 3);
    ck_assert_int_eq(st->exporter.state, STATS_EXPORTER_READY);
    lane_count_sampled_out(l, 5);
    pushed += 5;
    assert_books_balance(l);
    lane_free(l);
}
END_TEST

START_TEST(test_full_ring_drops_only_here_and_counts)
{
    target.buffer_max_bytes = 1024;
    fake.capacity = 1;
    fake_script((struct fake_answer){ .outcome = FAKE_HOLD });
    struct lane *l = new_lane();
    int overflow = 0;
    for (int i = 0; i < 40; i++)
        overflow += push(l, 2) == LANE_OVERFLOW;
    ck_assert_int_gt(overflow, 0);
    const struct stats_lane_spans *s = &lane_stats(l)->spans;
    ck_assert_uint_eq(s->dropped_overflow, (uint64_t)overflow * 2);
    ck_assert_uint_gt(s->buffered, 0);
    ck_assert_uint_le(s->buffer_bytes, 1024);
    assert_books_balance(l);
    lane_free(l);
    /* Freed with spans held: they are counted, not lost. */
}
END_TEST

/* Records written in the lane's ring space: exported and counted as pushed ones are,
 * and no room where a push would not reach the ring. */
START_TEST(test_records_written_in_place_are_exported)
{
    struct lane *l = new_lane();
    for (int i = 0; i < 7; i++) {
        uint8_t *room = lane_reserve(l, 4096);
        ck_assert_ptr_nonnull(room);
        size_t len = make_record(room, 3, (uint8_t)pushed);
        pushed += 3;
        ck_assert_int_eq(lane_commit(l, len, 3), LANE_PUSHED);
    }
    ck_assert(fake_run_until(&loop, settled, l, 2000));
    ck_assert_uint_eq(lane_stats(l)->spans.exported, 21);
    assert_books_balance(l);
    /* A push in between gives the room up: the commit is refused and counted dropped. */
    ck_assert_ptr_nonnull(lane_reserve(l, 4096));
    ck_assert_int_eq(push(l, 2), LANE_PUSHED);
    pushed += 5;
    ck_assert_int_eq(lane_commit(l, 64, 5), LANE_OVERFLOW);
    ck_assert_uint_eq(lane_stats(l)->spans.dropped_overflow, 5);
    ck_assert(fake_run_until(&loop, settled, l, 2000));
    assert_books_balance(l);
    /* Larger than the ring: no room (a push is dropped as overflow). */
    ck_assert_ptr_null(lane_reserve(l, target.buffer_max_bytes + 1));
    lane_drain(l, 1000, on_drained, NULL);
    ck_assert_ptr_null(lane_reserve(l, 64));
    lane_free(l);
}
END_TEST

START_TEST(test_disabled_lane_counts_without_io)
{
    target.enabled = 0;
    struct lane *l = new_lane();
    ck_assert_ptr_null(lane_reserve(l, 64));
    ck_assert_int_eq(push(l, 4), LANE_NOT_EXPORTED);
    ck_assert_uint_eq(failed(l, STATS_FAIL_DISABLED), 4);
    ck_assert_int_eq(lane_stats(l)->exporter.state, STATS_EXPORTER_DISABLED);
    ck_assert_uint_eq(lane_stats(l)->spans.buffer_capacity_bytes, 0);
    ck_assert_int_eq(fake.sent_count, 0);
    assert_books_balance(l);
    lane_drain(l, 1000, on_drained, NULL);
    ck_assert_int_eq(drained, 1);
    lane_free(l);
}
END_TEST

START_TEST(test_drain_delivers_everything_to_a_healthy_backend)
{
    target.batch_timeout_ms = 60000;   /* only the drain sends the partial batch */
    struct lane *l = new_lane();
    push(l, 3);
    lane_drain(l, 5000, on_drained, NULL);
    ck_assert(fake_run_until(&loop, is_drained, NULL, 3000));
    ck_assert_uint_eq(lane_stats(l)->spans.exported, 3);
    ck_assert_int_eq(push(l, 2), LANE_NOT_EXPORTED);
    ck_assert_uint_eq(failed(l, STATS_FAIL_SHUTDOWN), 2);
    assert_books_balance(l);
    lane_free(l);
}
END_TEST

/* A black hole: the first batch is sent and never answered, the rest wait; at the
 * deadline the first is shutdown_in_flight, the rest shutdown. */
START_TEST(test_drain_timeout_tells_in_flight_from_never_sent)
{
    fake.capacity = 1;
    target.max_batch_spans = 2;
    fake_script((struct fake_answer){ .outcome = FAKE_HOLD });
    struct lane *l = new_lane();
    push(l, 2);
    push(l, 2);
    push(l, 2);
    uint64_t t0 = uv_now(&loop);
    lane_drain(l, 200, on_drained, NULL);
    ck_assert(fake_run_until(&loop, is_drained, NULL, 3000));
    ck_assert_uint_ge(uv_now(&loop) - t0, 200);
    ck_assert_uint_eq(failed(l, STATS_FAIL_SHUTDOWN_IN_FLIGHT), 2);
    ck_assert_uint_eq(failed(l, STATS_FAIL_SHUTDOWN), 4);
    ck_assert_uint_eq(lane_stats(l)->spans.in_flight, 0);
    ck_assert_uint_eq(lane_stats(l)->spans.buffered, 0);
    assert_books_balance(l);
    lane_free(l);
}
END_TEST

/* A backend answering UNAVAILABLE to everything during the drain: retried until the
 * deadline, not until retry.maxElapsedTime (shorter here) runs out. */
START_TEST(test_drain_retries_a_failing_backend_to_the_deadline)
{
    target.retry_max_elapsed_ms = 30;
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 0, "UNAVAILABLE" });
    struct lane *l = new_lane();
    push(l, 5);
    uint64_t t0 = uv_now(&loop);
    lane_drain(l, 400, on_drained, NULL);
    ck_assert(fake_run_until(&loop, is_drained, NULL, 3000));
    ck_assert_uint_ge(uv_now(&loop) - t0, 400);
    ck_assert_int_ge(fake.sent_count, 5);
    ck_assert_int_eq(lane_stats(l)->exporter.state, STATS_EXPORTER_FAILING);
    ck_assert_int_eq(lane_stats(l)->exporter.up, 0);
    const struct stats_lane_spans *s = &lane_stats(l)->spans;
    ck_assert_msg(failed(l, STATS_FAIL_SHUTDOWN) + failed(l, STATS_FAIL_SHUTDOWN_IN_FLIGHT) == 5,
                  "exported %llu buffered %llu in_flight %llu failed %llu, sent %d",
                  (unsigned long long)s->exported, (unsigned long long)s->buffered,
                  (unsigned long long)s->in_flight,
                  (unsigned long long)stats_export_failed_total(s), fake.sent_count);
    ck_assert_uint_eq(failed(l, STATS_FAIL_RETRIES_EXHAUSTED), 0);
    assert_books_balance(l);
    lane_free(l);
}
END_TEST

/* ---- hand-back: what a sharded destination does when a gateway leaves ---- */

static int one = 1;
static uint64_t taken_spans, taken_records;
static uint8_t taken[16384];
static size_t taken_len;

static void on_take(void *arg, const uint8_t *rec, size_t len, uint32_t spans)
{
    ck_assert_ptr_eq(arg, &taken_spans);
    taken_spans += spans;
    taken_records++;
    ck_assert_uint_le(taken_len + len, sizeof(taken));
    memcpy(taken + taken_len, rec, len);
    taken_len += len;
}

static void take_reset(void)
{
    taken_spans = taken_records = 0;
    taken_len = 0;
}

/* The lane's equation with what it handed back counted as gone elsewhere. */
static void assert_books_with_taken(const struct lane *l)
{
    const struct stats_lane_spans *s = &lane_stats(l)->spans;
    ck_assert_uint_eq(s->dropped_overflow + s->exported + stats_export_failed_total(s) +
                          s->buffered + s->in_flight + taken_spans,
                      pushed);
}

/* Ring and batches waiting for a retry come back at once, those in flight with their
 * answer: whole, and nothing counted failed. */
START_TEST(test_hand_back_gives_ring_and_retries)
{
    take_reset();
    target.max_batch_spans = 3;
    target.retry_initial_interval_ms = 10000; /* retries wait: they are in the queue */
    target.retry_max_interval_ms = 10000;
    target.retry_max_elapsed_ms = 60000;
    fake.capacity = 1;
    fake_script((struct fake_answer){ EXPORTER_RETRY, 0, 0, 0, 0, "connection refused" });
    struct lane *l = new_lane();
    push(l, 3);
    ck_assert(fake_run_until(&loop, fake_answered_at_least, &one, 2000));
    push(l, 2);
    push(l, 4);
    ck_assert_uint_gt(lane_stats(l)->spans.in_flight + lane_stats(l)->spans.buffered, 0);
    lane_hand_back(l, on_take, &taken_spans);
    /* a batch still in flight comes back with its (retryable) answer */
    ck_assert(fake_run_until(&loop, settled, l, 2000));
    ck_assert_uint_eq(taken_spans, 9);
    ck_assert_uint_eq(lane_stats(l)->spans.buffered, 0);
    ck_assert_uint_eq(lane_stats(l)->spans.in_flight, 0);
    ck_assert_uint_eq(stats_export_failed_total(&lane_stats(l)->spans), 0);
    assert_books_with_taken(l);
    ck_assert_uint_gt(taken_len, 0);
    lane_free(l);
}
END_TEST

/* A batch in flight when the hand-back starts comes back when its answer is
 * retryable; one the backend accepts stays exported. */
START_TEST(test_hand_back_takes_in_flight_on_a_retryable_answer)
{
    take_reset();
    fake.capacity = 2;
    target.max_batch_spans = 2;
    fake_script((struct fake_answer){ .outcome = FAKE_HOLD });
    struct lane *l = new_lane();
    push(l, 2);
    push(l, 2);
    ck_assert(fake_run_until(&loop, settled_in_flight, l, 2000));
    ck_assert_int_eq(fake.held_count, 2);
    lane_hand_back(l, on_take, &taken_spans);
    ck_assert_uint_eq(taken_spans, 0);

    struct exporter_result res;
    fake_result(&(struct fake_answer){ EXPORTER_RETRY, 0, 0, 0, 0, "connection lost" }, &res);
    exporter_transport_done(fake.e, fake.held[0], &res);
    fake_result(&(struct fake_answer){ EXPORTER_OK, 1, 0, 0, 0, NULL }, &res);
    exporter_transport_done(fake.e, fake.held[1], &res);
    fake.held_count = 0;
    ck_assert_uint_eq(taken_spans, 2);
    ck_assert_uint_eq(lane_stats(l)->spans.exported, 2);
    ck_assert_uint_eq(lane_stats(l)->spans.in_flight, 0);
    assert_books_with_taken(l);

    /* still sending what it is pushed: an empty probe, answered, makes it ready */
    ck_assert_int_eq(lane_push(l, NULL, 0, 0), LANE_PUSHED);
    ck_assert(fake_run_until(&loop, settled, l, 2000));
    ck_assert_int_eq(lane_stats(l)->exporter.state, STATS_EXPORTER_READY);
    /* back to retrying */
    lane_hand_back(l, NULL, NULL);
    lane_free(l);
}
END_TEST

/* Compressed batches keep their plain body for the hand-back when the target says so. */
START_TEST(test_hand_back_of_compressed_batches_gives_plain_records)
{
    take_reset();
    target.compression = CONFIG_COMPRESSION_GZIP;
    target.keep_plain_body = 1;
    target.retry_initial_interval_ms = 10000;
    target.retry_max_interval_ms = 10000;
    target.retry_max_elapsed_ms = 60000;
    fake_script((struct fake_answer){ EXPORTER_RETRY, 0, 0, 0, 0, "connection refused" });
    struct lane *l = new_lane();
    uint8_t rec[4096];
    size_t len = make_record(rec, 5, 7);
    pushed += 5;
    ck_assert_int_eq(lane_push(l, rec, len, 5), LANE_PUSHED);
    ck_assert(fake_run_until(&loop, fake_answered_at_least, &one, 2000));
    lane_hand_back(l, on_take, &taken_spans);
    ck_assert_uint_eq(taken_spans, 5);
    ck_assert_uint_eq(taken_len, len);
    ck_assert_mem_eq(taken, rec, len);
    assert_books_with_taken(l);
    lane_free(l);
}
END_TEST

/* A draining lane keeps its batches: the drain retries them to its deadline. */
START_TEST(test_hand_back_refused_while_draining)
{
    take_reset();
    fake_script((struct fake_answer){ .outcome = FAKE_HOLD });
    struct lane *l = new_lane();
    push(l, 2);
    lane_drain(l, 100, on_drained, NULL);
    lane_hand_back(l, on_take, &taken_spans);
    ck_assert(fake_run_until(&loop, is_drained, NULL, 3000));
    ck_assert_uint_eq(taken_spans, 0);
    assert_books_balance(l);
    lane_free(l);
}
END_TEST

START_TEST(test_bad_target_is_an_error_naming_the_key)
{
    fake.create_fails = 1;
    char err[256];
    ck_assert_ptr_null(lane_new(&loop, &target, &fake_ops, err, sizeof(err)));
    ck_assert_str_eq(err, "destinations[1].endpoint: fake refuses");
}
END_TEST

/* ---- splitting ---- */

static struct lane *watched;     /* the lane whose books are checked after every answer */

static void books_balance_now(void)
{
    assert_books_balance(watched);
}

/* Pushes a request of spans spans of about span_bytes each; returns its spans. */
static uint32_t push_request(struct lane *l, unsigned spans, size_t span_bytes)
{
    struct req_buf body = { 0 };
    uint32_t next = 0;
    uint32_t n = req_build(&body, 1, 1, spans, span_bytes, 0, &next);
    pushed += n;
    ck_assert_int_eq(lane_push(l, body.data, body.len, n), LANE_PUSHED);
    free(body.data);
    return n;
}

/* What the fake accepted: every span once (in any order), within the limits. */
static uint32_t check_sent(size_t max_spans, size_t max_bytes)
{
    static struct req_seen seen;
    memset(&seen, 0, sizeof(seen));
    for (int i = 0; i < fake.sent_count; i++) {
        if (fake.sent[i].outcome != EXPORTER_OK)
            continue;
        ck_assert_uint_le(req_check_once(fake_plain(&fake.sent[i]), fake.sent[i].plain_len,
                                         &seen),
                          max_spans);
        ck_assert_uint_le(fake.sent[i].plain_len, max_bytes);
    }
    for (uint32_t i = 0; i < seen.count; i++)
        ck_assert_msg(seen.seen[i], "span %u missing", i);
    return seen.count;
}

/* maxBatchSpans 100 and a 1024-span request: eleven requests, the books exact after
 * every answer. */
START_TEST(test_record_over_the_batch_limits_is_split)
{
    target.max_batch_spans = 100;
    target.max_batch_bytes = 1 << 20;
    target.buffer_max_bytes = 1 << 20;
    struct lane *l = new_lane();
    watched = l;
    fake.after_answer = books_balance_now;
    push_request(l, 1024, 60);
    assert_books_balance(l);
    ck_assert(fake_run_until(&loop, settled, l, 3000));
    ck_assert_uint_eq(lane_stats(l)->spans.exported, 1024);
    ck_assert_int_eq(fake.sent_count, 11);
    ck_assert_uint_eq(check_sent(100, 1 << 20), 1024);
    assert_books_balance(l);
    lane_free(l);
}
END_TEST

/* A lane whose backend accepts requests of at most ceiling bytes; its books are
 * checked after every answer. */
static struct lane *ceiling_lane(size_t ceiling)
{
    target.max_batch_bytes = 32 * 1024;
    target.buffer_max_bytes = 1 << 20;
    fake.ceiling = ceiling;
    struct lane *l = new_lane();
    watched = l;
    fake.after_answer = books_balance_now;
    return l;
}

/* Batches a backend with a 3000-byte ceiling refuses are halved until they pass; the
 * books balance after every answer; once the size is learned the batcher keeps its
 * batches within it and nothing more is refused. */
START_TEST(test_too_large_batches_are_split_and_the_books_balance_throughout)
{
    target.max_batch_spans = 1000;
    struct lane *l = ceiling_lane(3000);
    for (int i = 0; i < 10; i++)
        push_request(l, 20, 100);
    ck_assert(fake_run_until(&loop, settled, l, 3000));
    const struct stats_destination *st = lane_stats(l);
    ck_assert_uint_eq(st->spans.exported, pushed);
    ck_assert_uint_eq(stats_export_failed_total(&st->spans), 0);
    ck_assert_int_gt(fake.refused_too_large, 0);
    uint64_t learned = st->exporter.max_request_bytes;
    ck_assert_uint_gt(learned, 0);
    ck_assert_uint_le(learned, 3000);

    int refused = fake.refused_too_large;
    fake_forget_sent();
    for (int i = 0; i < 10; i++)
        push_request(l, 20, 100);
    ck_assert(fake_run_until(&loop, settled, l, 3000));
    ck_assert_int_eq(fake.refused_too_large, refused);
    ck_assert_uint_eq(st->spans.exported, pushed);
    for (int i = 0; i < fake.sent_count; i++)
        ck_assert_uint_le(fake.sent[i].plain_len, learned);
    assert_books_balance(l);
    lane_free(l);
}
END_TEST

/* A span over the ceiling: given up under too_large, the others exported, the books
 * exact. */
START_TEST(test_span_over_the_ceiling_counts_too_large)
{
    struct lane *l = ceiling_lane(3000);
    push_request(l, 10, 100);
    push_request(l, 1, 4000);
    push_request(l, 10, 100);
    ck_assert(fake_run_until(&loop, settled, l, 3000));
    ck_assert_uint_eq(failed(l, STATS_FAIL_TOO_LARGE), 1);
    ck_assert_uint_eq(lane_stats(l)->spans.exported, 20);
    assert_books_balance(l);
    lane_free(l);
}
END_TEST

static Suite *lane_suite(void)
{
    Suite *s = suite_create("lane");
    TCase *tc = tcase_create("lane");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_pushed_spans_are_exported_in_batches);
    tcase_add_test(tc, test_full_ring_drops_only_here_and_counts);
    tcase_add_test(tc, test_records_written_in_place_are_exported);
    tcase_add_test(tc, test_disabled_lane_counts_without_io);
    tcase_add_test(tc, test_drain_delivers_everything_to_a_healthy_backend);
    tcase_add_test(tc, test_drain_timeout_tells_in_flight_from_never_sent);
    tcase_add_test(tc, test_drain_retries_a_failing_backend_to_the_deadline);
    tcase_add_test(tc, test_bad_target_is_an_error_naming_the_key);
    tcase_add_test(tc, test_hand_back_gives_ring_and_retries);
    tcase_add_test(tc, test_hand_back_takes_in_flight_on_a_retryable_answer);
    tcase_add_test(tc, test_hand_back_of_compressed_batches_gives_plain_records);
    tcase_add_test(tc, test_hand_back_refused_while_draining);
    tcase_add_test(tc, test_record_over_the_batch_limits_is_split);
    tcase_add_test(tc, test_too_large_batches_are_split_and_the_books_balance_throughout);
    tcase_add_test(tc, test_span_over_the_ceiling_counts_too_large);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(lane_suite());
}
