/* test_otlp_json.c — checks daemon/receive/otlp_json: OTLP/JSON requests become the protobuf
 * they describe, field by field; every kind of bad input is refused with an error that
 * says where; the JSON answers are exact.
 *
 * Requests are written with single quotes for readability and turned into JSON by
 * requote() before use, so none of them contains a single quote of its own. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "receive/otlp_json.h"
#include "unit.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define VALUE(name) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##name

static char *requote(const char *s)
{
    char *json = strdup(s);
    char *p;

    ck_assert_ptr_nonnull(json);
    for (p = json; *p != '\0'; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return json;
}

/* Converts, expecting success; returns the encoding (caller frees). */
static uint8_t *to_proto(const char *quoted, size_t *len)
{
    char *json = requote(quoted);
    char err[2048];
    uint8_t *out = NULL;
    int rc = otlp_json_to_proto(json, strlen(json), &out, len, err, sizeof err);

    ck_assert_msg(rc == 0, "conversion failed: %s\n%s", err, json);
    ck_assert_ptr_nonnull(out);
    free(json);
    return out;
}

/* Converts and decodes, expecting success (caller frees with free_req). */
static Request *convert(const char *quoted)
{
    size_t len;
    uint8_t *buf = to_proto(quoted, &len);
    Request *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len,
                                                                                         buf);

    ck_assert_ptr_nonnull(req);
    free(buf);
    return req;
}

static void free_req(Request *req)
{
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);
}

static void expect_error_raw(const char *json, size_t len, const char *expected)
{
    char err[2048];
    uint8_t *out = (uint8_t *)"untouched";
    size_t out_len = 99;
    int rc = otlp_json_to_proto(json, len, &out, &out_len, err, sizeof err);

    ck_assert_msg(rc == -1, "accepted: %.*s", (int)len, json);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    ck_assert_str_eq(err, expected);
}

static void expect_error(const char *quoted, const char *expected)
{
    char *json = requote(quoted);

    expect_error_raw(json, strlen(json), expected);
    free(json);
}

/* Expects failure with a message that starts with prefix. */
static void expect_error_prefix(const char *json, size_t len, const char *prefix)
{
    char err[2048];
    uint8_t *out = NULL;
    size_t out_len;
    int rc = otlp_json_to_proto(json, len, &out, &out_len, err, sizeof err);

    ck_assert_msg(rc == -1, "accepted: %.*s", (int)len, json);
    ck_assert_ptr_null(out);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "error \"%s\" does not start with \"%s\"",
                  err, prefix);
}

/* Expects both requests to convert to the very same bytes. */
static void expect_same(const char *quoted_a, const char *quoted_b)
{
    size_t len_a, len_b;
    uint8_t *a = to_proto(quoted_a, &len_a);
    uint8_t *b = to_proto(quoted_b, &len_b);

    ck_assert_uint_eq(len_a, len_b);
    ck_assert_mem_eq(a, b, len_a);
    free(a);
    free(b);
}

static const AnyValue *attr(KeyValue **kvs, size_t n, const char *key)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(kvs[i]->key, key) == 0)
            return kvs[i]->value;
    }
    ck_abort_msg("no attribute %s", key);
    return NULL;
}

static void expect_bytes(ProtobufCBinaryData b, const char *hex)
{
    size_t i, n = strlen(hex) / 2;

    ck_assert_uint_eq(b.len, n);
    for (i = 0; i < n; i++) {
        unsigned byte;

        sscanf(hex + 2 * i, "%2x", &byte);
        ck_assert_uint_eq(b.data[i], byte);
    }
}

/* The first span of the first scope of the first resource. */
static Span *first_span(Request *req)
{
    ck_assert_uint_ge(req->n_resource_spans, 1);
    ck_assert_uint_ge(req->resource_spans[0]->n_scope_spans, 1);
    ck_assert_uint_ge(req->resource_spans[0]->scope_spans[0]->n_spans, 1);
    return req->resource_spans[0]->scope_spans[0]->spans[0];
}

/* One span whose fields are given by the caller, for the tests of single fields. */
static char *one_span(const char *fields)
{
    const char *head = "{'resourceSpans':[{'scopeSpans':[{'spans':[{";
    const char *tail = "}]}]}]}";
    char *s = malloc(strlen(head) + strlen(fields) + strlen(tail) + 1);

    ck_assert_ptr_nonnull(s);
    strcpy(s, head);
    strcat(s, fields);
    strcat(s, tail);
    return s;
}

/* One span with one attribute whose value is given by the caller. */
static char *one_value(const char *value)
{
    const char *head = "'traceId':'01','attributes':[{'key':'a','value':";
    char *fields = malloc(strlen(head) + strlen(value) + 3);
    char *s;

    ck_assert_ptr_nonnull(fields);
    strcpy(fields, head);
    strcat(fields, value);
    strcat(fields, "}]");
    s = one_span(fields);
    free(fields);
    return s;
}

static const AnyValue *value_of(Request *req)
{
    Span *span = first_span(req);

    ck_assert_uint_eq(span->n_attributes, 1);
    ck_assert_ptr_nonnull(span->attributes[0]->value);
    return span->attributes[0]->value;
}

static void expect_span_error(const char *fields, const char *expected)
{
    char *s = one_span(fields);

    expect_error(s, expected);
    free(s);
}

static void expect_value_error(const char *value, const char *expected)
{
    char *s = one_value(value);

    expect_error(s, expected);
    free(s);
}

