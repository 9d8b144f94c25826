"""The daemon as an operator meets it: command line, configuration errors, /health and
/metrics, bad HTTP on the health port, and a clean stop on SIGTERM."""

import json
import os
import signal
import socket
import tempfile
import time
import unittest

from harness import (Daemon, free_port, http_get, metric_sum, run_spanrelay, wait_for,
                     write_config)


def raw_exchange(port, data, timeout=3.0):
    """Sends bytes to 127.0.0.1:port and returns everything read until the peer closes."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b''.join(chunks)
    finally:
        s.close()


class CommandLine(unittest.TestCase):
    def test_version_and_help(self):
        r = run_spanrelay(['--version'])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r'^spanrelay \d+\.\d+\.\d+')
        r = run_spanrelay(['--help'])
        self.assertEqual(r.returncode, 0)
        self.assertIn('--check-config', r.stdout.decode())

    def test_shipped_config_is_valid(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        r = run_spanrelay(['--check-config', '-c', os.path.join(root, 'config', 'spanrelay.yaml')])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_config_names_key_line_and_expectation(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'bad.yaml')
            with open(path, 'w') as f:
                f.write('otel:\n  enabled: false\n  endpoint: ""\n  protocol: grpc\n'
                        '  samplingRatio: abc\n')
            r = run_spanrelay(['--check-config', '-c', path])
            self.assertEqual(r.returncode, 2)
            err = r.stderr.decode()
            self.assertIn('samplingRatio', err)
            self.assertIn('line 5', err)
            self.assertIn('[0, 1]', err)

    def test_unknown_key_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'bad.yaml')
            with open(path, 'w') as f:
                f.write('receiver:\n  sockt: /tmp/x.sock\n')
            r = run_spanrelay(['--check-config', '-c', path])
            self.assertEqual(r.returncode, 2)
            self.assertIn('receiver.sockt', r.stderr.decode())
            self.assertIn('line 2', r.stderr.decode())

    def test_enabled_without_endpoint_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'bad.yaml')
            with open(path, 'w') as f:
                f.write('otel:\n  enabled: true\n')
            r = run_spanrelay(['--check-config', '-c', path])
            self.assertEqual(r.returncode, 2)
            self.assertIn('endpoint', r.stderr.decode())

    def test_environment_is_checked_too(self):
        with tempfile.TemporaryDirectory() as d:
            path = write_config(d)
            r = run_spanrelay(['--check-config', '-c', path],
                              env={'OTEL_TRACES_SAMPLER_ARG': 'lots'})
            self.assertEqual(r.returncode, 2)
            self.assertIn('OTEL_TRACES_SAMPLER_ARG', r.stderr.decode())

    def test_bad_config_does_not_start(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'bad.yaml')
            with open(path, 'w') as f:
                f.write('buffer:\n  maxBytes: lots\n')
            r = run_spanrelay(['-c', path], timeout=5)
            self.assertEqual(r.returncode, 2)
            self.assertIn('buffer.maxBytes', r.stderr.decode())


def ipv6_loopback():
    try:
        free_port('::1')
        return True
    except OSError:
        return False


class Addresses(unittest.TestCase):
    """--check-config and start-up read listen addresses and endpoints with one parser:
    what the check refuses (exit 2, key and line) start-up refuses the same way, and what
    it accepts starts."""

    REFUSED = [
        ({'health': {'listen': 'localhost:13999'}}, 'health.listen', 'localhost:13999'),
        ({'receiver': {'grpc': '127.0.0.1:0'}}, 'receiver.grpc', '127.0.0.1:0'),
        ({'receiver': {'http': '[::1]'}}, 'receiver.http', '[::1]'),
        ({'receiver': {'http': '::1:4318'}}, 'receiver.http', '::1:4318'),
        ({'otel': {'enabled': True, 'endpoint': 'http://tempo:0'}}, 'otel.endpoint',
         'http://tempo:0'),
        ({'otel': {'enabled': True, 'endpoint': 'http://[::1'}}, 'otel.endpoint', 'http://[::1'),
    ]

    def test_refused_by_the_check_and_at_start_alike(self):
        with tempfile.TemporaryDirectory() as d:
            for overrides, key, value in self.REFUSED:
                overrides = dict(overrides, receiver=dict(overrides.get('receiver', {}),
                                                          socket=os.path.join(d, 's.sock')))
                path = write_config(d, overrides)
                with open(path) as f:
                    line = next(i for i, text in enumerate(f, 1) if value in text)
                for args in (['--check-config', '-c', path], ['-c', path]):
                    r = run_spanrelay(args, timeout=5)
                    err = r.stderr.decode()
                    self.assertEqual(r.returncode, 2, (args, value, err))
                    self.assertIn(key + ':', err)
                    self.assertIn('at line %d' % line, err)
                    self.assertIn('"%s"' % value, err)

    def test_a_name_is_refused_with_the_reason(self):
        with tempfile.TemporaryDirectory() as d:
            path = write_config(d, {'receiver': {'socket': os.path.join(d, 's.sock')},
                                    'health': {'listen': 'localhost:13999'}})
            r = run_spanrelay(['--check-config', '-c', path])
            self.assertEqual(r.returncode, 2)
            self.assertIn('never resolved', r.stderr.decode())
            self.assertNotIn('configuration OK', r.stdout.decode())

    def test_bracketed_ipv6_listen_address_starts(self):
        if not ipv6_loopback():
            self.skipTest('no IPv6 loopback')
        port = free_port('::1')
        with Daemon({'health': {'listen': '[::1]:%d' % port}}) as d:
            status, _ = http_get(d.health_url)
            self.assertEqual(status, 200)


class HealthAndMetrics(unittest.TestCase):
    def test_health_document(self):
        with Daemon() as d:
            h = d.health()
            self.assertEqual(h['_http_status'], 200)
            self.assertEqual(h['status'], 'ok')
            self.assertRegex(h['version'], r'^\d+\.\d+\.\d+')
            self.assertGreaterEqual(h['uptime_seconds'], 0)
            self.assertEqual(h['exporter']['state'], 'disabled')
            self.assertIn('last_error', h['exporter'])
            self.assertEqual(set(h['buffer']), {'bytes', 'capacity_bytes'})
            self.assertEqual(set(h['spans']), {'received', 'rejected_invalid', 'sampled_out',
                                                'dropped_overflow', 'exported', 'export_failed',
                                                'spooled', 'buffered', 'in_flight'})
            self.assertTrue(all(v == 0 for v in h['spans'].values()))

    def test_metrics_exposition(self):
        with Daemon() as d:
            status, body = http_get(d.metrics_url)
            self.assertEqual(status, 200)
            text = body.decode()
            for name in ('spanrelay_spans_received_total', 'spanrelay_spans_rejected_total',
                         'spanrelay_spans_sampled_out_total',
                         'spanrelay_spans_dropped_overflow_total',
                         'spanrelay_spans_exported_total', 'spanrelay_spans_export_failed_total',
                         'spanrelay_spans_buffered', 'spanrelay_spans_in_flight',
                         'spanrelay_buffer_bytes', 'spanrelay_buffer_capacity_bytes',
                         'spanrelay_exporter_up', 'process_resident_memory_bytes',
                         'process_cpu_seconds_total', 'spanrelay_build_info'):
                self.assertIn('# TYPE %s ' % name, text)
            m = d.metrics()
            self.assertGreater(metric_sum(m, 'process_resident_memory_bytes'), 1 << 20)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_received_total'), 0)

    def test_unknown_path_and_wrong_method(self):
        with Daemon() as d:
            resp = raw_exchange(d.health_port, b'GET /nope HTTP/1.1\r\nHost: x\r\n'
                                b'Connection: close\r\n\r\n')
            self.assertTrue(resp.startswith(b'HTTP/1.1 404 '), resp[:40])
            resp = raw_exchange(d.health_port, b'POST /health HTTP/1.1\r\nHost: x\r\n'
                                b'Content-Length: 0\r\nConnection: close\r\n\r\n')
            self.assertTrue(resp.startswith(b'HTTP/1.1 405 '), resp[:40])

    def test_malformed_request_gets_400_and_close(self):
        with Daemon() as d:
            resp = raw_exchange(d.health_port, b'GARBAGE\x00\x01 / HTTP/9\r\n\r\n')
            self.assertTrue(resp.startswith(b'HTTP/1.1 400 '), resp[:40])
            self.assertIn(b'Connection: close', resp)
            self.assertEqual(d.health()['_http_status'], 200)

    def test_oversized_request_gets_error_and_close(self):
        with Daemon() as d:
            big = b'GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 20000 + b'\r\n\r\n'
            resp = raw_exchange(d.health_port, big)
            self.assertRegex(resp[:12], rb'HTTP/1.1 4\d\d')
            body = b'x' * 10000
            resp = raw_exchange(d.health_port, b'GET /health HTTP/1.1\r\nHost: x\r\n'
                                b'Content-Length: %d\r\n\r\n' % len(body) + body)
            self.assertTrue(resp.startswith(b'HTTP/1.1 400 '), resp[:40])
            self.assertEqual(d.health()['_http_status'], 200)

    def test_keep_alive_serves_several_requests(self):
        with Daemon() as d:
            req = b'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'
            resp = raw_exchange(d.health_port, req + req + req.replace(
                b'\r\n\r\n', b'\r\nConnection: close\r\n\r\n'))
            self.assertEqual(resp.count(b'HTTP/1.1 200 OK'), 3)

    def test_idle_and_half_sent_connections_do_not_block_others(self):
        with Daemon() as d:
            idle = [socket.create_connection(('127.0.0.1', d.health_port)) for _ in range(5)]
            half = socket.create_connection(('127.0.0.1', d.health_port))
            half.sendall(b'GET /health HTTP/1.1\r\nHo')
            try:
                self.assertEqual(d.health()['_http_status'], 200)
            finally:
                for s in idle + [half]:
                    s.close()


def reject_on_health_port(port, timeout=2.0):
    """One malformed request to the health port: answered 400, and at log level debug
    one log line."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(b'NOT HTTP\r\n\r\n')
        while s.recv(4096):
            pass


