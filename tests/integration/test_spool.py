"""The disk spool (DESIGN decision 14) with the real daemon: an outage longer than the
ring loses nothing (a 60 s one under steady JS SDK load, with RSS sampled throughout), a
kill -9 loses only what was in memory, a segment torn at a random byte is recovered up to
its last whole record, a full disk falls back to memory without touching ingest, a
SIGTERM with the backend down spools what it could not send (compressed batches too),
every destination spools under its own name, and every process's books balance,
received under transport="spool" included. Most outages are a few seconds: long enough to
overflow a 64 KiB ring many times over, which is what the spool is for."""

import os
import random
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (Daemon, FakeBackend, accounting, dest_sum, js_available, metric_sum,
                     otlp_grpc_export, run_js, simple_request, wait_for, PB)

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


def spool_files(spool_dir, lane='primary'):
    lane = os.path.join(spool_dir, lane)
    return sorted(f for f in os.listdir(lane) if f.endswith('.seg')) if os.path.isdir(lane) \
        else []


# The on-disk format of daemon/export/spool.h, read back by the tests.
SEG_HDR = 16
REC_HDR = 20        # u32 length, u32 spans, u64 time (ms), u32 CRC-32, little-endian


def read_cursor(lane_dir):
    """(segment number, offset) the reader has acknowledged up to; (0, 0) without one."""
    try:
        with open(os.path.join(lane_dir, 'cursor'), 'rb') as f:
            b = f.read()
    except FileNotFoundError:
        return 0, 0
    return struct.unpack_from('<QQ', b, 4)


def segment_records(path, skip_to=SEG_HDR):
    """[(start, end, span ids)] of the whole records of a segment file from skip_to on."""
    export_request = PB['trace_service'].ExportTraceServiceRequest
    with open(path, 'rb') as f:
        data = f.read()
    out = []
    at = max(skip_to, SEG_HDR)
    while at + REC_HDR <= len(data):
        length, spans = struct.unpack_from('<II', data, at)
        end = at + REC_HDR + length
        if end > len(data):
            break
        req = export_request.FromString(data[at + REC_HDR:end])
        ids = span_ids(req)
        assert len(ids) == spans, (path, at, len(ids), spans)
        out.append((at, end, ids))
        at = end
    return out


def rss(m):
    return metric_sum(m, 'process_resident_memory_bytes')


