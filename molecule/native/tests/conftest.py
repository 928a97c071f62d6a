"""The shared fixtures (molecule/shared/fixtures.py) and the harness, for this scenario's tests."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "molecule" / "shared"), str(ROOT / "harness")]

# The shared pytest fixtures, by name (tests import the helpers they use themselves).
from fixtures import controller, mol  # noqa: E402

__all__ = ["controller", "mol"]
