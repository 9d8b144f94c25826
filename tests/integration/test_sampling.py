"""Sampling rules against real SDK samplers (DESIGN decisions 6 and 12): the OpenTelemetry
JS SDK decides at the application (tests/interop/sample.js: the composite probability
sampler of @opentelemetry/sampler-composite, TraceIdRatioBased from the standard
OTEL_TRACES_SAMPLER variables the Helm chart sets, ParentBased(AlwaysOn)), spanrelay at
ratio 0.1 decides again, a fake backend records what arrives.

Which traces must arrive is computed here, from the trace ids alone, by each rule's own
arithmetic written out independently of the daemon: the consistent rule (low 56 bits of
the trace id >= the threshold), the Python SDK's (low 64 bits < round(p * 2^64)) and the
JS SDK's TraceIdRatioBased (XOR of the id's four 32-bit words < floor(p * 0xffffffff)).
Every trace arrives whole or not at all, across hops and across two relays in a row."""

import os
import random
import tempfile
import unittest

from harness import (SAMPLE_JS, Daemon, FakeBackend, accounting, free_port, js_available,
                     metric_sum, run_node)

RATIO = 0.1
# th:e666, what spanrelay writes at 0.1 (four hex digits, trailing zeros removed).
THRESHOLD_E666 = 0xe666 << 40
LOW56 = (1 << 56) - 1

# What the chart gives application containers (otel.sampler.decidedBy).
APP_ENV = {
    'sdk': {'OTEL_TRACES_SAMPLER': 'parentbased_traceidratio', 'OTEL_TRACES_SAMPLER_ARG': str(RATIO)},
    'sidecar': {'OTEL_TRACES_SAMPLER': 'parentbased_always_on'},
}


def consistent_keeps(trace_id, threshold):
    return int(trace_id, 16) & LOW56 >= threshold


def python_keeps(trace_id, ratio):
    return int(trace_id, 16) & ((1 << 64) - 1) < round(ratio * (1 << 64))


def js_ratio_keeps(trace_id, ratio):
    acc = 0
    for i in range(0, 32, 8):
        acc ^= int(trace_id[i:i + 8], 16)
    return acc < int(ratio * 0xffffffff)


def trace_ids(seed, n=240):
    """Random trace ids plus ids on both sides of every boundary the tests cross."""
    rng = random.Random(seed)

    def with_low56(low):
        return '%018x%014x' % (rng.getrandbits(72), low)

    def with_low64(low):
        return '%016x%016x' % (rng.getrandbits(64), low)

    def js_and_python(low64, keep_js):
        """An id whose low 64 bits are low64 and whose word XOR is small (JS keeps) or
        large (JS drops)."""
        w2, w3 = low64 >> 32, low64 & 0xffffffff
        target = rng.getrandbits(20) if keep_js else 0xf0000000 | rng.getrandbits(20)
        w1 = rng.getrandbits(32)
        return '%08x%08x%016x' % (w1 ^ w2 ^ w3 ^ target, w1, low64)

    bound = round(RATIO * (1 << 64))
    ids = [with_low56(THRESHOLD_E666), with_low56(THRESHOLD_E666 - 1), with_low56(LOW56),
           with_low56(0x80 << 48), with_low56((0x80 << 48) - 1), with_low56(0),
           with_low64(bound - 1), with_low64(bound), with_low64(0)]
    for keep_js in (True, False):
        for _ in range(3):
            ids.append(js_and_python(rng.randrange(bound), keep_js))
            ids.append(js_and_python(rng.randrange(bound, 1 << 64), keep_js))
    ids += ['%032x' % rng.getrandbits(128) for _ in range(n)]
    return ids


