# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How modules reach n8n's database. Mirrors n8n's own DB_* settings.
    DOCUMENTATION = r"""
options:
  database:
    description:
      - Where n8n's database is, as n8n's C(DB_*) environment variables describe it.
      - For SQLite give O(database.path); for PostgreSQL give the connection options.
      - When n8n runs in a container, give the path or address as seen from the managed host
        (the volume's host path; the database container's address or published port).
    type: dict
    required: true
    suboptions:
      type:
        description: n8n's C(DB_TYPE).
        type: str
        choices: [sqlite, postgresdb]
        default: sqlite
      path:
        description:
          - The SQLite file, usually C(<N8N_USER_FOLDER>/.n8n/database.sqlite).
          - Required when O(database.type=sqlite).
        type: path
      host:
        description: C(DB_POSTGRESDB_HOST).
        type: str
        default: localhost
      port:
        description: C(DB_POSTGRESDB_PORT).
        type: int
        default: 5432
      name:
        description: C(DB_POSTGRESDB_DATABASE).
        type: str
        default: n8n
      user:
        description: C(DB_POSTGRESDB_USER).
        type: str
        default: postgres
      password:
        description: C(DB_POSTGRESDB_PASSWORD). Never logged.
        type: str
      schema:
        description: C(DB_POSTGRESDB_SCHEMA).
        type: str
        default: public
      table_prefix:
        description: C(DB_TABLE_PREFIX), prepended by n8n to every table name.
        type: str
        default: ''
      ssl_mode:
        description: libpq C(sslmode) for PostgreSQL connections.
        type: str
      connect_timeout:
        description: Seconds to wait for a PostgreSQL connection.
        type: int
        default: 10
requirements:
  - C(psycopg) (3) or C(psycopg2) on the managed host, for PostgreSQL.
"""
