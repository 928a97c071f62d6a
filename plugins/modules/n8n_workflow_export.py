#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_workflow_export
short_description: Export n8n workflows as deterministic JSON files and diff them against a previous export
version_added: 0.1.0
description:
  - Writes one JSON file per workflow, C(<dest>/workflows/<id>.json), and C(<dest>/index.json), read directly
    from n8n's database. With O(previous), also compares with that earlier export and writes C(<dest>/diff.txt).
  - These files are B(audit and diff artifacts, not backups) (the database dump is the backup). A reviewer sees
    what changed between two backups, and they can be kept in git. The same workflows therefore always give the
    same bytes, whatever n8n did meanwhile (its schedule triggers firing, activations, counters).
  - 'Format: UTF-8 JSON, keys sorted, 2-space indent, LF line endings, a trailing newline; nodes sorted by name.
    The file name is the workflow id (percent-encoded where it holds characters other than letters, digits,
    C(-), C(_), C(.), C(~)).'
  - 'Each workflow file holds: C(id), C(name), C(active), C(isArchived), C(versionId) (the draft),
    C(activeVersionId) (the published version; when the database has the column: n8n 2.x, and 1.123 where it
    equals C(versionId)), C(nodes), C(connections), C(settings), C(tags) (sorted names), C(folder) (folder names
    from the project root down), C(project) (the owning project''s name), and when set C(sharedWith),
    C(description), C(meta), C(nodeGroups), C(sourceWorkflowId).'
  - On n8n 2.x, when the published version differs from the draft, the file also holds
    C(published) = C({versionId, nodes, connections}) of the published version from C(workflow_history), which is
    what actually runs.
  - 'Left out because they change without anyone editing the workflow: C(createdAt), C(updatedAt),
    C(triggerCount), C(versionCounter), C(staticData) (trigger runtime state, which can also hold signing
    secrets of webhooks registered with external services; the database dump carries it) and
    C(meta.templateCredsSetupCompleted) (an editor flag). Version history authors and timestamps are not exported.'
  - C(pinData) is left out unless O(include_pin_data=true).
  - C(index.json) lists, per workflow, C(id), C(name), C(active), C(isArchived), C(versionId),
    C(activeVersionId), C(file) and the C(sha256) of its file.
  - Reads in one read-only transaction (a consistent snapshot), whether n8n runs or is stopped. Credentials
    are never read; nodes reference credentials by id and name only.
  - Writes into a fresh temporary folder beside O(dest) and renames it into place, so O(dest) is either the
    previous complete export or the new one. An existing O(dest) is only replaced when it is an empty folder
    or a lifeboat.n8n workflow export holding nothing else.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description: Reads the database, computes the export, its index and the diff, reports whether O(dest) would
      change, and writes nothing.
    support: full
  diff_mode:
    description: The comparison with O(previous) is returned in RV(diff) and written to C(diff.txt) whether or
      not C(--diff) is given; C(--diff) adds nothing.
    support: none
  idempotent:
    description: Exporting unchanged workflows into an O(dest) that already holds the same export (same bytes,
      same permissions) changes nothing and reports C(changed=false).
    support: full
options:
  dest:
    description:
      - The folder to create for the export. Its parent must exist.
      - An existing empty folder, or an existing lifeboat.n8n workflow export, is replaced atomically; anything
        else makes the module fail without touching it.
    type: path
    required: true
  previous:
    description:
      - The O(dest) of an earlier export. When given, the result carries RV(diff) and C(<dest>/diff.txt)
        holds a summary plus a unified diff of every added, removed and changed workflow file.
      - It may be O(dest) itself (it is read before anything is written).
    type: path
  include_archived:
    description: Export archived workflows too (their files say C(isArchived=true)).
    type: bool
    default: true
  include_pin_data:
    description:
      - Add each workflow's pinned data (C(pinData)).
      - Off by default because pinned data is whatever a user pinned while testing (API responses, tokens,
        personal data), it only affects manual executions, and these exports are meant to be reviewed and kept
        in git. The database dump holds it regardless.
    type: bool
    default: false
  mode:
    description:
      - Permissions of the files, octal as a string. Folders get the same plus search (C(x)) wherever read is
        granted (C(0600) gives C(0700) folders).
      - Node parameters can hold whatever users typed into them, so the default lets only the owner read.
    type: str
    default: '0600'
notes:
  - Node parameters are exported as n8n stores them, as n8n's own C(export:workflow) does. A secret pasted into a
    node parameter instead of a credential ends up in the export.
  - On case-insensitive file systems two workflow ids that differ only in case would share a file; n8n's own
    C(export:workflow --separate) has the same limit. Managed hosts are Linux.
seealso:
  - module: lifeboat.n8n.n8n_info
