# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read and write n8n's database, SQLite or PostgreSQL, with one small interface.

This is a private module_utils (leading underscore): its API may change between
releases. n8n names its tables ``<DB_TABLE_PREFIX><name>`` and, on PostgreSQL, puts
them in ``DB_POSTGRESDB_SCHEMA``; :meth:`N8nDatabase.table` applies both, so callers
write ``db.table("credentials_entity")`` and never build identifiers by hand.

Queries use ``?`` placeholders on both engines (translated for psycopg).
PostgreSQL is reached through psycopg 3 when installed, else psycopg2 (the
package Debian and community.postgresql hosts usually have).
"""

from __future__ import absolute_import, annotations, division, print_function

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

__metaclass__ = type


def _postgres_driver() -> Any:
    """psycopg (3), else psycopg2, else None; imported on first use.

    Importing psycopg takes about 75 ms, which every SQLite-only module call paid, inside the
    backup's downtime too.
    """
    try:
        import psycopg

        return psycopg
    except ImportError:  # pragma: no cover - depends on the managed host
        pass
    try:
        import psycopg2

        return psycopg2
    except ImportError:  # pragma: no cover - depends on the managed host
        return None


DB_TYPES = ("sqlite", "postgresdb")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DatabaseError(Exception):
    """A database could not be opened or queried; the message says what to do."""


@dataclass
class DatabaseConfig:
    """Where n8n's database is, as n8n's own DB_* settings describe it."""

    type: str = "sqlite"
    path: Optional[str] = None  # SQLite file (the host path when n8n runs in a container)
    host: str = "localhost"
    port: int = 5432
    name: str = "n8n"
    user: str = "postgres"
    password: Optional[str] = field(default=None, repr=False)
    schema: str = "public"
    table_prefix: str = ""
    ssl_mode: Optional[str] = None
    connect_timeout: int = 10

    def __post_init__(self) -> None:
        if self.type == "postgres":
            self.type = "postgresdb"
        if self.type not in DB_TYPES:
            raise DatabaseError("Unknown database type %r: use one of %s (n8n's DB_TYPE)" % (self.type, ", ".join(DB_TYPES)))
        if self.type == "sqlite" and not self.path:
            raise DatabaseError("A SQLite database needs its path (…/.n8n/database.sqlite)")
        for label, value in (("table prefix", self.table_prefix), ("schema", self.schema)):
            if value and not _IDENTIFIER.match(value):
                raise DatabaseError("Invalid %s %r: letters, digits and underscores only" % (label, value))

    @classmethod
    def from_mapping(cls, options: dict[str, Any]) -> "DatabaseConfig":
        """Build from a module's ``database`` option (unknown or empty keys ignored)."""
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__ and v is not None}
        if "port" in known:
            known["port"] = int(known["port"])
        return cls(**known)

    @classmethod
    def from_n8n_env(cls, env: dict[str, str], sqlite_path: Optional[str] = None) -> "DatabaseConfig":
        """Build from n8n's own environment variables (DB_TYPE, DB_POSTGRESDB_*, DB_TABLE_PREFIX)."""
        db_type = env.get("DB_TYPE", "sqlite") or "sqlite"
        if db_type in ("postgres", "postgresdb"):
            return cls(
                type="postgresdb",
                host=env.get("DB_POSTGRESDB_HOST", "localhost"),
                port=int(env.get("DB_POSTGRESDB_PORT", "5432") or 5432),
                name=env.get("DB_POSTGRESDB_DATABASE", "n8n"),
                user=env.get("DB_POSTGRESDB_USER", "postgres"),
                password=env.get("DB_POSTGRESDB_PASSWORD"),
                schema=env.get("DB_POSTGRESDB_SCHEMA", "public") or "public",
                table_prefix=env.get("DB_TABLE_PREFIX", ""),
            )
        if db_type != "sqlite":
            raise DatabaseError("n8n DB_TYPE %r is not supported: lifeboat.n8n handles sqlite and postgresdb" % db_type)
        if not sqlite_path:
            folder = env.get("N8N_USER_FOLDER", "")
            sqlite_path = env.get("DB_SQLITE_DATABASE") or ((folder.rstrip("/") + "/.n8n/database.sqlite") if folder else None)
        return cls(type="sqlite", path=sqlite_path, table_prefix=env.get("DB_TABLE_PREFIX", ""))

    def describe(self) -> str:
        """Where the database is, without the password (safe for messages)."""
        if self.type == "sqlite":
            return "SQLite %s" % self.path
        return "PostgreSQL %s@%s:%s/%s (schema %s)" % (self.user, self.host, self.port, self.name, self.schema)


def database_argument_spec() -> dict[str, dict[str, Any]]:
    """Suboptions of the modules' ``database`` option (documented in doc_fragments/database.py)."""
    return dict(
        type=dict(type="str", default="sqlite", choices=list(DB_TYPES)),
        path=dict(type="path"),
        host=dict(type="str", default="localhost"),
        port=dict(type="int", default=5432),
        name=dict(type="str", default="n8n"),
        user=dict(type="str", default="postgres"),
        password=dict(type="str", no_log=True),
        schema=dict(type="str", default="public"),
        table_prefix=dict(type="str", default=""),
        ssl_mode=dict(type="str"),
        connect_timeout=dict(type="int", default=10),
    )


