"""playbooks/backup.yml then playbooks/restore.yml against real n8n, end to end.

Each scenario backs up a seeded deployment (native on SQLite or PostgreSQL, or Docker
containers with a PostgreSQL container), then restores it onto a *fresh* deployment with
no prior n8n data, another port and so another WEBHOOK_URL, and checks what a user would:
credentials decrypt, the same workflows are active and registered, the published
activeVersionId is kept, the webhook answers through its credential, the schedule
trigger fires again, and -vvv logs carry no secret.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from lifeboat_roles import (
    Controller,
    Site,
    assert_no_secret,
    docker_site,
    executions_of,
    native_site,
    reload,
    seed_site,
    wait_for_new_execution,
)
from n8n_harness import N8nInstance, Seeded
from n8n_harness.matrix import case_ids, role_cases

V2 = "2.40.7"
V1 = "1.123.81"
NATIVE_CASES = role_cases(V2, V1)


def check_backup_folder(backup: Path, key: str) -> dict:
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["key"] == {"fingerprint": manifest["key"]["fingerprint"]}
    kinds = {a["kind"] for a in manifest["artifacts"]}
    assert "database" in kinds and "workflow_export" in kinds
    for path in backup.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the key is in {path}"
            if path.name.endswith(".tar.zst"):
                continue
        assert path.name != "config"
    return manifest


def restore_and_check(controller: Controller, src: Site, dst: Site, seeded: Seeded, api_key: str, key: str) -> None:
    backup = controller.newest_backup(src)
    run = controller.run(
        "restore.yml",
        dst,
        api_key=api_key,
        host_extra={"restore_escrow_dir": str(controller.root / "escrow" / src.name)},
        restore_backup=str(backup),
        restore_confirm=True,
    )
    assert run.ok, run.log[-6000:]
    assert_no_secret(run, [key, api_key, *seeded.secrets])
    assert "Restore of backup" in run.log and "verified" in run.log
    reload(dst)
    client = dst.client
    client.api_key = api_key  # the backed-up instance's API keys are the valid ones now

    # The webhook answers through its credential (so the key and the data match).
    response = client.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers)
    assert response.status_code == 200, response.text
    assert response.json() == Seeded.expected_echo()

    # Same active set; on 2.x the published version, not the draft.
    workflows = {w["id"]: w for w in client.api("GET", "/workflows", params={"limit": 250})["data"]}
    assert set(workflows) == set(seeded.workflows.values())
    active = {w["name"] for w in workflows.values() if w["active"]}
    assert active == {"Lifeboat echo", "Lifeboat tick", "Lifeboat slow"}
    echo = workflows[seeded.workflows["Lifeboat echo"]]
    if seeded.echo_draft_version_id:
        assert echo["activeVersionId"] == seeded.echo_published_version_id
        assert echo["versionId"] == seeded.echo_draft_version_id

    # The schedule trigger fires again on the restored instance.
    tick = seeded.workflows["Lifeboat tick"]
    before = {str(e["id"]) for e in executions_of(client, tick)}
    wait_for_new_execution(client, tick, before, timeout=60)


def backup(controller: Controller, site: Site, seeded: Seeded, api_key: str, key: str) -> Path:
    run = controller.run("backup.yml", site, api_key=api_key)
    assert run.ok, run.log[-6000:]
    assert_no_secret(run, [key, api_key, *seeded.secrets])
    assert "downtime" in run.log
    folder = controller.newest_backup(site)
    check_backup_folder(folder, key)
    return folder


# Each scenario runs several playbooks and starts two or more n8n: minutes, not seconds.
pytestmark = pytest.mark.timeout(1800)


# make test: 2.40.7 on PostgreSQL and 1.123.81 on SQLite; 2.40.7 on SQLite is also the Molecule
# native scenario and `make demo`, 1.123.81 on PostgreSQL the container test below.
# LIFEBOAT_FULL_MATRIX=1 runs all four.
@pytest.mark.parametrize(("version", "db"), NATIVE_CASES, ids=case_ids(NATIVE_CASES))
def test_native_backup_then_restore_onto_a_fresh_host(n8n_factory, tmp_path: Path, version: str, db: str) -> None:
    controller = Controller(tmp_path / "controller")
    src = native_site(n8n_factory, "src", version, db)
    try:
        seeded = seed_site(src)
        api_key = str(src.client.api_key)
        key = str(src.instance.encryption_key)  # type: ignore[union-attr]
        backup(controller, src, seeded, api_key, key)
        # The escrow holds the key, vault-encrypted, and nothing else in clear.
        escrow = controller.root / "escrow" / src.name
        vaulted = [p for p in escrow.iterdir() if p.suffix == ".vault"]
        assert len(vaulted) == 1 and vaulted[0].read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;lifeboat")
        assert oct(vaulted[0].stat().st_mode & 0o777) == "0o600"

        dst = native_site(n8n_factory, "dst", version, db, key_in_config=True)  # fresh: own key, empty data
        try:
            restore_and_check(controller, src, dst, seeded, api_key, key)
            assert N8nInstance.load_state(dst.state_file).config_key() == key  # type: ignore[arg-type]
        finally:
            dst.stop()
    finally:
        src.stop()


# 2.40.7 in containers (SQLite, compose-style PostgreSQL, queue mode) is covered by the Molecule
# scenarios; this covers the 1.x line in containers with PostgreSQL in a container.
@pytest.mark.docker
@pytest.mark.parametrize("version", [V1])
def test_docker_backup_then_restore_onto_fresh_containers(tmp_path: Path, version: str) -> None:
    controller = Controller(tmp_path / "controller")
    tag = version.replace(".", "")
    src = docker_site(f"lbsrc{tag}", version, db="postgres")
    try:
        seeded = seed_site(src)
        api_key = str(src.client.api_key)
        key = src.key
        backup(controller, src, seeded, api_key, key)
        # A fresh pair: its own PostgreSQL, no data, deployed with the escrowed key (as users do).
        dst = docker_site(f"lbdst{tag}", version, db="postgres", encryption_key=key)
        try:
            restore_and_check(controller, src, dst, seeded, api_key, key)
        finally:
            dst.stop()
    finally:
        src.stop()


def test_refusals_leave_the_target_untouched(n8n_factory, tmp_path: Path) -> None:
    """Downgrade, cross-major and a wrong escrowed key are refused before anything changes."""
    controller = Controller(tmp_path / "controller")
    src = native_site(n8n_factory, "src", V2)
    targets: list[Site] = []
    try:
        seeded = seed_site(src)
        api_key = str(src.client.api_key)
        key = str(src.instance.encryption_key)  # type: ignore[union-attr]
        backup(controller, src, seeded, api_key, key)
        newest = controller.newest_backup(src)

        cases = [("older", "2.38.7", "downgrade"), ("v1", V1, "cross_major")]
        for name, version, verdict in cases:
            target = native_site(n8n_factory, name, version)
            targets.append(target)
            marker = seed_site(target)
            db_before = _fingerprint_db(target)
            run = controller.run(
                "restore.yml",
                target,
                host_extra={"restore_escrow_dir": str(controller.root / "escrow" / src.name)},
                restore_backup=str(newest),
                restore_confirm=True,
            )
            assert not run.ok
            assert f"Restore refused ({verdict})" in run.log
            assert "Nothing was changed" in run.log
            assert target.client.wait_webhook("lifeboat-echo", params=marker.echo_params(), headers=marker.echo_headers).status_code == 200
            assert _fingerprint_db(target) == db_before

        # A wrong key, given directly or through an escrow that lacks the backup's key: restoring
        # onto the source itself (same version) must be refused and change nothing.
        db_before = _fingerprint_db(src)
        empty_escrow = controller.root / "escrow" / "nobody"
        empty_escrow.mkdir()
        for host_extra, expected in (
            ({"restore_encryption_key": "not-the-backup-key"}, "is not the key the backup was made with"),
            ({"restore_escrow_dir": str(empty_escrow)}, "Point restore_escrow_dir"),
        ):
            run = controller.run("restore.yml", src, host_extra=host_extra, restore_backup=str(newest), restore_confirm=True)
            assert not run.ok
            assert "Restore refused" in run.log and expected in run.log
            assert "Nothing was changed" in run.log
            assert_no_secret(run, [key, "not-the-backup-key"])
            assert src.client.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers).status_code == 200
            assert _fingerprint_db(src) == db_before
    finally:
        for target in targets:
            target.stop()
        src.stop()


def _fingerprint_db(site: Site) -> tuple:
    """What the target holds: workflow ids, versions and credential blobs (a restore would change them)."""
    assert site.instance is not None
    with sqlite3.connect(f"file:{site.instance.sqlite_path}?mode=ro", uri=True) as conn:
        workflows = conn.execute('SELECT id, "versionId" FROM workflow_entity ORDER BY id').fetchall()
        creds = conn.execute("SELECT id, data FROM credentials_entity ORDER BY id").fetchall()
    return tuple(workflows), tuple(creds)
