#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_info
short_description: Report what an n8n instance is, from its database and its deployment
version_added: 0.1.0
description:
  - Reads n8n's database (read-only) and reports the n8n version, where the database is and its
    schema's migration head, how many workflows, credentials and executions it holds, a fingerprint
    of the encryption key, where binary data goes, the trigger-relevant environment, and every
    workflow with its live triggers and webhooks.
  - Never returns the encryption key or any other secret. The key is reported as fingerprints
    (C(lbfp1:...)), secret-looking environment variables are redacted.
  - On n8n 2.x a workflow is active when it has a published version (C(activeVersionId)), and its
    triggers and webhooks are those of that version; on 1.x they are those of the workflow itself.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description: Read-only; runs in check mode exactly as without it.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  idempotent:
    description: Reads only; C(changed) is always false.
    support: full
options:
  n8n_command:
    description:
      - The argv that runs the n8n CLI, used to read the version with C(--version).
      - For example V([node, /opt/n8n/node_modules/n8n/bin/n8n]), V([n8n]) or
        V([docker, exec, n8n, n8n]) when n8n runs in a container.
      - Ignored when O(version) is given. Without either, the version is the newest row of
        n8n's C(instance_version_history) table (2.x), else null.
    type: list
    elements: str
  version:
    description:
      - The n8n version when already known (V(2.40.7)); the CLI is not run.
    type: str
  env:
    description:
      - n8n's environment as the deployment sets it (the container's or service's environment).
      - Used for the key fingerprint (C(N8N_ENCRYPTION_KEY), or C(N8N_ENCRYPTION_KEY_FILE) when
        readable on the managed host), binary-data settings and the trigger-relevant variables.
      - Never logged, never returned except as redacted C(trigger_env).
    type: dict
    default: {}
  config_path:
    description:
      - Path on the managed host of n8n's settings file, C(<N8N_USER_FOLDER>/.n8n/config), which
        holds the encryption key n8n generated or was given.
      - When set, its key's fingerprint is compared with the environment's, and the folder is
        checked for a not-yet-migrated C(binaryData) folder (2.x).
    type: path
notes:
  - Runs on the managed host that can reach the database; PostgreSQL needs C(psycopg) or C(psycopg2) there.
seealso:
  - module: lifeboat.n8n.n8n_executions
  - module: lifeboat.n8n.n8n_sqlite_backup
"""

EXAMPLES = r"""
- name: Describe the n8n instance on SQLite
  lifeboat.n8n.n8n_info:
    database:
      path: /home/n8n/.n8n/database.sqlite
    n8n_command: [n8n]
    config_path: /home/n8n/.n8n/config
    env: "{{ n8n_env }}"
  register: n8n

- name: Describe an n8n in Docker on PostgreSQL
  lifeboat.n8n.n8n_info:
    database:
      type: postgresdb
      host: 127.0.0.1
      name: n8n
      user: n8n
      password: "{{ n8n_db_password }}"
    n8n_command: [docker, exec, n8n, n8n]
    env: "{{ n8n_container_env }}"
  register: n8n

- name: Refuse to continue when the key sources disagree
  ansible.builtin.assert:
    that: n8n.key.consistent
    fail_msg: "N8N_ENCRYPTION_KEY and .n8n/config hold different keys: n8n will not start"
"""

RETURN = r"""
version:
  description: The n8n version (from O(version), the CLI, or the newest instance_version_history row).
  returned: always
  type: str
  sample: 2.40.7
