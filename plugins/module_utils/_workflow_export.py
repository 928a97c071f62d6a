# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Deterministic per-workflow JSON exports and diffs between them (private module_utils).

The exports are audit and diff artifacts, not backups (the database dump is the backup):
a reviewer reads what changed between two backups, and a later "rebuild from controlled
artifacts" keeps them in git. So the same workflows always give the same bytes:

* one file per workflow, ``<dest>/workflows/<id>.json`` (the id percent-encoded where it
  holds anything but letters, digits, ``-``, ``_``, ``.`` and ``~``), plus ``<dest>/index.json``
  and, when compared with a previous export, ``<dest>/diff.txt``;
* UTF-8 JSON, keys sorted, 2-space indent, LF line endings, one trailing newline; nodes
  sorted by name (n8n's array order carries no meaning: execution follows connections);
  lists inside ``connections`` keep their order (it is the output and target order);
* read from the database directly (n8n may run or be stopped) in one read-only transaction
  (SQLite ``BEGIN``; PostgreSQL ``REPEATABLE READ, READ ONLY``), so the export is one
  consistent snapshot.

What a workflow file holds, field by field (``workflow_entity`` unless said otherwise):

=====================  ==========  =====================================================
field                  kept?       why
=====================  ==========  =====================================================
id, name               always      identity
active                 always      whether it runs (2.x: mirrors ``activeVersionId``)
isArchived             always      false when the column does not exist (n8n < 1.9x)
versionId              always      the draft's version (the editor's current state)
activeVersionId        if column   the published version (2.x; 1.123 keeps it equal to
                                   ``versionId``); null when not published
published              if differs  ``{versionId, nodes, connections[, nodeGroups]}`` from
                                   ``workflow_history`` when ``activeVersionId`` is set and
                                   is not ``versionId``: what actually runs on 2.x
nodes, connections     always      the draft's content (credentials referenced by id/name)
settings               always      user settings (``{}`` when null)
tags                   always      sorted tag names (``workflows_tags`` + ``tag_entity``)
folder                 if column   folder names from the project root down (``[]`` at root)
project                if tables   name of the owning project (``shared_workflow`` role
                                   ``workflow:owner``)
sharedWith             if any      sorted names of other projects it is shared with
description            if set      user text
meta                   if set      minus ``templateCredsSetupCompleted`` (an editor UI flag);
                                   ``templateId``, ``onboardingId``, ``instanceId`` and any
                                   unknown key are kept (hiding data is worse than churn)
nodeGroups             if set      canvas grouping (2.40+), non-empty only
sourceWorkflowId       if set      lineage of imported packages (2.40+)
pinData                opt-in      only with ``include_pin_data``: pinned test data is
                                   arbitrary user data (API responses, tokens, personal
                                   data) that only manual runs use
createdAt, updatedAt   dropped     timestamps; ``updatedAt`` moves on activation, saves
                                   of static data, etc.
triggerCount           dropped     recomputed at every activation
versionCounter         dropped     bumped by a database trigger on every row update
staticData             dropped     trigger runtime state (poll cursors, last-run times,
                                   ids and signing secrets of webhooks registered with
                                   external services): volatile and possibly secret;
                                   the database dump carries it. Never even read.
history rows' authors, createdAt, autosaved, version names: not exported (who/when,
not what; ``authors`` holds personal names).
=====================  ==========  =====================================================