static const char *const full_request =
    "{'resourceSpans':["
    " {'resource':{'attributes':["
    "    {'key':'service.name','value':{'stringValue':'checkout'}},"
    "    {'key':'host.cores','value':{'intValue':'16'}}],"
    "   'droppedAttributesCount':1,"
    "   'entityRefs':[{'schemaUrl':'https://e.example','type':'service',"
    "                  'idKeys':['service.name'],'descriptionKeys':['service.version','x']}]},"
    "  'schemaUrl':'https://opentelemetry.io/schemas/1.21.0',"
    "  'scopeSpans':["
    "   {'scope':{'name':'lib','version':'1.2.3',"
    "             'attributes':[{'key':'scope.attr','value':{'boolValue':true}}],"
    "             'droppedAttributesCount':2},"
    "    'schemaUrl':'https://scope.example',"
    "    'spans':["
    "     {'traceId':'0102030405060708090A0b0c0d0e0f10','spanId':'1112131415161718',"
    "      'parentSpanId':'2122232425262728','traceState':'k=v,r=1','flags':769,"
    "      'name':'GET /cart','kind':2,"
    "      'startTimeUnixNano':'1700000000000000001','endTimeUnixNano':1700000000000000999,"
    "      'attributes':["
    "       {'key':'s','value':{'stringValue':'say \\'hi\\' \\u00e9 ü\\n'}},"
    "       {'key':'b','value':{'boolValue':false}},"
    "       {'key':'imin','value':{'intValue':'-9223372036854775808'}},"
    "       {'key':'imax','value':{'intValue':9223372036854775807}},"
    "       {'key':'ineg','value':{'intValue':-5}},"
    "       {'key':'d','value':{'doubleValue':3.25}},"
    "       {'key':'dint','value':{'doubleValue':7}},"
    "       {'key':'dnan','value':{'doubleValue':'NaN'}},"
    "       {'key':'dinf','value':{'doubleValue':'Infinity'}},"
    "       {'key':'dninf','value':{'doubleValue':'-Infinity'}},"
    "       {'key':'dstr','value':{'doubleValue':'-2.5e-3'}},"
    "       {'key':'by','value':{'bytesValue':'AAEC/w=='}},"
    "       {'key':'arr','value':{'arrayValue':{'values':["
    "          {'stringValue':'a'},{'intValue':1},"
    "          {'arrayValue':{'values':[{'boolValue':true}]}},"
    "          {'kvlistValue':{'values':[{'key':'k','value':{'doubleValue':1.5}}]}}]}}},"
    "       {'key':'kv','value':{'kvlistValue':{'values':["
    "          {'key':'x','value':{'stringValue':'y'}},"
    "          {'key':'nested','value':{'kvlistValue':{'values':[{'key':'z','value':{'intValue':'7'}}]}}},"
    "          {'key':'novalue'}]}}},"
    "       {'key':'empty','value':{}}],"
    "      'droppedAttributesCount':3,"
    "      'events':[{'timeUnixNano':'1700000000000000500','name':'retry',"
    "                 'attributes':[{'key':'attempt','value':{'intValue':2}}],"
    "                 'droppedAttributesCount':4}],"
    "      'droppedEventsCount':5,"
    "      'links':[{'traceId':'a1a2a3a4a5a6a7a8a9aaabacadaeafb0','spanId':'b1b2b3b4b5b6b7b8',"
    "                'traceState':'l=1','attributes':[{'key':'l','value':{'stringValue':'v'}}],"
    "                'droppedAttributesCount':6,'flags':256}],"
    "      'droppedLinksCount':7,"
    "      'status':{'code':2,'message':'boom'}},"
    "     {'traceId':'0102030405060708090a0b0c0d0e0f10','spanId':'c1c2c3c4c5c6c7c8',"
    "      'name':'second','kind':'SPAN_KIND_CLIENT','status':{'code':'STATUS_CODE_OK'}}]}]},"
    " {'scopeSpans':[{'spans':[]}]}]}";

