/* metrics.c — Prometheus text and /health JSON from the counters in stats.h. */
#include "base/metrics.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/stats.h"
#include "base/utf8.h"

#ifndef SPANRELAY_VERSION
#define SPANRELAY_VERSION "0.0.0"
#endif

static struct timespec start_time;

struct text {
    char *buf;
    size_t len, cap;
    int failed;
};

static void text_printf(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *nb = realloc(t->buf, cap);
        if (!nb) {
            t->failed = 1;
            return;
        }
        t->buf = nb;
        t->cap = cap;
    }
}

static char *text_finish(struct text *t, size_t *len)
{
    if (t->failed) {
        free(t->buf);
        return NULL;
    }
    *len = t->len;
    return t->buf;
}

void metrics_set_start_time(void)
{
    clock_gettime(CLOCK_MONOTONIC, &start_time);
}

static double uptime_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start_time.tv_sec) +
           (double)(now.tv_nsec - start_time.tv_nsec) / 1e9;
}

static uint64_t resident_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void prom_header(struct text *t, const char *name, const char *type, const char *help)
{
    text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_value(struct text *t, const char *name, const char *type, const char *help,
                       uint64_t v)
{
    prom_header(t, name, type, help);
    text_printf(t, "%s %llu\n", name, (unsigned long long)v);
}

static void prom_requests(struct text *t)
{
    prom_header(t, "spanrelay_receiver_requests_total", "counter",
                "OTLP export requests answered, by transport and status code (HTTP status or gRPC status).");
    for (int tr = 0; tr < STATS_TRANSPORT_COUNT; tr++) {
        for (int i = 0; i < STATS_HTTP_CODES; i++) {
            const struct stats_code_count *c = &stats.requests[tr][i];
            if (c->count == 0)
                continue;
            text_printf(t, "spanrelay_receiver_requests_total{transport=\"%s\",code=\"%d\"} %llu\n",
                        stats_transport_name((enum stats_transport)tr), c->code,
                        (unsigned long long)c->count);
        }
    }
}

static void prom_by_rule(struct text *t, const char *name, const char *help,
                         const uint64_t v[STATS_RULE_COUNT])
{
    prom_header(t, name, "counter", help);
    for (int r = 0; r < STATS_RULE_COUNT; r++)
        text_printf(t, "%s{rule=\"%s\"} %llu\n", name,
                    stats_sampler_rule_name((enum stats_sampler_rule)r),
                    (unsigned long long)v[r]);
}

static void prom_sampler(struct text *t)
{
    prom_by_rule(t, "spanrelay_sampler_spans_kept_total",
                 "Valid spans the sampler kept, by the rule that decided (python or consistent).",
                 stats.sampler_kept);
    prom_by_rule(t, "spanrelay_sampler_spans_sampled_out_total",
                 "Valid spans the sampler did not keep, by the rule that decided.",
                 stats.sampler_sampled_out);
    prom_value(t, "spanrelay_sampler_th_erased_spans_total", "counter",
               "Spans whose tracestate th exceeded their randomness (inconsistent): th erased, "
               "the span decided as if it had none.",
               stats.sampler_th_erased);
    prom_value(t, "spanrelay_sampler_tracestate_unchanged_spans_total", "counter",
               "Kept spans whose tracestate was left as it was because writing th would have "
               "exceeded the W3C limits (512 characters, 32 members).",
               stats.sampler_tracestate_unchanged);
}

typedef uint64_t (*dest_value_fn)(const struct stats_destination *d);

/* One export-side series per destination. */
static void prom_dest(struct text *t, const char *name, const char *type, const char *help,
                      const struct stats_destination *const *dests, size_t n, dest_value_fn value)
{
    prom_header(t, name, type, help);
    for (size_t i = 0; i < n; i++)
        text_printf(t, "%s{destination=\"%s\"} %llu\n", name, dests[i]->name,
                    (unsigned long long)value(dests[i]));
}

static uint64_t v_sampled_out(const struct stats_destination *d) { return d->spans.sampled_out; }
static uint64_t v_overflow(const struct stats_destination *d) { return d->spans.dropped_overflow; }
static uint64_t v_exported(const struct stats_destination *d) { return d->spans.exported; }
static uint64_t v_buffered(const struct stats_destination *d) { return d->spans.buffered; }
static uint64_t v_in_flight(const struct stats_destination *d) { return d->spans.in_flight; }
static uint64_t v_spooled(const struct stats_destination *d) { return d->spans.spooled; }
static uint64_t v_spool_bytes(const struct stats_destination *d) { return d->spool.bytes; }
static uint64_t v_spool_segments(const struct stats_destination *d) { return d->spool.segments; }
static uint64_t v_spool_up(const struct stats_destination *d) { return (uint64_t)d->spool.up; }
static uint64_t v_spool_errors(const struct stats_destination *d) { return d->spool.disk_errors; }
static uint64_t v_spool_quarantined(const struct stats_destination *d)
{
    return d->spool.quarantined;
}

/* Seconds since the oldest spooled record was written (wall clock: it survives restarts). */
static uint64_t spool_age_seconds(const struct stats_destination *d)
{
    if (d->spool.oldest_ms == 0)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    return now > d->spool.oldest_ms ? (now - d->spool.oldest_ms) / 1000 : 0;
}
static uint64_t v_buffer_bytes(const struct stats_destination *d) { return d->spans.buffer_bytes; }
static uint64_t v_capacity(const struct stats_destination *d)
{
    return d->spans.buffer_capacity_bytes;
}
static uint64_t v_up(const struct stats_destination *d) { return (uint64_t)d->exporter.up; }
static uint64_t v_requests(const struct stats_destination *d) { return d->exporter.requests; }
static uint64_t v_retries(const struct stats_destination *d) { return d->exporter.retries; }
static uint64_t v_backend_rejected(const struct stats_destination *d)
{
    return d->exporter.backend_rejected;
}
static uint64_t v_max_request(const struct stats_destination *d)
{
    return d->exporter.max_request_bytes;
}

static void prom_export_failed(struct text *t, const struct stats_destination *const *dests,
                               size_t n)
{
    prom_header(t, "spanrelay_spans_export_failed_total", "counter",
                "Spans given up on, by destination and reason: refused (non-retryable answer), "
                "backend_rejected (partial success), retries_exhausted, shutdown, "
                "shutdown_in_flight (unanswered at the shutdown timeout: may have arrived), "
                "too_large, disabled, out_of_memory, spool_unreadable.");
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < STATS_FAIL_COUNT; r++)
            text_printf(t, "spanrelay_spans_export_failed_total{destination=\"%s\",reason=\"%s\"} "
                        "%llu\n", dests[i]->name,
                        stats_fail_reason_name((enum stats_fail_reason)r),
                        (unsigned long long)dests[i]->spans.export_failed[r]);
}

