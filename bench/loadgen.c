/* loadgen.c — offers OTLP export requests to spanrelay (or any OTLP receiver).
 *
 *   loadgen (-s SOCKET | -t HOST:PORT) [-g] [-r SPANS_PER_SEC | 0 for as fast as it goes]
 *           [-d SECONDS] [-c CONNECTIONS] [-n SPANS_PER_REQUEST] [-q REQUESTS_PER_CONNECTION]
 *
 * OTLP/HTTP (protobuf) by default, OTLP/gRPC (HTTP/2 without TLS, one stream at a time
 * per connection) with -g; over a UNIX socket (-s) or TCP (-t, IPv4). Each connection
 * has one request outstanding at a time, as an SDK's batch processor does. -q stops each
 * connection after that many requests (a fixed workload, for instruction counts).
 *
 *   loadgen -w ITERATIONS [-a] [-n SPANS_PER_REQUEST]
 *
 * walks the same requests in this process instead (otlp_rewrite, as the relay's pipeline
 * does at sampling ratio 1.0; -a adds five resource attributes as OTEL_RESOURCE_ATTRIBUTES
 * does), so `valgrind --tool=callgrind loadgen -w N` counts the wire walk's instructions
 * alone.
 *
 * Requests look like an instrumented web service's: 100 spans each, ~10 attributes and
 * 2 events a span, ~530 bytes a span, fresh trace ids. A few dozen bodies are encoded
 * up front so that the generator spends its time sending, not encoding. Prints one JSON
 * line: offered spans, requests, errors, elapsed seconds. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "pipeline/otlp.h"

#define BODIES 32

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;

struct body {
    uint8_t *data;
    size_t len;
};

static struct body bodies[BODIES];
static struct body grpc_bodies[BODIES]; /* the same with gRPC's 5-byte message prefix */
static const char *socket_path;
static struct sockaddr_in tcp_addr;
static int use_tcp, use_grpc;
static double rate_per_conn;       /* requests per second per connection; 0 = unbounded */
static double duration_s = 10;
static int spans_per_request = 100;
static volatile int stop_flag;
static uint64_t max_requests;      /* per connection; 0 = until the duration is over */

struct worker {
    pthread_t thread;
    uint64_t requests, errors;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_string(KeyValue *kv, AnyValue *v, const char *key, const char *s)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
    kv->value = v;
}

static void set_int(KeyValue *kv, AnyValue *v, const char *key, int64_t n)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = n;
    kv->value = v;
}

/* One request of n spans in traces of 10 spans: a root and its children. */
static struct body make_body(int n)
{
    static const char *keys[10] = { "http.request.method", "url.path", "http.route",
                                    "http.response.status_code", "server.address",
                                    "db.system", "db.statement", "user_agent.original",
                                    "network.peer.address", "agent.task.id" };
    static const char *values[10] = { "POST", "/api/v1/tasks/8812", "/api/v1/tasks/{id}/steps",
                                      "", "web-7f9c6-x2kqz", "postgresql",
                                      "SELECT state FROM steps WHERE id=$1",
                                      "python-httpx/0.27.0", "10.42.3.17", "task-8812-3" };
    Span *spans = calloc((size_t)n, sizeof(Span));
    Span **span_ptrs = calloc((size_t)n, sizeof(Span *));
    KeyValue *kvs = calloc((size_t)n * 14, sizeof(KeyValue));
    AnyValue *avs = calloc((size_t)n * 14, sizeof(AnyValue));
    KeyValue **kv_ptrs = calloc((size_t)n * 14, sizeof(KeyValue *));
    Event *events = calloc((size_t)n * 2, sizeof(Event));
    Event **event_ptrs = calloc((size_t)n * 2, sizeof(Event *));
    uint8_t *ids = calloc((size_t)n, 32);
    uint64_t t0 = (uint64_t)time(NULL) * 1000000000ull;

