# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A consistent copy of a live SQLite database (private module_utils).

n8n 2.x runs SQLite in WAL mode: committed data may sit in ``database.sqlite-wal`` for a long
time, so copying ``database.sqlite`` alone loses it (a 4 MB WAL was seen un-checkpointed after a
stop). :func:`backup_sqlite` uses SQLite's online backup API instead, from a read-only
connection, which copies one consistent snapshot of main file + WAL while n8n keeps writing:

1. open the source read-only (``mode=ro``); check the destination file system has room;
2. back up into ``<dest>.partial`` (same folder, created with ``mode``) in one step by default
   (``pages=-1``: a stepped backup restarts whenever another process writes, and n8n writes all
   the time);
3. fsync the copy, then ``PRAGMA integrity_check`` on it while its SHA-256 is computed in a
   second thread (each reads the file once, both cores busy);
4. rename it to ``dest`` and fsync the folder.

Step 3 and the folder fsync can be left to :func:`check_copy`, run later on ``dest``: they read
and flush only the copy, which nothing else writes, so a backup role runs them after n8n has
resumed and keeps them out of its downtime. The copy is then not yet durable nor checked, and must
not be marked complete before :func:`check_copy` passed.

Any failure removes the partial file. A read-only open of a WAL database whose ``-wal``/``-shm``
files do not exist (n8n stopped cleanly) creates them, empty, with the database file's owner and
mode (SQLite does this even as root); they are harmless and n8n uses them at its next start.

On a rollback-journal database (n8n 1.x) the one-step backup holds a shared lock for its whole
duration, during which n8n's writes wait: quiesce n8n first, or pass ``pages`` to copy in steps.

``method="locked_copy"`` is for a quiesced database (n8n stopped): it checkpoints the WAL into the
database file (``PRAGMA wal_checkpoint(TRUNCATE)``), takes SQLite's write lock (``BEGIN
IMMEDIATE``), makes sure the WAL is still empty, and copies the file with the kernel's own copy
(:func:`shutil.copyfile`, ``sendfile``) while it holds the lock. The backup API moves the data page
by page through two page caches, and at 8 GB took about twice as long. The lock is the same one any
writer needs, so the copy is as consistent as the backup API's, but a writer would wait for the
whole copy: hence only while n8n is quiesced. The checkpoint writes the live database file, which
n8n itself would do at its next start.
"""

from __future__ import absolute_import, annotations, division, print_function

import errno
import hashlib
import os
import shutil
import sqlite3
import threading
import time
from typing import Any, Optional
from urllib.parse import quote

from ansible_collections.lifeboat.n8n.plugins.module_utils._files import create_exact, free_bytes, fsync_path, is_disk_full, mib

__metaclass__ = type

PARTIAL_SUFFIX = ".partial"
_CHUNK = 4 * 1024 * 1024
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_FULL = 13
METHODS = ("backup_api", "locked_copy")
# A writer that slips in between the checkpoint and the lock leaves frames in the WAL: try again.
_LOCK_ATTEMPTS = 3
# Each checkpoint and lock waits this long for a reader or writer that should not be there.
_LOCK_BUSY_TIMEOUT_MS = 10000


class SqliteBackupError(Exception):
    """The backup failed; the message names the file and what to do. No partial file is left."""


def _uri(path: str, **params: str) -> str:
    query = "&".join("%s=%s" % item for item in params.items())
    return "file:%s?%s" % (quote(os.path.abspath(path)), query)


def _primary_code(exc: sqlite3.Error) -> Optional[int]:
    """SQLite's primary result code of an error (from its extended code), or None before Python 3.11."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_disk_full(exc: BaseException) -> bool:
    if is_disk_full(exc):
        return True
    if isinstance(exc, sqlite3.Error):
        return _primary_code(exc) == _SQLITE_FULL or "database or disk is full" in str(exc)
    return False


def _disk_full_message(src: str, dest: str, needed: Optional[int]) -> str:
    folder = os.path.dirname(os.path.abspath(dest))
    return (
        "Cannot back up SQLite database %s to %s: the file system of %s is full (%s MiB free, the copy needs %s MiB). "
        "Free space there or choose another dest; no partial copy was left" % (src, dest, folder, mib(free_bytes(folder)), mib(needed))
    )


