/* sampler.h — ParentBased(TraceIdRatioBased(ratio)) as a pure function of the trace id.
 *
 * The ratio test is the OpenTelemetry Python SDK's: the low 64 bits of the trace id
 * (its last 8 bytes, big-endian) are compared with round(ratio * 2^64). Every span of
 * a trace gets the same answer in every sidecar and every SDK using the same ratio.
 * A child span is decided on the same trace id: with one ratio everywhere that is
 * exactly what inheriting its parent's decision gives, and it keeps a trace whole
 * even when an upstream SDK sampled at a higher ratio. */
#ifndef SPANRELAY_SAMPLER_H
#define SPANRELAY_SAMPLER_H

#include <stdint.h>

struct sampler {
    int keep_all;     /* ratio >= 1: round(ratio * 2^64) does not fit in 64 bits */
    uint64_t bound;   /* keep when low64(trace_id) < bound */
};

/* ratio is clamped to [0, 1]. */
void sampler_init(struct sampler *s, double ratio);

/* 1 to keep the span of this 16-byte trace id, 0 to drop it. */
int sampler_keep(const struct sampler *s, const uint8_t trace_id[16]);

#endif
