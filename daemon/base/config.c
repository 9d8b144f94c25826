/* config.c — spanrelay's configuration: built-in defaults, the YAML file (libyaml's
 * document API) and the OTEL_* environment.
 *
 * Keys are described by tables. One walker checks names, types and duplicates; one
 * setter parses and range-checks a value and says what it expected. The file and the
 * environment go through the same setter, so they share every rule and every message. */

#include "base/config.h"
#include "base/codec.h"
#include "base/netaddr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <yaml.h>

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define SECOND_MS 1000ULL
#define MINUTE_MS (60ULL * SECOND_MS)
#define HOUR_MS (60ULL * MINUTE_MS)

/* A configuration file is a page or two; anything bigger is the wrong file. */
#define MAX_FILE_BYTES (1024 * 1024)

/* Values quoted back in messages are cut so the line number still fits. */
#define SHOWN_MAX 64

#define MAX_BATCH_SPANS 1000000

/* What a key holds, and so how its text is parsed and checked. */
enum kind {
    K_SECTION,     /* a mapping of further keys, their offsets counted from this one's */
    K_IGNORED,     /* accepted for the Helm chart, unused by the daemon */
    K_BOOL,        /* int: true | false */
    K_NAME,        /* char *: any non-empty text */
    K_ENDPOINT,    /* char *: "" or an http:// or https:// URL */
    K_PROTOCOL,    /* enum config_protocol */
    K_COMPRESSION, /* enum config_compression */
    K_RATIO,       /* double in [0, 1] */
    K_MODE,        /* unsigned: file mode 0000-0777 */
    K_SOCKET,      /* char *: UNIX socket path, "" for none */
    K_LISTEN,      /* char *: host:port */
    K_LISTEN_OPT,  /* char *: host:port, "" for off */
    K_SIZE,        /* size_t: bytes, "64MiB" */
    K_COUNT,       /* unsigned: plain integer */
    K_DURATION,    /* uint64_t: milliseconds, "200ms" */
    K_MILLIS,      /* uint64_t: integer milliseconds (the OTEL_* timeouts) */
    K_LOG_LEVEL,   /* char *: canonical level name */
    K_SAMPLER_RULE, /* enum config_sampler_rule */
    K_RESOLVER,    /* enum config_resolver: static | dns */
    K_HOSTNAME,    /* char *: a DNS name */
    K_HOSTPORT_LIST, /* struct config_list: a non-empty list of host:port */
    K_DIR_OPT,     /* char *: absolute directory path, "" for off */
    K_SPOOL_SYNC,  /* enum config_spool_sync */
    K_DESTINATIONS, /* the destinations: list of mappings */
    K_LABEL         /* char *: a destination name, [A-Za-z0-9_.-] */
};

struct load;

struct key_spec {
    const char *name;
    enum kind kind;
    size_t offset;                   /* of the field in struct config */
    uint64_t min, max;               /* K_SIZE, K_COUNT, K_DURATION, K_MILLIS */
    const struct key_spec *children; /* K_SECTION */
    /* K_SECTION: checks the section's combination once its keys are set; base is where
     * the section's offsets count from, node its mapping, path its dotted name. */
    int (*check)(struct load *ld, void *base, const yaml_node_t *node, const char *path);
};

enum { SET_OK = 0, SET_INVALID = -1, SET_NOMEM = -2 };

static const struct key_spec sampler_keys[] = {
    { .name = "rule", .kind = K_SAMPLER_RULE, .offset = offsetof(struct config, sampler_rule) },
    { .name = "decidedBy", .kind = K_IGNORED },
    { .name = NULL }
};

static int check_load_balance(struct load *ld, void *base, const yaml_node_t *node,
                              const char *path);

static const struct key_spec load_balance_keys[] = {
    { .name = "resolver", .kind = K_RESOLVER,
      .offset = offsetof(struct config_load_balance, resolver) },
    { .name = "endpoints", .kind = K_HOSTPORT_LIST,
      .offset = offsetof(struct config_load_balance, endpoints) },
    { .name = "hostname", .kind = K_HOSTNAME,
      .offset = offsetof(struct config_load_balance, hostname) },
    { .name = "port", .kind = K_COUNT, .offset = offsetof(struct config_load_balance, port),
      .min = 1, .max = 65535 },
    { .name = "interval", .kind = K_DURATION,
      .offset = offsetof(struct config_load_balance, interval_ms), .min = 100, .max = HOUR_MS },
    { .name = "ejectAfter", .kind = K_DURATION,
      .offset = offsetof(struct config_load_balance, eject_after_ms), .min = 100,
      .max = HOUR_MS },
    { .name = NULL }
};

static const struct key_spec otel_keys[] = {
    { .name = "enabled", .kind = K_BOOL, .offset = offsetof(struct config, enabled) },
    { .name = "endpoint", .kind = K_ENDPOINT, .offset = offsetof(struct config, endpoint) },
    { .name = "protocol", .kind = K_PROTOCOL, .offset = offsetof(struct config, protocol) },
    { .name = "serviceName", .kind = K_NAME, .offset = offsetof(struct config, service_name) },
    { .name = "samplingRatio", .kind = K_RATIO,
      .offset = offsetof(struct config, sampling_ratio) },
    { .name = "sampler", .kind = K_SECTION, .children = sampler_keys },
    { .name = "headersSecretName", .kind = K_IGNORED },
    { .name = "loadBalance", .kind = K_SECTION, .children = load_balance_keys,
      .offset = offsetof(struct config, load_balance), .check = check_load_balance },
    { .name = NULL }
};

static const struct key_spec receiver_keys[] = {
    { .name = "socket", .kind = K_SOCKET, .offset = offsetof(struct config, receiver_socket) },
    { .name = "socketMode", .kind = K_MODE,
      .offset = offsetof(struct config, receiver_socket_mode) },
    { .name = "grpc", .kind = K_LISTEN_OPT, .offset = offsetof(struct config, receiver_grpc) },
    { .name = "http", .kind = K_LISTEN_OPT, .offset = offsetof(struct config, receiver_http) },
    { .name = "maxRequestBytes", .kind = K_SIZE,
      .offset = offsetof(struct config, receiver_max_request_bytes), .min = KIB, .max = GIB },
    { .name = "maxConnections", .kind = K_COUNT,
      .offset = offsetof(struct config, receiver_max_connections), .min = 1, .max = 65536 },
    { .name = "requestTimeout", .kind = K_DURATION,
      .offset = offsetof(struct config, receiver_request_timeout_ms), .min = 1, .max = HOUR_MS },
    { .name = "idleTimeout", .kind = K_DURATION,
      .offset = offsetof(struct config, receiver_idle_timeout_ms), .min = 1, .max = HOUR_MS },
    { .name = NULL }
};

static const struct key_spec spool_keys[] = {
    { .name = "dir", .kind = K_DIR_OPT, .offset = offsetof(struct config, spool_dir) },
    { .name = "maxBytes", .kind = K_SIZE, .offset = offsetof(struct config, spool_max_bytes),
      .min = 64 * KIB, .max = 1024 * GIB },
    { .name = "sync", .kind = K_SPOOL_SYNC, .offset = offsetof(struct config, spool_sync) },
    { .name = "syncInterval", .kind = K_DURATION,
      .offset = offsetof(struct config, spool_sync_interval_ms), .min = 1, .max = HOUR_MS },
    { .name = NULL }
};

static const struct key_spec buffer_keys[] = {
    { .name = "maxBytes", .kind = K_SIZE, .offset = offsetof(struct config, buffer_max_bytes),
      .min = KIB, .max = 16 * GIB },
    { .name = "spool", .kind = K_SECTION, .children = spool_keys },
    { .name = NULL }
};

static const struct key_spec retry_keys[] = {
    { .name = "initialInterval", .kind = K_DURATION,
      .offset = offsetof(struct config, retry_initial_interval_ms), .min = 1, .max = HOUR_MS },
    { .name = "maxInterval", .kind = K_DURATION,
      .offset = offsetof(struct config, retry_max_interval_ms), .min = 1, .max = HOUR_MS },
    { .name = "maxElapsedTime", .kind = K_DURATION,
      .offset = offsetof(struct config, retry_max_elapsed_ms), .min = 1, .max = 24 * HOUR_MS },
    { .name = NULL }
};

static const struct key_spec exporter_keys[] = {
    { .name = "maxBatchBytes", .kind = K_SIZE,
      .offset = offsetof(struct config, exporter_max_batch_bytes), .min = KIB, .max = GIB },
    { .name = "maxBatchSpans", .kind = K_COUNT,
      .offset = offsetof(struct config, exporter_max_batch_spans), .min = 1,
      .max = MAX_BATCH_SPANS },
    { .name = "batchTimeout", .kind = K_DURATION,
      .offset = offsetof(struct config, exporter_batch_timeout_ms), .min = 1, .max = HOUR_MS },
    { .name = "timeout", .kind = K_DURATION,
      .offset = offsetof(struct config, exporter_timeout_ms), .min = 1, .max = HOUR_MS },
    { .name = "compression", .kind = K_COMPRESSION,
      .offset = offsetof(struct config, exporter_compression) },
    { .name = "retry", .kind = K_SECTION, .children = retry_keys },
    { .name = NULL }
};

