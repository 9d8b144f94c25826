"""A gateway fleet behind a DNS name, for the sharding tests (needs root, `ip` and
dnsmasq from Debian's dnsmasq-base).

    with Fleet() as fleet:                  # network namespace + dnsmasq, entered
        fleet.set_records(['127.0.0.2', '127.0.0.3'])
        fleet.wrap(['build/spanrelay', '-c', path])   # run a process with the fleet's DNS
        fleet.resolve()                     -> ['127.0.0.2', '127.0.0.3']

Fleet creates a network namespace of its own (`ip netns add`), with its own resolv.conf
(/etc/netns/<name>/resolv.conf, which `ip netns exec` mounts over /etc/resolv.conf)
naming a dnsmasq that listens on 127.0.0.1:53 inside it and serves NAME from a hosts
file. The test process itself enters the namespace (setns) so the fake gateways it starts
listen there, on 127.0.0.2-127.0.0.5; spanrelay runs through `ip netns exec` so its
getaddrinfo asks that dnsmasq. On exit dnsmasq is stopped by PID, the process returns
to its own namespace, and the namespace and its /etc/netns directory are removed.
"""

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time

CLONE_NEWNET = 0x40000000
NAME = 'gateways.spanrelay.test'


def available():
    """Why the fleet cannot be built here, or None."""
    if os.geteuid() != 0:
        return 'needs root for a network namespace'
    for tool in ('ip', 'dnsmasq'):
        if not shutil.which(tool) and not os.path.exists('/usr/sbin/' + tool):
            return '%s is not installed' % tool
    return None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ''


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, 'setns: ' + os.strerror(err))


class Fleet:
    def __init__(self, name=NAME):
        self.name = name
        self.ns = 'spanrelay-test-%d' % os.getpid()
        self.etc = '/etc/netns/' + self.ns
        self.dir = None
        self.dnsmasq = None
        self._home_fd = None
        self._entered = False

    # ---- lifetime ----

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _start(self):
        self.dir = tempfile.mkdtemp(prefix='spanrelay-fleet-')
        self.hosts = os.path.join(self.dir, 'hosts')
        self._write_hosts([])
        subprocess.run(['ip', 'netns', 'add', self.ns], check=True)
        os.makedirs(self.etc, exist_ok=True)
        with open(os.path.join(self.etc, 'resolv.conf'), 'w') as f:
            f.write('nameserver 127.0.0.1\noptions timeout:1 attempts:2\n')
        self._home_fd = os.open('/proc/self/ns/net', os.O_RDONLY)
        ns_fd = os.open('/var/run/netns/' + self.ns, os.O_RDONLY)
        try:
            _setns(ns_fd)
        finally:
            os.close(ns_fd)
        self._entered = True
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        self.dnsmasq = subprocess.Popen(
            ['dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts',
             '--conf-file=/dev/null', '--user=root', '--pid-file=',
             '--addn-hosts=' + self.hosts, '--listen-address=127.0.0.1', '--bind-interfaces',
             '--port=53', '--local-ttl=0', '--log-facility=' + os.path.join(self.dir, 'log')],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # SIGHUP before dnsmasq installs its handler would end it: wait for its log.
        log = os.path.join(self.dir, 'log')
        deadline = time.monotonic() + 10
        while 'read ' + self.hosts not in _read(log):
            if self.dnsmasq.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('dnsmasq did not start: ' + _read(log))
            time.sleep(0.02)

    def close(self):
        if self.dnsmasq is not None:
            if self.dnsmasq.poll() is None:
                os.kill(self.dnsmasq.pid, signal.SIGTERM)
                try:
                    self.dnsmasq.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.kill(self.dnsmasq.pid, signal.SIGKILL)
                    self.dnsmasq.wait()
            self.dnsmasq = None
        if self._entered:
            _setns(self._home_fd)
            self._entered = False
        if self._home_fd is not None:
            os.close(self._home_fd)
            self._home_fd = None
        subprocess.run(['ip', 'netns', 'delete', self.ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.etc, ignore_errors=True)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # ---- records ----

    def _write_hosts(self, addrs):
        tmp = self.hosts + '.new'
        with open(tmp, 'w') as f:
            for a in addrs:
                f.write('%s %s\n' % (a, self.name))
        os.replace(tmp, self.hosts)

    def set_records(self, addrs, timeout=10):
        """Serves exactly addrs for the name (dnsmasq re-reads its hosts file on SIGHUP)
        and waits until a resolver in the namespace sees them."""
        self._write_hosts(addrs)
        os.kill(self.dnsmasq.pid, signal.SIGHUP)
        want = sorted(addrs)
        deadline = time.monotonic() + timeout
        while True:
            got = self.resolve()
            if got == want:
                return
            if time.monotonic() > deadline:
                raise AssertionError('dnsmasq serves %s, expected %s' % (got, want))
            time.sleep(0.05)

    def resolve(self):
        """The name's addresses as a process started with wrap() sees them, sorted."""
        out = subprocess.run(self.wrap(['getent', 'ahosts', self.name]),
                             capture_output=True, text=True, timeout=10).stdout
        return sorted({line.split()[0] for line in out.splitlines() if line.strip()})

    def wrap(self, argv):
        """argv run inside the namespace with the fleet's resolv.conf."""
        return ['ip', 'netns', 'exec', self.ns] + list(argv)
