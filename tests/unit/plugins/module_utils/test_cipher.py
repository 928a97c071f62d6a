"""n8n's ciphers: round trips, cross-checks with the openssl CLI, wrong keys, known vectors."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _cipher as cipher
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