START_TEST(test_full_request)
{
    Request *req = convert(full_request);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs;
    Opentelemetry__Proto__Resource__V1__Resource *res;
    Opentelemetry__Proto__Common__V1__EntityRef *ref;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss;
    Opentelemetry__Proto__Common__V1__InstrumentationScope *scope;
    Opentelemetry__Proto__Trace__V1__Span__Event *ev;
    Opentelemetry__Proto__Trace__V1__Span__Link *link;
    const AnyValue *v, *inner;
    Span *span;

    ck_assert_uint_eq(req->n_resource_spans, 2);
    rs = req->resource_spans[0];
    ck_assert_str_eq(rs->schema_url, "https://opentelemetry.io/schemas/1.21.0");

    res = rs->resource;
    ck_assert_ptr_nonnull(res);
    ck_assert_uint_eq(res->n_attributes, 2);
    ck_assert_str_eq(res->attributes[0]->key, "service.name");
    ck_assert_int_eq(res->attributes[0]->value->value_case, VALUE(STRING_VALUE));
    ck_assert_str_eq(res->attributes[0]->value->string_value, "checkout");
    ck_assert_str_eq(res->attributes[1]->key, "host.cores");
    ck_assert_int_eq(res->attributes[1]->value->value_case, VALUE(INT_VALUE));
    ck_assert_int_eq(res->attributes[1]->value->int_value, 16);
    ck_assert_uint_eq(res->dropped_attributes_count, 1);
    ck_assert_uint_eq(res->n_entity_refs, 1);
    ref = res->entity_refs[0];
    ck_assert_str_eq(ref->schema_url, "https://e.example");
    ck_assert_str_eq(ref->type, "service");
    ck_assert_uint_eq(ref->n_id_keys, 1);
    ck_assert_str_eq(ref->id_keys[0], "service.name");
    ck_assert_uint_eq(ref->n_description_keys, 2);
    ck_assert_str_eq(ref->description_keys[0], "service.version");
    ck_assert_str_eq(ref->description_keys[1], "x");

    ck_assert_uint_eq(rs->n_scope_spans, 1);
    ss = rs->scope_spans[0];
    ck_assert_str_eq(ss->schema_url, "https://scope.example");
    scope = ss->scope;
    ck_assert_ptr_nonnull(scope);
    ck_assert_str_eq(scope->name, "lib");
    ck_assert_str_eq(scope->version, "1.2.3");
    ck_assert_uint_eq(scope->n_attributes, 1);
    ck_assert_str_eq(scope->attributes[0]->key, "scope.attr");
    ck_assert_int_eq(scope->attributes[0]->value->value_case, VALUE(BOOL_VALUE));
    ck_assert_int_eq(scope->attributes[0]->value->bool_value, 1);
    ck_assert_uint_eq(scope->dropped_attributes_count, 2);

    ck_assert_uint_eq(ss->n_spans, 2);
    span = ss->spans[0];
    expect_bytes(span->trace_id, "0102030405060708090a0b0c0d0e0f10");
    expect_bytes(span->span_id, "1112131415161718");
    expect_bytes(span->parent_span_id, "2122232425262728");
    ck_assert_str_eq(span->trace_state, "k=v,r=1");
    ck_assert_uint_eq(span->flags, 769);
    ck_assert_str_eq(span->name, "GET /cart");
    ck_assert_int_eq(span->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    ck_assert_uint_eq(span->start_time_unix_nano, 1700000000000000001ULL);
    ck_assert_uint_eq(span->end_time_unix_nano, 1700000000000000999ULL);
    ck_assert_uint_eq(span->n_attributes, 15);

    v = attr(span->attributes, span->n_attributes, "s");
    ck_assert_int_eq(v->value_case, VALUE(STRING_VALUE));
    ck_assert_str_eq(v->string_value, "say \"hi\" \xc3\xa9 \xc3\xbc\n");
    v = attr(span->attributes, span->n_attributes, "b");
    ck_assert_int_eq(v->value_case, VALUE(BOOL_VALUE));
    ck_assert_int_eq(v->bool_value, 0);
    v = attr(span->attributes, span->n_attributes, "imin");
    ck_assert_int_eq(v->value_case, VALUE(INT_VALUE));
    ck_assert_int_eq(v->int_value, INT64_MIN);
    v = attr(span->attributes, span->n_attributes, "imax");
    ck_assert_int_eq(v->int_value, INT64_MAX);
    v = attr(span->attributes, span->n_attributes, "ineg");
    ck_assert_int_eq(v->int_value, -5);
    v = attr(span->attributes, span->n_attributes, "d");
    ck_assert_int_eq(v->value_case, VALUE(DOUBLE_VALUE));
    ck_assert_double_eq(v->double_value, 3.25);
    v = attr(span->attributes, span->n_attributes, "dint");
    ck_assert_int_eq(v->value_case, VALUE(DOUBLE_VALUE));
    ck_assert_double_eq(v->double_value, 7.0);
    v = attr(span->attributes, span->n_attributes, "dnan");
    ck_assert_double_nan(v->double_value);
    v = attr(span->attributes, span->n_attributes, "dinf");
    ck_assert_double_infinite(v->double_value);
    ck_assert(v->double_value > 0);
    v = attr(span->attributes, span->n_attributes, "dninf");
    ck_assert_double_infinite(v->double_value);
    ck_assert(v->double_value < 0);
    v = attr(span->attributes, span->n_attributes, "dstr");
    ck_assert_double_eq(v->double_value, -2.5e-3);
    v = attr(span->attributes, span->n_attributes, "by");
    ck_assert_int_eq(v->value_case, VALUE(BYTES_VALUE));
    expect_bytes(v->bytes_value, "000102ff");

    v = attr(span->attributes, span->n_attributes, "arr");
    ck_assert_int_eq(v->value_case, VALUE(ARRAY_VALUE));
    ck_assert_uint_eq(v->array_value->n_values, 4);
    ck_assert_str_eq(v->array_value->values[0]->string_value, "a");
    ck_assert_int_eq(v->array_value->values[1]->int_value, 1);
    inner = v->array_value->values[2];
    ck_assert_int_eq(inner->value_case, VALUE(ARRAY_VALUE));
    ck_assert_uint_eq(inner->array_value->n_values, 1);
    ck_assert_int_eq(inner->array_value->values[0]->value_case, VALUE(BOOL_VALUE));
    ck_assert_int_eq(inner->array_value->values[0]->bool_value, 1);
    inner = v->array_value->values[3];
    ck_assert_int_eq(inner->value_case, VALUE(KVLIST_VALUE));
    ck_assert_uint_eq(inner->kvlist_value->n_values, 1);
    ck_assert_str_eq(inner->kvlist_value->values[0]->key, "k");
    ck_assert_double_eq(inner->kvlist_value->values[0]->value->double_value, 1.5);

    v = attr(span->attributes, span->n_attributes, "kv");
    ck_assert_int_eq(v->value_case, VALUE(KVLIST_VALUE));
    ck_assert_uint_eq(v->kvlist_value->n_values, 3);
    inner = attr(v->kvlist_value->values, 3, "x");
    ck_assert_str_eq(inner->string_value, "y");
    inner = attr(v->kvlist_value->values, 3, "nested");
    ck_assert_int_eq(inner->value_case, VALUE(KVLIST_VALUE));
    ck_assert_str_eq(inner->kvlist_value->values[0]->key, "z");
    ck_assert_int_eq(inner->kvlist_value->values[0]->value->int_value, 7);
    ck_assert_str_eq(v->kvlist_value->values[2]->key, "novalue");
    ck_assert_ptr_null(v->kvlist_value->values[2]->value);

    v = attr(span->attributes, span->n_attributes, "empty");
    ck_assert_int_eq(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET);

    ck_assert_uint_eq(span->dropped_attributes_count, 3);
    ck_assert_uint_eq(span->n_events, 1);
    ev = span->events[0];
    ck_assert_uint_eq(ev->time_unix_nano, 1700000000000000500ULL);
    ck_assert_str_eq(ev->name, "retry");
    ck_assert_uint_eq(ev->n_attributes, 1);
    ck_assert_str_eq(ev->attributes[0]->key, "attempt");
    ck_assert_int_eq(ev->attributes[0]->value->int_value, 2);
    ck_assert_uint_eq(ev->dropped_attributes_count, 4);
    ck_assert_uint_eq(span->dropped_events_count, 5);

    ck_assert_uint_eq(span->n_links, 1);
    link = span->links[0];
    expect_bytes(link->trace_id, "a1a2a3a4a5a6a7a8a9aaabacadaeafb0");
    expect_bytes(link->span_id, "b1b2b3b4b5b6b7b8");
    ck_assert_str_eq(link->trace_state, "l=1");
    ck_assert_uint_eq(link->n_attributes, 1);
    ck_assert_str_eq(link->attributes[0]->value->string_value, "v");
    ck_assert_uint_eq(link->dropped_attributes_count, 6);
    ck_assert_uint_eq(link->flags, 256);
    ck_assert_uint_eq(span->dropped_links_count, 7);

    ck_assert_ptr_nonnull(span->status);
    ck_assert_int_eq(span->status->code,
                     OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    ck_assert_str_eq(span->status->message, "boom");

    span = ss->spans[1];
    expect_bytes(span->span_id, "c1c2c3c4c5c6c7c8");
    ck_assert_uint_eq(span->parent_span_id.len, 0);
    ck_assert_str_eq(span->name, "second");
    ck_assert_int_eq(span->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
    ck_assert_int_eq(span->status->code,
                     OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_OK);
    ck_assert_str_eq(span->status->message, "");
    ck_assert_uint_eq(span->n_events, 0);
    ck_assert_uint_eq(span->n_links, 0);

    rs = req->resource_spans[1];
    ck_assert_ptr_null(rs->resource);
    ck_assert_uint_eq(rs->n_scope_spans, 1);
    ck_assert_ptr_null(rs->scope_spans[0]->scope);
    ck_assert_uint_eq(rs->scope_spans[0]->n_spans, 0);
    free_req(req);
}
END_TEST

/* What @opentelemetry/exporter-trace-otlp-http sends with its JSON serializer: camelCase,
 * hex ids, times as decimal strings, intValue as a number, empty lists written out,
 * no parentSpanId on a root span. */
static const char *const js_sdk_request =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"aifactory-web\"}},"
    "{\"key\":\"telemetry.sdk.language\",\"value\":{\"stringValue\":\"nodejs\"}},"
    "{\"key\":\"telemetry.sdk.name\",\"value\":{\"stringValue\":\"opentelemetry\"}},"
    "{\"key\":\"telemetry.sdk.version\",\"value\":{\"stringValue\":\"1.30.1\"}},"
    "{\"key\":\"process.pid\",\"value\":{\"intValue\":4242}}],\"droppedAttributesCount\":0},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"@opentelemetry/instrumentation-http\","
    "\"version\":\"0.57.2\"},\"spans\":["
    "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\","
    "\"name\":\"GET /api/jobs\",\"kind\":2,\"startTimeUnixNano\":\"1700000000000000000\","
    "\"endTimeUnixNano\":\"1700000000012345678\",\"attributes\":["
    "{\"key\":\"http.method\",\"value\":{\"stringValue\":\"GET\"}},"
    "{\"key\":\"http.status_code\",\"value\":{\"intValue\":200}},"
    "{\"key\":\"http.duration_ms\",\"value\":{\"doubleValue\":12.345678}}],"
    "\"droppedAttributesCount\":0,\"events\":[{\"attributes\":[],\"name\":\"request.received\","
    "\"timeUnixNano\":\"1700000000000100000\",\"droppedAttributesCount\":0}],"
    "\"droppedEventsCount\":0,\"status\":{\"code\":0},\"links\":[],\"droppedLinksCount\":0,"
    "\"flags\":257},"
    "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"53995c3f42cd8ad8\","
    "\"parentSpanId\":\"00f067aa0ba902b7\",\"traceState\":\"rojo=00f067aa0ba902b7\","
    "\"name\":\"POST\",\"kind\":3,\"startTimeUnixNano\":\"1700000000001000000\","
    "\"endTimeUnixNano\":\"1700000000011000000\",\"attributes\":[],\"droppedAttributesCount\":0,"
    "\"events\":[],\"droppedEventsCount\":0,\"status\":{\"code\":2,\"message\":\"ECONNREFUSED\"},"
    "\"links\":[],\"droppedLinksCount\":0,\"flags\":257}]}]}]}";

START_TEST(test_js_sdk_request)
{
    Request *req = convert(js_sdk_request);
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss;
    Span *span;

    ck_assert_uint_eq(req->n_resource_spans, 1);
    ck_assert_uint_eq(req->resource_spans[0]->resource->n_attributes, 5);
    ck_assert_str_eq(req->resource_spans[0]->resource->attributes[0]->value->string_value,
                     "aifactory-web");
    ck_assert_int_eq(req->resource_spans[0]->resource->attributes[4]->value->int_value, 4242);
    ss = req->resource_spans[0]->scope_spans[0];
    ck_assert_str_eq(ss->scope->name, "@opentelemetry/instrumentation-http");
    ck_assert_str_eq(ss->scope->version, "0.57.2");
    ck_assert_uint_eq(ss->n_spans, 2);

    span = ss->spans[0];
    expect_bytes(span->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    expect_bytes(span->span_id, "00f067aa0ba902b7");
    ck_assert_uint_eq(span->parent_span_id.len, 0);
    ck_assert_str_eq(span->name, "GET /api/jobs");
    ck_assert_int_eq(span->kind, 2);
    ck_assert_uint_eq(span->start_time_unix_nano, 1700000000000000000ULL);
    ck_assert_uint_eq(span->end_time_unix_nano, 1700000000012345678ULL);
    ck_assert_uint_eq(span->n_attributes, 3);
    ck_assert_int_eq(span->attributes[1]->value->int_value, 200);
    ck_assert_double_eq(span->attributes[2]->value->double_value, 12.345678);
    ck_assert_uint_eq(span->n_events, 1);
    ck_assert_uint_eq(span->events[0]->time_unix_nano, 1700000000000100000ULL);
    ck_assert_uint_eq(span->flags, 257);
    ck_assert_int_eq(span->status->code, 0);

    span = ss->spans[1];
    expect_bytes(span->parent_span_id, "00f067aa0ba902b7");
    ck_assert_str_eq(span->trace_state, "rojo=00f067aa0ba902b7");
    ck_assert_int_eq(span->kind, 3);
    ck_assert_int_eq(span->status->code, 2);
    ck_assert_str_eq(span->status->message, "ECONNREFUSED");
    free_req(req);
}
END_TEST

START_TEST(test_snake_case)
{
    expect_same(
        "{'resource_spans':[{'resource':{'attributes':[{'key':'k','value':{'string_value':'v'}}],"
        "'dropped_attributes_count':1,'entity_refs':[{'schema_url':'u','id_keys':['a'],"
        "'description_keys':['b']}]},'schema_url':'s','scope_spans':[{'scope':{'name':'n',"
        "'dropped_attributes_count':2},'schema_url':'t','spans':[{'trace_id':'0a0b',"
        "'span_id':'0c0d','parent_span_id':'0e0f','trace_state':'x=y','flags':1,"
        "'start_time_unix_nano':'5','end_time_unix_nano':'6','dropped_attributes_count':3,"
        "'attributes':[{'key':'i','value':{'int_value':'1'}},{'key':'b','value':{'bool_value':true}},"
        "{'key':'d','value':{'double_value':2.5}},{'key':'y','value':{'bytes_value':'AQ=='}},"
        "{'key':'a','value':{'array_value':{'values':[{'int_value':1}]}}},"
        "{'key':'m','value':{'kvlist_value':{'values':[{'key':'z','value':{'int_value':2}}]}}}],"
        "'events':[{'time_unix_nano':'7','dropped_attributes_count':4}],'dropped_events_count':5,"
        "'links':[{'trace_id':'01','span_id':'02','trace_state':'l','dropped_attributes_count':6}],"
        "'dropped_links_count':7}]}]}]}",
        "{'resourceSpans':[{'resource':{'attributes':[{'key':'k','value':{'stringValue':'v'}}],"
        "'droppedAttributesCount':1,'entityRefs':[{'schemaUrl':'u','idKeys':['a'],"
        "'descriptionKeys':['b']}]},'schemaUrl':'s','scopeSpans':[{'scope':{'name':'n',"
        "'droppedAttributesCount':2},'schemaUrl':'t','spans':[{'traceId':'0a0b',"
        "'spanId':'0c0d','parentSpanId':'0e0f','traceState':'x=y','flags':1,"
        "'startTimeUnixNano':'5','endTimeUnixNano':'6','droppedAttributesCount':3,"
        "'attributes':[{'key':'i','value':{'intValue':'1'}},{'key':'b','value':{'boolValue':true}},"
        "{'key':'d','value':{'doubleValue':2.5}},{'key':'y','value':{'bytesValue':'AQ=='}},"
        "{'key':'a','value':{'arrayValue':{'values':[{'intValue':1}]}}},"
        "{'key':'m','value':{'kvlistValue':{'values':[{'key':'z','value':{'intValue':2}}]}}}],"
        "'events':[{'timeUnixNano':'7','droppedAttributesCount':4}],'droppedEventsCount':5,"
        "'links':[{'traceId':'01','spanId':'02','traceState':'l','droppedAttributesCount':6}],"
        "'droppedLinksCount':7}]}]}]}");
}
END_TEST

START_TEST(test_unknown_fields_ignored)
{
    expect_same(
        "{'future':{'deep':[1,{'x':null}]},'resourceSpans':[{'extra':1,"
        "'resource':{'attributes':[{'key':'k','value':{'stringValue':'v','note':7},'why':[]}],"
        "'unknownList':[1,2]},'scopeSpans':[{'scope':{'name':'n','tag':true},'more':'x',"
        "'spans':[{'traceId':'0a0b','name':'s','newField':{'a':'b'},"
        "'events':[{'name':'e','color':'red'}],'links':[{'spanId':'01','weight':2.5}],"
        "'status':{'code':1,'detail':'x'}}]}]}],'x_trailer':'z'}",
        "{'resourceSpans':[{'resource':{'attributes':[{'key':'k','value':{'stringValue':'v'}}]},"
        "'scopeSpans':[{'scope':{'name':'n'},'spans':[{'traceId':'0a0b','name':'s',"
        "'events':[{'name':'e'}],'links':[{'spanId':'01'}],'status':{'code':1}}]}]}]}");
}
END_TEST

START_TEST(test_null_is_absent)
{
    expect_same(
        "{'resourceSpans':[{'resource':null,'schemaUrl':null,'scopeSpans':[{'scope':null,"
        "'spans':[{'traceId':'0a0b','spanId':null,'parentSpanId':null,'name':null,'kind':null,"
        "'flags':null,'startTimeUnixNano':null,'attributes':null,'events':null,'links':null,"
        "'status':null}]}]}]}",
        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'traceId':'0a0b'}]}]}]}");
    expect_same("{'resourceSpans':null}", "{}");
    expect_same(
        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'k','value':null}]}]}]}]}",
        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'k'}]}]}]}]}");
}
END_TEST

