/* batch_split.h — cuts an export batch into smaller ones at resource, scope and span
 * boundaries, with the wire walk's partition (pipeline/otlp_partition.h): a record
 * over the batch limits before it is sent, a batch the backend found too large in
 * halves.
 *
 * Pieces keep the spans in their order, each under a copy of its resource and scope,
 * and their span counts add up to the batch's. They are new batches (plain bodies,
 * first_try_ms carried over, no attempt yet) linked through ->next; the batch itself
 * is left as it is. */
#ifndef SPANRELAY_BATCH_SPLIT_H
#define SPANRELAY_BATCH_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "export/exporter.h"

/* Pieces of at most max_spans spans and max_bytes bytes each; a span too large for
 * max_bytes goes alone. plain is the batch's plain body, b->len bytes (b->data may be
 * gone when the batch was compressed). Returns the first piece, or NULL with err set
 * when the body does not parse, holds another number of spans than b->spans, or
 * memory is short. */
struct exporter_batch *batch_split_limits(const struct exporter_batch *b, const uint8_t *plain,
                                          size_t max_spans, size_t max_bytes, char *err,
                                          size_t errlen);

/* Two pieces of about half the bytes each; b must hold two spans or more. NULL with err
 * set as for batch_split_limits(). */
struct exporter_batch *batch_split_halves(const struct exporter_batch *b, const uint8_t *plain,
                                          char *err, size_t errlen);

/* Frees a list of pieces. */
void batch_split_free(struct exporter_batch *pieces);

#endif