static void prom_receive(struct text *t, const struct stats_destination *const *dests, size_t n)
{
    prom_header(t, "spanrelay_spans_received_total", "counter",
                "Spans in export requests that parsed, by transport; transport=\"spool\": "
                "spans an earlier process left in a destination's spool, received by this one "
                "for that destination only.");
    for (int tr = 0; tr < STATS_TRANSPORT_COUNT; tr++)
        text_printf(t, "spanrelay_spans_received_total{transport=\"%s\"} %llu\n",
                    stats_transport_name((enum stats_transport)tr),
                    (unsigned long long)stats.spans_received[tr]);
    for (size_t i = 0; i < n; i++)
        if (dests[i]->spool.enabled)
            text_printf(t, "spanrelay_spans_received_total{transport=\"spool\","
                           "destination=\"%s\"} %llu\n",
                        dests[i]->name, (unsigned long long)dests[i]->spans.received_spool);
    prom_header(t, "spanrelay_spans_rejected_total", "counter",
                "Spans refused as invalid, by reason.");
    for (int r = 0; r < STATS_REJECT_COUNT; r++)
        text_printf(t, "spanrelay_spans_rejected_total{reason=\"%s\"} %llu\n",
                    stats_reject_reason_name((enum stats_reject_reason)r),
                    (unsigned long long)stats.spans_rejected[r]);
}

