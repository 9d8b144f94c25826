/* shard.c — a destination spread over a gateway fleet by trace id (see shard.h).
 *
 * A member is one gateway: its lane and the target the lane was built from. Members
 * follow the fleet (fleet.h): a gateway that joins gets a lane; one that leaves is moved
 * to the departed list, hands back what its lane holds, and is freed once nothing of it
 * is in flight any more; its counters are folded into `retired` so the destination's
 * books still add up. An ejected member keeps its lane in hand-back mode and is probed
 * with an empty request while idle, so that it is readmitted when its gateway answers.
 *
 * A tick (TICK_MS) reads every lane's exporter state into the fleet, applies ejections
 * and readmissions, re-routes what ejected lanes hand back and frees departed lanes. */
#include "export/shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "export/dns_resolver.h"
#include "export/fleet.h"
#include "export/hashring.h"
#include "export/ring.h"
#include "pipeline/otlp_partition.h"

#define LOGGER "otel.exporter"
#define TICK_MS 250
#define URL_MAX 512

struct member {
    char *endpoint;             /* "address:port", as on the ring */
    char url[URL_MAX];          /* the lane's endpoint */
    struct export_target target;
    struct lane *lane;
    struct shard *shard;
    int in_ring;                /* routed to (not ejected) */
    int departed;               /* left the fleet: freed once empty */
};

struct shard {
    uv_loop_t *loop;
    struct export_target target;
    const struct config_load_balance *lb; /* the target's */
    const struct exporter_transport_ops *ops;
    char scheme[16];            /* "http://" or "https://" */
    const char *path;           /* the endpoint's path, "" when none */

    struct fleet *fleet;
    struct dns_resolver *resolver;
    struct member **members;    /* live and departed */
    size_t count, cap;
    struct member **by_ring;    /* member of each ring endpoint index */
    size_t by_ring_count;

    struct ring *unrouted;      /* records from before the first resolution */
    uint64_t sampled_out;
    uint64_t unrouted_dropped;
    struct stats_lane_spans retired; /* counters of freed lanes */
    uint64_t ring_changes;
    uint64_t moved_spans;

    uv_timer_t tick;
    int draining;
    size_t lanes_draining;
    void (*drained)(void *);
    void *drained_arg;

    struct stats_destination st;
    struct stats_load_balance lb_view;
    struct stats_gateway *gateways;  /* lb_view's, one per member */
    size_t gateways_cap;
};

static void route(struct shard *s, const uint8_t *rec, size_t len, uint32_t spans,
                  uint32_t *dropped);
static void fill_fleet_view(struct shard *s);

/* ---------------------------------------------------------------- members */

