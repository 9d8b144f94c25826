/* emit.c — spanrelay-emit's testable pieces: traceparent, times, the one-span OTLP
 * request (protobuf-c) and a minimal HTTP/1.1 client whose every step shares one
 * deadline, so that a missing or stuck sidecar costs the caller at most the timeout. */
#include "emit.h"
#include "base/netaddr.h"
#include "base/utf8.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#ifndef SPANRELAY_VERSION
#define SPANRELAY_VERSION "0.0.0"
#endif

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;

/* ---- trace context ---- */

/* Lowercase only: W3C Trace Context defines the fields as HEXDIGLC. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes 2n hex characters into n bytes. 0 or -1. */
static int hex_decode(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 * i]);
        int lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
}

static int all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

int emit_traceparent_parse(const char *s, struct emit_context *ctx, const char **why)
{
    size_t len = strlen(s);
    uint8_t version;
    struct emit_context c;

    if (len < 2 || hex_decode(s, &version, 1) < 0) {
        *why = len < 2 ? "wrong length" : "version is not two lowercase hex digits";
        return -1;
    }
    if (version == 0xff) {
        *why = "version ff is invalid";
        return -1;
    }
    if (version == 0 && len != EMIT_TRACEPARENT_LEN) {
        *why = "wrong length";
        return -1;
    }
    if (len < EMIT_TRACEPARENT_LEN || (len > EMIT_TRACEPARENT_LEN && s[EMIT_TRACEPARENT_LEN] != '-')) {
        *why = "wrong length";
        return -1;
    }
    if (s[2] != '-' || s[35] != '-' || s[52] != '-') {
        *why = "fields not separated by '-'";
        return -1;
    }
    if (hex_decode(s + 3, c.trace_id, 16) < 0 || hex_decode(s + 36, c.span_id, 8) < 0 ||
        hex_decode(s + 53, &c.flags, 1) < 0) {
        *why = "not lowercase hex";
        return -1;
    }
    if (all_zero(c.trace_id, 16)) {
        *why = "all-zero trace id";
        return -1;
    }
    if (all_zero(c.span_id, 8)) {
        *why = "all-zero parent id";
        return -1;
    }
    if (version != 0)
        c.flags &= EMIT_FLAG_SAMPLED;
    *ctx = c;
    return 0;
}

void emit_traceparent_format(const struct emit_context *ctx, char out[EMIT_TRACEPARENT_LEN + 1])
{
    memcpy(out, "00-", 3);
    hex_encode(ctx->trace_id, 16, out + 3);
    out[35] = '-';
    hex_encode(ctx->span_id, 8, out + 36);
    out[52] = '-';
    hex_encode(&ctx->flags, 1, out + 53);
    out[EMIT_TRACEPARENT_LEN] = '\0';
}

