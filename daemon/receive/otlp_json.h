/* otlp_json.h — the OTLP/HTTP JSON encoding: requests in, responses and errors out.
 *
 * A JSON ExportTraceServiceRequest (the OTLP specification's "JSON Protobuf Encoding")
 * is turned into its protobuf encoding, so that everything after the receiver sees one
 * format. Answers to JSON clients are written here too. JSON is not the hot path: the
 * request is built as protobuf-c structs and packed. */
#ifndef SPANRELAY_OTLP_JSON_H
#define SPANRELAY_OTLP_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Deepest JSON nesting accepted (objects and arrays), and deepest AnyValue nesting
 * (an attribute's value is at depth 1, a value inside its arrayValue at depth 2). */
#define OTLP_JSON_MAX_DEPTH 128
#define OTLP_JSON_MAX_VALUE_DEPTH 32

/* Converts the JSON ExportTraceServiceRequest json[0..len) to protobuf.
 *
 * The text must be strict JSON (RFC 8259: UTF-8, no comments or trailing commas) nested
 * at most OTLP_JSON_MAX_DEPTH deep. Fields are taken as the OTLP and ProtoJSON rules say:
 * lowerCamelCase names and the proto's snake_case names (one field given both ways is an
 * error); traceId, spanId and parentSpanId as hex in any case ("" is empty); integers as
 * JSON numbers or strings holding one, taken exactly as written ("1e3" is 1000, "1.5" is
 * refused); enums (kind, status.code) as integers or names ("SPAN_KIND_SERVER");
 * bytesValue as base64 (standard or URL alphabet, padding optional); doubleValue as a
 * number, a numeric string, "NaN", "Infinity" or "-Infinity"; an AnyValue with two of its
 * values set is an error. Unknown fields are ignored and null is the same as absent.
 * Id lengths are not checked: hex becomes however many bytes it spells, for the wire
 * walk to judge.
 *
 * Returns 0 on success: *out is a malloc'd buffer of *out_len bytes the caller frees
 * (never NULL; *out_len is 0 for a request with nothing in it, such as {}).
 * Returns -1 when the JSON is invalid or does not have the shape of a request: *out is
 * NULL and err holds a message. Invalid JSON names the byte offset ("invalid JSON at
 * offset 12: unexpected character"); a wrong value names its path, with camelCase
 * names whatever spelling the client used
 * ("resourceSpans[0].scopeSpans[1].spans[3].traceId: invalid hex string"). */
int otlp_json_to_proto(const char *json, size_t len, uint8_t **out, size_t *out_len,
                       char *err, size_t errlen);

/* Writes the JSON ExportTraceServiceResponse: {} when rejected_spans is 0 and
 * error_message is NULL or empty, otherwise
 * {"partialSuccess":{"rejectedSpans":"3","errorMessage":"..."}} with each field left out
 * when it has its default value (0, empty), as ProtoJSON does.
 * Returns 0 with *out a malloc'd NUL-terminated string of *out_len bytes (not counting
 * the NUL) the caller frees, or -1 when out of memory. */
int otlp_json_response(int64_t rejected_spans, const char *error_message,
                       char **out, size_t *out_len);

/* Writes the JSON google.rpc.Status {"code":3,"message":"..."}: code is always
 * written, message left out when NULL or empty. Returns as otlp_json_response. */
int otlp_json_status(int code, const char *message, char **out, size_t *out_len);

#endif
