"""A fake HCP Terraform for imagegate's run-task tests (python3 standard
library only).

One HTTPS server on 127.0.0.1 answers for two host names: the test allows
"127.0.0.1:PORT" as the API host and uses "localhost:PORT" as the archivist
(the redirect target), so the Host header tells which "host" a request went
to. Every request is recorded (method, path, host, Authorization, body).
FakeTFC(None, None, token) serves plain HTTP instead (the token-over-http tests).

  GET  /api/v2/plans/<id>/json-output            bearer token required; 204 while
                                                 not ready; 307 -> archivist
  GET  /archivist/plans/<id>?sig=...             the plan bytes (pre-signed, no token)
  GET  /api/v2/configuration-versions/<id>/download   302 -> archivist
  GET  /archivist/configs/<id>?sig=...           the .tar.gz
  PATCH /api/v2/task-results/<id>/callback       records; can fail with 503 n times
"""

import http.server
import json
import ssl
import threading
import time


class FakeTFC:
    def __init__(self, cert, key, token):
        self.token = token
        self.plans = {}          # id -> bytes
        self.configs = {}        # id -> bytes
        self.not_ready = {}      # plan id -> 204 answers left
        self.hold = set()        # plan ids answered 204 until released
        self.plan_status = {}    # plan id -> a status to answer instead (422: Terraform too old)
        self.fail_callbacks = {}  # task result id -> failing answers left
        self.fail_code = {}       # task result id -> the status to fail with (503)
        self.requests = []
        self.lock = threading.RLock()
        self._initial_failures = {}
        self.cond = threading.Condition(self.lock)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _record(self, body=b""):
                rec = {
                    "method": self.command,
                    "path": self.path,
                    "host": self.headers.get("Host", ""),
                    "authorization": self.headers.get("Authorization"),
                    "content_type": self.headers.get("Content-Type"),
                    "body": body,
                    "time": time.time(),
                }
                with fake.cond:
                    fake.requests.append(rec)
                    fake.cond.notify_all()
                return rec

            def _send(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def _authorized(self):
                return self.headers.get("Authorization") == "Bearer " + fake.token

            def do_GET(self):
                self._record()
                host = self.headers.get("Host", "")
                port = host.rsplit(":", 1)[-1]
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "v2", "plans"] and len(parts) == 5:
                    pid = parts[3]
                    if not self._authorized():
                        return self._send(401, b'{"errors":["unauthorized"]}')
                    with fake.lock:
                        if pid in fake.plan_status:
                            return self._send(fake.plan_status[pid], b'{"errors":[]}')
                        if pid in fake.hold:
                            return self._send(204)
                        left = fake.not_ready.get(pid, 0)
                        if left > 0:
                            fake.not_ready[pid] = left - 1
                            return self._send(204)
                    if pid not in fake.plans:
                        return self._send(404)
                    loc = "%s://localhost:%s/archivist/plans/%s?sig=s3cr3t-signature" % (
                        fake.scheme, port, pid)
                    return self._send(307, headers={"Location": loc})
                if parts[:3] == ["api", "v2", "configuration-versions"] and len(parts) == 5:
                    cid = parts[3]
                    if not self._authorized():
                        return self._send(401)
                    if cid not in fake.configs:
                        return self._send(404)
                    loc = "%s://localhost:%s/archivist/configs/%s?sig=s3cr3t" % (
                        fake.scheme, port, cid)
                    return self._send(302, headers={"Location": loc})
                if parts[:2] == ["archivist", "plans"] and len(parts) == 3:
                    data = fake.plans.get(parts[2])
                    if data is None:
                        return self._send(404)
                    return self._send(200, data, {"Content-Type": "application/json"})
                if parts[:2] == ["archivist", "configs"] and len(parts) == 3:
                    data = fake.configs.get(parts[2])
                    if data is None:
                        return self._send(404)
                    return self._send(200, data, {"Content-Type": "application/x-gzip"})
                return self._send(404)

            def do_PATCH(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                self._record(body)
                parts = self.path.strip("/").split("/")
                if parts[:3] != ["api", "v2", "task-results"] or len(parts) != 5:
                    return self._send(404)
                if not self._authorized():
                    return self._send(401)
                trid = parts[3]
                with fake.lock:
                    left = fake.fail_callbacks.get(trid, 0)
                    if left > 0:
                        fake.fail_callbacks[trid] = left - 1
                        return self._send(fake.fail_code.get(trid, 503), b"try later")
                return self._send(200, b'{"data":{}}', {"Content-Type": "application/vnd.api+json"})

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients that hang up mid-transfer (an aborted download) are expected

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "https" if cert else "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- helpers for tests ---------------------------------------------------
    @property
    def api(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def plan_url(self, pid):
        return "%s/api/v2/plans/%s/json-output" % (self.api, pid)

    def config_url(self, cid):
        return "%s/api/v2/configuration-versions/%s/download" % (self.api, cid)

    def callback_url(self, trid):
        return "%s/api/v2/task-results/%s/callback" % (self.api, trid)

    def plan_gets(self, pid):
        """How many times plan pid was asked for at its API URL (204s included)."""
        path = "/api/v2/plans/%s/json-output" % pid
        with self.lock:
            return len([r for r in self.requests
                        if r["method"] == "GET" and r["path"].split("?")[0] == path])

    def callbacks(self, trid):
        with self.lock:
            return [r for r in self.requests
                    if r["method"] == "PATCH" and ("/task-results/%s/" % trid) in r["path"]]

    def finals(self, trid):
        out = []
        for r in self.callbacks(trid):
            try:
                doc = json.loads(r["body"])
            except ValueError:
                continue
            status = doc.get("data", {}).get("attributes", {}).get("status")
            if status in ("passed", "failed"):
                out.append((r, doc))
        return out

    def wait_final(self, trid, timeout=30, delivered=True):
        """Waits for a final callback the fake answered 200 (delivered)."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                got = self._finals_ok(trid) if delivered else self.finals(trid)
                if got:
                    return got[-1][1]
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))

    def _finals_ok(self, trid):
        # The fake fails the first fail_callbacks[trid] PATCHes; count those.
        cbs = [r for r in self.requests
               if r["method"] == "PATCH" and ("/task-results/%s/" % trid) in r["path"]]
        out = []
        failed_left = self._initial_failures.get(trid, 0)
        for i, r in enumerate(cbs):
            try:
                doc = json.loads(r["body"])
            except ValueError:
                continue
            status = doc.get("data", {}).get("attributes", {}).get("status")
            if status in ("passed", "failed") and i >= failed_left:
                out.append((r, doc))
        return out

    def fail_next_callbacks(self, trid, n, code=503):
        with self.lock:
            self.fail_callbacks[trid] = n
            self.fail_code[trid] = code
            self._initial_failures[trid] = n
