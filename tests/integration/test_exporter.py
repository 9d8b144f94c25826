"""The exporter against a fake backend: every backend answer handled as the OTLP
specification says, the outage drill, TLS, auth headers that never leak, and the drain
on SIGTERM. Both wire protocols where the behaviour is theirs to get right."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import grpc

from harness import (Daemon, FakeBackend, accounting, free_port, metric_sum,
                     otlp_grpc_export, otlp_http_export, simple_request, span_count, wait_for)

FAST_RETRY = {'initialInterval': '100ms', 'maxInterval': '1s', 'maxElapsedTime': '20s'}


def backend_and_daemon(test, protocol='grpc', exporter=None, env=None, tls=None, otel=None):
    be = FakeBackend(grpc=protocol == 'grpc', http=protocol != 'grpc', tls=tls).start()
    test.addCleanup(be.stop)
    endpoint = be.grpc_endpoint if protocol == 'grpc' else be.http_endpoint
    cfg = {'otel': dict({'endpoint': endpoint, 'protocol': protocol}, **(otel or {})),
           'exporter': dict({'batchTimeout': '20ms', 'retry': dict(FAST_RETRY)},
                            **(exporter or {}))}
    d = Daemon(cfg, env=env).start()
    test.addCleanup(d.close)
    return be, d


def send(d, n=10, seed=None):
    req = simple_request(n_spans=n, seed=seed)
    r = otlp_grpc_export(d.socket_path, req)
    assert r.code == grpc.StatusCode.OK, r.details
    return n


def settled(m):
    return metric_sum(m, 'spanrelay_spans_buffered') == 0 and metric_sum(m, 'spanrelay_spans_in_flight') == 0


def exporter_warnings(d):
    return [l for l in d.log_lines() if l.get('logger') == 'otel.exporter'
            and l.get('level') == 'WARNING']


class BackendAnswers(unittest.TestCase):
    def check_accounting(self, d):
        m = d.metrics()
        acc = accounting(m)
        self.assertEqual(acc['received'], acc['sum_of_terms'], acc)
        return m

    def test_success_delivers_everything(self):
        for protocol in ('grpc', 'http/protobuf'):
            with self.subTest(protocol=protocol):
                be, d = backend_and_daemon(self, protocol)
                n = send(d, 25)
                self.assertTrue(be.wait_for_spans(n, timeout=10))
                m = d.wait_metrics(settled)
                self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), n)
                self.assertEqual(metric_sum(m, 'spanrelay_exporter_up'), 1)
                self.assertEqual(d.health()['exporter']['state'], 'ready')

    def test_partial_success_is_counted_and_warned(self):
        for protocol in ('grpc', 'http/protobuf'):
            with self.subTest(protocol=protocol):
                be, d = backend_and_daemon(self, protocol)
                be.respond_next([('partial', 3, 'three spans too old')])
                n = send(d, 10)
                m = d.wait_metrics(lambda m: settled(m) and
                                   metric_sum(m, 'spanrelay_spans_exported_total') > 0)
                self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), n - 3)
                self.assertEqual(metric_sum(m, 'spanrelay_spans_export_failed_total'), 3)
                self.assertEqual(metric_sum(m, 'spanrelay_exporter_backend_rejected_spans_total'), 3)
                # Log lines are written by their own thread: wait for it, bounded.
                self.assertTrue(wait_for(lambda: any('three spans too old' in str(l.get('error'))
                                                     for l in exporter_warnings(d)), timeout=5))
                self.check_accounting(d)

    def retried_then_delivered(self, protocol, first, min_gap=0.0):
        be, d = backend_and_daemon(self, protocol)
        be.respond_next([first])
        n = send(d, 10)
        self.assertTrue(be.wait_for_spans(n, timeout=15), 'not delivered after %r' % (first,))
        m = d.wait_metrics(settled)
        self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), n)
        self.assertGreaterEqual(metric_sum(m, 'spanrelay_exporter_retries_total'), 1)
        reqs = be.requests
        self.assertGreaterEqual(len(reqs), 2)
        if min_gap:
            self.assertGreaterEqual(reqs[1].time - reqs[0].time, min_gap * 0.9)
        self.assertTrue(exporter_warnings(d))
        self.assertFalse([l for l in d.log_lines() if l.get('level') == 'ERROR'])
        return be, d

    def test_unavailable_is_retried(self):
        self.retried_then_delivered('grpc', ('unavailable',))

    def test_resource_exhausted_with_retry_info_waits_as_told(self):
        self.retried_then_delivered('grpc', ('resource_exhausted', 1.5), min_gap=1.5)

    def test_resource_exhausted_without_retry_info_is_dropped(self):
        be, d = backend_and_daemon(self, 'grpc')
        be.respond_next([('resource_exhausted', None)])
        n = send(d, 10)
        m = d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_export_failed_total') == n)
        time.sleep(0.5)
        self.assertEqual(len(be.requests), 1)
        self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), 0)

    def test_invalid_argument_is_not_retried(self):
        be, d = backend_and_daemon(self, 'grpc')
        be.respond_next([('invalid_argument', 'bad batch')])
        n = send(d, 10)
        d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_export_failed_total') == n)
        time.sleep(0.5)
        self.assertEqual(len(be.requests), 1)
        self.assertTrue(any('bad batch' in str(l.get('error')) for l in exporter_warnings(d)))
        self.check_accounting(d)

    def test_http_429_honours_retry_after(self):
        self.retried_then_delivered('http/protobuf', ('http', 429, {'Retry-After': '1'}),
                                    min_gap=1.0)

    def test_http_503_is_retried(self):
        self.retried_then_delivered('http/protobuf', ('http', 503))

    def test_http_400_is_not_retried(self):
        be, d = backend_and_daemon(self, 'http/protobuf')
        be.respond_next([('http', 400)])
        n = send(d, 10)
        d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_export_failed_total') == n)
        time.sleep(0.5)
        self.assertEqual(len(be.requests), 1)

    def test_backend_that_never_answers_times_out_and_is_retried(self):
        for protocol in ('grpc', 'http/protobuf'):
            with self.subTest(protocol=protocol):
                be, d = backend_and_daemon(self, protocol, exporter={'timeout': '1s'})
                be.respond_next([('hang', 30)])
                n = send(d, 10)
                self.assertTrue(be.wait_for_spans(n, timeout=15))
                m = d.wait_metrics(settled)
                self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), n)

    def test_connection_reset_mid_request_is_retried(self):
        for protocol in ('grpc', 'http/protobuf'):
            with self.subTest(protocol=protocol):
                be, d = backend_and_daemon(self, protocol)
                be.respond_next([('reset',)])
                n = send(d, 10)
                self.assertTrue(be.wait_for_spans(n, timeout=15))
                m = d.wait_metrics(settled)
                self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), n)

    def test_retries_give_up_after_max_elapsed_time(self):
        be, d = backend_and_daemon(self, 'grpc', exporter={
            'retry': {'initialInterval': '50ms', 'maxInterval': '200ms', 'maxElapsedTime': '1s'}})
        be.set_default(('unavailable',))
        n = send(d, 10)
        m = d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_export_failed_total') == n, timeout=10)
        self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), 0)
        self.assertTrue(any('retries exhausted' in l['msg'] for l in exporter_warnings(d)))


    def test_state_is_ready_again_after_a_deadline(self):
        be, d = backend_and_daemon(self, 'grpc', exporter={'timeout': '1s'})
        be.respond_next([('hang', 30)])
        n = send(d, 10)
        self.assertTrue(be.wait_for_spans(n, timeout=15))
        d.wait_metrics(settled)
        h = d.health()
        self.assertEqual(h['exporter']['state'], 'ready', h)
        self.assertEqual(metric_sum(d.metrics(), 'spanrelay_exporter_up'), 1)

    def test_backend_text_that_is_not_utf8_keeps_logs_and_health_json(self):
        be, d = backend_and_daemon(self, 'http/protobuf')
        # a google.rpc.Status whose message is not UTF-8 (protobuf-c does not check)
        text = b'quota \xff\xfe exceeded'
        status = b'\x08\x03\x12' + bytes([len(text)]) + text
        be.respond_next([('http', 400, {'Content-Type': 'application/x-protobuf'}, status)])
        send(d, 5)
        d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_export_failed_total') == 5)
        import urllib.request
        with urllib.request.urlopen(d.health_url, timeout=3) as r:
            doc = json.loads(r.read().decode('utf-8'))
        self.assertIn('quota', doc['exporter']['last_error'])
        with open(d.log_path, 'rb') as f:
            for raw in f.read().splitlines():
                json.loads(raw.decode('utf-8'))


class Outage(unittest.TestCase):
    def test_backend_down_then_back(self):
        """Under steady load: stop the backend, then start it again. /health stays 200,
        WARNING lines from otel.exporter and no ERROR, nothing arrives during the outage,
        spans flow again within the backoff cap, and the books balance."""
        cap = 2.0
        be = FakeBackend(grpc=True, http=False).start()
        self.addCleanup(be.stop)
        cfg = {'otel': {'endpoint': be.grpc_endpoint},
               'exporter': {'batchTimeout': '50ms', 'timeout': '2s',
                            'retry': {'initialInterval': '200ms', 'maxInterval': '2s',
                                      'maxElapsedTime': '60s'}}}
        with Daemon(cfg) as d:
            stop = threading.Event()
            health_codes = []
            sent = [0]

            def load():
                i = 0
                while not stop.is_set():
                    r = otlp_grpc_export(d.socket_path, simple_request(n_spans=5, seed=i))
                    if r.code == grpc.StatusCode.OK:
                        sent[0] += 5
                    health_codes.append(d.health()['_http_status'])
                    i += 1
                    time.sleep(0.05)

            t = threading.Thread(target=load)
            t.start()
            try:
                self.assertTrue(wait_for(lambda: be.span_count() > 50, timeout=10))
                be.stop()
                down_at = time.monotonic()
                time.sleep(0.5)
                during = be.span_count()
                time.sleep(3)
                self.assertEqual(be.span_count(), during, 'backend got spans while down')
                self.assertEqual(d.health()['exporter']['state'], 'backing_off')
                self.assertEqual(metric_sum(d.metrics(), 'spanrelay_exporter_up'), 0)
                be.start()
                back_at = time.monotonic()
                self.assertTrue(wait_for(lambda: be.span_count() > during, timeout=cap + 3),
                                'no spans within the backoff cap after the backend came back')
                recovery = time.monotonic() - back_at
                self.assertLess(recovery, cap + 1.5, 'recovery took %.1fs' % recovery)
                self.assertGreater(back_at - down_at, 3)
            finally:
                stop.set()
                t.join(timeout=10)
            m = d.wait_metrics(settled, timeout=20)
            acc = accounting(m)
            self.assertEqual(acc['received'], sent[0])
            self.assertEqual(acc['received'], acc['sum_of_terms'], acc)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), be.span_count())
            self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), sent[0], 'spans lost')
            self.assertTrue(health_codes and all(c == 200 for c in health_codes))
            lines = d.log_lines()
            self.assertTrue(exporter_warnings(d))
            self.assertFalse([l for l in lines if l.get('level') == 'ERROR'], lines)
            self.assertEqual(d.stop(), 0)


def make_ca(directory, host_cn='localhost', san='DNS:localhost,IP:127.0.0.1'):
    """A CA and a server certificate it signs; returns (ca_cert, cert, key)."""
    def run(*args):
        subprocess.run(args, check=True, capture_output=True, timeout=30, cwd=directory)
    run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
        '-subj', '/CN=spanrelay test CA', '-keyout', 'ca.key', '-out', 'ca.pem')
    run('openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=%s' % host_cn,
        '-keyout', 'server.key', '-out', 'server.csr')
    with open(os.path.join(directory, 'ext.cnf'), 'w') as f:
        f.write('subjectAltName=%s\n' % san)
    run('openssl', 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
        '-CAcreateserial', '-days', '2', '-out', 'server.pem', '-extfile', 'ext.cnf')
    return tuple(os.path.join(directory, f) for f in ('ca.pem', 'server.pem', 'server.key'))


class Tls(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='spanrelay-tls-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.ca, self.cert, self.key = make_ca(self.dir)
        other = os.path.join(self.dir, 'other')
        os.mkdir(other)
        self.other_ca = make_ca(other)[0]

    def tls_case(self, protocol, env, expect_ok, host='localhost', cert=None):
        be = FakeBackend(grpc=protocol == 'grpc', http=protocol != 'grpc',
                         tls=cert or (self.cert, self.key)).start()
        self.addCleanup(be.stop)
        port = be.grpc_port if protocol == 'grpc' else be.http_port
        endpoint = 'https://%s:%d' % (host, port)
        cfg = {'otel': {'endpoint': endpoint, 'protocol': protocol},
               'exporter': {'batchTimeout': '20ms', 'retry': dict(FAST_RETRY)}}
        with Daemon(cfg, env=env) as d:
            n = send(d, 5)
            if expect_ok:
                self.assertTrue(be.wait_for_spans(n, timeout=10), d.log_text())
                return d
            self.assertTrue(wait_for(lambda: exporter_warnings(d), timeout=10))
            time.sleep(0.5)
            self.assertEqual(be.span_count(), 0)
            errors = ' '.join(str(l.get('error')) for l in exporter_warnings(d))
            self.assertRegex(errors.lower(), r'certificate|verif|host')
            self.assertEqual(d.health()['_http_status'], 200)
            self.assertFalse([l for l in d.log_lines() if l.get('level') == 'ERROR'])
            return d

    def test_grpc_with_ca(self):
        self.tls_case('grpc', {'OTEL_EXPORTER_OTLP_CERTIFICATE': self.ca}, True)

    def test_grpc_wrong_ca(self):
        self.tls_case('grpc', {'OTEL_EXPORTER_OTLP_CERTIFICATE': self.other_ca}, False)

    def test_grpc_wrong_host_name(self):
        # Signed by the configured CA, but for another name than the one dialled.
        other = os.path.join(self.dir, 'elsewhere')
        os.mkdir(other)
        ca, cert, key = make_ca(other, host_cn='tempo.example', san='DNS:tempo.example')
        self.tls_case('grpc', {'OTEL_EXPORTER_OTLP_CERTIFICATE': ca}, False,
                      host='localhost', cert=(cert, key))

    def test_http_wrong_host_name(self):
        other = os.path.join(self.dir, 'elsewhere')
        os.mkdir(other)
        ca, cert, key = make_ca(other, host_cn='tempo.example', san='DNS:tempo.example')
        self.tls_case('http/protobuf', {'OTEL_EXPORTER_OTLP_CERTIFICATE': ca}, False,
                      host='localhost', cert=(cert, key))

    def test_grpc_insecure(self):
        self.tls_case('grpc', {'OTEL_EXPORTER_OTLP_INSECURE': 'true'}, True)

    def test_http_with_ca(self):
        self.tls_case('http/protobuf', {'OTEL_EXPORTER_OTLP_CERTIFICATE': self.ca}, True)

    def test_http_wrong_ca(self):
        self.tls_case('http/protobuf', {'OTEL_EXPORTER_OTLP_CERTIFICATE': self.other_ca}, False)

    def test_http_insecure(self):
        self.tls_case('http/protobuf', {'OTEL_EXPORTER_OTLP_INSECURE': 'true'}, True)


class Headers(unittest.TestCase):
    SECRET = 's3cr3t-api-key-4f9d1c'

    def test_headers_reach_the_backend_and_nowhere_else(self):
        for protocol in ('grpc', 'http/protobuf'):
            with self.subTest(protocol=protocol):
                env = {'OTEL_EXPORTER_OTLP_HEADERS':
                       'x-api-key=%s,x-team=obs%%20team' % self.SECRET}
                be, d = backend_and_daemon(self, protocol, env=env)
                # Failing answers make the exporter log, with as much context as it has.
                be.respond_next([('unavailable',), ('invalid_argument', 'nope')])
                send(d, 5)
                self.assertTrue(be.wait_for_requests(2, timeout=15))
                send(d, 5)
                self.assertTrue(be.wait_for_requests(3, timeout=15))
                for h in be.headers:
                    self.assertEqual(h.get('x-api-key'), self.SECRET)
                    self.assertEqual(h.get('x-team'), 'obs team')
                import urllib.request
                texts = [d.log_text()]
                for url in (d.health_url, d.metrics_url):
                    with urllib.request.urlopen(url, timeout=3) as r:
                        texts.append(r.read().decode())
                d.stop()
                texts.append(d.log_text())
                for text in texts:
                    self.assertNotIn(self.SECRET, text)


class Drain(unittest.TestCase):
    def test_sigterm_flushes_10000_buffered_spans(self):
        for protocol in ('grpc', 'http/protobuf'):
            with self.subTest(protocol=protocol):
                be, d = backend_and_daemon(self, protocol, exporter={
                    'batchTimeout': '1h', 'maxBatchSpans': 1000000, 'maxBatchBytes': '8MiB'},
                    otel={})
                for i in range(100):
                    send(d, 100, seed=i)
                m = d.metrics()
                self.assertEqual(metric_sum(m, 'spanrelay_spans_buffered'), 10000)
                self.assertEqual(len(be.requests), 0)
                self.assertEqual(d.stop(signal.SIGTERM, timeout=15), 0, d.log_text())
                self.assertEqual(be.span_count(), 10000)

    def test_sigterm_with_backend_down_gives_up_at_shutdown_timeout(self):
        dead = 'http://127.0.0.1:%d' % free_port()
        with Daemon({'otel': {'endpoint': dead}, 'shutdownTimeout': '1s',
                     'exporter': {'batchTimeout': '20ms'}}) as d:
            send(d, 50)
            t0 = time.monotonic()
            self.assertEqual(d.stop(signal.SIGTERM, timeout=10), 0)
            self.assertLess(time.monotonic() - t0, 3)
            drained = [l for l in d.log_lines() if l['msg'] == 'drained']
            self.assertEqual(len(drained), 1)
            self.assertEqual(drained[0]['export_failed'], 50)
            self.assertEqual(drained[0]['exported'], 0)


    def test_sigterm_with_requests_hanging_at_the_backend(self):
        """The shutdown timeout fires while export requests are still out: they are
        given up, counted, and the daemon exits 0 (no double free on the way)."""
        for protocol in ('grpc', 'http/protobuf'):
            with self.subTest(protocol=protocol):
                be, d = backend_and_daemon(self, protocol, exporter={'timeout': '30s'})
                be.set_default(('hang', 30))
                d2 = Daemon(dict(d.overrides, shutdownTimeout='1s')).start()
                self.addCleanup(d2.close)
                d.close()
                for i in range(4):
                    send(d2, 25, seed=i)
                self.assertTrue(be.wait_for_requests(1, timeout=10))
                t0 = time.monotonic()
                self.assertEqual(d2.stop(signal.SIGTERM, timeout=10), 0, d2.log_text())
                self.assertLess(time.monotonic() - t0, 4)
                drained = [l for l in d2.log_lines() if l['msg'] == 'drained']
                self.assertEqual(len(drained), 1)
                self.assertEqual(drained[0]['export_failed'] + drained[0]['exported'], 100)


class Disabled(unittest.TestCase):
    def test_disabled_accepts_and_drops_without_network(self):
        for env in ({'OTEL_SDK_DISABLED': 'true'}, {}):
            with self.subTest(env=env):
                be = FakeBackend(grpc=True, http=False).start()
                self.addCleanup(be.stop)
                cfg = {'otel': {'endpoint': be.grpc_endpoint}} if env else {}
                with Daemon(cfg, env=env) as d:
                    n = send(d, 20)
                    m = d.metrics()
                    self.assertEqual(metric_sum(m, 'spanrelay_spans_export_failed_total'), n)
                    self.assertEqual(d.health()['exporter']['state'], 'disabled')
                    time.sleep(0.3)
                    self.assertEqual(be.connection_counts()['grpc_tcp'], 0)
                    self.assertEqual(len(be.requests), 0)


if __name__ == '__main__':
    unittest.main()
