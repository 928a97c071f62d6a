# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What an n8n instance is, read from its database and its deployment (private module_utils).

:func:`gather_info` is read-only: it never writes to the database, and it never returns the
encryption key (only fingerprints of it, :mod:`._fingerprint`) nor any other secret (the
trigger-relevant environment is redacted by :mod:`._env`).

Version differences handled here (checked against n8n 1.123.81, 2.38.7 and 2.40.7):

* 2.x publishes workflows: a workflow is active when ``activeVersionId`` is set, and what runs is
  the ``workflow_history`` row of that version, not the draft in ``workflow_entity.nodes``.
  1.123 already has the column, but 1.x activation is the ``active`` flag and the live nodes are
  ``workflow_entity.nodes``: ``active_version_id`` is reported as None on 1.x.
* Binary data: 1.x defaults to mode ``default`` (memory) and ``<n8n folder>/binaryData``; 2.x to
  ``filesystem`` (``database`` in queue mode) and ``N8N_STORAGE_PATH`` or ``<n8n folder>/storage``,
  except that 2.x keeps using a pre-existing ``<n8n folder>/binaryData`` until it is migrated.
"""

from __future__ import absolute_import, annotations, division, print_function

import json
import os
import posixpath
from typing import Any, Iterable, Mapping, Optional

from ._db import N8nDatabase
from ._env import is_secret_name, redact_value, trigger_env
from ._fingerprint import key_fingerprint
from ._migrations import applied_migrations, instance_version_history, migration_head, parse_version

__metaclass__ = type

WEBHOOK_NODE_TYPE = "n8n-nodes-base.webhook"
# Trigger nodes whose type name does not end in "Trigger".
TRIGGER_TYPES_WITHOUT_SUFFIX = frozenset(
    (
        "n8n-nodes-base.webhook",
        "n8n-nodes-base.cron",
        "n8n-nodes-base.interval",
        "n8n-nodes-base.start",
        "n8n-nodes-base.emailReadImap",
    )
)


class InfoError(Exception):
    """Something n8n_info needs could not be read; the message says what to do."""


def releasable_env_values(env: Mapping[str, Any], keep: Iterable[Any] = ()) -> set[str]:
    """Values of ``env`` that are not secret, for a module to take off its no_log list.

    The ``env`` option is ``no_log`` (it holds the key), which makes Ansible mask every value in
    it wherever it appears in the result, so ``sqlite`` or ``UTC`` would come back as
    ``********``. Values of secret-named variables, values whose redaction differs (URLs with
    credentials) and anything in ``keep`` (other secrets) stay masked.
    """
    secret = {str(v) for v in keep if v not in (None, "")}
    released = set()
    for name, value in env.items():
        if value is None:
            continue
        text = str(value)
        if is_secret_name(str(name)) or redact_value(str(name), text) != text:
            secret.add(text)
        else:
            released.add(text)
    return released - secret


# ------------------------------------------------------------------ files
def read_n8n_config(path: str) -> dict[str, Any]:
    """n8n's settings file (``<N8N_USER_FOLDER>/.n8n/config``): JSON holding the encryption key."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as exc:
        raise InfoError(
            "Cannot read the n8n config %s: no such file. Give the host path of <N8N_USER_FOLDER>/.n8n/config, "
            "or leave config_path unset" % path
        ) from exc
    except PermissionError as exc:
        raise InfoError("Cannot read the n8n config %s: permission denied. Run the task with become" % path) from exc
    except ValueError as exc:  # the decoder's message gives a position, never the content
        raise InfoError("Cannot read the n8n config %s: not JSON (%s)" % (path, exc.__class__.__name__)) from exc
    except OSError as exc:
        raise InfoError("Cannot read the n8n config %s: %s" % (path, exc.strerror or exc)) from exc
    if not isinstance(data, dict):
        raise InfoError("Cannot read the n8n config %s: expected a JSON object" % path)
    return data


