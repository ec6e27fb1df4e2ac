#!/usr/bin/env python3
"""Event delivery throughput to a receiver on 127.0.0.1.

Builds a registry with one base image and --children images built from it, creates
--webhooks webhooks pointing at a local receiver (tests/integration/fake_receiver.py; HTTPS
with --tls) without a server running, revokes the base on the command line -- which queues
children + 1 events per webhook in the outbox -- then starts `imagegate serve` and measures
how long it takes until the receiver has every event: the sustained rate of the notification
pool (--webhook-workers threads; one sender per webhook at a time, in order). The receiver
checks every signature. Timings are measured, never asserted. Python standard library only.

  python3 bench/event_delivery.py --bin build/imagegate [--children 500] [--webhooks 1]
                                  [--workers 2] [--tls]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from fake_receiver import FakeReceiver  # noqa: E402
from igtest import make_certs  # noqa: E402

SECRET = "bench-secret-0123456789"


def manifest(path, ami, source=None):
    custom = {"source_ami": source} if source else None
    with open(path, "w") as f:
        json.dump({"builds": [{"name": "b", "builder_type": "amazon-ebs",
                               "artifact_id": "us-west-1:" + ami, "packer_run_uuid": "run",
                               "custom_data": custom}], "last_run_uuid": "run"}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--children", type=int, default=500)
    ap.add_argument("--webhooks", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="event-delivery-")
    try:
        run(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(a, tmp):
    db = "sqlite:" + os.path.join(tmp, "bench.db")
    ig = lambda *args: subprocess.run([a.bin, "--db", db] + list(args), check=True,  # noqa: E731
                                      capture_output=True)
    m = os.path.join(tmp, "m.json")
    manifest(m, "ami-base")
    ig("import", m, "--bucket", "base", "--fingerprint", "b1")
    for i in range(a.children):
        manifest(m, "ami-c%d" % i, "ami-base")
        ig("import", m, "--bucket", "child-%d" % i, "--fingerprint", "c1")
    ca, cert, key = make_certs(tmp) if a.tls else (None, None, None)
    rcvs = [FakeReceiver(SECRET, cert, key).start() for _ in range(a.webhooks)]
    secret = os.path.join(tmp, "secret")
    with open(secret, "w") as f:
        f.write(SECRET)
    for i, r in enumerate(rcvs):
        ig("webhook", "create", "--name", "h%d" % i, "--url", r.url, "--secret-file", secret,
           "--no-verify")
    t0 = time.time()
    ig("version", "revoke", "base", "v1")
    queued = time.time() - t0
    want = a.children + 1
    args = [a.bin, "serve", "--db", db, "--listen", "127.0.0.1:0", "--insecure-http",
            "--allow-unsigned", "--webhook-allow-network", "127.0.0.0/8",
            "--webhook-workers", str(a.workers), "--log-level", "warn"]
    if ca:
        args += ["--ca-file", ca]
    t0 = time.time()
    srv = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    try:
        for r in rcvs:
            r.wait_for(lambda rs: len(rs) >= want, timeout=600, what="every event")
        took = time.time() - t0
    finally:
        srv.terminate()
        srv.wait()
    bad = sum(1 for r in rcvs for q in r.events() if q["problem"])
    total = want * a.webhooks
    print("%d events (%d webhook(s) x %d), %s, --webhook-workers %d: revoke with queueing %.0f ms;"
          " delivered in %.2f s from server start = %.0f events/s; bad signatures: %d"
          % (total, a.webhooks, want, "https" if a.tls else "http", a.workers, queued * 1000,
             took, total / took, bad))
    for r in rcvs:
        r.stop()


if __name__ == "__main__":
    main()