Credential data is never read: nodes only reference credentials by id and name. Node
parameters are exported as n8n stores them, so a secret pasted into a node parameter
(instead of a credential) is in the export, as in n8n's own ``export:workflow``: the files
are created 0600 by default for that reason.
"""

from __future__ import absolute_import, annotations, division, print_function

import difflib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import quote

from ._db import N8nDatabase

__metaclass__ = type

EXPORT_FORMAT = "lifeboat.n8n/workflow-export"
FORMAT_VERSION = 1
WORKFLOWS_DIR = "workflows"
INDEX_FILE = "index.json"
DIFF_FILE = "diff.txt"
OWNER_ROLE = "workflow:owner"
# meta keys that are editor state, not workflow content.
VOLATILE_META_KEYS = frozenset(("templateCredsSetupCompleted",))
DEFAULT_MODE = 0o600
_HISTORY_BATCH = 500
_MISSING = object()


class WorkflowExportError(Exception):
    """An export or diff failed; the message says what and what to do. Nothing secret in it."""


# ------------------------------------------------------------------ rendering
def canonical_json(data: Any) -> bytes:
    """UTF-8 JSON with sorted keys, 2-space indent, LF line endings and a trailing newline.

    Non-ASCII text stays readable; a document holding text that UTF-8 cannot encode (a lone
    surrogate, which JavaScript strings allow) is written with ASCII escapes instead, so the
    output is still a pure function of the data.
    """
    for ascii_only in (False, True):
        try:
            text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=ascii_only, separators=(",", ": "))
            return (text + "\n").encode("utf-8")
        except UnicodeEncodeError:
            continue
    raise AssertionError("unreachable: ASCII-escaped JSON always encodes")  # pragma: no cover


def _quote_text(value: Any) -> str:
    """A JSON-quoted name for the diff summary (ASCII escapes when UTF-8 cannot hold it)."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value)
    return text


def workflow_filename(workflow_id: str) -> str:
    """``workflows/<id>.json``; characters unsafe in a file name are percent-encoded."""
    return "%s/%s.json" % (WORKFLOWS_DIR, quote(workflow_id, safe=""))


def dir_mode_for(mode: int) -> int:
    """Folder permissions for files of ``mode``: the same, plus search wherever read is granted."""
    return mode | ((mode & 0o444) >> 2)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sort_nodes(nodes: Any) -> List[Any]:
    """Nodes sorted by name (unique within a workflow), then id: n8n's array order is not meaningful."""
    if not isinstance(nodes, list):
        return []
    return sorted(nodes, key=_node_sort_key)