def settled(m):
    return (metric_sum(m, 'spanrelay_spans_spooled') == 0 and
            metric_sum(m, 'spanrelay_spans_in_flight') == 0 and
            metric_sum(m, 'spanrelay_spans_buffered') == 0)


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

    def kill_during_outage_then_restart(self, sync):
        """kill -9 during an outage with spans in the ring and on disk, the figures read
        less than one sync interval before: a new process on the same directory sends
        every span that was on disk (counted received under transport="spool"); the only
        loss is the old process's buffered + in_flight. A crash of the process leaves the
        page cache, so nothing written is lost whatever the sync mode."""
        self.be.stop()
        with Daemon(config(self.be, self.dir, sync=sync, syncInterval='1s')) as d:
            ids = send(d, 300)
            lane = os.path.join(self.dir, 'primary')

            def written(m):
                # The write queue is empty once the segment files hold every spooled byte.
                on_disk = sum(os.path.getsize(os.path.join(lane, f))
                              for f in spool_files(self.dir))
                return (metric_sum(m, 'spanrelay_spans_spooled') > 0 and
                        metric_sum(m, 'spanrelay_spool_bytes') == on_disk)
            d.wait_metrics(written, timeout=10)
            t_read = time.monotonic()
            m = d.metrics()
            spooled = metric_sum(m, 'spanrelay_spans_spooled')
            in_memory = (metric_sum(m, 'spanrelay_spans_buffered') +
                         metric_sum(m, 'spanrelay_spans_in_flight'))
            self.assertEqual(spooled + in_memory, len(ids))
            self.assertEqual(d.stop(signal.SIGKILL), -9)
            self.assertLess(time.monotonic() - t_read, 1.0, 'the kill came later than one '
                            'sync interval after the figures were read')

        self.be.start()
        with Daemon(config(self.be, self.dir)) as d2:
            m = d2.wait_metrics(lambda m: dest_sum(m, 'spanrelay_spans_received_total',
                                                   'primary') > 0, timeout=10)
            self.assertEqual(dest_sum(m, 'spanrelay_spans_received_total', 'primary'), spooled)
            self.assertTrue(wait_for(lambda: len(arrived(self.be) & ids) >= spooled,
                                     timeout=30))
            m = d2.wait_metrics(settled, timeout=20)
            self.assert_books(m)
            self.assertEqual(len(ids - arrived(self.be)), in_memory)
            self.assertEqual(d2.stop(), 0)

    def test_kill_then_restart_sends_what_was_on_disk(self):
        self.kill_during_outage_then_restart('always')

    def test_kill_with_interval_sync_loses_only_the_last_buffered(self):
        self.kill_during_outage_then_restart('interval')

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

    def test_segment_torn_at_a_random_byte(self):
        """A segment cut at a random byte offset (seeded; the seed is printed, and
        SPOOL_TEAR_SEED replays it) is recovered up to its last whole record: the new
        process sends exactly the spans of the whole records, and says what it cut."""
        self.be.stop()
        with Daemon(config(self.be, self.dir)) as d:
            ids = send(d, 300)
            self.assertEqual(d.stop(timeout=10), 0)   # everything it held is now on disk
        lane = os.path.join(self.dir, 'primary')
        cursor_seq, cursor_off = read_cursor(lane)
        segs = [f for f in spool_files(self.dir) if int(f[:16], 16) >= cursor_seq]
        self.assertTrue(segs)
        seed = int(os.environ.get('SPOOL_TEAR_SEED') or random.SystemRandom().getrandbits(32))
        rng = random.Random(seed)
        name = rng.choice(segs)
        path = os.path.join(lane, name)
        start = cursor_off if int(name[:16], 16) == cursor_seq else SEG_HDR
        records = segment_records(path, start)
        size = os.path.getsize(path)
        self.assertEqual(records[-1][1], size)
        cut = rng.randrange(records[0][0] + 1, size)
        print('torn segment: seed %d, %s cut at byte %d of %d' % (seed, name, cut, size))
        whole_end = max([e for _, e, _ in records if e <= cut] + [start])
        lost = set().union(*[r for _, e, r in records if e > cut])
        os.truncate(path, cut)

        self.be.start()
        with Daemon(config(self.be, self.dir)) as d2:
            want = ids - lost
            self.assertTrue(wait_for(lambda: arrived(self.be) >= want, timeout=30),
                            '%d of %d arrived' % (len(arrived(self.be) & want), len(want)))
            m = d2.wait_metrics(settled, timeout=20)
            self.assertEqual(arrived(self.be), want)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), len(want))
            self.assertEqual(dest_sum(m, 'spanrelay_spans_received_total', 'primary'),
                             len(want))
            self.assert_books(m)
            logs = d2.log_lines()
            cut_lines = [l for l in logs if l.get('msg') ==
                         'spool segment cut after its last whole record']
            recovered = [l for l in logs if l.get('msg') == 'spool recovered']
            self.assertEqual(len(recovered), 1, recovered)
            self.assertEqual(recovered[0]['torn_bytes'], cut - whole_end, recovered)
            self.assertEqual(recovered[0]['spans'], len(want), recovered)
            if cut > whole_end:
                self.assertEqual(len(cut_lines), 1, cut_lines)
                self.assertEqual(cut_lines[0]['level'], 'WARNING')
                self.assertEqual(cut_lines[0]['file'], name)
            self.assertEqual(d2.stop(), 0)

    def test_disk_full_falls_back_to_memory(self):
        """The spool on a 256 KiB tmpfs, filled: ingest goes on (every request answered
        OK, /health 200), the lane keeps to its ring and drops the newest as without a
        spool, one WARNING, counted; once the tmpfs is given room the spool is used again,
        and every span taken arrives once the backend is back."""
        mnt = os.path.join(self.dir, 'disk')
        os.mkdir(mnt)
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k,mode=0755',
                            'spanrelay-spool-test', mnt], capture_output=True, timeout=10)
        if r.returncode != 0:
            self.fail('cannot mount a tmpfs (root needed): %s' % r.stderr.decode())
        self.addCleanup(subprocess.run, ['umount', '-l', mnt], timeout=10)
        self.be.stop()
        with Daemon(config(self.be, mnt, sync='interval')) as d:
            codes = []

            def send_some(n, seed):
                ids = set()
                for i in range(n):
                    req = simple_request(n_spans=20, seed=seed + i)
                    r = otlp_grpc_export(d.socket_path, req)
                    codes.append(r.code)
                    if not r.response.partial_success.rejected_spans:
                        ids |= span_ids(req)
                return ids

            ids = set()
            deadline = time.monotonic() + 30
            seed = 0
            while not metric_sum(d.metrics(), 'spanrelay_spool_disk_errors_total'):
                self.assertLess(time.monotonic(), deadline, 'the tmpfs never filled')
                ids |= send_some(50, seed)
                seed += 50
            # Full: the ring takes what it can, the rest is dropped, ingest goes on.
            # A few retry intervals (exporter.retry.maxInterval, 500 ms) go by.
            t_full = time.monotonic()
            while time.monotonic() - t_full < 2.0:
                ids |= send_some(20, seed)
                seed += 20
                h = d.health()
                self.assertEqual(h['_http_status'], 200)
                self.assertEqual(h['spool']['up'], 0, h)
            m = d.metrics()
            self.assertEqual(set(codes), {grpc.StatusCode.OK})
            def spool_log():
                return [l for l in d.log_lines() if l.get('logger') == 'spanrelay.spool']
            # Log lines reach stderr through the log's writer thread: wait for them.
            spool_lines = wait_for(spool_log, timeout=5) or []
            self.assertEqual([(l['level'], l['msg']) for l in spool_lines],
                             [('WARNING', 'spool disk unusable: the lane keeps to memory')],
                             spool_lines)
            warnings = spool_lines
            self.assertEqual(metric_sum(m, 'spanrelay_spool_disk_errors_total'), 1)
            self.assertEqual(metric_sum(m, 'spanrelay_spool_up'), 0)
            dropped = metric_sum(m, 'spanrelay_spans_dropped_overflow_total')
            self.assertGreater(dropped, 0)
            self.assert_books(m)
            self.assertEqual(warnings[0]['error'], os.strerror(28))   # ENOSPC

            # Room again: the spool is used again, nothing more is dropped.
            r = subprocess.run(['mount', '-o', 'remount,size=8m', mnt], capture_output=True,
                               timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spool_up') == 1, timeout=10)
            self.assertTrue(wait_for(lambda: 'spool disk usable again' in
                                     [l['msg'] for l in spool_log()], timeout=5), spool_log())
            before = metric_sum(d.metrics(), 'spanrelay_spans_spooled')
            more = send_some(100, seed)
            self.assertEqual(len(more), 100 * 20)
            m = d.metrics()
            self.assertEqual(metric_sum(m, 'spanrelay_spans_dropped_overflow_total'), dropped)
            self.assertGreater(metric_sum(m, 'spanrelay_spans_spooled'), before)
            ids |= more

            self.be.start()
            self.assertTrue(wait_for(lambda: arrived(self.be) >= ids, timeout=30),
                            '%d of %d arrived' % (len(arrived(self.be) & ids), len(ids)))
            m = d.wait_metrics(settled, timeout=20)
            acc = self.assert_books(m)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'),
                             acc['received'] - dropped)
            self.assertEqual(metric_sum(m, 'spanrelay_spool_disk_errors_total'), 1)
            self.assertEqual(d.stop(), 0)

    def test_sigterm_spools_compressed_batches(self):
        """A compressing exporter's batches given up at shutdown reach the spool as plain
        records: none counted export_failed, all sent after a restart."""
        for compression in ('gzip', 'zstd'):
            with self.subTest(compression=compression):
                spool_dir = tempfile.mkdtemp(prefix='spool_itest.', dir=self.dir)
                cfg = config(self.be, spool_dir)
                cfg['exporter']['compression'] = compression
                self.be.stop()
                with Daemon(cfg) as d:
                    ids = send(d, 100, seed=1000)
                    # Batches are in the exporter's hands, waiting to be retried.
                    d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_exporter_retries_total')
                                   > 0 or metric_sum(m, 'spanrelay_spans_in_flight') > 0)
                    self.assertEqual(d.stop(timeout=10), 0)
                    drained = [l for l in d.log_lines() if l.get('msg') == 'drained'][-1]
                    self.assertEqual(drained['export_failed'], 0, drained)
                    self.assertEqual(drained['spooled'], len(ids), drained)
                    self.assertGreater(drained['spooled_at_shutdown'], 0, drained)
                self.be.start()
                with Daemon(cfg) as d2:
                    self.assertTrue(wait_for(lambda: arrived(self.be) >= ids, timeout=30))
                    m = d2.wait_metrics(settled, timeout=20)
                    self.assert_books(m)
                    self.assertEqual(d2.stop(), 0)


