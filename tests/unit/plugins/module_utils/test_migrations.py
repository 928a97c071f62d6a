"""n8n versions and migrations: CLI parsing, the migrations table, the index an install ships."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _migrations as m
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase
from hypothesis import given
from hypothesis import strategies as st

# The two shapes n8n's compiled index takes (2.x exports the array; 1.123 names it first).
INDEX_2X = """
"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.sqliteMigrations = void 0;
const _1588102412422_InitialMigration_1 = require("./1588102412422-InitialMigration");
const _1690000000040_AddMfaColumns_1 = require("./1690000000040-AddMfaColumns");
exports.sqliteMigrations = [
    _1588102412422_InitialMigration_1.InitialMigration1588102412422,
    _1690000000040_AddMfaColumns_1.AddMfaColumns1690000000030,
    _1789131391410_AddInstanceAiThreadHistoryIndex_1.AddInstanceAiThreadHistoryIndex1789131391410,
];
//# sourceMappingURL=index.js.map
"""
INDEX_1X_PG = """
const postgresMigrations = [
    _1587669153312_InitialMigration_1.InitialMigration1587669153312,
    _1589476000887_WebhookModel_1.WebhookModel1589476000887,
];
exports.postgresMigrations = postgresMigrations;
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.40.7", (2, 40, 7)),
        ("v1.123.81", (1, 123, 81)),
        (" 2.38.7\n", (2, 38, 7)),
        ("2.41.0-beta.1", (2, 41, 0)),
        ("1.0.0+build.5", (1, 0, 0)),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert m.parse_version(text) == expected


@pytest.mark.parametrize("bad", ["", "2.40", "two.forty.seven", "2.40.7.1", "n8n 2.40.7", None])
def test_parse_version_names_the_bad_value(bad: Any) -> None:
    with pytest.raises(m.MigrationsError, match="Cannot parse n8n version"):
        m.parse_version(bad)


@given(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999))
def test_parse_version_round_trip(major: int, minor: int, patch: int) -> None:
    assert m.parse_version(f"{major}.{minor}.{patch}") == (major, minor, patch)


class FakeRun:
    def __init__(self, result: tuple[int, str, str] | BaseException) -> None:
        self.result = result
        self.calls: list[list[str]] = []

    def __call__(self, argv: Any, env: Any) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


@pytest.mark.parametrize(
    ("command", "stdout", "expected"),
    [
        (["node", "/opt/n8n/bin/n8n"], "2.40.7\n", "2.40.7"),
        (["docker", "exec", "ctr", "n8n"], "Permissions 0644 for n8n settings file are too wide.\n1.123.81\n", "1.123.81"),
        (["n8n"], "n8n version: 2.38.7 (self-hosted)\n", "2.38.7"),
    ],
)
def test_n8n_version_runs_the_command_with_version_flag(command: list[str], stdout: str, expected: str) -> None:
    run = FakeRun((0, stdout, ""))
    assert m.n8n_version(command, run=run) == expected
    assert run.calls == [[*command, "--version"]]


@pytest.mark.parametrize(
    ("result", "match"),
    [
        ((127, "", "docker: Error response from daemon: No such container: ctr"), "exit 127: docker: Error response"),
        ((0, "hello\n", ""), "no version in its output"),
        (FileNotFoundError(2, "No such file or directory", "node"), "No such file or directory"),
    ],
)
def test_n8n_version_failures_say_what_ran(result: Any, match: str) -> None:
    with pytest.raises(m.MigrationsError, match=match) as caught:
        m.n8n_version(["docker", "exec", "ctr", "n8n"], run=FakeRun(result))
    assert "docker exec ctr n8n --version" in str(caught.value)


def test_n8n_version_refuses_an_empty_command() -> None:
    with pytest.raises(m.MigrationsError, match="empty"):
        m.n8n_version([], run=FakeRun((0, "2.40.7", "")))


def test_n8n_version_default_runner_runs_a_real_process(tmp_path: Path) -> None:
    script = tmp_path / "n8n"
    script.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "$FAKE_VERSION"\n')
    script.chmod(0o755)
    assert m.n8n_version([str(script)], env={"FAKE_VERSION": "2.40.7"}) == "2.40.7"


