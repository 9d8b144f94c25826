/* log.c — JSON-lines logging on stderr, with a rate limiter for repeated warnings, and
 * a queue so that the event loop never waits on its own logs.
 *
 * Lines are built in a fixed buffer. Every text is cut to a bound before it is escaped
 * (ending in "..."), and the number of fields is bounded, so a line always fits the
 * buffer whole: a long message is cut, never split or left as broken JSON.
 *
 * Why a writer thread. A log collector that stops reading leaves stderr's pipe full,
 * and a blocking write on the loop thread then stalls ingest. The fd cannot simply be
 * made non-blocking: O_NONBLOCK belongs to the open file description, which stderr
 * shares with the processes that started us or write beside us (a shell, a tty, the
 * container runtime's pipe), and they would start failing with EAGAIN. dup() shares
 * the description; reopening /proc/self/fd/2 works for pipes and ttys but not for
 * sockets (journald) and gives a file its own offset. libuv's uv_pipe_open sets
 * O_NONBLOCK on the shared description, and uv_fs_write would park stalled writes on
 * the threadpool that name lookups need. So the loop copies each line into a bounded
 * byte queue (a memcpy under a mutex held by nobody for longer than a memcpy), and one
 * thread of this file's own does the blocking writes, whatever stderr is. A line that
 * does not fit is dropped and counted; once the writer catches up, one line says how
 * many were lost. The writer hands write() whole lines, several only while they stay
 * within PIPE_BUF, so a pipe shared with other writers never gets a line of ours
 * split by theirs; a partial write is continued, never cut. */
#include "base/log.h"
#include "base/utf8.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX 2048      /* characters of msg kept */
#define LOG_VALUE_MAX 1024    /* characters of a field's key or value kept */
#define LOG_FIELDS_MAX 12
/* Each kept character escapes to at most 6 bytes (\u00XX). */
#define LOG_LINE_MAX (6 * (LOG_MSG_MAX + 2 * LOG_VALUE_MAX * (LOG_FIELDS_MAX + 1)) + 512)

/* Enough for a thousand ordinary lines and for the longest line the formatter makes. */
#define LOG_QUEUE_BYTES (256 * 1024)
_Static_assert(LOG_QUEUE_BYTES >= LOG_LINE_MAX, "the queue must hold the longest line");
_Static_assert(LOG_LINE_MAX >= PIPE_BUF, "the writer's buffer must hold what it takes");

static enum log_level min_level = LOG_INFO;
static FILE *log_out;

/* The queue: a byte ring of whole lines. The loop thread appends; the writer thread
 * takes from the head. thread, running and fd belong to the thread that starts and
 * stops the queue (set before the writer exists or after it ended); the rest is
 * guarded by lock. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* to the writer: lines queued, or stop */
    pthread_cond_t drained;   /* to log_queue_stop: the writer caught up */
    pthread_t thread;
    int running;              /* the writer thread exists */
    int stopping;
    int writing;              /* the writer holds lines it took out */
    int abandoned;            /* stop timed out with the writer stuck in write() */
    int fd;
    size_t head, used;
    uint64_t dropped_total;   /* spanrelay_log_lines_dropped_total */
    uint64_t dropped_unsaid;  /* dropped since the last "lines dropped" line */
    char ring[LOG_QUEUE_BYTES];
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
        .drained = PTHREAD_COND_INITIALIZER, .fd = -1 };

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

/* 2026-11-24T23:19:39.123Z; either thread may call it. */
static void format_timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void line_timestamp(struct line *l)
{
    char buf[64];
    format_timestamp(buf, sizeof(buf));
    line_json_string(l, buf);
}

/* ---- the queue and its writer ---- */

/* The line that owns up to n lost lines. */
static size_t format_dropped_line(char *buf, size_t len, uint64_t n)
{
    char ts[64];
    format_timestamp(ts, sizeof(ts));
    int w = snprintf(buf, len, "{\"ts\":\"%s\",\"level\":\"WARNING\",\"logger\":\"spanrelay.log\","
                     "\"msg\":\"log lines dropped: stderr was not keeping up\",\"dropped\":%llu}\n",
                     ts, (unsigned long long)n);
    return w > 0 && (size_t)w < len ? (size_t)w : 0;
}

/* With q.lock held. */
static void ring_put(const char *s, size_t n)
{
    size_t tail = (q.head + q.used) % LOG_QUEUE_BYTES;
    size_t first = LOG_QUEUE_BYTES - tail < n ? LOG_QUEUE_BYTES - tail : n;
    memcpy(q.ring + tail, s, first);
    memcpy(q.ring, s + first, n - first);
    q.used += n;
}

/* With q.lock held: copies whole lines from the head into out and takes them off the
 * queue. As many lines as fit in PIPE_BUF (one atomic write on a pipe), or the first
 * line alone when it is longer. */
