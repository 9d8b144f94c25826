/* ring.c — the byte-bounded record FIFO behind ring.h.
 *
 * Layout: one buffer of cap bytes (a multiple of 8). Each record is an 8-byte header
 * (payload length, span count) followed by the payload padded to 8, so every header
 * and payload starts 8-aligned. Records are written at tail and read at head. When the
 * space between tail and the end of the buffer is too small for a record, the writer
 * leaves it unused, remembers where the data stops (wrap) and writes at offset 0, as
 * in a bip buffer; the reader jumps back to 0 when it reaches wrap. Skipped space is
 * counted in used until the reader passes it, so used never exceeds cap. */
#include "export/ring.h"

#include <stdlib.h>
#include <string.h>

#define RING_ALIGN 8

struct ring_hdr {
    uint32_t len;
    uint32_t spans;
};

struct ring {
    uint8_t *buf;
    size_t cap;      /* usable bytes, a multiple of RING_ALIGN */
    size_t head;     /* offset of the oldest record */
    size_t tail;     /* offset where the next record goes */
    size_t wrap;     /* where the data before a jump to 0 ends; cap when there is no jump */
    size_t used;     /* record bytes plus skipped space, <= cap */
    size_t records;
    uint64_t spans;
    int reserved;    /* ring_reserve's room is held: */
    size_t res_at;   /* where its header goes, */
    size_t res_skip; /* the end space given up to place it at 0, */
    size_t res_max;  /* and the longest record it holds */
};

static size_t align_up(size_t n)
{
    return (n + RING_ALIGN - 1) & ~(size_t)(RING_ALIGN - 1);
}

struct ring *ring_new(size_t capacity)
{
    size_t cap = capacity & ~(size_t)(RING_ALIGN - 1);
    if (cap == 0)
        return NULL;

    struct ring *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->buf = malloc(cap);
    if (r->buf == NULL) {
        free(r);
        return NULL;
    }
    r->cap = cap;
    r->wrap = cap;
    return r;
}

void ring_free(struct ring *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    free(r);
}

/* Where a record of need bytes can go, or -1. *skip is the space at the end of the
 * buffer that must be given up to place it at 0. */
static int ring_find_space(const struct ring *r, size_t need, size_t *at, size_t *skip)
{
    *skip = 0;
    /* Data wrapped (or the ring is full): the only free space is between tail and head. */
    if (r->used > 0 && r->tail <= r->head) {
        if (r->head - r->tail < need)
            return -1;
        *at = r->tail;
        return 0;
    }
    if (r->cap - r->tail >= need) {
        *at = r->tail;
        return 0;
    }
    if (r->head >= need) {
        *at = 0;
        *skip = r->cap - r->tail;
        return 0;
    }
    return -1;
}

/* Where a record of len bytes goes (its header), or -1 when it does not fit now or
 * never can (longer than the capacity allows, or 4 GiB and more). */
static int ring_place(const struct ring *r, size_t len, size_t *at, size_t *skip)
{
    if (len > r->cap - sizeof(struct ring_hdr) || len > UINT32_MAX)
        return -1;
    return ring_find_space(r, sizeof(struct ring_hdr) + align_up(len), at, skip);
}

/* Makes the len bytes after the header at `at` the newest record. */
static void ring_add(struct ring *r, size_t at, size_t skip, size_t len, uint32_t spans)
{
    size_t need = sizeof(struct ring_hdr) + align_up(len);
    if (r->records == 0) {
        /* Empty (pops since a reserve may have moved head): the record is the head. */
        r->head = at;
        r->wrap = r->cap;
        skip = 0;
    } else if (skip > 0) {
        r->wrap = r->tail;
    }
    struct ring_hdr h = { (uint32_t)len, spans };
    memcpy(r->buf + at, &h, sizeof h);
    r->tail = at + need;
    if (r->tail == r->cap)
        r->tail = 0;
    r->used += skip + need;
    r->records++;
    r->spans += spans;
}

int ring_push(struct ring *r, const void *data, size_t len, uint32_t spans)
{
    size_t at, skip;
    r->reserved = 0;
    if (ring_place(r, len, &at, &skip) != 0)
        return -1;
    if (len > 0)
        memcpy(r->buf + at + sizeof(struct ring_hdr), data, len);
    ring_add(r, at, skip, len, spans);
    return 0;
}

uint8_t *ring_reserve(struct ring *r, size_t max)
{
    r->reserved = 0;
    if (ring_place(r, max, &r->res_at, &r->res_skip) != 0)
        return NULL;
    r->reserved = 1;
    r->res_max = max;
    return r->buf + r->res_at + sizeof(struct ring_hdr);
}

int ring_commit(struct ring *r, size_t len, uint32_t spans)
{
    if (!r->reserved || len > r->res_max)
        return -1;
    r->reserved = 0;
    ring_add(r, r->res_at, r->res_skip, len, spans);
    return 0;
}

static struct ring_hdr ring_head_hdr(const struct ring *r)
{
    struct ring_hdr h;
    memcpy(&h, r->buf + r->head, sizeof h);
    return h;
}

int ring_peek(const struct ring *r, const uint8_t **data, size_t *len, uint32_t *spans)
{
    if (r->records == 0)
        return -1;
    struct ring_hdr h = ring_head_hdr(r);
    *data = r->buf + r->head + sizeof h;
    *len = h.len;
    *spans = h.spans;
    return 0;
}

void ring_pop(struct ring *r)
{
    if (r->records == 0)
        return;
    struct ring_hdr h = ring_head_hdr(r);
    size_t size = sizeof h + align_up(h.len);

    r->head += size;
    r->used -= size;
    r->records--;
    r->spans -= h.spans;

    if (r->head == r->wrap) {
        r->used -= r->cap - r->wrap;
        r->head = 0;
        r->wrap = r->cap;
    }
    /* Starting over at 0 when empty gives the next writer the whole buffer in one piece. */
    if (r->records == 0) {
        r->head = 0;
        r->tail = 0;
    }
}

size_t ring_bytes(const struct ring *r)
{
    return r->used;
}

size_t ring_capacity(const struct ring *r)
{
    return r->cap;
}

uint64_t ring_spans(const struct ring *r)
{
    return r->spans;
}

size_t ring_records(const struct ring *r)
{
    return r->records;
}
