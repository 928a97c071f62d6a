#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_verified_copy
short_description: Copy a backup artifact while checking it against its manifest checksum
version_added: 0.1.0
description:
  - Copies one file to O(dest) with the kernel's copy (as C(cp) does) while a second thread hashes
    the copy right behind it, from memory, so the file is read once for both the check and the copy
    and the check costs about no time beside the copy. The copy appears at O(dest) only when its size and SHA-256
    match O(size) and O(sha256); otherwise nothing is left and the task fails with what was found.
  - The restore role stages a SQLite database beside n8n's with it while n8n still runs, then only
    renames it into place once n8n has stopped.
  - The copy is written as C(<dest>.partial) with exactly O(mode) and O(owner)/O(group), flushed to
    disk (O(fsync)), renamed to O(dest), and its folder flushed. A full file system is refused
    before anything is written, or, if it fills during the copy, with a message saying how much is
    free; the partial file is always removed.
author:
  - lifeboat.n8n maintainers (@lifeboat)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Checks that O(src) exists with O(size) bytes and that O(dest)'s file system has room; reads and writes nothing else.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: none
    details: Every run copies (and checks) the file again and reports a change; O(dest) is replaced atomically.
options:
  src:
    description: The file to copy, on the managed host (an artifact of a verified backup).
    type: path
    required: true
  dest:
    description:
      - Where the copy goes. An existing file there is replaced, atomically.
      - Its folder must exist. Put it on the file system where the file is finally used, so that
        moving it there is a rename.
    type: path
    required: true
  sha256:
    description: The SHA-256 the file must have (64 hex digits), the artifact's C(sha256) in the backup's manifest.
    type: str
    required: true
  size:
    description: The size in bytes the file must have, the artifact's C(size) in the manifest. Checked before any byte is read.
    type: int
  mode:
    description: Permissions of the copy, in octal (the umask does not change them).
    type: raw
    default: '0600'
  owner:
    description: Owner of the copy, a user name or numeric uid. Defaults to the user the module runs as.
    type: str
  group:
    description: Group of the copy, a group name or numeric gid. Defaults to that user's group.
    type: str
  fsync:
    description: Flush the copy and its folder to disk before reporting success.
    type: bool
    default: true
notes:
  - The check and the copy cost one read of O(src). A checksum that does not match means the
    artifact was corrupted or modified after the backup; such a backup must not be restored.
seealso:
  - module: lifeboat.n8n.n8n_manifest
"""

EXAMPLES = r"""
- name: Stage the backup's SQLite database beside n8n's, checked against the manifest
  lifeboat.n8n.n8n_verified_copy:
    src: /var/backups/n8n/20261121T140102Z-1a2b3c4d/database.sqlite
    dest: /home/node/.n8n/database.sqlite.lifeboat-restore
    sha256: "{{ manifest.artifacts | selectattr('kind', 'equalto', 'database') | map(attribute='sha256') | first }}"
    size: "{{ manifest.artifacts | selectattr('kind', 'equalto', 'database') | map(attribute='size') | first }}"
    owner: "1000"
    group: "1000"
    mode: "0600"
"""

RETURN = r"""
dest:
  description: The copy.
  returned: success
  type: str
  sample: /home/node/.n8n/database.sqlite.lifeboat-restore
size:
  description: Size of the copy in bytes.
  returned: success
  type: int
  sample: 7612350464
sha256:
  description: SHA-256 of the copy as it was written (null in check mode, where nothing is read).
  returned: success
  type: str
  sample: 0b5c0ac8f4d4d58b3e5e0fbd8a52a2e1b1e2a3c1f0b6b0d6d7b9f4c0f6a1e2d3
duration_s:
  description: Seconds the check and the copy took.
  returned: success
  type: float
  sample: 16.2
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._verified_copy import (
    VerifiedCopyError,
    copy_verified,
    resolve_gid,
    resolve_uid,
)


def _mode(module, value):
    try:
        return int(str(value), 8) & 0o7777
    except ValueError:
        module.fail_json(msg="mode must be an octal number such as '0600', not %r" % (value,))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            sha256=dict(type="str", required=True),
            size=dict(type="int"),
            mode=dict(type="raw", default="0600"),
            owner=dict(type="str"),
            group=dict(type="str"),
            fsync=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    mode = _mode(module, params["mode"])
    try:
        result = copy_verified(
            params["src"],
            params["dest"],
            params["sha256"],
            size=params["size"],
            mode=mode,
            uid=resolve_uid(params["owner"]),
            gid=resolve_gid(params["group"]),
            fsync=params["fsync"],
            check_only=module.check_mode,
        )
    except VerifiedCopyError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