db:
  description: The database and its schema.
  returned: always
  type: dict
  contains:
    type:
      description: C(sqlite) or C(postgresdb).
      type: str
      sample: sqlite
    location:
      description: Where the database is, without the password.
      type: str
      sample: SQLite /home/n8n/.n8n/database.sqlite
    table_prefix:
      description: C(DB_TABLE_PREFIX).
      type: str
      sample: ""
    migration_head:
      description: The newest row of the C(migrations) table (the schema's identity), or null.
      type: dict
      sample: {"name": "AddInstanceAiThreadHistoryIndex1789131391410", "timestamp": 1789131391410}
    migrations_count:
      description: How many migrations were applied.
      type: int
      sample: 261
    instance_versions:
      description: Every n8n version that started on the database, most recent first (2.x; empty on 1.x).
      type: list
      elements: dict
      sample: [{"version": "2.40.7", "created_at": "2026-11-21T14:30:46.518Z"}]
counts:
  description: What the database holds.
  returned: always
  type: dict
  contains:
    workflows:
      description: All workflows, archived included.
      type: int
    active_workflows:
      description: Active (2.x, published) workflows.
      type: int
    archived_workflows:
      description: Archived workflows.
      type: int
    credentials:
      description: Credentials.
      type: int
    executions:
      description: Executions per status (soft-deleted ones left out).
      type: dict
      sample: {"error": 1, "running": 1, "success": 12}
key:
  description: Fingerprints of the encryption key; never the key.
  returned: always
  type: dict
  contains:
    fingerprint:
      description: Fingerprint of the key n8n uses (the environment's, else the config file's), or null.
      type: str
      sample: lbfp1:3f0c9a1e5b7d2c4f6a8e0b1d
    sources:
      description: Each place a key was found, with its fingerprint.
      type: list
      elements: dict
      sample: [{"source": "env", "fingerprint": "lbfp1:3f0c9a1e5b7d2c4f6a8e0b1d"}]
    consistent:
      description: True when a key was found and every source holds the same one.
      type: bool
binary_data:
  description: Binary-data mode and filesystem path as n8n resolves them (paths as n8n sees them).
  returned: always
  type: dict
  sample: {"mode": "filesystem", "path": "/home/node/.n8n/storage"}
trigger_env:
  description: The trigger-relevant environment variables, secrets redacted.
  returned: always
  type: dict
  sample: {"GENERIC_TIMEZONE": "UTC", "WEBHOOK_URL": "https://n8n.example.com/"}
workflows:
  description: Every workflow, sorted by id.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Workflow id.
      type: str
    name:
      description: Workflow name.
      type: str
    active:
      description: Whether the workflow is active (2.x, has a published version).
      type: bool
    version_id:
      description: The current (draft) version.
      type: str
    active_version_id:
      description: The published version (2.x); null on 1.x and for inactive workflows.
      type: str
    archived:
      description: Whether the workflow is archived.
      type: bool
    trigger_types:
      description: Types of the enabled trigger nodes in the live version (the draft for inactive workflows).
      type: list
      elements: str
      sample: ["n8n-nodes-base.webhook"]
    webhooks:
      description: Registered webhooks (active workflows) and the live version's Webhook nodes.
      type: list
      elements: dict
      sample: [{"path": "lifeboat-echo", "method": "GET"}]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._info import InfoError, gather_info, releasable_env_values
from ansible_collections.lifeboat.n8n.plugins.module_utils._migrations import MigrationsError, n8n_version

DATABASE_SPEC = database_argument_spec()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            database=dict(type="dict", required=True, options=DATABASE_SPEC),
            n8n_command=dict(type="list", elements="str"),
            version=dict(type="str"),
            env=dict(type="dict", default={}, no_log=True),
            config_path=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    # env is no_log for its secrets; its other values (UTC, sqlite, URLs) must stay readable.
    module.no_log_values.difference_update(
        releasable_env_values(params["env"] or {}, keep=[params["database"].get("password")])
    )

    def run(argv, env):
        return module.run_command(list(argv), environ_update=dict(env or {}))

    try:
        version = params["version"]
        if not version and params["n8n_command"]:
            version = n8n_version(params["n8n_command"], run=run)
        config = DatabaseConfig.from_mapping(params["database"])
        with N8nDatabase(config, readonly=True) as db:
            info = gather_info(db, params["env"] or {}, params["config_path"], version)
    except (DatabaseError, InfoError, MigrationsError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
