"""Command line for the harness, for playbooks, Molecule and the demo.

    python -m n8n_harness start --state-file S [--version V] [--base-dir D] [--key-in-config]
    python -m n8n_harness stop  --state-file S
    python -m n8n_harness seed  --state-file S --output seed.json
    python -m n8n_harness status --state-file S

The state file (0600: it holds the key and the API key) keeps the instance's folder,
ports and key between commands, so `start` after `stop` brings back the same instance;
that pair is what a "command" service manager runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from . import installs
from .launcher import N8nInstance
from .seed import seed


def _load_or_new(args: argparse.Namespace) -> N8nInstance:
    state = Path(args.state_file)
    if state.exists():
        return N8nInstance.load_state(state)
    if not args.base_dir:
        raise SystemExit("--base-dir is needed the first time (no state file yet)")
    return N8nInstance(
        version=args.version or installs.pinned_versions()[0],
        base_dir=Path(args.base_dir),
        key_in_env=not args.key_in_config,
        port=args.port or 0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m n8n_harness")
    parser.add_argument("command", choices=["start", "stop", "seed", "status"])
    parser.add_argument("--state-file", required=True)
    parser.add_argument("--version")
    parser.add_argument("--base-dir")
    parser.add_argument("--port", type=int)
    parser.add_argument("--key-in-config", action="store_true", help="let n8n generate and keep its key in .n8n/config")
    parser.add_argument("--output", help="seed: where to write what was seeded (0600)")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    state = Path(args.state_file)

    if args.command == "start":
        instance = _load_or_new(args)
        if instance.is_running():
            print(f"n8n {instance.version} already runs (pid {instance.pid}) at {instance.url}")
            return 0
        instance.pid = None
        instance.start(timeout=args.timeout)
        instance.save_state(state)
        print(f"n8n {instance.version} ready (pid {instance.pid}) at {instance.url}")
        return 0

    if not state.exists():
        print(f"no state file {state}: nothing started", file=sys.stderr)
        return 0 if args.command == "stop" else 1
    instance = N8nInstance.load_state(state)

    if args.command == "stop":
        instance.stop()
        instance.save_state(state)
        print("n8n stopped")
        return 0
    if args.command == "status":
        print(json.dumps({"running": instance.is_running(), "url": instance.url, "version": instance.version}))
        return 0 if instance.is_running() else 3
    # seed
    seeded = seed(instance)
    instance.save_state(state)
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({**asdict(seeded), "api_key": instance.api_key, "url": instance.url}, handle, indent=2)
    print(f"seeded {len(seeded.workflows)} workflows and {len(seeded.credentials)} credentials")
    return 0


if __name__ == "__main__":
    sys.exit(main())
