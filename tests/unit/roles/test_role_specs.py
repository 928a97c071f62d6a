"""Every role's defaults and meta/argument_specs.yml stay in sync (dev-sec's drifted; ours may not).

Each public variable in defaults/main.yml is documented in the main entry point with the
same default, every documented option with a default has it in defaults/main.yml, and every
default carries a comment right above it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists())


def load(role: str) -> tuple[dict, dict]:
    defaults_file = ROLES / role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return defaults or {}, specs


def templated(value: object) -> bool:
    return isinstance(value, str) and "{{" in value


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_defaults_are_documented_with_the_same_value(role: str) -> None:
    defaults, specs = load(role)
    options = specs["main"].get("options", {})
    for name, value in defaults.items():
        assert name in options, f"{role}: default {name} is not in meta/argument_specs.yml"
        if not templated(value) and "default" in options[name]:
            assert options[name]["default"] == value, f"{role}: {name} defaults differ"
        assert options[name].get("description"), f"{role}: {name} has no description"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_documented_defaults_exist(role: str) -> None:
    defaults, specs = load(role)
    for name, option in specs["main"].get("options", {}).items():
        if "default" in option and name.startswith(role + "_"):
            assert name in defaults, f"{role}: {name} has a documented default but none in defaults/main.yml"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_default_has_a_comment(role: str) -> None:
    path = ROLES / role / "defaults" / "main.yml"
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith((" ", "#", "-", "---")) and ":" in line:
            above = lines[index - 1] if index else ""
            assert above.startswith("#"), f"{role}: {line.split(':')[0]} has no comment above it"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_public_variables_carry_the_role_prefix(role: str) -> None:
    defaults = load(role)[0]
    for name in defaults:
        assert name.startswith(role + "_"), f"{role}: {name} lacks the {role}_ prefix"