class StalledStderr(unittest.TestCase):
    """A log collector that stops reading fills stderr's pipe. The daemon must go on
    serving: lines that do not fit are dropped and counted, and once the pipe is read
    again one line says how many were lost."""

    def test_a_stalled_stderr_pipe_does_not_stall_ingest(self):
        import fcntl
        import threading
        import grpc
        from harness import otlp_grpc_export, simple_request
        rfd, wfd = os.pipe()
        fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, 4096)  # the smallest pipe: fills sooner
        read_back = []
        reader = None
        try:
            d = Daemon({'log': {'level': 'debug'}}, stderr=wfd)
            with d:
                os.close(wfd)
                wfd = -1
                deadline = time.monotonic() + 60
                dropped = 0
                while dropped == 0 and time.monotonic() < deadline:
                    for _ in range(200):
                        reject_on_health_port(d.health_port)
                    dropped = metric_sum(d.metrics(), 'spanrelay_log_lines_dropped_total')
                self.assertGreater(dropped, 0, 'no log line was dropped within 60 s')
                # Nobody reads stderr, and ingest goes on.
                r = otlp_grpc_export(d.socket_path, simple_request(n_spans=3), timeout=5)
                self.assertEqual(r.code, grpc.StatusCode.OK)
                m = d.metrics()
                self.assertEqual(metric_sum(m, 'spanrelay_spans_received_total'), 3)
                self.assertGreaterEqual(metric_sum(m, 'spanrelay_log_lines_dropped_total'),
                                        dropped)
                self.assertEqual(d.health()['_http_status'], 200)

                def read_all():
                    while True:
                        b = os.read(rfd, 65536)
                        if not b:
                            return
                        read_back.append(b)
                reader = threading.Thread(target=read_all, daemon=True)
                reader.start()

                def notices():
                    text = b''.join(read_back).decode('utf-8', 'replace')
                    return [json.loads(l) for l in text.splitlines()
                            if '"spanrelay.log"' in l]
                found = wait_for(notices, timeout=10)
                self.assertTrue(found, 'no "log lines dropped" line once stderr was read')
                self.assertEqual(found[0]['level'], 'WARNING')
                self.assertGreater(found[0]['dropped'], 0)
                self.assertEqual(d.stop(), 0)
            reader.join(timeout=10)
            # Every line that arrived is whole, and the dropped ones are all counted.
            lines = b''.join(read_back).decode('utf-8').splitlines()
            for line in lines:
                json.loads(line)
            said = sum(doc['dropped'] for doc in map(json.loads, lines)
                       if doc.get('logger') == 'spanrelay.log')
            self.assertGreaterEqual(said, dropped)
        finally:
            if wfd >= 0:
                os.close(wfd)
            os.close(rfd)


