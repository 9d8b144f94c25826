/* test_config.c — daemon/base/config.c: every key of the YAML file, every environment
 * variable, every message (exact text), the kv-list, size and duration parsers, the
 * combination checks, and config/spanrelay.yaml against the built-in defaults. */

#include "base/config.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct config cfg;
static char err[512];

/* A fake environment for config_apply_env. */
#define ENV_MAX 32
static const char *env_names[ENV_MAX];
static const char *env_values[ENV_MAX];
static size_t env_count;

static void env_put(const char *name, const char *value)
{
    ck_assert_uint_lt(env_count, ENV_MAX);
    env_names[env_count] = name;
    env_values[env_count] = value;
    env_count++;
}

static const char *env_get(const char *name)
{
    for (size_t i = 0; i < env_count; i++)
        if (strcmp(env_names[i], name) == 0)
            return env_values[i];
    return NULL;
}

static void setup(void)
{
    env_count = 0;
    err[0] = '\0';
    ck_assert_int_eq(config_defaults(&cfg), 0);
}

static void teardown(void)
{
    config_free(&cfg);
}

static int load(const char *yaml)
{
    return config_load_string(&cfg, yaml, strlen(yaml), err, sizeof(err));
}

static int apply_env(void)
{
    return config_apply_env(&cfg, env_get, err, sizeof(err));
}

static void assert_load_error(const char *yaml, const char *message)
{
    ck_assert_msg(load(yaml) == -1, "accepted: %s", yaml);
    ck_assert_str_eq(err, message);
}

static void assert_env_error(const char *message)
{
    ck_assert_int_eq(apply_env(), -1);
    ck_assert_str_eq(err, message);
}

static void assert_kv_lists_equal(const struct config_kv *a, size_t na,
                                  const struct config_kv *b, size_t nb)
{
    ck_assert_uint_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        ck_assert_str_eq(a[i].key, b[i].key);
        ck_assert_str_eq(a[i].value, b[i].value);
    }
}

/* Field by field, so a field added to struct config without a default shows up here. */
static void assert_configs_equal(const struct config *a, const struct config *b)
{
    ck_assert_int_eq(a->enabled, b->enabled);
    ck_assert_str_eq(a->endpoint, b->endpoint);
    ck_assert_int_eq(a->endpoint_is_signal, b->endpoint_is_signal);
    ck_assert_int_eq(a->protocol, b->protocol);
    ck_assert_str_eq(a->service_name, b->service_name);
    ck_assert(a->sampling_ratio == b->sampling_ratio);
    ck_assert_int_eq(a->sampler_rule, b->sampler_rule);
    ck_assert_str_eq(a->receiver_socket, b->receiver_socket);
    ck_assert_uint_eq(a->receiver_socket_mode, b->receiver_socket_mode);
    ck_assert_str_eq(a->receiver_grpc, b->receiver_grpc);
    ck_assert_str_eq(a->receiver_http, b->receiver_http);
    ck_assert_uint_eq(a->receiver_max_request_bytes, b->receiver_max_request_bytes);
    ck_assert_uint_eq(a->receiver_max_connections, b->receiver_max_connections);
    ck_assert_uint_eq(a->receiver_request_timeout_ms, b->receiver_request_timeout_ms);
    ck_assert_uint_eq(a->receiver_idle_timeout_ms, b->receiver_idle_timeout_ms);
    ck_assert_uint_eq(a->buffer_max_bytes, b->buffer_max_bytes);
    ck_assert_str_eq(a->spool_dir, b->spool_dir);
    ck_assert_uint_eq(a->spool_max_bytes, b->spool_max_bytes);
    ck_assert_int_eq(a->spool_sync, b->spool_sync);
    ck_assert_uint_eq(a->spool_sync_interval_ms, b->spool_sync_interval_ms);
    ck_assert_uint_eq(a->exporter_max_batch_bytes, b->exporter_max_batch_bytes);
    ck_assert_uint_eq(a->exporter_max_batch_spans, b->exporter_max_batch_spans);
    ck_assert_uint_eq(a->exporter_batch_timeout_ms, b->exporter_batch_timeout_ms);
    ck_assert_uint_eq(a->exporter_timeout_ms, b->exporter_timeout_ms);
    ck_assert_int_eq(a->exporter_compression, b->exporter_compression);
    ck_assert_uint_eq(a->retry_initial_interval_ms, b->retry_initial_interval_ms);
    ck_assert_uint_eq(a->retry_max_interval_ms, b->retry_max_interval_ms);
    ck_assert_uint_eq(a->retry_max_elapsed_ms, b->retry_max_elapsed_ms);
    assert_kv_lists_equal(a->headers, a->headers_count, b->headers, b->headers_count);
    ck_assert_pstr_eq(a->certificate, b->certificate);
    ck_assert_int_eq(a->insecure, b->insecure);
    assert_kv_lists_equal(a->resource_attrs, a->resource_attrs_count, b->resource_attrs,
                          b->resource_attrs_count);
    ck_assert_str_eq(a->health_listen, b->health_listen);
    ck_assert_uint_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
    ck_assert_str_eq(a->log_level, b->log_level);
    ck_assert_int_eq(a->load_balance.resolver, b->load_balance.resolver);
    ck_assert_uint_eq(a->load_balance.endpoints.count, b->load_balance.endpoints.count);
    ck_assert_pstr_eq(a->load_balance.hostname, b->load_balance.hostname);
    ck_assert_uint_eq(a->load_balance.port, b->load_balance.port);
    ck_assert_uint_eq(a->load_balance.interval_ms, b->load_balance.interval_ms);
    ck_assert_uint_eq(a->load_balance.eject_after_ms, b->load_balance.eject_after_ms);
}

static void assert_is_default(void)
{
    struct config defaults;
    ck_assert_int_eq(config_defaults(&defaults), 0);
    assert_configs_equal(&cfg, &defaults);
    config_free(&defaults);
}

/* config/spanrelay.yaml, found from this file's path so the test runs from any build dir
 * as long as the compiler was given a path relative to the cwd or an absolute one. */
static void shipped_config_path(char *buf, size_t len)
{
    const char *self = __FILE__;
    const char *suffix = "tests/unit/base/test_config.c";
    size_t prefix = strlen(self) - strlen(suffix);
    ck_assert(strlen(self) >= strlen(suffix) && strcmp(self + prefix, suffix) == 0);
    snprintf(buf, len, "%.*sconfig/spanrelay.yaml", (int)prefix, self);
}

/* ---- defaults ---- */

START_TEST(test_defaults)
{
    ck_assert_int_eq(cfg.enabled, 0);
    ck_assert_str_eq(cfg.endpoint, "");
    ck_assert_int_eq(cfg.endpoint_is_signal, 0);
    ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_GRPC);
    ck_assert_str_eq(cfg.service_name, "unknown_service");
    ck_assert(cfg.sampling_ratio == 1.0);
    ck_assert_int_eq(cfg.sampler_rule, CONFIG_SAMPLER_AUTO);
    ck_assert_str_eq(cfg.receiver_socket, "/tmp/spanrelay/otlp.sock");
    ck_assert_uint_eq(cfg.receiver_socket_mode, 0660);
    ck_assert_str_eq(cfg.receiver_grpc, "");
    ck_assert_str_eq(cfg.receiver_http, "");
    ck_assert_uint_eq(cfg.receiver_max_request_bytes, 4 * 1024 * 1024);
    ck_assert_uint_eq(cfg.receiver_max_connections, 256);
    ck_assert_uint_eq(cfg.receiver_request_timeout_ms, 30000);
    ck_assert_uint_eq(cfg.receiver_idle_timeout_ms, 120000);
    ck_assert_uint_eq(cfg.buffer_max_bytes, 64 * 1024 * 1024);
    ck_assert_uint_eq(cfg.exporter_max_batch_bytes, 1024 * 1024);
    ck_assert_uint_eq(cfg.exporter_max_batch_spans, 2048);
    ck_assert_uint_eq(cfg.exporter_batch_timeout_ms, 200);
    ck_assert_uint_eq(cfg.exporter_timeout_ms, 10000);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_NONE);
    ck_assert_uint_eq(cfg.retry_initial_interval_ms, 500);
    ck_assert_uint_eq(cfg.retry_max_interval_ms, 5000);
    ck_assert_uint_eq(cfg.retry_max_elapsed_ms, 300000);
    ck_assert_ptr_null(cfg.headers);
    ck_assert_uint_eq(cfg.headers_count, 0);
    ck_assert_ptr_null(cfg.certificate);
    ck_assert_int_eq(cfg.insecure, 0);
    ck_assert_ptr_null(cfg.resource_attrs);
    ck_assert_uint_eq(cfg.resource_attrs_count, 0);
    ck_assert_str_eq(cfg.health_listen, "127.0.0.1:13133");
    ck_assert_uint_eq(cfg.shutdown_timeout_ms, 10000);
    ck_assert_str_eq(cfg.log_level, "info");
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_shipped_file_is_the_defaults)
{
    char path[4096];
    shipped_config_path(path, sizeof(path));
    /* start from something else, so keys the file leaves out would show */
    ck_assert_int_eq(load("otel:\n  serviceName: x\n  samplingRatio: 0.5\n"
                          "receiver:\n  socketMode: 0600\n  maxConnections: 3\n"), 0);
    config_free(&cfg);
    ck_assert_int_eq(config_defaults(&cfg), 0);
    ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)) == 0, "%s", err);
    assert_is_default();
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_shipped_file_sets_every_key)
{
    /* every key the shipped file gives, over a config where each differs */
    char path[4096];
    shipped_config_path(path, sizeof(path));
    ck_assert_int_eq(load("otel:\n  endpoint: https://x:1\n  protocol: http/protobuf\n"
                          "  serviceName: s\n  samplingRatio: 0.5\n"
                          "  sampler:\n    rule: consistent\n"
                          "receiver:\n  socket: /s\n  socketMode: 0600\n  grpc: 127.0.0.1:1\n"
                          "  http: 127.0.0.2:2\n  maxRequestBytes: 2KiB\n  maxConnections: 3\n"
                          "  requestTimeout: 1s\n  idleTimeout: 2s\n"
                          "buffer:\n  maxBytes: 3KiB\n"
                          "exporter:\n  maxBatchBytes: 2KiB\n  maxBatchSpans: 5\n"
                          "  batchTimeout: 1s\n  timeout: 2s\n  compression: gzip\n"
                          "  retry:\n    initialInterval: 1s\n    maxInterval: 2s\n"
                          "    maxElapsedTime: 3s\n"
                          "health:\n  listen: 127.0.0.3:3\nshutdownTimeout: 1s\n"
                          "log:\n  level: error\n"),
                     0);
    ck_assert_int_eq(cfg.enabled, 1);
    ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)) == 0, "%s", err);
    assert_is_default();
}
END_TEST

