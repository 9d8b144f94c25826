/* otlp_json.c — OTLP/JSON requests to protobuf, and the JSON answers (see otlp_json.h).
 *
 * A request is parsed with json-c, converted message by message into protobuf-c structs
 * that all come from one arena, packed, and then the arena and the JSON tree are freed,
 * whichever way the conversion ended. Each converter is given the JSON path of what it
 * converts so that an error can say where it is. */

#include "receive/otlp_json.h"
#include "base/codec.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__EntityRef EntityRef;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KeyValueList;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue__ValueCase ValueCase;

#define ARENA_CHUNK_SIZE 16384

/* Index is the enum's value. */
static const char *const span_kind_names[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};
static const char *const status_code_names[] = {
    "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR",
};

/* One block of the arena everything built for a request comes from. */
struct chunk {
    struct chunk *next;
    size_t used;
    size_t size;
    max_align_t data[];
};

/* The state of one conversion. */
struct conv {
    struct chunk *arena;
    char *err;
    size_t errlen;
};

/* Where a converter is in the request, as a chain of stack frames up to the root, only
 * spelled out when there is an error to report. key is a field name, or NULL for the
 * index-th element of a list. */
struct path {
    const struct path *up;
    const char *key;
    size_t index;
};

/* An integer as sign and magnitude, so that one reader serves every integer type. */
struct integer {
    int negative;
    uint64_t magnitude;
};

static int conv_any_value(struct conv *c, json_object *v, const struct path *at, int depth,
                          AnyValue **out);

/* ---- arena ---- */

static void *arena_alloc(struct chunk **arena, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    struct chunk *ch = *arena;
    void *p;

    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + align - 1) / align * align;
    if (ch == NULL || ch->size - ch->used < size) {
        size_t cap = size > ARENA_CHUNK_SIZE ? size : ARENA_CHUNK_SIZE;
        ch = malloc(sizeof *ch + cap);
        if (ch == NULL)
            return NULL;
        ch->next = *arena;
        ch->used = 0;
        ch->size = cap;
        *arena = ch;
    }
    p = (unsigned char *)ch->data + ch->used;
    ch->used += size;
    memset(p, 0, size);
    return p;
}

static void arena_free(struct chunk *arena)
{
    while (arena != NULL) {
        struct chunk *next = arena->next;
        free(arena);
        arena = next;
    }
}

/* Zeroed room for n items; never NULL except when out of memory, even for n == 0. */
static void *alloc_array(struct conv *c, size_t n, size_t size)
{
    if (n != 0 && size > SIZE_MAX / n)
        return NULL;
    return arena_alloc(&c->arena, n * size);
}

/* ---- errors ---- */

static void put(struct conv *c, size_t *pos, const char *s)
{
    size_t n = strlen(s);

    if (*pos + 1 >= c->errlen)
        return;
    if (n > c->errlen - 1 - *pos)
        n = c->errlen - 1 - *pos;
    memcpy(c->err + *pos, s, n);
    *pos += n;
    c->err[*pos] = '\0';
}

static void put_path(struct conv *c, size_t *pos, const struct path *p)
{
    char index[32];

    if (p == NULL)
        return;
    put_path(c, pos, p->up);
    if (p->key != NULL) {
        if (p->up != NULL)
            put(c, pos, ".");
        put(c, pos, p->key);
    } else {
        snprintf(index, sizeof index, "[%zu]", p->index);
        put(c, pos, index);
    }
}

static int fail(struct conv *c, const struct path *at, const char *msg)
{
    size_t pos = 0;

    if (c->errlen == 0)
        return -1;
    c->err[0] = '\0';
    put_path(c, &pos, at);
    if (pos > 0)
        put(c, &pos, ": ");
    put(c, &pos, msg);
    return -1;
}

static int out_of_memory(struct conv *c)
{
    return fail(c, NULL, "out of memory");
}

static struct path path_key(const struct path *up, const char *key)
{
    struct path p = { up, key, 0 };
    return p;
}

static struct path path_index(const struct path *up, size_t index)
{
    struct path p = { up, NULL, index };
    return p;
}

/* ---- parsing ---- */

static size_t string_end(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

static size_t number_end(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] != '\0' && strchr("0123456789+-.eE", s[i]) != NULL)
        i++;
    return i;
}

/* Whether s[0..n) is an integer literal outside both the int64 and the uint64 range. */
static int is_big_integer(const char *s, size_t n)
{
    int negative = s[0] == '-';
    const char *limit = negative ? "9223372036854775808" : "18446744073709551615";
    size_t limit_len = strlen(limit);
    size_t i = negative ? 1 : 0;
    size_t j;

    while (i < n && s[i] == '0')
        i++;
    for (j = i; j < n; j++) {
        if (s[j] < '0' || s[j] > '9')
            return 0;
    }
    if (n - i != limit_len)
        return n - i > limit_len;
    return memcmp(s + i, limit, limit_len) > 0;
}

/* json-c reads an integer literal beyond the int64 and uint64 ranges as INT64_MIN or
 * UINT64_MAX, without an error, which would quietly change the value (JavaScript writes
 * the double 1e20 as 100000000000000000000). So when the input holds such literals it is
 * parsed again from a copy with "e0" after each: json-c then makes them doubles that keep
 * their text, which the integer readers take exactly (and refuse as out of range) and the
 * double reader converts like any other number. The input is known to be valid JSON.
 * Returns the copy's length, and writes the copy to out unless out is NULL. */
