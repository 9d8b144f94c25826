/* receiver_grpc.c — OTLP/gRPC over h2c (prior knowledge), one nghttp2 server session
 * per server connection (conn.h), as in nghttp2's libevent server example: bytes read
 * go to nghttp2_session_mem_recv, frames nghttp2 wants to send are collected with
 * nghttp2_session_mem_send into one write.
 *
 * Each stream carries one unary Export call: a length-prefixed message, identity,
 * gzip or zstd, answered as soon as END_STREAM arrives. Request bytes are bounded per stream
 * (receiver.maxRequestBytes, before and after decompression) and across all
 * connections (RECEIVER_GRPC_BUFFER_BUDGET), so memory stays bounded whatever clients
 * send. A request past a bound is answered as soon as that is known (a message's
 * 5-byte prefix may already tell), and the rest of its stream is discarded. Streams
 * beyond MAX_CONCURRENT_STREAMS are refused one by one (REFUSED_STREAM); other
 * protocol errors end the connection with GOAWAY. */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/compress.h"
#include "base/log.h"
#include "receive/otlp_response.h"
#include "receive/receiver_protocols.h"
#include "base/stats.h"

#define LOGGER "spanrelay.receiver.grpc"
#define EXPORT_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define MAX_CONCURRENT_STREAMS 100
#define STREAM_WINDOW (1 << 20)
#define CONNECTION_WINDOW (16 << 20)
#define MAX_PENDING_WRITE (1 << 20)
/* Request bytes held by all gRPC streams at once; past it new data is refused with
 * RESOURCE_EXHAUSTED rather than grow memory. */
#define RECEIVER_GRPC_BUFFER_BUDGET ((size_t)128 << 20)

struct grpc_stream;

struct grpc_conn {
    struct conn *conn;
    struct grpc_stream *streams;  /* open streams: nghttp2_session_del does not report them */
    nghttp2_session *session;
    const struct receiver_grpc_settings *s;
    int open_streams;
    uint64_t idle_since_ms;       /* loop time the last stream closed (or the connection opened) */
};

struct grpc_stream {
    int32_t id;
    struct grpc_stream *prev, *next;
    int method_post;
    int path_ok;
    int content_type_ok;
    int gzip;
    int zstd;
    int unsupported_encoding;
    int reset;                 /* reset by us for taking too long */
    uint64_t started_ms;       /* loop time of the request's headers */
    int answered;
    uint8_t *buf;
    size_t len, cap;
    /* the response message, served by the data provider */
    uint8_t resp[5 + OTLP_RESPONSE_MAX];
    size_t resp_len, resp_off;
};

static size_t buffered_bytes;

static void conn_send(struct grpc_conn *c);
static void conn_arm_timer(struct grpc_conn *c);

static void stream_release(struct grpc_stream *st)
{
    buffered_bytes -= st->cap;
    free(st->buf);
    st->buf = NULL;
    st->len = st->cap = 0;
}

/* grpc-message is percent-encoded: everything outside printable ASCII, and '%'. */
static void percent_encode(char *dst, size_t dstlen, const char *src)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 4 < dstlen; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '%') {
            dst[o++] = (char)*p;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
        }
    }
    dst[o] = '\0';
}

