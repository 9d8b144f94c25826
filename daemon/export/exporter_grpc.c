/* exporter_grpc.c — the OTLP/gRPC transport: unary TraceService/Export calls over one
 * HTTP/2 connection (an nghttp2 client session; h2c with prior knowledge for
 * http://host:port, TLS with ALPN h2 for https://host:port), on the caller's libuv loop.
 *
 * Contract (exporter_transport.h): every request handed to send() is answered exactly
 * once, through exporter_transport_done(), from a loop callback. The outcome follows the
 * OTLP specification: grpc-status 0 is OK (partial_success carried over); CANCELLED,
 * DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are RETRY, and so
 * is RESOURCE_EXHAUSTED when the backend attached a google.rpc.RetryInfo; everything
 * else is FAIL, except RESOURCE_EXHAUSTED or INVALID_ARGUMENT whose grpc-message says
 * the message is over the server's maximum: TOO_LARGE. Without grpc-status, HTTP
 * 429/502/503/504 are RETRY (gRPC maps them to UNAVAILABLE), 413 TOO_LARGE, any other
 * status FAIL. A lost connection, a GOAWAY that drops a request
 * and a timeout are RETRY with connected = 0.
 *
 * Connection policy. The first send() opens the connection: uv_getaddrinfo, then each
 * address in turn with uv_tcp_connect, then the TLS handshake; requests sent meanwhile
 * wait for it (within their own deadline). When a connection fails or is lost, every
 * request on it is answered RETRY, exporter_transport_state() is told, and the next
 * attempt waits for the delay exporter_reconnect_delay_ms() returns (counted from now,
 * capped at retry.maxInterval). Until then send() fails fast: the request is answered
 * RETRY from the next loop iteration, as a gRPC channel in TRANSIENT_FAILURE does, and
 * exporter.c's retry backoff takes it from there. Requests are not parked here, so
 * nothing waits on a timer exporter.c cannot see.
 *
 * send() returns -1 (and answers nothing) only when called with capacity() requests
 * already in flight or after destroy(): both are the caller's mistake.
 *
 * Nothing here blocks: names are resolved on libuv's thread pool, all I/O is
 * non-blocking, and at most MAX_PENDING_WRITE bytes are queued on the socket (more is
 * pulled from nghttp2 as writes complete). Header values never reach a log line or a
 * result message. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "base/codec.h"
#include "export/exporter_transport.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "base/log.h"
#include "base/netaddr.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "export/tls.h"

#define LOGGER "otel.exporter"
#define EXPORT_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define RETRY_INFO_TYPE "type.googleapis.com/google.rpc.RetryInfo"
#define USER_AGENT "spanrelay/" SPANRELAY_VERSION

/* Requests in flight at once. A batch is up to exporter.maxBatchBytes (1 MiB by
 * default), so 8 keep at most ~8 MiB of batches held for answers, while hiding the
 * round trip: at 10 ms per answer that is ~800 batches a second, far beyond what one
 * sidecar produces. Backends advertise MAX_CONCURRENT_STREAMS of 100 or more, so 8
 * streams never queue inside nghttp2. */
#define MAX_IN_FLIGHT 8
/* Bytes handed to the socket and not yet written: the bound on what one connection
 * buffers outside nghttp2, whatever the backend's read speed. */
#define MAX_PENDING_WRITE ((size_t)1 << 20)
/* An ExportTraceServiceResponse is a count and a message: anything longer is not read. */
#define MAX_RESPONSE_BYTES ((size_t)64 << 10)
#define MAX_DETAILS_BYTES ((size_t)16 << 10)
#define READ_BUFFER_SIZE ((size_t)64 << 10)
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define LOG_INTERVAL_MS 10000
#define PORT_HTTP "4317"
#define PORT_HTTPS "443"

enum conn_state { CONN_RESOLVING, CONN_CONNECTING, CONN_HANDSHAKING, CONN_READY };
enum handle_state { HANDLE_NONE, HANDLE_OPEN, HANDLE_CLOSING };

struct grpc_transport;
struct grpc_conn;

/* One slot per request that may be in flight; its timer is the request's deadline. */
struct grpc_call {
    struct grpc_transport *t;
    struct exporter_request *req;  /* NULL while the slot is free */
    struct grpc_conn *conn;        /* the connection carrying it, NULL once detached */
    int32_t stream_id;             /* 0 until HEADERS are submitted */
    uv_timer_t timer;
    uint8_t prefix[5];             /* the gRPC message prefix: flag, big-endian length */
    size_t sent;                   /* prefix and body bytes handed to nghttp2 */
    int http_status;
    int grpc_status;               /* -1 until seen */
    char grpc_message[256];        /* percent-decoded */
    uint8_t *details;              /* grpc-status-details-bin, base64-decoded */
    size_t details_len;
    uint8_t *resp;                 /* the response message, prefix included */
    size_t resp_len, resp_cap;
    int resp_truncated;
    uint64_t started_ms;           /* loop time the request was handed over */
    struct exporter_result deferred; /* the answer a zero timer delivers */
};

struct grpc_conn {
    struct grpc_transport *t;
    struct grpc_conn *next;        /* in t->conns */
    enum conn_state state;
    enum handle_state tcp_state;
    int closing;
    int goaway;                    /* GOAWAY received, or stream ids ran out: draining */
    int in_session;                /* inside nghttp2_session_mem_recv/mem_send */
    int close_notified;
    int silent;                    /* presumed dead: its closing is a failure, never benign */
    int spoke;                     /* the backend's SETTINGS arrived: it speaks HTTP/2 */
    int resolving;
    int refs;                      /* handle and request callbacks libuv still owes */
    nghttp2_session *session;
    struct tls_conn *tls;
    uv_getaddrinfo_t resolve;
    struct addrinfo *addrs;
    struct addrinfo *addr_next;
    char addr_text[64];            /* the address being tried, for messages */
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t connect_timer;
    size_t write_pending;
    uint64_t last_read_ms;         /* loop time bytes last came from the backend */
    char last_error[200];
    uint8_t rbuf[READ_BUFFER_SIZE];
};

struct grpc_header {
    char *name;                    /* lower case */
    char *value;
};

