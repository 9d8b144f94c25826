/* netaddr.c — parsing "host:port" texts and listening on numeric addresses. */
#include "base/netaddr.h"

#include <arpa/inet.h>
#include <string.h>

static int is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-';
}

/* Decimal digits only: no sign, no spaces, no hex. */
static const char *parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0)
        return "missing port after ':'";
    if (len > 5)
        return "port must be from 1 to 65535";
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "port must be a number from 1 to 65535";
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return "port must be from 1 to 65535";
    *out = (uint16_t)v;
    return NULL;
}

static const char *split_bracketed(const char *s, size_t len, enum netaddr_port port,
                                   struct netaddr_hostport *out)
{
    const char *close = memchr(s, ']', len);
    if (!close)
        return "unterminated [IPv6 address]";
    size_t host_len = (size_t)(close - s - 1);
    struct in6_addr a6;
    if (host_len == 0 || host_len >= INET6_ADDRSTRLEN)
        return "brackets must hold an IPv6 address";
    memcpy(out->host, s + 1, host_len);
    out->host[host_len] = '\0';
    if (inet_pton(AF_INET6, out->host, &a6) != 1)
        return "brackets must hold an IPv6 address";
    out->is_ipv6 = 1;
    const char *rest = close + 1;
    size_t rest_len = len - (size_t)(rest - s);
    if (rest_len == 0)
        return port == NETADDR_PORT_OPTIONAL ? NULL : "missing port";
    if (rest[0] != ':')
        return "expected ':' and a port after ']'";
    return parse_port(rest + 1, rest_len - 1, &out->port);
}

const char *netaddr_split(const char *s, size_t len, enum netaddr_port port,
                          struct netaddr_hostport *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return "empty address";
    if (memchr(s, '@', len))
        return "user information (user@host) is not supported";
    if (s[0] == '[')
        return split_bracketed(s, len, port, out);

    const char *colon = memchr(s, ':', len);
    size_t host_len = colon ? (size_t)(colon - s) : len;
    if (colon && memchr(colon + 1, ':', len - host_len - 1))
        return "an IPv6 address needs brackets";
    if (host_len == 0)
        return "missing host before ':'";
    if (host_len >= NETADDR_HOST_MAX)
        return "host name longer than 253 characters";
    for (size_t i = 0; i < host_len; i++)
        if (!is_host_char(s[i]))
            return "host must be a name or an address (letters, digits, '.', '-')";
    memcpy(out->host, s, host_len);
    out->host[host_len] = '\0';
    if (!colon)
        return port == NETADDR_PORT_OPTIONAL ? NULL : "missing port";
    return parse_port(colon + 1, len - host_len - 1, &out->port);
}

const char *netaddr_parse(const char *s, struct sockaddr_storage *out)
{
    struct netaddr_hostport hp;
    const char *why = netaddr_split(s, strlen(s), NETADDR_PORT_REQUIRED, &hp);
    if (why)
        return why;
    memset(out, 0, sizeof(*out));
    /* netaddr_split has checked a bracketed host; these cannot fail on what it passed. */
    if (hp.is_ipv6) {
        uv_ip6_addr(hp.host, (int)hp.port, (struct sockaddr_in6 *)out);
        return NULL;
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, hp.host, &a4) != 1)
        return "the host is a name, and listen addresses are never resolved";
    uv_ip4_addr(hp.host, (int)hp.port, (struct sockaddr_in *)out);
    return NULL;
}

int netaddr_listen_tcp(uv_loop_t *loop, uv_tcp_t *tcp, const char *s, int backlog,
                       uv_connection_cb cb)
{
    struct sockaddr_storage addr;
    if (netaddr_parse(s, &addr))
        return UV_EINVAL;
    int rc = uv_tcp_init(loop, tcp);
    if (rc < 0)
        return rc;
    rc = uv_tcp_bind(tcp, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)tcp, backlog, cb);
    return rc;
}
