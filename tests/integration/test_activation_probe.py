"""n8n_workflow_activation and n8n_webhook_probe against real n8n, through ansible-playbook.

Per pinned version (SQLite), on one seeded instance:

* the OPTIONS probe tells the echo GET webhook (registered) from the inactive workflow's POST
  webhook (not registered) without creating an execution;
* check mode changes nothing; deactivating the echo makes its webhook stop answering, activating
  (2.x: publishing the recorded published version, not the draft) makes it answer again with the
  seeded body; identical second runs report changed=false; a toggle is observed as an
  unregistration then a registration;
* the CLI mode, with n8n stopped, changes the state that n8n then serves once started, and a
  declared round trip gets the seeded answer.

Plus one PostgreSQL run on the newest version. No run's -vvv log contains the API key or the
echo token.
"""

from __future__ import annotations

from typing import Any

import pytest
from n8n_harness import N8nInstance, pinned_versions, seed
from n8n_harness.ansible import PlaybookRun, run_module
from n8n_harness.installs import command as n8n_command
from n8n_harness.matrix import covering_versions
from n8n_harness.seed import ECHO_PATH, INACTIVE_PATH, SLOW_PATH, Seeded

VERSIONS = pinned_versions()
ACTIVATION = "lifeboat.n8n.n8n_workflow_activation"
PROBE = "lifeboat.n8n.n8n_webhook_probe"
CLI_ENV = ("PATH", "HOME", "N8N_USER_FOLDER", "N8N_ENCRYPTION_KEY", "DB_TYPE")
# Measured: these keep webhook_entity rows after a CLI deactivation and a restart; 2.40.7 cleans up.
STALE_AFTER_CLI_DEACTIVATION = {"1.123.81", "2.38.7"}


def secrets_of(instance: N8nInstance, seeded: Seeded | None = None) -> list[str]:
    return [str(instance.api_key), *(seeded.secrets if seeded else [])]


def call(module: str, args: dict[str, Any], instance: N8nInstance, seeded: Seeded, check: bool = False) -> dict[str, Any]:
    """Run a module at -vvv; nothing secret may reach the log."""
    result, run = run_module(module, args, check=check, verbosity=3)
    assert_clean(run, secrets_of(instance, seeded))
    return result


