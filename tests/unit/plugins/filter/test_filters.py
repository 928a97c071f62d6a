"""The filter plugins: thin wrappers that register, delegate, and turn bad input into AnsibleFilterError."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.lifeboat.n8n.plugins.filter import activation_workflows, env_drift, key_fingerprint, trigger_plan, version_parity
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import key_fingerprint as fingerprint_logic

FILTER_DIR = Path(version_parity.__file__).parent
MODULES = {
    "version_parity": version_parity,
    "env_drift": env_drift,
    "trigger_plan": trigger_plan,
    "activation_workflows": activation_workflows,
    "key_fingerprint": key_fingerprint,
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_filter_registers_under_its_file_name_with_a_sidecar_doc(name: str) -> None:
    filters = MODULES[name].FilterModule().filters()
    assert list(filters) == [name]
    doc = yaml.safe_load((FILTER_DIR / f"{name}.yml").read_text())
    assert doc["DOCUMENTATION"]["name"] == name
    assert doc["DOCUMENTATION"]["version_added"] == "0.1.0"
    assert "_input" in doc["DOCUMENTATION"]["options"]
    assert "_value" in doc["RETURN"]
    assert doc["EXAMPLES"].strip()


def _filter(name: str) -> Callable[..., Any]:
    return MODULES[name].FilterModule().filters()[name]  # type: ignore[no-any-return]


def test_version_parity_delegates() -> None:
    assert _filter("version_parity")("2.38.7", "2.40.7")["verdict"] == "forward"
    assert _filter("version_parity")("1.123.81", "2.40.7", {"allow_cross_major": True})["allowed"] is True


def test_env_drift_delegates() -> None:
    assert _filter("env_drift")({"TZ": "UTC"}, {"TZ": "CET"})["schedules_affected"] is True


def test_trigger_plan_and_activation_workflows_chain() -> None:
    backup = [{"id": "a", "active": True, "version_id": "v", "active_version_id": "p"}]
    plan = _filter("trigger_plan")(backup, [{"id": "a", "active": True}])
    assert _filter("activation_workflows")(plan) == [{"id": "a", "active": True, "version_id": "p", "toggle": True}]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("version_parity", ("2.40.7", "2.40.7", {"bogus": True}), "lifeboat.n8n.version_parity: policy has unknown keys bogus"),
        ("version_parity", (["2.40.7"], "2.40.7"), "got ['2.40.7'] (list)"),
        ("env_drift", ("TZ=UTC", {}), "lifeboat.n8n.env_drift: backup_env must be a mapping of environment variables, got str"),
        ("trigger_plan", ({"id": "a"}, []), "lifeboat.n8n.trigger_plan: manifest_workflows must be a list of workflow records, got {'id': 'a'} (dict)"),
        ("activation_workflows", ("plan",), "lifeboat.n8n.activation_workflows: the plan must be the list trigger_plan returns, got 'plan' (str)"),
    ],
)
def test_bad_input_becomes_an_ansible_filter_error(name: str, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(AnsibleFilterError) as info:
        _filter(name)(*args)
    assert message in str(info.value)


def test_key_fingerprint_matches_module_utils() -> None:
    assert _filter("key_fingerprint")("my-n8n-key") == fingerprint_logic("my-n8n-key")


KEY_LIKE = "Zm9vYmFyLXNlY3JldC1rZXk="


class _LazyDict(dict):  # type: ignore[type-arg]
    """Stands for Ansible's own dict subclasses (_AnsibleLazyTemplateDict)."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "got an empty string"),
        (None, "got a value of type NoneType"),
        (42, "got a value of type int"),
        ([KEY_LIKE], "got a value of type list"),
        ({"key": KEY_LIKE}, "got a value of type dict"),
        (_LazyDict(key=KEY_LIKE), "got a value of type dict"),
        (KEY_LIKE[:5] + "\udc80" + KEY_LIKE[5:], "not valid text"),
    ],
)
def test_key_fingerprint_errors_never_echo_the_key(value: Any, expected: str) -> None:
    with pytest.raises(AnsibleFilterError) as info:
        _filter("key_fingerprint")(value)
    text = str(info.value)
    assert expected in text
    assert KEY_LIKE[:8] not in text and "udc80" not in text
    # Nothing chained either: a traceback must not show the key through a cause.
    assert info.value.__cause__ is None
