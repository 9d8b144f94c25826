"""Helpers for spanrelay's integration tests (for /usr/bin/python3: stdlib, python3-grpcio,
and the classes tests/integration/pygen.sh generates into build/pygen).

    with Daemon({'otel': {'endpoint': backend.grpc_endpoint}}) as d:
        d.socket_path, d.health_url, d.metrics_url, d.config_path, d.dir
        d.metrics()      {'spanrelay_spans_received_total{transport="grpc"}': 3.0, ...}
        d.health()       parsed JSON of GET /health
        d.log_lines()    parsed JSON lines of the daemon's stderr
        d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_exported_total') >= 10)
        d.stop(signal.SIGTERM, timeout=5) -> exit code

    free_port()                              a free TCP port on 127.0.0.1
    metric_sum(metrics, name)                a metric summed over all its label sets
    accounting(metrics[, destination]) / accounting_holds(metrics[, destination])
    dest_sum(metrics, name, destination)   one destination's series, other labels summed
    run_js(exporter, endpoint, spans, traces, ...) -> emit.js's summary (dict)
    otlp_grpc_export(target, request, timeout) -> (grpc.StatusCode, details, response)
    otlp_http_export(target, request, ...) -> HttpResult(status, headers, body, response)
    random_request(...), span_count(request), trace_id_sampled(trace_id, ratio)
    wait_for(predicate, timeout)

Daemon configuration: the YAML written is DEFAULT_CONFIG with the overrides merged in
(nested dicts merge key by key; a value of None removes the key). Giving otel.endpoint
without otel.enabled turns otel.enabled on.
"""

import copy
import gzip
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import fake_backend  # noqa: E402  (also makes build/pygen importable)
from fake_backend import PB, ExportTraceServiceRequest, ExportTraceServiceResponse  # noqa: E402,F401
from fake_backend import FakeBackend, request_spans, span_to_dict, attrs_to_dict  # noqa: E402,F401

import grpc  # noqa: E402

ROOT = fake_backend.ROOT
INTEROP_DIR = os.path.join(ROOT, 'tests', 'interop')
EMIT_JS = os.path.join(INTEROP_DIR, 'emit.js')
SAMPLE_JS = os.path.join(INTEROP_DIR, 'sample.js')
EXPORT_METHOD = fake_backend.EXPORT_METHOD

trace_pb2 = PB['trace']
common_pb2 = PB['common']
resource_pb2 = PB['resource']
status_pb2 = PB['status']
error_details_pb2 = PB['error_details']

# Bound on the daemon's startup (health answering 200); sanitizer builds start slower.
STARTUP_TIMEOUT = float(os.environ.get('SPANRELAY_STARTUP_TIMEOUT')
                        or (15.0 if os.environ.get('SPANRELAY_ASAN') == '1' else 5.0))

# Markers of a sanitizer report in the daemon's stderr.
SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', ': runtime error: ',
                     'WARNING: ThreadSanitizer')


class HarnessError(Exception):
    pass


# ---------------------------------------------------------------- small utilities

