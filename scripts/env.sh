# shellcheck shell=bash
# Paths shared by every script. Source it; it changes nothing on disk.
#
# LIFEBOAT_CACHE holds everything big or slow to rebuild (virtualenv, collections,
# Node, n8n installs, image build roots). It lives outside the checkout so a fresh
# clone on a warm machine reuses it; delete it to force a cold setup.

# Always this file's checkout, never one inherited from the environment: a shell that had sourced
# another checkout's env.sh ran a clone's `make test` against that other checkout.
LIFEBOAT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIFEBOAT_CACHE=${LIFEBOAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat-n8n}

# Keyed by the files' contents only, so every clone (CI clones to a fresh path) shares them.
_lifeboat_hash() { cat "$@" | sha256sum | cut -c1-12; }

# Kept logs (test runs, failed Molecule scenarios) are named by their start time, so the newest
# sort last: delete all but the newest $2 *.log files in folder $1.
_lifeboat_keep_newest_logs() { find "$1" -maxdepth 1 -name '*.log' | sort -r | tail -n +"$(($2 + 1))" | xargs -r rm -f; }

LIFEBOAT_PYTHON=${LIFEBOAT_PYTHON:-python3}
LIFEBOAT_VENV=${LIFEBOAT_VENV:-$LIFEBOAT_CACHE/venvs/$(_lifeboat_hash "$LIFEBOAT_ROOT/requirements.txt")}
LIFEBOAT_COLLECTIONS=${LIFEBOAT_COLLECTIONS:-$LIFEBOAT_CACHE/collections/$(_lifeboat_hash "$LIFEBOAT_ROOT/requirements.yml")}
# This checkout, reachable as ansible_collections/lifeboat/n8n (a symlink keyed by the
# checkout's path, so two clones never shadow each other).
LIFEBOAT_CHECKOUT_LINK=$LIFEBOAT_CACHE/checkouts/$(printf %s "$LIFEBOAT_ROOT" | sha256sum | cut -c1-12)

export LIFEBOAT_ROOT LIFEBOAT_CACHE LIFEBOAT_VENV LIFEBOAT_COLLECTIONS LIFEBOAT_CHECKOUT_LINK
export ANSIBLE_COLLECTIONS_PATH="$LIFEBOAT_CHECKOUT_LINK:$LIFEBOAT_COLLECTIONS"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export PATH="$LIFEBOAT_VENV/bin:$PATH"
export PYTHONPATH="$LIFEBOAT_ROOT/harness${PYTHONPATH:+:$PYTHONPATH}"
# Test databases live in the local cluster the setup starts (scripts/setup.sh postgres).
# The password is random per machine: a guessable one (e.g. "lifeboat") would also be a
# substring of test data, and Ansible masks every occurrence of a no_log value.
if [ -z "${LIFEBOAT_PG_DSN:-}" ] && [ -r "$LIFEBOAT_CACHE/pg-password" ]; then
    LIFEBOAT_PG_DSN="postgresql://lifeboat:$(cat "$LIFEBOAT_CACHE/pg-password")@127.0.0.1:5432/postgres"
fi
export LIFEBOAT_PG_DSN
