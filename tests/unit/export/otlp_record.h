/* otlp_record.h — a small ExportTraceServiceRequest for the export suites
 * (test_lane.c, test_shard.c): one resource, one scope, spans spans of one trace. */
#ifndef SPANRELAY_OTLP_RECORD_H
#define SPANRELAY_OTLP_RECORD_H

#include <stdint.h>
#include <string.h>

/* The trace id is seed+1 ... seed+16 and starts OTLP_RECORD_TRACE_ID_AT bytes in. */
#define OTLP_RECORD_TRACE_ID_AT 10

/* An ExportTraceServiceRequest with one resource, one scope and spans spans, each
 * with a trace id, a span id and a name; returns its length. */
static size_t make_record(uint8_t *buf, uint32_t spans, uint8_t seed)
{
    uint8_t span[2 + 16 + 2 + 8 + 2 + 4];
    size_t n = 0;
    span[n++] = 0x0a;
    span[n++] = 16;
    for (int i = 0; i < 16; i++)
        span[n++] = (uint8_t)(seed + i + 1);
    span[n++] = 0x12;
    span[n++] = 8;
    for (int i = 0; i < 8; i++)
        span[n++] = (uint8_t)(seed + i + 1);
    span[n++] = 0x2a;
    span[n++] = 4;
    memcpy(span + n, "work", 4);
    n += 4;
    size_t scope_len = spans * (2 + n);
    size_t rs_len = 3 + scope_len;   /* tag + 2-byte length + scope */
    size_t len = 0;
    buf[len++] = 0x0a;               /* resource_spans */
    buf[len++] = (uint8_t)(0x80 | (rs_len & 0x7f));
    buf[len++] = (uint8_t)(rs_len >> 7);
    buf[len++] = 0x12;               /* scope_spans */
    buf[len++] = (uint8_t)(0x80 | (scope_len & 0x7f));
    buf[len++] = (uint8_t)(scope_len >> 7);
    for (uint32_t s = 0; s < spans; s++) {
        buf[len++] = 0x12;           /* spans */
        buf[len++] = (uint8_t)n;
        memcpy(buf + len, span, n);
        len += n;
    }
    return len;
}

#endif