START_TEST(test_empty_documents_are_defaults)
{
    static const char *const docs[] = {
        "", "\n", "# only a comment\n\n   # another\n", "---\n", "---\n...\n", "~\n",
        "otel:\n", "otel: {}\n", "otel:\n  # enabled: true\nreceiver: ~\nlog: null\n",
        "exporter:\n  retry:\n", NULL
    };
    for (size_t i = 0; docs[i]; i++) {
        ck_assert_msg(load(docs[i]) == 0, "%s: %s", docs[i], err);
        assert_is_default();
    }
}
END_TEST

/* ---- every key from the file ---- */

START_TEST(test_every_key)
{
    const char *yaml =
        "otel:\n"
        "  enabled: true\n"
        "  endpoint: https://api.honeycomb.io:443\n"
        "  protocol: http/protobuf\n"
        "  serviceName: aifactory-web\n"
        "  samplingRatio: 0.25\n"
        "  sampler:\n"
        "    rule: python\n"
        "    decidedBy: sidecar\n"
        "  headersSecretName: otel-headers\n"
        "receiver:\n"
        "  socket: /run/spanrelay.sock\n"
        "  socketMode: \"0600\"\n"
        "  grpc: 127.0.0.1:4317\n"
        "  http: \"[::1]:4318\"\n"
        "  maxRequestBytes: 8MiB\n"
        "  maxConnections: 1000\n"
        "  requestTimeout: 5s\n"
        "  idleTimeout: 1m\n"
        "buffer:\n"
        "  maxBytes: 1GiB\n"
        "exporter:\n"
        "  maxBatchBytes: 512KiB\n"
        "  maxBatchSpans: 100\n"
        "  batchTimeout: 1s\n"
        "  timeout: 30s\n"
        "  compression: gzip\n"
        "  retry:\n"
        "    initialInterval: 100ms\n"
        "    maxInterval: 1m\n"
        "    maxElapsedTime: 1h\n"
        "health:\n"
        "  listen: 0.0.0.0:8080\n"
        "shutdownTimeout: 25s\n"
        "log:\n"
        "  level: debug\n";
    ck_assert_msg(load(yaml) == 0, "%s", err);
    ck_assert_int_eq(cfg.enabled, 1);
    ck_assert_str_eq(cfg.endpoint, "https://api.honeycomb.io:443");
    ck_assert_int_eq(cfg.endpoint_is_signal, 0);
    ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_HTTP_PROTOBUF);
    ck_assert_str_eq(cfg.service_name, "aifactory-web");
    ck_assert(cfg.sampling_ratio == 0.25);
    ck_assert_int_eq(cfg.sampler_rule, CONFIG_SAMPLER_PYTHON);
    ck_assert_str_eq(cfg.receiver_socket, "/run/spanrelay.sock");
    ck_assert_uint_eq(cfg.receiver_socket_mode, 0600);
    ck_assert_str_eq(cfg.receiver_grpc, "127.0.0.1:4317");
    ck_assert_str_eq(cfg.receiver_http, "[::1]:4318");
    ck_assert_uint_eq(cfg.receiver_max_request_bytes, 8 * 1024 * 1024);
    ck_assert_uint_eq(cfg.receiver_max_connections, 1000);
    ck_assert_uint_eq(cfg.receiver_request_timeout_ms, 5000);
    ck_assert_uint_eq(cfg.receiver_idle_timeout_ms, 60000);
    ck_assert_uint_eq(cfg.buffer_max_bytes, 1024UL * 1024 * 1024);
    ck_assert_uint_eq(cfg.exporter_max_batch_bytes, 512 * 1024);
    ck_assert_uint_eq(cfg.exporter_max_batch_spans, 100);
    ck_assert_uint_eq(cfg.exporter_batch_timeout_ms, 1000);
    ck_assert_uint_eq(cfg.exporter_timeout_ms, 30000);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_GZIP);
    ck_assert_uint_eq(cfg.retry_initial_interval_ms, 100);
    ck_assert_uint_eq(cfg.retry_max_interval_ms, 60000);
    ck_assert_uint_eq(cfg.retry_max_elapsed_ms, 3600000);
    ck_assert_str_eq(cfg.health_listen, "0.0.0.0:8080");
    ck_assert_uint_eq(cfg.shutdown_timeout_ms, 25000);
    ck_assert_str_eq(cfg.log_level, "debug");
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_missing_keys_keep_their_value)
{
    ck_assert_int_eq(load("exporter:\n  timeout: 3s\n"), 0);
    ck_assert_int_eq(load("exporter:\n  compression: zstd\n"), 0);
    ck_assert_uint_eq(cfg.exporter_timeout_ms, 3000);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_ZSTD);
    ck_assert_uint_eq(cfg.exporter_max_batch_spans, 2048);
}
END_TEST

START_TEST(test_words_any_case)
{
    ck_assert_int_eq(load("otel:\n  enabled: True\n  endpoint: HTTP://tempo:4317\n"
                          "  protocol: GRPC\nexporter:\n  compression: Gzip\n"
                          "log:\n  level: WARN\n"), 0);
    ck_assert_int_eq(cfg.enabled, 1);
    ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_GRPC);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_GZIP);
    ck_assert_str_eq(cfg.log_level, "warning");
    ck_assert_int_eq(load("otel:\n  enabled: FALSE\n"), 0);
    ck_assert_int_eq(cfg.enabled, 0);
    ck_assert_int_eq(load("otel:\n  enabled: \"true\"\n"), 0);
    ck_assert_int_eq(cfg.enabled, 1);
    ck_assert_int_eq(load("exporter:\n  compression: none\nlog:\n  level: Error\n"), 0);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_NONE);
    ck_assert_str_eq(cfg.log_level, "error");
    ck_assert_int_eq(load("log:\n  level: warning\n"), 0);
    ck_assert_str_eq(cfg.log_level, "warning");
    ck_assert_int_eq(load("log:\n  level: info\n"), 0);
    ck_assert_str_eq(cfg.log_level, "info");
}
END_TEST

START_TEST(test_sampler_rule)
{
    static const struct { const char *text; enum config_sampler_rule rule; } good[] = {
        { "auto", CONFIG_SAMPLER_AUTO }, { "python", CONFIG_SAMPLER_PYTHON },
        { "consistent", CONFIG_SAMPLER_CONSISTENT }, { "Consistent", CONFIG_SAMPLER_CONSISTENT },
        { "\"PYTHON\"", CONFIG_SAMPLER_PYTHON },
    };
    char yaml[128];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cfg.sampler_rule = CONFIG_SAMPLER_AUTO + CONFIG_SAMPLER_CONSISTENT - good[i].rule;
        snprintf(yaml, sizeof(yaml), "otel:\n  sampler:\n    rule: %s\n", good[i].text);
        ck_assert_msg(load(yaml) == 0, "%s: %s", good[i].text, err);
        ck_assert_int_eq(cfg.sampler_rule, good[i].rule);
    }
    /* decidedBy is the chart's: any word passes, nothing changes. */
    ck_assert_msg(load("otel:\n  sampler:\n    decidedBy: sdk\n") == 0, "%s", err);
    ck_assert_int_eq(cfg.sampler_rule, CONFIG_SAMPLER_PYTHON);

    assert_load_error("otel:\n  sampler:\n    rule: traceidratio\n",
                      "otel.sampler.rule: must be auto, python or consistent, got "
                      "\"traceidratio\" at line 3");
    assert_load_error("otel:\n  sampler:\n    rule: \n",
                      "otel.sampler.rule: must be auto, python or consistent, got \"\" at line 3");
    assert_load_error("otel:\n  sampler:\n    rules: auto\n",
                      "otel.sampler.rules: unknown key at line 3");
    assert_load_error("otel:\n  sampler: consistent\n",
                      "otel.sampler: must be a mapping of keys, got \"consistent\" at line 2");
}
END_TEST

START_TEST(test_null_strings_are_empty)
{
    ck_assert_int_eq(load("receiver:\n  socket:\n  grpc: ~\n  http: null\n"
                          "otel:\n  endpoint: NULL\n"), 0);
    ck_assert_str_eq(cfg.receiver_socket, "");
    ck_assert_str_eq(cfg.receiver_grpc, "");
    ck_assert_str_eq(cfg.receiver_http, "");
    ck_assert_str_eq(cfg.endpoint, "");
    /* no listener left is a combination error, not a parse error */
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_socket_mode_forms)
{
    static const struct { const char *text; unsigned mode; } good[] = {
        { "\"0660\"", 0660 }, { "'600'", 0600 }, { "0660", 0660 }, { "432", 0660 },
        { "0o640", 0640 }, { "\"0o640\"", 0640 }, { "0", 0 }, { "0777", 0777 },
        { "511", 0777 }, { "\"0000\"", 0 }, { NULL, 0 }
    };
    char yaml[128];
    for (size_t i = 0; good[i].text; i++) {
        snprintf(yaml, sizeof(yaml), "receiver:\n  socketMode: %s\n", good[i].text);
        ck_assert_msg(load(yaml) == 0, "%s: %s", good[i].text, err);
        ck_assert_uint_eq(cfg.receiver_socket_mode, good[i].mode);
    }
    static const char *const bad[] = {
        "660", "\"0778\"", "0800", "01000", "512", "\"\"", "-1", "0x1ff", "rw-rw----",
        "\"00660\"", "0o", NULL
    };
    for (size_t i = 0; bad[i]; i++) {
        snprintf(yaml, sizeof(yaml), "receiver:\n  socketMode: %s\n", bad[i]);
        ck_assert_msg(load(yaml) == -1, "accepted %s", bad[i]);
    }
    assert_load_error("receiver:\n  socketMode: 660\n",
                      "receiver.socketMode: must be an octal file mode from 0000 to 0777 "
                      "such as \"0660\", got \"660\" at line 2");
}
END_TEST

