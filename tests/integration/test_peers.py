"""The real peers checked against each other, with no daemon in between: the official
OpenTelemetry JS SDK exporters (tests/interop/emit.js) and the python3-grpcio client
helper against the fake backend, over loopback TCP and UNIX sockets; the fake backend's
programmable answers; and the harness's own helpers (with a stand-in daemon)."""

import os
import shutil
import signal
import socket
import sys
import tempfile
import textwrap
import time
import unittest

import grpc

import harness
from harness import FakeBackend

SPANS, TRACES = 40, 6


class JsTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='peers-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def backend(self, **kw):
        be = FakeBackend(**kw).start()
        self.addCleanup(be.stop)
        return be

    def assertDelivered(self, summary, be, n=SPANS):
        self.assertEqual(summary['exitCode'], 0, summary.get('error') or summary.get('stderr'))
        self.assertTrue(summary['ok'], summary.get('error'))
        self.assertEqual(summary['exported'], n)
        self.assertEqual(len(summary['spans']), n)
        self.assertTrue(be.wait_for_spans(n, timeout=10), be.counts())
        received = be.spans()
        problems = harness.compare_spans(summary['spans'], received)
        self.assertEqual(problems, [], '\n'.join(problems[:20]))
        # The summary exercises what it claims to: several kinds, statuses, links, scopes.
        kinds = {s['kind'] for s in received}
        self.assertGreaterEqual(len(kinds), 4, kinds)
        self.assertEqual({s['status']['code'] for s in received}, {0, 1, 2})
        self.assertTrue(any(s['links'] for s in received))
        self.assertEqual(len({s['scope']['name'] for s in received}), 2)
        self.assertEqual(len({s['traceId'] for s in received}), TRACES)
        roots = [s for s in received if not s['parentSpanId']]
        self.assertEqual(len(roots), TRACES)
        return received


class TestJsToFakeBackend(JsTestCase):
    def test_js_grpc_exporter_tcp(self):
        be = self.backend(http=False)
        s = harness.run_js('grpc', be.grpc_endpoint, SPANS, TRACES, service='peer-grpc',
                           extra_args=['--header', 'x-api-key=k-123'], timeout=60)
        received = self.assertDelivered(s, be)
        self.assertEqual(received[0]['resource']['service.name'], 'peer-grpc')
        req = be.requests[0]
        self.assertEqual(req.transport, 'grpc')
        self.assertEqual(req.headers.get('x-api-key'), 'k-123')
        self.assertIn('OTel-OTLP-Exporter-JavaScript', req.headers.get('user-agent', ''))

    def test_js_proto_exporter_tcp_gzip(self):
        be = self.backend(grpc=False)
        s = harness.run_js('proto', be.http_endpoint, SPANS, TRACES,
                           extra_args=['--compression', 'gzip', '--header', 'x-api-key=k-456'],
                           timeout=60)
        self.assertDelivered(s, be)
        req = be.requests[0]
        self.assertEqual(req.transport, 'http')
        self.assertEqual(req.format, 'protobuf')
        self.assertEqual(req.headers.get('content-type'), 'application/x-protobuf')
        self.assertEqual(req.headers.get('content-encoding'), 'gzip')
        self.assertEqual(req.headers.get('x-api-key'), 'k-456')

    def test_js_http_json_exporter_tcp(self):
        be = self.backend(grpc=False)
        s = harness.run_js('http', be.http_endpoint, SPANS, TRACES, timeout=60)
        self.assertDelivered(s, be)
        self.assertEqual(be.requests[0].format, 'json')

    def test_js_exporters_over_unix_sockets(self):
        """The endpoint forms emit.js documents for a UNIX socket, each exporter unchanged."""
        gsock = os.path.join(self.tmp, 'grpc.sock')
        hsock = os.path.join(self.tmp, 'http.sock')
        be = self.backend(grpc_socket=gsock, http_socket=hsock)
        for exporter, sock in (('grpc', gsock), ('proto', hsock), ('http', hsock)):
            be.reset_records()
            s = harness.run_js(exporter, 'unix://' + sock, SPANS, TRACES, timeout=60)
            with self.subTest(exporter=exporter):
                self.assertDelivered(s, be)
        # Nothing came in over TCP: the spans really went through the UNIX sockets.
        conns = be.connection_counts()
        self.assertEqual((conns['grpc_tcp'], conns['http_tcp']), (0, 0), conns)
        self.assertGreaterEqual(conns['grpc_unix'], 1, conns)
        self.assertGreaterEqual(conns['http_unix'], 2, conns)

    def test_js_proto_exporter_retries_503_and_honours_retry_after(self):
        be = self.backend(grpc=False)
        be.respond_next([('http', 503), ('http', 429, {'Retry-After': '1'})])
        t0 = time.monotonic()
        s = harness.run_js('proto', be.http_endpoint, 10, 2,
                           extra_args=['--processor', 'simple', '--timeout-ms', '8000'],
                           timeout=60)
        self.assertEqual(s['exitCode'], 0, s.get('error'))
        outcomes = [r.response[:2] for r in be.requests]
        self.assertIn(('http', 503), outcomes)
        self.assertIn(('http', 429), outcomes)
        self.assertEqual(be.span_count(), 10)
        self.assertEqual(harness.compare_spans(s['spans'], be.spans()), [])
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)

    def test_js_grpc_exporter_reports_failure(self):
        be = self.backend(http=False)
        be.set_default(('unavailable', 'down for the test'))
        s = harness.run_js('grpc', be.grpc_endpoint, 5, 1, timeout=60)
        self.assertEqual(s['exitCode'], 1)
        self.assertFalse(s['ok'])
        self.assertEqual(s['exported'], 0)
        self.assertIn('down for the test', s['error'])

    def test_js_partial_success_is_success(self):
        be = self.backend(http=False)
        be.respond_next([('partial', 2, 'two dropped')])
        s = harness.run_js('grpc', be.grpc_endpoint, 5, 1, timeout=60)
        self.assertEqual(s['exitCode'], 0, s.get('error'))
        self.assertEqual(s['exported'], 5)


