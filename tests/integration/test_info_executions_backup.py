"""n8n_info, n8n_executions and n8n_sqlite_backup against real n8n, through ansible-playbook.

One seeded instance per pinned version and database does all the read-only checks (n8n_info,
shipped vs applied migrations, draining a running execution) to keep the machine's two cores for
the instances themselves. The 2.40.7 SQLite instance then serves the live-backup check: its copy,
taken under write load, must pass integrity_check and boot a real n8n whose webhook answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from n8n_harness import N8nInstance, Seeded, installs, pinned_versions, seed
from n8n_harness import postgres as harness_pg
from n8n_harness.ansible import run_module, run_playbook
from n8n_harness.matrix import case_ids, version_db_cases
from psycopg import sql

# The module_utils are checked directly too: import them as the collection (scripts/env.sh
# exports the link that makes ansible_collections.lifeboat.n8n resolve to this checkout).
_LINK = os.environ.get("LIFEBOAT_CHECKOUT_LINK")
if _LINK and _LINK not in sys.path:
    sys.path.insert(0, _LINK)

from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import key_fingerprint  # noqa: E402
from ansible_collections.lifeboat.n8n.plugins.module_utils._migrations import (  # noqa: E402
    n8n_version,
    shipped_migrations,
    shipped_migrations_in_container,
)

VERSIONS = pinned_versions()
LATEST = VERSIONS[0]
DB_KINDS = ("sqlite", "postgres")
SEED_WORKFLOWS = {"Lifeboat echo", "Lifeboat tick", "Lifeboat slow", "Lifeboat inactive"}
# Long enough to outlast a few ansible module runs on a loaded 2-core machine (one run took 13 s
# at load 13), short enough that n8n keeps it `running` in memory (from 65 s it parks as waiting).
SLOW_SECONDS = 45


# ----------------------------------------------------------------- helpers
@contextmanager
def module_database(instance: N8nInstance) -> Iterator[dict[str, Any]]:
    """The modules' `database` option for an instance.

    On PostgreSQL the modules connect as a read-only role of their own, as a monitoring user
    would (and because the harness's user name equals its password, which Ansible would then
    mask everywhere in results).
    """
    if instance.postgres is None:
        yield {"type": "sqlite", "path": str(instance.sqlite_path)}
        return
    pg = instance.postgres
    role, password = f"lbro_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with psycopg.connect(harness_pg.admin_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
    admin = {"host": pg.host, "port": pg.port, "dbname": pg.database, "user": pg.user, "password": pg.password}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role)))
    try:
        yield {
            "type": "postgresdb",
            "host": pg.host,
            "port": pg.port,
            "name": pg.database,
            "user": role,
            "password": password,
            "schema": pg.schema,
        }
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(harness_pg.admin_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def query(instance: N8nInstance, sql: str) -> list[tuple[Any, ...]]:
    """Read n8n's database directly (not through the code under test)."""
    if instance.postgres is not None:
        pg = instance.postgres
        with psycopg.connect(host=pg.host, port=pg.port, dbname=pg.database, user=pg.user, password=pg.password) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    conn = sqlite3.connect(f"file:{instance.sqlite_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def package_dir(version: str) -> str:
    """The n8n package folder of an install (…/node_modules/n8n)."""
    return str(installs.n8n_bin(version).parent.parent)


def assert_no_secrets(log: str, instance: N8nInstance, seeded: Seeded, database: dict[str, Any] | None = None) -> None:
    assert str(instance.encryption_key) not in log
    for secret in seeded.secrets:
        assert secret not in log
    if database and database.get("password"):
        assert database["password"] not in log


def slow_ids(records: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in records if e["workflow_name"] == "Lifeboat slow"]


def drain_playbook(database: dict[str, Any], slow_url: str) -> list[dict[str, Any]]:
    """Start a slow execution and look at it three ways, in one ansible-playbook run.

    The webhook is called from the play itself: starting ansible-playbook takes seconds on a
    busy machine, which must not eat into the execution's running time.
    """
    call = {"database": database, "poll_interval": 0.5}
    return [
        {
            "name": "Drain",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Start an execution that runs for a while",
                    "ansible.builtin.uri": {"url": slow_url, "status_code": 200},
                    "register": "started",
                },
                {
                    "name": "Look in check mode, which never waits",
                    "lifeboat.n8n.n8n_executions": {**call, "timeout": 60},
                    "check_mode": True,
                    "register": "checked",
                    "until": "checked.busy | selectattr('workflow_name', 'equalto', 'Lifeboat slow') | list | length > 0",
                    "retries": 10,
                    "delay": 1,
                },
                {
                    "name": "Give up after one second",
                    "lifeboat.n8n.n8n_executions": {**call, "timeout": 1},
                    "register": "short",
                    "ignore_errors": True,
                },
                {
                    "name": "Wait until it ends",
                    "lifeboat.n8n.n8n_executions": {**call, "timeout": 120},
                    "register": "drained",
                },
                {
                    "name": "Save the results",
                    "ansible.builtin.copy": {
                        "content": "{{ {'checked': checked, 'short': short, 'drained': drained} | to_json }}",
                        "dest": "{{ lifeboat_test_results_file }}",
                        "mode": "0600",
                    },
                },
            ],
        }
    ]


