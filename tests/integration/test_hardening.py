"""Hardening tests for `imagegate serve`: slow clients, bad input of every
kind, load, store faults, crashes and shutdown, TLS and secrets.

Same harness as test_runtask.py (igtest.Daemon): the real daemon on 127.0.0.1 port 0 with a
temporary SQLite store built by tests/fixtures/setup-registry.sh, a test CA
and certificate made now with the openssl command line, and the fake HCP
Terraform of fake_tfc.py, which records every callback. A second server
here, Hostile, plays the plan host that misbehaves: a redirect loop, a URL
that never answers, a port that accepts connections and never speaks TLS,
and plans served slowly (to kill the daemon in the middle of a download).

Behaviour is asserted; timings are asserted only as generous bounds that
separate "bounded by the timeout" from "hangs" (bench/ measures the real
numbers). Tests that need root (tmpfs, chattr) fail rather than skip when
the machine does not allow them. Python standard library only.
"""

import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fake_tfc import FakeTFC  # noqa: E402
import igtest  # noqa: E402
from igtest import (BIN, KEY_NEW, KEY_OLD, TOKEN, Daemon, make_certs,  # noqa: E402
                    recv_within, run_ok, sign, wait_for)

FIX = igtest.FIXTURES

# Timeouts of the main daemon: short, so the cases that wait for them stay fast.
HEADER_TIMEOUT, BODY_TIMEOUT, READ_TIMEOUT = 2, 3, 10

ENV = {}  # filled by setUpModule: tmp, ca, cert, key, db_path, fake, hostile


# ---- the misbehaving plan host -------------------------------------------

