/* dns_resolver.c — periodic getaddrinfo of a gateway fleet's name, behind dns_resolver.h.
 *
 * One timer and at most one uv_getaddrinfo_t in flight. Closing marks the resolver,
 * cancels the request when it has not started, closes the timer, and frees once both the
 * timer's close callback and the request's callback (which libuv always delivers, with
 * UV_EAI_CANCELED when cancelled) have run. */
#include "export/dns_resolver.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define LOGGER "otel.exporter"
/* "[" + 39 characters of IPv6 + "]:" + 5 digits of port */
#define ENDPOINT_MAX 64

struct dns_resolver {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_getaddrinfo_t req;
    char *hostname;
    unsigned port;
    uint64_t interval_ms;
    dns_resolver_change_cb on_change;
    void *arg;

    char **current;      /* the list last delivered */
    size_t current_count;
    int delivered;       /* a list was delivered at least once */
    int failing;         /* the last round failed: its WARNING is out */
    uint64_t rounds, failures;

    int busy;            /* req is in flight */
    int closing;
    int timer_open;
};

void dns_resolver_free_list(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

/* RFC 5952, as Go's net.IP.String writes it: lower-case hex without leading zeros, the
 * longest run of two or more zero groups (the first of equal runs) written "::". */
static void format_ipv6(const uint8_t a[16], char *out, size_t len)
{
    uint16_t w[8];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8; i++)
        w[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && w[j] == 0)
            j++;
        if (j - i >= 2 && j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    size_t n = 0;
    for (int i = 0; i < 8 && n < len; i++) {
        if (i == best) {
            n += (size_t)snprintf(out + n, len - n, "::");
            i += best_len - 1;
            continue;
        }
        int sep = i > 0 && i != best + best_len;
        n += (size_t)snprintf(out + n, len - n, "%s%x", sep ? ":" : "", w[i]);
    }
}

/* One address as "a.b.c.d:port" or "[v6]:port"; -1 for another family. */
static int format_endpoint(const struct sockaddr *sa, unsigned port, char *out, size_t len)
{
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    char host[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, len, "%s:%u", host, port);
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
        snprintf(out, len, "%u.%u.%u.%u:%u", a[12], a[13], a[14], a[15], port);
        return 0;
    }
    format_ipv6(a, host, sizeof(host));
    snprintf(out, len, "[%s]:%u", host, port);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dns_resolver_endpoints(const struct addrinfo *ai, unsigned port, char ***out,
                           size_t *count)
{
    size_t n = 0, kept = 0;
    for (const struct addrinfo *p = ai; p; p = p->ai_next)
        n++;
    char **list = calloc(n ? n : 1, sizeof(*list));
    if (!list)
        return -1;
    for (const struct addrinfo *p = ai; p; p = p->ai_next) {
        char buf[ENDPOINT_MAX];
        if (!p->ai_addr || format_endpoint(p->ai_addr, port, buf, sizeof(buf)) < 0)
            continue;
        if (!(list[kept] = strdup(buf))) {
            dns_resolver_free_list(list, kept);
            return -1;
        }
        kept++;
    }
    qsort(list, kept, sizeof(*list), cmp_str);
    size_t distinct = 0;
    for (size_t i = 0; i < kept; i++) {
        if (distinct > 0 && strcmp(list[distinct - 1], list[i]) == 0) {
            free(list[i]);
            continue;
        }
        list[distinct++] = list[i];
    }
    *out = list;
    *count = distinct;
    return 0;
}

static int same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

static void maybe_free(struct dns_resolver *r)
{
    if (!r->closing || r->busy || r->timer_open)
        return;
    dns_resolver_free_list(r->current, r->current_count);
    free(r->hostname);
    free(r);
}

static void round_failed(struct dns_resolver *r, const char *why)
{
    r->failures++;
    if (r->failing)
        return;
    r->failing = 1;
    log_write(LOG_WARNING, LOGGER, "cannot resolve the gateway fleet, keeping the last endpoints",
              (struct log_field[]){ LOG_STR("hostname", r->hostname), LOG_STR("error", why),
                                    LOG_INT("endpoints", r->current_count) }, 3);
}

/* Keeps list when it differs from the last one delivered and hands it on; frees it
 * otherwise. */
static void deliver(struct dns_resolver *r, char **list, size_t count)
{
    if (r->failing) {
        r->failing = 0;
        log_write(LOG_INFO, LOGGER, "resolving the gateway fleet works again",
                  (struct log_field[]){ LOG_STR("hostname", r->hostname) }, 1);
    }
    if (r->delivered && same_list(r->current, r->current_count, list, count)) {
        dns_resolver_free_list(list, count);
        return;
    }
    dns_resolver_free_list(r->current, r->current_count);
    r->current = list;
    r->current_count = count;
    r->delivered = 1;
    r->on_change(r->arg, (const char *const *)list, count);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct dns_resolver *r = req->data;
    char **list;
    size_t count;

    r->busy = 0;
    if (r->closing) {
        uv_freeaddrinfo(res);
        maybe_free(r);
        return;
    }
    r->rounds++;
    if (status < 0)
        round_failed(r, uv_strerror(status));
    else if (dns_resolver_endpoints(res, r->port, &list, &count) < 0)
        round_failed(r, "out of memory");
    else if (count == 0) {
        dns_resolver_free_list(list, count);
        round_failed(r, "no IPv4 or IPv6 address");
    } else
        deliver(r, list, count);
    uv_freeaddrinfo(res);
}

static void on_tick(uv_timer_t *timer)
{
    struct dns_resolver *r = timer->data;
    struct addrinfo hints;

    if (r->busy)
        return;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(r->loop, &r->req, on_resolved, r->hostname, NULL, &hints);
    if (rc < 0) {
        r->rounds++;
        round_failed(r, uv_strerror(rc));
        return;
    }
    r->busy = 1;
}

struct dns_resolver *dns_resolver_new(uv_loop_t *loop, const char *hostname, unsigned port,
                                      uint64_t interval_ms, dns_resolver_change_cb on_change,
                                      void *arg)
{
    struct dns_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (!(r->hostname = strdup(hostname))) {
        free(r);
        return NULL;
    }
    r->loop = loop;
    r->port = port;
    r->interval_ms = interval_ms;
    r->on_change = on_change;
    r->arg = arg;
    r->req.data = r;
    return r;
}

int dns_resolver_start(struct dns_resolver *r)
{
    if (r->timer_open)
        return UV_EALREADY;
    int rc = uv_timer_init(r->loop, &r->timer);
    if (rc < 0)
        return rc;
    r->timer.data = r;
    r->timer_open = 1;
    return uv_timer_start(&r->timer, on_tick, 0, r->interval_ms);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct dns_resolver *r = h->data;
    r->timer_open = 0;
    maybe_free(r);
}

void dns_resolver_close(struct dns_resolver *r)
{
    if (!r || r->closing)
        return;
    r->closing = 1;
    if (r->busy)
        uv_cancel((uv_req_t *)&r->req);
    if (r->timer_open)
        uv_close((uv_handle_t *)&r->timer, on_timer_closed);
    else
        maybe_free(r);
}

uint64_t dns_resolver_rounds(const struct dns_resolver *r)
{
    return r->rounds;
}

uint64_t dns_resolver_failures(const struct dns_resolver *r)
{
    return r->failures;
}
