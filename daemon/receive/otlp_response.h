/* otlp_response.h — the small messages a receiver answers with, encoded with
 * protobuf-c: ExportTraceServiceResponse (with partial_success) and google.rpc.Status. */
#ifndef SPANRELAY_OTLP_RESPONSE_H
#define SPANRELAY_OTLP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

/* Writes an ExportTraceServiceResponse into buf (partial_success present only when
 * rejected_spans > 0 or message is non-empty). Returns its length; 0 is the empty
 * message. Messages longer than fit are cut. */
size_t otlp_response_export(uint8_t *buf, size_t buflen, int64_t rejected_spans,
                            const char *message);

/* Writes a google.rpc.Status {code, message}. Returns its length. */
size_t otlp_response_status(uint8_t *buf, size_t buflen, int code, const char *message);

/* Writes a google.rpc.Status {code, message, details: [RetryInfo {retry_delay}]}: what a
 * gRPC server sends in grpc-status-details-bin to tell the client when to retry.
 * Returns its length. */
size_t otlp_response_status_retry(uint8_t *buf, size_t buflen, int code, const char *message,
                                  uint64_t retry_delay_ms);

/* Buffer size that always holds either message with a 256-byte text. */
#define OTLP_RESPONSE_MAX 512

/* gRPC status codes (google.rpc.Code). */
enum {
    GRPC_OK = 0, GRPC_CANCELLED = 1, GRPC_UNKNOWN = 2, GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4, GRPC_NOT_FOUND = 5, GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_ABORTED = 10, GRPC_OUT_OF_RANGE = 11, GRPC_UNIMPLEMENTED = 12, GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14, GRPC_DATA_LOSS = 15
};

#endif
