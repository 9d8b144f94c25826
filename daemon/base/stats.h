/* stats.h — the counters behind /metrics and /health.
 *
 * One process-wide instance, touched only from the event loop thread. The span terms
 * follow DESIGN.md decision 5; at every moment
 *   received = rejected + sampled_out + dropped_overflow + exported + export_failed
 *              + buffered + in_flight
 * Modules update them where the event happens; nobody else computes them. */
#ifndef SPANRELAY_STATS_H
#define SPANRELAY_STATS_H

#include <stdint.h>

enum stats_transport { STATS_TRANSPORT_GRPC, STATS_TRANSPORT_HTTP, STATS_TRANSPORT_COUNT };

/* Why spans of a request that parsed were refused (label `reason` of
 * spans_rejected_total). A request that does not parse at all is not "received":
 * it shows in the requests-by-status counters instead. */
enum stats_reject_reason {
    STATS_REJECT_TRACE_ID,       /* trace_id not 16 bytes, or all zero */
    STATS_REJECT_SPAN_ID,        /* span_id not 8 bytes, or all zero */
    STATS_REJECT_PARENT_SPAN_ID, /* parent_span_id neither empty nor 8 bytes */
    STATS_REJECT_COUNT
};

/* The rule that decided a span (label `rule` of the sampler counters; DESIGN.md
 * decision 12). */
enum stats_sampler_rule { STATS_RULE_PYTHON, STATS_RULE_CONSISTENT, STATS_RULE_COUNT };

enum stats_exporter_state {
    STATS_EXPORTER_DISABLED, STATS_EXPORTER_CONNECTING, STATS_EXPORTER_READY,
    STATS_EXPORTER_BACKING_OFF
};

#define STATS_HTTP_CODES 16 /* distinct status codes tracked per transport */

struct stats_code_count {
    int code;        /* HTTP status or gRPC status; 0 = slot unused */
    uint64_t count;
};

struct stats {
    uint64_t spans_received[STATS_TRANSPORT_COUNT];
    uint64_t spans_rejected[STATS_REJECT_COUNT];
    uint64_t spans_sampled_out;
    uint64_t spans_dropped_overflow;
    uint64_t spans_exported;
    uint64_t spans_export_failed;
    uint64_t spans_buffered;          /* gauge */
    uint64_t spans_in_flight;         /* gauge */
    uint64_t buffer_bytes;            /* gauge */
    uint64_t buffer_capacity_bytes;   /* gauge */

    /* receiver */
    struct stats_code_count requests[STATS_TRANSPORT_COUNT][STATS_HTTP_CODES];
    uint64_t connections_open;        /* gauge */
    uint64_t connections_accepted;
    uint64_t connections_refused;     /* over receiver.maxConnections */

    /* sampler: the pipeline's decision on every valid span, by the rule that made it */
    uint64_t sampler_kept[STATS_RULE_COUNT];
    uint64_t sampler_sampled_out[STATS_RULE_COUNT];
    uint64_t sampler_th_erased;       /* spans whose `th` contradicted their randomness */
    uint64_t sampler_tracestate_unchanged; /* kept spans whose new `th` would have broken
                                         the W3C tracestate limits */

    /* exporter */
    enum stats_exporter_state exporter_state;
    int exporter_up;
    char exporter_last_error[256];
    uint64_t export_requests;
    uint64_t export_retries;
    uint64_t export_backend_rejected; /* rejected_spans from the backend's partial success */
};

extern struct stats stats;

/* Counts one finished request with its status code (HTTP status or gRPC status). */
void stats_count_request(enum stats_transport t, int code);

/* Sum of every term on the right of the accounting equation. */
uint64_t stats_accounted(void);
uint64_t stats_received_total(void);

const char *stats_reject_reason_name(enum stats_reject_reason r);
const char *stats_transport_name(enum stats_transport t);
const char *stats_sampler_rule_name(enum stats_sampler_rule r);
const char *stats_exporter_state_name(enum stats_exporter_state s);

#endif
