# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One backup at a time per n8n: an exclusive lock file in the backup root (private module_utils).

Two backups of one n8n at once would quiesce and resume it under each other and could write
into the same folder. The lock is a file created atomically (written aside, then hard-linked
to its name: ``link()`` fails when the name exists, so exactly one run wins, and the winner's
file is complete the moment it appears). It records who holds it, so a refusal can say which
backup runs, since when, and from which process.

A lock outlives its run when the run is killed (SIGKILL, power loss, a lost SSH session).
Such a lock is *stale*. When the run's process is on this host (the controller is the managed
host, the common case for a scheduled backup) we know for sure: the process is gone, or its
pid now belongs to another process (start times differ). A sure stale lock is taken over,
and the caller warns. Otherwise only age hints at staleness: the lock is never broken on age
(a remote controller may still run a long dump), the message says how old it is and names
the file to remove.
"""

from __future__ import absolute_import, annotations, division, print_function

import errno
import json
import os
import secrets
import socket
import time
from typing import Any, Callable, Dict, Optional, Tuple

__metaclass__ = type

LOCK_NAME = ".lock"
FORMAT = 1

# (pid) -> (start time in clock ticks since boot, command line), or None when no such process.
ProcessReader = Callable[[int], Optional[Tuple[int, str]]]


class BackupLockError(Exception):
    """The lock could not be taken or released; the message says what to do."""


def read_process(pid: int) -> Optional[Tuple[int, str]]:
    """(start time, command line) of a process, from /proc; None when it does not exist."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read().decode("utf-8", "replace")
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19]), cmdline  # fields 22 (starttime) of proc(5), counted from field 3


