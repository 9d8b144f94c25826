"""The OTLP receivers under good and bad input: every malformed, oversized, slow or
hostile request gets its documented status, nothing crashes, and other clients keep
being served. Counters are checked against exactly what was sent."""

import gzip
import json
import os
import socket
import struct
import threading
import time
import unittest

import grpc

import h2wire
from h2wire import H2Client
from harness import (Daemon, ExportTraceServiceRequest, metric_sum, metric_values,
                     otlp_grpc_export, otlp_http_export, random_request, span_count, status_pb2)

PREFACE = h2wire.PREFACE


def tcp_listeners():
    """Config overrides with gRPC and HTTP TCP listeners on free loopback ports."""
    from harness import free_port
    return {'receiver': {'grpc': '127.0.0.1:%d' % free_port(),
                         'http': '127.0.0.1:%d' % free_port()}}


def received(d, transport=None):
    m = d.metrics()
    if transport:
        return m.get('spanrelay_spans_received_total{transport="%s"}' % transport, 0)
    return metric_sum(m, 'spanrelay_spans_received_total')


def one_span_request(trace_id=b'\x01' * 16, span_id=b'\x02' * 8, parent=b''):
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = trace_id
    span.span_id = span_id
    span.parent_span_id = parent
    span.name = 'one'
    return req


def h2_frames(data):
    return h2wire.parse_frames(data)[0]


def read_until_closed(sock, timeout=5.0):
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            b = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not b:
            break
        chunks.append(b)
    return b''.join(chunks)


