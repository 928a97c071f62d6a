#!/usr/bin/env bash
# Build the local images the container tests use. There is no container registry here,
# so the base is debootstrapped from Debian's mirror and imported; the others are the
# base plus Debian packages, committed. Tags carry a hash of this folder, so a change
# to it rebuilds and a warm machine rebuilds nothing.
#
#   lifeboat-n8n/rootfs:<tag>    bookworm minbase + python3, from debootstrap
#   lifeboat-n8n/base:<tag>      rootfs + cryptography, psycopg (for our modules), sqlite3, zstd, curl
#   lifeboat-n8n/systemd:<tag>   base + systemd as PID 1 (native npm + systemd topology)
#   lifeboat-n8n/postgres:<tag>  base + Debian's PostgreSQL, official-image style env
#   lifeboat-n8n/redis:<tag>     base + Debian's redis-server (queue mode)
# n8n itself is not baked in: containers bind-mount the cached Node and n8n read-only.
# `docker commit --change` cannot set STOPSIGNAL on this engine: run systemd images with
# --stop-signal SIGRTMIN+3 and postgres with --stop-signal SIGINT (fast shutdown).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/env.sh"
here=$LIFEBOAT_ROOT/harness/images
tag=$(cat "$here"/* | sha256sum | cut -c1-10)
# The debootstrap root only depends on what is bootstrapped: keyed apart, so editing
# the derived images does not redo the slowest step.
rootfs_include=python3,ca-certificates
rootfs_key=$(echo "bookworm minbase $rootfs_include" | sha256sum | cut -c1-10)
log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

have() { docker image inspect "$1" >/dev/null 2>&1; }

build_rootfs() {
    have "lifeboat-n8n/rootfs:$tag" && return 0
    local rootfs_tar=$LIFEBOAT_CACHE/images/rootfs-$rootfs_key.tar
    if [ ! -s "$rootfs_tar" ]; then
        local root=$LIFEBOAT_CACHE/images/rootfs-$rootfs_key
        rm -rf "$root" && mkdir -p "$root"
        log "rootfs: debootstrap bookworm (minbase)"
        debootstrap --variant=minbase \
            --include=$rootfs_include \
            bookworm "$root" http://deb.debian.org/debian >"$LIFEBOAT_CACHE/logs/debootstrap.log" 2>&1 \
            || { tail -n 20 "$LIFEBOAT_CACHE/logs/debootstrap.log" >&2; exit 1; }
        rm -rf "$root"/var/cache/apt/archives/*.deb
        tar -C "$root" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
        rm -rf "$root"
    fi
    log "rootfs: docker import"
    docker import --change 'CMD ["/bin/bash"]' "$rootfs_tar" "lifeboat-n8n/rootfs:$tag" >/dev/null
}

# derive NAME FROM "apt packages" [extra docker commit --change ...]
derive() {
    local name=$1 from=$2 packages=$3; shift 3
    have "lifeboat-n8n/$name:$tag" && return 0
    log "$name: apt-get install $packages"
    local cid
    cid=$(docker run -d -v "$here:/build:ro" "lifeboat-n8n/$from:$tag" sleep infinity)
    docker exec "$cid" bash -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb" \
        >"$LIFEBOAT_CACHE/logs/image-$name.log" 2>&1 || { tail -n 20 "$LIFEBOAT_CACHE/logs/image-$name.log" >&2; docker rm -f "$cid" >/dev/null; exit 1; }
    if [ "$name" = postgres ]; then
        docker exec "$cid" install -m 0755 /build/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
    fi
    docker stop -t 1 "$cid" >/dev/null
    docker commit "$@" "$cid" "lifeboat-n8n/$name:$tag" >/dev/null
    docker rm "$cid" >/dev/null
}

mkdir -p "$LIFEBOAT_CACHE/images" "$LIFEBOAT_CACHE/logs"
build_rootfs
# debootstrap cannot resolve virtual packages (python3-cryptography needs one): apt can.
derive base rootfs "python3-cryptography python3-psycopg procps curl sqlite3 zstd iproute2 util-linux"
derive systemd base "systemd systemd-sysv dbus" --change 'CMD ["/sbin/init"]'
derive postgres base "postgresql-15" --change 'CMD ["/usr/local/bin/postgres-entrypoint"]' \
    --change 'ENV PGDATA=/var/lib/postgresql/data'
derive redis base "redis-server" --change 'CMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0"]'
for name in base systemd postgres redis; do
    docker tag "lifeboat-n8n/$name:$tag" "lifeboat-n8n/$name:latest"
done
log "images ready (tag $tag)"
