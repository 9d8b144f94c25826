/* test_conn.c — conn.c, the connection core both servers share: close counting (the
 * group told once per connection, the protocol's state freed once), reads handed to
 * the protocol, read back-pressure while a client does not read, writes delivered
 * before a close-after-write, lingering close (our side shut, what still comes
 * discarded, then closed), the close deadline, the protocol's timer, stopping a group,
 * and refusing connections past the group's maximum. Each connection is one end of a
 * socketpair; the test is the client on the other end. */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "receive/conn.h"

static uv_loop_t loop;
static struct conn_group group;
static int closed_calls;

/* What the fake protocol saw. */
struct seen {
    int read_len;
    int written, timeouts, stops, frees;
};
static struct seen seen;

static void fake_read(struct conn *c, const uint8_t *data, size_t len)
{
    (void)c;
    (void)data;
    seen.read_len += (int)len;
}

static void fake_written(struct conn *c)
{
    (void)c;
    seen.written++;
}

static void fake_timeout(struct conn *c)
{
    (void)c;
    seen.timeouts++;
}

static void fake_stop(struct conn *c)
{
    seen.stops++;
    conn_close_after_write(c, 0, 1000);
}

static void fake_free(struct conn *c)
{
    (void)c;
    seen.frees++;
}

static const struct conn_ops fake_ops = {
    .read = fake_read,
    .written = fake_written,
    .timeout = fake_timeout,
    .stop = fake_stop,
    .free = fake_free,
};

static void on_closed(void *ctx)
{
    (void)ctx;
    closed_calls++;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    group = (struct conn_group){ .closed = on_closed };
    closed_calls = 0;
    memset(&seen, 0, sizeof(seen));
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
}

/* A served connection; *client is the other end (non-blocking). */
static struct conn *new_conn(int *client, size_t max_pending_write)
{
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    struct conn *c = conn_adopt(&loop, fds[0], &group);
    ck_assert_ptr_nonnull(c);
    conn_serve(c, &fake_ops, NULL, max_pending_write);
    *client = fds[1];
    return c;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Turns the loop until *counter reaches n or 3 s have passed; 1 when it did. */
static int run_until_n(const int *counter, int n)
{
    uint64_t deadline = now_ms() + 3000;
    while (*counter < n && now_ms() < deadline) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return *counter >= n;
}

static int run_until(const int *counter)
{
    return run_until_n(counter, 1);
}

static void run_for(unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (now_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* Everything the client can read now, and whether it saw the end of the stream. */
static size_t client_read(int fd, char *buf, size_t cap, int *eof)
{
    size_t got = 0;
    *eof = 0;
    for (;;) {
        char scratch[65536];
        ssize_t n = read(fd, got < cap ? buf + got : scratch,
                         got < cap ? cap - got : sizeof(scratch));
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0)
            *eof = 1;
        return got;
    }
}

START_TEST(test_close_counts_and_frees_once)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    ck_assert_uint_eq(group.count, 1);
    conn_close(c);
    conn_close(c);
    ck_assert(run_until(&closed_calls));
    run_for(20);
    ck_assert_int_eq(closed_calls, 1);
    ck_assert_int_eq(seen.frees, 1);
    ck_assert_uint_eq(group.count, 0);
    char buf[8];
    int eof;
    client_read(client, buf, sizeof(buf), &eof);
    ck_assert(eof);
    close(client);
}
END_TEST

START_TEST(test_reads_reach_the_protocol_and_eof_closes)
{
    int client;
    new_conn(&client, 4096);
    ck_assert_int_eq(write(client, "hello", 5), 5);
    ck_assert(run_until_n(&seen.read_len, 5));
    ck_assert_int_eq(seen.read_len, 5);
    close(client);
    ck_assert(run_until(&closed_calls));
    ck_assert_int_eq(seen.frees, 1);
}
END_TEST

START_TEST(test_client_that_does_not_read_is_not_read_from)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    static char big[1 << 20];
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(conn_write(c, big, sizeof(big), NULL, 0), 0);
    ck_assert_uint_gt(conn_pending_write(c), 4096);
    ck_assert_int_eq(write(client, "x", 1), 1);
    run_for(100);
    ck_assert_int_eq(seen.read_len, 0);
    /* Once the client takes the answer, what it sent is read. */
    static char buf[1 << 20];
    size_t got = 0;
    uint64_t deadline = now_ms() + 3000;
    while ((got < sizeof(big) || seen.read_len == 0) && now_ms() < deadline) {
        int eof;
        got += client_read(client, buf, sizeof(buf), &eof);
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    ck_assert_uint_eq(got, sizeof(big));
    ck_assert_int_eq(seen.read_len, 1);
    ck_assert_int_gt(seen.written, 0);
    close(client);
    ck_assert(run_until(&closed_calls));
}
END_TEST

START_TEST(test_answers_the_socket_takes_are_written_at_once)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    char want[2048];
    size_t want_len = 0;
    for (int i = 0; i < 100; i++) {
        int n = snprintf(want + want_len, sizeof(want) - want_len, "answer %02d;", i);
        ck_assert_int_eq(conn_write(c, want + want_len, (size_t)n, NULL, 0), 0);
        want_len += (size_t)n;
        ck_assert_uint_eq(conn_pending_write(c), 0);
    }
    /* In the socket before the loop has turned once, and no completion to wait for. */
    char buf[2048];
    int eof;
    ck_assert_uint_eq(client_read(client, buf, sizeof(buf), &eof), want_len);
    ck_assert_int_eq(memcmp(buf, want, want_len), 0);
    run_for(20);
    ck_assert_int_eq(seen.written, 0);
    close(client);
    ck_assert(run_until(&closed_calls));
}
END_TEST

