/* netaddr.c — parsing and listening on numeric "host:port" addresses. */
#include "base/netaddr.h"

#include <stdlib.h>
#include <string.h>

int netaddr_parse(const char *s, struct sockaddr_storage *out)
{
    char host[64];
    const char *port_str;
    size_t host_len;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -1;
        host_len = (size_t)(end - s - 1);
        if (host_len >= sizeof(host))
            return -1;
        memcpy(host, s + 1, host_len);
        port_str = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon)
            return -1;
        host_len = (size_t)(colon - s);
        if (host_len >= sizeof(host) || memchr(s, ':', host_len))
            return -1;
        memcpy(host, s, host_len);
        port_str = colon + 1;
    }
    host[host_len] = '\0';

    char *endp;
    long port = strtol(port_str, &endp, 10);
    if (*port_str == '\0' || *endp != '\0' || port < 1 || port > 65535)
        return -1;

    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return -1;
}

int netaddr_listen_tcp(uv_loop_t *loop, uv_tcp_t *tcp, const char *s, int backlog,
                       uv_connection_cb cb)
{
    struct sockaddr_storage addr;
    if (netaddr_parse(s, &addr) < 0)
        return UV_EINVAL;
    int rc = uv_tcp_init(loop, tcp);
    if (rc < 0)
        return rc;
    rc = uv_tcp_bind(tcp, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)tcp, backlog, cb);
    return rc;
}
