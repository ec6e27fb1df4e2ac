#!/bin/sh
# Runs the libFuzzer drivers of tests/fuzz/ (docs/testing.md).
#
#   scripts/fuzz.sh [SECONDS_PER_DRIVER] [DRIVER...]
#
# Builds them with clang in build-fuzz/ (-DIG_FUZZ=ON: ASan + UBSan + coverage), then runs each
# driver for SECONDS_PER_DRIVER (default 600) with its seed corpus, dictionary and limits, under
# `nice -n 19` so builds and timing-sensitive tests on the same machine are not disturbed.
# DRIVER is a name such as fuzz_plan or plan (default: all of them).
#
# Where things go:
#   build-fuzz/corpus/fuzz_NAME/   what the fuzzer found (kept between runs, read as seeds too)
#   tests/fuzz/crashes/fuzz_NAME/  crashing, leaking or slow inputs (crash-*, leak-*, timeout-*,
#                                  oom-*); copy each to tests/fuzz/regressions/fuzz_NAME/ under a
#                                  name that says what it was, once fixed, so ctest replays it
#   build-fuzz/logs/fuzz_NAME.log  libFuzzer's output
#
# Environment:
#   FUZZ_JOBS=2      drivers run at the same time (default 1; more than 2 is refused: this is a
#                    2-core machine shared with other work)
#   FUZZ_MERGE=1     afterwards, replace the found inputs in tests/fuzz/corpus/fuzz_NAME (the
#                    files named by their SHA-1) by a small set that reaches every edge seeds and
#                    findings reach (see minimize); hand-named seeds stay. Review before
#                    committing: ctest replays that directory, and the repository should stay
#                    small. With SECONDS_PER_DRIVER 0 nothing runs: only this merge.
#   FUZZ_FORK=0      stop a driver at its first crash (default); FUZZ_FORK=1 uses -fork=1
#                    -ignore_crashes=1 to keep going and collect several
# Exit status: 0 when no driver found anything, 1 otherwise, 2 on usage or build errors.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ALL="fuzz_plan fuzz_config_text fuzz_manifest fuzz_rules fuzz_policy fuzz_runtask fuzz_archive fuzz_oauth"
ALL="$ALL fuzz_framing"
[ -f tests/fuzz/fuzz_api_body.c ] && ALL="$ALL fuzz_api_body"
[ -f tests/fuzz/fuzz_sbom.c ] && ALL="$ALL fuzz_sbom"

SECONDS_PER=600
case "${1:-}" in
    '' | *[!0-9]*) ;;
    *) SECONDS_PER=$1; shift ;;
esac
DRIVERS=""
for d in "$@"; do
    case "$d" in fuzz_*) ;; *) d="fuzz_$d" ;; esac
    case " $ALL " in
        *" $d "*) DRIVERS="$DRIVERS $d" ;;
        *) echo "fuzz.sh: unknown driver $d (have: $ALL)" >&2; exit 2 ;;
    esac
done
[ -n "$DRIVERS" ] || DRIVERS=$ALL
JOBS=${FUZZ_JOBS:-1}
case "$JOBS" in 1 | 2) ;; *) echo "fuzz.sh: FUZZ_JOBS must be 1 or 2" >&2; exit 2 ;; esac

# Per-driver input bounds: a little above the largest realistic input the parser's unit of work
# needs, small enough to keep executions fast.
max_len() {
    case "$1" in
        fuzz_plan) echo 65536 ;;       # plans: structure, not size, is what matters
        fuzz_archive) echo 32768 ;;    # 64 tar headers
        fuzz_config_text) echo 16384 ;;
        fuzz_manifest) echo 16384 ;;
        fuzz_api_body) echo 16384 ;;
        fuzz_sbom) echo 32768 ;;      # a few dozen packages, or a small zstd frame
        *) echo 8192 ;;                # rule and policy files, run-task bodies, request heads
    esac
}

command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 2; }
BUILD=build-fuzz
echo "fuzz.sh: building the drivers in $BUILD/"
CC=clang nice -n 19 cmake -S . -B "$BUILD" -DIG_FUZZ=ON -DIG_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
# shellcheck disable=SC2086
nice -n 19 cmake --build "$BUILD" -j"$JOBS" --target $DRIVERS -- --no-print-directory >/dev/null || exit 2

