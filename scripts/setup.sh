#!/usr/bin/env bash
# One-stop, idempotent setup for a fresh or warm machine (Debian 12, root).
#
#   scripts/setup.sh                 # everything the tests need
#   scripts/setup.sh venv collections n8n    # only some steps
#
# Steps (each skips itself when already satisfied):
#   tools        Debian tools the tests and roles call: sqlite3, zstd, openssl, shellcheck
#   venv         Python virtualenv with requirements.txt, cached by the file's hash
#   collections  community.docker, community.postgresql (+ deps) from Galaxy, else from
#                the collections shipped in PyPI's `ansible` wheel; links this checkout
#                as ansible_collections/lifeboat/n8n
#   n8n          pinned n8n installs (harness/pins/*) and their Node, cached by version
#   postgres     Debian's PostgreSQL on 127.0.0.1:5432 with a `lifeboat` superuser
#   docker       Debian's docker.io (+ docker-compose v1, debootstrap), dockerd started
#   images       local base images (no registry here): see harness/images/build.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

ANSIBLE_WHEEL_VERSION=12.3.0
mkdir -p "$LIFEBOAT_CACHE/logs"
log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

apt_install() {
    # Only the packages that are missing, so a warm machine never touches apt.
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LIFEBOAT_CACHE/logs/apt.log" 2>&1; then
        apt-get update -q >>"$LIFEBOAT_CACHE/logs/apt.log" 2>&1
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LIFEBOAT_CACHE/logs/apt.log" 2>&1
    fi
}

step_tools() {
    apt_install sqlite3 zstd openssl shellcheck procps
}

step_venv() {
    if [ -e "$LIFEBOAT_VENV/.complete" ]; then
        log "venv: cached at $LIFEBOAT_VENV"
    else
        log "venv: creating $LIFEBOAT_VENV from requirements.txt"
        rm -rf "$LIFEBOAT_VENV"
        "$LIFEBOAT_PYTHON" -m venv "$LIFEBOAT_VENV"
        "$LIFEBOAT_VENV/bin/pip" install -q --upgrade pip >>"$LIFEBOAT_CACHE/logs/pip.log" 2>&1
        "$LIFEBOAT_VENV/bin/pip" install -q -r "$LIFEBOAT_ROOT/requirements.txt" >>"$LIFEBOAT_CACHE/logs/pip.log" 2>&1 \
            || { tail -n 30 "$LIFEBOAT_CACHE/logs/pip.log" >&2; exit 1; }
        touch "$LIFEBOAT_VENV/.complete"
    fi
    ln -sfn "$LIFEBOAT_VENV" "$LIFEBOAT_ROOT/.venv"
}

collections_from_wheel() {
    # Galaxy is unreachable: PyPI's `ansible` bundle ships the same collections.
    local wheel_dir=$LIFEBOAT_CACHE/wheels extract=$LIFEBOAT_CACHE/ansible-wheel-$ANSIBLE_WHEEL_VERSION
    if [ ! -e "$extract/.complete" ]; then
        mkdir -p "$wheel_dir"
        ls "$wheel_dir"/ansible-$ANSIBLE_WHEEL_VERSION-*.whl >/dev/null 2>&1 ||
            "$LIFEBOAT_VENV/bin/pip" download -q --no-deps -d "$wheel_dir" "ansible==$ANSIBLE_WHEEL_VERSION"
        rm -rf "$extract" && mkdir -p "$extract"
        "$LIFEBOAT_VENV/bin/python" - "$wheel_dir"/ansible-$ANSIBLE_WHEEL_VERSION-*.whl "$extract" <<'EOF'
import sys, zipfile
wanted = ("community/docker/", "community/postgresql/", "community/library_inventory_filtering_v1/",
          "ansible/posix/")
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name.startswith("ansible_collections/") and name[len("ansible_collections/"):].startswith(wanted):
            wheel.extract(name, sys.argv[2])
EOF
        touch "$extract/.complete"
    fi
    "$LIFEBOAT_VENV/bin/ansible-galaxy" collection install --offline --force -p "$1" \
        "$extract/ansible_collections/community/library_inventory_filtering_v1" \
        "$extract/ansible_collections/community/docker" \
        "$extract/ansible_collections/community/postgresql" \
        "$extract/ansible_collections/ansible/posix" >>"$LIFEBOAT_CACHE/logs/collections.log" 2>&1
}

