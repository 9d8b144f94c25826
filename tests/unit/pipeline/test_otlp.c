/* test_otlp.c — the OTLP wire walk (daemon/pipeline/otlp.c).
 *
 * Random requests are built as protobuf-c structs, packed, rewritten, and the result
 * decoded again with protobuf-c; what it must contain is computed from the input
 * structs alone (validity, sampler decision, attributes to add) and compared field by
 * field. Malformed requests are built by hand with a small encoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "pipeline/otlp.h"
#include "pipeline/sampler.h"
#include "unit.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__EntityRef EntityRef;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KeyValueList;

#define REQUEST_DESC opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor

/* ---- allocation: everything a test builds is freed at its end ---- */

static void **arena;
static size_t arena_n, arena_cap;

static void *alloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    ck_assert_ptr_nonnull(p);
    if (arena_n == arena_cap) {
        arena_cap = arena_cap ? arena_cap * 2 : 256;
        arena = realloc(arena, arena_cap * sizeof *arena);
        ck_assert_ptr_nonnull(arena);
    }
    arena[arena_n++] = p;
    return p;
}

static void arena_free(void)
{
    for (size_t i = 0; i < arena_n; i++)
        free(arena[i]);
    free(arena);
    arena = NULL;
    arena_n = arena_cap = 0;
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s);
    char *p = alloc(n + 1);
    memcpy(p, s, n);
    return p;
}

/* ---- a seeded generator ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static int chance(int percent)
{
    return rnd_below(100) < (uint32_t)percent;
}

/* ---- packing and unpacking ---- */

static uint8_t *pack_request(const Request *req, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *buf = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(protobuf_c_message_pack(&req->base, buf), *len);
    return buf;
}

static Request *unpack_request(const uint8_t *buf, size_t len)
{
    return (Request *)protobuf_c_message_unpack(&REQUEST_DESC, NULL, len, buf);
}

/* ---- random content ---- */

static char *random_string(int max)
{
    static const char *const pieces[] = {
        "a", "b", "z", "0", "_", ".", "-", " ", "/", "é", "ß", "日本", "😀", "Ω",
    };
    int n = (int)rnd_below((uint32_t)max + 1);
    char *s = alloc((size_t)n * 6 + 1);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char *piece = pieces[rnd_below(sizeof pieces / sizeof pieces[0])];
        memcpy(s + len, piece, strlen(piece));
        len += strlen(piece);
    }
    s[len] = '\0';
    return s;
}

static ProtobufCBinaryData random_bytes(size_t len)
{
    ProtobufCBinaryData b = {len, alloc(len)};
    for (size_t i = 0; i < len; i++)
        b.data[i] = (uint8_t)rnd();
    return b;
}

static KeyValue *random_key_value(int depth);

static AnyValue *random_any_value(int depth)
{
    AnyValue *v = alloc(sizeof *v);
    opentelemetry__proto__common__v1__any_value__init(v);
    int kinds = depth < 3 ? 9 : 6;

    switch (rnd_below((uint32_t)kinds)) {
    case 0:
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        v->string_value = random_string(12);
        break;
    case 1:
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
        v->bool_value = chance(50);
        break;
    case 2:
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
        v->int_value = (int64_t)rnd() >> rnd_below(64);
        break;
    case 3:
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
        v->double_value = ((double)(int64_t)rnd()) / 1e6;
        break;
    case 4:
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
        v->bytes_value = random_bytes(rnd_below(20));
        break;
    case 5:
        break; /* value not set */
    case 6: {
        ArrayValue *a = alloc(sizeof *a);
        opentelemetry__proto__common__v1__array_value__init(a);
        a->n_values = rnd_below(4);
        a->values = alloc(a->n_values * sizeof *a->values);
        for (size_t i = 0; i < a->n_values; i++)
            a->values[i] = random_any_value(depth + 1);
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
        v->array_value = a;
        break;
    }
    default: {
        KeyValueList *l = alloc(sizeof *l);
        opentelemetry__proto__common__v1__key_value_list__init(l);
        l->n_values = rnd_below(4);
        l->values = alloc(l->n_values * sizeof *l->values);
        for (size_t i = 0; i < l->n_values; i++)
            l->values[i] = random_key_value(depth + 1);
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
        v->kvlist_value = l;
        break;
    }
    }
    return v;
}

static KeyValue *random_key_value(int depth)
{
    KeyValue *kv = alloc(sizeof *kv);
    opentelemetry__proto__common__v1__key_value__init(kv);
    kv->key = random_string(10);
    if (!chance(5))
        kv->value = random_any_value(depth);
    return kv;
}

static KeyValue **random_attributes(size_t *n, uint32_t max)
{
    *n = rnd_below(max + 1);
    KeyValue **kvs = alloc(*n * sizeof *kvs);
    for (size_t i = 0; i < *n; i++)
        kvs[i] = random_key_value(0);
    return kvs;
}

/* Keys the enrichment options use, so resources sometimes have them already. */
static const char *const known_keys[] = {
    "service.name", "deployment.environment", "k8s.pod.name", "host.name",
};

static Resource *random_resource(void)
{
    if (chance(15))
        return NULL;
    Resource *r = alloc(sizeof *r);
    opentelemetry__proto__resource__v1__resource__init(r);
    r->attributes = random_attributes(&r->n_attributes, 5);
    for (size_t i = 0; i < r->n_attributes; i++) {
        if (chance(35))
            r->attributes[i]->key = copy_string(known_keys[rnd_below(4)]);
    }
    if (chance(20))
        r->dropped_attributes_count = rnd_below(10);
    if (chance(20)) {
        r->n_entity_refs = 1;
        r->entity_refs = alloc(sizeof *r->entity_refs);
        EntityRef *e = alloc(sizeof *e);
        opentelemetry__proto__common__v1__entity_ref__init(e);
        e->type = random_string(6);
        e->schema_url = random_string(6);
        e->n_id_keys = 2;
        e->id_keys = alloc(2 * sizeof *e->id_keys);
        e->id_keys[0] = random_string(5);
        e->id_keys[1] = random_string(5);
        e->n_description_keys = 1;
        e->description_keys = alloc(sizeof *e->description_keys);
        e->description_keys[0] = random_string(5);
        r->entity_refs[0] = e;
    }
    return r;
}

static Scope *random_scope(void)
{
    if (chance(20))
        return NULL;
    Scope *s = alloc(sizeof *s);
    opentelemetry__proto__common__v1__instrumentation_scope__init(s);
    s->name = random_string(8);
    s->version = random_string(4);
    s->attributes = random_attributes(&s->n_attributes, 2);
    s->dropped_attributes_count = chance(10) ? 3 : 0;
    return s;
}

/* Trace ids are drawn from a pool, so a trace has spans in several places. */
#define TRACE_POOL 24
static uint8_t trace_pool[TRACE_POOL][16];

static void fill_trace_pool(void)
{
    for (int i = 0; i < TRACE_POOL; i++) {
        for (int k = 0; k < 16; k++)
            trace_pool[i][k] = (uint8_t)rnd();
    }
}

static ProtobufCBinaryData random_trace_id(void)
{
    ProtobufCBinaryData b;
    int roll = (int)rnd_below(100);
    if (roll < 2) {
        b.len = 0;
        b.data = NULL;
    } else if (roll < 4) {
        b = random_bytes(15);
    } else if (roll < 6) {
        b.len = 16;
        b.data = alloc(16);
    } else {
        b.len = 16;
        b.data = alloc(16);
        memcpy(b.data, trace_pool[rnd_below(TRACE_POOL)], 16);
    }
    return b;
}

static ProtobufCBinaryData random_span_id(void)
{
    int roll = (int)rnd_below(100);
    if (roll < 2)
        return random_bytes(7);
    if (roll < 4) {
        ProtobufCBinaryData b = {8, alloc(8)};
        return b;
    }
    ProtobufCBinaryData b = random_bytes(8);
    b.data[0] |= 1;
    return b;
}

static ProtobufCBinaryData random_parent_span_id(void)
{
    int roll = (int)rnd_below(100);
    if (roll < 3)
        return random_bytes(5);
    if (roll < 50) {
        ProtobufCBinaryData b = {0, NULL};
        return b;
    }
    return random_bytes(8);
}

static Span *random_span(void)
{
    Span *s = alloc(sizeof *s);
    opentelemetry__proto__trace__v1__span__init(s);
    s->trace_id = random_trace_id();
    s->span_id = random_span_id();
    s->parent_span_id = random_parent_span_id();
    if (chance(20))
        s->trace_state = random_string(6);
    s->name = random_string(16);
    s->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)rnd_below(6);
    s->start_time_unix_nano = rnd();
    s->end_time_unix_nano = rnd();
    s->flags = chance(50) ? (uint32_t)rnd() : 0;
    s->attributes = random_attributes(&s->n_attributes, 6);
    s->dropped_attributes_count = chance(10) ? rnd_below(100) : 0;

    s->n_events = rnd_below(3);
    s->events = alloc(s->n_events * sizeof *s->events);
    for (size_t i = 0; i < s->n_events; i++) {
        Event *e = alloc(sizeof *e);
        opentelemetry__proto__trace__v1__span__event__init(e);
        e->time_unix_nano = rnd();
        e->name = random_string(8);
        e->attributes = random_attributes(&e->n_attributes, 3);
        e->dropped_attributes_count = chance(10) ? 2 : 0;
        s->events[i] = e;
    }
    s->dropped_events_count = chance(10) ? 5 : 0;

    s->n_links = rnd_below(3);
    s->links = alloc(s->n_links * sizeof *s->links);
    for (size_t i = 0; i < s->n_links; i++) {
        Link *l = alloc(sizeof *l);
        opentelemetry__proto__trace__v1__span__link__init(l);
        l->trace_id = random_bytes(16);
        l->span_id = random_bytes(8);
        l->trace_state = random_string(5);
        l->attributes = random_attributes(&l->n_attributes, 2);
        l->dropped_attributes_count = chance(10) ? 1 : 0;
        l->flags = (uint32_t)rnd();
        s->links[i] = l;
    }
    s->dropped_links_count = chance(10) ? 7 : 0;

    if (chance(60)) {
        Status *st = alloc(sizeof *st);
        opentelemetry__proto__trace__v1__status__init(st);
        st->message = random_string(10);
        st->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)rnd_below(3);
        s->status = st;
    }
    return s;
}

