"""Issue 18: the server fails safe when its store breaks, and HTTP framing is strict.

- StoreGoneTest: the SQLite file (with its -wal and -shm) deleted under a running
  server: POST /runtask answers 503 with Retry-After instead of acknowledging into
  a file that the next start will not find, /readyz and writes answer 503, and a
  file put back at the path is found again without a restart.
- DiskFullTest: the store on a small tmpfs that the test fills: reads, lookups and
  scans still answer 200 (checking a token writes nothing), /readyz says 503
  while nothing can be stored and 200 once there is room again; last_used_at is
  recorded afterwards, at most once a minute per token.
- RevokeBefore1970Test: a revoke_at before 1970 is a valid RFC 3339 time (a
  revocation in the past), over the API and the command line.
- StrictHttpTest: raw HTTP over a socket -- conflicting Content-Length headers,
  unknown Transfer-Encoding, an invalid chunk size, OPTIONS, a trailing slash --
  each refused in the JSON error shape, the connection closed where the framing
  cannot be trusted, and nothing smuggled through as a second request.

The real daemon on 127.0.0.1 port 0 over TLS with the fixtures store
(tests/fixtures/setup-registry.sh) and the fake HCP Terraform of fake_tfc.py.
DiskFullTest mounts a tmpfs (root needed: it fails rather than skips without).
Python standard library only.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fake_tfc import FakeTFC  # noqa: E402
from igtest import (BIN, FIXTURES as FIX, KEY_NEW, KEY_OLD, TOKEN, Daemon,  # noqa: E402
                    make_certs, sign, wait_for)

BASE = "/packer/2023-01-01/organizations/my-org/projects/my-project"
ENV = {}  # tmp, ca, cert, key, db_path, fake, tokens, counter


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="ig-failsafe-")
    ca, cert, key = make_certs(tmp)
    with open(os.path.join(tmp, "hmac.keys"), "w") as f:
        f.write(KEY_OLD + "\n" + KEY_NEW + "\n")
    os.chmod(os.path.join(tmp, "hmac.keys"), 0o600)
    db_path = os.path.join(tmp, "registry.db")
    ig("sh", os.path.join(FIX, "setup-registry.sh"), BIN, "sqlite:" + db_path)
    tokens = {}
    for name, role in (("reader", "read"), ("admin", "admin")):
        out = ig(BIN, "--db", "sqlite:" + db_path, "token", "create", "--name", name,
                 "--role", role, "--json")
        tokens[role] = json.loads(out)["secret"]
    fake = FakeTFC(cert, key, TOKEN).start()
    with open(os.path.join(FIX, "plans", "clean.plan.json"), "rb") as f:
        fake.plans["clean"] = f.read()
    ENV.update(tmp=tmp, ca=ca, cert=cert, key=key, db_path=db_path, fake=fake, tokens=tokens,
               counter=0)


def tearDownModule():
    ENV["fake"].stop()
    if os.environ.get("IG_KEEP_TMP"):
        print("kept", ENV["tmp"])
    else:
        shutil.rmtree(ENV["tmp"], ignore_errors=True)


def ig(*argv):
    """Runs a command that must succeed; returns its stdout."""
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (argv, r.returncode, r.stderr))
    return r.stdout


def new_daemon(name, db_dir=None, extra=()):
    """A daemon on a fresh copy of the fixtures store, in db_dir if given."""
    db = os.path.join(db_dir or ENV["tmp"], name + ".db")
    shutil.copy(ENV["db_path"], db)
    os.chmod(db, 0o600)
    return Daemon(ENV["tmp"], name, "sqlite:" + db, ENV["fake"], ENV["ca"], ENV["cert"],
                  ENV["key"], extra=list(extra)).start()


def payload():
    ENV["counter"] += 1
    trid = "taskrs-safe%05d" % ENV["counter"]
    fake = ENV["fake"]
    with open(os.path.join(FIX, "runtask", "post_plan.json")) as f:
        p = json.load(f)
    p.update(access_token=TOKEN, task_result_id=trid, run_id="run-" + trid[7:],
             task_result_callback_url=fake.callback_url(trid),
             plan_json_api_url=fake.plan_url("clean"),
             configuration_version_download_url=fake.config_url("none"),
             capabilities={"outcomes": True})
    return p


def call(d, method, path, body=None, token=None, raw=None, headers=None):
    """(status, parsed JSON or text, headers) of one API call."""
    return d.call(method, path, body, token=token, headers=headers, raw=raw)


class DaemonCase(unittest.TestCase):
    def assert_error(self, status, doc, want, grpc):
        self.assertEqual(status, want, doc)
        self.assertIsInstance(doc, dict, doc)
        self.assertEqual((doc["code"], doc["details"]), (grpc, []), doc)
        self.assertTrue(doc["message"])

    def ready(self, d):
        return call(d, "GET", "/readyz")[0]

    def assert_delivered(self, d, p):
        code, body, _ = d.post_runtask(p)
        self.assertEqual(code, 200, body)
        doc = ENV["fake"].wait_final(p["task_result_id"], 30)
        self.assertIsNotNone(doc, d.log()[-3000:])
        self.assertEqual(doc["data"]["attributes"]["status"], "passed")


# ---- 1: the store file deleted under the server --------------------------------

class StoreGoneTest(DaemonCase):

    def delete_store(self, db, suffixes=("", "-wal", "-shm")):
        for s in suffixes:
            if os.path.exists(db + s):
                os.unlink(db + s)

    def test_store_deleted_refuses_then_finds_the_file_put_back(self):
        # one store worker: the handle that acknowledges is the one already open
        d = new_daemon("gone", extra=["--store-workers", "1"])
        db = os.path.join(ENV["tmp"], "gone.db")
        try:
            self.assert_delivered(d, payload())
            self.assertEqual(self.ready(d), 200)
            shutil.copy(db, db + ".saved")  # the store as it was (WAL not checkpointed in)
            self.delete_store(db)
            p = payload()
            code, body, headers = d.post_runtask(p)
            self.assertEqual(code, 503, body)  # not 200 into a file nobody will find
            self.assertEqual(headers.get("Retry-After"), "5")
            self.assertIn("could not be stored", json.loads(body)["message"])
            self.assertFalse(os.path.exists(db))  # and nothing made a new empty store
            self.assertEqual(wait_for(lambda: self.ready(d) == 503, 5), True)
            st, doc, hdrs = call(d, "PUT", BASE + "/buckets", {"name": "after-delete"},
                                 token=ENV["tokens"]["admin"])
            self.assert_error(st, doc, 503, 14)
            self.assertIn("Retry-After", hdrs)
            self.assertRegex(d.log(), r"event=runtask_store_failed task_result_id=%s "
                             r"error=.*(deleted or replaced|no registry store here)"
                             % p["task_result_id"])
            # an operator puts a store back at the path: found without a restart
            os.rename(db + ".saved", db)
            self.assertTrue(wait_for(lambda: self.ready(d) == 200, 15), d.log()[-2000:])
            self.assert_delivered(d, p)  # HCP Terraform's retry is stored and delivered
        finally:
            d.stop()

    def test_wal_deleted_refuses(self):
        # the newest transactions live in the -wal: one deleted under the server
        # is as bad as the store itself (the store file and the -shm stay)
        d = new_daemon("walgone", extra=["--store-workers", "1"])
        db = os.path.join(ENV["tmp"], "walgone.db")
        try:
            self.assert_delivered(d, payload())
            self.delete_store(db, ("-wal",))
            code, body, headers = d.post_runtask(payload())
            self.assertEqual(code, 503, body)
            self.assertIn("Retry-After", headers)
            self.assertEqual(wait_for(lambda: self.ready(d) == 503, 5), True)
        finally:
            d.stop()


# ---- 2 and 3: the disk full ----------------------------------------------------

class DiskFullTest(DaemonCase):

    @classmethod
    def setUpClass(cls):
        cls.mnt = os.path.join(ENV["tmp"], "fullfs")
        os.makedirs(cls.mnt, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", cls.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("mount tmpfs: %s (this test needs root)" % r.stderr)
        cls.filler = os.path.join(cls.mnt, "filler")
        cls.d = None
        try:
            cls.d = new_daemon("full", db_dir=cls.mnt, extra=["--token-refresh", "1s"])
        except Exception:
            subprocess.run(["umount", cls.mnt])
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.d:
            cls.d.stop()
        subprocess.run(["umount", cls.mnt])

    def fill(self):
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)

    def free(self):
        os.unlink(self.filler)

    def last_used(self, name):
        out = ig(BIN, "--db", "sqlite:" + os.path.join(self.mnt, "full.db"), "token", "list",
                 "--json")
        doc = json.loads(out)
        rows = doc if isinstance(doc, list) else doc.get("tokens", [])
        return {t["name"]: t["last_used_at"] for t in rows}[name]

    def test_1_readyz_says_no_while_nothing_can_be_stored(self):
        d = self.d
        self.assert_delivered(d, payload())  # the store worked
        self.assertEqual(self.ready(d), 200)
        self.fill()
        try:
            self.assertEqual(wait_for(lambda: self.ready(d) == 503, 5), True)
            st, doc, hdrs = call(d, "GET", "/readyz")
            self.assert_error(st, doc, 503, 14)
            self.assertIn("Retry-After", hdrs)
            code, body, _ = d.post_runtask(payload())
            self.assertEqual(code, 503, body)  # what readyz said
        finally:
            self.free()
        self.assertTrue(wait_for(lambda: self.ready(d) == 200, 10), d.log()[-2000:])
        self.assertIn("event=readyz_failed", d.log())
        self.assert_delivered(d, payload())

    def test_2_reads_lookups_and_scans_work_while_nothing_can_be_stored(self):
        d = self.d
        reader = ENV["tokens"]["read"]
        self.fill()
        try:
            for _ in range(3):  # nothing in a token check writes
                st, doc, _ = call(d, "GET", BASE + "/buckets/web-ubuntu", token=reader)
                self.assertEqual(st, 200, doc)
                self.assertEqual(doc["bucket"]["name"], "web-ubuntu")
            st, doc, _ = call(d, "GET", "/v1/lookup?bucket=web-ubuntu&channel=production&"
                              "platform=aws&region=us-east-1", token=reader)
            self.assertEqual(st, 200, doc)
            with open(os.path.join(FIX, "plans", "clean.plan.json"), "rb") as f:
                st, doc, _ = call(d, "POST", "/v1/scan", raw=f.read(), token=reader)
            self.assertEqual(st, 200, doc)
            # the use is kept for later, said once in the log
            self.assertTrue(wait_for(lambda: "event=token_use_not_recorded" in d.log(), 10))
        finally:
            self.free()
        # the reader's use is recorded once the store takes writes again
        self.assertTrue(wait_for(lambda: self.last_used("reader"), 10), d.log()[-2000:])

    def test_3_last_use_recorded_at_most_once_a_minute(self):
        d = self.d
        admin = ENV["tokens"]["admin"]
        st, doc, _ = call(d, "GET", "/v1/tokens", token=admin)
        self.assertEqual(st, 200, doc)
        first = wait_for(lambda: self.last_used("admin"), 10)
        self.assertTrue(first, d.log()[-2000:])
        time.sleep(1.1)  # so that a write now would be a different millisecond
        for _ in range(3):
            self.assertEqual(call(d, "GET", "/v1/tokens", token=admin)[0], 200)
        # three token refreshes later (--token-refresh 1s) the first use is still the one written
        time.sleep(3.5)
        self.assertEqual(self.last_used("admin"), first)


# ---- 4: strict HTTP framing ------------------------------------------------------

def exchange(d, data, quiet=1.5, limit=10):
    """Sends raw bytes over TLS or plain TCP; reads until the server closes the
    connection or stays quiet for `quiet` seconds. Returns (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=limit)
    if d.tls:
        s = d.ctx.wrap_socket(s, server_hostname="localhost")
    buf, closed = b"", False
    try:
        s.sendall(data)
        s.settimeout(quiet)
        deadline = time.time() + limit
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionError, ssl.SSLError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
    finally:
        s.close()
    return buf, closed