START_TEST(test_empty_request)
{
    size_t len = 99;
    uint8_t *out = to_proto("{}", &len);

    ck_assert_uint_eq(len, 0);
    free(out);
    out = to_proto(" \n{ 'resourceSpans' : [ ] }\n ", &len);
    ck_assert_uint_eq(len, 0);
    free(out);
}
END_TEST

START_TEST(test_ids_converted_as_given)
{
    char *s = one_span("'traceId':'ABCDEFabcdef0123456789000000ff','spanId':'','parentSpanId':'00'");
    Request *req = convert(s);
    Span *span = first_span(req);

    /* 15 bytes stays 15 bytes: judging id lengths is the wire walk's job. */
    expect_bytes(span->trace_id, "abcdefabcdef0123456789000000ff");
    ck_assert_uint_eq(span->span_id.len, 0);
    expect_bytes(span->parent_span_id, "00");
    free_req(req);
    free(s);
}
END_TEST

START_TEST(test_integer_forms)
{
    char *s = one_span("'startTimeUnixNano':'18446744073709551615','endTimeUnixNano':1.7e18,"
                       "'flags':'4294967295','droppedAttributesCount':4294967295,"
                       "'droppedEventsCount':-0,'droppedLinksCount':'-0','kind':99");
    Request *req = convert(s);
    Span *span = first_span(req);

    ck_assert_uint_eq(span->start_time_unix_nano, UINT64_MAX);
    ck_assert_uint_eq(span->end_time_unix_nano, 1700000000000000000ULL);
    ck_assert_uint_eq(span->flags, UINT32_MAX);
    ck_assert_uint_eq(span->dropped_attributes_count, UINT32_MAX);
    ck_assert_uint_eq(span->dropped_events_count, 0);
    ck_assert_uint_eq(span->dropped_links_count, 0);
    ck_assert_int_eq(span->kind, 99);
    free_req(req);
    free(s);

    s = one_span("'startTimeUnixNano':18446744073709551615,'endTimeUnixNano':0");
    req = convert(s);
    ck_assert_uint_eq(first_span(req)->start_time_unix_nano, UINT64_MAX);
    free_req(req);
    free(s);

    s = one_value("{'intValue':-9223372036854775808}");
    req = convert(s);
    ck_assert_int_eq(value_of(req)->int_value, INT64_MIN);
    free_req(req);
    free(s);

    s = one_span("'startTimeUnixNano':'1e3','endTimeUnixNano':'1.8446744073709551615e19',"
                 "'flags':'25.0','droppedAttributesCount':2.50e1,'droppedEventsCount':'0.0e-7',"
                 "'droppedLinksCount':100e-2");
    req = convert(s);
    ck_assert_uint_eq(first_span(req)->start_time_unix_nano, 1000);
    ck_assert_uint_eq(first_span(req)->end_time_unix_nano, UINT64_MAX);
    ck_assert_uint_eq(first_span(req)->flags, 25);
    ck_assert_uint_eq(first_span(req)->dropped_attributes_count, 25);
    ck_assert_uint_eq(first_span(req)->dropped_events_count, 0);
    ck_assert_uint_eq(first_span(req)->dropped_links_count, 1);
    free_req(req);
    free(s);

    /* Exactly as written, though a double could not hold it. */
    s = one_value("{'intValue':-9.223372036854775807E18}");
    req = convert(s);
    ck_assert_int_eq(value_of(req)->int_value, -INT64_MAX);
    free_req(req);
    free(s);

    s = one_value("{'intValue':1e3}");
    req = convert(s);
    ck_assert_int_eq(value_of(req)->int_value, 1000);
    free_req(req);
    free(s);

    s = one_value("{'intValue':'-1.0e2'}");
    req = convert(s);
    ck_assert_int_eq(value_of(req)->int_value, -100);
    free_req(req);
    free(s);
}
END_TEST

