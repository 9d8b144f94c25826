/* otlp.c — the OTLP wire walk: one pass over an encoded ExportTraceServiceRequest
 * that checks every tag, wire type and length down to the leaves and splices out the
 * spans the pipeline does not keep (DESIGN.md decision 2).
 *
 * Output is lazy. While the walk has changed nothing, nothing is written: the output
 * is the input up to the walk's position. The first change (a span dropped, a
 * container left empty, an attribute added) allocates the one output buffer and
 * copies that prefix from the input, except that the length prefixes of the
 * containers still open (the ResourceSpans, and the ScopeSpans or Resource inside
 * it) are reserved instead of copied: their lengths are only known when they close.
 * On close the length is written and, when it encodes in fewer bytes than were
 * reserved, the content moves down. Kept spans are copied whole, never re-encoded.
 *
 * Strings are checked to be UTF-8: proto3 requires it of `string` fields, and the Go
 * and Python decoders behind most backends refuse anything else, so such a request
 * is refused here, naming the field, instead of failing later at the backend. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/otlp.h"
#include "base/utf8.h"

enum {
    WT_VARINT = 0,
    WT_I64 = 1,
    WT_LEN = 2,
    WT_GROUP_START = 3,
    WT_GROUP_END = 4,
    WT_I32 = 5
};

/* AnyValue may nest arrays and key-value lists without limit in the schema; real
 * attributes stay a few levels deep, and the limit keeps the walk's stack small. */
#define MAX_VALUE_DEPTH 32

/* Enough for the deepest legal path: a few levels down to a span's attribute value,
 * then at most three entries per nested value. */
#define PATH_DEPTH 128
#define NO_INDEX UINT32_MAX

/* Entries an error message shows of a longer path: the first ones, "...", the last
 * PATH_TAIL. */
#define PATH_SHOWN 10
#define PATH_TAIL 3

#define FIELD_NUMBER_MAX 536870911u /* 2^29 - 1 */

#define TAG_RESOURCE 0x0a /* field 1, length-delimited, in ResourceSpans */
#define TAG_RESOURCE_SPANS 0x0a
#define TAG_SCOPE_SPANS 0x12
#define TAG_SPANS 0x12       /* field 2 of ScopeSpans */
#define TAG_TRACE_STATE 0x1a /* field 3 of Span */

enum read_status {
    READ_OK,
    READ_TRUNCATED_TAG,
    READ_LONG_TAG,
    READ_FIELD_ZERO,
    READ_FIELD_RANGE,
    READ_GROUP,
    READ_BAD_WIRE_TYPE,
    READ_TRUNCATED_VARINT,
    READ_LONG_VARINT,
    READ_TRUNCATED_FIXED,
    READ_TRUNCATED_LENGTH,
    READ_LONG_LENGTH,
    READ_PAST_END
};

struct field {
    uint64_t num;          /* may be out of range when reading failed */
    uint32_t type;
    const uint8_t *data;   /* payload of a length-delimited field */
    uint64_t len;          /* its length, as declared */
};

struct path_entry {
    const char *name;
    uint32_t index;        /* NO_INDEX for a field that is not repeated */
};

/* An open container whose length prefix may change. */
struct frame {
    const uint8_t *in_tag;      /* the container's field in the input */
    const uint8_t *in_content;
    size_t out_tag;             /* and in the output, once there is one */
    size_t out_content;
    uint8_t tag;
    uint8_t reserve;            /* bytes set aside for the length prefix */
};

/* The ids a span's validity depends on, and the tracestate its sampling may. */
struct span_ids {
    const uint8_t *trace_id;
    uint64_t trace_id_len;
    const uint8_t *span_id;
    uint64_t span_id_len;
    uint64_t parent_span_id_len;
    const uint8_t *trace_state_tag;   /* the field's first byte, NULL when absent */
    const uint8_t *trace_state_end;   /* the byte after it */
    const uint8_t *trace_state;
    uint64_t trace_state_len;
};

/* Where the Resource fields of one ResourceSpans are. A message field may appear
 * more than once (protobuf merges the occurrences); attributes are added to the last. */
struct resource_fields {
    const uint8_t *first;       /* tag of the first occurrence */
    const uint8_t *last;        /* tag of the last occurrence */
    const uint8_t *end;         /* end of the last occurrence */
    uint32_t count;
};

struct walk {
    const uint8_t *in;
    size_t len;
    const struct otlp_rewrite_opts *opts;
    struct otlp_counts *counts;
    size_t extra_max;           /* bytes of every attribute one resource could get */

    uint8_t *buf;               /* NULL while the output is the input so far */
    size_t n;
    size_t cap;
    uint8_t *room;              /* the caller's space for the output, or NULL */
    size_t room_cap;
    struct frame frames[2];     /* ResourceSpans, then ScopeSpans or Resource */
    int nframes;

    struct path_entry path[PATH_DEPTH];
    int depth;

    char *err;
    size_t errlen;
};

static const char *const reject_text[STATS_REJECT_COUNT] = {
    [STATS_REJECT_TRACE_ID] = "trace_id must be 16 bytes, not all zero",
    [STATS_REJECT_SPAN_ID] = "span_id must be 8 bytes, not all zero",
    [STATS_REJECT_PARENT_SPAN_ID] = "parent_span_id must be empty or 8 bytes",
};

/* ---- reading the wire format ---- */

/* Reads a varint of at most max bytes: 10 for a value, 5 for a tag or a length. Longer
 * tags and lengths are legal encodings of small numbers, but protobuf-c, upb and
 * others refuse them, and one request a backend refuses fails the whole batch it is
 * concatenated into. */
