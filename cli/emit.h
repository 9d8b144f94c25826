/* emit.h — the pieces of spanrelay-emit (daemon/emit_main.c): W3C trace context, span
 * times, the OTLP request carrying one span, and a small OTLP/HTTP sender bounded in time.
 *
 * Trace context follows W3C Trace Context level 1. A traceparent is
 * "VV-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", lowercase hex only. Version 00
 * must be exactly 55 characters. Version ff is invalid. A higher version is accepted
 * when it is at least 55 characters and, if longer, the 56th is '-': its first four
 * fields are read as version 00's (the specification's rule for forward compatibility).
 * All-zero trace or parent ids are invalid. What spanrelay-emit writes is always
 * version 00.
 *
 * Every string put into a request is made valid UTF-8 first (bad bytes become U+FFFD):
 * command arguments and environment values are arbitrary bytes, and the sidecar refuses
 * a whole request with one invalid string in it. */
#ifndef SPANRELAY_EMIT_H
#define SPANRELAY_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

#define EMIT_TRACEPARENT_LEN 55
#define EMIT_FLAG_SAMPLED 0x01

/* receiver.socket's default in the daemon (config_defaults); tests keep them equal. */
#define EMIT_DEFAULT_SOCKET "/tmp/spanrelay/otlp.sock"

/* OTLP Span.flags bits above the W3C trace flags (SpanFlags in trace.proto). */
#define EMIT_SPAN_FLAG_HAS_IS_REMOTE 0x100
#define EMIT_SPAN_FLAG_IS_REMOTE 0x200

/* OTLP Span.kind values. */
enum emit_kind {
    EMIT_KIND_INTERNAL = 1,
    EMIT_KIND_SERVER = 2,
    EMIT_KIND_CLIENT = 3,
    EMIT_KIND_PRODUCER = 4,
    EMIT_KIND_CONSUMER = 5,
};

/* A span context as a traceparent carries it. */
struct emit_context {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t flags; /* W3C trace-flags */
};

/* Parses a traceparent value. 0, or -1 with *why set to a static reason
 * ("wrong length", "version ff is invalid", "all-zero trace id", ...). For a version
 * above 00 only the sampled bit of the flags is kept, since the other bits may mean
 * something else there. */
int emit_traceparent_parse(const char *s, struct emit_context *ctx, const char **why);

/* Writes "00-<trace id>-<span id>-<flags>" and a NUL into out. */
void emit_traceparent_format(const struct emit_context *ctx, char out[EMIT_TRACEPARENT_LEN + 1]);

/* Fills buf with n random bytes (getrandom), never all zero. 0 or -1. */
int emit_random_id(uint8_t *buf, size_t n);

/* Parses a time: unix nanoseconds (digits only), or RFC 3339 with optional fractional
 * seconds (up to nanoseconds; further digits are cut) and Z or a ±HH:MM offset, e.g.
 * 2026-11-24T23:19:39.123456789+01:00. 'T' may also be 't' or a space, 'Z' may be 'z'.
 * Times before 1970 or past what 64 bits of nanoseconds hold are refused. 0 or -1. */
int emit_time_parse(const char *s, uint64_t *ns);

/* Wall-clock time in unix nanoseconds. */
uint64_t emit_now_ns(void);

/* "internal", "server", "client", "producer", "consumer" (any case). 0 or -1. */
int emit_kind_parse(const char *s, enum emit_kind *kind);

/* "k=v" as given to --attr: splits at the first '='. The key must not be empty; the
 * value may be. The strings are allocated; 0 or -1. */
int emit_attr_parse(const char *s, struct config_kv *kv);

/* From a waitpid() status: the exit status a shell would report (the code, or 128+N
 * for death by signal N); msg gets "" for exit code 0, else why the command failed
 * ("exit status 3", "killed by signal 9 (Killed)"). */
int emit_exit_status(int wstatus, char *msg, size_t msglen);

/* The span to send. Strings are borrowed. */
struct emit_span {
    struct emit_context ctx;        /* this span: trace id, span id, W3C flags */
    const uint8_t *parent_span_id;  /* 8 bytes, or NULL for a root */
    const char *trace_state;        /* NULL or "" for none */
    const char *name;
    enum emit_kind kind;
    uint64_t start_ns, end_ns;
    const char *command;            /* process.command, or NULL */
    char *const *args;              /* process.command_args (the command included) */
    size_t nargs;                   /* 0: attribute left out */
    int has_exit_code;
    int64_t exit_code;              /* process.exit.code */
    const struct config_kv *attrs;  /* --attr, string values; on a repeated key the last
                                       wins; they never replace the process.* ones */
    size_t nattrs;
    const char *error;              /* status ERROR with this message, or NULL (unset) */
};

/* The resource the span belongs to. */
struct emit_resource {
    const char *service_name;       /* service.name, or NULL to leave it to the sidecar */
    const struct config_kv *attrs;  /* OTEL_RESOURCE_ATTRIBUTES, in order; on a repeated
                                       key the last wins; service_name wins over them */
    size_t nattrs;
};

/* Encodes an ExportTraceServiceRequest with one resource, one scope ("spanrelay-emit",
 * the version) and the span. Span.flags is the W3C flags plus HAS_IS_REMOTE, and
 * IS_REMOTE when there is a parent (it came from another process). *out is malloc'd,
 * the caller frees it. 0 or -1 (out of memory). */
int emit_request_build(const struct emit_resource *res, const struct emit_span *span,
                       uint8_t **out, size_t *out_len);

/* Where spans go. */
struct emit_endpoint {
    int is_unix;
    char socket_path[108];          /* is_unix: the socket */
    char host[256];                 /* else: host name or address (no brackets) */
    char port[8];
    char target[512];               /* the request path, e.g. /v1/traces */
};

/* Parses an endpoint: unix:///abs/path, unix:/abs/path or /abs/path (a UNIX socket),
 * or http://host[:port][/base] (port 80 by default; IPv6 hosts in brackets). As a base
 * URL (OTEL_EXPORTER_OTLP_ENDPOINT, --endpoint) the request path is base + /v1/traces;
 * with signal_url set (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) the path is used as given.
 * A socket is always sent /v1/traces. https is refused: the sidecar is local and
 * cleartext. 0 or -1 with a message. */
int emit_endpoint_parse(const char *url, int signal_url, struct emit_endpoint *ep,
                        char *err, size_t errlen);

/* POSTs body as application/x-protobuf and reads the status line. Everything — name
 * lookup, connect, write, answer — fits in timeout_ms. 0 on a 2xx answer, else -1 with
 * a one-line message. */
int emit_send(const struct emit_endpoint *ep, const uint8_t *body, size_t len,
              uint64_t timeout_ms, char *err, size_t errlen);

#endif
