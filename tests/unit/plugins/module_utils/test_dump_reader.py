"""Reading n8n tables out of PostgreSQL dumps: the COPY text format, format detection, and
real ``pg_dump`` artifacts (custom, directory, tar, plain; zstd and gzip) made here.

The real-dump tests need pg_dump/pg_restore and the PostgreSQL server of the test machine
(LIFEBOAT_PG_DSN, scripts/setup.sh postgres); they are skipped where either is missing.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _cipher as cipher
from ansible_collections.lifeboat.n8n.plugins.module_utils import _dump_reader as dr
from ansible_collections.lifeboat.n8n.plugins.module_utils import _key_check as kc
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

DSN = os.environ.get("LIFEBOAT_PG_DSN", "postgresql://lifeboat:lifeboat@127.0.0.1:5432/postgres")
KEY = "dump-test-key"


# ----------------------------------------------------------------- COPY text format
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"a\tb\tc\n", ["a", "b", "c"]),
        (b"a\t\\N\t\n", ["a", None, ""]),
        (b"\\N\n", [None]),
        (b"\t\n", ["", ""]),
        (b"tab\\there\tnl\\nline\tcr\\rx\n", ["tab\there", "nl\nline", "cr\rx"]),
        (b"back\\\\slash\tliteral \\\\N\n", ["back\\slash", "literal \\N"]),
        (b"a\\Nb\n", ["aNb"]),  # \N is NULL only as a whole field
        (b"\\b\\f\\v\n", ["\b\f\v"]),
        (b"oct \\101\\102\thex \\x41\\x4a2\n", ["oct AB", "hex AJ2"]),
        (b"at most 3 octal digits \\0102\n", ["at most 3 octal digits \x082"]),
        (b"other \\q\\.\n", ["other q."]),
        ("caf\u00e9 \u20ac \U0001f600\n".encode(), ["caf\u00e9 \u20ac \U0001f600"]),
        (b"utf8 via octal \\303\\251\n", ["utf8 via octal \u00e9"]),
        (b"crlf\r\n", ["crlf"]),
        (b"no newline", ["no newline"]),
        (b'{"json": "with \\\\"quotes\\\\" and \\\\\\\\ backslash"}\n', ['{"json": "with \\"quotes\\" and \\\\ backslash"}']),
    ],
)
def test_parse_copy_line(line: bytes, expected: list[str | None]) -> None:
    assert dr.parse_copy_line(line) == expected


def copy_escape(value: str | None) -> bytes:
    """Escape one field the way PostgreSQL's COPY TO does."""
    if value is None:
        return b"\\N"
    out = value.replace("\\", "\\\\")
    for char, esc in (("\b", "\\b"), ("\f", "\\f"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\v", "\\v")):
        out = out.replace(char, esc)
    return out.encode("utf-8")


@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)))), min_size=1, max_size=6))
@settings(max_examples=300, deadline=None)
def test_copy_round_trip(fields: list[str | None]) -> None:
    line = b"\t".join(copy_escape(f) for f in fields) + b"\n"
    assert dr.parse_copy_line(line) == fields


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('COPY public.credentials_entity (name, data, "createdAt", id) FROM stdin;\n', ("public", "credentials_entity", ["name", "data", "createdAt", "id"])),
        ('COPY public."user" (id, "mfaSecret", "mfaRecoveryCodes") FROM stdin;', ("public", "user", ["id", "mfaSecret", "mfaRecoveryCodes"])),
        ('COPY "My Schema"."n8n_Set""tings" (key, value) FROM stdin;', ("My Schema", 'n8n_Set"tings', ["key", "value"])),
        ("COPY auto.n8n_settings FROM stdin;", ("auto", "n8n_settings", [])),
    ],
)
def test_parse_copy_header(line: str, expected: tuple[str, str, list[str]]) -> None:
    assert dr.parse_copy_header(line) == expected


@pytest.mark.parametrize("line", ["COPY credentials_entity FROM stdin;", "COPY public.t (a) TO stdout;", "-- COPY public.t (a) FROM stdin;"])
def test_parse_copy_header_ignores_other_lines(line: str) -> None:
    assert dr.parse_copy_header(line) is None


