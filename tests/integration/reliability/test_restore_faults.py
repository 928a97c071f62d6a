"""Faults while restoring (issue #6, cases 4, 5, 6, 7, 9 and 10), injected for real.

Refusals (damaged backups, wrong keys) run against the live world itself with
restore_confirm=true: they must stop in the pre-checks, with n8n never stopped (same pid)
and its data unchanged. Version skew is refused on other targets (an older 2.x, a 1.x), which
must keep their process, their data and their webhooks. Failures after the safety snapshot
must roll the target back to its previous data, proven by a workflow created after the
backup, and start n8n on it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from lifeboat_roles import native_site, seed_site
from n8n_harness import N8nInstance
from reliability_world import World, artifact, copy_backup, rehash_manifest, sqlite_fingerprint, write_manifest

# Worlds are built inside the first test that needs them (an n8n start, a seed, a backup):
# every test may take minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(2400)
# Its own group, apart from the backup faults: with -n 2 the SQLite cases then spread over both
# workers (each worker builds its own SQLite world; on one worker the two groups share it).
SQLITE = pytest.mark.xdist_group("reliability-sqlite-restore")
PG = pytest.mark.xdist_group("reliability-pg")


def _assert_refused_in_prechecks(run, *fragments: str) -> None:
    """The run failed with these words, before the restore's first changing step."""
    assert not run.ok, "the restore should have been refused"
    for fragment in fragments:
        assert fragment in run.log, f"{fragment!r} not in the log:\n{run.log[-4000:]}"
    assert "(4/8) Stop n8n and keep its current data aside" not in run.log, "the refusal came after the pre-checks"


def _assert_refused_untouched(world: World, run, before: tuple, pid: int | None, *fragments: str) -> None:
    _assert_refused_in_prechecks(run, *fragments)
    assert world.pid() == pid, "n8n was stopped for a refused restore"
    assert world.db_fingerprint() == before, "the target's data changed"
    world.assert_no_secret_in_log(run)
    world.assert_serving()


# ------------------------------------------------------------------------------------ case 4


