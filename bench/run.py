#!/usr/bin/python3
"""make bench — spanrelay's cost per span and throughput, next to the physical limit.

    loadgen ──OTLP/HTTP or gRPC, TCP or UNIX socket──▶ spanrelay (relay) ──OTLP/gRPC──▶ sink
    loadgen ──────────────── the same ─────────────────────────────────────────────────▶ sink

The sink is a second spanrelay with its exporter disabled: a counting OTLP server. The
"limit" rows send straight from loadgen to the sink with no relay: what this machine does
when nothing stands between client and backend. Every other row is given as a ratio to the
limit row of the same input (protocol, transport, rate) measured in the same run:
  - fixed-rate rows: relay CPU per span / sink CPU per span in the limit row ("x cpu"), so
    1.0 would be a relay that costs what merely receiving the spans costs;
  - maximum-rate rows: delivered spans/s / limit spans/s ("of rate").
The relay is pinned to CPU 0 and the tools (loadgen, sinks) to CPU 1 (`--no-pin` leaves
them to the scheduler). CPU is the relay's (the sink's in a limit row) from
/proc/PID/task/*/schedstat (nanoseconds; /proc/PID/stat ticks where that is missing).
Requests are 100 spans each (~555 bytes a span), 4 connections, sampling ratio 1.0.

    bench/run.py [--seconds N] [--quick] [--rows GLOB[,GLOB...]] [--list] [--no-pin]
                 [--callgrind REQUESTS] [--perf] [--compare OTHER_BINARY [--repeat N]]
                 [--json FILE]

--quick runs each row for 3 seconds; --rows keeps the rows whose name matches one of the
shell-style patterns (e.g. --rows 'limit-*,*-max-*'); --list prints the row names.
--callgrind N runs the measured process of each row under valgrind's callgrind for a fixed
N requests a connection instead, and prints instructions per span and the functions that
execute most: repeatable on a busy machine where CPU time is not. --perf samples the
measured process with `perf record -e cpu-clock` while the row runs and prints the share of
its time spent in the kernel and the functions (user and kernel) where it goes: what
callgrind cannot see, since it counts user-space instructions only. SPANRELAY_BIN,
SPANRELAY_SINK_BIN (default: the same) and SPANRELAY_LOADGEN name other binaries.
--compare OTHER runs every relay row with the relay binary and OTHER in turn, --repeat
pairs (default 3), and prints the medians and the median of the pairwise ratios: the way
to compare two builds on a machine whose speed drifts.

Adding a row: append a Row(...) to ROWS (or extend the list in a function called from
there). A Row names its input (`http`/`grpc`), transport (`tcp`/`unix`), rate (0 =
maximum), export compression, whether OTEL_RESOURCE_ATTRIBUTES is set, how many sinks to
start (`sinks`, default 1; 0 = the backend is down: the relay exports to a closed port),
and an optional `config(ctx, sections)` hook that edits the relay's configuration before it
starts. `sections` maps a top-level YAML key ("otel", "receiver", "exporter", "buffer",
or a new one) to a list of lines already indented under it; `ctx.sinks` lists the sinks'
gRPC addresses ("127.0.0.1:PORT", the first is otel.endpoint's), `ctx.dir` is the row's
temporary directory (for a spool). Delivered spans are summed over all sinks and divided
by `copies` (default 1) when every span reaches the sinks more than once. Examples:

    # two destinations: the vendor lane exports to the second sink
    Row('grpc-unix-10k-two-destinations', 'grpc', 'unix', 10000, sinks=2,
        config=lambda ctx, s: s.setdefault('destinations', []).extend(
            ['  - name: vendor', '    endpoint: http://%s' % ctx.sinks[1]]))
    # backend down with a spool
    Row('grpc-unix-max-spool-down', 'grpc', 'unix', 0, sinks=0,
        config=lambda ctx, s: s.setdefault('spool', []).append('  dir: %s' % ctx.dir))
"""

