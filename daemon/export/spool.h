/* spool.h — a lane's records on disk, past its ring (DESIGN.md decision 14).
 *
 * A spool is a directory (dir/name, one per lane) of append-only segment files
 * "<16 hex digits>.seg", numbered in write order, and a file "cursor" saying how far
 * the reader has acknowledged. A segment starts with a 16-byte header (magic
 * "SRSPOOL\n", format version, CRC-32 of both); each record is a 20-byte header (length,
 * span count, wall-clock time in ms, CRC-32 of header and payload, all little-endian)
 * and the payload: what the ring holds, encoded ExportTraceServiceRequest bytes.
 *
 * Records come back in the order they went in. A record is acknowledged when the
 * caller pops it; a segment whose records are all acknowledged is deleted.
 *
 * Every disk access runs on libuv's thread pool, one job at a time per spool
 * (uv_queue_work: a job writes the queued records, rotates and deletes segments,
 * fsyncs, reads ahead, all as plain blocking calls), so the loop never waits on a disk.
 * The loop side only copies records into a bounded write queue and takes them from a
 * bounded read-ahead buffer.
 *
 * Recovery (the first job after spool_open) reads every segment, keeps every whole
 * record, truncates a torn tail, deletes segments the cursor says were acknowledged and
 * renames an unreadable segment to "<name>.bad" (logged, counted); it never fails the
 * daemon. A disk error (full, EIO, read-only, no permission) makes the spool refuse
 * appends — the caller keeps to memory — with one WARNING; after retry_ms the queued
 * records are written again and, once that works and the disk has room for another
 * write queue (or segment, if smaller), appends are accepted again (INFO).
 *
 * Logs: logger "spanrelay.spool", field "lane". Loop thread only, except the jobs. */
#ifndef SPANRELAY_SPOOL_H
#define SPANRELAY_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum spool_sync {
    SPOOL_SYNC_INTERVAL, /* fdatasync at most every sync_interval_ms while data is unsynced */
    SPOOL_SYNC_ALWAYS,   /* fdatasync after every write */
    SPOOL_SYNC_NEVER     /* the kernel decides; fdatasync only when the spool is closed */
};

struct spool_options {
    const char *dir;           /* buffer.spool.dir: created when missing */
    const char *name;          /* lane name: the subdirectory and the "lane" log field;
                                  letters, digits, '-', '_', '.', not starting with '.' */
    uint64_t max_bytes;        /* bound on the segment files' total size (headers included) */
    enum spool_sync sync;
    uint64_t sync_interval_ms; /* SPOOL_SYNC_INTERVAL; 0 means 1000 */
    uint64_t retry_ms;         /* memory-only time after a disk error; 0 means 5000 */
    size_t segment_bytes;      /* a segment is closed past this; 0: max_bytes / 16
                                  within [64 KiB, 64 MiB] */
    size_t queue_bytes;        /* bound of the write queue and of the read-ahead, each;
                                  0 means 1 MiB. A record larger than that is still taken
                                  when the queue is empty. */
};

/* Called on the loop whenever spool_peek may return a record it did not before, or
 * spool_append may take a record it refused with SPOOL_BUSY. */
typedef void (*spool_wake_cb)(void *arg);

/* What spool_append did with a record. */
enum spool_append_result {
    SPOOL_OK = 0,    /* taken: counted in spool_stats.spans from now on */
    SPOOL_BUSY = 1,  /* the write queue is full: try again after the wake callback */
    SPOOL_FULL = 2,  /* max_bytes would be passed */
    SPOOL_DOWN = 3   /* the disk failed (or recovery has not finished): memory only */
};

/* The spool's counters and gauges, owned by the spool. spans is the `spooled` term of
 * the accounting equation: every span appended or recovered and not yet popped or lost. */
struct spool_stats {
    uint64_t spans;              /* gauge */
    uint64_t records;            /* gauge */
    uint64_t bytes;              /* gauge: segment files plus the write queue */
    uint64_t segments;           /* gauge: segment files */
    uint64_t oldest_ms;          /* gauge: wall-clock ms of the oldest record held; 0 if none */
    int up;                      /* 1 while appends are taken (recovery done, disk healthy) */
    uint64_t recovered_spans;    /* spans found on disk at start (from an earlier process) */
    uint64_t recovered_records;
    uint64_t torn_bytes;         /* bytes cut from segment tails by recovery */
    uint64_t quarantined;        /* segments renamed to .bad */
    uint64_t disk_errors;        /* times the spool went memory-only */
    uint64_t syncs;              /* jobs that ended with an fsync */
    uint64_t lost_spans;         /* spans taken but unreadable later (disk went bad), or
                                    still queued when a close could not write them */
};

struct spool;

/* Starts the spool: allocates it and queues the recovery job. NULL only when memory is
 * short or the options are unusable (bad name, zero max_bytes); a directory that cannot
 * be used is a disk error, not a failure. */
struct spool *spool_open(uv_loop_t *loop, const struct spool_options *opts,
                         spool_wake_cb wake, void *arg);

/* Copies a record of len bytes carrying spans spans into the write queue. */
enum spool_append_result spool_append(struct spool *sp, const void *data, size_t len,
                                      uint32_t spans);

/* Shutdown: from now on the write queue takes every record (no SPOOL_BUSY), so what
 * memory still holds can go to disk at once; it may then hold as much as the ring. */
void spool_unbound(struct spool *sp);

/* The oldest record not yet popped, once read back into memory; -1 when none is ready
 * now (the wake callback tells when one is). The pointer is valid until the next pop. */
int spool_peek(struct spool *sp, const uint8_t **data, size_t *len, uint32_t *spans);

/* Acknowledges the record spool_peek returned: it leaves the spool for good. */
void spool_pop(struct spool *sp);

/* 1 while the spool holds no record at all (nothing queued, on disk or read ahead). */
int spool_empty(const struct spool *sp);

const struct spool_stats *spool_stats(const struct spool *sp);

/* Writes what is queued, fsyncs (whatever the sync mode), records the cursor, and frees
 * the spool; done(arg) is called on the loop when that is over. The caller runs the
 * loop until then. Records still held stay on disk for the next process. */
typedef void (*spool_closed_cb)(void *arg);
void spool_close(struct spool *sp, spool_closed_cb done, void *arg);

#endif
