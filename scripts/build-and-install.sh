#!/usr/bin/env bash
# Build the collection tarball as users receive it, install it into a separate path,
# and prove the installed copy (not this checkout) works: ansible-doc lists its plugins
# and a playbook runs from it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

out=$LIFEBOAT_CACHE/build/$(printf %s "$LIFEBOAT_ROOT" | sha256sum | cut -c1-12)
rm -rf "$out" && mkdir -p "$out/dist" "$out/installed"
ansible-galaxy collection build "$LIFEBOAT_ROOT" --output-path "$out/dist" --force
tarball=$(ls "$out"/dist/lifeboat-n8n-*.tar.gz)
echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"

# Nothing from the test harness, CI or secrets may ship in the tarball.
if tar -tzf "$tarball" | grep -E '(^|/)(harness|bench|\.ci|molecule|tests/output|\.venv)(/|$)'; then
    echo "the tarball ships files that are not part of the collection (above)" >&2
    exit 1
fi

# From here on this checkout is not on the collections path: only the installed copy is.
# Dependencies come from the already-installed collections (Galaxy is unreachable here).
installed=$out/installed
export ANSIBLE_COLLECTIONS_PATH="$installed:$LIFEBOAT_COLLECTIONS"
ansible-galaxy collection install "$tarball" -p "$installed" --no-deps --force >/dev/null
test -f "$installed/ansible_collections/lifeboat/n8n/MANIFEST.json"
found=$(ansible-doc -l lifeboat.n8n | wc -l)
echo "ansible-doc -l lifeboat.n8n (installed copy): $found plugins"

if [ -f "$LIFEBOAT_ROOT/tests/installed/smoke.yml" ]; then
    # Run from a folder outside the checkout so nothing resolves to it by accident.
    (cd "$out" && ansible-playbook -i localhost, -c local "$LIFEBOAT_ROOT/tests/installed/smoke.yml")
fi
