# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Version parity: may a backup taken from one n8n be restored into another?

This is a private module_utils (leading underscore): its API may change between releases.

n8n migrates its database forward when it starts, and it does NOT refuse a downgrade: an
older n8n starts on a schema migrated by a newer one and misreads or corrupts data. So
the gate is ours: a restore into the same version is fine, into a newer version of the
same major is fine by default (n8n migrates forward), into an older version never, and
across majors only as an explicit opt-in (forward) or never (backward).

Migrations are the truth when both sides list them: a backup whose migrations table holds
a migration the target's n8n does not ship is a downgrade whatever the version strings
say, and a target that ships migrations the backup lacks is a forward move. Without lists,
the newest migration (``migration_head``) of each side is compared when both are known;
otherwise the version strings decide.
"""

from __future__ import absolute_import, annotations, division, print_function

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

__metaclass__ = type

VERDICTS = ("identical", "forward", "downgrade", "cross_major", "unknown")
DEFAULT_POLICY = {"allow_forward": True, "allow_cross_major": False}
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_LISTED = 5  # migrations named in a reason; the full lists are in the result


def _type(value: Any) -> str:
    """The builtin type a value is (Ansible passes its own subclasses of dict, list and str)."""
    return next(t.__name__ for t in type(value).__mro__ if t.__module__ == "builtins")


def _show(value: Any) -> str:
    """A value for a message: its repr, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ParityError(ValueError):
    """The inputs are not shaped as documented (the message names the bad value and its type)."""


def parse_version(version: Any) -> Optional[Tuple[int, int, int, Tuple[int, str]]]:
    """A sortable key for ``"2.40.7"`` (``v`` prefix, ``-rc.1`` and ``+build`` allowed); None if unparsable.

    A release sorts after its pre-releases (``2.0.0-rc.1`` < ``2.0.0``).
    """
    match = _VERSION.match(version.strip()) if isinstance(version, str) else None
    if not match:
        return None
    pre = match.group(4)
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), (0, pre) if pre else (1, "")


def _side(value: Any, label: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"version": value}
    if not isinstance(value, Mapping):
        raise ParityError("%s must be a mapping {version, migrations, migration_head} or a version string, got %s (%s)" % (label, _show(value), _type(value)))
    return dict(value)


def _names(value: Any, label: str) -> Optional[List[str]]:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ParityError("%s.migrations must be a list of migration names, got %s (%s)" % (label, _show(value), _type(value)))
    names: List[str] = []
    for item in value:
        name = item.get("name") if isinstance(item, Mapping) else item
        if not isinstance(name, str) or not name:
            raise ParityError("%s.migrations must hold migration names (strings), got %s (%s)" % (label, _show(item), _type(item)))
        names.append(name)
    return names


