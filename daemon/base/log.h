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

/* Where lines go and which levels pass. Default: stderr, LOG_INFO. */
void log_init(enum log_level min_level, FILE *out);
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
