#!/bin/sh
# Installs every Debian package imagegate needs to build, test and run.
# Idempotent and quiet when everything is already present.
set -eu

PKGS="build-essential cmake pkg-config git ca-certificates openssl curl python3 \
libevent-dev libssl-dev libjansson-dev libpcre2-dev libsqlite3-dev sqlite3 \
libcurl4-openssl-dev libcmocka-dev libyajl-dev libyaml-dev libarchive-dev \
libpq-dev postgresql clang clang-format cppcheck valgrind"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# The tests start a throwaway PostgreSQL server as the postgres user
# (tests/integration/pgserver.py): a package marked installed is not enough
# when its server binaries or that user went missing -- reinstall them (the
# user comes from postgresql-common's postinst).
reinstall=""
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! id -u postgres >/dev/null 2>&1; then
    if [ -z "$missing" ] || ! echo "$missing" | grep -qw postgresql; then
        server=$(dpkg-query -W -f='${Depends}' postgresql 2>/dev/null |
            grep -o 'postgresql-[0-9][0-9]*' | head -n 1 || true)
        reinstall="postgresql-common postgresql $server"
    fi
fi
[ -z "$missing" ] && [ -z "$reinstall" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing" >&2
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ -n "$reinstall" ]; then
    echo "install-deps: reinstalling (PostgreSQL server or its user missing): $reinstall" >&2
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends --reinstall $reinstall >/dev/null
fi
