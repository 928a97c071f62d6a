#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_key_check
short_description: Prove that an encryption key decrypts an n8n database or backup
version_added: 0.1.0
description:
  - Decrypts, with the given key, every value n8n encrypts with its instance encryption key
    (C(N8N_ENCRYPTION_KEY)) - every credential, and whatever else the database holds, such as the
    n8n 2.x C(deployment_key) rows, MFA secrets and recovery codes, LDAP, SSO and source-control
    secrets in C(settings), external-secrets connections and dynamic credentials.
  - Works on a live or restored database (O(database)) or on a backup artifact without any database
    server (O(artifact)) - a SQLite file, or a PostgreSQL dump in custom, directory, tar or plain
    format, optionally zstd- or gzip-compressed as a whole.
  - Locations are found by table and column, so the same check fits n8n 1.x and 2.x. Values are
    decrypted the way n8n does, including n8n 2.x C(<keyId>:<ciphertext>) values under a
    data-encryption key that C(deployment_key) wraps with the instance key. A credential counts as
    decrypted only if its plaintext is also valid JSON.
  - Reports counts, row ids and credential names; never a key, a value or any part of a plaintext.
  - Use it before a restore touches the target (does the escrowed key open this backup?) and after
    it (does the restored instance's key open its data?).
  - The inventory of encrypted locations, per n8n version, is in the collection's
    C(docs/encrypted-data.md).
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description: Read-only; check mode runs the same check and returns the same result.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  idempotent:
    description: Reads only; C(changed) is always false.
    support: full
options:
  key:
    description:
      - The n8n instance encryption key to check (C(N8N_ENCRYPTION_KEY), or C(encryptionKey) in
        C(<N8N_USER_FOLDER>/.n8n/config)). Never logged or returned; results carry its fingerprint.
    type: str
    required: true
  database:
    description:
      - The live or restored database to check, as n8n's C(DB_*) variables describe it.
      - Exactly one of O(database) and O(artifact) is required.
    required: false
  artifact:
    description:
      - A backup artifact to check instead of a database, on the managed host.
      - A SQLite database file (C(database.sqlite) as a backup copied it), a C(pg_dump) custom-format
        file, a directory-format dump folder, a tar-format file or a plain SQL dump. Files may be
        compressed as a whole with zstd or gzip.
      - PostgreSQL dumps are read with C(pg_restore) (custom, directory, tar) or directly (plain),
        extracting only the tables the check needs. C(pg_restore) must be of the same or a newer
        major version than the C(pg_dump) that made the dump. Plain and compressed dumps are read
        twice (first for the C(deployment_key) table).
    type: path
  artifact_format:
    description:
      - Format of O(artifact). V(auto) recognises it from its content.
    type: str
    choices: [auto, sqlite, custom, directory, tar, plain]
    default: auto
  table_prefix:
    description:
      - C(DB_TABLE_PREFIX) of the instance the O(artifact) comes from.
      - For O(database), use O(database.table_prefix).
    type: str
    default: ''
  schema:
    description:
      - C(DB_POSTGRESDB_SCHEMA) of the instance a PostgreSQL dump O(artifact) comes from.
      - For O(database), use O(database.schema).
    type: str
    default: public
  categories:
    description:
      - What to check. V(all) is every category except V(api_keys).
      - V(credentials) C(credentials_entity.data); V(deployment_keys) n8n 2.x C(deployment_key) rows
        (data-encryption keys, signing secrets, OAuth JWE keys); V(mfa) user MFA secrets and
        recovery codes; V(settings) secrets inside C(settings) rows (LDAP binding password,
        source-control SSH key and HTTPS credentials, OIDC client secret, SAML signing key,
        credential overwrites); V(external_secrets) external-secrets provider settings;
        V(dynamic_credentials), V(git_connections) and V(promotions) (n8n 2.x features).
      - V(api_keys) verifies the signature of public API keys (JWTs). Opt-in, because on n8n 1.x
        with C(N8N_USER_MANAGEMENT_JWT_SECRET) set every key would look wrong.
    type: list
    elements: str
    choices: [all, credentials, deployment_keys, mfa, settings, external_secrets, dynamic_credentials, git_connections, promotions, api_keys]
    default: [all]
  fail_on_mismatch:
    description:
      - Fail when any value does not decrypt, naming the counts and the first failing ids.
      - With V(false), return the same report and let the play decide (see RV(passed)).
    type: bool
    default: true
  max_failed_ids:
    description: How many failing ids to report per category (counts are always complete).
    type: int
    default: 100
notes:
  - Values that are empty, or stored in plaintext by n8n itself (C(instance.id), the n8n 2.38
    signing secrets, a SAML key that is not a valid PEM), are counted as skipped, not as failed.
  - A database in which nothing encrypted is found passes with RV(total=0) and a warning, as the key
    could not be proven either way.
  - Large credential tables are verified by two worker processes when the managed host has two
    cores; the key is handed to them in memory (fork), never on a command line or in a file.
requirements:
  - C(cryptography) on the managed host.
  - C(pg_restore) on the managed host for custom, directory and tar dumps; C(zstd) for
    zstd-compressed artifacts.
seealso:
  - module: lifeboat.n8n.n8n_pg_dump
  - module: lifeboat.n8n.n8n_sqlite_backup
"""

EXAMPLES = r"""
- name: Check the escrowed key against the live database before backing up
  lifeboat.n8n.n8n_key_check:
    key: "{{ n8n_encryption_key }}"
    database:
      type: postgresdb
      host: db.internal
      name: n8n
      user: n8n
      password: "{{ n8n_db_password }}"

- name: Check a backup artifact before restoring it (no database server needed)
  lifeboat.n8n.n8n_key_check:
    key: "{{ n8n_encryption_key }}"
    artifact: /var/backups/n8n/2026-11-21/n8n.pgdump.zst

- name: Check a SQLite backup, credentials only, and decide in the play
  lifeboat.n8n.n8n_key_check:
    key: "{{ n8n_encryption_key }}"
    artifact: /var/backups/n8n/database.sqlite
    categories: [credentials]
    fail_on_mismatch: false
  register: key_check

- name: Stop before the restore if the key does not fit
  ansible.builtin.assert:
    that: key_check.passed
    fail_msg: "{{ key_check.failed_count }} of {{ key_check.total }} values do not decrypt: {{ key_check.failed_ids[:5] }}"
"""

RETURN = r"""
passed:
  description: True when no value failed to decrypt.
  returned: always
  type: bool
  sample: true
ok:
  description: Values that decrypted to what n8n stores there.
  returned: always
  type: int
  sample: 42
failed_count:
  description:
    - Values that did not decrypt with the key.
    - Not called C(failed) because that is Ansible's own flag for a failed task.
  returned: always
  type: int
  sample: 0
skipped_count:
  description: Empty values and values n8n keeps in plaintext (not counted in RV(total)).
  returned: always
  type: int
  sample: 4
total:
  description: RV(ok) + RV(failed_count).
  returned: always
  type: int
  sample: 42
categories:
  description:
    - Per category checked (C(credentials), C(deployment_keys), ...) the
      counts, the failing ids and, for each failure, its location, id, reason and name where one
      is safe to show (credential name, deployment-key type).
    - C(locations) breaks the counts down by table, column and settings key.
  returned: always
  type: dict
  sample:
    credentials:
      ok: 2
      failed: 1
      skipped: 0
      total: 3
      skipped_reasons: {}
      failed_ids: [dgzKGxrQSZBxrxuD]
      failures:
        - {location: credentials_entity.data, id: dgzKGxrQSZBxrxuD, name: Lifeboat token, reason: does not decrypt with this key}
      failures_truncated: false
      locations:
        credentials_entity.data: {ok: 2, failed: 1, skipped: 0}
failed_ids:
  description: C(<category>:<id>) of each reported failure.
  returned: always
  type: list
  elements: str
  sample: ["credentials:dgzKGxrQSZBxrxuD", "deployment_keys:9fWosO4jQ6iUmF5t"]
key_fingerprint:
  description: Fingerprint of the checked key (C(lbfp1:...)), to compare with escrow metadata.
  returned: always
  type: str
  sample: lbfp1:3b5d5c3712955042212316173ccf37be
n8n_tables_found:
  description:
    - The n8n tables that hold key-bound values (and C(migrations)) found in the database or artifact.
  returned: always
  type: list
  elements: str
  sample: [credentials_entity, deployment_key, migrations, settings, user]
source:
  description: What was checked, without any password.
  returned: always
  type: str
  sample: "pg_dump custom artifact /var/backups/n8n/n8n.pgdump (schema public)"
elapsed_seconds:
  description: Time the check took.
  returned: always
  type: float
  sample: 0.42
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.lifeboat.n8n.plugins.module_utils._cipher import CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._encrypted_data import CATEGORIES
from ansible_collections.lifeboat.n8n.plugins.module_utils._key_check import KeyCheckError, check_artifact, check_key

DATABASE_SPEC = database_argument_spec()
SHOWN_FAILURES = 5


def failure_message(report):
    """Counts, the first failing ids and what to do; never the key or a value."""
    counts = ", ".join(
        "%d of %d %s" % (cat.failed, cat.total, name.replace("_", " ")) for name, cat in report.categories.items() if cat.failed
    )
    first = []
    for name, cat in report.categories.items():
        for failure in cat.failures:
            label = " (%s)" % failure.label if failure.label else ""
            first.append("%s:%s%s" % (name, failure.id, label))
    shown = ", ".join(first[:SHOWN_FAILURES]) + (", ..." if len(first) > SHOWN_FAILURES else "")
    return (
        "Cannot decrypt n8n data with this key (%s) on %s: %s do not decrypt; first failing: %s. "
        "Restore with the key this data was encrypted with, or check the key escrow for the key of this "
        "backup; do not start n8n on this data with this key."
        % (report.key_fingerprint, report.source, counts, shown)
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            key=dict(type="str", required=True, no_log=True),
            database=dict(type="dict", options=DATABASE_SPEC),
            artifact=dict(type="path"),
            artifact_format=dict(type="str", default="auto", choices=["auto", "sqlite", "custom", "directory", "tar", "plain"]),
            table_prefix=dict(type="str", default=""),
            schema=dict(type="str", default="public"),
            categories=dict(type="list", elements="str", default=["all"], choices=["all"] + list(CATEGORIES)),
            fail_on_mismatch=dict(type="bool", default=True),
            max_failed_ids=dict(type="int", default=100),
        ),
        mutually_exclusive=[("database", "artifact")],
        required_one_of=[("database", "artifact")],
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    params = module.params
    options = dict(categories=params["categories"], max_failed_ids=max(1, params["max_failed_ids"]))
    try:
        if params["artifact"]:
            report = check_artifact(
                params["artifact"],
                params["key"],
                artifact_format=params["artifact_format"],
                table_prefix=params["table_prefix"],
                schema=params["schema"],
                **options
            )
        else:
            with N8nDatabase(DatabaseConfig.from_mapping(params["database"]), readonly=True) as db:
                report = check_key(db, params["key"], **options)
    except (KeyCheckError, DatabaseError, ValueError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())

    result = report.as_dict()
    if report.total == 0:
        module.warn(
            "No encrypted value was found in %s, so the key could not be verified either way "
            "(categories: %s)" % (report.source, ", ".join(report.categories) or "none")
        )
    if not report.passed and params["fail_on_mismatch"]:
        module.fail_json(msg=failure_message(report), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
