/* emit_main.c — spanrelay-emit: adds one span to the trace in TRACEPARENT, either for a
 * command it runs (exec) or for a step a shell script timed itself (span), and sends it
 * to the sidecar over OTLP/HTTP.
 *
 * Tracing never changes what the command does or how it ends (fail-open): the command
 * runs whatever happens to the sidecar, its exit status is returned unchanged, and a span
 * that cannot be sent within --timeout is dropped, silently unless --verbose (then one
 * line on stderr). Only a bad command line stops spanrelay-emit before the command runs
 * (exit 2); what comes from the environment (TRACEPARENT, OTEL_*) is used when valid and
 * otherwise ignored. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/config.h"
#include "emit.h"

#ifndef SPANRELAY_VERSION
#define SPANRELAY_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2
#define EXIT_CANNOT_EXECUTE 126
#define EXIT_NOT_FOUND 127
#define DEFAULT_TIMEOUT_MS 1000

enum command { CMD_EXEC, CMD_SPAN };

struct options {
    enum command command;
    const char *name;
    enum emit_kind kind;
    struct config_kv *attrs;
    size_t nattrs;
    const char *service;
    const char *endpoint;
    uint64_t timeout_ms;
    int verbose;
    int record_args;
    const char *parent;       /* --parent, or NULL for $TRACEPARENT */
    const char *start, *end;
    int print_traceparent;
    const char *error;
    char **argv;              /* exec: the command and its arguments */
};

static int verbose;

/* The child's pid while it runs, for the signal handlers; 0 otherwise. */
static volatile sig_atomic_t child_pid;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: spanrelay-emit exec [options] [--record-args] -- CMD [ARGS...]\n"
            "       spanrelay-emit span --name NAME --start TIME [--end TIME] [options]\n"
            "                           [--print-traceparent] [--error MESSAGE]\n"
            "       spanrelay-emit --version | --help\n"
            "\n"
            "Adds a span to the trace in $TRACEPARENT (W3C) and sends it to the spanrelay\n"
            "sidecar. exec runs CMD with TRACEPARENT set to the new span, forwards SIGINT,\n"
            "SIGTERM and SIGHUP to it, and exits with its status (128+N after signal N;\n"
            "126/127 when it cannot be run). Sending never changes that status.\n"
            "\n"
            "  -n, --name NAME          span name (exec: the command's base name)\n"
            "  -k, --kind KIND          internal (default), server, client, producer, consumer\n"
            "  -a, --attr KEY=VALUE     string attribute on the span; repeatable\n"
            "  -p, --parent TRACEPARENT parent span (default: $TRACEPARENT)\n"
            "  -s, --service NAME       service.name (default: $OTEL_SERVICE_NAME, else the\n"
            "                           sidecar's otel.serviceName)\n"
            "  -e, --endpoint URL       unix:///path or http://host:port (default:\n"
            "                           $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,\n"
            "                           $OTEL_EXPORTER_OTLP_ENDPOINT, unix://" EMIT_DEFAULT_SOCKET ")\n"
            "  -t, --timeout DURATION   bound on sending, e.g. 500ms, 2s (default 1s)\n"
            "  -v, --verbose            say on stderr why a span was not sent or a\n"
            "                           TRACEPARENT was not used\n"
            "      --record-args        exec: record process.command_args (may hold secrets)\n"
            "      --start TIME         span: unix nanoseconds or RFC 3339\n"
            "      --end TIME           span: likewise (default: now)\n"
            "      --print-traceparent  span: print the new span's traceparent on stdout\n"
            "      --error MESSAGE      span: set status ERROR with this message\n"
            "  -h, --help               this text\n");
}

/* One line on stderr, only with --verbose: sending problems are not the caller's. */
static void note(const char *fmt, ...)
{
    if (!verbose)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "spanrelay-emit: %s\n", line);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "spanrelay-emit: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(spanrelay-emit --help for usage)\n");
    return -1;
}

static void free_kvs(struct config_kv *kvs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kvs[i].key);
        free(kvs[i].value);
    }
    free(kvs);
}

