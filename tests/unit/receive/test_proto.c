/* test_proto.c — the protobuf-c code generated from proto/: a full
 * ExportTraceServiceRequest, the response, google.rpc.Status and RetryInfo survive a
 * pack/unpack round trip field by field, and a few encodings match the bytes the
 * protobuf specification gives. */
#include <string.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "unit.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse Response;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess PartialSuccess;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Trace__V1__Status SpanStatus;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__EntityRef EntityRef;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KeyValueList;

#define VALUE(c) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##c

static uint8_t trace_id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                               0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static uint8_t span_id[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static uint8_t parent_id[8] = {0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8};
static uint8_t link_trace[16] = {0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xee};
static uint8_t link_span[8] = {9, 8, 7, 6, 5, 4, 3, 2};
static uint8_t blob[5] = {0x00, 0xff, 0x80, 0x7f, 0x01};

/* Every struct of the request, so the test needs no allocation. */
struct fixture {
    Request req;
    ResourceSpans rs, *rs_list[1];
    Resource resource;
    KeyValue res_attrs[2], *res_attr_list[2];
    AnyValue res_values[2];
    EntityRef entity, *entity_list[1];
    char *id_keys[2];
    ScopeSpans ss, *ss_list[1];
    Scope scope;
    KeyValue scope_attr, *scope_attr_list[1];
    AnyValue scope_value;
    Span span, *span_list[1];

    /* span attributes, one per AnyValue kind, and a nested array and kvlist */
    KeyValue attrs[7], *attr_list[7];
    AnyValue values[7];
    ArrayValue array;
    AnyValue array_items[3], *array_item_list[3];
    ArrayValue inner_array;
    AnyValue inner_items[1], *inner_item_list[1];
    KeyValueList kvlist;
    KeyValue kv_items[2], *kv_item_list[2];
    AnyValue kv_values[2];

    Event event, *event_list[1];
    KeyValue event_attr, *event_attr_list[1];
    AnyValue event_value;
    Link link, *link_list[1];
    KeyValue link_attr, *link_attr_list[1];
    AnyValue link_value;
    SpanStatus status;
};

static void string_kv(KeyValue *kv, AnyValue *v, const char *key, const char *value)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    kv->value = v;
    v->value_case = VALUE(STRING_VALUE);
    v->string_value = (char *)value;
}

static void build_attributes(struct fixture *f)
{
    static const char *const keys[7] = {
        "http.route", "error", "http.status_code", "sampler.ratio",
        "body", "tags", "headers",
    };
    for (int i = 0; i < 7; i++) {
        opentelemetry__proto__common__v1__key_value__init(&f->attrs[i]);
        opentelemetry__proto__common__v1__any_value__init(&f->values[i]);
        f->attrs[i].key = (char *)keys[i];
        f->attrs[i].value = &f->values[i];
        f->attr_list[i] = &f->attrs[i];
    }
    f->values[0].value_case = VALUE(STRING_VALUE);
    f->values[0].string_value = "/orders/{id} — café";
    f->values[1].value_case = VALUE(BOOL_VALUE);
    f->values[1].bool_value = 1;
    f->values[2].value_case = VALUE(INT_VALUE);
    f->values[2].int_value = -503;
    f->values[3].value_case = VALUE(DOUBLE_VALUE);
    f->values[3].double_value = 0.125;
    f->values[4].value_case = VALUE(BYTES_VALUE);
    f->values[4].bytes_value.len = sizeof blob;
    f->values[4].bytes_value.data = blob;

    /* tags: ["a", 7, [true]] */
    opentelemetry__proto__common__v1__array_value__init(&f->array);
    opentelemetry__proto__common__v1__array_value__init(&f->inner_array);
    for (int i = 0; i < 3; i++) {
        opentelemetry__proto__common__v1__any_value__init(&f->array_items[i]);
        f->array_item_list[i] = &f->array_items[i];
    }
    f->array_items[0].value_case = VALUE(STRING_VALUE);
    f->array_items[0].string_value = "a";
    f->array_items[1].value_case = VALUE(INT_VALUE);
    f->array_items[1].int_value = 7;
    opentelemetry__proto__common__v1__any_value__init(&f->inner_items[0]);
    f->inner_items[0].value_case = VALUE(BOOL_VALUE);
    f->inner_items[0].bool_value = 1;
    f->inner_item_list[0] = &f->inner_items[0];
    f->inner_array.n_values = 1;
    f->inner_array.values = f->inner_item_list;
    f->array_items[2].value_case = VALUE(ARRAY_VALUE);
    f->array_items[2].array_value = &f->inner_array;
    f->array.n_values = 3;
    f->array.values = f->array_item_list;
    f->values[5].value_case = VALUE(ARRAY_VALUE);
    f->values[5].array_value = &f->array;

    /* headers: {accept: "*\/\*", retries: 2} */
    opentelemetry__proto__common__v1__key_value_list__init(&f->kvlist);
    string_kv(&f->kv_items[0], &f->kv_values[0], "accept", "*/*");
    opentelemetry__proto__common__v1__key_value__init(&f->kv_items[1]);
    opentelemetry__proto__common__v1__any_value__init(&f->kv_values[1]);
    f->kv_items[1].key = "retries";
    f->kv_items[1].value = &f->kv_values[1];
    f->kv_values[1].value_case = VALUE(INT_VALUE);
    f->kv_values[1].int_value = 2;
    f->kv_item_list[0] = &f->kv_items[0];
    f->kv_item_list[1] = &f->kv_items[1];
    f->kvlist.n_values = 2;
    f->kvlist.values = f->kv_item_list;
    f->values[6].value_case = VALUE(KVLIST_VALUE);
    f->values[6].kvlist_value = &f->kvlist;
}

