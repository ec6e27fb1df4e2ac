#!/bin/bash
# Builds docker/Dockerfile with Debian's buildah -- no Docker engine, no
# registry -- and tries the image (docs/operations.md, section 10):
#   1. base: debootstrap --variant=minbase bookworm from the mirror apt uses
#      here, committed locally as debian:bookworm-slim (cached; made again when
#      older than IMAGEGATE_IMAGE_BASE_DAYS days);
#   2. buildah bud --isolation chroot --storage-driver vfs --pull=false
#      -f docker/Dockerfile (--layers: unchanged steps come from the cache);
#   3. buildah run --isolation chroot, the image's ENTRYPOINT: `serve` answers
#      /healthz and /readyz over HTTPS on 127.0.0.1 (a free port) as the image's
#      unprivileged user (uid read in /proc), the CLI works inside on the same
#      store as the server, the image holds no compiler, and SIGTERM stops
#      the server cleanly.
# Runs as root (debootstrap and buildah's chroot isolation need it) and
# installs buildah and debootstrap (scripts/install-deps.sh image).
#   IMAGEGATE_IMAGE_CACHE      buildah's storage: base image and build layers
#                              (default /var/cache/imagegate-image; remove it for a cold run)
#   IMAGEGATE_IMAGE_BASE_DAYS  age in days after which the base is made again (default 7)
#   IMAGEGATE_IMAGE_DEADLINE   seconds for serve to start or stop, and for each CLI command (60)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${IMAGEGATE_IMAGE_CACHE:-/var/cache/imagegate-image}
BASE_DAYS=${IMAGEGATE_IMAGE_BASE_DAYS:-7}
BASE=debian:bookworm-slim
IMAGE=localhost/imagegate:image-test
DEADLINE=${IMAGEGATE_IMAGE_DEADLINE:-60} # seconds for serve to start and to stop
WORK=""
CONTAINERS=()
MNT=""         # the rootfs of the container being tried
SERVE_PID=""   # the backgrounded `buildah run ... serve`
SERVE_INNER="" # the imagegate process it started

log() { printf 'image-test: %s\n' "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}
bh() { buildah --root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver vfs "$@"; }
# in_image ARGS...: the image's ENTRYPOINT with ARGS in the container, within DEADLINE
in_image() { timeout -k 5 "$DEADLINE" buildah --root "$CACHE/storage" --runroot "$CACHE/run" \
    --storage-driver vfs run --isolation chroot "$CTR" -- "${ENTRY[@]}" "$@"; }

# Processes running inside the container: their root directory is its rootfs
# (buildah run binds it elsewhere: same device and inode, another path).
container_pids() {
    local d root
    [ -n "$MNT" ] || return 0
    root=$(stat -c '%d:%i' "$MNT")
    for d in /proc/[0-9]*; do
        [ "$(stat -L -c '%d:%i' "$d/root" 2>/dev/null)" = "$root" ] && echo "${d#/proc/}"
    done
    return 0
}

# The imagegate process in the container, if exactly one runs.
serve_pid() {
    local pid found=()
    for pid in $(container_pids); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = imagegate ] && found+=("$pid")
    done
    [ "${#found[@]}" -eq 1 ] && SERVE_INNER=${found[0]}
}

cleanup() {
    local rc=$? p c
    trap - EXIT INT TERM
    for p in $(container_pids); do kill -KILL "$p" 2>/dev/null || true; done
    [ -n "$SERVE_PID" ] && { kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; }
    for c in "${CONTAINERS[@]}"; do bh rm "$c" >/dev/null 2>&1 || true; done
    [ -n "$WORK" ] && rm -rf "$WORK"
    exit "$rc"
}

not_running() { ! kill -0 "$1" 2>/dev/null; }

# wait_for WHAT CMD...: CMD succeeds within DEADLINE seconds, while serve runs.
wait_for() {
    local what=$1 end=$((SECONDS + DEADLINE))
    shift
    until "$@"; do
        if [ -n "$SERVE_PID" ] && ! kill -0 "$SERVE_PID" 2>/dev/null; then
            cat "$WORK/serve.log" >&2
            die "serve exited while waiting for $what"
        fi
        if [ "$SECONDS" -ge "$end" ]; then
            [ -f "$WORK/serve.log" ] && tail -n 30 "$WORK/serve.log" >&2
            die "$what: not within ${DEADLINE}s"
        fi
        sleep 0.2
    done
}

# The URI of an apt source for SUITE, as apt reads its own configuration.
apt_uri() {
    # shellcheck disable=SC2016 # apt's own $(...) fields
    apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
        awk -v s="$1" '$1 == s { print $2; exit }'
}