static int add_attr(struct options *o, const char *arg)
{
    struct config_kv kv;
    if (emit_attr_parse(arg, &kv) < 0)
        return usage_error("--attr %s: expected KEY=VALUE with a non-empty key", arg);
    struct config_kv *grown = realloc(o->attrs, (o->nattrs + 1) * sizeof(*grown));
    if (!grown) {
        free(kv.key);
        free(kv.value);
        return usage_error("%s", "out of memory");
    }
    o->attrs = grown;
    o->attrs[o->nattrs++] = kv;
    return 0;
}

/* Options valid for one subcommand only. */
static int check_option_fits(const struct options *o, int opt, const char *name)
{
    int exec_only = opt == 'R';
    int span_only = opt == 'S' || opt == 'E' || opt == 'P' || opt == 'X';
    if ((exec_only && o->command != CMD_EXEC) || (span_only && o->command != CMD_SPAN))
        return usage_error("--%s does not apply to this subcommand", name);
    return 0;
}

/* Parses argv[1..] after the subcommand word. 0, 1 for --help, or -1 after a message
 * on stderr. */
static int parse_options(struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "name", required_argument, NULL, 'n' },
        { "kind", required_argument, NULL, 'k' },
        { "attr", required_argument, NULL, 'a' },
        { "parent", required_argument, NULL, 'p' },
        { "service", required_argument, NULL, 's' },
        { "endpoint", required_argument, NULL, 'e' },
        { "timeout", required_argument, NULL, 't' },
        { "verbose", no_argument, NULL, 'v' },
        { "record-args", no_argument, NULL, 'R' },
        { "start", required_argument, NULL, 'S' },
        { "end", required_argument, NULL, 'E' },
        { "print-traceparent", no_argument, NULL, 'P' },
        { "error", required_argument, NULL, 'X' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt, index;

    opterr = 0;
    optind = 1;
    /* '+': stop at the first non-option, so that CMD's own options stay CMD's. */
    while ((index = -1, opt = getopt_long(argc, argv, "+n:k:a:p:s:e:t:vh", longopts, &index)) != -1) {
        const char *name = index >= 0 ? longopts[index].name : "";
        if (opt != '?' && opt != ':' && check_option_fits(o, opt, name) < 0)
            return -1;
        switch (opt) {
        case 'n': o->name = optarg; break;
        case 'k':
            if (emit_kind_parse(optarg, &o->kind) < 0)
                return usage_error("--kind %s: expected internal, server, client, producer "
                                   "or consumer", optarg);
            break;
        case 'a':
            if (add_attr(o, optarg) < 0)
                return -1;
            break;
        case 'p': o->parent = optarg; break;
        case 's': o->service = optarg; break;
        case 'e': o->endpoint = optarg; break;
        case 't':
            if (config_parse_duration_ms(optarg, &o->timeout_ms) < 0)
                return usage_error("--timeout %s: expected a duration like 500ms or 2s", optarg);
            break;
        case 'v': o->verbose = 1; break;
        case 'R': o->record_args = 1; break;
        case 'S': o->start = optarg; break;
        case 'E': o->end = optarg; break;
        case 'P': o->print_traceparent = 1; break;
        case 'X': o->error = optarg; break;
        case 'h': return 1;
        default:
            return usage_error("%s: unknown option or missing value", argv[optind - 1]);
        }
    }
    o->argv = argv + optind;
    if (o->command == CMD_EXEC && !o->argv[0])
        return usage_error("%s", "exec: no command given (exec [options] -- CMD [ARGS...])");
    if (o->command == CMD_SPAN && o->argv[0])
        return usage_error("span: unexpected argument %s", o->argv[0]);
    if (o->command == CMD_SPAN && (!o->name || !o->start))
        return usage_error("%s", "span: --name and --start are required");
    if (o->endpoint) {
        struct emit_endpoint ep;
        char err[256];
        if (emit_endpoint_parse(o->endpoint, 0, &ep, err, sizeof(err)) < 0)
            return usage_error("--endpoint %s", err);
    }
    return 0;
}