static void build_request(struct fixture *f)
{
    memset(f, 0, sizeof *f);

    opentelemetry__proto__trace__v1__span__init(&f->span);
    f->span.trace_id.len = 16;
    f->span.trace_id.data = trace_id;
    f->span.span_id.len = 8;
    f->span.span_id.data = span_id;
    f->span.parent_span_id.len = 8;
    f->span.parent_span_id.data = parent_id;
    f->span.trace_state = "rojo=00f067aa0ba902b7";
    f->span.flags = 0x301;
    f->span.name = "GET /orders/{id}";
    f->span.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    f->span.start_time_unix_nano = 1700000000123456789ULL;
    f->span.end_time_unix_nano = 1700000000987654321ULL;
    build_attributes(f);
    f->span.n_attributes = 7;
    f->span.attributes = f->attr_list;
    f->span.dropped_attributes_count = 3;

    opentelemetry__proto__trace__v1__span__event__init(&f->event);
    f->event.time_unix_nano = 1700000000500000000ULL;
    f->event.name = "exception";
    string_kv(&f->event_attr, &f->event_value, "exception.type", "ValueError");
    f->event_attr_list[0] = &f->event_attr;
    f->event.n_attributes = 1;
    f->event.attributes = f->event_attr_list;
    f->event.dropped_attributes_count = 1;
    f->event_list[0] = &f->event;
    f->span.n_events = 1;
    f->span.events = f->event_list;
    f->span.dropped_events_count = 4;

    opentelemetry__proto__trace__v1__span__link__init(&f->link);
    f->link.trace_id.len = 16;
    f->link.trace_id.data = link_trace;
    f->link.span_id.len = 8;
    f->link.span_id.data = link_span;
    f->link.trace_state = "congo=t61rcWkgMzE";
    string_kv(&f->link_attr, &f->link_value, "messaging.operation", "publish");
    f->link_attr_list[0] = &f->link_attr;
    f->link.n_attributes = 1;
    f->link.attributes = f->link_attr_list;
    f->link.dropped_attributes_count = 2;
    f->link.flags = 0x101;
    f->link_list[0] = &f->link;
    f->span.n_links = 1;
    f->span.links = f->link_list;
    f->span.dropped_links_count = 5;

    opentelemetry__proto__trace__v1__status__init(&f->status);
    f->status.message = "upstream timed out";
    f->status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    f->span.status = &f->status;
    f->span_list[0] = &f->span;

    opentelemetry__proto__common__v1__instrumentation_scope__init(&f->scope);
    f->scope.name = "opentelemetry.instrumentation.fastapi";
    f->scope.version = "0.48b0";
    string_kv(&f->scope_attr, &f->scope_value, "library.language", "python");
    f->scope_attr_list[0] = &f->scope_attr;
    f->scope.n_attributes = 1;
    f->scope.attributes = f->scope_attr_list;
    f->scope.dropped_attributes_count = 6;

    opentelemetry__proto__trace__v1__scope_spans__init(&f->ss);
    f->ss.scope = &f->scope;
    f->ss.n_spans = 1;
    f->ss.spans = f->span_list;
    f->ss.schema_url = "https://opentelemetry.io/schemas/1.21.0";
    f->ss_list[0] = &f->ss;

    opentelemetry__proto__resource__v1__resource__init(&f->resource);
    string_kv(&f->res_attrs[0], &f->res_values[0], "service.name", "aifactory-web");
    string_kv(&f->res_attrs[1], &f->res_values[1], "k8s.pod.name", "web-7d9f-x2");
    f->res_attr_list[0] = &f->res_attrs[0];
    f->res_attr_list[1] = &f->res_attrs[1];
    f->resource.n_attributes = 2;
    f->resource.attributes = f->res_attr_list;
    f->resource.dropped_attributes_count = 8;
    opentelemetry__proto__common__v1__entity_ref__init(&f->entity);
    f->entity.schema_url = "https://opentelemetry.io/schemas/1.26.0";
    f->entity.type = "k8s.pod";
    f->id_keys[0] = "k8s.pod.uid";
    f->id_keys[1] = "k8s.namespace.name";
    f->entity.n_id_keys = 2;
    f->entity.id_keys = f->id_keys;
    f->entity_list[0] = &f->entity;
    f->resource.n_entity_refs = 1;
    f->resource.entity_refs = f->entity_list;

    opentelemetry__proto__trace__v1__resource_spans__init(&f->rs);
    f->rs.resource = &f->resource;
    f->rs.n_scope_spans = 1;
    f->rs.scope_spans = f->ss_list;
    f->rs.schema_url = "https://opentelemetry.io/schemas/1.24.0";
    f->rs_list[0] = &f->rs;

    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&f->req);
    f->req.n_resource_spans = 1;
    f->req.resource_spans = f->rs_list;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static void check_bytes(ProtobufCBinaryData got, const uint8_t *want, size_t len)
{
    ck_assert_uint_eq(got.len, len);
    ck_assert_mem_eq(got.data, want, len);
}