class Hostile:
    """HTTPS on one port (redirect loop, hang, slow plans) and a raw TCP port
    that accepts connections but never answers the TLS handshake."""

    def __init__(self, cert, key):
        self.plans = {}      # id -> bytes, served by /slow/<id>
        self.served = {}     # id -> bytes written so far
        self.requests = []   # (path, authorization)
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        h = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                with h.lock:
                    h.requests.append((self.path, self.headers.get("Authorization")))
                path = self.path.split("?")[0]
                if path.startswith("/loop/"):
                    self.send_response(307)
                    self.send_header("Location", "https://127.0.0.1:%d%s" % (h.port, self.path))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/hang":
                    h.stop_ev.wait(120)
                elif path.startswith("/slow/"):
                    pid = path[len("/slow/"):]
                    rate = int(self.path.split("rate=")[1]) if "rate=" in self.path else 1 << 20
                    data = h.plans[pid]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    step = max(1, rate // 20)
                    try:
                        for i in range(0, len(data), step):
                            if h.stop_ev.is_set():
                                return
                            self.wfile.write(data[i:i + step])
                            with h.lock:
                                h.served[pid] = h.served.get(pid, 0) + len(data[i:i + step])
                            time.sleep(0.05)
                    except OSError:
                        pass
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.raw = socket.socket()
        self.raw.bind(("127.0.0.1", 0))
        self.raw.listen(64)  # never accepted: the kernel completes the TCP handshake
        self.raw_port = self.raw.getsockname()[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        self.stop_ev.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.raw.close()


# ---- module set-up ------------------------------------------------------------

def setUpModule():
    tmp = tempfile.mkdtemp(prefix="ig-hard-")
    ca, cert, key = make_certs(tmp)
    with open(os.path.join(tmp, "hmac.keys"), "w") as f:
        f.write(KEY_OLD + "\n" + KEY_NEW + "\n")
    os.chmod(os.path.join(tmp, "hmac.keys"), 0o600)
    db_path = os.path.join(tmp, "registry.db")
    run_ok("sh", os.path.join(FIX, "setup-registry.sh"), BIN, "sqlite:" + db_path)
    fake = FakeTFC(cert, key, TOKEN).start()
    for name in ("clean", "other-types", "mentions", "scale"):
        with open(os.path.join(FIX, "plans", name + ".plan.json"), "rb") as f:
            fake.plans[name] = f.read()
    for name in ("hardcoded",):
        with open(os.path.join(FIX, "config", name + ".tar.gz"), "rb") as f:
            fake.configs[name] = f.read()
    hostile = Hostile(cert, key)
    ENV.update(tmp=tmp, ca=ca, cert=cert, key=key, db_path=db_path, fake=fake,
               hostile=hostile, counter=0)


def tearDownModule():
    ENV["hostile"].stop()
    ENV["fake"].stop()
    if os.environ.get("IG_KEEP_TMP"):
        print("kept", ENV["tmp"])
    else:
        shutil.rmtree(ENV["tmp"], ignore_errors=True)


def new_daemon(name, tls=True, db_dir=None, extra=()):
    """A daemon on a fresh copy of the fixtures store (in db_dir if given)."""
    d = db_dir or ENV["tmp"]
    db = os.path.join(d, name + ".db")
    shutil.copy(ENV["db_path"], db)
    os.chmod(db, 0o600)
    h = ENV["hostile"]
    args = ["--allowed-host", "127.0.0.1:%d" % h.port,
            "--allowed-host", "127.0.0.1:%d" % h.raw_port,
            "--allowed-host", "127.0.0.1:%d" % ENV["fake"].port] + list(extra)
    return Daemon(ENV["tmp"], name, "sqlite:" + db, ENV["fake"], ENV["ca"], ENV["cert"],
                  ENV["key"], tls=tls, extra=args).start()


def payload(stage="post_plan", plan="clean", plan_url=None, config=None, outcomes=True,
            token=TOKEN):
    ENV["counter"] += 1
    trid = "taskrs-hard%05d" % ENV["counter"]
    fake = ENV["fake"]
    with open(os.path.join(FIX, "runtask", "pre_plan.json" if stage == "pre_plan"
                           else "post_plan.json")) as f:
        p = json.load(f)
    p["stage"] = stage
    p["access_token"] = token
    p["task_result_id"] = trid
    p["run_id"] = "run-" + trid[7:]
    p["task_result_callback_url"] = fake.callback_url(trid)
    if stage != "pre_plan":
        p["plan_json_api_url"] = plan_url or fake.plan_url(plan)
    p["configuration_version_download_url"] = fake.config_url(config or "none")
    p["capabilities"] = {"outcomes": outcomes}
    return p


def raw_request(port, data, tls=True, timeout=10):
    """Sends raw bytes, returns (status or None, whole reply bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        ctx = ssl.create_default_context(cafile=ENV["ca"])
        s = ctx.wrap_socket(s, server_hostname="localhost")
    try:
        buf = b""
        try:
            s.sendall(data)
        except (ConnectionError, ssl.SSLError):
            return None, b""  # cut while sending: refused
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionError, ssl.SSLError):
                break
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                m = re.search(rb"content-length:\s*(\d+)", head, re.I)
                if m and len(rest) >= int(m.group(1)):
                    break
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
    return (int(m.group(1)) if m else None), buf


class Trickler:
    """n connections that each send one byte of data every `every` seconds
    from one thread, and record when the server closed them."""

    def __init__(self, port, data, n=1, every=1.0, tls=True, head=b""):
        self.port, self.data, self.n, self.every, self.tls, self.head = \
            port, data, n, every, tls, head
        self.closed_after = [None] * n
        self.sent = [0] * n
        self.connected = threading.Event()  # all n connections are open
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        if self.tls:
            ctx = ssl.create_default_context(cafile=ENV["ca"])
            s = ctx.wrap_socket(s, server_hostname="localhost")
        if self.head:
            s.sendall(self.head)
        return s

    def _run(self):
        socks = [self._connect() for _ in range(self.n)]
        self.connected.set()
        self.t0 = time.time()
        open_ = set(range(self.n))
        pos = 0
        while open_ and time.time() - self.t0 < 60:
            for i in list(open_):
                try:
                    if pos < len(self.data):
                        socks[i].sendall(self.data[pos:pos + 1])
                        self.sent[i] += 1
                    # a closed connection shows as EOF or an error on a read
                    socks[i].setblocking(False)
                    try:
                        if socks[i].recv(1) == b"":
                            raise ConnectionError("eof")
                    except (BlockingIOError, ssl.SSLWantReadError):
                        pass
                    finally:
                        socks[i].setblocking(True)
                except (OSError, ssl.SSLError):
                    self.closed_after[i] = time.time() - self.t0
                    open_.discard(i)
                    socks[i].close()
            pos += 1
            time.sleep(self.every)
        for i in open_:
            socks[i].close()

    def start(self):
        self.thread.start()
        return self

    def join(self):
        self.thread.join(90)


class DaemonCase(unittest.TestCase):
    """Helpers shared by the cases below."""

    daemon = None

    @property
    def fake(self):
        return ENV["fake"]

    @property
    def hostile(self):
        return ENV["hostile"]

    def deliver(self, p, daemon=None):
        code, body, _ = (daemon or self.daemon).post_runtask(p)
        self.assertEqual(code, 200, body)
        return p

    def final(self, p, timeout=30, daemon=None):
        doc = self.fake.wait_final(p["task_result_id"], timeout)
        self.assertIsNotNone(doc, "no final callback for %s\n%s" % (
            p["task_result_id"], (daemon or self.daemon).log()[-4000:]))
        return doc

    def assert_one_final(self, p):
        time.sleep(0.2)  # a quiet period: a second final status would come in it
        self.assertEqual(len(self.fake._finals_ok(p["task_result_id"])), 1,
                         "expected exactly one final status for " + p["task_result_id"])

    def assert_serving(self, daemon=None):
        """After a bad case: /healthz answers and a normal delivery passes."""
        d = daemon or self.daemon
        code, _, _ = d.request("GET", "/healthz")
        self.assertEqual(code, 200)
        p = self.deliver(payload(plan="clean"), daemon=d)
        doc = self.final(p, daemon=d)
        self.assertEqual(doc["data"]["attributes"]["status"], "passed")

    def message(self, doc):
        return doc["data"]["attributes"]["message"]


# ---- slow clients ------------------------------------------------------------

class SlowClientTest(DaemonCase):
    """--header-timeout and --body-timeout are deadlines, not inactivity
    timeouts: a client trickling a byte at a time is cut when they pass,
    while everybody else is served at once."""

    @classmethod
    def setUpClass(cls):
        timeouts = ["--header-timeout", "%ds" % HEADER_TIMEOUT, "--body-timeout",
                    "%ds" % BODY_TIMEOUT, "--read-timeout", "%ds" % READ_TIMEOUT]
        cls.daemon = new_daemon("slow", extra=timeouts)
        cls.plain = new_daemon("slowplain", tls=False, extra=timeouts)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        cls.plain.stop()

    def prompt_requests(self, d, seconds):
        """Normal requests for `seconds`; returns the slowest answer."""
        worst = 0.0
        with open(os.path.join(FIX, "runtask", "verification.json"), "rb") as f:
            verification = f.read()
        end = time.time() + seconds
        while time.time() < end:
            t0 = time.time()
            code, _, _ = d.request("GET", "/healthz")
            self.assertEqual(code, 200)
            code, _, _ = d.post_runtask(verification)
            self.assertEqual(code, 200)
            worst = max(worst, time.time() - t0)
            time.sleep(0.1)
        return worst

    def check_header_trickle(self, d, tls):
        head = b"POST /runtask HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200
        t = Trickler(d.port, head, n=3, every=0.5, tls=tls).start()
        worst = self.prompt_requests(d, HEADER_TIMEOUT + 1.5)
        t.join()
        self.assertLess(worst, 1.5, "a normal request waited behind the slow clients")
        for after in t.closed_after:
            self.assertIsNotNone(after, "the slow client was never cut")
            # cut by the header deadline: well before --read-timeout, although
            # a byte arrived every 0.5 s
            self.assertGreaterEqual(after, HEADER_TIMEOUT - 0.5)
            self.assertLess(after, HEADER_TIMEOUT + 2.5)
        self.assertIn("event=client_timeout phase=header", d.log())

    def test_header_one_byte_at_a_time_tls(self):
        self.check_header_trickle(self.daemon, True)

    def test_header_one_byte_at_a_time_plain_http(self):
        self.check_header_trickle(self.plain, False)

    def test_body_one_byte_a_second(self):
        body = json.dumps(payload()).encode()
        head = (b"POST /runtask HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"X-TFC-Task-Signature: " + sign(body).encode() + b"\r\nContent-Length: " +
                str(len(body)).encode() + b"\r\n\r\n")
        t = Trickler(self.daemon.port, body, n=2, every=1.0, head=head).start()
        worst = self.prompt_requests(self.daemon, BODY_TIMEOUT + 1.5)
        t.join()
        self.assertLess(worst, 1.5)
        for after, sent in zip(t.closed_after, t.sent):
            self.assertIsNotNone(after)
            self.assertGreaterEqual(after, BODY_TIMEOUT - 0.5)
            self.assertLess(after, BODY_TIMEOUT + 2.5)
            self.assertLess(sent, len(body))
        self.assertIn("event=client_timeout phase=body", self.daemon.log())

    def test_silent_client_and_slow_tls_handshake(self):
        # a connection that never sends a byte (not even a ClientHello) is
        # closed by the header deadline too, not only by --read-timeout
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=30)
        t0 = time.time()
        try:
            self.assertEqual(s.recv(1), b"")
        except ConnectionError:
            pass
        took = time.time() - t0
        s.close()
        self.assertGreaterEqual(took, HEADER_TIMEOUT - 0.5)
        self.assertLess(took, HEADER_TIMEOUT + 2.5)

    def test_many_slow_clients_at_once(self):
        head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"b" * 100
        t = Trickler(self.plain.port, head, n=150, every=0.5, tls=False).start()
        self.assertTrue(t.connected.wait(20), "the slow clients could not connect")
        worst = self.prompt_requests(self.plain, HEADER_TIMEOUT + 1.5)
        t.join()
        self.assertLess(worst, 1.5)
        self.assertTrue(all(a is not None and a < HEADER_TIMEOUT + 3 for a in t.closed_after),
                        t.closed_after)
        self.assert_serving(self.plain)

    def test_keep_alive_idle_is_not_a_slow_header(self):
        # the header clock starts with a request's first byte: a kept-alive
        # connection may sit idle longer than --header-timeout (less than
        # --read-timeout) and then send its next request
        conn = http.client.HTTPSConnection("127.0.0.1", self.daemon.port,
                                           context=self.daemon.ctx, timeout=10)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        time.sleep(HEADER_TIMEOUT + 1)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        conn.close()

    def test_deadline_counts_from_the_header_block_end(self):
        # a body sent in pieces that arrives within --body-timeout is fine,
        # even though header + body took longer than --header-timeout
        p = payload()
        body = json.dumps(p).encode()
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10)
        s = self.daemon.ctx.wrap_socket(s, server_hostname="localhost")
        s.sendall(b"POST /runtask HTTP/1.1\r\nHost: localhost\r\nX-TFC-Task-Signature: " +
                  sign(body).encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                  b"\r\n\r\n")
        half = len(body) // 2
        time.sleep(HEADER_TIMEOUT * 0.6)
        s.sendall(body[:half])
        time.sleep(HEADER_TIMEOUT * 0.6)
        s.sendall(body[half:])
        reply = s.recv(4096)
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply)
        self.final(p)



# ---- bad input of every kind ---------------------------------------------------

def tar_gz(members):
    """A .tar.gz of (name, bytes) members, built in memory."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), 9)


class BadInputTest(DaemonCase):
    """Every kind of bad input gets a clear refusal (4xx) or a `failed`
    callback that says what was wrong, and the server keeps serving."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = new_daemon("bad", extra=[
            "--workers", "4", "--low-speed-time", "1s", "--connect-timeout", "2s",
            "--max-archive-bytes", "1M", "--max-archive-entries", "200"])

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def post_raw(self, head, body):
        """POST with our own framing, the body in 64 KiB pieces, watching for
        an answer between pieces (the server may refuse before the end).
        Returns (status, bytes of the body sent before the answer)."""
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=20)
        s = self.daemon.ctx.wrap_socket(s, server_hostname="localhost")
        sent = 0
        reply = b""
        try:
            s.sendall(head)
            # a refusal on the header block alone comes before any body
            reply = recv_within(s, 0.2)
            while not reply:
                s.setblocking(False)
                try:
                    reply = s.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError):
                    pass
                except (ConnectionError, ssl.SSLError):
                    break
                finally:
                    s.setblocking(True)
                if reply or sent >= len(body):
                    break
                try:
                    s.sendall(body[sent:sent + 65536])
                except (ConnectionError, ssl.SSLError):
                    break
                sent += len(body[sent:sent + 65536])
            s.settimeout(20)
            while b"\r\n\r\n" not in reply or not re.search(rb"\r\n\r\n.*[}>]", reply, re.S):
                try:
                    chunk = s.recv(65536)
                except (ConnectionError, ssl.SSLError, socket.timeout):
                    break
                if not chunk:
                    break
                reply += chunk
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.1 (\d{3})", reply)
        return (int(m.group(1)) if m else None), sent

    def test_01_junk_bodies(self):
        junk = random.Random(6).randbytes(20 * 1024 * 1024)
        # 20 MB of junk as the body of a POST /runtask: refused as soon as the
        # header block says how big it is, before a byte of it is read
        head = (b"POST /runtask HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"X-TFC-Task-Signature: " + sign(junk).encode() + b"\r\nContent-Length: " +
                str(len(junk)).encode() + b"\r\n\r\n")
        code, sent = self.post_raw(head, junk)
        self.assertEqual((code, sent), (413, 0))
        # the same, chunked (no length up front): refused once past twice
        # --max-body-bytes (1 MiB), long before 20 MB
        chunked = b"".join(b"%x\r\n" % len(junk[i:i + 65536]) + junk[i:i + 65536] + b"\r\n"
                           for i in range(0, len(junk), 65536)) + b"0\r\n\r\n"
        head = (b"POST /runtask HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        code, sent = self.post_raw(head, chunked)
        self.assertEqual(code, 413)
        self.assertLess(sent, 8 * 1024 * 1024)  # what we sent: socket buffers hold some
        # just over --max-body-bytes: read, then refused with a JSON answer
        over = b"{" + b" " * (1024 * 1024) + b"}"
        code, body, _ = self.daemon.post_runtask(over)
        self.assertEqual(code, 413)
        self.assertIn("--max-body-bytes", json.loads(body)["message"])
        # 20 MB of junk instead of an HTTP request: refused within the header limit
        t0 = time.time()
        code, reply = raw_request(self.daemon.port, junk[:64 * 1024] + b"\r\n\r\n")
        self.assertIn(code, (None, 400), reply[:200])
        # a header block over --max-header-bytes
        code, reply = raw_request(self.daemon.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                  b"a" * (64 * 1024) + b"\r\n\r\n")
        self.assertIn(code, (None, 400, 413, 431), reply[:200])
        self.assertLess(time.time() - t0, 5)
        # a small signed body that is junk: 400, not stored
        small = junk[:1000]
        code, body, _ = self.daemon.post_runtask(small)
        self.assertEqual(code, 400)
        self.assertIn("malformed JSON", json.loads(body)["message"])
        self.assert_serving()

    def test_02_truncated_json(self):
        full = json.dumps(payload()).encode()
        for cut in (1, 2, len(full) // 3, len(full) // 2, len(full) - 2, len(full) - 1):
            code, body, _ = self.daemon.post_runtask(full[:cut])
            self.assertEqual(code, 400, (cut, body))
            self.assertIn("malformed JSON", json.loads(body)["message"])
        for bad in (b"", b"null", b"[]", b"42", b'"x"', b"{}" * 2, b"\xff\xfe{}", b"{\"a\":1}\x00",
                    b'{"payload_version":1,"payload_version":1}'):
            code, body, _ = self.daemon.post_runtask(bad)
            self.assertEqual(code, 400, (bad, body))
            self.assertTrue(json.loads(body)["message"])
        self.assert_serving()

    # the fields imagegate reads: a wrong type is refused with 400 naming it
    READ = {"payload_version", "stage", "access_token", "task_result_id",
            "task_result_callback_url", "run_id", "plan_json_api_url",
            "configuration_version_download_url", "organization_name", "workspace_name",
            "workspace_working_directory", "run_app_url", "capabilities"}

    def test_03_wrong_types_in_every_field(self):
        wrong = [0, 1.5, True, "x", [], {}, [1, "a"], {"k": "v"}, 10 ** 30]
        accepted, refused = [], 0
        fields = list(payload().keys()) + ["capabilities.outcomes"]
        for field in fields:
            for value in wrong:
                p = payload()
                if field == "capabilities.outcomes":
                    p["capabilities"]["outcomes"] = value
                    expected = "capabilities.outcomes" if not isinstance(value, bool) else None
                else:
                    current = p[field]
                    if type(value) is type(current) or (isinstance(current, int) and
                                                        not isinstance(current, bool) and
                                                        isinstance(value, int) and
                                                        not isinstance(value, bool)):
                        continue  # the right type: not a wrong one
                    p[field] = value
                    expected = field if field in self.READ else None
                code, body, _ = self.daemon.post_runtask(p)
                msg = json.loads(body).get("message", "") if body else ""
                if value == 10 ** 30:
                    # beyond 64 bits anywhere: the whole document is refused
                    self.assertEqual(code, 400, (field, body))
                    self.assertIn("too big integer", msg)
                elif expected:
                    # payload_version 1.5 / 10**30 are numbers of the wrong kind
                    self.assertEqual(code, 400, (field, value, body))
                    self.assertIn(expected.split(".")[0], msg, (field, value))
                    refused += 1
                else:
                    self.assertEqual(code, 200, (field, value, body))
                    accepted.append(p)
        self.assertGreater(refused, 50)
        # fields imagegate does not read are tolerated whatever their type
        # (RUNTASK.md: unknown fields and nulls are tolerated), and the run
        # is checked as usual: one final status each
        for p in accepted:
            doc = self.final(p)
            self.assertEqual(doc["data"]["attributes"]["status"], "passed")
        for p in accepted[-5:]:
            self.assert_one_final(p)
        self.assert_serving()

    def test_04_unknown_stages_and_payload_versions(self):
        cases = []
        for stage in ("post_destroy", "PRE_PLAN", "post_plan ", "x" * 5000, "pr\u00e9_plan",
                      "pre_plan\u200b"):
            p = payload()
            p["stage"] = stage
            cases.append((p, "not supported"))
        for version in (0, 2, -1, 2 ** 62):
            p = payload()
            p["payload_version"] = version
            cases.append((p, "payload_version %d is not supported" % version))
        for p, _ in cases:
            self.deliver(p)
        for p, needle in cases:
            doc = self.final(p)
            a = doc["data"]["attributes"]
            self.assertEqual(a["status"], "failed")
            self.assertIn(needle, a["message"])
            self.assertLessEqual(len(a["message"]), 1000)
        # an empty stage is a bad request; so is a NUL inside a string
        p = payload()
        p["stage"] = ""
        code, body, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 400)
        self.assertIn("stage", json.loads(body)["message"])
        p["stage"] = "post_plan\u0000"
        code, body, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 400)
        self.assertIn("malformed JSON", json.loads(body)["message"])
        self.assert_serving()

    def test_05_huge_numbers_of_findings(self):
        # scale.plan.json: 2000 instances, a quarter on a revoked image, all
        # hardcoded -- far more findings than the 250 outcomes allowed
        p = self.deliver(payload(plan="scale"))
        doc = self.final(p, timeout=60)
        self.assert_one_final(p)
        data = doc["data"]
        self.assertEqual(data["attributes"]["status"], "failed")
        self.assertLessEqual(len(data["attributes"]["message"]), 1000)
        outs = data["relationships"]["outcomes"]["data"]
        self.assertEqual(len(outs), 250)
        last = outs[-1]["attributes"]
        self.assertRegex(last["description"], r"\d+ more")
        for o in outs:
            a = o["attributes"]
            self.assertLessEqual(len(a["outcome-id"]), 64)
            self.assertLessEqual(len(a["description"]), 1000)
            self.assertNotIn("\n", a["description"])
            self.assertLessEqual(len(a.get("body", "")), 10000)
            self.assertLessEqual(len(a.get("url", "")), 500)
            self.assertLessEqual(len(a["tags"]), 10)
        ids = [o["attributes"]["outcome-id"] for o in outs]
        self.assertEqual(len(ids), len(set(ids)))
        raw = self.fake.finals(p["task_result_id"])[-1][0]["body"]
        self.assertLess(len(raw), 4 * 1024 * 1024)
        self.assert_serving()

    def test_06_plans_that_are_not_json(self):
        fake = self.fake
        fake.plans["notjson"] = b'{"format_version":"1.2","resource_changes":[{"address": nope}]}'
        fake.plans["html"] = b"<html><body>502 Bad Gateway</body></html>"
        fake.plans["truncated"] = fake.plans["other-types"][:5000]
        fake.plans["empty"] = b""
        fake.plans["deep"] = b'{"resource_changes":' + b"[" * 200000 + b"]" * 200000 + b"}"
        fake.plans["deepval"] = (b'{"resource_changes":[{"address":"aws_instance.a","type":'
                                 b'"aws_instance","mode":"managed","change":{"actions":["create"],'
                                 b'"after":{"ami":' + b"[" * 100000 + b"]" * 100000 + b"}}}]}")
        fake.plans["binary"] = random.Random(7).randbytes(3 * 1024 * 1024)
        cases = {}
        for name in ("notjson", "html", "truncated", "empty", "deep", "deepval", "binary"):
            cases[name] = self.deliver(payload(plan=name))
        for name, p in cases.items():
            doc = self.final(p)
            a = doc["data"]["attributes"]
            self.assertEqual(a["status"], "failed", (name, a))
            self.assertIn("could not", a["message"], name)
            if name != "empty":
                self.assertRegex(a["message"], r"byte \d+", name)
        # the offset points at the bad token ("nope" starts at offset 56)
        m = re.search(r"byte (\d+)", self.message(self.fake.wait_final(
            cases["notjson"]["task_result_id"])))
        self.assertTrue(56 <= int(m.group(1)) <= 60, m.group(0))
        self.assert_serving()

    def test_07_plan_hosts_that_misbehave(self):
        h = self.hostile
        loop = self.deliver(payload(plan_url=h.url("/loop/plan-1")))
        hang = self.deliver(payload(plan_url=h.url("/hang")))
        notls = self.deliver(payload(plan_url="https://127.0.0.1:%d/x" % h.raw_port))
        t0 = time.time()
        doc = self.final(loop)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        self.assertIn("redirects", self.message(doc))
        # the token went to the allowed plan URL only, never along the loop
        with h.lock:
            hops = [a for path, a in h.requests if path.startswith("/loop/plan-1")]
        self.assertLessEqual(len(hops), 6)
        self.assertEqual(sum(1 for a in hops if a), 1)
        for p in (hang, notls):
            doc = self.final(p, timeout=60)
            self.assertEqual(doc["data"]["attributes"]["status"], "failed")
            self.assertRegex(self.message(doc), r"(?i)time|slow")
        # bounded by --low-speed-time / --connect-timeout and three retries
        self.assertLess(time.time() - t0, 40)
        self.assert_serving()

    def test_08_archive_bombs_in_pre_plan(self):
        fake = self.fake
        fake.configs["bomb"] = tar_gz([("main.tf", b"\0" * (8 * 1024 * 1024))])
        fake.configs["many"] = tar_gz([("f%04d.tf" % i, b"# x\n") for i in range(1000)])
        fake.configs["big"] = random.Random(8).randbytes(2 * 1024 * 1024)
        fake.configs["notgz"] = b"this is not an archive at all"
        cases = {n: self.deliver(payload(stage="pre_plan", config=n))
                 for n in ("bomb", "many", "big", "notgz")}
        # 16 MB of gzipped zeros read as tar: an empty archive (zero blocks
        # end it), unpacked no further than its first kilobyte -- no bomb
        fake.configs["zeros"] = gzip.compress(b"\0" * (16 * 1024 * 1024), 9)
        zeros = self.deliver(payload(stage="pre_plan", config="zeros"))
        self.assertEqual(self.final(zeros)["data"]["attributes"]["status"], "passed")
        for name, p in cases.items():
            doc = self.final(p)
            a = doc["data"]["attributes"]
            self.assertEqual(a["status"], "failed", name)
            self.assertRegex(a["message"], r"refused|could not", name)
        self.assertEqual(os.listdir(self.daemon.work), [])  # private folders removed
        self.assert_serving()

    def test_09_deep_nesting_in_the_request(self):
        for body in (b"[" * 100000 + b"]" * 100000,
                     b'{"payload_version":1,"x":' + b"[" * 100000 + b"]" * 100000 + b"}",
                     b'{"a":' * 50000 + b"1" + b"}" * 50000):
            code, resp, _ = self.daemon.post_runtask(body)
            self.assertEqual(code, 400, resp[:200])
        self.assert_serving()


# ---- load ------------------------------------------------------------------------

class LoadTest(DaemonCase):
    """While big plans keep arriving (12 here, one every half second), 2000
    signed verification requests from 50 concurrent clients all get 200 and
    every plan gets exactly one final status. Behaviour only: latency and
    memory are measured by bench/load.py (docs/performance.md)."""

    PLANS, EVERY, REQUESTS, CONCURRENCY = 12, 0.5, 2000, 50

    @classmethod
    def setUpClass(cls):
        cls.daemon = new_daemon("load", extra=["--log-level", "info"])

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def test_verifications_while_plans_arrive(self):
        with open(os.path.join(FIX, "runtask", "verification.json"), "rb") as f:
            verification = f.read()
        sig = sign(verification)
        plans, statuses, errors = [], [], []
        lock = threading.Lock()

        def send_plans():
            c = http.client.HTTPSConnection("127.0.0.1", self.daemon.port,
                                            context=self.daemon.ctx, timeout=30)
            for _ in range(self.PLANS):
                p = payload(plan="scale")
                body = json.dumps(p).encode()
                c.request("POST", "/runtask", body, {"X-TFC-Task-Signature": sign(body),
                                                     "Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                with lock:
                    plans.append((p, r.status))
                time.sleep(self.EVERY)
            c.close()

        def client(n):
            c = http.client.HTTPSConnection("127.0.0.1", self.daemon.port,
                                            context=self.daemon.ctx, timeout=30)
            try:
                for _ in range(n):
                    c.request("POST", "/runtask", verification,
                              {"X-TFC-Task-Signature": sig, "Content-Type": "application/json"})
                    r = c.getresponse()
                    r.read()
                    with lock:
                        statuses.append(r.status)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    errors.append(repr(e))
            finally:
                c.close()

        feeder = threading.Thread(target=send_plans)
        feeder.start()
        # the first plan is downloading and scanning
        self.assertTrue(wait_for(lambda: self.fake.plan_gets("scale") >= 1, 20),
                        self.daemon.log()[-3000:])
        per = [self.REQUESTS // self.CONCURRENCY] * self.CONCURRENCY
        clients = [threading.Thread(target=client, args=(n,)) for n in per]
        for t in clients:
            t.start()
        for t in clients:
            t.join(120)
        feeder.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(statuses), self.REQUESTS)
        self.assertEqual(set(statuses), {200})
        self.assertEqual([st for _, st in plans], [200] * self.PLANS)
        for p, _ in plans:
            doc = self.final(p, timeout=120)
            self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        time.sleep(0.5)  # a quiet period: a second final status would come in it
        for p, _ in plans:
            self.assertEqual(len(self.fake._finals_ok(p["task_result_id"])), 1)
        log = self.daemon.log()
        self.assertNotIn("client_timeout", log)
        self.assertEqual(log.count("event=runtask_verification"), self.REQUESTS)


# ---- faults ---------------------------------------------------------------------

def dump_deliveries(db_path):
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        return con.execute("SELECT task_result_id, state FROM deliveries ORDER BY 1").fetchall()
    finally:
        con.close()


def delivered_re(p):
    """The log line a delivery worker writes once the delivery is recorded as finished."""
    return r"event=delivery run_id=\S+ task_result_id=%s " % re.escape(p["task_result_id"])


def integrity(db_path):
    con = sqlite3.connect(db_path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


class FaultTest(DaemonCase):
    """The store filling up or turning unwritable while the server runs, a
    kill -9 in the middle of a big download and scan, and SIGTERM while work
    is in flight."""

    def must(self, *argv):
        r = subprocess.run(argv, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, "%s: %s (this test needs root)" % (argv, r.stderr))

    def check_store_refusal(self, d, db_path, break_store, repair_store, reason):
        p0 = self.deliver(payload(), daemon=d)
        self.final(p0, daemon=d)
        # the delivery is finished in the store (the worker logs it after that)
        self.assertTrue(d.wait_log(delivered_re(p0)), d.log()[-3000:])
        before = dump_deliveries(db_path)
        break_store()
        try:
            p = payload()
            code, body, headers = d.post_runtask(p)
            self.assertEqual(code, 503, body)
            self.assertIn("Retry-After", headers)
            self.assertIn("could not be stored", json.loads(body)["message"])
            # what needs no store still works
            self.assertEqual(d.request("GET", "/healthz")[0], 200)
            with open(os.path.join(FIX, "runtask", "verification.json"), "rb") as f:
                self.assertEqual(d.post_runtask(f.read())[0], 200)
            time.sleep(0.3)  # a quiet period: whatever else the server writes meets the fault
        finally:
            repair_store()
        log = d.log()
        self.assertRegex(log, r"event=runtask_store_failed task_result_id=%s error=.*(%s)"
                         % (p["task_result_id"], reason))
        # nothing half written: the refused delivery left no row, the rest is intact
        self.assertEqual(dump_deliveries(db_path), before)
        self.assertEqual(integrity(db_path), "ok")
        self.assertEqual(self.fake.callbacks(p["task_result_id"]), [])
        # HCP Terraform retries: now it is stored and delivered, once
        code, body, _ = d.post_runtask(p)
        self.assertEqual(code, 200, body)
        self.assertEqual(self.final(p, daemon=d)["data"]["attributes"]["status"], "passed")
        self.assert_one_final(p)
        self.assert_serving(d)

    def test_store_disk_full(self):
        mnt = os.path.join(ENV["tmp"], "fullfs")
        os.makedirs(mnt, exist_ok=True)
        self.must("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", mnt)
        d = None
        try:
            d = new_daemon("full", db_dir=mnt)
            filler = os.path.join(mnt, "filler")

            def fill():
                fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    while True:
                        os.write(fd, b"\0" * 4096)
                except OSError:
                    pass
                finally:
                    os.close(fd)

            self.check_store_refusal(d, os.path.join(mnt, "full.db"), fill,
                                     lambda: os.unlink(filler), "disk full")
        finally:
            if d:
                d.stop()
            subprocess.run(["umount", mnt])

    def test_store_turns_unwritable(self):
        # A read-only remount is refused while the server holds the store open
        # for writing (EBUSY), so the files themselves are made immutable: every
        # write fails as on a file system remounted read-only after an error.
        d = new_daemon("immutable")
        db = os.path.join(ENV["tmp"], "immutable.db")
        files = [db, db + "-wal"]
        try:
            self.check_store_refusal(d, db, lambda: self.must("chattr", "+i", *files),
                                     lambda: self.must("chattr", "-i", *files),
                                     "read-only|I/O error")
        finally:
            subprocess.run(["chattr", "-i"] + files, capture_output=True)
            d.stop()

    def slow_plan(self, name, mb, rate):
        """A copy of scale.plan.json grown to mb megabytes, served at rate B/s."""
        base = self.fake.plans["scale"]
        doc = json.loads(base)
        rcs = doc["resource_changes"]
        grown = []
        i = 0
        while len(json.dumps(grown)) < mb * 1024 * 1024 - len(base):
            for rc in rcs:
                c = json.loads(json.dumps(rc))
                c["address"] = "aws_instance.grown%d" % i
                c["index"] = i
                grown.append(c)
                i += 1
            if not rcs:
                break
        doc["resource_changes"] = rcs + grown
        self.hostile.plans[name] = json.dumps(doc).encode()
        return self.hostile.url("/slow/%s?rate=%d" % (name, rate))

    def test_kill9_in_the_middle_of_a_big_scan(self):
        d = new_daemon("kill9mid")
        url = self.slow_plan("big9", 24, 6 * 1024 * 1024)  # ~4 s to download and scan
        size = len(self.hostile.plans["big9"])
        p = payload(plan_url=url)
        try:
            self.deliver(p, daemon=d)
            deadline = time.time() + 20
            while self.hostile.served.get("big9", 0) < size // 3 and time.time() < deadline:
                time.sleep(0.05)
            served = self.hostile.served.get("big9", 0)
            self.assertTrue(size // 3 <= served < size, (served, size))
            d.kill9()  # a third of the plan read and scanned
            self.assertEqual(self.fake.finals(p["task_result_id"]), [])
            rows = dump_deliveries(os.path.join(ENV["tmp"], "kill9mid.db"))
            self.assertIn((p["task_result_id"], 0), rows)  # still queued
            d.start()
            doc = self.final(p, timeout=60, daemon=d)
            self.assertEqual(doc["data"]["attributes"]["status"], "failed")
            self.assertIn("failing", self.message(doc))
            self.assert_one_final(p)
            # the second run read the whole plan again
            self.assertGreaterEqual(self.hostile.served["big9"], served + size)
        finally:
            d.stop()

    def test_sigterm_lets_in_flight_work_finish(self):
        d = new_daemon("drain", extra=["--shutdown-timeout", "20s"])
        url = self.slow_plan("drain", 6, 3 * 1024 * 1024)  # ~2 s
        p = payload(plan_url=url)
        self.deliver(p, daemon=d)
        deadline = time.time() + 10
        while not self.hostile.served.get("drain") and time.time() < deadline:
            time.sleep(0.05)
        d.proc.send_signal(signal.SIGTERM)

        def refused():
            try:
                socket.create_connection(("127.0.0.1", d.port), timeout=2).close()
                return False
            except OSError:
                return True
        # no new connections while draining (the listener closes first, the process is
        # still finishing the delivery)
        self.assertTrue(wait_for(refused, 10))
        self.assertIsNone(d.proc.poll())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", d.port), timeout=2).close()
        self.assertEqual(d.proc.wait(30), 0)
        exited = time.time()
        d.logf.close()
        finals = self.fake._finals_ok(p["task_result_id"])
        self.assertEqual(len(finals), 1, d.log()[-3000:])
        self.assertLess(finals[0][0]["time"], exited)  # delivered before the exit
        self.assertEqual(finals[0][1]["data"]["attributes"]["status"], "failed")
        self.assertIn("event=drained", d.log())
        self.assertNotIn("event=drain_timeout", d.log())
        rows = dump_deliveries(os.path.join(ENV["tmp"], "drain.db"))
        self.assertIn((p["task_result_id"], 1), rows)  # done


# ---- security --------------------------------------------------------------------

def s_client(port, *args):
    """One handshake with openssl s_client; (ok, negotiated protocol, cipher, output)."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost"] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    out = r.stdout + r.stderr
    # "New, V, Cipher is C": V is the version that defined C; the session
    # block's "Protocol :" is what was negotiated (absent for TLS 1.3 when
    # no ticket arrived, where V is exact anyway)
    new = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    proto = re.search(r"^\s*Protocol\s*:\s*(\S+)", out, re.M)
    ok = r.returncode == 0 and new is not None and new.group(2) != "(NONE)"
    version = proto.group(1) if proto else (new.group(1) if new else None)
    return ok, version, (new.group(2) if new else None), out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SecurityTest(DaemonCase):
    """TLS offers only TLS 1.2/1.3 with forward-secret AEAD suites, API
    tokens are stored hashed, and no secret reaches a log line or survives in
    the store once a delivery has its final status."""

    @classmethod
    def setUpClass(cls):
        tmp = ENV["tmp"]
        # an RSA leaf too: the RSA suites (static RSA, CBC, 3DES, DHE) are only
        # negotiable against an RSA certificate
        key, csr, crt = (os.path.join(tmp, n) for n in ("rsa.key", "rsa.csr", "rsa.pem"))
        run_ok("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
               "-subj", "/CN=localhost")
        run_ok("openssl", "x509", "-req", "-in", csr, "-CA", ENV["ca"], "-CAkey",
               os.path.join(tmp, "ca.key"), "-CAcreateserial", "-out", crt, "-days", "2",
               "-extfile", os.path.join(tmp, "ext.cnf"))
        cls.rsa = (crt, key)
        cls.ec_daemon = new_daemon("tls-ec")
        cls.rsa_daemon = new_daemon("tls-rsa", extra=["--tls-cert", crt, "--tls-key", key])

    @classmethod
    def tearDownClass(cls):
        cls.ec_daemon.stop()
        cls.rsa_daemon.stop()

    def control_server(self, cert, key):
        """openssl s_server that allows everything (SECLEVEL 0, TLS 1.0 up,
        anonymous and NULL suites): what it accepts, the client can offer."""
        port = free_port()
        p = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                              "-cert", cert, "-key", key, "-www", "-min_protocol", "TLSv1",
                              "-cipher", "ALL:aNULL:eNULL:@SECLEVEL=0", "-quiet"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.05)
        self.fail("openssl s_server did not start")

    def check_refused(self, daemon, control_port, cases):
        """Each case must be refused by imagegate; cases the control server
        cannot negotiate either are not evidence and are reported."""
        checked, unavailable = [], []
        for args in cases:
            ok_control, _, _, out = s_client(control_port, *args)
            if not ok_control:
                unavailable.append(" ".join(args))
                continue
            ok, proto, cipher, out = s_client(daemon.port, *args)
            self.assertFalse(ok, "imagegate accepted %s (%s %s)" % (" ".join(args), proto, cipher))
            checked.append(" ".join(args))
        return checked, unavailable

    def test_tls_protocols_and_cipher_suites(self):
        old = ["-cipher", "ALL:@SECLEVEL=0"]
        common_weak = [["-tls1"] + old, ["-tls1_1"] + old]
        ec_weak = [["-tls1_2", "-cipher", c + ":@SECLEVEL=0"] for c in (
            "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
            "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-CAMELLIA128-SHA256",
            "ECDHE-ECDSA-AES128-CCM8", "ECDHE-ECDSA-NULL-SHA", "AECDH-AES128-SHA",
            "ADH-AES128-GCM-SHA256", "AECDH-NULL-SHA")]
        rsa_weak = [["-tls1_2", "-cipher", c + ":@SECLEVEL=0"] for c in (
            "AES128-SHA", "AES256-SHA256", "AES128-GCM-SHA256", "AES256-GCM-SHA384",
            "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "DHE-RSA-AES128-GCM-SHA256",
            "DHE-RSA-CHACHA20-POLY1305", "DHE-RSA-AES256-SHA", "NULL-SHA256", "ECDHE-RSA-NULL-SHA",
            "DES-CBC3-SHA", "RC4-SHA")]
        ec_control = self.control_server(ENV["cert"], ENV["key"])
        rsa_control = self.control_server(*self.rsa)
        checked, unavailable = self.check_refused(self.ec_daemon, ec_control, common_weak + ec_weak)
        c2, u2 = self.check_refused(self.rsa_daemon, rsa_control, common_weak + rsa_weak)
        checked += c2
        unavailable += u2
        # TLS 1.0 and 1.1 and at least a dozen weak suites were really offered
        self.assertGreaterEqual(len(checked), 16, (checked, unavailable))
        self.assertTrue(any(c.startswith("-tls1 ") for c in checked), checked)
        self.assertTrue(any(c.startswith("-tls1_1 ") for c in checked), checked)
        # what is accepted: TLS 1.3, and TLS 1.2 with ECDHE + AEAD; no compression
        for daemon, suites in ((self.ec_daemon, ("ECDHE-ECDSA-AES128-GCM-SHA256",
                                                 "ECDHE-ECDSA-AES256-GCM-SHA384",
                                                 "ECDHE-ECDSA-CHACHA20-POLY1305")),
                               (self.rsa_daemon, ("ECDHE-RSA-AES128-GCM-SHA256",
                                                  "ECDHE-RSA-AES256-GCM-SHA384",
                                                  "ECDHE-RSA-CHACHA20-POLY1305"))):
            for suite in suites:
                ok, proto, cipher, out = s_client(daemon.port, "-tls1_2", "-cipher", suite)
                self.assertTrue(ok, out[-2000:])
                self.assertEqual((proto, cipher), ("TLSv1.2", suite))
                self.assertIn("Compression: NONE", out)
            ok, proto, cipher, out = s_client(daemon.port, "-tls1_3")
            self.assertTrue(ok, out[-2000:])
            self.assertEqual(proto, "TLSv1.3")
            # a client that offers everything gets a forward-secret AEAD suite
            ok, proto, cipher, out = s_client(daemon.port, "-no_tls1_3", "-cipher",
                                              "ALL:@SECLEVEL=0")
            self.assertTrue(ok, out[-2000:])
            self.assertRegex(cipher, r"^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$")

    def test_api_tokens_are_stored_hashed(self):
        db = os.path.join(ENV["tmp"], "tokens.db")
        shutil.copy(ENV["db_path"], db)
        r = subprocess.run([BIN, "--db", "sqlite:" + db, "token", "create", "--name", "ci",
                            "--role", "read"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        secret = re.search(r"igt_[A-Za-z0-9_-]{20,}", r.stdout + r.stderr).group(0)
        con = sqlite3.connect(db)
        try:
            rows = con.execute("SELECT name, hash FROM api_tokens").fetchall()
        finally:
            con.close()
        self.assertEqual(rows, [("ci", hashlib.sha256(secret.encode()).hexdigest())])
        for name in os.listdir(ENV["tmp"]):
            if name.startswith("tokens.db"):
                with open(os.path.join(ENV["tmp"], name), "rb") as f:
                    self.assertNotIn(secret.encode(), f.read(), name)

    def test_no_secret_in_logs_or_store(self):
        """A full run with known secrets, then every log line and every byte
        of the store are searched for each of them."""
        run_token = "Zq9secret.atlasv1.%s" % hashlib.sha256(b"run-token").hexdigest()
        sensitive = "ami-0f00dfeedfacecafe"
        tmp = ENV["tmp"]
        fake = FakeTFC(ENV["cert"], ENV["key"], run_token).start()
        self.addCleanup(fake.stop)
        mentions = ENV["fake"].plans["mentions"].replace(b"ami-0b3c20f2fd2b1e282",
                                                          sensitive.encode())
        self.assertIn(sensitive.encode(), mentions)
        fake.plans["mentions"] = mentions
        fake.plans["clean"] = ENV["fake"].plans["clean"]
        with open(os.path.join(FIX, "config", "hardcoded.tar.gz"), "rb") as f:
            fake.configs["hardcoded"] = f.read()
        store_dir = os.path.join(tmp, "secret-store")
        os.makedirs(store_dir, exist_ok=True)
        db = os.path.join(store_dir, "secrets.db")
        shutil.copy(ENV["db_path"], db)
        r = subprocess.run([BIN, "--db", "sqlite:" + db, "token", "create", "--name", "ci",
                            "--role", "admin"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        api_token = re.search(r"igt_[A-Za-z0-9_-]{20,}", r.stdout + r.stderr).group(0)
        d = Daemon(tmp, "secrets", "sqlite:" + db, fake, ENV["ca"], ENV["cert"], ENV["key"],
                   extra=["--allowed-host", "127.0.0.1:%d" % fake.port]).start()
        try:
            def p(**kw):
                q = payload(token=run_token, **kw)
                q["task_result_callback_url"] = fake.callback_url(q["task_result_id"])
                if "plan_json_api_url" in q:
                    q["plan_json_api_url"] = fake.plan_url(kw.get("plan", "clean"))
                q["configuration_version_download_url"] = fake.config_url(
                    kw.get("config", "none"))
                return q

            with open(os.path.join(FIX, "runtask", "verification.json"), "rb") as f:
                self.assertEqual(d.post_runtask(f.read())[0], 200)
            runs = [p(plan="mentions"), p(plan="clean"), p(stage="pre_plan", config="hardcoded")]
            fake.fail_next_callbacks(runs[1]["task_result_id"], 1)  # a retried callback
            for q in runs:
                self.assertEqual(d.post_runtask(q)[0], 200)
            bad = p()
            self.assertEqual(d.post_runtask(bad, key="not-the-key")[0], 401)
            self.assertEqual(d.post_runtask(json.dumps(bad).encode()[:-3])[0], 400)
            # the registry API with the token, and with a near miss of it
            for path in ("/v1/lookup?bucket=golden-base&channel=production&platform=aws&"
                         "region=us-east-1", "/v1/audit?since=1h",
                         "/packer/2023-01-01/organizations/o/projects/p/buckets"):
                code, _, _ = d.request("GET", path,
                                       headers={"Authorization": "Bearer " + api_token})
                self.assertNotIn(code, (401, 403), path)  # 404: no such image, fine
                code, _, _ = d.request("GET", path,
                                       headers={"Authorization": "Bearer " + api_token[:-1]})
                self.assertEqual(code, 401, path)
            for q in runs:
                doc = fake.wait_final(q["task_result_id"], 30)
                self.assertIsNotNone(doc, d.log()[-3000:])
                for rec in fake.callbacks(q["task_result_id"]):
                    self.assertNotIn(sensitive.encode(), rec["body"])
                    self.assertNotIn(run_token.encode(), rec["body"])

            # the final states are in the store, the erased bodies scrubbed: the worker logs
            # the delivery after that (reading the store meanwhile would hold back the
            # checkpoint that removes the old WAL frames)
            for q in runs:
                self.assertTrue(d.wait_log(delivered_re(q)), d.log()[-3000:])
            con = sqlite3.connect(db)
            try:
                rows = con.execute("SELECT task_result_id, state, body FROM deliveries "
                                   "WHERE task_result_id IN (?, ?, ?)",
                                   [q["task_result_id"] for q in runs]).fetchall()
            finally:
                con.close()
            self.assertEqual(sorted(r[1] for r in rows), [1, 1, 1])
            self.assertEqual([r[2] for r in rows], [None] * 3)  # body (and token) erased
            # the store as the server leaves it after the final statuses
            self.assert_absent(store_dir, d.log_path, run_token, api_token, sensitive)
        finally:
            d.stop()
        # and after a clean stop (the WAL checkpointed into the main file)
        self.assert_absent(store_dir, d.log_path, run_token, api_token, sensitive)

    def assert_absent(self, store_dir, log_path, run_token, api_token, sensitive):
        secrets = {"run access token": run_token, "API token": api_token,
                   "HMAC key (current)": KEY_NEW, "HMAC key (old)": KEY_OLD,
                   "sensitive plan value": sensitive,
                   "pre-signed URL signature": "s3cr3t"}
        with open(log_path, "rb") as f:
            log = f.read()
        self.assertGreater(log.count(b"\n"), 10)
        files = {}
        for n in os.listdir(store_dir):
            with open(os.path.join(store_dir, n), "rb") as f:
                files[n] = f.read()
        self.assertTrue(any(n.endswith(".db") for n in files))
        found = ["%s in the log" % what for what, v in secrets.items() if v.encode() in log]
        found += ["%s in %s" % (what, n) for what, v in secrets.items()
                  for n, data in files.items() if v.encode() in data]
        self.assertEqual(found, [])

if __name__ == "__main__":
    unittest.main(verbosity=2)
