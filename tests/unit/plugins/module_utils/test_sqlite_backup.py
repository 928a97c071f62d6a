"""Consistent copies of live WAL-mode SQLite databases (no n8n: a writer thread plays n8n)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import threading
from collections import namedtuple
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _sqlite_backup as sb

DiskUsage = namedtuple("DiskUsage", "total used free")


def make_wal_db(path: Path, rows: int = 2000) -> sqlite3.Connection:
    """A WAL database whose newest rows sit only in the -wal file; the returned writer keeps it so."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # as after a busy period: nothing checkpointed
    conn.execute("CREATE TABLE workflow_entity (id INTEGER PRIMARY KEY, name TEXT, nodes TEXT)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO workflow_entity (name, nodes) VALUES (?, ?)", ((f"wf {i}", "x" * 500) for i in range(rows)))
    conn.execute("COMMIT")
    return conn


def count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM workflow_entity").fetchone()[0])
    finally:
        conn.close()


def test_copy_includes_what_sits_only_in_the_wal(tmp_path: Path) -> None:
    src = tmp_path / "database.sqlite"
    writer = make_wal_db(src)
    try:
        assert os.path.getsize(str(src) + "-wal") > 0
        # what "copy the main file" would give: the table is not even there
        shutil.copyfile(src, tmp_path / "naive.sqlite")
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            count(tmp_path / "naive.sqlite")

        result = sb.backup_sqlite(str(src), str(tmp_path / "out" / ".." / "copy.sqlite"))
    finally:
        writer.close()
    dest = tmp_path / "copy.sqlite"
    assert result["dest"] == str(dest)
    assert count(dest) == 2000
    data = dest.read_bytes()
    assert result["size"] == len(data)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["integrity"] == "ok"
    assert result["journal_mode"] == "wal"
    assert result["pages"] * 4096 == len(data)
    assert result["duration_s"] >= 0
    assert (dest.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite", "database.sqlite", "naive.sqlite"]
    # The copy is one self-contained file: reading it later leaves no -wal/-shm beside it.
    with closing(sqlite3.connect(dest)) as reader:
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert reader.execute("SELECT count(*) FROM workflow_entity").fetchone()[0] == 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite", "database.sqlite", "naive.sqlite"]


def test_copy_under_concurrent_writes_is_a_consistent_snapshot(tmp_path: Path) -> None:
    src = tmp_path / "database.sqlite"
    writer = make_wal_db(src, rows=20000)
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            writer.execute("BEGIN")
            writer.execute("INSERT INTO workflow_entity (name, nodes) VALUES ('a', 'y')")
            writer.execute("INSERT INTO workflow_entity (name, nodes) VALUES ('b', 'y')")  # always pairs
            writer.execute("COMMIT")

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        results = [sb.backup_sqlite(str(src), str(tmp_path / f"copy{i}.sqlite")) for i in range(3)]
    finally:
        stop.set()
        thread.join()
        writer.close()
    for i, result in enumerate(results):
        assert result["integrity"] == "ok"
        assert count(tmp_path / f"copy{i}.sqlite") % 2 == 0  # never half a transaction
    assert count(tmp_path / "copy2.sqlite") >= count(tmp_path / "copy0.sqlite") >= 20000


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400])
def test_mode_is_applied_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    src = tmp_path / "database.sqlite"
    make_wal_db(src, rows=10).close()
    old = os.umask(0o077)
    try:
        sb.backup_sqlite(str(src), str(tmp_path / "copy.sqlite"), mode=mode)
    finally:
        os.umask(old)
    assert ((tmp_path / "copy.sqlite").stat().st_mode & 0o777) == mode


def test_options_stepped_pages_and_no_integrity_check(tmp_path: Path) -> None:
    src = tmp_path / "database.sqlite"
    make_wal_db(src, rows=500).close()
    result = sb.backup_sqlite(str(src), str(tmp_path / "copy.sqlite"), pages=16, integrity_check=False)
    assert result["integrity"] == "skipped"
    assert count(tmp_path / "copy.sqlite") == 500


