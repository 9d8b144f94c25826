"""Raw HTTP/2 for tests that send what well-behaved clients never send: frames built by
hand on a plain socket, and the server's header blocks decoded with libnghttp2's own
HPACK decoder (through ctypes, so no Python HTTP/2 package is needed).

    c = H2Client(sock)                       preface + empty SETTINGS sent
    c.send(request_headers(1), data(1, grpc_message(body), end_stream=True))
    frames = c.read_until(lambda fs: ..., timeout=5)    server SETTINGS acknowledged
    c.headers(stream_id)                     decoded header fields the server sent on it
"""

import ctypes
import ctypes.util
import socket
import time

PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
EXPORT_PATH = b'/opentelemetry.proto.collector.trace.v1.TraceService/Export'

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, CANCEL = 0, 1, 7, 8
SETTINGS_MAX_CONCURRENT_STREAMS = 3


def frame(ftype, flags, stream, payload=b''):
    return len(payload).to_bytes(3, 'big') + bytes([ftype, flags]) + \
        stream.to_bytes(4, 'big') + payload


def parse_frames(data):
    """Splits raw HTTP/2 bytes into (type, flags, stream, payload) tuples and the rest."""
    out, i = [], 0
    while i + 9 <= len(data):
        length = int.from_bytes(data[i:i + 3], 'big')
        if i + 9 + length > len(data):
            break
        out.append((data[i + 3], data[i + 4], int.from_bytes(data[i + 5:i + 9], 'big') & 0x7fffffff,
                    data[i + 9:i + 9 + length]))
        i += 9 + length
    return out, data[i:]


def _literal(name_index, value):
    """HPACK literal header field without indexing, name from the static table."""
    head = bytes([name_index]) if name_index < 15 else bytes([0x0f, name_index - 15])
    assert len(value) < 127
    return head + bytes([len(value)]) + value


def request_headers(stream, path=EXPORT_PATH, content_type=b'application/grpc', end_stream=False):
    """A POST request's HEADERS frame (static-table indices: 4 :path, 1 :authority,
    31 content-type; 0x83 is :method POST, 0x86 :scheme http)."""
    block = b'\x83\x86' + _literal(4, path) + _literal(1, b'x') + _literal(31, content_type)
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)


def data(stream, payload, end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, stream, payload)


def grpc_message(body, declared_length=None):
    """A gRPC length-prefixed message; declared_length may lie."""
    n = len(body) if declared_length is None else declared_length
    return b'\x00' + n.to_bytes(4, 'big') + body


def error_code(f):
    """The error code of a RST_STREAM or GOAWAY frame."""
    payload = f[3]
    return int.from_bytes(payload[0:4] if f[0] == RST_STREAM else payload[4:8], 'big')


class _Nv(ctypes.Structure):
    _fields_ = [('name', ctypes.c_void_p), ('value', ctypes.c_void_p),
                ('namelen', ctypes.c_size_t), ('valuelen', ctypes.c_size_t),
                ('flags', ctypes.c_uint8)]


class HpackDecoder:
    """One connection's HPACK decoding context (libnghttp2's nghttp2_hd_inflater)."""
    _FINAL, _EMIT = 0x01, 0x02

    def __init__(self):
        self.lib = ctypes.CDLL(ctypes.util.find_library('nghttp2') or 'libnghttp2.so.14')
        self.lib.nghttp2_hd_inflate_hd2.restype = ctypes.c_ssize_t
        self.lib.nghttp2_hd_inflate_hd2.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(_Nv), ctypes.POINTER(ctypes.c_int),
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
        self.lib.nghttp2_hd_inflate_end_headers.argtypes = [ctypes.c_void_p]
        self.lib.nghttp2_hd_inflate_del.argtypes = [ctypes.c_void_p]
        self.inflater = ctypes.c_void_p()
        if self.lib.nghttp2_hd_inflate_new(ctypes.byref(self.inflater)) != 0:
            raise RuntimeError('nghttp2_hd_inflate_new failed')

    def decode(self, block):
        fields, off = [], 0
        while True:
            nv, flags = _Nv(), ctypes.c_int(0)
            rv = self.lib.nghttp2_hd_inflate_hd2(self.inflater, ctypes.byref(nv),
                                                 ctypes.byref(flags), block[off:],
                                                 len(block) - off, 1)
            if rv < 0:
                raise ValueError('HPACK decoding failed: %d' % rv)
            off += rv
            if flags.value & self._EMIT:
                fields.append((ctypes.string_at(nv.name, nv.namelen).decode(),
                               ctypes.string_at(nv.value, nv.valuelen).decode()))
            if flags.value & self._FINAL:
                self.lib.nghttp2_hd_inflate_end_headers(self.inflater)
                return fields
            if rv == 0 and not flags.value & self._EMIT:
                raise ValueError('truncated header block')

    def close(self):
        if self.inflater:
            self.lib.nghttp2_hd_inflate_del(self.inflater)
            self.inflater = None


class H2Client:
    """A hand-driven HTTP/2 client connection on a connected socket."""

    def __init__(self, sock):
        self.sock = sock
        self.frames = []
        self.closed = False
        self._rest = b''
        self._hpack = HpackDecoder()
        self._headers = {}
        sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, *frames):
        self.sock.sendall(b''.join(frames))

    def _take(self, chunk):
        fs, self._rest = parse_frames(self._rest + chunk)
        for f in fs:
            if f[0] == SETTINGS and not f[1] & ACK:
                self.sock.sendall(frame(SETTINGS, ACK, 0))
            if f[0] == HEADERS:
                assert f[1] & END_HEADERS, 'CONTINUATION frames are not handled here'
                self._headers.setdefault(f[2], []).extend(self._hpack.decode(f[3]))
        self.frames.extend(fs)

    def read_until(self, done, timeout=5.0):
        """Reads until done(frames so far) is true, the server closes, or timeout."""
        deadline = time.monotonic() + timeout
        while not done(self.frames) and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            self._take(chunk)
        return self.frames

    def headers(self, stream):
        """Every header field the server sent on stream, in order (trailers included)."""
        return self._headers.get(stream, [])

    def header(self, stream, name):
        values = [v for n, v in self.headers(stream) if n == name]
        return values[-1] if values else None

    def close(self):
        self._hpack.close()
        self.sock.close()
