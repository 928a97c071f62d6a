#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_backup_lock
short_description: Take or release the lock that allows one lifeboat.n8n backup of an n8n at a time
version_added: 0.2.0
description:
  - Two backups of one n8n at once would quiesce and resume n8n under each other's feet and could
    write into the same folder. The backup role takes this lock before it stops anything.
  - The lock is the file C(<root>/.lock) (mode 0600), created atomically with a record of its holder
    (backup id, start time, user, host and, when Ansible runs on the managed host itself, the pid of
    the Ansible run). With O(state=acquired) the module waits up to O(wait) seconds for a holder to
    finish; it then fails with a message naming the holder, what to do, and the file to remove if the
    lock is stale.
  - A lock whose holder ran on this host and whose process is gone (killed, rebooted) is surely
    stale, so it is taken over, with a warning naming it. A lock held from elsewhere is never broken;
    when it is older than O(stale_after) seconds the message says it is probably stale.
  - With O(state=released) the lock is removed only when O(token) matches, so a run never removes
    another run's lock.
author:
  - lifeboat.n8n maintainers (@lifeboat)
attributes:
  check_mode:
    description: Reports whether the lock is free and who holds it; takes and releases nothing.
    support: full
  diff_mode:
    description: A lock has no meaningful diff.
    support: none
  idempotent:
    description: Taking a lock twice fails the second time (it is held); releasing twice reports C(changed=false).
    support: partial
options:
  state:
    description:
      - V(acquired) takes the lock (waiting up to O(wait) seconds); V(released) gives it back.
    type: str
    choices: [acquired, released]
    required: true
  root:
    description: The folder the lock protects (the backup role's C(backup_root)). It must exist.
    type: path
    required: true
  backup_id:
    description: The id of the backup taking the lock, recorded for whoever finds it held. Required with O(state=acquired).
    type: str
  wait:
    description: Seconds to wait for the holder to release the lock before failing. V(0) fails at once.
    type: int
    default: 0
  poll:
    description: Seconds between two looks at a held lock while waiting.
    type: float
    default: 2.0
  stale_after:
    description:
      - A held lock older than this many seconds is reported as probably stale (never removed on age alone).
    type: int
    default: 86400
  token:
    description: The token returned when the lock was taken. Required with O(state=released).
    type: str
notes:
  - The lock serializes runs that share O(root); point two deployments on one host at different C(backup_root)s
    so they can back up in parallel.
seealso:
  - module: lifeboat.n8n.n8n_manifest
"""

EXAMPLES = r"""
- name: Take the backup lock, waiting up to 10 minutes
  lifeboat.n8n.n8n_backup_lock:
    state: acquired
    root: /var/backups/lifeboat-n8n
    backup_id: "{{ backup_id }}"
    wait: 600
  register: backup_lock

- name: Release it
  lifeboat.n8n.n8n_backup_lock:
    state: released
    root: /var/backups/lifeboat-n8n
    token: "{{ backup_lock.token }}"
"""

RETURN = r"""
path:
  description: The lock file.
  returned: always
  type: str
  sample: /var/backups/lifeboat-n8n/.lock
token:
  description: Proof of ownership, to give back with O(state=released) (null when not taken, or in check mode).
  returned: always
  type: str
  sample: 5f0c3d8a9b1e2f47
owner:
  description: The record written into the lock (O(state=acquired)).
  returned: when acquired
  type: dict
  sample: {"backup_id": "20261121T140102Z", "started_at": "2026-11-21T14:01:02Z", "user": "root", "host": "n8n-prod",
           "process": {"pid": 4242, "start": 1234567}}
waited:
  description: Seconds spent waiting for another holder.
  returned: with O(state=acquired)
  type: float
  sample: 12.5
broken:
  description: The holder of a stale lock that was taken over (its process was gone), or null.
  returned: with O(state=acquired)
  type: str
  sample: backup 20261121T020000Z started 2026-11-21T02:00:00Z (12.0 h ago) by root@n8n-prod, pid 4242
holder:
  description: Who holds the lock, when it was not taken (and in check mode).
  returned: with O(state=acquired)
  type: str
  sample: backup 20261121T140102Z started 2026-11-21T14:01:02Z (3 min ago) by root@n8n-prod, pid 4242
"""

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._backup_lock import (
    LOCK_NAME,
    BackupLockError,
    acquire,
    describe,
    read_owner,
    release,
)


def _user():
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["acquired", "released"], required=True),
            root=dict(type="path", required=True),
            backup_id=dict(type="str"),
            wait=dict(type="int", default=0),
            poll=dict(type="float", default=2.0),
            stale_after=dict(type="int", default=86400),
            token=dict(type="str", no_log=False),
        ),
        required_if=[("state", "acquired", ["backup_id"]), ("state", "released", ["token"])],
        supports_check_mode=True,
    )
    params = module.params
    root = params["root"]
    path = os.path.join(root, LOCK_NAME)
    if not os.path.isdir(root):
        module.fail_json(msg="Cannot lock %s: the folder does not exist. Create it first (the backup role does)." % root, path=path)

    if params["state"] == "released":
        if module.check_mode:
            module.exit_json(changed=False, path=path, token=params["token"])
        try:
            removed = release(root, params["token"])
        except BackupLockError as exc:
            module.fail_json(msg=str(exc), path=path, exception=traceback.format_exc())
        module.exit_json(changed=removed, path=path, token=params["token"])

    if module.check_mode:
        owner = read_owner(path) if os.path.lexists(path) else None
        module.exit_json(
            changed=owner is None, path=path, token=None, waited=0.0, broken=None, holder=describe(owner, time.time()) if os.path.lexists(path) else None
        )
    try:
        result = acquire(root, params["backup_id"], wait=max(0, params["wait"]), poll=max(0.1, params["poll"]), stale_after=params["stale_after"], user=_user())
    except OSError as exc:
        module.fail_json(msg="Cannot take the backup lock %s: %s. Nothing was changed." % (path, exc), path=path, exception=traceback.format_exc())
    if result["broken"]:
        module.warn("Took over the stale backup lock %s: its holder's process is gone (%s)." % (path, result["broken"]))
    if result["waited"] >= 1 and result["acquired"]:
        module.warn("Waited %d s for another backup to release %s." % (result["waited"], path))
    if not result["acquired"]:
        stale = (
            " The lock looks stale (%s): if no backup of this n8n runs, remove %s and run again." % (result["stale"], path)
            if result["stale"]
            else " If no backup of this n8n runs (the holder was killed), the lock is stale: remove %s." % path
        )
        module.fail_json(
            msg="Another lifeboat.n8n backup of this n8n is running: %s (lock %s). Wait for it to finish and run again, or set "
            "backup_lock_wait to wait for it.%s Nothing was changed: n8n was not stopped." % (result["holder"], path, stale),
            path=path,
            holder=result["holder"],
            waited=result["waited"],
            broken=result["broken"],
            token=None,
        )
    module.exit_json(changed=True, path=path, token=result["token"], owner=result["owner"], waited=result["waited"], broken=result["broken"], holder=None)


if __name__ == "__main__":
    main()
