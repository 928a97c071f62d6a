"""Encryption at rest of backup artifacts: round trips, and every way a file can be wrong.

Small chunks (4 KiB) and a cheap scrypt (N=2^10) keep these fast; the format and the code
paths are the same as with the defaults.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import tarfile
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _artifact_crypt as ac
from ansible_collections.lifeboat.n8n.plugins.module_utils._manifest import hash_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PASSPHRASE = "correct horse battery staple"
CHUNK_LOG = 12
CHUNK = 1 << CHUNK_LOG
LOG_N = 10
SEALED = CHUNK + ac.TAG_SIZE


def encrypt(src: Path, dest: Path, passphrase: str = PASSPHRASE) -> dict[str, Any]:
    return ac.encrypt_path(str(src), str(dest), ac.KeyRing(passphrase), log_n=LOG_N, chunk_log=CHUNK_LOG)


def decrypt(src: Path, dest: Path, passphrase: str = PASSPHRASE) -> dict[str, Any]:
    return ac.decrypt_path(str(src), str(dest), ac.KeyRing(passphrase))


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "index.json").write_text('{"workflows": 2}')
    (root / "sub" / "a.json").write_bytes(os.urandom(3 * CHUNK + 17))
    (root / "sub" / "deeper" / "b.json").write_bytes(b"")


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_file_round_trip_at_chunk_boundaries(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    info = encrypt(tmp_path / "plain", tmp_path / "plain.lbenc")
    chunks = max(1, -(-size // CHUNK))  # a final chunk always exists, full when size is a multiple
    assert info["size"] == (tmp_path / "plain.lbenc").stat().st_size == ac.HEADER_SIZE + size + chunks * ac.TAG_SIZE
    assert info["plaintext_size"] == size
    assert decrypt(tmp_path / "plain.lbenc", tmp_path / "out") == {"payload": "file"}
    assert (tmp_path / "out").read_bytes() == data
    assert oct((tmp_path / "plain.lbenc").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "out").stat().st_mode & 0o777) == "0o600"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3 * CHUNK + 100), writes=st.lists(st.integers(min_value=1, max_value=2 * CHUNK), max_size=8))
def test_any_bytes_written_in_any_pieces_round_trip(tmp_path: Path, data: bytes, writes: list[int]) -> None:
    sink = io.BytesIO()
    writer = ac.EncryptingWriter(sink, ac.KeyRing(PASSPHRASE), log_n=LOG_N, chunk_log=CHUNK_LOG)
    pos = 0
    for size in writes:
        writer.write(data[pos:pos + size])
        pos += size
    writer.write(data[pos:])
    writer.close()
    sink.seek(0)
    _header, chunks = ac.decrypt_chunks(sink, ac.KeyRing(PASSPHRASE), "memory")
    assert b"".join(chunks) == data


def test_directory_round_trip_keeps_names_and_contents(tmp_path: Path) -> None:
    make_tree(tmp_path / "tree")
    info = encrypt(tmp_path / "tree", tmp_path / "tree.lbenc")
    assert info["payload"] == "tar"
    assert decrypt(tmp_path / "tree.lbenc", tmp_path / "restored") == {"payload": "tar"}
    assert hash_file(str(tmp_path / "restored")) == hash_file(str(tmp_path / "tree"))
    assert (tmp_path / "restored" / "empty").is_dir()
    modes = {oct(p.stat().st_mode & 0o777) for p in (tmp_path / "restored").rglob("*")}
    assert modes <= {"0o600", "0o700"}


def test_the_ciphertext_reveals_nothing_of_the_plaintext(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"SQLite format 3\0" + b"lifeboat-secret-token " * 500)
    encrypt(tmp_path / "plain", tmp_path / "a.lbenc")
    encrypt(tmp_path / "plain", tmp_path / "b.lbenc")
    first, second = (tmp_path / "a.lbenc").read_bytes(), (tmp_path / "b.lbenc").read_bytes()
    assert b"SQLite" not in first and b"lifeboat-secret-token" not in first
    assert first[ac.HEADER_SIZE:] != second[ac.HEADER_SIZE:]  # fresh salts and nonces every time


def test_one_scrypt_serves_every_file_of_a_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(name.encode() * 100)
    calls = []
    real = ac.KeyRing.master

    def counting(self: ac.KeyRing, *args: Any) -> bytes:
        calls.append(args)
        return real(self, *args)

    monkeypatch.setattr(ac.KeyRing, "master", counting)
    result = ac.encrypt_artifacts(str(tmp_path), [{"name": n, "path": n, "kind": "other", "format": "file"} for n in "abc"],
                                  PASSPHRASE, log_n=LOG_N)
    assert len(set(calls)) == 1
    ac.decrypt_artifacts(str(tmp_path), result["artifacts"], PASSPHRASE, dest_dir=str(tmp_path / "out"))
    assert len(set(calls)) == 1


# --------------------------------------------------------------------------- refusals


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    (tmp_path / "plain").write_bytes(os.urandom(3 * CHUNK + 100))
    encrypt(tmp_path / "plain", tmp_path / "plain.lbenc")
    return tmp_path / "plain.lbenc"


def refused(path: Path, dest: Path, passphrase: str = PASSPHRASE) -> str:
    dest.write_bytes(b"previous content")
    with pytest.raises(ac.ArtifactCryptError) as info:
        decrypt(path, dest, passphrase)
    # Nothing half-written: the previous file is untouched and no partial file remains.
    assert dest.read_bytes() == b"previous content"
    assert not Path(str(dest) + ".partial").exists()
    return str(info.value)


def test_a_wrong_passphrase_is_named_as_such(sealed: Path, tmp_path: Path) -> None:
    message = refused(sealed, tmp_path / "out", "another passphrase entirely")
    assert "the passphrase is not the one this backup was encrypted with" in message
    assert "another passphrase" not in message and PASSPHRASE not in message


def _rewrite(path: Path, change: Any) -> None:
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(change(data)))


def _flip(offset: int) -> Any:
    def change(data: bytearray) -> bytearray:
        data[offset] ^= 0x01
        return data
    return change


@pytest.mark.parametrize(
    ("what", "change", "expected"),
    [
        ("a ciphertext byte", _flip(ac.HEADER_SIZE + 10), "chunk 0 fails authentication"),
        ("a byte of the last chunk", _flip(-ac.TAG_SIZE - 3), "chunk 3 fails authentication"),
        ("a tag byte", _flip(ac.HEADER_SIZE + SEALED - 1), "chunk 0 fails authentication"),
        ("the nonce prefix", _flip(50), "fails authentication"),
        ("the key check", _flip(70), "the passphrase is not the one"),
        ("the payload kind", lambda d: d[:9] + b"\x01" + d[10:], "fails authentication"),
        ("a reserved byte", _flip(60), "its header is invalid (reserved bytes set)"),
        ("the chunk size", lambda d: d[:13] + b"\x1f" + d[14:], "its header is invalid (chunk size 31)"),
        ("the scrypt cost", lambda d: d[:10] + b"\x28" + d[11:], "its header is invalid (log2(N) 40)"),
        ("the magic", lambda d: b"NOTLBENC" + d[8:], "it is not a lifeboat.n8n encrypted artifact"),
        ("the format version", lambda d: d[:8] + b"\x02" + d[9:], "format version 2 and this lifeboat.n8n reads version 1"),
        ("the header, cut", lambda d: d[:40], "the file ends inside its header"),
        ("the last chunk, cut short", lambda d: d[:-5], "fails authentication"),
        ("the final chunk, dropped", lambda d: d[:ac.HEADER_SIZE + 3 * SEALED], "chunk 2 fails authentication"),
        ("every chunk after the first, dropped", lambda d: d[:ac.HEADER_SIZE + SEALED], "chunk 0 fails authentication"),
        ("bytes appended", lambda d: d + b"\0" * 40, "fails authentication"),
        ("a whole chunk appended", lambda d: d + d[ac.HEADER_SIZE:ac.HEADER_SIZE + SEALED], "fails authentication"),
        ("two chunks swapped",
         lambda d: d[:ac.HEADER_SIZE] + d[ac.HEADER_SIZE + SEALED:ac.HEADER_SIZE + 2 * SEALED] + d[ac.HEADER_SIZE:ac.HEADER_SIZE + SEALED]
         + d[ac.HEADER_SIZE + 2 * SEALED:], "chunk 0 fails authentication"),
        ("a tag only, no chunk", lambda d: d[:ac.HEADER_SIZE] + d[ac.HEADER_SIZE:ac.HEADER_SIZE + 8], "chunk 0 is cut short"),
    ],
)
def test_every_alteration_is_refused_and_nothing_is_written(sealed: Path, tmp_path: Path, what: str, change: Any, expected: str) -> None:
    _rewrite(sealed, change)
    message = refused(sealed, tmp_path / "out")
    assert expected in message, (what, message)


def test_chunks_cannot_move_between_files(tmp_path: Path) -> None:
    """Two files of one call share the scrypt salt, but not their keys: a chunk spliced across fails."""
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(os.urandom(2 * CHUNK))
    result = ac.encrypt_artifacts(str(tmp_path), [{"name": n, "path": n, "kind": "other", "format": "file"} for n in "ab"],
                                  PASSPHRASE, log_n=LOG_N)
    assert result["processed"] == ["a", "b"]
    a, b = (tmp_path / "a.lbenc").read_bytes(), (tmp_path / "b.lbenc").read_bytes()
    (tmp_path / "a.lbenc").write_bytes(a[:ac.HEADER_SIZE] + b[ac.HEADER_SIZE:ac.HEADER_SIZE + SEALED] + a[ac.HEADER_SIZE + SEALED:])
    with pytest.raises(ac.ArtifactCryptError, match="chunk 0 fails authentication"):
        ac.decrypt_path(str(tmp_path / "a.lbenc"), str(tmp_path / "a.out"), ac.KeyRing(PASSPHRASE))


def _encrypted_tar(path: Path, build: Any) -> None:
    with open(path, "wb") as handle:
        writer = ac.EncryptingWriter(handle, ac.KeyRing(PASSPHRASE), payload=ac.PAYLOAD_TAR, log_n=LOG_N, chunk_log=CHUNK_LOG)
        with tarfile.open(fileobj=writer, mode="w|") as archive:  # type: ignore[call-overload]
            build(archive)
        writer.close()


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("../escaped", "unsafe path '../escaped'"),
        ("/etc/escaped", "unsafe path '/etc/escaped'"),
        ("a/../../escaped", "unsafe path 'a/../../escaped'"),
        ("link", "neither a file nor a directory"),
    ],
)
def test_a_crafted_archive_cannot_write_outside_or_link(tmp_path: Path, member: str, expected: str) -> None:
    def build(archive: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(member)
        if member == "link":
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            archive.addfile(info)
        else:
            info.size = 4
            archive.addfile(info, io.BytesIO(b"evil"))

    _encrypted_tar(tmp_path / "crafted.lbenc", build)
    (tmp_path / "inside").mkdir()
    with pytest.raises(ac.ArtifactCryptError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        decrypt(tmp_path / "crafted.lbenc", tmp_path / "inside" / "out")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "inside" / "out").exists()
    assert not (tmp_path / "inside" / "out.partial").exists()


def test_symlinks_and_special_files_are_not_archived(tmp_path: Path) -> None:
    make_tree(tmp_path / "tree")
    (tmp_path / "tree" / "link").symlink_to("/etc/passwd")
    with pytest.raises(ac.ArtifactCryptError, match="link is neither a regular file nor a directory"):
        encrypt(tmp_path / "tree", tmp_path / "tree.lbenc")
    assert not list(tmp_path.glob("tree.lbenc*"))


def test_a_full_file_system_is_reported_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plain").write_bytes(os.urandom(4 * CHUNK))
    real_open = ac._open_private

    class Full(io.RawIOBase):
        def __init__(self, handle: Any) -> None:
            self.handle, self.written = handle, 0

        def write(self, data: Any) -> int:
            if self.written > CHUNK:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return int(self.handle.write(data))

        def close(self) -> None:
            self.handle.close()

        def fileno(self) -> int:
            return int(self.handle.fileno())

    monkeypatch.setattr(ac, "_open_private", lambda path: Full(real_open(path)))
    with pytest.raises(ac.ArtifactCryptError, match="the file system is full"):
        encrypt(tmp_path / "plain", tmp_path / "plain.lbenc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_header_round_trip() -> None:
    header = ac.Header(payload=1, log_n=17, r=8, p=1, chunk_log=20, kdf_salt=b"s" * 16, file_salt=b"f" * 16, nonce_prefix=b"n" * 7,
                       check=b"c" * 16)
    packed = header.pack()
    assert len(packed) == ac.HEADER_SIZE and packed.startswith(ac.MAGIC)
    again = ac.Header.unpack(packed, "memory")
    assert (again.payload, again.log_n, again.r, again.p, again.chunk_size, again.check) == (1, 17, 8, 1, 1 << 20, b"c" * 16)
    assert struct.unpack(">IB", ac._nonce(b"n" * 7, 5, True)[7:]) == (5, 1)


# --------------------------------------------------------------------------- artifacts


def artifacts_in(root: Path) -> list[dict[str, Any]]:
    (root / "database.sqlite").write_bytes(os.urandom(2 * CHUNK + 3))
    make_tree(root / "workflows")
    (root / "environment.json").write_text('{"WEBHOOK_URL": "https://n8n.example.com/"}')
    return [
        {"name": "database", "path": "database.sqlite", "kind": "database", "format": "sqlite", "sha256": "x", "size": 1},
        {"name": "workflows", "path": "workflows", "kind": "workflow_export", "format": "json"},
        {"name": "environment", "path": "environment.json", "kind": "env", "format": "json"},
    ]


def test_encrypt_artifacts_renames_and_marks_every_record(tmp_path: Path) -> None:
    records = artifacts_in(tmp_path)
    hashes = {r["name"]: hash_file(str(tmp_path / r["path"])) for r in records}
    result = ac.encrypt_artifacts(str(tmp_path), records, PASSPHRASE, remove_source=True, log_n=LOG_N)
    assert result["changed"] and result["processed"] == ["database", "workflows", "environment"]
    assert result["artifacts"] == [
        {"name": "database", "path": "database.sqlite.lbenc", "kind": "database", "format": "sqlite.lbenc"},
        {"name": "workflows", "path": "workflows.lbenc", "kind": "workflow_export", "format": "json.lbenc"},
        {"name": "environment", "path": "environment.json.lbenc", "kind": "env", "format": "json.lbenc"},
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["database.sqlite.lbenc", "environment.json.lbenc", "workflows.lbenc"]

    # A second run (the plaintext is gone, the encrypted files are there) changes nothing.
    again = ac.encrypt_artifacts(str(tmp_path), records, PASSPHRASE, remove_source=True, log_n=LOG_N)
    assert not again["changed"] and again["artifacts"] == result["artifacts"]
    # Records already marked encrypted are passed through as they are.
    assert ac.encrypt_artifacts(str(tmp_path), result["artifacts"], PASSPHRASE, log_n=LOG_N)["artifacts"] == result["artifacts"]

    decrypted = ac.decrypt_artifacts(str(tmp_path), result["artifacts"], PASSPHRASE, dest_dir=str(tmp_path / "plain"))
    assert [(r["path"], r["format"]) for r in decrypted["artifacts"]] == [
        ("database.sqlite", "sqlite"), ("workflows", "json"), ("environment.json", "json")]
    for record in decrypted["artifacts"]:
        assert (record["sha256"], record["size"]) == hashes[record["name"]]
    # The source stays when the destination is another folder.
    assert (tmp_path / "database.sqlite.lbenc").exists()


def test_decrypt_in_place_can_remove_the_encrypted_files(tmp_path: Path) -> None:
    result = ac.encrypt_artifacts(str(tmp_path), artifacts_in(tmp_path), PASSPHRASE, remove_source=True, log_n=LOG_N)
    ac.decrypt_artifacts(str(tmp_path), result["artifacts"], PASSPHRASE, remove_source=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["database.sqlite", "environment.json", "workflows"]


def test_decrypt_only_named_artifacts(tmp_path: Path) -> None:
    result = ac.encrypt_artifacts(str(tmp_path), artifacts_in(tmp_path), PASSPHRASE, remove_source=True, log_n=LOG_N)
    out = tmp_path / "keycheck"
    only = ac.decrypt_artifacts(str(tmp_path), result["artifacts"], PASSPHRASE, dest_dir=str(out), names=["database"])
    assert [r["name"] for r in only["artifacts"]] == ["database"]
    assert sorted(p.name for p in out.iterdir()) == ["database.sqlite"]
    with pytest.raises(ac.ArtifactCryptError, match="no artifact named nodes"):
        ac.decrypt_artifacts(str(tmp_path), result["artifacts"], PASSPHRASE, dest_dir=str(out), names=["nodes"])


def test_plain_artifacts_are_copied_to_another_destination(tmp_path: Path) -> None:
    records = artifacts_in(tmp_path)
    result = ac.decrypt_artifacts(str(tmp_path), records, PASSPHRASE, dest_dir=str(tmp_path / "elsewhere"))
    assert not result["processed"] and result["artifacts"] == records
    assert hash_file(str(tmp_path / "elsewhere" / "workflows")) == hash_file(str(tmp_path / "workflows"))


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    records = artifacts_in(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = ac.encrypt_artifacts(str(tmp_path), records, PASSPHRASE, remove_source=True, log_n=LOG_N, check_mode=True)
    assert result["changed"] and sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("kwargs", "records", "expected"),
    [
        ({"passphrase": "short"}, None, "fewer than 12 characters"),
        ({"log_n": 30}, None, "scrypt cost must be between 10 and 22"),
        ({}, [{"name": "x", "path": "../x", "format": "file"}], "is not inside the backup directory"),
        ({}, [{"name": "x", "path": "missing", "format": "file"}], "does not exist"),
        ({}, [{"name": "x", "path": "database.sqlite", "format": "f" * 30}], "too long to mark as encrypted"),
    ],
)
def test_encrypt_artifacts_refusals(tmp_path: Path, kwargs: dict[str, Any], records: Any, expected: str) -> None:
    default = artifacts_in(tmp_path)
    params = {"passphrase": PASSPHRASE, "log_n": LOG_N, **kwargs}
    with pytest.raises(ac.ArtifactCryptError, match=expected):
        ac.encrypt_artifacts(str(tmp_path), records or default, params.pop("passphrase"), **params)


def test_an_inconsistent_record_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ac.ArtifactCryptError, match="does not end in .lbenc"):
        ac.decrypt_artifacts(str(tmp_path), [{"name": "db", "path": "database.sqlite", "format": "sqlite.lbenc"}], PASSPHRASE)


def test_is_encrypted_helpers(sealed: Path, tmp_path: Path) -> None:
    assert ac.is_encrypted_file(str(sealed)) and not ac.is_encrypted_file(str(tmp_path / "plain"))
    assert not ac.is_encrypted_file(str(tmp_path / "nope"))
    assert ac.is_encrypted_artifact({"format": "pg_custom.lbenc"}) and not ac.is_encrypted_artifact({"format": "pg_custom"})
    assert ac.read_header(str(sealed)).chunk_size == CHUNK
