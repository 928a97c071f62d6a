"""_pg_schema_snapshot: the pure logic (names, statements, what each state does) with a fake connection.

The real thing, against PostgreSQL, is tests/integration/test_pg_stream.py (the module) and the
restore role's PostgreSQL rollback case in tests/integration/reliability.
"""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _pg_schema_snapshot as snap
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError

NAME = "lifeboat_pre_restore_20261123t101500z"


def pg(schema: str = "public") -> DatabaseConfig:
    return DatabaseConfig(type="postgresdb", host="10.0.0.5", port=5432, name="n8n", user="n8n", password="pw", schema=schema)


class FakeCursor:
    def close(self) -> None:
        pass


class FakeDatabase:
    """Stands in for N8nDatabase: knows which schemas exist, records the statements run."""

    def __init__(self, schemas: set[str], fail: bool = False) -> None:
        self.schemas = schemas
        self.fail = fail
        self.executed: list[str] = []
        self.committed = False

    def __call__(self, _config: DatabaseConfig) -> FakeDatabase:
        return self

    def __enter__(self) -> FakeDatabase:
        return self

    def __exit__(self, exc_type: Any, *_exc: Any) -> None:
        self.committed = exc_type is None

    def scalar(self, _query: str, params: tuple[Any, ...]) -> int:
        if self.fail:
            raise DatabaseError("Query failed on PostgreSQL n8n@10.0.0.5:5432: permission denied for database n8n")
        return int(params[0] in self.schemas)

    def fetchone(self, _query: str, _params: tuple[Any, ...]) -> tuple[int, int]:
        return (63, 4096)

    def execute(self, query: str) -> FakeCursor:
        self.executed.append(query)
        return FakeCursor()


@pytest.mark.parametrize("name", ["", "Lifeboat", "pre-restore", "1abc", "a" * 64, 'x"; DROP SCHEMA public; --'])
def test_names_that_need_quoting_or_are_too_long_are_refused(name: str) -> None:
    with pytest.raises(snap.SchemaSnapshotError, match="lower-case letters"):
        snap.check_name("public", name)


def test_the_n8n_schema_cannot_be_its_own_snapshot() -> None:
    with pytest.raises(snap.SchemaSnapshotError, match="under its own name"):
        snap.check_name("n8n_data", "n8n_data")


def test_take_renames_then_creates_in_one_transaction() -> None:
    db = FakeDatabase({"public"})
    result = snap.apply("present", pg(), NAME, connect=db)
    assert db.executed == [f'ALTER SCHEMA "public" RENAME TO "{NAME}"', 'CREATE SCHEMA "public" AUTHORIZATION CURRENT_USER']
    assert db.committed
    assert result == {"changed": True, "schema": "public", "snapshot": NAME, "executed_queries": db.executed, "tables": 63, "size_bytes": 4096}


def test_check_mode_reports_the_statements_and_runs_none() -> None:
    for state, schemas in (("present", {"public"}), ("reverted", {"public", NAME}), ("absent", {NAME})):
        db = FakeDatabase(schemas)
        result = snap.apply(state, pg(), NAME, check_mode=True, connect=db)
        assert result["changed"] and result["executed_queries"] and db.executed == []


def test_an_existing_snapshot_is_never_overwritten() -> None:
    db = FakeDatabase({"public", NAME})
    with pytest.raises(snap.SchemaSnapshotError, match="exists already.*nothing was changed"):
        snap.take(pg(), NAME, connect=db)
    assert db.executed == []


def test_a_missing_n8n_schema_has_nothing_to_set_aside() -> None:
    db = FakeDatabase(set())
    assert snap.take(pg("n8n_data"), NAME, connect=db)["changed"] is False
    assert db.executed == []


def test_revert_drops_what_the_restore_left_then_renames_back() -> None:
    db = FakeDatabase({"n8n_data", NAME})
    result = snap.revert(pg("n8n_data"), NAME, connect=db)
    assert db.executed == ['DROP SCHEMA IF EXISTS "n8n_data" CASCADE', f'ALTER SCHEMA "{NAME}" RENAME TO "n8n_data"']
    assert result["changed"]


@pytest.mark.parametrize("state", ["reverted", "absent"])
def test_without_the_snapshot_revert_and_drop_touch_nothing(state: str) -> None:
    db = FakeDatabase({"public"})
    assert snap.apply(state, pg(), NAME, connect=db)["changed"] is False
    assert db.executed == []


def test_drop_removes_only_the_snapshot() -> None:
    db = FakeDatabase({"public", NAME})
    snap.drop(pg(), NAME, connect=db)
    assert db.executed == [f'DROP SCHEMA IF EXISTS "{NAME}" CASCADE']


def test_database_errors_say_what_was_being_done() -> None:
    with pytest.raises(snap.SchemaSnapshotError, match="Cannot set schema public aside: .*permission denied"):
        snap.take(pg(), NAME, connect=FakeDatabase({"public"}, fail=True))


def test_sqlite_and_unknown_states_are_refused() -> None:
    with pytest.raises(snap.SchemaSnapshotError, match="for PostgreSQL"):
        snap.take(DatabaseConfig(type="sqlite", path="/home/node/.n8n/database.sqlite"), NAME, connect=FakeDatabase(set()))
    with pytest.raises(snap.SchemaSnapshotError, match="give present, reverted or absent"):
        snap.apply("restored", pg(), NAME, connect=FakeDatabase(set()))
