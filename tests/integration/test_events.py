#!/usr/bin/env python3
"""Event notifications (docs/events.md): signed webhooks for every registry change.

Real daemons on 127.0.0.1, a fake HTTPS receiver (fake_receiver.py) trusted through
--ca-file, the fixture registry of tests/fixtures/setup-registry.sh plus one grandchild of
golden-base. What the issue's "done when" asks, and around it:

- with --webhook-allow-network 127.0.0.0/8, `version revoke golden-base v1` brings a revoke
  event for it and one for each descendant, each with valid signatures (HCP's and the
  timestamped one);
- a receiver answering 500 twice then 200 gets the event; `webhook deliveries` shows the
  three attempts, spaced by the doubling delay;
- a change made on the command line while the server is killed (kill -9) is delivered after
  the restart;
- without the allow flag a loopback URL is refused with a clear error (command line, API and
  the server's own deliveries);
- /v1/webhooks (admin), filters, order per webhook, 4xx giving up at once, redelivery, where
  the secret is kept (mode 0600) and where it never shows;
- PostgreSQL with two replicas: every event is delivered exactly once.
Python standard library only.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import igtest  # noqa: E402
import pgserver  # noqa: E402
from fake_receiver import FakeReceiver  # noqa: E402
from igtest import BIN, Daemon, make_certs, wait_for  # noqa: E402

FIX = igtest.FIXTURES

SECRET = "receiver-secret-0123456789"
GRANDCHILD = {  # built from app-java v1 (itself built from golden-base v1)
    "builds": [{"name": "svc", "builder_type": "amazon-ebs", "build_time": 1735000100,
                "files": None, "artifact_id": "us-west-1:ami-0aaaabbbbccccdddd",
                "packer_run_uuid": "9c8b7a6f-5e4d-4c3b-8a1f-0e9d8c7b6a5f",
                "custom_data": {"source_ami": "ami-0fedcba9876543210"}}],
    "last_run_uuid": "9c8b7a6f-5e4d-4c3b-8a1f-0e9d8c7b6a5f",
}


def deliveries(db, name):
    r = igtest.run("--db", db, "--json", "webhook", "deliveries", name)
    assert r.code == 0, r
    return r.json()


class EventsBase(unittest.TestCase):
    """A fixture registry made once and copied for each test, certificates and a secret."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-events-")
        cls.ca, cls.cert, cls.key = make_certs(cls.tmp)
        cls.secret_file = os.path.join(cls.tmp, "secret")
        with open(cls.secret_file, "w") as f:
            f.write(SECRET + "\n")
        cls.golden = os.path.join(cls.tmp, "golden.db")
        cls.build_registry("sqlite:" + cls.golden)

    @classmethod
    def build_registry(cls, db):
        p = subprocess.run(["sh", os.path.join(FIX, "setup-registry.sh"), BIN, db],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        manifest = os.path.join(cls.tmp, "svc.json")
        with open(manifest, "w") as f:
            json.dump(GRANDCHILD, f)
        for args in (("import", manifest, "--bucket", "app-java-svc", "--fingerprint", "svc-1"),
                     ("version", "restore", "golden-base", "v1")):
            r = igtest.run("--db", db, *args)
            assert r.code == 0, r

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("IG_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self._testMethodName[:20] + "-", dir=self.tmp)
        self.db_path = os.path.join(self.dir, "registry.db")
        shutil.copy(self.golden, self.db_path)
        os.chmod(self.db_path, 0o600)
        self.db = "sqlite:" + self.db_path
        with open(os.path.join(self.dir, "hmac.keys"), "w") as f:  # the run task's, unused
            f.write("run-task-hmac-key-0123456789\n")
        os.chmod(os.path.join(self.dir, "hmac.keys"), 0o600)
        self.daemons = []
        self.receivers = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        for r in self.receivers:
            r.stop()

    # -- helpers ------------------------------------------------------------
    def ig(self, *args, code=0, db=None):
        r = igtest.run("--db", db or self.db, *args)
        if code is not None:
            self.assertEqual(r.code, code, r)
        return r

    def receiver(self, answers=(), tls=True):
        rcv = FakeReceiver(SECRET, self.cert if tls else None, self.key if tls else None,
                           answers=answers).start()
        self.receivers.append(rcv)
        return rcv

    def create(self, name, rcv, *extra, code=0, db=None):
        return self.ig("webhook", "create", "--name", name, "--url", rcv.url, "--secret-file",
                       self.secret_file, "--ca-file", self.ca, "--webhook-allow-network",
                       "127.0.0.0/8", *extra, code=code, db=db)

    def daemon(self, *extra, allow=True, db=None, name=None):
        args = ["--ca-file", self.ca, "--webhook-retry-min", "1s"] + list(extra)
        if allow:
            args += ["--webhook-allow-network", "127.0.0.0/8"]
        d = Daemon(self.dir, name or "d%d" % len(self.daemons), db or self.db, None, self.ca,
                   self.cert, self.key, extra=args)
        self.daemons.append(d)
        return d.start()

    def wait(self, what, timeout=30, msg="condition"):
        v = wait_for(what, timeout)
        self.assertTrue(v, "timed out waiting for " + msg)
        return v

    def versions_descending_from(self, bucket, name):
        """Every version whose revocations name bucket/name as their origin, by the CLI."""
        out = []
        for b in self.ig("--json", "bucket", "list").json():
            for v in self.ig("--json", "version", "list", b["name"]).json():
                for rv in v.get("revocations") or []:
                    frm = rv.get("inherited_from") or {}
                    if frm.get("bucket_name") == bucket and frm.get("version") == name:
                        out.append((b["name"], v["name"]))
        return sorted(set(out))


class Events(EventsBase):
    def test_revoke_reaches_every_descendant_signed(self):
        rcv = self.receiver()
        self.create("chat", rcv)
        self.assertEqual([r["json"]["event_action"] for r in rcv.events()], ["test"])
        self.daemon()
        self.ig("version", "revoke", "golden-base", "v1", "--message", "compromised")
        want = [("golden-base", "v1")] + self.versions_descending_from("golden-base", "v1")
        self.assertEqual(len(want), 3, want)  # app-java v1 and its child app-java-svc v1
        reqs = rcv.wait_for(lambda rs: len([r for r in rs if r["json"]["event_action"] ==
                                            "revoke"]) >= len(want), what="revoke events")
        revokes = [r for r in reqs if r["json"]["event_action"] == "revoke"]
        got = sorted((r["json"]["event_payload"]["bucket"]["name"],
                      r["json"]["event_payload"]["version"]["name"]) for r in revokes)
        self.assertEqual(got, sorted(want))
        for r in reqs:
            self.assertIsNone(r["problem"], r["headers"])
            self.assertRegex(r["headers"]["X-Hcp-Webhook-Signature"], "^[0-9a-f]{128}$")
            self.assertEqual(r["headers"]["Content-Type"], "application/json")
        for r in revokes:
            e = r["json"]
            self.assertEqual(e["event_source"], "hashicorp.packer.version")
            self.assertEqual(e["event_description"], "Revoked version")
            self.assertEqual(e["event_version"], "1")
            self.assertRegex(e["event_id"], r"^packer\.event:[0-9A-Z]{26}$")
            p = e["event_payload"]
            for k in ("actor", "builds"):
                self.assertIn(k, p)
            # the organization and project HCP's clients see (GET .../registry answers the same)
            self.assertRegex(p["organization_id"], "^[0-9a-f-]{36}$")
            self.assertEqual(p["registry"]["id"], p["project_id"])
            self.assertEqual(e["resource_id"], p["project_id"])
            self.assertEqual(e["resource_name"], "packer/project/%s/registry/%s"
                             % (p["project_id"], p["project_id"]))
            v = p["version"]
            self.assertEqual(v["status"], "REVOKED")
            self.assertEqual(v["revocation_message"], "compromised")
            self.assertTrue(p["builds"][0]["artifacts"][0]["external_identifier"].startswith(
                "ami-"))
            origin = p["bucket"]["name"] == "golden-base"
            self.assertEqual(v["revocation_type"], "MANUAL" if origin else "INHERITED")
            if origin:
                self.assertIs(p["skip_descendants_revocation"], False)
            else:
                self.assertEqual(v["revocation_inherited_from"]["bucket_name"], "golden-base")
        # the origin first, then its descendants
        self.assertEqual(revokes[0]["json"]["event_payload"]["bucket"]["name"], "golden-base")
        self.assertEqual(len({r["json"]["event_id"] for r in reqs}), len(reqs))

    def test_retries_500_twice_then_200(self):
        rcv = self.receiver(answers=[200, 500, 500])  # the verification ping, then the event
        self.create("flaky", rcv)
        self.daemon()
        self.ig("channel", "set", "web-ubuntu", "staging", "v2")
        rcv.wait_for(lambda rs: len(rs) >= 4, what="three attempts")
        d = self.wait(lambda: [x for x in deliveries(self.db, "flaky")
                               if x["state"] == "delivered"], msg="delivered")[0]
        self.assertEqual(d["action"], "assign")
        self.assertEqual(d["attempts"], 3)
        self.assertEqual([a["status"] for a in d["log"]], [500, 500, 200])
        for a in d["log"]:
            self.assertEqual(a["response"], "ok")
            self.assertGreaterEqual(a["latency_ms"], 0)
        # the retries wait --webhook-retry-min (1s), then twice that
        sent = [r["time"] for r in rcv.events()[1:]]
        self.assertGreaterEqual(sent[1] - sent[0], 0.9)
        self.assertGreaterEqual(sent[2] - sent[1], 1.9)
        self.assertEqual(len({r["body"] for r in rcv.events()[1:]}), 1)  # the same event
        text = self.ig("webhook", "deliveries", "flaky").out
        self.assertEqual(text.count("HTTP 500"), 2, text)
        self.assertEqual(text.count("HTTP 200"), 1, text)

    def test_change_made_while_killed_is_delivered_after_restart(self):
        rcv = self.receiver()
        self.create("after-crash", rcv)
        d = self.daemon()
        d.kill9()
        self.ig("version", "revoke", "web-ubuntu", "v2", "--in", "30d", "--message", "eol")
        self.assertEqual(len(rcv.events()), 1)  # nothing sends: the event waits in the store
        self.assertEqual(deliveries(self.db, "after-crash")[0]["state"], "pending")
        d.start()
        reqs = rcv.wait_for(lambda rs: len(rs) >= 2, what="the event after restart")
        e = reqs[1]["json"]
        self.assertEqual(e["event_action"], "schedule-revocation")
        self.assertEqual(e["event_payload"]["version"]["status"], "REVOCATION_SCHEDULED")
        self.assertIsNone(reqs[1]["problem"])
        self.wait(lambda: deliveries(self.db, "after-crash")[0]["state"] == "delivered",
                  msg="recorded as delivered")

    def test_loopback_refused_without_allow(self):
        rcv = self.receiver()
        r = self.ig("webhook", "create", "--name", "local", "--url", rcv.url, "--secret-file",
                    self.secret_file, "--ca-file", self.ca, code=2)
        self.assertIn("refused to connect to 127.0.0.1: a loopback address", r.err)
        self.assertIn("--webhook-allow-network", r.err)
        self.assertEqual(r.err.count("\n"), 1, r.err)
        self.assertEqual(rcv.events(), [])
        self.assertEqual(self.ig("--json", "webhook", "list").json(), [])
        # created without asking, the server refuses it at delivery time too
        self.ig("webhook", "create", "--name", "local", "--url", rcv.url, "--secret-file",
                self.secret_file, "--no-verify")
        d = self.daemon(allow=False)
        self.ig("channel", "set", "web-ubuntu", "staging", "v2")
        got = self.wait(lambda: [a for x in deliveries(self.db, "local") for a in x["log"]],
                        msg="a logged attempt")
        self.assertEqual(got[0]["status"], 0)
        self.assertIn("loopback", got[0]["error"])
        self.assertEqual(deliveries(self.db, "local")[0]["state"], "pending")
        self.assertEqual(rcv.events(), [])
        self.assertIn("event=webhook_attempt webhook=local", d.log())

    def test_order_per_webhook_and_4xx_gives_up(self):
        rcv = self.receiver(answers=[200, 503, 404])
        self.create("ordered", rcv)
        self.ig("channel", "set", "web-ubuntu", "staging", "v2")
        self.ig("channel", "set", "web-ubuntu", "staging", "v1", code=1)  # revoked: refused
        self.ig("channel", "set", "web-ubuntu", "development", "v2")
        self.ig("channel", "unset", "web-ubuntu", "development")
        self.daemon()
        reqs = rcv.wait_for(lambda rs: len(rs) >= 5, what="every event")
        ids = [r["json"]["event_id"] for r in reqs[1:]]
        # 503 is retried before anything else goes; 404 fails the event and the next goes
        self.assertEqual(ids[0], ids[1])
        self.assertEqual(len(set(ids[1:])), 3)
        self.assertEqual(ids[1:], sorted(ids[1:]))  # ULIDs: creation order
        states = {x["event_id"]: x["state"] for x in self.wait(
            lambda: (lambda ds: ds if all(x["state"] != "pending" for x in ds) else None)(
                deliveries(self.db, "ordered")), msg="all finished")}
        self.assertEqual(states[ids[0]], "failed")
        self.assertEqual([states[i] for i in ids[2:]], ["delivered", "delivered"])
        last = reqs[-1]["json"]["event_payload"]
        self.assertEqual(last["channel"]["name"], "development")
        self.assertEqual(last["version"]["name"], "")  # unassigned
        self.assertEqual(last["previous_version"]["name"], "v2")

    def test_filters_and_every_path(self):
        rcv = self.receiver()
        self.create("web", rcv, "--event", "assign", "--event", "create", "--event", "complete",
                    "--event", "delete", "--bucket", "web-ubuntu")
        manifest = os.path.join(FIX, "manifests", "web-ubuntu-v3.json")
        self.ig("import", manifest, "--bucket", "web-ubuntu", "--fingerprint", "web-4",
                "--channel", "canary")
        self.ig("import", manifest, "--bucket", "golden-base", "--fingerprint", "other")
        self.ig("version", "revoke", "web-ubuntu", "web-4")  # not subscribed
        self.ig("channel", "set", "web-ubuntu", "staging", "v2")
        self.ig("channel", "unset", "web-ubuntu", "canary")
        self.ig("version", "restore", "web-ubuntu", "web-4")
        self.ig("version", "delete", "web-ubuntu", "web-4")
        self.daemon()
        want = ["create", "complete", "assign", "assign", "assign", "delete"]
        reqs = rcv.wait_for(lambda rs: len(rs) >= 1 + len(want), what="the filtered events")
        time.sleep(0.3)  # a quiet period: an event the filters should have kept out would come now
        reqs = rcv.events()
        self.assertEqual([r["json"]["event_action"] for r in reqs[1:]], want)
        for r in reqs[1:]:
            self.assertEqual(r["json"]["event_payload"]["bucket"]["name"], "web-ubuntu")
        self.assertNotIn("builds", reqs[1]["json"]["event_payload"])  # HCP: create has none
        dele = reqs[-1]["json"]["event_payload"]
        self.assertEqual(dele["version"]["fingerprint"], "web-4")
        self.assertEqual(len(dele["builds"]), 2)

    def test_redeliver(self):
        rcv = self.receiver()
        self.create("again", rcv)
        self.daemon()
        self.ig("channel", "set", "web-ubuntu", "staging", "v2")
        first = rcv.wait_for(lambda rs: len(rs) >= 2)[1]["json"]["event_id"]
        self.wait(lambda: deliveries(self.db, "again")[0]["state"] == "delivered",
                  msg="the first delivery recorded")
        r = self.ig("--json", "webhook", "redeliver", first)
        self.assertEqual([x["webhook"] for x in r.json()], ["again"])
        reqs = rcv.wait_for(lambda rs: len(rs) >= 3, what="the redelivery")
        self.assertEqual(reqs[2]["json"]["event_id"], first)
        ds = self.wait(lambda: (lambda ds: ds if all(x["state"] == "delivered" for x in ds)
                                else None)(deliveries(self.db, "again")), msg="delivered")
        self.assertEqual([x["redelivery"] for x in ds], [True, False])
        r = self.ig("webhook", "redeliver", "packer.event:NOPE", code=2)
        self.assertIn("never sent", r.err)

    def test_api(self):
        rcv = self.receiver()
        admin = self.ig("--json", "token", "create", "--name", "ops", "--role", "admin").json()
        writer = self.ig("--json", "token", "create", "--name", "ci", "--role", "write").json()
        d = self.daemon()

        def call(method, path, body=None, token=admin["secret"]):
            data = json.dumps(body).encode() if body is not None else None
            code, out, _ = d.request(method, path, data, {"Authorization": "Bearer " + token,
                                                          "Content-Type": "application/json"})
            return code, json.loads(out or b"{}")

        code, out = call("POST", "/v1/webhooks", {"name": "api", "url": rcv.url},
                         token=writer["secret"])
        self.assertEqual(code, 403, out)
        code, out = call("POST", "/v1/webhooks", {"name": "api", "url": rcv.url,
                                                  "secret": SECRET, "events": ["revoke"]})
        self.assertEqual(code, 200, out)
        self.assertNotIn("secret", out)
        self.assertEqual(rcv.events()[0]["json"]["event_action"], "test")
        self.assertIsNone(rcv.events()[0]["problem"])
        code, out = call("POST", "/v1/webhooks", {"name": "api", "url": rcv.url,
                                                  "secret": SECRET})
        self.assertEqual((code, out["code"]), (409, 6), out)
        # a secret made by the server is answered once and signs the deliveries
        rcv2 = self.receiver()
        code, out = call("POST", "/v1/webhooks", {"name": "made", "url": rcv2.url})
        self.assertEqual(code, 200, out)
        rcv2.secret = out["secret"]
        self.assertRegex(out["secret"], "^[0-9a-f]{64}$")
        code, out = call("GET", "/v1/webhooks")
        self.assertEqual([w["name"] for w in out["webhooks"]], ["api", "made"])
        self.assertNotIn(SECRET, json.dumps(out))
        self.assertNotIn(rcv2.secret, json.dumps(out))
        code, out = call("PATCH", "/packer/2023-01-01/organizations/o/projects/p/buckets/"
                         "web-ubuntu/versions/v2", {"revoke_in": "0s"})
        self.assertEqual(code, 200, out)
        got = rcv.wait_for(lambda rs: len(rs) >= 2, timeout=10)[1]
        self.assertEqual(got["json"]["event_action"], "revoke")
        self.assertEqual(got["json"]["event_payload"]["actor"]["principal_id"], "ops")
        r2 = rcv2.wait_for(lambda rs: len(rs) >= 2)  # the revoke and its channel rollback
        self.assertIsNone(r2[1]["problem"])
        code, out = call("GET", "/v1/webhooks/api/deliveries")
        self.assertEqual(code, 200, out)
        self.assertEqual(out["deliveries"][0]["action"], "revoke")
        code, out = call("POST", "/v1/webhooks/api/redeliver", {"event_id": got["json"]["event_id"]})
        self.assertEqual(code, 200, out)
        rcv.wait_for(lambda rs: len(rs) >= 3)
        code, out = call("DELETE", "/v1/webhooks/made")
        self.assertEqual(code, 200, out)
        code, out = call("GET", "/v1/webhooks/made")
        self.assertEqual(code, 404, out)
        d.stop()
        # the server refuses what its own allow list does not cover
        d2 = self.daemon(allow=False)
        data = json.dumps({"name": "nope", "url": rcv.url}).encode()
        code, out, _ = d2.request("POST", "/v1/webhooks", data,
                                  {"Authorization": "Bearer " + admin["secret"]})
        self.assertEqual(code, 422, out)
        self.assertIn(b"loopback", out)
        for daemon in (d, d2):
            self.assertNotIn(SECRET, daemon.log())
            self.assertNotIn(rcv2.secret, daemon.log())

    def test_secret_kept_private(self):
        rcv = self.receiver()
        self.create("private", rcv)
        for suffix in ("", "-wal", "-shm"):
            p = self.db_path + suffix
            if os.path.exists(p):
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600, p)
        listed = self.ig("--json", "webhook", "list").out + self.ig("webhook", "list").out
        audit = self.ig("--json", "audit", "list").out
        self.assertIn("webhook.create", audit)
        for text in (listed, audit):
            self.assertNotIn(SECRET, text)
        # a store others may read is no place for a secret
        os.chmod(self.db_path, 0o644)
        r = self.ig("webhook", "create", "--name", "second", "--url", rcv.url, "--secret-file",
                    self.secret_file, "--no-verify", code=1)
        self.assertIn("mode 644", r.err)
        self.assertIn("chmod 600", r.err)


class EventsReplicas(EventsBase):
    """Two replicas on one PostgreSQL database: every event is delivered exactly once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = pgserver.PgServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.pg.cleanup()
        super().tearDownClass()

    def test_two_replicas_deliver_each_event_once(self):
        db = self.pg.create_database("events")
        self.build_registry(db)
        rcv = self.receiver()
        self.create("shared", rcv, db=db)
        a = self.daemon(db=db, name="a")
        b = self.daemon(db=db, name="b")
        n = 0
        for i in range(6):  # 24 assign events, made on the command line
            for ch in ("blue", "green"):
                self.ig("channel", "set", "web-ubuntu", ch, "v2", db=db)
                self.ig("channel", "set", "web-ubuntu", ch, "v3", db=db)
                n += 2
        reqs = rcv.wait_for(lambda rs: len(rs) >= 1 + n, timeout=60, what="every event")
        time.sleep(1.5)  # a quiet period: a duplicate would come now (both sweep every second)
        reqs = rcv.events()[1:]
        ids = [r["json"]["event_id"] for r in reqs]
        self.assertEqual(len(ids), n)
        self.assertEqual(len(set(ids)), n, "an event was sent twice")
        self.assertEqual(ids, sorted(ids), "out of order")
        for r in reqs:
            self.assertIsNone(r["problem"])
        ds = self.wait(lambda: (lambda ds: ds if all(x["state"] == "delivered" for x in ds)
                                else None)(deliveries(db, "shared")), msg="all recorded")
        self.assertEqual(len(ds), n)
        self.assertTrue(all(x["attempts"] == 1 and len(x["log"]) == 1 for x in ds))
        logs = a.log() + b.log()
        self.assertEqual(logs.count("event=webhook_attempt webhook=shared"), n)


if __name__ == "__main__":
    unittest.main()
