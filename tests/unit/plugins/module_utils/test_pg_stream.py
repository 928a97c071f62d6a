"""Streaming pg_dump / pg_restore: argv, quoting, secrets and error paths (no PostgreSQL needed).

The PostgreSQL tools are replaced by small ``sh`` scripts through the injected ``run`` (same
signature as subprocess.Popen), so pipes, exit statuses and signals are real.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import stat
import subprocess
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _files
from ansible_collections.lifeboat.n8n.plugins.module_utils import _pg_stream as ps
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError
from hypothesis import given, settings
from hypothesis import strategies as st

PASSWORD = "s3cr3t pa$$ 'word' \"q\" $(id) `x` \\n"
DiskUsage = namedtuple("DiskUsage", "total used free")
# A custom archive header as pg_dump 15 writes it (archive 1.14, int size 4), zlib level 1.
PG15_GZIP1_HEAD = b"PGDMP\x01\x0e\x00\x04\x08\x01\x00\x01\x00\x00\x00\x00)\x00\x00"
PG15_NONE_HEAD = b"PGDMP\x01\x0e\x00\x04\x08\x01\x00\x00\x00\x00\x00\x00(\x00\x00"


def pg(schema: str = "public", password: str | None = PASSWORD, **kwargs: Any) -> DatabaseConfig:
    options: dict[str, Any] = {"host": "10.0.0.5", "port": 5432, "name": "n8n", "user": "n8n", **kwargs}
    return DatabaseConfig(type="postgresdb", password=password, schema=schema, **options)


class FakeTools:
    """Stands in for Popen: runs a shell script per tool, records every argv it was given."""

    def __init__(self, missing: tuple[str, ...] = (), **scripts: str) -> None:
        self.scripts = scripts
        self.missing = missing  # binaries that do not exist at all (docker, zstd)
        self.calls: list[list[str]] = []

    @staticmethod
    def tool(argv: list[str]) -> str:
        if argv[:2] == ["docker", "exec"]:
            argv = argv[4:]
        if argv[:2] == ["sh", "-c"]:
            argv = argv[4:]
        return argv[0]

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        self.calls.append(list(argv))
        if argv[0] in self.missing:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", argv[0])
        # a tool missing behind sh or docker exec: what sh says then
        name = self.tool(argv)
        script = self.scripts.get(name, f'cat >/dev/null; echo "sh: 1: exec: {name}: not found" >&2; exit 127')
        return subprocess.Popen(["sh", "-c", script], **kwargs)


class FakeDatabase:
    """N8nDatabase stand-in: records statements, answers the table count."""

    def __init__(self, tables: int = 142, fail: bool = False) -> None:
        self.statements: list[str] = []
        self.tables = tables
        self.fail = fail

    def __call__(self, config: DatabaseConfig) -> FakeDatabase:
        return self

    def __enter__(self) -> FakeDatabase:
        if self.fail:
            raise DatabaseError("Cannot connect to PostgreSQL n8n@10.0.0.5:5432/n8n: refused")
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        self.statements.append(query)
        return open(os.devnull)  # something with close()

    def scalar(self, query: str, params: tuple[Any, ...] = ()) -> int:
        return self.tables


# --------------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("none", ps.Compression("none")),
        (None, ps.Compression("none")),
        ("gzip:1", ps.Compression("gzip", 1)),
        ("GZIP:9", ps.Compression("gzip", 9)),
        ("gzip", ps.Compression("gzip", 6)),
        ("gzip:0", ps.Compression("none")),
        ("zstd", ps.Compression("zstd", 3)),
        ("zstd:19", ps.Compression("zstd", 19)),
    ],
)
def test_parse_compression(value: str | None, expected: ps.Compression) -> None:
    assert ps.parse_compression(value) == expected


@pytest.mark.parametrize("value", ["gzip:10", "zstd:0", "zstd:20", "lz4:1", "gzip:x", "gzip:-1", "none:1", "brotli"])
def test_bad_compression_is_named(value: str) -> None:
    with pytest.raises(ps.PgStreamError, match="Cannot use compression"):
        ps.parse_compression(value)


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("public", '"public"'), ("N8n", '"N8n"'), ('we"ird', '"we""ird"'), ("a b;drop", '"a b;drop"')],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert ps.quote_ident(name) == quoted


@pytest.mark.parametrize("name", ["", "a\x00b"])
def test_quote_ident_refuses_empty_and_nul(name: str) -> None:
    with pytest.raises(ps.PgStreamError):
        ps.quote_ident(name)


@pytest.mark.parametrize(
    ("schema", "recreate", "expected"),
    [
        ("public", True, ['DROP SCHEMA IF EXISTS "public" CASCADE', 'CREATE SCHEMA "public" AUTHORIZATION CURRENT_USER']),
        ("n8n", False, ['DROP SCHEMA IF EXISTS "n8n" CASCADE']),
        ('x"; DROP DATABASE n8n; --', True, ['DROP SCHEMA IF EXISTS "x""; DROP DATABASE n8n; --" CASCADE',
                                             'CREATE SCHEMA "x""; DROP DATABASE n8n; --" AUTHORIZATION CURRENT_USER']),
    ],
)
def test_reset_schema_sql(schema: str, recreate: bool, expected: list[str]) -> None:
    assert ps.reset_schema_sql(schema, recreate) == expected


def test_conninfo_quotes_values_and_never_holds_the_password() -> None:
    config = pg(name="it's\\db", ssl_mode="require", connect_timeout=7)
    assert ps.conninfo(config) == "dbname='it\\'s\\\\db' connect_timeout=7 sslmode='require' application_name='lifeboat.n8n'"
    assert PASSWORD not in ps.conninfo(config)


# A whole-database dump leaves out the restore's kept snapshots (schemas holding the previous data).
KEPT_SNAPSHOTS_OUT = "--exclude-schema=lifeboat_pre_restore_*"


@pytest.mark.parametrize(
    ("schema", "schema_only", "how", "expected_flags", "absent"),
    [
        ("public", None, ("custom", "gzip:1"), ["--format=custom", "--compress=1", KEPT_SNAPSHOTS_OUT], ["--schema"]),
        ("public", None, ("plain", "none"), ["--format=plain", "--compress=0", KEPT_SNAPSHOTS_OUT], ["--schema"]),
        ("n8n", None, ("custom", "zstd:3"), ["--compress=0", '--schema="n8n"'], ["--exclude-schema"]),
        ("MySchema", None, ("custom", "gzip:6"), ['--schema="MySchema"'], ["--exclude-schema"]),
        ("n8n", False, ("custom", "none"), ["--compress=0", KEPT_SNAPSHOTS_OUT], ["--schema"]),
        ("public", True, ("custom", "none"), ['--schema="public"'], ["--exclude-schema"]),
    ],
)
def test_pg_dump_args(schema: str, schema_only: bool | None, how: tuple[str, str], expected_flags: list[str], absent: list[str]) -> None:
    fmt, compression = how
    argv = ps.pg_dump_args(pg(schema), fmt, ps.parse_compression(compression), ps.dumps_schema_only(pg(schema), schema_only))
    assert argv[0] == "pg_dump"
    for flag in ["--no-owner", "--no-privileges", "--no-password", "--host=10.0.0.5", "--port=5432", "--username=n8n", *expected_flags]:
        assert flag in argv
    for flag in absent:
        assert not any(a.startswith(flag) for a in argv)


def test_pg_dump_refuses_unknown_format() -> None:
    with pytest.raises(ps.PgStreamError, match="format 'tar'"):
        ps.pg_dump_args(pg(), "tar", ps.Compression("none"), False)


def test_pg_restore_args_restore_exactly_the_schema_in_one_transaction() -> None:
    argv = ps.pg_restore_args(pg("n8n"))
    assert argv[0] == "pg_restore"
    for flag in ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--schema=n8n", "--no-password"]:
        assert flag in argv
    psql = ps.psql_args(pg())
    assert psql[0] == "psql"
    assert "--set=ON_ERROR_STOP=1" in psql
    assert "--no-psqlrc" in psql
    # the module frames the transaction itself: psql -1 would commit a cut-short input
    assert "--single-transaction" not in psql


@pytest.mark.parametrize(
    ("container", "with_password", "prefix"),
    [
        (None, False, ["pg_dump"]),
        (None, True, ["sh", "-c", ps.ENV_FROM_STDIN_SH, "sh", "pg_dump"]),
        ("db", False, ["docker", "exec", "-i", "db", "pg_dump"]),
        ("db", True, ["docker", "exec", "-i", "db", "sh", "-c", ps.ENV_FROM_STDIN_SH, "sh", "pg_dump"]),
    ],
)
def test_wrap(container: str | None, with_password: bool, prefix: list[str]) -> None:
    argv = ps.wrap(["pg_dump", "--format=custom"], container, with_password)
    assert argv == [*prefix, "--format=custom"]
    assert not any(a.startswith("-e") or "PGPASSWORD=" in a for a in argv)


def test_wrap_refuses_a_container_name_that_is_an_option() -> None:
    with pytest.raises(ps.PgStreamError, match="looks like an option"):
        ps.wrap(["pg_dump"], "--privileged", True)


def test_the_wrapper_reads_exactly_one_line_and_passes_the_rest_on() -> None:
    # the real sh wrapper: PGPASSWORD from the first line (spaces and backslashes kept), the
    # remaining stdin untouched for the tool
    argv = ps.wrap(["sh", "-c", 'printf "%s|" "$PGPASSWORD"; cat'], None, True)
    out = subprocess.run(argv, input=ps.password_line(" p\\w d ") + b"DUMP\x00BYTES\n", capture_output=True, check=True).stdout
    assert out == b" p\\w d |DUMP\x00BYTES\n"


def _all_argv(config: DatabaseConfig, container: str | None) -> list[list[str]]:
    commands = ps.dump_commands(config, container, "custom", "zstd:3")
    commands += ps.dump_commands(config, container, "plain", "gzip:1")
    commands += ps.restore_commands(config, "custom", "zstd", container)
    commands += ps.restore_commands(config, "plain", "gzip", container)
    return commands


@settings(max_examples=60, deadline=None)
@given(
    password=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), min_size=1, max_size=40),
    container=st.sampled_from([None, "n8n-postgres"]),
)
def test_password_is_never_in_any_argv(password: str, container: str | None) -> None:
    marked = "PW<" + password + ">"
    for argv in _all_argv(pg("n8n", password=marked), container):
        assert marked not in " ".join(argv)
        assert "PGPASSWORD=" not in " ".join(argv)


@pytest.mark.parametrize("password", ["two\nlines", "cr\rhere", "nul\x00"])
def test_password_with_a_line_break_is_refused(password: str) -> None:
    with pytest.raises(ps.PgStreamError, match="line break") as info:
        ps.password_line(password)
    assert password not in str(info.value)


def test_detection() -> None:
    assert ps.detect_compression(ps.ZSTD_MAGIC + b"xx") == "zstd"
    assert ps.detect_compression(gzip.compress(b"x")) == "gzip"
    assert ps.detect_compression(b"PGDMP") == "none"
    assert ps.detect_format(b"PGDMP\x01") == "custom"
    assert ps.detect_format(b"--\n-- PostgreSQL database dump") == "plain"
    assert ps.archive_compression(PG15_GZIP1_HEAD) == "gzip"
    assert ps.archive_compression(PG15_NONE_HEAD) == "none"
    # archive 1.15 (pg_dump 16+): one byte names the algorithm
    assert ps.archive_compression(b"PGDMP\x01\x0f\x00\x04\x08\x01\x03rest") == "zstd"
    assert ps.archive_compression(b"PGDMP\x01") is None
    assert ps.stored_compression("zstd", PG15_GZIP1_HEAD) == "zstd"
    assert ps.stored_compression("none", PG15_GZIP1_HEAD) == "gzip"


@pytest.mark.parametrize(
    ("sql", "schema", "creates"),
    [
        (b"SET x = 1;\n\nCREATE SCHEMA n8n;\n\nCREATE TABLE n8n.t ();\n", "n8n", True),
        (b'CREATE SCHEMA "MySchema";\n', "MySchema", True),
        (b"CREATE SCHEMA other;\nCREATE TABLE public.t ();\n", "public", False),
        (b"CREATE SCHEMA n8n_old;\n", "n8n", False),
        (b"-- CREATE SCHEMA n8n;\n", "n8n", False),
    ],
)
def test_plain_creates_schema(sql: bytes, schema: str, creates: bool) -> None:
    assert ps.plain_creates_schema(sql, schema) is creates


@pytest.mark.parametrize(
    ("returncode", "container", "text"),
    [
        (1, False, "pg_dump exited with 1"),
        (-9, False, "pg_dump was killed by SIGKILL"),
        (137, True, "pg_dump exited with 137 (killed by SIGKILL in the container)"),
        (137, False, "pg_dump exited with 137"),
    ],
)
def test_describe_status(returncode: int, container: bool, text: str) -> None:
    assert ps.describe_status("pg_dump", returncode, container) == text


# ------------------------------------------------------------------------------------------ dump
# A fake pg_dump that checks its password line and writes some output.
DUMP_OK = 'IFS= read -r pw; printf "%s" "$pw" > "$LB_PW_FILE"; head -c 300000 /dev/zero | tr "\\0" "x"'


def test_dump_streams_hashes_and_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LB_PW_FILE", str(tmp_path / "pw"))
    tools = FakeTools(pg_dump=DUMP_OK)
    dest = tmp_path / "n8n.pgdump"
    result = ps.dump(pg(), str(dest), container="n8n-postgres", run=tools)
    data = dest.read_bytes()
    assert data == b"x" * 300000
    assert result["size"] == len(data)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["dest"] == str(dest)
    assert (result["format"], result["compression"]) == ("custom", "gzip:1")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert not (tmp_path / "n8n.pgdump.partial").exists()
    assert (tmp_path / "pw").read_text() == PASSWORD  # on stdin...
    assert result["executed"] == tools.calls  # ...and in no argv
    assert tools.calls[0][:4] == ["docker", "exec", "-i", "n8n-postgres"]
    assert PASSWORD not in repr(tools.calls)


def test_dump_without_password_runs_the_tool_directly(tmp_path: Path) -> None:
    tools = FakeTools(pg_dump="printf data")
    result = ps.dump(pg(password=None), str(tmp_path / "d"), run=tools)
    assert tools.calls[0][0] == "pg_dump"
    assert result["size"] == 4


def test_dump_through_a_compressor_checks_both(tmp_path: Path) -> None:
    tools = FakeTools(pg_dump="cat >/dev/null; printf plain-sql", zstd='read -r x; printf "Z:%s" "$x"')
    result = ps.dump(pg(), str(tmp_path / "d.zst"), fmt="plain", compression="zstd:5", run=tools)
    assert (tmp_path / "d.zst").read_bytes() == b"Z:plain-sql"
    assert tools.calls[1] == ["zstd", "-q", "-c", "-T0", "-5"]
    assert result["compression"] == "zstd:5"


@pytest.mark.parametrize(
    ("scripts", "container", "message"),
    [
        ({"pg_dump": 'cat >/dev/null; printf partial; echo "FATAL:  password authentication failed" >&2; exit 1'}, None,
         "pg_dump exited with 1: FATAL:  password authentication failed"),
        ({"pg_dump": "cat >/dev/null; printf partial; kill -9 $$"}, None, "pg_dump was killed by SIGKILL"),
        ({"pg_dump": "cat >/dev/null; printf partial; exit 137"}, "db", "killed by SIGKILL in the container"),
        ({"pg_dump": "cat >/dev/null; printf data", "zstd": "cat >/dev/null; echo 'zstd: out of memory' >&2; exit 2"}, None,
         "zstd exited with 2: zstd: out of memory"),
        ({"pg_dump": "cat >/dev/null; printf data; exit 1", "zstd": "cat"}, None, "pg_dump exited with 1"),
        ({"pg_dump": "cat >/dev/null"}, None, "pg_dump wrote nothing"),
        ({}, None, "pg_dump exited with 127 (command not found or not executable): sh: 1: exec: pg_dump: not found"),
        ({"pg_dump": "printf data", "missing": "docker"}, "db", "Cannot run pg_dump: docker is not installed"),
        ({"pg_dump": "printf data", "zstd": "", "missing": "zstd"}, None, "Cannot run zstd: zstd is not installed.*Debian"),
    ],
)
def test_dump_failures_leave_no_file(tmp_path: Path, scripts: dict[str, str], container: str | None, message: str) -> None:
    scripts = dict(scripts)
    tools = FakeTools(missing=tuple(scripts.pop("missing", "").split()), **scripts)
    dest = tmp_path / "n8n.pgdump"
    compression = "zstd:3" if "zstd" in scripts else "gzip:1"
    with pytest.raises(ps.PgStreamError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        ps.dump(pg(), str(dest), container=container, compression=compression, run=tools)
    assert str(dest) in str(info.value) or "not installed" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_dump_into_a_full_file_system_names_destination_and_free_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = ps._write_all
    written = {"n": 0}

    def write_until_full(fd: int, data: Any) -> None:
        if written["n"] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written["n"] += 1
        real_write(fd, data)

    monkeypatch.setattr(ps, "_write_all", write_until_full)
    monkeypatch.setattr(_files.shutil, "disk_usage", lambda path: DiskUsage(10 << 20, 9 << 20, 1 << 20))
    tools = FakeTools(pg_dump="cat >/dev/null; head -c 5000000 /dev/zero")
    dest = tmp_path / "n8n.pgdump"
    with pytest.raises(ps.PgStreamError, match="is full") as info:
        ps.dump(pg(), str(dest), run=tools)
    assert str(dest) in str(info.value)
    assert "1.0 MiB free" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_dump_replaces_a_stale_partial_and_respects_mode(tmp_path: Path) -> None:
    (tmp_path / "d.partial").write_text("left by a killed run")
    ps.dump(pg(), str(tmp_path / "d"), mode=0o640, run=FakeTools(pg_dump="cat >/dev/null; printf ok"))
    assert os.listdir(tmp_path) == ["d"]
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o640


def test_dump_into_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ps.PgStreamError, match="does not exist"):
        ps.dump(pg(), str(tmp_path / "nope" / "d"), run=FakeTools())


def test_dump_refuses_sqlite() -> None:
    with pytest.raises(ps.PgStreamError, match="not PostgreSQL"):
        ps.dump_commands(DatabaseConfig(type="sqlite", path="/x"))


def test_dump_plan_runs_nothing(tmp_path: Path) -> None:
    plan = ps.dump_plan(pg("n8n"), str(tmp_path / "d"), "db", "plain", "zstd")
    assert plan["sha256"] is None
    assert plan["compression"] == "zstd:3"
    assert plan["executed"][1] == ["zstd", "-q", "-c", "-T0", "-3"]
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------- restore
# A fake pg_restore / psql: saves the password line and everything after it.
CONSUME = 'IFS= read -r pw; printf "%s" "$pw" > "$LB_PW_FILE"; cat > "$LB_IN_FILE"'


@pytest.fixture
def capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    paths = {"pw": tmp_path / "pw", "in": tmp_path / "in"}
    monkeypatch.setenv("LB_PW_FILE", str(paths["pw"]))
    monkeypatch.setenv("LB_IN_FILE", str(paths["in"]))
    return paths


def test_restore_custom_resets_then_streams(tmp_path: Path, capture: dict[str, Path]) -> None:
    archive = PG15_GZIP1_HEAD + os.urandom(200000)
    src = tmp_path / "n8n.pgdump"
    src.write_bytes(archive)
    tools = FakeTools(pg_restore=CONSUME)
    db = FakeDatabase(tables=142)
    digest = hashlib.sha256(archive).hexdigest()
    result = ps.restore(pg(), str(src), container="db", expected_sha256=digest.upper(), run=tools, connect=db)
    assert capture["in"].read_bytes() == archive
    assert capture["pw"].read_text() == PASSWORD
    assert db.statements == ['DROP SCHEMA IF EXISTS "public" CASCADE', 'CREATE SCHEMA "public" AUTHORIZATION CURRENT_USER']
    assert result["executed_queries"] == db.statements
    assert (result["format"], result["compression"], result["tables"]) == ("custom", "gzip", 142)
    assert (result["size"], result["sha256"]) == (len(archive), digest)
    assert result["executed"] == tools.calls
    assert PASSWORD not in repr(tools.calls)


def test_restore_plain_gzip_frames_its_own_transaction(tmp_path: Path, capture: dict[str, Path]) -> None:
    sql = b"SET statement_timeout = 0;\nCREATE SCHEMA n8n;\nCREATE TABLE n8n.t (a int);\n" + b"-- filler\n" * 50000
    src = tmp_path / "n8n.sql.gz"
    src.write_bytes(gzip.compress(sql[:1000]) + gzip.compress(sql[1000:]))  # two gzip members
    db = FakeDatabase()
    result = ps.restore(pg("n8n"), str(src), run=FakeTools(psql=CONSUME), connect=db)
    assert capture["in"].read_bytes() == b"BEGIN;\n" + sql + b"\nCOMMIT;\n"
    assert db.statements == ['DROP SCHEMA IF EXISTS "n8n" CASCADE']  # the dump creates it
    assert (result["format"], result["compression"]) == ("plain", "gzip")
    assert result["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()


def test_restore_zstd(tmp_path: Path, capture: dict[str, Path]) -> None:
    # zstd -d is faked by "cut the 4-byte magic off", enough to check the plumbing
    payload = b"PGDMP" + os.urandom(300000)
    src = tmp_path / "n8n.pgdump.zst"
    src.write_bytes(ps.ZSTD_MAGIC + payload)
    tools = FakeTools(zstd="tail -c +5", pg_restore=CONSUME)
    result = ps.restore(pg(), str(src), run=tools, connect=FakeDatabase())
    assert capture["in"].read_bytes() == payload
    assert [FakeTools.tool(c) for c in tools.calls] == ["zstd", "pg_restore"]
    assert result["compression"] == "zstd"
    assert result["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()


def test_restore_with_a_wrong_checksum_changes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.write_bytes(PG15_NONE_HEAD)
    db = FakeDatabase()
    tools = FakeTools(pg_restore=CONSUME)
    with pytest.raises(ps.PgStreamError, match="not the expected 00"):
        ps.restore(pg(), str(src), expected_sha256="00" * 32, run=tools, connect=db)
    assert db.statements == []
    assert tools.calls == []


@pytest.mark.parametrize(
    ("content", "tool", "script", "message"),
    [
        (PG15_NONE_HEAD + b"x" * 1000, "pg_restore", 'cat >/dev/null; echo "pg_restore: error: could not execute query" >&2; exit 1',
         "pg_restore exited with 1 in container db: pg_restore: error: could not execute query"),
        (b"CREATE TABLE t ();\n", "psql", 'cat >/dev/null; echo "ERROR:  syntax error" >&2; exit 3', "psql exited with 3"),
        (b"CREATE TABLE t ();\n" * 100000, "psql", "exit 0", "stopped reading its input"),
    ],
)
def test_restore_failures_say_the_schema_was_reset(tmp_path: Path, content: bytes, tool: str, script: str, message: str) -> None:
    src = tmp_path / "d"
    src.write_bytes(content)
    db = FakeDatabase()
    with pytest.raises(ps.PgStreamError, match=message) as info:
        ps.restore(pg(), str(src), container="db", run=FakeTools(**{tool: script}), connect=db)
    assert "rolled back" in str(info.value)
    assert "reset and is now empty" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert len(db.statements) == 2


def test_restore_cannot_reset(tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.write_bytes(PG15_NONE_HEAD)
    tools = FakeTools(pg_restore=CONSUME)
    with pytest.raises(ps.PgStreamError, match="Cannot reset schema public.*Nothing was restored"):
        ps.restore(pg(), str(src), run=tools, connect=FakeDatabase(fail=True))
    assert tools.calls == []


def test_restore_damaged_gzip_is_refused_before_the_reset_when_seen_early(tmp_path: Path) -> None:
    src = tmp_path / "d.gz"
    src.write_bytes(gzip.compress(b"CREATE TABLE t ();\n" * 10000)[:-100])
    db = FakeDatabase()
    with pytest.raises(ps.PgStreamError, match="truncated"):
        ps.restore(pg(), str(src), run=FakeTools(psql=CONSUME), connect=db)
    assert db.statements == []


def test_restore_damaged_gzip_midway_never_commits(tmp_path: Path, capture: dict[str, Path]) -> None:
    sql = b"".join(b"INSERT INTO t VALUES ('%s');\n" % os.urandom(24).hex().encode() for _row in range(60000))
    src = tmp_path / "d.gz"
    src.write_bytes(gzip.compress(sql, 1)[:-1000])
    with pytest.raises(ps.PgStreamError, match="truncated"):
        ps.restore(pg(), str(src), run=FakeTools(psql=CONSUME), connect=FakeDatabase())
    received = capture["in"].read_bytes()
    assert received.startswith(b"BEGIN;\n")
    assert len(received) > ps.PLAIN_HEAD
    assert b"COMMIT" not in received  # psql sees its input end inside BEGIN: rollback


def test_restore_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ps.PgStreamError, match="no such file"):
        ps.restore(pg(), str(tmp_path / "nope"), run=FakeTools(), connect=FakeDatabase())
    (tmp_path / "empty").write_bytes(b"")
    db = FakeDatabase()
    with pytest.raises(ps.PgStreamError, match="empty"):
        ps.restore(pg(), str(tmp_path / "empty"), run=FakeTools(), connect=db)
    assert db.statements == []


def test_restore_plan_reads_and_checks_but_changes_nothing(tmp_path: Path) -> None:
    sql = b"CREATE SCHEMA n8n;\nCREATE TABLE n8n.t ();\n"
    src = tmp_path / "d.sql"
    src.write_bytes(sql)
    digest = hashlib.sha256(sql).hexdigest()
    plan = ps.restore_plan(pg("n8n"), str(src), "db", digest)
    assert (plan["format"], plan["compression"], plan["sha256"], plan["size"]) == ("plain", "none", digest, len(sql))
    assert plan["executed_queries"] == ['DROP SCHEMA IF EXISTS "n8n" CASCADE']
    assert plan["executed"][0][:4] == ["docker", "exec", "-i", "db"]
    assert plan["tables"] is None
    with pytest.raises(ps.PgStreamError, match="not the expected"):
        ps.restore_plan(pg("n8n"), str(src), "db", "ab" * 32)


def test_restore_plan_of_a_zstd_archive_shows_the_decompressor(tmp_path: Path) -> None:
    src = tmp_path / "d.zst"
    src.write_bytes(ps.ZSTD_MAGIC + PG15_GZIP1_HEAD + b"x" * 100)
    tools = FakeTools(zstd="tail -c +5")
    plan = ps.restore_plan(pg(), str(src), None, None, run=tools)
    assert (plan["format"], plan["compression"]) == ("custom", "zstd")
    assert plan["executed"][0] == ps.zstd_decompress_args()
    assert plan["executed"][1][4] == "pg_restore"
    assert plan["executed_queries"][1].startswith('CREATE SCHEMA "public"')
