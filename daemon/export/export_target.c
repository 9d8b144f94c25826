/* export_target.c — the export targets a configuration describes (see export_target.h). */
#include "export/export_target.h"

static void target_primary(const struct config *cfg, struct export_target *t)
{
    *t = (struct export_target){
        .name = "primary",
        .key = "otel",
        .enabled = cfg->enabled && ((cfg->endpoint && cfg->endpoint[0] != '\0') ||
                                    cfg->load_balance.resolver != CONFIG_RESOLVER_NONE),
        .endpoint = cfg->endpoint,
        .endpoint_is_signal = cfg->endpoint_is_signal,
        .protocol = cfg->protocol,
        .headers = cfg->headers,
        .headers_count = cfg->headers_count,
        .headers_key = "OTEL_EXPORTER_OTLP_HEADERS",
        .certificate = cfg->certificate,
        .certificate_key = "OTEL_EXPORTER_OTLP_CERTIFICATE",
        .insecure = cfg->insecure,
        .compression = cfg->exporter_compression,
        .timeout_ms = cfg->exporter_timeout_ms,
        .retry_initial_interval_ms = cfg->retry_initial_interval_ms,
        .retry_max_interval_ms = cfg->retry_max_interval_ms,
        .retry_max_elapsed_ms = cfg->retry_max_elapsed_ms,
        .max_batch_bytes = cfg->exporter_max_batch_bytes,
        .max_batch_spans = cfg->exporter_max_batch_spans,
        .batch_timeout_ms = cfg->exporter_batch_timeout_ms,
        .buffer_max_bytes = cfg->buffer_max_bytes,
        .sampling_ratio = cfg->sampling_ratio,
        .spool_dir = cfg->spool_dir,
        .spool_max_bytes = cfg->spool_max_bytes,
        .spool_sync = cfg->spool_sync,
        .spool_sync_interval_ms = cfg->spool_sync_interval_ms,
        .load_balance = cfg->load_balance,
    };
}

/* A destination's keys, with the primary's sections for what it leaves unset. */
static void target_destination(const struct config *cfg, const struct config_destination *d,
                               struct export_target *t)
{
    target_primary(cfg, t);
    t->name = d->name;
    t->key = d->key;
    t->enabled = 1;
    t->endpoint = d->endpoint;
    t->endpoint_is_signal = 0;
    t->load_balance = d->load_balance;
    t->protocol = d->protocol;
    t->headers = d->headers;
    t->headers_count = d->headers_count;
    t->headers_key = d->headers_from ? d->headers_from : "headersFrom";
    t->certificate = d->certificate;
    t->certificate_key = d->key;
    t->insecure = d->insecure;
    t->compression = d->compression;
    if (d->timeout_ms)
        t->timeout_ms = d->timeout_ms;
    if (d->retry_initial_interval_ms)
        t->retry_initial_interval_ms = d->retry_initial_interval_ms;
    if (d->retry_max_interval_ms)
        t->retry_max_interval_ms = d->retry_max_interval_ms;
    if (d->retry_max_elapsed_ms)
        t->retry_max_elapsed_ms = d->retry_max_elapsed_ms;
    if (d->max_batch_bytes)
        t->max_batch_bytes = d->max_batch_bytes;
    if (d->max_batch_spans)
        t->max_batch_spans = d->max_batch_spans;
    if (d->batch_timeout_ms)
        t->batch_timeout_ms = d->batch_timeout_ms;
    if (d->buffer_max_bytes)
        t->buffer_max_bytes = d->buffer_max_bytes;
    if (d->sampling_ratio >= 0)
        t->sampling_ratio = d->sampling_ratio;
}

size_t export_target_request_limit(const struct export_target *t, uint64_t learned)
{
    return learned && learned < t->max_batch_bytes ? (size_t)learned : t->max_batch_bytes;
}

int export_target_is_sharded(const struct export_target *t)
{
    return t->load_balance.resolver != CONFIG_RESOLVER_NONE;
}

size_t export_target_list(const struct config *cfg, struct export_target *out, size_t max)
{
    if (max == 0)
        return 0;
    target_primary(cfg, &out[0]);
    size_t n = 1;
    for (size_t i = 0; i < cfg->destinations_count && n < max; i++)
        target_destination(cfg, &cfg->destinations[i], &out[n++]);
    return n;
}
