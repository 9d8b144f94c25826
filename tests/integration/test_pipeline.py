"""The pipeline through the real daemon: consistent sampling, resource enrichment,
the bounded ring with drop-newest, and the accounting equation, exactly."""

import os
import random
import threading
import time
import unittest

import grpc

from harness import (Daemon, ExportTraceServiceRequest, FakeBackend, accounting,
                     common_pb2, metric_sum, otlp_grpc_export, otlp_http_export,
                     random_request, span_count, trace_id_sampled, wait_for)


def valid(span):
    return (len(span.trace_id) == 16 and any(span.trace_id) and len(span.span_id) == 8
            and any(span.span_id) and len(span.parent_span_id) in (0, 8))


def spoil_some(req, rng, fraction=0.05):
    """Gives a few spans bad ids; returns how many."""
    n = 0
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                if rng.random() < fraction:
                    sp.span_id = b'\x00' * 8 if rng.random() < 0.5 else b'\x01\x02'
                    n += 1
    return n


def all_spans(req):
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                yield sp


class Accounting(unittest.TestCase):
    def test_random_workload_with_sampling_and_overflow(self):
        """A backend that holds every request while the workload arrives keeps the ring
        filling; with a 48 KiB ring some requests overflow. Every span must land in
        exactly one term, then and after the backend recovers."""
        rng = random.Random(42)
        ratio = 0.5
        with FakeBackend(grpc=True, http=False) as be:
            be.set_default(('hang', 30))
            cfg = {'otel': {'endpoint': be.grpc_endpoint, 'samplingRatio': ratio},
                   'buffer': {'maxBytes': '48KiB'},
                   'receiver': {'maxRequestBytes': '16KiB'},
                   'exporter': {'maxBatchBytes': '4KiB', 'batchTimeout': '50ms',
                                'timeout': '2s',
                                'retry': {'initialInterval': '100ms', 'maxInterval': '1s'}}}
            with Daemon(cfg) as d:
                sent = invalid = kept_expected = reported_rejected = 0
                for i in range(120):
                    req = random_request(resources=rng.randint(1, 2), scopes=rng.randint(1, 2),
                                         spans=rng.randint(1, 6), rng=rng,
                                         traces=rng.randint(1, 4))
                    invalid += spoil_some(req, rng)
                    sent += span_count(req)
                    kept_expected += sum(1 for sp in all_spans(req)
                                         if valid(sp) and trace_id_sampled(sp.trace_id, ratio))
                    if i % 2:
                        r = otlp_grpc_export(d.socket_path, req)
                        self.assertEqual(r.code, grpc.StatusCode.OK, r.details)
                        reported_rejected += r.response.partial_success.rejected_spans
                    else:
                        r = otlp_http_export(d.socket_path, req)
                        self.assertEqual(r.status, 200)
                        reported_rejected += r.response.partial_success.rejected_spans
                m = d.metrics()
                acc = accounting(m)
                self.assertEqual(acc['received'], sent)
                self.assertEqual(acc['received'], acc['sum_of_terms'], acc)
                self.assertEqual(metric_sum(m, 'spanrelay_spans_rejected_total'), invalid)
                sampled_out = metric_sum(m, 'spanrelay_spans_sampled_out_total')
                self.assertEqual(sent - invalid - sampled_out, kept_expected)
                overflow = metric_sum(m, 'spanrelay_spans_dropped_overflow_total')
                self.assertGreater(overflow, 0, 'the workload was meant to overflow the ring')
                self.assertGreater(sampled_out, 0)
                self.assertEqual(reported_rejected, invalid + overflow)
                # Once the backend answers again everything buffered is delivered.
                be.set_default(('ok',))
                m = d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_buffered') == 0 and
                                   metric_sum(m, 'spanrelay_spans_in_flight') == 0, timeout=30)
                acc = accounting(m)
                self.assertEqual(acc['received'], acc['sum_of_terms'], acc)
                self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'),
                                 be.span_count())
                self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total')
                                 + metric_sum(m, 'spanrelay_spans_export_failed_total'),
                                 kept_expected - overflow)
                # Every span the backend got was kept by the same rule as the SDKs'.
                for sp in be.spans():
                    self.assertTrue(trace_id_sampled(sp['traceId'], ratio))

    def test_ratio_zero_exports_nothing_and_counts_everything(self):
        with FakeBackend(grpc=True, http=False) as be:
            with Daemon({'otel': {'endpoint': be.grpc_endpoint, 'samplingRatio': 0.0}}) as d:
                req = random_request(spans=10, seed=7)
                self.assertEqual(otlp_grpc_export(d.socket_path, req).code, grpc.StatusCode.OK)
                m = d.metrics()
                self.assertEqual(metric_sum(m, 'spanrelay_spans_sampled_out_total'),
                                 span_count(req))
                time.sleep(0.5)
                self.assertEqual(len(be.requests), 0)

    def test_traces_stay_whole_across_requests_and_transports(self):
        ratio = 0.3
        rng = random.Random(5)
        with FakeBackend(grpc=True, http=False) as be:
            with Daemon({'otel': {'endpoint': be.grpc_endpoint, 'samplingRatio': ratio}}) as d:
                trace_ids = [bytes(rng.getrandbits(8) for _ in range(16)) for _ in range(200)]
                sent = {}
                for i, tid in enumerate(trace_ids):
                    for part in range(3):  # one trace's spans arrive in three requests
                        req = ExportTraceServiceRequest()
                        sp = req.resource_spans.add().scope_spans.add().spans.add()
                        sp.trace_id = tid
                        sp.span_id = bytes([part + 1]) * 8
                        sp.parent_span_id = b'' if part == 0 else b'\x01' * 8
                        sp.name = 'part-%d' % part
                        send = otlp_grpc_export if part % 2 else otlp_http_export
                        r = send(d.socket_path, req)
                        self.assertIn(getattr(r, 'status', 200), (200,))
                    sent[tid.hex()] = 3
                d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_buffered') == 0 and
                               metric_sum(m, 'spanrelay_spans_in_flight') == 0, timeout=10)
                got = {}
                for sp in be.spans():
                    got[sp['traceId']] = got.get(sp['traceId'], 0) + 1
                for tid, n in got.items():
                    self.assertEqual(n, 3, 'trace %s arrived partly' % tid)
                expected = {t for t in sent if trace_id_sampled(t, ratio)}
                self.assertEqual(set(got), expected)


