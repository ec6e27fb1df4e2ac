#!/usr/bin/env python3
"""Acknowledgement latency and peak memory while big plans keep arriving.

The issue's load case at full size: the real `imagegate serve` (TLS,
temporary SQLite store built with tests/fixtures/setup-registry.sh, the fake
HCP Terraform of the integration tests) receives --plans deliveries of a
generated --plan-mb megabyte plan, one every --every seconds, and while they
are downloaded and scanned, --requests signed verification requests from
--concurrency client threads on keep-alive connections. It reports:

  - the acknowledgement latency p50/p90/p99/max, as the clients saw it and as
    the server logged it (ack_ms: handler start to reply queued);
  - that every request got 200 and every plan exactly one final status;
  - the server's resident memory: sampled every 50 ms (peak and when) and
    the kernel's high-water mark (VmHWM);
  - how long each plan took from its request to its final callback.

Timings are measured, never asserted (tests/integration/test_hardening.py
asserts the behaviour at a smaller size). Python standard library only.

  python3 bench/load.py --bin build/imagegate [--plan-mb 100] [--plans 12]
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from ack_latency import gen_plan, pct, prepare, summary  # noqa: E402
from fake_tfc import FakeTFC  # noqa: E402
from igtest import Daemon, sign, TOKEN  # noqa: E402


def rss_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def load_process(port, cafile, per, spread, body, sig, out):
    """The verification clients, in a process of their own so that they do
    not share an interpreter lock with the fake HCP Terraform serving plans:
    one thread per client, one keep-alive connection each. Sends
    (latencies, statuses, errors) through out."""
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # back to normal, like HCP Terraform's clients
    ctx = ssl.create_default_context(cafile=cafile)
    lat, statuses, errors = [], [], []
    lock = threading.Lock()

    def client(k):
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
        start = time.time()
        try:
            for j in range(k):
                if spread > 0:  # the j-th request at its share of the span
                    wait = start + spread * j / k - time.time()
                    if wait > 0:
                        time.sleep(wait)
                t = time.perf_counter()
                c.request("POST", "/runtask", body,
                          {"X-TFC-Task-Signature": sig, "Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                secs = time.perf_counter() - t
                with lock:
                    lat.append(secs)
                    statuses.append(r.status)
        except (OSError, http.client.HTTPException) as e:
            with lock:
                errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in per]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.send((lat, statuses, errors))
    out.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "imagegate"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "tests", "fixtures"))
    ap.add_argument("--plan-mb", type=int, default=100)
    ap.add_argument("--plans", type=int, default=12)
    ap.add_argument("--every", type=float, default=0.5, help="seconds between plans")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--spread", type=float, default=0.0,
                    help="pace each client so the requests span this many seconds "
                         "(0: as fast as they go)")
    ap.add_argument("--fake-nice", type=int, default=10,
                    help="niceness of this process once the server runs: the fake HCP "
                         "Terraform serving plans stands for remote hosts and should not take "
                         "the CPU from the server (the load clients run at 0)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ig-load-")
    ca, cert, key, db = prepare(tmp, a.bin, a.fixtures)
    plan_path = os.path.join(tmp, "big.plan.json")
    t0 = time.time()
    n = gen_plan(plan_path, a.plan_mb * 1024 * 1024)
    size = os.path.getsize(plan_path)
    print("generated %d MB plan: %d resources in %.1fs" % (size / 1e6, n, time.time() - t0))

    fake = FakeTFC(cert, key, TOKEN).start()
    with open(plan_path, "rb") as f:
        fake.plans["big"] = f.read()
    d = Daemon(tmp, "load", db, fake, ca, cert, key, binary=a.bin,
               extra=["--workers", str(a.workers), "--log-level", "info",
                      "--running-after", "5s", "--delivery-lease", "60s"]).start()
    pid = d.proc.pid
    if a.fake_nice:  # Linux niceness is per thread; new threads inherit their creator's
        os.setpriority(os.PRIO_PROCESS, fake.thread.native_id, a.fake_nice)
        os.setpriority(os.PRIO_PROCESS, 0, a.fake_nice)
    with open(os.path.join(a.fixtures, "runtask", "post_plan.json")) as f:
        base = json.load(f)
    with open(os.path.join(a.fixtures, "runtask", "verification.json"), "rb") as f:
        verification = f.read()
    vsig = sign(verification)

    samples = []  # (t, rss_kb)
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            samples.append((time.time(), rss_kb(pid, "VmRSS")))
            time.sleep(0.05)

    plans = []  # (trid, sent_at, status)

    def feeder():
        c = http.client.HTTPSConnection("127.0.0.1", d.port, context=d.ctx, timeout=30)
        for i in range(a.plans):
            p = dict(base)
            trid = "taskrs-load%04d" % i
            p["task_result_id"] = trid
            p["plan_json_api_url"] = fake.plan_url("big")
            p["task_result_callback_url"] = fake.callback_url(trid)
            body = json.dumps(p).encode()
            t = time.time()
            c.request("POST", "/runtask", body, {"X-TFC-Task-Signature": sign(body),
                                                 "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            plans.append((trid, t, r.status))
            time.sleep(a.every)
        c.close()

    try:
        threading.Thread(target=sampler, daemon=True).start()
        t_start = time.time()
        feed = threading.Thread(target=feeder)
        feed.start()
        time.sleep(1.0)  # the first plans are being downloaded and scanned
        per = [a.requests // a.concurrency + (1 if i < a.requests % a.concurrency else 0)
               for i in range(a.concurrency)]
        t_load = time.time()
        rd, wr = multiprocessing.Pipe(duplex=False)
        proc = multiprocessing.Process(target=load_process,
                                       args=(d.port, ca, per, a.spread, verification, vsig, wr))
        proc.start()
        lat, statuses, errors = rd.recv()
        proc.join()
        t_load_end = time.time()
        feed.join()
        busy_at_end = sum(1 for trid, _, _ in plans if not fake.finals(trid))
        finals = {}
        for trid, sent, st in plans:
            doc = fake.wait_final(trid, timeout=3600)
            finals[trid] = (doc, fake.finals(trid)[-1][0]["time"] - sent)
        t_end = time.time()
        time.sleep(0.5)
        stop.set()
        hwm = rss_kb(pid, "VmHWM")
        ok_finals = sum(1 for trid, _, _ in plans if len(fake._finals_ok(trid)) == 1)

        print("\nmachine: %d CPUs, load average %s (other work on the machine included)"
              % (os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))
        print("load: %d verification requests from %d clients in %.1fs (%.0f/s) while %d x "
              "%d MB plans arrived every %.1fs; %d plans still scanning when the load ended"
              % (len(statuses), a.concurrency, t_load_end - t_load,
                 len(statuses) / (t_load_end - t_load), a.plans, size // 1000000, a.every,
                 busy_at_end))
        print("answers: %s; errors: %d; plan acks: %s"
              % ({s: statuses.count(s) for s in set(statuses)}, len(errors),
                 {s: [st for _, _, st in plans].count(s) for s in set(st for _, _, st in plans)}))
        print(summary("client round trip", lat))
        server = [float(l.rsplit("ack_ms=", 1)[1].split()[0]) / 1000
                  for l in d.log().splitlines() if "event=runtask_verification" in l]
        print(summary("server (handler -> reply queued)", server))
        print("plans: %d of %d got exactly one final status; request -> final: %s"
              % (ok_finals, a.plans,
                 " ".join("%.1fs" % secs for _, secs in finals.values())))
        statuses_seen = {doc["data"]["attributes"]["status"] for doc, _ in finals.values()}
        print("final statuses: %s; all %d plans done %.1fs after the first was sent"
              % (sorted(statuses_seen), a.plans, t_end - t_start))
        peak = max(samples, key=lambda s: s[1]) if samples else (t_start, 0)
        print("server RSS: idle %.1f MB, peak %.1f MB (sampled, %.1fs in), VmHWM %.1f MB, at the "
              "end %.1f MB (--workers %d)"
              % (samples[0][1] / 1024.0 if samples else 0, peak[1] / 1024.0, peak[0] - t_start,
                 hwm / 1024.0, rss_kb(pid, "VmRSS") / 1024.0, a.workers))
    finally:
        stop.set()
        d.stop()
        fake.stop()
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
