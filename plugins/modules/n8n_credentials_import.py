#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_credentials_import
short_description: Put credentials from controlled artifacts into n8n, encrypted with the target's own key
version_added: 0.1.0
description:
  - Brings an n8n instance's credentials to a desired state. That is the artifacts' credentials (O(credentials), the
    non-secret index, joined by id with O(credential_data), the decrypted vault payloads), with per-environment
    O(overrides).
  - Compares with the target's credentials, decrypted with the target's own encryption key (n8n 2.x data-encryption keys
    included). Nothing changes when name, type and data are equal (C(changed=false)).
  - Otherwise encrypts each changed credential's data B(on the managed host, with the target's key) and gives only that
    ciphertext to C(n8n import:credentials) through a 0600 file in a private folder, removed right after. n8n 1.123.81,
    2.38.7 and 2.40.7 store a C(data) string as given and upsert by id, so ids are kept and workflows find their
    credentials. Then reads the credentials back and checks they decrypt to what was wanted.
  - Run it with n8n stopped (n8n's CLI says changes are not picked up by a running instance) and in a task with
    C(no_log=true), because its options hold credential plaintext.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description: Reads and compares, reports what would be created or updated, and writes nothing.
    support: full
  diff_mode:
    description: No diff is shown because the differences are credential values; RV(credentials) lists what differs, by field name.
    support: none
  idempotent:
    description: Credentials already as wanted are left alone; a second run reports C(changed=false).
    support: full
options:
  key:
    description: The target's encryption key (C(N8N_ENCRYPTION_KEY)). Never logged.
    type: str
  key_file:
    description: The target's C(N8N_ENCRYPTION_KEY_FILE).
    type: path
  config_path:
    description: The target's C(<N8N_USER_FOLDER>/.n8n/config). Read when it exists; must agree with O(key).
    type: path
  credentials:
    description:
      - The credentials to have, as the artifacts' C(credentials/index.json) lists them. C(id), C(name) and C(type)
        are used; other keys are ignored.
    type: list
    elements: dict
    required: true
  credential_data:
    description:
      - The decrypted vault payloads (C(lifeboat_n8n_credential) of each vault file), joined with O(credentials) by id.
      - May be left out for credentials that O(overrides) cover.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: The credential id.
        type: str
        required: true
      type:
        description: The credential type (checked against O(credentials)).
        type: str
      data:
        description: The credential data. Never logged.
        type: dict
        required: true
  overrides:
    description:
      - "Per-environment credentials, keyed by credential id or name, each C({data: {...}}) and optionally C(name).
        C(data) replaces the artifact's data entirely. Keep them in a vault-encrypted group_vars file per environment."
      - An override that matches no credential fails the module.
    type: dict
    default: {}
  require_overrides:
    description: Refuse any credential that O(overrides) does not cover, so no artifact secret reaches this instance.
    type: bool
    default: false
  n8n_command:
    description: The argv that runs the target's n8n CLI. Needed when something has to be imported.
    type: list
    elements: str
  n8n_env:
    description: Environment the CLI needs (database settings, C(N8N_USER_FOLDER), the key). Never logged.
    type: dict
    default: {}
  cli_timeout:
    description: Seconds to wait for C(n8n import:credentials).
    type: int
    default: 600
  tmp_dir:
    description: Parent of the private folder that holds the encrypted import file for a moment. Defaults to the system's.
    type: path
notes:
  - At least one of O(key), O(key_file) and O(config_path) must lead to a key.
  - New credentials belong to the target owner's personal project (what C(n8n import:credentials) does).
seealso:
  - module: lifeboat.n8n.n8n_credentials_export
  - module: lifeboat.n8n.n8n_workflow_import
"""

EXAMPLES = r"""
- name: Import credentials from the artifacts (n8n stopped)
  lifeboat.n8n.n8n_credentials_import:
    database:
      type: sqlite
      path: /home/n8n/.n8n/database.sqlite
    config_path: /home/n8n/.n8n/config
    credentials: "{{ (lookup('ansible.builtin.file', 'artifacts/credentials/index.json') | from_json).credentials }}"
    credential_data: "{{ decrypted_vault_payloads }}"
    overrides: "{{ rebuild_credential_overrides }}"
    n8n_command: [n8n]
    n8n_env:
      N8N_USER_FOLDER: /home/n8n
  no_log: true
"""

RETURN = r"""
credentials:
  description: Per credential, what was (or in check mode would be) done.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The credential id.
      type: str
    name:
      description: The credential name.
      type: str
    type:
      description: The credential type.
      type: str
    action:
      description: C(create), C(update) or C(unchanged).
      type: str
    changes:
      description: The fields that differed (C(name), C(type), C(data)).
      type: list
      elements: str
    source:
      description: Where the data came from, C(artifacts) or C(override).
      type: str
created:
  description: Number of credentials created.
  returned: success
  type: int
updated:
  description: Number of credentials updated.
  returned: success
  type: int
unchanged:
  description: Number of credentials already as wanted.
  returned: success
  type: int
undecryptable:
  description: Ids of target credentials that did not decrypt with the target's key before the import.
  returned: success
  type: list
  elements: str
extra:
  description: Ids of target credentials the artifacts do not have (left alone).
  returned: success
  type: list
  elements: str
key_fingerprint:
  description: Fingerprint of the target's key (never the key).
  returned: success
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._activation import N8nCli, N8nCliError
from ansible_collections.lifeboat.n8n.plugins.module_utils._credentials_export import CredentialsError, instance_key
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._info import releasable_env_values
from ansible_collections.lifeboat.n8n.plugins.module_utils._rebuild_credentials import desired_credentials, import_credentials, merge_overrides


def main():
    module = AnsibleModule(
        argument_spec=dict(
            database=dict(type="dict", required=True, options=database_argument_spec()),
            key=dict(type="str", no_log=True),
            key_file=dict(type="path"),
            config_path=dict(type="path"),
            credentials=dict(type="list", elements="dict", required=True),
            credential_data=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(id=dict(type="str", required=True), type=dict(type="str"), data=dict(type="dict", required=True, no_log=True)),
            ),
            overrides=dict(type="dict", default={}, no_log=True),
            require_overrides=dict(type="bool", default=False),
            n8n_command=dict(type="list", elements="str"),
            n8n_env=dict(type="dict", default={}, no_log=True),
            cli_timeout=dict(type="int", default=600),
            tmp_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    # n8n_env is no_log for its secrets; its other values (UTC, sqlite, URLs) must not mask the results.
    module.no_log_values.difference_update(releasable_env_values(params["n8n_env"] or {}, keep=[params["database"].get("password"), params["key"]]))
    config = DatabaseConfig.from_mapping(params["database"])

    def cli():
        return N8nCli(params["n8n_command"] or [], params["n8n_env"] or {}, timeout=float(params["cli_timeout"]))

    try:
        key = instance_key(params["key"], params["key_file"], params["config_path"])
        desired = desired_credentials(params["credentials"], params["credential_data"] or [])
        desired = merge_overrides(desired, params["overrides"], require=params["require_overrides"])
        result = import_credentials(
            lambda: N8nDatabase(config),
            key,
            desired,
            cli_factory=cli if params["n8n_command"] else None,
            check_mode=module.check_mode,
            tmp_dir=params["tmp_dir"],
        )
    except (CredentialsError, DatabaseError, N8nCliError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
