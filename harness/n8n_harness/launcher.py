"""Start, drive and stop isolated, real n8n instances for tests, Molecule and the demo.

An instance gets its own user folder, free HTTP and task-broker ports, SQLite or
PostgreSQL, a given or generated encryption key and any extra env. ``start()`` returns
only once n8n is ready to serve webhooks (the editor-accessible log line, which n8n
prints after active workflows are registered, plus ``/healthz/readiness``), and a
failed start never leaves a process behind.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import installs

OWNER = {
    "email": "owner@lifeboat.test",
    "firstName": "Life",
    "lastName": "Boat",
    "password": "Lifeboat-Owner-Pass-1",
}
READY_LINE = "Editor is now accessible via"


class N8nError(RuntimeError):
    """n8n did not do what the harness asked; the message carries the log tail."""


def http_session() -> requests.Session:
    """A session that retries n8n's 503 "Database is not ready!" for about a minute.

    n8n answers every request with it while one 5 s ``SELECT 1`` ping of its database has
    timed out (a loaded CI host), until the next ping succeeds; it handled nothing, so
    repeating the request is safe, POSTs included. Pauses: 0, 2, 4, then 8 s each.
    """
    retry = Retry(
        total=None,
        connect=0,
        read=0,
        redirect=0,
        other=0,
        status=12,
        status_forcelist=(503,),
        allowed_methods=None,  # every method: n8n refused the request before handling it
        backoff_factor=1.0,
        backoff_max=8.0,
        raise_on_status=False,  # after the last try, the caller sees the 503 itself
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


_ISSUED_PORTS: set[int] = set()


def free_port() -> int:
    """A free local TCP port that this process has not handed out before.

    The kernel may offer a port it just released again: in CI an instance once got the
    same port for HTTP and its task broker, and n8n exited with "port already in use".
    """
    for _attempt in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _ISSUED_PORTS:
            _ISSUED_PORTS.add(port)
            return port
    raise N8nError("no free local TCP port left that was not handed out already")


@dataclass
class PostgresConfig:
    database: str
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "lifeboat"
    password: str = ""
    schema: str = "public"

    def database_option(self, host: str | None = None) -> dict[str, Any]:
        """The lifeboat.n8n modules' ``database`` option for this database."""
        return {
            "type": "postgresdb",
            "host": host or self.host,
            "port": self.port,
            "name": self.database,
            "user": self.user,
            "password": self.password,
            "schema": self.schema,
        }

    def env(self) -> dict[str, str]:
        return {
            "DB_TYPE": "postgresdb",
            "DB_POSTGRESDB_HOST": self.host,
            "DB_POSTGRESDB_PORT": str(self.port),
            "DB_POSTGRESDB_DATABASE": self.database,
            "DB_POSTGRESDB_USER": self.user,
            "DB_POSTGRESDB_PASSWORD": self.password,
            "DB_POSTGRESDB_SCHEMA": self.schema,
        }


