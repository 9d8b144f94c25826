/* fleet.c — membership, ejection and the ring of a sharded destination (see fleet.h).
 *
 * Members are kept sorted by name. A member starts reachable (nothing says otherwise
 * yet); the moment it is reported unreachable starts its ejection clock. */
#include "export/fleet.h"

#include <stdlib.h>
#include <string.h>

struct member {
    char *endpoint;
    int reachable;
    uint64_t down_since_ms;
    int ejected;
};

struct fleet {
    uint64_t eject_after_ms;
    struct member *members;
    size_t count;
    struct hashring *ring;
    int ring_stale;          /* a state change whose ring could not be built yet */
    uint64_t ejections;
    /* what the last fleet_set_endpoints reported */
    char **gone;             /* names of members that left, owned until the next call */
    size_t gone_count;
    const char **joined;
    size_t joined_count;
};

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->endpoint, ((const struct member *)b)->endpoint);
}

/* The ring over the members not ejected, or NULL when memory is short. */
static struct hashring *build_ring(const struct member *m, size_t count)
{
    const char **names = calloc(count ? count : 1, sizeof(*names));
    if (!names)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (!m[i].ejected)
            names[n++] = m[i].endpoint;
    struct hashring *ring = hashring_new(names, n, HASHRING_POINTS);
    free(names);
    return ring;
}

static int rebuild_ring(struct fleet *f)
{
    struct hashring *ring = build_ring(f->members, f->count);
    if (!ring)
        return -1;
    hashring_free(f->ring);
    f->ring = ring;
    return 0;
}

struct fleet *fleet_new(uint64_t eject_after_ms)
{
    struct fleet *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->eject_after_ms = eject_after_ms;
    if (rebuild_ring(f) < 0) {
        free(f);
        return NULL;
    }
    return f;
}

static void forget_change(struct fleet *f)
{
    for (size_t i = 0; i < f->gone_count; i++)
        free(f->gone[i]);
    free(f->gone);
    free(f->joined);
    f->gone = NULL;
    f->joined = NULL;
    f->gone_count = f->joined_count = 0;
}

void fleet_free(struct fleet *f)
{
    if (!f)
        return;
    forget_change(f);
    for (size_t i = 0; i < f->count; i++)
        free(f->members[i].endpoint);
    free(f->members);
    hashring_free(f->ring);
    free(f);
}

size_t fleet_find(const struct fleet *f, const char *endpoint)
{
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->members[mid].endpoint, endpoint);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return HASHRING_NONE;
}

/* The new member list: a sorted, distinct copy of endpoints, each keeping the state it
 * had as a member. */
static struct member *new_members(const struct fleet *f, const char *const *endpoints,
                                  size_t count, size_t *out_count)
{
    struct member *m = calloc(count ? count : 1, sizeof(*m));
    if (!m)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (!(m[n].endpoint = strdup(endpoints[i]))) {
            for (size_t k = 0; k < n; k++)
                free(m[k].endpoint);
            free(m);
            return NULL;
        }
        m[n].reachable = 1;
        n++;
    }
    qsort(m, n, sizeof(*m), cmp_member);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && strcmp(m[kept - 1].endpoint, m[i].endpoint) == 0) {
            free(m[i].endpoint);
            continue;
        }
        size_t old = fleet_find(f, m[i].endpoint);
        if (old != HASHRING_NONE) {
            m[i].reachable = f->members[old].reachable;
            m[i].down_since_ms = f->members[old].down_since_ms;
            m[i].ejected = f->members[old].ejected;
        }
        m[kept++] = m[i];
    }
    /* members all ejected (the one left in the ring has gone): they all come back */
    size_t ejected = 0;
    for (size_t i = 0; i < kept; i++)
        ejected += m[i].ejected;
    if (ejected == kept)
        for (size_t i = 0; i < kept; i++)
            m[i].ejected = 0;
    *out_count = kept;
    return m;
}

int fleet_set_endpoints(struct fleet *f, const char *const *endpoints, size_t count,
                        struct fleet_change *change)
{
    size_t n = 0;
    struct member *m = new_members(f, endpoints, count, &n);
    char **gone = calloc(f->count ? f->count : 1, sizeof(*gone));
    const char **joined = calloc(n ? n : 1, sizeof(*joined));
    struct hashring *ring = m ? build_ring(m, n) : NULL;
    if (!m || !gone || !joined || !ring) {
        for (size_t i = 0; m && i < n; i++)
            free(m[i].endpoint);
        free(m);
        free(gone);
        free(joined);
        hashring_free(ring);
        return -1;
    }
    forget_change(f);
    hashring_free(f->ring);
    f->ring = ring;
    for (size_t i = 0; i < n; i++)
        if (fleet_find(f, m[i].endpoint) == HASHRING_NONE)
            joined[f->joined_count++] = m[i].endpoint;
    struct member *old = f->members;
    size_t old_count = f->count;
    f->members = m;
    f->count = n;
    for (size_t i = 0; i < old_count; i++) {
        if (fleet_find(f, old[i].endpoint) == HASHRING_NONE)
            gone[f->gone_count++] = old[i].endpoint;
        else
            free(old[i].endpoint);
    }
    free(old);
    f->gone = gone;
    f->joined = joined;
    change->joined = f->joined;
    change->joined_count = f->joined_count;
    change->left = (const char *const *)f->gone;
    change->left_count = f->gone_count;
    return 0;
}

void fleet_set_reachable(struct fleet *f, const char *endpoint, int reachable, uint64_t now_ms)
{
    size_t i = fleet_find(f, endpoint);
    if (i == HASHRING_NONE)
        return;
    struct member *m = &f->members[i];
    if (!reachable && m->reachable)
        m->down_since_ms = now_ms;
    m->reachable = reachable != 0;
}

static size_t in_ring(const struct fleet *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->count; i++)
        n += !f->members[i].ejected;
    return n;
}

int fleet_update(struct fleet *f, uint64_t now_ms)
{
    int changed = 0;
    for (size_t i = 0; i < f->count; i++) {
        struct member *m = &f->members[i];
        if (m->ejected && m->reachable) {
            m->ejected = 0;
            changed++;
        } else if (!m->ejected && !m->reachable &&
                   now_ms - m->down_since_ms >= f->eject_after_ms && in_ring(f) > 1) {
            m->ejected = 1;
            f->ejections++;
            changed++;
        }
    }
    if (changed || f->ring_stale) {
        f->ring_stale = rebuild_ring(f) < 0;
        if (f->ring_stale)
            return -1;
    }
    return changed;
}

const struct hashring *fleet_ring(const struct fleet *f)
{
    return f->ring;
}

size_t fleet_members(const struct fleet *f)
{
    return f->count;
}

const char *fleet_member(const struct fleet *f, size_t i)
{
    return i < f->count ? f->members[i].endpoint : NULL;
}

int fleet_member_ejected(const struct fleet *f, size_t i)
{
    return i < f->count && f->members[i].ejected;
}

int fleet_member_reachable(const struct fleet *f, size_t i)
{
    return i < f->count && f->members[i].reachable;
}

uint64_t fleet_ejections(const struct fleet *f)
{
    return f->ejections;
}
