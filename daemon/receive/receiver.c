/* receiver.c — the OTLP listeners and the first bytes of every connection.
 *
 * A connection is counted against receiver.maxConnections from accept to close. On
 * listeners that serve both protocols its first bytes are read into a 24-byte buffer:
 * the HTTP/2 connection preface means OTLP/gRPC, anything else is parsed as HTTP/1.1
 * (where garbage gets a 400). The bytes already read are handed to the protocol. */
#include "receive/receiver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/netaddr.h"
#include "receive/receiver_conn.h"
#include "base/stats.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24

enum listen_mode { LISTEN_SNIFF, LISTEN_GRPC, LISTEN_HTTP };

struct listener {
    union {
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    int is_pipe;
    int open;
    enum listen_mode mode;
    struct receiver *r;
};

struct sniff {
    uv_stream_t *stream;
    uv_timer_t timer;
    struct receiver *r;
    struct sniff *prev, *next;
    uint8_t buf[PREFACE_LEN];
    size_t len;
    int handles_open;
};

struct receiver {
    uv_loop_t *loop;
    const struct config *cfg;
    struct listener listeners[3];
    int nlisteners;
    int handles_open;          /* listeners not yet closed */
    struct sniff *sniffing;
    unsigned connections;
    int stopping;
    char *socket_path;
    struct http1_settings http;
    struct receiver_grpc_settings grpc;
    struct log_limiter refuse_limiter;
};

static void receiver_maybe_free(struct receiver *r)
{
    if (r->stopping && r->handles_open == 0 && r->connections == 0) {
        free(r->socket_path);
        free(r);
    }
}

static void conn_closed(void *ctx)
{
    struct receiver *r = ctx;
    r->connections--;
    stats.connections_open--;
    receiver_maybe_free(r);
}

static void sniff_on_closed(uv_handle_t *h)
{
    struct sniff *s = h->data;
    if (--s->handles_open > 0)
        return;
    free(s->stream);
    free(s);
}

static void sniff_unlink(struct sniff *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->r->sniffing = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

/* Ends a connection that never got past its first bytes. */
static void sniff_abort(struct sniff *s)
{
    struct receiver *r = s->r;
    sniff_unlink(s);
    uv_timer_stop(&s->timer);
    s->stream->data = s;
    uv_close((uv_handle_t *)&s->timer, sniff_on_closed);
    uv_close((uv_handle_t *)s->stream, sniff_on_closed);
    conn_closed(r);
}

static void sniff_hand_over(struct sniff *s, int is_grpc)
{
    struct receiver *r = s->r;
    uv_stream_t *stream = s->stream;
    sniff_unlink(s);
    uv_read_stop(stream);
    uv_timer_stop(&s->timer);
    s->stream = NULL;
    s->handles_open = 1;
    uv_close((uv_handle_t *)&s->timer, sniff_on_closed);
    if (is_grpc)
        receiver_grpc_start(stream, s->buf, s->len, &r->grpc);
    else
        http1_conn_start(stream, s->buf, s->len, &r->http);
}

static void sniff_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct sniff *s = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)s->buf + s->len, (unsigned)(PREFACE_LEN - s->len));
}

static void sniff_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct sniff *s = stream->data;
    (void)buf;
    if (nread == 0)
        return;
    if (nread < 0) {
        sniff_abort(s);
        return;
    }
    s->len += (size_t)nread;
    /* A request that diverges from the preface early is HTTP/1.1; one that diverges
     * late ("PRI * HTTP/2.0" then junk) is a broken HTTP/2 client, answered with GOAWAY. */
    if (memcmp(s->buf, PREFACE, s->len) != 0) {
        sniff_hand_over(s, s->buf[0] == 'P' && s->len >= 4 && memcmp(s->buf, "PRI ", 4) == 0);
        return;
    }
    if (s->len == PREFACE_LEN)
        sniff_hand_over(s, 1);
}

static void sniff_on_timeout(uv_timer_t *t)
{
    struct sniff *s = t->data;
    log_write(LOG_DEBUG, "spanrelay.receiver", "connection sent nothing in time, closing", NULL, 0);
    sniff_abort(s);
}

static void sniff_start(struct receiver *r, uv_stream_t *stream)
{
    struct sniff *s = calloc(1, sizeof(*s));
    if (!s) {
        uv_close((uv_handle_t *)stream, (uv_close_cb)free);
        conn_closed(r);
        return;
    }
    s->stream = stream;
    s->r = r;
    stream->data = s;
    uv_timer_init(r->loop, &s->timer);
    s->timer.data = s;
    s->handles_open = 2;
    s->next = r->sniffing;
    if (r->sniffing)
        r->sniffing->prev = s;
    r->sniffing = s;
    uv_timer_start(&s->timer, sniff_on_timeout, r->cfg->receiver_request_timeout_ms, 0);
    uv_read_start(stream, sniff_alloc, sniff_on_read);
}