static size_t widen_big_integers(const char *in, size_t len, char *out)
{
    size_t i = 0, o = 0;

    while (i < len) {
        size_t start = i;
        int big = 0;

        if (in[i] == '"') {
            i = string_end(in, len, i);
        } else if (in[i] == '-' || (in[i] >= '0' && in[i] <= '9')) {
            i = number_end(in, len, i);
            big = is_big_integer(in + start, i - start);
        } else {
            i++;
        }
        if (out != NULL)
            memcpy(out + o, in + start, i - start);
        o += i - start;
        if (big) {
            if (out != NULL)
                memcpy(out + o, "e0", 2);
            o += 2;
        }
    }
    return o;
}

/* Parses the whole of text[0..len) as one JSON value; *out is NULL for a JSON null. */
static int parse_json(struct conv *c, const char *text, size_t len, json_object **out)
{
    struct json_tokener *tok;
    json_object *obj;
    enum json_tokener_error e;
    size_t end;

    if (len > INT_MAX)
        return fail(c, NULL, "request too large for the JSON parser");
    tok = json_tokener_new_ex(OTLP_JSON_MAX_DEPTH);
    if (tok == NULL)
        return out_of_memory(c);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, text, (int)len);
    e = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (e == json_tokener_continue) {
        /* json-c waits for more input until told there is none: a NUL finishes a bare
         * top-level value ("5") and turns anything unfinished into an error. */
        obj = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);
    if (e != json_tokener_success) {
        snprintf(c->err, c->errlen, "invalid JSON at offset %zu: %s", end,
                 json_tokener_error_desc(e));
        return -1;
    }
    if (end < len) {
        json_object_put(obj);
        snprintf(c->err, c->errlen, "invalid JSON at offset %zu: unexpected data after the value",
                 end);
        return -1;
    }
    *out = obj;
    return 0;
}

static int reparse_big_integers(struct conv *c, const char *json, size_t len, json_object **root)
{
    size_t wide_len = widen_big_integers(json, len, NULL);
    json_object *obj;
    char *wide;
    int rc;

    if (wide_len == len)
        return 0;
    wide = malloc(wide_len);
    if (wide == NULL)
        return out_of_memory(c);
    widen_big_integers(json, len, wide);
    rc = parse_json(c, wide, wide_len, &obj);
    free(wide);
    if (rc < 0)
        return -1;
    json_object_put(*root);
    *root = obj;
    return 0;
}

/* ---- scalars ---- */

static int skip_digits(const char *s, size_t n, size_t *i)
{
    size_t start = *i;

    while (*i < n && s[*i] >= '0' && s[*i] <= '9')
        (*i)++;
    return *i > start;
}

/* Whether s[0..n) is a number as JSON writes them: strtod alone would also take
 * " 1", "0x10", "inf" and the like. */
static int is_json_number(const char *s, size_t n)
{
    size_t i = 0;

    if (i < n && s[i] == '-')
        i++;
    if (!skip_digits(s, n, &i))
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        if (!skip_digits(s, n, &i))
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!skip_digits(s, n, &i))
            return 0;
    }
    return i == n;
}

/* The exact integer a JSON number literal s[0..n) denotes, however it is written:
 * "1.7e18" is 1700000000000000000, "100e-2" is 1, "1.5" is not an integer. Works on the
 * digits, so that no value is rounded through a double. Returns NULL, or what is wrong. */
static const char *exact_integer(const char *s, size_t n, struct integer *out)
{
    size_t start = s[0] == '-' ? 1 : 0;
    size_t mantissa_end = start, last, i;
    const char *dot;
    long scale = 0, exponent = 0;
    uint64_t m = 0;

    while (mantissa_end < n && s[mantissa_end] != 'e' && s[mantissa_end] != 'E')
        mantissa_end++;
    if (mantissa_end < n) {
        int negative_exponent = s[mantissa_end + 1] == '-';

        for (i = mantissa_end + 1; i < n; i++) {
            /* Past any exponent that could matter; stopping here keeps it from overflowing. */
            if (s[i] >= '0' && s[i] <= '9' && exponent < 100000)
                exponent = exponent * 10 + (s[i] - '0');
        }
        if (negative_exponent)
            exponent = -exponent;
    }
    dot = memchr(s + start, '.', mantissa_end - start);
    scale = exponent;
    if (dot != NULL)
        scale -= (long)(s + mantissa_end - dot - 1);
    /* Trailing zeros, of the fraction or of the integer part, only move the scale. */
    last = mantissa_end;
    while (last > start && (s[last - 1] == '0' || s[last - 1] == '.')) {
        if (s[last - 1] == '0')
            scale++;
        last--;
    }
    out->negative = s[0] == '-';
    out->magnitude = 0;
    if (last == start) {
        out->negative = 0;
        return NULL;
    }
    if (scale < 0)
        return "not an integer";
    for (i = start; i < last; i++) {
        unsigned digit;

        if (s[i] == '.')
            continue;
        digit = (unsigned)(s[i] - '0');
        if (m > (UINT64_MAX - digit) / 10)
            return "value out of range";
        m = m * 10 + digit;
    }
    for (; scale > 0; scale--) {
        if (m > UINT64_MAX / 10)
            return "value out of range";
        m *= 10;
    }
    out->magnitude = m;
    return NULL;
}

