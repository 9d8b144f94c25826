/* hashring.c — the Collector-compatible consistent-hash ring behind hashring.h.
 *
 * Building: endpoints are copied, sorted with strcmp (Go's sort.Strings order) and
 * deduplicated; each in turn claims its points, a bitmap of the 36000 positions telling
 * which are taken; the points are then sorted by position. Lookup is a lower-bound
 * binary search over the points, wrapping to point 0. */
#include "export/hashring.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct point {
    uint32_t pos;
    uint32_t endpoint; /* index into endpoints */
};

struct hashring {
    char **endpoints;  /* sorted, distinct */
    size_t count;
    uint32_t *span;    /* per endpoint: positions it owns */
    struct point *points;
    size_t npoints;
};

uint32_t hashring_position(const uint8_t *key, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    /* zlib takes uInt lengths; keys here are trace ids and endpoint names */
    crc = crc32(crc, key, (uInt)len);
    return (uint32_t)(crc % HASHRING_POSITIONS);
}

/* CRC-32 of endpoint followed by the single byte i, modulo the ring size. */
static uint32_t point_position(const char *endpoint, unsigned i)
{
    uint8_t b = (uint8_t)i;
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)endpoint, (uInt)strlen(endpoint));
    crc = crc32(crc, &b, 1);
    return (uint32_t)(crc % HASHRING_POSITIONS);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_point(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Copies, sorts and deduplicates the endpoint names into r. */
static int copy_endpoints(struct hashring *r, const char *const *endpoints, size_t count)
{
    if (count == 0)
        return 0;
    r->endpoints = calloc(count, sizeof(*r->endpoints));
    if (!r->endpoints)
        return -1;
    for (size_t i = 0; i < count; i++) {
        r->endpoints[i] = strdup(endpoints[i]);
        if (!r->endpoints[i]) {
            r->count = i;
            return -1;
        }
    }
    r->count = count;
    qsort(r->endpoints, count, sizeof(*r->endpoints), cmp_str);
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (kept > 0 && strcmp(r->endpoints[kept - 1], r->endpoints[i]) == 0) {
            free(r->endpoints[i]);
            continue;
        }
        r->endpoints[kept++] = r->endpoints[i];
    }
    r->count = kept;
    return 0;
}

/* Each endpoint in sorted order claims its points; a taken position is skipped. */
static int place_points(struct hashring *r, unsigned points)
{
    uint8_t taken[(HASHRING_POSITIONS + 7) / 8] = { 0 };

    if (r->count == 0)
        return 0;
    r->points = malloc(r->count * points * sizeof(*r->points));
    if (!r->points)
        return -1;
    for (size_t e = 0; e < r->count; e++) {
        for (unsigned i = 0; i < points; i++) {
            uint32_t pos = point_position(r->endpoints[e], i);
            if (taken[pos / 8] & (1u << (pos % 8)))
                continue;
            taken[pos / 8] |= (uint8_t)(1u << (pos % 8));
            r->points[r->npoints].pos = pos;
            r->points[r->npoints].endpoint = (uint32_t)e;
            r->npoints++;
        }
    }
    qsort(r->points, r->npoints, sizeof(*r->points), cmp_point);
    return 0;
}

/* A point owns the positions after its predecessor up to itself; point 0 also owns
 * those after the last point (the wrap). */
static int measure_spans(struct hashring *r)
{
    if (r->count == 0)
        return 0;
    r->span = calloc(r->count, sizeof(*r->span));
    if (!r->span)
        return -1;
    for (size_t k = 0; k < r->npoints; k++) {
        uint32_t prev = k > 0 ? r->points[k - 1].pos
                              : r->points[r->npoints - 1].pos;
        uint32_t pos = r->points[k].pos;
        uint32_t owned = k > 0 ? pos - prev : pos + HASHRING_POSITIONS - prev;
        r->span[r->points[k].endpoint] += owned;
    }
    return 0;
}

struct hashring *hashring_new(const char *const *endpoints, size_t count, unsigned points)
{
    if (points < 1 || points > 256)
        return NULL;
    struct hashring *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (copy_endpoints(r, endpoints, count) < 0 || place_points(r, points) < 0 ||
        measure_spans(r) < 0) {
        hashring_free(r);
        return NULL;
    }
    return r;
}

void hashring_free(struct hashring *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++)
        free(r->endpoints[i]);
    free(r->endpoints);
    free(r->span);
    free(r->points);
    free(r);
}

size_t hashring_owner_of(const struct hashring *r, const uint8_t *key, size_t len)
{
    if (r->npoints == 0)
        return HASHRING_NONE;
    uint32_t pos = hashring_position(key, len);
    size_t lo = 0, hi = r->npoints; /* first point with pos >= position is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->points[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == r->npoints)
        lo = 0;
    return r->points[lo].endpoint;
}

size_t hashring_owner(const struct hashring *r, const uint8_t trace_id[16])
{
    return hashring_owner_of(r, trace_id, 16);
}

size_t hashring_endpoints(const struct hashring *r)
{
    return r->count;
}

const char *hashring_endpoint(const struct hashring *r, size_t i)
{
    return i < r->count ? r->endpoints[i] : NULL;
}

uint32_t hashring_span_of(const struct hashring *r, size_t i)
{
    return i < r->count ? r->span[i] : 0;
}

size_t hashring_find(const struct hashring *r, const char *endpoint)
{
    size_t lo = 0, hi = r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->endpoints[mid], endpoint);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return HASHRING_NONE;
}

size_t hashring_points(const struct hashring *r)
{
    return r->npoints;
}

uint32_t hashring_point(const struct hashring *r, size_t k, size_t *endpoint)
{
    if (endpoint)
        *endpoint = r->points[k].endpoint;
    return r->points[k].pos;
}
