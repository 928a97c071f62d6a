#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_pg_dump
short_description: Stream n8n's PostgreSQL database to a dump file, or a dump file back into it
version_added: 0.1.0
description:
  - With O(state=dump), runs C(pg_dump --no-owner --no-privileges) and streams its output to O(path)
    on the managed host, computing the SHA-256 while it streams. With O(state=restore), resets n8n's
    schema and streams O(path) into C(pg_restore) (custom format) or C(psql) (plain SQL).
  - >-
    When O(container) is set (PostgreSQL runs in a container on the managed host), the PostgreSQL
    tools run B(inside that container) through C(docker exec -i), so their version always matches the
    server, and the bytes stream through the docker CLI to and from the file on the docker host: no
    Python, no shared volume and no temporary copy inside the container, no PostgreSQL client on the
    host. Without O(container) the tools run on the managed host.
  - >-
    The password never appears in a command line (C(ps) shows command lines, and
    C(docker exec -e PGPASSWORD=...) would put it in the docker CLI's): the tools read it from the
    first line of their standard input (C(sh -c 'IFS= read -r PGPASSWORD ...')).
  - "What is dumped: with O(database.schema) other than C(public), only that schema (C(pg_dump --schema)),
    and the dump creates the schema itself. With C(public), the whole database: C(pg_dump --schema=public)
    (PostgreSQL 15) writes C(CREATE SCHEMA public), which fails against any existing database, whereas a
    whole-database dump never creates C(public). It does carry the database's other schemas, if any; a
    custom-format restore leaves them out, a plain-format restore needs them absent from the target."
  - >-
    A dump is written to C(<path>.partial) (O(mode), same folder), fsynced and renamed to O(path) only when
    C(pg_dump) and the compressor both exited 0. On any failure (wrong password, C(pg_dump) killed, full
    file system: the message then names the destination and its free space) the partial file is removed, so a
    file at O(path) is always a complete dump.
  - "A restore first resets the target schema over a connection from the managed host:
    C(DROP SCHEMA <schema> CASCADE) and C(CREATE SCHEMA <schema> AUTHORIZATION CURRENT_USER), for C(public) too.
    C(pg_restore --clean) would not do: it drops only the objects the dump names, so a target on which a newer
    n8n ran would keep that version's extra tables and trip the next n8n start. Then the dump streams into
    C(pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --schema=<schema>), or for
    plain SQL into C(psql -v ON_ERROR_STOP=1) inside a C(BEGIN)/C(COMMIT) the module adds once every byte went
    through (C(psql --single-transaction) would commit a cut-short input). The format and the compression of the
    file are detected from its first bytes. Finally the tables of the schema are counted."
  - The reset and the restore are two transactions. A restore that fails leaves the schema reset and empty (the
    restore itself is all or nothing). The restore role backs the target up and runs its checks before this module.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.database
attributes:
  check_mode:
    description:
      - O(state=dump) reports the commands it would run (RV(executed), without the password) and writes nothing.
      - O(state=restore) checks that O(path) exists, computes its SHA-256 (and compares it with
        O(expected_sha256)), detects its format, reports the commands it would run, and changes nothing.
    support: full
  diff_mode:
    description: A database dump has no meaningful diff.
    support: none
  idempotent:
    description: Every run writes a new dump or restores again (C(changed=true)).
    support: none
options:
  state:
    description:
      - V(dump) writes a dump of the database to O(path).
      - V(restore) replaces the content of the n8n schema with the dump at O(path).
    type: str
    choices: [dump, restore]
    default: dump
  container:
    description:
      - >-
        Name or id of the Docker container PostgreSQL runs in, on the managed host. The PostgreSQL tools then
        run inside it (C(docker exec -i)) and connect to O(database.host) and O(database.port) from there: give
        the database container's address and the port PostgreSQL listens on inside the container (what
        M(lifeboat.n8n.n8n_target) reports), not a port published on the host.
      - The schema reset and the table count of a restore connect from the managed host to the same address.
      - Leave unset to run C(pg_dump), C(pg_restore) and C(psql) from the managed host's C(PATH); they must be
        at least the server's version.
    type: str
  path:
    description:
      - O(state=dump) the dump file to write; its folder must exist; an existing file is replaced atomically.
      - O(state=restore) the dump file to read.
    type: path
    required: true
  format:
    description:
      - The dump's format. V(custom) (C(pg_dump -Fc)) is restored with C(pg_restore), which restores exactly the
        n8n schema and detects a truncated file. V(plain) is SQL text restored with C(psql).
      - Ignored with O(state=restore), which reads the format from the file.
    type: str
    choices: [custom, plain]
    default: custom
  compression:
    description:
      - "V(none), V(gzip:<0-9>) or V(zstd:<1-19>) (a level may be left out: gzip 6, zstd 3)."
      - "C(gzip) is pg_dump's own compression (C(--compress)): zlib per table inside a custom archive, or the
        whole SQL text for V(plain). It runs in the pg_dump process, on one core, inside the database container,
        so only compressed bytes cross the docker CLI. C(zstd) pipes pg_dump's uncompressed output through
        C(zstd -T0) on the managed host, on all its cores: smaller files, and faster than gzip when pg_dump runs
        on the host; with O(container) the uncompressed stream has to cross C(docker exec) first (measured at
        tens of MB/s on a busy 2-core host), which can make it the slower choice. It needs the C(zstd) tool on
        the managed host, also to restore."
      - The default, V(gzip:1), is the cheapest gzip level (on n8n's JSON execution data it keeps most of what
        the default level 6 gains, for less CPU time), needs no extra tool anywhere and keeps the docker stream
        small. V(none) writes the largest files and, with O(container), sends the most through C(docker exec).
      - Ignored with O(state=restore), which reads the compression from the file.
    type: str
    default: gzip:1
  expected_sha256:
    description:
      - O(state=restore) only. The SHA-256 the file must have (as RV(sha256) of the dump reported it). It is
        checked before the schema is reset, and again on the bytes that were streamed.
    type: str
  mode:
    description:
      - Permissions of the dump file, octal as a string. The dump holds encrypted credentials and other
        instance secrets, so the default lets only the owner read it.
    type: str
    default: '0600'
