/* pipeline.c — the path from a receiver to the exporter (see pipeline.h).
 *
 * Every span of a request that parsed is counted once as received and then lands in
 * exactly one term of the accounting equation: rejected (invalid ids), sampled_out,
 * dropped_overflow (ring full), or buffered — from where the batcher moves it to
 * in_flight and the exporter to exported or export_failed. With no exporter (disabled
 * or no endpoint) kept spans go straight to export_failed, without touching the ring:
 * disabled means free (DESIGN.md decision 8). */
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/batcher.h"
#include "export/exporter.h"
#include "base/log.h"
#include "pipeline/otlp.h"
#include "export/ring.h"
#include "pipeline/sampler.h"

#define LOGGER "spanrelay.pipeline"

struct pipeline {
    uv_loop_t *loop;
    const struct config *cfg;
    struct sampler sampler;
    struct otlp_rewrite_opts opts;
    struct ring *ring;
    struct exporter *exporter;
    struct batcher *batcher;
    struct log_limiter overflow_limiter;
    struct log_limiter malformed_limiter;
    /* shutdown drain */
    int draining;
    uv_timer_t *drain_timer;       /* own allocation: it may outlive the pipeline while closing */
    int freeing_exporter;          /* exporter_free() is answering its batches right now */
    void (*drained)(void *);
    void *drained_arg;
};

static void on_batch_done(void *arg, const struct exporter_batch *batch, uint32_t exported,
                          uint32_t failed);
static void drain_check(struct pipeline *p);

struct pipeline *pipeline_new(uv_loop_t *loop, const struct config *cfg, char *err, size_t errlen)
{
    struct pipeline *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "pipeline: out of memory");
        return NULL;
    }
    p->loop = loop;
    p->cfg = cfg;
    sampler_init(&p->sampler, cfg->sampling_ratio, cfg->sampler_rule);
    /* Even at ratio 1 every span is decided: the consistent rule still checks and
     * writes `th`, and the counters by rule stay complete. */
    p->opts = (struct otlp_rewrite_opts){
        .sampler = &p->sampler,
        .service_name = cfg->service_name,
        .attrs = cfg->resource_attrs,
        .attrs_count = cfg->resource_attrs_count,
    };
    p->overflow_limiter = (struct log_limiter)LOG_LIMITER_INIT(10000);
    p->malformed_limiter = (struct log_limiter)LOG_LIMITER_INIT(10000);
    p->exporter = exporter_new(loop, cfg, on_batch_done, p, err, errlen);
    if (!p->exporter && err[0]) {
        free(p);
        return NULL;
    }
    if (p->exporter) {
        p->ring = ring_new(cfg->buffer_max_bytes);
        p->batcher = p->ring ? batcher_new(loop, cfg, p->ring, p->exporter) : NULL;
        if (!p->batcher) {
            snprintf(err, errlen, "buffer.maxBytes: cannot allocate %zu bytes",
                     cfg->buffer_max_bytes);
            exporter_free(p->exporter);
            ring_free(p->ring);
            free(p);
            return NULL;
        }
        stats.buffer_capacity_bytes = ring_capacity(p->ring);
    } else {
        stats.exporter_state = STATS_EXPORTER_DISABLED;
        log_write(LOG_INFO, LOGGER, "exporter disabled: spans are accepted and dropped",
                  (struct log_field[]){ LOG_STR("reason", cfg->enabled ? "no otel.endpoint"
                                                                       : "otel.enabled is false") },
                  1);
    }
    return p;
}

static void count_walk(enum stats_transport t, const struct otlp_counts *c)
{
    stats.spans_received[t] += c->spans;
    for (int r = 0; r < STATS_REJECT_COUNT; r++)
        stats.spans_rejected[r] += c->invalid[r];
    stats.spans_sampled_out += c->sampled_out;
    for (int r = 0; r < STATS_RULE_COUNT; r++) {
        stats.sampler_kept[r] += c->kept_by_rule[r];
        stats.sampler_sampled_out[r] += c->sampled_out_by_rule[r];
    }
    stats.sampler_th_erased += c->th_erased;
    stats.sampler_tracestate_unchanged += c->tracestate_unchanged;
}

