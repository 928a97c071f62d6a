# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Put credentials from controlled artifacts into an n8n instance, under *its* key (private module_utils).

The rebuild role reads the artifacts' vault files in the controller's memory and hands the
plaintext to :func:`import_credentials` (a ``no_log`` module task on the target). There:

1. **Desired state**: the artifacts' credentials (``id``, ``name`` and ``type`` from the
   non-secret index, ``data`` from the vault files), with per-environment overrides applied
   (:func:`merge_overrides`: keyed by credential id or name, ``data`` replaces the artifact's
   data whole, so a production secret never mixes with a development one).
2. **Plan**: the target's credentials decrypted with the target's own key (2.x DEKs included)
   and compared field by field: nothing to do when name, type and data are equal. A
   credential that does not decrypt on the target counts as different (it is replaced).
3. **Apply** (n8n stopped): each changed credential's data is encrypted here with the
   target's key (``_cipher.encrypt``: the unprefixed format every pinned version reads and
   2.x writes by default) and only that ciphertext is written to a 0600 file in a private
   0700 folder, handed to ``n8n import:credentials --input=<file>`` and deleted. Every pinned
   version stores a ``data`` that is a string as given (1.123.81 encrypts only objects; 2.38.7
   and 2.40.7 only JSON objects), upserts by id, and gives a new credential to the owner's
   personal project. The CLI is used rather than SQL so that n8n's own rules (sharing rows,
   2.40's instance-scope checks) apply.
4. **Verify**: read back and decrypt with the target key; every changed credential must now
   equal the desired state.

Nothing here returns, logs or raises with a credential value; results carry ids and names.
"""

from __future__ import absolute_import, annotations, division, print_function

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from ._activation import N8nCli
from ._cipher import encrypt
from ._credentials_export import CredentialsError, decrypt_data, load_keyring
from ._db import N8nDatabase
from ._fingerprint import key_fingerprint
from ._key_check import Keyring

__metaclass__ = type

CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"
IMPORT_FILE = "credentials.json"


# ------------------------------------------------------------ desired state
def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int)):
        raise CredentialsError("Cannot use %s: expected a string, got %s" % (what, type(value).__name__))
    text = str(value)
    if not text:
        raise CredentialsError("Cannot use %s: it is empty" % what)
    return text


def desired_credentials(index: Sequence[Mapping[str, Any]], payloads: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Index entries (id, name, type) joined with vault payloads (id, type, data) by id.

    An entry without a payload gets ``data: None``: it must then come from an override.
    """
    by_id: Dict[str, Mapping[str, Any]] = {}
    for i, item in enumerate(payloads):
        if not isinstance(item, Mapping):
            raise CredentialsError("Cannot use credential payload %d: expected a dict, got %s" % (i, type(item).__name__))
        inner = item.get("lifeboat_n8n_credential", item)
        if not isinstance(inner, Mapping):
            raise CredentialsError("Cannot use credential payload %d: no lifeboat_n8n_credential object in it" % i)
        cred_id = _text(inner.get("id"), "the id of credential payload %d" % i)
        if not isinstance(inner.get("data"), dict):
            raise CredentialsError("Cannot use the vault file of credential %s: its data is not an object" % cred_id)
        by_id[cred_id] = inner
    desired: List[Dict[str, Any]] = []
    seen = set()
    for i, entry in enumerate(index):
        if not isinstance(entry, Mapping):
            raise CredentialsError("Cannot use credentials index entry %d: expected a dict, got %s" % (i, type(entry).__name__))
        cred_id = _text(entry.get("id"), "the id of credentials index entry %d" % i)
        if cred_id in seen:
            raise CredentialsError("Cannot use the credentials index: credential %s is listed twice" % cred_id)
        seen.add(cred_id)
        payload: Optional[Mapping[str, Any]] = by_id.get(cred_id)
        cred_type = _text(entry.get("type"), "the type of credential %s" % cred_id)
        if payload is not None and str(payload.get("type", cred_type)) != cred_type:
            raise CredentialsError(
                "Cannot use credential %s: its vault file says type %s but the index says %s. Export again" % (cred_id, payload.get("type"), cred_type)
            )
        desired.append(
            {
                "id": cred_id,
                "name": _text(entry.get("name"), "the name of credential %s" % cred_id),
                "type": cred_type,
                "data": dict(payload["data"]) if payload is not None else None,
                "source": "artifacts" if payload is not None else None,
            }
        )
    unknown = sorted(set(by_id) - seen)
    if unknown:
        raise CredentialsError("Cannot use vault payloads for %s: the credentials index does not list them. Export again" % ", ".join(unknown))
    return desired


