/* http1.c — the HTTP/1.1 protocol of a server connection (see http1.h; the connection
 * itself, its reading, writing and closing, is conn.c).
 *
 * Every chunk read goes through http-parser, whose callbacks collect the few headers
 * we need and the body (bounded). A complete request is handed to the handler; its
 * response is written at once. While the client does not read our responses the
 * connection stops reading, and pipelined requests wait, so a stalled client costs at
 * most max_pending_write_bytes. */
#include "receive/http1.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define HEADER_NAME_MAX 64
#define HEADER_VALUE_MAX 256
#define PATH_MAX_LEN 1024

enum header_kind { HEADER_OTHER, HEADER_CONTENT_TYPE, HEADER_CONTENT_ENCODING, HEADER_EXPECT };

struct http1_conn {
    struct conn *conn;
    http_parser parser;
    const struct http1_settings *settings;

    char path[PATH_MAX_LEN];
    size_t path_len;
    char header_name[HEADER_NAME_MAX];
    size_t header_name_len;
    enum header_kind header_kind;
    int in_value;                     /* last callback was a header value */
    char content_type[HEADER_VALUE_MAX];
    char content_encoding[HEADER_VALUE_MAX];
    char expect[HEADER_VALUE_MAX];
    size_t content_type_len, content_encoding_len, expect_len;
    size_t header_bytes;

    uint8_t *body;
    size_t body_len, body_cap;

    int close_after_write;            /* the connection ends after the current answer */
    int linger;                       /* after an error answer: drain the request, then close */
    int responded;
    int in_request;
    int is_head;                      /* the request being answered is a HEAD */
    int paused;                       /* parsing waits for the client to read our answers */
    char *pending;                    /* unparsed bytes kept while paused */
    size_t pending_len;
};

/* A connection that is closing after its last answer gets this long to take it. */
#define CLOSE_DEADLINE_MS 5000

const char *http1_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return "Unknown";
}

static void conn_fail(struct http1_conn *c, int status, const char *message);

static void conn_on_timeout(struct conn *conn)
{
    struct http1_conn *c = conn_proto(conn);
    /* Answers still unread: the client is not reading, so a 408 would only queue more. */
    if (conn_pending_write(conn) > 0 || c->paused) {
        conn_close(conn);
        return;
    }
    if (c->in_request || c->parser.nread > 0) {
        conn_fail(c, 408, "request timeout");
        return;
    }
    conn_close(conn);
}

static void conn_arm_timer(struct http1_conn *c, uint64_t ms)
{
    if (ms > 0)
        conn_timer(c->conn, ms);
}

static void conn_resume(struct http1_conn *c);

static void conn_on_written(struct conn *conn)
{
    struct http1_conn *c = conn_proto(conn);
    if (c->paused && conn_pending_write(conn) <= c->settings->max_pending_write_bytes)
        conn_resume(c);
}

void http1_respond(struct http1_conn *c, int status, const char *content_type,
                   const void *body, size_t body_len, const char *extra_headers)
{
    char head[1024];
    if (conn_is_ending(c->conn))
        return;
    c->responded = 1;
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     status, http1_reason(status), content_type, body_len,
                     c->close_after_write ? "Connection: close\r\n" : "",
                     extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        conn_close(c->conn);
        return;
    }
    /* HEAD gets the headers a GET would, with the real length, and no body. */
    if (conn_write(c->conn, head, (size_t)n, body, c->is_head ? 0 : body_len) == 0 &&
        c->close_after_write)
        conn_close_after_write(c->conn, c->linger, CLOSE_DEADLINE_MS);
}

void http1_close_after_response(struct http1_conn *c)
{
    c->close_after_write = 1;
}

/* Answers an error the connection detected itself, then closes. */
static void conn_fail(struct http1_conn *c, int status, const char *message)
{
    if (conn_is_ending(c->conn) || (c->close_after_write && c->responded))
        return;
    char body[512];
    const char *ctype = "text/plain";
    size_t len;
    c->close_after_write = 1;
    c->linger = 1;
    if (c->settings->error_body) {
        len = c->settings->error_body(status, message, body, sizeof(body), &ctype);
    } else {
        snprintf(body, sizeof(body), "%s\n", message);
        len = strlen(body);
    }
    log_write(LOG_DEBUG, c->settings->logger, "rejected HTTP request",
              (struct log_field[]){ LOG_INT("status", status), LOG_STR("reason", message) }, 2);
    http1_respond(c, status, ctype, body, len, NULL);
}

static void lower_copy(char *dst, size_t dstlen, const char *src, size_t n)
{
    if (n >= dstlen)
        n = dstlen - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[n] = '\0';
}

