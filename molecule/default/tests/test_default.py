"""default: a SQLite n8n restored into a new, empty container of the same definition.

verify = restore + checks: the restore runs here with the collection's playbook, first
with pre-checks only (nothing may change), then for real; the checks follow.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra
from fixtures import Database, Molecule, RestoredChecks, Run, assert_private_dir, assert_private_tree, config_key

CONTAINER = "lbm-default-n8n"
PORT = 25701
VERSION = "2.40.7"
HOST = "docker-host"  # the inventory host (the docker host) that describes the container
CONFIG = "/home/node/.n8n/config"
DB = "/home/node/.n8n/database.sqlite"


@pytest.fixture(scope="module")
def n8n() -> Any:
    return testinfra.get_host(f"docker://{CONTAINER}")


@pytest.fixture(scope="module")
def config_path() -> str:
    return CONFIG


@pytest.fixture(scope="module")
def database(n8n: Any) -> Database:
    return Database(n8n, "sqlite", DB)


@pytest.fixture(scope="module")
def seeded(mol: Molecule) -> dict[str, Any]:
    return mol.seed(CONTAINER)


@pytest.fixture(scope="module")
def manifest(mol: Molecule) -> dict[str, Any]:
    return mol.manifest(mol.newest_backup(HOST))


@pytest.fixture(scope="module")
def fresh(n8n: Any, database: Database) -> dict[str, Any]:
    """The new container before any restore: a key of its own, no workflows."""
    return {"key": config_key(n8n, CONFIG), "workflows": database.rows("select id from workflow_entity")}


@pytest.fixture(scope="module")
def precheck(mol: Molecule, seeded: dict[str, Any], fresh: dict[str, Any]) -> Run:
    """restore.yml without restore_confirm: every pre-check, nothing changed."""
    return mol.restore(HOST, HOST, seeded["api_key"], "precheck", confirm=False)


@pytest.fixture(scope="module")
def restored(mol: Molecule, seeded: dict[str, Any], precheck: Run) -> Run:
    run = mol.restore(HOST, HOST, seeded["api_key"], "restore")
    assert run.ok, run.tail()
    return run


@pytest.fixture(scope="module")
def client(mol: Molecule, seeded: dict[str, Any], restored: Run) -> Any:
    return mol.client(CONTAINER, PORT, VERSION, seeded["api_key"])


def test_precheck_changes_nothing(precheck: Run, n8n: Any, database: Database, fresh: dict[str, Any]) -> None:
    assert precheck.ok, precheck.tail()
    assert "Pre-checks passed" in precheck.log and "Nothing was changed" in precheck.log
    assert config_key(n8n, CONFIG) == fresh["key"]
    assert database.rows("select id from workflow_entity") == fresh["workflows"] == []


class TestRestoredIntoANewContainer(RestoredChecks):
    def test_the_backups_key_replaced_the_new_containers(self, restored: Run, n8n: Any, fresh: dict[str, Any]) -> None:
        assert config_key(n8n, CONFIG) != fresh["key"]

    def test_container_runs(self, restored: Run, controller: Any) -> None:
        assert controller.docker(CONTAINER).is_running
        assert controller.check_output(f"docker inspect -f '{{{{.RestartCount}}}}' {CONTAINER}") == "0"

    def test_database_file_is_private(self, restored: Run, n8n: Any) -> None:
        assert n8n.file(DB).mode == 0o600

    def test_escrow_and_backups_are_private(self, restored: Run, mol: Molecule, controller: Any, n8n: Any) -> None:
        # The escrow (vault files), the fetched and the host copy of the backup, the run's secrets.
        for folder in ("escrow", "backups", "secrets", f"host-backups/{HOST}"):
            assert_private_tree(controller, str(mol.ephemeral / folder))
        # The target's previous files are moved aside as they were, into a private folder.
        assert_private_dir(controller, str(mol.ephemeral / "pre-restore" / HOST))
        vaults = controller.check_output(f"find {mol.ephemeral}/escrow/{HOST} -name '*.vault'").split()
        assert vaults, "no escrowed key"
        for vault in vaults:
            assert controller.file(vault).content_string.startswith("$ANSIBLE_VAULT;1.2;AES256;lifeboat")
        # A backup never holds the key file, nor the key in any of its files.
        backup = mol.newest_backup(HOST)
        assert not controller.check_output(f"find {backup} -name config")
        assert controller.run(f"grep -rlF -- {config_key(n8n, CONFIG)} {backup}").rc == 1