    for (int i = 0; i < n; i++) {
        Span *s = &spans[i];
        opentelemetry__proto__trace__v1__span__init(s);
        uint8_t *trace_id = ids + (size_t)(i / 10) * 32;
        uint8_t *span_id = ids + (size_t)i * 32 + 16;
        if (i % 10 == 0)
            getrandom(trace_id, 16, 0);
        getrandom(span_id, 8, 0);
        s->trace_id = (ProtobufCBinaryData){ 16, trace_id };
        s->span_id = (ProtobufCBinaryData){ 8, span_id };
        if (i % 10 != 0)
            s->parent_span_id = (ProtobufCBinaryData){ 8, ids + (size_t)(i - i % 10) * 32 + 16 };
        s->name = i % 10 == 0 ? "POST /api/v1/tasks/{id}/steps" : "SELECT steps";
        s->kind = i % 10 == 0 ? 2 : 3;
        s->start_time_unix_nano = t0 + (uint64_t)i * 1000;
        s->end_time_unix_nano = t0 + (uint64_t)i * 1000 + 250000;
        s->flags = 0x101;
        KeyValue **kp = kv_ptrs + (size_t)i * 14;
        for (int k = 0; k < 10; k++) {
            size_t idx = (size_t)i * 14 + (size_t)k;
            if (k == 3)
                set_int(&kvs[idx], &avs[idx], keys[k], 200);
            else
                set_string(&kvs[idx], &avs[idx], keys[k], values[k]);
            kp[k] = &kvs[idx];
        }
        s->attributes = kp;
        s->n_attributes = 10;
        for (int e = 0; e < 2; e++) {
            Event *ev = &events[(size_t)i * 2 + (size_t)e];
            opentelemetry__proto__trace__v1__span__event__init(ev);
            ev->time_unix_nano = t0 + (uint64_t)i * 1000 + 1000 * (uint64_t)(e + 1);
            ev->name = e == 0 ? "recv" : "sent";
            size_t idx = (size_t)i * 14 + 10 + (size_t)e * 2;
            set_int(&kvs[idx], &avs[idx], "bytes", 1024 * (e + 1));
            set_string(&kvs[idx + 1], &avs[idx + 1], "phase", e == 0 ? "start" : "end");
            kp[10 + e * 2] = &kvs[idx];
            kp[11 + e * 2] = &kvs[idx + 1];
            ev->attributes = &kp[10 + e * 2];
            ev->n_attributes = 2;
            event_ptrs[(size_t)i * 2 + (size_t)e] = ev;
        }
        s->events = &event_ptrs[(size_t)i * 2];
        s->n_events = 2;
        span_ptrs[i] = s;
    }

    Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "opentelemetry.instrumentation.fastapi";
    scope.version = "0.48b0";
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.scope = &scope;
    ss.spans = span_ptrs;
    ss.n_spans = (size_t)n;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
    KeyValue rkv[2];
    AnyValue rav[2];
    KeyValue *rkp[2] = { &rkv[0], &rkv[1] };
    set_string(&rkv[0], &rav[0], "service.name", "aifactory-web");
    set_string(&rkv[1], &rav[1], "k8s.pod.name", "web-7f9c6d8b5-x2kqz");
    Opentelemetry__Proto__Resource__V1__Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    res.attributes = rkp;
    res.n_attributes = 2;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = &res;
    rs.scope_spans = &ssp;
    rs.n_scope_spans = 1;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.resource_spans = &rsp;
    req.n_resource_spans = 1;

    struct body b;
    b.len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    b.data = malloc(b.len);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, b.data);
    free(spans);
    free(span_ptrs);
    free(kvs);
    free(avs);
    free(kv_ptrs);
    free(events);
    free(event_ptrs);
    free(ids);
    return b;
}

static int connect_socket(void)
{
    if (use_tcp) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        if (fd < 0)
            return -1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&tcp_addr, sizeof(tcp_addr)) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one response; returns its status code, or -1 when the connection failed. */
