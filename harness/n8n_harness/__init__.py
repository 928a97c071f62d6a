"""Test harness: real, pinned n8n installs driven from pytest, Molecule and the demo."""

from .installs import pinned_versions
from .launcher import N8nError, N8nInstance, PostgresConfig
from .seed import Seeded, seed

__all__ = ["N8nError", "N8nInstance", "PostgresConfig", "Seeded", "pinned_versions", "seed"]
