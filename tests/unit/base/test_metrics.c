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
    tcase_add_test(tc, test_metrics_counts_dropped_log_lines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(metrics_suite());
}
