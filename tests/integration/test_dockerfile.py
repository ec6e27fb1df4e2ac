#!/usr/bin/env python3
"""docker/Dockerfile, checked without building it (scripts/image-test.sh builds
and tries it with buildah, in CI after this suite): both stages install their
packages with the project's own script (the "build" and "runtime" groups of
scripts/install-deps.sh), the runtime packages exist, hold no compiler, and
provide every shared library the real imagegate binary loads (with their
dependencies). It also checks the promises of the image: non-root user, a
volume for the store, a health check on /healthz; and that the build context
leaves out everything git ignores."""

import os
import re
import shutil
import subprocess
import unittest

SRC = os.environ.get("IMAGEGATE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.abspath(os.environ.get("IMAGEGATE_BIN", "./build/imagegate"))
DOCKERFILE = os.path.join(SRC, "docker", "Dockerfile")


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def runtime_stage(text):
    stages = re.split(r"(?m)^FROM ", text)
    return stages[-1], stages[1]


def packages(group):
    r = sh(os.path.join(SRC, "scripts", "install-deps.sh"), "--list", group)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def ignore_lines(name):
    with open(os.path.join(SRC, name)) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOCKERFILE) as f:
            cls.text = f.read()
        cls.runtime, cls.build = runtime_stage(cls.text)
        cls.pkgs = packages("runtime")

    def test_stages(self):
        self.assertTrue(self.build.startswith("debian:bookworm-slim AS build"))
        self.assertTrue(self.runtime.startswith("debian:bookworm-slim"))
        # the same install script and lists as CI: no package list of its own
        self.assertRegex(self.build, r"(?m)^RUN \./scripts/install-deps\.sh build\b")
        self.assertRegex(self.runtime, r"(?m)^RUN /tmp/install-deps\.sh runtime\b")
        self.assertNotIn("apt-get install", self.text)
        self.assertIn("COPY --from=build", self.runtime)

    def test_runtime_holds_no_compiler(self):
        build = packages("build")
        self.assertIn("build-essential", build)
        for p in self.pkgs:
            self.assertNotIn(p, build, "runtime package %s is a build package" % p)
            self.assertFalse(p.endswith("-dev"), p)
            self.assertNotRegex(p, r"^(gcc|g\+\+|cpp|clang|binutils|build-essential)", p)

    def test_context_leaves_out_what_git_ignores(self):
        # .dockerignore patterns start at the context root; a .gitignore
        # pattern without a slash inside matches at any depth (**/)
        docker = {l.rstrip("/") for l in ignore_lines(".dockerignore")}
        for g in ignore_lines(".gitignore"):
            anchored = "/" in g.rstrip("/")
            want = g.strip("/") if anchored else "**/" + g.rstrip("/")
            self.assertIn(want, docker, ".gitignore's %s is not in .dockerignore" % g)
        for secret in (".git", "docker"):  # history; compose's secrets and .env
            self.assertIn(secret, docker)

    def test_runtime_promises(self):
        user = re.search(r"(?m)^USER (\S+)", self.runtime)
        self.assertIsNotNone(user)
        self.assertNotIn(user.group(1).split(":")[0], ("root", "0"))
        self.assertRegex(self.runtime, r'(?m)^VOLUME \["/var/lib/imagegate"\]')
        self.assertRegex(self.runtime, r"(?m)^HEALTHCHECK .*\n?.*/healthz")
        self.assertIn("curl", self.pkgs)  # the health check needs it

    def test_packages_exist(self):
        if not shutil.which("apt-cache"):
            self.fail("apt-cache is missing: this test runs on Debian")
        for p in self.pkgs:
            r = sh("apt-cache", "show", p)
            self.assertEqual(r.returncode, 0, "runtime package %s does not exist" % p)

    def test_libraries_are_provided(self):
        r = sh("ldd", BIN)
        self.assertEqual(r.returncode, 0, r.stderr)
        libs = []
        for line in r.stdout.splitlines():
            m = re.search(r"=> (/\S+)", line)
            # a sanitizer build (-DIG_SANITIZE=ON) links the sanitizer runtimes,
            # which the image never needs: it is built without them
            if m and not re.match(r"lib(asan|ubsan|lsan|tsan)\.so", os.path.basename(m.group(1))):
                libs.append(os.path.realpath(m.group(1)))
        self.assertGreater(len(libs), 10)
        closure = set()
        r = sh("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
               "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *self.pkgs)
        for line in r.stdout.splitlines():
            name = line.strip().split(":")[-1].strip().strip("<>")
            if name and not line.startswith(" "):
                closure.add(name.split(":")[0])
            elif "Depends:" in line:
                closure.add(line.split("Depends:")[1].strip().strip("<>").split(":")[0])
        closure.update(p.split(":")[0] for p in self.pkgs)
        # one dpkg call for all of them (usrmerge: also try the /lib spelling)
        paths = libs + [l.replace("/usr/lib/", "/lib/", 1) for l in libs]
        owners = {}
        for line in sh("dpkg", "-S", *paths).stdout.splitlines():
            pkg, _, path = line.partition(": ")
            owners[path.strip()] = pkg.split(":")[0].strip()
        missing = []
        for lib in libs:
            pkg = owners.get(lib) or owners.get(lib.replace("/usr/lib/", "/lib/", 1))
            self.assertIsNotNone(pkg, "no package owns %s" % lib)
            if pkg not in closure:
                missing.append("%s (%s)" % (lib, pkg))
        self.assertEqual(missing, [], "libraries no runtime package provides")


if __name__ == "__main__":
    unittest.main(verbosity=2)
