"""The reliability suite's worlds and fault-injection helpers (see conftest.py for the fixtures)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "roles"))
# The collection's module_utils (hashing, like the manifest does), through the checkout link scripts/env.sh names.
_LINK = os.environ.get("LIFEBOAT_CHECKOUT_LINK")
if _LINK and _LINK not in sys.path:
    sys.path.insert(0, _LINK)

from ansible_collections.lifeboat.n8n.plugins.module_utils._manifest import hash_file  # noqa: E402
from lifeboat_roles import PLAYBOOKS, Controller, Site, reload, seed_site  # noqa: E402
from n8n_harness import N8nInstance, Seeded  # noqa: E402
from n8n_harness import postgres as pg  # noqa: E402
from n8n_harness.ansible import PlaybookRun, run_module, run_playbook  # noqa: E402
from n8n_harness.inventory import native_host_vars, write_inventory, write_secrets  # noqa: E402

V2 = "2.40.7"
ARCHIVE_PASSPHRASE_BYTES = 24


# --------------------------------------------------------------------------- worlds


@dataclass
class World:
    """One deployment, its controller folders, what was seeded and the secrets to look for."""

    name: str
    controller: Controller
    site: Site
    seeded: Seeded
    api_key: str
    key: str
    postgres: pg.PostgresConfig | None = None
    backup: Path | None = None  # the newest good backup on the controller
    backup_run: PlaybookRun | None = None
    encrypted_backup_run: PlaybookRun | None = None
    archive_passphrase: str = field(default_factory=lambda: secrets.token_urlsafe(ARCHIVE_PASSPHRASE_BYTES))
    runs: int = 0

    # ------------------------------------------------------------ secrets
    @property
    def secrets(self) -> dict[str, str]:
        """Every secret of this world by name: none may appear in a log, a manifest or a clear file."""
        found = {
            "encryption key": self.key,
            "API key": self.api_key,
            "vault secret": self.controller.vault_secret,
            "archive passphrase": self.archive_passphrase,
        }
        found.update({f"credential secret {i + 1}": value for i, value in enumerate(self.seeded.secrets)})
        if self.postgres is not None and self.postgres.password:
            found["database password"] = self.postgres.password
        return found

    def assert_no_secret_in_log(self, run: PlaybookRun, extra: dict[str, str] | None = None) -> None:
        leaked = [name for name, value in {**self.secrets, **(extra or {})}.items() if value and value in run.log]
        assert not leaked, f"secrets in the -vvv log: {leaked}"

    def assert_clean_after(self, run: PlaybookRun, extra: dict[str, str] | None = None) -> None:
        """What every finished run, good or failed, must leave: no partial folder or lock, no secret
        in its -vvv log, and n8n serving."""
        assert not self.leftovers(), f"left behind: {self.leftovers()}"
        self.assert_no_secret_in_log(run, extra)
        self.assert_serving()

    # ------------------------------------------------------------ playbooks
    def run(self, playbook: str, host_extra: dict[str, Any] | None = None, api_key: bool = True, verbosity: int = 3,
            secret_vars: dict[str, Any] | None = None, **extra_vars: Any) -> PlaybookRun:
        """A playbook run with its own inventory file, so runs can overlap (Controller.run shares one)."""
        self.runs += 1
        tag = f"{self.site.name}-{self.runs}-{secrets.token_hex(3)}"
        root = self.controller.root
        inventory = write_inventory(root / f"inventory-{tag}.yml", {self.site.name: self.controller.host_vars(self.site, **(host_extra or {}))})
        secrets_file = write_secrets(
            root / f"secrets-{tag}.json",
            {"key_escrow_vault_secret": self.controller.vault_secret, "restore_vault_secret": self.controller.vault_secret,
             **({"lifeboat_n8n_api_key": self.api_key} if api_key else {}), **(secret_vars or {})},
        )
        try:
            return run_playbook(PLAYBOOKS / playbook, inventory=str(inventory), extra_vars=extra_vars, verbosity=verbosity,
                                args=["-e", f"@{secrets_file}"], env={"TMPDIR": str(self.tmp)})
        finally:
            inventory.unlink(missing_ok=True)
            secrets_file.unlink(missing_ok=True)

    def run_in_background(self, playbook: str, **kwargs: Any) -> Callable[[], PlaybookRun]:
        """Start a playbook in a thread; the returned function waits for its run."""
        box: list[Any] = []

        def target() -> None:
            try:
                box.append(self.run(playbook, **kwargs))
            except BaseException as exc:  # handed to the waiting test
                box.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()

        def wait(timeout: float = 1800) -> PlaybookRun:
            thread.join(timeout)
            assert box, f"{playbook} still runs after {timeout} s"
            if isinstance(box[0], BaseException):
                raise box[0]
            return box[0]  # type: ignore[no-any-return]

        return wait

    def restore(self, backup: Path, host_extra: dict[str, Any] | None = None, **extra_vars: Any) -> PlaybookRun:
        extra = {"restore_escrow_dir": str(self.controller.root / "escrow" / self.site.name), **(host_extra or {})}
        return self.run("restore.yml", host_extra=extra, restore_backup=str(backup), restore_confirm=True, **extra_vars)

    # ------------------------------------------------------------ places
    @property
    def tmp(self) -> Path:
        """The TMPDIR of this world's playbook runs: what they leave there is theirs alone."""
        path = self.controller.root / "tmp"
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    @property
    def host_root(self) -> Path:
        """backup_root on the managed host."""
        return self.controller.root / "host-backups" / self.site.name

    @property
    def fetched_root(self) -> Path:
        return self.controller.root / "backups" / self.site.name

    @property
    def instance(self) -> N8nInstance:
        assert self.site.instance is not None
        return self.site.instance

    def complete_backups(self) -> list[Path]:
        """Folders that claim to be complete backups, on the host and on the controller."""
        found = []
        for root in (self.host_root, self.fetched_root):
            if root.is_dir():
                found += [p for p in root.iterdir() if p.is_dir() and (p / "manifest.json").exists()]
        return sorted(found)

    def leftovers(self) -> list[Path]:
        """What a finished run must never leave behind in the host's backup root: partial folders and the lock."""
        if not self.host_root.is_dir():
            return []
        return sorted(p for p in self.host_root.iterdir() if p.name.endswith(".partial") or p.name == ".lock")

    # ------------------------------------------------------------ n8n
    def pid(self) -> int | None:
        assert self.site.state_file is not None
        return N8nInstance.load_state(self.site.state_file).pid

    def assert_serving(self, timeout: float = 60.0) -> None:
        """n8n runs and answers the seeded header-auth webhook with the right body (the key decrypts)."""
        reload(self.site)
        current = N8nInstance.load_state(self.site.state_file)  # type: ignore[arg-type]
        assert current.is_running(), "n8n is not running"
        deadline = time.monotonic() + timeout
        while True:
            try:
                ready = requests.get(f"{self.site.client.url}/healthz/readiness", timeout=5).status_code == 200
            except requests.RequestException:
                ready = False
            if ready or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert ready, "n8n does not answer /healthz/readiness"
        response = self.site.client.wait_webhook("lifeboat-echo", params=self.seeded.echo_params(), headers=self.seeded.echo_headers,
                                                 timeout=timeout)
        assert response.status_code == 200 and response.json() == Seeded.expected_echo(), response.text[:300]

    def workflow_ids(self) -> set[str]:
        self.site.client.api_key = self.api_key
        return {w["id"] for w in self.site.client.api("GET", "/workflows", params={"limit": 250})["data"]}

    def add_marker_workflow(self, name: str) -> str:
        """A workflow created after the backup: present after a rollback, absent after a restore."""
        self.site.client.api_key = self.api_key
        created = self.site.client.api("POST", "/workflows", json={
            "name": name, "nodes": [{"parameters": {}, "name": "Start", "type": "n8n-nodes-base.manualTrigger",
                                     "typeVersion": 1, "position": [0, 0]}],
            "connections": {}, "settings": {},
        })
        return str(created["id"])

    def db_fingerprint(self) -> tuple[Any, ...]:
        """What a restore would change: workflow ids and versions, credential blobs."""
        if self.postgres is None:
            return sqlite_fingerprint(self.instance.sqlite_path)
        with psycopg.connect(**_pg_kwargs(self.postgres)) as conn:
            workflows = conn.execute('SELECT id, "versionId" FROM workflow_entity ORDER BY id').fetchall()
            creds = conn.execute("SELECT id, data FROM credentials_entity ORDER BY id").fetchall()
        return tuple(map(tuple, workflows)), tuple(map(tuple, creds))

    def stop(self) -> None:
        self.site.stop()


