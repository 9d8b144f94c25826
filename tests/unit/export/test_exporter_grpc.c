/* test_exporter_grpc.c — the OTLP/gRPC transport (exporter_grpc.c, tls.c) against a
 * real gRPC server: tests/unit/export/grpc_backend.py (python3-grpcio), started per test on a
 * free loopback port, told how to answer by --mode, and killed by PID.
 *
 * This file stands in for exporter.c: its exporter_transport_done,
 * exporter_reconnect_delay_ms and exporter_transport_state record what the transport
 * does. Without TLS the backend's relay decodes every request the transport sends (HPACK
 * included) into a record file, so the tests check headers, the gRPC prefix and the
 * message bytes (by SHA-256) as they arrived. TLS tests make their own CA and server
 * certificates with the openssl command in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "export/exporter_transport.h"
#include "base/log.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "unit.h"

#define PYTHON "/usr/bin/python3"
#define MAX_REQS 8
#define WAIT_MS 15000

/* ---------------------------------------------------------------- the fake exporter */

struct exporter {
    uv_loop_t *loop;
    uint64_t reconnect_delay_ms;   /* what exporter_reconnect_delay_ms returns */
    int reconnect_calls;
    int in_send;                   /* set around send(): answering inside it is a bug */
    int answered_in_send;
    int done;                      /* answers received */
    int want;                      /* run_until_done's target: stop the loop there */
    int answers[MAX_REQS];         /* per request: must end at 1 */
    struct exporter_result res[MAX_REQS];
    uint64_t done_at[MAX_REQS];
    int states;                    /* exporter_transport_state calls */
    int state_connected[16];
    char state_error[16][256];
};

void exporter_transport_done(struct exporter *e, struct exporter_request *req,
                             const struct exporter_result *res)
{
    int i = (int)(intptr_t)req->owner;
    if (e->in_send)
        e->answered_in_send++;
    e->answers[i]++;
    e->res[i] = *res;
    e->done_at[i] = uv_now(e->loop);
    e->done++;
    /* An answer from a timer must not leave uv_run polling until the next event. */
    if (e->done >= e->want)
        uv_stop(e->loop);
}

uint64_t exporter_reconnect_delay_ms(struct exporter *e)
{
    e->reconnect_calls++;
    return e->reconnect_delay_ms;
}

void exporter_transport_state(struct exporter *e, int connected, const char *error)
{
    if (e->states < 16) {
        e->state_connected[e->states] = connected;
        snprintf(e->state_error[e->states], sizeof(e->state_error[0]), "%s", error ? error : "");
    }
    e->states++;
}

/* ---------------------------------------------------------------- fixture */

struct fixture {
    char dir[96];
    char record[128];
    char backend_log[128];
    char log_path[128];
    FILE *log;
    pid_t backend;
    int port;
    uv_loop_t loop;
    uv_timer_t watchdog;
    int watchdog_fired;
    struct exporter e;
    struct export_target cfg;
    char endpoint[160];
    struct config_kv headers[4];
    struct exporter_transport *t;
    struct exporter_request reqs[MAX_REQS];
    uint8_t *bodies[MAX_REQS];
    char body_sha[MAX_REQS][65];
};

static struct fixture fx;

/* Everything the run writes goes under run_dir, removed whole at the end, even when a
 * failed check ended a test before its teardown. */
static char run_dir[64];
/* Certificates shared by the TLS tests (made once per run). */
static char cert_dir[96];

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.dir, sizeof(fx.dir), "%s/test-XXXXXX", run_dir);
    ck_assert_ptr_nonnull(mkdtemp(fx.dir));
    snprintf(fx.record, sizeof(fx.record), "%s/record.txt", fx.dir);
    snprintf(fx.backend_log, sizeof(fx.backend_log), "%s/backend.log", fx.dir);
    snprintf(fx.log_path, sizeof(fx.log_path), "%s/log.jsonl", fx.dir);
    fx.log = fopen(fx.log_path, "w+");
    ck_assert_ptr_nonnull(fx.log);
    log_init(LOG_DEBUG, fx.log);
    ck_assert_int_eq(uv_loop_init(&fx.loop), 0);
    uv_timer_init(&fx.loop, &fx.watchdog);
    fx.e.loop = &fx.loop;
    fx.e.want = MAX_REQS + 1;
    fx.cfg.enabled = 1;
    fx.cfg.key = "otel";
    fx.cfg.headers_key = "OTEL_EXPORTER_OTLP_HEADERS";
    fx.cfg.certificate_key = "OTEL_EXPORTER_OTLP_CERTIFICATE";
    fx.cfg.endpoint = fx.endpoint;
    fx.cfg.protocol = CONFIG_PROTOCOL_GRPC;
    fx.cfg.timeout_ms = 5000;
    fx.cfg.retry_initial_interval_ms = 500;
    fx.cfg.retry_max_interval_ms = 5000;
}

static void backend_stop(void)
{
    if (fx.backend > 0) {
        kill(fx.backend, SIGKILL);
        waitpid(fx.backend, NULL, 0);
        fx.backend = 0;
    }
}

