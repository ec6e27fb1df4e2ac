#!/bin/sh
# Installs every Debian package imagegate needs to build, test and run.
# Idempotent and quiet when everything is already present.
set -eu

PKGS="build-essential cmake pkg-config git ca-certificates openssl curl python3 \
libevent-dev libssl-dev libjansson-dev libpcre2-dev libsqlite3-dev sqlite3 \
libcurl4-openssl-dev libcmocka-dev libyajl-dev libyaml-dev libarchive-dev \
libpq-dev postgresql clang valgrind"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