START_TEST(test_double_forms)
{
    static const struct {
        const char *value;
        double expected;
    } cases[] = {
        { "{'doubleValue':-0.5}", -0.5 },
        { "{'doubleValue':'1e2'}", 100.0 },
        { "{'doubleValue':-12}", -12.0 },
        { "{'doubleValue':18446744073709551615}", 18446744073709551615.0 },
        /* JavaScript writes 1e20 like this; json-c alone would clamp it to UINT64_MAX. */
        { "{'doubleValue':100000000000000000000}", 1e20 },
        { "{'doubleValue':-100000000000000000000}", -1e20 },
        { "{'doubleValue':1e308}", 1e308 },
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = one_value(cases[i].value);
        Request *req = convert(s);

        ck_assert_int_eq(value_of(req)->value_case, VALUE(DOUBLE_VALUE));
        ck_assert_double_eq(value_of(req)->double_value, cases[i].expected);
        free_req(req);
        free(s);
    }
}
END_TEST

START_TEST(test_big_integer_in_string_untouched)
{
    char *s = one_value("{'stringValue':'100000000000000000000 [\\'99999999999999999999\\']'}");
    Request *req = convert(s);

    ck_assert_str_eq(value_of(req)->string_value, "100000000000000000000 [\"99999999999999999999\"]");
    free_req(req);
    free(s);

    /* A huge number in an unknown field is ignored like the rest of it. */
    s = one_span("'traceId':'01','future':123456789012345678901234567890");
    req = convert(s);
    expect_bytes(first_span(req)->trace_id, "01");
    free_req(req);
    free(s);
}
END_TEST

START_TEST(test_base64_forms)
{
    static const struct {
        const char *value;
        const char *hex;
    } cases[] = {
        { "{'bytesValue':''}", "" },
        { "{'bytesValue':'AQ=='}", "01" },
        { "{'bytesValue':'AQ'}", "01" },
        { "{'bytesValue':'AQI='}", "0102" },
        { "{'bytesValue':'AQI'}", "0102" },
        { "{'bytesValue':'AQID'}", "010203" },
        { "{'bytesValue':'+/+/'}", "fbffbf" },
        { "{'bytesValue':'-_-_'}", "fbffbf" },
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = one_value(cases[i].value);
        Request *req = convert(s);

        ck_assert_int_eq(value_of(req)->value_case, VALUE(BYTES_VALUE));
        expect_bytes(value_of(req)->bytes_value, cases[i].hex);
        free_req(req);
        free(s);
    }
}
END_TEST

START_TEST(test_enum_names)
{
    static const char *const kinds[] = {
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
    };
    static const char *const codes[] = { "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR" };
    char fields[128];
    size_t i;

    for (i = 0; i < 6; i++) {
        char *s;
        Request *req;

        snprintf(fields, sizeof fields, "'kind':'%s','status':{'code':'%s'}", kinds[i],
                 codes[i % 3]);
        s = one_span(fields);
        req = convert(s);
        ck_assert_int_eq(first_span(req)->kind, (int)i);
        ck_assert_int_eq(first_span(req)->status->code, (int)(i % 3));
        free_req(req);
        free(s);
    }
}
END_TEST

START_TEST(test_error_path)
{
    expect_error("{'resourceSpans':[{'scopeSpans':[{'spans':[]},{'spans':[{},{},{},"
                 "{'traceId':'0x0102'}]}]}]}",
                 "resourceSpans[0].scopeSpans[1].spans[3].traceId: invalid hex string");
    /* The path uses camelCase whatever the client wrote. */
    expect_error("{'resource_spans':[{'scope_spans':[{'spans':[{'parent_span_id':'0g'}]}]}]}",
                 "resourceSpans[0].scopeSpans[0].spans[0].parentSpanId: invalid hex string");
}
END_TEST

