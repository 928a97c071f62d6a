"""native: n8n installed with npm, run by systemd as the user n8n, restored through systemctl.

verify = restore + checks: side_effect deleted n8n's folder and systemd started n8n on nothing
(a key of its own, no workflows). lifeboat.n8n.restore then runs inside the container over the
docker connection, as it would over SSH on a VM: it stops the unit, puts the backup's database
and key in place for the unit's user, and starts the unit again.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra
from fixtures import Database, Molecule, RestoredChecks, Run, assert_private_dir, assert_private_tree, config_key

HOST = CONTAINER = "lbm-native"  # the managed host is the container itself
PORT = 25731
VERSION = "2.40.7"
UNIT = "n8n"
CONFIG = "/home/n8n/.n8n/config"
DB = "/home/n8n/.n8n/database.sqlite"


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


def unit_property(n8n: Any, name: str) -> str:
    return str(n8n.check_output(f"systemctl show --property {name} --value {UNIT}"))


@pytest.fixture(scope="module")
def fresh(n8n: Any, database: Database) -> dict[str, Any]:
    """The emptied instance before the restore: a key of its own, no workflows, its process."""
    return {
        "key": config_key(n8n, CONFIG),
        "workflows": database.rows("select id from workflow_entity"),
        "pid": unit_property(n8n, "MainPID"),
    }


@pytest.fixture(scope="module")
def restored(mol: Molecule, seeded: dict[str, Any], fresh: dict[str, Any]) -> Run:
    assert fresh["workflows"] == [], "side_effect left workflows behind"
    run = mol.restore(HOST, HOST, seeded["api_key"], "restore")
    assert run.ok, run.tail()
    return run


@pytest.fixture(scope="module")
def client(mol: Molecule, seeded: dict[str, Any], restored: Run) -> Any:
    return mol.client(CONTAINER, PORT, VERSION, seeded["api_key"])


class TestRestoredThroughSystemd(RestoredChecks):
    def test_the_backups_key_replaced_the_emptied_ones(self, restored: Run, n8n: Any, fresh: dict[str, Any]) -> None:
        assert config_key(n8n, CONFIG) != fresh["key"]

    def test_the_unit_was_restarted_and_runs(self, restored: Run, n8n: Any, fresh: dict[str, Any]) -> None:
        service = n8n.service(UNIT)
        assert service.is_running and service.is_enabled
        # Stopped and started by the restore (a new process), never by systemd after a crash.
        assert unit_property(n8n, "MainPID") not in ("0", fresh["pid"])
        assert unit_property(n8n, "NRestarts") == "0"

    def test_n8n_runs_as_its_user_and_owns_its_files(self, restored: Run, n8n: Any) -> None:
        pid = unit_property(n8n, "MainPID")
        assert n8n.check_output(f"ps -o user= -p {pid}").strip() == "n8n"
        # The restore wrote them as root over the docker connection: n8n must still own them.
        for path in (CONFIG, DB):
            assert n8n.file(path).user == "n8n", path
        assert n8n.file(DB).mode == 0o600

    def test_escrow_and_backups_are_private(self, restored: Run, mol: Molecule, controller: Any, n8n: Any) -> None:
        for folder in ("escrow", "backups", "secrets"):
            assert_private_tree(controller, str(mol.ephemeral / folder))
        # The backup as kept on the managed host (backup_root), as on a VM. Beside it, the
        # restore's pre-restore folder holds the emptied instance's files as they were.
        backup = mol.newest_backup(HOST)
        assert_private_dir(n8n, "/var/backups/lifeboat-n8n")
        assert_private_tree(n8n, f"/var/backups/lifeboat-n8n/{backup.name}")
        assert not controller.check_output(f"find {backup} -name config")
        assert controller.run(f"grep -rlF -- {config_key(n8n, CONFIG)} {backup}").rc == 1
