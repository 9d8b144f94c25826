/* stats.h — the counters behind /metrics and /health.
 *
 * The receive side is one process-wide instance (`stats`), touched only from the event
 * loop thread. The export side is one struct stats_destination per lane, owned by the
 * lane (its span terms) and its exporter (the exporter part). The span terms follow
 * DESIGN.md decision 5; at every moment, for each destination d,
 *   received = rejected + sampled_out[d] + dropped_overflow[d] + exported[d]
 *              + export_failed[d] + buffered[d] + in_flight[d]
 * Modules update them where the event happens; nobody else computes them. */
#ifndef SPANRELAY_STATS_H
#define SPANRELAY_STATS_H

#include <stddef.h>
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

/* `failing`: the backend is reached but refuses every recent export with a retryable
 * answer (UNAVAILABLE, 503, ...), or never answers them. */
enum stats_exporter_state {
    STATS_EXPORTER_DISABLED, STATS_EXPORTER_CONNECTING, STATS_EXPORTER_READY,
    STATS_EXPORTER_BACKING_OFF, STATS_EXPORTER_FAILING
};

/* Why spans were given up on (label `reason` of spans_export_failed_total). */
enum stats_fail_reason {
    STATS_FAIL_REFUSED,            /* the backend answered with a non-retryable error */
    STATS_FAIL_BACKEND_REJECTED,   /* rejected_spans of a partial success */
    STATS_FAIL_RETRIES_EXHAUSTED,  /* retryable, but past retry.maxElapsedTime */
    STATS_FAIL_SHUTDOWN,           /* still buffered or waiting to retry at shutdownTimeout */
    STATS_FAIL_SHUTDOWN_IN_FLIGHT, /* sent, unanswered at shutdownTimeout: may have arrived */
    STATS_FAIL_TOO_LARGE,          /* one span larger than the backend's request ceiling */
    STATS_FAIL_DISABLED,           /* the destination has no endpoint or is disabled */
    STATS_FAIL_NO_MEMORY,
    STATS_FAIL_SPOOL_UNREADABLE,   /* spooled, then unreadable on disk or unwritable at close */
    STATS_FAIL_COUNT
};

/* The span terms of one destination; written by lane.c only. */
struct stats_lane_spans {
    uint64_t sampled_out;
    uint64_t dropped_overflow;
    uint64_t exported;
    uint64_t export_failed[STATS_FAIL_COUNT];
    uint64_t buffered;                /* gauge */
    uint64_t in_flight;               /* gauge */
    uint64_t spooled;                 /* gauge: spans in the disk spool */
    uint64_t received_spool;          /* spans an earlier process left in the spool: received
                                         by this one (transport="spool") for this lane only */
    uint64_t buffer_bytes;            /* gauge */
    uint64_t buffer_capacity_bytes;   /* gauge */
};

/* The exporter's side of one destination; written by exporter.c only. */
struct stats_lane_exporter {
    enum stats_exporter_state state;
    int up;
    char last_error[256];
    uint64_t requests;
    uint64_t retries;
    uint64_t backend_rejected;        /* rejected_spans from the backend's partial success */
    uint64_t max_request_bytes;       /* learned request ceiling; 0 while none is known */
};

/* The disk spool of one destination, copied from export/spool.h by lane.c. */
struct stats_lane_spool {
    int enabled;
    int up;                           /* appends taken: recovered and the disk healthy */
    uint64_t bytes;
    uint64_t segments;
    uint64_t oldest_ms;               /* wall-clock ms of the oldest spooled record; 0: none */
    uint64_t disk_errors;             /* times the lane fell back to memory */
    uint64_t quarantined;             /* unreadable segments moved aside at start */
};

/* One gateway of a sharded destination: its lane's own counters. */
struct stats_gateway {
    const char *endpoint;             /* "address:port", as on the ring */
    int in_ring;                      /* routed to now */
    int leaving;                      /* left the fleet, still handing back or answering */
    const struct stats_destination *lane;
};

/* A sharded destination's fleet (DESIGN.md decision 13); written by shard.c only. */
struct stats_load_balance {
    const char *resolver;             /* "static" or "dns" */
    const struct stats_gateway *gateways;
    size_t gateway_count;
    uint64_t ring_changes;            /* rings built: joins, leaves, ejections, readmissions */
    uint64_t moved_spans;             /* handed back by a gateway and routed again */
    uint64_t ejections;               /* ejections and readmissions */
};

struct stats_destination {
    const char *name;
    struct stats_lane_spans spans;
    struct stats_lane_exporter exporter;
    struct stats_lane_spool spool;
    const struct stats_load_balance *load_balance; /* NULL: one endpoint */
};

#define STATS_HTTP_CODES 16 /* distinct status codes tracked per transport */

struct stats_code_count {
    int code;        /* HTTP status or gRPC status; 0 = slot unused */
    uint64_t count;
};

struct stats {
    uint64_t spans_received[STATS_TRANSPORT_COUNT];
    uint64_t spans_rejected[STATS_REJECT_COUNT];

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
};

extern struct stats stats;

/* Counts one finished request with its status code (HTTP status or gRPC status). */
void stats_count_request(enum stats_transport t, int code);

/* The right of destination d's accounting equation, and its left: what the receivers
 * took plus what this process found in d's spool at start. */
uint64_t stats_accounted(const struct stats_destination *d);
uint64_t stats_lane_received(const struct stats_destination *d);
uint64_t stats_received_total(void);
uint64_t stats_rejected_total(void);
uint64_t stats_export_failed_total(const struct stats_lane_spans *s);

const char *stats_reject_reason_name(enum stats_reject_reason r);
const char *stats_transport_name(enum stats_transport t);
const char *stats_sampler_rule_name(enum stats_sampler_rule r);
const char *stats_exporter_state_name(enum stats_exporter_state s);
const char *stats_fail_reason_name(enum stats_fail_reason r);

#endif