class Destinations(unittest.TestCase):
    def test_each_destination_spools_under_its_name(self):
        """Two destinations, both down: each spools in its own directory, a SIGTERM
        leaves both on disk, and after a restart each sends its own under its name
        (received, transport="spool", by destination), every span to both backends."""
        spool_dir = tempfile.mkdtemp(prefix='spool_itest.')
        self.addCleanup(shutil.rmtree, spool_dir, True)
        tempo = FakeBackend(grpc=True, http=False).start()
        vendor = FakeBackend(grpc=False, http=True).start()
        self.addCleanup(tempo.stop)
        self.addCleanup(vendor.stop)
        cfg = config(tempo, spool_dir)
        cfg['destinations'] = [{'name': 'vendor', 'endpoint': vendor.http_endpoint,
                                'protocol': 'http/protobuf', 'batchTimeout': '20ms',
                                'retry': cfg['exporter']['retry']}]
        tempo.stop()
        vendor.stop()
        with Daemon(cfg) as d:
            ids = send(d, 300)
            m = d.metrics()
            for dest in ('primary', 'vendor'):
                self.assertGreater(dest_sum(m, 'spanrelay_spans_spooled', dest), 0, dest)
                self.assertEqual(dest_sum(m, 'spanrelay_spans_dropped_overflow_total', dest),
                                 0, dest)
            self.assertTrue(accounting(m)['holds'], accounting(m))
            self.assertEqual(d.stop(timeout=10), 0)
            drained = {l['destination']: l for l in d.log_lines() if l.get('msg') == 'drained'}
            for dest in ('primary', 'vendor'):
                self.assertEqual(drained[dest]['spooled'], len(ids), drained[dest])
                self.assertTrue(spool_files(spool_dir, dest), dest)

        tempo.start()
        vendor.start()
        with Daemon(cfg) as d2:
            for be in (tempo, vendor):
                self.assertTrue(wait_for(lambda: arrived(be) >= ids, timeout=30),
                                '%d of %d' % (len(arrived(be) & ids), len(ids)))
            m = d2.wait_metrics(lambda m: all(
                dest_sum(m, t, dest) == 0 for dest in ('primary', 'vendor')
                for t in ('spanrelay_spans_spooled', 'spanrelay_spans_buffered',
                          'spanrelay_spans_in_flight')), timeout=20)
            for dest in ('primary', 'vendor'):
                self.assertEqual(m.get('spanrelay_spans_received_total{destination="%s",'
                                       'transport="spool"}' % dest), len(ids), dest)
                self.assertEqual(dest_sum(m, 'spanrelay_spans_exported_total', dest),
                                 len(ids), dest)
            self.assertTrue(accounting(m)['holds'], accounting(m))
            self.assertEqual(d2.stop(), 0)


