#!/usr/bin/env python3
"""The API calls behind the console's views, at the issue's size.

Builds a registry of --buckets buckets x --versions versions x --regions
regions (200 x 25 x 8 = 5 000 versions, 40 000 artifacts by default) through
the real API of a real `imagegate serve` on a temporary SQLite store: every
bucket's builds are made from bucket-000's images (a golden base, so
ancestry and inheritance have work to do), each bucket has a production
channel moved three times and a staging channel, v1 revoked and v2 scheduled.
With GET /v1/runs on the server, --scans POST /v1/scan calls with a workspace
make runs. Then --clients client processes (10) on keep-alive connections
call, --requests times each, every call a console view makes, with the page
size the console asks for (25 buckets, 25 versions; the API's default 100
elsewhere):

  bucket list     GET BASE/buckets?pagination.page_size=25    (the bucket list)
  bucket list 100 GET BASE/buckets (the API's default page, for comparison)
  version list    GET BASE/buckets/B/versions?pagination.page_size=25   (a bucket)
  version         GET BASE/buckets/B/versions/vN        (a version)
  channel history GET BASE/buckets/B/channels/production/history
  runs            GET /v1/runs                          (runs)
  audit           GET /v1/audit?order=newest            (the audit trail)

and prints p50 / p90 / p99 / max per call as the clients saw them, and as the
server logged them (duration_ms: from the request's arrival at the handler,
waiting for a store worker included, to the reply). Plain
HTTP on 127.0.0.1 (--insecure-http): the figures are the server's, not TLS's.
Timings are measured, never asserted. Python standard library only.

  python3 bench/console_bench.py --bin build/imagegate [--buckets 200] [--clients 10]
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import igtest  # noqa: E402  the one daemon harness

BASE = "/packer/2023-01-01/organizations/bench/projects/bench"
REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1",
           "ap-south-1", "ap-northeast-1", "sa-east-1", "ca-central-1"]


class Conn:
    """One keep-alive connection with a bearer token."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.c.request(method, path, body=data,
                       headers={"Authorization": "Bearer " + self.token,
                                "Content-Type": "application/json"})
        r = self.c.getresponse()
        raw = r.read()
        if r.status != 200:
            raise RuntimeError("%s %s: %d %s" % (method, path, r.status, raw[:300]))
        return json.loads(raw) if raw else {}


def bname(i):
    return "bucket-%03d" % i


def ami(b, v, r):
    return "ami-0%04x%04x%02x%04x" % (b, v, r, 0)


def publish(c, b, v, regions):
    """One complete version: a build with an artifact per region, made from
    bucket-000's image of the same number."""
    fp = "%s-fp-%02d" % (bname(b), v)
    c.call("POST", "%s/buckets/%s/versions" % (BASE, bname(b)), {"fingerprint": fp})
    build = {"component_type": "amazon-ebs.base", "platform": "aws", "status": "BUILD_DONE",
             "packer_run_uuid": "run-%d-%d" % (b, v), "labels": {"os": "ubuntu-24.04"},
             "artifacts": [{"external_identifier": ami(b, v, r), "region": REGIONS[r]}
                           for r in range(regions)]}
    if b:
        build["source_external_identifier"] = ami(0, v, 0)
    c.call("POST", "%s/buckets/%s/versions/%s/builds" % (BASE, bname(b), fp), build)


def build_registry(port, tokens, a):
    w, adm = Conn(port, tokens["write"]), Conn(port, tokens["admin"])
    t0 = time.monotonic()
    for b in range(a.buckets):
        w.call("PUT", BASE + "/buckets", {"name": bname(b), "description": "bench bucket %d" % b,
                                           "labels": {"team": "t%d" % (b % 7)}})
        for v in range(1, a.versions + 1):
            publish(w, b, v, a.regions)
        for v in (a.versions - 5, a.versions - 3, a.versions - 1):
            w.call("POST", "%s/buckets/%s/channels/assign" % (BASE, bname(b)),
                   {"target_channel": "production", "version_fingerprint": "v%d" % v})
        w.call("POST", "%s/buckets/%s/channels/assign" % (BASE, bname(b)),
               {"target_channel": "staging", "version_fingerprint": "v%d" % a.versions})
        path = "%s/buckets/%s/versions/" % (BASE, bname(b))
        adm.call("PATCH", path + "v1", {"revoke_in": "0s", "revocation_message": "bench",
                                        "skip_descendants_revocation": True})
        adm.call("PATCH", path + "v2", {"revoke_in": "30d", "revocation_message": "bench",
                                        "skip_descendants_revocation": True})
    return time.monotonic() - t0


def make_runs(port, tokens, n):
    """POST /v1/scan with a workspace records a run (where the server has runs)."""
    r = Conn(port, tokens["read"])
    try:
        r.call("GET", "/v1/runs")
    except RuntimeError:
        return False
    with open(os.path.join(igtest.FIXTURES, "plans", "hardcoded-literal.plan.json"), "rb") as f:
        plan = f.read()
    for i in range(n):
        r.c.request("POST", "/v1/scan?format=json&organization=bench&workspace=ws-%d" % (i % 50),
                    body=plan, headers={"Authorization": "Bearer " + r.token})
        resp = r.c.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError("scan: %d" % resp.status)
    return True


