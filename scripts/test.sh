#!/bin/sh
# The whole test suite: installs what is missing, builds with warnings as
# errors, runs every unit and integration test through ctest.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   AddressSanitizer + UBSan build in build-asan/
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

# The suite includes the PostgreSQL store (each such test starts its own
# throwaway server, tests/integration/pgserver.py). Say so now, plainly, if
# that cannot work, instead of skipping anything.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 &&
    [ -z "${IMAGEGATE_PG_BINDIR:-}" ]; then
    echo "test.sh: PostgreSQL server binaries (initdb, pg_ctl) not found after install-deps.sh;" \
        "the PostgreSQL tests need them (or set IMAGEGATE_PG_BINDIR)" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "test.sh: running as root but there is no 'postgres' user to run the test PostgreSQL" \
        "server as" >&2
    exit 1
fi

# The console's browser tests (tests/e2e) drive Debian's Chromium with
# playwright-core from npm, pinned by tests/e2e/package-lock.json.
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

mode=${1:-}
if [ "$mode" = "--sanitize" ]; then
    BUILD=${BUILD_DIR:-build-asan}
    EXTRA="-DIG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
    BUILD=${BUILD_DIR:-build}
    EXTRA="-DCMAKE_BUILD_TYPE=RelWithDebInfo"
fi
# shellcheck disable=SC2086
cmake -S . -B "$BUILD" -DIG_WERROR=ON $EXTRA >/dev/null
cmake --build "$BUILD" -j"$(nproc)" -- --no-print-directory >/dev/null
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)"
