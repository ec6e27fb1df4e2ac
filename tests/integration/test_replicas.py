#!/usr/bin/env python3
"""Several imagegate replicas on one PostgreSQL database (python3 standard library only).

Starts a throwaway PostgreSQL server (pgserver.py), builds the fixture registry in it with
tests/fixtures/setup-registry.sh, and checks what running N replicas behind a load balancer
relies on:

- the registry answers every fixture plan with the same verdicts and findings as SQLite;
- replicas (and CLI commands) starting together on an empty database migrate it once;
- one run-task delivery sent to two replicas is evaluated once: one plan download, one
  final callback;
- a delivery accepted by a replica killed with kill -9 while it worked is finished by another
  replica once the lease runs out;
- the database restarted under running replicas: /readyz says not ready and /runtask answers
  503 while it is down, both recover on their own, and a delivery accepted before the restart
  completes with its real verdict;
- a replica cut off from the database for longer than its lease, while it works on a delivery,
  gives way to the replica that took the delivery over: still one final callback;
- docker/compose.yaml's replica environment starts a replica as it is (no Docker engine needed),
  and docker/haproxy.cfg checks /readyz on the port it listens on.

The daemons and certificates are igtest's, the fake HCP Terraform fake_tfc.py's.
"""

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
from fake_tfc import FakeTFC  # noqa: E402
import igtest  # noqa: E402
from igtest import BIN, KEY_NEW, KEY_OLD, TOKEN, Daemon, make_certs, wait_for  # noqa: E402

FIX = igtest.FIXTURES
PLANS = os.path.join(FIX, "plans")
MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "registry",
                          "migrations")


def pg_migrations():
    """The schema versions a PostgreSQL store gets: NNN_*.sql and NNN_*.postgresql.sql."""
    return sorted({str(int(n.split("_")[0])) for n in os.listdir(MIGRATIONS)
                   if n.endswith(".sql") and not n.endswith(".sqlite.sql")}, key=int)
# Per finding, what a verdict is made of (messages hold revoke_at times, which differ
# by milliseconds between two registries built one after the other).
FINDING_KEYS = ("kind", "level", "address", "attribute", "image", "action", "bucket", "version",
                "fingerprint", "provenance")


class TcpProxy:
    """127.0.0.1:port -> 127.0.0.1:target, which can be cut (every connection closed,
    new ones refused) and restored: one replica's network path to the database."""

    def __init__(self, target):
        self.target = target
        self.port = pgserver.free_port()
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.closed = threading.Event()  # the accept loop closed its listener

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.1)
        self.closed.clear()
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return self

    def _accept(self, s):
        while self.listener is s:
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
        s.close()
        self.closed.set()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.listener = None  # the accept loop closes it: new connections are refused
        assert self.closed.wait(10), "the proxy's accept loop did not stop"
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def restore(self):
        self.start()


def note(fmt, *args):
    """A measured number, shown in the test output."""
    sys.stderr.write("  [measure] " + (fmt % args) + "\n")


