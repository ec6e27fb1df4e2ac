#!/usr/bin/env python3
"""A throwaway PostgreSQL server for imagegate's tests (python3 standard library only).

    server = PgServer().start()          # initdb + pg_ctl start on a free 127.0.0.1 port
    url = server.create_database("t1")   # postgresql://imagegate:PASSWORD@127.0.0.1:PORT/t1
    server.restart()                     # same port, same data
    server.cleanup()                     # stop and remove everything (also run at exit)

or, to give one command a server of its own (how ctest runs the PostgreSQL modes of the
registry unit tests and of the CLI integration tests):

    pgserver.py run -- COMMAND ARGS...

which starts a server, creates the database `imagegate_test`, runs COMMAND with
IMAGEGATE_TEST_PG_URL set to its URL, stops the server and exits with COMMAND's status.

The cluster lives in a temporary directory owned by the `postgres` user when the tests run as
root (PostgreSQL refuses to run as root), listens on 127.0.0.1 only, keeps its Unix socket in
that directory and never touches the system's clusters. Clients connect over TCP as the role
`imagegate` (a password, scram-sha-256, CREATEDB, no superuser: what a production deployment
gives imagegate); the harness itself administers through the socket as `postgres`.

The collation is ICU en-US, not C: ORDER BY on text then differs from bytewise order, as on
many production databases, so the tests see whether imagegate sorts the same on both stores.

A missing PostgreSQL is an error, never a skip: scripts/install-deps.sh installs it.
"""

import atexit
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROLE = "imagegate"
PASSWORD = "pg-s3cret-Pa55word"  # tests check it never shows up in logs or errors


def find_bindir():
    """Directory holding initdb and pg_ctl: $IMAGEGATE_PG_BINDIR, the newest
    /usr/lib/postgresql/N/bin (Debian), or the PATH."""
    env = os.environ.get("IMAGEGATE_PG_BINDIR")
    if env:
        cands = [env]
    else:
        def version(p):
            m = re.search(r"/postgresql/(\d+)/bin$", p)
            return int(m.group(1)) if m else 0
        cands = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
        w = shutil.which("initdb")
        if w:
            cands.append(os.path.dirname(w))
    for d in cands:
        if os.access(os.path.join(d, "initdb"), os.X_OK) and \
                os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return d
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: install the "
                       "'postgresql' package (scripts/install-deps.sh does) or set "
                       "IMAGEGATE_PG_BINDIR")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url, name):
    """url with its database (path) replaced by name."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def with_param(url, key, value):
    """url with one more query parameter (libpq decodes %XX, not '+')."""
    sep = "&" if "?" in url else "?"
    return url + sep + key + "=" + urllib.parse.quote(value, safe="")


def psql_bin():
    for d in (os.environ.get("IMAGEGATE_PG_BINDIR"), "/usr/bin"):
        if d and os.access(os.path.join(d, "psql"), os.X_OK):
            return os.path.join(d, "psql")
    try:
        return os.path.join(find_bindir(), "psql")
    except RuntimeError:
        return "psql"


def psql(url, sql, check=True):
    """Runs sql through psql on url; returns stdout (unaligned, tuples only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    p = subprocess.run([psql_bin(), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], capture_output=True, text=True, env=env, timeout=60)
    if check and p.returncode != 0:
        raise RuntimeError("psql failed (%d): %s\n%s" % (p.returncode, sql, p.stderr))
    return p.stdout


def create_database(url, name, template=None):
    """CREATE DATABASE name (owned by the URL's role) on the server of url; returns its URL."""
    extra = " TEMPLATE %s" % template if template else ""
    psql(with_database(url, "postgres"), "CREATE DATABASE %s%s" % (name, extra))
    return with_database(url, name)


def drop_database(url, name):
    psql(with_database(url, "postgres"), "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


class PgServer:
    def __init__(self, log=None):
        self.bindir = find_bindir()
        self.dir = None
        self.port = None
        self.proc_user = None
        self.log = log
        self.running = False

    # -- lifecycle ------------------------------------------------------------
    def _as_owner(self, argv):
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def _run(self, argv, timeout=120):
        p = subprocess.run(self._as_owner(argv), capture_output=True, text=True, timeout=timeout,
                           cwd=self.dir, env=self._env())
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(argv), p.returncode, p.stdout,
                                                          p.stderr))
        return p.stdout

    @staticmethod
    def _env():
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return env

    def start(self):
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("tests run as root but there is no 'postgres' user to run "
                                   "the PostgreSQL server: install the 'postgresql' package "
                                   "(scripts/install-deps.sh does)")
        self.dir = tempfile.mkdtemp(prefix="igpg-")
        atexit.register(self.cleanup)
        if os.geteuid() == 0:
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write("postgres-not-used\n")
        if os.geteuid() == 0:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile,
                   "-E", "UTF8", "--locale-provider=icu", "--icu-locale=en-US",
                   "--locale=C.UTF-8", "--no-sync", "--no-instructions"])
        os.unlink(pwfile)
        for attempt in range(5):
            self.port = free_port()
            try:
                self._pg_ctl_start()
                break
            except RuntimeError:
                if attempt == 4:
                    raise
        self.admin("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (ROLE, PASSWORD))
        return self

    def _pg_ctl_start(self):
        opts = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=32MB" % (self.port, self.dir))
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                   "-o", opts, "-w", "-t", "60", "start"])
        self.running = True

    def stop(self, mode="fast"):
        if self.running:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                       "-t", "60", "stop"])
            self.running = False

    def start_again(self):
        """After stop(): the same cluster on the same port."""
        self._pg_ctl_start()

    def restart(self):
        self.stop()
        self.start_again()

    def cleanup(self):
        if not self.dir:
            return
        try:
            self.stop("immediate")
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    # -- paths and access ------------------------------------------------------
    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def logfile(self):
        return os.path.join(self.dir, "server.log")

    def url(self, dbname="postgres"):
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, PASSWORD, self.port, dbname)

    def admin(self, sql, dbname="postgres"):
        """Runs sql as the superuser through the socket; returns stdout."""
        p = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q", "-At", "-v",
                            "ON_ERROR_STOP=1", "-h", self.dir, "-p", str(self.port), "-U",
                            "postgres", "-d", dbname, "-c", sql],
                           capture_output=True, text=True, timeout=60, env=self._env())
        if p.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql, p.stderr))
        return p.stdout

    def create_database(self, name, template=None):
        extra = " TEMPLATE %s" % template if template else ""
        self.admin("CREATE DATABASE %s OWNER %s%s" % (name, ROLE, extra))
        return self.url(name)

    def server_log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        sys.stderr.write("usage: pgserver.py run -- COMMAND [ARGS...]\n")
        return 2
    cmd = argv[argv.index("--") + 1:]
    if not cmd:
        sys.stderr.write("pgserver.py: no command\n")
        return 2
    t0 = time.time()
    server = PgServer()
    try:
        server.start()
        url = server.create_database("imagegate_test")
    except Exception as e:  # noqa: BLE001 - report and fail, never skip
        sys.stderr.write("pgserver.py: cannot start PostgreSQL: %s\n" % e)
        server.cleanup()
        return 1
    sys.stderr.write("pgserver.py: PostgreSQL on 127.0.0.1:%d ready in %.1fs\n" %
                     (server.port, time.time() - t0))
    env = dict(os.environ)
    env["IMAGEGATE_TEST_PG_URL"] = url
    child = subprocess.Popen(cmd, env=env)

    def forward(sig, frame):
        child.send_signal(sig)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    rc = child.wait()
    server.cleanup()
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
