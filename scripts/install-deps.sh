#!/bin/sh
# Installs the Debian packages imagegate needs. Idempotent and quiet when
# everything is already present.
#   scripts/install-deps.sh              build + test: everything scripts/test.sh and CI need
#   scripts/install-deps.sh GROUP...     only these groups (build, test, runtime, image)
#   scripts/install-deps.sh --list GROUP...   print the groups' packages, install nothing
# The package lists below are the only ones: docker/Dockerfile installs the
# "build" group in its build stage and the "runtime" group in its runtime stage,
# scripts/image-test.sh the "image" group. A new library goes in twice: its -dev
# package in BUILD_PKGS, its shared-library package in RUNTIME_PKGS
# (tests/integration/test_dockerfile.py fails when the binary loads a library no
# RUNTIME_PKGS package provides).
set -eu

# compile imagegate and its tests, run the unit tests (CMake needs python3)
BUILD_PKGS="build-essential cmake pkg-config python3 \
libevent-dev libssl-dev libjansson-dev libpcre2-dev libsqlite3-dev \
libcurl4-openssl-dev libcmocka-dev libyajl-dev libyaml-dev libarchive-dev libpq-dev libzstd-dev"
# the integration suites, the sanitizer build, the checks, the console's
# browser tests (Debian's chromium; Node.js and npm below)
TEST_PKGS="git ca-certificates openssl curl sqlite3 zstd postgresql clang clang-format cppcheck valgrind \
chromium"
# what the binary loads at run time (no compiler), curl for the image's HEALTHCHECK
RUNTIME_PKGS="ca-certificates curl \
libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libssl3 \
libjansson4 libpcre2-8-0 libsqlite3-0 libcurl4 libyajl2 libyaml-0-2 libarchive13 libpq5 libzstd1"
# build the container image without a Docker engine (scripts/image-test.sh)
IMAGE_PKGS="buildah debootstrap"

list=""
[ "${1:-}" = "--list" ] && list=1 && shift
[ $# -eq 0 ] && set -- build test
PKGS=""
want_postgres=""
want_node=""
for g in "$@"; do
    case $g in
    build) PKGS="$PKGS $BUILD_PKGS" ;;
    test) PKGS="$PKGS $TEST_PKGS" want_postgres=1 want_node=1 ;;
    runtime) PKGS="$PKGS $RUNTIME_PKGS" ;;
    image) PKGS="$PKGS $IMAGE_PKGS" ;;
    *)
        echo "install-deps: unknown group '$g' (build, test, runtime, image)" >&2
        exit 2
        ;;
    esac
done
if [ -n "$list" ]; then
    # shellcheck disable=SC2086
    printf '%s\n' $PKGS | awk '!seen[$0]++'
    exit 0
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
    fi
done
# The console's browser tests need Node.js and npm (playwright-core from npm,
# driving the chromium above). A machine that has them from elsewhere
# (NodeSource) keeps them; only where there are none does Debian's come in.
if [ -n "$want_node" ] && { ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; }; then
    missing="$missing nodejs npm"
fi
# The tests start a throwaway PostgreSQL server as the postgres user
# (tests/integration/pgserver.py): a package marked installed is not enough
# when its server binaries or that user went missing -- reinstall them (the
# user comes from postgresql-common's postinst).
reinstall=""
if [ -n "$want_postgres" ] &&
    { ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! id -u postgres >/dev/null 2>&1; }; then
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
