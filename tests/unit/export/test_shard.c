/* test_shard.c — shard.c against fake gateways (one fake transport per lane, each
 * gateway up or down at the test's word): every span reaches the gateway the ring
 * names, a request mixing traces being split by otlp_partition; a gateway that leaves
 * hands its backlog to the new owners; an unreachable one is ejected after ejectAfter, its backlog re-routed,
 * and readmitted when it answers; records from before the first fleet wait for it; and
 * the destination's books balance through every move. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "export/exporter_transport.h"
#include "export/hashring.h"
#include "export/shard.h"
#include "pipeline/otlp.h"

#include "otlp_record.h"

/* ---------------------------------------------------------------- fake gateways */

#define GATEWAYS 4

struct gateway {
    char url[64];
    int up;
    uint64_t spans;           /* accepted */
};

static struct gateway gws[GATEWAYS];
static const char *const names[GATEWAYS] = {
    "10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317", "10.0.0.4:4317"
};

struct gw_transport {
    uv_loop_t *loop;
    struct exporter *e;
    struct gateway *gw;
    struct gw_pending *pending;
};

struct gw_pending {
    uv_timer_t timer;
    struct gw_transport *t;
    struct exporter_request *req;
    struct gw_pending *next;
};

static void gw_pending_free(uv_handle_t *h)
{
    free(h->data);
}

static void gw_answer(struct gw_pending *p, int shutdown)
{
    struct exporter_result res;
    struct gw_transport *t = p->t;
    struct exporter_request *req = p->req;
    memset(&res, 0, sizeof(res));
    struct gw_pending **pp = &t->pending;
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    uv_close((uv_handle_t *)&p->timer, gw_pending_free);
    if (!shutdown && t->gw->up) {
        res.outcome = EXPORTER_OK;
        res.connected = 1;
        t->gw->spans += otlp_count_spans(req->body, req->len);
    } else {
        res.outcome = EXPORTER_RETRY;
        snprintf(res.message, sizeof(res.message), "%s", shutdown ? "shutdown"
                                                                   : "connection refused");
    }
    exporter_transport_done(t->e, req, &res);
}

static void gw_on_timer(uv_timer_t *timer)
{
    gw_answer(timer->data, 0);
}

static struct exporter_transport *gw_create(uv_loop_t *loop, const struct export_target *target,
                                           struct exporter *e, char *err, size_t errlen)
{
    struct gw_transport *t = calloc(1, sizeof(*t));
    t->loop = loop;
    t->e = e;
    for (int i = 0; i < GATEWAYS; i++)
        if (strcmp(gws[i].url, target->endpoint) == 0)
            t->gw = &gws[i];
    if (!t->gw) {
        snprintf(err, errlen, "no such gateway %s", target->endpoint);
        free(t);
        return NULL;
    }
    return (struct exporter_transport *)t;
}

static int gw_capacity(const struct exporter_transport *t)
{
    (void)t;
    return 2;
}

static int gw_send(struct exporter_transport *tr, struct exporter_request *req)
{
    struct gw_transport *t = (struct gw_transport *)tr;
    struct gw_pending *p = calloc(1, sizeof(*p));
    p->t = t;
    p->req = req;
    p->next = t->pending;
    t->pending = p;
    uv_timer_init(t->loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, gw_on_timer, 1, 0);
    return 0;
}

static void gw_destroy(struct exporter_transport *tr)
{
    struct gw_transport *t = (struct gw_transport *)tr;
    while (t->pending)
        gw_answer(t->pending, 1);
    free(t);
}

static const struct exporter_transport_ops gw_ops = {
    .name = "fake-gateway", .create = gw_create, .capacity = gw_capacity, .send = gw_send,
    .destroy = gw_destroy,
};

/* ---------------------------------------------------------------- fixture */

static uv_loop_t loop;
static uv_timer_t tick;
static FILE *log_out;
static struct export_target target;
static struct config_load_balance lb;
static struct shard *sh;
static uint64_t pushed;
static uint64_t expected[GATEWAYS];  /* spans each gateway must get, by the ring */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void setup(void)
{
    log_out = tmpfile();
    log_init(LOG_DEBUG, log_out);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    for (int i = 0; i < GATEWAYS; i++) {
        snprintf(gws[i].url, sizeof(gws[i].url), "http://%s", names[i]);
        gws[i].up = 1;
        gws[i].spans = 0;
        expected[i] = 0;
    }
    pushed = 0;
    target = (struct export_target){
        .name = "gateways", .key = "otel", .enabled = 1, .endpoint = "",
        .timeout_ms = 1000, .retry_initial_interval_ms = 20, .retry_max_interval_ms = 50,
        .retry_max_elapsed_ms = 600000, .max_batch_bytes = 64 * 1024, .max_batch_spans = 50,
        .batch_timeout_ms = 5, .buffer_max_bytes = 256 * 1024, .sampling_ratio = 1.0,
    };
    config_load_balance_defaults(&lb);
    lb.resolver = CONFIG_RESOLVER_STATIC;
    lb.eject_after_ms = 3600000;
    sh = NULL;
}

