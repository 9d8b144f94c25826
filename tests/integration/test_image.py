"""The container image (make image: localhost/spanrelay:<VERSION>) run the way the Helm chart
runs it, with Debian's podman.

The chart is rendered with the real helm (its minimal values, the endpoint pointed at a fake
gRPC backend on the host), and the sidecar container of the render becomes the podman
command: its user, read-only root filesystem, dropped capabilities and no privilege
escalation, its args and environment (Downward API values made up), the ConfigMap's
spanrelay.yaml mounted read-only at its directory, the socket directory a volume shared with
the host (owned by the pod's fsGroup, as the chart's emptyDir is), and the health port
published on 127.0.0.1. The official OpenTelemetry JS SDK on the host exports over the
socket; spanrelay-emit from the same image, in a second container with another user but the
socket's group (the way an agent container of the pod would), adds a span; the fake backend
must receive every one of them; /health answers 200; SIGTERM stops the container with exit
0 inside the chart's grace period.

Networking: the container gets its own network namespace from podman through slirp4netns
with allow_host_loopback, which is how a process in it reaches the host's 127.0.0.1 (as
10.0.2.2, slirp's address for the host inside that namespace; nothing leaves the machine)
and how the health port is published on 127.0.0.1. podman runs with runc, a
containers.conf without default rlimits and explicit --ulimit flags (scripts/containers.conf
says why). Where containers cannot run, the tests fail saying so.

Run once, by the plain integration run: the image holds the plain build, so the ASan run
skips these tests.
"""

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest
import urllib.request
import uuid

import harness
from harness import FakeBackend, compare_spans, run_js, js_available, metric_sum
import test_helm

ROOT = harness.ROOT
CONTAINERS_CONF = os.path.join(ROOT, 'scripts', 'containers.conf')
RUN_FLAGS = ['--runtime', 'runc']
ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']
# slirp4netns's address for the host's loopback, inside the container's namespace.
HOST_FROM_CONTAINER = '10.0.2.2'
IMAGE_LIMIT_BYTES = 30 << 20
PODMAN_TIMEOUT = 60


def image_name():
    with open(os.path.join(ROOT, 'VERSION')) as f:
        return 'localhost/spanrelay:' + f.read().strip()