# The outage of the "done when": 60 s, as asked. The rest of this file shows the
# same with outages of a few seconds; this one shows that the length of an outage does not
# show in memory. It runs as long under ASan (the load is the JS SDK's, far below what the
# daemon takes), where only the RSS bound is not checked (a sanitized build's RSS says
# nothing about the real one). run.py starts it first and gives it its longer bound
# (TIMEOUT_SECONDS), so with -j the other tests run beside it.
OUTAGE_S = 60
JS_RATE = 150            # spans/s: about 9 000 spans, some 5 MiB on disk, in the outage


class LongOutage(unittest.TestCase):
    TIMEOUT_SECONDS = 240

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='spool_itest.')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.be = FakeBackend(grpc=True, http=False).start()
        self.addCleanup(self.be.stop)

    def test_sixty_second_outage_under_js_sdk_load(self):
        """64 KiB ring, 10 MiB spool, the backend down for 60 s under a steady JS SDK
        load, then back: every span arrives, checked by id; nothing dropped; RSS during
        the outage stays under the fixed overhead (measured first, the process warmed up
        and its ring empty) plus the ring's bound and the spool's two queues."""
        if not js_available():
            self.fail('node or tests/interop/node_modules missing: run make deps')
        asan = os.environ.get('SPANRELAY_ASAN') == '1'
        with Daemon(config(self.be, self.dir, sync='interval')) as d:
            endpoint = 'unix://' + d.socket_path
            # Requests under receiver.maxRequestBytes (32 KiB): 32 spans each.
            js_args = ['--batch-size', '32']
            warm = run_js('grpc', endpoint, spans=500, traces=50, check=True,
                          extra_args=js_args)
            self.assertTrue(self.be.wait_for_spans(500, timeout=20))
            m = d.wait_metrics(settled, timeout=10)
            fixed = rss(m)

            self.be.stop()
            spans = JS_RATE * (OUTAGE_S + 5)
            load = {}

            def run_load():
                load.update(run_js('grpc', endpoint, spans=spans, traces=spans // 10,
                                   timeout=OUTAGE_S + 40,
                                   extra_args=js_args + ['--rate', str(JS_RATE)]))
            t = threading.Thread(target=run_load)
            t0 = time.monotonic()
            t.start()
            self.addCleanup(t.join, 60)
            peak_rss = peak_spool = 0
            while time.monotonic() - t0 < OUTAGE_S:
                m = d.metrics()
                peak_rss = max(peak_rss, rss(m))
                peak_spool = max(peak_spool, metric_sum(m, 'spanrelay_spool_bytes'))
                self.assertEqual(metric_sum(m, 'spanrelay_spans_dropped_overflow_total'), 0)
                self.assertTrue(accounting(m)['holds'], accounting(m))
                self.assertEqual(d.health()['_http_status'], 200)
                time.sleep(0.5)
            self.be.start()
            t.join(OUTAGE_S)
            self.assertFalse(t.is_alive(), 'the JS SDK load did not end')
            self.assertEqual(load.get('exitCode'), 0, load.get('stderr'))
            ids = {s['spanId'] for s in warm['spans'] + load['spans']}
            self.assertEqual(len(ids), 500 + spans)
            self.assertTrue(wait_for(lambda: arrived(self.be) >= ids, timeout=60),
                            '%d of %d arrived' % (len(arrived(self.be) & ids), len(ids)))
            m = d.wait_metrics(settled, timeout=20)
            acc = accounting(m)
            self.assertTrue(acc['holds'], acc)
            self.assertEqual(acc['received'], len(ids))
            self.assertEqual(metric_sum(m, 'spanrelay_spans_exported_total'), len(ids))
            self.assertEqual(metric_sum(m, 'spanrelay_spans_dropped_overflow_total'), 0)
            ring = metric_sum(m, 'spanrelay_buffer_capacity_bytes')
            bound = fixed + ring + SPOOL_QUEUES
            print('60 s outage: %d spans, spool peak %d bytes; RSS fixed %d, peak %d, '
                  'bound %d' % (spans, peak_spool, fixed, peak_rss, bound))
            # The check means something: more went to disk than the allowance for memory.
            self.assertGreater(peak_spool, ring + SPOOL_QUEUES)
            if not asan:
                self.assertLess(peak_rss, bound)
            self.assertEqual(d.stop(), 0)


# The spool's memory: its write queue and its read-ahead, 1 MiB each (spool.h).
SPOOL_QUEUES = 2 << 20


if __name__ == '__main__':
    unittest.main()
