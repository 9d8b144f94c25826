/* main.c — spanrelay's entry point: command line, configuration, the event loop, and
 * the order in which modules start and stop. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/config.h"
#include "base/health.h"
#include "base/log.h"
#include "base/metrics.h"
#include "pipeline/pipeline.h"
#include "receive/receiver.h"

#ifndef SPANRELAY_VERSION
#define SPANRELAY_VERSION "0.0.0"
#endif

#define EXIT_BAD_CONFIG 2

/* How long exit waits for queued log lines to reach a slow stderr: long enough for a
 * live collector, short enough that a stuck one does not hold a stop past its
 * shutdownTimeout by much. */
#define LOG_FLUSH_MS 1000

struct daemon {
    uv_loop_t *loop;
    struct config cfg;
    uv_signal_t sigterm, sigint;
    struct health_server *health;
    struct receiver *receiver;
    struct pipeline *pipeline;
    int stopping;
};

/* Buffers of a request's life (a gRPC message grown 16 -> 64 KiB, batches up to 1 MiB)
 * are freed at the top of the heap many times a second. With glibc's defaults the heap
 * is trimmed past 128 KiB of free top and such blocks come back from the kernel as fresh
 * zeroed pages: perf showed page faults at 6-10 % of the relay's time and 1.5x the CPU
 * per span on the gRPC-in rows of make bench. Keeping up to 8 MiB free and mapping only
 * blocks of 4 MiB or more (decompression buffers) makes that memory reused instead. */
static void malloc_tune(void)
{
#ifdef __GLIBC__
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: spanrelay [-c FILE] [--check-config] [--version] [--help]\n"
            "\n"
            "Relays OpenTelemetry traces from local processes to a trace backend.\n"
            "\n"
            "  -c, --config FILE   YAML configuration (see config/spanrelay.yaml)\n"
            "      --check-config  validate the configuration (file and environment) and exit:\n"
            "                      0 when valid, 2 with the problem on stderr otherwise\n"
            "      --version       print the version and exit\n"
            "  -h, --help          this text\n"
            "\n"
            "OTEL_* environment variables override the file (see README.md).\n");
}

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

