"""Credentials into a target under its own key: desired state, overrides, plan, import through a fake CLI.

The fake CLI does what ``n8n import:credentials`` does in 1.123.81, 2.38.7 and 2.40.7 with
a ``data`` that is a string (stores it as given, upserts by id) and records what it was
handed, so the tests can prove that only ciphertext under the target's key reaches it, in
a 0600 file inside a 0700 folder that is gone afterwards. Real n8n: the integration tests.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _cipher as cipher
from ansible_collections.lifeboat.n8n.plugins.module_utils import _rebuild_credentials as rc
from ansible_collections.lifeboat.n8n.plugins.module_utils._activation import N8nCli
from ansible_collections.lifeboat.n8n.plugins.module_utils._credentials_export import CredentialsError
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase

TARGET_KEY = "unit-target-instance-key"
SOURCE_KEY = "unit-source-instance-key"

INDEX = [
    {"id": "c1", "name": "Token", "type": "httpHeaderAuth", "file": "c1.vault", "digest": "x"},
    {"id": "c2", "name": "Basic", "type": "httpBasicAuth", "file": "c2.vault", "digest": "y"},
]
PAYLOADS = [
    {"lifeboat_n8n_credential": {"id": "c1", "type": "httpHeaderAuth", "data": {"name": "X-Token", "value": "dev-token"}}},
    {"id": "c2", "type": "httpBasicAuth", "data": {"user": "dev", "password": "dev-password"}},
]


# ------------------------------------------------------------ desired state
def test_index_and_payloads_join_by_id() -> None:
    desired = rc.desired_credentials(INDEX, PAYLOADS)
    assert desired == [
        {"id": "c1", "name": "Token", "type": "httpHeaderAuth", "data": {"name": "X-Token", "value": "dev-token"}, "source": "artifacts"},
        {"id": "c2", "name": "Basic", "type": "httpBasicAuth", "data": {"user": "dev", "password": "dev-password"}, "source": "artifacts"},
    ]


@pytest.mark.parametrize(
    ("index", "payloads", "message"),
    [
        (INDEX, [{"id": "c1", "type": "httpBasicAuth", "data": {}}], "its vault file says type"),
        (INDEX, [{"id": "zz", "type": "t", "data": {}}], "does not list them"),
        (INDEX + INDEX[:1], [], "listed twice"),
        ([{"id": "c1", "type": "t"}], [], "the name of credential c1"),
        (INDEX, [{"id": "c1", "type": "httpHeaderAuth", "data": "text"}], "its data is not an object"),
        (INDEX, ["not a dict"], "expected a dict"),
    ],
)
def test_inconsistent_artifacts_are_refused(index: list[Any], payloads: list[Any], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        rc.desired_credentials(index, payloads)


def test_missing_payload_needs_an_override() -> None:
    desired = rc.desired_credentials(INDEX, PAYLOADS[:1])
    assert desired[1]["data"] is None
    with pytest.raises(CredentialsError, match=r"c2 \(Basic\): they have neither a vault file nor an override"):
        rc.merge_overrides(desired, {})
    merged = rc.merge_overrides(desired, {"Basic": {"data": {"user": "prod", "password": "p"}}})
    assert merged[1]["data"] == {"user": "prod", "password": "p"} and merged[1]["source"] == "override"


@pytest.mark.parametrize(
    ("overrides", "expected_data", "expected_name"),
    [
        ({"c1": {"data": {"name": "X-Token", "value": "prod"}}}, {"name": "X-Token", "value": "prod"}, "Token"),
        ({"Token": {"data": {"value": "prod"}}}, {"value": "prod"}, "Token"),  # replaced whole, never merged
        ({"c1": {"data": {"value": "prod"}, "name": "Prod token"}}, {"value": "prod"}, "Prod token"),
        ({}, {"name": "X-Token", "value": "dev-token"}, "Token"),
    ],
)
def test_overrides_by_id_or_name_replace_the_data(overrides: dict[str, Any], expected_data: dict[str, Any], expected_name: str) -> None:
    merged = rc.merge_overrides(rc.desired_credentials(INDEX, PAYLOADS), overrides)
    assert merged[0]["data"] == expected_data and merged[0]["name"] == expected_name


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nope": {"data": {}}}, "no credential in the artifacts has that id or name"),
        ({"c1": {"value": "x"}}, "must be a dict with a data dict"),
        ({"c1": {"data": {}, "secret": 1}}, "unknown key"),
        ({"c1": {"data": {}}, "Token": {"data": {}}}, "two overrides"),
    ],
)
def test_bad_overrides_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        rc.merge_overrides(rc.desired_credentials(INDEX, PAYLOADS), overrides)


def test_an_ambiguous_name_must_be_an_id() -> None:
    index = [dict(INDEX[0]), dict(INDEX[1], name="Token")]
    with pytest.raises(CredentialsError, match="several credentials have that name"):
        rc.merge_overrides(rc.desired_credentials(index, PAYLOADS), {"Token": {"data": {}}})


def test_require_overrides_names_every_uncovered_credential_and_no_secret() -> None:
    with pytest.raises(CredentialsError) as error:
        rc.merge_overrides(rc.desired_credentials(INDEX, PAYLOADS), {"c1": {"data": {"value": "prod"}}}, require=True)
    text = str(error.value)
    assert "c2 (Basic)" in text and "c1" not in text.split(":", maxsplit=1)[0] and "rebuild_require_credential_overrides" in text
    assert "dev-password" not in text and "prod" not in text


# -------------------------------------------------------------------- plan
@pytest.mark.parametrize(
    ("current", "action", "changes"),
    [
        ({}, "create", ["name", "type", "data"]),
        ({"c1": {"name": "Token", "type": "httpHeaderAuth", "data": {"value": "v"}}}, "unchanged", []),
        ({"c1": {"name": "Old", "type": "httpHeaderAuth", "data": {"value": "v"}}}, "update", ["name"]),
        ({"c1": {"name": "Token", "type": "httpHeaderAuth", "data": {"value": "w"}}}, "update", ["data"]),
        ({"c1": {"name": "Token", "type": "httpHeaderAuth", "data": None}}, "update", ["data"]),  # does not decrypt
        ({"c1": {"name": "Token", "type": "oAuth2Api", "data": {"value": "v"}}}, "update", ["type"]),
    ],
)
def test_plan(current: dict[str, Any], action: str, changes: list[str]) -> None:
    step = rc.plan(current, [{"id": "c1", "name": "Token", "type": "httpHeaderAuth", "data": {"value": "v"}, "source": "artifacts"}])[0]
    assert (step["action"], step["changes"]) == (action, changes)


# ---------------------------------------------------------- import (fake CLI)
class Target:
    """A target n8n database (2.x shaped: DEKs seeded as n8n does) and a fake ``n8n import:credentials``."""

    def __init__(self, path: Path, key: str = TARGET_KEY, major: int = 2, legacy_dek: str | None = None) -> None:
        self.path, self.key = path, key
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE credentials_entity (id varchar(36) PRIMARY KEY, name varchar(128), data text, type varchar(128))")
        if major >= 2:
            conn.execute("CREATE TABLE deployment_key (id varchar(36) PRIMARY KEY, type varchar(64), value text, algorithm varchar(20), status varchar(20))")
            conn.execute(
                "INSERT INTO deployment_key VALUES ('DekLegacyCbc0001', 'data_encryption', ?, 'aes-256-cbc', 'inactive')",
                (cipher.wrap_dek(legacy_dek or key, key),),
            )
        conn.commit()
        conn.close()
        self.calls: list[dict[str, Any]] = []
        self.store = True

    def open(self) -> N8nDatabase:
        return N8nDatabase(DatabaseConfig(type="sqlite", path=str(self.path)))

    def insert(self, cred_id: str, name: str, cred_type: str, data: dict[str, Any], key: str | None = None) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute("INSERT INTO credentials_entity VALUES (?, ?, ?, ?)", (cred_id, name, cipher.encrypt(json.dumps(data), key or self.key), cred_type))

    def runner(self, argv: list[str], env: Any, timeout: float) -> tuple[int, str, str]:
        assert argv[:2] == ["n8n", "import:credentials"], argv
        path = argv[2].split("=", 1)[1]
        folder = os.path.dirname(path)
        raw = Path(path).read_text()
        self.calls.append({"file_mode": stat.S_IMODE(os.stat(path).st_mode), "folder_mode": stat.S_IMODE(os.stat(folder).st_mode),
                           "raw": raw, "folder": folder})
        if self.store:
            with sqlite3.connect(self.path) as conn:
                for item in json.loads(raw):
                    assert isinstance(item["data"], str)  # n8n keeps a string as given
                    conn.execute("INSERT OR REPLACE INTO credentials_entity (id, name, data, type) VALUES (?, ?, ?, ?)",
                                 (item["id"], item["name"], item["data"], item["type"]))
        return 0, f"Successfully imported {len(json.loads(raw))} credentials.", ""

    def cli(self) -> N8nCli:
        return N8nCli(["n8n"], {"N8N_ENCRYPTION_KEY": self.key}, runner=self.runner)

    def run(self, desired: list[dict[str, Any]], check_mode: bool = False, tmp_dir: str | None = None) -> dict[str, Any]:
        return rc.import_credentials(self.open, self.key, desired, cli_factory=self.cli, check_mode=check_mode, tmp_dir=tmp_dir)


def desired(token: str = "prod-token") -> list[dict[str, Any]]:
    return rc.merge_overrides(rc.desired_credentials(INDEX, PAYLOADS), {"c1": {"data": {"name": "X-Token", "value": token}}})


@pytest.mark.parametrize("major", [1, 2])
def test_import_encrypts_with_the_target_key_and_converges(tmp_path: Path, major: int) -> None:
    target = Target(tmp_path / "t.sqlite", major=major)
    plan = target.run(desired(), check_mode=True)
    assert plan["changed"] and (plan["created"], plan["updated"]) == (2, 0) and target.calls == []

    result = target.run(desired(), tmp_dir=str(tmp_path / "stage"))
    assert result["changed"] and result["created"] == 2
    call = target.calls[0]
    assert (call["file_mode"], call["folder_mode"]) == (0o600, 0o700)
    assert not os.path.exists(call["folder"])  # removed right after the import
    for plaintext in ("prod-token", "dev-password", "X-Token", '"user"'):
        assert plaintext not in call["raw"]
    for item in json.loads(call["raw"]):
        assert item["data"].startswith("U2FsdGVkX1")  # OpenSSL Salted__ CBC, n8n's unprefixed format
        assert json.loads(cipher.decrypt(item["data"], TARGET_KEY)) in ({"name": "X-Token", "value": "prod-token"}, {"user": "dev", "password": "dev-password"})
        with pytest.raises(cipher.CipherError):
            cipher.decrypt(item["data"], SOURCE_KEY)

    again = target.run(desired())
    assert not again["changed"] and again["unchanged"] == 2 and len(target.calls) == 1


def test_only_changed_credentials_are_imported(tmp_path: Path) -> None:
    target = Target(tmp_path / "t.sqlite")
    target.insert("c2", "Basic", "httpBasicAuth", {"user": "dev", "password": "dev-password"})
    target.insert("c1", "Token", "httpHeaderAuth", {"name": "X-Token", "value": "old"})
    target.insert("extra", "Local only", "httpBasicAuth", {"user": "x"})
    result = target.run(desired())
    assert [(s["id"], s["action"], s["changes"]) for s in result["credentials"]] == [("c1", "update", ["data"]), ("c2", "unchanged", [])]
    assert result["extra"] == ["extra"]
    assert [item["id"] for item in json.loads(target.calls[0]["raw"])] == ["c1"]


def test_a_credential_under_a_foreign_key_is_replaced(tmp_path: Path) -> None:
    target = Target(tmp_path / "t.sqlite")
    target.insert("c1", "Token", "httpHeaderAuth", {"name": "X-Token", "value": "prod-token"}, key=SOURCE_KEY)
    plan = target.run(desired(), check_mode=True)
    assert plan["undecryptable"] == ["c1"] and plan["credentials"][0]["action"] == "update"


def test_an_import_that_stores_nothing_fails_the_check(tmp_path: Path) -> None:
    target = Target(tmp_path / "t.sqlite")
    target.store = False
    with pytest.raises(CredentialsError, match="are not as wanted afterwards: c1 \\(Token\\)"):
        target.run(desired())


def test_a_failing_cli_is_reported_without_secrets(tmp_path: Path) -> None:
    target = Target(tmp_path / "t.sqlite")

    def fail(argv: list[str], env: Any, timeout: float) -> tuple[int, str, str]:
        return 1, "", "Error: Failed to find owner. " + TARGET_KEY

    cli = N8nCli(["n8n"], {"N8N_ENCRYPTION_KEY": TARGET_KEY}, runner=fail)
    with pytest.raises(Exception) as error:
        rc.import_credentials(target.open, TARGET_KEY, desired(), cli_factory=lambda: cli)
    assert "Failed to find owner" in str(error.value) and TARGET_KEY not in str(error.value)


def test_a_legacy_dek_other_than_the_instance_key_is_refused(tmp_path: Path) -> None:
    target = Target(tmp_path / "t.sqlite", legacy_dek=secrets.token_hex(16))
    with pytest.raises(CredentialsError, match="legacy data-encryption key"):
        target.run(desired())
    assert target.calls == []


def test_no_cli_no_import(tmp_path: Path) -> None:
    target = Target(tmp_path / "t.sqlite")
    with pytest.raises(CredentialsError, match="give n8n_command"):
        rc.import_credentials(target.open, TARGET_KEY, desired(), cli_factory=None)
