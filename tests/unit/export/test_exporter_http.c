/* test_exporter_http.c — exporter_http.c against a fake OTLP/HTTP backend
 * (tests/unit/export/http_backend.py, started per test as a subprocess, killed by PID).
 *
 * This file stands in for exporter.c: it defines exporter_transport_done,
 * exporter_reconnect_delay_ms and exporter_transport_state, records every call, and
 * drives the transport on a loop of its own. It covers the status mapping (2xx, partial
 * success, 429 with Retry-After, 503, 400 with google.rpc.Status, 500 with text),
 * transport errors (timeout, nothing listening, connection cut), the reconnect delay
 * and probe, headers, gzip, URLs, keep-alive, concurrency, TLS and shutdown.
 *
 * Run from the top of the tree: the backend script is found next to this file. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export/exporter_transport.h"
#include "base/log.h"

#ifndef SPANRELAY_VERSION
#define SPANRELAY_VERSION "0.0.0"
#endif

#define MAX_DONE 16

/* --- the stand-in for exporter.c ---------------------------------------------- */

struct exporter {
    uv_loop_t loop;
    int in_send;
    int done;
    struct exporter_request *reqs[MAX_DONE];
    struct exporter_result results[MAX_DONE];
    uint64_t done_at[MAX_DONE];
    int state_calls;
    int state_connected;
    char state_error[256];
    int reconnect_calls;
    uint64_t reconnect_delay;
};

void exporter_transport_done(struct exporter *e, struct exporter_request *req,
                             const struct exporter_result *res)
{
    ck_assert_msg(!e->in_send, "answered from inside send()");
    ck_assert_int_lt(e->done, MAX_DONE);
    e->reqs[e->done] = req;
    e->results[e->done] = *res;
    e->done_at[e->done] = uv_now(&e->loop);
    e->done++;
}

uint64_t exporter_reconnect_delay_ms(struct exporter *e)
{
    e->reconnect_calls++;
    return e->reconnect_delay;
}

void exporter_transport_state(struct exporter *e, int connected, const char *error)
{
    e->state_calls++;
    e->state_connected = connected;
    snprintf(e->state_error, sizeof(e->state_error), "%s", error ? error : "");
}

/* --- the fake backend --------------------------------------------------------- */

struct backend {
    pid_t pid;
    int port;
    int stdin_fd;      /* its stdin: closed by our death, so it exits with us */
    char dir[64];
    char records[128];
    char log[128];
};

static struct backend backend = { .pid = 0, .stdin_fd = -1 };

/* TLS material, made once by main() with the openssl command. */
static char tls_dir[64];
static char ca_pem[128], other_ca_pem[128], server_pem[128], server_key[128];

static void backend_stop(void)
{
    if (backend.pid > 0) {
        kill(backend.pid, SIGKILL);
        waitpid(backend.pid, NULL, 0);
        backend.pid = 0;
    }
    if (backend.stdin_fd >= 0) {
        close(backend.stdin_fd);
        backend.stdin_fd = -1;
    }
    if (backend.dir[0]) {
        unlink(backend.records);
        unlink(backend.log);
        rmdir(backend.dir);
        backend.dir[0] = '\0';
    }
}

static void script_path(char *out, size_t outlen)
{
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int dirlen = slash ? (int)(slash - file) : 1;
    snprintf(out, outlen, "%.*s/http_backend.py", dirlen, slash ? file : ".");
}

static int read_port(int fd)
{
    char buf[32];
    size_t len = 0;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    while (len < sizeof(buf) - 1) {
        if (poll(&pfd, 1, 10000) <= 0)
            return -1;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strchr(buf, '\n'))
            return atoi(buf);
    }
    return -1;
}

