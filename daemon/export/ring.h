/* ring.h — a FIFO of encoded records, bounded in bytes (DESIGN.md decision 4).
 *
 * One buffer of the configured capacity, allocated once; records are stored contiguously
 * (a record never wraps: space left at the end is skipped) so a reader gets one pointer
 * per record. Push and pop are O(1) and allocate nothing. A record that does not fit is
 * refused whole: the caller drops it (drop newest) and counts its spans. */
#ifndef SPANRELAY_RING_H
#define SPANRELAY_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring;

/* A ring holding at most capacity bytes of records (headers included). The capacity is
 * rounded down to a multiple of 8; NULL when that leaves nothing or memory is short.
 * A record takes an 8-byte header plus its length rounded up to 8. */
struct ring *ring_new(size_t capacity);
void ring_free(struct ring *r);

/* Copies a record of len bytes carrying spans spans. 0, or -1 when it does not fit now
 * (or never can: longer than the capacity allows, or 4 GiB and more). The ring is
 * unchanged on -1. len may be 0; data may then be NULL. */
int ring_push(struct ring *r, const void *data, size_t len, uint32_t spans);

/* Writing a record in place, without the copy ring_push makes: ring_reserve() gives the
 * room for a record of up to max bytes (NULL when ring_push would refuse that many now),
 * the caller writes at most max bytes there, and ring_commit() makes the first len of
 * them a record carrying spans spans; -1 (ring unchanged) when no room is held or len >
 * max. Pops in between are allowed; a push or another reserve gives the room up. */
uint8_t *ring_reserve(struct ring *r, size_t max);
int ring_commit(struct ring *r, size_t len, uint32_t spans);

/* The oldest record, or -1 when empty. The pointer is valid until the next pop. */
int ring_peek(const struct ring *r, const uint8_t **data, size_t *len, uint32_t *spans);

/* Removes the oldest record; does nothing when empty. */
void ring_pop(struct ring *r);

size_t ring_bytes(const struct ring *r);     /* bytes in use, headers and skipped space included */
size_t ring_capacity(const struct ring *r);
uint64_t ring_spans(const struct ring *r);   /* spans in all records */
size_t ring_records(const struct ring *r);

#endif