# ----------------------------------------------------------------- detection
def test_detect_format(tmp_path: Path) -> None:
    sqlite = tmp_path / "db.sqlite"
    sqlite3.connect(sqlite).execute("CREATE TABLE t (a)").connection.close()
    plain = tmp_path / "dump.sql"
    plain.write_text("--\n-- PostgreSQL database dump\n--\n")
    gz = tmp_path / "dump.sql.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    custom = tmp_path / "dump.pgdump"
    custom.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 100)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "toc.dat").write_bytes(b"PGDMP")
    assert dr.detect_format(str(sqlite)) == ("sqlite", None)
    assert dr.detect_format(str(plain)) == ("plain", None)
    assert dr.detect_format(str(gz)) == ("plain", "gzip")
    assert dr.detect_format(str(custom)) == ("custom", None)
    assert dr.detect_format(str(folder)) == ("directory", None)
    if shutil.which("zstd"):
        zst = tmp_path / "dump.pgdump.zst"
        subprocess.run(["zstd", "-q", "-o", str(zst), str(custom)], check=True)
        assert dr.detect_format(str(zst)) == ("custom", "zstd")


def test_detect_format_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    # Fixed bytes, not os.urandom: about 1 random head in 240 starts with "\\" (after optional
    # whitespace) and is rightly taken for a plain dump, which made this test flaky.
    junk.write_bytes(b"\x89LBJ\x00" + bytes(range(256)) * 2)
    with pytest.raises(dr.DumpError, match="not a SQLite database or a pg_dump artifact"):
        dr.detect_format(str(junk))
    with pytest.raises(dr.DumpError, match="no such file"):
        dr.detect_format(str(tmp_path / "missing"))
    with pytest.raises(dr.DumpError, match="no toc.dat"):
        dr.detect_format(str(tmp_path))


def test_plain_dump_made_with_inserts_is_refused_by_name(tmp_path: Path) -> None:
    dump = tmp_path / "inserts.sql"
    dump.write_text(
        "SET client_encoding = 'UTF8';\n"
        "INSERT INTO public.credentials_entity (id, data) VALUES ('a', 'U2FsdGVk');\n"
    )
    reader = dr.PgDump(str(dump))
    assert "credentials_entity" in reader.tables()
    with pytest.raises(dr.DumpError, match="pg_dump --inserts"):
        list(reader.read({"credentials_entity": ["id", "data"]}))


def test_plain_dump_blocks_schema_prefix_and_encoding(tmp_path: Path) -> None:
    dump = tmp_path / "dump.sql"
    dump.write_bytes(
        b"SET client_encoding = 'LATIN1';\n"
        b"COPY public.n8n_settings (key, value) FROM stdin;\n"
        b"COPY not a header\n"  # data of another table, not a statement
        b"\\.\n"
        b"COPY other.n8n_settings (key, value) FROM stdin;\n"
        b"wrong\tschema\n"
        b"\\.\n"
        b"COPY public.n8n_credentials_entity (id, name, data) FROM stdin;\n"
        b"c1\tcaf\xe9\tU2Fs\n"
        b"\\.\n"
    )
    reader = dr.PgDump(str(dump), table_prefix="n8n_")
    assert sorted(reader.tables()) == ["credentials_entity", "settings"]
    blocks = [(b.table, b.columns, list(b.rows)) for b in reader.read({"credentials_entity": ["id", "data", "missing"], "settings": ["key"]})]
    assert blocks == [("settings", ["key"], [("COPY not a header",)]), ("credentials_entity", ["id", "data"], [("c1", "U2Fs")])]


# ----------------------------------------------------------------- real pg_dump
def pg_env() -> dict[str, str]:
    url = urlparse(DSN)
    return {
        **os.environ,
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGPASSWORD": url.password or "",
    }


def _pg_ready() -> bool:
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        return False
    try:
        with psycopg.connect(DSN, connect_timeout=3):
            return True
    except Exception:
        return False


_PG_READY = _pg_ready()


def needs_pg(test: Any) -> Any:
    """Skipped without pg_dump or the server; marked ``postgres`` because ``ansible-test units`` does
    not pass LIFEBOAT_PG_DSN on, so ``make test`` runs these with plain pytest (``-m postgres``)."""
    return pytest.mark.postgres(pytest.mark.skipif(not _PG_READY, reason="pg_dump/pg_restore or the test PostgreSQL server missing")(test))


TRICKY = [
    "plain",
    "tab\there",
    "new\nline\r\nwindows",
    "back\\slash \\N \\.",
    "\\.",
    "caf\u00e9 \u20ac \U0001f600",
    "",
    None,
    '{"json": "with \\"quotes\\""}',
    "x" * 5000,
]