static Request *random_request(uint32_t max_resources, uint32_t max_scopes, uint32_t max_spans)
{
    Request *req = alloc(sizeof *req);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(req);
    req->n_resource_spans = 1 + rnd_below(max_resources);
    req->resource_spans = alloc(req->n_resource_spans * sizeof *req->resource_spans);
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        ResourceSpans *rs = alloc(sizeof *rs);
        opentelemetry__proto__trace__v1__resource_spans__init(rs);
        rs->resource = random_resource();
        if (chance(30))
            rs->schema_url = random_string(10);
        rs->n_scope_spans = rnd_below(max_scopes + 1);
        rs->scope_spans = alloc(rs->n_scope_spans * sizeof *rs->scope_spans);
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            ScopeSpans *ss = alloc(sizeof *ss);
            opentelemetry__proto__trace__v1__scope_spans__init(ss);
            ss->scope = random_scope();
            if (chance(30))
                ss->schema_url = random_string(10);
            ss->n_spans = rnd_below(max_spans + 1);
            ss->spans = alloc(ss->n_spans * sizeof *ss->spans);
            for (size_t k = 0; k < ss->n_spans; k++)
                ss->spans[k] = random_span();
            rs->scope_spans[j] = ss;
        }
        req->resource_spans[i] = rs;
    }
    return req;
}

/* ---- field-by-field comparison; a mismatch says where ---- */

static int mismatch(const char *what)
{
    fprintf(stderr, "mismatch: %s\n", what);
    return 0;
}

