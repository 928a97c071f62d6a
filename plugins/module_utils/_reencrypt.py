# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Re-encrypt everything n8n binds to its instance key, from an old key to a new one (private module_utils).

n8n has no command to change its encryption key: a new ``N8N_ENCRYPTION_KEY`` leaves every
credential unreadable. :func:`reencrypt` does what a rotation needs, following
``docs/encrypted-data.md`` ("What a key rotation must do") and the registry in
``_encrypted_data``, in **one transaction** with n8n stopped:

1. ``deployment_key`` (n8n 2.x): GCM-wrapped rows (``signing.*``, ``aes-256-gcm``
   data-encryption keys, active or not) are unwrapped with sha256(old key) and wrapped
   with sha256(new key), keeping their plaintext. The ``aes-256-cbc`` ``data_encryption``
   rows hold the key unprefixed values are encrypted with (n8n seeds them with the
   instance key): they end up wrapping the **new key itself**. ``jwe.private-key`` rows
   (CBC under the instance key) are re-encrypted. Plaintext rows (``instance.id``, 2.38
   ``signing.*``) and raw 64-hex DEKs are left alone (n8n 2.40 wraps them on its next start).
2. Every unprefixed (legacy CBC) value of every location is decrypted with the old legacy
   key, checked for the shape n8n stores (JSON, text), encrypted with the new key and
   decrypted again with the new key before it is written. JSON paths inside ``settings``
   rows and the comma-joined MFA recovery codes keep their layout.
3. ``<keyId>:`` values are under a data-encryption key whose row was only re-wrapped: they
   are decrypted (proof that the old key opens them) and left as they are. Values under a
   ``aes-256-cbc`` row whose content changes are re-encrypted under the new key with
   their prefix kept.
4. Before committing, the whole database is read back by the key check (``_key_check``)
   with the new key; any mismatch rolls everything back.

A value that does not decrypt with the old key aborts the whole transaction: nothing is
written, and the report names the failing rows (ids and safe labels, never values).
The transaction takes write locks first (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``LOCK
TABLE ... IN EXCLUSIVE MODE``), so nothing else writes while it runs. It cannot tell
whether n8n is stopped: a process still running with the old key would keep writing
values under it after the commit. Stopping every n8n process is the caller's job (the
``lifeboat.n8n.rotate_key`` role does it).