def sqlite_fingerprint(path: Path) -> tuple[Any, ...]:
    """What a restore would change in an n8n SQLite database: workflow ids and versions, credential blobs."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        workflows = conn.execute('SELECT id, "versionId" FROM workflow_entity ORDER BY id').fetchall()
        creds = conn.execute("SELECT id, data FROM credentials_entity ORDER BY id").fetchall()
    return tuple(map(tuple, workflows)), tuple(map(tuple, creds))


def _pg_kwargs(config: pg.PostgresConfig) -> dict[str, Any]:
    return {"host": config.host, "port": config.port, "dbname": config.database, "user": config.user, "password": config.password,
            "autocommit": True}


def make_world(base: Path, name: str, db: str, extra_env: dict[str, str] | None = None) -> World:
    postgres = pg.create_database() if db == "postgres" else None
    folder = base / name
    folder.mkdir(parents=True)
    instance = N8nInstance(version=V2, base_dir=folder, postgres=postgres, extra_env=extra_env or {})
    try:
        instance.start()
    except BaseException:
        if postgres is not None:
            pg.drop_database(postgres)
        raise
    state = folder / "state.json"
    instance.save_state(state)
    site = Site(name=name, client=instance, host_vars=native_host_vars(instance, state), instance=instance, state_file=state)
    seeded = seed_site(site)
    api_key = str(instance.api_key)
    instance.save_state(state)
    controller = Controller(base / "controller")
    return World(name=name, controller=controller, site=site, seeded=seeded, api_key=api_key, key=str(instance.encryption_key),
                 postgres=postgres)


def close_world(world: World) -> None:
    world.stop()
    if world.postgres is not None:
        pg.drop_database(world.postgres)


# --------------------------------------------------------------------------- helpers


def generate_executions(config: pg.PostgresConfig, rows: int) -> None:
    """Copy a finished execution ``rows`` times with varied payloads (about 1 KiB of hex each).

    What a busy instance's history looks like to pg_dump: execution_data dominates the dump.
    """
    with psycopg.connect(**_pg_kwargs(config)) as conn:
        # Columns under a unique index (id, and on 2.x "deduplicationKey", which a schedule
        # trigger's execution carries) are left to their defaults: copying them would collide.
        unique = {r[0] for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = 'public.execution_entity'::regclass AND i.indisunique").fetchall()}
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'execution_entity' "
            "ORDER BY ordinal_position").fetchall() if r[0] not in unique]
        data_columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'execution_data' "
            "AND column_name NOT IN ('executionId', 'data') ORDER BY ordinal_position").fetchall()]
        template = conn.execute("SELECT id FROM execution_entity WHERE status = 'success' ORDER BY id LIMIT 1").fetchone()
        assert template, "the seed left no successful execution to copy"
        cols = ", ".join(f'"{c}"' for c in columns)
        dcols = ", ".join(f'd."{c}"' for c in data_columns)
        names = ", ".join(f'"{c}"' for c in data_columns)
        # One statement, keyed on the ids it inserted: n8n runs (its schedule fires every 15 s)
        # and adds executions of its own meanwhile, whose execution_data rows must not be touched.
        conn.execute(
            f"WITH new AS (INSERT INTO execution_entity ({cols}) SELECT {cols} FROM execution_entity e, "  # noqa: S608
            "generate_series(1, %s) WHERE e.id = %s RETURNING id) "
            f'INSERT INTO execution_data ("executionId", {names}, data) '
            f"SELECT new.id, {dcols}, '[{{\"pad\":\"1\"}},\"' || "
            "(SELECT string_agg(md5(random()::text || s::text || new.id::text), '') FROM generate_series(1, 32) s) || '\"]' "
            "FROM new CROSS JOIN (SELECT * FROM execution_data WHERE \"executionId\" = %s) d",
            (rows, template[0], template[0]),
        )
        conn.execute("ANALYZE")


def newest(root: Path) -> Path:
    folders = sorted(p for p in root.iterdir() if (p / "manifest.json").exists())
    assert folders, f"no complete backup in {root}"
    return folders[-1]


def copy_backup(backup: Path, dest_root: Path, new_id: str) -> Path:
    """A copy of a backup folder under a new id (manifest id rewritten, checksums untouched)."""
    dest = dest_root / new_id
    shutil.copytree(backup, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["id"] = new_id
    write_manifest(dest, manifest)
    return dest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    path = folder / "manifest.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(manifest, handle, indent=2)


def rehash_manifest(folder: Path) -> None:
    """Make the manifest agree with the artifacts as they are now (what a careless or hostile copy would do)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for artifact in manifest["artifacts"]:
        artifact["sha256"], artifact["size"] = hash_file(str(folder / artifact["path"]))
    write_manifest(folder, manifest)