static void prom_export(struct text *t, const struct stats_destination *const *d, size_t n)
{
    prom_dest(t, "spanrelay_spans_sampled_out_total", "counter",
              "Spans the destination's sampling did not keep.", d, n, v_sampled_out);
    prom_dest(t, "spanrelay_spans_dropped_overflow_total", "counter",
              "Kept spans dropped because the destination's buffer was full.", d, n, v_overflow);
    prom_dest(t, "spanrelay_spans_exported_total", "counter", "Spans the backend accepted.", d,
              n, v_exported);
    prom_export_failed(t, d, n);
    prom_dest(t, "spanrelay_spans_buffered", "gauge", "Spans in the buffer now.", d, n,
              v_buffered);
    prom_dest(t, "spanrelay_spans_in_flight", "gauge",
              "Spans in export requests awaiting an answer.", d, n, v_in_flight);
    prom_dest(t, "spanrelay_spans_spooled", "gauge",
              "Spans in the destination's disk spool now.", d, n, v_spooled);
    prom_dest(t, "spanrelay_spool_bytes", "gauge",
              "Bytes of the destination's spool: segment files and the write queue.", d, n,
              v_spool_bytes);
    prom_dest(t, "spanrelay_spool_segments", "gauge", "Segment files of the spool.", d, n,
              v_spool_segments);
    prom_dest(t, "spanrelay_spool_oldest_record_age_seconds", "gauge",
              "Age of the oldest record in the spool (0: empty).", d, n, spool_age_seconds);
    prom_dest(t, "spanrelay_spool_up", "gauge",
              "1 while the spool takes records, 0 while it is off or the disk failed.", d, n,
              v_spool_up);
    prom_dest(t, "spanrelay_spool_disk_errors_total", "counter",
              "Times the destination fell back to memory because of its disk.", d, n,
              v_spool_errors);
    prom_dest(t, "spanrelay_spool_segments_quarantined_total", "counter",
              "Unreadable segments moved aside at start.", d, n, v_spool_quarantined);
    prom_dest(t, "spanrelay_buffer_bytes", "gauge", "Bytes in the buffer now.", d, n,
              v_buffer_bytes);
    prom_dest(t, "spanrelay_buffer_capacity_bytes", "gauge", "The buffer's bound in bytes.", d,
              n, v_capacity);
    prom_dest(t, "spanrelay_exporter_up", "gauge",
              "1 while the backend accepts exports, 0 otherwise.", d, n, v_up);
    prom_dest(t, "spanrelay_exporter_requests_total", "counter",
              "Export requests sent to the backend.", d, n, v_requests);
    prom_dest(t, "spanrelay_exporter_retries_total", "counter",
              "Export requests retried after a retryable failure.", d, n, v_retries);
    prom_dest(t, "spanrelay_exporter_backend_rejected_spans_total", "counter",
              "Spans the backend reported as rejected in a partial success.", d, n,
              v_backend_rejected);
    prom_dest(t, "spanrelay_exporter_max_request_bytes", "gauge",
              "The request size the backend was found to accept (0: no limit found).", d, n,
              v_max_request);
}

static void header_in_ring(struct text *t, const struct stats_destination *const *dests,
                           size_t n)
{
    prom_header(t, "spanrelay_gateway_in_ring", "gauge",
                "1 while the gateway is in the ring (routed to), 0 while ejected or leaving.");
    for (size_t i = 0; i < n; i++) {
        const struct stats_load_balance *lb = dests[i]->load_balance;
        for (size_t g = 0; lb && g < lb->gateway_count; g++)
            text_printf(t, "spanrelay_gateway_in_ring{destination=\"%s\",endpoint=\"%s\"} %d\n",
                        dests[i]->name, lb->gateways[g].endpoint, lb->gateways[g].in_ring);
    }
}

