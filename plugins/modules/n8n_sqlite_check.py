#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_sqlite_check
short_description: Make a SQLite database copy durable and check its integrity
version_added: 0.1.0
description:
  - The second half of M(lifeboat.n8n.n8n_sqlite_backup), for a copy written with
    C(integrity_check=false), C(checksum=false) and C(fsync=false) while n8n was quiesced.
    It reads and flushes only the copy, which nothing else writes, so it can run after n8n has
    resumed and costs no downtime.
  - Flushes the copy and its folder to disk, then runs C(PRAGMA integrity_check) on it while its
    SHA-256 is computed beside it (each reads the file once).
  - Fails, with what to do, when the copy cannot be flushed (for example a full file system), is
    not a SQLite database, or fails the check. It never deletes the copy; the caller decides.
author:
  - lifeboat.n8n maintainers (@lifeboat)
attributes:
  check_mode:
    description: Runs as usual; it only reads the copy (and flushes it, which changes no content).
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
  idempotent:
    description: Never changes anything (C(changed=false)).
    support: full
options:
  path:
    description: The copy to check, the O(lifeboat.n8n.n8n_sqlite_backup#module:dest) of the backup.
    type: path
    required: true
  checksum:
    description:
      - Compute the SHA-256 of the copy beside the check.
      - When false, RV(sha256) is null.
    type: bool
    default: true
notes:
  - The copy is opened read-only and C(immutable), so the check leaves no C(-wal) or C(-shm) file
    beside it. Never point it at n8n's live database; check that with the C(sqlite3) shell.
seealso:
  - module: lifeboat.n8n.n8n_sqlite_backup
"""

EXAMPLES = r"""
- name: Copy the database while n8n is quiesced, nothing more
  lifeboat.n8n.n8n_sqlite_backup:
    src: /home/n8n/.n8n/database.sqlite
    dest: /var/backups/n8n/partial/database.sqlite
    integrity_check: false
    checksum: false
    fsync: false

- name: Once n8n runs again, make the copy durable and check it
  lifeboat.n8n.n8n_sqlite_check:
    path: /var/backups/n8n/partial/database.sqlite
  register: checked
"""

RETURN = r"""
path:
  description: The copy (absolute path).
  returned: always
  type: str
  sample: /var/backups/n8n/partial/database.sqlite
size:
  description: Size of the copy in bytes.
  returned: always
  type: int
  sample: 2138112
sha256:
  description: SHA-256 of the copy (null with O(checksum=false)).
  returned: always
  type: str
  sample: 0b5c0ac8f4d4d58b3e5e0fbd8a52a2e1b1e2a3c1f0b6b0d6d7b9f4c0f6a1e2d3
integrity:
  description: C(ok); a copy that fails the check fails the task instead.
  returned: always
  type: str
  sample: ok
duration_s:
  description: Seconds the flush and the check took.
  returned: always
  type: float
  sample: 0.31
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._sqlite_backup import (
    SqliteBackupError,
    check_copy,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            checksum=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    try:
        result = check_copy(module.params["path"], checksum=module.params["checksum"])
    except (SqliteBackupError, OSError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
