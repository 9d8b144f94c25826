/* otlp.h — the OTLP protobuf wire walk (DESIGN.md decision 2).
 *
 * One pass over an encoded ExportTraceServiceRequest checks every tag, wire type and
 * length down to the leaves (AnyValue, events, links, status), finds the span
 * boundaries and ids, and produces the request the pipeline keeps: invalid and
 * sampled-out spans spliced out, scopes and resources left empty removed, resource
 * attributes appended, the tracestate of a span the consistent sampling rule keeps
 * rewritten in place. Spans are never decoded into structs or re-encoded: a rewritten
 * span is its own bytes with the one field, Span.trace_state, replaced. */
#ifndef SPANRELAY_OTLP_H
#define SPANRELAY_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "pipeline/sampler.h"
#include "base/stats.h"

/* What the walk found and what it did. */
struct otlp_counts {
    uint64_t spans;                           /* every span in the request */
    uint64_t invalid[STATS_REJECT_COUNT];     /* dropped as invalid, by reason */
    uint64_t invalid_total;
    uint64_t sampled_out;                     /* dropped by the sampler */
    uint64_t kept;                            /* spans in the output */
    /* With a sampler, by the rule that decided each valid span: */
    uint64_t kept_by_rule[STATS_RULE_COUNT];
    uint64_t sampled_out_by_rule[STATS_RULE_COUNT];
    uint64_t th_erased;                       /* inconsistent `th` found (sampler.h) */
    uint64_t tracestate_unchanged;            /* kept, `th` not written: W3C limits */
    const char *first_invalid;                /* static text of the first invalid span's
                                                 problem ("trace_id must be 16 bytes"), or NULL */
};

/* What the walk changes. */
struct otlp_rewrite_opts {
    const struct sampler *sampler;            /* NULL: keep every valid span, as it is.
                                                 Walking a kept output again with a lower
                                                 ratio's sampler equalizes once more. */
    const char *service_name;                 /* added as service.name where absent; NULL: no */
    const struct config_kv *attrs;            /* added where the resource lacks the key */
    size_t attrs_count;
};

/* Validates in[0..len) and writes the kept request.
 * Returns 0 on success: *out is a malloc'd buffer of *out_len bytes the caller frees,
 * or NULL when the input is to be kept unchanged (nothing removed, added or rewritten);
 * *out_len is 0 and counts.kept == 0 when nothing is left. With *out NULL the result
 * is always in[0..*out_len): the whole input, or nothing.
 * ScopeSpans and ResourceSpans without a kept span are left out of the result.
 * Attributes are added as string values, never overwriting: service.name first, then
 * opts->attrs in order; a key given twice is added once, the first time.
 * opts may be NULL: keep every valid span, add nothing.
 * Returns -1 when the request is structurally malformed (bad tag, wire type, length,
 * invalid UTF-8 in a string field, values nested too deep): nothing is output, counts
 * are all zero, err holds a message naming the problem and where
 * ("resource_spans[2].scope_spans[0].spans[5]: field 9 length 400 runs past the end
 * of the message"). */
int otlp_rewrite(const uint8_t *in, size_t len, const struct otlp_rewrite_opts *opts,
                 uint8_t **out, size_t *out_len, struct otlp_counts *counts,
                 char *err, size_t errlen);

/* otlp_rewrite(), writing the output into room[0..room_cap) (when room is not NULL)
 * rather than into memory of its own, as long as it fits there: *out is then room, which
 * the caller does not free; an output that outgrows the room moves to a malloc'd buffer
 * (*out is not room). The bytes of room past *out_len, and all of it when *out is not
 * room, are left in no particular state. */
int otlp_rewrite_into(const uint8_t *in, size_t len, const struct otlp_rewrite_opts *opts,
                      uint8_t *room, size_t room_cap, uint8_t **out, size_t *out_len,
                      struct otlp_counts *counts, char *err, size_t errlen);

/* The room in which the output of a request of len bytes with one ResourceSpans fits
 * unless sampling adds `th` to tracestates; more ResourceSpans may need more. */
size_t otlp_rewrite_room(size_t len, const struct otlp_rewrite_opts *opts);

/* Protobuf varints, for the other files that write the wire format: how many bytes v
 * takes, and writing it at p (room for otlp_varint_size(v) bytes), returning that count. */
size_t otlp_varint_size(uint64_t v);
size_t otlp_varint_put(uint8_t *p, uint64_t v);

/* One protobuf field as otlp_field_next reads it: its number, its wire type (0 varint,
 * 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit), and for a length-delimited field
 * its bytes. */
#define OTLP_WIRE_LEN 2
struct otlp_field {
    uint32_t number;
    uint32_t wire_type;
    const uint8_t *value;
    uint64_t len;
};

/* Reads the field at *pp, before end, by the rules of the walk above (tags and lengths
 * of at most five bytes, no groups) and moves *pp past it: 0, or -1 when it does not
 * parse. For the files that pick fields out of requests (otlp_partition.c). */
int otlp_field_next(const uint8_t **pp, const uint8_t *end, struct otlp_field *f);

/* Counts the spans of a request that is known to be valid (e.g. ring records). */
uint64_t otlp_count_spans(const uint8_t *in, size_t len);

#endif
