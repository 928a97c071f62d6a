"""n8n deployments in Docker containers, as plain containers or as a docker compose project.

No container registry is reachable here, so the containers run the local images
harness/images/build.sh makes (Debian + python3) with the cached Node and n8n
bind-mounted read-only, the way n8n's own image lays things out: ``n8n`` on PATH,
``N8N_USER_FOLDER=/home/node`` on a named volume. PostgreSQL and Redis run in their
own containers on the topology's network, reachable by container name, as in a
typical compose file.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from . import installs
from .launcher import READY_LINE, N8nClient, N8nError, free_port

BASE_IMAGE = "lifeboat-n8n/base:latest"
POSTGRES_IMAGE = "lifeboat-n8n/postgres:latest"
REDIS_IMAGE = "lifeboat-n8n/redis:latest"
SYSTEMD_IMAGE = "lifeboat-n8n/systemd:latest"
CONTAINER_PATH = "/opt/node/bin:/opt/n8n/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PG_PASSWORD = "lifeboat-pg-pass"
# Longer than N8N_GRACEFUL_SHUTDOWN_TIMEOUT (30 s): docker stop's default 10 s would kill
# executions n8n is still finishing.
STOP_TIMEOUT = 45


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise N8nError(f"docker {' '.join(args[:3])} ... failed: {result.stderr.strip()[-800:]}")
    return result


def inspect(name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("inspect", name).stdout)
    return data[0]


@dataclass
class ContainerN8n(N8nClient):
    """The HTTP side of an n8n container, through its port published on 127.0.0.1."""

    version: str
    name: str
    port: int
    api_key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self, lines: int = 40) -> str:
        result = docker("logs", "--tail", str(lines), self.name, check=False)
        return result.stdout + result.stderr

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = inspect(self.name)["State"]
            if not state["Running"] and state.get("ExitCode", 0) != 0:
                raise N8nError(f"container {self.name} exited ({state['ExitCode']}):\n{self.logs()}")
            if READY_LINE in self.logs(400):
                try:
                    if requests.get(f"{self.url}/healthz/readiness", timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.5)
        raise N8nError(f"container {self.name} not ready after {timeout:.0f} s:\n{self.logs()}")


@dataclass
class DockerTopology:
    """An n8n deployment in containers: main (+ workers, Redis in queue mode), SQLite or PostgreSQL."""

    prefix: str
    version: str = field(default_factory=lambda: installs.pinned_versions()[0])
    db: str = "sqlite"
    queue: bool = False
    workers: int = 1
    encryption_key: str | None = None
    key_in_env: bool = True  # False: n8n generates the key into /home/node/.n8n/config
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    compose: bool = False
    started: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.encryption_key is None and self.key_in_env:
            self.encryption_key = secrets.token_urlsafe(24)
        self.port = self.port or free_port()
        if self.queue and self.db != "postgres":
            raise ValueError("queue mode needs PostgreSQL")

    # ----------------------------------------------------------------- names
    @property
    def network(self) -> str:
        return f"{self.prefix}-net"

    @property
    def main(self) -> str:
        return f"{self.prefix}-n8n"

    @property
    def worker_names(self) -> list[str]:
        return [f"{self.prefix}-worker-{i + 1}" for i in range(self.workers if self.queue else 0)]

    @property
    def postgres(self) -> str:
        return f"{self.prefix}-postgres"

    @property
    def redis(self) -> str:
        return f"{self.prefix}-redis"

    @property
    def data_volume(self) -> str:
        return f"{self.prefix}-n8n-data"

    @property
    def pg_volume(self) -> str:
        return f"{self.prefix}-pg-data"

    @property
    def containers(self) -> list[str]:
        names = [self.main, *self.worker_names]
        if self.db == "postgres":
            names.append(self.postgres)
        if self.queue:
            names.append(self.redis)
        return names

    def client(self) -> ContainerN8n:
        return ContainerN8n(version=self.version, name=self.main, port=self.port)

    # ----------------------------------------------------------------- config
    def n8n_env(self) -> dict[str, str]:
        env = {
            "PATH": CONTAINER_PATH,
            "N8N_USER_FOLDER": "/home/node",
            "N8N_PORT": "5678",
            "N8N_HOST": "127.0.0.1",
            "N8N_PROTOCOL": "http",
            "WEBHOOK_URL": f"http://127.0.0.1:{self.port}/",
            "GENERIC_TIMEZONE": "UTC",
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_SECURE_COOKIE": "false",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "true",
            "N8N_GRACEFUL_SHUTDOWN_TIMEOUT": "30",
        }
        if self.key_in_env and self.encryption_key:
            env["N8N_ENCRYPTION_KEY"] = self.encryption_key
        if self.db == "postgres":
            env.update(
                DB_TYPE="postgresdb",
                DB_POSTGRESDB_HOST=self.postgres,
                DB_POSTGRESDB_PORT="5432",
                DB_POSTGRESDB_DATABASE="n8n",
                DB_POSTGRESDB_USER="n8n",
                DB_POSTGRESDB_PASSWORD=PG_PASSWORD,
            )
        if self.queue:
            env.update(EXECUTIONS_MODE="queue", QUEUE_BULL_REDIS_HOST=self.redis, QUEUE_BULL_REDIS_PORT="6379")
        env.update(self.extra_env)
        return env

    def _mounts(self) -> list[str]:
        return [
            f"{installs.node_dir(self.version)}:/opt/node:ro",
            f"{installs.n8n_dir(self.version)}:/opt/n8n:ro",
        ]

    # --------------------------------------------------------------- lifecycle
    def up(self, wait: bool = True) -> ContainerN8n:
        installs.require_installed(self.version)
        try:
            if self.compose:
                self._compose_up()
            else:
                self._containers_up()
            client = self.client()
            if wait:
                client.wait_ready()
            return client
        except BaseException:
            self.down()
            raise

    def _containers_up(self) -> None:
        docker("network", "create", self.network)
        self.started.append(f"network:{self.network}")
        if self.db == "postgres":
            self._run(self.postgres, POSTGRES_IMAGE, [], env=self._pg_env(), volumes=[f"{self.pg_volume}:/var/lib/postgresql/data"], stop_signal="SIGINT")
            self.wait_postgres()
        if self.queue:
            self._run(self.redis, REDIS_IMAGE, [])
        for worker in self.worker_names:
            self._run(worker, BASE_IMAGE, ["n8n", "worker"], env=self.n8n_env(), volumes=[f"{self.data_volume}:/home/node", *self._mounts()])
        self._run(
            self.main,
            BASE_IMAGE,
            ["n8n", "start"],
            env=self.n8n_env(),
            volumes=[f"{self.data_volume}:/home/node", *self._mounts()],
            ports=[f"127.0.0.1:{self.port}:5678"],
        )

    def _pg_env(self) -> dict[str, str]:
        return {"POSTGRES_USER": "n8n", "POSTGRES_PASSWORD": PG_PASSWORD, "POSTGRES_DB": "n8n"}

    def _run(
        self,
        name: str,
        image: str,
        command: list[str],
        env: dict[str, str] | None = None,
        volumes: list[str] | None = None,
        ports: list[str] | None = None,
        stop_signal: str | None = None,
    ) -> None:
        args = ["run", "-d", "--name", name, "--network", self.network, "--stop-timeout", str(STOP_TIMEOUT)]
        args += ["--label", f"lifeboat.test.topology={self.prefix}"]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        for volume in volumes or []:
            args += ["-v", volume]
        for port in ports or []:
            args += ["-p", port]
        if stop_signal:
            args += ["--stop-signal", stop_signal]
        docker(*args, image, *command)
        self.started.append(name)

    def wait_postgres(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = docker("exec", self.postgres, "pg_isready", "-h", "127.0.0.1", "-U", "n8n", check=False)
            if probe.returncode == 0:
                return
            time.sleep(0.5)
        raise N8nError(f"PostgreSQL container {self.postgres} not ready after {timeout:.0f} s")

    # ----------------------------------------------------------------- compose
    def compose_file(self) -> dict[str, Any]:
        """The same topology as a compose project (docker-compose v1 file format 3.7)."""
        n8n_volumes = [f"{self.data_volume}:/home/node", *self._mounts()]
        services: dict[str, Any] = {}
        depends: list[str] = []
        if self.db == "postgres":
            services["postgres"] = {
                "image": POSTGRES_IMAGE,
                "container_name": self.postgres,
                "environment": self._pg_env(),
                "volumes": [f"{self.pg_volume}:/var/lib/postgresql/data"],
                "stop_signal": "SIGINT",
            }
            depends.append("postgres")
        if self.queue:
            services["redis"] = {"image": REDIS_IMAGE, "container_name": self.redis}
            depends.append("redis")
        services["n8n"] = {
            "image": BASE_IMAGE,
            "container_name": self.main,
            "command": ["n8n", "start"],
            "environment": self.n8n_env(),
            "volumes": n8n_volumes,
            "ports": [f"127.0.0.1:{self.port}:5678"],
            "stop_grace_period": f"{STOP_TIMEOUT}s",
            **({"depends_on": depends} if depends else {}),
        }
        for worker in self.worker_names:
            services[worker.removeprefix(self.prefix + "-")] = {
                "image": BASE_IMAGE,
                "container_name": worker,
                "command": ["n8n", "worker"],
                "environment": self.n8n_env(),
                "volumes": n8n_volumes,
                "stop_grace_period": f"{STOP_TIMEOUT}s",
                "depends_on": depends,
            }
        volumes = {self.data_volume: {"name": self.data_volume}}
        if self.db == "postgres":
            volumes[self.pg_volume] = {"name": self.pg_volume}
        return {
            "version": "3.7",
            "services": services,
            "volumes": volumes,
            "networks": {"default": {"name": self.network}},
        }

    def compose_path(self, directory: Path) -> Path:
        path = Path(directory) / "docker-compose.yml"
        path.write_text(yaml.safe_dump(self.compose_file(), sort_keys=False))
        path.chmod(0o600)  # it holds the encryption key
        return path

    def _compose_up(self) -> None:
        directory = installs.cache_dir() / "compose" / self.prefix
        directory.mkdir(parents=True, exist_ok=True)
        path = self.compose_path(directory)
        self.started.append(f"compose:{path}")
        if self.db == "postgres":
            self._compose(path, "up", "-d", "postgres")
            self.wait_postgres()
        self._compose(path, "up", "-d")

    def _compose(self, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker-compose", "-p", self.prefix, "-f", str(path), *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise N8nError(f"docker-compose {' '.join(args)} failed: {result.stderr[-800:]}")
        return result

    # -------------------------------------------------------------- teardown
    def stop(self, name: str) -> None:
        docker("stop", "-t", str(STOP_TIMEOUT), name, check=False)

    def start(self, name: str) -> None:
        docker("start", name)

    def down(self) -> None:
        """Remove every container, volume and network this topology made (idempotent)."""
        for name in self.containers:
            docker("rm", "-f", "-v", name, check=False)
        for volume in (self.data_volume, self.pg_volume):
            docker("volume", "rm", "-f", volume, check=False)
        docker("network", "rm", self.network, check=False)
        self.started.clear()