# ---------------------------------------------------------------- database
def make_db(path: Path, prefix: str = "", history: bool = True) -> DatabaseConfig:
    with sqlite3.connect(path) as conn:
        conn.execute(f'CREATE TABLE "{prefix}migrations" (id INTEGER PRIMARY KEY AUTOINCREMENT, "timestamp" BIGINT, name TEXT)')
        conn.executemany(
            f'INSERT INTO "{prefix}migrations" ("timestamp", name) VALUES (?, ?)',
            [
                (1588102412422, "InitialMigration1588102412422"),
                (1784000000004, "AddInsightsRawTimestampIdIndex1784000000004"),
                # applied later, older timestamp: "newest" is the last row, not the highest timestamp
                (1766000000000, "CreateSomething1766000000000"),
            ],
        )
        if history:
            conn.execute(
                f'CREATE TABLE "{prefix}instance_version_history" '
                '(id INTEGER PRIMARY KEY AUTOINCREMENT, major INT, minor INT, patch INT, "createdAt" DATETIME)'
            )
            conn.executemany(
                f'INSERT INTO "{prefix}instance_version_history" (major, minor, patch, "createdAt") VALUES (?, ?, ?, ?)',
                [(2, 40, 7, "2026-11-21 14:30:46.518"), (2, 38, 7, "2026-11-21 15:00:00.000")],
            )
    return DatabaseConfig(type="sqlite", path=str(path), table_prefix=prefix)


@pytest.mark.parametrize("prefix", ["", "n8n_"])
def test_migration_head_and_applied(tmp_path: Path, prefix: str) -> None:
    with N8nDatabase(make_db(tmp_path / "db.sqlite", prefix), readonly=True) as db:
        assert m.migration_head(db) == {"name": "CreateSomething1766000000000", "timestamp": 1766000000000}
        assert m.applied_migrations(db) == [
            "InitialMigration1588102412422",
            "AddInsightsRawTimestampIdIndex1784000000004",
            "CreateSomething1766000000000",
        ]
        # most recent start first: a downgrade to 2.38.7 shows on top
        assert m.instance_version_history(db) == [
            {"version": "2.38.7", "created_at": "2026-11-21T15:00:00.000Z"},
            {"version": "2.40.7", "created_at": "2026-11-21T14:30:46.518Z"},
        ]


def test_1x_and_empty_databases(tmp_path: Path) -> None:
    with N8nDatabase(make_db(tmp_path / "v1.sqlite", history=False), readonly=True) as db:
        assert m.instance_version_history(db) == []
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    with N8nDatabase(DatabaseConfig(type="sqlite", path=str(empty)), readonly=True) as db:
        assert m.migration_head(db) is None
        assert m.applied_migrations(db) == []
        assert m.instance_version_history(db) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("2026-11-21 14:31:23.098", "2026-11-21T14:31:23.098Z"),
        ("2026-11-21 14:31:23", "2026-11-21T14:31:23.000Z"),
        (datetime(2026, 11, 21, 15, 31, 23, 98000, tzinfo=timezone(timedelta(hours=1))), "2026-11-21T14:31:23.098Z"),
        (datetime(2026, 11, 21, 14, 31, 23), "2026-11-21T14:31:23.000Z"),
        ("not a date", "not a date"),
    ],
)
def test_iso_timestamp(value: Any, expected: str | None) -> None:
    assert m.iso_timestamp(value) == expected


# ---------------------------------------------------------- shipped index
def test_parse_index_2x_keeps_class_names_not_file_names() -> None:
    assert m.parse_migrations_index(INDEX_2X, "sqlite") == [
        "InitialMigration1588102412422",
        "AddMfaColumns1690000000030",  # its file is 1690000000040-AddMfaColumns.js
        "AddInstanceAiThreadHistoryIndex1789131391410",
    ]


