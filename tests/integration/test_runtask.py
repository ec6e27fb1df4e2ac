"""Integration tests for `imagegate serve` and the run-task protocol.

Starts the real daemon on 127.0.0.1 port 0 with a temporary SQLite store
(tests/fixtures/setup-registry.sh), certificates made now with the openssl
command line, and a fake HCP Terraform (fake_tfc.py) that serves plans
through a 307 to another host name, answers 204 on demand, serves
configuration archives through a 302, records every callback and can fail
them. Python standard library only.
"""

import json
import os
import shutil
import signal
import sqlite3
import ssl
import sys
import tempfile
import time
import unittest
import warnings
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import igtest  # noqa: E402
from fake_tfc import FakeTFC  # noqa: E402
from igtest import (BIN, KEY_NEW, KEY_OLD, TOKEN, Daemon, make_certs, run_ok,  # noqa: E402
                    sign, wait_for)

FIX = igtest.FIXTURES


class RunTaskTest(unittest.TestCase):
    counter = 0

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-runtask-")
        cls.ca, cls.cert, cls.key = make_certs(cls.tmp)
        with open(os.path.join(cls.tmp, "hmac.keys"), "w") as f:
            f.write(KEY_OLD + "\n" + KEY_NEW + "\n")
        os.chmod(os.path.join(cls.tmp, "hmac.keys"), 0o600)
        cls.db_path = os.path.join(cls.tmp, "registry.db")
        cls.db = "sqlite:" + cls.db_path
        run_ok("sh", os.path.join(FIX, "setup-registry.sh"), BIN, cls.db)
        cls.fake = FakeTFC(cls.cert, cls.key, TOKEN).start()
        for name in ("clean", "hardcoded-literal", "other-types", "mentions", "scale",
                     "freshness", "launch-resolved"):
            with open(os.path.join(FIX, "plans", name + ".plan.json"), "rb") as f:
                cls.fake.plans[name] = f.read()
        for name in ("hardcoded", "hostile"):
            with open(os.path.join(FIX, "config", name + ".tar.gz"), "rb") as f:
                cls.fake.configs[name] = f.read()
        cls.daemon = Daemon(cls.tmp, "tls", cls.db, cls.fake, cls.ca, cls.cert, cls.key).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        cls.fake.stop()
        if os.environ.get("IG_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers ------------------------------------------------------------
    def payload(self, stage="post_plan", plan="clean", config=None, outcomes=True):
        RunTaskTest.counter += 1
        trid = "taskrs-%s%d" % (self._testMethodName[-12:].replace("_", ""), RunTaskTest.counter)
        with open(os.path.join(FIX, "runtask", "pre_plan.json" if stage == "pre_plan"
                               else "post_plan.json")) as f:
            p = json.load(f)
        p["stage"] = stage
        p["task_result_id"] = trid
        p["run_id"] = "run-" + trid[7:]
        p["task_result_callback_url"] = self.fake.callback_url(trid)
        if stage != "pre_plan":
            p["plan_json_api_url"] = self.fake.plan_url(plan)
        p["configuration_version_download_url"] = self.fake.config_url(config or "none")
        p["capabilities"] = {"outcomes": outcomes}
        return p

    def deliver(self, daemon=None, **kw):
        d = daemon or self.daemon
        p = self.payload(**kw)
        t0 = time.time()
        code, body, _ = d.post_runtask(p)
        self.assertEqual(code, 200, body)
        self.assertLess(time.time() - t0, 2.0)
        return p

    def final(self, p, timeout=30):
        doc = self.fake.wait_final(p["task_result_id"], timeout)
        self.assertIsNotNone(doc, "no final callback for %s\n%s" % (p["task_result_id"],
                                                                     self.daemon.log()[-4000:]))
        return doc

    def assert_limits(self, doc):
        data = doc["data"]
        self.assertEqual(data["type"], "task-results")
        a = data["attributes"]
        self.assertIn(a["status"], ("passed", "failed"))
        self.assertTrue(1 <= len(a["message"]) <= 1000)
        self.assertTrue(a["url"].startswith("https://") and len(a["url"]) <= 500)
        outs = data.get("relationships", {}).get("outcomes", {}).get("data", [])
        self.assertLessEqual(len(outs), 250)
        for o in outs:
            self.assertEqual(o["type"], "task-result-outcomes")
            oa = o["attributes"]
            self.assertTrue(1 <= len(oa["outcome-id"]) <= 64)
            self.assertTrue(1 <= len(oa["description"]) <= 1000)
            self.assertNotIn("\n", oa["description"])
            self.assertLessEqual(len(oa.get("body", "")), 10000)
            if "url" in oa:
                self.assertLessEqual(len(oa["url"]), 500)
            self.assertLessEqual(len(oa["tags"]), 10)
            for k, labels in oa["tags"].items():
                self.assertLessEqual(len(labels), 32)
                for t in labels:
                    self.assertLessEqual(len(t["label"]), 32)
                    self.assertIn(t["level"], ("none", "info", "warning", "error"))
        return outs

    def assert_one_final(self, p):
        time.sleep(0.3)  # a quiet period: a second final status would come in it
        finals = [r for r, _ in self.fake._finals_ok(p["task_result_id"])]
        self.assertEqual(len(finals), 1, "expected exactly one final status")
        r = finals[0]
        self.assertEqual(r["authorization"], "Bearer " + TOKEN)
        self.assertEqual(r["content_type"], "application/vnd.api+json")

    def assert_token_never_leaked(self):
        with self.fake.lock:
            for r in self.fake.requests:
                if not r["host"].startswith("127.0.0.1:"):
                    self.assertIsNone(r["authorization"],
                                      "token sent to %s%s" % (r["host"], r["path"]))
        self.assertNotIn(TOKEN, self.daemon.log())
        self.assertNotIn(KEY_NEW, self.daemon.log())
        self.assertNotIn("s3cr3t", self.daemon.log())

    def delivery_rows(self, trid):
        con = sqlite3.connect(self.db_path)
        try:
            return con.execute("SELECT state, body FROM deliveries WHERE task_result_id = ?",
                               (trid,)).fetchall()
        finally:
            con.close()

    # -- cases ----------------------------------------------------------------
    def test_01_other_types_fails_with_outcomes(self):
        p = self.deliver(plan="other-types")
        doc = self.final(p)
        self.assert_one_final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        outs = self.assert_limits(doc)
        self.assertGreater(len(outs), 0)
        ids = [o["attributes"]["outcome-id"] for o in outs]
        self.assertTrue(any("aws_launch_configuration.legacy" in i for i in ids), ids)
        fails = [o for o in outs if o["attributes"]["tags"]["Status"][0]["level"] == "error"]
        self.assertTrue(fails)
        self.assertEqual(fails[0]["attributes"]["tags"]["Severity"][0]["level"], "error")
        self.assert_token_never_leaked()
        # finished: state done, body (and token) erased
        rows = self.delivery_rows(p["task_result_id"])
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][0], 1)
        self.assertIsNone(rows[0][1])

    def test_01b_result_url_serves_the_report(self):
        """The result's url is a page of this server (PUBLIC_URL/results/ID, a
        random id): plain text, served without a token, with the run, the
        verdict and every finding; outcomes carry no links of their own (there
        is no page for them); an unknown id is 404."""
        p = self.deliver(plan="other-types")
        doc = self.final(p)
        url = doc["data"]["attributes"]["url"]
        prefix = "https://imagegate.test/results/"
        self.assertTrue(url.startswith(prefix), url)
        rid = url[len(prefix):]
        self.assertRegex(rid, r"^[0-9a-f]{32}$")
        for o in doc["data"]["relationships"]["outcomes"]["data"]:
            self.assertNotIn("url", o["attributes"])
        code, body, headers = self.daemon.request("GET", "/results/" + rid)
        self.assertEqual(code, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"), headers)
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff")
        page = body.decode()
        self.assertIn(p["run_id"], page)
        self.assertIn("failed", page)
        self.assertIn("aws_launch_configuration.legacy", page)
        self.assertIn("aws_emr_cluster.analytics", page)
        self.assertNotIn(TOKEN, page)
        other = self.deliver(plan="clean")
        url2 = self.final(other)["data"]["attributes"]["url"]
        self.assertNotEqual(url2, url)
        code, body, _ = self.daemon.request("GET", "/results/" + url2[len(prefix):])
        self.assertEqual(code, 200)
        self.assertIn("passed", body.decode())
        self.assertNotIn("aws_launch_configuration.legacy", body.decode())
        for bad in ("0" * 32, rid[:-1] + ("0" if rid[-1] != "0" else "1"), "../runtask",
                    rid + "/x", "zz"):
            code, body, _ = self.daemon.request("GET", "/results/" + bad)
            self.assertEqual(code, 404, (bad, body))

    def test_01d_result_page_of_a_huge_report_is_cut(self):
        """A report far larger than the page (scale.plan.json three times over:
        about 2 MB of text) gives a page of at most 1 MiB that ends with the
        note, and is still valid UTF-8."""
        doc = json.loads(self.fake.plans["scale"])
        rcs = doc["resource_changes"]
        grown = []
        for k in (1, 2):
            for rc in rcs:
                c = json.loads(json.dumps(rc))
                c["address"] = "aws_instance.copy%d_%s" % (k, c.get("index", 0))
                grown.append(c)
        doc["resource_changes"] = rcs + grown
        self.fake.plans["scale3"] = json.dumps(doc).encode()
        p = self.deliver(plan="scale3")
        url = self.final(p, timeout=60)["data"]["attributes"]["url"]
        code, body, _ = self.daemon.request("GET", "/results/" + url.rsplit("/", 1)[1])
        self.assertEqual(code, 200)
        self.assertLessEqual(len(body), 1024 * 1024)
        self.assertGreater(len(body), 1000 * 1024)
        page = body.decode("utf-8")  # raises if a character was split
        self.assertTrue(page.rstrip().endswith("for all of it]"), page[-300:])

    def test_01c_no_result_pages_when_retention_is_zero(self):
        db2 = os.path.join(self.tmp, "noresults.db")
        shutil.copy(self.db_path, db2)
        d = Daemon(self.tmp, "noresults", "sqlite:" + db2, self.fake, self.ca, self.cert,
                   self.key, extra=("--result-retention", "0s")).start()
        try:
            p = self.deliver(daemon=d, plan="clean")
            doc = self.final(p)
            self.assertEqual(doc["data"]["attributes"]["url"], p["run_app_url"])
            con = sqlite3.connect(db2)
            self.assertEqual(con.execute("SELECT COUNT(*) FROM results WHERE task_result_id = ?",
                                         (p["task_result_id"],)).fetchone()[0], 0)
            con.close()
        finally:
            d.stop()

    def test_02_clean_passes(self):
        p = self.deliver(plan="clean")
        doc = self.final(p)
        self.assert_one_final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "passed")
        self.assert_limits(doc)

    def test_03_hardcoded_literal_passes_with_warnings(self):
        p = self.deliver(plan="hardcoded-literal")
        doc = self.final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "passed")
        outs = self.assert_limits(doc)
        self.assertGreater(len(outs), 0)
        for o in outs:
            tags = o["attributes"]["tags"]
            self.assertEqual(tags["Status"][0]["level"], "warning")
            self.assertEqual(tags["Severity"][0]["level"], "warning")

    def test_04_without_outcomes_capability(self):
        p = self.deliver(plan="other-types", outcomes=False)
        doc = self.final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        self.assertNotIn("relationships", doc["data"])

    def test_05_verification_request(self):
        before = len(self.fake.requests)
        with open(os.path.join(FIX, "runtask", "verification.json"), "rb") as f:
            body = f.read()
        code, resp, _ = self.daemon.post_runtask(body)
        self.assertEqual(code, 200)
        time.sleep(1.0)  # a quiet period: nothing may follow a verification request
        self.assertEqual(len(self.fake.requests), before)
        self.assertEqual(self.delivery_rows("taskrs-xxxxxxxxxxxxxxxx"), [])

    def test_06_signatures(self):
        p = self.payload()
        body = json.dumps(p).encode()
        # the old key still works (rotation) -- use a body we then drop
        code, _, _ = self.daemon.post_runtask(body, signature=sign(body, "wrong-key"))
        self.assertEqual(code, 401)
        code, _, _ = self.daemon.post_runtask(body, signature=False)
        self.assertEqual(code, 401)
        code, _, _ = self.daemon.post_runtask(body, signature="")
        self.assertEqual(code, 401)
        code, resp, _ = self.daemon.post_runtask(body + b" ", signature=sign(body))
        self.assertEqual(code, 401)
        self.assertEqual(json.loads(resp)["code"], 16)  # HCP's shape: gRPC UNAUTHENTICATED
        self.assertEqual(self.delivery_rows(p["task_result_id"]), [])
        code, _, _ = self.daemon.post_runtask(body, key=KEY_OLD)
        self.assertEqual(code, 200)
        self.final(p)

    def test_07_bad_requests(self):
        for body, needle in ((b"{not json", "malformed JSON"),
                             (b"[]", "JSON object")):
            code, resp, _ = self.daemon.post_runtask(body)
            self.assertEqual(code, 400)
            self.assertIn(needle, json.loads(resp)["message"])
        p = self.payload()
        del p["task_result_callback_url"]
        code, resp, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 400)
        self.assertIn("task_result_callback_url", json.loads(resp)["message"])
        p = self.payload()
        p["payload_version"] = "1"
        code, resp, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 400)
        # a callback on a host that is not allowed never gets the token
        p = self.payload()
        p["task_result_callback_url"] = p["task_result_callback_url"].replace("127.0.0.1", "localhost")
        code, resp, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 400)
        code, _, _ = self.daemon.request("GET", "/runtask")
        self.assertEqual(code, 405)
        code, _, _ = self.daemon.request("GET", "/nope")
        self.assertEqual(code, 404)
        # over --max-body-bytes: 413, or the connection closed while still sending
        try:
            code, _, _ = self.daemon.post_runtask(b"x" * (2 * 1024 * 1024))
            self.assertIn(code, (400, 413))
        except (urllib.error.URLError, ConnectionError, ssl.SSLError):
            pass
        code, _, _ = self.daemon.request("GET", "/healthz")
        self.assertEqual(code, 200)

    def test_08_plan_on_disallowed_host(self):
        p = self.payload()
        p["plan_json_api_url"] = p["plan_json_api_url"].replace("127.0.0.1", "localhost")
        code, _, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 200)
        doc = self.final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        self.assertIn("allowed host", doc["data"]["attributes"]["message"])
        self.assert_token_never_leaked()

    def test_09_duplicate_is_not_evaluated_twice(self):
        p = self.deliver(plan="clean")
        self.final(p)
        code, resp, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 200)
        time.sleep(1.5)  # a quiet period: a second evaluation would call back in it
        self.assertEqual(len(self.fake.callbacks(p["task_result_id"])), 1)

    def test_10_plan_not_ready_then_ready(self):
        p = self.payload(plan="clean")
        p["plan_json_api_url"] = self.fake.plan_url("slow")
        self.fake.plans["slow"] = self.fake.plans["clean"]
        self.fake.not_ready["slow"] = 2
        code, _, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 200)
        doc = self.final(p, timeout=30)
        self.assertEqual(doc["data"]["attributes"]["status"], "passed")
        gets = [r for r in self.fake.requests if r["path"].startswith("/api/v2/plans/slow/")]
        self.assertGreaterEqual(len(gets), 3)
        # waiting 1 s + 2 s for the plan took longer than --running-after 2s
        statuses = [json.loads(r["body"])["data"]["attributes"]["status"]
                    for r in self.fake.callbacks(p["task_result_id"])]
        self.assertEqual(statuses, ["running", "passed"])

    def test_11_callback_503_twice_then_200(self):
        p = self.payload(plan="clean")
        self.fake.fail_next_callbacks(p["task_result_id"], 2)
        code, _, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 200)
        doc = self.final(p, timeout=30)
        self.assertEqual(doc["data"]["attributes"]["status"], "passed")
        time.sleep(0.5)  # a quiet period: no callback after the final one
        self.assertEqual(len(self.fake.callbacks(p["task_result_id"])), 3)
        self.assertEqual(len(self.fake._finals_ok(p["task_result_id"])), 1)

    def test_12_pre_plan_hardcoded_archive(self):
        p = self.deliver(stage="pre_plan", config="hardcoded")
        doc = self.final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        outs = self.assert_limits(doc)
        text = json.dumps(outs)
        self.assertIn("web.tf:3", text)
        self.assert_token_never_leaked()

    def test_13_pre_plan_hostile_archive(self):
        p = self.deliver(stage="pre_plan", config="hostile")
        doc = self.final(p)
        self.assert_limits(doc)
        self.assertIn("refused", doc["data"]["attributes"]["message"])
        work = self.daemon.work
        self.assertEqual(os.listdir(work), [])  # the private folder is gone
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "escape.tf")))
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(work), "escape.tf")))
        self.assertFalse(os.path.exists("/etc/imagegate-owned.tf"))

    def test_14_unsupported_stage_fails_loudly(self):
        p = self.payload(plan="clean")
        p["stage"] = "post_destroy"
        code, _, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 200)
        doc = self.final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        self.assertIn("not supported", doc["data"]["attributes"]["message"])

    def test_15_post_apply_reports_only(self):
        p = self.deliver(stage="post_apply", plan="other-types")
        doc = self.final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "passed")
        self.assertIn("post_apply", doc["data"]["attributes"]["message"])

    def test_16_health_ready_metrics(self):
        code, body, _ = self.daemon.request("GET", "/healthz")
        self.assertEqual(code, 200)
        code, body, _ = self.daemon.request("GET", "/readyz")
        self.assertEqual(code, 200, body)
        code, body, headers = self.daemon.request("GET", "/metrics")
        self.assertEqual(code, 200)
        text = body.decode()
        for name in ("imagegate_runtask_ack_seconds_bucket", "imagegate_deliveries_total",
                     "imagegate_scan_seconds_count", "imagegate_callbacks_total",
                     "imagegate_queue_depth", "imagegate_scan_bytes_total"):
            self.assertIn(name, text)

    def test_17_plain_http_and_tls_only_modern(self):
        db2 = os.path.join(self.tmp, "plain.db")
        shutil.copy(self.db_path, db2)
        plain = Daemon(self.tmp, "plain", "sqlite:" + db2, self.fake, self.ca, self.cert,
                       self.key, tls=False).start()
        try:
            p = self.deliver(daemon=plain, plan="other-types")
            doc = self.final(p)
            self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        finally:
            plain.stop()
        # TLS 1.1 is refused by the TLS listener
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        import socket
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5) as s:
            with self.assertRaises((ssl.SSLError, OSError)):
                with ctx.wrap_socket(s, server_hostname="localhost"):
                    pass

    def test_18_kill9_then_restart_delivers(self):
        db3 = os.path.join(self.tmp, "crash.db")
        shutil.copy(self.db_path, db3)
        d = Daemon(self.tmp, "crash", "sqlite:" + db3, self.fake, self.ca, self.cert, self.key)
        d.start()
        p = self.payload(plan="clean")
        p["plan_json_api_url"] = self.fake.plan_url("held")
        self.fake.plans["held"] = self.fake.plans["other-types"]
        self.fake.hold.add("held")
        try:
            code, _, _ = d.post_runtask(p)
            self.assertEqual(code, 200)
            # claimed and waiting on 204s
            self.assertTrue(wait_for(lambda: self.fake.plan_gets("held") >= 1, 10),
                            d.log()[-3000:])
            d.kill9()
            self.assertEqual(self.fake.finals(p["task_result_id"]), [])
            self.fake.hold.discard("held")
            d.start()
            doc = self.fake.wait_final(p["task_result_id"], timeout=40)
            self.assertIsNotNone(doc, d.log()[-3000:])
            self.assertEqual(doc["data"]["attributes"]["status"], "failed")
            self.assertEqual(len(self.fake.finals(p["task_result_id"])), 1)
        finally:
            self.fake.hold.discard("held")
            d.stop()

    def test_20_sigterm_drains_then_resumes(self):
        db4 = os.path.join(self.tmp, "term.db")
        shutil.copy(self.db_path, db4)
        d = Daemon(self.tmp, "term", "sqlite:" + db4, self.fake, self.ca, self.cert, self.key)
        d.start()
        p = self.payload(plan="clean")
        p["plan_json_api_url"] = self.fake.plan_url("held2")
        self.fake.plans["held2"] = self.fake.plans["clean"]
        self.fake.hold.add("held2")
        try:
            code, _, _ = d.post_runtask(p)
            self.assertEqual(code, 200)
            # claimed and waiting on 204s
            self.assertTrue(wait_for(lambda: self.fake.plan_gets("held2") >= 1, 10),
                            d.log()[-3000:])
            t0 = time.time()
            d.proc.send_signal(signal.SIGTERM)
            self.assertEqual(d.proc.wait(15), 0)
            self.assertLess(time.time() - t0, 10)  # --shutdown-timeout 3s
            self.assertIn("drain_timeout", d.log())
            con = sqlite3.connect(db4)
            state = con.execute("SELECT state FROM deliveries WHERE task_result_id = ?",
                                (p["task_result_id"],)).fetchone()
            con.close()
            self.assertEqual(state, (0,))  # still queued, not failed
            self.fake.hold.discard("held2")
            d.start()
            doc = self.fake.wait_final(p["task_result_id"], timeout=30)
            self.assertIsNotNone(doc, d.log()[-3000:])
            self.assertEqual(doc["data"]["attributes"]["status"], "passed")
        finally:
            self.fake.hold.discard("held2")
            d.stop()

    def test_21_callback_422_then_minimal_body(self):
        p = self.payload(plan="other-types")
        self.fake.fail_next_callbacks(p["task_result_id"], 1, code=422)
        code, _, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 200)
        doc = self.final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        self.assertNotIn("relationships", doc["data"])  # the retry is status + message only
        self.assertEqual(set(doc["data"]["attributes"]), {"status", "message"})
        time.sleep(0.5)  # a quiet period: no callback after the retry
        self.assertEqual(len(self.fake.callbacks(p["task_result_id"])), 2)

    def test_22_token_rejected_is_not_retried(self):
        p = self.payload(plan="clean")
        p["access_token"] = "expired-token"
        code, _, _ = self.daemon.post_runtask(p)
        self.assertEqual(code, 200)
        self.assertTrue(wait_for(lambda: self.delivery_rows(p["task_result_id"])[0][0] != 0, 15,
                                 step=0.1))
        time.sleep(0.5)  # a quiet period: a retry would call back in it
        cbs = self.fake.callbacks(p["task_result_id"])
        self.assertEqual(len(cbs), 1)  # a 401 is final: nobody can be told anything
        self.assertEqual(self.delivery_rows(p["task_result_id"]), [(2, None)])

    def test_23_plan_over_max_plan_bytes(self):
        db5 = os.path.join(self.tmp, "small.db")
        shutil.copy(self.db_path, db5)
        d = Daemon(self.tmp, "small", "sqlite:" + db5, self.fake, self.ca, self.cert, self.key,
                   extra=["--max-plan-bytes", "1M"]).start()
        try:
            p = self.deliver(daemon=d, plan="scale")
            doc = self.final(p)
            self.assertEqual(doc["data"]["attributes"]["status"], "failed")
            self.assertIn("max-plan-bytes", doc["data"]["attributes"]["message"])
        finally:
            d.stop()

    def test_23b_freshness_and_launch_time_outcomes(self):
        """stale, outdated (behind) and launch_resolved findings become outcomes, with the
        server's policy file (and its own clock: the fixtures' builds are from 2025)."""
        db7 = os.path.join(self.tmp, "fresh.db")
        shutil.copy(self.db_path, db7)
        pol = os.path.join(self.tmp, "fresh-policy.yaml")
        with open(pol, "w") as f:
            f.write("freshness:\n  max_age: 30d\n  buckets:\n"
                    "    - {bucket: 'web-*', max_versions_behind: 0}\n")
        d = Daemon(self.tmp, "fresh", "sqlite:" + db7, self.fake, self.ca, self.cert, self.key,
                   extra=["--policy", pol]).start()
        try:
            p = self.deliver(daemon=d, plan="freshness")
            doc = self.final(p)
            outs = {o["attributes"]["outcome-id"]: o["attributes"] for o in self.assert_limits(doc)}
            st = outs["stale:aws_instance.behind.ami"]
            self.assertEqual(st["tags"]["Severity"][0], {"label": "Stale", "level": "warning"})
            self.assertIn("web-ubuntu v2 is", st["description"])
            self.assertIn("## Stale image", st["body"])
            od = outs["outdated:aws_instance.behind.ami"]
            self.assertEqual(od["tags"]["Severity"][0]["label"], "Outdated")
            self.assertIn("1 newer complete version", od["description"])
            self.assertIn("stale:aws_instance.revoked.ami", outs)
            p = self.deliver(daemon=d, plan="launch-resolved")
            doc = self.final(p)
            self.assertEqual(doc["data"]["attributes"]["status"], "passed")
            outs = {o["attributes"]["outcome-id"]: o["attributes"] for o in self.assert_limits(doc)}
            lr = outs["launch_resolved:aws_instance.web.ami"]
            self.assertEqual(lr["tags"]["Severity"][0], {"label": "Launch resolved",
                                                         "level": "warning"})
            self.assertIn("/golden/web/ami-id", lr["description"])
            self.assertIn("launch_resolved:aws_launch_template.al2023.image_id", outs)
        finally:
            d.stop()

    def test_24_sensitive_values_never_sent_or_logged(self):
        secret = "ami-0b3c20f2fd2b1e282"  # only ever the sensitive SSM parameter's value
        self.assertIn(secret.encode(), self.fake.plans["mentions"])
        p = self.deliver(plan="mentions")
        doc = self.final(p)
        self.assert_limits(doc)
        for r in self.fake.callbacks(p["task_result_id"]):
            self.assertNotIn(secret.encode(), r["body"])
        self.assertNotIn(secret, self.daemon.log())

    def test_25_store_unavailable_is_503_then_recovers(self):
        db6 = os.path.join(self.tmp, "locked.db")
        shutil.copy(self.db_path, db6)
        d = Daemon(self.tmp, "locked", "sqlite:%s?busy_timeout=200" % db6, self.fake, self.ca,
                   self.cert, self.key).start()
        try:
            p = self.payload(plan="clean")
            con = sqlite3.connect(db6, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            try:
                code, resp, headers = d.post_runtask(p)
            finally:
                con.execute("ROLLBACK")
                con.close()
            self.assertEqual(code, 503, resp)
            self.assertIn("Retry-After", headers)
            self.assertIn("runtask_store_failed", d.log())
            # HCP Terraform retries; now the store answers
            code, _, _ = d.post_runtask(p)
            self.assertEqual(code, 200)
            doc = self.final(p)
            self.assertEqual(doc["data"]["attributes"]["status"], "passed")
            self.assertEqual(len(self.fake.finals(p["task_result_id"])), 1)
        finally:
            d.stop()

    def test_26_client_hangs_up_while_ack_waits_for_store(self):
        db7 = os.path.join(self.tmp, "hangup.db")
        shutil.copy(self.db_path, db7)
        d = Daemon(self.tmp, "hangup", "sqlite:%s?busy_timeout=3000" % db7, self.fake, self.ca,
                   self.cert, self.key).start()
        try:
            p = self.payload(plan="clean")
            body = json.dumps(p).encode()
            req = (b"POST /runtask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"X-TFC-Task-Signature: " + sign(body).encode() + b"\r\nContent-Length: " +
                   str(len(body)).encode() + b"\r\n\r\n" + body)
            con = sqlite3.connect(db7, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            try:
                import socket
                raw = socket.create_connection(("127.0.0.1", d.port), timeout=5)
                s = d.ctx.wrap_socket(raw, server_hostname="localhost")
                s.sendall(req)
                # durations, not states: nothing outside shows the request read and its
                # store write blocked on the lock, or the hang-up noticed
                time.sleep(0.3)
                s.close()  # gone before the store write finished
                time.sleep(0.5)
            finally:
                con.execute("ROLLBACK")
                con.close()
            doc = self.fake.wait_final(p["task_result_id"], timeout=20)
            self.assertIsNotNone(doc, d.log()[-3000:])
            self.assertEqual(doc["data"]["attributes"]["status"], "passed")
            code, _, _ = d.request("GET", "/healthz")
            self.assertEqual(code, 200)
        finally:
            d.stop()
        self.assertEqual(d.proc.returncode, 0, d.log()[-3000:])

    def test_27_run_token_only_over_https_unless_allowed_as_http(self):
        """A host allowed as HOST:PORT gets the token over https only; plain
        http needs an explicit http://HOST:PORT entry."""
        https_only = FakeTFC(None, None, TOKEN).start()   # allowed as 127.0.0.1:PORT
        plain_ok = FakeTFC(None, None, TOKEN).start()     # allowed as http://127.0.0.1:PORT
        plain_ok.plans["clean"] = self.fake.plans["clean"]
        db = os.path.join(self.tmp, "httponly.db")
        shutil.copy(self.db_path, db)
        d = Daemon(self.tmp, "httponly", "sqlite:" + db, self.fake, self.ca, self.cert, self.key,
                   extra=["--allowed-host", "127.0.0.1:%d" % https_only.port,
                          "--allowed-host", "HTTP://127.0.0.1:%d/" % plain_ok.port]).start()
        try:
            # a callback URL over plain http to an https-only host: refused at once
            p = self.payload()
            p["task_result_callback_url"] = https_only.callback_url(p["task_result_id"])
            code, body, _ = d.post_runtask(p)
            self.assertEqual(code, 400, body)
            # a plan URL over plain http to an https-only host: a failed result, nothing sent
            p = self.payload()
            p["plan_json_api_url"] = https_only.plan_url("clean")
            code, body, _ = d.post_runtask(p)
            self.assertEqual(code, 200, body)
            doc = self.fake.wait_final(p["task_result_id"], 30)
            self.assertIsNotNone(doc, d.log()[-3000:])
            self.assertEqual(doc["data"]["attributes"]["status"], "failed")
            self.assertIn("plain http", doc["data"]["attributes"]["message"])
            self.assertEqual(https_only.requests, [])
            # the explicit http:// entry: plan and callback over plain http
            p = self.payload()
            p["plan_json_api_url"] = plain_ok.plan_url("clean")
            p["task_result_callback_url"] = plain_ok.callback_url(p["task_result_id"])
            code, body, _ = d.post_runtask(p)
            self.assertEqual(code, 200, body)
            doc = plain_ok.wait_final(p["task_result_id"], 30)
            self.assertIsNotNone(doc, d.log()[-3000:])
            self.assertEqual(doc["data"]["attributes"]["status"], "passed")
            self.assertEqual(plain_ok.callbacks(p["task_result_id"])[-1]["authorization"],
                             "Bearer " + TOKEN)
            self.assertEqual(https_only.requests, [])
        finally:
            d.stop()
            https_only.stop()
            plain_ok.stop()
        self.assertNotIn(TOKEN, d.log())

    def test_28_plan_422_means_terraform_too_old(self):
        self.fake.plan_status["too-old"] = 422
        p = self.deliver(plan="too-old")
        doc = self.final(p)
        self.assertEqual(doc["data"]["attributes"]["status"], "failed")
        msg = doc["data"]["attributes"]["message"]
        self.assertIn("HTTP 422", msg)
        self.assertIn("Terraform version is too old", msg)
        self.assert_one_final(p)

    def test_29_hostile_names_cannot_forge_log_fields(self):
        """An archive entry name with a quote, spaces and key=value text is
        logged quoted, and the result message gets it as one line of valid
        UTF-8 even when the 200-byte cut lands inside a character."""
        import io
        import tarfile
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            ti = tarfile.TarInfo('x" level=error event=forged\nnext=line.tf')
            ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tf.addfile(ti)
            ti = tarfile.TarInfo("terraform/main.tf")
            data = b'resource "aws_instance" "x" { ami = "ami-0d4c3b2a1f0e9d8c7" }\n'
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        self.fake.configs["forged"] = buf.getvalue()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
            ti = tarfile.TarInfo("a" + "\u00e9" * 150 + ".tf")  # byte 200 is inside an "e-acute"
            ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tf.addfile(ti)
        self.fake.configs["longname"] = buf.getvalue()
        p = self.deliver(stage="pre_plan", config="forged")
        doc = self.final(p)
        self.assertIn("refused", doc["data"]["attributes"]["message"])
        self.assertTrue(self.daemon.wait_log("archive_entries_refused.*" + p["task_result_id"]))
        lines = [l for l in self.daemon.log().splitlines() if "archive_entries_refused" in l
                 and p["task_result_id"] in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn('first="x\\" level=error event=forged next=line.tf: symbolic link"',
                      lines[0])
        self.assertFalse(any(l.startswith("next=") for l in self.daemon.log().splitlines()))
        p = self.deliver(stage="pre_plan", config="longname")
        doc = self.final(p)
        msg = doc["data"]["attributes"]["message"]
        self.assertIn("a" + "\u00e9" * 99 + ": symbolic link", msg)

    def test_19_sighup_reloads(self):
        self.daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.daemon.wait_log("tls_reloaded"), self.daemon.log()[-3000:])
        self.assertTrue(self.daemon.wait_log("hmac_keys_reloaded"), self.daemon.log()[-3000:])
        code, _, _ = self.daemon.request("GET", "/healthz")
        self.assertEqual(code, 200)
        self.assertIn("tls_reloaded", self.daemon.log())
        self.assertIn("hmac_keys_reloaded", self.daemon.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