static int read_long_varint(const uint8_t **pp, const uint8_t *end, int max, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;

    for (int i = 0; i < max; i++) {
        if (p == end)
            return -1;
        uint8_t b = *p++;
        /* The tenth byte holds the 64th bit only. */
        if (i == 9 && b > 1)
            return -2;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *v = x;
            *pp = p;
            return 0;
        }
    }
    return -2;
}

/* Most varints in OTLP (tags, lengths of short strings, small numbers) are one byte. */
static inline int read_varint(const uint8_t **pp, const uint8_t *end, int max, uint64_t *v)
{
    if (*pp < end && **pp < 0x80) {
        *v = **pp;
        (*pp)++;
        return 0;
    }
    return read_long_varint(pp, end, max, v);
}

/* Reads one field at *pp and moves past it. Touches no walk state, so the light
 * scans over bytes already checked use it too. */
static inline enum read_status read_field(const uint8_t **pp, const uint8_t *end,
                                   struct field *f)
{
    const uint8_t *p = *pp;
    uint64_t tag, v;
    int r;

    r = read_varint(&p, end, 5, &tag);
    if (r != 0)
        return r == -1 ? READ_TRUNCATED_TAG : READ_LONG_TAG;
    f->num = tag >> 3;
    f->type = (uint32_t)(tag & 7);
    if (f->num == 0)
        return READ_FIELD_ZERO;
    if (f->num > FIELD_NUMBER_MAX)
        return READ_FIELD_RANGE;

    switch (f->type) {
    case WT_VARINT:
        r = read_varint(&p, end, 10, &v);
        if (r != 0)
            return r == -1 ? READ_TRUNCATED_VARINT : READ_LONG_VARINT;
        break;
    case WT_I64:
        if (end - p < 8)
            return READ_TRUNCATED_FIXED;
        p += 8;
        break;
    case WT_I32:
        if (end - p < 4)
            return READ_TRUNCATED_FIXED;
        p += 4;
        break;
    case WT_LEN:
        r = read_varint(&p, end, 5, &f->len);
        if (r != 0)
            return r == -1 ? READ_TRUNCATED_LENGTH : READ_LONG_LENGTH;
        if (f->len > (uint64_t)(end - p))
            return READ_PAST_END;
        f->data = p;
        p += f->len;
        break;
    case WT_GROUP_START:
    case WT_GROUP_END:
        return READ_GROUP;
    default:
        return READ_BAD_WIRE_TYPE;
    }
    *pp = p;
    return READ_OK;
}

static const char *wire_type_name(uint32_t t)
{
    switch (t) {
    case WT_VARINT: return "varint";
    case WT_I64: return "fixed64";
    case WT_LEN: return "length-delimited";
    case WT_I32: return "fixed32";
    default: return "invalid";
    }
}


/* ---- errors ---- */

static void path_push(struct walk *w, const char *name, uint32_t index)
{
    if (w->depth < PATH_DEPTH) {
        w->path[w->depth].name = name;
        w->path[w->depth].index = index;
    }
    w->depth++;
}

static void path_pop(struct walk *w)
{
    w->depth--;
}