@pytest.fixture(scope="module")
def n8n_pg() -> Iterator[dict[str, Any]]:
    """A PostgreSQL database with n8n-shaped tables in public (no prefix) and in schema auto (prefix n8n_)."""
    name = f"lb_dump_{secrets.token_hex(4)}"
    with psycopg.connect(DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlparse(DSN)
    dsn = url._replace(path="/" + name).geturl()
    creds = {f"c{i:03d}": json.dumps({"user": f"u{i}", "password": secrets.token_hex(8)}) for i in range(40)}
    dek = secrets.token_hex(32)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA auto")
            for schema, prefix in (("public", ""), ("auto", "n8n_")):

                def t(table: str, schema: str = schema, prefix: str = prefix) -> str:
                    return f'{schema}."{prefix}{table}"'

                conn.execute(
                    'CREATE TABLE {} (name varchar(128), data text, type varchar(64), "createdAt" timestamp default now(), '
                    "id varchar(36) primary key)".format(t("credentials_entity"))
                )
                conn.execute(
                    "CREATE TABLE {} (id varchar(36) primary key, type varchar(64), value text, algorithm varchar(20), "
                    "status varchar(20))".format(t("deployment_key"))
                )
                conn.execute('CREATE TABLE {} (id uuid primary key, email text, "mfaSecret" text, "mfaRecoveryCodes" text default \'\')'.format(t("user")))
                conn.execute('CREATE TABLE {} (key varchar(255) primary key, value text, "loadOnStartup" boolean)'.format(t("settings")))
                conn.execute("CREATE TABLE {} (id int primary key, v text)".format(t("tricky")))
                conn.execute("CREATE TABLE {} (id int primary key, data text)".format(t("execution_data")))
                conn.execute(
                    "INSERT INTO {} VALUES ('DekLegacyCbc0001', 'data_encryption', %s, 'aes-256-cbc', 'inactive'), "
                    "('DekActive0000001', 'data_encryption', %s, 'aes-256-gcm', 'active')".format(t("deployment_key")),
                    (cipher.wrap_dek(KEY, KEY), cipher.wrap_dek(dek, KEY)),
                )
                for i, (cid, plaintext) in enumerate(creds.items()):
                    data = "DekActive0000001:" + cipher.gcm_encrypt(plaintext, bytes.fromhex(dek)) if i % 2 else cipher.encrypt(plaintext, KEY)
                    conn.execute(
                        "INSERT INTO {} (name, data, type, id) VALUES (%s, %s, 'httpBasicAuth', %s)".format(t("credentials_entity")),
                        (f"Cred\t{cid}\\", data, cid),
                    )
                conn.execute(
                    'INSERT INTO {} (id, email, "mfaSecret", "mfaRecoveryCodes") VALUES (gen_random_uuid(), %s, %s, %s)'.format(t("user")),
                    ("m@x", cipher.encrypt("JBSWY3DPEHPK3PXP", KEY), ",".join(cipher.encrypt(str(i), KEY) for i in range(3))),
                )
                conn.execute(
                    "INSERT INTO {} VALUES ('features.ldap', %s, true)".format(t("settings")),
                    (json.dumps({"bindingAdminPassword": cipher.encrypt("pw", KEY)}),),
                )
                for i, value in enumerate(TRICKY):
                    conn.execute("INSERT INTO {} VALUES (%s, %s)".format(t("tricky")), (i, value))
                conn.execute("INSERT INTO {} SELECT g, repeat('payload ', 50) FROM generate_series(1, 3000) g".format(t("execution_data")))
        yield {"name": name, "creds": creds}
    finally:
        with psycopg.connect(DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


DUMPS = [
    ("custom", None),
    ("custom", "zstd"),
    ("custom", "gzip"),
    ("directory", None),
    ("tar", None),
    ("tar", "gzip"),
    ("plain", None),
    ("plain", "zstd"),
    ("plain", "gzip"),
]


@pytest.fixture(scope="module")
def dumps(n8n_pg: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str | None], Path]:
    folder = tmp_path_factory.mktemp("dumps")
    made: dict[tuple[str, str | None], Path] = {}
    flags = {"custom": "c", "directory": "d", "tar": "t", "plain": "p"}
    for fmt, flag in flags.items():
        path = folder / ("dump-" + fmt)
        subprocess.run(["pg_dump", "-F", flag, "-f", str(path), n8n_pg["name"]], env=pg_env(), check=True)
        made[(fmt, None)] = path
    for fmt, compression in DUMPS:
        if compression is None:
            continue
        src = made[(fmt, None)]
        dest = src.with_name(src.name + (".zst" if compression == "zstd" else ".gz"))
        if compression == "zstd":
            if not shutil.which("zstd"):
                continue
            subprocess.run(["zstd", "-q", "-o", str(dest), str(src)], check=True)
        else:
            dest.write_bytes(gzip.compress(src.read_bytes()))
        made[(fmt, compression)] = dest
    return made


@needs_pg
@pytest.mark.parametrize(("fmt", "compression"), DUMPS)
def test_real_dumps_read_back_exactly(dumps: dict[tuple[str, str | None], Path], fmt: str, compression: str | None) -> None:
    if (fmt, compression) not in dumps:
        pytest.skip("zstd not installed")
    path = dumps[(fmt, compression)]
    assert dr.detect_format(str(path)) == (fmt, compression)
    public = dr.PgDump(str(path))
    assert {"credentials_entity", "deployment_key", "user", "settings", "tricky", "execution_data"} <= set(public.tables())
    blocks = {b.table: (b.columns, list(b.rows)) for b in public.read({"tricky": ["v", "id", "nope"], "credentials_entity": ["id", "name"]})}
    assert blocks["tricky"][0] == ["v", "id"]
    assert sorted(blocks["tricky"][1], key=lambda r: int(r[1] or 0)) == [(v, str(i)) for i, v in enumerate(TRICKY)]
    assert len(blocks["credentials_entity"][1]) == 40
    assert ("c007", "Cred\tc007\\") in blocks["credentials_entity"][1]

    prefixed = dr.PgDump(str(path), schema="auto", table_prefix="n8n_")
    assert "credentials_entity" in prefixed.tables()
    assert "n8n_credentials_entity" not in prefixed.tables()
    assert dr.PgDump(str(path), schema="nowhere").tables() == {}


@needs_pg
@pytest.mark.parametrize(("fmt", "compression"), [("custom", None), ("directory", None), ("plain", "gzip"), ("custom", "zstd")])
def test_key_check_on_dumps(dumps: dict[tuple[str, str | None], Path], fmt: str, compression: str | None) -> None:
    if (fmt, compression) not in dumps:
        pytest.skip("zstd not installed")
    path = str(dumps[(fmt, compression)])
    for schema, prefix in (("public", ""), ("auto", "n8n_")):
        good = kc.check_artifact(path, KEY, schema=schema, table_prefix=prefix)
        assert good.passed, good.summary()
        assert good.categories["credentials"].ok == 40
        assert good.categories["deployment_keys"].ok == 2
        assert good.categories["mfa"].ok == 2
        assert good.categories["settings"].ok == 1
        assert "execution_data" not in good.tables_found
    bad = kc.check_artifact(path, "wrong", artifact_format=fmt)
    assert bad.categories["credentials"].failed == 40
    assert {f.label for f in bad.categories["credentials"].failures} >= {"Cred\tc000\\"}
    assert "wrong" not in json.dumps([f.as_dict() for f in bad.categories["credentials"].failures]).replace("wrong key", "")


@needs_pg
def test_stopping_early_leaves_no_pg_restore_behind(dumps: dict[tuple[str, str | None], Path]) -> None:
    reader = dr.PgDump(str(dumps[("custom", "zstd")] if ("custom", "zstd") in dumps else dumps[("custom", None)]))
    blocks = reader.read({"execution_data": ["id", "data"], "tricky": ["v"]})
    block = next(blocks)
    next(block.rows)
    blocks.close()  # GeneratorExit runs the cleanup: pg_restore (and zstd) are terminated and reaped
    children = subprocess.run(["ps", "--ppid", str(os.getpid()), "-o", "comm="], capture_output=True, text=True, check=False).stdout
    assert "pg_restore" not in children and "zstd" not in children


@needs_pg
def test_pg_restore_errors_are_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pgdump"
    broken.write_bytes(b"PGDMP\x01\x0e\x00\x04\x08\x01" + b"\xff" * 64)
    with pytest.raises(dr.DumpError, match="pg_restore"):
        dr.PgDump(str(broken)).tables()
    with pytest.raises(kc.KeyCheckError, match="pg_restore"):
        kc.check_artifact(str(broken), KEY)