static size_t ring_take_lines(char *out)
{
    size_t n = 0, whole = 0;
    while (n < q.used) {
        size_t at = (q.head + n) % LOG_QUEUE_BYTES;
        size_t span = LOG_QUEUE_BYTES - at < q.used - n ? LOG_QUEUE_BYTES - at : q.used - n;
        const char *nl = memchr(q.ring + at, '\n', span);
        if (!nl) {
            n += span;
            continue;
        }
        n += (size_t)(nl - (q.ring + at)) + 1;
        if (whole && n > PIPE_BUF)
            break;
        whole = n;
    }
    size_t first = LOG_QUEUE_BYTES - q.head < whole ? LOG_QUEUE_BYTES - q.head : whole;
    memcpy(out, q.ring + q.head, first);
    memcpy(out + first, q.ring, whole - first);
    q.head = (q.head + whole) % LOG_QUEUE_BYTES;
    q.used -= whole;
    return whole;
}

static uint64_t count_lines(const char *s, size_t n)
{
    uint64_t lines = 0;
    for (const char *end = s + n; (s = memchr(s, '\n', (size_t)(end - s))); s++)
        lines++;
    return lines;
}

/* Writes all n bytes, waiting as long as it takes: stderr may also have been made
 * non-blocking by someone sharing it. Returns the number of lines not written because
 * the fd failed (a closed pipe, a full disk). */
static uint64_t write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w > 0) {
            s += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            poll(&p, 1, -1);
        } else if (w < 0 && errno != EINTR) {
            return count_lines(s, n);
        }
    }
    return 0;
}

static void *writer_main(void *arg)
{
    /* Only this thread uses it; a line the formatter makes always fits. */
    static char out[LOG_LINE_MAX];
    (void)arg;
    pthread_mutex_lock(&q.lock);
    for (;;) {
        size_t n;
        if (q.used > 0) {
            n = ring_take_lines(out);
        } else if (q.dropped_unsaid) {
            n = format_dropped_line(out, sizeof(out), q.dropped_unsaid);
            q.dropped_unsaid = 0;
        } else {
            pthread_cond_broadcast(&q.drained);
            if (q.stopping)
                break;
            pthread_cond_wait(&q.wake, &q.lock);
            continue;
        }
        q.writing = 1;
        pthread_mutex_unlock(&q.lock);
        uint64_t lost = write_all(q.fd, out, n);
        pthread_mutex_lock(&q.lock);
        q.writing = 0;
        /* Not "unsaid": saying it would fail the same way. */
        q.dropped_total += lost;
    }
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

/* Queues one whole line, after the "lines dropped" line when one is owed, or drops it. */
static void queue_line(const char *s, size_t n)
{
    char notice[256];
    size_t notice_len = 0;
    pthread_mutex_lock(&q.lock);
    if (q.dropped_unsaid)
        notice_len = format_dropped_line(notice, sizeof(notice), q.dropped_unsaid);
    if (q.abandoned || q.used + notice_len + n > LOG_QUEUE_BYTES) {
        q.dropped_total++;
        q.dropped_unsaid++;
    } else {
        if (notice_len) {
            ring_put(notice, notice_len);
            q.dropped_unsaid = 0;
        }
        ring_put(s, n);
        pthread_cond_signal(&q.wake);
    }
    pthread_mutex_unlock(&q.lock);
}

int log_queue_start(int fd)
{
    if (q.running)
        return -1;
    q.fd = fd;
    q.stopping = q.abandoned = 0;
    q.head = q.used = 0;
    /* Signals are the loop's business: the writer takes none, so none interrupts it
     * and none is handled on it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&q.thread, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    q.running = rc == 0;
    return rc == 0 ? 0 : -1;
}

/* With q.lock held. */
static int queue_settled(void)
{
    return q.used == 0 && !q.writing && !q.dropped_unsaid;
}

int log_queue_stop(uint64_t timeout_ms)
{
    if (!q.running)
        return 0;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(timeout_ms / 1000);
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q.lock);
    q.stopping = 1;
    pthread_cond_signal(&q.wake);
    int rc = 0;
    while (!queue_settled() && rc != ETIMEDOUT)
        rc = pthread_cond_clockwait(&q.drained, &q.lock, CLOCK_MONOTONIC, &deadline);
    int settled = queue_settled();
    /* A writer stuck in write() cannot be joined: it is left there (the process is
     * about to exit), and lines from now on are dropped and counted. */
    q.abandoned = !settled;
    pthread_mutex_unlock(&q.lock);
    if (!settled)
        return -1;
    pthread_join(q.thread, NULL);
    q.running = 0;
    return 0;
}

uint64_t log_lines_dropped(void)
{
    pthread_mutex_lock(&q.lock);
    uint64_t n = q.dropped_total;
    pthread_mutex_unlock(&q.lock);
    return n;
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
    if (q.running) {
        queue_line(l.buf, l.len);
        return;
    }
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