static void err_append(struct walk *w, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err_append(struct walk *w, size_t *off, const char *fmt, ...)
{
    if (*off + 1 >= w->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(w->err + *off, w->errlen - *off, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    *off += (size_t)r;
    if (*off >= w->errlen)
        *off = w->errlen - 1;
}

/* Writes "<path>: <message>" into the caller's buffer; always returns -1. */
static int fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct walk *w, const char *fmt, ...)
{
    if (w->err == NULL || w->errlen == 0)
        return -1;

    size_t off = 0;
    int shown = w->depth < PATH_DEPTH ? w->depth : PATH_DEPTH;
    w->err[0] = '\0';
    for (int i = 0; i < shown; i++) {
        /* A deep path keeps its head and tail, so the problem still fits the buffer. */
        if (shown > PATH_SHOWN && i == PATH_SHOWN - PATH_TAIL) {
            err_append(w, &off, "...");
            i = shown - PATH_TAIL - 1;
            continue;
        }
        err_append(w, &off, "%s%s", i > 0 ? "." : "", w->path[i].name);
        if (w->path[i].index != NO_INDEX)
            err_append(w, &off, "[%u]", (unsigned)w->path[i].index);
    }
    if (shown > 0)
        err_append(w, &off, ": ");

    if (off + 1 < w->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err + off, w->errlen - off, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int report_read_error(struct walk *w, const struct field *f, enum read_status r)
{
    unsigned long long num = f->num;

    switch (r) {
    case READ_TRUNCATED_TAG:
        return fail(w, "field tag runs past the end of the message");
    case READ_LONG_TAG:
        return fail(w, "field tag is a varint longer than 5 bytes");
    case READ_FIELD_ZERO:
        return fail(w, "field number 0 is not allowed");
    case READ_FIELD_RANGE:
        return fail(w, "field number %llu is out of range", num);
    case READ_GROUP:
        return fail(w, "field %llu uses wire type %u (group), which OTLP does not use",
                    num, (unsigned)f->type);
    case READ_BAD_WIRE_TYPE:
        return fail(w, "field %llu has invalid wire type %u", num, (unsigned)f->type);
    case READ_TRUNCATED_VARINT:
        return fail(w, "field %llu varint runs past the end of the message", num);
    case READ_LONG_VARINT:
        return fail(w, "field %llu varint is longer than 10 bytes", num);
    case READ_TRUNCATED_FIXED:
        return fail(w, "field %llu %s runs past the end of the message", num,
                    wire_type_name(f->type));
    case READ_TRUNCATED_LENGTH:
        return fail(w, "field %llu length runs past the end of the message", num);
    case READ_LONG_LENGTH:
        return fail(w, "field %llu length is a varint longer than 5 bytes", num);
    case READ_PAST_END:
        return fail(w, "field %llu length %llu runs past the end of the message", num,
                    (unsigned long long)f->len);
    case READ_OK:
        break;
    }
    return 0;
}

static inline int next_field(struct walk *w, const uint8_t **pp, const uint8_t *end,
                             struct field *f)
{
    enum read_status r = read_field(pp, end, f);
    if (r != READ_OK)
        return report_read_error(w, f, r);
    return 0;
}

static int wrong_wire_type(struct walk *w, const struct field *f, uint32_t type,
                           const char *name)
{
    return fail(w, "field %u (%s) has wire type %s, expected %s", (unsigned)f->num, name,
                wire_type_name(f->type), wire_type_name(type));
}

/* Called for every known field: the check is inline, the message is not. */
static inline int want(struct walk *w, const struct field *f, uint32_t type, const char *name)
{
    if (f->type == type)
        return 0;
    return wrong_wire_type(w, f, type, name);
}

static inline int want_string(struct walk *w, const struct field *f, const char *name)
{
    if (want(w, f, WT_LEN, name) != 0)
        return -1;
    if (!utf8_valid(f->data, f->len))
        return fail(w, "field %u (%s) is not valid UTF-8", (unsigned)f->num, name);
    return 0;
}

/* ---- validating the leaves ---- */

static int walk_any_value(struct walk *w, const uint8_t *p, const uint8_t *end, int depth);

static int walk_key_value(struct walk *w, const uint8_t *p, const uint8_t *end, int depth)
{
    struct field f;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (want_string(w, &f, "key") != 0)
                return -1;
            break;
        case 2:
            if (want(w, &f, WT_LEN, "value") != 0)
                return -1;
            path_push(w, "value", NO_INDEX);
            if (walk_any_value(w, f.data, f.data + f.len, depth + 1) != 0)
                return -1;
            path_pop(w);
            break;
        }
    }
    return 0;
}

/* 1 when v[0..n) is exactly one varint of at most nine bytes (what bool_value and
 * int_value hold, short of the tenth byte's special rule). */
static inline int one_short_varint(const uint8_t *v, size_t n)
{
    if (n == 0 || n > 9 || v[n - 1] >= 0x80)
        return 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (v[i] < 0x80)
            return 0;
    return 1;
}

/* The shape nearly every attribute has, checked whole without the general walk: the key
 * (field 1), then the value (field 2) holding one scalar — a string (field 1), bool,
 * int or double — each length in one byte, nothing else. 1 when the KeyValue in
 * p[0..end) has that shape and is valid; 0 sends it to the general walk, which accepts
 * every other shape and names the path of any problem. */
static inline int simple_key_value(const uint8_t *p, const uint8_t *end)
{
    size_t n = (size_t)(end - p);
    /* A length byte of 0x80 or more starts a longer varint: the general walk reads it. */
    if (n < 4 || p[0] != 0x0a || p[1] >= 0x80 || p[1] > n - 4)
        return 0;
    const uint8_t *key = p + 2;
    size_t key_len = p[1];
    const uint8_t *value = key + key_len;
    size_t value_len = value[1];
    if (value[0] != 0x12 || value_len >= 0x80 || value_len < 2 || value + 2 + value_len != end)
        return 0;
    const uint8_t *v = value + 2;
    switch (v[0]) {
    case 0x0a: /* string_value */
        if ((size_t)v[1] + 2 != value_len || !utf8_valid(v + 2, v[1]))
            return 0;
        break;
    case 0x10: /* bool_value */
    case 0x18: /* int_value */
        if (!one_short_varint(v + 1, value_len - 1))
            return 0;
        break;
    case 0x21: /* double_value */
        if (value_len != 9)
            return 0;
        break;
    default:
        return 0;
    }
    return utf8_valid(key, key_len);
}

/* A KeyValue field of the message being walked: attributes, or kvlist values. */
static int walk_key_value_field(struct walk *w, const struct field *f, const char *name,
                                uint32_t *count, int depth)
{
    if (want(w, f, WT_LEN, name) != 0)
        return -1;
    /* The general walk would check the value one level deeper. */
    if (depth < MAX_VALUE_DEPTH && simple_key_value(f->data, f->data + f->len)) {
        (*count)++;
        return 0;
    }
    path_push(w, name, (*count)++);
    if (walk_key_value(w, f->data, f->data + f->len, depth) != 0)
        return -1;
    path_pop(w);
    return 0;
}

static int walk_array_value(struct walk *w, const uint8_t *p, const uint8_t *end, int depth)
{
    struct field f;
    uint32_t count = 0;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        if (f.num != 1)
            continue;
        if (want(w, &f, WT_LEN, "values") != 0)
            return -1;
        path_push(w, "values", count++);
        if (walk_any_value(w, f.data, f.data + f.len, depth + 1) != 0)
            return -1;
        path_pop(w);
    }
    return 0;
}

static int walk_kvlist_value(struct walk *w, const uint8_t *p, const uint8_t *end, int depth)
{
    struct field f;
    uint32_t count = 0;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        if (f.num == 1 && walk_key_value_field(w, &f, "values", &count, depth) != 0)
            return -1;
    }
    return 0;
}

