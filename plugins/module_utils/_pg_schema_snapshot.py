# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The restore's safety snapshot of a PostgreSQL target: its schema renamed, not dumped (private module_utils).

Before a restore replaces n8n's schema, the schema is set aside under another name in the same
database (``ALTER SCHEMA <schema> RENAME TO <snapshot>``) and an empty schema of the old name is
created, in one transaction. Renaming moves no data: it takes milliseconds at any size, where a
dump of the same database took about a minute at 1M executions, inside the restore's downtime.

* :func:`take` sets the schema aside (state ``present``);
* :func:`revert` drops whatever the restore put in the schema and renames the snapshot back, in
  one transaction: the previous data comes back exactly, the same objects with the same OIDs
  (state ``reverted``);
* :func:`drop` drops the snapshot once the restore is verified (state ``absent``).

Every step checks first and is a no-op when there is nothing to do, so a rollback may call
:func:`revert` whether or not :func:`take` got to run. A snapshot name that exists already is
refused rather than overwritten: it may be an earlier restore's kept snapshot.

Space. Until it is dropped the snapshot holds the previous data in the database's own storage:
during a restore the database needs room for the previous data and the restored data at once.
"""

from __future__ import absolute_import, annotations, division, print_function

import re
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase
from ansible_collections.lifeboat.n8n.plugins.module_utils._pg_stream import SNAPSHOT_SCHEMA_PREFIX, Connect, quote_ident, reset_schema_sql

__metaclass__ = type

# Lower case, digits and underscores: the name needs no quoting wherever a DBA types it.
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_SIZE_SQL = (
    "SELECT count(*) FILTER (WHERE c.relkind IN ('r', 'p')), coalesce(sum(pg_total_relation_size(c.oid))"
    " FILTER (WHERE c.relkind IN ('r', 'p', 'm')), 0)"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ?"
)


class SchemaSnapshotError(Exception):
    """The snapshot could not be taken, reverted or dropped; the message says what to do."""


def check_name(schema: str, snapshot: str) -> None:
    """Refuse a snapshot name that is not a plain identifier, or that is the n8n schema itself."""
    if not _NAME.match(snapshot):
        raise SchemaSnapshotError(
            "Cannot use %r as the snapshot schema's name: give 1 to 63 lower-case letters, digits and underscores, "
            "starting with a letter or underscore (for example %s20261123t101500z)" % (snapshot, SNAPSHOT_SCHEMA_PREFIX)
        )
    if snapshot == schema:
        raise SchemaSnapshotError("Cannot set schema %s aside under its own name: give another snapshot name" % schema)


def take_sql(schema: str, snapshot: str) -> List[str]:
    """Rename the schema to the snapshot, then create it again, empty, for the restore."""
    return [
        "ALTER SCHEMA %s RENAME TO %s" % (quote_ident(schema), quote_ident(snapshot)),
        "CREATE SCHEMA %s AUTHORIZATION CURRENT_USER" % quote_ident(schema),
    ]


def revert_sql(schema: str, snapshot: str) -> List[str]:
    """Drop what the restore left in the schema, then rename the snapshot back."""
    statements: List[str] = reset_schema_sql(schema, recreate=False)
    return statements + ["ALTER SCHEMA %s RENAME TO %s" % (quote_ident(snapshot), quote_ident(schema))]


def drop_sql(snapshot: str) -> List[str]:
    statements: List[str] = reset_schema_sql(snapshot, recreate=False)
    return statements


def _exists(db: Any, schema: str) -> bool:
    return bool(db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = ?", (schema,)))


def _size(db: Any, schema: str) -> Dict[str, int]:
    row = db.fetchone(_SIZE_SQL, (schema,))
    tables, size = row or (0, 0)
    return {"tables": int(tables or 0), "size_bytes": int(size or 0)}


def _result(config: DatabaseConfig, snapshot: str, changed: bool, queries: List[str], **extra: Any) -> Dict[str, Any]:
    result: Dict[str, Any] = {"changed": changed, "schema": config.schema, "snapshot": snapshot, "executed_queries": queries}
    result.update(extra)
    return result


def _run(config: DatabaseConfig, what: str, work: Callable[[Any], Dict[str, Any]], connect: Connect) -> Dict[str, Any]:
    if config.type != "postgresdb":
        raise SchemaSnapshotError("Cannot %s on %s: schema snapshots are for PostgreSQL (set database.type to postgresdb)" % (what, config.describe()))
    try:
        with connect(config) as db:
            return work(db)
    except DatabaseError as exc:
        raise SchemaSnapshotError("Cannot %s: %s" % (what, exc)) from exc


def _execute(db: Any, queries: List[str], check_mode: bool) -> None:
    if not check_mode:
        for query in queries:
            db.execute(query).close()


def take(config: DatabaseConfig, snapshot: str, check_mode: bool = False, connect: Connect = N8nDatabase) -> Dict[str, Any]:
    """Set n8n's schema aside as ``snapshot`` and leave an empty schema in its place (one transaction).

    Returns ``{"changed", "schema", "snapshot", "executed_queries", "tables", "size_bytes"}``: the
    tables and the size (tables, indexes and TOAST) that were set aside. A missing n8n schema has
    nothing to set aside (``changed=false``); an existing ``snapshot`` is refused.
    """
    check_name(config.schema, snapshot)

    def work(db: Any) -> Dict[str, Any]:
        if _exists(db, snapshot):
            raise SchemaSnapshotError(
                "Cannot set schema %s aside as %s: a schema of that name exists already in %s (an earlier restore's snapshot?). "
                "Drop it (DROP SCHEMA %s CASCADE) or give another name; nothing was changed"
                % (config.schema, snapshot, config.describe(), quote_ident(snapshot))
            )
        if not _exists(db, config.schema):
            return _result(config, snapshot, False, [], tables=0, size_bytes=0)
        size = _size(db, config.schema)
        queries = take_sql(config.schema, snapshot)
        _execute(db, queries, check_mode)
        return _result(config, snapshot, True, queries, **size)

    return _run(config, "set schema %s aside" % config.schema, work, connect)


def _on_snapshot(config: DatabaseConfig, snapshot: str, queries: List[str], what: str, *, check_mode: bool, connect: Connect) -> Dict[str, Any]:
    """Run ``queries`` if ``snapshot`` exists (reporting its size before), else change nothing."""
    check_name(config.schema, snapshot)

    def work(db: Any) -> Dict[str, Any]:
        if not _exists(db, snapshot):
            return _result(config, snapshot, False, [], tables=0, size_bytes=0)
        size = _size(db, snapshot)
        _execute(db, queries, check_mode)
        return _result(config, snapshot, True, queries, **size)

    return _run(config, what, work, connect)


def revert(config: DatabaseConfig, snapshot: str, check_mode: bool = False, connect: Connect = N8nDatabase) -> Dict[str, Any]:
    """Put ``snapshot`` back as n8n's schema, dropping what is there now (one transaction).

    Without a snapshot of that name nothing is touched (``changed=false``): the schema in place is
    then the only data there is.
    """
    return _on_snapshot(
        config, snapshot, revert_sql(config.schema, snapshot), "put schema %s back from %s" % (config.schema, snapshot), check_mode=check_mode, connect=connect
    )


def drop(config: DatabaseConfig, snapshot: str, check_mode: bool = False, connect: Connect = N8nDatabase) -> Dict[str, Any]:
    """Drop the snapshot (its data is gone for good); a missing one is ``changed=false``."""
    return _on_snapshot(config, snapshot, drop_sql(snapshot), "drop the snapshot schema %s" % snapshot, check_mode=check_mode, connect=connect)


def apply(state: str, config: DatabaseConfig, snapshot: str, check_mode: bool = False, connect: Optional[Connect] = None) -> Dict[str, Any]:
    """The module's entry point: ``present`` takes, ``reverted`` puts back, ``absent`` drops."""
    actions = {"present": take, "reverted": revert, "absent": drop}
    if state not in actions:
        raise SchemaSnapshotError("Cannot use state %r: give present, reverted or absent" % state)
    return actions[state](config, snapshot, check_mode, connect or N8nDatabase)
