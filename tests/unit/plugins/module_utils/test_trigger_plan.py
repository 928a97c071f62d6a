"""Trigger plans: which workflows to toggle after a restore, in which order, to which version, and why."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils._trigger_plan import TriggerPlanError, activation_workflows, trigger_plan
from hypothesis import given
from hypothesis import strategies as st


def wf(wid: str, active: bool, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": wid,
        "name": f"Workflow {wid}",
        "active": active,
        "version_id": f"v-{wid}",
        "active_version_id": None,
        "archived": False,
        "trigger_types": [],
        "webhooks": [],
    }
    record.update(extra)
    return record


WEBHOOK = {"trigger_types": ["n8n-nodes-base.webhook"], "webhooks": [{"path": "lifeboat-echo", "method": "POST"}]}
SCHEDULE = {"trigger_types": ["n8n-nodes-base.scheduleTrigger"]}


@pytest.mark.parametrize(
    ("backup", "live", "action", "version_id", "reason"),
    [
        (wf("a", True, active_version_id="pub-a", **WEBHOOK), wf("a", False), "toggle", "pub-a", "active in backup"),
        (wf("a", True, **SCHEDULE), wf("a", True), "toggle", None, "has trigger nodes: n8n-nodes-base.scheduleTrigger"),
        (wf("a", True), wf("a", True), "toggle", None, "activate the current version v-a (the backup records no separate active version"),
        (wf("a", True, archived=True), wf("a", False, archived=True), "skip", None, "active in backup but archived"),
        (wf("a", False), wf("a", True), "deactivate", None, "inactive in backup but active in the restored instance"),
        (wf("a", False), wf("a", False), "skip", None, "inactive in backup and in the restored instance"),
        (wf("a", True), None, "error", None, "missing from the restored instance: the restore is incomplete"),
        (wf("a", False), None, "error", None, "the restore is incomplete"),
        (None, wf("a", True), "skip", None, "not in the backup: left alone"),
        (wf("a", True), wf("a", True, version_id="other"), "error", None, "has versionId other where the backup recorded v-a"),
        (wf("a", True), wf("a", False, archived=True), "error", None, "archived in the restored instance"),
    ],
)
def test_rules(backup: dict[str, Any] | None, live: dict[str, Any] | None, action: str, version_id: str | None, reason: str) -> None:
    [entry] = trigger_plan([backup] if backup else [], [live] if live else [])
    assert entry["action"] == action
    assert entry["version_id"] == version_id
    assert any(reason in text for text in entry["reasons"]), entry["reasons"]
    assert entry["order"] == 1
    assert entry["toggle"] is (action == "toggle")


def test_toggle_reasons_name_triggers_webhooks_and_drift() -> None:
    drift = {"webhooks_affected": True, "schedules_affected": True}
    [hook] = trigger_plan([wf("a", True, active_version_id="p", **WEBHOOK)], [wf("a", True)], drift)
    assert hook["reasons"][:2] == ["active in backup", "publish the version active at backup time: p"]
    assert "has trigger nodes: n8n-nodes-base.webhook" in hook["reasons"]
    assert "webhooks: POST lifeboat-echo" in hook["reasons"]
    assert "env drift touches webhooks" in hook["reasons"]
    [sched] = trigger_plan([wf("b", True, **SCHEDULE)], [wf("b", True)], drift)
    assert "env drift touches schedules" in sched["reasons"]
    assert "env drift touches webhooks" not in sched["reasons"]
    [quiet] = trigger_plan([wf("a", True, **WEBHOOK)], [wf("a", True)], {"webhooks_affected": False})
    assert "env drift touches webhooks" not in quiet["reasons"]


def test_order_deactivations_webhooks_triggers_rest_ties_by_id() -> None:
    backup = [
        wf("z-plain", True),
        wf("b-hook", True, **WEBHOOK),
        wf("a-hook", True, **WEBHOOK),
        wf("c-sched", True, **SCHEDULE),
        wf("y-off", False),
        wf("x-off", False),
        wf("m-missing", True),
        wf("n-archived", True, archived=True),
    ]
    live = [
        wf("z-plain", True),
        wf("b-hook", True),
        wf("a-hook", False),
        wf("c-sched", True),
        wf("y-off", True),
        wf("x-off", True),
        wf("n-archived", False, archived=True),
        wf("extra", True),
    ]
    plan = trigger_plan(backup, live)
    assert [(e["id"], e["action"]) for e in plan] == [
        ("x-off", "deactivate"),
        ("y-off", "deactivate"),
        ("a-hook", "toggle"),
        ("b-hook", "toggle"),
        ("c-sched", "toggle"),
        ("z-plain", "toggle"),
        ("m-missing", "error"),
        ("extra", "skip"),
        ("n-archived", "skip"),
    ]
    assert [e["order"] for e in plan] == list(range(1, 10))
    assert set(plan[0]) == {"id", "name", "action", "version_id", "reasons", "order", "active", "toggle"}


def test_activation_workflows_is_the_activation_module_input() -> None:
    plan = trigger_plan([wf("a", True, active_version_id="p", **WEBHOOK), wf("b", False), wf("c", False)], [wf("a", True), wf("b", True), wf("c", False)])
    assert activation_workflows(plan) == [
        {"id": "b", "active": False, "version_id": None, "toggle": False},
        {"id": "a", "active": True, "version_id": "p", "toggle": True},
    ]


def test_activation_workflows_fails_on_errors_unless_omitted() -> None:
    plan = trigger_plan([wf("a", True), wf("gone", True)], [wf("a", True)])
    with pytest.raises(TriggerPlanError, match="gone .in the backup but missing"):
        activation_workflows(plan)
    assert activation_workflows(plan, errors="omit") == [{"id": "a", "active": True, "version_id": None, "toggle": True}]
    with pytest.raises(TriggerPlanError, match="errors must be 'fail' or 'omit'"):
        activation_workflows(plan, errors="ignore")


@pytest.mark.parametrize(
    ("backup", "live", "message"),
    [
        ("wf1", [], "manifest_workflows must be a list of workflow records, got 'wf1' (str)"),
        ([1], [], "manifest_workflows[0] must be a workflow record"),
        ([{"name": "x", "active": True}], [], "manifest_workflows[0].id must be a non-empty string, got None (NoneType)"),
        ([wf("a", True), wf("a", False)], [], "workflow id 'a' appears twice"),
        ([], [{"id": "a", "active": "yes"}], "live_workflows[0].active must be a boolean, got 'yes' (str)"),
        ([wf("a", True, webhooks="x")], [], "manifest_workflows[0].webhooks must be a list"),
    ],
)
def test_bad_records_are_named(backup: Any, live: Any, message: str) -> None:
    with pytest.raises(TriggerPlanError) as info:
        trigger_plan(backup, live)
    assert message in str(info.value)


def test_numeric_ids_are_strings() -> None:
    [entry] = trigger_plan([{"id": 7, "active": True}], [{"id": "7", "active": False}])
    assert entry["id"] == "7" and entry["action"] == "toggle"


records = st.builds(
    wf,
    st.sampled_from(list("abcdefgh")),
    st.booleans(),
    archived=st.booleans(),
    trigger_types=st.sampled_from([[], ["n8n-nodes-base.webhook"], ["n8n-nodes-base.scheduleTrigger"]]),
)
record_lists = st.lists(records, unique_by=lambda r: r["id"], max_size=8)


@given(backup=record_lists, live=record_lists)
def test_plan_covers_every_workflow_once_and_is_deterministic(backup: list[dict[str, Any]], live: list[dict[str, Any]]) -> None:
    plan = trigger_plan(backup, live)
    ids = {r["id"] for r in backup} | {r["id"] for r in live}
    assert sorted(e["id"] for e in plan) == sorted(ids)
    assert plan == trigger_plan(list(reversed(backup)), list(reversed(live)))
    actions = [e["action"] for e in plan]
    if "deactivate" in actions:
        assert actions[: actions.count("deactivate")] == ["deactivate"] * actions.count("deactivate")
