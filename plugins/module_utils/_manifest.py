# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The backup manifest: a versioned JSON document that describes one complete backup.

This is a private module_utils (leading underscore): its API may change between releases.
The *document* is public and versioned (``schema_version``, see docs/manifest.md).

A backup directory holds its artifacts (database dump, binary data, community nodes, ...)
and one ``manifest.json``. The manifest is written last, atomically, and only once every
artifact is complete, so its presence means "this backup is complete"; it records each
artifact's SHA-256 and size so a restore can prove nothing was truncated or altered.

Hashes: a file hashes to the SHA-256 of its bytes. A directory hashes to the SHA-256 of a
listing of every file below it, sorted by relative path (bytewise), one
``"<sha256 of the file>  <relative path>\\n"`` line each -- the output of
``find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum`` in that
directory. A symbolic link is listed with the SHA-256 of ``"symlink:" + its target`` and
never followed; its size counts as 0. A directory's size is the sum of its files' sizes.

The manifest never carries a secret: the key appears only as its fingerprint and the
environment only redacted (:func:`validate` refuses anything else).
"""

from __future__ import absolute_import, annotations, division, print_function

import datetime
import hashlib
import json
import os
import posixpath
import re
import socket
import stat
import uuid
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from ansible_collections.lifeboat.n8n.plugins.module_utils import _env
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import is_fingerprint

__metaclass__ = type

SCHEMA = "lifeboat.n8n/backup-manifest"
# Bump on any change a reader of the previous version would misread or reject (the schema
# is closed: an added field is a change too). Readers accept 1..SCHEMA_VERSION and refuse
# newer documents; see docs/manifest.md.
SCHEMA_VERSION = 1
# Kept equal to galaxy.yml's version (a unit test checks it).
COLLECTION_VERSION = "0.1.0"
MANIFEST_NAME = "manifest.json"

DB_TYPES = ("sqlite", "postgresdb")
ARTIFACT_KINDS = ("database", "binary_data", "nodes", "workflow_export", "env", "other")
# Known artifact formats; any other non-empty lowercase name is accepted too.
ARTIFACT_FORMATS = ("sqlite", "pg_custom", "pg_directory", "pg_plain", "tar", "tar.gz", "tar.zst", "json", "env", "directory", "file")

TOP_FIELDS = (
    "schema",
    "schema_version",
    "id",
    "created_at",
    "host",
    "n8n",
    "database",
    "key",
    "counts",
    "workflows",
    "env",
    "binary_data",
    "artifacts",
    "timings",
    "downtime_s",
    "lifeboat",
)
COUNT_FIELDS = ("workflows", "active_workflows", "archived_workflows", "credentials")
WORKFLOW_FIELDS = ("id", "name", "active", "version_id", "active_version_id", "archived", "trigger_types", "webhooks")
ARTIFACT_FIELDS = ("name", "path", "kind", "format", "sha256", "size")

_CHUNK = 1024 * 1024
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]+)?$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
_CREATED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|\+00:00)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FORMAT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An n8n API key or any other JSON Web Token.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


class ManifestError(ValueError):
    """A manifest could not be built, written, loaded or verified; the message says what to do."""

    def __init__(self, message: str, problems: Optional[List[str]] = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


# --------------------------------------------------------------------------- building


def utc_now() -> str:
    """The current time as ISO 8601 UTC with a ``Z`` suffix, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(created_at: Optional[str] = None) -> str:
    """A sortable, unique backup id: ``20261121T140102Z-1a2b3c4d``."""
    stamp = re.sub(r"[-:]", "", (created_at or utc_now()).split(".")[0].replace("+00:00", "Z"))
    return "%s-%s" % (stamp, uuid.uuid4().hex[:8])


def _major(version: Any) -> Optional[int]:
    match = _VERSION.match(version) if isinstance(version, str) else None
    return int(match.group(1)) if match else None


def _ordered(value: Mapping[str, Any], defaults: Mapping[str, Any]) -> Dict[str, Any]:
    """``value`` with the schema's fields first, in schema order; a field missing or null takes its default.

    ``defaults`` maps every field to its default; a default of None for a required field lets
    validate() report it as a type error rather than silently inventing it. Extra keys are kept
    (validate() names them).
    """
    result = {name: default if value.get(name) is None else value[name] for name, default in defaults.items()}
    result.update((name, item) for name, item in value.items() if name not in defaults)
    return result