#define NV(name, value) \
    { (uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, strlen(value), \
      NGHTTP2_NV_FLAG_NO_COPY_NAME }

/* A trailers-only response: the status rides on the response headers. With
 * retry_delay_ms, a google.rpc.RetryInfo tells the client when to try again. */
static void answer_status(struct grpc_conn *c, struct grpc_stream *st, int code, const char *msg,
                          uint64_t retry_delay_ms)
{
    char code_str[8], encoded[512], details[2 * OTLP_RESPONSE_MAX];
    uint8_t status[OTLP_RESPONSE_MAX];
    snprintf(code_str, sizeof(code_str), "%d", code);
    percent_encode(encoded, sizeof(encoded), msg);
    nghttp2_nv hdrs[] = {
        NV(":status", "200"),
        NV("content-type", "application/grpc"),
        NV("grpc-status", code_str),
        NV("grpc-message", encoded),
        NV("grpc-status-details-bin", ""),
    };
    size_t nhdrs = 4;
    if (retry_delay_ms) {
        size_t len = otlp_response_status_retry(status, sizeof(status), code, msg, retry_delay_ms);
        codec_base64_encode(details, sizeof(details), status, len);
        hdrs[4].value = (uint8_t *)details;
        hdrs[4].valuelen = strlen(details);
        nhdrs = len ? 5 : 4;
    }
    st->answered = 1;
    stats_count_request(STATS_TRANSPORT_GRPC, code);
    nghttp2_submit_response(c->session, st->id, hdrs, nhdrs, NULL);
}

static void answer_error(struct grpc_conn *c, struct grpc_stream *st, int code, const char *msg)
{
    answer_status(c, st, code, msg, 0);
}

static ssize_t response_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                             size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                             void *user_data)
{
    struct grpc_stream *st = source->ptr;
    (void)user_data;
    size_t n = st->resp_len - st->resp_off;
    if (n > length)
        n = length;
    memcpy(buf, st->resp + st->resp_off, n);
    st->resp_off += n;
    if (st->resp_off == st->resp_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv trailers[] = { NV("grpc-status", "0") };
        if (nghttp2_submit_trailer(session, stream_id, trailers, 1) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

static void answer_ok(struct grpc_conn *c, struct grpc_stream *st,
                      const struct pipeline_result *res)
{
    size_t len = otlp_response_export(st->resp + 5, sizeof(st->resp) - 5,
                                      (int64_t)res->rejected_spans, res->message);
    st->resp[0] = 0;
    st->resp[1] = (uint8_t)(len >> 24);
    st->resp[2] = (uint8_t)(len >> 16);
    st->resp[3] = (uint8_t)(len >> 8);
    st->resp[4] = (uint8_t)len;
    st->resp_len = len + 5;
    st->resp_off = 0;
    st->answered = 1;
    stats_count_request(STATS_TRANSPORT_GRPC, GRPC_OK);
    nghttp2_nv hdrs[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
    nghttp2_data_provider prd = { .source.ptr = st, .read_callback = response_read };
    nghttp2_submit_response(c->session, st->id, hdrs, 2, &prd);
}

/* Answers a request whose headers we cannot serve; 0 when they are fine. */
static int answer_bad_headers(struct grpc_conn *c, struct grpc_stream *st)
{
    if (!st->method_post || !st->path_ok) {
        answer_error(c, st, GRPC_UNIMPLEMENTED,
                     "unknown method; spanrelay serves " EXPORT_PATH);
        return -1;
    }
    if (!st->content_type_ok) {
        answer_error(c, st, GRPC_INVALID_ARGUMENT, "content-type must be application/grpc");
        return -1;
    }
    if (st->unsupported_encoding) {
        answer_error(c, st, GRPC_UNIMPLEMENTED, "grpc-encoding not supported (gzip, zstd, identity)");
        return -1;
    }
    return 0;
}

/* Answers a request before the client has sent all of it; on_frame_send then asks the
 * client to stop sending, and what it still sends is discarded. */
static void answer_early(struct grpc_conn *c, struct grpc_stream *st, int code, const char *msg,
                         uint64_t retry_delay_ms)
{
    stream_release(st);
    if (answer_bad_headers(c, st) == 0)
        answer_status(c, st, code, msg, retry_delay_ms);
}

static void refuse_too_large(struct grpc_conn *c, struct grpc_stream *st)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "request larger than receiver.maxRequestBytes (%zu bytes)",
             c->s->cfg->receiver_max_request_bytes);
    answer_early(c, st, GRPC_RESOURCE_EXHAUSTED, msg, 0);
}

/* The length a gRPC message's 5-byte prefix declares. */
static uint32_t message_length(const uint8_t *prefix)
{
    return (uint32_t)prefix[1] << 24 | (uint32_t)prefix[2] << 16 | (uint32_t)prefix[3] << 8 |
           prefix[4];
}

/* The whole request has arrived: unframe, decompress, submit, answer. */
static void stream_complete(struct grpc_conn *c, struct grpc_stream *st)
{
    const struct config *cfg = c->s->cfg;
    if (answer_bad_headers(c, st) < 0)
        return;
    if (st->len < 5) {
        answer_error(c, st, GRPC_INVALID_ARGUMENT, "missing gRPC message");
        return;
    }
    uint32_t mlen = message_length(st->buf);
    if ((size_t)mlen != st->len - 5) {
        answer_error(c, st, GRPC_INVALID_ARGUMENT,
                     "gRPC message length does not match the body (one message per Export)");
        return;
    }
    const uint8_t *msg = st->buf + 5;
    size_t msg_len = mlen;
    uint8_t *inflated = NULL;
    if (st->buf[0] == 1) {
        if (!st->gzip && !st->zstd) {
            answer_error(c, st, GRPC_INTERNAL, "compressed message without grpc-encoding");
            return;
        }
        int rc = st->gzip ? compress_gunzip(msg, msg_len, cfg->receiver_max_request_bytes,
                                            &inflated, &msg_len)
                          : compress_unzstd(msg, msg_len, cfg->receiver_max_request_bytes,
                                            &inflated, &msg_len);
        if (rc == COMPRESS_ERR_TOO_LARGE) {
            answer_error(c, st, GRPC_RESOURCE_EXHAUSTED,
                         "decompressed request larger than receiver.maxRequestBytes");
            return;
        }
        if (rc != 0) {
            answer_error(c, st, GRPC_INVALID_ARGUMENT,
                         st->gzip ? "message does not decompress (gzip)"
                                  : "message does not decompress (zstd)");
            return;
        }
        msg = inflated;
    } else if (st->buf[0] != 0) {
        answer_error(c, st, GRPC_INVALID_ARGUMENT, "bad gRPC message flag");
        return;
    }
    struct pipeline_result res;
    pipeline_submit(c->s->pipeline, STATS_TRANSPORT_GRPC, msg, msg_len, &res);
    free(inflated);
    stream_release(st);
    if (res.malformed)
        answer_error(c, st, GRPC_INVALID_ARGUMENT, res.message);
    else
        answer_ok(c, st, &res);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct grpc_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (c->open_streams >= MAX_CONCURRENT_STREAMS) {
        /* nghttp2 is told no limit (see send_initial_settings): the advertised one is
         * enforced here, stream by stream, so that the streams within it go on. */
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct grpc_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->id = frame->hd.stream_id;
    st->started_ms = uv_now(conn_loop(c->conn));
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    c->open_streams++;
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, st);
    if (c->open_streams == 1)
        conn_arm_timer(c);
    return 0;
}

static int header_is(const uint8_t *v, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(v, s, len) == 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct grpc_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!st)
        return 0;
    if (header_is(name, namelen, ":method")) {
        st->method_post = header_is(value, valuelen, "POST");
    } else if (header_is(name, namelen, ":path")) {
        st->path_ok = header_is(value, valuelen, EXPORT_PATH);
    } else if (header_is(name, namelen, "content-type")) {
        /* application/grpc, application/grpc+proto, application/grpc;charset=... */
        st->content_type_ok = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                              (valuelen == 16 || value[16] == '+' || value[16] == ';');
    } else if (header_is(name, namelen, "grpc-encoding")) {
        st->gzip = header_is(value, valuelen, "gzip");
        st->zstd = header_is(value, valuelen, "zstd");
        st->unsupported_encoding = !st->gzip && !st->zstd &&
                                   !header_is(value, valuelen, "identity");
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    struct grpc_conn *c = user_data;
    (void)flags;
    struct grpc_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st || st->answered)
        return 0;
    size_t max = c->s->cfg->receiver_max_request_bytes;
    size_t limit = max + 5;
    if (len > limit - st->len) {
        refuse_too_large(c, st);
        return 0;
    }
    if (st->len + len > st->cap) {
        size_t cap = st->cap ? st->cap : 16384;
        while (cap < st->len + len)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        if (buffered_bytes + (cap - st->cap) > RECEIVER_GRPC_BUFFER_BUDGET) {
            /* Not the client's fault and soon over: RetryInfo makes SDKs try again. */
            answer_early(c, st, GRPC_RESOURCE_EXHAUSTED,
                         "spanrelay is receiving too many requests at once; retry shortly", 1000);
            return 0;
        }
        uint8_t *nb = realloc(st->buf, cap);
        if (!nb) {
            answer_early(c, st, GRPC_RESOURCE_EXHAUSTED, "out of memory", 1000);
            return 0;
        }
        buffered_bytes += cap - st->cap;
        st->buf = nb;
        st->cap = cap;
    }
    size_t had = st->len;
    memcpy(st->buf + st->len, data, len);
    st->len += len;
    /* The prefix declares the message's length: one that cannot fit is refused now,
     * not after the client has sent it all (or never ends it). */
    if (had < 5 && st->len >= 5) {
        if (message_length(st->buf) > max)
            refuse_too_large(c, st);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct grpc_conn *c = user_data;
    if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct grpc_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (st && !st->answered)
        stream_complete(c, st);
    return 0;
}

/* An answer complete before its request (answer_early) is followed by RST_STREAM
 * NO_ERROR, as RFC 9113 section 8.1 says: the client stops sending a body nobody reads.
 * (A reset queued with the answer would make nghttp2 drop the answer.) */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)user_data;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
    return 0;
}

