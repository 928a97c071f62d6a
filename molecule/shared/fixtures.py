"""What every scenario's testinfra tests share: the run's folders, restores, n8n's state.

A scenario's ``tests/conftest.py`` puts ``molecule/shared`` on ``sys.path`` and does
``from fixtures import *``. Molecule runs the tests (verify) with its environment:
``MOLECULE_EPHEMERAL_DIRECTORY`` (backups, escrow, seed files, logs of this run) and
``ANSIBLE_CONFIG``, so the restore runs here with exactly the inventory converge used.

Hosts are reached with testinfra: ``docker://<container>`` for the platforms and fresh
targets, ``local://`` for the controller (the docker host).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import testinfra
from lifeboat_molecule import decrypt_credential, write_private
from n8n_harness.containers import ContainerN8n
from n8n_harness.seed import TOKEN_HEADER, Seeded

__all__ = [
    "Molecule",
    "Run",
    "Database",
    "RestoredChecks",
    "assert_private_dir",
    "assert_private_tree",
    "config_key",
    "controller",
    "credentials_plaintext",
    "echo",
    "expected_echo",
    "mol",
    "n8n_state",
    "wait_for_tick",
]


# Seconds one playbook run may take (the verifiers' per-test timeout in molecule.yml is longer).
PLAYBOOK_TIMEOUT = 1800


def _text(captured: str | bytes | None) -> str:
    """What a timed-out run had written: on POSIX, TimeoutExpired holds bytes even in text mode."""
    if isinstance(captured, bytes):
        return captured.decode(errors="replace")
    return captured or ""


@dataclass
class Run:
    """One ansible-playbook run: return code, full -vvv log (kept 0600 in logs/)."""

    rc: int
    log: str
    log_path: Path
    started: float
    finished: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.splitlines()[-lines:])

    def assert_no_secret(self, secrets: list[str]) -> None:
        for secret in secrets:
            assert secret and secret not in self.log, f"a secret appears in {self.log_path}"


@dataclass
class Molecule:
    """This run of the scenario: its ephemeral folder and Molecule inventory."""

    ephemeral: Path
    scenario: str
    runs: list[Run] = field(default_factory=list)

    @property
    def inventory(self) -> Path:
        return self.ephemeral / "inventory"

    @property
    def secrets(self) -> Path:
        return self.ephemeral / "secrets"

    def seed(self, container: str) -> dict[str, Any]:
        """What prepare (or side_effect) seeded into a container: ids, webhook token, API key."""
        data: dict[str, Any] = json.loads((self.secrets / f"seed-{container}.json").read_text())
        return data

    def client(self, container: str, port: int, version: str, api_key: str | None) -> ContainerN8n:
        return ContainerN8n(version=version, name=container, port=port, api_key=api_key)

    def backups(self, host: str) -> list[Path]:
        """Complete backups fetched to the controller for an inventory host, oldest first."""
        root = self.ephemeral / "backups" / host
        return sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []

    def newest_backup(self, host: str) -> Path:
        found = self.backups(host)
        assert found, f"converge fetched no backup of {host} to {self.ephemeral / 'backups' / host}"
        return found[-1]

    @staticmethod
    def manifest(backup: Path) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((backup / "manifest.json").read_text())
        return data

    def playbook(self, playbook: str, label: str, limit_hosts: str, extra_vars: dict[str, Any]) -> Run:
        """ansible-playbook at -vvv, extra vars (secrets among them) through a 0600 file."""
        logs = self.ephemeral / "logs"
        logs.mkdir(mode=0o700, exist_ok=True)
        vars_file = self.secrets / f"{label}.vars.json"
        write_private(vars_file, {"lifeboat_hosts": limit_hosts, **extra_vars})
        cmd = ["ansible-playbook", "-i", str(self.inventory), playbook, "-e", f"@{vars_file}", "-vvv"]
        started = time.time()
        env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, check=False, env=env)
            rc, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as timed_out:
            # A failed Run whose tail shows where the playbook was, rather than a bare timeout.
            rc = -1
            output = _text(timed_out.stdout) + _text(timed_out.stderr) + f"\n(killed after {PLAYBOOK_TIMEOUT} s)\n"
        finished = time.time()
        log_path = logs / f"{label}.log"
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(output)
        run = Run(rc, output, log_path, started, finished)
        self.runs.append(run)
        return run

    def restore(self, target: str, source: str, api_key: str, label: str, *, backup: Path | None = None, confirm: bool = True, **extra: Any) -> Run:
        """The collection's restore playbook, as a user runs it: -e restore_backup=... -e restore_confirm=true."""
        return self.playbook(
            "lifeboat.n8n.restore",
            label,
            target,
            {
                "restore_backup": str(backup or self.newest_backup(source)),
                "restore_confirm": confirm,
                "restore_source_host": source,  # its escrow holds the backup's key
                "lifeboat_n8n_api_key": api_key,  # the backed-up instance's keys are the valid ones after a restore
                **extra,
            },
        )


