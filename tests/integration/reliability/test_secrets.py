"""Secrets (issue #6): nothing secret in -vvv logs, manifests, archives or the controller's
folders; private file modes; a vault-encrypted escrow; encryption at rest.

What n8n itself keeps in clear inside its database is named here on purpose: the public API
keys (``user_api_keys``) and whatever flowed through an execution (the seed's echo call sends
its header-auth token, which execution data records). An archive in clear therefore holds
those two; the archive encrypted at rest holds nothing readable. docs/security.md explains.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from reliability_world import World, copy_backup, file_bytes, loose_modes, rehash_manifest, secrets_in_tree

# Worlds are built inside the first test that needs them (an n8n start, a seed, a backup):
# every test may take minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(2400)
# Its own group, apart from the backup faults: with -n 2 the SQLite cases then spread over both
# workers (each worker builds its own SQLite world; on one worker the two groups share it).
SQLITE = pytest.mark.xdist_group("reliability-sqlite-restore")

# Stored in clear by n8n itself, so present in a database artifact that is not encrypted at rest.
IN_N8N_DATABASE = {"API key", "credential secret 1"}


@SQLITE
@pytest.mark.reliability_case("S")
def test_backup_and_escrow_leave_no_secret_in_logs_manifests_or_files(sqlite_world: World) -> None:
    world = sqlite_world
    assert world.backup is not None and world.backup_run is not None
    backup_secrets = {name: value for name, value in world.secrets.items() if name != "archive passphrase"}

    # -vvv logs of the backup (which escrows the key first) and of a separate escrow run.
    world.assert_no_secret_in_log(world.backup_run)
    escrow_run = world.run("escrow.yml")
    assert escrow_run.ok, escrow_run.log[-4000:]
    world.assert_no_secret_in_log(escrow_run)

    for label, folder in (("controller", world.backup), ("host", world.host_root / world.backup.name)):
        found = secrets_in_tree(folder, backup_secrets)
        database = json.loads((folder / "manifest.json").read_text())
        db_path = next(a["path"] for a in database["artifacts"] if a["kind"] == "database")
        # Only n8n's own clear-text columns, and only inside the database artifact.
        assert set(found) <= IN_N8N_DATABASE, f"{label}: secrets outside what n8n stores in clear: {found}"
        assert all(files == [db_path] for files in found.values()), f"{label}: {found}"
        assert "manifest.json" not in str(found)
        assert not (folder / "config").exists() and not list(folder.rglob("config"))
        assert loose_modes(folder) == [], f"{label}: {loose_modes(folder)}"

    # The whole controller backup folder (every backup the world took) and the host's.
    for root in (world.fetched_root, world.host_root):
        for name, files in secrets_in_tree(root, {"encryption key": world.key, "vault secret": world.controller.vault_secret}).items():
            pytest.fail(f"{name} found in {files}")
        assert loose_modes(root) == [], loose_modes(root)

    # The escrow: vault-encrypted versions and an index of fingerprints, all 0600.
    escrow = world.controller.root / "escrow" / world.site.name
    vaulted = sorted(escrow.glob("*.vault"))
    assert vaulted and all(p.read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;lifeboat") for p in vaulted)
    assert secrets_in_tree(escrow, world.secrets) == {}
    assert loose_modes(escrow) == [], loose_modes(escrow)
    # n8n's own key file stays private (2.x writes it 0600; the restore writes it 0600 too).
    assert (world.instance.n8n_folder / "config").stat().st_mode & 0o077 == 0


@SQLITE
@pytest.mark.reliability_case("E")
def test_encrypted_backup_holds_nothing_readable_but_its_manifest(sqlite_world: World, encrypted_backup: Path) -> None:
    world = sqlite_world
    assert world.encrypted_backup_run is not None
    world.assert_no_secret_in_log(world.encrypted_backup_run)
    manifest = json.loads((encrypted_backup / "manifest.json").read_text())
    formats = {a["name"]: a["format"] for a in manifest["artifacts"]}
    assert formats and all(fmt.endswith(".lbenc") for fmt in formats.values()), formats
    assert {"database", "workflows", "environment"} <= set(formats)

    for folder in (encrypted_backup, world.host_root / encrypted_backup.name):
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        assert files == sorted(["manifest.json", *(a["path"] for a in manifest["artifacts"])]), files
        assert secrets_in_tree(folder, world.secrets) == {}, "a secret is readable in the encrypted backup"
        for path in folder.glob("*.lbenc"):
            data = file_bytes(path)
            assert data.startswith(b"LBN8NENC")
            for clear in (b"SQLite format 3", b"Lifeboat echo", b"lifeboat-echo", b"WEBHOOK_URL"):
                assert clear not in data, f"{clear!r} readable in {path.name}"
        assert loose_modes(folder) == [], loose_modes(folder)
    # The next backup diffs its workflow export against this encrypted one (decrypted aside, then removed).
    # That needs it to be the newest backup: this file runs last in the SQLite group (loadgroup keeps order).
    complete = [p for p in world.host_root.iterdir() if (p / "manifest.json").exists()]
    newest_on_host = max(complete, key=lambda p: (p / "manifest.json").stat().st_mtime).name
    assert newest_on_host == encrypted_backup.name, f"a backup ran after the encrypted one: {newest_on_host}"
    run = world.run("backup.yml", host_extra={"backup_archive_passphrase": world.archive_passphrase})
    assert run.ok, run.log[-6000:]
    world.assert_no_secret_in_log(run)
    decrypted = run.log.split("TASK [lifeboat.n8n.backup : Decrypt the previous (encrypted) export for the diff]")[1].split("TASK [")[0]
    assert "changed: [sq]" in decrypted, decrypted[-2000:]
    # The message, not the task's name (-vvv prints the name of the skipped task that would say it).
    assert "This backup's workflow export is not diffed" not in run.log
    assert not list(world.host_root.glob(".*.previous-export"))


@SQLITE
@pytest.mark.reliability_case("E")
@pytest.mark.parametrize("fault", ["no-passphrase", "wrong-passphrase", "altered-chunk-consistent-manifest"])
def test_encrypted_backup_is_refused_without_its_passphrase_or_when_altered(
    sqlite_world: World, encrypted_backup: Path, fault: str
) -> None:
    world = sqlite_world
    before, pid = world.db_fingerprint(), world.pid()
    folder = encrypted_backup
    host_extra = {"restore_archive_passphrase": world.archive_passphrase}
    if fault == "no-passphrase":
        host_extra = {}
        expected = ("is encrypted at rest", "Give restore_archive_passphrase")
    elif fault == "wrong-passphrase":
        host_extra = {"restore_archive_passphrase": "not-the-archive-passphrase"}
        expected = ("the passphrase is not the one this backup was encrypted with",)
    else:
        folder = copy_backup(encrypted_backup, world.controller.root / "damaged", "altered-encrypted")
        database = next(folder.glob("database*.lbenc"))
        data = bytearray(database.read_bytes())
        data[-100] ^= 0x01  # inside the last chunk, checksums then made to agree
        database.write_bytes(bytes(data))
        rehash_manifest(folder)
        expected = ("fails authentication: the file was altered, damaged or truncated",)
    try:
        run = world.restore(folder, host_extra=host_extra)
        assert not run.ok
        for fragment in (*expected, "Restore refused", "Nothing was changed"):
            assert fragment in run.log, f"{fragment!r} not in:\n{run.log[-4000:]}"
        assert "(4/8) Stop n8n and keep its current data aside" not in run.log
        assert "not-the-archive-passphrase" not in run.log
        world.assert_no_secret_in_log(run)
        assert world.pid() == pid and world.db_fingerprint() == before
        # No decrypted copy left behind on the controller's temporary folder.
        if fault != "no-passphrase":  # decrypting was tried, in a folder under this world's TMPDIR
            assert f"{world.tmp}/lifeboat-n8n-keycheck." in run.log
        assert not list(world.tmp.glob("lifeboat-n8n-keycheck.*")), "a decrypted copy was left in the controller's TMPDIR"
        world.assert_serving()
    finally:
        if folder != encrypted_backup:
            shutil.rmtree(folder, ignore_errors=True)