static int on_message_begin(http_parser *p)
{
    struct http1_conn *c = p->data;
    c->in_request = 1;
    c->responded = 0;
    c->path_len = 0;
    c->header_name_len = 0;
    c->header_kind = HEADER_OTHER;
    c->in_value = 0;
    c->content_type_len = c->content_encoding_len = c->expect_len = 0;
    c->header_bytes = 0;
    c->body_len = 0;
    conn_arm_timer(c, c->settings->request_timeout_ms);
    return 0;
}

static int header_budget(struct http1_conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->settings->max_header_bytes) {
        conn_fail(c, 431, "request headers too large");
        return -1;
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http1_conn *c = p->data;
    if (header_budget(c, n) < 0)
        return -1;
    if (c->path_len + n >= sizeof(c->path)) {
        conn_fail(c, 431, "request URL too long");
        return -1;
    }
    memcpy(c->path + c->path_len, at, n);
    c->path_len += n;
    return 0;
}

static void append_value(char *dst, size_t *len, size_t cap, const char *at, size_t n)
{
    if (*len + n >= cap)
        n = cap - 1 - *len;
    memcpy(dst + *len, at, n);
    *len += n;
}

static enum header_kind classify_header(const char *name, size_t n)
{
    if (n == 12 && strncasecmp(name, "content-type", 12) == 0)
        return HEADER_CONTENT_TYPE;
    if (n == 16 && strncasecmp(name, "content-encoding", 16) == 0)
        return HEADER_CONTENT_ENCODING;
    if (n == 6 && strncasecmp(name, "expect", 6) == 0)
        return HEADER_EXPECT;
    return HEADER_OTHER;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http1_conn *c = p->data;
    if (header_budget(c, n) < 0)
        return -1;
    if (c->in_value) {
        c->header_name_len = 0;
        c->in_value = 0;
    }
    if (c->header_name_len + n < sizeof(c->header_name)) {
        memcpy(c->header_name + c->header_name_len, at, n);
        c->header_name_len += n;
    } else {
        /* A name this long is no header we read; keep its length past any we match. */
        c->header_name_len = sizeof(c->header_name) - 1;
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http1_conn *c = p->data;
    if (header_budget(c, n) < 0)
        return -1;
    if (!c->in_value) {
        c->in_value = 1;
        c->header_kind = classify_header(c->header_name, c->header_name_len);
    }
    switch (c->header_kind) {
    case HEADER_CONTENT_TYPE:
        append_value(c->content_type, &c->content_type_len, sizeof(c->content_type), at, n);
        break;
    case HEADER_CONTENT_ENCODING:
        append_value(c->content_encoding, &c->content_encoding_len,
                     sizeof(c->content_encoding), at, n);
        break;
    case HEADER_EXPECT:
        append_value(c->expect, &c->expect_len, sizeof(c->expect), at, n);
        break;
    case HEADER_OTHER:
        break;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http1_conn *c = p->data;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->settings->max_body_bytes) {
        conn_fail(c, c->settings->body_too_large_status, "request body too large");
        return -1;
    }
    c->expect[c->expect_len] = '\0';
    if (c->expect_len && strcasecmp(c->expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(c->conn, cont, sizeof(cont) - 1, NULL, 0);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http1_conn *c = p->data;
    if (n > c->settings->max_body_bytes - c->body_len) {
        conn_fail(c, c->settings->body_too_large_status, "request body too large");
        return -1;
    }
    if (c->body_len + n > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < c->body_len + n)
            cap *= 2;
        if (cap > c->settings->max_body_bytes)
            cap = c->settings->max_body_bytes;
        uint8_t *nb = realloc(c->body, cap);
        if (!nb) {
            conn_fail(c, 500, "out of memory");
            return -1;
        }
        c->body = nb;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

/* Media type without parameters, lower case: "application/json; charset=utf-8" → "application/json". */
static void media_type(char *dst, size_t dstlen, const char *src, size_t n)
{
    size_t end = 0;
    while (end < n && src[end] != ';')
        end++;
    size_t start = 0;
    while (start < end && isspace((unsigned char)src[start]))
        start++;
    while (end > start && isspace((unsigned char)src[end - 1]))
        end--;
    lower_copy(dst, dstlen, src + start, end - start);
}

static int on_message_complete(http_parser *p)
{
    struct http1_conn *c = p->data;
    char ctype[HEADER_VALUE_MAX], cenc[HEADER_VALUE_MAX];
    media_type(ctype, sizeof(ctype), c->content_type, c->content_type_len);
    media_type(cenc, sizeof(cenc), c->content_encoding, c->content_encoding_len);
    c->path[c->path_len] = '\0';
    char *q = strchr(c->path, '?');
    if (q)
        *q = '\0';
    if (!http_should_keep_alive(p))
        c->close_after_write = 1;
    struct http1_request req = {
        .method = http_method_str((enum http_method)p->method),
        .path = c->path,
        .content_type = ctype,
        .content_encoding = cenc,
        .body = c->body_len ? c->body : (const uint8_t *)"",
        .body_len = c->body_len,
    };
    c->in_request = 0;
    c->is_head = p->method == HTTP_HEAD;
    c->settings->handler(c->settings->ctx, c, &req);
    if (!c->responded)
        http1_respond(c, 500, "text/plain", "no response\n", 12, NULL);
    /* Large bodies are not kept between requests: memory goes back as soon as possible. */
    if (c->body_cap > 65536) {
        free(c->body);
        c->body = NULL;
        c->body_cap = 0;
    }
    c->body_len = 0;
    c->is_head = 0;
    if (c->close_after_write) {
        http_parser_pause(p, 1);
        return 0;
    }
    conn_arm_timer(c, c->settings->idle_timeout_ms);
    /* Pipelined requests are parsed no faster than the client reads the answers. */
    if (conn_pending_write(c->conn) > c->settings->max_pending_write_bytes) {
        c->paused = 1;
        http_parser_pause(p, 1);
    }
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void conn_parse(struct http1_conn *c, const char *data, size_t n)
{
    if (c->paused) {
        /* Fed while waiting for the client to read (a handover's bytes): queue them. */
        char *more = realloc(c->pending, c->pending_len + n);
        if (!more) {
            conn_close(c->conn);
            return;
        }
        memcpy(more + c->pending_len, data, n);
        c->pending = more;
        c->pending_len += n;
        return;
    }
    size_t done = http_parser_execute(&c->parser, &parser_settings, data, n);
    if (conn_is_ending(c->conn) || c->close_after_write)
        return;
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (err == HPE_PAUSED && c->paused) {
        /* Keep what is not parsed yet; conn_resume() goes on once answers are read. */
        char *rest = NULL;
        if (n > done) {
            rest = malloc(n - done);
            if (!rest) {
                conn_close(c->conn);
                return;
            }
            memcpy(rest, data + done, n - done);
        }
        free(c->pending);
        c->pending = rest;
        c->pending_len = n - done;
        conn_pause_reading(c->conn, 1);
        return;
    }
    if (c->parser.upgrade) {
        /* No protocol switch is offered: the answer given stands, then the connection ends. */
        c->close_after_write = 1;
        if (c->responded)
            conn_close_after_write(c->conn, 0, CLOSE_DEADLINE_MS);
        else
            conn_close(c->conn);
        return;
    }
    if (err != HPE_OK || done != n) {
        char msg[128];
        snprintf(msg, sizeof(msg), "malformed HTTP request: %s", http_errno_description(err));
        conn_fail(c, 400, msg);
    }
}

static void conn_resume(struct http1_conn *c)
{
    char *rest = c->pending;
    size_t len = c->pending_len;
    c->pending = NULL;
    c->pending_len = 0;
    c->paused = 0;
    http_parser_pause(&c->parser, 0);
    conn_pause_reading(c->conn, 0);
    if (len)
        conn_parse(c, rest, len);
    free(rest);
}

static void conn_on_read(struct conn *conn, const uint8_t *data, size_t len)
{
    conn_parse(conn_proto(conn), (const char *)data, len);
}

/* Answers already queued are for requests already taken in (spans, for the
 * receiver): let them go out, within the close deadline, so that clients do not send
 * them again. */
static void conn_on_stop(struct conn *conn)
{
    if (conn_pending_write(conn) > 0 && conn_is_open(conn))
        conn_close_after_write(conn, 0, CLOSE_DEADLINE_MS);
    else
        conn_close(conn);
}

static void conn_on_free(struct conn *conn)
{
    struct http1_conn *c = conn_proto(conn);
    free(c->body);
    free(c->pending);
    free(c);
}

static const struct conn_ops http1_ops = {
    .read = conn_on_read,
    .written = conn_on_written,
    .timeout = conn_on_timeout,
    .stop = conn_on_stop,
    .free = conn_on_free,
};

int http1_conn_start(struct conn *conn, const struct http1_settings *settings)
{
    struct http1_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        conn_close(conn);
        return -1;
    }
    c->conn = conn;
    c->settings = settings;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    conn_serve(conn, &http1_ops, c, settings->max_pending_write_bytes);
    conn_arm_timer(c, settings->idle_timeout_ms);
    return 0;
}
