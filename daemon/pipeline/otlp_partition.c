/* otlp_partition.c — one request per bucket from the spans of a request (see
 * otlp_partition.h). One ResourceSpans at a time: its spans are classified, then each
 * bucket that got any is written its copy of the resource and scope headers and its
 * spans, with lengths computed before writing. */
#include "pipeline/otlp_partition.h"
#include "pipeline/otlp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_RESOURCE_SPANS 1   /* ExportTraceServiceRequest */
#define FIELD_SCOPE_SPANS 2      /* ResourceSpans */
#define FIELD_SPANS 2            /* ScopeSpans */
#define FIELD_TRACE_ID 1         /* Span */

/* One field as found: where it starts (its tag), where a length-delimited value starts,
 * and where it ends. */
struct field {
    uint32_t number;
    uint32_t wire_type;
    const uint8_t *start;
    const uint8_t *value;
    const uint8_t *end;
};

struct span_ref {
    const uint8_t *start;        /* the whole field: tag, length, message */
    size_t size;
    size_t bucket;
};

struct scope_ref {
    const uint8_t *value;        /* the ScopeSpans message */
    const uint8_t *end;
    size_t first_span;
    size_t span_count;
};

struct part {
    const uint8_t *in;
    size_t nbuckets;
    otlp_partition_classify classify;
    void *arg;
    struct otlp_partition_out *out;
    size_t *caps;
    size_t span_index;
    struct span_ref *spans;
    size_t spans_len, spans_cap;
    struct scope_ref *scopes;
    size_t scopes_len, scopes_cap;
    int trusted;                 /* spans already walked: not parsed again */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct part *pt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pt->err, pt->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads the field at *pp; 0, or -1 when it does not parse within end. */
static int next_field(const uint8_t **pp, const uint8_t *end, struct field *f)
{
    struct otlp_field of;
    f->start = *pp;
    if (otlp_field_next(pp, end, &of) < 0)
        return -1;
    f->number = of.number;
    f->wire_type = of.wire_type;
    f->value = of.value;
    f->end = *pp;
    return 0;
}

/* The size of a length-delimited field holding len bytes. */
static size_t len_field_size(uint32_t number, size_t len)
{
    return otlp_varint_size((uint64_t)number << 3 | OTLP_WIRE_LEN) + otlp_varint_size(len) + len;
}

static int grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*items, n * size);
    if (!p)
        return -1;
    *items = p;
    *cap = n;
    return 0;
}

static int out_reserve(struct part *pt, size_t b, size_t more)
{
    struct otlp_partition_out *o = &pt->out[b];
    void *data = o->data;
    if (grow(&data, &pt->caps[b], o->len + more, 1) < 0)
        return fail(pt, "out of memory");
    o->data = data;
    return 0;
}

static void out_put(struct otlp_partition_out *o, const void *p, size_t n)
{
    memcpy(o->data + o->len, p, n);
    o->len += n;
}

static void out_varint(struct otlp_partition_out *o, uint64_t v)
{
    o->len += otlp_varint_put(o->data + o->len, v);
}

static void out_len_header(struct otlp_partition_out *o, uint32_t number, size_t len)
{
    out_varint(o, (uint64_t)number << 3 | OTLP_WIRE_LEN);
    out_varint(o, len);
}

/* Bytes of msg[0..end) that are not field skip_number (the headers); -1 if malformed
 * (cannot happen after a first successful walk). */
static size_t header_bytes(const uint8_t *p, const uint8_t *end, uint32_t skip_number)
{
    size_t n = 0;
    struct field f;
    while (p < end && next_field(&p, end, &f) == 0)
        if (!(f.number == skip_number && f.wire_type == OTLP_WIRE_LEN))
            n += (size_t)(f.end - f.start);
    return n;
}

static void copy_headers(struct otlp_partition_out *o, const uint8_t *p, const uint8_t *end,
                         uint32_t skip_number)
{
    struct field f;
    while (p < end && next_field(&p, end, &f) == 0)
        if (!(f.number == skip_number && f.wire_type == OTLP_WIRE_LEN))
            out_put(o, f.start, (size_t)(f.end - f.start));
}

static void span_trace_id(const uint8_t *p, const uint8_t *end, uint8_t id[16])
{
    struct field f;
    memset(id, 0, 16);
    while (p < end && next_field(&p, end, &f) == 0) {
        if (f.number == FIELD_TRACE_ID && f.wire_type == OTLP_WIRE_LEN && f.end - f.value == 16) {
            memcpy(id, f.value, 16);
            return;
        }
    }
}

/* Records one ScopeSpans's spans and classifies them. */
static int walk_scope(struct part *pt, const uint8_t *p, const uint8_t *end)
{
    void *items = pt->scopes;
    if (grow(&items, &pt->scopes_cap, pt->scopes_len + 1, sizeof(*pt->scopes)) < 0)
        return fail(pt, "out of memory");
    pt->scopes = items;
    struct scope_ref *sc = &pt->scopes[pt->scopes_len++];
    *sc = (struct scope_ref){ p, end, pt->spans_len, 0 };
    struct field f;
    while (p < end) {
        if (next_field(&p, end, &f) < 0)
            return fail(pt, "scope_spans: malformed field at byte %zu", (size_t)(f.start - pt->in));
        if (f.number != FIELD_SPANS || f.wire_type != OTLP_WIRE_LEN)
            continue;
        /* A span must itself parse: its trace id is read from it. */
        const uint8_t *q = f.value;
        struct field g;
        while (!pt->trusted && q < f.end)
            if (next_field(&q, f.end, &g) < 0)
                return fail(pt, "span %zu: malformed field at byte %zu", pt->span_index,
                            (size_t)(g.start - pt->in));
        uint8_t id[16];
        span_trace_id(f.value, f.end, id);
        size_t size = (size_t)(f.end - f.start);
        size_t b = pt->classify(pt->arg, id, pt->span_index, size);
        if (b >= pt->nbuckets)
            return fail(pt, "span %zu: bucket %zu out of %zu", pt->span_index, b, pt->nbuckets);
        items = pt->spans;
        if (grow(&items, &pt->spans_cap, pt->spans_len + 1, sizeof(*pt->spans)) < 0)
            return fail(pt, "out of memory");
        pt->spans = items;
        pt->spans[pt->spans_len++] = (struct span_ref){ f.start, size, b };
        sc->span_count++;
        pt->span_index++;
    }
    return 0;
}