mkdir -p "$BUILD/logs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

run_one() {
    d=$1
    if [ "$SECONDS_PER" = 0 ]; then
        [ "${FUZZ_MERGE:-0}" = 1 ] && minimize "$d"
        return 0
    fi
    work="$BUILD/corpus/$d"
    crashes="tests/fuzz/crashes/$d"
    mkdir -p "$work" "$crashes"
    extra=""
    [ "${FUZZ_FORK:-0}" = 1 ] && extra="-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
    echo "fuzz.sh: $d for ${SECONDS_PER}s (log $BUILD/logs/$d.log)"
    rc=0
    # shellcheck disable=SC2086
    nice -n 19 "$BUILD/tests/fuzz/$d" -max_total_time="$SECONDS_PER" -max_len="$(max_len "$d")" \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=25 -print_final_stats=1 \
        -dict="tests/fuzz/$d.dict" -artifact_prefix="$ROOT/$crashes/" $extra \
        "$work" "tests/fuzz/corpus/$d" >"$BUILD/logs/$d.log" 2>&1 || rc=$?
    [ "${FUZZ_MERGE:-0}" = 1 ] && minimize "$d"
    return $rc
}

# Rebuilds the found part of tests/fuzz/corpus/fuzz_NAME: a small set of inputs (seeds included)
# that reaches every edge seeds and findings reach, found by -merge=1 into an empty directory.
# -use_counters=0 makes an edge count once, not once per hit-count bucket: for fuzz_plan that is
# about 300 files instead of 1300 for the same edges. The named seeds always stay; the hash-named
# inputs are replaced by the new set. Everything found stays in build-fuzz/corpus/ for the next run.
minimize() {
    d=$1
    seeds="tests/fuzz/corpus/$d"
    min="$BUILD/min/$d"
    rm -rf "$min"
    mkdir -p "$min"
    if ! nice -n 19 "$BUILD/tests/fuzz/$d" -merge=1 -use_counters=0 -max_len="$(max_len "$d")" \
        -rss_limit_mb=2048 -timeout=25 "$min" "$seeds" "$BUILD/corpus/$d" \
        >"$BUILD/logs/$d.merge.log" 2>&1; then
        echo "fuzz.sh: $d: merge failed, corpus left as it was (see $BUILD/logs/$d.merge.log)" >&2
        return 0
    fi
    named=$(find "$seeds" -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' \
        -exec sha1sum {} + | cut -c1-40)
    find "$seeds" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
    for f in "$min"/*; do
        [ -f "$f" ] || continue
        case "$named" in *"$(basename "$f")"*) continue ;; esac
        cp "$f" "$seeds/"
    done
}

summary() {
    d=$1
    log="$BUILD/logs/$d.log"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    seeds=$(find "tests/fuzz/corpus/$d" -type f | wc -l)
    found=$(find "$BUILD/corpus/$d" -type f | wc -l)
    kb=$(du -sk --apparent-size "tests/fuzz/corpus/$d" | cut -f1)
    bad=$(find "tests/fuzz/crashes/$d" -type f 2>/dev/null | wc -l)
    printf '%-18s %10s runs %7s exec/s  cov %-6s  corpus %5s seeds (%5s KB) + %6s found  crashes %s\n' \
        "$d" "${runs:-?}" "${speed:-?}" "${cov:-?}" "$seeds" "$kb" "$found" "$bad"
}

status=0
# shellcheck disable=SC2086
set -- $DRIVERS
while [ $# -gt 0 ]; do
    if [ "$JOBS" = 2 ] && [ $# -ge 2 ]; then
        run_one "$1" &
        p1=$!
        run_one "$2" &
        p2=$!
        wait $p1 || status=1
        wait $p2 || status=1
        shift 2
    else
        run_one "$1" || status=1
        shift
    fi
done

echo
for d in $DRIVERS; do summary "$d"; done
if [ $status -ne 0 ]; then
    echo "fuzz.sh: something was found: see tests/fuzz/crashes/ and $BUILD/logs/" >&2
    exit 1
fi
