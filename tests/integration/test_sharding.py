"""Trace-id sharding over a gateway fleet (DESIGN.md decision 13): two spanrelay pods
behind one DNS name served by a real dnsmasq, fake gateways (python3-grpcio) on
127.0.0.2-127.0.0.5, the JS SDK as the client. Every trace must arrive whole at the
gateway the Collector's ring names (hashring.py, written apart from spanrelay), fleet
changes must move only what the ring says and lose nothing, every span exactly once.

The gateway port is 35090: there the ring over 127.0.0.2-127.0.0.4 is even to 0.02 %
and 127.0.0.5 joining takes 25.4 % of it (hashring.py), so the load and move checks
test spanrelay, not luck. Each test runs in a network namespace of its own (fleet.py).
"""

import collections
import json
import os
import subprocess
import tempfile
import time
import unittest

import fleet
import hashring
from harness import (Daemon, FakeBackend, accounting, js_available, make_self_signed,
                     metric_sum, require_daemon, run_js, spanrelay_binary, wait_for)

PORT = 35090
GATEWAYS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']


def endpoint(ip):
    return '%s:%d' % (ip, PORT)


def ring_of(ips):
    return hashring.HashRing([endpoint(ip) for ip in ips])


def sharding_refused():
    """What --check-config says of a loadBalance block when this build cannot route by
    trace id yet, or None when it takes it."""
    with tempfile.NamedTemporaryFile('w', suffix='.yaml') as f:
        f.write('otel:\n  loadBalance:\n    resolver: static\n    endpoints: [a:1]\n')
        f.flush()
        out = subprocess.run([spanrelay_binary(), '--check-config', '-c', f.name],
                             capture_output=True, text=True, timeout=10)
    return out.stderr.strip() if 'not supported' in out.stderr else None


class FleetTest(unittest.TestCase):
    def setUp(self):
        require_daemon(self)
        why = fleet.available()
        if why:
            self.skipTest(why)
        if not js_available():
            self.skipTest('node or tests/interop/node_modules missing')
        refused = sharding_refused()
        if refused:
            self.skipTest(refused)
        self.fleet = fleet.Fleet()
        self.fleet.__enter__()
        self.addCleanup(self.fleet.close)
        self.gateways = {}
        for ip in GATEWAYS:
            self.start_gateway(ip)
        self.tmp = tempfile.mkdtemp(prefix='spanrelay-shard-')

    def start_gateway(self, ip):
        gw = FakeBackend(grpc=True, http=False, host=ip, grpc_port=PORT)
        gw.start()
        self.addCleanup(gw.stop)
        self.gateways[ip] = gw
        return gw

    def stop_gateway(self, ip):
        self.gateways[ip].stop()

    def pod(self, load_balance, **exporter):
        exp = {'batchTimeout': '50ms', 'timeout': '2s',
               'retry': {'initialInterval': '100ms', 'maxInterval': '500ms'}}
        exp.update(exporter)
        d = Daemon({'otel': {'loadBalance': load_balance}, 'exporter': exp},
                   wrapper=self.fleet.wrap([]))
        d.start()
        self.addCleanup(d.close)
        return d

    def dns_pod(self, **extra):
        lb = {'resolver': 'dns', 'hostname': fleet.NAME, 'port': PORT, 'interval': '300ms'}
        lb.update(extra)
        return self.pod(lb)

    # ---- what the gateways and pods say ----

    def received(self):
        """{span_id: [(gateway ip, trace_id), ...]} over every gateway ever started."""
        seen = collections.defaultdict(list)
        for ip, gw in self.gateways.items():
            for s in gw.spans():
                seen[s['spanId']].append((ip, s['traceId']))
        return seen

    def total_received(self):
        return sum(gw.span_count() for gw in self.gateways.values())

    def wait_spans(self, n, timeout=60):
        ok = wait_for(lambda: self.total_received() >= n, timeout=timeout)
        self.assertTrue(ok, 'gateways hold %d spans, expected %d' % (self.total_received(), n))

    @staticmethod
    def ring_in_use(d):
        lb = d.health()['destinations'][0]['load_balance']
        return sorted(e['endpoint'] for e in lb['endpoints'] if e['in_ring'])

    def wait_ring(self, d, ips, timeout=15):
        want = sorted(endpoint(ip) for ip in ips)
        ok = wait_for(lambda: self.ring_in_use(d) == want, timeout=timeout)
        self.assertTrue(ok, 'ring %s, expected %s' % (self.ring_in_use(d), want))

    def emit(self, d, traces, spans, continue_from=None):
        extra = ['--continue', continue_from] if continue_from else []
        summary = run_js('grpc', 'unix://' + d.socket_path, spans, traces, timeout=90,
                         extra_args=extra, check=True)
        path = os.path.join(self.tmp, 'emit-%d.json' % len(os.listdir(self.tmp)))
        with open(path, 'w') as f:
            json.dump(summary, f)
        return summary, path

    def assert_exactly_once(self, summaries):
        """Every span the SDK exported arrived once, at one gateway."""
        seen = self.received()
        sent = {s['spanId'] for summary in summaries for s in summary['spans']}
        missing = sent - set(seen)
        twice = {k: v for k, v in seen.items() if len(v) > 1}
        self.assertFalse(missing, '%d spans lost, e.g. %s' % (len(missing), sorted(missing)[:3]))
        self.assertFalse(twice, '%d spans arrived twice, e.g. %s'
                         % (len(twice), list(twice.items())[:3]))

    def assert_owners(self, summaries, ring):
        """Each trace of summaries, all its spans, at the gateway ring names."""
        seen = self.received()
        by_trace = collections.defaultdict(set)
        for summary in summaries:
            for s in summary['spans']:
                for ip, _ in seen.get(s['spanId'], []):
                    by_trace[s['traceId']].add(ip)
        wrong = []
        for trace_id, ips in by_trace.items():
            owner = ring.owner(bytes.fromhex(trace_id)).split(':')[0]
            if ips != {owner}:
                wrong.append((trace_id, sorted(ips), owner))
        self.assertFalse(wrong, '%d traces not (only) at their owner, e.g. %s'
                         % (len(wrong), wrong[:3]))
        return by_trace

    @staticmethod
    def exported(d, destination='primary'):
        return accounting(d.metrics(), destination)['terms']['spanrelay_spans_exported_total']

    def wait_exported(self, d, n, destination='primary'):
        """A gateway records spans before it answers, and a pod counts them exported
        when the answer arrives: wait for the answers before reading the books."""
        wait_for(lambda: self.exported(d, destination) >= n, timeout=15)

    def assert_books(self, d):
        acc = accounting(d.metrics())
        self.assertTrue(acc['holds'], acc)
        return acc