struct grpc_transport {
    uv_loop_t *loop;
    struct exporter *e;
    int use_tls;
    char *host;                    /* no brackets: for resolving, and TLS by default */
    const char *server_name;       /* what TLS verifies and sends as SNI: the target's
                                      tls_server_name, else host */
    char port[8];
    char *authority;               /* host:port, brackets for IPv6 */
    struct tls_ctx *tls_ctx;
    uint64_t timeout_ms;           /* 0: no deadline */
    char grpc_timeout[24];
    struct grpc_header *headers;
    size_t headers_count;
    int custom_user_agent;
    nghttp2_nv *nva;               /* scratch for one request's header list */
    struct grpc_conn *conn;        /* where new requests go; NULL when none is open */
    struct grpc_conn *conns;       /* every connection not yet freed, draining ones too */
    uint64_t reconnect_at;         /* loop time before which no new connection starts */
    uint64_t reconnect_cap_ms;     /* retry.maxInterval */
    char last_error[200];
    struct grpc_call calls[MAX_IN_FLIGHT];
    int timers_open;
    int destroyed;
    struct log_limiter warn_limiter;
    struct log_limiter info_limiter;
};

static void conn_flush(struct grpc_conn *c);
static void conn_fail(struct grpc_conn *c, const char *message);
static void conn_close(struct grpc_conn *c);
static void conn_try_next(struct grpc_conn *c);
static void transport_maybe_free(struct grpc_transport *t);

/* ---------------------------------------------------------------- small helpers */

static void set_result(struct exporter_result *res, enum exporter_outcome outcome, int connected,
                       const char *fmt, ...)
{
    va_list ap;
    memset(res, 0, sizeof(*res));
    res->outcome = outcome;
    res->connected = connected;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

/* grpc-message is percent-encoded UTF-8. Control characters become spaces: the text
 * ends up in log lines and /health. */
static void percent_decode(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < dstlen; i++) {
        int ch = src[i];
        if (ch == '%' && i + 2 < len && codec_hex_value(src[i + 1]) >= 0 && codec_hex_value(src[i + 2]) >= 0) {
            ch = codec_hex_value(src[i + 1]) * 16 + codec_hex_value(src[i + 2]);
            i += 2;
        }
        dst[o++] = (char)(ch < 0x20 || ch == 0x7f ? ' ' : ch);
    }
    dst[o] = '\0';
}

static int name_is(const uint8_t *name, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(name, s, len) == 0;
}

static int parse_int(const uint8_t *v, size_t len)
{
    int n = 0;
    if (len == 0 || len > 6)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n;
}

/* An unreadable grpc-status counts as UNKNOWN (2), as gRPC clients do. */
static int grpc_status_value(const uint8_t *v, size_t len)
{
    int code = parse_int(v, len);
    return code < 0 ? 2 : code;
}

/* gRPC allows at most 8 digits: longer timeouts go to coarser units. */
static void format_grpc_timeout(uint64_t ms, char *out, size_t len)
{
    if (ms <= 99999999u)
        snprintf(out, len, "%llum", (unsigned long long)ms);
    else if (ms / 1000 <= 99999999u)
        snprintf(out, len, "%lluS", (unsigned long long)(ms / 1000));
    else if (ms / 60000 <= 99999999u)
        snprintf(out, len, "%lluM", (unsigned long long)(ms / 60000));
    else
        snprintf(out, len, "%lluH", (unsigned long long)(ms / 3600000 > 99999999u ? 99999999u
                                                                                 : ms / 3600000));
}

/* ---------------------------------------------------------------- the answer */

static const char *grpc_code_name(int code)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])))
        return names[code];
    return "UNKNOWN";
}

/* The google.rpc.RetryInfo in a google.rpc.Status, if any. */
static int find_retry_info(const uint8_t *details, size_t len, uint64_t *delay_ms)
{
    int found = 0;
    Google__Rpc__Status *st = google__rpc__status__unpack(NULL, len, details);
    if (!st)
        return 0;
    for (size_t i = 0; i < st->n_details && !found; i++) {
        const Google__Protobuf__Any *any = st->details[i];
        if (!any->type_url || strcmp(any->type_url, RETRY_INFO_TYPE) != 0)
            continue;
        Google__Rpc__RetryInfo *ri = google__rpc__retry_info__unpack(NULL, any->value.len,
                                                                     any->value.data);
        if (!ri)
            continue;
        found = 1;
        *delay_ms = 0;
        if (ri->retry_delay && ri->retry_delay->seconds >= 0 && ri->retry_delay->nanos >= 0)
            *delay_ms = (uint64_t)ri->retry_delay->seconds * 1000 +
                        (uint64_t)ri->retry_delay->nanos / 1000000;
        google__rpc__retry_info__free_unpacked(ri, NULL);
    }
    google__rpc__status__free_unpacked(st, NULL);
    return found;
}

/* partial_success of an ExportTraceServiceResponse. A response that cannot be read
 * still means the backend accepted the request: it stays OK. */
static void read_export_response(const struct grpc_call *call, struct exporter_result *res)
{
    if (call->resp_truncated || call->resp_len < 5 || call->resp[0] != 0)
        return;
    size_t mlen = (size_t)call->resp[1] << 24 | (size_t)call->resp[2] << 16 |
                  (size_t)call->resp[3] << 8 | call->resp[4];
    if (mlen > call->resp_len - 5)
        return;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
            NULL, mlen, call->resp + 5);
    if (!resp)
        return;
    if (resp->partial_success) {
        res->rejected = resp->partial_success->rejected_spans;
        if (resp->partial_success->error_message)
            snprintf(res->message, sizeof(res->message), "%s",
                     resp->partial_success->error_message);
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
        resp, NULL);
}

/* How gRPC servers word a request over their receive limit: grpc-go "grpc: received
 * message larger than max (N vs. M)" (and "... after decompression larger than max"),
 * gRPC core and grpc-js "Received message larger than max (N vs. M)", grpc-java "gRPC
 * message exceeds maximum size M: N". */
static int says_too_large(const char *message)
{
    return strcasestr(message, "larger than max") != NULL ||
           strcasestr(message, "exceeds maximum size") != NULL;
}

static void grpc_status_result(const struct grpc_call *call, struct exporter_result *res)
{
    int code = call->grpc_status;
    uint64_t delay = 0;
    int has_retry_info = call->details && find_retry_info(call->details, call->details_len, &delay);
    enum exporter_outcome outcome;
    switch (code) {
    case 0:
        set_result(res, EXPORTER_OK, 1, "%s", "");
        read_export_response(call, res);
        return;
    case 1: case 4: case 10: case 11: case 14: case 15:
        outcome = EXPORTER_RETRY;
        break;
    case 3: case 8:
        /* Sent again as is, a request over the limit would be refused again, whatever
         * RetryInfo says. */
        if (says_too_large(call->grpc_message))
            outcome = EXPORTER_TOO_LARGE;
        else
            outcome = code == 8 && has_retry_info ? EXPORTER_RETRY : EXPORTER_FAIL;
        break;
    default:
        outcome = EXPORTER_FAIL;
        break;
    }
    if (call->grpc_message[0])
        set_result(res, outcome, 1, "%s: %s", grpc_code_name(code), call->grpc_message);
    else
        set_result(res, outcome, 1, "%s", grpc_code_name(code));
    if (has_retry_info)
        res->retry_after_ms = delay;
}

