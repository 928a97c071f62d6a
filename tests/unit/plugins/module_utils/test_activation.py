"""Activation planning (pure), apply() over fake backends, the CLI backend with a fake runner."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Optional

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _activation as act
from ansible_collections.lifeboat.n8n.plugins.module_utils._api import N8nApiError
from ansible_collections.lifeboat.n8n.plugins.module_utils._webhook_probe import ProbeAnswer

PUB, DRAFT, OLD = "v-published", "v-draft", "v-old"


def state(wid: str, active: bool, live: Optional[str] = None, draft: str = DRAFT, archived: bool = False) -> act.WorkflowState:
    return act.WorkflowState(id=wid, name="wf " + wid, active=active, version_id=draft, active_version_id=live if active else None, archived=archived)


CURRENT = [
    state("echo", True, PUB),  # 2.x: published != draft
    state("off", False),
    state("same", True, DRAFT),
    state("gone", False, archived=True),
]


def kinds(actions: list[act.Action]) -> list[tuple[str, str, Optional[str]]]:
    return [(a.workflow_id, a.kind, a.version_id) for a in actions]


@pytest.mark.parametrize(
    ("desired", "major", "expected"),
    [
        # Idempotence: already as wanted -> nothing.
        ([{"id": "echo"}], 2, []),
        ([{"id": "echo", "version_id": PUB}], 2, []),
        ([{"id": "echo", "active": True, "version_id": PUB, "toggle": False}], 2, []),
        ([{"id": "off", "active": False}], 2, []),
        ([{"id": "off", "active": False, "toggle": True}], 2, []),  # toggle ignored when inactive is wanted
        ([{"id": "same"}], 1, []),
        # Default version: keep the live one; the draft for an inactive workflow.
        ([{"id": "off"}], 2, [("off", "activate", DRAFT)]),
        ([{"id": "off"}], 1, [("off", "activate", DRAFT)]),
        # Switch the live version (2.x): one publish, no deactivation.
        ([{"id": "echo", "version_id": DRAFT}], 2, [("echo", "activate", DRAFT)]),
        ([{"id": "echo", "version_id": OLD}], 2, [("echo", "activate", OLD)]),
        # Deactivate.
        ([{"id": "echo", "active": False}], 2, [("echo", "deactivate", PUB)]),
        ([{"id": "same", "active": False}], 1, [("same", "deactivate", DRAFT)]),
        # Toggle: deactivate first, then activate the same live version (not the draft).
        ([{"id": "echo", "toggle": True}], 2, [("echo", "deactivate", PUB), ("echo", "activate", PUB)]),
        ([{"id": "echo", "toggle": True, "version_id": PUB}], 2, [("echo", "deactivate", PUB), ("echo", "activate", PUB)]),
        ([{"id": "echo", "toggle": True, "version_id": OLD}], 2, [("echo", "deactivate", PUB), ("echo", "activate", OLD)]),
        ([{"id": "same", "toggle": True}], 1, [("same", "deactivate", DRAFT), ("same", "activate", DRAFT)]),
        ([{"id": "off", "toggle": True}], 2, [("off", "activate", DRAFT)]),  # inactive: activation alone registers
        # Order follows the input.
        (
            [{"id": "off"}, {"id": "echo", "active": False}, {"id": "same", "toggle": True}],
            2,
            [("off", "activate", DRAFT), ("echo", "deactivate", PUB), ("same", "deactivate", DRAFT), ("same", "activate", DRAFT)],
        ),
        # What n8n cannot do becomes an error action (the others still run).
        ([{"id": "nope"}, {"id": "off"}], 2, [("nope", "error", None), ("off", "activate", DRAFT)]),
        ([{"id": "gone"}], 2, [("gone", "error", DRAFT)]),
        ([{"id": "off", "version_id": OLD}], 1, [("off", "error", OLD)]),  # 1.x activates the draft only
        ([{"id": "echo"}], 1, []),  # 1.x, already live: nothing to do, no error
        ([{"id": "echo", "toggle": True}], 1, [("echo", "error", PUB)]),  # 1.x cannot re-activate PUB
    ],
)
def test_plan(desired: list[dict[str, Any]], major: int, expected: list[tuple[str, str, Optional[str]]]) -> None:
    assert kinds(act.plan(CURRENT, desired, major)) == expected


def test_plan_is_idempotent_after_predicted_changes() -> None:
    desired = [{"id": "off"}, {"id": "echo", "version_id": OLD}, {"id": "same", "active": False}]
    actions = act.plan(CURRENT, desired, 2)
    after = act.predict(CURRENT, actions)
    assert after["echo"].active_version_id == OLD and after["off"].active_version_id == DRAFT and not after["same"].active
    assert act.plan(list(after.values()), desired, 2) == []


def test_plan_accepts_dict_states_and_int_ids() -> None:
    assert kinds(act.plan([{"id": "7", "active": False, "version_id": "v"}], [{"id": 7}])) == [("7", "activate", "v")]


@pytest.mark.parametrize(
    ("desired", "match"),
    [
        ([{"id": ""}], "non-empty string"),
        (["echo"], "must be a dict"),
        ([{"id": "echo", "active": "yes"}], "must be a boolean"),
        ([{"id": "echo", "version_id": 3}], "must be a string"),
        ([{"id": "echo"}, {"id": "echo"}], "listed twice"),
    ],
)
def test_plan_rejects_bad_input(desired: list[Any], match: str) -> None:
    with pytest.raises(act.ActivationError, match=match):
        act.plan(CURRENT, desired)


@pytest.mark.parametrize(
    ("data", "active", "live", "hooks"),
    [
        # 2.x: active means a published version; webhooks come from the published nodes.
        (
            {
                "id": "a",
                "active": True,
                "versionId": DRAFT,
                "activeVersionId": PUB,
                "nodes": [{"type": "n8n-nodes-base.webhook", "parameters": {"path": "draft-path"}}],
                "activeVersion": {"nodes": [{"type": "n8n-nodes-base.webhook", "name": "W", "parameters": {"path": "live", "httpMethod": "POST"}}]},
            },
            True,
            PUB,
            [{"path": "live", "method": "POST", "node": "W"}],
        ),
        ({"id": "a", "active": True, "versionId": DRAFT, "activeVersionId": None}, False, None, []),
        # old 1.x without activeVersionId
        ({"id": "a", "active": True, "versionId": DRAFT}, True, DRAFT, []),
        ({"id": "a", "active": False, "versionId": DRAFT}, False, None, []),
    ],
)
def test_state_from_api(data: dict[str, Any], active: bool, live: Optional[str], hooks: list[dict[str, str]]) -> None:
    parsed = act.WorkflowState.from_api(data)
    assert (parsed.active, parsed.active_version_id, parsed.webhooks) == (active, live, hooks)


class FakeBackend:
    def __init__(self, fail: Optional[dict[tuple[str, str], str]] = None, answer_live: Optional[dict[str, Optional[str]]] = None) -> None:
        self.calls: list[tuple[str, str, Optional[str]]] = []
        self.fail = fail or {}
        self.answer_live = answer_live or {}

    def _answer(self, wid: str, live: Optional[str]) -> Mapping[str, Any]:
        return {"id": wid, "activeVersionId": self.answer_live.get(wid, live)}

    def activate(self, wid: str, version_id: Optional[str]) -> tuple[str, Optional[Mapping[str, Any]]]:
        self.calls.append(("activate", wid, version_id))
        if ("activate", wid) in self.fail:
            raise N8nApiError(self.fail[("activate", wid)], status=409)
        return "POST /publish", self._answer(wid, version_id)

    def deactivate(self, wid: str) -> tuple[str, Optional[Mapping[str, Any]]]:
        self.calls.append(("deactivate", wid, None))
        if ("deactivate", wid) in self.fail:
            raise N8nApiError(self.fail[("deactivate", wid)], status=500)
        return "POST /unpublish", self._answer(wid, None)


def test_apply_tries_everything_and_skips_later_steps_of_a_failed_workflow() -> None:
    actions = act.plan(CURRENT, [{"id": "nope"}, {"id": "echo", "toggle": True}, {"id": "off"}, {"id": "same", "active": False}])
    backend = FakeBackend(fail={("deactivate", "echo"): "Cannot unpublish workflow echo: HTTP 500 boom."})
    results = act.apply(backend, actions)
    assert [(r["id"], r["action"], r["ok"]) for r in results] == [
        ("nope", "error", False),
        ("echo", "deactivate", False),
        ("echo", "activate", False),
        ("off", "activate", True),
        ("same", "deactivate", True),
    ]
    assert "skipped" in results[2]["error"]
    # the toggle's activation never ran; the others did, in order
    assert backend.calls == [("deactivate", "echo", None), ("activate", "off", DRAFT), ("deactivate", "same", None)]


def test_apply_checks_what_n8n_answered() -> None:
    results = act.apply(FakeBackend(answer_live={"off": "v-other"}), act.plan(CURRENT, [{"id": "off"}]))
    assert results[0]["ok"] is False and "v-other" in results[0]["error"]


def test_apply_after_deactivate_hook_runs_between_toggle_steps() -> None:
    seen: list[str] = []
    backend = FakeBackend()

    def hook(action: act.Action) -> Optional[str]:
        seen.append(f"{action.workflow_id} after {len(backend.calls)} calls")
        return None

    act.apply(backend, act.plan(CURRENT, [{"id": "echo", "toggle": True}]), after_deactivate=hook)
    assert seen == ["echo after 1 calls"]
    assert len(backend.calls) == 2


# ------------------------------------------------------------------------ CLI
def export_json(*states: tuple[str, bool, Optional[str], str]) -> str:
    rows = [{"id": wid, "name": wid, "active": active, "versionId": draft, "activeVersionId": live, "isArchived": False} for wid, active, live, draft in states]
    return json.dumps(rows)


class FakeRunner:
    """Plays n8n's CLI over an in-memory table, the way 2.40.7 and 1.123.81 answer."""

    def __init__(self, version: str, rows: dict[str, dict[str, Any]], noise: str = "") -> None:
        self.version = version
        self.rows = rows
        self.noise = noise
        self.calls: list[list[str]] = []
        self.envs: list[Mapping[str, str]] = []

    def __call__(self, argv: list[str], env: Mapping[str, str], timeout: float) -> tuple[int, str, str]:
        args = argv[2:]
        self.calls.append(args)
        self.envs.append(env)
        flags = dict(a[2:].split("=", 1) for a in args[1:] if "=" in a)
        if args == ["--version"]:
            return 0, self.version + "\n", ""
        if args[0] == "export:workflow":
            return 0, self.noise + json.dumps(list(self.rows.values())) + "\n", ""
        row = self.rows.get(flags.get("id", ""))
        if args[0] == "publish:workflow":
            if row is None:
                return 1, f'Error updating database. See log messages for details.\nWorkflow "{flags["id"]}" not found.\n    at x (y.ts:1:1)\n', ""
            row.update(active=True, activeVersionId=flags.get("versionId", row["versionId"]))
        elif args[0] == "unpublish:workflow" and row is not None:
            row.update(active=False, activeVersionId=None)
        elif args[0] == "update:workflow" and row is not None:  # 1.x: a missing id is silently ignored
            on = flags["active"] == "true"
            row.update(active=on, activeVersionId=row["versionId"] if on else None)
        return 0, "Note: Changes will not take effect if n8n is running.\n", ""


