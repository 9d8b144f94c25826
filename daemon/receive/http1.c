/* http1.c — an HTTP/1.1 server connection on a libuv stream (see http1.h).
 *
 * Reading and parsing happen together: every chunk read goes through http-parser,
 * whose callbacks collect the few headers we need and the body (bounded). A complete
 * request is handed to the handler; its response is queued with uv_write. While the
 * client does not read our responses the connection stops reading, so a stalled
 * client costs at most max_pending_write_bytes. */
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
    uv_stream_t *stream;
    uv_timer_t timer;
    http_parser parser;
    const struct http1_settings *settings;
    struct http1_conn *prev, *next;   /* all open connections, for http1_close_all */

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

    int handles_open;                 /* stream + timer, closed asynchronously */
    int closing;
    int close_after_write;
    int linger;                       /* after an error answer: drain the request, then close */
    int lingering;                    /* our side is shut down; discarding what still comes */
    size_t lingered_bytes;
    uv_shutdown_t shutdown_req;
    int reading;
    int responded;
    int in_request;
    int is_head;                      /* the request being answered is a HEAD */
    int paused;                       /* parsing waits for the client to read our answers */
    char *pending;                    /* unparsed bytes kept while paused */
    size_t pending_len;
};

static struct http1_conn *all_conns;

struct write_req {
    uv_write_t req;
    struct http1_conn *conn;
    size_t len;
    char data[];
};

#define LINGER_TIMEOUT_MS 2000
#define LINGER_MAX_BYTES (8u << 20)
/* A connection that is closing after its last answer gets this long to take it: a
 * client that does not read cannot keep the connection, or its slot, for ever. */
#define CLOSE_DEADLINE_MS 5000

static void conn_close(struct http1_conn *c);
static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

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

static void list_remove(struct http1_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (all_conns == c)
        all_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void conn_on_handle_closed(uv_handle_t *h)
{
    struct http1_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    if (c->settings->closed)
        c->settings->closed(c->settings->closed_ctx);
    free(c->stream);
    free(c->body);
    free(c->pending);
    free(c);
}

static void conn_close(struct http1_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    list_remove(c);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
    uv_close((uv_handle_t *)c->stream, conn_on_handle_closed);
}

static void conn_on_close_deadline(uv_timer_t *t)
{
    conn_close(t->data);
}

static void conn_fail(struct http1_conn *c, int status, const char *message);

static void conn_on_timeout(uv_timer_t *t)
{
    struct http1_conn *c = t->data;
    /* Answers still unread: the client is not reading, so a 408 would only queue more. */
    if (c->stream->write_queue_size > 0 || c->paused) {
        conn_close(c);
        return;
    }
    if (c->in_request || c->parser.nread > 0) {
        conn_fail(c, 408, "request timeout");
        return;
    }
    conn_close(c);
}

static void conn_arm_timer(struct http1_conn *c, uint64_t ms)
{
    if (!c->closing && ms > 0)
        uv_timer_start(&c->timer, conn_on_timeout, ms, 0);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)suggested;
    /* One loop thread and synchronous parsing: one static read buffer serves all. */
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void conn_update_reading(struct http1_conn *c)
{
    if (c->closing)
        return;
    int want = c->lingering || (!c->close_after_write && !c->paused &&
               c->stream->write_queue_size <= c->settings->max_pending_write_bytes);
    if (want && !c->reading) {
        if (uv_read_start(c->stream, conn_alloc, conn_on_read) == 0)
            c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop(c->stream);
        c->reading = 0;
    }
}

static void conn_on_linger_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Closing right after an early error answer (413 on Content-Length, say) would reset a
 * client still sending its body before it reads the answer. So the write side is shut
 * down and what the client still sends is read and discarded, for a bounded time and
 * amount, before the connection closes. */
static void conn_start_linger(struct http1_conn *c)
{
    c->lingering = 1;
    if (uv_shutdown(&c->shutdown_req, c->stream, conn_on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, conn_on_linger_timeout, LINGER_TIMEOUT_MS, 0);
    conn_update_reading(c);
}

static void conn_resume(struct http1_conn *c);

static void conn_on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct http1_conn *c = w->conn;
    free(w);
    if (c->closing || c->lingering)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->close_after_write && c->stream->write_queue_size == 0) {
        if (c->linger)
            conn_start_linger(c);
        else
            conn_close(c);
        return;
    }
    if (c->paused && c->stream->write_queue_size <= c->settings->max_pending_write_bytes)
        conn_resume(c);
    conn_update_reading(c);
}

