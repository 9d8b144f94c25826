/* test_metrics.c — the /metrics and /health texts operators and scrapers read: every
 * term of the accounting equation per destination, reasons, states and errors escaped. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/stats.h"
#include "unit.h"
#include "unit_json.h"

static void setup(void)
{
    memset(&stats, 0, sizeof(stats));
}

START_TEST(test_metrics_text_carries_every_term)
{
    stats.spans_received[STATS_TRANSPORT_GRPC] = 10;
    stats.spans_received[STATS_TRANSPORT_HTTP] = 5;
    stats.spans_rejected[STATS_REJECT_SPAN_ID] = 1;
    struct stats_destination primary = { .name = "primary" }, vendor = { .name = "vendor" };
    primary.spans.sampled_out = 2;
    primary.spans.dropped_overflow = 3;
    primary.spans.exported = 4;
    primary.spans.export_failed[STATS_FAIL_SHUTDOWN_IN_FLIGHT] = 1;
    primary.spans.buffered = 3;
    primary.spans.in_flight = 1;
    vendor.spans.sampled_out = 13;
    vendor.spans.exported = 1;
    stats_count_request(STATS_TRANSPORT_HTTP, 200);
    stats_count_request(STATS_TRANSPORT_HTTP, 200);
    stats_count_request(STATS_TRANSPORT_GRPC, 3);
    ck_assert_uint_eq(stats_lane_received(&primary), stats_accounted(&primary));
    ck_assert_uint_eq(stats_lane_received(&vendor), stats_accounted(&vendor));
    const struct stats_destination *dests[] = { &primary, &vendor };
    size_t len;
    char *text = metrics_render_prometheus(dests, 2, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_ptr_nonnull(strstr(text, "spanrelay_spans_received_total{transport=\"grpc\"} 10\n"));
    ck_assert_ptr_nonnull(strstr(text, "spanrelay_spans_rejected_total{reason=\"invalid_span_id\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text,
        "spanrelay_spans_dropped_overflow_total{destination=\"primary\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(text,
        "spanrelay_spans_sampled_out_total{destination=\"vendor\"} 13\n"));
    ck_assert_ptr_nonnull(strstr(text, "spanrelay_spans_export_failed_total{destination=\"primary\","
                                       "reason=\"shutdown_in_flight\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text,
        "spanrelay_receiver_requests_total{transport=\"http\",code=\"200\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text,
        "spanrelay_receiver_requests_total{transport=\"grpc\",code=\"3\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE spanrelay_spans_buffered gauge\n"));
    free(text);
}
END_TEST

START_TEST(test_health_document_is_json_with_escaped_error)
{
    struct stats_destination primary = { .name = "primary" }, vendor = { .name = "vendor" };
    primary.exporter.state = STATS_EXPORTER_BACKING_OFF;
    snprintf(primary.exporter.last_error, sizeof(primary.exporter.last_error),
             "connect to \"tempo\":4317 failed\n");
    vendor.exporter.state = STATS_EXPORTER_FAILING;
    stats.spans_received[STATS_TRANSPORT_GRPC] = 7;
    primary.spans.exported = 7;
    vendor.spans.export_failed[STATS_FAIL_TOO_LARGE] = 7;
    const struct stats_destination *dests[] = { &primary, &vendor };
    size_t len;
    char *text = metrics_render_health(dests, 2, &len);
    json_object *doc = json_tokener_parse(text);
    ck_assert_ptr_nonnull(doc);
    json_object *exporter, *spans;
    ck_assert(json_object_object_get_ex(doc, "exporter", &exporter));
    ck_assert_str_eq(unit_json_str(exporter, "state"), "backing_off");
    ck_assert_str_eq(unit_json_str(exporter, "last_error"), "connect to \"tempo\":4317 failed\n");
    ck_assert(json_object_object_get_ex(doc, "spans", &spans));
    ck_assert_int_eq(unit_json_int(spans, "received"), 7);
    ck_assert_int_eq(unit_json_int(spans, "exported"), 7);
    ck_assert_str_eq(unit_json_str(doc, "status"), "ok");
    json_object *list, *second, *by_reason;
    ck_assert(json_object_object_get_ex(doc, "destinations", &list));
    ck_assert_int_eq(json_object_array_length(list), 2);
    second = json_object_array_get_idx(list, 1);
    ck_assert_str_eq(unit_json_str(second, "name"), "vendor");
    ck_assert(json_object_object_get_ex(second, "exporter", &exporter));
    ck_assert_str_eq(unit_json_str(exporter, "state"), "failing");
    ck_assert(json_object_object_get_ex(second, "spans", &spans));
    ck_assert_int_eq(unit_json_int(spans, "export_failed"), 7);
    ck_assert(json_object_object_get_ex(second, "export_failed_by_reason", &by_reason));
    ck_assert_int_eq(unit_json_int(by_reason, "too_large"), 7);
    json_object_put(doc);
    free(text);
}
END_TEST

/* A sharded destination: its totals as any destination's, each gateway under the
 * destination's name and its endpoint, and on /health the ring in use and every
 * gateway (an ejected one out of the ring, a leaving one marked). */
