/* test_netaddr.c — the one host:port parser: what listen addresses and endpoint
 * authorities accept, what they refuse and the reason given, and listening on a
 * parsed address. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "base/netaddr.h"
#include "unit.h"

static const char *split(const char *s, enum netaddr_port port, struct netaddr_hostport *hp)
{
    return netaddr_split(s, strlen(s), port, hp);
}

START_TEST(test_split_names_and_addresses)
{
    struct netaddr_hostport hp;
    ck_assert_ptr_null(split("tempo.observability.svc:4317", NETADDR_PORT_REQUIRED, &hp));
    ck_assert_str_eq(hp.host, "tempo.observability.svc");
    ck_assert_uint_eq(hp.port, 4317);
    ck_assert_int_eq(hp.is_ipv6, 0);

    ck_assert_ptr_null(split("[::1]:65535", NETADDR_PORT_REQUIRED, &hp));
    ck_assert_str_eq(hp.host, "::1");
    ck_assert_uint_eq(hp.port, 65535);
    ck_assert_int_eq(hp.is_ipv6, 1);

    ck_assert_ptr_null(split("10.0.0.1:1", NETADDR_PORT_REQUIRED, &hp));
    ck_assert_str_eq(hp.host, "10.0.0.1");
    ck_assert_uint_eq(hp.port, 1);
}
END_TEST

START_TEST(test_split_optional_port)
{
    struct netaddr_hostport hp;
    ck_assert_ptr_null(split("api.honeycomb.io", NETADDR_PORT_OPTIONAL, &hp));
    ck_assert_str_eq(hp.host, "api.honeycomb.io");
    ck_assert_uint_eq(hp.port, 0);
    ck_assert_ptr_null(split("[2001:db8::7]", NETADDR_PORT_OPTIONAL, &hp));
    ck_assert_str_eq(hp.host, "2001:db8::7");
    ck_assert_uint_eq(hp.port, 0);
    ck_assert_str_eq(split("api.honeycomb.io", NETADDR_PORT_REQUIRED, &hp), "missing port");
    ck_assert_str_eq(split("[::1]", NETADDR_PORT_REQUIRED, &hp), "missing port");
}
END_TEST

/* Only len bytes count: an endpoint's authority ends where its path starts. */
START_TEST(test_split_reads_only_len_bytes)
{
    struct netaddr_hostport hp;
    const char *url_rest = "tempo:4317/v1/traces";
    ck_assert_ptr_null(netaddr_split(url_rest, 10, NETADDR_PORT_REQUIRED, &hp));
    ck_assert_str_eq(hp.host, "tempo");
    ck_assert_uint_eq(hp.port, 4317);
}
END_TEST

START_TEST(test_split_refusals_say_why)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        { "", "empty address" },
        { ":4317", "missing host before ':'" },
        { "host:", "missing port after ':'" },
        { "host:0", "port must be from 1 to 65535" },
        { "host:65536", "port must be from 1 to 65535" },
        { "host:000080", "port must be from 1 to 65535" },
        { "host:99999999999999999999", "port must be from 1 to 65535" },
        { "host:+80", "port must be a number from 1 to 65535" },
        { "host:8a", "port must be a number from 1 to 65535" },
        { "host: 80", "port must be a number from 1 to 65535" },
        { "::1:4317", "an IPv6 address needs brackets" },
        { "[::1", "unterminated [IPv6 address]" },
        { "[]:80", "brackets must hold an IPv6 address" },
        { "[zz]:80", "brackets must hold an IPv6 address" },
        { "[127.0.0.1]:80", "brackets must hold an IPv6 address" },
        { "[::1]4317", "expected ':' and a port after ']'" },
        { "[::1]:", "missing port after ':'" },
        { "user@host:80", "user information (user@host) is not supported" },
        { "a_b:1", "host must be a name or an address (letters, digits, '.', '-')" },
        { "a/b:1", "host must be a name or an address (letters, digits, '.', '-')" },
    };
    struct netaddr_hostport hp;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = split(cases[i].text, NETADDR_PORT_OPTIONAL, &hp);
        ck_assert_msg(why && strcmp(why, cases[i].why) == 0, "\"%s\": got \"%s\"",
                      cases[i].text, why ? why : "(accepted)");
    }
}
END_TEST

START_TEST(test_split_refuses_overlong_host)
{
    char text[300];
    struct netaddr_hostport hp;
    memset(text, 'a', 253);
    strcpy(text + 253, ":80");
    ck_assert_ptr_null(split(text, NETADDR_PORT_REQUIRED, &hp));
    ck_assert_uint_eq(strlen(hp.host), 253);
    memset(text, 'a', 254);
    strcpy(text + 254, ":80");
    ck_assert_str_eq(split(text, NETADDR_PORT_REQUIRED, &hp),
                     "host name longer than 253 characters");
}
END_TEST

