#!/usr/bin/python3
"""make bench — spanrelay's throughput and cost per span.

    loadgen ──OTLP/HTTP, UNIX socket──▶ spanrelay (relay) ──OTLP/gRPC──▶ sink

The sink is a second spanrelay with its exporter disabled: a counting OTLP/gRPC server
that costs far less than the relay, so it is never the bottleneck. For each scenario
(a fixed 10 000 spans/s and the maximum rate; compression none and gzip) it prints the
offered and delivered spans/s, the relay's CPU-seconds per million spans (from
/proc/PID/stat), and its idle and peak RSS (VmRSS before the load, VmHWM after).
All processes are on this machine: 2 cores shared by loadgen, relay and sink.

    bench/run.py [--seconds N] [--json FILE]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, 'build', 'spanrelay')
LOADGEN = os.path.join(ROOT, 'build', 'bench', 'loadgen')
TICKS = os.sysconf('SC_CLK_TCK')


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


def msum(m, name):
    """A metric summed over its label sets (export-side series carry destination=)."""
    return sum(v for k, v in m.items() if k == name or k.startswith(name + '{'))


def received(port):
    return msum(metrics(port), 'spanrelay_spans_received_total')


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kib(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0


def wait_healthy(port, proc, timeout=5):
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


def start(directory, name, config):
    path = os.path.join(directory, name + '.yaml')
    with open(path, 'w') as f:
        f.write(config)
    log = open(os.path.join(directory, name + '.log'), 'wb')
    proc = subprocess.Popen([BIN, '-c', path], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
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


def scenario(rate, compression, seconds, destinations=1):
    d = tempfile.mkdtemp(prefix='spanrelay-bench-')
    procs = []
    try:
        sink_grpc, sink_health, relay_health = free_port(), free_port(), free_port()
        sink = start(d, 'sink', 'otel:\n  enabled: false\nreceiver:\n  socket: ""\n'
                     '  grpc: 127.0.0.1:%d\nhealth:\n  listen: 127.0.0.1:%d\n'
                     'log:\n  level: warning\n' % (sink_grpc, sink_health))
        procs.append(sink)
        wait_healthy(sink_health, sink)
        sock = os.path.join(d, 'otlp.sock')
        # A second destination is a second lane to the same sink: its cost is the
        # relay's, the sink counts both.
        extra = ('destinations:\n' + ''.join('  - name: d%d\n    endpoint: http://127.0.0.1:%d\n'
                                             % (i, sink_grpc) for i in range(1, destinations))
                 if destinations > 1 else '')
        relay = start(d, 'relay', 'otel:\n  enabled: true\n  endpoint: http://127.0.0.1:%d\n'
                      'receiver:\n  socket: %s\nexporter:\n  compression: %s\n'
                      'health:\n  listen: 127.0.0.1:%d\nlog:\n  level: warning\n%s'
                      % (sink_grpc, sock, compression, relay_health, extra))
        procs.append(relay)
        wait_healthy(relay_health, relay)
        time.sleep(0.5)
        idle_rss = status_kib(relay.pid, 'VmRSS')
        cpu0 = cpu_seconds(relay.pid)
        got0 = received(sink_health)
        out = subprocess.run([LOADGEN, '-s', sock, '-r', str(rate), '-d', str(seconds), '-c', '2'],
                             capture_output=True, timeout=seconds + 30, check=True)
        gen = json.loads(out.stdout)
        offered = gen['offered_spans']
        # Let the relay finish what it holds, so delivered counts the same spans.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = metrics(relay_health)
            if (msum(m, 'spanrelay_spans_buffered') == 0 and
                    msum(m, 'spanrelay_spans_in_flight') == 0):
                break
            time.sleep(0.05)
        cpu = cpu_seconds(relay.pid) - cpu0
        delivered = (received(sink_health) - got0) / destinations
        peak_rss = status_kib(relay.pid, 'VmHWM')
        m = metrics(relay_health)
        return {
            'rate': 'max' if rate == 0 else rate, 'compression': compression,
            'destinations': destinations,
            'offered_spans_per_s': round(offered / gen['elapsed_s']),
            'delivered_spans_per_s': round(delivered / gen['elapsed_s']),
            'delivered_fraction': round(delivered / offered, 4) if offered else 0,
            'dropped_overflow': int(msum(m, 'spanrelay_spans_dropped_overflow_total')),
            'cpu_s_per_million_spans': round(cpu / offered * 1e6, 3) if offered else 0,
            'cpu_us_per_span': round(cpu / offered * 1e6, 3) if offered else 0,
            'idle_rss_mib': round(idle_rss / 1024, 1),
            'peak_rss_mib': round(peak_rss / 1024, 1),
            'bytes_per_span': gen['bytes_per_span'],
        }
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--json')
    ap.add_argument('--destinations', type=int, default=1,
                    help='export lanes to the sink (2: the primary and one more)')
    args = ap.parse_args()
    results = []
    print('%-6s %-5s %12s %12s %9s %12s %9s %9s' % ('rate', 'comp', 'offered/s', 'delivered/s',
                                                    'dropped', 'cpu-s/Mspan', 'idle MiB',
                                                    'peak MiB'))
    for rate in (10000, 0):
        for comp in ('none', 'gzip'):
            r = scenario(rate, comp, args.seconds, args.destinations)
            results.append(r)
            print('%-6s %-5s %12d %12d %9d %12.3f %9.1f %9.1f' % (
                r['rate'], comp, r['offered_spans_per_s'], r['delivered_spans_per_s'],
                r['dropped_overflow'], r['cpu_s_per_million_spans'], r['idle_rss_mib'],
                r['peak_rss_mib']))
            sys.stdout.flush()
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