/* Starts the backend with its per-request actions; tls selects HTTPS. */
static void backend_start(const char *actions, int tls)
{
    static int registered;
    char script[512];
    int in[2], out[2];

    if (!registered) {
        atexit(backend_stop);
        registered = 1;
    }
    /* Without fork mode a failed test leaves its backend running. */
    backend_stop();
    snprintf(backend.dir, sizeof(backend.dir), "/tmp/spanrelay-test-http-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(backend.dir));
    snprintf(backend.records, sizeof(backend.records), "%s/records.jsonl", backend.dir);
    snprintf(backend.log, sizeof(backend.log), "%s/backend.log", backend.dir);
    script_path(script, sizeof(script));
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int logfd = open(backend.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        /* Out of the test's process group, which check kills outright after a failure:
         * the backend then sees its stdin close and removes its directory itself. */
        setpgid(0, 0);
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (logfd >= 0)
            dup2(logfd, 2);
        if (tls)
            execl("/usr/bin/python3", "python3", script, backend.records, actions,
                  server_pem, server_key, (char *)NULL);
        else
            execl("/usr/bin/python3", "python3", script, backend.records, actions,
                  (char *)NULL);
        _exit(127);
    }
    backend.pid = pid;
    close(in[0]);
    close(out[1]);
    backend.stdin_fd = in[1];
    backend.port = read_port(out[0]);
    close(out[0]);
    ck_assert_msg(backend.port > 0, "the backend did not start (see %s)", backend.log);
}

/* Line n (from 1) of the backend's records, malloc'd, or NULL. */
static char *record(int n)
{
    FILE *f = fopen(backend.records, "r");
    char *line = NULL;
    size_t cap = 0;
    if (!f)
        return NULL;
    for (int i = 1; getline(&line, &cap, f) >= 0; i++) {
        if (i == n) {
            fclose(f);
            return line;
        }
    }
    free(line);
    fclose(f);
    return NULL;
}

static int record_count(void)
{
    int n = 0;
    char *r;
    while ((r = record(n + 1)) != NULL) {
        free(r);
        n++;
    }
    return n;
}

static void assert_record_has(int n, const char *text)
{
    char *r = record(n);
    ck_assert_msg(r != NULL, "no record %d", n);
    ck_assert_msg(strstr(r, text) != NULL, "record %d lacks %s: %s", n, text, r);
    free(r);
}

static void assert_record_lacks(int n, const char *text)
{
    char *r = record(n);
    ck_assert_msg(r != NULL, "no record %d", n);
    ck_assert_msg(strstr(r, text) == NULL, "record %d has %s: %s", n, text, r);
    free(r);
}

/* --- the transport under test ------------------------------------------------- */

struct harness {
    struct exporter e;
    struct export_target cfg;
    char endpoint[256];
    struct exporter_transport *t;
};

static const uint8_t body[] = {
    0x0a, 0x05, 's', 'p', 'a', 'n', 's', 0x00, 0x01, 0xff, 0x10, 0x00, 0x7f, 0x80, 0x0d, 0x0a
};

/* body as one gzip member (made with Python's gzip.compress(body, mtime=0)). */
static const uint8_t body_gzip[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xe3, 0x62, 0x2d, 0x2e,
    0x48, 0xcc, 0x2b, 0x66, 0x60, 0xfc, 0x2f, 0xc0, 0x50, 0xdf, 0xc0, 0xcb, 0x05, 0x00,
    0x06, 0x72, 0x06, 0x71, 0x10, 0x00, 0x00, 0x00
};

static struct exporter_request requests[MAX_DONE];

static void hex(const uint8_t *data, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", data[i]);
    out[2 * len] = '\0';
}

static void harness_init(struct harness *h, const char *scheme, const char *path)
{
    memset(h, 0, sizeof(*h));
    ck_assert_int_eq(uv_loop_init(&h->e.loop), 0);
    snprintf(h->endpoint, sizeof(h->endpoint), "%s://127.0.0.1:%d%s", scheme, backend.port,
             path);
    h->cfg.enabled = 1;
    h->cfg.key = "otel";
    h->cfg.headers_key = "OTEL_EXPORTER_OTLP_HEADERS";
    h->cfg.certificate_key = "OTEL_EXPORTER_OTLP_CERTIFICATE";
    h->cfg.endpoint = h->endpoint;
    h->cfg.protocol = CONFIG_PROTOCOL_HTTP_PROTOBUF;
    h->cfg.timeout_ms = 5000;
    h->cfg.retry_max_interval_ms = 5000;
    for (int i = 0; i < MAX_DONE; i++)
        requests[i] = (struct exporter_request){ body, sizeof(body), "", NULL };
}

static void harness_open(struct harness *h)
{
    char err[256];
    h->t = exporter_http_ops.create(&h->e.loop, &h->cfg, &h->e, err, sizeof(err));
    ck_assert_msg(h->t != NULL, "create failed: %s", err);
}

static void send_request(struct harness *h, struct exporter_request *req)
{
    h->e.in_send = 1;
    int rc = exporter_http_ops.send(h->t, req);
    h->e.in_send = 0;
    ck_assert_int_eq(rc, 0);
}

/* Both wake the loop so the waiting helpers below re-check their condition. */
static void on_tick(uv_timer_t *timer)
{
    uv_stop(timer->loop);
}

static void on_deadline(uv_timer_t *timer)
{
    *(int *)timer->data = 1;
    uv_stop(timer->loop);
}

static int answered(struct harness *h, int n)
{
    return h->e.done >= n;
}

static int recorded(struct harness *h, int n)
{
    (void)h;
    return n > 0 && record_count() >= n;
}

/* Runs the loop until done(h, n) holds or timeout_ms passed; the tick re-checks the
 * condition every 10 ms. Returns done(h, n). */
static int run_until(struct harness *h, int (*done)(struct harness *, int), int n,
                     uint64_t timeout_ms)
{
    uv_timer_t deadline, tick;
    int expired = 0;
    uv_timer_init(&h->e.loop, &deadline);
    uv_timer_init(&h->e.loop, &tick);
    deadline.data = &expired;
    uv_timer_start(&deadline, on_deadline, timeout_ms, 0);
    uv_timer_start(&tick, on_tick, 10, 10);
    while (!done(h, n) && !expired)
        uv_run(&h->e.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&h->e.loop, UV_RUN_NOWAIT);
    return done(h, n);
}

static void run_until_done(struct harness *h, int n, uint64_t timeout_ms)
{
    ck_assert_msg(run_until(h, answered, n, timeout_ms),
                  "%d answers after %llu ms, expected %d", h->e.done,
                  (unsigned long long)timeout_ms, n);
}

/* Runs the loop until the backend has recorded n requests, or for timeout_ms when n
 * is 0. */
static void run_until_recorded(struct harness *h, int n, uint64_t timeout_ms)
{
    int ok = run_until(h, recorded, n, timeout_ms);
    if (n > 0)
        ck_assert_msg(ok, "the backend saw %d requests, expected %d", record_count(), n);
}

/* destroy(), then every handle must close and the loop be empty: a handle left open
 * fails uv_loop_close, memory left behind fails LeakSanitizer. */
static void harness_close(struct harness *h)
{
    if (h->t)
        exporter_http_ops.destroy(h->t);
    h->t = NULL;
    uv_run(&h->e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&h->e.loop), 0);
}

