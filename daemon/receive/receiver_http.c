/* receiver_http.c — OTLP/HTTP: POST /v1/traces with a protobuf or JSON body.
 *
 * Answers as the OTLP specification says: 200 with an ExportTraceServiceResponse in
 * the request's own content type (partial_success when spans were refused); 400 with
 * a google.rpc.Status for a malformed body; 413 when the body, before or after
 * decompression, is over receiver.maxRequestBytes; 415 for a content type or encoding
 * we do not speak; 404 for another path; 405 for another method. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compress.h"
#include "base/log.h"
#include "receive/otlp_json.h"
#include "receive/otlp_response.h"
#include "receive/receiver_protocols.h"
#include "base/stats.h"

#define LOGGER "spanrelay.receiver.http"

enum body_format { FORMAT_PROTOBUF, FORMAT_JSON };

struct http_receiver {
    const struct config *cfg;
    struct pipeline *pipeline;
};

/* One per process: the settings hold a pointer to it and there is one receiver. */
static struct http_receiver receiver_state;

static void respond_status(struct http1_conn *conn, enum body_format fmt, int http_status,
                           int grpc_code, const char *message)
{
    stats_count_request(STATS_TRANSPORT_HTTP, http_status);
    if (fmt == FORMAT_JSON) {
        char *body = NULL;
        size_t len = 0;
        if (otlp_json_status(grpc_code, message, &body, &len) == 0) {
            http1_respond(conn, http_status, "application/json", body, len, NULL);
            free(body);
            return;
        }
        http1_respond(conn, 500, "text/plain", "out of memory\n", 14, NULL);
        return;
    }
    uint8_t buf[OTLP_RESPONSE_MAX];
    size_t len = otlp_response_status(buf, sizeof(buf), grpc_code, message);
    http1_respond(conn, http_status, "application/x-protobuf", buf, len, NULL);
}

static void respond_export(struct http1_conn *conn, enum body_format fmt,
                           const struct pipeline_result *res)
{
    stats_count_request(STATS_TRANSPORT_HTTP, 200);
    if (fmt == FORMAT_JSON) {
        char *body = NULL;
        size_t len = 0;
        if (otlp_json_response((int64_t)res->rejected_spans, res->message, &body, &len) == 0) {
            http1_respond(conn, 200, "application/json", body, len, NULL);
            free(body);
            return;
        }
        http1_respond(conn, 500, "text/plain", "out of memory\n", 14, NULL);
        return;
    }
    uint8_t buf[OTLP_RESPONSE_MAX];
    size_t len = otlp_response_export(buf, sizeof(buf), (int64_t)res->rejected_spans,
                                      res->message);
    http1_respond(conn, 200, "application/x-protobuf", buf, len, NULL);
}

/* Undoes Content-Encoding within the size bound. 0, or the HTTP status to answer. */
static int decode_body(const struct http1_request *req, size_t max, uint8_t **out,
                       size_t *out_len, const char **why)
{
    const char *enc = req->content_encoding;
    *out = NULL;
    if (enc[0] == '\0' || strcmp(enc, "identity") == 0)
        return 0;
    int rc;
    if (strcmp(enc, "gzip") == 0)
        rc = compress_gunzip(req->body, req->body_len, max, out, out_len);
    else if (strcmp(enc, "zstd") == 0)
        rc = compress_unzstd(req->body, req->body_len, max, out, out_len);
    else {
        *why = "unsupported Content-Encoding (supported: gzip, zstd, identity)";
        return 415;
    }
    if (rc == COMPRESS_ERR_TOO_LARGE) {
        *why = "decompressed body over receiver.maxRequestBytes";
        return 413;
    }
    if (rc != 0) {
        *why = "body does not decompress";
        return 400;
    }
    return 0;
}

static void handle_traces(struct http_receiver *hr, struct http1_conn *conn,
                          const struct http1_request *req)
{
    enum body_format fmt;
    if (strcmp(req->content_type, "application/x-protobuf") == 0 ||
        strcmp(req->content_type, "application/protobuf") == 0) {
        fmt = FORMAT_PROTOBUF;
    } else if (strcmp(req->content_type, "application/json") == 0) {
        fmt = FORMAT_JSON;
    } else {
        respond_status(conn, FORMAT_PROTOBUF, 415, GRPC_INVALID_ARGUMENT,
                       "unsupported Content-Type (supported: application/x-protobuf, application/json)");
        return;
    }

    uint8_t *decoded = NULL;
    size_t decoded_len = 0;
    const char *why = NULL;
    int status = decode_body(req, hr->cfg->receiver_max_request_bytes, &decoded, &decoded_len, &why);
    if (status != 0) {
        respond_status(conn, fmt, status,
                       status == 413 ? GRPC_RESOURCE_EXHAUSTED : GRPC_INVALID_ARGUMENT, why);
        return;
    }
    const uint8_t *body = decoded ? decoded : req->body;
    size_t body_len = decoded ? decoded_len : req->body_len;

    uint8_t *proto = NULL;
    size_t proto_len = 0;
    if (fmt == FORMAT_JSON) {
        char err[256];
        if (otlp_json_to_proto((const char *)body, body_len, &proto, &proto_len, err,
                               sizeof(err)) < 0) {
            free(decoded);
            respond_status(conn, fmt, 400, GRPC_INVALID_ARGUMENT, err);
            return;
        }
        body = proto;
        body_len = proto_len;
    }

    struct pipeline_result res;
    pipeline_submit(hr->pipeline, STATS_TRANSPORT_HTTP, body, body_len, &res);
    free(proto);
    free(decoded);
    if (res.malformed)
        respond_status(conn, fmt, 400, GRPC_INVALID_ARGUMENT, res.message);
    else
        respond_export(conn, fmt, &res);
}

static void http_handle(void *ctx, struct http1_conn *conn, const struct http1_request *req)
{
    struct http_receiver *hr = ctx;
    if (strcmp(req->path, "/v1/traces") != 0) {
        respond_status(conn, FORMAT_PROTOBUF, 404, GRPC_NOT_FOUND,
                       "unknown path (OTLP traces are POSTed to /v1/traces)");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        stats_count_request(STATS_TRANSPORT_HTTP, 405);
        http1_respond(conn, 405, "text/plain", "method not allowed\n", 19, "Allow: POST\r\n");
        return;
    }
    handle_traces(hr, conn, req);
}

/* Errors the connection answers itself (413 on Content-Length, 431, 400, 408) are
 * counted with the others and carry a google.rpc.Status like every OTLP error. */
static size_t http_error_body(int status, const char *message, char *buf, size_t buflen,
                              const char **content_type)
{
    stats_count_request(STATS_TRANSPORT_HTTP, status);
    *content_type = "application/x-protobuf";
    return otlp_response_status((uint8_t *)buf, buflen,
                                status == 413 ? GRPC_RESOURCE_EXHAUSTED : GRPC_INVALID_ARGUMENT,
                                message);
}

void receiver_http_settings(struct http1_settings *s, const struct config *cfg,
                            struct pipeline *pipeline)
{
    receiver_state.cfg = cfg;
    receiver_state.pipeline = pipeline;
    *s = (struct http1_settings){
        .max_header_bytes = 16384,
        .max_body_bytes = cfg->receiver_max_request_bytes,
        .body_too_large_status = 413,
        .request_timeout_ms = cfg->receiver_request_timeout_ms,
        .idle_timeout_ms = cfg->receiver_idle_timeout_ms,
        .max_pending_write_bytes = 256 * 1024,
        .handler = http_handle,
        .ctx = &receiver_state,
        .error_body = http_error_body,
        .logger = LOGGER,
    };
}