"""

EXAMPLES = r"""
- name: Export the workflows next to the database dump, compared with the previous backup
  lifeboat.n8n.n8n_workflow_export:
    database:
      type: sqlite
      path: /home/n8n/.n8n/database.sqlite
    dest: "{{ backup_dir }}/workflows-export"
    previous: "{{ previous_backup_dir }}/workflows-export"
  register: export

- name: Show which workflows changed since the previous backup
  ansible.builtin.debug:
    msg: "{{ export.diff.changed | map(attribute='name') | list }}"
  when: export.diff is not none

- name: Export from PostgreSQL, live workflows only, readable by the backup group
  lifeboat.n8n.n8n_workflow_export:
    database:
      type: postgresdb
      host: db.internal
      name: n8n
      user: n8n
      password: "{{ vault_n8n_db_password }}"
    dest: /srv/audit/n8n-workflows
    include_archived: false
    mode: '0640'
"""

RETURN = r"""
changed:
  description: Whether O(dest) was (or, in check mode, would be) written.
  returned: always
  type: bool
  sample: true
count:
  description: Number of workflows exported.
  returned: always
  type: int
  sample: 4
dest:
  description: The export folder (absolute path).
  returned: always
  type: str
  sample: /var/backups/n8n/2026-11-21/workflows-export
files:
  description: The export's files, relative to O(dest).
  returned: always
  type: list
  elements: str
  sample: [diff.txt, index.json, workflows/bwmeg15FafcmE04F.json]
index:
  description: The entries of C(index.json), one per workflow, sorted by id.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The workflow id.
      type: str
    name:
      description: The workflow name.
      type: str
    active:
      description: n8n's C(active) flag.
      type: bool
    isArchived:
      description: Whether the workflow is archived.
      type: bool
    versionId:
      description: The draft's version id.
      type: str
    activeVersionId:
      description: The published version id (null when not published, or when the database has no such column).
      type: str
    file:
      description: The workflow's file, relative to O(dest).
      type: str
    sha256:
      description: SHA-256 of the workflow's file.
      type: str
  sample:
    - id: bwmeg15FafcmE04F
      name: Lifeboat echo
      active: true
      isArchived: false
      versionId: e857614b-a3c2-44d1-9ed0-5bf3c115ea7b
      activeVersionId: e6b92c37-edda-4a21-9520-65359cdd2ef4
      file: workflows/bwmeg15FafcmE04F.json
      sha256: 4f1c0c3b5c1de5c0c5d2f0c1e8e2d0a1b9b7c6a5f4e3d2c1b0a9f8e7d6c5b4a3
diff:
  description:
    - The comparison with O(previous), by workflow id; null without O(previous).
    - Unrelated to Ansible's C(--diff) output.
  returned: always
  type: dict
  contains:
    added:
      description: Workflows only in the new export (C(id), C(name)).
      type: list
      elements: dict
    removed:
      description: Workflows only in the previous export (C(id), C(name)).
      type: list
      elements: dict
    changed:
      description:
        - Workflows whose file differs. C(fields) are the top-level keys that differ (for example C(nodes),
          C(versionId), C(published), C(tags)); C(nodes_added), C(nodes_removed), C(nodes_changed) name the draft's
          nodes, matched by node id (a renamed node is changed, under its new name).
      type: list
      elements: dict
    unchanged:
      description: Number of workflows whose file is byte-identical.
      type: int
  sample:
    added: []
    removed: []
    changed:
      - id: njhRxpJ2dlOFLX1L
        name: Lifeboat inactive
        fields: [nodes, versionId]
        nodes_added: []
        nodes_removed: []
        nodes_changed: [Done]
    unchanged: 3
diff_path:
  description: C(<dest>/diff.txt), null without O(previous).
  returned: always
  type: str
  sample: /var/backups/n8n/2026-11-21/workflows-export/diff.txt
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._workflow_export import WorkflowExportError, export_workflows

DATABASE_SPEC = database_argument_spec()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            database=dict(type="dict", required=True, options=DATABASE_SPEC),
            dest=dict(type="path", required=True),
            previous=dict(type="path"),
            include_archived=dict(type="bool", default=True),
            include_pin_data=dict(type="bool", default=False),
            mode=dict(type="str", default="0600"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        mode = int(params["mode"], 8)
        if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600:
            raise ValueError(params["mode"])
    except ValueError:
        module.fail_json(msg="Cannot use mode %r: give octal file permissions as a string that let the owner read and write, such as '0600'" % params["mode"])
    try:
        config = DatabaseConfig.from_mapping(params["database"])
        with N8nDatabase(config, readonly=True) as db:
            result = export_workflows(
                db,
                params["dest"],
                include_archived=params["include_archived"],
                include_pin_data=params["include_pin_data"],
                previous_dir=params["previous"],
                mode=mode,
                check_mode=module.check_mode,
            )
    except (DatabaseError, WorkflowExportError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