static int free_port(void)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

/* One request against a backend answering with action; returns its result. */
static struct exporter_result one_request(const char *action)
{
    struct harness h;
    backend_start(action, 0);
    harness_init(&h, "http", "");
    harness_open(&h);
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 10000);
    ck_assert_ptr_eq(h.e.reqs[0], &requests[0]);
    struct exporter_result res = h.e.results[0];
    harness_close(&h);
    ck_assert_int_eq(h.e.done, 1);
    backend_stop();
    return res;
}

/* --- responses ---------------------------------------------------------------- */

START_TEST(test_ok_full_success)
{
    struct harness h;
    char want[128], hexbody[2 * sizeof(body) + 1];
    backend_start("ok", 0);
    harness_init(&h, "http", "");
    harness_open(&h);
    ck_assert_str_eq(exporter_http_ops.name, "http/protobuf");
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 10000);

    const struct exporter_result *r = &h.e.results[0];
    ck_assert_int_eq(r->outcome, EXPORTER_OK);
    ck_assert_int_eq(r->rejected, 0);
    ck_assert_int_eq(r->connected, 1);
    ck_assert_str_eq(r->message, "");
    ck_assert_int_eq(h.e.state_calls, 1);
    ck_assert_int_eq(h.e.state_connected, 1);
    ck_assert_int_eq(h.e.reconnect_calls, 0);

    assert_record_has(1, "\"method\":\"POST\"");
    assert_record_has(1, "\"path\":\"/v1/traces\"");
    assert_record_has(1, "\"content-type\":\"application/x-protobuf\"");
    assert_record_has(1, "\"user-agent\":\"spanrelay/" SPANRELAY_VERSION "\"");
    assert_record_lacks(1, "\"expect\"");
    assert_record_lacks(1, "\"content-encoding\"");
    hex(body, sizeof(body), hexbody);
    snprintf(want, sizeof(want), "\"body_hex\":\"%s\"", hexbody);
    assert_record_has(1, want);
    harness_close(&h);
    backend_stop();
}
END_TEST

