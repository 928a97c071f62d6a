"""playbooks/rotate_key.yml against real n8n: 2.40.7 and 1.123.81, SQLite and PostgreSQL.

Each scenario seeds an instance whose key sits in its env file (what a systemd
EnvironmentFile= holds) and in .n8n/config, adds a workflow that uses *every* seeded
credential in a real execution, turns MFA on for the owner, and then:

* runs the playbook without ``rotate_key_confirm``: a dry run that must change nothing;
* rotates for real, and checks what a user would: n8n runs with the new key, the header-auth
  webhook answers through its credential, basic auth and a custom-auth HTTP request work in
  executions, the owner logs in with a TOTP code (so n8n decrypts the MFA secret), the new
  key opens every value and the old key none, the escrow keeps both keys, a backup exists,
  and no -vvv log carries a key or a secret. Whether API keys survive is recorded per major.

The rollback scenario makes the start after the re-encryption fail (the start command refuses
once) and checks that n8n runs again on the old key with its data, and that the escrow's
current version is the old key again.

n8n 2.40.7 on PostgreSQL runs with N8N_ENV_FEAT_ENCRYPTION_KEY_ROTATION=true, so its
credentials are ``<keyId>:`` values under a data-encryption key: the rotation re-wraps that key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import struct
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from lifeboat_roles import Controller, Site, assert_no_secret, docker_site, reload, seed_site
from n8n_harness import N8nInstance, Seeded
from n8n_harness.containers import docker, inspect
from n8n_harness.inventory import HARNESS_DIR, native_host_vars
from n8n_harness.launcher import OWNER, http_session
from n8n_harness.matrix import case_ids, role_cases
from n8n_harness.seed import activate

# The key check and fingerprint, imported as the collection (scripts/env.sh exports the link).
_LINK = os.environ.get("LIFEBOAT_CHECKOUT_LINK")
if _LINK and _LINK not in sys.path:
    sys.path.insert(0, _LINK)

from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase  # noqa: E402
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import key_fingerprint as fingerprint  # noqa: E402
from ansible_collections.lifeboat.n8n.plugins.module_utils._key_check import check_key  # noqa: E402

V2 = "2.40.7"
V1 = "1.123.81"
ROTATE_CASES = role_cases(V2, V1)
ROTATION_FLAG = {"N8N_ENV_FEAT_ENCRYPTION_KEY_ROTATION": "true"}
KEY_LINE = re.compile(r"^\s*(?:export\s+)?N8N_ENCRYPTION_KEY\s*=\s*(.*)$", re.M)

# The start command of the native sites: reads N8N_ENCRYPTION_KEY from the env file, as systemd
# would, into the harness state, then starts n8n. With a fail-at file it refuses the N-th start.
START_WRAPPER = r'''
import json, os, re, sys
state, env_file, counter, fail_at = sys.argv[1:5]
text = open(env_file).read()
match = re.search(r"^\s*(?:export\s+)?N8N_ENCRYPTION_KEY\s*=\s*(.*)$", text, re.M)
data = json.load(open(state))
data["encryption_key"] = match.group(1).strip().strip("'\"") if match else None
fd = os.open(state, os.O_WRONLY | os.O_TRUNC)
with os.fdopen(fd, "w") as handle:
    json.dump(data, handle)
count = int(open(counter).read() or 0) + 1 if os.path.exists(counter) else 1
open(counter, "w").write(str(count))
if os.path.exists(fail_at) and int(open(fail_at).read()) == count:
    print("start refused on purpose (test: injected failure)", file=sys.stderr)
    sys.exit(1)
os.execv(sys.executable, [sys.executable, "-m", "n8n_harness", "start", "--state-file", state])
'''


# ----------------------------------------------------------------- helpers
def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 code (SHA-1, 30 s, 6 digits), as n8n's MFA expects."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int((at or time.time()) // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def native_rotation_site(n8n_factory: Any, tmp: Path, name: str, version: str, db: str, extra_env: dict[str, str] | None = None) -> Site:
    instance: N8nInstance = n8n_factory(version, db, name=name, extra_env=extra_env or {})
    instance.start()
    state = instance.base_dir / "state.json"
    instance.save_state(state)
    wrapper = tmp / f"start-{name}.py"
    wrapper.write_text(START_WRAPPER)
    host_vars = native_host_vars(instance, state)
    host_vars["lifeboat_n8n_start_command"] = (
        f"env PYTHONPATH={HARNESS_DIR} {sys.executable} {wrapper} {state} {instance.env_file} "
        f"{tmp / f'starts-{name}'} {tmp / f'fail-start-{name}'}"
    )
    return Site(name=name, client=instance, host_vars=host_vars, instance=instance, state_file=state)


def proof_workflow(instance: N8nInstance, seeded: Seeded) -> dict[str, Any]:
    """Webhooks whose executions use the basic-auth and custom-auth credentials (echo uses the header one)."""

    def node(name: str, node_type: str, version: float, x: int, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "name": name, "type": node_type, "typeVersion": version,
                "position": [x * 220, 300], "parameters": parameters, **extra}

    basic = node("Basic gate", "n8n-nodes-base.webhook", 2, 0,
                 {"httpMethod": "GET", "path": "lifeboat-rotate-basic", "authentication": "basicAuth", "options": {}},
                 webhookId=str(uuid.uuid4()),
                 credentials={"httpBasicAuth": {"id": seeded.credentials["Lifeboat basic"], "name": "Lifeboat basic"}})
    custom = node("Custom call", "n8n-nodes-base.webhook", 2, 0,
                  {"httpMethod": "GET", "path": "lifeboat-rotate-custom", "responseMode": "lastNode",
                   "responseData": "firstEntryJson", "options": {}}, webhookId=str(uuid.uuid4()))
    request = node("Call mirror", "n8n-nodes-base.httpRequest", 4.2, 1,
                   {"method": "GET", "url": f"{instance.url}/webhook/lifeboat-rotate-mirror",
                    "authentication": "genericCredentialType", "genericAuthType": "httpCustomAuth", "options": {}},
                   credentials={"httpCustomAuth": {"id": seeded.credentials["Lifeboat custom"], "name": "Lifeboat custom"}})
    mirror = node("Mirror", "n8n-nodes-base.webhook", 2, 2,
                  {"httpMethod": "GET", "path": "lifeboat-rotate-mirror", "responseMode": "lastNode",
                   "responseData": "firstEntryJson", "options": {}}, webhookId=str(uuid.uuid4()))
    code = node("Show header", "n8n-nodes-base.code", 2, 3,
                {"jsCode": "return [{ json: { custom: $input.first().json.headers['x-lifeboat-custom'] || null } }];"})
    workflow = {
        "name": "Lifeboat rotate proof",
        "nodes": [basic, custom, request, mirror, code],
        "connections": {
            "Custom call": {"main": [[{"node": "Call mirror", "type": "main", "index": 0}]]},
            "Mirror": {"main": [[{"node": "Show header", "type": "main", "index": 0}]]},
        },
        "settings": {"executionOrder": "v1"},
    }
    created: dict[str, Any] = instance.api("POST", "/workflows", json=workflow)
    activate(instance, created["id"], created.get("versionId"))
    return created


def assert_credentials_work(instance: N8nInstance, seeded: Seeded) -> None:
    """Every seeded credential, decrypted by n8n in a real execution."""
    echo = instance.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers, timeout=60)
    assert echo.status_code == 200 and echo.json() == Seeded.expected_echo(), echo.text[:300]
    password = seeded.secrets[1]
    ok = instance.wait_webhook("lifeboat-rotate-basic", auth=("lifeboat", password), timeout=60)
    assert ok.status_code == 200, ok.text[:300]
    assert instance.webhook("lifeboat-rotate-basic", auth=("lifeboat", "wrong")).status_code in (401, 403)
    custom = instance.wait_webhook("lifeboat-rotate-custom", timeout=60)
    assert custom.status_code == 200 and custom.json() == {"custom": seeded.secrets[2]}, custom.text[:300]


def enable_mfa(instance: N8nInstance) -> tuple[str, list[str]]:
    session = instance.setup_owner()
    qr = session.get(f"{instance.url}/rest/mfa/qr", timeout=30)
    assert qr.status_code == 200, qr.text[:300]
    data = qr.json()["data"]
    enabled = session.post(f"{instance.url}/rest/mfa/enable", json={"mfaCode": totp(data["secret"])}, timeout=30)
    assert enabled.status_code == 200, enabled.text[:300]
    return str(data["secret"]), [str(c) for c in data["recoveryCodes"]]


def login(instance: N8nInstance, **mfa: str) -> requests.Response:
    body = {"emailOrLdapLoginId": OWNER["email"], "email": OWNER["email"], "password": OWNER["password"], **mfa}
    with http_session() as session:
        return session.post(f"{instance.url}/rest/login", json=body, timeout=30)


def key_check(instance: N8nInstance, key: str) -> dict[str, Any]:
    """lifeboat.n8n.n8n_key_check's result, computed in-process (the role runs the module itself)."""
    with N8nDatabase(DatabaseConfig.from_mapping(instance.database_option()), readonly=True) as db:
        result: dict[str, Any] = check_key(db, key, workers=1).as_dict()
    return result