/* scheme://address:port/path, with the endpoint's scheme and path. */
static int member_url(const struct shard *s, const char *endpoint, char *out, size_t len)
{
    int n = snprintf(out, len, "%s%s%s", s->scheme, endpoint, s->path);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static struct member *member_new(struct shard *s, const char *endpoint, char *err,
                                 size_t errlen)
{
    struct member *m = calloc(1, sizeof(*m));
    if (!m || !(m->endpoint = strdup(endpoint))) {
        free(m);
        snprintf(err, errlen, "%s.loadBalance: out of memory", s->target.key);
        return NULL;
    }
    m->shard = s;
    if (member_url(s, endpoint, m->url, sizeof(m->url)) < 0) {
        snprintf(err, errlen, "%s.loadBalance: endpoint too long", s->target.key);
        free(m->endpoint);
        free(m);
        return NULL;
    }
    m->target = s->target;
    m->target.endpoint = m->url;
    m->target.endpoint_is_signal = 0;
    m->target.keep_plain_body = 1;
    m->target.load_balance.resolver = CONFIG_RESOLVER_NONE;
    /* One spool directory cannot serve several lanes; config_validate refuses the pair. */
    m->target.spool_dir = NULL;
    if (s->lb->resolver == CONFIG_RESOLVER_DNS)
        m->target.tls_server_name = s->lb->hostname;
    m->lane = lane_new(s->loop, &m->target, s->ops, err, errlen);
    if (!m->lane) {
        free(m->endpoint);
        free(m);
        return NULL;
    }
    m->in_ring = 1;
    return m;
}

/* Adds the counters of from to those of to (not the gauges: buffered, in flight,
 * buffer bytes). */
static void add_counters(struct stats_lane_spans *to, const struct stats_lane_spans *from)
{
    to->sampled_out += from->sampled_out;
    to->dropped_overflow += from->dropped_overflow;
    to->exported += from->exported;
    for (int r = 0; r < STATS_FAIL_COUNT; r++)
        to->export_failed[r] += from->export_failed[r];
}

/* Folds a lane's final counters into the destination's retired totals; its gauges go
 * with it. */
static void retire(struct shard *s, const struct stats_lane_spans *sp)
{
    add_counters(&s->retired, sp);
}

static void member_free(struct shard *s, struct member *m)
{
    retire(s, &lane_stats(m->lane)->spans);
    lane_free(m->lane);
    free(m->endpoint);
    free(m);
}

static struct member *find_member(const struct shard *s, const char *endpoint)
{
    for (size_t i = 0; i < s->count; i++)
        if (!s->members[i]->departed && strcmp(s->members[i]->endpoint, endpoint) == 0)
            return s->members[i];
    return NULL;
}

static int add_member(struct shard *s, struct member *m)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        struct member **grown = realloc(s->members, cap * sizeof(*grown));
        if (!grown)
            return -1;
        s->members = grown;
        s->cap = cap;
    }
    s->members[s->count++] = m;
    return 0;
}

/* ---------------------------------------------------------------- hand-back */

/* What a lane gives back is routed again over the ring in use. */
static void on_handed_back(void *arg, const uint8_t *rec, size_t len, uint32_t spans)
{
    struct member *m = arg;
    struct shard *s = m->shard;
    uint32_t dropped = 0;
    if (spans == 0)
        return; /* a probe */
    s->moved_spans += spans;
    route(s, rec, len, spans, &dropped);
}

static void hand_back(struct member *m)
{
    lane_hand_back(m->lane, on_handed_back, m);
}

/* ---------------------------------------------------------------- the ring */

static void log_ring(struct shard *s, const char *why, const char *endpoint)
{
    const struct hashring *r = fleet_ring(s->fleet);
    char list[1024];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < hashring_endpoints(r) && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "",
                                 hashring_endpoint(r, i));
    const char *shown = list;
    log_write(LOG_INFO, LOGGER, "gateway ring changed",
              (struct log_field[]){ LOG_STR("destination", s->target.name),
                                    LOG_STR("change", why), LOG_STR("endpoint", endpoint),
                                    LOG_INT("gateways", hashring_endpoints(r)),
                                    LOG_STR("ring", shown) },
              5);
}

/* Maps ring indices to members and marks which members are routed to. */
static int index_ring(struct shard *s)
{
    const struct hashring *r = fleet_ring(s->fleet);
    size_t n = hashring_endpoints(r);
    struct member **by = calloc(n ? n : 1, sizeof(*by));
    if (!by)
        return -1;
    for (size_t i = 0; i < s->count; i++)
        s->members[i]->in_ring = 0;
    for (size_t i = 0; i < n; i++) {
        by[i] = find_member(s, hashring_endpoint(r, i));
        if (by[i])
            by[i]->in_ring = 1;
    }
    free(s->by_ring);
    s->by_ring = by;
    s->by_ring_count = n;
    s->ring_changes++;
    return 0;
}