START_TEST(test_partial_success)
{
    struct exporter_result r = one_request("partial");
    ck_assert_int_eq(r.outcome, EXPORTER_OK);
    ck_assert_int_eq(r.rejected, 3);
    ck_assert_int_eq(r.connected, 1);
    ck_assert_str_eq(r.message, "3 spans too old");
}
END_TEST

START_TEST(test_429_retry_after_seconds)
{
    struct exporter_result r = one_request("429ra2");
    ck_assert_int_eq(r.outcome, EXPORTER_RETRY);
    ck_assert_uint_eq(r.retry_after_ms, 2000);
    ck_assert_int_eq(r.connected, 1);
    ck_assert_str_eq(r.message, "HTTP 429: slow down");
}
END_TEST

START_TEST(test_429_retry_after_date)
{
    struct exporter_result r = one_request("429date");
    ck_assert_int_eq(r.outcome, EXPORTER_RETRY);
    ck_assert_uint_ge(r.retry_after_ms, 2000);
    ck_assert_uint_le(r.retry_after_ms, 5000);
    ck_assert_str_eq(r.message, "HTTP 429");
}
END_TEST

START_TEST(test_503_retry)
{
    struct exporter_result r = one_request("503");
    ck_assert_int_eq(r.outcome, EXPORTER_RETRY);
    ck_assert_uint_eq(r.retry_after_ms, 0);
    ck_assert_int_eq(r.connected, 1);
    ck_assert_str_eq(r.message, "HTTP 503: overloaded");
}
END_TEST

START_TEST(test_413_is_too_large)
{
    struct exporter_result r = one_request("413");
    ck_assert_int_eq(r.outcome, EXPORTER_TOO_LARGE);
    ck_assert_int_eq(r.connected, 1);
    ck_assert_str_eq(r.message, "HTTP 413: request entity too large");
}
END_TEST

START_TEST(test_400_status_fails)
{
    struct exporter_result r = one_request("400status");
    ck_assert_int_eq(r.outcome, EXPORTER_FAIL);
    ck_assert_int_eq(r.connected, 1);
    ck_assert_str_eq(r.message, "HTTP 400: bad span data");
}
END_TEST

START_TEST(test_500_text_fails)
{
    struct exporter_result r = one_request("500text");
    ck_assert_int_eq(r.outcome, EXPORTER_FAIL);
    ck_assert_str_eq(r.message, "HTTP 500: internal error: disk full");
}
END_TEST

/* --- transport errors and reconnecting ---------------------------------------- */

START_TEST(test_timeout_retries)
{
    struct harness h;
    backend_start("hang", 0);
    harness_init(&h, "http", "");
    h.cfg.timeout_ms = 500;
    harness_open(&h);
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 5000);
    const struct exporter_result *r = &h.e.results[0];
    ck_assert_int_eq(r->outcome, EXPORTER_RETRY);
    ck_assert_int_eq(r->connected, 0);
    ck_assert_msg(strstr(r->message, "timeout") != NULL, "message: %s", r->message);
    ck_assert_int_eq(h.e.state_calls, 1);
    ck_assert_int_eq(h.e.state_connected, 0);
    ck_assert_str_eq(h.e.state_error, r->message);
    harness_close(&h);
    backend_stop();
}
END_TEST

START_TEST(test_connection_cut_retries)
{
    struct exporter_result r = one_request("cut");
    ck_assert_int_eq(r.outcome, EXPORTER_RETRY);
    ck_assert_int_eq(r.connected, 0);
    ck_assert_str_ne(r.message, "");
}
END_TEST