def artifact(folder: Path, kind: str) -> Path:
    manifest = json.loads((folder / "manifest.json").read_text())
    record = next(a for a in manifest["artifacts"] if a["kind"] == kind)
    return folder / record["path"]


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (root only): a backup destination that really fills up."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def processes_matching(comm: str, *needles: str) -> list[int]:
    """pids of processes named ``comm`` whose command line contains every needle (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if name == comm and all(needle in cmdline for needle in needles):
            found.append(int(entry.name))
    return found


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def file_bytes(path: Path) -> bytes:
    """A file's bytes as a reader of the archive would see them: zstd archives decompressed."""
    data = path.read_bytes()
    if path.name.endswith(".zst"):
        data = subprocess.run(["zstd", "-q", "-dc", str(path)], capture_output=True, check=True).stdout
    return data


def secrets_in_tree(root: Path, secrets_: dict[str, str]) -> dict[str, list[str]]:
    """secret name -> files below ``root`` (relative paths) that contain it in clear."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = file_bytes(path)
        for name, value in secrets_.items():
            if value and value.encode() in data:
                found.setdefault(name, []).append(str(path.relative_to(root)))
    return found


def loose_modes(root: Path) -> list[str]:
    """Files or folders below ``root`` that anyone but their owner can read, or not owned by us."""
    problems = []
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        if st.st_mode & 0o077:
            problems.append(f"{path} {oct(st.st_mode & 0o777)}")
        if st.st_uid != os.getuid():
            problems.append(f"{path} owned by uid {st.st_uid}")
    return problems


def verify_backup(folder: Path) -> dict[str, Any]:
    """lifeboat.n8n.n8n_manifest state=verified on a backup folder, as a restore would run it."""
    result, _run = run_module("lifeboat.n8n.n8n_manifest", {"state": "verified", "backup_dir": str(folder)})
    return result