class SdkSamplers(unittest.TestCase):
    def setUp(self):
        if not js_available():
            self.fail('node or tests/interop/node_modules missing: run make deps')
        self.tmp = tempfile.TemporaryDirectory(prefix='spanrelay-sampling-')
        self.addCleanup(self.tmp.cleanup)

    def run_app(self, daemon, ids, hop_a, hop_b=None, env=None):
        """Runs sample.js into the daemon's socket; returns the spans the SDKs exported."""
        path = os.path.join(self.tmp.name, 'ids')
        with open(path, 'w') as f:
            f.write('\n'.join(ids) + '\n')
        args = ['--endpoint', 'unix://' + daemon.socket_path, '--ids', path, '--hop-a', hop_a]
        if hop_b:
            args += ['--hop-b', hop_b]
        summary = run_node(SAMPLE_JS, args, timeout=60, env=env, check=True)
        self.assertTrue(summary['ok'], summary.get('error'))
        return summary['spans']

    @staticmethod
    def relay(endpoint, rule='auto', grpc_listen=None):
        cfg = {'otel': {'endpoint': endpoint, 'protocol': 'grpc', 'samplingRatio': RATIO,
                        'sampler': {'rule': rule}},
               'exporter': {'batchTimeout': '50ms'}}
        if grpc_listen:
            cfg['receiver'] = {'grpc': grpc_listen}
        return Daemon(cfg)

    def assert_arrivals(self, sent, got, expected_ids, trace_state=None):
        """Exactly the expected traces arrived, each with every span the SDKs exported for
        it; trace_state(span as sent) is the tracestate each must carry."""
        by_trace = {}
        for s in sent:
            by_trace.setdefault(s['traceId'], set()).add(s['spanId'])
        got_by_trace = {}
        for s in got:
            got_by_trace.setdefault(s['traceId'], set()).add(s['spanId'])
        self.assertEqual(sorted(got_by_trace), sorted(expected_ids))
        for t, spans in got_by_trace.items():
            self.assertEqual(spans, by_trace[t], 'trace %s arrived split' % t)
        self.assertEqual(len(got), sum(len(by_trace[t]) for t in expected_ids))
        if trace_state is not None:
            sent_by_id = {s['spanId']: s for s in sent}
            for g in got:
                self.assertEqual(g['traceState'], trace_state(sent_by_id[g['spanId']]),
                                 'span %s of trace %s' % (g['spanId'], g['traceId']))

    def assert_counted(self, m, arrived, sampled_out, rule):
        other = 'python' if rule == 'consistent' else 'consistent'
        self.assertEqual(m['spanrelay_sampler_spans_kept_total{rule="%s"}' % rule], arrived)
        self.assertEqual(m['spanrelay_sampler_spans_sampled_out_total{rule="%s"}' % rule],
                         sampled_out)
        self.assertEqual(m['spanrelay_sampler_spans_kept_total{rule="%s"}' % other], 0)
        self.assertEqual(m['spanrelay_sampler_spans_sampled_out_total{rule="%s"}' % other], 0)
        self.assertEqual(metric_sum(m, 'spanrelay_spans_sampled_out_total'), sampled_out)
        self.assertEqual(m['spanrelay_sampler_th_erased_spans_total'], 0)
        self.assertEqual(m['spanrelay_sampler_tracestate_unchanged_spans_total'], 0)
        acc = accounting(m)
        self.assertEqual(acc['received'], acc['sum_of_terms'], acc)

    def settle(self, daemon, exported):
        return daemon.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_exported_total') >= exported,
                                   timeout=20)

    def test_composite_half_through_two_relays_at_a_tenth(self):
        """The JS composite sampler at 0.5 writes th:8; spanrelay at 0.1 keeps exactly the
        ids whose low 56 bits reach 0xe6660000000000 and raises th to e666; a second
        spanrelay at 0.1 behind it keeps all of them, unchanged: one decision."""
        ids = trace_ids(1)
        sdk_kept = [t for t in ids if consistent_keeps(t, 0x80 << 48)]
        expected = [t for t in ids if consistent_keeps(t, THRESHOLD_E666)]
        self.assertTrue(0 < len(expected) < len(sdk_kept) < len(ids))
        with FakeBackend(grpc=True, http=False) as be:
            second_listen = '127.0.0.1:%d' % free_port()
            with self.relay(be.grpc_endpoint, grpc_listen=second_listen) as second, \
                    self.relay('http://' + second_listen) as first:
                sent = self.run_app(first, ids, 'composite:0.5')
                self.assertEqual(sorted({s['traceId'] for s in sent}), sorted(sdk_kept))
                self.assertTrue(all(s['traceState'] == 'ot=th:8' for s in sent))
                n = sum(1 for s in sent if s['traceId'] in expected)
                self.assertTrue(be.wait_for_spans(n, timeout=20))
                m1 = self.settle(first, n)
                m2 = self.settle(second, n)
                self.assert_arrivals(sent, be.spans(), expected, lambda s: 'ot=th:e666')
                self.assert_counted(m1, n, len(sent) - n, 'consistent')
                self.assertEqual(metric_sum(m2, 'spanrelay_spans_received_total'), n)
                self.assert_counted(m2, n, 0, 'consistent')

    def test_traceidratio_decided_by_sdk_is_the_intersection(self):
        """decidedBy: sdk with a JS application: its TraceIdRatioBased(0.1) keeps one set,
        spanrelay's Python rule another; what arrives is the two sets' intersection (about
        1 % of traces), whole."""
        ids = trace_ids(2)
        sdk_kept = [t for t in ids if js_ratio_keeps(t, RATIO)]
        expected = [t for t in sdk_kept if python_keeps(t, RATIO)]
        self.assertTrue(0 < len(expected) < len(sdk_kept))
        with FakeBackend(grpc=True, http=False) as be:
            with self.relay(be.grpc_endpoint) as d:
                sent = self.run_app(d, ids, 'env', env=APP_ENV['sdk'])
                self.assertEqual(sorted({s['traceId'] for s in sent}), sorted(sdk_kept))
                n = sum(1 for s in sent if s['traceId'] in expected)
                self.assertTrue(be.wait_for_spans(n, timeout=20))
                m = self.settle(d, n)
                self.assert_arrivals(sent, be.spans(), expected, lambda s: s['traceState'])
                self.assert_counted(m, n, len(sent) - n, 'python')

    def test_always_on_decided_by_sidecar_is_the_python_set(self):
        """decidedBy: sidecar: the application sends every span, spanrelay alone decides:
        exactly the Python rule's traces arrive, tracestates untouched."""
        ids = trace_ids(3)
        expected = [t for t in ids if python_keeps(t, RATIO)]
        with FakeBackend(grpc=True, http=False) as be:
            with self.relay(be.grpc_endpoint) as d:
                sent = self.run_app(d, ids, 'env', env=APP_ENV['sidecar'])
                self.assertEqual(len(sent), 3 * len(ids))
                n = 3 * len(expected)
                self.assertTrue(be.wait_for_spans(n, timeout=20))
                m = self.settle(d, n)
                self.assert_arrivals(sent, be.spans(), expected, lambda s: '')
                self.assert_counted(m, n, len(sent) - n, 'python')

    def test_always_on_with_rule_consistent_writes_th(self):
        """rule: consistent for an application that sends everything: the consistent set
        arrives, each span marked ot=th:e666."""
        ids = trace_ids(4)
        expected = [t for t in ids if consistent_keeps(t, THRESHOLD_E666)]
        with FakeBackend(grpc=True, http=False) as be:
            with self.relay(be.grpc_endpoint, rule='consistent') as d:
                sent = self.run_app(d, ids, 'always_on')
                n = 3 * len(expected)
                self.assertTrue(be.wait_for_spans(n, timeout=20))
                m = self.settle(d, n)
                self.assert_arrivals(sent, be.spans(), expected, lambda s: 'ot=th:e666')
                self.assert_counted(m, n, len(sent) - n, 'consistent')

    def test_th_hop_into_hop_without_it_stays_whole(self):
        """Hop A samples with the composite sampler (writes th:8); hop B's SDK samples
        ParentBased(AlwaysOn), which writes no th but carries A's tracestate: all five
        spans of a trace follow the consistent rule and arrive together, th raised."""
        ids = trace_ids(5, n=160)
        expected = [t for t in ids if consistent_keeps(t, THRESHOLD_E666)]
        with FakeBackend(grpc=True, http=False) as be:
            with self.relay(be.grpc_endpoint) as d:
                sent = self.run_app(d, ids, 'composite:0.5', 'always_on')
                self.assertEqual({s['hop'] for s in sent}, {'a', 'b'})
                self.assertTrue(all(s['traceState'] == 'ot=th:8' for s in sent))
                n = sum(1 for s in sent if s['traceId'] in expected)
                self.assertEqual(n, 5 * len(expected))
                self.assertTrue(be.wait_for_spans(n, timeout=20))
                m = self.settle(d, n)
                self.assert_arrivals(sent, be.spans(), expected, lambda s: 'ot=th:e666')
                self.assert_counted(m, n, len(sent) - n, 'consistent')

    def test_hop_without_th_into_th_hop_stays_whole(self):
        """The reverse: hop A sends everything without th (ParentBased(AlwaysOn)); hop B
        runs the composite sampler, whose ParentThreshold follows a sampled parent without
        writing a th it does not know: no span has ot=, all follow the Python rule, and
        no th is written on any of them."""
        ids = trace_ids(6, n=160)
        expected = [t for t in ids if python_keeps(t, RATIO)]
        with FakeBackend(grpc=True, http=False) as be:
            with self.relay(be.grpc_endpoint) as d:
                sent = self.run_app(d, ids, 'always_on', 'composite:0.5')
                self.assertEqual(len(sent), 5 * len(ids))
                self.assertTrue(all(s['traceState'] == '' for s in sent))
                n = 5 * len(expected)
                self.assertTrue(be.wait_for_spans(n, timeout=20))
                m = self.settle(d, n)
                self.assert_arrivals(sent, be.spans(), expected, lambda s: '')
                self.assert_counted(m, n, len(sent) - n, 'python')


if __name__ == '__main__':
    unittest.main()
