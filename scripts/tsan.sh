#!/bin/sh
# ThreadSanitizer build in build-tsan/ (-DIG_TSAN=ON). Any report fails the run: reports go to
# build-tsan/tsan-reports/ (a daemon's stderr is a test's log file) and are printed at the end.
#   scripts/tsan.sh         the worker-pool test (tests/unit/test_pool.c): what CI runs
#   scripts/tsan.sh --all   the whole ctest suite, the daemon included (about 4 minutes more)
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
BUILD=${BUILD_DIR:-build-tsan}
reports="$(pwd)/$BUILD/tsan-reports"
cmake -S . -B "$BUILD" -DIG_WERROR=ON -DIG_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
rm -rf "$reports"
mkdir -p "$reports"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 log_path=$reports/report ${TSAN_OPTIONS:-}"
export CMOCKA_MESSAGE_OUTPUT=stdout
rc=0
if [ "${1:-}" = "--all" ]; then
    cmake --build "$BUILD" -j"$(nproc)" -- --no-print-directory >/dev/null
    ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" || rc=$?
else
    cmake --build "$BUILD" -j"$(nproc)" --target test_pool -- --no-print-directory >/dev/null
    "$BUILD/tests/test_pool" || rc=$?
fi
if [ -n "$(ls -A "$reports")" ]; then
    cat "$reports"/*
    echo "tsan.sh: ThreadSanitizer reported the above ($reports)" >&2
    exit 1
fi
exit "$rc"
