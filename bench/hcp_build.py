#!/usr/bin/env python3
"""What one `packer build` with an hcp_packer_registry block costs imagegate's server.

Replays, in order and with the bodies Packer sends through hcp-sdk-go (docs/hcp-compatibility.md;
no HashiCorp code here), the registry calls of one Packer build of a template with --builds
sources: an OAuth2 token, discovery (organizations, then projects), GetBucket (404 code 5 on the
first build, then found and UpdateBucket), GetVersion (409 code 10), CreateVersion, ListBuilds,
CreateBuild per source (concurrently, as Packer does), GetEnforcedBlocksByBucket, and per build
UpdateBuild RUNNING, one heartbeat, UpdateBuild DONE with two artifacts, then UpdateChannel for
its channel. Every build is a new version of the same bucket. The real `imagegate serve` (TLS) runs
on a temporary SQLite store, or on a throwaway PostgreSQL server (--pg, tests/integration/
pgserver.py).

It reports, per operation and for one whole build, the server-side time (the duration_ms of each
call's log line: from the request's arrival to its reply, store work included) and the client's
wall time on a keep-alive connection. Measured, never asserted. Python standard library only.

  python3 bench/hcp_build.py --bin build/imagegate [--builds 2] [--runs 20] [--pg]
"""

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from igtest import Daemon, make_certs  # noqa: E402

LINE = re.compile(r"event=(api|oauth_token) (?:op=(\S+) )?.*duration_ms=([0-9.]+)")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))] if xs else 0.0


class Conn:
    """One keep-alive HTTPS connection per thread, as Go's transport keeps them."""

    def __init__(self, port, ctx):
        self.port, self.ctx, self.c = port, ctx, None

    def req(self, method, path, body=None, headers=None):
        if self.c is None:
            self.c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                 timeout=30)
        self.c.request(method, path, body, headers or {})
        r = self.c.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None


