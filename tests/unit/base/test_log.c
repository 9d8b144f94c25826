/* test_log.c — what operators read: JSON log lines (escaping, levels, fields), the
 * rate limiter's "suppressed" count, and the /metrics and /health texts. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/stats.h"
#include "unit.h"

static char *buf;
static size_t buflen;
static FILE *out;
static uint64_t fake_now;

static uint64_t fake_clock(void)
{
    return fake_now;
}

static void setup(void)
{
    out = open_memstream(&buf, &buflen);
    log_init(LOG_INFO, out);
    log_now_ms = fake_clock;
    fake_now = 1000;
    memset(&stats, 0, sizeof(stats));
}

static void teardown(void)
{
    fclose(out);
    free(buf);
    log_init(LOG_INFO, NULL);
}

/* The n-th line written so far (from 0), parsed. NULL when there is none. */
static json_object *line(int n)
{
    fflush(out);
    const char *p = buf;
    for (int i = 0; i < n && p; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p || !*p)
        return NULL;
    const char *end = strchr(p, '\n');
    ck_assert_ptr_nonnull(end);
    char *copy = strndup(p, (size_t)(end - p));
    json_object *doc = json_tokener_parse(copy);
    free(copy);
    /* check sends the text of even a passing assertion: keep it short. */
    if (!doc)
        ck_abort_msg("log line %d is not JSON", n);
    return doc;
}

static const char *str(json_object *doc, const char *key)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(doc, key, &v), "no %s", key);
    return json_object_get_string(v);
}

static int64_t num(json_object *doc, const char *key)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(doc, key, &v), "no %s", key);
    return json_object_get_int64(v);
}

START_TEST(test_line_has_the_standard_fields)
{
    log_write(LOG_WARNING, "otel.exporter", "export failed",
              (struct log_field[]){ LOG_STR("error", "UNAVAILABLE"), LOG_INT("spans", 42) }, 2);
    json_object *doc = line(0);
    ck_assert_str_eq(str(doc, "level"), "WARNING");
    ck_assert_str_eq(str(doc, "logger"), "otel.exporter");
    ck_assert_str_eq(str(doc, "msg"), "export failed");
    ck_assert_str_eq(str(doc, "error"), "UNAVAILABLE");
    ck_assert_int_eq(num(doc, "spans"), 42);
    const char *ts = str(doc, "ts");
    ck_assert_int_eq(strlen(ts), 24); /* 2026-11-24T23:19:39.123Z */
    ck_assert_int_eq(ts[23], 'Z');
    json_object_put(doc);
}
END_TEST

START_TEST(test_hostile_text_stays_one_valid_line)
{
    log_write(LOG_ERROR, "x", "quote \" backslash \\ newline \n tab \t bell \a",
              (struct log_field[]){ LOG_STR("k\"ey", "v\r\n{}") }, 1);
    json_object *doc = line(0);
    ck_assert_str_eq(str(doc, "msg"), "quote \" backslash \\ newline \n tab \t bell \a");
    ck_assert_str_eq(str(doc, "k\"ey"), "v\r\n{}");
    json_object_put(doc);
    ck_assert_ptr_null(line(1));
}
END_TEST

START_TEST(test_bytes_that_are_not_utf8_become_replacement_characters)
{
    /* A backend's message: an invalid byte, a truncated two-byte sequence at the end. */
    log_write(LOG_WARNING, "otel.exporter", "export failed",
              (struct log_field[]){ LOG_STR("error", "bad \xff byte, cut \xc3") }, 1);
    json_object *doc = line(0);
    ck_assert_str_eq(str(doc, "error"), "bad \xef\xbf\xbd byte, cut \xef\xbf\xbd");
    json_object_put(doc);
    snprintf(stats.exporter_last_error, sizeof(stats.exporter_last_error), "caf\xc3\xa9 \xff");
    size_t len;
    char *text = metrics_render_health(&len);
    json_object *health = json_tokener_parse(text);
    ck_assert_ptr_nonnull(health);
    json_object *exporter;
    ck_assert(json_object_object_get_ex(health, "exporter", &exporter));
    ck_assert_str_eq(str(exporter, "last_error"), "caf\xc3\xa9 \xef\xbf\xbd");
    json_object_put(health);
    free(text);
}
END_TEST

