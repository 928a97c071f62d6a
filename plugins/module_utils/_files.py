# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""File-system helpers shared by the modules that write artifacts (private module_utils).

Every writer here follows one pattern: write ``<dest>.partial``, flush it, rename it to ``dest``,
flush the folder, and remove the partial file on any failure. A full file system is told apart
from other errors so the message can say what to free.
"""

from __future__ import absolute_import, annotations, division, print_function

import errno
import os
import shutil
from typing import Optional

__metaclass__ = type

_MIB = 1024.0 * 1024.0


def is_disk_full(exc: BaseException) -> bool:
    """True for the OS errors of a full file system or an exhausted quota."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def free_bytes(folder: str) -> Optional[int]:
    """Bytes free for an unprivileged writer in ``folder``'s file system, or None when unknown."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def mib(size: Optional[int]) -> str:
    """A size in MiB with one decimal, ``?`` when unknown."""
    return "?" if size is None else "%.1f" % (size / _MIB)


def create_exact(path: str, mode: int, uid: int = -1, gid: int = -1) -> int:
    """A new file (never an existing one) open for writing, with exactly ``mode`` and, given a
    ``uid`` or ``gid`` other than -1, that owner; returns its descriptor.

    The umask neither widens nor narrows ``mode``. The file is created 0600 and gets its owner
    before its mode, so nobody else can open it in between.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def fsync_path(path: str, directory: bool = False) -> None:
    """Flush a file, or a folder's entries (after a rename), to disk."""
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_file(path: str) -> None:
    """Remove a file that may not exist."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