static const struct key_spec health_keys[] = {
    { .name = "listen", .kind = K_LISTEN, .offset = offsetof(struct config, health_listen) },
    { .name = NULL }
};

static const struct key_spec log_keys[] = {
    { .name = "level", .kind = K_LOG_LEVEL, .offset = offsetof(struct config, log_level) },
    { .name = NULL }
};

#define DEST(field) offsetof(struct config_destination, field)

static const struct key_spec destination_retry_keys[] = {
    { .name = "initialInterval", .kind = K_DURATION, .offset = DEST(retry_initial_interval_ms),
      .min = 1, .max = HOUR_MS },
    { .name = "maxInterval", .kind = K_DURATION, .offset = DEST(retry_max_interval_ms),
      .min = 1, .max = HOUR_MS },
    { .name = "maxElapsedTime", .kind = K_DURATION, .offset = DEST(retry_max_elapsed_ms),
      .min = 1, .max = 24 * HOUR_MS },
    { .name = NULL }
};

static const struct key_spec destination_buffer_keys[] = {
    { .name = "maxBytes", .kind = K_SIZE, .offset = DEST(buffer_max_bytes), .min = KIB,
      .max = 16 * GIB },
    { .name = NULL }
};

/* Section offsets count from the destination; sections inside it from their parent,
 * which is the destination too (offset 0). */
static const struct key_spec destination_keys[] = {
    { .name = "name", .kind = K_LABEL, .offset = DEST(name) },
    { .name = "endpoint", .kind = K_ENDPOINT, .offset = DEST(endpoint) },
    { .name = "protocol", .kind = K_PROTOCOL, .offset = DEST(protocol) },
    { .name = "compression", .kind = K_COMPRESSION, .offset = DEST(compression) },
    { .name = "headersFrom", .kind = K_NAME, .offset = DEST(headers_from) },
    { .name = "certificate", .kind = K_NAME, .offset = DEST(certificate) },
    { .name = "insecure", .kind = K_BOOL, .offset = DEST(insecure) },
    { .name = "samplingRatio", .kind = K_RATIO, .offset = DEST(sampling_ratio) },
    { .name = "maxBatchBytes", .kind = K_SIZE, .offset = DEST(max_batch_bytes), .min = KIB,
      .max = GIB },
    { .name = "maxBatchSpans", .kind = K_COUNT, .offset = DEST(max_batch_spans), .min = 1,
      .max = MAX_BATCH_SPANS },
    { .name = "batchTimeout", .kind = K_DURATION, .offset = DEST(batch_timeout_ms), .min = 1,
      .max = HOUR_MS },
    { .name = "timeout", .kind = K_DURATION, .offset = DEST(timeout_ms), .min = 1,
      .max = HOUR_MS },
    { .name = "retry", .kind = K_SECTION, .children = destination_retry_keys },
    { .name = "buffer", .kind = K_SECTION, .children = destination_buffer_keys },
    { .name = "loadBalance", .kind = K_SECTION, .children = load_balance_keys,
      .offset = DEST(load_balance), .check = check_load_balance },
    { .name = NULL }
};

