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
#include "export/spool.h"

#define LOGGER "spanrelay.pipeline"
#define WARN_INTERVAL_MS 10000
/* With a spool the drain stops exporting this long before shutdownTimeout (at most a
 * fifth of it), so what is left reaches the disk before the deadline. */
#define SPILL_MARGIN_MS 1000

struct lane {
    uv_loop_t *loop;
    struct export_target target;
    struct stats_destination st;
    struct ring *ring;
    struct spool *spool;           /* NULL without buffer.spool.dir */
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
    uint64_t spilled;              /* spans the drain sent to the spool */
};

static void drain_check(struct lane *l);

static void update_ring_gauges(struct lane *l)
{
    l->st.spans.buffered = ring_spans(l->ring);
    l->st.spans.buffer_bytes = ring_bytes(l->ring);
}

/* The spool owns its counters; the lane shows them with its own terms. */
static void update_spool_gauges(struct lane *l)
{
    if (!l->spool)
        return;
    const struct spool_stats *s = spool_stats(l->spool);
    l->st.spans.spooled = s->spans;
    l->st.spans.received_spool = s->recovered_spans;
    l->st.spans.export_failed[STATS_FAIL_SPOOL_UNREADABLE] = s->lost_spans;
    l->st.spool.up = s->up;
    l->st.spool.bytes = s->bytes;
    l->st.spool.segments = s->segments;
    l->st.spool.oldest_ms = s->oldest_ms;
    l->st.spool.disk_errors = s->disk_errors;
    l->st.spool.quarantined = s->quarantined;
}

/* Spooled records come back, oldest first, while the ring has room for them. */
static void refill_from_spool(struct lane *l)
{
    const uint8_t *data;
    size_t len;
    uint32_t spans;
    int moved = 0;
    if (!l->spool || !l->ring)
        return;
    while (spool_peek(l->spool, &data, &len, &spans) == 0 &&
           ring_push(l->ring, data, len, spans) == 0) {
        spool_pop(l->spool);
        moved = 1;
    }
    update_spool_gauges(l);
    if (moved) {
        update_ring_gauges(l);
        batcher_pushed(l->batcher);
    }
}

static void on_spool_wake(void *arg)
{
    struct lane *l = arg;
    if (l->draining && !l->exporter)
        return;
    refill_from_spool(l);
    if (l->draining)
        drain_check(l);
}

static enum spool_sync spool_sync_mode(enum config_spool_sync s)
{
    return s == CONFIG_SPOOL_SYNC_ALWAYS ? SPOOL_SYNC_ALWAYS
           : s == CONFIG_SPOOL_SYNC_NEVER ? SPOOL_SYNC_NEVER
                                          : SPOOL_SYNC_INTERVAL;
}