def _read_secret_file(path: str) -> Optional[str]:
    """A ``*_FILE`` secret when readable on this host (a container's secret path often is not)."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except OSError:
        return None
    return value or None


def n8n_folder(env: Mapping[str, str]) -> Optional[str]:
    """The ``.n8n`` folder as n8n sees it: ``N8N_USER_FOLDER`` (else ``HOME``) + ``/.n8n``."""
    home = env.get("N8N_USER_FOLDER") or env.get("HOME")
    return posixpath.join(home, ".n8n") if home else None


# -------------------------------------------------------------------- key
def key_info(env: Mapping[str, str], config: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """Fingerprints of the key in the environment and in the config file; never the key.

    ``fingerprint`` is the key n8n uses (the environment wins; n8n refuses to start when both
    exist and differ). ``consistent`` is true when at least one key was found and all agree.
    """
    sources: list[dict[str, str]] = []
    env_key = env.get("N8N_ENCRYPTION_KEY") or None
    if env_key is None and env.get("N8N_ENCRYPTION_KEY_FILE"):
        env_key = _read_secret_file(env["N8N_ENCRYPTION_KEY_FILE"])
    if env_key:
        sources.append({"source": "env", "fingerprint": key_fingerprint(env_key)})
    config_key = config.get("encryptionKey") if config else None
    if isinstance(config_key, str) and config_key:
        sources.append({"source": "config", "fingerprint": key_fingerprint(config_key)})
    fingerprints = {source["fingerprint"] for source in sources}
    return {
        "fingerprint": sources[0]["fingerprint"] if sources else None,
        "sources": sources,
        "consistent": len(fingerprints) == 1,
    }


# ------------------------------------------------------------ binary data
def binary_data(
    env: Mapping[str, str], major: int, config: Optional[Mapping[str, Any]] = None, host_n8n_folder: Optional[str] = None
) -> dict[str, Optional[str]]:
    """Binary-data mode and filesystem path as n8n ``major`` resolves them from ``env``.

    ``host_n8n_folder`` (the ``.n8n`` folder as seen from this host, when known) lets 2.x's
    fallback to a not-yet-migrated ``binaryData`` folder be detected.
    """
    folder = n8n_folder(env) or host_n8n_folder
    explicit = env.get("N8N_BINARY_DATA_STORAGE_PATH") or None
    if major < 2:
        mode = env.get("N8N_DEFAULT_BINARY_DATA_MODE") or "default"
        path = explicit or (posixpath.join(folder, "binaryData") if folder else None)
        return {"mode": mode, "path": path}
    mode = env.get("N8N_DEFAULT_BINARY_DATA_MODE") or ("database" if env.get("EXECUTIONS_MODE") == "queue" else "filesystem")
    path = explicit or env.get("N8N_STORAGE_PATH") or None
    if path is None and folder:
        path = posixpath.join(folder, "storage")
        migrated = bool(config and config.get("fsStorageMigrated") is True)
        legacy_on_host = bool(host_n8n_folder) and os.path.isdir(os.path.join(str(host_n8n_folder), "binaryData"))
        if legacy_on_host and not migrated and env.get("N8N_MIGRATE_FS_STORAGE_PATH") != "true":
            path = posixpath.join(folder, "binaryData")
    return {"mode": mode, "path": path}


# --------------------------------------------------------------- workflows
def _nodes(value: Any) -> list[dict[str, Any]]:
    """A nodes column (JSON text on SQLite, already decoded by psycopg) as a list of nodes."""
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [node for node in value if isinstance(node, dict)] if isinstance(value, list) else []


def is_trigger_type(node_type: str) -> bool:
    """Whether a node type starts workflows (``*Trigger`` types, webhook, cron, interval, IMAP...)."""
    return node_type in TRIGGER_TYPES_WITHOUT_SUFFIX or node_type.rsplit(".", 1)[-1].lower().endswith("trigger")


def trigger_types(nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Sorted, distinct types of the enabled trigger nodes."""
    return sorted(
        {str(node.get("type")) for node in nodes if node.get("type") and not node.get("disabled") and is_trigger_type(str(node.get("type")))}
    )


def _webhook_path(path: str, webhook_id: Optional[str]) -> str:
    """The path under /webhook/ as n8n serves it: dynamic paths (``:param``) sit under the webhook id."""
    path = path.strip().strip("/")
    if ":" in path and webhook_id:
        return "%s/%s" % (webhook_id, path)
    return path


