# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Credentials as controlled artifacts: read them decrypted, digest them, index them (private module_utils).

The export role keeps an instance's credentials in git as one Ansible Vault file per
credential plus a non-secret index. Plaintext must never touch a disk, so this module
only reads and computes: :func:`export_credentials` decrypts every credential with the
instance key (``_key_check.Keyring``: legacy CBC, and on 2.x ``<keyId>:`` values under
their data-encryption key), and returns the plaintext to the caller (a ``no_log`` task)
which vault-encrypts it in the controller's memory and writes ciphertext only.

Vault salts are random, so encrypting the same plaintext twice gives different files. To
keep an unchanged credential's file untouched (a clean ``git status``), the index records
a keyed digest of each credential: HMAC-SHA256 of its canonical JSON under a key derived
from the vault secret on the controller (:func:`digest_key`). The digest reveals nothing
without that key (credential values are often short and guessable: a plain hash would
let anyone with the repo test guesses). The controller rewrites a vault file only when
the digest differs.

What a credential's artifacts hold:

* ``credentials/<id>.vault``: ``{"lifeboat_n8n_credential": {id, type, data}}`` as JSON,
  vault-encrypted. ``data`` is the decrypted object n8n stores (the secret part).
* ``credentials/index.json``: per credential ``id``, ``name``, ``type``, ``project`` (the
  owning project's name, when the version has projects), ``file`` and ``digest``; sorted by
  id, canonical JSON. Names are not in the digest: renaming a credential changes the index only.

Credentials that n8n manages itself (``isManaged``, such as free AI credits) belong to one
instance and are left out unless asked for.
"""

from __future__ import absolute_import, annotations, division, print_function

import hashlib
import hmac
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from ._db import N8nDatabase
from ._fingerprint import key_fingerprint
from ._key_check import KeyCheckError, Keyring

__metaclass__ = type

INDEX_FORMAT = "lifeboat.n8n/credentials"
FORMAT_VERSION = 1
VAULT_ROOT_KEY = "lifeboat_n8n_credential"
DIGEST_SCHEME = "hmac-sha256"
DIGEST_KEY_LABEL = "lifeboat.n8n/credential-digest/v1:"
OWNER_ROLE = "credential:owner"
MAX_NAMED_FAILURES = 10


class CredentialsError(Exception):
    """Credentials could not be read, decrypted or written; the message names ids, never values."""


# ------------------------------------------------------------------ the key
def instance_key(key: Optional[str] = None, key_file: Optional[str] = None, config_path: Optional[str] = None) -> str:
    """The key n8n runs with, from its environment (or key file) and ``.n8n/config``.

    n8n refuses to start when two sources disagree; so does this. At least one is needed.
    """
    found: List[Tuple[str, str]] = []
    if key:
        found.append(("N8N_ENCRYPTION_KEY", key))
    if key_file:
        try:
            with open(key_file, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as exc:
            raise CredentialsError("Cannot read N8N_ENCRYPTION_KEY_FILE %s: %s" % (key_file, exc.strerror or exc)) from exc
        if value:
            found.append(("N8N_ENCRYPTION_KEY_FILE", value))
    if config_path and os.path.exists(config_path):
        try:
            with open(config_path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CredentialsError("Cannot read the n8n config %s: %s" % (config_path, exc.__class__.__name__)) from exc
        stored = data.get("encryptionKey") if isinstance(data, dict) else None
        if isinstance(stored, str) and stored:
            found.append((config_path, stored))
    if not found:
        raise CredentialsError(
            "Cannot find n8n's encryption key: no N8N_ENCRYPTION_KEY(_FILE) was given and %s holds none. "
            "Has n8n started at least once on this host?" % (config_path or "no config_path was given")
        )
    if len({value for _source, value in found}) > 1:
        details = ", ".join("%s=%s" % (source, key_fingerprint(value)) for source, value in found)
        raise CredentialsError(
            "Cannot decide n8n's encryption key: its sources disagree (%s). n8n itself refuses to start like this; "
            "fix the source that is wrong first" % details
        )
    return found[0][1]


def load_keyring(db: N8nDatabase, key: str) -> Keyring:
    """A keyring for ``key`` that also holds the 2.x data-encryption keys of ``deployment_key``."""
    try:
        keyring = Keyring(key)
    except KeyCheckError as exc:
        raise CredentialsError(str(exc)) from exc
    if not db.has_table("deployment_key"):
        return keyring
    columns = db.columns("deployment_key")
    algorithm = '"algorithm"' if "algorithm" in columns else "NULL"
    rows = db.fetchall('SELECT id, type, %s, value FROM %s' % (algorithm, db.table("deployment_key")))  # noqa: S608
    # data_encryption rows first, by id: n8n's legacy key is the first aes-256-cbc one (as _key_check does).
    for row_id, row_type, row_algorithm, value in sorted(rows, key=lambda r: (r[1] != "data_encryption", str(r[0]))):
        keyring.add_deployment_key(str(row_id), str(row_type), row_algorithm, value)
    return keyring


def decrypt_data(keyring: Keyring, value: Any) -> Optional[Dict[str, Any]]:
    """A credential's ``data`` column as n8n would read it, or None when it does not decrypt to a JSON object."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    plain, _reason = keyring.decrypt_v2(str(value))
    if plain is None:
        return None
    try:
        data = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ------------------------------------------------------------------ reading
def _owner_projects(db: N8nDatabase) -> Dict[str, str]:
    """Credential id -> the owning project's name (empty before projects existed)."""
    tables = db.tables()
    if not {"shared_credentials", "project"} <= tables or "projectId" not in db.columns("shared_credentials"):
        return {}
    names = {str(pid): str(name) for pid, name in db.fetchall("SELECT id, name FROM %s" % db.table("project"))}  # noqa: S608
    owners: Dict[str, str] = {}
    query = 'SELECT "credentialsId", "projectId" FROM %s WHERE role = ?' % db.table("shared_credentials")  # noqa: S608
    for credential_id, project_id in db.fetchall(query, (OWNER_ROLE,)):
        owners[str(credential_id)] = names.get(str(project_id), str(project_id))
    return owners


def read_credentials(db: N8nDatabase, keyring: Keyring, include_managed: bool = False) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Every credential decrypted, sorted by id, and the managed ones left out (id, name, type).

    Raises :class:`CredentialsError` naming (by id and name) the credentials that do not decrypt.
    """
    if not db.has_table("credentials_entity"):
        raise CredentialsError(
            "Cannot read credentials from %s: it has no credentials_entity table. Check the database options point at "
            "n8n's database" % db.config.describe()
        )
    managed_column = '"isManaged"' if "isManaged" in db.columns("credentials_entity") else "NULL"
    rows = db.fetchall("SELECT id, name, type, data, %s FROM %s" % (managed_column, db.table("credentials_entity")))  # noqa: S608
    projects = _owner_projects(db)
    records: List[Dict[str, Any]] = []
    skipped: List[Dict[str, Any]] = []
    failed: List[str] = []
    for cred_id, name, cred_type, data, managed in sorted(rows, key=lambda r: str(r[0])):
        ident = {"id": str(cred_id), "name": str(name), "type": str(cred_type)}
        if managed and not include_managed:
            skipped.append(ident)
            continue
        plain = decrypt_data(keyring, data)
        if plain is None:
            failed.append("%s (%s)" % (ident["id"], ident["name"]))
            continue
        record: Dict[str, Any] = dict(ident, data=plain)
        if projects:
            record["project"] = projects.get(ident["id"])
        records.append(record)
    if failed:
        shown = ", ".join(failed[:MAX_NAMED_FAILURES]) + (" and %d more" % (len(failed) - MAX_NAMED_FAILURES) if len(failed) > MAX_NAMED_FAILURES else "")
        raise CredentialsError(
            "Cannot decrypt %d of %d credentials with the instance key %s: %s. Check the key with "
            "lifeboat.n8n.n8n_key_check; nothing was exported" % (len(failed), len(rows), key_fingerprint(keyring.key), shown)
        )
    return records, skipped


# ------------------------------------------------------------------ digests
def digest_key(vault_secret: str) -> str:
    """The digest key derived from a vault secret: what the export role computes on the controller.

    Only this one-way value travels to the managed host, never the vault secret. The role computes
    the same with ``('lifeboat.n8n/credential-digest/v1:' ~ secret) | hash('sha256')``.
    """
    return hashlib.sha256((DIGEST_KEY_LABEL + vault_secret).encode("utf-8")).hexdigest()


def canonical_bytes(value: Any) -> bytes:
    """One byte string per value: sorted keys, no whitespace, ASCII escapes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def credential_digest(key: str, record: Mapping[str, Any]) -> str:
    """``hmac-sha256:<hex>`` of the credential's secret part (id, type, data)."""
    if not key:
        raise CredentialsError("Cannot digest credentials without a digest key: give digest_key (derived from the vault secret)")
    payload = canonical_bytes({"id": record["id"], "type": record["type"], "data": record["data"]})
    return "%s:%s" % (DIGEST_SCHEME, hmac.new(key.encode("utf-8"), payload, hashlib.sha256).hexdigest())


def vault_filename(credential_id: str) -> str:
    """``<id>.vault``; characters unsafe in a file name percent-encoded (as workflow files are)."""
    return "%s.vault" % quote(credential_id, safe="")


def vault_payload(record: Mapping[str, Any]) -> Dict[str, Any]:
    """What a credential's vault file holds (before encryption)."""
    return {VAULT_ROOT_KEY: {"id": record["id"], "type": record["type"], "data": record["data"]}}


def index_entry(record: Mapping[str, Any], digest: str) -> Dict[str, Any]:
    entry: Dict[str, Any] = {
        "id": record["id"],
        "name": record["name"],
        "type": record["type"],
        "file": vault_filename(record["id"]),
        "digest": digest,
    }
    if "project" in record:
        entry["project"] = record["project"]
    return entry


def index_document(entries: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    ordered = sorted(entries, key=lambda e: str(e["id"]))
    return {"format": INDEX_FORMAT, "formatVersion": FORMAT_VERSION, "count": len(ordered), "credentials": list(ordered)}


def export_credentials(db: N8nDatabase, key: str, digest_secret: str, include_managed: bool = False) -> Dict[str, Any]:
    """Everything the export role needs, plaintext included (the caller is a no_log task).

    ``{credentials: [{id, name, type, project?, file, digest, data}], index, count, managed_skipped,
    key_fingerprint}``; ``index`` is the non-secret ``credentials/index.json`` document.
    """
    keyring = load_keyring(db, key)
    records, skipped = read_credentials(db, keyring, include_managed)
    credentials: List[Dict[str, Any]] = []
    entries: List[Dict[str, Any]] = []
    for record in records:
        entry = index_entry(record, credential_digest(digest_secret, record))
        entries.append(entry)
        credentials.append(dict(entry, data=record["data"]))
    return {
        "credentials": credentials,
        "index": index_document(entries),
        "count": len(credentials),
        "managed_skipped": skipped,
        "key_fingerprint": key_fingerprint(key),
    }
