/* netaddr.h — "host:port" listen addresses for the TCP listeners.
 *
 * Numeric hosts only ("127.0.0.1:4317", "[::1]:4317", "0.0.0.0:13133"): a sidecar
 * listens on addresses it owns, so no name lookup ever blocks start-up. */
#ifndef SPANRELAY_NETADDR_H
#define SPANRELAY_NETADDR_H

#include <sys/socket.h>
#include <uv.h>

/* 0, or -1 when s is not a numeric host:port with a port in 1..65535. */
int netaddr_parse(const char *s, struct sockaddr_storage *out);

/* Binds and listens on s. On failure returns a negative libuv error and the handle
 * is left unopened or closed by the caller. */
int netaddr_listen_tcp(uv_loop_t *loop, uv_tcp_t *tcp, const char *s, int backlog,
                       uv_connection_cb cb);

#endif