def merge_overrides(desired: Sequence[Mapping[str, Any]], overrides: Optional[Mapping[str, Any]], require: bool = False) -> List[Dict[str, Any]]:
    """Apply per-environment overrides, keyed by credential id or (unique) name.

    An override is ``{data: {...}}`` and optionally ``name``: ``data`` replaces the artifact's
    data entirely. ``require`` refuses any credential without an override (production
    inventories use it so that no development secret can reach them). An override that names
    no credential is an error (a typo would otherwise silently keep the artifact's secret).
    """
    result = [dict(item) for item in desired]
    by_id = {item["id"]: item for item in result}
    by_name: Dict[str, List[Dict[str, Any]]] = {}
    for item in result:
        by_name.setdefault(item["name"], []).append(item)
    used = set()
    for key, override in sorted((overrides or {}).items(), key=lambda kv: str(kv[0])):
        ref = str(key)
        if ref in by_id:
            target = by_id[ref]
        elif len(by_name.get(ref, [])) == 1:
            target = by_name[ref][0]
        elif by_name.get(ref):
            raise CredentialsError("Cannot apply the credential override %r: several credentials have that name; key it by id" % ref)
        else:
            raise CredentialsError(
                "Cannot apply the credential override %r: no credential in the artifacts has that id or name "
                "(see credentials/index.json)" % ref
            )
        if target["id"] in used:
            raise CredentialsError("Cannot apply two overrides to credential %s (by id and by name): keep one" % target["id"])
        used.add(target["id"])
        if not isinstance(override, Mapping) or not isinstance(override.get("data"), Mapping):
            raise CredentialsError("Cannot apply the credential override %r: it must be a dict with a data dict" % ref)
        unknown = sorted(set(override) - {"data", "name"})
        if unknown:
            raise CredentialsError("Cannot apply the credential override %r: unknown key(s) %s (use data and name)" % (ref, ", ".join(unknown)))
        target["data"] = dict(override["data"])
        target["source"] = "override"
        if override.get("name") is not None:
            target["name"] = _text(override["name"], "the name in override %r" % ref)
    missing = [item for item in result if item["data"] is None or (require and item["source"] != "override")]
    if missing:
        names = ", ".join("%s (%s)" % (item["id"], item["name"]) for item in missing)
        why = "rebuild_require_credential_overrides is set and these have none" if require else "they have neither a vault file nor an override"
        raise CredentialsError("Cannot rebuild credentials %s: %s. Add them to the overrides of this environment" % (names, why))
    return result