def podman(*args, timeout=PODMAN_TIMEOUT, check=True):
    env = dict(os.environ, CONTAINERS_CONF=CONTAINERS_CONF)
    r = subprocess.run(['podman'] + RUN_FLAGS + list(args), capture_output=True,
                       timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError('podman %s failed (exit %d): %s'
                             % (' '.join(args[:2]), r.returncode, r.stderr.decode()[-2000:]))
    return r


def proc_status(pid):
    with open('/proc/%d/status' % pid) as f:
        return dict(line.rstrip('\n').split(':\t', 1) for line in f if ':\t' in line)


def root_mount_options(pid):
    """The mount options of the container's / as its process sees it."""
    with open('/proc/%d/mountinfo' % pid) as f:
        for line in f:
            fields = line.split()
            if fields[4] == '/':
                return fields[5].split(',')
    raise AssertionError('no / in /proc/%d/mountinfo' % pid)


@unittest.skipIf(os.environ.get('SPANRELAY_ASAN') == '1',
                 'the image holds the plain build: run by the plain integration run')
class Image(test_helm.HelmTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not shutil.which('podman'):
            raise AssertionError('containers cannot run here: podman is not installed '
                                 '(`make deps` installs it)')
        r = podman('image', 'exists', image_name(), check=False)
        if r.returncode != 0:
            raise AssertionError('the image %s is missing: `make image` builds it (make test '
                                 'does, before the integration tests)' % image_name())

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='spanrelay-image-')
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.containers = []

    def tearDown(self):
        for name in self.containers:
            podman('rm', '--force', '--time', '0', name, check=False)

    def container_name(self):
        name = 'spanrelay-test-%s' % uuid.uuid4().hex[:12]
        self.containers.append(name)
        return name

    # ------------------------------------------------------------ the chart's pod

    def chart_sidecar(self, endpoint):
        """(sidecar container, daemon configuration text, pod fsGroup, grace period) of the
        chart rendered with its minimal values and the given endpoint."""
        objs = self.render(test_helm.VALUES_FILES['minimal'],
                           sets=['otel.endpoint=' + endpoint])
        cm, _ = self.daemon_config(objs)
        side, _ = self.sidecar(objs)
        spec = self.pod_spec(self.one(objs, 'Deployment'))
        return (side, cm['data'][test_helm.CONFIG_KEY], spec['securityContext']['fsGroup'],
                spec['terminationGracePeriodSeconds'])

    def podman_run_flags(self, side, config_dir, socket_dir, health_host_port):
        """The sidecar container of the render as podman run flags."""
        sec = side['securityContext']
        flags = ['--user', '%d:%d' % (sec['runAsUser'], sec['runAsGroup'])]
        self.assertIs(sec['readOnlyRootFilesystem'], True)
        flags.append('--read-only')
        self.assertEqual(sec['capabilities'], {'drop': ['ALL']})
        flags.append('--cap-drop=all')
        self.assertIs(sec['allowPrivilegeEscalation'], False)
        flags += ['--security-opt', 'no-new-privileges']
        env = self.container_env(side)
        for k, v in env.items():
            if k != 'PATH':
                flags += ['--env', '%s=%s' % (k, v)]
        mounts = {m['name']: m for m in side['volumeMounts']}
        flags += ['--volume', '%s:%s' % (socket_dir, mounts['spanrelay-socket']['mountPath'])]
        flags += ['--volume', '%s:%s:ro' % (config_dir, mounts['spanrelay-config']['mountPath'])]
        if 'spanrelay-spool' in mounts:
            # The spool's emptyDir as kubelet makes it: world-writable.
            spool_dir = os.path.join(self.tmp, 'spool')
            os.makedirs(spool_dir)
            os.chmod(spool_dir, 0o777)
            flags += ['--volume', '%s:%s' % (spool_dir, mounts['spanrelay-spool']['mountPath'])]
        port = [p for p in side['ports'] if p['name'] == 'spanrelay-http'][0]['containerPort']
        flags += ['--publish', '127.0.0.1:%d:%d' % (health_host_port, port)]
        flags += ['--network', 'slirp4netns:allow_host_loopback=true']
        return flags

    # ------------------------------------------------------------ the tests

    def test_runs_as_the_chart_runs_it(self):
        if not js_available():
            self.fail('node or tests/interop/node_modules missing: run `make deps`')
        with FakeBackend(grpc=True, http=False) as be:
            endpoint = 'http://%s:%d' % (HOST_FROM_CONTAINER, be.grpc_port)
            side, config, fs_group, grace = self.chart_sidecar(endpoint)

            config_dir = os.path.join(self.tmp, 'config')
            socket_dir = os.path.join(self.tmp, 'socket')
            os.makedirs(config_dir)
            with open(os.path.join(config_dir, test_helm.CONFIG_KEY), 'w') as f:
                f.write(config)
            # The emptyDir as kubelet makes it with fsGroup: group-owned, setgid.
            os.makedirs(socket_dir)
            os.chown(socket_dir, 0, fs_group)
            os.chmod(socket_dir, 0o2770)
            health_port = harness.free_port()
            name = self.container_name()
            r = podman('run', '--detach', '--name', name, *ULIMITS,
                       *self.podman_run_flags(side, config_dir, socket_dir, health_port),
                       image_name(), *side['args'], check=False)
            if r.returncode != 0:
                self.fail('containers cannot run here: podman run failed (exit %d): %s'
                          % (r.returncode, r.stderr.decode()[-2000:]))

            health_url = 'http://127.0.0.1:%d/health' % health_port
            health = harness.wait_for(lambda: self.get_json(health_url), timeout=30)
            self.assertTrue(health, '/health did not answer 200 within 30 s; logs:\n%s'
                            % self.logs(name))
            sock = os.path.join(socket_dir, 'otlp.sock')
            self.assertTrue(os.path.exists(sock), 'no socket in the shared directory')

            # The process: uid 10001 on a read-only root, no capabilities, no escalation.
            pid = int(podman('inspect', '--format', '{{.State.Pid}}', name).stdout)
            status = proc_status(pid)
            sec = side['securityContext']
            self.assertEqual(status['Uid'].split(), [str(sec['runAsUser'])] * 4)
            self.assertEqual(status['Gid'].split(), [str(sec['runAsGroup'])] * 4)
            self.assertEqual(sec['runAsUser'], 10001)
            self.assertEqual(int(status['CapEff'], 16), 0)
            self.assertEqual(int(status['CapPrm'], 16), 0)
            self.assertEqual(status['NoNewPrivs'], '1')
            self.assertIn('ro', root_mount_options(pid))

            # The application's SDK on the host, over the shared socket.
            summary = run_js('grpc', 'unix://' + sock, spans=200, traces=20, check=True)
            # What the sidecar adds to every resource (never overwriting): the pod's identity.
            pod_attrs = dict(kv.split('=', 1) for kv in
                             self.container_env(side)['OTEL_RESOURCE_ATTRIBUTES'].split(','))
            expected = [dict(s, resource=dict(pod_attrs, **s['resource']))
                        for s in summary['spans']]
            # An agent container of the pod: another user, the pod's group, the image's
            # spanrelay-emit.
            emitted = self.emit_from_image(socket_dir, side, fs_group)
            total = len(expected) + 1
            self.assertTrue(be.wait_for_spans(total, timeout=30),
                            'backend got %d of %d spans; logs:\n%s'
                            % (be.span_count(), total, self.logs(name)))
            spans = be.spans()
            self.assertEqual(compare_spans(expected, [s for s in spans
                                                      if s['name'] != 'image-emit']), [])
            by_emit = [s for s in spans if s['name'] == 'image-emit']
            self.assertEqual(len(by_emit), 1)
            self.assertEqual(by_emit[0]['traceId'], emitted)
            # The chart's resource attributes were added on the way.
            self.assertEqual(by_emit[0]['resource'].get('k8s.namespace.name'), 'shop')

            metrics_url = 'http://127.0.0.1:%d/metrics' % health_port
            m = harness.wait_for(lambda: self.metrics_if(metrics_url, total), timeout=10)
            self.assertTrue(m, 'exported never reached %d' % total)
            self.assertEqual(metric_sum(m, 'spanrelay_spans_received_total'), total)
            self.assertTrue(harness.accounting_holds(m), harness.accounting(m))
            health = self.get_json(health_url)
            self.assertEqual(health['exporter']['state'], 'ready')
            # The spool on the chart's emptyDir: usable, and untouched with a healthy backend.
            self.assertEqual(health['spool']['up'], 1, health)
            self.assertEqual(health['spool']['bytes'], 0, health)

            # SIGTERM, as kubelet sends it: exit 0 within the grace period.
            t0 = time.monotonic()
            podman('kill', '--signal', 'TERM', name)
            r = podman('wait', name, timeout=grace + 10)
            elapsed = time.monotonic() - t0
            self.assertEqual(r.stdout.decode().strip(), '0', self.logs(name))
            self.assertLess(elapsed, grace)
            logs = [json.loads(line) for line in self.logs(name).splitlines()
                    if line.startswith('{')]
            self.assertEqual(logs[-1]['msg'], 'stopped', logs[-3:])
            self.assertFalse([line for line in logs if line['level'] == 'ERROR'], logs)

    def emit_from_image(self, socket_dir, side, fs_group):
        """Runs the image's spanrelay-emit in a container of its own, as an agent container
        of the pod would (the socket volume, another user, the pod's group); returns the
        trace id of the span it sent."""
        mount = [m for m in side['volumeMounts'] if m['name'] == 'spanrelay-socket'][0]
        sock = mount['mountPath'].rstrip('/') + '/otlp.sock'
        r = podman('run', '--rm', *ULIMITS, '--read-only', '--cap-drop=all',
                   '--user', '65534:65534', '--group-add', str(fs_group),
                   '--network', 'none', '--volume', '%s:%s' % (socket_dir, mount['mountPath']),
                   '--entrypoint', '/usr/local/bin/spanrelay-emit', image_name(),
                   'span', '--name', 'image-emit', '--start', str(time.time_ns() - 10**6),
                   '--endpoint', 'unix://' + sock, '--print-traceparent', '--verbose',
                   '--timeout', '5s')
        tp = r.stdout.decode().strip()
        self.assertRegex(tp, r'^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$', r.stderr.decode())
        return tp.split('-')[1]

    def test_holds_the_daemon_its_libraries_and_nothing_else(self):
        """Exactly the shared libraries the binaries load, no shell, under the size goal."""
        name = self.container_name()
        podman('create', '--name', name, image_name())
        r = podman('export', name, timeout=120)
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
            members = {('/' + m.name.lstrip('./')).rstrip('/'): m for m in tar.getmembers()}
        names = set(members)
        for path in ('/usr/local/bin/spanrelay', '/usr/local/bin/spanrelay-emit',
                     '/etc/passwd', '/etc/group', '/etc/ssl/certs/ca-certificates.crt',
                     '/etc/spanrelay/spanrelay.yaml', '/var/run/spanrelay'):
            self.assertIn(path, names)
        for absent in ('/bin/sh', '/usr/bin/sh', '/usr/bin/apt-get', '/usr/bin/dpkg'):
            self.assertNotIn(absent, names)
        sock_dir = members['/var/run/spanrelay']
        self.assertEqual((sock_dir.uid, sock_dir.gid), (10001, 10001))
        libs = {os.path.basename(n) for n in names
                if n.startswith('/usr/lib/x86_64-linux-gnu/') and '.so' in n}
        wanted = self.loaded_libraries()
        self.assertTrue(wanted <= libs, 'missing from the image: %s' % sorted(wanted - libs))
        # Beside the sonames, only the files they link to.
        extra = {n for n in libs - wanted
                 if not any(n.startswith(w + '.') for w in wanted)}
        self.assertFalse(extra, 'libraries the binaries do not load: %s' % sorted(extra))
        r = podman('image', 'inspect', '--format', '{{.Size}} {{.Config.User}}', image_name())
        size, user = r.stdout.decode().split()
        self.assertLess(int(size), IMAGE_LIMIT_BYTES, 'image is %s bytes' % size)
        self.assertEqual(user, '10001:10001')
        r = podman('run', '--rm', *ULIMITS, '--network', 'none', image_name(), '--version')
        with open(os.path.join(ROOT, 'VERSION')) as f:
            self.assertIn(f.read().strip(), r.stdout.decode() + r.stderr.decode())

    def loaded_libraries(self):
        """The sonames (and the loader) ldd resolves for the plain build's two binaries,
        and for the libraries the daemon loads itself when a configuration needs them
        (`make dlopen-libs`: libcurl, for OTLP/HTTP destinations) with those too."""
        paths = []
        for b in ('spanrelay', 'spanrelay-emit'):
            path = os.path.join(ROOT, 'build', b)
            self.assertTrue(os.access(path, os.X_OK), '%s not built: `make` first' % path)
            paths.append(path)
        r = subprocess.run(['make', '-s', '-C', ROOT, 'dlopen-libs'], capture_output=True,
                           timeout=30, check=True)
        dlopened = r.stdout.decode().split()
        self.assertIn('libcurl.so.4', dlopened)
        cache = subprocess.run(['ldconfig', '-p'], capture_output=True, timeout=30,
                               check=True).stdout.decode()
        for so in dlopened:
            m = re.search(r'^\s*%s \(libc6,x86-64\) => (\S+)$' % re.escape(so), cache, re.M)
            self.assertTrue(m, '%s not in the loader cache' % so)
            paths.append(m.group(1))
        out = set(dlopened)
        for path in paths:
            r = subprocess.run(['ldd', path], capture_output=True, timeout=30)
            for line in r.stdout.decode().splitlines():
                m = re.match(r'\s*(\S+) => /', line) or re.match(r'\s*/\S*/(ld-linux\S*)', line)
                if m:
                    out.add(m.group(1))
        return out

    # ------------------------------------------------------------ helpers

    @staticmethod
    def get_json(url):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.loads(r.read()) if r.status == 200 else None
        except OSError:
            return None

    @staticmethod
    def metrics_if(url, exported):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                m = harness.parse_prometheus(r.read().decode())
        except OSError:
            return None
        return m if metric_sum(m, 'spanrelay_spans_exported_total') == exported else None

    @staticmethod
    def logs(name):
        r = podman('logs', name, check=False)
        return (r.stdout + r.stderr).decode('utf-8', 'replace')


if __name__ == '__main__':
    unittest.main()