def env_file_key(instance: N8nInstance) -> str | None:
    match = KEY_LINE.search(instance.env_file.read_text())
    return match.group(1).strip() if match else None


def escrow_index(controller: Controller, site: Site) -> dict[str, Any]:
    index: dict[str, Any] = yaml.safe_load((controller.root / "escrow" / site.name / "escrow.yml").read_text())
    return index


def state_of(site: Site) -> tuple[Any, ...]:
    """What a rotation changes: the env file, .n8n/config and every credential blob."""
    assert site.instance is not None
    inst = site.instance
    creds = key_check(inst, env_file_key(inst) or "")["categories"]["credentials"]["ok"]
    return env_file_key(inst), inst.config_key(), creds


def echo_probe(seeded: Seeded) -> list[dict[str, Any]]:
    return [{"name": "echo through the header-auth credential", "path": "lifeboat-echo", "headers": seeded.echo_headers,
             "query": seeded.echo_params(), "json_equals": Seeded.expected_echo()}]


# ----------------------------------------------------------------- scenarios
@pytest.mark.timeout(1800)  # four playbook runs, two n8n restarts: slow on a loaded 2-core machine
# make test: 2.40.7 on PostgreSQL (with the data-encryption-key flag) and 1.123.81 on SQLite;
# 2.40.7 on SQLite is also rotated by the compose test below. LIFEBOAT_FULL_MATRIX=1 runs all four.
@pytest.mark.parametrize(("version", "db"), ROTATE_CASES, ids=case_ids(ROTATE_CASES))
def test_rotate_key_end_to_end(n8n_factory, tmp_path: Path, version: str, db: str) -> None:
    controller = Controller(tmp_path / "controller")
    flag = ROTATION_FLAG if (version == V2 and db == "postgres") else {}
    site = native_rotation_site(n8n_factory, tmp_path, "rot", version, db, extra_env=flag)
    instance = site.instance
    assert instance is not None
    old_key = str(instance.encryption_key)
    new_key = "lb-" + secrets.token_urlsafe(30)
    seeded = seed_site(site)
    api_key = str(instance.api_key)
    proof_workflow(instance, seeded)
    assert_credentials_work(instance, seeded)
    mfa_secret, recovery = enable_mfa(instance)
    all_secrets = [old_key, new_key, api_key, mfa_secret, *recovery, *seeded.secrets]

    # 1. Without confirmation: pre-checks and a dry run, nothing changes.
    before = state_of(site)
    dry = controller.run("rotate_key.yml", site, api_key=api_key, rotate_key_new_key=new_key)
    assert dry.ok, dry.log[-6000:]
    assert "Nothing was changed" in dry.log and "values would be re-encrypted" in dry.log
    assert state_of(site) == before
    assert not (controller.root / "escrow" / site.name / "escrow.yml").exists()
    assert_no_secret(dry, all_secrets)

    # 2. The rotation.
    run = controller.run("rotate_key.yml", site, api_key=api_key, rotate_key_new_key=new_key, rotate_key_confirm=True,
                         rotate_key_webhook_probes=echo_probe(seeded))
    (tmp_path / "rotate.log").write_text(run.log)  # kept by pytest: the report's timings
    assert run.ok, run.log[-8000:]
    assert_no_secret(run, all_secrets)
    assert "rotated: " in run.log and "opens none" in run.log
    reload(site)

    # The key is where n8n reads it, and nowhere else.
    assert env_file_key(instance) == new_key
    assert instance.config_key() == new_key
    config = instance.n8n_folder / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert old_key not in instance.env_file.read_text() and old_key not in config.read_text()

    # n8n runs with it, and every credential works in an execution.
    assert_credentials_work(instance, seeded)
    # MFA: n8n decrypts the owner's secret and recovery codes with the new key.
    assert login(instance).status_code == 401  # MFA still required
    assert login(instance, mfaCode=totp(mfa_secret)).status_code == 200
    assert login(instance, mfaRecoveryCode=recovery[0]).status_code == 200

    # The new key opens every value, the old one none.
    new_check, old_check = key_check(instance, new_key), key_check(instance, old_key)
    assert new_check["passed"] and new_check["categories"]["credentials"]["ok"] == 3
    assert new_check["categories"]["mfa"]["ok"] == 2
    assert old_check["ok"] == 0 and old_check["failed_count"] == new_check["ok"]

    # Escrow: the new key is current, the old one stays in the history.
    index = escrow_index(controller, site)
    current = next(v for v in index["versions"] if v["file"] == index["current"])
    assert current["fingerprint"] == fingerprint(new_key)
    assert fingerprint(old_key) in {v["fingerprint"] for v in index["versions"]}
    # The pre-rotation backup exists, and is the old key's.
    backups = [p for p in (controller.root / "host-backups" / site.name).iterdir() if (p / "manifest.json").exists()]
    assert len(backups) == 1
    assert json.loads((backups[0] / "manifest.json").read_text())["key"]["fingerprint"] == fingerprint(old_key)

    # What a rotation changes besides the data: API keys survive on 2.x (signing.jwt is kept), not on 1.x.
    with http_session() as session:
        status = session.get(f"{instance.url}/api/v1/workflows", headers={"X-N8N-API-KEY": api_key}, timeout=30).status_code
    assert status == (200 if instance.major >= 2 else 401)

    # A second run with the same key changes nothing.
    again = controller.run("rotate_key.yml", site, api_key=api_key if instance.major >= 2 else None,
                           rotate_key_new_key=new_key, rotate_key_confirm=True)
    assert again.ok, again.log[-4000:]
    assert "Nothing to rotate" in again.log
    assert_no_secret(again, all_secrets)