class TestFleetDns(unittest.TestCase):
    """The test fleet itself: dnsmasq in a namespace of its own answers what the test
    writes, to processes started through Fleet.wrap, and nothing is left behind."""

    def test_records_follow_the_hosts_file_and_cleanup_is_complete(self):
        why = fleet.available()
        if why:
            self.skipTest(why)
        with fleet.Fleet() as f:
            ns = f.ns
            for records in (GATEWAYS[:3], GATEWAYS, [GATEWAYS[1]]):
                f.set_records(records)
                self.assertEqual(f.resolve(), sorted(records))
            gw = FakeBackend(grpc=True, http=False, host=GATEWAYS[1], grpc_port=PORT)
            gw.start()
            try:
                probe = subprocess.run(
                    f.wrap(['/usr/bin/python3', '-c',
                            'import socket; socket.create_connection(("%s", %d), 5)'
                            % (GATEWAYS[1], PORT)]), capture_output=True, timeout=20)
                self.assertEqual(probe.returncode, 0, probe.stderr)
            finally:
                gw.stop()
        names = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
        self.assertNotIn(ns, names)
        self.assertFalse(os.path.exists('/etc/netns/' + ns))
        self.assertIsNone(f.dnsmasq)


class TestSharding(FleetTest):
    def tls_fleet(self, protocol, port):
        """TLS to gateways found by DNS, under protocol: their certificate names only the
        fleet's hostname (no address), so a connection to an address verifies only when
        that name is the one checked."""
        cert, key = make_self_signed(self.tmp, cn=fleet.NAME, san='DNS:' + fleet.NAME)
        ips = GATEWAYS[:3]
        gws = {}
        for ip in ips:
            gw = FakeBackend(grpc=protocol == 'grpc', http=protocol != 'grpc', tls=(cert, key),
                             host=ip, grpc_port=port, http_port=port)
            gw.start()
            self.addCleanup(gw.stop)
            gws[ip] = gw
        self.fleet.set_records(ips)
        d = Daemon({'otel': {'endpoint': 'https://%s:%d' % (fleet.NAME, port),
                             'protocol': protocol,
                             'loadBalance': {'resolver': 'dns', 'hostname': fleet.NAME,
                                             'port': port, 'interval': '300ms'}},
                    'exporter': {'batchTimeout': '50ms'}},
                   env={'OTEL_EXPORTER_OTLP_CERTIFICATE': cert}, wrapper=self.fleet.wrap([]))
        d.start()
        self.addCleanup(d.close)
        summary, _ = self.emit(d, traces=200, spans=400)
        got = lambda: sum(gw.span_count() for gw in gws.values())
        self.assertTrue(wait_for(lambda: got() >= 400, timeout=30),
                        (got(), d.health()['destinations'][0]['load_balance']))
        ring = hashring.HashRing(['%s:%d' % (ip, port) for ip in ips])
        for ip, gw in gws.items():
            for s in gw.spans():
                self.assertEqual(ring.owner(bytes.fromhex(s['traceId'])), '%s:%d' % (ip, port))
        self.assertEqual(sorted(s['spanId'] for gw in gws.values() for s in gw.spans()),
                         sorted(s['spanId'] for s in summary['spans']))
        self.wait_exported(d, 400)
        self.assertEqual(self.assert_books(d)['terms']['spanrelay_spans_exported_total'], 400)

    def test_tls_verifies_the_fleet_hostname_grpc(self):
        self.tls_fleet('grpc', PORT + 1)

    def test_tls_verifies_the_fleet_hostname_http(self):
        self.tls_fleet('http/protobuf', PORT + 2)

    def test_a_static_fleet_as_a_second_destination(self):
        """destinations[] may be a fleet too: the primary gets every span, the fleet each
        trace at its owner, and /metrics and /health show each gateway under the
        destination's name."""
        tempo = FakeBackend(grpc=True, http=False)
        tempo.start()
        self.addCleanup(tempo.stop)
        fleet_lb = {'resolver': 'static', 'endpoints': [endpoint(ip) for ip in GATEWAYS[:3]]}
        d = Daemon({'otel': {'endpoint': tempo.grpc_endpoint},
                    'exporter': {'batchTimeout': '50ms'},
                    'destinations': [{'name': 'gateways', 'loadBalance': fleet_lb}]},
                   wrapper=self.fleet.wrap([]))
        d.start()
        self.addCleanup(d.close)
        summary, _ = self.emit(d, traces=300, spans=900)
        self.wait_spans(900)
        self.assertTrue(wait_for(lambda: tempo.span_count() >= 900, timeout=30))
        self.assert_owners([summary], ring_of(GATEWAYS[:3]))
        self.assert_exactly_once([summary])
        self.wait_exported(d, 900, 'gateways')
        acc = self.assert_books(d)
        self.assertEqual(acc['destinations']['gateways']['terms']
                         ['spanrelay_spans_exported_total'], 900)
        metrics = d.metrics()
        per_gateway = {ip: self.gateways[ip].span_count() for ip in GATEWAYS[:3]}
        for ip in GATEWAYS[:3]:
            key = ('spanrelay_gateway_spans_exported_total{destination="gateways",'
                   'endpoint="%s"}' % endpoint(ip))
            self.assertEqual(metrics.get(key), per_gateway[ip], key)
        lb = d.health()['destinations'][1]['load_balance']
        self.assertEqual(lb['resolver'], 'static')
        self.assertEqual(lb['ring'], [endpoint(ip) for ip in GATEWAYS[:3]])
        self.assertNotIn('load_balance', d.health()['destinations'][0])

    def test_pods_agree_with_the_collector_ring_and_a_fourth_gateway_moves_a_quarter(self):
        self.fleet.set_records(GATEWAYS[:3])
        pod_a, pod_b = self.dns_pod(), self.dns_pod()
        for d in (pod_a, pod_b):
            self.wait_ring(d, GATEWAYS[:3])

        # 2000 traces started in pod A and continued in pod B
        first, first_path = self.emit(pod_a, traces=2000, spans=4000)
        second, _ = self.emit(pod_b, traces=2000, spans=4000, continue_from=first_path)
        self.wait_spans(8000)
        by_trace = self.assert_owners([first, second], ring_of(GATEWAYS[:3]))
        self.assertEqual(len(by_trace), 2000)
        per_gateway = collections.Counter(next(iter(ips)) for ips in by_trace.values())
        shares = {ip: n / 2000 for ip, n in per_gateway.items()}
        print('traces per gateway, 3 gateways:', dict(per_gateway))
        for ip in GATEWAYS[:3]:
            self.assertLess(abs(shares.get(ip, 0) - 1 / 3), 0.05, shares)
        self.assert_exactly_once([first, second])

        # a fourth record: only the traces the ring gives it move
        self.fleet.set_records(GATEWAYS)
        for d in (pod_a, pod_b):
            self.wait_ring(d, GATEWAYS)
        third, third_path = self.emit(pod_a, traces=2000, spans=4000)
        fourth, _ = self.emit(pod_b, traces=2000, spans=4000, continue_from=third_path)
        self.wait_spans(16000)
        by_trace = self.assert_owners([third, fourth], ring_of(GATEWAYS))
        old = ring_of(GATEWAYS[:3])
        moved = sum(1 for t in by_trace
                    if old.owner(bytes.fromhex(t)) != ring_of(GATEWAYS).owner(bytes.fromhex(t)))
        print('traces moved by the fourth gateway: %d of %d' % (moved, len(by_trace)))
        self.assertGreaterEqual(moved / len(by_trace), 0.20)
        self.assertLessEqual(moved / len(by_trace), 0.30)
        self.assert_exactly_once([first, second, third, fourth])
        for d in (pod_a, pod_b):
            self.wait_exported(d, 8000)
            acc = self.assert_books(d)
            self.assertEqual(metric_sum(d.metrics(), 'spanrelay_spans_exported_total'),
                             acc['received'])
        changes = [l for l in pod_a.log_lines() if l.get('msg') == 'gateway ring changed']
        self.assertEqual([(l['change'], l['endpoint']) for l in changes],
                         [('joined', endpoint(ip)) for ip in GATEWAYS[:3]] +
                         [('joined', endpoint(GATEWAYS[3]))])

    def test_a_gateway_leaving_with_a_backlog_hands_it_to_the_new_owners(self):
        self.fleet.set_records(GATEWAYS[:3])
        pod = self.dns_pod(ejectAfter='5m')
        self.wait_ring(pod, GATEWAYS[:3])
        gone = GATEWAYS[1]
        self.stop_gateway(gone)
        summary, _ = self.emit(pod, traces=1000, spans=3000)
        ring3 = ring_of(GATEWAYS[:3])
        backlog = sum(1 for s in summary['spans']
                      if ring3.owner(bytes.fromhex(s['traceId'])) == endpoint(gone))
        self.assertGreater(backlog, 500)
        # the outage: the gateway's lane holds its backlog, retrying, for 20 s
        self.wait_spans(3000 - backlog)
        time.sleep(20)
        lb = pod.health()['destinations'][0]['load_balance']
        held = [e for e in lb['endpoints'] if e['endpoint'] == endpoint(gone)][0]
        self.assertEqual(held['buffered'] + held['in_flight'], backlog, held)
        self.assert_books(pod)

        self.fleet.set_records([GATEWAYS[0], GATEWAYS[2]])
        self.wait_spans(3000, timeout=30)
        self.assert_exactly_once([summary])
        # the backlog went to the new owners; the rest stayed where it was
        seen = self.received()
        new_ring = ring_of([GATEWAYS[0], GATEWAYS[2]])
        for s in summary['spans']:
            tid = bytes.fromhex(s['traceId'])
            owner = ring3.owner(tid) if ring3.owner(tid) != endpoint(gone) else new_ring.owner(tid)
            self.assertEqual(seen[s['spanId']][0][0], owner.split(':')[0], s['traceId'])
        self.wait_exported(pod, 3000)
        acc = self.assert_books(pod)
        self.assertEqual(metric_sum(pod.metrics(), 'spanrelay_spans_exported_total'), 3000, acc)

    def test_an_unreachable_gateway_is_ejected_and_readmitted(self):
        self.fleet.set_records(GATEWAYS[:3])
        pod = self.dns_pod(ejectAfter='2s')
        self.wait_ring(pod, GATEWAYS[:3])
        down = GATEWAYS[2]
        self.stop_gateway(down)
        during, _ = self.emit(pod, traces=300, spans=600)
        self.wait_ring(pod, [GATEWAYS[0], GATEWAYS[1]], timeout=20)
        self.assert_books(pod)
        self.wait_spans(600, timeout=30)
        self.assert_owners([during], ring_of(GATEWAYS[:2]))

        self.start_gateway(down)
        self.wait_ring(pod, GATEWAYS[:3], timeout=20)
        after, _ = self.emit(pod, traces=300, spans=600)
        self.wait_spans(1200, timeout=30)
        self.assert_owners([after], ring_of(GATEWAYS[:3]))
        self.assert_exactly_once([during, after])
        changes = [(l['change'], l['endpoint']) for l in pod.log_lines()
                   if l.get('msg') == 'gateway ring changed' and l['change'] != 'joined']
        self.assertEqual(changes, [('ejected', endpoint(down)), ('readmitted', endpoint(down))])
        wait_for(lambda: accounting(pod.metrics())['holds'], timeout=10)
        self.assert_books(pod)


if __name__ == '__main__':
    unittest.main()
