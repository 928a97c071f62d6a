"""gather_info over hand-built n8n databases shaped like 1.123.81 and 2.40.7 (SQLite)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _info as info
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import key_fingerprint

KEY = "unit-test-encryption-key"
OTHER_KEY = "another-encryption-key"


def node(name: str, node_type: str, **extra: Any) -> dict[str, Any]:
    return {"id": name.lower(), "name": name, "type": node_type, "typeVersion": 1, "position": [0, 0], **extra}


def webhook(path: str, method: str = "GET", webhook_id: str = "wh-1", **parameters: Any) -> dict[str, Any]:
    return node("Webhook", "n8n-nodes-base.webhook", webhookId=webhook_id, parameters={"path": path, "httpMethod": method, **parameters})


ECHO_PUBLISHED = [webhook("lifeboat-echo"), node("Compute", "n8n-nodes-base.code")]
# The draft moved the echo to another path and added a form: none of it is live yet.
ECHO_DRAFT = [webhook("lifeboat-echo-v2", "POST"), node("Form", "n8n-nodes-base.formTrigger", parameters={"path": "f"})]
TICK = [node("Every few seconds", "n8n-nodes-base.scheduleTrigger"), node("Record", "n8n-nodes-base.code")]
INACTIVE = [webhook("lifeboat-inactive", "POST", webhook_id="wh-3"), node("Done", "n8n-nodes-base.noOp")]
ARCHIVED = [node("Manual", "n8n-nodes-base.manualTrigger"), node("Old cron", "n8n-nodes-base.cron", disabled=True)]


def build(path: Path, major: int, prefix: str = "") -> DatabaseConfig:
    """An n8n-shaped database with four workflows, three credentials and some executions."""

    def t(name: str) -> str:
        return f'"{prefix}{name}"'

    with sqlite3.connect(path) as conn:
        conn.execute(
            f'CREATE TABLE {t("workflow_entity")} (id TEXT PRIMARY KEY, name TEXT, active BOOLEAN, nodes TEXT, '
            '"versionId" TEXT, "activeVersionId" TEXT, "isArchived" BOOLEAN DEFAULT 0)'
        )
        conn.execute(f'CREATE TABLE {t("workflow_history")} ("versionId" TEXT PRIMARY KEY, "workflowId" TEXT, nodes TEXT)')
        conn.execute(
            f'CREATE TABLE {t("webhook_entity")} ("workflowId" TEXT, "webhookPath" TEXT, method TEXT, node TEXT, '
            '"webhookId" TEXT, "pathLength" INT)'
        )
        conn.execute(f'CREATE TABLE {t("credentials_entity")} (id TEXT PRIMARY KEY, name TEXT, data TEXT, type TEXT)')
        conn.execute(
            f'CREATE TABLE {t("execution_entity")} (id INTEGER PRIMARY KEY AUTOINCREMENT, "workflowId" TEXT, '
            'status TEXT, mode TEXT, "startedAt" DATETIME, "deletedAt" DATETIME)'
        )
        conn.execute(f'CREATE TABLE {t("migrations")} (id INTEGER PRIMARY KEY AUTOINCREMENT, "timestamp" BIGINT, name TEXT)')
        conn.executemany(
            f'INSERT INTO {t("migrations")} ("timestamp", name) VALUES (?, ?)',
            [(1588102412422, "InitialMigration1588102412422"), (1784000000004, "AddX1784000000004")],
        )
        if major >= 2:
            conn.execute(
                f'CREATE TABLE {t("instance_version_history")} (id INTEGER PRIMARY KEY AUTOINCREMENT, '
                'major INT, minor INT, patch INT, "createdAt" DATETIME)'
            )
            conn.execute(
                f'INSERT INTO {t("instance_version_history")} (major, minor, patch, "createdAt") VALUES (2, 40, 7, ?)',
                ("2026-11-21 14:30:46.518",),
            )
        workflows = [
            # id, name, active, draft nodes, versionId, activeVersionId, archived
            ("wEcho", "Lifeboat echo", 1, ECHO_DRAFT if major >= 2 else ECHO_PUBLISHED, "v-draft", "v-pub", 0),
            ("wTick", "Lifeboat tick", 1, TICK, "v-tick", "v-tick", 0),
            ("aInactive", "Lifeboat inactive", 0, INACTIVE, "v-inactive", None, 0),
            ("zArchived", "Lifeboat archived", 0, ARCHIVED, "v-arch", None, 1),
        ]
        for wf_id, name, active, nodes, version_id, active_version_id, archived in workflows:
            conn.execute(
                f"INSERT INTO {t('workflow_entity')} VALUES (?, ?, ?, ?, ?, ?, ?)",
                (wf_id, name, active, json.dumps(nodes), version_id, active_version_id, archived),
            )
        history = [("v-pub", "wEcho", ECHO_PUBLISHED), ("v-draft", "wEcho", ECHO_DRAFT), ("v-tick", "wTick", TICK)]
        for version_id, wf_id, nodes in history:
            conn.execute(f"INSERT INTO {t('workflow_history')} VALUES (?, ?, ?)", (version_id, wf_id, json.dumps(nodes)))
        conn.execute(f"INSERT INTO {t('webhook_entity')} VALUES ('wEcho', 'lifeboat-echo', 'GET', 'Webhook', NULL, 1)")
        # a stale row for an inactive workflow is not reported as registered
        conn.execute(f"INSERT INTO {t('webhook_entity')} VALUES ('aInactive', 'stale', 'GET', 'Webhook', NULL, 1)")
        for i in range(3):
            conn.execute(f"INSERT INTO {t('credentials_entity')} VALUES (?, ?, 'U2FsdGVkX1+...', 'httpHeaderAuth')", (f"c{i}", f"cred {i}"))
        executions = [
            ("wEcho", "success", None),
            ("wEcho", "success", None),
            ("wEcho", "error", None),
            ("wTick", "running", None),
            ("wTick", "success", "2026-11-21 15:00:00"),  # soft-deleted
        ]
        for wf_id, status, deleted in executions:
            conn.execute(
                f'INSERT INTO {t("execution_entity")} ("workflowId", status, mode, "startedAt", "deletedAt") '
                "VALUES (?, ?, 'webhook', '2026-11-21 14:31:22.672', ?)",
                (wf_id, status, deleted),
            )
    return DatabaseConfig(type="sqlite", path=str(path), table_prefix=prefix)


def gather(config: DatabaseConfig, env: dict[str, str] | None = None, config_path: str | None = None, version: str | None = None) -> dict[str, Any]:
    with N8nDatabase(config, readonly=True) as db:
        return info.gather_info(db, env or {}, config_path, version)


@pytest.mark.parametrize("prefix", ["", "n8n_"])
def test_2x_reports_the_published_version(tmp_path: Path, prefix: str) -> None:
    result = gather(build(tmp_path / "db.sqlite", 2, prefix), version="2.40.7")
    assert result["version"] == "2.40.7"
    assert result["db"] == {
        "type": "sqlite",
        "location": "SQLite %s" % (tmp_path / "db.sqlite"),
        "table_prefix": prefix,
        "migration_head": {"name": "AddX1784000000004", "timestamp": 1784000000004},
        "migrations_count": 2,
        "instance_versions": [{"version": "2.40.7", "created_at": "2026-11-21T14:30:46.518Z"}],
    }
    assert result["counts"] == {
        "workflows": 4,
        "active_workflows": 2,
        "archived_workflows": 1,
        "credentials": 3,
        "executions": {"error": 1, "running": 1, "success": 2},
    }
    assert result["workflows"] == [
        {
            "id": "aInactive",
            "name": "Lifeboat inactive",
            "active": False,
            "version_id": "v-inactive",
            "active_version_id": None,
            "archived": False,
            "trigger_types": ["n8n-nodes-base.webhook"],
            "webhooks": [{"path": "lifeboat-inactive", "method": "POST"}],
        },
        {
            "id": "wEcho",
            "name": "Lifeboat echo",
            "active": True,
            "version_id": "v-draft",
            "active_version_id": "v-pub",
            "archived": False,
            "trigger_types": ["n8n-nodes-base.webhook"],  # not the draft's formTrigger
            "webhooks": [{"path": "lifeboat-echo", "method": "GET"}],  # not the draft's v2 path
        },
        {
            "id": "wTick",
            "name": "Lifeboat tick",
            "active": True,
            "version_id": "v-tick",
            "active_version_id": "v-tick",
            "archived": False,
            "trigger_types": ["n8n-nodes-base.scheduleTrigger"],
            "webhooks": [],
        },
        {
            "id": "zArchived",
            "name": "Lifeboat archived",
            "active": False,
            "version_id": "v-arch",
            "active_version_id": None,
            "archived": True,
            "trigger_types": ["n8n-nodes-base.manualTrigger"],  # the disabled cron is left out
            "webhooks": [],
        },
    ]
    assert all(set(wf) == {"id", "name", "active", "version_id", "active_version_id", "archived", "trigger_types", "webhooks"} for wf in result["workflows"])


def test_2x_active_means_published_not_the_active_flag(tmp_path: Path) -> None:
    config = build(tmp_path / "db.sqlite", 2)
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        conn.execute("UPDATE workflow_entity SET active = 0 WHERE id = 'wTick'")  # deprecated flag out of sync
        conn.execute("UPDATE workflow_entity SET \"activeVersionId\" = NULL WHERE id = 'wEcho'")
    result = gather(config, version="2.40.7")
    active = {wf["id"]: wf["active"] for wf in result["workflows"]}
    assert active == {"aInactive": False, "wEcho": False, "wTick": True, "zArchived": False}
    echo = next(wf for wf in result["workflows"] if wf["id"] == "wEcho")
    # unpublished: the draft is what would go live; registered webhooks are not counted
    assert echo["trigger_types"] == ["n8n-nodes-base.formTrigger", "n8n-nodes-base.webhook"]
    assert echo["webhooks"] == [{"path": "lifeboat-echo-v2", "method": "POST"}]


def test_1x_uses_the_active_flag_and_the_workflow_nodes(tmp_path: Path) -> None:
    # 1.123 already has activeVersionId; it is not how 1.x activates.
    result = gather(build(tmp_path / "db.sqlite", 1), version="1.123.81")
    assert result["db"]["instance_versions"] == []
    echo = next(wf for wf in result["workflows"] if wf["id"] == "wEcho")
    assert echo["active"] is True
    assert echo["active_version_id"] is None
    assert echo["webhooks"] == [{"path": "lifeboat-echo", "method": "GET"}]
    assert result["counts"]["active_workflows"] == 2


def test_version_falls_back_to_instance_version_history(tmp_path: Path) -> None:
    assert gather(build(tmp_path / "v2.sqlite", 2))["version"] == "2.40.7"
    v1 = gather(build(tmp_path / "v1.sqlite", 1))
    assert v1["version"] is None
    assert v1["binary_data"]["mode"] == "default"  # treated as 1.x


def test_nodes_column_already_decoded_by_psycopg() -> None:
    assert info._nodes([{"type": "x"}, "junk"]) == [{"type": "x"}]
    assert info._nodes("not json") == []
    assert info._nodes(None) == []
    assert info._nodes(b'[{"type": "y"}]') == [{"type": "y"}]


# --------------------------------------------------------------------- key
@pytest.mark.parametrize(
    ("env", "config", "sources", "consistent"),
    [
        ({"N8N_ENCRYPTION_KEY": KEY}, None, ["env"], True),
        ({}, {"encryptionKey": KEY}, ["config"], True),
        ({"N8N_ENCRYPTION_KEY": KEY}, {"encryptionKey": KEY}, ["env", "config"], True),
        ({"N8N_ENCRYPTION_KEY": KEY}, {"encryptionKey": OTHER_KEY}, ["env", "config"], False),
        ({}, {"tunnelSubdomain": "x"}, [], False),
        ({"N8N_ENCRYPTION_KEY": ""}, None, [], False),
    ],
)
def test_key_info(env: dict[str, str], config: dict[str, Any] | None, sources: list[str], consistent: bool) -> None:
    result = info.key_info(env, config)
    assert [s["source"] for s in result["sources"]] == sources
    assert result["consistent"] is consistent
    assert result["fingerprint"] == (key_fingerprint(KEY) if sources else None)  # the env key wins
    assert KEY not in json.dumps(result) and OTHER_KEY not in json.dumps(result)


def test_key_file_is_read_when_readable(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text(KEY + "\n")
    assert info.key_info({"N8N_ENCRYPTION_KEY_FILE": str(secret)}, None)["fingerprint"] == key_fingerprint(KEY)
    # a container's secret path, not on this host: not a source
    assert info.key_info({"N8N_ENCRYPTION_KEY_FILE": str(tmp_path / "nope")}, None)["sources"] == []


def test_gather_info_never_returns_the_key(tmp_path: Path) -> None:
    config_file = tmp_path / "config"
    config_file.write_text(json.dumps({"encryptionKey": KEY}))
    env = {"N8N_ENCRYPTION_KEY": KEY, "DB_POSTGRESDB_PASSWORD": "pg-secret", "GENERIC_TIMEZONE": "Europe/Berlin"}
    result = gather(build(tmp_path / "db.sqlite", 2), env, str(config_file), "2.40.7")
    dumped = json.dumps(result)
    assert KEY not in dumped and "pg-secret" not in dumped
    assert result["key"]["consistent"] is True
    assert result["trigger_env"] == {"GENERIC_TIMEZONE": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "no such file"), ("{not json", "not JSON"), ("[1, 2]", "expected a JSON object")],
)
def test_config_file_errors(tmp_path: Path, content: str | None, match: str) -> None:
    path = tmp_path / "config"
    if content is not None:
        path.write_text(content)
    with pytest.raises(info.InfoError, match=match) as caught:
        info.read_n8n_config(str(path))
    assert str(path) in str(caught.value)


def test_releasable_env_values_keep_secrets_masked() -> None:
    env = {
        "N8N_ENCRYPTION_KEY": "k-secret",
        "GENERIC_TIMEZONE": "UTC",
        "DB_TYPE": "postgresdb",
        "QUEUE_BULL_REDIS_HOST": "redis://u:pw@redis:6379",
        "N8N_HOST": "k-secret",  # same text as a secret: stays masked
        "N8N_PORT": "5678",
    }
    assert info.releasable_env_values(env, keep=["5678", None]) == {"UTC", "postgresdb"}


# ------------------------------------------------------------- binary data
@pytest.mark.parametrize(
    ("major", "env", "expected"),
    [
        (1, {"N8N_USER_FOLDER": "/home/node"}, {"mode": "default", "path": "/home/node/.n8n/binaryData"}),
        (1, {"HOME": "/root", "N8N_DEFAULT_BINARY_DATA_MODE": "filesystem"}, {"mode": "filesystem", "path": "/root/.n8n/binaryData"}),
        (1, {"N8N_USER_FOLDER": "/u", "N8N_BINARY_DATA_STORAGE_PATH": "/data/bin", "N8N_STORAGE_PATH": "/ignored"}, {"mode": "default", "path": "/data/bin"}),
        (2, {"N8N_USER_FOLDER": "/home/node"}, {"mode": "filesystem", "path": "/home/node/.n8n/storage"}),
        (2, {"N8N_USER_FOLDER": "/u", "EXECUTIONS_MODE": "queue"}, {"mode": "database", "path": "/u/.n8n/storage"}),
        (2, {"N8N_USER_FOLDER": "/u", "N8N_DEFAULT_BINARY_DATA_MODE": "s3"}, {"mode": "s3", "path": "/u/.n8n/storage"}),
        (2, {"N8N_USER_FOLDER": "/u", "N8N_STORAGE_PATH": "/data/storage"}, {"mode": "filesystem", "path": "/data/storage"}),
        (2, {"N8N_USER_FOLDER": "/u", "N8N_BINARY_DATA_STORAGE_PATH": "/data/bin"}, {"mode": "filesystem", "path": "/data/bin"}),
        (2, {}, {"mode": "filesystem", "path": None}),
    ],
)
def test_binary_data(major: int, env: dict[str, str], expected: dict[str, Any]) -> None:
    assert info.binary_data(env, major) == expected


@pytest.mark.parametrize(
    ("config", "env", "expected_folder"),
    [
        ({}, {}, "binaryData"),  # 2.x keeps using a pre-existing binaryData folder
        ({"fsStorageMigrated": True}, {}, "storage"),
        ({}, {"N8N_MIGRATE_FS_STORAGE_PATH": "true"}, "storage"),  # renamed at the next start
    ],
)
def test_binary_data_2x_legacy_folder(tmp_path: Path, config: dict[str, Any], env: dict[str, str], expected_folder: str) -> None:
    n8n_folder = tmp_path / ".n8n"
    (n8n_folder / "binaryData").mkdir(parents=True)
    env = {"N8N_USER_FOLDER": "/home/node", **env}
    result = info.binary_data(env, 2, config, str(n8n_folder))
    assert result["path"] == "/home/node/.n8n/" + expected_folder


def test_binary_data_path_from_config_folder_without_env(tmp_path: Path) -> None:
    (tmp_path / ".n8n").mkdir()
    config_file = tmp_path / ".n8n" / "config"
    config_file.write_text("{}")
    result = gather(build(tmp_path / "db.sqlite", 2), {}, str(config_file), "2.40.7")
    assert result["binary_data"] == {"mode": "filesystem", "path": str(tmp_path / ".n8n" / "storage")}


# --------------------------------------------------------------- webhooks
@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ([webhook("/a/b/")], [{"path": "a/b", "method": "GET"}]),
        ([webhook("", webhook_id="uuid-1")], [{"path": "uuid-1", "method": "GET"}]),
        ([webhook("user/:id", webhook_id="uuid-2")], [{"path": "uuid-2/user/:id", "method": "GET"}]),
        ([webhook("x", method="get,post")], [{"path": "x", "method": "GET"}, {"path": "x", "method": "POST"}]),
        ([webhook("x", method=None, multipleMethods=True)], [{"path": "x", "method": "GET"}, {"path": "x", "method": "POST"}]),
        ([webhook("x", method=["PUT", "DELETE"])], [{"path": "x", "method": "PUT"}, {"path": "x", "method": "DELETE"}]),
        ([webhook("={{ $json.path }}")], []),
        ([{**webhook("x"), "disabled": True}], []),
        ([node("Form", "n8n-nodes-base.formTrigger", parameters={"path": "f"})], []),
    ],
)
def test_node_webhooks(nodes: list[dict[str, Any]], expected: list[dict[str, str]]) -> None:
    assert info.node_webhooks(nodes) == expected


@pytest.mark.parametrize(
    ("node_type", "expected"),
    [
        ("n8n-nodes-base.scheduleTrigger", True),
        ("n8n-nodes-base.webhook", True),
        ("n8n-nodes-base.cron", True),
        ("n8n-nodes-base.emailReadImap", True),
        ("@n8n/n8n-nodes-langchain.chatTrigger", True),
        ("n8n-nodes-community.myTrigger", True),
        ("n8n-nodes-base.code", False),
        ("n8n-nodes-base.wait", False),
        ("n8n-nodes-base.form", False),
    ],
)
def test_is_trigger_type(node_type: str, expected: bool) -> None:
    assert info.is_trigger_type(node_type) is expected
