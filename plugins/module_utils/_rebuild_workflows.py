# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bring an n8n instance's workflows to what controlled artifacts record (private module_utils).

The artifacts are a ``lifeboat.n8n.n8n_workflow_export`` export (``index.json`` plus one
deterministic JSON file per workflow). :func:`import_workflows` compares them with the
target (read the same way, so equal workflows compare equal) and, for the workflows that
differ, with n8n stopped:

1. **Unpublishes** those that are live (the same UPDATE as n8n's ``unpublish:workflow`` /
   ``update:workflow --active=false``), so n8n's importer does not try to deactivate them.
2. **Imports** them with ``n8n import:workflow --input=<file>`` (ids kept; n8n writes the
   sharing rows for the owner's personal project, creates missing tags by name, converts
   credential references and indexes dependencies the way it does for its own imports).
3. **Puts the recorded versions back**, because every pinned version's importer (1.123.81,
   2.38.7, 2.40.7: ``ImportService.importWorkflows``) gives each imported workflow a *new*
   random ``versionId``, writes one ``workflow_history`` row for it and clears
   ``activeVersionId``. In one transaction: that history row and ``workflow_entity.versionId``
   are renamed to the recorded draft ``versionId``; the recorded published version (2.x,
   when it is not the draft) gets its ``workflow_history`` row; tags the workflow no longer
   has are unlinked (the importer only adds); the recorded folder path is found or created
   in the owning project.
4. **Restores activation** as recorded with ``_activation.plan`` / ``apply`` through
   :class:`DatabaseActivation`, which issues exactly the statements of n8n's
   ``publish:workflow --id --versionId`` (2.x: ``WorkflowRepository.publishVersion``: the
   version must exist in ``workflow_history`` for that workflow; ``active = true,
   activeVersionId = <version>``) and ``update:workflow --active=true`` (1.x:
   ``updateActiveState``: ``activeVersionId = versionId``). One CLI boot per workflow
   (10-20 s each) would make a rebuild of a few hundred active workflows take an hour; n8n
   registers the triggers of active workflows when it starts either way.
5. **Verifies**: read back, nothing may differ any more.