static int walk_any_value(struct walk *w, const uint8_t *p, const uint8_t *end, int depth)
{
    struct field f;

    if (depth > MAX_VALUE_DEPTH)
        return fail(w, "values nested more than %d levels deep", MAX_VALUE_DEPTH);

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (want_string(w, &f, "string_value") != 0)
                return -1;
            break;
        case 2:
            if (want(w, &f, WT_VARINT, "bool_value") != 0)
                return -1;
            break;
        case 3:
            if (want(w, &f, WT_VARINT, "int_value") != 0)
                return -1;
            break;
        case 4:
            if (want(w, &f, WT_I64, "double_value") != 0)
                return -1;
            break;
        case 5:
            if (want(w, &f, WT_LEN, "array_value") != 0)
                return -1;
            path_push(w, "array_value", NO_INDEX);
            if (walk_array_value(w, f.data, f.data + f.len, depth) != 0)
                return -1;
            path_pop(w);
            break;
        case 6:
            if (want(w, &f, WT_LEN, "kvlist_value") != 0)
                return -1;
            path_push(w, "kvlist_value", NO_INDEX);
            if (walk_kvlist_value(w, f.data, f.data + f.len, depth) != 0)
                return -1;
            path_pop(w);
            break;
        case 7:
            if (want(w, &f, WT_LEN, "bytes_value") != 0)
                return -1;
            break;
        }
    }
    return 0;
}

static int walk_entity_ref(struct walk *w, const uint8_t *p, const uint8_t *end)
{
    struct field f;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (want_string(w, &f, "schema_url") != 0)
                return -1;
            break;
        case 2:
            if (want_string(w, &f, "type") != 0)
                return -1;
            break;
        case 3:
            if (want_string(w, &f, "id_keys") != 0)
                return -1;
            break;
        case 4:
            if (want_string(w, &f, "description_keys") != 0)
                return -1;
            break;
        }
    }
    return 0;
}

static int walk_resource(struct walk *w, const uint8_t *p, const uint8_t *end)
{
    struct field f;
    uint32_t attributes = 0, entity_refs = 0;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (walk_key_value_field(w, &f, "attributes", &attributes, 0) != 0)
                return -1;
            break;
        case 2:
            if (want(w, &f, WT_VARINT, "dropped_attributes_count") != 0)
                return -1;
            break;
        case 3:
            if (want(w, &f, WT_LEN, "entity_refs") != 0)
                return -1;
            path_push(w, "entity_refs", entity_refs++);
            if (walk_entity_ref(w, f.data, f.data + f.len) != 0)
                return -1;
            path_pop(w);
            break;
        }
    }
    return 0;
}

static int walk_scope(struct walk *w, const uint8_t *p, const uint8_t *end)
{
    struct field f;
    uint32_t attributes = 0;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (want_string(w, &f, "name") != 0)
                return -1;
            break;
        case 2:
            if (want_string(w, &f, "version") != 0)
                return -1;
            break;
        case 3:
            if (walk_key_value_field(w, &f, "attributes", &attributes, 0) != 0)
                return -1;
            break;
        case 4:
            if (want(w, &f, WT_VARINT, "dropped_attributes_count") != 0)
                return -1;
            break;
        }
    }
    return 0;
}

static int walk_event(struct walk *w, const uint8_t *p, const uint8_t *end)
{
    struct field f;
    uint32_t attributes = 0;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (want(w, &f, WT_I64, "time_unix_nano") != 0)
                return -1;
            break;
        case 2:
            if (want_string(w, &f, "name") != 0)
                return -1;
            break;
        case 3:
            if (walk_key_value_field(w, &f, "attributes", &attributes, 0) != 0)
                return -1;
            break;
        case 4:
            if (want(w, &f, WT_VARINT, "dropped_attributes_count") != 0)
                return -1;
            break;
        }
    }
    return 0;
}

static int walk_link(struct walk *w, const uint8_t *p, const uint8_t *end)
{
    struct field f;
    uint32_t attributes = 0;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (want(w, &f, WT_LEN, "trace_id") != 0)
                return -1;
            break;
        case 2:
            if (want(w, &f, WT_LEN, "span_id") != 0)
                return -1;
            break;
        case 3:
            if (want_string(w, &f, "trace_state") != 0)
                return -1;
            break;
        case 4:
            if (walk_key_value_field(w, &f, "attributes", &attributes, 0) != 0)
                return -1;
            break;
        case 5:
            if (want(w, &f, WT_VARINT, "dropped_attributes_count") != 0)
                return -1;
            break;
        case 6:
            if (want(w, &f, WT_I32, "flags") != 0)
                return -1;
            break;
        }
    }
    return 0;
}

static int walk_status(struct walk *w, const uint8_t *p, const uint8_t *end)
{
    struct field f;

    while (p < end) {
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 2:
            if (want_string(w, &f, "message") != 0)
                return -1;
            break;
        case 3:
            if (want(w, &f, WT_VARINT, "code") != 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* A nested message field of a span: events, links or status. */
static int walk_span_child(struct walk *w, const struct field *f, const char *name,
                           uint32_t index,
                           int (*walk_child)(struct walk *, const uint8_t *, const uint8_t *))
{
    if (want(w, f, WT_LEN, name) != 0)
        return -1;
    path_push(w, name, index);
    if (walk_child(w, f->data, f->data + f->len) != 0)
        return -1;
    path_pop(w);
    return 0;
}

/* Validates a span and finds its ids. For fields given twice the last one counts,
 * as in any protobuf decoder. */
static int walk_span(struct walk *w, const uint8_t *p, const uint8_t *end,
                     struct span_ids *ids)
{
    struct field f;
    uint32_t attributes = 0, events = 0, links = 0;

    while (p < end) {
        const uint8_t *start = p;
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (want(w, &f, WT_LEN, "trace_id") != 0)
                return -1;
            ids->trace_id = f.data;
            ids->trace_id_len = f.len;
            break;
        case 2:
            if (want(w, &f, WT_LEN, "span_id") != 0)
                return -1;
            ids->span_id = f.data;
            ids->span_id_len = f.len;
            break;
        case 3:
            if (want_string(w, &f, "trace_state") != 0)
                return -1;
            ids->trace_state_tag = start;
            ids->trace_state_end = p;
            ids->trace_state = f.data;
            ids->trace_state_len = f.len;
            break;
        case 4:
            if (want(w, &f, WT_LEN, "parent_span_id") != 0)
                return -1;
            ids->parent_span_id_len = f.len;
            break;
        case 5:
            if (want_string(w, &f, "name") != 0)
                return -1;
            break;
        case 6:
            if (want(w, &f, WT_VARINT, "kind") != 0)
                return -1;
            break;
        case 7:
            if (want(w, &f, WT_I64, "start_time_unix_nano") != 0)
                return -1;
            break;
        case 8:
            if (want(w, &f, WT_I64, "end_time_unix_nano") != 0)
                return -1;
            break;
        case 9:
            if (walk_key_value_field(w, &f, "attributes", &attributes, 0) != 0)
                return -1;
            break;
        case 10:
            if (want(w, &f, WT_VARINT, "dropped_attributes_count") != 0)
                return -1;
            break;
        case 11:
            if (walk_span_child(w, &f, "events", events++, walk_event) != 0)
                return -1;
            break;
        case 12:
            if (want(w, &f, WT_VARINT, "dropped_events_count") != 0)
                return -1;
            break;
        case 13:
            if (walk_span_child(w, &f, "links", links++, walk_link) != 0)
                return -1;
            break;
        case 14:
            if (want(w, &f, WT_VARINT, "dropped_links_count") != 0)
                return -1;
            break;
        case 15:
            if (walk_span_child(w, &f, "status", NO_INDEX, walk_status) != 0)
                return -1;
            break;
        case 16:
            if (want(w, &f, WT_I32, "flags") != 0)
                return -1;
            break;
        }
    }
    return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0)
            return 0;
    }
    return 1;
}