Rows are walked in keyset pages (``_key_check``'s reader), so large tables never sit in
memory; each page is read completely before its rows are updated.
"""

from __future__ import absolute_import, annotations, division, print_function

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from ansible_collections.lifeboat.n8n.plugins.module_utils import _encrypted_data as registry
from ansible_collections.lifeboat.n8n.plugins.module_utils._cipher import (
    RAW_DEK_PATTERN,
    CipherError,
    cbc_decrypt_raw,
    dek_wrapping_key,
    encrypt,
    gcm_decrypt_raw,
    gcm_encrypt,
    key_bytes,
    require_cryptography,
    split_key_id,
)
from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseError, N8nDatabase
from ansible_collections.lifeboat.n8n.plugins.module_utils._encrypted_data import EncryptedLocation
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import key_fingerprint
from ansible_collections.lifeboat.n8n.plugins.module_utils._key_check import (
    R_BAD_DEK,
    R_DEK_LOCKED,
    R_NOT_CIPHERTEXT,
    R_UNKNOWN_DEK,
    R_WRONG_KEY,
    S_EMPTY,
    S_NOT_JSON_ROW,
    S_PLAINTEXT,
    Failure,
    KeyCheckError,
    _DatabaseSource,
    _expect,
    _plans,
    check_key,
)

__metaclass__ = type

REENCRYPTED = "reencrypted"  # decrypted with the old key, written encrypted with the new one
REWRAPPED = "rewrapped"  # a deployment_key row: same secret, wrapped with sha256(new key)
UNCHANGED = "unchanged"  # a <keyId>: value under a data-encryption key that stays: verified, not written
SKIPPED = "skipped"  # empty, or plaintext n8n keeps as such
FAILED = "failed"
STATUSES = (REENCRYPTED, REWRAPPED, UNCHANGED, SKIPPED, FAILED)

R_VERIFY = "re-encrypted value does not decrypt with the new key (internal error)"
R_NOT_UPDATED = "the row changed or vanished while it was re-encrypted"
R_AMBIGUOUS_LEGACY = "several aes-256-cbc data-encryption keys with different contents"

LOCK_TIMEOUT_S = 30
BATCH_ROWS = 500  # PostgreSQL rows per batched UPDATE
_DK = registry.location("deployment_key.value")
# Categories a rotation never writes: API keys are signatures, not ciphertext (see docs/key-rotation.md).
NOT_ROTATED = ("api_keys",)


class ReencryptError(Exception):
    """The re-encryption could not run (same keys, no n8n tables, locked database, ...); nothing was written."""


# ======================================================================== report
@dataclass
class CategoryCounts:
    counts: Dict[str, int] = field(default_factory=lambda: {s: 0 for s in STATUSES})
    skipped_reasons: Dict[str, int] = field(default_factory=dict)
    failures: List[Failure] = field(default_factory=list)
    failures_truncated: bool = False
    locations: Dict[str, Dict[str, int]] = field(default_factory=dict)

    def add(self, location: str, status: str, reason: str = "") -> None:
        self.counts[status] += 1
        per = self.locations.setdefault(location, {s: 0 for s in STATUSES})
        per[status] += 1
        if status == SKIPPED:
            self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1

    @property
    def opened(self) -> int:
        """Values the old key opened (written or verified)."""
        return self.counts[REENCRYPTED] + self.counts[REWRAPPED] + self.counts[UNCHANGED]

    def as_dict(self) -> Dict[str, Any]:
        return {
            REENCRYPTED: self.counts[REENCRYPTED],
            REWRAPPED: self.counts[REWRAPPED],
            UNCHANGED: self.counts[UNCHANGED],
            SKIPPED: self.counts[SKIPPED],
            FAILED: self.counts[FAILED],
            "total": self.opened + self.counts[FAILED],
            "skipped_reasons": dict(sorted(self.skipped_reasons.items())),
            "failed_ids": [f.id for f in self.failures],
            "failures": [f.as_dict() for f in self.failures],
            "failures_truncated": self.failures_truncated,
            "locations": {k: dict(v) for k, v in sorted(self.locations.items())},
        }


@dataclass
class ReencryptReport:
    source: str
    old_key_fingerprint: str
    new_key_fingerprint: str
    check_mode: bool
    categories: Dict[str, CategoryCounts]
    tables_found: List[str] = field(default_factory=list)
    committed: bool = False
    already_rotated: bool = False
    verification: Optional[Dict[str, int]] = None  # the key check with the new key, before the commit
    elapsed_seconds: float = 0.0

    def _sum(self, status: str) -> int:
        return sum(c.counts[status] for c in self.categories.values())

    @property
    def failed(self) -> int:
        return self._sum(FAILED)

    @property
    def opened(self) -> int:
        return sum(c.opened for c in self.categories.values())

    @property
    def written(self) -> int:
        return self._sum(REENCRYPTED) + self._sum(REWRAPPED)

    @property
    def passed(self) -> bool:
        return self.failed == 0

    @property
    def changed(self) -> bool:
        return self.committed and self.written > 0

    @property
    def failed_ids(self) -> List[str]:
        return ["%s:%s" % (name, f.id) for name, cat in self.categories.items() for f in cat.failures]

    def first_failures(self, limit: int = 5) -> str:
        shown = []
        for name, cat in self.categories.items():
            for f in cat.failures:
                shown.append("%s:%s%s (%s)" % (name, f.id, " %s" % f.label if f.label else "", f.reason))
        return ", ".join(shown[:limit]) + (", ..." if len(shown) > limit else "")

    def summary(self) -> str:
        """Counts per category, safe for messages."""
        parts = []
        for name, cat in self.categories.items():
            c = cat.counts
            if cat.opened or c[FAILED]:
                parts.append(
                    "%s %d re-encrypted, %d re-wrapped, %d kept, %d failed"
                    % (name, c[REENCRYPTED], c[REWRAPPED], c[UNCHANGED], c[FAILED])
                )
        return "; ".join(parts) or "nothing encrypted found"

    def as_dict(self) -> Dict[str, Any]:
        """The module's result (``failed`` and ``skipped`` are Ansible's task flags: totals are ``*_count``)."""
        return {
            "passed": self.passed,
            "committed": self.committed,
            "already_rotated": self.already_rotated,
            "check_mode": self.check_mode,
            "reencrypted": self._sum(REENCRYPTED),
            "rewrapped": self._sum(REWRAPPED),
            "unchanged": self._sum(UNCHANGED),
            "skipped_count": self._sum(SKIPPED),
            "failed_count": self.failed,
            "total": self.opened + self.failed,
            "categories": {n: c.as_dict() for n, c in self.categories.items()},
            "failed_ids": self.failed_ids,
            "verification": self.verification,
            "old_key_fingerprint": self.old_key_fingerprint,
            "new_key_fingerprint": self.new_key_fingerprint,
            "n8n_tables_found": list(self.tables_found),
            "source": self.source,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


# ======================================================================== keys
@dataclass
class _Dek:
    """One ``data_encryption`` row: its content under the old key and what it becomes."""

    row_id: str
    algorithm: Optional[str]
    material: str  # the DEK (or, for aes-256-cbc rows, the key string) as n8n uses it
    new_material: str


class Keys:
    """What the old key opens and what the new key will open: legacy key, data-encryption keys.

    Built from the ``deployment_key`` rows (n8n 2.x) by :meth:`deployment_key`; on 1.x, and on
    2.x without ``aes-256-cbc`` rows, unprefixed values are under the instance key itself.
    """

    def __init__(self, old_key: str, new_key: str) -> None:
        self.old_key = old_key
        self.new_key = new_key
        self.old_wrapping = dek_wrapping_key(old_key)
        self.new_wrapping = dek_wrapping_key(new_key)
        self.legacy_old: str = old_key  # what unprefixed values are encrypted with now
        self.legacy_new: str = new_key  # ... and after the rotation
        self.legacy_from_row = False
        self.deks: Dict[str, _Dek] = {}
        self.locked: Set[str] = set()
        self._legacy_old_bytes = key_bytes(old_key)
        self._legacy_new_bytes = key_bytes(new_key)

    # ---------------------------------------------------------- unprefixed values
    def reencrypt_legacy(self, body: str, payload: str) -> Tuple[str, str, Optional[str]]:
        try:
            plain = cbc_decrypt_raw(body, self._legacy_old_bytes)
        except CipherError:
            return FAILED, R_WRONG_KEY, None
        status, reason = _expect(plain, payload)
        if status != "ok":
            return FAILED, reason, None
        return self._encrypt_cbc(plain, self.legacy_new, self._legacy_new_bytes)

    @staticmethod
    def _encrypt_cbc(plain: bytes, key: str, password: bytes) -> Tuple[str, str, Optional[str]]:
        new = encrypt(plain.decode("utf-8"), key)
        try:
            if cbc_decrypt_raw(new, password) != plain:
                return FAILED, R_VERIFY, None
        except CipherError:
            return FAILED, R_VERIFY, None
        return REENCRYPTED, "", new

    # ---------------------------------------------------------- prefixed values
    def reencrypt_prefixed(self, key_id: str, body: str, payload: str) -> Tuple[str, str, Optional[str]]:
        dek = self.deks.get(key_id)
        if dek is None:
            return FAILED, (R_DEK_LOCKED if key_id in self.locked else R_UNKNOWN_DEK), None
        try:
            if dek.algorithm == registry.GCM_ALGORITHM:
                plain = gcm_decrypt_raw(body, bytes.fromhex(dek.material))
            else:
                plain = cbc_decrypt_raw(body, key_bytes(dek.material))
        except (CipherError, ValueError):
            return FAILED, R_WRONG_KEY, None
        status, reason = _expect(plain, payload)
        if status != "ok":
            return FAILED, reason, None
        if dek.new_material == dek.material:
            return UNCHANGED, "", None
        # Only aes-256-cbc rows change content (they hold the instance key itself).
        status, reason, new = self._encrypt_cbc(plain, dek.new_material, key_bytes(dek.new_material))
        return status, reason, (key_id + ":" + new) if new is not None else None

    # ---------------------------------------------------------- deployment_key rows
    def unwrap_old(self, value: str) -> bytes:
        plain: bytes = gcm_decrypt_raw(value, self.old_wrapping)
        return plain

    def wrap_new(self, plaintext: str) -> Tuple[str, str, Optional[str]]:
        new = gcm_encrypt(plaintext, self.new_wrapping)
        try:
            if gcm_decrypt_raw(new, self.new_wrapping) != plaintext.encode("utf-8"):
                return FAILED, R_VERIFY, None
        except CipherError:
            return FAILED, R_VERIFY, None
        return REWRAPPED, "", new

    def deployment_key(  # noqa: PLR0911 - one return per row kind and outcome
        self, row_id: str, row_type: str, algorithm: Optional[str], value: Optional[str]
    ) -> Tuple[str, str, Optional[str]]:
        """(status, reason, new value) of one deployment_key row; data_encryption rows are only
        read here (their new value depends on every aes-256-cbc row: see :meth:`settle_deks`)."""
        if value is None or value == "":
            return SKIPPED, S_EMPTY, None
        kind = registry.deployment_key_kind(row_type, algorithm)
        if kind == registry.DK_PLAINTEXT:
            return SKIPPED, S_PLAINTEXT, None
        if kind == registry.DK_CBC_JSON:
            try:
                plain = cbc_decrypt_raw(value, key_bytes(self.old_key))  # encryptWithInstanceKey: the key itself
            except CipherError:
                return FAILED, (R_WRONG_KEY if value.startswith(registry.LEGACY_CBC_PREFIX) else R_NOT_CIPHERTEXT), None
            status, reason = _expect(plain, registry.PAYLOAD_JSON)
            if status != "ok":
                return FAILED, reason, None
            return self._encrypt_cbc(plain, self.new_key, key_bytes(self.new_key))
        if kind == registry.DK_WRAPPED_SECRET:
            try:
                plain = self.unwrap_old(value)
            except CipherError:
                return FAILED, R_WRONG_KEY, None
            status, reason = _expect(plain, registry.PAYLOAD_TEXT)
            if status != "ok":
                return FAILED, reason, None
            return self.wrap_new(plain.decode("utf-8"))
        return self._read_dek(row_id, algorithm, value)

    def _read_dek(self, row_id: str, algorithm: Optional[str], value: str) -> Tuple[str, str, Optional[str]]:
        # The forms n8n 2.40's KeyManagerService.recoverLegacyDek() accepts, and the GCM-wrapped one.
        material: Optional[str] = None
        if value == self.old_key:
            material = value  # the instance key stored raw (older 2.x)
        elif value.startswith(registry.LEGACY_CBC_PREFIX):
            try:
                material = cbc_decrypt_raw(value, key_bytes(self.old_key)).decode("utf-8")
            except (CipherError, UnicodeDecodeError):
                self.locked.add(row_id)
                return FAILED, R_WRONG_KEY, None
            if not RAW_DEK_PATTERN.match(material):
                self.locked.add(row_id)
                return FAILED, R_BAD_DEK, None
        elif RAW_DEK_PATTERN.match(value):
            # A raw DEK: not bound to the instance key. n8n 2.40 wraps it with the key it starts with.
            self.deks[row_id] = _Dek(row_id, algorithm, value, value)
            return SKIPPED, S_PLAINTEXT, None
        else:
            try:
                material = self.unwrap_old(value).decode("utf-8")
            except (CipherError, UnicodeDecodeError):
                self.locked.add(row_id)
                return FAILED, R_WRONG_KEY, None
            if algorithm == registry.GCM_ALGORITHM and not RAW_DEK_PATTERN.match(material):
                self.locked.add(row_id)
                return FAILED, R_BAD_DEK, None
        self.deks[row_id] = _Dek(row_id, algorithm, material, material)
        return REWRAPPED, "", None  # the new value is made by settle_deks()

    def settle_deks(self) -> Optional[str]:
        """Decide the legacy key and each data-encryption key's new content; a reason when that is impossible.

        Every ``aes-256-cbc`` row ends up holding the new key (n8n 2.40's ``encryptV2`` and
        ``decryptV2`` expect the row to resolve to the instance key). They must agree today,
        or which one n8n reads unprefixed values with would be a guess.
        """
        cbc = [d for d in self.deks.values() if d.algorithm == registry.CBC_ALGORITHM]
        if cbc:
            materials = {d.material for d in cbc}
            if len(materials) > 1:
                return R_AMBIGUOUS_LEGACY
            self.legacy_old = cbc[0].material
            self.legacy_from_row = True
            for dek in cbc:
                dek.new_material = self.new_key
        self._legacy_old_bytes = key_bytes(self.legacy_old)
        return None

    def new_dek_value(self, row_id: str) -> Tuple[str, str, Optional[str]]:
        dek = self.deks[row_id]
        return self.wrap_new(dek.new_material)


# ======================================================================== the walk
@dataclass
class _RowUpdate:
    ids: Tuple[Any, ...]
    values: Dict[str, str]


class _Rotation:
    def __init__(
        self,
        db: N8nDatabase,
        old_key: str,
        new_key: str,
        categories: Optional[Sequence[str]],
        *,
        check_mode: bool,
        max_failed_ids: int,
    ) -> None:
        require_cryptography()
        for label, key in (("old_key", old_key), ("new_key", new_key)):
            if not isinstance(key, str) or not key:
                raise ReencryptError("Cannot re-encrypt with an empty %s: give n8n's encryption keys" % label)
        if old_key == new_key:
            raise ReencryptError("Cannot rotate the encryption key: old_key and new_key are the same key. Give a new key")
        self.db = db
        self.check_mode = check_mode
        self.max_failed_ids = max(1, max_failed_ids)
        chosen = list(categories) if categories else ["all"]
        bad = sorted(set(chosen) & set(NOT_ROTATED))
        if bad:
            raise ReencryptError(
                "Cannot re-encrypt %s: API keys are signed, not encrypted, with a secret n8n derives from the key. "
                "See docs/key-rotation.md for what to redo after a rotation" % ", ".join(bad)
            )
        try:
            self.locations = registry.select(tuple(chosen))
        except ValueError as exc:
            raise ReencryptError(str(exc)) from exc
        # deployment_key always comes along: the other values depend on its keys.
        if _DK not in self.locations:
            self.locations = (_DK,) + tuple(self.locations)
        self.partial = set(registry.default_categories()) - {loc.category for loc in self.locations}
        self.keys = Keys(old_key, new_key)
        names = [c for c in registry.CATEGORIES if any(loc.category == c for loc in self.locations)]
        self.report = ReencryptReport(
            db.config.describe(), key_fingerprint(old_key), key_fingerprint(new_key), check_mode, {n: CategoryCounts() for n in names}
        )
        self.pending_failure = False
        self._queue: List[_RowUpdate] = []  # PostgreSQL: row updates sent in batches
        self._types: Dict[str, Dict[str, str]] = {}

    # ---------------------------------------------------------- bookkeeping
    def record(self, loc: EncryptedLocation, status: str, reason: str, row_id: str, label: Optional[str]) -> None:
        cat = self.report.categories[loc.category]
        cat.add(loc.name, status, reason)
        if status == FAILED:
            self.pending_failure = True
            if len(cat.failures) < self.max_failed_ids:
                cat.failures.append(Failure(loc.name, row_id, reason, label))
            else:
                cat.failures_truncated = True

    def write(self, table: str, update: _RowUpdate, id_columns: Sequence[str]) -> bool:
        """UPDATE one row; False when it did not match exactly one row."""
        if self.check_mode or self.pending_failure or not update.values:
            return True
        cols = sorted(update.values)
        sets = ", ".join('"%s" = ?' % c for c in cols)
        where = " AND ".join('"%s" = ?' % c for c in id_columns)
        # Identifiers come from the registry and db.table(); values are bound parameters.
        query = "UPDATE %s SET %s WHERE %s" % (self.db.table(table), sets, where)  # noqa: S608
        cursor = self.db.execute(query, [update.values[c] for c in cols] + list(update.ids))
        try:
            count = cursor.rowcount
        finally:
            cursor.close()
        return bool(count == 1)

    def queue(self, table: str, update: _RowUpdate, id_columns: Sequence[str]) -> bool:
        """Write a row now (SQLite, in-process) or queue it for a batched UPDATE (PostgreSQL: one round trip per batch)."""
        if not self.db.is_postgres:
            return self.write(table, update, id_columns)
        if not (self.check_mode or self.pending_failure or not update.values):
            self._queue.append(update)
            if len(self._queue) >= BATCH_ROWS:
                return self.flush(table, id_columns)
        return True

    def flush(self, table: str, id_columns: Sequence[str]) -> bool:
        """Send the queued updates of ``table``: ``UPDATE ... FROM (VALUES ...)``, grouped by changed columns."""
        queued, self._queue = self._queue, []
        if self.check_mode or self.pending_failure or not queued:
            return True
        types = self._column_types(table)
        groups: Dict[Tuple[str, ...], List[_RowUpdate]] = {}
        for update in queued:
            groups.setdefault(tuple(sorted(update.values)), []).append(update)
        for cols, updates in groups.items():
            names = ["k%d" % i for i in range(len(id_columns))] + ["v%d" % i for i in range(len(cols))]
            row = "(%s)" % ", ".join("?" * len(names))
            # Bound values arrive as text: cast each to its column's type (uuid ids, integer ids, ...).
            sets = ", ".join('"%s" = CAST(v.v%d AS "%s")' % (c, i, types.get(c, "text")) for i, c in enumerate(cols))
            where = " AND ".join('t."%s" = CAST(v.k%d AS "%s")' % (c, i, types.get(c, "text")) for i, c in enumerate(id_columns))
            query = "UPDATE %s AS t SET %s FROM (VALUES %s) AS v(%s) WHERE %s" % (  # noqa: S608 - identifiers as in write()
                self.db.table(table), sets, ", ".join([row] * len(updates)), ", ".join(names), where
            )
            params: List[Any] = []
            for update in updates:
                params.extend(str(v) for v in update.ids)
                params.extend(update.values[c] for c in cols)
            cursor = self.db.execute(query, params)
            try:
                count = cursor.rowcount
            finally:
                cursor.close()
            if count != len(updates):
                return False
        return True

    def _column_types(self, table: str) -> Dict[str, str]:
        if table not in self._types:
            rows = self.db.fetchall(
                "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                (self.db.config.schema, self.db.config.table_prefix + table),
            )
            self._types[table] = {str(name): str(udt) for name, udt in rows}
        return self._types[table]

    # ---------------------------------------------------------- transaction
    def begin(self, tables: Sequence[str]) -> None:
        if self.db.is_postgres:
            self.db.rollback()  # end the implicit transaction of the table listing: settings below come first
            if self.check_mode:
                self.db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").close()
                return
            self.db.execute("SET LOCAL lock_timeout = '%ds'" % LOCK_TIMEOUT_S).close()
            if tables:
                names = ", ".join(self.db.table(t) for t in tables)
                try:
                    self.db.execute("LOCK TABLE %s IN EXCLUSIVE MODE" % names).close()
                except DatabaseError as exc:
                    raise ReencryptError(
                        "Cannot lock n8n's tables on %s within %d s (%s). Is n8n still running? Stop every n8n "
                        "process (main, workers, webhook processors) and try again" % (self.db.config.describe(), LOCK_TIMEOUT_S, exc)
                    ) from exc
            return
        try:
            self.db.execute("BEGIN" if self.check_mode else "BEGIN IMMEDIATE").close()
        except DatabaseError as exc:
            raise ReencryptError(
                "Cannot lock the SQLite database %s for writing (%s). Is n8n still running? Stop it and try again"
                % (self.db.config.path, exc)
            ) from exc

    # ---------------------------------------------------------- run
    def run(self) -> ReencryptReport:
        started = time.monotonic()
        try:
            found = self.db.tables()
        except DatabaseError as exc:
            raise ReencryptError(str(exc)) from exc
        known = set(registry.tables()) | {"migrations"}
        self.report.tables_found = sorted(t for t in found if t in known)
        if "credentials_entity" not in found:
            raise ReencryptError(
                "Cannot re-encrypt %s: no n8n tables there (no credentials_entity). Check the database, "
                "DB_TABLE_PREFIX (table_prefix) and DB_POSTGRESDB_SCHEMA (schema)" % self.db.config.describe()
            )
        plans = _plans(self.locations)
        tables = [t for t in plans if t in found]
        try:
            self.begin(tables)
            try:
                if not self.check_mode:
                    self._guard_partial()  # before any write: it reads with the old key
                self._walk(plans, found)
                if not self.check_mode and not self.pending_failure:
                    self._verify()
                if self.check_mode or self.pending_failure:
                    self.db.rollback()
                else:
                    self.db.commit()
                    self.report.committed = True
            except BaseException:
                self.db.rollback()
                raise
        except DatabaseError as exc:
            raise ReencryptError("%s. Nothing was written" % exc) from exc
        if self.pending_failure and self.report.opened == 0:
            self._already_rotated()
        self.report.elapsed_seconds = time.monotonic() - started
        return self.report

    def _walk(self, plans: Dict[str, Any], found: Set[str]) -> None:
        source = _DatabaseSource(self.db)
        if "deployment_key" in found:
            self._deployment_keys(source, plans["deployment_key"])
        for table, plan in plans.items():
            if table == "deployment_key" or table not in found:
                continue
            for block in source.read([plan]):
                self._table(block, plan)

    # ---------------------------------------------------------- deployment_key
    def _deployment_keys(self, source: _DatabaseSource, plan: Any) -> None:
        blocks = list(source.read([plan]))
        if not blocks:
            return
        block = blocks[0]
        cols = block.columns
        if "value" not in cols or "type" not in cols or "id" not in cols:
            return
        i_id, i_type, i_value = cols.index("id"), cols.index("type"), cols.index("value")
        i_alg = cols.index("algorithm") if "algorithm" in cols else None
        rows = list(block.rows)  # a handful of rows
        rewraps: Dict[str, Tuple[Any, str, str]] = {}
        deks: List[Tuple[Any, str, str]] = []
        for row in rows:
            raw_id, row_type, value = row[i_id], str(row[i_type]), row[i_value]
            algorithm = row[i_alg] if i_alg is not None else None
            status, reason, new = self.keys.deployment_key(str(raw_id), row_type, algorithm, value)
            if status == REWRAPPED and new is None:  # a data_encryption row, settled below
                deks.append((raw_id, row_type, value))
                continue
            self.record(_DK, status, reason, str(raw_id), row_type)
            if new is not None:
                rewraps[str(raw_id)] = (raw_id, row_type, new)
        problem = self.keys.settle_deks()
        for raw_id, row_type, _value in deks:
            if problem:
                self.record(_DK, FAILED, problem, str(raw_id), row_type)
                continue
            status, reason, new = self.keys.new_dek_value(str(raw_id))
            self.record(_DK, status, reason, str(raw_id), row_type)
            if new is not None:
                rewraps[str(raw_id)] = (raw_id, row_type, new)
        for row_id, (raw_id, row_type, new) in sorted(rewraps.items()):
            if not self.write("deployment_key", _RowUpdate((raw_id,), {"value": new}), ("id",)):
                self.record(_DK, FAILED, R_NOT_UPDATED, row_id, row_type)

    # ---------------------------------------------------------- other tables
    def _table(self, block: Any, plan: Any) -> None:
        cols = block.columns
        usable = [loc for loc in plan.locations if loc.column in cols and all(c in cols for c in loc.id_columns)]
        if not usable:
            return
        id_idx = [cols.index(c) for c in plan.id_columns]
        key_idx = cols.index("key") if plan.settings_keys and "key" in cols else None
        label_idx = {loc.name: (cols.index(loc.label_column) if loc.label_column and loc.label_column in cols else None) for loc in usable}
        for row in block.rows:
            row_key = row[key_idx] if key_idx is not None else None
            if plan.settings_keys and row_key not in plan.settings_keys:
                continue
            ids = tuple(row[i] for i in id_idx)
            row_id = "/".join(str(v) for v in ids)
            current: Dict[str, Optional[str]] = {}
            changed: Dict[str, str] = {}
            touched: List[Tuple[EncryptedLocation, Optional[str]]] = []
            for loc in usable:
                if loc.settings_key and row_key != loc.settings_key:
                    continue
                raw = current.get(loc.column, row[cols.index(loc.column)])
                status, reason, new = self._cell(loc, raw)
                li = label_idx[loc.name]
                label = None if li is None or row[li] is None else str(row[li])
                ident = row_id + ("#" + "/".join(loc.json_path) if loc.json_path else "")
                self.record(loc, status, reason, ident, label)
                touched.append((loc, label))
                if new is not None:
                    current[loc.column] = new
                    changed[loc.column] = new
            if changed and not self.queue(plan.table, _RowUpdate(ids, changed), plan.id_columns):
                loc, label = touched[-1]
                self.record(loc, FAILED, R_NOT_UPDATED, row_id, label)
        if not self.flush(plan.table, plan.id_columns):
            loc = usable[0]
            self.record(loc, FAILED, R_NOT_UPDATED, "(batch)", None)

    def _cell(self, loc: EncryptedLocation, raw: Optional[str]) -> Tuple[str, str, Optional[str]]:  # noqa: PLR0911 - one return per container outcome
        if raw is None or raw == "":
            return SKIPPED, S_EMPTY, None
        if loc.container == registry.CONTAINER_COLUMN:
            return self._value(loc, raw)
        if loc.container == registry.CONTAINER_SIMPLE_ARRAY:
            items = raw.split(",")
            out: List[str] = []
            any_new = False
            for item in items:
                if not item:
                    out.append(item)
                    continue
                status, reason, new = self._value(loc, item)
                if status == FAILED:
                    return status, reason, None
                any_new = any_new or new is not None
                out.append(new if new is not None else item)
            return (REENCRYPTED, "", ",".join(out)) if any_new else (UNCHANGED, "", None)
        try:
            doc: Any = json.loads(raw)
        except ValueError:
            return SKIPPED, S_NOT_JSON_ROW, None
        if not loc.json_path:
            return self._value(loc, raw)
        parent: Any = doc
        for step in loc.json_path[:-1]:
            parent = parent.get(step) if isinstance(parent, dict) else None
        leaf = loc.json_path[-1]
        value = parent.get(leaf) if isinstance(parent, dict) else None
        if value is None or value == "":
            return SKIPPED, S_EMPTY, None
        if not isinstance(value, str):
            return SKIPPED, S_PLAINTEXT, None
        status, reason, new = self._value(loc, value)
        if new is None:
            return status, reason, None
        parent[leaf] = new
        # JSON.stringify's layout: no spaces, non-ASCII kept.
        return status, reason, json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    def _value(self, loc: EncryptedLocation, value: str) -> Tuple[str, str, Optional[str]]:  # noqa: PLR0911 - one return per format outcome
        if loc.format == registry.FORMAT_CBC:
            if not value.startswith(registry.LEGACY_CBC_PREFIX):
                return FAILED, R_NOT_CIPHERTEXT, None
            try:
                plain = cbc_decrypt_raw(value, key_bytes(self.keys.old_key))
            except CipherError:
                return FAILED, R_WRONG_KEY, None
            status, reason = _expect(plain, loc.payload)
            if status != "ok":
                return FAILED, reason, None
            return Keys._encrypt_cbc(plain, self.keys.new_key, key_bytes(self.keys.new_key))
        try:
            key_id, body = split_key_id(value)
        except CipherError:
            return self._not_ciphertext(loc)
        if key_id is None:
            if not body.startswith(registry.LEGACY_CBC_PREFIX):
                return self._not_ciphertext(loc)
            return self.keys.reencrypt_legacy(body, loc.payload)
        return self.keys.reencrypt_prefixed(key_id, body, loc.payload)

    @staticmethod
    def _not_ciphertext(loc: EncryptedLocation) -> Tuple[str, str, Optional[str]]:
        if loc.name.endswith("signingPrivateKey"):  # saml.service.ee.js stores a non-PEM value as given
            return SKIPPED, S_PLAINTEXT, None
        return FAILED, R_NOT_CIPHERTEXT, None

    # ---------------------------------------------------------- checks around the commit
    def _guard_partial(self) -> None:
        """With a subset of categories, refuse when the rest still holds values under the old key."""
        if not self.partial:
            return
        rest = check_key(self.db, self.keys.old_key, sorted(self.partial), workers=1)
        left = {name: cat.ok for name, cat in rest.categories.items() if cat.ok}
        if left:
            self.db.rollback()
            raise ReencryptError(
                "Cannot rotate only %s: %s still hold values encrypted with the old key, which n8n could not read "
                "after the rotation. Re-encrypt every category (categories: [all]). Nothing was written"
                % (", ".join(sorted(self.report.categories)), ", ".join("%s (%d)" % kv for kv in sorted(left.items())))
            )

    def _verify(self) -> None:
        """Read everything back with the new key, as n8n will, before committing."""
        categories = sorted(self.report.categories)
        try:
            check = check_key(self.db, self.keys.new_key, categories, workers=1)
        except KeyCheckError as exc:
            self.db.rollback()
            raise ReencryptError("Cannot verify the re-encrypted data: %s. Nothing was written" % exc) from exc
        self.report.verification = {"ok": check.ok, "failed": check.failed, "skipped": check.skipped}
        mismatched = [
            name
            for name, cat in self.report.categories.items()
            if check.categories.get(name) is None or check.categories[name].ok != cat.opened or check.categories[name].failed
        ]
        if mismatched:
            self.db.rollback()
            raise ReencryptError(
                "Cannot commit the re-encryption: reading it back with the new key does not match in %s (%s). "
                "Nothing was written; please report this as a lifeboat.n8n bug" % (", ".join(mismatched), check.summary())
            )

    def _already_rotated(self) -> None:
        """Nothing opened with the old key: is the data already under the new one? (idempotent re-run)"""
        try:
            check = check_key(self.db, self.keys.new_key, sorted(self.report.categories), workers=1)
        except KeyCheckError:
            return
        if check.passed and check.ok > 0:
            self.report.already_rotated = True
            self.report.verification = {"ok": check.ok, "failed": check.failed, "skipped": check.skipped}


def reencrypt(
    db: N8nDatabase,
    old_key: str,
    new_key: str,
    categories: Optional[Sequence[str]] = None,
    *,
    check_mode: bool = False,
    max_failed_ids: int = 100,
) -> ReencryptReport:
    """Re-encrypt n8n's key-bound data from ``old_key`` to ``new_key`` in one transaction (see the module doc).

    ``check_mode``: decrypt, re-encrypt and verify every value in memory, write nothing.
    Returns the report; when any value fails (``report.passed`` is false) nothing was written.
    When nothing opens with the old key but everything opens with the new one, the data was
    already rotated: ``report.already_rotated`` is true and nothing is written.
    """
    return _Rotation(db, old_key, new_key, categories, check_mode=check_mode, max_failed_ids=max_failed_ids).run()
