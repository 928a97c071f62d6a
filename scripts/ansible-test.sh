#!/usr/bin/env bash
# Run ansible-test (sanity, units, ...) on a copy of this checkout placed where
# ansible-test insists on finding it: .../ansible_collections/lifeboat/n8n, as a git tree.
#
#   scripts/ansible-test.sh sanity [extra args]
#   scripts/ansible-test.sh units  [extra args]
#
# No container registry here, so tests run with --venv (one virtualenv per test,
# cached in ~/.ansible/test). ansible-test bootstraps pip in those virtualenvs with a
# script it downloads from a host that is unreachable here; the stand-in written below
# does the same job with the stdlib's ensurepip and the package index we do reach.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

command=${1:?usage: ansible-test.sh sanity|units [args]}
shift

# The pip version ansible-test bootstraps into its virtualenvs (24.2 for ansible-core 2.19).
pip_version=$(python -c "
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version='3.11', path='python3'))['pip'])" 2>/dev/null || echo 24.2)
bootstrap=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$bootstrap" ]; then
    mkdir -p "$(dirname "$bootstrap")"
    cat >"$bootstrap" <<'PY'
# Stand-in for pip's get-pip.py (its download host is unreachable here), written by
# lifeboat.n8n's scripts/ansible-test.sh: ensurepip, then pip installs what was asked.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PY
fi

work=$LIFEBOAT_CACHE/ansible-test/$(printf %s "$LIFEBOAT_ROOT" | sha256sum | cut -c1-12)
dest=$work/ansible_collections/lifeboat/n8n
mkdir -p "$dest"
# One run at a time per checkout: the copy below is shared.
exec 9>"$work/.lock"
flock 9
# The working tree as it is (including uncommitted files), with its .git so ansible-test
# knows which files belong to the collection. tests/output is kept between runs.
find "$dest" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
find "$dest/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} + 2>/dev/null || true
tar -C "$LIFEBOAT_ROOT" --exclude=./tests/output --exclude=./.venv -cf - . | tar -C "$dest" -xf -
cd "$dest"
# ansible-test lists files with git: make untracked files of the working tree count.
git add -A >/dev/null 2>&1 || true

case $command in
    sanity) exec ansible-test sanity --venv --requirements --python 3.11 "$@" ;;
    units) exec ansible-test units --venv --requirements --python 3.11 "$@" ;;
    *) exec ansible-test "$command" "$@" ;;
esac