START_TEST(test_parse_numeric_listen_addresses)
{
    struct sockaddr_storage ss;
    ck_assert_ptr_null(netaddr_parse("127.0.0.1:13133", &ss));
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)&ss;
    ck_assert_int_eq(in4->sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(in4->sin_port), 13133);
    ck_assert_uint_eq(ntohl(in4->sin_addr.s_addr), 0x7f000001);

    ck_assert_ptr_null(netaddr_parse("[::1]:4317", &ss));
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    ck_assert_int_eq(in6->sin6_family, AF_INET6);
    ck_assert_uint_eq(ntohs(in6->sin6_port), 4317);
    ck_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));

    ck_assert_ptr_null(netaddr_parse("0.0.0.0:1", &ss));
}
END_TEST

START_TEST(test_parse_refuses_names_and_partial_addresses)
{
    struct sockaddr_storage ss;
    const char *names = "the host is a name, and listen addresses are never resolved";
    ck_assert_str_eq(netaddr_parse("localhost:13999", &ss), names);
    ck_assert_str_eq(netaddr_parse("1.2.3:80", &ss), names);
    ck_assert_str_eq(netaddr_parse("256.0.0.1:80", &ss), names);
    ck_assert_str_eq(netaddr_parse("127.0.0.1", &ss), "missing port");
    ck_assert_str_eq(netaddr_parse("127.0.0.1:0", &ss), "port must be from 1 to 65535");
}
END_TEST

static void on_connection(uv_stream_t *server, int status)
{
    (void)server;
    (void)status;
}

static void close_and_run(uv_loop_t *loop, uv_tcp_t *tcp)
{
    uv_close((uv_handle_t *)tcp, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
}

static unsigned free_port(uv_loop_t *loop, struct sockaddr_storage *bound)
{
    uv_tcp_t probe;
    struct sockaddr_in any;
    int len = sizeof(*bound);
    uv_ip4_addr("127.0.0.1", 0, &any);
    ck_assert_int_eq(uv_tcp_init(loop, &probe), 0);
    ck_assert_int_eq(uv_tcp_bind(&probe, (const struct sockaddr *)&any, 0), 0);
    ck_assert_int_eq(uv_tcp_getsockname(&probe, (struct sockaddr *)bound, &len), 0);
    close_and_run(loop, &probe);
    return ntohs(((struct sockaddr_in *)bound)->sin_port);
}

START_TEST(test_listen_tcp_binds_the_parsed_address)
{
    uv_loop_t loop;
    uv_tcp_t tcp;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(netaddr_listen_tcp(&loop, &tcp, "localhost:1", 8, on_connection),
                     UV_EINVAL);
    ck_assert_int_eq(netaddr_listen_tcp(&loop, &tcp, "127.0.0.1:0", 8, on_connection),
                     UV_EINVAL);
    /* A free port comes from the kernel through the socket API; another process may
     * take it between the probe's close and our bind, so a few tries are allowed. */
    struct sockaddr_storage bound;
    int rc = UV_EADDRINUSE;
    for (int attempt = 0; attempt < 10 && rc == UV_EADDRINUSE; attempt++) {
        char text[32];
        snprintf(text, sizeof(text), "127.0.0.1:%u", free_port(&loop, &bound));
        rc = netaddr_listen_tcp(&loop, &tcp, text, 8, on_connection);
        if (rc == UV_EADDRINUSE)
            close_and_run(&loop, &tcp);
    }
    ck_assert_int_eq(rc, 0);
    int len;
    struct sockaddr_storage got;
    len = sizeof(got);
    ck_assert_int_eq(uv_tcp_getsockname(&tcp, (struct sockaddr *)&got, &len), 0);
    ck_assert_uint_eq(((struct sockaddr_in *)&got)->sin_port,
                      ((struct sockaddr_in *)&bound)->sin_port);
    close_and_run(&loop, &tcp);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *netaddr_suite(void)
{
    Suite *s = suite_create("netaddr");
    TCase *tc = tcase_create("netaddr");
    tcase_add_test(tc, test_split_names_and_addresses);
    tcase_add_test(tc, test_split_optional_port);
    tcase_add_test(tc, test_split_reads_only_len_bytes);
    tcase_add_test(tc, test_split_refusals_say_why);
    tcase_add_test(tc, test_split_refuses_overlong_host);
    tcase_add_test(tc, test_parse_numeric_listen_addresses);
    tcase_add_test(tc, test_parse_refuses_names_and_partial_addresses);
    tcase_add_test(tc, test_listen_tcp_binds_the_parsed_address);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(netaddr_suite());
}
