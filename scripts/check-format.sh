#!/bin/sh
# Fails when a C file of the tree deviates from .clang-format (Debian 12's clang-format 14).
#   scripts/check-format.sh        check (CI)
#   scripts/check-format.sh --fix  rewrite the files in place
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is needed" >&2; exit 2; }
files=$(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--fix" ]; then
    # shellcheck disable=SC2086
    clang-format -i $files
    exit 0
fi
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "check-format: $(echo "$files" | wc -l) files match .clang-format"