def _flip_byte(folder: Path) -> None:
    database = artifact(folder, "database")
    data = bytearray(database.read_bytes())
    data[len(data) // 2] ^= 0x01
    database.write_bytes(bytes(data))


def _truncate(folder: Path) -> None:
    database = artifact(folder, "database")
    os.truncate(database, database.stat().st_size // 2)


def _remove_artifact(folder: Path) -> None:
    artifact(folder, "env").unlink()


def _newer_schema(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["schema_version"] = 2
    manifest["encryption"] = {"what": "a field this lifeboat.n8n does not know"}
    write_manifest(folder, manifest)


def _truncate_and_rehash(folder: Path) -> None:
    _truncate(folder)
    rehash_manifest(folder)


DAMAGES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "flipped-byte": (_flip_byte, ("checksum mismatch", "This backup must not be restored")),
    "truncated-dump": (_truncate, ("size mismatch", "truncated or changed after the backup", "This backup must not be restored")),
    "missing-artifact": (_remove_artifact, ("missing: environment.json does not exist", "This backup must not be restored")),
    "newer-manifest": (_newer_schema, ("schema_version 2, newer than the 1 this lifeboat.n8n", "Upgrade lifeboat.n8n")),
    # Checksums that agree with a truncated database (a copy re-hashed by hand): the key check reads it.
    "truncated-dump-consistent-manifest": (_truncate_and_rehash, ("Restore refused: the backup's database cannot be read",
                                                                  "This backup must not be restored", "Nothing was changed")),
}


@SQLITE
@pytest.mark.reliability_case("4")
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_backup_is_refused_in_preflight_and_the_target_is_untouched(sqlite_world: World, damage: str) -> None:
    world = sqlite_world
    assert world.backup is not None
    damage_fn, fragments = DAMAGES[damage]
    folder = copy_backup(world.backup, world.controller.root / "damaged", f"damaged-{damage}")
    try:
        damage_fn(folder)
        before, pid = world.db_fingerprint(), world.pid()
        run = world.restore(folder)
        _assert_refused_untouched(world, run, before, pid, *fragments)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------ case 5


def _tampered_escrow(world: World, other_key: str) -> Path:
    """The source's escrow, but its current version holds another key (the index still names the backup's)."""
    escrow = world.controller.root / "escrow" / world.site.name
    tampered = world.controller.root / "escrow-tampered"
    shutil.rmtree(tampered, ignore_errors=True)
    shutil.copytree(escrow, tampered)
    index = yaml.safe_load((tampered / "escrow.yml").read_text())
    current = tampered / index["current"]
    vault = VaultLib([("lifeboat", VaultSecret(world.controller.vault_secret.encode()))])
    body = yaml.safe_dump({"lifeboat_n8n_escrow": {"host": world.site.name, "fingerprint": index["versions"][-1]["fingerprint"],
                                                   "encryption_key": other_key}})
    current.write_bytes(vault.encrypt(body, vault_id="lifeboat"))
    return tampered


@SQLITE
@pytest.mark.reliability_case("5")
@pytest.mark.parametrize("fault", ["env-key-disagrees", "tampered-escrow", "wrong-vault-secret"])
def test_wrong_key_is_refused_before_any_change(sqlite_world: World, fault: str) -> None:
    world = sqlite_world
    assert world.backup is not None
    other_key = secrets.token_urlsafe(24)
    before, pid = world.db_fingerprint(), world.pid()
    env_file = world.instance.env_file
    original = env_file.read_text()
    try:
        if fault == "env-key-disagrees":
            env_file.write_text("".join(
                f"N8N_ENCRYPTION_KEY={other_key}\n" if line.startswith("N8N_ENCRYPTION_KEY=") else line
                for line in original.splitlines(keepends=True)))
            run = world.restore(world.backup)
            expected = ("Restore refused: n8n on sq gets N8N_ENCRYPTION_KEY from its environment", "Nothing was changed")
        elif fault == "tampered-escrow":
            run = world.restore(world.backup, host_extra={"restore_escrow_dir": str(_tampered_escrow(world, other_key))})
            expected = ("is not the key the backup was made with", "Nothing was changed")
        else:
            wrong_secret = secrets.token_urlsafe(20)
            run = world.restore(world.backup, secret_vars={"restore_vault_secret": wrong_secret})
            assert wrong_secret not in run.log
            expected = ("Restore refused", "restore_vault_secret", "Nothing was changed")
    finally:
        env_file.write_text(original)
    assert other_key not in run.log
    _assert_refused_untouched(world, run, before, pid, *expected)


# ------------------------------------------------------------------------------------ case 6


@SQLITE
@pytest.mark.reliability_case("6")
@pytest.mark.parametrize(("version", "verdict"), [("2.38.7", "downgrade"), ("1.123.81", "cross_major")])
def test_version_skew_is_refused_before_any_change(sqlite_world: World, n8n_factory: Any, version: str, verdict: str) -> None:
    """The world's 2.40.7 backup onto a seeded older 2.x (a downgrade) and onto a 1.x (cross-major):
    refused in the pre-checks, the target's n8n never stopped, its data and webhook as they were."""
    world = sqlite_world
    assert world.backup is not None
    target = native_site(n8n_factory, f"skew{verdict.replace('_', '')}", version)
    try:
        seeded = seed_site(target)
        assert target.instance is not None and target.state_file is not None
        before = sqlite_fingerprint(target.instance.sqlite_path)
        pid = N8nInstance.load_state(target.state_file).pid

        run = world.controller.run("restore.yml", target, host_extra={"restore_escrow_dir": str(world.controller.root / "escrow" / world.site.name)},
                                   restore_backup=str(world.backup), restore_confirm=True)

        _assert_refused_in_prechecks(run, f"Restore refused ({verdict})", "Nothing was changed")
        assert N8nInstance.load_state(target.state_file).pid == pid, "n8n was stopped for a refused restore"
        assert sqlite_fingerprint(target.instance.sqlite_path) == before, "the target's data changed"
        world.assert_no_secret_in_log(run)
        response = target.client.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers)
        assert response.status_code == 200, response.text[:300]
    finally:
        target.stop()


# ------------------------------------------------------------------------------------ case 7


@SQLITE
@pytest.mark.reliability_case("7")
def test_restore_failing_after_the_snapshot_rolls_back_sqlite(sqlite_world: World) -> None:
    """A backup whose database is internally broken (n8n's migration history emptied) but whose
    manifest agrees with it passes every pre-check; n8n then fails to start on it (it re-runs its
    first migration over existing tables), and the restore must put the previous data back."""
    world = sqlite_world
    assert world.backup is not None
    folder = copy_backup(world.backup, world.controller.root / "broken", f"broken-sqlite-{secrets.token_hex(3)}")
    subprocess.run(["sqlite3", str(artifact(folder, "database")), "DELETE FROM migrations;"], check=True)
    rehash_manifest(folder)
    marker = world.add_marker_workflow(f"lifeboat marker {secrets.token_hex(3)}")
    before = world.db_fingerprint()

    run = world.restore(folder, restore_ready_timeout=240)

    assert not run.ok
    assert f"The restore of backup {folder.name} onto sq failed at" in run.log
    assert "The target was rolled back to its previous data (kept in" in run.log and "and n8n runs again" in run.log
    world.assert_no_secret_in_log(run)
    world.assert_serving()
    assert marker in world.workflow_ids(), "the previous data (with the marker workflow) is not back"
    assert world.db_fingerprint() == before


@PG
@pytest.mark.reliability_case("7")
def test_restore_failing_half_way_in_postgres_rolls_back(pg_world: World, pg_backup: Path) -> None:
    """pg_restore refuses the dump half-way: a CHECK constraint calls a function that reads a table
    without its schema, which works in n8n's database but not under pg_restore's empty search_path.
    The checksums are consistent and the key check passes: the failure comes after the snapshot."""
    world = pg_world
    assert world.postgres is not None
    config = world.postgres
    folder = copy_backup(pg_backup, world.controller.root / "broken", f"broken-pg-{secrets.token_hex(3)}")
    conn_args = {"host": config.host, "port": config.port, "dbname": config.database, "user": config.user,
                 "password": config.password, "autocommit": True}
    with psycopg.connect(**conn_args) as conn:
        conn.execute("CREATE FUNCTION lifeboat_guard(text) RETURNS boolean LANGUAGE sql AS $$ SELECT count(*) >= 0 FROM settings $$")
        conn.execute("ALTER TABLE workflow_entity ADD CONSTRAINT lifeboat_guard CHECK (lifeboat_guard(name))")
    try:
        env = {**os.environ, "PGPASSWORD": config.password}
        subprocess.run(["pg_dump", "-Fc", "-Z1", "--no-owner", "--no-privileges", "-h", config.host, "-p", str(config.port),
                        "-U", config.user, "-f", str(artifact(folder, "database")), config.database], env=env, check=True)
    finally:
        with psycopg.connect(**conn_args) as conn:
            conn.execute("ALTER TABLE workflow_entity DROP CONSTRAINT lifeboat_guard")
            conn.execute("DROP FUNCTION lifeboat_guard(text)")
    rehash_manifest(folder)
    marker = world.add_marker_workflow(f"lifeboat marker {secrets.token_hex(3)}")
    before = world.db_fingerprint()

    run = world.restore(folder)

    assert not run.ok
    assert "Restore PostgreSQL" in run.log and "lifeboat_guard" in run.log
    assert "The target was rolled back to its previous data (kept in" in run.log and "and n8n runs again" in run.log
    world.assert_no_secret_in_log(run)
    world.assert_serving()
    assert marker in world.workflow_ids()
    assert world.db_fingerprint() == before
    shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------ case 9


@PG
@pytest.mark.reliability_case("9")
def test_wrong_database_password_fails_the_restore_cleanly(pg_world: World, pg_backup: Path) -> None:
    world = pg_world
    wrong = f"wrong-{secrets.token_hex(8)}"
    before = world.db_fingerprint()
    run = world.restore(pg_backup, host_extra={"lifeboat_n8n_database": {"password": wrong}})
    assert not run.ok
    assert "password authentication failed" in run.log
    assert "Nothing had been changed on the target" in run.log or "Nothing was changed" in run.log
    world.assert_no_secret_in_log(run, {"wrong password": wrong})
    world.assert_serving()
    assert world.db_fingerprint() == before


# ------------------------------------------------------------------------------------ case 10


@SQLITE
@pytest.mark.reliability_case("10")
def test_restoring_an_encrypted_backup_twice_gives_the_same_instance(sqlite_world: World, encrypted_backup: Path) -> None:
    """Also: restored files get the owner of n8n's folder and mode 0600, and the logs hold no secret."""
    world = sqlite_world
    n8n_folder = world.instance.n8n_folder
    nobody = 65534
    marker = world.add_marker_workflow(f"lifeboat marker {secrets.token_hex(3)}")  # gone after a restore
    expected_ids = world.workflow_ids() - {marker}
    os.chown(n8n_folder, nobody, nobody)  # n8n's folder belongs to another user than the one running Ansible

    results = []
    for attempt in (1, 2):
        run = world.restore(encrypted_backup, host_extra={"restore_archive_passphrase": world.archive_passphrase})
        assert run.ok, f"restore {attempt}:\n{run.log[-6000:]}"
        world.assert_no_secret_in_log(run)
        world.assert_serving()
        ids = world.workflow_ids()
        assert ids == expected_ids, f"restore {attempt}: workflows {ids} != {expected_ids}"
        results.append((ids, world.db_fingerprint()[1]))
        for name in ("config", "database.sqlite"):
            st = (n8n_folder / name).stat()
            assert (st.st_uid, st.st_mode & 0o777) == (nobody, 0o600), f"{name}: uid {st.st_uid} mode {oct(st.st_mode & 0o777)}"
        assert N8nInstance.load_state(world.site.state_file).config_key() == world.key  # type: ignore[arg-type]
        staged = world.controller.root / "staging" / world.site.name
        assert not staged.exists() or not any(staged.iterdir()), "decrypted artifacts left in the staging folder"
    assert results[0] == results[1], "a second restore of the same backup gave another instance"
    os.chown(n8n_folder, os.getuid(), os.getgid())
