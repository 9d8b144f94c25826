/* pipeline.h — from a received request to the export lanes: walk, sample, enrich, and
 * fan out to every destination (DESIGN.md data flow).
 *
 * The receivers hand every request body to pipeline_submit(), which answers at once
 * (decision 3): the request is walked and rewritten (otlp.h) with the primary's
 * sampling ratio, and its kept spans pushed into every lane whose own ratio keeps them
 * (lane.h), or into the gateway lanes of a destination that is a fleet (loadBalance:
 * shard.h, each span to its trace's owner). A lane whose ring is full drops there only,
 * and counts it. */
#ifndef SPANRELAY_PIPELINE_H
#define SPANRELAY_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/config.h"
#include "base/stats.h"

struct pipeline;

/* What the receiver tells its client. */
struct pipeline_result {
    int malformed;              /* the request was rejected whole (INVALID_ARGUMENT / 400) */
    uint64_t rejected_spans;    /* partial_success.rejected_spans: invalid + overflow */
    char message[256];          /* why: the error, or partial_success.error_message; "" if none */
};

/* One lane per export target of cfg (export_target_list), the primary first; a lane
 * group (shard.h) for a target with loadBalance. */
struct pipeline *pipeline_new(uv_loop_t *loop, const struct config *cfg, char *err, size_t errlen);

/* Takes a protobuf ExportTraceServiceRequest; the body is not kept past the call. */
void pipeline_submit(struct pipeline *p, enum stats_transport transport, const uint8_t *body,
                     size_t len, struct pipeline_result *res);

/* Every destination's counters, the primary first (a fleet's as a whole, its gateways
 * under load_balance); returns how many (at most max). */
size_t pipeline_destinations(const struct pipeline *p, const struct stats_destination **out,
                             size_t max);

/* Drains every lane within timeout_ms (lane_drain, shard_drain), then calls done(arg). Nothing may
 * be submitted after this. */
void pipeline_drain(struct pipeline *p, uint64_t timeout_ms, void (*done)(void *), void *arg);

/* Frees the pipeline once drained (or never started). */
void pipeline_free(struct pipeline *p);

#endif
