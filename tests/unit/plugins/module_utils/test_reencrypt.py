"""Key rotation (``_reencrypt``) on SQLite databases shaped like n8n's, encrypted with our own _cipher.

That real n8n starts and every credential works after a rotation is proven in
tests/integration/roles/test_rotate_key.py; here the logic, location by location: every
container (column, comma-joined recovery codes, JSON paths in settings rows), every
deployment_key kind and legacy form, prefixed values, one transaction with nothing written on
any failure, check mode, idempotence, rotating back, paging, and no secret in any report.
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
from ansible_collections.lifeboat.n8n.plugins.module_utils import _key_check as kc
from ansible_collections.lifeboat.n8n.plugins.module_utils import _reencrypt as rot
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

OLD = "old-instance-key-0001"
NEW = "new-instance-key-0002"
OTHER = "some-third-key-00003"

SCHEMA = {
    "credentials_entity": "id varchar(36) primary key, name varchar(128), data text, type varchar(128)",
    "deployment_key": "id varchar(36) primary key, type varchar(64), value text, algorithm varchar(20), status varchar(20)",
    "user": "id varchar(36) primary key, email varchar(255), mfaSecret text, mfaRecoveryCodes text default ''",
    "settings": "key varchar(255) primary key, value text, loadOnStartup boolean",
    "secrets_provider_connection": "id integer primary key, providerKey varchar(128), encryptedSettings text",
    "dynamic_credential_entry": "credential_id varchar(16), subject_id varchar(16), resolver_id varchar(16), data text, "
    "primary key (credential_id, subject_id, resolver_id)",
    "git_connection": "id varchar(36) primary key, name varchar(128), encryptedPrivateKey text, encryptedUsername text, "
    "encryptedPassword text",
    "migrations": "id integer primary key, timestamp bigint, name varchar(255)",
}
V1_TABLES = ("credentials_entity", "user", "settings", "migrations")


class N8nDb:
    """A small n8n-shaped SQLite database; ``plain`` maps (table, id, where) to the plaintext written."""

    def __init__(self, path: Path, major: int = 2, key: str = OLD, prefix: str = "", legacy_row: bool = True) -> None:
        self.path, self.major, self.key, self.prefix = path, major, key, prefix
        self.conn = sqlite3.connect(path)
        self.secrets: list[str] = []
        self.dek_id, self.dek = "DekActive0000001", secrets.token_hex(32)
        self.jwt_secret = secrets.token_hex(32)
        for table, columns in SCHEMA.items():
            if major == 1 and table not in V1_TABLES:
                continue
            self.conn.execute(f'CREATE TABLE "{prefix}{table}" ({columns})')
        if major >= 2:
            self.deployment_key("instance.id", hashlib.sha256(key.encode()).hexdigest(), None, row_id="InstanceId000001")
            self.deployment_key("signing.jwt", cipher.wrap_dek(self.jwt_secret, key), "aes-256-gcm", row_id="SigningJwt000001")
            self.deployment_key("signing.hmac", "plain-2.38-hmac-secret", None, row_id="SigningHmac00001")
            if legacy_row:
                self.deployment_key("data_encryption", cipher.wrap_dek(key, key), "aes-256-cbc", "inactive", row_id="DekLegacyCbc0001")
            self.deployment_key("data_encryption", cipher.wrap_dek(self.dek, key), "aes-256-gcm", "active", row_id=self.dek_id)
        self.insert("settings", key="features.ldap", value=json.dumps({"bindingAdminPassword": "", "loginEnabled": False}), loadOnStartup=1)
        self.insert("user", id="owner-id", email="o@x", mfaRecoveryCodes="")

    def insert(self, table: str, **values: Any) -> None:
        cols = ", ".join(f'"{c}"' for c in values)
        marks = ", ".join("?" * len(values))
        self.conn.execute(f'INSERT INTO "{self.prefix}{table}" ({cols}) VALUES ({marks})', list(values.values()))

    def secret(self) -> str:
        value = "s3cr3t-" + secrets.token_hex(8)
        self.secrets.append(value)
        return value

    def encrypt(self, plaintext: str, key: str | None = None, prefixed: bool = False) -> str:
        if prefixed:
            return self.dek_id + ":" + cipher.gcm_encrypt(plaintext, bytes.fromhex(self.dek))
        return cipher.encrypt(plaintext, key or self.key)

    def credential(self, cred_id: str, key: str | None = None, prefixed: bool = False) -> str:
        plaintext = json.dumps({"user": "u", "password": self.secret()})
        self.insert("credentials_entity", id=cred_id, name="Cred " + cred_id, type="httpBasicAuth", data=self.encrypt(plaintext, key, prefixed))
        return plaintext

    def deployment_key(self, row_type: str, value: str, algorithm: str | None, status: str = "active", row_id: str | None = None) -> str:
        row_id = row_id or secrets.token_hex(8)
        self.insert("deployment_key", id=row_id, type=row_type, value=value, algorithm=algorithm, status=status)
        return row_id

    def close(self) -> Path:
        self.conn.commit()
        self.conn.close()
        return self.path


def config(path: Path, prefix: str = "") -> DatabaseConfig:
    return DatabaseConfig(type="sqlite", path=str(path), table_prefix=prefix)


def rotate(path: Path, old: str = OLD, new: str = NEW, **kwargs: Any) -> rot.ReencryptReport:
    prefix = kwargs.pop("prefix", "")
    with N8nDatabase(config(path, prefix), readonly=kwargs.get("check_mode", False)) as db:
        return rot.reencrypt(db, old, new, **kwargs)


def check(path: Path, key: str, prefix: str = "") -> kc.KeyCheckReport:
    with N8nDatabase(config(path, prefix), readonly=True) as db:
        return kc.check_key(db, key, workers=1)


def rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def assert_no_secrets(report: rot.ReencryptReport, db: N8nDb, *extra: str) -> None:
    text = json.dumps(report.as_dict()) + report.summary() + report.first_failures()
    for value in [*db.secrets, OLD, NEW, OTHER, db.dek, db.jwt_secret, *extra]:
        assert value not in text


def full_db(tmp_path: Path, major: int = 2) -> N8nDb:
    """Every location the rotation writes, with a value in it."""
    db = N8nDb(tmp_path / "db.sqlite", major=major)
    for i in range(3):
        db.credential(f"cred{i}")
    if major >= 2:
        db.credential("prefixed", prefixed=True)
        db.deployment_key("jwe.private-key", cipher.encrypt(json.dumps({"kty": "RSA", "d": db.secret()}), OLD), "RSA-OAEP-256", row_id="JweKey0000000001")
        db.insert("secrets_provider_connection", id=1, providerKey="vault", encryptedSettings=db.encrypt(json.dumps({"token": db.secret()})))
        db.insert("dynamic_credential_entry", credential_id="c", subject_id="s", resolver_id="r", data=db.encrypt(json.dumps({"t": db.secret()})))
        db.insert("git_connection", id="g1", name="repo", encryptedPrivateKey=db.encrypt(db.secret()), encryptedUsername=None,
                  encryptedPassword=db.encrypt(db.secret()))
    codes = [db.secret() for _index in range(3)]
    db.conn.execute(
        'UPDATE "user" SET "mfaSecret" = ?, "mfaRecoveryCodes" = ? WHERE id = ?',
        (db.encrypt(db.secret()), ",".join(db.encrypt(c) for c in codes), "owner-id"),
    )
    db.conn.execute(
        'UPDATE "settings" SET value = ? WHERE key = ?',
        (json.dumps({"bindingAdminPassword": db.encrypt(db.secret()), "loginEnabled": True, "name": "Zoë"}), "features.ldap"),
    )
    db.insert("settings", key="features.sourceControl.httpsCredentials", loadOnStartup=1,
              value=json.dumps({"encryptedUsername": db.encrypt(db.secret()), "encryptedPassword": db.encrypt(db.secret())}))
    db.insert("settings", key="features.sourceControl.sshKeys", loadOnStartup=1,
              value=json.dumps({"encryptedPrivateKey": db.encrypt("-----BEGIN KEY-----\n" + db.secret()), "publicKey": "ssh-ed25519 AAA"}))
    db.insert("settings", key="credentialsOverwrite", loadOnStartup=1, value=db.encrypt(json.dumps({"x": {"y": db.secret()}})))
    db.insert("settings", key="features.saml", loadOnStartup=1, value=json.dumps({"signingPrivateKey": "not a PEM key"}))
    db.insert("settings", key="ui.banners", loadOnStartup=1, value=json.dumps({"dismissed": []}))
    return db


# ----------------------------------------------------------------- the whole inventory
@pytest.mark.parametrize("major", [1, 2])
def test_everything_moves_to_the_new_key_and_nothing_opens_with_the_old_one(tmp_path: Path, major: int) -> None:
    db = full_db(tmp_path, major)
    path = db.close()
    before = check(path, OLD)
    assert before.passed and before.ok > 0

    report = rotate(path)
    assert report.passed and report.committed and report.changed
    assert report.failed == 0
    assert report.verification is not None and report.verification["failed"] == 0

    after = check(path, NEW)
    assert after.passed
    assert after.ok == before.ok, "every value the old key opened now opens with the new key"
    assert {n: c.ok for n, c in after.categories.items()} == {n: c.ok for n, c in before.categories.items()}
    stale = check(path, OLD)
    # Only values under a data-encryption key whose row was re-wrapped: the old key cannot reach them either.
    assert stale.ok == 0
    assert_no_secrets(report, db)

    counts = report.as_dict()["categories"]
    assert counts["credentials"]["reencrypted"] == 3
    assert counts["mfa"]["reencrypted"] == 2  # the secret, and the row of recovery codes
    assert counts["settings"]["reencrypted"] == 5  # ldap, 2 https fields, ssh key, overwrites
    assert counts["settings"]["skipped_reasons"].get("plaintext") == 1  # the SAML value that is not a PEM
    if major == 2:
        assert counts["credentials"]["unchanged"] == 1
        # signing.jwt, both data-encryption keys, and the JWE key.
        assert counts["deployment_keys"]["rewrapped"] == 3 and counts["deployment_keys"]["reencrypted"] == 1
        assert counts["deployment_keys"]["skipped"] == 2  # instance.id, 2.38 plaintext signing.hmac


def test_plaintexts_and_layouts_survive(tmp_path: Path) -> None:
    db = full_db(tmp_path, 2)
    path = db.close()
    creds_before = {r[0]: cipher.decrypt(r[1], OLD) for r in rows(path, "SELECT id, data FROM credentials_entity WHERE id LIKE 'cred%'")}
    prefixed_before = rows(path, "SELECT data FROM credentials_entity WHERE id = 'prefixed'")
    codes_before = rows(path, 'SELECT "mfaRecoveryCodes" FROM "user"')[0][0].split(",")
    rotate(path)

    for cred_id, data in rows(path, "SELECT id, data FROM credentials_entity WHERE id LIKE 'cred%'"):
        assert cipher.decrypt(data, NEW) == creds_before[cred_id]
    assert rows(path, "SELECT data FROM credentials_entity WHERE id = 'prefixed'") == prefixed_before  # untouched
    codes_after = rows(path, 'SELECT "mfaRecoveryCodes" FROM "user"')[0][0].split(",")
    assert [cipher.decrypt(c, NEW) for c in codes_after] == [cipher.decrypt(c, OLD) for c in codes_before]

    (ldap,) = rows(path, "SELECT value FROM settings WHERE key = 'features.ldap'")[0]
    assert ldap.startswith('{"bindingAdminPassword":"U2FsdGVk') and '"name":"Zoë"' in ldap  # JSON.stringify's layout
    parsed = json.loads(ldap)
    assert parsed["loginEnabled"] is True and list(parsed) == ["bindingAdminPassword", "loginEnabled", "name"]
    ssh = json.loads(rows(path, "SELECT value FROM settings WHERE key = 'features.sourceControl.sshKeys'")[0][0])
    assert ssh["publicKey"] == "ssh-ed25519 AAA" and cipher.decrypt(ssh["encryptedPrivateKey"], NEW).startswith("-----BEGIN KEY-----")
    assert rows(path, "SELECT value FROM settings WHERE key = 'ui.banners'")[0][0] == '{"dismissed": []}'  # not ours: untouched


def test_deployment_keys_keep_their_secrets_and_the_legacy_row_holds_the_new_key(tmp_path: Path) -> None:
    db = full_db(tmp_path, 2)
    path = db.close()
    rotate(path)
    by_id = {r[0]: (r[1], r[2]) for r in rows(path, "SELECT id, value, algorithm FROM deployment_key")}
    assert cipher.unwrap_dek(by_id["SigningJwt000001"][0], NEW) == db.jwt_secret
    assert cipher.unwrap_dek(by_id[db.dek_id][0], NEW) == db.dek
    assert cipher.unwrap_dek(by_id["DekLegacyCbc0001"][0], NEW) == NEW  # n8n 2.40's invariant
    assert by_id["InstanceId000001"][0] == hashlib.sha256(OLD.encode()).hexdigest()  # plaintext: kept
    assert by_id["SigningHmac00001"][0] == "plain-2.38-hmac-secret"
    assert json.loads(cipher.decrypt(by_id["JweKey0000000001"][0], NEW))["kty"] == "RSA"
    for value, _alg in by_id.values():
        with pytest.raises(cipher.CipherError):
            if value.startswith("A"):
                cipher.unwrap_dek(value, OLD)
            elif value.startswith("U2FsdGVk"):
                json.loads(cipher.decrypt(value, OLD))
            else:
                raise cipher.CipherError("plaintext row")


# ----------------------------------------------------------------- transaction
def test_one_value_under_another_key_aborts_everything(tmp_path: Path) -> None:
    db = full_db(tmp_path, 2)
    db.credential("stray", key=OTHER)
    path = db.close()
    before = dump(path)
    report = rotate(path)
    assert not report.passed and not report.committed and not report.changed
    assert report.failed == 1
    assert report.failed_ids == ["credentials:stray"]
    failure = report.categories["credentials"].failures[0]
    assert failure.label == "Cred stray"
    # About once in 256 salts a wrong key still yields valid padding; the JSON check refuses it then.
    assert failure.reason in {kc.R_WRONG_KEY, kc.R_NOT_JSON}
    assert dump(path) == before, "nothing may be written when one value fails"
    assert "credentials:stray Cred stray" in report.first_failures()
    assert_no_secrets(report, db)


def test_a_failure_in_the_last_table_rolls_back_the_first(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    db.credential("good")
    db.insert("git_connection", id="g1", name="repo", encryptedPrivateKey="not-ciphertext")
    path = db.close()
    before = dump(path)
    report = rotate(path)
    assert report.failed_ids == ["git_connections:g1"]
    assert report.categories["git_connections"].failures[0].reason == kc.R_NOT_CIPHERTEXT
    assert dump(path) == before


def test_a_deployment_key_locked_with_another_key_aborts(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    db.credential("c1")
    db.deployment_key("signing.binary_data", cipher.wrap_dek("z" * 64, OTHER), "aes-256-gcm", row_id="SigningBin000001")
    path = db.close()
    before = dump(path)
    report = rotate(path)
    assert report.failed_ids == ["deployment_keys:SigningBin000001"]
    assert report.categories["deployment_keys"].failures[0].label == "signing.binary_data"
    assert dump(path) == before


def test_check_mode_counts_everything_and_writes_nothing(tmp_path: Path) -> None:
    db = full_db(tmp_path, 2)
    path = db.close()
    before = dump(path)
    dry = rotate(path, check_mode=True)
    assert dry.passed and dry.check_mode and not dry.committed and not dry.changed
    assert dry.verification is None
    assert dump(path) == before
    real = rotate(path)
    assert {n: c.counts for n, c in dry.categories.items()} == {n: c.counts for n, c in real.categories.items()}


def test_check_mode_finds_the_same_failures(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=1)
    db.credential("ok")
    db.credential("bad", key=OTHER)
    report = rotate(db.close(), check_mode=True)
    assert report.failed_ids == ["credentials:bad"]


def test_second_run_is_a_no_op_and_swapping_keys_rotates_back(tmp_path: Path) -> None:
    db = full_db(tmp_path, 2)
    path = db.close()
    original = check(path, OLD)
    assert rotate(path).changed
    after_first = dump(path)

    again = rotate(path)
    assert again.already_rotated and not again.changed and not again.committed
    assert dump(path) == after_first

    back = rotate(path, NEW, OLD)
    assert back.passed and back.changed
    restored = check(path, OLD)
    assert restored.passed and restored.ok == original.ok
    assert check(path, NEW).ok == 0


def test_wrong_old_key_on_unrotated_data_is_not_mistaken_for_already_rotated(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    db.credential("c1")
    path = db.close()
    report = rotate(path, OTHER, NEW)
    assert not report.passed and not report.already_rotated and report.failed > 0


# ----------------------------------------------------------------- legacy forms and prefixes
@pytest.mark.parametrize(
    "legacy",
    [
        pytest.param(lambda key: key, id="instance key stored raw"),
        pytest.param(lambda key: cipher.wrap_dek(key, key), id="gcm-wrapped instance key"),
    ],
)
def test_unprefixed_values_follow_the_legacy_row(tmp_path: Path, legacy: Any) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2, legacy_row=False)
    db.deployment_key("data_encryption", legacy(OLD), "aes-256-cbc", "inactive", row_id="DekLegacyCbc0001")
    plain = db.credential("c1")
    path = db.close()
    assert rotate(path).changed
    (value,) = rows(path, "SELECT value FROM deployment_key WHERE id = 'DekLegacyCbc0001'")[0]
    assert cipher.unwrap_dek(value, NEW) == NEW  # never the key in plaintext in the database
    assert cipher.decrypt(rows(path, "SELECT data FROM credentials_entity")[0][0], NEW) == plain


def test_cbc_wrapped_and_raw_deks(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    raw_dek, cbc_dek = secrets.token_hex(32), secrets.token_hex(32)
    db.deployment_key("data_encryption", raw_dek, "aes-256-gcm", "inactive", row_id="RawDek0000000001")
    db.deployment_key("data_encryption", cipher.encrypt(cbc_dek, OLD), "aes-256-gcm", "inactive", row_id="CbcDek0000000001")
    db.insert("credentials_entity", id="r", name="r", type="t", data="RawDek0000000001:" + cipher.gcm_encrypt('{"a":1}', bytes.fromhex(raw_dek)))
    db.insert("credentials_entity", id="w", name="w", type="t", data="CbcDek0000000001:" + cipher.gcm_encrypt('{"b":2}', bytes.fromhex(cbc_dek)))
    path = db.close()
    report = rotate(path)
    assert report.passed and report.changed
    by_id = {r[0]: r[1] for r in rows(path, "SELECT id, value FROM deployment_key")}
    assert by_id["RawDek0000000001"] == raw_dek  # not bound to the key: n8n 2.40 wraps it on its next start
    assert cipher.unwrap_dek(by_id["CbcDek0000000001"], NEW) == cbc_dek
    assert check(path, NEW).passed


def test_values_prefixed_with_the_legacy_row_are_re_encrypted_with_their_prefix(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    db.insert("credentials_entity", id="p", name="p", type="t", data="DekLegacyCbc0001:" + cipher.encrypt('{"c":3}', OLD))
    path = db.close()
    report = rotate(path)
    assert report.categories["credentials"].counts[rot.REENCRYPTED] == 1
    data = rows(path, "SELECT data FROM credentials_entity")[0][0]
    assert data.startswith("DekLegacyCbc0001:U2FsdGVk")
    assert cipher.decrypt(data.split(":", 1)[1], NEW) == '{"c":3}'
    assert check(path, NEW).passed


def test_legacy_rows_that_disagree_are_refused(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    db.deployment_key("data_encryption", cipher.wrap_dek(secrets.token_hex(32), OLD), "aes-256-cbc", "inactive", row_id="DekLegacyCbc0002")
    db.credential("c1")
    path = db.close()
    before = dump(path)
    report = rotate(path)
    assert not report.passed
    assert {f.reason for f in report.categories["deployment_keys"].failures} == {rot.R_AMBIGUOUS_LEGACY}
    assert dump(path) == before


def test_values_under_an_unknown_key_id_fail(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    db.insert("credentials_entity", id="x", name="x", type="t", data="NoSuchKey:" + cipher.gcm_encrypt("{}", bytes(32)))
    report = rotate(db.close())
    assert report.categories["credentials"].failures[0].reason == kc.R_UNKNOWN_DEK


# ----------------------------------------------------------------- options and refusals
def test_same_key_empty_key_and_api_keys_are_refused(tmp_path: Path) -> None:
    path = N8nDb(tmp_path / "db.sqlite", major=1).close()
    with pytest.raises(rot.ReencryptError, match="same key"):
        rotate(path, OLD, OLD)
    with pytest.raises(rot.ReencryptError, match="empty new_key"):
        rotate(path, OLD, "")
    with pytest.raises(rot.ReencryptError, match="signed, not encrypted"):
        rotate(path, categories=["api_keys"])
    with pytest.raises(rot.ReencryptError, match="Unknown"):
        rotate(path, categories=["nope"])


def test_no_n8n_tables_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    with pytest.raises(rot.ReencryptError, match="no credentials_entity"):
        rotate(path)


def test_a_subset_is_refused_when_the_rest_still_needs_the_old_key(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2)
    db.credential("c1")
    db.conn.execute('UPDATE "user" SET "mfaSecret" = ?', (db.encrypt(db.secret()),))
    path = db.close()
    before = dump(path)
    with pytest.raises(rot.ReencryptError, match=r"mfa \(1\)"):
        rotate(path, categories=["credentials"])
    assert dump(path) == before
    # Nothing else under the old key: a subset is fine, and deployment_keys always comes along.
    db2 = N8nDb(tmp_path / "db2.sqlite", major=2)
    db2.credential("c1")
    path2 = db2.close()
    report = rotate(path2, categories=["credentials"])
    assert report.changed and "deployment_keys" in report.categories
    assert check(path2, NEW).passed


def test_table_prefix(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=2, prefix="n8n_")
    db.credential("c1")
    path = db.close()
    assert rotate(path, prefix="n8n_").changed
    assert check(path, NEW, prefix="n8n_").passed


def test_pages_of_rows_are_all_rotated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kc, "PAGE_ROWS", 7)
    db = N8nDb(tmp_path / "db.sqlite", major=1)
    for i in range(30):
        db.credential(f"cred{i:03d}")
    path = db.close()
    report = rotate(path)
    assert report.categories["credentials"].counts[rot.REENCRYPTED] == 30
    assert check(path, NEW).categories["credentials"].ok == 30


def test_failures_are_capped_but_counted(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=1)
    for i in range(6):
        db.credential(f"bad{i}", key=OTHER)
    report = rotate(db.close(), max_failed_ids=2)
    cat = report.categories["credentials"]
    assert cat.counts[rot.FAILED] == 6 and len(cat.failures) == 2 and cat.failures_truncated


def test_report_dict_shape(tmp_path: Path) -> None:
    db = N8nDb(tmp_path / "db.sqlite", major=1)
    db.credential("c1")
    result = rotate(db.close()).as_dict()
    assert "failed" not in result and "skipped" not in result  # Ansible's own flags
    assert result["old_key_fingerprint"].startswith("lbfp1:") and result["new_key_fingerprint"].startswith("lbfp1:")
    assert result["total"] == result["reencrypted"] + result["rewrapped"] + result["unchanged"] + result["failed_count"]


# ----------------------------------------------------------------- round trips
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    old=st.text(min_size=1, max_size=40).filter(lambda k: "\x00" not in k),
    new=st.text(min_size=1, max_size=40).filter(lambda k: "\x00" not in k),
    payload=st.dictionaries(st.text(max_size=8), st.text(max_size=30), max_size=4),
)
def test_any_keys_round_trip(tmp_path_factory: pytest.TempPathFactory, old: str, new: str, payload: dict[str, str]) -> None:
    if old == new:
        return
    path = tmp_path_factory.mktemp("rt") / "db.sqlite"
    db = N8nDb(path, major=2, key=old)
    plain = json.dumps(payload)
    db.insert("credentials_entity", id="c", name="c", type="t", data=cipher.encrypt(plain, old))
    db.close()
    assert rotate(path, old, new).changed
    assert cipher.decrypt(rows(path, "SELECT data FROM credentials_entity")[0][0], new) == plain
    assert rotate(path, old=new, new=old).changed  # and back
    assert cipher.decrypt(rows(path, "SELECT data FROM credentials_entity")[0][0], old) == plain