/* gRPC's mapping of a stream reset without a status (doc/PROTOCOL-HTTP2.md). */
static void reset_result(const struct grpc_conn *c, uint32_t error_code,
                         struct exporter_result *res)
{
    const char *name = nghttp2_http2_strerror(error_code);
    switch (error_code) {
    case NGHTTP2_REFUSED_STREAM:
        if (c->goaway)
            set_result(res, EXPORTER_RETRY, 0, "backend sent GOAWAY; request not processed");
        else
            set_result(res, EXPORTER_RETRY, 1, "UNAVAILABLE: stream refused by backend");
        break;
    case NGHTTP2_CANCEL:
        set_result(res, EXPORTER_RETRY, 1, "CANCELLED: stream reset by backend");
        break;
    case NGHTTP2_ENHANCE_YOUR_CALM:
        set_result(res, EXPORTER_FAIL, 1, "RESOURCE_EXHAUSTED: stream reset by backend (%s)", name);
        break;
    default:
        set_result(res, EXPORTER_FAIL, 1, "INTERNAL: stream reset by backend (%s)", name);
        break;
    }
}

/* The outcome of a stream that has closed. */
static void call_result(const struct grpc_conn *c, const struct grpc_call *call,
                        uint32_t error_code, struct exporter_result *res)
{
    if (call->grpc_status >= 0) {
        grpc_status_result(call, res);
    } else if (call->http_status != 0 && call->http_status != 200) {
        int st = call->http_status;
        int retry = st == 429 || st == 502 || st == 503 || st == 504;
        set_result(res, retry ? EXPORTER_RETRY : st == 413 ? EXPORTER_TOO_LARGE : EXPORTER_FAIL,
                   1, "HTTP %d from backend%s", st, retry ? " (UNAVAILABLE)" : "");
    } else if (error_code != NGHTTP2_NO_ERROR) {
        reset_result(c, error_code, res);
    } else if (call->http_status == 200) {
        set_result(res, EXPORTER_FAIL, 1, "INTERNAL: response without grpc-status");
    } else {
        set_result(res, EXPORTER_RETRY, 0, "stream closed without a response");
    }
}

/* ---------------------------------------------------------------- calls */

static void call_reset(struct grpc_call *call)
{
    free(call->details);
    free(call->resp);
    call->req = NULL;
    call->conn = NULL;
    call->stream_id = 0;
    call->sent = 0;
    call->http_status = 0;
    call->grpc_status = -1;
    call->grpc_message[0] = '\0';
    call->details = NULL;
    call->details_len = 0;
    call->resp = NULL;
    call->resp_len = call->resp_cap = 0;
    call->resp_truncated = 0;
}

static int conn_has_calls(const struct grpc_conn *c)
{
    for (int i = 0; i < MAX_IN_FLIGHT; i++) {
        if (c->t->calls[i].req && c->t->calls[i].conn == c)
            return 1;
    }
    return 0;
}

/* Answers call and frees its slot. The slot is clean before exporter.c hears of it,
 * so that exporter.c may send() again (even into this slot) from its callback. */
static void call_finish(struct grpc_call *call, const struct exporter_result *res)
{
    struct grpc_transport *t = call->t;
    struct grpc_conn *c = call->conn;
    struct exporter_request *req = call->req;
    struct exporter_result answer = *res;

    uv_timer_stop(&call->timer);
    if (c && call->stream_id > 0)
        nghttp2_session_set_stream_user_data(c->session, call->stream_id, NULL);
    call_reset(call);
    if (c && c->goaway && !c->closing && !conn_has_calls(c))
        conn_close(c);
    exporter_transport_done(t->e, req, &answer);
}

static void call_on_deferred(uv_timer_t *timer)
{
    struct grpc_call *call = timer->data;
    call_finish(call, &call->deferred);
}

/* Answers call from the next loop iteration: send() must never answer by itself. */
static void call_defer(struct grpc_call *call, const struct exporter_result *res)
{
    if (call->conn && call->stream_id > 0)
        nghttp2_session_set_stream_user_data(call->conn->session, call->stream_id, NULL);
    call->conn = NULL;
    call->stream_id = 0;
    call->deferred = *res;
    uv_timer_start(&call->timer, call_on_deferred, 0, 0);
}

static void call_on_timeout(uv_timer_t *timer)
{
    struct grpc_call *call = timer->data;
    struct grpc_conn *c = call->conn;
    struct grpc_transport *t = call->t;
    struct exporter_result res;
    /* Nothing at all from the backend since this request went out: the connection is
     * presumed dead (a black hole, a backend that stopped reading), and TCP may take
     * many minutes to say so. It is dropped so that the retry goes over a new one. */
    int silent = c && c->last_read_ms < call->started_ms;
    if (c && call->stream_id > 0) {
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
        set_result(&res, EXPORTER_RETRY, !silent, "deadline exceeded: no answer within %llu ms",
                   (unsigned long long)t->timeout_ms);
    } else {
        set_result(&res, EXPORTER_RETRY, 0,
                   "deadline exceeded: not connected to %s within %llu ms", t->authority,
                   (unsigned long long)t->timeout_ms);
    }
    res.timed_out = 1;
    call_finish(call, &res);
    if (c && silent && c->state == CONN_READY) {
        c->silent = 1;
        conn_fail(c, "backend silent past the request deadline; reconnecting");
        return;
    }
    if (c)
        conn_flush(c);
}

/* Stream user data is the call's slot; a slot reused for another request must not
 * pick up the answer of the stream it had before. */
static struct grpc_call *stream_call(struct grpc_conn *c, int32_t stream_id)
{
    struct grpc_call *call = nghttp2_session_get_stream_user_data(c->session, stream_id);
    if (!call || !call->req || call->conn != c || call->stream_id != stream_id)
        return NULL;
    return call;
}

