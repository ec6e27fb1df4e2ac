"""Small helpers for imagegate integration tests (python3 standard library only).

The test runner (tests/CMakeLists.txt) passes IMAGEGATE_BIN, IMAGEGATE_FIXTURES,
IMAGEGATE_SOURCE_DIR and IMAGEGATE_BUILD_DIR in the environment.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

BIN = os.environ.get("IMAGEGATE_BIN", "imagegate")
FIXTURES = os.environ.get(
    "IMAGEGATE_FIXTURES",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))


class Result:
    """What one run of the binary did."""

    def __init__(self, args, code, out, err):
        self.args, self.code, self.out, self.err = args, code, out, err

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("not JSON from %r: %s\n%s" % (self.args, e, self.out))

    def __repr__(self):
        return "<%r exit %d\nstdout: %s\nstderr: %s>" % (self.args, self.code, self.out, self.err)


def run(*args, env=None, stdin=None, timeout=60, binary=None):
    """Runs imagegate (or binary) with args; never raises on a non-zero exit."""
    full_env = dict(os.environ)
    full_env.pop("IMAGEGATE_DB", None)
    full_env.pop("IMAGEGATE_NOW", None)
    if env:
        full_env.update(env)
    argv = [binary or BIN] + [str(a) for a in args]
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=full_env,
                       timeout=timeout)
    return Result(argv, p.returncode, p.stdout, p.stderr)


class TempDirTestCase(unittest.TestCase):
    """A test case with a fresh temporary directory in self.tmp."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="igtest-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p
