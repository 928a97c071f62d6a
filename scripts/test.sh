#!/usr/bin/env bash
# The README's test command: set everything up, then run every test stage.
#
#   scripts/test.sh              # setup + all stages (what CI runs)
#   scripts/test.sh unit lint    # only some stages (setup still runs, and is quick when warm)
#
# Stages, in order: lint, unit, sanity, build, integration, molecule.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$LIFEBOAT_ROOT"

log() { printf '\n[test %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
timings=()

stage_lint() {
    local paths=(plugins harness tests molecule)
    [ -d bench ] && paths+=(bench)
    ruff check "${paths[@]}"
    mypy
    ansible-lint
}

stage_unit() {
    pytest tests/unit -q -p no:cacheprovider
}

stage_sanity() {
    scripts/ansible-test.sh sanity
    scripts/ansible-test.sh units
}

stage_build() {
    antsibull-changelog lint
    scripts/docs.sh --check
    scripts/build-and-install.sh
}

stage_integration() {
    # Real n8n, PostgreSQL and ansible-playbook runs; both cores.
    pytest tests/integration -q -p no:cacheprovider -n "${LIFEBOAT_TEST_WORKERS:-2}" --dist loadgroup --durations=25 -rfE
}

stage_molecule() {
    scripts/molecule.sh
}

all_stages=(lint unit sanity build integration molecule)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${all_stages[@]}")

start=$SECONDS
log "setup"
scripts/setup.sh
timings+=("setup $((SECONDS - start)) s")
for stage in "${stages[@]}"; do
    declare -F "stage_$stage" >/dev/null || { echo "unknown stage: $stage (have: ${all_stages[*]})" >&2; exit 2; }
    log "stage $stage"
    t=$SECONDS
    "stage_$stage"
    timings+=("$stage $((SECONDS - t)) s")
done
log "all passed in $((SECONDS - start)) s: ${timings[*]}"
