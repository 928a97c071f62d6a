# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""n8n's runtime context: which environment variables matter for triggers, and redaction.

Webhook URLs, host, protocol, port, path prefixes and the timezone are immutable
configuration for triggers: if they change between backup and restore, workflows stay
"active" while their triggers never fire (webhooks registered under another URL,
schedules in another timezone). Backups record these variables; restores compare them.

Anything that looks secret is redacted before it is recorded anywhere.
"""

from __future__ import absolute_import, annotations, division, print_function

import re
from typing import Mapping

__metaclass__ = type

REDACTED = "<redacted>"

# Exact names whose change breaks or moves triggers and webhooks.
TRIGGER_ENV = (
    "WEBHOOK_URL",
    "N8N_HOST",
    "N8N_PROTOCOL",
    "N8N_PORT",
    "N8N_PATH",
    "N8N_LISTEN_ADDRESS",
    "N8N_EDITOR_BASE_URL",
    "N8N_PROXY_HOPS",
    "N8N_ENDPOINT_WEBHOOK",
    "N8N_ENDPOINT_WEBHOOK_TEST",
    "N8N_ENDPOINT_WEBHOOK_WAIT",
    "N8N_ENDPOINT_FORM",
    "N8N_ENDPOINT_FORM_TEST",
    "N8N_ENDPOINT_FORM_WAIT",
    "N8N_ENDPOINT_MCP",
    "N8N_ENDPOINT_MCP_TEST",
    "N8N_ENDPOINT_REST",
    "N8N_DISABLE_PRODUCTION_MAIN_PROCESS",
    "GENERIC_TIMEZONE",
    "TZ",
    "EXECUTIONS_MODE",
    "N8N_DEFAULT_BINARY_DATA_MODE",
    "N8N_BINARY_DATA_STORAGE_PATH",
    "N8N_STORAGE_PATH",
    "N8N_COMMUNITY_PACKAGES_ENABLED",
    "N8N_CUSTOM_EXTENSIONS",
    "NODES_INCLUDE",
    "NODES_EXCLUDE",
    "DB_TYPE",
    "DB_TABLE_PREFIX",
    "N8N_RUNNERS_MODE",
)
# Families recorded whole (queue mode wiring).
TRIGGER_ENV_PREFIXES = ("QUEUE_BULL_", "QUEUE_HEALTH_CHECK_", "N8N_ENDPOINT_")

# Variables that decide where webhooks are reachable: a drift here means every
# webhook trigger must be re-registered and probed at its new address.
WEBHOOK_ENV = (
    "WEBHOOK_URL",
    "N8N_HOST",
    "N8N_PROTOCOL",
    "N8N_PORT",
    "N8N_PATH",
    "N8N_PROXY_HOPS",
    "N8N_ENDPOINT_WEBHOOK",
    "N8N_ENDPOINT_WEBHOOK_WAIT",
    "N8N_ENDPOINT_FORM",
    "N8N_ENDPOINT_FORM_WAIT",
)
SCHEDULE_ENV = ("GENERIC_TIMEZONE", "TZ")

_SECRET_NAME = re.compile(r"(PASS|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|CERT|SALT)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/@]+)@", re.IGNORECASE)


def is_trigger_env(name: str) -> bool:
    return name in TRIGGER_ENV or name.startswith(TRIGGER_ENV_PREFIXES)


def is_secret_name(name: str) -> bool:
    """Names that hold secrets (N8N_ENCRYPTION_KEY, *_PASSWORD, *_TOKEN, ...)."""
    # The _FILE variants hold a path, not the secret itself.
    return bool(_SECRET_NAME.search(name)) and not name.endswith("_FILE")


def redact_value(name: str, value: str) -> str:
    if is_secret_name(name):
        return REDACTED
    # Credentials embedded in URLs (redis://user:pass@host) are secrets too.
    return _URL_USERINFO.sub(lambda m: m.group("scheme") + REDACTED + "@", str(value))


def redact(env: Mapping[str, str]) -> dict[str, str]:
    return {name: redact_value(name, value) for name, value in env.items()}


def trigger_env(env: Mapping[str, str]) -> dict[str, str]:
    """The trigger-relevant variables of an n8n environment, redacted, sorted by name."""
    return {name: redact_value(name, env[name]) for name in sorted(env) if is_trigger_env(name)}


def parse_env_file(text: str) -> dict[str, str]:
    """Parse a docker/systemd style env file (KEY=value, optional quotes, # comments, export)."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in ("'", '"'):
            value = value[1:-1]
        result[name] = value
    return result
