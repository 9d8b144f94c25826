/* test_exporter.c — exporter.c's export policy against a fake transport
 * (fake_transport.h), with no sockets: success, retry with backoff, RetryInfo /
 * Retry-After, giving up past maxElapsedTime, non-retryable answers, partial success,
 * the state /health shows (ready, failing, backing_off) and exporter_up, the in-flight
 * bound, and the drain: retrying to the deadline, then shutdown vs shutdown_in_flight. */
#include "unit.h"

#include <stdint.h>
#include <string.h>

#include "base/log.h"
#include "export/exporter.h"
#include "fake_transport.h"
#include "otlp_request.h"

#define MAX_DONE 64

struct done_rec {
    uint32_t spans, exported, failed;
    enum stats_fail_reason reason;
    uint64_t at_ms;
};

static uv_loop_t loop;
static uv_timer_t tick;
static struct export_target target;
static struct stats_lane_exporter st;
static struct done_rec done[MAX_DONE];
static int done_count;
static int ready_calls;
static FILE *log_out;

static void on_done(void *arg, const struct exporter_batch *b, uint32_t exported, uint32_t failed,
                    enum stats_fail_reason reason)
{
    (void)arg;
    if (done_count < MAX_DONE)
        done[done_count++] = (struct done_rec){ b->spans, exported, failed, reason, uv_now(&loop) };
}

static void on_ready(void *arg)
{
    (void)arg;
    ready_calls++;
}

static void setup(void)
{
    log_out = fake_loop_init(&loop, &tick);
    memset(&st, 0, sizeof(st));
    memset(done, 0, sizeof(done));
    done_count = 0;
    ready_calls = 0;
    target = (struct export_target){
        .name = "primary", .key = "otel", .enabled = 1, .endpoint = "http://fake:1",
        .timeout_ms = 1000, .retry_initial_interval_ms = 20, .retry_max_interval_ms = 80,
        .retry_max_elapsed_ms = 5000, .max_batch_bytes = 1 << 20, .max_batch_spans = 100,
        .batch_timeout_ms = 10, .buffer_max_bytes = 1 << 20, .sampling_ratio = 1.0,
    };
}

static void teardown(void)
{
    fake_loop_close(&loop, log_out);
}

static struct exporter *new_exporter(void)
{
    char err[256];
    struct exporter *e = exporter_new(&loop, &target, &fake_ops, &st, on_done, NULL, err,
                                      sizeof(err));
    ck_assert_msg(e != NULL, "%s", err);
    exporter_set_ready_cb(e, on_ready, NULL);
    return e;
}

static void send_batch(struct exporter *e, uint32_t spans)
{
    struct exporter_batch *b = calloc(1, sizeof(*b));
    b->len = 16;
    b->data = malloc(b->len);
    memset(b->data, (int)spans, b->len);
    b->spans = spans;
    exporter_send(e, b);
}

static int done_at_least(void *arg)
{
    return done_count >= *(int *)arg;
}

static void run_until_done(int n, uint64_t timeout_ms)
{
    ck_assert_msg(fake_run_until(&loop, done_at_least, &n, timeout_ms),
                  "%d of %d batches done", done_count, n);
}

static void free_exporter(struct exporter *e)
{
    exporter_free(e);
    uv_run(&loop, UV_RUN_NOWAIT);
}

START_TEST(test_success_is_exported_and_ready)
{
    struct exporter *e = new_exporter();
    ck_assert_int_eq(st.state, STATS_EXPORTER_CONNECTING);
    ck_assert_int_eq(st.up, 0);
    send_batch(e, 7);
    run_until_done(1, 2000);
    ck_assert_uint_eq(done[0].exported, 7);
    ck_assert_uint_eq(done[0].failed, 0);
    ck_assert_int_eq(st.state, STATS_EXPORTER_READY);
    ck_assert_int_eq(st.up, 1);
    ck_assert_uint_eq(st.requests, 1);
    ck_assert_uint_eq(st.retries, 0);
    ck_assert_int_ge(ready_calls, 1);
    free_exporter(e);
}
END_TEST