static int same_bytes(ProtobufCBinaryData a, ProtobufCBinaryData b, const char *what)
{
    if (a.len != b.len || (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
        return mismatch(what);
    return 1;
}

static int same_string(const char *a, const char *b, const char *what)
{
    if (strcmp(a, b) != 0)
        return mismatch(what);
    return 1;
}

static int same_key_value(const KeyValue *a, const KeyValue *b);

static int same_any_value(const AnyValue *a, const AnyValue *b)
{
    if (a == NULL || b == NULL)
        return a == b ? 1 : mismatch("value presence");
    if (a->value_case != b->value_case)
        return mismatch("value case");
    switch (a->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        return same_string(a->string_value, b->string_value, "string_value");
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        return a->bool_value == b->bool_value ? 1 : mismatch("bool_value");
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        return a->int_value == b->int_value ? 1 : mismatch("int_value");
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        return memcmp(&a->double_value, &b->double_value, sizeof(double)) == 0
                   ? 1 : mismatch("double_value");
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        return same_bytes(a->bytes_value, b->bytes_value, "bytes_value");
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        if (a->array_value->n_values != b->array_value->n_values)
            return mismatch("array length");
        for (size_t i = 0; i < a->array_value->n_values; i++) {
            if (!same_any_value(a->array_value->values[i], b->array_value->values[i]))
                return 0;
        }
        return 1;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        if (a->kvlist_value->n_values != b->kvlist_value->n_values)
            return mismatch("kvlist length");
        for (size_t i = 0; i < a->kvlist_value->n_values; i++) {
            if (!same_key_value(a->kvlist_value->values[i], b->kvlist_value->values[i]))
                return 0;
        }
        return 1;
    default:
        return 1;
    }
}

static int same_key_value(const KeyValue *a, const KeyValue *b)
{
    return same_string(a->key, b->key, "key") && same_any_value(a->value, b->value);
}

static int same_attributes(size_t na, KeyValue *const *a, size_t nb, KeyValue *const *b)
{
    if (na != nb)
        return mismatch("attribute count");
    for (size_t i = 0; i < na; i++) {
        if (!same_key_value(a[i], b[i]))
            return 0;
    }
    return 1;
}

static int same_entity_ref(const EntityRef *a, const EntityRef *b)
{
    if (!same_string(a->schema_url, b->schema_url, "entity schema_url") ||
        !same_string(a->type, b->type, "entity type"))
        return 0;
    if (a->n_id_keys != b->n_id_keys || a->n_description_keys != b->n_description_keys)
        return mismatch("entity key counts");
    for (size_t i = 0; i < a->n_id_keys; i++) {
        if (!same_string(a->id_keys[i], b->id_keys[i], "id_keys"))
            return 0;
    }
    for (size_t i = 0; i < a->n_description_keys; i++) {
        if (!same_string(a->description_keys[i], b->description_keys[i], "description_keys"))
            return 0;
    }
    return 1;
}

static int same_scope(const Scope *a, const Scope *b)
{
    if (a == NULL || b == NULL)
        return a == b ? 1 : mismatch("scope presence");
    return same_string(a->name, b->name, "scope name") &&
           same_string(a->version, b->version, "scope version") &&
           same_attributes(a->n_attributes, a->attributes, b->n_attributes, b->attributes) &&
           (a->dropped_attributes_count == b->dropped_attributes_count
                ? 1 : mismatch("scope dropped_attributes_count"));
}

static int same_event(const Event *a, const Event *b)
{
    if (a->time_unix_nano != b->time_unix_nano ||
        a->dropped_attributes_count != b->dropped_attributes_count)
        return mismatch("event scalars");
    return same_string(a->name, b->name, "event name") &&
           same_attributes(a->n_attributes, a->attributes, b->n_attributes, b->attributes);
}

static int same_link(const Link *a, const Link *b)
{
    if (a->flags != b->flags || a->dropped_attributes_count != b->dropped_attributes_count)
        return mismatch("link scalars");
    return same_bytes(a->trace_id, b->trace_id, "link trace_id") &&
           same_bytes(a->span_id, b->span_id, "link span_id") &&
           same_string(a->trace_state, b->trace_state, "link trace_state") &&
           same_attributes(a->n_attributes, a->attributes, b->n_attributes, b->attributes);
}

static int same_span(const Span *a, const Span *b)
{
    if (!same_bytes(a->trace_id, b->trace_id, "trace_id") ||
        !same_bytes(a->span_id, b->span_id, "span_id") ||
        !same_bytes(a->parent_span_id, b->parent_span_id, "parent_span_id") ||
        !same_string(a->trace_state, b->trace_state, "trace_state") ||
        !same_string(a->name, b->name, "name"))
        return 0;
    if (a->flags != b->flags || a->kind != b->kind ||
        a->start_time_unix_nano != b->start_time_unix_nano ||
        a->end_time_unix_nano != b->end_time_unix_nano ||
        a->dropped_attributes_count != b->dropped_attributes_count ||
        a->dropped_events_count != b->dropped_events_count ||
        a->dropped_links_count != b->dropped_links_count)
        return mismatch("span scalars");
    if (!same_attributes(a->n_attributes, a->attributes, b->n_attributes, b->attributes))
        return 0;
    if (a->n_events != b->n_events || a->n_links != b->n_links)
        return mismatch("event or link count");
    for (size_t i = 0; i < a->n_events; i++) {
        if (!same_event(a->events[i], b->events[i]))
            return 0;
    }
    for (size_t i = 0; i < a->n_links; i++) {
        if (!same_link(a->links[i], b->links[i]))
            return 0;
    }
    if (a->status == NULL || b->status == NULL)
        return a->status == b->status ? 1 : mismatch("status presence");
    if (a->status->code != b->status->code)
        return mismatch("status code");
    return same_string(a->status->message, b->status->message, "status message");
}

/* ---- what the rewrite must produce, from the input structs alone ---- */

struct expect {
    struct otlp_counts counts;
    int changed;               /* something removed or added */
};

static int span_valid(const Span *s)
{
    static const uint8_t zero[16];
    if (s->trace_id.len != 16 || memcmp(s->trace_id.data, zero, 16) == 0)
        return STATS_REJECT_TRACE_ID;
    if (s->span_id.len != 8 || memcmp(s->span_id.data, zero, 8) == 0)
        return STATS_REJECT_SPAN_ID;
    if (s->parent_span_id.len != 0 && s->parent_span_id.len != 8)
        return STATS_REJECT_PARENT_SPAN_ID;
    return -1;
}

static int span_kept(const Span *s, const struct otlp_rewrite_opts *opts, struct expect *e)
{
    int problem = span_valid(s);
    e->counts.spans++;
    if (problem >= 0) {
        e->counts.invalid[problem]++;
        e->counts.invalid_total++;
        return 0;
    }
    if (opts->sampler != NULL && !sampler_keep(opts->sampler, s->trace_id.data)) {
        e->counts.sampled_out++;
        return 0;
    }
    e->counts.kept++;
    return 1;
}

static int resource_has(const Resource *r, const char *key)
{
    for (size_t i = 0; r != NULL && i < r->n_attributes; i++) {
        if (strcmp(r->attributes[i]->key, key) == 0)
            return 1;
    }
    return 0;
}

/* The attributes the rewrite appends to this resource, in order. */
static size_t added_attributes(const Resource *r, const struct otlp_rewrite_opts *opts,
                               const char **keys, const char **values)
{
    const char *cand_keys[16], *cand_values[16];
    size_t ncand = 0, nadded = 0;

    if (opts->service_name != NULL) {
        cand_keys[ncand] = "service.name";
        cand_values[ncand++] = opts->service_name;
    }
    for (size_t i = 0; i < opts->attrs_count; i++) {
        cand_keys[ncand] = opts->attrs[i].key;
        cand_values[ncand++] = opts->attrs[i].value;
    }
    for (size_t j = 0; j < ncand; j++) {
        int earlier = 0;
        for (size_t i = 0; i < j; i++)
            earlier |= strcmp(cand_keys[i], cand_keys[j]) == 0;
        if (earlier || resource_has(r, cand_keys[j]))
            continue;
        keys[nadded] = cand_keys[j];
        values[nadded++] = cand_values[j];
    }
    return nadded;
}

static int check_resource(const Resource *in, const Resource *out,
                          const struct otlp_rewrite_opts *opts, struct expect *e)
{
    const char *keys[16], *values[16];
    size_t added = added_attributes(in, opts, keys, values);

    if (added > 0)
        e->changed = 1;
    if (in == NULL && added == 0)
        return out == NULL ? 1 : mismatch("resource appeared");
    if (out == NULL)
        return mismatch("resource missing");

    size_t n_in = in != NULL ? in->n_attributes : 0;
    if (out->n_attributes != n_in + added)
        return mismatch("resource attribute count");
    if (!same_attributes(n_in, in != NULL ? in->attributes : NULL, n_in, out->attributes))
        return 0;
    for (size_t i = 0; i < added; i++) {
        const KeyValue *kv = out->attributes[n_in + i];
        if (!same_string(kv->key, keys[i], "added key") || kv->value == NULL ||
            kv->value->value_case != OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE ||
            !same_string(kv->value->string_value, values[i], "added value"))
            return mismatch("added attribute");
    }
    if (in == NULL)
        return out->dropped_attributes_count == 0 && out->n_entity_refs == 0
                   ? 1 : mismatch("created resource has more than attributes");
    if (in->dropped_attributes_count != out->dropped_attributes_count ||
        in->n_entity_refs != out->n_entity_refs)
        return mismatch("resource scalars");
    for (size_t i = 0; i < in->n_entity_refs; i++) {
        if (!same_entity_ref(in->entity_refs[i], out->entity_refs[i]))
            return 0;
    }
    return 1;
}

/* Walks the input and the decoded output side by side. */
static int check_output(const Request *in, const Request *out,
                        const struct otlp_rewrite_opts *opts, struct expect *e)
{
    size_t o = 0;
    int ok = 1;

    for (size_t i = 0; i < in->n_resource_spans; i++) {
        const ResourceSpans *rs = in->resource_spans[i];
        const ResourceSpans *ors = o < out->n_resource_spans ? out->resource_spans[o] : NULL;
        size_t os = 0;
        uint64_t rs_kept = 0;

        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const ScopeSpans *ss = rs->scope_spans[j];
            const ScopeSpans *oss =
                ors != NULL && os < ors->n_scope_spans ? ors->scope_spans[os] : NULL;
            size_t ok_spans = 0;

            for (size_t k = 0; k < ss->n_spans; k++) {
                if (!span_kept(ss->spans[k], opts, e)) {
                    e->changed = 1;
                    continue;
                }
                if (oss == NULL || ok_spans >= oss->n_spans)
                    ok = mismatch("kept span missing");
                else if (!same_span(ss->spans[k], oss->spans[ok_spans]))
                    ok = 0;
                ok_spans++;
            }
            if (ok_spans == 0) {
                e->changed = 1;
                continue;
            }
            if (oss == NULL || oss->n_spans != ok_spans)
                ok = mismatch("span count in scope");
            else if (!same_scope(ss->scope, oss->scope) ||
                     !same_string(ss->schema_url, oss->schema_url, "scope schema_url"))
                ok = 0;
            os++;
            rs_kept += ok_spans;
        }
        if (rs_kept == 0) {
            e->changed = 1;
            continue;
        }
        if (ors == NULL || ors->n_scope_spans != os)
            ok = mismatch("scope count");
        else if (!check_resource(rs->resource, ors->resource, opts, e) ||
                 !same_string(rs->schema_url, ors->schema_url, "resource schema_url"))
            ok = 0;
        o++;
    }
    if (out->n_resource_spans != o)
        ok = mismatch("resource span count");
    return ok;
}

static void check_counts(const struct otlp_counts *got, const struct otlp_counts *want)
{
    ck_assert_uint_eq(got->spans, want->spans);
    for (int r = 0; r < STATS_REJECT_COUNT; r++)
        ck_assert_uint_eq(got->invalid[r], want->invalid[r]);
    ck_assert_uint_eq(got->invalid_total, want->invalid_total);
    ck_assert_uint_eq(got->sampled_out, want->sampled_out);
    ck_assert_uint_eq(got->kept, want->kept);
    ck_assert_int_eq(got->first_invalid != NULL, want->invalid_total > 0);
}

/* Outputs check_rewrite saw written in the caller's room, by otlp_rewrite_into. */
static int written_in_room;

/* otlp_rewrite_into gives what otlp_rewrite gave (out, out_len), in a room as large as
 * otlp_rewrite_room says and in one too small for any output, which it leaves. */
static void check_rewrite_into(const uint8_t *in, size_t len,
                               const struct otlp_rewrite_opts *opts, const uint8_t *out,
                               size_t out_len, const struct otlp_counts *counts)
{
    size_t rooms[] = { otlp_rewrite_room(len, opts), 16 };
    for (size_t i = 0; i < 2; i++) {
        uint8_t *room = malloc(rooms[i]);
        uint8_t *got;
        size_t got_len;
        struct otlp_counts c;
        char err[256];
        ck_assert_ptr_nonnull(room);
        ck_assert_int_eq(otlp_rewrite_into(in, len, opts, room, rooms[i], &got, &got_len, &c,
                                           err, sizeof err), 0);
        ck_assert_uint_eq(got_len, out_len);
        ck_assert_uint_eq(c.kept, counts->kept);
        ck_assert_uint_eq(c.sampled_out, counts->sampled_out);
        if (out == NULL) {
            ck_assert_ptr_null(got);
        } else {
            ck_assert_ptr_nonnull(got);
            ck_assert_int_eq(memcmp(got, out, out_len), 0);
            if (i == 1)
                ck_assert_ptr_ne(got, room);
            written_in_room += got == room;
        }
        if (got != room)
            free(got);
        free(room);
    }
}

/* Rewrites a packed request and checks everything about the result. */
static void check_rewrite(const Request *req, const struct otlp_rewrite_opts *opts)
{
    size_t len, out_len;
    uint8_t *in = pack_request(req, &len);
    uint8_t *out;
    struct otlp_counts counts;
    char err[256];

    int rc = otlp_rewrite(in, len, opts, &out, &out_len, &counts, err, sizeof err);
    ck_assert_msg(rc == 0, "rewrite failed: %s", err);
    check_rewrite_into(in, len, opts, out, out_len, &counts);

    const uint8_t *result = out != NULL ? out : in;
    Request *decoded = unpack_request(result, out_len);
    ck_assert_ptr_nonnull(decoded);

    struct expect e;
    memset(&e, 0, sizeof e);
    ck_assert(check_output(req, decoded, opts, &e));
    check_counts(&counts, &e.counts);

    if (e.counts.kept == 0) {
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(out_len, 0);
    } else if (e.changed) {
        ck_assert_ptr_nonnull(out);
    } else {
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(out_len, len);
    }
    ck_assert_uint_eq(otlp_count_spans(in, len), e.counts.spans);
    ck_assert_uint_eq(otlp_count_spans(result, out_len), e.counts.kept);

    /* What was kept is whole and sampled in: a second pass changes nothing. */
    if (e.counts.kept > 0) {
        uint8_t *again;
        size_t again_len;
        struct otlp_counts c2;
        ck_assert_int_eq(otlp_rewrite(result, out_len, opts, &again, &again_len, &c2,
                                      err, sizeof err), 0);
        ck_assert_ptr_null(again);
        ck_assert_uint_eq(again_len, out_len);
        ck_assert_uint_eq(c2.kept, e.counts.kept);
    }

    protobuf_c_message_free_unpacked(&decoded->base, NULL);
    free(out);
    free(in);
}

/* ---- a hand encoder for requests protobuf-c will not build ---- */

struct enc {
    uint8_t *p;
    size_t n, cap;
};

static void enc_raw(struct enc *e, const void *data, size_t len)
{
    if (e->n + len > e->cap) {
        e->cap = (e->n + len) * 2 + 64;
        e->p = realloc(e->p, e->cap);
        ck_assert_ptr_nonnull(e->p);
    }
    if (len > 0)
        memcpy(e->p + e->n, data, len);
    e->n += len;
}

static void enc_varint(struct enc *e, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    enc_raw(e, b, n);
}

static void enc_tag(struct enc *e, uint32_t num, uint32_t type)
{
    enc_varint(e, ((uint64_t)num << 3) | type);
}

static void enc_bytes(struct enc *e, uint32_t num, const void *data, size_t len)
{
    enc_tag(e, num, 2);
    enc_varint(e, len);
    enc_raw(e, data, len);
}

static void enc_string(struct enc *e, uint32_t num, const char *s)
{
    enc_bytes(e, num, s, strlen(s));
}

static void enc_message(struct enc *e, uint32_t num, const struct enc *sub)
{
    enc_bytes(e, num, sub->p, sub->n);
}

static void enc_free(struct enc *e)
{
    free(e->p);
    memset(e, 0, sizeof *e);
}

static const uint8_t trace_a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t span_a[8] = {1, 1, 1, 1, 1, 1, 1, 1};

/* A valid span: trace_id, span_id, name. */
static void enc_span_basic(struct enc *e, const uint8_t trace_id[16], const char *name)
{
    enc_bytes(e, 1, trace_id, 16);
    enc_bytes(e, 2, span_a, 8);
    enc_string(e, 5, name);
}

/* request { resource_spans { scope_spans { spans: span } } } */
static void enc_request_of_span(struct enc *req, const struct enc *span)
{
    struct enc ss = {0}, rs = {0};
    enc_message(&ss, 2, span);
    enc_message(&rs, 2, &ss);
    enc_message(req, 1, &rs);
    enc_free(&ss);
    enc_free(&rs);
}

static int rewrite(const struct enc *req, const struct otlp_rewrite_opts *opts,
                   uint8_t **out, size_t *out_len, struct otlp_counts *counts,
                   char *err, size_t errlen)
{
    /* An exact-size copy, so the sanitizer sees any read past the end. */
    uint8_t *copy = malloc(req->n ? req->n : 1);
    ck_assert_ptr_nonnull(copy);
    if (req->n > 0)
        memcpy(copy, req->p, req->n);
    int rc = otlp_rewrite(copy, req->n, opts, out, out_len, counts, err, errlen);
    free(copy);
    return rc;
}

/* Expects the request to be refused with err containing `want`. */
static void expect_error(const struct enc *req, const char *want)
{
    uint8_t *out = (uint8_t *)1;
    size_t out_len = 1;
    struct otlp_counts counts;
    char err[512];

    int rc = rewrite(req, NULL, &out, &out_len, &counts, err, sizeof err);
    ck_assert_msg(rc == -1, "accepted, expected \"%s\"", want);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(counts.spans, 0);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

static void expect_span_error(const struct enc *span, const char *want)
{
    struct enc req = {0};
    enc_request_of_span(&req, span);
    expect_error(&req, want);
    enc_free(&req);
}

/* ---- the tests ---- */

static struct sampler half;
static const struct config_kv extra_attrs[] = {
    {"deployment.environment", "prod"},
    {"k8s.pod.name", "pod-7"},
    {"service.name", "from-attrs"},
    {"k8s.pod.name", "repeated"},
};

START_TEST(random_requests)
{
    sampler_init(&half, 0.5, CONFIG_SAMPLER_PYTHON);
    struct sampler all;
    sampler_init(&all, 1.0, CONFIG_SAMPLER_PYTHON);

    rng_state = 0x5eed0001;
    fill_trace_pool();
    for (int i = 0; i < 400; i++) {
        struct otlp_rewrite_opts opts = {0};
        int variant = i % 6;
        opts.sampler = variant == 5 ? NULL : variant == 4 ? &all : &half;
        if (variant != 3)
            opts.service_name = "svc-default";
        if (variant < 3) {
            opts.attrs = (struct config_kv *)extra_attrs;
            opts.attrs_count = sizeof extra_attrs / sizeof extra_attrs[0];
        }
        Request *req = random_request(4, 3, 8);
        check_rewrite(req, &opts);
        arena_free();
    }
    ck_assert_int_gt(written_in_room, 100);
}
END_TEST

START_TEST(traces_stay_whole)
{
    struct otlp_rewrite_opts opts = {.sampler = &half};
    sampler_init(&half, 0.5, CONFIG_SAMPLER_PYTHON);
    rng_state = 0x5eed0002;
    fill_trace_pool();

    for (int round = 0; round < 50; round++) {
        Request *req = random_request(4, 3, 8);
        size_t len, out_len;
        uint8_t *in = pack_request(req, &len), *out;
        struct otlp_counts counts;
        char err[256];
        ck_assert_int_eq(otlp_rewrite(in, len, &opts, &out, &out_len, &counts, err,
                                      sizeof err), 0);
        Request *got = unpack_request(out != NULL ? out : in, out_len);
        ck_assert_ptr_nonnull(got);

        /* Each pool trace is either in the output with all its valid spans, or absent. */
        for (int t = 0; t < TRACE_POOL; t++) {
            size_t in_count = 0, out_count = 0;
            for (size_t i = 0; i < req->n_resource_spans; i++) {
                for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++) {
                    ScopeSpans *ss = req->resource_spans[i]->scope_spans[j];
                    for (size_t k = 0; k < ss->n_spans; k++)
                        in_count += span_valid(ss->spans[k]) < 0 &&
                                    memcmp(ss->spans[k]->trace_id.data, trace_pool[t], 16) == 0;
                }
            }
            for (size_t i = 0; i < got->n_resource_spans; i++) {
                for (size_t j = 0; j < got->resource_spans[i]->n_scope_spans; j++) {
                    ScopeSpans *ss = got->resource_spans[i]->scope_spans[j];
                    for (size_t k = 0; k < ss->n_spans; k++)
                        out_count += memcmp(ss->spans[k]->trace_id.data, trace_pool[t], 16) == 0;
                }
            }
            ck_assert(out_count == 0 || out_count == in_count);
        }
        protobuf_c_message_free_unpacked(&got->base, NULL);
        free(out);
        free(in);
        arena_free();
    }
}
END_TEST

START_TEST(hot_path_does_not_copy)
{
    struct sampler all;
    sampler_init(&all, 1.0, CONFIG_SAMPLER_PYTHON);
    rng_state = 0x5eed0003;
    fill_trace_pool();

    struct enc req = {0};
    for (int i = 0; i < 3; i++) {
        struct enc res = {0}, kv = {0}, any = {0}, span = {0}, ss = {0}, rs = {0};
        enc_string(&any, 1, "checkout");
        enc_string(&kv, 1, "service.name");
        enc_message(&kv, 2, &any);
        enc_message(&res, 1, &kv);
        enc_message(&rs, 1, &res);
        for (int k = 0; k < 4; k++) {
            enc_span_basic(&span, trace_a, "GET /");
            enc_message(&ss, 2, &span);
            span.n = 0;
        }
        enc_message(&rs, 2, &ss);
        enc_message(&req, 1, &rs);
        enc_free(&res);
        enc_free(&kv);
        enc_free(&any);
        enc_free(&span);
        enc_free(&ss);
        enc_free(&rs);
    }

    const struct otlp_rewrite_opts variants[] = {
        {0},
        {.sampler = &all},
        {.sampler = &all, .service_name = "ignored-present"},
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        uint8_t *out = (uint8_t *)1;
        size_t out_len = 0;
        struct otlp_counts counts;
        char err[256];
        ck_assert_int_eq(rewrite(&req, &variants[v], &out, &out_len, &counts, err, sizeof err), 0);
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(out_len, req.n);
        ck_assert_uint_eq(counts.spans, 12);
        ck_assert_uint_eq(counts.kept, 12);
        ck_assert_ptr_null(counts.first_invalid);
    }
    ck_assert_uint_eq(otlp_count_spans(req.p, req.n), 12);
    enc_free(&req);
}
END_TEST

START_TEST(empty_and_nothing_left)
{
    uint8_t *out = (uint8_t *)1;
    size_t out_len = 1;
    struct otlp_counts counts;
    char err[256];
    struct sampler none;
    sampler_init(&none, 0.0, CONFIG_SAMPLER_PYTHON);

    ck_assert_int_eq(otlp_rewrite((const uint8_t *)"", 0, NULL, &out, &out_len, &counts,
                                  err, sizeof err), 0);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    ck_assert_uint_eq(counts.kept, 0);

    struct enc span = {0}, req = {0};
    enc_span_basic(&span, trace_a, "x");
    enc_request_of_span(&req, &span);
    enc_request_of_span(&req, &span);
    struct otlp_rewrite_opts opts = {.sampler = &none, .service_name = "svc"};
    ck_assert_int_eq(rewrite(&req, &opts, &out, &out_len, &counts, err, sizeof err), 0);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    ck_assert_uint_eq(counts.spans, 2);
    ck_assert_uint_eq(counts.sampled_out, 2);
    ck_assert_uint_eq(counts.kept, 0);

    /* A request of empty resources keeps nothing either. */
    struct enc empty = {0}, rs = {0};
    enc_message(&empty, 1, &rs);
    enc_message(&empty, 1, &rs);
    ck_assert_int_eq(rewrite(&empty, NULL, &out, &out_len, &counts, err, sizeof err), 0);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    enc_free(&span);
    enc_free(&req);
    enc_free(&empty);
}
END_TEST

static Request *rewrite_and_decode(const struct enc *req, const struct otlp_rewrite_opts *opts,
                                   struct otlp_counts *counts)
{
    uint8_t *out;
    size_t out_len;
    char err[256];
    ck_assert_msg(rewrite(req, opts, &out, &out_len, counts, err, sizeof err) == 0, "%s", err);
    Request *r = unpack_request(out != NULL ? out : req->p, out_len);
    ck_assert_ptr_nonnull(r);
    free(out);
    return r;
}

START_TEST(invalid_ids_drop_the_span)
{
    static const uint8_t zero[16];
    struct enc req = {0}, ss = {0}, rs = {0}, span = {0};

    /* 0: valid; 1: trace_id 15 bytes; 2: trace_id zero; 3: no trace_id;
     * 4: span_id 7 bytes; 5: span_id zero; 6: parent 5 bytes; 7: valid with parent. */
    for (int i = 0; i < 8; i++) {
        span.n = 0;
        if (i == 1)
            enc_bytes(&span, 1, trace_a, 15);
        else if (i == 2)
            enc_bytes(&span, 1, zero, 16);
        else if (i != 3)
            enc_bytes(&span, 1, trace_a, 16);
        if (i == 4)
            enc_bytes(&span, 2, span_a, 7);
        else if (i == 5)
            enc_bytes(&span, 2, zero, 8);
        else
            enc_bytes(&span, 2, span_a, 8);
        if (i == 6)
            enc_bytes(&span, 4, span_a, 5);
        if (i == 7)
            enc_bytes(&span, 4, span_a, 8);
        char name[8];
        snprintf(name, sizeof name, "s%d", i);
        enc_string(&span, 5, name);
        enc_message(&ss, 2, &span);
    }
    enc_message(&rs, 2, &ss);
    enc_message(&req, 1, &rs);

    struct otlp_counts counts;
    Request *got = rewrite_and_decode(&req, NULL, &counts);
    ck_assert_uint_eq(counts.spans, 8);
    ck_assert_uint_eq(counts.kept, 2);
    ck_assert_uint_eq(counts.invalid[STATS_REJECT_TRACE_ID], 3);
    ck_assert_uint_eq(counts.invalid[STATS_REJECT_SPAN_ID], 2);
    ck_assert_uint_eq(counts.invalid[STATS_REJECT_PARENT_SPAN_ID], 1);
    ck_assert_uint_eq(counts.invalid_total, 6);
    ck_assert_str_eq(counts.first_invalid, "trace_id must be 16 bytes, not all zero");
    ck_assert_uint_eq(got->n_resource_spans, 1);
    ck_assert_uint_eq(got->resource_spans[0]->scope_spans[0]->n_spans, 2);
    ck_assert_str_eq(got->resource_spans[0]->scope_spans[0]->spans[0]->name, "s0");
    ck_assert_str_eq(got->resource_spans[0]->scope_spans[0]->spans[1]->name, "s7");
    protobuf_c_message_free_unpacked(&got->base, NULL);

    /* The first invalid span names its own reason. */
    struct enc req2 = {0};
    span.n = 0;
    enc_bytes(&span, 1, trace_a, 16);
    enc_bytes(&span, 2, zero, 8);
    enc_request_of_span(&req2, &span);
    got = rewrite_and_decode(&req2, NULL, &counts);
    ck_assert_str_eq(counts.first_invalid, "span_id must be 8 bytes, not all zero");
    ck_assert_uint_eq(got->n_resource_spans, 0);
    protobuf_c_message_free_unpacked(&got->base, NULL);

    enc_free(&req);
    enc_free(&req2);
    enc_free(&ss);
    enc_free(&rs);
    enc_free(&span);
}
END_TEST

/* Length prefixes that shrink or grow across a varint size boundary as spans go
 * and attributes come. */
START_TEST(length_prefixes_change_size)
{
    static const uint8_t zero[16];
    struct otlp_rewrite_opts opts = {.service_name = "svc"};

    for (int size = 1; size < 400; size += 3) {
        char *name = malloc((size_t)size + 1);
        memset(name, 'n', (size_t)size);
        name[size] = '\0';

        struct enc req = {0}, rs = {0}, ss = {0}, span = {0}, res = {0}, kv = {0}, any = {0};
        enc_string(&any, 1, name);
        enc_string(&kv, 1, "host.name");
        enc_message(&kv, 2, &any);
        enc_message(&res, 1, &kv);
        if (size % 2)
            enc_message(&rs, 1, &res);
        enc_span_basic(&span, trace_a, name);
        enc_message(&ss, 2, &span);
        span.n = 0;
        enc_span_basic(&span, zero, name);
        enc_message(&ss, 2, &span);
        enc_message(&rs, 2, &ss);
        enc_message(&req, 1, &rs);

        struct otlp_counts counts;
        Request *got = rewrite_and_decode(&req, &opts, &counts);
        ck_assert_uint_eq(counts.kept, 1);
        ck_assert_uint_eq(got->n_resource_spans, 1);
        ResourceSpans *r = got->resource_spans[0];
        ck_assert_ptr_nonnull(r->resource);
        size_t n = r->resource->n_attributes;
        ck_assert_uint_eq(n, size % 2 ? 2 : 1);
        ck_assert_str_eq(r->resource->attributes[n - 1]->key, "service.name");
        ck_assert_str_eq(r->resource->attributes[n - 1]->value->string_value, "svc");
        ck_assert_uint_eq(r->n_scope_spans, 1);
        ck_assert_uint_eq(r->scope_spans[0]->n_spans, 1);
        ck_assert_str_eq(r->scope_spans[0]->spans[0]->name, name);
        protobuf_c_message_free_unpacked(&got->base, NULL);

        enc_free(&req);
        enc_free(&rs);
        enc_free(&ss);
        enc_free(&span);
        enc_free(&res);
        enc_free(&kv);
        enc_free(&any);
        free(name);
    }
}
END_TEST

START_TEST(resource_given_twice)
{
    struct enc req = {0}, rs = {0}, res1 = {0}, res2 = {0}, kv = {0}, any = {0}, ss = {0},
               span = {0};

    enc_string(&any, 1, "checkout");
    enc_string(&kv, 1, "service.name");
    enc_message(&kv, 2, &any);
    enc_message(&res1, 1, &kv);
    kv.n = 0;
    any.n = 0;
    enc_string(&any, 1, "pod-1");
    enc_string(&kv, 1, "k8s.pod.name");
    enc_message(&kv, 2, &any);
    enc_message(&res2, 1, &kv);

    enc_message(&rs, 1, &res1);
    enc_span_basic(&span, trace_a, "x");
    enc_message(&ss, 2, &span);
    enc_message(&rs, 2, &ss);
    enc_message(&rs, 1, &res2);
    enc_message(&req, 1, &rs);

    /* Keys of both occurrences count; additions go to the last one. */
    struct otlp_rewrite_opts opts = {
        .service_name = "svc",
        .attrs = (struct config_kv *)extra_attrs,
        .attrs_count = sizeof extra_attrs / sizeof extra_attrs[0],
    };
    struct otlp_counts counts;
    Request *got = rewrite_and_decode(&req, &opts, &counts);
    Resource *r = got->resource_spans[0]->resource;
    ck_assert_uint_eq(r->n_attributes, 3);
    ck_assert_str_eq(r->attributes[0]->key, "service.name");
    ck_assert_str_eq(r->attributes[1]->key, "k8s.pod.name");
    ck_assert_str_eq(r->attributes[2]->key, "deployment.environment");
    ck_assert_str_eq(r->attributes[2]->value->string_value, "prod");
    protobuf_c_message_free_unpacked(&got->base, NULL);

    enc_free(&req);
    enc_free(&rs);
    enc_free(&res1);
    enc_free(&res2);
    enc_free(&kv);
    enc_free(&any);
    enc_free(&ss);
    enc_free(&span);
}
END_TEST

/* Fields this walk does not know stay in the bytes, wherever they are. */
START_TEST(unknown_fields_are_kept)
{
    struct enc req = {0}, rs = {0}, ss = {0}, span = {0};
    static const uint8_t zero[16];

    enc_span_basic(&span, trace_a, "kept");
    enc_tag(&span, 100, 0);
    enc_varint(&span, 12345);
    enc_string(&span, 101, "future");
    enc_tag(&span, 102, 5);
    enc_raw(&span, "abcd", 4);
    enc_tag(&span, 103, 1);
    enc_raw(&span, "abcdefgh", 8);
    enc_message(&ss, 2, &span);
    span.n = 0;
    enc_span_basic(&span, zero, "dropped");
    enc_message(&ss, 2, &span);
    enc_string(&ss, 50, "scope-extra");
    enc_message(&rs, 2, &ss);
    enc_string(&rs, 1000, "rs-extra");
    enc_string(&req, 9, "request-extra");
    enc_message(&req, 1, &rs);

    uint8_t *out;
    size_t out_len;
    struct otlp_counts counts;
    char err[256];
    ck_assert_int_eq(rewrite(&req, NULL, &out, &out_len, &counts, err, sizeof err), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(counts.kept, 1);
    /* Less the dropped span's field, and a byte per length prefix that got shorter. */
    ck_assert_uint_le(out_len, req.n - span.n - 2);
    ck_assert_uint_ge(out_len, req.n - span.n - 4);
    ck_assert_ptr_nonnull(memmem(out, out_len, "future", 6));
    ck_assert_ptr_nonnull(memmem(out, out_len, "scope-extra", 11));
    ck_assert_ptr_nonnull(memmem(out, out_len, "rs-extra", 8));
    ck_assert_ptr_nonnull(memmem(out, out_len, "request-extra", 13));
    ck_assert_ptr_null(memmem(out, out_len, "dropped", 7));

    Request *got = unpack_request(out, out_len);
    ck_assert_ptr_nonnull(got);
    Span *s = got->resource_spans[0]->scope_spans[0]->spans[0];
    ck_assert_str_eq(s->name, "kept");
    ck_assert_uint_eq(s->base.n_unknown_fields, 4);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    free(out);
    enc_free(&req);
    enc_free(&rs);
    enc_free(&ss);
    enc_free(&span);
}
END_TEST

START_TEST(error_names_the_path)
{
    struct enc req = {0}, span = {0};

    for (int r = 0; r < 3; r++) {
        struct enc rs = {0}, ss = {0};
        for (int k = 0; k < 6; k++) {
            span.n = 0;
            enc_span_basic(&span, trace_a, "ok");
            if (r == 2 && k == 5) {
                enc_tag(&span, 9, 2);
                enc_varint(&span, 400);
                enc_raw(&span, "0123456789", 10);
            }
            enc_message(&ss, 2, &span);
        }
        enc_message(&rs, 2, &ss);
        enc_message(&req, 1, &rs);
        enc_free(&rs);
        enc_free(&ss);
    }

    char err[256];
    uint8_t *out;
    size_t out_len;
    struct otlp_counts counts;
    ck_assert_int_eq(rewrite(&req, NULL, &out, &out_len, &counts, err, sizeof err), -1);
    ck_assert_str_eq(err, "resource_spans[2].scope_spans[0].spans[5]: "
                          "field 9 length 400 runs past the end of the message");

    /* A tiny error buffer is filled, terminated, and not overrun. */
    char small[12];
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(otlp_rewrite(req.p, req.n, NULL, &out, &out_len, &counts, small, 8), -1);
    ck_assert_uint_eq(strlen(small), 7);
    ck_assert_int_eq(small[8], 'x');
    ck_assert_int_eq(otlp_rewrite(req.p, req.n, NULL, &out, &out_len, &counts, NULL, 0), -1);
    enc_free(&req);
    enc_free(&span);
}
END_TEST

/* span { attributes { key value } } with the value bytes given. */
static void enc_span_with_value(struct enc *span, const struct enc *value)
{
    struct enc kv = {0};
    enc_string(&kv, 1, "k");
    enc_message(&kv, 2, value);
    enc_span_basic(span, trace_a, "s");
    enc_string(span, 9, "");
    enc_message(span, 9, &kv);
    enc_free(&kv);
}

START_TEST(wrong_wire_types)
{
    static const struct {
        uint32_t num, type;
        const char *want;
    } span_cases[] = {
        {1, 0, "field 1 (trace_id) has wire type varint, expected length-delimited"},
        {2, 1, "field 2 (span_id) has wire type fixed64"},
        {3, 5, "field 3 (trace_state)"},
        {5, 0, "field 5 (name)"},
        {6, 2, "field 6 (kind) has wire type length-delimited, expected varint"},
        {7, 5, "field 7 (start_time_unix_nano) has wire type fixed32, expected fixed64"},
        {8, 0, "field 8 (end_time_unix_nano)"},
        {9, 0, "field 9 (attributes)"},
        {10, 1, "field 10 (dropped_attributes_count)"},
        {11, 5, "field 11 (events)"},
        {12, 2, "field 12 (dropped_events_count)"},
        {13, 0, "field 13 (links)"},
        {14, 5, "field 14 (dropped_links_count)"},
        {15, 1, "field 15 (status)"},
        {16, 1, "field 16 (flags) has wire type fixed64, expected fixed32"},
    };
    for (size_t i = 0; i < sizeof span_cases / sizeof span_cases[0]; i++) {
        struct enc span = {0};
        enc_span_basic(&span, trace_a, "s");
        enc_tag(&span, span_cases[i].num, span_cases[i].type);
        if (span_cases[i].type == 0)
            enc_varint(&span, 1);
        else if (span_cases[i].type == 1)
            enc_raw(&span, "12345678", 8);
        else if (span_cases[i].type == 5)
            enc_raw(&span, "1234", 4);
        else
            enc_varint(&span, 0);
        expect_span_error(&span, span_cases[i].want);
        enc_free(&span);
    }

    static const struct {
        uint32_t num, type;
        const char *want;
    } value_cases[] = {
        {1, 0, "value: field 1 (string_value)"},
        {2, 2, "field 2 (bool_value)"},
        {3, 1, "field 3 (int_value)"},
        {4, 0, "field 4 (double_value)"},
        {5, 0, "field 5 (array_value)"},
        {6, 5, "field 6 (kvlist_value)"},
        {7, 0, "field 7 (bytes_value)"},
    };
    for (size_t i = 0; i < sizeof value_cases / sizeof value_cases[0]; i++) {
        struct enc value = {0}, span = {0};
        enc_tag(&value, value_cases[i].num, value_cases[i].type);
        if (value_cases[i].type == 0)
            enc_varint(&value, 1);
        else if (value_cases[i].type == 1)
            enc_raw(&value, "12345678", 8);
        else if (value_cases[i].type == 5)
            enc_raw(&value, "1234", 4);
        else
            enc_varint(&value, 0);
        enc_span_with_value(&span, &value);
        expect_span_error(&span, value_cases[i].want);
        enc_free(&value);
        enc_free(&span);
    }

    /* The containers, the resource, scope, event, link and status. */
    struct enc req = {0}, rs = {0}, ss = {0}, m = {0}, span = {0};
    enc_tag(&req, 1, 0);
    enc_varint(&req, 3);
    expect_error(&req, "field 1 (resource_spans) has wire type varint");
    req.n = 0;
    enc_tag(&rs, 2, 5);
    enc_raw(&rs, "1234", 4);
    enc_message(&req, 1, &rs);
    expect_error(&req, "resource_spans[0]: field 2 (scope_spans) has wire type fixed32");
    req.n = rs.n = 0;
    enc_tag(&m, 2, 2);
    enc_varint(&m, 0);
    enc_message(&rs, 1, &m);
    enc_message(&req, 1, &rs);
    expect_error(&req, "resource_spans[0].resource: field 2 (dropped_attributes_count)");
    req.n = rs.n = m.n = 0;
    enc_tag(&m, 3, 0);
    enc_varint(&m, 0);
    enc_message(&ss, 1, &m);
    enc_message(&rs, 2, &ss);
    enc_message(&req, 1, &rs);
    expect_error(&req, "resource_spans[0].scope_spans[0].scope: field 3 (attributes)");

    span.n = m.n = 0;
    enc_tag(&m, 1, 2);
    enc_varint(&m, 0);
    enc_span_basic(&span, trace_a, "s");
    enc_bytes(&span, 11, "", 0);
    enc_message(&span, 11, &m);
    expect_span_error(&span, "spans[0].events[1]: field 1 (time_unix_nano)");
    span.n = m.n = 0;
    enc_tag(&m, 6, 1);
    enc_raw(&m, "12345678", 8);
    enc_span_basic(&span, trace_a, "s");
    enc_message(&span, 13, &m);
    expect_span_error(&span, "spans[0].links[0]: field 6 (flags)");
    span.n = m.n = 0;
    enc_tag(&m, 3, 2);
    enc_varint(&m, 0);
    enc_span_basic(&span, trace_a, "s");
    enc_message(&span, 15, &m);
    expect_span_error(&span, "spans[0].status: field 3 (code)");

    enc_free(&req);
    enc_free(&rs);
    enc_free(&ss);
    enc_free(&m);
    enc_free(&span);
}
END_TEST

START_TEST(bad_encodings)
{
    struct enc span = {0}, req = {0};

    /* Groups, in known and unknown fields. */
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 20, 3);
    enc_tag(&span, 20, 4);
    expect_span_error(&span, "field 20 uses wire type 3 (group)");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 9, 4);
    expect_span_error(&span, "field 9 uses wire type 4 (group)");

    /* Wire types 6 and 7 do not exist. */
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 30, 7);
    expect_span_error(&span, "field 30 has invalid wire type 7");

    /* Field number 0, and one past the largest. */
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 0, 0);
    enc_varint(&span, 1);
    expect_span_error(&span, "field number 0 is not allowed");
    span.n = 0;
    enc_varint(&span, ((uint64_t)536870912 << 3));
    enc_varint(&span, 1);
    expect_span_error(&span, "out of range");

    /* Varints of eleven bytes, and ten whose last byte overflows 64 bits. */
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 6, 0);
    enc_raw(&span, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    expect_span_error(&span, "field 6 varint is longer than 10 bytes");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 6, 0);
    enc_raw(&span, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
    expect_span_error(&span, "field 6 varint is longer than 10 bytes");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 6, 0);
    enc_raw(&span, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
    struct enc ok = {0};
    enc_request_of_span(&ok, &span);
    uint8_t *out;
    size_t out_len;
    struct otlp_counts counts;
    char err[256];
    ck_assert_int_eq(rewrite(&ok, NULL, &out, &out_len, &counts, err, sizeof err), 0);
    ck_assert_uint_eq(counts.kept, 1);

    /* Tags and lengths longer than 5 bytes, though small numbers, are refused as
     * other decoders refuse them; up to 5 bytes they pass. */
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_raw(&span, "\xaa\x80\x80\x80\x80\x00\x00", 7);
    expect_span_error(&span, "field tag is a varint longer than 5 bytes");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_raw(&span, "\x2a\x81\x80\x80\x80\x80\x00x", 8);
    expect_span_error(&span, "field 5 length is a varint longer than 5 bytes");
    span.n = 0;
    enc_bytes(&span, 1, trace_a, 16);
    enc_bytes(&span, 2, span_a, 8);
    enc_raw(&span, "\xaa\x80\x80\x80\x00\x81\x80\x80\x80\x00x", 11);
    ok.n = 0;
    enc_request_of_span(&ok, &span);
    ck_assert_int_eq(rewrite(&ok, NULL, &out, &out_len, &counts, err, sizeof err), 0);
    ck_assert_uint_eq(counts.kept, 1);
    Request *decoded = unpack_request(ok.p, ok.n);
    ck_assert_ptr_nonnull(decoded);
    ck_assert_str_eq(decoded->resource_spans[0]->scope_spans[0]->spans[0]->name, "x");
    protobuf_c_message_free_unpacked(&decoded->base, NULL);

    /* Lengths and fixed fields past the end. */
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 5, 2);
    enc_varint(&span, 2);
    enc_raw(&span, "a", 1);
    expect_span_error(&span, "field 5 length 2 runs past the end of the message");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 7, 1);
    enc_raw(&span, "1234567", 7);
    expect_span_error(&span, "field 7 fixed64 runs past the end of the message");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_tag(&span, 16, 5);
    enc_raw(&span, "123", 3);
    expect_span_error(&span, "field 16 fixed32 runs past the end of the message");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_raw(&span, "\x28", 1);
    expect_span_error(&span, "field 5 varint runs past the end of the message");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_raw(&span, "\x80", 1);
    expect_span_error(&span, "field tag runs past the end of the message");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_raw(&span, "\x2a\x80", 2);
    expect_span_error(&span, "field 5 length runs past the end of the message");

    /* At the top level, the path is empty. */
    enc_raw(&req, "\x0a\x05\x01", 3);
    expect_error(&req, "field 1 length 5 runs past the end of the message");
    ck_assert_int_eq(rewrite(&req, NULL, &out, &out_len, &counts, err, sizeof err), -1);
    ck_assert_str_eq(err, "field 1 length 5 runs past the end of the message");

    enc_free(&span);
    enc_free(&req);
    enc_free(&ok);
}
END_TEST