static const struct key_spec top_keys[] = {
    { .name = "otel", .kind = K_SECTION, .children = otel_keys },
    { .name = "receiver", .kind = K_SECTION, .children = receiver_keys },
    { .name = "buffer", .kind = K_SECTION, .children = buffer_keys },
    { .name = "exporter", .kind = K_SECTION, .children = exporter_keys },
    { .name = "health", .kind = K_SECTION, .children = health_keys },
    { .name = "shutdownTimeout", .kind = K_DURATION,
      .offset = offsetof(struct config, shutdown_timeout_ms), .min = 1, .max = HOUR_MS },
    { .name = "log", .kind = K_SECTION, .children = log_keys },
    { .name = "destinations", .kind = K_DESTINATIONS },
    { .name = NULL }
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Replaces *field with a copy of value; *field is untouched when memory is short. */
static int set_string(char **field, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads decimal digits into *out. Returns the first character after them, or NULL when
 * there are none or the number does not fit in 64 bits. */
static const char *scan_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    for (; is_digit(*p); p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    if (p == s)
        return NULL;
    *out = v;
    return p;
}

static int parse_u64(const char *s, uint64_t *out)
{
    const char *end = scan_u64(s, out);
    return end && *end == '\0' ? 0 : -1;
}

/* Multiplies v by mul and adds it to *total, refusing to wrap. */
static int add_scaled(uint64_t *total, uint64_t v, uint64_t mul)
{
    if (v > UINT64_MAX / mul || v * mul > UINT64_MAX - *total)
        return -1;
    *total += v * mul;
    return 0;
}

int config_parse_duration_ms(const char *s, uint64_t *out)
{
    static const struct { const char *unit; uint64_t ms; } units[] = {
        { "ms", 1 }, { "s", SECOND_MS }, { "m", MINUTE_MS }, { "h", HOUR_MS }, { NULL, 0 }
    };
    uint64_t total = 0, v;

    if (!s || !*s)
        return -1;
    if (parse_u64(s, &v) == 0) {
        *out = v;
        return 0;
    }
    /* One or more number+unit parts, as Go writes them: "1m30s". */
    while (*s) {
        s = scan_u64(s, &v);
        if (!s)
            return -1;
        size_t i, len = 0;
        /* "ms" comes before "m" in the table, so "m" never swallows it */
        for (i = 0; units[i].unit; i++) {
            len = strlen(units[i].unit);
            if (strncmp(s, units[i].unit, len) == 0)
                break;
        }
        if (!units[i].unit || add_scaled(&total, v, units[i].ms) < 0)
            return -1;
        s += len;
    }
    *out = total;
    return 0;
}

int config_parse_size(const char *s, size_t *out)
{
    static const struct { const char *unit; uint64_t bytes; } units[] = {
        { "", 1 }, { "B", 1 },
        { "KB", 1000ULL }, { "MB", 1000ULL * 1000 }, { "GB", 1000ULL * 1000 * 1000 },
        { "KiB", KIB }, { "MiB", MIB }, { "GiB", GIB }, { NULL, 0 }
    };
    uint64_t v, total = 0;

    if (!s)
        return -1;
    s = scan_u64(s, &v);
    if (!s)
        return -1;
    for (size_t i = 0; units[i].unit; i++) {
        if (strcmp(s, units[i].unit) != 0)
            continue;
        if (add_scaled(&total, v, units[i].bytes) < 0 || total > SIZE_MAX)
            return -1;
        *out = (size_t)total;
        return 0;
    }
    return -1;
}

/* Writes a byte count in the largest unit that divides it: "64MiB", "1500B". */
static void format_size(uint64_t n, char *buf, size_t len)
{
    if (n && n % GIB == 0)
        snprintf(buf, len, "%lluGiB", (unsigned long long)(n / GIB));
    else if (n && n % MIB == 0)
        snprintf(buf, len, "%lluMiB", (unsigned long long)(n / MIB));
    else if (n && n % KIB == 0)
        snprintf(buf, len, "%lluKiB", (unsigned long long)(n / KIB));
    else
        snprintf(buf, len, "%lluB", (unsigned long long)n);
}

/* Writes milliseconds in the largest unit that divides them: "5s", "200ms". */
static void format_duration(uint64_t ms, char *buf, size_t len)
{
    if (ms && ms % HOUR_MS == 0)
        snprintf(buf, len, "%lluh", (unsigned long long)(ms / HOUR_MS));
    else if (ms && ms % MINUTE_MS == 0)
        snprintf(buf, len, "%llum", (unsigned long long)(ms / MINUTE_MS));
    else if (ms && ms % SECOND_MS == 0)
        snprintf(buf, len, "%llus", (unsigned long long)(ms / SECOND_MS));
    else
        snprintf(buf, len, "%llums", (unsigned long long)ms);
}

static int parse_bool(const char *s, int *out)
{
    if (strcasecmp(s, "true") == 0)
        *out = 1;
    else if (strcasecmp(s, "false") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_ratio(const char *s, double *out)
{
    /* strtod alone would also take "nan", "inf" and hex floats */
    if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
        return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno || !isfinite(d) || d < 0 || d > 1)
        return -1;
    *out = d == 0 ? 0.0 : d;
    return 0;
}

/* A quoted mode is chmod's octal ("0660", "660"); a plain one is a YAML integer, where
 * 0660 and 0o660 are octal (YAML 1.1 and 1.2) and 432 is decimal. */
static int parse_mode(const char *s, int quoted, unsigned *out)
{
    int base = 10;
    if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s += 2;
    } else if (quoted || (s[0] == '0' && s[1])) {
        base = 8;
    }
    if (!*s || strlen(s) > 4)
        return -1;
    unsigned v = 0;
    for (; *s; s++) {
        if (!is_digit(*s) || *s - '0' >= base)
            return -1;
        v = v * (unsigned)base + (unsigned)(*s - '0');
    }
    if (v > 0777)
        return -1;
    *out = v;
    return 0;
}

/* OTLP endpoints are URLs; the scheme chooses TLS, so a bare host:port is refused. The
 * authority goes through the exporters' own parser so that what loads also starts.
 * Returns NULL, or what is wrong with the authority (or "" for a general mistake). */
static const char *check_endpoint(const char *s)
{
    const char *rest;
    if (!*s)
        return NULL;
    if (strncasecmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        rest = s + 8;
    else
        return "";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return "";
    struct netaddr_hostport hp;
    return netaddr_split(rest, strcspn(rest, "/?#"), NETADDR_PORT_OPTIONAL, &hp);
}

/* Paths end up in log lines and system calls: no control characters. */
static int check_printable(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return -1;
    return 0;
}

static int check_socket(const char *s)
{
    struct sockaddr_un addr;
    return strlen(s) < sizeof(addr.sun_path) ? 0 : -1;
}

static const char *log_level_name(const char *s)
{
    static const char *const names[] = { "debug", "info", "warning", "error", NULL };
    if (strcasecmp(s, "warn") == 0)
        return "warning";
    for (size_t i = 0; names[i]; i++)
        if (strcasecmp(s, names[i]) == 0)
            return names[i];
    return NULL;
}

/* What a key of this kind must hold, as it appears after "key: " in a message. */
static void describe(const struct key_spec *spec, char *buf, size_t len)
{
    char lo[32], hi[32];
    switch (spec->kind) {
    case K_BOOL:
        snprintf(buf, len, "must be true or false");
        break;
    case K_NAME:
        snprintf(buf, len, "must not be empty");
        break;
    case K_ENDPOINT:
        snprintf(buf, len, "must be empty or a URL starting with http:// or https://");
        break;
    case K_PROTOCOL:
        snprintf(buf, len, "must be grpc or http/protobuf");
        break;
    case K_COMPRESSION:
        snprintf(buf, len, "must be none, gzip or zstd");
        break;
    case K_RATIO:
        snprintf(buf, len, "must be a number in [0, 1]");
        break;
    case K_MODE:
        snprintf(buf, len, "must be an octal file mode from 0000 to 0777 such as \"0660\"");
        break;
    case K_SOCKET:
        snprintf(buf, len, "must be a path shorter than %zu bytes, or empty for none",
                 sizeof(((struct sockaddr_un *)0)->sun_path));
        break;
    case K_LISTEN:
        snprintf(buf, len, "must be " NETADDR_LISTEN_FORM);
        break;
    case K_LISTEN_OPT:
        snprintf(buf, len, "must be " NETADDR_LISTEN_FORM ", or empty for off");
        break;
    case K_SIZE:
        format_size(spec->min, lo, sizeof(lo));
        format_size(spec->max, hi, sizeof(hi));
        snprintf(buf, len, "must be a size from %s to %s such as 512KiB or 64MiB", lo, hi);
        break;
    case K_COUNT:
        snprintf(buf, len, "must be an integer from %llu to %llu",
                 (unsigned long long)spec->min, (unsigned long long)spec->max);
        break;
    case K_DURATION:
        format_duration(spec->min, lo, sizeof(lo));
        format_duration(spec->max, hi, sizeof(hi));
        snprintf(buf, len, "must be a duration from %s to %s such as 200ms, 5s or 1m30s",
                 lo, hi);
        break;
    case K_MILLIS:
        snprintf(buf, len, "must be a whole number of milliseconds from %llu to %llu",
                 (unsigned long long)spec->min, (unsigned long long)spec->max);
        break;
    case K_LOG_LEVEL:
        snprintf(buf, len, "must be debug, info, warning or error");
        break;
    case K_SAMPLER_RULE:
        snprintf(buf, len, "must be auto, python or consistent");
        break;
    case K_RESOLVER:
        snprintf(buf, len, "must be static or dns");
        break;
    case K_HOSTNAME:
        snprintf(buf, len, "must be a DNS name without a port");
        break;
    case K_HOSTPORT_LIST:
        snprintf(buf, len, "must be host:port or [ipv6]:port with a port from 1 to 65535");
        break;
    case K_DIR_OPT:
        snprintf(buf, len, "must be an absolute path, or empty for off");
        break;
    case K_SPOOL_SYNC:
        snprintf(buf, len, "must be interval, always or never");
        break;
    case K_DESTINATIONS:
        snprintf(buf, len, "must be a list of destinations");
        break;
    case K_LABEL:
        snprintf(buf, len, "must be 1 to 31 letters, digits, '_', '.' or '-'");
        break;
    case K_SECTION:
    case K_IGNORED:
        snprintf(buf, len, "is not a value");
        break;
    }
}

static int in_range(const struct key_spec *spec, uint64_t v)
{
    return v >= spec->min && v <= spec->max;
}

/* A destination name: it becomes a Prometheus label value and a JSON string, so it is
 * kept to characters that need no escaping anywhere. */
static int is_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 31)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || is_digit(*s) ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

/* Parses text as a value of spec's kind and stores it in cfg. quoted is 1 for a quoted
 * YAML scalar (it only matters for file modes). On SET_INVALID, why says what was
 * expected. */
static int set_value(struct config *cfg, void *base, const struct key_spec *spec,
                     const char *text, int quoted, char *why, size_t whylen)
{
    void *field = (char *)base + spec->offset;
    uint64_t u;
    size_t size;
    int ok = 0;
    const char *problem = NULL;
    struct sockaddr_storage listen_addr;
    struct netaddr_hostport hostport;

    switch (spec->kind) {
    case K_SECTION:
    case K_IGNORED:
    case K_HOSTPORT_LIST:
    case K_DESTINATIONS:
        return SET_OK;
    case K_LABEL:
        if (is_label(text))
            return set_string((char **)field, text) < 0 ? SET_NOMEM : SET_OK;
        break;
    case K_BOOL:
        ok = parse_bool(text, (int *)field) == 0;
        break;
    case K_NAME:
        if (*text)
            return set_string((char **)field, text) < 0 ? SET_NOMEM : SET_OK;
        break;
    case K_ENDPOINT:
        problem = check_endpoint(text);
        if (!problem) {
            if (set_string((char **)field, text) < 0)
                return SET_NOMEM;
            /* a base URL; only OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is */
            cfg->endpoint_is_signal = 0;
            return SET_OK;
        }
        break;
    case K_PROTOCOL:
        if (strcasecmp(text, "grpc") == 0) {
            *(enum config_protocol *)field = CONFIG_PROTOCOL_GRPC;
            return SET_OK;
        }
        if (strcasecmp(text, "http/protobuf") == 0) {
            *(enum config_protocol *)field = CONFIG_PROTOCOL_HTTP_PROTOBUF;
            return SET_OK;
        }
        if (strcasecmp(text, "http/json") == 0) {
            snprintf(why, whylen, "http/json is not supported for export, "
                                  "must be grpc or http/protobuf");
            return SET_INVALID;
        }
        break;
    case K_COMPRESSION:
        ok = 1;
        if (strcasecmp(text, "none") == 0)
            *(enum config_compression *)field = CONFIG_COMPRESSION_NONE;
        else if (strcasecmp(text, "gzip") == 0)
            *(enum config_compression *)field = CONFIG_COMPRESSION_GZIP;
        else if (strcasecmp(text, "zstd") == 0)
            *(enum config_compression *)field = CONFIG_COMPRESSION_ZSTD;
        else
            ok = 0;
        break;
    case K_RATIO:
        ok = parse_ratio(text, (double *)field) == 0;
        break;
    case K_MODE:
        ok = parse_mode(text, quoted, (unsigned *)field) == 0;
        break;
    case K_SOCKET:
        if (check_socket(text) == 0)
            return set_string((char **)field, text) < 0 ? SET_NOMEM : SET_OK;
        break;
    case K_LISTEN:
    case K_LISTEN_OPT:
        if (spec->kind == K_LISTEN_OPT && !*text)
            return set_string((char **)field, text) < 0 ? SET_NOMEM : SET_OK;
        problem = netaddr_parse(text, &listen_addr);
        if (!problem)
            return set_string((char **)field, text) < 0 ? SET_NOMEM : SET_OK;
        break;
    case K_SIZE:
        if (config_parse_size(text, &size) == 0 && in_range(spec, size)) {
            *(size_t *)field = size;
            return SET_OK;
        }
        break;
    case K_COUNT:
        if (parse_u64(text, &u) == 0 && in_range(spec, u)) {
            *(unsigned *)field = (unsigned)u;
            return SET_OK;
        }
        break;
    case K_DURATION:
        if (config_parse_duration_ms(text, &u) == 0 && in_range(spec, u)) {
            *(uint64_t *)field = u;
            return SET_OK;
        }
        break;
    case K_MILLIS:
        if (parse_u64(text, &u) == 0 && in_range(spec, u)) {
            *(uint64_t *)field = u;
            return SET_OK;
        }
        break;
    case K_LOG_LEVEL:
        if (log_level_name(text))
            return set_string((char **)field, log_level_name(text)) < 0 ? SET_NOMEM : SET_OK;
        break;
    case K_SAMPLER_RULE:
        ok = 1;
        if (strcasecmp(text, "auto") == 0)
            *(enum config_sampler_rule *)field = CONFIG_SAMPLER_AUTO;
        else if (strcasecmp(text, "python") == 0)
            *(enum config_sampler_rule *)field = CONFIG_SAMPLER_PYTHON;
        else if (strcasecmp(text, "consistent") == 0)
            *(enum config_sampler_rule *)field = CONFIG_SAMPLER_CONSISTENT;
        else
            ok = 0;
        break;
    case K_RESOLVER:
        ok = 1;
        if (strcasecmp(text, "static") == 0)
            *(enum config_resolver *)field = CONFIG_RESOLVER_STATIC;
        else if (strcasecmp(text, "dns") == 0)
            *(enum config_resolver *)field = CONFIG_RESOLVER_DNS;
        else
            ok = 0;
        break;
    case K_HOSTNAME:
        problem = netaddr_split(text, strlen(text), NETADDR_PORT_OPTIONAL, &hostport);
        if (!problem && (hostport.port || hostport.is_ipv6))
            problem = "";
        if (!problem)
            return set_string((char **)field, text) < 0 ? SET_NOMEM : SET_OK;
        break;
    case K_DIR_OPT:
        if (!*text || (text[0] == '/' && check_printable(text) == 0))
            return set_string((char **)field, text) < 0 ? SET_NOMEM : SET_OK;
        break;
    case K_SPOOL_SYNC:
        ok = 1;
        if (strcasecmp(text, "interval") == 0)
            *(enum config_spool_sync *)field = CONFIG_SPOOL_SYNC_INTERVAL;
        else if (strcasecmp(text, "always") == 0)
            *(enum config_spool_sync *)field = CONFIG_SPOOL_SYNC_ALWAYS;
        else if (strcasecmp(text, "never") == 0)
            *(enum config_spool_sync *)field = CONFIG_SPOOL_SYNC_NEVER;
        else
            ok = 0;
        break;
    }
    if (ok)
        return SET_OK;
    describe(spec, why, whylen);
    if (problem && *problem) {
        size_t used = strlen(why);
        snprintf(why + used, whylen - used, " (%s)", problem);
    }
    return SET_INVALID;
}

/* The value as quoted back in a message, cut to SHOWN_MAX characters. */
static const char *shown(const char *s, char *buf, size_t len)
{
    if (strlen(s) <= SHOWN_MAX)
        return s;
    snprintf(buf, len, "%.*s...", SHOWN_MAX - 3, s);
    return buf;
}

/* ---- key=value lists ---- */

static void kv_free(struct config_kv *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i].key);
        free(list[i].value);
    }
    free(list);
}