START_TEST(test_answers_after_a_queued_write_keep_their_order)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    static char big[1 << 20];
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(conn_write(c, big, sizeof(big), NULL, 0), 0);
    ck_assert_uint_gt(conn_pending_write(c), 0);
    ck_assert_int_eq(conn_write(c, "tail", 4, NULL, 0), 0);
    static char buf[(1 << 20) + 4];
    size_t got = 0;
    uint64_t deadline = now_ms() + 3000;
    while (got < sizeof(buf) && now_ms() < deadline) {
        int eof;
        got += client_read(client, buf + got, sizeof(buf) - got, &eof);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ck_assert_uint_eq(got, sizeof(buf));
    ck_assert_int_eq(memcmp(buf + sizeof(big), "tail", 4), 0);
    ck_assert(run_until_n(&seen.written, 2));
    close(client);
    ck_assert(run_until(&closed_calls));
}
END_TEST

START_TEST(test_close_after_write_delivers_the_answer_first)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    ck_assert_int_eq(conn_write(c, "ans", 3, "wer", 3), 0);
    conn_close_after_write(c, 0, 1000);
    ck_assert(!conn_is_open(c) || conn_is_ending(c));
    ck_assert(run_until(&closed_calls));
    char buf[16];
    int eof;
    size_t n = client_read(client, buf, sizeof(buf), &eof);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(memcmp(buf, "answer", 6), 0);
    ck_assert(eof);
    close(client);
}
END_TEST

START_TEST(test_linger_discards_what_comes_until_the_client_closes)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    ck_assert_int_eq(conn_write(c, "bye", 3, NULL, 0), 0);
    conn_close_after_write(c, 1, 1000);
    /* The client still sends its request body: not reset, the answer arrives whole,
     * then our side's end of stream, while the connection stays open. */
    char buf[16];
    size_t got = 0;
    int eof = 0;
    uint64_t deadline = now_ms() + 3000;
    while (!eof && now_ms() < deadline) {
        ck_assert_int_eq(write(client, "body", 4), 4);
        uv_run(&loop, UV_RUN_NOWAIT);
        got += client_read(client, buf + got, sizeof(buf) - got, &eof);
        usleep(1000);
    }
    ck_assert(eof);
    ck_assert_uint_eq(got, 3);
    ck_assert_int_eq(memcmp(buf, "bye", 3), 0);
    ck_assert_int_eq(seen.read_len, 0);
    ck_assert_uint_eq(group.count, 1);
    close(client);
    ck_assert(run_until(&closed_calls));
}
END_TEST

START_TEST(test_linger_ends_on_its_own)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    conn_close_after_write(c, 1, 1000);
    run_for(CONN_LINGER_MS - 100);
    ck_assert_int_eq(closed_calls, 0);
    ck_assert(run_until(&closed_calls));
    close(client);
}
END_TEST

