#!/bin/sh
# Static analysis: cppcheck (Debian 12's 2.10) over every C file of the tree, warnings and errors
# (style is clang-format's and the reviewers' job). Every #if configuration is checked (the SSE2
# and the plain loops of scanners/skip.c). Fails on any finding that
# scripts/cppcheck/suppressions.txt does not list; each entry there says why it is not a defect.
# Fix a finding rather than suppress it.
#   scripts/check-static.sh
set -eu
cd "$(dirname "$0")/.."
command -v cppcheck >/dev/null ||
    { echo "check-static: cppcheck is needed (scripts/install-deps.sh)" >&2; exit 2; }
# shellcheck disable=SC2046
cppcheck --enable=warning --error-exitcode=1 --quiet --std=c11 -I. -j"$(nproc)" \
    --library=posix,gnu,openssl,libcurl,sqlite3,scripts/cppcheck/jansson.cfg \
    --suppressions-list=scripts/cppcheck/suppressions.txt \
    $(git ls-files '*.c')
echo "check-static: cppcheck found nothing in $(git ls-files '*.c' | wc -l) C files"
