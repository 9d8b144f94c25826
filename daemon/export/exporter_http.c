/* exporter_http.c — the OTLP/HTTP (protobuf) transport: one POST per request to the
 * traces URL, over libcurl's multi-socket API driven by the daemon's libuv loop (a
 * uv_poll_t per socket curl asks to watch, one uv_timer_t for curl's timeouts), so
 * nothing blocks and no second loop or thread exists (DESIGN.md decision 9).
 *
 * Contract (exporter_transport.h): send() only queues; every request is answered
 * exactly once, from a loop callback. Answers follow the OTLP/HTTP specification:
 * 2xx is OK (partial_success decoded from the body), 429/502/503/504 RETRY with
 * Retry-After, 413 TOO_LARGE, any other status FAIL, and a transport error (refused,
 * reset, timeout, TLS) RETRY with connected = 0 and curl's own error text. The request body is posted
 * in place, never copied. Header values never reach a message or a log line.
 *
 * Reconnecting: after a connection-level failure the transport holds the requests it is
 * given, rather than answering RETRY at once, until the loop time that
 * the delay exporter_reconnect_delay_ms() returns has passed (never more than
 * retry.maxInterval); then it sends one as a probe and the rest
 * once the backend has answered. A dead backend thus sees one connection attempt per
 * backoff step, and exporter.c gets no RETRY for requests that never left.
 * exporter_transport_state() is told when the backend first answers, when it answers
 * again after failures, and at each failure that sets a new reconnect time. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#include "export/curl_lib.h"
#include "export/exporter_transport.h"
#include "base/log.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#ifndef SPANRELAY_VERSION
#define SPANRELAY_VERSION "0.0.0"
#endif

/* Requests in flight at once. Each holds one HTTP/1.1 connection (no pipelining), so
 * this is also the connection count to the backend. Four hide a backend round trip
 * behind the next batches while keeping the exporter's in-flight bodies (up to four
 * times exporter.maxBatchBytes) and the backend's per-client load small. */
#define HTTP_CAPACITY 4

/* What is kept of a response body: enough for any partial_success or google.rpc.Status
 * a backend sends; the rest of a larger body is read and dropped. */
#define HTTP_RESPONSE_MAX (64 * 1024)

/* Longest Retry-After taken as given: a day. Larger values say no more and would
 * overflow loop-time arithmetic downstream. */
#define HTTP_RETRY_AFTER_MAX_MS (24ull * 3600 * 1000)

/* Characters of a non-protobuf error body quoted in a message. */
#define HTTP_DETAIL_MAX 200

#define LOGGER "otel.exporter"
#define USER_AGENT "spanrelay/" SPANRELAY_VERSION

enum xfer_state { XFER_FREE, XFER_WAITING, XFER_ACTIVE };

/* What is known of the backend: nothing yet, it answers, or the last attempt to reach
 * it failed at connection level. */
enum link_state { LINK_UNKNOWN, LINK_UP, LINK_DOWN };

/* Index of the header list sent for each Content-Encoding. */
enum { ENC_NONE, ENC_GZIP, ENC_ZSTD, ENC_COUNT };

struct http_transport;

/* One request slot with its own easy handle, reused from request to request. */
struct http_xfer {
    struct http_transport *t;
    CURL *easy;
    enum xfer_state state;
    struct exporter_request *req;
    int encoding;                /* ENC_*, or -1 when req->encoding is not supported */
    int probe;                   /* started while the link was down */
    uint64_t generation;         /* t->generation when started */
    uint64_t retry_after_ms;     /* from the response's Retry-After */
    uint8_t *resp;               /* response body, at most HTTP_RESPONSE_MAX bytes */
    size_t resp_len;
    size_t resp_cap;
    struct http_xfer *next_waiting;
    char errbuf[CURL_ERROR_SIZE];
};

/* A socket curl asked us to watch. */
struct http_socket {
    uv_poll_t poll;
    struct http_transport *t;
    curl_socket_t fd;
    struct http_socket *prev;
    struct http_socket *next;
};

/* The handle create() returns: struct exporter_transport itself is never defined, the
 * pointer is converted at the ops boundary. */
