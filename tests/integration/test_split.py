"""Requests a destination finds too large: two fake backends with a 1 MB ceiling (a
Tempo-like gRPC one answering RESOURCE_EXHAUSTED "grpc: received message larger than
max (N vs. 1000000)" above it, a vendor-like OTLP/HTTP one answering 413 above it,
measured on the decompressed body while spanrelay sends gzip) get a load of 4 MiB
requests: every span arrives once, field for field, under its own resource and scope;
/health and /metrics show the size each destination learned; the books balance
exactly. A single span over the ceiling is given up under reason too_large, counted and
logged with the destination and the sizes, and the spans sent with it arrive."""

import random
import unittest

from harness import (Daemon, FakeBackend, accounting, dest_sum, otlp_grpc_export, random_id,
                     random_request, wait_for)
from fake_backend import PB

import grpc

CEILING = 1000000
REQUESTS = 4
FAST_RETRY = {'initialInterval': '50ms', 'maxInterval': '200ms', 'maxElapsedTime': '30s'}
DESTINATIONS = ('primary', 'vendor')


def backends(test):
    tempo = FakeBackend(grpc=True, http=False, max_request_bytes=CEILING).start()
    vendor = FakeBackend(grpc=False, http=True, max_request_bytes=CEILING).start()
    test.addCleanup(tempo.stop)
    test.addCleanup(vendor.stop)
    return tempo, vendor


def config(tempo, vendor):
    limits = {'maxBatchBytes': '8MiB', 'maxBatchSpans': 100000, 'batchTimeout': '20ms',
              'retry': dict(FAST_RETRY)}
    return {
        'otel': {'endpoint': tempo.grpc_endpoint, 'protocol': 'grpc'},
        'receiver': {'maxRequestBytes': '8MiB'},
        'buffer': {'maxBytes': '64MiB'},
        'exporter': dict(limits),
        'destinations': [dict(limits, name='vendor', endpoint=vendor.http_endpoint,
                              protocol='http/protobuf', compression='gzip',
                              buffer={'maxBytes': '64MiB'})],
    }


def big_request(seed, target=4 << 20):
    """A request of about target bytes: two resources, two scopes, spans of every kind
    of field, each padded with a 1.5-2.5 KiB attribute."""
    rng = random.Random(seed)
    req = random_request(resources=2, scopes=2, spans=1, rng=rng)
    template = [ss for rs in req.resource_spans for ss in rs.scope_spans]
    i = 0
    while req.ByteSize() < target - 8192:
        ss = template[i % len(template)]
        for _ in range(64):
            sp = ss.spans.add()
            sp.CopyFrom(ss.spans[0])
            sp.span_id = random_id(rng, 8)
            sp.trace_id = random_id(rng, 16)
            sp.attributes.add(key='pad', value=PB['common'].AnyValue(
                string_value=rng.randbytes(rng.randint(768, 1280)).hex()))
        i += 1
    return req


def spans_by_id(requests):
    """(trace_id, span_id) -> (span, resource, scope) of every span in requests."""
    out = {}
    for req in requests:
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    key = (sp.trace_id, sp.span_id)
                    assert key not in out, 'duplicate span %r' % (key,)
                    out[key] = (sp, rs.resource, rs.schema_url, ss.scope, ss.schema_url)
    return out


def settled(m):
    return all(dest_sum(m, 'spanrelay_spans_buffered', d) == 0 and
               dest_sum(m, 'spanrelay_spans_in_flight', d) == 0 for d in DESTINATIONS)


