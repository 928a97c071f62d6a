"""lifeboat.n8n.n8n_pg_dump against real PostgreSQL and real n8n, on the host and in containers.

Every module run goes through ansible-playbook at verbosity 3 and its log is searched for the
database password. Databases on the host cluster belong to a per-test role with a random password
(n8n connects as that role), so the password is a string that cannot appear by accident.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from n8n_harness import PostgresConfig, pinned_versions, seed
from n8n_harness import postgres as pg
from n8n_harness.ansible import PlaybookRun, run_module
from n8n_harness.containers import PG_PASSWORD, DockerTopology, docker, inspect
from n8n_harness.launcher import READY_LINE
from n8n_harness.seed import ECHO_PATH, Seeded
from psycopg import sql

MODULE = "lifeboat.n8n.n8n_pg_dump"
LATEST = pinned_versions()[0]
V1 = next(v for v in pinned_versions() if v.startswith("1."))
START_TIMEOUT = 300.0  # n8n takes far longer than its usual 5 s to start when both cores are busy


class PgRole:
    """A login role with a random password on the host cluster, and the databases it owns."""

    def __init__(self) -> None:
        self.name = f"lbpg_{secrets.token_hex(4)}"
        self.password = f"pw-{secrets.token_urlsafe(18)}"
        self.databases: list[str] = []
        with psycopg.connect(pg.admin_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(self.name), sql.Literal(self.password)))

    def database(self, schema: str = "public") -> PostgresConfig:
        """A fresh database owned by the role (n8n's usual setup), with ``schema`` if not public."""
        config = pg.create_database("lbpg")
        self.databases.append(config.database)
        with psycopg.connect(pg.admin_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(config.database), sql.Identifier(self.name)))
        config.user, config.password, config.schema = self.name, self.password, schema
        if schema != "public":
            self.execute(config, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        return config

    def connect(self, config: PostgresConfig) -> psycopg.Connection[Any]:
        return psycopg.connect(host=config.host, port=config.port, dbname=config.database, user=config.user, password=config.password)

    def execute(self, config: PostgresConfig, query: Any) -> None:
        with self.connect(config) as conn:
            conn.execute(query)

    def tables(self, config: PostgresConfig) -> set[str]:
        with self.connect(config) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'", (config.schema,)
            ).fetchall()
        return {row[0] for row in rows}

    def drop(self) -> None:
        with psycopg.connect(pg.admin_dsn(), autocommit=True) as conn:
            for name in self.databases:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.name)))


@pytest.fixture
def role(pg_available: bool) -> Iterator[PgRole]:
    created = PgRole()
    try:
        yield created
    finally:
        created.drop()


def module(args: dict[str, Any], secret: str, check: bool = False) -> dict[str, Any]:
    """Run the module at verbosity 3; the password must appear nowhere in what Ansible logged."""
    result, run = run_module(MODULE, args, check=check, verbosity=3)
    assert_no_secret(run, secret)
    return result


def assert_no_secret(run: PlaybookRun, secret: str) -> None:
    assert secret not in run.log, "the database password appeared in the ansible-playbook -vvv log"


def assert_dumped(result: dict[str, Any], path: Path, secret: str) -> None:
    assert not result.get("failed"), result.get("msg")
    assert result["changed"]
    data = path.read_bytes()
    assert result["size"] == len(data) > 0
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not Path(str(path) + ".partial").exists()
    assert secret not in repr(result["executed"])


