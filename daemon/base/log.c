/* log.c — JSON-lines logging on stderr, with a rate limiter for repeated warnings.
 *
 * Lines are built in a fixed buffer and written with one fwrite so that lines never
 * interleave. Every text is cut to a bound before it is escaped (ending in "..."), and
 * the number of fields is bounded, so a line always fits the buffer whole: a long
 * message is cut, never split or left as broken JSON. */
#include "base/log.h"
#include "base/utf8.h"

#include <string.h>
#include <time.h>

#define LOG_MSG_MAX 2048      /* characters of msg kept */
#define LOG_VALUE_MAX 1024    /* characters of a field's key or value kept */
#define LOG_FIELDS_MAX 12
/* Each kept character escapes to at most 6 bytes (\u00XX). */
#define LOG_LINE_MAX (6 * (LOG_MSG_MAX + 2 * LOG_VALUE_MAX * (LOG_FIELDS_MAX + 1)) + 512)

static enum log_level min_level = LOG_INFO;
static FILE *log_out;

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t (*log_now_ms)(void) = monotonic_ms;

void log_init(enum log_level level, FILE *out)
{
    min_level = level;
    log_out = out;
}

enum log_level log_min_level(void)
{
    return min_level;
}

int log_level_parse(const char *name, enum log_level *out)
{
    static const struct { const char *name; enum log_level level; } names[] = {
        { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "warning", LOG_WARNING },
        { "warn", LOG_WARNING }, { "error", LOG_ERROR },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_DEBUG: return "DEBUG";
    case LOG_INFO: return "INFO";
    case LOG_WARNING: return "WARNING";
    case LOG_ERROR: return "ERROR";
    }
    return "INFO";
}

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

static void line_raw(struct line *l, const char *s, size_t n)
{
    /* The bounds above make this unreachable; it guards the buffer all the same. */
    size_t room = sizeof(l->buf) - 2 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_str(struct line *l, const char *s)
{
    line_raw(l, s, strlen(s));
}

/* Appends s as a JSON string literal, escaping what JSON requires; at most max
 * characters of s are kept. */
static void line_json_string_max(struct line *l, const char *s, size_t max)
{
    size_t kept = 0;
    size_t left = strlen(s);
    const unsigned char *p = (const unsigned char *)s;
    line_raw(l, "\"", 1);
    while (left > 0) {
        if (kept++ == max) {
            line_raw(l, "...", 3);
            break;
        }
        char esc[8];
        size_t step = 1;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            line_raw(l, esc, 2);
        } else if (*p == '\n') {
            line_raw(l, "\\n", 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            line_raw(l, esc, 6);
        } else if (*p < 0x80) {
            line_raw(l, (const char *)p, 1);
        } else {
            /* Text from a backend or a client may be any bytes: a line stays valid
             * UTF-8, hence valid JSON, with U+FFFD for what is not. */
            step = utf8_sequence(p, left);
            if (step == 0) {
                line_raw(l, "\\ufffd", 6);
                step = 1;
            } else {
                line_raw(l, (const char *)p, step);
            }
        }
        p += step;
        left -= step;
    }
    line_raw(l, "\"", 1);
}

static void line_json_string(struct line *l, const char *s)
{
    line_json_string_max(l, s, LOG_VALUE_MAX);
}

static void line_timestamp(struct line *l)
{
    struct timespec ts;
    struct tm tm;
    char buf[64];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    line_json_string(l, buf);
}

static void write_line(enum log_level level, const char *logger, const char *msg,
                       const struct log_field *fields, int nfields, uint64_t suppressed)
{
    /* Static: the worst-case line is too large for the stack, and only the loop thread
     * logs. */
    static struct line l;
    char num[32];
    l.len = 0;
    line_str(&l, "{\"ts\":");
    line_timestamp(&l);
    line_str(&l, ",\"level\":\"");
    line_str(&l, level_name(level));
    line_str(&l, "\",\"logger\":");
    line_json_string(&l, logger);
    line_str(&l, ",\"msg\":");
    line_json_string_max(&l, msg, LOG_MSG_MAX);
    if (nfields > LOG_FIELDS_MAX)
        nfields = LOG_FIELDS_MAX;
    for (int i = 0; i < nfields; i++) {
        line_raw(&l, ",", 1);
        line_json_string(&l, fields[i].key);
        line_raw(&l, ":", 1);
        if (fields[i].str) {
            line_json_string(&l, fields[i].str);
        } else {
            snprintf(num, sizeof(num), "%lld", (long long)fields[i].num);
            line_str(&l, num);
        }
    }
    if (suppressed) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)suppressed);
        line_str(&l, ",\"suppressed\":");
        line_str(&l, num);
    }
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    FILE *out = log_out ? log_out : stderr;
    fwrite(l.buf, 1, l.len, out);
    fflush(out);
}

void log_write(enum log_level level, const char *logger, const char *msg,
               const struct log_field *fields, int nfields)
{
    if (level < min_level)
        return;
    write_line(level, logger, msg, fields, nfields, 0);
}

int log_write_limited(struct log_limiter *lim, enum log_level level, const char *logger,
                      const char *msg, const struct log_field *fields, int nfields)
{
    if (level < min_level)
        return 0;
    uint64_t now = log_now_ms();
    if (lim->last_ms != 0 && now - lim->last_ms < lim->interval_ms) {
        lim->suppressed++;
        return 0;
    }
    lim->last_ms = now ? now : 1;
    write_line(level, logger, msg, fields, nfields, lim->suppressed);
    lim->suppressed = 0;
    return 1;
}
