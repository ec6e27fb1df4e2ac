#!/usr/bin/env python3
"""Latency of an authenticated registry read, and of a run-task acknowledgement.

Starts the real `imagegate serve` (TLS, temporary SQLite store built with
tests/fixtures/setup-registry.sh, a read token made with `imagegate token
create`), then on one keep-alive connection sends --requests
`GET .../buckets/web-ubuntu` with the token, one after the other, and as many
signed run-task deliveries (the fake HCP Terraform of the integration tests
serves their plan). Reports p50/p90/p99 of the server's own figures from its
log (`duration_ms` of `event=api`, `ack_ms` of `event=runtask_ack`: from the
handler to the reply queued, store work included) and of the client's round
trip, and how many bytes the server wrote to files while it answered the reads
(/proc/PID/io write_bytes: a read that writes shows up there). Compare two
builds with --bin.

Timings are measured, never asserted. Python standard library only.

  python3 bench/api_read.py --bin build/imagegate [--requests 2000]
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from fake_tfc import FakeTFC  # noqa: E402
import igtest  # noqa: E402

BASE = "/packer/2023-01-01/organizations/o/projects/p"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def show(name, xs):
    print("  %-28s n=%-5d p50 %.3f  p90 %.3f  p99 %.3f ms" % (name, len(xs), pct(xs, 50),
                                                              pct(xs, 90), pct(xs, 99)))


def write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        return int(re.search(r"^write_bytes: (\d+)", f.read(), re.M).group(1))


def delivery(fake, i):
    with open(os.path.join(igtest.FIXTURES, "runtask", "post_plan.json")) as f:
        p = json.load(f)
    trid = "taskrs-bench%06d" % i
    p.update(access_token=igtest.TOKEN, task_result_id=trid,
             task_result_callback_url=fake.callback_url(trid),
             plan_json_api_url=fake.plan_url("clean"),
             configuration_version_download_url=fake.config_url("none"))
    return json.dumps(p).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "imagegate"))
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ig-bench-read-")
    ca, cert, key = igtest.make_certs(tmp)
    with open(os.path.join(tmp, "hmac.keys"), "w") as f:
        f.write(igtest.KEY_NEW + "\n")
    os.chmod(os.path.join(tmp, "hmac.keys"), 0o600)
    db = "sqlite:" + os.path.join(tmp, "registry.db")
    subprocess.run(["sh", os.path.join(igtest.FIXTURES, "setup-registry.sh"), a.bin, db],
                   check=True, capture_output=True)
    out = subprocess.run([a.bin, "--db", db, "token", "create", "--name", "bench", "--role",
                          "read", "--json"], check=True, capture_output=True, text=True).stdout
    token = json.loads(out)["secret"]
    fake = FakeTFC(cert, key, igtest.TOKEN).start()
    with open(os.path.join(igtest.FIXTURES, "plans", "clean.plan.json"), "rb") as f:
        fake.plans["clean"] = f.read()
    d = igtest.Daemon(tmp, "bench", db, fake, ca, cert, key, extra=["--log-level", "info"],
                      binary=os.path.abspath(a.bin)).start()
    try:
        c = http.client.HTTPSConnection("127.0.0.1", d.port, context=d.ctx, timeout=30)
        rtt_read, rtt_ack = [], []
        w0 = write_bytes(d.proc.pid)
        for i in range(a.requests):
            t0 = time.perf_counter()
            c.request("GET", BASE + "/buckets/web-ubuntu",
                      headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            r.read()
            rtt_read.append((time.perf_counter() - t0) * 1000)
            assert r.status == 200, r.status
        read_writes = write_bytes(d.proc.pid) - w0
        for i in range(a.requests):
            body = delivery(fake, i)
            t0 = time.perf_counter()
            c.request("POST", "/runtask", body=body,
                      headers={"X-TFC-Task-Signature": igtest.sign(body)})
            r = c.getresponse()
            r.read()
            rtt_ack.append((time.perf_counter() - t0) * 1000)
            assert r.status == 200, r.status
        c.close()
        time.sleep(1)
        log = d.log()
    finally:
        d.stop()
        fake.stop()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    server_read = [float(m) for m in re.findall(r"op=bucket\.get .*duration_ms=([\d.]+)", log)]
    server_ack = [float(m) for m in
                  re.findall(r"event=runtask_ack result=accepted .*ack_ms=([\d.]+)", log)]
    print("%s, %d requests each, one keep-alive TLS connection:" % (a.bin, a.requests))
    print("  bytes written to files during the reads: %d" % read_writes)
    show("GET bucket, server", server_read)
    show("GET bucket, round trip", rtt_read)
    show("POST /runtask ack, server", server_ack)
    show("POST /runtask, round trip", rtt_ack)


if __name__ == "__main__":
    main()