static void check_string_kv(const KeyValue *kv, const char *key, const char *value)
{
    ck_assert_str_eq(kv->key, key);
    ck_assert_ptr_nonnull(kv->value);
    ck_assert_int_eq(kv->value->value_case, VALUE(STRING_VALUE));
    ck_assert_str_eq(kv->value->string_value, value);
}

static void check_attributes(const Span *s)
{
    ck_assert_uint_eq(s->n_attributes, 7);
    check_string_kv(s->attributes[0], "http.route", "/orders/{id} — café");
    ck_assert_str_eq(s->attributes[1]->key, "error");
    ck_assert_int_eq(s->attributes[1]->value->value_case, VALUE(BOOL_VALUE));
    ck_assert_int_eq(s->attributes[1]->value->bool_value, 1);
    ck_assert_str_eq(s->attributes[2]->key, "http.status_code");
    ck_assert_int_eq(s->attributes[2]->value->value_case, VALUE(INT_VALUE));
    ck_assert_int_eq(s->attributes[2]->value->int_value, -503);
    ck_assert_str_eq(s->attributes[3]->key, "sampler.ratio");
    ck_assert_int_eq(s->attributes[3]->value->value_case, VALUE(DOUBLE_VALUE));
    ck_assert_double_eq(s->attributes[3]->value->double_value, 0.125);
    ck_assert_str_eq(s->attributes[4]->key, "body");
    ck_assert_int_eq(s->attributes[4]->value->value_case, VALUE(BYTES_VALUE));
    check_bytes(s->attributes[4]->value->bytes_value, blob, sizeof blob);

    const AnyValue *tags = s->attributes[5]->value;
    ck_assert_str_eq(s->attributes[5]->key, "tags");
    ck_assert_int_eq(tags->value_case, VALUE(ARRAY_VALUE));
    ck_assert_uint_eq(tags->array_value->n_values, 3);
    ck_assert_int_eq(tags->array_value->values[0]->value_case, VALUE(STRING_VALUE));
    ck_assert_str_eq(tags->array_value->values[0]->string_value, "a");
    ck_assert_int_eq(tags->array_value->values[1]->value_case, VALUE(INT_VALUE));
    ck_assert_int_eq(tags->array_value->values[1]->int_value, 7);
    const AnyValue *inner = tags->array_value->values[2];
    ck_assert_int_eq(inner->value_case, VALUE(ARRAY_VALUE));
    ck_assert_uint_eq(inner->array_value->n_values, 1);
    ck_assert_int_eq(inner->array_value->values[0]->value_case, VALUE(BOOL_VALUE));
    ck_assert_int_eq(inner->array_value->values[0]->bool_value, 1);

    const AnyValue *headers = s->attributes[6]->value;
    ck_assert_str_eq(s->attributes[6]->key, "headers");
    ck_assert_int_eq(headers->value_case, VALUE(KVLIST_VALUE));
    ck_assert_uint_eq(headers->kvlist_value->n_values, 2);
    check_string_kv(headers->kvlist_value->values[0], "accept", "*/*");
    ck_assert_str_eq(headers->kvlist_value->values[1]->key, "retries");
    ck_assert_int_eq(headers->kvlist_value->values[1]->value->value_case, VALUE(INT_VALUE));
    ck_assert_int_eq(headers->kvlist_value->values[1]->value->int_value, 2);
}

