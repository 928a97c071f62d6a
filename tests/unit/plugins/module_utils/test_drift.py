"""Environment drift between a backup and a target: what changed, what it affects, nothing leaked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils._drift import DriftError, env_drift
from hypothesis import given
from hypothesis import strategies as st

R = "<redacted>"


@pytest.mark.parametrize(
    ("backup", "target", "entries", "flags"),
    [
        ({}, {}, [], (False, False, False)),
        ({"WEBHOOK_URL": "https://a/"}, {"WEBHOOK_URL": "https://a/"}, [], (False, False, False)),
        ({"WEBHOOK_URL": "https://a/"}, {"WEBHOOK_URL": "https://b/"}, [("WEBHOOK_URL", "changed", "https://a/", "https://b/")], (True, False, True)),
        ({}, {"N8N_PATH": "/n8n/"}, [("N8N_PATH", "added", None, "/n8n/")], (True, False, True)),
        ({"GENERIC_TIMEZONE": "Europe/Berlin"}, {}, [("GENERIC_TIMEZONE", "removed", "Europe/Berlin", None)], (False, True, True)),
        ({"TZ": "UTC"}, {"TZ": "Asia/Tokyo"}, [("TZ", "changed", "UTC", "Asia/Tokyo")], (False, True, True)),
        ({"EXECUTIONS_MODE": "regular"}, {"EXECUTIONS_MODE": "queue"}, [("EXECUTIONS_MODE", "changed", "regular", "queue")], (False, False, True)),
        # Irrelevant variables are ignored, relevant ones compared as strings.
        ({"HOME": "/a", "N8N_PORT": "5678"}, {"HOME": "/b", "N8N_PORT": 5678}, [], (False, False, False)),
        ({"N8N_PORT": "5678"}, {"N8N_PORT": None}, [("N8N_PORT", "removed", "5678", None)], (True, False, True)),
        # Redacted on either side: unknown, both values redacted, never the plaintext.
        ({"QUEUE_BULL_REDIS_PASSWORD": R}, {"QUEUE_BULL_REDIS_PASSWORD": "hunter2"}, [("QUEUE_BULL_REDIS_PASSWORD", "unknown", R, R)], (False, False, False)),
        ({"QUEUE_BULL_REDIS_PASSWORD": R}, {"QUEUE_BULL_REDIS_PASSWORD": R}, [("QUEUE_BULL_REDIS_PASSWORD", "unknown", R, R)], (False, False, False)),
        ({"WEBHOOK_URL": R}, {"WEBHOOK_URL": "https://a/"}, [("WEBHOOK_URL", "unknown", R, R)], (True, False, False)),
        ({}, {"QUEUE_BULL_REDIS_PASSWORD": "hunter2"}, [("QUEUE_BULL_REDIS_PASSWORD", "added", None, R)], (False, False, True)),
        (
            {"QUEUE_BULL_REDIS_HOST": "redis://u:<redacted>@r:6379"},
            {"QUEUE_BULL_REDIS_HOST": "redis://u:hunter2@r2:6379"},
            [("QUEUE_BULL_REDIS_HOST", "changed", "redis://<redacted>@r:6379", "redis://<redacted>@r2:6379")],
            (False, False, True),
        ),
    ],
)
def test_drift(backup: dict[str, Any], target: dict[str, Any], entries: list[tuple[Any, ...]], flags: tuple[bool, bool, bool]) -> None:
    result = env_drift(backup, target)
    assert [(e["name"], e["change"], e["backup"], e["target"]) for e in result["drift"]] == entries
    assert (result["webhooks_affected"], result["schedules_affected"], result["changed"]) == flags
    assert "hunter2" not in json.dumps(result)


def test_entries_are_sorted_and_flagged() -> None:
    result = env_drift({"WEBHOOK_URL": "a", "TZ": "UTC", "N8N_HOST": "x"}, {"WEBHOOK_URL": "b", "TZ": "CET", "N8N_HOST": "y"})
    assert [e["name"] for e in result["drift"]] == ["N8N_HOST", "TZ", "WEBHOOK_URL"]
    assert [(e["webhooks"], e["schedules"]) for e in result["drift"]] == [(True, False), (False, True), (True, False)]


@pytest.mark.parametrize(
    ("backup", "target", "message"),
    [
        (["WEBHOOK_URL"], {}, "backup_env must be a mapping of environment variables, got list"),
        ({}, "WEBHOOK_URL=x", "target_env must be a mapping of environment variables, got str"),
        ({"WEBHOOK_URL": {"x": "hunter2"}}, {}, "backup_env.WEBHOOK_URL must be a string, got dict"),
    ],
)
def test_bad_input_is_named_without_values(backup: Any, target: Any, message: str) -> None:
    with pytest.raises(DriftError) as info:
        env_drift(backup, target)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)


def test_none_means_empty() -> None:
    assert env_drift(None, {"TZ": "UTC"})["drift"][0]["change"] == "added"


relevant = st.sampled_from(["WEBHOOK_URL", "N8N_HOST", "TZ", "GENERIC_TIMEZONE", "EXECUTIONS_MODE", "QUEUE_BULL_REDIS_PASSWORD", "HOME"])
envs = st.dictionaries(relevant, st.sampled_from(["a", "b", R, "redis://u:p@h"]), max_size=6)


@given(a=envs, b=envs)
def test_drift_is_symmetric_in_names(a: dict[str, str], b: dict[str, str]) -> None:
    there, back = env_drift(a, b), env_drift(b, a)
    assert [e["name"] for e in there["drift"]] == [e["name"] for e in back["drift"]]
    swap = {"added": "removed", "removed": "added", "changed": "changed", "unknown": "unknown"}
    assert [swap[e["change"]] for e in there["drift"]] == [e["change"] for e in back["drift"]]
    assert (there["changed"], there["webhooks_affected"], there["schedules_affected"]) == (
        back["changed"],
        back["webhooks_affected"],
        back["schedules_affected"],
    )
    assert env_drift(a, a)["changed"] is False
