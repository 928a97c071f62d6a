#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_credentials_export
short_description: Read n8n's credentials decrypted, with keyed digests, for vault-encrypted artifacts
version_added: 0.1.0
description:
  - Reads every credential of an n8n instance from its database and decrypts it with the instance's encryption key,
    the way n8n does (legacy CBC values, and on n8n 2.x C(<keyId>:) values under their data-encryption key from
    C(deployment_key)).
  - B(Returns the plaintext.) It writes nothing. Run it in a task with C(no_log=true) and vault-encrypt the result in
    the controller's memory (the P(ansible.builtin.vault#filter) filter), as the C(lifeboat.n8n.export) role does, so
    plaintext never reaches a disk or a log.
  - Each credential carries a C(digest), C(hmac-sha256:<hex>) of its id, type and data under O(digest_key). The export
    role keeps the digests in a non-secret index and rewrites a credential's vault file only when its digest changed
    (vault encryption is salted, so re-encrypting unchanged data would change the file).
  - Credentials n8n manages itself (C(isManaged), such as free AI credits) belong to one instance and are left out unless
    O(include_managed=true).
  - Fails, naming the credentials by id and name, when any credential does not decrypt with the key.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  idempotent:
    description: Never changes anything.
    support: full
options:
  key:
    description:
      - n8n's encryption key (C(N8N_ENCRYPTION_KEY)). Never logged.
      - Compared with the key in O(config_path) when both are given; they must agree, as n8n requires.
    type: str
  key_file:
    description: C(N8N_ENCRYPTION_KEY_FILE), a file holding the key.
    type: path
  config_path:
    description: n8n's C(<N8N_USER_FOLDER>/.n8n/config), which holds the key n8n uses. Read when it exists.
    type: path
  digest_key:
    description:
      - The key of the credentials' digests. Derive it from the vault secret on the controller
        (C(('lifeboat.n8n/credential-digest/v1:' ~ vault_secret) | hash('sha256'))) so the vault secret itself never
        reaches the managed host. Never logged.
    type: str
    required: true
  include_managed:
    description: Also export credentials n8n manages itself (C(isManaged)).
    type: bool
    default: false
notes:
  - At least one of O(key), O(key_file) and O(config_path) must lead to a key.
seealso:
  - module: lifeboat.n8n.n8n_credentials_import
  - module: lifeboat.n8n.n8n_key_check
"""

EXAMPLES = r"""
- name: Read the credentials decrypted (the plaintext stays in this no_log result)
  lifeboat.n8n.n8n_credentials_export:
    database:
      type: sqlite
      path: /home/n8n/.n8n/database.sqlite
    config_path: /home/n8n/.n8n/config
    digest_key: "{{ ('lifeboat.n8n/credential-digest/v1:' ~ vault_secret) | hash('sha256') }}"
  register: credentials
  no_log: true

- name: Write each credential vault-encrypted on the controller
  ansible.builtin.copy:
    dest: "artifacts/credentials/{{ item.file }}"
    content: "{{ {'lifeboat_n8n_credential': {'id': item.id, 'type': item.type, 'data': item.data}} | to_nice_json
                 | ansible.builtin.vault(vault_secret, vault_id='lifeboat') }}"
    mode: "0600"
    decrypt: false
  loop: "{{ credentials.credentials }}"
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
credentials:
  description:
    - One entry per credential, sorted by id. B(Holds the plaintext in C(data).)
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
      description: The credential type, for example C(httpHeaderAuth).
      type: str
    project:
      description: The owning project's name (when the version has projects).
      type: str
    file:
      description: The vault file name for it, C(<id>.vault) (the id percent-encoded where needed).
      type: str
    digest:
      description: C(hmac-sha256:<hex>) of id, type and data under O(digest_key).
      type: str
    data:
      description: The decrypted credential data. Secret.
      type: dict
index:
  description: The non-secret C(credentials/index.json) document (C(format), C(formatVersion), C(count), C(credentials)
    without C(data)).
  returned: success
  type: dict
  sample:
    format: lifeboat.n8n/credentials
    formatVersion: 1
    count: 1
    credentials:
      - id: MpJHqnyfCPKZW2lp
        name: Webhook token
        type: httpHeaderAuth
        project: Life Boat <owner@example.com>
        file: MpJHqnyfCPKZW2lp.vault
        digest: hmac-sha256:0f4c...
count:
  description: Number of credentials exported.
  returned: success
  type: int
  sample: 3
managed_skipped:
  description: Credentials left out because n8n manages them (C(id), C(name), C(type)).
  returned: success
  type: list
  elements: dict
key_fingerprint:
  description: Fingerprint of the key used (never the key).
  returned: success
  type: str
  sample: lbfp1:3f2a9c0d1e4b5a6978877665
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._credentials_export import CredentialsError, export_credentials, instance_key
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase, database_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            database=dict(type="dict", required=True, options=database_argument_spec()),
            key=dict(type="str", no_log=True),
            key_file=dict(type="path"),
            config_path=dict(type="path"),
            digest_key=dict(type="str", required=True, no_log=True),
            include_managed=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        key = instance_key(params["key"], params["key_file"], params["config_path"])
        with N8nDatabase(DatabaseConfig.from_mapping(params["database"]), readonly=True) as db:
            result = export_credentials(db, key, params["digest_key"], include_managed=params["include_managed"])
    except (CredentialsError, DatabaseError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