/* Returns the reason the span is refused, or -1 when it is valid. */
static int span_problem(const struct span_ids *ids)
{
    if (ids->trace_id_len != 16 || all_zero(ids->trace_id, 16))
        return STATS_REJECT_TRACE_ID;
    if (ids->span_id_len != 8 || all_zero(ids->span_id, 8))
        return STATS_REJECT_SPAN_ID;
    if (ids->parent_span_id_len != 0 && ids->parent_span_id_len != 8)
        return STATS_REJECT_PARENT_SPAN_ID;
    return -1;
}

/* Counts the span and says whether it stays; d->rewrite says whether it changes. */
static int span_keep(struct walk *w, const struct span_ids *ids, struct sampler_decision *d)
{
    struct otlp_counts *c = w->counts;
    int problem = span_problem(ids);

    d->rewrite = 0;
    c->spans++;
    if (problem >= 0) {
        c->invalid[problem]++;
        c->invalid_total++;
        if (c->first_invalid == NULL)
            c->first_invalid = reject_text[problem];
        return 0;
    }
    if (w->opts->sampler != NULL) {
        sampler_decide(w->opts->sampler, ids->trace_id, (const char *)ids->trace_state,
                       (size_t)ids->trace_state_len, d);
        c->th_erased += (uint64_t)d->th_inconsistent;
        c->tracestate_unchanged += (uint64_t)d->too_long;
        if (!d->keep) {
            c->sampled_out_by_rule[d->rule]++;
            c->sampled_out++;
            return 0;
        }
        c->kept_by_rule[d->rule]++;
    }
    c->kept++;
    return 1;
}

/* ---- writing the output ---- */

size_t otlp_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int otlp_field_next(const uint8_t **pp, const uint8_t *end, struct otlp_field *f)
{
    struct field rf = { 0 };
    if (read_field(pp, end, &rf) != READ_OK)
        return -1;
    *f = (struct otlp_field){ (uint32_t)rf.num, rf.type, rf.data, rf.len };
    return 0;
}

size_t otlp_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static int out_grow(struct walk *w, size_t need)
{
    if (w->cap - w->n >= need)
        return 0;
    size_t cap = w->cap * 2 + need;
    uint8_t *buf;
    if (w->buf == w->room) {
        /* Outgrew the caller's room: the output moves to memory of its own, once. */
        buf = malloc(cap);
        if (buf != NULL)
            memcpy(buf, w->room, w->n);
    } else {
        buf = realloc(w->buf, cap);
    }
    if (buf == NULL)
        return fail(w, "out of memory");
    w->buf = buf;
    w->cap = cap;
    return 0;
}

static void out_free(struct walk *w)
{
    if (w->buf != w->room)
        free(w->buf);
}

static int out_put(struct walk *w, const void *src, size_t n)
{
    if (out_grow(w, n) != 0)
        return -1;
    memcpy(w->buf + w->n, src, n);
    w->n += n;
    return 0;
}

/* Writes the frame's tag and sets its length prefix aside. */
static int frame_start(struct walk *w, struct frame *f)
{
    if (out_grow(w, 1 + (size_t)f->reserve) != 0)
        return -1;
    f->out_tag = w->n;
    w->buf[w->n++] = f->tag;
    w->n += f->reserve;
    f->out_content = w->n;
    return 0;
}

/* The first change: from here on the output is written. Everything before `at` is
 * output as it was in the input, apart from the open frames' length prefixes. */
static int materialize(struct walk *w, const uint8_t *at)
{
    if (w->room != NULL) {
        w->buf = w->room;
        w->cap = w->room_cap;
    } else {
        w->cap = w->len + w->extra_max + 64;
        w->buf = malloc(w->cap);
        if (w->buf == NULL)
            return fail(w, "out of memory");
    }
    w->n = 0;

    const uint8_t *from = w->in;
    for (int i = 0; i < w->nframes; i++) {
        struct frame *f = &w->frames[i];
        if (out_put(w, from, (size_t)(f->in_tag - from)) != 0)
            return -1;
        if (frame_start(w, f) != 0)
            return -1;
        from = f->in_content;
    }
    return out_put(w, from, (size_t)(at - from));
}