class TooLarge(unittest.TestCase):
    def check_arrived(self, sent, backend):
        got = spans_by_id(r.message for r in backend.requests if r.accepted)
        self.assertEqual(set(got), set(sent), backend)
        for key, want in sent.items():
            self.assertEqual(got[key], want, key)
        for r in backend.requests:
            if r.accepted:
                self.assertLessEqual(len(r.body), CEILING)

    def check_books(self, m):
        acc = accounting(m)
        self.assertEqual(set(acc['destinations']), set(DESTINATIONS))
        for name, a in acc['destinations'].items():
            self.assertEqual(a['received'], a['sum_of_terms'], (name, a))

    def test_4mib_requests_to_a_1mb_ceiling_arrive_whole(self):
        tempo, vendor = backends(self)
        with Daemon(config(tempo, vendor)) as d:
            requests = [big_request(seed) for seed in range(REQUESTS)]
            for req in requests:
                self.assertGreater(req.ByteSize(), (4 << 20) - 16384)
                r = otlp_grpc_export(d.socket_path, req, timeout=20)
                self.assertEqual(r.code, grpc.StatusCode.OK, r.details)
            sent = spans_by_id(requests)
            total = len(sent)
            m = d.wait_metrics(lambda m: settled(m) and all(
                dest_sum(m, 'spanrelay_spans_exported_total', x) == total
                for x in DESTINATIONS), timeout=25)
            for be in (tempo, vendor):
                self.assertGreater(be.refused_too_large, 0)
                self.check_arrived(sent, be)
            health = {x['name']: x for x in d.health()['destinations']}
            for name in DESTINATIONS:
                learned = health[name]['exporter']['max_request_bytes']
                self.assertGreater(learned, 0, name)
                self.assertLessEqual(learned, CEILING, name)
                self.assertEqual(dest_sum(m, 'spanrelay_exporter_max_request_bytes', name),
                                 learned)
                self.assertEqual(dest_sum(m, 'spanrelay_spans_export_failed_total', name), 0)
            self.check_books(m)
            print('\n%d spans in %d requests of %d bytes; learned %s; refused %d (grpc), '
                  '%d (http); accepted requests %d (grpc), %d (http)'
                  % (total, REQUESTS, requests[0].ByteSize(),
                     {n: health[n]['exporter']['max_request_bytes'] for n in DESTINATIONS},
                     tempo.refused_too_large, vendor.refused_too_large,
                     sum(r.accepted for r in tempo.requests),
                     sum(r.accepted for r in vendor.requests)))
            self.assertEqual(d.stop(), 0)

    def test_a_span_over_the_ceiling_is_given_up_alone(self):
        tempo, vendor = backends(self)
        with Daemon(config(tempo, vendor)) as d:
            rng = random.Random(7)
            req = random_request(resources=1, scopes=1, spans=5, rng=rng)
            big = req.resource_spans[0].scope_spans[0].spans[2]
            big.attributes.add(key='blob', value=PB['common'].AnyValue(
                string_value='x' * (CEILING + 200000)))
            big_key = (big.trace_id, big.span_id)
            r = otlp_grpc_export(d.socket_path, req, timeout=20)
            self.assertEqual(r.code, grpc.StatusCode.OK, r.details)
            m = d.wait_metrics(lambda m: settled(m) and all(
                dest_sum(m, 'spanrelay_spans_exported_total', x) == 4 for x in DESTINATIONS),
                timeout=20)
            sent = spans_by_id([req])
            del sent[big_key]
            for be in (tempo, vendor):
                self.check_arrived(sent, be)
            for name in DESTINATIONS:
                self.assertEqual(m['spanrelay_spans_export_failed_total{destination="%s",'
                                   'reason="too_large"}' % name], 1)
                self.assertEqual(dest_sum(m, 'spanrelay_spans_export_failed_total', name), 1)
            self.check_books(m)
            lines = [x for x in d.log_lines()
                     if x.get('msg') == 'a span is larger than the backend accepts, dropped']
            self.assertEqual(sorted(x['destination'] for x in lines), list(DESTINATIONS))
            for x in lines:
                self.assertGreater(x['request_bytes'], CEILING)
                self.assertIn('max_request_bytes', x)
            print('\nlog: %s' % lines)
            self.assertEqual(d.stop(), 0)


if __name__ == '__main__':
    unittest.main()