int emit_random_id(uint8_t *buf, size_t n)
{
    do {
        size_t got = 0;
        while (got < n) {
            ssize_t r = getrandom(buf + got, n - got, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -1;
            got += (size_t)r;
        }
    } while (all_zero(buf, n));
    return 0;
}

/* ---- times ---- */

/* Reads exactly n digits. */
static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int parse_unix_ns(const char *s, uint64_t *ns)
{
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *ns = v;
    return 0;
}

/* The fraction after the seconds' '.': at least one digit, nanoseconds kept. */
static int read_fraction(const char **p, uint32_t *frac)
{
    uint32_t v = 0;
    int n = 0;
    while (**p >= '0' && **p <= '9') {
        if (n < 9) {
            v = v * 10 + (uint32_t)(**p - '0');
            n++;
        }
        (*p)++;
    }
    if (n == 0)
        return -1;
    while (n++ < 9)
        v *= 10;
    *frac = v;
    return 0;
}

/* Z, or ±HH:MM as seconds east of UTC. */
static int read_offset(const char **p, int64_t *offset)
{
    int h, m;
    char sign = **p;
    if (sign == 'Z' || sign == 'z') {
        (*p)++;
        *offset = 0;
        return 0;
    }
    if (sign != '+' && sign != '-')
        return -1;
    (*p)++;
    if (read_digits(p, 2, &h) < 0 || **p != ':')
        return -1;
    (*p)++;
    if (read_digits(p, 2, &m) < 0 || h > 23 || m > 59)
        return -1;
    *offset = (sign == '-' ? -1 : 1) * (int64_t)(h * 3600 + m * 60);
    return 0;
}

static int parse_rfc3339(const char *s, uint64_t *ns)
{
    int y, mo, d, h, mi, sec;
    uint32_t frac = 0;
    int64_t offset;
    const char *p = s;

    if (read_digits(&p, 4, &y) < 0 || *p++ != '-' || read_digits(&p, 2, &mo) < 0 ||
        *p++ != '-' || read_digits(&p, 2, &d) < 0)
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (read_digits(&p, 2, &h) < 0 || *p++ != ':' || read_digits(&p, 2, &mi) < 0 ||
        *p++ != ':' || read_digits(&p, 2, &sec) < 0)
        return -1;
    if (*p == '.') {
        p++;
        if (read_fraction(&p, &frac) < 0)
            return -1;
    }
    if (read_offset(&p, &offset) < 0 || *p != '\0')
        return -1;
    /* Second 60 is a leap second: it counts as the next minute's 00, as in POSIX time. */
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;

    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    if (secs < 0 || (uint64_t)secs > (UINT64_MAX - frac) / 1000000000u)
        return -1;
    *ns = (uint64_t)secs * 1000000000u + frac;
    return 0;
}

int emit_time_parse(const char *s, uint64_t *ns)
{
    if (!s || !*s)
        return -1;
    if (strlen(s) > 20 || strchr(s, '-') || strchr(s, ':'))
        return parse_rfc3339(s, ns);
    return parse_unix_ns(s, ns);
}

uint64_t emit_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- small parsers ---- */

int emit_kind_parse(const char *s, enum emit_kind *kind)
{
    static const struct { const char *name; enum emit_kind kind; } kinds[] = {
        { "internal", EMIT_KIND_INTERNAL }, { "server", EMIT_KIND_SERVER },
        { "client", EMIT_KIND_CLIENT },     { "producer", EMIT_KIND_PRODUCER },
        { "consumer", EMIT_KIND_CONSUMER },
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcasecmp(s, kinds[i].name) == 0) {
            *kind = kinds[i].kind;
            return 0;
        }
    }
    return -1;
}

int emit_attr_parse(const char *s, struct config_kv *kv)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return -1;
    kv->key = strndup(s, (size_t)(eq - s));
    kv->value = strdup(eq + 1);
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        kv->key = kv->value = NULL;
        return -1;
    }
    return 0;
}

int emit_exit_status(int wstatus, char *msg, size_t msglen)
{
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        snprintf(msg, msglen, "killed by signal %d (%s)", sig, strsignal(sig));
        return 128 + sig;
    }
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 1;
    if (code == 0)
        msg[0] = '\0';
    else
        snprintf(msg, msglen, "exit status %d", code);
    return code;
}

/* ---- the request ---- */

/* Everything a request build allocates, freed together once it is packed. */
struct pool {
    void **ptrs;
    size_t n, cap;
    int failed;
};

static void *pool_alloc(struct pool *p, size_t size)
{
    if (p->failed)
        return NULL;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        void **grown = realloc(p->ptrs, cap * sizeof(*grown));
        if (!grown) {
            p->failed = 1;
            return NULL;
        }
        p->ptrs = grown;
        p->cap = cap;
    }
    void *mem = calloc(1, size ? size : 1);
    if (!mem) {
        p->failed = 1;
        return NULL;
    }
    p->ptrs[p->n++] = mem;
    return mem;
}

static void pool_free(struct pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->ptrs[i]);
    free(p->ptrs);
}

/* A copy of s in the pool with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD. NULL only when out of memory. */
static char *clean_string(struct pool *p, const char *s)
{
    const uint8_t *in = (const uint8_t *)(s ? s : "");
    size_t n = strlen((const char *)in);
    /* Each bad byte becomes three: the worst case is every byte bad. */
    char *out = pool_alloc(p, n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(in + i, n - i);
        if (len == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, in + i, len);
            o += len;
            i += len;
        }
    }
    out[o] = '\0';
    return out;
}

/* A growing attribute list with room for cap entries. */
struct attr_list {
    KeyValue **items;
    size_t n;
};

static int attr_list_init(struct pool *p, struct attr_list *l, size_t cap)
{
    l->items = pool_alloc(p, cap * sizeof(*l->items));
    l->n = 0;
    return l->items ? 0 : -1;
}