# ------------------------------------------------------ per version and db
@pytest.mark.timeout(1200)  # 2.40.7/SQLite also backs up and restores, on a shared 2-core machine
@pytest.mark.parametrize(("version", "db"), version_db_cases(), ids=case_ids(version_db_cases()))
def test_info_migrations_and_drain_on_real_n8n(n8n_factory, tmp_path: Path, version: str, db: str) -> None:
    instance = n8n_factory(version, db)
    instance.start(timeout=300)
    seeded = seed(instance)
    with module_database(instance) as database:
        check_info_migrations_and_drain(instance, seeded, database, tmp_path)
    if (version, db) == (LATEST, "sqlite"):
        check_live_sqlite_backup(n8n_factory, instance, seeded, tmp_path)


def check_info_migrations_and_drain(instance: N8nInstance, seeded: Seeded, database: dict[str, Any], tmp_path: Path) -> None:
    version, major = instance.version, instance.major
    db = "postgres" if instance.postgres else "sqlite"

    # ---- n8n_info: version from the real CLI, counts, schema, key, workflows
    # The env option is no_log: Ansible masks its secret values wherever they appear in results.
    # The harness's PostgreSQL password is "lifeboat", a substring of every seeded name, so it is
    # left out here (n8n_info reaches the database through the `database` option anyway).
    env = {k: v for k, v in instance.env().items() if k != "DB_POSTGRESDB_PASSWORD"}
    args = {
        "database": database,
        "n8n_command": installs.command(version),
        "env": env,
        "config_path": str(instance.n8n_folder / "config"),
    }
    info, run = run_module("lifeboat.n8n.n8n_info", args, verbosity=3)
    assert not info.get("failed"), info.get("msg")
    assert info["changed"] is False
    assert_no_secrets(run.log, instance, seeded, database)
    assert info["version"] == version
    assert info["db"]["type"] == instance.db_type
    assert info["db"]["location"] == (
        "PostgreSQL {user}@{host}:{port}/{name} (schema public)".format(**database) if db == "postgres" else f"SQLite {instance.sqlite_path}"
    )
    head_row = query(instance, 'SELECT name, "timestamp" FROM migrations ORDER BY id DESC LIMIT 1')[0]
    assert info["db"]["migration_head"] == {"name": head_row[0], "timestamp": int(head_row[1])}
    applied = [row[0] for row in query(instance, "SELECT name FROM migrations ORDER BY id")]
    assert info["db"]["migrations_count"] == len(applied)
    if major >= 2:
        assert info["db"]["instance_versions"][0]["version"] == version
    else:
        assert info["db"]["instance_versions"] == []

    counts = info["counts"]
    assert (counts["workflows"], counts["active_workflows"], counts["archived_workflows"], counts["credentials"]) == (4, 3, 0, 3)
    assert counts["executions"]["success"] >= 1 and counts["executions"]["error"] >= 1

    fingerprint = key_fingerprint(str(instance.encryption_key))
    assert info["key"] == {
        "fingerprint": fingerprint,
        "sources": [{"source": "env", "fingerprint": fingerprint}, {"source": "config", "fingerprint": fingerprint}],
        "consistent": True,
    }
    folder = str(instance.n8n_folder)
    assert info["binary_data"] == (
        {"mode": "filesystem", "path": folder + "/storage"} if major >= 2 else {"mode": "default", "path": folder + "/binaryData"}
    )
    assert info["trigger_env"]["WEBHOOK_URL"] == instance.url + "/"
    assert info["trigger_env"]["GENERIC_TIMEZONE"] == "UTC"

    workflows = {wf["name"]: wf for wf in info["workflows"]}
    assert set(workflows) == SEED_WORKFLOWS
    assert [wf["id"] for wf in info["workflows"]] == sorted(seeded.workflows.values())
    echo = workflows["Lifeboat echo"]
    assert echo["id"] == seeded.workflows["Lifeboat echo"]
    assert echo["active"] is True and echo["archived"] is False
    if major >= 2:
        assert echo["active_version_id"] == seeded.echo_published_version_id
        assert echo["version_id"] == seeded.echo_draft_version_id != echo["active_version_id"]
    else:
        assert echo["active_version_id"] is None
    assert echo["trigger_types"] == ["n8n-nodes-base.webhook"]
    assert echo["webhooks"] == [{"path": "lifeboat-echo", "method": "GET"}]
    assert workflows["Lifeboat slow"]["webhooks"] == [{"path": "lifeboat-slow", "method": "GET"}]
    assert workflows["Lifeboat tick"]["trigger_types"] == ["n8n-nodes-base.scheduleTrigger"]
    assert workflows["Lifeboat tick"]["webhooks"] == []
    inactive = workflows["Lifeboat inactive"]
    assert (inactive["active"], inactive["active_version_id"]) == (False, None)
    assert inactive["webhooks"] == [{"path": "lifeboat-inactive", "method": "POST"}]

    # check mode reads the same, and the version can be given instead of running the CLI
    checked = run_module("lifeboat.n8n.n8n_info", {"database": database, "version": version}, check=True)[0]
    assert not checked.get("failed"), checked.get("msg")
    assert checked["version"] == version
    assert checked["workflows"] == info["workflows"]
    assert checked["key"] == {"fingerprint": None, "sources": [], "consistent": False}  # no env, no config given

    # ---- the migrations this install ships are exactly those a fresh database ran
    engine = "postgresdb" if db == "postgres" else "sqlite"
    shipped = shipped_migrations(package_dir(version), engine)
    assert len(shipped) == len(set(shipped))
    assert set(shipped) == set(applied)
    assert info["db"]["migration_head"]["name"] in shipped

    # ---- a running execution blocks the drain until it ends
    slow_url = f"{instance.url}/webhook/lifeboat-slow?seconds={SLOW_SECONDS}"
    with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=tmp_path, delete=False) as handle:
        yaml.safe_dump(drain_playbook(database, slow_url), handle)
    drain = run_playbook(handle.name, verbosity=3)
    assert drain.ok, drain.log[-3000:]
    assert_no_secrets(drain.log, instance, seeded, database)
    checked, short, drained = (drain.results[k] for k in ("checked", "short", "drained"))

    assert checked["idle"] is False and checked["waited_seconds"] < 1
    (slow_id,) = slow_ids(checked["busy"])
    # the id the module reports is n8n's own
    assert query(instance, f"SELECT w.name FROM execution_entity e JOIN workflow_entity w ON w.id = e.\"workflowId\" WHERE e.id = {int(slow_id)}") == [
        ("Lifeboat slow",)
    ]

    assert short["failed"] is True
    assert f"#{slow_id} 'Lifeboat slow'" in short["msg"], short["msg"]
    assert "quiesce_drain_timeout" in short["msg"] and "quiesce_drain_force" in short["msg"]
    assert slow_ids(short["busy"]) == [slow_id]

    assert drained["idle"] is True and drained["busy"] == [] and drained["remaining"] == []
    assert slow_id in slow_ids(drained["waited_for"])
    assert drained["waited_seconds"] > 1
    assert query(instance, f"SELECT status FROM execution_entity WHERE id = {int(slow_id)}")[0][0] == "success"