def rows_2x() -> dict[str, dict[str, Any]]:
    return {
        "echo": {"id": "echo", "name": "Lifeboat echo", "active": True, "versionId": DRAFT, "activeVersionId": PUB, "isArchived": False},
        "off": {"id": "off", "name": "Lifeboat inactive", "active": False, "versionId": DRAFT, "activeVersionId": None, "isArchived": False},
    }


def cli_options(**extra: Any) -> dict[str, Any]:
    options = {"mode": "cli", "n8n_command": ["node", "n8n"], "n8n_env": {"N8N_ENCRYPTION_KEY": "s3cret-key-value", "DB_TYPE": "sqlite"}}
    options.update(extra)
    return options


def test_cli_mode_2x_publishes_versions_and_is_idempotent() -> None:
    runner = FakeRunner("2.40.7", rows_2x(), noise="Permissions 0644 for n8n settings file are too wide.\n")
    wanted = [{"id": "echo", "version_id": PUB, "toggle": True}, {"id": "off"}]
    result = act.run(cli_options(workflows=wanted), runner=runner)
    assert not result["failed"], result["msg"]
    assert result["changed"] and result["major"] == 2
    assert result["warnings"] == []  # 2.40 cleans up the webhook rows of CLI-deactivated workflows
    commands = [c for c in runner.calls if c[0] not in ("--version", "export:workflow")]
    assert commands == [
        ["unpublish:workflow", "--id=echo"],
        ["publish:workflow", "--id=echo", "--versionId=" + PUB],
        ["publish:workflow", "--id=off", "--versionId=" + DRAFT],
    ]
    assert {w["id"]: w["active_version_id"] for w in result["workflows"]} == {"echo": PUB, "off": DRAFT}
    assert runner.envs[0]["N8N_ENCRYPTION_KEY"] == "s3cret-key-value"
    again = act.run(cli_options(workflows=[{"id": "echo", "version_id": PUB}, {"id": "off"}]), runner=runner)
    assert not again["changed"] and again["actions"] == []