START_TEST(utf8)
{
    static const struct {
        const char *s;
        int valid;
    } cases[] = {
        {"plain ascii, long enough for the word loop", 1},
        {"caf\xc3\xa9", 1},
        {"\xe6\x97\xa5\xe6\x9c\xac", 1},
        {"\xf0\x9f\x98\x80 and \xf4\x8f\xbf\xbf", 1},
        {"\xed\x9f\xbf", 1},
        {"\xc3", 0},
        {"\xc0\xaf", 0},
        {"\xc1\xbf", 0},
        {"\xe0\x80\xaf", 0},
        {"\xed\xa0\x80", 0},
        {"\xf0\x80\x80\xaf", 0},
        {"\xf4\x90\x80\x80", 0},
        {"\xf5\x80\x80\x80", 0},
        {"\x80", 0},
        {"abcdefgh\xff", 0},
        {"\xe6\x97", 0},
        {"\xe6\x97\x41", 0},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct enc span = {0}, req = {0};
        enc_bytes(&span, 1, trace_a, 16);
        enc_bytes(&span, 2, span_a, 8);
        enc_string(&span, 5, cases[i].s);
        enc_request_of_span(&req, &span);
        if (cases[i].valid) {
            uint8_t *out;
            size_t out_len;
            struct otlp_counts counts;
            char err[256];
            ck_assert_msg(rewrite(&req, NULL, &out, &out_len, &counts, err, sizeof err) == 0,
                          "case %zu: %s", i, err);
        } else {
            expect_error(&req, "spans[0]: field 5 (name) is not valid UTF-8");
        }
        enc_free(&span);
        enc_free(&req);
    }

    /* Every string field is checked, down to nested values. */
    struct enc value = {0}, span = {0}, arr = {0}, inner = {0};
    enc_string(&inner, 1, "ok");
    enc_message(&arr, 1, &inner);
    enc_message(&arr, 1, &inner);
    inner.n = 0;
    enc_string(&inner, 1, "\xff");
    enc_message(&arr, 1, &inner);
    enc_message(&value, 5, &arr);
    enc_span_with_value(&span, &value);
    expect_span_error(&span, "resource_spans[0].scope_spans[0].spans[0].attributes[1].value."
                             "array_value.values[2]: field 1 (string_value) is not valid UTF-8");
    span.n = 0;
    enc_span_basic(&span, trace_a, "s");
    enc_string(&span, 3, "\xc0\x80");
    expect_span_error(&span, "field 3 (trace_state) is not valid UTF-8");

    /* bytes fields are not strings. */
    span.n = value.n = 0;
    enc_bytes(&value, 7, "\xff\xfe", 2);
    enc_span_with_value(&span, &value);
    struct enc req = {0};
    enc_request_of_span(&req, &span);
    uint8_t *out;
    size_t out_len;
    struct otlp_counts counts;
    char err[256];
    ck_assert_int_eq(rewrite(&req, NULL, &out, &out_len, &counts, err, sizeof err), 0);

    enc_free(&value);
    enc_free(&span);
    enc_free(&arr);
    enc_free(&inner);
    enc_free(&req);
}
END_TEST