def responses(buf):
    """[(status, headers dict lower-cased, body bytes)] of every answer in buf."""
    out = []
    while buf:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("half an answer: %r" % buf[:300])
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        buf = rest[n:]
    return out


class StrictHttpTest(DaemonCase):
    SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    @classmethod
    def setUpClass(cls):
        cls.tls = new_daemon("strict")
        cls.plain = Daemon(ENV["tmp"], "strictplain", "sqlite:" + os.path.join(ENV["tmp"],
                                                                                 "strict.db"),
                           ENV["fake"], ENV["ca"], ENV["cert"], ENV["key"], tls=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.tls.stop()
        cls.plain.stop()

    def refused(self, data, status, grpc, why):
        """data must get exactly one answer, the JSON error, and a closed connection."""
        for d in (self.tls, self.plain):
            buf, closed = exchange(d, data)
            answers = responses(buf)
            self.assertEqual(len(answers), 1, "%s: %r" % (d.name, buf[:600]))
            st, headers, body = answers[0]
            self.assertEqual(st, status, buf[:600])
            self.assertEqual(headers.get("content-type"), "application/json", headers)
            self.assertEqual(headers.get("connection"), "close", headers)
            doc = json.loads(body)
            self.assertEqual((doc["code"], doc["details"]), (grpc, []), doc)
            self.assertIn(why, doc["message"])
            self.assertTrue(closed, "the connection stayed open after a refusal")
            self.assertEqual(call(d, "GET", "/healthz")[0], 200)  # and it keeps serving

    def post(self, headers, body=b""):
        return (b"POST /runtask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                headers + b"\r\n" + body)

    def test_1_conflicting_content_length(self):
        n = len(self.SMUGGLED)
        self.refused(self.post(b"Content-Length: 0\r\nContent-Length: %d\r\n" % n,
                               self.SMUGGLED), 400, 3, "conflicting Content-Length")
        self.refused(self.post(b"Content-Length: %d\r\nContent-Length: 0\r\n" % n,
                               self.SMUGGLED), 400, 3, "conflicting Content-Length")
        self.refused(self.post(b"Content-Length: +%d\r\n" % n, self.SMUGGLED), 400, 3,
                     "digits only")
        # a HEAD request's body would be read as the next request
        self.refused(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n +
                     self.SMUGGLED, 400, 3, "has no body")
        self.assertIn("event=http_refused status=400", self.tls.log())
        # pipelined behind a good request: the good one answered, the bad one refused, no third
        bad = self.post(b"Content-Length: 0\r\nContent-Length: %d\r\n" % n, self.SMUGGLED)
        for d in (self.tls, self.plain):
            buf, closed = exchange(d, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n" + bad)
            self.assertEqual([a[0] for a in responses(buf)], [200, 400], buf[:800])
            self.assertTrue(closed)

    def test_2_transfer_encodings(self):
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(self.SMUGGLED), self.SMUGGLED)
        # RFC 9112 6.3: chunked not last means the length cannot be known: 400
        self.refused(self.post(b"Transfer-Encoding: gzip\r\n", self.SMUGGLED), 400, 3,
                     "exactly 'chunked'")
        self.refused(self.post(b"Transfer-Encoding: x-custom\r\n", self.SMUGGLED), 400, 3,
                     "exactly 'chunked'")
        # chunked last after a coding the server does not implement: 501 (RFC 9112 6.1)
        self.refused(self.post(b"Transfer-Encoding: gzip, chunked\r\n", chunked), 501, 12,
                     "not implemented")
        self.refused(self.post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", chunked),
                     400, 3, "both Transfer-Encoding and Content-Length")
        # an invalid chunk size is a bad request, not one too large
        self.refused(self.post(b"Transfer-Encoding: chunked\r\n", b"zz\r\n" + chunked), 400, 3,
                     "invalid chunk size")
        self.refused(self.post(b"Transfer-Encoding: chunked\r\n", b"0x5\r\nhello\r\n0\r\n\r\n"),
                     400, 3, "invalid chunk size")
        # a chunked body that is too large is still 413, now in the JSON shape too
        big = b"fffffff\r\n" + b"a" * 70000  # 256 MiB announced
        self.refused(self.post(b"Transfer-Encoding: chunked\r\n", big), 413, 8, "larger than")
        # an unknown method
        self.refused(b"PROPFIND /runtask HTTP/1.1\r\nHost: x\r\n\r\n", 501, 12,
                     "not implemented")

    def test_3_a_good_chunked_request_still_works(self):
        p = payload()
        body = json.dumps(p).encode()
        data = (b"POST /runtask HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"X-TFC-Task-Signature: " + sign(body).encode() +
                b"\r\nTransfer-Encoding: chunked\r\n\r\n" +
                b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100])
                         for i in range(0, len(body), 100)) + b"0\r\n\r\n")
        buf, _ = exchange(self.tls, data)
        answers = responses(buf)
        self.assertEqual([a[0] for a in answers], [200], buf[:500])
        self.assertIsNotNone(ENV["fake"].wait_final(p["task_result_id"], 30))

    def test_4_options_and_trace_get_json_with_allow(self):
        admin = ENV["tokens"]["admin"]
        for method, path, allow in (("OPTIONS", "/runtask", "POST"),
                                    ("OPTIONS", "/healthz", "GET, HEAD"),
                                    ("TRACE", "/v1/lookup", "GET"),
                                    ("OPTIONS", "/v1/tokens", "GET, POST"),
                                    ("OPTIONS", BASE + "/buckets/web-ubuntu", None)):
            st, doc, hdrs = call(self.tls, method, path, token=admin)
            self.assert_error(st, doc, 405, 12)
            self.assertIn("Allow", hdrs, (method, path))
            if allow:
                self.assertEqual(hdrs["Allow"], allow)
            self.assertNotIn(method, hdrs["Allow"])
        st, doc, _ = call(self.tls, "OPTIONS", "/nowhere")
        self.assert_error(st, doc, 404, 5)

    def test_5_a_trailing_slash_is_never_routed(self):
        admin = ENV["tokens"]["admin"]
        for path in ("/v1/tokens/", "/v1/audit/", "/healthz/", "/readyz/", "/runtask/",
                     BASE + "/buckets/", BASE + "/buckets/web-ubuntu/", "/results/"):
            method = "POST" if path == "/runtask/" else "GET"
            st, doc, _ = call(self.tls, method, path, token=admin)
            self.assert_error(st, doc, 404, 5)
            self.assertIn("do not end in '/'", doc["message"], path)
        # without the slash they are there
        self.assertEqual(call(self.tls, "GET", "/v1/tokens", token=admin)[0], 200)
        self.assertEqual(call(self.tls, "GET", BASE + "/buckets/web-ubuntu", token=admin)[0], 200)
        # the console's pages are the one exception: /ui/ is its root
        for path in ("/ui/", "/ui/buckets/web-ubuntu/"):
            st, page, hdrs = call(self.tls, "GET", path)
            self.assertEqual(st, 200, path)
            self.assertIn("text/html", hdrs["Content-Type"], path)


