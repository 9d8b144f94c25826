"""spanrelay-emit (issue 7): spans for commands and shell steps, carried by TRACEPARENT.

End to end through a running spanrelay to the fake backend: nested exec gives one trace,
exit statuses and signals pass through unchanged, invalid TRACEPARENTs start new roots.
Fail-open: with no sidecar, or one that never answers, the command still runs, its
status comes back, and sending costs at most about --timeout. The sender is also checked
against the daemon's receiver counters and against the fake backend's HTTP server directly.

Binary: build/spanrelay-emit, build/asan/spanrelay-emit when SPANRELAY_ASAN=1, or
$SPANRELAY_EMIT_BIN."""

import datetime
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Daemon, FakeBackend, metric_sum

# Time measurements only bound behaviour (the timeout is honoured); they are not
# benchmarks, so the slack is generous, more so under sanitizers.
SLACK = 2.0 if os.environ.get('SPANRELAY_ASAN') == '1' else 1.0
RUN_TIMEOUT = 30
SPAN_WAIT = 15

PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
PARENT_SPAN = '00f067aa0ba902b7'


def emit_binary():
    b = os.environ.get('SPANRELAY_EMIT_BIN')
    if not b:
        sub = ('build', 'asan') if os.environ.get('SPANRELAY_ASAN') == '1' else ('build',)
        b = os.path.join(harness.ROOT, *sub, 'spanrelay-emit')
    return os.path.abspath(b)


def clean_env(extra=None):
    """The test's environment without trace context or OTLP settings, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('OTEL_') and k not in ('TRACEPARENT', 'TRACESTATE')}
    env.update(extra or {})
    return env


def parse_traceparent(tp):
    version, trace_id, span_id, flags = tp.split('-')
    return version, trace_id, span_id, flags


def rfc3339_ns(text):
    """Nanoseconds since 1970 of an RFC 3339 time with up to 9 fraction digits."""
    main, _, rest = text.partition('.')
    frac = ''
    if rest:
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac, tz = rest[:i], rest[i:]
    else:
        main, tz = main[:19], main[19:]
    tz = '+00:00' if tz in ('Z', 'z') else tz
    dt = datetime.datetime.fromisoformat(main + tz)
    return int(dt.timestamp()) * 10**9 + int((frac + '000000000')[:9])


class EmitTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.emit = emit_binary()
        if not os.access(self.emit, os.X_OK):
            self.skipTest('spanrelay-emit not built: %s' % self.emit)
        self.tmp = tempfile.mkdtemp(prefix='emit-it-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()

    def assertClean(self, stderr):
        """No sanitizer report in spanrelay-emit's stderr."""
        text = stderr.decode('utf-8', 'replace') if isinstance(stderr, bytes) else stderr
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, text, text)

    def run_emit(self, args, env=None, timeout=RUN_TIMEOUT):
        """Runs spanrelay-emit to completion -> (CompletedProcess, seconds it took)."""
        t0 = time.monotonic()
        p = subprocess.run([self.emit] + list(args), env=clean_env(env), capture_output=True,
                           timeout=timeout, stdin=subprocess.DEVNULL, cwd=self.tmp)
        took = time.monotonic() - t0
        self.assertClean(p.stderr)
        return p, took

    def backend(self, **kw):
        be = FakeBackend(**kw).start()
        self.addCleanup(be.stop)
        return be

    def daemon(self, overrides=None):
        harness.require_daemon(self)
        d = Daemon(overrides)
        d.start()
        self.addCleanup(self._close_daemon, d)
        return d

    def _close_daemon(self, d):
        report = d.close()
        self.assertEqual(report, '', 'sanitizer report in the daemon\'s log:\n' + report)

    def relay(self):
        """A fake backend and a daemon exporting to it over gRPC; the env that points
        spanrelay-emit at the daemon's socket."""
        be = self.backend(http=False)
        d = self.daemon({'otel': {'endpoint': be.grpc_endpoint}})
        return be, d, {'OTEL_EXPORTER_OTLP_ENDPOINT': 'unix://' + d.socket_path}

    def wait_spans(self, be, n, pred=lambda s: True):
        """The backend's spans matching pred once there are n of them."""
        found = harness.wait_for(lambda: len([s for s in be.spans() if pred(s)]) >= n,
                                 timeout=SPAN_WAIT)
        spans = [s for s in be.spans() if pred(s)]
        self.assertTrue(found, 'expected %d spans, backend has %d: %r'
                        % (n, len(spans), be.counts()))
        return spans

    def by_name(self, spans):
        return {s['name']: s for s in spans}


