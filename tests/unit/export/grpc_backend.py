#!/usr/bin/python3
"""grpc_backend.py: a fake OTLP/gRPC backend for tests/unit/export/test_exporter_grpc.c.

    /usr/bin/python3 tests/unit/export/grpc_backend.py --mode MODE --record FILE
        [--tls-cert PEM --tls-key PEM] [--expect N] [--lifetime SECONDS]

Listens on 127.0.0.1 on a free port and prints that port on stdout, one line, once it
accepts connections. It ends when killed, or after --lifetime seconds as a safety net.

Answers, by --mode:
  ok               grpcio answers an empty ExportTraceServiceResponse
  partial          partial_success {rejected_spans: 3, error_message: "3 spans too old"}
  unavailable      UNAVAILABLE "backend says xyz (100% busy)"
  exhausted_retry  RESOURCE_EXHAUSTED with a google.rpc.Status in grpc-status-details-bin
                   carrying RetryInfo {retry_delay: 2.5 s}
  exhausted        RESOURCE_EXHAUSTED without details
  invalid          INVALID_ARGUMENT "bad spans"
  too_large        RESOURCE_EXHAUSTED "grpc: received message larger than max (N vs. 64)"
                   (grpc-go's words) with a RetryInfo, N the request's size
  too_large_java   INVALID_ARGUMENT "gRPC message exceeds maximum size 64: N"
  concurrent       answers OK once --expect calls are in the handler at once (or after
                   3 s), recording "peak N", the most seen at the same time
  reset            cuts the connection with a TCP RST at the first DATA frame
  reset_first      like reset on the first connection only, then like ok
  hang             speaks HTTP/2 itself and never answers a request
  http503/http404/http413  speaks HTTP/2 itself, answers ":status 503" (404, 413) with
                   no grpc-status
  goaway           speaks HTTP/2 itself: once --expect requests have arrived, answers the
                   first with grpc-status 0 and sends GOAWAY with it as last_stream_id

Without TLS, clients reach grpcio through a relay in this process that decodes what the
client sends (HPACK through libnghttp2 by ctypes) and appends to the record file:
    request <stream id>
    header <name> <value>          one per header, in order
    flag <compressed flag> length <prefix length> payload <bytes after the prefix>
    decoded <yes|no|error> sha256 <hex of the decoded message> size <its length>
    end
and "rst <stream id> <error code>", "goaway <last stream id> <error code>" for those
frames from the client. With TLS, grpcio listens itself (no relay, no records).
"""

import argparse
import ctypes
import ctypes.util
import gzip
import hashlib
import os
import socket
import struct
import sys
import threading
import time
from concurrent import futures

import grpc

try:
    import zstandard
except ImportError:
    zstandard = None

SERVICE = 'opentelemetry.proto.collector.trace.v1.TraceService'
PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
RAW_MODES = ('hang', 'http503', 'http404', 'http413', 'goaway')


# ------------------------------------------------------------------ protobuf by hand

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, value):
    return varint(num << 3 | 2) + varint(len(value)) + value


def export_response(rejected, message):
    partial = field_varint(1, rejected) + field_bytes(2, message.encode())
    return field_bytes(1, partial)


def status_with_retry_info(code, message, seconds, nanos):
    duration = field_varint(1, seconds) + field_varint(2, nanos)
    retry_info = field_bytes(1, duration)
    detail = (field_bytes(1, b'type.googleapis.com/google.rpc.RetryInfo') +
              field_bytes(2, retry_info))
    return field_varint(1, code) + field_bytes(2, message.encode()) + field_bytes(3, detail)


# ------------------------------------------------------------------ records

class Recorder:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, 'a', encoding='utf-8')

    def write(self, text):
        with self.lock:
            self.f.write(text)
            self.f.flush()


# ------------------------------------------------------------------ HPACK via libnghttp2

