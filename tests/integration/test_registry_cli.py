"""The registry through the real command line.

Builds the fixture registry with tests/fixtures/setup-registry.sh and checks
the table of tests/fixtures/README.md through `--json artifact find`,
`channel list` and `version list`; then exit codes, one-line errors, a
missing store (exit 3, no file created), bad input (exit 2, registry
unchanged) and stores that cannot be written (exit 3, nothing half-written).

With IMAGEGATE_TEST_PG_URL set (ctest's integration/test_registry_cli_pg,
under pgserver.py) the same tests run against fresh PostgreSQL databases on
that server: the fixture table, exit codes, refused and malformed input, an
injected failure half-way. Tests about SQLite files (modes, missing files,
immutable files, read-only mounts, full disks) are skipped there, by name,
and PostgreSQL's counterparts run instead: a database that does not exist or
cannot be reached, the write lock held elsewhere, a read-only database.
"""
import datetime
import getpass
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import igtest  # noqa: E402
import pgserver  # noqa: E402
from igtest import run  # noqa: E402

PG_URL = os.environ.get("IMAGEGATE_TEST_PG_URL")
sqlite_only = unittest.skipIf(PG_URL, "about SQLite files; PostgreSQL mode")
postgresql_only = unittest.skipUnless(PG_URL, "PostgreSQL mode only (IMAGEGATE_TEST_PG_URL)")

SETUP = os.path.join(igtest.FIXTURES, "setup-registry.sh")
MANIFESTS = os.path.join(igtest.FIXTURES, "manifests")
AZURE_ID = ("/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/resourceGroups/images-rg/"
            "providers/Microsoft.Compute/images/win2022-20250709")
DOCKER_ID = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

# image -> (bucket, version, fingerprint, platform, region, status, revocation_type)
TABLE = {
    "ami-0e1f2a3b4c5d6e7f8": ("golden-base", "v1", "golden-1", "aws", "us-west-1",
                              "VERSION_REVOKED", "MANUAL"),
    "ami-0fedcba9876543210": ("app-java", "v1", "java-1", "aws", "us-west-1",
                              "VERSION_REVOKED", "INHERITED"),
    "ami-0b3c20f2fd2b1e282": ("base-al2023", "v1", "al2023-1", "aws", "us-west-1",
                              "VERSION_REVOCATION_SCHEDULED", "MANUAL"),
    "ami-0d4c3b2a1f0e9d8c7": ("web-ubuntu", "v1", "web-1", "aws", "us-west-1",
                              "VERSION_REVOKED", "MANUAL"),
    "ami-0d4c3b2a1f0e9d8c6": ("web-ubuntu", "v1", "web-1", "aws", "us-east-1",
                              "VERSION_REVOKED", "MANUAL"),
    "ami-0a1b2c3d4e5f60718": ("web-ubuntu", "v2", "web-2", "aws", "us-west-1",
                              "VERSION_ACTIVE", None),
    "ami-0a1b2c3d4e5f60719": ("web-ubuntu", "v2", "web-2", "aws", "us-east-1",
                              "VERSION_ACTIVE", None),
    "ami-0c9d8e7f6a5b40312": ("web-ubuntu", "v3", "web-3", "aws", "us-west-1",
                              "VERSION_ACTIVE", None),
    "ami-0c9d8e7f6a5b40313": ("web-ubuntu", "v3", "web-3", "aws", "us-east-1",
                              "VERSION_ACTIVE", None),
    DOCKER_ID: ("web-ubuntu", "v3", "web-3", "docker", "docker", "VERSION_ACTIVE", None),
    AZURE_ID: ("azure-win", "v1", "win-1", "azure", "", "VERSION_ACTIVE", None),
}

# bucket -> {channel: version name or None}
CHANNELS = {
    "golden-base": {"latest": None, "production": None},
    "app-java": {"latest": None, "production": None},
    "base-al2023": {"latest": "v1", "production": "v1"},
    "web-ubuntu": {"latest": "v3", "development": "v3", "staging": "v3", "production": "v2"},
    "azure-win": {"latest": "v1"},
}


def parse_time(s):
    """RFC 3339 as imagegate prints it (UTC, optional milliseconds), to the second."""
    return datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)


