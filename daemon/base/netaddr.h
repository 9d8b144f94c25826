/* netaddr.h — the one "host:port" parser: listen addresses, the authority of exporter
 * endpoints and of spanrelay-emit's URLs all go through netaddr_split, so a text the
 * configuration check accepts is a text start-up accepts.
 *
 * Listen addresses take numeric hosts only ("127.0.0.1:4317", "[::1]:4317",
 * "0.0.0.0:13133"): a sidecar listens on addresses it owns; a name such as "localhost"
 * maps to 127.0.0.1, ::1 or both depending on /etc/hosts and gai.conf, so which socket
 * it would bind is not knowable from the file, and --check-config could not promise
 * that start-up agrees. Endpoints (where the sidecar connects) take names. */
#ifndef SPANRELAY_NETADDR_H
#define SPANRELAY_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/* Longest DNS name (253) and the terminating NUL; IPv6 literals are shorter. */
#define NETADDR_HOST_MAX 254

struct netaddr_hostport {
    char host[NETADDR_HOST_MAX]; /* without brackets */
    uint16_t port;               /* 1..65535, or 0 when absent and optional */
    int is_ipv6;                 /* host was a bracketed IPv6 literal */
};

enum netaddr_port { NETADDR_PORT_REQUIRED, NETADDR_PORT_OPTIONAL };

/* Splits the len bytes at s: "host:port" or "[ipv6]:port", and with
 * NETADDR_PORT_OPTIONAL also "host" and "[ipv6]". A host is a DNS name or an IPv4
 * address (letters, digits, '.', '-'); brackets hold a valid IPv6 address.
 * Returns NULL, or a phrase saying what is wrong ("port must be from 1 to 65535"),
 * fit to follow "key: " in a message. */
const char *netaddr_split(const char *s, size_t len, enum netaddr_port port,
                          struct netaddr_hostport *out);

/* A listen address: netaddr_split with a required port and a numeric host. Returns
 * NULL with *out filled, or what is wrong. */
const char *netaddr_parse(const char *s, struct sockaddr_storage *out);

/* The form listen addresses must have, for messages. */
#define NETADDR_LISTEN_FORM \
    "a numeric address and a port, such as 127.0.0.1:4317 or [::1]:4317"

/* Binds and listens on s. On failure returns a negative libuv error (UV_EINVAL when
 * s does not parse) and the handle is left unopened or closed by the caller. */
int netaddr_listen_tcp(uv_loop_t *loop, uv_tcp_t *tcp, const char *s, int backlog,
                       uv_connection_cb cb);

#endif
