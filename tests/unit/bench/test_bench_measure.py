"""The benchmark's measuring helpers that need no n8n (no timing asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench import measure  # noqa: E402


def test_read_once_reads_every_file_to_the_end(tmp_path: Path, monkeypatch) -> None:
    files = [tmp_path / "database.sqlite", tmp_path / "database.sqlite-wal"]
    files[0].write_bytes(b"x" * (9 * 1024 * 1024 + 1))
    files[1].write_bytes(b"")
    read: list[int] = []
    real_open = open

    def counting_open(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        original = handle.read

        def read_chunk(size: int = -1) -> bytes:
            data = original(size)
            read.append(len(data))
            return data

        handle.read = read_chunk
        return handle

    monkeypatch.setattr("builtins.open", counting_open)
    assert measure.read_once(files) >= 0
    assert sum(read) == 9 * 1024 * 1024 + 1


def test_wait_for_page_reporting_waits_until_the_counter_stops(tmp_path: Path) -> None:
    counter = tmp_path / "reported_kib"
    values = iter(["0", "0", "100", "200", "200", "200", "200"])
    counter.write_text(next(values))

    class Counter(type(counter)):  # a counter that moves on each read, as the kernel's does
        def read_text(self, *args, **kwargs) -> str:
            return next(values, "200")

    waited = measure.wait_for_page_reporting(Counter(counter), quiet_s=0.03, limit_s=5.0, poll_s=0.01)
    assert 0 < waited < 5.0
    assert next(values, "done") == "done"  # it read on until the counter had stayed put


def test_wait_for_page_reporting_without_it_returns_at_once(tmp_path: Path) -> None:
    assert measure.wait_for_page_reporting(tmp_path / "absent") == 0.0