def echo_answers(client: Any, seeded: Seeded) -> None:
    response = client.wait_webhook(ECHO_PATH, params=seeded.echo_params(), headers=seeded.echo_headers, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json() == seeded.expected_echo()


# ------------------------------------------------------------------------------- (a) host
def test_host_dump_restore_into_a_fresh_database_and_n8n_boots(n8n_factory, role: PgRole, tmp_path: Path) -> None:
    source = n8n_factory(LATEST, postgres=role.database(), name="source")
    source.start(timeout=START_TIMEOUT)
    seeded = seed(source)
    source.stop()
    dump_path = tmp_path / "n8n.pgdump"

    planned = module({"database": source.postgres.database_option(), "path": str(dump_path)}, role.password, check=True)
    assert planned["changed"] and planned["sha256"] is None
    assert planned["executed"][0][:3] == ["sh", "-c", "IFS= read -r PGPASSWORD && export PGPASSWORD && exec \"$@\""]
    assert not dump_path.exists()

    dumped = module({"database": source.postgres.database_option(), "path": str(dump_path)}, role.password)
    assert_dumped(dumped, dump_path, role.password)
    assert (dumped["format"], dumped["compression"]) == ("custom", "gzip:1")
    # A bare pg_dump of the same database lists the same objects (the module adds nothing, drops nothing).
    listing = subprocess.run(["pg_restore", "--list", str(dump_path)], capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public credentials_entity" in listing

    target = n8n_factory(LATEST, postgres=role.database(), name="target", encryption_key=source.encryption_key)
    restore_args = {"state": "restore", "database": target.postgres.database_option(), "path": str(dump_path), "expected_sha256": dumped["sha256"]}
    checked = module(restore_args, role.password, check=True)
    assert (checked["format"], checked["sha256"], checked["tables"]) == ("custom", dumped["sha256"], None)
    assert role.tables(target.postgres) == set()  # check mode changed nothing

    restored = module(restore_args, role.password)
    assert not restored.get("failed"), restored.get("msg")
    assert restored["tables"] == len(role.tables(source.postgres)) == len(role.tables(target.postgres)) > 100
    assert restored["executed_queries"] == ['DROP SCHEMA IF EXISTS "public" CASCADE', 'CREATE SCHEMA "public" AUTHORIZATION CURRENT_USER']

    target.start(timeout=START_TIMEOUT)
    echo_answers(target, seeded)


# ------------------------------------------------------------------------- (b) containers
def container_ip(name: str) -> str:
    networks = inspect(name)["NetworkSettings"]["Networks"]
    return str(next(iter(networks.values()))["IPAddress"])


def restart_and_wait(topology: DockerTopology, timeout: float = START_TIMEOUT) -> None:
    """Start the stopped n8n container and wait for *this* start's ready line, then readiness."""
    since = str(int(time.time()) - 1)
    topology.start(topology.main)
    client = topology.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = docker("logs", "--since", since, topology.main, check=False)
        if READY_LINE in logs.stdout + logs.stderr:
            client.wait_ready(timeout=max(deadline - time.monotonic(), 1))
            return
        time.sleep(1)
    raise AssertionError(f"n8n in {topology.main} not ready after {timeout:.0f} s:\n{client.logs()}")


@pytest.mark.docker
def test_dump_inside_the_db_container_and_restore_into_another(tmp_path: Path) -> None:
    source = DockerTopology(prefix=f"lbpg{os.getpid()}s", version=LATEST, db="postgres")
    target = DockerTopology(prefix=f"lbpg{os.getpid()}t", version=LATEST, db="postgres", encryption_key=source.encryption_key)
    try:
        client = source.up(wait=False)
        client.wait_ready(timeout=START_TIMEOUT)
        seeded = seed(client)
        dump_path = tmp_path / "n8n.pgdump.zst"
        source_db = {"type": "postgresdb", "host": container_ip(source.postgres), "user": "n8n", "password": PG_PASSWORD, "name": "n8n"}
        dumped = module({"database": source_db, "container": source.postgres, "path": str(dump_path), "compression": "zstd:3"}, PG_PASSWORD)
        assert_dumped(dumped, dump_path, PG_PASSWORD)
        assert dumped["executed"][0][:4] == ["docker", "exec", "-i", source.postgres]
        assert dumped["executed"][1][0] == "zstd"
        assert dump_path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"

        # The target: a deployment whose n8n already migrated its own (empty) database.
        target.up(wait=False).wait_ready(timeout=START_TIMEOUT)
        target.stop(target.main)
        target_db = dict(source_db, host=container_ip(target.postgres))
        restored = module(
            {"state": "restore", "database": target_db, "container": target.postgres, "path": str(dump_path), "expected_sha256": dumped["sha256"]},
            PG_PASSWORD,
        )
        assert not restored.get("failed"), restored.get("msg")
        assert (restored["format"], restored["compression"]) == ("custom", "zstd")
        assert restored["executed"][0][0] == "zstd"
        assert restored["executed"][1][:4] == ["docker", "exec", "-i", target.postgres]
        assert restored["tables"] > 100

        restart_and_wait(target)
        echo_answers(target.client(), seeded)
    finally:
        source.down()
        target.down()


# --------------------------------------------------------------- (c) reset of a newer schema
def test_restore_of_an_older_schema_leaves_no_table_of_the_newer_one(n8n_factory, role: PgRole, tmp_path: Path) -> None:
    """A non-public schema, plain SQL with zstd: the path that relies on the dump's own CREATE SCHEMA."""
    older = n8n_factory(V1, postgres=role.database(schema="n8n_data"), name="older")
    older.start(timeout=START_TIMEOUT)
    older.stop()
    newer = n8n_factory(LATEST, postgres=role.database(schema="n8n_data"), name="newer")
    newer.start(timeout=START_TIMEOUT)
    newer.stop()
    role.execute(newer.postgres, "CREATE TABLE n8n_data.stray_from_newer (x int)")
    older_tables, newer_tables = role.tables(older.postgres), role.tables(newer.postgres)
    assert newer_tables - older_tables, "the newer n8n should have tables the older one lacks"

    dump_path = tmp_path / "older.sql.zst"
    dumped = module({"database": older.postgres.database_option(), "path": str(dump_path), "format": "plain", "compression": "zstd:3"}, role.password)
    assert_dumped(dumped, dump_path, role.password)
    assert '--schema="n8n_data"' in dumped["executed"][0]

    restored = module({"state": "restore", "database": newer.postgres.database_option(), "path": str(dump_path)}, role.password)
    assert not restored.get("failed"), restored.get("msg")
    assert (restored["format"], restored["compression"]) == ("plain", "zstd")
    assert restored["executed_queries"] == ['DROP SCHEMA IF EXISTS "n8n_data" CASCADE']  # the dump creates it
    assert role.tables(newer.postgres) == older_tables
    assert restored["tables"] == len(older_tables)
    newest = "SELECT name FROM n8n_data.migrations ORDER BY timestamp DESC, id DESC LIMIT 1"
    with role.connect(older.postgres) as a, role.connect(newer.postgres) as b:
        assert a.execute(newest).fetchone() == b.execute(newest).fetchone()
        owner = b.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'n8n_data'").fetchone()
    assert owner == (role.name,)


# ------------------------------------------------------------------------- (d) failures
def bulk_database(role: PgRole, rows: int, chunks_per_row: int) -> PostgresConfig:
    """A database with n8n's execution_data shape, filled with varied text (compresses ~2x)."""
    config = role.database()
    role.execute(config, 'CREATE TABLE execution_data ("executionId" int PRIMARY KEY, "workflowData" json NOT NULL, data text NOT NULL)')
    role.execute(
        config,
        f"""INSERT INTO execution_data SELECT i, '{{"name": "Lifeboat bulk"}}'::json,
            (SELECT string_agg(md5((i * {chunks_per_row} + j)::text || random()::text), ',') FROM generate_series(1, {chunks_per_row}) j)
            FROM generate_series(1, {rows}) i""",
    )
    return config


def test_wrong_password_and_full_disk_leave_no_file(role: PgRole, tmp_path: Path) -> None:
    config = bulk_database(role, rows=2000, chunks_per_row=40)  # ~2.6 MB of text
    dest = tmp_path / "n8n.pgdump"

    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    failed = module({"database": dict(config.database_option(), password=wrong), "path": str(dest)}, wrong)
    assert failed["failed"]
    assert "password authentication failed" in failed["msg"]
    assert f"Cannot dump PostgreSQL {role.name}@" in failed["msg"]
    assert os.listdir(tmp_path) == []

    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(full)], check=True)
    try:
        dest = full / "n8n.pgdump"
        failed = module({"database": config.database_option(), "path": str(dest), "compression": "none"}, role.password)
        assert failed["failed"]
        assert f"to {dest}: the file system of {full} is full" in failed["msg"]
        assert "MiB free now" in failed["msg"]
        assert os.listdir(full) == []
    finally:
        subprocess.run(["umount", str(full)], check=True)