START_TEST(test_listen_addresses)
{
    static const char *const good[] = {
        "127.0.0.1:4317", "\"[::1]:4317\"", "0.0.0.0:65535", "\"[fe80::1]:80\"",
        "\"[::]:1\"", NULL
    };
    /* Names are refused here rather than at start-up: a listen address is never resolved. */
    static const char *const bad[] = {
        "localhost:1", "my-host.example.com:443", "1.2.3:80", "4317", "\":4317\"", "host:0", "host:65536", "\"[::1]4317\"", "\"[zz]:1\"",
        "\"::1:4317\"", "\"host:\"", "host:12a", "\"[::1]:\"", "a_b:1", "host:+80",
        "\"[]:80\"", "host:000080", "\"[::1\"", NULL
    };
    char yaml[128];
    for (size_t i = 0; good[i]; i++) {
        snprintf(yaml, sizeof(yaml), "health:\n  listen: %s\n", good[i]);
        ck_assert_msg(load(yaml) == 0, "%s: %s", good[i], err);
        snprintf(yaml, sizeof(yaml), "receiver:\n  grpc: %s\n", good[i]);
        ck_assert_msg(load(yaml) == 0, "%s: %s", good[i], err);
    }
    for (size_t i = 0; bad[i]; i++) {
        snprintf(yaml, sizeof(yaml), "receiver:\n  http: %s\n", bad[i]);
        ck_assert_msg(load(yaml) == -1, "accepted %s", bad[i]);
    }
    assert_load_error("receiver:\n  grpc: 4317\n",
                      "receiver.grpc: must be a numeric address and a port, such as "
                      "127.0.0.1:4317 or [::1]:4317, or empty for off (missing port), "
                      "got \"4317\" at line 2");
    assert_load_error("health:\n  listen: \"\"\n",
                      "health.listen: must be a numeric address and a port, such as "
                      "127.0.0.1:4317 or [::1]:4317 (empty address), got \"\" at line 2");
    assert_load_error("otel:\n  enabled: false\nhealth:\n  listen: localhost:13999\n",
                      "health.listen: must be a numeric address and a port, such as "
                      "127.0.0.1:4317 or [::1]:4317 (the host is a name, and listen "
                      "addresses are never resolved), got \"localhost:13999\" at line 4");
}
END_TEST

START_TEST(test_endpoint_forms)
{
    static const char *const good[] = {
        "http://tempo:4317", "https://api.honeycomb.io", "http://[::1]:4318/otlp",
        "\"\"", "https://h/v1/traces?x=1", NULL
    };
    static const char *const bad[] = {
        "tempo:4317", "ftp://x", "http://", "http:///v1/traces", "\"http://a b\"",
        "//tempo", "https://?x", "http://tempo:0", "http://tempo:65536", "\"http://[::1\"",
        "\"http://::1:4317\"", "http://u@tempo:4317", "http://tempo:x", NULL
    };
    char yaml[128];
    for (size_t i = 0; good[i]; i++) {
        snprintf(yaml, sizeof(yaml), "otel:\n  endpoint: %s\n", good[i]);
        ck_assert_msg(load(yaml) == 0, "%s: %s", good[i], err);
    }
    for (size_t i = 0; bad[i]; i++) {
        snprintf(yaml, sizeof(yaml), "otel:\n  endpoint: %s\n", bad[i]);
        ck_assert_msg(load(yaml) == -1, "accepted %s", bad[i]);
    }
    assert_load_error("otel:\n  endpoint: tempo:4317\n",
                      "otel.endpoint: must be empty or a URL starting with http:// or "
                      "https://, got \"tempo:4317\" at line 2");
    assert_load_error("otel:\n  endpoint: http://tempo:0\n",
                      "otel.endpoint: must be empty or a URL starting with http:// or "
                      "https:// (port must be from 1 to 65535), got \"http://tempo:0\" "
                      "at line 2");
}
END_TEST

START_TEST(test_endpoint_without_enabled_enables)
{
    ck_assert_int_eq(load("otel:\n  endpoint: http://tempo:4317\n"), 0);
    ck_assert_int_eq(cfg.enabled, 1);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_endpoint_with_enabled_false_stays_disabled)
{
    ck_assert_int_eq(load("otel:\n  endpoint: http://tempo:4317\n  enabled: false\n"), 0);
    ck_assert_int_eq(cfg.enabled, 0);
    ck_assert_int_eq(load("otel:\n  endpoint: \"\"\n"), 0);
    ck_assert_int_eq(cfg.enabled, 0);
}
END_TEST

START_TEST(test_file_endpoint_is_a_base_url)
{
    env_put("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://a:4318/v1/traces");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.endpoint_is_signal, 1);
    ck_assert_int_eq(load("otel:\n  endpoint: http://b:4318\n"), 0);
    ck_assert_int_eq(cfg.endpoint_is_signal, 0);
}
END_TEST

START_TEST(test_anchors_and_aliases)
{
    ck_assert_int_eq(load("exporter:\n  retry: &r\n    maxInterval: 7s\n  timeout: 2s\n"), 0);
    ck_assert_uint_eq(cfg.retry_max_interval_ms, 7000);
    ck_assert_int_eq(load("x: &a 1\n"), -1);
    ck_assert_str_eq(err, "x: unknown key at line 1");
    ck_assert_int_eq(load("shutdownTimeout: &a 3s\nexporter:\n  timeout: *a\n"), 0);
    ck_assert_uint_eq(cfg.exporter_timeout_ms, 3000);
    assert_load_error("exporter: &e\n  retry: *e\n",
                      "exporter.retry.retry: unknown key at line 2");
}
END_TEST

/* ---- file errors ---- */

START_TEST(test_unknown_keys)
{
    assert_load_error("otel:\n  enabled: false\n  endpoint: \"\"\n\n"
                      "receiver:\n  socket: /tmp/x.sock\n  sockt: /tmp/y.sock\n",
                      "receiver.sockt: unknown key at line 7");
    assert_load_error("foo: 1\n", "foo: unknown key at line 1");
    assert_load_error("exporter:\n  retry:\n    maxIntervall: 1s\n",
                      "exporter.retry.maxIntervall: unknown key at line 3");
    assert_load_error("Otel:\n  enabled: true\n", "Otel: unknown key at line 1");
    assert_load_error("otel:\n  service_name: x\n", "otel.service_name: unknown key at line 2");
    assert_load_error("otel:\n  <<: {}\n", "otel.<<: unknown key at line 2");
}
END_TEST

START_TEST(test_duplicate_keys)
{
    assert_load_error("otel:\n  enabled: true\n  enabled: false\n",
                      "otel.enabled: duplicate key at line 3");
    assert_load_error("log:\n  level: info\nlog:\n  level: debug\n",
                      "log: duplicate key at line 3");
    assert_load_error("shutdownTimeout: 1s\nshutdownTimeout: 2s\n",
                      "shutdownTimeout: duplicate key at line 2");
}
END_TEST

START_TEST(test_value_errors)
{
    assert_load_error("otel:\n  enabled: false\n  endpoint: \"\"\n  protocol: grpc\n"
                      "  samplingRatio: abc\n",
                      "otel.samplingRatio: must be a number in [0, 1], got \"abc\" at line 5");
    assert_load_error("otel:\n  enabled: yes\n",
                      "otel.enabled: must be true or false, got \"yes\" at line 2");
    assert_load_error("otel:\n  enabled: 1\n",
                      "otel.enabled: must be true or false, got \"1\" at line 2");
    assert_load_error("otel:\n  protocol: http\n",
                      "otel.protocol: must be grpc or http/protobuf, got \"http\" at line 2");
    assert_load_error("otel:\n  protocol: http/json\n",
                      "otel.protocol: http/json is not supported for export, must be grpc or "
                      "http/protobuf, got \"http/json\" at line 2");
    assert_load_error("otel:\n  serviceName: \"\"\n",
                      "otel.serviceName: must not be empty, got \"\" at line 2");
    assert_load_error("otel:\n  serviceName:\n",
                      "otel.serviceName: must not be empty, got \"\" at line 2");
    assert_load_error("exporter:\n  compression: brotli\n",
                      "exporter.compression: must be none, gzip or zstd, got \"brotli\" at line 2");
    assert_load_error("log:\n  level: trace\n",
                      "log.level: must be debug, info, warning or error, got \"trace\" at line 2");
    assert_load_error("receiver:\n  maxRequestBytes: 0\n",
                      "receiver.maxRequestBytes: must be a size from 1KiB to 1GiB such as 512KiB "
                      "or 64MiB, got \"0\" at line 2");
    assert_load_error("buffer:\n  maxBytes: 17GiB\n",
                      "buffer.maxBytes: must be a size from 1KiB to 16GiB such as 512KiB "
                      "or 64MiB, got \"17GiB\" at line 2");
    assert_load_error("exporter:\n  maxBatchBytes: 1.5MiB\n",
                      "exporter.maxBatchBytes: must be a size from 1KiB to 1GiB such as 512KiB "
                      "or 64MiB, got \"1.5MiB\" at line 2");
    assert_load_error("receiver:\n  maxConnections: 0\n",
                      "receiver.maxConnections: must be an integer from 1 to 65536, "
                      "got \"0\" at line 2");
    assert_load_error("exporter:\n  maxBatchSpans: 1000001\n",
                      "exporter.maxBatchSpans: must be an integer from 1 to 1000000, "
                      "got \"1000001\" at line 2");
    assert_load_error("exporter:\n  batchTimeout: 0ms\n",
                      "exporter.batchTimeout: must be a duration from 1ms to 1h such as 200ms, "
                      "5s or 1m30s, got \"0ms\" at line 2");
    assert_load_error("exporter:\n  timeout: 2h\n",
                      "exporter.timeout: must be a duration from 1ms to 1h such as 200ms, "
                      "5s or 1m30s, got \"2h\" at line 2");
    assert_load_error("exporter:\n  retry:\n    maxElapsedTime: 25h\n",
                      "exporter.retry.maxElapsedTime: must be a duration from 1ms to 24h such as "
                      "200ms, 5s or 1m30s, got \"25h\" at line 3");
    assert_load_error("shutdownTimeout: 1.5s\n",
                      "shutdownTimeout: must be a duration from 1ms to 1h such as 200ms, "
                      "5s or 1m30s, got \"1.5s\" at line 1");
    assert_load_error("receiver:\n  socket: /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
                      "receiver.socket: must be a path shorter than 108 bytes, or empty for "
                      "none, got \"/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..."
                      "\" at line 2");
}
END_TEST

