/* sampler.h — the sampling decision for one span: a pure function of its trace id and
 * its tracestate, under one of two rules (DESIGN.md decisions 6 and 12).
 *
 * The Python rule is the OpenTelemetry Python SDK's ParentBased(TraceIdRatioBased): the
 * low 64 bits of the trace id (its last 8 bytes, big-endian) are compared with
 * round(ratio * 2^64). The tracestate is neither read nor written.
 *
 * The consistent rule is OpenTelemetry's consistent probability sampling, as an
 * equalizing downstream stage: the randomness R is the tracestate's `ot` entry's `rv`,
 * else the low 56 bits of the trace id; the stage threshold T is the ratio's, at four hex
 * digits of precision (more when the incoming `th` has more); the span is kept when
 * R >= max(th, T). A kept span leaves with `th` = max(th, T): raised, never lowered, `rv`
 * untouched. An incoming `th` above R cannot have been honoured upstream: it is erased
 * (counted), and the span is decided and marked as if it had come without one. A span
 * without `th` counts as kept with certainty upstream, which is what an application that
 * sends everything does.
 *
 * Which rule a span follows: `python` and `consistent` say so for every span; `auto`
 * takes the consistent rule for a span whose `ot` entry carries a valid `th` or `rv`,
 * the Python rule for any other. Tracestate travels with the context, so every span of
 * a trace follows one rule in every sidecar, SDK and process, and each rule gives every
 * span of a trace the same answer: a trace stays whole. Running a second sampler with a
 * lower ratio over what a first one kept raises `th` again: the second stage's answer.
 *
 * The decision is the same for every span of a trace in every sidecar using the same
 * ratio and rule; a child span is decided on the same inputs as its root, which is what
 * ParentBased gives with one ratio everywhere. */
#ifndef SPANRELAY_SAMPLER_H
#define SPANRELAY_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/stats.h"
#include "pipeline/tracestate.h"

struct sampler {
    enum config_sampler_rule rule;
    int keep_all;     /* Python rule, ratio >= 1: round(ratio * 2^64) does not fit */
    uint64_t bound;   /* Python rule: keep when low64(trace_id) < bound */
    /* Consistent rule: the stage threshold at each precision from 4 to 14 hex digits
     * (indices below 4 hold the 4-digit value). */
    uint64_t threshold[TRACESTATE_HEX_DIGITS + 1];
};

/* What the sampler decided for one span. */
struct sampler_decision {
    int keep;
    enum stats_sampler_rule rule;   /* the rule that decided */
    int th_inconsistent;            /* the incoming `th` exceeded R and was erased */
    int too_long;                   /* the new tracestate would break the W3C limits:
                                       the span is kept with its tracestate unchanged */
    int rewrite;                    /* keep, and trace_state[0..trace_state_len) replaces
                                       the span's tracestate */
    size_t trace_state_len;
    char trace_state[TRACESTATE_MAX_LEN];
};

/* ratio is clamped to [0, 1]: 1 keeps every span (under the consistent rule, a span with
 * an incoming `th` is still checked and keeps it), 0 none. */
void sampler_init(struct sampler *s, double ratio, enum config_sampler_rule rule);

/* Decides for the span with this 16-byte trace id and tracestate ts[0..len) (UTF-8,
 * possibly empty). Fills *d; d->trace_state is only written when d->rewrite is set. */
void sampler_decide(const struct sampler *s, const uint8_t trace_id[16], const char *ts,
                    size_t len, struct sampler_decision *d);

/* The Python rule alone: 1 to keep a span of this trace id, 0 to drop it. */
int sampler_keep(const struct sampler *s, const uint8_t trace_id[16]);

#endif
