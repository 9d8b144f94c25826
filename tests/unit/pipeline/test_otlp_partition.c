/* test_otlp_partition.c — otlp_partition.c: random requests (several resources and
 * scopes, attributes, schema URLs) built with protobuf-c are split by trace id, by
 * position and by size; every output decodes, every span lands exactly once, in its
 * bucket, byte for byte, under its own resource and scope, in order; concatenated
 * requests, empty and span-less inputs, out-of-range buckets and malformed inputs
 * (truncations at every byte, bad wire types, overlong lengths) are handled. */
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "pipeline/otlp_partition.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define REQ_DESC opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor
#define MAXB 8

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Everything a request owns, freed in one go. */
static void *arena[4096];
static size_t arena_len;

static void *alloc(size_t n)
{
    ck_assert_uint_lt(arena_len, sizeof(arena) / sizeof(arena[0]));
    void *p = calloc(1, n);
    arena[arena_len++] = p;
    return p;
}

static void arena_free(void)
{
    while (arena_len)
        free(arena[--arena_len]);
}

static char *text(const char *prefix, unsigned n)
{
    char *s = alloc(32);
    snprintf(s, 32, "%s-%u", prefix, n);
    return s;
}

static KeyValue **attrs(unsigned n, const char *prefix)
{
    KeyValue **kv = alloc(sizeof(*kv) * (n ? n : 1));
    for (unsigned i = 0; i < n; i++) {
        kv[i] = alloc(sizeof(KeyValue));
        opentelemetry__proto__common__v1__key_value__init(kv[i]);
        kv[i]->key = text(prefix, i);
        AnyValue *v = alloc(sizeof(AnyValue));
        opentelemetry__proto__common__v1__any_value__init(v);
        v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        v->string_value = text("v", (unsigned)next_rand() % 1000);
        kv[i]->value = v;
    }
    return kv;
}

static Span *span(unsigned i)
{
    Span *s = alloc(sizeof(Span));
    opentelemetry__proto__trace__v1__span__init(s);
    uint8_t *tid = alloc(16), *sid = alloc(8);
    /* Few traces, so that buckets by trace id hold several spans each. */
    memset(tid, 0, 16);
    tid[15] = (uint8_t)(next_rand() % 7 + 1);
    for (int k = 0; k < 8; k++)
        sid[k] = (uint8_t)(next_rand() | 1);
    s->trace_id = (ProtobufCBinaryData){ 16, tid };
    s->span_id = (ProtobufCBinaryData){ 8, sid };
    s->name = text("span", i);
    s->start_time_unix_nano = next_rand();
    s->n_attributes = (size_t)(next_rand() % 4);
    s->attributes = attrs((unsigned)s->n_attributes, "a");
    return s;
}

/* A request of nres resources with up to 3 scopes of up to 5 spans each. */
static Request *request(unsigned nres)
{
    Request *r = alloc(sizeof(Request));
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(r);
    r->n_resource_spans = nres;
    r->resource_spans = alloc(sizeof(ResourceSpans *) * (nres ? nres : 1));
    unsigned n = 0;
    for (unsigned i = 0; i < nres; i++) {
        ResourceSpans *rs = alloc(sizeof(ResourceSpans));
        opentelemetry__proto__trace__v1__resource_spans__init(rs);
        rs->resource = alloc(sizeof(*rs->resource));
        opentelemetry__proto__resource__v1__resource__init(rs->resource);
        rs->resource->n_attributes = 2;
        rs->resource->attributes = attrs(2, text("res", i));
        rs->schema_url = text("https://schema/r", i);
        rs->n_scope_spans = (size_t)(next_rand() % 3 + 1);
        rs->scope_spans = alloc(sizeof(ScopeSpans *) * rs->n_scope_spans);
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            ScopeSpans *ss = alloc(sizeof(ScopeSpans));
            opentelemetry__proto__trace__v1__scope_spans__init(ss);
            ss->scope = alloc(sizeof(*ss->scope));
            opentelemetry__proto__common__v1__instrumentation_scope__init(ss->scope);
            ss->scope->name = text("scope", (unsigned)j);
            ss->schema_url = text("https://schema/s", (unsigned)j);
            ss->n_spans = (size_t)(next_rand() % 6);
            ss->spans = alloc(sizeof(Span *) * (ss->n_spans ? ss->n_spans : 1));
            for (size_t k = 0; k < ss->n_spans; k++)
                ss->spans[k] = span(n++);
            rs->scope_spans[j] = ss;
        }
        r->resource_spans[i] = rs;
    }
    return r;
}

