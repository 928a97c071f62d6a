#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_executions
short_description: Report n8n executions in flight, or wait until there are none
version_added: 0.1.0
description:
  - Reads n8n's C(execution_entity) table for executions that are C(new) (created, not started)
    or C(running), the ones a stop would interrupt and a backup would catch half-done.
  - With O(wait=true), polls until none are left and reports every execution it waited for; at
    O(timeout) it fails and names the executions and workflows still busy.
  - With O(wait=false), reports the current ones at once, so that a task can poll with
    C(until) and show progress between attempts.
  - C(waiting) executions (parked in a Wait node) survive a restart; they are not waited for
    unless listed in O(statuses).
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description: Read-only. In check mode O(wait=true) reports the current executions without waiting.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  idempotent:
    description: Reads only; C(changed) is always false.
    support: full
options:
  wait:
    description:
      - Wait until no execution is in O(statuses). If false, report the current ones and return.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait before failing. V(0) checks once.
    type: int
    default: 300
  poll_interval:
    description: Seconds between two looks at the database.
    type: float
    default: 2.0
  statuses:
    description: Execution statuses that count as busy.
    type: list
    elements: str
    choices: [new, running, waiting, success, error, canceled, crashed, unknown]
    default: [new, running]
seealso:
  - module: lifeboat.n8n.n8n_info
"""

EXAMPLES = r"""
- name: Wait up to 5 minutes for running executions to finish
  lifeboat.n8n.n8n_executions:
    database:
      path: /home/n8n/.n8n/database.sqlite
    timeout: 300

- name: Show progress while executions drain (one attempt every 5 s)
  lifeboat.n8n.n8n_executions:
    database:
      type: postgresdb
      host: db.internal
      user: n8n
      password: "{{ n8n_db_password }}"
    wait: false
  register: busy
  until: busy.idle
  retries: 60
  delay: 5
"""

RETURN = r"""
idle:
  description: True when no execution is in O(statuses) at the end.
  returned: always
  type: bool
busy:
  description:
    - The executions in O(statuses) at the end (empty when idle), oldest first.
    - Each has C(id), C(workflow_id), C(workflow_name), C(status), C(started_at) (ISO 8601 UTC,
      null while C(new)) and C(mode) (C(webhook), C(trigger), C(manual), ...).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "3", "workflow_id": "jjCWF8oQFny47Rvq", "workflow_name": "Lifeboat slow", "status": "running",
            "started_at": "2026-11-21T14:31:23.098Z", "mode": "webhook"}]
waited_for:
  description: Every busy execution seen while waiting (same fields as RV(busy)).
  returned: always
  type: list
  elements: dict
remaining:
  description: The executions still busy when the wait ended (the same as RV(busy)).
  returned: always
  type: list
  elements: dict
waited_seconds:
  description: How long the module waited.
  returned: always
  type: float
  sample: 11.9
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._executions import (
    EXECUTION_STATUSES,
    ExecutionsBusyError,
    wait_until_idle,
)

DATABASE_SPEC = database_argument_spec()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            database=dict(type="dict", required=True, options=DATABASE_SPEC),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=300),
            poll_interval=dict(type="float", default=2.0),
            statuses=dict(type="list", elements="str", choices=list(EXECUTION_STATUSES), default=["new", "running"]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    waiting = params["wait"] and not module.check_mode
    try:
        config = DatabaseConfig.from_mapping(params["database"])
        result = wait_until_idle(
            lambda: N8nDatabase(config, readonly=True),
            timeout=params["timeout"] if waiting else 0,
            poll_interval=params["poll_interval"],
            statuses=params["statuses"],
        ).to_dict()
    except ExecutionsBusyError as exc:
        result = exc.result.to_dict()
        if waiting:
            module.fail_json(msg=str(exc), idle=False, busy=result["remaining"], **result)
    except (DatabaseError, ValueError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, idle=not result["remaining"], busy=result["remaining"], **result)


if __name__ == "__main__":
    main()