requirements:
  - C(docker) CLI on the managed host when O(container) is set; C(pg_dump), C(pg_restore) and C(psql) inside
    that container, or on the managed host otherwise.
  - C(zstd) on the managed host for V(zstd) compression.
  - C(sh) where the PostgreSQL tools run, when a password is given.
notes:
  - Quiesce n8n before a dump meant for a restore (see M(lifeboat.n8n.n8n_executions)); C(pg_dump) takes
    one consistent snapshot, but executions running at that moment are restored as crashed.
  - Restoring a custom archive needs the target's C(pg_restore) to be at least the version of the C(pg_dump)
    that wrote it; a plain dump written by PostgreSQL 15.14 or later starts with C(\restrict), which older
    C(psql) versions reject.
  - The reset recreates the schema owned by the connecting user, without grants to other roles; n8n connects
    as that user.
  - Extensions are not part of what a custom-format restore brings back (n8n needs none).
seealso:
  - module: lifeboat.n8n.n8n_target
  - module: lifeboat.n8n.n8n_executions
"""

EXAMPLES = r"""
- name: Dump n8n's database from inside its PostgreSQL container
  lifeboat.n8n.n8n_pg_dump:
    state: dump
    container: n8n-postgres
    database:
      type: postgresdb
      host: "{{ n8n_target.database.host }}"  # the container's address, from lifeboat.n8n.n8n_target
      name: n8n
      user: n8n
      password: "{{ n8n_db_password }}"
    path: /var/backups/n8n/database.pgdump
  register: n8n_dump

- name: Dump with zstd (needs zstd on the managed host)
  lifeboat.n8n.n8n_pg_dump:
    database:
      type: postgresdb
      host: 127.0.0.1
      user: n8n
      password: "{{ n8n_db_password }}"
    path: /var/backups/n8n/database.pgdump.zst
    compression: zstd:3

- name: Restore it, only if the file is the one the backup recorded
  lifeboat.n8n.n8n_pg_dump:
    state: restore
    container: n8n-postgres
    database:
      type: postgresdb
      host: "{{ n8n_target.database.host }}"
      user: n8n
      password: "{{ n8n_db_password }}"
    path: /var/backups/n8n/database.pgdump
    expected_sha256: "{{ n8n_dump.sha256 }}"
  register: n8n_restore
