"""Credentials read decrypted for artifacts: keys, DEKs, digests, the index, and no secret in errors.

The databases are small n8n-shaped SQLite files encrypted with our own _cipher; the proof
against real n8n is tests/integration/roles/test_export_rebuild.py.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _cipher as cipher
from ansible_collections.lifeboat.n8n.plugins.module_utils import _credentials_export as cx
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase
from hypothesis import given, settings
from hypothesis import strategies as st

KEY = "unit-source-instance-key"
OTHER = "some-other-instance-key"


class SourceDb:
    """credentials_entity (+ 2.x deployment_key, projects) with plaintexts recorded."""

    def __init__(self, path: Path, major: int = 2, key: str = KEY, projects: bool = True) -> None:
        self.path, self.key, self.major = path, key, major
        self.conn = sqlite3.connect(path)
        self.secrets: list[str] = []
        self.conn.execute(
            "CREATE TABLE credentials_entity (id varchar(36) PRIMARY KEY, name varchar(128), data text, type varchar(128), "
            '"isManaged" boolean DEFAULT 0)'
        )
        self.dek_id, self.dek = "DekActive0000001", secrets.token_hex(32)
        if major >= 2:
            self.conn.execute(
                "CREATE TABLE deployment_key (id varchar(36) PRIMARY KEY, type varchar(64), value text, algorithm varchar(20), status varchar(20))"
            )
            rows = [
                ("DekLegacyCbc0001", "data_encryption", cipher.wrap_dek(key, key), "aes-256-cbc", "inactive"),
                (self.dek_id, "data_encryption", cipher.wrap_dek(self.dek, key), "aes-256-gcm", "active"),
                ("InstanceId000001", "instance.id", "abc", None, "active"),
            ]
            self.conn.executemany("INSERT INTO deployment_key VALUES (?, ?, ?, ?, ?)", rows)
        if projects:
            self.conn.execute("CREATE TABLE project (id varchar(36) PRIMARY KEY, name varchar(255), type varchar(36))")
            self.conn.execute('CREATE TABLE shared_credentials ("credentialsId" varchar(36), "projectId" varchar(36), role text)')
            self.conn.execute("INSERT INTO project VALUES ('P1', 'Owner <o@x>', 'personal'), ('P2', 'Team', 'team')")

    def credential(self, cred_id: str, name: str, data: dict[str, Any], *, prefixed: bool = False, managed: bool = False,
                   key: str | None = None, project: str = "P1") -> None:
        text = json.dumps(data)
        value = self.dek_id + ":" + cipher.gcm_encrypt(text, bytes.fromhex(self.dek)) if prefixed else cipher.encrypt(text, key or self.key)
        self.conn.execute("INSERT INTO credentials_entity VALUES (?, ?, ?, ?, ?)", (cred_id, name, value, "httpBasicAuth", managed))
        if self.conn.execute("SELECT name FROM sqlite_master WHERE name = 'shared_credentials'").fetchone():
            self.conn.execute("INSERT INTO shared_credentials VALUES (?, ?, 'credential:owner')", (cred_id, project))

    def secret(self) -> str:
        value = "s3cr3t-" + secrets.token_hex(6)
        self.secrets.append(value)
        return value

    def db(self) -> N8nDatabase:
        self.conn.commit()
        return N8nDatabase(DatabaseConfig(type="sqlite", path=str(self.path)), readonly=True)


@pytest.fixture
def source(tmp_path: Path) -> SourceDb:
    return SourceDb(tmp_path / "src.sqlite")


# ---------------------------------------------------------------- the key
def write_config(path: Path, key: str) -> str:
    path.write_text(json.dumps({"encryptionKey": key}))
    return str(path)


@pytest.mark.parametrize(
    ("env", "file", "config", "expected"),
    [
        (KEY, None, None, KEY),
        (None, None, KEY, KEY),
        (KEY, None, KEY, KEY),
        (None, KEY, KEY, KEY),
    ],
)
def test_instance_key_from_its_sources(tmp_path: Path, env: str | None, file: str | None, config: str | None, expected: str) -> None:
    key_file = None
    if file:
        (tmp_path / "keyfile").write_text(file + "\n")
        key_file = str(tmp_path / "keyfile")
    config_path = write_config(tmp_path / "config", config) if config else str(tmp_path / "missing")
    assert cx.instance_key(env, key_file, config_path) == expected


def test_instance_key_refuses_disagreeing_sources_without_showing_them(tmp_path: Path) -> None:
    with pytest.raises(cx.CredentialsError) as error:
        cx.instance_key(KEY, None, write_config(tmp_path / "config", OTHER))
    assert "disagree" in str(error.value) and "lbfp1:" in str(error.value)
    assert KEY not in str(error.value) and OTHER not in str(error.value)


def test_instance_key_needs_one_source(tmp_path: Path) -> None:
    with pytest.raises(cx.CredentialsError, match="Has n8n started"):
        cx.instance_key(None, None, str(tmp_path / "missing"))


# ------------------------------------------------------------------ read
@pytest.mark.parametrize("major", [1, 2])
def test_every_credential_decrypts_legacy_and_dek_values(tmp_path: Path, major: int) -> None:
    src = SourceDb(tmp_path / "src.sqlite", major=major)
    src.credential("b-cred", "Basic", {"user": "u", "password": src.secret()})
    src.credential("a-cred", "Token", {"value": src.secret()}, prefixed=major >= 2)
    with src.db() as db:
        result = cx.export_credentials(db, KEY, "digest-key")
    assert [c["id"] for c in result["credentials"]] == ["a-cred", "b-cred"]
    assert result["credentials"][0]["data"] == {"value": src.secrets[1]}
    assert result["credentials"][1]["data"]["password"] == src.secrets[0]
    assert result["key_fingerprint"].startswith("lbfp1:")
    index_text = json.dumps(result["index"])
    for secret in src.secrets:
        assert secret not in index_text
    assert result["index"]["credentials"][0] == {
        "id": "a-cred",
        "name": "Token",
        "type": "httpBasicAuth",
        "file": "a-cred.vault",
        "digest": result["credentials"][0]["digest"],
        "project": "Owner <o@x>",
    }


def test_managed_credentials_are_left_out_unless_asked(source: SourceDb) -> None:
    source.credential("free", "n8n free credits", {"apiKey": source.secret()}, managed=True)
    source.credential("mine", "Mine", {"value": source.secret()})
    with source.db() as db:
        default = cx.export_credentials(db, KEY, "k")
        everything = cx.export_credentials(db, KEY, "k", include_managed=True)
    assert [c["id"] for c in default["credentials"]] == ["mine"]
    assert default["managed_skipped"] == [{"id": "free", "name": "n8n free credits", "type": "httpBasicAuth"}]
    assert [c["id"] for c in everything["credentials"]] == ["free", "mine"]


def test_a_credential_under_another_key_fails_the_export_by_id_and_name_only(source: SourceDb) -> None:
    source.credential("ok", "Fine", {"value": source.secret()})
    source.credential("bad", "Foreign", {"value": source.secret()}, key=OTHER)
    with source.db() as db, pytest.raises(cx.CredentialsError) as error:
        cx.export_credentials(db, KEY, "k")
    text = str(error.value)
    assert "1 of 2" in text and "bad (Foreign)" in text and "nothing was exported" in text
    for secret in [*source.secrets, KEY, OTHER]:
        assert secret not in text


def test_a_database_without_credentials_table_is_named(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.sqlite").close()
    config = DatabaseConfig(type="sqlite", path=str(tmp_path / "empty.sqlite"))
    with N8nDatabase(config) as db, pytest.raises(cx.CredentialsError, match="no credentials_entity"):
        cx.export_credentials(db, KEY, "k")


def test_without_projects_there_is_no_project_field(tmp_path: Path) -> None:
    src = SourceDb(tmp_path / "old.sqlite", major=1, projects=False)
    src.credential("x", "X", {"a": 1})
    with src.db() as db:
        result = cx.export_credentials(db, KEY, "k")
    assert "project" not in result["index"]["credentials"][0]


# --------------------------------------------------------------- digests
RECORD = {"id": "c1", "name": "Cred", "type": "httpBasicAuth", "data": {"user": "u", "password": "p"}}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"name": "Renamed"}, True),  # names live in the index, outside the digest
        ({"data": {"password": "p", "user": "u"}}, True),  # key order does not matter
        ({"data": {"user": "u", "password": "q"}}, False),
        ({"type": "httpHeaderAuth"}, False),
        ({"id": "c2"}, False),
    ],
)
def test_digest_changes_exactly_when_the_secret_part_changes(change: dict[str, Any], same: bool) -> None:
    assert (cx.credential_digest("k", RECORD) == cx.credential_digest("k", {**RECORD, **change})) is same


def test_digest_depends_on_the_key_and_needs_one() -> None:
    assert cx.credential_digest("k1", RECORD) != cx.credential_digest("k2", RECORD)
    assert cx.credential_digest("k1", RECORD).startswith("hmac-sha256:")
    with pytest.raises(cx.CredentialsError, match="digest key"):
        cx.credential_digest("", RECORD)


def test_digest_key_is_what_the_role_derives_with_jinja() -> None:
    # ('lifeboat.n8n/credential-digest/v1:' ~ secret) | hash('sha256')
    secret = "vault-secret"
    assert cx.digest_key(secret) == hashlib.sha256(("lifeboat.n8n/credential-digest/v1:" + secret).encode()).hexdigest()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none()), max_size=6))
def test_digest_is_a_function_of_the_data(data: dict[str, Any]) -> None:
    shuffled = dict(reversed(list(data.items())))
    record = {"id": "x", "type": "t", "data": data}
    assert cx.credential_digest("k", record) == cx.credential_digest("k", {**record, "data": shuffled})


@pytest.mark.parametrize(("cred_id", "file"), [("abc", "abc.vault"), ("a/b c", "a%2Fb%20c.vault"), ("..", "...vault")])
def test_vault_file_names_are_safe(cred_id: str, file: str) -> None:
    assert cx.vault_filename(cred_id) == file


def test_vault_payload_and_index_document_shape() -> None:
    assert cx.vault_payload(RECORD) == {"lifeboat_n8n_credential": {"id": "c1", "type": "httpBasicAuth", "data": RECORD["data"]}}
    entries = [cx.index_entry({**RECORD, "id": i}, "d") for i in ("b", "a")]
    doc = cx.index_document(entries)
    assert doc["format"] == "lifeboat.n8n/credentials" and doc["formatVersion"] == 1 and doc["count"] == 2
    assert [e["id"] for e in doc["credentials"]] == ["a", "b"]
    assert all("data" not in e for e in doc["credentials"])