/* DATA: the 5-byte prefix, then the body, both read in place. */
static ssize_t body_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    struct grpc_call *call = stream_call(user_data, stream_id);
    (void)session;
    (void)source;
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t total = sizeof(call->prefix) + call->req->len;
    size_t n = 0;
    while (n < length && call->sent < total) {
        size_t chunk;
        if (call->sent < sizeof(call->prefix)) {
            chunk = sizeof(call->prefix) - call->sent;
            if (chunk > length - n)
                chunk = length - n;
            memcpy(buf + n, call->prefix + call->sent, chunk);
        } else {
            size_t off = call->sent - sizeof(call->prefix);
            chunk = call->req->len - off;
            if (chunk > length - n)
                chunk = length - n;
            memcpy(buf + n, call->req->body + off, chunk);
        }
        n += chunk;
        call->sent += chunk;
    }
    if (call->sent == total)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void nv_set(nghttp2_nv *nv, const char *name, const char *value)
{
    nv->name = (uint8_t *)name;
    nv->namelen = strlen(name);
    nv->value = (uint8_t *)value;
    nv->valuelen = strlen(value);
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

/* Submits call's HEADERS and DATA on its (ready) connection. */
static void call_submit(struct grpc_call *call)
{
    struct grpc_transport *t = call->t;
    struct grpc_conn *c = call->conn;
    nghttp2_nv *nva = t->nva;
    size_t n = 0;
    nv_set(&nva[n++], ":method", "POST");
    nv_set(&nva[n++], ":scheme", t->use_tls ? "https" : "http");
    nv_set(&nva[n++], ":path", EXPORT_PATH);
    nv_set(&nva[n++], ":authority", t->authority);
    nv_set(&nva[n++], "content-type", "application/grpc");
    nv_set(&nva[n++], "te", "trailers");
    if (t->grpc_timeout[0])
        nv_set(&nva[n++], "grpc-timeout", t->grpc_timeout);
    if (call->req->encoding && call->req->encoding[0])
        nv_set(&nva[n++], "grpc-encoding", call->req->encoding);
    nv_set(&nva[n++], "grpc-accept-encoding", "identity");
    if (!t->custom_user_agent)
        nv_set(&nva[n++], "user-agent", USER_AGENT);
    for (size_t i = 0; i < t->headers_count; i++)
        nv_set(&nva[n++], t->headers[i].name, t->headers[i].value);

    nghttp2_data_provider provider = { .source.ptr = NULL, .read_callback = body_read };
    int32_t id = nghttp2_submit_request(c->session, NULL, nva, n, &provider, call);
    if (id < 0) {
        struct exporter_result res;
        set_result(&res, EXPORTER_RETRY, 0, "cannot start a request: %s", nghttp2_strerror(id));
        /* Stream ids run out after 2^30 requests: the next request opens a new
         * connection while this one finishes what it carries. */
        if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE && t->conn == c) {
            c->goaway = 1;
            t->conn = NULL;
        }
        call_defer(call, &res);
        if (c->goaway && !conn_has_calls(c))
            conn_close(c);
        return;
    }
    call->stream_id = id;
}

/* ---------------------------------------------------------------- nghttp2 callbacks */

static void response_append(struct grpc_call *call, const uint8_t *data, size_t len)
{
    if (call->resp_truncated)
        return;
    if (len > MAX_RESPONSE_BYTES - call->resp_len) {
        call->resp_truncated = 1;
        return;
    }
    if (call->resp_len + len > call->resp_cap) {
        size_t cap = call->resp_cap ? call->resp_cap : 256;
        while (cap < call->resp_len + len)
            cap *= 2;
        uint8_t *p = realloc(call->resp, cap);
        if (!p) {
            call->resp_truncated = 1;
            return;
        }
        call->resp = p;
        call->resp_cap = cap;
    }
    memcpy(call->resp + call->resp_len, data, len);
    call->resp_len += len;
}

static void details_set(struct grpc_call *call, const uint8_t *value, size_t len)
{
    if (len > MAX_DETAILS_BYTES)
        return;
    uint8_t *out = malloc(len * 3 / 4 + 3);
    if (!out)
        return;
    /* Binary gRPC metadata is base64, padded or not. */
    while (len > 0 && value[len - 1] == '=')
        len--;
    long n = codec_base64_decode(value, len, out);
    if (n < 0) {
        free(out);
        return;
    }
    free(call->details);
    call->details = out;
    call->details_len = (size_t)n;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)session;
    (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct grpc_call *call = stream_call(user_data, frame->hd.stream_id);
    if (!call)
        return 0;
    if (name_is(name, namelen, ":status"))
        call->http_status = parse_int(value, valuelen);
    else if (name_is(name, namelen, "grpc-status"))
        call->grpc_status = grpc_status_value(value, valuelen);
    else if (name_is(name, namelen, "grpc-message"))
        percent_decode(call->grpc_message, sizeof(call->grpc_message), value, valuelen);
    else if (name_is(name, namelen, "grpc-status-details-bin"))
        details_set(call, value, valuelen);
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    struct grpc_call *call = stream_call(user_data, stream_id);
    if (call)
        response_append(call, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    struct grpc_conn *c = user_data;
    (void)session;
    struct grpc_call *call = stream_call(c, stream_id);
    if (!call)
        return 0;
    struct exporter_result res;
    call_result(c, call, error_code, &res);
    call_finish(call, &res);
    return 0;
}

/* The connection's last reported problem, and when to try again. Called once per
 * connection lost or failed, so exporter.c's backoff advances once per failure. */
static void transport_lost(struct grpc_transport *t, const char *message)
{
    snprintf(t->last_error, sizeof(t->last_error), "%s", message);
    if (t->destroyed)
        return;
    /* A delay from now, capped at retry.maxInterval as the contract promises, so that a
     * wrong answer can never stall the exporter for longer. */
    uint64_t wait = exporter_reconnect_delay_ms(t->e);
    if (t->reconnect_cap_ms && wait > t->reconnect_cap_ms)
        wait = t->reconnect_cap_ms;
    t->reconnect_at = uv_now(t->loop) + wait;
    exporter_transport_state(t->e, 0, message);
    log_write_limited(&t->warn_limiter, LOG_WARNING, LOGGER, "gRPC export connection lost",
                      (struct log_field[]){ LOG_STR("endpoint", t->authority),
                                            LOG_STR("error", message) }, 2);
}

/* A healthy backend retiring a connection (max age, idle close): nothing was lost, so
 * no backoff and no warning; the next request opens a new connection. */
static void connection_retired(struct grpc_transport *t, const char *message)
{
    if (t->destroyed)
        return;
    log_write_limited(&t->info_limiter, LOG_INFO, LOGGER, "gRPC export connection retired",
                      (struct log_field[]){ LOG_STR("endpoint", t->authority),
                                            LOG_STR("reason", message) }, 2);
}

static int conn_has_calls_above(const struct grpc_conn *c, int32_t last_stream_id)
{
    for (int i = 0; i < MAX_IN_FLIGHT; i++) {
        const struct grpc_call *call = &c->t->calls[i];
        if (call->req && call->conn == c &&
            (call->stream_id == 0 || call->stream_id > last_stream_id))
            return 1;
    }
    return 0;
}

/* Requests above last_stream_id were not processed: they are answered RETRY now. The
 * others finish on this connection, which then closes; new requests go to a new one. */
static void conn_on_goaway(struct grpc_conn *c, int32_t last_stream_id, uint32_t error_code)
{
    struct grpc_transport *t = c->t;
    char message[128];
    snprintf(message, sizeof(message), "backend sent GOAWAY (%s)",
             nghttp2_http2_strerror(error_code));
    c->goaway = 1;
    if (t->conn == c) {
        t->conn = NULL;
        if (error_code == NGHTTP2_NO_ERROR && !conn_has_calls_above(c, last_stream_id))
            connection_retired(t, message);
        else
            transport_lost(t, message);
    }
    struct exporter_result res;
    set_result(&res, EXPORTER_RETRY, 0, "%s; request not processed", message);
    for (int i = 0; i < MAX_IN_FLIGHT; i++) {
        struct grpc_call *call = &t->calls[i];
        if (call->req && call->conn == c && (call->stream_id == 0 || call->stream_id > last_stream_id))
            call_finish(call, &res);
    }
    if (!c->closing && !conn_has_calls(c))
        conn_close(c);
}

/* The backend is there and speaks HTTP/2: reset the reconnect backoff, say so once. */
static void conn_reached(struct grpc_conn *c)
{
    struct grpc_transport *t = c->t;
    if (c->spoke || t->destroyed)
        return;
    c->spoke = 1;
    exporter_transport_state(t->e, 1, "");
    log_write_limited(&t->info_limiter, LOG_INFO, LOGGER, "gRPC export connection ready",
                      (struct log_field[]){ LOG_STR("endpoint", t->authority),
                                            LOG_STR("address", c->addr_text) }, 2);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)session;
    if (frame->hd.type == NGHTTP2_GOAWAY)
        conn_on_goaway(user_data, frame->goaway.last_stream_id, frame->goaway.error_code);
    else if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
        conn_reached(user_data);
    return 0;
}