static uint8_t *pack(const Request *r, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *buf = alloc(*len ? *len : 1);
    protobuf_c_message_pack(&r->base, buf);
    return buf;
}

static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

static int same_msg(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    if (!a || !b)
        return a == b;
    size_t la, lb;
    uint8_t *pa = pack_msg(a, &la), *pb = pack_msg(b, &lb);
    int same = la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

/* ---- classifiers ---- */

static size_t by_trace(void *arg, const uint8_t id[16], size_t i, size_t bytes)
{
    (void)i;
    (void)bytes;
    return id[15] % *(size_t *)arg;
}

static size_t by_index(void *arg, const uint8_t id[16], size_t i, size_t bytes)
{
    (void)id;
    (void)bytes;
    return i % *(size_t *)arg;
}

/* The first half of the bytes to bucket 0, the rest to 1: how a batch is halved. */
struct halves {
    size_t total, seen;
};

static size_t by_size(void *arg, const uint8_t id[16], size_t i, size_t bytes)
{
    (void)id;
    (void)i;
    struct halves *h = arg;
    size_t b = h->seen * 2 < h->total ? 0 : 1;
    h->seen += bytes;
    return b;
}

static size_t count_bytes(void *arg, const uint8_t id[16], size_t i, size_t bytes)
{
    (void)id;
    (void)i;
    *(size_t *)arg += bytes;
    return 0;
}

static size_t out_of_range(void *arg, const uint8_t id[16], size_t i, size_t bytes)
{
    (void)arg;
    (void)id;
    (void)bytes;
    return i == 3 ? 5 : 0;
}

/* Every span of the original, in order, must be found in the output of the bucket
 * expect() names, under an equal resource and scope, and nothing else. */
static void check_partition(const Request *orig, struct otlp_partition_out *out, size_t nb,
                            size_t (*expect)(void *, const uint8_t[16], size_t, size_t), void *arg)
{
    Request *got[MAXB];
    size_t pos[MAXB][3];   /* per bucket: resource, scope, span reached */
    size_t total[MAXB] = { 0 };
    memset(pos, 0, sizeof(pos));
    for (size_t b = 0; b < nb; b++) {
        got[b] = out[b].data ? (Request *)protobuf_c_message_unpack(&REQ_DESC, NULL, out[b].len,
                                                                       out[b].data)
                             : NULL;
        ck_assert_msg(!out[b].data || got[b], "bucket %zu does not decode", b);
        ck_assert(out[b].data || out[b].len == 0);
    }
    size_t idx = 0;
    for (size_t r = 0; r < orig->n_resource_spans; r++) {
        const ResourceSpans *rs = orig->resource_spans[r];
        size_t rs_at[MAXB];
        for (size_t b = 0; b < nb; b++)
            rs_at[b] = SIZE_MAX;
        for (size_t s = 0; s < rs->n_scope_spans; s++) {
            const ScopeSpans *ss = rs->scope_spans[s];
            size_t ss_at[MAXB];
            for (size_t b = 0; b < nb; b++)
                ss_at[b] = SIZE_MAX;
            for (size_t k = 0; k < ss->n_spans; k++, idx++) {
                const Span *sp = ss->spans[k];
                size_t plen;
                uint8_t *packed = pack_msg(&sp->base, &plen);
                size_t field = 1 + (plen < 128 ? 1 : plen < 16384 ? 2 : 3) + plen;
                free(packed);
                size_t b = expect(arg, sp->trace_id.data, idx, field);
                ck_assert_uint_lt(b, nb);
                ck_assert_ptr_nonnull(got[b]);
                if (rs_at[b] == SIZE_MAX) {
                    rs_at[b] = pos[b][0]++;
                    pos[b][1] = 0;
                    ck_assert_uint_lt(rs_at[b], got[b]->n_resource_spans);
                    const ResourceSpans *g = got[b]->resource_spans[rs_at[b]];
                    ck_assert(same_msg(&rs->resource->base, &g->resource->base));
                    ck_assert_str_eq(rs->schema_url, g->schema_url);
                }
                const ResourceSpans *grs = got[b]->resource_spans[rs_at[b]];
                if (ss_at[b] == SIZE_MAX) {
                    ss_at[b] = pos[b][1]++;
                    pos[b][2] = 0;
                    ck_assert_uint_lt(ss_at[b], grs->n_scope_spans);
                    const ScopeSpans *g = grs->scope_spans[ss_at[b]];
                    ck_assert(same_msg(&ss->scope->base, &g->scope->base));
                    ck_assert_str_eq(ss->schema_url, g->schema_url);
                }
                const ScopeSpans *gss = grs->scope_spans[ss_at[b]];
                ck_assert_uint_lt(pos[b][2], gss->n_spans);
                ck_assert(same_msg(&sp->base, &gss->spans[pos[b][2]++]->base));
                total[b]++;
            }
            for (size_t b = 0; b < nb; b++)
                if (ss_at[b] != SIZE_MAX)
                    ck_assert_uint_eq(pos[b][2], got[b]->resource_spans[rs_at[b]]
                                                     ->scope_spans[ss_at[b]]->n_spans);
        }
    }
    for (size_t b = 0; b < nb; b++) {
        ck_assert_uint_eq(out[b].spans, total[b]);
        if (got[b]) {
            ck_assert_uint_eq(pos[b][0], got[b]->n_resource_spans);
            protobuf_c_message_free_unpacked(&got[b]->base, NULL);
        }
    }
}

static void partition_ok(const uint8_t *in, size_t len, size_t nb,
                         size_t (*classify)(void *, const uint8_t[16], size_t, size_t), void *arg,
                         struct otlp_partition_out *out)
{
    char err[256];
    ck_assert_msg(otlp_partition(in, len, nb, classify, arg, out, err, sizeof(err)) == 0, "%s",
                  err);
}

START_TEST(test_random_requests_by_trace_and_by_index)
{
    for (int round = 0; round < 200; round++) {
        Request *r = request((unsigned)(next_rand() % 4 + 1));
        size_t len;
        uint8_t *in = pack(r, &len);
        size_t nb = (size_t)(next_rand() % MAXB + 1);
        struct otlp_partition_out out[MAXB];
        partition_ok(in, len, nb, by_trace, &nb, out);
        check_partition(r, out, nb, by_trace, &nb);
        otlp_partition_free(out, nb);
        partition_ok(in, len, nb, by_index, &nb, out);
        check_partition(r, out, nb, by_index, &nb);
        otlp_partition_free(out, nb);
        arena_free();
    }
}
END_TEST

START_TEST(test_halving_by_size_and_span_bytes)
{
    for (int round = 0; round < 100; round++) {
        Request *r = request(3);
        size_t len, bytes = 0;
        uint8_t *in = pack(r, &len);
        struct otlp_partition_out out[2];
        partition_ok(in, len, 1, count_bytes, &bytes, out);
        /* One bucket: the same spans, the same resources and scopes. */
        check_partition(r, out, 1, by_index, &(size_t){ 1 });
        ck_assert_uint_le(out[0].len, len);
        otlp_partition_free(out, 1);
        struct halves h = { bytes, 0 };
        partition_ok(in, len, 2, by_size, &h, out);
        ck_assert_uint_eq(h.seen, bytes);
        h.seen = 0;
        check_partition(r, out, 2, by_size, &h);
        otlp_partition_free(out, 2);
        arena_free();
    }
}
END_TEST

/* Requests concatenated end to end are one request; so are the outputs. */
START_TEST(test_concatenated_requests)
{
    Request *a = request(2), *b = request(3);
    size_t la, lb;
    uint8_t *pa = pack(a, &la), *pb = pack(b, &lb);
    uint8_t *both = alloc(la + lb);
    memcpy(both, pa, la);
    memcpy(both + la, pb, lb);
    Request *joined = (Request *)protobuf_c_message_unpack(&REQ_DESC, NULL, la + lb, both);
    ck_assert_ptr_nonnull(joined);
    size_t nb = 3;
    struct otlp_partition_out out[3];
    partition_ok(both, la + lb, nb, by_trace, &nb, out);
    check_partition(joined, out, nb, by_trace, &nb);
    otlp_partition_free(out, nb);
    protobuf_c_message_free_unpacked(&joined->base, NULL);
    arena_free();
}
END_TEST

START_TEST(test_empty_and_spanless_inputs)
{
    size_t nb = 2;
    struct otlp_partition_out out[2];
    partition_ok((const uint8_t *)"", 0, nb, by_index, &nb, out);
    ck_assert_ptr_null(out[0].data);
    ck_assert_ptr_null(out[1].data);
    /* A resource whose scopes have no span: nothing to write anywhere. */
    Request *r = request(2);
    for (size_t i = 0; i < r->n_resource_spans; i++)
        for (size_t j = 0; j < r->resource_spans[i]->n_scope_spans; j++)
            r->resource_spans[i]->scope_spans[j]->n_spans = 0;
    size_t len;
    uint8_t *in = pack(r, &len);
    partition_ok(in, len, nb, by_index, &nb, out);
    ck_assert_uint_eq(out[0].len + out[1].len, 0);
    ck_assert_uint_eq(out[0].spans + out[1].spans, 0);
    arena_free();
}
END_TEST

START_TEST(test_span_without_trace_id_gets_zeros)
{
    Request *r = request(1);
    r->resource_spans[0]->n_scope_spans = 1;
    ScopeSpans *ss = r->resource_spans[0]->scope_spans[0];
    ss->n_spans = 1;
    ss->spans[0] = span(0);
    ss->spans[0]->trace_id = (ProtobufCBinaryData){ 0, NULL };
    size_t len, nb = 4;
    uint8_t *in = pack(r, &len);
    struct otlp_partition_out out[4];
    partition_ok(in, len, nb, by_trace, &nb, out);
    ck_assert_uint_eq(out[0].spans, 1);
    otlp_partition_free(out, nb);
    arena_free();
}
END_TEST

START_TEST(test_bucket_out_of_range_is_an_error)
{
    Request *r = request(4);
    size_t len;
    uint8_t *in = pack(r, &len);
    struct otlp_partition_out out[2];
    char err[256];
    size_t spans = 0;
    for (size_t i = 0; i < r->n_resource_spans; i++)
        for (size_t j = 0; j < r->resource_spans[i]->n_scope_spans; j++)
            spans += r->resource_spans[i]->scope_spans[j]->n_spans;
    int rc = otlp_partition(in, len, 2, out_of_range, NULL, out, err, sizeof(err));
    if (spans > 3) {
        ck_assert_int_eq(rc, -1);
        ck_assert_str_eq(err, "span 3: bucket 5 out of 2");
        ck_assert_ptr_null(out[0].data);
    } else {
        ck_assert_int_eq(rc, 0);
        otlp_partition_free(out, 2);
    }
    arena_free();
}
END_TEST

/* Every truncation of a valid request either parses as a shorter valid request (cut at
 * a field boundary of the top level) or is refused; never a crash, never a leak. */
START_TEST(test_truncations_and_corruptions)
{
    Request *r = request(2);
    size_t len, nb = 3;
    uint8_t *in = pack(r, &len);
    struct otlp_partition_out out[3];
    char err[256];
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, in, cut);
        if (otlp_partition(copy, cut, nb, by_trace, &nb, out, err, sizeof(err)) == 0)
            otlp_partition_free(out, nb);
        else
            ck_assert_ptr_null(out[0].data);
        free(copy);
    }
    /* Flipping each byte to each of a few values: parse or refuse, never overrun. */
    static const uint8_t values[] = { 0x00, 0x07, 0x0f, 0x7f, 0x80, 0xff };
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof(values); v++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, in, len);
            copy[i] = values[v];
            if (otlp_partition(copy, len, nb, by_trace, &nb, out, err, sizeof(err)) == 0)
                otlp_partition_free(out, nb);
            free(copy);
        }
    }
    /* Named problems. */
    static const uint8_t bad_wire[] = { 0x0b };               /* field 1, wire type 3 */
    ck_assert_int_eq(otlp_partition(bad_wire, 1, nb, by_trace, &nb, out, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "request: malformed field at byte 0");
    static const uint8_t overlong[] = { 0x0a, 0x05, 0x12, 0x00 };
    ck_assert_int_eq(otlp_partition(overlong, 4, nb, by_trace, &nb, out, err, sizeof(err)), -1);
    static const uint8_t bad_span[] = { 0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x0a, 0x05 };
    ck_assert_int_eq(otlp_partition(bad_span, sizeof(bad_span), nb, by_trace, &nb, out, err,
                                    sizeof(err)), -1);
    ck_assert_str_eq(err, "span 0: malformed field at byte 6");
    arena_free();
}
END_TEST