def node_webhooks(nodes: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``{"path", "method"}`` of each enabled Webhook node (static paths; expressions skipped)."""
    found = []
    for node in nodes:
        if node.get("type") != WEBHOOK_NODE_TYPE or node.get("disabled"):
            continue
        parameters = node.get("parameters") or {}
        webhook_id = node.get("webhookId")
        raw_path = parameters.get("path")
        if raw_path is None or raw_path == "":
            raw_path = webhook_id or ""
        if not isinstance(raw_path, str) or raw_path.startswith("="):
            continue
        path = _webhook_path(raw_path, webhook_id if isinstance(webhook_id, str) else None) or (webhook_id or "")
        if not path:
            continue
        methods: Any = parameters.get("httpMethod")
        if methods is None:
            methods = ["GET", "POST"] if parameters.get("multipleMethods") else "GET"
        if isinstance(methods, str):
            if methods.startswith("="):
                continue
            methods = methods.split(",")
        for method in methods if isinstance(methods, list) else []:
            if isinstance(method, str) and method.strip():
                found.append({"path": path, "method": method.strip().upper()})
    return found


def _sorted_unique(webhooks: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    pairs = {(hook["path"], hook["method"]) for hook in webhooks}
    return [{"path": path, "method": method} for path, method in sorted(pairs)]


def workflow_records(db: N8nDatabase, major: int) -> list[dict[str, Any]]:
    """One record per workflow, sorted by id (see the module docstring for 1.x / 2.x)."""
    columns = db.columns("workflow_entity")
    published = major >= 2 and "activeVersionId" in columns
    has_history = published and db.has_table("workflow_history")
    select = [
        "w.id",
        "w.name",
        "w.active",
        'w."versionId"' if "versionId" in columns else "NULL",
        'w."activeVersionId"' if published else "NULL",
        'w."isArchived"' if "isArchived" in columns else "NULL",
        "w.nodes",
        "h.nodes" if has_history else "NULL",
    ]
    # Identifiers come from db.table() (validated, quoted) and the fixed column list above.
    query = "SELECT %s FROM %s w" % (", ".join(select), db.table("workflow_entity"))  # noqa: S608
    if has_history:
        query += ' LEFT JOIN %s h ON h."versionId" = w."activeVersionId"' % db.table("workflow_history")
    rows = db.fetchall(query)

    registered: dict[str, list[dict[str, str]]] = {}
    if db.has_table("webhook_entity"):
        webhook_columns = db.columns("webhook_entity")
        id_column = '"webhookId"' if "webhookId" in webhook_columns else "NULL"
        for workflow_id, path, method, webhook_id in db.fetchall(
            'SELECT "workflowId", "webhookPath", method, %s FROM %s' % (id_column, db.table("webhook_entity"))  # noqa: S608
        ):
            registered.setdefault(str(workflow_id), []).append(
                {"path": _webhook_path(str(path), webhook_id), "method": str(method).upper()}
            )

    records = []
    for wf_id, name, active_flag, version_id, active_version_id, archived, draft_nodes, live_nodes in rows:
        workflow_id = str(wf_id)
        active = active_version_id is not None if published else bool(active_flag)
        # What runs: the published version (2.x), else the workflow itself (1.x, and 2.x drafts
        # of inactive workflows, or a published version whose history row is missing).
        nodes = _nodes(live_nodes) if (published and active and live_nodes is not None) else _nodes(draft_nodes)
        webhooks = node_webhooks(nodes)
        if active:
            webhooks += registered.get(workflow_id, [])
        records.append(
            {
                "id": workflow_id,
                "name": name,
                "active": active,
                "version_id": version_id,
                "active_version_id": active_version_id if published else None,
                "archived": bool(archived),
                "trigger_types": trigger_types(nodes),
                "webhooks": _sorted_unique(webhooks),
            }
        )
    return sorted(records, key=lambda record: record["id"])


# ------------------------------------------------------------------ counts
def execution_counts(db: N8nDatabase) -> dict[str, int]:
    """Executions per status (soft-deleted ones left out), sorted by status."""
    table = db.table("execution_entity")
    where = ' WHERE "deletedAt" IS NULL' if "deletedAt" in db.columns("execution_entity") else ""
    rows = db.fetchall("SELECT status, COUNT(*) FROM %s%s GROUP BY status" % (table, where))  # noqa: S608
    counts: dict[str, int] = {}
    for status, count in rows:
        key = str(status) if status is not None else "unknown"
        counts[key] = counts.get(key, 0) + int(count)
    return dict(sorted(counts.items()))


def gather_info(
    db: N8nDatabase, env: Mapping[str, str], config_path: Optional[str], version: Optional[str]
) -> dict[str, Any]:
    """Everything lifeboat.n8n records about an instance; read-only, no secrets.

    ``env`` is n8n's environment as the deployment sets it; ``config_path`` the host path of
    ``.n8n/config`` (read for the key fingerprint and storage migration flag) or None; ``version``
    the n8n version when known (else the newest ``instance_version_history`` row, else None).
    """
    env = {str(k): str(v) for k, v in (env or {}).items() if v is not None}
    history = instance_version_history(db)
    if not version and history:
        version = str(history[0]["version"])
    major = parse_version(version)[0] if version else (2 if history else 1)
    config = read_n8n_config(config_path) if config_path else None
    host_folder = os.path.dirname(os.path.abspath(config_path)) if config_path else None

    workflows = workflow_records(db, major)
    applied = applied_migrations(db)
    return {
        "version": version,
        "db": {
            "type": db.config.type,
            "location": db.config.describe(),
            "table_prefix": db.config.table_prefix,
            "migration_head": migration_head(db),
            "migrations_count": len(applied),
            "instance_versions": history,
        },
        "counts": {
            "workflows": len(workflows),
            "active_workflows": sum(1 for wf in workflows if wf["active"]),
            "archived_workflows": sum(1 for wf in workflows if wf["archived"]),
            "credentials": int(db.scalar("SELECT COUNT(*) FROM %s" % db.table("credentials_entity")) or 0),  # noqa: S608
            "executions": execution_counts(db),
        },
        "key": key_info(env, config),
        "binary_data": binary_data(env, major, config, host_folder),
        "trigger_env": trigger_env(env),
        "workflows": workflows,
    }
