#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_manifest
short_description: Write or verify the manifest of an n8n backup
version_added: 0.1.0
author: lifeboat.n8n maintainers (@lifeboat)
description:
  - A backup directory holds its artifacts (database dump, binary data, community nodes, workflow
    export, ...) and one C(manifest.json). The manifest is written last, atomically, and only when
    every artifact exists, so its presence means the backup is complete.
  - With O(state=present) the module hashes every artifact itself (SHA-256 and size; a directory
    hashes to a listing of its files' hashes), assembles the manifest from the given parts,
    validates it against the manifest schema and writes it (mode 0600). An identical manifest
    already in place is left alone.
  - With O(state=verified) the module loads the manifest, validates it and checks every artifact
    (missing, size mismatch, checksum mismatch, path outside the backup directory). It fails
    listing every problem, because such a backup must not be restored; otherwise it returns the manifest.
  - The manifest never carries a secret. The key appears only as its fingerprint
    (P(lifeboat.n8n.key_fingerprint#filter)); the environment is redacted again, and a manifest with
    a value that looks secret is refused.
  - The schema is described in the collection's C(docs/manifest.md). A manifest written by a newer
    lifeboat.n8n (a higher C(schema_version)) is refused with a message to upgrade.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: With O(state=present), reports the manifest it would write and writes nothing. O(state=verified) only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: With O(state=present), the old and new manifest text.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - With O(state=present), a valid manifest that differs only in C(created_at) (and C(id) when O(id) is not given) is kept.
      - O(state=verified) never changes anything.
options:
  state:
    description:
      - V(present) writes the manifest of a complete backup.
      - V(verified) checks a backup against its manifest and fails when anything is wrong.
    type: str
    choices: [present, verified]
    default: present
  backup_dir:
    description: The backup directory on the managed host. Artifact paths are relative to it.
    type: path
    required: true
  path:
    description: The manifest file. Defaults to C(<backup_dir>/manifest.json).
    type: path
  id:
    description:
      - The backup's id (letters, digits and C(._:+-) characters).
      - Defaults to a new sortable id such as V(20261121T140102Z-1a2b3c4d); an existing manifest
        with otherwise identical content keeps its own.
    type: str
  host:
    description: The name of the host the backup was taken from. Defaults to the managed host's hostname.
    type: str
  n8n:
    description:
      - The n8n that was backed up, C({version, major, migration_head, migrations_count}).
      - C(version) as C(n8n --version) prints it (V(2.40.7)); C(major) is derived from it when omitted;
        C(migration_head) is the newest row of n8n's C(migrations) table as C({name, timestamp}) or null;
        C(migrations_count) the number of rows or null.
      - Required with O(state=present).
    type: dict
  database:
    description:
      - n8n's database, C({type, table_prefix, schema}) - C(type) V(sqlite) or V(postgresdb)
        (n8n's C(DB_TYPE)), C(table_prefix) n8n's C(DB_TABLE_PREFIX) (default empty), C(schema)
        the PostgreSQL schema or null.
      - Required with O(state=present).
    type: dict
  key_fingerprint:
    description:
      - The fingerprint of the encryption key the backup needs (V(lbfp1:) and 24 hex digits), from
        P(lifeboat.n8n.key_fingerprint#filter). Never the key itself; a value that is not a
        fingerprint is refused and not echoed.
      - Required with O(state=present).
    type: str
  counts:
    description:
      - What the backup holds, C({workflows, active_workflows, archived_workflows, credentials, executions}),
        where C(executions) maps an execution status to its count.
      - Required with O(state=present).
    type: dict
  workflows:
    description:
      - One record per workflow, C({id, name, active, version_id, active_version_id, archived, trigger_types, webhooks}),
        where C(webhooks) is a list of C({path, method}). C(active_version_id) (null on n8n 1.x),
        C(archived), C(trigger_types) and C(webhooks) default to null, false, [] and [].
      - Required with O(state=present).
    type: list
    elements: dict
  env:
    description:
      - The trigger-relevant environment, name to value, already redacted. Redacted once more here.
      - A secret-looking value passed by mistake is masked in the module's output and never recorded.
      - Required with O(state=present).
    type: dict
  binary_data:
    description:
      - n8n's binary data, C({mode, path, included}) - n8n's binary data mode, the filesystem path
        or null, and whether the backup includes it.
      - Required with O(state=present).
    type: dict
  artifacts:
    description:
      - The backup's artifacts. The module computes each one's SHA-256 and size.
      - Required with O(state=present); every artifact must exist.
    type: list
    elements: dict
    suboptions:
      name:
        description: A unique name, for example V(database).
        type: str
        required: true
      path:
        description: The file or directory, relative to O(backup_dir) (an absolute path inside it is accepted and stored relative).
        type: str
        required: true
      kind:
        description: What the artifact is.
        type: str
        required: true
        choices: [database, binary_data, nodes, workflow_export, env, other]
      format:
        description: Its format, for example V(sqlite), V(pg_custom), V(pg_directory), V(tar.zst), V(json).
        type: str
        required: true
  defer_checksum_formats:
    description:
      - With O(state=verified), artifacts of these formats (for example V(sqlite)) are checked for
        path, presence and size, but not hashed. The caller must check their checksum when it
        copies them, with M(lifeboat.n8n.n8n_verified_copy), so that a large database is read once
        instead of twice.
      - Leave it empty for a check that must stand on its own (a dry run of a restore).
    type: list
    elements: str
    default: []
  timings:
    description: Seconds each backup step took, name to seconds.
    type: dict
    default: {}
  downtime_s:
    description: Seconds n8n was stopped or quiesced for the backup, or null.
    type: float
notes:
  - Write the manifest as the last step of a backup, after every artifact is complete.
seealso:
  - plugin: lifeboat.n8n.key_fingerprint
    plugin_type: filter
  - plugin: lifeboat.n8n.version_parity
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write the manifest of a complete backup (last step)
  lifeboat.n8n.n8n_manifest:
    backup_dir: /var/backups/n8n/20261121T140102Z
    n8n:
      version: 2.40.7
      migration_head: {name: AddWakeColumnsToAgentBackgroundJob1788527465971, timestamp: 1788527465971}
      migrations_count: 270
    database: {type: sqlite, table_prefix: ""}
    key_fingerprint: "{{ n8n_encryption_key | lifeboat.n8n.key_fingerprint }}"
    counts: {workflows: 4, active_workflows: 3, archived_workflows: 0, credentials: 3, executions: {success: 10, error: 2}}
    workflows: "{{ __n8n_backup_workflows }}"
    env: "{{ __n8n_backup_trigger_env }}"
    binary_data: {mode: filesystem, path: /home/node/.n8n/storage, included: true}
    artifacts:
      - {name: database, path: database.sqlite, kind: database, format: sqlite}
      - {name: binary_data, path: binary_data.tar.zst, kind: binary_data, format: tar.zst}
    timings: {quiesce: 2.1, database: 7.9}
    downtime_s: 10.4

- name: Verify a backup before restoring it (fails listing every problem)
  lifeboat.n8n.n8n_manifest:
    state: verified
    backup_dir: /var/backups/n8n/20261121T140102Z
  register: __backup

- name: Verify a backup whose database is checked later, as it is copied (read once)
  lifeboat.n8n.n8n_manifest:
    state: verified
    backup_dir: /var/backups/n8n/20261121T140102Z
    defer_checksum_formats: [sqlite]

- name: Use what the manifest says
  ansible.builtin.debug:
    msg: "Backup {{ __backup.manifest.id }} of n8n {{ __backup.manifest.n8n.version }}"
"""

RETURN = r"""
path:
  description: The manifest file.
  returned: always
  type: str
  sample: /var/backups/n8n/20261121T140102Z/manifest.json
manifest:
  description:
    - The manifest written, kept, or (in check mode) that would be written; with O(state=verified), the one read.
    - Its fields are described in the collection's C(docs/manifest.md).
  returned: success, and with O(state=verified) whenever the manifest could be read
  type: dict
  sample:
    schema: lifeboat.n8n/backup-manifest
    schema_version: 1
    id: 20261121T140102Z-1a2b3c4d
    created_at: "2026-11-21T14:01:02Z"
    host: n8n-prod-1
    n8n: {version: 2.40.7, major: 2, migration_head: null, migrations_count: 270}
    database: {type: sqlite, table_prefix: "", schema: null}
    key: {fingerprint: "lbfp1:0d3c8e2e7f1a4b5c6d7e8f90"}
    counts: {workflows: 1, active_workflows: 1, archived_workflows: 0, credentials: 1, executions: {success: 2}}
    workflows:
      - {id: wf1, name: Echo, active: true, version_id: v2, active_version_id: v1, archived: false,
         trigger_types: [n8n-nodes-base.webhook], webhooks: [{path: echo, method: POST}]}
    env: {WEBHOOK_URL: "https://n8n.example.com/"}
    binary_data: {mode: default, path: null, included: false}
    artifacts:
      - {name: database, path: database.sqlite, kind: database, format: sqlite,
         sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, size: 4096}
    timings: {database: 0.2}
    downtime_s: null
    lifeboat: {collection_version: 0.1.0}
artifacts:
  description: With O(state=verified), one result per artifact.
  returned: when O(state=verified) and the manifest could be read
  type: list
  elements: dict
  contains:
    name:
      description: The artifact's name.
      type: str
    path:
      description: Its path relative to the backup directory.
      type: str
    ok:
      description: Whether it exists and matches its size and SHA-256 (its size only when RV(artifacts[].checksum=deferred)).
      type: bool
    checksum:
      description: V(verified) when it was hashed, V(deferred) when its format is in O(defer_checksum_formats).
      type: str
    problem:
      description: What is wrong (missing, size mismatch, checksum mismatch, path traversal), or null.
      type: str
  sample:
    - {name: database, path: database.sqlite, ok: false, problem: "checksum mismatch: expected sha256 9f86..., found 0a1b..."}
problems:
  description: With O(state=verified), every schema error and artifact problem (empty when the backup is complete).
  returned: when O(state=verified) and the manifest could be read
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._manifest import ARTIFACT_KINDS, ManifestError, create_manifest, public_values, verify_backup

PARTS = ("id", "host", "n8n", "database", "key_fingerprint", "counts", "workflows", "env", "binary_data", "timings", "downtime_s")
REQUIRED_FOR_PRESENT = ["n8n", "database", "key_fingerprint", "counts", "workflows", "env", "binary_data", "artifacts"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "verified"], default="present"),
            backup_dir=dict(type="path", required=True),
            path=dict(type="path"),
            id=dict(type="str"),
            host=dict(type="str"),
            n8n=dict(type="dict"),
            database=dict(type="dict"),
            key_fingerprint=dict(type="str", no_log=True),
            counts=dict(type="dict"),
            workflows=dict(type="list", elements="dict"),
            env=dict(type="dict", no_log=True),
            binary_data=dict(type="dict"),
            artifacts=dict(
                type="list",
                elements="dict",
                options=dict(
                    name=dict(type="str", required=True),
                    path=dict(type="str", required=True),
                    kind=dict(type="str", required=True, choices=list(ARTIFACT_KINDS)),
                    format=dict(type="str", required=True),
                ),
            ),
            defer_checksum_formats=dict(type="list", elements="str", default=[]),
            timings=dict(type="dict", default={}),
            downtime_s=dict(type="float"),
        ),
        required_if=[("state", "present", REQUIRED_FOR_PRESENT)],
        supports_check_mode=True,
    )
    params = module.params
    # env and key_fingerprint are no_log, so nothing logs them before they are checked (a raw
    # secret passed by mistake); the values that are safe to show are unmasked again.
    module.no_log_values.difference_update(public_values(params["env"], params["key_fingerprint"]))
    try:
        if params["state"] == "verified":
            result = verify_backup(params["backup_dir"], params["path"], params["defer_checksum_formats"])
            result["changed"] = False
            if not result.pop("ok"):
                module.fail_json(**result)
            module.exit_json(**result)
        parts = dict((name, params[name]) for name in PARTS if params[name] is not None)
        result = create_manifest(params["backup_dir"], params["path"], params["artifacts"], check_mode=module.check_mode, **parts)
    except ManifestError as exc:
        module.fail_json(msg=str(exc), problems=exc.problems, changed=False)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