class PackerBuild:
    def __init__(self, port, ctx, client, secret, n_builds):
        self.port, self.ctx, self.n = port, ctx, n_builds
        self.basic = base64.b64encode(("%s:%s" % (client, secret)).encode()).decode()
        self.conn = Conn(port, ctx)

    def api(self, method, path, body=None, want=(200,), conn=None):
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body) + "\n"
            h["Content-Type"] = "application/json"
        st, out = (conn or self.conn).req(method, path, data, h)
        if st not in want:
            raise RuntimeError("%s %s -> %s %s" % (method, path, st, out))
        return out

    def discover(self):
        st, tok = self.conn.req("POST", "/oauth2/token",
                                "audience=https%3A%2F%2Fapi.hashicorp.cloud"
                                "&grant_type=client_credentials",
                                {"Authorization": "Basic " + self.basic,
                                 "Content-Type": "application/x-www-form-urlencoded"})
        assert st == 200, tok
        self.token = tok["access_token"]
        org = self.api("GET", "/resource-manager/2019-12-10/organizations")["organizations"][0]
        proj = self.api("GET", "/resource-manager/2019-12-10/projects?scope.id=%s"
                        "&scope.type=ORGANIZATION" % org["id"])["projects"][0]
        self.base = "/packer/2023-01-01/organizations/%s/projects/%s" % (org["id"], proj["id"])

    def one_build(self, bucket, fp, run):
        b = self.base + "/buckets/" + bucket
        got = self.api("GET", b, want=(200, 404))
        if "code" in got:
            self.api("PUT", self.base + "/buckets", {"name": bucket, "description": "bench",
                                                     "labels": {"team": "platform"}})
            # made once by a user, as the channel a template's channels = [...] names
            self.api("POST", b + "/channels", {"name": "production"})
        else:
            self.api("PATCH", b, {"description": "bench", "labels": {"team": "platform", "r": run},
                                  "platforms": None})
        self.api("GET", b + "/versions/" + fp, want=(409,))
        self.api("POST", b + "/versions", {"fingerprint": fp, "template_type": "HCL2"})
        self.api("GET", b + "/versions/%s/builds" % fp)
        ids = [None] * self.n

        def create(i):
            c = Conn(self.port, self.ctx)
            ids[i] = self.api("POST", b + "/versions/%s/builds" % fp,
                              {"artifacts": None, "component_type": "amazon-ebs.s%d" % i,
                               "packer_run_uuid": "4c8bd4c4-1c43-4e2b-9d6e-3c8b1b2a0f11",
                               "status": "BUILD_UNSET"}, conn=c)["build"]["id"]
        ts = [threading.Thread(target=create, args=(i,)) for i in range(self.n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.api("GET", self.base + "/enforced_blocks/bucket/" + bucket)
        for i, bid in enumerate(ids):
            p = b + "/versions/%s/builds/%s" % (fp, bid)
            for _ in range(2):  # start, one heartbeat
                self.api("PATCH", p, {"artifacts": None, "packer_run_uuid": "x",
                                      "status": "BUILD_RUNNING"})
            self.api("PATCH", p, {
                "artifacts": [{"external_identifier": "ami-%s%02d%d" % (fp[-8:].lower(), i, k),
                               "region": r} for k, r in enumerate(("us-east-1", "eu-west-1"))],
                "labels": {"os": "ubuntu"}, "platform": "aws", "status": "BUILD_DONE",
                "metadata": {"packer": {"version": "1.16.0", "plugins": None}, "vcs": None,
                             "cicd": None}})
            self.api("PATCH", b + "/channels/production",
                     {"update_mask": "versionFingerprint", "version_fingerprint": fp},
                     want=(200, 404, 409))


def log_ops(path, start):
    """(op, ms) of every call logged after byte offset start."""
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    out = []
    for line in text.splitlines():
        m = LINE.search(line)
        if m:
            out.append((m.group(2) or "oauth.token", float(m.group(3))))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "imagegate"))
    ap.add_argument("--builds", type=int, default=2, help="sources in the template")
    ap.add_argument("--runs", type=int, default=20, help="packer builds, one after the other")
    ap.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL server")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ig-hcp-bench-")
    pg = None
    try:
        ca, cert, key = make_certs(tmp)
        with open(os.path.join(tmp, "hmac.keys"), "w") as f:
            f.write("bench-hmac-key\n")
        os.chmod(os.path.join(tmp, "hmac.keys"), 0o600)
        if a.pg:
            import pgserver
            pg = pgserver.PgServer().start()
            db = pg.create_database("hcp_bench")
        else:
            db = "sqlite:" + os.path.join(tmp, "bench.db")
        d = Daemon(tmp, "bench", db, None, ca, cert, key, extra=("--log-level", "info"),
                   binary=a.bin)
        d.start()
        p = subprocess.run([a.bin, "--db", db, "token", "create", "--name", "packer", "--role",
                            "admin", "--json"], capture_output=True, text=True, check=True)
        secret = json.loads(p.stdout)["secret"]
        ctx = ssl.create_default_context(cafile=ca)
        per_build, walls = [], []
        for run in range(a.runs):
            pb = PackerBuild(d.port, ctx, "packer", secret, a.builds)
            start = os.path.getsize(d.log_path)
            t0 = time.perf_counter()
            pb.discover()
            pb.one_build("bench-app", "01BENCH%08d" % run, str(run))
            walls.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.2)  # the last log line is written after the reply
            per_build.append(log_ops(d.log_path, start))
        d.stop()
        report(a, per_build, walls)
    finally:
        if pg:
            pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def report(a, per_build, walls):
    ops = {}
    for build in per_build[1:]:  # the first build creates the bucket: reported apart
        for op, ms in build:
            ops.setdefault(op, []).append(ms)
    print("store: %s; %d sources per build; %d builds (the first creates the bucket)"
          % ("PostgreSQL" if a.pg else "SQLite", a.builds, a.runs))
    print("%-24s %6s %8s %8s %8s" % ("operation", "calls", "p50 ms", "p90 ms", "max ms"))
    for op in sorted(ops, key=lambda o: -sum(ops[o])):
        xs = ops[op]
        print("%-24s %6.1f %8.2f %8.2f %8.2f" % (op, len(xs) / (len(per_build) - 1),
                                                 pct(xs, 50), pct(xs, 90), max(xs)))
    totals = [sum(ms for _, ms in b) for b in per_build]
    calls = [len(b) for b in per_build]
    print("one build: %d calls; server time p50 %.1f ms, max %.1f ms (first build %.1f ms);"
          " client wall p50 %.1f ms" % (pct(calls[1:], 50), pct(totals[1:], 50),
                                         max(totals[1:]), totals[0], pct(walls[1:], 50)))


if __name__ == "__main__":
    main()
