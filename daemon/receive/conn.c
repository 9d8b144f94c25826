/* conn.c — one server connection on a libuv stream (see conn.h).
 *
 * The stream handle lives inside the connection, so a connection is one allocation
 * (plus the write being assembled and the writes in flight), freed once libuv has
 * closed both of its handles. */
#include "receive/conn.h"

#include <stdlib.h>
#include <string.h>

enum timer_use { TIMER_PROTOCOL, TIMER_DEADLINE, TIMER_LINGER };

/* One write: the request and the bytes it carries. */
struct out {
    uv_write_t req;
    struct conn *conn;
    size_t len, cap;
    uint8_t data[];
};

struct conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t timer;
    enum timer_use timer_use;
    struct conn_group *group;
    struct conn *prev, *next;
    const struct conn_ops *ops;
    void *proto;
    size_t max_pending_write;
    struct out *out;              /* the write being assembled */
    struct out *spare;            /* a small buffer written at once, kept for the next */
    unsigned writes;              /* queued writes whose callback has not run */
    uv_shutdown_t shutdown_req;
    size_t lingered_bytes;
    int handles_open;
    int reading;
    int paused;
    int ending;                   /* closing asked for: at once or after the writes */
    int linger;                   /* ending: linger once the writes are done */
    int lingering;                /* our side is shut down; discarding what still comes */
    int closing;                  /* uv_close called */
};

static uv_stream_t *conn_stream(struct conn *c)
{
    return (uv_stream_t *)&c->h;
}

static void group_unlink(struct conn *c)
{
    struct conn_group *g = c->group;
    if (c->prev)
        c->prev->next = c->next;
    else if (g->head == c)
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    if (c->ops && c->ops->free)
        c->ops->free(c);
    struct conn_group *g = c->group;
    free(c->out);
    free(c->spare);
    free(c);
    g->count--;
    if (g->closed)
        g->closed(g->ctx);
}

static void group_add(struct conn *c, struct conn_group *g, uv_loop_t *loop)
{
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    c->group = g;
    c->next = g->head;
    if (g->head)
        g->head->prev = c;
    g->head = c;
    g->count++;
}

/* A client closed before it became a connection. */
static void on_unaccepted_closed(uv_handle_t *h)
{
    free(h->data);
}

enum conn_accept_result conn_accept(uv_stream_t *server, struct conn_group *g,
                                    struct conn **out)
{
    *out = NULL;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return CONN_FAILED;
    int is_tcp = server->type == UV_TCP;
    int rc = is_tcp ? uv_tcp_init(server->loop, &c->h.tcp) : uv_pipe_init(server->loop, &c->h.pipe, 0);
    if (rc < 0) {
        free(c);
        return CONN_FAILED;
    }
    conn_stream(c)->data = c;
    rc = uv_accept(server, conn_stream(c));
    if (rc < 0 || (g->max && g->count >= g->max)) {
        uv_close((uv_handle_t *)conn_stream(c), on_unaccepted_closed);
        return rc < 0 ? CONN_FAILED : CONN_FULL;
    }
    if (is_tcp)
        uv_tcp_nodelay(&c->h.tcp, 1);
    group_add(c, g, server->loop);
    *out = c;
    return CONN_ACCEPTED;
}

struct conn *conn_adopt(uv_loop_t *loop, uv_os_sock_t fd, struct conn_group *g)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (uv_pipe_init(loop, &c->h.pipe, 0) < 0) {
        free(c);
        return NULL;
    }
    conn_stream(c)->data = c;
    if (uv_pipe_open(&c->h.pipe, fd) < 0) {
        uv_close((uv_handle_t *)conn_stream(c), on_unaccepted_closed);
        return NULL;
    }
    group_add(c, g, loop);
    return c;
}

void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->ending = 1;
    group_unlink(c);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)conn_stream(c), on_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)suggested;
    /* One loop thread, and every protocol consumes what it is given before returning:
     * one read buffer serves all connections. */
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void update_reading(struct conn *c)
{
    if (c->closing || !c->ops)
        return;
    int want = c->lingering ||
               (!c->ending && !c->paused &&
                conn_stream(c)->write_queue_size <= c->max_pending_write);
    if (want && !c->reading) {
        if (uv_read_start(conn_stream(c), on_alloc, on_read) == 0)
            c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop(conn_stream(c));
        c->reading = 0;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* A client gone mid-request takes its partial request with it. */
        conn_close(c);
        return;
    }
    if (c->lingering) {
        c->lingered_bytes += (size_t)nread;
        if (c->lingered_bytes > CONN_LINGER_MAX_BYTES)
            conn_close(c);
        return;
    }
    conn_feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

void conn_feed(struct conn *c, const uint8_t *data, size_t len)
{
    if (!c->ending && c->ops)
        c->ops->read(c, data, len);
}

void conn_serve(struct conn *c, const struct conn_ops *ops, void *proto,
                size_t max_pending_write)
{
    c->ops = ops;
    c->proto = proto;
    c->max_pending_write = max_pending_write;
    update_reading(c);
}

void *conn_proto(const struct conn *c)
{
    return c->proto;
}

uv_loop_t *conn_loop(const struct conn *c)
{
    return c->timer.loop;
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->timer_use == TIMER_PROTOCOL && c->ops && c->ops->timeout)
        c->ops->timeout(c);
    else
        conn_close(c);
}

