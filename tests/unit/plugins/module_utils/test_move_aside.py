"""Moving a target's files aside before a restore: renames only, nothing overwritten, nothing deleted."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _move_aside as ma


@pytest.fixture
def target(tmp_path: Path) -> dict[str, Path]:
    home = tmp_path / ".n8n"
    (home / "binaryData").mkdir(parents=True)
    (home / "database.sqlite").write_bytes(b"current database")
    (home / "config").write_text('{"encryptionKey": "current"}')
    (home / "binaryData" / "blob").write_bytes(b"binary")
    return {
        "home": home,
        "snapshot": tmp_path / "snapshots" / "run1",
    }


def _files(home: Path) -> list[dict[str, str]]:
    return [
        {"name": "database.sqlite", "path": str(home / "database.sqlite")},
        {"name": "database.sqlite-wal", "path": str(home / "database.sqlite-wal")},
        {"name": "config", "path": str(home / "config")},
        {"name": "binary_data-binaryData", "path": str(home / "binaryData")},
    ]


def test_moves_what_exists_and_skips_what_does_not(target: dict[str, Path]) -> None:
    home, snapshot = target["home"], target["snapshot"]
    result = ma.move_aside(str(snapshot), _files(home))
    assert result == {
        "folder": str(snapshot),
        "moved": ["database.sqlite", "config", "binary_data-binaryData"],
        "already_aside": [],
        "absent": ["database.sqlite-wal"],
    }
    assert not (home / "database.sqlite").exists() and not (home / "binaryData").exists()
    assert (snapshot / "database.sqlite").read_bytes() == b"current database"
    assert (snapshot / "binary_data-binaryData" / "blob").read_bytes() == b"binary"
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o700


def test_an_existing_folder_is_made_private(target: dict[str, Path]) -> None:
    snapshot = target["snapshot"]
    snapshot.mkdir(parents=True, mode=0o755)
    snapshot.chmod(0o755)
    ma.move_aside(str(snapshot), _files(target["home"]))
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o700


def test_a_second_run_moves_nothing_and_never_overwrites(target: dict[str, Path]) -> None:
    home, snapshot = target["home"], target["snapshot"]
    ma.move_aside(str(snapshot), _files(home))
    # n8n (or a half-run restore) wrote a new database in the meantime: the one aside is kept.
    (home / "database.sqlite").write_bytes(b"newer")
    result = ma.move_aside(str(snapshot), _files(home))
    assert result["moved"] == []
    assert result["already_aside"] == ["database.sqlite", "config", "binary_data-binaryData"]
    assert (snapshot / "database.sqlite").read_bytes() == b"current database"
    assert (home / "database.sqlite").read_bytes() == b"newer"


def test_check_mode_changes_nothing(target: dict[str, Path]) -> None:
    home, snapshot = target["home"], target["snapshot"]
    result = ma.move_aside(str(snapshot), _files(home), check_only=True)
    assert result["moved"] == ["database.sqlite", "config", "binary_data-binaryData"]
    assert not snapshot.exists()
    assert (home / "database.sqlite").exists()


def test_a_dangling_symbolic_link_is_moved_too(target: dict[str, Path]) -> None:
    home, snapshot = target["home"], target["snapshot"]
    (home / "nodes").symlink_to(home / "missing")
    result = ma.move_aside(str(snapshot), [{"name": "nodes", "path": str(home / "nodes")}])
    assert result["moved"] == ["nodes"]
    assert os.path.islink(snapshot / "nodes")


@pytest.mark.parametrize(
    "files, message",
    [
        ([{"name": "a/b", "path": "/x"}], "not a plain file name"),
        ([{"name": "..", "path": "/x"}], "not a plain file name"),
        ([{"name": "", "path": "/x"}], "not a plain file name"),
        ([{"name": "a", "path": ""}], "has no path"),
        ([{"name": "a", "path": "/x"}, {"name": "a", "path": "/y"}], "given twice"),
    ],
)
def test_bad_names_are_refused_before_anything_moves(
    target: dict[str, Path], files: list[dict[str, str]], message: str
) -> None:
    with pytest.raises(ma.MoveAsideError, match=message):
        ma.move_aside(str(target["snapshot"]), files)
    assert not target["snapshot"].exists()


def test_a_failed_move_names_what_moved_before_it(target: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    home, snapshot = target["home"], target["snapshot"]
    real_move = shutil.move

    def move(source: str, dest: str) -> str:
        if source.endswith("config"):
            raise PermissionError(13, "Permission denied")
        return real_move(source, dest)

    monkeypatch.setattr(ma.shutil, "move", move)
    with pytest.raises(ma.MoveAsideError, match=r"Cannot move .*config aside.*Moved before it: database\.sqlite\."):
        ma.move_aside(str(snapshot), _files(home))
    assert (snapshot / "database.sqlite").exists()
    assert (home / "config").exists() and (home / "binaryData").exists()


def test_a_folder_that_cannot_be_created_moves_nothing(target: dict[str, Path]) -> None:
    blocker = target["snapshot"].parent
    blocker.write_text("a file where the snapshot root should be")
    with pytest.raises(ma.MoveAsideError, match="Cannot create the snapshot folder.*Nothing was moved"):
        ma.move_aside(str(target["snapshot"]), _files(target["home"]))
    assert (target["home"] / "database.sqlite").exists()
