"""Helpers for imagegate integration tests (python3 standard library only).

The test runner (tests/CMakeLists.txt) passes IMAGEGATE_BIN, IMAGEGATE_FIXTURES,
IMAGEGATE_SOURCE_DIR and IMAGEGATE_BUILD_DIR in the environment.

- run(): one CLI command; run_ok(): any command that must succeed; TempDirTestCase: a test
  case with a fresh directory.
- Daemon: the one harness every test (and bench/) uses to start `imagegate serve`.
- make_certs(), sign(), TOKEN, KEY_OLD, KEY_NEW: the test CA and the run-task secrets.
- wait_for(), recv_within(): wait for a state, never for a fixed time, where a test means "until".
"""
import hashlib
import hmac
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BIN = os.environ.get("IMAGEGATE_BIN", "imagegate")
FIXTURES = os.environ.get(
    "IMAGEGATE_FIXTURES",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
# The run-task access token the fake HCP Terraform expects, and two HMAC keys (rotation).
TOKEN = "4QEuyyxug1f2rw.atlasv1.iDyxqhXGVZ0ykes53YdQyHyYtFOrdAWNBxcVUgWvzb64NFHjcquu8gJMEdUwoSLRu4Q"
KEY_OLD = "old-hmac-key-0123456789"
KEY_NEW = "new-hmac-key-9876543210"


class Result:
    """What one run of the binary did."""

    def __init__(self, args, code, out, err):
        self.args, self.code, self.out, self.err = args, code, out, err

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("not JSON from %r: %s\n%s" % (self.args, e, self.out))

    def __repr__(self):
        return "<%r exit %d\nstdout: %s\nstderr: %s>" % (self.args, self.code, self.out, self.err)


def run(*args, env=None, stdin=None, timeout=60, binary=None):
    """Runs imagegate (or binary) with args; never raises on a non-zero exit."""
    full_env = dict(os.environ)
    full_env.pop("IMAGEGATE_DB", None)
    full_env.pop("IMAGEGATE_NOW", None)
    if env:
        full_env.update(env)
    argv = [binary or BIN] + [str(a) for a in args]
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=full_env,
                       timeout=timeout)
    return Result(argv, p.returncode, p.stdout, p.stderr)


def run_ok(*args):
    """Runs a command (any program), raising CalledProcessError when it fails."""
    return subprocess.run([str(a) for a in args], check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)


class TempDirTestCase(unittest.TestCase):
    """A test case with a fresh temporary directory in self.tmp."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="igtest-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p


def wait_for(what, timeout, step=0.05):
    """Calls what() until it returns something true or timeout seconds pass; returns its
    last value (so a test asserts it: a state that never came fails the test)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = what()
        if v:
            return v
        time.sleep(step)
    return what()


def recv_within(sock, timeout):
    """The first bytes of data that arrive on sock within timeout seconds, or b"" (silence, the
    connection closed, or only TLS records that carry no data, such as TLS 1.3 session
    tickets). Leaves sock blocking."""
    deadline = time.time() + timeout
    sock.setblocking(False)
    try:
        while True:
            try:
                return sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                pass
            except OSError:
                return b""
            left = deadline - time.time()
            if left <= 0:
                return b""
            select.select([sock], [], [], left)
    finally:
        sock.setblocking(True)


def make_certs(d):
    """A test CA and one leaf for 127.0.0.1 and localhost (daemon and fake), made in d now."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, crt = (os.path.join(d, n) for n in ("leaf.key", "leaf.csr", "leaf.pem"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")

    def openssl(*args):
        run_ok("openssl", *args)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2",
            "-subj", "/CN=imagegate test CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


def sign(body, key=KEY_NEW):
    """HCP Terraform's X-TFC-Task-Signature of body."""
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest()


