/* lane.h — one destination's whole export side (DESIGN.md decision 11): its bounded
 * ring, batcher, exporter (transport, connection, retry state) and its counters.
 *
 * A lane is built from an export_target alone. What is pushed into it lands in exactly
 * one of its terms of the accounting equation: dropped_overflow (ring full), buffered,
 * then in_flight, then exported or export_failed{reason}. A lane whose target is
 * disabled takes no memory and does no I/O: what it is given is export_failed
 * {reason="disabled"} at once (decision 8). One slow destination fills only its own
 * ring. */
#ifndef SPANRELAY_LANE_H
#define SPANRELAY_LANE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/stats.h"
#include "export/export_target.h"
#include "export/exporter_transport.h"

struct lane;

/* ops: the wire protocol; NULL picks it from target->protocol. The target is copied
 * (its strings stay borrowed). NULL with a message in err when the target cannot work
 * (bad URL, unreadable CA file, ring memory). */
struct lane *lane_new(uv_loop_t *loop, const struct export_target *target,
                      const struct exporter_transport_ops *ops, char *err, size_t errlen);

const struct export_target *lane_target(const struct lane *l);

/* Its counters, for /metrics and /health; valid until lane_free(). */
const struct stats_destination *lane_stats(const struct lane *l);

/* Spans of received requests that this destination's sampling did not keep. */
void lane_count_sampled_out(struct lane *l, uint64_t spans);

enum lane_push_result {
    LANE_PUSHED,          /* buffered */
    LANE_OVERFLOW,        /* the ring is full: dropped, counted dropped_overflow */
    LANE_NOT_EXPORTED,    /* disabled or draining: counted export_failed */
};

/* Copies one record (an encoded ExportTraceServiceRequest) holding spans spans. */
enum lane_push_result lane_push(struct lane *l, const uint8_t *rec, size_t len, uint32_t spans);

/* Writing a record in place, without lane_push's copy: lane_reserve() gives ring space
 * for a record of up to max bytes, or NULL when lane_push would not put it in the ring
 * now (ring full, disabled, draining): push it instead. lane_commit() then takes the
 * first len bytes written there as a record of spans spans, counted as lane_push counts
 * it. Nothing may be pushed into this lane in between. */
uint8_t *lane_reserve(struct lane *l, size_t max);
enum lane_push_result lane_commit(struct lane *l, size_t len, uint32_t spans);

/* Called with records a lane hands back: valid during the call only. */
typedef void (*lane_take_cb)(void *arg, const uint8_t *rec, size_t len, uint32_t spans);

/* From now on (take not NULL) the lane gives back what it holds instead of sending it
 * on: its ring at once, batches waiting for a retry at once, batches in flight when
 * their answer is retryable (exporter_hand_back). What it gives back leaves its
 * buffered and in_flight terms and no other. A lane keeps sending what it is pushed
 * after this (an empty request probes whether its backend answers). take NULL returns
 * to retrying. A draining lane keeps everything. take must not push into this lane. */
void lane_hand_back(struct lane *l, lane_take_cb take, void *arg);

/* Sends what the ring holds, retrying until timeout_ms from now; then what is left is
 * counted export_failed (shutdown, shutdown_in_flight) and done(arg) is called, once,
 * possibly before this returns. Nothing may be pushed after this (it would be counted
 * export_failed{shutdown}). */
void lane_drain(struct lane *l, uint64_t timeout_ms, void (*done)(void *), void *arg);

/* Frees the lane, drained or not (what it still holds is counted as at a drain
 * timeout); handles are closed on the loop. */
void lane_free(struct lane *l);

#endif