def _node_sort_key(node: Any) -> Tuple[str, str, str]:
    if isinstance(node, dict):
        return (str(node.get("name", "")), str(node.get("id", "")), _canon(node))
    return ("", "", _canon(node))


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# ------------------------------------------------------------------- reading
def _json_value(value: Any, workflow_id: str, column: str) -> Any:
    """A JSON column as Python data: SQLite gives text, PostgreSQL (json type) parsed values."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8")
    if isinstance(value, str):
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            raise WorkflowExportError(
                "Cannot export workflow %s: its %s column is not valid JSON (%s). Repair the workflow in n8n, "
                "or export without it" % (workflow_id, column, exc)
            ) from exc
    return value


def _begin_snapshot(db: N8nDatabase) -> None:
    """Start one read-only transaction: every following query sees the same database state."""
    db.rollback()  # end any transaction a previous query opened
    if db.is_postgres:
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").close()
    else:
        db.execute("BEGIN").close()


def _quoted(column: str) -> str:
    return 'w."%s"' % column


def _folder_paths(db: N8nDatabase, tables: Set[str]) -> Dict[str, List[str]]:
    """Folder id -> names from the project root down to that folder."""
    if "folder" not in tables:
        return {}
    folders = {
        str(fid): (str(name), str(parent) if parent is not None else None)
        for fid, name, parent in db.fetchall('SELECT id, name, "parentFolderId" FROM %s' % db.table("folder"))  # noqa: S608
    }
    paths: Dict[str, List[str]] = {}
    for folder_id in folders:
        names: List[str] = []
        seen = set()
        current: Optional[str] = folder_id
        while current is not None and current in folders and current not in seen:
            seen.add(current)
            name, parent = folders[current]
            names.append(name)
            current = parent
        paths[folder_id] = list(reversed(names))
    return paths


def _tags(db: N8nDatabase, tables: Set[str]) -> Dict[str, List[str]]:
    if not {"workflows_tags", "tag_entity"} <= tables:
        return {}
    names = {str(tid): str(name) for tid, name in db.fetchall("SELECT id, name FROM %s" % db.table("tag_entity"))}  # noqa: S608
    tags: Dict[str, List[str]] = {}
    for workflow_id, tag_id in db.fetchall('SELECT "workflowId", "tagId" FROM %s' % db.table("workflows_tags")):  # noqa: S608
        name = names.get(str(tag_id))
        if name is not None:
            tags.setdefault(str(workflow_id), []).append(name)
    return {key: sorted(value) for key, value in tags.items()}


def _sharing(db: N8nDatabase, tables: Set[str]) -> Optional[Dict[str, Tuple[Optional[str], List[str]]]]:
    """Workflow id -> (owning project's name, other projects' names); None before projects existed."""
    if not {"shared_workflow", "project"} <= tables or "projectId" not in db.columns("shared_workflow"):
        return None
    projects = {str(pid): str(name) for pid, name in db.fetchall("SELECT id, name FROM %s" % db.table("project"))}  # noqa: S608
    sharing: Dict[str, Tuple[Optional[str], List[str]]] = {}
    rows = db.fetchall('SELECT "workflowId", "projectId", role FROM %s' % db.table("shared_workflow"))  # noqa: S608
    for workflow_id, project_id, role in rows:
        owner, others = sharing.get(str(workflow_id), (None, []))
        name = projects.get(str(project_id), str(project_id))
        if role == OWNER_ROLE:
            owner = name
        else:
            others = others + [name]
        sharing[str(workflow_id)] = (owner, others)
    return {key: (owner, sorted(others)) for key, (owner, others) in sharing.items()}


def _published_versions(db: N8nDatabase, wanted: Sequence[Tuple[str, str]]) -> Dict[Tuple[str, str], Dict[str, Any]]:
    """(workflowId, versionId) -> {nodes, connections[, nodeGroups]} from workflow_history."""
    found: Dict[Tuple[str, str], Dict[str, Any]] = {}
    if not wanted:
        return found
    has_groups = "nodeGroups" in db.columns("workflow_history")
    select = 'SELECT "workflowId", "versionId", nodes, connections%s FROM %s WHERE "versionId" IN (%s)'
    for start in range(0, len(wanted), _HISTORY_BATCH):
        batch = wanted[start:start + _HISTORY_BATCH]
        query = select % (', "nodeGroups"' if has_groups else "", db.table("workflow_history"), ", ".join("?" * len(batch)))
        for row in db.fetchall(query, [pair[1] for pair in batch]):
            workflow_id, version_id = str(row[0]), str(row[1])
            entry: Dict[str, Any] = {
                "versionId": version_id,
                "nodes": sort_nodes(_json_value(row[2], workflow_id, "workflow_history.nodes")),
                "connections": _json_value(row[3], workflow_id, "workflow_history.connections") or {},
            }
            groups = _json_value(row[4], workflow_id, "workflow_history.nodeGroups") if has_groups else None
            if groups:
                entry["nodeGroups"] = groups
            found[(workflow_id, version_id)] = entry
    return found


_OPTIONAL_COLUMNS = ("activeVersionId", "isArchived", "parentFolderId", "description", "meta", "nodeGroups", "sourceWorkflowId")


class _Lookups:
    """What the workflow rows refer to, read in the same snapshot."""

    def __init__(self, db: N8nDatabase, tables: Set[str], with_folders: bool) -> None:
        self.folders = _folder_paths(db, tables) if with_folders else {}
        self.tags = _tags(db, tables)
        self.sharing = _sharing(db, tables)


def _document(row: Sequence[Any], optional: Sequence[str], lookups: _Lookups) -> Dict[str, Any]:
    """One workflow's export document from its workflow_entity row (without the published version)."""
    workflow_id = str(row[0])
    extra = dict(zip(optional, row[7:]))
    doc: Dict[str, Any] = {
        "id": workflow_id,
        "name": row[1],
        "active": bool(row[2]),
        "isArchived": bool(extra.get("isArchived")),
        "versionId": None if row[3] is None else str(row[3]),
        "nodes": sort_nodes(_json_value(row[4], workflow_id, "nodes")),
        "connections": _json_value(row[5], workflow_id, "connections") or {},
        "settings": _json_value(row[6], workflow_id, "settings") or {},
        "tags": lookups.tags.get(workflow_id, []),
    }
    if "activeVersionId" in extra:
        doc["activeVersionId"] = None if extra["activeVersionId"] is None else str(extra["activeVersionId"])
    if "parentFolderId" in extra:
        parent = extra["parentFolderId"]
        doc["folder"] = lookups.folders.get(str(parent), [str(parent)]) if parent is not None else []
    if lookups.sharing is not None:
        owner, others = lookups.sharing.get(workflow_id, (None, []))
        doc["project"] = owner
        if others:
            doc["sharedWith"] = others
    if extra.get("description"):
        doc["description"] = extra["description"]
    meta = _json_value(extra.get("meta"), workflow_id, "meta")
    if isinstance(meta, dict):
        meta = {key: value for key, value in meta.items() if key not in VOLATILE_META_KEYS}
    if meta:
        doc["meta"] = meta
    groups = _json_value(extra.get("nodeGroups"), workflow_id, "nodeGroups")
    if groups:
        doc["nodeGroups"] = groups
    if extra.get("sourceWorkflowId"):
        doc["sourceWorkflowId"] = str(extra["sourceWorkflowId"])
    pin_data = _json_value(extra.get("pinData"), workflow_id, "pinData")
    if pin_data:
        doc["pinData"] = pin_data
    return doc


