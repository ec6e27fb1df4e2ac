"""Integration tests for image usage, the run list and the revocation dry run (issue 15).

Issue 15's "Done when", as written: the fixtures registry (setup-registry.sh), then
`imagegate version restore golden-base v1`, `channel set golden-base production v1` and
`channel set app-java production v1`; two POST /v1/scan calls -- workspace web-prod on
plans/usage-web-prod.plan.json (aws_instance.bastion on web-ubuntu v1), workspace batch on
plans/usage-batch.plan.json (aws_instance.worker on app-java v1) --; then `imagegate usage
web-ubuntu v1` names web-prod and aws_instance.bastion, and `imagegate version revoke
golden-base v1 --dry-run` names app-java v1 as inheriting, both production channels as
emptied and batch, with the audit trail and every channel unchanged afterwards.

Around it: GET /v1/runs (run-task deliveries from the fake HCP Terraform and scans alike,
newest first, paged by position), GET /v1/usage, the dry run over the API (admin only, no
audit entry), what is never recorded (a scan without a workspace, a local scan, mentions,
pre_plan findings, a sensitive value), and --usage-retention 0. The real daemon on
127.0.0.1 port 0 over TLS. With IMAGEGATE_TEST_PG_URL set (ctest's
integration/test_usage_pg) the store is a PostgreSQL database. Python standard library only.
"""

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import igtest  # noqa: E402
import pgserver  # noqa: E402
from fake_tfc import FakeTFC  # noqa: E402
from igtest import BIN, KEY_NEW, KEY_OLD, TOKEN, Daemon, make_certs, wait_for  # noqa: E402

FIX = igtest.FIXTURES
PLANS = os.path.join(FIX, "plans")
PG_URL = os.environ.get("IMAGEGATE_TEST_PG_URL")
BASE = "/packer/2023-01-01/organizations/my-org/projects/my-project"
WEB_V1 = "ami-0d4c3b2a1f0e9d8c7"
JAVA_V1 = "ami-0fedcba9876543210"


def ig(db, *args):
    """imagegate --db db ARGS (igtest.Result: code, out, err)."""
    return igtest.run("--db", db, *args, timeout=120)


def ig_ok(db, *args):
    r = ig(db, *args)
    assert r.code == 0, r
    return r.out


def read_plan(name):
    with open(os.path.join(PLANS, name)) as f:
        return json.load(f)