class Daemon:
    """The real `imagegate serve` on 127.0.0.1 port 0 (the port read back from --port-file),
    logging to TMP/NAME.log, with TMP/hmac.keys, over TLS (the test CA's leaf) or plain HTTP.

    With a fake HCP Terraform (fake_tfc.FakeTFC), it is set up for run-task deliveries: the
    fake's host allowed, the test CA trusted for downloads and callbacks, its own work
    directory, and short leases and sweeps so that recovery cases run in seconds. extra comes
    last (a later option wins). bare() gives `imagegate serve` with no option at all, for a
    configuration that comes only from the environment."""

    def __init__(self, tmp, name, db, fake, ca, cert, key, tls=True, extra=(), binary=None):
        self.tmp, self.name, self.db, self.tls = tmp, name, db, tls
        self.log_path = os.path.join(tmp, name + ".log")
        self.port_file = os.path.join(tmp, name + ".port")
        self.args = [binary or BIN, "serve", "--db", db, "--listen", "127.0.0.1:0",
                     "--hmac-key-file", os.path.join(tmp, "hmac.keys"),
                     "--port-file", self.port_file, "--shutdown-timeout", "3s",
                     "--log-level", "debug"]
        if fake is not None:
            self.work = os.path.join(tmp, name + "-work")
            os.makedirs(self.work, exist_ok=True)
            self.args += ["--allowed-host", "127.0.0.1:%d" % fake.port, "--ca-file", ca,
                          "--public-url", "https://imagegate.test", "--tmp-dir", self.work,
                          "--delivery-lease", "5s", "--sweep-interval", "1s",
                          "--running-after", "2s"]
        self.args += ["--tls-cert", cert, "--tls-key", key] if tls else ["--insecure-http"]
        self.args += list(extra)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.lower().endswith("_proxy") and not k.startswith("IMAGEGATE_")}
        self.ctx = ssl.create_default_context(cafile=ca) if ca else None
        self.proc = self.logf = None

    @classmethod
    def bare(cls, tmp, name, env, port, binary=None):
        """`imagegate serve` configured by env alone, plain HTTP on 127.0.0.1:port."""
        d = cls.__new__(cls)
        d.tmp, d.name, d.db, d.tls, d.port_file, d.ctx = tmp, name, None, False, None, None
        d.log_path = os.path.join(tmp, name + ".log")
        d.args = [binary or BIN, "serve"]
        d.env = dict(env)
        d.port = port
        d.proc = d.logf = None
        return d

    def start(self):
        """Starts (or restarts) the daemon and waits until it listens."""
        if self.port_file and os.path.exists(self.port_file):
            os.unlink(self.port_file)
        if self.logf and not self.logf.closed:
            self.logf.close()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.logf, stderr=self.logf, env=self.env)
        if not wait_for(self._listening, 15):
            if self.proc.poll() is not None:
                raise RuntimeError("imagegate exited %s:\n%s" % (self.proc.returncode,
                                                                 self.log()))
            raise RuntimeError("imagegate did not start:\n" + self.log())
        self.url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)
        return self

    def _listening(self):
        if self.proc.poll() is not None:
            raise RuntimeError("imagegate exited %s:\n%s" % (self.proc.returncode, self.log()))
        if self.port_file is None:
            return self._connects()
        if os.path.exists(self.port_file):
            with open(self.port_file) as f:
                txt = f.read().strip()
            if txt:
                self.port = int(txt)
                return True
        return False

    def _connects(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        """SIGTERM, then SIGKILL after 15 s; returns the exit status (0 after a clean drain)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.logf and not self.logf.closed:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.logf.close()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=10):
        """The first match of the regular expression in the log, once it is there (None when
        it did not come within timeout seconds)."""
        return wait_for(lambda: re.search(pattern, self.log()), timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, body bytes, headers)."""
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=self.ctx if self.tls else None,
                                        timeout=timeout) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def call(self, method, path, body=None, token=None, headers=None, raw=None):
        """An API call: (status, parsed JSON or text, headers); body is sent as JSON, raw as
        it is."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                             else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        status, text, hdrs = self.request(method, path, data, h, timeout=20)
        try:
            return status, json.loads(text), hdrs
        except ValueError:
            return status, text.decode("utf-8", "replace"), hdrs

    def post_runtask(self, payload, key=KEY_NEW, signature=None):
        """POST /runtask as HCP Terraform sends it: signed with key, or with signature as
        given (False: no signature header)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json",
                   "User-Agent": "TFC/1.0 (+https://app.terraform.io; TFC)"}
        sig = sign(body, key) if signature is None else signature
        if sig is not False:
            headers["X-TFC-Task-Signature"] = sig
        return self.request("POST", "/runtask", body, headers)
