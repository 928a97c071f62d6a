# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Describe an n8n deployment as the roles need it (private module_utils).

Users describe *how* n8n is deployed (native with systemd or custom commands, plain
Docker containers, or a docker compose project; single main or queue mode). This module
discovers the rest on the managed host: every n8n process and its role (main, worker,
webhook processor), n8n's environment, the host paths of the user folder, the SQLite file
and binary data (through container mounts), how to reach PostgreSQL from the host
(a containerised database is reached at its container address), the n8n CLI, the API
URL, and the stop timeout each process needs (longer than n8n's graceful shutdown).

Discovery only reads. Docker is queried with the ``docker`` CLI (``docker inspect``,
``docker ps``), systemd with ``systemctl show``; both are injected as ``run`` so unit
tests use recorded output.
"""

from __future__ import absolute_import, annotations, division, print_function

import json
import os
import posixpath
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from ._env import parse_env_file, redact, trigger_env

__metaclass__ = type

Runner = Callable[[list[str]], tuple[int, str, str]]  # argv -> (rc, stdout, stderr)

ROLES = ("main", "workers", "webhooks")
PROCESS_ROLE = {"main": "main", "workers": "worker", "webhooks": "webhook"}
DEFAULT_GRACEFUL_SHUTDOWN = 30
STOP_MARGIN = 15  # seconds beyond N8N_GRACEFUL_SHUTDOWN_TIMEOUT before a process is killed
CONTAINER_USER_FOLDER = "/home/node"  # n8n's official image


class TargetError(Exception):
    """The deployment could not be described; the message says what to set."""


@dataclass
class Process:
    role: str  # main | worker | webhook
    name: str  # systemd unit, command label or container name
    manager: str  # systemd | command | docker
    running: Optional[bool] = None
    stop_timeout: int = DEFAULT_GRACEFUL_SHUTDOWN + STOP_MARGIN
    compose_service: Optional[str] = None


@dataclass
class Target:
    deployment: str
    service_manager: str
    processes: list[Process] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    user_folder: Optional[str] = None  # host path of N8N_USER_FOLDER
    n8n_folder: Optional[str] = None  # host path of <user folder>/.n8n
    config_path: Optional[str] = None  # host path of .n8n/config (holds the key)
    nodes_path: Optional[str] = None  # host path of .n8n/nodes (community packages)
    binary_data_mode: str = ""  # N8N_DEFAULT_BINARY_DATA_MODE ("" = the version's default)
    binary_data_root: Optional[str] = None  # host folder holding the binary-data folder(s)
    binary_data_names: list[str] = field(default_factory=list)  # candidates inside the root
    database: dict[str, Any] = field(default_factory=dict)  # module `database` option shape
    db_container: Optional[str] = None
    cli: list[str] = field(default_factory=list)  # argv prefix running the n8n CLI with n8n's env
    cli_env: dict[str, str] = field(default_factory=dict)  # env the CLI needs (native only)
    api_url: Optional[str] = None
    executions_mode: str = "regular"
    graceful_shutdown_timeout: int = DEFAULT_GRACEFUL_SHUTDOWN
    compose_project: Optional[str] = None
    owner: Optional[str] = None  # user owning the n8n folder (native)

    def public(self) -> dict[str, Any]:
        """Everything but secrets: env redacted, database password removed."""
        data = asdict(self)
        data["env"] = redact(self.env)
        data["cli_env"] = redact(self.cli_env)
        data["database"] = {k: v for k, v in self.database.items() if k != "password"}
        data["trigger_env"] = trigger_env(self.env)
        return data


# --------------------------------------------------------------------- helpers
def stop_timeout_for(env: dict[str, str]) -> int:
    try:
        graceful = int(env.get("N8N_GRACEFUL_SHUTDOWN_TIMEOUT", DEFAULT_GRACEFUL_SHUTDOWN))
    except ValueError:
        graceful = DEFAULT_GRACEFUL_SHUTDOWN
    return graceful + STOP_MARGIN


def host_path(mounts: list[dict[str, Any]], container_path: str) -> Optional[str]:
    """Map a path inside a container to the host through its mounts (longest match wins)."""
    best = None
    for mount in mounts:
        dest = mount.get("Destination", "").rstrip("/") or "/"
        if container_path == dest or container_path.startswith(dest.rstrip("/") + "/"):
            if best is None or len(dest) > len(best.get("Destination", "")):
                best = mount
    if best is None or not best.get("Source"):
        return None
    rest = container_path[len(best["Destination"].rstrip("/")):].lstrip("/")
    return posixpath.join(best["Source"], rest) if rest else best["Source"]


def parse_container_env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items or []:
        name, _sep, value = item.partition("=")
        env[name] = value
    return env


def container_role(info: dict[str, Any]) -> str:
    """main, worker or webhook, from the container's command (n8n worker / n8n webhook)."""
    argv = (info.get("Config", {}).get("Entrypoint") or []) + (info.get("Config", {}).get("Cmd") or [])
    words = [os.path.basename(str(a)) for a in argv]
    if "worker" in words:
        return "worker"
    if "webhook" in words:
        return "webhook"
    return "main"


def is_n8n_container(info: dict[str, Any]) -> bool:
    env = parse_container_env(info.get("Config", {}).get("Env") or [])
    image = str(info.get("Config", {}).get("Image", ""))
    argv = " ".join(str(a) for a in (info.get("Config", {}).get("Cmd") or []))
    return "n8n" in image.rsplit("/", maxsplit=1)[-1] or any(k.startswith("N8N_") for k in env) or argv.startswith("n8n")


def container_ip(info: dict[str, Any], prefer_network: Optional[str] = None) -> Optional[str]:
    networks = info.get("NetworkSettings", {}).get("Networks", {}) or {}
    if prefer_network and networks.get(prefer_network, {}).get("IPAddress"):
        return str(networks[prefer_network]["IPAddress"])
    for net in networks.values():
        if net.get("IPAddress"):
            return str(net["IPAddress"])
    return None


def published_url(info: dict[str, Any], port: str) -> Optional[str]:
    bindings = (info.get("NetworkSettings", {}).get("Ports") or {}).get("%s/tcp" % port) or []
    for binding in bindings:
        host = binding.get("HostIp") or "127.0.0.1"
        if host in ("0.0.0.0", "::"):  # noqa: S104 - reading docker's binding, not binding
            host = "127.0.0.1"
        return "http://%s:%s" % (host, binding["HostPort"])
    return None


def parse_systemd_environment(value: str) -> dict[str, str]:
    """``systemctl show -p Environment --value`` output: space-separated, shell-like quoting."""
    env = {}
    for word in shlex.split(value or ""):
        name, sep, val = word.partition("=")
        if sep:
            env[name] = val
    return env


def parse_systemd_environment_files(value: str) -> list[str]:
    """``EnvironmentFiles=/etc/n8n.env (ignore_errors=no)`` entries, one per line."""
    files = []
    for line in (value or "").splitlines():
        path = line.strip().split(" (", 1)[0].strip()
        if path:
            files.append(path.lstrip("-"))
    return files


def database_from_env(env: dict[str, str], user_folder_host: Optional[str], container_folder: Optional[str] = None,
                      mounts: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    db_type = env.get("DB_TYPE", "sqlite") or "sqlite"
    prefix = env.get("DB_TABLE_PREFIX", "")
    if db_type in ("postgresdb", "postgres"):
        return {
            "type": "postgresdb",
            "host": env.get("DB_POSTGRESDB_HOST", "localhost"),
            "port": int(env.get("DB_POSTGRESDB_PORT", "5432") or 5432),
            "name": env.get("DB_POSTGRESDB_DATABASE", "n8n"),
            "user": env.get("DB_POSTGRESDB_USER", "postgres"),
            "password": env.get("DB_POSTGRESDB_PASSWORD"),
            "schema": env.get("DB_POSTGRESDB_SCHEMA", "public") or "public",
            "table_prefix": prefix,
        }
    if db_type != "sqlite":
        raise TargetError("n8n DB_TYPE %r is not supported: lifeboat.n8n backs up sqlite and postgresdb" % db_type)
    explicit = env.get("DB_SQLITE_DATABASE")
    if mounts is not None and container_folder:
        container_db = explicit or posixpath.join(container_folder, ".n8n", "database.sqlite")
        path = host_path(mounts, container_db)
        if path is None:
            raise TargetError(
                "The SQLite database %s is not on a volume or bind mount of the n8n container: "
                "it would be lost with the container, and lifeboat.n8n cannot reach it. Mount %s on a volume." % (container_db, container_folder)
            )
    else:
        path = explicit or (posixpath.join(user_folder_host, ".n8n", "database.sqlite") if user_folder_host else None)
    return {"type": "sqlite", "path": path, "table_prefix": prefix}


def binary_data(env: dict[str, str], folder: Optional[str]) -> tuple[str, Optional[str], list[str]]:
    """(mode, root, names): where filesystem binary data can live, in ``folder``'s namespace.

    An explicit N8N_BINARY_DATA_STORAGE_PATH / N8N_STORAGE_PATH is one folder. Otherwise
    n8n 2.x keeps ``.n8n/storage`` (falling back to a not yet migrated ``.n8n/binaryData``)
    and 1.x ``.n8n/binaryData``: both names are candidates, and backups take whichever
    exist, so the right one comes back whatever the version.
    """
    mode = env.get("N8N_DEFAULT_BINARY_DATA_MODE", "")
    explicit = env.get("N8N_BINARY_DATA_STORAGE_PATH") or env.get("N8N_STORAGE_PATH")
    if explicit:
        explicit = explicit.rstrip("/")
        return mode, posixpath.dirname(explicit) or "/", [posixpath.basename(explicit)]
    if not folder:
        return mode, None, []
    return mode, posixpath.join(folder, ".n8n"), ["storage", "binaryData"]


# ------------------------------------------------------------------- discovery
def _json(run: Runner, argv: list[str], what: str) -> Any:
    rc, out, err = run(argv)
    if rc != 0:
        raise TargetError("Cannot %s: %s failed: %s" % (what, " ".join(argv[:3]), (err or out).strip()[-500:]))
    try:
        return json.loads(out)
    except ValueError as exc:
        raise TargetError("Cannot %s: unexpected output from %s" % (what, argv[0])) from exc


def docker_inspect(run: Runner, names: list[str]) -> list[dict[str, Any]]:
    if not names:
        return []
    data = _json(run, ["docker", "inspect", "--type", "container", *names], "inspect containers %s" % ", ".join(names))
    return list(data)


def compose_containers(run: Runner, project: str) -> list[str]:
    rc, out, err = run(["docker", "ps", "-a", "--filter", "label=com.docker.compose.project=%s" % project, "--format", "{{.Names}}"])
    if rc != 0:
        raise TargetError("Cannot list the containers of compose project %s: %s" % (project, err.strip()))
    names = sorted(n for n in out.split() if n)
    if not names:
        raise TargetError(
            "No containers belong to docker compose project %r (label com.docker.compose.project). "
            "Check lifeboat_n8n_compose_project (docker compose ls shows project names)." % project
        )
    return names


@dataclass
class DockerSpec:
    """What the user says about a docker or compose deployment."""

    containers: dict[str, list[str]] = field(default_factory=dict)
    compose_project: Optional[str] = None
    compose_services: Optional[dict[str, list[str]]] = None
    db_container: Optional[str] = None


def _compose_n8n_containers(run: Runner, spec: DockerSpec) -> list[tuple[str, dict[str, Any]]]:
    """(role, inspect) of the n8n containers of a compose project."""
    infos = docker_inspect(run, compose_containers(run, spec.compose_project or ""))
    wanted = {}
    for role, services in (spec.compose_services or {}).items():
        for service in services or []:
            wanted[service] = PROCESS_ROLE.get(role, role)
    found = []
    for info in infos:
        service = info.get("Config", {}).get("Labels", {}).get("com.docker.compose.service")
        if wanted:
            if service in wanted:
                found.append((wanted[service], info))
        elif is_n8n_container(info):
            found.append((container_role(info), info))
    return found


def _named_n8n_containers(run: Runner, spec: DockerSpec) -> list[tuple[str, dict[str, Any]]]:
    explicit = [(PROCESS_ROLE.get(role, role), name) for role in ROLES for name in (spec.containers.get(role) or [])]
    if not explicit:
        raise TargetError("Name the n8n containers: lifeboat_n8n_containers: {main: [n8n], workers: [...], webhooks: [...]}")
    by_name = {info["Name"].lstrip("/"): info for info in docker_inspect(run, [name for _role, name in explicit])}
    return [(role, by_name[name]) for role, name in explicit]


def _processes(n8n_infos: list[tuple[str, dict[str, Any]]], stop: int) -> list[Process]:
    order = {"worker": 0, "main": 1, "webhook": 2}
    return [
        Process(
            role=role,
            name=info["Name"].lstrip("/"),
            manager="docker",
            running=bool(info.get("State", {}).get("Running")),
            stop_timeout=stop,
            compose_service=info.get("Config", {}).get("Labels", {}).get("com.docker.compose.service"),
        )
        for role, info in sorted(n8n_infos, key=lambda item: (order.get(item[0], 9), item[1]["Name"]))
    ]


def _container_paths(target: Target, main: dict[str, Any]) -> None:
    """Host paths of n8n's folders, through the main container's mounts."""
    env = target.env
    mounts = main.get("Mounts") or []
    folder = env.get("N8N_USER_FOLDER", CONTAINER_USER_FOLDER)
    n8n_folder = posixpath.join(folder, ".n8n")
    target.user_folder = host_path(mounts, folder)
    target.n8n_folder = host_path(mounts, n8n_folder)
    target.config_path = host_path(mounts, posixpath.join(n8n_folder, "config"))
    target.nodes_path = host_path(mounts, posixpath.join(n8n_folder, "nodes"))
    mode, root, names = binary_data(env, folder)
    target.binary_data_mode = mode
    target.binary_data_root = host_path(mounts, root) if root else None
    target.binary_data_names = names
    target.database = database_from_env(env, None, container_folder=folder, mounts=mounts)


def _container_database_address(run: Runner, target: Target, main: dict[str, Any], db_container: Optional[str]) -> None:
    """A containerised PostgreSQL is reached from the docker host at its container address."""
    if target.database["type"] != "postgresdb":
        return
    target.db_container = db_container or _find_db_container(run, main, target.database["host"])
    if not target.db_container:
        return
    db_info = docker_inspect(run, [target.db_container])[0]
    shared = set(main.get("NetworkSettings", {}).get("Networks") or {}) & set(db_info.get("NetworkSettings", {}).get("Networks") or {})
    ip = container_ip(db_info, sorted(shared)[0] if shared else None)
    if ip:
        target.database["host"] = ip


def discover_docker(run: Runner, spec: DockerSpec) -> Target:
    target = Target(deployment="compose" if spec.compose_project else "docker", service_manager="docker", compose_project=spec.compose_project)
    n8n_infos = _compose_n8n_containers(run, spec) if spec.compose_project else _named_n8n_containers(run, spec)
    mains = [info for role, info in n8n_infos if role == "main"]
    if len(mains) != 1:
        raise TargetError(
            "Expected exactly one n8n main container, found %d (%s). Set lifeboat_n8n_compose_services / lifeboat_n8n_containers."
            % (len(mains), ", ".join(i["Name"].lstrip("/") for i in mains) or "none")
        )
    main = mains[0]
    target.env = parse_container_env(main.get("Config", {}).get("Env") or [])
    stop = stop_timeout_for(target.env)
    target.processes = _processes(n8n_infos, stop)
    _container_paths(target, main)
    _container_database_address(run, target, main, spec.db_container)
    port = target.env.get("N8N_PORT", "5678")
    target.cli = ["docker", "exec", main["Name"].lstrip("/"), "n8n"]
    ip = container_ip(main)
    target.api_url = published_url(main, port) or ("http://%s:%s" % (ip, port) if ip else None)
    target.executions_mode = target.env.get("EXECUTIONS_MODE", "regular") or "regular"
    target.graceful_shutdown_timeout = stop - STOP_MARGIN
    return target


def _find_db_container(run: Runner, main: dict[str, Any], db_host: str) -> Optional[str]:
    """The container answering to DB_POSTGRESDB_HOST on one of the main container's networks."""
    if db_host in ("localhost", "127.0.0.1", "::1"):
        return None
    for network in (main.get("NetworkSettings", {}).get("Networks") or {}):
        rc, out, _err = run(["docker", "network", "inspect", network])
        if rc != 0:
            continue
        try:
            members = json.loads(out)[0].get("Containers") or {}
        except (ValueError, IndexError):
            continue
        names = [m.get("Name") for m in members.values()]
        if not names:
            continue
        for info in docker_inspect(run, [n for n in names if n]):
            aliases: set[str] = set()
            for net in (info.get("NetworkSettings", {}).get("Networks") or {}).values():
                aliases.update(net.get("Aliases") or [])
            if db_host == info["Name"].lstrip("/") or db_host in aliases:
                return str(info["Name"].lstrip("/"))
    return None


@dataclass
class NativeSpec:
    """What the user says about a native install."""

    service_manager: str = "systemd"
    services: dict[str, list[str]] = field(default_factory=lambda: {"main": ["n8n"]})
    env_files: list[str] = field(default_factory=list)
    user_folder: Optional[str] = None
    n8n_command: list[str] = field(default_factory=lambda: ["n8n"])
    api_url: Optional[str] = None


def _systemd_processes(run: Runner, spec: NativeSpec, target: Target) -> tuple[dict[str, str], list[str], str]:
    """(unit environment, its environment files, its user) of the main unit; fills processes."""
    units = [(PROCESS_ROLE.get(role, role), unit) for role in ROLES for unit in (spec.services.get(role) or [])]
    main_unit = next((unit for role, unit in units if role == "main"), None)
    if main_unit is None:
        raise TargetError("Name the n8n systemd units: lifeboat_n8n_services: {main: [n8n], workers: [...]}")
    rc, out, err = run(["systemctl", "show", main_unit, "-p", "Environment", "-p", "EnvironmentFiles", "-p", "User", "-p", "LoadState"])
    if rc != 0:
        raise TargetError("Cannot read systemd unit %s: %s" % (main_unit, err.strip()))
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if props.get("LoadState") == "not-found":
        raise TargetError("systemd unit %s does not exist on this host: check lifeboat_n8n_services" % main_unit)
    for role, unit in units:
        _rc, state, _err = run(["systemctl", "is-active", unit])
        target.processes.append(Process(role=role, name=unit, manager="systemd", running=state.strip() == "active"))
    files = parse_systemd_environment_files(props.get("EnvironmentFiles", ""))
    return parse_systemd_environment(props.get("Environment", "")), files, props.get("User") or "root"


def discover_native(run: Runner, spec: NativeSpec, read_file: Callable[[str], str], home_of: Callable[[str], Optional[str]]) -> Target:
    target = Target(deployment="native", service_manager=spec.service_manager)
    env: dict[str, str] = {}
    files = list(spec.env_files)
    owner = None
    if spec.service_manager == "systemd":
        env, unit_files, owner = _systemd_processes(run, spec, target)
        files = unit_files + files
    else:
        target.processes.append(Process(role="main", name="n8n", manager="command"))
    for path in files:
        try:
            env.update(parse_env_file(read_file(path)))
        except (IOError, OSError) as exc:
            raise TargetError("Cannot read n8n environment file %s: %s" % (path, exc)) from exc
    target.env = env
    target.owner = owner
    stop = stop_timeout_for(env)
    for process in target.processes:
        process.stop_timeout = stop
    folder = spec.user_folder or env.get("N8N_USER_FOLDER") or (home_of(owner) if owner else None)
    if not folder:
        raise TargetError("Cannot tell n8n's user folder: set lifeboat_n8n_user_folder (N8N_USER_FOLDER)")
    target.user_folder = folder
    target.n8n_folder = posixpath.join(folder, ".n8n")
    target.config_path = posixpath.join(target.n8n_folder, "config")
    target.nodes_path = posixpath.join(target.n8n_folder, "nodes")
    target.binary_data_mode, target.binary_data_root, target.binary_data_names = binary_data(env, folder)
    target.database = database_from_env(env, folder)
    target.cli = list(spec.n8n_command)
    target.cli_env = dict(env, N8N_USER_FOLDER=env.get("N8N_USER_FOLDER", folder))
    listen = env.get("N8N_LISTEN_ADDRESS", "127.0.0.1")
    if listen in ("0.0.0.0", "::", ""):  # noqa: S104 - reading n8n's setting, not binding
        listen = "127.0.0.1"
    target.api_url = spec.api_url or "%s://%s:%s" % (env.get("N8N_PROTOCOL", "http"), listen, env.get("N8N_PORT", "5678"))
    target.executions_mode = env.get("EXECUTIONS_MODE", "regular") or "regular"
    target.graceful_shutdown_timeout = stop - STOP_MARGIN
    return target
