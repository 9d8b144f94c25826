/* spool.c — the segment files behind spool.h.
 *
 * Two sides. The loop side owns the write queue (records appended since the last job),
 * the read-ahead chunks (records read back, not yet popped), the acknowledgement
 * position and the counters. The disk side (struct disk: segment list, file
 * descriptors, read position) is touched only by the one job in flight, or by the loop
 * while no job is: uv_queue_work's completion orders the two.
 *
 * Why uv_queue_work rather than a chain of uv_fs_* requests: a spill writes a batch,
 * may rotate a segment (fsync, close, create, write its header, fsync the directory),
 * deletes acknowledged segments, writes the cursor and reads ahead. As uv_fs_* calls
 * that is a dozen thread-pool round trips and a state machine per step; as one job it
 * is one round trip and straight-line code, and the loop's share per batch is a
 * memcpy into the queue. Both run the same system calls on the same thread pool. A
 * micro-measurement of the bare write path (no rotation, no fsync) gave the loop
 * 1.5 us per 550-byte record this way against 0.25 us for one uv_fs_write per batch and
 * 44 us for one uv_fs_write per record: batching is what matters; the job's own
 * overhead is not yet explained and is a candidate for make bench.
 *
 * A job runs, in order: recovery (first job, and after a failed one), deletion of
 * acknowledged segments and the cursor update, the write of the held batch, fsync,
 * read-ahead. A failed write keeps the unwritten part of the batch for the next try. */
#include "export/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/log.h"

#define LOGGER "spanrelay.spool"

#define SEG_HDR 16
#define REC_HDR 20
#define CURSOR_LEN 24
#define SEG_VERSION 1u
#define SEG_MAGIC "SRSPOOL\n"
#define CURSOR_MAGIC 0x55435253u /* "SRCU" */
#define MAX_RECORD (1u << 30)
#define SEG_NAME_LEN 20          /* 16 hex digits and ".seg" */
#define SCAN_CHUNK 65536
#define WRITE_CHUNK 65536
#define MAX_EVENTS 8

#define DEFAULT_SYNC_MS 1000
#define DEFAULT_RETRY_MS 5000
#define DEFAULT_QUEUE_BYTES (1024 * 1024)
#define MIN_SEGMENT (64 * 1024)
#define MAX_SEGMENT (64 * 1024 * 1024)

struct seg {
    uint64_t seq;
    uint64_t size;          /* header plus whole records: where the next record goes */
    uint64_t unread_spans;  /* spans and records at or after the read position */
    uint64_t unread_records;
};

/* Encoded records (on-disk form) in memory: the write queue and the held batch. */
struct buf {
    uint8_t *data;
    size_t len, cap;
    size_t done;            /* held batch: bytes already written */
};

/* Records read back from one segment, starting at file offset off. */
struct chunk {
    uint64_t seq, off;
    uint8_t *data;
    size_t len, pos;
    struct chunk *next;
};

struct disk {
    struct seg *segs;
    size_t nsegs, cap;
    uint64_t bytes;         /* sum of segs[].size */
    uint64_t next_seq;
    int wfd;                /* the last segment, open for writing; -1 when sealed */
    int lockfd;             /* the directory's "lock" file, flock()ed while open; -1 */
    int rfd;
    uint64_t rfd_seq;
    uint64_t read_seq, read_off;
    uint64_t cursor_seq, cursor_off; /* as written in the cursor file */
    int unsynced;           /* data or directory changes not fsynced yet */
};

/* Something a job wants logged; logging is the loop's business. */
struct event {
    enum log_level level;
    const char *msg;
    char file[SEG_NAME_LEN + 8];
    char reason[96];
    uint64_t n;
};

struct job {
    /* in */
    int recover, write, sync, closing;
    int check_room;         /* the spool is down: see whether the disk has room again */
    size_t read_budget;
    uint64_t ack_seq, ack_off;
    /* out */
    int err;                /* errno of a failed step; 0 when all went well */
    const char *op;
    int recovered;
    uint64_t recovered_spans, recovered_records;
    uint64_t torn_bytes, quarantined, lost_spans, lost_records;
    uint64_t unread_oldest_ms; /* time of the next record on disk after the read-ahead */
    int synced;
    int room;               /* check_room: the disk has room for another write queue */
    size_t written_to;      /* the held batch is written up to here */
    struct chunk *chunks;
    struct event events[MAX_EVENTS];
    int nevents;
    uint64_t more_events;
};

struct spool {
    uv_loop_t *loop;
    char *dir;
    char *name;
    uint64_t max_bytes;
    enum spool_sync sync;
    uint64_t sync_interval_ms, retry_ms;
    uint64_t segment_bytes;
    size_t queue_bytes;
    size_t read_bytes;      /* read-ahead bound: queue_bytes as configured */
    spool_wake_cb wake;
    void *arg;
    struct spool_stats st;

    /* loop side */
    struct buf queue;
    struct buf held;        /* the batch being (or to be) written */
    struct chunk *ra_head, *ra_tail;
    size_t ra_bytes;
    uint64_t ack_seq, ack_off;
    uint64_t disk_bytes;    /* disk.bytes as of the last job */
    uint64_t disk_segments;
    int disk_unread;        /* records on disk not read ahead yet */
    uint64_t unread_oldest_ms;
    int recovered;
    int down;
    uint64_t retry_at, last_sync_at;
    int closing;
    spool_closed_cb closed;
    void *closed_arg;

    uv_work_t work;
    int job_running;
    struct job job;
    uv_timer_t timer;
    struct disk d;
};

