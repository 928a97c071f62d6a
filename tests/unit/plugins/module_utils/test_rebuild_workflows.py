"""Workflows from artifacts into a target: plan, import through a fake CLI, recorded versions, activation.

The fake ``n8n import:workflow`` does what ImportService.importWorkflows does in 1.123.81,
2.38.7 and 2.40.7: upsert by id with a *new random* versionId, inactive, one history row
for it, the owner's personal project for new workflows, tags matched or created by name
and only added. Real n8n: tests/integration/roles/test_export_rebuild.py.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _rebuild_workflows as rw
from ansible_collections.lifeboat.n8n.plugins.module_utils._activation import Desired, N8nCli, N8nCliError, apply, plan
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase
from ansible_collections.lifeboat.n8n.plugins.module_utils._workflow_export import export_workflows, read_workflows

SCHEMA = (
    'CREATE TABLE workflow_entity (id varchar(36) PRIMARY KEY, name varchar(128) NOT NULL, active boolean NOT NULL, nodes text, '
    'connections text, settings text, "staticData" text, "pinData" text, "versionId" varchar(36) NOT NULL, "triggerCount" integer DEFAULT 0, '
    'meta text, "parentFolderId" varchar(36), "isArchived" boolean NOT NULL DEFAULT 0, description text, "activeVersionId" varchar(36){v2})',
    'CREATE TABLE workflow_history ("versionId" varchar(36) PRIMARY KEY, "workflowId" varchar(36) NOT NULL, authors varchar(255) NOT NULL, '
    '"createdAt" datetime DEFAULT CURRENT_TIMESTAMP, "updatedAt" datetime DEFAULT CURRENT_TIMESTAMP, nodes text NOT NULL, '
    'connections text NOT NULL{history_v2})',
    "CREATE TABLE tag_entity (id varchar(36) PRIMARY KEY, name varchar(24) NOT NULL UNIQUE)",
    'CREATE TABLE workflows_tags ("workflowId" varchar(36) NOT NULL, "tagId" varchar(36) NOT NULL, PRIMARY KEY ("workflowId", "tagId"))',
    "CREATE TABLE project (id varchar(36) PRIMARY KEY, name varchar(255) NOT NULL, type varchar(36) NOT NULL)",
    'CREATE TABLE shared_workflow ("workflowId" varchar(36) NOT NULL, "projectId" varchar(36) NOT NULL, role text NOT NULL)',
    'CREATE TABLE folder (id varchar(36) PRIMARY KEY, name varchar(128) NOT NULL, "parentFolderId" varchar(36), "projectId" varchar(36) NOT NULL, '
    '"createdAt" datetime DEFAULT CURRENT_TIMESTAMP, "updatedAt" datetime DEFAULT CURRENT_TIMESTAMP)',
    'CREATE TABLE webhook_entity ("workflowId" varchar(36), "webhookPath" varchar(255), method varchar(10), node varchar(255))',
)
SCHEMA_V2 = ("CREATE TABLE instance_version_history (id integer PRIMARY KEY, major int, minor int, patch int, \"createdAt\" datetime)",)


def node(name: str, label: str = "v1", node_type: str = "n8n-nodes-base.noOp") -> dict[str, Any]:
    return {"id": "id-" + name, "name": name, "type": node_type, "typeVersion": 1, "position": [0, 0], "parameters": {"label": label}}


class N8nLike:
    """An n8n-shaped SQLite database; ``major`` 2 has published versions and node groups."""

    def __init__(self, path: Path, major: int = 2, owner_project: str = "P1") -> None:
        self.path, self.major = path, major
        conn = sqlite3.connect(path)
        extra = ', "nodeGroups" text NOT NULL DEFAULT \'[]\'' if major >= 2 else ""
        for statement in SCHEMA + (SCHEMA_V2 if major >= 2 else ()):
            conn.execute(statement.format(v2=extra + (', "sourceWorkflowId" varchar' if major >= 2 else ""), history_v2=extra))
        if major >= 2:
            conn.execute("INSERT INTO instance_version_history (major, minor, patch) VALUES (2, 40, 7)")
        conn.execute("INSERT INTO project VALUES (?, 'Owner <owner@example.test>', 'personal')", (owner_project,))
        conn.commit()
        conn.close()
        self.project = owner_project
        self.imports: list[list[dict[str, Any]]] = []

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(query, params).fetchall()

    def open(self) -> N8nDatabase:
        return N8nDatabase(DatabaseConfig(type="sqlite", path=str(self.path)))

    # ---- the source side: what the editor and the API would have written
    def workflow(self, wid: str, name: str, nodes: list[dict[str, Any]], *, active: bool = False, published: list[dict[str, Any]] | None = None,
                 tags: tuple[str, ...] = (), folder: tuple[str, ...] = ()) -> dict[str, str]:
        draft = str(uuid.uuid4())
        live = None
        with sqlite3.connect(self.path) as conn:
            self._history(conn, draft, wid, nodes)
            if active:
                live = draft
                if published is not None and self.major >= 2:
                    live = str(uuid.uuid4())
                    self._history(conn, live, wid, published)
            parent = self._folders(conn, folder)
            conn.execute(
                'INSERT INTO workflow_entity (id, name, active, nodes, connections, settings, "versionId", "activeVersionId", "parentFolderId") '
                "VALUES (?, ?, ?, ?, '{}', '{}', ?, ?, ?)",
                (wid, name, active, json.dumps(nodes), draft, live, parent),
            )
            conn.execute("INSERT INTO shared_workflow VALUES (?, ?, 'workflow:owner')", (wid, self.project))
            for tag in tags:
                self._tag(conn, wid, tag)
        return {"draft": draft, "live": live or ""}

    def _history(self, conn: sqlite3.Connection, version: str, wid: str, nodes: list[dict[str, Any]]) -> None:
        conn.execute('INSERT INTO workflow_history ("versionId", "workflowId", authors, nodes, connections) VALUES (?, ?, ?, ?, ?)',
                     (version, wid, "someone", json.dumps(nodes), "{}"))

    def _tag(self, conn: sqlite3.Connection, wid: str, name: str) -> None:
        row = conn.execute("SELECT id FROM tag_entity WHERE name = ?", (name,)).fetchone()
        tag_id = row[0] if row else "tag-" + uuid.uuid4().hex[:8]
        if not row:
            conn.execute("INSERT INTO tag_entity VALUES (?, ?)", (tag_id, name))
        conn.execute("INSERT OR IGNORE INTO workflows_tags VALUES (?, ?)", (wid, tag_id))

    def _folders(self, conn: sqlite3.Connection, path: tuple[str, ...]) -> str | None:
        parent = None
        for name in path:
            folder_id = "f-" + uuid.uuid4().hex[:8]
            conn.execute('INSERT INTO folder (id, name, "parentFolderId", "projectId") VALUES (?, ?, ?, ?)', (folder_id, name, parent, self.project))
            parent = folder_id
        return parent

    def save_draft(self, wid: str, nodes: list[dict[str, Any]], publish: bool = False) -> str:
        version = str(uuid.uuid4())
        with sqlite3.connect(self.path) as conn:
            self._history(conn, version, wid, nodes)
            conn.execute('UPDATE workflow_entity SET nodes = ?, "versionId" = ? WHERE id = ?', (json.dumps(nodes), version, wid))
            if publish:
                conn.execute('UPDATE workflow_entity SET "activeVersionId" = ?, active = 1 WHERE id = ?', (version, wid))
        return version

    def export(self, dest: Path) -> Path:
        with N8nDatabase(DatabaseConfig(type="sqlite", path=str(self.path)), readonly=True) as db:
            export_workflows(db, str(dest))
        return dest

    def docs(self) -> dict[str, dict[str, Any]]:
        with N8nDatabase(DatabaseConfig(type="sqlite", path=str(self.path)), readonly=True) as db:
            return {d["id"]: d for d in read_workflows(db)[0]}

    # ---- the target side: n8n's importer
    def runner(self, argv: list[str], env: Any, timeout: float) -> tuple[int, str, str]:
        assert argv[:2] == ["n8n", "import:workflow"], argv
        docs = json.loads(Path(argv[2].split("=", 1)[1]).read_text())
        self.imports.append(docs)
        with sqlite3.connect(self.path) as conn:
            for doc in docs:
                assert doc["active"] is False and "project" not in doc and "published" not in doc and "folder" not in doc
                version = str(uuid.uuid4())
                exists = conn.execute("SELECT 1 FROM workflow_entity WHERE id = ?", (doc["id"],)).fetchone()
                values = {"id": doc["id"], "name": doc["name"], "active": False, "nodes": json.dumps(doc["nodes"]),
                          "connections": json.dumps(doc["connections"]), "settings": json.dumps(doc["settings"]), "versionId": version,
                          "activeVersionId": None, "isArchived": bool(doc.get("isArchived"))}
                columns = ", ".join(f'"{c}"' for c in values)
                updates = ", ".join(f'"{c}" = excluded."{c}"' for c in values if c != "id")
                marks = ", ".join("?" * len(values))
                conn.execute(f"INSERT INTO workflow_entity ({columns}) VALUES ({marks}) ON CONFLICT(id) DO UPDATE SET {updates}", list(values.values()))
                if not exists:
                    conn.execute("INSERT INTO shared_workflow VALUES (?, ?, 'workflow:owner')", (doc["id"], self.project))
                for tag in doc["tags"]:
                    self._tag(conn, doc["id"], tag["name"])
                conn.execute('INSERT INTO workflow_history ("versionId", "workflowId", authors, nodes, connections) VALUES (?, ?, ?, ?, ?)',
                             (version, doc["id"], "import", json.dumps(doc["nodes"]), json.dumps(doc["connections"])))
        return 0, f"Successfully imported {len(docs)} workflows.", ""

    def cli(self) -> N8nCli:
        return N8nCli(["n8n"], {}, runner=self.runner)

    def rebuild(self, src: Path, check_mode: bool = False, **kwargs: Any) -> dict[str, Any]:
        return rw.import_workflows(self.open, str(src), self.cli, check_mode=check_mode, tmp_dir=str(self.path.parent / "stage"), **kwargs)


def comparable(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {wid: {k: v for k, v in doc.items() if k not in ("project", "sharedWith")} for wid, doc in docs.items()}


def seeded_source(tmp_path: Path, major: int) -> tuple[N8nLike, dict[str, dict[str, str]]]:
    source = N8nLike(tmp_path / "source.sqlite", major)
    versions = {
        "echo": source.workflow("wf-echo", "Echo", [node("Webhook", "draft")], active=True, published=[node("Webhook", "published")],
                                tags=("api", "prod"), folder=("Team", "Hooks")),
        "tick": source.workflow("wf-tick", "Tick", [node("Schedule")], active=True),
        "idle": source.workflow("wf-idle", "Idle", [node("Manual")]),
    }
    return source, versions


# --------------------------------------------------------------------- tests
@pytest.mark.parametrize("major", [2, 1])
def test_rebuild_keeps_ids_recorded_versions_and_activation_then_converges(tmp_path: Path, major: int) -> None:
    source, versions = seeded_source(tmp_path, major)
    artifacts = source.export(tmp_path / "artifacts")
    target = N8nLike(tmp_path / "target.sqlite", major, owner_project="T1")

    planned = target.rebuild(artifacts, check_mode=True)
    assert planned["changed"] and planned["created"] == 3 and target.imports == []
    assert sorted((a["id"], a["action"]) for a in planned["activation"]) == [("wf-echo", "activate"), ("wf-tick", "activate")]
    echo_live = versions["echo"]["live"]
    if major >= 2:
        assert next(a for a in planned["activation"] if a["id"] == "wf-echo")["version_id"] == echo_live

    result = target.rebuild(artifacts)
    assert result["changed"] and result["created"] == 3 and len(target.imports) == 1
    assert all(a["ok"] for a in result["activation"])
    assert comparable(target.docs()) == comparable(source.docs())
    row = target.sql('SELECT "versionId", "activeVersionId", active FROM workflow_entity WHERE id = ?', ("wf-echo",))[0]
    assert row == (versions["echo"]["draft"], echo_live, 1)
    history = {r[0] for r in target.sql('SELECT "versionId" FROM workflow_history WHERE "workflowId" = ?', ("wf-echo",))}
    assert history == {versions["echo"]["draft"], echo_live}  # the importer's random version is gone
    folder = target.sql('SELECT f.name, p.name FROM workflow_entity w JOIN folder f ON f.id = w."parentFolderId" '
                        'JOIN folder p ON p.id = f."parentFolderId" WHERE w.id = ?', ("wf-echo",))
    assert folder == [("Hooks", "Team")]
    assert target.sql('SELECT DISTINCT "projectId" FROM folder') == [("T1",)]

    again = target.rebuild(artifacts)
    assert not again["changed"] and again["unchanged"] == 3 and again["activation"] == [] and len(target.imports) == 1


def test_an_edit_at_the_source_reimports_only_that_workflow_and_publishes_it(tmp_path: Path) -> None:
    source, _versions = seeded_source(tmp_path, 2)
    target = N8nLike(tmp_path / "target.sqlite", 2)
    target.rebuild(source.export(tmp_path / "a1"))
    with sqlite3.connect(target.path) as conn:
        conn.execute("INSERT INTO webhook_entity VALUES ('wf-echo', 'echo', 'GET', 'Webhook')")
    new_version = source.save_draft("wf-echo", [node("Webhook", "edited")], publish=True)
    with sqlite3.connect(source.path) as conn:  # and a tag dropped
        conn.execute("DELETE FROM workflows_tags WHERE \"tagId\" = (SELECT id FROM tag_entity WHERE name = 'prod')")
    artifacts = source.export(tmp_path / "a2")

    planned = target.rebuild(artifacts, check_mode=True)
    assert [(w["id"], w["action"]) for w in planned["workflows"] if w["action"] != "unchanged"] == [("wf-echo", "update")]
    fields = next(w["fields"] for w in planned["workflows"] if w["id"] == "wf-echo")
    assert {"nodes", "versionId", "tags", "history"} <= set(fields)
    result = target.rebuild(artifacts)
    assert [d["id"] for d in target.imports[-1]] == ["wf-echo"]
    assert [(a["id"], a["version_id"], a["ok"]) for a in result["activation"]] == [("wf-echo", new_version, True)]
    assert comparable(target.docs()) == comparable(source.docs())
    assert target.docs()["wf-echo"]["tags"] == ["api"]
    assert not target.rebuild(artifacts)["changed"]


def test_a_workflow_deactivated_at_the_source_is_unpublished_and_its_webhooks_dropped(tmp_path: Path) -> None:
    source, _versions = seeded_source(tmp_path, 2)
    target = N8nLike(tmp_path / "target.sqlite", 2)
    target.rebuild(source.export(tmp_path / "a1"))
    with sqlite3.connect(target.path) as conn:
        conn.execute("INSERT INTO webhook_entity VALUES ('wf-tick', 'x', 'GET', 'Schedule')")
    with sqlite3.connect(source.path) as conn:
        conn.execute('UPDATE workflow_entity SET active = 0, "activeVersionId" = NULL WHERE id = ?', ("wf-tick",))
    result = target.rebuild(source.export(tmp_path / "a2"))
    assert [(a["id"], a["action"], a["ok"]) for a in result["activation"]] == [("wf-tick", "deactivate", True)]
    assert result["updated"] == 0 and len(target.imports) == 1  # activation only: no import
    assert target.sql("SELECT * FROM webhook_entity") == []
    assert target.sql('SELECT active, "activeVersionId" FROM workflow_entity WHERE id = ?', ("wf-tick",)) == [(0, None)]


def test_workflows_only_on_the_target_are_left_alone_and_listed(tmp_path: Path) -> None:
    source, _versions = seeded_source(tmp_path, 2)
    target = N8nLike(tmp_path / "target.sqlite", 2)
    target.workflow("local", "Local", [node("X")], active=True)
    result = target.rebuild(source.export(tmp_path / "a1"))
    assert result["extra"] == ["local"]
    assert target.sql("SELECT active FROM workflow_entity WHERE id = 'local'") == [(1,)]


def test_activation_can_be_left_out(tmp_path: Path) -> None:
    source, _versions = seeded_source(tmp_path, 2)
    target = N8nLike(tmp_path / "target.sqlite", 2)
    result = target.rebuild(source.export(tmp_path / "a1"), activate=False)
    assert result["activation"] == []
    assert target.sql("SELECT COUNT(*) FROM workflow_entity WHERE active") == [(0,)]


def test_an_importer_that_creates_nothing_is_an_error(tmp_path: Path) -> None:
    source, _versions = seeded_source(tmp_path, 2)
    target = N8nLike(tmp_path / "target.sqlite", 2)
    cli = N8nCli(["n8n"], {}, runner=lambda argv, env, timeout: (0, "nothing", ""))
    with pytest.raises(rw.RebuildError, match="did not create it"):
        rw.import_workflows(target.open, str(source.export(tmp_path / "a1")), lambda: cli)


def test_check_mode_needs_no_cli_but_an_import_does(tmp_path: Path) -> None:
    source, _versions = seeded_source(tmp_path, 2)
    target = N8nLike(tmp_path / "target.sqlite", 2)
    artifacts = str(source.export(tmp_path / "a1"))
    assert rw.import_workflows(target.open, artifacts, None, check_mode=True)["created"] == 3
    with pytest.raises(rw.RebuildError, match="give n8n_command"):
        rw.import_workflows(target.open, artifacts, None)


# ---------------------------------------------------------- database backend
@pytest.mark.parametrize(
    ("setup", "version", "message"),
    [
        ("", "missing-version", "is not in its workflow_history"),
        ('UPDATE workflow_entity SET "isArchived" = 1', None, "it is archived"),
    ],
)
def test_publishing_refuses_what_n8n_refuses(tmp_path: Path, setup: str, version: str | None, message: str) -> None:
    target = N8nLike(tmp_path / "t.sqlite", 2)
    target.workflow("w", "W", [node("A")])
    if setup:
        target.sql(setup)
    with target.open() as db, pytest.raises(N8nCliError, match=message):
        rw.DatabaseActivation(db, 2).activate("w", version)


def test_publish_failures_are_reported_per_workflow(tmp_path: Path) -> None:
    target = N8nLike(tmp_path / "t.sqlite", 2)
    target.workflow("w", "W", [node("A")])
    with target.open() as db:
        results = apply(rw.DatabaseActivation(db, 2), plan([{"id": "w", "version_id": "v"}], [Desired("w", True, "missing")], 2))
    assert results[0]["ok"] is False and "is not in its workflow_history" in results[0]["error"]


def test_one_x_activation_follows_the_draft(tmp_path: Path) -> None:
    target = N8nLike(tmp_path / "t.sqlite", 1)
    versions = target.workflow("w", "W", [node("A")])
    with target.open() as db:
        via, _answer = rw.DatabaseActivation(db, 1).activate("w", None)
    assert "update:workflow" in via
    assert target.sql('SELECT active, "activeVersionId" FROM workflow_entity') == [(1, versions["draft"])]


# ---------------------------------------------------------------- artifacts
def test_artifacts_are_checked(tmp_path: Path) -> None:
    source, _versions = seeded_source(tmp_path, 2)
    artifacts = source.export(tmp_path / "a1")
    path = artifacts / "workflows" / "wf-tick.json"
    doc = json.loads(path.read_text())
    doc["name"] = "Tick (edited by hand)"
    path.write_text(json.dumps(doc))
    docs, warnings = rw.load_artifacts(str(artifacts))
    assert [d["id"] for d in docs] == ["wf-echo", "wf-idle", "wf-tick"]
    assert len(warnings) == 1 and "wf-tick.json changed since it was exported" in warnings[0]
    path.unlink()
    with pytest.raises(rw.RebuildError, match="Cannot read workflow wf-tick"):
        rw.load_artifacts(str(artifacts))
    (artifacts / "index.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(rw.RebuildError, match="is not a lifeboat.n8n/workflow-export index"):
        rw.load_artifacts(str(artifacts))
    with pytest.raises(rw.RebuildError, match="missing or not JSON"):
        rw.load_artifacts(str(tmp_path / "nowhere"))


def test_import_document_is_inactive_and_instance_neutral() -> None:
    doc = {"id": "w", "name": "W", "active": True, "activeVersionId": "v2", "versionId": "v1", "nodes": [], "connections": {},
           "settings": None, "tags": ["a", "b"], "folder": ["F"], "project": "Owner", "sharedWith": ["Team"],
           "published": {"versionId": "v2"}, "isArchived": False, "meta": {"templateId": "1"}}
    assert rw.import_document(doc) == {"id": "w", "name": "W", "nodes": [], "connections": {}, "settings": {}, "isArchived": False,
                                       "meta": {"templateId": "1"}, "versionId": "v1", "active": False, "tags": [{"name": "a"}, {"name": "b"}]}


@pytest.mark.parametrize(("major", "expected"), [(2, 2), (1, 1)])
def test_the_major_is_read_from_the_database(tmp_path: Path, major: int, expected: int) -> None:
    with N8nLike(tmp_path / "t.sqlite", major).open() as db:
        assert rw.detect_major(db) == expected