static int env_true(const char *name)
{
    const char *v = getenv(name);
    return v && strcasecmp(v, "true") == 0;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* The endpoint: --endpoint, else the OTLP variables (a bad one is ignored, as an SDK
 * would), else the sidecar's default socket. */
static void choose_endpoint(const struct options *o, struct emit_endpoint *ep)
{
    char err[256];
    const char *url;

    if (o->endpoint && emit_endpoint_parse(o->endpoint, 0, ep, err, sizeof(err)) == 0)
        return;
    if ((url = env_nonempty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) {
        if (emit_endpoint_parse(url, 1, ep, err, sizeof(err)) == 0)
            return;
        note("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ignored: %s", err);
    }
    if ((url = env_nonempty("OTEL_EXPORTER_OTLP_ENDPOINT"))) {
        if (emit_endpoint_parse(url, 0, ep, err, sizeof(err)) == 0)
            return;
        note("OTEL_EXPORTER_OTLP_ENDPOINT ignored: %s", err);
    }
    emit_endpoint_parse("unix://" EMIT_DEFAULT_SOCKET, 0, ep, err, sizeof(err));
}

static void describe_endpoint(const struct emit_endpoint *ep, char *out, size_t outlen)
{
    if (ep->is_unix)
        snprintf(out, outlen, "unix://%s", ep->socket_path);
    else if (strchr(ep->host, ':'))
        snprintf(out, outlen, "http://[%s]:%s%s", ep->host, ep->port, ep->target);
    else
        snprintf(out, outlen, "http://%s:%s%s", ep->host, ep->port, ep->target);
}

/* Builds the request and sends it within the timeout; problems only reach --verbose. */
static void send_span(const struct options *o, const struct emit_span *span)
{
    if (env_true("OTEL_SDK_DISABLED"))
        return;

    struct emit_resource res = { .service_name = o->service };
    struct config_kv *rattrs = NULL;
    size_t nrattrs = 0;
    char err[512];
    const char *ra = getenv("OTEL_RESOURCE_ATTRIBUTES");
    if (!res.service_name)
        res.service_name = env_nonempty("OTEL_SERVICE_NAME");
    if (ra && config_parse_kv_list(ra, &rattrs, &nrattrs, err, sizeof(err)) < 0)
        note("OTEL_RESOURCE_ATTRIBUTES ignored: %s", err);
    res.attrs = rattrs;
    res.nattrs = nrattrs;

    struct emit_endpoint ep;
    char where[800];
    uint8_t *body = NULL;
    size_t len = 0;
    choose_endpoint(o, &ep);
    describe_endpoint(&ep, where, sizeof(where));
    if (emit_request_build(&res, span, &body, &len) < 0)
        note("span not sent: out of memory");
    else if (emit_send(&ep, body, len, o->timeout_ms, err, sizeof(err)) < 0)
        note("span not sent to %s: %s", where, err);
    free(body);
    free_kvs(rattrs, nrattrs);
}

/* The parent from --parent or $TRACEPARENT; 1 when there is a valid one. An invalid
 * one starts a new trace, as W3C Trace Context asks. */
static int find_parent(const struct options *o, struct emit_context *parent)
{
    const char *source = o->parent ? "--parent" : "TRACEPARENT";
    const char *tp = o->parent ? o->parent : getenv("TRACEPARENT");
    const char *why;
    if (!tp || !tp[0])
        return 0;
    if (emit_traceparent_parse(tp, parent, &why) < 0) {
        note("invalid %s (%s): starting a new trace", source, why);
        return 0;
    }
    return 1;
}

/* The new span's context: the parent's trace and sampled flag, or a new random trace
 * (sampled: the sidecar's sampler decides on the trace id). 0 or -1. */
static int new_context(const struct emit_context *parent, int has_parent,
                       struct emit_context *ctx)
{
    if (has_parent) {
        memcpy(ctx->trace_id, parent->trace_id, sizeof(ctx->trace_id));
        ctx->flags = parent->flags & EMIT_FLAG_SAMPLED;
    } else {
        if (emit_random_id(ctx->trace_id, sizeof(ctx->trace_id)) < 0)
            return -1;
        ctx->flags = EMIT_FLAG_SAMPLED;
    }
    return emit_random_id(ctx->span_id, sizeof(ctx->span_id));
}

/* ---- exec ---- */

/* Passes SIGINT/SIGTERM/SIGHUP on to the command. A terminal's signals (si_code > 0)
 * already reach the whole foreground process group, the command included, so they are
 * not forwarded. A signal from kill(2) is (si_code <= 0): the usual case is a parent
 * stopping this one process, and the command must hear it. kill(2) cannot tell "this
 * process" from "its group" apart, so a sender that signals the process and then its
 * group (GNU timeout does) reaches the command twice. */
static void forward_signal(int sig, siginfo_t *info, void *ucontext)
{
    (void)ucontext;
    int saved = errno;
    pid_t pid = child_pid;
    if (pid > 0 && info->si_code <= 0)
        kill(pid, sig);
    errno = saved;
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP };
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

/* Which of them got a handler: a signal ignored when spanrelay-emit started (a
 * background job's SIGINT, nohup's SIGHUP) stays ignored, for the command too, as if
 * spanrelay-emit were not there. */
static int forwarding[NFORWARDED];

/* SIGCHLD ignored by whoever started spanrelay-emit: children would be reaped by the
 * kernel and their status lost, so it is set back to default here and to ignored again
 * for the command, which inherited it. */
static int sigchld_ignored;

/* Handlers stay after the command ends: a signal then is ignored, so that the exit
 * status stays the command's; sending is bounded by --timeout anyway. */
static void install_forwarding(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++) {
        if (sigaction(forwarded[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        forwarding[i] = sigaction(forwarded[i], &sa, NULL) == 0;
    }
    if (sigaction(SIGCHLD, NULL, &old) == 0 && old.sa_handler == SIG_IGN) {
        sigchld_ignored = 1;
        signal(SIGCHLD, SIG_DFL);
    }
}

static void forwarded_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(set, forwarded[i]);
}

static void exec_child(char **argv, int report_fd, const sigset_t *mask)
{
    for (size_t i = 0; i < NFORWARDED; i++)
        if (forwarding[i])
            signal(forwarded[i], SIG_DFL);
    if (sigchld_ignored)
        signal(SIGCHLD, SIG_IGN);
    sigprocmask(SIG_SETMASK, mask, NULL);
    execvp(argv[0], argv);
    int e = errno;
    ssize_t unused = write(report_fd, &e, sizeof(e));
    (void)unused;
    _exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE);
}

/* errno of a failed execvp, from the child through a close-on-exec pipe (EOF means the
 * exec worked); 0 when it worked. */
static int read_exec_error(int fd)
{
    int e = 0;
    ssize_t n;
    do {
        n = read(fd, &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(e) ? e : 0;
}

/* Waits for the child without losing a signal to a recycled pid: the child is first
 * waited for and left a zombie (WNOWAIT), forwarding stops, then it is reaped.
 * 0 with *status, or -1. */
static int wait_child(pid_t pid, int *status)
{
    siginfo_t info;
    pid_t r;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    child_pid = 0;
    while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
        ;
    return r == pid ? 0 : -1;
}

/* Runs the command; returns its exit status as a shell reports it, with msg set to why
 * it failed ("" on success). */
static int run_command(char **argv, char *msg, size_t msglen)
{
    int report[2];
    sigset_t block, old;

    if (pipe2(report, O_CLOEXEC) < 0) {
        snprintf(msg, msglen, "cannot run %s: %s", argv[0], strerror(errno));
        fprintf(stderr, "spanrelay-emit: %s\n", msg);
        return EXIT_CANNOT_EXECUTE;
    }
    /* Blocked until child_pid is set, so that no signal falls between fork and it. */
    forwarded_set(&block);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, report[1], &old);
    int fork_errno = errno;
    if (pid > 0)
        child_pid = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        snprintf(msg, msglen, "cannot run %s: fork: %s", argv[0], strerror(fork_errno));
        fprintf(stderr, "spanrelay-emit: %s\n", msg);
        return EXIT_CANNOT_EXECUTE;
    }

    int exec_errno = read_exec_error(report[0]);
    close(report[0]);
    int status;
    if (wait_child(pid, &status) < 0) {
        snprintf(msg, msglen, "lost %s: waitpid: %s", argv[0], strerror(errno));
        fprintf(stderr, "spanrelay-emit: %s\n", msg);
        return 1;
    }
    if (exec_errno) {
        /* Like a shell, say why the command did not run, --verbose or not. */
        snprintf(msg, msglen, "cannot run %s: %s", argv[0], strerror(exec_errno));
        fprintf(stderr, "spanrelay-emit: %s\n", msg);
        return exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
    }
    return emit_exit_status(status, msg, msglen);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

static int count_args(char **argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

static int run_exec(const struct options *o)
{
    struct emit_context parent, ctx;
    int has_parent = find_parent(o, &parent);
    char *trace_state = NULL;
    int traced = new_context(&parent, has_parent, &ctx) == 0;

    if (!traced) {
        note("no random ids (getrandom failed): running the command without a span");
    } else {
        char tp[EMIT_TRACEPARENT_LEN + 1];
        emit_traceparent_format(&ctx, tp);
        const char *ts = has_parent ? getenv("TRACESTATE") : NULL;
        if (ts && ts[0])
            trace_state = strdup(ts);
        setenv("TRACEPARENT", tp, 1);
        /* tracestate belongs to the trace it came with; a new trace starts without. */
        if (!has_parent)
            unsetenv("TRACESTATE");
    }

    char failure[512];
    install_forwarding();
    uint64_t start = emit_now_ns();
    int code = run_command(o->argv, failure, sizeof(failure));
    uint64_t end = emit_now_ns();

    if (traced) {
        struct emit_span span = {
            .ctx = ctx,
            .parent_span_id = has_parent ? parent.span_id : NULL,
            .trace_state = trace_state,
            .name = o->name ? o->name : base_name(o->argv[0]),
            .kind = o->kind,
            .start_ns = start,
            .end_ns = end,
            .command = o->argv[0],
            .args = o->argv,
            .nargs = o->record_args ? (size_t)count_args(o->argv) : 0,
            .has_exit_code = 1,
            .exit_code = code,
            .attrs = o->attrs,
            .nattrs = o->nattrs,
            .error = failure[0] ? failure : NULL,
        };
        send_span(o, &span);
    }
    free(trace_state);
    return code;
}

/* ---- span ---- */

static int run_span(const struct options *o)
{
    uint64_t start, end;
    if (emit_time_parse(o->start, &start) < 0) {
        usage_error("--start %s: expected unix nanoseconds or RFC 3339", o->start);
        return EXIT_USAGE;
    }
    if (!o->end) {
        end = emit_now_ns();
    } else if (emit_time_parse(o->end, &end) < 0) {
        usage_error("--end %s: expected unix nanoseconds or RFC 3339", o->end);
        return EXIT_USAGE;
    }
    if (end < start) {
        usage_error("%s", "--end is before --start");
        return EXIT_USAGE;
    }

    struct emit_context parent, ctx;
    int has_parent = find_parent(o, &parent);
    if (new_context(&parent, has_parent, &ctx) < 0) {
        note("no random ids (getrandom failed): no span");
        return 0;
    }
    if (o->print_traceparent) {
        char tp[EMIT_TRACEPARENT_LEN + 1];
        emit_traceparent_format(&ctx, tp);
        printf("%s\n", tp);
        fflush(stdout);
    }
    /* TRACESTATE goes with $TRACEPARENT, not with a --parent from elsewhere. */
    const char *ts = has_parent && !o->parent ? getenv("TRACESTATE") : NULL;
    struct emit_span span = {
        .ctx = ctx,
        .parent_span_id = has_parent ? parent.span_id : NULL,
        .trace_state = ts,
        .name = o->name,
        .kind = o->kind,
        .start_ns = start,
        .end_ns = end,
        .attrs = o->attrs,
        .nattrs = o->nattrs,
        .error = o->error,
    };
    send_span(o, &span);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = { .kind = EMIT_KIND_INTERNAL, .timeout_ms = DEFAULT_TIMEOUT_MS };

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("spanrelay-emit %s\n", SPANRELAY_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "exec") == 0) {
        o.command = CMD_EXEC;
    } else if (strcmp(argv[1], "span") == 0) {
        o.command = CMD_SPAN;
    } else {
        usage_error("unknown subcommand %s (exec or span)", argv[1]);
        return EXIT_USAGE;
    }
    int parsed = parse_options(&o, argc - 1, argv + 1);
    if (parsed != 0) {
        if (parsed > 0)
            usage(stdout);
        free_kvs(o.attrs, o.nattrs);
        return parsed > 0 ? 0 : EXIT_USAGE;
    }
    verbose = o.verbose;
    int code = o.command == CMD_EXEC ? run_exec(&o) : run_span(&o);
    free_kvs(o.attrs, o.nattrs);
    return code;
}
