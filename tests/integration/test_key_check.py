"""lifeboat.n8n.n8n_key_check against real n8n: every pinned version, SQLite and PostgreSQL.

One instance per (version, database), seeded by the harness, serves every assertion of its
test, so nothing is shared between tests. Each test runs the module through real
ansible-playbook (check mode included) on the live database and on a backup artifact of it
(a SQLite copy, or a pg_dump custom-format file checked without the database), with the
right key and a wrong one, and greps the -vvv logs for the keys.

n8n 2.40.7 on PostgreSQL runs with N8N_ENV_FEAT_ENCRYPTION_KEY_ROTATION=true, so its
credentials are stored as ``<keyId>:<ciphertext>`` under a data-encryption key from
``deployment_key``: the check must unwrap that key with the instance key first.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from n8n_harness import N8nInstance, pinned_versions, seed
from n8n_harness.ansible import run_module
from n8n_harness.matrix import case_ids, version_db_cases

VERSIONS = pinned_versions()
DB_KINDS = ("sqlite", "postgres")
MODULE = "lifeboat.n8n.n8n_key_check"
ROTATION_FLAG = {"N8N_ENV_FEAT_ENCRYPTION_KEY_ROTATION": "true"}


def rows(instance: N8nInstance, query: str) -> list[tuple[Any, ...]]:
    if instance.postgres:
        cfg = instance.postgres
        with psycopg.connect(host=cfg.host, port=cfg.port, dbname=cfg.database, user=cfg.user, password=cfg.password) as conn:
            return conn.execute(query).fetchall()
    with sqlite3.connect(f"file:{instance.sqlite_path}?mode=ro", uri=True) as conn:
        return conn.execute(query).fetchall()


def backup_artifact(instance: N8nInstance, folder: Path) -> Path:
    """What a backup would leave: a pg_dump custom-format file, or a consistent SQLite copy."""
    if instance.postgres:
        cfg = instance.postgres
        dest = folder / "n8n.pgdump"
        env = {**os.environ, "PGPASSWORD": cfg.password}  # never on the command line
        subprocess.run(
            ["pg_dump", "-Fc", "-h", cfg.host, "-p", str(cfg.port), "-U", cfg.user, "-f", str(dest), cfg.database],
            env=env,
            check=True,
        )
        return dest
    dest = folder / "database.sqlite"
    with sqlite3.connect(f"file:{instance.sqlite_path}?mode=ro", uri=True) as src, sqlite3.connect(dest) as copy:
        src.backup(copy)  # n8n keeps running (WAL): the backup API gives a consistent copy
    return dest


def assert_passes(result: dict[str, Any], credential_ids: set[str], major: int) -> None:
    assert not result.get("failed"), result.get("msg")
    assert result["passed"] is True and result["failed_count"] == 0
    cred = result["categories"]["credentials"]
    assert (cred["ok"], cred["failed"]) == (len(credential_ids), 0)
    assert result["total"] >= len(credential_ids)
    assert result["key_fingerprint"].startswith("lbfp1:")
    assert "credentials_entity" in result["n8n_tables_found"]
    assert result["changed"] is False
    if major >= 2:
        assert "deployment_key" in result["n8n_tables_found"]


def assert_fails_naming(result: dict[str, Any], credential_ids: set[str], names: set[str]) -> None:
    assert result.get("failed") is True
    assert result["passed"] is False
    cred = result["categories"]["credentials"]
    assert (cred["ok"], cred["failed"]) == (0, len(credential_ids))
    assert set(cred["failed_ids"]) == credential_ids
    assert {f["name"] for f in cred["failures"]} == names
    assert {"credentials:" + i for i in credential_ids} <= set(result["failed_ids"])
    for cid in list(credential_ids)[:1]:
        assert cid in result["msg"]
    assert "escrow" in result["msg"]


@pytest.mark.parametrize(("version", "db"), version_db_cases(), ids=case_ids(version_db_cases()))
def test_key_check_on_live_database_and_backup_artifact(n8n_factory, tmp_path: Path, version: str, db: str) -> None:
    flagged = version == VERSIONS[0] and db == "postgres"
    instance = n8n_factory(version, db, extra_env=ROTATION_FLAG if flagged else {})
    instance.start(timeout=300)  # the test machine's two cores are shared with other n8n instances
    seeded = seed(instance)
    key = str(instance.encryption_key)
    wrong = "wrong-" + secrets.token_urlsafe(18)
    ids = set(seeded.credentials.values())
    names = set(seeded.credentials)
    stored = dict(rows(instance, "SELECT id, data FROM credentials_entity"))
    assert set(stored) == ids
    # The flagged instance stores <keyId>:<ciphertext>; every other one the legacy CBC form.
    assert all((":" in data) == flagged for data in stored.values())

    # ---- the live database, n8n running, in check mode: the same full result
    live = {"key": key, "database": instance.database_option()}
    result, run = run_module(MODULE, live, check=True, verbosity=3)
    assert_passes(result, ids, instance.major)
    assert key not in run.log

    if instance.major >= 2:
        # Real deployment_key rows: 2.40.7 wraps its signing secrets and data-encryption keys with
        # the instance key; 2.38.7 keeps signing secrets in plaintext (skipped, never failed).
        dk = result["categories"]["deployment_keys"]
        types = dict(rows(instance, "SELECT id, type FROM deployment_key"))
        assert dk["failed"] == 0 and dk["ok"] + dk["skipped"] == len(types)
        if version == "2.40.7":
            assert dk["ok"] >= 5  # signing.hmac, signing.jwt, signing.binary_data, two data_encryption rows
            assert dk["skipped_reasons"] == {"plaintext": 1}  # instance.id
        elif not flagged:
            assert dk["skipped_reasons"].get("plaintext") == len(types)

    # ---- a wrong key: fails, names every credential, and the key stays out of the log
    result, run = run_module(MODULE, {**live, "key": wrong}, verbosity=3)
    assert_fails_naming(result, ids, names)
    assert wrong not in run.log
    if instance.major >= 2 and version == "2.40.7":
        assert result["categories"]["deployment_keys"]["failed"] >= 5

    # fail_on_mismatch=false: the same report, the task does not fail
    result, _run = run_module(MODULE, {**live, "key": wrong, "fail_on_mismatch": False, "categories": ["credentials"]})
    assert not result.get("failed") and result["passed"] is False
    assert list(result["categories"]) == ["credentials"] and result["failed_count"] == len(ids)

    # ---- a backup artifact, read without the live database
    artifact = backup_artifact(instance, tmp_path)
    result, run = run_module(MODULE, {"key": key, "artifact": str(artifact)}, verbosity=3)
    assert_passes(result, ids, instance.major)
    assert str(artifact) in result["source"]
    assert key not in run.log
    result, run = run_module(MODULE, {"key": wrong, "artifact": str(artifact)}, verbosity=3)
    assert_fails_naming(result, ids, names)
    assert wrong not in run.log