START_TEST(test_spool_keys)
{
    ck_assert_str_eq(cfg.spool_dir, "");
    ck_assert_uint_eq(cfg.spool_max_bytes, 1024ull * 1024 * 1024);
    ck_assert_int_eq(cfg.spool_sync, CONFIG_SPOOL_SYNC_INTERVAL);
    ck_assert_uint_eq(cfg.spool_sync_interval_ms, 1000);
    ck_assert_int_eq(load("buffer:\n  spool:\n    dir: /var/spool/spanrelay\n"
                          "    maxBytes: 10MiB\n    sync: Always\n    syncInterval: 250ms\n"), 0);
    ck_assert_str_eq(cfg.spool_dir, "/var/spool/spanrelay");
    ck_assert_uint_eq(cfg.spool_max_bytes, 10 * 1024 * 1024);
    ck_assert_int_eq(cfg.spool_sync, CONFIG_SPOOL_SYNC_ALWAYS);
    ck_assert_uint_eq(cfg.spool_sync_interval_ms, 250);
    ck_assert_int_eq(load("buffer:\n  spool:\n    sync: never\n    dir: \"\"\n"), 0);
    ck_assert_int_eq(cfg.spool_sync, CONFIG_SPOOL_SYNC_NEVER);
    ck_assert_str_eq(cfg.spool_dir, "");
    ck_assert_int_eq(load("buffer:\n  spool:\n    sync: interval\n"), 0);
    ck_assert_int_eq(cfg.spool_sync, CONFIG_SPOOL_SYNC_INTERVAL);

    assert_load_error("buffer:\n  spool:\n    dir: spool\n",
                      "buffer.spool.dir: must be an absolute path, or empty for off, "
                      "got \"spool\" at line 3");
    assert_load_error("buffer:\n  spool:\n    dir: \"/a\\tb\"\n",
                      "buffer.spool.dir: must be an absolute path, or empty for off, "
                      "got \"/a\tb\" at line 3");
    assert_load_error("buffer:\n  spool:\n    maxBytes: 1KiB\n",
                      "buffer.spool.maxBytes: must be a size from 64KiB to 1024GiB such as "
                      "512KiB or 64MiB, got \"1KiB\" at line 3");
    assert_load_error("buffer:\n  spool:\n    sync: sometimes\n",
                      "buffer.spool.sync: must be interval, always or never, "
                      "got \"sometimes\" at line 3");
    assert_load_error("buffer:\n  spool:\n    syncInterval: 0s\n",
                      "buffer.spool.syncInterval: must be a duration from 1ms to 1h such as "
                      "200ms, 5s or 1m30s, got \"0s\" at line 3");
    assert_load_error("buffer:\n  spool:\n    path: /x\n",
                      "buffer.spool.path: unknown key at line 3");
}
END_TEST

START_TEST(test_ratio_forms)
{
    static const struct { const char *text; double ratio; } good[] = {
        { "0", 0.0 }, { "1", 1.0 }, { "0.5", 0.5 }, { "1.0", 1.0 }, { "1e-3", 0.001 },
        { "\"0.1\"", 0.1 }, { "-0", 0.0 }, { ".5", 0.5 }, { NULL, 0 }
    };
    static const char *const bad[] = {
        "1.5", "-0.1", "nan", ".nan", "inf", "0x1p-1", "\"\"", "1e400", "0.5.5", "1e", NULL
    };
    char yaml[128];
    for (size_t i = 0; good[i].text; i++) {
        snprintf(yaml, sizeof(yaml), "otel:\n  samplingRatio: %s\n", good[i].text);
        ck_assert_msg(load(yaml) == 0, "%s: %s", good[i].text, err);
        ck_assert(cfg.sampling_ratio == good[i].ratio);
    }
    for (size_t i = 0; bad[i]; i++) {
        snprintf(yaml, sizeof(yaml), "otel:\n  samplingRatio: %s\n", bad[i]);
        ck_assert_msg(load(yaml) == -1, "accepted %s", bad[i]);
    }
}
END_TEST

START_TEST(test_type_errors)
{
    assert_load_error("otel:\n  endpoint:\n    url: x\n",
                      "otel.endpoint: must be a single value, got a mapping at line 3");
    assert_load_error("otel:\n  endpoint: [a, b]\n",
                      "otel.endpoint: must be a single value, got a list at line 2");
    assert_load_error("otel:\n  headersSecretName: {a: b}\n",
                      "otel.headersSecretName: must be a single value, got a mapping at line 2");
    assert_load_error("receiver: /tmp/x.sock\n",
                      "receiver: must be a mapping of keys, got \"/tmp/x.sock\" at line 1");
    assert_load_error("receiver:\n  - socket\n",
                      "receiver: must be a mapping of keys, got a list at line 2");
    assert_load_error("exporter:\n  retry: 5s\n",
                      "exporter.retry: must be a mapping of keys, got \"5s\" at line 2");
    assert_load_error("hello\n", "top level: must be a mapping of keys, got \"hello\" at line 1");
    assert_load_error("- a\n- b\n", "top level: must be a mapping of keys, got a list at line 1");
    assert_load_error("? [a]\n: 1\n", "top level: keys must be names, got a list at line 1");
    assert_load_error("otel:\n  ? {a: 1}\n  : 1\n",
                      "otel: keys must be names, got a mapping at line 2");
    assert_load_error("otel:\n  endpoint: \"http://a\\0b\"\n",
                      "otel.endpoint: must not contain a NUL character at line 2");
}
END_TEST

START_TEST(test_syntax_errors)
{
    assert_load_error("otel:\n  enabled: true\n endpoint: x\n",
                      "YAML syntax error: while parsing a block mapping, did not find expected "
                      "key at line 3");
    assert_load_error("otel: [\n", "YAML syntax error: while parsing a flow node, did not find "
                                   "expected node content at line 2");
    assert_load_error("otel: *nowhere\n",
                      "YAML syntax error: found undefined alias at line 1");
    assert_load_error("otel: {}\n---\nlog: {}\n",
                      "only one YAML document is allowed, another starts at line 2");
    assert_load_error("otel: {}\n---\nlog: [\n", "YAML syntax error: while parsing a flow node, "
                                                 "did not find expected node content at line 4");
    static const char bad_utf8[] = "otel:\n  serviceName: \xff\xfe\n";
    assert_load_error(bad_utf8, "YAML: invalid leading UTF-8 octet at byte 21");
}
END_TEST

START_TEST(test_long_values_are_cut)
{
    char yaml[400], want[400];
    char value[201];
    memset(value, 'x', 200);
    value[200] = '\0';
    snprintf(yaml, sizeof(yaml), "otel:\n  protocol: %s\n", value);
    snprintf(want, sizeof(want),
             "otel.protocol: must be grpc or http/protobuf, got \"%.61s...\" at line 2", value);
    assert_load_error(yaml, want);
}
END_TEST

START_TEST(test_file_errors)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static const char text[] = "otel:\n  serviceName: from-file\n";
    ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (int)sizeof(text) - 1);
    close(fd);
    ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), 0);
    ck_assert_str_eq(cfg.service_name, "from-file");
    unlink(path);

    ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    ck_assert_str_eq(err, want);

    ck_assert_int_eq(config_load_file(&cfg, "/tmp", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "/tmp: Is a directory");
}
END_TEST

START_TEST(test_file_too_large)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    char line[1024];
    memset(line, '#', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 1025; i++)
        ck_assert_int_eq(write(fd, line, sizeof(line)), (int)sizeof(line));
    close(fd);
    ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s: larger than 1MiB, not a configuration file", path);
    ck_assert_str_eq(err, want);
    unlink(path);
}
END_TEST

START_TEST(test_small_error_buffer)
{
    char small[8];
    ck_assert_int_eq(config_load_string(&cfg, "foo: 1\n", 7, small, sizeof(small)), -1);
    ck_assert_str_eq(small, "foo: un");
    ck_assert_int_eq(config_load_string(&cfg, "foo: 1\n", 7, NULL, 0), -1);
}
END_TEST

/* ---- sizes and durations ---- */

START_TEST(test_parse_size)
{
    static const struct { const char *text; size_t bytes; } good[] = {
        { "0", 0 }, { "1", 1 }, { "10B", 10 }, { "1KB", 1000 }, { "1KiB", 1024 },
        { "2MB", 2000000 }, { "64MiB", 64UL << 20 }, { "1GB", 1000000000 },
        { "3GiB", 3UL << 30 }, { "18446744073709551615", 18446744073709551615UL },
        { NULL, 0 }
    };
    static const char *const bad[] = {
        "", "MiB", "1.5MiB", "-1", "+1", "1 MiB", "1mib", "1TiB", "1KiBB", "1k",
        "18446744073709551616", "17179869184GiB", " 1", "1 ", "0x10", NULL
    };
    size_t out;
    for (size_t i = 0; good[i].text; i++) {
        ck_assert_msg(config_parse_size(good[i].text, &out) == 0, "%s", good[i].text);
        ck_assert_uint_eq(out, good[i].bytes);
    }
    for (size_t i = 0; bad[i]; i++) {
        out = 7;
        ck_assert_msg(config_parse_size(bad[i], &out) == -1, "accepted %s", bad[i]);
        ck_assert_uint_eq(out, 7);
    }
    ck_assert_int_eq(config_parse_size(NULL, &out), -1);
}
END_TEST

START_TEST(test_parse_duration)
{
    static const struct { const char *text; uint64_t ms; } good[] = {
        { "0", 0 }, { "200", 200 }, { "200ms", 200 }, { "5s", 5000 }, { "1m", 60000 },
        { "5m", 300000 }, { "1h", 3600000 }, { "1m30s", 90000 }, { "1h1ms", 3600001 },
        { "2s500ms", 2500 }, { "18446744073709551615", UINT64_MAX }, { NULL, 0 }
    };
    static const char *const bad[] = {
        "", "ms", "1.5s", "5 s", "5sec", "-1s", "1d", "1m30", "s5", "5S", "1h-1m",
        "18446744073709551615h", "18446744073709551615ms1ms", "99999999999999999999", NULL
    };
    uint64_t out;
    for (size_t i = 0; good[i].text; i++) {
        ck_assert_msg(config_parse_duration_ms(good[i].text, &out) == 0, "%s", good[i].text);
        ck_assert_uint_eq(out, good[i].ms);
    }
    for (size_t i = 0; bad[i]; i++) {
        out = 7;
        ck_assert_msg(config_parse_duration_ms(bad[i], &out) == -1, "accepted %s", bad[i]);
        ck_assert_uint_eq(out, 7);
    }
    ck_assert_int_eq(config_parse_duration_ms(NULL, &out), -1);
}
END_TEST