static int attr_list_has(const struct attr_list *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i]->key, key) == 0)
            return 1;
    return 0;
}

/* Appends a key with an unset value for the caller to fill; NULL when out of memory. */
static AnyValue *attr_list_add(struct pool *p, struct attr_list *l, const char *key)
{
    KeyValue *kv = pool_alloc(p, sizeof(*kv));
    AnyValue *v = pool_alloc(p, sizeof(*v));
    char *k = clean_string(p, key);
    if (!kv || !v || !k)
        return NULL;
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = k;
    kv->value = v;
    l->items[l->n++] = kv;
    return v;
}

static int attr_list_add_string(struct pool *p, struct attr_list *l, const char *key,
                                const char *value)
{
    AnyValue *v = attr_list_add(p, l, key);
    char *s = clean_string(p, value);
    if (!v || !s)
        return -1;
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = s;
    return 0;
}

static int attr_list_add_int(struct pool *p, struct attr_list *l, const char *key, int64_t value)
{
    AnyValue *v = attr_list_add(p, l, key);
    if (!v)
        return -1;
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = value;
    return 0;
}

static int attr_list_add_strings(struct pool *p, struct attr_list *l, const char *key,
                                 char *const *values, size_t n)
{
    AnyValue *v = attr_list_add(p, l, key);
    ArrayValue *arr = pool_alloc(p, sizeof(*arr));
    AnyValue **items = pool_alloc(p, n * sizeof(*items));
    if (!v || !arr || !items)
        return -1;
    opentelemetry__proto__common__v1__array_value__init(arr);
    for (size_t i = 0; i < n; i++) {
        AnyValue *item = pool_alloc(p, sizeof(*item));
        char *s = clean_string(p, values[i]);
        if (!item || !s)
            return -1;
        opentelemetry__proto__common__v1__any_value__init(item);
        item->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        item->string_value = s;
        items[i] = item;
    }
    arr->n_values = n;
    arr->values = items;
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    v->array_value = arr;
    return 0;
}

/* Adds string attributes in order, leaving out a key repeated later in kvs (the last
 * one wins) and keys the list already has (those set by spanrelay-emit itself). */
static int attr_list_add_kvs(struct pool *p, struct attr_list *l, const struct config_kv *kvs,
                             size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int repeated = 0;
        for (size_t j = i + 1; j < n && !repeated; j++)
            repeated = strcmp(kvs[i].key, kvs[j].key) == 0;
        if (repeated || attr_list_has(l, kvs[i].key))
            continue;
        if (attr_list_add_string(p, l, kvs[i].key, kvs[i].value) < 0)
            return -1;
    }
    return 0;
}

static Resource *build_resource(struct pool *p, const struct emit_resource *res)
{
    Resource *r = pool_alloc(p, sizeof(*r));
    struct attr_list l;
    if (!r || attr_list_init(p, &l, res->nattrs + 1) < 0)
        return NULL;
    opentelemetry__proto__resource__v1__resource__init(r);
    if (res->service_name && attr_list_add_string(p, &l, "service.name", res->service_name) < 0)
        return NULL;
    if (attr_list_add_kvs(p, &l, res->attrs, res->nattrs) < 0)
        return NULL;
    r->n_attributes = l.n;
    r->attributes = l.items;
    return r;
}

static int build_span_attributes(struct pool *p, Span *s, const struct emit_span *span)
{
    struct attr_list l;
    if (attr_list_init(p, &l, span->nattrs + 3) < 0)
        return -1;
    if (span->command && attr_list_add_string(p, &l, "process.command", span->command) < 0)
        return -1;
    if (span->nargs &&
        attr_list_add_strings(p, &l, "process.command_args", span->args, span->nargs) < 0)
        return -1;
    if (span->has_exit_code && attr_list_add_int(p, &l, "process.exit.code", span->exit_code) < 0)
        return -1;
    if (attr_list_add_kvs(p, &l, span->attrs, span->nattrs) < 0)
        return -1;
    s->n_attributes = l.n;
    s->attributes = l.items;
    return 0;
}

/* Copies n bytes into the pool, since protobuf-c's binary fields are not const. */
static int set_bytes(struct pool *p, ProtobufCBinaryData *dst, const uint8_t *src, size_t n)
{
    uint8_t *copy = pool_alloc(p, n);
    if (!copy)
        return -1;
    memcpy(copy, src, n);
    dst->data = copy;
    dst->len = n;
    return 0;
}

