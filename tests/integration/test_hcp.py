#!/usr/bin/env python3
"""The HCP drop-in (issue 12): what Packer's hcp_packer_registry and the HCP Terraform provider
need from imagegate, asserted without any HashiCorp code (python3 standard library only).

The real client is hcp-sdk-go; what it insists on is written down in docs/hcp-compatibility.md
and checked here against the real daemon over HTTPS with a SQLite store:

- POST /oauth2/token: client credentials in HTTP Basic (each part form-urlencoded, so percent
  escapes decode) or in the form; the answer's JSON types; Cache-Control: no-store; wrong
  credentials 401 invalid_client in OAuth2's shape (never HCP's {"code": N}, which Packer would
  read as a gRPC code); malformed, huge or mistyped forms 400; failures throttled per address
  (429); nothing of the form in the log; access tokens bound to the API token's role, dead at
  once when it is revoked, alive across a restart;
- the resource manager (one organization, one project, UUIDs kept in the store or set by
  configuration) and GET .../registry;
- the types Go decodes strictly: parents an object with a status computed from Packer's
  parent_version_id / parent_channel_id, parent_versions a list (the same on the command line),
  ids, location, version_count a string, platforms a list, channel ids, template_type;
- the gRPC codes the clients decide on: 5, 10 (a missing version), 6, 7, 16, 12;
- the run task: validation (admin, no-store, audited) and HMAC rotation with its grace.

The same on PostgreSQL with two replicas is in test_replicas.py.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import igtest  # noqa: E402
from igtest import BIN, KEY_OLD, Daemon, make_certs, wait_for  # noqa: E402

FIX = igtest.FIXTURES
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def cli(db, *args):
    p = subprocess.run([BIN, "--db", db] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=60)
    return p


def token(db, name, role):
    p = cli(db, "token", "create", "--name", name, "--role", role, "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["secret"]


def token_request(d, form=None, basic=None, headers=None):
    """POST /oauth2/token to daemon d with a form (dict, or bytes as they are) and optional
    Basic credentials (id, secret), each part percent-encoded as golang.org/x/oauth2 does.
    (status, parsed JSON or text, headers)."""
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        pair = "%s:%s" % tuple(urllib.parse.quote_plus(x, safe="") for x in basic)
        h["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    h.update(headers or {})
    data = form if isinstance(form, bytes) else urllib.parse.urlencode(form or {}).encode()
    return d.call("POST", "/oauth2/token", headers=h, raw=data)


def verification(d, key):
    """A run-task verification request signed with key: its status."""
    with open(os.path.join(FIX, "runtask", "verification.json"), "rb") as f:
        return d.post_runtask(f.read(), key=key)[0]


GRANT = {"grant_type": "client_credentials", "audience": "https://api.hashicorp.cloud"}


class HcpTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-hcp-")
        cls.ca, cls.cert, cls.key = make_certs(cls.tmp)
        with open(os.path.join(cls.tmp, "hmac.keys"), "w") as f:
            f.write(KEY_OLD + "\n")
        os.chmod(os.path.join(cls.tmp, "hmac.keys"), 0o600)
        cls.db = "sqlite:" + os.path.join(cls.tmp, "registry.db")
        cls.d = cls.daemon("main", cls.db, ("--max-body-bytes", "64k", "--token-refresh", "1s"))
        cls.admin = token(cls.db, "packer", "admin")
        cls.writer = token(cls.db, "ci-writer", "write")
        cls.reader = token(cls.db, "ci-reader", "read")
        st, rm, _ = cls.d.call("GET", "/resource-manager/2019-12-10/organizations",
                               token=cls.admin)
        assert st == 200, rm
        cls.org = rm["organizations"][0]["id"]
        st, rm, _ = cls.d.call("GET", "/resource-manager/2019-12-10/projects?scope.id=%s"
                               "&scope.type=ORGANIZATION" % cls.org, token=cls.admin)
        cls.project = rm["projects"][0]["id"]
        cls.base = "/packer/2023-01-01/organizations/%s/projects/%s" % (cls.org, cls.project)

    @classmethod
    def tearDownClass(cls):
        for d in getattr(cls, "daemons", []):
            d.stop()
        if os.environ.get("IG_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def daemon(cls, name, db, extra=()):
        d = Daemon(cls.tmp, name, db, None, cls.ca, cls.cert, cls.key,
                   extra=("--public-url", "https://imagegate.test") + tuple(extra))
        cls.daemons = getattr(cls, "daemons", []) + [d]
        return d.start()

    # -- helpers --------------------------------------------------------------
    def access(self, name="packer", secret=None):
        st, body, _ = token_request(self.d, GRANT, basic=(name, secret or self.admin))
        self.assertEqual(st, 200, body)
        return body["access_token"]

    def api(self, method, path, body=None, bearer=None, want=200):
        st, out, _ = self.d.call(method, self.base + path, body, token=bearer or self.admin)
        self.assertEqual(st, want, out)
        return out

    def no_grpc_code(self, body):
        """An OAuth2 error: RFC 6749's shape, and nothing Packer's [Cc]ode"?:N regex reads."""
        self.assertIsInstance(body, dict)
        self.assertIn("error", body)
        self.assertNotIn("code", body)
        self.assertIsNone(re.search(r'[Cc]ode"?:([0-9]+)', json.dumps(body)))

    def publish(self, bucket, fp, builds, parent=None):
        """Packer's calls for one version: CreateVersion, CreateBuild per build (the SDK's
        body), UpdateBuild RUNNING, then DONE with artifacts (and the parent it was built
        from: (version id, channel id, source image))."""
        self.api("POST", "/buckets/%s/versions" % bucket,
                 {"fingerprint": fp, "template_type": "HCL2"})
        ids = []
        for comp, _, _ in builds:
            b = self.api("POST", "/buckets/%s/versions/%s/builds" % (bucket, fp),
                         {"artifacts": None, "component_type": comp,
                          "packer_run_uuid": "4c8bd4c4-1c43-4e2b-9d6e-3c8b1b2a0f11",
                          "status": "BUILD_UNSET"})["build"]
            self.assertEqual(b["status"], "BUILD_UNSET")
            ids.append(b["id"])
        for bid, (comp, platform, arts) in zip(ids, builds):
            path = "/buckets/%s/versions/%s/builds/%s" % (bucket, fp, bid)
            self.api("PATCH", path, {"artifacts": None, "status": "BUILD_RUNNING"})
            done = {"artifacts": [{"external_identifier": a, "region": r} for a, r in arts],
                    "labels": {"os": "ubuntu"}, "platform": platform, "status": "BUILD_DONE",
                    "metadata": {"packer": {"version": "1.16.0", "plugins": None},
                                 "vcs": None, "cicd": None}}
            if parent:
                done.update(parent_version_id=parent[0], parent_channel_id=parent[1],
                            source_external_identifier=parent[2])
            self.api("PATCH", path, done)
        return self.api("GET", "/buckets/%s/versions/%s" % (bucket, fp))["version"]

    # -- OAuth2 --------------------------------------------------------------
    def test_01_token_basic_form_and_types(self):
        st, body, hdrs = token_request(self.d, GRANT, basic=("packer", self.admin))
        self.assertEqual(st, 200, body)
        self.assertEqual(hdrs.get("Cache-Control"), "no-store")
        self.assertTrue(hdrs.get("Content-Type", "").startswith("application/json"))
        self.assertEqual(body["token_type"], "Bearer")
        self.assertIsInstance(body["expires_in"], int)
        self.assertEqual(body["expires_in"], 3600)
        self.assertNotIn("refresh_token", body)
        self.assertRegex(body["access_token"], r"^igo_[A-Za-z0-9_-]{43}$")
        self.api("GET", "/buckets", bearer=body["access_token"])
        # every character percent-encoded: the parts are form-decoded
        pair = "".join("%%%02X" % ord(c) for c in "packer") + ":" + self.admin
        st, body, _ = token_request(self.d, GRANT, headers={
            "Authorization": "Basic " + base64.b64encode(pair.encode()).decode()})
        self.assertEqual(st, 200, body)
        # the SDK's fallback: the credentials in the form
        st, body, _ = token_request(self.d, dict(GRANT, client_id="packer", client_secret=self.admin))
        self.assertEqual(st, 200, body)
        # two tokens are two tokens, and the store keeps neither
        a, b = self.access(), self.access()
        self.assertNotEqual(a, b)
        with open(os.path.join(self.tmp, "registry.db"), "rb") as f:
            raw = f.read()
        self.assertNotIn(a.encode(), raw)
        self.assertNotIn(self.admin.encode(), raw)

    def test_02_token_refusals_in_oauth_shape(self):
        cases = [
            (GRANT, ("packer", self.admin + "x"), None, 401, "invalid_client"),
            (GRANT, ("nosuchclient", self.admin), None, 401, "invalid_client"),
            (GRANT, None, None, 401, "invalid_client"),
            (dict(GRANT, client_id="packer"), None, None, 401, "invalid_client"),
            (dict(GRANT, grant_type="password"), ("packer", self.admin), None, 400,
             "unsupported_grant_type"),
            ({"audience": "x"}, ("packer", self.admin), None, 400, "invalid_request"),
            (b"grant_type=client_credentials&grant_type=client_credentials",
             ("packer", self.admin), None, 400, "invalid_request"),
            (b"grant_type=%zz", ("packer", self.admin), None, 400, "invalid_request"),
            (b"grant_type=client_credentials&x=" + b"a" * 9000, ("packer", self.admin), None,
             400, "invalid_request"),
            (dict(GRANT, client_secret=self.admin), ("packer", self.admin), None, 400,
             "invalid_request"),
            (GRANT, None, {"Authorization": "Bearer " + self.admin}, 401, "invalid_client"),
            (GRANT, None, {"Authorization": "Basic %%%"}, 401, "invalid_client"),
            (GRANT, ("packer", self.admin), {"Content-Type": "application/json"}, 400,
             "invalid_request"),
        ]
        for form, basic, headers, want, error in cases:
            with self.subTest(form=str(form)[:60], basic=bool(basic), headers=headers):
                st, body, hdrs = token_request(self.d, form, basic=basic, headers=headers)
                self.assertEqual(st, want, body)
                self.no_grpc_code(body)
                self.assertEqual(body["error"], error)
                if want == 401:
                    self.assertIn("Basic", hdrs.get("WWW-Authenticate", ""))
        # what the dispatcher refuses before the handler is in the same shape
        st, body, _ = token_request(self.d, b"grant_type=client_credentials&x=" + b"a" * 70000,
                                   basic=("packer", self.admin))
        self.assertEqual(st, 413)
        self.no_grpc_code(body)
        st, body, _ = self.d.call("GET", "/oauth2/token")
        self.assertEqual(st, 405)
        self.no_grpc_code(body)
        # nothing of the forms above reached the log
        log = self.d.log()
        for secret in (self.admin, "nosuchclient", "%zz", "aaaaaaaaaaaaaaaa"):
            self.assertNotIn(secret, log)
        self.assertIn("event=oauth_token status=401 client=- addr=127.0.0.1", log)

    def test_03_failures_throttled_per_address(self):
        db = "sqlite:" + os.path.join(self.tmp, "throttle.db")
        d = self.daemon("throttle", db, ("--oauth-failure-limit", "4"))
        secret = token(db, "packer", "admin")
        st, _, _ = token_request(d, GRANT, basic=("packer", secret))
        self.assertEqual(st, 200)
        for _ in range(4):
            st, _, _ = token_request(d, GRANT, basic=("packer", "wrong"))
            self.assertEqual(st, 401)
        # the fifth try, even with the right secret, waits for the window's end
        st, body, hdrs = token_request(d, GRANT, basic=("packer", secret))
        self.assertEqual(st, 429, body)
        self.no_grpc_code(body)
        self.assertEqual(body["error"], "temporarily_unavailable")
        self.assertGreater(int(hdrs["Retry-After"]), 0)
        # the API itself is not throttled
        st, _, _ = d.call("GET", "/resource-manager/2019-12-10/organizations", token=secret)
        self.assertEqual(st, 200)
        d.stop()

    def test_04_access_token_role_and_revocation(self):
        db = self.db
        secret = token(db, "short-lived", "read")
        tok = self.access("short-lived", secret)
        self.api("GET", "/buckets", bearer=tok)
        out = self.api("PUT", "/buckets", {"name": "read-only-try"}, bearer=tok, want=403)
        self.assertEqual(out["code"], 7)
        p = cli(db, "token", "revoke", "short-lived")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = self.api("GET", "/buckets", bearer=tok, want=401)
        self.assertEqual(out["code"], 16)
        # a new token under the same name does not bring the old access token back
        secret2 = token(db, "short-lived", "admin")
        self.api("GET", "/buckets", bearer=tok, want=401)
        st, _, _ = token_request(self.d, GRANT, basic=("short-lived", secret))
        self.assertEqual(st, 401)
        self.api("GET", "/buckets", bearer=self.access("short-lived", secret2))

    def test_05_access_tokens_and_ids_survive_a_restart(self):
        db = "sqlite:" + os.path.join(self.tmp, "restart.db")
        d = self.daemon("restart", db)
        secret = token(db, "packer", "admin")
        st, body, _ = token_request(d, GRANT, basic=("packer", secret))
        tok = body["access_token"]
        st, orgs, _ = d.call("GET", "/resource-manager/2019-12-10/organizations", token=tok)
        self.assertEqual(st, 200)
        d.stop()
        d.start()
        st, again, _ = d.call("GET", "/resource-manager/2019-12-10/organizations", token=tok)
        self.assertEqual(st, 200, again)
        self.assertEqual(again, orgs)
        d.stop()

    # -- the resource manager and ids -------------------------------------------
    def test_06_discovery(self):
        rm = "/resource-manager/2019-12-10"
        tok = self.access()
        st, out, _ = self.d.call("GET", rm + "/organizations", token=tok)
        self.assertEqual(len(out["organizations"]), 1)
        org = out["organizations"][0]
        self.assertRegex(org["id"], UUID)
        self.assertEqual(org["state"], "ACTIVE")
        self.assertIsInstance(out["pagination"], dict)
        st, out, _ = self.d.call("GET", rm + "/projects?scope.id=%s&scope.type=ORGANIZATION"
                                 % org["id"], token=tok)
        self.assertEqual(st, 200)
        proj = out["projects"][0]
        self.assertRegex(proj["id"], UUID)
        self.assertEqual(proj["parent"], {"id": org["id"], "type": "ORGANIZATION"})
        self.assertLess(proj["created_at"], time.strftime("%Y-%m-%dT%H:%M:%S",
                                                          time.gmtime(time.time() + 1)))
        st, out, _ = self.d.call("GET", rm + "/projects/" + proj["id"], token=tok)
        self.assertEqual(out["project"]["parent"]["id"], org["id"])
        st, out, _ = self.d.call("GET", rm + "/organizations/" + org["id"], token=tok)
        self.assertEqual(out["organization"]["id"], org["id"])
        # another organization's projects: 403 (the only error Packer handles there)
        other = "11111111-1111-4111-8111-111111111111"
        st, out, _ = self.d.call("GET", rm + "/projects?scope.id=" + other, token=tok)
        self.assertEqual((st, out["code"]), (403, 7))
        for path in ("/projects/" + other, "/organizations/" + other):
            st, out, _ = self.d.call("GET", rm + path, token=tok)
            self.assertEqual((st, out["code"]), (404, 5))
        st, out, _ = self.d.call("GET", rm + "/organizations")
        self.assertEqual((st, out["code"]), (401, 16))
        # Packer with only HCP_PROJECT_ID validates the project with GET .../registry
        reg = self.api("GET", "/registry", bearer=tok)["registry"]
        self.assertEqual(reg["location"], {"organization_id": org["id"],
                                           "project_id": proj["id"]})
        self.assertIs(reg["config"]["activated"], True)

    def test_07_ids_set_by_configuration(self):
        db = "sqlite:" + os.path.join(self.tmp, "ids.db")
        org, proj = "0b1e3c5a-7d9f-4a2b-8c4d-6e8f0a2b4c6d", "A1B2C3D4-E5F6-4789-8ABC-DEF012345678"
        d = self.daemon("ids", db, ("--organization-id", org, "--project-id", proj))
        secret = token(db, "packer", "admin")
        st, out, _ = d.call("GET", "/resource-manager/2019-12-10/projects?scope.id=" + org,
                             token=secret)
        self.assertEqual(out["projects"][0]["id"], proj.lower())
        self.assertEqual(out["projects"][0]["parent"]["id"], org)
        d.stop()
        # kept in the store: a later start without them answers the same ids
        d2 = self.daemon("ids2", db)
        st, out, _ = d2.call("GET", "/resource-manager/2019-12-10/organizations",
                              token=secret)
        self.assertEqual(out["organizations"][0]["id"], org)
        d2.stop()
        p = subprocess.run([BIN, "serve", "--db", db, "--organization-id", "not-a-uuid",
                            "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("organization-id", p.stderr)
        audit = cli(db, "audit", "list", "--json")
        self.assertIn("registry.ids", audit.stdout)

    # -- the Packer paths in HCP's types ---------------------------------------
    def test_08_packer_build_codes_and_shapes(self):
        tok = self.access()
        out = self.api("GET", "/buckets/hcp-base", bearer=tok, want=404)
        self.assertEqual(out["code"], 5)
        self.api("PUT", "/buckets", {"name": "hcp-base", "description": "base"}, bearer=tok)
        out = self.api("PUT", "/buckets", {"name": "hcp-base"}, bearer=tok, want=409)
        self.assertEqual(out["code"], 6)
        # a missing version in a bucket that exists: ABORTED, which Packer creates on
        out = self.api("GET", "/buckets/hcp-base/versions/01HCPBASE0001", bearer=tok, want=409)
        self.assertEqual(out["code"], 10)
        out = self.api("GET", "/buckets/hcp-none/versions/01HCPBASE0001", bearer=tok, want=404)
        self.assertEqual(out["code"], 5)
        out = self.api("POST", "/buckets/hcp-base/versions",
                       {"fingerprint": "01HCPBASE0002", "template_type": "YAML"}, want=400)
        self.assertEqual(out["code"], 3)
        out = self.api("GET", "/enforced_blocks/bucket/hcp-base", bearer=tok)
        self.assertEqual(out, {"enforced_block_detail": []})
        v = self.publish("hcp-base", "01HCPBASE0001",
                         [("amazon-ebs.base", "aws", [("ami-0b5e00000000000a1", "us-east-1"),
                                                      ("ami-0b5e00000000000a2", "eu-west-1")])])
        self.assertEqual((v["name"], v["status"], v["template_type"]),
                         ("v1", "VERSION_ACTIVE", "HCL2"))
        self.assertIsNone(v.get("parents"))
        self.assertEqual(v["parent_versions"], [])
        self.assertIs(v["has_descendants"], False)
        self.assertIsInstance(v["builds"][0]["artifacts"], list)
        b = self.api("GET", "/buckets/hcp-base", bearer=tok)["bucket"]
        self.assertRegex(b["id"], r"^[0-9A-Z]{26}$")
        self.assertEqual(b["version_count"], "1")
        self.assertEqual(b["platforms"], ["aws"])
        self.assertEqual(b["resource_name"], "packer/project/%s/bucket/hcp-base" % self.project)
        self.assertEqual(b["location"], {"organization_id": self.org, "project_id": self.project})
        self.assertIsInstance(b["latest_version"], dict)
        # channels: ids, latest is managed and taken (6), PATCH assigns, never creates
        ch = self.api("POST", "/buckets/hcp-base/channels",
                      {"name": "production", "version_fingerprint": "01HCPBASE0001"})["channel"]
        self.assertRegex(ch["id"], r"^[0-9A-Z]{26}$")
        out = self.api("POST", "/buckets/hcp-base/channels", {"name": "latest"}, want=409)
        self.assertEqual(out["code"], 6)
        chans = self.api("GET", "/buckets/hcp-base/channels")["channels"]
        latest = [c for c in chans if c["name"] == "latest"][0]
        self.assertEqual((latest["id"], latest["managed"]), (b["id"], True))
        out = self.api("PATCH", "/buckets/hcp-base/channels/nope",
                       {"update_mask": "versionFingerprint", "version_fingerprint": "01HCPBASE0001"},
                       want=404)
        self.assertEqual(out["code"], 5)
        self.api("POST", "/buckets/hcp-base/channels", {"name": "staging"})
        c = self.api("PATCH", "/buckets/hcp-base/channels/staging",
                     {"update_mask": "versionFingerprint",
                      "version_fingerprint": "01HCPBASE0001"})["channel"]
        self.assertEqual(c["version"]["fingerprint"], "01HCPBASE0001")
        self.assertIsNone(c["version"].get("parents"))
        a = self.api("POST", "/buckets/hcp-base/channels/assign",
                     {"target_channel": "canary", "source_channel": "staging"})
        self.assertEqual(a["fingerprint"], "01HCPBASE0001")
        self.assertEqual((a["source_channel"]["name"], a["target_channel"]["name"]),
                         ("staging", "canary"))
        self.assertEqual(a["version"]["name"], "v1")
        # a read principal is refused writes with 7
        out = self.api("POST", "/buckets/hcp-base/versions", {"fingerprint": "x1"},
                       bearer=self.access("ci-reader", self.reader), want=403)
        self.assertEqual(out["code"], 7)

    def test_09_parents_status_and_ancestry(self):
        self.api("PUT", "/buckets", {"name": "hcp-parent"})
        base = self.publish("hcp-parent", "01HCPPARENT1",
                            [("amazon-ebs.base", "aws", [("ami-0a0000000000000p1", "us-east-1")])])
        prod = self.api("POST", "/buckets/hcp-parent/channels",
                        {"name": "production", "version_fingerprint": "01HCPPARENT1"})["channel"]
        self.api("PUT", "/buckets", {"name": "hcp-child"})
        child = self.publish("hcp-child", "01HCPCHILD1",
                             [("amazon-ebs.app", "aws", [("ami-0c0000000000000c1", "us-east-1"),
                                                         ("ami-0c0000000000000c2", "eu-west-1")]),
                              ("azure-arm.app", "azure", [("/subscriptions/0/images/app", "westeurope")])],
                             parent=(base["id"], prod["id"], "ami-0a0000000000000p1"))
        self.assertEqual(child["name"], "v1")
        self.assertEqual(child["parents"]["status"], "UP_TO_DATE")
        self.assertEqual(child["parents"]["href"],
                         "%s/buckets/hcp-child/ancestry?type=ANCESTRY_TYPE_PARENTS"
                         "&version_fingerprint=01HCPCHILD1" % self.base)
        pv = child["parent_versions"]
        self.assertEqual([(p["bucket_name"], p["version"], p["channel_name"], p["status"])
                          for p in pv], [("hcp-parent", "v1", "production", "UP_TO_DATE")])
        # the same list on the command line
        p = cli(self.db, "version", "show", "hcp-child", "v1", "--json")
        self.assertEqual(json.loads(p.stdout)["parent_versions"], pv)
        self.assertEqual(json.loads(p.stdout)["parents"], {"status": "UP_TO_DATE"})
        self.assertIs(self.api("GET", "/buckets/hcp-parent/versions/v1")["version"]
                      ["has_descendants"], True)
        pb = self.api("GET", "/buckets/hcp-parent")["bucket"]
        self.assertEqual(pb["children"]["status"], "UP_TO_DATE")
        self.assertIn("ancestry?type=ANCESTRY_TYPE_CHILDREN", pb["children"]["href"])
        cb = self.api("GET", "/buckets/hcp-child")["bucket"]
        self.assertEqual(cb["parents"]["status"], "UP_TO_DATE")
        self.assertEqual(cb["platforms"], ["aws", "azure"])
        rel = self.api("GET", "/buckets/hcp-child/ancestry?type=ANCESTRY_TYPE_PARENTS")
        self.assertEqual(rel["total_count"], 1)
        r = rel["relations"][0]
        self.assertEqual((r["parent"]["bucket_name"], r["parent"]["channel_name"],
                          r["parent"]["channel_version"]["id"], r["child"]["version_name"],
                          r["status"]), ("hcp-parent", "production", base["id"], "v1",
                                         "UP_TO_DATE"))
        rel = self.api("GET", "/buckets/hcp-parent/ancestry?type=ANCESTRY_TYPE_CHILDREN"
                       "&channel_name=production")
        self.assertEqual([x["child"]["bucket_name"] for x in rel["relations"]], ["hcp-child"])
        self.api("GET", "/buckets/hcp-parent/ancestry?type=SIDEWAYS", want=400)
        # the parent channel moves on: the child is out of date
        self.publish("hcp-parent", "01HCPPARENT2",
                     [("amazon-ebs.base", "aws", [("ami-0a0000000000000p2", "us-east-1")])])
        self.api("PATCH", "/buckets/hcp-parent/channels/production",
                 {"update_mask": "versionFingerprint", "version_fingerprint": "01HCPPARENT2"})
        v = self.api("GET", "/buckets/hcp-child/versions/01HCPCHILD1")["version"]
        self.assertEqual(v["parents"]["status"], "OUT_OF_DATE")
        self.assertEqual(self.api("GET", "/buckets/hcp-parent")["bucket"]["children"]["status"],
                         "OUT_OF_DATE")
        # a parent known only from the source image (an import): UNDETERMINED
        manifest = os.path.join(self.tmp, "manifest.json")
        with open(manifest, "w") as f:
            json.dump({"last_run_uuid": "7f2c", "builds": [
                {"name": "imp", "builder_type": "amazon-ebs", "packer_run_uuid": "7f2c",
                 "artifact_id": "us-east-1:ami-0d0000000000000d1",
                 "custom_data": {"source_ami": "ami-0a0000000000000p1"}}]}, f)
        p = cli(self.db, "import", manifest, "--bucket", "hcp-imported")
        self.assertEqual(p.returncode, 0, p.stderr)
        v = self.api("GET", "/buckets/hcp-imported/versions/v1")["version"]
        self.assertEqual(v["parents"]["status"], "UNDETERMINED")
        # the command line's revocation, read back the way the SDK does
        p = cli(self.db, "version", "revoke", "hcp-child", "v1", "--message", "CVE",
                "--keep-channels")
        self.assertEqual(p.returncode, 0, p.stderr)
        v = self.api("GET", "/buckets/hcp-child/versions/01HCPCHILD1",
                     bearer=self.access())["version"]
        self.assertEqual(v["status"], "VERSION_REVOKED")
        self.assertIsInstance(v["revoke_at"], str)

    def test_10_paths_not_served_and_unknown(self):
        for method, path in (("GET", "/enforced_blocks"), ("PUT", "/registry"),
                             ("GET", "/runtasks/config"),
                             ("GET", "/buckets/hcp-base/packages/with-vulnerabilities"),
                             ("GET", "/buckets/hcp-base/vulnerabilities")):
            with self.subTest(path=path):
                out = self.api(method, path, {} if method == "PUT" else None, want=501)
                self.assertEqual(out["code"], 12)
        out = self.api("GET", "/buckets/hcp-base/nothing", want=404)
        self.assertEqual(out["code"], 5)

    # -- the run task ---------------------------------------------------------
    def test_11_runtask_validation_and_hmac_rotation(self):
        out = self.api("GET", "/runtasks/validation", bearer=self.writer, want=403)
        self.assertEqual(out["code"], 7)
        self.api("GET", "/runtasks/other", want=404)
        st, v, hdrs = self.d.call("GET", self.base + "/runtasks/validation",
                                  token=self.access())
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("Cache-Control"), "no-store")
        self.assertEqual(v, {"api_url": "https://imagegate.test/runtask", "hmac_key": KEY_OLD})
        k1 = self.api("PATCH", "/runtasks/hmac", {})["hmac_key"]
        self.assertRegex(k1, r"^[0-9a-f]{64}$")
        self.assertEqual(self.api("GET", "/runtasks/validation")["hmac_key"], k1)
        # in force on this server before the reply; the key file's key stays valid
        self.assertEqual(verification(self.d, k1), 200)
        self.assertEqual(verification(self.d, KEY_OLD), 200)
        self.assertEqual(verification(self.d, "not-a-key"), 401)
        k2 = self.api("PATCH", "/runtasks/hmac", {})["hmac_key"]
        self.assertNotEqual(k1, k2)
        self.assertEqual(verification(self.d, k2), 200)
        self.assertEqual(verification(self.d, k1), 200)  # the previous one: inside its grace
        # the keys are not in the audit trail or the log; both reads are audited
        st, trail, _ = self.d.call("GET", "/v1/audit?since=1h", token=self.admin)
        text = json.dumps(trail)
        self.assertIn("runtask.validation", text)
        self.assertIn("runtask.hmac_rotate", text)
        log = self.d.log()
        for k in (k1, k2, KEY_OLD):
            self.assertNotIn(k, text)
            self.assertNotIn(k, log)

    def test_12_hmac_grace_and_unsigned(self):
        db = "sqlite:" + os.path.join(self.tmp, "grace.db")
        d = self.daemon("grace", db, ("--hmac-rotation-grace", "0s", "--token-refresh", "1s"))
        secret = token(db, "packer", "admin")
        base = self.base
        k1 = d.call("PATCH", base + "/runtasks/hmac", {}, secret)[1]["hmac_key"]
        self.assertEqual(verification(d, k1), 200)
        k2 = d.call("PATCH", base + "/runtasks/hmac", {}, secret)[1]["hmac_key"]
        self.assertEqual(verification(d, k2), 200)
        # no grace: the replaced key is refused (within --token-refresh)
        self.assertTrue(wait_for(lambda: verification(d, k1) == 401, 5))
        self.assertEqual(verification(d, KEY_OLD), 200)
        d.stop()
        # a restart reads the store's key
        d.start()
        self.assertEqual(verification(d, k2), 200)
        d.stop()
        db = "sqlite:" + os.path.join(self.tmp, "unsigned.db")
        u = Daemon(self.tmp, "unsigned", db, None, self.ca, self.cert, self.key)
        u.args.remove("--hmac-key-file")
        u.args.remove(os.path.join(self.tmp, "hmac.keys"))
        u.args.append("--allow-unsigned")
        HcpTest.daemons.append(u)
        u.start()
        secret = token(db, "packer", "admin")
        st, out, _ = u.call("PATCH", base + "/runtasks/hmac", {}, secret)
        self.assertEqual((st, out["code"]), (409, 9))
        st, out, _ = u.call("GET", base + "/runtasks/validation", None, secret)
        self.assertEqual(out["hmac_key"], "")
        u.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
