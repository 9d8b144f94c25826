/* conn_driver.h — runs one server connection (receive/conn.h) in process for the
 * receiver fuzz targets, with the real pipeline behind it (exporter disabled).
 *
 * The connection is one end of a socketpair (its answers are real writes); the
 * driver is the client on the other end. The input's first byte steers the client
 * (into how many chunks the rest is cut, whether the client reads the answers,
 * whether the server stops before the client leaves); the rest is what the client
 * sends, chunk by chunk, each handed over as one read (conn_feed) with a turn of the
 * loop after it. Then the client leaves, and the connection must close and free
 * everything without any timer firing: one still open aborts. */
#ifndef SPANRELAY_CONN_DRIVER_H
#define SPANRELAY_CONN_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "pipeline/pipeline.h"
#include "receive/conn.h"

/* The configuration (defaults, exporter off, logging quiet) and pipeline every input
 * shares, made on first use. */
const struct config *driver_config(void);
struct pipeline *driver_pipeline(void);

/* Starts a protocol on a fresh connection. */
typedef void (*driver_start_fn)(struct conn *c);

/* Runs one input: preface (sent first, as one chunk; may be NULL), then data as above. */
void driver_run(driver_start_fn start, const uint8_t *preface, size_t preface_len,
                const uint8_t *data, size_t size);

#endif