/* Decodes %XX escapes of s[0..len) into a new string. Control characters are refused
 * because these values end up in HTTP/2 headers and resource attributes (a decoded
 * CR LF or NUL would split or cut them). */
static int percent_decode(const char *s, size_t len, char **out, const char **problem)
{
    char *buf = malloc(len + 1);
    size_t n = 0;
    if (!buf)
        return SET_NOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? codec_hex_value(s[i + 1]) : -1;
            int lo = hi >= 0 ? codec_hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(buf);
                *problem = "bad percent-encoding (want %XX)";
                return SET_INVALID;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < ' ' || c == 0x7f) {
            free(buf);
            *problem = "control character in key or value";
            return SET_INVALID;
        }
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    *out = buf;
    return SET_OK;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Narrows [*start, *end) to exclude surrounding blanks. */
static void trim(const char **start, const char **end)
{
    while (*start < *end && is_blank(**start))
        (*start)++;
    while (*end > *start && is_blank((*end)[-1]))
        (*end)--;
}

/* Parses one "key=value" entry [start, end) into kv. Messages never quote the entry:
 * header values are API keys. */
static int parse_kv_entry(const char *start, const char *end, size_t index,
                          struct config_kv *kv, char *err, size_t errlen)
{
    const char *eq = memchr(start, '=', (size_t)(end - start));
    const char *problem = NULL;
    if (!eq)
        return fail(err, errlen, "entry %zu: missing '=' (want key=value)", index);
    const char *kstart = start, *kend = eq, *vstart = eq + 1, *vend = end;
    trim(&kstart, &kend);
    trim(&vstart, &vend);
    if (kstart == kend)
        return fail(err, errlen, "entry %zu: empty key", index);

    int rc = percent_decode(kstart, (size_t)(kend - kstart), &kv->key, &problem);
    if (rc == SET_OK) {
        rc = percent_decode(vstart, (size_t)(vend - vstart), &kv->value, &problem);
        if (rc != SET_OK)
            free(kv->key);
    }
    if (rc == SET_NOMEM)
        return fail(err, errlen, "out of memory");
    if (rc == SET_INVALID)
        return fail(err, errlen, "entry %zu: %s", index, problem);
    return 0;
}

int config_parse_kv_list(const char *s, struct config_kv **list, size_t *count,
                         char *err, size_t errlen)
{
    struct config_kv *parsed = NULL;
    size_t n = 0, index = 0;

    while (s && *s) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        index++;
        const char *start = s, *stop = end;
        trim(&start, &stop);
        if (start < stop) {
            struct config_kv *grown = realloc(parsed, (n + 1) * sizeof(*parsed));
            if (!grown) {
                kv_free(parsed, n);
                return fail(err, errlen, "out of memory");
            }
            parsed = grown;
            if (parse_kv_entry(start, stop, index, &parsed[n], err, errlen) < 0) {
                kv_free(parsed, n);
                return -1;
            }
            n++;
        }
        s = *end ? end + 1 : end;
    }
    if (n == 0)
        return 0;

    struct config_kv *grown = realloc(*list, (*count + n) * sizeof(**list));
    if (!grown) {
        kv_free(parsed, n);
        return fail(err, errlen, "out of memory");
    }
    memcpy(grown + *count, parsed, n * sizeof(*parsed));
    free(parsed);
    *list = grown;
    *count += n;
    return 0;
}

static struct config_kv *kv_find(struct config_kv *list, size_t count, const char *key,
                                 int ignore_case)
{
    for (size_t i = 0; i < count; i++) {
        int same = ignore_case ? strcasecmp(list[i].key, key) == 0
                               : strcmp(list[i].key, key) == 0;
        if (same)
            return &list[i];
    }
    return NULL;
}

/* Moves src's entries into *dst: a key already in *dst gets the new value, others are
 * appended. src is consumed either way. */
static int kv_merge(struct config_kv **dst, size_t *dcount, struct config_kv *src,
                    size_t scount, int ignore_case)
{
    if (scount == 0) {
        free(src);
        return 0;
    }
    struct config_kv *grown = realloc(*dst, (*dcount + scount) * sizeof(**dst));
    if (!grown) {
        kv_free(src, scount);
        return -1;
    }
    *dst = grown;
    for (size_t i = 0; i < scount; i++) {
        struct config_kv *old = kv_find(*dst, *dcount, src[i].key, ignore_case);
        if (old) {
            free(old->value);
            old->value = src[i].value;
            free(src[i].key);
        } else {
            (*dst)[(*dcount)++] = src[i];
        }
    }
    free(src);
    return 0;
}

/* ---- defaults and free ---- */

void config_load_balance_defaults(struct config_load_balance *lb)
{
    memset(lb, 0, sizeof(*lb));
    lb->interval_ms = 5 * SECOND_MS;
    lb->eject_after_ms = 30 * SECOND_MS;
}

