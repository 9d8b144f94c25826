#!/usr/bin/python3
"""A fake OTLP trace backend for spanrelay's integration tests and benchmarks.

Two real servers on loopback, both optional:
  * OTLP/gRPC: a python3-grpcio server implementing
    /opentelemetry.proto.collector.trace.v1.TraceService/Export through a generic
    handler (bytes in, bytes out, decoded with the classes tests/integration/pygen.sh
    generates). Clients reach it through a small TCP relay in front of it, so that the
    backend can cut connections with a TCP RST (the 'reset' response) and be taken down
    and brought back on the same port.
  * OTLP/HTTP: http.server (threaded, HTTP/1.1 keep-alive) for POST /v1/traces with
    protobuf or JSON bodies, Content-Length or chunked, gzip/deflate/zstd Content-Encoding.

In-process API (thread-safe):

    be = FakeBackend(grpc=True, http=True, tls=None or (cert_file, key_file)).start()
    be.grpc_endpoint   'http://127.0.0.1:P' ('https://' with tls); be.grpc_target '127.0.0.1:P'
    be.http_endpoint   'http://127.0.0.1:P2'; be.http_url = http_endpoint + '/v1/traces'
    be.respond_next([('unavailable',), ('ok',), ('partial', 3, 'msg'),
                     ('resource_exhausted', 1.5 or None), ('invalid_argument',),
                     ('http', 429, {'Retry-After': '1'}), ('http', 503), ('hang',),
                     ('reset',), ('delay', 0.5), ('grpc', 'UNAUTHENTICATED', 'details')])
        one entry per coming request, either transport; then be.set_default(spec) (('ok',)).
    be.requests        list of Request (transport, path, headers, metadata, span_count,
                       response, accepted, message — decoded lazily)
    be.headers         list of the header dicts, one per request
    be.spans()         span dicts (resource and scope attached) from accepted requests
    be.span_count()    spans in accepted requests (all requests with accepted_only=False)
    be.wait_for_spans(n, timeout) / be.wait_for_requests(n, timeout) -> bool
    ('reset',) cuts every open gRPC connection with a TCP RST (the relay does it), or the
    HTTP connection the request came on (SO_LINGER 0, no response).
    ('hang', seconds=30) answers nothing until the client gives up, stop(), or seconds.
    FakeBackend(max_request_bytes=N) refuses every request whose (decompressed) body is
    over N bytes, before any response spec, as real servers do: gRPC RESOURCE_EXHAUSTED
    "grpc: received message larger than max (size vs. N)" (grpc-go's words), HTTP 413.
    Such requests are not recorded; be.refused_too_large counts them.
    be.stop(); be.start() again brings it back on the same ports, records kept.
    FakeBackend(grpc_socket=PATH, http_socket=PATH) also listens on UNIX sockets, relayed
    to the same servers (to try clients' UNIX-socket endpoint forms).

Standalone (benchmarks):
    /usr/bin/python3 tests/integration/fake_backend.py --grpc-port P --http-port P2 \
        [--record FILE] [--count-only] [--tls-cert C --tls-key K]
prints {"grpc_port":..,"http_port":..} when listening, and the counts on SIGTERM/SIGINT.
"""

import base64
import gzip
import json
import os
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYGEN = os.environ.get('PYGEN_DIR', os.path.join(ROOT, 'build', 'pygen'))
EXPORT_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export'
MAX_HTTP_BODY = 64 << 20


def load_protos():
    """Makes build/pygen importable (generating it when absent) and returns the modules."""
    if not os.path.isdir(os.path.join(PYGEN, 'opentelemetry')):
        subprocess.run([os.path.join(ROOT, 'tests', 'integration', 'pygen.sh')],
                       check=True, timeout=60)
    if PYGEN not in sys.path:
        sys.path.insert(0, PYGEN)
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.resource.v1 import resource_pb2
    from google.rpc import status_pb2, error_details_pb2
    return {
        'trace_service': trace_service_pb2, 'trace': trace_pb2, 'common': common_pb2,
        'resource': resource_pb2, 'status': status_pb2, 'error_details': error_details_pb2,
    }


PB = load_protos()
ExportTraceServiceRequest = PB['trace_service'].ExportTraceServiceRequest
ExportTraceServiceResponse = PB['trace_service'].ExportTraceServiceResponse