START_TEST(test_nothing_listening)
{
    struct harness h;
    int secret_seen = 0;
    FILE *logs = tmpfile();
    ck_assert_ptr_nonnull(logs);
    log_init(LOG_DEBUG, logs);

    memset(&h, 0, sizeof(h));
    backend.port = free_port();
    harness_init(&h, "http", "");
    struct config_kv headers[] = { { "authorization", "Bearer s3cret-token" } };
    h.cfg.headers = headers;
    h.cfg.headers_count = 1;
    h.e.reconnect_delay = 300;
    harness_open(&h);

    /* Two at once fail together: one connection-level failure, one backoff step. */
    send_request(&h, &requests[0]);
    send_request(&h, &requests[1]);
    run_until_done(&h, 2, 5000);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(h.e.results[i].outcome, EXPORTER_RETRY);
        ck_assert_int_eq(h.e.results[i].connected, 0);
        ck_assert_str_ne(h.e.results[i].message, "");
        secret_seen |= strstr(h.e.results[i].message, "s3cret") != NULL;
    }
    ck_assert_int_eq(h.e.reconnect_calls, 1);
    ck_assert_int_eq(h.e.state_calls, 1);
    ck_assert_int_eq(h.e.state_connected, 0);

    /* The next request waits for the reconnect time before it is tried. */
    send_request(&h, &requests[2]);
    run_until_done(&h, 3, 5000);
    ck_assert_int_eq(h.e.results[2].outcome, EXPORTER_RETRY);
    ck_assert_uint_ge(h.e.done_at[2], h.e.done_at[1] + 300);
    ck_assert_int_eq(h.e.reconnect_calls, 2);
    harness_close(&h);

    char line[4096];
    rewind(logs);
    while (fgets(line, sizeof(line), logs))
        secret_seen |= strstr(line, "s3cret") != NULL;
    log_init(LOG_INFO, stderr);
    fclose(logs);
    ck_assert_msg(!secret_seen, "a header value reached a message or a log line");
}
END_TEST

/* After a failure one probe goes first; the others follow once the backend answered. */
START_TEST(test_probe_then_recover)
{
    struct harness h;
    backend_start("drop,slow", 0);
    harness_init(&h, "http", "");
    h.e.reconnect_delay = 100;
    harness_open(&h);
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 5000);
    ck_assert_int_eq(h.e.results[0].outcome, EXPORTER_RETRY);
    ck_assert_int_eq(h.e.results[0].connected, 0);
    ck_assert_int_eq(h.e.state_connected, 0);

    send_request(&h, &requests[1]);
    send_request(&h, &requests[2]);
    run_until_done(&h, 3, 10000);
    ck_assert_ptr_eq(h.e.reqs[1], &requests[1]);
    ck_assert_ptr_eq(h.e.reqs[2], &requests[2]);
    ck_assert_int_eq(h.e.results[1].outcome, EXPORTER_OK);
    ck_assert_int_eq(h.e.results[2].outcome, EXPORTER_OK);
    ck_assert_uint_ge(h.e.done_at[1], h.e.done_at[0] + 100);
    assert_record_has(3, "\"active\":1,");
    ck_assert_int_eq(h.e.state_calls, 2);
    ck_assert_int_eq(h.e.state_connected, 1);
    ck_assert_int_eq(h.e.reconnect_calls, 1);
    harness_close(&h);
    backend_stop();
}
END_TEST

/* --- what is sent ------------------------------------------------------------- */

START_TEST(test_configured_headers)
{
    struct harness h;
    struct config_kv headers[] = {
        { "x-api-key", "s3cret-value" }, { "X-Tenant", "acme" }, { "x-empty", "" },
    };
    backend_start("ok", 0);
    harness_init(&h, "http", "");
    h.cfg.headers = headers;
    h.cfg.headers_count = 3;
    harness_open(&h);
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 10000);
    ck_assert_int_eq(h.e.results[0].outcome, EXPORTER_OK);
    assert_record_has(1, "\"x-api-key\":\"s3cret-value\"");
    assert_record_has(1, "\"x-tenant\":\"acme\"");
    assert_record_has(1, "\"x-empty\":\"\"");
    harness_close(&h);
    backend_stop();
}
END_TEST

START_TEST(test_gzip_body)
{
    struct harness h;
    char want[128], hexbody[2 * sizeof(body) + 1];
    backend_start("ok", 0);
    harness_init(&h, "http", "");
    harness_open(&h);
    requests[0].body = body_gzip;
    requests[0].len = sizeof(body_gzip);
    requests[0].encoding = "gzip";
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 10000);
    ck_assert_int_eq(h.e.results[0].outcome, EXPORTER_OK);
    assert_record_has(1, "\"content-encoding\":\"gzip\"");
    hex(body, sizeof(body), hexbody);
    snprintf(want, sizeof(want), "\"body_hex\":\"%s\"", hexbody);
    assert_record_has(1, want);
    harness_close(&h);
    backend_stop();
}
END_TEST

