/* fuzz_spool.c — libFuzzer target for spool recovery: arbitrary bytes as a segment file.
 * Whatever the file holds, the spool starts, keeps only records whose checksum holds,
 * reads back exactly what recovery counted (records and spans, nothing lost), and
 * leaves a segment that a second recovery finds whole or no segment at all. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "export/spool.h"

static char base[64];
static char lane_dir[96];
static uv_loop_t loop;
static int closed;

static void clean_dir(void)
{
    DIR *d = opendir(lane_dir);
    if (d == NULL)
        return;
    struct dirent *de;
    char path[512];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", lane_dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

static void remove_all(void)
{
    clean_dir();
    rmdir(lane_dir);
    rmdir(base);
}

static void init_once(void)
{
    if (base[0])
        return;
    snprintf(base, sizeof base, "/tmp/fuzz_spool.XXXXXX");
    if (mkdtemp(base) == NULL)
        abort();
    snprintf(lane_dir, sizeof lane_dir, "%s/l", base);
    if (mkdir(lane_dir, 0700) != 0)
        abort();
    uv_loop_init(&loop);
    log_init(LOG_ERROR, stderr);
    atexit(remove_all);
}

static void on_closed(void *arg)
{
    (void)arg;
    closed = 1;
}

static struct spool *start(void)
{
    struct spool_options o = { .dir = base, .name = "l", .max_bytes = 1 << 20,
                               .sync = SPOOL_SYNC_NEVER, .queue_bytes = 4096 };
    struct spool *sp = spool_open(&loop, &o, NULL, NULL);
    if (sp == NULL)
        abort();
    while (!spool_stats(sp)->up) {
        if (spool_stats(sp)->disk_errors)
            abort();
        uv_run(&loop, UV_RUN_ONCE);
    }
    return sp;
}

static void stop(struct spool *sp)
{
    closed = 0;
    spool_close(sp, on_closed, NULL);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    clean_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/0000000000000001.seg", lane_dir);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();

    struct spool *sp = start();
    const struct spool_stats *st = spool_stats(sp);
    uint64_t want_records = st->recovered_records, want_spans = st->recovered_spans;
    if (st->spans != want_spans || st->records != want_records)
        abort();
    stop(sp);

    /* What the first recovery kept, a second one finds whole. */
    sp = start();
    st = spool_stats(sp);
    if (st->recovered_records != want_records || st->torn_bytes != 0 || st->quarantined != 0)
        abort();
    uint64_t records = 0, spans = 0;
    while (!spool_empty(sp)) {
        const uint8_t *rec;
        size_t len;
        uint32_t n;
        if (spool_peek(sp, &rec, &len, &n) == 0) {
            records++;
            spans += n;
            spool_pop(sp);
        } else {
            uv_run(&loop, UV_RUN_ONCE);
        }
    }
    if (records != want_records || spans != want_spans || st->lost_spans != 0)
        abort();
    stop(sp);
    return 0;
}