/* ---- key=value lists ---- */

START_TEST(test_kv_list)
{
    struct config_kv *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(config_parse_kv_list(" api-key = s3cr%3Dt , x-team=a%2Cb,,"
                                          "authorization=Basic dXNlcjpw==,empty=,"
                                          "sp%20ace=%e2%82%AC ", &list, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(list[0].key, "api-key");
    ck_assert_str_eq(list[0].value, "s3cr=t");
    ck_assert_str_eq(list[1].key, "x-team");
    ck_assert_str_eq(list[1].value, "a,b");
    ck_assert_str_eq(list[2].key, "authorization");
    ck_assert_str_eq(list[2].value, "Basic dXNlcjpw==");
    ck_assert_str_eq(list[3].key, "empty");
    ck_assert_str_eq(list[3].value, "");
    ck_assert_str_eq(list[4].key, "sp ace");
    ck_assert_str_eq(list[4].value, "\xe2\x82\xac");

    /* appends, and leaves the list alone on error */
    ck_assert_int_eq(config_parse_kv_list("k=v", &list, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(list[5].key, "k");
    ck_assert_int_eq(config_parse_kv_list("a=1,b", &list, &n, err, sizeof(err)), -1);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(config_parse_kv_list("", &list, &n, err, sizeof(err)), 0);
    ck_assert_int_eq(config_parse_kv_list(" , ,", &list, &n, err, sizeof(err)), 0);
    ck_assert_int_eq(config_parse_kv_list(NULL, &list, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 6);

    for (size_t i = 0; i < n; i++) {
        free(list[i].key);
        free(list[i].value);
    }
    free(list);
}
END_TEST

START_TEST(test_kv_list_errors)
{
    static const struct { const char *text; const char *message; } cases[] = {
        { "a=1,b", "entry 2: missing '=' (want key=value)" },
        { "a=1,,secret", "entry 3: missing '=' (want key=value)" },
        { " =v", "entry 1: empty key" },
        { "a=%zz", "entry 1: bad percent-encoding (want %XX)" },
        { "a=%4", "entry 1: bad percent-encoding (want %XX)" },
        { "a=%", "entry 1: bad percent-encoding (want %XX)" },
        { "a=1,b=x%0d%0aInjected: 1", "entry 2: control character in key or value" },
        { "a=%00", "entry 1: control character in key or value" },
        { "a%0a=1", "entry 1: control character in key or value" },
        { "a=\x01", "entry 1: control character in key or value" },
        { NULL, NULL }
    };
    for (size_t i = 0; cases[i].text; i++) {
        struct config_kv *list = NULL;
        size_t n = 0;
        ck_assert_int_eq(config_parse_kv_list(cases[i].text, &list, &n, err, sizeof(err)), -1);
        ck_assert_str_eq(err, cases[i].message);
        ck_assert_ptr_null(list);
        ck_assert_uint_eq(n, 0);
    }
}
END_TEST

/* ---- the environment ---- */

START_TEST(test_env_nothing_set)
{
    env_put("OTEL_EXPORTER_OTLP_ENDPOINT", "");
    env_put("OTEL_SDK_DISABLED", "");
    env_put("OTEL_TRACES_SAMPLER_ARG", "");
    ck_assert_int_eq(apply_env(), 0);
    assert_is_default();
}
END_TEST

START_TEST(test_env_endpoint)
{
    env_put("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.endpoint, "http://collector:4318");
    ck_assert_int_eq(cfg.endpoint_is_signal, 0);
    ck_assert_int_eq(cfg.enabled, 1);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_env_traces_endpoint_wins)
{
    env_put("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    env_put("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://vendor/api/traces");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.endpoint, "https://vendor/api/traces");
    ck_assert_int_eq(cfg.endpoint_is_signal, 1);
    ck_assert_int_eq(cfg.enabled, 1);
}
END_TEST

START_TEST(test_env_endpoint_over_file_disabled)
{
    ck_assert_int_eq(load("otel:\n  enabled: false\n  endpoint: http://file:4317\n"), 0);
    env_put("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.enabled, 1);
    ck_assert_str_eq(cfg.endpoint, "http://env:4317");
}
END_TEST

START_TEST(test_env_endpoint_errors)
{
    env_put("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317");
    assert_env_error("OTEL_EXPORTER_OTLP_ENDPOINT: must be empty or a URL starting with "
                     "http:// or https://, got \"collector:4317\"");
    env_count = 0;
    env_put("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "grpc://x");
    assert_env_error("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: must be empty or a URL starting with "
                     "http:// or https://, got \"grpc://x\"");
}
END_TEST

START_TEST(test_env_sdk_disabled)
{
    env_put("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
    env_put("OTEL_SDK_DISABLED", "TRUE");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.enabled, 0);
    ck_assert_str_eq(cfg.endpoint, "http://collector:4317");
}
END_TEST

START_TEST(test_env_sdk_disabled_false_changes_nothing)
{
    ck_assert_int_eq(load("otel:\n  enabled: true\n  endpoint: http://a:1\n"), 0);
    env_put("OTEL_SDK_DISABLED", "false");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.enabled, 1);
    config_free(&cfg);
    ck_assert_int_eq(config_defaults(&cfg), 0);
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.enabled, 0);
    env_count = 0;
    env_put("OTEL_SDK_DISABLED", "yes");
    assert_env_error("OTEL_SDK_DISABLED: must be true or false, got \"yes\"");
}
END_TEST

START_TEST(test_env_protocol)
{
    env_put("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_HTTP_PROTOBUF);
    env_put("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "GRPC");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_GRPC);
}
END_TEST

START_TEST(test_env_protocol_errors)
{
    env_put("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    assert_env_error("OTEL_EXPORTER_OTLP_PROTOCOL: http/json is not supported for export, "
                     "must be grpc or http/protobuf, got \"http/json\"");
    env_put("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift");
    assert_env_error("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: must be grpc or http/protobuf, "
                     "got \"thrift\"");
}
END_TEST

START_TEST(test_env_headers)
{
    env_put("OTEL_EXPORTER_OTLP_HEADERS", "Api-Key=general,x-team=obs%20team");
    env_put("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=traces%3D%3D,x-extra=1");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_uint_eq(cfg.headers_count, 3);
    ck_assert_str_eq(cfg.headers[0].key, "Api-Key");
    ck_assert_str_eq(cfg.headers[0].value, "traces==");
    ck_assert_str_eq(cfg.headers[1].key, "x-team");
    ck_assert_str_eq(cfg.headers[1].value, "obs team");
    ck_assert_str_eq(cfg.headers[2].key, "x-extra");
    ck_assert_str_eq(cfg.headers[2].value, "1");
}
END_TEST

START_TEST(test_env_headers_only_traces)
{
    env_put("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=1,a=2");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_uint_eq(cfg.headers_count, 1);
    ck_assert_str_eq(cfg.headers[0].value, "2");
}
END_TEST

START_TEST(test_env_headers_errors_hide_values)
{
    env_put("OTEL_EXPORTER_OTLP_HEADERS", "api-key=ok,sk-live-SECRET");
    assert_env_error("OTEL_EXPORTER_OTLP_HEADERS: entry 2: missing '=' (want key=value)");
    ck_assert_ptr_null(strstr(err, "SECRET"));
    env_count = 0;
    env_put("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "k=SECRET%zz");
    assert_env_error("OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 1: bad percent-encoding (want %XX)");
}
END_TEST

START_TEST(test_env_timeout)
{
    env_put("OTEL_BSP_EXPORT_TIMEOUT", "30000");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_uint_eq(cfg.exporter_timeout_ms, 30000);
    env_put("OTEL_EXPORTER_OTLP_TIMEOUT", "5000");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_uint_eq(cfg.exporter_timeout_ms, 5000);
    env_put("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_uint_eq(cfg.exporter_timeout_ms, 2500);
}
END_TEST

START_TEST(test_env_timeout_errors)
{
    env_put("OTEL_EXPORTER_OTLP_TIMEOUT", "5s");
    assert_env_error("OTEL_EXPORTER_OTLP_TIMEOUT: must be a whole number of milliseconds from "
                     "1 to 3600000, got \"5s\"");
    env_count = 0;
    env_put("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0");
    assert_env_error("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: must be a whole number of milliseconds "
                     "from 1 to 3600000, got \"0\"");
    env_count = 0;
    env_put("OTEL_BSP_EXPORT_TIMEOUT", "-1");
    assert_env_error("OTEL_BSP_EXPORT_TIMEOUT: must be a whole number of milliseconds from "
                     "1 to 3600000, got \"-1\"");
}
END_TEST

START_TEST(test_env_compression)
{
    env_put("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_GZIP);
    env_put("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_ZSTD);
    env_count = 0;
    env_put("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "None");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_NONE);
    env_put("OTEL_EXPORTER_OTLP_COMPRESSION", "deflate");
    ck_assert_int_eq(apply_env(), 0);
    env_count = 0;
    env_put("OTEL_EXPORTER_OTLP_COMPRESSION", "deflate");
    assert_env_error("OTEL_EXPORTER_OTLP_COMPRESSION: must be none, gzip or zstd, got \"deflate\"");
}
END_TEST

START_TEST(test_env_certificate_and_insecure)
{
    env_put("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ssl/general.pem");
    env_put("OTEL_EXPORTER_OTLP_INSECURE", "true");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.certificate, "/etc/ssl/general.pem");
    ck_assert_int_eq(cfg.insecure, 1);
    env_put("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/etc/ssl/traces.pem");
    env_put("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "False");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.certificate, "/etc/ssl/traces.pem");
    ck_assert_int_eq(cfg.insecure, 0);
    env_count = 0;
    env_put("OTEL_EXPORTER_OTLP_INSECURE", "1");
    assert_env_error("OTEL_EXPORTER_OTLP_INSECURE: must be true or false, got \"1\"");
}
END_TEST

START_TEST(test_env_service_name)
{
    env_put("OTEL_SERVICE_NAME", "from-env");
    ck_assert_int_eq(load("otel:\n  serviceName: from-file\n"), 0);
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.service_name, "from-env");
}
END_TEST

START_TEST(test_env_resource_attributes)
{
    env_put("OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod, service.name=from-attrs ,k8s.pod.name=web%2D1");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.service_name, "from-attrs");
    ck_assert_uint_eq(cfg.resource_attrs_count, 2);
    ck_assert_str_eq(cfg.resource_attrs[0].key, "deployment.environment");
    ck_assert_str_eq(cfg.resource_attrs[0].value, "prod");
    ck_assert_str_eq(cfg.resource_attrs[1].key, "k8s.pod.name");
    ck_assert_str_eq(cfg.resource_attrs[1].value, "web-1");
}
END_TEST

START_TEST(test_env_service_name_beats_resource_attributes)
{
    env_put("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,team=obs");
    env_put("OTEL_SERVICE_NAME", "from-env");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.service_name, "from-env");
    ck_assert_uint_eq(cfg.resource_attrs_count, 1);
    ck_assert_str_eq(cfg.resource_attrs[0].key, "team");
    /* applying again keeps one entry per key */
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_uint_eq(cfg.resource_attrs_count, 1);
}
END_TEST

START_TEST(test_env_resource_attribute_errors)
{
    env_put("OTEL_RESOURCE_ATTRIBUTES", "a=1,b");
    assert_env_error("OTEL_RESOURCE_ATTRIBUTES: entry 2: missing '=' (want key=value)");
    env_count = 0;
    env_put("OTEL_RESOURCE_ATTRIBUTES", "service.name=");
    assert_env_error("OTEL_RESOURCE_ATTRIBUTES: service.name must not be empty");
    env_count = 0;
    env_put("OTEL_RESOURCE_ATTRIBUTES", "Service.Name=x");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.service_name, "unknown_service");
    ck_assert_uint_eq(cfg.resource_attrs_count, 1);
}
END_TEST

START_TEST(test_env_sampler)
{
    static const struct { const char *sampler, *arg; double ratio; } cases[] = {
        { NULL, "0.25", 0.25 },
        { "parentbased_traceidratio", "0.5", 0.5 },
        { "traceidratio", "0.125", 0.125 },
        { "TraceIdRatio", NULL, 0.75 },
        { "always_on", "0.1", 1.0 },
        { "parentbased_always_on", NULL, 1.0 },
        { "always_off", "0.9", 0.0 },
        { "parentbased_always_off", NULL, 0.0 },
        { NULL, NULL, 0.75 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        env_count = 0;
        cfg.sampling_ratio = 0.75;
        if (cases[i].sampler)
            env_put("OTEL_TRACES_SAMPLER", cases[i].sampler);
        if (cases[i].arg)
            env_put("OTEL_TRACES_SAMPLER_ARG", cases[i].arg);
        ck_assert_msg(apply_env() == 0, "%s", err);
        ck_assert_msg(cfg.sampling_ratio == cases[i].ratio, "case %zu: %f", i,
                      cfg.sampling_ratio);
    }
}
END_TEST

START_TEST(test_env_sampler_errors)
{
    env_put("OTEL_TRACES_SAMPLER_ARG", "x");
    assert_env_error("OTEL_TRACES_SAMPLER_ARG: must be a number in [0, 1], got \"x\"");
    env_count = 0;
    env_put("OTEL_TRACES_SAMPLER", "always_on");
    env_put("OTEL_TRACES_SAMPLER_ARG", "2");
    assert_env_error("OTEL_TRACES_SAMPLER_ARG: must be a number in [0, 1], got \"2\"");
    env_count = 0;
    env_put("OTEL_TRACES_SAMPLER", "jaeger_remote");
    assert_env_error("OTEL_TRACES_SAMPLER: must be one of parentbased_traceidratio, "
                     "traceidratio, parentbased_always_on, always_on, parentbased_always_off, "
                     "always_off, got \"jaeger_remote\"");
    ck_assert(cfg.sampling_ratio == 1.0);
}
END_TEST

START_TEST(test_env_bsp)
{
    env_put("OTEL_BSP_SCHEDULE_DELAY", "5000");
    env_put("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512");
    env_put("OTEL_BSP_MAX_QUEUE_SIZE", "not even a number");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_uint_eq(cfg.exporter_batch_timeout_ms, 5000);
    ck_assert_uint_eq(cfg.exporter_max_batch_spans, 512);
    ck_assert_uint_eq(cfg.buffer_max_bytes, 64 * 1024 * 1024);
}
END_TEST

START_TEST(test_env_bsp_errors)
{
    env_put("OTEL_BSP_SCHEDULE_DELAY", "5s");
    assert_env_error("OTEL_BSP_SCHEDULE_DELAY: must be a whole number of milliseconds from 1 "
                     "to 3600000, got \"5s\"");
    env_count = 0;
    env_put("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0");
    assert_env_error("OTEL_BSP_MAX_EXPORT_BATCH_SIZE: must be an integer from 1 to 1000000, "
                     "got \"0\"");
}
END_TEST

START_TEST(test_env_log_level)
{
    env_put("SPANRELAY_LOG_LEVEL", "DEBUG");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.log_level, "debug");
    env_count = 0;
    env_put("SPANRELAY_LOG_LEVEL", "verbose");
    assert_env_error("SPANRELAY_LOG_LEVEL: must be debug, info, warning or error, "
                     "got \"verbose\"");
}
END_TEST

START_TEST(test_file_then_env)
{
    ck_assert_int_eq(load("otel:\n  enabled: true\n  endpoint: http://file:4317\n"
                          "  protocol: http/protobuf\n  serviceName: file\n"
                          "  samplingRatio: 0.5\nexporter:\n  timeout: 3s\n"
                          "  batchTimeout: 1s\n  maxBatchSpans: 10\n  compression: gzip\n"
                          "log:\n  level: error\n"), 0);
    env_put("OTEL_EXPORTER_OTLP_ENDPOINT", "https://env:4317");
    env_put("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    env_put("OTEL_SERVICE_NAME", "env");
    env_put("OTEL_TRACES_SAMPLER_ARG", "0.1");
    env_put("OTEL_EXPORTER_OTLP_TIMEOUT", "4000");
    env_put("OTEL_BSP_SCHEDULE_DELAY", "100");
    env_put("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20");
    env_put("OTEL_EXPORTER_OTLP_COMPRESSION", "none");
    env_put("SPANRELAY_LOG_LEVEL", "info");
    ck_assert_int_eq(apply_env(), 0);
    ck_assert_str_eq(cfg.endpoint, "https://env:4317");
    ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_GRPC);
    ck_assert_str_eq(cfg.service_name, "env");
    ck_assert(cfg.sampling_ratio == 0.1);
    ck_assert_uint_eq(cfg.exporter_timeout_ms, 4000);
    ck_assert_uint_eq(cfg.exporter_batch_timeout_ms, 100);
    ck_assert_uint_eq(cfg.exporter_max_batch_spans, 20);
    ck_assert_int_eq(cfg.exporter_compression, CONFIG_COMPRESSION_NONE);
    ck_assert_str_eq(cfg.log_level, "info");
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

/* ---- the combination ---- */

START_TEST(test_validate_enabled_needs_endpoint)
{
    ck_assert_int_eq(load("otel:\n  enabled: true\n"), 0);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "otel.endpoint: required when otel.enabled is true");
}
END_TEST

START_TEST(test_validate_errors)
{
    static const struct { const char *yaml, *message; } cases[] = {
        { "receiver:\n  socket: \"\"\n",
          "receiver: no listener, set receiver.socket, receiver.grpc or receiver.http" },
        { "exporter:\n  retry:\n    initialInterval: 10s\n",
          "exporter.retry.initialInterval: must not exceed exporter.retry.maxInterval "
          "(10s > 5s)" },
        { "exporter:\n  maxBatchBytes: 128MiB\n",
          "exporter.maxBatchBytes: must not exceed buffer.maxBytes (128MiB > 64MiB)" },
        { "buffer:\n  maxBytes: 3000KiB\n",
          "receiver.maxRequestBytes: must not exceed buffer.maxBytes (4MiB > 3000KiB)" },
        { "receiver:\n  grpc: 127.0.0.1:4317\n  http: 127.0.0.1:4317\n",
          "receiver.http: same address as receiver.grpc (127.0.0.1:4317)" },
        { "receiver:\n  grpc: 127.0.0.1:13133\n",
          "health.listen: same address as receiver.grpc (127.0.0.1:13133)" },
        { "receiver:\n  http: 127.0.0.1:13133\n",
          "health.listen: same address as receiver.http (127.0.0.1:13133)" },
        { NULL, NULL }
    };
    for (size_t i = 0; cases[i].yaml; i++) {
        config_free(&cfg);
        ck_assert_int_eq(config_defaults(&cfg), 0);
        ck_assert_msg(load(cases[i].yaml) == 0, "%s", err);
        ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -1);
        ck_assert_str_eq(err, cases[i].message);
    }
}
END_TEST

START_TEST(test_validate_limits_inclusive)
{
    ck_assert_int_eq(load("buffer:\n  maxBytes: 4MiB\nexporter:\n  maxBatchBytes: 4MiB\n"
                          "  retry:\n    initialInterval: 5s\nreceiver:\n  socket: \"\"\n"
                          "  grpc: 127.0.0.1:4317\n"), 0);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

/* ---- loadBalance ---- */

START_TEST(test_load_balance_defaults)
{
    ck_assert_int_eq(cfg.load_balance.resolver, CONFIG_RESOLVER_NONE);
    ck_assert_uint_eq(cfg.load_balance.endpoints.count, 0);
    ck_assert_ptr_null(cfg.load_balance.hostname);
    ck_assert_uint_eq(cfg.load_balance.interval_ms, 5000);
    ck_assert_uint_eq(cfg.load_balance.eject_after_ms, 30000);
}
END_TEST

START_TEST(test_load_balance_static)
{
    ck_assert_msg(load("otel:\n  loadBalance:\n    resolver: STATIC\n"
                       "    endpoints: [gw-1.gateways:4317, 10.0.0.2:4317, \"[fd00::7]:4317\"]\n"
                       "    ejectAfter: 10s\n") == 0, "%s", err);
    ck_assert_int_eq(cfg.load_balance.resolver, CONFIG_RESOLVER_STATIC);
    ck_assert_uint_eq(cfg.load_balance.endpoints.count, 3);
    ck_assert_str_eq(cfg.load_balance.endpoints.items[0], "gw-1.gateways:4317");
    ck_assert_str_eq(cfg.load_balance.endpoints.items[2], "[fd00::7]:4317");
    ck_assert_uint_eq(cfg.load_balance.eject_after_ms, 10000);
    /* a fleet without otel.enabled means "export there"; no endpoint is needed */
    ck_assert_int_eq(cfg.enabled, 1);
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
    /* a second file replaces the list */
    ck_assert_msg(load("otel:\n  loadBalance:\n    resolver: static\n"
                       "    endpoints:\n      - a:1\n") == 0, "%s", err);
    ck_assert_uint_eq(cfg.load_balance.endpoints.count, 1);
    ck_assert_str_eq(cfg.load_balance.endpoints.items[0], "a:1");
}
END_TEST

START_TEST(test_load_balance_dns)
{
    ck_assert_msg(load("otel:\n  endpoint: https://gateways.observability.svc:4317\n"
                       "  loadBalance:\n    resolver: dns\n"
                       "    hostname: gateways.observability.svc.cluster.local\n"
                       "    port: 4317\n    interval: 2s\n") == 0, "%s", err);
    ck_assert_int_eq(cfg.load_balance.resolver, CONFIG_RESOLVER_DNS);
    ck_assert_str_eq(cfg.load_balance.hostname, "gateways.observability.svc.cluster.local");
    ck_assert_uint_eq(cfg.load_balance.port, 4317);
    ck_assert_uint_eq(cfg.load_balance.interval_ms, 2000);
    ck_assert_uint_eq(cfg.load_balance.eject_after_ms, 30000);
    ck_assert_int_eq(cfg.enabled, 1);
}
END_TEST

START_TEST(test_load_balance_enabled_false_stays_off)
{
    ck_assert_int_eq(load("otel:\n  enabled: false\n  loadBalance:\n    resolver: static\n"
                          "    endpoints: [a:1]\n"), 0);
    ck_assert_int_eq(cfg.enabled, 0);
    /* every key commented out: as if absent */
    config_free(&cfg);
    ck_assert_int_eq(config_defaults(&cfg), 0);
    ck_assert_int_eq(load("otel:\n  loadBalance:\n"), 0);
    ck_assert_int_eq(cfg.load_balance.resolver, CONFIG_RESOLVER_NONE);
    ck_assert_int_eq(cfg.enabled, 0);
}
END_TEST

/* A loadBalance block is checked as a whole, so each case starts from the defaults. */
static void assert_fresh_load_error(const char *yaml, const char *message)
{
    config_free(&cfg);
    ck_assert_int_eq(config_defaults(&cfg), 0);
    assert_load_error(yaml, message);
}

START_TEST(test_load_balance_errors)
{
    assert_fresh_load_error("otel:\n  loadBalance:\n    endpoints: [a:1]\n",
                      "otel.loadBalance.resolver: required, must be static or dns "
                      "(loadBalance at line 3)");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: k8s\n",
                      "otel.loadBalance.resolver: must be static or dns, got \"k8s\" at line 3");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: static\n",
                      "otel.loadBalance.endpoints: required with resolver static "
                      "(loadBalance at line 3)");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: static\n    endpoints: [a:1]\n"
                      "    hostname: gw\n",
                      "otel.loadBalance.hostname: not used with resolver static at line 5");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: static\n    endpoints: [a:1]\n"
                      "    interval: 1s\n",
                      "otel.loadBalance.interval: not used with resolver static at line 5");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: dns\n    hostname: gw\n"
                      "    port: 1\n    endpoints: [a:1]\n",
                      "otel.loadBalance.endpoints: not used with resolver dns at line 6");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: dns\n    port: 4317\n",
                      "otel.loadBalance.hostname: required with resolver dns "
                      "(loadBalance at line 3)");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: dns\n    hostname: gw\n",
                      "otel.loadBalance.port: required with resolver dns "
                      "(loadBalance at line 3)");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: dns\n    hostname: gw\n"
                      "    port: 65536\n",
                      "otel.loadBalance.port: must be an integer from 1 to 65535, "
                      "got \"65536\" at line 5");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: dns\n    hostname: gw_1\n",
                      "otel.loadBalance.hostname: must be a DNS name without a port (host "
                      "must be a name or an address (letters, digits, '.', '-')), got \"gw_1\" "
                      "at line 4");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: dns\n    hostname: gw:4317\n",
                            "otel.loadBalance.hostname: must be a DNS name without a port, "
                            "got \"gw:4317\" at line 4");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: dns\n    hostname: \"\"\n",
                      "otel.loadBalance.hostname: must be a DNS name without a port (empty "
                      "address), got \"\" at line 4");
    assert_fresh_load_error("otel:\n  loadBalance:\n    ejectAfter: 10ms\n",
                      "otel.loadBalance.ejectAfter: must be a duration from 100ms to 1h such "
                      "as 200ms, 5s or 1m30s, got \"10ms\" at line 3");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: static\n    endpoints: a:1\n",
                      "otel.loadBalance.endpoints: must be a non-empty list of host:port "
                      "at line 4");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: static\n    endpoints: []\n",
                      "otel.loadBalance.endpoints: must be a non-empty list of host:port "
                      "at line 4");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: static\n"
                      "    endpoints:\n      - a:1\n      - http://b:2\n",
                      "otel.loadBalance.endpoints[1]: must be host:port or [ipv6]:port with a "
                      "port from 1 to 65535, got \"http://b:2\" at line 6");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolver: static\n"
                      "    endpoints:\n      - {a: 1}\n",
                      "otel.loadBalance.endpoints[0]: must be host:port or [ipv6]:port with a "
                      "port from 1 to 65535, got a mapping at line 5");
    assert_fresh_load_error("otel:\n  loadBalance:\n    resolvers: dns\n",
                      "otel.loadBalance.resolvers: unknown key at line 3");
    assert_fresh_load_error("otel:\n  loadBalance: dns\n",
                      "otel.loadBalance: must be a mapping of keys, got \"dns\" at line 2");
}
END_TEST