def read_workflows(db: N8nDatabase, include_archived: bool = True, include_pin_data: bool = False) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Every workflow as its export document, sorted by id, plus warnings; one read-only snapshot.

    ``staticData`` and credentials are never read; ``pinData`` only when ``include_pin_data``.
    """
    _begin_snapshot(db)
    try:
        tables = db.tables()
        if "workflow_entity" not in tables:
            raise WorkflowExportError(
                "Cannot export workflows from %s: it has no workflow_entity table. Check the database options "
                "(name, schema, table_prefix) point at n8n's database" % db.config.describe()
            )
        columns = db.columns("workflow_entity")
        optional = [column for column in _OPTIONAL_COLUMNS if column in columns]
        if include_pin_data and "pinData" in columns:
            optional.append("pinData")
        select = ["w.id", "w.name", "w.active", _quoted("versionId"), "w.nodes", "w.connections", "w.settings"]
        select += [_quoted(column) for column in optional]
        query = "SELECT %s FROM %s w" % (", ".join(select), db.table("workflow_entity"))  # noqa: S608
        if not include_archived and "isArchived" in columns:
            query += ' WHERE NOT w."isArchived"'
        rows = db.fetchall(query)
        lookups = _Lookups(db, tables, with_folders="parentFolderId" in columns)
        documents = [_document(row, optional, lookups) for row in rows]
        wanted = [
            (doc["id"], doc["activeVersionId"])
            for doc in documents
            if doc.get("activeVersionId") is not None and doc["activeVersionId"] != doc["versionId"]
        ]
        published = _published_versions(db, wanted) if wanted and "workflow_history" in tables else {}
    finally:
        db.rollback()  # read-only: nothing to keep, and the snapshot ends here

    warnings: List[str] = []
    by_id = {doc["id"]: doc for doc in documents}
    for workflow_id, version_id in wanted:
        entry = published.get((workflow_id, version_id))
        if entry is None:
            warnings.append(
                "Workflow %s is published as version %s, which workflow_history does not hold: its file records the "
                "version id without the published nodes" % (workflow_id, version_id)
            )
            entry = {"versionId": version_id, "nodes": None, "connections": None}
        by_id[workflow_id]["published"] = entry
    return sorted(documents, key=lambda doc: doc["id"]), warnings


# ------------------------------------------------------------ export content
def index_entry(doc: Mapping[str, Any], data: bytes) -> Dict[str, Any]:
    return {
        "id": doc["id"],
        "name": doc.get("name"),
        "active": doc.get("active"),
        "isArchived": doc.get("isArchived"),
        "versionId": doc.get("versionId"),
        "activeVersionId": doc.get("activeVersionId"),
        "file": workflow_filename(doc["id"]),
        "sha256": _sha256(data),
    }


def render_export(documents: Sequence[Mapping[str, Any]]) -> Tuple[Dict[str, bytes], List[Dict[str, Any]]]:
    """The export's files (relative path -> bytes, without diff.txt) and its index entries."""
    files: Dict[str, bytes] = {}
    index: List[Dict[str, Any]] = []
    for doc in sorted(documents, key=lambda d: d["id"]):
        data = canonical_json(doc)
        path = workflow_filename(doc["id"])
        if path in files:
            raise WorkflowExportError("Cannot export workflows: two workflows share the id %r" % doc["id"])
        files[path] = data
        index.append(index_entry(doc, data))
    files[INDEX_FILE] = canonical_json(
        {"format": EXPORT_FORMAT, "formatVersion": FORMAT_VERSION, "count": len(index), "workflows": index}
    )
    return files, index