/* Reads a JSON number or a string holding one; returns NULL, or what is wrong with it. */
static const char *read_integer(json_object *v, struct integer *out)
{
    const char *text;
    size_t n;

    switch (json_object_get_type(v)) {
    case json_type_int:
        /* json-c keeps negative values as int64 and the rest as uint64. */
        if (json_object_get_int64(v) < 0) {
            out->negative = 1;
            out->magnitude = (uint64_t)(-(json_object_get_int64(v) + 1)) + 1;
        } else {
            out->negative = 0;
            out->magnitude = json_object_get_uint64(v);
        }
        return NULL;
    case json_type_double:
        /* json-c keeps the literal as it was written; the double may have rounded it. */
        text = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &n);
        if (text == NULL)
            return "out of memory";
        if (!is_json_number(text, n))
            return "not an integer";
        return exact_integer(text, n, out);
    case json_type_string:
        text = json_object_get_string(v);
        n = (size_t)json_object_get_string_len(v);
        if (!is_json_number(text, n))
            return "invalid integer string";
        return exact_integer(text, n, out);
    default:
        return "expected an integer";
    }
}

static int read_unsigned(struct conv *c, json_object *v, const struct path *at, uint64_t max,
                         uint64_t *out)
{
    struct integer n;
    const char *problem = read_integer(v, &n);

    if (problem != NULL)
        return fail(c, at, problem);
    if (n.negative)
        return fail(c, at, "negative value for an unsigned field");
    if (n.magnitude > max)
        return fail(c, at, "value out of range");
    *out = n.magnitude;
    return 0;
}

static int read_signed(struct conv *c, json_object *v, const struct path *at, int64_t min,
                       int64_t max, int64_t *out)
{
    struct integer n;
    const char *problem = read_integer(v, &n);

    if (problem != NULL)
        return fail(c, at, problem);
    /* A negative magnitude is at least 1; working with magnitude - 1 keeps INT64_MIN
     * within reach without overflow. */
    if (n.negative) {
        if (n.magnitude - 1 > (uint64_t)(-(min + 1)))
            return fail(c, at, "value out of range");
        *out = -(int64_t)(n.magnitude - 1) - 1;
    } else {
        if (n.magnitude > (uint64_t)max)
            return fail(c, at, "value out of range");
        *out = (int64_t)n.magnitude;
    }
    return 0;
}

static int read_double(struct conv *c, json_object *v, const struct path *at, double *out)
{
    const char *s;
    size_t n;

    switch (json_object_get_type(v)) {
    case json_type_int:
        if (json_object_get_int64(v) < 0)
            *out = (double)json_object_get_int64(v);
        else
            *out = (double)json_object_get_uint64(v);
        return 0;
    case json_type_double:
        /* Only json-c's leniency (NaN and Infinity literals) or an overflowing literal
         * such as 1e999 gets here with no finite value. */
        *out = json_object_get_double(v);
        if (!isfinite(*out))
            return fail(c, at, "number out of range");
        return 0;
    case json_type_string:
        s = json_object_get_string(v);
        n = (size_t)json_object_get_string_len(v);
        if (strcmp(s, "NaN") == 0 && n == 3) {
            *out = NAN;
            return 0;
        }
        if (strcmp(s, "Infinity") == 0 && n == 8) {
            *out = INFINITY;
            return 0;
        }
        if (strcmp(s, "-Infinity") == 0 && n == 9) {
            *out = -INFINITY;
            return 0;
        }
        if (!is_json_number(s, n))
            return fail(c, at, "invalid number string");
        *out = strtod(s, NULL);
        if (!isfinite(*out))
            return fail(c, at, "number out of range");
        return 0;
    default:
        return fail(c, at, "expected a number");
    }
}

static int read_bool(struct conv *c, json_object *v, const struct path *at, protobuf_c_boolean *out)
{
    if (!json_object_is_type(v, json_type_boolean))
        return fail(c, at, "expected true or false");
    *out = json_object_get_boolean(v) ? 1 : 0;
    return 0;
}

static int read_string(struct conv *c, json_object *v, const struct path *at, char **out)
{
    const char *s;
    size_t n;
    char *copy;

    if (!json_object_is_type(v, json_type_string))
        return fail(c, at, "expected a string");
    s = json_object_get_string(v);
    n = (size_t)json_object_get_string_len(v);
    /* protobuf-c strings end at the first NUL: one inside would cut the value short. */
    if (memchr(s, '\0', n) != NULL)
        return fail(c, at, "string contains a NUL character");
    copy = arena_alloc(&c->arena, n + 1);
    if (copy == NULL)
        return out_of_memory(c);
    memcpy(copy, s, n);
    copy[n] = '\0';
    *out = copy;
    return 0;
}