# What the official debian:bookworm-slim has beyond a minbase debootstrap:
# bookworm-updates and security sources, no docs, man pages or locales.
slim_base() {
    local mnt=$1 mirror=$2 security
    security=$(apt_uri bookworm-security)
    rm -f "$mnt/etc/apt/sources.list"
    cat >"$mnt/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${security:-http://deb.debian.org/debian-security}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$mnt/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
    find "$mnt/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
    rm -rf "$mnt"/usr/share/man/* "$mnt"/usr/share/info/* "$mnt"/usr/share/locale/*
    rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/cache/apt/*.bin "$mnt"/var/lib/apt/lists/*
}

make_base() {
    local mirror ctr mnt
    if bh inspect --type image "$BASE" >/dev/null 2>&1 &&
        [ -n "$(find "$CACHE/base.stamp" -mtime -"$BASE_DAYS" 2>/dev/null)" ]; then
        log "base $BASE from the cache ($CACHE)"
        return
    fi
    mirror=$(apt_uri bookworm)
    mirror=${mirror:-http://deb.debian.org/debian/}
    log "base: debootstrap --variant=minbase bookworm $mirror"
    ctr=$(bh from --name imagegate-base-$$ scratch)
    CONTAINERS+=("$ctr")
    mnt=$(bh mount "$ctr")
    if ! nice debootstrap --variant=minbase bookworm "$mnt" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    slim_base "$mnt" "$mirror"
    bh umount "$ctr" >/dev/null
    bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd bash "$ctr"
    bh commit --quiet --rm "$ctr" "$BASE" >/dev/null
    touch "$CACHE/base.stamp"
}

# bud ARGS...: buildah bud as CI runs it, its output in $CACHE/build.log.
bud() {
    nice buildah --root "$CACHE/storage" --runroot "$CACHE/run" bud --isolation chroot \
        --storage-driver vfs --pull=false --layers -f docker/Dockerfile "$@" . >>"$CACHE/build.log" 2>&1
}

build_image() {
    log "buildah bud -f docker/Dockerfile (log: $CACHE/build.log)"
    : >"$CACHE/build.log"
    if ! bud -t "$IMAGE"; then
        tail -n 80 "$CACHE/build.log" >&2
        die "the image does not build"
    fi
    # a name for the build stage keeps its layers (the installed packages) for
    # the next run; the previous run's layers no named image uses go
    bud --target build -t "$IMAGE-build" || die "the build stage does not build again"
    bh rmi --prune >/dev/null 2>&1 || true
}

# Compilers and linkers under ROOT's program and library directories.
compilers() {
    local root=$1
    find "$root/usr/bin" "$root/usr/sbin" "$root/usr/local/bin" "$root/usr/local/sbin" \
        "$root/usr/lib" "$root/usr/libexec" "$root/opt" \( -type f -o -type l \) \
        \( -name cc -o -name c++ -o -name 'c[0-9][0-9]' -o -name 'gcc*' -o -name 'g++*' \
        -o -name '*-gcc' -o -name '*-gcc-[0-9]*' -o -name '*-g++*' -o -name 'clang*' \
        -o -name tcc -o -name cc1 -o -name cc1plus -o -name ld -o -name ld.bfd -o -name ld.gold \
        -o -name 'ld.lld*' -o -name as \) \
        -print 2>/dev/null || true
}

check_files() {
    local found
    # the check must be able to fail: where this machine has gcc, it finds it
    if command -v gcc >/dev/null && [ -z "$(compilers /)" ]; then
        die "the compiler check finds nothing on this host, which has gcc"
    fi
    found=$(compilers "$MNT")
    [ -z "$found" ] || die "the image holds a compiler: ${found//$MNT/}"
    if [ -e "$MNT/src" ] || [ -e "$MNT/build" ]; then die "the image holds the build tree"; fi
    log "no compiler in the image, no build tree"
}

# The uid of the image's USER, from the image's own /etc/passwd.
image_uid() {
    local user
    user=$(bh inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
    user=${user%%:*}
    [ -n "$user" ] || die "the image has no USER: it would run as root"
    if [[ $user =~ ^[0-9]+$ ]]; then
        echo "$user"
    else
        awk -F: -v u="$user" '$1 == u { print $3 }' "$MNT/etc/passwd"
    fi
}

start_serve() {
    local entry
    entry=$(bh inspect --type image --format '{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}' "$IMAGE")
    [ -n "$entry" ] || die "the image has no ENTRYPOINT"
    # shellcheck disable=SC2206 # an ENTRYPOINT of words without spaces
    ENTRY=($entry)
    bh run --isolation chroot "$CTR" -- "${ENTRY[@]}" serve --listen 127.0.0.1:0 \
        --port-file /tmp/imagegate.port >"$WORK/serve.log" 2>&1 &
    SERVE_PID=$!
    wait_for "the imagegate process in the container" serve_pid
    # the files as the server sees them (its store directory is the image's
    # VOLUME, which buildah run mounts from elsewhere)
    ROOT=/proc/$SERVE_INNER/root
    wait_for "the port file" test -s "$ROOT/tmp/imagegate.port"
    URL="https://127.0.0.1:$(cat "$ROOT/tmp/imagegate.port")"
    CERT="$WORK/imagegate-tls.crt"
    # written before the server listens, so before the port file
    cp "$ROOT/var/lib/imagegate/imagegate-tls.crt" "$CERT"
    wait_for "$URL/healthz" curl -fs -o /dev/null --max-time 5 --cacert "$CERT" "$URL/healthz"
    log "serve answers $URL/healthz (HTTPS, its self-signed certificate verified)"
}

check_serve() {
    local body uid
    body=$(curl -fsS --max-time 10 --cacert "$CERT" "$URL/readyz") || die "/readyz did not answer 200"
    [[ $body == *'"ready"'* ]] || die "/readyz answered: $body"
    log "/readyz: $body"
    uid=$(image_uid)
    if [ -z "$uid" ] || [ "$uid" = 0 ]; then die "the image's USER is root or unknown ($uid)"; fi
    # real, effective, saved and file-system ids: the image's user, no root group
    awk -v u="$uid" '/^Uid:/ && ($2 != u || $3 != u || $4 != u || $5 != u) { exit 1 }
        /^Gid:/ && ($2 == 0 || $3 == 0 || $4 == 0 || $5 == 0) { exit 1 }' "/proc/$SERVE_INNER/status" ||
        die "serve runs as $(grep -E '^(Uid|Gid):' "/proc/$SERVE_INNER/status" | tr '\n\t' '  ')"
    log "serve (pid $SERVE_INNER) runs as uid $uid (the image's USER), not root"
}

# The command line inside the image, on the store the server uses (the
# image's IMAGEGATE_DB): a bucket made there is served by the API.
check_cli() {
    local out token base=/packer/2023-01-01/organizations/o/projects/p
    in_image bucket create image-test --description "made by scripts/image-test.sh" >/dev/null ||
        die "bucket create failed"
    out=$(in_image --json bucket list) || die "bucket list failed"
    [[ $out == *'"name": "image-test"'* ]] || die "bucket list does not show the bucket: $out"
    token=$(in_image --json token create --name image-test --role read |
        sed -n 's/.*"secret": "\(.*\)".*/\1/p')
    [ -n "$token" ] || die "token create printed no secret"
    # from a file: the token stays out of the process list
    (umask 077 && printf 'Authorization: Bearer %s\n' "$token" >"$WORK/auth")
    out=$(curl -fsS --max-time 10 --cacert "$CERT" -H @"$WORK/auth" "$URL$base/buckets/image-test") ||
        die "GET the bucket over the API failed"
    [[ $out == *'"made by scripts/image-test.sh"'* ]] || die "the API answered: $out"
    log "CLI inside the image: bucket create, bucket list, token create; the server serves the bucket"
}