START_TEST(test_retryable_answer_is_retried_with_backoff)
{
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 0, "UNAVAILABLE" });
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 0, "UNAVAILABLE" });
    fake_script((struct fake_answer){ EXPORTER_OK, 1, 0, 0, 0, NULL });
    struct exporter *e = new_exporter();
    send_batch(e, 3);
    run_until_done(1, 3000);
    ck_assert_uint_eq(done[0].exported, 3);
    ck_assert_int_eq(fake.sent_count, 3);
    ck_assert_uint_eq(st.requests, 3);
    ck_assert_uint_eq(st.retries, 2);
    /* The same bytes every attempt. */
    ck_assert_int_eq(memcmp(fake.sent[0].body, fake.sent[2].body, fake.sent[0].len), 0);
    ck_assert_int_eq(st.state, STATS_EXPORTER_READY);
    free_exporter(e);
}
END_TEST

START_TEST(test_retry_info_and_retry_after_are_honoured)
{
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 300, "RESOURCE_EXHAUSTED" });
    fake_script((struct fake_answer){ EXPORTER_OK, 1, 0, 0, 0, NULL });
    struct exporter *e = new_exporter();
    send_batch(e, 2);
    run_until_done(1, 3000);
    ck_assert_int_eq(fake.sent_count, 2);
    /* Not the 20 ms backoff: the backend's 300 ms. */
    ck_assert_uint_ge(fake.sent[1].at_ms - fake.sent[0].at_ms, 300);
    ck_assert_uint_eq(done[0].exported, 2);
    free_exporter(e);
}
END_TEST

START_TEST(test_gives_up_past_max_elapsed_time)
{
    target.retry_max_elapsed_ms = 150;
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 0, "UNAVAILABLE" });
    struct exporter *e = new_exporter();
    send_batch(e, 4);
    run_until_done(1, 3000);
    ck_assert_uint_eq(done[0].exported, 0);
    ck_assert_uint_eq(done[0].failed, 4);
    ck_assert_int_eq(done[0].reason, STATS_FAIL_RETRIES_EXHAUSTED);
    ck_assert_int_ge(fake.sent_count, 2);
    ck_assert_int_eq(st.state, STATS_EXPORTER_FAILING);
    ck_assert_int_eq(st.up, 0);
    ck_assert_str_eq(st.last_error, "UNAVAILABLE");
    free_exporter(e);
}
END_TEST

/* A Retry-After beyond the budget gives up at once rather than waiting. */
START_TEST(test_huge_retry_after_gives_up_at_once)
{
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 3600000, "HTTP 429" });
    struct exporter *e = new_exporter();
    send_batch(e, 1);
    run_until_done(1, 1000);
    ck_assert_int_eq(done[0].reason, STATS_FAIL_RETRIES_EXHAUSTED);
    ck_assert_int_eq(fake.sent_count, 1);
    free_exporter(e);
}
END_TEST

START_TEST(test_not_retryable_is_refused_at_once)
{
    fake_script((struct fake_answer){ EXPORTER_FAIL, 1, 0, 0, 0, "HTTP 400: bad" });
    struct exporter *e = new_exporter();
    send_batch(e, 5);
    run_until_done(1, 1000);
    ck_assert_uint_eq(done[0].failed, 5);
    ck_assert_int_eq(done[0].reason, STATS_FAIL_REFUSED);
    ck_assert_int_eq(fake.sent_count, 1);
    ck_assert_str_eq(st.last_error, "HTTP 400: bad");
    free_exporter(e);
}
END_TEST

START_TEST(test_partial_success_counts_rejected)
{
    fake_script((struct fake_answer){ EXPORTER_OK, 1, 0, 2, 0, "2 spans too old" });
    fake_script((struct fake_answer){ EXPORTER_OK, 1, 0, 99, 0, "more than sent" });
    struct exporter *e = new_exporter();
    send_batch(e, 5);
    send_batch(e, 3);
    run_until_done(2, 1000);
    ck_assert_uint_eq(done[0].exported, 3);
    ck_assert_uint_eq(done[0].failed, 2);
    ck_assert_int_eq(done[0].reason, STATS_FAIL_BACKEND_REJECTED);
    ck_assert_uint_eq(done[1].exported, 0);
    ck_assert_uint_eq(done[1].failed, 3);
    ck_assert_uint_eq(st.backend_rejected, 5);
    free_exporter(e);
}
END_TEST

/* What /health shows after each answer, recorded as it happens: retries may follow
 * one another within one loop iteration. */
static enum stats_exporter_state states[8];
static char errors[8][256];
static int state_count;

static void record_state(void)
{
    if (state_count < 8) {
        snprintf(errors[state_count], sizeof(errors[0]), "%s", st.last_error);
        states[state_count++] = st.state;
    }
}

