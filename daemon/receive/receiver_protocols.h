/* receiver_protocols.h — what the receiver's listener shares with the protocol handlers it
 * hands connections to (receiver_http, receiver_grpc). Internal to the receiver. */
#ifndef SPANRELAY_RECEIVER_PROTOCOLS_H
#define SPANRELAY_RECEIVER_PROTOCOLS_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "receive/conn.h"
#include "receive/http1.h"
#include "pipeline/pipeline.h"

/* Fills settings for OTLP/HTTP connections (POST /v1/traces). */
void receiver_http_settings(struct http1_settings *s, const struct config *cfg,
                            struct pipeline *pipeline);

/* Settings of OTLP/gRPC connections. */
struct receiver_grpc_settings {
    const struct config *cfg;
    struct pipeline *pipeline;
};

/* Serves OTLP/gRPC (h2c, prior knowledge) on conn from now on (bytes already read:
 * conn_feed). When the server stops, each connection says GOAWAY and ends. 0, or -1
 * when out of memory (the connection is then closed). */
int receiver_grpc_start(struct conn *conn, const struct receiver_grpc_settings *s);

#endif
