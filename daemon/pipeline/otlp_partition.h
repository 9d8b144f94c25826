/* otlp_partition.h — splits an encoded ExportTraceServiceRequest into one request per
 * bucket, by span, without decoding spans (DESIGN.md decision 2).
 *
 * Each span is handed to a classify callback that names its bucket; each bucket's
 * request holds that bucket's spans in their original order, each under a copy of the
 * ResourceSpans and ScopeSpans it came from (every field of them but the spans: the
 * resource, the scope, schema URLs, unknown fields), repeated wherever a bucket needs
 * them. Resources and scopes left without spans for a bucket are not written to it.
 * Span bytes are copied as they are.
 *
 * Uses: halving a batch a backend finds too large, splitting a record over a batch
 * limit, routing spans to gateways by trace id. */
#ifndef SPANRELAY_OTLP_PARTITION_H
#define SPANRELAY_OTLP_PARTITION_H

#include <stddef.h>
#include <stdint.h>

/* The bucket, below nbuckets, of one span: trace_id is the span's (16 zero bytes when
 * it has no 16-byte trace_id), span_index its position among all spans of the input
 * (from 0), span_bytes the size of its encoding in a request (tag and length
 * included), so that a caller can cut by size. */
typedef size_t (*otlp_partition_classify)(void *arg, const uint8_t trace_id[16],
                                          size_t span_index, size_t span_bytes);

/* One bucket's request: data is malloc'd (the caller frees it), NULL with len 0 when
 * the bucket got no span. */
struct otlp_partition_out {
    uint8_t *data;
    size_t len;
    uint32_t spans;
};

/* Partitions in[0..len) — a request, or several concatenated — into out[0..nbuckets).
 * Returns 0, or -1 with err naming the problem when the input does not parse
 * (truncated, bad tag, wire type or length), a bucket index is out of range, or memory
 * is short; out[] then holds nothing to free. Top-level fields other than
 * resource_spans are dropped (ExportTraceServiceRequest has no other). */
int otlp_partition(const uint8_t *in, size_t len, size_t nbuckets,
                   otlp_partition_classify classify, void *arg,
                   struct otlp_partition_out *out, char *err, size_t errlen);

/* The same for input the wire walk has already checked (otlp_rewrite's output, and the
 * records lanes hold): each span is read only as far as its trace_id, not parsed
 * whole again, which is most of the cost of a partition. A span that would not parse
 * is copied as it is. */
int otlp_partition_walked(const uint8_t *in, size_t len, size_t nbuckets,
                          otlp_partition_classify classify, void *arg,
                          struct otlp_partition_out *out, char *err, size_t errlen);

/* Frees out[0..nbuckets) and leaves them empty. */
void otlp_partition_free(struct otlp_partition_out *out, size_t nbuckets);

#endif