def test_parse_index_1x_postgres() -> None:
    assert m.parse_migrations_index(INDEX_1X_PG, "postgresdb") == ["InitialMigration1587669153312", "WebhookModel1589476000887"]
    assert m.parse_migrations_index(INDEX_1X_PG, "postgres") == m.parse_migrations_index(INDEX_1X_PG, "postgresdb")


@pytest.mark.parametrize(
    ("text", "db_type", "match"),
    [
        (INDEX_2X, "postgresdb", "no postgresMigrations array"),
        ("module.exports = {}", "sqlite", "no sqliteMigrations array"),
        ("exports.sqliteMigrations = [\n  require('./x')(1),\n];", "sqlite", "unexpected entry"),
        (INDEX_2X, "mysqldb", "Unknown database type"),
    ],
)
def test_parse_index_errors(text: str, db_type: str, match: str) -> None:
    with pytest.raises(m.MigrationsError, match=match):
        m.parse_migrations_index(text, db_type)


def _write_index(folder: Path, engine: str = "sqlite", text: str = INDEX_2X) -> None:
    (folder / engine).mkdir(parents=True)
    (folder / engine / "index.js").write_text(text)


@pytest.mark.parametrize(
    ("index_at", "install"),
    [
        # the n8n package with its own node_modules (npm install -g, the official image)
        ("usr/lib/node_modules/n8n/node_modules/@n8n/db/dist/migrations", "usr/lib/node_modules/n8n"),
        # the n8n package with hoisted dependencies (an npm project, this project's harness)
        ("proj/node_modules/@n8n/db/dist/migrations", "proj/node_modules/n8n"),
        # the npm project folder itself
        ("proj/node_modules/@n8n/db/dist/migrations", "proj"),
        ("proj/node_modules/n8n/node_modules/@n8n/db/dist/migrations", "proj"),
        # n8n before @n8n/db
        ("old/node_modules/n8n/dist/databases/migrations", "old/node_modules/n8n"),
        ("old/node_modules/n8n/dist/databases/migrations", "old"),
    ],
)
def test_shipped_migrations_finds_each_layout(tmp_path: Path, index_at: str, install: str) -> None:
    _write_index(tmp_path / index_at)
    (tmp_path / install).mkdir(parents=True, exist_ok=True)
    assert m.shipped_migrations(str(tmp_path / install), "sqlite")[0] == "InitialMigration1588102412422"
    # the same search inside a "container": the shell snippet, run here without docker exec
    assert m.shipped_migrations_in_container([], "sqlite", str(tmp_path / install)) == m.shipped_migrations(
        str(tmp_path / install), "sqlite"
    )


def test_nested_index_wins_over_hoisted(tmp_path: Path) -> None:
    # node resolves n8n/node_modules/@n8n/db before the project's hoisted copy
    _write_index(tmp_path / "proj/node_modules/n8n/node_modules/@n8n/db/dist/migrations", text=INDEX_2X)
    _write_index(
        tmp_path / "proj/node_modules/@n8n/db/dist/migrations",
        text="exports.sqliteMigrations = [a.Hoisted1000000000000];",
    )
    assert m.shipped_migrations(str(tmp_path / "proj"), "sqlite")[0] == "InitialMigration1588102412422"
    assert m.shipped_migrations(str(tmp_path / "proj/node_modules/n8n"), "sqlite")[0] == "InitialMigration1588102412422"


def test_shipped_migrations_missing_index_lists_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(m.MigrationsError, match="no migrations index under") as caught:
        m.shipped_migrations(str(tmp_path), "postgresdb")
    assert "@n8n/db/dist/migrations/postgresdb/index.js" in str(caught.value)
    with pytest.raises(m.MigrationsError, match="exit 3: no n8n migrations index for postgresdb"):
        m.shipped_migrations_in_container([], "postgresdb", str(tmp_path))


def test_shipped_migrations_command_shape() -> None:
    argv = m.shipped_migrations_command(["docker", "exec", "n8n"], "postgresdb")
    assert argv[:5] == ["docker", "exec", "n8n", "sh", "-c"]
    assert argv[6:9] == ["sh", m.CONTAINER_INSTALL_DIR, "postgresdb"]
    assert argv[9:] == list(m.INDEX_CANDIDATES)
