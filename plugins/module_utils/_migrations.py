# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""n8n versions and schema migrations (private module_utils).

Three views of "which n8n is this", which a restore must keep in agreement:

* the **version** of an n8n install: ``<n8n command> --version`` (on the host, or through
  ``docker exec``), see :func:`n8n_version`;
* the **schema** of a database: the ``migrations`` table TypeORM fills, one row per applied
  migration named ``<Class><timestamp>`` (``InitialMigration1588102412422``); its newest row is
  the schema's identity (:func:`migration_head`, :func:`applied_migrations`). Recent 2.x also
  keep ``instance_version_history``, one row per n8n version that started on the database;
* the migrations an install **ships**: the ordered array exported by
  ``@n8n/db/dist/migrations/<sqlite|postgresdb>/index.js`` (``n8n/dist/databases/migrations/...``
  before ``@n8n/db`` existed), see :func:`shipped_migrations`.

Why the index and not the file names: n8n names a migration by its *class*, and file names do not
always match (2.40.7 ships ``1690000000040-AddMfaColumns.js`` whose class is
``AddMfaColumns1690000000030``), and ``common/`` holds files one engine does not run. The index is
exactly the list TypeORM executes; its entries are what n8n writes into ``migrations.name``.
"""

from __future__ import absolute_import, annotations, division, print_function

import os
import re
import subprocess
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

from ._db import N8nDatabase

__metaclass__ = type

# runner(argv, env) -> (returncode, stdout, stderr); the module passes AnsibleModule.run_command.
Runner = Callable[[Sequence[str], Optional[Mapping[str, str]]], Tuple[int, str, str]]

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?\s*$")
_VERSION_IN_TEXT = re.compile(r"(?<![\d.])v?(\d+\.\d+\.\d+)(?:[-+][0-9A-Za-z.+-]*)?(?![\d.])")
_INDEX_ARRAY = re.compile(r"(?:exports\.)?(?P<engine>sqlite|postgres)Migrations\s*=\s*\[(?P<body>.*?)\]", re.DOTALL)
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

# Where an install keeps the migrations index, relative to the folder given (tried in order):
# the n8n package itself (…/node_modules/n8n) with nested or hoisted dependencies, or the npm
# project folder holding node_modules/n8n; the last two are n8n before @n8n/db (early 1.x).
INDEX_CANDIDATES = (
    "node_modules/n8n/node_modules/@n8n/db/dist/migrations",
    "node_modules/@n8n/db/dist/migrations",
    "../@n8n/db/dist/migrations",
    "dist/databases/migrations",
    "node_modules/n8n/dist/databases/migrations",
)
# The n8n package inside the official image (npm install -g).
CONTAINER_INSTALL_DIR = "/usr/local/lib/node_modules/n8n"

# Lists the index inside a container: cat the first candidate that exists. Arguments after
# ``sh -c SCRIPT sh``: the install folder, the engine folder, then the candidates.
_CONTAINER_SCRIPT = (
    'dir=$1; engine=$2; shift 2; for rel in "$@"; do f="$dir/$rel/$engine/index.js"; '
    'if [ -f "$f" ]; then cat "$f"; exit 0; fi; done; '
    'echo "no n8n migrations index for $engine under $dir" >&2; exit 3'
)


class MigrationsError(Exception):
    """A version or a migration list could not be read; the message says what to do."""


# ----------------------------------------------------------------- versions
def parse_version(value: str) -> tuple[int, int, int]:
    """``"2.40.7"`` (also ``v2.40.7``, ``2.40.7-beta.1``) -> ``(2, 40, 7)``."""
    match = _VERSION.match(str(value)) if value is not None else None
    if not match:
        raise MigrationsError("Cannot parse n8n version %r: expected MAJOR.MINOR.PATCH such as 2.40.7" % (value,))
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _run(argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> tuple[int, str, str]:
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    result = subprocess.run(list(argv), env=full_env, capture_output=True, text=True, timeout=120, check=False)
    return result.returncode, result.stdout, result.stderr


def n8n_version(command: Sequence[str], env: Optional[Mapping[str, str]] = None, run: Runner = _run) -> str:
    """The version an n8n CLI reports (``<command> --version``), e.g. ``"2.40.7"``.

    ``command`` is the argv prefix that runs the CLI: ``["n8n"]``, ``["node", "/opt/n8n/bin/n8n"]``,
    ``["docker", "exec", "n8n", "n8n"]``. ``env`` is added to the current environment (``--version``
    needs none of n8n's settings: do not pass the encryption key).
    """
    argv = [*command, "--version"]
    shown = " ".join(argv)
    if not command:
        raise MigrationsError("Cannot read the n8n version: the n8n command is empty. Give the argv that runs the n8n CLI")
    try:
        returncode, stdout, stderr = run(argv, env)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MigrationsError(
            "Cannot read the n8n version with `%s`: %s. Check the n8n command (the node binary and n8n's bin/n8n, "
            "or docker exec <container> n8n)" % (shown, exc)
        ) from exc
    if returncode != 0:
        raise MigrationsError(
            "Cannot read the n8n version with `%s`: exit %s: %s. Check the n8n command (and that the container runs)"
            % (shown, returncode, _tail(stderr or stdout))
        )
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    for line in reversed(lines):  # n8n prints the bare version; warnings may precede it
        if _VERSION.match(line):
            return line.lstrip("v")
    found = _VERSION_IN_TEXT.search(stdout)
    if found:
        return found.group(1)
    raise MigrationsError("Cannot read the n8n version with `%s`: no version in its output %r" % (shown, _tail(stdout)))


def _tail(text: str, limit: int = 300) -> str:
    text = (text or "").strip()
    return text[-limit:] if text else "(no output)"


# --------------------------------------------------------- database schema
def iso_timestamp(value: Any) -> Optional[str]:
    """A database timestamp as ISO 8601 UTC (``2026-11-21T14:31:23.098Z``); None stays None.

    n8n stores UTC: SQLite returns text (``2026-11-21 14:31:23.098``), psycopg returns datetimes.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return iso_timestamp(parsed)


def migration_head(db: N8nDatabase) -> Optional[dict[str, Any]]:
    """The newest row of the ``migrations`` table (the last migration applied), or None.

    ``{"name": "AddInstanceAiThreadHistoryIndex1789131391410", "timestamp": 1789131391410}``.
    "Newest" is the highest ``id`` (insertion order), as n8n appends one row per migration run.
    """
    if not db.has_table("migrations"):
        return None
    row = db.fetchone('SELECT name, "timestamp" FROM %s ORDER BY id DESC LIMIT 1' % db.table("migrations"))  # noqa: S608
    if row is None:
        return None
    return {"name": str(row[0]), "timestamp": int(row[1])}


def applied_migrations(db: N8nDatabase) -> list[str]:
    """Names of every applied migration, in the order they ran ([] without a migrations table)."""
    if not db.has_table("migrations"):
        return []
    rows = db.fetchall("SELECT name FROM %s ORDER BY id" % db.table("migrations"))  # noqa: S608 - db.table() quotes
    return [str(row[0]) for row in rows]


def instance_version_history(db: N8nDatabase) -> list[dict[str, Any]]:
    """Every n8n version that started on this database, most recent start first.

    ``[{"version": "2.40.7", "created_at": "2026-11-21T14:30:46.518Z"}, ...]``; [] on 1.x (no such
    table). n8n does not refuse a downgrade: an older version merely appends its own row.
    """
    if not db.has_table("instance_version_history"):
        return []
    rows = db.fetchall(
        'SELECT major, minor, patch, "createdAt" FROM %s ORDER BY id DESC' % db.table("instance_version_history")  # noqa: S608
    )
    return [{"version": "%s.%s.%s" % (row[0], row[1], row[2]), "created_at": iso_timestamp(row[3])} for row in rows]


# ------------------------------------------------------ shipped migrations
def _engine_folder(db_type: str) -> str:
    if db_type in ("postgres", "postgresdb"):
        return "postgresdb"
    if db_type == "sqlite":
        return "sqlite"
    raise MigrationsError("Unknown database type %r: use sqlite or postgresdb (n8n's DB_TYPE)" % (db_type,))


def migration_index_paths(install_dir: str, db_type: str) -> list[str]:
    """The places an install may keep the migrations index for ``db_type``, in search order."""
    engine = _engine_folder(db_type)
    return [os.path.normpath(os.path.join(install_dir, rel, engine, "index.js")) for rel in INDEX_CANDIDATES]


def parse_migrations_index(text: str, db_type: str) -> list[str]:
    """The migration class names in an index.js, in the order n8n lists them."""
    engine = "postgres" if _engine_folder(db_type) == "postgresdb" else "sqlite"
    for match in _INDEX_ARRAY.finditer(text):
        if match.group("engine") != engine:
            continue
        names = []
        for raw in match.group("body").split(","):
            entry = raw.strip()
            if not entry:
                continue
            name = entry.rsplit(".", 1)[-1]
            if not _IDENTIFIER.match(name):
                raise MigrationsError("Cannot read n8n's %s migrations index: unexpected entry %r" % (engine, entry[:80]))
            names.append(name)
        if names:
            return names
    raise MigrationsError(
        "Cannot read n8n's %s migrations index: no %sMigrations array in it (an n8n layout lifeboat.n8n does not know)"
        % (engine, engine)
    )


def shipped_migrations(install_dir: str, db_type: str) -> list[str]:
    """The migrations an n8n install on this host runs for ``db_type``, in n8n's order.

    ``install_dir`` is the n8n package (``…/node_modules/n8n``) or the npm project folder that
    holds ``node_modules/n8n``.
    """
    candidates = migration_index_paths(install_dir, db_type)
    for path in candidates:
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                raise MigrationsError("Cannot read n8n's migrations index %s: %s" % (path, exc)) from exc
            return parse_migrations_index(text, db_type)
    raise MigrationsError(
        "Cannot list the migrations n8n ships: no migrations index under %s (looked for %s). Give the n8n package "
        "folder (…/node_modules/n8n) or the npm project that holds it" % (install_dir, ", ".join(candidates))
    )


def shipped_migrations_command(
    exec_prefix: Sequence[str], db_type: str, install_dir: str = CONTAINER_INSTALL_DIR
) -> list[str]:
    """argv that prints, inside a container, the migrations index :func:`shipped_migrations` reads.

    Not a ``find`` over the migration files (file names are not migration names, see the module
    docstring): a POSIX ``sh`` snippet that ``cat``s the first index that exists, run through
    ``exec_prefix`` (``["docker", "exec", "n8n"]``). Parse its stdout with
    :func:`parse_migrations_index`, or use :func:`shipped_migrations_in_container`. The default
    ``install_dir`` is where the official image installs n8n.
    """
    return [*exec_prefix, "sh", "-c", _CONTAINER_SCRIPT, "sh", install_dir, _engine_folder(db_type), *INDEX_CANDIDATES]


def shipped_migrations_in_container(
    exec_prefix: Sequence[str], db_type: str, install_dir: str = CONTAINER_INSTALL_DIR, run: Runner = _run
) -> list[str]:
    """:func:`shipped_migrations` for an n8n inside a container (through ``exec_prefix``)."""
    argv = shipped_migrations_command(exec_prefix, db_type, install_dir)
    try:
        returncode, stdout, stderr = run(argv, None)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MigrationsError("Cannot list the migrations n8n ships with `%s ...`: %s" % (" ".join(exec_prefix), exc)) from exc
    if returncode != 0:
        raise MigrationsError(
            "Cannot list the migrations n8n ships with `%s ...`: exit %s: %s. Check the container and the n8n folder "
            "inside it (%s)" % (" ".join(exec_prefix), returncode, _tail(stderr), install_dir)
        )
    return parse_migrations_index(stdout, db_type)