/* --- encoding ---------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t crc(uint32_t c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        uInt part = n > (1u << 30) ? 1u << 30 : (uInt)n;
        c = (uint32_t)crc32(c, p, part);
        p += part;
        n -= part;
    }
    return c;
}

struct rec_hdr {
    uint32_t len, spans, crc;
    uint64_t ms;
};

static void rec_hdr_encode(uint8_t *p, uint32_t len, uint32_t spans, uint64_t ms,
                           const uint8_t *payload)
{
    put32(p, len);
    put32(p + 4, spans);
    put64(p + 8, ms);
    uint32_t c = crc(crc(0, p, 16), payload, len);
    put32(p + 16, c);
}

static struct rec_hdr rec_hdr_decode(const uint8_t *p)
{
    return (struct rec_hdr){ get32(p), get32(p + 4), get32(p + 16), get64(p + 8) };
}

static void seg_hdr_encode(uint8_t *p)
{
    memcpy(p, SEG_MAGIC, 8);
    put32(p + 8, SEG_VERSION);
    put32(p + 12, crc(0, p, 12));
}

/* NULL when the header is good, else why not. */
static const char *seg_hdr_check(const uint8_t *p)
{
    if (memcmp(p, SEG_MAGIC, 8) != 0)
        return "not a spool segment (bad magic)";
    if (get32(p + 12) != crc(0, p, 12))
        return "segment header checksum mismatch";
    if (get32(p + 8) != SEG_VERSION)
        return "unsupported segment format version";
    return NULL;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- memory buffers ---------------------------------------------------------------- */

static int buf_reserve(struct buf *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static void buf_clear(struct buf *b)
{
    b->len = 0;
    b->done = 0;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    *b = (struct buf){ 0 };
}

/* Spans and time of the first record of an encoded buffer from offset at. */
static struct rec_hdr buf_first(const struct buf *b, size_t at)
{
    return rec_hdr_decode(b->data + at);
}

static void chunks_free(struct chunk *c)
{
    while (c) {
        struct chunk *next = c->next;
        free(c->data);
        free(c);
        c = next;
    }
}

/* --- disk side: helpers ------------------------------------------------------------ */

static void add_event(struct job *j, enum log_level level, const char *msg, const char *file,
                      const char *reason, uint64_t n)
{
    if (j->nevents == MAX_EVENTS) {
        j->more_events++;
        return;
    }
    struct event *e = &j->events[j->nevents++];
    e->level = level;
    e->msg = msg;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
    e->n = n;
}

static int fail(struct job *j, const char *op, int err)
{
    if (j->err == 0) {
        j->err = err ? err : EIO;
        j->op = op;
    }
    return -1;
}

static void seg_name(char *out, size_t n, uint64_t seq)
{
    snprintf(out, n, "%016llx.seg", (unsigned long long)seq);
}

static int dir_fd(struct spool *sp)
{
    return open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = 0;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* *done says how much reached the file, also on failure. */
static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off, size_t *done)
{
    *done = 0;
    while (*done < n) {
        ssize_t r = pwrite(fd, p + *done, n - *done, (off_t)(off + *done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        *done += (size_t)r;
    }
    return 0;
}

/* Whole records at the start of data[0, len), each checked against its checksum:
 * their length, or where the first bad one starts (*bad set). */
static size_t whole_records(const uint8_t *data, size_t len, uint64_t *spans,
                            uint64_t *records, int *bad)
{
    size_t at = 0;
    *bad = 0;
    while (len - at >= REC_HDR) {
        struct rec_hdr rh = rec_hdr_decode(data + at);
        if (rh.len > len - at - REC_HDR)
            break;
        if (crc(crc(0, data + at, 16), data + at + REC_HDR, rh.len) != rh.crc) {
            *bad = 1;
            break;
        }
        *spans += rh.spans;
        *records += 1;
        at += REC_HDR + rh.len;
    }
    return at;
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int segs_push(struct disk *d, struct seg s)
{
    if (d->nsegs == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct seg *p = realloc(d->segs, cap * sizeof *p);
        if (p == NULL)
            return -1;
        d->segs = p;
        d->cap = cap;
    }
    d->segs[d->nsegs++] = s;
    d->bytes += s.size;
    return 0;
}

static void segs_drop_first(struct disk *d)
{
    d->bytes -= d->segs[0].size;
    memmove(d->segs, d->segs + 1, (d->nsegs - 1) * sizeof *d->segs);
    d->nsegs--;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void unlink_seg(struct spool *sp, uint64_t seq)
{
    char name[SEG_NAME_LEN + 1];
    seg_name(name, sizeof name, seq);
    int dfd = dir_fd(sp);
    if (dfd < 0)
        return;
    unlinkat(dfd, name, 0);
    close(dfd);
    sp->d.unsynced = 1;
}

/* --- disk side: recovery ----------------------------------------------------------- */

struct scan {
    uint64_t end;            /* end of the last whole record */
    uint64_t first;          /* start of the first record at or after from */
    uint64_t records, spans; /* whole records starting at or after from */
    const char *bad;         /* why the scan stopped before the end of the file */
};

/* Walks the records of a segment of size bytes, checking every length and checksum. */
static int scan_records(int fd, uint64_t size, uint64_t from, struct scan *s, uint8_t *scratch)
{
    uint64_t off = SEG_HDR;
    s->end = s->first = off;
    s->records = s->spans = 0;
    s->bad = NULL;
    while (off < size) {
        uint8_t h[REC_HDR];
        if (size - off < REC_HDR) {
            s->bad = "torn record header";
            return 0;
        }
        if (pread_all(fd, h, REC_HDR, off) != 0)
            return -1;
        struct rec_hdr rh = rec_hdr_decode(h);
        if (rh.len > MAX_RECORD || rh.len > size - off - REC_HDR) {
            s->bad = "record longer than what follows";
            return 0;
        }
        uint32_t c = crc(0, h, 16);
        for (uint64_t done = 0; done < rh.len;) {
            size_t n = rh.len - done > SCAN_CHUNK ? SCAN_CHUNK : (size_t)(rh.len - done);
            if (pread_all(fd, scratch, n, off + REC_HDR + done) != 0)
                return -1;
            c = crc(c, scratch, n);
            done += n;
        }
        if (c != rh.crc) {
            s->bad = "record checksum mismatch";
            return 0;
        }
        if (off >= from) {
            if (s->records == 0)
                s->first = off;
            s->records++;
            s->spans += rh.spans;
        }
        off += REC_HDR + rh.len;
        s->end = off;
    }
    return 0;
}

/* "<16 lower-case hex digits>.seg", exactly as seg_name writes it. */
static int parse_seg_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, ".seg") != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *seq = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment numbers found in the directory, sorted. */
static int list_segments(struct spool *sp, uint64_t **out, size_t *n)
{
    DIR *dir = opendir(sp->dir);
    if (dir == NULL)
        return -1;
    uint64_t *seqs = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        uint64_t seq;
        if (parse_seg_name(de->d_name, &seq) != 0)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *p = realloc(seqs, cap * sizeof *p);
            if (p == NULL) {
                free(seqs);
                closedir(dir);
                errno = ENOMEM;
                return -1;
            }
            seqs = p;
        }
        seqs[count++] = seq;
    }
    closedir(dir);
    if (count > 1)
        qsort(seqs, count, sizeof *seqs, cmp_u64);
    *out = seqs;
    *n = count;
    return 0;
}

static void read_cursor(struct spool *sp, struct job *j)
{
    sp->d.cursor_seq = sp->d.cursor_off = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/cursor", sp->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    uint8_t b[CURSOR_LEN];
    int ok = pread_all(fd, b, sizeof b, 0) == 0 && get32(b) == CURSOR_MAGIC &&
             get32(b + 20) == crc(0, b, 20);
    close(fd);
    if (!ok) {
        add_event(j, LOG_WARNING, "spool cursor unreadable: records are read from the start",
                  "cursor", NULL, 0);
        return;
    }
    sp->d.cursor_seq = get64(b + 4);
    sp->d.cursor_off = get64(b + 12);
}

static int write_cursor(struct spool *sp, struct job *j)
{
    uint8_t b[CURSOR_LEN];
    put32(b, CURSOR_MAGIC);
    put64(b + 4, j->ack_seq);
    put64(b + 12, j->ack_off);
    put32(b + 20, crc(0, b, 20));
    char path[4096];
    snprintf(path, sizeof path, "%s/cursor", sp->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return fail(j, "open cursor", errno);
    size_t done;
    int rc = pwrite_all(fd, b, sizeof b, 0, &done);
    int err = errno;
    if (rc == 0 && sp->sync != SPOOL_SYNC_NEVER)
        rc = fdatasync(fd), err = errno;
    close(fd);
    if (rc != 0)
        return fail(j, "write cursor", err);
    sp->d.cursor_seq = j->ack_seq;
    sp->d.cursor_off = j->ack_off;
    return 0;
}

static void quarantine(struct spool *sp, struct job *j, const char *name, const char *why)
{
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/%s", sp->dir, name);
    snprintf(to, sizeof to, "%s/%s.bad", sp->dir, name);
    if (rename(from, to) != 0) {
        add_event(j, LOG_WARNING, "unreadable spool segment could not be moved aside: ignored",
                  name, strerror(errno), 0);
        return;
    }
    j->quarantined++;
    sp->d.unsynced = 1;
    add_event(j, LOG_WARNING, "unreadable spool segment moved aside", name, why, 0);
}

/* One segment found at start: keep its whole records (after the cursor), cut a torn
 * tail, delete it when nothing is left, move it aside when it cannot be read. */
static int recover_one(struct spool *sp, struct job *j, uint64_t seq, uint8_t *scratch)
{
    struct disk *d = &sp->d;
    char name[SEG_NAME_LEN + 1];
    seg_name(name, sizeof name, seq);
    if (seq < d->cursor_seq) {
        unlink_seg(sp, seq);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", sp->dir, name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat stb;
    if (fd < 0 || fstat(fd, &stb) != 0) {
        if (fd >= 0)
            close(fd);
        quarantine(sp, j, name, strerror(errno));
        return 0;
    }
    uint64_t size = (uint64_t)stb.st_size;
    uint8_t h[SEG_HDR];
    if (size < SEG_HDR) {
        /* Created, then the process died before its header was written. */
        close(fd);
        unlink_seg(sp, seq);
        j->torn_bytes += size;
        return 0;
    }
    if (pread_all(fd, h, SEG_HDR, 0) != 0) {
        close(fd);
        quarantine(sp, j, name, errno ? strerror(errno) : "short read");
        return 0;
    }
    const char *why = seg_hdr_check(h);
    if (why != NULL) {
        close(fd);
        quarantine(sp, j, name, why);
        return 0;
    }
    uint64_t from = seq == d->cursor_seq ? d->cursor_off : SEG_HDR;
    struct scan s;
    if (scan_records(fd, size, from, &s, scratch) != 0) {
        close(fd);
        quarantine(sp, j, name, errno ? strerror(errno) : "short read");
        return 0;
    }
    if (s.end < size) {
        j->torn_bytes += size - s.end;
        add_event(j, LOG_WARNING, "spool segment cut after its last whole record", name,
                  s.bad, size - s.end);
        if (ftruncate(fd, (off_t)s.end) == 0)
            d->unsynced = 1;
    }
    close(fd);
    if (s.records == 0) {
        unlink_seg(sp, seq);
        return 0;
    }
    if (segs_push(d, (struct seg){ seq, s.end, s.spans, s.records }) != 0)
        return fail(j, "recover", ENOMEM);
    if (d->nsegs == 1) {
        d->read_seq = seq;
        d->read_off = s.first;
    }
    j->recovered_records += s.records;
    j->recovered_spans += s.spans;
    return 0;
}

/* One spool per directory: a second one (another process on the same volume, or two
 * lanes of one name) would number its segments over the first's and move its cursor.
 * flock() goes with the process, so a killed process leaves no stale lock behind. */
static int take_lock(struct spool *sp, struct job *j)
{
    if (sp->d.lockfd >= 0)
        return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", sp->dir);
    /* Read-only: flock() needs no more, and a file open for writing would keep the
     * volume from being remounted read-only. */
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return fail(j, "open lock", errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        return fail(j, err == EWOULDBLOCK ? "lock: another spool uses this directory"
                                          : "lock", err);
    }
    sp->d.lockfd = fd;
    return 0;
}

static int recover(struct spool *sp, struct job *j)
{
    struct disk *d = &sp->d;
    if (mkdir_p(sp->dir) != 0)
        return fail(j, "mkdir", errno);
    if (take_lock(sp, j) != 0)
        return -1;
    uint64_t *seqs;
    size_t n;
    if (list_segments(sp, &seqs, &n) != 0)
        return fail(j, "opendir", errno);
    uint8_t *scratch = malloc(SCAN_CHUNK);
    if (scratch == NULL) {
        free(seqs);
        return fail(j, "recover", ENOMEM);
    }
    read_cursor(sp, j);
    d->nsegs = 0;
    d->bytes = 0;
    d->read_seq = d->read_off = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = recover_one(sp, j, seqs[i], scratch);
    d->next_seq = (n > 0 ? seqs[n - 1] : 0) + 1;
    if (d->next_seq <= d->cursor_seq)
        d->next_seq = d->cursor_seq + 1;
    free(scratch);
    free(seqs);
    if (rc != 0)
        return rc;
    j->recovered = 1;
    return 0;
}

/* --- disk side: acknowledgement, writes, sync, read-ahead -------------------------- */

static int seg_acked(const struct seg *s, uint64_t ack_seq, uint64_t ack_off)
{
    return s->seq < ack_seq || (s->seq == ack_seq && ack_off >= s->size);
}

/* Deletes the segments the reader has acknowledged wholly, the last one included
 * (a new segment is opened for the next write), and records the cursor. */
static void apply_ack(struct spool *sp, struct job *j)
{
    struct disk *d = &sp->d;
    while (d->nsegs > 0 && seg_acked(&d->segs[0], j->ack_seq, j->ack_off)) {
        if (d->nsegs == 1)
            close_fd(&d->wfd);
        if (d->rfd_seq == d->segs[0].seq)
            close_fd(&d->rfd);
        unlink_seg(sp, d->segs[0].seq);
        segs_drop_first(d);
    }
    if (d->nsegs > 0 && (j->ack_seq != d->cursor_seq || j->ack_off != d->cursor_off))
        write_cursor(sp, j);
}

static int open_segment(struct spool *sp, struct job *j)
{
    struct disk *d = &sp->d;
    char path[4096];
    char name[SEG_NAME_LEN + 1];
    seg_name(name, sizeof name, d->next_seq);
    snprintf(path, sizeof path, "%s/%s", sp->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return fail(j, "create segment", errno);
    uint8_t h[SEG_HDR];
    seg_hdr_encode(h);
    size_t done;
    if (pwrite_all(fd, h, SEG_HDR, 0, &done) != 0 ||
        segs_push(d, (struct seg){ d->next_seq, SEG_HDR, 0, 0 }) != 0) {
        int err = errno;
        close(fd);
        unlink(path);
        return fail(j, "write segment header", err);
    }
    d->next_seq++;
    d->wfd = fd;
    d->unsynced = 1;
    return 0;
}

static int sync_all(struct spool *sp, struct job *j)
{
    struct disk *d = &sp->d;
    if (d->wfd >= 0 && fdatasync(d->wfd) != 0)
        return fail(j, "fsync", errno);
    int dfd = dir_fd(sp);
    if (dfd < 0)
        return fail(j, "open directory", errno);
    int rc = fsync(dfd);
    int err = errno;
    close(dfd);
    if (rc != 0)
        return fail(j, "fsync directory", err);
    d->unsynced = 0;
    j->synced = 1;
    return 0;
}

/* Closes the segment being written so the next record starts a new one. */
static int seal(struct spool *sp, struct job *j)
{
    struct disk *d = &sp->d;
    if (d->wfd < 0)
        return 0;
    if (sp->sync != SPOOL_SYNC_NEVER && fdatasync(d->wfd) != 0)
        return fail(j, "fsync", errno);
    close_fd(&d->wfd);
    return 0;
}

/* Writes the held batch from held->done on, a segment at a time. On failure the
 * segment is cut back to its last whole record and sealed; j->written_to says how far
 * it got, so the rest is written on the next try. The loop reads held meanwhile: the
 * job does not change it. */
static int write_held(struct spool *sp, struct job *j, const struct buf *held)
{
    struct disk *d = &sp->d;
    j->written_to = held->done;
    while (j->written_to < held->len) {
        if (d->wfd < 0 && open_segment(sp, j) != 0)
            return -1;
        struct seg *s = &d->segs[d->nsegs - 1];
        /* Whole records that fit the segment, at most WRITE_CHUNK bytes (so a full
         * disk keeps what did fit), at least one. */
        size_t at = j->written_to, end = at;
        uint64_t spans = 0, records = 0;
        while (end < held->len) {
            struct rec_hdr rh = buf_first(held, end);
            size_t rec = REC_HDR + rh.len;
            if (end > at && (s->size + (end - at) + rec > sp->segment_bytes ||
                             end - at + rec > WRITE_CHUNK))
                break;
            if (end == at && s->size > SEG_HDR && s->size + rec > sp->segment_bytes)
                break;
            end += rec;
            spans += rh.spans;
            records++;
        }
        if (end == at) {
            if (seal(sp, j) != 0)
                return -1;
            continue;
        }
        size_t wrote;
        int rc = pwrite_all(d->wfd, held->data + at, end - at, s->size, &wrote);
        int err = errno;
        if (rc != 0) {
            /* Keep the whole records that reached the file (a full disk takes what
             * fits) and cut the rest; should the cut fail too, the reader still stops
             * at s->size and the next recovery cuts the rest. */
            /* Written here, so their checksums hold. */
            int torn;
            spans = records = 0;
            end = at + whole_records(held->data + at, wrote, &spans, &records, &torn);
            int cut = ftruncate(d->wfd, (off_t)(s->size + (end - at)));
            (void)cut;
            close_fd(&d->wfd);
        }
        s->size += end - at;
        s->unread_spans += spans;
        s->unread_records += records;
        d->bytes += end - at;
        d->unsynced = 1;
        j->written_to = end;
        if (rc != 0) {
            if (s->size == SEG_HDR) {
                unlink_seg(sp, s->seq);
                d->nsegs--;
                d->bytes -= SEG_HDR;
            }
            return fail(j, "write", err);
        }
        if (s->size >= sp->segment_bytes && seal(sp, j) != 0)
            return -1;
    }
    if (sp->sync == SPOOL_SYNC_ALWAYS)
        return sync_all(sp, j);
    return 0;
}

/* The segment holding the next record to read back, or NULL when everything written
 * has been read. The read position never passes the last segment's end: records
 * written there later are read from where it stopped. */
static struct seg *find_read_seg(struct disk *d)
{
    for (size_t i = 0; i < d->nsegs; i++) {
        if (d->segs[i].seq < d->read_seq)
            continue;
        if (d->segs[i].seq > d->read_seq) {
            d->read_seq = d->segs[i].seq;
            d->read_off = SEG_HDR;
        }
        if (d->read_off < d->segs[i].size)
            return &d->segs[i];
    }
    return NULL;
}

/* The rest of a segment cannot be read back: its spans are lost. The segment is
 * sealed so nothing more is written behind the damage. */
static void skip_rest(struct spool *sp, struct job *j, struct seg *s, const char *why)
{
    struct disk *d = &sp->d;
    char name[SEG_NAME_LEN + 1];
    seg_name(name, sizeof name, s->seq);
    add_event(j, LOG_WARNING, "spooled records unreadable: dropped", name, why, s->unread_spans);
    j->lost_spans += s->unread_spans;
    j->lost_records += s->unread_records;
    s->unread_spans = s->unread_records = 0;
    if (s == &d->segs[d->nsegs - 1])
        close_fd(&d->wfd);
    d->read_seq = s->seq + 1;
    d->read_off = SEG_HDR;
}

static int open_read_fd(struct spool *sp, uint64_t seq)
{
    struct disk *d = &sp->d;
    if (d->rfd >= 0 && d->rfd_seq == seq)
        return 0;
    close_fd(&d->rfd);
    char path[4096], name[SEG_NAME_LEN + 1];
    seg_name(name, sizeof name, seq);
    snprintf(path, sizeof path, "%s/%s", sp->dir, name);
    d->rfd = open(path, O_RDONLY | O_CLOEXEC);
    d->rfd_seq = seq;
    return d->rfd >= 0 ? 0 : -1;
}

/* Reads whole records of one segment into a chunk: budget bytes' worth, or the first
 * record alone when it is larger. Returns the bytes taken; 0 when the rest of the
 * segment had to be skipped. */
static size_t read_chunk(struct spool *sp, struct job *j, struct seg *s, size_t budget,
                         struct chunk ***tail)
{
    struct disk *d = &sp->d;
    if (open_read_fd(sp, s->seq) != 0) {
        skip_rest(sp, j, s, strerror(errno));
        return 0;
    }
    uint64_t avail = s->size - d->read_off;
    size_t want = avail < budget ? (size_t)avail : budget;
    if (want < REC_HDR)
        want = avail < REC_HDR ? (size_t)avail : REC_HDR;
    uint8_t *data = malloc(want);
    struct chunk *c = calloc(1, sizeof *c);
    if (data == NULL || c == NULL)
        goto nomem;
    if (pread_all(d->rfd, data, want, d->read_off) != 0)
        goto unreadable;
    if (want >= REC_HDR) {
        /* The first record is larger than the budget: read it alone. */
        uint64_t first = REC_HDR + (uint64_t)rec_hdr_decode(data).len;
        if (first > want && first <= avail) {
            uint8_t *p = realloc(data, (size_t)first);
            if (p == NULL)
                goto nomem;
            data = p;
            want = (size_t)first;
            if (pread_all(d->rfd, data, want, d->read_off) != 0)
                goto unreadable;
        }
    }
    uint64_t spans = 0, records = 0;
    int bad;
    size_t len = whole_records(data, want, &spans, &records, &bad);
    s->unread_spans -= spans;
    s->unread_records -= records;
    uint64_t start = d->read_off;
    d->read_off += len;
    if (bad || len == 0)
        skip_rest(sp, j, s, bad ? "record checksum mismatch on read-back"
                                : "record lengths do not match the segment");
    if (len == 0) {
        free(data);
        free(c);
        return 0;
    }
    *c = (struct chunk){ s->seq, start, data, len, 0, NULL };
    **tail = c;
    *tail = &c->next;
    return len;

unreadable:
    skip_rest(sp, j, s, errno ? strerror(errno) : "short read");
    free(data);
    free(c);
    return 0;
nomem:
    free(data);
    free(c);
    fail(j, "read", ENOMEM);
    return 0;
}

static void read_ahead(struct spool *sp, struct job *j)
{
    struct disk *d = &sp->d;
    struct chunk **tail = &j->chunks;
    size_t budget = j->read_budget;
    struct seg *s;
    while (budget > 0 && (s = find_read_seg(d)) != NULL) {
        size_t got = read_chunk(sp, j, s, budget, &tail);
        if (j->err == ENOMEM)
            return;
        budget -= got < budget ? got : budget;
    }
    j->unread_oldest_ms = 0;
    if ((s = find_read_seg(d)) != NULL && open_read_fd(sp, s->seq) == 0) {
        uint8_t h[REC_HDR];
        if (pread_all(d->rfd, h, REC_HDR, d->read_off) == 0)
            j->unread_oldest_ms = rec_hdr_decode(h).ms;
    }
}

/* After a disk error, a write that works is not enough to take records again: on a
 * disk that is all but full the next one fails at once, and the lane would flap between
 * disk and memory, logging each time. Room for a write queue's worth (or a segment's,
 * when that is less) is. A file system that cannot say counts as having room. */
static int has_room(struct spool *sp)
{
    struct statvfs v;
    if (statvfs(sp->dir, &v) != 0)
        return 1;
    uint64_t want = sp->queue_bytes < sp->segment_bytes ? sp->queue_bytes : sp->segment_bytes;
    return (uint64_t)v.f_bavail * v.f_frsize >= want;
}

static void close_files(struct disk *d)
{
    close_fd(&d->wfd);
    close_fd(&d->rfd);
    close_fd(&d->lockfd);
}

static void job_run(uv_work_t *w)
{
    struct spool *sp = w->data;
    struct job *j = &sp->job;
    if (j->recover) {
        if (recover(sp, j) != 0) {
            if (j->closing)
                close_files(&sp->d);
            return;
        }
        j->ack_seq = sp->d.read_seq;
        j->ack_off = sp->d.read_off;
    }
    apply_ack(sp, j);
    if (j->write && write_held(sp, j, &sp->held) != 0)
        j->sync = 0;
    if (j->sync && sp->d.unsynced)
        sync_all(sp, j);
    if (j->check_room && !j->err)
        j->room = has_room(sp);
    if (j->read_budget > 0)
        read_ahead(sp, j);
    if (j->closing)
        close_files(&sp->d);
}

/* --- loop side --------------------------------------------------------------------- */

static void log_event(struct spool *sp, const struct event *e)
{
    struct log_field f[4] = {
        LOG_STR("lane", sp->name), LOG_STR("file", e->file),
        LOG_STR("reason", e->reason), LOG_INT("count", e->n),
    };
    int n = e->reason[0] ? (e->n ? 4 : 3) : 2;
    log_write(e->level, LOGGER, e->msg, f, n);
}

static void start_job(struct spool *sp);

static void on_timer(uv_timer_t *t)
{
    start_job(t->data);
}

static void arm_timer(struct spool *sp)
{
    if (sp->closing)
        return;
    uint64_t now = uv_now(sp->loop), at = 0;
    if (sp->down)
        at = sp->retry_at;
    else if (sp->d.unsynced && sp->sync == SPOOL_SYNC_INTERVAL)
        at = sp->last_sync_at + sp->sync_interval_ms;
    else {
        uv_timer_stop(&sp->timer);
        return;
    }
    uv_timer_start(&sp->timer, on_timer, at > now ? at - now : 0, 0);
}

static void went_down(struct spool *sp, const struct job *j)
{
    sp->retry_at = uv_now(sp->loop) + sp->retry_ms;
    if (sp->down)
        return;
    sp->down = 1;
    sp->st.up = 0;
    sp->st.disk_errors++;
    struct log_field f[] = {
        LOG_STR("lane", sp->name), LOG_STR("op", j->op), LOG_STR("error", strerror(j->err)),
        LOG_STR("dir", sp->dir), LOG_INT("retry_ms", sp->retry_ms),
    };
    log_write(LOG_WARNING, LOGGER, "spool disk unusable: the lane keeps to memory", f, 5);
}

static void came_up(struct spool *sp)
{
    int was_down = sp->down;
    sp->down = 0;
    sp->st.up = !sp->closing;
    if (!was_down)
        return;
    struct log_field f[] = { LOG_STR("lane", sp->name), LOG_STR("dir", sp->dir) };
    log_write(LOG_INFO, LOGGER, "spool disk usable again", f, 2);
}

static void log_recovery(struct spool *sp, const struct job *j)
{
    if (j->recovered_records == 0 && j->torn_bytes == 0 && j->quarantined == 0)
        return;
    struct log_field f[] = {
        LOG_STR("lane", sp->name), LOG_INT("segments", sp->d.nsegs),
        LOG_INT("records", j->recovered_records), LOG_INT("spans", j->recovered_spans),
        LOG_INT("torn_bytes", j->torn_bytes), LOG_INT("quarantined", j->quarantined),
    };
    log_write(LOG_INFO, LOGGER, "spool recovered", f, 6);
}

static void take_chunks(struct spool *sp, struct chunk *c)
{
    for (; c; c = c->next) {
        if (sp->ra_tail)
            sp->ra_tail->next = c;
        else
            sp->ra_head = c;
        sp->ra_tail = c;
        sp->ra_bytes += c->len;
    }
}

static void update_gauges(struct spool *sp)
{
    sp->st.bytes = sp->disk_bytes + sp->queue.len + (sp->held.len - sp->held.done);
    sp->st.segments = sp->disk_segments;
    uint64_t oldest = 0;
    if (sp->ra_head)
        oldest = rec_hdr_decode(sp->ra_head->data + sp->ra_head->pos).ms;
    else if (sp->disk_unread && sp->unread_oldest_ms)
        oldest = sp->unread_oldest_ms;
    else if (sp->held.done < sp->held.len)
        oldest = buf_first(&sp->held, sp->held.done).ms;
    else if (sp->queue.len > 0)
        oldest = buf_first(&sp->queue, 0).ms;
    sp->st.oldest_ms = sp->st.spans > 0 ? oldest : 0;
}

static void finish_close(uv_handle_t *h)
{
    struct spool *sp = h->data;
    spool_closed_cb done = sp->closed;
    void *arg = sp->closed_arg;
    chunks_free(sp->ra_head);
    buf_free(&sp->queue);
    buf_free(&sp->held);
    free(sp->d.segs);
    free(sp->dir);
    free(sp->name);
    free(sp);
    if (done)
        done(arg);
}

static uint64_t buf_spans(const struct buf *b)
{
    uint64_t spans = 0;
    for (size_t at = b->done; at < b->len; at += REC_HDR + buf_first(b, at).len)
        spans += buf_first(b, at).spans;
    return spans;
}

static void closed_with_job_done(struct spool *sp)
{
    uint64_t unwritten = buf_spans(&sp->queue) + buf_spans(&sp->held);
    if (unwritten > 0) {
        sp->st.lost_spans += unwritten;
        struct log_field f[] = { LOG_STR("lane", sp->name), LOG_INT("spans", unwritten) };
        log_write(LOG_WARNING, LOGGER, "spool closed with spans it could not write", f, 2);
    }
    uv_close((uv_handle_t *)&sp->timer, finish_close);
}

static void after_job(uv_work_t *w, int status)
{
    struct spool *sp = w->data;
    struct job *j = &sp->job;
    (void)status;
    sp->job_running = 0;
    for (int i = 0; i < j->nevents; i++)
        log_event(sp, &j->events[i]);
    if (j->recovered) {
        sp->recovered = 1;
        sp->ack_seq = j->ack_seq;
        sp->ack_off = j->ack_off;
        sp->st.recovered_spans += j->recovered_spans;
        sp->st.recovered_records += j->recovered_records;
        sp->st.spans += j->recovered_spans;
        sp->st.records += j->recovered_records;
        log_recovery(sp, j);
    }
    sp->st.torn_bytes += j->torn_bytes;
    sp->st.quarantined += j->quarantined;
    sp->st.lost_spans += j->lost_spans;
    sp->st.spans -= j->lost_spans;
    sp->st.records -= j->lost_records;
    if (j->synced) {
        sp->last_sync_at = uv_now(sp->loop);
        sp->st.syncs++;
    }
    if (j->write)
        sp->held.done = j->written_to;
    if (sp->held.done == sp->held.len)
        buf_clear(&sp->held);
    take_chunks(sp, j->chunks);
    sp->disk_bytes = sp->d.bytes;
    sp->disk_segments = sp->d.nsegs;
    sp->disk_unread = find_read_seg(&sp->d) != NULL;
    /* Nothing read back is waiting to be popped: everything before the read position
     * is acknowledged, records lost to a bad segment included. */
    if (sp->ra_head == NULL) {
        sp->ack_seq = sp->d.read_seq;
        sp->ack_off = sp->d.read_off;
    }
    sp->unread_oldest_ms = j->unread_oldest_ms;
    if (j->err)
        went_down(sp, j);
    else if (sp->down && j->write && !j->room)
        sp->retry_at = uv_now(sp->loop) + sp->retry_ms; /* still no room: try later */
    else if (sp->recovered && (!sp->down || j->write))
        came_up(sp); /* a job that did not write says nothing of the disk */
    update_gauges(sp);

    if (sp->closing) {
        if (j->closing)
            closed_with_job_done(sp);
        else
            start_job(sp);
        return;
    }
    arm_timer(sp);
    start_job(sp);
    if (sp->wake)
        sp->wake(sp->arg);
}

/* Something for a job to do now? */
static int job_wanted(struct spool *sp)
{
    if (sp->closing)
        return 1;
    uint64_t now = uv_now(sp->loop);
    int may_write = !sp->down || now >= sp->retry_at;
    if (!sp->recovered)
        return may_write;
    if (may_write && (sp->held.len > sp->held.done || sp->queue.len > 0))
        return 1;
    if (sp->disk_unread && sp->ra_bytes < sp->read_bytes / 2)
        return 1;
    if (sp->ra_head == NULL && sp->d.nsegs > 0 && seg_acked(&sp->d.segs[0], sp->ack_seq, sp->ack_off))
        return 1; /* everything read back and popped: delete the segments */
    if (sp->sync == SPOOL_SYNC_INTERVAL && sp->d.unsynced &&
        now >= sp->last_sync_at + sp->sync_interval_ms)
        return 1;
    return 0;
}

static void start_job(struct spool *sp)
{
    if (sp->job_running || !job_wanted(sp))
        return;
    uint64_t now = uv_now(sp->loop);
    struct job *j = &sp->job;
    *j = (struct job){ 0 };
    int may_write = sp->closing || !sp->down || now >= sp->retry_at;
    j->recover = !sp->recovered && may_write;
    j->write = may_write;
    j->check_room = may_write && sp->down;
    j->closing = sp->closing;
    j->sync = sp->closing ||
              (sp->sync == SPOOL_SYNC_INTERVAL && now >= sp->last_sync_at + sp->sync_interval_ms);
    j->ack_seq = sp->ack_seq;
    j->ack_off = sp->ack_off;
    j->read_budget = sp->closing || sp->ra_bytes >= sp->read_bytes ? 0
                                                                     : sp->read_bytes - sp->ra_bytes;
    /* The ack position is only known after recovery; no deletion before it. */
    if (!sp->recovered) {
        j->ack_seq = 0;
        j->ack_off = 0;
    }
    if (may_write && sp->held.len == 0) {
        struct buf t = sp->held;
        sp->held = sp->queue;
        sp->queue = t;
        buf_clear(&sp->queue);
    }
    j->written_to = sp->held.done;
    sp->job_running = 1;
    sp->work.data = sp;
    uv_queue_work(sp->loop, &sp->work, job_run, after_job);
}

static int name_ok(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.' || strlen(name) > 128)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

struct spool *spool_open(uv_loop_t *loop, const struct spool_options *o, spool_wake_cb wake,
                         void *arg)
{
    if (o->dir == NULL || o->dir[0] == '\0' || !name_ok(o->name) || o->max_bytes == 0)
        return NULL;
    struct spool *sp = calloc(1, sizeof *sp);
    if (sp == NULL)
        return NULL;
    size_t n = strlen(o->dir) + strlen(o->name) + 2;
    sp->dir = malloc(n);
    sp->name = strdup(o->name);
    if (sp->dir == NULL || sp->name == NULL) {
        free(sp->dir);
        free(sp->name);
        free(sp);
        return NULL;
    }
    snprintf(sp->dir, n, "%s/%s", o->dir, o->name);
    sp->loop = loop;
    sp->max_bytes = o->max_bytes;
    sp->sync = o->sync;
    sp->sync_interval_ms = o->sync_interval_ms ? o->sync_interval_ms : DEFAULT_SYNC_MS;
    sp->retry_ms = o->retry_ms ? o->retry_ms : DEFAULT_RETRY_MS;
    sp->queue_bytes = o->queue_bytes ? o->queue_bytes : DEFAULT_QUEUE_BYTES;
    sp->read_bytes = sp->queue_bytes;
    uint64_t seg = o->segment_bytes ? o->segment_bytes : o->max_bytes / 16;
    if (!o->segment_bytes)
        seg = seg < MIN_SEGMENT ? MIN_SEGMENT : seg > MAX_SEGMENT ? MAX_SEGMENT : seg;
    sp->segment_bytes = seg > SEG_HDR ? seg : SEG_HDR + 1;
    sp->wake = wake;
    sp->arg = arg;
    sp->d.wfd = sp->d.rfd = sp->d.lockfd = -1;
    uv_timer_init(loop, &sp->timer);
    sp->timer.data = sp;
    start_job(sp);
    return sp;
}

enum spool_append_result spool_append(struct spool *sp, const void *data, size_t len,
                                      uint32_t spans)
{
    if (!sp->recovered || sp->down || sp->closing)
        return SPOOL_DOWN;
    if (len > MAX_RECORD)
        return SPOOL_FULL;
    size_t rec = REC_HDR + len;
    uint64_t held = sp->held.len - sp->held.done;
    if (sp->disk_bytes + held + sp->queue.len + rec + SEG_HDR > sp->max_bytes)
        return SPOOL_FULL;
    if (sp->queue.len > 0 && sp->queue.len + rec > sp->queue_bytes)
        return SPOOL_BUSY;
    if (buf_reserve(&sp->queue, rec) != 0)
        return SPOOL_BUSY;
    uint8_t *p = sp->queue.data + sp->queue.len;
    if (len > 0)
        memcpy(p + REC_HDR, data, len);
    rec_hdr_encode(p, (uint32_t)len, spans, wall_ms(), p + REC_HDR);
    sp->queue.len += rec;
    sp->st.spans += spans;
    sp->st.records++;
    update_gauges(sp);
    start_job(sp);
    return SPOOL_OK;
}

void spool_unbound(struct spool *sp)
{
    sp->queue_bytes = SIZE_MAX;
}

int spool_peek(struct spool *sp, const uint8_t **data, size_t *len, uint32_t *spans)
{
    struct chunk *c = sp->ra_head;
    if (c == NULL)
        return -1;
    struct rec_hdr rh = rec_hdr_decode(c->data + c->pos);
    *data = c->data + c->pos + REC_HDR;
    *len = rh.len;
    *spans = rh.spans;
    return 0;
}

void spool_pop(struct spool *sp)
{
    struct chunk *c = sp->ra_head;
    if (c == NULL)
        return;
    struct rec_hdr rh = rec_hdr_decode(c->data + c->pos);
    c->pos += REC_HDR + rh.len;
    sp->ra_bytes -= REC_HDR + rh.len;
    sp->ack_seq = c->seq;
    sp->ack_off = c->off + c->pos;
    sp->st.spans -= rh.spans;
    sp->st.records--;
    if (c->pos == c->len) {
        sp->ra_head = c->next;
        if (sp->ra_head == NULL)
            sp->ra_tail = NULL;
        free(c->data);
        free(c);
    }
    update_gauges(sp);
    start_job(sp);
}

int spool_empty(const struct spool *sp)
{
    return sp->st.records == 0;
}

const struct spool_stats *spool_stats(const struct spool *sp)
{
    return &sp->st;
}

void spool_close(struct spool *sp, spool_closed_cb done, void *arg)
{
    sp->closing = 1;
    sp->st.up = 0;
    sp->closed = done;
    sp->closed_arg = arg;
    uv_timer_stop(&sp->timer);
    start_job(sp);
}