def _workflow_record(record: Any) -> Any:
    if not isinstance(record, Mapping):
        return record  # validate() names it
    defaults: Dict[str, Any] = dict.fromkeys(WORKFLOW_FIELDS)
    defaults.update(archived=False, trigger_types=[], webhooks=[])
    return _ordered(record, defaults)


def _env_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def build_manifest(**parts: Any) -> Dict[str, Any]:
    """Assemble a manifest from its parts and validate it; raises :class:`ManifestError`.

    Parts are the top-level field names (``n8n``, ``database``, ``counts``, ``workflows``,
    ``env``, ``binary_data``, ``artifacts``, ``timings``, ``downtime_s``, ``id``, ``created_at``,
    ``host``, ``key``) plus two conveniences: ``key_fingerprint`` (becomes ``key``) and
    ``collection_version`` (becomes ``lifeboat``). ``id``, ``created_at`` and ``host`` default to
    a new id, now and this host; optional sub-fields get their defaults. ``env`` is redacted
    once more (a no-op on already-redacted values). Artifacts must already carry ``sha256`` and
    ``size`` (see :func:`hash_artifacts`).
    """
    allowed = set(TOP_FIELDS) - {"schema", "schema_version", "lifeboat"} | {"key_fingerprint", "collection_version"}
    unknown = sorted(set(parts) - allowed)
    if unknown:
        raise ManifestError("Cannot build the manifest: unknown parts %s. Known parts: %s." % (", ".join(unknown), ", ".join(sorted(allowed))))
    if "key" in parts and "key_fingerprint" in parts:
        raise ManifestError("Cannot build the manifest: give key_fingerprint or key, not both.")

    created_at = parts.get("created_at") or utc_now()
    n8n = parts.get("n8n")
    if isinstance(n8n, Mapping):
        major = n8n.get("major")
        major = _major(n8n.get("version")) if major is None else major
        n8n = _ordered(n8n, {"version": None, "major": major, "migration_head": None, "migrations_count": None})
    database = parts.get("database")
    if isinstance(database, Mapping):
        database = _ordered(database, {"type": None, "table_prefix": "", "schema": None})
    binary_data = parts.get("binary_data")
    if isinstance(binary_data, Mapping):
        binary_data = _ordered(binary_data, {"mode": None, "path": None, "included": False})
    workflows = parts.get("workflows")
    if isinstance(workflows, (list, tuple)):
        workflows = [_workflow_record(record) for record in workflows]
    artifacts = parts.get("artifacts")
    if isinstance(artifacts, (list, tuple)):
        artifacts = [_ordered(item, dict.fromkeys(ARTIFACT_FIELDS)) if isinstance(item, Mapping) else item for item in artifacts]
    env = parts.get("env")
    if isinstance(env, Mapping):
        # Environment values are strings; YAML may have turned a port into a number.
        env = {name: _env_text(value) for name, value in env.items()}
        if all(isinstance(value, str) for value in env.values()) and all(isinstance(name, str) for name in env):
            env = _env.redact(env)
    key = parts["key"] if "key" in parts else {"fingerprint": parts.get("key_fingerprint")}
    timings = parts.get("timings")
    downtime = parts.get("downtime_s")

    manifest: Dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "id": parts.get("id") or new_id(created_at),
        "created_at": created_at,
        "host": parts.get("host") or socket.gethostname(),
        "n8n": n8n,
        "database": database,
        "key": key,
        "counts": parts.get("counts"),
        "workflows": workflows,
        "env": env,
        "binary_data": binary_data,
        "artifacts": artifacts,
        "timings": {} if timings is None else timings,
        "downtime_s": float(downtime) if isinstance(downtime, int) and not isinstance(downtime, bool) else downtime,
        "lifeboat": {"collection_version": parts.get("collection_version") or COLLECTION_VERSION},
    }
    try:
        # Plain JSON types from here on (tuples become lists), so a manifest compares equal to its file.
        manifest = json.loads(json.dumps(manifest, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ManifestError("Cannot build the manifest: a value is not JSON data (%s). Pass strings, numbers, booleans, lists and mappings." % exc) from None
    errors = validate(manifest)
    if errors:
        raise ManifestError(
            "Cannot build the manifest: %d problem(s): %s. Fix the values passed in; no manifest was written." % (len(errors), "; ".join(errors)),
            errors,
        )
    return manifest


# --------------------------------------------------------------------------- validation


_TYPE_NAMES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (Mapping, "object"), ((list, tuple), "array"))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    for types, name in _TYPE_NAMES:
        if isinstance(value, types):
            return name
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def safe_relpath(path: Any) -> bool:
    """True for a normalised relative POSIX path that stays inside its base (no ``..``)."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\x00" in path:
        return False
    if posixpath.normpath(path) != path or path in (".", ".."):
        return False
    return ".." not in path.split("/")


_KINDS: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "nonempty": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "integer": (_is_int, "an integer"),
    "count": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "seconds": (lambda v: _is_number(v) and v >= 0, "a number of seconds >= 0"),
    "object": (lambda v: isinstance(v, Mapping), "an object"),
    "array": (lambda v: isinstance(v, list), "an array"),
}


class _Validator:
    def __init__(self) -> None:
        self.errors: List[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append("%s: %s" % (path, message))

    def expect(self, path: str, value: Any, kind: str, nullable: bool = False) -> bool:
        if value is None and nullable:
            return False
        check, wanted = _KINDS[kind]
        if check(value):
            return True
        self.error(path, "expected %s%s, got %s" % (wanted, " or null" if nullable else "", _type_name(value)))
        return False

    def fields(self, path: str, value: Mapping[str, Any], required: Iterable[str], optional: Iterable[str] = ()) -> None:
        required = tuple(required)
        known = set(required) | set(optional)
        for name in required:
            if name not in value:
                self.error(path, "missing field %r" % name)
        for name in value:
            if name not in known:
                self.error(
                    "%s.%s" % (path, name) if isinstance(name, str) else path,
                    "unknown field (schema_version %d does not define it)" % SCHEMA_VERSION,
                )


def _check_n8n(v: _Validator, n8n: Any) -> None:
    if not v.expect("$.n8n", n8n, "object"):
        return
    v.fields("$.n8n", n8n, ("version", "major", "migration_head", "migrations_count"))
    version = n8n.get("version")
    if v.expect("$.n8n.version", version, "string") and not _VERSION.match(version):
        v.error("$.n8n.version", "expected a version like '2.40.7' (what `n8n --version` prints), got %r" % version[:40])
    major = n8n.get("major")
    if v.expect("$.n8n.major", major, "integer") and _major(version) not in (None, major):
        v.error("$.n8n.major", "is %d but n8n.version %s says major %s" % (major, version, _major(version)))
    head = n8n.get("migration_head")
    if v.expect("$.n8n.migration_head", head, "object", nullable=True):
        v.fields("$.n8n.migration_head", head, ("name", "timestamp"))
        v.expect("$.n8n.migration_head.name", head.get("name"), "nonempty")
        v.expect("$.n8n.migration_head.timestamp", head.get("timestamp"), "integer")
    v.expect("$.n8n.migrations_count", n8n.get("migrations_count"), "count", nullable=True)


def _check_database(v: _Validator, database: Any) -> None:
    if not v.expect("$.database", database, "object"):
        return
    v.fields("$.database", database, ("type", "table_prefix", "schema"))
    db_type = database.get("type")
    if db_type not in DB_TYPES:
        v.error("$.database.type", "expected one of %s (n8n's DB_TYPE), got %s" % (", ".join(DB_TYPES), _short(db_type)))
    v.expect("$.database.table_prefix", database.get("table_prefix"), "string")
    v.expect("$.database.schema", database.get("schema"), "string", nullable=True)


def _check_key(v: _Validator, key: Any) -> None:
    if not v.expect("$.key", key, "object"):
        return
    for name in key:
        if name != "fingerprint":
            # Never echo the value: it may be the key itself.
            v.error("$.key.%s" % name, "the manifest carries only the key's fingerprint, never the key or anything derived from it")
    if "fingerprint" not in key:
        v.error("$.key", "missing field 'fingerprint'")
    elif not (isinstance(key["fingerprint"], str) and is_fingerprint(key["fingerprint"])):
        v.error(
            "$.key.fingerprint",
            "not a key fingerprint (expected 'lbfp1:' and 24 hex digits, from lifeboat.n8n.key_fingerprint); never put the key itself in a manifest",
        )


def _check_counts(v: _Validator, counts: Any) -> None:
    if not v.expect("$.counts", counts, "object"):
        return
    v.fields("$.counts", counts, COUNT_FIELDS + ("executions",))
    for name in COUNT_FIELDS:
        if name in counts:
            v.expect("$.counts.%s" % name, counts[name], "count")
    executions = counts.get("executions")
    if "executions" in counts and v.expect("$.counts.executions", executions, "object"):
        for status, number in executions.items():
            if v.expect("$.counts.executions", status, "nonempty"):
                v.expect("$.counts.executions.%s" % status, number, "count")


def _check_workflows(v: _Validator, workflows: Any) -> None:
    if not v.expect("$.workflows", workflows, "array"):
        return
    seen: Dict[str, int] = {}
    for index, record in enumerate(workflows):
        path = "$.workflows[%d]" % index
        if not v.expect(path, record, "object"):
            continue
        v.fields(path, record, WORKFLOW_FIELDS)
        if v.expect(path + ".id", record.get("id"), "nonempty"):
            if record["id"] in seen:
                v.error(path + ".id", "duplicate workflow id %r (also $.workflows[%d])" % (record["id"], seen[record["id"]]))
            seen.setdefault(record["id"], index)
        v.expect(path + ".name", record.get("name"), "string")
        v.expect(path + ".active", record.get("active"), "boolean")
        v.expect(path + ".archived", record.get("archived"), "boolean")
        v.expect(path + ".version_id", record.get("version_id"), "nonempty", nullable=True)
        v.expect(path + ".active_version_id", record.get("active_version_id"), "nonempty", nullable=True)
        types = record.get("trigger_types")
        if v.expect(path + ".trigger_types", types, "array"):
            for position, name in enumerate(types):
                v.expect("%s.trigger_types[%d]" % (path, position), name, "nonempty")
        hooks = record.get("webhooks")
        if v.expect(path + ".webhooks", hooks, "array"):
            for position, hook in enumerate(hooks):
                hook_path = "%s.webhooks[%d]" % (path, position)
                if v.expect(hook_path, hook, "object"):
                    v.fields(hook_path, hook, ("path", "method"))
                    v.expect(hook_path + ".path", hook.get("path"), "string")
                    v.expect(hook_path + ".method", hook.get("method"), "nonempty")


def _check_env(v: _Validator, env: Any) -> None:
    if not v.expect("$.env", env, "object"):
        return
    for name, value in env.items():
        path = "$.env.%s" % name
        if not (isinstance(name, str) and _ENV_NAME.match(name)):
            v.error("$.env", "%s is not an environment variable name" % _short(name))
            continue
        if not v.expect(path, value, "string"):
            continue
        if _env.redact_value(name, value) != value:
            # Never echo the value.
            v.error(path, "not redacted: secret-looking variables and credentials in URLs must read %s in a manifest" % _env.REDACTED)


def _check_binary_data(v: _Validator, binary: Any) -> None:
    if not v.expect("$.binary_data", binary, "object"):
        return
    v.fields("$.binary_data", binary, ("mode", "path", "included"))
    v.expect("$.binary_data.mode", binary.get("mode"), "nonempty")
    v.expect("$.binary_data.path", binary.get("path"), "string", nullable=True)
    v.expect("$.binary_data.included", binary.get("included"), "boolean")


def _check_artifacts(v: _Validator, artifacts: Any) -> None:
    if not v.expect("$.artifacts", artifacts, "array"):
        return
    names: Dict[str, int] = {}
    paths: Dict[str, int] = {}
    for index, artifact in enumerate(artifacts):
        path = "$.artifacts[%d]" % index
        if not v.expect(path, artifact, "object"):
            continue
        v.fields(path, artifact, ARTIFACT_FIELDS)
        name = artifact.get("name")
        if v.expect(path + ".name", name, "nonempty"):
            if name in names:
                v.error(path + ".name", "duplicate artifact name %r (also $.artifacts[%d])" % (name, names[name]))
            names.setdefault(name, index)
        relpath = artifact.get("path")
        if v.expect(path + ".path", relpath, "nonempty"):
            if not safe_relpath(relpath):
                v.error(path + ".path", "%r must be a normalised path relative to the backup directory, without '..'" % relpath[:200])
            elif relpath in paths:
                v.error(path + ".path", "duplicate artifact path %r (also $.artifacts[%d])" % (relpath, paths[relpath]))
            paths.setdefault(relpath, index)
        if artifact.get("kind") not in ARTIFACT_KINDS:
            v.error(path + ".kind", "expected one of %s, got %s" % (", ".join(ARTIFACT_KINDS), _short(artifact.get("kind"))))
        fmt = artifact.get("format")
        if v.expect(path + ".format", fmt, "nonempty") and not _FORMAT.match(fmt):
            v.error(path + ".format", "expected a short lowercase format name such as %s, got %s" % (", ".join(ARTIFACT_FORMATS[:6]), _short(fmt)))
        digest = artifact.get("sha256")
        if v.expect(path + ".sha256", digest, "string") and not _SHA256.match(digest):
            v.error(path + ".sha256", "expected 64 lowercase hex digits")
        v.expect(path + ".size", artifact.get("size"), "count")


def _check_secrets(v: _Validator, value: Any, path: str) -> None:
    """Anything that looks like a secret, anywhere (the env and the key are checked on their own)."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            item_path = "%s.%s" % (path, name)
            if path == "$" and name in ("env", "key"):
                continue
            if isinstance(item, str) and isinstance(name, str) and _env.is_secret_name(name) and item not in ("", _env.REDACTED) and not is_fingerprint(item):
                v.error(item_path, "looks like a secret (its name); a manifest carries fingerprints and redacted values only")
                continue
            _check_secrets(v, item, item_path)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_secrets(v, item, "%s[%d]" % (path, index))
    elif isinstance(value, str):
        if _env.redact_value("VALUE", value) != value:
            v.error(path, "contains credentials in a URL (user:password@); redact them (lifeboat.n8n's _env.redact)")
        elif _JWT.search(value):
            v.error(path, "looks like an API key or token (a JSON Web Token); a manifest must not carry it")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_header(manifest: Any) -> Optional[str]:
    """None when ``manifest`` is a lifeboat.n8n manifest this code can read, else why not."""
    if not isinstance(manifest, Mapping):
        return "$: expected a JSON object, got %s: this is not a lifeboat.n8n backup manifest" % _type_name(manifest)
    if manifest.get("schema") != SCHEMA:
        return "$.schema: expected %r, got %s: this is not a lifeboat.n8n backup manifest" % (SCHEMA, _short(manifest.get("schema")))
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return "$.schema_version: expected an integer >= 1, got %s" % _short(version)
    if version > SCHEMA_VERSION:
        return (
            "$.schema_version: the manifest has schema_version %d, newer than the %d this lifeboat.n8n (%s) reads: "
            "it was written by a newer lifeboat.n8n. Upgrade lifeboat.n8n (ansible-galaxy collection install --upgrade lifeboat.n8n) "
            "to read or restore this backup" % (version, SCHEMA_VERSION, COLLECTION_VERSION)
        )
    return None


def validate(manifest: Any) -> List[str]:
    """Schema errors as ``"<$.json.path>: <what is wrong>"`` strings; empty when valid.

    A manifest with a newer ``schema_version`` yields one error that says to upgrade
    lifeboat.n8n (its other fields are not judged by this older schema). Values that look
    secret are refused and never echoed.
    """
    header = check_header(manifest)
    if header:
        return [header]
    v = _Validator()
    v.fields("$", manifest, TOP_FIELDS)
    if v.expect("$.id", manifest.get("id"), "nonempty") and not _ID.match(manifest["id"]):
        v.error("$.id", "expected letters, digits and . _ : + - only (at most 128, starting with a letter or digit), got %s" % _short(manifest["id"]))
    created_at = manifest.get("created_at")
    if v.expect("$.created_at", created_at, "string"):
        if not _CREATED_AT.match(created_at) or not _valid_timestamp(created_at):
            v.error("$.created_at", "expected an ISO 8601 UTC time like 2026-11-21T14:01:02Z, got %s" % _short(created_at))
    v.expect("$.host", manifest.get("host"), "nonempty")
    _check_n8n(v, manifest.get("n8n"))
    _check_database(v, manifest.get("database"))
    _check_key(v, manifest.get("key"))
    _check_counts(v, manifest.get("counts"))
    _check_workflows(v, manifest.get("workflows"))
    _check_env(v, manifest.get("env"))
    _check_binary_data(v, manifest.get("binary_data"))
    _check_artifacts(v, manifest.get("artifacts"))
    timings = manifest.get("timings")
    if v.expect("$.timings", timings, "object"):
        for name, seconds in timings.items():
            if v.expect("$.timings", name, "nonempty"):
                v.expect("$.timings.%s" % name, seconds, "seconds")
    v.expect("$.downtime_s", manifest.get("downtime_s"), "seconds", nullable=True)
    lifeboat = manifest.get("lifeboat")
    if v.expect("$.lifeboat", lifeboat, "object"):
        v.fields("$.lifeboat", lifeboat, ("collection_version",))
        v.expect("$.lifeboat.collection_version", lifeboat.get("collection_version"), "nonempty")
    _check_secrets(v, manifest, "$")
    return v.errors


def _valid_timestamp(text: str) -> bool:
    try:
        datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- hashing


def _hash_stream(path: str) -> Tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _hash_directory(root: str) -> Tuple[str, int]:
    entries: List[Tuple[bytes, str]] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        # os.walk lists a symlink to a directory among dirnames and does not follow it.
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                target = os.fsencode(os.readlink(full))
                file_digest = hashlib.sha256(b"symlink:" + target).hexdigest()
            elif stat.S_ISREG(mode):
                file_digest, size = _hash_stream(full)
                total += size
            else:
                raise ManifestError("Cannot hash %s: it is neither a regular file, a directory nor a symlink. Remove it from the backup." % full)
            entries.append((os.fsencode(rel), file_digest))
    listing = hashlib.sha256()
    for rel_bytes, file_digest in sorted(entries):
        listing.update(file_digest.encode("ascii") + b"  " + rel_bytes + b"\n")
    return listing.hexdigest(), total


def hash_file(path: str) -> Tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of a file, streamed; or of a directory (module docstring)."""
    if os.path.isdir(path):
        return _hash_directory(path)
    return _hash_stream(path)


def _inside(base: str, path: str) -> bool:
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    return real == real_base or real.startswith(real_base.rstrip(os.sep) + os.sep)


def hash_artifacts(backup_dir: str, specs: Iterable[Mapping[str, Any]], manifest_path: Optional[str] = None) -> List[Dict[str, Any]]:
    """Artifacts ``{name, path, kind, format}`` with their ``sha256`` and ``size`` computed.

    A path may be relative to ``backup_dir`` or absolute inside it (stored relative).
    Raises :class:`ManifestError` naming every artifact that is missing or outside the backup.
    """
    result: List[Dict[str, Any]] = []
    problems: List[str] = []
    for spec in specs:
        name = spec.get("name")
        path = spec.get("path")
        if not isinstance(path, str) or not path:
            problems.append("artifact %r has no path" % (name,))
            continue
        relpath = os.path.relpath(path, backup_dir) if os.path.isabs(path) else posixpath.normpath(path)
        relpath = relpath.replace(os.sep, "/")
        full = os.path.join(backup_dir, relpath)
        if not safe_relpath(relpath) or not _inside(backup_dir, full):
            problems.append("artifact %r path %r is outside the backup directory %s" % (name, path, backup_dir))
            continue
        if manifest_path and os.path.abspath(full) == os.path.abspath(manifest_path):
            problems.append("artifact %r is the manifest itself" % (name,))
            continue
        if not os.path.lexists(full):
            problems.append("artifact %r (%s) does not exist in %s" % (name, relpath, backup_dir))
            continue
        try:
            digest, size = hash_file(full)
        except OSError as exc:
            problems.append("artifact %r (%s) cannot be read: %s" % (name, relpath, exc.strerror or exc))
            continue
        result.append({"name": name, "path": relpath, "kind": spec.get("kind"), "format": spec.get("format"), "sha256": digest, "size": size})
    if problems:
        raise ManifestError(
            "Cannot create the manifest: %s. The manifest is written only once every artifact is complete: finish or fix the backup first."
            % "; ".join(problems),
            problems,
        )
    return result


def verify_artifacts(manifest: Mapping[str, Any], backup_dir: str, defer_formats: Iterable[str] = ()) -> List[Dict[str, Any]]:
    """One ``{name, path, ok, problem, checksum}`` per artifact (``problem`` is None when ok).

    Problems: path traversal (outside the backup directory, also through a symlink),
    missing, size mismatch, checksum mismatch, unreadable. Sizes are compared before
    hashing, so a truncated file is reported without reading it.

    A regular file whose ``format`` is in ``defer_formats`` is checked up to its size and not
    hashed (``checksum`` is ``"deferred"``, otherwise ``"verified"``): its caller checks the
    checksum when it copies the file (``n8n_verified_copy``), which then reads it only once.
    """
    deferred = frozenset(defer_formats)
    results: List[Dict[str, Any]] = []
    for index, artifact in enumerate(manifest.get("artifacts") or []):
        name = artifact.get("name") if isinstance(artifact, Mapping) else None
        name = name if isinstance(name, str) and name else "#%d" % index
        relpath = artifact.get("path") if isinstance(artifact, Mapping) else None
        entry: Dict[str, Any] = {"name": name, "path": relpath, "ok": False, "problem": None, "checksum": "verified"}
        results.append(entry)
        if not safe_relpath(relpath):
            entry["problem"] = "path traversal: %r is not a relative path inside the backup directory" % (relpath,)
            continue
        full = os.path.join(backup_dir, str(relpath))
        if not os.path.lexists(full):
            entry["problem"] = "missing: %s does not exist in %s" % (relpath, backup_dir)
            continue
        if not _inside(backup_dir, full):
            entry["problem"] = "path traversal: %s resolves outside %s (a symlink)" % (relpath, backup_dir)
            continue
        if not os.path.exists(full):
            entry["problem"] = "missing: %s is a dangling symlink" % relpath
            continue
        expected_size = artifact.get("size")
        expected_digest = artifact.get("sha256")
        try:
            if os.path.isfile(full) and os.path.getsize(full) != expected_size:
                entry["problem"] = "size mismatch: expected %s bytes, found %d (truncated or changed after the backup)" % (expected_size, os.path.getsize(full))
                continue
            if os.path.isfile(full) and artifact.get("format") in deferred:
                entry["ok"], entry["checksum"] = True, "deferred"
                continue
            digest, size = hash_file(full)
        except (OSError, ManifestError) as exc:
            entry["problem"] = "unreadable: %s" % (getattr(exc, "strerror", None) or exc)
            continue
        if size != expected_size:
            entry["problem"] = "size mismatch: expected %s bytes, found %d (files missing, truncated or added after the backup)" % (expected_size, size)
        elif digest != expected_digest:
            entry["problem"] = "checksum mismatch: expected sha256 %s, found %s (corrupted or modified after the backup)" % (expected_digest, digest)
        else:
            entry["ok"] = True
    return results


# --------------------------------------------------------------------------- files


def dumps(manifest: Mapping[str, Any]) -> str:
    """The manifest as written to disk: UTF-8 JSON, 2-space indent, a final newline."""
    return json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_manifest(path: str, manifest: Mapping[str, Any]) -> None:
    """Validate, then write atomically: a 0600 temporary file, fsync, rename, fsync the directory."""
    errors = validate(manifest)
    if errors:
        raise ManifestError("Cannot write the manifest %s: it is invalid: %s. Nothing was written." % (path, "; ".join(errors)), errors)
    data = dumps(manifest).encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.%s.tmp" % (os.path.basename(path), uuid.uuid4().hex[:8]))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise ManifestError("Cannot write the manifest %s: %s. Check that the backup directory exists and is writable." % (path, exc.strerror or exc)) from exc
    # Make the rename durable too. Some filesystems cannot fsync a directory: the rename stands anyway.
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


_DO_NOT_RESTORE = "Do not restore this backup: take a new one or use an earlier backup."


def load_manifest(path: str) -> Dict[str, Any]:
    """Read a manifest; raises :class:`ManifestError` for a missing, truncated, foreign or newer one.

    Only the header (schema, schema_version) is checked here; call :func:`validate` for the rest.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ManifestError(
            "Cannot load the backup manifest %s: the file does not exist. The manifest is written last, so a backup "
            "without one is incomplete. %s" % (path, _DO_NOT_RESTORE)
        ) from None
    except OSError as exc:
        raise ManifestError("Cannot load the backup manifest %s: %s." % (path, exc.strerror or exc)) from None
    if not raw.strip():
        raise ManifestError("Cannot load the backup manifest %s: the file is empty (truncated). %s" % (path, _DO_NOT_RESTORE))
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError("Cannot load the backup manifest %s: it is not UTF-8 text (damaged). %s" % (path, _DO_NOT_RESTORE)) from None
    except ValueError as exc:
        where = " at line %d column %d" % (exc.lineno, exc.colno) if isinstance(exc, json.JSONDecodeError) else ""
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ManifestError(
            "Cannot load the backup manifest %s: it is not valid JSON%s (%s): the file is truncated or damaged. %s" % (path, where, detail, _DO_NOT_RESTORE)
        ) from None
    header = check_header(document)
    if header:
        raise ManifestError("Cannot load the backup manifest %s: %s." % (path, header), [header])
    return dict(document)


# --------------------------------------------------------------------------- module entry points


def public_values(env: Optional[Mapping[str, Any]], key_fingerprint: Optional[str]) -> Set[str]:
    """The option values a module may show: non-secret env values and a real fingerprint.

    The module declares ``env`` and ``key_fingerprint`` no_log, so Ansible masks every value
    of them in its output and never logs them; it then unmasks these. A secret-looking env
    value (or a URL carrying credentials), and a "fingerprint" that is really a key, stay masked.
    """
    public: Set[str] = set()
    secret: Set[str] = set()
    for name, value in (env or {}).items():
        if value is None or isinstance(value, (dict, list)):
            continue
        text = _env_text(value) if not isinstance(value, str) else value
        (public if _env.redact_value(str(name), str(text)) == text else secret).add(str(text))
    if isinstance(key_fingerprint, str) and is_fingerprint(key_fingerprint):
        public.add(key_fingerprint)
    return public - secret


def _comparable(manifest: Mapping[str, Any], keep_id: bool) -> Dict[str, Any]:
    drop = {"created_at"} if keep_id else {"created_at", "id"}
    return {name: value for name, value in manifest.items() if name not in drop}


def _existing(path: str) -> Tuple[str, Optional[Dict[str, Any]]]:
    """The text of the file at ``path`` ("" when absent) and the manifest in it, if it is a readable one."""
    try:
        with open(path, "rb") as handle:
            before = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "", None
    except OSError as exc:
        raise ManifestError("Cannot create the manifest %s: %s." % (path, exc.strerror or exc)) from None
    try:
        document = json.loads(before)
    except ValueError:
        return before, None  # damaged or foreign: replaced
    if isinstance(document, dict) and document.get("schema") == SCHEMA and _is_int(document.get("schema_version")):
        if document["schema_version"] > SCHEMA_VERSION:
            raise ManifestError(
                "Cannot create the manifest %s: the manifest there has schema_version %d, written by a newer lifeboat.n8n. "
                "Upgrade lifeboat.n8n, or write this backup to another directory." % (path, document["schema_version"])
            )
        if not validate(document):
            return before, document
    return before, None


def create_manifest(
    backup_dir: str,
    path: Optional[str] = None,
    artifacts: Iterable[Mapping[str, Any]] = (),
    check_mode: bool = False,
    **parts: Any,
) -> Dict[str, Any]:
    """What ``n8n_manifest state=present`` does: hash the artifacts, build, write unless identical.

    Idempotent: when a valid manifest at ``path`` equals the new one except for ``created_at``
    (and ``id`` unless one is given), it is kept and ``changed`` is False. In check mode
    nothing is written. Returns ``{changed, path, manifest, diff, msg}``.
    """
    if not os.path.isdir(backup_dir):
        raise ManifestError("Cannot create the manifest: the backup directory %s does not exist. Run the backup first." % backup_dir)
    path = path or os.path.join(backup_dir, MANIFEST_NAME)
    hashed = hash_artifacts(backup_dir, artifacts, manifest_path=path)
    manifest = build_manifest(artifacts=hashed, **parts)

    before, existing = _existing(path)
    if existing is not None and _comparable(existing, bool(parts.get("id"))) == _comparable(manifest, bool(parts.get("id"))):
        return {"changed": False, "path": path, "manifest": existing, "diff": {"before": before, "after": before}, "msg": "The manifest is up to date."}
    after = dumps(manifest)
    if not check_mode:
        write_manifest(path, manifest)
    return {
        "changed": True,
        "path": path,
        "manifest": manifest,
        "diff": {"before": before, "after": after},
        "msg": ("Would write" if check_mode else "Wrote") + " the manifest %s (%d artifacts)." % (path, len(hashed)),
    }


def verify_backup(backup_dir: str, path: Optional[str] = None, defer_formats: Iterable[str] = ()) -> Dict[str, Any]:
    """What ``n8n_manifest state=verified`` does: load, validate, verify every artifact (read-only).

    ``defer_formats`` as in :func:`verify_artifacts`.

    Raises :class:`ManifestError` when the manifest cannot be loaded. Otherwise returns
    ``{ok, path, manifest, artifacts, problems, msg}``; ``problems`` lists every schema error
    and every artifact problem, and ``msg`` says the backup must not be restored when any exists.
    """
    path = path or os.path.join(backup_dir, MANIFEST_NAME)
    manifest = load_manifest(path)
    problems = ["manifest %s" % error for error in validate(manifest)]
    artifacts = verify_artifacts(manifest, backup_dir, defer_formats)
    problems.extend("artifact %r (%s): %s" % (item["name"], item["path"], item["problem"]) for item in artifacts if not item["ok"])
    if problems:
        msg = "Cannot verify the backup in %s: %d problem(s): %s. This backup must not be restored: take a new backup or restore an earlier one." % (
            backup_dir,
            len(problems),
            "; ".join(problems),
        )
    else:
        msg = "The backup in %s is complete: %d artifacts match the manifest %s." % (backup_dir, len(artifacts), path)
        later = [item["name"] for item in artifacts if item["checksum"] == "deferred"]
        if later:
            msg += " The checksum of %s is checked when it is copied." % ", ".join(later)
    return {"ok": not problems, "path": path, "manifest": manifest, "artifacts": artifacts, "problems": problems, "msg": msg}