def test_existing_dest_is_replaced_and_stale_partial_removed(tmp_path: Path) -> None:
    src = tmp_path / "database.sqlite"
    make_wal_db(src, rows=10).close()
    (tmp_path / "copy.sqlite").write_text("old backup")
    (tmp_path / "copy.sqlite.partial").write_text("crashed run")
    sb.backup_sqlite(str(src), str(tmp_path / "copy.sqlite"))
    assert count(tmp_path / "copy.sqlite") == 10
    assert not (tmp_path / "copy.sqlite.partial").exists()


def test_rollback_journal_database(tmp_path: Path) -> None:
    src = tmp_path / "database.sqlite"
    with sqlite3.connect(src) as conn:  # n8n 1.x: journal_mode=delete
        conn.execute("CREATE TABLE workflow_entity (id INTEGER PRIMARY KEY, name TEXT, nodes TEXT)")
        conn.execute("INSERT INTO workflow_entity (name) VALUES ('x')")
    result = sb.backup_sqlite(str(src), str(tmp_path / "copy.sqlite"))
    assert result["journal_mode"] == "rollback"
    assert count(tmp_path / "copy.sqlite") == 1


@pytest.mark.parametrize(
    ("src", "dest", "pages", "match"),
    [
        ("missing.sqlite", "copy.sqlite", -1, "no such file"),
        ("database.sqlite", "nowhere/copy.sqlite", -1, "the folder .* does not exist"),
        ("database.sqlite", "database.sqlite", -1, "onto itself"),
        ("database.sqlite", "database.sqlite-wal", -1, "onto itself"),
        ("notes.txt", "copy.sqlite", -1, "not a SQLite database"),
        ("database.sqlite", "copy.sqlite", 0, "pages must be"),
    ],
)
def test_refusals(tmp_path: Path, src: str, dest: str, pages: int, match: str) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=1).close()
    (tmp_path / "notes.txt").write_text("hello " * 50)
    with pytest.raises(sb.SqliteBackupError, match=match):
        sb.backup_sqlite(str(tmp_path / src), str(tmp_path / dest), pages=pages)
    assert not (tmp_path / "copy.sqlite").exists()


def _assert_disk_full_message(exc: BaseException, tmp_path: Path) -> None:
    message = str(exc)
    src, dest = tmp_path / "database.sqlite", tmp_path / "copy.sqlite"
    assert message.startswith(f"Cannot back up SQLite database {src} to {dest}: the file system of {tmp_path} is full (")
    assert "MiB free, the copy needs" in message and "Free space there or choose another dest" in message
    assert [p.name for p in tmp_path.iterdir() if "copy" in p.name] == []


def test_not_enough_space_is_refused_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=100).close()
    monkeypatch.setattr(sb.shutil, "disk_usage", lambda _path: DiskUsage(10**9, 10**9, 4096))
    with pytest.raises(sb.SqliteBackupError) as caught:
        sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(tmp_path / "copy.sqlite"))
    _assert_disk_full_message(caught.value, tmp_path)
    assert "(0.0 MiB free" in str(caught.value)


def test_disk_full_while_copying_removes_the_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=500).close()
    real_connect = sqlite3.connect

    def connect(target: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(target, *args, **kwargs)
        if str(target).endswith(sb.PARTIAL_SUFFIX):
            conn.execute("PRAGMA max_page_count = 8")  # the file system fills up after 8 pages
        return conn

    monkeypatch.setattr(sb.sqlite3, "connect", connect)
    with pytest.raises(sb.SqliteBackupError) as caught:
        sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(tmp_path / "copy.sqlite"))
    _assert_disk_full_message(caught.value, tmp_path)


def test_enospc_from_fsync_removes_the_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=10).close()

    def fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sb.os, "fsync", fsync)
    with pytest.raises(sb.SqliteBackupError) as caught:
        sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(tmp_path / "copy.sqlite"))
    _assert_disk_full_message(caught.value, tmp_path)


def test_failed_integrity_check_removes_the_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=10).close()
    monkeypatch.setattr(sb, "_integrity", lambda _path: "*** in database main ***; Page 5: btreeInitPage() returns error code 11")
    with pytest.raises(sb.SqliteBackupError, match="fails PRAGMA integrity_check .*Page 5"):
        sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(tmp_path / "copy.sqlite"))
    assert [p.name for p in tmp_path.iterdir() if "copy" in p.name] == []


