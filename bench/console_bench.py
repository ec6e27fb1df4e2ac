#!/usr/bin/env python3
"""The API calls behind the console's views, at the issue's size.

Builds a registry of --buckets buckets x --versions versions x --regions
regions (200 x 25 x 8 = 5 000 versions, 40 000 artifacts by default) through
the real API of a real `imagegate serve` on a temporary SQLite store: every
bucket's builds are made from bucket-000's images (a golden base, so
ancestry and inheritance have work to do), each bucket has a production
channel moved three times and a staging channel, v1 revoked and v2 scheduled.
With GET /v1/runs on the server, --scans POST /v1/scan calls with a workspace
make runs. Then it measures every call a console view makes, with the page
size the console asks for (25 buckets, 25 versions; the API's default 100
elsewhere):

  bucket list     GET BASE/buckets?pagination.page_size=25    (the bucket list)
  bucket list 100 GET BASE/buckets (the API's default page, for comparison)
  version list    GET BASE/buckets/B/versions?pagination.page_size=25   (a bucket)
  version         GET BASE/buckets/B/versions/vN        (a version)
  channel history GET BASE/buckets/B/channels/production/history
  runs            GET /v1/runs                          (runs)
  audit           GET /v1/audit?order=newest            (the audit trail)

two ways:

- the server's CPU per call: one client, 200 calls of each kind, the
  server process's user + system time (/proc) divided by the calls. It does
  not depend on what else the machine runs, and is the figure to plan with;
- latency under load: --clients closed-loop clients (10), --requests rounds
  of every call each in random order, on keep-alive connections. The load
  comes from bench/console_load (C, a blocking thread per client, a few
  microseconds of CPU per call; build/bench/console_load): a Python client of 10
  threads or processes took enough of the two cores it shares with the
  server to move the figures. It prints p50 / p90 / p99 / max per call as
  the clients saw them, the server's own duration_ms from its log (from the
  request's arrival at the handler, waiting for a store worker included, to
  the reply), the load generator's CPU share, and the load average before
  and after, since client and server share the machine's cores.

Plain HTTP on 127.0.0.1 (--insecure-http): the figures are the server's, not
TLS's. Timings are measured, never asserted. --pin CPUS runs the server with
that CPU affinity (taskset syntax, e.g. 0-1) and --load-cpus the load
generator's; by default neither is pinned.

  python3 bench/console_bench.py --bin build/imagegate [--buckets 200] [--clients 10]
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import subprocess
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
    print("server CPU per call (one client, %d calls each; load average %.2f):"
          % (n, os.getloadavg()[0]))
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
    """10 closed-loop clients of bench/console_load on the call mix."""
    tmp = tempfile.mkdtemp(prefix="ig-console-load-")
    calls_path, tokens_path = os.path.join(tmp, "calls"), os.path.join(tmp, "tokens")
    with open(tokens_path, "w") as f:
        os.chmod(tokens_path, 0o600)
        f.writelines("%s\t%s\n" % rt for rt in tokens.items())
    with open(calls_path, "w") as f:
        for c in range(a.clients):
            f.writelines("%d\t%s\t%s\t%s\n" % (c, name, role, path)
                         for name, path, role in calls(a, with_runs, False))
    argv = [a.load, str(port), calls_path, tokens_path]
    if a.load_cpus:
        argv = ["taskset", "-c", a.load_cpus] + argv
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    print("load average after:  %.2f %.2f %.2f" % os.getloadavg())
    shutil.rmtree(tmp, ignore_errors=True)
    rows = [line.split("\t") for line in out.splitlines()]
    total = next(r for r in rows if r[0] == "total")
    n, wall, cpu = int(total[1]), float(total[2]), float(total[3])
    print("%d clients, %d calls in %.1f s (%.0f calls/s); the load generator used %.2f s of "
          "CPU (%.1f %% of one core)" % (a.clients, n, wall, n / wall, cpu, 100 * cpu / wall))
    print("%-16s %6s %8s %8s %8s %8s" % ("call", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"))
    by = {r[1]: r[2:] for r in rows if r[0] == "call"}
    for name in ("bucket list", "version list", "version", "channel history", "runs", "audit"):
        r = by.get(name)
        if not r:
            print("%-16s  (not served by this imagegate)" % name)
            continue
        print("%-16s %6s %8s %8s %8s %8s" % (name, r[0], r[1], r[2], r[3], r[4]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "imagegate"))
    ap.add_argument("--buckets", type=int, default=200)
    ap.add_argument("--versions", type=int, default=25)
    ap.add_argument("--regions", type=int, default=8)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--requests", type=int, default=100, help="rounds of calls per client")
    ap.add_argument("--scans", type=int, default=500)
    ap.add_argument("--store-workers", type=int, default=0,
                    help="--store-workers of the server (0: its default)")
    ap.add_argument("--load", default=os.path.join(ROOT, "build", "bench", "console_load"),
                    help="the load generator (bench/console_load.c)")
    ap.add_argument("--pin", default="", help="CPUs for the server (taskset -c syntax)")
    ap.add_argument("--load-cpus", default="", help="CPUs for the load generator")
    ap.add_argument("--keep", action="store_true", help="keep the store (its path is printed)")
    ap.add_argument("--reuse", default="",
                    help="measure a copy of a store --keep kept (built with the same sizes) "
                         "instead of building one")
    ap.add_argument("--rounds", type=int, default=1, help="latency runs, one after the other")
    a = ap.parse_args()
    igtest.BIN = a.bin
    sys.stdout.reconfigure(line_buffering=True)
    tmp = tempfile.mkdtemp(prefix="ig-console-bench-")
    db = "sqlite:" + os.path.join(tmp, "registry.db")
    with open(os.path.join(tmp, "hmac.keys"), "w") as f:
        f.write(igtest.KEY_NEW + "\n")
    if a.reuse:
        shutil.copy(a.reuse.removeprefix("sqlite:"), os.path.join(tmp, "registry.db"))
    extra = ["--log-level", "info"]
    if a.store_workers:
        extra += ["--store-workers", str(a.store_workers)]
    d = igtest.Daemon(tmp, "serve", db, None, None, None, None, tls=False, extra=extra)
    if a.pin:
        d.args = ["taskset", "-c", a.pin] + d.args
    d.start()  # makes the store
    try:
        tokens = {}
        for role in ("read", "write", "admin"):
            r = igtest.run("--db", db, "--json", "token", "create", "--name",
                           "bench-%s-%d" % (role, os.getpid()), "--role", role)
            tokens[role] = r.json()["secret"]
        if not a.reuse:
            took = build_registry(d.port, tokens, a)
            print("built %d buckets x %d versions x %d regions through the API in %.1f s" % (
                a.buckets, a.versions, a.regions, took))
        with_runs = make_runs(d.port, tokens, 0 if a.reuse else a.scans)
        cpu_per_call(d.proc.pid, d.port, tokens, a, with_runs)
        for _ in range(a.rounds):
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