static void list_free(struct config_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

void config_destination_defaults(struct config_destination *d)
{
    memset(d, 0, sizeof(*d));
    d->sampling_ratio = -1.0;
    config_load_balance_defaults(&d->load_balance);
}

static void destination_free(struct config_destination *d)
{
    free(d->name);
    free(d->endpoint);
    free(d->headers_from);
    free(d->certificate);
    kv_free(d->headers, d->headers_count);
    config_load_balance_free(&d->load_balance);
    config_destination_defaults(d);
}

void config_load_balance_free(struct config_load_balance *lb)
{
    list_free(&lb->endpoints);
    free(lb->hostname);
    config_load_balance_defaults(lb);
}

int config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->enabled = 0;
    cfg->protocol = CONFIG_PROTOCOL_GRPC;
    cfg->sampling_ratio = 1.0;
    cfg->sampler_rule = CONFIG_SAMPLER_AUTO;
    cfg->receiver_socket_mode = 0660;
    cfg->receiver_max_request_bytes = 4 * MIB;
    cfg->receiver_max_connections = 256;
    cfg->receiver_request_timeout_ms = 30 * SECOND_MS;
    cfg->receiver_idle_timeout_ms = 2 * MINUTE_MS;
    cfg->buffer_max_bytes = 64 * MIB;
    cfg->spool_max_bytes = 1 * GIB;
    cfg->spool_sync = CONFIG_SPOOL_SYNC_INTERVAL;
    cfg->spool_sync_interval_ms = 1 * SECOND_MS;
    cfg->exporter_max_batch_bytes = 1 * MIB;
    cfg->exporter_max_batch_spans = 2048;
    cfg->exporter_batch_timeout_ms = 200;
    cfg->exporter_timeout_ms = 10 * SECOND_MS;
    cfg->exporter_compression = CONFIG_COMPRESSION_NONE;
    cfg->retry_initial_interval_ms = 500;
    cfg->retry_max_interval_ms = 5 * SECOND_MS;
    cfg->retry_max_elapsed_ms = 5 * MINUTE_MS;
    cfg->shutdown_timeout_ms = 10 * SECOND_MS;
    config_load_balance_defaults(&cfg->load_balance);

    if (!(cfg->endpoint = strdup("")) ||
        !(cfg->service_name = strdup("unknown_service")) ||
        !(cfg->receiver_socket = strdup("/tmp/spanrelay/otlp.sock")) ||
        !(cfg->receiver_grpc = strdup("")) ||
        !(cfg->receiver_http = strdup("")) ||
        !(cfg->spool_dir = strdup("")) ||
        !(cfg->health_listen = strdup("127.0.0.1:13133")) ||
        !(cfg->log_level = strdup("info"))) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

void config_free(struct config *cfg)
{
    free(cfg->endpoint);
    free(cfg->service_name);
    free(cfg->receiver_socket);
    free(cfg->receiver_grpc);
    free(cfg->receiver_http);
    free(cfg->spool_dir);
    free(cfg->certificate);
    free(cfg->health_listen);
    free(cfg->log_level);
    kv_free(cfg->headers, cfg->headers_count);
    kv_free(cfg->resource_attrs, cfg->resource_attrs_count);
    config_load_balance_free(&cfg->load_balance);
    for (size_t i = 0; i < cfg->destinations_count; i++)
        destination_free(&cfg->destinations[i]);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the YAML file ---- */

struct load {
    struct config *cfg;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    int saw_enabled;  /* otel.enabled appeared in the file */
    int saw_endpoint; /* otel.endpoint appeared in the file */
    int saw_load_balance; /* otel.loadBalance appeared in the file, with a resolver */
};

static unsigned long line_of(const yaml_node_t *node)
{
    return (unsigned long)node->start_mark.line + 1;
}

static const char *node_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* An empty, "~" or "null" plain scalar: YAML's null. */
static int is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = node_text(node);
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *node_kind_name(const yaml_node_t *node)
{
    return node->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
}

static int is_string_kind(enum kind kind)
{
    return kind == K_NAME || kind == K_ENDPOINT || kind == K_SOCKET || kind == K_LISTEN ||
           kind == K_LISTEN_OPT || kind == K_LOG_LEVEL || kind == K_HOSTNAME || kind == K_LABEL;
}

static int walk_mapping(struct load *ld, void *base, const yaml_node_t *node,
                        const struct key_spec *specs, const char *prefix);

/* The key node named name in mapping node, or NULL. */
static const yaml_node_t *find_key(struct load *ld, const yaml_node_t *node, const char *name)
{
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = yaml_document_get_node(ld->doc, pair->key);
        if (key->type == YAML_SCALAR_NODE && strcmp(node_text(key), name) == 0)
            return key;
    }
    return NULL;
}

/* A key that the chosen resolver does not take. */
static int refuse_key(struct load *ld, const yaml_node_t *node, const char *path,
                      const char *name, const char *resolver)
{
    const yaml_node_t *key = find_key(ld, node, name);
    if (!key)
        return 0;
    return fail(ld->err, ld->errlen, "%s.%s: not used with resolver %s at line %lu", path, name,
                resolver, line_of(key));
}

static int check_load_balance(struct load *ld, void *base, const yaml_node_t *node,
                              const char *path)
{
    struct config_load_balance *lb = base;

    if (lb == &ld->cfg->load_balance)
        ld->saw_load_balance = 1;
    switch (lb->resolver) {
    case CONFIG_RESOLVER_NONE:
        return fail(ld->err, ld->errlen, "%s.resolver: required, must be static or dns "
                    "(loadBalance at line %lu)", path, line_of(node));
    case CONFIG_RESOLVER_STATIC:
        if (refuse_key(ld, node, path, "hostname", "static") < 0 ||
            refuse_key(ld, node, path, "port", "static") < 0 ||
            refuse_key(ld, node, path, "interval", "static") < 0)
            return -1;
        if (lb->endpoints.count == 0)
            return fail(ld->err, ld->errlen, "%s.endpoints: required with resolver static "
                        "(loadBalance at line %lu)", path, line_of(node));
        return 0;
    case CONFIG_RESOLVER_DNS:
        if (refuse_key(ld, node, path, "endpoints", "dns") < 0)
            return -1;
        if (!lb->hostname)
            return fail(ld->err, ld->errlen, "%s.hostname: required with resolver dns "
                        "(loadBalance at line %lu)", path, line_of(node));
        if (lb->port == 0)
            return fail(ld->err, ld->errlen, "%s.port: required with resolver dns "
                        "(loadBalance at line %lu)", path, line_of(node));
        return 0;
    }
    return 0;
}

/* A list of host:port, each checked and named by its index in messages. */
static int apply_list(struct load *ld, void *base, const struct key_spec *spec,
                      const yaml_node_t *value, const char *path)
{
    struct config_list *list = (struct config_list *)((char *)base + spec->offset);
    char why[160], cut[SHOWN_MAX + 1];
    struct config_list parsed = { 0 };
    struct netaddr_hostport hostport;

    describe(spec, why, sizeof(why));
    if (value->type != YAML_SEQUENCE_NODE || value->data.sequence.items.top ==
                                                 value->data.sequence.items.start)
        return fail(ld->err, ld->errlen, "%s: must be a non-empty list of host:port at line %lu",
                    path, line_of(value));
    size_t n = (size_t)(value->data.sequence.items.top - value->data.sequence.items.start);
    if (!(parsed.items = calloc(n, sizeof(*parsed.items))))
        return fail(ld->err, ld->errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, value->data.sequence.items.start[i]);
        int rc = 0;
        if (item->type != YAML_SCALAR_NODE)
            rc = fail(ld->err, ld->errlen, "%s[%zu]: %s, got %s at line %lu", path, i, why,
                      node_kind_name(item), line_of(item));
        else if (strlen(node_text(item)) != item->data.scalar.length ||
                 netaddr_split(node_text(item), item->data.scalar.length,
                               NETADDR_PORT_REQUIRED, &hostport))
            rc = fail(ld->err, ld->errlen, "%s[%zu]: %s, got \"%s\" at line %lu", path, i, why,
                      shown(node_text(item), cut, sizeof(cut)), line_of(item));
        else if (!(parsed.items[i] = strdup(node_text(item))))
            rc = fail(ld->err, ld->errlen, "out of memory");
        if (rc < 0) {
            parsed.count = i;
            list_free(&parsed);
            return -1;
        }
    }
    parsed.count = n;
    list_free(list);
    *list = parsed;
    return 0;
}

/* One destination: its keys, then what it must have. */
static int apply_destination(struct load *ld, struct config_destination *d,
                             const yaml_node_t *item, const char *path)
{
    if (item->type != YAML_MAPPING_NODE)
        return fail(ld->err, ld->errlen, "%s: must be a mapping of keys at line %lu", path,
                    line_of(item));
    if (walk_mapping(ld, d, item, destination_keys, path) < 0)
        return -1;
    if (!d->name)
        return fail(ld->err, ld->errlen, "%s.name: required (destination at line %lu)", path,
                    line_of(item));
    if (strcmp(d->name, "primary") == 0)
        return fail(ld->err, ld->errlen, "%s.name: \"primary\" is the otel: block's name "
                    "(destination at line %lu)", path, line_of(item));
    if ((!d->endpoint || !d->endpoint[0]) && d->load_balance.resolver == CONFIG_RESOLVER_NONE)
        return fail(ld->err, ld->errlen, "%s.endpoint: required without loadBalance "
                    "(destination at line %lu)", path, line_of(item));
    for (struct config_destination *o = ld->cfg->destinations; o < d; o++)
        if (strcmp(o->name, d->name) == 0)
            return fail(ld->err, ld->errlen, "%s.name: \"%s\" is already %s.name at line %lu",
                        path, d->name, o->key, line_of(item));
    return 0;
}

