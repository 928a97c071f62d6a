"""Faults while backing up (issue #6, cases 1, 2, 3, 5, 8, 9 and 10), injected for real.

Every case checks the same promises: the run fails with a message that says what to do,
n8n serves afterwards (and was never stopped when the refusal comes before the quiesce),
no folder claims to be a complete backup unless it is one, no partial folder or lock is
left, and the -vvv log holds no secret.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest
from n8n_harness.ansible import run_playbook
from n8n_harness.inventory import write_inventory
from n8n_harness.launcher import free_port
from reliability_world import PLAYBOOKS, World, kill, newest, processes_matching, tmpfs, verify_backup, wait_for

# Worlds are built inside the first test that needs them (an n8n start, a seed, a backup):
# every test may take minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(2400)
SQLITE = pytest.mark.xdist_group("reliability-sqlite")
PG = pytest.mark.xdist_group("reliability-pg")
MiB = 1024 * 1024


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _assert_failed_cleanly(world: World, run, backup_id: str) -> None:
    assert not run.ok, "the backup should have failed"
    assert f"Backup {backup_id} of {world.site.name} failed and was removed (no partial backup remains)" in run.log
    assert "n8n is running. Fix the cause and run the backup again." in run.log
    assert not [p for p in world.complete_backups() if p.name.startswith(backup_id)], "a failed backup is marked complete"
    world.assert_clean_after(run)


# ------------------------------------------------------------------------------------ case 1


@PG
@pytest.mark.reliability_case("1")
def test_pg_dump_killed_mid_way_leaves_no_complete_backup_and_the_next_succeeds(pg_world: World) -> None:
    world = pg_world
    assert world.postgres is not None
    backup_id = f"killed-{secrets.token_hex(4)}"
    dump = world.host_root / f"{backup_id}.partial" / "database.pgc"
    wait = world.run_in_background("backup.yml", backup_id=backup_id)

    def pg_dump_writing() -> list[int]:
        pids = processes_matching("pg_dump", world.postgres.database)  # type: ignore[union-attr]
        return pids if pids and dump.exists() and dump.stat().st_size > MiB else []

    pids = wait_for(pg_dump_writing, timeout=900, interval=0.05, what="pg_dump writing the dump")
    written = dump.stat().st_size
    for pid in pids:
        kill(pid)
    run = wait()

    _assert_failed_cleanly(world, run, backup_id)
    assert written > MiB  # it was killed mid-way, with part of the dump on disk
    assert "pg_dump" in run.log

    # The next backup succeeds, complete and verified on the host and on the controller.
    again = world.run("backup.yml")
    assert again.ok, again.log[-6000:]
    world.assert_no_secret_in_log(again)
    world.backup = newest(world.fetched_root)
    assert (world.host_root / world.backup.name / "manifest.json").exists()
    assert not world.leftovers()
    world.assert_serving()


# ------------------------------------------------------------------------------------ case 2


@PG
@pytest.mark.reliability_case("2")
def test_full_destination_fails_cleanly_and_removes_the_partial_backup(pg_world: World, tmp_path: Path) -> None:
    """pg_dump runs out of space on a 2 MiB tmpfs: the run fails naming it, n8n resumes, nothing is left."""
    world = pg_world
    backup_id = f"full-{secrets.token_hex(4)}"
    with tmpfs(tmp_path / "small", "2m") as small:
        run = world.run("backup.yml", host_extra={"backup_root": str(small)}, backup_id=backup_id)
        assert not run.ok
        assert "No space left on device" in run.log
        assert f"Backup {backup_id} of {world.site.name} failed and was removed (no partial backup remains)" in run.log
        assert sorted(p.name for p in small.iterdir()) == [], f"left in the full destination: {list(small.iterdir())}"
    assert not [p for p in world.complete_backups() if p.name.startswith(backup_id)]
    world.assert_no_secret_in_log(run)
    world.assert_serving()


@SQLITE
@pytest.mark.reliability_case("2")
def test_destination_too_small_for_the_database_is_refused_before_n8n_stops(sqlite_world: World, tmp_path: Path) -> None:
    world = sqlite_world
    pid = world.pid()
    database = world.instance.sqlite_path.stat().st_size
    size_kib = max(64, database // 2048)  # half the database
    with tmpfs(tmp_path / "small", f"{size_kib}k") as small:
        run = world.run("backup.yml", host_extra={"backup_root": str(small)})
        assert not run.ok
        assert f"Not enough space in {small}" in run.log and "Free space, lower backup_retention_count, or point backup_root elsewhere" in run.log
        assert list(small.iterdir()) == []
    assert world.pid() == pid, "n8n was stopped for a backup refused in its pre-checks"
    world.assert_no_secret_in_log(run)
    world.assert_serving()


# ------------------------------------------------------------------------------------ case 3


@SQLITE
@pytest.mark.reliability_case("3")
def test_execution_outlasting_the_drain_fails_naming_it_and_force_proceeds(sqlite_world: World) -> None:
    world = sqlite_world
    lock = world.host_root / ".lock"
    pid = world.pid()

    # The 'Lifeboat slow' webhook keeps an execution running for 60 s; the drain waits 6.
    backup_id = f"drain-{secrets.token_hex(4)}"
    wait = world.run_in_background("backup.yml", backup_id=backup_id, quiesce_drain_timeout=6, quiesce_drain_poll_interval=1)
    wait_for(lock.exists, timeout=900, what="the backup lock")
    assert world.site.client.webhook("lifeboat-slow", params={"seconds": "60"}).status_code == 200
    run = wait()
    assert not run.ok
    assert "still in progress after 6 s" in run.log and "(Lifeboat slow)" in run.log
    assert "raise quiesce_drain_timeout, or set quiesce_drain_force=true" in run.log
    # n8n was never stopped: resume neither starts it nor waits for a start that never comes.
    assert "n8n was never stopped and is serving as before" in run.log
    assert "Cannot confirm that n8n activated its workflows" not in run.log
    _assert_failed_cleanly(world, run, backup_id)
    assert world.pid() == pid, "n8n was stopped although the drain failed"

    # The documented way to proceed anyway: quiesce_drain_force.
    forced_id = f"forced-{secrets.token_hex(4)}"
    wait = world.run_in_background("backup.yml", backup_id=forced_id, quiesce_drain_timeout=3, quiesce_drain_poll_interval=1,
                                   quiesce_drain_force=True)
    wait_for(lock.exists, timeout=900, what="the backup lock")
    assert world.site.client.webhook("lifeboat-slow", params={"seconds": "60"}).status_code == 200
    run = wait()
    assert run.ok, run.log[-6000:]
    assert "quiesce_drain_force is set: stopping n8n with" in run.log
    # n8n's graceful shutdown (30 s) cut the 60 s execution: the backup found it in its SQLite
    # copy after resume, and said that n8n marks it crashed.
    assert "execution(s) were still in progress when n8n stopped" in run.log, run.log[-6000:]
    assert (world.fetched_root / forced_id / "manifest.json").exists()
    world.assert_clean_after(run)


# ------------------------------------------------------------------------------------ case 5


@SQLITE
@pytest.mark.reliability_case("5")
def test_env_key_disagreeing_with_config_is_refused_by_backup_and_escrow(sqlite_world: World) -> None:
    """The deployment's env file names another key than .n8n/config: refused before n8n is touched."""
    world = sqlite_world
    env_file = world.instance.env_file
    original = env_file.read_text()
    other_key = secrets.token_urlsafe(24)
    pid = world.pid()
    escrow = world.controller.root / "escrow" / world.site.name
    escrow_before = _folder_digest(escrow)
    backups_before = world.complete_backups()
    try:
        env_file.write_text("".join(
            f"N8N_ENCRYPTION_KEY={other_key}\n" if line.startswith("N8N_ENCRYPTION_KEY=") else line
            for line in original.splitlines(keepends=True)))
        backup = world.run("backup.yml")
        escrow_run = world.run("escrow.yml")
    finally:
        env_file.write_text(original)
    for run in (backup, escrow_run):
        assert not run.ok
        world.assert_no_secret_in_log(run, {"other key": other_key})
    # backup.yml escrows the key first, so the escrow's refusal is the one a user sees there too.
    for run in (backup, escrow_run):
        assert "The encryption key sources of sq disagree" in run.log and "fix the other source, then escrow" in run.log
        assert "Nothing was changed" in run.log
    assert world.pid() == pid
    assert _folder_digest(escrow) == escrow_before, "the escrow changed"
    assert world.complete_backups() == backups_before
    assert not world.leftovers()
    world.assert_serving()


