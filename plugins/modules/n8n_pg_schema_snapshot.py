#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_pg_schema_snapshot
short_description: Set n8n's PostgreSQL schema aside before a restore, put it back, or drop it
version_added: 0.1.0
description:
  - The safety snapshot the restore role takes of a PostgreSQL target. Instead of dumping the database,
    n8n's schema is renamed in place and an empty schema of the same name is created for the restore, in
    one transaction. Renaming moves no data, so it takes milliseconds at any size; a dump of the same
    database took about a minute at 1M executions, while n8n was stopped.
  - With O(state=present), C(ALTER SCHEMA <schema> RENAME TO <snapshot>) and
    C(CREATE SCHEMA <schema> AUTHORIZATION CURRENT_USER). A snapshot name that exists already is refused
    (it may be an earlier restore's kept snapshot); a missing n8n schema leaves nothing to set aside.
  - >-
    With O(state=reverted), C(DROP SCHEMA <schema> CASCADE) (whatever a failed restore left there) and
    C(ALTER SCHEMA <snapshot> RENAME TO <schema>): the previous data is back exactly, the same objects.
    Without a snapshot of that name nothing is touched.
  - With O(state=absent), C(DROP SCHEMA <snapshot> CASCADE).
  - Until it is dropped the snapshot keeps the previous data in the database's own storage, so during a
    restore the database server needs room for the previous and the restored data at once. A kept snapshot
    is left out of later backups (M(lifeboat.n8n.n8n_pg_dump) excludes schemas named C(lifeboat_pre_restore_*)).
  - The statements run over a connection from the managed host (psycopg), also when PostgreSQL runs in a
    container; the connecting user needs to own the schema and to have C(CREATE) on the database, as for
    the restore's own schema reset.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description: Reads which schemas exist and their size, reports the statements it would run, and changes nothing.
    support: full
  diff_mode:
    description: A schema rename has no meaningful diff.
    support: none
  idempotent:
    description:
      - O(state=reverted) and O(state=absent) change nothing when the snapshot is gone already.
      - O(state=present) refuses an existing snapshot rather than reporting it unchanged, because the name may
        belong to another restore.
    support: partial
options:
  state:
    description:
      - V(present) sets n8n's schema aside as O(snapshot) and leaves an empty schema in its place.
      - V(reverted) puts O(snapshot) back as n8n's schema, dropping what is there now.
      - V(absent) drops O(snapshot) and the data in it.
    type: str
    choices: [present, reverted, absent]
    default: present
  snapshot:
    description:
      - Name of the schema the previous data is kept in, in the same database. Lower-case letters, digits and
        underscores, at most 63 characters, not the n8n schema's own name.
      - The restore role names it C(lifeboat_pre_restore_<run>), for example C(lifeboat_pre_restore_20261123t101500z).
    type: str
    required: true
requirements:
  - psycopg (3) or psycopg2 on the managed host.
notes:
  - The n8n schema is O(database.schema) (n8n's C(DB_POSTGRESDB_SCHEMA), C(public) by default). The new empty
    schema is owned by the connecting user, without grants to other roles, as after M(lifeboat.n8n.n8n_pg_dump)'s
    reset; O(state=reverted) brings the previous schema back with its own owner and grants.
  - Stop n8n (and its workers) first. The lifeboat.n8n.restore role does, then takes this snapshot, reverts it on any
    failure, and drops it after a verified restore unless C(restore_keep_snapshot) is true.
seealso:
  - module: lifeboat.n8n.n8n_pg_dump
"""

EXAMPLES = r"""
- name: Set n8n's schema aside before restoring into it
  lifeboat.n8n.n8n_pg_schema_snapshot:
    state: present
    snapshot: lifeboat_pre_restore_20261123t101500z
    database:
      type: postgresdb
      host: 127.0.0.1
      name: n8n
      user: n8n
      password: "{{ n8n_db_password }}"
  register: n8n_snapshot

- name: Put the previous data back (the restore failed)
  lifeboat.n8n.n8n_pg_schema_snapshot:
    state: reverted
    snapshot: lifeboat_pre_restore_20261123t101500z
    database:
      type: postgresdb
      host: 127.0.0.1
      user: n8n
      password: "{{ n8n_db_password }}"

- name: Drop the snapshot once the restored instance is verified
  lifeboat.n8n.n8n_pg_schema_snapshot:
    state: absent
    snapshot: lifeboat_pre_restore_20261123t101500z
    database:
      type: postgresdb
      host: 127.0.0.1
      user: n8n
      password: "{{ n8n_db_password }}"
"""

RETURN = r"""
schema:
  description: The n8n schema (O(database.schema)).
  returned: always
  type: str
  sample: public
snapshot:
  description: The snapshot schema (O(snapshot)).
  returned: always
  type: str
  sample: lifeboat_pre_restore_20261123t101500z
tables:
  description:
    - O(state=present) the tables set aside; otherwise the tables the snapshot held. 0 when nothing was done.
  returned: always
  type: int
  sample: 63
size_bytes:
  description: The size of those tables with their indexes and TOAST data, in bytes.
  returned: always
  type: int
  sample: 3221225472
executed_queries:
  description: The statements that ran, in one transaction (in check mode, the ones that would run).
  returned: always
  type: list
  elements: str
  sample: ['ALTER SCHEMA "public" RENAME TO "lifeboat_pre_restore_20261123t101500z"', 'CREATE SCHEMA "public" AUTHORIZATION CURRENT_USER']
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._pg_schema_snapshot import SchemaSnapshotError, apply


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "reverted", "absent"]),
            snapshot=dict(type="str", required=True),
            database=dict(type="dict", required=True, options=database_argument_spec()),
        ),
        supports_check_mode=True,
    )
    try:
        config = DatabaseConfig.from_mapping(module.params["database"])
        result = apply(module.params["state"], config, module.params["snapshot"], module.check_mode)
    except (SchemaSnapshotError, DatabaseError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
