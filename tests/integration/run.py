#!/usr/bin/python3
"""Runs spanrelay's integration tests: every test method of tests/integration/test_*.py
(unittest), each in a child process of its own, bounded by a per-test timeout. At the
timeout the child gets SIGTERM, which raises TimeoutError inside the test so that its
cleanups (which stop what it started, by PID) run; a child still alive 15 s later is
SIGKILLed by PID.

    /usr/bin/python3 tests/integration/run.py [-k SUBSTRING]... [-j JOBS] [--timeout SECONDS]
                                              [-v]

Prints `PASS id`, `FAIL id` or `SKIP id (reason)` per test (the output of a failing test
follows it), then exactly one closing line `integration: N passed, N failed`.
Exits 1 when a test failed, 0 otherwise (also when there are no tests).
Environment: INTEGRATION_TEST_TIMEOUT (default 120 s) sets the per-test bound. A test
class that needs longer (an outage the issue sets at a minute) says so in its
`TIMEOUT_SECONDS` attribute; those tests start first, so that with -j they overlap the rest.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_PYTHON = '/usr/bin/python3'


def _reexec_with_system_python():
    """grpcio and protobuf are Debian's, for /usr/bin/python3: switch to it if needed."""
    try:
        import grpc  # noqa: F401
        import google.protobuf  # noqa: F401
        return
    except ImportError:
        pass
    if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and \
            os.path.exists(SYSTEM_PYTHON):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)


def _iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _iter_tests(t)
        else:
            yield t


def discover():
    """[(test id, None, own bound or None)] for every test, or [(module name, error text,
    None)] for a module that does not import."""
    loader = unittest.TestLoader()
    suite = loader.discover(start_dir=HERE, pattern='test_*.py', top_level_dir=HERE)
    out = []
    for t in _iter_tests(suite):
        tid = t.id()
        if tid.startswith('unittest.loader._FailedTest'):
            err = getattr(t, '_exception', None)
            out.append((tid.split('.')[-1], 'cannot import: %s' % err, None))
        else:
            out.append((tid, None, getattr(t, 'TIMEOUT_SECONDS', None)))
    return out


def run_one(test_id, result_path):
    """Child side: runs one test and writes {'outcome', 'reason'} to result_path."""
    def on_term(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise TimeoutError('test timed out (SIGTERM from the runner)')

    signal.signal(signal.SIGTERM, on_term)
    sys.path.insert(0, HERE)
    suite = unittest.TestLoader().loadTestsFromName(test_id)
    result = unittest.TestResult()
    suite.run(result)
    if result.errors or result.failures:
        outcome = 'fail'
        reason = '\n'.join(tb for _, tb in result.errors + result.failures)
        sys.stderr.write(reason)
    elif result.skipped:
        outcome, reason = 'skip', result.skipped[0][1]
    elif result.unexpectedSuccesses:
        outcome, reason = 'fail', 'unexpected success'
    elif result.testsRun == 0:
        outcome, reason = 'fail', 'test not found'
    else:
        outcome, reason = 'pass', ''
    with open(result_path, 'w') as f:
        json.dump({'outcome': outcome, 'reason': reason}, f)
    return 0 if outcome != 'fail' else 1


def run_child(test_id, timeout):
    fd, result_path = tempfile.mkstemp(prefix='itest-', suffix='.json')
    os.close(fd)
    started = time.monotonic()
    try:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--one', test_id,
                                 '--result', result_path],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=HERE)
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _signal(proc, signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                out, _ = proc.communicate(timeout=10)
        elapsed = time.monotonic() - started
        text = out.decode('utf-8', 'replace')
        if timed_out:
            return 'fail', 'timed out after %ds' % timeout, text, elapsed
        try:
            with open(result_path) as f:
                res = json.load(f)
        except (OSError, ValueError):
            return 'fail', 'test process exited %s without a result' % proc.returncode, text, elapsed
        return res['outcome'], res['reason'], text, elapsed
    finally:
        os.unlink(result_path)


def _signal(proc, sig):
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('-k', action='append', default=[], help='run tests whose id contains this')
    ap.add_argument('-j', '--jobs', type=int, default=1)
    ap.add_argument('--timeout', type=float,
                    default=float(os.environ.get('INTEGRATION_TEST_TIMEOUT', '120')))
    ap.add_argument('-v', '--verbose', action='store_true', help='show output of passing tests')
    ap.add_argument('--one', help=argparse.SUPPRESS)
    ap.add_argument('--result', help=argparse.SUPPRESS)
    args = ap.parse_args()

    _reexec_with_system_python()
    if args.one:
        return run_one(args.one, args.result)

    # Generated protobuf classes first: tests import them.
    pygen = subprocess.run([os.path.join(HERE, 'pygen.sh')], capture_output=True, timeout=120)
    if pygen.returncode != 0:
        sys.stdout.write(pygen.stderr.decode('utf-8', 'replace'))

    # Children run in tests/integration: a relative SPANRELAY_BIN means the caller's cwd.
    if os.environ.get('SPANRELAY_BIN') and not os.path.isabs(os.environ['SPANRELAY_BIN']):
        os.environ['SPANRELAY_BIN'] = os.path.abspath(os.environ['SPANRELAY_BIN'])

    sys.path.insert(0, HERE)
    tests = discover()
    if args.k:
        tests = [t for t in tests if any(k in t[0] for k in args.k)]
    # Longest first (a stable sort keeps the rest in file order).
    tests.sort(key=lambda t: -(t[2] or 0))

    passed = failed = skipped = 0
    lock = threading.Lock()

    def report(tid, outcome, reason, text, elapsed):
        nonlocal passed, failed, skipped
        with lock:
            if outcome == 'pass':
                passed += 1
                print('PASS %s (%.1fs)' % (tid, elapsed), flush=True)
                if args.verbose and text.strip():
                    print(_indent(text), flush=True)
            elif outcome == 'skip':
                skipped += 1
                print('SKIP %s (%s)' % (tid, reason), flush=True)
            else:
                failed += 1
                print('FAIL %s (%.1fs): %s' % (tid, elapsed, reason.strip().splitlines()[-1]
                                               if reason.strip() else ''), flush=True)
                if text.strip():
                    print('FAIL: %s' % tid)
                    print(_indent(text), flush=True)

    runnable = []
    for tid, err, own_bound in tests:
        if err is not None:
            report(tid, 'fail', err, '', 0.0)
        else:
            runnable.append((tid, max(args.timeout, own_bound or 0)))

    def job(test):
        tid, bound = test
        report(tid, *run_child(tid, bound))

    if args.jobs > 1 and len(runnable) > 1:
        with ThreadPoolExecutor(max_workers=args.jobs) as ex:
            list(ex.map(job, runnable))
    else:
        for test in runnable:
            job(test)

    if skipped:
        print('integration: %d skipped' % skipped)
    print('integration: %d passed, %d failed' % (passed, failed), flush=True)
    return 1 if failed else 0


def _indent(text, limit=200):
    lines = text.rstrip().splitlines()
    if len(lines) > limit:
        lines = ['... (%d lines cut)' % (len(lines) - limit)] + lines[-limit:]
    return '\n'.join('    ' + line for line in lines)


if __name__ == '__main__':
    sys.exit(main())