START_TEST(test_state_follows_what_the_backend_does)
{
    struct exporter *e = new_exporter();
    state_count = 0;
    fake.after_answer = record_state;
    /* No connection at all: backing off. */
    fake_script((struct fake_answer){ EXPORTER_RETRY, 0, 0, 0, 0, "connection refused" });
    /* Connected but unanswered within the deadline (a black hole): failing. */
    fake_script((struct fake_answer){ EXPORTER_RETRY, 0, 1, 0, 0, "deadline exceeded" });
    /* Answered, but UNAVAILABLE: failing. */
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 0, "UNAVAILABLE" });
    fake_script((struct fake_answer){ EXPORTER_OK, 1, 0, 0, 0, NULL });
    send_batch(e, 1);
    run_until_done(1, 3000);
    ck_assert_int_eq(state_count, 4);
    ck_assert_int_eq(states[0], STATS_EXPORTER_BACKING_OFF);
    ck_assert_str_eq(errors[0], "connection refused");
    ck_assert_int_eq(states[1], STATS_EXPORTER_FAILING);
    ck_assert_str_eq(errors[1], "deadline exceeded");
    ck_assert_int_eq(states[2], STATS_EXPORTER_FAILING);
    ck_assert_int_eq(states[3], STATS_EXPORTER_READY);
    ck_assert_int_eq(st.up, 1);
    ck_assert_uint_eq(done[0].exported, 1);
    free_exporter(e);
}
END_TEST

/* A connection proves nothing while exports keep failing; losing it after a success
 * is backing off, and connecting again is ready. */
START_TEST(test_connection_state_does_not_hide_failing_exports)
{
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 3000, "UNAVAILABLE" });
    struct exporter *e = new_exporter();
    send_batch(e, 1);
    int n = 1;
    ck_assert(fake_run_until(&loop, fake_answered_at_least, &n, 1000));
    ck_assert_int_eq(st.state, STATS_EXPORTER_FAILING);
    exporter_transport_state(e, 1, NULL);
    ck_assert_int_eq(st.state, STATS_EXPORTER_FAILING);
    ck_assert_int_eq(st.up, 0);
    exporter_transport_state(e, 0, "connection reset");
    ck_assert_int_eq(st.state, STATS_EXPORTER_FAILING);
    ck_assert_str_eq(st.last_error, "connection reset");
    free_exporter(e);
    ck_assert_int_eq(done[0].reason, STATS_FAIL_SHUTDOWN);

    fake_reset();
    struct exporter *e2 = new_exporter();
    send_batch(e2, 1);
    run_until_done(2, 1000);
    ck_assert_int_eq(st.state, STATS_EXPORTER_READY);
    exporter_transport_state(e2, 0, "connection reset");
    ck_assert_int_eq(st.state, STATS_EXPORTER_BACKING_OFF);
    ck_assert_int_eq(st.up, 0);
    exporter_transport_state(e2, 1, NULL);
    ck_assert_int_eq(st.state, STATS_EXPORTER_READY);
    ck_assert_int_eq(st.up, 1);
    free_exporter(e2);
}
END_TEST

START_TEST(test_in_flight_is_bounded_by_capacity)
{
    fake.capacity = 2;
    fake_script((struct fake_answer){ .outcome = FAKE_HOLD });
    struct exporter *e = new_exporter();
    ck_assert_int_eq(exporter_can_send(e), 1);
    send_batch(e, 1);
    ck_assert_int_eq(exporter_can_send(e), 1);
    send_batch(e, 1);
    ck_assert_int_eq(exporter_can_send(e), 0);
    ck_assert_int_eq(fake.held_count, 2);
    free_exporter(e);
    ck_assert_int_eq(done_count, 2);
    ck_assert_int_eq(done[0].reason, STATS_FAIL_SHUTDOWN_IN_FLIGHT);
}
END_TEST

/* The drain keeps retrying until its deadline, even past maxElapsedTime and with
 * backoff waits longer than what is left. */
START_TEST(test_drain_retries_until_the_deadline)
{
    target.retry_max_elapsed_ms = 50;
    target.retry_initial_interval_ms = 400;
    target.retry_max_interval_ms = 400;
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 0, "UNAVAILABLE" });
    struct exporter *e = new_exporter();
    uint64_t t0 = uv_now(&loop);
    exporter_shutdown(e, t0 + 600);
    send_batch(e, 6);
    int n = 1;
    ck_assert(!fake_run_until(&loop, done_at_least, &n, 550));
    ck_assert_int_ge(fake.sent_count, 2);
    run_until_done(1, 1000);
    ck_assert_int_eq(done[0].reason, STATS_FAIL_SHUTDOWN);
    ck_assert_uint_ge(done[0].at_ms - t0, 600);
    free_exporter(e);
}
END_TEST

