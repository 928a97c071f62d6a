# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Environment drift: trigger-relevant variables that differ between a backup and a target.

This is a private module_utils (leading underscore): its API may change between releases.

A workflow restored under another ``WEBHOOK_URL`` or timezone stays "active" while its
webhooks answer elsewhere and its schedules fire at other hours. The backup records the
trigger-relevant environment (``_env.trigger_env``, redacted); a restore compares it with
the target's. Values are redacted once more here, and a variable whose value is redacted
on either side is reported as ``unknown`` with both values redacted, never as a
comparison that would hint at the secret.
"""

from __future__ import absolute_import, annotations, division, print_function

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.lifeboat.n8n.plugins.module_utils import _env

__metaclass__ = type

CHANGES = ("added", "removed", "changed", "unknown")


def _type(value: Any) -> str:
    """The builtin type a value is (Ansible passes its own subclasses of dict, list and str)."""
    return next(t.__name__ for t in type(value).__mro__ if t.__module__ == "builtins")


def _show(value: Any) -> str:
    """A value for a message: its repr, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class DriftError(ValueError):
    """The inputs are not shaped as documented (the message names the bad value's type)."""


def _normalise(env: Any, label: str) -> Dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise DriftError("%s must be a mapping of environment variables, got %s" % (label, _type(env)))
    result: Dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str):
            raise DriftError("%s has a variable name that is not a string: %s (%s)" % (label, _show(name), _type(name)))
        if value is None or not _env.is_trigger_env(name):
            continue  # unset, or irrelevant to triggers
        if isinstance(value, (dict, list, tuple)):
            # No value in the message: it may be a secret.
            raise DriftError("%s.%s must be a string, got %s" % (label, name, _type(value)))
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        result[name] = _env.redact_value(name, text)
    return result


def _entry(name: str, change: str, backup: Optional[str], target: Optional[str]) -> Dict[str, Any]:
    return {
        "name": name,
        "change": change,
        "backup": backup,
        "target": target,
        "webhooks": name in _env.WEBHOOK_ENV,
        "schedules": name in _env.SCHEDULE_ENV,
    }


def env_drift(backup_env: Any, target_env: Any) -> Dict[str, Any]:
    """Compare the trigger-relevant variables of two environments.

    Returns ``{drift, webhooks_affected, schedules_affected, changed}`` where ``drift`` is a
    list, sorted by name, of ``{name, change, backup, target, webhooks, schedules}``;
    ``change`` is added (only on the target), removed (only in the backup), changed, or
    unknown (redacted on at least one side: both values are then reported redacted).
    ``changed`` is true when anything is added, removed or changed; unknown entries alone
    do not set it, but they do set ``webhooks_affected`` / ``schedules_affected`` for the
    variables those flags watch (re-registering a trigger is cheap, a silent one is not).
    """
    backup = _normalise(backup_env, "backup_env")
    target = _normalise(target_env, "target_env")
    drift: List[Dict[str, Any]] = []
    for name in sorted(set(backup) | set(target)):
        before, after = backup.get(name), target.get(name)
        if before is None:
            drift.append(_entry(name, "added", None, after))
        elif after is None:
            drift.append(_entry(name, "removed", before, None))
        elif _env.REDACTED in (before, after):
            drift.append(_entry(name, "unknown", _env.REDACTED, _env.REDACTED))
        elif before != after:
            drift.append(_entry(name, "changed", before, after))
    return {
        "drift": drift,
        "webhooks_affected": any(item["webhooks"] for item in drift),
        "schedules_affected": any(item["schedules"] for item in drift),
        "changed": any(item["change"] != "unknown" for item in drift),
    }