static int read_hex(struct conv *c, json_object *v, const struct path *at, ProtobufCBinaryData *out)
{
    const char *s;
    size_t n, i;
    uint8_t *data;

    if (!json_object_is_type(v, json_type_string))
        return fail(c, at, "expected a hex string");
    s = json_object_get_string(v);
    n = (size_t)json_object_get_string_len(v);
    if (n % 2 != 0)
        return fail(c, at, "invalid hex string: odd length");
    data = arena_alloc(&c->arena, n / 2);
    if (data == NULL)
        return out_of_memory(c);
    for (i = 0; i < n / 2; i++) {
        int hi = codec_hex_value(s[2 * i]);
        int lo = codec_hex_value(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return fail(c, at, "invalid hex string");
        data[i] = (uint8_t)(hi << 4 | lo);
    }
    out->data = n > 0 ? data : NULL;
    out->len = n / 2;
    return 0;
}

static int read_base64(struct conv *c, json_object *v, const struct path *at,
                       ProtobufCBinaryData *out)
{
    const char *s;
    size_t n;
    long decoded;
    uint8_t *data;

    if (!json_object_is_type(v, json_type_string))
        return fail(c, at, "expected a base64 string");
    s = json_object_get_string(v);
    n = (size_t)json_object_get_string_len(v);
    /* Padding is optional, but when present it completes the last group of four. */
    if (n % 4 == 0 && n > 0 && s[n - 1] == '=') {
        n--;
        if (s[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1)
        return fail(c, at, "invalid base64 string");
    data = arena_alloc(&c->arena, n / 4 * 3 + 2);
    if (data == NULL)
        return out_of_memory(c);
    decoded = codec_base64_decode((const uint8_t *)s, n, data);
    if (decoded < 0)
        return fail(c, at, "invalid base64 string");
    out->data = decoded > 0 ? data : NULL;
    out->len = (size_t)decoded;
    return 0;
}

/* Index in names is the value; any int32 is taken too, as proto3 enums are open. */
static int read_enum(struct conv *c, json_object *v, const struct path *at,
                     const char *const *names, size_t count, int *out)
{
    int64_t n;
    size_t i;

    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);

        for (i = 0; i < count; i++) {
            if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
                *out = (int)i;
                return 0;
            }
        }
        return fail(c, at, "unknown enum value name");
    }
    if (read_signed(c, v, at, INT32_MIN, INT32_MAX, &n) < 0)
        return -1;
    *out = (int)n;
    return 0;
}

/* ---- fields ---- */

/* Finds a field by its lowerCamelCase name (at->key) or its proto name; a null value
 * is the same as none. */
static int lookup(struct conv *c, json_object *obj, const struct path *at, const char *proto_name,
                  json_object **out)
{
    json_object *camel = NULL, *snake = NULL;

    json_object_object_get_ex(obj, at->key, &camel);
    if (strcmp(proto_name, at->key) != 0)
        json_object_object_get_ex(obj, proto_name, &snake);
    if (camel != NULL && snake != NULL)
        return fail(c, at, "given twice, in camelCase and in snake_case");
    *out = camel != NULL ? camel : snake;
    return 0;
}

static int string_field(struct conv *c, json_object *obj, const struct path *at, const char *name,
                        const char *proto_name, char **out)
{
    struct path p = path_key(at, name);
    json_object *v;

    if (lookup(c, obj, &p, proto_name, &v) < 0)
        return -1;
    return v != NULL ? read_string(c, v, &p, out) : 0;
}

static int hex_field(struct conv *c, json_object *obj, const struct path *at, const char *name,
                     const char *proto_name, ProtobufCBinaryData *out)
{
    struct path p = path_key(at, name);
    json_object *v;

    if (lookup(c, obj, &p, proto_name, &v) < 0)
        return -1;
    return v != NULL ? read_hex(c, v, &p, out) : 0;
}

static int uint32_field(struct conv *c, json_object *obj, const struct path *at, const char *name,
                        const char *proto_name, uint32_t *out)
{
    struct path p = path_key(at, name);
    json_object *v;
    uint64_t n;

    if (lookup(c, obj, &p, proto_name, &v) < 0)
        return -1;
    if (v == NULL)
        return 0;
    if (read_unsigned(c, v, &p, UINT32_MAX, &n) < 0)
        return -1;
    *out = (uint32_t)n;
    return 0;
}

static int uint64_field(struct conv *c, json_object *obj, const struct path *at, const char *name,
                        const char *proto_name, uint64_t *out)
{
    struct path p = path_key(at, name);
    json_object *v;

    if (lookup(c, obj, &p, proto_name, &v) < 0)
        return -1;
    return v != NULL ? read_unsigned(c, v, &p, UINT64_MAX, out) : 0;
}

static int enum_field(struct conv *c, json_object *obj, const struct path *at, const char *name,
                      const char *const *names, size_t count, int *out)
{
    struct path p = path_key(at, name);
    json_object *v;

    if (lookup(c, obj, &p, name, &v) < 0)
        return -1;
    return v != NULL ? read_enum(c, v, &p, names, count, out) : 0;
}

/* Finds a list field; an absent one is an empty list. */
static int list_field(struct conv *c, json_object *obj, const struct path *at,
                      const char *proto_name, json_object **list, size_t *n)
{
    if (lookup(c, obj, at, proto_name, list) < 0)
        return -1;
    *n = 0;
    if (*list == NULL)
        return 0;
    if (!json_object_is_type(*list, json_type_array))
        return fail(c, at, "expected an array");
    *n = json_object_array_length(*list);
    return 0;
}

static int string_list_field(struct conv *c, json_object *obj, const struct path *at,
                             const char *name, const char *proto_name, size_t *n, char ***out)
{
    struct path p = path_key(at, name);
    json_object *list;
    size_t i;

    if (list_field(c, obj, &p, proto_name, &list, n) < 0)
        return -1;
    *out = alloc_array(c, *n, sizeof **out);
    if (*out == NULL)
        return out_of_memory(c);
    for (i = 0; i < *n; i++) {
        struct path e = path_index(&p, i);

        if (read_string(c, json_object_array_get_idx(list, i), &e, &(*out)[i]) < 0)
            return -1;
    }
    return 0;
}

static int expect_object(struct conv *c, json_object *v, const struct path *at)
{
    if (!json_object_is_type(v, json_type_object))
        return fail(c, at, "expected an object");
    return 0;
}

/* ---- common messages ---- */