START_TEST(test_free_counts_in_flight_apart_from_waiting)
{
    fake.capacity = 1;
    fake_script((struct fake_answer){ .outcome = FAKE_HOLD });
    struct exporter *e = new_exporter();
    send_batch(e, 2);   /* in flight, never answered */
    send_batch(e, 3);   /* waiting for capacity */
    free_exporter(e);
    ck_assert_int_eq(done_count, 2);
    uint32_t in_flight = 0, waiting = 0;
    for (int i = 0; i < done_count; i++) {
        if (done[i].reason == STATS_FAIL_SHUTDOWN_IN_FLIGHT)
            in_flight += done[i].failed;
        else if (done[i].reason == STATS_FAIL_SHUTDOWN)
            waiting += done[i].failed;
    }
    ck_assert_uint_eq(in_flight, 2);
    ck_assert_uint_eq(waiting, 3);
}
END_TEST

START_TEST(test_create_error_is_returned)
{
    fake.create_fails = 1;
    char err[256];
    ck_assert_ptr_null(exporter_new(&loop, &target, &fake_ops, &st, on_done, NULL, err,
                                    sizeof(err)));
    ck_assert_str_eq(err, "otel.endpoint: fake refuses");
}
END_TEST

START_TEST(test_compression_sends_gzip_once_for_every_attempt)
{
    target.compression = CONFIG_COMPRESSION_GZIP;
    fake_script((struct fake_answer){ EXPORTER_RETRY, 1, 0, 0, 0, "UNAVAILABLE" });
    fake_script((struct fake_answer){ EXPORTER_OK, 1, 0, 0, 0, NULL });
    struct exporter *e = new_exporter();
    send_batch(e, 9);
    run_until_done(1, 2000);
    ck_assert_int_eq(fake.sent_count, 2);
    ck_assert_uint_eq(fake.sent[0].len, fake.sent[1].len);
    ck_assert_uint_eq(fake.sent[0].body[0], 0x1f);
    ck_assert_uint_eq(fake.sent[0].body[1], 0x8b);
    free_exporter(e);
}
END_TEST

/* Sends body (taken over) as one batch of spans spans. */
static uint32_t send_body(struct exporter *e, struct req_buf *body, uint32_t spans)
{
    struct exporter_batch *b = calloc(1, sizeof(*b));
    b->spans = spans;
    b->data = body->data;
    b->len = body->len;
    exporter_send(e, b);
    return spans;
}

/* A real request of resources x 1 scope x spans spans of about span_bytes each. */
static uint32_t send_request(struct exporter *e, unsigned resources, unsigned spans,
                             size_t span_bytes)
{
    struct req_buf body = { 0 };
    uint32_t next = 0;
    uint32_t n = req_build(&body, resources, 1, spans, span_bytes, span_bytes / 2, &next);
    return send_body(e, &body, n);
}

/* What the fake accepted: every span once (in any order), within the limits;
 * returns the spans. */
static uint32_t check_sent(size_t max_spans, size_t max_bytes)
{
    static struct req_seen seen;
    memset(&seen, 0, sizeof(seen));
    for (int i = 0; i < fake.sent_count; i++) {
        if (fake.sent[i].outcome != EXPORTER_OK)
            continue;
        uint32_t n = req_check_once(fake_plain(&fake.sent[i]), fake.sent[i].plain_len, &seen);
        ck_assert_uint_le(n, max_spans);
        ck_assert_uint_le(fake.sent[i].plain_len, max_bytes);
    }
    for (uint32_t i = 0; i < seen.count; i++)
        ck_assert_msg(seen.seen[i], "span %u missing", i);
    return seen.count;
}

static uint64_t done_exported(void)
{
    uint64_t n = 0;
    for (int i = 0; i < done_count; i++)
        n += done[i].exported;
    return n;
}

static int all_exported(void *arg)
{
    return done_exported() >= *(uint64_t *)arg;
}

/* maxBatchSpans 100: a 1024-span record leaves as eleven requests. */
START_TEST(test_record_over_the_span_limit_is_split_before_sending)
{
    target.max_batch_spans = 100;
    struct exporter *e = new_exporter();
    ck_assert_uint_eq(send_request(e, 1, 1024, 60), 1024);
    run_until_done(11, 2000);
    ck_assert_int_eq(fake.sent_count, 11);
    ck_assert_uint_eq(check_sent(100, SIZE_MAX), 1024);
    ck_assert_uint_eq(done_exported(), 1024);
    ck_assert_uint_eq(st.requests, 11);
    free_exporter(e);
}
END_TEST

