/* config.h — spanrelay's configuration: defaults, the YAML file, OTEL_* environment.
 *
 * Precedence: built-in defaults < YAML file < environment < command line.
 * Every error names the key (dotted, from the top of the file) or the variable, what was
 * expected, the value and, for the file, the line, e.g.
 *   otel.samplingRatio: must be a number in [0, 1], got "abc" at line 5
 *   receiver.sockt: unknown key at line 7
 *   OTEL_TRACES_SAMPLER_ARG: must be a number in [0, 1], got "x"
 * Word values (true/false, grpc, gzip, info, ...) match case-insensitively in the file
 * and the environment; keys are case-sensitive. YAML 1.1 booleans (yes/no/on/off) are
 * refused. An empty environment variable counts as unset. config/spanrelay.yaml
 * documents every key.
 * The caller owns a struct config and frees it with config_free(). */
#ifndef SPANRELAY_CONFIG_H
#define SPANRELAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum config_protocol { CONFIG_PROTOCOL_GRPC, CONFIG_PROTOCOL_HTTP_PROTOBUF };
enum config_compression { CONFIG_COMPRESSION_NONE, CONFIG_COMPRESSION_GZIP, CONFIG_COMPRESSION_ZSTD };
enum config_spool_sync { CONFIG_SPOOL_SYNC_INTERVAL, CONFIG_SPOOL_SYNC_ALWAYS, CONFIG_SPOOL_SYNC_NEVER };

/* Which sampling rule a span follows (pipeline/sampler.h, DESIGN.md decision 12). */
enum config_sampler_rule {
    CONFIG_SAMPLER_AUTO,       /* consistent for a span whose tracestate has ot=th/rv, else Python */
    CONFIG_SAMPLER_PYTHON,     /* the Python SDK's TraceIdRatioBased for every span */
    CONFIG_SAMPLER_CONSISTENT  /* OpenTelemetry's consistent probability for every span */
};

enum config_resolver {
    CONFIG_RESOLVER_NONE,   /* no loadBalance: one endpoint */
    CONFIG_RESOLVER_STATIC, /* loadBalance.endpoints */
    CONFIG_RESOLVER_DNS     /* loadBalance.hostname, re-resolved every interval */
};

/* A list of strings from the file. */
struct config_list {
    char **items;
    size_t count;
};

/* loadBalance: — a destination that is a fleet of gateways instead of one endpoint,
 * each trace going to the gateway the Collector's consistent-hash ring names (DESIGN.md
 * decision 13). The destination's endpoint is then optional: its scheme chooses TLS
 * (https://) or cleartext (http://, the default), its path is kept, and its host and
 * port give way to each gateway's address:port. The loader checks the combination:
 * resolver static takes endpoints only, resolver dns hostname and port (and interval). */
struct config_load_balance {
    enum config_resolver resolver; /* resolver: static | dns; NONE when loadBalance is absent */
    struct config_list endpoints;  /* endpoints: host:port, as written; static only */
    char *hostname;                /* hostname: the name to resolve (A and AAAA); dns only,
                                      also the TLS server name of every gateway */
    unsigned port;                 /* port: 1-65535; dns only */
    uint64_t interval_ms;          /* interval: default 5s; dns only */
    uint64_t eject_after_ms;       /* ejectAfter: default 30s; a gateway unreachable this
                                      long leaves the ring until it answers again */
};

/* One key=value pair, decoded (percent-decoding applied). */
struct config_kv {
    char *key;
    char *value;
};

#define CONFIG_MAX_DESTINATIONS 8

/* destinations[i]: — one more export lane beside the primary (the otel: block). Keys
 * not given (0, NULL, or a negative ratio) take the primary's value: the exporter:,
 * exporter.retry: and buffer: sections, and otel.samplingRatio. */
