#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_sqlite_backup
short_description: Copy a live n8n SQLite database consistently
version_added: 0.1.0
description:
  - Copies n8n's SQLite database with SQLite's online backup API from a read-only connection,
    so the copy is one consistent snapshot of the database file and its write-ahead log, even
    while n8n keeps writing. Copying C(database.sqlite) alone would lose whatever still sits in
    C(database.sqlite-wal).
  - The copy is written to C(<dest>.partial) in the same folder, checked with
    C(PRAGMA integrity_check), fsynced, and only then renamed to O(dest). On any failure,
    including a full file system, the partial file is removed and the message names the
    destination and its free space.
  - Returns the SHA-256 of the copy, for manifests.
  - With O(method=locked_copy), for a quiesced n8n, the module checkpoints the write-ahead log into
    the database file, takes SQLite's write lock, and copies the file with the kernel's own copy
    while it holds the lock. That is about twice as fast as the backup API on large databases, and
    as consistent, but any writer waits for the whole copy.
  - With O(integrity_check=false), O(checksum=false) and O(fsync=false) the module only writes the
    copy and renames it, the part that must happen while n8n is quiesced. Run
    M(lifeboat.n8n.n8n_sqlite_check) on O(dest) afterwards, once n8n runs again, to make the copy
    durable and check it; do not treat the copy as a backup before it passed.
author:
  - lifeboat.n8n maintainers (@lifeboat)
attributes:
  check_mode:
    description: Reports what it would write (O(dest), the estimated size) and changes nothing.
    support: full
  diff_mode:
    description: A database copy has no meaningful diff.
    support: none
  idempotent:
    description: Every run writes a new copy (C(changed=true)).
    support: none
options:
  src:
    description: n8n's database file, usually C(<N8N_USER_FOLDER>/.n8n/database.sqlite).
    type: path
    required: true
  dest:
    description:
      - The file to write. Its folder must exist. An existing file is replaced, atomically.
    type: path
    required: true
  mode:
    description:
      - Permissions of the copy, octal as a string. The database holds encrypted credentials and
        other instance secrets, so the default lets only the owner read it.
    type: str
    default: '0600'
  integrity_check:
    description: Run C(PRAGMA integrity_check) on the copy before renaming it into place.
    type: bool
    default: true
  checksum:
    description:
      - Compute the SHA-256 of the copy (beside the integrity check, each reading the file once).
      - When false, RV(sha256) is null.
    type: bool
    default: true
  fsync:
    description:
      - Flush the copy and its folder to disk before returning.
      - When false the copy may still sit in the page cache; M(lifeboat.n8n.n8n_sqlite_check) flushes it.
    type: bool
    default: true
  method:
    description:
      - V(backup_api) copies with SQLite's online backup API from a read-only connection. Use it while
        n8n runs.
      - V(locked_copy) runs C(PRAGMA wal_checkpoint(TRUNCATE)), holds C(BEGIN IMMEDIATE) with the
        write-ahead log empty, and copies the database file. Use it only while n8n and its workers are
        stopped. It writes the checkpoint into the live database file, as n8n does at its next start.
        If another process keeps the log from emptying, or holds the write lock for 10 seconds, the
        module fails and copies nothing.
    type: str
    choices: [backup_api, locked_copy]
    default: backup_api
notes:
  - On n8n 1.x (rollback journal, not WAL) the copy holds a read lock for its duration, which
    makes n8n's writes wait; quiesce n8n first (see M(lifeboat.n8n.n8n_executions)).
  - Opening a database read-only when its C(-wal) and C(-shm) files do not exist (n8n stopped)
    creates them, empty, with the database file's owner and mode; n8n uses them at its next start.
seealso:
  - module: lifeboat.n8n.n8n_sqlite_check
  - module: lifeboat.n8n.n8n_info
  - module: lifeboat.n8n.n8n_executions
"""

EXAMPLES = r"""
- name: Copy the live SQLite database
  lifeboat.n8n.n8n_sqlite_backup:
    src: /home/n8n/.n8n/database.sqlite
    dest: /var/backups/n8n/database-{{ ansible_date_time.iso8601_basic_short }}.sqlite
  register: copy

- name: Copy it while n8n is stopped, and nothing more
  lifeboat.n8n.n8n_sqlite_backup:
    src: /home/n8n/.n8n/database.sqlite
    dest: /var/backups/n8n/partial/database.sqlite
    method: locked_copy
    integrity_check: false
    checksum: false
    fsync: false

- name: Once n8n runs again, make the copy durable and check it
  lifeboat.n8n.n8n_sqlite_check:
    path: /var/backups/n8n/partial/database.sqlite

- name: Record the checksum in the manifest
  ansible.builtin.set_fact:
    n8n_backup_manifest: "{{ n8n_backup_manifest | combine({'database': {'sha256': copy.sha256, 'size': copy.size}}) }}"
"""

RETURN = r"""
dest:
  description: The copy (absolute path).
  returned: always
  type: str
  sample: /var/backups/n8n/database.sqlite
size:
  description: Size of the copy in bytes (in check mode, of the source database and its WAL).
  returned: always
  type: int
  sample: 2138112
sha256:
  description: SHA-256 of the copy (null in check mode and with O(checksum=false)).
  returned: always
  type: str
  sample: 0b5c0ac8f4d4d58b3e5e0fbd8a52a2e1b1e2a3c1f0b6b0d6d7b9f4c0f6a1e2d3
integrity:
  description: C(ok) when the integrity check passed, C(skipped) when O(integrity_check=false) or in check mode.
  returned: always
  type: str
  sample: ok
duration_s:
  description: Seconds the backup took.
  returned: always
  type: float
  sample: 0.42
pages:
  description: Database pages copied (null in check mode).
  returned: always
  type: int
  sample: 522
journal_mode:
  description: The source's journal mode, C(wal) (n8n 2.x) or C(rollback).
  returned: always
  type: str
  sample: wal
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._sqlite_backup import (
    METHODS,
    SqliteBackupError,
    backup_sqlite,
    source_info,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            mode=dict(type="str", default="0600"),
            integrity_check=dict(type="bool", default=True),
            checksum=dict(type="bool", default=True),
            fsync=dict(type="bool", default=True),
            method=dict(type="str", default="backup_api", choices=list(METHODS)),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        mode = int(params["mode"], 8)
        if not 0 <= mode <= 0o7777:
            raise ValueError(params["mode"])
    except ValueError:
        module.fail_json(msg="Cannot use mode %r: give octal permissions as a string, such as '0600'" % params["mode"])
    try:
        if module.check_mode:
            info = source_info(params["src"])
            module.exit_json(
                changed=True,
                dest=params["dest"],
                size=info["size"] + info["wal_size"],
                sha256=None,
                integrity="skipped",
                duration_s=0.0,
                pages=None,
                journal_mode=info["journal_mode"],
            )
        result = backup_sqlite(
            params["src"],
            params["dest"],
            mode=mode,
            integrity_check=params["integrity_check"],
            checksum=params["checksum"],
            fsync=params["fsync"],
            method=params["method"],
        )
    except (SqliteBackupError, OSError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
