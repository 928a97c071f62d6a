#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_workflow_import
short_description: Bring n8n's workflows to what a deterministic workflow export records, ids and versions kept
version_added: 0.1.0
description:
  - Reads an export written by M(lifeboat.n8n.n8n_workflow_export) (O(src)) and compares every workflow with the target's,
    read the same way (name, archived flag, draft C(versionId), nodes, connections, settings, tags, folder, description,
    meta, node groups, pinned data when the export has it, and on n8n 2.x the published version's content). The owning
    project is not compared (it names instance-specific projects).
  - Workflows that differ are imported with C(n8n import:workflow), ids kept. Every pinned n8n version's importer gives an
    imported workflow a new random C(versionId) and clears its published version, so the module then puts the recorded
    versions back in one transaction (the importer's history row renamed to the recorded draft C(versionId), the recorded
    published version added to C(workflow_history)), unlinks tags the workflow no longer has and files it into its
    recorded folder path (created when missing) in its owning project.
  - With O(activate=true), restores activation as recorded with the statements of n8n's own CLI (n8n 2.x
    C(publish:workflow --id --versionId), which requires the version in C(workflow_history); 1.x
    C(update:workflow --active)), without one CLI start per workflow. n8n registers the triggers of active workflows when
    it starts.
  - Finally reads everything back; any workflow still different fails the module.
  - Run it with n8n stopped.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description: Compares and plans the imports and the activation changes; writes nothing.
    support: full
  diff_mode:
    description: No diff output; RV(workflows) names the fields that differ per workflow.
    support: none
  idempotent:
    description: Workflows already as recorded are not imported again and their activation is not touched; a second run
      reports C(changed=false).
    support: full
options:
  src:
    description: The export folder (C(index.json) and C(workflows/)) on the managed host.
    type: path
    required: true
  activate:
    description: Restore each workflow's recorded activation (2.x the recorded published version).
    type: bool
    default: true
  version:
    description: The target's n8n version; read from its database when omitted (2.x keeps a version history; else 1.x).
    type: str
  n8n_command:
    description: The argv that runs the target's n8n CLI. Needed when workflows have to be imported.
    type: list
    elements: str
  n8n_env:
    description: Environment the CLI needs (database settings, C(N8N_USER_FOLDER), the key). Never logged.
    type: dict
    default: {}
  cli_timeout:
    description: Seconds to wait for C(n8n import:workflow).
    type: int
    default: 600
  tmp_dir:
    description: Parent of the private folder that holds the import file for a moment. Defaults to the system's.
    type: path
notes:
  - New workflows belong to the target owner's personal project (what C(n8n import:workflow) does); the recorded project
    names are not recreated.
  - Workflows of the target that the export does not have are left alone and listed in RV(extra).
seealso:
  - module: lifeboat.n8n.n8n_workflow_export
  - module: lifeboat.n8n.n8n_workflow_activation
  - module: lifeboat.n8n.n8n_credentials_import
"""

EXAMPLES = r"""
- name: Import the workflow artifacts and publish the recorded versions (n8n stopped)
  lifeboat.n8n.n8n_workflow_import:
    database:
      type: sqlite
      path: /home/n8n/.n8n/database.sqlite
    src: /var/tmp/lifeboat-n8n-rebuild/workflows
    n8n_command: [n8n]
    n8n_env: "{{ n8n_cli_env }}"
  register: imported

- name: Plan only
  lifeboat.n8n.n8n_workflow_import:
    database: "{{ n8n_database }}"
    src: /var/tmp/lifeboat-n8n-rebuild/workflows
  check_mode: true
  register: plan
"""

RETURN = r"""
workflows:
  description: Per workflow of the export, what was (or would be) done.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The workflow id.
      type: str
    name:
      description: The workflow name.
      type: str
    action:
      description: C(create), C(update) or C(unchanged).
      type: str
    fields:
      description: What differed (export field names, C(history) for a missing draft version, C(published)).
      type: list
      elements: str
  sample: [{id: JlHQjPPzFLZZC4kl, name: Lifeboat echo, action: update, fields: [nodes, versionId]}]
activation:
  description: Activation changes run (or planned in check mode), as M(lifeboat.n8n.n8n_workflow_activation) reports them.
  returned: success
  type: list
  elements: dict
created:
  description: Number of workflows created.
  returned: success
  type: int
updated:
  description: Number of workflows updated.
  returned: success
  type: int
unchanged:
  description: Number of workflows already as recorded.
  returned: success
  type: int
extra:
  description: Ids of target workflows the export does not have (left alone).
  returned: success
  type: list
  elements: str
major:
  description: The target's n8n major version the activation followed.
  returned: success
  type: int
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._activation import N8nCli, N8nCliError
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._info import releasable_env_values
from ansible_collections.lifeboat.n8n.plugins.module_utils._migrations import MigrationsError, parse_version
from ansible_collections.lifeboat.n8n.plugins.module_utils._rebuild_workflows import RebuildError, import_workflows
from ansible_collections.lifeboat.n8n.plugins.module_utils._workflow_export import WorkflowExportError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            database=dict(type="dict", required=True, options=database_argument_spec()),
            src=dict(type="path", required=True),
            activate=dict(type="bool", default=True),
            version=dict(type="str"),
            n8n_command=dict(type="list", elements="str"),
            n8n_env=dict(type="dict", default={}, no_log=True),
            cli_timeout=dict(type="int", default=600),
            tmp_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    # n8n_env is no_log for its secrets; its other values (UTC, sqlite, URLs) must not mask the results.
    module.no_log_values.difference_update(releasable_env_values(params["n8n_env"] or {}, keep=[params["database"].get("password")]))
    config = DatabaseConfig.from_mapping(params["database"])

    def cli():
        return N8nCli(params["n8n_command"] or [], params["n8n_env"] or {}, timeout=float(params["cli_timeout"]))

    try:
        major = parse_version(params["version"])[0] if params["version"] else None
        result = import_workflows(
            lambda: N8nDatabase(config),
            params["src"],
            cli if params["n8n_command"] else None,
            major=major,
            activate=params["activate"],
            check_mode=module.check_mode,
            tmp_dir=params["tmp_dir"],
        )
    except (RebuildError, DatabaseError, N8nCliError, WorkflowExportError, MigrationsError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
