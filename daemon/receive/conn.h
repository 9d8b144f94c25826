/* conn.h — one server connection on a libuv stream, whatever protocol it speaks: what
 * the HTTP/1.1 server (http1), the OTLP/gRPC server (receiver_grpc) and the receiver's
 * first-bytes sniffing share.
 *
 * From conn_accept() on, a connection owns its stream and one timer and frees both
 * itself, with its protocol's state (ops->free), then tells its group, which counts
 * the connections open. A protocol is attached with conn_serve(); a connection may be
 * handed from one protocol to the next (the sniffer hands it to HTTP/1.1 or gRPC).
 *
 * Reading: bytes go to ops->read through one shared buffer (the loop is single-threaded
 * and the protocols consume every byte before returning). Read back-pressure: the
 * connection stops reading while more than max_pending_write bytes of answers wait for
 * a client that does not read them, while the protocol pauses it, and once it is
 * ending.
 *
 * Writing: conn_append() copies bytes into the write being assembled, conn_flush()
 * sends it. With no earlier write still queued the socket is offered it at once
 * (uv_try_write): an answer the socket takes whole is done when conn_flush() returns,
 * with no write request, no completion callback and no change to the epoll set (which
 * uv_write costs per answer, an epoll_ctl each). What the socket does not take is
 * queued with one uv_write, and ops->written runs after each such queued write
 * completes. The buffer of an answer written at once serves the next answer.
 *
 * Ending: conn_close() closes now. conn_close_after_write() closes once every queued
 * write has completed, within deadline_ms; with linger, our side is shut down first
 * and what the client still sends is read and discarded (for at most
 * CONN_LINGER_MS and CONN_LINGER_MAX_BYTES), so that a client still sending is not
 * reset before it has read our answer. conn_group_stop() asks every connection of a
 * group to end as its protocol says (ops->stop). */
#ifndef SPANRELAY_CONN_H
#define SPANRELAY_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define CONN_LINGER_MS 2000
#define CONN_LINGER_MAX_BYTES (8u << 20)

struct conn;

struct conn_ops {
    /* Bytes the client sent. Not called once the connection is ending. */
    void (*read)(struct conn *c, const uint8_t *data, size_t len);
    /* A queued write completed and the connection is open: the protocol may write more
     * or go on parsing. Not called for a write conn_flush() completed at once. Optional. */
    void (*written)(struct conn *c);
    /* The timer set with conn_timer() expired. */
    void (*timeout)(struct conn *c);
    /* The server stops (conn_group_stop): end the connection as the protocol says. */
    void (*stop)(struct conn *c);
    /* The connection is gone: free the protocol's state. Called once. */
    void (*free)(struct conn *c);
};

/* The connections of one server. Zero-initialise; set max, closed and ctx. */
struct conn_group {
    unsigned count;              /* connections accepted and not yet freed */
    unsigned max;                /* conn_accept refuses past it; 0: no limit */
    void (*closed)(void *ctx);   /* after each connection is freed (it may free the group) */
    void *ctx;
    struct conn *head;           /* private to conn.c */
};

enum conn_accept_result { CONN_ACCEPTED, CONN_FULL, CONN_FAILED };

/* Accepts a client on a listening UNIX or TCP socket into g. CONN_FULL when g already
 * holds g->max connections, CONN_FAILED when accepting fails: the client, if any, is
 * closed. The connection reads nothing until a protocol is attached. */
enum conn_accept_result conn_accept(uv_stream_t *server, struct conn_group *g,
                                    struct conn **out);

/* Makes a connection of a connected UNIX socket (in-process fuzzing and tests); NULL
 * on failure, the socket then still the caller's. */
struct conn *conn_adopt(uv_loop_t *loop, uv_os_sock_t fd, struct conn_group *g);

/* Attaches a protocol (replacing the current one, which must have freed its state),
 * and starts reading. */
void conn_serve(struct conn *c, const struct conn_ops *ops, void *proto,
                size_t max_pending_write);

/* Hands bytes to the protocol as if they had been read (a handover's first bytes,
 * in-process fuzzing). */
void conn_feed(struct conn *c, const uint8_t *data, size_t len);

void *conn_proto(const struct conn *c);
uv_loop_t *conn_loop(const struct conn *c);

/* Room for len more bytes at the end of the write being assembled; NULL when out of
 * memory (the connection is then closed). */
uint8_t *conn_append(struct conn *c, size_t len);
/* Writes what was appended, at once or queued as one write (see Writing above). -1 when
 * the connection is closed. */
int conn_flush(struct conn *c);
/* conn_append() and conn_flush() of head and body in one write. */
int conn_write(struct conn *c, const void *head, size_t head_len, const void *body,
               size_t body_len);
/* Bytes written but not yet taken by the client, plus those being assembled. */
size_t conn_pending_write(const struct conn *c);

/* Stops (1) or resumes (0) reading for the protocol's own reasons. */
void conn_pause_reading(struct conn *c, int paused);

/* ops->timeout after ms (replacing the previous timer); ignored once ending. */
void conn_timer(struct conn *c, uint64_t ms);
void conn_timer_stop(struct conn *c);

void conn_close(struct conn *c);
void conn_close_after_write(struct conn *c, int linger, uint64_t deadline_ms);

/* 1 while answers may still be written (not closed, not lingering). */
int conn_is_open(const struct conn *c);
/* 1 once closing was asked for in any way. */
int conn_is_ending(const struct conn *c);

void conn_group_stop(struct conn_group *g);

#endif