/* Loads defaults, then the file, then the environment, then validates. 0 or -1. */
static int load_config(struct config *cfg, const char *path, char *err, size_t errlen)
{
    if (config_defaults(cfg) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (path && config_load_file(cfg, path, err, errlen) < 0)
        return -1;
    if (config_apply_env(cfg, env_lookup, err, errlen) < 0)
        return -1;
    return config_validate(cfg, err, errlen);
}

static void on_pipeline_drained(void *arg);

static void on_late_signal(int signum)
{
    (void)signum;
    _exit(1);
}

/* The loop ends once every handle is closed, the signal watchers included; a signal in
 * the last moments (connections finishing their GOAWAY) still means "exit now", not the
 * default death by signal. */
static void close_signal_handles(struct daemon *d)
{
    if (!uv_is_closing((uv_handle_t *)&d->sigterm))
        uv_close((uv_handle_t *)&d->sigterm, NULL);
    if (!uv_is_closing((uv_handle_t *)&d->sigint))
        uv_close((uv_handle_t *)&d->sigint, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_late_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (d->stopping) {
        /* A second signal: the operator wants out now, drain or not. */
        log_write(LOG_WARNING, "spanrelay", "second signal, exiting at once",
                  (struct log_field[]){ LOG_STR("signal", strsignal(signum)) }, 1);
        log_queue_stop(LOG_FLUSH_MS);
        _exit(1);
    }
    d->stopping = 1;
    log_write(LOG_INFO, "spanrelay", "stopping",
              (struct log_field[]){ LOG_STR("signal", strsignal(signum)) }, 1);
    if (d->receiver) {
        receiver_stop(d->receiver);
        d->receiver = NULL;
    }
    pipeline_drain(d->pipeline, d->cfg.shutdown_timeout_ms, on_pipeline_drained, d);
}

static void on_pipeline_drained(void *arg)
{
    struct daemon *d = arg;
    pipeline_free(d->pipeline);
    d->pipeline = NULL;
    if (d->health) {
        health_stop(d->health);
        d->health = NULL;
    }
    /* Signals stay watched until everything else is closed, so a second one still
     * cuts a slow drain short. */
    close_signal_handles(d);
}

static int start_signals(struct daemon *d)
{
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    if (uv_signal_start(&d->sigterm, on_signal, SIGTERM) < 0 ||
        uv_signal_start(&d->sigint, on_signal, SIGINT) < 0)
        return -1;
    return 0;
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* /health and /metrics read the lanes' counters through the pipeline; during and after
 * the drain (the health server stops last) there may be none left. */
static size_t health_destinations(void *arg, const struct stats_destination **out, size_t max)
{
    struct daemon *d = arg;
    return d->pipeline ? pipeline_destinations(d->pipeline, out, max) : 0;
}

static int run(struct daemon *d)
{
    char err[512];
    d->loop = uv_default_loop();
    signal(SIGPIPE, SIG_IGN);
    metrics_set_start_time();

    if (start_signals(d) < 0) {
        log_write(LOG_ERROR, "spanrelay", "cannot watch signals", NULL, 0);
        return 1;
    }
    d->pipeline = pipeline_new(d->loop, &d->cfg, err, sizeof(err));
    if (!d->pipeline) {
        log_write(LOG_ERROR, "spanrelay", err, NULL, 0);
        return 1;
    }
    d->health = health_start(d->loop, d->cfg.health_listen,
                             (struct health_source){ health_destinations, d }, err, sizeof(err));
    if (!d->health) {
        log_write(LOG_ERROR, "spanrelay", err, NULL, 0);
        return 1;
    }
    d->receiver = receiver_start(d->loop, &d->cfg, d->pipeline, err, sizeof(err));
    if (!d->receiver) {
        log_write(LOG_ERROR, "spanrelay", err, NULL, 0);
        return 1;
    }
    log_write(LOG_INFO, "spanrelay", "started",
              (struct log_field[]){ LOG_STR("version", SPANRELAY_VERSION),
                                    LOG_STR("health", d->cfg.health_listen),
                                    LOG_STR("socket", d->cfg.receiver_socket),
                                    LOG_STR("exporter",
                                            d->cfg.enabled &&
                                                    (d->cfg.endpoint[0] ||
                                                     d->cfg.load_balance.resolver !=
                                                             CONFIG_RESOLVER_NONE)
                                                ? "enabled" : "disabled") },
              4);
    uv_run(d->loop, UV_RUN_DEFAULT);
    log_write(LOG_INFO, "spanrelay", "stopped", NULL, 0);
    return 0;
}

/* On a start-up failure some handles are open: close them all so the loop ends and
 * valgrind sees every allocation returned. */
static void close_everything(struct daemon *d)
{
    if (d->receiver)
        receiver_stop(d->receiver);
    if (d->pipeline)
        pipeline_free(d->pipeline);
    if (d->health)
        health_stop(d->health);
    uv_walk(d->loop, on_walk_close, NULL);
    uv_run(d->loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, 'C' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = NULL;
    int check_only = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'C': check_only = 1; break;
        case 'V': printf("spanrelay %s\n", SPANRELAY_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_BAD_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "spanrelay: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return EXIT_BAD_CONFIG;
    }

    struct daemon d;
    memset(&d, 0, sizeof(d));
    char err[512];
    if (load_config(&d.cfg, config_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "spanrelay: %s\n", err);
        config_free(&d.cfg);
        return EXIT_BAD_CONFIG;
    }
    if (check_only) {
        printf("spanrelay: configuration OK\n");
        config_free(&d.cfg);
        return 0;
    }
    malloc_tune();
    enum log_level level = LOG_INFO;
    log_level_parse(d.cfg.log_level, &level);
    log_init(level, stderr);
    if (log_queue_start(STDERR_FILENO) < 0)
        log_write(LOG_WARNING, "spanrelay", "cannot start the log writer; logging directly",
                  NULL, 0);

    int rc = run(&d);
    if (rc != 0)
        close_everything(&d);
    uv_loop_close(d.loop);
    config_free(&d.cfg);
    log_queue_stop(LOG_FLUSH_MS);
    return rc;
}