static uv_stream_t *accept_client(struct listener *l)
{
    uv_stream_t *client;
    if (l->is_pipe) {
        uv_pipe_t *p = malloc(sizeof(*p));
        if (!p)
            return NULL;
        uv_pipe_init(l->r->loop, p, 0);
        client = (uv_stream_t *)p;
    } else {
        uv_tcp_t *t = malloc(sizeof(*t));
        if (!t)
            return NULL;
        uv_tcp_init(l->r->loop, t);
        uv_tcp_nodelay(t, 1);
        client = (uv_stream_t *)t;
    }
    if (uv_accept((uv_stream_t *)&l->h, client) < 0) {
        uv_close((uv_handle_t *)client, (uv_close_cb)free);
        return NULL;
    }
    return client;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct receiver *r = l->r;
    if (status < 0 || r->stopping)
        return;
    uv_stream_t *client = accept_client(l);
    if (!client)
        return;
    if (r->connections >= r->cfg->receiver_max_connections) {
        stats.connections_refused++;
        log_write_limited(&r->refuse_limiter, LOG_WARNING, "spanrelay.receiver",
                          "connection refused: receiver.maxConnections reached",
                          (struct log_field[]){ LOG_INT("max_connections",
                                                        r->cfg->receiver_max_connections) },
                          1);
        uv_close((uv_handle_t *)client, (uv_close_cb)free);
        return;
    }
    r->connections++;
    stats.connections_open++;
    stats.connections_accepted++;
    switch (l->mode) {
    case LISTEN_SNIFF: sniff_start(r, client); break;
    case LISTEN_GRPC: receiver_grpc_start(client, NULL, 0, &r->grpc); break;
    case LISTEN_HTTP: http1_conn_start(client, NULL, 0, &r->http); break;
    }
}

static int mkdir_parents(const char *path, char *err, size_t errlen)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "receiver.socket: cannot create directory %s: %s", dir,
                         strerror(errno));
                return -1;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return 0;
}

/* A socket file left by a crashed run is removed; one a live process listens on is not. */
static int clear_stale_socket(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "receiver.socket: %s exists and is not a socket", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "receiver.socket: socket(): %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    if (live) {
        snprintf(err, errlen,
                 "receiver.socket: another process is listening on %s; refusing to replace it",
                 path);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "receiver.socket: cannot remove stale socket %s: %s", path,
                 strerror(errno));
        return -1;
    }
    log_write(LOG_INFO, "spanrelay.receiver", "removed stale socket file",
              (struct log_field[]){ LOG_STR("path", path) }, 1);
    return 0;
}

static struct listener *listener_add(struct receiver *r, enum listen_mode mode, int is_pipe)
{
    struct listener *l = &r->listeners[r->nlisteners++];
    l->mode = mode;
    l->is_pipe = is_pipe;
    l->r = r;
    l->h.tcp.data = l;
    return l;
}

static int listen_socket(struct receiver *r, char *err, size_t errlen)
{
    const char *path = r->cfg->receiver_socket;
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errlen, "receiver.socket: path longer than %zu bytes: %s",
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1, path);
        return -1;
    }
    if (mkdir_parents(path, err, errlen) < 0 || clear_stale_socket(path, err, errlen) < 0)
        return -1;
    struct listener *l = listener_add(r, LISTEN_SNIFF, 1);
    uv_pipe_init(r->loop, &l->h.pipe, 0);
    l->h.pipe.data = l;
    l->open = 1;
    r->handles_open++;
    int rc = uv_pipe_bind(&l->h.pipe, path);
    if (rc == 0) {
        r->socket_path = strdup(path);
        if (chmod(path, r->cfg->receiver_socket_mode) < 0)
            rc = uv_translate_sys_error(errno);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->h.pipe, 511, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "receiver.socket: cannot listen on %s: %s", path, uv_strerror(rc));
        return -1;
    }
    return 0;
}

static int listen_tcp(struct receiver *r, const char *key, const char *addr,
                      enum listen_mode mode, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    const char *why = netaddr_parse(addr, &ss);
    if (why) {
        snprintf(err, errlen, "%s: must be " NETADDR_LISTEN_FORM " (%s), got \"%s\"", key, why,
                 addr);
        return -1;
    }
    struct listener *l = listener_add(r, mode, 0);
    l->open = 1;
    r->handles_open++;
    int rc = netaddr_listen_tcp(r->loop, &l->h.tcp, addr, 511, on_connection);
    l->h.tcp.data = l;
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot listen on %s: %s", key, addr, uv_strerror(rc));
        return -1;
    }
    return 0;
}

struct receiver *receiver_start(uv_loop_t *loop, const struct config *cfg,
                                struct pipeline *pipeline, char *err, size_t errlen)
{
    struct receiver *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "receiver: out of memory");
        return NULL;
    }
    r->loop = loop;
    r->cfg = cfg;
    r->refuse_limiter = (struct log_limiter)LOG_LIMITER_INIT(10000);
    receiver_http_settings(&r->http, cfg, pipeline, conn_closed, r);
    r->grpc = (struct receiver_grpc_settings){ cfg, pipeline, conn_closed, r };

    int rc = 0;
    if (cfg->receiver_socket[0])
        rc = listen_socket(r, err, errlen);
    if (rc == 0 && cfg->receiver_grpc[0])
        rc = listen_tcp(r, "receiver.grpc", cfg->receiver_grpc, LISTEN_GRPC, err, errlen);
    if (rc == 0 && cfg->receiver_http[0])
        rc = listen_tcp(r, "receiver.http", cfg->receiver_http, LISTEN_HTTP, err, errlen);
    if (rc < 0) {
        receiver_stop(r);
        return NULL;
    }
    return r;
}

static void listener_on_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    struct receiver *r = l->r;
    r->handles_open--;
    receiver_maybe_free(r);
}

void receiver_stop(struct receiver *r)
{
    r->stopping = 1;
    for (int i = 0; i < r->nlisteners; i++) {
        struct listener *l = &r->listeners[i];
        if (l->open) {
            l->open = 0;
            uv_close((uv_handle_t *)&l->h, listener_on_closed);
        }
    }
    if (r->socket_path)
        unlink(r->socket_path);
    while (r->sniffing)
        sniff_abort(r->sniffing);
    http1_close_all(&r->http);
    receiver_grpc_close_all(&r->grpc);
    /* Freed here when nothing was open, else by the last close callback. */
    receiver_maybe_free(r);
}