def _head(value: Any, label: str) -> Optional[Tuple[int, str]]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ParityError("%s.migration_head must be a mapping {name, timestamp} or null, got %s (%s)" % (label, _show(value), _type(value)))
    name, timestamp = value.get("name"), value.get("timestamp")
    try:
        stamp = int(timestamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParityError("%s.migration_head.timestamp must be an integer, got %s (%s)" % (label, _show(timestamp), _type(timestamp))) from None
    if not isinstance(name, str) or not name:
        raise ParityError("%s.migration_head.name must be a non-empty string, got %s (%s)" % (label, _show(name), _type(name)))
    return stamp, name


def _policy(policy: Any) -> Dict[str, bool]:
    if policy is None:
        policy = {}
    if not isinstance(policy, Mapping):
        raise ParityError("policy must be a mapping {allow_forward, allow_cross_major}, got %s (%s)" % (_show(policy), _type(policy)))
    unknown = sorted(set(policy) - set(DEFAULT_POLICY))
    if unknown:
        raise ParityError("policy has unknown keys %s: known are allow_forward, allow_cross_major" % ", ".join(map(str, unknown)))
    result = dict(DEFAULT_POLICY)
    for name, value in policy.items():
        if not isinstance(value, bool):
            raise ParityError("policy.%s must be a boolean, got %s (%s)" % (name, _show(value), _type(value)))
        result[name] = value
    return result


def _listed(names: List[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (" and %d more" % (len(names) - _LISTED) if len(names) > _LISTED else "")


def _schema_direction(
    backup_migrations: Optional[List[str]],
    target_migrations: Optional[List[str]],
    backup_head: Optional[Tuple[int, str]],
    target_head: Optional[Tuple[int, str]],
) -> Tuple[Optional[str], List[str], List[str], str]:
    """(forward|backward|same|None, missing, new, basis) from the migrations when both sides have them."""
    if backup_migrations is not None and target_migrations is not None:
        shipped = set(target_migrations)
        recorded = set(backup_migrations)
        missing = [name for name in dict.fromkeys(backup_migrations) if name not in shipped]
        new = [name for name in dict.fromkeys(target_migrations) if name not in recorded]
        if missing:
            return "backward", missing, new, "migrations"
        return ("forward" if new else "same"), missing, new, "migrations"
    if backup_head is not None and target_head is not None:
        if backup_head == target_head:
            return "same", [], [], "migration heads"
        if backup_head[0] == target_head[0] or backup_head[0] > target_head[0]:
            # Same timestamp but another name means the histories diverged: as unsafe as a downgrade.
            return "backward", [], [], "migration heads"
        return "forward", [], [], "migration heads"
    return None, [], [], "versions"


def _lacking(b_version: Any, t_version: Any) -> List[str]:
    lacking = []
    for label, version in (("backup", b_version), ("target", t_version)):
        if version in (None, ""):
            source = "the manifest's n8n.version" if label == "backup" else "`n8n --version` on the target"
            lacking.append("%s.version is missing (give %s, for example '2.40.7')" % (label, source))
        elif parse_version(version) is None:
            lacking.append("%s.version %s is not an n8n version (expected major.minor.patch, for example '2.40.7')" % (label, _show(version)))
    return lacking


def version_parity(backup: Any, target: Any, policy: Any = None) -> Dict[str, Any]:
    """Decide whether a backup from ``backup`` may be restored into ``target``.

    ``backup`` and ``target`` are ``{version, migrations?, migration_head?}`` (a manifest's
    ``n8n`` object works as ``backup``) or bare version strings. ``policy`` is
    ``{allow_forward: true, allow_cross_major: false}``.

    Returns ``{verdict, allowed, reason, backup_version, target_version, missing_migrations,
    new_migrations}`` with verdict one of identical, forward, downgrade, cross_major, unknown.
    Raises :class:`ParityError` only for malformed input; missing data is the ``unknown`` verdict.
    """
    rules = _policy(policy)
    b = _side(backup, "backup")
    t = _side(target, "target")
    b_version, t_version = b.get("version"), t.get("version")
    result: Dict[str, Any] = {
        "verdict": "unknown",
        "allowed": False,
        "reason": "",
        "backup_version": b_version if isinstance(b_version, str) else None,
        "target_version": t_version if isinstance(t_version, str) else None,
        "missing_migrations": [],
        "new_migrations": [],
    }
    lacking = _lacking(b_version, t_version)
    if lacking:
        result["reason"] = "Cannot check version parity: %s. Provide both versions, then run the check again; nothing is restored until it passes." % (
            "; ".join(lacking)
        )
        return result

    b_key = parse_version(b_version) or (0, 0, 0, (1, ""))  # both parse: _lacking() checked
    t_key = parse_version(t_version) or (0, 0, 0, (1, ""))
    direction, missing, new, basis = _schema_direction(
        _names(b.get("migrations"), "backup"),
        _names(t.get("migrations"), "target"),
        _head(b.get("migration_head"), "backup"),
        _head(t.get("migration_head"), "target"),
    )
    result["missing_migrations"] = missing
    result["new_migrations"] = new
    facts = _Facts(str(b_version), str(t_version), b_key[0], t_key[0], direction, basis, missing, new)
    if b_key[0] != t_key[0]:
        backward = t_key[0] < b_key[0] or direction == "backward"
        allowed = not backward and rules["allow_cross_major"]
        result.update(verdict="cross_major", allowed=allowed, reason=_cross_major_reason(facts, backward, allowed))
        return result

    if direction in ("forward", "backward"):
        verdict = "forward" if direction == "forward" else "downgrade"
    else:
        verdict = "identical" if b_key == t_key else ("forward" if t_key > b_key else "downgrade")
    allowed = verdict == "identical" or (verdict == "forward" and rules["allow_forward"])
    result.update(verdict=verdict, allowed=allowed, reason=_same_major_reason(facts, verdict, allowed))
    return result


@dataclass
class _Facts:
    b_version: str
    t_version: str
    b_major: int
    t_major: int
    direction: Optional[str]
    basis: str
    missing: List[str]
    new: List[str]


def _same_major_reason(facts: _Facts, verdict: str, allowed: bool) -> str:
    b_version, t_version, major, missing, new = facts.b_version, facts.t_version, facts.t_major, facts.missing, facts.new
    if verdict == "identical":
        same = " and migrations" if facts.direction == "same" else ""
        return "The target runs n8n %s, the same version%s as the backup: the restore can proceed." % (t_version, same)
    if verdict == "forward":
        detail = " (%d migrations to apply: %s)" % (len(new), _listed(new)) if new else ""
        if allowed:
            return (
                "The target's n8n %s is newer than the backup's %s within major %d%s: n8n migrates the restored database forward "
                "when it starts, so the restore can proceed. Keep the backup until the restored instance is verified: after the "
                "migration, n8n %s cannot open the database again." % (t_version, b_version, major, detail, b_version)
            )
        return (
            "Refusing to restore: the target's n8n %s is newer than the backup's %s%s and policy allow_forward is false. "
            "Install n8n %s on the target, or set policy allow_forward: true to let n8n migrate the database forward."
            % (t_version, b_version, detail, b_version)
        )
    if missing:
        evidence = "the backup's database holds %d migrations the target's n8n does not ship (%s)" % (len(missing), _listed(missing))
    elif facts.basis == "migration heads":
        evidence = "the backup's newest migration is newer than the target's, or their histories differ"
    else:
        evidence = "the target's n8n is older than the one that wrote the backup"
    return (
        "Refusing to restore: the backup is from n8n %s and the target runs %s; %s. The schema is ahead of the code: n8n does "
        "not refuse a downgrade, it would start on this database and misread or corrupt data. Install n8n %s or newer "
        "(within %d.x) on the target, then restore." % (b_version, t_version, evidence, b_version, major)
    )


def _cross_major_reason(facts: _Facts, backward: bool, allowed: bool) -> str:
    b_version, t_version, b_major, t_major, missing = facts.b_version, facts.t_version, facts.b_major, facts.t_major, facts.missing
    if allowed:
        return (
            "The target's n8n %s is a newer major than the backup's %s, and policy allow_cross_major permits it: n8n runs the %d.x "
            "migrations when it starts on the restored database. Keep the backup until the restored instance is verified: "
            "after the upgrade, n8n %s cannot open the database again." % (t_version, b_version, t_major, b_version)
        )
    if not backward:
        return (
            "Refusing to restore across major versions: the backup is from n8n %s and the target runs %s. A major upgrade runs "
            "breaking migrations and changes behaviour: either install n8n %d.x (%s or newer) on the target, or read n8n's %d.0 "
            "breaking changes, upgrade deliberately and opt in with policy allow_cross_major: true."
            % (b_version, t_version, b_major, b_version, t_major)
        )
    evidence = " (the backup holds %d migrations the target does not ship: %s)" % (len(missing), _listed(missing)) if missing else ""
    if t_major > b_major:
        # A newer major that lacks migrations the backup has: not an upgrade path n8n supports.
        return (
            "Refusing to restore: the target's n8n %s is a newer major than the backup's %s but does not ship every migration "
            "the backup's database has%s, so it cannot upgrade it; no policy allows this. Restore into n8n %s first."
            % (t_version, b_version, evidence, b_version)
        )
    return (
        "Refusing to restore: the backup is from n8n %s and the target runs %s, an older major%s. n8n would start on a schema from "
        "a newer major and misread or corrupt data; no policy allows this. Install n8n %s or newer (%d.x) on the target, then restore."
        % (b_version, t_version, evidence, b_version, b_major)
    )