static int conv_key_value(struct conv *c, json_object *v, const struct path *at, int depth,
                          KeyValue **out)
{
    struct path p = path_key(at, "value");
    json_object *value;
    KeyValue *kv;

    if (expect_object(c, v, at) < 0)
        return -1;
    kv = arena_alloc(&c->arena, sizeof *kv);
    if (kv == NULL)
        return out_of_memory(c);
    opentelemetry__proto__common__v1__key_value__init(kv);
    if (string_field(c, v, at, "key", "key", &kv->key) < 0)
        return -1;
    if (lookup(c, v, &p, "value", &value) < 0)
        return -1;
    if (value != NULL && conv_any_value(c, value, &p, depth, &kv->value) < 0)
        return -1;
    *out = kv;
    return 0;
}

/* A list of KeyValue, such as attributes; depth is that of the values in it. */
static int key_values_field(struct conv *c, json_object *obj, const struct path *at,
                            const char *name, const char *proto_name, int depth, size_t *n,
                            KeyValue ***out)
{
    struct path p = path_key(at, name);
    json_object *list;
    size_t i;

    if (list_field(c, obj, &p, proto_name, &list, n) < 0)
        return -1;
    *out = alloc_array(c, *n, sizeof **out);
    if (*out == NULL)
        return out_of_memory(c);
    for (i = 0; i < *n; i++) {
        struct path e = path_index(&p, i);

        if (conv_key_value(c, json_object_array_get_idx(list, i), &e, depth, &(*out)[i]) < 0)
            return -1;
    }
    return 0;
}

static int attributes_field(struct conv *c, json_object *obj, const struct path *at, size_t *n,
                            KeyValue ***out)
{
    return key_values_field(c, obj, at, "attributes", "attributes", 1, n, out);
}

static int conv_array_value(struct conv *c, json_object *v, const struct path *at, int depth,
                            ArrayValue **out)
{
    struct path p = path_key(at, "values");
    json_object *list;
    ArrayValue *arr;
    size_t i;

    if (expect_object(c, v, at) < 0)
        return -1;
    arr = arena_alloc(&c->arena, sizeof *arr);
    if (arr == NULL)
        return out_of_memory(c);
    opentelemetry__proto__common__v1__array_value__init(arr);
    if (list_field(c, v, &p, "values", &list, &arr->n_values) < 0)
        return -1;
    arr->values = alloc_array(c, arr->n_values, sizeof *arr->values);
    if (arr->values == NULL)
        return out_of_memory(c);
    for (i = 0; i < arr->n_values; i++) {
        struct path e = path_index(&p, i);

        if (conv_any_value(c, json_object_array_get_idx(list, i), &e, depth + 1,
                           &arr->values[i]) < 0)
            return -1;
    }
    *out = arr;
    return 0;
}

static int conv_kvlist_value(struct conv *c, json_object *v, const struct path *at, int depth,
                             KeyValueList **out)
{
    KeyValueList *kvl;

    if (expect_object(c, v, at) < 0)
        return -1;
    kvl = arena_alloc(&c->arena, sizeof *kvl);
    if (kvl == NULL)
        return out_of_memory(c);
    opentelemetry__proto__common__v1__key_value_list__init(kvl);
    if (key_values_field(c, v, at, "values", "values", depth + 1, &kvl->n_values,
                         &kvl->values) < 0)
        return -1;
    *out = kvl;
    return 0;
}

/* Looks up one member of AnyValue's oneof; finding a second is an error, as in ProtoJSON. */
static int value_member(struct conv *c, json_object *obj, const struct path *at,
                        const char *proto_name, AnyValue *av, ValueCase which, json_object **out)
{
    if (lookup(c, obj, at, proto_name, out) < 0)
        return -1;
    if (*out == NULL)
        return 0;
    if (av->value_case != OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET)
        return fail(c, at->up, "more than one value set");
    av->value_case = which;
    return 0;
}

static int conv_any_value(struct conv *c, json_object *v, const struct path *at, int depth,
                          AnyValue **out)
{
    struct path p;
    json_object *f;
    AnyValue *av;

    if (depth > OTLP_JSON_MAX_VALUE_DEPTH)
        return fail(c, at, "values nested too deeply");
    if (expect_object(c, v, at) < 0)
        return -1;
    av = arena_alloc(&c->arena, sizeof *av);
    if (av == NULL)
        return out_of_memory(c);
    opentelemetry__proto__common__v1__any_value__init(av);

    p = path_key(at, "stringValue");
    if (value_member(c, v, &p, "string_value", av,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE, &f) < 0)
        return -1;
    if (f != NULL && read_string(c, f, &p, &av->string_value) < 0)
        return -1;

    p = path_key(at, "boolValue");
    if (value_member(c, v, &p, "bool_value", av,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE, &f) < 0)
        return -1;
    if (f != NULL && read_bool(c, f, &p, &av->bool_value) < 0)
        return -1;

    p = path_key(at, "intValue");
    if (value_member(c, v, &p, "int_value", av,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE, &f) < 0)
        return -1;
    if (f != NULL && read_signed(c, f, &p, INT64_MIN, INT64_MAX, &av->int_value) < 0)
        return -1;

    p = path_key(at, "doubleValue");
    if (value_member(c, v, &p, "double_value", av,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE, &f) < 0)
        return -1;
    if (f != NULL && read_double(c, f, &p, &av->double_value) < 0)
        return -1;

    p = path_key(at, "arrayValue");
    if (value_member(c, v, &p, "array_value", av,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE, &f) < 0)
        return -1;
    if (f != NULL && conv_array_value(c, f, &p, depth, &av->array_value) < 0)
        return -1;

    p = path_key(at, "kvlistValue");
    if (value_member(c, v, &p, "kvlist_value", av,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE, &f) < 0)
        return -1;
    if (f != NULL && conv_kvlist_value(c, f, &p, depth, &av->kvlist_value) < 0)
        return -1;

    p = path_key(at, "bytesValue");
    if (value_member(c, v, &p, "bytes_value", av,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE, &f) < 0)
        return -1;
    if (f != NULL && read_base64(c, f, &p, &av->bytes_value) < 0)
        return -1;

    *out = av;
    return 0;
}