static int emit_copy(struct walk *w, const uint8_t *from, const uint8_t *to)
{
    if (w->buf == NULL)
        return 0;
    return out_put(w, from, (size_t)(to - from));
}

/* Emits the span field [tag, data + len) with its trace_state replaced by ts[0..ts_len),
 * or, for a span that had none, appended: field order does not matter in protobuf, and
 * every other byte stays as it was. */
static int emit_span_rewritten(struct walk *w, const uint8_t *tag, const struct field *f,
                               const struct span_ids *ids, const char *ts, size_t ts_len)
{
    const uint8_t *span = f->data, *span_end = f->data + f->len;
    const uint8_t *cut = ids->trace_state_tag != NULL ? ids->trace_state_tag : span_end;
    const uint8_t *resume = ids->trace_state_tag != NULL ? ids->trace_state_end : span_end;
    size_t head = (size_t)(cut - span), tail = (size_t)(span_end - resume);
    size_t len = head + 1 + otlp_varint_size(ts_len) + ts_len + tail;

    if (w->buf == NULL && materialize(w, tag) != 0)
        return -1;
    if (out_grow(w, 1 + otlp_varint_size(len) + len) != 0)
        return -1;
    uint8_t *p = w->buf + w->n;
    *p++ = TAG_SPANS;
    p += otlp_varint_put(p, len);
    memcpy(p, span, head);
    p += head;
    *p++ = TAG_TRACE_STATE;
    p += otlp_varint_put(p, ts_len);
    memcpy(p, ts, ts_len);
    p += ts_len;
    memcpy(p, resume, tail);
    p += tail;
    w->n = (size_t)(p - w->buf);
    return 0;
}

/* Leaves the input from `at` on out of the output, until the next copy. */
static int emit_skip(struct walk *w, const uint8_t *at)
{
    if (w->buf != NULL)
        return 0;
    return materialize(w, at);
}

static int frame_open(struct walk *w, const uint8_t *tag, const uint8_t *content,
                      uint8_t tagbyte, size_t max_content)
{
    struct frame *f = &w->frames[w->nframes++];
    f->in_tag = tag;
    f->in_content = content;
    f->tag = tagbyte;
    f->reserve = (uint8_t)otlp_varint_size(max_content);
    if (w->buf == NULL)
        return 0;
    return frame_start(w, f);
}

static int frame_close(struct walk *w)
{
    struct frame *f = &w->frames[--w->nframes];
    if (w->buf == NULL)
        return 0;

    size_t content = w->n - f->out_content;
    size_t size = otlp_varint_size(content);
    /* The reserve is an upper bound; were it ever short, moving the content up
     * would still give the right bytes. */
    if (size > f->reserve && out_grow(w, size - f->reserve) != 0)
        return -1;
    uint8_t *prefix = w->buf + f->out_tag + 1;
    if (size != f->reserve)
        memmove(prefix + size, w->buf + f->out_content, content);
    otlp_varint_put(prefix, content);
    w->n = f->out_tag + 1 + size + content;
    return 0;
}

/* Closes the frame and takes it out of the output: it has nothing left to carry. */
static int frame_drop(struct walk *w)
{
    struct frame *f = &w->frames[--w->nframes];
    if (w->buf != NULL) {
        w->n = f->out_tag;
        return 0;
    }
    return materialize(w, f->in_tag);
}

/* ---- resource attributes ---- */

static size_t candidate_count(const struct walk *w)
{
    return (w->opts->service_name != NULL) + w->opts->attrs_count;
}

/* The attributes to add where absent: service.name first, so it wins over a
 * service.name among the configured attributes, then those in order. */
static void candidate(const struct walk *w, size_t j, const char **key, const char **value)
{
    if (w->opts->service_name != NULL) {
        if (j == 0) {
            *key = "service.name";
            *value = w->opts->service_name;
            return;
        }
        j--;
    }
    *key = w->opts->attrs[j].key;
    *value = w->opts->attrs[j].value != NULL ? w->opts->attrs[j].value : "";
}

/* A key given twice is added once, the first time. */
static int candidate_repeats(const struct walk *w, size_t j)
{
    const char *key, *value, *other;

    candidate(w, j, &key, &value);
    if (key == NULL)
        return 1;
    for (size_t i = 0; i < j; i++) {
        candidate(w, i, &other, &value);
        if (other != NULL && strcmp(key, other) == 0)
            return 1;
    }
    return 0;
}

static size_t string_field_size(size_t len)
{
    return 1 + otlp_varint_size(len) + len;
}

static size_t attribute_size(const char *key, const char *value)
{
    size_t any_value = string_field_size(strlen(value));
    size_t key_value = string_field_size(strlen(key)) + string_field_size(any_value);
    return string_field_size(key_value);
}

static size_t extra_max(const struct walk *w)
{
    size_t n = 0, count = candidate_count(w);
    const char *key, *value;

    for (size_t j = 0; j < count; j++) {
        if (candidate_repeats(w, j))
            continue;
        candidate(w, j, &key, &value);
        n += attribute_size(key, value);
    }
    return n;
}

/* Writes Resource.attributes {key, value {string_value}}. */
static int put_attribute(struct walk *w, const char *key, const char *value)
{
    size_t klen = strlen(key), vlen = strlen(value);
    size_t any_value = string_field_size(vlen);
    size_t key_value = string_field_size(klen) + string_field_size(any_value);

    if (out_grow(w, string_field_size(key_value)) != 0)
        return -1;
    uint8_t *p = w->buf + w->n;
    *p++ = 0x0a;
    p += otlp_varint_put(p, key_value);
    *p++ = 0x0a;
    p += otlp_varint_put(p, klen);
    memcpy(p, key, klen);
    p += klen;
    *p++ = 0x12;
    p += otlp_varint_put(p, any_value);
    *p++ = 0x0a;
    p += otlp_varint_put(p, vlen);
    memcpy(p, value, vlen);
    p += vlen;
    w->n = (size_t)(p - w->buf);
    return 0;
}