static void check_span(const Span *s)
{
    check_bytes(s->trace_id, trace_id, 16);
    check_bytes(s->span_id, span_id, 8);
    check_bytes(s->parent_span_id, parent_id, 8);
    ck_assert_str_eq(s->trace_state, "rojo=00f067aa0ba902b7");
    ck_assert_uint_eq(s->flags, 0x301);
    ck_assert_str_eq(s->name, "GET /orders/{id}");
    ck_assert_int_eq(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    ck_assert_uint_eq(s->start_time_unix_nano, 1700000000123456789ULL);
    ck_assert_uint_eq(s->end_time_unix_nano, 1700000000987654321ULL);
    check_attributes(s);
    ck_assert_uint_eq(s->dropped_attributes_count, 3);

    ck_assert_uint_eq(s->n_events, 1);
    ck_assert_uint_eq(s->events[0]->time_unix_nano, 1700000000500000000ULL);
    ck_assert_str_eq(s->events[0]->name, "exception");
    ck_assert_uint_eq(s->events[0]->n_attributes, 1);
    check_string_kv(s->events[0]->attributes[0], "exception.type", "ValueError");
    ck_assert_uint_eq(s->events[0]->dropped_attributes_count, 1);
    ck_assert_uint_eq(s->dropped_events_count, 4);

    ck_assert_uint_eq(s->n_links, 1);
    check_bytes(s->links[0]->trace_id, link_trace, 16);
    check_bytes(s->links[0]->span_id, link_span, 8);
    ck_assert_str_eq(s->links[0]->trace_state, "congo=t61rcWkgMzE");
    ck_assert_uint_eq(s->links[0]->n_attributes, 1);
    check_string_kv(s->links[0]->attributes[0], "messaging.operation", "publish");
    ck_assert_uint_eq(s->links[0]->dropped_attributes_count, 2);
    ck_assert_uint_eq(s->links[0]->flags, 0x101);
    ck_assert_uint_eq(s->dropped_links_count, 5);

    ck_assert_ptr_nonnull(s->status);
    ck_assert_str_eq(s->status->message, "upstream timed out");
    ck_assert_int_eq(s->status->code,
                     OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
}

START_TEST(request_round_trip)
{
    static struct fixture f;
    size_t len;

    build_request(&f);
    uint8_t *buf = pack(&f.req.base, &len);

    Request *got = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, len, buf);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->n_resource_spans, 1);
    const ResourceSpans *rs = got->resource_spans[0];
    ck_assert_str_eq(rs->schema_url, "https://opentelemetry.io/schemas/1.24.0");

    ck_assert_ptr_nonnull(rs->resource);
    ck_assert_uint_eq(rs->resource->n_attributes, 2);
    check_string_kv(rs->resource->attributes[0], "service.name", "aifactory-web");
    check_string_kv(rs->resource->attributes[1], "k8s.pod.name", "web-7d9f-x2");
    ck_assert_uint_eq(rs->resource->dropped_attributes_count, 8);
    ck_assert_uint_eq(rs->resource->n_entity_refs, 1);
    const EntityRef *e = rs->resource->entity_refs[0];
    ck_assert_str_eq(e->schema_url, "https://opentelemetry.io/schemas/1.26.0");
    ck_assert_str_eq(e->type, "k8s.pod");
    ck_assert_uint_eq(e->n_id_keys, 2);
    ck_assert_str_eq(e->id_keys[0], "k8s.pod.uid");
    ck_assert_str_eq(e->id_keys[1], "k8s.namespace.name");
    ck_assert_uint_eq(e->n_description_keys, 0);

    ck_assert_uint_eq(rs->n_scope_spans, 1);
    const ScopeSpans *ss = rs->scope_spans[0];
    ck_assert_str_eq(ss->schema_url, "https://opentelemetry.io/schemas/1.21.0");
    ck_assert_ptr_nonnull(ss->scope);
    ck_assert_str_eq(ss->scope->name, "opentelemetry.instrumentation.fastapi");
    ck_assert_str_eq(ss->scope->version, "0.48b0");
    ck_assert_uint_eq(ss->scope->n_attributes, 1);
    check_string_kv(ss->scope->attributes[0], "library.language", "python");
    ck_assert_uint_eq(ss->scope->dropped_attributes_count, 6);
    ck_assert_uint_eq(ss->n_spans, 1);
    check_span(ss->spans[0]);

    /* Packing what was unpacked gives the same bytes. */
    size_t len2;
    uint8_t *buf2 = pack(&got->base, &len2);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(buf2, buf, len);

    /* Concatenated requests are one request with the lists joined (DESIGN.md 2). */
    uint8_t *two = malloc(2 * len);
    ck_assert_ptr_nonnull(two);
    memcpy(two, buf, len);
    memcpy(two + len, buf, len);
    Request *joined = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, 2 * len, two);
    ck_assert_ptr_nonnull(joined);
    ck_assert_uint_eq(joined->n_resource_spans, 2);
    check_span(joined->resource_spans[1]->scope_spans[0]->spans[0]);

    protobuf_c_message_free_unpacked(&joined->base, NULL);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    free(two);
    free(buf2);
    free(buf);
}
END_TEST

