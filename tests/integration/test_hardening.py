"""Hardening tests for `imagegate serve`: slow clients, bad input of every
kind, load, store faults, crashes and shutdown, TLS and secrets.

Same harness as test_runtask.py: the real daemon on 127.0.0.1 port 0 with a
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
from test_runtask import (BIN, FIX, KEY_NEW, KEY_OLD, TOKEN, Daemon, make_certs,  # noqa: E402
                          run, sign)

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
    run("sh", os.path.join(FIX, "setup-registry.sh"), BIN, "sqlite:" + db_path)
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
        s.sendall(data)
        buf = b""
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
        time.sleep(0.2)
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
        self.assertLess(worst, 1.0, "a normal request waited behind the slow clients")
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
        self.assertLess(worst, 1.0)
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
        time.sleep(0.5)
        worst = self.prompt_requests(self.plain, HEADER_TIMEOUT + 1.5)
        t.join()
        self.assertLess(worst, 1.0)
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
