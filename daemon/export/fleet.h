/* fleet.h — which gateways of a sharded destination are in the ring (DESIGN.md
 * decision 13): the members the resolver names, less those ejected for being
 * unreachable, and the consistent-hash ring over the rest.
 *
 * Pure bookkeeping on a clock the caller gives: no I/O, no timers. The caller (the
 * sharded destination) tells it what the resolver found and whether each member's
 * gateway answers; it says who joined and who left, and rebuilds the ring when that
 * changes. A member unreachable for eject_after ms is ejected (leaves the ring but stays
 * a member, so it is probed) and readmitted as soon as it answers. Ejection never
 * empties the ring: the last member in it stays, since its traces have nowhere better
 * to go. */
#ifndef SPANRELAY_FLEET_H
#define SPANRELAY_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "export/hashring.h"

struct fleet;

/* NULL when memory is short. */
struct fleet *fleet_new(uint64_t eject_after_ms);
void fleet_free(struct fleet *f);

/* What fleet_set_endpoints did, to act on: endpoints that joined need a lane; those that
 * left hand their backlog to the new owners. The strings live until the next call. */
struct fleet_change {
    const char *const *joined;
    size_t joined_count;
    const char *const *left;
    size_t left_count;
};

/* Makes endpoints[0..count) the members (any order; duplicates count once). A member
 * that stays keeps its state. 0, or -1 when memory is short (nothing changed). */
int fleet_set_endpoints(struct fleet *f, const char *const *endpoints, size_t count,
                        struct fleet_change *change);

/* Whether member endpoint's gateway answers, as of now_ms. Unknown names are ignored. */
void fleet_set_reachable(struct fleet *f, const char *endpoint, int reachable, uint64_t now_ms);

/* Ejects members unreachable for eject_after and readmits those that answer again.
 * Returns how many members changed state (the ring was rebuilt when > 0), or -1 when
 * memory is short (the previous ring stays). */
int fleet_update(struct fleet *f, uint64_t now_ms);

/* The ring in use: members not ejected. Valid until the next set_endpoints/update. */
const struct hashring *fleet_ring(const struct fleet *f);

/* Members, in sorted order. */
size_t fleet_members(const struct fleet *f);
const char *fleet_member(const struct fleet *f, size_t i);
int fleet_member_ejected(const struct fleet *f, size_t i);
int fleet_member_reachable(const struct fleet *f, size_t i);
size_t fleet_find(const struct fleet *f, const char *endpoint); /* HASHRING_NONE when absent */

/* Ejections and readmissions so far (for /metrics). */
uint64_t fleet_ejections(const struct fleet *f);

#endif