def test_source_info_reads_only_the_header(tmp_path: Path) -> None:
    writer = make_wal_db(tmp_path / "database.sqlite", rows=50)
    try:
        info = sb.source_info(str(tmp_path / "database.sqlite"))
    finally:
        writer.close()
    assert info["journal_mode"] == "wal"
    assert info["page_size"] == 4096
    assert info["wal_size"] > 0


def test_copy_only_then_check_copy_gives_what_the_inline_checks_give(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=300).close()
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(sb.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    copy = tmp_path / "copy.sqlite"
    quick = sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(copy), integrity_check=False, checksum=False, fsync=False)
    assert (quick["integrity"], quick["sha256"], synced) == ("skipped", None, [])
    assert count(copy) == 300

    checked = sb.check_copy(str(copy))
    assert len(synced) == 2  # the copy, then its folder (the rename)
    assert checked["integrity"] == "ok"
    assert checked["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert (checked["path"], checked["size"]) == (str(copy), copy.stat().st_size)
    assert sb.check_copy(str(copy), checksum=False)["sha256"] is None


def test_check_copy_refuses_a_damaged_copy_and_leaves_it_to_the_caller(tmp_path: Path) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=2000).close()
    copy = tmp_path / "copy.sqlite"
    sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(copy), integrity_check=False, checksum=False, fsync=False)
    data = bytearray(copy.read_bytes())
    page = 4096
    data[3 * page:3 * page + 64] = b"\xff" * 64  # a btree page header overwritten
    copy.write_bytes(bytes(data))
    with pytest.raises(sb.SqliteBackupError, match="fails PRAGMA integrity_check .*not a usable backup.*check it with"):
        sb.check_copy(str(copy))
    assert copy.exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "no such file. Give the dest"), (b"not a database at all" * 300, r"fails PRAGMA integrity_check \(file is not a database\)")],
)
def test_check_copy_refusals(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / "copy.sqlite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(sb.SqliteBackupError, match=match):
        sb.check_copy(str(path))


def test_check_copy_on_a_full_file_system_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=10).close()
    copy = tmp_path / "copy.sqlite"
    sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(copy), fsync=False)

    def fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sb.os, "fsync", fsync)
    with pytest.raises(sb.SqliteBackupError, match="durable: the file system of .* is full .*take the backup again"):
        sb.check_copy(str(copy))


# ---------------------------------------------------------------- the locked copy (n8n quiesced)
def test_locked_copy_includes_what_sits_only_in_the_wal(tmp_path: Path) -> None:
    src = tmp_path / "database.sqlite"
    idle = make_wal_db(src)  # n8n's connection, idle: what a quiesced n8n leaves behind at worst
    try:
        assert os.path.getsize(str(src) + "-wal") > 0
        result = sb.backup_sqlite(str(src), str(tmp_path / "copy.sqlite"), method="locked_copy")
        # The checkpoint moved the WAL into the file, and the lock is released: the writer writes again.
        assert os.path.getsize(str(src) + "-wal") == 0
        idle.execute("INSERT INTO workflow_entity (name) VALUES ('after')")
    finally:
        idle.close()
    copy = tmp_path / "copy.sqlite"
    assert count(copy) == 2000 and count(src) == 2001
    data = copy.read_bytes()
    assert (result["size"], result["sha256"], result["integrity"]) == (len(data), hashlib.sha256(data).hexdigest(), "ok")
    assert (result["journal_mode"], result["pages"] * 4096) == ("wal", len(data))
    assert (copy.stat().st_mode & 0o777) == 0o600
    with closing(sqlite3.connect(copy)) as reader:
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(p.name for p in tmp_path.iterdir() if "copy" in p.name) == ["copy.sqlite"]


def test_locked_copy_of_a_rollback_journal_database(tmp_path: Path) -> None:
    src = tmp_path / "database.sqlite"
    with closing(sqlite3.connect(src)) as conn:  # n8n 1.x: journal_mode=delete
        with conn:
            conn.execute("CREATE TABLE workflow_entity (id INTEGER PRIMARY KEY, name TEXT, nodes TEXT)")
            conn.execute("INSERT INTO workflow_entity (name) VALUES ('x')")
    result = sb.backup_sqlite(str(src), str(tmp_path / "copy.sqlite"), method="locked_copy", integrity_check=False, checksum=False)
    assert (result["journal_mode"], result["integrity"], result["sha256"]) == ("rollback", "skipped", None)
    assert count(tmp_path / "copy.sqlite") == 1