# --------------------------------------------------------------------- diff
def _nodes_list(nodes: Any) -> List[Any]:
    return nodes if isinstance(nodes, list) else []


def _unique_ids(nodes: List[Any]) -> bool:
    ids = [node.get("id") if isinstance(node, dict) else None for node in nodes]
    return all(ids) and len({str(i) for i in ids}) == len(ids)


def _node_map(nodes: List[Any], by_id: bool) -> Dict[str, Any]:
    """Nodes keyed by id (stable across renames) or by name."""
    mapped: Dict[str, Any] = {}
    for node in nodes:
        if not isinstance(node, dict):
            mapped["value:%s" % _canon(node)] = node
        elif by_id:
            mapped["id:%s" % node["id"]] = node
        else:
            mapped["name:%s" % node.get("name")] = node
    return mapped


def _node_name(node: Any) -> str:
    return str(node.get("name")) if isinstance(node, dict) else _canon(node)


def compare_documents(previous: Mapping[str, Any], current: Mapping[str, Any]) -> Dict[str, Any]:
    """Top-level fields that differ, and nodes added/removed/changed (matched by node id, else name)."""
    keys = set(previous) | set(current)
    fields = sorted(k for k in keys if _canon(previous.get(k, None)) != _canon(current.get(k, None)) or (k in previous) != (k in current))
    # By id when both sides have unique ids (a rename is then a change), else by name.
    old_nodes, new_nodes = _nodes_list(previous.get("nodes")), _nodes_list(current.get("nodes"))
    by_id = _unique_ids(old_nodes) and _unique_ids(new_nodes)
    before = _node_map(old_nodes, by_id)
    after = _node_map(new_nodes, by_id)
    return {
        "id": current.get("id", previous.get("id")),
        "name": current.get("name", previous.get("name")),
        "fields": fields,
        "nodes_added": sorted(_node_name(after[k]) for k in set(after) - set(before)),
        "nodes_removed": sorted(_node_name(before[k]) for k in set(before) - set(after)),
        "nodes_changed": sorted(_node_name(after[k]) for k in set(after) & set(before) if _canon(after[k]) != _canon(before[k])),
    }


def _documents(files: Mapping[str, bytes]) -> Dict[str, Tuple[str, Dict[str, Any]]]:
    """Workflow id -> (relative path, parsed document) for the workflow files of an export."""
    docs: Dict[str, Tuple[str, Dict[str, Any]]] = {}
    for path in sorted(files):
        if not path.startswith(WORKFLOWS_DIR + "/"):
            continue
        try:
            doc = json.loads(files[path].decode("utf-8"))
        except ValueError as exc:
            raise WorkflowExportError("Cannot compare workflow exports: %s is not valid JSON (%s)" % (path, exc)) from exc
        if not isinstance(doc, dict) or "id" not in doc:
            raise WorkflowExportError("Cannot compare workflow exports: %s is not a workflow export file (no id)" % path)
        docs[str(doc["id"])] = (path, doc)
    return docs


