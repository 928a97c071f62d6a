"""The harness runs real n8n: every pinned version on SQLite and PostgreSQL.

Independent of the collection's own cipher code on purpose: the credential check uses
the `openssl` command line, so a bug in our cipher cannot hide a broken harness.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess

import psycopg
import pytest
from n8n_harness import N8nInstance, pinned_versions, seed
from n8n_harness.matrix import case_ids, version_db_cases

VERSIONS = pinned_versions()
DB_KINDS = ("sqlite", "postgres")


def credential_blobs(instance: N8nInstance) -> dict[str, str]:
    query = 'SELECT name, data FROM credentials_entity'
    if instance.postgres:
        cfg = instance.postgres
        with psycopg.connect(
            host=cfg.host, port=cfg.port, dbname=cfg.database, user=cfg.user, password=cfg.password
        ) as conn:
            return dict(conn.execute(query).fetchall())
    with sqlite3.connect(instance.sqlite_path) as conn:
        return dict(conn.execute(query).fetchall())


def openssl_decrypt(blob: str, key: str) -> tuple[int, str]:
    # The key travels in the environment, never in argv (ps would show it).
    result = subprocess.run(
        ["openssl", "enc", "-d", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-pass", "env:LIFEBOAT_KEY"],
        input=blob.encode(),
        capture_output=True,
        check=False,
        env={"LIFEBOAT_KEY": key, "PATH": "/usr/bin:/bin"},
    )
    # A wrong key yields "bad decrypt" or, rarely, valid padding around garbage bytes.
    return result.returncode, result.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize(("version", "db"), version_db_cases(), ids=case_ids(version_db_cases()))
def test_real_n8n_starts_seeds_serves_and_stops(n8n_factory, version: str, db: str) -> None:
    instance = n8n_factory(version, db)
    instance.start()
    assert instance.is_running()
    seeded = seed(instance)

    response = instance.webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers)
    assert response.status_code == 200, response.text
    assert response.json() == seeded.expected_echo()
    # The body is guarded by the credential: without the token, no body.
    assert instance.webhook("lifeboat-echo", params=seeded.echo_params()).status_code == 403

    blobs = credential_blobs(instance)
    assert set(blobs) == {"Lifeboat token", "Lifeboat basic", "Lifeboat custom"}
    returncode, plaintext = openssl_decrypt(blobs["Lifeboat token"], str(instance.encryption_key))
    assert returncode == 0
    assert seeded.token in plaintext
    returncode, plaintext = openssl_decrypt(blobs["Lifeboat token"], "not-the-key")
    assert returncode != 0 or seeded.token not in plaintext

    if instance.major >= 2:
        workflow = instance.api("GET", f"/workflows/{seeded.workflows['Lifeboat echo']}")
        assert workflow["activeVersionId"] == seeded.echo_published_version_id
        assert workflow["versionId"] == seeded.echo_draft_version_id != workflow["activeVersionId"]

    pid = instance.pid
    instance.stop()
    assert not instance.is_running()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group (task runner included) is gone


def test_failed_start_leaves_no_process(n8n_factory) -> None:
    # A second instance on the same database file with another key: n8n refuses to start.
    first = n8n_factory(VERSIONS[0], name="first")
    first.start()
    first.stop()
    clash = N8nInstance(version=VERSIONS[0], base_dir=first.base_dir, encryption_key="another-key")
    n8n_factory.instances.append(clash)
    with pytest.raises(Exception, match="Mismatching encryption keys"):
        clash.start(timeout=60)
    assert clash.pid is None
    assert not clash.is_running()
