"""Inventories that describe harness-made n8n deployments to the lifeboat.n8n roles.

A harness instance on this machine is a *native* deployment run by the "command"
service manager (start/stop through `python -m n8n_harness`); a DockerTopology is a
*docker* or *compose* deployment. Tests and the demo write these to files and run the
real playbooks against them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from . import installs
from .containers import DockerTopology
from .launcher import N8nInstance

HARNESS_DIR = Path(__file__).resolve().parent.parent


def harness_command(action: str, state_file: Path) -> str:
    return f"env PYTHONPATH={HARNESS_DIR} {sys.executable} -m n8n_harness {action} --state-file {state_file}"


def native_host_vars(instance: N8nInstance, state_file: Path) -> dict[str, Any]:
    """Host vars for an instance started with `python -m n8n_harness start --state-file ...`."""
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "lifeboat_n8n_deployment": "native",
        "lifeboat_n8n_service_manager": "command",
        "lifeboat_n8n_start_command": harness_command("start", state_file),
        "lifeboat_n8n_stop_command": harness_command("stop", state_file),
        "lifeboat_n8n_env_files": [str(instance.env_file)],
        "lifeboat_n8n_user_folder": str(instance.user_folder),
        "lifeboat_n8n_log_file": str(instance.log_path),
        "lifeboat_n8n_command": installs.command(instance.version),
    }


def docker_host_vars(topology: DockerTopology) -> dict[str, Any]:
    common: dict[str, Any] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    if topology.compose:
        return {**common, "lifeboat_n8n_deployment": "compose", "lifeboat_n8n_compose_project": topology.prefix}
    return {
        **common,
        "lifeboat_n8n_deployment": "docker",
        "lifeboat_n8n_containers": {"main": [topology.main], "workers": topology.worker_names},
    }


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]], group: str = "n8n") -> Path:
    """One group of hosts; 0600 because host vars may carry the API key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump({group: {"hosts": hosts}}, handle, sort_keys=False)
    return path


def write_secrets(path: Path, values: dict[str, Any]) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return path