static void teardown(void)
{
    if (fx.t)
        exporter_grpc_ops.destroy(fx.t);
    fx.t = NULL;
    uv_close((uv_handle_t *)&fx.watchdog, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&fx.loop);
    backend_stop();
    log_init(LOG_INFO, stderr);
    fclose(fx.log);
    for (int i = 0; i < MAX_REQS; i++)
        free(fx.bodies[i]);
    unlink(fx.record);
    unlink(fx.backend_log);
    unlink(fx.log_path);
    rmdir(fx.dir);
    /* Every handle closed: the transport freed itself (LSan checks the memory). */
    ck_assert_int_eq(rc, 0);
}

static char *script_path(void)
{
    static char path[512];
    const char *env = getenv("GRPC_BACKEND");
    if (env)
        return (char *)env;
    snprintf(path, sizeof(path), "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (slash)
        snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "grpc_backend.py");
    else
        snprintf(path, sizeof(path), "grpc_backend.py");
    return path;
}

/* Starts the backend and reads the port it prints. tls_name: NULL for plaintext, else
 * the base name of a certificate/key pair in cert_dir. */
static void backend_start_tls(const char *mode, int expect, const char *tls_name)
{
    int fds[2];
    char expect_arg[16], cert[160], key[160];
    snprintf(expect_arg, sizeof(expect_arg), "%d", expect);
    if (tls_name) {
        snprintf(cert, sizeof(cert), "%s/%s.pem", cert_dir, tls_name);
        snprintf(key, sizeof(key), "%s/%s.key", cert_dir, tls_name);
    }
    ck_assert_int_eq(pipe(fds), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Dies with the test process, even when a failed check ends it early. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        dup2(fds[1], STDOUT_FILENO);
        int log = open(fx.backend_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (log >= 0)
            dup2(log, STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        char *argv[16];
        int n = 0;
        argv[n++] = PYTHON;
        argv[n++] = script_path();
        argv[n++] = "--mode";
        argv[n++] = (char *)mode;
        argv[n++] = "--record";
        argv[n++] = fx.record;
        argv[n++] = "--expect";
        argv[n++] = expect_arg;
        argv[n++] = "--lifetime";
        argv[n++] = "60";
        if (tls_name) {
            argv[n++] = "--tls-cert";
            argv[n++] = cert;
            argv[n++] = "--tls-key";
            argv[n++] = key;
        }
        argv[n] = NULL;
        execv(PYTHON, argv);
        _exit(127);
    }
    fx.backend = pid;
    close(fds[1]);
    char line[32] = "";
    size_t len = 0;
    struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "backend did not start (see %s)",
                      fx.backend_log);
        ssize_t n = read(fds[0], line + len, sizeof(line) - 1 - len);
        ck_assert_msg(n > 0, "backend exited before listening");
        len += (size_t)n;
        line[len] = '\0';
    }
    close(fds[0]);
    fx.port = atoi(line);
    ck_assert_int_gt(fx.port, 0);
}

static void backend_start(const char *mode, int expect)
{
    backend_start_tls(mode, expect, NULL);
    snprintf(fx.endpoint, sizeof(fx.endpoint), "http://127.0.0.1:%d", fx.port);
}

static void transport_create(void)
{
    char err[256] = "";
    fx.t = exporter_grpc_ops.create(&fx.loop, &fx.cfg, &fx.e, err, sizeof(err));
    ck_assert_msg(fx.t != NULL, "create failed: %s", err);
}

/* ---------------------------------------------------------------- requests */

static void sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    ck_assert_int_eq(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < mdlen; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* An ExportTraceServiceRequest of nspans spans named "span-<i>" padded to name_len. */
static uint8_t *make_body(int nspans, size_t name_len, size_t *len)
{
    Opentelemetry__Proto__Trace__V1__Span spans[4];
    Opentelemetry__Proto__Trace__V1__Span *span_ptrs[4];
    uint8_t trace_id[16], span_id[4][8];
    char *names[4];
    ck_assert_int_le(nspans, 4);
    for (int i = 0; i < 16; i++)
        trace_id[i] = (uint8_t)(i + 1);
    for (int i = 0; i < nspans; i++) {
        Opentelemetry__Proto__Trace__V1__Span init = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
        spans[i] = init;
        memset(span_id[i], i + 1, sizeof(span_id[i]));
        spans[i].trace_id.data = trace_id;
        spans[i].trace_id.len = sizeof(trace_id);
        spans[i].span_id.data = span_id[i];
        spans[i].span_id.len = sizeof(span_id[i]);
        names[i] = malloc(name_len + 16);
        int n = snprintf(names[i], name_len + 16, "span-%d", i);
        memset(names[i] + n, 'x', name_len > (size_t)n ? name_len - (size_t)n : 0);
        names[i][name_len > (size_t)n ? name_len : (size_t)n] = '\0';
        spans[i].name = names[i];
        spans[i].start_time_unix_nano = 1700000000000000000ull + (uint64_t)i;
        spans[i].end_time_unix_nano = 1700000000000001000ull + (uint64_t)i;
        span_ptrs[i] = &spans[i];
    }
    Opentelemetry__Proto__Trace__V1__ScopeSpans scope = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *scope_ptr = &scope;
    scope.n_spans = (size_t)nspans;
    scope.spans = span_ptrs;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs_ptr = &rs;
    rs.n_scope_spans = 1;
    rs.scope_spans = &scope_ptr;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest msg =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    msg.n_resource_spans = 1;
    msg.resource_spans = &rs_ptr;
    *len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&msg);
    uint8_t *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&msg, buf);
    for (int i = 0; i < nspans; i++)
        free(names[i]);
    return buf;
}