/* Records that waited for the first ring. */
static void flush_unrouted(struct shard *s)
{
    const uint8_t *data;
    size_t len;
    uint32_t spans;
    if (s->by_ring_count == 0)
        return;
    /* With a ring, route() never touches s->unrouted: the record is routed from
     * where it lies, then popped. */
    while (ring_peek(s->unrouted, &data, &len, &spans) == 0) {
        uint32_t dropped = 0;
        route(s, data, len, spans, &dropped);
        ring_pop(s->unrouted);
    }
}

/* ---------------------------------------------------------------- fleet changes */

static void on_endpoints(void *arg, const char *const *endpoints, size_t count)
{
    shard_set_endpoints(arg, endpoints, count);
}

void shard_set_endpoints(struct shard *s, const char *const *endpoints, size_t count)
{
    struct fleet_change ch;
    char err[256];

    if (s->draining)
        return;
    if (fleet_set_endpoints(s->fleet, endpoints, count, &ch) < 0) {
        log_write(LOG_WARNING, LOGGER, "cannot apply the gateway list: out of memory",
                  (struct log_field[]){ LOG_STR("destination", s->target.name) }, 1);
        return;
    }
    for (size_t i = 0; i < ch.joined_count; i++) {
        struct member *m = member_new(s, ch.joined[i], err, sizeof(err));
        if (!m || add_member(s, m) < 0) {
            const char *why = m ? "out of memory" : err;
            log_write(LOG_WARNING, LOGGER, "cannot add gateway",
                      (struct log_field[]){ LOG_STR("destination", s->target.name),
                                            LOG_STR("endpoint", ch.joined[i]),
                                            LOG_STR("error", why) }, 3);
            if (m)
                member_free(s, m);
            continue;
        }
    }
    for (size_t i = 0; i < ch.left_count; i++) {
        struct member *m = find_member(s, ch.left[i]);
        if (m)
            m->departed = 1;
    }
    if (index_ring(s) < 0)
        return;
    for (size_t i = 0; i < ch.joined_count; i++)
        log_ring(s, "joined", ch.joined[i]);
    for (size_t i = 0; i < ch.left_count; i++)
        log_ring(s, "left", ch.left[i]);
    /* After the ring is in place, so that what they hold finds its new owners. */
    for (size_t i = 0; i < s->count; i++)
        if (s->members[i]->departed)
            hand_back(s->members[i]);
    flush_unrouted(s);
}

/* A gateway counts as unreachable while its lane backs off or fails; one that was
 * never asked anything is presumed fine. */
static int reachable(const struct member *m)
{
    enum stats_exporter_state st = lane_stats(m->lane)->exporter.state;
    return st != STATS_EXPORTER_BACKING_OFF && st != STATS_EXPORTER_FAILING;
}

static void apply_ejections(struct shard *s)
{
    uint64_t now = uv_now(s->loop);
    for (size_t i = 0; i < s->count; i++)
        if (!s->members[i]->departed)
            fleet_set_reachable(s->fleet, s->members[i]->endpoint, reachable(s->members[i]), now);
    if (fleet_update(s->fleet, now) <= 0)
        return;
    int was[s->count ? s->count : 1];
    for (size_t i = 0; i < s->count; i++)
        was[i] = s->members[i]->in_ring;
    if (index_ring(s) < 0)
        return;
    for (size_t i = 0; i < s->count; i++) {
        struct member *m = s->members[i];
        if (m->departed || was[i] == m->in_ring)
            continue;
        log_ring(s, m->in_ring ? "readmitted" : "ejected", m->endpoint);
        if (m->in_ring)
            lane_hand_back(m->lane, NULL, NULL);
        else
            hand_back(m);
    }
}

/* An idle ejected lane sends an empty request, whose answer says whether its gateway
 * is back. */
static void probe(struct member *m)
{
    const struct stats_lane_spans *sp = &lane_stats(m->lane)->spans;
    if (sp->buffered == 0 && sp->in_flight == 0)
        lane_push(m->lane, NULL, 0, 0);
}

