/* test_spool.c — spool.c on real files: the on-disk format byte for byte, read-back
 * order and content across segments, acknowledgement and deletion, recovery (a torn
 * tail cut at every offset, corrupt records and headers, the cursor), the bounds
 * (max_bytes, the write queue), the sync modes, and disk trouble — a full tmpfs and a
 * read-only one mounted by the test — with the WARNING lines and counters an operator
 * sees. Each test gets its own directory and loop, removed in the teardown. */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#include "base/log.h"
#include "export/spool.h"

#define SEG_HDR 16
#define REC_HDR 20
#define LANE "primary"
#define WAIT_MS 10000

static char base[256];     /* the spool directory given to spool_open */
static char lane_dir[300]; /* base/LANE */
static uv_loop_t loop;
static FILE *log_file;
static int mounted;
static int wakes;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(base, sizeof base, "/tmp/spool_test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(lane_dir, sizeof lane_dir, "%s/%s", base, LANE);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    log_file = tmpfile();
    ck_assert_ptr_nonnull(log_file);
    log_init(LOG_DEBUG, getenv("SPOOL_TEST_LOG") ? stderr : log_file);
    mounted = 0;
    wakes = 0;
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    if (mounted)
        umount2(base, MNT_DETACH);
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    log_init(LOG_INFO, stderr);
    fclose(log_file);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop until cond holds; fails the test after WAIT_MS. */
static void run_until(int (*cond)(struct spool *), struct spool *sp, const char *what)
{
    uint64_t end = mono_ms() + WAIT_MS;
    while (!cond(sp)) {
        if (mono_ms() > end)
            ck_abort_msg("timed out waiting for %s", what);
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(200);
    }
}

static int is_up(struct spool *sp)
{
    return spool_stats(sp)->up;
}

static int is_down(struct spool *sp)
{
    return spool_stats(sp)->disk_errors > 0;
}

static int has_record(struct spool *sp)
{
    const uint8_t *d;
    size_t len;
    uint32_t spans;
    return spool_peek(sp, &d, &len, &spans) == 0;
}

static void on_wake(void *arg)
{
    (void)arg;
    wakes++;
}

static int drained(struct spool *sp)
{
    return spool_empty(sp);
}

static struct spool_options opts(void)
{
    return (struct spool_options){ .dir = base, .name = LANE, .max_bytes = 10 << 20,
                                   .sync = SPOOL_SYNC_NEVER };
}

static struct spool *open_up(const struct spool_options *o)
{
    struct spool *sp = spool_open(&loop, o, on_wake, NULL);
    ck_assert_ptr_nonnull(sp);
    run_until(is_up, sp, "recovery");
    return sp;
}

static int closed;

static void on_closed(void *arg)
{
    (void)arg;
    closed = 1;
}

static void close_sp(struct spool *sp)
{
    closed = 0;
    spool_close(sp, on_closed, NULL);
    uint64_t end = mono_ms() + WAIT_MS;
    while (!closed) {
        if (mono_ms() > end)
            ck_abort_msg("timed out closing the spool");
        uv_run(&loop, UV_RUN_ONCE);
    }
}

/* Record tag t: t + 1 spans, 50 + 37 * (t % 11) bytes of a pattern. */
static size_t rec_len(uint32_t t)
{
    return 50 + 37 * (t % 11);
}

static void fill(uint8_t *p, size_t len, uint32_t t)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(t * 131u + i * 7u);
}

static enum spool_append_result append_tag(struct spool *sp, uint32_t t)
{
    uint8_t buf[1024];
    size_t len = rec_len(t);
    fill(buf, len, t);
    return spool_append(sp, buf, len, t + 1);
}

/* Pops the next record, waiting for it, and checks it is tag t. */
static void pop_expect(struct spool *sp, uint32_t t)
{
    run_until(has_record, sp, "a record");
    const uint8_t *d;
    size_t len;
    uint32_t spans;
    ck_assert_int_eq(spool_peek(sp, &d, &len, &spans), 0);
    uint8_t want[1024];
    fill(want, rec_len(t), t);
    ck_assert_msg(len == rec_len(t) && spans == t + 1 && memcmp(d, want, len) == 0,
                  "record %u: got %zu bytes, %u spans", t, len, spans);
    spool_pop(sp);
}