static uint8_t *gzip_body(const uint8_t *in, size_t len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)len);
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static uint8_t *zstd_body(const uint8_t *in, size_t len, size_t *out_len)
{
    size_t cap = ZSTD_compressBound(len);
    uint8_t *out = malloc(cap);
    size_t n = ZSTD_compress(out, cap, in, len, 3);
    ck_assert(!ZSTD_isError(n));
    *out_len = n;
    return out;
}

/* Request i: a body of nspans spans, sent as is or compressed with encoding. */
static void prepare(int i, int nspans, size_t name_len, const char *encoding)
{
    size_t len;
    uint8_t *body = make_body(nspans, name_len, &len);
    sha256_hex(body, len, fx.body_sha[i]);
    if (strcmp(encoding, "gzip") == 0 || strcmp(encoding, "zstd") == 0) {
        size_t clen;
        uint8_t *c = encoding[0] == 'g' ? gzip_body(body, len, &clen) : zstd_body(body, len, &clen);
        free(body);
        body = c;
        len = clen;
    }
    fx.bodies[i] = body;
    fx.reqs[i].body = body;
    fx.reqs[i].len = len;
    fx.reqs[i].encoding = encoding;
    fx.reqs[i].owner = (void *)(intptr_t)i;
}

static void send_req(int i)
{
    fx.e.in_send = 1;
    ck_assert_int_eq(exporter_grpc_ops.send(fx.t, &fx.reqs[i]), 0);
    fx.e.in_send = 0;
    ck_assert_int_eq(fx.e.answered_in_send, 0);
}

static void on_watchdog(uv_timer_t *timer)
{
    (void)timer;
    fx.watchdog_fired = 1;
}