@pytest.mark.timeout(1800)
def test_failed_start_rolls_back_to_the_old_key(n8n_factory, tmp_path: Path) -> None:
    controller = Controller(tmp_path / "controller")
    site = native_rotation_site(n8n_factory, tmp_path, "rb", V2, "postgres")
    instance = site.instance
    assert instance is not None
    old_key = str(instance.encryption_key)
    new_key = "lb-" + secrets.token_urlsafe(30)
    seeded = seed_site(site)
    api_key = str(instance.api_key)
    # Start 1 is the backup's resume; start 2, after the re-encryption, fails; start 3 is the rollback's.
    (tmp_path / "fail-start-rb").write_text("2")

    run = controller.run("rotate_key.yml", site, api_key=api_key, rotate_key_new_key=new_key, rotate_key_confirm=True)
    (tmp_path / "rotate.log").write_text(run.log)
    assert not run.ok
    assert "start refused on purpose" in run.log
    assert "Rolled back: the database was re-encrypted to the previous key" in run.log
    assert "The escrow holds the previous key as current again" in run.log
    assert_no_secret(run, [old_key, new_key, api_key, *seeded.secrets])
    assert (tmp_path / "starts-rb").read_text() == "3"
    reload(site)

    assert env_file_key(instance) == old_key and instance.config_key() == old_key
    echo = instance.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers, timeout=60)
    assert echo.status_code == 200 and echo.json() == Seeded.expected_echo()
    assert instance.api("GET", "/workflows")["data"]  # API keys untouched
    old_check, new_check = key_check(instance, old_key), key_check(instance, new_key)
    assert old_check["passed"] and old_check["categories"]["credentials"]["ok"] == 3
    assert new_check["ok"] == 0

    index = escrow_index(controller, site)
    current = next(v for v in index["versions"] if v["file"] == index["current"])
    assert current["fingerprint"] == fingerprint(old_key)
    assert [v["fingerprint"] for v in index["versions"]] == [fingerprint(old_key), fingerprint(new_key), fingerprint(old_key)]