def assert_clean(run: PlaybookRun, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in run.log, "a secret reached the ansible-playbook log"
    assert "Call lifeboat.n8n" in run.log  # the log is the real one


def api_args(instance: N8nInstance, **extra: Any) -> dict[str, Any]:
    return {"api_url": instance.url, "api_key": instance.api_key, **extra}


def executions(instance: N8nInstance, workflow_id: str) -> int:
    return len(instance.api("GET", "/executions", params={"workflowId": workflow_id, "limit": 250})["data"])


def live(instance: N8nInstance, workflow_id: str) -> tuple[bool, str | None]:
    data = instance.api("GET", f"/workflows/{workflow_id}")
    return data.get("activeVersionId") is not None, data.get("activeVersionId")


def echo(instance: N8nInstance, seeded: Seeded) -> Any:
    return instance.wait_webhook(ECHO_PATH, params=seeded.echo_params(), headers=seeded.echo_headers)


def probe(instance: N8nInstance, seeded: Seeded, webhooks: list[tuple[str, str, bool]], check: bool = False, **extra: Any) -> dict[str, Any]:
    hooks = [{"path": path, "method": method, "expect_registered": registered} for path, method, registered in webhooks]
    args = {"base_url": instance.url, "webhooks": hooks, "retries": 30, "delay": 1, **extra}
    return call(PROBE, args, instance, seeded, check=check)


def activation(instance: N8nInstance, seeded: Seeded, workflows: list[dict[str, Any]], check: bool = False, **extra: Any) -> dict[str, Any]:
    return call(ACTIVATION, api_args(instance, workflows=workflows, **extra), instance, seeded, check=check)


def echo_request(seeded: Seeded) -> dict[str, Any]:
    return {"path": ECHO_PATH, "headers": seeded.echo_headers, "query": seeded.echo_params(), "json_equals": seeded.expected_echo()}


def scenario_api(instance: N8nInstance, seeded: Seeded) -> None:
    echo_id = seeded.workflows["Lifeboat echo"]
    inactive_id = seeded.workflows["Lifeboat inactive"]
    published = seeded.echo_published_version_id
    assert published
    publish = {"id": echo_id, "version_id": published} if instance.major >= 2 else {"id": echo_id}

    # The OPTIONS probe runs nothing; in check mode the declared round trip is skipped too.
    before = (executions(instance, echo_id), executions(instance, inactive_id))
    result = probe(instance, seeded, [(ECHO_PATH, "GET", True), (INACTIVE_PATH, "POST", False)], check=True, requests=[echo_request(seeded)])
    assert not result.get("failed"), result["msg"]
    assert [(h["path"], h["registered"], h["status"]) for h in result["webhooks"]] == [(ECHO_PATH, True, 204), (INACTIVE_PATH, False, 500)]
    assert result["webhooks"][0]["allowed_methods"] == ["GET"]
    assert result["registered_count"] == 1 and not result["changed"]
    assert result["requests"][0]["skipped"] is True
    assert (executions(instance, echo_id), executions(instance, inactive_id)) == before

    # Check mode plans the deactivation and changes nothing.
    planned = activation(instance, seeded, [{"id": echo_id, "active": False}], check=True)
    assert planned["changed"] and [(a["action"], a["ok"]) for a in planned["actions"]] == [("deactivate", None)]
    assert planned["workflows"][0]["active"] is False  # predicted
    assert live(instance, echo_id) == (True, published)

    # Deactivate: the probe (run by wait_webhooks) sees it unregistered, a GET answers 404.
    off = activation(instance, seeded, [{"id": echo_id, "active": False}], wait_webhooks=True)
    assert off["changed"] and not off.get("failed"), off["msg"]
    assert [(a["action"], a["ok"]) for a in off["actions"]] == [("deactivate", True)]
    assert [(h["path"], h["registered"]) for h in off["webhooks"]] == [(ECHO_PATH, False)]
    assert off["workflows"][0]["active"] is False and off["workflows"][0]["active_version_id"] is None
    assert live(instance, echo_id) == (False, None)
    assert instance.webhook(ECHO_PATH, params=seeded.echo_params(), headers=seeded.echo_headers).status_code == 404

    # Activate (2.x: publish the recorded published version, not the draft): it answers again.
    on = activation(instance, seeded, [publish], wait_webhooks=True)
    assert on["changed"] and not on.get("failed"), on["msg"]
    assert on["workflows"][0]["active_version_id"] == published
    assert [(h["path"], h["registered"]) for h in on["webhooks"]] == [(ECHO_PATH, True)]
    assert live(instance, echo_id) == (True, published)
    if instance.major >= 2:
        assert published != seeded.echo_draft_version_id
        assert on["actions"][0]["via"] == "POST /publish"
    response = echo(instance, seeded)
    assert response.status_code == 200 and response.json() == seeded.expected_echo()
    again = activation(instance, seeded, [publish])
    assert not again["changed"] and again["actions"] == []

    # Toggle: observed unregistered after the deactivation, registered after the activation.
    toggled = activation(instance, seeded, [{**publish, "toggle": True}], wait_webhooks=True)
    assert toggled["changed"] and not toggled.get("failed"), toggled["msg"]
    assert [(a["action"], a["version_id"], a["ok"]) for a in toggled["actions"]] == [("deactivate", published, True), ("activate", published, True)]
    assert [(h["expect_registered"], h["registered"]) for h in toggled["webhooks"]] == [(False, False), (True, True)]
    assert live(instance, echo_id) == (True, published)
    assert echo(instance, seeded).json() == seeded.expected_echo()


def scenario_cli(instance: N8nInstance, seeded: Seeded) -> None:
    """With n8n stopped: activate the inactive workflow, deactivate the slow one; then start and look."""
    inactive_id = seeded.workflows["Lifeboat inactive"]
    slow_id = seeded.workflows["Lifeboat slow"]
    env = instance.env()
    cli_env = {name: env[name] for name in env if name in CLI_ENV or name.startswith("DB_POSTGRESDB_")}
    args = {
        "mode": "cli",
        "n8n_command": n8n_command(instance.version),
        "n8n_env": cli_env,
        "workflows": [{"id": inactive_id}, {"id": slow_id, "active": False}],
        "wait_webhooks": True,  # ignored in cli mode, with a warning
    }
    secrets = [str(instance.api_key), str(instance.encryption_key), *seeded.secrets]
    instance.stop()

    result, run = run_module(ACTIVATION, args, verbosity=3)
    assert_clean(run, secrets)
    assert result["changed"] and not result.get("failed"), result["msg"]
    assert [(a["id"], a["action"], a["ok"]) for a in result["actions"]] == [(inactive_id, "activate", True), (slow_id, "deactivate", True)]
    expected_via = ["publish:workflow", "unpublish:workflow"] if instance.major >= 2 else ["update:workflow", "update:workflow"]
    assert [a["via"] for a in result["actions"]] == expected_via
    assert [w["active"] for w in result["workflows"]] == [True, False]
    assert any("wait_webhooks is ignored" in w for w in result.get("warnings", []))

    instance.start()
    assert live(instance, inactive_id)[0] and not live(instance, slow_id)[0]
    # Before 2.40 a CLI deactivation leaves the workflow's webhook_entity rows: the preflight still
    # finds the route (and the module warned), while a real call answers 404 without running.
    stale = instance.version in STALE_AFTER_CLI_DEACTIVATION
    assert any("keeps the webhook registrations" in w for w in result.get("warnings", [])) == stale
    hooks = [(ECHO_PATH, "GET", True), (INACTIVE_PATH, "POST", True), (SLOW_PATH, "GET", stale)]
    result = probe(instance, seeded, hooks, requests=[echo_request(seeded)])
    assert not result.get("failed"), result["msg"]
    assert result["requests"][0]["ok"] and result["requests"][0]["status"] == 200
    assert instance.webhook(SLOW_PATH, params={"seconds": "1"}).status_code == 404


@pytest.mark.parametrize("version", covering_versions())
def test_activation_and_probe(n8n_factory, version: str) -> None:
    instance = n8n_factory(version)
    instance.start()
    seeded = seed(instance)
    scenario_api(instance, seeded)
    scenario_cli(instance, seeded)


def test_activation_on_postgres(n8n_factory) -> None:
    instance = n8n_factory(VERSIONS[0], "postgres")
    instance.start()
    seeded = seed(instance)
    echo_id = seeded.workflows["Lifeboat echo"]
    publish = {"id": echo_id, "version_id": seeded.echo_published_version_id}
    toggled = activation(instance, seeded, [{**publish, "toggle": True}], wait_webhooks=True)
    assert toggled["changed"] and not toggled.get("failed"), toggled["msg"]
    assert live(instance, echo_id) == (True, seeded.echo_published_version_id)
    assert echo(instance, seeded).json() == seeded.expected_echo()
    assert not activation(instance, seeded, [publish])["changed"]
