/* shard.h — a sharded destination (DESIGN.md decision 13): a lane per gateway of a
 * fleet, every span sent to the gateway that owns its trace id on the Collector's
 * consistent-hash ring (hashring.h), the fleet from a static list or from DNS
 * (dns_resolver.h), membership and ejection from fleet.h.
 *
 * To the pipeline it is one destination: the same calls as a lane (lane.h) and one set
 * of counters for the destination as a whole, for which the accounting equation holds
 * through every move. Each gateway's lane is built from the destination's target with
 * the gateway's address:port in the endpoint (scheme and path kept) and, with resolver
 * dns, the hostname as the TLS server name. Requests are split per gateway by the wire
 * walk's otlp_partition (resource and scope headers repeated), never decoded.
 *
 * Fleet changes lose nothing: when a gateway leaves the record set or is ejected (no
 * answer for loadBalance.ejectAfter), what its lane holds — ring and batches waiting to
 * be retried, and batches in flight whose answer turns out retryable — is routed again
 * over the new ring. Records that arrive before the first resolution wait in a buffer
 * of the destination's size. Every ring change is logged once (INFO, logger
 * otel.exporter, "gateway ring changed" with change joined | left | ejected |
 * readmitted and the endpoint). */
#ifndef SPANRELAY_SHARD_H
#define SPANRELAY_SHARD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/stats.h"
#include "export/export_target.h"
#include "export/lane.h"

struct shard;

/* target->load_balance says where the fleet comes from; target is every gateway's
 * lane's target but for its endpoint. ops: the wire protocol (NULL: from
 * target->protocol). NULL with a message in err when the target cannot work. */
struct shard *shard_new(uv_loop_t *loop, const struct export_target *target,
                        const struct exporter_transport_ops *ops, char *err, size_t errlen);

/* Makes endpoints ("address:port") the fleet, as the DNS resolver does on a change;
 * with resolver static the list is given once at creation. */
void shard_set_endpoints(struct shard *s, const char *const *endpoints, size_t count);

/* The gateways, for /health and tests: count, and member i's endpoint, whether it is in
 * the ring, and its lane's counters. */
size_t shard_members(const struct shard *s);
const char *shard_member_endpoint(const struct shard *s, size_t i);
int shard_member_in_ring(const struct shard *s, size_t i);
const struct stats_destination *shard_member_stats(const struct shard *s, size_t i);

/* The destination as a whole (refreshed by the call); valid until shard_free(). */
const struct stats_destination *shard_stats(struct shard *s);

void shard_count_sampled_out(struct shard *s, uint64_t spans);

/* Routes one record (an encoded ExportTraceServiceRequest) holding spans spans to the
 * owners of its traces. LANE_OVERFLOW when any of its spans was dropped for a full
 * ring (*dropped says how many), LANE_NOT_EXPORTED when draining. */
enum lane_push_result shard_push(struct shard *s, const uint8_t *rec, size_t len,
                                 uint32_t spans, uint32_t *dropped);

/* Drains every gateway's lane within timeout_ms, then done(arg) once. */
void shard_drain(struct shard *s, uint64_t timeout_ms, void (*done)(void *), void *arg);

void shard_free(struct shard *s);

#endif
