/* exporter.h — sends batches to the backend: OTLP/gRPC (exporter_grpc.c) or
 * OTLP/HTTP protobuf (exporter_http.c), with retries (retry.h), on the one loop.
 *
 * Contract with the batcher: it asks exporter_can_send() and, when true, hands over a
 * batch with exporter_send(); the exporter owns the batch from then on and calls the
 * done callback exactly once per batch, when the batch is finished for good: accepted
 * (wholly or partly) by the backend, or given up on (non-retryable answer, retries
 * exhausted past exporter.retry.maxElapsedTime, shutdown). Retrying in between is the
 * exporter's business. A batch over the target's maxBatchSpans or maxBatchBytes is
 * split before it is sent (batch_split.h); the done callback is then called once per
 * piece instead, with the piece, and the pieces' spans add up to the batch's. Nothing the backend does blocks the loop or touches ingest.
 * Log lines are WARNING at most, logger "otel.exporter", rate-limited, with the
 * destination's name; header values never appear in them nor in last_error.
 *
 * The exporter is built from an export_target and the transport's callbacks (ops), so
 * its policy runs the same against a real wire protocol or a test's fake. It writes
 * the exporter part of its destination's counters (struct stats_lane_exporter) and
 * nothing else. */
#ifndef SPANRELAY_EXPORTER_H
#define SPANRELAY_EXPORTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/stats.h"
#include "export/export_target.h"

/* A request body ready to send: concatenated ExportTraceServiceRequest records. */
struct exporter_batch {
    uint8_t *data;           /* malloc'd; freed by the exporter after done */
    size_t len;
    uint32_t spans;
    uint64_t first_try_ms;   /* loop time of the first attempt, for maxElapsedTime */
    int attempts;
    struct exporter_batch *next; /* the exporter's own queue link */
};

/* exported: spans the backend accepted; failed: spans given up on (including the
 * rejected_spans of a partial success), for reason. exported + failed == batch->spans.
 * The callback does not free the batch. */
typedef void (*exporter_done_cb)(void *arg, const struct exporter_batch *batch,
                                 uint32_t exported, uint32_t failed,
                                 enum stats_fail_reason reason);

struct exporter;
struct exporter_transport_ops;

/* NULL with a message in err when the target cannot work (bad URL, unreadable CA file).
 * ops is the wire protocol (exporter_grpc_ops, exporter_http_ops, or a test's fake);
 * st is where the exporter keeps its state and counters, owned by the caller and
 * valid until the exporter is freed. */
struct exporter *exporter_new(uv_loop_t *loop, const struct export_target *target,
                              const struct exporter_transport_ops *ops,
                              struct stats_lane_exporter *st, exporter_done_cb done, void *arg,
                              char *err, size_t errlen);

/* 1 while another batch may be handed over (in-flight bound not reached). */
int exporter_can_send(const struct exporter *e);

/* Takes ownership of batch. */
void exporter_send(struct exporter *e, struct exporter_batch *batch);

/* Called by the exporter when exporter_can_send() may have become true again. */
typedef void (*exporter_ready_cb)(void *arg);
void exporter_set_ready_cb(struct exporter *e, exporter_ready_cb cb, void *arg);

/* Called with a batch handed back (exporter_hand_back): data and len are the plain
 * records, valid during the call; done is not called for the batch. */
typedef void (*exporter_give_cb)(void *arg, const struct exporter_batch *batch);

/* From now on (give not NULL) batches are handed back instead of retried: those waiting
 * for a retry at once, those in flight when their answer is retryable. A sharded
 * destination moves a gateway's batches to another this way (shard.h). The plain body
 * must have been kept (target->keep_plain_body) when the target compresses. give NULL
 * returns to retrying. Shutdown takes precedence: a draining exporter retries to its
 * deadline. */
void exporter_hand_back(struct exporter *e, exporter_give_cb give, void *arg);

/* Shutdown: batches waiting for a retry are tried now, and from then on every
 * retryable failure is retried (backoff capped at retry.maxInterval, retry.maxElapsedTime
 * no longer applies) until deadline_ms (loop time); what is still held then is given up
 * by exporter_free(). */
void exporter_shutdown(struct exporter *e, uint64_t deadline_ms);

/* Gives up on everything still held (done called for each: in flight as
 * shutdown_in_flight, waiting to retry as shutdown), closes connections, and frees the
 * exporter once libuv has closed its handles. */
void exporter_free(struct exporter *e);

#endif