static int conv_entity_ref(struct conv *c, json_object *v, const struct path *at, EntityRef **out)
{
    EntityRef *ref;

    if (expect_object(c, v, at) < 0)
        return -1;
    ref = arena_alloc(&c->arena, sizeof *ref);
    if (ref == NULL)
        return out_of_memory(c);
    opentelemetry__proto__common__v1__entity_ref__init(ref);
    if (string_field(c, v, at, "schemaUrl", "schema_url", &ref->schema_url) < 0
        || string_field(c, v, at, "type", "type", &ref->type) < 0
        || string_list_field(c, v, at, "idKeys", "id_keys", &ref->n_id_keys, &ref->id_keys) < 0
        || string_list_field(c, v, at, "descriptionKeys", "description_keys",
                             &ref->n_description_keys, &ref->description_keys) < 0)
        return -1;
    *out = ref;
    return 0;
}

static int conv_resource(struct conv *c, json_object *v, const struct path *at, Resource **out)
{
    struct path p = path_key(at, "entityRefs");
    json_object *list;
    Resource *res;
    size_t i;

    if (expect_object(c, v, at) < 0)
        return -1;
    res = arena_alloc(&c->arena, sizeof *res);
    if (res == NULL)
        return out_of_memory(c);
    opentelemetry__proto__resource__v1__resource__init(res);
    if (attributes_field(c, v, at, &res->n_attributes, &res->attributes) < 0
        || uint32_field(c, v, at, "droppedAttributesCount", "dropped_attributes_count",
                        &res->dropped_attributes_count) < 0
        || list_field(c, v, &p, "entity_refs", &list, &res->n_entity_refs) < 0)
        return -1;
    res->entity_refs = alloc_array(c, res->n_entity_refs, sizeof *res->entity_refs);
    if (res->entity_refs == NULL)
        return out_of_memory(c);
    for (i = 0; i < res->n_entity_refs; i++) {
        struct path e = path_index(&p, i);

        if (conv_entity_ref(c, json_object_array_get_idx(list, i), &e, &res->entity_refs[i]) < 0)
            return -1;
    }
    *out = res;
    return 0;
}

static int conv_scope(struct conv *c, json_object *v, const struct path *at, Scope **out)
{
    Scope *scope;

    if (expect_object(c, v, at) < 0)
        return -1;
    scope = arena_alloc(&c->arena, sizeof *scope);
    if (scope == NULL)
        return out_of_memory(c);
    opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
    if (string_field(c, v, at, "name", "name", &scope->name) < 0
        || string_field(c, v, at, "version", "version", &scope->version) < 0
        || attributes_field(c, v, at, &scope->n_attributes, &scope->attributes) < 0
        || uint32_field(c, v, at, "droppedAttributesCount", "dropped_attributes_count",
                        &scope->dropped_attributes_count) < 0)
        return -1;
    *out = scope;
    return 0;
}

/* ---- trace messages ---- */

static int conv_status(struct conv *c, json_object *v, const struct path *at, Status **out)
{
    Status *status;
    int code = 0;

    if (expect_object(c, v, at) < 0)
        return -1;
    status = arena_alloc(&c->arena, sizeof *status);
    if (status == NULL)
        return out_of_memory(c);
    opentelemetry__proto__trace__v1__status__init(status);
    if (string_field(c, v, at, "message", "message", &status->message) < 0
        || enum_field(c, v, at, "code", status_code_names,
                      sizeof status_code_names / sizeof *status_code_names, &code) < 0)
        return -1;
    status->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)code;
    *out = status;
    return 0;
}

static int conv_event(struct conv *c, json_object *v, const struct path *at, Event **out)
{
    Event *event;

    if (expect_object(c, v, at) < 0)
        return -1;
    event = arena_alloc(&c->arena, sizeof *event);
    if (event == NULL)
        return out_of_memory(c);
    opentelemetry__proto__trace__v1__span__event__init(event);
    if (uint64_field(c, v, at, "timeUnixNano", "time_unix_nano", &event->time_unix_nano) < 0
        || string_field(c, v, at, "name", "name", &event->name) < 0
        || attributes_field(c, v, at, &event->n_attributes, &event->attributes) < 0
        || uint32_field(c, v, at, "droppedAttributesCount", "dropped_attributes_count",
                        &event->dropped_attributes_count) < 0)
        return -1;
    *out = event;
    return 0;
}