class UsageTest(unittest.TestCase):
    counter = 0

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-usage-")
        cls.ca, cls.cert, cls.key = make_certs(cls.tmp)
        with open(os.path.join(cls.tmp, "hmac.keys"), "w") as f:
            f.write(KEY_OLD + "\n" + KEY_NEW + "\n")
        os.chmod(os.path.join(cls.tmp, "hmac.keys"), 0o600)
        cls.db = "sqlite:" + os.path.join(cls.tmp, "registry.db")
        if PG_URL:
            cls.pg_name = "usage_%d" % os.getpid()
            cls.db = pgserver.create_database(PG_URL, cls.pg_name)
        subprocess.run(["sh", os.path.join(FIX, "setup-registry.sh"), BIN, cls.db], check=True,
                       capture_output=True, timeout=120)
        ig_ok(cls.db, "version", "restore", "golden-base", "v1")
        ig_ok(cls.db, "channel", "set", "golden-base", "production", "v1")
        ig_ok(cls.db, "channel", "set", "app-java", "production", "v1")
        cls.tokens = {}
        for role in ("read", "write", "admin"):
            out = ig_ok(cls.db, "token", "create", "--name", "t-" + role, "--role", role)
            cls.tokens[role] = [w for w in out.split() if w.startswith("igt_")][0]
        cls.fake = FakeTFC(cls.cert, cls.key, TOKEN).start()
        for name in ("usage-web-prod", "mentions"):
            with open(os.path.join(PLANS, name + ".plan.json"), "rb") as f:
                cls.fake.plans[name] = f.read()
        with open(os.path.join(FIX, "config", "hardcoded.tar.gz"), "rb") as f:
            cls.fake.configs["hardcoded"] = f.read()
        cls.daemon = Daemon(cls.tmp, "usage", cls.db, cls.fake, cls.ca, cls.cert,
                            cls.key).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        cls.fake.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if PG_URL:
            pgserver.drop_database(PG_URL, cls.pg_name)

    # -- helpers --------------------------------------------------------------
    def call(self, method, path, token="read", body=None, raw=None, daemon=None):
        """(status, JSON or text, headers) of an API call with the role's token."""
        headers = {"Authorization": "Bearer " + self.tokens[token]} if token else {}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                             else None)
        code, text, hdrs = (daemon or self.daemon).request(method, path, data, headers)
        try:
            return code, json.loads(text), hdrs
        except ValueError:
            return code, text.decode("utf-8", "replace"), hdrs

    def scan(self, plan, workspace=None, organization="my-org", token="read", daemon=None):
        """POST /v1/scan of plan (a fixture name or a plan object)."""
        q = {"format": "json"}
        if workspace is not None:
            q["workspace"] = workspace
        if organization is not None:
            q["organization"] = organization
        if isinstance(plan, dict):
            raw = json.dumps(plan).encode()
        else:
            with open(os.path.join(PLANS, plan + ".plan.json"), "rb") as f:
                raw = f.read()
        code, doc, hdrs = self.call("POST", "/v1/scan?" + urllib.parse.urlencode(q), token,
                                    raw=raw, daemon=daemon)
        self.assertEqual(code, 200, doc)
        return doc, hdrs

    def usage(self, bucket, version=None, **q):
        q["bucket"] = bucket
        if version:
            q["version"] = version
        code, doc, _ = self.call("GET", "/v1/usage?" + urllib.parse.urlencode(q))
        self.assertEqual(code, 200, doc)
        return doc

    def runs(self, **q):
        code, doc, _ = self.call("GET", "/v1/runs?" + urllib.parse.urlencode(q))
        self.assertEqual(code, 200, doc)
        return doc

    def workspaces(self, doc):
        return {w["workspace"]: w for w in doc["workspaces"]}

    def channels(self):
        return {b: ig_ok(self.db, "--json", "channel", "list", b)
                for b in ("golden-base", "app-java", "web-ubuntu")}

    def audit(self):
        return ig_ok(self.db, "--json", "audit", "list")

    def deliver(self, stage="post_plan", plan="usage-web-prod", config="hardcoded",
                workspace="tfc-web"):
        UsageTest.counter += 1
        trid = "taskrs-usage%d" % UsageTest.counter
        name = "pre_plan.json" if stage == "pre_plan" else "post_plan.json"
        with open(os.path.join(FIX, "runtask", name)) as f:
            p = json.load(f)
        p.update({"stage": stage, "task_result_id": trid, "run_id": "run-usage%d" % self.counter,
                  "workspace_name": workspace, "organization_name": "my-org",
                  "task_result_callback_url": self.fake.callback_url(trid),
                  "configuration_version_download_url": self.fake.config_url(config)})
        if stage != "pre_plan":
            p["plan_json_api_url"] = self.fake.plan_url(plan)
        code, body, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 200, body)
        self.assertIsNotNone(self.fake.wait_final(trid, 30), self.daemon.log()[-3000:])
        # the run is recorded once the final status is out: wait for that state
        run = wait_for(lambda: [r for r in self.runs(workspace=workspace)["runs"]
                                if r["task_result_id"] == trid], 15)
        self.assertTrue(run, self.daemon.log()[-3000:])
        return run[0]

    # -- issue 15's "Done when" -----------------------------------------------
    def test_01_done_when(self):
        doc, hdrs = self.scan("usage-web-prod", workspace="web-prod")
        self.assertEqual(doc["verdict"], "fail")
        self.assertRegex(hdrs.get("X-Imagegate-Run-Id", ""), r"^[0-9A-Z]{26}$")
        self.scan("usage-batch", workspace="batch")

        out = ig_ok(self.db, "usage", "web-ubuntu", "v1")
        self.assertIn("web-prod", out)
        self.assertIn("aws_instance.bastion", out)
        self.assertNotIn("batch", out)
        u = json.loads(ig_ok(self.db, "--json", "usage", "web-ubuntu", "v1"))
        self.assertEqual(sorted(u), ["bucket", "since", "version", "workspaces"])
        self.assertEqual((u["bucket"], u["version"], u["since"]), ("web-ubuntu", "v1", None))
        ws = self.workspaces(u)["web-prod"]
        self.assertEqual(ws["organization"], "my-org")
        self.assertEqual([(r["address"], r["image"], r["version"]) for r in ws["resources"]],
                         [("aws_instance.bastion", WEB_V1, "v1")])
        self.assertEqual(ws["last_seen"], ws["resources"][0]["last_seen"])

        audit, channels = self.audit(), self.channels()
        p = ig(self.db, "version", "revoke", "golden-base", "v1", "--dry-run")
        self.assertEqual(p.code, 0, p.err)
        text = p.out
        self.assertIn("app-java v1", text)
        self.assertIn("golden-base/production: v1 -> (emptied)", text)
        self.assertIn("app-java/production: v1 -> (emptied)", text)
        self.assertIn("my-org/batch (app-java v1", text)
        self.assertIn("nothing was changed", text)
        d = json.loads(ig_ok(self.db, "--json", "version", "revoke", "golden-base", "v1",
                             "--dry-run"))
        self.assertEqual(sorted(d), ["channels", "inherits", "workspaces"])
        self.assertEqual(d["inherits"], [{"bucket": "app-java", "version": "v1"}])
        self.assertEqual(sorted((c["bucket"], c["channel"], c["from"], c["to"])
                                for c in d["channels"]),
                         [("app-java", "production", "v1", None),
                          ("golden-base", "production", "v1", None)])
        self.assertEqual([(w["organization"], w["workspace"], w["bucket"], w["version"])
                          for w in d["workspaces"]], [("my-org", "batch", "app-java", "v1")])
        self.assertEqual(self.audit(), audit)
        self.assertEqual(self.channels(), channels)
        self.assertIn("VERSION_ACTIVE", ig_ok(self.db, "version", "show", "app-java", "v1"))

    def test_02_dry_run_over_the_api(self):
        audit, channels = self.audit(), self.channels()
        path = BASE + "/buckets/golden-base/versions/golden-1"
        body = {"revoke_in": "0s", "revocation_message": "preview", "dry_run": True}
        for role in ("read", "write"):
            code, doc, _ = self.call("PATCH", path, role, body)
            self.assertEqual(code, 403, doc)
        code, doc, _ = self.call("PATCH", path, "admin", body)
        self.assertEqual(code, 200, doc)
        self.assertEqual(sorted(doc), ["channels", "inherits", "workspaces"])
        self.assertEqual(doc["inherits"], [{"bucket": "app-java", "version": "v1"}])
        self.assertEqual(len(doc["channels"]), 2)
        # scheduled: the same inherits, no rollback
        code, doc, _ = self.call("PATCH", path, "admin", {"revoke_in": "30d", "dry_run": True})
        self.assertEqual((code, doc["channels"]), (200, []))
        self.assertEqual(len(doc["inherits"]), 1)
        code, doc, _ = self.call("PATCH", path, "admin", {"dry_run": True})
        self.assertEqual(code, 400, doc)
        code, doc, _ = self.call("PATCH", path, "admin", {"restore": True, "dry_run": True})
        self.assertEqual(code, 400, doc)
        # an already revoked version: refused as the revocation would be
        code, doc, _ = self.call("PATCH", BASE + "/buckets/web-ubuntu/versions/web-1", "admin",
                                 body)
        self.assertEqual(code, 409, doc)
        self.assertEqual(self.audit(), audit)
        self.assertEqual(self.channels(), channels)

    # -- GET /v1/runs and GET /v1/usage -----------------------------------------
    def test_03_runs_listed_and_paged(self):
        self.scan("usage-batch", workspace="pager")
        self.scan("usage-web-prod", workspace="pager")
        _, hdrs = self.scan("usage-batch", workspace="pager")
        runs = self.runs(workspace="pager")["runs"]
        self.assertEqual(len(runs), 3)
        self.assertEqual(runs[0]["id"], hdrs["X-Imagegate-Run-Id"])
        stamps = [r["evaluated_at"] for r in runs]
        self.assertEqual(stamps, sorted(stamps, reverse=True))
        r = runs[1]
        self.assertEqual((r["source"], r["stage"], r["verdict"], r["organization"]),
                         ("scan", "scan", "fail", "my-org"))
        self.assertEqual(r["summary"], {"resources": 1, "gated": 1, "images": 1, "info": 0,
                                        "warn": 1, "fail": 1})
        self.assertTrue(r["result_url"].startswith("https://imagegate.test/results/"))
        code, page, _ = self.daemon.request("GET", r["result_url"][len("https://imagegate.test"):])
        self.assertEqual(code, 200)
        self.assertIn(b"workspace:     pager", page)
        self.assertIn(b"aws_instance.bastion", page)
        # pages by position
        seen, token = [], ""
        for _ in range(5):
            doc = self.runs(workspace="pager", **{"pagination.page_size": 2,
                                                  "pagination.next_page_token": token})
            seen += [x["id"] for x in doc["runs"]]
            token = doc["pagination"]["next_page_token"]
            if not token:
                break
        self.assertEqual(seen, [x["id"] for x in runs])
        self.assertEqual(self.runs(workspace="pager", organization="other")["runs"], [])
        self.assertEqual(self.runs(workspace="pager", since="2099-01-01T00:00:00Z")["runs"], [])
        self.assertEqual(len(self.runs(workspace="pager", since="1h")["runs"]), 3)
        for q, want in (("since=yesterday", 400), ("pagination.next_page_token=zz", 400),
                        ("pagination.page_size=5000", 400)):
            code, doc, _ = self.call("GET", "/v1/runs?" + q)
            self.assertEqual(code, want, (q, doc))
        self.assertEqual(self.call("GET", "/v1/runs", token=None)[0], 401)

    def test_04_usage_api(self):
        self.scan("usage-batch", workspace="api-ws")
        doc = self.usage("golden-base", "v1")
        self.assertEqual(sorted(doc), ["bucket", "pagination", "since", "version", "workspaces"])
        res = self.workspaces(doc)["api-ws"]["resources"]
        self.assertEqual([(r["address"], r["image"], r["bucket"], r["version"]) for r in res],
                         [("aws_instance.worker", JAVA_V1, "app-java", "v1")])
        self.assertNotIn("api-ws", self.workspaces(self.usage("golden-base", "v1",
                                                                since="2099-01-01T00:00:00Z")))
        self.assertIn("api-ws", self.workspaces(self.usage("app-java")))
        for q, want in (("", 400), ("bucket=no", 400), ("bucket=nope-bucket", 404),
                        ("bucket=app-java&version=v9", 404), ("bucket=app-java&since=x", 400)):
            code, doc, _ = self.call("GET", "/v1/usage?" + q)
            self.assertEqual(code, want, (q, doc))
        p = ig(self.db, "usage", "nope-bucket")
        self.assertEqual(p.code, 2, p.err)
        self.assertEqual(ig(self.db, "usage").code, 2)
        self.assertEqual(ig(self.db, "usage", "a", "b", "c").code, 2)
        self.assertEqual(ig(self.db, "usage", "app-java", "--since", "soon").code, 2)

    # -- run-task deliveries ------------------------------------------------------
    def test_05_run_task_deliveries_record_usage_but_not_pre_plan(self):
        run = self.deliver(workspace="tfc-web")
        self.assertEqual((run["source"], run["stage"], run["verdict"], run["organization"]),
                         ("run_task", "post_plan", "fail", "my-org"))
        self.assertTrue(run["run_id"].startswith("run-usage"))
        self.assertTrue(run["result_url"].startswith("https://imagegate.test/results/"))
        ws = self.workspaces(self.usage("web-ubuntu", "v1"))["tfc-web"]
        self.assertEqual(ws["resources"][0]["address"], "aws_instance.bastion")
        # pre_plan: a run, but configuration findings are not usage
        run = self.deliver(stage="pre_plan", workspace="tfc-config")
        self.assertEqual((run["stage"], run["verdict"]), ("pre_plan", "fail"))
        for bucket in ("web-ubuntu", "app-java", "base-al2023"):
            self.assertNotIn("tfc-config", self.workspaces(self.usage(bucket)))

    # -- what is never recorded -----------------------------------------------------
    def test_06_what_is_not_recorded(self):
        before = len(self.runs(**{"pagination.page_size": 1000})["runs"])
        # a scan without a workspace
        _, hdrs = self.scan("usage-batch", workspace=None)
        self.assertNotIn("X-Imagegate-Run-Id", hdrs)
        self.assertNotIn("X-Imagegate-Result-Url", hdrs)
        # a local scan
        p = ig(self.db, "scan", os.path.join(PLANS, "usage-batch.plan.json"), "--workspace",
               "local-ws", "--organization", "my-org")
        self.assertEqual(p.code, 0, p.err)
        self.assertEqual(len(self.runs(**{"pagination.page_size": 1000})["runs"]), before)
        self.assertNotIn("local-ws", self.workspaces(self.usage("app-java")))
        # mentions: aws_instance.worker's tag names app-java's image, an SSM parameter
        # base-al2023's; only the worker's ami (web-ubuntu v2) is usage
        self.scan("mentions", workspace="mention-ws")
        self.assertIn("mention-ws", self.workspaces(self.usage("web-ubuntu", "v2")))
        self.assertNotIn("mention-ws", self.workspaces(self.usage("app-java")))
        self.assertNotIn("mention-ws", self.workspaces(self.usage("base-al2023")))
        # a sensitive image attribute: bucket and version, never the value
        plan = read_plan("usage-batch.plan.json")
        for rc in plan["resource_changes"]:
            rc["change"]["after_sensitive"]["ami"] = True
        for r in plan["planned_values"]["root_module"]["resources"]:
            r["sensitive_values"]["ami"] = True
        doc, _ = self.scan(copy.deepcopy(plan), workspace="secret-ws")
        self.assertNotIn(JAVA_V1, json.dumps(doc))
        res = self.workspaces(self.usage("app-java", "v1"))["secret-ws"]["resources"]
        self.assertEqual([(r["address"], r["image"], r["version"]) for r in res],
                         [("aws_instance.worker", None, "v1")])
        self.assertIn("(sensitive)", ig_ok(self.db, "usage", "app-java"))
        if not PG_URL:
            import sqlite3
            con = sqlite3.connect(self.db[len("sqlite:"):])
            rows = con.execute("SELECT image, image_key FROM image_usage WHERE workspace ="
                               " 'secret-ws'").fetchall()
            con.close()
            self.assertEqual(rows, [(None, "(sensitive) app-java java-1")])
        # a workspace that is not text
        code, doc, _ = self.call("POST", "/v1/scan?workspace=%FF%FE", raw=b"{}")
        self.assertEqual(code, 400, doc)

    def test_07_retention_zero_records_nothing(self):
        db = "sqlite:" + os.path.join(self.tmp, "zero.db")
        subprocess.run(["sh", os.path.join(FIX, "setup-registry.sh"), BIN, db], check=True,
                       capture_output=True, timeout=120)
        out = ig_ok(db, "token", "create", "--name", "z", "--role", "read")
        saved = self.tokens["read"]
        self.tokens["read"] = [w for w in out.split() if w.startswith("igt_")][0]
        try:
            d = Daemon(self.tmp, "zero", db, self.fake, self.ca, self.cert, self.key).start()
            try:
                _, hdrs = self.scan("usage-batch", workspace="kept", daemon=d)
                self.assertIn("X-Imagegate-Run-Id", hdrs)
            finally:
                d.stop()
            self.assertIn("kept", ig_ok(db, "usage", "app-java"))
            d = Daemon(self.tmp, "zero2", db, self.fake, self.ca, self.cert, self.key,
                       extra=["--usage-retention", "0s"]).start()
            try:
                _, hdrs = self.scan("usage-batch", workspace="off", daemon=d)
                self.assertNotIn("X-Imagegate-Run-Id", hdrs)
                self.assertNotIn("X-Imagegate-Result-Url", hdrs)
                self.assertNotIn("off", ig_ok(db, "usage", "app-java"))
                code, doc, _ = self.call("GET", "/v1/runs", daemon=d)
                self.assertEqual((code, [r["workspace"] for r in doc["runs"]]), (200, ["kept"]))
            finally:
                d.stop()
        finally:
            self.tokens["read"] = saved


if __name__ == "__main__":
    unittest.main(verbosity=2)