static int any_sharded(const struct stats_destination *const *dests, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (dests[i]->load_balance)
            return 1;
    return 0;
}

/* One series per gateway of every sharded destination, from the gateway's lane. */
static void prom_gateway(struct text *t, const char *name, const char *type, const char *help,
                         const struct stats_destination *const *dests, size_t n,
                         dest_value_fn value)
{
    prom_header(t, name, type, help);
    for (size_t i = 0; i < n; i++) {
        const struct stats_load_balance *lb = dests[i]->load_balance;
        for (size_t g = 0; lb && g < lb->gateway_count; g++)
            text_printf(t, "%s{destination=\"%s\",endpoint=\"%s\"} %llu\n", name,
                        dests[i]->name, lb->gateways[g].endpoint,
                        (unsigned long long)value(lb->gateways[g].lane));
    }
}

typedef uint64_t (*fleet_value_fn)(const struct stats_load_balance *lb);

static void prom_fleet(struct text *t, const char *name, const char *type, const char *help,
                       const struct stats_destination *const *dests, size_t n,
                       fleet_value_fn value)
{
    prom_header(t, name, type, help);
    for (size_t i = 0; i < n; i++)
        if (dests[i]->load_balance)
            text_printf(t, "%s{destination=\"%s\"} %llu\n", name, dests[i]->name,
                        (unsigned long long)value(dests[i]->load_balance));
}

static uint64_t v_failed(const struct stats_destination *d)
{
    return stats_export_failed_total(&d->spans);
}
static uint64_t v_ring_changes(const struct stats_load_balance *lb) { return lb->ring_changes; }
static uint64_t v_moved(const struct stats_load_balance *lb) { return lb->moved_spans; }
static uint64_t v_ejections(const struct stats_load_balance *lb) { return lb->ejections; }
static uint64_t v_gateways(const struct stats_load_balance *lb) { return lb->gateway_count; }

/* The fleets of sharded destinations (DESIGN.md decision 13): a gateway's series carry
 * its endpoint beside the destination's name; the destination's own series above are
 * the fleet's totals. */
static void prom_fleets(struct text *t, const struct stats_destination *const *d, size_t n)
{
    if (!any_sharded(d, n))
        return;
    header_in_ring(t, d, n);
    prom_gateway(t, "spanrelay_gateway_spans_exported_total", "counter",
                 "Spans this gateway accepted.", d, n, v_exported);
    prom_gateway(t, "spanrelay_gateway_spans_export_failed_total", "counter",
                 "Spans given up on at this gateway, every reason.", d, n, v_failed);
    prom_gateway(t, "spanrelay_gateway_spans_dropped_overflow_total", "counter",
                 "Spans dropped because this gateway's buffer was full.", d, n, v_overflow);
    prom_gateway(t, "spanrelay_gateway_spans_buffered", "gauge",
                 "Spans in this gateway's buffer now.", d, n, v_buffered);
    prom_gateway(t, "spanrelay_gateway_spans_in_flight", "gauge",
                 "Spans in requests to this gateway awaiting an answer.", d, n, v_in_flight);
    prom_gateway(t, "spanrelay_gateway_up", "gauge",
                 "1 while this gateway accepts exports, 0 otherwise.", d, n, v_up);
    prom_fleet(t, "spanrelay_gateway_members", "gauge",
               "Gateways the destination has a lane for (in the ring, ejected or leaving).",
               d, n, v_gateways);
    prom_fleet(t, "spanrelay_gateway_ring_changes_total", "counter",
               "Times the ring was rebuilt: gateways joined, left, ejected, readmitted.", d, n,
               v_ring_changes);
    prom_fleet(t, "spanrelay_gateway_ejections_total", "counter",
               "Ejections of unreachable gateways and their readmissions.", d, n, v_ejections);
    prom_fleet(t, "spanrelay_gateway_moved_spans_total", "counter",
               "Spans a leaving or ejected gateway handed back, routed again over the ring.",
               d, n, v_moved);
}