static int read_response(int fd)
{
    char buf[4096];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        int status = atoi(buf + 9);
        char *cl = strcasestr(buf, "content-length:");
        size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        size_t got = have - (size_t)(end + 4 - buf);
        while (got < body) {
            n = read(fd, buf, sizeof(buf));
            if (n <= 0)
                return -1;
            got += (size_t)n;
        }
        return status;
    }
}

/* One gRPC connection: an nghttp2 client session on a blocking socket. */
struct grpc_conn {
    int fd;
    nghttp2_session *session;
    int32_t stream;          /* the request under way */
    int done;                /* its stream closed */
    int ok;                  /* :status 200 and grpc-status 0 */
    const struct body *body; /* what it sends */
};

static ssize_t grpc_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
                         void *user)
{
    struct grpc_conn *c = user;
    (void)s;
    (void)flags;
    return write_all(c->fd, data, len) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)len;
}

/* Body bytes go straight from the prepared buffer to the socket, header and data in one
 * writev, so the generator does not copy what it sends. */
static int grpc_send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                          size_t length, nghttp2_data_source *source, void *user)
{
    struct grpc_conn *c = user;
    size_t off = (size_t)source->ptr;
    struct iovec iov[2] = { { (void *)framehd, 9 }, { c->body->data + off, length } };
    size_t left = 9 + length;
    (void)s;
    (void)frame;
    while (left > 0) {
        ssize_t n = writev(c->fd, iov, 2);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        left -= (size_t)n;
        for (int i = 0; i < 2; i++) {
            size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            n -= (ssize_t)take;
        }
    }
    source->ptr = (void *)(off + length);
    return 0;
}

static ssize_t grpc_read_body(nghttp2_session *s, int32_t stream, uint8_t *buf, size_t len,
                              uint32_t *flags, nghttp2_data_source *source, void *user)
{
    struct grpc_conn *c = user;
    size_t off = (size_t)source->ptr;
    size_t left = c->body->len - off;
    size_t n = left < len ? left : len;
    (void)s;
    (void)stream;
    (void)buf;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == left)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int grpc_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                          size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                          void *user)
{
    struct grpc_conn *c = user;
    (void)s;
    (void)flags;
    if (frame->hd.stream_id != c->stream)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0)
        c->ok = valuelen == 3 && memcmp(value, "200", 3) == 0;
    else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
        c->ok = c->ok && valuelen == 1 && value[0] == '0';
    return 0;
}

static int grpc_on_close(nghttp2_session *s, int32_t stream, uint32_t code, void *user)
{
    struct grpc_conn *c = user;
    (void)s;
    if (stream == c->stream) {
        c->done = 1;
        if (code != 0)
            c->ok = 0;
    }
    return 0;
}

static void grpc_close(struct grpc_conn *c)
{
    if (c->session)
        nghttp2_session_del(c->session);
    if (c->fd >= 0)
        close(c->fd);
    c->session = NULL;
    c->fd = -1;
}

static int grpc_open(struct grpc_conn *c)
{
    nghttp2_session_callbacks *cb;
    nghttp2_settings_entry settings[] = { { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24 } };
    c->fd = connect_socket();
    c->session = NULL;
    if (c->fd < 0)
        return -1;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, grpc_send);
    nghttp2_session_callbacks_set_send_data_callback(cb, grpc_send_data);
    nghttp2_session_callbacks_set_on_header_callback(cb, grpc_on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, grpc_on_close);
    int rv = nghttp2_session_client_new(&c->session, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0 || nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 1) != 0 ||
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 1 << 24) != 0) {
        grpc_close(c);
        return -1;
    }
    return 0;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, \
                   NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE }

/* Sends one Export call and waits for its answer: 0 when it succeeded, 1 when the server
 * answered with an error, -1 when the connection failed. */
