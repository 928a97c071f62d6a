"""Timing and memory of commands and playbook runs (the runner's instruments).

* A raw tool runs under ``/usr/bin/time -f %M`` (peak RSS of the largest process of the
  pipeline) in ``bash -o pipefail``; the wall time is measured here (monotonic clock).
* A playbook run is sampled every 0.1 s: every descendant of ``ansible-playbook`` is found
  in /proc and its ``VmHWM`` (the kernel's own peak RSS of that process) kept per class:
  the Ansible controller (``ansible-playbook`` and its forks), modules (AnsiballZ
  processes), the dump or restore tool (pg_dump, pg_restore, zstd, and the SQLite backup
  module, which is the dump there). Processes living less than 0.1 s can be missed.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass
class Timed:
    seconds: float
    peak_rss_kb: int
    output: str = ""


def timed(script: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 7200) -> Timed:
    """Run ``script`` under bash with pipefail; fail loudly if it fails."""
    with tempfile.NamedTemporaryFile("r", prefix="bench-time-", delete=True) as out:
        argv = ["/usr/bin/time", "-f", "%M", "-o", out.name, "bash", "-o", "pipefail", "-euc", script]
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError("benchmark command failed (%d): %s\n%s" % (proc.returncode, script, proc.stderr[-3000:]))
        lines = [line for line in Path(out.name).read_text().splitlines() if line.strip().isdigit()]
    return Timed(seconds, int(lines[-1]) if lines else 0, proc.stdout)


DROP_CACHES = Path("/proc/sys/vm/drop_caches")
# Free page reporting (virtio-balloon): the guest hands freed memory back to the hypervisor, a
# counter of what it has handed back so far. Absent on machines without it.
PAGE_REPORTING = Path("/sys/module/page_reporting/parameters/reported_kib")


def settle() -> bool:
    """Write dirty pages out, empty the page cache, and wait until the freed memory is handed back.

    At 1M the SQLite database is a third of the memory: without this, the first step to read it
    (the role's backup) read it from disk and the raw tools after it from memory, and the writes
    one step left dirty slowed the next. Returns False (caches kept) where the kernel refuses.
    """
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError:
        return False
    wait_for_page_reporting()
    return True


def wait_for_page_reporting(counter: Path = PAGE_REPORTING, quiet_s: float = 5.0, limit_s: float = 90.0,
                            poll_s: float = 1.0) -> float:
    """Wait until the guest has handed the memory freed by ``drop_caches`` back to the hypervisor.

    On this virtual machine free page reporting hands freed memory back at about 0.7 GB/s, starting
    2 s after it was freed. A step that fills the page cache afterwards faults every page in again
    from the hypervisor: an 8 GB ``cp`` took 8 s right after ``drop_caches`` and 26 s 20 s later. The
    raw tools ran right after it, the role's copy some 20 s into its playbook: so every step now
    starts once reporting is over (``counter`` unchanged for ``quiet_s``), as the role's copy did.
    Returns the seconds waited; 0 where the kernel has no page reporting.
    """
    if not counter.exists():
        return 0.0
    started = time.monotonic()
    last, quiet_since = counter.read_text().strip(), started
    while time.monotonic() - started < limit_s:
        time.sleep(poll_s)
        now = counter.read_text().strip()
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            break
    return time.monotonic() - started


def read_once(paths: list[Path]) -> float:
    """Read files end to end and discard them; returns the seconds it took.

    Added when the first read of a freshly written file ran at half the speed of every later one
    (an 8 GB SQLite database: cp 17.8 s, then 9.3 s), taken then for a cache below the guest. The
    cause found later is free page reporting (see wait_for_page_reporting): a step that begins a
    while after drop_caches is the slow one. This read is kept so that runs stay comparable with
    those before; it costs one read of the database per site.
    """
    started = time.monotonic()
    for path in paths:
        with open(path, "rb", buffering=0) as handle:
            while handle.read(8 * 1024 * 1024):
                pass
    return time.monotonic() - started


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(rest[1]), []).append(int(entry))
    return children


def _classify(cmdline: str) -> str | None:
    if "AnsiballZ_n8n_sqlite_backup" in cmdline:
        return "dump"
    if "AnsiballZ_" in cmdline:
        return "module"
    if "ansible-playbook" in cmdline:
        return "ansible"
    base = cmdline.split("\0", 1)[0].rsplit("/", 1)[-1]
    if base in ("pg_dump", "zstd", "pg_restore", "sqlite3"):
        return "dump" if base in ("pg_dump", "zstd", "sqlite3") else "restore"
    return None


class Sampler(threading.Thread):
    """Peak RSS per process class under ``root`` while it runs."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.peaks: dict[str, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def sample(self) -> None:
        tree = _children_map()
        todo, seen = [self.root], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            todo.extend(tree.get(pid, []))
            try:
                cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().decode("utf-8", "replace")
                status = Path("/proc/%d/status" % pid).read_text()
            except OSError:
                continue
            kind = _classify(cmdline)
            if kind is None:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    kb = int(line.split()[1])
                    self.peaks[kind] = max(self.peaks.get(kind, 0), kb)
                    break

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


@dataclass
class PlaybookTiming:
    returncode: int
    seconds: float
    started: float  # time.time() when ansible-playbook was spawned
    tasks: list[dict[str, Any]] = field(default_factory=list)
    peaks_kb: dict[str, int] = field(default_factory=dict)
    log: str = ""

    def task(self, fragment: str, last: bool = False) -> dict[str, Any] | None:
        """The first (or last) finished, not skipped task whose name contains ``fragment``."""
        found = [t for t in self.tasks if fragment in t["name"] and t["status"] != "skipped"]
        if not found:
            return None
        return found[-1] if last else found[0]

    def task_seconds(self, fragment: str) -> float | None:
        task = self.task(fragment)
        if task is None or task.get("start") is None:
            return None
        return float(task["end"] - task["start"])

    def until(self, fragment: str) -> float | None:
        """Seconds from the playbook's spawn to the end of the last task named like ``fragment``."""
        task = self.task(fragment, last=True)
        return None if task is None else float(task["end"] - self.started)


def run_playbook(playbook: Path, inventory: Path, vars_files: list[Path], log_path: Path, timeout: float = 7200) -> PlaybookTiming:
    """ansible-playbook with the bench_timer callback, sampled for memory."""
    timer = Path(tempfile.mkstemp(prefix="bench-timer-", suffix=".jsonl")[1])
    env = dict(os.environ)
    env.update(
        ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="bench_timer",
        BENCH_TIMER_FILE=str(timer),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_DEPRECATION_WARNINGS="False",
        ANSIBLE_LOCALHOST_WARNING="False",
    )
    argv = ["ansible-playbook", "-i", str(inventory), str(playbook)]
    for path in vars_files:
        argv += ["-e", "@%s" % path]
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            started_wall = time.time()
            started = time.monotonic()
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=inventory.parent)
            sampler = Sampler(proc.pid)
            sampler.start()
            try:
                returncode = proc.wait(timeout=timeout)
            finally:
                sampler.stop()
            seconds = time.monotonic() - started
        tasks = [json.loads(line) for line in timer.read_text().splitlines() if line.strip()]
    finally:
        timer.unlink(missing_ok=True)
    return PlaybookTiming(returncode, seconds, started_wall, tasks, sampler.peaks, log_path.read_text(errors="replace"))
