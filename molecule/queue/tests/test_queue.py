"""queue: main + worker + Redis + PostgreSQL; every n8n process quiesced; restored and executing.

verify = restore + checks: lifeboat.n8n.restore into the redeployed, empty queue-mode
containers, then the checks. In queue mode the schedule trigger and the echo webhook are
executed by the worker, so their checks also prove the worker runs on the restored data.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import testinfra
from fixtures import Database, Molecule, RestoredChecks, Run, assert_private_tree, wait_for_tick

HOST = "docker-host"
MAIN, WORKER, POSTGRES, REDIS = "lbm-queue-n8n", "lbm-queue-worker", "lbm-queue-postgres", "lbm-queue-redis"
PORT = 25721
VERSION = "2.40.7"


def moment(value: str) -> datetime:
    """Docker's RFC 3339 timestamps (nanoseconds) as datetimes (microseconds)."""
    head, _dot, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]:0<6}+00:00")


@pytest.fixture(scope="module")
def n8n() -> Any:
    return testinfra.get_host(f"docker://{MAIN}")


@pytest.fixture(scope="module")
def config_path() -> str:
    return "/home/node/.n8n/config"


@pytest.fixture(scope="module")
def database() -> Database:
    return Database(testinfra.get_host(f"docker://{POSTGRES}"), "postgres")


@pytest.fixture(scope="module")
def seeded(mol: Molecule) -> dict[str, Any]:
    return mol.seed(MAIN)


@pytest.fixture(scope="module")
def manifest(mol: Molecule) -> dict[str, Any]:
    return mol.manifest(mol.newest_backup(HOST))


@pytest.fixture(scope="module")
def processes(mol: Molecule) -> dict[str, dict[str, Any]]:
    """Docker's State of main and worker before and after the backup (converge.yml records them)."""
    return {when: json.loads((mol.ephemeral / f"processes-{when}.json").read_text()) for when in ("before", "after")}


@pytest.fixture(scope="module")
def restored(mol: Molecule, seeded: dict[str, Any], database: Database) -> Run:
    assert database.rows("select id from workflow_entity") == [], "the redeployed PostgreSQL is not empty"
    run = mol.restore(HOST, HOST, seeded["api_key"], "restore")
    assert run.ok, run.tail()
    return run


@pytest.fixture(scope="module")
def client(mol: Molecule, seeded: dict[str, Any], restored: Run) -> Any:
    return mol.client(MAIN, PORT, VERSION, seeded["api_key"])


def test_backup_stopped_every_n8n_process(processes: dict[str, dict[str, Any]]) -> None:
    before, after = processes["before"], processes["after"]
    for name in (MAIN, WORKER):
        assert before[name]["Running"] and after[name]["Running"], name
        # Stopped after it had started, started again after it had stopped: quiesced and resumed.
        assert moment(before[name]["StartedAt"]) < moment(after[name]["FinishedAt"]) < moment(after[name]["StartedAt"]), name
        assert after[name]["ExitCode"] == 0, f"{name} did not stop gracefully"


def test_main_stopped_before_the_worker_and_started_after_it(processes: dict[str, dict[str, Any]]) -> None:
    after = processes["after"]
    # Main first, so nothing new is queued while the worker drains; on resume the worker first.
    assert moment(after[MAIN]["FinishedAt"]) < moment(after[WORKER]["FinishedAt"])
    assert moment(after[WORKER]["StartedAt"]) < moment(after[MAIN]["StartedAt"])


def test_backup_manifest_records_queue_mode(manifest: dict[str, Any]) -> None:
    assert manifest["env"].get("EXECUTIONS_MODE") == "queue"


class TestRestoredIntoTheRedeployedQueue(RestoredChecks):
    def test_every_container_runs(self, restored: Run, controller: Any) -> None:
        for name in (MAIN, WORKER, POSTGRES, REDIS):
            assert controller.docker(name).is_running, name

    def test_the_worker_executes_after_the_restore(self, restored: Run, controller: Any, client: Any, seeded: dict[str, Any]) -> None:
        execution = wait_for_tick(client, seeded["workflows"]["Lifeboat tick"], after=restored.finished - 1)
        log = controller.run(f"docker logs --since {int(restored.started)} {WORKER}")
        assert f"execution {execution['id']}" in log.stdout + log.stderr, "the worker did not log the execution"

    def test_backups_and_escrow_are_private(self, restored: Run, mol: Molecule, controller: Any) -> None:
        for folder in ("escrow", "backups", "secrets", f"host-backups/{HOST}"):
            assert_private_tree(controller, str(mol.ephemeral / folder))