/* Runs the loop until want answers arrived or ms passed; returns 1 on the former. */
static int run_until_done(int want, uint64_t ms)
{
    fx.watchdog_fired = 0;
    fx.e.want = want;
    uv_timer_start(&fx.watchdog, on_watchdog, ms, 0);
    while (fx.e.done < want && !fx.watchdog_fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
    uv_timer_stop(&fx.watchdog);
    fx.e.want = MAX_REQS + 1;
    return fx.e.done >= want;
}

static void run_for(uint64_t ms)
{
    fx.watchdog_fired = 0;
    uv_timer_start(&fx.watchdog, on_watchdog, ms, 0);
    while (!fx.watchdog_fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
}

static void send_and_wait(int n)
{
    for (int i = 0; i < n; i++)
        send_req(i);
    ck_assert_msg(run_until_done(n, WAIT_MS), "only %d of %d answers", fx.e.done, n);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(fx.e.answers[i], 1);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Waits (running the loop) until the record file holds needle. */
static char *record_with(const char *needle)
{
    for (int i = 0; i < 300; i++) {
        char *s = read_file(fx.record);
        if (strstr(s, needle))
            return s;
        free(s);
        run_for(10);
    }
    char *s = read_file(fx.record);
    ck_abort_msg("record lacks \"%s\":\n%s", needle, s);
    return s;
}

static void assert_has(const char *s, const char *needle)
{
    ck_assert_msg(strstr(s, needle) != NULL, "\"%s\" not found in:\n%s", needle, s);
}

static void assert_outcome(int i, enum exporter_outcome outcome, const char *message_part)
{
    const struct exporter_result *r = &fx.e.res[i];
    ck_assert_msg(r->outcome == outcome, "request %d: outcome %d, expected %d (message: %s)", i,
                  r->outcome, outcome, r->message);
    if (message_part)
        ck_assert_msg(strstr(r->message, message_part), "request %d: message \"%s\" lacks \"%s\"",
                      i, r->message, message_part);
}

/* ---------------------------------------------------------------- answers */

START_TEST(test_ok_with_partial_success)
{
    backend_start("partial", 1);
    transport_create();
    ck_assert_int_eq(exporter_grpc_ops.capacity(fx.t), MAX_REQS);
    prepare(0, 3, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
    ck_assert_int_eq(fx.e.res[0].rejected, 3);
    ck_assert_str_eq(fx.e.res[0].message, "3 spans too old");
    ck_assert_int_eq(fx.e.res[0].connected, 1);
    ck_assert_int_eq(fx.e.res[0].retry_after_ms, 0);
    ck_assert_int_eq(fx.e.states, 1);
    ck_assert_int_eq(fx.e.state_connected[0], 1);

    /* What arrived: the gRPC request exactly as OTLP/gRPC defines it. */
    char *rec = record_with("end\n");
    char expect[256];
    assert_has(rec, "header :method POST\n");
    assert_has(rec, "header :scheme http\n");
    assert_has(rec, "header :path /opentelemetry.proto.collector.trace.v1.TraceService/Export\n");
    snprintf(expect, sizeof(expect), "header :authority 127.0.0.1:%d\n", fx.port);
    assert_has(rec, expect);
    assert_has(rec, "header content-type application/grpc\n");
    assert_has(rec, "header te trailers\n");
    assert_has(rec, "header grpc-timeout 5000m\n");
    assert_has(rec, "header grpc-accept-encoding identity\n");
    assert_has(rec, "header user-agent spanrelay/" SPANRELAY_VERSION "\n");
    ck_assert_ptr_null(strstr(rec, "grpc-encoding "));
    snprintf(expect, sizeof(expect), "flag 0 length %zu payload %zu\n", fx.reqs[0].len,
             fx.reqs[0].len);
    assert_has(rec, expect);
    snprintf(expect, sizeof(expect), "decoded yes sha256 %s ", fx.body_sha[0]);
    assert_has(rec, expect);
    free(rec);
}
END_TEST

START_TEST(test_ok_without_partial_success)
{
    backend_start("ok", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
    ck_assert_int_eq(fx.e.res[0].rejected, 0);
    ck_assert_str_eq(fx.e.res[0].message, "");
}
END_TEST

START_TEST(test_unavailable_is_retried)
{
    backend_start("unavailable", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    /* grpc-message arrives percent-encoded ("100%25"); the result has it decoded. */
    assert_outcome(0, EXPORTER_RETRY, NULL);
    ck_assert_str_eq(fx.e.res[0].message, "UNAVAILABLE: backend says xyz (100% busy)");
    ck_assert_int_eq(fx.e.res[0].connected, 1);
    ck_assert_int_eq(fx.e.res[0].retry_after_ms, 0);
}
END_TEST

START_TEST(test_resource_exhausted_with_retry_info)
{
    backend_start("exhausted_retry", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "RESOURCE_EXHAUSTED: slow down");
    ck_assert_int_eq(fx.e.res[0].retry_after_ms, 2500);
    ck_assert_int_eq(fx.e.res[0].connected, 1);
}
END_TEST

START_TEST(test_resource_exhausted_without_retry_info)
{
    backend_start("exhausted", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_FAIL, "RESOURCE_EXHAUSTED: quota exceeded");
    ck_assert_int_eq(fx.e.res[0].retry_after_ms, 0);
}
END_TEST

START_TEST(test_invalid_argument_fails)
{
    backend_start("invalid", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_FAIL, NULL);
    ck_assert_str_eq(fx.e.res[0].message, "INVALID_ARGUMENT: bad spans");
}
END_TEST

START_TEST(test_http_503_is_retried)
{
    backend_start("http503", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "HTTP 503");
    ck_assert_int_eq(fx.e.res[0].connected, 1);
}
END_TEST

START_TEST(test_http_404_fails)
{
    backend_start("http404", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_FAIL, "HTTP 404");
}
END_TEST

/* A request over the server's receive limit, in grpc-go's words: TOO_LARGE, RetryInfo
 * or not (sent again as is it would be refused again). */
START_TEST(test_larger_than_max_is_too_large)
{
    backend_start("too_large", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_TOO_LARGE,
                   "RESOURCE_EXHAUSTED: grpc: received message larger than max (");
}
END_TEST

/* grpc-java's words, under INVALID_ARGUMENT. */
START_TEST(test_exceeds_maximum_size_is_too_large)
{
    backend_start("too_large_java", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_TOO_LARGE,
                   "INVALID_ARGUMENT: gRPC message exceeds maximum size 64: ");
}
END_TEST

/* A proxy in front of the backend refusing the body: 413 without grpc-status. */
START_TEST(test_http_413_is_too_large)
{
    backend_start("http413", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_TOO_LARGE, "HTTP 413");
}
END_TEST

/* ---------------------------------------------------------------- headers, encodings */

START_TEST(test_config_headers_arrive)
{
    backend_start("ok", 1);
    fx.headers[0] = (struct config_kv){ "X-Api-Key", "secret-value-123" };
    fx.headers[1] = (struct config_kv){ "x-tenant", "team a" };
    fx.cfg.headers = fx.headers;
    fx.cfg.headers_count = 2;
    fx.cfg.timeout_ms = 1500;
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
    char *rec = record_with("end\n");
    assert_has(rec, "header x-api-key secret-value-123\n");
    assert_has(rec, "header x-tenant team a\n");
    assert_has(rec, "header grpc-timeout 1500m\n");
    free(rec);
}
END_TEST

START_TEST(test_gzip_arrives_decodable)
{
    backend_start("ok", 1);
    transport_create();
    prepare(0, 4, 200, "gzip");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
    char *rec = record_with("end\n");
    char expect[256];
    assert_has(rec, "header grpc-encoding gzip\n");
    snprintf(expect, sizeof(expect), "flag 1 length %zu payload %zu\n", fx.reqs[0].len,
             fx.reqs[0].len);
    assert_has(rec, expect);
    snprintf(expect, sizeof(expect), "decoded yes sha256 %s ", fx.body_sha[0]);
    assert_has(rec, expect);
    free(rec);
}
END_TEST

START_TEST(test_zstd_arrives_decodable)
{
    backend_start("ok", 1);
    transport_create();
    prepare(0, 4, 200, "zstd");
    send_and_wait(1);
    /* grpcio itself does not know zstd: what counts is what the relay decoded. */
    char *rec = record_with("end\n");
    char expect[256];
    assert_has(rec, "header grpc-encoding zstd\n");
    snprintf(expect, sizeof(expect), "flag 1 length %zu payload %zu\n", fx.reqs[0].len,
             fx.reqs[0].len);
    assert_has(rec, expect);
    if (system(PYTHON " -c 'import zstandard' 2>/dev/null") == 0) {
        snprintf(expect, sizeof(expect), "decoded yes sha256 %s ", fx.body_sha[0]);
        assert_has(rec, expect);
    } else {
        /* Without python3-zstandard only the header and the flag can be checked. */
        assert_has(rec, "decoded no ");
    }
    free(rec);
}
END_TEST

/* ---------------------------------------------------------------- several in flight */

START_TEST(test_requests_in_flight_together)
{
    backend_start("concurrent", MAX_REQS);
    transport_create();
    for (int i = 0; i < MAX_REQS; i++)
        prepare(i, 2, 10, "");
    send_and_wait(MAX_REQS);
    for (int i = 0; i < MAX_REQS; i++)
        assert_outcome(i, EXPORTER_OK, NULL);
    /* The backend held every call until all 8 were in its handler at once. */
    char *rec = record_with("peak 8\n");
    ck_assert_int_eq(count_of(rec, "request "), MAX_REQS);
    ck_assert_int_eq(fx.e.states, 1);
    free(rec);
}
END_TEST

START_TEST(test_large_request)
{
    backend_start("ok", 1);
    transport_create();
    /* Well over the pending-write bound and the peer's flow-control windows. */
    prepare(0, 3, (size_t)1 << 20, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
    char *rec = record_with("end\n");
    char expect[256];
    snprintf(expect, sizeof(expect), "decoded yes sha256 %s size %zu\n", fx.body_sha[0],
             fx.reqs[0].len);
    assert_has(rec, expect);
    free(rec);
}
END_TEST

/* ---------------------------------------------------------------- failures */

START_TEST(test_timeout_cancels_stream)
{
    backend_start("hang", 1);
    /* Long enough for the backend's SETTINGS to arrive on a loaded machine: the point is
     * the deadline, not how short it can be. */
    fx.cfg.timeout_ms = 1500;
    transport_create();
    prepare(0, 1, 0, "");
    uint64_t start = uv_now(&fx.loop);
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "deadline exceeded");
    /* The backend spoke on the connection after the request went out (HTTP/2
     * housekeeping): it is there, just slow, so the connection is kept. */
    ck_assert_int_eq(fx.e.res[0].connected, 1);
    ck_assert_uint_ge(fx.e.done_at[0] - start, 1500);
    /* RST_STREAM(CANCEL = 8) told the backend to stop. */
    free(record_with("rst 1 8\n"));
}
END_TEST

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    close(s);
    return ntohs(sa.sin_port);
}

START_TEST(test_connection_refused)
{
    snprintf(fx.endpoint, sizeof(fx.endpoint), "http://127.0.0.1:%d", free_port());
    fx.headers[0] = (struct config_kv){ "authorization", "Bearer top-secret-token" };
    fx.cfg.headers = fx.headers;
    fx.cfg.headers_count = 1;
    fx.e.reconnect_delay_ms = 60000;
    transport_create();
    prepare(0, 1, 0, "");
    prepare(1, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "connection refused");
    ck_assert_int_eq(fx.e.res[0].connected, 0);
    ck_assert_int_eq(fx.e.states, 1);
    ck_assert_int_eq(fx.e.state_connected[0], 0);
    assert_has(fx.e.state_error[0], "connection refused");
    ck_assert_int_eq(fx.e.reconnect_calls, 1);

    /* Within the reconnect delay: answered at once (next loop turn), no new attempt. */
    send_req(1);
    ck_assert_int_eq(fx.e.done, 1);
    ck_assert(run_until_done(2, WAIT_MS));
    assert_outcome(1, EXPORTER_RETRY, "waiting before reconnecting");
    ck_assert_int_eq(fx.e.res[1].connected, 0);
    ck_assert_int_eq(fx.e.reconnect_calls, 1);

    /* A WARNING from otel.exporter, and never a header value. */
    fflush(fx.log);
    char *log = read_file(fx.log_path);
    assert_has(log, "\"level\":\"WARNING\",\"logger\":\"otel.exporter\"");
    ck_assert_ptr_null(strstr(log, "top-secret-token"));
    ck_assert_ptr_null(strstr(log, "\"level\":\"ERROR\""));
    free(log);
}
END_TEST

START_TEST(test_dns_failure)
{
    snprintf(fx.endpoint, sizeof(fx.endpoint), "http://no-such-host.invalid:4317");
    fx.cfg.timeout_ms = 3000;
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, NULL);
    ck_assert_int_eq(fx.e.res[0].connected, 0);
    ck_assert_msg(strstr(fx.e.res[0].message, "cannot resolve no-such-host.invalid") ||
                      strstr(fx.e.res[0].message, "timed out"),
                  "message: %s", fx.e.res[0].message);
}
END_TEST

START_TEST(test_reset_mid_request)
{
    backend_start("reset", 1);
    transport_create();
    prepare(0, 1, 0, "");
    prepare(1, 1, 0, "");
    send_and_wait(2);
    for (int i = 0; i < 2; i++) {
        assert_outcome(i, EXPORTER_RETRY, "127.0.0.1");
        ck_assert_int_eq(fx.e.res[i].connected, 0);
    }
    /* "reached" is reported only once the backend's SETTINGS was read, which a reset
     * may beat; the loss is always reported, last. */
    ck_assert_int_ge(fx.e.states, 1);
    ck_assert_int_eq(fx.e.state_connected[fx.e.states - 1], 0);
    free(record_with("reset\n"));
}
END_TEST

START_TEST(test_reconnects_after_delay)
{
    backend_start("reset_first", 1);
    fx.e.reconnect_delay_ms = 200;
    transport_create();
    for (int i = 0; i < 3; i++)
        prepare(i, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, NULL);

    send_req(1);
    ck_assert(run_until_done(2, WAIT_MS));
    assert_outcome(1, EXPORTER_RETRY, "waiting before reconnecting");

    run_for(250);
    send_req(2);
    ck_assert(run_until_done(3, WAIT_MS));
    assert_outcome(2, EXPORTER_OK, NULL);
    /* (reached,) lost, reached again: the first connection may be reset before the
     * backend's SETTINGS is read, so its "reached" is not certain. */
    ck_assert_int_ge(fx.e.states, 2);
    ck_assert_int_eq(fx.e.state_connected[fx.e.states - 2], 0);
    ck_assert_int_eq(fx.e.state_connected[fx.e.states - 1], 1);
}
END_TEST

START_TEST(test_goaway_retries_later_streams)
{
    backend_start("goaway", 2);
    transport_create();
    prepare(0, 1, 0, "");
    prepare(1, 1, 0, "");
    send_and_wait(2);
    /* Stream 1 is at or below last_stream_id: it completes. Stream 3 is retried. */
    assert_outcome(0, EXPORTER_OK, NULL);
    assert_outcome(1, EXPORTER_RETRY, "GOAWAY");
    ck_assert_int_eq(fx.e.res[1].connected, 0);
    ck_assert_int_eq(fx.e.reconnect_calls, 1);
}
END_TEST

START_TEST(test_destroy_answers_in_flight)
{
    backend_start("hang", 1);
    transport_create();
    prepare(0, 1, 0, "");
    prepare(1, 1, 0, "");
    send_req(0);
    send_req(1);
    free(record_with("request 3\n"));
    exporter_grpc_ops.destroy(fx.t);
    fx.t = NULL;
    ck_assert_int_eq(fx.e.done, 2);
    assert_outcome(0, EXPORTER_RETRY, "shutdown");
    assert_outcome(1, EXPORTER_RETRY, "shutdown");
    /* The GOAWAY went out before the socket closed. */
    free(record_with("goaway 0 0\n"));
}
END_TEST

START_TEST(test_destroy_while_connecting)
{
    backend_start("ok", 1);
    transport_create();
    prepare(0, 1, 0, "");
    send_req(0);
    exporter_grpc_ops.destroy(fx.t);
    fx.t = NULL;
    ck_assert_int_eq(fx.e.done, 1);
    assert_outcome(0, EXPORTER_RETRY, "shutdown");
}
END_TEST

/* ---------------------------------------------------------------- configuration */

static void expect_create_error(const char *endpoint, const char *part)
{
    char err[256] = "";
    snprintf(fx.endpoint, sizeof(fx.endpoint), "%s", endpoint);
    struct exporter_transport *t = exporter_grpc_ops.create(&fx.loop, &fx.cfg, &fx.e, err,
                                                            sizeof(err));
    ck_assert_msg(t == NULL, "%s accepted", endpoint);
    ck_assert_msg(strstr(err, part), "error for %s: \"%s\" lacks \"%s\"", endpoint, err, part);
}

START_TEST(test_bad_endpoints)
{
    expect_create_error("ftp://host:4317", "http:// or https://");
    expect_create_error("http://", "empty address");
    expect_create_error("http://host:99999", "port must be from 1 to 65535");
    expect_create_error("http://host:", "missing port");
    expect_create_error("http://user:pw@host:4317", "credentials");
    expect_create_error("http://[::1:4317", "IPv6");
}
END_TEST

START_TEST(test_endpoint_forms)
{
    /* Default ports, IPv6 literals, and a path (ignored for gRPC). */
    const char *ok[] = { "http://collector", "https://api.example.com",
                         "http://[::1]:4317/ignored/path", "HTTPS://host:443/v1/traces" };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char err[256] = "";
        snprintf(fx.endpoint, sizeof(fx.endpoint), "%s", ok[i]);
        struct exporter_transport *t = exporter_grpc_ops.create(&fx.loop, &fx.cfg, &fx.e, err,
                                                                sizeof(err));
        ck_assert_msg(t != NULL, "%s refused: %s", ok[i], err);
        exporter_grpc_ops.destroy(t);
        uv_run(&fx.loop, UV_RUN_DEFAULT);
    }
}
END_TEST

START_TEST(test_bad_headers)
{
    char err[256] = "";
    snprintf(fx.endpoint, sizeof(fx.endpoint), "http://127.0.0.1:4317");
    fx.cfg.headers = fx.headers;
    fx.cfg.headers_count = 1;
    fx.headers[0] = (struct config_kv){ "bad name", "hidden-1" };
    ck_assert_ptr_null(exporter_grpc_ops.create(&fx.loop, &fx.cfg, &fx.e, err, sizeof(err)));
    assert_has(err, "\"bad name\"");
    ck_assert_ptr_null(strstr(err, "hidden-1"));
    fx.headers[0] = (struct config_kv){ "Content-Type", "hidden-2" };
    ck_assert_ptr_null(exporter_grpc_ops.create(&fx.loop, &fx.cfg, &fx.e, err, sizeof(err)));
    assert_has(err, "\"content-type\"");
    ck_assert_ptr_null(strstr(err, "hidden-2"));
    fx.headers[0] = (struct config_kv){ "x-key", "line\nbreak-hidden-3" };
    ck_assert_ptr_null(exporter_grpc_ops.create(&fx.loop, &fx.cfg, &fx.e, err, sizeof(err)));
    assert_has(err, "\"x-key\"");
    ck_assert_ptr_null(strstr(err, "hidden-3"));
}
END_TEST

START_TEST(test_unreadable_ca_file)
{
    char err[256] = "";
    snprintf(fx.endpoint, sizeof(fx.endpoint), "https://127.0.0.1:4317");
    fx.cfg.certificate = "/nonexistent/ca.pem";
    ck_assert_ptr_null(exporter_grpc_ops.create(&fx.loop, &fx.cfg, &fx.e, err, sizeof(err)));
    assert_has(err, "/nonexistent/ca.pem");
}
END_TEST

/* ---------------------------------------------------------------- TLS */

static int run_cmd(const char *cmd)
{
    char full[2048];
    snprintf(full, sizeof(full), "cd %s && ( %s ) >/dev/null 2>&1", cert_dir, cmd);
    return system(full);
}

/* A CA, a second unrelated CA, a server certificate for localhost and 127.0.0.1 and one
 * for wrong.example, all signed by the first CA. */
static void make_certs(void)
{
    snprintf(cert_dir, sizeof(cert_dir), "%s/certs", run_dir);
    if (mkdir(cert_dir, 0700) != 0 && errno != EEXIST)
        return;
    static const char *const cmds[] = {
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout ca.key -out ca.pem -days 2 -subj /CN=spanrelay-test-ca "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n"
        "basicConstraints=CA:FALSE\\n' > good.ext",
        "printf 'subjectAltName=DNS:wrong.example\\nextendedKeyUsage=serverAuth\\n"
        "basicConstraints=CA:FALSE\\n' > wrong.ext",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout good.key "
        "-out good.csr -subj /CN=localhost",
        "openssl x509 -req -in good.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile good.ext -out good.pem",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout wrong.key "
        "-out wrong.csr -subj /CN=wrong.example",
        "openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile wrong.ext -out wrong.pem",
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (run_cmd(cmds[i]) != 0) {
            fprintf(stderr, "certificate step failed: %s\n", cmds[i]);
            return;
        }
    }
}

static void remove_certs(void)
{
    run_cmd("rm -f *.pem *.key *.csr *.ext *.srl");
    rmdir(cert_dir);
}

static void tls_setup(const char *cert, const char *host)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s.pem", cert_dir, cert);
    ck_assert_msg(access(path, R_OK) == 0, "certificates were not made (openssl)");
    backend_start_tls("ok", 1, cert);
    snprintf(fx.endpoint, sizeof(fx.endpoint), "https://%s:%d", host, fx.port);
}

static char ca_path[160];

static const char *cert_file(const char *name)
{
    snprintf(ca_path, sizeof(ca_path), "%s/%s.pem", cert_dir, name);
    return ca_path;
}

START_TEST(test_tls_with_configured_ca)
{
    tls_setup("good", "localhost");
    fx.cfg.certificate = (char *)cert_file("ca");
    transport_create();
    prepare(0, 2, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
    ck_assert_int_eq(fx.e.res[0].connected, 1);
}
END_TEST

START_TEST(test_tls_ip_address_endpoint)
{
    tls_setup("good", "127.0.0.1");
    fx.cfg.certificate = (char *)cert_file("ca");
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
}
END_TEST

START_TEST(test_tls_wrong_ca)
{
    tls_setup("good", "localhost");
    fx.cfg.certificate = (char *)cert_file("other-ca");
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "certificate verify failed: unable to get local issuer");
    ck_assert_int_eq(fx.e.res[0].connected, 0);
    ck_assert_int_eq(fx.e.states, 1);
    assert_has(fx.e.state_error[0], "certificate verify failed");
}
END_TEST

START_TEST(test_tls_system_store_does_not_know_test_ca)
{
    tls_setup("good", "localhost");
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "certificate verify failed");
}
END_TEST

START_TEST(test_tls_wrong_host_name)
{
    tls_setup("wrong", "localhost");
    fx.cfg.certificate = (char *)cert_file("ca");
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "certificate verify failed: hostname mismatch");
}
END_TEST

