"""A fake webhook receiver for imagegate's event notification tests (python3 standard
library only).

An HTTPS (or plain HTTP) server on 127.0.0.1 that records every POST it gets -- path,
headers, body, and whether its signatures check out against the secret it was given --
and answers from a script: `answers` is a list of status codes used in turn (then 200
forever), so [500, 500] makes the first two requests fail.

Signatures, as docs/events.md tells a receiver to check them:
  X-Hcp-Webhook-Signature        hex HMAC-SHA512 of the body under the secret (HCP's)
  X-Imagegate-Webhook-Timestamp  unix seconds when the request was sent
  X-Imagegate-Webhook-Signature  hex HMAC-SHA512 of "<timestamp>.<body>"
"""

import hashlib
import hmac
import http.server
import json
import ssl
import threading
import time


def hcp_signature(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def timestamp_signature(secret, timestamp, body):
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha512).hexdigest()


def check_request(secret, headers, body, max_age=300, now=None):
    """What a receiver does: both signatures, compared in constant time, and a fresh
    timestamp. Returns None when the request is genuine, else the reason."""
    got = headers.get("X-Hcp-Webhook-Signature", "")
    if not hmac.compare_digest(got, hcp_signature(secret, body)):
        return "bad X-Hcp-Webhook-Signature"
    ts = headers.get("X-Imagegate-Webhook-Timestamp", "")
    got = headers.get("X-Imagegate-Webhook-Signature", "")
    if not ts.isdigit() or not hmac.compare_digest(got, timestamp_signature(secret, ts, body)):
        return "bad X-Imagegate-Webhook-Signature"
    if abs((now or time.time()) - int(ts)) > max_age:
        return "stale timestamp"
    return None


class FakeReceiver:
    def __init__(self, secret, cert=None, key=None, answers=(), body=b"ok"):
        self.secret = secret
        self.answers = list(answers)
        self.answer_body = body
        self.requests = []
        self.cond = threading.Condition()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are two writes: without TCP_NODELAY the second waits for the
            # client's delayed ACK (40 ms) on a kept-alive connection
            disable_nagle_algorithm = True

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                headers = {k: v for k, v in self.headers.items()}
                with fake.cond:
                    status = fake.answers.pop(0) if fake.answers else 200
                    try:
                        doc = json.loads(body)
                    except ValueError:
                        doc = None
                    fake.requests.append({"path": self.path, "headers": headers, "body": body,
                                          "json": doc, "status": status, "time": time.time(),
                                          "problem": check_request(fake.secret, headers, body)})
                    fake.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(fake.answer_body)))
                self.end_headers()
                self.wfile.write(fake.answer_body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = "%s://127.0.0.1:%d/hooks/packer" % ("https" if cert else "http", self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def events(self, action=None):
        """The recorded requests (copies), those with event_action == action when given."""
        with self.cond:
            return [r for r in self.requests
                    if action is None or (r["json"] or {}).get("event_action") == action]

    def wait_for(self, predicate, timeout=30, what="the expected requests"):
        """Waits until predicate(requests) is true (the list is a snapshot)."""
        deadline = time.time() + timeout
        with self.cond:
            while not predicate(list(self.requests)):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s; got %d request(s): %s" % (
                        what, len(self.requests),
                        [(r["json"] or {}).get("event_action") for r in self.requests]))
                self.cond.wait(left)
            return list(self.requests)