/* The size of scope sc's message for bucket b, or 0 when it has no span there. */
static size_t scope_size(const struct part *pt, const struct scope_ref *sc, size_t b)
{
    size_t spans = 0;
    int any = 0;
    for (size_t i = sc->first_span; i < sc->first_span + sc->span_count; i++) {
        if (pt->spans[i].bucket == b) {
            spans += pt->spans[i].size;
            any = 1;
        }
    }
    return any ? header_bytes(sc->value, sc->end, FIELD_SPANS) + spans : 0;
}

/* Writes one ResourceSpans's share to bucket b. */
static int write_resource(struct part *pt, const uint8_t *rs, const uint8_t *rs_end, size_t b)
{
    size_t body = 0;
    for (size_t s = 0; s < pt->scopes_len; s++) {
        size_t n = scope_size(pt, &pt->scopes[s], b);
        if (n)
            body += len_field_size(FIELD_SCOPE_SPANS, n);
    }
    if (body == 0)
        return 0;
    body += header_bytes(rs, rs_end, FIELD_SCOPE_SPANS);
    if (out_reserve(pt, b, len_field_size(FIELD_RESOURCE_SPANS, body)) < 0)
        return -1;
    struct otlp_partition_out *o = &pt->out[b];
    out_len_header(o, FIELD_RESOURCE_SPANS, body);
    copy_headers(o, rs, rs_end, FIELD_SCOPE_SPANS);
    for (size_t s = 0; s < pt->scopes_len; s++) {
        const struct scope_ref *sc = &pt->scopes[s];
        size_t n = scope_size(pt, sc, b);
        if (!n)
            continue;
        out_len_header(o, FIELD_SCOPE_SPANS, n);
        copy_headers(o, sc->value, sc->end, FIELD_SPANS);
        for (size_t i = sc->first_span; i < sc->first_span + sc->span_count; i++) {
            if (pt->spans[i].bucket == b) {
                out_put(o, pt->spans[i].start, pt->spans[i].size);
                o->spans++;
            }
        }
    }
    return 0;
}

static int walk_resource(struct part *pt, const uint8_t *p, const uint8_t *end)
{
    pt->spans_len = 0;
    pt->scopes_len = 0;
    const uint8_t *rs = p;
    struct field f;
    while (p < end) {
        if (next_field(&p, end, &f) < 0)
            return fail(pt, "resource_spans: malformed field at byte %zu",
                        (size_t)(f.start - pt->in));
        if (f.number == FIELD_SCOPE_SPANS && f.wire_type == OTLP_WIRE_LEN &&
            walk_scope(pt, f.value, f.end) < 0)
            return -1;
    }
    for (size_t b = 0; b < pt->nbuckets; b++)
        if (write_resource(pt, rs, end, b) < 0)
            return -1;
    return 0;
}

static int partition(const uint8_t *in, size_t len, size_t nbuckets,
                     otlp_partition_classify classify, void *arg,
                     struct otlp_partition_out *out, int trusted, char *err, size_t errlen)
{
    struct part pt = { .in = in, .nbuckets = nbuckets, .classify = classify, .arg = arg,
                       .out = out, .trusted = trusted, .err = err, .errlen = errlen };
    memset(out, 0, nbuckets * sizeof(*out));
    pt.caps = calloc(nbuckets ? nbuckets : 1, sizeof(*pt.caps));
    int rc = pt.caps ? 0 : fail(&pt, "out of memory");
    const uint8_t *p = in, *end = in + len;
    struct field f;
    while (rc == 0 && p < end) {
        if (next_field(&p, end, &f) < 0)
            rc = fail(&pt, "request: malformed field at byte %zu", (size_t)(f.start - in));
        else if (f.number == FIELD_RESOURCE_SPANS && f.wire_type == OTLP_WIRE_LEN)
            rc = walk_resource(&pt, f.value, f.end);
    }
    free(pt.caps);
    free(pt.spans);
    free(pt.scopes);
    if (rc < 0)
        otlp_partition_free(out, nbuckets);
    return rc;
}

int otlp_partition(const uint8_t *in, size_t len, size_t nbuckets,
                   otlp_partition_classify classify, void *arg,
                   struct otlp_partition_out *out, char *err, size_t errlen)
{
    return partition(in, len, nbuckets, classify, arg, out, 0, err, errlen);
}

int otlp_partition_walked(const uint8_t *in, size_t len, size_t nbuckets,
                          otlp_partition_classify classify, void *arg,
                          struct otlp_partition_out *out, char *err, size_t errlen)
{
    return partition(in, len, nbuckets, classify, arg, out, 1, err, errlen);
}

void otlp_partition_free(struct otlp_partition_out *out, size_t nbuckets)
{
    for (size_t b = 0; b < nbuckets; b++) {
        free(out[b].data);
        out[b] = (struct otlp_partition_out){ 0 };
    }
}