import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import namedtuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get('SPANRELAY_BIN') or os.path.join(ROOT, 'build', 'spanrelay')
SINK_BIN = os.environ.get('SPANRELAY_SINK_BIN') or BIN
LOADGEN = os.environ.get('SPANRELAY_LOADGEN') or os.path.join(ROOT, 'build', 'bench', 'loadgen')
TICKS = os.sysconf('SC_CLK_TCK')
CONNECTIONS = 4
# What a Kubernetes pod's OTEL_RESOURCE_ATTRIBUTES typically carries.
RESOURCE_ATTRIBUTES = ('k8s.namespace.name=aifactory,k8s.node.name=node-pool-a-3,'
                       'k8s.deployment.name=web,service.version=1.42.0,'
                       'deployment.environment=production')

Row = namedtuple('Row', 'name input via rate compression resource_attrs limit sinks config copies')
Row.__new__.__defaults__ = ('none', False, False, 1, None, 1)


def second_destination(ctx, sections):
    """A second lane to the same sink: its cost is the relay's, the sink counts both."""
    sections['destinations'] = ['  - name: d1', '    endpoint: http://%s' % ctx.sinks[0]]


def gateway_fleet(ctx, sections):
    """The primary as a fleet of the three sinks (loadBalance, static): each span goes to
    the sink owning its trace id, requests split by the wire walk."""
    sections['otel'] = ['  enabled: true', '  loadBalance:', '    resolver: static',
                        '    endpoints: [%s]' % ', '.join(ctx.sinks)]


Context = namedtuple('Context', 'sinks dir')


def spool(ctx, sections, ring=None):
    """A disk spool in the row's directory, large enough never to fill in a run."""
    sections['buffer'] = (['  maxBytes: %s' % ring] if ring else []) + [
        '  spool:', '    dir: %s' % ctx.dir, '    maxBytes: 32GiB']


def spool_small_ring(ctx, sections):
    """The backend down: a 4 MiB ring (the smallest receiver.maxRequestBytes allows), so
    what the relay takes goes to the spool."""
    spool(ctx, sections, '4MiB')


def rows():
    out = []
    for rate, tag in ((10000, '10k'), (0, 'max')):
        for inp, via in (('http', 'tcp'), ('grpc', 'tcp'), ('grpc', 'unix')):
            out.append(Row('limit-%s-%s-%s' % (inp, via, tag), inp, via, rate, limit=True))
    for inp, via in (('http', 'tcp'), ('grpc', 'tcp'), ('grpc', 'unix')):
        out.append(Row('%s-%s-10k' % (inp, via), inp, via, 10000))
    for comp in ('none', 'gzip', 'zstd'):
        out.append(Row('grpc-unix-10k-attrs-%s' % comp, 'grpc', 'unix', 10000, comp, True))
    for inp, via in (('http', 'tcp'), ('grpc', 'tcp'), ('grpc', 'unix')):
        out.append(Row('%s-%s-max' % (inp, via), inp, via, 0))
    for comp in ('gzip', 'zstd'):
        out.append(Row('grpc-unix-max-attrs-%s' % comp, 'grpc', 'unix', 0, comp, True))
    for rate, tag in ((10000, '10k'), (0, 'max')):
        out.append(Row('grpc-unix-%s-two-destinations' % tag, 'grpc', 'unix', rate,
                       config=second_destination, copies=2))
    for rate, tag in ((10000, '10k'), (0, 'max')):
        out.append(Row('grpc-unix-%s-sharded-3' % tag, 'grpc', 'unix', rate, sinks=3,
                       config=gateway_fleet))
    # The spool: with a healthy backend it is never touched (the same cost as without);
    # with the backend down, how fast and how compactly it takes what the ring cannot.
    for rate, tag in ((10000, '10k'), (0, 'max')):
        out.append(Row('grpc-unix-%s-spool' % tag, 'grpc', 'unix', rate, config=spool))
    for rate, tag in ((10000, '10k'), (0, 'max')):
        out.append(Row('grpc-unix-%s-spool-down' % tag, 'grpc', 'unix', rate, sinks=0,
                       config=spool_small_ring))
    return out


