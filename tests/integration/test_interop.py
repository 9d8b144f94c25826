"""Real clients through the real daemon: the official OpenTelemetry JS SDK exporters
(gRPC, HTTP/protobuf, HTTP/JSON) and python3-grpcio, over loopback TCP and the UNIX
socket; and end to end to a fake backend, span by span."""

import os
import unittest

import grpc

from harness import (Daemon, FakeBackend, compare_spans, free_port, js_available,
                     metric_sum, otlp_grpc_export, random_request, run_js, span_count)

EXPORTERS = ('grpc', 'proto', 'http')


def tcp_config():
    return {'receiver': {'grpc': '127.0.0.1:%d' % free_port(),
                         'http': '127.0.0.1:%d' % free_port()}}


class JsSdkToDaemon(unittest.TestCase):
    """Each exporter over TCP and over the socket; spanrelay's counters equal exactly
    the spans the SDK exported."""

    def setUp(self):
        if not js_available():
            self.fail('node or tests/interop/node_modules missing: run make deps')

    def run_exporter(self, exporter, over_socket):
        with Daemon(tcp_config()) as d:
            if over_socket:
                endpoint = 'unix://' + d.socket_path
            elif exporter == 'grpc':
                endpoint = 'http://' + d.config['receiver']['grpc']
            else:
                endpoint = 'http://' + d.config['receiver']['http']
            summary = run_js(exporter, endpoint, spans=300, traces=30, check=True)
            n = len(summary['spans'])
            self.assertEqual(n, 300)
            transport = 'grpc' if exporter == 'grpc' else 'http'
            m = d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_received_total') >= n,
                               timeout=10)
            self.assertEqual(m['spanrelay_spans_received_total{transport="%s"}' % transport], n)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_received_total'), n)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_rejected_total'), 0)

    def test_grpc_over_tcp(self):
        self.run_exporter('grpc', False)

    def test_grpc_over_socket(self):
        self.run_exporter('grpc', True)

    def test_proto_over_tcp(self):
        self.run_exporter('proto', False)

    def test_proto_over_socket(self):
        self.run_exporter('proto', True)

    def test_json_over_tcp(self):
        self.run_exporter('http', False)

    def test_json_over_socket(self):
        self.run_exporter('http', True)


class PythonGrpcToDaemon(unittest.TestCase):
    def test_grpcio_over_socket(self):
        with Daemon() as d:
            total = 0
            with grpc.insecure_channel('unix://' + d.socket_path) as ch:
                call = ch.unary_unary('/opentelemetry.proto.collector.trace.v1.TraceService/Export')
                for i in range(20):
                    req = random_request(resources=2, scopes=2, spans=5, seed=i)
                    call(req.SerializeToString(), timeout=5)
                    total += span_count(req)
            m = d.metrics()
            self.assertEqual(m['spanrelay_spans_received_total{transport="grpc"}'], total)


class EndToEnd(unittest.TestCase):
    """JS SDK -> UNIX socket -> spanrelay -> fake backend: every span arrives with every
    field as the SDK sent it; the only change is the documented enrichment."""

    def setUp(self):
        if not js_available():
            self.fail('node or tests/interop/node_modules missing: run make deps')

    def through(self, exporter, protocol, compression='none'):
        with FakeBackend(grpc=protocol == 'grpc', http=protocol != 'grpc') as be:
            endpoint = be.grpc_endpoint if protocol == 'grpc' else be.http_endpoint
            cfg = {'otel': {'endpoint': endpoint, 'protocol': protocol},
                   'exporter': {'compression': compression}}
            with Daemon(cfg) as d:
                summary = run_js(exporter, 'unix://' + d.socket_path, spans=400, traces=40,
                                 check=True)
                expected = summary['spans']
                self.assertTrue(be.wait_for_spans(len(expected), timeout=20),
                                'backend got %d of %d' % (be.span_count(), len(expected)))
                problems = compare_spans(expected, be.spans())
                self.assertEqual(problems, [])
                m = d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_exported_total') == len(expected),
                                   timeout=10)
                self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), len(expected))
                self.assertEqual(d.stop(), 0)

    def test_js_grpc_to_grpc_backend(self):
        self.through('grpc', 'grpc')

    def test_js_proto_to_http_backend(self):
        self.through('proto', 'http/protobuf')

    def test_js_json_to_grpc_backend_gzip(self):
        self.through('http', 'grpc', compression='gzip')

    def test_js_grpc_to_http_backend_zstd(self):
        self.through('grpc', 'http/protobuf', compression='zstd')


if __name__ == '__main__':
    unittest.main()
