/* otlp_request.h — large ExportTraceServiceRequests for the splitting suites
 * (test_batch_split.c, test_exporter.c, test_lane.c): several resources and scopes,
 * spans of uneven sizes, numbered so that a test can tell, after any split, that every
 * span arrived once, in order, under its own resource and scope. */
#ifndef SPANRELAY_OTLP_REQUEST_H
#define SPANRELAY_OTLP_REQUEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

struct req_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

static void req_put(struct req_buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        ck_assert_ptr_nonnull(b->data);
    }
    memcpy(b->data + b->len, d, n);
    b->len += n;
}

static void req_varint(struct req_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    req_put(b, tmp, n);
}

/* A length-delimited field; takes the contents of inner (freed). */
static void req_field(struct req_buf *b, uint32_t number, struct req_buf *inner)
{
    req_varint(b, (uint64_t)number << 3 | 2);
    req_varint(b, inner->len);
    req_put(b, inner->data, inner->len);
    free(inner->data);
    *inner = (struct req_buf){ 0 };
}

static void req_string(struct req_buf *b, uint32_t number, const char *s, size_t n)
{
    req_varint(b, (uint64_t)number << 3 | 2);
    req_varint(b, n);
    req_put(b, s, n);
}

/* Span number: its trace id and span id carry the number, its name says
 * "r<resource>.s<scope>." padded with x to about size bytes in all. */
static void req_span(struct req_buf *scope, uint32_t number, unsigned res, unsigned sc,
                     size_t size)
{
    struct req_buf sp = { 0 };
    uint8_t id[16] = { 0 };
    char name[64];
    id[0] = 1;
    for (int i = 0; i < 4; i++)
        id[15 - i] = (uint8_t)(number >> (8 * i));
    req_string(&sp, 1, (const char *)id, 16);
    req_string(&sp, 2, (const char *)id + 8, 8);
    int n = snprintf(name, sizeof(name), "r%u.s%u.", res, sc);
    size_t pad = size > (size_t)n + 40 ? size - (size_t)n - 40 : 0;
    char *full = malloc((size_t)n + pad + 1);
    memcpy(full, name, (size_t)n);
    memset(full + n, 'x', pad);
    req_string(&sp, 5, full, (size_t)n + pad);
    free(full);
    req_field(scope, 2, &sp);
}

/* Appends to out a request of resources × scopes × spans spans, numbered from *next;
 * span k is about base + (k * 7919 % spread) bytes. Returns the spans written. */
static uint32_t req_build(struct req_buf *out, unsigned resources, unsigned scopes,
                          unsigned spans, size_t base, size_t spread, uint32_t *next)
{
    uint32_t written = 0;
    for (unsigned r = 0; r < resources; r++) {
        struct req_buf rs = { 0 };
        char url[32];
        int n = snprintf(url, sizeof(url), "r%u", r);
        for (unsigned s = 0; s < scopes; s++) {
            struct req_buf ss = { 0 }, scope = { 0 };
            char sname[32];
            int m = snprintf(sname, sizeof(sname), "s%u", s);
            req_string(&scope, 1, sname, (size_t)m);
            req_field(&ss, 1, &scope);
            for (unsigned k = 0; k < spans; k++) {
                uint32_t num = (*next)++;
                req_span(&ss, num, r, s, base + (spread ? (size_t)num * 7919 % spread : 0));
                written++;
            }
            req_field(&rs, 2, &ss);
        }
        req_string(&rs, 3, url, (size_t)n);
        req_field(out, 1, &rs);
    }
    return written;
}

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest ReqMessage;

/* Walks one body: it decodes, every span sits under the resource and scope its name
 * gives, and visit is called with each span's number, in order. Returns its spans. */
static uint32_t req_walk(const uint8_t *body, size_t len, void (*visit)(void *, uint32_t),
                         void *arg)
{
    ReqMessage *m =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, len, body);
    ck_assert_msg(m != NULL, "a piece does not decode");
    uint32_t spans = 0;
    for (size_t r = 0; r < m->n_resource_spans; r++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = m->resource_spans[r];
        for (size_t s = 0; s < rs->n_scope_spans; s++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[s];
            ck_assert_msg(ss->n_spans > 0, "an empty scope was written");
            for (size_t k = 0; k < ss->n_spans; k++) {
                const Opentelemetry__Proto__Trace__V1__Span *sp = ss->spans[k];
                uint32_t num = (uint32_t)sp->span_id.data[4] << 24 |
                               (uint32_t)sp->span_id.data[5] << 16 |
                               (uint32_t)sp->span_id.data[6] << 8 | sp->span_id.data[7];
                char where[80];
                snprintf(where, sizeof(where), "%s.%s.", rs->schema_url, ss->scope->name);
                ck_assert_msg(strncmp(sp->name, where, strlen(where)) == 0,
                              "span %u (%s) under %s", num, sp->name, where);
                visit(arg, num);
                spans++;
            }
        }
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
        m, NULL);
    return spans;
}

static void req_next_in_order(void *arg, uint32_t num)
{
    uint32_t *expect = arg;
    ck_assert_uint_eq(num, *expect);
    (*expect)++;
}

/* Checks one body (req_walk): its spans are numbered from *expect on. */
static inline uint32_t req_check(const uint8_t *body, size_t len, uint32_t *expect)
{
    return req_walk(body, len, req_next_in_order, expect);
}

/* Spans seen across bodies that may arrive in any order: each once. */
#define REQ_MAX_SPANS 4096
struct req_seen {
    uint8_t seen[REQ_MAX_SPANS];
    uint32_t count;
};

static void req_mark(void *arg, uint32_t num)
{
    struct req_seen *rs = arg;
    ck_assert_uint_lt(num, REQ_MAX_SPANS);
    ck_assert_msg(!rs->seen[num], "span %u arrived twice", num);
    rs->seen[num] = 1;
    rs->count++;
}

/* Checks one body (req_walk) and marks its spans seen; returns its spans. */
static inline uint32_t req_check_once(const uint8_t *body, size_t len, struct req_seen *rs)
{
    return req_walk(body, len, req_mark, rs);
}

#endif