def calls(a, with_runs, api_default=True):
    """(name, path, token role) of each measured call, with random targets;
    api_default: also the bucket list at the API's default page (not a call
    the console makes)."""
    out = []
    for _ in range(a.requests):
        b = bname(random.randrange(a.buckets))
        v = random.randrange(1, a.versions + 1)
        out += [("bucket list", BASE + "/buckets?pagination.page_size=25", "read")]
        if api_default:
            out.append(("bucket list 100", BASE + "/buckets", "read"))
        out += [("version list", "%s/buckets/%s/versions?pagination.page_size=25" % (BASE, b),
                 "read"),
                ("version", "%s/buckets/%s/versions/v%d" % (BASE, b, v), "read"),
                ("channel history", "%s/buckets/%s/channels/production/history" % (BASE, b),
                 "read"),
                ("audit", "/v1/audit?order=newest", "admin")]
        if with_runs:
            out.append(("runs", "/v1/runs", "read"))
    random.shuffle(out)
    return out


def client(port, tokens, todo, out):
    conns = {role: Conn(port, tok) for role, tok in tokens.items()}
    res = []
    for name, path, role in todo:
        t = time.perf_counter()
        conns[role].call("GET", path)
        res.append((name, (time.perf_counter() - t) * 1000))
    out.put(res)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def server_side(log_path, skip):
    """duration_ms of each API op the server logged after the first skip bytes."""
    by = {}
    with open(log_path, "rb") as f:
        f.seek(skip)
        for line in f.read().decode(errors="replace").splitlines():
            m = re.search(r"event=api op=(\S+) method=GET status=200 .*duration_ms=([0-9.]+)", line)
            if m:
                by.setdefault(m.group(1), []).append(float(m.group(2)))
    print("server side (log):")
    for op, xs in sorted(by.items()):
        print("  %-16s %6d %8.1f %8.1f %8.1f %8.1f" % (op, len(xs), pct(xs, 50), pct(xs, 90),
                                                       pct(xs, 99), max(xs)))


def cpu_ms(pid):
    """The process's user + system CPU time so far, in ms."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def cpu_per_call(pid, port, tokens, a, with_runs, n=200):
    """The server's CPU per call of each kind, one client, n calls: unlike
    latency, it does not depend on what else the machine is running."""
    todo = calls(argparse.Namespace(requests=n, buckets=a.buckets, versions=a.versions),
                 with_runs)
    conns = {role: Conn(port, tok) for role, tok in tokens.items()}
    print("server CPU per call (one client, %d calls each):" % n)
    for name in ("bucket list", "bucket list 100", "version list", "version", "channel history",
                 "runs", "audit"):
        mine = [(p, role) for nm, p, role in todo if nm == name]
        if not mine:
            continue
        t0, c0 = time.perf_counter(), cpu_ms(pid)
        for path, role in mine:
            conns[role].call("GET", path)
        wall = (time.perf_counter() - t0) * 1000 / len(mine)
        print("  %-16s %6.2f ms CPU, %6.2f ms wall" % (name, (cpu_ms(pid) - c0) / len(mine), wall))


def measure(port, tokens, a, with_runs):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client,
                                     args=(port, tokens, calls(a, with_runs, False), q))
             for _ in range(a.clients)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    res = [x for _ in procs for x in q.get()]
    for p in procs:
        p.join()
    wall = time.monotonic() - t0
    by = {}
    for name, ms in res:
        by.setdefault(name, []).append(ms)
    print("%d clients, %d calls in %.1f s (%.0f calls/s)" % (a.clients, len(res), wall,
                                                            len(res) / wall))
    print("%-16s %6s %8s %8s %8s %8s" % ("call", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"))
    for name in ("bucket list", "version list", "version", "channel history", "runs", "audit"):
        xs = by.get(name)
        if not xs:
            print("%-16s  (not served by this imagegate)" % name)
            continue
        print("%-16s %6d %8.1f %8.1f %8.1f %8.1f" % (name, len(xs), pct(xs, 50), pct(xs, 90),
                                                     pct(xs, 99), max(xs)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "imagegate"))
    ap.add_argument("--buckets", type=int, default=200)
    ap.add_argument("--versions", type=int, default=25)
    ap.add_argument("--regions", type=int, default=8)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--requests", type=int, default=100, help="rounds of calls per client")
    ap.add_argument("--scans", type=int, default=500)
    ap.add_argument("--store-workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the store (its path is printed)")
    a = ap.parse_args()
    igtest.BIN = a.bin
    sys.stdout.reconfigure(line_buffering=True)
    tmp = tempfile.mkdtemp(prefix="ig-console-bench-")
    db = "sqlite:" + os.path.join(tmp, "registry.db")
    with open(os.path.join(tmp, "hmac.keys"), "w") as f:
        f.write(igtest.KEY_NEW + "\n")
    d = igtest.Daemon(tmp, "serve", db, None, None, None, None, tls=False,
                      extra=["--store-workers", str(a.store_workers), "--log-level", "info"])
    d.start()  # makes the store
    try:
        tokens = {}
        for role in ("read", "write", "admin"):
            r = igtest.run("--db", db, "--json", "token", "create", "--name", "bench-" + role,
                           "--role", role)
            tokens[role] = r.json()["secret"]
        took = build_registry(d.port, tokens, a)
        print("built %d buckets x %d versions x %d regions through the API in %.1f s" % (
            a.buckets, a.versions, a.regions, took))
        with_runs = make_runs(d.port, tokens, a.scans)
        cpu_per_call(d.proc.pid, d.port, tokens, a, with_runs)
        skip = os.path.getsize(d.log_path)
        measure(d.port, tokens, a, with_runs)
        server_side(d.log_path, skip)
    finally:
        d.stop()
        if a.keep:
            print("store kept: sqlite:%s" % os.path.join(tmp, "registry.db"))
        else:
            shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