START_TEST(test_tls_wrong_ip_address)
{
    tls_setup("wrong", "127.0.0.1");
    fx.cfg.certificate = (char *)cert_file("ca");
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "certificate verify failed: IP address mismatch");
}
END_TEST

/* A gateway found by DNS: the connection goes to its address, the certificate is
 * checked against (and SNI names) the fleet's hostname. */
START_TEST(test_tls_server_name_for_an_address)
{
    tls_setup("wrong", "127.0.0.1");
    fx.cfg.certificate = (char *)cert_file("ca");
    fx.cfg.tls_server_name = "wrong.example";
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
}
END_TEST

START_TEST(test_tls_server_name_mismatch)
{
    tls_setup("good", "127.0.0.1");
    fx.cfg.certificate = (char *)cert_file("ca");
    fx.cfg.tls_server_name = "wrong.example";
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, "certificate verify failed: hostname mismatch");
}
END_TEST

START_TEST(test_tls_insecure)
{
    tls_setup("wrong", "127.0.0.1");
    fx.cfg.insecure = 1;
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_OK, NULL);
}
END_TEST

START_TEST(test_tls_to_plaintext_backend)
{
    backend_start("ok", 1);
    snprintf(fx.endpoint, sizeof(fx.endpoint), "https://127.0.0.1:%d", fx.port);
    fx.cfg.insecure = 1;
    fx.cfg.timeout_ms = 2000;
    transport_create();
    prepare(0, 1, 0, "");
    send_and_wait(1);
    assert_outcome(0, EXPORTER_RETRY, NULL);
    ck_assert_int_eq(fx.e.res[0].connected, 0);
}
END_TEST

