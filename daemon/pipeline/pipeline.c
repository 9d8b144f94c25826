/* pipeline.c — the path from a receiver to the export lanes (see pipeline.h).
 *
 * Every span of a request that parsed is counted once as received and then, for each
 * destination, lands in exactly one term of its accounting equation: rejected (invalid
 * ids, shared by all), sampled_out (by the primary's ratio, or by the destination's
 * lower one), or whatever the lane makes of it (lane.h). */
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "export/export_target.h"
#include "export/lane.h"
#include "export/shard.h"
#include "pipeline/otlp.h"
#include "pipeline/sampler.h"

#define LOGGER "spanrelay.pipeline"
#define PIPELINE_MAX_LANES 16

/* One destination: a lane, or a fleet of them (shard.h) when it has loadBalance. */
struct pipeline_lane {
    struct lane *lane;
    struct shard *shard;
    struct sampler sampler;        /* the destination's own ratio */
    int resample;                  /* its ratio is below the primary's: walk again */
};

struct pipeline {
    uv_loop_t *loop;
    const struct config *cfg;
    struct sampler sampler;
    struct otlp_rewrite_opts opts;
    struct pipeline_lane lanes[PIPELINE_MAX_LANES];
    size_t lane_count;
    struct log_limiter malformed_limiter;
    int draining;
    size_t lanes_draining;
    void (*drained)(void *);
    void *drained_arg;
};

struct pipeline *pipeline_new(uv_loop_t *loop, const struct config *cfg, char *err, size_t errlen)
{
    struct export_target targets[PIPELINE_MAX_LANES];
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
    p->malformed_limiter = (struct log_limiter)LOG_LIMITER_INIT(10000);
    size_t n = export_target_list(cfg, targets, PIPELINE_MAX_LANES);
    for (size_t i = 0; i < n; i++) {
        struct pipeline_lane *pl = &p->lanes[i];
        if (export_target_is_sharded(&targets[i]))
            pl->shard = shard_new(loop, &targets[i], NULL, err, errlen);
        else
            pl->lane = lane_new(loop, &targets[i], NULL, err, errlen);
        if (!pl->lane && !pl->shard) {
            pipeline_free(p);
            return NULL;
        }
        p->lane_count++;
        sampler_init(&pl->sampler, targets[i].sampling_ratio, cfg->sampler_rule);
        pl->resample = i > 0 && targets[i].sampling_ratio < cfg->sampling_ratio;
    }
    return p;
}

static void dest_count_sampled_out(struct pipeline_lane *pl, uint64_t spans)
{
    if (pl->shard)
        shard_count_sampled_out(pl->shard, spans);
    else
        lane_count_sampled_out(pl->lane, spans);
}

/* Spans dropped for a full ring, 0 when all were taken. */
static uint32_t dest_push(struct pipeline_lane *pl, const uint8_t *rec, size_t len,
                          uint32_t spans)
{
    uint32_t dropped = 0;
    if (pl->shard)
        shard_push(pl->shard, rec, len, spans, &dropped);
    else if (lane_push(pl->lane, rec, len, spans) == LANE_OVERFLOW)
        dropped = spans;
    return dropped;
}

static void count_walk(enum stats_transport t, const struct otlp_counts *c)
{
    stats.spans_received[t] += c->spans;
    for (int r = 0; r < STATS_REJECT_COUNT; r++)
        stats.spans_rejected[r] += c->invalid[r];
    for (int r = 0; r < STATS_RULE_COUNT; r++) {
        stats.sampler_kept[r] += c->kept_by_rule[r];
        stats.sampler_sampled_out[r] += c->sampled_out_by_rule[r];
    }
    stats.sampler_th_erased += c->th_erased;
    stats.sampler_tracestate_unchanged += c->tracestate_unchanged;
}

/* The primary's kept record, walked again with only the lane's sampler: a lower ratio
 * keeps a subset of the traces the primary keeps. */
static void push_resampled(struct pipeline_lane *pl, const uint8_t *rec, size_t len,
                           uint64_t sampled_out)
{
    struct otlp_rewrite_opts opts = { .sampler = &pl->sampler };
    struct otlp_counts counts;
    uint8_t *out = NULL;
    size_t out_len = 0;
    char err[128];
    memset(&counts, 0, sizeof(counts));
    if (otlp_rewrite(rec, len, &opts, &out, &out_len, &counts, err, sizeof(err)) < 0) {
        /* The primary's own output always walks; should it not, nothing is lost from
         * the books: the lane counts it as not kept. */
        dest_count_sampled_out(pl, sampled_out + otlp_count_spans(rec, len));
        return;
    }
    dest_count_sampled_out(pl, sampled_out + counts.sampled_out);
    if (counts.kept > 0)
        dest_push(pl, out ? out : rec, out ? out_len : len, (uint32_t)counts.kept);
    free(out);
}