static int grpc_call(struct grpc_conn *c, const struct body *b)
{
    static const nghttp2_nv head[] = {
        NV(":method", "POST"), NV(":scheme", "http"), NV(":authority", "spanrelay"),
        NV(":path", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
        NV("content-type", "application/grpc"), NV("te", "trailers"),
    };
    nghttp2_data_provider data = { .source.ptr = NULL, .read_callback = grpc_read_body };
    uint8_t buf[16384];
    c->body = b;
    c->done = 0;
    c->ok = 0;
    c->stream = nghttp2_submit_request(c->session, NULL, head, sizeof(head) / sizeof(head[0]),
                                       &data, NULL);
    if (c->stream < 0)
        return -1;
    while (!c->done) {
        if (nghttp2_session_send(c->session) != 0)
            return -1;
        if (c->done)
            break;
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || nghttp2_session_mem_recv(c->session, buf, (size_t)n) < 0)
            return -1;
    }
    /* Acknowledgements (SETTINGS, WINDOW_UPDATE) owed to the server go out now. */
    if (nghttp2_session_send(c->session) != 0)
        return -1;
    return c->ok ? 0 : 1;
}

static void pace(double *next)
{
    if (rate_per_conn > 0) {
        double t = now_s();
        if (t < *next) {
            struct timespec ts = { 0, (long)((*next - t) * 1e9) };
            nanosleep(&ts, NULL);
        }
        *next += 1.0 / rate_per_conn;
    }
}

static void grpc_worker(struct worker *w)
{
    struct grpc_conn c = { .fd = -1 };
    double next = now_s();
    unsigned i = 0;
    grpc_open(&c);
    while (!stop_flag && c.fd >= 0 && (!max_requests || w->requests < max_requests)) {
        pace(&next);
        int r = grpc_call(&c, &grpc_bodies[i++ % BODIES]);
        if (r == 0) {
            w->requests++;
            continue;
        }
        w->errors++;
        if (r < 0) {
            grpc_close(&c);
            grpc_open(&c);
        }
    }
    grpc_close(&c);
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    if (use_grpc) {
        grpc_worker(w);
        return NULL;
    }
    int fd = connect_socket();
    double next = now_s();
    unsigned i = 0;
    while (!stop_flag && fd >= 0 && (!max_requests || w->requests < max_requests)) {
        pace(&next);
        const struct body *b = &bodies[i++ % BODIES];
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "POST /v1/traces HTTP/1.1\r\nHost: spanrelay\r\n"
                          "Content-Type: application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                          b->len);
        if (write_all(fd, head, (size_t)hl) < 0 || write_all(fd, b->data, b->len) < 0) {
            w->errors++;
            close(fd);
            fd = connect_socket();
            continue;
        }
        int status = read_response(fd);
        if (status != 200) {
            w->errors++;
            if (status < 0) {
                close(fd);
                fd = connect_socket();
            }
            continue;
        }
        w->requests++;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* Walks every body `iterations` times; returns 0 when every walk succeeded. */
static int walk_bodies(long iterations, int add_attributes)
{
    static struct config_kv attrs[] = {
        { "k8s.namespace.name", "aifactory" }, { "k8s.node.name", "node-pool-a-3" },
        { "k8s.deployment.name", "web" }, { "service.version", "1.42.0" },
        { "deployment.environment", "production" },
    };
    struct otlp_rewrite_opts opts = { .service_name = "aifactory-web" };
    uint64_t kept = 0;
    char err[256];
    if (add_attributes) {
        opts.attrs = attrs;
        opts.attrs_count = sizeof(attrs) / sizeof(attrs[0]);
    }
    for (long it = 0; it < iterations; it++) {
        for (int i = 0; i < BODIES; i++) {
            struct otlp_counts counts;
            uint8_t *out = NULL;
            size_t out_len = 0;
            if (otlp_rewrite(bodies[i].data, bodies[i].len, &opts, &out, &out_len, &counts, err,
                             sizeof(err)) != 0) {
                fprintf(stderr, "loadgen: walk failed: %s\n", err);
                return 1;
            }
            kept += counts.kept;
            free(out);
        }
    }
    printf("{\"walked_spans\":%llu}\n", (unsigned long long)kept);
    return 0;
}

/* 1 when s is IPV4:PORT (kept in tcp_addr), -1 otherwise. */
static int parse_tcp(const char *s)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    tcp_addr.sin_family = AF_INET;
    tcp_addr.sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &tcp_addr.sin_addr) == 1 ? 1 : -1;
}