class TestThroughTheSidecar(EmitTestCase):
    """spanrelay-emit -> spanrelay (UNIX socket) -> fake backend (OTLP/gRPC)."""

    def test_nested_exec_three_deep_is_one_trace(self):
        be, d, env = self.relay()
        env.update({
            'TRACEPARENT': '00-%s-%s-01' % (PARENT_TRACE, PARENT_SPAN),
            'TRACESTATE': 'vendor=abc',
            'OTEL_SERVICE_NAME': 'agent-worker',
            'OTEL_RESOURCE_ATTRIBUTES': 'deployment.environment=test,k8s.pod.name=web-1',
        })
        seen = self.path('inner-traceparent')
        script = 'printf %%s "$TRACEPARENT" > %s; sleep 0.2' % seen
        inner_args = [self.emit, 'exec', '--kind', 'client', '--', 'sh', '-c', script]
        middle_args = [self.emit, 'exec', '--name', 'task:phase:coding', '--record-args',
                       '--'] + inner_args
        t0 = time.time_ns()
        p, _ = self.run_emit(['exec', '--name', 'task', '--kind', 'server',
                              '--attr', 'task.id=t-42', '--attr', 'phase=all', '--']
                             + middle_args, env=env)
        t1 = time.time_ns()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b'')

        spans = self.wait_spans(be, 3, lambda s: s['traceId'] == PARENT_TRACE)
        self.assertEqual(len(spans), 3, spans)
        named = self.by_name(spans)
        self.assertEqual(set(named), {'task', 'task:phase:coding', 'sh'})
        outer, middle, inner = named['task'], named['task:phase:coding'], named['sh']

        # One chain under the given parent.
        self.assertEqual(outer['parentSpanId'], PARENT_SPAN)
        self.assertEqual(middle['parentSpanId'], outer['spanId'])
        self.assertEqual(inner['parentSpanId'], middle['spanId'])
        self.assertEqual(len({s['spanId'] for s in spans}), 3)
        # The innermost command saw its own span.
        self.assertEqual(self.read('inner-traceparent'),
                         '00-%s-%s-01' % (PARENT_TRACE, inner['spanId']))

        self.assertEqual((outer['kind'], middle['kind'], inner['kind']), (2, 1, 3))
        for s in spans:
            self.assertEqual(s['traceState'], 'vendor=abc')
            self.assertEqual(s['flags'] & 0xff, 1)
            self.assertEqual(s['flags'] & 0x300, 0x300)  # has is_remote, is remote
            self.assertEqual(s['status'], {'code': 0, 'message': ''})
            self.assertEqual(s['attributes']['process.exit.code'], 0)
            self.assertEqual(s['scope']['name'], 'spanrelay-emit')
            self.assertEqual(s['resource'].get('service.name'), 'agent-worker')
            self.assertEqual(s['resource'].get('deployment.environment'), 'test')
            self.assertEqual(s['resource'].get('k8s.pod.name'), 'web-1')

        self.assertEqual(outer['attributes'], {
            'process.command': self.emit, 'process.exit.code': 0,
            'task.id': 't-42', 'phase': 'all'})
        self.assertEqual(middle['attributes'], {
            'process.command': self.emit, 'process.exit.code': 0,
            'process.command_args': inner_args})  # the command the middle one ran
        self.assertEqual(inner['attributes'], {'process.command': 'sh',
                                               'process.exit.code': 0})

        # Times nest, sit inside the run, and the innermost covers the sleep.
        start = {k: int(s['startTimeUnixNano']) for k, s in named.items()}
        end = {k: int(s['endTimeUnixNano']) for k, s in named.items()}
        self.assertLessEqual(t0, start['task'])
        self.assertLessEqual(start['task'], start['task:phase:coding'])
        self.assertLessEqual(start['task:phase:coding'], start['sh'])
        self.assertLessEqual(start['sh'] + 200 * 10**6, end['sh'])
        self.assertLessEqual(end['sh'], end['task:phase:coding'])
        self.assertLessEqual(end['task:phase:coding'], end['task'])
        self.assertLessEqual(end['task'], t1)

        m = d.metrics()
        self.assertEqual(metric_sum(m, 'spanrelay_spans_rejected_total'), 0)

    def test_exit_statuses_come_back_and_failures_are_errors(self):
        be, d, env = self.relay()
        env['TRACEPARENT'] = '00-%s-%s-01' % (PARENT_TRACE, PARENT_SPAN)
        cases = [('exit-0', ['sh', '-c', 'exit 0'], 0),
                 ('exit-1', ['sh', '-c', 'exit 1'], 1),
                 ('exit-3', ['sh', '-c', 'exit 3'], 3),
                 ('sigkill', ['sh', '-c', 'kill -KILL $$'], 137),
                 ('not-found', ['./no-such-command-here'], 127),
                 ('not-executable', [self.path('plain-file')], 126)]
        with open(self.path('plain-file'), 'w') as f:
            f.write('not a program\n')
        for name, cmd, want in cases:
            p, _ = self.run_emit(['exec', '--name', name, '--'] + cmd, env=env)
            self.assertEqual(p.returncode, want, (name, p.stderr))

        spans = self.by_name(self.wait_spans(be, len(cases),
                                             lambda s: s['traceId'] == PARENT_TRACE))
        self.assertEqual(spans['exit-0']['status'], {'code': 0, 'message': ''})
        for name, _, want in cases:
            s = spans[name]
            self.assertEqual(s['attributes']['process.exit.code'], want, name)
            self.assertEqual(s['parentSpanId'], PARENT_SPAN)
            if want:
                self.assertEqual(s['status']['code'], 2, name)  # STATUS_CODE_ERROR
        self.assertEqual(spans['exit-3']['status']['message'], 'exit status 3')
        self.assertIn('killed by signal 9', spans['sigkill']['status']['message'])
        self.assertIn('cannot run', spans['not-found']['status']['message'])
        self.assertIn('cannot run', spans['not-executable']['status']['message'])

    def test_signals_reach_the_child(self):
        be, d, env = self.relay()
        for sig, name in ((signal.SIGTERM, 'TERM'), (signal.SIGINT, 'INT'),
                          (signal.SIGHUP, 'HUP')):
            ready, got = self.path('ready-' + name), self.path('got-' + name)
            script = ("trap 'echo %s > %s; exit 42' %s; touch %s; "
                      "while :; do sleep 0.05; done" % (name, got, name, ready))
            proc = subprocess.Popen([self.emit, 'exec', '--name', 'trap-' + name, '--',
                                     'sh', '-c', script], env=clean_env(env),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=self.tmp)
            try:
                self.assertTrue(harness.wait_for(lambda: os.path.exists(ready), timeout=10),
                                'the child did not start')
                os.kill(proc.pid, sig)
                _, err = proc.communicate(timeout=RUN_TIMEOUT)
            finally:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            self.assertClean(err)
            # spanrelay-emit survived the signal and returned the child's own status.
            self.assertEqual(proc.returncode, 42, err)
            self.assertEqual(self.read('got-' + name).strip(), name)

        spans = self.by_name(self.wait_spans(
            be, 3, lambda s: s['name'].startswith('trap-')))
        for name in ('TERM', 'INT', 'HUP'):
            s = spans['trap-' + name]
            self.assertEqual(s['attributes']['process.exit.code'], 42)
            self.assertEqual(s['status'], {'code': 2, 'message': 'exit status 42'})

    def test_invalid_traceparent_starts_a_new_root(self):
        be, d, env = self.relay()
        bad = {
            'short': '00-%s-%s-1' % (PARENT_TRACE, PARENT_SPAN),
            'long': '00-%s-%s-01-00' % (PARENT_TRACE, PARENT_SPAN),
            'version-ff': 'ff-%s-%s-01' % (PARENT_TRACE, PARENT_SPAN),
            'zero-trace': '00-%s-%s-01' % ('0' * 32, PARENT_SPAN),
            'zero-parent': '00-%s-%s-01' % (PARENT_TRACE, '0' * 16),
            'uppercase': '00-%s-%s-01' % (PARENT_TRACE.upper(), PARENT_SPAN),
        }
        seen = {}
        for name, tp in bad.items():
            out = self.path('tp-' + name)
            p, _ = self.run_emit(['exec', '--verbose', '--name', 'bad-' + name, '--', 'sh', '-c',
                                  'printf %%s "$TRACEPARENT" > %s; printf %%s "$TRACESTATE" > %s.ts'
                                  % (out, out)],
                                 env=dict(env, TRACEPARENT=tp, TRACESTATE='vendor=abc'))
            self.assertEqual(p.returncode, 0, p.stderr)
            err = p.stderr.decode()
            self.assertIn('invalid TRACEPARENT', err, name)
            self.assertIn('starting a new trace', err, name)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            version, trace_id, span_id, flags = parse_traceparent(self.read('tp-' + name))
            self.assertEqual((version, flags), ('00', '01'))
            self.assertNotEqual(trace_id, PARENT_TRACE)
            self.assertEqual(self.read('tp-%s.ts' % name), '', 'TRACESTATE kept on a new trace')
            seen[name] = (trace_id, span_id)
        self.assertEqual(len({t for t, _ in seen.values()}), len(bad))

        # Without --verbose the same thing happens silently.
        p, _ = self.run_emit(['exec', '--name', 'bad-quiet', '--', 'true'],
                             env=dict(env, TRACEPARENT=bad['version-ff']))
        self.assertEqual((p.returncode, p.stderr), (0, b''))

        spans = self.by_name(self.wait_spans(be, len(bad) + 1,
                                             lambda s: s['name'].startswith('bad-')))
        for name, (trace_id, span_id) in seen.items():
            s = spans['bad-' + name]
            self.assertEqual((s['traceId'], s['spanId'], s['parentSpanId']),
                             (trace_id, span_id, ''), name)
            self.assertEqual(s['traceState'], '')
            self.assertEqual(s['flags'], 0x101)  # sampled, has is_remote, not remote

    def test_unsampled_parent_is_continued(self):
        be, d, env = self.relay()
        env['TRACEPARENT'] = '00-%s-%s-00' % (PARENT_TRACE, PARENT_SPAN)
        out = self.path('tp')
        p, _ = self.run_emit(['exec', '--verbose', '--name', 'unsampled', '--', 'sh', '-c',
                              'printf %%s "$TRACEPARENT" > %s' % out], env=env)
        self.assertEqual((p.returncode, p.stderr), (0, b''))
        version, trace_id, span_id, flags = parse_traceparent(self.read('tp'))
        self.assertEqual((version, trace_id, flags), ('00', PARENT_TRACE, '00'))
        # The sidecar decides: its sampler (ratio 1 here) keeps the trace.
        s = self.wait_spans(be, 1, lambda s: s['name'] == 'unsampled')[0]
        self.assertEqual((s['traceId'], s['spanId'], s['parentSpanId']),
                         (PARENT_TRACE, span_id, PARENT_SPAN))
        self.assertEqual(s['flags'] & 0xff, 0)

    def test_span_subcommand(self):
        be, d, env = self.relay()
        env['TRACEPARENT'] = '00-%s-%s-01' % (PARENT_TRACE, PARENT_SPAN)
        # A shell script timing its own steps, each the parent of the next.
        p, _ = self.run_emit(['span', '--name', 'step-1', '--start', '1795562379000000000',
                              '--end', '1795562379250000000', '--print-traceparent',
                              '--attr', 'step=1'], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        tp1 = p.stdout.decode().strip()
        version, trace_id, span1, flags = parse_traceparent(tp1)
        self.assertEqual((version, trace_id, flags), ('00', PARENT_TRACE, '01'))

        start2, end2 = '2026-11-24T23:19:39.25Z', '2026-11-25T00:19:40.000000123+01:00'
        p, _ = self.run_emit(['span', '--name', 'step-2', '--kind', 'producer', '--parent', tp1,
                              '--start', start2, '--end', end2, '--print-traceparent',
                              '--error', 'upload failed'], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        _, trace2, span2, _ = parse_traceparent(p.stdout.decode().strip())
        self.assertEqual(trace2, PARENT_TRACE)

        # Bad times are the caller's mistake: refused before anything is sent.
        for args in (['--start', 'yesterday'], ['--start', '2', '--end', '1'],
                     ['--start', '2026-02-30T00:00:00Z']):
            p, _ = self.run_emit(['span', '--name', 'never'] + args, env=env)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(b'spanrelay-emit:', p.stderr)

        spans = self.by_name(self.wait_spans(be, 2, lambda s: s['name'].startswith('step-')))
        s1, s2 = spans['step-1'], spans['step-2']
        self.assertEqual((s1['traceId'], s1['spanId'], s1['parentSpanId']),
                         (PARENT_TRACE, span1, PARENT_SPAN))
        self.assertEqual((int(s1['startTimeUnixNano']), int(s1['endTimeUnixNano'])),
                         (1795562379000000000, 1795562379250000000))
        self.assertEqual(s1['attributes'], {'step': '1'})
        self.assertEqual(s1['kind'], 1)
        self.assertEqual(s1['status']['code'], 0)
        self.assertEqual(s1['traceState'], '')
        self.assertEqual((s2['traceId'], s2['spanId'], s2['parentSpanId']),
                         (PARENT_TRACE, span2, span1))
        self.assertEqual((int(s2['startTimeUnixNano']), int(s2['endTimeUnixNano'])),
                         (rfc3339_ns(start2), rfc3339_ns(end2)))
        self.assertEqual(int(s2['endTimeUnixNano']) - int(s2['startTimeUnixNano']),
                         750000123)
        self.assertEqual(s2['kind'], 4)
        self.assertEqual(s2['status'], {'code': 2, 'message': 'upload failed'})
        self.assertEqual(s2['attributes'], {})
        self.assertFalse(any(s['name'] == 'never' for s in be.spans()))


class TestProcess(EmitTestCase):
    def test_ignored_signals_stay_ignored(self):
        """Signals ignored when spanrelay-emit starts (a background job's SIGINT, a parent
        that ignores SIGCHLD) stay ignored in the command, as without spanrelay-emit, and
        the command's exit status still comes back."""
        def ignore():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)

        endpoint = ['--endpoint', 'unix://' + self.path('none.sock')]
        p = subprocess.run([self.emit, 'exec'] + endpoint + ['--', 'grep', 'SigIgn',
                                                             '/proc/self/status'],
                           env=clean_env(), capture_output=True, timeout=RUN_TIMEOUT,
                           preexec_fn=ignore)
        self.assertClean(p.stderr)
        self.assertEqual(p.returncode, 0, p.stderr)
        mask = int(p.stdout.split()[1], 16)
        self.assertTrue(mask & (1 << (signal.SIGINT - 1)), hex(mask))
        self.assertTrue(mask & (1 << (signal.SIGCHLD - 1)), hex(mask))
        self.assertFalse(mask & (1 << (signal.SIGTERM - 1)), hex(mask))

        p = subprocess.run([self.emit, 'exec'] + endpoint + ['--', 'sh', '-c', 'exit 7'],
                           env=clean_env(), capture_output=True, timeout=RUN_TIMEOUT,
                           preexec_fn=ignore)
        self.assertClean(p.stderr)
        self.assertEqual(p.returncode, 7, p.stderr)


class TestSidecarReceives(EmitTestCase):
    """What the daemon's receiver counts, whatever its exporter does."""

    def test_daemon_counts_the_spans(self):
        d = self.daemon()
        env = {'OTEL_EXPORTER_OTLP_ENDPOINT': 'unix://' + d.socket_path}
        p, _ = self.run_emit(['exec', '--verbose', '--', self.emit, 'exec', '--verbose', '--',
                              self.emit, 'exec', '--verbose', '--', 'true'], env=env)
        self.assertEqual((p.returncode, p.stderr), (0, b''))
        p, _ = self.run_emit(['span', '--verbose', '--name', 's', '--start', '1', '--end', '2',
                              '--endpoint', 'unix://' + d.socket_path])
        self.assertEqual((p.returncode, p.stderr), (0, b''))
        m = d.wait_metrics(lambda m: metric_sum(m, 'spanrelay_spans_received_total') >= 4)
        self.assertEqual(m.get('spanrelay_spans_received_total{transport="http"}'), 4)
        self.assertEqual(metric_sum(m, 'spanrelay_spans_rejected_total'), 0)


class TestDirectToBackend(EmitTestCase):
    """The sender against the fake backend's OTLP/HTTP server, no daemon in between."""

    def test_http_endpoint_forms(self):
        be = self.backend(grpc=False)
        forms = [
            ('flag', {}, ['--endpoint', be.http_endpoint]),
            ('base-env', {'OTEL_EXPORTER_OTLP_ENDPOINT': be.http_endpoint + '/'}, []),
            ('signal-env', {'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT': be.http_url,
                            'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://127.0.0.1:1'}, []),
        ]
        for name, env, args in forms:
            p, _ = self.run_emit(['exec', '--verbose', '--name', name, '--service', 'svc'] + args
                                 + ['--', 'true'], env=env)
            self.assertEqual((p.returncode, p.stderr), (0, b''), name)
        spans = self.by_name(self.wait_spans(be, len(forms)))
        self.assertEqual(set(spans), {name for name, _, _ in forms})
        for r in be.requests:
            self.assertEqual((r.transport, r.path), ('http', '/v1/traces'))
            self.assertEqual(r.headers.get('content-type'), 'application/x-protobuf')
        for s in spans.values():
            self.assertEqual(s['resource'], {'service.name': 'svc'})
            self.assertEqual(s['parentSpanId'], '')

    def test_sdk_disabled_sends_nothing(self):
        be = self.backend(grpc=False)
        p, _ = self.run_emit(['exec', '--verbose', '--endpoint', be.http_endpoint, '--',
                              'sh', '-c', 'exit 4'], env={'OTEL_SDK_DISABLED': 'true'})
        self.assertEqual((p.returncode, p.stderr), (4, b''))
        time.sleep(0.3)
        self.assertEqual(be.requests, [])


class TestFailOpen(EmitTestCase):
    """No sidecar, or one that never answers: the command's run and status are untouched
    and sending adds at most about --timeout."""

    def assertBounded(self, args, env, command_seconds, timeout_seconds, want_status,
                      verbose_says):
        p, took = self.run_emit(['exec', '--timeout', '%dms' % (timeout_seconds * 1000)]
                                + args + ['--', 'sh', '-c', 'sleep %s; exit %d'
                                          % (command_seconds, want_status)], env=env)
        self.assertEqual(p.returncode, want_status, p.stderr)
        self.assertGreaterEqual(took, command_seconds)
        self.assertLess(took, command_seconds + timeout_seconds + SLACK,
                        'spanrelay-emit took %.2fs' % took)
        if '--verbose' in args:
            lines = p.stderr.decode().strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn('span not sent', lines[0])
            self.assertIn(verbose_says, lines[0])
        else:
            self.assertEqual(p.stderr, b'')
        return took

    def test_no_sidecar_listening(self):
        env = {'OTEL_EXPORTER_OTLP_ENDPOINT': 'unix://' + self.path('absent.sock')}
        for args in ([], ['--verbose']):
            took = self.assertBounded(args, env, 0.1, 1, 3, 'No such file or directory')
            self.assertLess(took, 0.1 + SLACK)  # nothing to wait for
        port = harness.free_port()
        self.assertBounded(['--verbose', '--endpoint', 'http://127.0.0.1:%d' % port], {},
                           0.1, 1, 0, 'Connection refused')

    def test_sidecar_never_answers(self):
        path = self.path('silent.sock')
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(path)
        listener.listen(1)  # never accepted, never read
        env = {'OTEL_EXPORTER_OTLP_ENDPOINT': 'unix://' + path}
        # The first runs wait for an answer; once the backlog is full, for room in it.
        for args in ([], ['--verbose'], ['--verbose'], ['--verbose']):
            took = self.assertBounded(args, env, 0.2, 1, 5, 'unix://' + path)
            self.assertGreaterEqual(took, 0.2 + 0.9)  # it did wait for the bound
        self.assertBounded(['--verbose', '--timeout', '300ms'], env, 0, 0.3, 0, 'span not sent')

    def test_http_sidecar_that_hangs(self):
        be = self.backend(grpc=False)
        be.set_default(('hang', 10))
        took = self.assertBounded(['--verbose', '--endpoint', be.http_endpoint], {}, 0.1, 1, 1,
                                  'no answer before the timeout')
        self.assertGreaterEqual(took, 1.0)

    def test_bad_environment_is_ignored(self):
        be = self.backend(grpc=False)
        env = {'OTEL_RESOURCE_ATTRIBUTES': 'novalue,=x', 'TRACEPARENT': 'garbage',
               'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT': 'ftp://nowhere',
               'OTEL_EXPORTER_OTLP_ENDPOINT': be.http_endpoint}
        p, _ = self.run_emit(['exec', '--verbose', '--name', 'env', '--', 'true'], env=env)
        self.assertEqual(p.returncode, 0)
        err = p.stderr.decode()
        self.assertIn('invalid TRACEPARENT', err)
        self.assertIn('OTEL_RESOURCE_ATTRIBUTES ignored', err)
        self.assertIn('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ignored', err)
        s = self.wait_spans(be, 1)[0]
        self.assertEqual((s['name'], s['parentSpanId'], s['resource']), ('env', '', {}))

    def test_bad_command_line_is_refused(self):
        for args in (['exec'], ['exec', '--attr', 'novalue', '--', 'true'],
                     ['exec', '--kind', 'sideways', '--', 'true'],
                     ['exec', '--timeout', 'soon', '--', 'true'],
                     ['exec', '--endpoint', 'https://tempo:4318', '--', 'true'],
                     ['exec', '--start', '1', '--', 'true'],
                     ['span', '--name', 'x'], ['span', '--start', '1'],
                     ['span', '--name', 'x', '--start', '1', '--record-args'],
                     ['launch', 'true'], []):
            p, _ = self.run_emit(args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertNotEqual(p.stderr, b'')
        p, _ = self.run_emit(['--version'])
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith(b'spanrelay-emit '))


if __name__ == '__main__':
    unittest.main()
