"""postgres: a compose-style n8n + PostgreSQL pair restored onto a fresh pair.

verify = restore + checks: lifeboat.n8n.restore onto compose project lbm-pgnew (the old
pair is switched off), then what a user would check.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra
from fixtures import Database, Molecule, RestoredChecks, Run, assert_private_tree

SOURCE, TARGET = "pg-source", "pg-target"  # inventory hosts (the docker host, per compose project)
N8N, POSTGRES = "lbm-pgnew-n8n", "lbm-pgnew-postgres"
OLD = ("lbm-pg-n8n", "lbm-pg-postgres")
PORT = 25712
VERSION = "2.40.7"


@pytest.fixture(scope="module")
def n8n() -> Any:
    return testinfra.get_host(f"docker://{N8N}")


@pytest.fixture(scope="module")
def config_path() -> str:
    return "/home/node/.n8n/config"


@pytest.fixture(scope="module")
def database() -> Database:
    return Database(testinfra.get_host(f"docker://{POSTGRES}"), "postgres")


@pytest.fixture(scope="module")
def seeded(mol: Molecule) -> dict[str, Any]:
    return mol.seed("lbm-pg-n8n")


@pytest.fixture(scope="module")
def manifest(mol: Molecule) -> dict[str, Any]:
    return mol.manifest(mol.newest_backup(SOURCE))


@pytest.fixture(scope="module")
def restored(mol: Molecule, seeded: dict[str, Any], database: Database) -> Run:
    assert database.rows("select id from workflow_entity") == [], "the fresh PostgreSQL is not empty"
    run = mol.restore(TARGET, SOURCE, seeded["api_key"], "restore")
    assert run.ok, run.tail()
    return run


@pytest.fixture(scope="module")
def client(mol: Molecule, seeded: dict[str, Any], restored: Run) -> Any:
    return mol.client(N8N, PORT, VERSION, seeded["api_key"])


class TestRestoredOntoAFreshPair(RestoredChecks):
    def test_found_as_a_compose_project(self, restored: Run) -> None:
        assert "compose deployment, regular mode, database postgresdb" in restored.log
        assert f"processes: {N8N}" in restored.log

    def test_the_new_address_is_reported_and_probed(self, restored: Run) -> None:
        # Another port, so another WEBHOOK_URL: reported, and the webhooks probed there.
        assert "Environment drift: WEBHOOK_URL" in restored.log
        assert f"webhooks answering (OPTIONS probe)      2/2 at http://127.0.0.1:{PORT}/" in restored.log

    def test_new_pair_runs_old_pair_is_off(self, restored: Run, controller: Any) -> None:
        for name in (N8N, POSTGRES):
            assert controller.docker(name).is_running, name
        for name in OLD:
            assert not controller.docker(name).is_running, name

    def test_dump_was_taken_in_the_database_container(self, mol: Molecule, manifest: dict[str, Any]) -> None:
        database = next(a for a in manifest["artifacts"] if a["kind"] == "database")
        assert (database["path"], database["format"]) == ("database.pgdump", "pg_custom")

    def test_backups_and_escrow_are_private(self, restored: Run, mol: Molecule, controller: Any) -> None:
        for folder in ("escrow", "backups", "secrets", f"host-backups/{SOURCE}"):
            assert_private_tree(controller, str(mol.ephemeral / folder))