static void teardown(void)
{
    shard_free(sh);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    log_init(LOG_INFO, stderr);
    fclose(log_out);
    lb.endpoints.items = NULL;
    lb.endpoints.count = 0;
}

static void start(size_t n)
{
    char err[256];
    lb.endpoints.items = (char **)names;
    lb.endpoints.count = n;
    target.load_balance = lb;
    sh = shard_new(&loop, &target, &gw_ops, err, sizeof(err));
    ck_assert_msg(sh != NULL, "%s", err);
}

/* Pushes count records of 3 spans, each its own trace; expects them at the owners the
 * ring over fleet[0..n) names. */
static void push_traces(int count, const char *const *fleet, size_t n)
{
    static uint8_t seed;
    struct hashring *r = hashring_new(fleet, n, HASHRING_POINTS);
    for (int i = 0; i < count; i++) {
        uint8_t buf[1024];
        size_t len = make_record(buf, 3, ++seed);
        size_t at = hashring_owner(r, buf + OTLP_RECORD_TRACE_ID_AT);
        const char *owner = hashring_endpoint(r, at);
        for (int g = 0; g < GATEWAYS; g++)
            if (strcmp(names[g], owner) == 0)
                expected[g] += 3;
        uint32_t dropped;
        pushed += 3;
        ck_assert_int_eq(shard_push(sh, buf, len, 3, &dropped), LANE_PUSHED);
    }
    hashring_free(r);
}

static uint64_t delivered(void)
{
    uint64_t n = 0;
    for (int g = 0; g < GATEWAYS; g++)
        n += gws[g].spans;
    return n;
}