START_TEST(known_encodings)
{
    KeyValue kv;
    AnyValue v;
    size_t len;

    /* KeyValue{key: "a", value: {int_value: 1}} */
    opentelemetry__proto__common__v1__key_value__init(&kv);
    opentelemetry__proto__common__v1__any_value__init(&v);
    kv.key = "a";
    kv.value = &v;
    v.value_case = VALUE(INT_VALUE);
    v.int_value = 1;
    uint8_t *buf = pack(&kv.base, &len);
    ck_assert_uint_eq(len, 7);
    ck_assert_mem_eq(buf, "\x0a\x01\x61\x12\x02\x18\x01", 7);
    free(buf);

    /* Span{flags: 1}: fixed32 field 16 is tag 0x85 0x01. */
    Span s;
    opentelemetry__proto__trace__v1__span__init(&s);
    s.flags = 1;
    buf = pack(&s.base, &len);
    ck_assert_uint_eq(len, 6);
    ck_assert_mem_eq(buf, "\x85\x01\x01\x00\x00\x00", 6);
    free(buf);
}
END_TEST

START_TEST(response_round_trip)
{
    Response resp;
    PartialSuccess ps;
    size_t len;

    opentelemetry__proto__collector__trace__v1__export_trace_service_response__init(&resp);
    opentelemetry__proto__collector__trace__v1__export_trace_partial_success__init(&ps);
    ps.rejected_spans = 17;
    ps.error_message = "buffer full: 17 spans dropped";
    resp.partial_success = &ps;
    uint8_t *buf = pack(&resp.base, &len);

    Response *got = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
        NULL, len, buf);
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(got->partial_success);
    ck_assert_int_eq(got->partial_success->rejected_spans, 17);
    ck_assert_str_eq(got->partial_success->error_message, "buffer full: 17 spans dropped");
    protobuf_c_message_free_unpacked(&got->base, NULL);
    free(buf);

    /* An empty response is zero bytes and decodes without partial_success. */
    resp.partial_success = NULL;
    ck_assert_uint_eq(protobuf_c_message_get_packed_size(&resp.base), 0);
    got = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
        NULL, 0, (const uint8_t *)"");
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_null(got->partial_success);
    protobuf_c_message_free_unpacked(&got->base, NULL);
}
END_TEST