def rfc3339(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def dump(db_path, read_only=False):
    """Every row of every table: the registry's exact state."""
    if read_only:  # a WAL store on read-only media opens only as immutable
        con = sqlite3.connect("file:%s?immutable=1" % db_path, uri=True)
    else:
        con = sqlite3.connect(db_path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


class SqliteStore:
    """A SQLite store file: its URL, a copy, every row."""

    def __init__(self, path):
        self.path = path
        self.url = "sqlite:" + path

    def copy(self, directory):
        dst = os.path.join(directory, "copy.db")
        shutil.copy(self.path, dst)
        return SqliteStore(dst)

    def dump(self):
        return dump(self.path)

    def drop(self):
        pass


class PgStore:
    """A database on the PostgreSQL test server: its URL, a copy (CREATE DATABASE
    ... TEMPLATE), every row of every table."""
    counter = 0

    def __init__(self, template=None):
        PgStore.counter += 1
        self.name = "ig_%d_%d" % (os.getpid(), PgStore.counter)
        self.url = pgserver.create_database(PG_URL, self.name, template)

    def copy(self, directory):
        return PgStore(template=self.name)

    def sql(self, statement):
        return pgserver.psql(self.url, statement)

    def dump(self):
        tables = self.sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                          " ORDER BY 1").split()
        return self.sql("; ".join("SELECT '%s', t::text FROM %s t ORDER BY 2" % (t, t)
                                  for t in tables)).splitlines()

    def drop(self):
        pgserver.drop_database(PG_URL, self.name)


def new_store(directory, name="r.db"):
    """An empty store of the mode's kind (a SQLite path that does not exist yet)."""
    return PgStore() if PG_URL else SqliteStore(os.path.join(directory, name))


def build_fixture_registry(directory):
    store = new_store(directory, "x.db")
    p = subprocess.run(["sh", SETUP, igtest.BIN, store.url], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("setup-registry.sh failed: %s\n%s" % (p.stdout, p.stderr))
    return store


class FixtureRegistry(igtest.TempDirTestCase):
    """The table of fixtures/README.md."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.dir = tempfile.mkdtemp(prefix="igtest-fixture-")
        cls.before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        cls.store = build_fixture_registry(cls.dir)
        cls.after = datetime.datetime.now(datetime.timezone.utc)

    @classmethod
    def tearDownClass(cls):
        cls.store.drop()
        shutil.rmtree(cls.dir, True)

    def ig(self, *args, db=None, env=None):
        return run("--db", (db or self.store).url, *args, env=env)

    def copy_db(self):
        """A private copy to change without disturbing the other tests."""
        copy = self.store.copy(self.tmp)
        self.addCleanup(copy.drop)
        return copy

    def find(self, image, db=None, env=None):
        r = self.ig("--json", "artifact", "find", image, db=db, env=env)
        self.assertEqual(r.code, 0, r)
        return r.json()

    def channels(self, bucket, db=None, env=None):
        r = self.ig("channel", "list", bucket, "--json", db=db, env=env)
        self.assertEqual(r.code, 0, r)
        return {c["name"]: (c["version"] or {}).get("name") for c in r.json()}

    @sqlite_only
    def test_store_file_mode_0600(self):
        self.assertEqual(os.stat(self.store.path).st_mode & 0o777, 0o600)

    def test_artifact_table(self):
        for image, want in TABLE.items():
            with self.subTest(image=image):
                found = self.find(image)
                self.assertEqual(len(found), 1, found)
                m = found[0]
                got = (m["bucket_name"], m["version"], m["fingerprint"], m["platform"],
                       m["region"], m["status"], m["revocation_type"])
                self.assertEqual(got, want)
                if want[6] is None:
                    self.assertIsNone(m["revoke_at"])
                else:
                    self.assertIsNotNone(m["revoke_at"])

    def test_revoke_at_values(self):
        golden = self.find("ami-0e1f2a3b4c5d6e7f8")[0]
        java = self.find("ami-0fedcba9876543210")[0]
        self.assertEqual(golden["revoke_at"], java["revoke_at"])  # inherited: same time
        self.assertEqual(java["revocation_inherited_from"]["bucket_name"], "golden-base")
        self.assertEqual(java["revocation_inherited_from"]["version"], "v1")
        self.assertEqual(java["revocation_message"], "compromised base image")
        self.assertEqual(golden["revocation_message"], "compromised base image")
        web1 = self.find("ami-0d4c3b2a1f0e9d8c7")[0]
        self.assertIn("CVE-2024-6387", web1["revocation_message"])
        for m in (golden, web1):
            t = parse_time(m["revoke_at"])
            self.assertTrue(self.before <= t <= self.after, m["revoke_at"])
        al = self.find("ami-0b3c20f2fd2b1e282")[0]
        t = parse_time(al["revoke_at"])
        fourteen = datetime.timedelta(days=14)
        self.assertTrue(self.before + fourteen <= t <= self.after + fourteen, al["revoke_at"])
        self.assertEqual(al["revocation_message"], "end of support")
        self.assertEqual(al["revocation_author"], getpass.getuser())

    def test_case_insensitive_and_untracked(self):
        self.assertEqual(self.find(AZURE_ID.upper())[0]["bucket_name"], "azure-win")
        for image in ("ami-1f2e3d4c", "ami-0123456789abcdef0"):
            self.assertEqual(self.find(image), [])
        self.assertEqual(self.find("ami-0c9d8e7f6a5b40312", env=None), self.find(
            "AMI-0C9D8E7F6A5B40312"))
        r = self.ig("--json", "artifact", "find", "ami-0c9d8e7f6a5b40312", "--region", "us-east-1")
        self.assertEqual(r.json(), [])
        r = self.ig("--json", "artifact", "find", DOCKER_ID, "--platform", "docker")
        self.assertEqual(len(r.json()), 1)
        r = self.ig("artifact", "find", "ami-0d4c3b2a1f0e9d8c7")
        self.assertEqual(r.code, 0)
        for word in ("web-ubuntu", "v1", "web-1", "aws", "us-west-1", "VERSION_REVOKED",
                     "MANUAL"):
            self.assertIn(word, r.out)

    def test_channel_table(self):
        for bucket, want in CHANNELS.items():
            with self.subTest(bucket=bucket):
                self.assertEqual(self.channels(bucket), want)
        r = self.ig("channel", "list", "web-ubuntu", "--json")
        latest = r.json()[0]
        self.assertEqual(latest["name"], "latest")
        self.assertTrue(latest["managed"])

    def test_version_list(self):
        r = self.ig("--json", "version", "list", "web-ubuntu")
        self.assertEqual(r.code, 0, r)
        got = [(v["name"], v["fingerprint"], v["status"]) for v in r.json()]
        self.assertEqual(got, [("v3", "web-3", "VERSION_ACTIVE"), ("v2", "web-2", "VERSION_ACTIVE"),
                               ("v1", "web-1", "VERSION_REVOKED")])
        r = self.ig("version", "list", "app-java", "--json")
        v = r.json()[0]
        self.assertEqual((v["status"], v["revocation_type"]), ("VERSION_REVOKED", "INHERITED"))
        # the parents: imagegate's list, and HCP's roll-up (an import knows a parent only
        # from its source image: UNDETERMINED)
        self.assertEqual(v["parent_versions"][0]["bucket_name"], "golden-base")
        self.assertEqual(v["parents"], {"status": "UNDETERMINED"})
        r = self.ig("version", "show", "web-ubuntu", "web-2")
        self.assertEqual(r.code, 0, r)
        self.assertIn("us-east-1", r.out)
        self.assertIn("ami-0a1b2c3d4e5f60719", r.out)

    def test_history_and_audit(self):
        r = self.ig("--json", "channel", "history", "golden-base", "production")
        h = r.json()
        self.assertEqual([e["action"] for e in h], ["rollback", "set"])
        self.assertIsNone(h[0]["version"])
        self.assertEqual(h[1]["version"], "v1")
        r = self.ig("--json", "audit", "list")
        self.assertEqual(r.code, 0, r)
        actions = [e["action"] for e in r.json()]
        for a in ("bucket.create", "version.import", "channel.set", "version.revoke",
                  "channel.rollback"):
            self.assertIn(a, actions)
        self.assertEqual({e["author"] for e in r.json()}, {getpass.getuser()})
        r = self.ig("--json", "audit", "list", "--bucket", "app-java")
        self.assertEqual([e["action"] for e in r.json()],
                         ["bucket.create", "version.import", "channel.set", "channel.rollback",
                          "sbom.add"])
        r = self.ig("--json", "audit", "list", "--since", "2999-01-01T00:00:00Z")
        self.assertEqual(r.json(), [])
        # the filters of GET /v1/audit: author, until, newest first
        everything = self.ig("--json", "audit", "list").json()
        r = self.ig("--json", "audit", "list", "--author", getpass.getuser())
        self.assertEqual(r.json(), everything)
        r = self.ig("--json", "audit", "list", "--author", "somebody-else")
        self.assertEqual(r.json(), [])
        r = self.ig("--json", "audit", "list", "--until", "2000-01-01T00:00:00Z")
        self.assertEqual(r.json(), [])
        r = self.ig("--json", "audit", "list", "--until", "2999-01-01T00:00:00Z")
        self.assertEqual(r.json(), everything)
        r = self.ig("--json", "audit", "list", "--newest", "--bucket", "app-java", "--limit", "2")
        self.assertEqual([e["action"] for e in r.json()], ["sbom.add", "channel.rollback"])
        r = self.ig("audit", "list", "--until", "yesterday-ish")
        self.assertEqual(r.code, 2, r)
        self.assertIn("--until", r.err)

    def test_latest_moves(self):
        db = self.copy_db()
        r = self.ig("version", "revoke", "web-ubuntu", "v3", "--message", "bad", db=db)
        self.assertEqual(r.code, 0, r)
        # latest is computed; development and staging only ever held v3: emptied
        self.assertEqual(self.channels("web-ubuntu", db=db),
                         {"latest": "v2", "development": None, "staging": None,
                          "production": "v2"})
        r = self.ig("version", "restore", "web-ubuntu", "v3", db=db)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(self.channels("web-ubuntu", db=db)["latest"], "v3")
        self.assertIsNone(self.channels("web-ubuntu", db=db)["staging"])  # not re-assigned
        # a new import becomes latest
        r = self.ig("import", os.path.join(MANIFESTS, "golden-base-v1.json"), "--bucket",
                    "web-ubuntu", "--fingerprint", "web-4", db=db)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(self.channels("web-ubuntu", db=db)["latest"], "v4")

    def test_golden_restore_reactivates_app_java(self):
        db = self.copy_db()
        r = self.ig("version", "restore", "app-java", "v1", db=db)
        self.assertEqual(r.code, 1, r)  # only inherited: restore at the origin
        self.assertIn("golden-base v1", r.err)
        r = self.ig("--json", "version", "restore", "golden-base", "v1", db=db)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.json()["status"], "VERSION_ACTIVE")
        java = self.find("ami-0fedcba9876543210", db=db)[0]
        self.assertEqual((java["status"], java["revocation_type"], java["revoke_at"]),
                         ("VERSION_ACTIVE", None, None))
        # channels are not re-assigned; latest (computed) is back
        self.assertEqual(self.channels("app-java", db=db), {"latest": "v1", "production": None})
        self.assertEqual(self.channels("golden-base", db=db),
                         {"latest": "v1", "production": None})

    def test_scheduled_revocation_comes_due(self):
        db = self.copy_db()
        later = {"IMAGEGATE_NOW": rfc3339(self.after + datetime.timedelta(days=15))}
        al = self.find("ami-0b3c20f2fd2b1e282", db=db, env=later)[0]
        self.assertEqual(al["status"], "VERSION_REVOKED")
        # nothing rolled back: production still holds v1; latest is empty
        self.assertEqual(self.channels("base-al2023", db=db, env=later),
                         {"latest": None, "production": "v1"})
        r = self.ig("channel", "set", "base-al2023", "staging", "v1", db=db, env=later)
        self.assertEqual(r.code, 1, r)
        r = self.ig("channel", "set", "base-al2023", "staging", "v1", db=db)
        self.assertEqual(r.code, 0, r)  # today it is only scheduled

    def test_reimport_changes_nothing(self):
        db = self.copy_db()
        before = db.dump()
        r = self.ig("import", os.path.join(MANIFESTS, "web-ubuntu-v2.json"), "--bucket",
                    "web-ubuntu", "--fingerprint", "web-2", "--channel", "production", db=db)
        self.assertEqual(r.code, 0, r)
        self.assertIn("unchanged", r.out)
        self.assertEqual(db.dump(), before)


class ExitCodes(igtest.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.store = new_store(self.tmp)
        self.addCleanup(self.store.drop)
        self.db = self.path("r.db")  # the SQLite file (SQLite mode)
        self.url = self.store.url

    def ig(self, *args, env=None):
        return run("--db", self.url, *args, env=env)

    def imp(self, manifest, bucket, fp, *extra):
        return self.ig("import", os.path.join(MANIFESTS, manifest), "--bucket", bucket,
                       "--fingerprint", fp, *extra)

    def assertOneLine(self, r):
        lines = r.err.strip().splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertTrue(lines[0].startswith("imagegate: "), r)

    @sqlite_only
    def test_missing_store_exits_3_and_creates_nothing(self):
        cmds = [["bucket", "list"], ["bucket", "show", "web"], ["bucket", "delete", "web"],
                ["version", "list", "web"], ["version", "show", "web", "v1"],
                ["version", "revoke", "web", "v1"], ["version", "restore", "web", "v1"],
                ["version", "delete", "web", "v1"], ["channel", "list", "web"],
                ["channel", "set", "web", "prod", "v1"], ["channel", "unset", "web", "prod"],
                ["channel", "history", "web", "prod"], ["channel", "delete", "web", "prod"],
                ["artifact", "find", "ami-1"], ["audit", "list"], ["token", "list"],
                ["token", "revoke", "x"], ["token", "create", "--name", "x", "--role", "read"]]
        for cmd in cmds:
            with self.subTest(cmd=cmd):
                r = self.ig(*cmd)
                self.assertEqual(r.code, 3, r)
                self.assertOneLine(r)
                self.assertFalse(os.path.exists(self.db))
        # IMAGEGATE_DB is honoured the same way
        r = run("bucket", "list", env={"IMAGEGATE_DB": self.url})
        self.assertEqual(r.code, 3, r)
        self.assertFalse(os.path.exists(self.db))
        # the default store is imagegate.db in the current directory
        p = subprocess.run([igtest.BIN, "audit", "list"], cwd=self.tmp, capture_output=True,
                           env={k: v for k, v in os.environ.items() if k != "IMAGEGATE_DB"})
        self.assertEqual(p.returncode, 3)
        self.assertFalse(os.path.exists(self.path("imagegate.db")))

    @sqlite_only
    def test_creating_commands(self):
        r = self.ig("bucket", "create", "web", "--description", "Web", "--label", "team=a")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(os.stat(self.db).st_mode & 0o777, 0o600)
        r = self.ig("bucket", "show", "web", "--json")
        self.assertEqual(r.json()["labels"], {"team": "a"})
        # token create is not one of them (PRODUCT.md section 2): exit 3, no file
        r = run("--db", "sqlite:" + self.path("t.db"), "token", "create", "--name", "ci",
                "--role", "read", "--json")
        self.assertEqual(r.code, 3, r)
        self.assertOneLine(r)
        self.assertFalse(os.path.exists(self.path("t.db")))
        self.assertEqual(run("--db", "sqlite:" + self.path("t.db"), "bucket", "create",
                             "first").code, 0)
        r = run("--db", "sqlite:" + self.path("t.db"), "token", "create", "--name", "ci",
                "--role", "read", "--json")
        self.assertEqual(r.code, 0, r)
        self.assertTrue(r.json()["secret"].startswith("igt_"))
        r = run("--db", "sqlite:" + self.path("t.db"), "token", "list")
        self.assertEqual(r.code, 0, r)
        self.assertIn("ci", r.out)
        self.assertNotIn("igt_", r.out)
        r = self.imp("golden-base-v1.json", "golden-base", "golden-1")
        self.assertEqual(r.code, 0, r)

    @sqlite_only
    def test_bad_input_before_store_creates_nothing(self):
        bad = self.write("bad.json", '{"builds": [{"name": "x"}], "last_run_uuid": "r"}')
        r = self.ig("import", bad, "--bucket", "web")
        self.assertEqual(r.code, 2, r)
        self.assertOneLine(r)
        self.assertIn("builds[0].builder_type: missing", r.err)
        self.assertFalse(os.path.exists(self.db))
        for args in (["bucket", "create", "x!"],
                     ["import", os.path.join(MANIFESTS, "azure-win-v1.json"), "--bucket", "a"],
                     ["import", os.path.join(MANIFESTS, "azure-win-v1.json"), "--bucket",
                      "azure", "--fingerprint", "v12"],
                     ["import", self.path("nope.json"), "--bucket", "azure"],
                     ["import", os.path.join(MANIFESTS, "azure-win-v1.json")]):
            with self.subTest(args=args):
                r = self.ig(*args)
                self.assertEqual(r.code, 2, r)
                self.assertOneLine(r)
                self.assertFalse(os.path.exists(self.db))
        r = self.ig("import", os.path.join(MANIFESTS, "azure-win-v1.json"), "--bucket", "azure",
                    "--channel", "latest")
        self.assertEqual(r.code, 1, r)
        self.assertFalse(os.path.exists(self.db))

    def test_exit_codes(self):
        self.assertEqual(self.imp("web-ubuntu-v1.json", "web", "web-1", "--channel", "prod").code, 0)
        self.assertEqual(self.imp("web-ubuntu-v2.json", "web", "web-2").code, 0)
        self.assertEqual(self.ig("version", "revoke", "web", "v1").code, 0)
        cases = [
            (["bucket", "show", "nope"], 2, "bucket 'nope' does not exist"),
            (["version", "list", "nope"], 2, "nope"),
            (["version", "show", "web", "v9"], 2, "version 'v9'"),
            (["channel", "set", "web", "prod", "v1"], 1, "revoked"),
            (["channel", "set", "web", "latest", "v2"], 1, "latest"),
            (["channel", "unset", "web", "latest"], 1, "latest"),
            (["channel", "delete", "web", "latest"], 1, "latest"),
            (["channel", "history", "web", "nochan"], 2, "nochan"),
            (["version", "revoke", "web", "v2", "--at", "2026-02-30T00:00:00Z"], 2, "--at"),
            (["version", "revoke", "web", "v2", "--in", "3y"], 2, "--in"),
            (["version", "revoke", "web", "v2", "--in", "1d", "--at", "2030-01-01T00:00:00Z"], 2,
             "together"),
            (["version", "revoke", "web", "v1"], 1, "already revoked"),
            (["version", "restore", "web", "v2"], 1, "not revoked"),
            (["bucket", "create", "web"], 1, "already exists"),
            (["audit", "list", "--since", "yesterday"], 2, "--since"),
            (["bucket", "list", "--nope"], 2, "--nope"),
            (["bucket", "frobnicate"], 2, "frobnicate"),
            (["version", "show", "web"], 2, "missing"),
            (["channel", "set", "web", "prod", "v2", "extra"], 2, "extra"),
            (["token", "create", "--name", "x", "--role", "root"], 2, "--role"),
            (["artifact", "find"], 2, "ID"),
        ]
        for args, code, text in cases:
            with self.subTest(args=args):
                r = self.ig(*args)
                self.assertEqual(r.code, code, r)
                self.assertOneLine(r)
                self.assertIn(text, r.err)
        r = self.ig("bucket", "list", env={"IMAGEGATE_NOW": "2026-13-01T00:00:00Z"})
        self.assertEqual(r.code, 2, r)
        self.assertIn("IMAGEGATE_NOW", r.err)

    def test_options_after_the_command_and_help(self):
        self.assertEqual(self.imp("web-ubuntu-v1.json", "web", "web-1").code, 0)
        r = run("bucket", "list", "--db", self.url, "--json")
        self.assertEqual(r.code, 0, r)
        self.assertEqual([b["name"] for b in r.json()], ["web"])
        r = run("bucket", "--json", "--db", self.url, "show", "web")
        self.assertEqual(r.json()["name"], "web")
        helps = [["import"], ["bucket"], ["bucket", "list"], ["bucket", "show"],
                 ["bucket", "create"], ["bucket", "delete"], ["version"], ["version", "list"],
                 ["version", "show"], ["version", "delete"], ["version", "revoke"],
                 ["version", "restore"], ["channel"], ["channel", "list"], ["channel", "set"],
                 ["channel", "unset"], ["channel", "history"], ["channel", "delete"],
                 ["artifact"], ["artifact", "find"], ["audit"], ["audit", "list"], ["token"],
                 ["token", "create"], ["token", "list"], ["token", "revoke"]]
        for h in helps:
            with self.subTest(cmd=h):
                r = run(*h, "--help")
                self.assertEqual(r.code, 0, r)
                self.assertIn("usage: imagegate " + h[0], r.out)
                self.assertEqual(r.err, "")
        self.assertIn("--skip-descendants", run("version", "revoke", "--help").out)

    def test_malformed_manifests_leave_registry_unchanged(self):
        self.assertEqual(self.imp("web-ubuntu-v1.json", "web", "web-1", "--channel", "prod").code, 0)
        before = self.store.dump()
        bad = {
            "not-json.json": ("{", "not-json.json:"),
            "array.json": ("[]", "not a Packer manifest"),
            "types.json": ('{"builds":[{"name":"a","builder_type":"amazon-ebs","artifact_id":5,'
                           '"packer_run_uuid":"r"}],"last_run_uuid":"r"}',
                           "builds[0].artifact_id: must be a string"),
            "cd.json": ('{"builds":[{"name":"a","builder_type":"docker","artifact_id":"x",'
                        '"packer_run_uuid":"r","custom_data":"oops"}],"last_run_uuid":"r"}',
                        "builds[0].custom_data: must be an object"),
            "run.json": ('{"builds":[{"name":"a","builder_type":"docker","artifact_id":"x",'
                         '"packer_run_uuid":"q"}],"last_run_uuid":"r"}', "no build has"),
            "aws.json": ('{"builds":[{"name":"a","builder_type":"amazon-ebs","artifact_id":'
                         '"us-east-1:ami-1,eu-west-1:","packer_run_uuid":"r"}],'
                         '"last_run_uuid":"r"}', "empty image ID for region eu-west-1"),
            "huge.json": ('{"builds":[{"name":"a","builder_type":"docker","artifact_id":"'
                          + "x" * 100000 + '","packer_run_uuid":"r"}],"last_run_uuid":"r"}',
                          "longer than"),
        }
        for name, (text, want) in bad.items():
            with self.subTest(manifest=name):
                r = self.ig("import", self.write(name, text), "--bucket", "web",
                            "--fingerprint", "web-9", "--channel", "prod")
                self.assertEqual(r.code, 2, r)
                self.assertOneLine(r)
                self.assertIn(name, r.err)
                self.assertIn(want, r.err)
                self.assertEqual(self.store.dump(), before)
        # same fingerprint, other builds: refused, unchanged
        r = self.imp("web-ubuntu-v2.json", "web", "web-1")
        self.assertEqual(r.code, 1, r)
        self.assertEqual(self.store.dump(), before)

    def test_injected_store_error_half_way_leaves_nothing(self):
        self.assertEqual(self.imp("web-ubuntu-v1.json", "web", "web-1", "--channel", "prod").code, 0)
        if PG_URL:
            self.store.sql("CREATE FUNCTION boom_fn() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
                           " IF NEW.region = 'us-west-1' THEN RAISE EXCEPTION 'injected failure';"
                           " END IF; RETURN NEW; END$$; CREATE TRIGGER boom BEFORE INSERT ON"
                           " artifacts FOR EACH ROW EXECUTE FUNCTION boom_fn()")
        else:
            con = sqlite3.connect(self.db)
            con.execute("CREATE TRIGGER boom BEFORE INSERT ON artifacts WHEN NEW.region ="
                        " 'us-west-1' BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
            con.commit()
            con.close()
        before = self.store.dump()
        r = self.imp("web-ubuntu-v2.json", "web", "web-2", "--channel", "prod")
        # RAISE(ABORT) is a constraint failure in SQLite's terms: refused, exit 1;
        # PostgreSQL's RAISE EXCEPTION is a store error (SQLSTATE P0001): exit 3
        self.assertEqual(r.code, 3 if PG_URL else 1, r)
        self.assertOneLine(r)
        self.assertIn("injected failure", r.err)
        self.assertEqual(self.store.dump(), before)

    @sqlite_only
    def test_locked_store_exits_3(self):
        self.assertEqual(self.imp("web-ubuntu-v1.json", "web", "web-1").code, 0)
        before = dump(self.db)
        con = sqlite3.connect(self.db, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        try:
            r = run("--db", self.url + "?busy_timeout=200", "version", "revoke", "web", "v1")
        finally:
            con.execute("ROLLBACK")
            con.close()
        self.assertEqual(r.code, 3, r)
        self.assertOneLine(r)
        self.assertIn("locked", r.err)
        self.assertEqual(dump(self.db), before)

    # -- PostgreSQL counterparts of the SQLite file tests ----------------------

    @postgresql_only
    def test_missing_or_unreachable_database_exits_3(self):
        """Every command, import and bucket create included (imagegate never
        creates a PostgreSQL database), exits 3 with one line that never shows
        the password."""
        urls = [pgserver.with_database(self.url, "no_such_db"),
                pgserver.with_param(self.url.replace(self.url.split("@")[1].split("/")[0],
                                                     "127.0.0.1:1"), "connect_timeout", "2")]
        cmds = [["bucket", "list"], ["version", "list", "web"], ["audit", "list"],
                ["bucket", "create", "web"], ["token", "create", "--name", "x", "--role", "read"],
                ["import", os.path.join(MANIFESTS, "azure-win-v1.json"), "--bucket", "azure"]]
        for url in urls:
            for cmd in cmds:
                with self.subTest(url=url.split("@")[1], cmd=cmd[:2]):
                    r = run("--db", url, *cmd)
                    self.assertEqual(r.code, 3, r)
                    self.assertOneLine(r)
                    self.assertNotIn(pgserver.PASSWORD, r.err + r.out)
        r = run("--db", pgserver.with_param(self.url, "sslmode", "verify-full"), "bucket", "list")
        self.assertEqual(r.code, 3, r)
        self.assertOneLine(r)
        self.assertNotIn(pgserver.PASSWORD, r.err)

    @postgresql_only
    def test_write_lock_held_elsewhere_exits_3(self):
        """A writer that cannot get the registry's write lock within lock_timeout
        gives up with exit 3; readers never wait for it."""
        self.assertEqual(self.imp("web-ubuntu-v1.json", "web", "web-1").code, 0)
        before = self.store.dump()
        holder = subprocess.Popen([pgserver.psql_bin(), "-X", "-q", "-At", "-d", self.url],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            holder.stdin.write("BEGIN; SELECT pg_advisory_xact_lock(7355609); \\echo held\n")
            holder.stdin.flush()
            for line in holder.stdout:  # the lock's (empty) row, then our marker
                if line.strip() == "held":
                    break
            else:
                self.fail("psql could not take the lock: " + holder.stderr.read())
            url = pgserver.with_param(self.url, "options", "-c lock_timeout=300")
            t0 = time.time()
            r = run("--db", url, "version", "revoke", "web", "v1")
            self.assertEqual(r.code, 3, r)
            self.assertOneLine(r)
            self.assertIn("locked", r.err)
            self.assertLess(time.time() - t0, 10)
            r = run("--db", url, "--json", "version", "list", "web")
            self.assertEqual(r.code, 0, r)
        finally:
            holder.stdin.close()
            holder.wait(10)
        self.assertEqual(self.store.dump(), before)

    @postgresql_only
    def test_read_only_database_exits_3(self):
        self.assertEqual(self.imp("web-ubuntu-v1.json", "web", "web-1", "--channel", "prod").code, 0)
        self.store.sql("ALTER DATABASE %s SET default_transaction_read_only = on" % self.store.name)
        before = self.store.dump()
        for cmd in (["version", "revoke", "web", "v1"], ["bucket", "create", "other"],
                    ["channel", "unset", "web", "prod"]):
            with self.subTest(cmd=cmd[:2]):
                r = self.ig(*cmd)
                self.assertEqual(r.code, 3, r)
                self.assertOneLine(r)
                self.assertIn("read-only", r.err)
        r = self.ig("--json", "version", "list", "web")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(self.store.dump(), before)


@sqlite_only
class UnwritableStore(igtest.TempDirTestCase):
    """A store that cannot be written: exit 3, and nothing half-written."""

    def setUp(self):
        super().setUp()
        self.db = self.path("r.db")
        r = run("--db", "sqlite:" + self.db, "import", os.path.join(MANIFESTS,
                "web-ubuntu-v1.json"), "--bucket", "web", "--fingerprint", "web-1",
                "--channel", "prod")
        self.assertEqual(r.code, 0, r)

    def writes(self, url):
        """Every kind of write; each must exit 3."""
        return [
            ["import", os.path.join(MANIFESTS, "web-ubuntu-v2.json"), "--bucket", "web",
             "--fingerprint", "web-2", "--channel", "prod"],
            ["bucket", "create", "other"],
            ["version", "revoke", "web", "v1"],
            ["channel", "unset", "web", "prod"],
            ["token", "create", "--name", "t", "--role", "admin"],
        ]

    def check_unwritable(self, url, before):
        for cmd in self.writes(url):
            with self.subTest(cmd=cmd[:2]):
                r = run("--db", url, *cmd)
                self.assertEqual(r.code, 3, r)
                self.assertEqual(len(r.err.strip().splitlines()), 1, r)

    def test_immutable_file(self):
        if subprocess.run(["chattr", "+i", self.db], capture_output=True).returncode != 0:
            self.skipTest("chattr +i is not supported here")
        before = dump(self.db)
        try:
            self.check_unwritable("sqlite:" + self.db, before)
            # reads still work
            r = run("--db", "sqlite:" + self.db, "--json", "version", "list", "web")
            self.assertEqual(r.code, 0, r)
            self.assertEqual(r.json()[0]["name"], "v1")
        finally:
            subprocess.run(["chattr", "-i", self.db])
        self.assertEqual(dump(self.db), before)

    def test_read_only_mount(self):
        mnt = self.path("ro")
        os.mkdir(mnt)
        shutil.copy(self.db, os.path.join(mnt, "r.db"))
        if subprocess.run(["mount", "--bind", mnt, mnt], capture_output=True).returncode != 0:
            self.skipTest("bind mounts are not allowed here")
        try:
            if subprocess.run(["mount", "-o", "remount,bind,ro", mnt],
                              capture_output=True).returncode != 0:
                self.skipTest("read-only remount is not allowed here")
            db = os.path.join(mnt, "r.db")
            before = dump(db, read_only=True)
            self.check_unwritable("sqlite:" + db, before)
            self.assertEqual(dump(db, read_only=True), before)
        finally:
            subprocess.run(["umount", mnt])
        self.assertEqual(dump(os.path.join(mnt, "r.db")), before)

    def test_disk_full_half_way(self):
        mnt = self.path("small")
        os.mkdir(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
                          capture_output=True).returncode != 0:
            self.skipTest("tmpfs mounts are not allowed here")
        try:
            db = os.path.join(mnt, "r.db")
            url = "sqlite:" + db
            r = run("--db", url, "import", os.path.join(MANIFESTS, "web-ubuntu-v1.json"),
                    "--bucket", "web", "--fingerprint", "web-1", "--channel", "prod")
            self.assertEqual(r.code, 0, r)
            before = dump(db)
            # fill the file system, leaving a little room: the transaction starts
            # writing and runs out of space half-way
            filler = os.path.join(mnt, "filler")
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            finally:
                os.close(fd)
            os.truncate(filler, max(0, os.path.getsize(filler) - 96 * 1024))
            builds = ",".join(
                '{"name":"b%d","builder_type":"amazon-ebs","packer_run_uuid":"r","artifact_id":"%s"}'
                % (i, ",".join("r%d:ami-%08d%08d" % (k, i, k) for k in range(40)))
                for i in range(300))
            big = self.write("big.json", '{"builds":[%s],"last_run_uuid":"r"}' % builds)
            r = run("--db", url, "import", big, "--bucket", "web", "--fingerprint", "big",
                    "--channel", "prod")
            self.assertEqual(r.code, 3, r)
            self.assertIn("disk full", r.err)
            os.unlink(filler)
            self.assertEqual(dump(db), before)
        finally:
            subprocess.run(["umount", mnt])


if __name__ == "__main__":
    unittest.main(verbosity=2)
