#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_reencrypt
short_description: Re-encrypt an n8n database from one encryption key to another, in one transaction
version_added: 0.1.0
description:
  - Changes the key n8n's data is encrypted with, which n8n itself has no command for. Everything n8n
    binds to its instance key (C(N8N_ENCRYPTION_KEY)) is moved from O(old_key) to O(new_key), following
    the inventory in the collection's C(docs/encrypted-data.md). That covers credentials, the n8n 2.x
    C(deployment_key) rows, MFA secrets and recovery codes, and the secrets in C(settings) (LDAP, SSO,
    source control, credential overwrites). It also covers external-secrets connections, dynamic
    credentials, git connections and promotion providers.
  - Values encrypted with the instance key are decrypted with O(old_key), checked to have the shape
    n8n stores, encrypted with O(new_key), and decrypted again with O(new_key) before they are written.
  - n8n 2.x C(deployment_key) rows wrapped with the key (signing secrets, data-encryption keys, active
    or not) are re-wrapped and keep their content. The C(aes-256-cbc) data-encryption row ends up holding
    O(new_key) itself. C(<keyId>:) values, which are under a data-encryption key rather than the instance
    key, are decrypted as a proof and left as they are.
  - Everything happens in B(one transaction) that first locks the tables it writes (SQLite
    C(BEGIN IMMEDIATE), PostgreSQL C(LOCK TABLE ... IN EXCLUSIVE MODE)). Before the commit the whole
    database is read back with O(new_key). If any value does not decrypt with O(old_key), nothing is
    written, and the module fails naming the rows (ids and safe names, never values).
  - B(Stop every n8n process first) (main, workers, webhook processors). The module cannot know whether
    n8n runs. A process still running with O(old_key) would write new values under it after the commit,
    and n8n started with another key than its data refuses to start (2.x) or cannot decrypt credentials
    (1.x). This module only changes the database. Updating the key where n8n
    reads it (environment, C(.n8n/config)) is the caller's job. The C(lifeboat.n8n.rotate_key) role does
    all of it, with a backup, key escrow and rollback.
  - Running it again after a successful rotation changes nothing, because the data already opens with
    O(new_key) (RV(already_rotated)). Swapping the keys rotates back.
  - Reports counts per category, row ids and safe names. Never a key, a value or any part of a plaintext.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description:
      - A dry run that does everything except write. Every value is decrypted with O(old_key),
        re-encrypted with O(new_key) and verified in memory, and the counts are reported.
      - Fails like a real run when a value does not decrypt with O(old_key). That makes it a safe
        pre-check while n8n still runs.
    support: full
  diff_mode:
    description: Values are secret, so there is no diff. The counts say what changes.
    support: none
  idempotent:
    description: A second run with the same keys finds the data already under O(new_key) and changes nothing.
    support: full
options:
  old_key:
    description:
      - The encryption key n8n's data is encrypted with now (C(N8N_ENCRYPTION_KEY), or C(encryptionKey) in
        C(<N8N_USER_FOLDER>/.n8n/config)). Never logged or returned. Results carry its fingerprint.
    type: str
    required: true
  new_key:
    description:
      - The key to encrypt with from now on. Never logged or returned. Results carry its fingerprint.
      - Escrow it before running this module. Once it commits, the data opens with this key only.
    type: str
    required: true
  database:
    description: n8n's database, as n8n's C(DB_*) variables describe it.
    required: true
  categories:
    description:
      - What to re-encrypt. V(all) is every category below. The categories are the same as for
        M(lifeboat.n8n.n8n_key_check), except V(api_keys). API keys are signed, not encrypted. See
        C(docs/key-rotation.md).
      - V(deployment_keys) always comes along, because the other values depend on its keys.
      - A subset is refused, and nothing is written, when another category still holds values under
        O(old_key). n8n could not read those after the rotation.
    type: list
    elements: str
    choices: [all, credentials, deployment_keys, mfa, settings, external_secrets, dynamic_credentials, git_connections, promotions]
    default: [all]
  max_failed_ids:
    description: How many failing ids to report per category. Counts are always complete.
    type: int
    default: 100
notes:
  - Not re-encrypted, because n8n does not keep them in a table of their own. That covers the
    execution context of executions that wait (dynamic credentials, chat hub) and values in the cache or
    in URLs. Let waiting executions finish or cancel them before a rotation (C(docs/key-rotation.md)).
  - n8n 1.x derives its instance id, its JWT secret (sessions, API keys), the HMAC secret of signed
    resume URLs and the binary-data URL secret from the key. They change with it. n8n 2.x persists
    them in C(deployment_key), where this module keeps them.
requirements:
  - C(cryptography) on the managed host; C(psycopg) or C(psycopg2) for PostgreSQL.
seealso:
  - module: lifeboat.n8n.n8n_key_check
"""

EXAMPLES = r"""
- name: Dry run while n8n still runs, which proves the old key opens everything and counts the work
  lifeboat.n8n.n8n_reencrypt:
    old_key: "{{ n8n_encryption_key }}"
    new_key: "{{ n8n_new_encryption_key }}"
    database:
      type: postgresdb
      host: db.internal
      name: n8n
      user: n8n
      password: "{{ n8n_db_password }}"
  check_mode: true
  register: rotation_plan

- name: Re-encrypt with n8n stopped (use the lifeboat.n8n.rotate_key role for the whole procedure)
  lifeboat.n8n.n8n_reencrypt:
    old_key: "{{ n8n_encryption_key }}"
    new_key: "{{ n8n_new_encryption_key }}"
    database:
      type: sqlite
      path: /home/n8n/.n8n/database.sqlite
  register: rotation