static void stream_free(struct grpc_conn *c, struct grpc_stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    stream_release(st);
    free(st);
    if (--c->open_streams == 0 && !conn_is_ending(c->conn)) {
        c->idle_since_ms = uv_now(conn_loop(c->conn));
        conn_arm_timer(c);
    }
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct grpc_conn *c = user_data;
    (void)error_code;
    struct grpc_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st)
        return 0;
    /* A client that resets a stream mid-request takes its partial body with it. */
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    stream_free(c, st);
    return 0;
}

static nghttp2_session_callbacks *server_callbacks(void)
{
    static nghttp2_session_callbacks *cbs;
    if (cbs)
        return cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    return cbs;
}

/* GOAWAY, then a second for the client to read it before the connection is cut. Our
 * side is then shut down and what still comes is read and discarded: closing at once
 * would reset a client whose last frames are still unread on our side, and a reset may
 * make it drop our GOAWAY unread. */
static void conn_goaway(struct grpc_conn *c, uint32_t error_code)
{
    nghttp2_session_terminate_session(c->session, error_code);
    conn_send(c);
    conn_close_after_write(c->conn, 1, 1000);
}

/* The timer runs from events, not from bytes: a stream gets receiver.requestTimeout
 * from its headers however the client keeps the connection busy (PINGs, other
 * streams), and a connection with no stream gets receiver.idleTimeout. */