static Span *build_span(struct pool *p, const struct emit_span *span)
{
    Span *s = pool_alloc(p, sizeof(*s));
    if (!s)
        return NULL;
    opentelemetry__proto__trace__v1__span__init(s);
    if (set_bytes(p, &s->trace_id, span->ctx.trace_id, 16) < 0 ||
        set_bytes(p, &s->span_id, span->ctx.span_id, 8) < 0)
        return NULL;
    if (span->parent_span_id && set_bytes(p, &s->parent_span_id, span->parent_span_id, 8) < 0)
        return NULL;
    if (span->trace_state && span->trace_state[0] &&
        !(s->trace_state = clean_string(p, span->trace_state)))
        return NULL;
    s->flags = span->ctx.flags | EMIT_SPAN_FLAG_HAS_IS_REMOTE |
               (span->parent_span_id ? EMIT_SPAN_FLAG_IS_REMOTE : 0);
    if (!(s->name = clean_string(p, span->name)))
        return NULL;
    s->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)span->kind;
    s->start_time_unix_nano = span->start_ns;
    s->end_time_unix_nano = span->end_ns;
    if (build_span_attributes(p, s, span) < 0)
        return NULL;
    if (span->error) {
        Status *st = pool_alloc(p, sizeof(*st));
        if (!st)
            return NULL;
        opentelemetry__proto__trace__v1__status__init(st);
        st->code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
        if (!(st->message = clean_string(p, span->error)))
            return NULL;
        s->status = st;
    }
    return s;
}

static Request *build_request(struct pool *p, const struct emit_resource *res,
                              const struct emit_span *span)
{
    Request *req = pool_alloc(p, sizeof(*req));
    ResourceSpans *rs = pool_alloc(p, sizeof(*rs));
    ScopeSpans *ss = pool_alloc(p, sizeof(*ss));
    Scope *scope = pool_alloc(p, sizeof(*scope));
    ResourceSpans **rs_list = pool_alloc(p, sizeof(*rs_list));
    ScopeSpans **ss_list = pool_alloc(p, sizeof(*ss_list));
    Span **span_list = pool_alloc(p, sizeof(*span_list));
    char *scope_name = clean_string(p, "spanrelay-emit");
    char *scope_version = clean_string(p, SPANRELAY_VERSION);
    if (!req || !rs || !ss || !scope || !rs_list || !ss_list || !span_list || !scope_name ||
        !scope_version)
        return NULL;

    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(req);
    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    opentelemetry__proto__trace__v1__scope_spans__init(ss);
    opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
    scope->name = scope_name;
    scope->version = scope_version;
    if (!(rs->resource = build_resource(p, res)) || !(span_list[0] = build_span(p, span)))
        return NULL;
    ss->scope = scope;
    ss->n_spans = 1;
    ss->spans = span_list;
    rs->n_scope_spans = 1;
    rs->scope_spans = ss_list;
    ss_list[0] = ss;
    req->n_resource_spans = 1;
    req->resource_spans = rs_list;
    rs_list[0] = rs;
    return req;
}

int emit_request_build(const struct emit_resource *res, const struct emit_span *span,
                       uint8_t **out, size_t *out_len)
{
    struct pool p = { 0 };
    int rc = -1;
    Request *req = build_request(&p, res, span);
    if (req) {
        size_t len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(req);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf) {
            *out_len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(req, buf);
            *out = buf;
            rc = 0;
        }
    }
    pool_free(&p);
    return rc;
}

/* ---- endpoints ---- */

static int fail(char *err, size_t errlen, const char *fmt, const char *arg)
{
    snprintf(err, errlen, fmt, arg);
    return -1;
}