Compared fields: ``name``, ``isArchived``, ``versionId``, ``nodes``, ``connections``,
``settings``, ``tags``, ``folder`` (when both sides have folders), ``description``, ``meta``,
``nodeGroups``, ``sourceWorkflowId``, ``pinData`` (when the artifacts carry it) and the
published version's content; then ``active`` / ``activeVersionId``. ``project`` and
``sharedWith`` name instance-specific projects and are not compared: imported workflows
belong to the target owner's personal project.
"""

from __future__ import absolute_import, annotations, division, print_function

import copy
import hashlib
import json
import os
import secrets
import string
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ._activation import ACTIVATE, DEACTIVATE, ERROR, Desired, N8nCli, N8nCliError, WorkflowState, apply, plan, verify
from ._db import N8nDatabase
from ._migrations import instance_version_history, parse_version
from ._rebuild_credentials import PrivateFolder, write_private_json
from ._workflow_export import EXPORT_FORMAT, INDEX_FILE, _published_versions, read_workflows

__metaclass__ = type

CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"
CONTENT_FIELDS = (
    "name",
    "isArchived",
    "versionId",
    "nodes",
    "connections",
    "settings",
    "tags",
    "folder",
    "description",
    "meta",
    "nodeGroups",
    "sourceWorkflowId",
    "pinData",
)
IMPORT_FIELDS = ("id", "name", "nodes", "connections", "settings", "description", "meta", "nodeGroups", "sourceWorkflowId", "pinData", "isArchived")
IMPORT_FILE = "workflows.json"
HISTORY_AUTHOR = "lifeboat.n8n rebuild"
OWNER_ROLE = "workflow:owner"
_NANOID = string.ascii_letters + string.digits


class RebuildError(Exception):
    """Workflows could not be brought to the recorded state; the message says which and what to do."""


# ---------------------------------------------------------------- artifacts
def load_artifacts(src: str) -> Tuple[List[Dict[str, Any]], List[str]]:
    """The workflow documents of an export folder, sorted by id, and warnings (files changed by hand)."""
    index_path = os.path.join(src, INDEX_FILE)
    try:
        with open(index_path, "rb") as handle:
            index = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise RebuildError(
            "Cannot read the workflow artifacts: %s is missing or not JSON (%s). Give the folder the export role wrote" % (index_path, exc)
        ) from exc
    if not isinstance(index, dict) or index.get("format") != EXPORT_FORMAT:
        raise RebuildError("Cannot read the workflow artifacts: %s is not a %s index" % (index_path, EXPORT_FORMAT))
    docs: List[Dict[str, Any]] = []
    warnings: List[str] = []
    seen: Set[str] = set()
    for entry in index.get("workflows") or []:
        workflow_id = str(entry.get("id"))
        path = os.path.join(src, *str(entry.get("file") or "").split("/"))
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            doc = json.loads(data.decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise RebuildError("Cannot read workflow %s from the artifacts: %s (%s)" % (workflow_id, path, exc)) from exc
        if not isinstance(doc, dict) or str(doc.get("id")) != workflow_id or not doc.get("versionId"):
            raise RebuildError("Cannot use %s: it is not the export of workflow %s (id or versionId missing)" % (path, workflow_id))
        if workflow_id in seen:
            raise RebuildError("Cannot use the workflow artifacts: workflow %s is listed twice in %s" % (workflow_id, index_path))
        seen.add(workflow_id)
        if entry.get("sha256") != hashlib.sha256(data).hexdigest():
            warnings.append("%s changed since it was exported (its sha256 differs from index.json): it is used as it is now" % path)
        docs.append(doc)
    return sorted(docs, key=lambda d: str(d["id"])), warnings


# ------------------------------------------------------------------ reading
def detect_major(db: N8nDatabase) -> int:
    """2 when the database has 2.x's version history or deployment keys, else 1."""
    history = instance_version_history(db)
    if history:
        return parse_version(str(history[0]["version"]))[0]
    return 2 if db.has_table("deployment_key") else 1


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _history_owner(db: N8nDatabase, version_ids: Sequence[str]) -> Dict[str, str]:
    """versionId -> workflowId of the given workflow_history rows that exist."""
    found: Dict[str, str] = {}
    if not version_ids or not db.has_table("workflow_history"):
        return found
    ids = sorted(set(version_ids))
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        query = 'SELECT "versionId", "workflowId" FROM %s WHERE "versionId" IN (%s)' % (db.table("workflow_history"), ", ".join("?" * len(batch)))  # noqa: S608
        for version_id, workflow_id in db.fetchall(query, batch):
            found[str(version_id)] = str(workflow_id)
    return found


class TargetState:
    """The target's workflows as export documents, the history rows the artifacts refer to, and activation."""

    def __init__(self, db: N8nDatabase, artifacts: Sequence[Mapping[str, Any]], major: int) -> None:
        with_pin = any("pinData" in doc for doc in artifacts)
        docs, _warnings = read_workflows(db, include_archived=True, include_pin_data=with_pin)
        self.docs = {doc["id"]: doc for doc in docs}
        self.major = major
        self.has_folders = "parentFolderId" in db.columns("workflow_entity") and db.has_table("folder")
        wanted = [(str(doc["id"]), str(doc["published"]["versionId"])) for doc in artifacts if isinstance(doc.get("published"), dict)]
        self.published = _published_versions(db, wanted) if wanted and db.has_table("workflow_history") else {}
        self.has_history = db.has_table("workflow_history")
        self.history = _history_owner(db, [str(doc["versionId"]) for doc in artifacts] + [pair[1] for pair in wanted])
        db.rollback()

    def state(self, workflow_id: str) -> Optional[WorkflowState]:
        doc = self.docs.get(workflow_id)
        if doc is None:
            return None
        live = doc.get("activeVersionId")
        if self.major >= 2:
            active = live is not None
        else:
            active = bool(doc.get("active"))
            live = doc.get("versionId") if active else None
        return WorkflowState(
            id=workflow_id,
            name=str(doc.get("name") or ""),
            active=active,
            version_id=doc.get("versionId"),
            active_version_id=live,
            archived=bool(doc.get("isArchived")),
        )

    def states(self) -> List[WorkflowState]:
        return [state for state in (self.state(wid) for wid in sorted(self.docs)) if state is not None]