def test_a_writer_waits_for_the_locked_copy_and_the_copy_holds_whole_transactions(tmp_path: Path) -> None:
    src = tmp_path / "database.sqlite"
    writer = make_wal_db(src, rows=20000)
    writer.execute("PRAGMA busy_timeout = 30000")  # n8n's writes wait for the lock, as SQLite makes them
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_writing() -> None:
        while not stop.is_set():
            try:
                writer.execute("BEGIN IMMEDIATE")
                writer.execute("INSERT INTO workflow_entity (name, nodes) VALUES ('a', 'y')")
                writer.execute("INSERT INTO workflow_entity (name, nodes) VALUES ('b', 'y')")  # always pairs
                writer.execute("COMMIT")
            except sqlite3.Error as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return

    thread = threading.Thread(target=keep_writing)
    thread.start()
    results = []
    try:
        for i in range(3):
            try:
                results.append(sb.backup_sqlite(str(src), str(tmp_path / f"copy{i}.sqlite"), method="locked_copy"))
            except sb.SqliteBackupError as exc:
                # A writer may refill the WAL between the checkpoint and the lock every time: a clean refusal.
                assert "could not be emptied" in str(exc)
                assert not (tmp_path / f"copy{i}.sqlite").exists()
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert errors == [] and results, "no locked copy was taken beside the writer"
    for result in results:
        assert result["integrity"] == "ok"
        assert count(Path(result["dest"])) % 2 == 0 and count(Path(result["dest"])) >= 20000


def test_locked_copy_refuses_when_the_wal_cannot_be_emptied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "database.sqlite"
    writer = make_wal_db(src, rows=10)
    reader = sqlite3.connect(src, isolation_level=None)
    monkeypatch.setattr(sb, "_LOCK_BUSY_TIMEOUT_MS", 50)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM workflow_entity").fetchone()  # an old snapshot pins the WAL
        writer.execute("INSERT INTO workflow_entity (name) VALUES ('new')")
        with pytest.raises(sb.SqliteBackupError, match="another process kept using it.*Stop n8n and its workers first, or use method backup_api"):
            sb.backup_sqlite(str(src), str(tmp_path / "copy.sqlite"), method="locked_copy")
        reader.execute("ROLLBACK")
        writer.execute("INSERT INTO workflow_entity (name) VALUES ('unblocked')")  # the lock was released
    finally:
        reader.close()
        writer.close()
    assert [p.name for p in tmp_path.iterdir() if "copy" in p.name] == []


def test_locked_copy_refuses_when_a_writer_holds_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "database.sqlite"
    writer = make_wal_db(src, rows=10)
    monkeypatch.setattr(sb, "_LOCK_BUSY_TIMEOUT_MS", 50)
    try:
        writer.execute("BEGIN IMMEDIATE")  # n8n mid-transaction: it was not quiesced
        writer.execute("INSERT INTO workflow_entity (name) VALUES ('busy')")
        with pytest.raises(sb.SqliteBackupError, match="another process held its write lock.*Stop n8n and its workers first"):
            sb.backup_sqlite(str(src), str(tmp_path / "copy.sqlite"), method="locked_copy")
        writer.execute("COMMIT")  # the writer was never disturbed
    finally:
        writer.close()
    assert count(src) == 11
    assert [p.name for p in tmp_path.iterdir() if "copy" in p.name] == []


def test_locked_copy_on_a_full_file_system_removes_the_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=200).close()

    def copyfile(_src: str, dst: str) -> None:
        with open(dst, "wb") as handle:
            handle.write(b"SQLite format 3\x00" + bytes(4000))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sb.shutil, "copyfile", copyfile)
    with pytest.raises(sb.SqliteBackupError) as caught:
        sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(tmp_path / "copy.sqlite"), method="locked_copy")
    _assert_disk_full_message(caught.value, tmp_path)


def test_an_unknown_method_is_refused(tmp_path: Path) -> None:
    make_wal_db(tmp_path / "database.sqlite", rows=1).close()
    with pytest.raises(sb.SqliteBackupError, match="method must be one of backup_api, locked_copy, not 'rsync'"):
        sb.backup_sqlite(str(tmp_path / "database.sqlite"), str(tmp_path / "copy.sqlite"), method="rsync")
