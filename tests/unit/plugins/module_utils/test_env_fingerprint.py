"""Trigger-relevant env, redaction and key fingerprints."""

from __future__ import annotations

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _env as env
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import is_fingerprint, key_fingerprint


def test_fingerprint_is_stable_and_hides_the_key() -> None:
    fp = key_fingerprint("my-n8n-key")
    assert fp == key_fingerprint("my-n8n-key")
    assert fp != key_fingerprint("my-n8n-key2")
    assert is_fingerprint(fp)
    assert "my-n8n-key" not in fp


@pytest.mark.parametrize("bad", ["", None, 42])
def test_fingerprint_refuses_non_keys(bad: object) -> None:
    with pytest.raises(ValueError):
        key_fingerprint(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WEBHOOK_URL", "https://n8n.example.com/", "https://n8n.example.com/"),
        ("N8N_ENCRYPTION_KEY", "k", env.REDACTED),
        ("QUEUE_BULL_REDIS_PASSWORD", "p", env.REDACTED),
        ("DB_POSTGRESDB_PASSWORD_FILE", "/run/secrets/pw", "/run/secrets/pw"),
        ("QUEUE_BULL_REDIS_HOST", "redis://user:pw@redis:6379", "redis://<redacted>@redis:6379"),
    ],
)
def test_redaction(name: str, value: str, expected: str) -> None:
    assert env.redact_value(name, value) == expected


def test_trigger_env_keeps_only_trigger_relevant_names() -> None:
    captured = env.trigger_env(
        {
            "WEBHOOK_URL": "https://a/",
            "GENERIC_TIMEZONE": "Europe/Berlin",
            "QUEUE_BULL_REDIS_PASSWORD": "secret",
            "N8N_ENCRYPTION_KEY": "secret",
            "HOME": "/home/node",
        }
    )
    assert captured == {
        "GENERIC_TIMEZONE": "Europe/Berlin",
        "QUEUE_BULL_REDIS_PASSWORD": env.REDACTED,
        "WEBHOOK_URL": "https://a/",
    }


def test_parse_env_file() -> None:
    text = "# comment\nexport A=1\nB='two words'\nC=\"x=y\"\n bad line\nD=\n"
    assert env.parse_env_file(text) == {"A": "1", "B": "two words", "C": "x=y", "D": ""}