/* Pushes the kept record on every lane; the client hears of the primary's overflow.
 * in_place: rec was written in the ring space the primary lane reserved, and is
 * committed there, after the other lanes have copied it. */
static void fan_out(struct pipeline *p, const uint8_t *rec, size_t len, int in_place,
                    const struct otlp_counts *counts, struct pipeline_result *res)
{
    for (size_t i = 0; i < p->lane_count; i++) {
        struct pipeline_lane *pl = &p->lanes[i];
        if (counts->kept == 0) {
            dest_count_sampled_out(pl, counts->sampled_out);
            continue;
        }
        if (pl->resample) {
            push_resampled(pl, rec, len, counts->sampled_out);
            continue;
        }
        dest_count_sampled_out(pl, counts->sampled_out);
        if (i == 0 && in_place)
            continue;
        uint32_t dropped = dest_push(pl, rec, len, (uint32_t)counts->kept);
        if (dropped > 0 && i == 0) {
            res->rejected_spans += dropped;
            size_t used = strlen(res->message);
            snprintf(res->message + used, sizeof(res->message) - used,
                     "%sbuffer full: %llu spans dropped (spanrelay buffer.maxBytes reached; the "
                     "backend is slow or down)",
                     used ? "; " : "", (unsigned long long)dropped);
        }
    }
    if (in_place && counts->kept > 0)
        lane_commit(p->lanes[0].lane, len, (uint32_t)counts->kept);
}

/* Ring space of the primary destination for the walk's output, when it is one lane (a
 * sharded one splits every request by trace id). */
static uint8_t *reserve_primary(struct pipeline *p, size_t room_cap)
{
    if (p->lane_count == 0 || p->lanes[0].shard || !p->lanes[0].lane)
        return NULL;
    return lane_reserve(p->lanes[0].lane, room_cap);
}

void pipeline_submit(struct pipeline *p, enum stats_transport transport, const uint8_t *body,
                     size_t len, struct pipeline_result *res)
{
    struct otlp_counts counts;
    uint8_t *out = NULL;
    size_t out_len = 0;
    memset(res, 0, sizeof(*res));
    memset(&counts, 0, sizeof(counts));

    /* A request the walk rewrites (enrichment, sampling) is written straight into the
     * primary lane's ring, when there is room: no buffer of its own, and no copy. */
    size_t room_cap = otlp_rewrite_room(len, &p->opts);
    uint8_t *room = reserve_primary(p, room_cap);
    if (otlp_rewrite_into(body, len, &p->opts, room, room_cap, &out, &out_len, &counts,
                          res->message, sizeof(res->message)) < 0) {
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
    int in_place = out != NULL && out == room;
    fan_out(p, out ? out : body, out ? out_len : len, in_place, &counts, res);
    if (!in_place)
        free(out);
}

size_t pipeline_destinations(const struct pipeline *p, const struct stats_destination **out,
                             size_t max)
{
    size_t n = 0;
    for (; n < p->lane_count && n < max; n++)
        out[n] = p->lanes[n].shard ? shard_stats(p->lanes[n].shard)
                                   : lane_stats(p->lanes[n].lane);
    return n;
}

static void on_lane_drained(void *arg)
{
    struct pipeline *p = arg;
    if (--p->lanes_draining > 0 || !p->drained)
        return;
    void (*done)(void *) = p->drained;
    p->drained = NULL;
    done(p->drained_arg);
}

void pipeline_drain(struct pipeline *p, uint64_t timeout_ms, void (*done)(void *), void *arg)
{
    p->draining = 1;
    p->drained = done;
    p->drained_arg = arg;
    /* One more than the lanes, released below, so that a lane finishing at once does
     * not end the drain before the others have started theirs. */
    p->lanes_draining = p->lane_count + 1;
    for (size_t i = 0; i < p->lane_count; i++) {
        if (p->lanes[i].shard)
            shard_drain(p->lanes[i].shard, timeout_ms, on_lane_drained, p);
        else
            lane_drain(p->lanes[i].lane, timeout_ms, on_lane_drained, p);
    }
    on_lane_drained(p);
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->lane_count; i++) {
        shard_free(p->lanes[i].shard);
        lane_free(p->lanes[i].lane);
    }
    free(p);
}