struct http_transport {
    uv_loop_t *loop;
    struct exporter *e;
    char *url;
    struct curl_slist *connect_to;    /* with a TLS server name: where url's host really is */
    CURLM *multi;
    struct curl_slist *headers[ENC_COUNT];
    struct http_xfer xfers[HTTP_CAPACITY];
    struct http_xfer *waiting_head;   /* FIFO of requests not started yet */
    struct http_xfer *waiting_tail;
    struct http_socket *sockets;      /* every uv_poll_t still open */
    uv_timer_t curl_timer;            /* curl's timeout */
    uv_timer_t kick_timer;            /* starts waiting requests, from the loop */
    enum link_state link;
    uint64_t generation;              /* bumped at each connection-level failure counted */
    uint64_t reconnect_at;            /* loop time before which the link stays down */
    uint64_t reconnect_cap_ms;        /* exporter.retry.maxInterval */
    int probe_active;
    int closing;
    int open_handles;                 /* uv handles not yet through their close callback */
};

/* Set by the first create(), before any other function here runs. */
static const struct curl_lib *curl;

static struct log_limiter curl_errors_limiter = LOG_LIMITER_INIT(10000);

static void on_kick(uv_timer_t *timer);

static struct http_transport *from_handle(struct exporter_transport *et)
{
    return (struct http_transport *)et;
}

