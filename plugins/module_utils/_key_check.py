# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Does this encryption key decrypt this n8n data? (private module_utils)

:func:`check_key` walks every location of ``_encrypted_data.LOCATIONS`` that exists in
a database (found by table and column, not by version), decrypts each value the way
n8n would and counts ok / failed / skipped per category. :func:`check_artifact` does the
same on a backup artifact: a SQLite file or a PostgreSQL dump (``_dump_reader``).

Rules, so a restore can trust the answer:

* Values are decrypted exactly as n8n does (``_cipher``): legacy CBC under the instance
  key, or ``<keyId>:<ciphertext>`` under a data-encryption key that ``deployment_key``
  wraps with sha256(key). A value counts as ok only when its plaintext also has the
  expected shape (JSON for credentials): a wrong key passes the CBC padding check about
  once in 256 values.
* Nothing secret leaves: reports carry counts, row ids, safe labels (credential names,
  deployment-key types) and fixed reason strings; never a value or a plaintext fragment.
* Rows are streamed (keyset pages on a live database, one row at a time from a dump).
  Large tables are verified by two worker processes when the host has the cores.
"""

from __future__ import absolute_import, annotations, division, print_function

import base64
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

from ansible_collections.lifeboat.n8n.plugins.module_utils import _encrypted_data as registry
from ansible_collections.lifeboat.n8n.plugins.module_utils._cipher import (
    RAW_DEK_PATTERN,
    CipherError,
    cbc_decrypt_raw,
    dek_wrapping_key,
    gcm_decrypt_raw,
    key_bytes,
    require_cryptography,
    split_key_id,
)
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, DatabaseError, N8nDatabase
from ansible_collections.lifeboat.n8n.plugins.module_utils._dump_reader import DumpError, PgDump, TableBlock, detect_format
from ansible_collections.lifeboat.n8n.plugins.module_utils._encrypted_data import EncryptedLocation
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import key_fingerprint

__metaclass__ = type

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"

# Fixed reason strings: the only text a failure carries.
R_WRONG_KEY = "does not decrypt with this key"
R_NOT_JSON = "decrypts to something that is not JSON (wrong key)"
R_NOT_TEXT = "decrypts to something that is not text (wrong key)"
R_NOT_CIPHERTEXT = "not n8n ciphertext (corrupted or written by something else)"
R_UNKNOWN_DEK = "its data-encryption key is not in deployment_key"
R_DEK_LOCKED = "its data-encryption key does not unwrap with this key"
R_LEGACY_DEK_LOCKED = "the legacy data-encryption key (deployment_key, aes-256-cbc) does not unwrap with this key"
R_BAD_DEK = "unwraps, but not to a 64-hex data-encryption key"
R_BAD_SIGNATURE = "signature does not verify with the secret derived from this key"
R_JWT_SECRET_LOCKED = "the JWT signing secret (deployment_key signing.jwt) does not unwrap with this key"  # noqa: S105
S_EMPTY = "empty"
S_PLAINTEXT = "plaintext"
S_NOT_JSON_ROW = "row is not JSON"
S_NOT_JWT = "not a JWT"

PAGE_ROWS = 5000
PARALLEL_MIN_ROWS = 4000  # below this a worker pool costs more than it saves
BATCH_ROWS = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class KeyCheckError(Exception):
    """The check could not run (no n8n tables, unreadable artifact, ...); the message says what to do."""


# ======================================================================== report
@dataclass
class Failure:
    location: str
    id: str
    reason: str
    label: Optional[str] = None  # credential name, deployment-key type, ...

    def as_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"location": self.location, "id": self.id, "reason": self.reason}
        if self.label is not None:
            data["name"] = self.label
        return data


@dataclass
class CategoryReport:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_reasons: Dict[str, int] = field(default_factory=dict)
    failures: List[Failure] = field(default_factory=list)
    locations: Dict[str, Dict[str, int]] = field(default_factory=dict)
    failures_truncated: bool = False

    @property
    def total(self) -> int:
        return self.ok + self.failed

    def add(self, location: str, status: str, count: int = 1) -> None:
        counts = self.locations.setdefault(location, {OK: 0, FAILED: 0, SKIPPED: 0})
        counts[status] += count
        if status == OK:
            self.ok += count
        elif status == FAILED:
            self.failed += count
        else:
            self.skipped += count

    def as_dict(self) -> Dict[str, Any]:
        return {
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "total": self.total,
            "skipped_reasons": dict(sorted(self.skipped_reasons.items())),
            "failed_ids": [f.id for f in self.failures],
            "failures": [f.as_dict() for f in self.failures],
            "failures_truncated": self.failures_truncated,
            "locations": {k: dict(v) for k, v in sorted(self.locations.items())},
        }


@dataclass
class KeyCheckReport:
    source: str
    key_fingerprint: str
    categories: Dict[str, CategoryReport]
    tables_found: List[str]
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> int:
        return sum(c.ok for c in self.categories.values())

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.categories.values())

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.categories.values())

    @property
    def total(self) -> int:
        return self.ok + self.failed

    @property
    def passed(self) -> bool:
        return self.failed == 0

    @property
    def failed_ids(self) -> List[str]:
        """``<category>:<id>`` of every reported failure (each category's list is capped)."""
        return ["%s:%s" % (name, f.id) for name, cat in self.categories.items() for f in cat.failures]

    def rate(self, category: str = "credentials") -> float:
        """Values of a category verified per second (ok + failed)."""
        cat = self.categories.get(category)
        if not cat or self.elapsed_seconds <= 0:
            return 0.0
        return cat.total / self.elapsed_seconds

    def summary(self) -> str:
        """One line, safe for messages: counts per category with failures."""
        parts = ["%s %d/%d failed" % (n, c.failed, c.total) for n, c in self.categories.items() if c.failed]
        return ", ".join(parts) or "no failures"

    def as_dict(self) -> Dict[str, Any]:
        """The module's result. ``failed`` and ``skipped`` are Ansible's own task flags (a non-zero
        count there would mark the task failed or skipped), so the totals are ``*_count``."""
        return {
            "passed": self.passed,
            "ok": self.ok,
            "failed_count": self.failed,
            "skipped_count": self.skipped,
            "total": self.total,
            "categories": {n: c.as_dict() for n, c in self.categories.items()},
            "failed_ids": self.failed_ids,
            "key_fingerprint": self.key_fingerprint,
            "n8n_tables_found": list(self.tables_found),
            "source": self.source,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


# ======================================================================== keys
class Keyring:
    """What one instance key opens: the key itself, and the 2.x deployment keys it unwraps.

    Built per check and dropped with it; nothing is cached across calls.
    """

    def __init__(self, key: str) -> None:
        if not isinstance(key, str) or not key:
            raise KeyCheckError("Cannot check an empty encryption key: give the instance's N8N_ENCRYPTION_KEY")
        self._key = key
        self.password = key_bytes(key)  # CBC: Node's Buffer.from(key, 'binary')
        self.wrapping = dek_wrapping_key(key)  # GCM: sha256(key)
        # Unprefixed 2.x values decrypt with the stored aes-256-cbc data_encryption DEK when
        # there is one (n8n seeds it with the instance key), else with the instance key.
        self.legacy_password: Optional[bytes] = self.password
        self.legacy_from_row = False
        self.deks: Dict[str, Tuple[str, bytes]] = {}  # keyId -> (algorithm, key material)
        self.locked_deks: Set[str] = set()  # ids present but not unwrappable with this key
        self.jwt_secret: Optional[bytes] = None  # from deployment_key signing.jwt (2.x)
        self.jwt_locked = False

    @property
    def key(self) -> str:
        return self._key

    # ---------------------------------------------------------- primitives
    def unwrap(self, value: str) -> bytes:
        plain: bytes = gcm_decrypt_raw(value, self.wrapping)
        return plain

    def decrypt_cbc(self, value: str) -> bytes:
        plain: bytes = cbc_decrypt_raw(value, self.password)
        return plain

    def decrypt_v2(self, value: str) -> Tuple[Optional[bytes], str]:  # noqa: PLR0911 - one return per n8n outcome
        """(plaintext, "") or (None, reason): ``Cipher.decryptV2`` without the exceptions."""
        try:
            key_id, body = split_key_id(value)
        except CipherError:
            return None, R_NOT_CIPHERTEXT
        if key_id is None:
            if not body.startswith(registry.LEGACY_CBC_PREFIX):
                return None, R_NOT_CIPHERTEXT
            if self.legacy_password is None:
                return None, R_LEGACY_DEK_LOCKED
            try:
                return cbc_decrypt_raw(body, self.legacy_password), ""
            except CipherError:
                return None, R_WRONG_KEY
        dek = self.deks.get(key_id)
        if dek is None:
            return None, (R_DEK_LOCKED if key_id in self.locked_deks else R_UNKNOWN_DEK)
        algorithm, material = dek
        try:
            if algorithm == registry.GCM_ALGORITHM:
                return gcm_decrypt_raw(body, material), ""
            return cbc_decrypt_raw(body, material), ""
        except CipherError:
            return None, R_WRONG_KEY

    # ---------------------------------------------------------- deployment keys
    def add_deployment_key(  # noqa: PLR0911 - one return per row kind
        self, row_id: str, row_type: str, algorithm: Optional[str], value: Optional[str]
    ) -> Tuple[str, str]:
        """Check one deployment_key row and remember what it unlocks; (status, reason)."""
        if value is None or value == "":
            return SKIPPED, S_EMPTY
        kind = registry.deployment_key_kind(row_type, algorithm)
        if kind == registry.DK_PLAINTEXT:
            if row_type == "signing.jwt":
                self.jwt_secret = value.encode("utf-8")
            return SKIPPED, S_PLAINTEXT
        if kind == registry.DK_CBC_JSON:
            try:
                return _expect(self.decrypt_cbc(value), registry.PAYLOAD_JSON)
            except CipherError:
                return FAILED, (R_NOT_CIPHERTEXT if not value.startswith(registry.LEGACY_CBC_PREFIX) else R_WRONG_KEY)
        if kind == registry.DK_WRAPPED_SECRET:
            try:
                plain = self.unwrap(value)
            except CipherError:
                if row_type == "signing.jwt":
                    self.jwt_locked = True
                return FAILED, R_WRONG_KEY
            status, reason = _expect(plain, registry.PAYLOAD_TEXT)
            if status == OK and row_type == "signing.jwt":
                self.jwt_secret = plain
            return status, reason
        return self._add_data_encryption_key(row_id, algorithm, value)

    def _add_data_encryption_key(self, row_id: str, algorithm: Optional[str], value: str) -> Tuple[str, str]:
        # n8n 2.40 key-manager.service.js recoverLegacyDek(): besides the GCM-wrapped form,
        # older 2.x stored the DEK raw (64 hex or the instance key itself) or CBC-wrapped.
        status, reason = OK, ""
        dek: Optional[str] = None
        if value.startswith(registry.LEGACY_CBC_PREFIX):
            try:
                dek = self.decrypt_cbc(value).decode("utf-8")
            except (CipherError, UnicodeDecodeError):
                status, reason = FAILED, R_WRONG_KEY
            if dek is not None and not RAW_DEK_PATTERN.match(dek):
                dek, status, reason = None, FAILED, R_BAD_DEK
        elif RAW_DEK_PATTERN.match(value) or value == self._key:
            dek, status, reason = value, SKIPPED, S_PLAINTEXT
        else:
            try:
                plain = self.unwrap(value)
                dek = plain.decode("utf-8")
            except (CipherError, UnicodeDecodeError):
                status, reason = FAILED, (R_WRONG_KEY if _looks_gcm(value) else R_NOT_CIPHERTEXT)
            if dek is not None and algorithm == registry.GCM_ALGORITHM and not RAW_DEK_PATTERN.match(dek):
                dek, status, reason = None, FAILED, R_BAD_DEK
        if algorithm == registry.CBC_ALGORITHM:
            if not self.legacy_from_row or self.legacy_password is None:
                # n8n's getLegacyKey(): the (first) aes-256-cbc data_encryption row.
                self.legacy_password = key_bytes(dek) if dek is not None else None
                self.legacy_from_row = True
        if dek is None:
            self.locked_deks.add(row_id)
        elif algorithm == registry.GCM_ALGORITHM:
            self.deks[row_id] = (registry.GCM_ALGORITHM, bytes.fromhex(dek))
        else:
            self.deks[row_id] = (registry.CBC_ALGORITHM, key_bytes(dek))
        return status, reason

    def api_key_secret(self) -> Optional[bytes]:
        """HS256 secret of API keys: deployment_key signing.jwt (2.x), else derived as 1.x does."""
        if self.jwt_secret is not None:
            return self.jwt_secret
        if self.jwt_locked:
            return None
        return hashlib.sha256(self._key[0::2].encode("utf-8")).hexdigest().encode("ascii")


def _looks_gcm(value: str) -> bool:
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return False
    return len(raw) >= 49 and raw[0] == 1


def _expect(plain: bytes, payload: str) -> Tuple[str, str]:
    """Does a decrypted value have the shape n8n stored? (status, reason)."""
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        return FAILED, (R_NOT_JSON if payload == registry.PAYLOAD_JSON else R_NOT_TEXT)
    if payload == registry.PAYLOAD_JSON:
        try:
            json.loads(text)
        except ValueError:
            return FAILED, R_NOT_JSON
        return OK, ""
    if _CONTROL.search(text):
        return FAILED, R_NOT_TEXT
    return OK, ""


# ======================================================================== values
def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class _Verifier:
    """Checks the values of one location; a plain object so worker processes can use it."""

    def __init__(self, keyring: Keyring, location: EncryptedLocation) -> None:
        self.keyring = keyring
        self.location = location
        self.fmt = location.format
        self.payload = location.payload
        self.may_be_plaintext = location.name.endswith("signingPrivateKey")  # saml.service.ee.js stores bad PEM as given

    def one(self, value: str) -> Tuple[str, str]:
        """Status of one ciphertext string (not empty)."""
        if self.fmt == registry.FORMAT_V2:
            plain, reason = self.keyring.decrypt_v2(value)
            if plain is None:
                if reason == R_NOT_CIPHERTEXT and self.may_be_plaintext:
                    return SKIPPED, S_PLAINTEXT
                return FAILED, reason
            return _expect(plain, self.payload)
        if self.fmt == registry.FORMAT_CBC:
            try:
                return _expect(self.keyring.decrypt_cbc(value), self.payload)
            except CipherError:
                return FAILED, R_WRONG_KEY if value.startswith(registry.LEGACY_CBC_PREFIX) else R_NOT_CIPHERTEXT
        if self.fmt == registry.FORMAT_JWT:
            return self._jwt(value)
        raise KeyCheckError("Internal error: format %s is checked elsewhere" % self.fmt)

    def _jwt(self, token: str) -> Tuple[str, str]:
        parts = token.split(".")
        if len(parts) != 3:
            return SKIPPED, S_NOT_JWT
        secret = self.keyring.api_key_secret()
        if secret is None:
            return FAILED, R_JWT_SECRET_LOCKED
        try:
            header = json.loads(_b64url(parts[0]))
            signature = _b64url(parts[2])
        except (ValueError, TypeError):
            return SKIPPED, S_NOT_JWT
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return SKIPPED, S_NOT_JWT
        expected = hmac.new(secret, ("%s.%s" % (parts[0], parts[1])).encode("ascii"), hashlib.sha256).digest()
        return (OK, "") if hmac.compare_digest(expected, signature) else (FAILED, R_BAD_SIGNATURE)

    def cell(self, raw: Optional[str]) -> Tuple[str, str]:  # noqa: PLR0911 - one return per container outcome
        """Status of one row's column, whatever its container."""
        loc = self.location
        if raw is None or raw == "":
            return SKIPPED, S_EMPTY
        if loc.container == registry.CONTAINER_COLUMN:
            return self.one(raw)
        if loc.container == registry.CONTAINER_SIMPLE_ARRAY:
            for item in raw.split(","):
                if item:
                    status, reason = self.one(item)
                    if status != OK:
                        return status, reason
            return OK, ""
        try:
            value: Any = json.loads(raw)
        except ValueError:
            return SKIPPED, S_NOT_JSON_ROW
        for step in loc.json_path:
            value = value.get(step) if isinstance(value, dict) else None
        if value is None or value == "":
            return SKIPPED, S_EMPTY
        if not isinstance(value, str):
            return SKIPPED, S_PLAINTEXT
        return self.one(value)


# ======================================================================== plans and sources
@dataclass
class _TablePlan:
    table: str
    locations: List[EncryptedLocation]
    columns: List[str]  # requested: id columns first
    id_columns: Tuple[str, ...]
    settings_keys: Optional[Set[str]] = None


def _plans(locations: Sequence[EncryptedLocation]) -> Dict[str, _TablePlan]:
    plans: Dict[str, _TablePlan] = {}
    for loc in locations:
        plan = plans.get(loc.table)
        if plan is None:
            plan = plans[loc.table] = _TablePlan(loc.table, [], [], loc.id_columns)
        plan.locations.append(loc)
        for column in loc.columns:
            if column not in plan.columns:
                plan.columns.append(column)
        if loc.settings_key:
            plan.settings_keys = (plan.settings_keys or set()) | {loc.settings_key}
    if "deployment_key" in plans:
        plan = plans["deployment_key"]
        for column in ("algorithm",):
            if column not in plan.columns:
                plan.columns.append(column)
    return plans


class _DatabaseSource:
    """A live (or restored, or artifact SQLite) database, read in keyset pages."""

    def __init__(self, db: N8nDatabase) -> None:
        self.db = db

    def describe(self) -> str:
        text: str = self.db.config.describe()
        return text

    def tables(self) -> Dict[str, List[str]]:
        return {t: [] for t in self.db.tables()}

    def read(self, plans: Sequence[_TablePlan]) -> Iterator[TableBlock]:
        for plan in plans:
            have = self.db.columns(plan.table)
            present = [c for c in plan.columns if c in have]
            yield TableBlock(plan.table, present, self._rows(plan, present))

    def _rows(self, plan: _TablePlan, present: List[str]) -> Iterator[Tuple[Optional[str], ...]]:
        ids = [c for c in plan.id_columns if c in present]
        select = ", ".join('"%s"' % c for c in present)
        table = self.db.table(plan.table)
        where = ""
        params: List[Any] = []
        if plan.settings_keys:
            keys = sorted(plan.settings_keys)
            where, params = '"key" IN (%s)' % ", ".join("?" * len(keys)), list(keys)
        if not ids:  # no primary key to page on: one streamed query
            # Identifiers come from the registry and db.table(); values are bound parameters.
            query = "SELECT %s FROM %s%s" % (select, table, " WHERE " + where if where else "")  # noqa: S608
            yield from self.db.iterate(query, params)
            return
        order = ", ".join('"%s"' % c for c in ids)
        after = ('"%s" > ?' % ids[0]) if len(ids) == 1 else "(%s) > (%s)" % (order, ", ".join("?" * len(ids)))
        positions = [present.index(c) for c in ids]
        last: Optional[List[Any]] = None
        while True:
            conditions = [c for c in (where, after if last is not None else "") if c]
            query = "SELECT %s FROM %s%s ORDER BY %s LIMIT %d" % (  # noqa: S608 - see above
                select,
                table,
                " WHERE " + " AND ".join(conditions) if conditions else "",
                order,
                PAGE_ROWS,
            )
            page = self.db.fetchall(query, params + (last or []))
            yield from page
            if len(page) < PAGE_ROWS:
                return
            last = [page[-1][i] for i in positions]


class _DumpSource:
    def __init__(self, dump: PgDump) -> None:
        self.dump = dump

    def describe(self) -> str:
        text: str = self.dump.describe()
        return text

    def tables(self) -> Dict[str, List[str]]:
        found: Dict[str, List[str]] = self.dump.tables()
        return found

    def read(self, plans: Sequence[_TablePlan]) -> Iterator[TableBlock]:
        yield from self.dump.read({p.table: p.columns for p in plans})


Source = Union[_DatabaseSource, _DumpSource]


# ======================================================================== the check
_Item = Tuple[str, Optional[str], Optional[str]]  # (row id, label, raw column value)
_Batch = Tuple[int, List[_Item]]
_BatchResult = Tuple[int, int, Dict[str, int], List[Tuple[str, Optional[str], str]]]
_Job = Tuple[EncryptedLocation, "_Verifier", int, Optional[int]]
_WORKER: Dict[str, Any] = {}
_DK = registry.location("deployment_key.value")


def _worker_batch(batch: _Batch) -> _BatchResult:
    """Verify one batch in a worker process (state inherited from the parent by fork)."""
    index, rows = batch
    verifier: _Verifier = _WORKER["verifiers"][index]
    ok = failed = 0
    skipped: Dict[str, int] = {}
    failures: List[Tuple[str, Optional[str], str]] = []
    for row_id, label, raw in rows:
        status, reason = verifier.cell(raw)
        if status == OK:
            ok += 1
        elif status == FAILED:
            failed += 1
            failures.append((row_id, label, reason))
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
    return ok, failed, skipped, failures


class _Checker:
    def __init__(self, source: Source, key: str, categories: Optional[Sequence[str]], max_failed_ids: int, workers: Optional[int]) -> None:
        require_cryptography()
        try:
            self.locations = registry.select(tuple(categories) if categories else None)
        except ValueError as exc:
            raise KeyCheckError(str(exc)) from exc
        self.source = source
        self.keyring = Keyring(key)
        self.max_failed_ids = max_failed_ids
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        names = [c for c in registry.CATEGORIES if any(loc.category == c for loc in self.locations)]
        self.report = KeyCheckReport(source.describe(), key_fingerprint(key), {n: CategoryReport() for n in names}, [])
        self._pool: Any = None
        self._inflight: List[Any] = []

    def run(self) -> KeyCheckReport:
        started = time.monotonic()
        try:
            found = self.source.tables()
        except (DatabaseError, DumpError) as exc:
            raise KeyCheckError(str(exc)) from exc
        known = set(registry.tables()) | {"migrations"}
        self.report.tables_found = sorted(t for t in found if t in known)
        if "credentials_entity" not in found:
            raise KeyCheckError(
                "Cannot check the key on %s: no n8n tables there (no credentials_entity). Check the database, "
                "DB_TABLE_PREFIX (table_prefix) and DB_POSTGRESDB_SCHEMA (schema)" % self.source.describe()
            )
        plans = _plans(self.locations)
        needs_deks = any(loc.format in (registry.FORMAT_V2, registry.FORMAT_JWT) for loc in self.locations)
        try:
            # deployment_key first: it holds the data-encryption keys the other tables need.
            if "deployment_key" in found and ("deployment_key" in plans or needs_deks):
                dk_plan = plans.pop("deployment_key", None) or _plans([_DK])["deployment_key"]
                for block in self.source.read([dk_plan]):
                    self._deployment_keys(block, record="deployment_keys" in self.report.categories)
            plans.pop("deployment_key", None)
            rest = [p for t, p in plans.items() if t in found]
            for block in self.source.read(rest):
                self._table(block, plans[block.table])
        except (DatabaseError, DumpError) as exc:  # their messages name the source and what to do
            raise KeyCheckError(str(exc)) from exc
        finally:
            self._close_pool()
        self.report.elapsed_seconds = time.monotonic() - started
        return self.report

    # ---------------------------------------------------------- recording
    def _record(self, loc: EncryptedLocation, status: str, reason: str, row_id: str, label: Optional[str]) -> None:
        cat = self.report.categories[loc.category]
        cat.add(loc.name, status)
        if status == SKIPPED:
            cat.skipped_reasons[reason] = cat.skipped_reasons.get(reason, 0) + 1
        elif status == FAILED:
            self._failure(cat, Failure(loc.name, row_id, reason, label))

    def _failure(self, cat: CategoryReport, failure: Failure) -> None:
        if len(cat.failures) < self.max_failed_ids:
            cat.failures.append(failure)
        else:
            cat.failures_truncated = True

    # ---------------------------------------------------------- tables
    def _deployment_keys(self, block: TableBlock, record: bool) -> None:
        cols = block.columns
        if "value" not in cols or "type" not in cols:
            return
        i_id, i_type, i_value = cols.index("id"), cols.index("type"), cols.index("value")
        i_alg = cols.index("algorithm") if "algorithm" in cols else None
        loc = _DK
        # CBC data_encryption rows decide the legacy DEK: let n8n's "first one" be stable.
        rows = sorted(block.rows, key=lambda r: (r[i_type] != "data_encryption", str(r[i_id])))
        for row in rows:
            row_id, row_type = str(row[i_id]), str(row[i_type])
            status, reason = self.keyring.add_deployment_key(row_id, row_type, row[i_alg] if i_alg is not None else None, row[i_value])
            if record:
                self._record(loc, status, reason, row_id, row_type)

    def _table(self, block: TableBlock, plan: _TablePlan) -> None:
        cols = block.columns
        usable = [loc for loc in plan.locations if loc.column in cols and all(c in cols for c in loc.id_columns)]
        if not usable:
            return
        id_idx = [cols.index(c) for c in plan.id_columns]
        key_idx = cols.index("key") if plan.settings_keys and "key" in cols else None
        jobs = []
        for loc in usable:
            label_idx = cols.index(loc.label_column) if loc.label_column and loc.label_column in cols else None
            jobs.append((loc, _Verifier(self.keyring, loc), cols.index(loc.column), label_idx))

        def row_id(row: Tuple[Any, ...]) -> str:
            return "/".join(str(row[i]) for i in id_idx)

        if len(jobs) == 1 and key_idx is None:
            self._table_batched(block.rows, jobs[0], row_id)
            return
        for row in block.rows:
            row_key = row[key_idx] if key_idx is not None else None
            if plan.settings_keys and row_key not in plan.settings_keys:
                continue
            for loc, verifier, value_idx, label_idx in jobs:
                if loc.settings_key and row_key != loc.settings_key:
                    continue
                status, reason = verifier.cell(row[value_idx])
                label = None if label_idx is None or row[label_idx] is None else str(row[label_idx])
                ident = row_id(row) + ("#" + "/".join(loc.json_path) if loc.json_path else "")
                self._record(loc, status, reason, ident, label)

    def _table_batched(self, rows: Iterator[Tuple[Any, ...]], job: _Job, row_id: Callable[[Tuple[Any, ...]], str]) -> None:
        """Verify a one-location table in batches: inline, and in worker processes once it is big enough."""
        loc, verifier, value_idx, label_idx = job
        pending: List[_Batch] = []
        batch: List[_Item] = []
        seen = 0
        for row in rows:
            label = None if label_idx is None or row[label_idx] is None else str(row[label_idx])
            batch.append((row_id(row), label, row[value_idx]))
            seen += 1
            if len(batch) >= BATCH_ROWS:
                pending.append((0, batch))
                batch = []
                if seen >= PARALLEL_MIN_ROWS or self.workers < 2:
                    self._drain(loc, verifier, pending, parallel=self.workers > 1)
                    pending = []
        if batch:
            pending.append((0, batch))
        self._drain(loc, verifier, pending, parallel=self._pool is not None)
        self._collect(loc)

    def _drain(self, loc: EncryptedLocation, verifier: _Verifier, batches: List[_Batch], parallel: bool) -> None:
        if not batches:
            return
        if parallel and self._ensure_pool(verifier):
            self._inflight.extend(self._pool.apply_async(_worker_batch, (b,)) for b in batches)
            # Bound memory: keep at most a few batches per worker in flight.
            while len(self._inflight) > 4 * self.workers:
                self._merge(loc, self._inflight.pop(0).get())
            return
        _WORKER["verifiers"] = [verifier]
        try:
            for b in batches:
                self._merge(loc, _worker_batch(b))
        finally:
            _WORKER.clear()

    def _collect(self, loc: EncryptedLocation) -> None:
        while self._inflight:
            self._merge(loc, self._inflight.pop(0).get())
        self._close_pool()

    def _merge(self, loc: EncryptedLocation, result: _BatchResult) -> None:
        ok, failed, skipped, failures = result
        cat = self.report.categories[loc.category]
        cat.add(loc.name, OK, ok)
        cat.add(loc.name, FAILED, failed)
        for reason, count in skipped.items():
            cat.add(loc.name, SKIPPED, count)
            cat.skipped_reasons[reason] = cat.skipped_reasons.get(reason, 0) + count
        for row_id, label, reason in failures:
            self._failure(cat, Failure(loc.name, row_id, reason, label))

    def _ensure_pool(self, verifier: _Verifier) -> bool:
        if self._pool is not None:
            return True
        if self.workers < 2:
            return False
        try:
            import multiprocessing

            context = multiprocessing.get_context("fork")
        except (ImportError, ValueError):  # pragma: no cover - no fork on this platform
            return False
        # Workers inherit the verifier (and so the keyring) by fork: nothing is pickled or written.
        _WORKER["verifiers"] = [verifier]
        try:
            self._pool = context.Pool(self.workers)
        except OSError:  # pragma: no cover - e.g. no /dev/shm
            _WORKER.clear()
            return False
        self._inflight = []
        return True

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _WORKER.clear()
        self._inflight = []


def check_key(
    db: Union[N8nDatabase, PgDump],
    key: str,
    categories: Optional[Sequence[str]] = None,
    *,
    max_failed_ids: int = 100,
    workers: Optional[int] = None,
) -> KeyCheckReport:
    """Decrypt every key-bound value of n8n's database (or a dump) with ``key``; see the module doc.

    ``categories``: ``None`` or ``["all"]`` for the default set (``_encrypted_data.select``).
    ``workers``: processes for large tables (default: up to 2, the cores there are).
    """
    source: Source = _DumpSource(db) if isinstance(db, PgDump) else _DatabaseSource(db)
    return _Checker(source, key, categories, max_failed_ids, workers).run()


def check_artifact(
    path: str,
    key: str,
    *,
    artifact_format: str = "auto",
    table_prefix: str = "",
    schema: str = "public",
    categories: Optional[Sequence[str]] = None,
    max_failed_ids: int = 100,
    workers: Optional[int] = None,
) -> KeyCheckReport:
    """:func:`check_key` on a backup artifact: a SQLite file or a pg_dump custom/directory/tar/plain dump."""
    try:
        fmt = artifact_format
        if fmt == "auto":
            fmt = detect_format(path)[0]
        if fmt == "sqlite":
            if detect_format(path)[1]:
                raise KeyCheckError("Cannot open %s: a compressed SQLite file; decompress it first" % path)
            config = DatabaseConfig(type="sqlite", path=path, table_prefix=table_prefix)
            with N8nDatabase(config, readonly=True) as db:
                return check_key(db, key, categories=categories, max_failed_ids=max_failed_ids, workers=workers)
        dump = PgDump(path, fmt, schema=schema, table_prefix=table_prefix)
    except (DumpError, DatabaseError) as exc:
        raise KeyCheckError(str(exc)) from exc
    return check_key(dump, key, categories=categories, max_failed_ids=max_failed_ids, workers=workers)