static int key_value_has_key(const uint8_t *p, const uint8_t *end, const char *key,
                             size_t klen)
{
    struct field f;
    const uint8_t *found = NULL;
    uint64_t found_len = 0;

    while (p < end && read_field(&p, end, &f) == READ_OK) {
        if (f.num == 1 && f.type == WT_LEN) {
            found = f.data;
            found_len = f.len;
        }
    }
    return found != NULL && found_len == klen && memcmp(found, key, klen) == 0;
}

/* Whether any Resource of the ResourceSpans (already validated) has the key. */
static int resource_has_key(const struct resource_fields *res, const char *key)
{
    struct field rf, af;
    size_t klen = strlen(key);
    const uint8_t *p = res->first;

    while (res->count > 0 && p < res->end && read_field(&p, res->end, &rf) == READ_OK) {
        if (rf.num != 1 || rf.type != WT_LEN)
            continue;
        const uint8_t *q = rf.data, *end = rf.data + rf.len;
        while (q < end && read_field(&q, end, &af) == READ_OK) {
            if (af.num == 1 && af.type == WT_LEN &&
                key_value_has_key(af.data, af.data + af.len, key, klen))
                return 1;
        }
    }
    return 0;
}

/* Starts the enriched copy of a Resource: its tag, room for the new length, and
 * its original content. */
static int resource_open(struct walk *w, const uint8_t *tag, const uint8_t *content,
                         const uint8_t *end)
{
    if (w->buf == NULL && materialize(w, tag) != 0)
        return -1;
    if (frame_open(w, tag, content, TAG_RESOURCE, (size_t)(end - content) + w->extra_max) != 0)
        return -1;
    return emit_copy(w, content, end);
}

/* Emits the Resource field [tag, end) with the attributes it lacks appended, or,
 * given an empty range, a new Resource holding them. */
static int emit_resource(struct walk *w, const struct resource_fields *res,
                         const uint8_t *tag, const uint8_t *content, const uint8_t *end)
{
    size_t count = candidate_count(w);
    const char *key, *value;
    int opened = 0;

    for (size_t j = 0; j < count; j++) {
        if (candidate_repeats(w, j))
            continue;
        candidate(w, j, &key, &value);
        if (resource_has_key(res, key))
            continue;
        if (!opened && resource_open(w, tag, content, end) != 0)
            return -1;
        opened = 1;
        if (put_attribute(w, key, value) != 0)
            return -1;
    }
    if (!opened)
        return emit_copy(w, tag, end);
    return frame_close(w);
}

/* ---- the containers ---- */

static int walk_scope_spans(struct walk *w, const uint8_t *tag, const uint8_t *p,
                            const uint8_t *end, uint64_t *kept)
{
    struct field f;
    uint32_t spans = 0;
    uint64_t before = w->counts->kept;

    if (frame_open(w, tag, p, TAG_SCOPE_SPANS, (size_t)(end - p)) != 0)
        return -1;

    while (p < end) {
        const uint8_t *start = p;
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (want(w, &f, WT_LEN, "scope") != 0)
                return -1;
            path_push(w, "scope", NO_INDEX);
            if (walk_scope(w, f.data, f.data + f.len) != 0)
                return -1;
            path_pop(w);
            if (emit_copy(w, start, p) != 0)
                return -1;
            break;
        case 2: {
            struct span_ids ids = {0};
            struct sampler_decision d;
            if (want(w, &f, WT_LEN, "spans") != 0)
                return -1;
            path_push(w, "spans", spans++);
            if (walk_span(w, f.data, f.data + f.len, &ids) != 0)
                return -1;
            path_pop(w);
            if (!span_keep(w, &ids, &d)) {
                if (emit_skip(w, start) != 0)
                    return -1;
            } else if (d.rewrite) {
                if (emit_span_rewritten(w, start, &f, &ids, d.trace_state,
                                        d.trace_state_len) != 0)
                    return -1;
            } else if (emit_copy(w, start, p) != 0) {
                return -1;
            }
            break;
        }
        case 3:
            if (want_string(w, &f, "schema_url") != 0)
                return -1;
            if (emit_copy(w, start, p) != 0)
                return -1;
            break;
        default:
            if (emit_copy(w, start, p) != 0)
                return -1;
            break;
        }
    }

    *kept = w->counts->kept - before;
    if (*kept == 0)
        return frame_drop(w);
    return frame_close(w);
}

/* Validates the Resource fields of a ResourceSpans and finds where they are; the
 * other fields are only stepped over here. */
static int find_resources(struct walk *w, const uint8_t *p, const uint8_t *end,
                          struct resource_fields *res)
{
    struct field f;

    while (p < end) {
        const uint8_t *start = p;
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        if (f.num != 1)
            continue;
        if (want(w, &f, WT_LEN, "resource") != 0)
            return -1;
        path_push(w, "resource", NO_INDEX);
        if (walk_resource(w, f.data, f.data + f.len) != 0)
            return -1;
        path_pop(w);
        if (res->count == 0)
            res->first = start;
        res->last = start;
        res->end = p;
        res->count++;
    }
    return 0;
}

/* The Resource field [start, end) of a ResourceSpans. Without enrichment (res NULL)
 * it is validated here; with it, find_resources() has done that, and the last
 * occurrence gets the missing attributes. */
