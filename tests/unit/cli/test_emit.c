/* test_emit.c — spanrelay-emit's pieces (cli/emit.c): traceparent parsing and
 * formatting, times, endpoints, the request decoded back with protobuf-c field by
 * field, and the sender against small servers on temporary UNIX sockets and loopback. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "cli/emit.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "unit.h"

#ifndef SPANRELAY_VERSION
#define SPANRELAY_VERSION "0.0.0"
#endif

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define VALID_TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static const uint8_t valid_trace[16] = { 0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
                                         0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c };
static const uint8_t valid_span[8] = { 0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31 };

/* ---- traceparent ---- */

START_TEST(test_traceparent_valid)
{
    struct emit_context c;
    const char *why = NULL;
    ck_assert_int_eq(emit_traceparent_parse(VALID_TP, &c, &why), 0);
    ck_assert_mem_eq(c.trace_id, valid_trace, 16);
    ck_assert_mem_eq(c.span_id, valid_span, 8);
    ck_assert_uint_eq(c.flags, 1);

    ck_assert_int_eq(emit_traceparent_parse(
                         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", &c, &why), 0);
    ck_assert_uint_eq(c.flags, 0);
    /* Version 00 keeps every flag bit as it came. */
    ck_assert_int_eq(emit_traceparent_parse(
                         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09", &c, &why), 0);
    ck_assert_uint_eq(c.flags, 9);
}
END_TEST

START_TEST(test_traceparent_future_versions)
{
    struct emit_context c;
    const char *why = NULL;
    /* Same length, more fields after a '-', and flags reduced to the sampled bit. */
    ck_assert_int_eq(emit_traceparent_parse(
                         "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c, &why), 0);
    ck_assert_mem_eq(c.trace_id, valid_trace, 16);
    ck_assert_int_eq(emit_traceparent_parse(
                         "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff-what-ever",
                         &c, &why), 0);
    ck_assert_mem_eq(c.span_id, valid_span, 8);
    ck_assert_uint_eq(c.flags, 1);
    ck_assert_int_eq(emit_traceparent_parse(
                         "fe-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02", &c, &why), 0);
    ck_assert_uint_eq(c.flags, 0);
    /* Longer without a '-' right after the flags. */
    ck_assert_int_eq(emit_traceparent_parse(
                         "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x", &c, &why), -1);
    ck_assert_str_eq(why, "wrong length");
}
END_TEST

static const struct {
    const char *tp;
    const char *why;
} invalid_tps[] = {
    { "", "wrong length" },
    { "0", "wrong length" },
    { "00", "wrong length" },
    { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0", "wrong length" },
    { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-", "wrong length" },
    { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", "wrong length" },
    { "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01", "wrong length" },
    { " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "version is not two lowercase hex digits" },
    { "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "version ff is invalid" },
    { "FF-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "version is not two lowercase hex digits" },
    { "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "version is not two lowercase hex digits" },
    { "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "not lowercase hex" },
    { "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01", "not lowercase hex" },
    { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A", "not lowercase hex" },
    { "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01", "not lowercase hex" },
    { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333 -01", "not lowercase hex" },
    { "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "fields not separated by '-'" },
    { "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01", "fields not separated by '-'" },
    { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01", "fields not separated by '-'" },
    { "00-00000000000000000000000000000000-b7ad6b7169203331-01", "all-zero trace id" },
    { "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "all-zero parent id" },
    { "01-00000000000000000000000000000000-b7ad6b7169203331-01", "all-zero trace id" },
};

START_TEST(test_traceparent_invalid)
{
    struct emit_context c;
    memset(&c, 0x5a, sizeof(c));
    struct emit_context before = c;
    const char *why = NULL;
    ck_assert_msg(emit_traceparent_parse(invalid_tps[_i].tp, &c, &why) == -1,
                  "accepted \"%s\"", invalid_tps[_i].tp);
    ck_assert_str_eq(why, invalid_tps[_i].why);
    ck_assert_mem_eq(&c, &before, sizeof(c));
}
END_TEST

START_TEST(test_traceparent_format_round_trip)
{
    struct emit_context c, back;
    const char *why;
    char tp[EMIT_TRACEPARENT_LEN + 1];

    memcpy(c.trace_id, valid_trace, 16);
    memcpy(c.span_id, valid_span, 8);
    c.flags = 1;
    emit_traceparent_format(&c, tp);
    ck_assert_str_eq(tp, VALID_TP);

    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(emit_random_id(c.trace_id, 16), 0);
        ck_assert_int_eq(emit_random_id(c.span_id, 8), 0);
        c.flags = (uint8_t)(i & 0xff);
        emit_traceparent_format(&c, tp);
        ck_assert_uint_eq(strlen(tp), EMIT_TRACEPARENT_LEN);
        ck_assert_int_eq(emit_traceparent_parse(tp, &back, &why), 0);
        ck_assert_mem_eq(&back, &c, sizeof(c));
    }
}
END_TEST

START_TEST(test_random_ids_differ)
{
    uint8_t a[16], b[16];
    static const uint8_t zero[16];
    ck_assert_int_eq(emit_random_id(a, 16), 0);
    ck_assert_int_eq(emit_random_id(b, 16), 0);
    ck_assert_mem_ne(a, zero, 16);
    ck_assert_mem_ne(a, b, 16);
}
END_TEST

/* ---- times ---- */

static const struct {
    const char *text;
    uint64_t ns;
} good_times[] = {
    { "0", 0 },
    { "1795562379123456789", 1795562379123456789ULL },
    { "18446744073709551615", UINT64_MAX },
    { "1970-01-01T00:00:00Z", 0 },
    { "2026-11-24T23:19:39Z", 1795562379000000000ULL },
    { "2026-11-24T23:19:39.123Z", 1795562379123000000ULL },
    { "2026-11-24T23:19:39.123456789Z", 1795562379123456789ULL },
    { "2026-11-24T23:19:39.1234567891234Z", 1795562379123456789ULL },
    { "2026-11-25T00:19:39.5+01:00", 1795562379500000000ULL },
    { "2026-11-24T18:49:39-04:30", 1795562379000000000ULL },
    { "2026-11-24t23:19:39z", 1795562379000000000ULL },
    { "2026-11-24 23:19:39Z", 1795562379000000000ULL },
    { "2024-02-29T12:00:00Z", 1709208000000000000ULL },
    { "2016-12-31T23:59:60Z", 1483228800000000000ULL },
    { "2554-07-21T23:34:33.709551615Z", UINT64_MAX },
};

static const char *const bad_times[] = {
    "", "-1", "12a", "18446744073709551616", "99999999999999999999",
    "2026-11-24", "2026-11-24T23:19:39", "2026-11-24T23:19Z", "2026-11-24T23:19:39.Z",
    "2026-11-24T23:19:39ZZ", "2026-11-24T23:19:39+0100", "2026-11-24T23:19:39+24:00",
    "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-31T00:00:00Z",
    "2023-02-29T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T23:60:00Z",
    "2026-11-24T23:59:61Z", "2026-11-24X23:19:39Z", "26-11-24T23:19:39Z",
    "1969-12-31T23:59:59Z", "1970-01-01T00:00:00+01:00", "2554-07-21T23:34:33.709551616Z",
    "9999-12-31T23:59:59Z", "2026-11-24T23:19:39.123Z ",
};

START_TEST(test_time_good)
{
    uint64_t ns = 42;
    ck_assert_msg(emit_time_parse(good_times[_i].text, &ns) == 0, "refused %s",
                  good_times[_i].text);
    ck_assert_msg(ns == good_times[_i].ns, "%s: got %llu", good_times[_i].text,
                  (unsigned long long)ns);
}
END_TEST

START_TEST(test_time_bad)
{
    uint64_t ns = 42;
    ck_assert_msg(emit_time_parse(bad_times[_i], &ns) == -1, "accepted \"%s\"", bad_times[_i]);
    ck_assert_uint_eq(ns, 42);
}
END_TEST

START_TEST(test_now_is_wall_clock)
{
    uint64_t now = emit_now_ns();
    time_t t = time(NULL);
    ck_assert_uint_ge(now / 1000000000u + 1, (uint64_t)t);
    ck_assert_uint_le(now / 1000000000u, (uint64_t)t + 1);
}
END_TEST

/* ---- small parsers ---- */

START_TEST(test_kind_and_attr)
{
    enum emit_kind k;
    ck_assert_int_eq(emit_kind_parse("internal", &k), 0);
    ck_assert_int_eq(k, EMIT_KIND_INTERNAL);
    ck_assert_int_eq(emit_kind_parse("SERVER", &k), 0);
    ck_assert_int_eq(k, EMIT_KIND_SERVER);
    ck_assert_int_eq(emit_kind_parse("Client", &k), 0);
    ck_assert_int_eq(k, EMIT_KIND_CLIENT);
    ck_assert_int_eq(emit_kind_parse("producer", &k), 0);
    ck_assert_int_eq(k, EMIT_KIND_PRODUCER);
    ck_assert_int_eq(emit_kind_parse("consumer", &k), 0);
    ck_assert_int_eq(k, EMIT_KIND_CONSUMER);
    ck_assert_int_eq(emit_kind_parse("unspecified", &k), -1);
    ck_assert_int_eq(emit_kind_parse("", &k), -1);

    struct config_kv kv;
    ck_assert_int_eq(emit_attr_parse("task.id=42=x", &kv), 0);
    ck_assert_str_eq(kv.key, "task.id");
    ck_assert_str_eq(kv.value, "42=x");
    free(kv.key);
    free(kv.value);
    ck_assert_int_eq(emit_attr_parse("empty=", &kv), 0);
    ck_assert_str_eq(kv.value, "");
    free(kv.key);
    free(kv.value);
    ck_assert_int_eq(emit_attr_parse("=v", &kv), -1);
    ck_assert_int_eq(emit_attr_parse("novalue", &kv), -1);
}
END_TEST

START_TEST(test_exit_status)
{
    char msg[128];
    ck_assert_int_eq(emit_exit_status(W_EXITCODE(0, 0), msg, sizeof(msg)), 0);
    ck_assert_str_eq(msg, "");
    ck_assert_int_eq(emit_exit_status(W_EXITCODE(3, 0), msg, sizeof(msg)), 3);
    ck_assert_str_eq(msg, "exit status 3");
    ck_assert_int_eq(emit_exit_status(W_EXITCODE(255, 0), msg, sizeof(msg)), 255);
    ck_assert_int_eq(emit_exit_status(W_EXITCODE(0, SIGKILL), msg, sizeof(msg)), 137);
    ck_assert_ptr_nonnull(strstr(msg, "killed by signal 9"));
    ck_assert_int_eq(emit_exit_status(W_EXITCODE(0, SIGTERM), msg, sizeof(msg)), 143);
    ck_assert_ptr_nonnull(strstr(msg, "signal 15"));
}
END_TEST

START_TEST(test_default_socket_is_the_daemons)
{
    struct config cfg;
    ck_assert_int_eq(config_defaults(&cfg), 0);
    ck_assert_str_eq(EMIT_DEFAULT_SOCKET, cfg.receiver_socket);
    config_free(&cfg);
}
END_TEST

/* ---- endpoints ---- */

START_TEST(test_endpoint_forms)
{
    struct emit_endpoint ep;
    char err[256];

    ck_assert_int_eq(emit_endpoint_parse("unix:///run/x/otlp.sock", 0, &ep, err, sizeof(err)), 0);
    ck_assert_int_eq(ep.is_unix, 1);
    ck_assert_str_eq(ep.socket_path, "/run/x/otlp.sock");
    ck_assert_str_eq(ep.target, "/v1/traces");
    ck_assert_int_eq(emit_endpoint_parse("unix:/run/x.sock", 0, &ep, err, sizeof(err)), 0);
    ck_assert_str_eq(ep.socket_path, "/run/x.sock");
    ck_assert_int_eq(emit_endpoint_parse("/run/y.sock", 1, &ep, err, sizeof(err)), 0);
    ck_assert_str_eq(ep.socket_path, "/run/y.sock");
    ck_assert_str_eq(ep.target, "/v1/traces");

    ck_assert_int_eq(emit_endpoint_parse("http://127.0.0.1:4318", 0, &ep, err, sizeof(err)), 0);
    ck_assert_int_eq(ep.is_unix, 0);
    ck_assert_str_eq(ep.host, "127.0.0.1");
    ck_assert_str_eq(ep.port, "4318");
    ck_assert_str_eq(ep.target, "/v1/traces");
    ck_assert_int_eq(emit_endpoint_parse("HTTP://localhost/", 0, &ep, err, sizeof(err)), 0);
    ck_assert_str_eq(ep.host, "localhost");
    ck_assert_str_eq(ep.port, "80");
    ck_assert_str_eq(ep.target, "/v1/traces");
    ck_assert_int_eq(emit_endpoint_parse("http://[::1]:4318/otlp/", 0, &ep, err, sizeof(err)), 0);
    ck_assert_str_eq(ep.host, "::1");
    ck_assert_str_eq(ep.port, "4318");
    ck_assert_str_eq(ep.target, "/otlp/v1/traces");
    /* A signal URL (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is used as it is. */
    ck_assert_int_eq(emit_endpoint_parse("http://h:1/custom/traces", 1, &ep, err, sizeof(err)), 0);
    ck_assert_str_eq(ep.target, "/custom/traces");
    ck_assert_int_eq(emit_endpoint_parse("http://h:1", 1, &ep, err, sizeof(err)), 0);
    ck_assert_str_eq(ep.target, "/");
}
END_TEST

static const char *const bad_endpoints[] = {
    "", "localhost:4318", "grpc://h:1", "https://h:4318", "unix://relative.sock", "unix:",
    "http://", "http://:4318", "http://h:", "http://h:0", "http://h:65536", "http://h:12a",
    "http://[::1", "http://[::1]x", "http://user@h:1", "http://h:1?x=1", "http://h:1/#f",
    "unix:///a/very/long/path/that/goes/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/otlp.sock",
};

START_TEST(test_endpoint_bad)
{
    struct emit_endpoint ep;
    char err[256] = "";
    ck_assert_msg(emit_endpoint_parse(bad_endpoints[_i], 0, &ep, err, sizeof(err)) == -1,
                  "accepted \"%s\"", bad_endpoints[_i]);
    ck_assert_msg(err[0] != '\0', "no message for \"%s\"", bad_endpoints[_i]);
}
END_TEST

/* ---- the request ---- */

static const KeyValue *find_attr(KeyValue **attrs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(attrs[i]->key, key) == 0)
            return attrs[i];
    return NULL;
}

static void assert_string_attr(const KeyValue *kv, const char *key, const char *value)
{
    ck_assert_str_eq(kv->key, key);
    ck_assert_int_eq(kv->value->value_case,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
    ck_assert_str_eq(kv->value->string_value, value);
}

static Request *build_and_decode(const struct emit_resource *res, const struct emit_span *span)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(emit_request_build(res, span, &buf, &len), 0);
    ck_assert_ptr_nonnull(buf);
    Request *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, len, buf);
    free(buf);
    ck_assert_ptr_nonnull(req);
    ck_assert_uint_eq(req->n_resource_spans, 1);
    ck_assert_uint_eq(req->resource_spans[0]->n_scope_spans, 1);
    ck_assert_uint_eq(req->resource_spans[0]->scope_spans[0]->n_spans, 1);
    return req;
}

static void free_request(Request *req)
{
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
}

START_TEST(test_request_child_span)
{
    struct config_kv rattrs[] = {
        { "deployment.environment", "dev" },
        { "service.name", "from-resource-attributes" },
        { "k8s.pod.name", "first" },
        { "k8s.pod.name", "web-7d9" },
    };
    struct config_kv attrs[] = {
        { "task.id", "t-1" },
        { "process.command", "not allowed to replace" },
        { "phase", "planning" },
        { "phase", "coding" },
    };
    char *args[] = { "agent", "--task", "t-1", NULL };
    uint8_t parent_id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct emit_resource res = { "aifactory-agent", rattrs, 4 };
    struct emit_span span = {
        .parent_span_id = parent_id,
        .trace_state = "vendor=abc,other=1",
        .name = "task:phase:coding",
        .kind = EMIT_KIND_CLIENT,
        .start_ns = 1795562379000000000ULL,
        .end_ns = 1795562379123456789ULL,
        .command = "agent",
        .args = args,
        .nargs = 3,
        .has_exit_code = 1,
        .exit_code = 3,
        .attrs = attrs,
        .nattrs = 4,
        .error = "exit status 3",
    };
    memcpy(span.ctx.trace_id, valid_trace, 16);
    memcpy(span.ctx.span_id, valid_span, 8);
    span.ctx.flags = 0;

    Request *req = build_and_decode(&res, &span);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[0];

    /* service.name first, then the variable's entries in order, the last repeat winning,
     * and its service.name left out since the service name was given. */
    ck_assert_ptr_nonnull(rs->resource);
    ck_assert_uint_eq(rs->resource->n_attributes, 3);
    assert_string_attr(rs->resource->attributes[0], "service.name", "aifactory-agent");
    assert_string_attr(rs->resource->attributes[1], "deployment.environment", "dev");
    assert_string_attr(rs->resource->attributes[2], "k8s.pod.name", "web-7d9");

    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[0];
    ck_assert_str_eq(ss->scope->name, "spanrelay-emit");
    ck_assert_str_eq(ss->scope->version, SPANRELAY_VERSION);

    Span *s = ss->spans[0];
    ck_assert_uint_eq(s->trace_id.len, 16);
    ck_assert_mem_eq(s->trace_id.data, valid_trace, 16);
    ck_assert_uint_eq(s->span_id.len, 8);
    ck_assert_mem_eq(s->span_id.data, valid_span, 8);
    ck_assert_uint_eq(s->parent_span_id.len, 8);
    ck_assert_mem_eq(s->parent_span_id.data, parent_id, 8);
    ck_assert_str_eq(s->trace_state, "vendor=abc,other=1");
    ck_assert_uint_eq(s->flags, EMIT_SPAN_FLAG_HAS_IS_REMOTE | EMIT_SPAN_FLAG_IS_REMOTE);
    ck_assert_str_eq(s->name, "task:phase:coding");
    ck_assert_int_eq(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
    ck_assert_uint_eq(s->start_time_unix_nano, 1795562379000000000ULL);
    ck_assert_uint_eq(s->end_time_unix_nano, 1795562379123456789ULL);
    ck_assert_uint_eq(s->n_events, 0);
    ck_assert_uint_eq(s->n_links, 0);

    ck_assert_uint_eq(s->n_attributes, 5);
    assert_string_attr(s->attributes[0], "process.command", "agent");
    const KeyValue *args_kv = s->attributes[1];
    ck_assert_str_eq(args_kv->key, "process.command_args");
    ck_assert_int_eq(args_kv->value->value_case,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE);
    ck_assert_uint_eq(args_kv->value->array_value->n_values, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(args_kv->value->array_value->values[i]->string_value, args[i]);
    const KeyValue *code = s->attributes[2];
    ck_assert_str_eq(code->key, "process.exit.code");
    ck_assert_int_eq(code->value->value_case,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
    ck_assert_int_eq(code->value->int_value, 3);
    assert_string_attr(s->attributes[3], "task.id", "t-1");
    assert_string_attr(s->attributes[4], "phase", "coding");

    ck_assert_ptr_nonnull(s->status);
    ck_assert_int_eq(s->status->code,
                     OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    ck_assert_str_eq(s->status->message, "exit status 3");
    free_request(req);
}
END_TEST

START_TEST(test_request_root_span)
{
    struct config_kv rattrs[] = { { "service.name", "from-resource-attributes" } };
    struct emit_resource res = { NULL, rattrs, 1 };
    struct emit_span span = {
        .name = "step",
        .kind = EMIT_KIND_INTERNAL,
        .start_ns = 1,
        .end_ns = 2,
    };
    memcpy(span.ctx.trace_id, valid_trace, 16);
    memcpy(span.ctx.span_id, valid_span, 8);
    span.ctx.flags = EMIT_FLAG_SAMPLED;

    Request *req = build_and_decode(&res, &span);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[0];
    /* Without a service name, service.name from the variable passes through. */
    ck_assert_uint_eq(rs->resource->n_attributes, 1);
    assert_string_attr(rs->resource->attributes[0], "service.name", "from-resource-attributes");

    Span *s = rs->scope_spans[0]->spans[0];
    ck_assert_uint_eq(s->parent_span_id.len, 0);
    ck_assert_str_eq(s->trace_state, "");
    ck_assert_uint_eq(s->flags, EMIT_FLAG_SAMPLED | EMIT_SPAN_FLAG_HAS_IS_REMOTE);
    ck_assert_int_eq(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL);
    ck_assert_uint_eq(s->start_time_unix_nano, 1);
    ck_assert_uint_eq(s->end_time_unix_nano, 2);
    ck_assert_uint_eq(s->n_attributes, 0);
    ck_assert_ptr_null(s->status);
    free_request(req);

    /* No resource attributes at all: an empty resource, for the sidecar to name. */
    struct emit_resource bare = { NULL, NULL, 0 };
    req = build_and_decode(&bare, &span);
    ck_assert_uint_eq(req->resource_spans[0]->resource->n_attributes, 0);
    free_request(req);
}
END_TEST

START_TEST(test_request_strings_made_utf8)
{
    char *args[] = { "ok", "bad\xff", "\xc3\xa9t\xc3\xa9", "\xed\xa0\x80", "\xe2\x82", NULL };
    struct config_kv attrs[] = { { "k\xc0", "v\xf5" } };
    struct config_kv rattrs[] = { { "r", "\x80x" } };
    struct emit_resource res = { "svc\xfe", rattrs, 1 };
    struct emit_span span = {
        .trace_state = "a=\xff",
        .name = "n\xffm",
        .kind = EMIT_KIND_INTERNAL,
        .command = "cmd\xff",
        .args = args,
        .nargs = 5,
        .attrs = attrs,
        .nattrs = 1,
        .error = "e\xff",
    };
    memcpy(span.ctx.trace_id, valid_trace, 16);
    memcpy(span.ctx.span_id, valid_span, 8);

    Request *req = build_and_decode(&res, &span);
    Opentelemetry__Proto__Resource__V1__Resource *r = req->resource_spans[0]->resource;
    assert_string_attr(r->attributes[0], "service.name", "svc\xef\xbf\xbd");
    assert_string_attr(r->attributes[1], "r", "\xef\xbf\xbdx");
    Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
    ck_assert_str_eq(s->name, "n\xef\xbf\xbdm");
    ck_assert_str_eq(s->trace_state, "a=\xef\xbf\xbd");
    assert_string_attr(s->attributes[0], "process.command", "cmd\xef\xbf\xbd");
    AnyValue **v = s->attributes[1]->value->array_value->values;
    ck_assert_str_eq(v[0]->string_value, "ok");
    ck_assert_str_eq(v[1]->string_value, "bad\xef\xbf\xbd");
    ck_assert_str_eq(v[2]->string_value, "\xc3\xa9t\xc3\xa9");
    /* A surrogate and a cut sequence: every byte replaced. */
    ck_assert_str_eq(v[3]->string_value, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    ck_assert_str_eq(v[4]->string_value, "\xef\xbf\xbd\xef\xbf\xbd");
    ck_assert_ptr_nonnull(find_attr(s->attributes, s->n_attributes, "k\xef\xbf\xbd"));
    assert_string_attr(s->attributes[2], "k\xef\xbf\xbd", "v\xef\xbf\xbd");
    ck_assert_str_eq(s->status->message, "e\xef\xbf\xbd");
    free_request(req);
}
END_TEST

/* ---- the sender ---- */

static char sock_dir[64];
static char sock_path[128];

static void sender_setup(void)
{
    strcpy(sock_dir, "/tmp/test-emit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sock_dir));
    snprintf(sock_path, sizeof(sock_path), "%s/otlp.sock", sock_dir);
}

static void sender_teardown(void)
{
    unlink(sock_path);
    rmdir(sock_dir);
}

static int listen_unix(const char *path, int backlog)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    return fd;
}

static int listen_tcp(int *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A one-shot server in a child process: accepts one connection, reads a request with a
 * Content-Length body, writes it to record_fd, answers with reply, exits. */
static pid_t serve_once(int listen_fd, int record_fd, const char *reply, size_t reply_len)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0)
        return pid;
    alarm(10);
    int c = accept(listen_fd, NULL, NULL);
    if (c < 0)
        _exit(1);
    char buf[65536];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(c, buf + n, sizeof(buf) - n);
        if (r <= 0)
            _exit(2);
        n += (size_t)r;
        char *end = memmem(buf, n, "\r\n\r\n", 4);
        char *cl = memmem(buf, n, "Content-Length: ", 16);
        if (end && cl && n >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10))
            break;
    }
    if (write(record_fd, buf, n) != (ssize_t)n || write(c, reply, reply_len) != (ssize_t)reply_len)
        _exit(3);
    close(c);
    _exit(0);
}

static void reap(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server failed: %d", status);
}

static size_t read_record(int fd, char *buf, size_t len)
{
    ssize_t n = read(fd, buf, len - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    return (size_t)n;
}

START_TEST(test_send_unix_ok)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                                "Content-Length: 0\r\n\r\n";
    int lfd = listen_unix(sock_path, 4);
    int rec[2];
    ck_assert_int_eq(pipe(rec), 0);
    pid_t pid = serve_once(lfd, rec[1], reply, sizeof(reply) - 1);

    struct emit_endpoint ep;
    char err[256] = "";
    char url[200];
    snprintf(url, sizeof(url), "unix://%s", sock_path);
    ck_assert_int_eq(emit_endpoint_parse(url, 0, &ep, err, sizeof(err)), 0);
    static const uint8_t body[] = { 0x0a, 0x00, 0xff, 0x01 };
    ck_assert_msg(emit_send(&ep, body, sizeof(body), 2000, err, sizeof(err)) == 0, "%s", err);
    reap(pid);

    char got[4096];
    size_t n = read_record(rec[0], got, sizeof(got));
    ck_assert_msg(strncmp(got, "POST /v1/traces HTTP/1.1\r\n", 26) == 0, "%s", got);
    ck_assert_ptr_nonnull(strstr(got, "\r\nContent-Type: application/x-protobuf\r\n"));
    ck_assert_ptr_nonnull(strstr(got, "\r\nContent-Length: 4\r\n"));
    ck_assert_ptr_nonnull(strstr(got, "\r\nHost: localhost\r\n"));
    ck_assert_mem_eq(got + n - sizeof(body), body, sizeof(body));
    close(rec[0]);
    close(rec[1]);
    close(lfd);
}
END_TEST

START_TEST(test_send_tcp_error_status)
{
    uint8_t status_buf[256];
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    st.code = 3;
    st.message = "span_id must be 8 bytes";
    size_t st_len = google__rpc__status__pack(&st, status_buf);
    char reply[512];
    int head = snprintf(reply, sizeof(reply),
                        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-protobuf\r\n"
                        "content-length: %zu\r\n\r\n", st_len);
    memcpy(reply + head, status_buf, st_len);

    int port;
    int lfd = listen_tcp(&port);
    int rec[2];
    ck_assert_int_eq(pipe(rec), 0);
    pid_t pid = serve_once(lfd, rec[1], reply, (size_t)head + st_len);

    struct emit_endpoint ep;
    char err[256] = "";
    char url[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/base/", port);
    ck_assert_int_eq(emit_endpoint_parse(url, 0, &ep, err, sizeof(err)), 0);
    static const uint8_t body[] = { 1, 2, 3 };
    ck_assert_int_eq(emit_send(&ep, body, sizeof(body), 2000, err, sizeof(err)), -1);
    ck_assert_msg(strcmp(err, "the sidecar answered 400: span_id must be 8 bytes") == 0, "%s", err);
    reap(pid);

    char got[4096];
    read_record(rec[0], got, sizeof(got));
    ck_assert_msg(strncmp(got, "POST /base/v1/traces HTTP/1.1\r\n", 31) == 0, "%s", got);
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", port);
    ck_assert_ptr_nonnull(strstr(got, host));
    close(rec[0]);
    close(rec[1]);
    close(lfd);
}
END_TEST

/* A host name goes through glibc's asynchronous lookup (valgrind shows glibc's own
 * resolver state in its helper thread as lost; that is not spanrelay-emit's). */
START_TEST(test_send_name_lookup)
{
    static const char reply[] = "HTTP/1.1 204 No Content\r\n\r\n";
    int port;
    int lfd = listen_tcp(&port);
    int rec[2];
    ck_assert_int_eq(pipe(rec), 0);
    pid_t pid = serve_once(lfd, rec[1], reply, sizeof(reply) - 1);

    struct emit_endpoint ep;
    char err[256] = "";
    char url[200];
    snprintf(url, sizeof(url), "http://localhost:%d", port);
    ck_assert_int_eq(emit_endpoint_parse(url, 0, &ep, err, sizeof(err)), 0);
    ck_assert_msg(emit_send(&ep, (const uint8_t *)"x", 1, 2000, err, sizeof(err)) == 0, "%s", err);
    reap(pid);
    char got[4096];
    read_record(rec[0], got, sizeof(got));
    ck_assert_msg(strncmp(got, "POST /v1/traces HTTP/1.1\r\n", 26) == 0, "%s", got);
    close(rec[0]);
    close(rec[1]);
    close(lfd);
}
END_TEST

START_TEST(test_send_nobody_listening)
{
    struct emit_endpoint ep;
    char err[256] = "";
    char url[200];
    snprintf(url, sizeof(url), "unix://%s", sock_path);
    ck_assert_int_eq(emit_endpoint_parse(url, 0, &ep, err, sizeof(err)), 0);
    int64_t t0 = now_ms();
    ck_assert_int_eq(emit_send(&ep, (const uint8_t *)"x", 1, 1000, err, sizeof(err)), -1);
    ck_assert_int_lt(now_ms() - t0, 500);
    ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));

    int port;
    int lfd = listen_tcp(&port);
    close(lfd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    ck_assert_int_eq(emit_endpoint_parse(url, 0, &ep, err, sizeof(err)), 0);
    ck_assert_int_eq(emit_send(&ep, (const uint8_t *)"x", 1, 1000, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "Connection refused"));
}
END_TEST

/* A listener that never accepts: connect and write succeed into the socket's queue,
 * the answer never comes. */
START_TEST(test_send_never_answers)
{
    int lfd = listen_unix(sock_path, 4);
    struct emit_endpoint ep;
    char err[256] = "";
    char url[200];
    snprintf(url, sizeof(url), "unix://%s", sock_path);
    ck_assert_int_eq(emit_endpoint_parse(url, 0, &ep, err, sizeof(err)), 0);
    int64_t t0 = now_ms();
    ck_assert_int_eq(emit_send(&ep, (const uint8_t *)"x", 1, 300, err, sizeof(err)), -1);
    int64_t took = now_ms() - t0;
    ck_assert_int_ge(took, 290);
    ck_assert_int_lt(took, 1300);
    ck_assert_str_eq(err, "no answer before the timeout");
    close(lfd);
}
END_TEST

/* A full backlog: a UNIX connect then fails with EAGAIN until the deadline. */
START_TEST(test_send_backlog_full)
{
    int lfd = listen_unix(sock_path, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, sock_path);
    int fillers[4];
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    struct emit_endpoint ep;
    char err[256] = "";
    char url[200];
    snprintf(url, sizeof(url), "unix://%s", sock_path);
    ck_assert_int_eq(emit_endpoint_parse(url, 0, &ep, err, sizeof(err)), 0);
    int64_t t0 = now_ms();
    ck_assert_int_eq(emit_send(&ep, (const uint8_t *)"x", 1, 300, err, sizeof(err)), -1);
    int64_t took = now_ms() - t0;
    ck_assert_int_ge(took, 290);
    ck_assert_int_lt(took, 1300);
    ck_assert_msg(strstr(err, "backlog full") != NULL, "%s", err);
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(lfd);
}
END_TEST

Suite *emit_suite(void);

Suite *emit_suite(void)
{
    Suite *s = suite_create("emit");
    TCase *tc = tcase_create("traceparent");
    tcase_add_test(tc, test_traceparent_valid);
    tcase_add_test(tc, test_traceparent_future_versions);
    tcase_add_loop_test(tc, test_traceparent_invalid, 0,
                        (int)(sizeof(invalid_tps) / sizeof(invalid_tps[0])));
    tcase_add_test(tc, test_traceparent_format_round_trip);
    tcase_add_test(tc, test_random_ids_differ);
    suite_add_tcase(s, tc);

    tc = tcase_create("time");
    tcase_add_loop_test(tc, test_time_good, 0, (int)(sizeof(good_times) / sizeof(good_times[0])));
    tcase_add_loop_test(tc, test_time_bad, 0, (int)(sizeof(bad_times) / sizeof(bad_times[0])));
    tcase_add_test(tc, test_now_is_wall_clock);
    suite_add_tcase(s, tc);

    tc = tcase_create("parsers");
    tcase_add_test(tc, test_kind_and_attr);
    tcase_add_test(tc, test_exit_status);
    tcase_add_test(tc, test_default_socket_is_the_daemons);
    tcase_add_test(tc, test_endpoint_forms);
    tcase_add_loop_test(tc, test_endpoint_bad, 0,
                        (int)(sizeof(bad_endpoints) / sizeof(bad_endpoints[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("request");
    tcase_add_test(tc, test_request_child_span);
    tcase_add_test(tc, test_request_root_span);
    tcase_add_test(tc, test_request_strings_made_utf8);
    suite_add_tcase(s, tc);

    tc = tcase_create("sender");
    tcase_add_checked_fixture(tc, sender_setup, sender_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_send_unix_ok);
    tcase_add_test(tc, test_send_tcp_error_status);
    tcase_add_test(tc, test_send_name_lookup);
    tcase_add_test(tc, test_send_nobody_listening);
    tcase_add_test(tc, test_send_never_answers);
    tcase_add_test(tc, test_send_backlog_full);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(emit_suite());
}
