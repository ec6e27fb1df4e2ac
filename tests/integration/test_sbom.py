"""SBOMs and package search end to end (issue 13, docs/sbom.md).

The fixture registry (tests/fixtures/setup-registry.sh, SBOMs attached with `imagegate sbom add`)
behind a real `imagegate serve` over TLS: `packages find openssl --version-below 3.0.7` lists
exactly the versions of sboms/README.md; Packer's hcp-sbom upload (base64 of zstd, made here with
Debian's zstd tool) is listed, its download_url serves the document byte-identical as an
attachment, expires, and never reaches the log; package lists with HCP's filters and pages;
hostile uploads -- a 1 GiB zstd bomb (made at test time, with and without a content size in its
header), an upload over --max-sbom-upload-bytes, malformed JSON, not base64, not zstd, the wrong
format -- each get a clear error and the server keeps serving; `import --sbom` and the command
line's refusals.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import igtest  # noqa: E402
from igtest import BIN, make_certs  # noqa: E402

FIX = igtest.FIXTURES
SBOMS = os.path.join(FIX, "sboms")
BASE = "/packer/2023-01-01/organizations/org-1/projects/proj-1"
OLD_OPENSSL = [("app-java", "v1", "VERSION_REVOKED", []),
               ("golden-base", "v1", "VERSION_REVOKED", []),
               ("web-ubuntu", "v2", "VERSION_ACTIVE", ["production"]),
               ("web-ubuntu", "v1", "VERSION_REVOKED", [])]


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, **kw)


def zstd(data, *flags):
    p = subprocess.run(["zstd", "-q", "-c"] + list(flags), input=data, capture_output=True,
                       check=True)
    return p.stdout


def fixture(name):
    with open(os.path.join(SBOMS, name), "rb") as f:
        return f.read()


class SbomTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-sbom-")
        cls.ca, cls.cert, cls.key = make_certs(cls.tmp)
        with open(os.path.join(cls.tmp, "hmac.keys"), "w") as f:
            f.write("sbom-test-hmac-key-0123456789\n")
        os.chmod(os.path.join(cls.tmp, "hmac.keys"), 0o600)
        cls.db = "sqlite:" + os.path.join(cls.tmp, "registry.db")
        r = sh("sh", os.path.join(FIX, "setup-registry.sh"), BIN, cls.db, text=True)
        assert r.returncode == 0, r.stderr
        cls.tok = {}
        for name, role in (("reader", "read"), ("packer", "write")):
            r = igtest.run("--db", cls.db, "token", "create", "--name", name, "--role", role,
                           "--json")
            assert r.code == 0, r
            cls.tok[role] = r.json()["secret"]
        cls.d = igtest.Daemon(cls.tmp, "sbom", cls.db, None, cls.ca, cls.cert, cls.key,
                              extra=["--max-sbom-upload-bytes", "4M", "--max-sbom-bytes", "16M",
                                     "--sbom-download-ttl", "2s"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ig(self, *args):
        return igtest.run("--db", self.db, *args)

    def call(self, method, path, body=None, token=None, raw=None):
        return self.d.call(method, path, body, token or self.tok["write"], raw=raw)

    def ok(self, method, path, body=None, token=None):
        st, doc, _ = self.call(method, path, body, token)
        self.assertEqual(st, 200, "%s %s -> %s %s" % (method, path, st, doc))
        return doc

    def build_id(self, bucket, version, component=None):
        builds = self.ok("GET", "%s/buckets/%s/versions/%s/builds" % (BASE, bucket, version))
        for b in builds["builds"]:
            if component is None or b["component_type"] == component:
                return b["id"]
        raise AssertionError("no build %s" % component)

    def upload(self, bucket, version, build, doc, name="os-packages", fmt="CYCLONEDX"):
        body = {"compressed_sbom": base64.b64encode(doc).decode(), "format": fmt}
        if name:
            body["name"] = name
        return self.call("PUT", "%s/buckets/%s/versions/%s/builds/%s/sboms"
                         % (BASE, bucket, version, build), body)

    def still_serving(self):
        st, body, _ = self.d.request("GET", "/healthz")
        self.assertEqual(st, 200, body)
        self.ok("GET", "%s/buckets/web-ubuntu" % BASE, token=self.tok["read"])

    # -- the search -------------------------------------------------------------
    def test_packages_find_below(self):
        r = self.ig("packages", "find", "openssl", "--version-below", "3.0.7", "--json")
        self.assertEqual(r.code, 0, r)
        got = [(v["bucket_name"], v["version"], v["status"], v["channels"])
               for v in r.json()["versions"]]
        self.assertEqual(got, OLD_OPENSSL)
        for v in r.json()["versions"]:
            self.assertEqual(v["revoked"], v["status"] == "VERSION_REVOKED")
            self.assertEqual([p["name"] for p in v["packages"]], ["openssl"])
            self.assertEqual(v["packages"][0]["type"], "deb")
        # the same over the API, with a read token
        doc = self.ok("GET", "/v1/packages?name=OpenSSL&version_below=3.0.7",
                      token=self.tok["read"])
        self.assertEqual([(v["bucket_name"], v["version"], v["status"], v["channels"])
                          for v in doc["versions"]], OLD_OPENSSL)
        # text: one row per package, revoked versions say so
        r = self.ig("packages", "find", "openssl", "--version-below", "3.0.7")
        self.assertEqual(r.code, 0, r)
        rows = r.out.strip().splitlines()
        self.assertEqual(len(rows), 5, r.out)
        self.assertIn("VERSION_REVOKED", rows[1])
        self.assertRegex(rows[3], r"web-ubuntu\s+v2\s+VERSION_ACTIVE\s+production")

    def test_packages_find_channels_and_versions(self):
        doc = self.ok("GET", "/v1/packages?name=openssl&channel=latest", token=self.tok["read"])
        self.assertEqual(sorted((v["bucket_name"], v["version"]) for v in doc["versions"]),
                         [("base-al2023", "v1"), ("web-ubuntu", "v3")])
        scheduled = [v for v in doc["versions"] if v["bucket_name"] == "base-al2023"][0]
        self.assertEqual(scheduled["status"], "VERSION_REVOCATION_SCHEDULED")
        self.assertFalse(scheduled["revoked"])
        # rpm with an epoch: 1:3.0.8 is below 3.0.9 (the query has no epoch), not below 0:3.0.9
        doc = self.ok("GET", "/v1/packages?name=openssl-libs&version_below=3.0.9",
                      token=self.tok["read"])
        self.assertEqual([v["bucket_name"] for v in doc["versions"]], ["base-al2023"])
        doc = self.ok("GET", "/v1/packages?name=openssl-libs&version_below=0:3.0.9",
                      token=self.tok["read"])
        self.assertEqual(doc["versions"], [])
        # npm: semver, nested components found
        r = self.ig("packages", "find", "lodash", "--version", "4.17.21", "--json")
        self.assertEqual([(v["bucket_name"], v["version"]) for v in r.json()["versions"]],
                         [("web-ubuntu", "v2")])
        r = self.ig("packages", "find", "nothing-ships-this")
        self.assertEqual((r.code, r.out.strip()), (0, "no version ships nothing-ships-this"))
        r = self.ig("packages", "find", "openssl", "--version", "1", "--version-below", "2")
        self.assertEqual(r.code, 2, r)
        st, doc, _ = self.call("GET", "/v1/packages?version_below=3", token=self.tok["read"])
        self.assertEqual((st, doc["code"]), (400, 3), doc)
        st, doc, _ = self.call("GET", "/v1/packages?name=openssl", token="igt_nope")
        self.assertEqual(st, 401, doc)

    # -- Packer's upload, list, download -----------------------------------------
    def test_upload_list_download(self):
        doc = fixture("web-ubuntu-v3.cdx.json")
        bid = self.build_id("web-ubuntu", "web-3", "docker.ubuntu-docker")
        st, up, _ = self.upload("web-ubuntu", "web-3", bid, zstd(doc, "-19"), name="docker-os")
        self.assertEqual(st, 200, up)
        self.assertEqual((up["sbom"]["name"], up["sbom"]["format"]), ("docker-os", "CYCLONEDX"))
        self.assertEqual(up["sbom"]["sha256"], hashlib.sha256(doc).hexdigest())
        path = "%s/buckets/web-ubuntu/versions/web-3/builds/%s/sboms" % (BASE, bid)
        listed = self.ok("GET", path, token=self.tok["read"])["sboms"]
        self.assertEqual([s["name"] for s in listed], ["docker-os"])
        got = self.ok("GET", path + "/docker-os", token=self.tok["read"])
        url = got["download_url"]
        self.assertRegex(url, r"^https://127\.0\.0\.1:\d+/v1/sbom-downloads/[0-9a-f]{64}$")
        dl = url[url.index("/v1/"):]
        st, body, hdrs = self.d.request("GET", dl)  # no bearer token: the URL is the key
        self.assertEqual(st, 200)
        self.assertEqual(body, doc)  # byte-identical
        self.assertEqual(hdrs["Content-Disposition"],
                         'attachment; filename="web-ubuntu-web-3-docker-os.json"')
        self.assertEqual(hdrs["Content-Type"], "application/json")
        self.assertEqual(hdrs["Cache-Control"], "no-store")
        # the random part never reaches the log
        self.assertTrue(self.d.wait_log(r"event=sbom_download status=200 sbom=\S+ "
                                        r"bucket=web-ubuntu bytes=%d" % len(doc)))
        self.assertNotIn(url[-64:], self.d.log())
        self.assertNotIn(url[-64:-32], self.d.log())
        # it expires (--sbom-download-ttl 2s here; 5m at most)
        self.assertTrue(igtest.wait_for(lambda: self.d.request("GET", dl)[0] == 404, 10))
        self.assertEqual(self.d.request("GET", dl[:-1] + "0")[0], 404)
        # the same document again: unchanged; another one on a done build: ALREADY_EXISTS
        st, up2, _ = self.upload("web-ubuntu", "web-3", bid, zstd(doc), name="docker-os")
        self.assertEqual((st, up2["sbom"]["id"]), (200, up["sbom"]["id"]))
        st, err, _ = self.upload("web-ubuntu", "web-3", bid, zstd(fixture("web-ubuntu-v2.cdx.json")),
                                 name="docker-os")
        self.assertEqual((st, err["code"]), (409, 6), err)
        # packages of the build and of the bucket, HCP's filters, pages and order
        pk = self.ok("GET", "%s/buckets/web-ubuntu/versions/web-3/builds/%s/packages"
                     "?package_name_starts_with=OPEN&sorting.order_by=name%%20desc" % (BASE, bid),
                     token=self.tok["read"])
        self.assertEqual([p["name"] for p in pk["packages"]], ["openssl", "openssh-server"])
        self.assertEqual(pk["packages"][0]["sboms"][0]["name"], "docker-os")
        self.assertEqual(pk["packages"][0]["vuln_details"], [])
        pk = self.ok("GET", "%s/buckets/web-ubuntu/packages?package_name=openssl"
                     "&pagination.page_size=2" % BASE, token=self.tok["read"])
        self.assertEqual(len(pk["packages"]), 2)
        nxt = pk["pagination"]["next_page_token"]
        self.assertTrue(nxt)
        pk2 = self.ok("GET", "%s/buckets/web-ubuntu/packages?package_name=openssl"
                      "&pagination.page_size=2&pagination.next_page_token=%s" % (BASE, nxt),
                      token=self.tok["read"])
        self.assertEqual(len(pk2["packages"]), 2)  # v1, v2, v3 (two builds) = 4 rows
        self.assertEqual(pk2["pagination"]["next_page_token"], "")
        st, err, _ = self.call("GET", "%s/buckets/web-ubuntu/packages?sorting.order_by=size"
                               % BASE, token=self.tok["read"])
        self.assertEqual((st, err["code"]), (400, 3), err)

    def test_upload_without_name_and_refusals(self):
        bid = self.build_id("azure-win", "v1")
        spdx = fixture("app-java-v1.spdx.json")
        st, up, _ = self.upload("azure-win", "win-1", bid, zstd(spdx), name=None, fmt="SPDX")
        self.assertEqual(st, 200, up)
        self.assertEqual(up["sbom"]["name"], "win-1")  # HCP names it after the fingerprint
        path = "%s/buckets/azure-win/versions/win-1/builds/%s/sboms" % (BASE, bid)
        st, err, _ = self.call("PUT", path, {"compressed_sbom": "x"}, token=self.tok["read"])
        self.assertEqual((st, err["code"]), (403, 7), err)
        cases = [
            ({"format": "SPDX"}, 400, "compressed_sbom: missing"),
            ({"compressed_sbom": "not base64!", "format": "SPDX"}, 400, "not standard base64"),
            ({"compressed_sbom": base64.b64encode(spdx).decode()}, 400, "not a zstd frame"),
            ({"compressed_sbom": base64.b64encode(zstd(spdx)).decode(), "format": "CYCLONEDX"},
             400, "the document is SPDX SPDX-2.3, not CYCLONEDX"),
            ({"compressed_sbom": base64.b64encode(zstd(b'{"spdxVersion": "SPDX-3.0"}')).decode()},
             400, "not SPDX 2.x"),
            ({"compressed_sbom": base64.b64encode(zstd(b'{"bomFormat": "CycloneDX", '
                                                       b'"specVersion": "1.5", "comp')).decode()},
             400, "malformed JSON"),
            ({"compressed_sbom": base64.b64encode(zstd(spdx)).decode(), "name": "a/b"}, 400,
             "name: SBOM name"),
            ({"compressed_sbom": base64.b64encode(zstd(spdx)).decode(), "format": "SWID"}, 400,
             "not SPDX or CYCLONEDX"),
        ]
        for body, want, text in cases:
            st, err, _ = self.call("PUT", path, body)
            self.assertEqual(st, want, (body, err))
            self.assertIn(text, err["message"])
        st, err, _ = self.call("PUT", path, raw=b'{"compressed_sbom": ')
        self.assertEqual((st, err["code"]), (400, 3), err)
        st, err, _ = self.call("PUT", path.replace(bid, "NOSUCHBUILD"),
                               {"compressed_sbom": base64.b64encode(zstd(spdx)).decode()})
        self.assertEqual((st, err["code"]), (404, 5), err)
        self.still_serving()

    def test_bombs_and_huge(self):
        bid = self.build_id("web-ubuntu", "web-1")
        path = "%s/buckets/web-ubuntu/versions/web-1/builds/%s/sboms" % (BASE, bid)
        gib = 1 << 30
        head = b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": ['
        bomb_file = os.path.join(self.tmp, "bomb.json")
        with open(bomb_file, "wb") as f:  # sparse: 1 GiB of NUL bytes after a JSON start
            f.write(head)
            f.truncate(gib)
        # (a) from a file: the header declares 1 GiB
        with_size = sh("zstd", "-q", "-c", "-1", bomb_file, check=True).stdout
        # (b) from a pipe: no content size, 1 GiB of spaces after a valid start
        p = subprocess.Popen("head -c %d /dev/zero | tr '\\0' ' '" % (gib - len(head)),
                             shell=True, stdout=subprocess.PIPE)
        spaces = zstd(head + p.stdout.read(), "-1")
        p.wait()
        os.unlink(bomb_file)
        for z, text in ((with_size, "decompresses to 1073741824 bytes, more than 16777216"),
                        (spaces, "decompresses to more than 16777216 bytes")):
            self.assertLess(len(z), 200 * 1024)
            st, err, _ = self.call("PUT", path, {"compressed_sbom": base64.b64encode(z).decode(),
                                                 "name": "bomb"})
            self.assertEqual((st, err["code"]), (413, 8), err)
            self.assertIn(text, err["message"])
            self.assertIn("--max-sbom-bytes", err["message"])
            self.still_serving()
        # a body over --max-sbom-upload-bytes (4M here): 413 before anything is read into a parser
        big = os.urandom(3 * 1024 * 1024 + 100)
        st, err, _ = self.call("PUT", path, {"compressed_sbom": base64.b64encode(big).decode()})
        self.assertEqual((st, err["code"]), (413, 8), err)
        self.assertIn("--max-sbom-upload-bytes", err["message"])
        self.still_serving()
        # nothing of it was stored
        listed = self.ok("GET", path, token=self.tok["read"])["sboms"]
        self.assertEqual([s["name"] for s in listed], ["os-packages"])

    def test_large_upload_with_an_oauth_access_token(self):
        """Packer authenticates with an OAuth2 access token, not the API token: an SBOM upload
        larger than --max-body-bytes (1 MiB) is let through on it too."""
        import urllib.parse
        pair = "%s:%s" % ("packer", urllib.parse.quote_plus(self.tok["write"], safe=""))
        st, tok, _ = self.d.call(
            "POST", "/oauth2/token", raw=b"grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Authorization": "Basic " + base64.b64encode(pair.encode()).decode()})
        self.assertEqual(st, 200, tok)
        rnd = os.urandom(24 * 1024 * 40)
        comps = [{"type": "library", "name": "lib-%s" % rnd[i:i + 24].hex(), "version": "1.0.%d" % i,
                  "purl": "pkg:npm/lib-%d@1.0.%d" % (i, i)} for i in range(0, len(rnd), 24)]
        doc = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5",
                          "components": comps}).encode()
        z = zstd(doc, "-1")
        body = json.dumps({"compressed_sbom": base64.b64encode(z).decode(), "format": "CYCLONEDX",
                           "name": "big-one"}).encode()
        self.assertGreater(len(body), 1 << 20)
        bid = self.build_id("base-al2023", "v1")
        path = "%s/buckets/base-al2023/versions/al2023-1/builds/%s/sboms" % (BASE, bid)
        st, up, _ = self.d.call("PUT", path, token=tok["access_token"], raw=body)
        self.assertEqual(st, 200, up)
        self.assertEqual(up["sbom"]["package_count"], len(comps))
        self.assertEqual(up["sbom"]["author_id"], "packer")
        # with an unknown token the same body is refused before it is read: libevent's 413,
        # or the connection closed while the client still sends
        try:
            st = self.d.call("PUT", path, token="igo_unknown", raw=body)[0]
        except (urllib.error.URLError, ConnectionError):
            st = "closed"
        self.assertIn(st, (413, "closed"))
        self.still_serving()

    # -- the command line -----------------------------------------------------------
    def test_cli_add_import_and_refusals(self):
        tmp = tempfile.mkdtemp(prefix="ig-sbom-cli-", dir=self.tmp)
        db = "sqlite:" + os.path.join(tmp, "r.db")
        sbom = os.path.join(SBOMS, "golden-base-v1.cdx.json")
        manifest = os.path.join(FIX, "manifests", "web-ubuntu-v3.json")
        r = igtest.run("--db", db, "import", manifest, "--bucket", "web", "--sbom", sbom)
        self.assertEqual(r.code, 0, r)
        r = igtest.run("--db", db, "--json", "packages", "find", "libssl3")
        self.assertEqual(len(r.json()["versions"][0]["packages"]), 2)  # both builds
        r = igtest.run("--db", db, "import", manifest, "--bucket", "web", "--sbom", sbom)
        self.assertEqual(r.code, 0, r)  # again: nothing changes
        self.assertIn("unchanged", r.out)
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"spdxVersion": "SPDX-2.3", "packages": [')
        r = igtest.run("--db", db, "import", manifest, "--bucket", "other", "--sbom", bad)
        self.assertEqual(r.code, 2, r)
        self.assertIn("bad.json: malformed JSON", r.err)
        r = igtest.run("--db", db, "bucket", "show", "other")
        self.assertEqual(r.code, 2, r)  # nothing was written
        r = igtest.run("--db", db, "sbom", "add", "web", "v1", sbom)
        self.assertEqual(r.code, 2, r)
        self.assertIn("several builds", r.err)
        zst = os.path.join(tmp, "osimage.cdx.json.zst")
        with open(zst, "wb") as f:
            f.write(zstd(fixture("web-ubuntu-v1.cdx.json")))
        r = igtest.run("--db", db, "sbom", "add", "web", "v1", zst, "--build",
                       "docker.ubuntu-docker", "--json")
        self.assertEqual(r.code, 0, r)
        self.assertEqual((r.json()["name"], r.json()["package_count"]), ("osimage", 7))
        r = igtest.run("--db", db, "sbom", "add", "web", "v1", zst, "--build",
                       "docker.ubuntu-docker", "--name", "osimage")
        self.assertEqual(r.code, 0, r)
        r = igtest.run("--db", db, "sbom", "add", "web", "v1", sbom, "--build",
                       "docker.ubuntu-docker", "--name", "osimage")
        self.assertEqual(r.code, 1, r)  # another document under a taken name, build done
        r = igtest.run("--db", db, "sbom", "add", "web", "v9", sbom)
        self.assertEqual(r.code, 2, r)
        r = igtest.run("--db", os.path.join(tmp, "missing.db"), "sbom", "add", "web", "v1", sbom)
        self.assertEqual(r.code, 3, r)
        self.assertFalse(os.path.exists(os.path.join(tmp, "missing.db")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