def compare_files(previous: Mapping[str, bytes], current: Mapping[str, bytes]) -> Tuple[Dict[str, Any], str]:
    """Compare two exports given as relative path -> bytes: the summary and the stable diff text."""
    before = _documents(previous)
    after = _documents(current)
    added = [{"id": i, "name": after[i][1].get("name")} for i in sorted(set(after) - set(before))]
    removed = [{"id": i, "name": before[i][1].get("name")} for i in sorted(set(before) - set(after))]
    changed: List[Dict[str, Any]] = []
    unchanged = 0
    for workflow_id in sorted(set(after) & set(before)):
        if previous[before[workflow_id][0]] == current[after[workflow_id][0]]:
            unchanged += 1
        else:
            changed.append(compare_documents(before[workflow_id][1], after[workflow_id][1]))
    summary = {"added": added, "removed": removed, "changed": changed, "unchanged": unchanged}
    return summary, diff_text(summary, previous, current, before, after)


def _names(values: Sequence[str]) -> str:
    return ", ".join(_quote_text(v) for v in values)


def diff_text(
    summary: Mapping[str, Any],
    previous: Mapping[str, bytes],
    current: Mapping[str, bytes],
    before: Mapping[str, Tuple[str, Dict[str, Any]]],
    after: Mapping[str, Tuple[str, Dict[str, Any]]],
) -> str:
    """A summary, then a unified diff per added, removed or changed workflow, in id order.

    File labels are relative (``previous/workflows/<id>.json``, ``current/...``) so the text does
    not depend on where the exports are.
    """
    lines = [
        "# lifeboat.n8n workflow export diff",
        "# previous: %d workflows, current: %d workflows" % (len(before), len(after)),
        "# added: %d, removed: %d, changed: %d, unchanged: %d"
        % (len(summary["added"]), len(summary["removed"]), len(summary["changed"]), summary["unchanged"]),
    ]
    entries: List[Tuple[str, str, str]] = []
    for item in summary["added"]:
        entries.append((item["id"], "added", "# added: %s (%s)" % (_quote_text(item["name"]), item["id"])))
    for item in summary["removed"]:
        entries.append((item["id"], "removed", "# removed: %s (%s)" % (_quote_text(item["name"]), item["id"])))
    for item in summary["changed"]:
        text = "# changed: %s (%s): fields %s" % (_quote_text(item["name"]), item["id"], ", ".join(item["fields"]))
        for label in ("added", "removed", "changed"):
            if item["nodes_" + label]:
                text += "; nodes %s: %s" % (label, _names(item["nodes_" + label]))
        entries.append((item["id"], "changed", text))
    entries.sort()
    lines.extend(entry[2] for entry in entries)
    for entry in entries:
        workflow_id, kind = entry[0], entry[1]
        old = previous[before[workflow_id][0]].decode("utf-8").splitlines() if kind != "added" else []
        new = current[after[workflow_id][0]].decode("utf-8").splitlines() if kind != "removed" else []
        from_label = "previous/%s" % before[workflow_id][0] if kind != "added" else "/dev/null"
        to_label = "current/%s" % after[workflow_id][0] if kind != "removed" else "/dev/null"
        lines.append("")
        lines.extend(difflib.unified_diff(old, new, fromfile=from_label, tofile=to_label, lineterm=""))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- file system
def _is_export(path: str) -> bool:
    try:
        with open(os.path.join(path, INDEX_FILE), "rb") as handle:
            index = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(index, dict) and index.get("format") == EXPORT_FORMAT