# --------------------------------------------------------------------- plan
def differences(target: Optional[Mapping[str, Any]], artifact: Mapping[str, Any], state: TargetState) -> List[str]:
    """The content fields in which the target's workflow differs from the artifact (all when missing)."""
    if target is None:
        return ["missing"]
    fields = []
    for name in CONTENT_FIELDS:
        if name == "folder" and ("folder" not in artifact or not state.has_folders):
            continue
        if name == "pinData" and "pinData" not in artifact:
            continue
        if _canon(target.get(name)) != _canon(artifact.get(name)):
            fields.append(name)
    if state.has_history and state.history.get(str(artifact["versionId"])) != str(artifact["id"]):
        fields.append("history")
    published = artifact.get("published")
    if isinstance(published, dict) and state.has_history:
        have = state.published.get((str(artifact["id"]), str(published["versionId"])))
        if have is None or _canon(_version_content(have)) != _canon(_version_content(published)):
            fields.append("published")
    return sorted(set(fields))


def _version_content(entry: Mapping[str, Any]) -> Dict[str, Any]:
    return {"nodes": entry.get("nodes"), "connections": entry.get("connections"), "nodeGroups": entry.get("nodeGroups") or None}


def plan_content(artifacts: Sequence[Mapping[str, Any]], state: TargetState) -> List[Dict[str, Any]]:
    steps = []
    for doc in artifacts:
        fields = differences(state.docs.get(str(doc["id"])), doc, state)
        action = UNCHANGED if not fields else (CREATE if fields == ["missing"] else UPDATE)
        steps.append({"id": str(doc["id"]), "name": doc.get("name"), "action": action, "fields": [] if action == CREATE else fields})
    return steps


def desired_activation(artifacts: Sequence[Mapping[str, Any]], major: int) -> List[Desired]:
    """What the artifacts record: active or not and, on 2.x, the published version."""
    wanted = []
    for doc in artifacts:
        active = bool(doc.get("active")) and not doc.get("isArchived")
        version = doc.get("activeVersionId") if (active and major >= 2) else None
        wanted.append(Desired(id=str(doc["id"]), active=active, version_id=str(version) if version else None))
    return wanted


# ---------------------------------------------------------------- applying
def import_document(doc: Mapping[str, Any]) -> Dict[str, Any]:
    """An artifact as ``n8n import:workflow`` reads it: inactive, tags by name, no instance-specific fields."""
    out = {name: copy.deepcopy(doc[name]) for name in IMPORT_FIELDS if name in doc}
    out["settings"] = out.get("settings") or {}
    out["versionId"] = doc["versionId"]  # n8n replaces it; put back by fix_up()
    out["active"] = False
    out["tags"] = [{"name": name} for name in doc.get("tags") or []]
    return out


def _json_placeholder(db: N8nDatabase, table: str, column: str, cache: Dict[Tuple[str, str], str]) -> str:
    """``?``, cast to json/jsonb on PostgreSQL when the column has that type."""
    if not db.is_postgres:
        return "?"
    if (table, column) not in cache:
        kind = db.scalar(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?",
            (db.config.schema, db.config.table_prefix + table, column),
        )
        cache[(table, column)] = "CAST(? AS %s)" % kind if kind in ("json", "jsonb") else "?"
    return cache[(table, column)]


def _nanoid() -> str:
    return "".join(secrets.choice(_NANOID) for _position in range(16))


