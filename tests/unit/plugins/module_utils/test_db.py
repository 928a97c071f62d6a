"""Database configuration and identifiers (no server needed: SQLite in a temp folder)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase


def test_from_n8n_env_sqlite_defaults_to_user_folder() -> None:
    config = DatabaseConfig.from_n8n_env({"N8N_USER_FOLDER": "/home/node"})
    assert config.type == "sqlite"
    assert config.path == "/home/node/.n8n/database.sqlite"


def test_from_n8n_env_postgres() -> None:
    config = DatabaseConfig.from_n8n_env(
        {
            "DB_TYPE": "postgresdb",
            "DB_POSTGRESDB_HOST": "db",
            "DB_POSTGRESDB_PORT": "6432",
            "DB_POSTGRESDB_DATABASE": "n8n_prod",
            "DB_POSTGRESDB_USER": "n8n",
            "DB_POSTGRESDB_PASSWORD": "pw",
            "DB_POSTGRESDB_SCHEMA": "automation",
            "DB_TABLE_PREFIX": "n8n_",
        }
    )
    assert (config.host, config.port, config.name, config.schema, config.table_prefix) == (
        "db",
        6432,
        "n8n_prod",
        "automation",
        "n8n_",
    )
    assert "pw" not in repr(config)
    assert "pw" not in config.describe()


@pytest.mark.parametrize("env", [{"DB_TYPE": "mysqldb"}, {"DB_TYPE": "mariadb"}])
def test_unsupported_db_type_is_named(env: dict[str, str]) -> None:
    with pytest.raises(DatabaseError, match="not supported"):
        DatabaseConfig.from_n8n_env(env)


@pytest.mark.parametrize("prefix", ["x;drop", "a b", 'q"'])
def test_unsafe_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(DatabaseError, match="Invalid table prefix"):
        DatabaseConfig(type="sqlite", path="/x", table_prefix=prefix)


def test_table_names_carry_prefix_and_schema() -> None:
    sqlite = N8nDatabase(DatabaseConfig(type="sqlite", path="/x", table_prefix="n8n_"))
    assert sqlite.table("credentials_entity") == '"n8n_credentials_entity"'
    pg = N8nDatabase(DatabaseConfig(type="postgresdb", schema="auto", table_prefix="p_"))
    assert pg.table("credentials_entity") == '"auto"."p_credentials_entity"'


def test_sqlite_queries_tables_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "database.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute('CREATE TABLE "n8n_workflow_entity" (id TEXT, "versionId" TEXT)')
        conn.execute('CREATE TABLE "other" (id TEXT)')
        conn.execute("INSERT INTO n8n_workflow_entity VALUES ('w1', 'v1')")
    with N8nDatabase(DatabaseConfig(type="sqlite", path=str(path), table_prefix="n8n_"), readonly=True) as db:
        assert db.tables() == {"workflow_entity"}
        assert db.columns("workflow_entity") == {"id", "versionId"}
        assert db.fetchall('SELECT id, "versionId" FROM ' + db.table("workflow_entity") + " WHERE id = ?", ("w1",)) == [
            ("w1", "v1")
        ]
        assert list(db.iterate("SELECT id FROM " + db.table("workflow_entity"), batch=1)) == [("w1",)]


def test_missing_sqlite_file_says_where_to_look(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="N8N_USER_FOLDER"):
        N8nDatabase(DatabaseConfig(type="sqlite", path=str(tmp_path / "nope.sqlite"))).open()


def test_postgres_connection_error_hides_password() -> None:
    config = DatabaseConfig(type="postgresdb", host="127.0.0.1", port=1, password="hunter2-secret", connect_timeout=2)
    with pytest.raises(DatabaseError) as info:
        N8nDatabase(config).open()
    assert "hunter2-secret" not in str(info.value)
    assert "DB_POSTGRESDB_" in str(info.value)