START_TEST(test_other_encodings)
{
    struct harness h;
    backend_start("ok", 0);
    harness_init(&h, "http", "");
    harness_open(&h);
    requests[0].encoding = "zstd";
    requests[1].encoding = "br";
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 10000);
    send_request(&h, &requests[1]);
    run_until_done(&h, 2, 10000);
    ck_assert_int_eq(h.e.results[0].outcome, EXPORTER_OK);
    assert_record_has(1, "\"content-encoding\":\"zstd\"");
    ck_assert_int_eq(h.e.results[1].outcome, EXPORTER_FAIL);
    ck_assert_str_eq(h.e.results[1].message, "unsupported Content-Encoding");
    ck_assert_int_eq(record_count(), 1);
    harness_close(&h);
    backend_stop();
}
END_TEST

/* curl adds "Expect: 100-continue" only above 1 MiB: a larger body shows it is off. */
START_TEST(test_large_body_without_expect)
{
    struct harness h;
    size_t len = 3 * 1024 * 1024 / 2;
    uint8_t *big = malloc(len);
    char want[64];
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < len; i++)
        big[i] = (uint8_t)(i * 31 + (i >> 12));
    backend_start("ok", 0);
    harness_init(&h, "http", "");
    harness_open(&h);
    requests[0].body = big;
    requests[0].len = len;
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 10000);
    ck_assert_int_eq(h.e.results[0].outcome, EXPORTER_OK);
    snprintf(want, sizeof(want), "\"body_len\":%zu,", len);
    assert_record_has(1, want);
    assert_record_lacks(1, "\"expect\"");
    harness_close(&h);
    backend_stop();
    free(big);
}
END_TEST

/* Each case: endpoint path, endpoint_is_signal, the path the backend must see. */
START_TEST(test_endpoint_urls)
{
    static const struct { const char *path; int signal; const char *want; } cases[] = {
        { "", 0, "\"path\":\"/v1/traces\"" },
        { "/", 0, "\"path\":\"/v1/traces\"" },
        { "/prefix", 0, "\"path\":\"/prefix/v1/traces\"" },
        { "/custom/traces", 1, "\"path\":\"/custom/traces\"" },
    };
    backend_start("ok", 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct harness h;
        harness_init(&h, "http", cases[i].path);
        h.cfg.endpoint_is_signal = cases[i].signal;
        harness_open(&h);
        send_request(&h, &requests[0]);
        run_until_done(&h, 1, 10000);
        ck_assert_int_eq(h.e.results[0].outcome, EXPORTER_OK);
        assert_record_has((int)i + 1, cases[i].want);
        harness_close(&h);
    }
    backend_stop();
}
END_TEST

/* --- connections -------------------------------------------------------------- */

START_TEST(test_keep_alive)
{
    struct harness h;
    backend_start("ok", 0);
    harness_init(&h, "http", "");
    harness_open(&h);
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 10000);
    send_request(&h, &requests[1]);
    run_until_done(&h, 2, 10000);
    ck_assert_int_eq(h.e.results[1].outcome, EXPORTER_OK);
    assert_record_has(1, "\"conn\":1,");
    assert_record_has(2, "\"conn\":1,");
    harness_close(&h);
    backend_stop();
}
END_TEST

START_TEST(test_concurrent_requests)
{
    struct harness h;
    backend_start("slow", 0);
    harness_init(&h, "http", "");
    harness_open(&h);
    int capacity = exporter_http_ops.capacity(h.t);
    ck_assert_int_ge(capacity, 2);
    ck_assert_int_le(capacity, MAX_DONE);
    for (int i = 0; i < capacity; i++)
        send_request(&h, &requests[i]);
    ck_assert_int_eq(exporter_http_ops.send(h.t, &requests[capacity]), -1);
    run_until_done(&h, capacity, 10000);

    char want[32];
    int peak = 0;
    for (int i = 0; i < capacity; i++)
        ck_assert_int_eq(h.e.results[i].outcome, EXPORTER_OK);
    snprintf(want, sizeof(want), "\"active\":%d,", capacity);
    for (int n = 1; n <= capacity; n++) {
        char *r = record(n);
        ck_assert_ptr_nonnull(r);
        peak |= strstr(r, want) != NULL;
        free(r);
    }
    ck_assert_msg(peak, "the backend never saw %d requests at once", capacity);
    harness_close(&h);
    backend_stop();
}
END_TEST

/* --- TLS ---------------------------------------------------------------------- */

static struct exporter_result tls_request_named(const char *certificate, int insecure,
                                               const char *server_name)
{
    struct harness h;
    backend_start("ok", 1);
    harness_init(&h, "https", "");
    h.cfg.certificate = (char *)certificate;
    h.cfg.insecure = insecure;
    h.cfg.tls_server_name = server_name;
    harness_open(&h);
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 10000);
    struct exporter_result res = h.e.results[0];
    harness_close(&h);
    backend_stop();
    return res;
}