/* A span whose only attribute is the KeyValue kv, given raw. */
static void enc_span_with_key_value(struct enc *span, const void *kv, size_t len)
{
    span->n = 0;
    enc_span_basic(span, trace_a, "s");
    enc_bytes(span, 9, kv, len);
}

static void expect_accepted(const struct enc *span, const char *what)
{
    struct enc req = {0};
    uint8_t *out;
    size_t out_len;
    struct otlp_counts counts;
    char err[256];
    enc_request_of_span(&req, span);
    ck_assert_msg(rewrite(&req, NULL, &out, &out_len, &counts, err, sizeof err) == 0,
                  "%s: %s", what, err);
    ck_assert_uint_eq(counts.kept, 1);
    free(out);
    enc_free(&req);
}

/* Attributes of the common shape (one-byte lengths, one scalar) are checked by a short
 * path; every other shape, and every problem, gets the general walk and its message. */
START_TEST(attribute_shapes)
{
    static const struct {
        const char *kv;
        size_t len;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {"\x0a\x01k\x12\x03\x0a\x01v", 8, NULL},
        {"\x0a\x00\x12\x02\x0a\x00", 6, NULL},
        {"\x0a\x01k\x12\x02\x10\x01", 7, NULL},
        {"\x0a\x01k\x12\x0a\x18\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 15, NULL},
        {"\x0a\x01k\x12\x0b\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 16, NULL},
        {"\x0a\x01k\x12\x09\x21\x00\x00\x00\x00\x00\x00\xf0\x3f", 14, NULL},
        {"\x0a\x01k\x12\x05\x0a\x01v\x18\x01", 10, NULL},      /* two values: last wins */
        {"\x12\x03\x0a\x01v\x0a\x01k", 8, NULL},                  /* value first */
        {"\x0a\x01k\x12\x04\x3a\x02\xff\xfe", 9, NULL},         /* bytes_value */
        {"\x0a\x01k", 3, NULL},                                     /* no value */
        {"\x0a\x01\xff\x12\x03\x0a\x01v", 8,
         "spans[0].attributes[0]: field 1 (key) is not valid UTF-8"},
        {"\x0a\x01k\x12\x03\x0a\x01\xc3", 8,
         "spans[0].attributes[0].value: field 1 (string_value) is not valid UTF-8"},
        {"\x0a\x01k\x12\x03\x0a\x03v", 8,
         "spans[0].attributes[0].value: field 1 length 3 runs past the end of the message"},
        {"\x0a\x01k\x12\x0b\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 16,
         "spans[0].attributes[0].value: field 3"},
        {"\x0a\x01k\x12\x02\x18\x80", 7, "spans[0].attributes[0].value: field 3"},
        {"\x0a\x01k\x12\x09\x22\x07\x00\x00\x00\x00\x00\x00\x00", 14,
         "spans[0].attributes[0].value: field 4 (double_value) has wire type"},
        {"\x0a\x01k\x12\x05\x21\x00\x00\x00\x00", 10,
         "spans[0].attributes[0].value: field 4"},
        {"\x0a\x07k\x12\x03\x0a\x01v", 8,
         "spans[0].attributes[0]: field 1 length 7 runs past the end of the message"},
    };
    struct enc span = {0};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "case %zu", i);
        enc_span_with_key_value(&span, cases[i].kv, cases[i].len);
        if (cases[i].want)
            expect_span_error(&span, cases[i].want);
        else
            expect_accepted(&span, what);
    }

    /* Lengths of two bytes take the general walk, valid or not. */
    char key[200], kv[260];
    memset(key, 'a', sizeof key);
    kv[0] = 0x0a;
    kv[1] = (char)0xc8;
    kv[2] = 0x01;
    memcpy(kv + 3, key, sizeof key);
    memcpy(kv + 3 + sizeof key, "\x12\x03\x0a\x01v", 5);
    enc_span_with_key_value(&span, kv, 3 + sizeof key + 5);
    expect_accepted(&span, "long key");
    kv[3 + 150] = (char)0xff;
    enc_span_with_key_value(&span, kv, 3 + sizeof key + 5);
    expect_span_error(&span, "spans[0].attributes[0]: field 1 (key) is not valid UTF-8");

    /* A two-byte length (0x82 0x00: 2) whose first byte, read alone, would be 130 and
     * make the rest look like a 130-byte key and an int value: the key is 2 bytes, and
     * what follows it is a group tag, refused. */
    kv[0] = 0x0a;
    kv[1] = (char)0x82;
    kv[2] = 0x00;
    memset(kv + 3, 'a', 129);
    kv[5] = 0x0b;
    memcpy(kv + 132, "\x12\x02\x18\x01", 4);
    enc_span_with_key_value(&span, kv, 136);
    expect_span_error(&span, "spans[0].attributes[0]: field 1 ");
    enc_free(&span);
}
END_TEST