START_TEST(test_record_over_the_byte_limit_is_split_before_sending)
{
    target.max_batch_bytes = 4096;
    struct exporter *e = new_exporter();
    uint64_t spans = send_request(e, 3, 100, 150);
    ck_assert(fake_run_until(&loop, all_exported, &spans, 2000));
    ck_assert_uint_eq(check_sent(SIZE_MAX, 4096), spans);
    ck_assert_int_ge(fake.sent_count, 300 * 170 / 4096);
    free_exporter(e);
}
END_TEST

/* Pieces beyond the transport's capacity wait for its answers; the loop keeps turning
 * meanwhile (a retry timer due at once while the transport is full would spin inside
 * one turn of the loop and never see the answer). */
START_TEST(test_pieces_wait_for_a_full_transport)
{
    target.max_batch_spans = 100;
    fake.capacity = 1;
    fake_script((struct fake_answer){ .outcome = FAKE_HOLD });
    fake_script((struct fake_answer){ EXPORTER_OK, 1, 0, 0, 0, NULL });
    struct exporter *e = new_exporter();
    uint64_t spans = send_request(e, 1, 1024, 60);
    int never = 1;
    ck_assert(!fake_run_until(&loop, done_at_least, &never, 100));
    ck_assert_int_eq(fake.sent_count, 1);
    ck_assert_int_eq(exporter_can_send(e), 0);
    struct exporter_result res;
    fake_result(&(struct fake_answer){ EXPORTER_OK, 1, 0, 0, 0, NULL }, &res);
    fake.held_count = 0;
    fake.sent[0].outcome = EXPORTER_OK;
    exporter_transport_done(fake.e, fake.held[0], &res);
    ck_assert(fake_run_until(&loop, all_exported, &spans, 2000));
    ck_assert_int_eq(fake.sent_count, 11);
    ck_assert_uint_eq(check_sent(100, SIZE_MAX), 1024);
    ck_assert_int_eq(exporter_can_send(e), 1);
    free_exporter(e);
}
END_TEST

static uint64_t done_failed(enum stats_fail_reason r)
{
    uint64_t n = 0;
    for (int i = 0; i < done_count; i++)
        if (done[i].failed)
            n += done[i].reason == r ? done[i].failed : 0;
    return n;
}

static int all_answered(void *arg)
{
    uint64_t n = 0;
    for (int i = 0; i < done_count; i++)
        n += done[i].exported + done[i].failed;
    return n >= *(uint64_t *)arg;
}

/* A backend with a 4000-byte ceiling: the request is halved until its pieces pass,
 * every span arrives once, in order, and the size learned caps what follows. */
static void check_halved_until_it_fits(void)
{
    fake.ceiling = 4000;
    struct exporter *e = new_exporter();
    uint64_t spans = send_request(e, 2, 40, 200);
    ck_assert(fake_run_until(&loop, all_exported, &spans, 3000));
    ck_assert_uint_eq(check_sent(SIZE_MAX, 4000), spans);
    ck_assert_int_gt(fake.refused_too_large, 0);
    ck_assert_uint_gt(st.max_request_bytes, 0);
    ck_assert_uint_le(st.max_request_bytes, 4000);
    ck_assert_uint_eq(done_failed(STATS_FAIL_TOO_LARGE), 0);
    ck_assert_ptr_nonnull(strstr(st.last_error, "larger than max"));

    /* From now on requests are cut to the learned size before they go. */
    int refused = fake.refused_too_large;
    uint64_t learned = st.max_request_bytes;
    fake_forget_sent();
    spans += send_request(e, 2, 40, 200);
    ck_assert(fake_run_until(&loop, all_exported, &spans, 3000));
    ck_assert_int_eq(fake.refused_too_large, refused);
    ck_assert_uint_eq(check_sent(SIZE_MAX, learned), spans / 2);
    ck_assert_uint_eq(st.max_request_bytes, learned);
    free_exporter(e);
}

START_TEST(test_too_large_is_halved_until_it_fits_and_the_size_is_learned)
{
    check_halved_until_it_fits();
}
END_TEST

/* The plain body is split (inflated again: only the gzip'd body was kept), and each
 * half is compressed on its own. */