/* A destination may be a fleet: no endpoint needed, the same keys and checks as the
 * primary's, messages naming destinations[i]. */
START_TEST(test_destination_load_balance)
{
    ck_assert_msg(load("destinations:\n  - name: v\n    endpoint: http://v:1\n"
                       "  - name: gateways\n    loadBalance:\n      resolver: dns\n"
                       "      hostname: gw.obs.svc\n      port: 4317\n"
                       "      ejectAfter: 2s\n") == 0, "%s", err);
    const struct config_load_balance *lb = &cfg.destinations[1].load_balance;
    ck_assert_int_eq(lb->resolver, CONFIG_RESOLVER_DNS);
    ck_assert_str_eq(lb->hostname, "gw.obs.svc");
    ck_assert_uint_eq(lb->port, 4317);
    ck_assert_uint_eq(lb->interval_ms, 5000);
    ck_assert_uint_eq(lb->eject_after_ms, 2000);
    ck_assert_int_eq(cfg.destinations[0].load_balance.resolver, CONFIG_RESOLVER_NONE);
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
    assert_fresh_load_error("destinations:\n  - name: v\n    endpoint: http://v:1\n"
                            "  - name: w\n    loadBalance:\n      resolver: dns\n"
                            "      hostname: gw_1\n      port: 1\n",
                            "destinations[1].loadBalance.hostname: must be a DNS name without "
                            "a port (host must be a name or an address (letters, digits, '.', "
                            "'-')), got \"gw_1\" at line 7");
    assert_fresh_load_error("destinations:\n  - name: w\n    loadBalance:\n"
                            "      resolver: static\n",
                            "destinations[0].loadBalance.endpoints: required with resolver "
                            "static (loadBalance at line 4)");
    assert_fresh_load_error("destinations:\n  - name: w\n    loadBalance:\n"
                            "      resolver: static\n      endpoints: [a:1]\n      port: 2\n",
                            "destinations[0].loadBalance.port: not used with resolver static "
                            "at line 6");
    assert_fresh_load_error("destinations:\n  - name: w\n    loadBalance:\n"
                            "      hostnames: x\n",
                            "destinations[0].loadBalance.hostnames: unknown key at line 4");
    /* one spool directory cannot serve a lane per gateway */
    config_free(&cfg);
    ck_assert_int_eq(config_defaults(&cfg), 0);
    ck_assert_int_eq(load("buffer:\n  spool:\n    dir: /tmp\ndestinations:\n  - name: w\n"
                          "    loadBalance:\n      resolver: static\n      endpoints: [a:1]\n"),
                     0);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "buffer.spool.dir: not supported with destinations[0].loadBalance (a "
                          "spool serves one endpoint, a fleet has a lane per gateway)");
}
END_TEST

