"""Integration tests for the registry REST API, API tokens, /v1/lookup,
/v1/audit and POST /v1/scan (issue 5's "Done when").

Starts the real daemon on 127.0.0.1 port 0 over TLS (certificates made now
with the openssl command line, igtest.make_certs) with a temporary
SQLite store built by tests/fixtures/setup-registry.sh, creates read, write
and admin tokens with `imagegate token create`, and drives the API with
urllib the way a Packer pipeline or curl would. One case repeats the scan
client over plain HTTP. ScanBodyLimitTest shows that POST /v1/scan takes a
plan-sized body only from a live token: without one, 50 MB is refused before
it is read, the server's memory stays flat under eight such uploads at once,
and tokens made or revoked over the API count at once, with the command line
within --token-refresh. Python standard library only.
"""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import igtest  # noqa: E402
from igtest import make_certs  # noqa: E402

BIN = igtest.BIN
FIX = igtest.FIXTURES
BASE = "/packer/2023-01-01/organizations/my-org/projects/my-project"
# error bodies are HCP's: {"code": <gRPC code>, "message", "details": []}, the code following
# the HTTP status (a 409 for a name that is taken is 6 ALREADY_EXISTS)
GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 9, 413: 8, 429: 8, 500: 13, 503: 14}


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


def api_daemon(tmp, name, db, ca, cert, key, tls=True, plan="1M", extra=()):
    """imagegate serve (igtest.Daemon) with the API's limits made small enough to test."""
    return igtest.Daemon(tmp, name, db, None, ca, cert, key, tls=tls,
                         extra=["--max-body-bytes", "64k", "--max-plan-bytes", plan] + list(extra))


class ApiTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-api-")
        cls.ca, cls.cert, cls.key = make_certs(cls.tmp)
        with open(os.path.join(cls.tmp, "hmac.keys"), "w") as f:
            f.write("api-test-hmac-key-0123456789\n")
        os.chmod(os.path.join(cls.tmp, "hmac.keys"), 0o600)
        cls.db = "sqlite:" + os.path.join(cls.tmp, "registry.db")
        r = run("sh", os.path.join(FIX, "setup-registry.sh"), BIN, cls.db)
        assert r.returncode == 0, r.stderr
        cls.tokens = {}
        for name, role in (("ci-reader", "read"), ("packer", "write"), ("secops", "admin")):
            r = run(BIN, "--db", cls.db, "token", "create", "--name", name, "--role", role,
                    "--json")
            assert r.returncode == 0, r.stderr
            cls.tokens[role] = json.loads(r.stdout)["secret"]
        cls.R, cls.W, cls.A = cls.tokens["read"], cls.tokens["write"], cls.tokens["admin"]
        cls.d = api_daemon(cls.tmp, "tls", cls.db, cls.ca, cls.cert, cls.key).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        if os.environ.get("IG_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers --------------------------------------------------------------
    def ok(self, method, path, body=None, token=None):
        st, doc, _ = self.d.call(method, path, body, token or self.W)
        self.assertEqual(st, 200, "%s %s -> %s %s" % (method, path, st, doc))
        return doc

    def err(self, want, method, path, body=None, token=None, raw=None, grpc=None):
        st, doc, hdrs = self.d.call(method, path, body, token, raw=raw)
        self.assertEqual(st, want, "%s %s -> %s %s" % (method, path, st, doc))
        self.assertIsInstance(doc, dict, doc)
        self.assertEqual(doc["code"], grpc or GRPC[want], doc)
        self.assertTrue(doc["message"])
        self.assertEqual(doc["details"], [])
        return doc, hdrs

    def check_hcp_origin(self, o):
        """revocation_inherited_from: imagegate's keys and HCP's side by side; the href names
        this imagegate's organization and project, whatever {org}/{project} the call used."""
        self.assertEqual((o["bucket_name"], o["version"], o["version_name"]),
                         ("golden-base", "v1", "v1"))
        self.assertEqual(o["version_fingerprint"], o["fingerprint"])
        st, rm, _ = self.d.call("GET", "/resource-manager/2019-12-10/projects", None, self.R)
        p = rm["projects"][0]
        self.assertEqual(o["href"], "/packer/2023-01-01/organizations/%s/projects/%s/buckets/"
                         "golden-base/versions/%s" % (p["parent"]["id"], p["id"], o["fingerprint"]))

    def publish(self, bucket, fp, artifacts, platform="aws", builds=1, source=None):
        """The Packer flow: version, builds running, then each BUILD_DONE."""
        v = self.ok("POST", "%s/buckets/%s/versions" % (BASE, bucket), {"fingerprint": fp})
        self.assertEqual(v["version"]["name"], "v0")
        ids = []
        for i in range(builds):
            spec = {"component_type": "amazon-ebs.part%d" % i, "platform": platform,
                    "status": "BUILD_RUNNING", "packer_run_uuid": "run-%s" % fp,
                    "labels": {"os": "ubuntu"}}
            if source:
                spec["source_external_identifier"] = source
            b = self.ok("POST", "%s/buckets/%s/versions/%s/builds" % (BASE, bucket, fp), spec)
            self.assertEqual(b["build"]["status"], "BUILD_RUNNING")
            ids.append(b["build"]["id"])
        for i, bid in enumerate(ids):
            mine = [a for j, a in enumerate(artifacts) if j % builds == i]
            b = self.ok("PATCH", "%s/buckets/%s/versions/%s/builds/%s" % (BASE, bucket, fp, bid),
                        {"status": "BUILD_DONE", "artifacts": mine})
            self.assertEqual(b["build"]["status"], "BUILD_DONE")
            v = self.ok("GET", "%s/buckets/%s/versions/%s" % (BASE, bucket, fp),
                        token=self.R)["version"]
            if i < builds - 1:  # not the last build: still incomplete
                self.assertEqual(v["name"], "v0")
                self.assertEqual(v["status"], "VERSION_RUNNING")
        return v, ids

    def lookup(self, bucket, channel, platform=None, region=None, token=None):
        q = {"bucket": bucket, "channel": channel}
        if platform:
            q["platform"] = platform
        if region:
            q["region"] = region
        return self.d.call("GET", "/v1/lookup?" + urllib.parse.urlencode(q), token=token or self.R)

    def audit(self, token=None, **q):
        return self.d.call("GET", "/v1/audit?" + urllib.parse.urlencode(q), token=token or self.A)

    # -- the Packer flow --------------------------------------------------------
    def test_01_packer_flow_completes_v1_and_lookup_follows_channel(self):
        b = self.ok("PUT", BASE + "/buckets", {"name": "web-app", "description": "Web tier",
                                               "labels": {"team": "platform"}})
        self.assertEqual(b["bucket"]["name"], "web-app")
        self.assertEqual(b["bucket"]["labels"], {"team": "platform"})
        v, ids = self.publish("web-app", "git-abc123",
                              [{"external_identifier": "ami-0aaaaaaaaaaaaaaa1", "region": "us-east-1"},
                               {"external_identifier": "ami-0aaaaaaaaaaaaaaa2", "region": "eu-west-1"}],
                              builds=2)
        self.assertEqual(v["name"], "v1")
        self.assertEqual(v["status"], "VERSION_ACTIVE")
        self.assertEqual(v["author_id"], "packer")
        self.assertEqual(len(v["builds"]), 2)
        # the bucket's latest follows; "latest" channel is managed
        bucket = self.ok("GET", BASE + "/buckets/web-app", token=self.R)["bucket"]
        self.assertEqual(bucket["latest_version"]["name"], "v1")
        builds = self.ok("GET", BASE + "/buckets/web-app/versions/v1/builds", token=self.R)
        self.assertEqual(len(builds["builds"]), 2)
        one = self.ok("GET", BASE + "/buckets/web-app/versions/git-abc123/builds/" + ids[0],
                      token=self.R)
        self.assertEqual(one["build"]["id"], ids[0])
        # a complete version is immutable
        self.err(409, "PATCH", BASE + "/buckets/web-app/versions/v1/builds/" + ids[0],
                 {"status": "BUILD_FAILED"}, token=self.W)
        self.err(409, "POST", BASE + "/buckets/web-app/versions/v1/builds",
                 {"component_type": "x.y", "platform": "aws"}, token=self.W)
        # complete: true on a complete version is fine
        self.ok("PATCH", BASE + "/buckets/web-app/versions/v1", {"complete": True})
        # channel created on v1; lookup returns its image
        ch = self.ok("POST", BASE + "/buckets/web-app/channels",
                     {"name": "production", "version_fingerprint": "git-abc123"})
        self.assertEqual(ch["channel"]["version"]["name"], "v1")
        st, doc, _ = self.lookup("web-app", "production", "aws", "eu-west-1")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["external_identifier"], "ami-0aaaaaaaaaaaaaaa2")
        self.assertEqual(doc["bucket_name"], "web-app")
        self.assertEqual(doc["version"], "v1")
        self.assertEqual(doc["fingerprint"], "git-abc123")
        self.assertIs(doc["revoked"], False)
        self.assertIsNone(doc["revoke_at"])
        # v2, assigned with channels/assign: lookup follows the channel
        v2, _ = self.publish("web-app", "git-def456",
                             [{"external_identifier": "ami-0bbbbbbbbbbbbbbb1", "region": "us-east-1"}])
        self.assertEqual(v2["name"], "v2")
        self.ok("POST", BASE + "/buckets/web-app/channels/assign",
                {"target_channel": "staging", "version_fingerprint": "git-def456"})
        self.ok("POST", BASE + "/buckets/web-app/channels/assign",
                {"target_channel": "production", "source_channel": "staging"})
        st, doc, _ = self.lookup("web-app", "production", "aws", "us-east-1")
        self.assertEqual((st, doc["external_identifier"], doc["version"]),
                         (200, "ami-0bbbbbbbbbbbbbbb1", "v2"))
        hist = self.ok("GET", BASE + "/buckets/web-app/channels/production/history",
                       token=self.R)["history"]
        # HCP's history entries carry the version object; the name stays as version_name
        self.assertEqual([h["version"]["name"] for h in hist], ["v2", "v1"])
        self.assertEqual([h["version_name"] for h in hist], ["v2", "v1"])
        self.assertEqual(hist[0]["version"]["fingerprint"], hist[0]["fingerprint"])
        self.assertEqual(hist[0]["author_id"], "packer")
        # lookup of an image that two regions hold needs platform and region
        st, doc, _ = self.lookup("web-app", "staging")
        self.assertEqual(st, 200)
        st, doc, _ = self.lookup("web-app", "production", "gce")
        self.assertEqual(st, 404, doc)

    def test_02_roles_and_revocation_reach_lookup(self):
        self.ok("PUT", BASE + "/buckets", {"name": "api-svc"})
        self.publish("api-svc", "svc-1", [{"external_identifier": "ami-0ccccccccccccccc1",
                                           "region": "us-east-1"}])
        self.publish("api-svc", "svc-2", [{"external_identifier": "ami-0ccccccccccccccc2",
                                           "region": "us-east-1"}])
        self.ok("POST", BASE + "/buckets/api-svc/channels",
                {"name": "prod", "version_fingerprint": "svc-1"})
        self.ok("PATCH", BASE + "/buckets/api-svc/channels/prod", {"version_fingerprint": "svc-2"})
        path = BASE + "/buckets/api-svc/versions/svc-2"
        revoke = {"revoke_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "revocation_message": "CVE-2026-0001", "disable_rollback_channels": True}
        # no token, unknown token, read and write tokens: refused
        doc, hdrs = self.err(401, "PATCH", path, revoke)
        self.assertIn("Bearer", hdrs.get("WWW-Authenticate", ""))
        self.err(401, "PATCH", path, revoke, token="igt_not-a-real-token")
        doc, _ = self.err(403, "PATCH", path, revoke, token=self.R)
        self.assertIn("admin", doc["message"])
        self.err(403, "PATCH", path, revoke, token=self.W)
        self.err(403, "PUT", BASE + "/buckets", {"name": "nope-bucket"}, token=self.R)
        self.err(403, "DELETE", BASE + "/buckets/api-svc", token=self.W)
        self.err(403, "GET", "/v1/audit", token=self.W)
        st, doc, _ = self.lookup("api-svc", "prod", "aws", "us-east-1")
        self.assertEqual(doc["external_identifier"], "ami-0ccccccccccccccc2")
        # admin revokes, keeping channels: the channel still holds v2 and lookup says so
        v = self.ok("PATCH", path, revoke, token=self.A)["version"]
        self.assertEqual(v["status"], "VERSION_REVOKED")
        self.assertEqual(v["revocation_author"], "secops")
        self.assertEqual(v["revocation_message"], "CVE-2026-0001")
        st, doc, _ = self.lookup("api-svc", "prod", "aws", "us-east-1")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["external_identifier"], "error_revoked")
        self.assertIs(doc["revoked"], True)
        self.assertEqual(doc["version"], "v2")
        self.assertTrue(doc["revoke_at"])
        # a revoked version cannot be assigned
        self.err(409, "POST", BASE + "/buckets/api-svc/channels/assign",
                 {"target_channel": "qa", "version_fingerprint": "svc-2"}, token=self.W)
        # restore (admin): lookup is valid again; channels are not re-assigned
        v = self.ok("PATCH", path, {"restore": True}, token=self.A)["version"]
        self.assertEqual(v["status"], "VERSION_ACTIVE")
        self.err(409, "PATCH", path, {"restore": True}, token=self.A)  # not revoked
        st, doc, _ = self.lookup("api-svc", "prod", "aws", "us-east-1")
        self.assertEqual(doc["external_identifier"], "ami-0ccccccccccccccc2")
        # revoke without disable_rollback_channels: prod rolls back to v1
        self.ok("PATCH", path, {"revoke_in": "0s"}, token=self.A)
        st, doc, _ = self.lookup("api-svc", "prod", "aws", "us-east-1")
        self.assertEqual((doc["version"], doc["revoked"]), ("v1", False))
        # scheduled: still valid, revoke_at given
        v = self.ok("PATCH", BASE + "/buckets/api-svc/versions/v1", {"revoke_in": "30d"},
                    token=self.A)["version"]
        self.assertEqual(v["status"], "VERSION_REVOCATION_SCHEDULED")
        st, doc, _ = self.lookup("api-svc", "prod", "aws", "us-east-1")
        self.assertEqual((doc["external_identifier"], doc["revoked"]),
                         ("ami-0ccccccccccccccc1", False))
        self.assertTrue(doc["revoke_at"])
        # deletes are the admin's
        self.ok("DELETE", BASE + "/buckets/api-svc/channels/prod", token=self.A)
        self.err(404, "GET", BASE + "/buckets/api-svc/channels/prod", token=self.R)

    def test_03_search_finds_the_fixtures_revoked_images(self):
        doc = self.ok("POST", BASE + "/_search/external_artifact",
                      {"external_identifier": "ami-0d4c3b2a1f0e9d8c7"}, token=self.R)
        self.assertEqual(len(doc["artifacts"]), 1)
        a = doc["artifacts"][0]
        self.assertEqual(a["bucket"]["name"], "web-ubuntu")
        self.assertEqual(a["version"]["name"], "v1")
        self.assertEqual(a["version"]["fingerprint"], "web-1")
        self.assertEqual(a["version"]["status"], "VERSION_REVOKED")
        self.assertIn("CVE-2024-6387", a["version"]["revocation_message"])
        self.assertEqual(a["artifact"]["region"], "us-west-1")
        # inherited: app-java v1 was built from golden-base v1
        doc = self.ok("POST", BASE + "/_search/external_artifact",
                      {"external_identifier": "AMI-0FEDCBA9876543210", "platform": "aws"},
                      token=self.R)
        v = doc["artifacts"][0]["version"]
        self.assertEqual((v["status"], v["revocation_type"]), ("VERSION_REVOKED", "INHERITED"))
        self.assertEqual(v["revocation_inherited_from"]["bucket_name"], "golden-base")
        self.check_hcp_origin(v["revocation_inherited_from"])
        # the same on a version read, and in its revocations
        v = self.ok("GET", BASE + "/buckets/app-java/versions/v1", token=self.R)["version"]
        self.check_hcp_origin(v["revocation_inherited_from"])
        self.check_hcp_origin(v["revocations"][0]["inherited_from"])
        # a bucket's version_count is a string, as HCP encodes int64
        b = self.ok("GET", BASE + "/buckets/web-ubuntu", token=self.R)["bucket"]
        self.assertIsInstance(b["version_count"], str)
        self.assertGreaterEqual(int(b["version_count"]), 2)
        for b in self.ok("GET", BASE + "/buckets", token=self.R)["buckets"]:
            self.assertIsInstance(b["version_count"], str)
        doc = self.ok("POST", BASE + "/_search/external_artifact",
                      {"external_identifier": "ami-0d4c3b2a1f0e9d8c7", "region": "eu-north-1"},
                      token=self.R)
        self.assertEqual(doc["artifacts"], [])
        self.err(400, "POST", BASE + "/_search/external_artifact", {"platform": "aws"},
                 token=self.R)

    def test_04_bad_input_gets_json_errors(self):
        # malformed JSON, a body that is not an object, wrong types
        doc, _ = self.err(400, "PUT", BASE + "/buckets", token=self.W, raw=b'{"name": "x-y-z"')
        self.assertIn("malformed JSON", doc["message"])
        self.err(400, "PUT", BASE + "/buckets", token=self.W, raw=b'["web"]')
        self.err(400, "PUT", BASE + "/buckets", {"name": 42}, token=self.W)
        self.err(400, "PUT", BASE + "/buckets", {"name": "ok-name", "labels": "x"}, token=self.W)
        # invalid names, in the body and in the path
        doc, _ = self.err(400, "PUT", BASE + "/buckets", {"name": "no"}, token=self.W)
        self.assertIn("bucket name", doc["message"])
        self.err(400, "PUT", BASE + "/buckets", {"name": "bad_name!"}, token=self.W)
        self.err(400, "GET", BASE + "/buckets/bad_name", token=self.R)
        self.err(400, "POST", BASE + "/buckets/web-ubuntu/versions", {"fingerprint": "v7"},
                 token=self.W)
        self.err(400, "POST", BASE + "/buckets/web-ubuntu/versions", {"fingerprint": "-x-"},
                 token=self.W)
        self.err(400, "GET", BASE + "/buckets/web-ubuntu/versions/-x-", token=self.R)
        self.err(400, "POST", BASE + "/buckets/web-ubuntu/channels", {"name": "_x"}, token=self.W)
        self.err(400, "PATCH", BASE + "/buckets/web-ubuntu/versions/v2",
                 {"revoke_at": "2026-02-30T00:00:00Z"}, token=self.A)
        self.err(400, "PATCH", BASE + "/buckets/web-ubuntu/versions/v2",
                 {"revoke_at": "2030-01-01T00:00:00Z", "revoke_in": "1d"}, token=self.A)
        self.err(400, "PATCH", BASE + "/buckets/web-ubuntu/versions/v2", {}, token=self.A)
        self.err(400, "GET", "/v1/lookup?bucket=web-ubuntu", token=self.R)
        self.err(400, "GET", "/v1/lookup?bucket=x&channel=prod", token=self.R)
        self.err(400, "GET", "/v1/audit?since=yesterday", token=self.A)
        self.err(400, "GET", BASE + "/buckets?a=%zz", token=self.R)
        # not found, method not allowed, conflicts
        self.err(404, "GET", BASE + "/buckets/no-such-bucket", token=self.R)
        # a missing version of a bucket that exists: HCP's ABORTED, which Packer creates on
        self.err(409, "GET", BASE + "/buckets/web-ubuntu/versions/v99", token=self.R, grpc=10)
        self.err(404, "GET", BASE + "/buckets/no-such-bucket/versions/v99", token=self.R)
        self.err(404, "GET", BASE + "/bucketz", token=self.R)
        doc, hdrs = self.err(405, "POST", BASE + "/buckets", {"name": "abc"}, token=self.W)
        self.assertEqual(hdrs.get("Allow"), "GET, PUT")
        # a name that is taken is HCP's ALREADY_EXISTS (6); other conflicts FAILED_PRECONDITION
        self.err(409, "PUT", BASE + "/buckets", {"name": "web-ubuntu"}, token=self.W, grpc=6)
        self.err(409, "POST", BASE + "/buckets/web-ubuntu/channels", {"name": "production"},
                 token=self.W, grpc=6)
        self.err(409, "POST", BASE + "/buckets/web-ubuntu/channels",
                 {"name": "qa", "version_fingerprint": "web-1"}, token=self.W)  # revoked
        # what Packer reads to decide to create a bucket: NOT_FOUND (5)
        doc, _ = self.err(404, "GET", BASE + "/buckets/not-there-yet", token=self.R)
        self.assertIn('"code":5,', json.dumps(doc, separators=(",", ":")))
        self.err(409, "PATCH", BASE + "/buckets/web-ubuntu/channels/latest",
                 {"version_fingerprint": "web-2"}, token=self.W)
        self.err(409, "POST", BASE + "/buckets/web-ubuntu/versions", {"fingerprint": "web-2"},
                 token=self.W)  # complete: immutable
        # a body over --max-body-bytes (64k): 413
        big = json.dumps({"name": "big-one", "description": "x" * 70000}).encode()
        st, doc, _ = self.d.call("PUT", BASE + "/buckets", token=self.W, raw=big)
        self.assertEqual(st, 413, doc)
        self.assertEqual((doc["code"], doc["details"]), (8, []))  # RESOURCE_EXHAUSTED
        # the daemon is still fine
        self.ok("GET", BASE + "/buckets/web-ubuntu", token=self.R)

    def test_05_pagination(self):
        for i in range(5):
            self.ok("PUT", BASE + "/buckets", {"name": "page-%02d" % i})
        names, token, pages = [], "", 0
        while True:
            q = "pagination.page_size=2" + ("&pagination.next_page_token=" + token if token else "")
            doc = self.ok("GET", BASE + "/buckets?" + q, token=self.R)
            self.assertLessEqual(len(doc["buckets"]), 2)
            self.assertEqual(doc["pagination"]["page_size"], 2)
            names += [b["name"] for b in doc["buckets"]]
            pages += 1
            token = doc["pagination"]["next_page_token"]
            if not token:
                break
            self.assertLess(pages, 50)
        everything = [b["name"] for b in self.ok("GET", BASE + "/buckets?pagination.page_size=1000",
                                                 token=self.R)["buckets"]]
        self.assertEqual(names, everything)
        self.assertEqual(names, sorted(names))
        self.assertGreater(pages, 3)
        # versions and channels page too
        doc = self.ok("GET", BASE + "/buckets/web-ubuntu/versions?pagination.page_size=2",
                      token=self.R)
        self.assertEqual([v["name"] for v in doc["versions"]], ["v3", "v2"])
        doc = self.ok("GET", BASE + "/buckets/web-ubuntu/versions?pagination.page_size=2&"
                      "pagination.next_page_token=" + doc["pagination"]["next_page_token"],
                      token=self.R)
        self.assertEqual([v["name"] for v in doc["versions"]], ["v1"])
        self.assertEqual(doc["pagination"]["next_page_token"], "")
        doc = self.ok("GET", BASE + "/buckets/web-ubuntu/channels?pagination.page_size=1",
                      token=self.R)
        self.assertEqual(len(doc["channels"]), 1)
        self.assertTrue(doc["pagination"]["next_page_token"])
        self.err(400, "GET", BASE + "/buckets?pagination.next_page_token=zzz", token=self.R)
        self.err(400, "GET", BASE + "/buckets?pagination.page_size=5000", token=self.R)

    def test_06_audit_author_is_the_token_name(self):
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        self.ok("PUT", BASE + "/buckets", {"name": "audited"})
        self.publish("audited", "aud-1", [{"external_identifier": "ami-0ddddddddddddddd1",
                                           "region": "us-east-1"}])
        self.ok("PATCH", BASE + "/buckets/audited/versions/v1", {"revoke_in": "0s"}, token=self.A)
        st, doc, _ = self.audit(since=since, bucket="audited", **{"pagination.page_size": 100})
        self.assertEqual(st, 200, doc)
        by = {(e["action"], e["author"]) for e in doc["entries"]}
        for want in (("bucket.create", "packer"), ("version.create", "packer"),
                     ("build.create", "packer"), ("build.update", "packer"),
                     ("version.complete", "packer"), ("version.revoke", "secops")):
            self.assertIn(want, by)
        # paging by two gives the same entries in the same order
        all_ids = [e["id"] for e in doc["entries"]]
        ids, token = [], None
        while True:
            q = {"since": since, "bucket": "audited", "pagination.page_size": 2}
            if token:
                q["pagination.next_page_token"] = token
            st, page, _ = self.audit(**q)
            self.assertEqual(st, 200, page)
            ids += [e["id"] for e in page["entries"]]
            token = page["pagination"]["next_page_token"]
            if not token:
                break
        self.assertEqual(ids, all_ids)
        st, _, _ = self.audit(**{"pagination.next_page_token": "garbage"})
        self.assertEqual(st, 400)
        st, doc, _ = self.audit(token=self.R)
        self.assertEqual(st, 403)
        # "since" as a duration
        st, doc, _ = self.audit(since="1h", bucket="audited")
        self.assertEqual(st, 200)
        self.assertTrue(doc["entries"])
        # the console's filters: author, until, newest first (paged the same way)
        st, doc, _ = self.audit(since=since, bucket="audited", author="secops")
        self.assertEqual([(e["action"], e["author"]) for e in doc["entries"]],
                         [("version.revoke", "secops")])
        ids, token = [], None
        while True:
            q = {"since": since, "bucket": "audited", "order": "newest", "pagination.page_size": 2}
            if token:
                q["pagination.next_page_token"] = token
            st, page, _ = self.audit(**q)
            self.assertEqual(st, 200, page)
            ids += [e["id"] for e in page["entries"]]
            token = page["pagination"]["next_page_token"]
            if not token:
                break
        self.assertEqual(ids, all_ids[::-1])
        st, doc, _ = self.audit(since=since, bucket="audited", until=since)
        self.assertEqual(doc["entries"], [])
        for bad in ({"order": "sideways"}, {"until": "yesterday"}, {"author": "x" * 129}):
            st, doc, _ = self.audit(**bad)
            self.assertEqual((st, doc["code"]), (400, 3), bad)

    def test_06b_whoami_and_the_bucket_filter(self):
        for token, name, role in ((self.R, "ci-reader", "read"), (self.A, "secops", "admin")):
            st, doc, _ = self.d.call("GET", "/v1/whoami", token=token)
            self.assertEqual(st, 200, doc)
            self.assertEqual((doc["name"], doc["role"]), (name, role))
            self.assertRegex(doc["organization_id"], r"^[0-9a-f-]{36}$")
            self.assertIsInstance(doc["features"], list)
        st, doc, _ = self.d.call("GET", "/v1/whoami")
        self.assertEqual((st, doc["code"]), (401, 16))
        self.ok("PUT", BASE + "/buckets", {"name": "filtered-one", "description": "100% Ubuntu"})
        doc = self.ok("GET", BASE + "/buckets?filter=" + urllib.parse.quote("0% ub"), token=self.R)
        self.assertEqual([b["name"] for b in doc["buckets"]], ["filtered-one"])
        self.assertEqual((doc["buckets"][0]["revoked_count"], doc["buckets"][0]["scheduled_count"]),
                         (0, 0))
        self.err(400, "GET", BASE + "/buckets?filter=" + "x" * 256, token=self.R)

    def test_07_scan_server_other_types_fails(self):
        plan = os.path.join(FIX, "plans", "other-types.plan.json")
        r = run(BIN, "scan", "--server", self.d.url, "--token", self.R, "--ca-file", self.ca, plan)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("FAIL", r.stdout)
        self.assertIn("aws_launch_configuration.legacy", r.stdout)
        r = run(BIN, "scan", "--server", self.d.url, "--token", self.R, "--ca-file", self.ca,
                "--format", "json", plan)
        self.assertEqual(r.returncode, 1, r)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["verdict"], "fail")
        kinds = {(f["kind"], f["address"]) for f in doc["findings"] if f["level"] == "fail"}
        self.assertIn(("revoked", "aws_launch_configuration.legacy"), kinds)
        self.assertIn(("revoked", "aws_emr_cluster.analytics"), kinds)
        # the same report as a local scan of the same store
        local = run(BIN, "--db", self.db, "scan", "--format", "json", plan)
        self.assertEqual(json.loads(local.stdout)["summary"], doc["summary"])
        # clean passes; the verdict header; other formats
        with open(os.path.join(FIX, "plans", "clean.plan.json"), "rb") as f:
            clean = f.read()
        st, body, hdrs = self.d.call("POST", "/v1/scan?format=sarif", token=self.R, raw=clean)
        self.assertEqual((st, hdrs.get("X-Imagegate-Verdict")), (200, "pass"))
        self.assertEqual(body["version"], "2.1.0")
        with open(plan, "rb") as f:
            other = f.read()
        st, body, hdrs = self.d.call("POST", "/v1/scan?format=junit&workspace=prod&organization=o",
                                     token=self.R, raw=other)
        self.assertEqual((st, hdrs.get("X-Imagegate-Verdict")), (200, "fail"))
        self.assertIn("<testsuite", body)
        self.assertTrue(hdrs["Content-Type"].startswith("application/xml"))
        # a bad plan: 400 naming the byte; a bad format: 400; no or bad token: 401
        doc, _ = self.err(400, "POST", "/v1/scan", token=self.R, raw=b'{"format_version": "1.2", ')
        self.assertIn("byte", doc["message"])
        self.err(400, "POST", "/v1/scan?format=pdf", token=self.R, raw=clean)
        self.err(401, "POST", "/v1/scan", raw=clean)
        r = run(BIN, "scan", "--server", self.d.url, "--token", "igt_wrong", "--ca-file", self.ca,
                plan)
        self.assertEqual(r.returncode, 2, r)
        # without the CA the client refuses the server: unreachable, 3
        r = run(BIN, "scan", "--server", self.d.url, "--token", self.R, plan)
        self.assertEqual(r.returncode, 3, r)

    def test_07b_scan_finds_revoked_image_whatever_its_platform_name(self):
        """Images are matched by identifier alone: an AMI published over the API
        under a platform name that is not the pattern's ("amazon") and revoked
        fails a server scan exactly as it fails a local one."""
        self.ok("PUT", BASE + "/buckets", {"name": "odd-platform"})
        ami = "ami-0a0b0c0d0e0f01234"
        self.publish("odd-platform", "odd-1", [{"external_identifier": ami,
                                                 "region": "us-west-1"}], platform="amazon")
        self.ok("PATCH", BASE + "/buckets/odd-platform/versions/odd-1",
                {"revoke_at": "2000-01-01T00:00:00Z", "revocation_message": "bad"},
                token=self.A)
        with open(os.path.join(FIX, "plans", "hardcoded-literal.plan.json")) as f:
            text = f.read()
        # aws_instance.app's image (tracked, web-ubuntu v2) becomes the odd one
        self.assertIn("ami-0a1b2c3d4e5f60718", text)
        plan = json.loads(text.replace("ami-0a1b2c3d4e5f60718", ami))
        raw = json.dumps(plan).encode()
        st, body, hdrs = self.d.call("POST", "/v1/scan?format=json", token=self.R, raw=raw)
        self.assertEqual((st, hdrs.get("X-Imagegate-Verdict")), (200, "fail"), body)
        self.assertIn(("revoked", "fail", "odd-platform"),
                      {(f["kind"], f["level"], f["bucket"]) for f in body["findings"]})
        path = os.path.join(self.tmp, "odd-platform.plan.json")
        with open(path, "wb") as f:
            f.write(raw)
        local = run(BIN, "--db", self.db, "scan", "--format", "json", path)
        self.assertEqual(local.returncode, 1, local)
        self.assertEqual(json.loads(local.stdout)["summary"], body["summary"])

    def test_08_scan_plan_over_max_plan_bytes_is_413(self):
        # 1.5 MB of a syntactically plausible plan against --max-plan-bytes 1M
        body = b'{"format_version":"1.2","x":"' + b"a" * (1536 * 1024) + b'"}'
        ctx = ssl.create_default_context(cafile=self.ca)
        for chunked in (False, True):
            conn = http.client.HTTPSConnection("127.0.0.1", self.d.port, context=ctx, timeout=20)
            try:
                hdrs = {"Authorization": "Bearer " + self.R, "Content-Type": "application/json"}
                if chunked:
                    conn.request("POST", "/v1/scan", body=iter([body[i:i + 65536] for i in
                                                                range(0, len(body), 65536)]),
                                 headers=hdrs, encode_chunked=True)
                else:
                    conn.request("POST", "/v1/scan", body=body, headers=hdrs)
                status = conn.getresponse().status
            except (ConnectionError, ssl.SSLError):
                status = "reset"  # the server may close while we still send
            finally:
                conn.close()
            self.assertIn(status, (413, "reset"))
        # a plan just under the limit is read and scanned (nothing in it: pass)
        body = b'{"format_version":"1.2","x":"' + b"a" * (1000 * 1024) + b'"}'
        st, doc, hdrs = self.d.call("POST", "/v1/scan", token=self.R, raw=body)
        self.assertEqual((st, hdrs.get("X-Imagegate-Verdict")), (200, "pass"), doc)
        self.ok("GET", BASE + "/buckets/web-ubuntu", token=self.R)

    def test_08b_scan_server_writes_a_report_or_nothing(self):
        """scan --server: standard output and --output get a report only from
        a 200 answer; any other answer is one line on stderr (the JSON
        error's message, or the status alone) and leaves --output as it was."""
        plan = os.path.join(FIX, "plans", "other-types.plan.json")
        base = [BIN, "scan", "--server", self.d.url, "--ca-file", self.ca]
        # a wrong token with --format sarif: nothing on stdout, the message on stderr
        r = run(*base, "--token", "igt_wrong", "--format", "sarif", plan)
        self.assertEqual((r.returncode, r.stdout), (2, ""), r)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("HTTP 401", r.stderr)
        self.assertIn("unknown or was revoked", r.stderr)
        self.assertNotIn('"code"', r.stderr)
        # a failed scan leaves an existing --output alone, and creates none
        out = os.path.join(self.tmp, "remote-report.json")
        with open(out, "w") as f:
            f.write("previous\n")
        r = run(*base, "--token", self.R, "--format", "json", "--output", out, "-",
                input='{"format_version":')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("HTTP 400", r.stderr)
        with open(out) as f:
            self.assertEqual(f.read(), "previous\n")
        fresh = os.path.join(self.tmp, "never-made.json")
        r = run(*base, "--token", "igt_wrong", "--output", fresh, plan)
        self.assertEqual(r.returncode, 2, r)
        self.assertFalse(os.path.exists(fresh))
        # a successful one replaces it
        r = run(*base, "--token", self.R, "--format", "json", "--output", out, plan)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (1, "", ""), r)
        with open(out) as f:
            self.assertEqual(json.load(f)["verdict"], "fail")
        # over --max-plan-bytes (1M): one line, not libevent's HTML page
        big = os.path.join(self.tmp, "big.plan.json")
        with open(big, "wb") as f:
            f.write(b'{"format_version":"1.2","x":"' + b"a" * (1536 * 1024) + b'"}')
        r = run(*base, "--token", self.R, "--format", "json", big)
        self.assertEqual((r.returncode, r.stdout), (2, ""), r)
        self.assertEqual(r.stderr.strip().splitlines(),
                         ["imagegate: the server refused the plan: larger than its "
                          "--max-plan-bytes (or its --max-body-bytes, if it does not know the "
                          "token) (HTTP 413)"])
        # an endpoint that is not imagegate's: the status, not the body
        r = run(BIN, "scan", "--server", self.d.url + "/nothing", "--ca-file", self.ca,
                "--token", self.R, plan)
        self.assertEqual((r.returncode, r.stdout), (2, ""), r)
        self.assertIn("HTTP 404", r.stderr)
        # a CA bundle that is not there is bad input naming --ca-file (2), not "unreachable"
        missing = os.path.join(self.tmp, "no-such-ca.pem")
        r = run(*base[:4], "--ca-file", missing, "--token", self.R, plan)
        self.assertEqual(r.returncode, 2, r)
        self.assertEqual(r.stderr.strip().splitlines(),
                         ["imagegate: --ca-file %s: No such file or directory" % missing])

    def test_08c_bodies_as_hcp_sdk_go_sends_them(self):
        """Packer's CreateBuild has no platform and "artifacts": null; heartbeats
        carry nulls; the platform comes with the artifacts on the last
        UpdateBuild. Every version PATCH carries Go's zero time as revoke_at."""
        self.ok("PUT", BASE + "/buckets", {"name": "sdk-shaped"})
        vp = BASE + "/buckets/sdk-shaped/versions"
        self.ok("POST", vp, {"fingerprint": "sdk-1"})
        b = self.ok("POST", vp + "/sdk-1/builds",
                    {"component_type": "amazon-ebs.ubuntu", "packer_run_uuid": "r1",
                     "status": "BUILD_RUNNING", "artifacts": None})["build"]
        self.assertEqual((b["platform"], b["artifacts"]), ("", []))
        bp = vp + "/sdk-1/builds/" + b["id"]
        b = self.ok("PATCH", bp, {"artifacts": None, "labels": None, "status": "BUILD_RUNNING",
                                  "packer_run_uuid": "r1", "platform": None})["build"]
        self.assertEqual((b["component_type"], b["status"]), ("amazon-ebs.ubuntu", "BUILD_RUNNING"))
        doc, _ = self.err(400, "PATCH", bp, {"status": "BUILD_DONE", "artifacts": [
            {"external_identifier": "ami-0sdk000000000001", "region": "us-east-1"}]}, token=self.W)
        self.assertIn("build.platform: missing", doc["message"])
        b = self.ok("PATCH", bp, {"status": "BUILD_DONE", "platform": "aws", "labels": None,
                                  "artifacts": [{"external_identifier": "ami-0sdk000000000001",
                                                 "region": "us-east-1"}]})["build"]
        self.assertEqual(b["platform"], "aws")
        v = self.ok("GET", vp + "/sdk-1", token=self.R)["version"]
        self.assertEqual((v["name"], v["status"]), ("v1", "VERSION_ACTIVE"))
        zero = "0001-01-01T00:00:00.000Z"
        v = self.ok("PATCH", vp + "/v1", {"revoke_in": "30d", "revoke_at": zero,
                                          "revocation_message": "eol"}, token=self.A)["version"]
        self.assertEqual(v["status"], "VERSION_REVOCATION_SCHEDULED")
        v = self.ok("PATCH", vp + "/v1", {"restore": True, "revoke_at": zero},
                    token=self.A)["version"]
        self.assertEqual(v["status"], "VERSION_ACTIVE")
        doc, _ = self.err(400, "PATCH", vp + "/v1", {"revoke_at": zero}, token=self.A)
        self.assertIn("nothing to change", doc["message"])

    def test_09_tokens_over_the_api(self):
        doc = self.ok("POST", "/v1/tokens", {"name": "pipeline-7", "role": "write"}, token=self.A)
        secret = doc["token"]["secret"]
        self.assertTrue(secret.startswith("igt_"))
        self.err(403, "POST", "/v1/tokens", {"name": "sneaky", "role": "admin"}, token=self.W)
        self.err(400, "POST", "/v1/tokens", {"name": "x", "role": "root"}, token=self.A)
        self.err(409, "POST", "/v1/tokens", {"name": "pipeline-7", "role": "read"}, token=self.A,
                 grpc=6)
        lst = self.ok("GET", "/v1/tokens", token=self.A)["tokens"]
        self.assertIn("pipeline-7", [t["name"] for t in lst])
        self.assertNotIn(secret, json.dumps(lst))
        self.ok("PUT", BASE + "/buckets", {"name": "by-pipeline"}, token=secret)
        self.ok("DELETE", "/v1/tokens/pipeline-7", token=self.A)
        self.err(401, "GET", BASE + "/buckets", token=secret)
        self.err(404, "DELETE", "/v1/tokens/pipeline-7", token=self.A)

    def test_10_plain_http_and_secrets_never_logged(self):
        d = api_daemon(self.tmp, "plain", self.db, self.ca, self.cert, self.key, tls=False).start()
        try:
            plan = os.path.join(FIX, "plans", "other-types.plan.json")
            r = run(BIN, "scan", "--server", d.url, "--token", self.R, plan)
            self.assertEqual(r.returncode, 1, r)
            st, doc, _ = d.call("GET", BASE + "/buckets/web-ubuntu/channels/production",
                                token=self.R)
            self.assertEqual((st, doc["channel"]["version"]["name"]), (200, "v2"))
        finally:
            status = d.stop()
        # a clean exit (under the sanitizer build: no leak, no UB report)
        self.assertEqual(status, 0, d.log()[-3000:])
        self.assertNotIn("Sanitizer", d.log())
        self.assertNotIn("runtime error", d.log())
        for log in (self.d.log(), d.log()):
            for secret in (self.R, self.W, self.A):
                self.assertNotIn(secret, log)
            self.assertIn("token=ci-reader", log)


