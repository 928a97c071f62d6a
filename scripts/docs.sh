#!/usr/bin/env bash
# Generate the plugin and role reference (docs/reference/) from the modules', filters'
# and roles' own specs with antsibull-docs, and lint those specs.
#
#   scripts/docs.sh           # regenerate docs/reference
#   scripts/docs.sh --check   # fail if docs/reference is not up to date (the test suite runs this)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$LIFEBOAT_ROOT"

antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck . >/dev/null

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
antsibull-docs collection --use-current --squash-hierarchy --output-format simplified-rst \
    --dest-dir "$out" lifeboat.n8n >/dev/null

if [ "${1:-}" = "--check" ]; then
    if ! diff -r -q "$out" docs/reference >/dev/null 2>&1; then
        diff -r "$out" docs/reference | head -n 40 >&2 || true
        echo "docs/reference is out of date with the plugin/role specs: run make docs and commit it" >&2
        exit 1
    fi
    echo "docs/reference is up to date"
else
    rm -rf docs/reference
    cp -r "$out" docs/reference
    echo "docs/reference regenerated ($(find docs/reference -name '*.rst' | wc -l) pages)"
fi