static void free_departed(struct shard *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->count; i++) {
        struct member *m = s->members[i];
        const struct stats_lane_spans *sp = &lane_stats(m->lane)->spans;
        if (m->departed && sp->buffered == 0 && sp->in_flight == 0) {
            member_free(s, m);
            continue;
        }
        s->members[kept++] = m;
    }
    s->count = kept;
}

static void on_tick(uv_timer_t *t)
{
    struct shard *s = t->data;
    if (s->draining)
        return;
    apply_ejections(s);
    for (size_t i = 0; i < s->count; i++)
        if (!s->members[i]->departed && !s->members[i]->in_ring)
            probe(s->members[i]);
    free_departed(s);
}

/* ---------------------------------------------------------------- routing */

/* Spans of one trace mostly come together: the last trace's owner is kept. */
struct classify_ctx {
    const struct hashring *ring;
    int have_last;
    uint8_t last_id[16];
    size_t last_owner;
};

static size_t classify(void *arg, const uint8_t trace_id[16], size_t span_index,
                       size_t span_bytes)
{
    struct classify_ctx *c = arg;
    (void)span_index;
    (void)span_bytes;
    if (c->have_last && memcmp(c->last_id, trace_id, 16) == 0)
        return c->last_owner;
    c->last_owner = hashring_owner(c->ring, trace_id);
    memcpy(c->last_id, trace_id, 16);
    c->have_last = 1;
    return c->last_owner;
}

static void push_to(struct shard *s, struct member *m, const uint8_t *rec, size_t len,
                    uint32_t spans, uint32_t *dropped)
{
    (void)s;
    if (lane_push(m->lane, rec, len, spans) == LANE_OVERFLOW)
        *dropped += spans;
}

static void route(struct shard *s, const uint8_t *rec, size_t len, uint32_t spans,
                  uint32_t *dropped)
{
    if (s->by_ring_count == 0) {
        if (ring_push(s->unrouted, rec, len, spans) < 0) {
            s->unrouted_dropped += spans;
            *dropped += spans;
        }
        return;
    }
    if (s->by_ring_count == 1) {
        push_to(s, s->by_ring[0], rec, len, spans, dropped);
        return;
    }
    struct classify_ctx ctx = { .ring = fleet_ring(s->fleet), .have_last = 0 };
    struct otlp_partition_out out[s->by_ring_count];
    char err[128];
    if (otlp_partition_walked(rec, len, s->by_ring_count, classify, &ctx, out, err,
                              sizeof(err)) < 0) {
        /* Only memory can fail here: the record was walked already. */
        s->unrouted_dropped += spans;
        *dropped += spans;
        return;
    }
    for (size_t i = 0; i < s->by_ring_count; i++) {
        if (out[i].spans > 0 && s->by_ring[i])
            push_to(s, s->by_ring[i], out[i].data, out[i].len, out[i].spans, dropped);
        else if (out[i].spans > 0) {
            s->unrouted_dropped += out[i].spans;
            *dropped += out[i].spans;
        }
    }
    otlp_partition_free(out, s->by_ring_count);
}

enum lane_push_result shard_push(struct shard *s, const uint8_t *rec, size_t len,
                                 uint32_t spans, uint32_t *dropped)
{
    *dropped = 0;
    if (s->draining) {
        s->retired.export_failed[STATS_FAIL_SHUTDOWN] += spans;
        return LANE_NOT_EXPORTED;
    }
    route(s, rec, len, spans, dropped);
    return *dropped ? LANE_OVERFLOW : LANE_PUSHED;
}

void shard_count_sampled_out(struct shard *s, uint64_t spans)
{
    s->sampled_out += spans;
}

/* ---------------------------------------------------------------- counters */

static void add_spans(struct stats_lane_spans *to, const struct stats_lane_spans *from)
{
    add_counters(to, from);
    to->buffered += from->buffered;
    to->in_flight += from->in_flight;
    to->buffer_bytes += from->buffer_bytes;
    to->buffer_capacity_bytes += from->buffer_capacity_bytes;
}