START_TEST(test_free_twice)
{
    env_put("OTEL_EXPORTER_OTLP_HEADERS", "a=1");
    env_put("OTEL_RESOURCE_ATTRIBUTES", "b=2");
    env_put("OTEL_EXPORTER_OTLP_CERTIFICATE", "/c.pem");
    ck_assert_int_eq(apply_env(), 0);
    config_free(&cfg);
    config_free(&cfg);
    ck_assert_ptr_null(cfg.endpoint);
    ck_assert_int_eq(config_defaults(&cfg), 0);
}
END_TEST

START_TEST(test_destinations)
{
    ck_assert_msg(load("otel:\n  endpoint: http://tempo:4317\n  samplingRatio: 0.5\n"
                       "destinations:\n"
                       "  - name: vendor\n"
                       "    endpoint: https://vendor.example\n"
                       "    protocol: http/protobuf\n"
                       "    compression: gzip\n"
                       "    headersFrom: VENDOR_HEADERS\n"
                       "    certificate: /ca.pem\n"
                       "    insecure: true\n"
                       "    samplingRatio: 0.1\n"
                       "    maxBatchBytes: 2KiB\n"
                       "    maxBatchSpans: 7\n"
                       "    batchTimeout: 1s\n"
                       "    timeout: 2s\n"
                       "    retry:\n      initialInterval: 1s\n      maxInterval: 3s\n"
                       "      maxElapsedTime: 4s\n"
                       "    buffer:\n      maxBytes: 8MiB\n"
                       "  - name: archive.2\n"
                       "    endpoint: http://archive:4317\n") == 0, "%s", err);
    ck_assert_uint_eq(cfg.destinations_count, 2);
    const struct config_destination *d = &cfg.destinations[0];
    ck_assert_str_eq(d->name, "vendor");
    ck_assert_str_eq(d->key, "destinations[0]");
    ck_assert_str_eq(d->endpoint, "https://vendor.example");
    ck_assert_int_eq(d->protocol, CONFIG_PROTOCOL_HTTP_PROTOBUF);
    ck_assert_int_eq(d->compression, CONFIG_COMPRESSION_GZIP);
    ck_assert_str_eq(d->headers_from, "VENDOR_HEADERS");
    ck_assert_str_eq(d->certificate, "/ca.pem");
    ck_assert_int_eq(d->insecure, 1);
    ck_assert(d->sampling_ratio == 0.1);
    ck_assert_uint_eq(d->max_batch_bytes, 2048);
    ck_assert_uint_eq(d->max_batch_spans, 7);
    ck_assert_uint_eq(d->batch_timeout_ms, 1000);
    ck_assert_uint_eq(d->timeout_ms, 2000);
    ck_assert_uint_eq(d->retry_initial_interval_ms, 1000);
    ck_assert_uint_eq(d->retry_max_interval_ms, 3000);
    ck_assert_uint_eq(d->retry_max_elapsed_ms, 4000);
    ck_assert_uint_eq(d->buffer_max_bytes, 8 << 20);
    /* Keys left out stay unset: the primary's values apply (export_target.c). */
    d = &cfg.destinations[1];
    ck_assert_str_eq(d->name, "archive.2");
    ck_assert_int_eq(d->protocol, CONFIG_PROTOCOL_GRPC);
    ck_assert(d->sampling_ratio < 0);
    ck_assert_uint_eq(d->buffer_max_bytes, 0);
    /* The headers come from the variable, which must exist; never quoted. */
    assert_env_error("destinations[0].headersFrom: the environment variable VENDOR_HEADERS "
                     "is not set");
    env_put("VENDOR_HEADERS", "api-key=s3cret,x-team=a%20b");
    ck_assert_msg(apply_env() == 0, "%s", err);
    ck_assert_uint_eq(cfg.destinations[0].headers_count, 2);
    ck_assert_str_eq(cfg.destinations[0].headers[0].key, "api-key");
    ck_assert_str_eq(cfg.destinations[0].headers[0].value, "s3cret");
    ck_assert_str_eq(cfg.destinations[0].headers[1].value, "a b");
    ck_assert_uint_eq(cfg.headers_count, 0);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
    /* Loading again replaces the list. */
    ck_assert_int_eq(load("destinations:\n  - name: only\n    endpoint: http://o:1\n"), 0);
    ck_assert_uint_eq(cfg.destinations_count, 1);
    ck_assert_str_eq(cfg.destinations[0].name, "only");
}
END_TEST