START_TEST(test_long_message_is_cut_not_split)
{
    char big[10000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_write(LOG_INFO, "x", big, NULL, 0);
    json_object *doc = line(0);
    ck_assert_ptr_nonnull(doc);
    json_object_put(doc);
    ck_assert_ptr_null(line(1));
}
END_TEST

START_TEST(test_levels_below_the_minimum_are_dropped)
{
    log_init(LOG_WARNING, out);
    log_write(LOG_DEBUG, "x", "debug", NULL, 0);
    log_write(LOG_INFO, "x", "info", NULL, 0);
    log_write(LOG_WARNING, "x", "warning", NULL, 0);
    json_object *doc = line(0);
    ck_assert_str_eq(str(doc, "msg"), "warning");
    json_object_put(doc);
    ck_assert_ptr_null(line(1));
    enum log_level l;
    ck_assert_int_eq(log_level_parse("warn", &l), 0);
    ck_assert_int_eq(l, LOG_WARNING);
    ck_assert_int_eq(log_level_parse("loud", &l), -1);
}
END_TEST

START_TEST(test_limiter_counts_what_it_suppressed)
{
    struct log_limiter lim = LOG_LIMITER_INIT(10000);
    ck_assert_int_eq(log_write_limited(&lim, LOG_WARNING, "x", "retry", NULL, 0), 1);
    for (int i = 0; i < 7; i++) {
        fake_now += 1000;
        ck_assert_int_eq(log_write_limited(&lim, LOG_WARNING, "x", "retry", NULL, 0), 0);
    }
    fake_now += 5000;
    ck_assert_int_eq(log_write_limited(&lim, LOG_WARNING, "x", "retry", NULL, 0), 1);
    json_object *first = line(0), *second = line(1);
    ck_assert(!json_object_object_get_ex(first, "suppressed", NULL));
    ck_assert_int_eq(num(second, "suppressed"), 7);
    json_object_put(first);
    json_object_put(second);
    ck_assert_ptr_null(line(2));
}
END_TEST

START_TEST(test_metrics_text_carries_every_term)
{
    stats.spans_received[STATS_TRANSPORT_GRPC] = 10;
    stats.spans_received[STATS_TRANSPORT_HTTP] = 5;
    stats.spans_rejected[STATS_REJECT_SPAN_ID] = 1;
    stats.spans_sampled_out = 2;
    stats.spans_dropped_overflow = 3;
    stats.spans_exported = 4;
    stats.spans_export_failed = 1;
    stats.spans_buffered = 3;
    stats.spans_in_flight = 1;
    stats_count_request(STATS_TRANSPORT_HTTP, 200);
    stats_count_request(STATS_TRANSPORT_HTTP, 200);
    stats_count_request(STATS_TRANSPORT_GRPC, 3);
    ck_assert_uint_eq(stats_received_total(), stats_accounted());
    size_t len;
    char *text = metrics_render_prometheus(&len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_ptr_nonnull(strstr(text, "spanrelay_spans_received_total{transport=\"grpc\"} 10\n"));
    ck_assert_ptr_nonnull(strstr(text, "spanrelay_spans_rejected_total{reason=\"invalid_span_id\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "spanrelay_spans_dropped_overflow_total 3\n"));
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
    stats.exporter_state = STATS_EXPORTER_BACKING_OFF;
    snprintf(stats.exporter_last_error, sizeof(stats.exporter_last_error),
             "connect to \"tempo\":4317 failed\n");
    stats.spans_received[STATS_TRANSPORT_GRPC] = 7;
    stats.spans_exported = 7;
    size_t len;
    char *text = metrics_render_health(&len);
    json_object *doc = json_tokener_parse(text);
    ck_assert_ptr_nonnull(doc);
    json_object *exporter, *spans;
    ck_assert(json_object_object_get_ex(doc, "exporter", &exporter));
    ck_assert_str_eq(str(exporter, "state"), "backing_off");
    ck_assert_str_eq(str(exporter, "last_error"), "connect to \"tempo\":4317 failed\n");
    ck_assert(json_object_object_get_ex(doc, "spans", &spans));
    ck_assert_int_eq(num(spans, "received"), 7);
    ck_assert_int_eq(num(spans, "exported"), 7);
    ck_assert_str_eq(str(doc, "status"), "ok");
    json_object_put(doc);
    free(text);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_line_has_the_standard_fields);
    tcase_add_test(tc, test_hostile_text_stays_one_valid_line);
    tcase_add_test(tc, test_long_message_is_cut_not_split);
    tcase_add_test(tc, test_bytes_that_are_not_utf8_become_replacement_characters);
    tcase_add_test(tc, test_levels_below_the_minimum_are_dropped);
    tcase_add_test(tc, test_limiter_counts_what_it_suppressed);
    tcase_add_test(tc, test_metrics_text_carries_every_term);
    tcase_add_test(tc, test_health_document_is_json_with_escaped_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(log_suite());
}