class _FixUp:
    """Step 3 of the module docstring, for the workflows just imported; one transaction (the caller's)."""

    def __init__(self, db: N8nDatabase) -> None:
        self.db = db
        self.casts: Dict[Tuple[str, str], str] = {}
        self.history_columns = db.columns("workflow_history") if db.has_table("workflow_history") else set()
        self.has_folders = "parentFolderId" in db.columns("workflow_entity") and db.has_table("folder")
        self.has_tags = db.has_table("workflows_tags") and db.has_table("tag_entity")

    def versions(self, doc: Mapping[str, Any]) -> None:
        db, wid, recorded = self.db, str(doc["id"]), str(doc["versionId"])
        entity, history = db.table("workflow_entity"), db.table("workflow_history")
        row = db.fetchone('SELECT "versionId" FROM %s WHERE id = ?' % entity, (wid,))  # noqa: S608
        if row is None:
            raise RebuildError("Cannot finish importing workflow %s: n8n import:workflow did not create it. Read n8n's output (-vvv)" % wid)
        imported = str(row[0])
        if imported != recorded and self.history_columns:
            owner = db.scalar('SELECT "workflowId" FROM %s WHERE "versionId" = ?' % history, (recorded,))  # noqa: S608
            if owner is not None and str(owner) != wid:
                raise RebuildError("Cannot give workflow %s its recorded version %s: workflow %s already has a version with that id" % (wid, recorded, owner))
            if owner is not None:  # recorded earlier (a re-run): keep that row, drop the importer's
                db.execute('DELETE FROM %s WHERE "versionId" = ?' % history, (imported,)).close()  # noqa: S608
            else:
                db.execute('UPDATE %s SET "versionId" = ? WHERE "versionId" = ?' % history, (recorded, imported)).close()  # noqa: S608
        if imported != recorded:
            db.execute('UPDATE %s SET "versionId" = ? WHERE id = ?' % entity, (recorded, wid)).close()  # noqa: S608
        published = doc.get("published")
        if isinstance(published, dict) and published.get("nodes") is not None and self.history_columns:
            self._published(wid, published)

    def _published(self, wid: str, published: Mapping[str, Any]) -> None:
        db, history = self.db, self.db.table("workflow_history")
        version = str(published["versionId"])
        owner = db.scalar('SELECT "workflowId" FROM %s WHERE "versionId" = ?' % history, (version,))  # noqa: S608
        if owner is not None:
            if str(owner) != wid:
                raise RebuildError("Cannot record the published version %s of workflow %s: workflow %s has a version with that id" % (version, wid, owner))
            return
        columns = ["versionId", "workflowId", "authors", "nodes", "connections"]
        values: List[Any] = [version, wid, HISTORY_AUTHOR, json.dumps(published["nodes"]), json.dumps(published.get("connections") or {})]
        if "nodeGroups" in self.history_columns:
            columns.append("nodeGroups")
            values.append(json.dumps(published.get("nodeGroups") or []))
        marks = [
            _json_placeholder(db, "workflow_history", c, self.casts) if c in ("nodes", "connections", "nodeGroups") else "?" for c in columns
        ]
        query = "INSERT INTO %s (%s) VALUES (%s)" % (history, ", ".join('"%s"' % c for c in columns), ", ".join(marks))  # noqa: S608
        db.execute(query, values).close()

    def tags(self, doc: Mapping[str, Any]) -> None:
        if not self.has_tags:
            return
        db, wid = self.db, str(doc["id"])
        wanted = set(doc.get("tags") or [])
        links, tags = db.table("workflows_tags"), db.table("tag_entity")
        query = 'SELECT wt."tagId", t.name FROM %s wt JOIN %s t ON t.id = wt."tagId" WHERE wt."workflowId" = ?' % (links, tags)  # noqa: S608
        for tag_id, name in db.fetchall(query, (wid,)):
            if str(name) not in wanted:
                db.execute('DELETE FROM %s WHERE "workflowId" = ? AND "tagId" = ?' % db.table("workflows_tags"), (wid, tag_id)).close()  # noqa: S608

    def folder(self, doc: Mapping[str, Any]) -> None:
        if not self.has_folders or not isinstance(doc.get("folder"), list):
            return
        db, wid = self.db, str(doc["id"])
        project = db.scalar('SELECT "projectId" FROM %s WHERE "workflowId" = ? AND role = ?' % db.table("shared_workflow"), (wid, OWNER_ROLE))  # noqa: S608
        parent: Optional[str] = None
        if doc["folder"]:
            if project is None:
                raise RebuildError("Cannot put workflow %s into its folder: it has no owning project on the target" % wid)
            for name in doc["folder"]:
                parent = self._folder(str(project), parent, str(name))
        db.execute('UPDATE %s SET "parentFolderId" = ? WHERE id = ?' % db.table("workflow_entity"), (parent, wid)).close()  # noqa: S608

    def _folder(self, project: str, parent: Optional[str], name: str) -> str:
        db, table = self.db, self.db.table("folder")
        where = '"parentFolderId" IS NULL' if parent is None else '"parentFolderId" = ?'
        params: List[Any] = [project, name] + ([] if parent is None else [parent])
        found = db.scalar('SELECT id FROM %s WHERE "projectId" = ? AND name = ? AND %s ORDER BY id' % (table, where), params)  # noqa: S608
        if found is not None:
            return str(found)
        folder_id = _nanoid()
        db.execute('INSERT INTO %s (id, name, "parentFolderId", "projectId") VALUES (?, ?, ?, ?)' % table, (folder_id, name, parent, project)).close()  # noqa: S608
        return folder_id