class Replicas(unittest.TestCase):
    counter = 0

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-replicas-")
        cls.ca, cls.cert, cls.key = make_certs(cls.tmp)
        with open(os.path.join(cls.tmp, "hmac.keys"), "w") as f:
            f.write(KEY_OLD + "\n" + KEY_NEW + "\n")
        os.chmod(os.path.join(cls.tmp, "hmac.keys"), 0o600)
        cls.pg = pgserver.PgServer().start()
        cls.db = cls.pg.create_database("replicas")
        cls.setup_registry(cls.db)
        cls.sqlite = "sqlite:" + os.path.join(cls.tmp, "registry.db")
        cls.setup_registry(cls.sqlite)
        cls.fake = FakeTFC(cls.cert, cls.key, TOKEN).start()
        cls.daemons = []
        cls.a = cls.daemon("a")
        cls.b = cls.daemon("b")
        for d in (cls.a, cls.b):
            d.start()

    @classmethod
    def tearDownClass(cls):
        for d in cls.daemons:
            d.stop()
        cls.fake.stop()
        cls.pg.cleanup()
        if os.environ.get("IG_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def setup_registry(cls, url):
        p = subprocess.run(["sh", os.path.join(FIX, "setup-registry.sh"), BIN, url],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr

    @classmethod
    def daemon(cls, name, db=None, extra=()):
        d = Daemon(cls.tmp, name, db or cls.db, cls.fake, cls.ca, cls.cert, cls.key,
                   extra=extra)
        cls.daemons.append(d)
        return d

    # -- helpers ------------------------------------------------------------
    def payload(self, plan_name):
        """A post_plan request whose plan has its own URL (so downloads can be counted)."""
        Replicas.counter += 1
        trid = "taskrs-rep%d%d" % (os.getpid(), Replicas.counter)
        with open(os.path.join(FIX, "runtask", "post_plan.json")) as f:
            p = json.load(f)
        pid = "plan-" + trid
        with open(os.path.join(PLANS, plan_name + ".plan.json"), "rb") as f:
            self.fake.plans[pid] = f.read()
        p.update(stage="post_plan", task_result_id=trid, run_id="run-" + trid[7:],
                 task_result_callback_url=self.fake.callback_url(trid),
                 plan_json_api_url=self.fake.plan_url(pid),
                 configuration_version_download_url=self.fake.config_url("none"),
                 capabilities={"outcomes": True})
        return p

    def downloads(self, p):
        path = "/api/v2/plans/plan-%s/json-output" % p["task_result_id"]
        with self.fake.lock:
            return len([r for r in self.fake.requests if r["method"] == "GET"
                        and r["path"] == path])

    def finals(self, p):
        return self.fake.finals(p["task_result_id"])

    def wait(self, what, timeout, step=0.05):
        return wait_for(what, timeout, step)

    def ready(self, d):
        try:
            code, _, _ = d.request("GET", "/readyz")
        except OSError:
            return None
        return code

    def delivery_row(self, trid, db=None):
        out = pgserver.psql(db or self.db, "SELECT state, COALESCE(body, '<erased>'), attempts,"
                            " verdict FROM deliveries WHERE task_result_id = '%s'" % trid)
        return out.strip().split("|") if out.strip() else None

    def logs_mentioning(self, trid, event="event=delivery "):
        return [d.name for d in self.daemons if d.proc and any(
            event in line and trid in line for line in d.log().splitlines())]

    def scan(self, db, plan):
        p = subprocess.run([BIN, "--db", db, "scan", plan, "--format", "json"],
                           capture_output=True, text=True, timeout=120)
        rep = json.loads(p.stdout) if p.returncode in (0, 1) else None
        if rep:
            rep = (rep["verdict"], rep["summary"],
                   sorted(tuple(json.dumps(f.get(k)) for k in FINDING_KEYS)
                          for f in rep["findings"]))
        return p.returncode, rep

    # -- cases ----------------------------------------------------------------
    def test_01_same_verdicts_as_sqlite(self):
        plans = sorted(glob.glob(os.path.join(PLANS, "**", "*.plan.json"), recursive=True))
        self.assertGreaterEqual(len(plans), 30)
        t_pg = t_sqlite = 0.0
        verdicts = {}
        for plan in plans:
            with self.subTest(plan=os.path.relpath(plan, PLANS)):
                t0 = time.time()
                rc_pg, rep_pg = self.scan(self.db, plan)
                t1 = time.time()
                rc_sq, rep_sq = self.scan(self.sqlite, plan)
                t_pg += t1 - t0
                t_sqlite += time.time() - t1
                self.assertEqual(rc_pg, rc_sq)
                self.assertEqual(rep_pg, rep_sq)
                verdicts[rep_pg[0] if rep_pg else "error"] = \
                    verdicts.get(rep_pg[0] if rep_pg else "error", 0) + 1
        self.assertTrue(verdicts.get("fail") and verdicts.get("warn") and verdicts.get("pass"),
                        verdicts)
        note("%d plans, same verdicts on both stores %s; scan time PostgreSQL %.2fs, "
             "SQLite %.2fs", len(plans), verdicts, t_pg, t_sqlite)

    def test_02_migrations_run_once_when_started_together(self):
        fresh = self.pg.create_database("fresh_serve")
        ds = [self.daemon("fresh%d" % i, db=fresh) for i in range(3)]
        threads = [threading.Thread(target=d.start) for d in ds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            for d in ds:
                self.assertEqual(d.proc.poll(), None, d.log())
                self.assertEqual(self.wait(lambda: self.ready(d) == 200, 10), True, d.log())
        finally:
            for d in ds:
                d.stop()
        for d in ds:
            self.assertNotIn("level=error", d.log())
        self.assertEqual(pgserver.psql(fresh, "SELECT version FROM schema_migrations"
                                              " ORDER BY 1").split(), pg_migrations())
        # the HCP organization and project were made once, for all three
        self.assertEqual(pgserver.psql(fresh, "SELECT key FROM registry_meta ORDER BY 1").split(),
                         ["ids_created_at", "organization_id", "project_id"])
        self.assertEqual(len(set(re.findall(r"HCP organization (\S+), project (\S+)",
                                            "".join(d.log() for d in ds)))), 1)
        # and short-lived commands racing on another empty database
        fresh2 = self.pg.create_database("fresh_cli")
        procs = [subprocess.Popen([BIN, "--db", fresh2, "bucket", "create", "bucket-%d" % i],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(6)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(pgserver.psql(fresh2, "SELECT COUNT(*) FROM schema_migrations").strip(),
                         str(len(pg_migrations())))
        self.assertEqual(pgserver.psql(fresh2, "SELECT COUNT(*) FROM buckets").strip(), "6")

    def test_03_one_delivery_sent_to_both_is_evaluated_once(self):
        sent = []
        for i in range(6):
            p = self.payload("other-types")
            order = (self.a, self.b) if i % 2 == 0 else (self.b, self.a)
            answers = []

            def post(d, p=p, answers=answers):
                code, body, _ = d.post_runtask(p)
                answers.append((code, json.loads(body)["status"]))
            threads = [threading.Thread(target=post, args=(d,)) for d in order]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(sorted(answers), [(200, "accepted"), (200, "duplicate")])
            sent.append(p)
        t0 = time.time()
        for p in sent:
            doc = self.fake.wait_final(p["task_result_id"], 30)
            self.assertIsNotNone(doc, self.a.log()[-3000:] + self.b.log()[-3000:])
            self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        note("6 deliveries, each sent to both replicas: all final within %.2fs",
             time.time() - t0)
        time.sleep(2.5)  # two sweep intervals: a second evaluation would have started
        for p in sent:
            trid = p["task_result_id"]
            self.assertEqual(len(self.finals(p)), 1, trid)
            self.assertEqual(self.downloads(p), 1, trid)
            self.assertEqual(len(self.logs_mentioning(trid)), 1, trid)
            state, body, attempts, verdict = self.delivery_row(trid)
            self.assertEqual((state, body, attempts, verdict), ("1", "<erased>", "1", "fail"))

    def lease_owner_pid(self, trid, db=None):
        """pid of the process whose worker holds the delivery's lease (owners are
        host:pid:start:worker), or None."""
        out = pgserver.psql(db or self.db, "SELECT lease_owner FROM deliveries"
                                           " WHERE task_result_id = '%s'" % trid).strip()
        return int(out.split(":")[1]) if out.count(":") >= 3 else None

    def test_04_killed_replica_delivery_finished_by_another(self):
        c = self.daemon("doomed")
        c.start()
        for attempt in range(5):
            p = self.payload("other-types")
            pid = "plan-" + p["task_result_id"]
            self.fake.hold.add(pid)
            code, body, _ = c.post_runtask(p)
            self.assertEqual((code, json.loads(body)["status"]), (200, "accepted"))
            # c's own worker normally claims it at once and waits on 204s; an idle
            # worker of a or b sweeping at that very moment may win the claim instead
            # (as it should): then try again
            self.assertTrue(self.wait(lambda: self.downloads(p) >= 1, 10), c.log()[-3000:])
            if self.lease_owner_pid(p["task_result_id"]) == c.proc.pid:
                break
            self.fake.hold.discard(pid)
            self.assertIsNotNone(self.fake.wait_final(p["task_result_id"], 30))
        else:
            self.fail("the other replicas always claimed first")
        try:
            c.kill9()
            t_kill = time.time()
            self.assertEqual(self.finals(p), [])
            self.fake.hold.discard(pid)
            doc = self.fake.wait_final(p["task_result_id"], 40)
            took = time.time() - t_kill
            self.assertIsNotNone(doc, self.a.log()[-3000:] + self.b.log()[-3000:])
        finally:
            self.fake.hold.discard(pid)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        self.assertNotIn("could not check", doc["data"]["attributes"]["message"])
        time.sleep(1.5)  # a quiet period: a second final status would come in it
        self.assertEqual(len(self.finals(p)), 1)
        trid = p["task_result_id"]
        self.assertEqual(len([n for n in self.logs_mentioning(trid) if n in ("a", "b")]), 1)
        state, body, attempts, verdict = self.delivery_row(trid)
        self.assertEqual((state, body, attempts, verdict), ("1", "<erased>", "2", "fail"))
        # the lease is 5 s and idle workers look every second
        self.assertGreaterEqual(took, 3.0)
        note("kill -9 of the replica holding a delivery -> final callback from another "
             "replica after %.1fs (--delivery-lease 5s, --sweep-interval 1s)", took)

    def test_05_database_restart_under_running_replicas(self):
        # a replica of its own, with a long lease: only the restart is under test here
        db = self.pg.create_database("restart")
        self.setup_registry(db)
        r = self.daemon("restart", db=db, extra=("--delivery-lease", "60s"))
        r.start()
        self.assertEqual(self.ready(r), 200)
        early = self.payload("other-types")  # accepted before, worked on across the restart
        pid = "plan-" + early["task_result_id"]
        self.fake.hold.add(pid)
        try:
            code, _, _ = r.post_runtask(early)
            self.assertEqual(code, 200)
            self.assertTrue(self.wait(lambda: self.downloads(early) >= 1, 10), r.log()[-3000:])
            t_down = time.time()
            self.pg.stop()
            for d in (r, self.a):
                self.assertEqual(self.wait(lambda d=d: self.ready(d) == 503, 10), True,
                                 d.log()[-2000:])
            late = self.payload("clean")
            code, body, headers = r.post_runtask(late)
            self.assertEqual(code, 503, body)
            self.assertEqual(headers.get("Retry-After"), "5")
            time.sleep(1.0)  # a duration: the database stays down a while
            self.pg.start_again()
            t_up = time.time()
            for d in (r, self.a, self.b):
                self.assertEqual(self.wait(lambda d=d: self.ready(d) == 200, 15), True,
                                 d.log()[-2000:])
            t_ready = time.time() - t_up
            self.fake.hold.discard(pid)
            doc = self.fake.wait_final(early["task_result_id"], 40)
            self.assertIsNotNone(doc, r.log()[-3000:])
        finally:
            self.fake.hold.discard(pid)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        self.assertNotIn("could not check", doc["data"]["attributes"]["message"])
        self.assertEqual(self.wait(lambda: (self.delivery_row(early["task_result_id"], db) or
                                            [None])[0] == "1", 10), True)
        # HCP Terraform retries the request that got 503; now it is taken
        code, body, _ = r.post_runtask(late)
        self.assertEqual((code, json.loads(body)["status"]), (200, "accepted"))
        doc = self.fake.wait_final(late["task_result_id"], 30)
        self.assertIsNotNone(doc, r.log()[-3000:])
        self.assertEqual(doc["data"]["attributes"]["status"], "passed")
        # the replicas that sat idle through the restart deliver again, too
        p = self.payload("clean")
        code, _, _ = self.b.post_runtask(p)
        self.assertEqual(code, 200)
        self.assertIsNotNone(self.fake.wait_final(p["task_result_id"], 30), self.b.log()[-3000:])
        for d in (r, self.a, self.b):
            self.assertNotIn(pgserver.PASSWORD, d.log())
        note("database down %.1fs: /readyz 503 meanwhile, ready again %.1fs after it was back",
             t_up - t_down, t_ready)

    def test_06_replica_cut_off_longer_than_its_lease_gives_way(self):
        """A replica that loses the database for longer than its lease while it works
        on a delivery finds, when it is back, that another replica took the delivery
        over: it stops and sends nothing, so HCP Terraform still gets one result."""
        proxy = TcpProxy(self.pg.port).start()
        url = self.db.replace(":%d/" % self.pg.port, ":%d/" % proxy.port)
        c = self.daemon("cutoff", db=url)
        c.start()
        for attempt in range(5):  # until c's own worker wins the claim (see test_04)
            p = self.payload("other-types")
            pid = "plan-" + p["task_result_id"]
            self.fake.hold.add(pid)
            code, _, _ = c.post_runtask(p)
            self.assertEqual(code, 200)
            self.assertTrue(self.wait(lambda: self.downloads(p) >= 1, 10), c.log()[-3000:])
            if self.lease_owner_pid(p["task_result_id"]) == c.proc.pid:
                break
            self.fake.hold.discard(pid)
            self.assertIsNotNone(self.fake.wait_final(p["task_result_id"], 30))
        else:
            self.fail("the other replicas always claimed first")
        try:
            proxy.cut()
            t_cut = time.time()
            # the lease (5 s) runs out; a worker of a or b takes the delivery over
            # (lease owners are host:pid:start:worker)
            trid = p["task_result_id"]

            def owner_pid():
                return self.lease_owner_pid(trid)
            self.assertEqual(owner_pid(), c.proc.pid)
            self.assertTrue(self.wait(lambda: owner_pid() in (self.a.proc.pid, self.b.proc.pid),
                                      20, step=0.2),
                            self.a.log()[-2000:] + self.b.log()[-2000:])
            took = time.time() - t_cut
            proxy.restore()
            self.assertTrue(self.wait(lambda: "event=delivery_left" in c.log(), 20),
                            c.log()[-3000:])
            self.fake.hold.discard(pid)
            doc = self.fake.wait_final(p["task_result_id"], 30)
            self.assertIsNotNone(doc, self.a.log()[-3000:] + self.b.log()[-3000:])
        finally:
            self.fake.hold.discard(pid)
            proxy.cut()
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        time.sleep(1.5)  # a quiet period: a second final status would come in it
        self.assertEqual(len(self.finals(p)), 1)
        self.assertIn("event=lease_lost", c.log())
        self.assertEqual(len(self.logs_mentioning(p["task_result_id"])), 1)
        self.assertNotIn("cutoff", self.logs_mentioning(p["task_result_id"]))
        c.stop()
        note("replica cut off from the database: its delivery taken over after %.1fs, "
             "the cut-off replica stopped on its own when it came back", took)

    def test_07_compose_environment_runs_a_replica(self):
        """docker/compose.yaml's replica settings, as they are (a Docker engine is not
        needed): the IMAGEGATE_* variables and PGPASSWORD start a replica on PostgreSQL
        with plain HTTP behind the load balancer, which checks GET /readyz on the port
        the replicas listen on."""
        src = os.environ.get("IMAGEGATE_SOURCE_DIR",
                             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        with open(os.path.join(src, "docker", "compose.yaml")) as f:
            lines = f.read().splitlines()
        env, inside = {}, False
        for line in lines:  # the environment block of the x-imagegate anchor
            if line.startswith("x-imagegate:"):
                inside = None
            elif inside is None and line.strip() == "environment:":
                inside = True
            elif inside and line.startswith("    ") and not line.strip().startswith("#"):
                k, v = line.strip().split(":", 1)
                env[k] = v.split(" #")[0].strip().strip('"')
            elif inside and line.strip() and not line.startswith("    "):
                break
        self.assertIn("IMAGEGATE_DB", env)
        self.assertTrue(env["IMAGEGATE_DB"].startswith("postgresql://imagegate@postgres:5432/"))
        self.assertNotIn(":${", env["IMAGEGATE_DB"])  # no password in the URL
        listen_port = env["IMAGEGATE_LISTEN"].rsplit(":", 1)[1]
        with open(os.path.join(src, "docker", "haproxy.cfg")) as f:
            cfg = f.read()
        self.assertIn("http-check send meth GET uri /readyz", cfg)
        for name in ("imagegate-1", "imagegate-2"):
            self.assertIn("server %s %s:%s check" % (name, name, listen_port), cfg)
            self.assertIn("\n  %s:\n" % name, "\n".join(lines) + "\n")
        keys = os.path.join(self.tmp, "compose-hmac.keys")
        with open(keys, "w") as f:
            f.write(KEY_NEW + "\n")
        os.chmod(keys, 0o600)
        port = pgserver.free_port()
        run_env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("IMAGEGATE_", "PG")) and not k.lower().endswith("_proxy")}
        for k, v in env.items():
            v = v.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in docker/.env}",
                          pgserver.PASSWORD)
            v = v.replace("${IMAGEGATE_PUBLIC_URL:-https://localhost:8443}",
                          "https://imagegate.test")
            v = v.replace("@postgres:5432/imagegate?", "@127.0.0.1:%d/replicas?" % self.pg.port)
            v = v.replace("0.0.0.0:" + listen_port, "127.0.0.1:%d" % port)
            v = v.replace("/run/secrets/hmac.keys", keys)
            run_env[k] = v
        self.assertNotIn("${", "".join(run_env.values()))
        d = Daemon.bare(self.tmp, "compose", run_env, port).start()
        try:
            self.assertTrue(self.wait(lambda: self.ready(d) == 200, 15, step=0.1), d.log())
        finally:
            self.assertEqual(d.stop(), 0)
        text = d.log()
        self.assertNotIn(pgserver.PASSWORD, text)
        self.assertNotIn("level=error", text)

    def test_08_hcp_tokens_keys_and_ids_shared(self):
        """The HCP drop-in on two replicas: one organization and project for both; an OAuth2
        access token issued by one replica works on the other (clients cache it on disk and
        reach any replica); revoking its API token with the command line kills it on both at
        once; a run-task HMAC key made with PATCH .../runtasks/hmac on one replica is the one
        the other shows and accepts (within --token-refresh)."""
        import base64
        p = subprocess.run([BIN, "--db", self.db, "token", "create", "--name", "hcp-principal",
                            "--role", "admin", "--json"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = json.loads(p.stdout)["secret"]
        basic = base64.b64encode(("hcp-principal:" + secret).encode()).decode()
        st, tok, _ = self.a.call("POST", "/oauth2/token", raw=b"grant_type=client_credentials",
                                 headers={"Authorization": "Basic " + basic,
                                          "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 200, tok)
        access = tok["access_token"]
        rm = "/resource-manager/2019-12-10/projects"
        st_a, pa, _ = self.a.call("GET", rm, token=access)
        st_b, pb, _ = self.b.call("GET", rm, token=access)
        self.assertEqual((st_a, st_b), (200, 200), (pa, pb))
        self.assertEqual(pa, pb)
        proj = pb["projects"][0]
        base = "/packer/2023-01-01/organizations/%s/projects/%s" % (proj["parent"]["id"],
                                                                   proj["id"])
        # a run-task HMAC key made on a: b shows it and accepts signatures made with it
        st, made, _ = self.a.call("PATCH", base + "/runtasks/hmac", {}, token=access)
        self.assertEqual(st, 200, made)
        st, shown, _ = self.b.call("GET", base + "/runtasks/validation", token=access)
        self.assertEqual(shown["hmac_key"], made["hmac_key"])
        with open(os.path.join(FIX, "runtask", "verification.json"), "rb") as f:
            body = f.read()

        def verified(d, key):
            return d.post_runtask(body, key=key)[0]
        self.assertEqual(verified(self.a, made["hmac_key"]), 200)
        self.assertEqual(self.wait(lambda: verified(self.b, made["hmac_key"]) == 200, 15), True)
        self.assertEqual(verified(self.b, "no-such-key"), 401)
        # the API token revoked on the command line: its access token dies on both at once
        p = subprocess.run([BIN, "--db", self.db, "token", "revoke", "hcp-principal"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        for d in (self.a, self.b):
            st, out, _ = d.call("GET", rm, token=access)
            self.assertEqual((st, out.get("code")), (401, 16))

if __name__ == "__main__":
    unittest.main(verbosity=2)