START_TEST(test_wrong_types)
{
    static const struct {
        const char *json;
        const char *err;
    } cases[] = {
        { "{'resourceSpans':5}", "resourceSpans: expected an array" },
        { "{'resourceSpans':{}}", "resourceSpans: expected an array" },
        { "{'resourceSpans':[5]}", "resourceSpans[0]: expected an object" },
        { "{'resourceSpans':[null]}", "resourceSpans[0]: expected an object" },
        { "{'resourceSpans':[{'resource':[]}]}", "resourceSpans[0].resource: expected an object" },
        { "{'resourceSpans':[{'resource':{'attributes':{}}}]}",
          "resourceSpans[0].resource.attributes: expected an array" },
        { "{'resourceSpans':[{'resource':{'attributes':['k']}}]}",
          "resourceSpans[0].resource.attributes[0]: expected an object" },
        { "{'resourceSpans':[{'resource':{'droppedAttributesCount':'x'}}]}",
          "resourceSpans[0].resource.droppedAttributesCount: invalid integer string" },
        { "{'resourceSpans':[{'resource':{'entityRefs':[{'idKeys':[1]}]}}]}",
          "resourceSpans[0].resource.entityRefs[0].idKeys[0]: expected a string" },
        { "{'resourceSpans':[{'resource':{'entityRefs':[{'type':{}}]}}]}",
          "resourceSpans[0].resource.entityRefs[0].type: expected a string" },
        { "{'resourceSpans':[{'schemaUrl':1}]}", "resourceSpans[0].schemaUrl: expected a string" },
        { "{'resourceSpans':[{'scopeSpans':'x'}]}",
          "resourceSpans[0].scopeSpans: expected an array" },
        { "{'resourceSpans':[{'scopeSpans':[[]]}]}",
          "resourceSpans[0].scopeSpans[0]: expected an object" },
        { "{'resourceSpans':[{'scopeSpans':[{'scope':'x'}]}]}",
          "resourceSpans[0].scopeSpans[0].scope: expected an object" },
        { "{'resourceSpans':[{'scopeSpans':[{'scope':{'version':2}}]}]}",
          "resourceSpans[0].scopeSpans[0].scope.version: expected a string" },
        { "{'resourceSpans':[{'scopeSpans':[{'schemaUrl':false}]}]}",
          "resourceSpans[0].scopeSpans[0].schemaUrl: expected a string" },
        { "{'resourceSpans':[{'scopeSpans':[{'spans':5}]}]}",
          "resourceSpans[0].scopeSpans[0].spans: expected an array" },
        { "{'resourceSpans':[{'scopeSpans':[{'spans':['s']}]}]}",
          "resourceSpans[0].scopeSpans[0].spans[0]: expected an object" },
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_error(cases[i].json, cases[i].err);
}
END_TEST

START_TEST(test_span_field_errors)
{
    static const struct {
        const char *fields;
        const char *err;
    } cases[] = {
        { "'traceId':5", "traceId: expected a hex string" },
        { "'traceId':'abc'", "traceId: invalid hex string: odd length" },
        { "'spanId':'zz'", "spanId: invalid hex string" },
        { "'spanId':' 0'", "spanId: invalid hex string" },
        { "'traceState':[]", "traceState: expected a string" },
        { "'name':'a\\u0000b'", "name: string contains a NUL character" },
        { "'flags':4294967296", "flags: value out of range" },
        { "'flags':-1", "flags: negative value for an unsigned field" },
        { "'flags':1.5", "flags: not an integer" },
        { "'flags':'1e-1'", "flags: not an integer" },
        { "'kind':true", "kind: expected an integer" },
        { "'kind':'SPAN_KIND_BOGUS'", "kind: unknown enum value name" },
        { "'kind':'2'", "kind: unknown enum value name" },
        { "'kind':2147483648", "kind: value out of range" },
        { "'kind':-2147483649", "kind: value out of range" },
        { "'startTimeUnixNano':'abc'", "startTimeUnixNano: invalid integer string" },
        { "'startTimeUnixNano':''", "startTimeUnixNano: invalid integer string" },
        { "'startTimeUnixNano':' 1'", "startTimeUnixNano: invalid integer string" },
        { "'startTimeUnixNano':'1.5'", "startTimeUnixNano: not an integer" },
        { "'startTimeUnixNano':'0x10'", "startTimeUnixNano: invalid integer string" },
        { "'startTimeUnixNano':'+1'", "startTimeUnixNano: invalid integer string" },
        { "'startTimeUnixNano':'1e'", "startTimeUnixNano: invalid integer string" },
        { "'startTimeUnixNano':'1e99999999999999999999'", "startTimeUnixNano: value out of range" },
        { "'startTimeUnixNano':1.8446744073709551616e19", "startTimeUnixNano: value out of range" },
        { "'startTimeUnixNano':1.00000000000000000001e18", "startTimeUnixNano: not an integer" },
        { "'startTimeUnixNano':'-1'", "startTimeUnixNano: negative value for an unsigned field" },
        { "'startTimeUnixNano':-1", "startTimeUnixNano: negative value for an unsigned field" },
        { "'startTimeUnixNano':'18446744073709551616'", "startTimeUnixNano: value out of range" },
        { "'startTimeUnixNano':'99999999999999999999999'", "startTimeUnixNano: value out of range" },
        { "'endTimeUnixNano':18446744073709551616", "endTimeUnixNano: value out of range" },
        { "'endTimeUnixNano':-9223372036854775809", "endTimeUnixNano: negative value for an unsigned field" },
        { "'endTimeUnixNano':1e20", "endTimeUnixNano: value out of range" },
        { "'endTimeUnixNano':{}", "endTimeUnixNano: expected an integer" },
        { "'droppedAttributesCount':[1]", "droppedAttributesCount: expected an integer" },
        { "'droppedEventsCount':'4294967296'", "droppedEventsCount: value out of range" },
        { "'droppedLinksCount':true", "droppedLinksCount: expected an integer" },
        { "'attributes':[{'key':1}]", "attributes[0].key: expected a string" },
        { "'attributes':[{'key':'k','value':'v'}]", "attributes[0].value: expected an object" },
        { "'events':5", "events: expected an array" },
        { "'events':[5]", "events[0]: expected an object" },
        { "'events':[{'timeUnixNano':true}]", "events[0].timeUnixNano: expected an integer" },
        { "'events':[{'name':'e','attributes':[{'key':'a','value':{'intValue':'x'}}]}]",
          "events[0].attributes[0].value.intValue: invalid integer string" },
        { "'events':[{'droppedAttributesCount':-3}]",
          "events[0].droppedAttributesCount: negative value for an unsigned field" },
        { "'links':{}", "links: expected an array" },
        { "'links':[{},{'spanId':'0'}]", "links[1].spanId: invalid hex string: odd length" },
        { "'links':[{'traceId':'xy'}]", "links[0].traceId: invalid hex string" },
        { "'links':[{'flags':'a'}]", "links[0].flags: invalid integer string" },
        { "'links':[{'traceState':1}]", "links[0].traceState: expected a string" },
        { "'status':'ok'", "status: expected an object" },
        { "'status':{'code':'OK'}", "status.code: unknown enum value name" },
        { "'status':{'code':1.5}", "status.code: not an integer" },
        { "'status':{'message':5}", "status.message: expected a string" },
        { "'traceId':'01','trace_id':'02'", "traceId: given twice, in camelCase and in snake_case" },
    };
    char expected[256];
    size_t i;

    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(expected, sizeof expected, "resourceSpans[0].scopeSpans[0].spans[0].%s",
                 cases[i].err);
        expect_span_error(cases[i].fields, expected);
    }
}
END_TEST