def pg_dump_pids(database: str) -> list[int]:
    """pg_dump processes on this host working on ``database`` (ours: the name is unique)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"pg_dump") and any(f"dbname='{database}'".encode() in arg for arg in argv):
            pids.append(int(entry))
    return pids


@pytest.mark.slow
def test_a_killed_dump_leaves_no_file_claiming_completeness(role: PgRole, tmp_path: Path) -> None:
    config = bulk_database(role, rows=60000, chunks_per_row=40)  # ~80 MB of text: seconds of gzip:6
    dest = tmp_path / "n8n.pgdump"
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["result"], outcome["run"] = run_module(
            MODULE, {"database": config.database_option(), "path": str(dest), "compression": "gzip:6"}, verbosity=3
        )

    thread = threading.Thread(target=run)
    thread.start()
    killed: list[int] = []
    deadline = time.monotonic() + 240
    partial = Path(str(dest) + ".partial")
    while thread.is_alive() and not killed and time.monotonic() < deadline:
        pids = pg_dump_pids(config.database)
        if pids and partial.exists() and partial.stat().st_size > 0:
            for pid in pids:
                os.kill(pid, 9)
            killed = pids
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed, "the dump ended before it could be killed: give the test more data"
    result = outcome["result"]
    assert_no_secret(outcome["run"], role.password)
    assert result["failed"]
    assert "pg_dump was killed by SIGKILL" in result["msg"]
    assert "no partial dump was left" in result["msg"]
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ (e) the restore's snapshot
def snapshot_module(args: dict[str, Any], secret: str, check: bool = False) -> dict[str, Any]:
    result, run = run_module("lifeboat.n8n.n8n_pg_schema_snapshot", args, check=check, verbosity=3)
    assert_no_secret(run, secret)
    return result


def test_schema_snapshot_sets_aside_reverts_exactly_and_is_left_out_of_dumps(role: PgRole, tmp_path: Path) -> None:
    """n8n_pg_schema_snapshot: the restore role's rename-based safety snapshot, on a database owned by n8n's user."""
    config = bulk_database(role, rows=500, chunks_per_row=10)
    name = f"lifeboat_pre_restore_{secrets.token_hex(4)}"
    args = {"database": config.database_option(), "snapshot": name}
    public = "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
    digest = "SELECT count(*), md5(string_agg(data, '' ORDER BY \"executionId\")) FROM public.execution_data"
    with role.connect(config) as conn:
        before, owner_before = conn.execute(digest).fetchone(), conn.execute(public).fetchone()

    planned = snapshot_module(args, role.password, check=True)
    assert planned["changed"] and planned["tables"] == 1 and planned["size_bytes"] > 0
    assert role.tables(config) == {"execution_data"}, "check mode changed nothing"

    taken = snapshot_module(args, role.password)
    assert not taken.get("failed"), taken.get("msg")
    assert taken["executed_queries"] == [f'ALTER SCHEMA "public" RENAME TO "{name}"', 'CREATE SCHEMA "public" AUTHORIZATION CURRENT_USER']
    assert role.tables(config) == set()
    refused = snapshot_module(args, role.password)
    assert refused["failed"] and "exists already" in refused["msg"] and "nothing was changed" in refused["msg"]

    # What a restore that failed half-way leaves: a table, in the new schema, owned by n8n's user.
    role.execute(config, "CREATE TABLE public.half_restored (x int)")
    reverted = snapshot_module(dict(args, state="reverted"), role.password)
    assert reverted["changed"] and reverted["tables"] == 1
    assert role.tables(config) == {"execution_data"}
    with role.connect(config) as conn:
        assert conn.execute(digest).fetchone() == before
        assert conn.execute(public).fetchone() == owner_before  # the original schema itself, not a copy
    assert not snapshot_module(dict(args, state="reverted"), role.password)["changed"]  # nothing to put back: untouched
    assert role.tables(config) == {"execution_data"}

    # A kept snapshot (restore_keep_snapshot) stays out of the next whole-database backup, then is dropped.
    snapshot_module(args, role.password)
    role.execute(config, "CREATE TABLE public.restored (x int)")
    dump_path = tmp_path / "after.pgdump"
    assert_dumped(module({"database": config.database_option(), "path": str(dump_path)}, role.password), dump_path, role.password)
    listing = subprocess.run(["pg_restore", "--list", str(dump_path)], capture_output=True, text=True, check=True).stdout
    assert "TABLE public restored" in listing and name not in listing
    dropped = snapshot_module(dict(args, state="absent"), role.password)
    assert dropped["changed"] and dropped["executed_queries"] == [f'DROP SCHEMA IF EXISTS "{name}" CASCADE']
    assert not snapshot_module(dict(args, state="absent"), role.password)["changed"]
    with role.connect(config) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() == (0,)
    assert role.tables(config) == {"restored"}