class NV(ctypes.Structure):
    _fields_ = [('name', ctypes.POINTER(ctypes.c_uint8)),
                ('value', ctypes.POINTER(ctypes.c_uint8)),
                ('namelen', ctypes.c_size_t),
                ('valuelen', ctypes.c_size_t),
                ('flags', ctypes.c_uint8)]


_lib = ctypes.CDLL(ctypes.util.find_library('nghttp2') or 'libnghttp2.so.14')
_lib.nghttp2_hd_inflate_new.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
_lib.nghttp2_hd_inflate_del.argtypes = [ctypes.c_void_p]
_lib.nghttp2_hd_inflate_hd2.argtypes = [ctypes.c_void_p, ctypes.POINTER(NV),
                                        ctypes.POINTER(ctypes.c_int), ctypes.c_char_p,
                                        ctypes.c_size_t, ctypes.c_int]
_lib.nghttp2_hd_inflate_hd2.restype = ctypes.c_ssize_t
_lib.nghttp2_hd_inflate_end_headers.argtypes = [ctypes.c_void_p]
INFLATE_FINAL, INFLATE_EMIT = 0x01, 0x02


class Inflater:
    """One HPACK decoding context: a connection's header blocks, in order."""

    def __init__(self):
        self.ptr = ctypes.c_void_p()
        if _lib.nghttp2_hd_inflate_new(ctypes.byref(self.ptr)) != 0:
            raise RuntimeError('nghttp2_hd_inflate_new failed')

    def close(self):
        if self.ptr:
            _lib.nghttp2_hd_inflate_del(self.ptr)
            self.ptr = ctypes.c_void_p()

    def decode(self, block):
        headers = []
        data = bytes(block)
        while True:
            nv = NV()
            flags = ctypes.c_int(0)
            n = _lib.nghttp2_hd_inflate_hd2(self.ptr, ctypes.byref(nv), ctypes.byref(flags),
                                           data, len(data), 1)
            if n < 0:
                raise RuntimeError('HPACK decoding failed: %d' % n)
            data = data[n:]
            if flags.value & INFLATE_EMIT:
                headers.append((ctypes.string_at(nv.name, nv.namelen).decode('latin-1'),
                                ctypes.string_at(nv.value, nv.valuelen).decode('latin-1')))
            if flags.value & INFLATE_FINAL:
                _lib.nghttp2_hd_inflate_end_headers(self.ptr)
                return headers
            if not flags.value & INFLATE_EMIT and not data:
                return headers


# ------------------------------------------------------------------ HTTP/2 framing

def frame(ftype, flags, stream_id, payload=b''):
    return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack('>I', stream_id) + payload