# ---- 5: revocations dated before 1970 -------------------------------------------

class RevokeBefore1970Test(DaemonCase):

    @classmethod
    def setUpClass(cls):
        cls.d = new_daemon("y1969")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_api_and_cli_accept_a_revocation_in_the_past(self):
        admin = ENV["tokens"]["admin"]
        st, doc, _ = call(self.d, "PATCH", BASE + "/buckets/azure-win/versions/v1",
                          {"revoke_at": "1969-07-20T20:17:40Z", "revocation_message": "old"},
                          token=admin)
        self.assertEqual(st, 200, doc)
        v = doc["version"]
        self.assertEqual(v["status"], "VERSION_REVOKED")
        self.assertEqual(v["revoke_at"], "1969-07-20T20:17:40Z")
        db = "sqlite:" + os.path.join(ENV["tmp"], "y1969.db")
        ig(BIN, "--db", db, "version", "revoke", "app-java", "v1", "--at",
           "1901-12-13T20:45:52.500+01:00")
        out = json.loads(ig(BIN, "--db", db, "version", "show", "app-java", "v1", "--json"))
        text = json.dumps(out)
        self.assertIn("1901-12-13T19:45:52.500Z", text)
        self.assertIn("REVOKED", text.upper())


if __name__ == "__main__":
    unittest.main(verbosity=2)
