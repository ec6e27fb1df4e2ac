#!/usr/bin/env python3
"""imagegate scan, end to end: the real binary against a registry built by
fixtures/setup-registry.sh, every fixture plan, every output format, exit
codes, bad input, policy files and user rules.  Standard library only.

With IMAGEGATE_TEST_PG_URL set (ctest's integration/test_scan_cli_pg, under
pgserver.py) the registry is a fresh PostgreSQL database on that server
instead of a SQLite file; every test runs unchanged against it."""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402

BIN = os.path.abspath(os.environ.get("IMAGEGATE_BIN", "./build/imagegate"))
FIX = os.path.abspath(os.environ.get("IMAGEGATE_FIXTURES", "tests/fixtures"))
PLANS = os.path.join(FIX, "plans")

REVOKED_WEB = "ami-0d4c3b2a1f0e9d8c7"    # web-ubuntu v1
SCHEDULED_AL = "ami-0b3c20f2fd2b1e282"   # base-al2023 v1 (the SSM parameter's sensitive value)
JAVA_REVOKED = "ami-0fedcba9876543210"   # app-java v1, inherited
PG_URL = os.environ.get("IMAGEGATE_TEST_PG_URL")


def run(args, stdin=None, env=None):
    e = dict(os.environ)
    e.pop("IMAGEGATE_DB", None)
    e.pop("IMAGEGATE_SERVER", None)
    e.pop("IMAGEGATE_TOKEN", None)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + args, input=stdin, capture_output=True, env=e, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class ScanCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-scan-")
        cls.db = "sqlite:" + os.path.join(cls.tmp, "reg.db")
        if PG_URL:
            cls.pg_name = "scan_%d" % os.getpid()
            cls.db = pgserver.create_database(PG_URL, cls.pg_name)
        p = subprocess.run(["sh", os.path.join(FIX, "setup-registry.sh"), BIN, cls.db],
                           capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr.decode()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if PG_URL:
            pgserver.drop_database(PG_URL, cls.pg_name)

    def scan(self, plan, *extra, fmt="json"):
        path = plan if os.path.isabs(plan) else os.path.join(PLANS, plan)
        rc, out, err = run(["--db", self.db, "scan", path, "--format", fmt] + list(extra))
        return rc, out, err

    def report(self, plan, *extra):
        rc, out, err = self.scan(plan, *extra)
        self.assertIn(rc, (0, 1), err)
        return rc, json.loads(out)

    @staticmethod
    def has(rep, kind, address, level=None, attribute=None):
        return [f for f in rep["findings"]
                if f["kind"] == kind and f["address"] == address
                and (level is None or f["level"] == level)
                and (attribute is None or f["attribute"] == attribute)]

    # -- the expected results of fixtures/README.md ----------------------

    def test_clean(self):
        rc, rep = self.report("clean.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "pass"))
        self.assertEqual(rep["findings"], [])

    def test_hardcoded_literal(self):
        rc, rep = self.report("hardcoded-literal.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        self.assertTrue(self.has(rep, "hardcoded", "aws_instance.app", "warn"))
        web = self.has(rep, "hardcoded", "aws_launch_template.web", "warn")
        self.assertEqual(web[0]["provenance"], "variable")
        self.assertTrue(self.has(rep, "revocation_scheduled", "aws_launch_template.web", "warn"))

    def test_module_input(self):
        rc, rep = self.report("module-input.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        web = self.has(rep, "hardcoded", "module.web.aws_instance.this")
        self.assertEqual(web[0]["provenance"], "module_input")
        self.assertTrue(self.has(rep, "untracked", "module.batch.aws_instance.this", "warn"))
        batch = self.has(rep, "hardcoded", "module.batch.aws_instance.this")
        self.assertEqual(batch[0]["provenance"], "local")

    def test_mentions(self):
        rc, rep = self.report("mentions.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        self.assertTrue(self.has(rep, "hardcoded", "aws_instance.worker", "warn"))
        tag = self.has(rep, "mention", "aws_instance.worker", "warn", "tags.SourceAMI")
        self.assertEqual(tag[0]["image"], JAVA_REVOKED)
        self.assertEqual(tag[0]["bucket"], "app-java")
        self.assertTrue(self.has(rep, "mention", "aws_instance.worker", "info", "user_data"))
        ssm = self.has(rep, "mention", "aws_ssm_parameter.golden", "info")
        self.assertIsNone(ssm[0]["image"])
        self.assertIn("(sensitive)", ssm[0]["message"])

    def test_other_types(self):
        rc, rep = self.report("other-types.plan.json")
        self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        for a in ("aws_launch_configuration.legacy", "aws_emr_cluster.analytics"):
            r = self.has(rep, "revoked", a, "fail")
            self.assertTrue(r, a)
            self.assertEqual((r[0]["bucket"], r[0]["version"]), ("web-ubuntu", "v1"))
        for a in ("aws_spot_instance_request.cheap", "aws_ami_copy.dr"):
            self.assertTrue(self.has(rep, "revocation_scheduled", a, "warn"), a)
        fleet = self.has(rep, "hardcoded", "aws_spot_fleet_request.fleet")
        self.assertEqual(sorted(f["attribute"] for f in fleet),
                         ["launch_specification[0].ami", "launch_specification[1].ami"])
        self.assertTrue(self.has(rep, "unknown", "aws_instance.from_copy", "info"))

    def test_replace_and_destroy(self):
        rc, rep = self.report("replace-and-destroy.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        app = self.has(rep, "hardcoded", "aws_instance.app")
        self.assertEqual(app[0]["action"], "replace")
        self.assertFalse([f for f in rep["findings"] if f["address"] == "aws_instance.old"])
        self.assertEqual(rep["summary"]["gated"], 1)

    def test_scale(self):
        rc, rep = self.report("scale.plan.json")
        self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        revoked = [f for f in rep["findings"] if f["kind"] == "revoked"]
        self.assertEqual(len(revoked), 500)
        self.assertTrue(all(f["image"] == REVOKED_WEB for f in revoked))
        hard = [f for f in rep["findings"] if f["kind"] == "hardcoded"]
        self.assertEqual(len(hard), 2000)
        self.assertEqual(rep["summary"]["gated"], 2000)

    def test_data_source(self):
        rc, rep = self.report("data-source.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "pass"))
        for a in ("aws_instance.app", "aws_instance.direct"):
            t = self.has(rep, "tracked", a)
            self.assertTrue(t, a)
            self.assertEqual(t[0]["provenance"], "data_source")
        self.assertFalse([f for f in rep["findings"] if f["kind"] == "hardcoded"])

    def test_hcp_data_source(self):
        rc, rep = self.report("hcp-data-source.plan.json")
        self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        self.assertTrue(self.has(rep, "tracked", "aws_instance.from_channel"))
        self.assertTrue(self.has(rep, "revoked", "aws_instance.pinned", "fail"))
        ds = self.has(rep, "data_source_revoked", "data.hcp_packer_artifact.pinned", "fail")
        self.assertEqual(ds[0]["version"], "v1")
        self.assertFalse([f for f in rep["findings"] if f["kind"] == "hardcoded"])

    def test_inplace_unchanged(self):
        rc, rep = self.report("inplace-unchanged.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        r = self.has(rep, "revoked", "aws_launch_template.batch", "warn")
        self.assertEqual(r[0]["action"], "update")
        self.assertTrue(self.has(rep, "hardcoded", "aws_launch_template.batch", "warn"))

    def test_usage_plans(self):
        """The two plans of issue 15's "Done when" (copies of hardcoded-literal)."""
        rc, rep = self.report("usage-web-prod.plan.json")
        self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        r = self.has(rep, "revoked", "aws_instance.bastion", "fail")
        self.assertEqual((r[0]["bucket"], r[0]["version"]), ("web-ubuntu", "v1"))
        rc, rep = self.report("usage-batch.plan.json")
        self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        r = self.has(rep, "revoked", "aws_instance.worker", "fail")
        self.assertEqual((r[0]["bucket"], r[0]["version"]), ("app-java", "v1"))
        self.assertIn("inherited from golden-base v1", r[0]["message"])

    def test_terraform_json_corpus(self):
        d = os.path.join(PLANS, "terraform-json")
        names = sorted(n for n in os.listdir(d) if n.endswith(".plan.json"))
        self.assertGreaterEqual(len(names), 21)
        for n in names:
            rc, out, err = self.scan(os.path.join(d, n))
            if n == "invalid.plan.json":
                self.assertEqual(rc, 2, n)
                self.assertIn("invalid.plan.json", err)
                self.assertIn("byte ", err)
                self.assertEqual(len(err.strip().splitlines()), 1)
                continue
            self.assertIn(rc, (0, 1), n + ": " + err)
            rep = json.loads(out)
            self.assertIn(rep["verdict"], ("pass", "warn", "fail"))
            if n == "nested_config_keys.plan.json":
                self.assertTrue(self.has(rep, "unrecognized", "aws_instance.foo"))
                self.assertEqual(self.has(rep, "unrecognized", "aws_instance.foo")[0]["image"],
                                 "ami-foobar")

    # -- bad input and exit codes -----------------------------------------

    def test_truncated_stdin(self):
        with open(os.path.join(PLANS, "other-types.plan.json"), "rb") as f:
            data = f.read()
        rc, out, err = run(["--db", self.db, "scan", "-"], stdin=data[:5000])
        self.assertEqual(rc, 2)
        self.assertIn("stdin", err)
        self.assertIn("byte 5000", err)
        rc, out, err = run(["--db", self.db, "scan", "-", "--format", "json"], stdin=data)
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)["verdict"], "fail")

    def test_not_a_plan(self):
        for body in (b"", b"not json", b"[1,2]", b"{\"a\": 1}", b"\x00\xff\xfe" * 100):
            rc, out, err = run(["--db", self.db, "scan", "-"], stdin=body)
            self.assertEqual(rc, 2, body)
            self.assertTrue(err.startswith("imagegate: stdin: plan:"), err)

    def test_missing_store(self):
        missing = os.path.join(self.tmp, "nope.db")
        rc, out, err = run(["--db", "sqlite:" + missing, "scan",
                            os.path.join(PLANS, "clean.plan.json")])
        self.assertEqual(rc, 3, err)
        self.assertFalse(os.path.exists(missing))
        rc, out, err = run(["scan", os.path.join(PLANS, "clean.plan.json")],
                           env={"IMAGEGATE_DB": "sqlite:" + missing})
        self.assertEqual(rc, 3)
        self.assertFalse(os.path.exists(missing))

    @unittest.skipUnless(PG_URL, "PostgreSQL mode only (IMAGEGATE_TEST_PG_URL)")
    def test_postgresql_unreachable_or_missing(self):
        password = pgserver.PASSWORD
        for url in (self.db.replace(self.db.split("@")[1].split("/")[0], "127.0.0.1:1"),
                    pgserver.with_database(self.db, "no_such_db")):
            rc, out, err = run(["--db", url, "scan", os.path.join(PLANS, "clean.plan.json")])
            self.assertEqual(rc, 3, err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertTrue(err.startswith("imagegate: "), err)
            self.assertNotIn(password, err)
            self.assertEqual(out, "")

    def test_usage_errors(self):
        for args in (["scan"], ["scan", "a", "b"], ["scan", "x.json", "--format", "yaml"],
                     ["scan", "x.json", "--fail-on", "info"],
                     ["scan", "x.json", "--now", "2026-02-30T00:00:00Z"],
                     ["scan", os.path.join(self.tmp, "absent.json")], ["scan", "--bogus"],
                     ["scan", "x.json", "--format"], ["frobnicate"], ["--bogus", "scan"], []):
            rc, out, err = run(["--db", self.db] + args)
            self.assertEqual(rc, 2, args)
            self.assertTrue(err.startswith("imagegate: "), err)
            # errors are one line (PRODUCT.md section 2): no usage text after it
            self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_fail_on_warn(self):
        rc, _, _ = self.scan("hardcoded-literal.plan.json")
        self.assertEqual(rc, 0)
        rc, _, _ = self.scan("hardcoded-literal.plan.json", "--fail-on", "warn")
        self.assertEqual(rc, 1)
        rc, _, _ = self.scan("clean.plan.json", "--fail-on", "warn")
        self.assertEqual(rc, 0)

    def test_now_moves_the_clock(self):
        # 20 days after setup the scheduled revocation of base-al2023 v1 has passed
        rc, out, err = run(["--db", self.db, "version", "show", "base-al2023", "v1", "--json"])
        self.assertEqual(rc, 0, err)
        revoke_at = json.loads(out)["revoke_at"]
        rc, rep = self.report("hardcoded-literal.plan.json", "--now", "2099-01-01T00:00:00Z")
        self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        self.assertTrue(self.has(rep, "revoked", "aws_launch_template.web", "fail"))
        rc, rep = self.report("hardcoded-literal.plan.json", "--now", revoke_at)
        self.assertEqual(rep["verdict"], "fail")  # revoke_at <= now is revoked

    # -- formats ------------------------------------------------------------

    def test_formats(self):
        rc, out, err = self.scan("other-types.plan.json", fmt="sarif")
        self.assertEqual(rc, 1)
        s = json.loads(out)
        self.assertEqual(s["version"], "2.1.0")
        run0 = s["runs"][0]
        self.assertEqual(run0["tool"]["driver"]["name"], "imagegate")
        ids = {r["id"] for r in run0["tool"]["driver"]["rules"]}
        for res in run0["results"]:
            self.assertIn(res["level"], ("error", "warning"))
            self.assertIn(res["ruleId"], ids)
            self.assertEqual(run0["tool"]["driver"]["rules"][res["ruleIndex"]]["id"], res["ruleId"])
            loc = res["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
            self.assertTrue(loc.startswith("aws_"), loc)
            self.assertTrue(res["message"]["text"])
        _, rep = self.report("other-types.plan.json")
        self.assertEqual(len(run0["results"]),
                         len([f for f in rep["findings"] if f["level"] != "info"]))

        rc, out, err = self.scan("other-types.plan.json", fmt="junit")
        root = ET.fromstring(out)
        cases = root.findall(".//testcase")
        self.assertEqual(len(cases), rep["summary"]["gated"])
        failed = [c.get("name") for c in cases if c.find("failure") is not None]
        self.assertEqual(sorted(failed),
                         ["aws_emr_cluster.analytics", "aws_launch_configuration.legacy"])

        rc, out, err = self.scan("other-types.plan.json", fmt="markdown")
        self.assertIn("| Level | Kind | Resource |", out)
        self.assertIn("`aws_launch_configuration.legacy`", out)
        self.assertTrue(out.startswith("### imagegate:"))

        rc, out, err = self.scan("other-types.plan.json", fmt="text")
        self.assertTrue(out.startswith("FAIL"))
        self.assertNotIn("\x1b[", out)  # no colour when not a terminal
        self.assertIn("aws_emr_cluster.analytics", out)

    def test_sensitive_never_printed(self):
        for fmt in ("json", "text", "markdown", "sarif", "junit"):
            rc, out, err = self.scan("mentions.plan.json", fmt=fmt)
            self.assertEqual(rc, 0, err)
            self.assertNotIn(SCHEDULED_AL, out, fmt)
            self.assertNotIn(SCHEDULED_AL, err, fmt)

    def test_output_file(self):
        path = os.path.join(self.tmp, "report.sarif")
        rc, out, err = self.scan("other-types.plan.json", "--output", path, fmt="sarif")
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        with open(path) as f:
            self.assertEqual(json.load(f)["version"], "2.1.0")

    # -- policy and rules ----------------------------------------------------

    def test_policy_file(self):
        pol = os.path.join(self.tmp, "policy.yaml")
        with open(pol, "w") as f:
            f.write("levels:\n  hardcoded: fail\n"
                    "overrides:\n  - workspace: 'sandbox-*'\n    levels: {hardcoded: info}\n"
                    "exemptions:\n"
                    "  - bucket: web-ubuntu\n    version: v1\n"
                    "    reason: legacy fleet, ticket SEC-42\n    expires: 2099-01-01\n")
        rc, rep = self.report("replace-and-destroy.plan.json", "--policy", pol)
        self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        rc, rep = self.report("replace-and-destroy.plan.json", "--policy", pol,
                              "--workspace", "sandbox-1", "--organization", "acme")
        self.assertEqual((rc, rep["verdict"]), (0, "pass"))
        rc, rep = self.report("inplace-unchanged.plan.json", "--policy", pol,
                              "--workspace", "sandbox-1")
        r = self.has(rep, "revoked", "aws_launch_template.batch")[0]
        self.assertEqual(r["level"], "info")
        self.assertIn("SEC-42", r["message"])
        bad = os.path.join(self.tmp, "bad-policy.yaml")
        with open(bad, "w") as f:
            f.write("levels:\n  revoked: maybe\n")
        rc, out, err = self.scan("clean.plan.json", "--policy", bad)
        self.assertEqual(rc, 2)
        self.assertIn("bad-policy.yaml:2", err)

    def test_user_rules(self):
        d = os.path.join(self.tmp, "rules")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "extra.yaml"), "w") as f:
            f.write("resources:\n  aws_ssm_parameter: [value]\n")
        rc, rep = self.report("mentions.plan.json", "--rules", d)
        img = self.has(rep, "revocation_scheduled", "aws_ssm_parameter.golden", "warn", "value")
        self.assertTrue(img)
        self.assertIsNone(img[0]["image"])  # still sensitive
        with open(os.path.join(d, "extra.yaml"), "w") as f:
            f.write("patterns:\n  - {name: x, platform: p, regex: '(['}\n")
        rc, out, err = self.scan("clean.plan.json", "--rules", d)
        self.assertEqual(rc, 2)
        self.assertIn("extra.yaml:2: regex:", err)

    # -- robustness: ways a revoked image must not slip through ------------

    def plan_file(self, name, doc):
        path = os.path.join(self.tmp, name)
        if not isinstance(doc, (str, bytes)):
            doc = json.dumps(doc)
        with open(path, "w" if isinstance(doc, str) else "wb") as f:
            f.write(doc)
        return path

    def gce_revoked(self):
        """A googlecompute build (its artifact is the bare image name) in its
        own bucket, revoked."""
        man = self.plan_file("gce-manifest.json", {
            "builds": [{"name": "g", "builder_type": "googlecompute", "build_time": 1,
                        "files": None, "artifact_id": "web-gce-v1-20250101",
                        "packer_run_uuid": "11111111-1111-4111-8111-111111111111",
                        "custom_data": None}],
            "last_run_uuid": "11111111-1111-4111-8111-111111111111"})
        rc, out, err = run(["--db", self.db, "import", man, "--bucket", "gce-web",
                            "--fingerprint", "gce-web-1"])
        self.assertEqual(rc, 0, err)
        rc, out, err = run(["--db", self.db, "version", "revoke", "gce-web", "v1",
                            "--message", "bad"])
        self.assertEqual(rc, 0, err)

    def test_gce_image_forms(self):
        self.gce_revoked()
        def plan(value):
            return {"format_version": "1.2", "resource_changes": [{
                "address": "google_compute_instance.g", "mode": "managed",
                "type": "google_compute_instance", "name": "g",
                "change": {"actions": ["create"], "before": None, "after": {
                    "boot_disk": [{"initialize_params": [{"image": value}]}]}}}]}
        attr = "boot_disk[0].initialize_params[0].image"
        for value in ("web-gce-v1-20250101", "WEB-GCE-V1-20250101",
                      "global/images/web-gce-v1-20250101",
                      "my-project/web-gce-v1-20250101",
                      "projects/abc/global/images/web-gce-v1-20250101",
                      "projects/my-project/global/images/web-gce-v1-20250101"):
            rc, rep = self.report(self.plan_file("gce.json", plan(value)))
            r = self.has(rep, "revoked", "google_compute_instance.g", "fail", attr)
            self.assertTrue(r, (value, rep))
            self.assertEqual((r[0]["bucket"], r[0]["image"]), ("gce-web", value))
            self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        # families name no image; what the registry does not know stays unrecognized
        for value in ("family/web-gce-v1-20250101",
                      "projects/my-project/global/images/family/web-gce-v1-20250101",
                      "web-gce-v9"):
            rc, rep = self.report(self.plan_file("gce.json", plan(value)))
            self.assertTrue(self.has(rep, "unrecognized", "google_compute_instance.g"), value)
            self.assertEqual((rc, rep["verdict"]), (0, "pass"), value)


    def test_missing_policy_file_names_the_option(self):
        missing = os.path.join(self.tmp, "no-such-policy.yaml")
        rc, out, err = self.scan("clean.plan.json", "--policy", missing)
        self.assertEqual((rc, out), (2, ""))
        self.assertEqual(err.strip().splitlines(),
                         ["imagegate: --policy %s: No such file or directory" % missing])

    def test_server_missing_ca_file_is_bad_input(self):
        # checked before connecting: nothing listens on port 9, and it does not matter
        missing = os.path.join(self.tmp, "no-such-ca.pem")
        rc, out, err = run(["scan", os.path.join(PLANS, "clean.plan.json"), "--server",
                            "https://127.0.0.1:9", "--token", "igt_x", "--ca-file", missing])
        self.assertEqual((rc, out), (2, ""))
        self.assertEqual(err.strip().splitlines(),
                         ["imagegate: --ca-file %s: No such file or directory" % missing])

    def test_refused_import_creates_no_store_for_a_later_scan(self):
        # every input import can refuse is checked before the SQLite file is made, so a
        # later scan of that --db finds no store (exit 3) instead of an empty registry
        manifest = os.path.join(FIX, "manifests", "web-ubuntu-v1.json")
        path = os.path.join(self.tmp, "refused.db")
        cases = [("--description", "a" * 300, "--description: longer than 255 bytes"),
                 ("--description", "a\x01b", "--description: holds a control character"),
                 ("--bucket-label", "k=" + "v" * 5000, "--bucket-label: labels.k:"),
                 ("--bucket-label", "=v", "--bucket-label"),
                 ("--build-label", "k=a\x02", "builds[0].labels.k:"),
                 ("--source-image", "ami-" + "0" * 3000,
                  "builds[0].source_external_identifier: longer than 2048 bytes"),
                 ("--channel", "no spaces", "--channel:"),
                 ("--fingerprint", "v7", "--fingerprint:"),
                 ("--fingerprint", "f" * 300, "--fingerprint:")]
        for opt, val, want in cases:
            with self.subTest(opt=opt, val=val[:20]):
                rc, out, err = run(["--db", "sqlite:" + path, "import", manifest, "--bucket",
                                    "web", opt, val])
                self.assertEqual(rc, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn(want, err)
                self.assertFalse(os.path.exists(path))
                rc, out, err = run(["--db", "sqlite:" + path, "scan",
                                    os.path.join(PLANS, "other-types.plan.json")])
                self.assertEqual(rc, 3, err)
                self.assertFalse(os.path.exists(path))

    # -- issue 14: for_each / count, empty and launch-time images, legacy Azure VMs,
    #    byte offsets, the freshness policy ------------------------------------

    def test_for_each_and_count(self):
        rc, rep = self.report("for-each.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        want = {
            'aws_instance.by_map["web"]': "variable",
            'aws_instance.by_map["api"]': "variable",
            'aws_instance.by_object["cache"]': "variable",
            'aws_instance.by_local["batch"]': "local",
            'aws_instance.by_key["ami-0a1b2c3d4e5f60718"]': "literal",
            "aws_instance.by_count[0]": "literal",
            "aws_instance.by_count[1]": "literal",
            'module.fleet["a"].aws_instance.this': "module_input",
            'module.fleet["b"].aws_instance.this': "module_input",
            "module.counted[0].aws_instance.this": "module_input",
            'module.outer["web"].module.web.aws_instance.this': "variable",
            'module.outer["api"].module.web.aws_instance.this': "variable",
        }
        for addr, prov in want.items():
            hc = self.has(rep, "hardcoded", addr, "warn", "ami")
            self.assertTrue(hc, addr)
            self.assertEqual(hc[0]["provenance"], prov, addr)
        # iterating over what a data source returned is a lookup, not a hardcoded image
        self.assertFalse(self.has(rep, "hardcoded", 'aws_instance.by_data["golden"]'))
        t = self.has(rep, "tracked", 'aws_instance.by_data["golden"]')
        self.assertEqual(t[0]["provenance"], "data_source")
        self.assertEqual(rep["summary"]["gated"], 13)

    def test_empty_image_is_no_image(self):
        rc, rep = self.report("empty-image.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        self.assertFalse([f for f in rep["findings"]
                          if f["address"] == "aws_launch_template.blank"])
        self.assertEqual((rep["summary"]["gated"], rep["summary"]["images"]), (2, 1))
        for fmt in ("json", "text", "markdown", "sarif", "junit"):
            rc, out, err = self.scan("gce-empty-image.plan.json", fmt=fmt)
            self.assertEqual(rc, 0, err)
            self.assertNotIn("unrecognized", out, fmt)
            self.assertNotIn("''", out, fmt)
        rc, rep = self.report("gce-empty-image.plan.json")
        self.assertEqual(rep["findings"], [])
        self.assertEqual(rep["summary"], {"resources": 2, "gated": 2, "images": 0, "info": 0,
                                          "warn": 0, "fail": 0})

    def test_launch_resolved(self):
        rc, rep = self.report("launch-resolved.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        web = self.has(rep, "launch_resolved", "aws_instance.web", "warn", "ami")
        self.assertEqual(web[0]["image"], "resolve:ssm:/golden/web/ami-id")
        self.assertIn("SSM parameter /golden/web/ami-id", web[0]["message"])
        lt = self.has(rep, "launch_resolved", "aws_launch_template.al2023", "warn", "image_id")
        self.assertIn("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64:12",
                      lt[0]["message"])
        self.assertFalse(self.has(rep, "unrecognized", "aws_instance.web"))
        self.assertTrue(self.has(rep, "unrecognized", "aws_instance.typo", "info"))
        self.assertEqual(rep["summary"]["images"], 0)
        for fmt in ("text", "markdown", "sarif", "junit"):
            rc, out, err = self.scan("launch-resolved.plan.json", fmt=fmt)
            self.assertEqual(rc, 0, err)
            self.assertIn("launch_resolved", out, fmt)
            self.assertIn("/golden/web/ami-id", out, fmt)
        rc, out, err = self.scan("launch-resolved.plan.json", fmt="sarif")
        results = json.loads(out)["runs"][0]["results"]
        self.assertEqual(sorted(r["ruleId"] for r in results), ["launch_resolved"] * 2)
        # a policy may lower it
        pol = os.path.join(self.tmp, "ssm-ok.yaml")
        with open(pol, "w") as f:
            f.write("levels: {launch_resolved: info}\n")
        rc, rep = self.report("launch-resolved.plan.json", "--policy", pol)
        self.assertEqual((rc, rep["verdict"]), (0, "pass"))
        self.assertTrue(self.has(rep, "launch_resolved", "aws_instance.web", "info"))

    def test_azure_legacy_vm(self):
        rc, rep = self.report("azure-legacy-vm.plan.json")
        self.assertEqual((rc, rep["verdict"]), (0, "warn"))
        attr = "storage_image_reference[0].id"
        t = self.has(rep, "tracked", "azurerm_virtual_machine.legacy", "info", attr)
        self.assertEqual((t[0]["bucket"], t[0]["version"]), ("azure-win", "v1"))
        h = self.has(rep, "hardcoded", "azurerm_virtual_machine.legacy", "warn", attr)
        self.assertEqual(h[0]["provenance"], "variable")
        self.assertFalse(self.has(rep, "mention", "azurerm_virtual_machine.legacy"))
        self.assertFalse([f for f in rep["findings"]
                          if f["address"] == "azurerm_virtual_machine.marketplace"])

    def test_error_offsets_count_from_one(self):
        """"byte N" counts from 1 and points into what is wrong: the offending byte, or a
        byte of an offending token (Python's json module counts from 0: its pos is the
        token's first byte less one), in parts of the plan the scanner parses and in parts
        it skips; a truncated plan gives its length."""
        import re
        with open(os.path.join(PLANS, "for-each.plan.json"), "rb") as f:
            good = f.read()
        ra = good.index(b'"relevant_attributes":')
        cases = [
            # a stray byte in the configuration (parsed)
            (good.replace(b'"constant_value":"t3.micro"}', b'"constant_value":"t3.micro"x}', 1),
             1),
            # a string where an array wants its comma, in resource_changes (parsed): the
            # parser finds it at its closing quote
            (good.replace(b'"actions":["create"]', b'"actions":["create" "x"]', 1), 3),
            # a bracket of the wrong kind in relevant_attributes (skipped)
            (good[:ra] + good[ra:].replace(b'"]}]', b'"]}}', 1), 1),
        ]
        for i, (bad, token) in enumerate(cases):
            with self.assertRaises(json.JSONDecodeError) as cm:
                json.loads(bad)
            rc, out, err = run(["--db", self.db, "scan", "-"], stdin=bad)
            self.assertEqual(rc, 2, err)
            n = int(re.search(r"stdin: plan: byte (\d+):", err).group(1))
            first = cm.exception.pos + 1
            self.assertTrue(first <= n < first + token, (i, first, err))
            if token == 1:
                self.assertEqual(bad[n - 1:n], bad[first - 1:first])  # head -c N ends with it
        rc, out, err = run(["--db", self.db, "scan", "-"], stdin=good[:1234])
        self.assertEqual(rc, 2)
        self.assertIn("byte 1234: the document ends before it is complete", err)

    @staticmethod
    def days_since(now, epoch_s):
        return int((now - datetime.datetime.fromtimestamp(epoch_s, datetime.timezone.utc))
                   .total_seconds() // 86400)

    def test_freshness_policy(self):
        # one hour after setup: web-ubuntu v1 is revoked, base-al2023 v1 still scheduled
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + \
            datetime.timedelta(hours=1)
        now_s = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        al_days = self.days_since(now, 1748000000)  # base-al2023 v1's build_time
        pol = os.path.join(self.tmp, "fresh.yaml")
        with open(pol, "w") as f:
            f.write("freshness:\n"
                    "  max_age: %dd\n"
                    "  buckets:\n"
                    "    - bucket: 'web-*'\n"
                    "      max_age: 30d\n"
                    "      max_versions_behind: 0\n"
                    "    - bucket: web-ubuntu\n"
                    "      max_age: 1000w\n" % (al_days + 5))
        rc, rep = self.report("freshness.plan.json", "--policy", pol, "--now", now_s)
        self.assertEqual((rc, rep["verdict"]), (1, "fail"))
        st = self.has(rep, "stale", "aws_instance.behind", "warn", "ami")
        self.assertEqual((st[0]["bucket"], st[0]["version"]), ("web-ubuntu", "v2"))
        self.assertIn("web-ubuntu v2 is %d days old (built 2025-04-18T18:13:20Z)"
                      % self.days_since(now, 1745000000), st[0]["message"])
        self.assertIn("older than the 30d the freshness policy allows for web-*",
                      st[0]["message"])  # the first matching glob wins
        out = self.has(rep, "outdated", "aws_instance.behind", "warn")
        self.assertEqual(len(out), 1)
        self.assertIn("1 newer complete version", out[0]["message"])
        self.assertIn("allows 0 for web-*", out[0]["message"])
        self.assertTrue(self.has(rep, "stale", "aws_instance.newest", "warn"))  # v3: 2025-06
        self.assertFalse(self.has(rep, "outdated", "aws_instance.newest"))
        self.assertTrue(self.has(rep, "revoked", "aws_instance.revoked", "fail"))
        self.assertTrue(self.has(rep, "stale", "aws_instance.revoked", "warn"))  # alongside
        self.assertFalse(self.has(rep, "stale", "aws_instance.scheduled"))  # top max_age
        self.assertFalse(self.has(rep, "stale", "aws_instance.untracked"))
        # ten days later base-al2023 v1 is older than the top max_age (still scheduled)
        later = (now + datetime.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rc, rep = self.report("freshness.plan.json", "--policy", pol, "--now", later)
        st = self.has(rep, "stale", "aws_instance.scheduled", "warn")
        self.assertIn("older than the %dd the freshness policy allows" % (al_days + 5),
                      st[0]["message"])
        self.assertTrue(self.has(rep, "revocation_scheduled", "aws_instance.scheduled", "warn"))
        # --now before v3 was 30 days old: only v2 and v1 are stale
        rc, rep = self.report("freshness.plan.json", "--policy", pol,
                              "--now", "2025-07-01T00:00:00Z")
        self.assertFalse(self.has(rep, "stale", "aws_instance.newest"))
        self.assertTrue(self.has(rep, "stale", "aws_instance.behind"))
        # every output format
        for fmt in ("text", "markdown", "sarif", "junit"):
            rc, out, err = self.scan("freshness.plan.json", "--policy", pol, "--now", now_s,
                                     fmt=fmt)
            self.assertEqual(rc, 1, err)
            self.assertIn("stale", out, fmt)
            self.assertIn("newer complete version", out, fmt)
        rc, out, err = self.scan("freshness.plan.json", "--policy", pol, "--now", now_s,
                                 fmt="sarif")
        ids = {r["id"] for r in json.loads(out)["runs"][0]["tool"]["driver"]["rules"]}
        self.assertTrue({"stale", "outdated"} <= ids, ids)

    def test_freshness_levels_overrides_exemptions(self):
        pol = os.path.join(self.tmp, "fresh-levels.yaml")
        with open(pol, "w") as f:
            f.write("levels: {stale: fail}\n"
                    "overrides:\n"
                    "  - workspace: 'legacy-*'\n"
                    "    levels: {stale: info, outdated_behind: info}\n"
                    "exemptions:\n"
                    "  - image: ami-0c9d8e7f6a5b40312\n"
                    "    reason: v3 kept until the Q2 rebuild\n"
                    "    kinds: [stale]\n"
                    "freshness: {max_age: 30d, max_versions_behind: 0}\n")
        rc, rep = self.report("freshness.plan.json", "--policy", pol)
        self.assertEqual(rc, 1)
        self.assertTrue(self.has(rep, "stale", "aws_instance.behind", "fail"))
        self.assertTrue(self.has(rep, "outdated", "aws_instance.behind", "warn"))
        ex = self.has(rep, "stale", "aws_instance.newest", "info")
        self.assertIn("[exempted: v3 kept until the Q2 rebuild]", ex[0]["message"])
        rc, rep = self.report("freshness.plan.json", "--policy", pol, "--workspace", "legacy-7")
        self.assertTrue(self.has(rep, "stale", "aws_instance.behind", "info"))
        self.assertTrue(self.has(rep, "outdated", "aws_instance.behind", "info"))
        bad = os.path.join(self.tmp, "fresh-bad.yaml")
        with open(bad, "w") as f:
            f.write("freshness:\n  buckets:\n    - bucket: web\n      max_age: soon\n")
        rc, out, err = self.scan("freshness.plan.json", "--policy", bad)
        self.assertEqual(rc, 2)
        self.assertIn("fresh-bad.yaml:4: max_age must be a duration", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