ROWS = rows()


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metrics(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=3) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith('#'):
                k, v = line.rsplit(' ', 1)
                out[k] = float(v)
        return out


def total(m, name):
    """A metric summed over its labels (destinations, transports)."""
    return sum(v for k, v in m.items() if k == name or k.startswith(name + '{'))


def received(port):
    return total(metrics(port), 'spanrelay_spans_received_total')


def cpu_seconds(pid):
    """CPU time of every thread of pid, in seconds."""
    total, found = 0, False
    for path in glob.glob('/proc/%d/task/*/schedstat' % pid):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
                found = True
        except (OSError, ValueError, IndexError):
            pass
    if found:
        return total / 1e9
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kib(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0


def wait_healthy(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('spanrelay exited during startup')
        try:
            urllib.request.urlopen('http://127.0.0.1:%d/health' % port, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('spanrelay not healthy')


def pinned(cpu, argv, pin):
    return (['taskset', '-c', str(cpu)] + argv) if pin else argv


def start(directory, name, sections, cpu, pin, env=None, profile=False, binary=BIN):
    path = os.path.join(directory, name + '.yaml')
    with open(path, 'w') as f:
        for key, lines in sections.items():
            f.write('%s:\n%s\n' % (key, '\n'.join(lines)))
    log = open(os.path.join(directory, name + '.log'), 'wb')
    argv = [binary, '-c', path]
    if profile:
        argv = ['valgrind', '--tool=callgrind', '--callgrind-out-file=%s/%s.cg' %
                (directory, name)] + argv
    proc = subprocess.Popen(pinned(cpu, argv, pin), stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, env=env)
    log.close()
    return proc


def stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def receiver_lines(inp, via, sock, port):
    """The receiver section that listens where loadgen sends."""
    lines = ['  socket: "%s"' % (sock if via == 'unix' else '')]
    if via == 'tcp':
        lines.append('  %s: 127.0.0.1:%d' % (inp, port))
    return lines


def base_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith('OTEL_'):
            del env[k]
    return env


def callgrind_top(path, count):
    """Instructions in total and the count functions that execute most (self cost)."""
    out = subprocess.run(['callgrind_annotate', '--threshold=100', path], capture_output=True,
                         text=True, check=True).stdout
    total, top = 0, []
    for line in out.splitlines():
        m = re.match(r'\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$', line)
        if not m:
            continue
        ir, what = int(m.group(1).replace(',', '')), m.group(2)
        if what.startswith('PROGRAM TOTALS'):
            total = ir
        # A dump taken while the loop runs charges the frames below it (main, libc's
        # start) with everything: they are not where the instructions go.
        elif len(top) < count and ir < 0.99 * total and not what.startswith(('*', '<', '>')):
            where, _, lib = what.partition(' [')
            top.append((where.rsplit(':', 1)[-1], lib.rstrip(']').rsplit('/', 1)[-1], ir))
    return total, top


def perf_top(path, count):
    """From a perf.data of cpu-clock samples: the kernel's share of them and the count
    symbols with most samples, as (symbol, 'kernel' or 'user', share)."""
    out = subprocess.run(['perf', 'report', '--stdio', '--no-children', '--sort', 'sym',
                          '-i', path], capture_output=True, text=True, check=True).stdout
    kernel, top = 0.0, []
    for line in out.splitlines():
        m = re.match(r'\s*([\d.]+)%\s+\[([k.])\]\s+(\S+)', line)
        if not m:
            continue
        share, where, sym = float(m.group(1)) / 100, m.group(2), m.group(3)
        if where == 'k':
            kernel += share
        if len(top) < count:
            top.append((sym, 'kernel' if where == 'k' else 'user', share))
    return kernel, top


def run_row(row, seconds, pin, profile_requests=0, relay_bin=None, perf=False):
    """Measures a row; with profile_requests, runs the relay (the sink in a limit row)
    under callgrind instead, for that many requests a connection, and adds its
    instruction counts; with perf, samples it with perf while the load runs."""
    d = tempfile.mkdtemp(prefix='spanrelay-bench-')
    procs = []
    try:
        in_port = free_port()
        sock = os.path.join(d, 'otlp.sock')
        sinks, sink_health = [], []
        for i in range(1 if row.limit else row.sinks):
            grpc_port, health = free_port(), free_port()
            if row.limit:
                recv = receiver_lines(row.input, row.via, sock, in_port)
            else:
                recv = ['  socket: ""', '  grpc: 127.0.0.1:%d' % grpc_port]
            sink = start(d, 'sink%d' % i, {
                'otel': ['  enabled: false'], 'receiver': recv,
                'health': ['  listen: 127.0.0.1:%d' % health],
                'log': ['  level: warning']}, 1, pin, base_env(),
                profile=bool(profile_requests and row.limit), binary=SINK_BIN)
            procs.append(sink)
            wait_healthy(health, sink, 60)
            sinks.append('127.0.0.1:%d' % grpc_port)
            sink_health.append(health)
        measured = procs[0] if procs else None   # the relay, below, but in a limit row
        if not row.limit:
            relay_health = free_port()
            endpoint = sinks[0] if sinks else '127.0.0.1:%d' % free_port()
            sections = {
                'otel': ['  enabled: true', '  endpoint: http://%s' % endpoint],
                'receiver': receiver_lines(row.input, row.via, sock, in_port),
                'exporter': ['  compression: %s' % row.compression],
                'health': ['  listen: 127.0.0.1:%d' % relay_health],
                'log': ['  level: warning'],
            }
            if row.config:
                row.config(Context(sinks, d), sections)
            env = base_env()
            if row.resource_attrs:
                env['OTEL_RESOURCE_ATTRIBUTES'] = RESOURCE_ATTRIBUTES
            measured = start(d, 'relay', sections, 0, pin, env, profile=bool(profile_requests),
                             binary=relay_bin or BIN)
            procs.append(measured)
            wait_healthy(relay_health, measured, 60)
        time.sleep(0.5)
        if profile_requests:
            subprocess.run(['callgrind_control', '-z', str(measured.pid)], check=True,
                           capture_output=True)
        idle_rss = status_kib(measured.pid, 'VmRSS')
        cpu0 = cpu_seconds(measured.pid)
        got0 = sum(received(h) for h in sink_health)
        target = ['-s', sock] if row.via == 'unix' else ['-t', '127.0.0.1:%d' % in_port]
        argv = [LOADGEN] + target + (['-g'] if row.input == 'grpc' else []) + [
            '-r', str(row.rate), '-d', str(seconds), '-c', str(CONNECTIONS)]
        if profile_requests:
            argv += ['-q', str(profile_requests)]
        sampler = None
        if perf:
            sampler = subprocess.Popen(['perf', 'record', '-q', '-e', 'cpu-clock', '-F', '1999',
                                        '-p', str(measured.pid), '-o',
                                        os.path.join(d, 'perf.data')],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            out = subprocess.run(pinned(1, argv, pin), capture_output=True,
                                 timeout=seconds + 600, check=True)
        finally:
            if sampler:
                os.kill(sampler.pid, signal.SIGINT)
                sampler.wait(timeout=60)
        gen = json.loads(out.stdout)
        offered = gen['offered_spans']
        if not row.limit and row.sinks:
            # Let the relay finish what it holds, so delivered counts the same spans.
            deadline = time.monotonic() + (120 if profile_requests else 15)
            while time.monotonic() < deadline:
                m = metrics(relay_health)
                if (total(m, 'spanrelay_spans_buffered') == 0 and
                        total(m, 'spanrelay_spans_in_flight') == 0):
                    break
                time.sleep(0.05)
        cpu = cpu_seconds(measured.pid) - cpu0
        delivered = (sum(received(h) for h in sink_health) - got0) / row.copies
        peak_rss = status_kib(measured.pid, 'VmHWM')
        dropped = spooled = spool_bytes = 0
        if not row.limit:
            m = metrics(relay_health)
            dropped = int(total(m, 'spanrelay_spans_dropped_overflow_total'))
            # With the backend down: what the spool took (spans and bytes on disk).
            spooled = total(m, 'spanrelay_spans_spooled')
            spool_bytes = total(m, 'spanrelay_spool_bytes')
        ir, top, kernel_share = 0, [], None
        if perf:
            kernel_share, samples = perf_top(os.path.join(d, 'perf.data'), 10)
        if profile_requests:
            subprocess.run(['callgrind_control', '-d', str(measured.pid)], check=True,
                           capture_output=True)
            dump = os.path.join(d, ('sink0' if row.limit else 'relay') + '.cg.1')
            ir, top = callgrind_top(dump, 8)
        return {
            'row': row.name, 'instructions_per_span': round(ir / offered) if offered else 0,
            'top_functions': [{'function': f, 'object': o, 'share': round(n / ir, 3)}
                              for f, o, n in top] if ir else [], 'input': row.input, 'via': row.via,
            'rate': 'max' if row.rate == 0 else row.rate, 'compression': row.compression,
            'resource_attrs': row.resource_attrs, 'limit': row.limit,
            'offered_spans_per_s': round(offered / gen['elapsed_s']),
            'delivered_spans_per_s': round(delivered / gen['elapsed_s']),
            'errors': gen['errors'],
            'dropped_overflow': dropped,
            'cpu_s_per_million_spans': round(cpu / offered * 1e6, 3) if offered else 0,
            'idle_rss_mib': round(idle_rss / 1024, 1),
            'peak_rss_mib': round(peak_rss / 1024, 1),
            'bytes_per_span': gen['bytes_per_span'],
            'spooled_spans_per_s': round(spooled / gen['elapsed_s']),
            'spool_bytes_per_span': round(spool_bytes / spooled, 1) if spooled else 0,
            'kernel_share': round(kernel_share, 3) if perf else None,
            'perf_top': [{'symbol': f, 'where': w, 'share': round(n, 3)}
                         for f, w, n in samples] if perf else [],
        }
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(d, ignore_errors=True)


def versus_limit(r, results):
    """The row as a ratio to the limit row of the same input, transport and rate."""
    for lim in results:
        if lim['limit'] and not r['limit'] and (lim['input'], lim['via'], lim['rate']) == (
                r['input'], r['via'], r['rate']):
            if r['rate'] == 'max' and lim['delivered_spans_per_s']:
                return '%.2f of rate' % (r['delivered_spans_per_s'] / lim['delivered_spans_per_s'])
            if r['rate'] != 'max' and lim['cpu_s_per_million_spans']:
                return '%.2f x cpu' % (r['cpu_s_per_million_spans'] / lim['cpu_s_per_million_spans'])
    return ''


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def compare(selected, seconds, pin, other, repeat, json_path):
    """Paired runs: the usual relay (A) and OTHER (B) in turn, so drift in the machine's
    speed falls on both; medians of each and of the pairwise ratios A/B."""
    fmt = '%-28s %11s %11s %8s %11s %11s %8s %8s'
    print(fmt % ('row', 'A cpu-s/M', 'B cpu-s/M', 'A/B cpu', 'A spans/s', 'B spans/s',
                 'A/B rate', 'A/B idle'))
    results = []
    for row in selected:
        if row.limit:
            continue
        pairs = [(run_row(row, seconds, pin), run_row(row, seconds, pin, relay_bin=other))
                 for _ in range(repeat)]
        a = [p[0] for p in pairs]
        b = [p[1] for p in pairs]
        cpu = lambda r: r['cpu_s_per_million_spans']
        rate = lambda r: r['delivered_spans_per_s']
        idle = lambda r: r['idle_rss_mib']
        ratio = lambda f: median([f(x) / f(y) for x, y in pairs if f(y)])
        r = {'row': row.name, 'a': a, 'b': b, 'cpu_ratio': ratio(cpu), 'rate_ratio': ratio(rate),
             'idle_ratio': ratio(idle)}
        results.append(r)
        print(fmt % (row.name, '%.3f' % median(map(cpu, a)), '%.3f' % median(map(cpu, b)),
                     '%.2f' % r['cpu_ratio'], median(map(rate, a)), median(map(rate, b)),
                     '%.2f' % r['rate_ratio'], '%.2f' % r['idle_ratio']))
        sys.stdout.flush()
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(results, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description='spanrelay load benchmark')
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--quick', action='store_true', help='3 seconds a row')
    ap.add_argument('--rows', help='comma-separated shell patterns of row names to run')
    ap.add_argument('--list', action='store_true', help='print the row names and exit')
    ap.add_argument('--no-pin', action='store_true', help='do not pin relay and tools to CPUs')
    ap.add_argument('--callgrind', type=int, metavar='REQUESTS', default=0,
                    help='profile each row under callgrind instead: REQUESTS a connection, '
                         'instructions per span and the top functions')
    ap.add_argument('--perf', action='store_true',
                    help='sample each row with perf: kernel share and top functions')
    ap.add_argument('--compare', metavar='OTHER_BINARY',
                    help='run each relay row alternately with this relay binary and the usual '
                         'one, --repeat pairs, and print medians and the median ratio')
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--json')
    args = ap.parse_args()
    selected = ROWS
    if args.rows:
        pats = args.rows.split(',')
        selected = [r for r in ROWS if any(fnmatch.fnmatch(r.name, p) for p in pats)]
    if args.list:
        print('\n'.join(r.name for r in selected))
        return
    seconds = 3 if args.quick else args.seconds
    pin = not args.no_pin and shutil.which('taskset') and os.cpu_count() >= 2
    results = []
    if args.callgrind:
        for row in selected:
            r = run_row(row, seconds, pin, args.callgrind)
            results.append(r)
            # Functions of a library without symbols are named by library and address.
            print('%-28s %8d instructions/span  %s' % (r['row'], r['instructions_per_span'], '  '.join(
                '%s %.0f%%' % (t['function'] if not t['function'].startswith('0x') else
                               '%s:%s' % (t['object'], t['function'][-5:]), 100 * t['share'])
                for t in r['top_functions'])))
            sys.stdout.flush()
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(results, f, indent=2)
        return
    if args.compare:
        compare(selected, seconds, pin, args.compare, args.repeat, args.json)
        return
    if args.perf:
        for row in selected:
            r = run_row(row, seconds, pin, perf=True)
            results.append(r)
            print('%-28s %6.3f cpu-s/Mspan  kernel %2.0f%%  %s' % (
                r['row'], r['cpu_s_per_million_spans'], 100 * r['kernel_share'], '  '.join(
                    '%s%s %.0f%%' % (t['symbol'], ' [k]' if t['where'] == 'kernel' else '',
                                     100 * t['share']) for t in r['perf_top'])))
            sys.stdout.flush()
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(results, f, indent=2)
        return
    fmt = '%-28s %11s %11s %8s %11s %14s %8s %8s %10s %10s'
    print(fmt % ('row', 'offered/s', 'delivered/s', 'dropped', 'cpu-s/Mspan', 'vs limit',
                 'idle MiB', 'peak MiB', 'spooled/s', 'disk B/sp'))
    for row in selected:
        r = run_row(row, seconds, pin)
        results.append(r)
        print(fmt % (r['row'], r['offered_spans_per_s'], r['delivered_spans_per_s'],
                     r['dropped_overflow'], '%.3f' % r['cpu_s_per_million_spans'],
                     versus_limit(r, results), '%.1f' % r['idle_rss_mib'],
                     '%.1f' % r['peak_rss_mib'], r['spooled_spans_per_s'] or '',
                     r['spool_bytes_per_span'] or ''))
        sys.stdout.flush()
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
