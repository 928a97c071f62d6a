"""Service commands for a benchmark site: ``python -m bench.ctl start|stop --state-file S``.

The roles drive a native site through these ("command" service manager), and the runner's
bare baseline uses the very same commands, so both pay the same process start-up.

start: the harness's start (returns once the editor-accessible line is logged and
/healthz/readiness answers).
stop: SIGTERM to n8n's main process only, as ``docker stop`` and systemd's
``KillMode=mixed`` do; n8n stops its task runner itself. Then wait for the whole process
group to be gone (SIGKILL after 90 s). The harness's own stop signals the whole group at
once; with that, n8n sometimes waited its 30-second graceful-shutdown timeout (its task
runner was already gone), which would have put a random 30 s into both sides of the
downtime comparison.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from n8n_harness import N8nInstance


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is alive (zombies waiting for their parent do not count)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc/%s/stat" % entry).read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def stop(state: Path, timeout: float = 90.0) -> float:
    instance = N8nInstance.load_state(state)
    started = time.monotonic()
    pid = instance.pid
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if group_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    instance.pid = None
    instance.save_state(state)
    return time.monotonic() - started


def start(state: Path, timeout: float = 600.0) -> float:
    instance = N8nInstance.load_state(state)
    if instance.is_running():
        return 0.0
    started = time.monotonic()
    instance.pid = None
    instance.start(timeout=timeout)
    instance.save_state(state)
    return time.monotonic() - started


def command(action: str, state: Path) -> str:
    """The shell command the roles run (lifeboat_n8n_start_command / lifeboat_n8n_stop_command)."""
    root = Path(__file__).resolve().parents[1]
    return "env PYTHONPATH=%s:%s %s -m bench.ctl %s --state-file %s" % (root, root / "harness", sys.executable, action, state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ctl")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--state-file", required=True, type=Path)
    args = parser.parse_args(argv)
    seconds = (start if args.action == "start" else stop)(args.state_file)
    print("n8n %s in %.1f s" % ("started" if args.action == "start" else "stopped", seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