class N8nDatabase:
    """One connection to n8n's database. Use as a context manager."""

    def __init__(self, config: DatabaseConfig, readonly: bool = False) -> None:
        self.config = config
        self.readonly = readonly
        self._conn: Any = None

    # ------------------------------------------------------------ connection
    def __enter__(self) -> "N8nDatabase":
        self.open()
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        self.close()

    @property
    def is_postgres(self) -> bool:
        return self.config.type == "postgresdb"

    def open(self) -> None:
        if self._conn is not None:
            return
        if self.is_postgres:
            self._conn = _connect_postgres(self.config)
        else:
            self._conn = _connect_sqlite(self.config.path or "", self.readonly)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def commit(self) -> None:
        if self._conn is not None:
            self._conn.commit()

    def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()

    # ------------------------------------------------------------- queries
    def table(self, name: str) -> str:
        """The quoted, prefixed (and on PostgreSQL schema-qualified) name of an n8n table."""
        if not _IDENTIFIER.match(name):
            raise DatabaseError("Invalid table name %r" % name)
        quoted = '"%s%s"' % (self.config.table_prefix, name)
        if self.is_postgres:
            return '"%s".%s' % (self.config.schema, quoted)
        return quoted

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        if self._conn is None:
            self.open()
        if self.is_postgres:
            query = query.replace("?", "%s")
        cursor = self._conn.cursor()
        try:
            cursor.execute(query, tuple(params))
        except Exception as exc:  # driver errors differ: one message for all
            cursor.close()
            raise DatabaseError("Query failed on %s: %s" % (self.config.describe(), exc)) from exc
        return cursor

    def fetchall(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.execute(query, params)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def fetchone(self, query: str, params: Sequence[Any] = ()) -> Optional[tuple[Any, ...]]:
        cursor = self.execute(query, params)
        try:
            row = cursor.fetchone()
            return tuple(row) if row is not None else None
        finally:
            cursor.close()

    def scalar(self, query: str, params: Sequence[Any] = ()) -> Any:
        row = self.fetchone(query, params)
        return row[0] if row else None

    def iterate(self, query: str, params: Sequence[Any] = (), batch: int = 2000) -> Iterator[tuple[Any, ...]]:
        """Stream rows in batches: large tables never sit in memory at once."""
        cursor = self.execute(query, params)
        try:
            while True:
                rows = cursor.fetchmany(batch)
                if not rows:
                    return
                for row in rows:
                    yield tuple(row)
        finally:
            cursor.close()

    def tables(self) -> set[str]:
        """n8n's table names (prefix stripped) that exist in this database."""
        prefix = self.config.table_prefix
        if self.is_postgres:
            rows = self.fetchall(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'",
                (self.config.schema,),
            )
        else:
            rows = self.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(r[0])[len(prefix):] for r in rows if str(r[0]).startswith(prefix)}

    def columns(self, table: str) -> set[str]:
        if self.is_postgres:
            rows = self.fetchall(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                (self.config.schema, self.config.table_prefix + table),
            )
            return {str(r[0]) for r in rows}
        return {str(r[1]) for r in self.fetchall("PRAGMA table_info(%s)" % self.table(table))}

    def has_table(self, table: str) -> bool:
        return table in self.tables()


def _connect_sqlite(path: str, readonly: bool) -> sqlite3.Connection:
    import os

    if not os.path.exists(path):
        raise DatabaseError("No SQLite database at %s: check the n8n user folder (N8N_USER_FOLDER/.n8n/database.sqlite)" % path)
    uri = "file:%s?mode=%s" % (path, "ro" if readonly else "rw")
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise DatabaseError("Cannot open SQLite database %s: %s" % (path, exc)) from exc
    # n8n itself may be writing (WAL): wait for locks rather than fail at once.
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _connect_postgres(config: DatabaseConfig) -> Any:
    kwargs: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "dbname": config.name,
        "user": config.user,
        "connect_timeout": config.connect_timeout,
        # A database created with encoding SQL_ASCII (initdb without a locale) would otherwise
        # come back as bytes from psycopg: n8n writes UTF-8 text, so read it as such.
        "client_encoding": "utf8",
    }
    if config.password:
        kwargs["password"] = config.password
    if config.ssl_mode:
        kwargs["sslmode"] = config.ssl_mode
    driver = _postgres_driver()
    try:
        if driver is not None:
            return driver.connect(**kwargs)
    except Exception as exc:
        # The driver's message names host/user but never the password.
        raise DatabaseError(
            "Cannot connect to %s: %s. Check DB_POSTGRESDB_* (host reachable from the managed host, user, password)"
            % (config.describe(), str(exc).strip())
        ) from exc
    raise DatabaseError(
        "Cannot connect to %s: neither psycopg (3) nor psycopg2 is installed for %s on the managed host; "
        "install python3-psycopg or python3-psycopg2" % (config.describe(), _python())
    )


def _python() -> str:
    import sys

    return sys.executable
