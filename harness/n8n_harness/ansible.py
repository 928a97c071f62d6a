"""Run the collection's modules and playbooks for real, with ansible-playbook.

Tests call modules the way users do: through ``ansible-playbook`` with this checkout on
the collections path (scripts/env.sh), so argument specs, check mode, ``no_log`` and
result handling are exercised too. Every run keeps its full ``-vvv`` log so tests can
search it for secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PlaybookRun:
    returncode: int
    log: str  # stdout + stderr of ansible-playbook at the requested verbosity
    results: dict[str, Any]  # the registered result of each task named in `register_as`

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_DEPRECATION_WARNINGS="False",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_PYTHON_INTERPRETER=os.environ.get("LIFEBOAT_TARGET_PYTHON", sys.executable),
    )
    env.update(extra or {})
    return env


def run_playbook(
    playbook: Path | str,
    inventory: str = "localhost,",
    extra_vars: dict[str, Any] | None = None,
    verbosity: int = 0,
    check: bool = False,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    timeout: float = 1800,
) -> PlaybookRun:
    """ansible-playbook with extra vars passed as a 0600 JSON file (they may hold secrets)."""
    with tempfile.TemporaryDirectory(prefix="lifeboat-play-") as tmp:
        results_file = Path(tmp) / "results.json"
        vars_file = Path(tmp) / "vars.json"
        fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({**(extra_vars or {}), "lifeboat_test_results_file": str(results_file)}, handle)
        cmd = ["ansible-playbook", "-i", inventory, str(playbook), "-e", f"@{vars_file}"]
        if inventory.endswith(","):
            cmd += ["-c", "local"]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        if check:
            cmd.append("--check")
        cmd += args or []
        proc = subprocess.run(
            cmd, env=ansible_env(env), capture_output=True, text=True, timeout=timeout, cwd=tmp, check=False
        )
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
        return PlaybookRun(proc.returncode, proc.stdout + proc.stderr, results)


def run_module(
    module: str,
    module_args: dict[str, Any],
    check: bool = False,
    verbosity: int = 0,
    diff: bool = False,
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any], PlaybookRun]:
    """Run one module in a play on localhost; returns (its registered result, the run)."""
    play = [
        {
            "name": f"Run {module}",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {
                    "name": f"Call {module}",
                    module: "{{ lifeboat_module_args }}",
                    "register": "lifeboat_result",
                    "ignore_errors": True,
                    "check_mode": check,
                    "diff": diff,
                },
                {
                    "name": "Save the result for the test",
                    "ansible.builtin.copy": {
                        "content": "{{ {'result': lifeboat_result} | to_json }}",
                        "dest": "{{ lifeboat_test_results_file }}",
                        "mode": "0600",
                    },
                    "delegate_to": "localhost",
                },
            ],
        }
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="lifeboat-module-", delete=False) as handle:
        yaml.safe_dump(play, handle)
        playbook = handle.name
    try:
        run = run_playbook(playbook, extra_vars={"lifeboat_module_args": module_args}, verbosity=verbosity, env=env)
    finally:
        os.unlink(playbook)
    if "result" not in run.results:
        raise RuntimeError(f"ansible-playbook did not run {module}:\n{run.log[-4000:]}")
    return run.results["result"], run