static int copy_field(char *dst, size_t dstlen, const char *src, size_t n)
{
    if (n >= dstlen)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

static int parse_unix_endpoint(const char *path, struct emit_endpoint *ep, char *err,
                               size_t errlen)
{
    if (path[0] != '/')
        return fail(err, errlen, "%s: the socket path must be absolute", path);
    if (copy_field(ep->socket_path, sizeof(ep->socket_path), path, strlen(path)) < 0)
        return fail(err, errlen, "%s: socket path too long", path);
    ep->is_unix = 1;
    strcpy(ep->target, "/v1/traces");
    return 0;
}

/* host[:port] or [v6][:port], without user info: the daemon's own parser. */
static const char *parse_authority(const char *a, size_t n, struct emit_endpoint *ep)
{
    struct netaddr_hostport hp;
    const char *why = netaddr_split(a, n, NETADDR_PORT_OPTIONAL, &hp);
    if (why)
        return why;
    snprintf(ep->host, sizeof(ep->host), "%s", hp.host);
    snprintf(ep->port, sizeof(ep->port), "%u", hp.port ? hp.port : 80);
    return NULL;
}

int emit_endpoint_parse(const char *url, int signal_url, struct emit_endpoint *ep,
                        char *err, size_t errlen)
{
    memset(ep, 0, sizeof(*ep));
    if (strncmp(url, "unix://", 7) == 0)
        return parse_unix_endpoint(url + 7, ep, err, errlen);
    if (strncmp(url, "unix:", 5) == 0)
        return parse_unix_endpoint(url + 5, ep, err, errlen);
    if (url[0] == '/')
        return parse_unix_endpoint(url, ep, err, errlen);
    if (strncasecmp(url, "https://", 8) == 0)
        return fail(err, errlen, "%s: https is not supported (the sidecar is local and "
                                 "speaks cleartext)", url);
    if (strncasecmp(url, "http://", 7) != 0)
        return fail(err, errlen, "%s: expected unix:///path or http://host:port", url);

    const char *authority = url + 7;
    const char *path = authority + strcspn(authority, "/?#");
    const char *why = parse_authority(authority, (size_t)(path - authority), ep);
    if (why) {
        snprintf(err, errlen, "%s: %s", url, why);
        return -1;
    }
    if (strpbrk(path, "?#"))
        return fail(err, errlen, "%s: no query or fragment expected", url);
    size_t path_len = strlen(path);
    if (signal_url) {
        if (path_len == 0)
            path = "/", path_len = 1;
        if (copy_field(ep->target, sizeof(ep->target), path, path_len) < 0)
            return fail(err, errlen, "%s: path too long", url);
        return 0;
    }
    while (path_len > 0 && path[path_len - 1] == '/')
        path_len--;
    if (path_len + sizeof("/v1/traces") > sizeof(ep->target))
        return fail(err, errlen, "%s: path too long", url);
    memcpy(ep->target, path, path_len);
    strcpy(ep->target + path_len, "/v1/traces");
    return 0;
}

/* ---- sending ---- */

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - monotonic_ms();
    if (left <= 0)
        return 0;
    return left > 60000 ? 60000 : (int)left;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = events };
        int left = remaining_ms(deadline);
        if (left == 0)
            return 0;
        int r = poll(&pfd, 1, left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static int connect_unix(const char *path, int64_t deadline, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strnlen(path, sizeof(sa.sun_path) - 1));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, errlen, "socket: %s", strerror(errno));
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            snprintf(err, errlen, "connect %s: %s", path, strerror(errno));
            break;
        }
        /* The listener's backlog is full: it is alive but not accepting. A UNIX socket
         * cannot be polled for room in the backlog, so try again shortly. */
        int left = remaining_ms(deadline);
        if (left == 0) {
            snprintf(err, errlen, "connect %s: backlog full until the timeout", path);
            break;
        }
        sleep_ms(left < 10 ? left : 10);
    }
    close(fd);
    return -1;
}

/* One asynchronous name lookup and everything its thread reads or writes. */
struct lookup {
    struct gaicb cb;
    struct addrinfo hints;
    char host[256];
    char port[8];
};

/* A lookup that could not be cancelled: its thread still writes into it, so it stays
 * allocated (and reachable) until the process exits. */
static struct lookup *stuck_lookup;

/* Resolves host:port within the deadline. Numeric addresses directly; names through
 * glibc's asynchronous lookup, because a slow resolver must not hold the caller past
 * the deadline. */