static Suite *exporter_grpc_suite(void)
{
    Suite *s = suite_create("exporter_grpc");

    TCase *answers = tcase_create("answers");
    tcase_add_checked_fixture(answers, setup, teardown);
    tcase_set_timeout(answers, 30);
    tcase_add_test(answers, test_ok_with_partial_success);
    tcase_add_test(answers, test_ok_without_partial_success);
    tcase_add_test(answers, test_unavailable_is_retried);
    tcase_add_test(answers, test_resource_exhausted_with_retry_info);
    tcase_add_test(answers, test_resource_exhausted_without_retry_info);
    tcase_add_test(answers, test_invalid_argument_fails);
    tcase_add_test(answers, test_larger_than_max_is_too_large);
    tcase_add_test(answers, test_exceeds_maximum_size_is_too_large);
    tcase_add_test(answers, test_http_413_is_too_large);
    tcase_add_test(answers, test_http_503_is_retried);
    tcase_add_test(answers, test_http_404_fails);
    suite_add_tcase(s, answers);

    TCase *wire = tcase_create("wire");
    tcase_add_checked_fixture(wire, setup, teardown);
    tcase_set_timeout(wire, 30);
    tcase_add_test(wire, test_config_headers_arrive);
    tcase_add_test(wire, test_gzip_arrives_decodable);
    tcase_add_test(wire, test_zstd_arrives_decodable);
    tcase_add_test(wire, test_requests_in_flight_together);
    tcase_add_test(wire, test_large_request);
    suite_add_tcase(s, wire);

    TCase *failures = tcase_create("failures");
    tcase_add_checked_fixture(failures, setup, teardown);
    tcase_set_timeout(failures, 30);
    tcase_add_test(failures, test_timeout_cancels_stream);
    tcase_add_test(failures, test_connection_refused);
    tcase_add_test(failures, test_dns_failure);
    tcase_add_test(failures, test_reset_mid_request);
    tcase_add_test(failures, test_reconnects_after_delay);
    tcase_add_test(failures, test_goaway_retries_later_streams);
    tcase_add_test(failures, test_destroy_answers_in_flight);
    tcase_add_test(failures, test_destroy_while_connecting);
    suite_add_tcase(s, failures);

    TCase *config = tcase_create("config");
    tcase_add_checked_fixture(config, setup, teardown);
    tcase_add_test(config, test_bad_endpoints);
    tcase_add_test(config, test_endpoint_forms);
    tcase_add_test(config, test_bad_headers);
    tcase_add_test(config, test_unreadable_ca_file);
    suite_add_tcase(s, config);

    TCase *tls = tcase_create("tls");
    tcase_add_unchecked_fixture(tls, make_certs, remove_certs);
    tcase_add_checked_fixture(tls, setup, teardown);
    tcase_set_timeout(tls, 30);
    tcase_add_test(tls, test_tls_with_configured_ca);
    tcase_add_test(tls, test_tls_ip_address_endpoint);
    tcase_add_test(tls, test_tls_wrong_ca);
    tcase_add_test(tls, test_tls_system_store_does_not_know_test_ca);
    tcase_add_test(tls, test_tls_wrong_host_name);
    tcase_add_test(tls, test_tls_wrong_ip_address);
    tcase_add_test(tls, test_tls_insecure);
    tcase_add_test(tls, test_tls_server_name_for_an_address);
    tcase_add_test(tls, test_tls_server_name_mismatch);
    tcase_add_test(tls, test_tls_to_plaintext_backend);
    suite_add_tcase(s, tls);
    return s;
}

int main(void)
{
    /* A backend that dies early must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(run_dir, sizeof(run_dir), "/tmp/spanrelay-grpc-XXXXXX");
    if (!mkdtemp(run_dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    int rc = unit_run(exporter_grpc_suite());
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", run_dir);
    return rc;
}
