/* receiver_conn.h — what the receiver's listener shares with the protocol handlers it
 * hands connections to (receiver_http, receiver_grpc). Internal to the receiver. */
#ifndef SPANRELAY_RECEIVER_CONN_H
#define SPANRELAY_RECEIVER_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/config.h"
#include "receive/http1.h"
#include "pipeline/pipeline.h"

/* Fills settings for OTLP/HTTP connections (POST /v1/traces). closed(ctx) is called as
 * each connection ends. */
void receiver_http_settings(struct http1_settings *s, const struct config *cfg,
                            struct pipeline *pipeline, http1_closed_cb closed, void *ctx);

/* Settings of OTLP/gRPC connections. */
struct receiver_grpc_settings {
    const struct config *cfg;
    struct pipeline *pipeline;
    void (*closed)(void *ctx);
    void *ctx;
};

/* Takes ownership of an accepted stream that starts with initial[0..len) and serves
 * OTLP/gRPC on it (h2c, prior knowledge). 0, or -1 when out of memory (stream closed). */
int receiver_grpc_start(uv_stream_t *stream, const uint8_t *initial, size_t len,
                        const struct receiver_grpc_settings *s);

/* Closes every gRPC connection started with s (GOAWAY first). */
void receiver_grpc_close_all(const struct receiver_grpc_settings *s);

#endif