void conn_timer(struct conn *c, uint64_t ms)
{
    if (c->ending)
        return;
    c->timer_use = TIMER_PROTOCOL;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

void conn_timer_stop(struct conn *c)
{
    if (!c->ending)
        uv_timer_stop(&c->timer);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

static void start_linger(struct conn *c)
{
    c->lingering = 1;
    if (uv_shutdown(&c->shutdown_req, conn_stream(c), on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    c->timer_use = TIMER_LINGER;
    uv_timer_start(&c->timer, on_timer, CONN_LINGER_MS, 0);
    update_reading(c);
}

/* Every queued write is done: linger or close, as asked. */
static void finish_ending(struct conn *c)
{
    if (c->linger)
        start_linger(c);
    else
        conn_close(c);
}

void conn_close_after_write(struct conn *c, int linger, uint64_t deadline_ms)
{
    if (c->ending)
        return;
    c->ending = 1;
    c->linger = linger;
    /* A client that does not read cannot keep the connection, or its slot, for ever. */
    c->timer_use = TIMER_DEADLINE;
    uv_timer_start(&c->timer, on_timer, deadline_ms, 0);
    if (c->out && conn_flush(c) < 0)
        return;
    if (c->writes == 0)
        finish_ending(c);
    else
        update_reading(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct out *o = (struct out *)req;
    struct conn *c = o->conn;
    free(o);
    c->writes--;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (!c->lingering && c->ops && c->ops->written)
        c->ops->written(c);
    if (c->closing || c->lingering)
        return;
    if (c->ending && c->writes == 0 && !c->out)
        finish_ending(c);
    else
        update_reading(c);
}

uint8_t *conn_append(struct conn *c, size_t len)
{
    if (!conn_is_open(c))
        return NULL;
    struct out *o = c->out;
    if (!o && c->spare && c->spare->cap >= len) {
        c->out = o = c->spare;
        c->spare = NULL;
        o->len = 0;
    }
    size_t used = o ? o->len : 0;
    size_t cap = o ? o->cap : 0;
    if (len > cap - used) {
        /* A whole answer usually comes in one append: the first is sized to it, so that
         * answers queued for a client that does not read cost what they weigh. */
        size_t ncap = cap ? 2 * cap : 256;
        if (ncap < used + len)
            ncap = used + len;
        struct out *n = realloc(o, sizeof(*n) + ncap);
        if (!n) {
            conn_close(c);
            return NULL;
        }
        n->len = used;
        n->cap = ncap;
        c->out = o = n;
    }
    o->len += len;
    return o->data + used;
}

/* Offers the socket what o holds when nothing is queued before it. The number of bytes
 * it took; -1 when it failed and the connection is closed. */
static ssize_t write_at_once(struct conn *c, struct out *o)
{
    if (c->writes > 0)
        return 0;
    uv_buf_t buf = uv_buf_init((char *)o->data, (unsigned)o->len);
    int n = uv_try_write(conn_stream(c), &buf, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        return 0;
    if (n < 0) {
        conn_close(c);
        return -1;
    }
    return n;
}

/* Buffers larger than this are freed once written rather than kept per connection. */
#define SPARE_MAX 4096

int conn_flush(struct conn *c)
{
    struct out *o = c->out;
    if (!conn_is_open(c))
        return -1;
    if (!o)
        return 0;
    c->out = NULL;
    ssize_t done = write_at_once(c, o);
    if (done < 0) {
        free(o);
        return -1;
    }
    if ((size_t)done == o->len) {
        if (!c->spare && o->cap <= SPARE_MAX)
            c->spare = o;
        else
            free(o);
        update_reading(c);
        return 0;
    }
    o->conn = c;
    uv_buf_t buf = uv_buf_init((char *)o->data + done, (unsigned)(o->len - (size_t)done));
    if (uv_write(&o->req, conn_stream(c), &buf, 1, on_write) < 0) {
        free(o);
        conn_close(c);
        return -1;
    }
    c->writes++;
    update_reading(c);
    return 0;
}

int conn_write(struct conn *c, const void *head, size_t head_len, const void *body,
               size_t body_len)
{
    uint8_t *p = conn_append(c, head_len + body_len);
    if (!p)
        return -1;
    memcpy(p, head, head_len);
    if (body_len)
        memcpy(p + head_len, body, body_len);
    return conn_flush(c);
}

size_t conn_pending_write(const struct conn *c)
{
    return conn_stream((struct conn *)c)->write_queue_size + (c->out ? c->out->len : 0);
}

void conn_pause_reading(struct conn *c, int paused)
{
    c->paused = paused;
    update_reading(c);
}

int conn_is_open(const struct conn *c)
{
    return !c->closing && !c->lingering;
}

int conn_is_ending(const struct conn *c)
{
    return c->ending;
}

void conn_group_stop(struct conn_group *g)
{
    struct conn *c = g->head;
    while (c) {
        struct conn *next = c->next;
        if (c->ops && c->ops->stop)
            c->ops->stop(c);
        else
            conn_close(c);
        c = next;
    }
}