static struct exporter_result tls_request(const char *certificate, int insecure)
{
    return tls_request_named(certificate, insecure, NULL);
}

START_TEST(test_tls_with_ca)
{
    struct exporter_result r = tls_request(ca_pem, 0);
    ck_assert_msg(r.outcome == EXPORTER_OK, "message: %s", r.message);
    ck_assert_int_eq(r.connected, 1);
}
END_TEST

START_TEST(test_tls_wrong_ca)
{
    struct exporter_result r = tls_request(other_ca_pem, 0);
    ck_assert_int_eq(r.outcome, EXPORTER_RETRY);
    ck_assert_int_eq(r.connected, 0);
    ck_assert_msg(strstr(r.message, "certificate") != NULL, "message: %s", r.message);
}
END_TEST

START_TEST(test_tls_insecure)
{
    struct exporter_result r = tls_request(NULL, 1);
    ck_assert_msg(r.outcome == EXPORTER_OK, "message: %s", r.message);
}
END_TEST

/* A gateway found by DNS: the connection goes to the endpoint's address (127.0.0.1),
 * the certificate is checked against the fleet's name. */
START_TEST(test_tls_server_name)
{
    struct exporter_result r = tls_request_named(ca_pem, 0, "localhost");
    ck_assert_msg(r.outcome == EXPORTER_OK, "message: %s", r.message);
    r = tls_request_named(ca_pem, 0, "gateways.example");
    ck_assert_int_eq(r.outcome, EXPORTER_RETRY);
    ck_assert_int_eq(r.connected, 0);
    ck_assert_msg(strstr(r.message, "gateways.example") != NULL, "message: %s", r.message);
}
END_TEST

/* --- configuration errors and shutdown ---------------------------------------- */

START_TEST(test_create_errors)
{
    static const struct {
        const char *endpoint;
        const char *cert;
        int bad_header;
        const char *want;  /* in the error */
    } cases[] = {
        { "ftp://127.0.0.1:21", NULL, 0, "otel.endpoint" },
        { "127.0.0.1:4318", NULL, 0, "otel.endpoint" },
        { "", NULL, 0, "otel.endpoint" },
        { "http://127.0.0.1:4318", "/nonexistent/ca.pem", 0, "certificate" },
        { "http://127.0.0.1:4318", NULL, 1, "OTEL_EXPORTER_OTLP_HEADERS" },
    };
    struct config_kv bad[] = { { "x-key", "s3cret\r\nX-Injected: 1" } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct exporter e;
        struct export_target cfg;
        char err[256];
        memset(&e, 0, sizeof(e));
        memset(&cfg, 0, sizeof(cfg));
        ck_assert_int_eq(uv_loop_init(&e.loop), 0);
        cfg.key = "otel";
        cfg.headers_key = "OTEL_EXPORTER_OTLP_HEADERS";
        cfg.certificate_key = "OTEL_EXPORTER_OTLP_CERTIFICATE";
        cfg.endpoint = (char *)cases[i].endpoint;
        cfg.certificate = (char *)cases[i].cert;
        cfg.timeout_ms = 1000;
        if (cases[i].bad_header) {
            cfg.headers = bad;
            cfg.headers_count = 1;
        }
        struct exporter_transport *t =
            exporter_http_ops.create(&e.loop, &cfg, &e, err, sizeof(err));
        ck_assert_msg(t == NULL, "case %zu created", i);
        ck_assert_msg(strstr(err, cases[i].want) != NULL, "case %zu: %s", i, err);
        ck_assert_msg(strstr(err, "s3cret") == NULL, "case %zu quotes a header: %s", i, err);
        ck_assert_int_eq(uv_loop_close(&e.loop), 0);
    }
}
END_TEST

START_TEST(test_shutdown_in_flight)
{
    struct harness h;
    backend_start("hang", 0);
    harness_init(&h, "http", "");
    harness_open(&h);
    send_request(&h, &requests[0]);
    send_request(&h, &requests[1]);
    run_until_recorded(&h, 2, 5000);
    ck_assert_int_eq(h.e.done, 0);
    exporter_http_ops.destroy(h.t);
    h.t = NULL;
    ck_assert_int_eq(h.e.done, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(h.e.results[i].outcome, EXPORTER_RETRY);
        ck_assert_str_eq(h.e.results[i].message, "shutdown");
    }
    harness_close(&h);
    ck_assert_int_eq(h.e.done, 2);
    backend_stop();
}
END_TEST