static void conn_arm_timer(struct grpc_conn *c)
{
    uint64_t deadline = UINT64_MAX;
    for (struct grpc_stream *st = c->streams; st; st = st->next)
        if (!st->reset && st->started_ms + c->s->cfg->receiver_request_timeout_ms < deadline)
            deadline = st->started_ms + c->s->cfg->receiver_request_timeout_ms;
    if (c->open_streams == 0)
        deadline = c->idle_since_ms + c->s->cfg->receiver_idle_timeout_ms;
    if (deadline == UINT64_MAX) {
        conn_timer_stop(c->conn);
        return;
    }
    uint64_t now = uv_now(conn_loop(c->conn));
    conn_timer(c->conn, deadline > now ? deadline - now : 0);
}

static void conn_on_timeout(struct conn *conn)
{
    struct grpc_conn *c = conn_proto(conn);
    uint64_t now = uv_now(conn_loop(conn));
    if (c->open_streams == 0) {
        log_write(LOG_DEBUG, LOGGER, "idle connection, closing", NULL, 0);
        conn_goaway(c, NGHTTP2_NO_ERROR);
        return;
    }
    if (conn_pending_write(conn) > 0) {
        /* Our answers sit unread: a client that does not read gets no more time. */
        conn_close(conn);
        return;
    }
    for (struct grpc_stream *st = c->streams; st; st = st->next) {
        if (!st->reset && st->started_ms + c->s->cfg->receiver_request_timeout_ms <= now) {
            log_write(LOG_DEBUG, LOGGER, "request not complete in time, resetting its stream",
                      NULL, 0);
            st->reset = 1;
            nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
        }
    }
    conn_send(c);
    conn_arm_timer(c);
}

/* Appends what nghttp2 wants to send, up to MAX_PENDING_WRITE unread by the client.
 * 1 when it stopped at that bound with more to send, 0 when nghttp2 has nothing more,
 * -1 when the connection is closed. */
static int conn_collect(struct grpc_conn *c)
{
    while (conn_pending_write(c->conn) < MAX_PENDING_WRITE) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            conn_close(c->conn);
            return -1;
        }
        if (n == 0)
            return 0;
        uint8_t *p = conn_append(c->conn, (size_t)n);
        if (!p)
            return -1;
        memcpy(p, data, (size_t)n);
    }
    return 1;
}

