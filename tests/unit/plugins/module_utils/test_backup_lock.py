"""The backup lock: one holder, named when held, stale holders taken over only when surely dead."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Optional

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _backup_lock as bl

HOST = "n8n-prod"


class Procs:
    """A fake process table: pid -> (start, cmdline, parent)."""

    def __init__(self, table: dict[int, tuple[int, str, int]]) -> None:
        self.table = table

    def read(self, pid: int) -> Optional[tuple[int, str]]:
        entry = self.table.get(pid)
        return None if entry is None else (entry[0], entry[1])

    def parent(self, pid: int) -> Optional[int]:
        entry = self.table.get(pid)
        return None if entry is None else entry[2]


# module (300) <- sh (200) <- ansible worker (110) <- ansible-playbook (100) <- bash (50)
LOCAL_RUN = Procs(
    {
        300: (9000, "python AnsiballZ_n8n_backup_lock.py", 200),
        200: (8999, "/bin/sh -c python AnsiballZ", 110),
        110: (8000, "python3 /usr/bin/ansible-playbook backup.yml", 100),
        100: (7000, "python3 /usr/bin/ansible-playbook backup.yml", 50),
        50: (10, "bash", 1),
    }
)
# Over SSH no ancestor names ansible.
SSH_RUN = Procs({300: (9000, "python AnsiballZ_n8n_backup_lock.py", 200), 200: (8999, "sshd: root@notty", 1)})


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def take(root: Path, backup_id: str, procs: Procs = LOCAL_RUN, clock: Optional[Clock] = None, **kwargs):
    clock = clock or Clock()
    return bl.acquire(str(root), backup_id, hostname=HOST, pid=300, clock=clock, sleep=clock.sleep, read=procs.read, parent=procs.parent, user="root", **kwargs)


def test_run_process_is_the_outermost_ansible_ancestor() -> None:
    assert bl.run_process(300, LOCAL_RUN.read, LOCAL_RUN.parent) == {"pid": 100, "start": 7000}
    assert bl.run_process(300, SSH_RUN.read, SSH_RUN.parent) is None


def test_acquire_writes_a_private_record_and_release_removes_it(tmp_path: Path) -> None:
    got = take(tmp_path, "20261121T140102Z")
    lock = tmp_path / ".lock"
    assert got["acquired"] and got["broken"] is None and got["waited"] == 0
    assert lock.stat().st_mode & 0o777 == 0o600
    record = json.loads(lock.read_text())
    assert record["backup_id"] == "20261121T140102Z" and record["process"] == {"pid": 100, "start": 7000}
    assert record["started_at"] == "1970-01-12T13:46:40Z" and record["host"] == HOST and record["user"] == "root"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"], "no temporary file left"
    assert bl.release(str(tmp_path), got["token"]) is True
    assert not lock.exists()
    assert bl.release(str(tmp_path), got["token"]) is False


def test_a_held_lock_is_refused_naming_its_holder(tmp_path: Path) -> None:
    first = take(tmp_path, "first")
    clock = Clock(1_000_000.0 + 180)
    second = take(tmp_path, "second", clock=clock)
    assert not second["acquired"] and second["token"] is None and second["stale"] is None
    assert second["holder"] == "backup first started 1970-01-12T13:46:40Z (3 min ago) by root@n8n-prod, pid 100"
    # The refused run does not touch the holder's lock; releasing with another token does nothing.
    assert bl.release(str(tmp_path), "not-the-token") is False
    assert json.loads((tmp_path / ".lock").read_text())["token"] == first["token"]


def test_waiting_takes_the_lock_once_the_holder_releases_it(tmp_path: Path) -> None:
    first = take(tmp_path, "first")
    clock = Clock()
    real_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        real_sleep(seconds)
        if clock.now >= 1_000_000.0 + 6:
            bl.release(str(tmp_path), first["token"])

    got = bl.acquire(str(tmp_path), "second", wait=30, poll=2, hostname=HOST, pid=300, clock=clock, sleep=sleep, read=LOCAL_RUN.read, parent=LOCAL_RUN.parent)
    assert got["acquired"] and got["waited"] == 6 and clock.slept == [2, 2, 2]


def test_waiting_gives_up_after_wait_seconds(tmp_path: Path) -> None:
    take(tmp_path, "first")
    clock = Clock()
    got = take(tmp_path, "second", clock=clock, wait=5, poll=2)
    assert not got["acquired"] and clock.slept == [2, 2, 1] and got["waited"] == 5


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path: Path) -> None:
    take(tmp_path, "killed")
    gone = Procs({pid: entry for pid, entry in LOCAL_RUN.table.items() if pid not in (100, 110)})
    got = take(tmp_path, "next", procs=gone)
    assert got["acquired"] and got["broken"].startswith("backup killed started")
    assert json.loads((tmp_path / ".lock").read_text())["backup_id"] == "next"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


def test_a_reused_pid_does_not_keep_a_stale_lock_alive(tmp_path: Path) -> None:
    take(tmp_path, "killed")
    reused = Procs({**LOCAL_RUN.table, 100: (99999, "python3 /usr/bin/ansible-playbook other.yml", 50)})
    assert take(tmp_path, "next", procs=reused)["broken"] is not None


def test_a_lock_held_from_another_host_is_never_broken_only_called_stale(tmp_path: Path) -> None:
    take(tmp_path, "remote")
    record = json.loads((tmp_path / ".lock").read_text())
    record["host"] = "controller"
    (tmp_path / ".lock").write_text(json.dumps(record))
    young = take(tmp_path, "next", clock=Clock(1_000_000.0 + 600), stale_after=3600)
    assert not young["acquired"] and young["stale"] is None
    old = take(tmp_path, "next", clock=Clock(1_000_000.0 + 7 * 3600), stale_after=3600)
    assert not old["acquired"] and old["stale"] == "it is 7.0 h old, older than any backup should take"
    assert (tmp_path / ".lock").exists()


def test_a_lock_over_ssh_records_no_process_and_is_not_broken(tmp_path: Path) -> None:
    take(tmp_path, "remote", procs=SSH_RUN)
    assert json.loads((tmp_path / ".lock").read_text())["process"] is None
    got = take(tmp_path, "next", procs=SSH_RUN)
    assert not got["acquired"] and got["holder"] == "backup remote started 1970-01-12T13:46:40Z (0 s ago) by root@n8n-prod"


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]"])
def test_an_unreadable_lock_is_held_by_an_unknown_holder(tmp_path: Path, content: str) -> None:
    (tmp_path / ".lock").write_text(content)
    got = take(tmp_path, "next")
    assert not got["acquired"] and got["holder"].startswith("holder unknown") and got["stale"] == "its holder cannot be read"


def test_an_old_lock_folder_is_honoured(tmp_path: Path) -> None:
    (tmp_path / ".lock").mkdir()
    (tmp_path / ".lock" / "owner").write_text("backup old started 2026-11-21T14:01:02Z by root\n")
    got = take(tmp_path, "next")
    assert not got["acquired"] and "backup old started" in got["holder"]


def test_only_one_of_many_simultaneous_runs_gets_the_lock(tmp_path: Path) -> None:
    results: list[dict] = []
    barrier = threading.Barrier(8)

    def run(i: int) -> None:
        barrier.wait()
        results.append(bl.acquire(str(tmp_path), f"run-{i}", hostname=HOST, pid=os.getpid()))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["acquired"] for r in results) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


@pytest.mark.parametrize(("seconds", "text"), [(5, "5 s"), (119, "119 s"), (180, "3 min"), (7200, "2.0 h")])
def test_human_duration(seconds: float, text: str) -> None:
    assert bl.human_duration(seconds) == text
