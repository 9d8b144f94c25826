/* hashring.h — the consistent-hash ring that maps a trace id to one endpoint of a fleet
 * (DESIGN.md decision 13).
 *
 * The ring is the OpenTelemetry Collector's `loadbalancing` exporter's, so sidecars and
 * Collector agents in one fleet send every trace to the same gateway:
 *   - a key's position is CRC-32 (IEEE, zlib's crc32) of its bytes modulo 36000;
 *   - the endpoints (strings such as "10.0.0.7:4317" or "[fd00::7]:4317") are taken in
 *     byte-wise sorted order; each places points at CRC-32(endpoint followed by one byte
 *     i) modulo 36000 for i = 0 .. points-1, a position already taken being skipped;
 *   - the owner of a key is the endpoint of the first point at or after its position,
 *     wrapping to the lowest point.
 * A ring is immutable once built; a fleet change builds a new one. */
#ifndef SPANRELAY_HASHRING_H
#define SPANRELAY_HASHRING_H

#include <stddef.h>
#include <stdint.h>

#define HASHRING_POSITIONS 36000u
/* The Collector's weight: points per endpoint. */
#define HASHRING_POINTS 100u
/* No owner: the ring has no endpoint. */
#define HASHRING_NONE ((size_t)-1)

struct hashring;

/* A ring over count endpoints (copied; their order does not matter, duplicates count
 * once) with points points each (1 to 256; HASHRING_POINTS for the Collector's ring).
 * count may be 0: every lookup then answers HASHRING_NONE. NULL when memory is short
 * or points is out of range. */
struct hashring *hashring_new(const char *const *endpoints, size_t count, unsigned points);
void hashring_free(struct hashring *r);

/* The position of key[0..len) on the ring: CRC-32 modulo HASHRING_POSITIONS. */
uint32_t hashring_position(const uint8_t *key, size_t len);

/* The index (in hashring_endpoint order) of the endpoint owning key[0..len), or
 * HASHRING_NONE for an empty ring. */
size_t hashring_owner_of(const struct hashring *r, const uint8_t *key, size_t len);

/* The owner of a trace: its 16 id bytes are the key. */
size_t hashring_owner(const struct hashring *r, const uint8_t trace_id[16]);

/* Distinct endpoints, in sorted order. */
size_t hashring_endpoints(const struct hashring *r);
const char *hashring_endpoint(const struct hashring *r, size_t i);

/* How many of the HASHRING_POSITIONS positions endpoint i owns (its share of the ring). */
uint32_t hashring_span_of(const struct hashring *r, size_t i);

/* Index of endpoint in the ring, or HASHRING_NONE. */
size_t hashring_find(const struct hashring *r, const char *endpoint);

/* Points on the ring, and point k (ascending position) with the index of its endpoint. */
size_t hashring_points(const struct hashring *r);
uint32_t hashring_point(const struct hashring *r, size_t k, size_t *endpoint);

#endif
