/* batcher.h — turns ring records into export requests.
 *
 * Records are concatenated as they are (protobuf repeated fields concatenate, so the
 * joined records are one valid ExportTraceServiceRequest) until exporter.maxBatchBytes
 * or exporter.maxBatchSpans would be passed, or when exporter.batchTimeout has passed
 * since the oldest record waiting. A single record larger than the limits is sent on
 * its own. The exporter decides how many batches may be out at once. */
#ifndef SPANRELAY_BATCHER_H
#define SPANRELAY_BATCHER_H

#include <uv.h>

#include "base/config.h"
#include "export/exporter.h"
#include "export/ring.h"

struct batcher;

struct batcher *batcher_new(uv_loop_t *loop, const struct config *cfg, struct ring *ring,
                            struct exporter *exporter);

/* A record was pushed: send full batches now, arm the timer for the rest. */
void batcher_pushed(struct batcher *b);

/* Sends everything the ring holds as fast as the exporter takes it (shutdown drain). */
void batcher_flush_all(struct batcher *b);

/* Stops the timer and frees the batcher once libuv has closed it. */
void batcher_free(struct batcher *b);

#endif