def test_cli_mode_1x_uses_update_workflow_and_catches_silent_noops() -> None:
    rows = {"w1": {"id": "w1", "name": "a", "active": False, "versionId": "v1", "activeVersionId": None, "isArchived": False}}
    runner = FakeRunner("1.123.81", rows)
    result = act.run(cli_options(workflows=[{"id": "w1"}]), runner=runner)
    assert [c for c in runner.calls if c[0] == "update:workflow"] == [["update:workflow", "--id=w1", "--active=true"]]
    assert result["workflows"][0]["active"] is True and not result["failed"]
    result = act.run(cli_options(workflows=[{"id": "w1", "active": False}, {"id": "missing"}]), runner=runner)
    assert result["failed"] and "missing" in result["msg"]
    assert result["workflows"][0]["active"] is False
    assert ["keeps the webhook registrations" in w for w in result["warnings"]] == [True]  # 1.x leaves webhook_entity rows


def test_cli_mode_check_mode_runs_no_change() -> None:
    runner = FakeRunner("2.40.7", rows_2x())
    result = act.run(cli_options(workflows=[{"id": "off"}]), check_mode=True, runner=runner)
    assert result["changed"] and [a["ok"] for a in result["actions"]] == [None]
    assert [c[0] for c in runner.calls] == ["--version", "export:workflow"]
    assert result["workflows"][0]["active"] is True  # predicted
    assert runner.rows["off"]["active"] is False