step_collections() {
    if [ -e "$LIFEBOAT_COLLECTIONS/.complete" ]; then
        log "collections: cached at $LIFEBOAT_COLLECTIONS"
    else
        local tmp=$LIFEBOAT_COLLECTIONS.tmp.$$
        rm -rf "$tmp" && mkdir -p "$tmp"
        log "collections: installing requirements.yml from Galaxy"
        if timeout 120 "$LIFEBOAT_VENV/bin/ansible-galaxy" collection install --timeout 20 \
                -r "$LIFEBOAT_ROOT/requirements.yml" -p "$tmp" >"$LIFEBOAT_CACHE/logs/collections.log" 2>&1; then
            log "collections: installed from Galaxy"
        else
            log "collections: Galaxy unreachable; installing from PyPI's ansible==$ANSIBLE_WHEEL_VERSION wheel"
            collections_from_wheel "$tmp"
        fi
        touch "$tmp/.complete"
        rm -rf "$LIFEBOAT_COLLECTIONS" && mv "$tmp" "$LIFEBOAT_COLLECTIONS"
    fi
    mkdir -p "$LIFEBOAT_CHECKOUT_LINK/ansible_collections/lifeboat"
    ln -sfn "$LIFEBOAT_ROOT" "$LIFEBOAT_CHECKOUT_LINK/ansible_collections/lifeboat/n8n"
    # Molecule's prerun (now disabled in every scenario) used to install a copy of the collection
    # into ~/.ansible/collections, which ansible-lint and Molecule search before the configured
    # path: a stale copy there would be linted and tested instead of this checkout.
    local shadow=$HOME/.ansible/collections/ansible_collections/lifeboat/n8n
    if [ -d "$shadow" ] && [ ! -L "$shadow" ]; then
        log "collections: removing the copy of lifeboat.n8n in $shadow (it would shadow this checkout)"
        rm -rf "$shadow"
    fi
}

step_n8n() {
    log "n8n: pinned installs $(cd "$LIFEBOAT_ROOT/harness/pins" && echo *)"
    "$LIFEBOAT_ROOT/harness/install-n8n.sh"
}

step_postgres() {
    apt_install postgresql
    local version
    version=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
    if [ -z "$version" ]; then
        version=$(basename "$(printf '%s\n' /usr/lib/postgresql/* | sort -V | tail -n 1)")
        pg_createcluster "$version" main >/dev/null
    fi
    if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
        log "postgres: starting cluster $version/main"
        pg_ctlcluster "$version" main start
    fi
    # A superuser for the tests, reachable over TCP with a random password (loopback only).
    local password_file=$LIFEBOAT_CACHE/pg-password
    if [ ! -s "$password_file" ]; then
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$password_file")
    fi
    local password
    password=$(cat "$password_file")  # letters and digits only: safe inside SQL quotes
    su postgres -c "psql -q -v ON_ERROR_STOP=1 -d postgres" >/dev/null <<EOF
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lifeboat') THEN
    CREATE ROLE lifeboat LOGIN SUPERUSER;
  END IF;
END \$\$;
ALTER ROLE lifeboat PASSWORD '$password';
EOF
    log "postgres: cluster $version/main online on 127.0.0.1:5432"
}

step_docker() {
    apt_install docker.io docker-compose debootstrap
    if ! docker info >/dev/null 2>&1; then
        log "docker: starting dockerd (log: $LIFEBOAT_CACHE/logs/dockerd.log)"
        nohup dockerd >>"$LIFEBOAT_CACHE/logs/dockerd.log" 2>&1 &
        for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
        docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $LIFEBOAT_CACHE/logs/dockerd.log" >&2; exit 1; }
    fi
    log "docker: engine $(docker version --format '{{.Server.Version}}') ready"
}

step_images() {
    "$LIFEBOAT_ROOT/harness/images/build.sh"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(tools venv collections n8n postgres docker images)
for s in "${steps[@]}"; do
    start=$SECONDS
    "step_$s"
    log "$s: done in $((SECONDS - start)) s"
done
