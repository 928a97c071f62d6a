#!/usr/bin/env bash
# Run every Molecule scenario (molecule/<name>/molecule.yml), or those named.
#
#   scripts/molecule.sh                # all scenarios
#   scripts/molecule.sh default queue  # some
#
# Scenarios use local images (scripts/setup.sh images) with pre_build_image: true:
# there is no container registry here.
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

summary=()
for s in "${scenarios[@]}"; do
    start=$SECONDS
    echo "=== molecule test -s $s"
    molecule test -s "$s"
    summary+=("$s: $((SECONDS - start)) s")
done
printf 'molecule: %s\n' "${summary[@]}"