/* The destination's state: the best of its gateways in the ring. */
static enum stats_exporter_state best_state(enum stats_exporter_state a,
                                            enum stats_exporter_state b)
{
    static const int rank[] = {
        [STATS_EXPORTER_DISABLED] = 0, [STATS_EXPORTER_FAILING] = 1,
        [STATS_EXPORTER_BACKING_OFF] = 2, [STATS_EXPORTER_CONNECTING] = 3,
        [STATS_EXPORTER_READY] = 4,
    };
    return rank[a] >= rank[b] ? a : b;
}

const struct stats_destination *shard_stats(struct shard *s)
{
    struct stats_destination *d = &s->st;
    d->spans = s->retired;
    d->spans.sampled_out += s->sampled_out;
    d->spans.dropped_overflow += s->unrouted_dropped;
    d->spans.buffered += ring_spans(s->unrouted);
    d->spans.buffer_bytes += ring_bytes(s->unrouted);
    d->exporter.state = STATS_EXPORTER_CONNECTING;
    d->exporter.up = 0;
    d->exporter.requests = d->exporter.retries = d->exporter.backend_rejected = 0;
    for (size_t i = 0; i < s->count; i++) {
        const struct member *m = s->members[i];
        const struct stats_destination *ls = lane_stats(m->lane);
        add_spans(&d->spans, &ls->spans);
        d->exporter.requests += ls->exporter.requests;
        d->exporter.retries += ls->exporter.retries;
        d->exporter.backend_rejected += ls->exporter.backend_rejected;
        if (!m->in_ring || m->departed)
            continue;
        d->exporter.state = best_state(d->exporter.state, ls->exporter.state);
        d->exporter.up |= ls->exporter.up;
        if (ls->exporter.last_error[0])
            snprintf(d->exporter.last_error, sizeof(d->exporter.last_error), "%.64s: %.180s",
                     m->endpoint, ls->exporter.last_error);
    }
    fill_fleet_view(s);
    return d;
}

/* The fleet as /health and /metrics show it. */
static void fill_fleet_view(struct shard *s)
{
    struct stats_load_balance *v = &s->lb_view;
    if (s->count > s->gateways_cap) {
        struct stats_gateway *grown = realloc(s->gateways, s->count * sizeof(*grown));
        if (grown) {
            s->gateways = grown;
            s->gateways_cap = s->count;
        }
    }
    v->resolver = s->lb->resolver == CONFIG_RESOLVER_DNS ? "dns" : "static";
    v->gateways = s->gateways;
    v->gateway_count = 0;
    for (size_t i = 0; i < s->count && i < s->gateways_cap; i++) {
        const struct member *m = s->members[i];
        s->gateways[i] = (struct stats_gateway){
            .endpoint = m->endpoint,
            .in_ring = m->in_ring && !m->departed,
            .leaving = m->departed,
            .lane = lane_stats(m->lane),
        };
        v->gateway_count++;
    }
    v->ring_changes = s->ring_changes;
    v->moved_spans = s->moved_spans;
    v->ejections = fleet_ejections(s->fleet);
    s->st.load_balance = v;
}

size_t shard_members(const struct shard *s)
{
    return s->count;
}

const char *shard_member_endpoint(const struct shard *s, size_t i)
{
    return i < s->count ? s->members[i]->endpoint : NULL;
}

int shard_member_in_ring(const struct shard *s, size_t i)
{
    return i < s->count && s->members[i]->in_ring && !s->members[i]->departed;
}

const struct stats_destination *shard_member_stats(const struct shard *s, size_t i)
{
    return i < s->count ? lane_stats(s->members[i]->lane) : NULL;
}

/* ---------------------------------------------------------------- life */