# ------------------------------------------------------------------------------------ case 8


@SQLITE
@pytest.mark.reliability_case("8")
def test_two_backups_at_once_one_fails_clearly_one_waits_neither_corrupts(sqlite_world: World) -> None:
    """A runs; B (no wait) fails on the lock; C waits for the lock, with A's id (two runs started
    in the same second get the same default id): C must refuse, not merge into or replace A."""
    world = sqlite_world
    lock = world.host_root / ".lock"
    first = f"conc-{secrets.token_hex(4)}"
    wait_a = world.run_in_background("backup.yml", backup_id=first)
    wait_for(lock.exists, timeout=900, what="the first backup's lock")
    wait_b = world.run_in_background("backup.yml", backup_id=f"conc-{secrets.token_hex(4)}")
    wait_c = world.run_in_background("backup.yml", backup_id=first, backup_lock_wait=900)
    run_b = wait_b()
    run_a = wait_a()
    run_c = wait_c()

    assert run_a.ok, run_a.log[-6000:]
    assert not run_b.ok
    assert f"Another lifeboat.n8n backup of this n8n is running: backup {first} started" in run_b.log
    assert "Wait for it to finish and run again, or set backup_lock_wait" in run_b.log
    assert f"remove {lock}" in run_b.log and "Nothing was changed: n8n was not stopped." in run_b.log
    assert not run_c.ok
    assert "s for another backup to release" in run_c.log  # it waited
    assert f"Backup {first} already exists in {world.host_root}: another run completed it while this one" in run_c.log
    for run in (run_a, run_b, run_c):
        world.assert_no_secret_in_log(run)

    # A's backup is complete and intact on the host and on the controller.
    for folder in (world.host_root / first, world.fetched_root / first):
        check = verify_backup(folder)
        assert not check.get("failed") and not check.get("problems"), check.get("msg")
    assert not world.leftovers()
    world.assert_serving()