START_TEST(test_value_errors)
{
    static const struct {
        const char *value;
        const char *err;
    } cases[] = {
        { "[]", "value: expected an object" },
        { "{'stringValue':1}", "value.stringValue: expected a string" },
        { "{'boolValue':'true'}", "value.boolValue: expected true or false" },
        { "{'boolValue':1}", "value.boolValue: expected true or false" },
        { "{'intValue':'9223372036854775808'}", "value.intValue: value out of range" },
        { "{'intValue':9223372036854775808}", "value.intValue: value out of range" },
        { "{'intValue':'-9223372036854775809'}", "value.intValue: value out of range" },
        { "{'intValue':-9223372036854775809}", "value.intValue: value out of range" },
        { "{'intValue':1.5}", "value.intValue: not an integer" },
        { "{'intValue':'NaN'}", "value.intValue: invalid integer string" },
        { "{'intValue':NaN}", "value.intValue: not an integer" },
        { "{'intValue':true}", "value.intValue: expected an integer" },
        { "{'doubleValue':{}}", "value.doubleValue: expected a number" },
        { "{'doubleValue':true}", "value.doubleValue: expected a number" },
        { "{'doubleValue':'1.5x'}", "value.doubleValue: invalid number string" },
        { "{'doubleValue':'nan'}", "value.doubleValue: invalid number string" },
        { "{'doubleValue':'0x10'}", "value.doubleValue: invalid number string" },
        { "{'doubleValue':' 1'}", "value.doubleValue: invalid number string" },
        { "{'doubleValue':'1e999'}", "value.doubleValue: number out of range" },
        { "{'doubleValue':1e999}", "value.doubleValue: number out of range" },
        { "{'doubleValue':NaN}", "value.doubleValue: number out of range" },
        { "{'bytesValue':'@@@@'}", "value.bytesValue: invalid base64 string" },
        { "{'bytesValue':'A'}", "value.bytesValue: invalid base64 string" },
        { "{'bytesValue':'AQ=A'}", "value.bytesValue: invalid base64 string" },
        { "{'bytesValue':'AQ='}", "value.bytesValue: invalid base64 string" },
        { "{'bytesValue':'===='}", "value.bytesValue: invalid base64 string" },
        { "{'bytesValue':'AQ\\nI='}", "value.bytesValue: invalid base64 string" },
        { "{'bytesValue':5}", "value.bytesValue: expected a base64 string" },
        { "{'arrayValue':[]}", "value.arrayValue: expected an object" },
        { "{'arrayValue':{'values':3}}", "value.arrayValue.values: expected an array" },
        { "{'arrayValue':{'values':[1]}}", "value.arrayValue.values[0]: expected an object" },
        { "{'arrayValue':{'values':[{},{'intValue':'z'}]}}",
          "value.arrayValue.values[1].intValue: invalid integer string" },
        { "{'kvlistValue':5}", "value.kvlistValue: expected an object" },
        { "{'kvlistValue':{'values':{}}}", "value.kvlistValue.values: expected an array" },
        { "{'kvlistValue':{'values':[{'key':1}]}}", "value.kvlistValue.values[0].key: expected a string" },
        { "{'kvlistValue':{'values':[{'key':'k','value':{'boolValue':0}}]}}",
          "value.kvlistValue.values[0].value.boolValue: expected true or false" },
        { "{'stringValue':'a','intValue':1}", "value: more than one value set" },
        { "{'arrayValue':{},'kvlistValue':{}}", "value: more than one value set" },
        { "{'stringValue':'a','string_value':'b'}",
          "value.stringValue: given twice, in camelCase and in snake_case" },
    };
    char expected[256];
    size_t i;

    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(expected, sizeof expected, "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].%s",
                 cases[i].err);
        expect_value_error(cases[i].value, expected);
    }
}
END_TEST

START_TEST(test_invalid_json)
{
    static const char *const cases[] = {
        "{", "", "   ", "{'resourceSpans':}", "{'resourceSpans':[}", "{'a':1,}", "{'a' 1}",
        "{} x", "{}{}", "{'a':'unterminated}", "{'a':tru}", "['a']]", "{'a':01}", "{/*c*/}",
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *json = requote(cases[i]);

        expect_error_prefix(json, strlen(json), "invalid JSON at offset ");
        free(json);
    }
    expect_error_raw("{", 1, "invalid JSON at offset 1: unexpected end of data");
    expect_error_raw("", 0, "invalid JSON at offset 0: unexpected end of data");
    expect_error_raw("{} x", 4, "invalid JSON at offset 3: unexpected character");
    expect_error_raw("{}\0{}", 5, "invalid JSON at offset 2: unexpected data after the value");
    expect_error_prefix("{\"a\":\"\xff\"}", 9, "invalid JSON at offset 6: ");
    /* The length given is what counts, not a NUL. */
    expect_error_raw("{\"resourceSpans\":[]}", 10, "invalid JSON at offset 10: unexpected end of data");
}
END_TEST

START_TEST(test_truncated_json)
{
    size_t len = strlen(js_sdk_request), i;

    for (i = 0; i < len; i++)
        expect_error_prefix(js_sdk_request, i, "invalid JSON at offset ");
}
END_TEST

START_TEST(test_not_an_object)
{
    static const char *const cases[] = { "[]", "5", "null", "'x'", "true", "[{}]", " 1.5 " };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_error(cases[i], "request must be a JSON object");
}
END_TEST

START_TEST(test_depth_bomb)
{
    size_t n = 100000, i;
    char *json = malloc(2 * n + 1);

    ck_assert_ptr_nonnull(json);
    for (i = 0; i < n; i++) {
        json[i] = '[';
        json[n + i] = ']';
    }
    json[2 * n] = '\0';
    expect_error_prefix(json, 2 * n, "invalid JSON at offset 128: nesting too deep");

    for (i = 0; i < n / 5; i++)
        memcpy(json + 5 * i, "{\"a\":", 5);
    expect_error_prefix(json, n, "invalid JSON at offset ");
    free(json);
}
END_TEST

/* An attribute value with `levels` arrayValues nested inside it. */
static char *nested_value(int levels)
{
    const char *open = "{'arrayValue':{'values':[";
    const char *close = "]}}";
    char *s = malloc((size_t)levels * (strlen(open) + strlen(close)) + 32);
    char *value;
    int i;

    ck_assert_ptr_nonnull(s);
    s[0] = '\0';
    for (i = 0; i < levels; i++)
        strcat(s, open);
    strcat(s, "{'intValue':1}");
    for (i = 0; i < levels; i++)
        strcat(s, close);
    value = one_value(s);
    free(s);
    return value;
}