/* ---------------------------------------------------------------- connection I/O */

struct write_req {
    uv_write_t req;
    struct grpc_conn *conn;
    size_t len;
    uint8_t data[];
};

static int write_reserve(struct write_req **w, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16384;
    while (ncap < need)
        ncap *= 2;
    struct write_req *nw = realloc(*w, sizeof(**w) + ncap);
    if (!nw)
        return -1;
    *w = nw;
    *cap = ncap;
    return 0;
}

static void conn_on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct grpc_conn *c = w->conn;
    c->write_pending -= w->len;
    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        char message[160];
        snprintf(message, sizeof(message), "connection to %s lost: %s", c->t->authority,
                 uv_strerror(status));
        conn_fail(c, message);
        return;
    }
    conn_flush(c);
}

/* Pulls frames from nghttp2 (through TLS when on) while under MAX_PENDING_WRITE, and
 * writes them with one uv_write. conn_on_write calls it again. */
static void conn_flush(struct grpc_conn *c)
{
    if (c->closing || c->in_session || c->tcp_state != HANDLE_OPEN)
        return;
    struct write_req *w = NULL;
    size_t cap = 0, len = 0;
    const char *error = NULL;
    if (c->state == CONN_READY) {
        c->in_session = 1;
        for (;;) {
            size_t queued = len + (c->tls ? tls_out_pending(c->tls) : 0);
            if (c->write_pending + queued >= MAX_PENDING_WRITE)
                break;
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->session, &data);
            if (n < 0) {
                error = nghttp2_strerror((int)n);
                break;
            }
            if (n == 0)
                break;
            if (c->tls) {
                if (tls_write(c->tls, data, (size_t)n) != 0) {
                    error = tls_error(c->tls);
                    break;
                }
            } else if (write_reserve(&w, &cap, len + (size_t)n) == 0) {
                memcpy(w->data + len, data, (size_t)n);
                len += (size_t)n;
            } else {
                error = "out of memory";
                break;
            }
        }
        c->in_session = 0;
    }
    if (c->closing) {
        free(w);
        return;
    }
    int ended = c->state == CONN_READY && !nghttp2_session_want_read(c->session) &&
                !nghttp2_session_want_write(c->session);
    if (ended && c->tls && !c->close_notified) {
        tls_close_notify(c->tls);
        c->close_notified = 1;
    }
    if (!error && c->tls && tls_out_pending(c->tls) > 0) {
        size_t pending = tls_out_pending(c->tls);
        if (write_reserve(&w, &cap, len + pending) == 0)
            len += tls_take_out(c->tls, w->data + len, pending);
        else
            error = "out of memory";
    }
    if (!error && len > 0) {
        w->conn = c;
        w->len = len;
        uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)len);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, conn_on_write);
        if (rc < 0) {
            error = uv_strerror(rc);
        } else {
            c->write_pending += len;
            w = NULL; /* conn_on_write frees it */
        }
    }
    free(w);
    if (error) {
        char message[200];
        snprintf(message, sizeof(message), "sending to %s failed: %s", c->t->authority, error);
        conn_fail(c, message);
        return;
    }
    if (ended && c->write_pending == 0)
        conn_fail(c, "HTTP/2 session ended");
}

static void conn_feed_h2(struct grpc_conn *c, const uint8_t *data, size_t len)
{
    c->in_session = 1;
    ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
    c->in_session = 0;
    if (c->closing || n >= 0)
        return;
    char message[200];
    snprintf(message, sizeof(message), "HTTP/2 error from %s: %s", c->t->authority,
             nghttp2_strerror((int)n));
    nghttp2_session_terminate_session(c->session, NGHTTP2_PROTOCOL_ERROR);
    conn_flush(c);
    conn_fail(c, message);
}

static void conn_ready(struct grpc_conn *c)
{
    struct grpc_transport *t = c->t;
    c->state = CONN_READY;
    uv_timer_stop(&c->connect_timer);
    t->last_error[0] = '\0';
    /* With TLS, ALPN "h2" has already proved an HTTP/2 peer. In cleartext a TCP connect
     * proves nothing (an HTTP/1.1 port accepts too): the backend counts as reached once
     * its SETTINGS frame arrives (conn_on_settings). */
    if (c->tls)
        conn_reached(c);
    for (int i = 0; i < MAX_IN_FLIGHT; i++) {
        struct grpc_call *call = &t->calls[i];
        if (call->req && call->conn == c && call->stream_id == 0)
            call_submit(call);
    }
    conn_flush(c);
}

