/* lane.c — one destination's ring, batcher, exporter and counters (see lane.h).
 *
 * The lane writes its span terms (struct stats_lane_spans) and nothing else; the
 * exporter writes the exporter part of the same struct stats_destination. */
#include "export/lane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "export/batcher.h"
#include "export/exporter.h"
#include "export/ring.h"

#define LOGGER "spanrelay.pipeline"
#define WARN_INTERVAL_MS 10000

struct lane {
    uv_loop_t *loop;
    struct export_target target;
    struct stats_destination st;
    struct ring *ring;
    struct exporter *exporter;
    struct batcher *batcher;
    struct log_limiter overflow_limiter;
    lane_take_cb take;             /* hand-back mode */
    void *take_arg;
    /* shutdown drain */
    int draining;
    uv_timer_t *drain_timer;       /* own allocation: it may outlive the lane while closing */
    int freeing_exporter;          /* exporter_free() is answering its batches right now */
    void (*drained)(void *);
    void *drained_arg;
};

static void drain_check(struct lane *l);

static void update_ring_gauges(struct lane *l)
{
    l->st.spans.buffered = ring_spans(l->ring);
    l->st.spans.buffer_bytes = ring_bytes(l->ring);
}

static int sink_can_send(void *arg)
{
    struct lane *l = arg;
    return l->exporter && exporter_can_send(l->exporter);
}

static void sink_send(void *arg, struct exporter_batch *batch)
{
    struct lane *l = arg;
    l->st.spans.in_flight += batch->spans;
    update_ring_gauges(l);
    exporter_send(l->exporter, batch);
}

static void on_exporter_ready(void *arg)
{
    struct lane *l = arg;
    batcher_ready(l->batcher);
}

static void on_batch_done(void *arg, const struct exporter_batch *batch, uint32_t exported,
                          uint32_t failed, enum stats_fail_reason reason)
{
    struct lane *l = arg;
    l->st.spans.in_flight -= batch->spans;
    l->st.spans.exported += exported;
    l->st.spans.export_failed[reason] += failed;
    if (l->draining)
        drain_check(l);
}

static void lane_disabled(struct lane *l)
{
    l->st.exporter.state = STATS_EXPORTER_DISABLED;
    log_write(LOG_INFO, LOGGER, "exporter disabled: spans are accepted and dropped",
              (struct log_field[]){ LOG_STR("destination", l->target.name),
                                    LOG_STR("reason", l->target.endpoint && l->target.endpoint[0]
                                                          ? "disabled"
                                                          : "no endpoint") },
              2);
}

struct lane *lane_new(uv_loop_t *loop, const struct export_target *target,
                      const struct exporter_transport_ops *ops, char *err, size_t errlen)
{
    err[0] = '\0';
    struct lane *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "%s: out of memory", target->key);
        return NULL;
    }
    l->loop = loop;
    l->target = *target;
    l->st.name = l->target.name;
    l->overflow_limiter = (struct log_limiter)LOG_LIMITER_INIT(WARN_INTERVAL_MS);
    if (!target->enabled) {
        lane_disabled(l);
        return l;
    }
    if (!ops)
        ops = target->protocol == CONFIG_PROTOCOL_GRPC ? &exporter_grpc_ops : &exporter_http_ops;
    l->exporter = exporter_new(loop, &l->target, ops, &l->st.exporter, on_batch_done, l, err,
                               errlen);
    if (!l->exporter) {
        free(l);
        return NULL;
    }
    l->ring = ring_new(target->buffer_max_bytes);
    l->batcher = l->ring ? batcher_new(loop, &l->target, l->ring,
                                       (struct batcher_sink){ sink_can_send, sink_send, l })
                         : NULL;
    if (!l->batcher) {
        snprintf(err, errlen, "%s: buffer.maxBytes: cannot allocate %zu bytes", target->key,
                 target->buffer_max_bytes);
        exporter_free(l->exporter);
        ring_free(l->ring);
        free(l);
        return NULL;
    }
    exporter_set_ready_cb(l->exporter, on_exporter_ready, l);
    l->st.spans.buffer_capacity_bytes = ring_capacity(l->ring);
    return l;
}

const struct export_target *lane_target(const struct lane *l)
{
    return &l->target;
}

const struct stats_destination *lane_stats(const struct lane *l)
{
    return &l->st;
}

void lane_count_sampled_out(struct lane *l, uint64_t spans)
{
    l->st.spans.sampled_out += spans;
}

enum lane_push_result lane_push(struct lane *l, const uint8_t *rec, size_t len, uint32_t spans)
{
    if (!l->exporter || l->draining) {
        l->st.spans.export_failed[l->exporter ? STATS_FAIL_SHUTDOWN : STATS_FAIL_DISABLED] +=
            spans;
        return LANE_NOT_EXPORTED;
    }
    if (ring_push(l->ring, rec, len, spans) < 0) {
        l->st.spans.dropped_overflow += spans;
        log_write_limited(&l->overflow_limiter, LOG_WARNING, LOGGER,
                          "buffer full, dropping newest spans",
                          (struct log_field[]){ LOG_INT("spans", spans),
                                                LOG_INT("buffer_bytes", ring_bytes(l->ring)),
                                                LOG_STR("destination", l->target.name) },
                          3);
        return LANE_OVERFLOW;
    }
    update_ring_gauges(l);
    batcher_pushed(l->batcher);
    return LANE_PUSHED;
}