# -------------------------------------------------- live SQLite backup
def inflate_executions(path: Path, rows: int) -> None:
    """Realistic history: copies of a real execution (n8n stopped while this runs)."""
    conn = sqlite3.connect(path)
    try:
        before = conn.execute("SELECT MAX(id) FROM execution_entity").fetchone()[0]
        with conn:
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                'INSERT INTO execution_entity ("workflowId", finished, mode, status, "startedAt", "stoppedAt") '
                "SELECT (SELECT \"workflowId\" FROM execution_entity WHERE status = 'success' LIMIT 1), 1, 'webhook', "
                "'success', STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'), STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') FROM n",
                (rows,),
            )
            conn.execute(
                'INSERT INTO execution_data ("executionId", "workflowData", data) '
                'SELECT e.id, d."workflowData", d.data FROM execution_entity e, '
                '(SELECT "workflowData", data FROM execution_data ORDER BY "executionId" LIMIT 1) d WHERE e.id > ?',
                (before,),
            )
    finally:
        conn.close()


def check_live_sqlite_backup(n8n_factory, instance: N8nInstance, seeded: Seeded, tmp_path: Path) -> None:
    # More history makes the copy take long enough to overlap real writes.
    instance.stop()
    inflate_executions(instance.sqlite_path, 20000)
    instance.start(timeout=300)
    assert instance.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers).status_code == 200

    stop = threading.Event()
    answered: list[float] = []

    def keep_writing() -> None:  # every echo call writes an execution with its data
        while not stop.is_set():
            response = instance.webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers)
            if response.status_code == 200:
                answered.append(time.monotonic())

    load = threading.Thread(target=keep_writing, daemon=True)
    load.start()
    try:
        time.sleep(1)
        dest = tmp_path / "backup" / "database.sqlite"
        dest.parent.mkdir()
        started = time.monotonic()
        result, run = run_module(
            "lifeboat.n8n.n8n_sqlite_backup", {"src": str(instance.sqlite_path), "dest": str(dest)}, verbosity=3
        )
        ended = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        load.join(timeout=70)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert [t for t in answered if started <= t <= ended], "no write overlapped the backup"
    assert (result["integrity"], result["journal_mode"], result["dest"]) == ("ok", "wal", str(dest))
    data = dest.read_bytes()
    assert result["size"] == len(data) > 50 * 1024 * 1024
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert (dest.stat().st_mode & 0o777) == 0o600
    assert not list(dest.parent.glob("*.partial*"))
    assert_no_secrets(run.log, instance, seeded)
    print(f"\nlive backup: {len(data) / 1e6:.1f} MB in {result['duration_s']} s "
          f"({len(data) / 1e6 / max(result['duration_s'], 1e-3):.0f} MB/s), {len(answered)} echo calls during the load")

    copy = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        copied = {t: copy.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("workflow_entity", "credentials_entity")}
    finally:
        copy.close()
    live = {t: query(instance, f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("workflow_entity", "credentials_entity")}
    assert copied == live == {"workflow_entity": 4, "credentials_entity": 3}

    # check mode writes nothing
    planned = run_module(
        "lifeboat.n8n.n8n_sqlite_backup", {"src": str(instance.sqlite_path), "dest": str(tmp_path / "backup" / "x.sqlite")}, check=True
    )[0]
    assert planned["changed"] is True and planned["sha256"] is None and planned["size"] > 0
    assert not (tmp_path / "backup" / "x.sqlite").exists()

    # The backup role's split: copy only while quiesced, flush and check once n8n runs again.
    quick_dest = tmp_path / "backup" / "quick.sqlite"
    quick = run_module("lifeboat.n8n.n8n_sqlite_backup", {
        "src": str(instance.sqlite_path), "dest": str(quick_dest), "integrity_check": False, "checksum": False, "fsync": False})[0]
    assert not quick.get("failed"), quick.get("msg")
    assert (quick["integrity"], quick["sha256"]) == ("skipped", None)
    checked = run_module("lifeboat.n8n.n8n_sqlite_check", {"path": str(quick_dest)})[0]
    assert not checked.get("failed"), checked.get("msg")
    assert (checked["changed"], checked["integrity"], checked["size"]) == (False, "ok", quick["size"])
    assert checked["sha256"] == hashlib.sha256(quick_dest.read_bytes()).hexdigest()
    damaged = bytearray(quick_dest.read_bytes())
    damaged[4096:20 * 4096] = bytes(19 * 4096)  # pages after the schema zeroed, as a bad disk would
    quick_dest.write_bytes(bytes(damaged))
    refused = run_module("lifeboat.n8n.n8n_sqlite_check", {"path": str(quick_dest)})[0]
    assert refused.get("failed") and "is not a usable backup" in refused["msg"], refused
    assert quick_dest.exists()

    # The backup role's quiesced path: n8n stopped, the WAL checkpointed, the file copied under the lock.
    instance.stop()
    locked_dest = tmp_path / "backup" / "locked.sqlite"
    locked = run_module("lifeboat.n8n.n8n_sqlite_backup", {
        "src": str(instance.sqlite_path), "dest": str(locked_dest), "method": "locked_copy"})[0]
    assert not locked.get("failed"), locked.get("msg")
    assert (locked["integrity"], locked["journal_mode"]) == ("ok", "wal")
    assert locked["sha256"] == hashlib.sha256(locked_dest.read_bytes()).hexdigest()
    assert (locked_dest.stat().st_mode & 0o777) == 0o600
    tables = ("workflow_entity", "credentials_entity", "execution_entity", "execution_data", "workflow_history")
    with closing(sqlite3.connect(f"file:{locked_dest}?mode=ro", uri=True)) as copy:
        locked_counts = {t: copy.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    with closing(sqlite3.connect(f"file:{instance.sqlite_path}?mode=ro", uri=True)) as stopped:
        assert locked_counts == {t: stopped.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    assert locked_counts["execution_entity"] > 20000

    # That copy boots a real n8n with the same key: credentials decrypt, the webhook answers.
    restored = n8n_factory(instance.version, name="restored", encryption_key=instance.encryption_key)
    restored.n8n_folder.mkdir(parents=True)
    shutil.copyfile(locked_dest, restored.sqlite_path)
    restored.start(timeout=300)
    response = restored.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers)
    assert response.status_code == 200, response.text
    assert response.json() == Seeded.expected_echo()


@pytest.mark.parametrize("method", ["backup_api", "locked_copy"])
def test_sqlite_backup_to_a_full_file_system_fails_cleanly(tmp_path: Path, method: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    src = tmp_path / "database.sqlite"
    conn = sqlite3.connect(src)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE execution_data (id INTEGER PRIMARY KEY, data TEXT)")
    with conn:
        conn.executemany("INSERT INTO execution_data (data) VALUES (?)", (("x" * 1000,) for i in range(3000)))
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        result = run_module("lifeboat.n8n.n8n_sqlite_backup", {"src": str(src), "dest": str(small / "database.sqlite"), "method": method})[0]
        assert result["failed"] is True
        assert result["msg"].startswith(f"Cannot back up SQLite database {src} to {small}/database.sqlite: the file system of {small} is full")
        assert "MiB free, the copy needs" in result["msg"]
        assert os.listdir(small) == []
    finally:
        conn.close()
        subprocess.run(["umount", str(small)], check=True)


# ------------------------------------------------------- n8n in a container
@pytest.mark.docker
def test_version_and_shipped_migrations_inside_a_container() -> None:
    """The docker exec paths: n8n's CLI and its migrations index read inside a container."""
    name = f"lifeboat-info-{os.getpid()}"
    node = installs.node_dir(LATEST)
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-v", f"{node}:/opt/node:ro",
         "-v", f"{installs.n8n_dir(LATEST)}:/opt/n8n:ro", "lifeboat-n8n/base:latest", "sleep", "300"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        command = ["docker", "exec", name, "/opt/node/bin/node", "/opt/n8n/node_modules/n8n/bin/n8n"]
        assert n8n_version(command) == LATEST
        for engine in ("sqlite", "postgresdb"):
            inside = shipped_migrations_in_container(["docker", "exec", name], engine, "/opt/n8n/node_modules/n8n")
            assert inside == shipped_migrations(package_dir(LATEST), engine)
        assert len(shipped_migrations_in_container(["docker", "exec", name], "postgresdb", "/opt/n8n")) > 200  # project folder
    finally:
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)


def test_shipped_migrations_of_every_install_are_well_formed() -> None:
    for version in VERSIONS:
        for engine in ("sqlite", "postgresdb"):
            names = shipped_migrations(package_dir(version), engine)
            assert names[0].startswith("InitialMigration")
            assert all(name[-13:].isdigit() for name in names), json.dumps(names[:5])