static void conn_handshake(struct grpc_conn *c)
{
    char message[256];
    int rc = tls_handshake(c->tls);
    if (rc == TLS_WANT) {
        conn_flush(c);
        return;
    }
    if (rc != TLS_OK) {
        /* The alert OpenSSL queued tells the server why; send it before closing. */
        conn_flush(c);
        snprintf(message, sizeof(message), "TLS handshake with %s failed: %s", c->t->authority,
                 tls_error(c->tls));
        conn_fail(c, message);
        return;
    }
    if (strcmp(tls_alpn_selected(c->tls), "h2") != 0) {
        snprintf(message, sizeof(message), "TLS: %s did not negotiate HTTP/2 (ALPN h2)",
                 c->t->authority);
        conn_fail(c, message);
        return;
    }
    conn_ready(c);
}

static void conn_feed_tls(struct grpc_conn *c, const uint8_t *data, size_t len)
{
    char message[256];
    if (tls_feed(c->tls, data, len) != 0) {
        conn_fail(c, tls_error(c->tls));
        return;
    }
    if (c->state == CONN_HANDSHAKING) {
        conn_handshake(c);
        if (c->closing || c->state != CONN_READY)
            return;
    }
    /* data has been copied into the TLS input: rbuf is free for plaintext. */
    for (;;) {
        ssize_t n = tls_read(c->tls, c->rbuf, sizeof(c->rbuf));
        if (n == 0)
            return;
        if (n == TLS_CLOSED) {
            snprintf(message, sizeof(message), "connection closed by backend %s", c->t->authority);
            conn_fail(c, message);
            return;
        }
        if (n < 0) {
            snprintf(message, sizeof(message), "TLS error from %s: %s", c->t->authority,
                     tls_error(c->tls));
            conn_fail(c, message);
            return;
        }
        conn_feed_h2(c, c->rbuf, (size_t)n);
        if (c->closing)
            return;
    }
}

static void conn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct grpc_conn *c = handle->data;
    (void)suggested;
    *buf = uv_buf_init((char *)c->rbuf, sizeof(c->rbuf));
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct grpc_conn *c = stream->data;
    char message[200];
    if (nread == 0 || c->closing)
        return;
    c->last_read_ms = uv_now(c->t->loop);
    if (nread < 0) {
        const char *during = c->state == CONN_HANDSHAKING ? " during the TLS handshake" : "";
        if (nread == UV_EOF)
            snprintf(message, sizeof(message), "connection closed by backend %s%s",
                     c->t->authority, during);
        else
            snprintf(message, sizeof(message), "connection to %s lost%s: %s", c->t->authority,
                     during, uv_strerror((int)nread));
        conn_fail(c, message);
        return;
    }
    if (c->tls)
        conn_feed_tls(c, (const uint8_t *)buf->base, (size_t)nread);
    else
        conn_feed_h2(c, (const uint8_t *)buf->base, (size_t)nread);
    conn_flush(c);
}

/* ---------------------------------------------------------------- connection life */

static void conn_free(struct grpc_conn *c)
{
    struct grpc_transport *t = c->t;
    for (struct grpc_conn **p = &t->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    nghttp2_session_del(c->session);
    tls_conn_free(c->tls);
    uv_freeaddrinfo(c->addrs);
    free(c);
    transport_maybe_free(t);
}

static void conn_unref(struct grpc_conn *c)
{
    if (--c->refs == 0 && c->closing)
        conn_free(c);
}

static void conn_on_handle_closed(uv_handle_t *handle)
{
    struct grpc_conn *c = handle->data;
    if (handle == (uv_handle_t *)&c->tcp)
        c->tcp_state = HANDLE_NONE;
    conn_unref(c);
}

/* Closes the handles; the connection is freed once libuv has called back for all. */
static void conn_close(struct grpc_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->t->conn == c)
        c->t->conn = NULL;
    uv_timer_stop(&c->connect_timer);
    uv_close((uv_handle_t *)&c->connect_timer, conn_on_handle_closed);
    if (c->tcp_state == HANDLE_OPEN) {
        c->tcp_state = HANDLE_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, conn_on_handle_closed);
    }
    if (c->resolving)
        uv_cancel((uv_req_t *)&c->resolve);
}

/* The connection is unusable: every request on it is answered RETRY with message. A
 * ready connection closed while it carried nothing is a backend retiring it, not a
 * failure. */
static void conn_fail(struct grpc_conn *c, const char *message)
{
    struct grpc_transport *t = c->t;
    if (c->closing)
        return;
    int current = t->conn == c;
    int idle = c->state == CONN_READY && c->spoke && !conn_has_calls(c) && !c->silent;
    conn_close(c);
    if (current && idle)
        connection_retired(t, message);
    else if (current)
        transport_lost(t, message);
    struct exporter_result res;
    set_result(&res, EXPORTER_RETRY, 0, "%s", message);
    for (int i = 0; i < MAX_IN_FLIGHT; i++) {
        struct grpc_call *call = &t->calls[i];
        if (call->req && call->conn == c)
            call_finish(call, &res);
    }
}

static void conn_on_connect_timeout(uv_timer_t *timer)
{
    struct grpc_conn *c = timer->data;
    char message[200];
    snprintf(message, sizeof(message), "connecting to %s timed out", c->t->authority);
    conn_fail(c, message);
}

static void conn_on_attempt_closed(uv_handle_t *handle)
{
    struct grpc_conn *c = handle->data;
    c->tcp_state = HANDLE_NONE;
    if (!c->closing)
        conn_try_next(c);
    conn_unref(c);
}

/* This address did not work: close its socket, then try the next address. */
static void conn_attempt_failed(struct grpc_conn *c, int status)
{
    snprintf(c->last_error, sizeof(c->last_error), "connect to %s failed: %s", c->addr_text,
             uv_strerror(status));
    c->tcp_state = HANDLE_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, conn_on_attempt_closed);
}

