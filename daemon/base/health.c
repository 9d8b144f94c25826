/* health.c — the HTTP/1.1 server behind /health and /metrics. */
#include "base/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receive/http1.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/netaddr.h"

#define HEALTH_MAX_CONNECTIONS 64
#define HEALTH_MAX_DESTINATIONS 64

struct health_server {
    uv_tcp_t listener;
    struct health_source source;
    struct http1_settings settings;
    struct conn_group conns;
    int stopping;
};

static void health_handle(void *ctx, struct http1_conn *conn, const struct http1_request *req)
{
    struct health_server *h = ctx;
    int is_health = strcmp(req->path, "/health") == 0;
    int is_metrics = strcmp(req->path, "/metrics") == 0;
    if (!is_health && !is_metrics) {
        http1_respond(conn, 404, "text/plain", "not found\n", 10, NULL);
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http1_respond(conn, 405, "text/plain", "method not allowed\n", 19, "Allow: GET, HEAD\r\n");
        return;
    }
    size_t len = 0;
    const struct stats_destination *dests[HEALTH_MAX_DESTINATIONS];
    size_t n = h->source.destinations(h->source.arg, dests, HEALTH_MAX_DESTINATIONS);
    char *body = is_health ? metrics_render_health(dests, n, &len)
                           : metrics_render_prometheus(dests, n, &len);
    if (!body) {
        http1_respond(conn, 500, "text/plain", "out of memory\n", 14, NULL);
        return;
    }
    const char *ctype = is_health ? "application/json" : "text/plain; version=0.0.4";
    http1_respond(conn, 200, ctype, body, len, NULL);
    free(body);
}

/* The server is freed once its listener and its last connection are closed. */
static void health_maybe_free(struct health_server *h)
{
    if (h->stopping == 2 && h->conns.count == 0)
        free(h);
}

static void health_conn_closed(void *ctx)
{
    health_maybe_free(ctx);
}

static void health_on_connection(uv_stream_t *server, int status)
{
    struct health_server *h = server->data;
    struct conn *c;
    if (status < 0 || h->stopping)
        return;
    /* Past HEALTH_MAX_CONNECTIONS a client is closed at once: probes open one
     * connection at a time, so more is a leak or an attack. */
    if (conn_accept(server, &h->conns, &c) == CONN_ACCEPTED)
        http1_conn_start(c, &h->settings);
}

struct health_server *health_start(uv_loop_t *loop, const char *listen,
                                   struct health_source source, char *err, size_t errlen)
{
    struct health_server *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "health: out of memory");
        return NULL;
    }
    h->source = source;
    h->settings = (struct http1_settings){
        .max_header_bytes = 8192,
        .max_body_bytes = 4096,
        .body_too_large_status = 400,
        .request_timeout_ms = 5000,
        .idle_timeout_ms = 30000,
        .max_pending_write_bytes = 256 * 1024,
        .handler = health_handle,
        .ctx = h,
        .logger = "spanrelay.health",
    };
    h->conns = (struct conn_group){
        .max = HEALTH_MAX_CONNECTIONS,
        .closed = health_conn_closed,
        .ctx = h,
    };
    h->listener.data = h;
    struct sockaddr_storage addr;
    const char *why = netaddr_parse(listen, &addr);
    if (why) {
        snprintf(err, errlen, "health.listen: must be " NETADDR_LISTEN_FORM " (%s), got \"%s\"",
                 why, listen);
        free(h);
        return NULL;
    }
    int rc = netaddr_listen_tcp(loop, &h->listener, listen, 64, health_on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "health.listen: cannot listen on %s: %s", listen, uv_strerror(rc));
        health_stop(h);
        return NULL;
    }
    return h;
}

static void health_listener_closed(uv_handle_t *handle)
{
    struct health_server *h = handle->data;
    h->stopping = 2;
    health_maybe_free(h);
}

void health_stop(struct health_server *h)
{
    h->stopping = 1;
    conn_group_stop(&h->conns);
    uv_close((uv_handle_t *)&h->listener, health_listener_closed);
}