@SQLITE
@pytest.mark.reliability_case("8")
def test_a_stale_lock_left_by_a_killed_run_is_taken_over(sqlite_world: World) -> None:
    """A run killed with SIGKILL leaves its lock: its process is gone, so the next run takes it over and says so."""
    world = sqlite_world
    lock = world.host_root / ".lock"
    dead = subprocess.Popen(["ansible-playbook", "--version"], stdout=subprocess.DEVNULL)  # a real, finished "ansible" pid
    dead.wait()
    lock.write_text(json.dumps({"format": 1, "backup_id": "killed-run", "started": time.time() - 3600, "started_at": "earlier",
                                "user": "root", "host": socket.gethostname(), "process": {"pid": dead.pid, "start": 1},
                                "token": "0123456789abcdef"}))
    lock.chmod(0o600)
    run = world.run("backup.yml")
    assert run.ok, run.log[-6000:]
    assert f"Took over the stale backup lock {lock}: its holder's process is gone (backup killed-run started" in run.log
    world.assert_clean_after(run)


# ------------------------------------------------------------------------------------ case 9


@PG
@pytest.mark.reliability_case("9")
def test_wrong_database_password_is_refused_before_n8n_stops(pg_world: World) -> None:
    world = pg_world
    wrong = f"wrong-{secrets.token_hex(8)}"
    pid = world.pid()
    before = world.complete_backups()
    run = world.run("backup.yml", host_extra={"lifeboat_n8n_database": {"password": wrong}})
    assert not run.ok
    assert "password authentication failed" in run.log
    assert "Cannot" in run.log
    assert world.pid() == pid, "n8n was stopped although the database could not be read"
    assert world.complete_backups() == before
    world.assert_clean_after(run, {"wrong password": wrong})


@pytest.mark.reliability_case("9")
@pytest.mark.parametrize("address", ["refused", "unresolvable"])
def test_unreachable_host_fails_clearly_and_nothing_is_half_done(tmp_path: Path, address: str) -> None:
    host_vars = {
        "ansible_connection": "ssh",
        "ansible_host": "127.0.0.1" if address == "refused" else "lifeboat-nowhere.invalid",
        "ansible_port": free_port(),
        "ansible_user": "lifeboat",
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes -o StrictHostKeyChecking=no",
        "lifeboat_n8n_deployment": "native",
        "lifeboat_n8n_service_manager": "command",
        "lifeboat_n8n_start_command": "true",
        "lifeboat_n8n_stop_command": "true",
        "backup_root": str(tmp_path / "host-backups"),
        "backup_fetch": True,
        "backup_fetch_dest": str(tmp_path / "backups"),
        "key_escrow_dir": str(tmp_path / "escrow"),
        "restore_staging_dir": str(tmp_path / "staging"),
        "restore_snapshot_root": str(tmp_path / "snapshots"),
    }
    inventory = write_inventory(tmp_path / "inventory.yml", {"far": host_vars})
    secret = secrets.token_urlsafe(20)
    for playbook, extra in (("backup.yml", {"key_escrow_vault_secret": secret}), ("escrow.yml", {"key_escrow_vault_secret": secret}),
                            ("restore.yml", {"restore_backup": str(tmp_path / "nothing"), "restore_confirm": True})):
        run = run_playbook(PLAYBOOKS / playbook, inventory=str(inventory), extra_vars=extra, verbosity=3)
        assert not run.ok
        assert "UNREACHABLE!" in run.log and "far" in run.log
        assert "Failed to connect to the host via ssh" in run.log or "Could not resolve hostname" in run.log
        assert secret not in run.log
        left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.name != "inventory.yml")
        assert left == [], f"{playbook} left {left}"


# ------------------------------------------------------------------------------------ case 10


@SQLITE
@pytest.mark.reliability_case("10")
def test_rerunning_a_backup_with_the_same_id_is_refused_and_escrow_rerun_changes_nothing(sqlite_world: World) -> None:
    world = sqlite_world
    assert world.backup is not None
    pid = world.pid()
    host_copy = world.host_root / world.backup.name
    before = (_folder_digest(host_copy), _folder_digest(world.backup))
    run = world.run("backup.yml", backup_id=world.backup.name)
    assert not run.ok
    assert f"Backup {world.backup.name} already exists in {world.host_root}; it was left untouched" in run.log
    assert (_folder_digest(host_copy), _folder_digest(world.backup)) == before
    assert world.pid() == pid
    world.assert_no_secret_in_log(run)

    escrow = world.controller.root / "escrow" / world.site.name
    escrow_before = _folder_digest(escrow)
    again = world.run("escrow.yml")
    assert again.ok, again.log[-4000:]
    assert "changed=0" in again.log.split("PLAY RECAP")[-1]
    assert _folder_digest(escrow) == escrow_before
    world.assert_no_secret_in_log(again)
    world.assert_serving()