START_TEST(test_too_large_compressed_is_split_from_its_plain_body)
{
    target.compression = CONFIG_COMPRESSION_GZIP;
    check_halved_until_it_fits();
    for (int i = 0; i < fake.sent_count; i++)
        ck_assert_ptr_nonnull(fake.sent[i].plain);
}
END_TEST

/* Span 9 alone is over the ceiling: it is given up under too_large, logged with the
 * destination and the sizes; the nine others arrive. */
START_TEST(test_a_span_over_the_ceiling_is_given_up_alone)
{
    fake.ceiling = 3000;
    struct exporter *e = new_exporter();
    struct req_buf body = { 0 };
    uint32_t next = 0;
    uint64_t spans = req_build(&body, 1, 1, 9, 200, 0, &next);
    spans += req_build(&body, 1, 1, 1, 5000, 0, &next);
    send_body(e, &body, (uint32_t)spans);
    ck_assert(fake_run_until(&loop, all_answered, &spans, 3000));
    ck_assert_uint_eq(done_exported(), 9);
    ck_assert_uint_eq(done_failed(STATS_FAIL_TOO_LARGE), 1);
    ck_assert_uint_eq(check_sent(SIZE_MAX, 3000), 9);
    ck_assert_uint_gt(st.max_request_bytes, 0);
    free_exporter(e);

    char line[1024];
    int found = 0;
    fflush(log_out);
    rewind(log_out);
    while (fgets(line, sizeof(line), log_out))
        if (strstr(line, "\"a span is larger than the backend accepts, dropped\"")) {
            found++;
            ck_assert_ptr_nonnull(strstr(line, "\"destination\":\"primary\""));
            ck_assert_ptr_nonnull(strstr(line, "\"request_bytes\":50"));
            ck_assert_ptr_nonnull(strstr(line, "\"max_request_bytes\":"));
        }
    ck_assert_int_eq(found, 1);
}
END_TEST

/* A backend whose ceiling rose: an acceptance over the smallest refusal forgets it. */
START_TEST(test_a_ceiling_that_rises_is_followed)
{
    fake.ceiling = 4000;
    struct exporter *e = new_exporter();
    uint64_t spans = send_request(e, 2, 40, 200);
    ck_assert(fake_run_until(&loop, all_exported, &spans, 3000));
    ck_assert_uint_gt(st.max_request_bytes, 0);
    /* A single span bigger than the smallest refusal, accepted now. */
    fake.ceiling = 0;
    struct req_buf body = { 0 };
    uint32_t next = 0;
    spans += send_body(e, &body, req_build(&body, 1, 1, 1, 20000, 0, &next));
    ck_assert(fake_run_until(&loop, all_exported, &spans, 3000));
    ck_assert_uint_eq(st.max_request_bytes, 0);
    free_exporter(e);
}
END_TEST

static Suite *exporter_suite(void)
{
    Suite *s = suite_create("exporter");
    TCase *tc = tcase_create("policy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_success_is_exported_and_ready);
    tcase_add_test(tc, test_retryable_answer_is_retried_with_backoff);
    tcase_add_test(tc, test_retry_info_and_retry_after_are_honoured);
    tcase_add_test(tc, test_gives_up_past_max_elapsed_time);
    tcase_add_test(tc, test_huge_retry_after_gives_up_at_once);
    tcase_add_test(tc, test_not_retryable_is_refused_at_once);
    tcase_add_test(tc, test_partial_success_counts_rejected);
    tcase_add_test(tc, test_state_follows_what_the_backend_does);
    tcase_add_test(tc, test_connection_state_does_not_hide_failing_exports);
    tcase_add_test(tc, test_in_flight_is_bounded_by_capacity);
    tcase_add_test(tc, test_drain_retries_until_the_deadline);
    tcase_add_test(tc, test_free_counts_in_flight_apart_from_waiting);
    tcase_add_test(tc, test_create_error_is_returned);
    tcase_add_test(tc, test_compression_sends_gzip_once_for_every_attempt);
    tcase_add_test(tc, test_record_over_the_span_limit_is_split_before_sending);
    tcase_add_test(tc, test_record_over_the_byte_limit_is_split_before_sending);
    tcase_add_test(tc, test_pieces_wait_for_a_full_transport);
    tcase_add_test(tc, test_too_large_is_halved_until_it_fits_and_the_size_is_learned);
    tcase_add_test(tc, test_too_large_compressed_is_split_from_its_plain_body);
    tcase_add_test(tc, test_a_span_over_the_ceiling_is_given_up_alone);
    tcase_add_test(tc, test_a_ceiling_that_rises_is_followed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(exporter_suite());
}