import grpc  # noqa: E402  (after sys.path is set, for symmetry with the generated modules)
from google.protobuf import duration_pb2, json_format  # noqa: E402


# ---------------------------------------------------------------- decoding helpers

def any_value_to_py(v):
    """AnyValue -> str | bool | int | float | bytes | list | dict | None."""
    which = v.WhichOneof('value')
    if which is None:
        return None
    if which == 'array_value':
        return [any_value_to_py(x) for x in v.array_value.values]
    if which == 'kvlist_value':
        return attrs_to_dict(v.kvlist_value.values)
    return getattr(v, which)


def attrs_to_dict(kvs):
    return {kv.key: any_value_to_py(kv.value) for kv in kvs}


def span_to_dict(span, resource_spans=None, scope_spans=None):
    """One span in the shape tests/interop/emit.js reports spans in."""
    d = {
        'traceId': span.trace_id.hex(),
        'spanId': span.span_id.hex(),
        'parentSpanId': span.parent_span_id.hex(),
        'traceState': span.trace_state,
        'flags': span.flags,
        'name': span.name,
        'kind': span.kind,
        'startTimeUnixNano': str(span.start_time_unix_nano),
        'endTimeUnixNano': str(span.end_time_unix_nano),
        'attributes': attrs_to_dict(span.attributes),
        'droppedAttributesCount': span.dropped_attributes_count,
        'events': [{
            'name': e.name,
            'timeUnixNano': str(e.time_unix_nano),
            'attributes': attrs_to_dict(e.attributes),
            'droppedAttributesCount': e.dropped_attributes_count,
        } for e in span.events],
        'droppedEventsCount': span.dropped_events_count,
        'links': [{
            'traceId': ln.trace_id.hex(),
            'spanId': ln.span_id.hex(),
            'traceState': ln.trace_state,
            'attributes': attrs_to_dict(ln.attributes),
            'droppedAttributesCount': ln.dropped_attributes_count,
            'flags': ln.flags,
        } for ln in span.links],
        'droppedLinksCount': span.dropped_links_count,
        'status': {'code': span.status.code, 'message': span.status.message},
    }
    if resource_spans is not None:
        d['resource'] = attrs_to_dict(resource_spans.resource.attributes)
        d['resourceSchemaUrl'] = resource_spans.schema_url
    if scope_spans is not None:
        d['scope'] = {'name': scope_spans.scope.name, 'version': scope_spans.scope.version}
        d['scopeAttributes'] = attrs_to_dict(scope_spans.scope.attributes)
        d['scopeSchemaUrl'] = scope_spans.schema_url
    return d


def request_spans(msg):
    """Span dicts of an ExportTraceServiceRequest, resource and scope attached."""
    out = []
    for rs in msg.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                out.append(span_to_dict(sp, rs, ss))
    return out


def count_spans(msg):
    return sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)


_ID_KEYS = {'traceId', 'spanId', 'parentSpanId', 'trace_id', 'span_id', 'parent_span_id'}