/* AnyValue nested `levels` deep, alternating arrays and key-value lists. */
static void enc_nested_value(struct enc *value, int levels, int use_kvlist)
{
    struct enc wrap = {0};
    value->n = 0;
    enc_string(value, 1, "leaf");
    for (int i = 1; i < levels; i++) {
        wrap.n = 0;
        if (use_kvlist && i % 2) {
            struct enc kv = {0}, list = {0};
            enc_string(&kv, 1, "k");
            enc_message(&kv, 2, value);
            enc_message(&list, 1, &kv);
            enc_message(&wrap, 6, &list);
            enc_free(&kv);
            enc_free(&list);
        } else {
            struct enc arr = {0};
            enc_message(&arr, 1, value);
            enc_message(&wrap, 5, &arr);
            enc_free(&arr);
        }
        value->n = 0;
        enc_raw(value, wrap.p, wrap.n);
    }
    enc_free(&wrap);
}

START_TEST(nesting_is_bounded)
{
    struct enc value = {0}, span = {0}, req = {0};
    uint8_t *out;
    size_t out_len;
    struct otlp_counts counts;
    char err[512];

    for (int kv = 0; kv < 2; kv++) {
        enc_nested_value(&value, 32, kv);
        span.n = req.n = 0;
        enc_span_with_value(&span, &value);
        enc_request_of_span(&req, &span);
        ck_assert_msg(rewrite(&req, NULL, &out, &out_len, &counts, err, sizeof err) == 0,
                      "%s", err);
        ck_assert_uint_eq(counts.kept, 1);

        enc_nested_value(&value, 33, kv);
        span.n = 0;
        enc_span_with_value(&span, &value);
        expect_span_error(&span, "values nested more than 32 levels deep");

        enc_nested_value(&value, 3000, kv);
        span.n = 0;
        enc_span_with_value(&span, &value);
        expect_span_error(&span, "values nested more than 32 levels deep");
    }
    enc_free(&value);
    enc_free(&span);
    enc_free(&req);
}
END_TEST

