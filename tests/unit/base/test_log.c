/* test_log.c — what operators read in the log: JSON lines (escaping, levels, fields),
 * the rate limiter's "suppressed" count, and the queue that keeps a stalled stderr from
 * stalling the loop. */
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/stats.h"
#include "unit.h"
#include "unit_json.h"

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

START_TEST(test_line_has_the_standard_fields)
{
    log_write(LOG_WARNING, "otel.exporter", "export failed",
              (struct log_field[]){ LOG_STR("error", "UNAVAILABLE"), LOG_INT("spans", 42) }, 2);
    json_object *doc = line(0);
    ck_assert_str_eq(unit_json_str(doc, "level"), "WARNING");
    ck_assert_str_eq(unit_json_str(doc, "logger"), "otel.exporter");
    ck_assert_str_eq(unit_json_str(doc, "msg"), "export failed");
    ck_assert_str_eq(unit_json_str(doc, "error"), "UNAVAILABLE");
    ck_assert_int_eq(unit_json_int(doc, "spans"), 42);
    const char *ts = unit_json_str(doc, "ts");
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
    ck_assert_str_eq(unit_json_str(doc, "msg"), "quote \" backslash \\ newline \n tab \t bell \a");
    ck_assert_str_eq(unit_json_str(doc, "k\"ey"), "v\r\n{}");
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
    ck_assert_str_eq(unit_json_str(doc, "error"), "bad \xef\xbf\xbd byte, cut \xef\xbf\xbd");
    json_object_put(doc);
    struct stats_destination dest = { .name = "primary" };
    const struct stats_destination *dests[] = { &dest };
    snprintf(dest.exporter.last_error, sizeof(dest.exporter.last_error), "caf\xc3\xa9 \xff");
    size_t len;
    char *text = metrics_render_health(dests, 1, &len);
    json_object *health = json_tokener_parse(text);
    ck_assert_ptr_nonnull(health);
    json_object *exporter;
    ck_assert(json_object_object_get_ex(health, "exporter", &exporter));
    ck_assert_str_eq(unit_json_str(exporter, "last_error"), "caf\xc3\xa9 \xef\xbf\xbd");
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
    ck_assert_str_eq(unit_json_str(doc, "msg"), "warning");
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
    ck_assert_int_eq(unit_json_int(second, "suppressed"), 7);
    json_object_put(first);
    json_object_put(second);
    ck_assert_ptr_null(line(2));
}
END_TEST

/* ---- the queue: a pipe stands for stderr, a thread for the collector reading it ---- */

struct reader {
    int fd;
    pthread_t thread;
    char *text;
    size_t len;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    FILE *f = open_memstream(&r->text, &r->len);
    char chunk[65536];
    ssize_t n;
    while ((n = read(r->fd, chunk, sizeof(chunk))) > 0)
        fwrite(chunk, 1, (size_t)n, f);
    fclose(f);
    return NULL;
}

static void reader_start(struct reader *r, int fd)
{
    r->fd = fd;
    ck_assert_int_eq(pthread_create(&r->thread, NULL, reader_main, r), 0);
}

/* After the write end is closed: everything that was written. */
static void reader_finish(struct reader *r)
{
    ck_assert_int_eq(pthread_join(r->thread, NULL), 0);
    close(r->fd);
}

struct tally {
    long lines;        /* lines of the test, in order */
    long notices;      /* "lines dropped" lines */
    long dropped;      /* sum of their "dropped" */
};

/* Every line must be whole JSON; the test's own lines carry "n" counting up from 0
 * with gaps only where lines were dropped. */
static struct tally tally(const char *text, size_t len)
{
    struct tally t = { 0, 0, 0 };
    long last = -1;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        ck_assert_msg(nl != NULL, "output ends inside a line");
        char *copy = strndup(p, (size_t)(nl - p));
        json_object *doc = json_tokener_parse(copy);
        free(copy);
        if (!doc)
            ck_abort_msg("a line is not JSON");
        json_object *v;
        if (json_object_object_get_ex(doc, "dropped", &v)) {
            ck_assert_str_eq(unit_json_str(doc, "logger"), "spanrelay.log");
            ck_assert_str_eq(unit_json_str(doc, "level"), "WARNING");
            t.notices++;
            t.dropped += json_object_get_int64(v);
        } else {
            long n = (long)unit_json_int(doc, "n");
            ck_assert_msg(n > last, "line %ld after %ld", n, last);
            last = n;
            t.lines++;
        }
        json_object_put(doc);
        p = nl + 1;
    }
    return t;
}