static void open_spool(struct lane *l)
{
    const struct export_target *t = &l->target;
    if (!t->spool_dir || !t->spool_dir[0])
        return;
    struct spool_options o = {
        .dir = t->spool_dir, .name = t->name, .max_bytes = t->spool_max_bytes,
        .sync = spool_sync_mode(t->spool_sync), .sync_interval_ms = t->spool_sync_interval_ms,
        .retry_ms = t->retry_max_interval_ms,
    };
    l->spool = spool_open(l->loop, &o, on_spool_wake, l);
    l->st.spool.enabled = l->spool != NULL;
    if (!l->spool)
        log_write(LOG_WARNING, LOGGER, "no spool for this destination: its name cannot be a "
                                       "directory name, or memory is short",
                  (struct log_field[]){ LOG_STR("destination", t->name) }, 1);
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
    refill_from_spool(l);
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
    /* Given up at shutdown: to the spool instead (a lane with a spool keeps its
     * batches' plain bodies, compressed or not). One that was in flight may have
     * arrived: sent again after the restart rather than lost. */
    if (l->spool && exported == 0 && batch->data &&
        (reason == STATS_FAIL_SHUTDOWN || reason == STATS_FAIL_SHUTDOWN_IN_FLIGHT) &&
        spool_append(l->spool, batch->data, batch->len, failed) == SPOOL_OK) {
        l->spilled += failed;
        update_spool_gauges(l);
        failed = 0;
    }
    l->st.spans.export_failed[reason] += failed;
    if (l->batcher)
        batcher_limit_bytes(l->batcher, l->st.exporter.max_request_bytes);
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
    /* What the drain gives up goes to the spool as plain records: the exporter must
     * not drop a batch's plain body once it has compressed it. */
    if (target->spool_dir && target->spool_dir[0])
        l->target.keep_plain_body = 1;
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
    open_spool(l);
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
        if (l->spool && spool_append(l->spool, rec, len, spans) == SPOOL_OK) {
            update_spool_gauges(l);
            return LANE_PUSHED;
        }
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

uint8_t *lane_reserve(struct lane *l, size_t max)
{
    if (!l->exporter || l->draining)
        return NULL;
    return ring_reserve(l->ring, max);
}

enum lane_push_result lane_commit(struct lane *l, size_t len, uint32_t spans)
{
    if (ring_commit(l->ring, len, spans) != 0) {
        /* The room was given up by a push in between, against the contract. */
        l->st.spans.dropped_overflow += spans;
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
                  LOG_INT("shutdown_in_flight", failed[STATS_FAIL_SHUTDOWN_IN_FLIGHT]),
                  LOG_INT("spooled", l->st.spans.spooled),
                  LOG_INT("spooled_at_shutdown", l->spilled) },
              l->st.spool.enabled ? 7 : 5);
    done(l->drained_arg);
}

static void on_spool_closed(void *arg)
{
    drain_finish(arg);
}

/* The spool writes what it holds and lets go; the drain ends once that is on disk. */
static void close_spool(struct lane *l)
{
    struct spool *sp = l->spool;
    update_spool_gauges(l);
    l->spool = NULL;
    spool_close(sp, on_spool_closed, l);
}

static void drain_check(struct lane *l)
{
    /* While the exporter is being freed its answers come from inside exporter_free();
     * finishing the drain then would free the lane under the caller's feet. */
    if (!l->drained || l->freeing_exporter)
        return;
    if (ring_records(l->ring) > 0)
        batcher_flush_all(l->batcher);
    if (ring_records(l->ring) > 0 || l->st.spans.in_flight > 0)
        return;
    if (l->spool && spool_empty(l->spool))
        close_spool(l);
    else if (!l->spool)
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

/* The deadline, with a spool: what the ring and the exporter still hold goes to disk
 * for the next process; only what the disk refuses is given up. */
static void spill(struct lane *l)
{
    const uint8_t *data;
    size_t len;
    uint32_t spans;
    spool_unbound(l->spool);
    while (ring_peek(l->ring, &data, &len, &spans) == 0) {
        if (spool_append(l->spool, data, len, spans) == SPOOL_OK)
            l->spilled += spans;
        else
            l->st.spans.export_failed[STATS_FAIL_SHUTDOWN] += spans;
        ring_pop(l->ring);
    }
    update_ring_gauges(l);
    release_exporter(l);
    close_spool(l);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct lane *l = t->data;
    if (l->spool) {
        log_write(LOG_WARNING, LOGGER, "shutdown timeout near, spooling what is left",
                  (struct log_field[]){ LOG_STR("destination", l->target.name),
                                        LOG_INT("buffered", l->st.spans.buffered),
                                        LOG_INT("in_flight", l->st.spans.in_flight),
                                        LOG_INT("spooled", l->st.spans.spooled) },
                  4);
        spill(l);
        return;
    }
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
    uint64_t margin = l->spool ? SPILL_MARGIN_MS : 0;
    if (margin > timeout_ms / 5)
        margin = timeout_ms / 5;
    timeout_ms -= margin;
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
    if (l->spool)
        spool_close(l->spool, NULL, NULL);
    if (l->batcher)
        batcher_free(l->batcher);
    ring_free(l->ring);
    free(l);
}
