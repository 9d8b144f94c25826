/* receiver.c — the OTLP listeners and the first bytes of every connection.
 *
 * A connection (conn.h) is counted against receiver.maxConnections from accept to
 * close. On listeners that serve both protocols its first 24 bytes are kept: the
 * HTTP/2 connection preface means OTLP/gRPC, anything else is parsed as HTTP/1.1
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
#include "receive/receiver_protocols.h"
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
    struct receiver *r;
    uint8_t buf[PREFACE_LEN];
    size_t len;
};

struct receiver {
    uv_loop_t *loop;
    const struct config *cfg;
    struct listener listeners[3];
    int nlisteners;
    int handles_open;          /* listeners not yet closed */
    struct conn_group conns;   /* every connection, sniffing or served */
    int stopping;
    char *socket_path;
    struct http1_settings http;
    struct receiver_grpc_settings grpc;
    struct log_limiter refuse_limiter;
};

static void receiver_maybe_free(struct receiver *r)
{
    if (r->stopping && r->handles_open == 0 && r->conns.count == 0) {
        free(r->socket_path);
        free(r);
    }
}

static void conn_closed(void *ctx)
{
    struct receiver *r = ctx;
    stats.connections_open--;
    receiver_maybe_free(r);
}

static void serve(struct receiver *r, struct conn *c, int is_grpc)
{
    if (is_grpc)
        receiver_grpc_start(c, &r->grpc);
    else
        http1_conn_start(c, &r->http);
}

/* The first bytes tell the protocol: the connection is handed to it with every byte
 * read so far. */
static void sniff_on_read(struct conn *c, const uint8_t *data, size_t len)
{
    struct sniff *s = conn_proto(c);
    size_t take = len < PREFACE_LEN - s->len ? len : PREFACE_LEN - s->len;
    memcpy(s->buf + s->len, data, take);
    s->len += take;
    int is_grpc;
    /* A request that diverges from the preface early is HTTP/1.1; one that diverges
     * late ("PRI * HTTP/2.0" then junk) is a broken HTTP/2 client, answered with GOAWAY. */
    if (memcmp(s->buf, PREFACE, s->len) != 0)
        is_grpc = s->len >= 4 && memcmp(s->buf, "PRI ", 4) == 0;
    else if (s->len == PREFACE_LEN)
        is_grpc = 1;
    else
        return;
    uint8_t first[PREFACE_LEN];
    size_t first_len = s->len;
    memcpy(first, s->buf, first_len);
    struct receiver *r = s->r;
    free(s);
    conn_serve(c, NULL, NULL, 0);
    serve(r, c, is_grpc);
    conn_feed(c, first, first_len);
    conn_feed(c, data + take, len - take);
}

static void sniff_on_timeout(struct conn *c)
{
    log_write(LOG_DEBUG, "spanrelay.receiver", "connection sent nothing in time, closing", NULL, 0);
    conn_close(c);
}

static void sniff_free(struct conn *c)
{
    free(conn_proto(c));
}

static const struct conn_ops sniff_ops = {
    .read = sniff_on_read,
    .timeout = sniff_on_timeout,
    .stop = conn_close,
    .free = sniff_free,
};

static void sniff_start(struct receiver *r, struct conn *c)
{
    struct sniff *s = calloc(1, sizeof(*s));
    if (!s) {
        conn_close(c);
        return;
    }
    s->r = r;
    conn_serve(c, &sniff_ops, s, 0);
    conn_timer(c, r->cfg->receiver_request_timeout_ms);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct receiver *r = l->r;
    if (status < 0 || r->stopping)
        return;
    struct conn *c;
    enum conn_accept_result rc = conn_accept(server, &r->conns, &c);
    if (rc == CONN_FULL) {
        stats.connections_refused++;
        log_write_limited(&r->refuse_limiter, LOG_WARNING, "spanrelay.receiver",
                          "connection refused: receiver.maxConnections reached",
                          (struct log_field[]){ LOG_INT("max_connections",
                                                        r->cfg->receiver_max_connections) },
                          1);
        return;
    }
    if (rc != CONN_ACCEPTED)
        return;
    stats.connections_open++;
    stats.connections_accepted++;
    switch (l->mode) {
    case LISTEN_SNIFF: sniff_start(r, c); break;
    case LISTEN_GRPC: serve(r, c, 1); break;
    case LISTEN_HTTP: serve(r, c, 0); break;
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
    r->conns = (struct conn_group){
        .max = cfg->receiver_max_connections,
        .closed = conn_closed,
        .ctx = r,
    };
    receiver_http_settings(&r->http, cfg, pipeline);
    r->grpc = (struct receiver_grpc_settings){ cfg, pipeline };

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
    conn_group_stop(&r->conns);
    /* Freed here when nothing was open, else by the last close callback. */
    receiver_maybe_free(r);
}