/* The endpoint's scheme and path give every gateway's URL its shape. */
static void parse_endpoint(struct shard *s)
{
    const char *e = s->target.endpoint ? s->target.endpoint : "";
    const char *rest = e;
    snprintf(s->scheme, sizeof(s->scheme), "http://");
    if (strncasecmp(e, "https://", 8) == 0) {
        snprintf(s->scheme, sizeof(s->scheme), "https://");
        rest = e + 8;
    } else if (strncasecmp(e, "http://", 7) == 0) {
        rest = e + 7;
    }
    s->path = rest + strcspn(rest, "/?#");
}

struct shard *shard_new(uv_loop_t *loop, const struct export_target *target,
                        const struct exporter_transport_ops *ops, char *err, size_t errlen)
{
    struct shard *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "%s: out of memory", target->key);
        return NULL;
    }
    s->loop = loop;
    s->target = *target;
    s->lb = &s->target.load_balance;
    s->ops = ops;
    s->st.name = s->target.name;
    parse_endpoint(s);
    s->fleet = fleet_new(s->lb->eject_after_ms);
    s->unrouted = ring_new(target->buffer_max_bytes);
    if (!s->fleet || !s->unrouted) {
        snprintf(err, errlen, "%s: out of memory", target->key);
        fleet_free(s->fleet);
        ring_free(s->unrouted);
        free(s);
        return NULL;
    }
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    if (s->lb->resolver == CONFIG_RESOLVER_STATIC) {
        on_endpoints(s, (const char *const *)s->lb->endpoints.items, s->lb->endpoints.count);
    } else {
        s->resolver = dns_resolver_new(loop, s->lb->hostname, s->lb->port, s->lb->interval_ms,
                                       on_endpoints, s);
        if (!s->resolver || dns_resolver_start(s->resolver) < 0) {
            snprintf(err, errlen, "%s.loadBalance: cannot start the DNS resolver",
                     target->key);
            shard_free(s);
            return NULL;
        }
    }
    log_write(LOG_INFO, LOGGER, "sharding by trace id over a gateway fleet",
              (struct log_field[]){ LOG_STR("destination", s->target.name),
                                    LOG_STR("resolver", s->lb->resolver == CONFIG_RESOLVER_DNS
                                                            ? "dns" : "static"),
                                    LOG_INT("eject_after_ms", s->lb->eject_after_ms) },
              3);
    return s;
}

static void on_lane_drained(void *arg)
{
    struct shard *s = arg;
    if (--s->lanes_draining > 0 || !s->drained)
        return;
    void (*done)(void *) = s->drained;
    s->drained = NULL;
    done(s->drained_arg);
}

void shard_drain(struct shard *s, uint64_t timeout_ms, void (*done)(void *), void *arg)
{
    s->draining = 1;
    s->drained = done;
    s->drained_arg = arg;
    dns_resolver_close(s->resolver);
    s->resolver = NULL;
    /* What never found a gateway is given up on, counted as at any drain. */
    const uint8_t *data;
    size_t len;
    uint32_t spans;
    while (ring_peek(s->unrouted, &data, &len, &spans) == 0) {
        s->retired.export_failed[STATS_FAIL_SHUTDOWN] += spans;
        ring_pop(s->unrouted);
    }
    s->lanes_draining = s->count + 1;
    for (size_t i = 0; i < s->count; i++)
        lane_drain(s->members[i]->lane, timeout_ms, on_lane_drained, s);
    on_lane_drained(s);
}

static void on_tick_closed(uv_handle_t *h)
{
    struct shard *s = h->data;
    free(s);
}

void shard_free(struct shard *s)
{
    if (!s)
        return;
    dns_resolver_close(s->resolver);
    for (size_t i = 0; i < s->count; i++)
        member_free(s, s->members[i]);
    free(s->members);
    free(s->by_ring);
    free(s->gateways);
    fleet_free(s->fleet);
    ring_free(s->unrouted);
    uv_close((uv_handle_t *)&s->tick, on_tick_closed);
}