START_TEST(test_fleet_per_gateway_series_and_health)
{
    struct stats_destination gw[3] = { { .name = "primary" }, { .name = "primary" },
                                       { .name = "primary" } };
    gw[0].spans.exported = 5;
    gw[0].exporter.state = STATS_EXPORTER_READY;
    gw[0].exporter.up = 1;
    gw[1].spans.buffered = 2;
    gw[1].spans.in_flight = 1;
    gw[1].exporter.state = STATS_EXPORTER_BACKING_OFF;
    snprintf(gw[1].exporter.last_error, sizeof(gw[1].exporter.last_error), "refused");
    gw[2].spans.in_flight = 4;
    const struct stats_gateway gateways[] = {
        { .endpoint = "10.0.0.1:4317", .in_ring = 1, .lane = &gw[0] },
        { .endpoint = "10.0.0.2:4317", .in_ring = 0, .lane = &gw[1] },
        { .endpoint = "10.0.0.3:4317", .in_ring = 0, .leaving = 1, .lane = &gw[2] },
    };
    const struct stats_load_balance lb = { .resolver = "dns", .gateways = gateways,
                                           .gateway_count = 3, .ring_changes = 4,
                                           .moved_spans = 9, .ejections = 1 };
    struct stats_destination fleet = { .name = "primary", .load_balance = &lb };
    fleet.spans.exported = 5;
    fleet.spans.buffered = 2;
    fleet.spans.in_flight = 5;
    struct stats_destination vendor = { .name = "vendor" };
    const struct stats_destination *dests[] = { &fleet, &vendor };
    size_t len;
    char *text = metrics_render_prometheus(dests, 2, &len);
    ck_assert_ptr_nonnull(text);
    static const char *const want[] = {
        "spanrelay_spans_exported_total{destination=\"primary\"} 5\n",
        "spanrelay_gateway_in_ring{destination=\"primary\",endpoint=\"10.0.0.2:4317\"} 0\n",
        "spanrelay_gateway_spans_exported_total{destination=\"primary\","
        "endpoint=\"10.0.0.1:4317\"} 5\n",
        "spanrelay_gateway_spans_buffered{destination=\"primary\",endpoint=\"10.0.0.2:4317\"} 2\n",
        "spanrelay_gateway_spans_in_flight{destination=\"primary\",endpoint=\"10.0.0.3:4317\"} 4\n",
        "spanrelay_gateway_up{destination=\"primary\",endpoint=\"10.0.0.1:4317\"} 1\n",
        "spanrelay_gateway_members{destination=\"primary\"} 3\n",
        "spanrelay_gateway_ring_changes_total{destination=\"primary\"} 4\n",
        "spanrelay_gateway_ejections_total{destination=\"primary\"} 1\n",
        "spanrelay_gateway_moved_spans_total{destination=\"primary\"} 9\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(text, want[i]) != NULL, "missing %s", want[i]);
    ck_assert_ptr_null(strstr(text, "destination=\"vendor\",endpoint="));
    free(text);

    text = metrics_render_health(dests, 2, &len);
    json_object *doc = json_tokener_parse(text);
    ck_assert_ptr_nonnull(doc);
    json_object *list, *first, *lbj, *ring, *eps, *ep;
    ck_assert(json_object_object_get_ex(doc, "destinations", &list));
    first = json_object_array_get_idx(list, 0);
    ck_assert(json_object_object_get_ex(first, "load_balance", &lbj));
    ck_assert_str_eq(unit_json_str(lbj, "resolver"), "dns");
    ck_assert_int_eq(unit_json_int(lbj, "moved_spans"), 9);
    ck_assert(json_object_object_get_ex(lbj, "ring", &ring));
    ck_assert_int_eq(json_object_array_length(ring), 1);
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(ring, 0)),
                     "10.0.0.1:4317");
    ck_assert(json_object_object_get_ex(lbj, "endpoints", &eps));
    ck_assert_int_eq(json_object_array_length(eps), 3);
    ep = json_object_array_get_idx(eps, 1);
    ck_assert_str_eq(unit_json_str(ep, "endpoint"), "10.0.0.2:4317");
    ck_assert_str_eq(unit_json_str(ep, "in_ring"), "false");
    ck_assert_str_eq(unit_json_str(ep, "state"), "backing_off");
    ck_assert_int_eq(unit_json_int(ep, "buffered"), 2);
    ck_assert_int_eq(unit_json_int(ep, "in_flight"), 1);
    ck_assert_str_eq(unit_json_str(ep, "last_error"), "refused");
    ck_assert_str_eq(unit_json_str(json_object_array_get_idx(eps, 2), "leaving"), "true");
    ck_assert(!json_object_object_get_ex(json_object_array_get_idx(list, 1), "load_balance",
                                         &lbj));
    json_object_put(doc);
    free(text);
}
END_TEST

START_TEST(test_metrics_counts_dropped_log_lines)
{
    size_t len;
    char *text = metrics_render_prometheus(NULL, 0, &len);
    char want[96];
    snprintf(want, sizeof(want), "\nspanrelay_log_lines_dropped_total %llu\n",
             (unsigned long long)log_lines_dropped());
    ck_assert_ptr_nonnull(strstr(text, want));
    free(text);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_metrics_text_carries_every_term);
    tcase_add_test(tc, test_health_document_is_json_with_escaped_error);
    tcase_add_test(tc, test_fleet_per_gateway_series_and_health);
    tcase_add_test(tc, test_metrics_counts_dropped_log_lines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(metrics_suite());
}
