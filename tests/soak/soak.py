#!/usr/bin/python3
"""soak.py — spanrelay under a long, mixed, hostile load (`make soak`).

The real daemon, with an OTLP/gRPC fake backend behind it, runs for SOAK_SECONDS
(default 600) while a background load never stops: bench/loadgen at a changing rate
over the UNIX socket and the OpenTelemetry JS SDK (tests/interop/emit.js) over gRPC and
HTTP. In the foreground, a cycle of phases, each about SOAK_SECONDS / 21 long:

  steady        the background load alone
  overload      loadgen as fast as it goes: far past what the ring holds
  stopped       the backend is down (connections refused)
  black hole    something accepts on the backend's port and never answers or reads
  hung          the backend reads every request and never answers it
  disconnects   clients that send half a request (HTTP/1.1 and gRPC) and go away
  hostile       the bad-input suite (tests/integration/test_receiver.py BadRequests)
                run against this daemon

At the end the load stops, the backend is healthy, the ring drains, and the run checks:
the accounting equation exactly (harness.accounting, so it follows whatever terms and
labels /metrics carries), the accounting at the end of every phase too, peak RSS under
buffer.maxBytes plus SOAK_RSS_OVERHEAD_MIB (not under ASan or valgrind, whose own memory
dwarfs the daemon's), file descriptors back to the idle count, /health 200 throughout,
and no WARNING storm: no (logger, msg) pair logged more than SOAK_WARN_PER_MIN times in
any minute. It prints one summary line, "soak: PASS ..." or "soak: FAIL ...", and exits
0 or 1.

Environment: SPANRELAY_BIN (default build/spanrelay), SPANRELAY_ASAN=1 for an ASan
build, SOAK_VALGRIND=1 (the daemon runs under valgrind; any error or definite leak
fails; /health may take up to 30 s to answer), SOAK_LOADGEN (default build/bench/loadgen), SOAK_SECONDS,
SOAK_RSS_OVERHEAD_MIB (24), SOAK_WARN_PER_MIN (12), SOAK_CHECK_RSS (1; 0 under ASan or
valgrind), SOAK_KEEP_LOG (a path to copy the daemon's log to)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from harness import (Daemon, accounting, free_port, http_get, metric_sum,  # noqa: E402
                     otlp_grpc_export, parse_prometheus, run_js, simple_request)
from fake_backend import FakeBackend  # noqa: E402
import test_receiver  # noqa: E402

LOADGEN = os.environ.get('SOAK_LOADGEN') or os.path.join(ROOT, 'build', 'bench', 'loadgen')
MIB = 1 << 20
BUFFER_BYTES = 8 * MIB
PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'

# The bad inputs of the receiver suite whose assertions hold on a busy daemon (the
# others count received spans or connections, which the load changes under them).
HOSTILE_TESTS = (
    'test_garbage_protobuf', 'test_wrong_wire_types', 'test_invalid_json',
    'test_gzip_bomb', 'test_grpc_gzip_bomb', 'test_oversized_body',
    'test_wrong_content_type', 'test_unknown_method_path_and_verb',
    'test_garbage_instead_of_http2_preface', 'test_slow_client_does_not_stall_others',
)


def env_int(name, default):
    return int(os.environ.get(name, default))


def valgrind_argv(directory):
    """valgrind execs the daemon (same PID), logging to directory."""
    return ['valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
            '--errors-for-leak-kinds=definite',
            '--log-file=%s' % os.path.join(directory, 'valgrind.log')]


def valgrind_errors(directory):
    try:
        with open(os.path.join(directory, 'valgrind.log')) as f:
            return f.read().strip()
    except OSError:
        return ''


class Failures:
    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def add(self, what):
        with self.lock:
            self.items.append(what)
        print('soak: problem: %s' % what, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the daemon's process

def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def peak_rss_bytes(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- background load

class Background:
    """loadgen at a rate that changes every run, and the JS SDK, until stop()."""

    def __init__(self, d, failures):
        self.d = d
        self.failures = failures
        self.stopping = threading.Event()
        self.procs = set()
        self.lock = threading.Lock()
        self.loadgen_spans = 0
        self.js_runs = 0
        self.threads = [threading.Thread(target=self.loadgen_loop, daemon=True),
                        threading.Thread(target=self.js_loop, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        with self.lock:
            for p in list(self.procs):
                if p.poll() is None:
                    p.kill()
        for t in self.threads:
            t.join(timeout=90)

    def run_loadgen(self, rate, seconds, conns=2):
        """One loadgen run; returns offered spans. rate 0 = as fast as it goes."""
        p = subprocess.Popen([LOADGEN, '-s', self.d.socket_path, '-r', str(rate), '-d',
                              str(seconds), '-c', str(conns)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with self.lock:
            self.procs.add(p)
        try:
            out, err = p.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.failures.add('loadgen did not finish in time')
        with self.lock:
            self.procs.discard(p)
        try:
            doc = json.loads(out.decode().strip().splitlines()[-1])
            return int(doc['offered_spans'])
        except (ValueError, IndexError, KeyError):
            if not self.stopping.is_set():
                self.failures.add('loadgen printed no summary: %s' % err.decode()[-300:])
            return 0

    def loadgen_loop(self):
        rates = (2000, 20000, 5000, 50000, 1000)
        i = 0
        while not self.stopping.is_set():
            n = self.run_loadgen(rates[i % len(rates)], 3)
            with self.lock:
                self.loadgen_spans += n
            i += 1

    def js_loop(self):
        exporters = ('grpc', 'proto', 'http')
        i = 0
        while not self.stopping.is_set():
            exporter = exporters[i % len(exporters)]
            if exporter == 'grpc':
                endpoint = 'http://' + self.d.config['receiver']['grpc']
            elif i % 2:
                endpoint = 'http://' + self.d.config['receiver']['http']
            else:
                endpoint = 'unix://' + self.d.socket_path
            try:
                s = run_js(exporter, endpoint, spans=400, traces=40, timeout=60,
                           extra_args=('--batch-size', '20'))
                if s.get('exitCode') != 0:
                    self.failures.add('JS SDK %s export failed: %s' % (exporter, s.get('error')))
                with self.lock:
                    self.js_runs += 1
            except Exception as e:  # noqa: BLE001 — reported, the soak goes on
                self.failures.add('JS SDK %s: %s' % (exporter, e))
            i += 1
            self.stopping.wait(1)


# ---------------------------------------------------------------- backend troubles

class BlackHole:
    """Accepts on a port and neither reads nor answers."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.held = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
                self.held.append(c)
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for c in self.held:
            c.close()
        self.sock.close()


