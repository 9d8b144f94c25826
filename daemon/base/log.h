/* log.h — JSON-lines logging on stderr.
 *
 * One line per event: {"ts":"2026-11-24T23:19:39.123Z","level":"WARNING",
 * "logger":"otel.exporter","msg":"...", <fields>}. Field values are strings or
 * integers; the caller never passes a header value (they may hold API keys). */
#ifndef SPANRELAY_LOG_H
#define SPANRELAY_LOG_H

#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARNING, LOG_ERROR };

/* One structured field. Use LOG_STR / LOG_INT to build them. */
struct log_field {
    const char *key;
    const char *str; /* NULL when the value is an integer */
    int64_t num;
};
#define LOG_STR(k, v) ((struct log_field){ (k), (v) ? (v) : "", 0 })
#define LOG_INT(k, v) ((struct log_field){ (k), NULL, (int64_t)(v) })

/* Where lines go and which levels pass. Default: stderr, LOG_INFO. Until
 * log_queue_start, and after log_queue_stop, a line is written at once with one fwrite
 * (the command line, tests). */
void log_init(enum log_level min_level, FILE *out);

/* From now on lines are queued (at most 256 KiB) and written to fd by a thread of
 * their own, so a log_write never waits on fd: a line that does not fit is dropped and
 * counted, and once the writer catches up one WARNING line from logger
 * "spanrelay.log" says how many ("dropped": N). Lines stay whole and in order.
 * Returns 0, or -1 when the thread cannot start (lines keep being written at once). */
int log_queue_start(int fd);

/* Waits up to timeout_ms for every queued line to be written, then ends the writer
 * and returns 0. When fd does not drain in time the writer is left blocked, lines
 * logged later are dropped and counted, and -1 is returned; a later call waits again. */
int log_queue_stop(uint64_t timeout_ms);

/* Lines dropped so far (spanrelay_log_lines_dropped_total): the queue was full, or
 * the fd failed. */
uint64_t log_lines_dropped(void);
enum log_level log_min_level(void);

/* "debug", "info", "warning"/"warn", "error" → 0; anything else → -1. */
int log_level_parse(const char *name, enum log_level *out);

/* Writes one line with nfields fields. */
void log_write(enum log_level level, const char *logger, const char *msg,
               const struct log_field *fields, int nfields);

/* Rate limiter for a repeated message: at most one line per interval; the next line
 * that passes carries "suppressed": N, the count of lines swallowed meanwhile. */
struct log_limiter {
    uint64_t interval_ms;
    uint64_t last_ms;
    uint64_t suppressed;
};
#define LOG_LIMITER_INIT(ms) { (ms), 0, 0 }

/* Like log_write, through the limiter. Returns 1 when written, 0 when suppressed. */
int log_write_limited(struct log_limiter *lim, enum log_level level, const char *logger,
                      const char *msg, const struct log_field *fields, int nfields);

/* Milliseconds on a monotonic clock; the limiter's time base (tests may override). */
extern uint64_t (*log_now_ms)(void);

#endif
