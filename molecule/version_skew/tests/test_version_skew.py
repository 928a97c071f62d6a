"""version_skew: what the version pre-check refuses, what it allows, and that allowed
restores come up migrated and working.

verify = restores + checks, in this order (fixtures chain them):
  2.40.7 backup -> the running 2.38.7 instance      refused: downgrade; nothing changed
  1.123.81 backup -> the empty 2.40.7               refused: cross_major; nothing changed
  2.38.7 backup -> the same empty 2.40.7            restored, migrated forward
  1.123.81 backup -> the 2.40.7 instance, opted in  restored, migrated 1.x -> 2.x
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import testinfra
from fixtures import Database, Molecule, RestoredChecks, Run, config_key, echo, expected_echo

CONFIG = "/home/node/.n8n/config"
DB = "/home/node/.n8n/database.sqlite"
CONTAINER = {"skew-2407": "lbm-skew-2407", "skew-2387": "lbm-skew-2387", "skew-1123": "lbm-skew-1123", "skew-fresh": "lbm-skew-fresh"}
PORT = {"skew-2407": 25741, "skew-2387": 25742, "skew-1123": 25743, "skew-fresh": 25744}


def host(name: str) -> Any:
    return testinfra.get_host(f"docker://{CONTAINER[name]}")


def state(name: str) -> dict[str, Any]:
    """What a refused restore must leave exactly as it was: key, workflows and their versions,
    credentials, and the container (not restarted)."""
    n8n = host(name)
    database = Database(n8n, "sqlite", DB)
    credentials = database.rows("select id, data from credentials_entity order by id")
    return {
        "key": hashlib.sha256(config_key(n8n, CONFIG).encode()).hexdigest(),
        "workflows": database.rows('select id, active, "versionId", "activeVersionId" from workflow_entity order by id'),
        "credentials": [(c["id"], hashlib.sha256(c["data"].encode()).hexdigest()) for c in credentials],
        "started": n8n.check_output("cat /proc/1/stat | cut -d' ' -f22"),  # PID 1's start: unchanged unless restarted
    }


def refused(run: Run, verdict: str) -> None:
    assert not run.ok, "the restore was not refused"
    assert f"Restore refused ({verdict})" in run.log, run.tail()
    assert "Nothing was changed" in run.log


@pytest.fixture(scope="module")
def downgrade(mol: Molecule) -> tuple[Run, dict[str, Any]]:
    before = state("skew-2387")
    return mol.restore("skew-2387", "skew-2407", mol.seed("lbm-skew-2407")["api_key"], "downgrade"), before


@pytest.fixture(scope="module")
def cross_major(mol: Molecule) -> tuple[Run, dict[str, Any]]:
    before = state("skew-fresh")
    return mol.restore("skew-fresh", "skew-1123", mol.seed("lbm-skew-1123")["api_key"], "cross-major"), before


def test_a_downgrade_is_refused_and_changes_nothing(downgrade: tuple[Run, dict[str, Any]], mol: Molecule) -> None:
    run, before = downgrade
    refused(run, "downgrade")
    assert state("skew-2387") == before
    # The older instance still serves its own data.
    seeded = mol.seed("lbm-skew-2387")
    response = echo(mol.client("lbm-skew-2387", PORT["skew-2387"], "2.38.7", seeded["api_key"]), seeded)
    assert response.status_code == 200 and response.json() == expected_echo()


def test_a_cross_major_restore_is_refused_without_opt_in(cross_major: tuple[Run, dict[str, Any]]) -> None:
    run, before = cross_major
    refused(run, "cross_major")
    assert "restore_allow_cross_major" in run.log  # the refusal names the opt-in
    assert state("skew-fresh") == before


class TestForwardIntoANewerN8n(RestoredChecks):
    """2.38.7 backup into the empty 2.40.7: allowed, n8n migrates the schema forward."""

    @pytest.fixture(scope="class")
    def seeded(self, mol: Molecule) -> dict[str, Any]:
        return mol.seed("lbm-skew-2387")

    @pytest.fixture(scope="class")
    def manifest(self, mol: Molecule) -> dict[str, Any]:
        return mol.manifest(mol.newest_backup("skew-2387"))

    @pytest.fixture(scope="class")
    def restored(self, mol: Molecule, seeded: dict[str, Any], cross_major: tuple[Run, dict[str, Any]]) -> Run:
        run = mol.restore("skew-fresh", "skew-2387", seeded["api_key"], "forward")
        assert run.ok, run.tail()
        return run

    @pytest.fixture(scope="class")
    def n8n(self) -> Any:
        return host("skew-fresh")

    @pytest.fixture(scope="class")
    def config_path(self) -> str:
        return CONFIG

    @pytest.fixture(scope="class")
    def database(self, n8n: Any) -> Database:
        return Database(n8n, "sqlite", DB)

    @pytest.fixture(scope="class")
    def client(self, mol: Molecule, seeded: dict[str, Any], restored: Run) -> Any:
        return mol.client("lbm-skew-fresh", PORT["skew-fresh"], "2.40.7", seeded["api_key"])

    def test_allowed_as_forward(self, restored: Run) -> None:
        assert "Versions: forward" in restored.log
        assert "2.38.7 -> 2.40.7 (forward)" in restored.log

    def test_schema_migrated_forward(self, restored: Run, database: Database, manifest: dict[str, Any]) -> None:
        head = database.rows("select max(timestamp) as ts from migrations")[0]["ts"]
        assert head > manifest["n8n"]["migration_head"]["timestamp"], "n8n did not migrate the restored schema"
        versions = database.rows("select major, minor, patch from instance_version_history")
        assert {"major": 2, "minor": 40, "patch": 7} in versions


class TestCrossMajorWithOptIn(RestoredChecks):
    """1.123.81 backup into 2.40.7 with restore_allow_cross_major: n8n migrates 1.x to 2.x."""

    @pytest.fixture(scope="class")
    def seeded(self, mol: Molecule) -> dict[str, Any]:
        return mol.seed("lbm-skew-1123")

    @pytest.fixture(scope="class")
    def manifest(self, mol: Molecule) -> dict[str, Any]:
        return mol.manifest(mol.newest_backup("skew-1123"))

    @pytest.fixture(scope="class")
    def restored(self, mol: Molecule, seeded: dict[str, Any]) -> Run:
        run = mol.restore("skew-2407", "skew-1123", seeded["api_key"], "cross-major-opt-in", restore_allow_cross_major=True)
        assert run.ok, run.tail()
        return run

    @pytest.fixture(scope="class")
    def n8n(self) -> Any:
        return host("skew-2407")

    @pytest.fixture(scope="class")
    def config_path(self) -> str:
        return CONFIG

    @pytest.fixture(scope="class")
    def database(self, n8n: Any) -> Database:
        return Database(n8n, "sqlite", DB)

    @pytest.fixture(scope="class")
    def client(self, mol: Molecule, seeded: dict[str, Any], restored: Run) -> Any:
        return mol.client("lbm-skew-2407", PORT["skew-2407"], "2.40.7", seeded["api_key"])

    def test_allowed_as_cross_major(self, restored: Run) -> None:
        assert "1.123.81 -> 2.40.7 (cross_major)" in restored.log

    def test_schema_is_2x_now(self, restored: Run, database: Database) -> None:
        versions = database.rows("select major, minor, patch from instance_version_history")
        assert {"major": 2, "minor": 40, "patch": 7} in versions