class Enrichment(unittest.TestCase):
    def test_service_name_and_resource_attributes_added_where_absent(self):
        with FakeBackend(grpc=True, http=False) as be:
            env = {'OTEL_RESOURCE_ATTRIBUTES':
                   'k8s.pod.name=web-1,k8s.namespace.name=prod%2Da,deployment.environment=x'}
            with Daemon({'otel': {'endpoint': be.grpc_endpoint, 'serviceName': 'aifactory-web'}},
                        env=env) as d:
                req = ExportTraceServiceRequest()
                rs1 = req.resource_spans.add()  # no resource at all
                rs1.scope_spans.add().spans.add(trace_id=b'\x01' * 16, span_id=b'\x01' * 8,
                                                name='bare')
                rs2 = req.resource_spans.add()  # carries its own name and one pod attribute
                rs2.resource.attributes.add(key='service.name',
                                            value=common_pb2.AnyValue(string_value='agent'))
                rs2.resource.attributes.add(key='deployment.environment',
                                            value=common_pb2.AnyValue(string_value='mine'))
                rs2.scope_spans.add().spans.add(trace_id=b'\x02' * 16, span_id=b'\x02' * 8,
                                                name='named')
                self.assertEqual(otlp_grpc_export(d.socket_path, req).code, grpc.StatusCode.OK)
                self.assertTrue(be.wait_for_spans(2, timeout=10))
                by_name = {sp['name']: sp['resource'] for sp in be.spans()}
                self.assertEqual(by_name['bare'], {
                    'service.name': 'aifactory-web', 'k8s.pod.name': 'web-1',
                    'k8s.namespace.name': 'prod-a', 'deployment.environment': 'x'})
                self.assertEqual(by_name['named'], {
                    'service.name': 'agent', 'deployment.environment': 'mine',
                    'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'prod-a'})


class MemoryBound(unittest.TestCase):
    def test_rss_stays_under_the_ring_bound_while_the_backend_is_down(self):
        """Flood 200 MB of spans at a daemon whose backend is gone. RSS must stay under
        buffer.maxBytes + 24 MiB (code, libraries, loop, per-connection buffers, the
        exporter's batches in hand: capacity x maxBatchBytes)."""
        if os.environ.get('SPANRELAY_ASAN') == '1':
            self.skipTest('RSS of a sanitized build says nothing about the real one')
        from harness import free_port
        dead = 'http://127.0.0.1:%d' % free_port()
        cfg = {'otel': {'endpoint': dead}, 'buffer': {'maxBytes': '32MiB'},
               'exporter': {'retry': {'maxInterval': '1s'}}}
        with Daemon(cfg) as d:
            req = random_request(resources=2, scopes=2, spans=100, seed=11)
            body = req.SerializeToString()
            sent = 0
            peak = 0
            stop = time.monotonic() + 60
            while sent < (200 << 20) and time.monotonic() < stop:
                for _ in range(20):
                    r = otlp_http_export(d.socket_path, body)
                    self.assertEqual(r.status, 200)
                    sent += len(body)
                peak = max(peak, d.metrics()['process_resident_memory_bytes'])
            m = d.metrics()
            self.assertGreater(metric_sum(m, 'spanrelay_spans_dropped_overflow_total'), 0)
            self.assertLessEqual(metric_sum(m, 'spanrelay_buffer_bytes'), 32 << 20)
            self.assertLess(peak, (32 << 20) + (24 << 20), 'peak RSS %d' % peak)
            self.assertEqual(d.health()['_http_status'], 200)


if __name__ == '__main__':
    unittest.main()
