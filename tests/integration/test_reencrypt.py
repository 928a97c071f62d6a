"""lifeboat.n8n.n8n_reencrypt on its own, against real n8n 2.38.7 (the role tests cover 2.40.7 and 1.123.81).

2.38.7 is the odd one: its signing secrets are plaintext rows of ``deployment_key`` (not bound to
the key). With N8N_ENV_FEAT_ENCRYPTION_KEY_ROTATION=true it also has GCM-wrapped
data-encryption keys and ``<keyId>:`` credentials. The test stops n8n and runs the module in
check mode (nothing changes), for real, and again (nothing changes). Then it starts n8n with the
new key and proves a credential works in an execution and the old key opens nothing. The -vvv
logs carry neither key.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import sys
from typing import Any

import pytest
from n8n_harness import N8nInstance, Seeded, seed
from n8n_harness.ansible import run_module

_LINK = os.environ.get("LIFEBOAT_CHECKOUT_LINK")
if _LINK and _LINK not in sys.path:
    sys.path.insert(0, _LINK)

from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase  # noqa: E402
from ansible_collections.lifeboat.n8n.plugins.module_utils._key_check import check_key  # noqa: E402

MODULE = "lifeboat.n8n.n8n_reencrypt"
V2_38 = "2.38.7"


def db_rows(instance: N8nInstance) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{instance.sqlite_path}?mode=ro", uri=True) as conn:
        creds = conn.execute("SELECT id, data FROM credentials_entity ORDER BY id").fetchall()
        keys = conn.execute("SELECT id, type, value, algorithm FROM deployment_key ORDER BY id").fetchall()
    return creds + keys


def key_check(instance: N8nInstance, key: str) -> dict[str, Any]:
    with N8nDatabase(DatabaseConfig.from_mapping(instance.database_option()), readonly=True) as db:
        result: dict[str, Any] = check_key(db, key, workers=1).as_dict()
    return result


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("flag", [False, True], ids=["plain", "rotation-flag"])
def test_reencrypt_module_on_n8n_2_38(n8n_factory, flag: bool) -> None:
    extra = {"N8N_ENV_FEAT_ENCRYPTION_KEY_ROTATION": "true"} if flag else {}
    instance: N8nInstance = n8n_factory(V2_38, "sqlite", extra_env=extra)
    instance.start()
    seeded = seed(instance)
    old_key, new_key = str(instance.encryption_key), "lb-" + secrets.token_urlsafe(30)
    instance.stop()
    with sqlite3.connect(instance.sqlite_path) as conn:
        prefixed = [r[0] for r in conn.execute("SELECT data FROM credentials_entity") if ":" in r[0]]
        plaintext_signing = conn.execute("SELECT count(*) FROM deployment_key WHERE type LIKE 'signing.%' AND algorithm IS NULL").fetchone()[0]
    assert bool(prefixed) == flag  # the flag makes n8n write <keyId>: credentials
    assert plaintext_signing == 3  # 2.38 keeps its signing secrets in plaintext
    args = {"old_key": old_key, "new_key": new_key, "database": instance.database_option()}
    before = db_rows(instance)

    dry, dry_run = run_module(MODULE, args, check=True, verbosity=3)
    assert not dry.get("failed"), dry.get("msg")
    assert dry["check_mode"] and not dry["committed"] and dry["changed"] is True  # would change
    assert db_rows(instance) == before

    result, run = run_module(MODULE, args, verbosity=3)
    assert not result.get("failed"), result.get("msg")
    assert result["committed"] and result["passed"]
    cats = result["categories"]
    if flag:
        assert cats["credentials"]["unchanged"] == 3 and cats["credentials"]["reencrypted"] == 0
        assert cats["deployment_keys"]["rewrapped"] == 2  # the aes-256-cbc and aes-256-gcm data-encryption keys
    else:
        assert cats["credentials"]["reencrypted"] == 3
        assert cats["deployment_keys"]["rewrapped"] == 0
    assert cats["deployment_keys"]["skipped"] == 4  # instance.id and the three plaintext signing secrets
    assert result["verification"]["failed"] == 0

    again, again_run = run_module(MODULE, args, verbosity=3)
    assert again["already_rotated"] and again["changed"] is False

    for log in (dry_run.log, run.log, again_run.log):
        assert old_key not in log and new_key not in log
        for secret in seeded.secrets:
            assert secret not in log

    # n8n starts with the new key (env and .n8n/config together) and the credential works in an execution.
    config = instance.n8n_folder / "config"
    config.write_text(json.dumps({**json.loads(config.read_text()), "encryptionKey": new_key}))
    instance.encryption_key = new_key
    instance.start()
    echo = instance.wait_webhook("lifeboat-echo", params=seeded.echo_params(), headers=seeded.echo_headers, timeout=60)
    assert echo.status_code == 200 and echo.json() == Seeded.expected_echo(), echo.text[:300]
    assert instance.api("GET", "/workflows")["data"]  # API keys survive on 2.x
    assert key_check(instance, new_key)["passed"]
    assert key_check(instance, old_key)["ok"] == 0