class ClientReader:
    """Splits what a client sends into frames and requests; records each request."""

    def __init__(self, recorder):
        self.recorder = recorder
        self.buf = b''
        self.preface = False
        self.inflater = Inflater()
        self.streams = {}
        self.block = None  # (stream id, flags, header block) until END_HEADERS

    def feed(self, data):
        """Returns the frames completed by data: (type, flags, stream id, payload)."""
        self.buf += data
        frames = []
        if not self.preface:
            if len(self.buf) < len(PREFACE):
                return frames
            self.buf = self.buf[len(PREFACE):]
            self.preface = True
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[0:3], 'big')
            if len(self.buf) < 9 + length:
                break
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], 'big') & 0x7fffffff
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            frames.append((ftype, flags, sid, payload))
            self.on_frame(ftype, flags, sid, payload)
        return frames

    def on_frame(self, ftype, flags, sid, payload):
        if ftype in (DATA, HEADERS) and flags & PADDED:
            pad = payload[0]
            payload = payload[1:len(payload) - pad]
        if ftype == HEADERS:
            if flags & PRIORITY:
                payload = payload[5:]
            self.block = (sid, flags, bytearray(payload))
            if flags & END_HEADERS:
                self.headers_done()
        elif ftype == CONTINUATION and self.block:
            self.block[2].extend(payload)
            if flags & END_HEADERS:
                self.headers_done()
        elif ftype == DATA:
            st = self.streams.get(sid)
            if st is not None:
                st['data'].extend(payload)
                if flags & END_STREAM:
                    self.request_done(sid)
        elif ftype == RST_STREAM:
            self.recorder.write('rst %d %d\n' % (sid, int.from_bytes(payload[:4], 'big')))
        elif ftype == GOAWAY:
            self.recorder.write('goaway %d %d\n' % (int.from_bytes(payload[:4], 'big') & 0x7fffffff,
                                                    int.from_bytes(payload[4:8], 'big')))

    def headers_done(self):
        sid, flags, block = self.block
        self.block = None
        headers = self.inflater.decode(block)
        if sid not in self.streams:
            self.streams[sid] = {'headers': headers, 'data': bytearray(), 'complete': False}
        if flags & END_STREAM:
            self.request_done(sid)

    def request_done(self, sid):
        st = self.streams[sid]
        st['complete'] = True
        data = bytes(st['data'])
        lines = ['request %d' % sid]
        lines += ['header %s %s' % (name, value) for name, value in st['headers']]
        encoding = dict(st['headers']).get('grpc-encoding', 'identity')
        flag, length, message = -1, -1, b''
        if len(data) >= 5:
            flag, length, message = data[0], int.from_bytes(data[1:5], 'big'), data[5:]
        lines.append('flag %d length %d payload %d' % (flag, length, len(message)))
        decoded, body = 'yes', message
        try:
            if flag == 1 and encoding == 'gzip':
                body = gzip.decompress(message)
            elif flag == 1 and encoding == 'zstd':
                if zstandard is None:
                    decoded, body = 'no', b''
                else:
                    body = zstandard.ZstdDecompressor().decompressobj().decompress(message)
            elif flag != 0:
                decoded, body = 'no', b''
        except Exception:  # noqa: BLE001  (any decoding failure is the finding)
            decoded, body = 'error', b''
        lines.append('decoded %s sha256 %s size %d' % (decoded, hashlib.sha256(body).hexdigest(),
                                                       len(body)))
        lines.append('end')
        self.recorder.write('\n'.join(lines) + '\n')


# ------------------------------------------------------------------ the relay

class Relay:
    def __init__(self, mode, recorder, upstream_port, expect):
        self.mode = mode
        self.recorder = recorder
        self.upstream_port = upstream_port
        self.expect = expect
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def serve(self):
        while True:
            client, _ = self.sock.accept()
            with self.lock:
                self.connections += 1
                number = self.connections
            target = self.raw if self.mode in RAW_MODES else self.forward
            threading.Thread(target=target, args=(client, number), daemon=True).start()

    def forward(self, client, number):
        reset = self.mode == 'reset' or (self.mode == 'reset_first' and number == 1)
        upstream = socket.create_connection(('127.0.0.1', self.upstream_port))
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        reader = ClientReader(self.recorder)
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                frames = reader.feed(data)
                if reset and any(f[0] == DATA for f in frames):
                    self.recorder.write('reset\n')
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                    break
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            reader.inflater.close()
            close_quietly(client)
            close_quietly(upstream)

    def raw(self, client, number):
        del number
        reader = ClientReader(self.recorder)
        answered = set()
        try:
            client.sendall(frame(SETTINGS, 0, 0))
            while True:
                data = client.recv(65536)
                if not data:
                    break
                for ftype, flags, sid, payload in reader.feed(data):
                    if ftype == SETTINGS and not flags & ACK:
                        client.sendall(frame(SETTINGS, ACK, 0))
                    elif ftype == PING and not flags & ACK:
                        client.sendall(frame(PING, ACK, 0, payload))
                done = sorted(s for s, st in reader.streams.items()
                              if st['complete'] and s not in answered)
                self.raw_answer(client, done, answered)
        except OSError:
            pass
        finally:
            reader.inflater.close()
            close_quietly(client)

    def raw_answer(self, client, done, answered):
        if self.mode in ('http503', 'http404', 'http413'):
            status = self.mode[4:].encode()
            for sid in done:
                # Literal header without indexing, name :status (static index 8).
                block = b'\x08' + bytes([len(status)]) + status
                client.sendall(frame(HEADERS, END_HEADERS | END_STREAM, sid, block))
                answered.add(sid)
        elif self.mode == 'goaway' and len(done) >= self.expect and not answered:
            first = done[0]
            trailers = b'\x00\x0bgrpc-status\x010'
            client.sendall(frame(HEADERS, END_HEADERS, first, b'\x88') +
                           frame(DATA, 0, first, b'\x00\x00\x00\x00\x00') +
                           frame(HEADERS, END_HEADERS | END_STREAM, first, trailers) +
                           frame(GOAWAY, 0, 0, struct.pack('>II', first, 0)))
            answered.update(done)


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        close_quietly(src)
        close_quietly(dst)