/* Whatever rewrite accepts, protobuf-c decodes, and so is the result. */
static void check_accepted(const uint8_t *in, size_t len, const struct otlp_rewrite_opts *opts)
{
    uint8_t *copy = malloc(len ? len : 1), *out = NULL;
    size_t out_len = 0;
    struct otlp_counts counts;
    char err[256];

    ck_assert_ptr_nonnull(copy);
    if (len > 0)
        memcpy(copy, in, len);
    int rc = otlp_rewrite(copy, len, opts, &out, &out_len, &counts, err, sizeof err);
    if (rc != 0) {
        ck_assert_int_eq(rc, -1);
        ck_assert_ptr_null(out);
        ck_assert(err[0] != '\0');
        free(copy);
        return;
    }
    ck_assert_uint_eq(counts.spans, counts.kept + counts.invalid_total + counts.sampled_out);
    Request *r = unpack_request(copy, len);
    ck_assert_msg(r != NULL, "accepted what protobuf-c refuses (length %zu)", len);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = unpack_request(out != NULL ? out : copy, out_len);
    ck_assert_ptr_nonnull(r);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    ck_assert_uint_eq(otlp_count_spans(out != NULL ? out : copy, out_len), counts.kept);
    free(out);
    free(copy);
}

START_TEST(truncated_everywhere)
{
    struct otlp_rewrite_opts opts = {
        .sampler = &half, .service_name = "svc",
        .attrs = (struct config_kv *)extra_attrs, .attrs_count = 2,
    };
    sampler_init(&half, 0.5, CONFIG_SAMPLER_PYTHON);
    rng_state = 0x5eed0004;
    fill_trace_pool();

    for (int round = 0; round < 3; round++) {
        size_t len;
        Request *req = random_request(3, 2, 4);
        uint8_t *in = pack_request(req, &len);
        for (size_t cut = 0; cut <= len; cut++)
            check_accepted(in, cut, round == 0 ? NULL : &opts);
        free(in);
        arena_free();
    }
}
END_TEST

START_TEST(garbage)
{
    struct otlp_rewrite_opts opts = {.sampler = &half, .service_name = "svc"};
    sampler_init(&half, 0.5, CONFIG_SAMPLER_PYTHON);
    rng_state = 0x5eed0005;
    fill_trace_pool();

    uint8_t junk[512];
    for (int i = 0; i < 20000; i++) {
        size_t len = rnd_below(sizeof junk);
        for (size_t k = 0; k < len; k++)
            junk[k] = (uint8_t)rnd();
        check_accepted(junk, len, &opts);
    }

    /* Valid requests with a few bytes changed get further into the walk. */
    for (int round = 0; round < 20; round++) {
        size_t len;
        Request *req = random_request(2, 2, 3);
        uint8_t *in = pack_request(req, &len);
        uint8_t *mutated = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(mutated);
        for (int m = 0; m < 300; m++) {
            memcpy(mutated, in, len);
            int flips = 1 + (int)rnd_below(4);
            for (int k = 0; k < flips && len > 0; k++)
                mutated[rnd_below((uint32_t)len)] ^= (uint8_t)(1u << rnd_below(8));
            check_accepted(mutated, len, round % 2 ? &opts : NULL);
        }
        free(mutated);
        free(in);
        arena_free();
    }
}
END_TEST

/* ---- the consistent rule's tracestate, rewritten inside the encoded span ---- */

/* One span's case: its randomness (low 56 bits of the trace id), its tracestate, and
 * what a consistent-capable sampler at 0.1 must do with it. */
struct ts_case {
    uint64_t r;
    const char *in;      /* NULL: no trace_state field */
    int keep;
    const char *out;     /* the tracestate it leaves with */
    enum stats_sampler_rule rule;
    int erased;
};

static const struct ts_case ts_cases[] = {
    /* From an SDK sampling at 0.5: raised to e666, other members kept in order. */
    {0xe6660000000000ULL, "vendor=a,ot=th:8;rv:e6660000000000,other=b", 1,
     "ot=th:e666;rv:e6660000000000,vendor=a,other=b", STATS_RULE_CONSISTENT, 0},
    {0xf0000000000000ULL, "ot=th:8", 1, "ot=th:e666", STATS_RULE_CONSISTENT, 0},
    {0xe665ffffffffffULL, "ot=th:8", 0, NULL, STATS_RULE_CONSISTENT, 0},
    /* Already stricter: left as it came. */
    {0xfd000000000000ULL, "ot=th:f,zz=1", 1, "ot=th:f,zz=1", STATS_RULE_CONSISTENT, 0},
    /* Inconsistent: th:f over R = e7...: erased and written anew. */
    {0xe7000000000000ULL, "ot=th:f", 1, "ot=th:e666", STATS_RULE_CONSISTENT, 1},
    {0x10000000000000ULL, "ot=th:f", 0, NULL, STATS_RULE_CONSISTENT, 1},
    /* No ot=: the Python rule, tracestate untouched (the trace id decides; see below). */
    {0xffffffffffffffULL, "congo=t61rcWkgMzE", -1, "congo=t61rcWkgMzE", STATS_RULE_PYTHON, 0},
    {0xffffffffffffffULL, NULL, -1, "", STATS_RULE_PYTHON, 0},
};

static uint8_t *ts_case_id(const struct ts_case *c)
{
    uint8_t *id = alloc(16);
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(0x30 + i);
    /* Not randomness for the consistent rule; for the Python rule at 0.1 it keeps about
     * two in five. */
    id[8] = (uint8_t)rnd_below(0x40);
    for (int i = 0; i < 7; i++)
        id[9 + i] = (uint8_t)(c->r >> (48 - 8 * i));
    return id;
}

/* Gives the request's valid spans the cases in turn; returns how many spans there are. */
static size_t assign_cases(Request *req, const struct ts_case **of_span, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        ResourceSpans *rs = req->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            ScopeSpans *ss = rs->scope_spans[j];
            for (size_t k = 0; k < ss->n_spans && n < max; k++) {
                Span *sp = ss->spans[k];
                const struct ts_case *c = &ts_cases[n % (sizeof ts_cases / sizeof ts_cases[0])];
                of_span[n++] = c;
                sp->trace_id.len = 16;
                sp->trace_id.data = ts_case_id(c);
                sp->span_id = random_bytes(8);
                sp->span_id.data[0] |= 1;
                sp->parent_span_id.len = 0;
                sp->trace_state = (char *)(c->in != NULL ? c->in : "");
            }
        }
    }
    return n;
}

