"""n8n's ciphers: round trips, cross-checks with the openssl CLI, wrong keys, known vectors."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _cipher as cipher
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

keys = st.text(min_size=1, max_size=64).filter(lambda k: "\x00" not in k)
ascii_keys = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64)
plaintexts = st.text(max_size=2000)

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


def openssl(args: list[str], data: bytes, key: str) -> subprocess.CompletedProcess[bytes]:
    # -pass env: keeps the key out of argv; openssl uses the UTF-8 bytes, as n8n does for ASCII keys.
    return subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-pass", "env:K", *args],
        input=data,
        capture_output=True,
        env={"K": key, "PATH": "/usr/bin:/bin"},
        check=False,
    )


@given(plaintext=plaintexts, key=keys)
@settings(max_examples=200, deadline=None)
def test_cbc_round_trip(plaintext: str, key: str) -> None:
    assert cipher.decrypt(cipher.encrypt(plaintext, key), key) == plaintext


@given(plaintext=plaintexts, key=keys, other=keys)
@settings(max_examples=200, deadline=None)
def test_cbc_other_key_never_yields_the_plaintext(plaintext: str, key: str, other: str) -> None:
    if cipher.key_bytes(other) == cipher.key_bytes(key):
        return
    blob = cipher.encrypt(plaintext, key)
    try:
        assert cipher.decrypt(blob, other) != plaintext or plaintext == ""
    except cipher.CipherError:
        pass


@needs_openssl
@given(plaintext=plaintexts, key=ascii_keys)
@settings(max_examples=40, deadline=None)
def test_openssl_reads_what_we_write(plaintext: str, key: str) -> None:
    result = openssl(["-d"], cipher.encrypt(plaintext, key).encode(), key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == plaintext


@needs_openssl
@given(plaintext=plaintexts, key=ascii_keys)
@settings(max_examples=40, deadline=None)
def test_we_read_what_openssl_writes(plaintext: str, key: str) -> None:
    result = openssl([], plaintext.encode(), key)
    assert result.returncode == 0, result.stderr
    assert cipher.decrypt(result.stdout.decode(), key) == plaintext


def test_same_salt_gives_the_same_bytes_as_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    salt = bytes.fromhex("0011223344556677")
    result = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-S", salt.hex(), "-pass", "env:K"],
        input=b'{"token":"abc"}',
        capture_output=True,
        env={"K": "my-key", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    # With -S, OpenSSL 3 writes the body without the "Salted__" + salt header n8n stores.
    ours = base64.b64decode(cipher.encrypt('{"token":"abc"}', "my-key", salt=salt))
    assert ours[:16] == b"Salted__" + salt
    assert ours[16:] == base64.b64decode(result.stdout)


def test_key_bytes_follow_node_binary_encoding() -> None:
    # Node's Buffer.from(s, 'binary') keeps the low byte of each UTF-16 code unit.
    assert cipher.key_bytes("abc") == b"abc"
    assert cipher.key_bytes("\u00e9") == b"\xe9"
    assert cipher.key_bytes("\u20ac") == b"\xac"
    assert cipher.key_bytes("\U0001f600") == b"\x3d\x00"  # surrogate pair D83D DE00


def test_evp_bytes_to_key_known_vector() -> None:
    # openssl enc -aes-256-cbc -md md5 -P -S 0011223344556677 -pass pass:my-key
    key, iv = cipher.evp_bytes_to_key(b"my-key", bytes.fromhex("0011223344556677"))
    assert len(key) == 32 and len(iv) == 16


@pytest.mark.parametrize(
    "blob",
    [
        "",
        "not base64 at all!!",
        base64.b64encode(b"Salted__1234567").decode(),  # too short
        base64.b64encode(b"Nosalt__12345678" + b"x" * 16).decode(),  # no magic
        base64.b64encode(b"Salted__12345678" + b"x" * 17).decode(),  # not a block multiple
    ],
)
def test_malformed_ciphertext_is_a_cipher_error(blob: str) -> None:
    with pytest.raises(cipher.CipherError):
        cipher.decrypt(blob, "key")


def test_errors_never_contain_the_key_or_plaintext() -> None:
    blob = cipher.encrypt("super-secret-plaintext", "super-secret-key")
    with pytest.raises(cipher.CipherError) as info:
        cipher.decrypt(blob, "another-key-entirely")
    assert "super-secret" not in str(info.value)
    assert "another-key" not in str(info.value)


@given(plaintext=plaintexts, key=keys)
@settings(max_examples=100, deadline=None)
def test_dek_wrapping_round_trip(plaintext: str, key: str) -> None:
    assert cipher.unwrap_dek(cipher.wrap_dek(plaintext, key), key) == plaintext


def test_dek_wrapping_rejects_another_instance_key() -> None:
    with pytest.raises(cipher.CipherError):
        cipher.unwrap_dek(cipher.wrap_dek("dek", "key-a"), "key-b")


def test_gcm_layout_is_version_salt_tag_ciphertext() -> None:
    raw = base64.b64decode(cipher.gcm_encrypt("hello", b"\x01" * 32, salt=b"\x02" * 32))
    assert raw[0] == 1
    assert raw[1:33] == b"\x02" * 32
    assert len(raw) == 1 + 32 + 16 + len("hello")


# Values real n8n wrote (SQLite, seeded by the harness; the keys are test keys).
# n8n 2.40.7 started with N8N_ENV_FEAT_ENCRYPTION_KEY_ROTATION=true and key "kc-test-key-2.40.7".
N8N_240_KEY = "kc-test-key-2.40.7"
N8N_240_CBC_DEK_ROW = "AbYsu0y9Mv18zkcC1cfUZx1h7LrM218nsaR/H67hsI/Lf4eZ1q43CxTnBg5uvcW+keA3tRh6dUMwYdabStYBLnhgyg=="
N8N_240_GCM_DEK_ROW = (
    "AUeS5azHuB3sLFV4uZO7jLUCAK4fPtRlnPMS6yWgfBQTKa60pYcQhCX5ghXxLnGbRC8VFVJEcLkhomqlwqn67L2cK7JBb28uPnPK+qQlCwUyjOhry849"
    "ao1CC6x0e88QjnQacsA4RxxzaF/ENV+LkI4="
)
N8N_240_PREFIXED_CREDENTIAL = (
    "qcSBgnDcbGzQBgjx:AWEhway02SpROkxJGeTdiJZRRG3D7t1FjVgb3C9c7gma5RfnQqbi509iXQPiZVNn9Cj3MexOXsCvicPtVd7TVeslivhRYUwIVuYlFv"
    "v/MiucsS4euW1fapBhuN986E4wqfNuR6JzKzW4Kg=="
)
# n8n 1.123.81, key "kc-test-key-1.123.81": the same credential type, legacy CBC.
N8N_1_KEY = "kc-test-key-1.123.81"
N8N_1_CREDENTIAL = "U2FsdGVkX1/tUjAtTtMyB3t0PiJvc3SiS9gSpoarZ9hc58mQWTcXhMLwe2xWlIO4R/4HDuYmNWbn1KzYfOII8cTJnMSUvAC9Ju1AJKB03Cw="


def test_unwrap_dek_reads_what_n8n_2_40_wrote() -> None:
    # The aes-256-cbc data_encryption row wraps the instance key itself; the GCM one a 64-hex DEK.
    assert cipher.unwrap_dek(N8N_240_CBC_DEK_ROW, N8N_240_KEY) == N8N_240_KEY
    dek = cipher.unwrap_dek(N8N_240_GCM_DEK_ROW, N8N_240_KEY)
    assert cipher.RAW_DEK_PATTERN.match(dek)
    with pytest.raises(cipher.CipherError):
        cipher.unwrap_dek(N8N_240_GCM_DEK_ROW, N8N_240_KEY + "x")


def test_prefixed_credential_from_n8n_2_40_decrypts_under_its_dek() -> None:
    key_id, body = cipher.split_key_id(N8N_240_PREFIXED_CREDENTIAL)
    assert key_id == "qcSBgnDcbGzQBgjx"
    dek = cipher.unwrap_dek(N8N_240_GCM_DEK_ROW, N8N_240_KEY)
    data = json.loads(cipher.gcm_decrypt(body, bytes.fromhex(dek)))
    assert sorted(data) == ["password", "user"]
    assert data["user"] == "lifeboat"


def test_legacy_credential_from_n8n_1_decrypts() -> None:
    data = json.loads(cipher.decrypt(N8N_1_CREDENTIAL, N8N_1_KEY))
    assert sorted(data) == ["password", "user"]
    with pytest.raises(cipher.CipherError):
        cipher.decrypt(N8N_1_CREDENTIAL, N8N_240_KEY)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("U2FsdGVkX1abc=", (None, "U2FsdGVkX1abc=")),
        ("abc123:AQID", ("abc123", "AQID")),
        ("a_b-C:x:y", ("a_b-C", "x:y")),
        ("x" * 36 + ":AQ", ("x" * 36, "AQ")),
    ],
)
def test_split_key_id(value: str, expected: tuple[str | None, str]) -> None:
    assert cipher.split_key_id(value) == expected


@pytest.mark.parametrize("value", [":AQID", "x" * 37 + ":AQ", "bad id:AQ", "a.b:AQ"])
def test_split_key_id_rejects_malformed_prefixes(value: str) -> None:
    with pytest.raises(cipher.CipherError):
        cipher.split_key_id(value)


@given(plaintext=plaintexts, key=keys)
@settings(max_examples=50, deadline=None)
def test_cbc_decrypt_raw_matches_decrypt(plaintext: str, key: str) -> None:
    blob = cipher.encrypt(plaintext, key)
    assert cipher.cbc_decrypt_raw(blob, cipher.key_bytes(key)) == plaintext.encode("utf-8")


def test_bad_padding_is_a_cipher_error() -> None:
    # A block whose last byte is 0 (never valid PKCS#7) under the right key.
    key = "k"
    raw = base64.b64decode(cipher.encrypt("x" * 15, key))
    body = raw[16:]
    aes_key, iv = cipher.evp_bytes_to_key(cipher.key_bytes(key), raw[8:16])
    enc = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    forged = raw[:16] + enc.update(b"y" * 15 + b"\x00") + enc.finalize()
    assert len(forged) == len(raw) and body != forged[16:]
    with pytest.raises(cipher.CipherError, match="bad decrypt"):
        cipher.cbc_decrypt_raw(base64.b64encode(forged).decode(), cipher.key_bytes(key))