MB = 1024 * 1024


def vm_kb(pid, field):
    """A VmRSS / VmHWM figure of /proc/PID/status, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (field, pid))


def plan_of(size):
    """A syntactically valid plan of size bytes with nothing in it (verdict pass)."""
    head, tail = b'{"format_version":"1.2","x":"', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


class ScanBodyLimitTest(unittest.TestCase):
    """POST /v1/scan's body limit is chosen from the header block, before the
    body is read: up to --max-plan-bytes (64M here) only with the bearer token
    of a live API token, --max-body-bytes (64k) for anyone else -- so a client
    without a token cannot make the server buffer a plan-sized body.

    Two daemons share one store: over TLS with --token-refresh 10m, so what it
    learns about tokens created or revoked through its own API can only come
    from the refresh those calls make at once; over plain HTTP with
    --token-refresh 1s, for tokens made and revoked with the command line.
    Whether a header block would be allowed a big body is asked with
    "Expect: 100-continue": evhttp answers 100 when the declared length is
    within the connection's limit and 413 when it is not, before any body."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-scanlimit-")
        cls.ca, cls.cert, cls.key = make_certs(cls.tmp)
        with open(os.path.join(cls.tmp, "hmac.keys"), "w") as f:
            f.write("scan-limit-hmac-key-0123456789\n")
        os.chmod(os.path.join(cls.tmp, "hmac.keys"), 0o600)
        cls.db = "sqlite:" + os.path.join(cls.tmp, "registry.db")
        r = run("sh", os.path.join(FIX, "setup-registry.sh"), BIN, cls.db)
        assert r.returncode == 0, r.stderr
        cls.R = cls.cli_token("ci-reader", "read")
        cls.A = cls.cli_token("secops", "admin")
        cls.secrets = [cls.R, cls.A]
        cls.tls = api_daemon(cls.tmp, "tls", cls.db, cls.ca, cls.cert, cls.key, plan="64M",
                             extra=["--token-refresh", "10m"]).start()
        cls.plain = api_daemon(cls.tmp, "plain", cls.db, cls.ca, cls.cert, cls.key, tls=False,
                               plan="64M", extra=["--token-refresh", "1s"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.tls.stop()
        cls.plain.stop()
        if os.environ.get("IG_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def cli_token(cls, name, role):
        r = run(BIN, "--db", cls.db, "token", "create", "--name", name, "--role", role, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["secret"]

    # -- helpers --------------------------------------------------------------
    def connect(self, d):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=20)
        return d.ctx.wrap_socket(s, server_hostname="localhost") if d.tls else s

    @staticmethod
    def head(length=None, token=None, lines=(), expect=False):
        """A POST /v1/scan header block: Content-Length, or chunked when None."""
        h = ["POST /v1/scan HTTP/1.1", "Host: localhost", "Content-Type: application/json",
             "Content-Length: %d" % length if length is not None
             else "Transfer-Encoding: chunked"]
        if expect:
            h.append("Expect: 100-continue")
        if token:
            h.append("Authorization: Bearer " + token)
        h += list(lines)
        return ("\r\n".join(h) + "\r\n\r\n").encode()

    def probe(self, d, token=None, lines=()):
        """100 when d would read a 50 MB plan after this header block, 413 when
        it refuses it before the body (none is sent)."""
        s = self.connect(d)
        reply = b""
        try:
            s.sendall(self.head(50 * MB, token, lines, expect=True))
            while b"\r\n" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.1 (\d{3})", reply)
        return int(m.group(1)) if m else None

    def wait_probe(self, d, token, want, within):
        """Seconds until probe() answers want; fails after within seconds."""
        t0 = time.time()
        while True:
            got = self.probe(d, token)
            if got == want:
                return time.time() - t0
            if time.time() - t0 > within:
                self.fail("probe still %s after %.1f s (want %s)" % (got, within, want))
            time.sleep(0.1)

    def upload(self, d, head, size, chunked=False, piece=256 * 1024):
        """Sends head and then a plan of size bytes in pieces (chunked framing
        if asked), looking for an answer between pieces as a refusing server
        may answer and close before the end. Returns (status or None when the
        connection was cut without one, body bytes sent)."""
        body = plan_of(size)
        s = self.connect(d)
        sent, reply = 0, b""
        try:
            s.sendall(head)
            # a refusal on the header block alone comes before any body
            reply = igtest.recv_within(s, 0.2)
            while not reply:
                s.setblocking(False)
                try:
                    reply = s.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError):
                    pass
                except OSError:
                    break
                finally:
                    s.setblocking(True)
                if reply:
                    break
                if sent >= len(body):
                    try:
                        if chunked:
                            s.sendall(b"0\r\n\r\n")
                    except OSError:
                        pass
                    break
                part = body[sent:sent + piece]
                try:
                    s.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                except OSError:
                    break
                sent += len(part)
            s.settimeout(120)
            while b"\r\n" not in reply:
                try:
                    chunk = s.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                reply += chunk
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.1 (\d{3})", reply)
        return (int(m.group(1)) if m else None), sent

    # -- the cases ------------------------------------------------------------
    def test_1_no_or_wrong_token_refused_before_the_body(self):
        for d in (self.tls, self.plain):
            # a known token may send a big plan; anything else is refused before the body
            self.assertEqual(self.probe(d, self.R), 100, d.name)
            self.assertEqual(self.probe(d, self.R, ["X-Other: 1"]), 100, d.name)
            for lines in ([], ["Authorization: Bearer igt_wrong"],
                          ["Authorization: Bearer " + self.R[:-1]],
                          ["Authorization: Bearer " + self.R + "x"],
                          ["Authorization: Bearer"], ["Authorization:"],
                          ["Authorization: Basic " + self.R],
                          ["Authorization: " + self.R],
                          # the valid token, but twice, or past a junk length
                          ["Authorization: Bearer " + self.R] * 2,
                          ["Authorization: Bearer " + self.R + " " * 400],
                          ["Authorization: Bearer " + "x" * 8000]):
                self.assertEqual(self.probe(d, None, lines), 413, (d.name, lines))
            # folded over two lines: no header may be folded (400, docs/api.md), before the body
            self.assertEqual(self.probe(d, None, ["Authorization: Bearer", " " + self.R]), 400,
                             d.name)
            # the same 50 MB with its length declared: 413 before a byte of the body
            for token in (None, "igt_wrong"):
                self.assertEqual(self.upload(d, self.head(50 * MB, token), 50 * MB), (413, 0),
                                 (d.name, token))
            # chunked, so no length up front: cut just past --max-body-bytes (64k);
            # what was sent is what the socket buffers took, far below 50 MB
            for token in (None, "igt_wrong"):
                code, sent = self.upload(d, self.head(None, token), 50 * MB, chunked=True)
                self.assertIn(code, (413, None), (d.name, token))
                self.assertLess(sent, 16 * MB, (d.name, token))
            # a small body without a (known) token is read, and the handler says 401
            small = plan_of(10 * 1024)
            st, doc, _ = d.call("POST", "/v1/scan", raw=small)
            self.assertEqual(st, 401, doc)
            st, doc, _ = d.call("POST", "/v1/scan", token="igt_wrong", raw=small)
            self.assertEqual(st, 401, doc)
            # other routes keep their limits; the server is fine
            st, doc, _ = d.call("GET", "/healthz")
            self.assertEqual(st, 200, doc)

    def test_2_memory_stays_flat_while_a_known_token_still_scans_big(self):
        d = self.tls
        pid = d.proc.pid
        hwm0 = vm_kb(pid, "VmHWM")
        results = []

        def attack(i):
            token = None if i % 2 else "igt_not-a-token-%d" % i
            results.append(self.upload(d, self.head(None, token), 50 * MB, chunked=True))

        # eight clients at once each try to send a 50 MB plan without a valid token;
        # buffered, that would be 400 MB
        threads = [threading.Thread(target=attack, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        grew = vm_kb(pid, "VmHWM") - hwm0
        self.assertLess(grew, 24 * 1024, "peak RSS grew by %d KiB: %s" % (grew, results))
        self.assertEqual(len(results), 8)
        for code, sent in results:
            self.assertIn(code, (413, None), results)
            self.assertLess(sent, 16 * MB, results)
        # a known token's 50 MB plan is read and scanned (nothing in it: pass) --
        # and the same measure sees it held in memory
        code, sent = self.upload(d, self.head(50 * MB, self.R), 50 * MB)
        self.assertEqual((code, sent), (200, 50 * MB))
        grew = vm_kb(pid, "VmHWM") - hwm0
        self.assertGreater(grew, 40 * 1024, "peak RSS grew by only %d KiB" % grew)

    def test_3_tokens_made_over_the_api_count_at_once(self):
        d = self.tls  # --token-refresh 10m: only the API's own refresh can explain these
        st, doc, _ = d.call("POST", "/v1/tokens", {"name": "pipeline-big", "role": "read"},
                            token=self.A)
        self.assertEqual(st, 200, doc)
        secret = doc["token"]["secret"]
        self.secrets.append(secret)
        self.assertEqual(self.probe(d, secret), 100)
        self.assertEqual(self.upload(d, self.head(2 * MB, secret), 2 * MB), (200, 2 * MB))
        st, doc, _ = d.call("DELETE", "/v1/tokens/pipeline-big", token=self.A)
        self.assertEqual(st, 200, doc)
        # revoked: refused before the body right after the reply, and 401 for a small one
        self.assertEqual(self.probe(d, secret), 413)
        self.assertEqual(self.upload(d, self.head(2 * MB, secret), 2 * MB), (413, 0))
        st, doc, _ = d.call("POST", "/v1/scan", token=secret, raw=plan_of(10 * 1024))
        self.assertEqual(st, 401, doc)
        # a token made with the command line is not in this server's snapshot for
        # ten minutes: big plans wait, small ones are checked by the store and scanned
        late = self.cli_token("late-tls", "read")
        self.secrets.append(late)
        self.assertEqual(self.probe(d, late), 413)
        st, body, hdrs = d.call("POST", "/v1/scan", token=late, raw=plan_of(10 * 1024))
        self.assertEqual((st, hdrs.get("X-Imagegate-Verdict")), (200, "pass"), body)

    def test_4_tokens_made_with_the_cli_count_after_the_refresh(self):
        d = self.plain  # --token-refresh 1s
        secret = self.cli_token("cli-big", "read")
        self.secrets.append(secret)
        self.wait_probe(d, secret, 100, within=15)  # about 1 s; slack for a busy machine
        self.assertEqual(self.upload(d, self.head(2 * MB, secret), 2 * MB), (200, 2 * MB))
        r = run(BIN, "--db", self.db, "token", "revoke", "cli-big")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_probe(d, secret, 413, within=15)
        st, doc, _ = d.call("POST", "/v1/scan", token=secret, raw=plan_of(10 * 1024))
        self.assertEqual(st, 401, doc)

    def test_9_clean_exit_and_no_secret_logged(self):
        for d in (self.tls, self.plain):
            status = d.stop()
            log = d.log()
            self.assertEqual(status, 0, log[-3000:])
            self.assertNotIn("Sanitizer", log)
            self.assertNotIn("runtime error", log)
            for secret in self.secrets:
                self.assertNotIn(secret, log)
                self.assertNotIn(secret[4:20], log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