def _hex_ids_to_base64(node):
    """OTLP/JSON carries ids as hex; protobuf's JSON mapping wants base64 for bytes."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str):
                out[k] = base64.b64encode(bytes.fromhex(v)).decode() if v else ''
            else:
                out[k] = _hex_ids_to_base64(v)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(x) for x in node]
    return node


def decode_otlp_json(body):
    """Parses an OTLP/JSON ExportTraceServiceRequest body into the protobuf message."""
    doc = json.loads(body.decode('utf-8'))
    msg = ExportTraceServiceRequest()
    json_format.ParseDict(_hex_ids_to_base64(doc), msg, ignore_unknown_fields=True)
    return msg


# ---------------------------------------------------------------- response specs

_HTTP_TO_GRPC = {
    400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED',
    404: 'UNIMPLEMENTED', 408: 'DEADLINE_EXCEEDED', 413: 'RESOURCE_EXHAUSTED',
    429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 501: 'UNIMPLEMENTED', 502: 'UNAVAILABLE',
    503: 'UNAVAILABLE', 504: 'UNAVAILABLE',
}
_GRPC_TO_HTTP = {
    'INVALID_ARGUMENT': 400, 'UNAUTHENTICATED': 401, 'PERMISSION_DENIED': 403,
    'NOT_FOUND': 404, 'UNIMPLEMENTED': 404, 'RESOURCE_EXHAUSTED': 429, 'UNAVAILABLE': 503,
    'DEADLINE_EXCEEDED': 504, 'INTERNAL': 500, 'UNKNOWN': 500, 'ABORTED': 409,
    'CANCELLED': 499, 'FAILED_PRECONDITION': 400, 'OUT_OF_RANGE': 400,
    'DATA_LOSS': 500, 'ALREADY_EXISTS': 409,
}


def normalize_spec(spec):
    """Validates one response spec; returns it as a tuple."""
    if isinstance(spec, str):
        spec = (spec,)
    spec = tuple(spec)
    if not spec:
        raise ValueError('empty response spec')
    kind = spec[0]
    if kind == 'ok':
        return ('ok',)
    if kind == 'partial':
        rejected = int(spec[1]) if len(spec) > 1 else 0
        return ('partial', rejected, str(spec[2]) if len(spec) > 2 else '')
    if kind in ('unavailable', 'invalid_argument'):
        return (kind, str(spec[1]) if len(spec) > 1 else 'fake backend: ' + kind)
    if kind == 'resource_exhausted':
        delay = spec[1] if len(spec) > 1 else None
        return ('resource_exhausted', None if delay is None else float(delay))
    if kind == 'grpc':
        code = str(spec[1]).upper()
        getattr(grpc.StatusCode, code)  # raises AttributeError on an unknown code
        delay = spec[3] if len(spec) > 3 else None
        return ('grpc', code, str(spec[2]) if len(spec) > 2 else 'fake backend: ' + code.lower(),
                None if delay is None else float(delay))
    if kind == 'http':
        status = int(spec[1])
        headers = dict(spec[2]) if len(spec) > 2 and spec[2] else {}
        body = spec[3] if len(spec) > 3 else None
        return ('http', status, headers, body)
    if kind == 'hang':
        return ('hang', float(spec[1]) if len(spec) > 1 and spec[1] is not None else 30.0)
    if kind == 'delay':
        return ('delay', float(spec[1]) if len(spec) > 1 else 1.0)
    if kind == 'reset':
        return ('reset',)
    raise ValueError('unknown response spec %r' % (spec,))


def _grpc_error_of(spec):
    """(code name, details, retry delay seconds or None) for a failing spec, else None."""
    kind = spec[0]
    if kind == 'unavailable':
        return ('UNAVAILABLE', spec[1], None)
    if kind == 'invalid_argument':
        return ('INVALID_ARGUMENT', spec[1], None)
    if kind == 'resource_exhausted':
        return ('RESOURCE_EXHAUSTED', 'fake backend: resource exhausted', spec[1])
    if kind == 'grpc':
        return (spec[1], spec[2], spec[3])
    if kind == 'http':
        status, headers = spec[1], spec[2]
        if status < 300:
            return None
        delay = None
        for k, v in headers.items():
            if k.lower() == 'retry-after':
                try:
                    delay = float(v)
                except ValueError:
                    delay = None
        return (_HTTP_TO_GRPC.get(status, 'UNKNOWN'), 'fake backend: HTTP %d' % status, delay)
    return None


def _http_error_of(spec):
    """(status, headers, message) for a failing spec, else None."""
    kind = spec[0]
    if kind == 'http':
        if spec[1] < 300:
            return None
        return (spec[1], spec[2], 'fake backend: HTTP %d' % spec[1])
    err = _grpc_error_of(spec)
    if err is None:
        return None
    code, details, delay = err
    headers = {}
    if delay is not None:
        headers['Retry-After'] = str(max(0, int(delay + 0.999)))
    return (_GRPC_TO_HTTP.get(code, 500), headers, details)


def _status_bytes(code_name, message, retry_delay=None):
    st = PB['status'].Status(code=getattr(grpc.StatusCode, code_name).value[0], message=message)
    if retry_delay is not None:
        secs = int(retry_delay)
        info = PB['error_details'].RetryInfo(retry_delay=duration_pb2.Duration(
            seconds=secs, nanos=int(round((retry_delay - secs) * 1e9))))
        st.details.add().Pack(info)
    return st.SerializeToString()


def _partial_response(spec):
    resp = ExportTraceServiceResponse()
    if spec[0] == 'partial':
        resp.partial_success.rejected_spans = spec[1]
        resp.partial_success.error_message = spec[2]
    return resp


# ---------------------------------------------------------------- records

class Request:
    """One request the backend received."""

    def __init__(self, transport, path, headers, metadata, body, fmt, message, span_count,
                 response, error=None):
        self.transport = transport          # 'grpc' | 'http'
        self.path = path
        self.headers = headers              # lower-cased name -> value (last wins)
        self.metadata = metadata            # [(name, value)] as received
        self.body = body                    # decompressed body bytes (None in count-only mode)
        self.format = fmt                   # 'protobuf' | 'json'
        self._message = message
        self.span_count = span_count
        self.response = response            # the spec answered with
        self.error = error                  # decode error, when the body did not parse
        self.time = time.time()

    @property
    def accepted(self):
        return self.error is None and self.response[0] in ('ok', 'partial', 'delay')

    @property
    def message(self):
        if self._message is None and self.body is not None and self.error is None:
            if self.format == 'json':
                self._message = decode_otlp_json(self.body)
            else:
                self._message = ExportTraceServiceRequest.FromString(self.body)
        return self._message

    def spans(self):
        msg = self.message
        return request_spans(msg) if msg is not None else []

    def __repr__(self):
        return '<Request %s %s spans=%d response=%r>' % (self.transport, self.path,
                                                         self.span_count, self.response)


# ---------------------------------------------------------------- TCP relay in front of gRPC

class _Pair:
    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.running = 2

    def _shut(self, sock, how):
        try:
            sock.shutdown(how)
        except OSError:
            pass

    def abort(self, rst):
        if rst:
            try:
                self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            except OSError:
                pass
            self._shut(self.client, socket.SHUT_RD)   # wakes the reader, sends nothing
        else:
            self._shut(self.client, socket.SHUT_RDWR)
        self._shut(self.upstream, socket.SHUT_RDWR)

    def done(self):
        with self.lock:
            self.running -= 1
            last = self.running == 0
        if last:
            self.client.close()
            self.upstream.close()
        return last


class _TcpFront:
    """Accepts on host:port (or a UNIX socket path) and relays each connection to
    127.0.0.1:upstream_port."""

    def __init__(self, host, port, upstream_port, unix_path=None):
        self.host = host
        self.port = port
        self.unix_path = unix_path
        self.upstream_port = upstream_port
        self.pairs = set()
        self.lock = threading.Lock()
        self.connections_total = 0
        self._listener = None
        self._thread = None
        self._stopping = threading.Event()

    def start(self):
        if self.unix_path:
            ls = socket.socket(socket.AF_UNIX)
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            ls.bind(self.unix_path)
        else:
            ls = socket.socket(socket.AF_INET6 if ':' in self.host else socket.AF_INET)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((self.host, self.port))
            self.port = ls.getsockname()[1]
        ls.listen(128)
        ls.settimeout(0.2)
        self._listener = ls
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name='fake-grpc-front',
                                        daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            client.settimeout(None)
            try:
                upstream = socket.create_connection(('127.0.0.1', self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                if s.family != socket.AF_UNIX:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream)
            with self.lock:
                self.pairs.add(pair)
                self.connections_total += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(pair, src, dst),
                                 name='fake-grpc-pump', daemon=True).start()

    def _pump(self, pair, src, dst):
        try:
            while True:
                data = src.recv(262144)
                if not data:
                    break
                dst.sendall(data)
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        except OSError:
            pair.abort(rst=False)
        finally:
            if pair.done():
                with self.lock:
                    self.pairs.discard(pair)

    def reset_all(self):
        """Cuts every relayed connection with a TCP RST to the client."""
        with self.lock:
            pairs = list(self.pairs)
        for p in pairs:
            p.abort(rst=True)
        return len(pairs)

    def open_connections(self):
        with self.lock:
            return len(self.pairs)

    def stop(self):
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            if self.unix_path:
                try:
                    os.unlink(self.unix_path)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self.lock:
            pairs = list(self.pairs)
        for p in pairs:
            p.abort(rst=False)


# ---------------------------------------------------------------- HTTP server

class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, backend, ssl_context):
        self.backend = backend
        self.ssl_context = ssl_context
        self.open_sockets = set()
        self.sockets_lock = threading.Lock()
        self.connections_total = 0
        if ':' in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)

    def server_bind(self):
        # HTTPServer.server_bind would resolve the host name; loopback needs none.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        with self.sockets_lock:
            self.open_sockets.add(sock)
            self.connections_total += 1
        return sock, addr

    def shutdown_request(self, request):
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # Clients that vanish or fail TLS are part of the tests; anything else is shown.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def close_all_connections(self):
        with self.sockets_lock:
            socks = list(self.open_sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'fake-otlp/1'
    timeout = 60

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(10)
            self.connection.do_handshake()
            self.connection.settimeout(self.timeout)

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        self.server.backend._http_request(self)

    def do_GET(self):
        self._plain(404, b'not found')

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _plain(self, status, body, ctype='text/plain', headers=None):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def read_body(self):
        """The request body (Content-Length or chunked), or None after answering an error."""
        te = (self.headers.get('Transfer-Encoding') or '').lower()
        if 'chunked' in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return None
                size = int(line.split(b';', 1)[0].strip() or b'0', 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b'\r\n', b'\n', b''):
                        pass
                    break
                total += size
                if total > MAX_HTTP_BODY:
                    self.close_connection = True
                    self._plain(413, b'body too large')
                    return None
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b''.join(parts)
        length = self.headers.get('Content-Length')
        if length is None:
            self.close_connection = True
            self._plain(411, b'length required')
            return None
        length = int(length)
        if length > MAX_HTTP_BODY:
            self.close_connection = True
            self._plain(413, b'body too large')
            return None
        return self.rfile.read(length)


# ---------------------------------------------------------------- the backend

class FakeBackend:
    def __init__(self, grpc=True, http=True, tls=None, host='127.0.0.1', grpc_port=0,
                 http_port=0, count_only=False, max_workers=32, grpc_socket=None,
                 http_socket=None, max_request_bytes=None):
        self.enable_grpc = grpc
        self.enable_http = http
        self.tls = tls
        self.host = host
        self.grpc_port = grpc_port
        self.http_port = http_port
        self.count_only = count_only
        self.max_workers = max_workers
        self.grpc_socket = grpc_socket      # optional UNIX socket path relayed to the gRPC server
        self.http_socket = http_socket      # optional UNIX socket path relayed to the HTTP server
        self.max_request_bytes = max_request_bytes
        self.refused_too_large = 0
        self._fronts = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue = []
        self._default = ('ok',)
        self._requests = []
        self._totals = {'grpc': [0, 0, 0], 'http': [0, 0, 0]}  # requests, spans, accepted spans
        self._stopping = threading.Event()
        self._grpc_server = None
        self._front = None
        self._http_front = None
        self._httpd = None
        self._http_thread = None
        self.running = False

    # -- lifecycle

    def start(self):
        if self.running:
            return self
        self._stopping.clear()
        if self.enable_grpc:
            self._start_grpc()
        if self.enable_http:
            self._start_http()
        self.running = True
        return self

    def _start_grpc(self):
        server = grpc.server(
            _thread_pool(self.max_workers),
            handlers=[_GenericHandler(self)],
            options=[('grpc.max_receive_message_length', -1),
                     ('grpc.max_send_message_length', -1),
                     ('grpc.so_reuseport', 0)],
            maximum_concurrent_rpcs=None)
        if self.tls:
            cert, key = self.tls
            with open(cert, 'rb') as f:
                cert_pem = f.read()
            with open(key, 'rb') as f:
                key_pem = f.read()
            creds = grpc.ssl_server_credentials([(key_pem, cert_pem)])
            inner = server.add_secure_port('127.0.0.1:0', creds)
        else:
            inner = server.add_insecure_port('127.0.0.1:0')
        if not inner:
            raise RuntimeError('fake backend: gRPC server could not bind')
        server.start()
        self._grpc_server = server
        self._front = _TcpFront(self.host, self.grpc_port, inner)
        self._front.start()
        self.grpc_port = self._front.port
        self._fronts = [self._front]
        if self.grpc_socket:
            extra = _TcpFront(None, 0, inner, unix_path=self.grpc_socket)
            extra.start()
            self._fronts.append(extra)

    def _start_http(self):
        ctx = None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls[0], self.tls[1])
        self._httpd = _HttpServer((self.host, self.http_port), _HttpHandler, self, ctx)
        self.http_port = self._httpd.server_address[1]
        self._http_thread = threading.Thread(target=self._httpd.serve_forever,
                                             kwargs={'poll_interval': 0.1},
                                             name='fake-http', daemon=True)
        self._http_thread.start()
        if self.http_socket:
            self._http_front = _TcpFront(None, 0, self.http_port, unix_path=self.http_socket)
            self._http_front.start()

    def stop(self):
        """Closes listeners and every connection; records stay; start() brings it back."""
        if not self.running:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for front in self._fronts:
            front.stop()
        self._fronts = []
        if self._http_front is not None:
            self._http_front.stop()
            self._http_front = None
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=0).wait(5)
            self._grpc_server = None
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_all_connections()
            self._httpd.server_close()
            self._http_thread.join(timeout=5)
            self._httpd = None
        self.running = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- addresses

    @property
    def grpc_endpoint(self):
        return '%s://%s:%d' % ('https' if self.tls else 'http', _host_for_url(self.host),
                               self.grpc_port)

    @property
    def grpc_target(self):
        return '%s:%d' % (_host_for_url(self.host), self.grpc_port)

    @property
    def http_endpoint(self):
        return '%s://%s:%d' % ('https' if self.tls else 'http', _host_for_url(self.host),
                               self.http_port)

    @property
    def http_url(self):
        return self.http_endpoint + '/v1/traces'

    # -- programming responses

    def respond_next(self, specs):
        specs = [normalize_spec(s) for s in specs]
        with self._lock:
            self._queue.extend(specs)

    def set_default(self, spec):
        spec = normalize_spec(spec)
        with self._lock:
            self._default = spec

    def clear_responses(self):
        with self._lock:
            self._queue.clear()
            self._default = ('ok',)

    def pending_responses(self):
        with self._lock:
            return len(self._queue)

    def _next_spec(self):
        with self._lock:
            return self._queue.pop(0) if self._queue else self._default

    # -- records

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    @property
    def headers(self):
        return [r.headers for r in self.requests]

    def spans(self, accepted_only=True):
        out = []
        for r in self.requests:
            if r.accepted or not accepted_only:
                out.extend(r.spans())
        return out

    def span_count(self, accepted_only=True):
        with self._lock:
            if accepted_only:
                return self._totals['grpc'][2] + self._totals['http'][2]
            return self._totals['grpc'][1] + self._totals['http'][1]

    def counts(self):
        with self._lock:
            return {t: {'requests': v[0], 'spans': v[1], 'accepted_spans': v[2]}
                    for t, v in self._totals.items()}

    def reset_records(self):
        with self._lock:
            self._requests.clear()
            self._totals = {'grpc': [0, 0, 0], 'http': [0, 0, 0]}

    def wait_for_spans(self, n, timeout=10.0, accepted_only=True):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                t = self._totals
                have = (t['grpc'][2] + t['http'][2]) if accepted_only else (t['grpc'][1] + t['http'][1])
                if have >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))

    def wait_for_requests(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._totals['grpc'][0] + self._totals['http'][0] < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def connection_counts(self):
        """Connections accepted since start(), by listener: grpc_tcp, grpc_unix, http_tcp,
        http_unix (UNIX-socket connections reach the HTTP server through a relay and are
        not counted again under http_tcp)."""
        fronts = list(self._fronts)
        out = {'grpc_tcp': fronts[0].connections_total if fronts else 0,
               'grpc_unix': sum(f.connections_total for f in fronts[1:]),
               'http_unix': self._http_front.connections_total if self._http_front else 0}
        out['http_tcp'] = (self._httpd.connections_total - out['http_unix']) if self._httpd else 0
        return out

    def grpc_connections(self):
        """(open now, accepted in total) on the gRPC port."""
        fronts = list(self._fronts)
        return (sum(f.open_connections() for f in fronts),
                sum(f.connections_total for f in fronts))

    def _record(self, transport, path, headers, metadata, body, fmt, spec):
        msg, err, n = None, None, 0
        try:
            msg = decode_otlp_json(body) if fmt == 'json' else ExportTraceServiceRequest.FromString(body)
            n = count_spans(msg)
        except Exception as e:  # noqa: BLE001 — any decode failure is recorded as such
            err = '%s: %s' % (type(e).__name__, e)
            msg = None
        if self.count_only:
            body, msg = None, None
        req = Request(transport, path, headers, metadata, body, fmt, msg, n, spec, err)
        with self._cond:
            if not self.count_only:
                self._requests.append(req)
            tot = self._totals[transport]
            tot[0] += 1
            tot[1] += n
            if req.accepted:
                tot[2] += n
            self._cond.notify_all()
        return req

    def _too_large(self, body):
        if self.max_request_bytes is None or len(body) <= self.max_request_bytes:
            return False
        with self._lock:
            self.refused_too_large += 1
        return True

    # -- gRPC

    def _grpc_export(self, request, context):
        metadata = [(m.key, m.value) for m in context.invocation_metadata()]
        headers = {}
        for k, v in metadata:
            headers[k.lower()] = v
        if self._too_large(request):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          'grpc: received message larger than max (%d vs. %d)'
                          % (len(request), self.max_request_bytes))
        spec = self._next_spec()
        req = self._record('grpc', EXPORT_METHOD, headers, metadata, request, 'protobuf', spec)
        if req.error is not None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'cannot decode request: ' + req.error)
        kind = spec[0]
        if kind == 'delay':
            self._stopping.wait(spec[1])
            return b''
        if kind == 'hang':
            deadline = time.monotonic() + spec[1]
            while (context.is_active() and not self._stopping.is_set()
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            context.abort(grpc.StatusCode.UNAVAILABLE, 'fake backend: hang ended')
        if kind == 'reset':
            for front in list(self._fronts):
                front.reset_all()
            deadline = time.monotonic() + 2
            while context.is_active() and time.monotonic() < deadline:
                time.sleep(0.01)
            context.abort(grpc.StatusCode.UNAVAILABLE, 'fake backend: connection reset')
        err = _grpc_error_of(spec)
        if err is not None:
            code, details, delay = err
            context.set_trailing_metadata(
                (('grpc-status-details-bin', _status_bytes(code, details, delay)),))
            context.abort(getattr(grpc.StatusCode, code), details)
        return _partial_response(spec).SerializeToString()

    # -- HTTP

    def _http_request(self, h):
        path = h.path.split('?', 1)[0]
        if path != '/v1/traces':
            h._plain(404, b'not found')
            return
        raw = h.read_body()
        if raw is None:
            return
        headers = {k.lower(): v for k, v in h.headers.items()}
        metadata = list(h.headers.items())
        enc = headers.get('content-encoding', 'identity').strip().lower()
        try:
            if enc == 'gzip':
                body = gzip.decompress(raw)
            elif enc == 'deflate':
                body = zlib.decompress(raw)
            elif enc == 'zstd':
                import zstandard
                body = zstandard.ZstdDecompressor().decompress(raw, max_output_size=MAX_HTTP_BODY)
            elif enc in ('identity', ''):
                body = raw
            else:
                h._plain(415, b'unsupported content-encoding')
                return
        except Exception:  # noqa: BLE001 — any decoder error means a bad body
            h._plain(400, b'bad compressed body')
            return
        ctype = headers.get('content-type', '').split(';', 1)[0].strip().lower()
        if ctype in ('application/x-protobuf', 'application/protobuf'):
            fmt = 'protobuf'
        elif ctype == 'application/json':
            fmt = 'json'
        else:
            h._plain(415, b'unsupported content-type')
            return
        if self._too_large(body):
            h._plain(413, b'request entity too large')
            return
        spec = self._next_spec()
        req = self._record('http', path, headers, metadata, body, fmt, spec)
        if req.error is not None:
            self._http_error(h, fmt, 400, {}, 'INVALID_ARGUMENT', 'cannot decode request: ' + req.error)
            return
        kind = spec[0]
        if kind == 'delay':
            self._stopping.wait(spec[1])
        elif kind == 'hang':
            deadline = time.monotonic() + spec[1]
            while not self._stopping.is_set() and time.monotonic() < deadline:
                if _peer_closed(h.connection):
                    break
                time.sleep(0.02)
            h.close_connection = True
            return
        elif kind == 'reset':
            try:
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            except OSError:
                pass
            h.close_connection = True
            return
        err = _http_error_of(spec)
        if err is not None:
            status, extra, message = err
            body = spec[3] if spec[0] == 'http' else None
            self._http_error(h, fmt, status, extra, _HTTP_TO_GRPC.get(status, 'UNKNOWN'), message,
                             body)
            return
        resp = _partial_response(spec)
        if fmt == 'json':
            doc = {}
            if spec[0] == 'partial':
                doc = {'partialSuccess': {'rejectedSpans': str(spec[1]), 'errorMessage': spec[2]}}
            h._plain(200, json.dumps(doc).encode(), 'application/json')
        else:
            h._plain(200, resp.SerializeToString(), 'application/x-protobuf')

    def _http_error(self, h, fmt, status, headers, code_name, message, body=None):
        if body is None:
            if fmt == 'json':
                body = json.dumps({'code': getattr(grpc.StatusCode, code_name).value[0],
                                   'message': message}).encode()
            else:
                body = _status_bytes(code_name, message)
        elif isinstance(body, str):
            body = body.encode()
        ctype = 'application/json' if fmt == 'json' else 'application/x-protobuf'
        h._plain(status, body, ctype, headers)


class _GenericHandler(grpc.GenericRpcHandler):
    def __init__(self, backend):
        self.backend = backend

    def service(self, handler_call_details):
        if handler_call_details.method == EXPORT_METHOD:
            return grpc.unary_unary_rpc_method_handler(self.backend._grpc_export)
        return None


def _thread_pool(n):
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix='fake-grpc')


def _host_for_url(host):
    return '[%s]' % host if ':' in host else host


def _peer_closed(sock):
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b''
    except (OSError, ValueError):
        return True


# ---------------------------------------------------------------- standalone

def _json_default(o):
    if isinstance(o, bytes):
        return o.hex()
    return str(o)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description='Fake OTLP trace backend (gRPC and HTTP).')
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--grpc-port', type=int, default=None,
                    help='gRPC port (0 = any free port); omitted = no gRPC server')
    ap.add_argument('--http-port', type=int, default=None,
                    help='HTTP port (0 = any free port); omitted = no HTTP server')
    ap.add_argument('--record', help='on exit, write one JSON line per request to FILE '
                                     '(with its spans unless --count-only)')
    ap.add_argument('--count-only', action='store_true',
                    help='keep counts only, not requests (for benchmarks)')
    ap.add_argument('--tls-cert')
    ap.add_argument('--tls-key')
    ap.add_argument('--workers', type=int, default=32)
    args = ap.parse_args(argv)
    if args.grpc_port is None and args.http_port is None:
        ap.error('give --grpc-port and/or --http-port')
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    be = FakeBackend(grpc=args.grpc_port is not None, http=args.http_port is not None, tls=tls,
                     host=args.host, grpc_port=args.grpc_port or 0,
                     http_port=args.http_port or 0, count_only=args.count_only,
                     max_workers=args.workers)
    be.start()
    print(json.dumps({'grpc_port': be.grpc_port if be.enable_grpc else None,
                      'http_port': be.http_port if be.enable_http else None,
                      'pid': os.getpid()}), flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    started = time.monotonic()
    while not done.wait(0.5):
        pass
    be.stop()
    counts = be.counts()
    total = {'requests': sum(c['requests'] for c in counts.values()),
             'spans': sum(c['spans'] for c in counts.values()),
             'accepted_spans': sum(c['accepted_spans'] for c in counts.values()),
             'seconds': round(time.monotonic() - started, 3)}
    print(json.dumps({'total': total, **counts}), flush=True)
    if args.record:
        with open(args.record, 'w') as f:
            for r in be.requests:
                line = {'transport': r.transport, 'time': r.time, 'headers': r.headers,
                        'span_count': r.span_count, 'response': list(r.response),
                        'error': r.error}
                if not args.count_only:
                    line['spans'] = r.spans()
                f.write(json.dumps(line, default=_json_default) + '\n')
            if args.count_only:
                f.write(json.dumps({'total': total, **counts}) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
