#!/bin/sh
# Sets up and runs imagegate: installs the Debian packages it needs, builds
# it, and starts the run-task server (`imagegate serve`) on the embedded
# SQLite store in ./data (override with IMAGEGATE_DATA). On first start the
# server makes a self-signed certificate and an HMAC key next to the store
# and prints the run task URL and the key file to paste into HCP Terraform.
# Extra arguments go to `imagegate serve` (see docs/configuration.md).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" -- --no-print-directory >/dev/null

DATA=${IMAGEGATE_DATA:-$PWD/data}
mkdir -p "$DATA"
chmod 700 "$DATA"
DB=${IMAGEGATE_DB:-sqlite:$DATA/imagegate.db}
echo "run.sh: starting imagegate serve (store $DB); Ctrl-C stops it" >&2
exec ./build/imagegate serve --db "$DB" "$@"