/* Sends everything nghttp2 wants to send, each flush one write, up to
 * MAX_PENDING_WRITE unread by the client; conn_on_written asks again once the client has
 * read a queued write. A flush the socket took whole leaves nothing pending and no
 * callback to come, so collecting goes on at once. */
static void conn_send(struct grpc_conn *c)
{
    if (!conn_is_open(c->conn))
        return;
    int more;
    do {
        more = conn_collect(c);
        if (more < 0 || conn_flush(c->conn) < 0)
            return;
    } while (more && conn_pending_write(c->conn) == 0);
    /* Both sides are done (GOAWAY sent or received, no stream left). */
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
        conn_close_after_write(c->conn, 1, 1000);
}

static void conn_on_written(struct conn *conn)
{
    if (conn_pending_write(conn) == 0)
        conn_send(conn_proto(conn));
}

static void conn_protocol_error(struct grpc_conn *c, int err)
{
    log_write(LOG_DEBUG, LOGGER, "HTTP/2 protocol error, sending GOAWAY",
              (struct log_field[]){ LOG_STR("error", nghttp2_strerror(err)) }, 1);
    conn_goaway(c, NGHTTP2_PROTOCOL_ERROR);
}

static void conn_on_read(struct conn *conn, const uint8_t *data, size_t len)
{
    struct grpc_conn *c = conn_proto(conn);
    ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
    if (n < 0) {
        conn_protocol_error(c, (int)n);
        return;
    }
    conn_send(c);
}

static void conn_on_stop(struct conn *conn)
{
    conn_goaway(conn_proto(conn), NGHTTP2_NO_ERROR);
}

static void conn_on_free(struct conn *conn)
{
    struct grpc_conn *c = conn_proto(conn);
    while (c->streams)
        stream_free(c, c->streams);
    nghttp2_session_del(c->session);
    free(c);
}

static const struct conn_ops grpc_ops = {
    .read = conn_on_read,
    .written = conn_on_written,
    .timeout = conn_on_timeout,
    .stop = conn_on_stop,
    .free = conn_on_free,
};

/* The server's first SETTINGS frame. Once a client acknowledges a
 * MAX_CONCURRENT_STREAMS, nghttp2 answers any stream past it by closing the whole
 * connection (GOAWAY PROTOCOL_ERROR, by design), though RFC 9113 section 5.1.2 allows
 * refusing just that stream. So nghttp2 is given the settings without the limit, and
 * the frame it makes of them is sent with the limit added: clients see it, nghttp2
 * matches their acknowledgement to its own settings, and on_begin_headers refuses the
 * streams past it. */
static int send_initial_settings(struct grpc_conn *c)
{
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384 },
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS },
    };
    size_t niv = sizeof(iv) / sizeof(iv[0]);
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, niv - 1) != 0)
        return -1;
    const uint8_t *frame;
    ssize_t n = nghttp2_session_mem_send(c->session, &frame);
    if (n != (ssize_t)(9 + 6 * (niv - 1)) || frame[3] != NGHTTP2_SETTINGS)
        return -1;
    uint8_t *out = conn_append(c->conn, 9 + 6 * niv);
    if (!out)
        return -1;
    memcpy(out, frame, 9);
    out[2] = (uint8_t)(6 * niv);
    if (nghttp2_pack_settings_payload(out + 9, 6 * niv, iv, niv) != (ssize_t)(6 * niv))
        return -1;
    return 0;
}

int receiver_grpc_start(struct conn *conn, const struct receiver_grpc_settings *s)
{
    struct grpc_conn *c = calloc(1, sizeof(*c));
    nghttp2_session_callbacks *cbs = server_callbacks();
    if (!c || !cbs || nghttp2_session_server_new(&c->session, cbs, c) != 0) {
        free(c);
        conn_close(conn);
        return -1;
    }
    c->conn = conn;
    c->s = s;
    conn_serve(conn, &grpc_ops, c, MAX_PENDING_WRITE);
    if (send_initial_settings(c) < 0) {
        conn_close(conn);
        return -1;
    }
    /* The connection window starts at 64 KiB; widen it so that many concurrent exports
     * are not throttled by round trips. */
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, CONNECTION_WINDOW);
    c->idle_since_ms = uv_now(conn_loop(conn));
    conn_arm_timer(c);
    conn_send(c);
    return 0;
}