def read_tree(path: str) -> Tuple[Dict[str, bytes], Dict[str, int], List[str]]:
    """Regular files (relative path -> bytes), the permissions of every entry, and what else is there.

    Symbolic links and special files are never followed or read: they are listed as foreign.
    """
    files: Dict[str, bytes] = {}
    modes: Dict[str, int] = {".": stat.S_IMODE(os.lstat(path).st_mode)}
    foreign: List[str] = []
    for root, dirs, names in os.walk(path):
        rel_root = os.path.relpath(root, path)
        for name in sorted(dirs + names):
            full = os.path.join(root, name)
            rel = name if rel_root == "." else "%s/%s" % (rel_root, name)
            info = os.lstat(full)
            modes[rel] = stat.S_IMODE(info.st_mode)
            if stat.S_ISREG(info.st_mode):
                with open(full, "rb") as handle:
                    files[rel] = handle.read()
            elif not stat.S_ISDIR(info.st_mode):
                foreign.append(rel)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    return files, modes, foreign


def load_export(path: str) -> Tuple[Dict[str, bytes], List[str]]:
    """A previous export's files (relative path -> bytes) and warnings about files that do not match its index."""
    if not os.path.isdir(path) or not _is_export(path):
        raise WorkflowExportError(
            "Cannot read the previous workflow export %s: it is not a directory holding a lifeboat.n8n workflow export "
            "(%s with format %s). Give the dest of an earlier export, or omit previous" % (path, INDEX_FILE, EXPORT_FORMAT)
        )
    try:
        files = read_tree(path)[0]
    except OSError as exc:
        raise WorkflowExportError("Cannot read the previous workflow export %s: %s" % (path, exc)) from exc
    warnings = []
    index = json.loads(files[INDEX_FILE].decode("utf-8"))
    for entry in index.get("workflows") or []:
        file = entry.get("file") or workflow_filename(str(entry.get("id")))
        if file not in files:
            warnings.append("The previous export %s lists %s in its index but the file is missing" % (path, file))
        elif entry.get("sha256") != _sha256(files[file]):
            warnings.append("The previous export %s has %s changed since it was written (sha256 differs from its index)" % (path, file))
    return files, warnings


def diff_exports(previous_dir: str, current_dir: str) -> Dict[str, Any]:
    """Compare two export directories: ``{added, removed, changed, unchanged, text, warnings}``."""
    previous, warnings = load_export(previous_dir)
    current, current_warnings = load_export(current_dir)
    summary, text = compare_files(previous, current)
    return dict(summary, text=text, warnings=warnings + current_warnings)


def _write_file(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_tree(dest: str, files: Mapping[str, bytes], mode: int = DEFAULT_MODE) -> None:
    """Write ``files`` into a fresh directory beside ``dest``, then rename it to ``dest``.

    An existing ``dest`` (already checked to be an export) is moved aside, replaced, then removed;
    if the final rename fails it is moved back. Nothing half-written is ever at ``dest``.
    """
    dest = os.path.abspath(dest)
    parent, base = os.path.split(dest)
    dir_mode = dir_mode_for(mode)
    tmp = tempfile.mkdtemp(prefix=".%s.tmp-" % base, dir=parent)
    try:
        made = {tmp}
        for rel in sorted(files):
            target = os.path.join(tmp, *rel.split("/"))
            folder = os.path.dirname(target)
            if folder not in made:
                os.makedirs(folder, dir_mode, exist_ok=True)
                os.chmod(folder, dir_mode)
                made.add(folder)
            _write_file(target, files[rel], mode)
        for folder in sorted(made, reverse=True):
            os.chmod(folder, dir_mode)
            _fsync_dir(folder)
        if os.path.lexists(dest):
            old = tempfile.mkdtemp(prefix=".%s.old-" % base, dir=parent)
            os.rename(dest, old)  # onto an empty directory: allowed
            try:
                os.rename(tmp, dest)
            except OSError:
                os.rename(old, dest)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_dest(dest: str, check_mode: bool = False) -> Optional[Tuple[Dict[str, bytes], Dict[str, int]]]:
    """The existing export at ``dest`` (files, modes), None when there is none; refuses anything else.

    In check mode a missing parent is no error: an earlier task, skipped in check mode, may create it.
    """
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent):
        if check_mode:
            return None
        raise WorkflowExportError("Cannot write the workflow export %s: its parent folder %s does not exist. Create it first" % (dest, parent))
    if not os.path.lexists(dest):
        return None
    if os.path.islink(dest) or not os.path.isdir(dest):
        raise WorkflowExportError("Cannot write the workflow export %s: it exists and is not a directory. Choose another dest" % dest)
    files, modes, foreign = read_tree(dest)
    if not files and not foreign and len(modes) == 1:
        return files, modes  # an empty directory: ours to fill
    unexpected = foreign + sorted(
        path for path in list(files) + list(modes)
        if path not in (".", INDEX_FILE, DIFF_FILE, WORKFLOWS_DIR)
        and not (path.startswith(WORKFLOWS_DIR + "/") and path.endswith(".json") and path.count("/") == 1 and path in files)
    )
    if unexpected or not _is_export(dest):
        raise WorkflowExportError(
            "Cannot write the workflow export %s: it exists and is not a lifeboat.n8n workflow export (%s). "
            "Move it away or choose another dest; nothing was changed"
            % (dest, ", ".join(sorted(set(unexpected))[:5]) or "no %s" % INDEX_FILE)
        )
    return files, modes


