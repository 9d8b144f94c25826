/* test_dns_resolver.c — dns_resolver.c: how addresses are written (as the Collector
 * writes them), sorted and deduplicated; a round on the loop delivering once and then
 * only on change; a failing name keeping the last list with one WARNING; closing with a
 * round in flight. Names are numeric or "localhost", so no DNS server is involved (the
 * integration tests run dnsmasq). */
#include "unit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "export/dns_resolver.h"

/* ---- formatting ---- */

struct fake_ai {
    struct addrinfo ai;
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr sa;
    } addr;
};

static void fake_v4(struct fake_ai *f, const char *ip)
{
    memset(f, 0, sizeof(*f));
    f->addr.in.sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, ip, &f->addr.in.sin_addr), 1);
    f->ai.ai_family = AF_INET;
    f->ai.ai_addr = &f->addr.sa;
    f->ai.ai_addrlen = sizeof(f->addr.in);
}

static void fake_v6(struct fake_ai *f, const char *ip)
{
    memset(f, 0, sizeof(*f));
    f->addr.in6.sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &f->addr.in6.sin6_addr), 1);
    f->ai.ai_family = AF_INET6;
    f->ai.ai_addr = &f->addr.sa;
    f->ai.ai_addrlen = sizeof(f->addr.in6);
}

static void link_all(struct fake_ai *f, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        f[i].ai.ai_next = &f[i + 1].ai;
}

START_TEST(test_endpoints_written_sorted_distinct)
{
    struct fake_ai f[8];
    fake_v4(&f[0], "10.0.0.12");
    fake_v6(&f[1], "fd00:0:0:0:0:0:0:7");
    fake_v4(&f[2], "10.0.0.3");
    fake_v6(&f[3], "::ffff:10.0.0.9");   /* IPv4-mapped: written as IPv4 */
    fake_v4(&f[4], "10.0.0.3");          /* A record seen twice (per socket type) */
    fake_v6(&f[5], "::1");
    fake_v6(&f[6], "2001:db8:0:0:1:0:0:1"); /* equal runs: the first is "::" */
    memset(&f[7], 0, sizeof(f[7]));      /* neither IPv4 nor IPv6: skipped */
    f[7].addr.sa.sa_family = AF_UNIX;
    f[7].ai.ai_addr = &f[7].addr.sa;
    link_all(f, 8);

    char **list;
    size_t n;
    ck_assert_int_eq(dns_resolver_endpoints(&f[0].ai, 4317, &list, &n), 0);
    static const char *const want[] = {
        "10.0.0.12:4317", "10.0.0.3:4317", "10.0.0.9:4317", "[2001:db8::1:0:0:1]:4317",
        "[::1]:4317", "[fd00::7]:4317"
    };
    ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(list[i], want[i]);
    dns_resolver_free_list(list, n);
}
END_TEST

START_TEST(test_ipv6_forms)
{
    static const struct { const char *in, *out; } cases[] = {
        { "::", "[::]:1" },
        { "1::", "[1::]:1" },
        { "1:0:2:0:3:0:4:0", "[1:0:2:0:3:0:4:0]:1" }, /* single zero groups stay */
        { "1:0:0:2:0:0:0:3", "[1:0:0:2::3]:1" },      /* the longer run wins */
        { "ABCD:EF01::0012", "[abcd:ef01::12]:1" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake_ai f;
        char **list;
        size_t n;
        fake_v6(&f, cases[i].in);
        ck_assert_int_eq(dns_resolver_endpoints(&f.ai, 1, &list, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(list[0], cases[i].out);
        dns_resolver_free_list(list, n);
    }
    char **list;
    size_t n;
    ck_assert_int_eq(dns_resolver_endpoints(NULL, 1, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    dns_resolver_free_list(list, n);
}
END_TEST

/* ---- on the loop ---- */

struct seen {
    int calls;
    char first[64];
    size_t count;
};

static void on_change(void *arg, const char *const *endpoints, size_t count)
{
    struct seen *s = arg;
    s->calls++;
    s->count = count;
    snprintf(s->first, sizeof(s->first), "%s", count ? endpoints[0] : "");
}

static void run_until_rounds(uv_loop_t *loop, struct dns_resolver *r, uint64_t rounds)
{
    for (int i = 0; i < 5000 && dns_resolver_rounds(r) < rounds; i++)
        uv_run(loop, UV_RUN_ONCE);
    ck_assert_uint_ge(dns_resolver_rounds(r), rounds);
}

START_TEST(test_delivers_once_then_only_on_change)
{
    uv_loop_t loop;
    struct seen s = { 0 };
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct dns_resolver *r = dns_resolver_new(&loop, "127.0.0.7", 4317, 5, on_change, &s);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(dns_resolver_start(r), 0);
    ck_assert_int_eq(dns_resolver_start(r), UV_EALREADY);
    run_until_rounds(&loop, r, 4);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(s.count, 1);
    ck_assert_str_eq(s.first, "127.0.0.7:4317");
    ck_assert_uint_eq(dns_resolver_failures(r), 0);
    dns_resolver_close(r);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_localhost)
{
    uv_loop_t loop;
    struct seen s = { 0 };
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct dns_resolver *r = dns_resolver_new(&loop, "localhost", 9, 1000, on_change, &s);
    ck_assert_int_eq(dns_resolver_start(r), 0);
    run_until_rounds(&loop, r, 1);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_ge(s.count, 1);
    dns_resolver_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* An empty name fails at once, without asking a server: no delivery, one WARNING for
 * the whole run of failures. */
START_TEST(test_failures_keep_quiet_after_one_warning)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    log_init(LOG_INFO, out);

    uv_loop_t loop;
    struct seen s = { 0 };
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct dns_resolver *r = dns_resolver_new(&loop, "", 4317, 5, on_change, &s);
    ck_assert_int_eq(dns_resolver_start(r), 0);
    run_until_rounds(&loop, r, 3);
    ck_assert_int_eq(s.calls, 0);
    ck_assert_uint_eq(dns_resolver_failures(r), dns_resolver_rounds(r));
    dns_resolver_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);

    log_init(LOG_INFO, stderr);
    fclose(out);
    const char *first = strstr(buf, "cannot resolve the gateway fleet");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "cannot resolve the gateway fleet"));
    ck_assert_ptr_nonnull(strstr(buf, "\"level\":\"WARNING\""));
    free(buf);
}
END_TEST

/* Closed with a round in flight (or cancelled before it ran): freed, never called
 * after the close. */
START_TEST(test_close_with_round_in_flight)
{
    uv_loop_t loop;
    struct seen s = { 0 };
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct dns_resolver *r = dns_resolver_new(&loop, "localhost", 4317, 1000, on_change, &s);
    ck_assert_int_eq(dns_resolver_start(r), 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* the first tick starts a round (it may end at once) */
    int before = s.calls;
    dns_resolver_close(r);
    dns_resolver_close(NULL);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(s.calls, before);
    ck_assert_int_eq(uv_loop_close(&loop), 0);

    /* never started */
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    r = dns_resolver_new(&loop, "localhost", 4317, 1000, on_change, &s);
    dns_resolver_close(r);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *dns_resolver_suite(void)
{
    Suite *s = suite_create("dns_resolver");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_endpoints_written_sorted_distinct);
    tcase_add_test(tc, test_ipv6_forms);
    tcase_add_test(tc, test_delivers_once_then_only_on_change);
    tcase_add_test(tc, test_localhost);
    tcase_add_test(tc, test_failures_keep_quiet_after_one_warning);
    tcase_add_test(tc, test_close_with_round_in_flight);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(dns_resolver_suite());
}
