/* conn_driver.c — one server connection driven in process (see conn_driver.h). */
#include "conn_driver.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"

#define CTRL_CHUNKS 0x0f       /* the data is cut into 1 + (ctrl & CTRL_CHUNKS) chunks */
#define CTRL_NO_READ 0x20      /* the client never reads the answers */
#define CTRL_STOP 0x40         /* the server stops (conn_group_stop) before the client leaves */
#define CLOSE_ROUNDS 64

static uv_loop_t loop;
static struct config cfg;
static struct pipeline *pipeline;
static struct conn_group group;

static void setup(void)
{
    if (pipeline)
        return;
    char err[256];
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_ERROR, stderr);
    if (uv_loop_init(&loop) != 0 || config_defaults(&cfg) != 0)
        abort();
    cfg.enabled = 0;
    pipeline = pipeline_new(&loop, &cfg, err, sizeof(err));
    if (!pipeline) {
        fprintf(stderr, "pipeline_new: %s\n", err);
        abort();
    }
}

const struct config *driver_config(void)
{
    setup();
    return &cfg;
}

struct pipeline *driver_pipeline(void)
{
    setup();
    return pipeline;
}

/* What the server answered is read and dropped, as a client that reads would. */
static void drain(int fd)
{
    static char buf[65536];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* The chunk is handed to the connection as a read of it would, then the loop turns
 * once (completed writes, the protocol's reaction to them) and the client reads what
 * came back, if it reads. */
static void send_chunk(struct conn *c, int fd, const uint8_t *p, size_t n, int client_reads)
{
    conn_feed(c, p, n);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (client_reads)
        drain(fd);
}

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

void driver_run(driver_start_fn start, const uint8_t *preface, size_t preface_len,
                const uint8_t *data, size_t size)
{
    setup();
    if (size == 0)
        return;
    uint8_t ctrl = data[0];
    data++;
    size--;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        abort();
    /* Small buffers make partial writes and back-pressure reachable with small inputs. */
    int small = 4096;
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct conn *c = conn_adopt(&loop, fds[0], &group);
    if (!c)
        abort();
    start(c);
    int client_reads = !(ctrl & CTRL_NO_READ);
    if (preface_len)
        send_chunk(c, fds[1], preface, preface_len, client_reads);
    /* Few chunks of random sizes: each costs a turn of the loop, and a few cuts in random
     * places are enough to split frames, headers and bodies anywhere. */
    size_t chunks = 1 + (ctrl & CTRL_CHUNKS);
    uint32_t seed = 0x9e3779b9u ^ (uint32_t)size;
    for (size_t off = 0; off < size && group.count > 0 && conn_is_open(c); chunks--) {
        size_t left = size - off;
        size_t n = chunks > 1 ? 1 + next_rand(&seed) % (2 * left / chunks + 1) : left;
        if (n > left)
            n = left;
        send_chunk(c, fds[1], data + off, n, client_reads);
        off += n;
    }
    if (ctrl & CTRL_STOP) {
        conn_group_stop(&group);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    close(fds[1]);
    for (int i = 0; i < CLOSE_ROUNDS && group.count > 0; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    if (group.count > 0) {
        fprintf(stderr, "connection still open after its client left\n");
        abort();
    }
}