static void conn_on_connected(uv_connect_t *req, int status)
{
    struct grpc_conn *c = req->data;
    char err[256];
    if (status == UV_ECANCELED || c->closing)
        return;
    if (status < 0) {
        conn_attempt_failed(c, status);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_on_read);
    if (rc < 0) {
        snprintf(err, sizeof(err), "connection to %s: %s", c->addr_text, uv_strerror(rc));
        conn_fail(c, err);
        return;
    }
    if (!c->t->use_tls) {
        conn_ready(c);
        return;
    }
    c->tls = tls_conn_new(c->t->tls_ctx, c->t->server_name, "h2", err, sizeof(err));
    if (!c->tls) {
        conn_fail(c, err);
        return;
    }
    c->state = CONN_HANDSHAKING;
    conn_handshake(c);
}

static void format_addr(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(out, len, "%s:%d", ip, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(out, len, "[%s]:%d", ip, port);
    }
}

static void conn_try_next(struct grpc_conn *c)
{
    while (c->addr_next) {
        struct addrinfo *ai = c->addr_next;
        c->addr_next = ai->ai_next;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        format_addr(ai->ai_addr, c->addr_text, sizeof(c->addr_text));
        int rc = uv_tcp_init(c->t->loop, &c->tcp);
        if (rc < 0) {
            snprintf(c->last_error, sizeof(c->last_error), "connect to %s failed: %s",
                     c->addr_text, uv_strerror(rc));
            continue;
        }
        c->tcp.data = c;
        c->tcp_state = HANDLE_OPEN;
        c->refs++;
        c->connect_req.data = c;
        rc = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr, conn_on_connected);
        if (rc < 0)
            conn_attempt_failed(c, rc);
        return;
    }
    conn_fail(c, c->last_error[0] ? c->last_error : "no address to connect to");
}

static void conn_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct grpc_conn *c = req->data;
    c->resolving = 0;
    if (c->closing) {
        uv_freeaddrinfo(res);
    } else if (status < 0) {
        char message[200];
        snprintf(message, sizeof(message), "cannot resolve %s: %s", c->t->host,
                 uv_strerror(status));
        conn_fail(c, message);
    } else {
        c->addrs = res;
        c->addr_next = res;
        c->state = CONN_CONNECTING;
        conn_try_next(c);
    }
    conn_unref(c);
}

static struct grpc_conn *conn_new(struct grpc_transport *t)
{
    struct grpc_conn *c = calloc(1, sizeof(*c));
    nghttp2_session_callbacks *cbs = NULL;
    if (!c || nghttp2_session_callbacks_new(&cbs) != 0) {
        snprintf(t->last_error, sizeof(t->last_error), "out of memory");
        free(c);
        return NULL;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int rc = nghttp2_session_client_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        snprintf(t->last_error, sizeof(t->last_error), "cannot create an HTTP/2 session: %s",
                 nghttp2_strerror(rc));
        free(c);
        return NULL;
    }
    nghttp2_settings_entry settings[] = { { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 } };
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 1);

    c->t = t;
    c->resolve.data = c;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_protocol = IPPROTO_TCP };
    rc = uv_getaddrinfo(t->loop, &c->resolve, conn_on_resolved, t->host, t->port, &hints);
    if (rc < 0) {
        snprintf(t->last_error, sizeof(t->last_error), "cannot resolve %s: %s", t->host,
                 uv_strerror(rc));
        nghttp2_session_del(c->session);
        free(c);
        return NULL;
    }
    c->resolving = 1;
    c->refs = 2; /* the resolution and the connect timer */
    uv_timer_init(t->loop, &c->connect_timer);
    c->connect_timer.data = c;
    uv_timer_start(&c->connect_timer, conn_on_connect_timeout,
                   t->timeout_ms ? t->timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS, 0);
    c->next = t->conns;
    t->conns = c;
    return c;
}

/* ---------------------------------------------------------------- configuration */

/* http(s)://host[:port][/path]: the path means nothing to gRPC and is ignored. */
static int parse_endpoint(struct grpc_transport *t, const char *key, const char *url, char *err,
                          size_t errlen)
{
    const char *p;
    if (!url || !url[0]) {
        snprintf(err, errlen, "%s.endpoint: empty; the gRPC exporter needs http(s)://host:port",
                 key);
        return -1;
    }
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        t->use_tls = 1;
    } else {
        snprintf(err, errlen, "%s.endpoint: must start with http:// or https://, got \"%s\"", key,
                 url);
        return -1;
    }
    size_t len = strcspn(p, "/?#");
    if (memchr(p, '@', len)) {
        snprintf(err, errlen, "%s.endpoint: credentials in the URL are not supported "
                              "(use OTEL_EXPORTER_OTLP_HEADERS)", key);
        return -1;
    }
    struct netaddr_hostport hp;
    const char *why = netaddr_split(p, len, NETADDR_PORT_OPTIONAL, &hp);
    if (why) {
        snprintf(err, errlen, "%s.endpoint: %s in \"%s\"", key, why, url);
        return -1;
    }
    if (hp.port)
        snprintf(t->port, sizeof(t->port), "%u", hp.port);
    else
        snprintf(t->port, sizeof(t->port), "%s", t->use_tls ? PORT_HTTPS : PORT_HTTP);
    size_t host_len = strlen(hp.host);
    t->host = strdup(hp.host);
    t->authority = malloc(host_len + sizeof(t->port) + 4);
    if (!t->host || !t->authority) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (hp.is_ipv6)
        sprintf(t->authority, "[%s]:%s", t->host, t->port);
    else
        sprintf(t->authority, "%s:%s", t->host, t->port);
    return 0;
}

/* Names this transport sets itself, or that HTTP/2 forbids. */
static int reserved_header(const char *name)
{
    static const char *const reserved[] = {
        "content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host",
    };
    if (name[0] == ':')
        return 1;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(name, reserved[i]) == 0)
            return 1;
    }
    return 0;
}

/* Copies cfg's headers with lower-case names (HTTP/2 requires them). Messages name
 * the header, never its value. */
