"""Deployment discovery with recorded `docker inspect` / `systemctl show` output."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _target as t


def container(name: str, env: dict[str, str], cmd: list[str], mounts: list[dict[str, Any]] | None = None,
              networks: dict[str, Any] | None = None, labels: dict[str, str] | None = None,
              ports: dict[str, Any] | None = None, running: bool = True, image: str = "n8nio/n8n:2.40.7") -> dict[str, Any]:
    return {
        "Name": "/" + name,
        "State": {"Running": running},
        "Config": {"Env": [f"{k}={v}" for k, v in env.items()], "Cmd": cmd, "Entrypoint": None, "Image": image, "Labels": labels or {}},
        "Mounts": mounts or [],
        "NetworkSettings": {"Networks": networks or {}, "Ports": ports or {}},
    }


VOLUME = {"Type": "volume", "Name": "n8n_data", "Source": "/var/lib/docker/volumes/n8n_data/_data", "Destination": "/home/node"}
NET = {"auto_net": {"IPAddress": "172.20.0.3", "Aliases": ["n8n"]}}
PG_NET = {"auto_net": {"IPAddress": "172.20.0.2", "Aliases": ["postgres", "db"]}}


class FakeDocker:
    """Answers docker CLI calls from a table of containers."""

    def __init__(self, containers: list[dict[str, Any]]) -> None:
        self.containers = {c["Name"].lstrip("/"): c for c in containers}
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[:2] == ["docker", "inspect"]:
            names = [a for a in argv[2:] if not a.startswith("--") and a != "container"]
            missing = [n for n in names if n not in self.containers]
            if missing:
                return 1, "", f"Error: No such container: {missing[0]}"
            return 0, json.dumps([self.containers[n] for n in names]), ""
        if argv[:2] == ["docker", "ps"]:
            project = argv[argv.index("--filter") + 1].split("=", 2)[2]
            names = [n for n, c in self.containers.items() if c["Config"]["Labels"].get("com.docker.compose.project") == project]
            return 0, "\n".join(names), ""
        if argv[:3] == ["docker", "network", "inspect"]:
            members = {n: {"Name": n} for n, c in self.containers.items() if argv[3] in c["NetworkSettings"]["Networks"]}
            return 0, json.dumps([{"Containers": members}]), ""
        return 1, "", "unexpected call"


def queue_project() -> FakeDocker:
    env = {
        "N8N_ENCRYPTION_KEY": "k",
        "DB_TYPE": "postgresdb",
        "DB_POSTGRESDB_HOST": "postgres",
        "DB_POSTGRESDB_PASSWORD": "pw",
        "EXECUTIONS_MODE": "queue",
        "N8N_GRACEFUL_SHUTDOWN_TIMEOUT": "60",
        "WEBHOOK_URL": "https://n8n.example.com/",
    }
    labels = {"com.docker.compose.project": "auto"}
    return FakeDocker(
        [
            container("auto-n8n-1", env, ["start"], [VOLUME], NET, {**labels, "com.docker.compose.service": "n8n"},
                      {"5678/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5678"}]}),
            container("auto-worker-1", env, ["worker"], [VOLUME], NET, {**labels, "com.docker.compose.service": "worker"}),
            container("auto-postgres-1", {"POSTGRES_PASSWORD": "pw"}, ["postgres"], [], PG_NET,
                      {**labels, "com.docker.compose.service": "postgres"}, image="postgres:16"),
            container("auto-redis-1", {}, ["redis-server"], [], NET, {**labels, "com.docker.compose.service": "redis"}, image="redis:7"),
        ]
    )


def test_compose_queue_project_is_described() -> None:
    target = t.discover_docker(queue_project(), t.DockerSpec(compose_project="auto"))
    assert [(p.role, p.name) for p in target.processes] == [("worker", "auto-worker-1"), ("main", "auto-n8n-1")]
    assert all(p.stop_timeout == 75 for p in target.processes)  # graceful 60 + margin
    assert target.executions_mode == "queue"
    assert target.db_container == "auto-postgres-1"
    assert target.database["host"] == "172.20.0.2"  # reached at its container address
    assert target.database["password"] == "pw"
    assert target.config_path == "/var/lib/docker/volumes/n8n_data/_data/.n8n/config"
    assert target.api_url == "http://127.0.0.1:5678"
    assert target.cli == ["docker", "exec", "auto-n8n-1", "n8n"]


def test_public_view_has_no_secrets() -> None:
    public = t.discover_docker(queue_project(), t.DockerSpec(compose_project="auto")).public()
    text = json.dumps(public)
    assert '"pw"' not in text and '"k"' not in text
    assert public["env"]["N8N_ENCRYPTION_KEY"] == "<redacted>"
    assert public["trigger_env"]["WEBHOOK_URL"] == "https://n8n.example.com/"


def test_compose_services_map_roles_explicitly() -> None:
    spec = t.DockerSpec(compose_project="auto", compose_services={"main": ["n8n"], "workers": []})
    target = t.discover_docker(queue_project(), spec)
    assert [p.name for p in target.processes] == ["auto-n8n-1"]


def test_unknown_compose_project_names_the_variable() -> None:
    with pytest.raises(t.TargetError, match="lifeboat_n8n_compose_project"):
        t.discover_docker(queue_project(), t.DockerSpec(compose_project="nope"))


def test_sqlite_outside_a_volume_is_refused() -> None:
    docker = FakeDocker([container("n8n", {"N8N_ENCRYPTION_KEY": "k"}, ["start"], [])])
    with pytest.raises(t.TargetError, match="not on a volume"):
        t.discover_docker(docker, t.DockerSpec(containers={"main": ["n8n"]}))


def test_sqlite_path_maps_through_the_volume() -> None:
    docker = FakeDocker([container("n8n", {}, ["n8n", "start"], [VOLUME])])
    target = t.discover_docker(docker, t.DockerSpec(containers={"main": ["n8n"]}))
    assert target.database == {"type": "sqlite", "path": "/var/lib/docker/volumes/n8n_data/_data/.n8n/database.sqlite", "table_prefix": ""}


@pytest.mark.parametrize(
    ("container_path", "expected"),
    [
        ("/home/node/.n8n/config", "/data/.n8n/config"),
        ("/home/node", "/data"),
        ("/home/node/.n8n/nodes", "/nodes"),
        ("/elsewhere", None),
    ],
)
def test_host_path_longest_mount_wins(container_path: str, expected: str | None) -> None:
    mounts = [{"Source": "/data", "Destination": "/home/node"}, {"Source": "/nodes", "Destination": "/home/node/.n8n/nodes"}]
    assert t.host_path(mounts, container_path) == expected


def test_systemd_unit_environment_and_files() -> None:
    files = {"/etc/n8n/n8n.env": "N8N_PORT=5700\nDB_TYPE=sqlite\n# comment\n"}

    def run(argv: list[str]) -> tuple[int, str, str]:
        if argv[:2] == ["systemctl", "show"]:
            return 0, (
                'Environment=N8N_USER_FOLDER=/srv/n8n "GENERIC_TIMEZONE=Europe/Berlin"\n'
                "EnvironmentFiles=/etc/n8n/n8n.env (ignore_errors=no)\nUser=n8n\nLoadState=loaded\n"
            ), ""
        if argv[:2] == ["systemctl", "is-active"]:
            return 0, "active\n", ""
        return 1, "", ""

    spec = t.NativeSpec(services={"main": ["n8n"], "workers": ["n8n-worker"]}, n8n_command=["/usr/bin/n8n"])
    target = t.discover_native(run, spec, files.__getitem__, lambda user: "/home/" + user)
    assert target.env["GENERIC_TIMEZONE"] == "Europe/Berlin"
    assert target.user_folder == "/srv/n8n"
    assert target.api_url == "http://127.0.0.1:5700"
    assert target.database["path"] == "/srv/n8n/.n8n/database.sqlite"
    assert [(p.role, p.name, p.running) for p in target.processes] == [("main", "n8n", True), ("worker", "n8n-worker", True)]
    assert target.owner == "n8n"


def test_missing_systemd_unit_is_named() -> None:
    def run(argv: list[str]) -> tuple[int, str, str]:
        return 0, "LoadState=not-found\n", ""

    with pytest.raises(t.TargetError, match="does not exist"):
        t.discover_native(run, t.NativeSpec(), lambda p: "", lambda u: None)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("", "/u/.n8n", ["storage", "binaryData"])),
        ({"N8N_DEFAULT_BINARY_DATA_MODE": "filesystem", "N8N_BINARY_DATA_STORAGE_PATH": "/b/bin/"}, ("filesystem", "/b", ["bin"])),
        ({"N8N_STORAGE_PATH": "/srv/store"}, ("", "/srv", ["store"])),
    ],
)
def test_binary_data_location(env: dict[str, str], expected: tuple[str, str, list[str]]) -> None:
    assert t.binary_data(env, "/u") == expected


def test_unsupported_database_type() -> None:
    with pytest.raises(t.TargetError, match="not supported"):
        t.database_from_env({"DB_TYPE": "mysqldb"}, "/u")


def test_systemd_environment_quoting() -> None:
    assert t.parse_systemd_environment('A=1 "B=two words" C=x=y') == {"A": "1", "B": "two words", "C": "x=y"}