def free_port(host='127.0.0.1'):
    """A TCP port free on host right now (bind to port 0, read it, close)."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=5.0, interval=0.05):
    """Polls predicate() until it returns a truthy value (returned) or timeout (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def spanrelay_binary(binary=None):
    """binary, else $SPANRELAY_BIN, else build/spanrelay. A relative path that does not
    exist from the current directory is taken relative to the repository root."""
    b = binary or os.environ.get('SPANRELAY_BIN') or os.path.join(ROOT, 'build', 'spanrelay')
    if not os.path.isabs(b) and not os.path.exists(b):
        b = os.path.join(ROOT, b)
    return os.path.abspath(b)


def daemon_available(binary=None):
    b = spanrelay_binary(binary)
    return os.path.isfile(b) and os.access(b, os.X_OK)


def require_daemon(testcase, binary=None):
    """Skips the calling test when the spanrelay binary has not been built."""
    if not daemon_available(binary):
        testcase.skipTest('spanrelay binary not built: %s' % spanrelay_binary(binary))


# ---------------------------------------------------------------- configuration

DEFAULT_CONFIG = {
    'otel': {
        'enabled': False,
        'protocol': 'grpc',
        'serviceName': 'spanrelay-itest',
        'samplingRatio': 1.0,
    },
    'receiver': {
        'socketMode': '0660',
        'maxRequestBytes': 4 * 1024 * 1024,
        'maxConnections': 256,
    },
    'buffer': {'maxBytes': 16 * 1024 * 1024},
    'exporter': {
        'maxBatchBytes': 1024 * 1024,
        'maxBatchSpans': 2048,
        'batchTimeout': '100ms',
        'timeout': '5s',
        'compression': 'none',
        'retry': {'initialInterval': '100ms', 'maxInterval': '1s', 'maxElapsedTime': '30s'},
    },
    'shutdownTimeout': '5s',
    'log': {'level': 'info'},
}


def merge_config(base, overrides):
    """Deep-merges overrides into a copy of base; None deletes a key."""
    out = copy.deepcopy(base)
    for k, v in (overrides or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_config(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _yaml_scalar(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid double-quoted YAML scalar
    raise TypeError('cannot write %r to YAML' % (v,))


def to_yaml(doc, indent=0):
    """Block-style YAML for nested dicts of scalars (and lists of scalars or of dicts)."""
    lines = []
    pad = '  ' * indent
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append('%s%s:' % (pad, k))
            lines.append(to_yaml(v, indent + 1))
        elif isinstance(v, (list, tuple)):
            lines.append('%s%s:' % (pad, k))
            for item in v:
                if isinstance(item, dict):
                    body = to_yaml(item, indent + 2).split('\n')
                    lines.append('%s  - %s' % (pad, body[0].lstrip()))
                    lines.extend(body[1:])
                else:
                    lines.append('%s  - %s' % (pad, _yaml_scalar(item)))
        else:
            lines.append('%s%s: %s' % (pad, k, _yaml_scalar(v)))
    return '\n'.join(line for line in lines if line)


# ---------------------------------------------------------------- Prometheus text

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?\s*$')
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape_label(v):
    return v.replace('\\\\', '\x00').replace('\\"', '"').replace('\\n', '\n').replace('\x00', '\\')


def metric_key(name, labels=None):
    """The key metrics() uses: name, or name{a="x",b="y"} with labels sorted."""
    if not labels:
        return name
    inner = ','.join('%s="%s"' % (k, str(labels[k]).replace('\\', '\\\\').replace('"', '\\"')
                                  .replace('\n', '\\n')) for k in sorted(labels))
    return '%s{%s}' % (name, inner)


def parse_prometheus(text):
    """Prometheus text format -> {metric_key(name, labels): float}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise HarnessError('bad Prometheus line: %r' % line)
        name, _, labeltext, value = m.group(1), m.group(2), m.group(3), m.group(4)
        labels = {}
        if labeltext:
            pos = 0
            while pos < len(labeltext):
                lm = _LABEL_RE.match(labeltext, pos)
                if not lm or lm.end() == pos:
                    raise HarnessError('bad labels in Prometheus line: %r' % line)
                labels[lm.group(1)] = _unescape_label(lm.group(2))
                pos = lm.end()
        out[metric_key(name, labels)] = float(value)
    return out


def metric_values(metrics, name):
    """{labels-part or '': value} for every label set of one metric name."""
    out = {}
    for k, v in metrics.items():
        if k == name:
            out[''] = v
        elif k.startswith(name + '{'):
            out[k[len(name):]] = v
    return out


def metric_sum(metrics, name):
    return sum(metric_values(metrics, name).values())


ACCOUNTING_TERMS = (
    'spanrelay_spans_sampled_out_total',
    'spanrelay_spans_dropped_overflow_total',
    'spanrelay_spans_exported_total',
    'spanrelay_spans_export_failed_total',
    'spanrelay_spans_spooled',
    'spanrelay_spans_buffered',
    'spanrelay_spans_in_flight',
)


def destinations(metrics):
    """The destination names /metrics labels, in sorted order."""
    names = set()
    for k in metrics:
        if k.startswith('spanrelay_spans_exported_total{'):
            names.add(k.split('destination="', 1)[1].split('"', 1)[0])
    return sorted(names)


def dest_sum(metrics, name, destination):
    """A metric summed over its label sets that carry destination="<destination>"."""
    tag = 'destination="%s"' % destination.replace('\\', '\\\\').replace('"', '\\"')
    return sum(v for k, v in metric_values(metrics, name).items() if tag in k)


def accounting(metrics, destination=None):
    """The terms of DESIGN decision 5 for one destination (each summed over its other
    labels), with both sides: received = rejected + sampled_out[d] + dropped_overflow[d]
    + exported[d] + export_failed[d] + spooled[d] + buffered[d] + in_flight[d], where
    received counts every transport plus transport="spool" of destination d (what an
    earlier process left in d's spool). Without destination,
    every destination is checked: 'holds' is true when all hold, 'destinations' has
    each, and the other keys are the primary's."""
    rejected = metric_sum(metrics, 'spanrelay_spans_rejected_total')
    if destination is not None:
        received = sum(v for k, v in
                       metric_values(metrics, 'spanrelay_spans_received_total').items()
                       if 'destination=' not in k)
        received += dest_sum(metrics, 'spanrelay_spans_received_total', destination)
        terms = {t: dest_sum(metrics, t, destination) for t in ACCOUNTING_TERMS}
        terms['spanrelay_spans_rejected_total'] = rejected
        total = sum(terms.values())
        return {'destination': destination, 'received': received, 'terms': terms,
                'sum_of_terms': total, 'holds': received == total}
    each = {d: accounting(metrics, d) for d in destinations(metrics)}
    first = each.get('primary') or (next(iter(each.values())) if each else
                                    accounting(metrics, 'primary'))
    out = dict(first)
    out['destinations'] = each
    out['holds'] = bool(each) and all(a['holds'] for a in each.values())
    if not out['holds']:
        # A failing destination's figures are the ones to show.
        bad = [a for a in each.values() if not a['holds']]
        if bad:
            out.update({k: bad[0][k] for k in ('destination', 'terms', 'sum_of_terms')})
    return out


def accounting_holds(metrics, destination=None):
    """True when the equation holds (for destination, or for every destination)."""
    return accounting(metrics, destination)['holds']


# ---------------------------------------------------------------- the daemon

class DaemonError(HarnessError):
    pass


class Daemon:
    """Runs build/spanrelay (or $SPANRELAY_BIN, or binary=) on a fresh config in a fresh
    temporary directory; waits until GET /health answers 200; always kills the process
    (by PID) and removes the directory on exit."""

    def __init__(self, config_overrides=None, env=None, binary=None, wait_healthy=True,
                 startup_timeout=STARTUP_TIMEOUT, args=(), stderr=None, wrapper=()):
        """stderr: an fd for the daemon's stderr instead of the log file (log_text() is
        then empty); the caller keeps and closes it."""
        self.binary = spanrelay_binary(binary)
        self.stderr = stderr
        self.overrides = config_overrides or {}
        self.extra_env = env or {}
        self.wait_healthy = wait_healthy
        self.startup_timeout = startup_timeout
        self.args = list(args)
        # argv before the binary's, for a command that execs it (`ip netns exec NS`), so
        # the PID stays the daemon's
        self.wrapper = list(wrapper)
        self.dir = None
        self.proc = None
        self.returncode = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        report = self.close()
        if report and exc_type is None:
            raise DaemonError('sanitizer report in the daemon\'s log:\n' + report)
        return False

    def start(self):
        self.dir = tempfile.mkdtemp(prefix='spanrelay-it-')
        try:
            self.socket_path = os.path.join(self.dir, 'otlp.sock')
            self.health_port = free_port()
            defaults = merge_config(DEFAULT_CONFIG, {
                'receiver': {'socket': self.socket_path},
                'health': {'listen': '127.0.0.1:%d' % self.health_port},
            })
            overrides = copy.deepcopy(self.overrides)
            otel = overrides.get('otel') or {}
            if (otel.get('endpoint') or otel.get('loadBalance')) and 'enabled' not in otel:
                otel['enabled'] = True
            self.config = merge_config(defaults, overrides)
            listen = (self.config.get('health') or {}).get('listen', '')
            self.health_host = '127.0.0.1'
            if ':' in listen:
                host, port = listen.rsplit(':', 1)
                host = host.strip('[]')
                if host and host not in ('0.0.0.0', '::', '*'):
                    self.health_host = host
                self.health_port = int(port)
            self.socket_path = (self.config.get('receiver') or {}).get('socket', '')
            self.config_path = os.path.join(self.dir, 'spanrelay.yaml')
            with open(self.config_path, 'w') as f:
                f.write(to_yaml(self.config) + '\n')
            self.log_path = os.path.join(self.dir, 'spanrelay.log')
            self.stdout_path = os.path.join(self.dir, 'stdout.log')
            env = {k: v for k, v in os.environ.items() if not k.startswith('OTEL_')}
            env.update({k: str(v) for k, v in self.extra_env.items()})
            if not os.path.exists(self.binary):
                raise DaemonError('spanrelay binary not found: %s' % self.binary)
            with open(self.log_path, 'wb') as err, open(self.stdout_path, 'wb') as out:
                self.proc = subprocess.Popen(self.wrapper + [self.binary, '-c', self.config_path]
                                             + self.args,
                                             stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err if self.stderr is None else self.stderr,
                                             env=env, cwd=self.dir)
            if self.wait_healthy:
                self._wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def health_base(self):
        host = '[%s]' % self.health_host if ':' in self.health_host else self.health_host
        return 'http://%s:%d' % (host, self.health_port)

    @property
    def health_url(self):
        return self.health_base + '/health'

    @property
    def metrics_url(self):
        return self.health_base + '/metrics'

    def _wait_healthy(self):
        deadline = time.monotonic() + self.startup_timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DaemonError('spanrelay exited with %s during startup; log:\n%s'
                                  % (self.proc.returncode, self.log_text()))
            try:
                status, _ = http_get(self.health_url, timeout=0.5)
                if status == 200:
                    return
                last = 'status %d' % status
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        raise DaemonError('spanrelay not healthy within %.1fs (%s); log:\n%s'
                          % (self.startup_timeout, last, self.log_text()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def metrics(self):
        status, body = http_get(self.metrics_url, timeout=2)
        if status != 200:
            raise HarnessError('GET /metrics answered %d' % status)
        return parse_prometheus(body.decode('utf-8'))

    def health(self):
        status, body = http_get(self.health_url, timeout=2)
        doc = json.loads(body.decode('utf-8'))
        doc['_http_status'] = status
        return doc

    def wait_metrics(self, predicate, timeout=10.0, interval=0.05):
        """Polls metrics() until predicate(metrics) is truthy; returns the metrics, or
        raises HarnessError with the last ones."""
        last = {}
        deadline = time.monotonic() + timeout
        while True:
            try:
                last = self.metrics()
                if predicate(last):
                    return last
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise HarnessError('metrics condition not met within %.1fs; last: %s'
                                   % (timeout, json.dumps(last, sort_keys=True)))
            time.sleep(interval)

    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except (OSError, AttributeError):
            return ''

    def log_lines(self):
        """Every stderr line that parses as a JSON object (others are skipped)."""
        out = []
        for line in self.log_text().splitlines():
            line = line.strip()
            if not line.startswith('{'):
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Sends sig and waits; returns the exit code (negative: killed by that signal).
        A daemon still running after timeout is SIGKILLed (the code is then -9)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        self.returncode = self.proc.returncode
        return self.returncode

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def sanitizer_report(self):
        """The ASan/LSan/UBSan part of the daemon's log, or '' when there is none."""
        text = self.log_text()
        starts = [text.find(m) for m in SANITIZER_MARKERS if m in text]
        if not starts:
            return ''
        start = text.rfind('\n', 0, min(starts)) + 1
        return text[start:start + 8000]

    def close(self):
        """Kills the daemon if still alive (by PID), removes the temporary directory
        (kept when SPANRELAY_KEEP_TEMP=1); returns sanitizer_report() ('' normally).
        Used as a context manager, a sanitizer report fails the with-block."""
        self._kill()
        report = ''
        if self.proc is not None:
            self.returncode = self.proc.returncode
            report = self.sanitizer_report()
        if self.dir and os.environ.get('SPANRELAY_KEEP_TEMP') != '1':
            shutil.rmtree(self.dir, ignore_errors=True)
        return report


def run_spanrelay(args, timeout=10.0, env=None, binary=None, input_bytes=None):
    """Runs the binary to completion (e.g. --check-config, --version) ->
    CompletedProcess (stdout, stderr as bytes); subprocess.run kills it on timeout."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith('OTEL_')}
    full_env.update(env or {})
    return subprocess.run([spanrelay_binary(binary)] + list(args), input=input_bytes,
                          capture_output=True, timeout=timeout, env=full_env)


def write_config(directory, overrides=None, base=None):
    """Writes merge_config(base or DEFAULT_CONFIG, overrides) as YAML; returns the path."""
    path = os.path.join(directory, 'spanrelay.yaml')
    with open(path, 'w') as f:
        f.write(to_yaml(merge_config(DEFAULT_CONFIG if base is None else base, overrides)) + '\n')
    return path


# ---------------------------------------------------------------- HTTP helpers

class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__('localhost', timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def http_get(url, timeout=2.0):
    """(status, body bytes) of a GET; HTTP error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except urllib.error.URLError as e:
        raise OSError(str(e.reason)) from e


class HttpResult(tuple):
    """(status, headers, body) plus .response: the decoded ExportTraceServiceResponse
    (2xx with a protobuf body) or google.rpc.Status (error with a protobuf body), or None."""

    def __new__(cls, status, headers, body, response):
        self = super().__new__(cls, (status, headers, body))
        self.status, self.headers, self.body, self.response = status, headers, body, response
        return self


def otlp_http_export(target, request, timeout=5.0, content_type='application/x-protobuf',
                     compress=False, headers=None, path='/v1/traces'):
    """POSTs an OTLP/HTTP request. target: 'unix:///abs/path', '/abs/path' or
    'http://host:port'. request: ExportTraceServiceRequest or raw bytes."""
    body = request if isinstance(request, (bytes, bytearray)) else request.SerializeToString()
    hdrs = {'Content-Type': content_type}
    if compress:
        body = gzip.compress(body)
        hdrs['Content-Encoding'] = 'gzip'
    hdrs.update(headers or {})
    if target.startswith('unix://') or target.startswith('/'):
        conn = _UnixHTTPConnection(target[len('unix://'):] if target.startswith('unix://')
                                   else target, timeout)
    else:
        m = re.match(r'^http://([^/]+)(/.*)?$', target)
        if not m:
            raise ValueError('target must be unix:///path or http://host:port')
        conn = http.client.HTTPConnection(m.group(1), timeout=timeout)
        if m.group(2) and m.group(2) != '/':
            path = m.group(2)
    try:
        conn.request('POST', path, body=bytes(body), headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        resp_headers = {k.lower(): v for k, v in r.getheaders()}
        decoded = None
        if 'protobuf' in resp_headers.get('content-type', ''):
            try:
                cls = ExportTraceServiceResponse if 200 <= r.status < 300 else status_pb2.Status
                decoded = cls.FromString(data)
            except Exception:  # noqa: BLE001 — undecodable bodies are left as bytes
                decoded = None
        return HttpResult(r.status, resp_headers, data, decoded)
    finally:
        conn.close()


# ---------------------------------------------------------------- gRPC client

class GrpcResult(tuple):
    """(code, details, response) plus .trailing_metadata, .initial_metadata and
    .retry_delay (seconds from a google.rpc.RetryInfo in grpc-status-details-bin, or None)."""

    def __new__(cls, code, details, response, trailing=(), initial=()):
        self = super().__new__(cls, (code, details, response))
        self.code, self.details, self.response = code, details, response
        self.trailing_metadata = tuple(trailing or ())
        self.initial_metadata = tuple(initial or ())
        self.retry_delay = None
        for k, v in self.trailing_metadata:
            if k == 'grpc-status-details-bin':
                try:
                    st = status_pb2.Status.FromString(v)
                    for d in st.details:
                        if d.type_url.endswith('/google.rpc.RetryInfo'):
                            ri = error_details_pb2.RetryInfo.FromString(d.value)
                            self.retry_delay = (ri.retry_delay.seconds
                                                + ri.retry_delay.nanos / 1e9)
                except Exception:  # noqa: BLE001
                    pass
        return self


def grpc_target(socket_or_target):
    """'/abs/path' or 'unix:///abs/path' -> 'unix:///abs/path'; 'http://h:p' -> 'h:p'."""
    t = socket_or_target
    if t.startswith('/'):
        return 'unix://' + t
    if t.startswith('http://'):
        return t[len('http://'):].rstrip('/')
    return t


def otlp_grpc_export(socket_or_target, request, timeout=5.0, metadata=None, compression=None,
                     channel_options=None):
    """One unary TraceService/Export call through grpcio's generic API.
    request: ExportTraceServiceRequest or raw bytes (sent as they are).
    -> GrpcResult (code: grpc.StatusCode, details: str, response:
    ExportTraceServiceResponse or None)."""
    body = request if isinstance(request, (bytes, bytearray)) else request.SerializeToString()
    opts = [('grpc.max_send_message_length', -1), ('grpc.max_receive_message_length', -1),
            ('grpc.enable_retries', 0)]
    opts += list(channel_options or [])
    kwargs = {}
    if compression == 'gzip':
        kwargs['compression'] = grpc.Compression.Gzip
    with grpc.insecure_channel(grpc_target(socket_or_target), options=opts) as ch:
        call = ch.unary_unary(EXPORT_METHOD)
        try:
            raw, c = call.with_call(bytes(body), timeout=timeout, metadata=metadata, **kwargs)
            resp = ExportTraceServiceResponse.FromString(raw)
            return GrpcResult(c.code(), c.details() or '', resp, c.trailing_metadata(),
                              c.initial_metadata())
        except grpc.RpcError as e:
            return GrpcResult(e.code(), e.details() or '', None,
                              e.trailing_metadata() if hasattr(e, 'trailing_metadata') else (),
                              e.initial_metadata() if hasattr(e, 'initial_metadata') else ())


# ---------------------------------------------------------------- JS SDK peer

def js_available():
    return (shutil.which('node') is not None
            and os.path.isdir(os.path.join(INTEROP_DIR, 'node_modules', '@opentelemetry')))


def run_node(script, args, timeout=60.0, env=None, check=False):
    """Runs a tests/interop script that writes its JSON summary to the file named by the
    --out it is given, with --deadline-ms a little under timeout, the OTEL_* environment
    cleared and env added. Returns the summary, with 'exitCode' and 'stderr' added.
    check=True raises HarnessError unless the exit code is 0. The process is killed (by
    PID) when timeout passes."""
    if not js_available():
        raise HarnessError('node or tests/interop/node_modules missing: run `make deps` '
                           '(npm ci in tests/interop)')
    name = os.path.basename(script)
    fd, out = tempfile.mkstemp(prefix=name + '-', suffix='.json')
    os.close(fd)
    try:
        argv = ['node', script] + list(args) + [
            '--out', out, '--deadline-ms', str(int(max(1.0, timeout - 2) * 1000))]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith('OTEL_')}
        full_env.update(env or {})
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=full_env, cwd=INTEROP_DIR)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=5)
            raise HarnessError('%s did not finish within %.0fs' % (name, timeout))
        try:
            with open(out) as f:
                summary = json.load(f)
        except (OSError, ValueError):
            raise HarnessError('%s (exit %d) wrote no summary; stderr:\n%s'
                               % (name, proc.returncode, err.decode('utf-8', 'replace')))
        summary['exitCode'] = proc.returncode
        summary['stderr'] = err.decode('utf-8', 'replace')
        if check and proc.returncode != 0:
            raise HarnessError('%s exited %d: %s' % (name, proc.returncode, summary.get('error')))
        return summary
    finally:
        os.unlink(out)


def run_js(exporter, endpoint, spans, traces, service=None, timeout=60.0, extra_args=(),
           env=None, check=False):
    """Runs tests/interop/emit.js (see run_node) and returns its JSON summary."""
    args = ['--exporter', exporter, '--endpoint', endpoint,
            '--spans', str(spans), '--traces', str(traces)]
    if service is not None:
        args += ['--service', service]
    args += list(extra_args)
    return run_node(EMIT_JS, args, timeout=timeout, env=env, check=check)


# Fields of a span that are compared between emit.js's summary and what a backend got.
SPAN_FIELDS = ('traceId', 'spanId', 'parentSpanId', 'traceState', 'name', 'kind',
               'startTimeUnixNano', 'endTimeUnixNano', 'attributes', 'droppedAttributesCount',
               'events', 'droppedEventsCount', 'droppedLinksCount', 'status', 'resource')
LINK_FIELDS = ('traceId', 'spanId', 'traceState', 'attributes', 'droppedAttributesCount')


def typed(v):
    """A value with its type made explicit, so that 1 and 1.0 and True compare unequal."""
    if isinstance(v, dict):
        return {k: typed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [typed(x) for x in v]
    return (type(v).__name__, v)


def span_differences(expected, got):
    """Field-by-field differences between an emit.js span and a received span
    (both dicts); [] when they agree."""
    diffs = []
    for f in SPAN_FIELDS:
        if typed(expected.get(f)) != typed(got.get(f)):
            diffs.append('%s: sent %r, received %r' % (f, expected.get(f), got.get(f)))
    el, gl = expected.get('links', []), got.get('links', [])
    if len(el) != len(gl):
        diffs.append('links: sent %d, received %d' % (len(el), len(gl)))
    else:
        for i, (a, b) in enumerate(zip(el, gl)):
            for f in LINK_FIELDS:
                if typed(a.get(f)) != typed(b.get(f)):
                    diffs.append('links[%d].%s: sent %r, received %r' % (i, f, a.get(f), b.get(f)))
    if (expected.get('scope') or {}).get('name') != (got.get('scope') or {}).get('name') or \
            (expected.get('scope') or {}).get('version') != (got.get('scope') or {}).get('version'):
        diffs.append('scope: sent %r, received %r' % (expected.get('scope'), got.get('scope')))
    if 'traceFlags' in expected and 'flags' in got and (got['flags'] & 0xff) != expected['traceFlags']:
        diffs.append('flags: sent trace flags %d, received flags %#x'
                     % (expected['traceFlags'], got['flags']))
    return diffs


def compare_spans(expected, received):
    """Matches spans by (traceId, spanId); returns a list of problems ([] = all equal):
    missing, unexpected, duplicated, and field differences."""
    problems = []
    got = {}
    for s in received:
        key = (s['traceId'], s['spanId'])
        if key in got:
            problems.append('duplicate span %s/%s' % key)
        got[key] = s
    want = {(s['traceId'], s['spanId']): s for s in expected}
    for key, s in want.items():
        if key not in got:
            problems.append('missing span %s/%s (%s)' % (key[0], key[1], s.get('name')))
            continue
        for d in span_differences(s, got[key]):
            problems.append('span %s/%s %s' % (key[0], key[1], d))
    for key in got:
        if key not in want:
            problems.append('unexpected span %s/%s' % key)
    return problems


# ---------------------------------------------------------------- building requests

def _rand_string(rng, n=None):
    alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_ ./éü✓γ'
    return ''.join(rng.choice(alphabet) for _ in range(n if n is not None else rng.randint(0, 12)))


def random_any_value(rng, depth=0, kind=None):
    """An AnyValue of a random (or the given) kind: string, bool, int, double, bytes,
    array, kvlist (nested up to depth 2), or empty."""
    kinds = ['string', 'bool', 'int', 'double', 'bytes', 'array', 'kvlist', 'empty']
    if depth >= 2:
        kinds = kinds[:5]
    kind = kind or rng.choice(kinds)
    v = common_pb2.AnyValue()
    if kind == 'string':
        v.string_value = _rand_string(rng)
    elif kind == 'bool':
        v.bool_value = rng.random() < 0.5
    elif kind == 'int':
        v.int_value = rng.choice([0, 1, -1, 2 ** 63 - 1, -2 ** 63, rng.randint(-2 ** 40, 2 ** 40)])
    elif kind == 'double':
        v.double_value = rng.choice([0.0, -0.5, 3.25, 1e300, rng.uniform(-1e6, 1e6)])
    elif kind == 'bytes':
        v.bytes_value = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 16)))
    elif kind == 'array':
        v.array_value.SetInParent()
        for _ in range(rng.randint(0, 4)):
            v.array_value.values.append(random_any_value(rng, depth + 1))
    elif kind == 'kvlist':
        v.kvlist_value.SetInParent()
        for i in range(rng.randint(0, 3)):
            v.kvlist_value.values.add(key='k%d' % i, value=random_any_value(rng, depth + 1))
    return v


ATTRIBUTE_KINDS = ('string', 'bool', 'int', 'double', 'bytes', 'array', 'kvlist', 'empty')


def random_attributes(rng, n=None, every_kind=False):
    kvs = []
    if every_kind:
        for k in ATTRIBUTE_KINDS:
            kvs.append(common_pb2.KeyValue(key='attr.' + k, value=random_any_value(rng, 0, k)))
    for i in range(n if n is not None else rng.randint(0, 4)):
        kvs.append(common_pb2.KeyValue(key='attr.r%d' % i, value=random_any_value(rng)))
    return kvs


def random_id(rng, n):
    b = bytes(rng.getrandbits(8) for _ in range(n))
    return b if any(b) else b'\x01' + b[1:]


def random_span(rng, trace_id=None, parent_span_id=b'', name=None, t0=None):
    t0 = t0 if t0 is not None else int(time.time() * 1e9) - rng.randint(0, 10 ** 9)
    sp = trace_pb2.Span(
        trace_id=trace_id or random_id(rng, 16), span_id=random_id(rng, 8),
        parent_span_id=parent_span_id, name=name or 'op-' + _rand_string(rng, 6),
        kind=rng.randint(0, 5), start_time_unix_nano=t0,
        end_time_unix_nano=t0 + rng.randint(1, 10 ** 8),
        flags=0x101 | (0x200 if rng.random() < 0.2 else 0),
        trace_state=rng.choice(['', 'vendor=x', 'a=1,b=2']),
        dropped_attributes_count=rng.choice([0, 0, 3]),
        dropped_events_count=rng.choice([0, 0, 1]),
        dropped_links_count=rng.choice([0, 0, 2]))
    sp.attributes.extend(random_attributes(rng, every_kind=rng.random() < 0.5))
    for i in range(rng.randint(0, 2)):
        ev = sp.events.add(time_unix_nano=t0 + i + 1, name='event-%d' % i)
        ev.attributes.extend(random_attributes(rng, 2))
    for _ in range(rng.randint(0, 2)):
        ln = sp.links.add(trace_id=random_id(rng, 16), span_id=random_id(rng, 8),
                          trace_state=rng.choice(['', 'k=v']), flags=0x101)
        ln.attributes.extend(random_attributes(rng, 1))
    code = rng.choice([0, 0, 1, 2])
    sp.status.code = code
    if code == 2:
        sp.status.message = 'error: ' + _rand_string(rng, 8)
    return sp


def random_request(resources=2, scopes=2, spans=5, seed=None, rng=None, service_name=True,
                   traces=None):
    """An ExportTraceServiceRequest with `resources` ResourceSpans x `scopes` ScopeSpans x
    `spans` spans each; attributes of every type, events, links, statuses, schema URLs.
    With traces=K, spans are spread over K trace ids (first span of each trace a root,
    the rest its children); otherwise every span is a root of its own trace.
    service_name=False leaves service.name out of the resources."""
    rng = rng or random.Random(seed)
    req = ExportTraceServiceRequest()
    trace_ids = [random_id(rng, 16) for _ in range(traces)] if traces else None
    roots = {}
    n = 0
    for r in range(resources):
        rs = req.resource_spans.add(schema_url=rng.choice(['', 'https://opentelemetry.io/schemas/1.26.0']))
        if service_name:
            rs.resource.attributes.add(key='service.name',
                                       value=common_pb2.AnyValue(string_value='svc-%d' % r))
        rs.resource.attributes.extend(random_attributes(rng, 2))
        for s in range(scopes):
            ss = rs.scope_spans.add()
            ss.scope.name = 'scope-%d' % s
            ss.scope.version = '1.%d' % s
            ss.scope.attributes.extend(random_attributes(rng, 1))
            for _ in range(spans):
                if trace_ids:
                    tid = trace_ids[n % len(trace_ids)]
                    parent = roots.get(tid, b'')
                    sp = random_span(rng, trace_id=tid, parent_span_id=parent)
                    roots.setdefault(tid, sp.span_id)
                else:
                    sp = random_span(rng)
                ss.spans.append(sp)
                n += 1
    return req


def simple_request(n_spans=1, trace_id=None, service_name='itest', seed=None):
    """One resource, one scope, n_spans small spans (all in one trace when trace_id given)."""
    rng = random.Random(seed)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    if service_name is not None:
        rs.resource.attributes.add(key='service.name',
                                   value=common_pb2.AnyValue(string_value=service_name))
    ss = rs.scope_spans.add()
    ss.scope.name = 'itest'
    t0 = int(time.time() * 1e9)
    for i in range(n_spans):
        ss.spans.append(trace_pb2.Span(
            trace_id=trace_id or random_id(rng, 16), span_id=random_id(rng, 8),
            name='span-%d' % i, kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=t0 + i, end_time_unix_nano=t0 + i + 1000))
    return req


def span_count(request):
    if isinstance(request, (bytes, bytearray)):
        request = ExportTraceServiceRequest.FromString(bytes(request))
    return fake_backend.count_spans(request)


TRACE_ID_LIMIT = (1 << 64) - 1


def trace_id_sampled(trace_id, ratio):
    """TraceIdRatioBased as the Python SDK decides it (DESIGN decision 6): the low 64 bits
    of the trace id (big-endian, bytes 8..15) below round(ratio * 2^64)."""
    if isinstance(trace_id, str):
        trace_id = bytes.fromhex(trace_id)
    bound = round(ratio * (TRACE_ID_LIMIT + 1))
    return int.from_bytes(trace_id[8:16], 'big') < bound


def trace_id_with_low(low64, high64=0x0123456789abcdef):
    """A 16-byte trace id with the given low 64 bits (for sampler tests)."""
    return high64.to_bytes(8, 'big') + low64.to_bytes(8, 'big')


# ---------------------------------------------------------------- TLS material

def make_self_signed(directory, cn='localhost', san='DNS:localhost,IP:127.0.0.1'):
    """(cert_path, key_path) of a fresh self-signed certificate valid for the names of
    san (by default localhost and 127.0.0.1) (openssl CLI)."""
    cert = os.path.join(directory, 'cert.pem')
    key = os.path.join(directory, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                    '-subj', '/CN=%s' % cn, '-keyout', key, '-out', cert,
                    '-addext', 'subjectAltName=' + san],
                   check=True, capture_output=True, timeout=30)
    return cert, key
