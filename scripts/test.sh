#!/usr/bin/env bash
# The README's test command: set everything up, then run every test stage.
#
#   scripts/test.sh              # setup + all stages (what CI runs)
#   scripts/test.sh lint unit    # only some stages (setup still runs, and is quick when warm)
#
# Stages, in order: lint, sanity, unit_postgres, build, integration, molecule (the last two side
# by side). On demand: unit (plain pytest on all of tests/unit: the tests `ansible-test units` runs
# in the sanity stage, without its packaging, for a quick local loop) and reliability (only the
# fault-injection suite, tests/integration/reliability, which the integration stage runs too).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$LIFEBOAT_ROOT"

log() { printf '\n[test %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# The whole output is also kept in the cache, outside the checkout: CI runs a clean clone that is
# gone afterwards, and shows only the end of the output (the newest 10 runs are kept).
run_logs=$LIFEBOAT_CACHE/logs/test-runs
mkdir -p "$run_logs"
_lifeboat_keep_newest_logs "$run_logs" 9  # and this run's makes 10
run_log=$run_logs/$(date +%Y%m%d-%H%M%S).log
exec 3>&1
exec > >(tee -a "$run_log") 2>&1
tee_pid=$!
# On exit: hand the output back and let tee write the last lines before the script ends.
finish_run_log() { exec >&3 2>&3; wait "$tee_pid" 2>/dev/null || true; }
trap finish_run_log EXIT
echo "scripts/test.sh${*:+ $*}: output kept in $run_log"
timings=()

stage_lint() {
    local paths=(plugins harness tests molecule)
    [ -d bench ] && paths+=(bench)
    ruff check "${paths[@]}"
    mypy
    ansible-lint
}

# Not in the default run: `ansible-test units` (sanity stage) runs the same tests/unit, so CI would
# run them twice.
stage_unit() {
    LIFEBOAT_HYPOTHESIS_DETERMINISTIC=1 pytest tests/unit -q -p no:cacheprovider "$@"
}

# The unit tests `ansible-test units` skips: those that need the PostgreSQL server set up here,
# whose address (LIFEBOAT_PG_DSN) ansible-test does not pass on. -rs names any that still skip.
stage_unit_postgres() {
    stage_unit -m postgres -rs
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
    # Real n8n, PostgreSQL and ansible-playbook runs, the reliability suite
    # (tests/integration/reliability) included; both cores.
    # LIFEBOAT_PYTEST_ARGS narrows a local run, e.g. "-k rotate_key".
    # shellcheck disable=SC2086
    pytest tests/integration -q -p no:cacheprovider -n "${LIFEBOAT_TEST_WORKERS:-2}" --dist loadgroup --durations=40 -rfE \
        ${LIFEBOAT_PYTEST_ARGS:-}
}

stage_reliability() {
    # shellcheck disable=SC2086
    pytest tests/integration/reliability -q -p no:cacheprovider -n "${LIFEBOAT_TEST_WORKERS:-2}" --dist loadgroup --durations=10 -rfE \
        ${LIFEBOAT_PYTEST_ARGS:-}
}

stage_molecule() {
    scripts/molecule.sh
}

# Integration and Molecule side by side: Molecule scenarios spend most of their time waiting
# (containers starting, drains, the 15 s schedule), so running them beside the integration tests
# keeps the whole run well inside CI's budget. LIFEBOAT_SERIAL_STAGES=1 runs them one after the other.
stage_integration_and_molecule() {
    local mlog=$LIFEBOAT_ROOT/tests/output/molecule-stage.log irc=0 mrc=0 mpid
    mkdir -p "$(dirname "$mlog")"
    log "stage molecule, in the background (summary: tests/output/molecule-stage.log)"
    scripts/molecule.sh >"$mlog" 2>&1 &
    mpid=$!
    log "stage integration"
    stage_integration || irc=$?
    log "integration finished (exit $irc); waiting for molecule"
    wait "$mpid" || mrc=$?
    cat "$mlog"
    if [ "$irc" -ne 0 ] || [ "$mrc" -ne 0 ]; then
        echo "failed: integration exit $irc, molecule exit $mrc" >&2
        return 1
    fi
}

all_stages=(lint sanity unit_postgres build integration molecule)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${all_stages[@]}")

# On a cold machine the n8n installs, dockerd and the base images take most of the setup, and
# only the integration and Molecule stages need them: they are set up in the background while
# lint, sanity and build run (LIFEBOAT_SERIAL_SETUP=1 sets up everything first). The n8n installs
# and the images do not depend on each other, so they are two jobs side by side.
background_groups=("n8n" "docker images")
background_pid=
background_log=$LIFEBOAT_ROOT/tests/output/setup-background.log

background_setup() {
    local group pids=() rc=0
    for group in "${background_groups[@]}"; do
        # shellcheck disable=SC2086  # a group is a list of step names
        scripts/setup.sh $group >"$background_log.${group// /-}" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    for group in "${background_groups[@]}"; do
        cat "$background_log.${group// /-}"
        rm -f "$background_log.${group// /-}"
    done
    return $rc
}

wait_background_setup() {
    [ -n "$background_pid" ] || return 0
    log "waiting for the background setup (${background_groups[*]}; log: tests/output/setup-background.log)"
    local rc=0
    wait "$background_pid" || rc=$?
    background_pid=
    cat "$background_log"
    if [ "$rc" -ne 0 ]; then
        echo "background setup failed (exit $rc): see the log above" >&2
        return 1
    fi
}
# A failed stage must not leave an npm install or an image build cut off half-way.
trap '[ -z "$background_pid" ] || wait "$background_pid" 2>/dev/null || true; finish_run_log' EXIT

start=$SECONDS
log "setup"
if [ "${LIFEBOAT_SERIAL_SETUP:-0}" != 1 ] && [[ " ${stages[*]} " == *" integration "* || " ${stages[*]} " == *" molecule "* ]] \
    && [[ " ${stages[*]} " =~ \ (lint|unit|unit_postgres|sanity|build)\  ]]; then
    scripts/setup.sh tools venv collections postgres
    mkdir -p "$(dirname "$background_log")"
    background_setup >"$background_log" 2>&1 &
    background_pid=$!
else
    scripts/setup.sh
fi
timings+=("setup $((SECONDS - start)) s")
if [ "${LIFEBOAT_SERIAL_STAGES:-0}" != 1 ] && [[ " ${stages[*]} " == *" integration "* ]] && [[ " ${stages[*]} " == *" molecule "* ]]; then
    merged=()
    for stage in "${stages[@]}"; do
        case $stage in
            integration) merged+=(integration_and_molecule) ;;
            molecule) ;;
            *) merged+=("$stage") ;;
        esac
    done
    stages=("${merged[@]}")
fi
for stage in "${stages[@]}"; do
    declare -F "stage_$stage" >/dev/null || { echo "unknown stage: $stage (have: ${all_stages[*]} unit reliability)" >&2; exit 2; }
    case $stage in
        integration | molecule | integration_and_molecule | reliability)
            t=$SECONDS
            wait_background_setup
            timings+=("background-setup-wait $((SECONDS - t)) s")
            ;;
    esac
    log "stage $stage"
    t=$SECONDS
    "stage_$stage"
    timings+=("$stage $((SECONDS - t)) s")
done
log "all passed in $((SECONDS - start)) s: ${timings[*]}"
