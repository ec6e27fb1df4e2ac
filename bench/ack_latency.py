#!/usr/bin/env python3
"""Run-task acknowledgement latency while large plans are being scanned.

Starts the real `imagegate serve` (TLS, temporary SQLite store built with
tests/fixtures/setup-registry.sh) and the fake HCP Terraform of the
integration tests, generates a synthetic plan of --plan-mb megabytes, and:

  1. measures POST /runtask latency on an idle server (baseline);
  2. sends --big deliveries that download and scan the big plan, and while
     they run sends --requests signed requests (half verification requests,
     half real deliveries of a small plan, which are stored before the 200)
     from --concurrency client threads on keep-alive connections;
  3. reports p50/p90/p99/max of the acknowledgement latency for each phase,
     the scan time of the big plans (first byte requested -> final callback)
     and the server's peak resident memory.

Timings are measured, never asserted. Python standard library only.

  python3 bench/ack_latency.py --bin build/imagegate [--plan-mb 100] [--big 2]
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from fake_tfc import FakeTFC  # noqa: E402
from igtest import Daemon, make_certs, sign, KEY_NEW, KEY_OLD, TOKEN  # noqa: E402

AMIS = ["ami-0d4c3b2a1f0e9d8c7", "ami-0a1b2c3d4e5f60718", "ami-0c9d8e7f6a5b40312",
        "ami-0b3c20f2fd2b1e282", "ami-1f2e3d4c5b6a79800"]


def gen_plan(path, target_bytes):
    """A plan with aws_instance creates until target_bytes, padded with tags
    and user data the way real plans are (values, before/after, sensitivity)."""
    pad = "x" * 2000
    with open(path, "w") as f:
        f.write('{"format_version":"1.2","terraform_version":"1.11.4","resource_changes":[')
        i = 0
        first = True
        while f.tell() < target_bytes - 4096:
            ami = AMIS[i % len(AMIS)]
            rc = {"address": "aws_instance.n%d" % i, "mode": "managed", "type": "aws_instance",
                  "name": "n%d" % i, "provider_name": "registry.terraform.io/hashicorp/aws",
                  "change": {"actions": ["create"], "before": None,
                             "after": {"ami": ami, "instance_type": "t3.micro",
                                       "tags": {"Name": "n%d" % i, "Padding": pad},
                                       "user_data": None},
                             "after_unknown": {"id": True, "arn": True},
                             "before_sensitive": False, "after_sensitive": {"tags": {}}}}
            f.write(("" if first else ",") + json.dumps(rc, separators=(",", ":")))
            first = False
            i += 1
        f.write('],"configuration":{"root_module":{"resources":[{"address":"aws_instance.n",'
                '"mode":"managed","type":"aws_instance","name":"n","expressions":{"ami":'
                '{"references":["var.ami"]}}}],"variables":{"ami":{}}}}}')
    return i


def prepare(tmp, binary, fixtures, db=None):
    """The test CA and leaf, the HMAC keys and the fixtures registry in tmp (or in db):
    returns (ca, cert, key, db)."""
    ca, cert, key = make_certs(tmp)
    with open(os.path.join(tmp, "hmac.keys"), "w") as f:
        f.write(KEY_OLD + "\n" + KEY_NEW + "\n")
    os.chmod(os.path.join(tmp, "hmac.keys"), 0o600)
    db = db or "sqlite:" + os.path.join(tmp, "registry.db")
    subprocess.run(["sh", os.path.join(fixtures, "setup-registry.sh"), binary, db], check=True,
                   stdout=subprocess.DEVNULL)
    return ca, cert, key, db


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def summary(name, xs):
    ms = [x * 1000 for x in xs]
    return ("%-38s n=%5d  p50=%7.2f ms  p90=%7.2f ms  p99=%7.2f ms  max=%7.2f ms"
            % (name, len(ms), pct(ms, 50), pct(ms, 90), pct(ms, 99), max(ms) if ms else 0))


class Client:
    def __init__(self, port, ctx):
        self.port, self.ctx = port, ctx
        self.conn = None

    def post(self, body, sig):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                        timeout=30)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                t0 = time.perf_counter()
                self.conn.request("POST", "/runtask", body,
                                  {"Content-Type": "application/json",
                                   "X-TFC-Task-Signature": sig})
                r = self.conn.getresponse()
                r.read()
                return r.status, time.perf_counter() - t0
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
        raise RuntimeError("request failed twice")


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "imagegate"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "tests", "fixtures"))
    ap.add_argument("--plan-mb", type=int, default=100)
    ap.add_argument("--big", type=int, default=2, help="big-plan deliveries scanned meanwhile")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ig-bench-")
    ca, cert, key, db = prepare(tmp, a.bin, a.fixtures)
    plan_path = os.path.join(tmp, "big.plan.json")
    t0 = time.time()
    n = gen_plan(plan_path, a.plan_mb * 1024 * 1024)
    size = os.path.getsize(plan_path)
    print("generated %s: %d resources, %.1f MB in %.1fs" % (plan_path, n, size / 1e6,
                                                           time.time() - t0))

    fake = FakeTFC(cert, key, TOKEN).start()
    with open(plan_path, "rb") as f:
        fake.plans["big"] = f.read()
    with open(os.path.join(a.fixtures, "plans", "clean.plan.json"), "rb") as f:
        fake.plans["clean"] = f.read()
    d = Daemon(tmp, "bench", db, fake, ca, cert, key,
               extra=["--workers", str(a.workers), "--log-level", "info",
                      "--running-after", "5s"], binary=a.bin).start()
    ctx = ssl.create_default_context(cafile=ca)
    with open(os.path.join(a.fixtures, "runtask", "post_plan.json")) as f:
        base = json.load(f)
    with open(os.path.join(a.fixtures, "runtask", "verification.json"), "rb") as f:
        verification = f.read()
    counter = [0]
    lock = threading.Lock()

    def real_body(plan):
        with lock:
            counter[0] += 1
            trid = "taskrs-bench%06d" % counter[0]
        p = dict(base)
        p["task_result_id"] = trid
        p["plan_json_api_url"] = fake.plan_url(plan)
        p["task_result_callback_url"] = fake.callback_url(trid)
        return trid, json.dumps(p).encode()

    def load(nreq, conc):
        lat, errors = [], []
        per = [nreq // conc + (1 if i < nreq % conc else 0) for i in range(conc)]

        def worker(k):
            c = Client(d.port, ctx)
            for j in range(k):
                if j % 2 == 0:
                    body = verification
                else:
                    _, body = real_body("clean")
                status, secs = c.post(body, sign(body))
                with lock:
                    if status != 200:
                        errors.append(status)
                    lat.append(secs)
        ts = [threading.Thread(target=worker, args=(k,)) for k in per]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return lat, errors

    try:
        idle, err_idle = load(min(400, a.requests), min(10, a.concurrency))
        print(summary("idle server", idle), "errors=%d" % len(err_idle))

        big = []
        c = Client(d.port, ctx)
        t_big = time.time()
        for _ in range(a.big):
            trid, body = real_body("big")
            status, _ = c.post(body, sign(body))
            assert status == 200, status
            big.append(trid)
        time.sleep(0.5)  # downloads and scans under way
        busy, err_busy = load(a.requests, a.concurrency)
        t_load_end = time.time()
        scanning_at_end = [t for t in big if not fake.finals(t)]
        print(summary("while scanning %dx%d MB" % (a.big, a.plan_mb), busy),
              "errors=%d" % len(err_busy))
        print("load phase took %.1fs; big plans still scanning when it ended: %d of %d"
              % (t_load_end - t_big, len(scanning_at_end), a.big))
        for trid in big:
            doc = fake.wait_final(trid, timeout=1800)
            r = fake.finals(trid)[-1][0]
            print("big plan %s: %s after %.1fs (%s)" % (
                trid, doc["data"]["attributes"]["status"], r["time"] - t_big,
                doc["data"]["attributes"]["message"][:90]))
        server = [float(l.rsplit("ack_ms=", 1)[1].split()[0]) / 1000
                   for l in d.log().splitlines()
                   if "ack_ms=" in l and ("event=runtask_ack" in l or "runtask_verification" in l)]
        n_idle = len(idle) + 0
        print(summary("server-side, idle", server[:n_idle]))
        print(summary("server-side, while scanning", server[n_idle + a.big:]))
        print("server peak RSS: %.1f MB" % (rss_kb(d.proc.pid) / 1024.0))
        status, body, _ = d.request("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(("imagegate_runtask_ack_seconds_count",
                                "imagegate_runtask_ack_seconds_sum",
                                "imagegate_scan_seconds_sum", "imagegate_scan_bytes_total")):
                print("  " + line)
    finally:
        d.stop()
        fake.stop()
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
