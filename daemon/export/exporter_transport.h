/* exporter_transport.h — what exporter.c (batches, retries, backoff, accounting)
 * expects of a wire protocol: exporter_grpc.c (OTLP/gRPC over nghttp2, h2c or TLS) and
 * exporter_http.c (OTLP/HTTP protobuf over libcurl's multi-socket API).
 *
 * A transport sends one request per call to send(); it answers each request exactly
 * once through exporter_transport_done(), from a loop callback (never from inside
 * send()). It keeps its connection(s) itself: connecting, reconnecting with the
 * reconnect delay given by exporter.c, TLS, headers, timeouts. It never logs header
 * values. */
#ifndef SPANRELAY_EXPORTER_TRANSPORT_H
#define SPANRELAY_EXPORTER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "export/export_target.h"

struct exporter;

/* One export request as the transport sees it. The body is owned by exporter.c and
 * stays valid until exporter_transport_done() is called for the request. */
struct exporter_request {
    const uint8_t *body;       /* ExportTraceServiceRequest, compressed when encoding != "" */
    size_t len;
    const char *encoding;      /* "", "gzip" or "zstd": grpc-encoding / Content-Encoding */
    void *owner;               /* exporter.c's own pointer; the transport does not touch it */
};

enum exporter_outcome {
    EXPORTER_OK,           /* accepted; partial success carries rejected > 0 */
    EXPORTER_RETRY,        /* retryable: UNAVAILABLE..., 429/502/503/504, connection lost, timeout */
    EXPORTER_FAIL,         /* not retryable: dropped and counted */
    EXPORTER_TOO_LARGE,    /* the request is over the backend's size ceiling: HTTP 413, or
                              gRPC RESOURCE_EXHAUSTED / INVALID_ARGUMENT saying the message
                              is larger than the maximum; sent again in smaller pieces */
};

struct exporter_result {
    enum exporter_outcome outcome;
    int64_t rejected;          /* partial_success.rejected_spans (OK only) */
    uint64_t retry_after_ms;   /* RetryInfo.retry_delay / Retry-After; 0 when absent */
    int connected;             /* 1 when the backend answered at all (exporter_up) */
    int timed_out;             /* 1 when no answer came within the deadline (a black hole) */
    char message[256];         /* for logs and /health: status, grpc-message, partial_success
                                  error_message, or the connection error; never headers */
};

struct exporter_transport;

struct exporter_transport_ops {
    const char *name;          /* "grpc" or "http/protobuf" */
    /* NULL with err set when the target cannot work (bad URL, unreadable CA). */
    struct exporter_transport *(*create)(uv_loop_t *loop, const struct export_target *target,
                                         struct exporter *e, char *err, size_t errlen);
    /* Requests that may be in flight at once. */
    int (*capacity)(const struct exporter_transport *t);
    /* Starts req. Returns 0; the answer comes later via exporter_transport_done(). */
    int (*send)(struct exporter_transport *t, struct exporter_request *req);
    /* Cancels what is in flight, answering each request with EXPORTER_RETRY "shutdown"
     * before it returns (exporter.c is freed right after), closes connections, and
     * frees itself once its handles are closed. It never calls back after returning. */
    void (*destroy)(struct exporter_transport *t);
};

extern const struct exporter_transport_ops exporter_grpc_ops;
extern const struct exporter_transport_ops exporter_http_ops;

/* Called by the transport, once per request. */
void exporter_transport_done(struct exporter *e, struct exporter_request *req,
                             const struct exporter_result *res);

/* How many milliseconds from now the transport waits before its next connection
 * attempt (0: connect now). Grows with consecutive failed attempts (exponential
 * backoff, full jitter, capped at exporter.retry.maxInterval) so a dead backend is not
 * hammered, and returns to 0 once a connection succeeds (exporter_transport_state with
 * connected=1). Call it once per attempt: each call counts as one. */
uint64_t exporter_reconnect_delay_ms(struct exporter *e);

/* Tells exporter.c the connection state changed (for /health's exporter.state). */
void exporter_transport_state(struct exporter *e, int connected, const char *error);

#endif
