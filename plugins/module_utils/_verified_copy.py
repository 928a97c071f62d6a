# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Copy a file while checking it against the SHA-256 it must have (private module_utils).

A restore used to read the backup's SQLite database three times: the manifest check hashed it,
then a copy read it again inside the downtime, and ``ansible.builtin.copy`` would hash it twice
more. :func:`copy_verified` reads it once, before n8n stops: the copy is hashed as it is written,
so it is both the check and the staging step, and only a rename is left for the downtime. At 1M
executions (7.6 GB) the check and the copy had each taken about 16 s.

1. ``src`` must be a regular file of ``size`` bytes (when given), and ``dest``'s file system must
   have room for it (refused before anything is written);
2. ``<dest>.partial`` is created with exactly ``mode`` and the given owner, then filled by the
   kernel (``sendfile``, as ``cp`` copies) while a second thread hashes what was written, reading
   it back from the page cache right behind the copy;
3. a size or checksum that differs from the expected one removes the partial file and raises;
4. the copy is flushed to disk (``fsync``), renamed to ``dest`` and its folder flushed.

Any failure removes the partial file; ``dest`` appears only complete and verified.
"""

from __future__ import absolute_import, annotations, division, print_function

import errno
import grp
import hashlib
import os
import pwd
import stat
import threading
import time
from typing import Any, Dict, Optional

from ansible_collections.lifeboat.n8n.plugins.module_utils._files import (
    create_exact,
    free_bytes,
    fsync_path,
    is_disk_full,
    mib,
    remove_file,
)

__metaclass__ = type

PARTIAL_SUFFIX = ".partial"
_CHUNK = 4 * 1024 * 1024
# sendfile copies at most this much per call; the hashing thread follows each step.
_COPY_STEP = 64 * 1024 * 1024


class VerifiedCopyError(Exception):
    """The copy was refused or failed; the message names the file and what to do. No partial file is left."""


def resolve_uid(owner: Optional[str]) -> int:
    """A user name or numeric id as a uid; -1 (keep) when None or empty."""
    if owner is None or str(owner) == "":
        return -1
    if str(owner).isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(str(owner)).pw_uid
    except KeyError:
        raise VerifiedCopyError("Unknown owner %r: give an existing user name or a numeric uid" % (owner,)) from None


def resolve_gid(group: Optional[str]) -> int:
    """A group name or numeric id as a gid; -1 (keep) when None or empty."""
    if group is None or str(group) == "":
        return -1
    if str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(str(group)).gr_gid
    except KeyError:
        raise VerifiedCopyError("Unknown group %r: give an existing group name or a numeric gid" % (group,)) from None


def _check_source(src: str, sha256: str, size: Optional[int]) -> int:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise VerifiedCopyError("Cannot copy %s: the expected sha256 must be 64 lowercase hex digits, not %r" % (src, sha256))
    try:
        info = os.stat(src)
    except OSError as exc:
        raise VerifiedCopyError("Cannot copy %s: %s. The backup is incomplete; use another backup." % (src, exc.strerror or exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise VerifiedCopyError("Cannot copy %s: it is not a regular file" % src)
    if size is not None and info.st_size != size:
        raise VerifiedCopyError(
            "Cannot copy %s: size mismatch: expected %d bytes, found %d (truncated or changed after the backup). "
            "This backup must not be restored: use another backup; nothing was written" % (src, size, info.st_size)
        )
    return info.st_size


def _check_room(src: str, dest: str, needed: int) -> None:
    folder = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(folder):
        raise VerifiedCopyError("Cannot copy %s to %s: the folder %s does not exist" % (src, dest, folder))
    free = free_bytes(folder)
    if free is not None and free < needed:
        raise VerifiedCopyError(
            "Cannot copy %s to %s: the file system of %s has %s MiB free, the copy needs %s MiB. Free space there first; nothing was written"
            % (src, dest, folder, mib(free), mib(needed))
        )


class _TrailingHash(threading.Thread):
    """SHA-256 of the copy, read back from the page cache right behind the kernel's copy.

    Hashing in line with a read and write loop made the copy about twice as slow as ``cp`` (18 s
    against 9 s for 4 GiB): the hash waited for every read and every write waited for the hash.
    The kernel copies here (``sendfile``, as ``cp`` does), and this thread hashes what was written,
    on the other core, while the copy goes on: the digest is of the bytes in the copy.
    """

    def __init__(self, path: str) -> None:
        super().__init__(name="lifeboat-verified-copy-sha256", daemon=True)
        self.path = path
        self.sha = hashlib.sha256()
        self.hashed = 0
        self.error: Optional[BaseException] = None
        self._copied = 0
        self._done = False
        self._cond = threading.Condition()

    def advance(self, count: int) -> None:
        with self._cond:
            self._copied += count
            self._cond.notify()

    def finish(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify()

    def _wait_for_bytes(self) -> int:
        with self._cond:
            while self.hashed >= self._copied and not self._done:
                self._cond.wait()
            return self._copied

    def run(self) -> None:
        try:
            buffer = bytearray(_CHUNK)
            view = memoryview(buffer)
            with open(self.path, "rb", buffering=0) as copy:
                while True:
                    limit = self._wait_for_bytes()
                    if self.hashed >= limit:
                        return
                    while self.hashed < limit:
                        count = copy.readinto(view[: min(_CHUNK, limit - self.hashed)])
                        if not count:
                            raise OSError(errno.EIO, "the copy is shorter than what was written to it")
                        self.sha.update(view[:count])  # hashlib releases the GIL on big buffers
                        self.hashed += count
        except BaseException as exc:  # reported by the copying thread
            self.error = exc


def _kernel_copy(source: int, out: int, hasher: _TrailingHash) -> int:
    copied = 0
    while True:
        count = os.sendfile(out, source, None, _COPY_STEP)
        if not count:
            return copied
        copied += count
        hasher.advance(count)


def _copy_and_hash(src: str, out: int, partial: str) -> tuple[str, int]:
    hasher = _TrailingHash(partial)
    hasher.start()
    try:
        with open(src, "rb", buffering=0) as source:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(source.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            copied = _kernel_copy(source.fileno(), out, hasher)
    finally:
        hasher.finish()
        hasher.join()
    if hasher.error is not None:
        raise hasher.error
    return hasher.sha.hexdigest(), copied


def copy_verified(
    src: str,
    dest: str,
    sha256: str,
    *,
    size: Optional[int] = None,
    mode: int = 0o600,
    uid: int = -1,
    gid: int = -1,
    fsync: bool = True,
    check_only: bool = False,
) -> Dict[str, Any]:
    """Copy ``src`` to ``dest`` if and only if it has this SHA-256 (and size); see the module docstring.

    Returns ``{"dest", "size", "sha256", "duration_s"}``. With ``check_only`` the source and the
    free space are checked, nothing is read or written, and ``sha256`` is None.
    """
    started = time.monotonic()
    expected = sha256.lower()
    total = _check_source(src, expected, size)
    _check_room(src, dest, total)
    if check_only:
        return {"dest": dest, "size": total, "sha256": None, "duration_s": round(time.monotonic() - started, 3)}
    partial = dest + PARTIAL_SUFFIX
    try:
        remove_file(partial)  # a leftover of an interrupted run
        out = create_exact(partial, mode, uid, gid)
        try:
            found, copied = _copy_and_hash(src, out, partial)
            if copied != total:
                raise VerifiedCopyError(
                    "Cannot copy %s: size mismatch: expected %d bytes, read %d (the file changed while it was copied)" % (src, total, copied)
                )
            if found != expected:
                raise VerifiedCopyError(
                    "Cannot copy %s: checksum mismatch: expected sha256 %s, found %s (corrupted or modified after the backup). "
                    "This backup must not be restored: use another backup; no copy was left"
                    % (src, expected, found)
                )
            if fsync:
                os.fsync(out)
        finally:
            os.close(out)
        os.replace(partial, dest)
        if fsync:
            fsync_path(os.path.dirname(os.path.abspath(dest)), directory=True)
    except BaseException as exc:
        remove_file(partial)
        if is_disk_full(exc):
            folder = os.path.dirname(os.path.abspath(dest))
            raise VerifiedCopyError(
                "Cannot copy %s to %s: the file system of %s is full (%s MiB free, the copy needs %s MiB). Free space there first; no partial copy was left"
                % (src, dest, folder, mib(free_bytes(folder)), mib(total))
            ) from exc
        if isinstance(exc, OSError):
            raise VerifiedCopyError("Cannot copy %s to %s: %s; no partial copy was left" % (src, dest, exc.strerror or exc)) from exc
        raise
    return {"dest": dest, "size": total, "sha256": found, "duration_s": round(time.monotonic() - started, 3)}
