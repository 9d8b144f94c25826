/* export_target.h — everything one destination's export side needs to know: where to
 * send, how (protocol, headers, TLS, compression, timeouts, retries), how to batch, how
 * much to buffer and at what ratio to sample (DESIGN.md decision 11).
 *
 * A lane and its exporter and transports are built from one of these, never from the
 * whole configuration nor from globals. The strings are borrowed from the struct config
 * it was built from, which outlives every lane. */
#ifndef SPANRELAY_EXPORT_TARGET_H
#define SPANRELAY_EXPORT_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

struct export_target {
    const char *name;              /* "primary" for the otel: block; metrics, logs, /health */
    const char *key;               /* where it was configured, for messages: "otel",
                                      "destinations[1]" */
    int enabled;                   /* 0: spans are counted export_failed{disabled}, no I/O */
    const char *endpoint;          /* base URL, or the signal URL when endpoint_is_signal */
    int endpoint_is_signal;
    enum config_protocol protocol;
    const struct config_kv *headers; /* never logged */
    size_t headers_count;
    const char *headers_key;       /* names the headers' source in messages */
    const char *tls_server_name;   /* the name TLS verifies and sends as SNI when it is not
                                      the endpoint's host (a gateway of a fleet found by
                                      DNS: the fleet's hostname); NULL: the endpoint's */
    const char *certificate;       /* CA file, or NULL/"" for the system store */
    const char *certificate_key;   /* names the certificate's source in messages */
    int insecure;
    enum config_compression compression;
    uint64_t timeout_ms;
    uint64_t retry_initial_interval_ms;
    uint64_t retry_max_interval_ms;
    uint64_t retry_max_elapsed_ms;
    size_t max_batch_bytes;
    unsigned max_batch_spans;
    uint64_t batch_timeout_ms;
    size_t buffer_max_bytes;
    double sampling_ratio;
    int keep_plain_body;           /* batches keep their plain body when compressed, so
                                      they can be handed to another lane (shard.h) or
                                      spooled at shutdown (lane.c sets it with a spool) */
    const char *spool_dir;         /* buffer.spool.dir: "" or NULL for no spool */
    size_t spool_max_bytes;
    enum config_spool_sync spool_sync;
    uint64_t spool_sync_interval_ms;
    struct config_load_balance load_balance; /* resolver not NONE: a fleet of gateways,
                                      one lane each (shard.h); the endpoint then gives
                                      only the scheme and path. Lists and strings
                                      borrowed */
};

/* The most bytes one export request to t may hold: maxBatchBytes, or learned (the
 * ceiling its backend was found to have, 0 while none is known) when that is lower. */
size_t export_target_request_limit(const struct export_target *t, uint64_t learned);

/* Whether t is a fleet rather than one endpoint. */
int export_target_is_sharded(const struct export_target *t);

/* The targets cfg describes: the primary (the otel: block with the daemon's own
 * exporter:/buffer: sections) first, then each of destinations: in file order, taking
 * the primary's values for the keys it leaves unset. Returns how many were written, at
 * most max. */
size_t export_target_list(const struct config *cfg, struct export_target *out, size_t max);

#endif
