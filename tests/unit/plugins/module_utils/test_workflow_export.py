"""Workflow JSON exports: format, determinism, volatile fields, safety of dest, diff classification.

The databases are SQLite files built here with the columns n8n 2.40 (and, trimmed, older
versions) have; the real-n8n proof is tests/integration/test_workflow_export.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _workflow_export as wx
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase
from hypothesis import given, settings
from hypothesis import strategies as st

SECRET = "sk_live_lifeboat_do_not_export"

SCHEMA_2X = (
    'CREATE TABLE "{p}workflow_entity" (id varchar(36) PRIMARY KEY, name varchar(128) NOT NULL, active boolean NOT NULL, '
    'nodes text, connections text, settings text, "staticData" text, "pinData" text, "versionId" varchar(36) NOT NULL, '
    '"triggerCount" integer DEFAULT 0, meta text, "parentFolderId" varchar(36), "createdAt" datetime, "updatedAt" datetime, '
    '"isArchived" boolean NOT NULL DEFAULT 0, "versionCounter" integer NOT NULL DEFAULT 1, description text, '
    '"activeVersionId" varchar(36), "nodeGroups" text NOT NULL DEFAULT \'[]\', "sourceWorkflowId" varchar)',
    'CREATE TABLE "{p}workflow_history" ("versionId" varchar(36) PRIMARY KEY, "workflowId" varchar(36) NOT NULL, '
    'authors varchar(255) NOT NULL, "createdAt" datetime, "updatedAt" datetime, nodes text NOT NULL, connections text NOT NULL, '
    'name varchar(128), autosaved boolean NOT NULL DEFAULT 0, description text, "nodeGroups" text NOT NULL DEFAULT \'[]\')',
    'CREATE TABLE "{p}tag_entity" (id varchar(36) PRIMARY KEY, name varchar(24) NOT NULL, "createdAt" datetime, "updatedAt" datetime)',
    'CREATE TABLE "{p}workflows_tags" ("workflowId" varchar(36) NOT NULL, "tagId" integer NOT NULL)',
    'CREATE TABLE "{p}project" (id varchar(36) PRIMARY KEY, name varchar(255) NOT NULL, type varchar(36) NOT NULL)',
    'CREATE TABLE "{p}shared_workflow" ("workflowId" varchar(36) NOT NULL, "projectId" varchar(36) NOT NULL, role text NOT NULL)',
    'CREATE TABLE "{p}folder" (id varchar(36) PRIMARY KEY, name varchar(128) NOT NULL, "parentFolderId" varchar(36), '
    '"projectId" varchar(36) NOT NULL)',
    'CREATE TABLE "{p}credentials_entity" (id varchar(36) PRIMARY KEY, name text, data text, type text)',
)
# An older 1.x: no publishing, folders, projects, archiving or descriptions.
SCHEMA_OLD = (
    'CREATE TABLE "{p}workflow_entity" (id varchar(36) PRIMARY KEY, name varchar(128) NOT NULL, active boolean NOT NULL, '
    'nodes text, connections text, settings text, "staticData" text, "pinData" text, "versionId" varchar(36), '
    '"triggerCount" integer DEFAULT 0, meta text, "createdAt" datetime, "updatedAt" datetime)',
    'CREATE TABLE "{p}tag_entity" (id varchar(36) PRIMARY KEY, name varchar(24) NOT NULL)',
    'CREATE TABLE "{p}workflows_tags" ("workflowId" varchar(36) NOT NULL, "tagId" integer NOT NULL)',
)


def node(name: str, node_type: str = "n8n-nodes-base.noOp", node_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": node_id or "id-" + name.lower().replace(" ", "-"),
        "name": name,
        "type": node_type,
        "typeVersion": 1.2,
        "position": [0, 300],
        "parameters": extra.pop("parameters", {}),
        **extra,
    }


def chain(*names: str) -> dict[str, Any]:
    return {a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in zip(names, names[1:])}


class FakeN8n:
    """An n8n-shaped SQLite database that tests fill and edit."""

    def __init__(self, path: Path, schema: tuple[str, ...] = SCHEMA_2X, prefix: str = "") -> None:
        self.path = path
        self.prefix = prefix
        with self.connect() as conn:
            for statement in schema:
                conn.execute(statement.format(p=prefix))
            if schema is SCHEMA_2X:
                conn.execute(self.sql('INSERT INTO "{p}project" VALUES (?, ?, ?)'), ("p1", "Life Boat <owner@lifeboat.test>", "personal"))
                conn.execute(self.sql('INSERT INTO "{p}project" VALUES (?, ?, ?)'), ("p2", "Ops team", "team"))
                conn.execute(
                    self.sql('INSERT INTO "{p}credentials_entity" VALUES (?, ?, ?, ?)'), ("c1", "Token", "U2FsdGVkX1" + SECRET, "httpHeaderAuth")
                )

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path)
        conn.execute("PRAGMA synchronous = OFF")  # test data: no fsync per statement
        return conn

    def sql(self, statement: str) -> str:
        return statement.format(p=self.prefix)

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        with self.connect() as conn:
            conn.execute(self.sql(statement), params)

    def columns(self) -> set[str]:
        with self.connect() as conn:
            return {row[1] for row in conn.execute(self.sql('PRAGMA table_info("{p}workflow_entity")'))}

    def add(self, wf_id: str, name: str, nodes: list[dict[str, Any]], version: str = "v1", **columns: Any) -> None:
        names = [n["name"] for n in nodes]
        row: dict[str, Any] = {
            "id": wf_id,
            "name": name,
            "active": columns.pop("active", False),
            "nodes": json.dumps(nodes),
            "connections": json.dumps(columns.pop("connections", chain(*names))),
            "settings": json.dumps(columns.pop("settings", {"executionOrder": "v1"})),
            "versionId": version,
            "createdAt": "2026-01-01 00:00:00.000",
            "updatedAt": "2026-01-01 00:00:00.000",
        }
        for key, value in columns.items():
            row[key] = json.dumps(value) if isinstance(value, (dict, list)) else value
        row = {k: v for k, v in row.items() if k in self.columns()}
        keys = ", ".join(f'"{k}"' for k in row)
        marks = ", ".join("?" * len(row))
        self.execute('INSERT INTO "{p}workflow_entity" (' + keys + ") VALUES (" + marks + ")", tuple(row.values()))
        if "isArchived" in self.columns():
            self.execute('INSERT INTO "{p}workflow_history" VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, ?)', (
                version, wf_id, "Life Boat", "2026-01-01", "2026-01-01", json.dumps(nodes), json.dumps(chain(*names)), "[]"
            ))
            self.execute('INSERT INTO "{p}shared_workflow" VALUES (?, ?, ?)', (wf_id, "p1", "workflow:owner"))

    def history(self, wf_id: str, version: str, nodes: list[dict[str, Any]]) -> None:
        self.execute('INSERT INTO "{p}workflow_history" VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, ?)', (
            version, wf_id, "Someone Else", "2026-02-02", "2026-02-02", json.dumps(nodes), json.dumps(chain(*[n["name"] for n in nodes])), "[]"
        ))

    def tag(self, wf_id: str, tag_id: str, name: str) -> None:
        with self.connect() as conn:
            conn.execute(self.sql('INSERT OR IGNORE INTO "{p}tag_entity" (id, name) VALUES (?, ?)'), (tag_id, name))
            conn.execute(self.sql('INSERT INTO "{p}workflows_tags" VALUES (?, ?)'), (wf_id, tag_id))

    def config(self) -> DatabaseConfig:
        return DatabaseConfig(type="sqlite", path=str(self.path), table_prefix=self.prefix)

    def export(self, dest: Path, **kwargs: Any) -> dict[str, Any]:
        with N8nDatabase(self.config(), readonly=True) as db:
            return wx.export_workflows(db, str(dest), **kwargs)


def seed(fake: FakeN8n) -> None:
    """Four workflows like the harness seed: a published draft, a schedule, a webhook, an inactive one."""
    webhook = node("Webhook", "n8n-nodes-base.webhook", webhookId="hook-1", credentials={"httpHeaderAuth": {"id": "c1", "name": "Token"}})
    fake.add("wfEcho", "Lifeboat echo", [node("Compute", parameters={"jsCode": "draft"}), webhook], version="echo-draft", active=True,
             activeVersionId="echo-pub", triggerCount=1, staticData={"node:Webhook": {"webhookSecret": SECRET}})
    fake.history("wfEcho", "echo-pub", [webhook, node("Compute", parameters={"jsCode": "published"})])
    fake.add("wfTick", "Lifeboat tick", [node("Every few seconds", "n8n-nodes-base.scheduleTrigger"), node("Record tick")],
             version="tick-1", active=True, activeVersionId="tick-1", staticData={"node:Every few seconds": {"lastRun": "2026-01-01"}})
    fake.add("wfSlow", "Lifeboat slow", [node("Webhook", "n8n-nodes-base.webhook"), node("Hold"), node("Done")], version="slow-1",
             active=True, activeVersionId="slow-1", pinData={"Webhook": [{"json": {"token": SECRET}}]})
    fake.add("wfIdle", "Lifeboat inactive", [node("Webhook", "n8n-nodes-base.webhook"), node("Done")], version="idle-1",
             meta={"templateId": "1234", "templateCredsSetupCompleted": True})


@pytest.fixture
def fake(tmp_path: Path) -> FakeN8n:
    instance = FakeN8n(tmp_path / "database.sqlite")
    seed(instance)
    return instance


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def load(path: Path, wf_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / "workflows" / f"{wf_id}.json").read_text())
    return data


# --------------------------------------------------------------------- format
def test_export_writes_one_canonical_file_per_workflow_and_an_index(fake: FakeN8n, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    result = fake.export(dest)
    assert result["changed"] is True
    assert result["count"] == 4
    assert result["files"] == ["index.json"] + [f"workflows/{i}.json" for i in ("wfEcho", "wfIdle", "wfSlow", "wfTick")]
    assert result["diff"] is None and result["diff_path"] is None
    for rel, data in tree(dest).items():
        text = data.decode("utf-8")
        assert "\r" not in text and text.endswith("}\n") and not text.endswith("\n\n"), rel
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n", rel
        assert stat.S_IMODE((dest / rel).stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE((dest / "workflows").stat().st_mode) == 0o700

    index = json.loads((dest / "index.json").read_text())
    assert index["format"] == wx.EXPORT_FORMAT and index["count"] == 4
    assert index["workflows"] == result["index"]
    for entry in index["workflows"]:
        assert entry["sha256"] == hashlib.sha256((dest / entry["file"]).read_bytes()).hexdigest()
    echo = next(e for e in index["workflows"] if e["id"] == "wfEcho")
    assert echo == {
        "id": "wfEcho",
        "name": "Lifeboat echo",
        "active": True,
        "isArchived": False,
        "versionId": "echo-draft",
        "activeVersionId": "echo-pub",
        "file": "workflows/wfEcho.json",
        "sha256": echo["sha256"],
    }


def test_workflow_file_fields(fake: FakeN8n, tmp_path: Path) -> None:
    fake.tag("wfIdle", "t2", "zeta")
    fake.tag("wfIdle", "t1", "alpha")
    fake.execute('INSERT INTO "folder" VALUES (?, ?, ?, ?)', ("f1", "Clients", None, "p1"))
    fake.execute('INSERT INTO "folder" VALUES (?, ?, ?, ?)', ("f2", "Acme", "f1", "p1"))
    fake.execute('UPDATE "workflow_entity" SET "parentFolderId" = ?, description = ? WHERE id = ?', ("f2", "Takes orders", "wfIdle"))
    fake.execute('INSERT INTO "shared_workflow" VALUES (?, ?, ?)', ("wfIdle", "p2", "workflow:editor"))
    fake.export(tmp_path / "export")
    idle = load(tmp_path / "export", "wfIdle")
    assert sorted(idle) == [
        "active", "activeVersionId", "connections", "description", "folder", "id", "isArchived", "meta", "name",
        "nodes", "project", "settings", "sharedWith", "tags", "versionId",
    ]  # fmt: skip
    assert idle["tags"] == ["alpha", "zeta"]
    assert idle["folder"] == ["Clients", "Acme"]
    assert idle["project"] == "Life Boat <owner@lifeboat.test>"
    assert idle["sharedWith"] == ["Ops team"]
    assert idle["meta"] == {"templateId": "1234"}
    assert idle["activeVersionId"] is None and "published" not in idle
    assert [n["name"] for n in idle["nodes"]] == ["Done", "Webhook"]  # sorted by name
    assert load(tmp_path / "export", "wfTick")["folder"] == []


def test_published_version_is_exported_when_it_differs_from_the_draft(fake: FakeN8n, tmp_path: Path) -> None:
    fake.export(tmp_path / "export")
    echo = load(tmp_path / "export", "wfEcho")
    assert (echo["versionId"], echo["activeVersionId"]) == ("echo-draft", "echo-pub")
    assert echo["published"]["versionId"] == "echo-pub"
    assert sorted(echo["published"]) == ["connections", "nodes", "versionId"]
    assert [n["name"] for n in echo["published"]["nodes"]] == ["Compute", "Webhook"]
    assert echo["published"]["nodes"][0]["parameters"] == {"jsCode": "published"}
    assert echo["nodes"][0]["parameters"] == {"jsCode": "draft"}
    assert "published" not in load(tmp_path / "export", "wfTick")  # published == draft


def test_missing_published_history_row_is_a_warning(fake: FakeN8n, tmp_path: Path) -> None:
    fake.execute('DELETE FROM "workflow_history" WHERE "versionId" = ?', ("echo-pub",))
    result = fake.export(tmp_path / "export")
    assert any("wfEcho" in w and "echo-pub" in w for w in result["warnings"])
    assert load(tmp_path / "export", "wfEcho")["published"] == {"versionId": "echo-pub", "nodes": None, "connections": None}


def test_secrets_in_static_data_pin_data_and_credentials_never_leak(fake: FakeN8n, tmp_path: Path) -> None:
    fake.export(tmp_path / "export")
    for rel, data in tree(tmp_path / "export").items():
        assert SECRET.encode() not in data, rel
        assert b"staticData" not in data and b"pinData" not in data, rel
    fake.export(tmp_path / "with-pins", include_pin_data=True)
    slow = load(tmp_path / "with-pins", "wfSlow")
    assert slow["pinData"] == {"Webhook": [{"json": {"token": SECRET}}]}
    assert "staticData" not in load(tmp_path / "with-pins", "wfEcho")


def test_include_archived(fake: FakeN8n, tmp_path: Path) -> None:
    fake.execute('UPDATE "workflow_entity" SET "isArchived" = 1 WHERE id = ?', ("wfIdle",))
    assert fake.export(tmp_path / "a")["count"] == 4
    assert load(tmp_path / "a", "wfIdle")["isArchived"] is True
    result = fake.export(tmp_path / "b", include_archived=False)
    assert result["count"] == 3
    assert "wfIdle" not in {e["id"] for e in result["index"]}


def test_table_prefix(tmp_path: Path) -> None:
    prefixed = FakeN8n(tmp_path / "prefixed.sqlite", prefix="n8n_")
    seed(prefixed)
    plain = FakeN8n(tmp_path / "plain.sqlite")
    seed(plain)
    prefixed.export(tmp_path / "prefixed")
    plain.export(tmp_path / "plain")
    assert tree(tmp_path / "prefixed") == tree(tmp_path / "plain")


def test_older_schema_without_optional_columns(tmp_path: Path) -> None:
    old = FakeN8n(tmp_path / "old.sqlite", schema=SCHEMA_OLD)
    old.add("1", "Numbered", [node("Start", "n8n-nodes-base.start")], version=None, active=True, staticData={"x": 1})
    old.tag("1", "7", "legacy")
    result = old.export(tmp_path / "export")
    doc = load(tmp_path / "export", "1")
    assert sorted(doc) == ["active", "connections", "id", "isArchived", "name", "nodes", "settings", "tags", "versionId"]
    assert (doc["isArchived"], doc["versionId"], doc["tags"]) == (False, None, ["legacy"])
    assert result["index"][0]["activeVersionId"] is None


def test_odd_ids_become_safe_file_names(tmp_path: Path) -> None:
    fake = FakeN8n(tmp_path / "db.sqlite")
    fake.add("../etc/passwd", "Odd", [node("A")])
    result = fake.export(tmp_path / "export")
    assert result["files"] == ["index.json", "workflows/..%2Fetc%2Fpasswd.json"]
    assert load(tmp_path / "export", "..%2Fetc%2Fpasswd")["id"] == "../etc/passwd"


def test_text_utf8_cannot_hold_is_escaped_deterministically(tmp_path: Path) -> None:
    """JSON columns may hold lone surrogates (JavaScript strings allow them); the export still works."""
    fake = FakeN8n(tmp_path / "db.sqlite")
    fake.add("w1", "Caf\u00e9", [node("Say \ud83d", parameters={"text": "broken emoji \ud83d"})])
    fake.add("w2", "Caf\u00e9 two", [node("A")], version="v2")
    fake.export(tmp_path / "one")
    assert b'"Say \\ud83d"' in (tmp_path / "one" / "workflows" / "w1.json").read_bytes()
    assert '"Café two"' in (tmp_path / "one" / "workflows" / "w2.json").read_text(encoding="utf-8")
    fake.execute('UPDATE "workflow_entity" SET nodes = ? WHERE id = ?', (json.dumps([node("Say \ud83d", parameters={"text": "fixed"})]), "w1"))
    result = fake.export(tmp_path / "two", previous_dir=str(tmp_path / "one"))
    assert result["diff"]["changed"][0]["nodes_changed"] == ["Say \ud83d"]
    assert '# changed: "Café" (w1): fields nodes; nodes changed: "Say \\ud83d"' in (tmp_path / "two" / "diff.txt").read_text()
    assert fake.export(tmp_path / "two", previous_dir=str(tmp_path / "one"))["changed"] is False


def test_invalid_json_is_named(fake: FakeN8n, tmp_path: Path) -> None:
    fake.execute('UPDATE "workflow_entity" SET nodes = ? WHERE id = ?', ("[{broken", "wfTick"))
    with pytest.raises(wx.WorkflowExportError, match="wfTick: its nodes column is not valid JSON"):
        fake.export(tmp_path / "export")
    assert not (tmp_path / "export").exists()


# --------------------------------------------------------------- determinism
VOLATILE_UPDATES = [
    ('UPDATE "workflow_entity" SET "updatedAt" = ?, "createdAt" = ?', ("2027-05-05 05:05:05.555", "2027-01-01")),
    ('UPDATE "workflow_entity" SET "triggerCount" = "triggerCount" + 3', ()),
    ('UPDATE "workflow_entity" SET "versionCounter" = "versionCounter" + 7', ()),
    ('UPDATE "workflow_entity" SET "staticData" = ?', (json.dumps({"node:Every few seconds": {"lastRun": "2027-05-05"}}),)),
    ('UPDATE "workflow_entity" SET "pinData" = ?', (json.dumps({"Webhook": [{"json": {"n": 2}}]}),)),
    ('UPDATE "workflow_entity" SET meta = ? WHERE id = ?', (json.dumps({"templateId": "1234", "templateCredsSetupCompleted": False}), "wfIdle")),
    ('UPDATE "workflow_history" SET authors = ?, "updatedAt" = ?, autosaved = 1', ("Another Author", "2027-05-05")),
    ('UPDATE "tag_entity" SET "updatedAt" = ?', ("2027-05-05",)),
]


@pytest.mark.parametrize(("statement", "params"), VOLATILE_UPDATES, ids=[update[0].split("SET ")[1][:24] for update in VOLATILE_UPDATES])
def test_volatile_fields_leave_the_export_byte_identical(fake: FakeN8n, tmp_path: Path, statement: str, params: tuple[Any, ...]) -> None:
    fake.export(tmp_path / "before")
    fake.execute(statement, params)
    result = fake.export(tmp_path / "before")  # into the same dest: nothing to do
    assert result["changed"] is False
    fake.export(tmp_path / "after")
    assert tree(tmp_path / "before") == tree(tmp_path / "after")


@settings(max_examples=15, deadline=None)
@given(order=st.permutations(["wfEcho", "wfTick", "wfSlow", "wfIdle"]), reverse_nodes=st.booleans(), seed_value=st.integers(0, 10**6))
def test_storage_order_does_not_matter(tmp_path_factory: pytest.TempPathFactory, order: list[str], reverse_nodes: bool, seed_value: int) -> None:
    """Row order, node array order and JSON key order in the database never show in the export."""
    base = tmp_path_factory.mktemp("order")
    reference = FakeN8n(base / "reference.sqlite")
    seed(reference)
    reference.export(base / "reference")

    shutil.copy(base / "reference.sqlite", base / "shuffled.sqlite")
    shuffled = FakeN8n(base / "shuffled.sqlite", schema=())  # the copy: same schema and relations
    with reference.connect() as conn:
        rows = {row[0]: row for row in conn.execute('SELECT * FROM "workflow_entity"')}
        names = [d[0] for d in conn.execute('SELECT * FROM "workflow_entity"').description]
    shuffled.execute('DELETE FROM "workflow_entity"')
    for wf_id in order:
        row = dict(zip(names, rows[wf_id]))
        nodes = json.loads(row["nodes"])
        if reverse_nodes:
            nodes.reverse()
        # Same data, keys in another order.
        row["nodes"] = json.dumps([dict(sorted(n.items(), reverse=bool(seed_value % 2))) for n in nodes])
        row["settings"] = json.dumps(dict(sorted(json.loads(row["settings"]).items(), reverse=True)))
        shuffled.execute(
            'INSERT INTO "workflow_entity" (' + ", ".join(f'"{n}"' for n in names) + ") VALUES (" + ", ".join("?" * len(names)) + ")",
            tuple(row.values()),
        )
    shuffled.export(base / "shuffled")
    assert tree(base / "shuffled") == tree(base / "reference")


# ---------------------------------------------------------- dest handling
def test_identical_export_is_not_rewritten(fake: FakeN8n, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    fake.export(dest)
    inode = (dest / "index.json").stat().st_ino
    result = fake.export(dest)
    assert result["changed"] is False
    assert (dest / "index.json").stat().st_ino == inode
    # Other permissions asked: rewritten.
    assert fake.export(dest, mode=0o640)["changed"] is True
    assert stat.S_IMODE((dest / "index.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((dest / "workflows").stat().st_mode) == 0o750
    assert fake.export(dest, mode=0o640)["changed"] is False


def test_changed_data_replaces_the_export_atomically(fake: FakeN8n, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    fake.export(dest)
    fake.execute('DELETE FROM "workflow_entity" WHERE id = ?', ("wfSlow",))
    result = fake.export(dest)
    assert result["changed"] is True and result["count"] == 3
    assert not (dest / "workflows" / "wfSlow.json").exists()
    assert sorted(os.listdir(tmp_path)) == ["database.sqlite", "export"]  # no temporary or old folder left


def test_check_mode_writes_nothing(fake: FakeN8n, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    result = fake.export(dest, check_mode=True)
    assert (result["changed"], result["count"]) == (True, 4)
    assert not dest.exists()
    fake.export(dest)
    fake.execute('UPDATE "workflow_entity" SET name = ? WHERE id = ?', ("Renamed", "wfTick"))
    before = tree(dest)
    result = fake.export(dest, check_mode=True, previous_dir=str(dest))
    assert result["changed"] is True
    assert result["diff"]["changed"][0]["fields"] == ["name"]
    assert tree(dest) == before
    # A parent folder that an earlier (skipped) task would create is no error in check mode.
    assert fake.export(tmp_path / "missing" / "export", check_mode=True)["changed"] is True


@pytest.mark.parametrize("content", ["other.txt", "workflows/notes.md", "workflows/sub/x.json"])
def test_foreign_dest_is_refused_and_untouched(fake: FakeN8n, tmp_path: Path, content: str) -> None:
    dest = tmp_path / "export"
    fake.export(dest)
    (dest / content).parent.mkdir(parents=True, exist_ok=True)
    (dest / content).write_text("keep me")
    with pytest.raises(wx.WorkflowExportError, match="is not a lifeboat.n8n workflow export"):
        fake.export(dest)
    assert (dest / content).read_text() == "keep me"


def test_dest_that_is_a_file_or_lacks_a_parent_is_refused(fake: FakeN8n, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(wx.WorkflowExportError, match="not a directory"):
        fake.export(tmp_path / "file")
    with pytest.raises(wx.WorkflowExportError, match="parent folder .* does not exist"):
        fake.export(tmp_path / "missing" / "export")
    (tmp_path / "empty").mkdir()
    assert fake.export(tmp_path / "empty")["count"] == 4  # an empty folder is filled


# ---------------------------------------------------------------------- diff
def test_diff_classifies_added_removed_changed_and_unchanged(fake: FakeN8n, tmp_path: Path) -> None:
    fake.export(tmp_path / "one")
    # changed: a node's parameter, a node renamed (same id), a node added, a node removed, a tag.
    tick = [node("Every few seconds", "n8n-nodes-base.scheduleTrigger", parameters={"rule": 5}), node("Record", node_id="id-record-tick"),
            node("Notify")]
    fake.execute('UPDATE "workflow_entity" SET nodes = ?, "versionId" = ? WHERE id = ?', (json.dumps(tick), "tick-2", "wfTick"))
    fake.tag("wfTick", "t1", "ops")
    fake.execute('DELETE FROM "workflow_entity" WHERE id = ?', ("wfSlow",))
    fake.add("wfNew", "Brand new", [node("Start")])
    fake.execute('UPDATE "workflow_entity" SET nodes = ? WHERE id = ?', (json.dumps([node("Webhook", "n8n-nodes-base.webhook")]), "wfIdle"))
    result = fake.export(tmp_path / "two", previous_dir=str(tmp_path / "one"))
    assert result["diff"] == {
        "added": [{"id": "wfNew", "name": "Brand new"}],
        "removed": [{"id": "wfSlow", "name": "Lifeboat slow"}],
        "changed": [
            {"id": "wfIdle", "name": "Lifeboat inactive", "fields": ["nodes"], "nodes_added": [], "nodes_removed": ["Done"], "nodes_changed": []},
            {
                "id": "wfTick",
                "name": "Lifeboat tick",
                # The draft moved on; the published version (tick-1) is now a separate block.
                "fields": ["nodes", "published", "tags", "versionId"],
                "nodes_added": ["Notify"],
                "nodes_removed": [],
                "nodes_changed": ["Every few seconds", "Record"],
            },
        ],
        "unchanged": 1,
    }
    assert result["diff_path"] == str(tmp_path / "two" / "diff.txt")
    assert "diff.txt" in result["files"]
    standalone = wx.diff_exports(str(tmp_path / "one"), str(tmp_path / "two"))
    assert {k: standalone[k] for k in ("added", "removed", "changed", "unchanged")} == result["diff"]


def test_diff_text_is_stable_and_readable(fake: FakeN8n, tmp_path: Path) -> None:
    fake.export(tmp_path / "one")
    fake.execute('UPDATE "workflow_entity" SET name = ? WHERE id = ?', ("Lifeboat tick (every 15 s)", "wfTick"))
    fake.execute('DELETE FROM "workflow_entity" WHERE id = ?', ("wfSlow",))
    fake.export(tmp_path / "two", previous_dir=str(tmp_path / "one"))
    # Same comparison from other folders: the same bytes (labels are relative).
    (tmp_path / "elsewhere").mkdir()
    os.rename(tmp_path / "one", tmp_path / "elsewhere" / "prev")
    fake.export(tmp_path / "three", previous_dir=str(tmp_path / "elsewhere" / "prev"))
    text = (tmp_path / "two" / "diff.txt").read_bytes()
    assert text == (tmp_path / "three" / "diff.txt").read_bytes()
    lines = text.decode().splitlines()
    assert lines[:3] == [
        "# lifeboat.n8n workflow export diff",
        "# previous: 4 workflows, current: 3 workflows",
        "# added: 0, removed: 1, changed: 1, unchanged: 2",
    ]
    assert '# removed: "Lifeboat slow" (wfSlow)' in lines
    assert '# changed: "Lifeboat tick (every 15 s)" (wfTick): fields name' in lines
    assert "--- previous/workflows/wfTick.json" in lines and "+++ current/workflows/wfTick.json" in lines
    assert '-  "name": "Lifeboat tick",' in lines and '+  "name": "Lifeboat tick (every 15 s)",' in lines
    assert "+++ /dev/null" in lines
    assert str(tmp_path) not in text.decode()


def test_unchanged_diff_is_empty_but_present(fake: FakeN8n, tmp_path: Path) -> None:
    fake.export(tmp_path / "one")
    result = fake.export(tmp_path / "two", previous_dir=str(tmp_path / "one"))
    assert result["diff"] == {"added": [], "removed": [], "changed": [], "unchanged": 4}
    assert (tmp_path / "two" / "diff.txt").read_text().splitlines()[-1] == "# added: 0, removed: 0, changed: 0, unchanged: 4"


def test_previous_may_be_dest_itself(fake: FakeN8n, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    fake.export(dest)
    fake.execute('UPDATE "workflow_entity" SET active = 0, "activeVersionId" = NULL WHERE id = ?', ("wfTick",))
    result = fake.export(dest, previous_dir=str(dest))
    assert result["diff"]["changed"] == [
        {"id": "wfTick", "name": "Lifeboat tick", "fields": ["active", "activeVersionId"], "nodes_added": [], "nodes_removed": [], "nodes_changed": []}
    ]
    assert fake.export(dest, previous_dir=str(tmp_path / "export"))["changed"] is True  # now compared with the new state
    assert fake.export(dest, previous_dir=str(tmp_path / "export"))["changed"] is False


def test_publishing_shows_as_published_fields(fake: FakeN8n, tmp_path: Path) -> None:
    fake.export(tmp_path / "one")
    fake.execute('UPDATE "workflow_entity" SET "activeVersionId" = "versionId" WHERE id = ?', ("wfEcho",))  # publish the draft
    result = fake.export(tmp_path / "two", previous_dir=str(tmp_path / "one"))
    assert result["diff"]["changed"] == [
        {"id": "wfEcho", "name": "Lifeboat echo", "fields": ["activeVersionId", "published"], "nodes_added": [], "nodes_removed": [], "nodes_changed": []}
    ]


def test_previous_must_be_an_export(fake: FakeN8n, tmp_path: Path) -> None:
    (tmp_path / "random").mkdir()
    with pytest.raises(wx.WorkflowExportError, match="Cannot read the previous workflow export .*random"):
        fake.export(tmp_path / "export", previous_dir=str(tmp_path / "random"))
    assert not (tmp_path / "export").exists()


def test_tampered_previous_export_is_a_warning(fake: FakeN8n, tmp_path: Path) -> None:
    fake.export(tmp_path / "one")
    (tmp_path / "one" / "workflows" / "wfIdle.json").write_text('{"id": "wfIdle", "name": "edited by hand"}\n')
    (tmp_path / "one" / "workflows" / "wfTick.json").unlink()
    result = fake.export(tmp_path / "two", previous_dir=str(tmp_path / "one"))
    assert any("wfIdle.json changed since it was written" in w for w in result["warnings"])
    assert any("wfTick.json" in w and "missing" in w for w in result["warnings"])
    assert result["diff"]["added"] == [{"id": "wfTick", "name": "Lifeboat tick"}]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"id": "w", "nodes": [node("A")]}, {"id": "w", "nodes": [node("A")]}, ([], [], [], [])),
        ({"id": "w", "nodes": [node("A")]}, {"id": "w", "nodes": [node("B", node_id="id-a")]}, (["nodes"], [], [], ["B"])),
        ({"id": "w", "nodes": [{"name": "A"}]}, {"id": "w", "nodes": [{"name": "B"}]}, (["nodes"], ["B"], ["A"], [])),
        ({"id": "w", "nodes": [{"name": "A", "p": 1}]}, {"id": "w", "nodes": [{"name": "A", "id": "n1", "p": 1}]}, (["nodes"], [], [], ["A"])),
        ({"id": "w", "nodes": [node("A"), node("B", node_id="id-a")]}, {"id": "w", "nodes": [node("A"), node("B", node_id="id-a", notes="x")]},
         (["nodes"], [], [], ["B"])),
        ({"id": "w", "x": None}, {"id": "w"}, (["x"], [], [], [])),
        ({"id": "w", "typeVersion": 1}, {"id": "w", "typeVersion": 1.0}, (["typeVersion"], [], [], [])),
    ],
    ids=["same", "renamed-by-id", "renamed-without-ids", "id-added-later", "duplicate-ids", "key-dropped", "int-vs-float"],
)
def test_compare_documents(before: dict[str, Any], after: dict[str, Any], expected: tuple[list[str], ...]) -> None:
    result = wx.compare_documents(before, after)
    assert (result["fields"], result["nodes_added"], result["nodes_removed"], result["nodes_changed"]) == expected


@pytest.mark.parametrize(("mode", "dir_mode"), [(0o600, 0o700), (0o640, 0o750), (0o644, 0o755), (0o660, 0o770)])
def test_dir_mode_for(mode: int, dir_mode: int) -> None:
    assert wx.dir_mode_for(mode) == dir_mode
