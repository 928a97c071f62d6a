#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_move_aside
short_description: Move an n8n target's current files aside into a snapshot folder, in one step
version_added: 0.1.0
description:
  - Moves each file or folder of O(files) that exists into O(folder), under its O(files[].name).
    On one file system that is a rename, instant at any size; across file systems a copy and a
    removal, as C(mv) does. Nothing is deleted.
  - The restore role moves n8n's current database, key file, binary data and community nodes
    aside with it once n8n has stopped, and its rollback moves them back. One call replaces a
    C(stat) and a C(mv) per file inside the restore's downtime.
  - O(folder) is created when missing and made C(0700), since what it holds includes n8n's
    database and key file.
  - A name already present in O(folder) (moved there by an earlier, interrupted run) is left as
    it is, never overwritten, and reported in RV(already_aside).
author:
  - lifeboat.n8n maintainers (@lifeboat)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports in RV(moved) what would move; creates and moves nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: The second run finds the files already aside and moves nothing.
options:
  folder:
    description: The snapshot folder the files move into (created with its parents when missing).
    type: path
    required: true
  files:
    description: The files and folders to move aside, in order. A path where nothing exists is skipped.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The name it is kept under in O(folder); a plain file name without C(/), unique in O(files).
        type: str
        required: true
      path:
        description: Where it is now.
        type: path
        required: true
notes:
  - A failure stops at the file that could not move and names what moved before it; the restore
    role's rollback then moves those back.
seealso:
  - module: lifeboat.n8n.n8n_verified_copy
"""

EXAMPLES = r"""
- name: Move n8n's current files aside before the backup goes in place
  lifeboat.n8n.n8n_move_aside:
    folder: /var/lib/lifeboat/pre-restore/20261121T140102Z
    files:
      - name: database.sqlite
        path: /home/node/.n8n/database.sqlite
      - name: database.sqlite-wal
        path: /home/node/.n8n/database.sqlite-wal
      - name: config
        path: /home/node/.n8n/config
"""

RETURN = r"""
folder:
  description: The snapshot folder.
  returned: success
  type: str
  sample: /var/lib/lifeboat/pre-restore/20261121T140102Z
moved:
  description: Names of what was moved aside (in check mode, what would be).
  returned: success
  type: list
  elements: str
  sample: [database.sqlite, config]
already_aside:
  description: Names already in O(folder) from an earlier run, left as they were.
  returned: success
  type: list
  elements: str
  sample: []
absent:
  description: Names whose path held nothing, so nothing was moved.
  returned: success
  type: list
  elements: str
  sample: [database.sqlite-wal]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._move_aside import MoveAsideError, move_aside


def main():
    module = AnsibleModule(
        argument_spec=dict(
            folder=dict(type="path", required=True),
            files=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    name=dict(type="str", required=True),
                    path=dict(type="path", required=True),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    try:
        result = move_aside(module.params["folder"], module.params["files"], check_only=module.check_mode)
    except MoveAsideError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=bool(result["moved"]), **result)


if __name__ == "__main__":
    main()