static int copy_headers(struct grpc_transport *t, const struct export_target *cfg, char *err,
                        size_t errlen)
{
    t->headers = calloc(cfg->headers_count ? cfg->headers_count : 1, sizeof(*t->headers));
    t->nva = calloc(cfg->headers_count + 16, sizeof(*t->nva));
    if (!t->headers || !t->nva) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->headers_count; i++) {
        struct grpc_header *h = &t->headers[t->headers_count];
        h->name = strdup(cfg->headers[i].key);
        h->value = strdup(cfg->headers[i].value);
        if (!h->name || !h->value) {
            free(h->name);
            free(h->value);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        t->headers_count++;
        for (char *q = h->name; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (!nghttp2_check_header_name((const uint8_t *)h->name, strlen(h->name))) {
            snprintf(err, errlen, "exporter header \"%s\": not a valid HTTP/2 header name",
                     h->name);
            return -1;
        }
        if (reserved_header(h->name)) {
            snprintf(err, errlen, "exporter header \"%s\": set by the gRPC exporter itself",
                     h->name);
            return -1;
        }
        if (!nghttp2_check_header_value((const uint8_t *)h->value, strlen(h->value))) {
            snprintf(err, errlen, "exporter header \"%s\": the value is not a valid header value",
                     h->name);
            return -1;
        }
        if (strcmp(h->name, "user-agent") == 0)
            t->custom_user_agent = 1;
    }
    return 0;
}

static void transport_free(struct grpc_transport *t)
{
    for (size_t i = 0; i < t->headers_count; i++) {
        free(t->headers[i].name);
        free(t->headers[i].value);
    }
    free(t->headers);
    free(t->nva);
    free(t->host);
    free(t->authority);
    tls_ctx_free(t->tls_ctx);
    free(t);
}

static void transport_maybe_free(struct grpc_transport *t)
{
    if (t->destroyed && !t->conns && t->timers_open == 0)
        transport_free(t);
}

static void call_on_timer_closed(uv_handle_t *handle)
{
    struct grpc_call *call = handle->data;
    struct grpc_transport *t = call->t;
    t->timers_open--;
    transport_maybe_free(t);
}

/* ---------------------------------------------------------------- the interface */

static struct exporter_transport *grpc_create(uv_loop_t *loop, const struct export_target *cfg,
                                              struct exporter *e, char *err, size_t errlen)
{
    struct grpc_transport *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->loop = loop;
    t->e = e;
    t->warn_limiter = (struct log_limiter)LOG_LIMITER_INIT(LOG_INTERVAL_MS);
    t->info_limiter = (struct log_limiter)LOG_LIMITER_INIT(LOG_INTERVAL_MS);
    if (parse_endpoint(t, cfg->key, cfg->endpoint, err, errlen) != 0 ||
        copy_headers(t, cfg, err, errlen) != 0) {
        transport_free(t);
        return NULL;
    }
    t->server_name = cfg->tls_server_name ? cfg->tls_server_name : t->host;
    if (t->use_tls) {
        t->tls_ctx = tls_ctx_new(cfg->certificate, cfg->insecure, err, errlen);
        if (!t->tls_ctx) {
            transport_free(t);
            return NULL;
        }
    }
    t->timeout_ms = cfg->timeout_ms;
    t->reconnect_cap_ms = cfg->retry_max_interval_ms;
    if (t->timeout_ms)
        format_grpc_timeout(t->timeout_ms, t->grpc_timeout, sizeof(t->grpc_timeout));
    for (int i = 0; i < MAX_IN_FLIGHT; i++) {
        struct grpc_call *call = &t->calls[i];
        call->t = t;
        call->grpc_status = -1;
        uv_timer_init(loop, &call->timer);
        call->timer.data = call;
        t->timers_open++;
    }
    return (struct exporter_transport *)t;
}

static int grpc_capacity(const struct exporter_transport *base)
{
    (void)base;
    return MAX_IN_FLIGHT;
}

static int grpc_send(struct exporter_transport *base, struct exporter_request *req)
{
    struct grpc_transport *t = (struct grpc_transport *)base;
    struct grpc_call *call = NULL;
    struct exporter_result res;
    for (int i = 0; i < MAX_IN_FLIGHT && !call; i++) {
        if (!t->calls[i].req)
            call = &t->calls[i];
    }
    /* More than capacity() in flight is the caller's mistake; say so rather than queue. */
    if (!call || t->destroyed)
        return -1;
    call->req = req;
    call->grpc_status = -1;
    call->started_ms = uv_now(t->loop);
    call->prefix[0] = req->encoding && req->encoding[0] ? 1 : 0;
    call->prefix[1] = (uint8_t)(req->len >> 24);
    call->prefix[2] = (uint8_t)(req->len >> 16);
    call->prefix[3] = (uint8_t)(req->len >> 8);
    call->prefix[4] = (uint8_t)req->len;
    if (req->len > UINT32_MAX) {
        set_result(&res, EXPORTER_FAIL, 0, "request of %zu bytes is over gRPC's 4 GiB limit",
                   req->len);
        call_defer(call, &res);
        return 0;
    }
    if (t->timeout_ms)
        uv_timer_start(&call->timer, call_on_timeout, t->timeout_ms, 0);

    if (!t->conn) {
        uint64_t now = uv_now(t->loop);
        if (now < t->reconnect_at) {
            set_result(&res, EXPORTER_RETRY, 0, "not connected (%s); waiting before reconnecting",
                       t->last_error[0] ? t->last_error : "connection failed");
            /* Come back exactly when the next connection may start: a backoff of the
             * batch's own on top would stretch recovery past retry.maxInterval. */
            res.retry_after_ms = t->reconnect_at - now;
            call_defer(call, &res);
            return 0;
        }
        t->conn = conn_new(t);
        if (!t->conn) {
            set_result(&res, EXPORTER_RETRY, 0, "%s", t->last_error);
            call_defer(call, &res);
            return 0;
        }
    }
    call->conn = t->conn;
    if (t->conn->state == CONN_READY) {
        call_submit(call);
        conn_flush(t->conn);
    }
    return 0;
}

static void grpc_destroy(struct exporter_transport *base)
{
    struct grpc_transport *t = (struct grpc_transport *)base;
    struct exporter_result res;
    if (t->destroyed)
        return;
    t->destroyed = 1;
    set_result(&res, EXPORTER_RETRY, 0, "shutdown");
    for (int i = 0; i < MAX_IN_FLIGHT; i++) {
        if (t->calls[i].req)
            call_finish(&t->calls[i], &res);
    }
    for (struct grpc_conn *c = t->conns; c; c = c->next) {
        if (c->closing)
            continue;
        /* GOAWAY (and close_notify) go out with this flush: uv_write writes at once
         * when nothing else is queued, before uv_close cancels what is left. */
        if (c->state == CONN_READY) {
            nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
            conn_flush(c);
        }
        conn_close(c);
    }
    for (int i = 0; i < MAX_IN_FLIGHT; i++) {
        uv_timer_stop(&t->calls[i].timer);
        uv_close((uv_handle_t *)&t->calls[i].timer, call_on_timer_closed);
    }
}

const struct exporter_transport_ops exporter_grpc_ops = {
    .name = "grpc",
    .create = grpc_create,
    .capacity = grpc_capacity,
    .send = grpc_send,
    .destroy = grpc_destroy,
};
