/* export_target.c — the export targets a configuration describes (see export_target.h). */
#include "export/export_target.h"

static void target_primary(const struct config *cfg, struct export_target *t)
{
    *t = (struct export_target){
        .name = "primary",
        .key = "otel",
        .enabled = cfg->enabled && cfg->endpoint && cfg->endpoint[0] != '\0',
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
    };
}

size_t export_target_list(const struct config *cfg, struct export_target *out, size_t max)
{
    if (max == 0)
        return 0;
    target_primary(cfg, &out[0]);
    return 1;
}