START_TEST(test_destination_errors)
{
    assert_load_error("destinations:\n  - endpoint: http://v:1\n",
                      "destinations[0].name: required (destination at line 2)");
    assert_load_error("destinations:\n  - name: v\n",
                      "destinations[0].endpoint: required without loadBalance (destination "
                      "at line 2)");
    assert_load_error("destinations:\n  - name: v\n    endpoint: http://v:1\n"
                      "  - name: v\n    endpoint: http://w:1\n",
                      "destinations[1].name: \"v\" is already destinations[0].name at line 4");
    assert_load_error("destinations:\n  - name: primary\n    endpoint: http://v:1\n",
                      "destinations[0].name: \"primary\" is the otel: block's name "
                      "(destination at line 2)");
    assert_load_error("destinations:\n  - name: \"a b\"\n    endpoint: http://v:1\n",
                      "destinations[0].name: must be 1 to 31 letters, digits, '_', '.' or '-', "
                      "got \"a b\" at line 2");
    assert_load_error("destinations:\n  - name: v\n    endpoint: http://v:1\n    ratio: 1\n",
                      "destinations[0].ratio: unknown key at line 4");
    assert_load_error("destinations:\n  name: v\n",
                      "destinations: must be a list of destinations at line 2");
    assert_load_error("destinations:\n  - just-a-name\n",
                      "destinations[0]: must be a mapping of keys at line 2");
    ck_assert_int_eq(load("destinations:\n  - name: v\n    endpoint: ftp://w\n"), -1);
    ck_assert_msg(strncmp(err, "destinations[0].endpoint: ", 26) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "at line 3"));
    ck_assert_int_eq(load("destinations:\n  - name: v\n    endpoint: http://v:1\n"
                          "    retry:\n      maxInterval: never\n"), -1);
    ck_assert_msg(strncmp(err, "destinations[0].retry.maxInterval: ", 35) == 0, "%s", err);
    char nine[1024] = "destinations:\n";
    for (int i = 0; i < 9; i++)
        snprintf(nine + strlen(nine), sizeof(nine) - strlen(nine),
                 "  - name: d%d\n    endpoint: http://d:1\n", i);
    assert_load_error(nine, "destinations: at most 8 destinations, got 9 at line 2");
    ck_assert_int_eq(load("destinations:\n"), 0);
}
END_TEST

START_TEST(test_destination_combinations)
{
    ck_assert_int_eq(load("otel:\n  samplingRatio: 0.25\n"
                          "destinations:\n  - name: v\n    endpoint: http://v:1\n"
                          "    samplingRatio: 0.5\n"), 0);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "destinations[0].samplingRatio: must be at most otel.samplingRatio "
                          "(0.25), got 0.5");
    ck_assert_int_eq(load("otel:\n  samplingRatio: 0.5\n"
                          "destinations:\n  - name: v\n    endpoint: http://v:1\n"
                          "    maxBatchBytes: 2MiB\n    buffer:\n      maxBytes: 1MiB\n"), 0);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "destinations[0].maxBatchBytes"));
    ck_assert_int_eq(load("destinations:\n  - name: v\n    endpoint: http://v:1\n"
                          "    maxBatchBytes: 2KiB\n    buffer:\n      maxBytes: 1MiB\n"
                          "    retry:\n      initialInterval: 5s\n      maxInterval: 1s\n"), 0);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "destinations[0].retry.initialInterval"));
    /* A bad headers variable is named, its text never quoted. */
    ck_assert_int_eq(load("destinations:\n  - name: v\n    endpoint: http://v:1\n"
                          "    headersFrom: V_HEADERS\n"), 0);
    env_put("V_HEADERS", "api-key=s3cret,broken");
    ck_assert_int_eq(apply_env(), -1);
    ck_assert_ptr_nonnull(strstr(err, "destinations[0].headersFrom: V_HEADERS"));
    ck_assert_ptr_null(strstr(err, "s3cret"));
}
END_TEST

Suite *config_suite(void);

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("defaults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_shipped_file_is_the_defaults);
    tcase_add_test(tc, test_shipped_file_sets_every_key);
    tcase_add_test(tc, test_empty_documents_are_defaults);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_every_key);
    tcase_add_test(tc, test_missing_keys_keep_their_value);
    tcase_add_test(tc, test_words_any_case);
    tcase_add_test(tc, test_null_strings_are_empty);
    tcase_add_test(tc, test_socket_mode_forms);
    tcase_add_test(tc, test_listen_addresses);
    tcase_add_test(tc, test_endpoint_forms);
    tcase_add_test(tc, test_endpoint_without_enabled_enables);
    tcase_add_test(tc, test_endpoint_with_enabled_false_stays_disabled);
    tcase_add_test(tc, test_file_endpoint_is_a_base_url);
    tcase_add_test(tc, test_anchors_and_aliases);
    tcase_add_test(tc, test_spool_keys);
    tcase_add_test(tc, test_ratio_forms);
    suite_add_tcase(s, tc);

    tc = tcase_create("file errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unknown_keys);
    tcase_add_test(tc, test_duplicate_keys);
    tcase_add_test(tc, test_value_errors);
    tcase_add_test(tc, test_type_errors);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_long_values_are_cut);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_file_too_large);
    tcase_add_test(tc, test_small_error_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("parsers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_parse_size);
    tcase_add_test(tc, test_parse_duration);
    tcase_add_test(tc, test_kv_list);
    tcase_add_test(tc, test_kv_list_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("environment");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_env_nothing_set);
    tcase_add_test(tc, test_env_endpoint);
    tcase_add_test(tc, test_env_traces_endpoint_wins);
    tcase_add_test(tc, test_env_endpoint_over_file_disabled);
    tcase_add_test(tc, test_env_endpoint_errors);
    tcase_add_test(tc, test_env_sdk_disabled);
    tcase_add_test(tc, test_env_sdk_disabled_false_changes_nothing);
    tcase_add_test(tc, test_env_protocol);
    tcase_add_test(tc, test_env_protocol_errors);
    tcase_add_test(tc, test_env_headers);
    tcase_add_test(tc, test_destinations);
    tcase_add_test(tc, test_destination_errors);
    tcase_add_test(tc, test_destination_combinations);
    tcase_add_test(tc, test_env_headers_only_traces);
    tcase_add_test(tc, test_env_headers_errors_hide_values);
    tcase_add_test(tc, test_env_timeout);
    tcase_add_test(tc, test_env_timeout_errors);
    tcase_add_test(tc, test_env_compression);
    tcase_add_test(tc, test_env_certificate_and_insecure);
    tcase_add_test(tc, test_env_service_name);
    tcase_add_test(tc, test_env_resource_attributes);
    tcase_add_test(tc, test_env_service_name_beats_resource_attributes);
    tcase_add_test(tc, test_env_resource_attribute_errors);
    tcase_add_test(tc, test_env_sampler);
    tcase_add_test(tc, test_env_sampler_errors);
    tcase_add_test(tc, test_sampler_rule);
    tcase_add_test(tc, test_env_bsp);
    tcase_add_test(tc, test_env_bsp_errors);
    tcase_add_test(tc, test_env_log_level);
    tcase_add_test(tc, test_file_then_env);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_validate_enabled_needs_endpoint);
    tcase_add_test(tc, test_validate_errors);
    tcase_add_test(tc, test_validate_limits_inclusive);
    tcase_add_test(tc, test_load_balance_defaults);
    tcase_add_test(tc, test_load_balance_static);
    tcase_add_test(tc, test_load_balance_dns);
    tcase_add_test(tc, test_load_balance_enabled_false_stays_off);
    tcase_add_test(tc, test_load_balance_errors);
    tcase_add_test(tc, test_destination_load_balance);
    tcase_add_test(tc, test_free_twice);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    return unit_run(config_suite());
}
