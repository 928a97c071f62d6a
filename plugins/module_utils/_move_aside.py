# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Move a target's current files aside into a snapshot folder (private module_utils).

Before a restore puts the backup in place, n8n's current files (the SQLite database with its
``-wal`` and ``-shm``, ``.n8n/config``, binary-data folders, community nodes) move into a snapshot
folder, and the rollback moves them back. On one file system a move is a rename: instant at any
size, nothing copied, nothing deleted. Across file systems it is a copy and a removal, as ``mv``
does.

This runs inside the restore's downtime. It used to be three Ansible tasks, a folder, a ``stat``
per file and a ``mv`` per file: about 2.5 s of the downtime on two cores whatever the data, where
one module call costs about 0.3 s.

A file already in the snapshot under its name is never overwritten: a second run after a partial
one leaves what the first moved where it is, and reports it.
"""

from __future__ import absolute_import, annotations, division, print_function

import os
import shutil
from typing import Dict, List, Mapping, Sequence

from ansible_collections.lifeboat.n8n.plugins.module_utils._files import fsync_path

__metaclass__ = type

SNAPSHOT_MODE = 0o700


class MoveAsideError(Exception):
    """Nothing more was moved; the message says which file and why. What moved before stays moved."""


def _checked_names(files: Sequence[Mapping[str, str]]) -> List[Dict[str, str]]:
    """The entries as ``{name, path}``, refused unless every name is one plain, unique file name."""
    seen = set()
    entries = []
    for entry in files:
        name, path = str(entry.get("name") or ""), str(entry.get("path") or "")
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise MoveAsideError("%r is not a plain file name; each file needs a name without '/' to be kept under in the snapshot" % (name,))
        if not path:
            raise MoveAsideError("The file named %r has no path." % (name,))
        if name in seen:
            raise MoveAsideError("The name %r is given twice; each file needs its own name in the snapshot." % (name,))
        seen.add(name)
        entries.append({"name": name, "path": path})
    return entries


def _present(path: str) -> bool:
    """Whether anything is at ``path``, a dangling symbolic link included."""
    return os.path.lexists(path)


def move_aside(folder: str, files: Sequence[Mapping[str, str]], check_only: bool = False) -> Dict[str, object]:
    """Move each of ``files`` (``{name, path}``) that exists into ``folder/<name>``.

    ``folder`` is created (with its parents) when missing and made 0700: the files moved there are
    n8n's database and key file. Returns the names ``moved``, ``already_aside`` (in the folder from
    an earlier run, left there) and ``absent`` (nothing at the path), in the order given. With
    ``check_only`` nothing is created or moved; ``moved`` is what would move.
    """
    entries = _checked_names(files)
    result: Dict[str, List[str]] = {"moved": [], "already_aside": [], "absent": []}
    if not check_only:
        try:
            os.makedirs(folder, mode=SNAPSHOT_MODE, exist_ok=True)
            os.chmod(folder, SNAPSHOT_MODE)
        except OSError as exc:
            raise MoveAsideError("Cannot create the snapshot folder %s: %s. Nothing was moved." % (folder, exc.strerror or exc)) from exc
    touched_folders = set()
    for entry in entries:
        source, kept = entry["path"], os.path.join(folder, entry["name"])
        if _present(kept):
            result["already_aside"].append(entry["name"])
            continue
        if not _present(source):
            result["absent"].append(entry["name"])
            continue
        if not check_only:
            try:
                # A rename on one file system; a copy then a removal across two, as mv does.
                shutil.move(source, kept)
            except (OSError, shutil.Error) as exc:
                raise MoveAsideError(
                    "Cannot move %s aside to %s: %s. Moved before it: %s. Free the cause and run the restore again; "
                    "its rollback puts back what moved."
                    % (source, kept, getattr(exc, "strerror", None) or exc, ", ".join(result["moved"]) or "nothing")
                ) from exc
            touched_folders.add(os.path.dirname(os.path.abspath(source)))
        result["moved"].append(entry["name"])
    if not check_only:
        # The renames are durable only once both folders' entries are on disk. A file system
        # that refuses to flush a folder does not undo a move that happened, so it is not an error.
        for path in sorted(touched_folders | {folder}):
            try:
                fsync_path(path, directory=True)
            except OSError:
                pass
    return {"folder": folder, **result}
