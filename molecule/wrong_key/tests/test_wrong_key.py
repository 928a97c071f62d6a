"""wrong_key: an escrow that does not give the backup's key; the restore refuses and the
target - a working, seeded n8n - is untouched.

verify = restores + checks:
  the target's own escrow (restore_source_host=wk-target): no version with the backup's key
  a forged escrow (restore_escrow_dir=escrow/forged): it names the backup's fingerprint, but
  its vault file decrypts to another key
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import testinfra
from fixtures import Database, Molecule, Run, assert_private_tree, config_key, credentials_plaintext, echo, expected_echo

SOURCE, TARGET = "wk-source", "wk-target"
CONTAINER = "lbm-wk-target"
PORT = 25752
CONFIG = "/home/node/.n8n/config"
DB = "/home/node/.n8n/database.sqlite"


@pytest.fixture(scope="module")
def n8n() -> Any:
    return testinfra.get_host(f"docker://{CONTAINER}")


@pytest.fixture(scope="module")
def database(n8n: Any) -> Database:
    return Database(n8n, "sqlite", DB)


def state(n8n: Any, database: Database) -> dict[str, Any]:
    """Key, workflows and their versions, credentials, the process: what a refusal must not touch."""
    credentials = database.rows("select id, data from credentials_entity order by id")
    return {
        "key": hashlib.sha256(config_key(n8n, CONFIG).encode()).hexdigest(),
        "workflows": database.rows('select id, active, "versionId", "activeVersionId" from workflow_entity order by id'),
        "credentials": [(c["id"], hashlib.sha256(c["data"].encode()).hexdigest()) for c in credentials],
        "started": n8n.check_output("cat /proc/1/stat | cut -d' ' -f22"),
    }


@pytest.fixture(scope="module")
def before(n8n: Any, database: Database) -> dict[str, Any]:
    return state(n8n, database)


@pytest.fixture(scope="module")
def other_escrow(mol: Molecule, before: dict[str, Any]) -> Run:
    """The target's own escrow given as the source's (restore_source_host picks the escrow)."""
    api_key = mol.seed("lbm-wk-n8n")["api_key"]
    return mol.restore(TARGET, TARGET, api_key, "other-escrow", backup=mol.newest_backup(SOURCE))


@pytest.fixture(scope="module")
def forged_escrow(mol: Molecule, other_escrow: Run) -> Run:
    api_key = mol.seed("lbm-wk-n8n")["api_key"]
    return mol.restore(TARGET, SOURCE, api_key, "forged-escrow", restore_escrow_dir=str(mol.ephemeral / "escrow" / "forged"))


def test_another_instances_escrow_is_refused(other_escrow: Run, mol: Molecule) -> None:
    assert not other_escrow.ok, "the restore was not refused"
    fingerprint = mol.manifest(mol.newest_backup(SOURCE))["key"]["fingerprint"]
    assert f"the backup was encrypted with key {fingerprint}" in other_escrow.log
    assert "Nothing was changed" in other_escrow.log


def test_an_escrow_holding_another_key_is_refused(forged_escrow: Run) -> None:
    assert not forged_escrow.ok, "the restore was not refused"
    assert "is not the key the backup was made with" in forged_escrow.log
    assert "Nothing was changed" in forged_escrow.log


class TestTargetUntouched:
    def test_key_data_and_process_unchanged(self, forged_escrow: Run, n8n: Any, database: Database, before: dict[str, Any]) -> None:
        assert state(n8n, database) == before

    def test_no_restore_folders_were_made(self, forged_escrow: Run, controller: Any, mol: Molecule) -> None:
        for folder in ("staging", "pre-restore"):
            assert not controller.file(str(mol.ephemeral / folder / TARGET)).exists, folder

    def test_still_serves_its_own_data(self, forged_escrow: Run, mol: Molecule, n8n: Any, database: Database, controller: Any) -> None:
        assert controller.docker(CONTAINER).is_running
        seeded = mol.seed(CONTAINER)
        client = mol.client(CONTAINER, PORT, "2.40.7", seeded["api_key"])
        response = echo(client, seeded)
        assert response.status_code == 200 and response.json() == expected_echo()
        plaintext = credentials_plaintext(database, config_key(n8n, CONFIG))
        assert all(any(secret in text for text in plaintext.values()) for secret in seeded["secrets"])

    def test_no_key_in_any_log(self, forged_escrow: Run, mol: Molecule, n8n: Any) -> None:
        source_seed, target_seed = mol.seed("lbm-wk-n8n"), mol.seed(CONTAINER)
        secrets = [config_key(n8n, CONFIG), source_seed["api_key"], target_seed["api_key"], (mol.secrets / "vault-secret").read_text()]
        for run in mol.runs:
            run.assert_no_secret(secrets)

    def test_escrows_are_private(self, forged_escrow: Run, mol: Molecule, controller: Any) -> None:
        assert_private_tree(controller, str(mol.ephemeral / "escrow"))