static int run_until(int (*cond)(void), uint64_t timeout_ms)
{
    uint64_t end = uv_now(&loop) + timeout_ms;
    while (!cond()) {
        if (uv_now(&loop) >= end)
            return 0;
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    return 1;
}

static int all_delivered(void)
{
    return delivered() == pushed;
}

static void assert_books(void)
{
    const struct stats_lane_spans *s = &shard_stats(sh)->spans;
    ck_assert_uint_eq(s->sampled_out + s->dropped_overflow + s->exported +
                          stats_export_failed_total(s) + s->buffered + s->in_flight,
                      pushed);
}

static void assert_at_owners(void)
{
    for (int g = 0; g < GATEWAYS; g++)
        ck_assert_msg(gws[g].spans == expected[g], "%s got %llu, expected %llu", names[g],
                      (unsigned long long)gws[g].spans, (unsigned long long)expected[g]);
}

static size_t member(const char *name)
{
    for (size_t i = 0; i < shard_members(sh); i++)
        if (strcmp(shard_member_endpoint(sh, i), name) == 0)
            return i;
    return (size_t)-1;
}

/* Ring-change log lines with this change and endpoint. */
static int ring_logged(const char *change, const char *endpoint)
{
    char want[160], line[2048];
    int n = 0;
    snprintf(want, sizeof(want), "\"change\":\"%s\",\"endpoint\":\"%s\"", change, endpoint);
    fflush(log_out);
    rewind(log_out);
    while (fgets(line, sizeof(line), log_out))
        n += strstr(line, "gateway ring changed") && strstr(line, want);
    fseek(log_out, 0, SEEK_END);
    return n;
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_every_trace_at_its_owner)
{
    start(3);
    push_traces(200, names, 3);
    ck_assert(run_until(all_delivered, 5000));
    assert_at_owners();
    assert_books();
    ck_assert_uint_eq(shard_stats(sh)->spans.exported, pushed);
    ck_assert_uint_eq(shard_members(sh), 3);
    for (int g = 0; g < 3; g++)
        ck_assert_int_eq(ring_logged("joined", names[g]), 1);
}
END_TEST

/* One request holding 40 traces (records concatenated: one request in protobuf) is
 * split, each span at its trace's owner and every span once. */
START_TEST(test_a_request_of_many_traces_is_split_by_owner)
{
    static uint8_t buf[40 * 256];
    size_t len = 0;
    struct hashring *r = hashring_new(names, 3, HASHRING_POINTS);
    start(3);
    for (int i = 0; i < 40; i++) {
        size_t one = make_record(buf + len, 2, (uint8_t)(100 + 3 * i));
        const char *owner = hashring_endpoint(r, hashring_owner(r, buf + len +
                                                                     OTLP_RECORD_TRACE_ID_AT));
        for (int g = 0; g < GATEWAYS; g++)
            if (strcmp(names[g], owner) == 0)
                expected[g] += 2;
        len += one;
    }
    hashring_free(r);
    uint32_t dropped = 7;
    pushed = 80;
    ck_assert_int_eq(shard_push(sh, buf, len, 80, &dropped), LANE_PUSHED);
    ck_assert_uint_eq(dropped, 0);
    ck_assert(run_until(all_delivered, 5000));
    assert_at_owners();
    for (int g = 0; g < 3; g++)
        ck_assert_uint_gt(gws[g].spans, 0);
    assert_books();
}
END_TEST

static const char *leaving;
static uint64_t rest;

static int rest_delivered(void)
{
    return delivered() >= rest;
}

static int leaver_gone(void)
{
    return member(leaving) == (size_t)-1 && all_delivered();
}

START_TEST(test_leaving_gateway_hands_its_backlog_to_the_new_owners)
{
    start(3);
    leaving = names[1];
    gws[1].up = 0;
    push_traces(200, names, 3);
    uint64_t backlog = expected[1];
    ck_assert_uint_gt(backlog, 0);
    /* the others get theirs; the leaver's lane holds its share, retrying */
    rest = pushed - backlog;
    ck_assert(run_until(rest_delivered, 5000));
    ck_assert(!run_until(all_delivered, 300));
    ck_assert_uint_eq(delivered(), rest);
    size_t i = member(leaving);
    ck_assert_uint_eq(shard_member_stats(sh, i)->spans.buffered +
                          shard_member_stats(sh, i)->spans.in_flight, backlog);
    assert_books();

    const char *const remaining[] = { names[0], names[2] };
    shard_set_endpoints(sh, remaining, 2);
    ck_assert(run_until(leaver_gone, 5000));
    ck_assert_uint_eq(gws[1].spans, 0);
    ck_assert_uint_eq(gws[0].spans + gws[2].spans, pushed);
    assert_books();
    ck_assert_uint_eq(shard_stats(sh)->spans.exported, pushed);
    ck_assert_uint_eq(stats_export_failed_total(&shard_stats(sh)->spans), 0);
    ck_assert_int_eq(ring_logged("left", names[1]), 1);
}
END_TEST

static int ejected_and_delivered(void)
{
    size_t i = member(names[2]);
    return i != (size_t)-1 && !shard_member_in_ring(sh, i) && all_delivered();
}

static int readmitted(void)
{
    size_t i = member(names[2]);
    return i != (size_t)-1 && shard_member_in_ring(sh, i);
}

START_TEST(test_unreachable_gateway_ejected_then_readmitted)
{
    lb.eject_after_ms = 300;
    start(3);
    gws[2].up = 0;
    push_traces(100, names, 3);
    uint64_t t0 = uv_now(&loop);
    ck_assert(run_until(ejected_and_delivered, 5000));
    ck_assert_uint_ge(uv_now(&loop) - t0, 300);
    ck_assert_uint_eq(gws[2].spans, 0);
    ck_assert_int_eq(ring_logged("ejected", names[2]), 1);
    assert_books();

    /* while ejected its traces go to the others */
    const char *const two[] = { names[0], names[1] };
    memset(expected, 0, sizeof(expected));
    for (int g = 0; g < GATEWAYS; g++)
        gws[g].spans = 0;
    uint64_t before = pushed;
    pushed = 0;
    push_traces(50, two, 2);
    ck_assert(run_until(all_delivered, 5000));
    assert_at_owners();
    pushed += before;

    /* it answers again: the probe brings it back */
    gws[2].up = 1;
    ck_assert(run_until(readmitted, 5000));
    ck_assert_int_eq(ring_logged("readmitted", names[2]), 1);
    ck_assert_int_eq(ring_logged("ejected", names[2]), 1);
    memset(expected, 0, sizeof(expected));
    for (int g = 0; g < GATEWAYS; g++)
        gws[g].spans = 0;
    before = pushed;
    pushed = 0;
    push_traces(100, names, 3);
    ck_assert(run_until(all_delivered, 5000));
    assert_at_owners();
    pushed += before;
    assert_books();
}
END_TEST

START_TEST(test_records_wait_for_the_first_fleet)
{
    start(0);
    push_traces(20, names, 1);
    ck_assert_uint_eq(shard_stats(sh)->spans.buffered, pushed);
    assert_books();
    shard_set_endpoints(sh, names, 1);
    ck_assert(run_until(all_delivered, 5000));
    ck_assert_uint_eq(gws[0].spans, pushed);
    assert_books();
}
END_TEST

static int drained;

static void on_drained(void *arg)
{
    (void)arg;
    drained++;
}

static int is_drained(void)
{
    return drained > 0;
}

START_TEST(test_drain_delivers_and_then_refuses)
{
    drained = 0;
    start(2);
    push_traces(50, names, 2);
    shard_drain(sh, 2000, on_drained, NULL);
    ck_assert(run_until(is_drained, 5000));
    ck_assert_uint_eq(delivered(), pushed);
    uint8_t buf[1024];
    size_t len = make_record(buf, 3, 1);
    uint32_t dropped;
    ck_assert_int_eq(shard_push(sh, buf, len, 3, &dropped), LANE_NOT_EXPORTED);
    pushed += 3;
    assert_books();
}
END_TEST

static Suite *shard_suite(void)
{
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("shard");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_every_trace_at_its_owner);
    tcase_add_test(tc, test_a_request_of_many_traces_is_split_by_owner);
    tcase_add_test(tc, test_leaving_gateway_hands_its_backlog_to_the_new_owners);
    tcase_add_test(tc, test_unreachable_gateway_ejected_then_readmitted);
    tcase_add_test(tc, test_records_wait_for_the_first_fleet);
    tcase_add_test(tc, test_drain_delivers_and_then_refuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(shard_suite());
}