/* For walked input the fast variant writes exactly what the checking one writes; a
 * span broken after its trace id is copied as it is instead of refused. */
START_TEST(test_walked_input_partitions_the_same)
{
    char err[128];
    for (int round = 0; round < 100; round++) {
        Request *r = request((unsigned)(next_rand() % 4 + 1));
        size_t len;
        uint8_t *in = pack(r, &len);
        size_t nb = (size_t)(next_rand() % MAXB + 1);
        struct otlp_partition_out a[MAXB], b[MAXB];
        partition_ok(in, len, nb, by_trace, &nb, a);
        ck_assert_msg(otlp_partition_walked(in, len, nb, by_trace, &nb, b, err,
                                            sizeof(err)) == 0, "%s", err);
        for (size_t i = 0; i < nb; i++) {
            ck_assert_uint_eq(a[i].len, b[i].len);
            ck_assert_uint_eq(a[i].spans, b[i].spans);
            ck_assert(a[i].len == 0 || memcmp(a[i].data, b[i].data, a[i].len) == 0);
        }
        otlp_partition_free(a, nb);
        otlp_partition_free(b, nb);
        arena_free();
    }
    static const uint8_t bad_span[] = { 0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x0a, 0x05 };
    size_t nb = 1;
    struct otlp_partition_out out[1];
    ck_assert_int_eq(otlp_partition_walked(bad_span, sizeof(bad_span), nb, by_trace, &nb, out,
                                           err, sizeof(err)), 0);
    ck_assert_uint_eq(out[0].spans, 1);
    ck_assert_uint_eq(out[0].len, sizeof(bad_span));
    ck_assert_int_eq(memcmp(out[0].data, bad_span, sizeof(bad_span)), 0);
    otlp_partition_free(out, nb);
}
END_TEST

static Suite *partition_suite(void)
{
    Suite *s = suite_create("otlp_partition");
    TCase *tc = tcase_create("partition");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_random_requests_by_trace_and_by_index);
    tcase_add_test(tc, test_halving_by_size_and_span_bytes);
    tcase_add_test(tc, test_concatenated_requests);
    tcase_add_test(tc, test_empty_and_spanless_inputs);
    tcase_add_test(tc, test_span_without_trace_id_gets_zeros);
    tcase_add_test(tc, test_bucket_out_of_range_is_an_error);
    tcase_add_test(tc, test_truncations_and_corruptions);
    tcase_add_test(tc, test_walked_input_partitions_the_same);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(partition_suite());
}