START_TEST(test_shutdown_waiting)
{
    struct harness h;
    memset(&h, 0, sizeof(h));
    backend.port = free_port();
    harness_init(&h, "http", "");
    h.cfg.retry_max_interval_ms = 10000;
    h.e.reconnect_delay = 10000;
    harness_open(&h);
    send_request(&h, &requests[0]);
    run_until_done(&h, 1, 5000);
    send_request(&h, &requests[1]);
    run_until_recorded(&h, 0, 100);
    ck_assert_int_eq(h.e.done, 1);
    exporter_http_ops.destroy(h.t);
    h.t = NULL;
    ck_assert_int_eq(h.e.done, 2);
    ck_assert_ptr_eq(h.e.reqs[1], &requests[1]);
    ck_assert_int_eq(h.e.results[1].outcome, EXPORTER_RETRY);
    ck_assert_str_eq(h.e.results[1].message, "shutdown");
    harness_close(&h);
}
END_TEST

/* --- TLS material and the suite ----------------------------------------------- */

static const char *const tls_files[] = {
    "ca.key", "ca.pem", "other.key", "other.pem", "server.key", "server.csr", "server.pem",
    "server.ext",
};

static void remove_tls_material(void)
{
    char path[160];
    for (size_t i = 0; i < sizeof(tls_files) / sizeof(tls_files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tls_dir, tls_files[i]);
        unlink(path);
    }
    rmdir(tls_dir);
}

/* A CA, a server certificate it signs for 127.0.0.1, and an unrelated CA. */
static int make_tls_material(void)
{
    char cmd[2048];
    snprintf(tls_dir, sizeof(tls_dir), "/tmp/spanrelay-test-tls-XXXXXX");
    if (!mkdtemp(tls_dir))
        return -1;
    snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", tls_dir);
    snprintf(other_ca_pem, sizeof(other_ca_pem), "%s/other.pem", tls_dir);
    snprintf(server_pem, sizeof(server_pem), "%s/server.pem", tls_dir);
    snprintf(server_key, sizeof(server_key), "%s/server.key", tls_dir);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && exec >/dev/null 2>&1 && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout ca.key -out ca.pem -days 2 -subj /CN=spanrelay-test-ca && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout other.key -out other.pem -days 2 -subj /CN=spanrelay-other-ca && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n"
             "basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > server.ext && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 "
             "-days 2 -extfile server.ext -out server.pem",
             tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static Suite *exporter_http_suite(void)
{
    Suite *s = suite_create("exporter_http");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ok_full_success);
    tcase_add_test(tc, test_partial_success);
    tcase_add_test(tc, test_429_retry_after_seconds);
    tcase_add_test(tc, test_429_retry_after_date);
    tcase_add_test(tc, test_503_retry);
    tcase_add_test(tc, test_413_is_too_large);
    tcase_add_test(tc, test_400_status_fails);
    tcase_add_test(tc, test_500_text_fails);
    tcase_add_test(tc, test_timeout_retries);
    tcase_add_test(tc, test_connection_cut_retries);
    tcase_add_test(tc, test_nothing_listening);
    tcase_add_test(tc, test_probe_then_recover);
    tcase_add_test(tc, test_configured_headers);
    tcase_add_test(tc, test_gzip_body);
    tcase_add_test(tc, test_other_encodings);
    tcase_add_test(tc, test_large_body_without_expect);
    tcase_add_test(tc, test_endpoint_urls);
    tcase_add_test(tc, test_keep_alive);
    tcase_add_test(tc, test_concurrent_requests);
    tcase_add_test(tc, test_tls_with_ca);
    tcase_add_test(tc, test_tls_wrong_ca);
    tcase_add_test(tc, test_tls_insecure);
    tcase_add_test(tc, test_tls_server_name);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_shutdown_in_flight);
    tcase_add_test(tc, test_shutdown_waiting);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* A proxy from the environment would take loopback traffic elsewhere. */
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    if (make_tls_material() != 0) {
        fprintf(stderr, "test_exporter_http: openssl could not make the TLS material\n");
        remove_tls_material();
        return EXIT_FAILURE;
    }
    int rc = unit_run(exporter_http_suite());
    remove_tls_material();
    return rc;
}