"""

RETURN = r"""
executed:
  description:
    - The command line of each process that ran (or would run, in check mode), in pipeline order
      (C(zstd) after C(pg_dump), before C(pg_restore) or C(psql)). They never hold the password.
  returned: always
  type: list
  elements: list
  sample: [["docker", "exec", "-i", "n8n-postgres", "sh", "-c", "IFS= read -r PGPASSWORD && export PGPASSWORD && exec \"$@\"",
            "sh", "pg_dump", "--format=custom", "--compress=1", "--no-owner", "--no-privileges", "--host=172.18.0.2",
            "--port=5432", "--username=n8n", "--no-password", "--dbname=dbname='n8n' connect_timeout=10 application_name='lifeboat.n8n'"]]
executed_queries:
  description: O(state=restore) the statements that reset the schema (in check mode, the ones it would run).
  returned: when O(state=restore)
  type: list
  elements: str
  sample: ['DROP SCHEMA IF EXISTS "public" CASCADE', 'CREATE SCHEMA "public" AUTHORIZATION CURRENT_USER']
dest:
  description: O(state=dump) the dump file (absolute path).
  returned: when O(state=dump)
  type: str
  sample: /var/backups/n8n/database.pgdump
src:
  description: O(state=restore) the dump file that was read (absolute path).
  returned: when O(state=restore)
  type: str
  sample: /var/backups/n8n/database.pgdump
size:
  description: Size of the dump file in bytes (null for a dump in check mode).
  returned: always
  type: int
  sample: 1843302
sha256:
  description: SHA-256 of the dump file (null for a dump in check mode).
  returned: always
  type: str
  sample: 9f2c1e0b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7
duration_s:
  description: Seconds the dump or restore took (0 in check mode).
  returned: always
  type: float
  sample: 3.42
format:
  description: The dump's format, V(custom) or V(plain) (detected from the file on restore).
  returned: always
  type: str
  sample: custom
compression:
  description:
    - O(state=dump) the compression used, as given (V(gzip:1), V(zstd:3), V(none)).
    - O(state=restore) the compression found in the file, without level (V(gzip), V(zstd), V(none); for a custom
      archive the compression inside it).
  returned: always
  type: str
  sample: gzip:1
tables:
  description: O(state=restore) the number of tables in the schema after the restore (null in check mode).
  returned: when O(state=restore)
  type: int
  sample: 142
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, database_argument_spec
from ansible_collections.lifeboat.n8n.plugins.module_utils._pg_stream import (
    PgStreamError,
    dump,
    dump_plan,
    restore,
    restore_plan,
)

DATABASE_SPEC = database_argument_spec()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="dump", choices=["dump", "restore"]),
            database=dict(type="dict", required=True, options=DATABASE_SPEC),
            container=dict(type="str"),
            path=dict(type="path", required=True),
            format=dict(type="str", default="custom", choices=["custom", "plain"]),
            compression=dict(type="str", default="gzip:1"),
            expected_sha256=dict(type="str"),
            mode=dict(type="str", default="0600"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        mode = int(params["mode"], 8)
        if not 0 <= mode <= 0o7777:
            raise ValueError(params["mode"])
    except ValueError:
        module.fail_json(msg="Cannot use mode %r: give octal permissions as a string, such as '0600'" % params["mode"])
    try:
        config = DatabaseConfig.from_mapping(params["database"])
        if config.type != "postgresdb":
            module.fail_json(msg="Cannot use n8n_pg_dump on %s: set database.type to postgresdb "
                                 "(SQLite databases are copied with lifeboat.n8n.n8n_sqlite_backup)" % config.describe())
        if params["state"] == "dump" and module.check_mode:
            result = dump_plan(config, params["path"], params["container"], params["format"], params["compression"])
        elif params["state"] == "dump":
            result = dump(config, params["path"], params["container"], params["format"], params["compression"], mode=mode)
        elif module.check_mode:
            result = restore_plan(config, params["path"], params["container"], params["expected_sha256"])
        else:
            result = restore(config, params["path"], params["container"], params["expected_sha256"])
    except (PgStreamError, DatabaseError, OSError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