- name: Show what was rotated
  ansible.builtin.debug:
    msg: "{{ rotation.reencrypted }} values re-encrypted, {{ rotation.rewrapped }} deployment keys re-wrapped"
"""

RETURN = r"""
passed:
  description: True when every value opened with O(old_key), or the data was already under O(new_key).
  returned: always
  type: bool
  sample: true
committed:
  description: True when the transaction was committed. Always false in check mode and on failure.
  returned: always
  type: bool
  sample: true
already_rotated:
  description: Nothing opened with O(old_key) and everything opens with O(new_key). Nothing was written.
  returned: always
  type: bool
  sample: false
check_mode:
  description: Whether this was a dry run.
  returned: always
  type: bool
  sample: false
reencrypted:
  description: Values decrypted with O(old_key) and written encrypted with O(new_key), or that would be in check mode.
  returned: always
  type: int
  sample: 42
rewrapped:
  description: n8n 2.x C(deployment_key) rows re-wrapped with O(new_key), keeping their content.
  returned: always
  type: int
  sample: 5
unchanged:
  description: C(<keyId>:) values under a data-encryption key whose content stays. Verified, not rewritten.
  returned: always
  type: int
  sample: 0
skipped_count:
  description: Empty values and values n8n keeps in plaintext (C(instance.id), n8n 2.38 signing secrets).
  returned: always
  type: int
  sample: 3
failed_count:
  description: Values that did not open with O(old_key). When not 0, nothing was written.
  returned: always
  type: int
  sample: 0
total:
  description: RV(reencrypted) + RV(rewrapped) + RV(unchanged) + RV(failed_count).
  returned: always
  type: int
  sample: 47
categories:
  description:
    - Per category the counts, failing ids, and for each failure its location, id, reason and a safe name.
    - C(locations) breaks the counts down by table, column and settings key.
  returned: always
  type: dict
  sample:
    credentials:
      reencrypted: 3
      rewrapped: 0
      unchanged: 0
      skipped: 0
      failed: 0
      total: 3
      skipped_reasons: {}
      failed_ids: []
      failures: []
      failures_truncated: false
      locations:
        credentials_entity.data: {reencrypted: 3, rewrapped: 0, unchanged: 0, skipped: 0, failed: 0}
failed_ids:
  description: C(<category>:<id>) of each reported failure.
  returned: always
  type: list
  elements: str
  sample: ["credentials:dgzKGxrQSZBxrxuD"]
verification:
  description:
    - The key check with O(new_key) over the re-encrypted data, read back inside the transaction before the commit.
      It is null in check mode and on failure.
  returned: always
  type: dict
  sample: {ok: 8, failed: 0, skipped: 2}
old_key_fingerprint:
  description: Fingerprint of O(old_key).
  returned: always
  type: str
  sample: lbfp1:3b5d5c3712955042212316173ccf37be
new_key_fingerprint:
  description: Fingerprint of O(new_key), to compare with the key escrow.
  returned: always
  type: str
  sample: lbfp1:9a0e51f1dcba4a52c2f7d8c3
n8n_tables_found:
  description: The n8n tables that hold key-bound values (and C(migrations)) found in the database.
  returned: always
  type: list
  elements: str
  sample: [credentials_entity, deployment_key, migrations, settings, user]
source:
  description: The database, without its password.
  returned: always
  type: str
  sample: SQLite /home/n8n/.n8n/database.sqlite
elapsed_seconds:
  description: Time the re-encryption took, verification included.
  returned: always
  type: float
  sample: 0.42
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.lifeboat.n8n.plugins.module_utils._cipher import CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._reencrypt import ReencryptError, reencrypt

CATEGORY_CHOICES = ["all", "credentials", "deployment_keys", "mfa", "settings", "external_secrets", "dynamic_credentials",
                    "git_connections", "promotions"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            old_key=dict(type="str", required=True, no_log=True),
            new_key=dict(type="str", required=True, no_log=True),
            database=dict(type="dict", required=True, options=database_argument_spec()),
            categories=dict(type="list", elements="str", default=["all"], choices=CATEGORY_CHOICES),
            max_failed_ids=dict(type="int", default=100),
        ),
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    params = module.params
    try:
        with N8nDatabase(DatabaseConfig.from_mapping(params["database"]), readonly=module.check_mode) as db:
            report = reencrypt(
                db,
                params["old_key"],
                params["new_key"],
                params["categories"],
                check_mode=module.check_mode,
                max_failed_ids=params["max_failed_ids"],
            )
    except (ReencryptError, DatabaseError, ValueError) as exc:
        module.fail_json(msg="Cannot re-encrypt n8n's data: %s" % exc, exception=traceback.format_exc())

    result = report.as_dict()
    if report.already_rotated:
        result["passed"] = True
        module.exit_json(changed=False, **result)
    if not report.passed:
        module.fail_json(
            msg=(
                "Cannot re-encrypt n8n's data on %s: %d value(s) do not open with the old key %s (first: %s). "
                "Nothing was written. Check that old_key is the key n8n runs with (lifeboat.n8n.n8n_key_check "
                "names every value it cannot open)." % (report.source, report.failed, report.old_key_fingerprint, report.first_failures())
            ),
            changed=False,
            **result
        )
    if report.opened == 0:
        module.warn("No encrypted value was found in %s: there was nothing to re-encrypt" % report.source)
    module.exit_json(changed=report.changed or (module.check_mode and report.written > 0), **result)


if __name__ == "__main__":
    main()