def stuff(sock, data, limit=8 << 20):
    """Writes data over and over without reading until the peer stops taking it (or
    limit bytes); returns the bytes written."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 5
    while sent < limit and time.monotonic() < deadline:
        try:
            sent += sock.send(data)
        except BlockingIOError:
            time.sleep(0.05)
            try:
                sent += sock.send(data)
            except BlockingIOError:
                break
        except OSError:
            break
    return sent


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


class GoodRequests(unittest.TestCase):
    def test_grpc_and_http_on_socket_and_tcp_count_exactly(self):
        with Daemon(tcp_listeners()) as d:
            sent = {'grpc': 0, 'http': 0}
            for i, target in enumerate([d.socket_path, 'http://' + d.config['receiver']['grpc']]):
                req = random_request(resources=2, scopes=2, spans=3, seed=i)
                r = otlp_grpc_export(target, req)
                self.assertEqual(r.code, grpc.StatusCode.OK, r.details)
                self.assertFalse(r.response.HasField('partial_success'))
                sent['grpc'] += span_count(req)
            for i, target in enumerate([d.socket_path, 'http://' + d.config['receiver']['http']]):
                req = random_request(resources=1, scopes=3, spans=4, seed=10 + i)
                r = otlp_http_export(target, req)
                self.assertEqual(r.status, 200, r.body)
                self.assertEqual(r.headers['content-type'], 'application/x-protobuf')
                sent['http'] += span_count(req)
            self.assertEqual(received(d, 'grpc'), sent['grpc'])
            self.assertEqual(received(d, 'http'), sent['http'])
            m = d.metrics()
            self.assertEqual(m['spanrelay_receiver_requests_total{code="0",transport="grpc"}'], 2)
            self.assertEqual(m['spanrelay_receiver_requests_total{code="200",transport="http"}'], 2)

    def test_grpc_gzip_and_http_gzip(self):
        with Daemon() as d:
            req = random_request(spans=5, seed=3)
            self.assertEqual(otlp_grpc_export(d.socket_path, req, compression='gzip').code,
                             grpc.StatusCode.OK)
            self.assertEqual(otlp_http_export(d.socket_path, req, compress=True).status, 200)
            self.assertEqual(received(d), 2 * span_count(req))

    def test_grpc_zstd_from_a_relay(self):
        # grpcio cannot send zstd; a second spanrelay exporting with zstd can, as an
        # OpenTelemetry Collector does.
        with Daemon(tcp_listeners()) as sink:
            relay_cfg = {'otel': {'endpoint': 'http://' + sink.config['receiver']['grpc']},
                         'exporter': {'compression': 'zstd', 'batchTimeout': '50ms'}}
            with Daemon(relay_cfg) as relay:
                req = random_request(spans=7, seed=4)
                self.assertEqual(otlp_grpc_export(relay.socket_path, req).code,
                                 grpc.StatusCode.OK)
                relay.wait_metrics(lambda m: metric_sum(
                    m, 'spanrelay_spans_exported_total') == span_count(req))
            self.assertEqual(received(sink, 'grpc'), span_count(req))
            self.assertEqual(sink.metrics()[
                'spanrelay_receiver_requests_total{code="0",transport="grpc"}'], 1)

    def test_http_json(self):
        with Daemon() as d:
            doc = {'resourceSpans': [{'resource': {'attributes': [
                {'key': 'service.name', 'value': {'stringValue': 'json-client'}}]},
                'scopeSpans': [{'scope': {'name': 's'}, 'spans': [
                    {'traceId': '5b8efff798038103d269b633813fc60c', 'spanId': 'eee19b7ec3c1b174',
                     'name': 'a', 'kind': 2, 'startTimeUnixNano': '1544712660000000000',
                     'endTimeUnixNano': '1544712661000000000',
                     'attributes': [{'key': 'n', 'value': {'intValue': '7'}}]},
                    {'traceId': '5b8efff798038103d269b633813fc60c', 'spanId': 'eee19b7ec3c1b175',
                     'parentSpanId': 'eee19b7ec3c1b174', 'name': 'b'}]}]}]}
            r = otlp_http_export(d.socket_path, json.dumps(doc).encode(),
                                 content_type='application/json')
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.headers['content-type'], 'application/json')
            json.loads(r.body)
            self.assertEqual(received(d, 'http'), 2)

    def test_http_chunked_body(self):
        with Daemon() as d:
            req = random_request(spans=4, seed=5)
            body = req.SerializeToString()
            s = unix_connect(d.socket_path)
            head = (b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
                    b'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n')
            chunks = b''
            for i in range(0, len(body), 50):
                part = body[i:i + 50]
                chunks += b'%x\r\n' % len(part) + part + b'\r\n'
            s.sendall(head + chunks + b'0\r\n\r\n')
            resp = read_until_closed(s)
            s.close()
            self.assertTrue(resp.startswith(b'HTTP/1.1 200 '), resp[:60])
            self.assertEqual(received(d, 'http'), span_count(req))

    def test_expect_100_continue(self):
        with Daemon() as d:
            body = random_request(spans=2, seed=6).SerializeToString()
            s = unix_connect(d.socket_path)
            s.sendall(b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
                      b'Expect: 100-continue\r\nContent-Length: %d\r\nConnection: close\r\n\r\n'
                      % len(body))
            s.settimeout(3)
            first = s.recv(100)
            self.assertTrue(first.startswith(b'HTTP/1.1 100 Continue'), first)
            s.sendall(body)
            resp = read_until_closed(s)
            s.close()
            self.assertIn(b'HTTP/1.1 200 ', first + resp)

    def test_many_concurrent_grpc_streams_on_one_connection(self):
        with Daemon() as d:
            reqs = [random_request(resources=1, scopes=1, spans=10, seed=100 + i) for i in range(50)]
            with grpc.insecure_channel('unix://' + d.socket_path) as ch:
                call = ch.unary_unary('/opentelemetry.proto.collector.trace.v1.TraceService/Export')
                futures = [call.future(r.SerializeToString(), timeout=10) for r in reqs]
                for f in futures:
                    f.result()
            self.assertEqual(received(d, 'grpc'), 500)


class InvalidSpans(unittest.TestCase):
    def test_bad_ids_are_dropped_and_reported(self):
        with Daemon() as d:
            req = ExportTraceServiceRequest()
            spans = req.resource_spans.add().scope_spans.add().spans
            good = spans.add(trace_id=b'\x01' * 16, span_id=b'\x02' * 8, name='good')
            spans.add(trace_id=b'\x01' * 15, span_id=b'\x02' * 8, name='short trace id')
            spans.add(trace_id=b'\x00' * 16, span_id=b'\x02' * 8, name='zero trace id')
            spans.add(trace_id=b'\x01' * 16, span_id=b'\x00' * 8, name='zero span id')
            spans.add(trace_id=b'\x01' * 16, span_id=b'\x02' * 8, parent_span_id=b'\x03' * 5,
                      name='bad parent')
            self.assertTrue(good)
            r = otlp_grpc_export(d.socket_path, req)
            self.assertEqual(r.code, grpc.StatusCode.OK)
            self.assertEqual(r.response.partial_success.rejected_spans, 4)
            self.assertIn('invalid', r.response.partial_success.error_message)
            r = otlp_http_export(d.socket_path, req)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.response.partial_success.rejected_spans, 4)
            m = d.metrics()
            self.assertEqual(metric_sum(m, 'spanrelay_spans_received_total'), 10)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_rejected_total'), 8)
            self.assertEqual(m['spanrelay_spans_rejected_total{reason="invalid_trace_id"}'], 4)
            self.assertEqual(m['spanrelay_spans_rejected_total{reason="invalid_span_id"}'], 2)
            self.assertEqual(m['spanrelay_spans_rejected_total{reason="invalid_parent_span_id"}'], 2)


class BadRequests(unittest.TestCase):
    """Each bad input gets its status; the daemon keeps serving a good client."""

    def setUp(self):
        self.d = Daemon(dict(tcp_listeners(), receiver=dict(tcp_listeners()['receiver'],
                                                            maxRequestBytes='64KiB')))
        self.d.start()
        self.addCleanup(self.d.close)

    def assert_still_serving(self):
        req = one_span_request()
        self.assertEqual(otlp_grpc_export(self.d.socket_path, req).code, grpc.StatusCode.OK)
        self.assertEqual(otlp_http_export(self.d.socket_path, req).status, 200)
        self.assertTrue(self.d.alive())

    def assert_grpc(self, body, code, **kw):
        r = otlp_grpc_export(self.d.socket_path, body, **kw)
        self.assertEqual(r.code, code, r.details)
        return r

    def assert_http(self, body, status, **kw):
        r = otlp_http_export(self.d.socket_path, body, **kw)
        self.assertEqual(r.status, status, r.body[:200])
        return r

    def test_truncated_protobuf(self):
        body = random_request(spans=5, seed=1).SerializeToString()
        for cut in (1, len(body) // 3, len(body) - 1):
            self.assert_grpc(body[:cut], grpc.StatusCode.INVALID_ARGUMENT)
            r = self.assert_http(body[:cut], 400)
            st = status_pb2.Status.FromString(r.body)
            self.assertEqual(st.code, 3)
            self.assertTrue(st.message)
        self.assertEqual(received(self.d), 0)
        self.assert_still_serving()

    def test_garbage_protobuf(self):
        garbage = os.urandom(4096)
        garbage = b'\x0f' + garbage[1:]   # field 1 with wire type 7: never valid
        self.assert_grpc(garbage, grpc.StatusCode.INVALID_ARGUMENT)
        self.assert_http(garbage, 400)
        self.assert_still_serving()

    def test_wrong_wire_types(self):
        # resource_spans (field 1) as a varint; a span's trace_id (field 1) as fixed64
        self.assert_grpc(b'\x08\x01', grpc.StatusCode.INVALID_ARGUMENT)
        span = b'\x09' + b'\x01' * 8
        ss = b'\x12' + bytes([len(span)]) + span
        rs = b'\x12' + bytes([len(ss)]) + ss
        body = b'\x0a' + bytes([len(rs)]) + rs
        r = self.assert_grpc(body, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn('wire type', r.details)
        self.assert_http(body, 400)
        self.assert_still_serving()

    def test_invalid_json(self):
        for body in (b'{"resourceSpans": [', b'not json', b'{"resourceSpans": 5}',
                     b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}'):
            r = self.assert_http(body, 400, content_type='application/json')
            self.assertEqual(r.headers['content-type'], 'application/json')
            self.assertIn('message', json.loads(r.body))
        self.assert_still_serving()

    def test_gzip_bomb(self):
        bomb = gzip.compress(b'\x00' * (20 << 20))
        self.assertLess(len(bomb), 64 << 10)
        self.assert_http(bomb, 413, compress=False,
                         headers={'Content-Encoding': 'gzip'})
        framed_bomb = bomb
        r = otlp_grpc_export(self.d.socket_path, framed_bomb, compression=None,
                             metadata=None)
        self.assertEqual(r.code, grpc.StatusCode.INVALID_ARGUMENT)  # not gzip-flagged: garbage
        self.assert_still_serving()

    def test_grpc_gzip_bomb(self):
        # grpcio compresses the message itself: a huge, very compressible message.
        req = ExportTraceServiceRequest()
        span = req.resource_spans.add().scope_spans.add().spans.add(
            trace_id=b'\x01' * 16, span_id=b'\x02' * 8)
        span.name = 'a' * (8 << 20)
        r = otlp_grpc_export(self.d.socket_path, req, compression='gzip')
        self.assertEqual(r.code, grpc.StatusCode.RESOURCE_EXHAUSTED, r.details)
        self.assert_still_serving()

    def test_oversized_body(self):
        big = one_span_request()
        big.resource_spans[0].scope_spans[0].spans[0].name = 'x' * (100 << 10)
        self.assert_grpc(big, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assert_http(big, 413)
        self.assert_still_serving()

    def test_wrong_content_type(self):
        r = self.assert_http(one_span_request(), 415, content_type='text/plain')
        self.assertTrue(r.body)
        self.assert_http(one_span_request(), 415, headers={'Content-Encoding': 'br'})
        self.assert_still_serving()

    def test_unknown_method_path_and_verb(self):
        with grpc.insecure_channel('unix://' + self.d.socket_path) as ch:
            try:
                ch.unary_unary('/opentelemetry.proto.collector.logs.v1.LogsService/Export')(
                    b'', timeout=3)
                self.fail('expected UNIMPLEMENTED')
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assert_http(one_span_request(), 404, path='/v1/logs')
        s = unix_connect(self.d.socket_path)
        s.sendall(b'GET /v1/traces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        self.assertTrue(read_until_closed(s).startswith(b'HTTP/1.1 405 '))
        s.close()
        self.assert_still_serving()

    def test_garbage_instead_of_http2_preface(self):
        port = int(self.d.config['receiver']['grpc'].rsplit(':', 1)[1])
        s = socket.create_connection(('127.0.0.1', port))
        s.sendall(b'GARBAGE GARBAGE GARBAGE GARBAGE\r\n\r\n')
        frames = h2_frames(read_until_closed(s))
        s.close()
        self.assertIn(0x7, [f[0] for f in frames], 'expected a GOAWAY frame')
        goaway = [f for f in frames if f[0] == 0x7][0]
        self.assertEqual(int.from_bytes(goaway[3][4:8], 'big'), 1)  # PROTOCOL_ERROR
        # On the socket: a preface that goes wrong half-way is a broken HTTP/2 client.
        s = unix_connect(self.d.socket_path)
        s.sendall(b'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n' + b'\x00' * 20)
        frames = h2_frames(read_until_closed(s))
        s.close()
        self.assertIn(0x7, [f[0] for f in frames])
        # Anything else on the socket is an HTTP/1.1 request that does not parse.
        s = unix_connect(self.d.socket_path)
        s.sendall(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + b'\x00' * 40)
        self.assertTrue(read_until_closed(s).startswith(b'HTTP/1.1 400 '))
        s.close()
        self.assert_still_serving()

    def test_client_stops_mid_body(self):
        body = random_request(spans=20, seed=9).SerializeToString()
        # HTTP/1.1: headers promise more than is sent, then the client goes away.
        s = unix_connect(self.d.socket_path)
        s.sendall(b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
                  b'Content-Length: %d\r\n\r\n' % len(body) + body[:len(body) // 2])
        # gRPC: a stream with half a message, never ended.
        g = unix_connect(self.d.socket_path)
        g.sendall(PREFACE + b'\x00\x00\x00\x04\x00\x00\x00\x00\x00')
        self.assert_still_serving()
        s.close()
        g.close()
        self.d.wait_metrics(lambda m: m['spanrelay_receiver_connections'] == 0, timeout=5)
        self.assertEqual(received(self.d), 2)  # the two spans of assert_still_serving

    def test_slow_client_does_not_stall_others(self):
        s = unix_connect(self.d.socket_path)
        s.sendall(b'POST /v1/traces HTTP/1.1\r\nHost: x\r\n')
        try:
            for _ in range(3):
                self.assert_still_serving()
        finally:
            s.close()

    def test_max_connections(self):
        d = Daemon({'receiver': {'maxConnections': 3}})
        d.start()
        self.addCleanup(d.close)
        held = [unix_connect(d.socket_path) for _ in range(3)]
        self.addCleanup(lambda: [h.close() for h in held])
        d.wait_metrics(lambda m: m['spanrelay_receiver_connections'] == 3, timeout=5)
        extra = unix_connect(d.socket_path)
        self.assertEqual(read_until_closed(extra, timeout=3), b'')
        extra.close()
        m = d.wait_metrics(lambda m: m['spanrelay_receiver_connections_refused_total'] >= 1)
        self.assertEqual(m['spanrelay_receiver_connections_refused_total'], 1)
        for h in held:
            h.close()
        d.wait_metrics(lambda m: m['spanrelay_receiver_connections'] == 0, timeout=5)
        self.assertEqual(otlp_grpc_export(d.socket_path, one_span_request()).code,
                         grpc.StatusCode.OK)


class GrpcLimits(unittest.TestCase):
    """Requests past the gRPC limits are refused one by one, as early as they can be
    told apart, and the connection goes on serving what is within them."""

    def test_message_declared_too_large_is_answered_at_the_prefix(self):
        with Daemon({'receiver': {'maxRequestBytes': '64KiB', 'requestTimeout': '20s'}}) as d:
            c = H2Client(unix_connect(d.socket_path))
            self.addCleanup(c.close)
            # 2 GiB declared, a few bytes sent, the stream never ended; then a prefix
            # split across two DATA frames.
            c.send(h2wire.request_headers(1),
                   h2wire.data(1, h2wire.grpc_message(b'\x0a\x00', declared_length=2 << 30)),
                   h2wire.request_headers(3),
                   h2wire.data(3, h2wire.grpc_message(b'', declared_length=65 << 10)[:2]),
                   h2wire.data(3, h2wire.grpc_message(b'', declared_length=65 << 10)[2:]))
            c.read_until(lambda fs: all(self.ended(fs, s) for s in (1, 3)), timeout=5)
            for stream in (1, 3):
                self.assertTrue(self.ended(c.frames, stream), 'stream %d not answered' % stream)
                self.assertEqual(c.header(stream, 'grpc-status'), '8')
                self.assertIn('maxRequestBytes', c.header(stream, 'grpc-message'))
                # and the client is told to stop sending the rest
                self.assertEqual(self.reset(c.frames, stream), h2wire.NO_ERROR)
            # The same connection still serves a request within the limit.
            body = one_span_request().SerializeToString()
            c.send(h2wire.request_headers(5), h2wire.data(5, h2wire.grpc_message(body), True))
            c.read_until(lambda fs: self.ended(fs, 5), timeout=5)
            self.assertEqual(c.header(5, 'grpc-status'), '0')
            self.assertNotIn(h2wire.GOAWAY, [f[0] for f in c.frames])
            m = d.metrics()
            self.assertEqual(m['spanrelay_receiver_requests_total{code="8",transport="grpc"}'], 2)
            self.assertEqual(m['spanrelay_receiver_requests_total{code="0",transport="grpc"}'], 1)
            self.assertEqual(received(d), 1)

    def test_streams_beyond_max_concurrent_streams_are_refused(self):
        with Daemon() as d:
            c = H2Client(unix_connect(d.socket_path))
            self.addCleanup(c.close)
            c.read_until(lambda fs: any(f[0] == h2wire.SETTINGS and not f[1] & h2wire.ACK
                                        for f in fs))
            settings = [f for f in c.frames if f[0] == h2wire.SETTINGS and not f[1] & h2wire.ACK][0]
            advertised = dict((int.from_bytes(settings[3][i:i + 2], 'big'),
                               int.from_bytes(settings[3][i + 2:i + 6], 'big'))
                              for i in range(0, len(settings[3]), 6))
            limit = advertised[h2wire.SETTINGS_MAX_CONCURRENT_STREAMS]
            self.assertEqual(limit, 100)
            streams = [1 + 2 * i for i in range(limit + 10)]
            # Every stream opened before any ends: the last ten are over the limit.
            c.send(*[h2wire.request_headers(s) for s in streams])
            body = h2wire.grpc_message(one_span_request().SerializeToString())
            c.send(*[h2wire.data(s, body, end_stream=True) for s in streams])
            c.read_until(lambda fs: all(self.ended(fs, s) or self.reset(fs, s) for s in streams),
                         timeout=10)
            self.assertNotIn(h2wire.GOAWAY, [f[0] for f in c.frames])
            for s in streams[:limit]:
                self.assertTrue(self.ended(c.frames, s), 'stream %d not answered' % s)
                self.assertEqual(c.header(s, 'grpc-status'), '0')
            for s in streams[limit:]:
                self.assertEqual(self.reset(c.frames, s), h2wire.REFUSED_STREAM)
            m = d.metrics()
            self.assertEqual(received(d), limit)
            self.assertEqual(m['spanrelay_receiver_requests_total{code="0",transport="grpc"}'],
                             limit)
            # Refused streams may be retried on the same connection.
            retry = streams[-1] + 2
            c.send(h2wire.request_headers(retry), h2wire.data(retry, body, end_stream=True))
            c.read_until(lambda fs: self.ended(fs, retry), timeout=5)
            self.assertEqual(c.header(retry, 'grpc-status'), '0')

    @staticmethod
    def ended(frames, stream):
        return any(f[2] == stream and f[0] in (h2wire.HEADERS, h2wire.DATA)
                   and f[1] & h2wire.END_STREAM for f in frames)

    @staticmethod
    def reset(frames, stream):
        codes = [h2wire.error_code(f) for f in frames if f[0] == h2wire.RST_STREAM and f[2] == stream]
        return codes[0] if codes else None


class SocketFile(unittest.TestCase):
    def test_stale_socket_is_replaced(self):
        import tempfile
        tmp = tempfile.mkdtemp(prefix='spanrelay-sock-')
        path = os.path.join(tmp, 'sub', 'otlp.sock')
        os.makedirs(os.path.dirname(path))
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()  # the file stays, nobody listens: what a crash leaves
        try:
            with Daemon({'receiver': {'socket': path}}) as d:
                self.assertEqual(otlp_grpc_export(path, one_span_request()).code,
                                 grpc.StatusCode.OK)
                mode = os.stat(path).st_mode & 0o777
                self.assertEqual(mode, 0o660)
                self.assertIn('removed stale socket file', d.log_text())
        finally:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)

    def test_live_socket_is_not_taken_over(self):
        with Daemon() as first:
            second = Daemon({'receiver': {'socket': first.socket_path}}, wait_healthy=False)
            try:
                second.start()
                second.proc.wait(timeout=5)
                self.assertNotEqual(second.proc.returncode, 0)
                self.assertIn('another process is listening', second.log_text())
            finally:
                second.close()
            self.assertEqual(otlp_grpc_export(first.socket_path, one_span_request()).code,
                             grpc.StatusCode.OK)

    def test_parent_directory_is_created_and_mode_applied(self):
        import tempfile
        tmp = tempfile.mkdtemp(prefix='spanrelay-sock-')
        path = os.path.join(tmp, 'a', 'b', 'otlp.sock')
        try:
            with Daemon({'receiver': {'socket': path, 'socketMode': '0600'}}):
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        finally:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    unittest.main()


class ClientsThatDoNotRead(unittest.TestCase):
    def test_pipelining_client_that_never_reads_is_bounded_and_closed(self):
        with Daemon({'receiver': {'requestTimeout': '1s', 'idleTimeout': '2s'}}) as d:
            socks = []
            req = (b'POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n') * 2000
            for _ in range(20):
                s = unix_connect(d.socket_path)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                stuff(s, req)
                socks.append(s)
            self.addCleanup(lambda: [s.close() for s in socks])
            rss = d.metrics()['process_resident_memory_bytes']
            if os.environ.get('SPANRELAY_ASAN') != '1':
                self.assertLess(rss, 64 << 20, 'answers to a non-reading client piled up: %d' % rss)
            d.wait_metrics(lambda m: m['spanrelay_receiver_connections'] == 0, timeout=15)
            self.assertEqual(otlp_grpc_export(d.socket_path, one_span_request()).code,
                             grpc.StatusCode.OK)

    def test_health_port_client_that_never_reads(self):
        with Daemon() as d:
            before = d.metrics()['process_resident_memory_bytes']
            socks = []
            for _ in range(10):
                s = socket.create_connection(('127.0.0.1', d.health_port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                stuff(s, b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' * 200)
                socks.append(s)
            self.addCleanup(lambda: [s.close() for s in socks])
            time.sleep(0.5)
            grown = d.metrics()['process_resident_memory_bytes'] - before
            # each connection may hold about 256 KiB of unread answers, no more (a sanitized
            # build's allocator keeps freed memory, so its RSS says nothing here)
            if os.environ.get('SPANRELAY_ASAN') != '1':
                self.assertLess(grown, 24 << 20, 'RSS grew by %d' % grown)
            self.assertEqual(d.health()['_http_status'], 200)


class HttpEdges(unittest.TestCase):
    def test_head_gets_headers_only(self):
        with Daemon() as d:
            s = socket.create_connection(('127.0.0.1', d.health_port))
            s.sendall(b'HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n'
                      b'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            data = read_until_closed(s)
            s.close()
            head, rest = data.split(b'\r\n\r\n', 1)
            self.assertTrue(head.startswith(b'HTTP/1.1 200 '))
            length = int([l for l in head.split(b'\r\n') if l.lower().startswith(b'content-length')][0].split(b':')[1])
            self.assertGreater(length, 0)
            self.assertTrue(rest.startswith(b'HTTP/1.1 200 '), 'HEAD answer carried a body')

    def test_upgrade_request_is_answered_then_closed(self):
        with Daemon() as d:
            s = unix_connect(d.socket_path)
            s.sendall(b'GET /v1/traces HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n'
                      b'Upgrade: websocket\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n')
            data = read_until_closed(s)
            s.close()
            self.assertTrue(data.startswith(b'HTTP/1.1 405 '), data[:40])
            self.assertEqual(data.count(b'HTTP/1.1 '), 1)


class Timeouts(unittest.TestCase):
    """receiver.requestTimeout and receiver.idleTimeout end connections that stall or sit
    idle, so a slow client cannot hold memory or a connection slot for ever."""

    def setUp(self):
        self.d = Daemon({'receiver': {'requestTimeout': '1s', 'idleTimeout': '1500ms'}})
        self.d.start()
        self.addCleanup(self.d.close)

    def test_http_request_that_never_completes_gets_408(self):
        s = unix_connect(self.d.socket_path)
        t0 = time.monotonic()
        s.sendall(b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
                  b'Content-Length: 100\r\n\r\nabc')
        resp = read_until_closed(s, timeout=10)
        s.close()
        self.assertTrue(resp.startswith(b'HTTP/1.1 408 '), resp[:40])
        self.assertLess(time.monotonic() - t0, 5)
        self.d.wait_metrics(lambda m: m['spanrelay_receiver_connections'] == 0, timeout=5)

    def test_grpc_stream_that_stalls_is_reset_even_when_the_client_pings(self):
        """A stream gets requestTimeout from its headers however busy the client keeps
        the connection: PINGs do not buy a stalled request more time. The connection,
        left without streams, is then closed after idleTimeout with a GOAWAY."""
        s = unix_connect(self.d.socket_path)
        path = b'/opentelemetry.proto.collector.trace.v1.TraceService/Export'
        hpack = bytes([0x83, 0x86, 0x44, len(path)]) + path + bytes([0x41, 0x01]) + b'x'
        s.sendall(PREFACE + b'\x00\x00\x00\x04\x00\x00\x00\x00\x00'
                  + len(hpack).to_bytes(3, 'big') + b'\x01\x04\x00\x00\x00\x01' + hpack
                  + b'\x00\x00\x03\x00\x00\x00\x00\x00\x01' + b'\x00\x00\x00')
        t0 = time.monotonic()
        data = b''
        s.settimeout(0.2)
        while time.monotonic() - t0 < 8:
            try:
                s.sendall(b'\x00\x00\x08\x06\x00\x00\x00\x00\x00' + b'pingping')
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            if 0x7 in [f[0] for f in h2_frames(data)]:
                break
            time.sleep(0.1)
        s.close()
        frames = h2_frames(data)
        rst = [f for f in frames if f[0] == 0x3 and f[2] == 1]
        self.assertTrue(rst, 'stream 1 was not reset')
        self.assertIn(0x7, [f[0] for f in frames], 'expected a GOAWAY once idle')
        self.assertLess(time.monotonic() - t0, 6)

    def test_idle_connections_are_closed(self):
        silent = unix_connect(self.d.socket_path)       # never says anything
        kept = unix_connect(self.d.socket_path)         # one request, then idle
        body = one_span_request().SerializeToString()
        kept.sendall(b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
                     b'Content-Length: %d\r\n\r\n' % len(body) + body)
        t0 = time.monotonic()
        resp = read_until_closed(kept, timeout=10)
        self.assertTrue(resp.startswith(b'HTTP/1.1 200 '), resp[:40])
        self.assertEqual(read_until_closed(silent, timeout=10), b'')
        self.assertLess(time.monotonic() - t0, 6)
        silent.close()
        kept.close()
        self.d.wait_metrics(lambda m: m['spanrelay_receiver_connections'] == 0, timeout=5)
        with grpc.insecure_channel('unix://' + self.d.socket_path) as ch:
            call = ch.unary_unary('/opentelemetry.proto.collector.trace.v1.TraceService/Export')
            call(body, timeout=5)
            self.d.wait_metrics(lambda m: m['spanrelay_receiver_connections'] == 1, timeout=5)
            # the idle gRPC connection is closed by the daemon, not by the client
            self.d.wait_metrics(lambda m: m['spanrelay_receiver_connections'] == 0, timeout=6)
