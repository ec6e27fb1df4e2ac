#!/usr/bin/env python3
"""Run-task latency with usage recording on and off (issue 15).

Starts the real `imagegate serve` (TLS, a temporary store built with
tests/fixtures/setup-registry.sh; SQLite, or PostgreSQL with --pg under
tests/integration/pgserver.py) and the fake HCP Terraform of the integration
tests, then, for each plan and each mode -- `--usage-retention 90d` (on, the
default) and `--usage-retention 0s` (off) -- sends --deliveries post_plan
deliveries one at a time (each waits until the previous one is finished, its
usage recorded; the same workspace each time, as a workspace planned daily: the
first inserts its usage rows, the rest update them). Modes alternate
round by round (--rounds) so that the shared machine's noise falls on both.

Per delivery it measures, on the fake's clock:
  - plan -> callback: the plan requested from HCP Terraform (the archivist GET)
    to the final callback received -- "plan received to callback sent";
  - request -> callback: the run-task request sent to the final callback;
and from the server's log line (event=delivery): duration_ms (the delivery's
whole work, callback and recording included) and usage_ms (the recording:
run row and usage rows, written after the final callback).

With --ack-rate N, a client sends N signed run-task requests a second
meanwhile (deliveries of the clean plan, each stored before its 200, so each
needs the store's write lock, which SQLite has one of) and reports their
acknowledgement latency per mode: what recording a big plan's usage does to
the acknowledgements that arrive while it is written.

Timings are measured, never asserted. Python standard library only.

  python3 bench/usage_latency.py --bin build/imagegate [--plans clean,scale,20]
  python3 tests/integration/pgserver.py run -- python3 bench/usage_latency.py --pg
"""

import argparse
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from ack_latency import gen_plan, pct, prepare  # noqa: E402
from fake_tfc import FakeTFC  # noqa: E402
import pgserver  # noqa: E402
from igtest import Daemon, sign, TOKEN  # noqa: E402


def load_plans(a, tmp):
    """name -> (bytes, gated resources): fixture names, or a number of MB to generate."""
    plans = {}
    for name in a.plans.split(","):
        if name.isdigit():
            path = os.path.join(tmp, "gen%s.plan.json" % name)
            n = gen_plan(path, int(name) * 1024 * 1024)
            label = "generated %s MB (%d instances)" % (name, n)
        else:
            path = os.path.join(a.fixtures, "plans", name + ".plan.json")
            with open(path) as f:
                n = sum(1 for rc in json.load(f)["resource_changes"])
            label = "%s (%d resources)" % (name, n)
        with open(path, "rb") as f:
            plans[label] = f.read()
    return plans


def deliver(d, fake, base, pid, i):
    """One delivery of plan pid; returns (plan->callback, request->callback) in seconds."""
    trid = "taskrs-bench%06d" % i
    p = dict(base)
    p.update({"task_result_id": trid, "run_id": "run-bench%06d" % i,
              "workspace_name": "bench-" + pid, "plan_json_api_url": fake.plan_url(pid),
              "task_result_callback_url": fake.callback_url(trid)})
    body = json.dumps(p).encode()
    with fake.lock:
        first = len(fake.requests)
    t0 = time.time()
    code, _, _ = d.request("POST", "/runtask", body, {"X-TFC-Task-Signature": sign(body),
                                                      "Content-Type": "application/json"})
    assert code == 200, code
    doc = fake.wait_final(trid, timeout=600)
    assert doc is not None, "no callback for " + trid
    t_cb = fake.finals(trid)[-1][0]["time"]
    with fake.lock:
        gets = [r["time"] for r in fake.requests[first:]
                if r["method"] == "GET" and r["path"].startswith("/archivist/plans/%s?" % pid)]
    # one at a time: the next delivery waits until this one is finished (recorded)
    deadline = time.time() + 60
    while time.time() < deadline and trid not in server_times(d, {trid}):
        time.sleep(0.01)
    return t_cb - gets[-1], t_cb - t0