static void set_message(struct exporter_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_message(struct exporter_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void warn_curl(const char *what, const char *detail)
{
    struct log_field fields[] = { LOG_STR("error", detail) };
    log_write_limited(&curl_errors_limiter, LOG_WARNING, LOGGER, what, fields, 1);
}

/* --- configuration ------------------------------------------------------------ */

/* The traces URL per the OTLP exporter specification: a signal endpoint as is, a base
 * endpoint with "v1/traces" appended as one more path segment. */
static char *traces_url(const struct export_target *cfg)
{
    const char *base = cfg->endpoint;
    size_t len = strlen(base);
    const char *suffix = "/v1/traces";
    if (cfg->endpoint_is_signal)
        suffix = "";
    else if (len > 0 && base[len - 1] == '/')
        suffix = "v1/traces";
    size_t size = len + strlen(suffix) + 1;
    char *url = malloc(size);
    if (!url)
        return NULL;
    snprintf(url, size, "%s%s", base, suffix);
    return url;
}

static int check_url(const char *url)
{
    CURLU *u = curl->url();
    char *scheme = NULL;
    int ok = 0;
    if (!u)
        return -1;
    if (curl->url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl->url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
        ok = strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
    curl->free(scheme);
    curl->url_cleanup(u);
    return ok ? 0 : -1;
}

/* With a TLS server name (a gateway found by DNS), curl must verify and send the name
 * while connecting to the address: the URL gets the name, and CURLOPT_CONNECT_TO sends
 * the connection to the address and port the URL had. Plain http:// is left alone. */
static int apply_server_name(struct http_transport *t, const char *server_name)
{
    CURLU *u = curl->url();
    char *scheme = NULL, *host = NULL, *port = NULL, *url = NULL;
    int rc = -1;
    if (!u)
        return -1;
    if (curl->url_set(u, CURLUPART_URL, t->url, 0) != CURLUE_OK ||
        curl->url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "https") != 0) {
        rc = 0;
        goto out;
    }
    if (curl->url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl->url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl->url_set(u, CURLUPART_HOST, server_name, 0) != CURLUE_OK ||
        curl->url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
        goto out;
    /* "::address:port": every host and port of the URL goes to the address. */
    size_t size = strlen(host) + strlen(port) + 4;
    char *entry = malloc(size);
    char *copy = strdup(url);
    if (!entry || !copy) {
        free(entry);
        free(copy);
        goto out;
    }
    snprintf(entry, size, "::%s:%s", host, port);
    struct curl_slist *list = curl->slist_append(NULL, entry);
    free(entry);
    if (!list) {
        free(copy);
        goto out;
    }
    t->connect_to = list;
    free(t->url);
    t->url = copy;
    rc = 0;
out:
    curl->free(scheme);
    curl->free(host);
    curl->free(port);
    curl->free(url);
    curl->url_cleanup(u);
    return rc;
}

static int check_certificate(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        set_error(err, errlen, "%s: cannot read the CA certificate file %s (%s)", key, path,
                  strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* A configured header name must be a plain token and its value one line: anything else
 * would let a setting forge more headers. */
static int header_is_valid(const struct config_kv *kv)
{
    if (!kv->key || kv->key[0] == '\0' || !kv->value)
        return 0;
    for (const char *p = kv->key; *p; p++)
        if (*p == ':' || *p <= ' ' || *p == 0x7f)
            return 0;
    for (const char *p = kv->value; *p; p++)
        if (*p == '\r' || *p == '\n')
            return 0;
    return 1;
}

static struct curl_slist *append_header(struct curl_slist *list, const char *line)
{
    struct curl_slist *next = curl->slist_append(list, line);
    if (!next)
        curl->slist_free_all(list);
    return next;
}

/* curl sends "Name;" as a header with an empty value ("Name:" would remove it). */
static struct curl_slist *append_configured(struct curl_slist *list,
                                           const struct config_kv *kv)
{
    size_t size = strlen(kv->key) + strlen(kv->value) + 3;
    char *line = malloc(size);
    if (!line) {
        curl->slist_free_all(list);
        return NULL;
    }
    if (kv->value[0] == '\0')
        snprintf(line, size, "%s;", kv->key);
    else
        snprintf(line, size, "%s: %s", kv->key, kv->value);
    list = append_header(list, line);
    free(line);
    return list;
}

static struct curl_slist *build_headers(const struct export_target *cfg,
                                         const char *encoding_line)
{
    struct curl_slist *list = append_header(NULL, "Content-Type: application/x-protobuf");
    /* Without this curl waits for "100 Continue" before a large body: a round trip
     * lost, or a full second against servers that never send it. */
    if (list)
        list = append_header(list, "Expect:");
    if (list && encoding_line)
        list = append_header(list, encoding_line);
    for (size_t i = 0; list && i < cfg->headers_count; i++)
        list = append_configured(list, &cfg->headers[i]);
    return list;
}

static int build_header_lists(struct http_transport *t, const struct export_target *cfg,
                              char *err, size_t errlen)
{
    static const char *const encoding_lines[ENC_COUNT] = {
        NULL, "Content-Encoding: gzip", "Content-Encoding: zstd"
    };
    for (size_t i = 0; i < cfg->headers_count; i++) {
        if (!header_is_valid(&cfg->headers[i])) {
            /* Naming the position only: the text may be a secret. */
            set_error(err, errlen, "%s: header %zu is not a valid HTTP header",
                      cfg->headers_key, i + 1);
            return -1;
        }
    }
    for (int i = 0; i < ENC_COUNT; i++) {
        t->headers[i] = build_headers(cfg, encoding_lines[i]);
        if (!t->headers[i]) {
            set_error(err, errlen, "exporter: out of memory");
            return -1;
        }
    }
    return 0;
}

/* --- responses ---------------------------------------------------------------- */

static int reserve_response(struct http_xfer *x, size_t need)
{
    if (need <= x->resp_cap)
        return 0;
    size_t cap = x->resp_cap ? x->resp_cap * 2 : 1024;
    while (cap < need)
        cap *= 2;
    if (cap > HTTP_RESPONSE_MAX)
        cap = HTTP_RESPONSE_MAX;
    uint8_t *p = realloc(x->resp, cap);
    if (!p)
        return -1;
    x->resp = p;
    x->resp_cap = cap;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct http_xfer *x = arg;
    size_t n = size * nmemb;
    size_t keep = HTTP_RESPONSE_MAX - x->resp_len;
    if (keep > n)
        keep = n;
    /* A body that cannot be kept is still consumed: the status alone decides. */
    if (keep > 0 && reserve_response(x, x->resp_len + keep) == 0) {
        memcpy(x->resp + x->resp_len, data, keep);
        x->resp_len += keep;
    }
    return n;
}

/* Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3); 0 when unreadable. */
static uint64_t parse_retry_after(const char *value, size_t len)
{
    char buf[64];
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, value, len);
    buf[len] = '\0';

    uint64_t seconds;
    if (strspn(buf, "0123456789") == len) {
        seconds = strtoull(buf, NULL, 10);
    } else {
        time_t when = curl->getdate(buf, NULL);
        time_t now = time(NULL);
        if (when == -1 || when <= now)
            return 0;
        seconds = (uint64_t)(when - now);
    }
    if (seconds > HTTP_RETRY_AFTER_MAX_MS / 1000)
        return HTTP_RETRY_AFTER_MAX_MS;
    return seconds * 1000;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    static const char name[] = "retry-after:";
    struct http_xfer *x = arg;
    size_t n = size * nmemb;
    /* A status line starts a new response (after a 1xx): forget the previous one's. */
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0)
        x->retry_after_ms = 0;
    else if (n >= sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0)
        x->retry_after_ms = parse_retry_after(line + sizeof(name) - 1, n - (sizeof(name) - 1));
    return n;
}

static int is_protobuf(const char *content_type)
{
    static const char type[] = "application/x-protobuf";
    if (!content_type || strncasecmp(content_type, type, sizeof(type) - 1) != 0)
        return 0;
    char next = content_type[sizeof(type) - 1];
    return next == '\0' || next == ';' || next == ' ';
}

/* The body as text for a message: printable ASCII kept, whitespace runs folded into
 * one space, other bytes dropped. */
static void printable_text(const uint8_t *body, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    int space = 1;
    for (size_t i = 0; i < len && n + 1 < outlen && n < HTTP_DETAIL_MAX; i++) {
        uint8_t c = body[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (!space)
                out[n++] = ' ';
            space = 1;
        } else if (c > ' ' && c < 0x7f) {
            out[n++] = (char)c;
            space = 0;
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* What the body says about a failed request: google.rpc.Status.message when it is a
 * protobuf Status, else its text. */
static void error_detail(const struct http_xfer *x, const char *content_type,
                         char *out, size_t outlen)
{
    out[0] = '\0';
    if (x->resp_len == 0)
        return;
    if (is_protobuf(content_type)) {
        Google__Rpc__Status *st = google__rpc__status__unpack(NULL, x->resp_len, x->resp);
        if (st) {
            if (st->message && st->message[0])
                snprintf(out, outlen, "%s", st->message);
            google__rpc__status__free_unpacked(st, NULL);
            if (out[0])
                return;
        }
    }
    printable_text(x->resp, x->resp_len, out, outlen);
}

/* An empty or undecodable 2xx body is a full success (the specification asks clients
 * to accept it), so nothing is said about it. */
static void read_partial_success(const struct http_xfer *x, struct exporter_result *res)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp;
    if (x->resp_len == 0)
        return;
    resp = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
        NULL, x->resp_len, x->resp);
    if (!resp)
        return;
    if (resp->partial_success) {
        res->rejected = resp->partial_success->rejected_spans;
        if (resp->partial_success->error_message)
            set_message(res, "%s", resp->partial_success->error_message);
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
        resp, NULL);
}

static int status_is_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

static void read_response(struct http_xfer *x, struct exporter_result *res)
{
    long status = 0;
    char *content_type = NULL;
    char detail[HTTP_DETAIL_MAX + 1];

    curl->easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl->easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &content_type);
    res->connected = 1;
    if (status >= 200 && status < 300) {
        res->outcome = EXPORTER_OK;
        read_partial_success(x, res);
        return;
    }
    if (status_is_retryable(status)) {
        res->outcome = EXPORTER_RETRY;
        res->retry_after_ms = x->retry_after_ms;
    } else if (status == 413) {
        res->outcome = EXPORTER_TOO_LARGE;
    } else {
        res->outcome = EXPORTER_FAIL;
    }
    error_detail(x, content_type, detail, sizeof(detail));
    if (detail[0])
        set_message(res, "HTTP %ld: %s", status, detail);
    else
        set_message(res, "HTTP %ld", status);
}

static void read_transport_error(struct http_xfer *x, CURLcode code,
                                 struct exporter_result *res)
{
    const char *detail = x->errbuf[0] ? x->errbuf : curl->easy_strerror(code);
    res->outcome = EXPORTER_RETRY;
    res->connected = 0;
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        res->timed_out = 1;
        set_message(res, "timeout: %s", detail);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        set_message(res, "TLS certificate verification failed: %s", detail);
        break;
    case CURLE_SSL_CACERT_BADFILE:
        set_message(res, "TLS CA certificate file unusable: %s", detail);
        break;
    case CURLE_SSL_CONNECT_ERROR:
        set_message(res, "TLS handshake failed: %s", detail);
        break;
    default:
        set_message(res, "%s", detail);
        break;
    }
}

/* --- link state and answers --------------------------------------------------- */

static void kick(struct http_transport *t, uint64_t delay_ms)
{
    uv_timer_start(&t->kick_timer, on_kick, delay_ms, 0);
}

static void link_up(struct http_transport *t)
{
    if (t->link == LINK_UP)
        return;
    t->link = LINK_UP;
    exporter_transport_state(t->e, 1, "");
    if (t->waiting_head)
        kick(t, 0);
}

/* Only the first failure of a generation counts: transfers that were already under way
 * when the link went down fail for the same reason and must not push the backoff. */
static void link_down(struct http_transport *t, uint64_t generation, const char *error)
{
    if (generation != t->generation)
        return;
    t->generation++;
    t->link = LINK_DOWN;

    uint64_t now = uv_now(t->loop);
    uint64_t wait = exporter_reconnect_delay_ms(t->e);
    /* The delay is capped at retry.maxInterval by contract; holding to that cap here
     * means a wrong answer can never stall the exporter for longer. */
    if (wait > t->reconnect_cap_ms)
        wait = t->reconnect_cap_ms;
    t->reconnect_at = now + wait;
    exporter_transport_state(t->e, 0, error);
}

static void release(struct http_xfer *x)
{
    x->state = XFER_FREE;
    x->req = NULL;
    x->next_waiting = NULL;
}

/* Frees the slot before answering, so exporter.c may send again from its callback. */
static void answer(struct http_xfer *x, const struct exporter_result *res)
{
    struct http_transport *t = x->t;
    struct exporter_request *req = x->req;
    release(x);
    exporter_transport_done(t->e, req, res);
}

static void answer_now(struct http_xfer *x, enum exporter_outcome outcome, const char *message)
{
    struct exporter_result res;
    memset(&res, 0, sizeof(res));
    res.outcome = outcome;
    res.connected = x->t->link == LINK_UP;
    set_message(&res, "%s", message);
    answer(x, &res);
}

static void finish(struct http_xfer *x, CURLcode code)
{
    struct http_transport *t = x->t;
    struct exporter_result res;
    memset(&res, 0, sizeof(res));
    if (code == CURLE_OK)
        read_response(x, &res);
    else
        read_transport_error(x, code, &res);

    if (x->probe)
        t->probe_active = 0;
    if (res.connected)
        link_up(t);
    else
        link_down(t, x->generation, res.message);
    /* A destroy() from the state callback has answered x already. */
    if (t->closing)
        return;
    answer(x, &res);
}

/* Called after curl ran: answers every finished transfer. exporter.c may send or even
 * destroy the transport from its callback, hence the closing checks. */
static void check_done(struct http_transport *t)
{
    CURLMsg *msg;
    int left;
    while (!t->closing && (msg = curl->multi_info_read(t->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        void *priv = NULL;
        curl->easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        curl->multi_remove_handle(t->multi, easy);
        finish(priv, code);
    }
    if (!t->closing && t->waiting_head)
        kick(t, 0);
}

/* --- starting requests -------------------------------------------------------- */

static void start(struct http_xfer *x)
{
    struct http_transport *t = x->t;
    const struct exporter_request *req = x->req;
    /* With a NULL body curl would read the body from stdin. */
    const char *body = req->body ? (const char *)req->body : "";

    x->errbuf[0] = '\0';
    x->resp_len = 0;
    x->retry_after_ms = 0;
    x->generation = t->generation;
    x->probe = t->link == LINK_DOWN;
    if (x->probe)
        t->probe_active = 1;
    curl->easy_setopt(x->easy, CURLOPT_POSTFIELDS, body);
    curl->easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
    curl->easy_setopt(x->easy, CURLOPT_HTTPHEADER, t->headers[x->encoding]);

    CURLMcode rc = curl->multi_add_handle(t->multi, x->easy);
    if (rc != CURLM_OK) {
        warn_curl("cannot start an export request", curl->multi_strerror(rc));
        if (x->probe)
            t->probe_active = 0;
        answer_now(x, EXPORTER_RETRY, curl->multi_strerror(rc));
        return;
    }
    x->state = XFER_ACTIVE;
}

static struct http_xfer *dequeue(struct http_transport *t)
{
    struct http_xfer *x = t->waiting_head;
    t->waiting_head = x->next_waiting;
    if (!t->waiting_head)
        t->waiting_tail = NULL;
    x->next_waiting = NULL;
    return x;
}

static void on_kick(uv_timer_t *timer)
{
    struct http_transport *t = timer->data;
    while (!t->closing && t->waiting_head) {
        struct http_xfer *x = t->waiting_head;
        if (x->encoding < 0) {
            answer_now(dequeue(t), EXPORTER_FAIL, "unsupported Content-Encoding");
            continue;
        }
        if (t->link == LINK_DOWN) {
            if (t->probe_active)
                return;
            uint64_t now = uv_now(t->loop);
            if (now < t->reconnect_at) {
                kick(t, t->reconnect_at - now);
                return;
            }
        }
        start(dequeue(t));
    }
}

static int encoding_index(const char *encoding)
{
    if (!encoding || encoding[0] == '\0')
        return ENC_NONE;
    if (strcmp(encoding, "gzip") == 0)
        return ENC_GZIP;
    if (strcmp(encoding, "zstd") == 0)
        return ENC_ZSTD;
    return -1;
}

/* --- curl's sockets and timer on the loop ------------------------------------- */

static void maybe_free(struct http_transport *t)
{
    if (t->closing && t->open_handles == 0)
        free(t);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct http_transport *t = handle->data;
    t->open_handles--;
    maybe_free(t);
}

static void on_socket_closed(uv_handle_t *handle)
{
    struct http_socket *s = handle->data;
    struct http_transport *t = s->t;
    free(s);
    t->open_handles--;
    maybe_free(t);
}

static void close_socket(struct http_socket *s)
{
    struct http_transport *t = s->t;
    if (s->prev)
        s->prev->next = s->next;
    else
        t->sockets = s->next;
    if (s->next)
        s->next->prev = s->prev;
    curl->multi_assign(t->multi, s->fd, NULL);
    uv_close((uv_handle_t *)&s->poll, on_socket_closed);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct http_socket *s = poll->data;
    struct http_transport *t = s->t;
    curl_socket_t fd = s->fd;
    int flags = 0;
    int running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    /* s may be closed from inside curl (CURL_POLL_REMOVE): not touched past here. */
    CURLMcode rc = curl->multi_socket_action(t->multi, fd, flags, &running);
    if (rc != CURLM_OK)
        warn_curl("curl socket action failed", curl->multi_strerror(rc));
    check_done(t);
}

static struct http_socket *open_socket(struct http_transport *t, curl_socket_t fd)
{
    struct http_socket *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (uv_poll_init_socket(t->loop, &s->poll, fd) != 0) {
        free(s);
        return NULL;
    }
    s->poll.data = s;
    s->t = t;
    s->fd = fd;
    s->next = t->sockets;
    if (t->sockets)
        t->sockets->prev = s;
    t->sockets = s;
    t->open_handles++;
    curl->multi_assign(t->multi, fd, s);
    return s;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *socketp)
{
    struct http_transport *t = arg;
    struct http_socket *s = socketp;
    int events = 0;
    (void)easy;

    if (what == CURL_POLL_REMOVE) {
        if (s)
            close_socket(s);
        return 0;
    }
    if (t->closing)
        return 0;
    if (!s) {
        s = open_socket(t, fd);
        if (!s)
            return -1;
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_curl_timeout(uv_timer_t *timer)
{
    struct http_transport *t = timer->data;
    int running;
    CURLMcode rc = curl->multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    if (rc != CURLM_OK)
        warn_curl("curl timeout action failed", curl->multi_strerror(rc));
    check_done(t);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
    struct http_transport *t = arg;
    (void)multi;
    if (t->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&t->curl_timer);
    else
        uv_timer_start(&t->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* --- create / destroy --------------------------------------------------------- */

static CURLcode setup_easy(struct http_xfer *x, const struct export_target *cfg)
{
    CURL *h = x->easy;
    long timeout_ms = (long)cfg->timeout_ms;
    long http11 = CURL_HTTP_VERSION_1_1;
    long tls12 = CURL_SSLVERSION_TLSv1_2;
    CURLcode rc;

    if ((rc = curl->easy_setopt(h, CURLOPT_URL, x->t->url)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_HTTP_VERSION, http11)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_PRIVATE, (void *)x)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_WRITEDATA, (void *)x)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_HEADERDATA, (void *)x)) != CURLE_OK ||
        (rc = curl->easy_setopt(h, CURLOPT_SSLVERSION, tls12)) != CURLE_OK)
        return rc;
    if (cfg->certificate && cfg->certificate[0] &&
        (rc = curl->easy_setopt(h, CURLOPT_CAINFO, cfg->certificate)) != CURLE_OK)
        return rc;
    if (x->t->connect_to &&
        (rc = curl->easy_setopt(h, CURLOPT_CONNECT_TO, x->t->connect_to)) != CURLE_OK)
        return rc;
    if (cfg->insecure &&
        ((rc = curl->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L)) != CURLE_OK ||
         (rc = curl->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L)) != CURLE_OK))
        return rc;
    return CURLE_OK;
}

static int setup_multi(struct http_transport *t)
{
    CURLM *m = t->multi;
    long connections = HTTP_CAPACITY;
    if (curl->multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        curl->multi_setopt(m, CURLMOPT_SOCKETDATA, (void *)t) != CURLM_OK ||
        curl->multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        curl->multi_setopt(m, CURLMOPT_TIMERDATA, (void *)t) != CURLM_OK ||
        curl->multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, connections) != CURLM_OK ||
        curl->multi_setopt(m, CURLMOPT_MAXCONNECTS, connections) != CURLM_OK)
        return -1;
    return 0;
}

/* Frees what create() built before any uv handle existed. */
static void free_unstarted(struct http_transport *t)
{
    for (int i = 0; i < HTTP_CAPACITY; i++)
        curl->easy_cleanup(t->xfers[i].easy);
    if (t->multi)
        curl->multi_cleanup(t->multi);
    for (int i = 0; i < ENC_COUNT; i++)
        curl->slist_free_all(t->headers[i]);
    curl->slist_free_all(t->connect_to);
    free(t->url);
    free(t);
}

static struct exporter_transport *http_create(uv_loop_t *loop, const struct export_target *cfg,
                                              struct exporter *e, char *err, size_t errlen)
{
    set_error(err, errlen, "%s", "");
    curl = curl_lib_load(CURL_LIB_SONAME, err, errlen);
    if (!curl)
        return NULL;
    if (!cfg->endpoint || cfg->endpoint[0] == '\0') {
        set_error(err, errlen, "%s.endpoint: empty", cfg->key);
        return NULL;
    }
    if (cfg->certificate && cfg->certificate[0] &&
        check_certificate(cfg->certificate_key, cfg->certificate, err, errlen) != 0)
        return NULL;

    struct http_transport *t = calloc(1, sizeof(*t));
    if (!t) {
        set_error(err, errlen, "exporter: out of memory");
        return NULL;
    }
    t->loop = loop;
    t->e = e;
    t->reconnect_cap_ms = cfg->retry_max_interval_ms;
    t->url = traces_url(cfg);
    if (!t->url) {
        set_error(err, errlen, "exporter: out of memory");
        free_unstarted(t);
        return NULL;
    }
    if (check_url(t->url) != 0) {
        set_error(err, errlen, "%s.endpoint: not a valid http:// or https:// URL", cfg->key);
        free_unstarted(t);
        return NULL;
    }
    if (cfg->tls_server_name && apply_server_name(t, cfg->tls_server_name) != 0) {
        set_error(err, errlen, "%s: cannot use \"%s\" as the TLS server name", cfg->key,
                  cfg->tls_server_name);
        free_unstarted(t);
        return NULL;
    }
    if (build_header_lists(t, cfg, err, errlen) != 0) {
        free_unstarted(t);
        return NULL;
    }
    t->multi = curl->multi_init();
    if (!t->multi || setup_multi(t) != 0) {
        set_error(err, errlen, "exporter: libcurl multi handle setup failed");
        free_unstarted(t);
        return NULL;
    }
    for (int i = 0; i < HTTP_CAPACITY; i++) {
        struct http_xfer *x = &t->xfers[i];
        x->t = t;
        x->easy = curl->easy_init();
        CURLcode rc = x->easy ? setup_easy(x, cfg) : CURLE_OUT_OF_MEMORY;
        if (rc != CURLE_OK) {
            set_error(err, errlen, "exporter: libcurl: %s", curl->easy_strerror(rc));
            free_unstarted(t);
            return NULL;
        }
    }

    uv_timer_init(loop, &t->curl_timer);
    uv_timer_init(loop, &t->kick_timer);
    t->curl_timer.data = t;
    t->kick_timer.data = t;
    t->open_handles = 2;
    return (struct exporter_transport *)t;
}

static int http_capacity(const struct exporter_transport *et)
{
    (void)et;
    return HTTP_CAPACITY;
}

/* Returns -1 only when the caller breaks the contract: more requests than capacity(),
 * or a send after destroy() began (from a "shutdown" answer). */
static int http_send(struct exporter_transport *et, struct exporter_request *req)
{
    struct http_transport *t = from_handle(et);
    struct http_xfer *x = NULL;
    if (t->closing)
        return -1;
    for (int i = 0; i < HTTP_CAPACITY && !x; i++)
        if (t->xfers[i].state == XFER_FREE)
            x = &t->xfers[i];
    if (!x)
        return -1;

    x->req = req;
    x->encoding = encoding_index(req->encoding);
    x->state = XFER_WAITING;
    x->next_waiting = NULL;
    if (t->waiting_tail)
        t->waiting_tail->next_waiting = x;
    else
        t->waiting_head = x;
    t->waiting_tail = x;
    kick(t, 0);
    return 0;
}

static void http_destroy(struct exporter_transport *et)
{
    struct http_transport *t = from_handle(et);
    if (!t || t->closing)
        return;
    t->closing = 1;

    /* Sockets go first, while curl still has them open; curl's own callbacks during
     * the cleanup below then find nothing to do. */
    while (t->sockets)
        close_socket(t->sockets);
    uv_close((uv_handle_t *)&t->curl_timer, on_handle_closed);
    uv_close((uv_handle_t *)&t->kick_timer, on_handle_closed);

    for (int i = 0; i < HTTP_CAPACITY; i++) {
        struct http_xfer *x = &t->xfers[i];
        if (x->state == XFER_ACTIVE)
            curl->multi_remove_handle(t->multi, x->easy);
        if (x->state != XFER_FREE)
            answer_now(x, EXPORTER_RETRY, "shutdown");
    }
    t->waiting_head = NULL;
    t->waiting_tail = NULL;
    curl->multi_cleanup(t->multi);
    t->multi = NULL;
    for (int i = 0; i < HTTP_CAPACITY; i++) {
        curl->easy_cleanup(t->xfers[i].easy);
        t->xfers[i].easy = NULL;
        free(t->xfers[i].resp);
        t->xfers[i].resp = NULL;
    }
    for (int i = 0; i < ENC_COUNT; i++) {
        curl->slist_free_all(t->headers[i]);
        t->headers[i] = NULL;
    }
    curl->slist_free_all(t->connect_to);
    t->connect_to = NULL;
    free(t->url);
    t->url = NULL;
}

const struct exporter_transport_ops exporter_http_ops = {
    .name = "http/protobuf",
    .create = http_create,
    .capacity = http_capacity,
    .send = http_send,
    .destroy = http_destroy,
};