def _identical(existing: Optional[Tuple[Dict[str, bytes], Dict[str, int]]], files: Mapping[str, bytes], mode: int) -> bool:
    if existing is None:
        return False
    current, modes = existing
    if dict(current) != dict(files):
        return False
    dir_mode = dir_mode_for(mode)
    for path, perms in modes.items():
        expected = mode if path in files else dir_mode
        if perms != expected:
            return False
    return True


# ------------------------------------------------------------------ entry
def export_workflows(
    db: N8nDatabase,
    dest_dir: str,
    *,
    include_archived: bool = True,
    include_pin_data: bool = False,
    previous_dir: Optional[str] = None,
    mode: int = DEFAULT_MODE,
    check_mode: bool = False,
) -> Dict[str, Any]:
    """Export every workflow of ``db`` into ``dest_dir`` (see the module docstring for the format).

    Returns ``{changed, count, dest, files, index, diff, diff_path, warnings}``: ``files`` are the
    relative paths of the export, ``index`` its index entries, ``diff`` the comparison with
    ``previous_dir`` (None without one; then no diff.txt either). ``changed`` is false when
    ``dest_dir`` already holds exactly these bytes with these permissions, and then nothing is
    touched. In ``check_mode`` everything is computed and nothing is written.
    """
    dest = os.path.abspath(dest_dir)
    existing = _check_dest(dest, check_mode)
    previous: Optional[Dict[str, bytes]] = None
    warnings: List[str] = []
    if previous_dir:
        previous, warnings = load_export(previous_dir)  # read before dest may be replaced (it may be dest)
    documents, read_warnings = read_workflows(db, include_archived=include_archived, include_pin_data=include_pin_data)
    warnings.extend(read_warnings)
    files, index = render_export(documents)
    summary: Optional[Dict[str, Any]] = None
    if previous is not None:
        summary, text = compare_files(previous, files)
        files[DIFF_FILE] = text.encode("utf-8")
    changed = not _identical(existing, files, mode)
    if changed and not check_mode:
        try:
            write_tree(dest, files, mode)
        except OSError as exc:
            raise WorkflowExportError(
                "Cannot write the workflow export %s: %s. Check free space and permissions of %s; the previous content, if any, "
                "was kept" % (dest, exc, os.path.dirname(dest))
            ) from exc
    return {
        "changed": changed,
        "count": len(index),
        "dest": dest,
        "files": sorted(files),
        "index": index,
        "diff": summary,
        "diff_path": os.path.join(dest, DIFF_FILE) if summary is not None else None,
        "warnings": warnings,
    }