def _remove_partial(partial: str) -> None:
    for path in (partial, partial + "-journal", partial + "-wal", partial + "-shm"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class _Hasher(threading.Thread):
    """SHA-256 of a file in a background thread (hashlib and file reads release the GIL)."""

    def __init__(self, path: str) -> None:
        super().__init__(name="lifeboat-sha256", daemon=True)
        self.path = path
        self.digest: Optional[str] = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            sha = hashlib.sha256()
            with open(self.path, "rb", buffering=0) as handle:
                buffer = bytearray(_CHUNK)
                view = memoryview(buffer)
                while True:
                    count = handle.readinto(buffer)
                    if not count:
                        break
                    sha.update(view[:count])
            self.digest = sha.hexdigest()
        except BaseException as exc:  # reported by the caller
            self.error = exc


def _integrity(path: str) -> str:
    """``"ok"``, or the first problems PRAGMA integrity_check reports."""
    # immutable=1: nobody else touches the copy; no locks, no -shm next to it.
    conn = sqlite3.connect(_uri(path, mode="ro", immutable="1"), uri=True)
    try:
        rows = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    finally:
        conn.close()
    return "ok" if rows == ["ok"] else "; ".join(rows)


def source_info(src: str) -> dict[str, Any]:
    """Page size, page count and journal mode of a database, without changing anything on disk."""
    if not os.path.isfile(src):
        raise SqliteBackupError("Cannot back up %s: no such file. Give the path of n8n's database.sqlite" % src)
    size = os.path.getsize(src)
    with open(src, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise SqliteBackupError("Cannot back up %s: not a SQLite database file" % src)
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    wal = header[18] == 2 and header[19] == 2
    wal_file = src + "-wal"
    wal_size = os.path.getsize(wal_file) if os.path.exists(wal_file) else 0
    return {"size": size, "page_size": page_size, "journal_mode": "wal" if wal else "rollback", "wal_size": wal_size}


def _check_arguments(src: str, dest: str, pages: int, method: str) -> None:
    if not os.path.isfile(src):
        raise SqliteBackupError("Cannot back up %s: no such file. Give the path of n8n's database.sqlite" % src)
    folder = os.path.dirname(dest)
    if not os.path.isdir(folder):
        raise SqliteBackupError("Cannot back up %s to %s: the folder %s does not exist. Create it first" % (src, dest, folder))
    if os.path.realpath(dest) in {os.path.realpath(src + suffix) for suffix in ("", "-wal", "-shm", "-journal")}:
        raise SqliteBackupError("Cannot back up %s onto itself (dest %s): choose another dest" % (src, dest))
    if pages == 0 or pages < -1:
        raise SqliteBackupError("Cannot back up %s: pages must be -1 (all at once) or a positive number, not %s" % (src, pages))
    if method not in METHODS:
        raise SqliteBackupError("Cannot back up %s: method must be one of %s, not %r" % (src, ", ".join(METHODS), method))


def _create_private(path: str, mode: int) -> None:
    """An empty file with exactly ``mode`` (the umask neither widens nor narrows it)."""
    os.close(create_exact(path, mode))


def _to_rollback_journal(target: sqlite3.Connection) -> None:
    # The copy inherits the source's WAL flag from its header: every later reader (integrity
    # check, key check, workflow export) would then leave -wal/-shm files beside the artifact,
    # outside the manifest and, for an encrypted backup, in plaintext. A rollback-journal
    # copy stays one self-contained file; n8n turns WAL back on when it opens a restored one.
    target.execute("PRAGMA journal_mode = DELETE")


def _finish_copy(partial: str, copied: int, fsync: bool) -> int:
    for leftover in (partial + "-wal", partial + "-journal"):
        if os.path.exists(leftover) and os.path.getsize(leftover) > 0:
            raise SqliteBackupError("Cannot back up to %s: SQLite left %s behind; the copy is incomplete" % (partial, leftover))
    if fsync:
        fsync_path(partial)
    return copied


def _is_busy(exc: sqlite3.Error) -> bool:
    code = _primary_code(exc)
    return code in (_SQLITE_BUSY, _SQLITE_LOCKED) if code is not None else "database is locked" in str(exc)


def _lock_with_empty_wal(source: sqlite3.Connection, src: str) -> None:
    """Checkpoint the WAL and hold the write lock with the WAL empty: the file alone is then the database."""
    wal = src + "-wal"
    for _attempt in range(_LOCK_ATTEMPTS):
        try:
            source.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            source.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            # A writer held SQLite's lock for the whole busy timeout: n8n (or a worker) is not quiesced.
            raise SqliteBackupError(
                "Cannot take a locked copy of %s: another process held its write lock for %d s (%s). Stop n8n and its "
                "workers first, or use method backup_api, which copies a live database" % (src, _LOCK_BUSY_TIMEOUT_MS // 1000, exc)
            ) from exc
        if not os.path.exists(wal) or os.path.getsize(wal) == 0:
            return
        source.execute("ROLLBACK")
    raise SqliteBackupError(
        "Cannot take a locked copy of %s: another process kept using it, and its WAL could not be emptied in %d "
        "checkpoints. Stop n8n and its workers first, or use method backup_api, which copies a live database" % (src, _LOCK_ATTEMPTS)
    )


def _locked_copy(src: str, partial: str, mode: int, fsync: bool) -> int:
    """Copy the file of a quiesced database under SQLite's write lock; returns the pages copied."""
    _remove_partial(partial)
    _create_private(partial, mode)
    source = sqlite3.connect(_uri(src, mode="rw"), uri=True, isolation_level=None)
    try:
        source.execute("PRAGMA busy_timeout = %d" % _LOCK_BUSY_TIMEOUT_MS)
        _lock_with_empty_wal(source, src)
        # sendfile: the kernel copies, no page passes through Python. The file keeps _create_private's mode.
        shutil.copyfile(src, partial)
        source.execute("ROLLBACK")
    finally:
        source.close()
    target = sqlite3.connect(partial, isolation_level=None)
    try:
        target.execute("PRAGMA synchronous = OFF")  # fsynced once at the end, if asked
        _to_rollback_journal(target)
        copied = int(target.execute("PRAGMA page_count").fetchone()[0])
    finally:
        target.close()
    return _finish_copy(partial, copied, fsync)


def _copy(source: sqlite3.Connection, partial: str, mode: int, pages: int, fsync: bool) -> int:
    """Back up ``source`` into a new ``partial`` file; returns the pages copied."""
    _remove_partial(partial)
    _create_private(partial, mode)
    target = sqlite3.connect(partial, isolation_level=None)
    try:
        # The copy is private until renamed, and fsynced once at the end: no journal, no syncs.
        target.execute("PRAGMA journal_mode = OFF")
        target.execute("PRAGMA synchronous = OFF")
        source.backup(target, pages=pages)
        _to_rollback_journal(target)
        copied = int(target.execute("PRAGMA page_count").fetchone()[0])
    finally:
        target.close()
    return _finish_copy(partial, copied, fsync)


def _check_and_hash(path: str, integrity_check: bool, checksum: bool) -> tuple[str, Optional[str]]:
    """(integrity, sha256) of a copy: the check and the hash run side by side, each reading it once.

    ``integrity`` is ``"ok"``, ``"skipped"``, or the problems found (the caller decides the error).
    """
    hasher = _Hasher(path) if checksum else None
    if hasher is not None:
        hasher.start()
    try:
        integrity = _integrity(path) if integrity_check else "skipped"
    finally:
        if hasher is not None:
            hasher.join()
    if hasher is not None and hasher.error is not None:
        raise hasher.error
    return integrity, None if hasher is None else hasher.digest


def _verify(src: str, partial: str, integrity_check: bool, checksum: bool) -> tuple[str, Optional[str]]:
    integrity, sha256 = _check_and_hash(partial, integrity_check, checksum)
    if integrity not in ("ok", "skipped"):
        raise SqliteBackupError(
            "Cannot back up %s: the copy fails PRAGMA integrity_check (%s). Check the source with "
            "`sqlite3 %s 'PRAGMA integrity_check'` before trusting it" % (src, integrity[:500], src)
        )
    return integrity, sha256


def backup_sqlite(
    src: str,
    dest: str,
    mode: int = 0o600,
    pages: int = -1,
    integrity_check: bool = True,
    *,
    checksum: bool = True,
    fsync: bool = True,
    method: str = "backup_api",
) -> dict[str, Any]:
    """Copy the live database ``src`` to ``dest`` consistently; see the module docstring.

    Returns ``{"dest", "size", "sha256", "integrity", "duration_s", "pages", "journal_mode"}``;
    ``integrity`` is ``"ok"`` or ``"skipped"`` (a failed check raises), ``sha256`` None without
    ``checksum``, ``pages`` the page count of the copy, ``journal_mode`` the source's (``wal`` or
    ``rollback``). With ``integrity_check``, ``checksum`` and ``fsync`` all False the copy is only
    written and renamed: run :func:`check_copy` on ``dest`` before trusting it. ``method`` is
    ``backup_api`` (any time) or ``locked_copy`` (n8n quiesced; ``pages`` does not apply).
    """
    started = time.monotonic()
    src = os.path.abspath(src)
    dest = os.path.abspath(dest)
    _check_arguments(src, dest, pages, method)
    info = source_info(src)
    folder = os.path.dirname(dest)
    partial = dest + PARTIAL_SUFFIX
    needed: Optional[int] = info["size"] + info["wal_size"]
    source: Optional[sqlite3.Connection] = None
    try:
        source = sqlite3.connect(_uri(src, mode="ro"), uri=True, timeout=60)
        source.execute("PRAGMA busy_timeout = 60000")
        page_size, page_count = (int(source.execute(q).fetchone()[0]) for q in ("PRAGMA page_size", "PRAGMA page_count"))
        needed = page_size * page_count
        free = free_bytes(folder)
        if free is not None and free < needed:
            raise OSError(errno.ENOSPC, "not enough free space")
        if method == "locked_copy":
            source.close()
            source = None
            copied = _locked_copy(src, partial, mode, fsync)
        else:
            copied = _copy(source, partial, mode, pages, fsync)
            source.close()
            source = None
        integrity, sha256 = _verify(src, partial, integrity_check, checksum)
        size = os.path.getsize(partial)
        os.replace(partial, dest)
        if fsync:
            fsync_path(folder, directory=True)
    except BaseException as exc:
        if source is not None:
            source.close()
        _remove_partial(partial)
        if _is_disk_full(exc):
            raise SqliteBackupError(_disk_full_message(src, dest, needed)) from exc
        if isinstance(exc, SqliteBackupError):
            raise
        if isinstance(exc, (sqlite3.Error, OSError)):
            raise SqliteBackupError("Cannot back up SQLite database %s to %s: %s" % (src, dest, exc)) from exc
        raise
    return {
        "dest": dest,
        "size": size,
        "sha256": sha256,
        "integrity": integrity,
        "duration_s": round(time.monotonic() - started, 3),
        "pages": copied,
        "journal_mode": info["journal_mode"],
    }


def check_copy(path: str, checksum: bool = True) -> dict[str, Any]:
    """Make a finished copy durable and check it: fsync it and its folder, then
    ``PRAGMA integrity_check`` beside its SHA-256 (one read each, side by side).

    The second half of :func:`backup_sqlite` with ``integrity_check``, ``checksum`` and ``fsync``
    off, for when n8n should not wait for it. Reads the copy only (``immutable``), never the live
    database. Returns ``{"path", "size", "sha256", "integrity", "duration_s"}``; raises
    :class:`SqliteBackupError` when the copy cannot be flushed, is not a database, or fails the
    check. It never deletes the copy: the caller owns it.
    """
    started = time.monotonic()
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise SqliteBackupError("Cannot check %s: no such file. Give the dest that n8n_sqlite_backup wrote" % path)
    sha256: Optional[str] = None
    try:
        fsync_path(path)
        fsync_path(os.path.dirname(path), directory=True)
        integrity, sha256 = _check_and_hash(path, True, checksum)
    except sqlite3.DatabaseError as exc:
        # "database disk image is malformed", "file is not a database": the check's verdict.
        if isinstance(exc, sqlite3.OperationalError) or _is_disk_full(exc):
            raise SqliteBackupError("Cannot check the copy %s: %s. Take the backup again" % (path, exc)) from exc
        integrity = str(exc)
    except (sqlite3.Error, OSError) as exc:
        if _is_disk_full(exc):
            folder = os.path.dirname(path)
            raise SqliteBackupError(
                "Cannot make the copy %s durable: the file system of %s is full (%s MiB free). The copy is incomplete: "
                "free space there and take the backup again" % (path, folder, mib(free_bytes(folder)))
            ) from exc
        raise SqliteBackupError("Cannot check the copy %s: %s. Take the backup again" % (path, exc)) from exc
    if integrity != "ok":
        raise SqliteBackupError(
            "The copy %s fails PRAGMA integrity_check (%s): it is not a usable backup. The live database it was copied "
            "from may be damaged: check it with `sqlite3 <n8n's database.sqlite> 'PRAGMA integrity_check'` before "
            "trusting it" % (path, integrity[:500])
        )
    return {
        "path": path,
        "size": os.path.getsize(path),
        "sha256": sha256,
        "integrity": integrity,
        "duration_s": round(time.monotonic() - started, 3),
    }
