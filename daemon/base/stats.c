/* stats.c — the process-wide counters and their names. */
#include "base/stats.h"

struct stats stats;

void stats_count_request(enum stats_transport t, int code)
{
    struct stats_code_count *slots = stats.requests[t];
    for (int i = 0; i < STATS_HTTP_CODES; i++) {
        if (slots[i].code == code || slots[i].count == 0) {
            slots[i].code = code;
            slots[i].count++;
            return;
        }
    }
    /* More distinct codes than slots cannot happen with the codes the receivers send;
     * should it, the request still counts, under the last code tracked. */
    slots[STATS_HTTP_CODES - 1].count++;
}

uint64_t stats_received_total(void)
{
    uint64_t n = 0;
    for (int t = 0; t < STATS_TRANSPORT_COUNT; t++)
        n += stats.spans_received[t];
    return n;
}

uint64_t stats_accounted(void)
{
    uint64_t n = stats.spans_sampled_out + stats.spans_dropped_overflow + stats.spans_exported +
                 stats.spans_export_failed + stats.spans_buffered + stats.spans_in_flight;
    for (int r = 0; r < STATS_REJECT_COUNT; r++)
        n += stats.spans_rejected[r];
    return n;
}

const char *stats_reject_reason_name(enum stats_reject_reason r)
{
    switch (r) {
    case STATS_REJECT_TRACE_ID: return "invalid_trace_id";
    case STATS_REJECT_SPAN_ID: return "invalid_span_id";
    case STATS_REJECT_PARENT_SPAN_ID: return "invalid_parent_span_id";
    case STATS_REJECT_COUNT: break;
    }
    return "unknown";
}

const char *stats_transport_name(enum stats_transport t)
{
    return t == STATS_TRANSPORT_GRPC ? "grpc" : "http";
}

const char *stats_sampler_rule_name(enum stats_sampler_rule r)
{
    return r == STATS_RULE_CONSISTENT ? "consistent" : "python";
}

const char *stats_exporter_state_name(enum stats_exporter_state s)
{
    switch (s) {
    case STATS_EXPORTER_DISABLED: return "disabled";
    case STATS_EXPORTER_CONNECTING: return "connecting";
    case STATS_EXPORTER_READY: return "ready";
    case STATS_EXPORTER_BACKING_OFF: return "backing_off";
    }
    return "disabled";
}