START_TEST(tracestate_rewritten_in_place)
{
    struct sampler s, python;
    sampler_init(&s, 0.1, CONFIG_SAMPLER_AUTO);
    sampler_init(&python, 0.1, CONFIG_SAMPLER_PYTHON);
    struct otlp_rewrite_opts opts = {.sampler = &s};
    uint64_t all_kept[STATS_RULE_COUNT] = {0}, all_out[STATS_RULE_COUNT] = {0};
    rng_state = 0x5eed0012;
    fill_trace_pool();

    for (int round = 0; round < 40; round++) {
        const struct ts_case *of_span[64];
        Request *req = random_request(3, 3, 6);
        size_t n = assign_cases(req, of_span, 64);
        size_t len, out_len;
        uint8_t *in = pack_request(req, &len), *out;
        struct otlp_counts counts;
        char err[256];
        ck_assert_int_eq(otlp_rewrite(in, len, &opts, &out, &out_len, &counts, err,
                                      sizeof err), 0);
        Request *got = unpack_request(out != NULL ? out : in, out_len);
        ck_assert_ptr_nonnull(got);

        /* Walk the input's spans in order beside the output's. */
        uint64_t kept[STATS_RULE_COUNT] = {0}, out_of[STATS_RULE_COUNT] = {0}, erased = 0;
        size_t idx = 0, o_rs = 0, o_ss = 0, o_sp = 0;
        for (size_t i = 0; i < req->n_resource_spans; i++) {
            ResourceSpans *rs = req->resource_spans[i];
            for (size_t j = 0; j < rs->n_scope_spans; j++) {
                ScopeSpans *ss = rs->scope_spans[j];
                for (size_t k = 0; k < ss->n_spans; k++) {
                    Span *sp = ss->spans[k];
                    const struct ts_case *c = of_span[idx++];
                    int keep = c->keep >= 0 ? c->keep : sampler_keep(&python, sp->trace_id.data);
                    erased += (uint64_t)c->erased;
                    if (!keep) {
                        out_of[c->rule]++;
                        continue;
                    }
                    kept[c->rule]++;
                    /* The next output span, wherever its containers are. */
                    while (o_rs < got->n_resource_spans &&
                           (o_ss >= got->resource_spans[o_rs]->n_scope_spans ||
                            o_sp >= got->resource_spans[o_rs]->scope_spans[o_ss]->n_spans)) {
                        if (o_ss < got->resource_spans[o_rs]->n_scope_spans) {
                            o_ss++;
                        } else {
                            o_rs++;
                            o_ss = 0;
                        }
                        o_sp = 0;
                    }
                    ck_assert_uint_lt(o_rs, got->n_resource_spans);
                    Span *g = got->resource_spans[o_rs]->scope_spans[o_ss]->spans[o_sp++];
                    /* Every field as it was but the tracestate, which is the case's. */
                    char *was = sp->trace_state;
                    sp->trace_state = (char *)c->out;
                    ck_assert(same_span(sp, g));
                    sp->trace_state = was;
                }
            }
        }
        ck_assert_uint_eq(idx, n);
        for (int r = 0; r < STATS_RULE_COUNT; r++) {
            ck_assert_uint_eq(counts.kept_by_rule[r], kept[r]);
            ck_assert_uint_eq(counts.sampled_out_by_rule[r], out_of[r]);
        }
        ck_assert_uint_eq(counts.th_erased, erased);
        ck_assert_uint_eq(counts.tracestate_unchanged, 0);
        ck_assert_uint_eq(counts.kept, kept[0] + kept[1]);
        ck_assert_uint_eq(counts.sampled_out, out_of[0] + out_of[1]);
        for (int r = 0; r < STATS_RULE_COUNT; r++) {
            all_kept[r] += kept[r];
            all_out[r] += out_of[r];
        }

        /* The same sampler again keeps all it kept and changes nothing. */
        if (counts.kept > 0) {
            uint8_t *again;
            size_t again_len;
            struct otlp_counts c2;
            ck_assert_int_eq(otlp_rewrite(out != NULL ? out : in, out_len, &opts, &again,
                                          &again_len, &c2, err, sizeof err), 0);
            ck_assert_ptr_null(again);
            ck_assert_uint_eq(c2.kept, counts.kept);
        }
        protobuf_c_message_free_unpacked(&got->base, NULL);
        free(out);
        free(in);
        arena_free();
    }
    /* Both rules both kept and dropped spans: every case was exercised. */
    for (int r = 0; r < STATS_RULE_COUNT; r++) {
        ck_assert_uint_gt(all_kept[r], 0);
        ck_assert_uint_gt(all_out[r], 0);
    }
}
END_TEST

/* A destination sampling below the primary walks the primary's output again with its
 * own sampler: th rises once more, spans of the Python rule follow the Python rule. */
START_TEST(second_pass_lower_ratio)
{
    struct sampler primary, lane;
    sampler_init(&primary, 0.5, CONFIG_SAMPLER_CONSISTENT);
    sampler_init(&lane, 0.1, CONFIG_SAMPLER_AUTO);
    struct otlp_rewrite_opts first = {.sampler = &primary}, second = {.sampler = &lane};
    static const uint64_t rs[] = {0x7fffffffffffffULL, 0x80000000000000ULL,
                                  0xe665ffffffffffULL, 0xe6660000000000ULL,
                                  0xffffffffffffffULL};
    static const char *const after_first[] = {NULL, "ot=th:8", "ot=th:8", "ot=th:8", "ot=th:8"};
    static const char *const after_second[] = {NULL, NULL, NULL, "ot=th:e666", "ot=th:e666"};

    struct enc req = {0};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        struct ts_case c = {.r = rs[i]};
        struct enc span = {0};
        uint8_t *id = ts_case_id(&c);
        enc_span_basic(&span, id, "op");
        enc_request_of_span(&req, &span);
        enc_free(&span);
    }

    uint8_t *mid, *out;
    size_t mid_len, out_len;
    struct otlp_counts c1, c2;
    char err[256];
    ck_assert_int_eq(rewrite(&req, &first, &mid, &mid_len, &c1, err, sizeof err), 0);
    ck_assert_uint_eq(c1.kept, 4);
    ck_assert_uint_eq(c1.kept_by_rule[STATS_RULE_CONSISTENT], 4);
    ck_assert_int_eq(otlp_rewrite(mid, mid_len, &second, &out, &out_len, &c2, err,
                                  sizeof err), 0);
    ck_assert_uint_eq(c2.kept, 2);
    ck_assert_uint_eq(c2.sampled_out_by_rule[STATS_RULE_CONSISTENT], 2);

    Request *a = unpack_request(mid, mid_len), *b = unpack_request(out, out_len);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    size_t ia = 0, ib = 0;
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        if (after_first[i] != NULL)
            ck_assert_str_eq(a->resource_spans[ia++]->scope_spans[0]->spans[0]->trace_state,
                             after_first[i]);
        if (after_second[i] != NULL)
            ck_assert_str_eq(b->resource_spans[ib++]->scope_spans[0]->spans[0]->trace_state,
                             after_second[i]);
    }
    ck_assert_uint_eq(ia, a->n_resource_spans);
    ck_assert_uint_eq(ib, b->n_resource_spans);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    protobuf_c_message_free_unpacked(&b->base, NULL);
    free(mid);
    free(out);
    enc_free(&req);
    arena_free();
}
END_TEST

/* Span.trace_state given twice: the last one is the span's, and the one rewritten. */
START_TEST(tracestate_given_twice)
{
    struct sampler s;
    sampler_init(&s, 0.1, CONFIG_SAMPLER_AUTO);
    struct otlp_rewrite_opts opts = {.sampler = &s};
    struct ts_case c = {.r = 0xf0000000000000ULL};
    struct enc span = {0}, req = {0};

    enc_span_basic(&span, ts_case_id(&c), "twice");
    enc_string(&span, 3, "a=1");
    enc_string(&span, 5, "renamed");
    enc_string(&span, 3, "ot=th:c,b=2");
    enc_request_of_span(&req, &span);

    uint8_t *out;
    size_t out_len;
    struct otlp_counts counts;
    char err[256];
    ck_assert_int_eq(rewrite(&req, &opts, &out, &out_len, &counts, err, sizeof err), 0);
    ck_assert_ptr_nonnull(out);
    Request *got = unpack_request(out, out_len);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got->resource_spans[0]->scope_spans[0]->spans[0]->trace_state,
                     "ot=th:e666,b=2");
    /* The earlier occurrence is still there, before the rewritten one. */
    ck_assert_ptr_nonnull(memmem(out, out_len, "\x1a\x03" "a=1", 5));
    protobuf_c_message_free_unpacked(&got->base, NULL);
    free(out);
    enc_free(&span);
    enc_free(&req);
    arena_free();
}
END_TEST

/* Writing th into many spans grows the ScopeSpans and ResourceSpans past a length
 * prefix size (2 to 3 bytes at 16 KiB). */
START_TEST(rewrites_grow_length_prefixes)
{
    struct sampler s;
    sampler_init(&s, 1.0, CONFIG_SAMPLER_CONSISTENT);
    struct otlp_rewrite_opts opts = {.sampler = &s};
    struct enc ss = {0}, rs = {0}, req = {0};
    int spans = 0;

    while (ss.n < 16000) {
        struct enc span = {0};
        enc_span_basic(&span, trace_a, "grow");
        enc_message(&ss, 2, &span);
        enc_free(&span);
        spans++;
    }
    enc_message(&rs, 2, &ss);
    enc_message(&req, 1, &rs);

    uint8_t *out;
    size_t out_len;
    struct otlp_counts counts;
    char err[256];
    ck_assert_int_eq(rewrite(&req, &opts, &out, &out_len, &counts, err, sizeof err), 0);
    ck_assert_uint_eq(counts.kept, (uint64_t)spans);
    ck_assert_uint_eq(counts.kept_by_rule[STATS_RULE_CONSISTENT], (uint64_t)spans);
    ck_assert_uint_eq(out_len, req.n + (size_t)spans * strlen("\x1a\x09ot=th:0") + 2);
    Request *got = unpack_request(out, out_len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->resource_spans[0]->scope_spans[0]->n_spans, (size_t)spans);
    for (int i = 0; i < spans; i++)
        ck_assert_str_eq(got->resource_spans[0]->scope_spans[0]->spans[i]->trace_state,
                         "ot=th:0");
    protobuf_c_message_free_unpacked(&got->base, NULL);
    free(out);
    enc_free(&ss);
    enc_free(&rs);
    enc_free(&req);
}
END_TEST

static Suite *otlp_suite(void)
{
    Suite *s = suite_create("otlp");
    TCase *tc = tcase_create("otlp");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, random_requests);
    tcase_add_test(tc, traces_stay_whole);
    tcase_add_test(tc, hot_path_does_not_copy);
    tcase_add_test(tc, empty_and_nothing_left);
    tcase_add_test(tc, invalid_ids_drop_the_span);
    tcase_add_test(tc, length_prefixes_change_size);
    tcase_add_test(tc, resource_given_twice);
    tcase_add_test(tc, unknown_fields_are_kept);
    tcase_add_test(tc, error_names_the_path);
    tcase_add_test(tc, wrong_wire_types);
    tcase_add_test(tc, bad_encodings);
    tcase_add_test(tc, utf8);
    tcase_add_test(tc, attribute_shapes);
    tcase_add_test(tc, nesting_is_bounded);
    tcase_add_test(tc, truncated_everywhere);
    tcase_add_test(tc, garbage);
    tcase_add_test(tc, tracestate_rewritten_in_place);
    tcase_add_test(tc, second_pass_lower_ratio);
    tcase_add_test(tc, tracestate_given_twice);
    tcase_add_test(tc, rewrites_grow_length_prefixes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(otlp_suite());
}