class DatabaseActivation:
    """An ``_activation`` backend that issues n8n's own CLI statements directly (n8n stopped).

    2.x ``publish:workflow``: ``WorkflowRepository.publishVersion`` (the version must be a
    ``workflow_history`` row of that workflow; archived workflows are refused);
    ``unpublish:workflow``: ``active = false, activeVersionId = NULL``. 1.x
    ``update:workflow --active=true|false``: ``updateActiveState``. Deactivation also drops
    the workflow's ``webhook_entity`` rows, which n8n's CLI leaves behind before 2.40.
    """

    def __init__(self, db: N8nDatabase, major: int) -> None:
        self.db = db
        self.major = major
        self.has_live_column = "activeVersionId" in db.columns("workflow_entity")

    def activate(self, workflow_id: str, version_id: Optional[str]) -> Tuple[str, Optional[Mapping[str, Any]]]:
        db, entity = self.db, self.db.table("workflow_entity")
        if self.major >= 2:
            row = db.fetchone('SELECT "versionId", "isArchived" FROM %s WHERE id = ?' % entity, (workflow_id,))  # noqa: S608
            if row is None:
                raise N8nCliError("Cannot publish workflow %s: it does not exist" % workflow_id)
            if row[1]:
                raise N8nCliError("Cannot publish workflow %s: it is archived" % workflow_id)
            version = version_id or str(row[0])
            owner = db.scalar('SELECT "workflowId" FROM %s WHERE "versionId" = ?' % db.table("workflow_history"), (version,))  # noqa: S608
            if owner is None or str(owner) != workflow_id:
                raise N8nCliError("Cannot publish workflow %s: version %s is not in its workflow_history" % (workflow_id, version))
            db.execute('UPDATE %s SET active = ?, "activeVersionId" = ? WHERE id = ?' % entity, (True, version, workflow_id)).close()  # noqa: S608
            return "database (publish:workflow)", {"activeVersionId": version}
        live = ', "activeVersionId" = "versionId"' if self.has_live_column else ""
        db.execute("UPDATE %s SET active = ?%s WHERE id = ?" % (entity, live), (True, workflow_id)).close()  # noqa: S608
        return "database (update:workflow --active=true)", None

    def deactivate(self, workflow_id: str) -> Tuple[str, Optional[Mapping[str, Any]]]:
        db, entity = self.db, self.db.table("workflow_entity")
        live = ', "activeVersionId" = NULL' if self.has_live_column else ""
        db.execute("UPDATE %s SET active = ?%s WHERE id = ?" % (entity, live), (False, workflow_id)).close()  # noqa: S608
        if db.has_table("webhook_entity"):
            db.execute('DELETE FROM %s WHERE "workflowId" = ?' % db.table("webhook_entity"), (workflow_id,)).close()  # noqa: S608
        return "database (%s)" % ("unpublish:workflow" if self.major >= 2 else "update:workflow --active=false"), None


