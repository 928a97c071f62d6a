#!/usr/bin/env bash
# Run every Molecule scenario (molecule/<name>/molecule.yml), or those named.
#
#   scripts/molecule.sh                # all scenarios
#   scripts/molecule.sh default queue  # some
#
# Scenarios use local images (scripts/setup.sh images) with pre_build_image: true:
# there is no container registry here.
#
# Scenarios run LIFEBOAT_MOLECULE_JOBS at a time (default 2): each has its own containers,
# networks, published ports (257x1..) and ephemeral folder, and much of a scenario's time is
# spent waiting (n8n starting, executions draining, the 15 s schedule firing), so running two
# side by side on two cores costs little more than running one. Not three: beside the
# integration stage three kept the load at 11-16, and with one more scenario (load 18-20) two
# n8n starts took over 7 minutes (2026-11-22: the helper's 420 s readiness wait ran out), so
# three leave too little headroom. Each scenario's output goes
# to tests/output/molecule/<name>.log; a failing scenario's tail is printed, and its whole log
# is kept in $LIFEBOAT_CACHE/logs/molecule-failed/ (the newest 20).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$LIFEBOAT_ROOT"

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
    for f in molecule/*/molecule.yml; do
        [ -e "$f" ] && scenarios+=("$(basename "$(dirname "$f")")")
    done
fi
if [ ${#scenarios[@]} -eq 0 ]; then
    echo "molecule: no scenarios under molecule/"
    exit 0
fi

jobs=${LIFEBOAT_MOLECULE_JOBS:-2}
logs=$LIFEBOAT_ROOT/tests/output/molecule
mkdir -p "$logs"

run_one() {
    local s=$1 start=$SECONDS rc=0
    # Wide enough that Molecule does not wrap the lines of a failure it reports.
    COLUMNS=240 molecule test -s "$s" >"$logs/$s.log" 2>&1 || rc=$?
    # Molecule passes a scenario whose verify found no tests: here that is a failure (native
    # once passed that way, restoring nothing, because its tests/ was never committed).
    if [ "$rc" -eq 0 ] && grep -q "Skipping, no tests found" "$logs/$s.log"; then
        echo "molecule.sh: verify found no tests in molecule/$s/tests/" >>"$logs/$s.log"
        rc=1
    fi
    echo "$rc $((SECONDS - start))" >"$logs/$s.result"
}

running=0
for s in "${scenarios[@]}"; do
    rm -f "$logs/$s.result"
    echo "molecule: start $s (log: tests/output/molecule/$s.log)"
    run_one "$s" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

failed=()
for s in "${scenarios[@]}"; do
    read -r rc secs <"$logs/$s.result" || { rc=1; secs="?"; }
    if [ "$rc" -eq 0 ]; then
        echo "molecule: $s passed in $secs s"
    else
        failed+=("$s")
        echo "molecule: $s FAILED (exit $rc, $secs s); last lines of tests/output/molecule/$s.log:"
        tail -n 30 "$logs/$s.log" | sed 's/^/    /'
    fi
done
# Last, because CI shows only the end of the output and the clone (with its logs) is gone
# afterwards: the first failed tasks or tests of each failed scenario, not just its recap, and
# a copy of its whole log in the cache (outside the clone, so it outlives it).
kept=$LIFEBOAT_CACHE/logs/molecule-failed
for s in "${failed[@]}"; do
    mkdir -p "$kept"
    copy=$kept/$(date +%Y%m%d-%H%M%S)-$s.log
    # Without colours, and without the frame Molecule draws around each command's output.
    sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^  │ \{0,1\}//' "$logs/$s.log" >"$copy"
    echo "molecule: $s, first failures (whole log kept in $copy):"
    grep -E -A 12 'fatal: \[|FAILED! =>|^E   |Traceback|^(FAILED|ERROR) |INTERNALERROR|^\[ERROR\]|^CRITICAL' "$copy" | cut -c1-400 | head -n 40 | sed 's/^/    /' || true
done
# The newest 20 kept logs are enough to compare failures across runs.
if [ -d "$kept" ]; then
    _lifeboat_keep_newest_logs "$kept" 20
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "molecule: failed scenarios: ${failed[*]} (rerun one with: scripts/molecule.sh ${failed[0]})" >&2
    exit 1
fi