static void log_numbered(long n, const char *padding)
{
    log_write(LOG_INFO, "spanrelay.test", "numbered line",
              (struct log_field[]){ LOG_INT("n", n), LOG_STR("padding", padding) }, 2);
}

START_TEST(test_queue_keeps_lines_whole_and_in_order)
{
    int fds[2];
    struct reader r;
    /* All of it fits the queue (about 150 KB), so nothing may be dropped. */
    char pad[100], wide[1100];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    memset(wide, 'w', sizeof(wide) - 1);
    wide[sizeof(wide) - 1] = '\0';
    uint64_t dropped = log_lines_dropped();
    ck_assert_int_eq(pipe(fds), 0);
    reader_start(&r, fds[0]);
    ck_assert_int_eq(log_queue_start(fds[1]), 0);
    for (long i = 0; i < 500; i++) {
        if (i % 100 == 50) {
            /* Longer than PIPE_BUF: it goes out in one piece of its own. */
            struct log_field f[12];
            const char *value = wide;
            f[0] = LOG_INT("n", i);
            for (int k = 1; k < 12; k++)
                f[k] = LOG_STR("wide", value);
            log_write(LOG_INFO, "spanrelay.test", "wide line", f, 12);
        } else {
            log_numbered(i, pad);
        }
    }
    ck_assert_int_eq(log_queue_stop(10000), 0);
    close(fds[1]);
    reader_finish(&r);
    struct tally t = tally(r.text, r.len);
    ck_assert_int_eq(t.lines, 500);
    ck_assert_int_eq(t.notices, 0);
    ck_assert_uint_eq(log_lines_dropped(), dropped);
    free(r.text);
}
END_TEST

/* A collector that stops reading: logging goes on without waiting, what does not fit
 * is counted, and once reading resumes one line says how many were lost. Every line
 * is either delivered or counted. */
START_TEST(test_stalled_reader_costs_lines_not_time)
{
    int fds[2];
    struct reader r;
    char pad[300];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    uint64_t before = log_lines_dropped();
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(log_queue_start(fds[1]), 0);
    const long total = 5000; /* ~2 MB: far more than the pipe and the queue hold */
    for (long i = 0; i < total; i++)
        log_numbered(i, pad);
    uint64_t dropped = log_lines_dropped() - before;
    ck_assert_uint_gt(dropped, 0);
    reader_start(&r, fds[0]);
    ck_assert_int_eq(log_queue_stop(10000), 0);
    close(fds[1]);
    reader_finish(&r);
    struct tally t = tally(r.text, r.len);
    ck_assert_int_ge(t.notices, 1);
    ck_assert_int_eq(t.dropped, (long)dropped);
    ck_assert_int_eq(t.lines + t.dropped, total);
    free(r.text);
}
END_TEST

/* Exit does not wait forever on a stuck collector; lines after that are counted. */
START_TEST(test_stop_gives_up_on_a_stuck_fd)
{
    int fds[2];
    char pad[300];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(log_queue_start(fds[1]), 0);
    for (long i = 0; i < 2000; i++)
        log_numbered(i, pad);
    ck_assert_int_eq(log_queue_stop(50), -1);
    uint64_t before = log_lines_dropped();
    log_numbered(2000, pad);
    ck_assert_uint_eq(log_lines_dropped(), before + 1);
    /* The collector goes away: the writer's write fails, what it held is counted, and
     * the writer ends. */
    close(fds[0]);
    ck_assert_int_eq(log_queue_stop(10000), 0);
    ck_assert_uint_gt(log_lines_dropped(), before + 1);
    close(fds[1]);
    /* Back to writing at once. */
    log_write(LOG_INFO, "x", "after the queue", NULL, 0);
    json_object *doc = line(0);
    ck_assert_str_eq(unit_json_str(doc, "msg"), "after the queue");
    json_object_put(doc);
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
    tcase_add_test(tc, test_queue_keeps_lines_whole_and_in_order);
    tcase_add_test(tc, test_stalled_reader_costs_lines_not_time);
    tcase_add_test(tc, test_stop_gives_up_on_a_stuck_fd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(log_suite());
}
