#!/bin/sh
# Fails when a C function outside tests/ is longer than the limit (default 100 lines, counted
# from its opening brace to its closing brace). The tree is clang-format'ed with Linux braces,
# so a function body opens with "{" alone in column 0 and closes with "}" in column 0.
#   scripts/check-function-length.sh [LIMIT]     list offenders, exit 1 if any
#   LIST=1 scripts/check-function-length.sh 60   also print every function over LIMIT, no failure
set -eu
cd "$(dirname "$0")/.."
limit=${1:-100}
# shellcheck disable=SC2046
git ls-files '*.c' | grep -v '^tests/' | xargs awk -v limit="$limit" '
    FNR == 1 { sig = ""; start = 0 }
    /^\{/ { start = FNR; name = sig; sub(/\(.*/, "", name); n = split(name, w, /[ *]+/); name = w[n] }
    /^\}/ && start { len = FNR - start + 1
        if (len > limit) { printf "%s:%d: %s is %d lines (limit %d)\n", FILENAME, start, name, len, limit; bad++ }
        start = 0 }
    /^[A-Za-z_]/ { sig = $0 }   # a signature starts in column 0; its continuation lines are indented
    END { exit bad ? 1 : 0 }' && rc=0 || rc=1   # xargs answers 123 for any failing awk
[ "${LIST:-0}" = 1 ] && exit 0
[ "$rc" = 0 ] && echo "check-function-length: no function outside tests/ is over $limit lines"
exit "$rc"
