/* batcher.h — turns ring records into export requests.
 *
 * Records are concatenated as they are (protobuf repeated fields concatenate, so the
 * joined records are one valid ExportTraceServiceRequest) until the target's
 * maxBatchBytes or maxBatchSpans would be passed, or when its batchTimeout has passed
 * since the oldest record waiting. A single record larger than the limits is handed
 * over on its own (the exporter splits it). Whoever sends (the lane) decides how many batches may be out at once: the
 * batcher asks can_send() before each batch and hands it to send(). */
#ifndef SPANRELAY_BATCHER_H
#define SPANRELAY_BATCHER_H

#include <uv.h>

#include "export/export_target.h"
#include "export/exporter.h"
#include "export/ring.h"

struct batcher;

struct batcher_sink {
    int (*can_send)(void *arg);
    /* Takes ownership of batch; the ring has already let go of its records. */
    void (*send)(void *arg, struct exporter_batch *batch);
    void *arg;
};

struct batcher *batcher_new(uv_loop_t *loop, const struct export_target *target,
                            struct ring *ring, struct batcher_sink sink);

/* A record was pushed: send full batches now, arm the timer for the rest. */
void batcher_pushed(struct batcher *b);

/* The sink may take more (can_send() may have become true again). */
void batcher_ready(struct batcher *b);

/* Caps batches at max_bytes, the size the destination's backend was found to accept,
 * when that is below the target's maxBatchBytes; 0 returns to maxBatchBytes. */
void batcher_limit_bytes(struct batcher *b, size_t max_bytes);

/* Sends everything the ring holds as fast as the sink takes it (shutdown drain). */
void batcher_flush_all(struct batcher *b);

/* Stops the timer and frees the batcher once libuv has closed it. */
void batcher_free(struct batcher *b);

#endif