/* destinations: a list of mappings, each one more export lane. */
static int apply_destinations(struct load *ld, const yaml_node_t *value, const char *path)
{
    struct config *cfg = ld->cfg;
    if (is_null(value))
        return 0;
    if (value->type != YAML_SEQUENCE_NODE)
        return fail(ld->err, ld->errlen, "%s: must be a list of destinations at line %lu", path,
                    line_of(value));
    for (size_t i = 0; i < cfg->destinations_count; i++)
        destination_free(&cfg->destinations[i]);
    cfg->destinations_count = 0;
    size_t n = (size_t)(value->data.sequence.items.top - value->data.sequence.items.start);
    if (n > CONFIG_MAX_DESTINATIONS)
        return fail(ld->err, ld->errlen, "%s: at most %d destinations, got %zu at line %lu",
                    path, CONFIG_MAX_DESTINATIONS, n, line_of(value));
    for (size_t i = 0; i < n; i++) {
        struct config_destination *d = &cfg->destinations[i];
        yaml_node_t *item = yaml_document_get_node(ld->doc, value->data.sequence.items.start[i]);
        config_destination_defaults(d);
        snprintf(d->key, sizeof(d->key), "destinations[%zu]", i);
        cfg->destinations_count = i + 1;
        if (apply_destination(ld, d, item, d->key) < 0)
            return -1;
    }
    return 0;
}

/* A section's keys, then its combination. */
static int apply_section(struct load *ld, void *base, const struct key_spec *spec,
                         const yaml_node_t *value, const char *path)
{
    void *inner = (char *)base + spec->offset;
    if (walk_mapping(ld, inner, value, spec->children, path) < 0)
        return -1;
    return spec->check ? spec->check(ld, inner, value, path) : 0;
}

/* Applies one value node to the key described by spec; base is where spec's offset
 * counts from and path its dotted name. */
static int apply_node(struct load *ld, void *base, const struct key_spec *spec,
                      const yaml_node_t *value, const char *path)
{
    char why[160], cut[SHOWN_MAX + 1];

    if (spec->kind == K_HOSTPORT_LIST)
        return apply_list(ld, base, spec, value, path);
    if (spec->kind == K_DESTINATIONS)
        return apply_destinations(ld, value, path);
    if (spec->kind == K_SECTION) {
        if (value->type == YAML_MAPPING_NODE)
            return apply_section(ld, base, spec, value, path);
        if (is_null(value)) /* every key commented out: an empty section */
            return 0;
        if (value->type == YAML_SCALAR_NODE)
            return fail(ld->err, ld->errlen,
                        "%s: must be a mapping of keys, got \"%s\" at line %lu", path,
                        shown(node_text(value), cut, sizeof(cut)), line_of(value));
        return fail(ld->err, ld->errlen, "%s: must be a mapping of keys, got a list at line %lu",
                    path, line_of(value));
    }
    if (value->type != YAML_SCALAR_NODE)
        return fail(ld->err, ld->errlen, "%s: must be a single value, got %s at line %lu",
                    path, node_kind_name(value), line_of(value));

    const char *text = node_text(value);
    if (strlen(text) != value->data.scalar.length)
        return fail(ld->err, ld->errlen, "%s: must not contain a NUL character at line %lu",
                    path, line_of(value));
    if (strcmp(path, "otel.enabled") == 0)
        ld->saw_enabled = 1;
    if (strcmp(path, "otel.endpoint") == 0)
        ld->saw_endpoint = 1;

    int quoted = value->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    const char *given = is_null(value) && is_string_kind(spec->kind) ? "" : text;
    int rc = set_value(ld->cfg, base, spec, given, quoted, why, sizeof(why));
    if (rc == SET_NOMEM)
        return fail(ld->err, ld->errlen, "out of memory");
    if (rc == SET_INVALID)
        return fail(ld->err, ld->errlen, "%s: %s, got \"%s\" at line %lu", path, why,
                    shown(text, cut, sizeof(cut)), line_of(value));
    return 0;
}

static int walk_mapping(struct load *ld, void *base, const yaml_node_t *node,
                        const struct key_spec *specs, const char *prefix)
{
    unsigned long seen = 0; /* bit i: specs[i] already given in this mapping */
    char path[256], cut[SHOWN_MAX + 1];

    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = yaml_document_get_node(ld->doc, pair->key);
        yaml_node_t *value = yaml_document_get_node(ld->doc, pair->value);
        if (key->type != YAML_SCALAR_NODE)
            return fail(ld->err, ld->errlen, "%s: keys must be names, got %s at line %lu",
                        prefix ? prefix : "top level", node_kind_name(key), line_of(key));

        const char *name = shown(node_text(key), cut, sizeof(cut));
        if (prefix)
            snprintf(path, sizeof(path), "%s.%s", prefix, name);
        else
            snprintf(path, sizeof(path), "%s", name);

        size_t i;
        for (i = 0; specs[i].name; i++)
            if (strcmp(specs[i].name, node_text(key)) == 0)
                break;
        if (!specs[i].name)
            return fail(ld->err, ld->errlen, "%s: unknown key at line %lu", path, line_of(key));
        if (seen & (1UL << i))
            return fail(ld->err, ld->errlen, "%s: duplicate key at line %lu", path, line_of(key));
        seen |= 1UL << i;

        if (apply_node(ld, base, &specs[i], value, path) < 0)
            return -1;
    }
    return 0;
}

static int load_document(struct config *cfg, yaml_document_t *doc, char *err, size_t errlen)
{
    struct load ld = { .cfg = cfg, .doc = doc, .err = err, .errlen = errlen };
    yaml_node_t *root = yaml_document_get_root_node(doc);
    char cut[SHOWN_MAX + 1];

    /* an empty file, or one holding only comments */
    if (!root || is_null(root))
        return 0;
    if (root->type == YAML_SCALAR_NODE)
        return fail(err, errlen, "top level: must be a mapping of keys, got \"%s\" at line %lu",
                    shown(node_text(root), cut, sizeof(cut)), line_of(root));
    if (root->type != YAML_MAPPING_NODE)
        return fail(err, errlen, "top level: must be a mapping of keys, got a list at line %lu",
                    line_of(root));
    if (walk_mapping(&ld, cfg, root, top_keys, NULL) < 0)
        return -1;
    /* Giving an endpoint or a fleet without saying enabled means "export there". */
    if (((ld.saw_endpoint && cfg->endpoint[0]) || ld.saw_load_balance) && !ld.saw_enabled)
        cfg->enabled = 1;
    return 0;
}

static int parser_fail(const yaml_parser_t *parser, char *err, size_t errlen)
{
    const char *problem = parser->problem ? parser->problem : "malformed YAML";
    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        return fail(err, errlen, "out of memory");
    case YAML_READER_ERROR:
        return fail(err, errlen, "YAML: %s at byte %zu", problem, parser->problem_offset);
    default:
        if (parser->context)
            return fail(err, errlen, "YAML syntax error: %s, %s at line %lu", parser->context,
                        problem, (unsigned long)parser->problem_mark.line + 1);
        return fail(err, errlen, "YAML syntax error: %s at line %lu", problem,
                    (unsigned long)parser->problem_mark.line + 1);
    }
}

/* A second document after the first would be silently ignored: refuse it. */
static int expect_end(yaml_parser_t *parser, char *err, size_t errlen)
{
    yaml_document_t next;
    if (!yaml_parser_load(parser, &next))
        return parser_fail(parser, err, errlen);
    int rc = 0;
    if (yaml_document_get_root_node(&next))
        rc = fail(err, errlen, "only one YAML document is allowed, another starts at line %lu",
                  (unsigned long)next.start_mark.line + 1);
    yaml_document_delete(&next);
    return rc;
}

