"""The backup manifest: schema, secrets, hashing, artifact verification, atomic files."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable

import pytest
from ansible_collections.lifeboat.n8n.plugins.module_utils import _manifest as m
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import key_fingerprint
from hypothesis import given, settings
from hypothesis import strategies as st

FINGERPRINT = "lbfp1:0123456789abcdef01234567"
REPO = Path(__file__).resolve().parents[4]


def parts(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "20261121T140102Z-1a2b3c4d",
        "created_at": "2026-11-21T14:01:02Z",
        "host": "n8n-prod-1",
        "n8n": {"version": "2.40.7", "migration_head": {"name": "AddX1788527465971", "timestamp": 1788527465971}, "migrations_count": 270},
        "database": {"type": "sqlite", "table_prefix": ""},
        "key_fingerprint": FINGERPRINT,
        "counts": {"workflows": 2, "active_workflows": 1, "archived_workflows": 0, "credentials": 3, "executions": {"success": 4, "error": 1}},
        "workflows": [
            {
                "id": "wf1",
                "name": "Echo",
                "active": True,
                "version_id": "v2",
                "active_version_id": "v1",
                "trigger_types": ["n8n-nodes-base.webhook"],
                "webhooks": [{"path": "lifeboat-echo", "method": "POST"}],
            },
            {"id": "wf2", "name": "Idle", "active": False, "version_id": "v9"},
        ],
        "env": {"WEBHOOK_URL": "https://n8n.example.com/", "GENERIC_TIMEZONE": "Europe/Berlin", "QUEUE_BULL_REDIS_PASSWORD": "<redacted>"},
        "binary_data": {"mode": "filesystem", "path": "/home/node/.n8n/storage", "included": True},
        "artifacts": [
            {"name": "database", "path": "database.sqlite", "kind": "database", "format": "sqlite", "sha256": "a" * 64, "size": 10},
            {"name": "binary_data", "path": "binary", "kind": "binary_data", "format": "directory", "sha256": "b" * 64, "size": 3},
        ],
        "timings": {"database": 1.5, "binary_data": 0},
        "downtime_s": 3,
    }
    base.update(overrides)
    return base


@pytest.fixture
def manifest() -> dict[str, Any]:
    return m.build_manifest(**parts())


def test_build_fills_defaults_and_is_valid(manifest: dict[str, Any]) -> None:
    assert m.validate(manifest) == []
    assert manifest["schema"] == m.SCHEMA
    assert manifest["schema_version"] == m.SCHEMA_VERSION
    assert manifest["n8n"]["major"] == 2
    assert manifest["database"]["schema"] is None
    assert manifest["key"] == {"fingerprint": FINGERPRINT}
    assert manifest["workflows"][1] == {
        "id": "wf2",
        "name": "Idle",
        "active": False,
        "version_id": "v9",
        "active_version_id": None,
        "archived": False,
        "trigger_types": [],
        "webhooks": [],
    }
    assert manifest["downtime_s"] == 3.0
    assert manifest["lifeboat"] == {"collection_version": m.COLLECTION_VERSION}
    assert list(manifest) == list(m.TOP_FIELDS)


def test_build_defaults_id_time_and_host() -> None:
    built = m.build_manifest(**{k: v for k, v in parts().items() if k not in ("id", "created_at", "host")})
    assert re.match(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$", built["id"])
    assert built["created_at"].endswith("Z")
    assert built["host"]


def test_build_redacts_env_again_and_stringifies_numbers() -> None:
    built = m.build_manifest(**parts(env={"N8N_ENCRYPTION_KEY": "plain-key", "N8N_PORT": 5678, "N8N_PROXY_HOPS": True}))
    assert built["env"] == {"N8N_ENCRYPTION_KEY": "<redacted>", "N8N_PORT": "5678", "N8N_PROXY_HOPS": "true"}
    assert "plain-key" not in json.dumps(built)


def test_build_refuses_unknown_parts_and_invalid_values() -> None:
    with pytest.raises(m.ManifestError, match="unknown parts bogus"):
        m.build_manifest(**parts(bogus=1))
    with pytest.raises(m.ManifestError, match=r"\$\.database\.type") as info:
        m.build_manifest(**parts(database={"type": "mysqldb"}))
    assert info.value.problems


def test_collection_version_matches_galaxy_yml() -> None:
    galaxy = REPO / "galaxy.yml"
    if not galaxy.exists():
        pytest.skip("galaxy.yml is not part of this tree")
    version = re.search(r"^version:\s*(\S+)", galaxy.read_text(), re.M)
    assert version and version.group(1) == m.COLLECTION_VERSION


# ---------------------------------------------------------------- validation


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for name in parents:
            target = target[int(name)] if name.isdigit() else target[name]
        if value is _DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return apply


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("id", ""), "$.id: expected a non-empty string"),
        (_set("id", "a/b"), "$.id: expected letters"),
        (_set("created_at", "2026-11-21 14:01:02"), "$.created_at: expected an ISO 8601 UTC time"),
        (_set("created_at", "2026-11-21T14:01:02+02:00"), "$.created_at"),
        (_set("created_at", "2026-13-41T14:01:02Z"), "$.created_at"),
        (_set("host", None), "$.host: expected a non-empty string, got null"),
        (_set("n8n.version", "latest"), "$.n8n.version: expected a version like"),
        (_set("n8n.major", 1), "$.n8n.major: is 1 but n8n.version 2.40.7 says major 2"),
        (_set("n8n.migration_head", {"name": "X"}), "$.n8n.migration_head: missing field 'timestamp'"),
        (_set("n8n.migrations_count", -1), "$.n8n.migrations_count: expected an integer >= 0 or null"),
        (_set("database.type", "mysqldb"), "$.database.type: expected one of sqlite, postgresdb"),
        (_set("database.schema", 5), "$.database.schema: expected a string or null, got integer"),
        (_set("counts.credentials", True), "$.counts.credentials: expected an integer >= 0, got boolean"),
        (_set("counts.executions", {"success": "4"}), "$.counts.executions.success: expected an integer >= 0, got string"),
        (_set("counts.executions", _DELETE), "$.counts: missing field 'executions'"),
        (_set("workflows.0.active", "yes"), "$.workflows[0].active: expected a boolean, got string"),
        (_set("workflows.1.id", "wf1"), "$.workflows[1].id: duplicate workflow id 'wf1'"),
        (_set("workflows.0.webhooks", [{"path": "x"}]), "$.workflows[0].webhooks[0]: missing field 'method'"),
        (_set("workflows.0.triggerCount", 1), "$.workflows[0].triggerCount: unknown field"),
        (_set("env.N8N_PORT", 5678), "$.env.N8N_PORT: expected a string, got integer"),
        (_set("binary_data.included", "yes"), "$.binary_data.included: expected a boolean"),
        (_set("artifacts.0.path", "../etc/passwd"), "$.artifacts[0].path: '../etc/passwd' must be a normalised path"),
        (_set("artifacts.0.path", "/etc/passwd"), "$.artifacts[0].path"),
        (_set("artifacts.0.path", "a/./b"), "$.artifacts[0].path"),
        (_set("artifacts.1.path", "database.sqlite"), "$.artifacts[1].path: duplicate artifact path"),
        (_set("artifacts.1.name", "database"), "$.artifacts[1].name: duplicate artifact name"),
        (_set("artifacts.0.kind", "dump"), "$.artifacts[0].kind: expected one of database, binary_data"),
        (_set("artifacts.0.format", "Tar ZST"), "$.artifacts[0].format: expected a short lowercase format name"),
        (_set("artifacts.0.sha256", "A" * 64), "$.artifacts[0].sha256: expected 64 lowercase hex digits"),
        (_set("artifacts.0.size", 1.5), "$.artifacts[0].size: expected an integer >= 0, got number"),
        (_set("timings.database", -1), "$.timings.database: expected a number of seconds >= 0"),
        (_set("downtime_s", "3"), "$.downtime_s: expected a number of seconds >= 0 or null, got string"),
        (_set("lifeboat", {}), "$.lifeboat: missing field 'collection_version'"),
        (_set("extra", 1), "$.extra: unknown field (schema_version 1 does not define it)"),
        (_set("artifacts", _DELETE), "$: missing field 'artifacts'"),
    ],
)
def test_validate_reports_paths(manifest: dict[str, Any], change: Callable[[dict[str, Any]], None], expected: str) -> None:
    change(manifest)
    errors = m.validate(manifest)
    assert any(error.startswith(expected) for error in errors), errors


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], "$: expected a JSON object"),
        ({"schema": "other"}, "this is not a lifeboat.n8n backup manifest"),
        ({"schema": m.SCHEMA, "schema_version": "1"}, "$.schema_version: expected an integer >= 1"),
        ({"schema": m.SCHEMA, "schema_version": 0}, "$.schema_version: expected an integer >= 1"),
    ],
)
def test_validate_refuses_foreign_documents(document: Any, expected: str) -> None:
    errors = m.validate(document)
    assert len(errors) == 1 and expected in errors[0]


def test_newer_schema_version_says_upgrade(manifest: dict[str, Any]) -> None:
    manifest["schema_version"] = 99
    manifest["something_new"] = {"x": 1}
    errors = m.validate(manifest)
    assert len(errors) == 1
    assert "schema_version 99" in errors[0]
    assert "Upgrade lifeboat.n8n" in errors[0]


SECRET = "s3cr3t-Value-That-Must-Not-Leak"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("env.N8N_ENCRYPTION_KEY", SECRET), "$.env.N8N_ENCRYPTION_KEY: not redacted"),
        (_set("env.DB_POSTGRESDB_PASSWORD", SECRET), "$.env.DB_POSTGRESDB_PASSWORD: not redacted"),
        (_set("env.QUEUE_BULL_REDIS_HOST", f"redis://user:{SECRET}@redis:6379"), "$.env.QUEUE_BULL_REDIS_HOST: not redacted"),
        (_set("key.value", SECRET), "$.key.value: the manifest carries only the key's fingerprint"),
        (_set("key.fingerprint", SECRET), "$.key.fingerprint: not a key fingerprint"),
        (_set("workflows.0.name", JWT), "$.workflows[0].name: looks like an API key"),
        (_set("binary_data.path", f"s3://AKIA:{SECRET}@bucket/x"), "$.binary_data.path: contains credentials in a URL"),
        (_set("n8n.api_key", SECRET), "$.n8n.api_key: looks like a secret"),
        (_set("database.password", SECRET), "$.database.password: looks like a secret"),
    ],
)
def test_validate_refuses_secrets_without_echoing_them(manifest: dict[str, Any], change: Callable[[dict[str, Any]], None], expected: str) -> None:
    change(manifest)
    errors = m.validate(manifest)
    assert any(error.startswith(expected) for error in errors), errors
    assert SECRET not in " ".join(errors)


def test_the_key_itself_is_refused_by_build_without_echo() -> None:
    with pytest.raises(m.ManifestError) as info:
        m.build_manifest(**parts(key_fingerprint=SECRET))
    assert SECRET not in str(info.value)
    assert "never put the key itself" in str(info.value)


def test_redacted_values_and_fingerprints_pass(manifest: dict[str, Any]) -> None:
    manifest["env"]["N8N_ENCRYPTION_KEY"] = "<redacted>"
    manifest["env"]["QUEUE_BULL_REDIS_HOST"] = "redis://<redacted>@redis:6379"
    manifest["key"]["fingerprint"] = key_fingerprint("whatever")
    assert m.validate(manifest) == []


# ---------------------------------------------------------------- hashing


def test_hash_file_streams_and_matches_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    target = tmp_path / "blob"
    target.write_bytes(data)
    assert m.hash_file(str(target)) == (hashlib.sha256(data).hexdigest(), len(data))


def _expected_directory_hash(root: Path) -> tuple[str, int]:
    # The documented formula, independently: sha256sum-style lines sorted by path bytes.
    lines = []
    total = 0
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix().encode()
        if path.is_symlink():
            lines.append((rel, hashlib.sha256(b"symlink:" + os.readlink(path).encode()).hexdigest()))
        elif path.is_file():
            data = path.read_bytes()
            total += len(data)
            lines.append((rel, hashlib.sha256(data).hexdigest()))
    listing = b"".join(digest.encode() + b"  " + rel + b"\n" for rel, digest in sorted(lines))
    return hashlib.sha256(listing).hexdigest(), total


def test_hash_directory_is_a_sorted_listing_of_file_hashes(tmp_path: Path) -> None:
    root = tmp_path / "nodes"
    (root / "b" / "c").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "B.txt").write_text("upper")
    (root / "b" / "c" / "deep.bin").write_bytes(b"\x00\x01")
    (root / "empty").mkdir()
    (root / "link").symlink_to("a.txt")
    (root / "dirlink").symlink_to("b")
    assert m.hash_file(str(root)) == _expected_directory_hash(root)


def test_directory_hash_changes_with_content_and_names(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "x").write_text("1")
    first = m.hash_file(str(root))
    (root / "x").write_text("2")
    second = m.hash_file(str(root))
    (root / "x").rename(root / "y")
    third = m.hash_file(str(root))
    assert len({first[0], second[0], third[0]}) == 3


# ---------------------------------------------------------------- artifacts on disk


@pytest.fixture
def backup(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    root = tmp_path / "backup"
    (root / "binary").mkdir(parents=True)
    (root / "database.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    (root / "binary" / "file1").write_bytes(b"one")
    (root / "binary" / "file2").write_bytes(b"two")
    specs = [
        {"name": "database", "path": "database.sqlite", "kind": "database", "format": "sqlite"},
        {"name": "binary_data", "path": str(root / "binary"), "kind": "binary_data", "format": "directory"},
    ]
    artifacts = m.hash_artifacts(str(root), specs)
    return root, m.build_manifest(**parts(artifacts=artifacts))


def test_hash_artifacts_stores_relative_paths(backup: tuple[Path, dict[str, Any]]) -> None:
    manifest = backup[1]
    assert [a["path"] for a in manifest["artifacts"]] == ["database.sqlite", "binary"]
    assert manifest["artifacts"][1]["size"] == 6


def test_verify_artifacts_ok(backup: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = backup
    assert m.verify_artifacts(manifest, str(root)) == [
        {"name": "database", "path": "database.sqlite", "ok": True, "problem": None, "checksum": "verified"},
        {"name": "binary_data", "path": "binary", "ok": True, "problem": None, "checksum": "verified"},
    ]


def test_deferred_checksum_skips_the_hash_but_not_the_size(backup: tuple[Path, dict[str, Any]]) -> None:
    """A restore copies the SQLite database while hashing it; the manifest check then only sizes it."""
    root, manifest = backup
    _flip_byte(root / "database.sqlite")
    (root / "binary" / "file2").write_bytes(b"TWO")
    results = {item["name"]: item for item in m.verify_artifacts(manifest, str(root), defer_formats=["sqlite"])}
    assert results["database"] == {"name": "database", "path": "database.sqlite", "ok": True, "problem": None, "checksum": "deferred"}
    # other formats are still hashed
    assert results["binary_data"]["problem"].startswith("checksum mismatch")

    (root / "database.sqlite").write_bytes((root / "database.sqlite").read_bytes()[:-1])
    results = {item["name"]: item for item in m.verify_artifacts(manifest, str(root), defer_formats=["sqlite"])}
    assert results["database"]["problem"].startswith("size mismatch")


def test_verify_backup_says_which_checksum_is_left_to_the_copy(backup: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = backup
    m.write_manifest(str(root / "manifest.json"), manifest)
    result = m.verify_backup(str(root), defer_formats=["sqlite"])
    assert result["ok"] is True
    assert result["msg"].endswith("The checksum of database is checked when it is copied.")
    assert "checked when it is copied" not in m.verify_backup(str(root))["msg"]


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "name", "problem"),
    [
        (lambda root: _flip_byte(root / "database.sqlite"), "database", "checksum mismatch"),
        (lambda root: (root / "database.sqlite").write_bytes((root / "database.sqlite").read_bytes()[:-1]), "database", "size mismatch"),
        (lambda root: (root / "database.sqlite").unlink(), "database", "missing"),
        (lambda root: (root / "binary" / "file2").unlink(), "binary_data", "size mismatch"),
        (lambda root: (root / "binary" / "file2").write_bytes(b"TWO"), "binary_data", "checksum mismatch"),
        (lambda root: (root / "binary" / "file3").write_bytes(b""), "binary_data", "checksum mismatch"),
    ],
)
def test_verify_artifacts_finds_damage(backup: tuple[Path, dict[str, Any]], damage: Callable[[Path], None], name: str, problem: str) -> None:
    root, manifest = backup
    damage(root)
    results = {item["name"]: item for item in m.verify_artifacts(manifest, str(root))}
    assert results[name]["ok"] is False
    assert results[name]["problem"].startswith(problem)
    assert all(item["ok"] for key, item in results.items() if key != name)


def test_verify_artifacts_refuses_path_traversal(backup: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, manifest = backup
    outside = tmp_path / "outside"
    outside.write_bytes(b"x")
    manifest["artifacts"][0]["path"] = "../outside"
    (root / "escape").symlink_to(outside)
    manifest["artifacts"][1]["path"] = "escape"
    results = m.verify_artifacts(manifest, str(root))
    assert [item["problem"].split(":")[0] for item in results] == ["path traversal", "path traversal"]


def test_hash_artifacts_names_every_missing_or_outside_artifact(tmp_path: Path) -> None:
    specs = [
        {"name": "database", "path": "nope.sqlite", "kind": "database", "format": "sqlite"},
        {"name": "env", "path": "../etc", "kind": "env", "format": "env"},
        {"name": "abs", "path": "/etc/hostname", "kind": "other", "format": "file"},
    ]
    with pytest.raises(m.ManifestError) as info:
        m.hash_artifacts(str(tmp_path), specs)
    assert len(info.value.problems) == 3
    assert "written only once every artifact is complete" in str(info.value)


# ---------------------------------------------------------------- files


def test_write_is_atomic_private_and_round_trips(tmp_path: Path, manifest: dict[str, Any]) -> None:
    path = tmp_path / "manifest.json"
    m.write_manifest(str(path), manifest)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["manifest.json"]  # no temporary file left
    assert m.load_manifest(str(path)) == manifest
    # Rewriting replaces the file (a new inode), never edits it in place.
    inode = path.stat().st_ino
    m.write_manifest(str(path), dict(manifest, host="other"))
    assert path.stat().st_ino != inode
    assert m.load_manifest(str(path))["host"] == "other"


def test_write_refuses_an_invalid_manifest(tmp_path: Path, manifest: dict[str, Any]) -> None:
    manifest["env"]["N8N_ENCRYPTION_KEY"] = SECRET
    with pytest.raises(m.ManifestError, match="Nothing was written") as info:
        m.write_manifest(str(tmp_path / "manifest.json"), manifest)
    assert SECRET not in str(info.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        (b"", "is empty (truncated)"),
        (b'{"schema": "lifeboat.n8n/backup-manifest", "schema_versi', "not valid JSON at line 1 column"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "not a lifeboat.n8n backup manifest"),
        (b'{"hello": "world"}', "not a lifeboat.n8n backup manifest"),
        (b'{"schema": "lifeboat.n8n/backup-manifest", "schema_version": 99}', "Upgrade lifeboat.n8n"),
    ],
)
def test_load_errors_are_clear(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(m.ManifestError, match=re.escape(expected)):
        m.load_manifest(str(path))


def test_load_truncated_real_manifest(tmp_path: Path, manifest: dict[str, Any]) -> None:
    path = tmp_path / "manifest.json"
    m.write_manifest(str(path), manifest)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(m.ManifestError, match="truncated or damaged. Do not restore this backup"):
        m.load_manifest(str(path))


# ---------------------------------------------------------------- module entry points


def _create_parts() -> dict[str, Any]:
    return {k: v for k, v in parts().items() if k not in ("artifacts", "id", "created_at")}


def test_create_is_idempotent_and_check_mode_writes_nothing(backup: tuple[Path, dict[str, Any]]) -> None:
    root = backup[0]
    specs = [{"name": "database", "path": "database.sqlite", "kind": "database", "format": "sqlite"}]
    preview = m.create_manifest(str(root), artifacts=specs, check_mode=True, **_create_parts())
    assert preview["changed"] and preview["msg"].startswith("Would write")
    assert not (root / "manifest.json").exists()

    first = m.create_manifest(str(root), artifacts=specs, **_create_parts())
    assert first["changed"] and (root / "manifest.json").exists()
    second = m.create_manifest(str(root), artifacts=specs, **_create_parts())
    assert second["changed"] is False
    assert second["manifest"] == first["manifest"]  # the same id and created_at are kept

    _flip_byte(root / "database.sqlite")
    third = m.create_manifest(str(root), artifacts=specs, **_create_parts())
    assert third["changed"] is True
    assert third["manifest"]["artifacts"][0]["sha256"] != first["manifest"]["artifacts"][0]["sha256"]


def test_create_refuses_to_overwrite_a_newer_manifest(tmp_path: Path) -> None:
    (tmp_path / "db").write_bytes(b"x")
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": m.SCHEMA, "schema_version": 7}))
    specs = [{"name": "database", "path": "db", "kind": "database", "format": "sqlite"}]
    with pytest.raises(m.ManifestError, match="newer lifeboat.n8n"):
        m.create_manifest(str(tmp_path), artifacts=specs, **_create_parts())


def test_create_refuses_a_missing_backup_dir(tmp_path: Path) -> None:
    with pytest.raises(m.ManifestError, match="does not exist"):
        m.create_manifest(str(tmp_path / "nope"), artifacts=[], **_create_parts())


def test_verify_backup_lists_every_problem(backup: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = backup
    m.write_manifest(str(root / "manifest.json"), manifest)
    assert m.verify_backup(str(root))["ok"] is True
    _flip_byte(root / "database.sqlite")
    (root / "binary" / "file1").unlink()
    result = m.verify_backup(str(root))
    assert result["ok"] is False
    assert len(result["problems"]) == 2
    assert "must not be restored" in result["msg"]
    assert "checksum mismatch" in result["msg"] and "size mismatch" in result["msg"]


def test_public_values_unmask_only_what_is_safe_to_show() -> None:
    env = {
        "WEBHOOK_URL": "https://n8n.example.com/",
        "N8N_PORT": 5678,
        "N8N_ENCRYPTION_KEY": SECRET,
        "QUEUE_BULL_REDIS_HOST": f"redis://u:{SECRET}@r:6379",
        "N8N_HOST": SECRET,  # the same text as a secret: stays masked
    }
    assert m.public_values(env, FINGERPRINT) == {"https://n8n.example.com/", "5678", FINGERPRINT}
    assert m.public_values(None, SECRET) == set()


# ---------------------------------------------------------------- properties

_names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=50, deadline=None)
@given(name=_names, host=st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != ""), downtime=st.none() | st.floats(0, 1e6))
def test_round_trip_through_a_file(tmp_path_factory: pytest.TempPathFactory, name: str, host: str, downtime: float | None) -> None:
    wf = copy.deepcopy(parts()["workflows"])
    wf[0]["name"] = name
    built = m.build_manifest(**parts(workflows=wf, host=host, downtime_s=downtime))
    path = tmp_path_factory.mktemp("rt") / "manifest.json"
    m.write_manifest(str(path), built)
    assert m.load_manifest(str(path)) == built
    assert m.validate(m.load_manifest(str(path))) == []