int main(int argc, char **argv)
{
    double rate = 0;
    int conns = 2;
    long walk_iterations = 0;
    int walk_attributes = 0;
    int opt;
    while ((opt = getopt(argc, argv, "s:t:gr:d:c:n:q:w:a")) != -1) {
        switch (opt) {
        case 's': socket_path = optarg; break;
        case 't': use_tcp = parse_tcp(optarg); break;
        case 'g': use_grpc = 1; break;
        case 'w': walk_iterations = atol(optarg); break;
        case 'a': walk_attributes = 1; break;
        case 'q': max_requests = strtoull(optarg, NULL, 10); break;
        case 'r': rate = atof(optarg); break;
        case 'd': duration_s = atof(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'n': spans_per_request = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: loadgen (-s SOCKET | -t HOST:PORT) [-g] [-r SPANS/S] "
                            "[-d SECONDS] [-c CONNS] [-n SPANS] [-q REQUESTS] | loadgen -w N [-a]\n");
            return 2;
        }
    }
    if (walk_iterations > 0) {
        for (int i = 0; i < BODIES; i++)
            bodies[i] = make_body(spans_per_request);
        int rc = walk_bodies(walk_iterations, walk_attributes);
        for (int i = 0; i < BODIES; i++)
            free(bodies[i].data);
        return rc;
    }
    if ((!socket_path && use_tcp <= 0) || conns < 1 || spans_per_request < 1) {
        fprintf(stderr, "loadgen: -s SOCKET or -t IPV4:PORT is required\n");
        return 2;
    }
    for (int i = 0; i < BODIES; i++) {
        bodies[i] = make_body(spans_per_request);
        grpc_bodies[i].len = bodies[i].len + 5;
        grpc_bodies[i].data = malloc(grpc_bodies[i].len);
        grpc_bodies[i].data[0] = 0;
        for (int k = 0; k < 4; k++)
            grpc_bodies[i].data[1 + k] = (uint8_t)(bodies[i].len >> (24 - 8 * k));
        memcpy(grpc_bodies[i].data + 5, bodies[i].data, bodies[i].len);
    }
    rate_per_conn = rate > 0 ? rate / spans_per_request / conns : 0;

    struct worker *workers = calloc((size_t)conns, sizeof(*workers));
    double t0 = now_s();
    for (int i = 0; i < conns; i++)
        pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]);
    while (!max_requests && now_s() - t0 < duration_s) {
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    stop_flag = !max_requests;
    uint64_t requests = 0, errors = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(workers[i].thread, NULL);
        requests += workers[i].requests;
        errors += workers[i].errors;
    }
    double elapsed = now_s() - t0;
    printf("{\"offered_spans\":%llu,\"requests\":%llu,\"errors\":%llu,\"elapsed_s\":%.3f,"
           "\"bytes_per_span\":%.1f}\n",
           (unsigned long long)(requests * (uint64_t)spans_per_request),
           (unsigned long long)requests, (unsigned long long)errors, elapsed,
           (double)bodies[0].len / spans_per_request);
    for (int i = 0; i < BODIES; i++) {
        free(bodies[i].data);
        free(grpc_bodies[i].data);
    }
    free(workers);
    return 0;
}
