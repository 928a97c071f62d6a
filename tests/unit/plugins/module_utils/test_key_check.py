"""The key check on SQLite databases shaped like n8n's, encrypted with our own _cipher.

Compatibility with real n8n is proven in tests/integration/test_key_check.py; here the
logic: every location and container, prefixed and legacy values, wrong keys (including
the one-in-256 wrong key that passes the padding check), table prefixes, streaming over
pages, worker processes, and that no report ever carries a key or a value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import resource
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _cipher as cipher
from ansible_collections.lifeboat.n8n.plugins.module_utils import _encrypted_data as registry
from ansible_collections.lifeboat.n8n.plugins.module_utils import _key_check as kc
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase

KEY = "unit-test-instance-key"
OTHER = "another-instance-key"

SCHEMA = {
    "credentials_entity": "id varchar(36) primary key, name varchar(128), data text, type varchar(128)",
    "deployment_key": "id varchar(36) primary key, type varchar(64), value text, algorithm varchar(20), status varchar(20)",
    "user": "id varchar(36) primary key, email varchar(255), mfaSecret text, mfaRecoveryCodes text default ''",
    "settings": "key varchar(255) primary key, value text, loadOnStartup boolean",
    "user_api_keys": "id varchar(36) primary key, userId varchar(36), label varchar(100), apiKey varchar(255)",
    "secrets_provider_connection": "id integer primary key, providerKey varchar(128), type varchar(36), encryptedSettings text",
    "dynamic_credential_entry": "credential_id varchar(16), subject_id varchar(16), resolver_id varchar(16), data text, "
    "primary key (credential_id, subject_id, resolver_id)",
    "migrations": "id integer primary key, timestamp bigint, name varchar(255)",
}
V1_TABLES = ("credentials_entity", "user", "settings", "user_api_keys", "migrations")


def jwt(secret: bytes, payload: dict[str, Any]) -> str:
    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + enc(json.dumps(payload).encode())
    return head + "." + enc(hmac.new(secret, head.encode(), hashlib.sha256).digest())


class N8nDb:
    """A small n8n-shaped SQLite database; ``secrets`` collects every plaintext written."""

    def __init__(self, path: Path, major: int = 2, key: str = KEY, prefix: str = "") -> None:
        self.path, self.major, self.key, self.prefix = path, major, key, prefix
        self.conn = sqlite3.connect(path)
        self.secrets: list[str] = []
        self.dek_id: str | None = None
        self.dek: str | None = None
        for table, columns in SCHEMA.items():
            if major == 1 and table not in V1_TABLES:
                continue
            self.conn.execute(f'CREATE TABLE "{prefix}{table}" ({columns})')
        if major >= 2:
            self.dek_id, self.dek = "DekActive0000001", secrets.token_hex(32)
            self.deployment_key("instance.id", hashlib.sha256(key.encode()).hexdigest(), None, row_id="InstanceId000001")
            self.deployment_key("signing.jwt", cipher.wrap_dek("a" * 64, key), "aes-256-gcm", row_id="SigningJwt000001")
            self.deployment_key("data_encryption", cipher.wrap_dek(key, key), "aes-256-cbc", "inactive", row_id="DekLegacyCbc0001")
            self.deployment_key("data_encryption", cipher.wrap_dek(self.dek, key), "aes-256-gcm", "active", row_id=self.dek_id)
        self.conn.execute(f'INSERT INTO "{prefix}settings" VALUES (?, ?, 1)', ("features.ldap", json.dumps({"bindingAdminPassword": ""})))
        self.conn.execute(f'INSERT INTO "{prefix}user" (id, email, mfaRecoveryCodes) VALUES (?, ?, ?)', ("owner-id", "o@x", ""))

    def insert(self, table: str, **values: Any) -> None:
        cols = ", ".join(f'"{c}"' for c in values)
        self.conn.execute('INSERT INTO "{}{}" ({}) VALUES ({})'.format(self.prefix, table, cols, ", ".join("?" * len(values))), list(values.values()))

    def secret(self) -> str:
        value = "s3cr3t-" + secrets.token_hex(8)
        self.secrets.append(value)
        return value

    def encrypt(self, plaintext: str, key: str | None = None, prefixed: bool = False) -> str:
        if prefixed:
            assert self.dek and self.dek_id
            return self.dek_id + ":" + cipher.gcm_encrypt(plaintext, bytes.fromhex(self.dek))
        return cipher.encrypt(plaintext, key or self.key)

    def credential(self, cred_id: str, key: str | None = None, prefixed: bool = False, data: str | None = None) -> None:
        plaintext = data if data is not None else json.dumps({"user": "u", "password": self.secret()})
        self.insert("credentials_entity", id=cred_id, name="Cred " + cred_id, type="httpBasicAuth", data=self.encrypt(plaintext, key, prefixed))

    def deployment_key(self, row_type: str, value: str, algorithm: str | None, status: str = "active", row_id: str | None = None) -> str:
        row_id = row_id or secrets.token_hex(8)
        self.insert("deployment_key", id=row_id, type=row_type, value=value, algorithm=algorithm, status=status)
        return row_id

    def close(self) -> Path:
        self.conn.commit()
        self.conn.close()
        return self.path


def check(path: Path, key: str = KEY, **kwargs: Any) -> kc.KeyCheckReport:
    prefix = kwargs.pop("prefix", "")
    with N8nDatabase(DatabaseConfig(type="sqlite", path=str(path), table_prefix=prefix), readonly=True) as db:
        return kc.check_key(db, key, **kwargs)


def assert_no_secrets(report: kc.KeyCheckReport, db: N8nDb, *keys: str) -> None:
    text = json.dumps(report.as_dict()) + report.summary()
    for value in [*db.secrets, *keys]:
        assert value not in text


# ----------------------------------------------------------------- basics
@pytest.mark.parametrize("major", [1, 2])
def test_right_key_passes_wrong_key_names_every_credential(tmp_path: Path, major: int) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=major)
    for i in range(5):
        db.credential(f"cred{i}")
    path = db.close()

    good = check(path)
    assert good.passed and good.failed == 0
    assert good.categories["credentials"].ok == 5
    assert good.key_fingerprint.startswith("lbfp1:")
    assert "credentials_entity" in good.tables_found
    assert ("deployment_key" in good.tables_found) == (major == 2)
    if major == 2:
        # instance.id is plaintext: skipped; the other three unwrap.
        assert (good.categories["deployment_keys"].ok, good.categories["deployment_keys"].skipped) == (3, 1)

    bad = check(path, OTHER)
    assert not bad.passed
    cred = bad.categories["credentials"]
    assert (cred.ok, cred.failed) == (0, 5)
    assert sorted(f.id for f in cred.failures) == [f"cred{i}" for i in range(5)]
    assert {f.label for f in cred.failures} == {f"Cred cred{i}" for i in range(5)}
    assert "credentials:cred0" in bad.failed_ids
    assert_no_secrets(bad, db, KEY, OTHER)
    assert_no_secrets(good, db, KEY, OTHER)


def test_result_dict_uses_count_names_that_do_not_clash_with_ansible(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=1)
    db.credential("c1")
    result = check(db.close(), OTHER).as_dict()
    assert "failed" not in result and "skipped" not in result  # Ansible's task flags
    assert result["failed_count"] == 1 and result["passed"] is False
    assert result["categories"]["credentials"]["failed_ids"] == ["c1"]


def test_only_the_credentials_under_another_key_fail(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    for i in range(10):
        db.credential(f"c{i:02d}", key=OTHER if i % 3 == 0 else None)
    report = check(db.close())
    assert report.categories["credentials"].ok == 6
    assert sorted(f.id for f in report.categories["credentials"].failures) == ["c00", "c03", "c06", "c09"]
    # A wrong key yields valid PKCS#7 padding about once in 256 tries (random salts): then the JSON
    # check is what refuses it, with its own reason.
    assert {f.reason for f in report.categories["credentials"].failures} <= {kc.R_WRONG_KEY, kc.R_NOT_JSON}


def test_a_wrong_key_that_passes_the_padding_check_still_fails(tmp_path: Path) -> None:
    # About one wrong key in 256 yields valid PKCS#7 padding: only the JSON check catches it.
    plaintext = json.dumps({"token": "x" * 40})
    for _attempt in range(20000):
        blob = cipher.encrypt(plaintext, KEY)
        try:
            cipher.cbc_decrypt_raw(blob, cipher.key_bytes(OTHER))
        except cipher.CipherError:
            continue
        break
    else:  # pragma: no cover - 20000 tries without a hit has probability ~ e^-78
        pytest.fail("no padding collision found")
    db = N8nDb(tmp_path / "db.sqlite", major=1)
    db.insert("credentials_entity", id="lucky", name="Lucky", type="t", data=blob)
    report = check(db.close(), OTHER)
    assert report.categories["credentials"].failed == 1
    assert report.categories["credentials"].failures[0].reason == kc.R_NOT_JSON


def test_a_credential_that_is_not_json_fails_even_with_the_right_key(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=1)
    db.credential("c1", data="not json at all")
    db.insert("credentials_entity", id="c2", name="Corrupt", type="t", data="this is not ciphertext")
    report = check(db.close())
    reasons = {f.id: f.reason for f in report.categories["credentials"].failures}
    assert reasons == {"c1": kc.R_NOT_JSON, "c2": kc.R_NOT_CIPHERTEXT}


def test_no_n8n_tables_is_an_error_that_names_prefix_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    with pytest.raises(kc.KeyCheckError, match="table_prefix"):
        check(path)


def test_table_prefix(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2, prefix="n8n_")
    db.credential("c1", prefixed=True)
    db.credential("c2")
    path = db.close()
    report = check(path, prefix="n8n_")
    assert report.categories["credentials"].ok == 2
    assert "credentials_entity" in report.tables_found
    with pytest.raises(kc.KeyCheckError, match="no n8n tables"):
        check(path)


def test_an_empty_instance_passes_with_nothing_verified(tmp_path: Path) -> None:
    report = check(N8nDb(tmp_path / "db.sqlite", major=1).close())
    assert report.passed and report.total == 0
    assert report.categories["settings"].skipped_reasons == {kc.S_EMPTY: 1}


# ----------------------------------------------------------------- 2.x keys
def test_prefixed_values_use_their_data_encryption_key(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    old_dek = secrets.token_hex(32)
    old_id = db.deployment_key("data_encryption", cipher.wrap_dek(old_dek, KEY), "aes-256-gcm", "inactive")
    db.credential("new", prefixed=True)
    db.insert("credentials_entity", id="old", name="Old", type="t", data=old_id + ":" + cipher.gcm_encrypt('{"a":1}', bytes.fromhex(old_dek)))
    db.insert("credentials_entity", id="lost", name="Lost", type="t", data="NoSuchKeyId:" + cipher.gcm_encrypt("{}", bytes.fromhex(old_dek)))
    db.insert("credentials_entity", id="bad", name="Bad", type="t", data="bad id!:AQID")
    db.credential("legacy")
    path = db.close()

    report = check(path)
    cred = report.categories["credentials"]
    assert cred.ok == 3
    assert {f.id: f.reason for f in cred.failures} == {"lost": kc.R_UNKNOWN_DEK, "bad": kc.R_NOT_CIPHERTEXT}

    wrong = check(path, OTHER).categories["credentials"]
    reasons = {f.id: f.reason for f in wrong.failures}
    assert reasons["new"] == reasons["old"] == kc.R_DEK_LOCKED
    assert reasons["legacy"] == kc.R_LEGACY_DEK_LOCKED


def test_deployment_key_row_kinds(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    raw_dek = secrets.token_hex(32)
    cbc_wrapped_dek = cipher.encrypt(secrets.token_hex(32), KEY)
    ids = {
        "plain_signing": db.deployment_key("signing.hmac", secrets.token_hex(32), None),
        "raw_dek": db.deployment_key("data_encryption", raw_dek, "aes-256-gcm", "inactive"),
        "cbc_dek": db.deployment_key("data_encryption", cbc_wrapped_dek, "aes-256-gcm", "inactive"),
        "jwe": db.deployment_key("jwe.private-key", cipher.encrypt(json.dumps({"kty": "RSA", "d": db.secret()}), KEY), "RSA-OAEP-256"),
        "foreign": db.deployment_key("signing.binary_data", cipher.wrap_dek("x", OTHER), "aes-256-gcm"),
        "not_hex": db.deployment_key("data_encryption", cipher.wrap_dek("not a dek", KEY), "aes-256-gcm", "inactive"),
    }
    db.insert("credentials_entity", id="under_raw", name="R", type="t", data=ids["raw_dek"] + ":" + cipher.gcm_encrypt("{}", bytes.fromhex(raw_dek)))
    report = check(db.close())
    dk = report.categories["deployment_keys"]
    assert {f.id: f.reason for f in dk.failures} == {ids["foreign"]: kc.R_WRONG_KEY, ids["not_hex"]: kc.R_BAD_DEK}
    # instance.id, the plaintext signing secret and the raw DEK are plaintext: skipped.
    assert dk.skipped_reasons == {kc.S_PLAINTEXT: 3}
    assert dk.ok == 3 + 2  # the builder's three wrapped rows, the CBC-wrapped DEK, the JWE key
    assert report.categories["credentials"].ok == 1  # readable through the plaintext DEK


def test_deployment_keys_are_read_even_when_not_reported(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    db.credential("c1", prefixed=True)
    report = check(db.close(), categories=["credentials"])
    assert list(report.categories) == ["credentials"]
    assert report.categories["credentials"].ok == 1


# ----------------------------------------------------------------- other locations
def test_settings_mfa_external_secrets_and_dynamic_credentials(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    conn = db.conn
    conn.execute("DELETE FROM settings")
    rows = {
        "features.ldap": json.dumps({"bindingAdminPassword": db.encrypt(db.secret()), "loginEnabled": True}),
        "features.sourceControl.sshKeys": json.dumps({"encryptedPrivateKey": db.encrypt(f"-----BEGIN KEY-----\n{db.secret()}\n"), "publicKey": "ssh-ed25519"}),
        "features.sourceControl.httpsCredentials": json.dumps({"encryptedUsername": db.encrypt("u"), "encryptedPassword": db.encrypt(db.secret(), OTHER)}),
        "features.oidc": json.dumps({"clientSecret": db.encrypt(db.secret(), prefixed=True)}),
        "features.saml": json.dumps({"signingPrivateKey": "-----BEGIN PRIVATE KEY----- stored as given"}),
        "feature.externalSecrets": db.encrypt(json.dumps({"vault": {"token": db.secret()}})),
        "credentialsOverwrite": db.encrypt(json.dumps({"oAuth2Api": {"clientSecret": db.secret()}})),
        "userManagement.isInstanceOwnerSetUp": "true",
    }
    for key, value in rows.items():
        db.insert("settings", key=key, value=value, loadOnStartup=1)
    codes = ",".join(db.encrypt(db.secret()) for _code in range(10))
    db.insert("user", id="mfa-user", email="m@x", mfaSecret=db.encrypt("JBSWY3DPEHPK3PXP"), mfaRecoveryCodes=codes)
    broken = codes.rsplit(",", 1)[0] + "," + db.encrypt("code", OTHER)
    db.insert("user", id="mfa-broken", email="b@x", mfaSecret=db.encrypt("JBSWY3DPEHPK3PXP", prefixed=True), mfaRecoveryCodes=broken)
    db.insert("secrets_provider_connection", id=7, providerKey="vault", type="vault", encryptedSettings=db.encrypt(json.dumps({"url": "x"})))
    db.insert("dynamic_credential_entry", credential_id="c", subject_id="s", resolver_id="r", data=db.encrypt(json.dumps({"t": db.secret()}), prefixed=True))
    report = check(db.close())

    settings = report.categories["settings"]
    assert settings.ok == 5  # ldap, ssh key, https username, oidc, overwrites
    assert [(f.id, f.location) for f in settings.failures] == [
        ("features.sourceControl.httpsCredentials#encryptedPassword", "settings.value#features.sourceControl.httpsCredentials/encryptedPassword")
    ]
    assert settings.skipped_reasons == {kc.S_PLAINTEXT: 1}  # the SAML key n8n kept as given
    mfa = report.categories["mfa"]
    assert (mfa.ok, mfa.failed) == (3, 1)
    assert [f.id for f in mfa.failures] == ["mfa-broken"]
    assert mfa.skipped_reasons == {kc.S_EMPTY: 2}  # the owner without MFA
    assert report.categories["external_secrets"].ok == 2  # the settings row and the connection
    assert report.categories["dynamic_credentials"].ok == 1
    assert report.categories["dynamic_credentials"].locations["dynamic_credential_entry.data"]["ok"] == 1
    assert_no_secrets(report, db, KEY)


@pytest.mark.parametrize("major", [1, 2])
def test_api_keys_are_opt_in_and_verify_their_signature(tmp_path: Path, major: int) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=major)
    secret = (hashlib.sha256(KEY[0::2].encode()).hexdigest() if major == 1 else "a" * 64).encode()
    db.insert("user_api_keys", id="k1", userId="u", label="CI", apiKey=jwt(secret, {"sub": "u", "aud": "public-api"}))
    db.insert("user_api_keys", id="k2", userId="u", label="Forged", apiKey=jwt(b"other", {"sub": "u"}))
    db.insert("user_api_keys", id="k3", userId="u", label="Old style", apiKey="n8n_api_" + secrets.token_hex(20))
    path = db.close()
    assert "api_keys" not in check(path).categories
    report = check(path, categories=["all", "api_keys"])
    keys = report.categories["api_keys"]
    assert (keys.ok, keys.failed, keys.skipped) == (1, 1, 1)
    assert [(f.id, f.label) for f in keys.failures] == [("k2", "Forged")]
    wrong = check(path, OTHER, categories=["api_keys"]).categories["api_keys"]
    assert wrong.failed == 2
    if major == 2:
        assert {f.reason for f in wrong.failures} == {kc.R_JWT_SECRET_LOCKED}


def test_unknown_category_is_refused() -> None:
    with pytest.raises(kc.KeyCheckError, match="Unknown key-check categories nope"):
        kc._Checker(kc._DatabaseSource(N8nDatabase(DatabaseConfig(type="sqlite", path="/x"))), KEY, ["nope"], 10, 1)


def test_non_ascii_key_follows_node_encodings(tmp_path: Path) -> None:
    # CBC keys use Node's 'binary' bytes, the GCM wrapping key sha256 of UTF-8.
    key = "cl\u00e9-\u20ac-key"
    db = N8nDb(tmp_path / "db.sqlite", major=2, key=key)
    db.credential("c1")
    db.credential("c2", prefixed=True)
    path = db.close()
    assert check(path, key).categories["credentials"].ok == 2
    assert check(path, "cl\u00e9-\u00ac-key").categories["credentials"].ok == 0  # same CBC bytes, other GCM key


def test_failed_ids_are_capped_but_counts_are_complete(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=1)
    for i in range(30):
        db.credential(f"c{i:02d}")
    report = check(db.close(), OTHER, max_failed_ids=5)
    cred = report.categories["credentials"]
    assert cred.failed == 30 and len(cred.failures) == 5 and cred.failures_truncated


# ----------------------------------------------------------------- volume
def big_db(path: Path, count: int, wrong_every: int = 0) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE credentials_entity ({})".format(SCHEMA["credentials_entity"]))
    password = cipher.key_bytes(KEY)
    rows = []
    for i in range(count):
        key = OTHER if wrong_every and i % wrong_every == 0 else KEY
        plaintext = json.dumps({"user": f"user{i}", "password": "p" * 32, "url": f"https://api.example.com/{i}"})
        rows.append((f"c{i:07d}", f"cred {i}", cipher.encrypt(plaintext, key), "httpBasicAuth"))
    assert password  # key bytes derived once, as the check does
    conn.executemany("INSERT INTO credentials_entity VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return path


def test_pages_and_worker_processes_give_the_same_report(tmp_path: Path) -> None:
    # More rows than one keyset page and than the worker threshold, with failures spread out.
    count = kc.PAGE_ROWS + kc.PARALLEL_MIN_ROWS + 123
    path = big_db(tmp_path / "big.sqlite", count, wrong_every=997)
    one = check(path, KEY, workers=1).as_dict()
    two = check(path, KEY, workers=2).as_dict()
    for result in (one, two):
        result.pop("elapsed_seconds")
    assert one == two
    expected = [f"c{i:07d}" for i in range(0, count, 997)]
    assert one["categories"]["credentials"]["failed_ids"] == expected
    assert one["ok"] == count - len(expected)


def test_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Credentials verified per second (printed; timings are not asserted)."""
    count = int(os.environ.get("LIFEBOAT_KEY_CHECK_BENCH_ROWS", "30000"))
    path = big_db(tmp_path / "bench.sqlite", count)
    lines = []
    for workers in (1, 2):
        before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        report = check(path, workers=workers)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum((a.ru_utime + a.ru_stime) - (b.ru_utime + b.ru_stime) for a, b in zip(after, before))
        assert report.categories["credentials"].ok == count
        lines.append(
            f"key check, {count} credentials, workers={workers}: {count / wall:.0f}/s wall, "
            f"{cpu / count * 1e6:.1f} us CPU per credential ({count / cpu:.0f}/s per free core); load {os.getloadavg()[0]:.1f}"
        )
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_registry_locations_all_have_a_verifier() -> None:
    keyring = kc.Keyring(KEY)
    for loc in registry.LOCATIONS:
        if loc.format == registry.FORMAT_DEPLOYMENT_KEY:
            continue
        status, _reason = kc._Verifier(keyring, loc).cell("")
        assert status == kc.SKIPPED
