"""A copy that is its own checksum check: the file is read once, and appears only when it matches."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections import namedtuple
from pathlib import Path

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _files
from ansible_collections.lifeboat.n8n.plugins.module_utils import _verified_copy as vc

DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.fixture
def artifact(tmp_path: Path) -> tuple[Path, str, int]:
    src = tmp_path / "backup" / "database.sqlite"
    src.parent.mkdir()
    # larger than one chunk, and not a multiple of it
    data = os.urandom(vc._CHUNK + 12345)
    src.write_bytes(data)
    return src, hashlib.sha256(data).hexdigest(), len(data)


def _leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(vc.PARTIAL_SUFFIX))


def test_copy_matches_and_gets_exactly_its_mode(tmp_path: Path, artifact: tuple[Path, str, int]) -> None:
    src, digest, size = artifact
    dest = tmp_path / "n8n" / "database.sqlite.lifeboat-restore"
    dest.parent.mkdir()
    old_umask = os.umask(0o077)
    try:
        result = vc.copy_verified(str(src), str(dest), digest, size=size, mode=0o640)
    finally:
        os.umask(old_umask)
    assert dest.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert result["dest"] == str(dest) and result["size"] == size and result["sha256"] == digest
    assert _leftovers(dest.parent) == []


def test_upper_case_digest_is_accepted(tmp_path: Path, artifact: tuple[Path, str, int]) -> None:
    src, digest, _size = artifact
    assert vc.copy_verified(str(src), str(tmp_path / "copy"), digest.upper())["sha256"] == digest


def test_checksum_mismatch_leaves_nothing_and_keeps_what_was_there(tmp_path: Path, artifact: tuple[Path, str, int]) -> None:
    src, digest, size = artifact
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0x01
    src.write_bytes(bytes(data))
    dest = tmp_path / "copy"
    dest.write_bytes(b"an earlier staged copy")
    with pytest.raises(vc.VerifiedCopyError, match=f"checksum mismatch: expected sha256 {digest}") as raised:
        vc.copy_verified(str(src), str(dest), digest, size=size)
    assert "This backup must not be restored" in str(raised.value)
    assert dest.read_bytes() == b"an earlier staged copy"
    assert _leftovers(tmp_path) == []


def test_size_mismatch_is_refused_before_reading(tmp_path: Path, artifact: tuple[Path, str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    src, digest, size = artifact
    monkeypatch.setattr(vc, "_copy_and_hash", lambda *_args: pytest.fail("the file was read"))
    with pytest.raises(vc.VerifiedCopyError, match=f"size mismatch: expected {size + 1} bytes, found {size}"):
        vc.copy_verified(str(src), str(tmp_path / "copy"), digest, size=size + 1)
    assert not (tmp_path / "copy").exists()


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64])
def test_malformed_digest_is_refused(tmp_path: Path, artifact: tuple[Path, str, int], bad: str) -> None:
    src, _digest, _size = artifact
    with pytest.raises(vc.VerifiedCopyError, match="64 lowercase hex digits"):
        vc.copy_verified(str(src), str(tmp_path / "copy"), bad)


def test_missing_source_and_missing_folder_are_named(tmp_path: Path, artifact: tuple[Path, str, int]) -> None:
    src, digest, _size = artifact
    with pytest.raises(vc.VerifiedCopyError, match="use another backup"):
        vc.copy_verified(str(tmp_path / "nope"), str(tmp_path / "copy"), digest)
    with pytest.raises(vc.VerifiedCopyError, match="does not exist"):
        vc.copy_verified(str(src), str(tmp_path / "no-folder" / "copy"), digest)


def test_not_enough_space_is_refused_before_writing(tmp_path: Path, artifact: tuple[Path, str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    src, digest, size = artifact
    monkeypatch.setattr(_files.shutil, "disk_usage", lambda _path: DiskUsage(10**9, 10**9, 4096))
    with pytest.raises(vc.VerifiedCopyError, match=r"has 0\.0 MiB free, the copy needs 4\.0 MiB. Free space there first"):
        vc.copy_verified(str(src), str(tmp_path / "copy"), digest, size=size)
    assert os.listdir(tmp_path) == ["backup"]


def test_disk_full_while_copying_removes_the_partial(tmp_path: Path, artifact: tuple[Path, str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    src, digest, size = artifact
    real_sendfile = os.sendfile
    calls: list[int] = []

    def sendfile(out: int, source: int, offset: None, count: int) -> int:
        if calls:
            raise OSError(errno.ENOSPC, "No space left on device")
        calls.append(out)
        return real_sendfile(out, source, offset, 1 << 20)  # a first, partial step

    monkeypatch.setattr(vc.os, "sendfile", sendfile)
    with pytest.raises(vc.VerifiedCopyError, match="is full .* no partial copy was left"):
        vc.copy_verified(str(src), str(tmp_path / "copy"), digest, size=size)
    assert sorted(os.listdir(tmp_path)) == ["backup"]


def test_the_digest_is_of_what_was_written(tmp_path: Path, artifact: tuple[Path, str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash reads the copy back, so a copy that differs from its source is refused."""
    src, digest, size = artifact
    real_sendfile = os.sendfile
    flipped = bytes([src.read_bytes()[0] ^ 0xFF])

    def damaging_sendfile(out: int, source: int, offset: None, count: int) -> int:
        sent = real_sendfile(out, source, offset, count)
        if sent:
            os.pwrite(out, flipped, 0)  # the first byte of the copy is not the source's
        return sent

    monkeypatch.setattr(vc.os, "sendfile", damaging_sendfile)
    with pytest.raises(vc.VerifiedCopyError, match="checksum mismatch"):
        vc.copy_verified(str(src), str(tmp_path / "copy"), digest, size=size)
    assert sorted(os.listdir(tmp_path)) == ["backup"]


def test_check_only_reads_and_writes_nothing(tmp_path: Path, artifact: tuple[Path, str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    src, digest, size = artifact
    monkeypatch.setattr(vc, "_copy_and_hash", lambda *_args: pytest.fail("the file was read"))
    result = vc.copy_verified(str(src), str(tmp_path / "copy"), digest, size=size, check_only=True)
    assert result["sha256"] is None and result["size"] == size
    assert os.listdir(tmp_path) == ["backup"]


def test_owner_and_group_resolve_names_and_ids() -> None:
    assert vc.resolve_uid(None) == -1 and vc.resolve_gid("") == -1
    assert vc.resolve_uid("0") == 0 and vc.resolve_uid("root") == 0
    assert vc.resolve_gid("0") == 0
    with pytest.raises(vc.VerifiedCopyError, match="Unknown owner"):
        vc.resolve_uid("no-such-user-lifeboat")
    with pytest.raises(vc.VerifiedCopyError, match="Unknown group"):
        vc.resolve_gid("no-such-group-lifeboat")


def test_owner_is_set_on_the_copy(tmp_path: Path, artifact: tuple[Path, str, int]) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    src, digest, _size = artifact
    dest = tmp_path / "copy"
    vc.copy_verified(str(src), str(dest), digest, uid=65534, gid=65534)
    assert (dest.stat().st_uid, dest.stat().st_gid) == (65534, 65534)