struct config_destination {
    char *name;                    /* name: required, [A-Za-z0-9_.-], unique, not "primary" */
    char *endpoint;                /* endpoint: required without loadBalance, http(s):// base URL */
    enum config_protocol protocol; /* protocol: default grpc */
    enum config_compression compression; /* compression: default none */
    char *headers_from;            /* headersFrom: the name of an environment variable
                                      holding key=value,... headers; never logged */
    struct config_kv *headers;     /* read from it by config_apply_env */
    size_t headers_count;
    char *certificate;             /* certificate: CA file for https:// */
    int insecure;                  /* insecure: skip TLS verification */
    double sampling_ratio;         /* samplingRatio: at most otel.samplingRatio */
    size_t max_batch_bytes;        /* maxBatchBytes */
    unsigned max_batch_spans;      /* maxBatchSpans */
    uint64_t batch_timeout_ms;     /* batchTimeout */
    uint64_t timeout_ms;           /* timeout */
    uint64_t retry_initial_interval_ms; /* retry.initialInterval */
    uint64_t retry_max_interval_ms;     /* retry.maxInterval */
    uint64_t retry_max_elapsed_ms;      /* retry.maxElapsedTime */
    size_t buffer_max_bytes;       /* buffer.maxBytes */
    struct config_load_balance load_balance; /* loadBalance: the destination as a fleet */
    char key[32];                  /* "destinations[i]", for messages */
};

struct config {
    /* otel: — the same block as the Helm chart's values.yaml */
    /* otel.enabled, default 0: nothing to export to until an endpoint is given (DESIGN
     * decision 8). A non-empty otel.endpoint in a file that does not mention enabled,
     * or OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, sets it to 1; OTEL_SDK_DISABLED=true
     * forces 0 last. config_validate refuses 1 with an empty endpoint. */
    int enabled;
    char *endpoint;                /* otel.endpoint, default "" (no export); a base URL */
    int endpoint_is_signal;        /* 1 when set from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: used as is */
    enum config_protocol protocol; /* otel.protocol: grpc | http/protobuf, default grpc */
    char *service_name;            /* otel.serviceName, default "unknown_service"; then
                                      OTEL_SERVICE_NAME, else service.name from
                                      OTEL_RESOURCE_ATTRIBUTES */
    double sampling_ratio;         /* otel.samplingRatio in [0,1], default 1.0 */
    enum config_sampler_rule sampler_rule; /* otel.sampler.rule: auto | python | consistent,
                                      default auto. otel.sampler.decidedBy is the chart's
                                      (what application SDKs are told): accepted, unused */
    struct config_load_balance load_balance; /* otel.loadBalance: the primary as a fleet */

    /* destinations: — further export lanes, in file order */
    struct config_destination destinations[CONFIG_MAX_DESTINATIONS];
    size_t destinations_count;

    /* receiver: */
    char *receiver_socket;         /* default "/tmp/spanrelay/otlp.sock"; "" disables */
    unsigned receiver_socket_mode; /* default 0660 (YAML: octal string "0660" or integer) */
    char *receiver_grpc;           /* "host:port" or "" (off, default) */
    char *receiver_http;           /* "host:port" or "" (off, default) */
    size_t receiver_max_request_bytes; /* default 4 MiB */
    unsigned receiver_max_connections; /* default 256 */
    uint64_t receiver_request_timeout_ms; /* receiver.requestTimeout, default 30s: first byte of a
                                          request (or of a stalled HTTP/2 stream) to its end */
    uint64_t receiver_idle_timeout_ms;  /* receiver.idleTimeout, default 2m: a connection with no
                                          request under way is closed after this long */

    /* buffer: */
    size_t buffer_max_bytes;       /* default 64 MiB */
    /* buffer.spool: what a lane's ring cannot hold goes to disk (export/spool.h) */
    char *spool_dir;               /* buffer.spool.dir, default "" (no spool); absolute path,
                                      one subdirectory per lane */
    size_t spool_max_bytes;        /* buffer.spool.maxBytes, per lane, default 1 GiB */
    enum config_spool_sync spool_sync; /* buffer.spool.sync: interval | always | never,
                                          default interval */
    uint64_t spool_sync_interval_ms;   /* buffer.spool.syncInterval, default 1s */