def container_key(name: str) -> str | None:
    env = inspect(name)["Config"]["Env"] or []
    return next((e.split("=", 1)[1] for e in env if e.startswith("N8N_ENCRYPTION_KEY=")), None)


def volume_config_key(name: str) -> str | None:
    text = docker("exec", name, "cat", "/home/node/.n8n/config").stdout
    return json.loads(text).get("encryptionKey") if text.strip() else None


@pytest.mark.timeout(1800)
def test_rotate_key_in_a_compose_project(tmp_path: Path) -> None:
    """The key in the compose file itself, then in .env behind ${N8N_ENCRYPTION_KEY}: both rotated; then rolled back.

    A container's environment only changes when the container is recreated, so the role edits
    the project's files and recreates the n8n service from them; PostgreSQL-free SQLite keeps
    it quick, the volume keeps the data and .n8n/config.
    """
    controller = Controller(tmp_path / "controller")
    site = docker_site("lbrotc", V2, db="sqlite", compose=True)
    try:
        topology = site.topology
        assert topology is not None
        compose_file = next(Path(s.split(":", 1)[1]) for s in topology.started if s.startswith("compose:"))
        (compose_file.parent / ".env").unlink(missing_ok=True)  # left by an earlier run
        old_key, first_key, second_key = str(topology.encryption_key), "lb-" + secrets.token_urlsafe(30), "lb-" + secrets.token_urlsafe(30)
        seeded = seed_site(site)
        api_key = str(site.client.api_key)
        all_secrets = [old_key, first_key, second_key, api_key, *seeded.secrets]
        echo = echo_probe(seeded)

        def rotate(new_key: str, name: str, probes: list[dict[str, Any]], **extra: Any) -> str:
            run = controller.run("rotate_key.yml", site, api_key=api_key, rotate_key_new_key=new_key, rotate_key_confirm=True,
                                 rotate_key_backup=False, rotate_key_webhook_probes=probes, **extra)
            (tmp_path / f"rotate-{name}.log").write_text(run.log)
            assert_no_secret(run, [*all_secrets, new_key])
            assert run.ok == (probes is echo), run.log[-8000:]
            return run.log

        def assert_serves_with(key: str) -> None:
            assert container_key(topology.main) == key and volume_config_key(topology.main) == key
            assert inspect(topology.main)["State"]["Running"]
            response = site.client.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers, timeout=60)
            assert response.status_code == 200 and response.json() == Seeded.expected_echo()

        # 1. The literal key in the compose file's environment.
        log = rotate(first_key, "literal", echo)
        assert "opens none" in log and f"compose file {compose_file}" in log
        text = compose_file.read_text()
        assert first_key in text and old_key not in text
        assert_serves_with(first_key)

        # 2. The key in .env, referenced from the compose file.
        compose_file.write_text(text.replace(first_key, "${N8N_ENCRYPTION_KEY}"))
        dotenv = compose_file.parent / ".env"
        dotenv.write_text(f"# n8n\nN8N_ENCRYPTION_KEY={first_key}\nOTHER=kept\n")
        dotenv.chmod(0o600)
        log = rotate(second_key, "dotenv", echo)
        assert "opens none" in log and f"env file {dotenv}" in log
        assert dotenv.read_text() == f"# n8n\nN8N_ENCRYPTION_KEY={second_key}\nOTHER=kept\n"
        assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
        assert "${N8N_ENCRYPTION_KEY}" in compose_file.read_text() and first_key not in compose_file.read_text()
        assert_serves_with(second_key)

        # 3. A round trip that fails after the new key was written: the files and the containers go back.
        failing = [{**echo[0], "json_equals": {"never": "answered"}}]
        log = rotate("lb-" + secrets.token_urlsafe(30), "rollback", failing, rotate_key_ready_timeout=90)
        assert "Rolled back: the database was re-encrypted to the previous key" in log, log[-6000:]
        assert dotenv.read_text() == f"# n8n\nN8N_ENCRYPTION_KEY={second_key}\nOTHER=kept\n"
        assert_serves_with(second_key)
    finally:
        site.stop()
