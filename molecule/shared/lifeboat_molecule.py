"""What the Molecule scenarios share on the controller side: wait for n8n, seed it, restore, read it back.

Used two ways:

* as a command by the scenarios' playbooks (prepare, side_effect), with the venv's
  Python (``ansible_playbook_python``)::

      lifeboat_molecule.py wait --name lbm-default-n8n --port 25701
      lifeboat_molecule.py seed --name lbm-default-n8n --port 25701 --version 2.40.7 --out <file>

* as a library by the testinfra tests (``molecule/shared/fixtures.py``).

n8n runs in the platform containers with the cached install bind-mounted; the harness
(``harness/n8n_harness``) talks to it through the port published on 127.0.0.1. Every file
written here that holds a secret (seed output: API key, webhook token) is created 0600.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "harness") not in sys.path:
    sys.path.insert(0, str(ROOT / "harness"))

from n8n_harness.containers import ContainerN8n  # noqa: E402
from n8n_harness.launcher import READY_LINE, N8nError  # noqa: E402
from n8n_harness.seed import seed  # noqa: E402


def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


# ------------------------------------------------------------------ readiness
def n8n_log(name: str, journal: bool) -> str:
    """n8n's log since its current start: the container's (docker) or the unit's current invocation (systemd)."""
    if journal:
        invocation = run(["docker", "exec", name, "systemctl", "show", "-p", "InvocationID", "--value", "n8n"]).stdout.strip()
        if not invocation:
            return ""
        out = run(["docker", "exec", name, "journalctl", f"_SYSTEMD_INVOCATION_ID={invocation}", "--no-pager", "-o", "cat"])
        return out.stdout
    started = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", name]).stdout.strip()
    out = run(["docker", "logs", "--since", started, name] if started else ["docker", "logs", name])
    return out.stdout + out.stderr


def wait_ready(name: str, port: int, journal: bool = False, timeout: float = 420.0) -> None:
    """Ready = /healthz/readiness answers 200 AND the log of this start says the editor is accessible.

    Readiness alone is not enough: n8n answers it once the database is up, and registers
    active workflows (webhooks, schedules) only afterwards.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = requests.get(f"http://127.0.0.1:{port}/healthz/readiness", timeout=2).status_code == 200
        except requests.RequestException:
            ready = False
        if ready and READY_LINE in n8n_log(name, journal):
            return
        time.sleep(1)
    tail = "\n".join(n8n_log(name, journal).splitlines()[-30:])
    raise N8nError(f"n8n in {name} not ready on port {port} after {timeout:.0f} s:\n{tail}")


# ----------------------------------------------------------------------- seed
def write_private(path: Path, data: Any) -> None:
    """JSON into a file only its owner can read (it holds secrets)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


def seed_container(name: str, port: int, version: str, out: Path) -> dict[str, Any]:
    """The harness seed (owner, API key, credentials, workflows, executions) through the published port."""
    client = ContainerN8n(version=version, name=name, port=port)
    seeded = seed(client)
    data = {**asdict(seeded), "api_key": client.api_key, "url": client.url, "name": name, "port": port}
    write_private(out, data)
    return data


# ------------------------------------------------------------ independent decrypt
def decrypt_credential(data: str, key: str) -> str:
    """n8n's credential cipher written out here, not imported from the collection.

    CryptoJS/OpenSSL "Salted__" AES-256-CBC, key and IV from EVP_BytesToKey(MD5) over the
    key string (``openssl enc -d -aes-256-cbc -a -A -md md5 -pass pass:<key>``). The tests
    use it so "credentials decrypt" is checked by code the roles do not share.
    """
    raw = base64.b64decode(data)
    if raw[:8] != b"Salted__":
        raise ValueError("not OpenSSL salted ciphertext")
    salt, body = raw[8:16], raw[16:]
    password = key.encode("latin-1", "replace")
    derived, block = b"", b""
    while len(derived) < 48:
        block = hashlib.md5(block + password + salt).digest()  # noqa: S324 - n8n's key derivation
        derived += block
    decryptor = Cipher(algorithms.AES(derived[:32]), modes.CBC(derived[32:48])).decryptor()
    padded = decryptor.update(body) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


# ------------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lifeboat_molecule.py")
    parser.add_argument("command", choices=["wait", "seed"])
    parser.add_argument("--name", required=True, help="the container n8n runs in")
    parser.add_argument("--port", type=int, required=True, help="n8n's port published on 127.0.0.1")
    parser.add_argument("--version", help="n8n version (seed)")
    parser.add_argument("--out", help="seed: where to write what was seeded (0600)")
    parser.add_argument("--journal", action="store_true", help="n8n runs as the systemd unit n8n inside the container")
    parser.add_argument("--timeout", type=float, default=420.0)  # first start migrates; slow on a loaded 2-core host
    args = parser.parse_args(argv)
    wait_ready(args.name, args.port, journal=args.journal, timeout=args.timeout)
    if args.command == "seed":
        if not (args.version and args.out):
            parser.error("seed needs --version and --out")
        data = seed_container(args.name, args.port, args.version, Path(args.out))
        print(f"seeded {args.name}: {len(data['workflows'])} workflows, {len(data['credentials'])} credentials")
    else:
        print(f"n8n in {args.name} is ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
