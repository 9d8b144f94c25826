/* http1.h — HTTP/1.1 on a server connection (conn.h), parsed by http-parser.
 *
 * Used by the health/metrics server and the OTLP/HTTP receiver. From
 * http1_conn_start() on, the protocol parses what the connection reads (keep-alive,
 * pipelining, Content-Length and chunked bodies, Expect: 100-continue), bounds every
 * buffer and enforces the timeouts. For each complete request it calls the handler
 * once; the handler answers before returning with http1_respond(). Errors in the
 * request (malformed, header too large, body too large, too slow) are answered by the
 * protocol itself, and the connection then closes. When the server stops
 * (conn_group_stop), answers already queued still go out, then the connection closes. */
#ifndef SPANRELAY_HTTP1_H
#define SPANRELAY_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include "receive/conn.h"

struct http1_conn;

struct http1_request {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* without the query string */
    const char *content_type;  /* media type only, lower case, "" when absent */
    const char *content_encoding; /* lower case, "" when absent */
    const uint8_t *body;
    size_t body_len;
};

/* Called for every complete request; must call http1_respond() before returning. */
typedef void (*http1_handler)(void *ctx, struct http1_conn *conn, const struct http1_request *req);

struct http1_settings {
    size_t max_header_bytes;   /* request line + headers */
    size_t max_body_bytes;     /* over it: body_too_large_status, then close */
    int body_too_large_status; /* 413 for the receiver, 400 for the health server */
    uint64_t request_timeout_ms; /* first byte to complete request */
    uint64_t idle_timeout_ms;  /* between requests on a kept-alive connection */
    size_t max_pending_write_bytes; /* stop reading while the client does not read */
    http1_handler handler;
    void *ctx;                 /* handler's argument */
    /* Optional: called once for each error the connection answers itself; writes the
     * body into buf and returns its length, sets its content type. NULL: text/plain. */
    size_t (*error_body)(int status, const char *message, char *buf, size_t buflen,
                         const char **content_type);
    const char *logger;        /* logger name for the connection's log lines */
};

/* Serves HTTP/1.1 on conn from now on (bytes already read: conn_feed). 0, or -1 when
 * out of memory (the connection is then closed). */
int http1_conn_start(struct conn *conn, const struct http1_settings *settings);

/* Answers the current request. extra_headers: NULL or "Name: value\r\n" lines. The
 * answer to a HEAD request carries the headers, with body_len as its length, and no
 * body. */
void http1_respond(struct http1_conn *conn, int status, const char *content_type,
                   const void *body, size_t body_len, const char *extra_headers);

/* Asks the connection to close once the current response is written. */
void http1_close_after_response(struct http1_conn *conn);

const char *http1_reason(int status);

#endif