/* ---------------------------------------------------------------- hand-back */

static void on_exporter_give(void *arg, const struct exporter_batch *batch)
{
    struct lane *l = arg;
    l->st.spans.in_flight -= batch->spans;
    l->take(l->take_arg, batch->data, batch->len, batch->spans);
}

void lane_hand_back(struct lane *l, lane_take_cb take, void *arg)
{
    const uint8_t *data;
    size_t len;
    uint32_t spans;

    if (!l->exporter || l->draining)
        return;
    l->take = take;
    l->take_arg = arg;
    exporter_hand_back(l->exporter, take ? on_exporter_give : NULL, l);
    if (!take)
        return;
    while (ring_peek(l->ring, &data, &len, &spans) == 0) {
        take(arg, data, len, spans);
        ring_pop(l->ring);
    }
    update_ring_gauges(l);
}

/* ---------------------------------------------------------------- drain */

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void close_drain_timer(struct lane *l)
{
    if (!l->drain_timer)
        return;
    uv_timer_stop(l->drain_timer);
    uv_close((uv_handle_t *)l->drain_timer, on_timer_closed);
    l->drain_timer = NULL;
}

static void drain_finish(struct lane *l)
{
    if (!l->drained)
        return;
    void (*done)(void *) = l->drained;
    l->drained = NULL;
    close_drain_timer(l);
    const uint64_t *failed = l->st.spans.export_failed;
    log_write(LOG_INFO, LOGGER, "drained",
              (struct log_field[]){
                  LOG_STR("destination", l->target.name),
                  LOG_INT("exported", l->st.spans.exported),
                  LOG_INT("export_failed", stats_export_failed_total(&l->st.spans)),
                  LOG_INT("shutdown", failed[STATS_FAIL_SHUTDOWN]),
                  LOG_INT("shutdown_in_flight", failed[STATS_FAIL_SHUTDOWN_IN_FLIGHT]) },
              5);
    done(l->drained_arg);
}

static void drain_check(struct lane *l)
{
    /* While the exporter is being freed its answers come from inside exporter_free();
     * finishing the drain then would free the lane under the caller's feet. */
    if (!l->drained || l->freeing_exporter)
        return;
    if (ring_records(l->ring) > 0)
        batcher_flush_all(l->batcher);
    if (ring_records(l->ring) == 0 && l->st.spans.in_flight == 0)
        drain_finish(l);
}

/* Freeing the exporter answers every batch it holds as failed; the lane lets go of it
 * first so that nothing reached from those answers frees it twice. */
static void release_exporter(struct lane *l)
{
    struct exporter *e = l->exporter;
    if (!e)
        return;
    l->exporter = NULL;
    l->freeing_exporter = 1;
    exporter_free(e);
    l->freeing_exporter = 0;
}

/* What the deadline leaves in the ring is given up on and counted. */
static void drop_ring(struct lane *l)
{
    const uint8_t *data;
    size_t len;
    uint32_t spans;
    if (!l->ring)
        return;
    while (ring_peek(l->ring, &data, &len, &spans) == 0) {
        l->st.spans.export_failed[STATS_FAIL_SHUTDOWN] += spans;
        ring_pop(l->ring);
    }
    update_ring_gauges(l);
}

static void give_up(struct lane *l)
{
    drop_ring(l);
    release_exporter(l);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct lane *l = t->data;
    log_write(LOG_WARNING, LOGGER, "shutdown timeout reached, dropping what is left",
              (struct log_field[]){ LOG_STR("destination", l->target.name),
                                    LOG_INT("buffered", l->st.spans.buffered),
                                    LOG_INT("in_flight", l->st.spans.in_flight) },
              3);
    give_up(l);
    drain_finish(l);
}

void lane_drain(struct lane *l, uint64_t timeout_ms, void (*done)(void *), void *arg)
{
    l->draining = 1;
    l->drained = done;
    l->drained_arg = arg;
    if (!l->exporter) {
        drain_finish(l);
        return;
    }
    log_write(LOG_INFO, LOGGER, "draining buffer to the backend",
              (struct log_field[]){ LOG_STR("destination", l->target.name),
                                    LOG_INT("buffered", l->st.spans.buffered),
                                    LOG_INT("timeout_ms", timeout_ms) },
              3);
    l->drain_timer = malloc(sizeof(*l->drain_timer));
    if (!l->drain_timer) {
        /* Without a timer the drain could not be bounded: give up at once instead. */
        give_up(l);
        drain_finish(l);
        return;
    }
    uv_timer_init(l->loop, l->drain_timer);
    l->drain_timer->data = l;
    uv_timer_start(l->drain_timer, on_drain_timeout, timeout_ms, 0);
    exporter_shutdown(l->exporter, uv_now(l->loop) + timeout_ms);
    drain_check(l);
}

void lane_free(struct lane *l)
{
    if (!l)
        return;
    close_drain_timer(l);
    l->drained = NULL;
    give_up(l);
    if (l->batcher)
        batcher_free(l->batcher);
    ring_free(l->ring);
    free(l);
}
