"""`make run` installs only what building and running the daemon needs; `make test` the rest.

Checked on a fresh copy of the tree (the files git tracks or would track, as they are now:
no node_modules, no build/, no Helm), the way a new clone meets it: the plan
scripts/deps.sh prints with --dry-run for each level, the recipe `make -n run` would run,
and a real `make deps-run` in the copy, after which no npm package and no Helm exist there.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

import harness

ROOT = harness.ROOT
TIMEOUT = 120

# What running the daemon never needs: the test peers, the npm toolchain, the container tools.
NOT_FOR_RUNNING = ('nodejs', 'npm', 'unzip', 'podman', 'runc', 'debootstrap', 'slirp4netns',
                   'dnsmasq-base', 'check', 'python3-grpcio', 'python3-protobuf',
                   'nghttp2-client', 'curl')


class FreshClone(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix='spanrelay-clone-')
        cls.clone = os.path.join(cls._tmp.name, 'spanrelay')
        r = subprocess.run(['git', '-C', ROOT, 'ls-files', '-z', '--cached', '--others',
                            '--exclude-standard'], capture_output=True, timeout=TIMEOUT)
        if r.returncode != 0:
            raise AssertionError('git ls-files: %s' % r.stderr.decode())
        for rel in filter(None, r.stdout.decode().split('\0')):
            src = os.path.join(ROOT, rel)
            if not os.path.isfile(src):
                continue        # deleted in the working tree
            dst = os.path.join(cls.clone, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def run_in_clone(self, argv):
        env = {k: v for k, v in os.environ.items() if not k.startswith('MAKE')}
        return subprocess.run(argv, cwd=self.clone, capture_output=True, timeout=TIMEOUT,
                              env=env, stdin=subprocess.DEVNULL)

    def plan(self, level):
        r = self.run_in_clone(['scripts/deps.sh', level, '--dry-run'])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        lines = r.stdout.decode().splitlines()
        covers = [ln for ln in lines if ln.startswith('deps: %s covers Debian packages: ' % level)]
        self.assertEqual(len(covers), 1, lines)
        return set(covers[0].split(': ', 2)[2].split()), lines

    def assert_nothing_for_tests(self):
        found = []
        for dirpath, dirnames, _ in os.walk(self.clone):
            if 'node_modules' in dirnames:
                found.append(os.path.join(dirpath, 'node_modules'))
        self.assertEqual(found, [], 'npm packages installed')
        self.assertFalse(os.path.exists(os.path.join(self.clone, 'build', 'tools')),
                         'Helm installed')

    def test_run_plans_no_test_peers_npm_or_helm(self):
        debs, lines = self.plan('run')
        self.assertIn('libuv1-dev', debs)
        self.assertIn('build-essential', debs)
        self.assertFalse(debs & set(NOT_FOR_RUNNING), sorted(debs & set(NOT_FOR_RUNNING)))
        for ln in lines:
            self.assertNotIn('npm', ln)
            self.assertNotIn('helm', ln)
        # The same check on the test level does see what a fresh clone lacks: it is not
        # vacuous.
        test_debs, test_lines = self.plan('test')
        self.assertTrue(debs < test_debs)
        self.assertTrue(set(NOT_FOR_RUNNING) <= test_debs, sorted(set(NOT_FOR_RUNNING) - test_debs))
        self.assertIn('deps: would npm ci in tests/interop', test_lines)
        self.assertIn('deps: would npm ci in tests/helm', test_lines)
        self.assertIn('deps: would install helm into build/tools/helm', test_lines)
        image_debs, _ = self.plan('image')
        self.assertEqual(image_debs - debs, {'podman', 'runc', 'debootstrap'})
        self.assert_nothing_for_tests()

    def test_make_run_installs_only_what_running_needs(self):
        r = self.run_in_clone(['make', '-n', 'run'])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        recipe = r.stdout.decode()
        self.assertIn('scripts/deps.sh run', recipe)
        for word in ('deps.sh test', 'deps.sh image', 'npm', 'helm', 'podman'):
            self.assertNotIn(word, recipe)
        # For real: the step make run starts with, in the fresh copy.
        r = self.run_in_clone(['make', '--no-print-directory', 'deps-run'])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertNotIn(b'npm', r.stdout + r.stderr)
        self.assertNotIn(b'helm', r.stdout + r.stderr)
        self.assert_nothing_for_tests()


if __name__ == '__main__':
    unittest.main()
