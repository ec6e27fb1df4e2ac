#!/usr/bin/env python3
"""docker/Dockerfile cannot be built on this machine (no Docker engine), so
this test keeps it true in another way: the build stage uses the project's
own install script, the runtime stage installs Debian packages that exist,
and every shared library the real imagegate binary loads is provided by one
of those packages or their dependencies. It also checks the promises of the
image: non-root user, a volume for the store, a health check on /healthz."""

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


def runtime_packages(stage):
    m = re.search(r"apt-get install([^&]*?)(?:&&|\n\s*\n)", stage.replace("\\\n", " "), re.S)
    assert m, "no apt-get install in the runtime stage"
    return [w for w in m.group(1).split() if not w.startswith("-")]


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOCKERFILE) as f:
            cls.text = f.read()
        cls.runtime, cls.build = runtime_stage(cls.text)
        cls.pkgs = runtime_packages(cls.runtime)

    def test_stages(self):
        self.assertTrue(self.build.startswith("debian:bookworm-slim AS build"))
        self.assertTrue(self.runtime.startswith("debian:bookworm-slim"))
        self.assertIn("scripts/install-deps.sh", self.build)  # the same install step as CI
        self.assertIn("COPY --from=build", self.runtime)

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