START_TEST(rpc_status_and_retry_info)
{
    Google__Rpc__RetryInfo retry;
    Google__Protobuf__Duration delay;
    size_t retry_len, status_len;

    google__rpc__retry_info__init(&retry);
    google__protobuf__duration__init(&delay);
    delay.seconds = 1;
    delay.nanos = 500000000;
    retry.retry_delay = &delay;
    uint8_t *retry_buf = pack(&retry.base, &retry_len);
    ck_assert_uint_eq(retry_len, 10);
    ck_assert_mem_eq(retry_buf, "\x0a\x08\x08\x01\x10\x80\xca\xb5\xee\x01", 10);

    /* Status{code: UNAVAILABLE, message, details: [Any(RetryInfo)]}, as a gRPC
     * server puts it in grpc-status-details-bin. */
    Google__Rpc__Status status;
    Google__Protobuf__Any any, *details[1] = {&any};
    google__rpc__status__init(&status);
    google__protobuf__any__init(&any);
    any.type_url = "type.googleapis.com/google.rpc.RetryInfo";
    any.value.len = retry_len;
    any.value.data = retry_buf;
    status.code = 14;
    status.message = "backend overloaded";
    status.n_details = 1;
    status.details = details;
    uint8_t *status_buf = pack(&status.base, &status_len);

    Google__Rpc__Status *got = google__rpc__status__unpack(NULL, status_len, status_buf);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got->code, 14);
    ck_assert_str_eq(got->message, "backend overloaded");
    ck_assert_uint_eq(got->n_details, 1);
    ck_assert_str_eq(got->details[0]->type_url, "type.googleapis.com/google.rpc.RetryInfo");

    Google__Rpc__RetryInfo *ri = google__rpc__retry_info__unpack(
        NULL, got->details[0]->value.len, got->details[0]->value.data);
    ck_assert_ptr_nonnull(ri);
    ck_assert_ptr_nonnull(ri->retry_delay);
    ck_assert_int_eq(ri->retry_delay->seconds, 1);
    ck_assert_int_eq(ri->retry_delay->nanos, 500000000);

    google__rpc__retry_info__free_unpacked(ri, NULL);
    google__rpc__status__free_unpacked(got, NULL);
    free(status_buf);
    free(retry_buf);
}
END_TEST

START_TEST(malformed_is_refused)
{
    /* A length past the end, and a group, are refused by the generated decoder too. */
    ck_assert_ptr_null(opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, 3, (const uint8_t *)"\x0a\x05\x01"));
    ck_assert_ptr_null(google__rpc__status__unpack(NULL, 2, (const uint8_t *)"\x0b\x0c"));
}
END_TEST

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("proto");
    tcase_add_test(tc, request_round_trip);
    tcase_add_test(tc, known_encodings);
    tcase_add_test(tc, response_round_trip);
    tcase_add_test(tc, rpc_status_and_retry_info);
    tcase_add_test(tc, malformed_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(proto_suite());
}