static void conn_write(struct http1_conn *c, const char *head, size_t head_len,
                       const void *body, size_t body_len)
{
    struct write_req *w = malloc(sizeof(*w) + head_len + body_len);
    if (!w) {
        conn_close(c);
        return;
    }
    w->conn = c;
    w->len = head_len + body_len;
    memcpy(w->data, head, head_len);
    if (body_len)
        memcpy(w->data + head_len, body, body_len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
    if (uv_write(&w->req, c->stream, &buf, 1, conn_on_write) < 0) {
        free(w);
        conn_close(c);
        return;
    }
    conn_update_reading(c);
}

void http1_respond(struct http1_conn *c, int status, const char *content_type,
                   const void *body, size_t body_len, const char *extra_headers)
{
    char head[1024];
    if (c->closing || c->lingering)
        return;
    c->responded = 1;
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     status, http1_reason(status), content_type, body_len,
                     c->close_after_write ? "Connection: close\r\n" : "",
                     extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        conn_close(c);
        return;
    }
    /* HEAD gets the headers a GET would, with the real length, and no body. */
    conn_write(c, head, (size_t)n, body, c->is_head ? 0 : body_len);
    if (c->close_after_write && !c->closing && !c->lingering)
        uv_timer_start(&c->timer, conn_on_close_deadline, CLOSE_DEADLINE_MS, 0);
}

void http1_close_after_response(struct http1_conn *c)
{
    c->close_after_write = 1;
}

/* Answers an error the connection detected itself, then closes. */
static void conn_fail(struct http1_conn *c, int status, const char *message)
{
    if (c->closing || c->lingering || (c->close_after_write && c->responded))
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
        conn_write(c, cont, sizeof(cont) - 1, NULL, 0);
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
    if (c->stream->write_queue_size > c->settings->max_pending_write_bytes) {
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

static void conn_feed(struct http1_conn *c, const char *data, size_t n)
{
    size_t done = http_parser_execute(&c->parser, &parser_settings, data, n);
    if (c->closing || c->close_after_write)
        return;
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (err == HPE_PAUSED && c->paused) {
        /* Keep what is not parsed yet; conn_resume() goes on once answers are read. */
        char *rest = NULL;
        if (n > done) {
            rest = malloc(n - done);
            if (!rest) {
                conn_close(c);
                return;
            }
            memcpy(rest, data + done, n - done);
        }
        free(c->pending);
        c->pending = rest;
        c->pending_len = n - done;
        conn_update_reading(c);
        return;
    }
    if (c->parser.upgrade) {
        /* No protocol switch is offered: the answer given stands, then the connection ends. */
        c->close_after_write = 1;
        if (!c->responded)
            conn_close(c);
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
    if (len)
        conn_feed(c, rest, len);
    free(rest);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct http1_conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* A client gone mid-request takes its partial body with it: conn_close frees it. */
        conn_close(c);
        return;
    }
    if (c->lingering) {
        c->lingered_bytes += (size_t)nread;
        if (c->lingered_bytes > LINGER_MAX_BYTES)
            conn_close(c);
        return;
    }
    conn_feed(c, buf->base, (size_t)nread);
}

int http1_conn_start(uv_stream_t *stream, const uint8_t *initial, size_t initial_len,
                     const struct http1_settings *settings)
{
    struct http1_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        uv_close((uv_handle_t *)stream, (uv_close_cb)free);
        if (settings->closed)
            settings->closed(settings->closed_ctx);
        return -1;
    }
    c->stream = stream;
    c->settings = settings;
    stream->data = c;
    uv_timer_init(stream->loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = all_conns;
    if (all_conns)
        all_conns->prev = c;
    all_conns = c;
    conn_arm_timer(c, settings->idle_timeout_ms);
    conn_update_reading(c);
    if (initial_len)
        conn_feed(c, (const char *)initial, initial_len);
    return 0;
}

void http1_close_all(const struct http1_settings *settings)
{
    struct http1_conn *c = all_conns;
    while (c) {
        struct http1_conn *next = c->next;
        if (c->settings == settings) {
            /* Answers already queued are for spans already taken in: let them go out
             * (within the close deadline) so that clients do not send them again. */
            if (c->stream->write_queue_size > 0 && !c->closing && !c->lingering) {
                c->close_after_write = 1;
                conn_update_reading(c);
                uv_timer_start(&c->timer, conn_on_close_deadline, CLOSE_DEADLINE_MS, 0);
            } else {
                conn_close(c);
            }
        }
        c = next;
    }
}