def test_cli_errors_are_short_and_hide_secrets() -> None:
    def runner(argv: list[str], env: Mapping[str, str], timeout: float) -> tuple[int, str, str]:
        if argv[-1] == "--version":
            return 0, "2.40.7\n", ""
        return 1, "", "Mismatching encryption keys: s3cret-key-value\n    at Foo (bar.ts:1:1)\n"

    with pytest.raises(act.N8nCliError) as caught:
        act.run(cli_options(workflows=[{"id": "echo"}]), runner=runner)
    text = str(caught.value)
    assert "s3cret-key-value" not in text and "<redacted>" in text
    assert "read the workflows" in text and "bar.ts" not in text


def test_cli_mode_warns_that_webhooks_cannot_be_awaited() -> None:
    result = act.run(cli_options(workflows=[{"id": "echo"}], wait_webhooks=True), runner=FakeRunner("2.40.7", rows_2x()))
    assert result["warnings"] and not result["changed"]


# -------------------------------------------------------------- wait webhooks
class FakeApi:
    """Enough of N8nApi for run(): a table of workflows; publish/unpublish change it."""

    def __init__(self) -> None:
        hook = {"type": "n8n-nodes-base.webhook", "name": "Webhook", "parameters": {"path": "echo", "httpMethod": "GET"}}
        self.rows = {
            "echo": {"id": "echo", "name": "e", "active": True, "versionId": DRAFT, "activeVersionId": PUB, "activeVersion": {"nodes": [hook]}},
        }
        self.registered = True
        self.last_endpoint: Optional[str] = None

    def get_workflow(self, wid: str) -> dict[str, Any]:
        if wid not in self.rows:
            raise N8nApiError(f"Cannot get workflow {wid}: HTTP 404 Not Found.", status=404)
        return dict(self.rows[wid])

    def detect_major(self, workflow: Mapping[str, Any]) -> int:
        return 2

    def publish(self, wid: str, version_id: Optional[str]) -> dict[str, Any]:
        self.rows[wid].update(active=True, activeVersionId=version_id)
        self.last_endpoint = "POST /publish"
        return self.get_workflow(wid)

    def unpublish(self, wid: str) -> dict[str, Any]:
        self.rows[wid].update(active=False, activeVersionId=None)
        self.last_endpoint = "POST /unpublish"
        return self.get_workflow(wid)


def test_wait_webhooks_observes_unregistration_then_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi()
    monkeypatch.setattr(act, "N8nApi", lambda *a, **k: api)
    probes: list[tuple[str, bool]] = []

    def prober(url: str, method: str, timeout: float, validate_certs: bool) -> ProbeAnswer:
        registered = api.rows["echo"]["activeVersionId"] is not None
        probes.append((url, registered))
        return ProbeAnswer(204 if registered else 500, ["GET"] if registered else [], registered)

    options = {"api_url": "http://n8n:5678", "api_key": "k", "workflows": [{"id": "echo", "toggle": True}], "wait_webhooks": True}
    result = act.run(options, prober=prober, sleep=lambda s: None)
    assert not result["failed"], result["msg"]
    assert probes == [("http://n8n:5678/webhook/echo", False), ("http://n8n:5678/webhook/echo", True)]
    assert [(h["expect_registered"], h["ok"]) for h in result["webhooks"]] == [(False, True), (True, True)]
    assert [a["via"] for a in result["actions"]] == ["POST /unpublish", "POST /publish"]


def test_wait_webhooks_failure_fails_the_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi()
    api.rows["echo"].update(active=False, activeVersionId=None)
    monkeypatch.setattr(act, "N8nApi", lambda *a, **k: api)

    def never(url: str, method: str, timeout: float, validate_certs: bool) -> ProbeAnswer:
        return ProbeAnswer(500, [], False)

    options = {"api_url": "http://n8n", "api_key": "k", "workflows": [{"id": "echo"}], "wait_webhooks": True, "webhook_timeout": 3}
    result = act.run(options, prober=never, sleep=lambda s: None)
    assert result["failed"] and result["changed"]
    assert result["webhooks"][0]["attempts"] == 3
    assert "not registered" in result["msg"]
