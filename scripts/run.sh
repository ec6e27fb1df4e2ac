#!/bin/sh
# Sets up and runs imagegate: installs the Debian packages it needs, builds
# it, and shows what it can do.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" -- --no-print-directory >/dev/null
exec ./build/imagegate --help