void pipeline_submit(struct pipeline *p, enum stats_transport transport, const uint8_t *body,
                     size_t len, struct pipeline_result *res)
{
    struct otlp_counts counts;
    uint8_t *out = NULL;
    size_t out_len = 0;
    memset(res, 0, sizeof(*res));
    memset(&counts, 0, sizeof(counts));

    if (otlp_rewrite(body, len, &p->opts, &out, &out_len, &counts, res->message,
                     sizeof(res->message)) < 0) {
        res->malformed = 1;
        log_write_limited(&p->malformed_limiter, LOG_WARNING, "spanrelay.receiver",
                          "rejected malformed export request",
                          (struct log_field[]){ LOG_STR("transport", stats_transport_name(transport)),
                                                LOG_STR("error", res->message) },
                          2);
        return;
    }
    count_walk(transport, &counts);
    res->rejected_spans = counts.invalid_total;
    if (counts.invalid_total)
        snprintf(res->message, sizeof(res->message), "%llu invalid spans dropped: %s",
                 (unsigned long long)counts.invalid_total,
                 counts.first_invalid ? counts.first_invalid : "invalid span");

    if (counts.kept > 0) {
        const uint8_t *rec = out ? out : body;
        size_t rec_len = out ? out_len : len;
        if (!p->exporter || p->draining) {
            stats.spans_export_failed += counts.kept;
        } else if (ring_push(p->ring, rec, rec_len, (uint32_t)counts.kept) < 0) {
            stats.spans_dropped_overflow += counts.kept;
            res->rejected_spans += counts.kept;
            size_t used = strlen(res->message);
            snprintf(res->message + used, sizeof(res->message) - used,
                     "%sbuffer full: %llu spans dropped (spanrelay buffer.maxBytes reached; the "
                     "backend is slow or down)",
                     used ? "; " : "", (unsigned long long)counts.kept);
            log_write_limited(&p->overflow_limiter, LOG_WARNING, LOGGER,
                              "buffer full, dropping newest spans",
                              (struct log_field[]){ LOG_INT("spans", counts.kept),
                                                    LOG_INT("buffer_bytes", ring_bytes(p->ring)) },
                              2);
        } else {
            stats.spans_buffered += counts.kept;
            stats.buffer_bytes = ring_bytes(p->ring);
            batcher_pushed(p->batcher);
        }
    }
    free(out);
}

static void on_batch_done(void *arg, const struct exporter_batch *batch, uint32_t exported,
                          uint32_t failed)
{
    struct pipeline *p = arg;
    stats.spans_in_flight -= batch->spans;
    stats.spans_exported += exported;
    stats.spans_export_failed += failed;
    if (p->draining)
        drain_check(p);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void close_drain_timer(struct pipeline *p)
{
    if (!p->drain_timer)
        return;
    uv_timer_stop(p->drain_timer);
    uv_close((uv_handle_t *)p->drain_timer, on_timer_closed);
    p->drain_timer = NULL;
}

static void drain_finish(struct pipeline *p)
{
    if (!p->drained)
        return;
    void (*done)(void *) = p->drained;
    p->drained = NULL;
    close_drain_timer(p);
    log_write(LOG_INFO, LOGGER, "drained",
              (struct log_field[]){ LOG_INT("exported", stats.spans_exported),
                                    LOG_INT("export_failed", stats.spans_export_failed) },
              2);
    done(p->drained_arg);
}

static void drain_check(struct pipeline *p)
{
    /* While the exporter is being freed its answers come from inside exporter_free();
     * finishing the drain then would free the pipeline under the caller's feet. */
    if (!p->drained || p->freeing_exporter)
        return;
    if (ring_records(p->ring) > 0)
        batcher_flush_all(p->batcher);
    if (ring_records(p->ring) == 0 && stats.spans_in_flight == 0)
        drain_finish(p);
}

/* Freeing the exporter answers every batch it holds as failed; the pipeline lets go of
 * it first so that nothing reached from those answers frees it twice. */
static void release_exporter(struct pipeline *p)
{
    struct exporter *e = p->exporter;
    if (!e)
        return;
    p->exporter = NULL;
    p->freeing_exporter = 1;
    exporter_free(e);
    p->freeing_exporter = 0;
}

/* What the deadline leaves in the ring is given up on and counted. */
static void drop_ring(struct pipeline *p)
{
    const uint8_t *data;
    size_t len;
    uint32_t spans;
    while (ring_peek(p->ring, &data, &len, &spans) == 0) {
        stats.spans_export_failed += spans;
        stats.spans_buffered -= spans;
        ring_pop(p->ring);
    }
    stats.buffer_bytes = ring_bytes(p->ring);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct pipeline *p = t->data;
    log_write(LOG_WARNING, LOGGER, "shutdown timeout reached, dropping what is left",
              (struct log_field[]){ LOG_INT("buffered", stats.spans_buffered),
                                    LOG_INT("in_flight", stats.spans_in_flight) },
              2);
    drop_ring(p);
    release_exporter(p);
    drain_finish(p);
}

void pipeline_drain(struct pipeline *p, uint64_t timeout_ms, void (*done)(void *), void *arg)
{
    p->draining = 1;
    p->drained = done;
    p->drained_arg = arg;
    if (!p->exporter) {
        drain_finish(p);
        return;
    }
    log_write(LOG_INFO, LOGGER, "draining buffer to the backend",
              (struct log_field[]){ LOG_INT("buffered", stats.spans_buffered),
                                    LOG_INT("timeout_ms", timeout_ms) },
              2);
    p->drain_timer = malloc(sizeof(*p->drain_timer));
    if (!p->drain_timer) {
        /* Without a timer the drain could not be bounded: give up at once instead. */
        drop_ring(p);
        release_exporter(p);
        drain_finish(p);
        return;
    }
    uv_timer_init(p->loop, p->drain_timer);
    p->drain_timer->data = p;
    uv_timer_start(p->drain_timer, on_drain_timeout, timeout_ms, 0);
    exporter_shutdown(p->exporter, uv_now(p->loop) + timeout_ms);
    drain_check(p);
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    close_drain_timer(p);
    if (p->ring)
        drop_ring(p);
    release_exporter(p);
    if (p->batcher)
        batcher_free(p->batcher);
    ring_free(p->ring);
    free(p);
}