class TestPythonGrpcClient(unittest.TestCase):
    def backend(self, **kw):
        be = FakeBackend(**kw).start()
        self.addCleanup(be.stop)
        return be

    def test_random_requests_arrive_unchanged(self):
        be = self.backend(http=False)
        sent = []
        for seed in range(5):
            req = harness.random_request(resources=3, scopes=2, spans=4, seed=seed, traces=3)
            sent.append(req)
            code, details, resp = harness.otlp_grpc_export(be.grpc_target, req, timeout=5,
                                                           metadata=[('x-test', str(seed))])
            self.assertEqual(code, grpc.StatusCode.OK, details)
            self.assertFalse(resp.HasField('partial_success'))
        got = be.requests
        self.assertEqual(len(got), 5)
        for i, (req, rec) in enumerate(zip(sent, got)):
            self.assertEqual(rec.message, req)
            self.assertEqual(rec.span_count, 24)
            self.assertEqual(rec.headers['x-test'], str(i))
        self.assertEqual(be.span_count(), 120)
        # Every attribute type made it through and decodes.
        types = set()
        for s in be.spans():
            for v in s['attributes'].values():
                types.add(type(v).__name__)
        self.assertTrue({'str', 'bool', 'int', 'float', 'bytes', 'list', 'dict'} <= types, types)

    def test_programmed_grpc_answers(self):
        be = self.backend(http=False)
        be.respond_next([
            ('unavailable',), ('resource_exhausted', 1.5), ('invalid_argument', 'bad'),
            ('partial', 3, 'three rejected'), ('http', 429, {'Retry-After': '2'}),
            ('grpc', 'UNAUTHENTICATED', 'no key'), ('hang', 10), ('reset',), ('ok',),
        ])
        req = harness.simple_request(4)
        r = harness.otlp_grpc_export(be.grpc_target, req)
        self.assertEqual(r[0], grpc.StatusCode.UNAVAILABLE)
        r = harness.otlp_grpc_export(be.grpc_target, req)
        self.assertEqual(r.code, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertAlmostEqual(r.retry_delay, 1.5)
        r = harness.otlp_grpc_export(be.grpc_target, req)
        self.assertEqual((r.code, r.details), (grpc.StatusCode.INVALID_ARGUMENT, 'bad'))
        code, details, resp = harness.otlp_grpc_export(be.grpc_target, req)
        self.assertEqual(code, grpc.StatusCode.OK)
        self.assertEqual(resp.partial_success.rejected_spans, 3)
        self.assertEqual(resp.partial_success.error_message, 'three rejected')
        r = harness.otlp_grpc_export(be.grpc_target, req)
        self.assertEqual(r.code, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertAlmostEqual(r.retry_delay, 2.0)
        r = harness.otlp_grpc_export(be.grpc_target, req)
        self.assertEqual(r.code, grpc.StatusCode.UNAUTHENTICATED)
        t0 = time.monotonic()
        r = harness.otlp_grpc_export(be.grpc_target, req, timeout=0.5)
        self.assertEqual(r.code, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - t0, 5)
        r = harness.otlp_grpc_export(be.grpc_target, req, timeout=5)
        self.assertEqual(r.code, grpc.StatusCode.UNAVAILABLE)
        r = harness.otlp_grpc_export(be.grpc_target, req)
        self.assertEqual(r.code, grpc.StatusCode.OK)
        self.assertEqual(be.pending_responses(), 0)
        # Accepted: the partial success and the final ok.
        self.assertEqual(be.span_count(), 8)
        self.assertEqual(be.span_count(accepted_only=False), 36)

    def test_grpc_over_unix_socket_and_garbage(self):
        sock = os.path.join(tempfile.mkdtemp(prefix='peers-'), 'g.sock')
        self.addCleanup(shutil.rmtree, os.path.dirname(sock), True)
        be = self.backend(http=False, grpc_socket=sock)
        req = harness.random_request(1, 1, 3, seed=7)
        for target in (sock, 'unix://' + sock):
            code, details, _ = harness.otlp_grpc_export(target, req)
            self.assertEqual(code, grpc.StatusCode.OK, details)
        code, details, _ = harness.otlp_grpc_export(sock, b'\x0a\xff\xff\xff')
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(be.span_count(), 6)
        self.assertIsNotNone(be.requests[-1].error)

    def test_backend_comes_back_on_same_port(self):
        be = self.backend()
        port, hport = be.grpc_port, be.http_port
        self.assertEqual(harness.otlp_grpc_export(be.grpc_target, harness.simple_request(1))[0],
                         grpc.StatusCode.OK)
        be.stop()
        r = harness.otlp_grpc_export('127.0.0.1:%d' % port, harness.simple_request(1), timeout=1)
        self.assertEqual(r.code, grpc.StatusCode.UNAVAILABLE)
        be.start()
        self.assertEqual((be.grpc_port, be.http_port), (port, hport))
        self.assertEqual(harness.otlp_grpc_export(be.grpc_target, harness.simple_request(2))[0],
                         grpc.StatusCode.OK)
        self.assertEqual(be.span_count(), 3)


class TestHttpBackend(unittest.TestCase):
    def test_programmed_http_answers(self):
        be = FakeBackend(grpc=False).start()
        self.addCleanup(be.stop)
        be.respond_next([('http', 429, {'Retry-After': '3'}), ('unavailable',),
                         ('partial', 1, 'one'), ('resource_exhausted', 2), ('reset',)])
        req = harness.simple_request(3)
        r = harness.otlp_http_export(be.http_endpoint, req)
        self.assertEqual((r.status, r.headers.get('retry-after')), (429, '3'))
        self.assertEqual(r.response.code, grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])
        self.assertEqual(harness.otlp_http_export(be.http_url, req, compress=True).status, 503)
        r = harness.otlp_http_export(be.http_endpoint, req)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.response.partial_success.rejected_spans, 1)
        r = harness.otlp_http_export(be.http_endpoint, req)
        self.assertEqual((r.status, r.headers.get('retry-after')), (429, '2'))
        with self.assertRaises(OSError):
            harness.otlp_http_export(be.http_endpoint, req)
        r = harness.otlp_http_export(be.http_endpoint, req, compress=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(be.requests[-1].message, req)
        self.assertEqual(be.requests[-1].headers['content-encoding'], 'gzip')
        self.assertEqual(harness.otlp_http_export(be.http_endpoint, b'\xff\xff').status, 400)
        self.assertEqual(harness.otlp_http_export(be.http_endpoint, req,
                                                  content_type='text/plain').status, 415)

    def test_standalone_backend_counts_on_sigterm(self):
        """The benchmark form: a separate process, stopped by PID with SIGTERM."""
        import json
        import subprocess
        tmp = tempfile.mkdtemp(prefix='peers-')
        self.addCleanup(shutil.rmtree, tmp, True)
        record = os.path.join(tmp, 'record.jsonl')
        proc = subprocess.Popen([sys.executable, os.path.join(harness.HERE, 'fake_backend.py'),
                                 '--grpc-port', '0', '--http-port', '0', '--record', record,
                                 '--count-only'], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.addCleanup(_kill_pid, proc)
        ports = json.loads(proc.stdout.readline())
        for _ in range(3):
            r = harness.otlp_grpc_export('127.0.0.1:%d' % ports['grpc_port'],
                                         harness.simple_request(10))
            self.assertEqual(r.code, grpc.StatusCode.OK)
        self.assertEqual(harness.otlp_http_export('http://127.0.0.1:%d' % ports['http_port'],
                                                  harness.simple_request(5)).status, 200)
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0)
        counts = json.loads(out.decode().strip().splitlines()[-1])
        self.assertEqual(counts['total']['spans'], 35)
        self.assertEqual(counts['grpc']['requests'], 3)
        with open(record) as f:
            self.assertEqual(json.loads(f.read().splitlines()[-1])['total']['requests'], 4)


def _kill_pid(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


STUB_DAEMON = r'''
import json, os, re, signal, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
cfg = open(sys.argv[sys.argv.index('-c') + 1]).read()
listen = re.search(r'^  listen: "127\.0\.0\.1:(\d+)"', cfg, re.M).group(1)
sock = re.search(r'^  socket: "([^"]*)"', cfg, re.M).group(1)
open(sock, 'w').close()
sys.stderr.write(json.dumps({"level": "INFO", "logger": "main", "msg": "started",
                             "env": os.environ.get("STUB_MARK", "")}) + "\nnot json\n")
if os.environ.get("STUB_ASAN") == "1":
    sys.stderr.write("==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n")
sys.stderr.flush()
METRICS = """# HELP spanrelay_spans_received_total spans
# TYPE spanrelay_spans_received_total counter
spanrelay_spans_received_total{transport="grpc"} 7
spanrelay_spans_received_total{transport="http"} 3
spanrelay_spans_rejected_total{reason="invalid"} 1
spanrelay_spans_sampled_out_total{destination="primary"} 2
spanrelay_spans_dropped_overflow_total{destination="primary"} 0
spanrelay_spans_exported_total{destination="primary"} 5
spanrelay_spans_export_failed_total{destination="primary",reason="refused"} 0
spanrelay_spans_buffered{destination="primary"} 1
spanrelay_spans_in_flight{destination="primary"} 1
spanrelay_odd{a="x\\"y",b="1"} +Inf
"""
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = (json.dumps({"status": "ok"}) if self.path == "/health" else METRICS).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
srv = HTTPServer(("127.0.0.1", int(listen)), H)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0 if os.environ.get("STUB_HANG") != "1" else time.sleep(60)))
srv.serve_forever()
'''


class TestHarnessHelpers(unittest.TestCase):
    """The harness itself, with a stand-in for the daemon."""

    def stub(self):
        d = tempfile.mkdtemp(prefix='stub-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'spanrelay-stub')
        with open(path, 'w') as f:
            f.write('#!%s\n%s' % (sys.executable, STUB_DAEMON))
        os.chmod(path, 0o755)
        return path

    def test_daemon_lifecycle_with_stub(self):
        stub = self.stub()
        with harness.Daemon({'otel': {'endpoint': 'http://127.0.0.1:9'},
                             'exporter': {'retry': {'maxInterval': '2s'}}},
                            env={'STUB_MARK': 'm1'}, binary=stub) as d:
            self.assertTrue(os.path.exists(d.socket_path))
            self.assertTrue(d.socket_path.startswith(d.dir))
            with open(d.config_path) as f:
                cfg = f.read()
            self.assertIn('  enabled: true', cfg)
            self.assertIn('    maxInterval: "2s"', cfg)
            self.assertIn('    initialInterval: "100ms"', cfg)
            self.assertEqual(d.health()['status'], 'ok')
            m = d.metrics()
            self.assertEqual(m['spanrelay_spans_received_total{transport="grpc"}'], 7.0)
            self.assertEqual(m['spanrelay_odd{a="x\\"y",b="1"}'], float('inf'))
            self.assertEqual(harness.metric_sum(m, 'spanrelay_spans_received_total'), 10.0)
            self.assertTrue(harness.accounting_holds(m), harness.accounting(m))
            self.assertEqual(d.log_lines(), [{'level': 'INFO', 'logger': 'main', 'msg': 'started',
                                              'env': 'm1'}])
            tmpdir, pid = d.dir, d.pid
            self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(tmpdir))
        self.assertFalse(_pid_alive(pid))

    def test_daemon_killed_when_it_ignores_sigterm(self):
        stub = self.stub()
        d = harness.Daemon({}, env={'STUB_HANG': '1'}, binary=stub)
        with d:
            t0 = time.monotonic()
            self.assertEqual(d.stop(timeout=1), -signal.SIGKILL)
            self.assertLess(time.monotonic() - t0, 5)
        self.assertFalse(_pid_alive(d.pid))

    def test_sanitizer_report_fails_the_with_block(self):
        stub = self.stub()
        with self.assertRaisesRegex(harness.DaemonError, 'heap-use-after-free'):
            with harness.Daemon({}, env={'STUB_ASAN': '1'}, binary=stub) as d:
                self.assertEqual(d.stop(), 0)

    def test_daemon_start_failure_is_reported_and_cleaned(self):
        d = harness.Daemon({}, binary='/bin/false')
        with self.assertRaises(harness.DaemonError):
            d.start()
        self.assertFalse(os.path.exists(d.dir))

    def test_accounting_and_sampling_helpers(self):
        m = harness.parse_prometheus(textwrap.dedent('''\
            spanrelay_spans_received_total{transport="grpc"} 10
            spanrelay_spans_exported_total{destination="primary"} 9
            spanrelay_spans_in_flight{destination="primary"} 0
            spanrelay_spans_exported_total{destination="vendor"} 2
            spanrelay_spans_sampled_out_total{destination="vendor"} 7
            '''))
        self.assertFalse(harness.accounting_holds(m))
        m['spanrelay_spans_rejected_total{reason="invalid"}'] = 1.0
        self.assertTrue(harness.accounting_holds(m))
        self.assertTrue(harness.accounting_holds(m, 'vendor'))
        self.assertEqual(harness.accounting(m)['destinations']['vendor']['sum_of_terms'], 10)
        m['spanrelay_spans_buffered{destination="vendor"}'] = 1.0
        self.assertFalse(harness.accounting_holds(m))
        self.assertTrue(harness.accounting_holds(m, 'primary'))
        self.assertTrue(harness.trace_id_sampled(harness.trace_id_with_low(0), 0.0001))
        self.assertFalse(harness.trace_id_sampled(harness.trace_id_with_low(0), 0.0))
        self.assertTrue(harness.trace_id_sampled(harness.trace_id_with_low(2 ** 64 - 1), 1.0))
        self.assertFalse(harness.trace_id_sampled(harness.trace_id_with_low(2 ** 63), 0.5))
        self.assertTrue(harness.trace_id_sampled(harness.trace_id_with_low(2 ** 63 - 1), 0.5))
        p = harness.free_port()
        with socket.socket() as s:
            s.bind(('127.0.0.1', p))
        self.assertEqual(harness.merge_config({'a': {'b': 1, 'c': 2}}, {'a': {'c': None, 'd': 3}}),
                         {'a': {'b': 1, 'd': 3}})


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


if __name__ == '__main__':
    unittest.main()