    /* exporter: */
    size_t exporter_max_batch_bytes;   /* default 1 MiB */
    unsigned exporter_max_batch_spans; /* default 2048 */
    uint64_t exporter_batch_timeout_ms;/* default 200 */
    uint64_t exporter_timeout_ms;      /* default 10000 (OTEL_EXPORTER_OTLP_TIMEOUT) */
    enum config_compression exporter_compression; /* default none */
    uint64_t retry_initial_interval_ms;/* default 500 */
    uint64_t retry_max_interval_ms;    /* default 5000 */
    uint64_t retry_max_elapsed_ms;     /* default 300000 */

    /* exporter headers and TLS: environment only, never logged */
    struct config_kv *headers;     /* OTEL_EXPORTER_OTLP_HEADERS, then _TRACES_HEADERS on top */
    size_t headers_count;
    char *certificate;             /* OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE, or NULL */
    int insecure;                  /* OTEL_EXPORTER_OTLP_(TRACES_)INSECURE=true */

    /* resource attributes to add where absent, from OTEL_RESOURCE_ATTRIBUTES, in order,
     * without service.name (that one goes to service_name) */
    struct config_kv *resource_attrs;
    size_t resource_attrs_count;

    /* health: */
    char *health_listen;           /* default "127.0.0.1:13133" */

    uint64_t shutdown_timeout_ms;  /* shutdownTimeout, default 10000 */
    char *log_level;               /* log.level or SPANRELAY_LOG_LEVEL: debug | info |
                                      warning | error ("warn" accepted), stored lower
                                      case; default "info" */
};

/* Fills cfg with every default. Returns 0, or -1 on allocation failure. */
int config_defaults(struct config *cfg);

/* Reads the YAML file at path over cfg. On error returns -1 and writes a one-line
 * message (key, line, expectation) into err; cfg may then hold part of the file but is
 * still whole for config_free. Keys absent from the file keep their value; an empty
 * file or one with only comments changes nothing. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/* Same as config_load_file for a YAML document held in memory (tests, fuzzing). */
int config_load_string(struct config *cfg, const char *yaml, size_t len, char *err, size_t errlen);

/* Applies the OTEL_* environment over cfg through getenv_fn (getenv in the daemon,
 * a table in tests). Returns 0 or -1 with a message naming the variable (never quoting
 * a header value); like config_load_file, cfg may be partly updated on error.
 * OTEL_BSP_MAX_QUEUE_SIZE is not read: the ring is bounded in bytes (buffer.maxBytes). */
int config_apply_env(struct config *cfg, const char *(*getenv_fn)(const char *name),
                     char *err, size_t errlen);

/* Checks the combination: enabled with neither an endpoint nor loadBalance, no receiver
 * at all, retry initialInterval above maxInterval, maxBatchBytes or maxRequestBytes
 * above buffer.maxBytes, two listeners on one address. 0 or -1 with message. */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/* Parses "key=value,key2=value2" (OTEL_*_HEADERS / OTEL_RESOURCE_ATTRIBUTES format,
 * percent-decoded, whitespace around keys and values trimmed, empty entries skipped).
 * Appends to *list. Returns 0 or -1 (an entry without '=', an empty key, a bad %XX or a
 * decoded control character; *list untouched), with a message that names the entry by
 * position and never quotes it, since header values are secrets. */
int config_parse_kv_list(const char *s, struct config_kv **list, size_t *count,
                         char *err, size_t errlen);

/* "200ms", "5s", "1m", "1h", "1m30s", bare integer = milliseconds; whole numbers only,
 * no spaces. 0 or -1. */
int config_parse_duration_ms(const char *s, uint64_t *out);

/* "64MiB", "512KiB", "1GiB", "1MB", "1KB", "1GB", "10B", bare integer = bytes; units
 * as written here (case matters), no spaces. 0 or -1. */
int config_parse_size(const char *s, size_t *out);

void config_free(struct config *cfg);

/* A loadBalance block as the defaults leave it (absent), and its release. */
void config_load_balance_defaults(struct config_load_balance *lb);
void config_load_balance_free(struct config_load_balance *lb);

/* Every key of a destination unset (its ratio negative). */
void config_destination_defaults(struct config_destination *d);

#endif