START_TEST(test_deadline_closes_a_client_that_does_not_read)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    static char big[1 << 20];
    memset(big, 'b', sizeof(big));
    ck_assert_int_eq(conn_write(c, big, sizeof(big), NULL, 0), 0);
    conn_close_after_write(c, 0, 50);
    ck_assert(run_until(&closed_calls));
    ck_assert_int_eq(seen.frees, 1);
    close(client);
}
END_TEST

START_TEST(test_timer_calls_the_protocol_until_ending)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    conn_timer(c, 5);
    ck_assert(run_until(&seen.timeouts));
    conn_timer(c, 1000);
    conn_timer_stop(c);
    run_for(20);
    ck_assert_int_eq(seen.timeouts, 1);
    close(client);
    ck_assert(run_until(&closed_calls));
    ck_assert_int_eq(seen.timeouts, 1);
}
END_TEST

START_TEST(test_write_to_a_gone_client_closes)
{
    int client;
    struct conn *c = new_conn(&client, 4096);
    close(client);
    conn_write(c, "late", 4, NULL, 0);
    ck_assert(run_until(&closed_calls));
    ck_assert_int_eq(seen.frees, 1);
}
END_TEST

START_TEST(test_group_stop_ends_every_connection)
{
    static const struct conn_ops no_stop_ops = { .read = fake_read, .free = fake_free };
    int a, b;
    new_conn(&a, 4096);
    struct conn *second = new_conn(&b, 4096);
    conn_serve(second, &no_stop_ops, NULL, 4096);
    conn_group_stop(&group);
    ck_assert_int_eq(seen.stops, 1);
    ck_assert(run_until_n(&closed_calls, 2));
    ck_assert_int_eq(seen.frees, 2);
    ck_assert_ptr_null(group.head);
    close(a);
    close(b);
}
END_TEST

static enum conn_accept_result accept_results[2];
static int accepted;

static void on_connection(uv_stream_t *server, int status)
{
    struct conn *c;
    ck_assert_int_eq(status, 0);
    accept_results[accepted++] = conn_accept(server, &group, &c);
    if (accept_results[accepted - 1] == CONN_ACCEPTED)
        conn_serve(c, &fake_ops, NULL, 4096);
}

START_TEST(test_accept_refuses_past_the_maximum)
{
    char path[] = "/tmp/spanrelay-test-conn-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(path));
    char sock[64];
    snprintf(sock, sizeof(sock), "%s/s", path);
    static uv_pipe_t server;
    uv_pipe_init(&loop, &server, 0);
    ck_assert_int_eq(uv_pipe_bind(&server, sock), 0);
    ck_assert_int_eq(uv_listen((uv_stream_t *)&server, 8, on_connection), 0);
    group.max = 1;
    int clients[2];
    for (int i = 0; i < 2; i++) {
        clients[i] = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        ck_assert_int_eq(connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert(run_until_n(&accepted, i + 1));
    }
    ck_assert_int_eq(accept_results[0], CONN_ACCEPTED);
    ck_assert_int_eq(accept_results[1], CONN_FULL);
    ck_assert_uint_eq(group.count, 1);
    char buf[4];
    ck_assert_int_eq(read(clients[1], buf, sizeof(buf)), 0);   /* closed at once */
    close(clients[0]);
    close(clients[1]);
    ck_assert(run_until(&closed_calls));
    uv_close((uv_handle_t *)&server, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    unlink(sock);
    rmdir(path);
}
END_TEST

static Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_close_counts_and_frees_once);
    tcase_add_test(tc, test_reads_reach_the_protocol_and_eof_closes);
    tcase_add_test(tc, test_client_that_does_not_read_is_not_read_from);
    tcase_add_test(tc, test_answers_the_socket_takes_are_written_at_once);
    tcase_add_test(tc, test_answers_after_a_queued_write_keep_their_order);
    tcase_add_test(tc, test_close_after_write_delivers_the_answer_first);
    tcase_add_test(tc, test_linger_discards_what_comes_until_the_client_closes);
    tcase_add_test(tc, test_linger_ends_on_its_own);
    tcase_add_test(tc, test_deadline_closes_a_client_that_does_not_read);
    tcase_add_test(tc, test_timer_calls_the_protocol_until_ending);
    tcase_add_test(tc, test_write_to_a_gone_client_closes);
    tcase_add_test(tc, test_group_stop_ends_every_connection);
    tcase_add_test(tc, test_accept_refuses_past_the_maximum);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(conn_suite());
}