class N8nClient:
    """HTTP access to a running n8n (owner setup, API key, public API, webhooks)."""

    version: str
    api_key: str | None
    # Seconds a webhook call waits for its answer (the workflow runs before n8n answers).
    webhook_read_timeout = 60.0

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def setup_owner(self) -> requests.Session:
        """Create the owner (once) and return a logged-in session for /rest calls."""
        session = http_session()
        response = session.post(f"{self.url}/rest/owner/setup", json=OWNER, timeout=30)
        if response.status_code not in (200, 400):
            raise N8nError(f"owner setup failed: {response.status_code} {response.text[:300]}")
        login = session.post(
            f"{self.url}/rest/login",
            json={"emailOrLdapLoginId": OWNER["email"], "email": OWNER["email"], "password": OWNER["password"]},
            timeout=30,
        )
        if login.status_code != 200:
            raise N8nError(f"login failed: {login.status_code} {login.text[:300]}")
        return session

    def create_api_key(self, session: requests.Session | None = None, label: str | None = None) -> str:
        session = session or self.setup_owner()
        body: dict[str, Any] = {"label": label or f"lifeboat-{secrets.token_hex(4)}", "expiresAt": None}
        scopes = session.get(f"{self.url}/rest/api-keys/scopes", timeout=30)
        if scopes.status_code == 200:
            body["scopes"] = scopes.json()["data"]
        response = session.post(f"{self.url}/rest/api-keys", json=body, timeout=30)
        if response.status_code != 200:
            raise N8nError(f"API key creation failed: {response.status_code} {response.text[:300]}")
        data = response.json()["data"]
        self.api_key = data.get("rawApiKey") or data.get("apiKey")
        assert self.api_key
        return self.api_key

    def api(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """Call the public API (/api/v1) with the instance's API key."""
        if not self.api_key:
            self.create_api_key()
        with http_session() as session:
            response = session.request(
                method, f"{self.url}/api/v1{path}", headers={"X-N8N-API-KEY": str(self.api_key)}, timeout=60, **kwargs
            )
        if response.status_code not in expect:
            raise N8nError(f"{method} /api/v1{path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def webhook(self, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
        with http_session() as session:
            return session.request(method, f"{self.url}/webhook/{path}", timeout=self.webhook_read_timeout, **kwargs)

    def wait_webhook(self, path: str, method: str = "GET", timeout: float = 120.0, **kwargs: Any) -> requests.Response:
        """Poll a production webhook until it stops answering 404 (2.x registers a moment late).

        The wait ends at the first other answer, so a generous timeout costs nothing on a
        healthy host; 30 s was too short for a 2-core CI host running three scenarios.
        A request that gets no answer in ``webhook_read_timeout`` (60 s) is asked again while
        the wait lasts: on 2.x the first Code node run starts n8n's task runner, which took over
        a minute under load 16 in a cold CI run. Callers poll idempotent webhooks (the seeded
        echo), so asking twice is safe.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = self.webhook(path, method, **kwargs)
            except (requests.Timeout, requests.ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
                continue
            if response.status_code != 404 or time.monotonic() > deadline:
                return response
            time.sleep(0.3)


@dataclass
class N8nInstance(N8nClient):
    """One n8n process. Serialisable to a 0600 state file for use across processes."""

    version: str
    base_dir: Path
    postgres: PostgresConfig | None = None
    encryption_key: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    broker_port: int = 0
    pid: int | None = None
    api_key: str | None = None
    # False: no N8N_ENCRYPTION_KEY in the environment; n8n generates a key into
    # .n8n/config on first start (n8n's default), and reads it from there afterwards.
    key_in_env: bool = True

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir)
        if self.encryption_key is None and self.key_in_env:
            self.encryption_key = secrets.token_urlsafe(24)
        if not self.port:
            self.port = free_port()
        if not self.broker_port:
            self.broker_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None

    # ----------------------------------------------------------------- layout
    @property
    def user_folder(self) -> Path:
        """N8N_USER_FOLDER; n8n keeps its files in ``<user_folder>/.n8n``."""
        return self.base_dir / "home"

    @property
    def n8n_folder(self) -> Path:
        return self.user_folder / ".n8n"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "n8n.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env_file(self) -> Path:
        """The environment n8n runs with, as a 0600 env file (what a systemd EnvironmentFile holds)."""
        return self.base_dir / "n8n.env"

    @property
    def db_type(self) -> str:
        return "postgresdb" if self.postgres else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return self.n8n_folder / "database.sqlite"

    def database_option(self) -> dict[str, Any]:
        """The lifeboat.n8n modules' ``database`` option for this instance's database."""
        if self.postgres:
            return self.postgres.database_option()
        return {"type": "sqlite", "path": str(self.sqlite_path)}

    def env(self) -> dict[str, str]:
        """The complete environment n8n runs with (holds the key: never log it)."""
        node_bin = installs.node_dir(self.version) / "bin"
        env = {
            "PATH": f"{node_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.user_folder),
            "N8N_USER_FOLDER": str(self.user_folder),
            "N8N_PORT": str(self.port),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_HOST": "127.0.0.1",
            "N8N_PROTOCOL": "http",
            "WEBHOOK_URL": f"{self.url}/",
            "N8N_RUNNERS_BROKER_PORT": str(self.broker_port),
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_HIRING_BANNER_ENABLED": "false",
            "N8N_SECURE_COOKIE": "false",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "true",
            "N8N_LOG_LEVEL": "info",
            "N8N_LOG_OUTPUT": "console",
            "GENERIC_TIMEZONE": "UTC",
            "NODE_ENV": "production",
        }
        if self.key_in_env:
            env["N8N_ENCRYPTION_KEY"] = str(self.encryption_key)
        env.update(self.postgres.env() if self.postgres else {"DB_TYPE": "sqlite"})
        env.update(self.extra_env)
        return env

    # --------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 300.0) -> N8nInstance:
        installs.require_installed(self.version)
        if self.is_running():
            raise N8nError(f"n8n already runs as pid {self.pid} on port {self.port}")
        self.n8n_folder.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o700)
        self._write_env_file()
        self._log_handle = open(self.log_path, "ab")
        self._log_offset = self.log_path.stat().st_size
        self._process = subprocess.Popen(
            [*installs.command(self.version), "start"],
            env=self.env(),
            cwd=self.user_folder,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: the task runner goes with it
        )
        self.pid = self._process.pid
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_env_file(self) -> None:
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            for name, value in sorted(self.env().items()):
                handle.write(f"{name}={value}\n")

    def config_key(self) -> str | None:
        """The key in .n8n/config (what n8n uses when no env key is set)."""
        path = self.n8n_folder / "config"
        if not path.exists():
            return None
        value = json.loads(path.read_text()).get("encryptionKey")
        return str(value) if value else None

    def _new_log(self) -> str:
        with open(self.log_path, "rb") as handle:
            handle.seek(getattr(self, "_log_offset", 0))
            return handle.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def is_running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise N8nError(f"n8n {self.version} exited during start:\n{self.log_tail()}")
            if READY_LINE in self._new_log():
                try:
                    if requests.get(f"{self.url}/healthz/readiness", timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.25)
        raise N8nError(f"n8n {self.version} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout``. Safe to call twice."""
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._group_alive():
                if self._process is not None:
                    self._process.poll()
                time.sleep(0.1)
            if self._group_alive():
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self._process is not None:
                self._process.wait(timeout=10)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        self._process = None
        self.pid = None

    def _group_alive(self) -> bool:
        assert self.pid is not None
        if self._process is not None and self._process.poll() is None:
            return True
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def __enter__(self) -> N8nInstance:
        return self.start() if not self.is_running() else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------- CLI
    def cli(self, *args: str, check: bool = True, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run an n8n CLI command with this instance's environment (n8n should be stopped)."""
        result = subprocess.run(
            [*installs.command(self.version), *args],
            check=False,
            env=self.env(),
            cwd=self.user_folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise N8nError(f"n8n {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    # ------------------------------------------------------------ state file
    def state(self) -> dict[str, Any]:
        data = asdict(self)
        data["base_dir"] = str(self.base_dir)
        data.update(url=self.url, user_folder=str(self.user_folder), log_path=str(self.log_path), db_type=self.db_type)
        return data

    def save_state(self, path: Path) -> None:
        """Write the state (it holds the key and API key) to a file only the owner can read."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.state(), handle, indent=2)

    @classmethod
    def load_state(cls, path: Path) -> N8nInstance:
        data = json.loads(Path(path).read_text())
        postgres = PostgresConfig(**data["postgres"]) if data.get("postgres") else None
        return cls(
            version=data["version"],
            base_dir=Path(data["base_dir"]),
            postgres=postgres,
            encryption_key=data["encryption_key"],
            extra_env=data.get("extra_env", {}),
            port=data["port"],
            broker_port=data["broker_port"],
            pid=data.get("pid"),
            api_key=data.get("api_key"),
            key_in_env=data.get("key_in_env", True),
        )