# -------------------------------------------------------------------- entry
def _activation_summary(results: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    return [{k: r.get(k) for k in ("id", "name", "action", "version_id", "reason", "ok", "error", "via")} for r in results]


def import_workflows(
    open_db: Callable[[], N8nDatabase],
    src: str,
    cli_factory: Optional[Callable[[], N8nCli]] = None,
    *,
    major: Optional[int] = None,
    activate: bool = True,
    check_mode: bool = False,
    tmp_dir: Optional[str] = None,
) -> Dict[str, Any]:
    """Plan and (unless ``check_mode``) apply; see the module docstring.

    Returns ``{changed, workflows (per artifact: action, fields), activation (planned or run
    actions), created, updated, unchanged, extra (target workflows not in the artifacts),
    major, warnings}``.
    """
    artifacts, warnings = load_artifacts(src)
    with open_db() as db:
        major = major or detect_major(db)
        state = TargetState(db, artifacts, major)
    steps = plan_content(artifacts, state)
    changing = [doc for doc, step in zip(artifacts, steps) if step["action"] != UNCHANGED]
    wanted = desired_activation(artifacts, major) if activate else []
    result: Dict[str, Any] = {
        "workflows": steps,
        "created": sum(1 for s in steps if s["action"] == CREATE),
        "updated": sum(1 for s in steps if s["action"] == UPDATE),
        "unchanged": sum(1 for s in steps if s["action"] == UNCHANGED),
        "extra": sorted(set(state.docs) - {str(doc["id"]) for doc in artifacts}),
        "major": major,
        "warnings": warnings,
    }
    if check_mode:
        actions = plan(_states_after_import(state, artifacts, changing), wanted, major)
        result["activation"] = _activation_summary([a.result(None if a.kind != ERROR else False) for a in actions])
        result["changed"] = bool(changing) or any(a.kind in (ACTIVATE, DEACTIVATE) for a in actions)
        return result

    if changing:
        if cli_factory is None:
            raise RebuildError("Cannot import workflows: give n8n_command (the n8n CLI of the target)")
        _unpublish(open_db, [wid for wid in (str(d["id"]) for d in changing) if getattr(state.state(wid), "active", False)], major)
        with PrivateFolder(tmp_dir) as folder:
            path = write_private_json(folder, IMPORT_FILE, [import_document(doc) for doc in changing])
            cli_factory().run(["import:workflow", "--input=%s" % path], "import %d workflow(s)" % len(changing))
        with open_db() as db:
            fix = _FixUp(db)
            for doc in changing:
                fix.versions(doc)
                fix.tags(doc)
                fix.folder(doc)

    activation: List[Dict[str, Any]] = []
    if wanted:
        with open_db() as db:
            before = TargetState(db, artifacts, major)
            actions = plan(before.states(), wanted, major)
            activation = apply(DatabaseActivation(db, major), actions)
            db.commit()
            verify(activation, {s.id: s for s in TargetState(db, artifacts, major).states()})
    result["activation"] = _activation_summary(activation)
    result["changed"] = bool(changing) or any(r.get("via") for r in activation)
    failed = [r for r in activation if r["ok"] is False]
    if failed:
        details = "; ".join("%s %s: %s" % (r["action"], r["id"], r["error"]) for r in failed)
        raise RebuildError("Cannot restore the recorded activation of %d workflow(s): %s" % (len(failed), details))

    with open_db() as db:
        final = TargetState(db, artifacts, major)
    left = [s for s in plan_content(artifacts, final) if s["action"] != UNCHANGED]
    if left:
        details = "; ".join("%s (%s): %s" % (s["id"], s["name"], ", ".join(s["fields"])) for s in left)
        raise RebuildError(
            "n8n import:workflow ran but %d workflow(s) still differ from the artifacts: %s. Run with -vvv to read n8n's output" % (len(left), details)
        )
    return result


def _states_after_import(state: TargetState, artifacts: Sequence[Mapping[str, Any]], changing: Sequence[Mapping[str, Any]]) -> List[WorkflowState]:
    """The activation states once ``changing`` is imported (inactive, at the recorded version): what check mode plans on."""
    ids = {str(doc["id"]) for doc in changing}
    states = [s for s in state.states() if s.id not in ids]
    for doc in changing:
        states.append(WorkflowState(id=str(doc["id"]), name=str(doc.get("name") or ""), version_id=str(doc["versionId"]), archived=bool(doc.get("isArchived"))))
    return states


def _unpublish(open_db: Callable[[], N8nDatabase], workflow_ids: Sequence[str], major: int) -> None:
    """Step 1: take live workflows that are about to be re-imported offline (n8n's unpublish statement)."""
    if not workflow_ids:
        return
    with open_db() as db:
        backend = DatabaseActivation(db, major)
        for workflow_id in workflow_ids:
            backend.deactivate(workflow_id)
