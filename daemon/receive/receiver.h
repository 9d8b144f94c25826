/* receiver.h — the OTLP listeners: the UNIX socket and the optional loopback TCP ports.
 *
 * One socket serves both protocols: the first bytes of a connection tell the HTTP/2
 * preface (OTLP/gRPC, receiver_grpc) from an HTTP/1.1 request (OTLP/HTTP,
 * receiver_http). Every valid request goes to pipeline_submit(). */
#ifndef SPANRELAY_RECEIVER_H
#define SPANRELAY_RECEIVER_H

#include <stddef.h>
#include <uv.h>

#include "base/config.h"
#include "pipeline/pipeline.h"

struct receiver;

/* Opens every configured listener. NULL with a message in err when one cannot be
 * opened (a live socket another process listens on, a port in use, a bad path). */
struct receiver *receiver_start(uv_loop_t *loop, const struct config *cfg,
                                struct pipeline *pipeline, char *err, size_t errlen);

/* Stops accepting, closes every connection, removes the socket file; frees itself once
 * libuv has closed its handles. */
void receiver_stop(struct receiver *r);

#endif