int config_load_string(struct config *cfg, const char *yaml, size_t len, char *err,
                       size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;

    if (!yaml_parser_initialize(&parser))
        return fail(err, errlen, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        parser_fail(&parser, err, errlen);
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = load_document(cfg, &doc, err, errlen);
    yaml_document_delete(&doc);
    if (rc == 0)
        rc = expect_end(&parser, err, errlen);
    yaml_parser_delete(&parser);
    return rc;
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    char *buf = malloc(MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return fail(err, errlen, "out of memory");
    }
    size_t len = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    int read_errno = errno;
    int rc = 0;
    if (ferror(f))
        rc = fail(err, errlen, "%s: %s", path, strerror(read_errno));
    else if (len > MAX_FILE_BYTES)
        rc = fail(err, errlen, "%s: larger than 1MiB, not a configuration file", path);
    fclose(f);
    if (rc == 0)
        rc = config_load_string(cfg, buf, len, err, errlen);
    free(buf);
    return rc;
}

/* ---- the environment ---- */

typedef const char *(*getenv_func)(const char *name);

/* The variable's value, NULL when unset or empty (the specification treats both alike). */
static const char *env_value(getenv_func get, const char *name)
{
    const char *v = get(name);
    return v && *v ? v : NULL;
}

/* The traces-specific variable when set, else the general one; *name says which. */
static const char *env_pair(getenv_func get, const char *traces, const char *general,
                            const char **name)
{
    const char *v = env_value(get, traces);
    *name = traces;
    if (!v) {
        v = env_value(get, general);
        *name = general;
    }
    return v;
}

static int env_set(struct config *cfg, const struct key_spec *spec, const char *name,
                   const char *value, char *err, size_t errlen)
{
    char why[160], cut[SHOWN_MAX + 1];
    int rc = set_value(cfg, cfg, spec, value, 1, why, sizeof(why));
    if (rc == SET_NOMEM)
        return fail(err, errlen, "out of memory");
    if (rc == SET_INVALID)
        return fail(err, errlen, "%s: %s, got \"%s\"", name, why, shown(value, cut, sizeof(cut)));
    return 0;
}

static const struct key_spec env_endpoint_spec = {
    .kind = K_ENDPOINT, .offset = offsetof(struct config, endpoint) };
static const struct key_spec env_protocol_spec = {
    .kind = K_PROTOCOL, .offset = offsetof(struct config, protocol) };
static const struct key_spec env_timeout_spec = {
    .kind = K_MILLIS, .offset = offsetof(struct config, exporter_timeout_ms),
    .min = 1, .max = HOUR_MS };
static const struct key_spec env_schedule_delay_spec = {
    .kind = K_MILLIS, .offset = offsetof(struct config, exporter_batch_timeout_ms),
    .min = 1, .max = HOUR_MS };
static const struct key_spec env_batch_size_spec = {
    .kind = K_COUNT, .offset = offsetof(struct config, exporter_max_batch_spans),
    .min = 1, .max = MAX_BATCH_SPANS };
static const struct key_spec env_compression_spec = {
    .kind = K_COMPRESSION, .offset = offsetof(struct config, exporter_compression) };
static const struct key_spec env_certificate_spec = {
    .kind = K_NAME, .offset = offsetof(struct config, certificate) };
static const struct key_spec env_insecure_spec = {
    .kind = K_BOOL, .offset = offsetof(struct config, insecure) };
static const struct key_spec env_service_name_spec = {
    .kind = K_NAME, .offset = offsetof(struct config, service_name) };
static const struct key_spec env_log_level_spec = {
    .kind = K_LOG_LEVEL, .offset = offsetof(struct config, log_level) };

/* A variable and the field it sets; the traces-specific one wins over the general one. */
static int env_apply_pair(struct config *cfg, getenv_func get, const char *traces,
                          const char *general, const struct key_spec *spec, char *err,
                          size_t errlen)
{
    const char *name;
    const char *v = env_pair(get, traces, general, &name);
    return v ? env_set(cfg, spec, name, v, err, errlen) : 0;
}

/* An endpoint from the environment also turns export on (OTEL_SDK_DISABLED turns it
 * back off): an SDK pointed at an endpoint exports. */
static int env_endpoint(struct config *cfg, getenv_func get, char *err, size_t errlen)
{
    const char *name;
    const char *v = env_pair(get, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                             "OTEL_EXPORTER_OTLP_ENDPOINT", &name);
    if (!v)
        return 0;
    if (env_set(cfg, &env_endpoint_spec, name, v, err, errlen) < 0)
        return -1;
    cfg->endpoint_is_signal = strcmp(name, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == 0;
    cfg->enabled = 1;
    return 0;
}

/* Parses the variable's key=value list and merges it into *list. */
static int env_kv(getenv_func get, const char *name, struct config_kv **list, size_t *count,
                  int ignore_case, char *err, size_t errlen)
{
    const char *v = env_value(get, name);
    struct config_kv *parsed = NULL;
    size_t n = 0;
    char why[128];

    if (!v)
        return 0;
    if (config_parse_kv_list(v, &parsed, &n, why, sizeof(why)) < 0)
        return fail(err, errlen, "%s: %s", name, why);
    if (kv_merge(list, count, parsed, n, ignore_case) < 0)
        return fail(err, errlen, "out of memory");
    return 0;
}

/* Header names are case-insensitive (HTTP), so _TRACES_HEADERS replaces "api-key" even
 * when the general variable spelled it "Api-Key". */
static int env_headers(struct config *cfg, getenv_func get, char *err, size_t errlen)
{
    if (env_kv(get, "OTEL_EXPORTER_OTLP_HEADERS", &cfg->headers, &cfg->headers_count, 1,
               err, errlen) < 0)
        return -1;
    return env_kv(get, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", &cfg->headers, &cfg->headers_count,
                  1, err, errlen);
}

/* Each destination's headers come from the variable its headersFrom names: a
 * Kubernetes Secret can feed it, and the file never holds a secret. */
static int env_destination_headers(struct config *cfg, getenv_func get, char *err,
                                   size_t errlen)
{
    for (size_t i = 0; i < cfg->destinations_count; i++) {
        struct config_destination *d = &cfg->destinations[i];
        char why[256];
        if (!d->headers_from)
            continue;
        if (!env_value(get, d->headers_from))
            return fail(err, errlen, "%s.headersFrom: the environment variable %s is not set",
                        d->key, d->headers_from);
        kv_free(d->headers, d->headers_count);
        d->headers = NULL;
        d->headers_count = 0;
        if (env_kv(get, d->headers_from, &d->headers, &d->headers_count, 1, why,
                   sizeof(why)) < 0)
            return fail(err, errlen, "%s.headersFrom: %s", d->key, why);
    }
    return 0;
}

/* service.name leaves resource_attrs: it lives in service_name, where OTEL_SERVICE_NAME
 * takes precedence over it as the specification says. */
static int env_resource(struct config *cfg, getenv_func get, char *err, size_t errlen)
{
    const char *service = env_value(get, "OTEL_SERVICE_NAME");
    char *from_attrs = NULL;

    if (env_kv(get, "OTEL_RESOURCE_ATTRIBUTES", &cfg->resource_attrs,
               &cfg->resource_attrs_count, 0, err, errlen) < 0)
        return -1;
    struct config_kv *kv = kv_find(cfg->resource_attrs, cfg->resource_attrs_count,
                                   "service.name", 0);
    if (kv) {
        size_t after = (size_t)(cfg->resource_attrs + cfg->resource_attrs_count - kv) - 1;
        free(kv->key);
        from_attrs = kv->value;
        memmove(kv, kv + 1, after * sizeof(*kv));
        cfg->resource_attrs_count--;
    }
    int rc = 0;
    if (service)
        rc = env_set(cfg, &env_service_name_spec, "OTEL_SERVICE_NAME", service, err, errlen);
    else if (from_attrs && !*from_attrs)
        rc = fail(err, errlen, "OTEL_RESOURCE_ATTRIBUTES: service.name must not be empty");
    else if (from_attrs && set_string(&cfg->service_name, from_attrs) < 0)
        rc = fail(err, errlen, "out of memory");
    free(from_attrs);
    return rc;
}

/* The daemon always samples parent-based by a ratio (under otel.sampler.rule); the named
 * samplers map onto a ratio. A bare traceidratio is taken as its parent-based form, and
 * the argument is ignored by the always_* samplers as the specification says. */
static int env_sampler(struct config *cfg, getenv_func get, char *err, size_t errlen)
{
    static const struct key_spec ratio_spec = {
        .kind = K_RATIO, .offset = offsetof(struct config, sampling_ratio) };
    const char *sampler = env_value(get, "OTEL_TRACES_SAMPLER");
    const char *arg = env_value(get, "OTEL_TRACES_SAMPLER_ARG");
    char cut[SHOWN_MAX + 1];
    double ratio = 1.0;

    if (arg && parse_ratio(arg, &ratio) < 0)
        return env_set(cfg, &ratio_spec, "OTEL_TRACES_SAMPLER_ARG", arg, err, errlen);
    if (!sampler) {
        if (arg)
            cfg->sampling_ratio = ratio;
        return 0;
    }
    if (strcasecmp(sampler, "always_on") == 0 || strcasecmp(sampler, "parentbased_always_on") == 0)
        cfg->sampling_ratio = 1.0;
    else if (strcasecmp(sampler, "always_off") == 0 ||
             strcasecmp(sampler, "parentbased_always_off") == 0)
        cfg->sampling_ratio = 0.0;
    else if (strcasecmp(sampler, "traceidratio") == 0 ||
             strcasecmp(sampler, "parentbased_traceidratio") == 0) {
        if (arg)
            cfg->sampling_ratio = ratio;
    } else
        return fail(err, errlen, "OTEL_TRACES_SAMPLER: must be one of parentbased_traceidratio, "
                                 "traceidratio, parentbased_always_on, always_on, "
                                 "parentbased_always_off, always_off, got \"%s\"",
                    shown(sampler, cut, sizeof(cut)));
    return 0;
}

/* Only "true" disables; "false" is the specification's default and changes nothing. */
static int env_disabled(struct config *cfg, getenv_func get, char *err, size_t errlen)
{
    const char *v = env_value(get, "OTEL_SDK_DISABLED");
    char cut[SHOWN_MAX + 1];
    int disabled;

    if (!v)
        return 0;
    if (parse_bool(v, &disabled) < 0)
        return fail(err, errlen, "OTEL_SDK_DISABLED: must be true or false, got \"%s\"",
                    shown(v, cut, sizeof(cut)));
    if (disabled)
        cfg->enabled = 0;
    return 0;
}

/* OTEL_BSP_MAX_QUEUE_SIZE is not read: the ring is bounded in bytes (buffer.maxBytes),
 * not in spans. OTEL_BSP_EXPORT_TIMEOUT goes first so OTEL_EXPORTER_OTLP_TIMEOUT wins. */
static int env_bsp(struct config *cfg, getenv_func get, char *err, size_t errlen)
{
    const char *v;

    if ((v = env_value(get, "OTEL_BSP_SCHEDULE_DELAY")) &&
        env_set(cfg, &env_schedule_delay_spec, "OTEL_BSP_SCHEDULE_DELAY", v, err, errlen) < 0)
        return -1;
    if ((v = env_value(get, "OTEL_BSP_EXPORT_TIMEOUT")) &&
        env_set(cfg, &env_timeout_spec, "OTEL_BSP_EXPORT_TIMEOUT", v, err, errlen) < 0)
        return -1;
    if ((v = env_value(get, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) &&
        env_set(cfg, &env_batch_size_spec, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", v, err, errlen) < 0)
        return -1;
    return 0;
}

int config_apply_env(struct config *cfg, const char *(*getenv_fn)(const char *name),
                     char *err, size_t errlen)
{
    const char *v;

    if (env_endpoint(cfg, getenv_fn, err, errlen) < 0 ||
        env_apply_pair(cfg, getenv_fn, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                       "OTEL_EXPORTER_OTLP_PROTOCOL", &env_protocol_spec, err, errlen) < 0 ||
        env_headers(cfg, getenv_fn, err, errlen) < 0 ||
        env_destination_headers(cfg, getenv_fn, err, errlen) < 0 ||
        env_bsp(cfg, getenv_fn, err, errlen) < 0 ||
        env_apply_pair(cfg, getenv_fn, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                       "OTEL_EXPORTER_OTLP_TIMEOUT", &env_timeout_spec, err, errlen) < 0 ||
        env_apply_pair(cfg, getenv_fn, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                       "OTEL_EXPORTER_OTLP_COMPRESSION", &env_compression_spec, err, errlen) < 0 ||
        env_apply_pair(cfg, getenv_fn, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                       "OTEL_EXPORTER_OTLP_CERTIFICATE", &env_certificate_spec, err, errlen) < 0 ||
        env_apply_pair(cfg, getenv_fn, "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
                       "OTEL_EXPORTER_OTLP_INSECURE", &env_insecure_spec, err, errlen) < 0 ||
        env_resource(cfg, getenv_fn, err, errlen) < 0 ||
        env_sampler(cfg, getenv_fn, err, errlen) < 0)
        return -1;
    if ((v = env_value(getenv_fn, "SPANRELAY_LOG_LEVEL")) &&
        env_set(cfg, &env_log_level_spec, "SPANRELAY_LOG_LEVEL", v, err, errlen) < 0)
        return -1;
    return env_disabled(cfg, getenv_fn, err, errlen);
}

/* ---- the combination ---- */

static int check_not_above(const char *key, uint64_t v, const char *limit_key, uint64_t limit,
                           int is_size, char *err, size_t errlen)
{
    char a[32], b[32];
    if (v <= limit)
        return 0;
    if (is_size) {
        format_size(v, a, sizeof(a));
        format_size(limit, b, sizeof(b));
    } else {
        format_duration(v, a, sizeof(a));
        format_duration(limit, b, sizeof(b));
    }
    return fail(err, errlen, "%s: must not exceed %s (%s > %s)", key, limit_key, a, b);
}

/* Two listeners on one address would fail at bind time with a less helpful message. */
static int check_distinct(const char *key, const char *addr, const char *other_key,
                          const char *other, char *err, size_t errlen)
{
    if (!*addr || strcmp(addr, other) != 0)
        return 0;
    return fail(err, errlen, "%s: same address as %s (%s)", key, other_key, addr);
}

/* A lower ratio than the primary's keeps a subset of its traces (DESIGN.md decision 6);
 * a higher one would promise traces the primary's sampling already dropped. */
static int check_destinations(const struct config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->destinations_count; i++) {
        const struct config_destination *d = &cfg->destinations[i];
        char key[64], limit[64];
        if (d->sampling_ratio > cfg->sampling_ratio)
            return fail(err, errlen, "%s.samplingRatio: must be at most otel.samplingRatio "
                        "(%g), got %g", d->key, cfg->sampling_ratio, d->sampling_ratio);
        snprintf(key, sizeof(key), "%s.retry.initialInterval", d->key);
        snprintf(limit, sizeof(limit), "%s.retry.maxInterval", d->key);
        if (d->retry_initial_interval_ms && d->retry_max_interval_ms &&
            check_not_above(key, d->retry_initial_interval_ms, limit, d->retry_max_interval_ms,
                            0, err, errlen) < 0)
            return -1;
        snprintf(key, sizeof(key), "%s.maxBatchBytes", d->key);
        snprintf(limit, sizeof(limit), "%s.buffer.maxBytes", d->key);
        if (check_not_above(key, d->max_batch_bytes ? d->max_batch_bytes
                                                    : cfg->exporter_max_batch_bytes,
                            limit, d->buffer_max_bytes ? d->buffer_max_bytes
                                                       : cfg->buffer_max_bytes,
                            1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
    if (cfg->enabled && !cfg->endpoint[0] && cfg->load_balance.resolver == CONFIG_RESOLVER_NONE)
        return fail(err, errlen, "otel.endpoint: required when otel.enabled is true");
    /* A spool directory holds one lane's records; a fleet is a lane per gateway. */
    if (cfg->spool_dir[0] && cfg->load_balance.resolver != CONFIG_RESOLVER_NONE)
        return fail(err, errlen, "buffer.spool.dir: not supported with otel.loadBalance (a "
                                 "spool serves one endpoint, a fleet has a lane per gateway)");
    for (size_t i = 0; i < cfg->destinations_count; i++)
        if (cfg->spool_dir[0] &&
            cfg->destinations[i].load_balance.resolver != CONFIG_RESOLVER_NONE)
            return fail(err, errlen, "buffer.spool.dir: not supported with %s.loadBalance (a "
                        "spool serves one endpoint, a fleet has a lane per gateway)",
                        cfg->destinations[i].key);
    if (!cfg->receiver_socket[0] && !cfg->receiver_grpc[0] && !cfg->receiver_http[0])
        return fail(err, errlen, "receiver: no listener, set receiver.socket, receiver.grpc "
                                 "or receiver.http");
    if (check_not_above("exporter.retry.initialInterval", cfg->retry_initial_interval_ms,
                        "exporter.retry.maxInterval", cfg->retry_max_interval_ms, 0,
                        err, errlen) < 0 ||
        check_not_above("exporter.maxBatchBytes", cfg->exporter_max_batch_bytes,
                        "buffer.maxBytes", cfg->buffer_max_bytes, 1, err, errlen) < 0 ||
        check_not_above("receiver.maxRequestBytes", cfg->receiver_max_request_bytes,
                        "buffer.maxBytes", cfg->buffer_max_bytes, 1, err, errlen) < 0)
        return -1;
    if (check_destinations(cfg, err, errlen) < 0)
        return -1;
    if (check_distinct("receiver.http", cfg->receiver_http, "receiver.grpc",
                       cfg->receiver_grpc, err, errlen) < 0 ||
        check_distinct("health.listen", cfg->health_listen, "receiver.grpc",
                       cfg->receiver_grpc, err, errlen) < 0 ||
        check_distinct("health.listen", cfg->health_listen, "receiver.http",
                       cfg->receiver_http, err, errlen) < 0)
        return -1;
    return 0;
}
