/* dns_resolver.h — the gateways behind a DNS name (a Kubernetes headless Service),
 * re-resolved every interval without blocking the loop.
 *
 * Each round asks getaddrinfo (on libuv's thread pool) for the name's A and AAAA
 * records and writes every address as the OpenTelemetry Collector's DNS resolver does:
 * "10.0.0.7:4317", "[fd00::7]:4317" (IPv4-mapped IPv6 written as IPv4), sorted with
 * strcmp, duplicates once. The change callback runs only when that list differs from
 * the last one delivered (the first successful round always delivers). A failed round
 * keeps the last list, as the Collector does, and logs one WARNING per run of failures
 * (logger otel.exporter) and an INFO line when resolution works again. */
#ifndef SPANRELAY_DNS_RESOLVER_H
#define SPANRELAY_DNS_RESOLVER_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct dns_resolver;

/* endpoints[0..count) sorted and distinct, valid only during the call. */
typedef void (*dns_resolver_change_cb)(void *arg, const char *const *endpoints, size_t count);

/* A resolver for hostname, writing port after each address. Nothing happens until
 * dns_resolver_start. NULL when memory is short. */
struct dns_resolver *dns_resolver_new(uv_loop_t *loop, const char *hostname, unsigned port,
                                      uint64_t interval_ms, dns_resolver_change_cb on_change,
                                      void *arg);

/* First round now, then one every interval (a round still running when the interval
 * ends is not doubled). 0, or a negative libuv error. */
int dns_resolver_start(struct dns_resolver *r);

/* Stops the rounds and frees the resolver once its handle is closed and a round in
 * flight has come back. The callback is never called after this returns. NULL is a
 * no-op. */
void dns_resolver_close(struct dns_resolver *r);

/* Rounds done and rounds failed so far (for /metrics). */
uint64_t dns_resolver_rounds(const struct dns_resolver *r);
uint64_t dns_resolver_failures(const struct dns_resolver *r);

/* The endpoint list of an addrinfo result, as described above: a malloc'd array of
 * malloc'd strings, to be released with dns_resolver_free_list. Entries that are not
 * IPv4 or IPv6 are skipped. 0, or -1 when memory is short (nothing allocated). */
int dns_resolver_endpoints(const struct addrinfo *ai, unsigned port, char ***out,
                           size_t *count);
void dns_resolver_free_list(char **list, size_t count);

#endif