static int resource_field(struct walk *w, const struct field *f, const uint8_t *start,
                          const uint8_t *end, const struct resource_fields *res)
{
    if (res != NULL) {
        if (start == res->last)
            return emit_resource(w, res, start, f->data, end);
        return emit_copy(w, start, end);
    }
    if (want(w, f, WT_LEN, "resource") != 0)
        return -1;
    path_push(w, "resource", NO_INDEX);
    if (walk_resource(w, f->data, f->data + f->len) != 0)
        return -1;
    path_pop(w);
    return emit_copy(w, start, end);
}

static int walk_resource_spans(struct walk *w, const uint8_t *tag, const uint8_t *p,
                               const uint8_t *end, uint32_t index)
{
    struct field f;
    struct resource_fields res = {0};
    uint32_t scopes = 0;
    uint64_t kept = 0, scope_kept;
    int enrich = candidate_count(w) > 0;

    path_push(w, "resource_spans", index);

    /* The keys the resource has must be known before any of it is emitted. */
    if (enrich && find_resources(w, p, end, &res) != 0)
        return -1;

    /* Room for the attributes, plus a created Resource's tag and length or a grown
     * one's longer length prefix (at most 6 bytes either way). */
    if (frame_open(w, tag, p, TAG_RESOURCE_SPANS, (size_t)(end - p) + w->extra_max + 16) != 0)
        return -1;
    if (enrich && res.count == 0 && emit_resource(w, &res, p, p, p) != 0)
        return -1;

    while (p < end) {
        const uint8_t *start = p;
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        switch (f.num) {
        case 1:
            if (resource_field(w, &f, start, p, enrich ? &res : NULL) != 0)
                return -1;
            break;
        case 2:
            if (want(w, &f, WT_LEN, "scope_spans") != 0)
                return -1;
            path_push(w, "scope_spans", scopes++);
            if (walk_scope_spans(w, start, f.data, f.data + f.len, &scope_kept) != 0)
                return -1;
            path_pop(w);
            kept += scope_kept;
            break;
        case 3:
            if (want_string(w, &f, "schema_url") != 0)
                return -1;
            if (emit_copy(w, start, p) != 0)
                return -1;
            break;
        default:
            if (emit_copy(w, start, p) != 0)
                return -1;
            break;
        }
    }

    path_pop(w);
    if (kept == 0)
        return frame_drop(w);
    return frame_close(w);
}

static int walk_request(struct walk *w)
{
    struct field f;
    const uint8_t *p = w->in, *end = w->in + w->len;
    uint32_t index = 0;

    while (p < end) {
        const uint8_t *start = p;
        if (next_field(w, &p, end, &f) != 0)
            return -1;
        if (f.num != 1) {
            if (emit_copy(w, start, p) != 0)
                return -1;
            continue;
        }
        if (want(w, &f, WT_LEN, "resource_spans") != 0)
            return -1;
        if (walk_resource_spans(w, start, f.data, f.data + f.len, index++) != 0)
            return -1;
    }
    return 0;
}

static const struct otlp_rewrite_opts no_opts;

size_t otlp_rewrite_room(size_t len, const struct otlp_rewrite_opts *opts)
{
    struct walk w = { .opts = opts != NULL ? opts : &no_opts };
    return len + extra_max(&w) + 64;
}

int otlp_rewrite(const uint8_t *in, size_t len, const struct otlp_rewrite_opts *opts,
                 uint8_t **out, size_t *out_len, struct otlp_counts *counts,
                 char *err, size_t errlen)
{
    return otlp_rewrite_into(in, len, opts, NULL, 0, out, out_len, counts, err, errlen);
}

int otlp_rewrite_into(const uint8_t *in, size_t len, const struct otlp_rewrite_opts *opts,
                      uint8_t *room, size_t room_cap, uint8_t **out, size_t *out_len,
                      struct otlp_counts *counts, char *err, size_t errlen)
{
    struct walk w;

    memset(counts, 0, sizeof *counts);
    *out = NULL;
    *out_len = 0;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (len == 0)
        return 0;

    w.in = in;
    w.len = len;
    w.opts = opts != NULL ? opts : &no_opts;
    w.counts = counts;
    w.buf = NULL;
    w.n = 0;
    w.cap = 0;
    w.room = room;
    w.room_cap = room != NULL ? room_cap : 0;
    w.nframes = 0;
    w.depth = 0;
    w.err = err;
    w.errlen = err != NULL ? errlen : 0;
    w.extra_max = extra_max(&w);

    if (walk_request(&w) != 0) {
        out_free(&w);
        memset(counts, 0, sizeof *counts);
        return -1;
    }

    if (counts->kept == 0) {
        out_free(&w);
        return 0;
    }
    if (w.buf == NULL) {
        *out_len = len;
        return 0;
    }
    *out = w.buf;
    *out_len = w.n;
    return 0;
}

/* ---- counting ---- */

static uint64_t count_in_scope_spans(const uint8_t *p, const uint8_t *end)
{
    struct field f;
    uint64_t n = 0;

    while (p < end && read_field(&p, end, &f) == READ_OK) {
        if (f.num == 2 && f.type == WT_LEN)
            n++;
    }
    return n;
}

static uint64_t count_in_resource_spans(const uint8_t *p, const uint8_t *end)
{
    struct field f;
    uint64_t n = 0;

    while (p < end && read_field(&p, end, &f) == READ_OK) {
        if (f.num == 2 && f.type == WT_LEN)
            n += count_in_scope_spans(f.data, f.data + f.len);
    }
    return n;
}

uint64_t otlp_count_spans(const uint8_t *in, size_t len)
{
    struct field f;
    uint64_t n = 0;

    if (len == 0)
        return 0;
    const uint8_t *p = in, *end = in + len;
    while (p < end && read_field(&p, end, &f) == READ_OK) {
        if (f.num == 1 && f.type == WT_LEN)
            n += count_in_resource_spans(f.data, f.data + f.len);
    }
    return n;
}