START_TEST(test_value_depth)
{
    char *s = nested_value(OTLP_JSON_MAX_VALUE_DEPTH - 1);
    Request *req = convert(s);
    const AnyValue *v = value_of(req);
    char expected[2048];
    int depth = 1, i;

    while (v->value_case == VALUE(ARRAY_VALUE)) {
        v = v->array_value->values[0];
        depth++;
    }
    ck_assert_int_eq(depth, OTLP_JSON_MAX_VALUE_DEPTH);
    ck_assert_int_eq(v->int_value, 1);
    free_req(req);
    free(s);

    /* One level more: the innermost value is the one named, every level spelled out. */
    s = nested_value(OTLP_JSON_MAX_VALUE_DEPTH);
    strcpy(expected, "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value");
    for (i = 0; i < OTLP_JSON_MAX_VALUE_DEPTH; i++)
        strcat(expected, ".arrayValue.values[0]");
    strcat(expected, ": values nested too deeply");
    expect_error(s, expected);
    free(s);
}
END_TEST

START_TEST(test_many_spans)
{
    const char *head = "{'resourceSpans':[{'scopeSpans':[{'spans':[";
    const char *span = "{'traceId':'0102030405060708090a0b0c0d0e0f10','spanId':'0102030405060708',"
                       "'name':'span','attributes':[{'key':'k','value':{'stringValue':'v'}}]}";
    const char *tail = "]}]}]}";
    size_t n = 3000, i, pos;
    char *json = malloc(strlen(head) + n * (strlen(span) + 1) + strlen(tail) + 1);
    Request *req;

    ck_assert_ptr_nonnull(json);
    pos = (size_t)sprintf(json, "%s", head);
    for (i = 0; i < n; i++)
        pos += (size_t)sprintf(json + pos, "%s%s", i > 0 ? "," : "", span);
    strcpy(json + pos, tail);
    req = convert(json);
    ck_assert_uint_eq(req->resource_spans[0]->scope_spans[0]->n_spans, n);
    ck_assert_str_eq(req->resource_spans[0]->scope_spans[0]->spans[n - 1]->name, "span");
    free_req(req);
    free(json);
}
END_TEST

START_TEST(test_small_error_buffer)
{
    char err[8];
    uint8_t *out;
    size_t out_len;

    ck_assert_int_eq(otlp_json_to_proto("[]", 2, &out, &out_len, err, sizeof err), -1);
    ck_assert_str_eq(err, "request");
    ck_assert_int_eq(otlp_json_to_proto("{", 1, &out, &out_len, err, sizeof err), -1);
    ck_assert_str_eq(err, "invalid");
    ck_assert_int_eq(otlp_json_to_proto("{\"resourceSpans\":1}", 19, &out, &out_len, NULL, 0), -1);
}
END_TEST

static void expect_response(int64_t rejected, const char *message, const char *expected)
{
    char *out = NULL;
    size_t len = 0;

    ck_assert_int_eq(otlp_json_response(rejected, message, &out, &len), 0);
    ck_assert_str_eq(out, expected);
    ck_assert_uint_eq(len, strlen(expected));
    free(out);
}

static void expect_status(int code, const char *message, const char *expected)
{
    char *out = NULL;
    size_t len = 0;

    ck_assert_int_eq(otlp_json_status(code, message, &out, &len), 0);
    ck_assert_str_eq(out, expected);
    ck_assert_uint_eq(len, strlen(expected));
    free(out);
}

START_TEST(test_response)
{
    expect_response(0, NULL, "{}");
    expect_response(0, "", "{}");
    expect_response(3, NULL, "{\"partialSuccess\":{\"rejectedSpans\":\"3\"}}");
    expect_response(3, "buffer full", "{\"partialSuccess\":{\"rejectedSpans\":\"3\","
                                      "\"errorMessage\":\"buffer full\"}}");
    expect_response(0, "slow down", "{\"partialSuccess\":{\"errorMessage\":\"slow down\"}}");
    expect_response(INT64_MAX, NULL,
                    "{\"partialSuccess\":{\"rejectedSpans\":\"9223372036854775807\"}}");
    expect_response(1, "say \"no\"\n\ttab\\ \x01\x1f/\xc3\xa9",
                    "{\"partialSuccess\":{\"rejectedSpans\":\"1\","
                    "\"errorMessage\":\"say \\\"no\\\"\\n\\ttab\\\\ \\u0001\\u001f/\xc3\xa9\"}}");
}
END_TEST

START_TEST(test_status)
{
    expect_status(3, "trace_id must be 16 bytes",
                  "{\"code\":3,\"message\":\"trace_id must be 16 bytes\"}");
    expect_status(14, NULL, "{\"code\":14}");
    expect_status(8, "", "{\"code\":8}");
    expect_status(3, "bad \"json\"\r\n\b\f\x7f",
                  "{\"code\":3,\"message\":\"bad \\\"json\\\"\\r\\n\\b\\f\x7f\"}");
}
END_TEST

/* What is written reads back as what was given, through a real JSON parser. */
START_TEST(test_answers_round_trip)
{
    const char *message = "q\"b\\s\n\x02\x1b end";
    json_object *obj, *partial, *field;
    char *out;
    size_t len;

    ck_assert_int_eq(otlp_json_status(5, message, &out, &len), 0);
    obj = json_tokener_parse(out);
    ck_assert_ptr_nonnull(obj);
    ck_assert(json_object_object_get_ex(obj, "message", &field));
    ck_assert_str_eq(json_object_get_string(field), message);
    json_object_put(obj);
    free(out);

    ck_assert_int_eq(otlp_json_response(7, message, &out, &len), 0);
    obj = json_tokener_parse(out);
    ck_assert_ptr_nonnull(obj);
    ck_assert(json_object_object_get_ex(obj, "partialSuccess", &partial));
    ck_assert(json_object_object_get_ex(partial, "rejectedSpans", &field));
    ck_assert_str_eq(json_object_get_string(field), "7");
    ck_assert(json_object_object_get_ex(partial, "errorMessage", &field));
    ck_assert_str_eq(json_object_get_string(field), message);
    json_object_put(obj);
    free(out);
}
END_TEST

static Suite *otlp_json_suite(void)
{
    Suite *s = suite_create("otlp_json");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_full_request);
    tcase_add_test(tc, test_js_sdk_request);
    tcase_add_test(tc, test_snake_case);
    tcase_add_test(tc, test_unknown_fields_ignored);
    tcase_add_test(tc, test_null_is_absent);
    tcase_add_test(tc, test_empty_request);
    tcase_add_test(tc, test_ids_converted_as_given);
    tcase_add_test(tc, test_integer_forms);
    tcase_add_test(tc, test_double_forms);
    tcase_add_test(tc, test_big_integer_in_string_untouched);
    tcase_add_test(tc, test_base64_forms);
    tcase_add_test(tc, test_enum_names);
    tcase_add_test(tc, test_error_path);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_span_field_errors);
    tcase_add_test(tc, test_value_errors);
    tcase_add_test(tc, test_invalid_json);
    tcase_add_test(tc, test_truncated_json);
    tcase_add_test(tc, test_not_an_object);
    tcase_add_test(tc, test_depth_bomb);
    tcase_add_test(tc, test_value_depth);
    tcase_add_test(tc, test_many_spans);
    tcase_add_test(tc, test_small_error_buffer);
    tcase_add_test(tc, test_response);
    tcase_add_test(tc, test_status);
    tcase_add_test(tc, test_answers_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(otlp_json_suite());
}