char *metrics_render_prometheus(const struct stats_destination *const *dests, size_t n,
                                size_t *len)
{
    struct text t = { 0 };
    prom_receive(&t, dests, n);
    prom_export(&t, dests, n);
    prom_fleets(&t, dests, n);
    prom_sampler(&t);
    prom_requests(&t);
    prom_value(&t, "spanrelay_receiver_connections", "gauge", "Open receiver connections.",
               stats.connections_open);
    prom_value(&t, "spanrelay_receiver_connections_accepted_total", "counter",
               "Receiver connections accepted.", stats.connections_accepted);
    prom_value(&t, "spanrelay_receiver_connections_refused_total", "counter",
               "Receiver connections refused over receiver.maxConnections.",
               stats.connections_refused);
    prom_value(&t, "spanrelay_log_lines_dropped_total", "counter",
               "Log lines dropped because stderr did not keep up.", log_lines_dropped());
    prom_header(&t, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    text_printf(&t, "process_resident_memory_bytes %llu\n", (unsigned long long)resident_bytes());
    prom_header(&t, "process_cpu_seconds_total", "counter", "User and system CPU time in seconds.");
    text_printf(&t, "process_cpu_seconds_total %.6f\n", cpu_seconds());
    prom_header(&t, "spanrelay_build_info", "gauge", "Always 1; the version is a label.");
    text_printf(&t, "spanrelay_build_info{version=\"%s\"} 1\n", SPANRELAY_VERSION);
    return text_finish(&t, len);
}

/* Appends s as a JSON string; the exporter's last error is the only free text here,
 * and it may carry a backend's bytes: what is not UTF-8 becomes U+FFFD. */
static void json_string(struct text *t, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    text_printf(t, "\"");
    while (left > 0) {
        size_t step = 1;
        if (*p == '"' || *p == '\\') {
            text_printf(t, "\\%c", *p);
        } else if (*p < 0x20) {
            text_printf(t, "\\u%04x", *p);
        } else if (*p < 0x80) {
            text_printf(t, "%c", *p);
        } else if ((step = utf8_sequence(p, left)) == 0) {
            text_printf(t, "\\ufffd");
            step = 1;
        } else {
            text_printf(t, "%.*s", (int)step, (const char *)p);
        }
        p += step;
        left -= step;
    }
    text_printf(t, "\"");
}

/* "exporter":{...},"buffer":{...},"spans":{...} of one destination. */
static void health_dest_body(struct text *t, const struct stats_destination *d)
{
    const struct stats_lane_spans *s = &d->spans;
    text_printf(t, "\"exporter\":{\"state\":\"%s\",\"up\":%d,\"last_error\":",
                stats_exporter_state_name(d->exporter.state), d->exporter.up);
    if (d->exporter.last_error[0])
        json_string(t, d->exporter.last_error);
    else
        text_printf(t, "null");
    text_printf(t, ",\"max_request_bytes\":%llu},",
                (unsigned long long)d->exporter.max_request_bytes);
    text_printf(t, "\"buffer\":{\"bytes\":%llu,\"capacity_bytes\":%llu},",
                (unsigned long long)s->buffer_bytes,
                (unsigned long long)s->buffer_capacity_bytes);
    if (d->spool.enabled)
        text_printf(t, "\"spool\":{\"up\":%d,\"bytes\":%llu,\"segments\":%llu,"
                       "\"oldest_record_age_seconds\":%llu,\"disk_errors\":%llu,"
                       "\"quarantined\":%llu,\"received\":%llu},",
                    d->spool.up, (unsigned long long)d->spool.bytes,
                    (unsigned long long)d->spool.segments,
                    (unsigned long long)spool_age_seconds(d),
                    (unsigned long long)d->spool.disk_errors,
                    (unsigned long long)d->spool.quarantined,
                    (unsigned long long)s->received_spool);
    text_printf(t,
                "\"spans\":{\"received\":%llu,\"rejected_invalid\":%llu,\"sampled_out\":%llu,"
                "\"dropped_overflow\":%llu,\"exported\":%llu,\"export_failed\":%llu,"
                "\"spooled\":%llu,\"buffered\":%llu,\"in_flight\":%llu},"
                "\"export_failed_by_reason\":{",
                (unsigned long long)stats_lane_received(d),
                (unsigned long long)stats_rejected_total(), (unsigned long long)s->sampled_out,
                (unsigned long long)s->dropped_overflow, (unsigned long long)s->exported,
                (unsigned long long)stats_export_failed_total(s),
                (unsigned long long)s->spooled, (unsigned long long)s->buffered,
                (unsigned long long)s->in_flight);
    for (int r = 0; r < STATS_FAIL_COUNT; r++)
        text_printf(t, "%s\"%s\":%llu", r ? "," : "",
                    stats_fail_reason_name((enum stats_fail_reason)r),
                    (unsigned long long)s->export_failed[r]);
    text_printf(t, "}");
}

/* ,"load_balance":{...} of a sharded destination: the ring in use and every gateway. */
static void health_fleet(struct text *t, const struct stats_load_balance *lb)
{
    text_printf(t, ",\"load_balance\":{\"resolver\":\"%s\",\"ring\":[", lb->resolver);
    int first = 1;
    for (size_t g = 0; g < lb->gateway_count; g++) {
        if (!lb->gateways[g].in_ring)
            continue;
        text_printf(t, "%s", first ? "" : ",");
        json_string(t, lb->gateways[g].endpoint);
        first = 0;
    }
    text_printf(t, "],\"ring_changes\":%llu,\"ejections\":%llu,\"moved_spans\":%llu,"
                   "\"endpoints\":[",
                (unsigned long long)lb->ring_changes, (unsigned long long)lb->ejections,
                (unsigned long long)lb->moved_spans);
    for (size_t g = 0; g < lb->gateway_count; g++) {
        const struct stats_gateway *gw = &lb->gateways[g];
        const struct stats_destination *d = gw->lane;
        text_printf(t, "%s{\"endpoint\":", g ? "," : "");
        json_string(t, gw->endpoint);
        text_printf(t, ",\"in_ring\":%s,\"leaving\":%s,\"state\":\"%s\",\"buffered\":%llu,"
                       "\"in_flight\":%llu,\"exported\":%llu,\"export_failed\":%llu,"
                       "\"dropped_overflow\":%llu,\"last_error\":",
                    gw->in_ring ? "true" : "false", gw->leaving ? "true" : "false",
                    stats_exporter_state_name(d->exporter.state),
                    (unsigned long long)d->spans.buffered, (unsigned long long)d->spans.in_flight,
                    (unsigned long long)d->spans.exported,
                    (unsigned long long)stats_export_failed_total(&d->spans),
                    (unsigned long long)d->spans.dropped_overflow);
        if (d->exporter.last_error[0])
            json_string(t, d->exporter.last_error);
        else
            text_printf(t, "null");
        text_printf(t, "}");
    }
    text_printf(t, "]}");
}

char *metrics_render_health(const struct stats_destination *const *dests, size_t n, size_t *len)
{
    struct text t = { 0 };
    text_printf(&t, "{\"status\":\"ok\",\"version\":\"%s\",\"uptime_seconds\":%.3f,",
                SPANRELAY_VERSION, uptime_seconds());
    if (n > 0) {
        health_dest_body(&t, dests[0]);
        text_printf(&t, ",");
    }
    text_printf(&t, "\"destinations\":[");
    for (size_t i = 0; i < n; i++) {
        text_printf(&t, "%s{\"name\":", i ? "," : "");
        json_string(&t, dests[i]->name);
        text_printf(&t, ",");
        health_dest_body(&t, dests[i]);
        if (dests[i]->load_balance)
            health_fleet(&t, dests[i]->load_balance);
        text_printf(&t, "}");
    }
    text_printf(&t, "]}\n");
    return text_finish(&t, len);
}