static int resolve(const struct emit_endpoint *ep, int64_t deadline, struct addrinfo **res,
                   char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    if (getaddrinfo(ep->host, ep->port, &hints, res) == 0)
        return 0;

    struct lookup *l = calloc(1, sizeof(*l));
    if (!l)
        return fail(err, errlen, "%s", "out of memory");
    l->hints = hints;
    l->hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    strcpy(l->host, ep->host);
    strcpy(l->port, ep->port);
    l->cb.ar_name = l->host;
    l->cb.ar_service = l->port;
    l->cb.ar_request = &l->hints;
    struct gaicb *list[1] = { &l->cb };
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (rc != 0) {
        free(l);
        return fail(err, errlen, "name lookup: %s", gai_strerror(rc));
    }
    while ((rc = gai_error(&l->cb)) == EAI_INPROGRESS) {
        int left = remaining_ms(deadline);
        if (left == 0) {
            int cancelled = gai_cancel(&l->cb);
            if (cancelled == EAI_ALLDONE)
                continue;
            if (cancelled == EAI_CANCELED)
                free(l);
            else
                stuck_lookup = l;
            return fail(err, errlen, "name lookup of %s timed out", ep->host);
        }
        struct timespec ts = { left / 1000, (long)(left % 1000) * 1000000 };
        gai_suspend((const struct gaicb *const *)list, 1, &ts);
    }
    *res = l->cb.ar_result;
    free(l);
    if (rc != 0)
        return fail(err, errlen, "name lookup: %s", gai_strerror(rc));
    return 0;
}

/* Connects to one address: 0 with *fd, or -1 with the reason in err. */
static int connect_addr(const struct addrinfo *ai, int64_t deadline, int *fd_out, char *err,
                        size_t errlen)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return fail(err, errlen, "socket: %s", strerror(errno));
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
        int ready = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (ready == 0) {
            close(fd);
            return fail(err, errlen, "%s", "connect timed out");
        }
        if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr) {
            errno = soerr;
            rc = -1;
        } else {
            rc = 0;
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return 0;
}

static int connect_tcp(const struct emit_endpoint *ep, int64_t deadline, char *err,
                       size_t errlen)
{
    struct addrinfo *res = NULL;
    if (resolve(ep, deadline, &res, err, errlen) < 0)
        return -1;
    int fd = -1;
    snprintf(err, errlen, "%s: no address", ep->host);
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        if (connect_addr(ai, deadline, &fd, err, errlen) < 0 && remaining_ms(deadline) == 0)
            break;
    }
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline, char *err,
                    size_t errlen)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ready = wait_fd(fd, POLLOUT, deadline);
            if (ready == 0)
                return fail(err, errlen, "%s", "timed out sending the request");
            if (ready < 0)
                return fail(err, errlen, "poll: %s", strerror(errno));
            continue;
        }
        return fail(err, errlen, "send: %s", strerror(errno));
    }
    return 0;
}

/* The answer, as far as spanrelay-emit cares. */
struct answer {
    char buf[8192];
    size_t len;
    size_t header_len;   /* up to and including the blank line, 0 until seen */
    long content_length; /* -1 when absent */
    int status;          /* 0 until the status line is read */
};