static int conv_link(struct conv *c, json_object *v, const struct path *at, Link **out)
{
    Link *link;

    if (expect_object(c, v, at) < 0)
        return -1;
    link = arena_alloc(&c->arena, sizeof *link);
    if (link == NULL)
        return out_of_memory(c);
    opentelemetry__proto__trace__v1__span__link__init(link);
    if (hex_field(c, v, at, "traceId", "trace_id", &link->trace_id) < 0
        || hex_field(c, v, at, "spanId", "span_id", &link->span_id) < 0
        || string_field(c, v, at, "traceState", "trace_state", &link->trace_state) < 0
        || attributes_field(c, v, at, &link->n_attributes, &link->attributes) < 0
        || uint32_field(c, v, at, "droppedAttributesCount", "dropped_attributes_count",
                        &link->dropped_attributes_count) < 0
        || uint32_field(c, v, at, "flags", "flags", &link->flags) < 0)
        return -1;
    *out = link;
    return 0;
}

static int span_events(struct conv *c, json_object *v, const struct path *at, Span *span)
{
    struct path p = path_key(at, "events");
    json_object *list;
    size_t i;

    if (list_field(c, v, &p, "events", &list, &span->n_events) < 0)
        return -1;
    span->events = alloc_array(c, span->n_events, sizeof *span->events);
    if (span->events == NULL)
        return out_of_memory(c);
    for (i = 0; i < span->n_events; i++) {
        struct path e = path_index(&p, i);

        if (conv_event(c, json_object_array_get_idx(list, i), &e, &span->events[i]) < 0)
            return -1;
    }
    return 0;
}

static int span_links(struct conv *c, json_object *v, const struct path *at, Span *span)
{
    struct path p = path_key(at, "links");
    json_object *list;
    size_t i;

    if (list_field(c, v, &p, "links", &list, &span->n_links) < 0)
        return -1;
    span->links = alloc_array(c, span->n_links, sizeof *span->links);
    if (span->links == NULL)
        return out_of_memory(c);
    for (i = 0; i < span->n_links; i++) {
        struct path e = path_index(&p, i);

        if (conv_link(c, json_object_array_get_idx(list, i), &e, &span->links[i]) < 0)
            return -1;
    }
    return 0;
}

static int span_status(struct conv *c, json_object *v, const struct path *at, Span *span)
{
    struct path p = path_key(at, "status");
    json_object *status;

    if (lookup(c, v, &p, "status", &status) < 0)
        return -1;
    return status != NULL ? conv_status(c, status, &p, &span->status) : 0;
}

static int conv_span(struct conv *c, json_object *v, const struct path *at, Span **out)
{
    Span *span;
    int kind = 0;

    if (expect_object(c, v, at) < 0)
        return -1;
    span = arena_alloc(&c->arena, sizeof *span);
    if (span == NULL)
        return out_of_memory(c);
    opentelemetry__proto__trace__v1__span__init(span);
    if (hex_field(c, v, at, "traceId", "trace_id", &span->trace_id) < 0
        || hex_field(c, v, at, "spanId", "span_id", &span->span_id) < 0
        || string_field(c, v, at, "traceState", "trace_state", &span->trace_state) < 0
        || hex_field(c, v, at, "parentSpanId", "parent_span_id", &span->parent_span_id) < 0
        || uint32_field(c, v, at, "flags", "flags", &span->flags) < 0
        || string_field(c, v, at, "name", "name", &span->name) < 0
        || enum_field(c, v, at, "kind", span_kind_names,
                      sizeof span_kind_names / sizeof *span_kind_names, &kind) < 0
        || uint64_field(c, v, at, "startTimeUnixNano", "start_time_unix_nano",
                        &span->start_time_unix_nano) < 0
        || uint64_field(c, v, at, "endTimeUnixNano", "end_time_unix_nano",
                        &span->end_time_unix_nano) < 0
        || attributes_field(c, v, at, &span->n_attributes, &span->attributes) < 0
        || uint32_field(c, v, at, "droppedAttributesCount", "dropped_attributes_count",
                        &span->dropped_attributes_count) < 0
        || span_events(c, v, at, span) < 0
        || uint32_field(c, v, at, "droppedEventsCount", "dropped_events_count",
                        &span->dropped_events_count) < 0
        || span_links(c, v, at, span) < 0
        || uint32_field(c, v, at, "droppedLinksCount", "dropped_links_count",
                        &span->dropped_links_count) < 0
        || span_status(c, v, at, span) < 0)
        return -1;
    span->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)kind;
    *out = span;
    return 0;
}

static int conv_scope_spans(struct conv *c, json_object *v, const struct path *at,
                            ScopeSpans **out)
{
    struct path scope_path = path_key(at, "scope");
    struct path spans_path = path_key(at, "spans");
    json_object *scope, *list;
    ScopeSpans *ss;
    size_t i;

    if (expect_object(c, v, at) < 0)
        return -1;
    ss = arena_alloc(&c->arena, sizeof *ss);
    if (ss == NULL)
        return out_of_memory(c);
    opentelemetry__proto__trace__v1__scope_spans__init(ss);
    if (lookup(c, v, &scope_path, "scope", &scope) < 0)
        return -1;
    if (scope != NULL && conv_scope(c, scope, &scope_path, &ss->scope) < 0)
        return -1;
    if (string_field(c, v, at, "schemaUrl", "schema_url", &ss->schema_url) < 0
        || list_field(c, v, &spans_path, "spans", &list, &ss->n_spans) < 0)
        return -1;
    ss->spans = alloc_array(c, ss->n_spans, sizeof *ss->spans);
    if (ss->spans == NULL)
        return out_of_memory(c);
    for (i = 0; i < ss->n_spans; i++) {
        struct path e = path_index(&spans_path, i);

        if (conv_span(c, json_object_array_get_idx(list, i), &e, &ss->spans[i]) < 0)
            return -1;
    }
    *out = ss;
    return 0;
}