def close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


# ------------------------------------------------------------------ grpcio handlers

class Handler:
    def __init__(self, mode, recorder, expect):
        self.mode = mode
        self.recorder = recorder
        self.expect = expect
        self.cond = threading.Condition()
        self.active = 0
        self.peak = 0

    def export(self, request, context):
        mode = self.mode
        if mode == 'too_large':
            details = status_with_retry_info(8, 'too large', 1, 0)
            context.set_trailing_metadata((('grpc-status-details-bin', details),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          'grpc: received message larger than max (%d vs. 64)' % len(request))
        if mode == 'too_large_java':
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          'gRPC message exceeds maximum size 64: %d' % len(request))
        if mode == 'partial':
            return export_response(3, '3 spans too old')
        if mode == 'unavailable':
            context.abort(grpc.StatusCode.UNAVAILABLE, 'backend says xyz (100% busy)')
        if mode == 'exhausted_retry':
            details = status_with_retry_info(8, 'slow down', 2, 500000000)
            context.set_trailing_metadata((('grpc-status-details-bin', details),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, 'slow down')
        if mode == 'exhausted':
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, 'quota exceeded')
        if mode == 'invalid':
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'bad spans')
        if mode == 'concurrent':
            with self.cond:
                self.active += 1
                self.peak = max(self.peak, self.active)
                self.cond.notify_all()
                self.cond.wait_for(lambda: self.peak >= self.expect, timeout=3)
                self.active -= 1
                self.recorder.write('peak %d\n' % self.peak)
        return b''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--mode', required=True)
    ap.add_argument('--record', required=True)
    ap.add_argument('--tls-cert')
    ap.add_argument('--tls-key')
    ap.add_argument('--expect', type=int, default=2)
    ap.add_argument('--lifetime', type=float, default=120)
    args = ap.parse_args()

    recorder = Recorder(args.record)
    server = None
    upstream_port = 0
    if args.mode not in RAW_MODES:
        handler = Handler(args.mode, recorder, args.expect)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                             options=[('grpc.max_receive_message_length', 64 << 20)])
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            SERVICE, {'Export': grpc.unary_unary_rpc_method_handler(handler.export)}),))
        if args.tls_cert:
            with open(args.tls_key, 'rb') as f:
                key = f.read()
            with open(args.tls_cert, 'rb') as f:
                cert = f.read()
            creds = grpc.ssl_server_credentials([(key, cert)])
            upstream_port = server.add_secure_port('127.0.0.1:0', creds)
        else:
            upstream_port = server.add_insecure_port('127.0.0.1:0')
        server.start()

    if args.tls_cert:
        port = upstream_port
    else:
        relay = Relay(args.mode, recorder, upstream_port, args.expect)
        threading.Thread(target=relay.serve, daemon=True).start()
        port = relay.port

    sys.stdout.write('%d\n' % port)
    sys.stdout.flush()
    time.sleep(args.lifetime)
    os._exit(0)


if __name__ == '__main__':
    main()