# -------------------------------------------------------------------- plan
def read_target(db: N8nDatabase, keyring: Keyring) -> Dict[str, Dict[str, Any]]:
    """The target's credentials: id -> {name, type, data (None when it does not decrypt)}."""
    rows = db.fetchall("SELECT id, name, type, data FROM %s" % db.table("credentials_entity"))  # noqa: S608
    return {str(r[0]): {"name": str(r[1]), "type": str(r[2]), "data": decrypt_data(keyring, r[3])} for r in rows}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def plan(current: Mapping[str, Mapping[str, Any]], desired: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Per desired credential: ``{id, name, type, action, changes}`` (changes: the fields that differ)."""
    steps = []
    for item in desired:
        now = current.get(item["id"])
        if now is None:
            action, changes = CREATE, ["name", "type", "data"]
        else:
            changes = [f for f in ("name", "type") if now.get(f) != item[f]]
            if now.get("data") is None or not _same(now["data"], item["data"]):
                changes.append("data")
            action = UPDATE if changes else UNCHANGED
        steps.append({"id": item["id"], "name": item["name"], "type": item["type"], "action": action, "changes": changes, "source": item.get("source")})
    return steps


def import_records(desired: Sequence[Mapping[str, Any]], key: str) -> List[Dict[str, Any]]:
    """What ``n8n import:credentials`` receives: data already encrypted with the target's key."""
    return [
        {"id": item["id"], "name": item["name"], "type": item["type"], "data": encrypt(json.dumps(item["data"], separators=(",", ":")), key)}
        for item in desired
    ]


def write_private_json(folder: str, name: str, data: Any) -> str:
    """Write JSON to a new 0600 file (never replacing one) and return its path."""
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return path


class PrivateFolder:
    """A 0700 temporary folder removed with everything in it, whatever happens."""

    def __init__(self, parent: Optional[str] = None, prefix: str = "lifeboat-n8n-") -> None:
        if parent:
            os.makedirs(parent, 0o700, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=prefix, dir=parent or None)
        os.chmod(self.path, 0o700)

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _check_legacy_key(keyring: Keyring) -> None:
    # 2.x decrypts unprefixed values with the aes-256-cbc data_encryption DEK, which n8n keeps equal
    # to the instance key; if it were not, values encrypted with the instance key would not read.
    if keyring.legacy_password is not None and keyring.legacy_password != keyring.password:
        raise CredentialsError(
            "Cannot encrypt credentials for this instance: its legacy data-encryption key (deployment_key, aes-256-cbc) is not "
            "its instance key, so n8n would not read values encrypted with the instance key. Check the instance with "
            "lifeboat.n8n.n8n_key_check"
        )


def import_credentials(
    open_db: Callable[[], N8nDatabase],
    key: str,
    desired: Sequence[Mapping[str, Any]],
    *,
    cli_factory: Optional[Callable[[], N8nCli]] = None,
    check_mode: bool = False,
    tmp_dir: Optional[str] = None,
) -> Dict[str, Any]:
    """Plan, and unless ``check_mode``, import the changed credentials and verify them.

    ``open_db`` opens the target's database (called for the plan and again for the check after
    the import: the CLI must find no transaction of ours open). Returns
    ``{changed, credentials (the plan), created, updated, unchanged, key_fingerprint, undecryptable}``.
    """
    with open_db() as db:
        keyring = load_keyring(db, key)
        current = read_target(db, keyring)
    steps = plan(current, desired)
    to_import = [item for item, step in zip(desired, steps) if step["action"] != UNCHANGED]
    result: Dict[str, Any] = {
        "changed": bool(to_import),
        "credentials": steps,
        "created": sum(1 for s in steps if s["action"] == CREATE),
        "updated": sum(1 for s in steps if s["action"] == UPDATE),
        "unchanged": sum(1 for s in steps if s["action"] == UNCHANGED),
        "undecryptable": sorted(cid for cid, c in current.items() if c["data"] is None),
        "extra": sorted(set(current) - {item["id"] for item in desired}),
        "key_fingerprint": key_fingerprint(key),
    }
    if check_mode or not to_import:
        return result
    if cli_factory is None:
        raise CredentialsError("Cannot import credentials: give n8n_command (the n8n CLI of the target)")
    _check_legacy_key(keyring)
    records = import_records(to_import, key)
    with PrivateFolder(tmp_dir) as folder:
        path = write_private_json(folder, IMPORT_FILE, records)
        cli_factory().run(["import:credentials", "--input=%s" % path], "import %d credential(s)" % len(records))
    with open_db() as db:
        after = read_target(db, load_keyring(db, key))
    wrong = [s for s in plan(after, to_import) if s["action"] != UNCHANGED]
    if wrong:
        details = "; ".join("%s (%s): %s" % (s["id"], s["name"], ", ".join(s["changes"])) for s in wrong)
        raise CredentialsError(
            "n8n import:credentials ran but %d credential(s) are not as wanted afterwards: %s. Read n8n's output above "
            "(run with -vvv) and run the rebuild again" % (len(wrong), details)
        )
    return result