class Shutdown(unittest.TestCase):
    def test_sigterm_exits_zero_quickly(self):
        with Daemon() as d:
            sock = d.socket_path
            self.assertTrue(os.path.exists(sock))
            t0 = time.monotonic()
            code = d.stop(signal.SIGTERM, timeout=5)
            self.assertEqual(code, 0, d.log_text())
            self.assertLess(time.monotonic() - t0, 2.0)
            self.assertFalse(os.path.exists(sock), 'socket file left behind')
            msgs = [l['msg'] for l in d.log_lines()]
            self.assertIn('stopping', msgs)
            self.assertIn('stopped', msgs)

    def test_sigint_exits_zero(self):
        with Daemon() as d:
            self.assertEqual(d.stop(signal.SIGINT, timeout=5), 0, d.log_text())

    def test_second_signal_exits_at_once(self):
        """A drain that waits on a dead backend is cut short by a second SIGTERM."""
        from harness import free_port
        import grpc
        from harness import otlp_grpc_export, simple_request
        dead = 'http://127.0.0.1:%d' % free_port()
        with Daemon({'otel': {'endpoint': dead}, 'shutdownTimeout': '60s',
                     'exporter': {'batchTimeout': '10ms', 'timeout': '60s',
                                  'retry': {'initialInterval': '30s', 'maxInterval': '60s'}}}) as d:
            r = otlp_grpc_export(d.socket_path, simple_request(n_spans=5))
            self.assertEqual(r.code, grpc.StatusCode.OK)
            d.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertTrue(d.alive(), 'the first signal should start a drain, not exit')
            t0 = time.monotonic()
            code = d.stop(signal.SIGTERM, timeout=5)
            self.assertLess(time.monotonic() - t0, 2)
            self.assertEqual(code, 1)
            self.assertIn('second signal, exiting at once', [l['msg'] for l in d.log_lines()])

    def test_log_lines_are_json(self):
        with Daemon() as d:
            d.stop()
            lines = [l for l in d.log_text().splitlines() if l.strip()]
            self.assertTrue(lines)
            for line in lines:
                doc = json.loads(line)
                for key in ('ts', 'level', 'logger', 'msg'):
                    self.assertIn(key, doc)

    def test_port_in_use_is_a_clear_error(self):
        with Daemon() as first:
            second = Daemon({'health': {'listen': '127.0.0.1:%d' % first.health_port}},
                            wait_healthy=False)
            try:
                second.start()
                second.proc.wait(timeout=5)
                self.assertNotEqual(second.proc.returncode, 0)
                self.assertIn('health.listen', second.log_text())
            finally:
                second.close()


if __name__ == '__main__':
    unittest.main()