def parent_pid(pid: int) -> Optional[int]:
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return int(handle.read().decode("utf-8", "replace").rsplit(")", 1)[-1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def run_process(
    pid: int,
    read: ProcessReader = read_process,
    parent: Callable[[int], Optional[int]] = parent_pid,
) -> Optional[Dict[str, Any]]:
    """The process that lives as long as the Ansible run: the outermost ancestor naming ansible.

    A module is a short-lived child of an Ansible worker, itself a child of ansible-playbook
    (or ansible-runner, AWX). With a local connection these are ancestors here; over SSH the
    ancestors are sshd's, no ancestor names ansible, and the lock records no process.
    """
    found = None
    current: Optional[int] = pid
    seen = 0
    while current is not None and current > 1 and seen < 64:
        info = read(current)
        if info is None:
            break
        if "ansible" in info[1]:
            found = {"pid": current, "start": info[0]}
        current = parent(current)
        seen += 1
    return found


def holder_alive(owner: Dict[str, Any], hostname: str, read: ProcessReader = read_process) -> Optional[bool]:
    """True/False when the holder's process can be checked from here, None when it cannot."""
    process = owner.get("process")
    if not isinstance(process, dict) or owner.get("host") != hostname:
        return None
    info = read(int(process.get("pid", 0)))
    return info is not None and info[0] == process.get("start")


def describe(owner: Optional[Dict[str, Any]], now: float) -> str:
    """One line naming the holder: backup id, start time and age, user, host, pid."""
    if not owner:
        return "holder unknown (the lock file is empty or unreadable)"
    if "backup_id" not in owner and owner.get("description"):
        return str(owner["description"])
    started = owner.get("started_at", "?")
    age = ""
    if isinstance(owner.get("started"), (int, float)):
        age = " (%s ago)" % human_duration(now - float(owner["started"]))
    process = owner.get("process") if isinstance(owner.get("process"), dict) else None
    where = "%s@%s" % (owner.get("user") or "?", owner.get("host") or "?")
    if process:
        where += ", pid %s" % process.get("pid")
    return "backup %s started %s%s by %s" % (owner.get("backup_id", "?"), started, age, where)


def human_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return "%d s" % seconds
    if seconds < 7200:
        return "%d min" % (seconds // 60)
    return "%.1f h" % (seconds / 3600)


def read_owner(path: str) -> Optional[Dict[str, Any]]:
    """The record in a lock file; a lock folder (lifeboat.n8n before 0.2) has no parseable record."""
    try:
        if os.path.isdir(path):
            with open(os.path.join(path, "owner"), encoding="utf-8") as handle:
                return {"description": handle.read().strip() or "holder unknown (an older lifeboat.n8n lock folder)"}
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _create(path: str, record: Dict[str, Any]) -> bool:
    """Create the lock file with its full record, atomically; False when it exists already."""
    tmp = "%s.%s.tmp" % (path, record["token"])
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        return True
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _break(path: str, seen: Optional[Dict[str, Any]]) -> bool:
    """Remove a stale lock, unless it changed since it was judged stale (another run took it over)."""
    if read_owner(path) != seen:
        return False
    aside = "%s.stale-%s" % (path, secrets.token_hex(4))
    try:
        os.rename(path, aside)
    except OSError:
        return False
    # The rename moved whatever held the name; if a new holder slipped in between, give it back.
    if read_owner(aside) != seen:
        try:
            os.link(aside, path)
        except OSError:
            pass  # yet another run took the name: it holds the lock now
        os.unlink(aside)
        return False
    os.unlink(aside)
    return True


def acquire(
    root: str,
    backup_id: str,
    *,
    wait: float = 0,
    poll: float = 2.0,
    stale_after: float = 86400,
    user: str = "",
    hostname: Optional[str] = None,
    pid: Optional[int] = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    read: ProcessReader = read_process,
    parent: Callable[[int], Optional[int]] = parent_pid,
) -> Dict[str, Any]:
    """Take ``<root>/.lock`` for ``backup_id``, waiting up to ``wait`` seconds for its holder.

    Returns ``{"acquired", "path", "token", "owner", "waited", "holder", "stale", "broken"}``:
    ``acquired`` False means another run holds it (``holder`` describes it, ``stale`` is a reason
    to think it dead, or None); ``broken`` describes a sure-stale lock that was taken over.
    """
    hostname = hostname or socket.gethostname()
    path = os.path.join(root, LOCK_NAME)
    start = clock()
    record = {
        "format": FORMAT,
        "backup_id": backup_id,
        "started": start,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "user": user,
        "host": hostname,
        "process": run_process(pid if pid is not None else os.getpid(), read, parent),
        "token": secrets.token_hex(8),
    }
    broken = None
    while True:
        if _create(path, record):
            return {
                "acquired": True,
                "path": path,
                "token": record["token"],
                "owner": record,
                "waited": clock() - start,
                "holder": None,
                "stale": None,
                "broken": broken,
            }
        owner = read_owner(path)
        alive = holder_alive(owner or {}, hostname, read)
        if alive is False:
            # The holder's process is gone: the lock is stale for sure. Take it over.
            if _break(path, owner):
                broken = describe(owner, clock())
            continue
        now = clock()
        if now - start >= wait:
            stale = None
            if owner and isinstance(owner.get("started"), (int, float)) and now - float(owner["started"]) > stale_after:
                stale = "it is %s old, older than any backup should take" % human_duration(now - float(owner["started"]))
            elif owner is None:
                stale = "its holder cannot be read"
            return {
                "acquired": False,
                "path": path,
                "token": None,
                "owner": owner,
                "waited": now - start,
                "holder": describe(owner, now),
                "stale": stale,
                "broken": broken,
            }
        sleep(min(poll, max(0.0, wait - (now - start))))


def release(root: str, token: str) -> bool:
    """Remove the lock if this run holds it (same token); never someone else's. True when removed."""
    path = os.path.join(root, LOCK_NAME)
    owner = read_owner(path)
    if not owner or owner.get("token") != token:
        return False
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise BackupLockError("Cannot release the backup lock %s: %s. Remove it by hand." % (path, exc)) from exc
    return True