@pytest.fixture(scope="session")
def mol() -> Molecule:
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if not ephemeral:
        pytest.fail("Run these tests through Molecule (molecule verify / molecule test): MOLECULE_EPHEMERAL_DIRECTORY is not set")
    return Molecule(Path(ephemeral), os.environ.get("MOLECULE_SCENARIO_NAME", "?"))


@pytest.fixture(scope="session")
def controller() -> Any:
    """The controller, which is also the docker host of the docker scenarios."""
    return testinfra.get_host("local://")


# --------------------------------------------------------------------- checks
def assert_private_dir(host: Any, root: str) -> None:
    top = host.file(root)
    assert top.is_directory, f"{root} is missing"
    assert top.mode == 0o700, f"{root} is {oct(top.mode)}, expected 0o700"


def assert_private_tree(host: Any, root: str) -> None:
    """``root`` is a private folder and nothing below it is readable by group or others."""
    assert_private_dir(host, root)
    loose = host.check_output(f"find {root} -perm /077 -printf '%m %p\\n'")
    assert loose == "", f"readable by others under {root}:\n{loose}"


@dataclass
class Database:
    """n8n's database, queried with its own client inside its container (read-only for SQLite)."""

    host: Any  # testinfra host of the container holding the database
    engine: str  # sqlite | postgres
    where: str = ""  # SQLite: the file; PostgreSQL: unused (the container's POSTGRES_* env names it)

    def rows(self, query: str) -> list[dict[str, Any]]:
        if self.engine == "sqlite":
            out = self.host.check_output(f"sqlite3 -readonly -json {self.where} {shlex.quote(query)}")
        else:
            # The official-image-style env of the PostgreSQL container names the database and
            # its owner; the password stays in the container's environment.
            wrapped = f"select coalesce(json_agg(t), '[]'::json) from ({query}) t"  # noqa: S608 - the tests' own queries
            psql = f'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Atq -c {shlex.quote(wrapped)}'
            out = self.host.check_output(f"sh -c {shlex.quote(psql)}")
        rows: list[dict[str, Any]] = json.loads(out or "[]")
        return rows


def credentials_plaintext(database: Database, key: str) -> dict[str, str]:
    """Every credential decrypted with ``key``, by name (raises if one does not decrypt)."""
    rows = database.rows("select name, data from credentials_entity")
    return {row["name"]: decrypt_credential(row["data"], key) for row in rows}


def config_key(host: Any, path: str) -> str:
    key: str = json.loads(host.file(path).content_string)["encryptionKey"]
    return key


def n8n_state(client: ContainerN8n) -> dict[str, Any]:
    """Workflows as n8n serves them (public API, with the backed-up instance's API key)."""
    workflows = client.api("GET", "/workflows", params={"limit": 250})["data"]
    return {"workflows": {w["id"]: w for w in workflows}}


def wait_for_tick(client: ContainerN8n, workflow_id: str, after: float, timeout: float = 180.0) -> dict[str, Any]:
    """A successful execution of the schedule trigger that started after ``after`` (epoch seconds).

    The schedule fires every 15 s: it only runs if n8n registered the trigger of the
    restored workflow, so this is the "triggers fire after a restore" proof. The timeout is
    many ticks long: in queue mode a tick also waits for the worker, on a loaded CI machine.
    """
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = client.api("GET", "/executions", params={"workflowId": workflow_id, "limit": 20})["data"]
        for execution in seen:
            # startedAt is null while an execution is still "new" (created, not yet running):
            # on a loaded host the API can list a tick in that state. It is not done yet, so wait.
            if not execution.get("startedAt") or execution.get("status") != "success":
                continue
            started = datetime.fromisoformat(execution["startedAt"].replace("Z", "+00:00"))
            if started.timestamp() > after:
                return execution
        time.sleep(3)
    raise AssertionError(f"no new successful execution of {workflow_id} within {timeout:.0f} s: {seen[:3]}")


