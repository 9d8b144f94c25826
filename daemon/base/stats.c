/* stats.c — the process-wide receive counters, the equation's sums, and the names. */
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

uint64_t stats_lane_received(const struct stats_destination *d)
{
    return stats_received_total() + d->spans.received_spool;
}

uint64_t stats_rejected_total(void)
{
    uint64_t n = 0;
    for (int r = 0; r < STATS_REJECT_COUNT; r++)
        n += stats.spans_rejected[r];
    return n;
}

uint64_t stats_export_failed_total(const struct stats_lane_spans *s)
{
    uint64_t n = 0;
    for (int r = 0; r < STATS_FAIL_COUNT; r++)
        n += s->export_failed[r];
    return n;
}

uint64_t stats_accounted(const struct stats_destination *d)
{
    const struct stats_lane_spans *s = &d->spans;
    return stats_rejected_total() + s->sampled_out + s->dropped_overflow + s->exported +
           stats_export_failed_total(s) + s->spooled + s->buffered + s->in_flight;
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
    case STATS_EXPORTER_FAILING: return "failing";
    }
    return "disabled";
}

const char *stats_fail_reason_name(enum stats_fail_reason r)
{
    switch (r) {
    case STATS_FAIL_REFUSED: return "refused";
    case STATS_FAIL_BACKEND_REJECTED: return "backend_rejected";
    case STATS_FAIL_RETRIES_EXHAUSTED: return "retries_exhausted";
    case STATS_FAIL_SHUTDOWN: return "shutdown";
    case STATS_FAIL_SHUTDOWN_IN_FLIGHT: return "shutdown_in_flight";
    case STATS_FAIL_TOO_LARGE: return "too_large";
    case STATS_FAIL_DISABLED: return "disabled";
    case STATS_FAIL_NO_MEMORY: return "out_of_memory";
    case STATS_FAIL_SPOOL_UNREADABLE: return "spool_unreadable";
    case STATS_FAIL_COUNT: break;
    }
    return "unknown";
}