def phase_stopped(ctx, seconds):
    ctx.backend.stop()
    time.sleep(seconds)
    ctx.backend.start()


def phase_black_hole(ctx, seconds):
    ctx.backend.stop()
    hole = BlackHole(ctx.backend.grpc_port)
    try:
        time.sleep(seconds)
    finally:
        hole.close()
        ctx.backend.start()


def phase_hung(ctx, seconds):
    ctx.backend.set_default(('hang', seconds))
    time.sleep(seconds)
    ctx.backend.set_default(('ok',))


def phase_steady(ctx, seconds):
    time.sleep(seconds)


def phase_overload(ctx, seconds):
    ctx.background.run_loadgen(0, seconds, conns=4)


def phase_disconnects(ctx, seconds):
    body = simple_request(n_spans=50).SerializeToString()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        for kind in ('http', 'grpc'):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(ctx.d.socket_path)
                if kind == 'http':
                    s.sendall(b'POST /v1/traces HTTP/1.1\r\nHost: x\r\n'
                              b'Content-Type: application/x-protobuf\r\n'
                              b'Content-Length: %d\r\n\r\n' % len(body) + body[:len(body) // 2])
                else:
                    # SETTINGS, then HEADERS that never come: the stream is left open.
                    s.sendall(PREFACE + b'\x00\x00\x00\x04\x00\x00\x00\x00\x00')
            except OSError:
                pass
            finally:
                s.close()
            n += 1
        time.sleep(0.01)
    ctx.disconnects += n


class _Hostile(test_receiver.BadRequests):
    """The receiver suite's bad inputs, against the soak's daemon."""
    daemon = None

    def setUp(self):
        self.d = _Hostile.daemon


def phase_hostile(ctx, seconds):
    _Hostile.daemon = ctx.d
    deadline = time.monotonic() + seconds
    while True:
        suite = unittest.TestSuite(_Hostile(name) for name in HOSTILE_TESTS)
        result = unittest.TextTestRunner(stream=open(os.devnull, 'w'), verbosity=0).run(suite)
        ctx.hostile_runs += result.testsRun
        for test, trace in result.failures + result.errors:
            ctx.failures.add('hostile %s: %s' % (test.id().rsplit('.', 1)[-1],
                                                 trace.strip().splitlines()[-1]))
        if time.monotonic() >= deadline:
            break


PHASES = (
    ('steady', phase_steady), ('overload', phase_overload), ('stopped', phase_stopped),
    ('black hole', phase_black_hole), ('hung', phase_hung), ('disconnects', phase_disconnects),
    ('hostile', phase_hostile),
)


# ---------------------------------------------------------------- checks

def metrics(ctx):
    status, body = http_get(ctx.d.metrics_url, timeout=ctx.health_timeout)
    if status != 200:
        raise OSError('GET /metrics answered %d' % status)
    return parse_prometheus(body.decode('utf-8'))


def check_accounting(ctx, when):
    try:
        a = accounting(metrics(ctx))
    except OSError as e:
        ctx.failures.add('%s: /metrics unreachable: %s' % (when, e))
        return None
    if not a['holds']:
        ctx.failures.add('%s: accounting off: received %d, terms %s'
                         % (when, a['received'], json.dumps(a['terms'], sort_keys=True)))
    return a


def check_health(ctx, when):
    try:
        status, _ = http_get(ctx.d.health_url, timeout=ctx.health_timeout)
        if status != 200:
            ctx.failures.add('%s: /health answered %d' % (when, status))
    except OSError as e:
        ctx.failures.add('%s: /health unreachable: %s' % (when, e))


def health_watch(ctx, stopping):
    while not stopping.wait(1):
        check_health(ctx, 'during %s' % ctx.phase)


def warning_storms(lines, per_minute):
    """(logger, msg, minute, count) for every pair logged more than per_minute times in
    one minute, and the highest per-minute count of any pair."""
    buckets = {}
    for doc in lines:
        if doc.get('level') != 'WARNING':
            continue
        key = (doc.get('logger'), doc.get('msg'), doc.get('ts', '')[:16])
        buckets[key] = buckets.get(key, 0) + 1
    storms = [k + (n,) for k, n in buckets.items() if n > per_minute]
    return storms, max(buckets.values(), default=0)


def wait_drained(ctx, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = metrics(ctx)
        if (metric_sum(m, 'spanrelay_spans_buffered') == 0
                and metric_sum(m, 'spanrelay_spans_in_flight') == 0
                and metric_sum(m, 'spanrelay_receiver_connections') == 0):
            return m
        time.sleep(0.5)
    return None


def wait_fds(pid, want, timeout):
    deadline = time.monotonic() + timeout
    n = fd_count(pid)
    while n != want and time.monotonic() < deadline:
        time.sleep(0.5)
        n = fd_count(pid)
    return n


# ---------------------------------------------------------------- the run

class Context:
    pass


def main():
    seconds = env_int('SOAK_SECONDS', 600)
    overhead = env_int('SOAK_RSS_OVERHEAD_MIB', 24) * MIB
    warn_per_min = env_int('SOAK_WARN_PER_MIN', 12)
    use_valgrind = env_int('SOAK_VALGRIND', 0)
    check_rss = env_int('SOAK_CHECK_RSS',
                        0 if os.environ.get('SPANRELAY_ASAN') or use_valgrind else 1)
    phase_seconds = max(2.0, seconds / (3 * len(PHASES)))
    if not os.access(LOADGEN, os.X_OK):
        print('soak: FAIL build/bench/loadgen missing (make build/bench/loadgen)')
        return 1

    ctx = Context()
    ctx.failures = Failures()
    # valgrind runs the daemon some fifty times slower: an answer still counts, late.
    ctx.health_timeout = 30 if use_valgrind else 2
    ctx.phase = 'start'
    ctx.disconnects = 0
    ctx.hostile_runs = 0
    ctx.backend = FakeBackend(grpc=True, http=False, count_only=True).start()
    config = {
        'otel': {'endpoint': ctx.backend.grpc_endpoint, 'protocol': 'grpc'},
        'receiver': {'grpc': '127.0.0.1:%d' % free_port(), 'http': '127.0.0.1:%d' % free_port(),
                     'maxRequestBytes': '64KiB', 'maxConnections': 256},
        'buffer': {'maxBytes': BUFFER_BYTES},
        'exporter': {'timeout': '2s', 'batchTimeout': '100ms',
                     'retry': {'initialInterval': '100ms', 'maxInterval': '1s',
                               'maxElapsedTime': '10s'}},
        'shutdownTimeout': '10s',
        'log': {'level': 'info'},
    }
    vg_dir = tempfile.mkdtemp(prefix='spanrelay-soak-vg-') if use_valgrind else None
    d = Daemon(config, startup_timeout=60, wrapper=valgrind_argv(vg_dir) if vg_dir else ())
    ctx.d = d
    summary = {}
    try:
        d.start()
        # Idle, with the backend connection up: what the end must come back to.
        r = otlp_grpc_export(d.socket_path, simple_request(n_spans=1), timeout=10)
        if not ctx.backend.wait_for_spans(1, timeout=30):
            ctx.failures.add('the first span never reached the backend')
        time.sleep(1)
        idle_fds = fd_count(d.pid)
        del r

        ctx.background = Background(d, ctx.failures)
        ctx.background.start()
        stopping = threading.Event()
        watcher = threading.Thread(target=health_watch, args=(ctx, stopping), daemon=True)
        watcher.start()
        # Every phase runs at least once, however short the run.
        cycles = 0
        t0 = time.monotonic()
        while cycles == 0 or time.monotonic() - t0 < seconds - phase_seconds:
            for name, run in PHASES:
                if cycles > 0 and time.monotonic() - t0 >= seconds - phase_seconds:
                    break
                ctx.phase = name
                run(ctx, phase_seconds)
                check_accounting(ctx, 'after %s' % name)
                if not d.alive():
                    ctx.failures.add('the daemon exited during %s' % name)
                    raise RuntimeError('daemon gone')
            cycles += 1
        ctx.phase = 'wind-down'
        ctx.background.stop()
        stopping.set()
        watcher.join(timeout=5)

        ctx.backend.set_default(('ok',))
        m = wait_drained(ctx, 60)
        if m is None:
            ctx.failures.add('the ring did not drain within 60 s of the load stopping')
            m = metrics(ctx)
        a = check_accounting(ctx, 'at the end') or {'received': 0, 'terms': {}}
        peak = peak_rss_bytes(d.pid)
        if check_rss and peak > BUFFER_BYTES + overhead:
            ctx.failures.add('peak RSS %.1f MiB over the bound %.0f MiB + %.0f MiB'
                             % (peak / MIB, BUFFER_BYTES / MIB, overhead / MIB))
        end_fds = wait_fds(d.pid, idle_fds, 30)
        if end_fds != idle_fds:
            ctx.failures.add('file descriptors: %d at the end, %d idle' % (end_fds, idle_fds))
        exported = a['terms'].get('spanrelay_spans_exported_total', 0)
        if exported > ctx.backend.span_count():
            ctx.failures.add('exported %d spans but the backend accepted only %d'
                             % (exported, ctx.backend.span_count()))
        code = d.stop(signal.SIGTERM, timeout=30)
        if code != 0:
            ctx.failures.add('exit code %s after SIGTERM' % code)
        lines = d.log_lines()
        storms, worst = warning_storms(lines, warn_per_min)
        for logger, msg, minute, n in storms[:5]:
            ctx.failures.add('WARNING storm: %d x %s "%s" in minute %s' % (n, logger, msg, minute))
        report = d.sanitizer_report()
        if report:
            ctx.failures.add('sanitizer report:\n' + report[:2000])
        if vg_dir and valgrind_errors(vg_dir):
            ctx.failures.add('valgrind:\n' + valgrind_errors(vg_dir)[:2000])
        keep = os.environ.get('SOAK_KEEP_LOG')
        if keep:
            shutil.copyfile(d.log_path, keep)
        t = a['terms']
        summary = {
            'seconds': round(time.monotonic() - t0),
            'cycles': cycles,
            'received': int(a['received']),
            'exported': int(t.get('spanrelay_spans_exported_total', 0)),
            'dropped_overflow': int(t.get('spanrelay_spans_dropped_overflow_total', 0)),
            'export_failed': int(t.get('spanrelay_spans_export_failed_total', 0)),
            'rejected': int(t.get('spanrelay_spans_rejected_total', 0)),
            'backend_accepted': ctx.backend.span_count(),
            'loadgen_offered': ctx.background.loadgen_spans,
            'js_runs': ctx.background.js_runs,
            'hostile_tests': ctx.hostile_runs,
            'disconnects': ctx.disconnects,
            'peak_rss_mib': round(peak / MIB, 1),
            'rss_bound_mib': round((BUFFER_BYTES + overhead) / MIB) if check_rss else None,
            'fds_idle': idle_fds, 'fds_end': end_fds,
            'warnings': sum(1 for x in lines if x.get('level') == 'WARNING'),
            'worst_warnings_per_min': worst,
            'log_lines_dropped': int(metric_sum(m, 'spanrelay_log_lines_dropped_total')),
        }
    except Exception as e:  # noqa: BLE001 — any failure ends in the one summary line
        ctx.failures.add('%s: %s' % (type(e).__name__, e))
        if getattr(ctx, 'background', None):
            ctx.background.stop()
    finally:
        d.close()
        ctx.backend.stop()
        if vg_dir:
            shutil.rmtree(vg_dir, ignore_errors=True)
    verdict = 'FAIL' if ctx.failures.items else 'PASS'
    if ctx.failures.items:
        summary['problems'] = len(ctx.failures.items)
        summary['first'] = json.dumps(ctx.failures.items[0].splitlines()[0])
    print('soak: %s %s' % (verdict, ' '.join('%s=%s' % kv for kv in summary.items())))
    return 1 if ctx.failures.items else 0


if __name__ == '__main__':
    sys.exit(main())
