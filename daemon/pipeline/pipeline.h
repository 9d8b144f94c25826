/* pipeline.h — from a received request to the exporter: walk, sample, enrich, buffer,
 * batch (DESIGN.md data flow).
 *
 * The receivers hand every request body to pipeline_submit(), which answers at once
 * (decision 3): the request is walked and rewritten (otlp.h), its kept spans pushed
 * into the ring or, when the ring is full, dropped and reported back. The batcher
 * drains the ring into the exporter on size or time. */
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

struct pipeline *pipeline_new(uv_loop_t *loop, const struct config *cfg, char *err, size_t errlen);

/* Takes a protobuf ExportTraceServiceRequest; the body is not kept past the call. */
void pipeline_submit(struct pipeline *p, enum stats_transport transport, const uint8_t *body,
                     size_t len, struct pipeline_result *res);

/* Sends what the ring holds within timeout_ms, counts the rest as export_failed, then
 * calls done(arg). Nothing may be submitted after this. */
void pipeline_drain(struct pipeline *p, uint64_t timeout_ms, void (*done)(void *), void *arg);

/* Frees the pipeline once drained (or never started). */
void pipeline_free(struct pipeline *p);

#endif