static uint64_t spans_of(uint32_t from, uint32_t to)
{
    uint64_t n = 0;
    for (uint32_t t = from; t < to; t++)
        n += t + 1;
    return n;
}

/* Appends records [from, to), waiting whenever the write queue is full. */
static void append_range(struct spool *sp, uint32_t from, uint32_t to)
{
    uint64_t end = mono_ms() + WAIT_MS;
    for (uint32_t t = from; t < to;) {
        enum spool_append_result r = append_tag(sp, t);
        if (r == SPOOL_BUSY) {
            ck_assert_msg(mono_ms() < end, "write queue stuck");
            uv_run(&loop, UV_RUN_ONCE);
            continue;
        }
        ck_assert_int_eq(r, SPOOL_OK);
        t++;
    }
}

static int seg_count(void)
{
    int n = 0;
    DIR *d = opendir(lane_dir);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strlen(de->d_name) == 20 && strcmp(de->d_name + 16, ".seg") == 0;
    closedir(d);
    return n;
}

static void seg_path(char *out, size_t n, uint64_t seq)
{
    snprintf(out, n, "%s/%016llx.seg", lane_dir, (unsigned long long)seq);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_file(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* The log lines written so far that contain every one of the given strings. */
static int log_lines(const char *a, const char *b)
{
    fflush(log_file);
    rewind(log_file);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, log_file))
        n += strstr(line, a) && (!b || strstr(line, b));
    fseek(log_file, 0, SEEK_END);
    return n;
}