static int conv_resource_spans(struct conv *c, json_object *v, const struct path *at,
                               ResourceSpans **out)
{
    struct path resource_path = path_key(at, "resource");
    struct path scopes_path = path_key(at, "scopeSpans");
    json_object *resource, *list;
    ResourceSpans *rs;
    size_t i;

    if (expect_object(c, v, at) < 0)
        return -1;
    rs = arena_alloc(&c->arena, sizeof *rs);
    if (rs == NULL)
        return out_of_memory(c);
    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    if (lookup(c, v, &resource_path, "resource", &resource) < 0)
        return -1;
    if (resource != NULL && conv_resource(c, resource, &resource_path, &rs->resource) < 0)
        return -1;
    if (string_field(c, v, at, "schemaUrl", "schema_url", &rs->schema_url) < 0
        || list_field(c, v, &scopes_path, "scope_spans", &list, &rs->n_scope_spans) < 0)
        return -1;
    rs->scope_spans = alloc_array(c, rs->n_scope_spans, sizeof *rs->scope_spans);
    if (rs->scope_spans == NULL)
        return out_of_memory(c);
    for (i = 0; i < rs->n_scope_spans; i++) {
        struct path e = path_index(&scopes_path, i);

        if (conv_scope_spans(c, json_object_array_get_idx(list, i), &e, &rs->scope_spans[i]) < 0)
            return -1;
    }
    *out = rs;
    return 0;
}

static int conv_request(struct conv *c, json_object *root, Request **out)
{
    struct path p = path_key(NULL, "resourceSpans");
    json_object *list;
    Request *req;
    size_t i;

    if (!json_object_is_type(root, json_type_object))
        return fail(c, NULL, "request must be a JSON object");
    req = arena_alloc(&c->arena, sizeof *req);
    if (req == NULL)
        return out_of_memory(c);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(req);
    if (list_field(c, root, &p, "resource_spans", &list, &req->n_resource_spans) < 0)
        return -1;
    req->resource_spans = alloc_array(c, req->n_resource_spans, sizeof *req->resource_spans);
    if (req->resource_spans == NULL)
        return out_of_memory(c);
    for (i = 0; i < req->n_resource_spans; i++) {
        struct path e = path_index(&p, i);

        if (conv_resource_spans(c, json_object_array_get_idx(list, i), &e,
                                &req->resource_spans[i]) < 0)
            return -1;
    }
    *out = req;
    return 0;
}

static int pack(struct conv *c, const Request *req, uint8_t **out, size_t *out_len)
{
    size_t n =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(req);
    uint8_t *buf = malloc(n > 0 ? n : 1);

    if (buf == NULL)
        return out_of_memory(c);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(req, buf);
    *out = buf;
    *out_len = n;
    return 0;
}

int otlp_json_to_proto(const char *json, size_t len, uint8_t **out, size_t *out_len,
                       char *err, size_t errlen)
{
    struct conv c = { NULL, err, errlen };
    json_object *root = NULL;
    Request *req = NULL;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (errlen > 0)
        err[0] = '\0';
    rc = parse_json(&c, json, len, &root);
    if (rc == 0)
        rc = reparse_big_integers(&c, json, len, &root);
    if (rc == 0)
        rc = conv_request(&c, root, &req);
    if (rc == 0)
        rc = pack(&c, req, out, out_len);
    json_object_put(root);
    arena_free(c.arena);
    return rc;
}

/* ---- answers ---- */

/* Adds value to obj, which then owns it; value NULL means its creation failed. */
static int add(json_object *obj, const char *key, json_object *value)
{
    if (value == NULL)
        return -1;
    if (json_object_object_add(obj, key, value) != 0) {
        json_object_put(value);
        return -1;
    }
    return 0;
}

static int has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static int write_json(json_object *obj, char **out, size_t *out_len)
{
    size_t n;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *copy;

    if (s == NULL)
        return -1;
    copy = malloc(n + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, s, n + 1);
    *out = copy;
    *out_len = n;
    return 0;
}

int otlp_json_response(int64_t rejected_spans, const char *error_message,
                       char **out, size_t *out_len)
{
    json_object *root = json_object_new_object();
    json_object *partial = NULL;
    char count[32];
    int rc = root != NULL ? 0 : -1;

    *out = NULL;
    *out_len = 0;
    if (rc == 0 && (rejected_spans != 0 || has_text(error_message))) {
        partial = json_object_new_object();
        rc = add(root, "partialSuccess", partial);
    }
    if (rc == 0 && rejected_spans != 0) {
        snprintf(count, sizeof count, "%" PRId64, rejected_spans);
        rc = add(partial, "rejectedSpans", json_object_new_string(count));
    }
    if (rc == 0 && has_text(error_message))
        rc = add(partial, "errorMessage", json_object_new_string(error_message));
    if (rc == 0)
        rc = write_json(root, out, out_len);
    json_object_put(root);
    return rc;
}

int otlp_json_status(int code, const char *message, char **out, size_t *out_len)
{
    json_object *root = json_object_new_object();
    int rc = root != NULL ? 0 : -1;

    *out = NULL;
    *out_len = 0;
    if (rc == 0)
        rc = add(root, "code", json_object_new_int(code));
    if (rc == 0 && has_text(message))
        rc = add(root, "message", json_object_new_string(message));
    if (rc == 0)
        rc = write_json(root, out, out_len);
    json_object_put(root);
    return rc;
}
