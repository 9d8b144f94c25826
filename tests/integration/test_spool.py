"""The disk spool (DESIGN decision 14) with the real daemon: an outage longer than the
ring loses nothing, a kill -9 loses only what was in memory, a SIGTERM with the backend
down spools what it could not send, and every process's books balance, received under
transport="spool" included. The outages are a few seconds: long enough to overflow a
64 KiB ring many times over, which is what the spool is for."""

import os
import shutil
import signal
import tempfile
import time
import unittest

from harness import (Daemon, FakeBackend, accounting, dest_sum, metric_sum, otlp_grpc_export,
                     simple_request, wait_for)

import grpc

RING = '64KiB'


def config(backend, spool_dir, **spool):
    s = {'dir': spool_dir, 'maxBytes': '10MiB', 'sync': 'always'}
    s.update(spool)
    return {'otel': {'endpoint': backend.grpc_endpoint},
            'receiver': {'maxRequestBytes': '32KiB'},
            'buffer': {'maxBytes': RING, 'spool': s},
            'exporter': {'batchTimeout': '20ms', 'maxBatchBytes': '16KiB', 'timeout': '1s',
                         'retry': {'initialInterval': '100ms', 'maxInterval': '500ms',
                                   'maxElapsedTime': '1h'}},
            'shutdownTimeout': '3s'}


def span_ids(request):
    return {s.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans
            for s in ss.spans}


def send(d, n_requests, spans_per_request=20, seed=0):
    """Sends requests over the daemon's socket; the span ids it accepted."""
    ids = set()
    for i in range(n_requests):
        req = simple_request(n_spans=spans_per_request, seed=seed + i)
        r = otlp_grpc_export(d.socket_path, req)
        if r.code == grpc.StatusCode.OK and not r.response.partial_success.rejected_spans:
            ids |= span_ids(req)
    return ids


def arrived(backend):
    return {s['spanId'] for s in backend.spans()}


def spool_files(spool_dir):
    lane = os.path.join(spool_dir, 'primary')
    return sorted(f for f in os.listdir(lane) if f.endswith('.seg')) if os.path.isdir(lane) \
        else []