/* Writes records [0, n) in one segment and closes the spool: the file to play with. */
static uint8_t *make_segment(uint32_t n, size_t *len)
{
    struct spool_options o = opts();
    struct spool *sp = open_up(&o);
    append_range(sp, 0, n);
    close_sp(sp);
    char path[512];
    seg_path(path, sizeof path, 1);
    return read_file(path, len);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

START_TEST(test_format)
{
    uint64_t before = (uint64_t)time(NULL) * 1000;
    size_t len;
    uint8_t *seg = make_segment(3, &len);
    uint64_t after = (uint64_t)time(NULL) * 1000 + 1000;

    ck_assert_mem_eq(seg, "SRSPOOL\n", 8);
    ck_assert_uint_eq(le32(seg + 8), 1);
    ck_assert_uint_eq(le32(seg + 12), crc32(0, seg, 12));
    size_t at = SEG_HDR;
    for (uint32_t t = 0; t < 3; t++) {
        const uint8_t *h = seg + at;
        ck_assert_uint_eq(le32(h), rec_len(t));
        ck_assert_uint_eq(le32(h + 4), t + 1);
        uint64_t ms = le32(h + 8) | (uint64_t)le32(h + 12) << 32;
        ck_assert(ms >= before && ms <= after);
        uint32_t c = (uint32_t)crc32(crc32(0, h, 16), h + REC_HDR, (uInt)rec_len(t));
        ck_assert_uint_eq(le32(h + 16), c);
        uint8_t want[1024];
        fill(want, rec_len(t), t);
        ck_assert_mem_eq(h + REC_HDR, want, rec_len(t));
        at += REC_HDR + rec_len(t);
    }
    ck_assert_uint_eq(at, len);
    free(seg);
}
END_TEST

/* Records come back in order across many segments; popped segments are deleted and
 * the gauges return to zero. */
START_TEST(test_order_and_deletion)
{
    struct spool_options o = opts();
    o.segment_bytes = 2048;
    o.queue_bytes = 1500;
    struct spool *sp = open_up(&o);
    const struct spool_stats *st = spool_stats(sp);
    uint32_t n = 400, appended = 0, popped = 0;
    while (popped < n) {
        while (appended < n) {
            enum spool_append_result r = append_tag(sp, appended);
            if (r == SPOOL_BUSY)
                break;
            ck_assert_int_eq(r, SPOOL_OK);
            appended++;
        }
        ck_assert_uint_eq(st->spans, spans_of(popped, appended));
        ck_assert_uint_eq(st->records, appended - popped);
        if (appended == n && popped == 0) {
            run_until(has_record, sp, "read-back");
            ck_assert_int_gt(seg_count(), 5);
            ck_assert_uint_eq(st->segments, (uint64_t)seg_count());
            ck_assert_uint_gt(st->bytes, 2048 * 5);
        }
        pop_expect(sp, popped++);
    }
    ck_assert(spool_empty(sp));
    ck_assert_uint_eq(st->spans, 0);
    ck_assert_uint_eq(st->oldest_ms, 0);
    uint64_t end = mono_ms() + WAIT_MS;
    while (seg_count() > 0 || st->segments > 0) {
        ck_assert_msg(mono_ms() < end, "acknowledged segments not deleted");
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ck_assert_uint_eq(st->bytes, 0);
    ck_assert_int_gt(wakes, 0);
    close_sp(sp);
}
END_TEST

/* What one process spooled, the next one finds and reads back, counted as recovered. */
START_TEST(test_reopen_recovers)
{
    struct spool_options o = opts();
    o.segment_bytes = 4096;
    struct spool *sp = open_up(&o);
    append_range(sp, 0, 100);
    close_sp(sp);
    ck_assert_int_gt(seg_count(), 2);

    sp = open_up(&o);
    const struct spool_stats *st = spool_stats(sp);
    ck_assert_uint_eq(st->recovered_records, 100);
    ck_assert_uint_eq(st->recovered_spans, spans_of(0, 100));
    ck_assert_uint_eq(st->spans, spans_of(0, 100));
    ck_assert_uint_eq(st->torn_bytes, 0);
    ck_assert_int_eq(log_lines("spool recovered", "\"records\":100"), 1);
    /* New records go after the recovered ones. */
    append_range(sp, 100, 110);
    for (uint32_t t = 0; t < 110; t++)
        pop_expect(sp, t);
    ck_assert(spool_empty(sp));
    close_sp(sp);
    ck_assert_int_eq(seg_count(), 0);
}
END_TEST

/* Popped records are not read again by the next process: the cursor says how far. */
START_TEST(test_cursor_skips_acknowledged)
{
    struct spool_options o = opts();
    o.segment_bytes = 4096;
    o.queue_bytes = 600;
    struct spool *sp = open_up(&o);
    append_range(sp, 0, 60);
    for (uint32_t t = 0; t < 37; t++)
        pop_expect(sp, t);
    close_sp(sp);

    sp = open_up(&o);
    ck_assert_uint_eq(spool_stats(sp)->recovered_records, 23);
    ck_assert_uint_eq(spool_stats(sp)->recovered_spans, spans_of(37, 60));
    for (uint32_t t = 37; t < 60; t++)
        pop_expect(sp, t);
    close_sp(sp);
}
END_TEST

/* A cursor that does not check out: every record is read again (at least once), and
 * the operator is told. */
START_TEST(test_corrupt_cursor)
{
    struct spool_options o = opts();
    struct spool *sp = open_up(&o);
    append_range(sp, 0, 10);
    for (uint32_t t = 0; t < 4; t++)
        pop_expect(sp, t);
    close_sp(sp);
    char path[512];
    snprintf(path, sizeof path, "%s/cursor", lane_dir);
    ck_assert_int_eq(file_size(path), 24);
    write_file(path, (const uint8_t *)"garbage garbage garbage!", 24);

    sp = open_up(&o);
    ck_assert_uint_eq(spool_stats(sp)->recovered_records, 10);
    ck_assert_int_eq(log_lines("WARNING", "spool cursor unreadable"), 1);
    for (uint32_t t = 0; t < 10; t++)
        pop_expect(sp, t);
    close_sp(sp);
}
END_TEST

/* A segment cut at every byte offset is recovered up to its last whole record, the
 * file is truncated there, and what is kept reads back intact. */
START_TEST(test_torn_tail_every_offset)
{
    size_t len;
    uint8_t *seg = make_segment(6, &len);
    size_t ends[7];
    ends[0] = SEG_HDR;
    for (uint32_t t = 0; t < 6; t++)
        ends[t + 1] = ends[t] + REC_HDR + rec_len(t);
    ck_assert_uint_eq(ends[6], len);
    char path[512];
    seg_path(path, sizeof path, 1);
    struct spool_options o = opts();

    for (size_t cut = 0; cut <= len; cut++) {
        write_file(path, seg, cut);
        uint32_t whole = 0;
        while (whole < 6 && ends[whole + 1] <= cut)
            whole++;
        struct spool *sp = open_up(&o);
        const struct spool_stats *st = spool_stats(sp);
        ck_assert_msg(st->recovered_records == whole, "cut at %zu: %llu records, want %u", cut,
                      (unsigned long long)st->recovered_records, whole);
        ck_assert_uint_eq(st->torn_bytes, cut < SEG_HDR ? cut : cut - ends[whole]);
        ck_assert_int_eq(file_size(path), whole ? (long)ends[whole] : -1);
        ck_assert_uint_eq(st->quarantined, 0);
        for (uint32_t t = 0; t < whole; t++)
            pop_expect(sp, t);
        close_sp(sp);
        unlink(path);
    }
    free(seg);
}
END_TEST

/* One flipped byte inside the third record: the first two are kept, the rest is cut
 * and logged with the reason. */
START_TEST(test_corrupt_record)
{
    size_t len;
    uint8_t *seg = make_segment(5, &len);
    size_t third = SEG_HDR + REC_HDR + rec_len(0) + REC_HDR + rec_len(1);
    seg[third + REC_HDR + 3] ^= 0x40;
    char path[512];
    seg_path(path, sizeof path, 1);
    write_file(path, seg, len);

    struct spool_options o = opts();
    struct spool *sp = open_up(&o);
    ck_assert_uint_eq(spool_stats(sp)->recovered_records, 2);
    ck_assert_uint_eq(spool_stats(sp)->torn_bytes, len - third);
    ck_assert_int_eq(file_size(path), (long)third);
    ck_assert_int_eq(log_lines("record checksum mismatch", "0000000000000001.seg"), 1);
    pop_expect(sp, 0);
    pop_expect(sp, 1);
    ck_assert(spool_empty(sp));
    close_sp(sp);
    free(seg);
}
END_TEST

/* A segment whose header is wrong (foreign file, newer format, damaged) is moved aside
 * as .bad, logged and counted; the others are recovered and the daemon goes on. */
START_TEST(test_unreadable_segment_moved_aside)
{
    size_t len;
    uint8_t *seg = make_segment(3, &len);
    char p1[512], p2[512], p3[512], bad[600];
    seg_path(p1, sizeof p1, 1);
    seg_path(p2, sizeof p2, 2);
    seg_path(p3, sizeof p3, 3);
    uint8_t *other = malloc(len);
    memcpy(other, seg, len);
    other[0] = 'X';                      /* segment 1: not ours */
    write_file(p1, other, len);
    memcpy(other, seg, len);
    other[8] = 2;                        /* segment 2: a later format version */
    write_file(p2, other, len);
    write_file(p3, seg, len);            /* segment 3: good */

    struct spool_options o = opts();
    struct spool *sp = open_up(&o);
    const struct spool_stats *st = spool_stats(sp);
    ck_assert_uint_eq(st->quarantined, 2);
    ck_assert_uint_eq(st->recovered_records, 3);
    snprintf(bad, sizeof bad, "%s.bad", p1);
    ck_assert_int_eq(file_size(bad), (long)len);
    snprintf(bad, sizeof bad, "%s.bad", p2);
    ck_assert_int_eq(file_size(bad), (long)len);
    ck_assert_int_eq(log_lines("unreadable spool segment moved aside", "bad magic"), 1);
    ck_assert_int_eq(log_lines("unreadable spool segment moved aside", "checksum"), 1);
    for (uint32_t t = 0; t < 3; t++)
        pop_expect(sp, t);
    close_sp(sp);
    free(other);
    free(seg);
}
END_TEST

/* Files that are not segments are left alone; a segment shorter than its header (the
 * process died creating it) is removed. */
START_TEST(test_stray_files)
{
    ck_assert_int_eq(mkdir(lane_dir, 0750), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/notes.txt", lane_dir);
    write_file(path, (const uint8_t *)"hello", 5);
    snprintf(path, sizeof path, "%s/0x00000000000001.seg", lane_dir);
    write_file(path, (const uint8_t *)"hello", 5);
    char short_seg[512];
    seg_path(short_seg, sizeof short_seg, 7);
    write_file(short_seg, (const uint8_t *)"SRSP", 4);

    struct spool_options o = opts();
    struct spool *sp = open_up(&o);
    ck_assert_uint_eq(spool_stats(sp)->recovered_records, 0);
    ck_assert_uint_eq(spool_stats(sp)->quarantined, 0);
    ck_assert_int_eq(file_size(short_seg), -1);
    ck_assert_int_eq(file_size(path), 5);
    /* New segments are numbered after the highest one seen. */
    append_range(sp, 0, 1);
    pop_expect(sp, 0);
    close_sp(sp);
    snprintf(path, sizeof path, "%s/notes.txt", lane_dir);
    ck_assert_int_eq(file_size(path), 5);
}
END_TEST

START_TEST(test_max_bytes)
{
    struct spool_options o = opts();
    o.max_bytes = 4096;
    struct spool *sp = open_up(&o);
    uint32_t t = 0;
    enum spool_append_result r;
    uint64_t taken = 0;
    while ((r = append_tag(sp, t)) == SPOOL_OK) {
        taken += REC_HDR + rec_len(t);
        t++;
    }
    ck_assert_int_eq(r, SPOOL_FULL);
    ck_assert_uint_le(taken + SEG_HDR, 4096);
    ck_assert_uint_gt(taken + SEG_HDR + REC_HDR + rec_len(t) + SEG_HDR, 4096);
    /* Reading everything back frees the disk: the next append is taken. */
    for (uint32_t i = 0; i < t; i++)
        pop_expect(sp, i);
    uint64_t end = mono_ms() + WAIT_MS;
    while ((r = append_tag(sp, t)) == SPOOL_FULL) {
        ck_assert_msg(mono_ms() < end, "space never came back");
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ck_assert_int_eq(r, SPOOL_OK);
    pop_expect(sp, t);
    close_sp(sp);
}
END_TEST

/* The write queue is bounded: past queue_bytes appends are BUSY until a job has taken
 * the queue, and the wake callback says when to try again. */
START_TEST(test_queue_bound)
{
    struct spool_options o = opts();
    o.queue_bytes = 1000;
    struct spool *sp = open_up(&o);
    /* The first append starts a job that takes it; the queue then fills. */
    ck_assert_int_eq(append_tag(sp, 0), SPOOL_OK);
    uint32_t t = 1;
    size_t queued = 0;
    while (queued + REC_HDR + rec_len(t) <= 1000) {
        ck_assert_int_eq(append_tag(sp, t), SPOOL_OK);
        queued += REC_HDR + rec_len(t++);
    }
    ck_assert_int_eq(append_tag(sp, t), SPOOL_BUSY);
    int before = wakes;
    uint64_t end = mono_ms() + WAIT_MS;
    while (wakes == before) {
        ck_assert_msg(mono_ms() < end, "no wake");
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(append_tag(sp, t), SPOOL_OK);
    for (uint32_t i = 0; i <= t; i++)
        pop_expect(sp, i);
    /* A record larger than the bound is taken when the queue is empty. */
    uint8_t big[5000];
    memset(big, 7, sizeof big);
    run_until(drained, sp, "drain");
    ck_assert_int_eq(spool_append(sp, big, sizeof big, 9), SPOOL_OK);
    run_until(has_record, sp, "the large record");
    const uint8_t *d;
    size_t len;
    uint32_t spans;
    ck_assert_int_eq(spool_peek(sp, &d, &len, &spans), 0);
    ck_assert_uint_eq(len, sizeof big);
    ck_assert_uint_eq(spans, 9);
    spool_pop(sp);
    close_sp(sp);
}
END_TEST

/* A record damaged on disk after it was written is dropped at read-back, with the
 * rest of its segment, counted as lost, and the spool goes on with the next segment. */
START_TEST(test_damaged_after_write)
{
    struct spool_options o = opts();
    o.segment_bytes = 1024;
    struct spool *sp = open_up(&o);
    append_range(sp, 0, 12);
    close_sp(sp);
    /* Reopen reading one record at a time, then damage segment 2 behind the reader. */
    o.queue_bytes = 64;
    sp = open_up(&o);
    run_until(has_record, sp, "first record");
    char p2[512];
    seg_path(p2, sizeof p2, 2);
    size_t len;
    uint8_t *seg = read_file(p2, &len);
    uint32_t first_in_2 = 0, n_in_2 = 0;
    {
        size_t at = 0;
        uint32_t t = 0;
        /* Which tags landed in segment 2: walk segment 1's records first. */
        char p1[512];
        seg_path(p1, sizeof p1, 1);
        size_t l1;
        uint8_t *s1 = read_file(p1, &l1);
        for (at = SEG_HDR; at < l1; at += REC_HDR + le32(s1 + at))
            t++;
        free(s1);
        first_in_2 = t;
        for (at = SEG_HDR; at < len; at += REC_HDR + le32(seg + at))
            n_in_2++;
    }
    seg[SEG_HDR + REC_HDR + 1] ^= 1;
    write_file(p2, seg, len);
    free(seg);

    uint64_t lost = spans_of(first_in_2, first_in_2 + n_in_2);
    const struct spool_stats *st = spool_stats(sp);
    for (uint32_t t = 0; t < first_in_2; t++)
        pop_expect(sp, t);
    for (uint32_t t = first_in_2 + n_in_2; t < 12; t++)
        pop_expect(sp, t);
    ck_assert_uint_eq(st->lost_spans, lost);
    ck_assert(spool_empty(sp));
    ck_assert_uint_eq(st->spans, 0);
    ck_assert_int_eq(log_lines("spooled records unreadable: dropped", "0000000000000002.seg"), 1);
    close_sp(sp);
}
END_TEST

static int synced(struct spool *sp)
{
    return spool_stats(sp)->syncs > 0;
}

START_TEST(test_sync_modes)
{
    struct spool_options o = opts();

    o.sync = SPOOL_SYNC_ALWAYS;
    struct spool *sp = open_up(&o);
    for (uint32_t t = 0; t < 5; t++) {
        uint64_t before = spool_stats(sp)->syncs;
        append_range(sp, t, t + 1);
        pop_expect(sp, t); /* read back: the job that wrote it is over */
        ck_assert_uint_gt(spool_stats(sp)->syncs, before);
    }
    close_sp(sp);

    o.sync = SPOOL_SYNC_NEVER;
    sp = open_up(&o);
    append_range(sp, 0, 5);
    for (uint32_t t = 0; t < 5; t++)
        pop_expect(sp, t);
    ck_assert_uint_eq(spool_stats(sp)->syncs, 0);
    append_range(sp, 5, 6);
    close_sp(sp); /* the close does sync, whatever the mode */

    o.sync = SPOOL_SYNC_INTERVAL;
    o.sync_interval_ms = 300;
    sp = open_up(&o);
    /* Writes within one interval share one fsync: ten writes, at most a couple. */
    uint64_t t0 = mono_ms();
    uint64_t base_syncs = spool_stats(sp)->syncs;
    for (uint32_t t = 6; t < 16; t++) {
        append_range(sp, t, t + 1);
        run_until(has_record, sp, "write");
    }
    if (mono_ms() - t0 < 300)
        ck_assert_uint_le(spool_stats(sp)->syncs - base_syncs, 1);
    run_until(synced, sp, "the interval fsync");
    for (uint32_t t = 5; t < 16; t++)
        pop_expect(sp, t);
    close_sp(sp);
}
END_TEST

/* Mounts a tmpfs on base. In check's fork mode the test is a process of its own with
 * no thread yet: a private mount namespace makes the mount go away with it, even when
 * the test fails (and teardown does not run). With CK_FORK=no the thread pool already
 * runs in the original namespace, so the mount goes there and teardown removes it. */
static int mount_tmpfs(const char *options, unsigned long flags)
{
    const char *fork_mode = getenv("CK_FORK");
    int own_ns = !(fork_mode && strcmp(fork_mode, "no") == 0);
    if ((own_ns && (unshare(CLONE_NEWNS) != 0 ||
                    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)) ||
        mount("tmpfs", base, "tmpfs", flags, options) != 0) {
        fprintf(stderr, "test_spool: cannot mount a tmpfs (%s): disk-error test skipped\n",
                strerror(errno));
        return -1;
    }
    mounted = 1;
    return 0;
}

static int back_up(struct spool *sp)
{
    return spool_stats(sp)->up;
}

/* Disk full: appends fall back (SPOOL_DOWN) with one WARNING and one counted error;
 * what was taken is kept and written once space is back; appends are taken again. */
START_TEST(test_disk_full)
{
    if (mount_tmpfs("size=64k", 0) != 0)
        return;
    char filler[512];
    snprintf(filler, sizeof filler, "%s/filler", base);
    static uint8_t junk[40 * 1024];
    write_file(filler, junk, sizeof junk);

    struct spool_options o = opts();
    o.retry_ms = 50;
    /* Up again needs room for a write queue: a small one fits what unlinking frees. */
    o.queue_bytes = 8 * 1024;
    struct spool *sp = open_up(&o);
    const struct spool_stats *st = spool_stats(sp);
    uint32_t t = 0;
    uint64_t end = mono_ms() + WAIT_MS;
    for (;;) {
        enum spool_append_result r = append_tag(sp, t);
        if (r == SPOOL_DOWN)
            break;
        if (r == SPOOL_OK)
            t++;
        ck_assert_msg(mono_ms() < end, "the disk never filled");
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ck_assert_uint_eq(st->disk_errors, 1);
    ck_assert_int_eq(st->up, 0);
    ck_assert_uint_eq(st->spans, spans_of(0, t));
    ck_assert_int_eq(log_lines("WARNING", "No space left on device"), 1);
    /* More tries while it stays full: still one WARNING, still one error. */
    usleep(200 * 1000);
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(append_tag(sp, t), SPOOL_DOWN);
    ck_assert_int_eq(log_lines("WARNING", "spool disk unusable"), 1);

    /* Space comes back, and the reader frees more as it goes. */
    unlink(filler);
    uint32_t next = 0;
    end = mono_ms() + WAIT_MS;
    while (!st->up) {
        ck_assert_msg(mono_ms() < end, "the disk never came back");
        if (has_record(sp))
            pop_expect(sp, next++);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ck_assert_int_eq(log_lines("INFO", "spool disk usable again"), 1);
    ck_assert_int_eq(append_tag(sp, t), SPOOL_OK);
    while (next <= t)
        pop_expect(sp, next++);
    ck_assert_uint_eq(st->lost_spans, 0);
    close_sp(sp);
}
END_TEST

/* A read-only directory: the spool starts anyway, memory only, and takes records once
 * the directory is writable. */
START_TEST(test_read_only_dir)
{
    if (mount_tmpfs("size=1m", MS_RDONLY) != 0)
        return;
    struct spool_options o = opts();
    o.retry_ms = 50;
    struct spool *sp = spool_open(&loop, &o, on_wake, NULL);
    ck_assert_ptr_nonnull(sp);
    run_until(is_down, sp, "the error");
    ck_assert_int_eq(append_tag(sp, 0), SPOOL_DOWN);
    ck_assert_int_eq(log_lines("WARNING", "Read-only file system"), 1);
    ck_assert_int_eq(mount("tmpfs", base, "tmpfs", MS_REMOUNT, "size=1m"), 0);
    run_until(back_up, sp, "recovery after remount");
    ck_assert_int_eq(append_tag(sp, 0), SPOOL_OK);
    pop_expect(sp, 0);
    close_sp(sp);
}
END_TEST

/* A second spool on a directory in use (another process on the same volume, two lanes
 * of one name) keeps to memory instead of writing over the first; it takes the
 * directory once the first has let go. */
START_TEST(test_one_spool_per_directory)
{
    struct spool_options o = opts();
    o.retry_ms = 50;
    struct spool *first = open_up(&o);
    append_range(first, 0, 3);
    struct spool *second = spool_open(&loop, &o, on_wake, NULL);
    ck_assert_ptr_nonnull(second);
    run_until(is_down, second, "the second spool's refusal");
    ck_assert_int_eq(append_tag(second, 100), SPOOL_DOWN);
    ck_assert_int_eq(log_lines("another spool uses this directory", "spool disk unusable"), 1);
    ck_assert_int_eq(spool_stats(first)->up, 1);
    close_sp(first);
    run_until(back_up, second, "the second spool after the first closed");
    /* It found what the first one left, in order. */
    ck_assert_uint_eq(spool_stats(second)->recovered_records, 3);
    for (uint32_t t = 0; t < 3; t++)
        pop_expect(second, t);
    close_sp(second);
}
END_TEST

/* Closing while the disk is down: what could not be written is counted lost, logged. */
START_TEST(test_close_while_down)
{
    if (mount_tmpfs("size=64k", 0) != 0)
        return;
    struct spool_options o = opts();
    o.retry_ms = 60000;
    struct spool *sp = open_up(&o);
    ck_assert_int_eq(mount("tmpfs", base, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=64k"), 0);
    ck_assert_int_eq(append_tag(sp, 0), SPOOL_OK);
    run_until(is_down, sp, "the write error");
    close_sp(sp);
    ck_assert_int_eq(log_lines("spool closed with spans it could not write", "\"spans\":1"), 1);
}
END_TEST

START_TEST(test_oldest_age)
{
    struct spool_options o = opts();
    o.queue_bytes = 64;
    struct spool *sp = open_up(&o);
    const struct spool_stats *st = spool_stats(sp);
    ck_assert_uint_eq(st->oldest_ms, 0);
    uint64_t t0 = (uint64_t)time(NULL) * 1000;
    append_range(sp, 0, 1);
    ck_assert_uint_ge(st->oldest_ms, t0);
    uint64_t first = st->oldest_ms;
    usleep(30 * 1000);
    append_range(sp, 1, 2);
    ck_assert_uint_eq(st->oldest_ms, first);
    pop_expect(sp, 0);
    run_until(has_record, sp, "second");
    ck_assert_uint_ge(st->oldest_ms, first + 20);
    pop_expect(sp, 1);
    ck_assert_uint_eq(st->oldest_ms, 0);
    close_sp(sp);
}
END_TEST

START_TEST(test_bad_options)
{
    struct spool_options o = opts();
    const char *bad[] = { "", ".", "..", ".hidden", "a/b", "x y", NULL };
    for (int i = 0; bad[i]; i++) {
        o.name = bad[i];
        ck_assert_ptr_null(spool_open(&loop, &o, on_wake, NULL));
    }
    o = opts();
    o.dir = "";
    ck_assert_ptr_null(spool_open(&loop, &o, on_wake, NULL));
    o = opts();
    o.max_bytes = 0;
    ck_assert_ptr_null(spool_open(&loop, &o, on_wake, NULL));
}
END_TEST

/* Until recovery is over the spool takes nothing: order with what is on disk. */
START_TEST(test_nothing_before_recovery)
{
    struct spool_options o = opts();
    struct spool *sp = spool_open(&loop, &o, on_wake, NULL);
    ck_assert_int_eq(append_tag(sp, 0), SPOOL_DOWN);
    run_until(is_up, sp, "recovery");
    ck_assert_int_eq(append_tag(sp, 0), SPOOL_OK);
    pop_expect(sp, 0);
    close_sp(sp);
}
END_TEST

static Suite *spool_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_order_and_deletion);
    tcase_add_test(tc, test_reopen_recovers);
    tcase_add_test(tc, test_cursor_skips_acknowledged);
    tcase_add_test(tc, test_corrupt_cursor);
    tcase_add_test(tc, test_torn_tail_every_offset);
    tcase_add_test(tc, test_corrupt_record);
    tcase_add_test(tc, test_unreadable_segment_moved_aside);
    tcase_add_test(tc, test_stray_files);
    tcase_add_test(tc, test_max_bytes);
    tcase_add_test(tc, test_queue_bound);
    tcase_add_test(tc, test_damaged_after_write);
    tcase_add_test(tc, test_sync_modes);
    tcase_add_test(tc, test_disk_full);
    tcase_add_test(tc, test_read_only_dir);
    tcase_add_test(tc, test_one_spool_per_directory);
    tcase_add_test(tc, test_close_while_down);
    tcase_add_test(tc, test_oldest_age);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_nothing_before_recovery);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(spool_suite());
}