def echo(client: ContainerN8n, seeded: dict[str, Any], timeout: float = 60.0) -> requests.Response:
    """The seeded echo webhook, through its header-auth credential (the body comes from a Code node)."""
    return client.wait_webhook("lifeboat-echo", params=Seeded.echo_params(), headers={TOKEN_HEADER: seeded["token"]}, timeout=timeout)


def expected_echo() -> dict[str, Any]:
    return Seeded.expected_echo()


class RestoredChecks:
    """What every successful restore must show. A scenario's ``Test...`` class inherits these
    and provides the fixtures they use:

    ``restored``  the restore's Run;  ``client``  the restored n8n over HTTP, with the source's
    API key;  ``seeded``  what prepare seeded into the source;  ``manifest``  the restored
    backup's manifest;  ``n8n``  testinfra host holding n8n's user folder;  ``config_path``
    its .n8n/config;  ``database``  the restored database.
    """

    def test_restore_reports_verified(self, restored: Run) -> None:
        assert "Restore of backup" in restored.log and ": verified" in restored.log

    def test_no_secret_in_any_log(self, mol: Molecule, restored: Run, seeded: dict[str, Any], n8n: Any, config_path: str) -> None:
        secrets = [config_key(n8n, config_path), seeded["api_key"], *seeded["secrets"], (mol.secrets / "vault-secret").read_text()]
        for run in mol.runs:
            run.assert_no_secret(secrets)

    def test_key_file_is_private(self, restored: Run, n8n: Any, config_path: str) -> None:
        assert n8n.file(config_path).mode == 0o600

    def test_credentials_decrypt(self, restored: Run, n8n: Any, config_path: str, database: Database, seeded: dict[str, Any]) -> None:
        plaintext = credentials_plaintext(database, config_key(n8n, config_path))
        assert sorted(plaintext) == sorted(seeded["credentials"])
        for secret in seeded["secrets"]:
            assert any(secret in text for text in plaintext.values()), "a credential lost its value"

    def test_counts_equal_the_manifest(self, client: ContainerN8n, manifest: dict[str, Any]) -> None:
        workflows = n8n_state(client)["workflows"]
        assert len(workflows) == manifest["counts"]["workflows"]
        active = {w["id"] for w in workflows.values() if w["active"]}
        assert len(active) == manifest["counts"]["active_workflows"]
        assert active == {w["id"] for w in manifest["workflows"] if w["active"]}

    def test_published_version_is_kept(self, client: ContainerN8n, seeded: dict[str, Any], manifest: dict[str, Any]) -> None:
        echo_wf = n8n_state(client)["workflows"][seeded["workflows"]["Lifeboat echo"]]
        recorded = next(w for w in manifest["workflows"] if w["name"] == "Lifeboat echo")
        if seeded["echo_draft_version_id"]:  # 2.x: a published version and a newer draft
            assert echo_wf["activeVersionId"] == seeded["echo_published_version_id"] == recorded["active_version_id"]
            assert echo_wf["versionId"] == seeded["echo_draft_version_id"]  # the draft stays a draft
        else:  # a 1.x backup: no published versions yet; the workflow's version is kept
            assert echo_wf["versionId"] == recorded["version_id"]

    def test_webhook_answers_through_its_credential(self, client: ContainerN8n, seeded: dict[str, Any]) -> None:
        response = echo(client, seeded)
        assert response.status_code == 200, response.text
        assert response.json() == expected_echo()

    def test_schedule_trigger_fires_after_the_restore(self, client: ContainerN8n, seeded: dict[str, Any], restored: Run) -> None:
        wait_for_tick(client, seeded["workflows"]["Lifeboat tick"], after=restored.finished - 1)