/* Finds a header's value in the header block; NULL when absent. */
static const char *header_value(const struct answer *a, const char *name, size_t *vlen)
{
    size_t name_len = strlen(name);
    const char *p = memchr(a->buf, '\n', a->header_len);
    const char *end = a->buf + a->header_len;
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        if ((size_t)(eol - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *v = line + name_len + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* Called as bytes arrive: reads the status line and, once the headers are in, the
 * body length. */
static int answer_parse(struct answer *a, char *err, size_t errlen)
{
    if (a->status == 0 && a->len >= 12) {
        if (memcmp(a->buf, "HTTP/1.", 7) != 0 || a->buf[8] != ' ')
            return fail(err, errlen, "%s", "the answer is not HTTP/1.x");
        int code = 0;
        for (int i = 9; i < 12; i++) {
            if (a->buf[i] < '0' || a->buf[i] > '9')
                return fail(err, errlen, "%s", "bad HTTP status line");
            code = code * 10 + (a->buf[i] - '0');
        }
        a->status = code;
    }
    if (a->header_len == 0) {
        const char *end = memmem(a->buf, a->len, "\r\n\r\n", 4);
        if (!end)
            return 0;
        a->header_len = (size_t)(end - a->buf) + 4;
        size_t vlen;
        const char *v = header_value(a, "content-length", &vlen);
        a->content_length = -1;
        if (v) {
            char num[24];
            if (vlen == 0 || vlen >= sizeof(num))
                return fail(err, errlen, "%s", "bad Content-Length");
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            char *stop;
            a->content_length = strtol(num, &stop, 10);
            if (*stop || a->content_length < 0)
                return fail(err, errlen, "%s", "bad Content-Length");
        }
    }
    return 0;
}

static int answer_complete(const struct answer *a)
{
    if (a->header_len == 0 || a->content_length < 0)
        return 0;
    return a->len >= a->header_len + (size_t)a->content_length || a->len == sizeof(a->buf);
}

/* Reads until the whole answer is in (or the connection closes, or the buffer is full).
 * Past the deadline, an answer whose status is known is enough. */
static int read_answer(int fd, struct answer *a, int64_t deadline, char *err, size_t errlen)
{
    while (!answer_complete(a) && a->len < sizeof(a->buf)) {
        ssize_t r = recv(fd, a->buf + a->len, sizeof(a->buf) - a->len, 0);
        if (r > 0) {
            a->len += (size_t)r;
            if (answer_parse(a, err, errlen) < 0)
                return -1;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            if (a->status)
                break;
            return fail(err, errlen, "recv: %s", strerror(errno));
        }
        int ready = wait_fd(fd, POLLIN, deadline);
        if (ready <= 0) {
            if (a->status)
                break;
            return fail(err, errlen, "%s", ready == 0 ? "no answer before the timeout"
                                                      : "poll failed");
        }
    }
    if (a->status == 0)
        return fail(err, errlen, "%s", "connection closed without an answer");
    return 0;
}

/* The message of a google.rpc.Status body, when the answer carries one. */
static void error_detail(const struct answer *a, char *out, size_t outlen)
{
    size_t vlen;
    const char *ctype = header_value(a, "content-type", &vlen);
    out[0] = '\0';
    if (!ctype || !memmem(ctype, vlen, "protobuf", 8) || a->len <= a->header_len)
        return;
    size_t body_len = a->len - a->header_len;
    if (a->content_length >= 0 && (size_t)a->content_length < body_len)
        body_len = (size_t)a->content_length;
    Google__Rpc__Status *st = google__rpc__status__unpack(
        NULL, body_len, (const uint8_t *)a->buf + a->header_len);
    if (!st)
        return;
    snprintf(out, outlen, ": %s", st->message);
    google__rpc__status__free_unpacked(st, NULL);
}

static int exchange(int fd, const struct emit_endpoint *ep, const uint8_t *body, size_t len,
                    int64_t deadline, char *err, size_t errlen)
{
    char head[1024];
    char host[300];
    if (ep->is_unix)
        strcpy(host, "localhost");
    else if (strchr(ep->host, ':'))
        snprintf(host, sizeof(host), "[%s]:%s", ep->host, ep->port);
    else
        snprintf(host, sizeof(host), "%s:%s", ep->host, ep->port);
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: spanrelay-emit/" SPANRELAY_VERSION "\r\n"
                     "Content-Type: application/x-protobuf\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: close\r\n"
                     "\r\n",
                     ep->target, host, len);
    if (n < 0 || (size_t)n >= sizeof(head))
        return fail(err, errlen, "%s", "request head too long");
    if (send_all(fd, (const uint8_t *)head, (size_t)n, deadline, err, errlen) < 0 ||
        send_all(fd, body, len, deadline, err, errlen) < 0)
        return -1;

    struct answer *a = calloc(1, sizeof(*a));
    if (!a)
        return fail(err, errlen, "%s", "out of memory");
    int rc = read_answer(fd, a, deadline, err, errlen);
    if (rc == 0 && (a->status < 200 || a->status > 299)) {
        char detail[256];
        error_detail(a, detail, sizeof(detail));
        snprintf(err, errlen, "the sidecar answered %d%s", a->status, detail);
        rc = -1;
    }
    free(a);
    return rc;
}

int emit_send(const struct emit_endpoint *ep, const uint8_t *body, size_t len,
              uint64_t timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = monotonic_ms() + (int64_t)(timeout_ms > 3600000 ? 3600000 : timeout_ms);
    int fd = ep->is_unix ? connect_unix(ep->socket_path, deadline, err, errlen)
                         : connect_tcp(ep, deadline, err, errlen);
    if (fd < 0)
        return -1;
    int rc = exchange(fd, ep, body, len, deadline, err, errlen);
    close(fd);
    return rc;
}