def server_times(d, trids):
    """{trid: (duration_ms, usage_ms)} from the daemon's log."""
    out = {}
    for line in d.log().splitlines():
        if "event=delivery " not in line:
            continue
        m = re.search(r"task_result_id=(\S+).*duration_ms=(\d+) usage_ms=(-?[\d.]+)", line)
        if m and m.group(1) in trids:
            out[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return out


class Acker:
    """Signed run-task requests at a steady rate on one keep-alive connection, in a thread;
    keeps each acknowledgement's round trip (seconds)."""

    def __init__(self, d, fake, base, rate):
        self.d, self.fake, self.base, self.rate = d, fake, base, rate
        self.lat, self.errors, self.stop = [], 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        c = http.client.HTTPSConnection("127.0.0.1", self.d.port, context=self.d.ctx,
                                        timeout=30)
        i = 0
        while not self.stop.is_set():
            i += 1
            trid = "taskrs-ack%d%08d" % (self.d.port, i)
            p = dict(self.base)
            p.update({"task_result_id": trid, "workspace_name": "acks",
                      "plan_json_api_url": self.fake.plan_url("clean"),
                      "task_result_callback_url": self.fake.callback_url(trid)})
            body = json.dumps(p).encode()
            t0 = time.perf_counter()
            c.request("POST", "/runtask", body, {"X-TFC-Task-Signature": sign(body),
                                                 "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            self.lat.append(time.perf_counter() - t0)
            self.errors += r.status != 200
            self.stop.wait(1.0 / self.rate)
        c.close()


def run_mode(a, tmp, db, fake, ca, cert, key, mode, plans, base, counter, results):
    retention = "90d" if mode == "on" else "0s"
    d = Daemon(tmp, "bench-" + mode, db, fake, ca, cert, key,
               extra=["--workers", "2", "--log-level", "info", "--running-after", "60s",
                      "--usage-retention", retention], binary=a.bin).start()
    acker = Acker(d, fake, base, a.ack_rate) if a.ack_rate > 0 else None
    if acker:
        acker.thread.start()
    try:
        for label in plans:
            trids = []
            for _ in range(a.deliveries):
                counter[0] += 1
                trid = "taskrs-bench%06d" % counter[0]
                pc, rc = deliver(d, fake, base, label_id(label), counter[0])
                trids.append(trid)
                results.setdefault((label, mode), []).append([pc, rc, None, None])
            st = server_times(d, set(trids))
            rows = results[(label, mode)][-len(trids):]
            for row, trid in zip(rows, trids):
                row[2], row[3] = st.get(trid, (None, None))
    finally:
        if acker:
            acker.stop.set()
            acker.thread.join()
            results.setdefault(("acks", mode), []).extend(acker.lat)
            results[("ack errors", mode)] = results.get(("ack errors", mode), 0) + acker.errors
        d.stop()


def label_id(label):
    return re.sub(r"[^a-z0-9]", "", label.split(" (")[0].lower())[:20]


def report_acks(results):
    for mode in ("off", "on"):
        ms = [x * 1000 for x in results.get(("acks", mode), [])]
        if ms:
            print("acknowledgements meanwhile, usage %-3s n=%5d  p50=%6.1f ms  p99=%7.1f ms  "
                  "max=%7.1f ms  errors=%d" % (mode, len(ms), pct(ms, 50), pct(ms, 99), max(ms),
                                               results.get(("ack errors", mode), 0)))


def report(a, plans, results, store):
    print("\nmachine: %d CPUs, load average %s; store %s; %d deliveries per plan and mode, "
          "one at a time" % (os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg()),
                             store, a.deliveries * a.rounds))
    print("%-40s %-4s %23s %23s %12s %12s" % ("plan", "mode", "plan->callback p50/p90",
                                              "request->callback p50", "duration p50",
                                              "usage_ms p50/max"))
    for label in plans:
        for mode in ("off", "on"):
            rows = results.get((label, mode), [])
            pc = [r[0] * 1000 for r in rows]
            rc = [r[1] * 1000 for r in rows]
            du = [r[2] for r in rows if r[2] is not None]
            us = [r[3] for r in rows if r[3] is not None]
            print("%-40s %-4s %11.1f / %7.1f ms %20.1f ms %9.0f ms %6.1f / %5.1f"
                  % (label, mode, pct(pc, 50), pct(pc, 90), pct(rc, 50), pct(du, 50),
                     pct(us, 50), max(us) if us else float("nan")))
    report_acks(results)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "imagegate"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "tests", "fixtures"))
    ap.add_argument("--plans", default="clean,usage-web-prod,scale,20",
                    help="comma-separated fixture plan names, or a number of MB to generate")
    ap.add_argument("--deliveries", type=int, default=10, help="per plan, mode and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ack-rate", type=float, default=0,
                    help="run-task requests a second sent meanwhile (0: none)")
    ap.add_argument("--pg", action="store_true",
                    help="a PostgreSQL store (IMAGEGATE_TEST_PG_URL, set by pgserver.py run)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ig-usage-bench-")
    pg = pgserver.create_database(os.environ["IMAGEGATE_TEST_PG_URL"], "usage_bench") \
        if a.pg else None
    ca, cert, key, db = prepare(tmp, a.bin, a.fixtures, pg)
    plans = load_plans(a, tmp)
    fake = FakeTFC(cert, key, TOKEN).start()
    for label, data in plans.items():
        fake.plans[label_id(label)] = data
    with open(os.path.join(a.fixtures, "plans", "clean.plan.json"), "rb") as f:
        fake.plans["clean"] = f.read()  # the acknowledgement client's deliveries
    with open(os.path.join(a.fixtures, "runtask", "post_plan.json")) as f:
        base = json.load(f)
    results, counter = {}, [0]
    try:
        for r in range(a.rounds):
            for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
                run_mode(a, tmp, db, fake, ca, cert, key, mode, plans, base, counter, results)
        report(a, plans, results, "PostgreSQL" if a.pg else "SQLite")
    finally:
        fake.stop()
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