class Spool(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='spool_itest.')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.be = FakeBackend(grpc=True, http=False).start()
        self.addCleanup(self.be.stop)

    def assert_books(self, m):
        acc = accounting(m)
        self.assertTrue(acc['holds'], acc)
        return acc

    def test_outage_longer_than_the_ring(self):
        """Backend down, ten rings' worth of spans: none dropped, the spool holds them
        (on /metrics and /health), the books balance at every look; backend back: every
        accepted span arrives, checked by id, and the disk is empty again."""
        self.be.stop()
        with Daemon(config(self.be, self.dir)) as d:
            ids = send(d, 600)   # about ten rings of spans (~60 bytes each)
            self.assertEqual(len(ids), 600 * 20)
            m = d.metrics()
            self.assertEqual(metric_sum(m, 'spanrelay_spans_dropped_overflow_total'), 0)
            self.assertGreater(metric_sum(m, 'spanrelay_spans_spooled'), len(ids) / 2)
            self.assertGreater(metric_sum(m, 'spanrelay_spool_bytes'), 64 * 1024)
            self.assert_books(m)
            h = d.health()
            self.assertEqual(h['spool']['up'], 1)
            self.assertGreater(h['spans']['spooled'], 0)
            self.assertTrue(wait_for(lambda: spool_files(self.dir), timeout=5))
            rss_outage = metric_sum(d.metrics(), 'process_resident_memory_bytes')

            self.be.start()
            self.assertTrue(wait_for(lambda: arrived(self.be) >= ids, timeout=60),
                            '%d of %d spans arrived' % (len(arrived(self.be) & ids), len(ids)))
            m = d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_spooled') == 0 and
                               metric_sum(m, 'spanrelay_spans_in_flight') == 0 and
                               metric_sum(m, 'spanrelay_spans_buffered') == 0, timeout=20)
            acc = self.assert_books(m)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), len(ids))
            self.assertEqual(acc['received'], len(ids))
            self.assertTrue(wait_for(lambda: not spool_files(self.dir), timeout=10))
            # The ring is 64 KiB; the spool keeps a few MiB of queues at most.
            self.assertLess(rss_outage, 64 * 1024 * 1024, rss_outage)
            self.assertEqual(d.stop(), 0)

    def test_kill_then_restart_sends_what_was_on_disk(self):
        """kill -9 during an outage with spans in the ring and on disk: a new process on
        the same directory sends every span that was on disk (counted received under
        transport="spool"); the only loss is what the old one had in memory."""
        self.be.stop()
        with Daemon(config(self.be, self.dir)) as d:
            ids = send(d, 300)
            # sync: always: once the writes are done, what is spooled is on disk.
            m = d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spool_bytes') > 0 and
                               metric_sum(m, 'spanrelay_spans_spooled') > 0, timeout=10)
            time.sleep(0.5)
            m = d.metrics()
            spooled = metric_sum(m, 'spanrelay_spans_spooled')
            in_memory = (metric_sum(m, 'spanrelay_spans_buffered') +
                         metric_sum(m, 'spanrelay_spans_in_flight'))
            self.assertEqual(spooled + in_memory, len(ids))
            self.assertEqual(d.stop(signal.SIGKILL), -9)

        self.be.start()
        with Daemon(config(self.be, self.dir)) as d2:
            m = d2.wait_metrics(lambda m: dest_sum(m, 'spanrelay_spans_received_total',
                                                   'primary') > 0, timeout=10)
            self.assertEqual(dest_sum(m, 'spanrelay_spans_received_total', 'primary'), spooled)
            self.assertTrue(wait_for(lambda: len(arrived(self.be) & ids) >= spooled,
                                     timeout=30))
            m = d2.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_spooled') == 0 and
                                metric_sum(m, 'spanrelay_spans_in_flight') == 0, timeout=20)
            self.assert_books(m)
            lost = ids - arrived(self.be)
            self.assertEqual(len(lost), in_memory)
            self.assertEqual(d2.stop(), 0)

    def test_sigterm_with_backend_down_spools_the_rest(self):
        """SIGTERM with the backend down: exit 0 within shutdownTimeout, the drain log
        says how much went to the spool; after a restart with the backend up every
        accepted span arrives."""
        self.be.stop()
        with Daemon(config(self.be, self.dir)) as d:
            ids = send(d, 200)
            t0 = time.monotonic()
            self.assertEqual(d.stop(timeout=10), 0)
            took = time.monotonic() - t0
            self.assertLess(took, 3.5, took)
            drained = [l for l in d.log_lines() if l.get('msg') == 'drained']
            self.assertTrue(drained)
            self.assertEqual(drained[-1]['spooled'], len(ids), drained[-1])
            self.assertEqual(drained[-1]['export_failed'], 0, drained[-1])

        self.be.start()
        with Daemon(config(self.be, self.dir)) as d2:
            self.assertTrue(wait_for(lambda: arrived(self.be) >= ids, timeout=30),
                            '%d of %d arrived' % (len(arrived(self.be) & ids), len(ids)))
            m = d2.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_spooled') == 0 and
                                metric_sum(m, 'spanrelay_spans_in_flight') == 0, timeout=20)
            self.assert_books(m)
            self.assertEqual(d2.stop(), 0)

    def test_healthy_backend_never_touches_the_disk(self):
        with Daemon(config(self.be, self.dir)) as d:
            ids = send(d, 20)
            self.assertTrue(wait_for(lambda: arrived(self.be) >= ids, timeout=10))
            m = d.metrics()
            self.assertEqual(metric_sum(m, 'spanrelay_spool_bytes'), 0)
            self.assertEqual(spool_files(self.dir), [])
            self.assertEqual(d.stop(), 0)


if __name__ == '__main__':
    unittest.main()
