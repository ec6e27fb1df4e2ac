#!/bin/sh
# Runs the test suite once under valgrind memcheck (docs/testing.md). Not part of
# scripts/test.sh: it takes several minutes.
#
#   scripts/valgrind.sh [PATTERN]
#
# Builds a plain (no sanitizer) RelWithDebInfo tree in build-valgrind/ (BUILD_DIR overrides),
# then, each under `valgrind --tool=memcheck --leak-check=full`:
#   - every unit test binary (tests/unit/test_*.c),
#   - the fuzz replay binaries over their corpora and regressions (tests/fuzz/),
#   - the integration tests (tests/integration/test_*.py, and the PostgreSQL modes of
#     test_scan_cli and test_registry_cli under pgserver.py, as ctest runs them) with
#     IMAGEGATE_BIN pointing at a wrapper that execs valgrind on the real binary, so every
#     imagegate the tests start -- CLI commands and the daemon -- runs under memcheck.
#     test_dockerfile.py is left out: it runs ldd on the binary, which a wrapper script is not.
# PATTERN (a grep -E expression) keeps only the tests whose name matches ("runtask", "unit").
#
# An error is any memcheck error (invalid read or write, use of uninitialised memory, bad free)
# and any definitely or indirectly lost block; reachable memory at exit is not. Each process
# writes build-valgrind/valgrind/NAME.PID.log; the summary at the end lists the logs with errors.
# A daemon a test kills with SIGKILL leaves a log without a summary; those are listed apart.
# Exit status: 0 when every test passed and no log has an error, 1 otherwise.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PATTERN=${1:-.}
BUILD=${BUILD_DIR:-build-valgrind}

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is needed (scripts/install-deps.sh)" >&2; exit 1; }
cmake -S . -B "$BUILD" -DIG_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" -- --no-print-directory >/dev/null

LOGS="$ROOT/$BUILD/valgrind"
rm -rf "$LOGS"
mkdir -p "$LOGS"
SUPP="$ROOT/scripts/valgrind.supp"
VG="valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
--num-callers=30 --suppressions=$SUPP"

# The stand-in for the binary the integration tests start.
WRAP="$LOGS/imagegate"
cat >"$WRAP" <<WRAPPER
#!/bin/sh
exec $VG --log-file="$LOGS/imagegate.%p.log" "$ROOT/$BUILD/imagegate" "\$@"
WRAPPER
chmod +x "$WRAP"

failed=""
ran=0
note() { printf '%-48s %s\n' "$1" "$2"; }

for t in "$BUILD"/tests/test_*; do
    name=unit/$(basename "$t")
    echo "$name" | grep -Eq "$PATTERN" || continue
    ran=$((ran + 1))
    # shellcheck disable=SC2086
    if CMOCKA_MESSAGE_OUTPUT=stdout $VG --log-file="$LOGS/$(basename "$t").%p.log" "$t" \
        >"$LOGS/$(basename "$t").out" 2>&1; then note "$name" ok
    else note "$name" FAILED; failed="$failed $name"; fi
done

for t in "$BUILD"/tests/fuzz/replay_*; do
    d=fuzz_${t##*/replay_}
    name=fuzz/$(basename "$t")
    echo "$name" | grep -Eq "$PATTERN" || continue
    ran=$((ran + 1))
    # shellcheck disable=SC2086
    if $VG --log-file="$LOGS/$(basename "$t").%p.log" "$t" "tests/fuzz/corpus/$d" \
        "tests/fuzz/regressions/$d" >"$LOGS/$(basename "$t").out" 2>&1; then note "$name" ok
    else note "$name" FAILED; failed="$failed $name"; fi
done

# name, then the command; the environment is that of tests/CMakeLists.txt
integration() {
    name=$1
    shift
    echo "$name" | grep -Eq "$PATTERN" || return 0
    ran=$((ran + 1))
    out="$LOGS/$(basename "$name").out"
    if IMAGEGATE_BIN="$WRAP" IMAGEGATE_FIXTURES="$ROOT/tests/fixtures" \
        IMAGEGATE_SOURCE_DIR="$ROOT" IMAGEGATE_BUILD_DIR="$ROOT/$BUILD" \
        "$@" >"$out" 2>&1; then note "$name" ok
    else note "$name" "FAILED (see $BUILD/valgrind/$(basename "$out"))"; failed="$failed $name"; fi
}
for t in tests/integration/test_*.py; do
    base=$(basename "$t" .py)
    [ "$base" = test_dockerfile ] && continue
    integration "integration/$base" python3 "$t"
done
# the PostgreSQL modes ctest runs under a throwaway server
for base in test_scan_cli test_registry_cli; do
    integration "integration/${base}_pg" python3 tests/integration/pgserver.py run -- \
        python3 "tests/integration/$base.py"
done

echo
bad=0
unfinished=0
for log in "$LOGS"/*.log; do
    [ -e "$log" ] || continue
    if ! grep -q "ERROR SUMMARY:" "$log"; then
        unfinished=$((unfinished + 1))
        continue
    fi
    if ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
        bad=$((bad + 1))
        echo "valgrind.sh: errors in $log:"
        grep -E "^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|Syscall|Source and|.*definitely lost|.*indirectly lost|ERROR SUMMARY)" "$log" | head -8
    fi
done
logs=$(find "$LOGS" -name '*.log' | wc -l)
echo "valgrind.sh: $ran tests, $logs processes checked, $bad with errors, $unfinished killed before exit"
if [ -n "$failed" ] || [ $bad -ne 0 ]; then
    [ -n "$failed" ] && echo "valgrind.sh: failed:$failed" >&2
    exit 1
fi