stop_serve() {
    local pid=$SERVE_PID rc=0
    SERVE_PID="" # from now on its exit is expected
    kill -TERM "$SERVE_INNER"
    wait_for "serve to stop on SIGTERM" not_running "$pid"
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$WORK/serve.log" >&2; die "serve exited with $rc on SIGTERM"; }
    log "serve stopped cleanly on SIGTERM"
}

try_image() {
    CTR=$(bh from --pull=false --name imagegate-test-$$ "$IMAGE")
    CONTAINERS+=("$CTR")
    MNT=$(bh mount "$CTR")
    check_files
    start_serve
    check_serve
    check_cli
    stop_serve
}

main() {
    [ "$(id -u)" -eq 0 ] || die "run as root: debootstrap and buildah's chroot isolation need it"
    ./scripts/install-deps.sh image
    mkdir -p "$CACHE"
    exec 9>"$CACHE/lock"
    flock -w 3600 9 || die "another image-test.sh holds $CACHE/lock"
    WORK=$(mktemp -d /tmp/imagegate-image-test.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    # containers an interrupted run left in this storage (ours alone, locked)
    bh rm --all >/dev/null 2>&1 || true
    local t0=$SECONDS t1 t2
    make_base
    t1=$SECONDS
    build_image
    t2=$SECONDS
    try_image
    log "ok: base $((t1 - t0))s, build $((t2 - t1))s, tries $((SECONDS - t2))s," \
        "total $((SECONDS - t0))s; $(bh images --format '{{.Size}}' "$IMAGE") image"
}

main "$@"
