"""The manifest module and the filters, run for real through ansible-playbook (no n8n needed).

A backup directory of real files (a real SQLite database, a binary-data folder, a tar of
community nodes) gets a manifest; then the backup is damaged the ways backups break -- one
flipped byte, a truncated file, a missing file, a manifest from a newer lifeboat.n8n, a
truncated manifest -- and verification must refuse each with a message that names the
problem and says not to restore. The filters run in a playbook the way roles use them,
starting from the manifest the module wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from n8n_harness.ansible import run_module, run_playbook

MODULE = "lifeboat.n8n.n8n_manifest"
KEY = "n8n-integration-test-key-7f3a9c"  # a test key: must appear in no output


def make_backup(root: Path) -> Path:
    backup = root / "backup"
    (backup / "binary" / "workflows" / "wf1").mkdir(parents=True)
    with sqlite3.connect(backup / "database.sqlite") as conn:
        conn.execute("CREATE TABLE workflow_entity (id TEXT PRIMARY KEY, name TEXT, active INTEGER)")
        conn.executemany("INSERT INTO workflow_entity VALUES (?, ?, ?)", [(f"wf{i}", f"Workflow {i}", i % 2) for i in range(200)])
    conn.close()
    (backup / "binary" / "workflows" / "wf1" / "file.bin").write_bytes(os.urandom(20000))
    (backup / "binary" / "readme.txt").write_text("binary data\n")
    nodes = root / "nodes"
    (nodes / "node_modules" / "n8n-nodes-demo").mkdir(parents=True)
    (nodes / "node_modules" / "n8n-nodes-demo" / "package.json").write_text('{"name": "n8n-nodes-demo"}')
    with tarfile.open(backup / "nodes.tar.gz", "w:gz") as tar:
        tar.add(nodes, arcname="nodes")
    return backup


def manifest_args(backup: Path, fingerprint: str) -> dict[str, Any]:
    return {
        "backup_dir": str(backup),
        "n8n": {"version": "2.40.7", "migration_head": {"name": "AddX1788527465971", "timestamp": 1788527465971}, "migrations_count": 270},
        "database": {"type": "sqlite", "table_prefix": ""},
        "key_fingerprint": fingerprint,
        "counts": {"workflows": 3, "active_workflows": 2, "archived_workflows": 0, "credentials": 3, "executions": {"success": 5, "error": 1}},
        "workflows": [
            {
                "id": "wf-echo",
                "name": "Echo",
                "active": True,
                "version_id": "draft-1",
                "active_version_id": "pub-1",
                "trigger_types": ["n8n-nodes-base.webhook"],
                "webhooks": [{"path": "lifeboat-echo", "method": "POST"}],
            },
            {"id": "wf-tick", "name": "Tick", "active": True, "version_id": "v-tick", "trigger_types": ["n8n-nodes-base.scheduleTrigger"]},
            {"id": "wf-idle", "name": "Idle", "active": False, "version_id": "v-idle"},
        ],
        # A raw secret slipped in: the module must redact it, never record it.
        "env": {"WEBHOOK_URL": "https://n8n.example.com/", "GENERIC_TIMEZONE": "Europe/Berlin", "N8N_ENCRYPTION_KEY": KEY, "N8N_PORT": 5678},
        "binary_data": {"mode": "filesystem", "path": "/home/node/.n8n/storage", "included": True},
        "artifacts": [
            {"name": "database", "path": "database.sqlite", "kind": "database", "format": "sqlite"},
            {"name": "binary_data", "path": "binary", "kind": "binary_data", "format": "directory"},
            {"name": "nodes", "path": str(backup / "nodes.tar.gz"), "kind": "nodes", "format": "tar.gz"},
        ],
        "timings": {"database": 0.4, "binary_data": 0.1},
        "downtime_s": 1.2,
    }


@pytest.fixture(scope="module")
def fingerprint(tmp_path_factory: pytest.TempPathFactory) -> str:
    # Computed by the filter itself, through ansible-playbook.
    play = _save_play([{"ansible.builtin.set_fact": {"fp": "{{ key | lifeboat.n8n.key_fingerprint }}"}}], "fp")
    run = run_playbook(_write(tmp_path_factory.mktemp("fp"), play), extra_vars={"key": KEY})
    assert run.ok, run.log[-3000:]
    return str(run.results["fp"])


def _save_play(tasks: list[dict[str, Any]], *names: str, vars_files: list[str] | None = None) -> list[dict[str, Any]]:
    save = {
        "name": "Save results for the test",
        "ansible.builtin.copy": {
            "content": "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}",
            "dest": "{{ lifeboat_test_results_file }}",
            "mode": "0600",
        },
    }
    play: dict[str, Any] = {"name": "lifeboat.n8n integration", "hosts": "all", "gather_facts": False, "tasks": [*tasks, save]}
    if vars_files:
        play["vars_files"] = vars_files
    return [play]


def _write(folder: Path, play: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"play-{os.urandom(4).hex()}.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return path


# ------------------------------------------------------------------------- the module


def test_create_check_idempotent_and_verify(tmp_path: Path, fingerprint: str) -> None:
    backup = make_backup(tmp_path)
    args = manifest_args(backup, fingerprint)
    manifest_path = backup / "manifest.json"

    preview, run = run_module(MODULE, args, check=True, verbosity=3)
    assert preview["changed"] is True, run.log[-3000:]
    assert preview["msg"].startswith("Would write")
    assert not manifest_path.exists()
    assert KEY not in run.log

    created, run = run_module(MODULE, args, verbosity=3, diff=True)
    assert created["changed"] is True and not created.get("failed"), created.get("msg")
    assert KEY not in run.log
    assert stat.S_IMODE(manifest_path.stat().st_mode) == 0o600
    on_disk = json.loads(manifest_path.read_text())
    assert on_disk == created["manifest"]
    assert on_disk["env"]["N8N_ENCRYPTION_KEY"] == "<redacted>" and on_disk["env"]["N8N_PORT"] == "5678"
    assert on_disk["key"] == {"fingerprint": fingerprint}
    assert [(a["name"], a["path"]) for a in on_disk["artifacts"]] == [("database", "database.sqlite"), ("binary_data", "binary"), ("nodes", "nodes.tar.gz")]
    assert on_disk["artifacts"][0]["size"] == (backup / "database.sqlite").stat().st_size
    # The directory hash is the documented coreutils pipeline.
    pipeline = subprocess.run(
        "find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum",
        shell=True, cwd=backup / "binary", capture_output=True, text=True, check=True,
    )
    assert pipeline.stdout.split()[0] == on_disk["artifacts"][1]["sha256"]

    again = run_module(MODULE, args)[0]
    assert again["changed"] is False
    assert again["manifest"]["id"] == created["manifest"]["id"]

    verified, run = run_module(MODULE, {"state": "verified", "backup_dir": str(backup)})
    assert not verified.get("failed"), verified.get("msg")
    assert verified["changed"] is False
    assert verified["problems"] == []
    assert all(a["ok"] for a in verified["artifacts"])
    assert verified["manifest"]["id"] == created["manifest"]["id"]


def test_create_refuses_an_incomplete_backup(tmp_path: Path, fingerprint: str) -> None:
    backup = make_backup(tmp_path)
    (backup / "nodes.tar.gz").unlink()
    result = run_module(MODULE, manifest_args(backup, fingerprint))[0]
    assert result.get("failed")
    assert "'nodes' (nodes.tar.gz) does not exist" in result["msg"]
    assert "written only once every artifact is complete" in result["msg"]
    assert not (backup / "manifest.json").exists()


def test_create_refuses_a_key_instead_of_a_fingerprint(tmp_path: Path) -> None:
    backup = make_backup(tmp_path)
    result, run = run_module(MODULE, manifest_args(backup, KEY))
    assert result.get("failed")
    assert "not a key fingerprint" in result["msg"]
    assert KEY not in result["msg"]
    assert not (backup / "manifest.json").exists()


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGES = {
    "flipped": (lambda b: _flip_byte(b / "database.sqlite"), "artifact 'database' (database.sqlite): checksum mismatch"),
    "truncated": (lambda b: (b / "nodes.tar.gz").write_bytes((b / "nodes.tar.gz").read_bytes()[:100]), "artifact 'nodes' (nodes.tar.gz): size mismatch"),
    "missing": (lambda b: shutil.rmtree(b / "binary"), "artifact 'binary_data' (binary): missing"),
    "newer": (
        lambda b: (b / "manifest.json").write_text(json.dumps(dict(json.loads((b / "manifest.json").read_text()), schema_version=99))),
        "schema_version 99, newer than the 1 this lifeboat.n8n",
    ),
    "truncated_manifest": (
        lambda b: (b / "manifest.json").write_bytes((b / "manifest.json").read_bytes()[:300]),
        "is not valid JSON at line",
    ),
    "no_manifest": (lambda b: (b / "manifest.json").unlink(), "the file does not exist"),
}


def test_verification_refuses_every_kind_of_damage(tmp_path: Path, fingerprint: str) -> None:
    # One backup per damage; the manifests are written and verified in one playbook run each
    # (a loop, ignore_errors on verification), as a role would.
    dirs = {name: make_backup(tmp_path / name) for name in DAMAGES}
    args = manifest_args(Path("/unused"), fingerprint)
    args.pop("backup_dir")
    args["artifacts"] = [dict(a, path=os.path.basename(a["path"])) for a in args["artifacts"]]
    play = _save_play(
        [{"name": "Write a manifest for each backup", MODULE: dict(args, backup_dir="{{ item }}"), "loop": [str(d) for d in dirs.values()]}],
    )
    run = run_playbook(_write(tmp_path, play))
    assert run.ok, run.log[-3000:]
    for name, (damage, _message) in DAMAGES.items():
        damage(dirs[name])

    verify = _save_play(
        [
            {
                "name": "Verify each backup",
                MODULE: {"state": "verified", "backup_dir": "{{ item }}"},
                "loop": [str(dirs[name]) for name in DAMAGES],
                "register": "verified",
                "ignore_errors": True,
            }
        ],
        "verified",
    )
    run = run_playbook(_write(tmp_path, verify))
    results = run.results["verified"]["results"]
    assert len(results) == len(DAMAGES)
    for (name, (_damage, expected)), result in zip(DAMAGES.items(), results):
        assert result.get("failed") is True, name
        assert expected in result["msg"], (name, result["msg"])
        if name in ("flipped", "truncated", "missing"):
            assert "This backup must not be restored" in result["msg"], name
            assert len(result["problems"]) == 1, (name, result["problems"])
            assert result["manifest"]["schema_version"] == 1
        elif name == "newer":
            assert "Upgrade lifeboat.n8n" in result["msg"]
        else:
            assert "Do not restore this backup" in result["msg"] or "incomplete" in result["msg"]


def test_verification_is_read_only_in_check_mode(tmp_path: Path, fingerprint: str) -> None:
    backup = make_backup(tmp_path)
    run_module(MODULE, manifest_args(backup, fingerprint))
    before = {p: p.stat().st_mtime_ns for p in backup.rglob("*")}
    result = run_module(MODULE, {"state": "verified", "backup_dir": str(backup)}, check=True)[0]
    assert not result.get("failed") and result["changed"] is False
    assert {p: p.stat().st_mtime_ns for p in backup.rglob("*")} == before


# ------------------------------------------------------------------------- the filters


def test_filters_in_a_playbook(tmp_path: Path, fingerprint: str) -> None:
    backup = make_backup(tmp_path)
    created = run_module(MODULE, manifest_args(backup, fingerprint))[0]
    assert created["changed"], created.get("msg")

    # The key comes from Ansible Vault, as it does in the escrow role.
    vault_pass = tmp_path / "vault-pass"
    vault_pass.write_text("integration-vault-password\n")
    vaulted = subprocess.run(
        ["ansible-vault", "encrypt_string", "--vault-password-file", str(vault_pass), "--name", "n8n_key", "--stdin-name", "n8n_key"],
        input=KEY, capture_output=True, text=True, check=True,
    ).stdout
    vars_file = tmp_path / "vault.yml"
    vars_file.write_text(vaulted)

    live = [
        {"id": "wf-echo", "name": "Echo", "active": False, "version_id": "draft-1", "active_version_id": None},
        {"id": "wf-tick", "name": "Tick", "active": True, "version_id": "v-tick"},
        {"id": "wf-idle", "name": "Idle", "active": True, "version_id": "v-idle"},
        {"id": "wf-new", "name": "Created after the backup", "active": True, "version_id": "v-new"},
    ]
    tasks = [
        {"name": "Read the manifest the module wrote", "ansible.builtin.slurp": {"src": str(backup / "manifest.json")}, "register": "__raw"},
        {"ansible.builtin.set_fact": {"manifest": "{{ __raw.content | b64decode | from_json }}"}},
        {
            "name": "Run every filter",
            "ansible.builtin.set_fact": {
                "parity_forward": "{{ manifest.n8n | lifeboat.n8n.version_parity({'version': '2.41.0'}) }}",
                "parity_down": "{{ manifest.n8n | lifeboat.n8n.version_parity('2.38.7') }}",
                "parity_cross": "{{ '1.123.81' | lifeboat.n8n.version_parity('2.40.7', {'allow_cross_major': true}) }}",
                "drift": "{{ manifest.env | lifeboat.n8n.env_drift(target_env) }}",
                "fp": "{{ n8n_key | lifeboat.n8n.key_fingerprint }}",
            },
        },
        {"ansible.builtin.set_fact": {"plan": "{{ manifest.workflows | lifeboat.n8n.trigger_plan(live, drift) }}"}},
        {"ansible.builtin.set_fact": {"activation": "{{ plan | lifeboat.n8n.activation_workflows }}"}},
        {
            "name": "The key matches the backup",
            "ansible.builtin.assert": {"that": "fp == manifest.key.fingerprint", "fail_msg": "The escrowed key is not the backup's key."},
        },
        {
            "name": "A bad key value fails without showing it",
            "ansible.builtin.set_fact": {"bad": "{{ {'k': n8n_key} | lifeboat.n8n.key_fingerprint }}"},
            "ignore_errors": True,
            "register": "bad_key",
        },
        {
            "name": "A plan with a missing workflow refuses to activate",
            "ansible.builtin.set_fact": {"bad": "{{ manifest.workflows | lifeboat.n8n.trigger_plan(live[1:]) | lifeboat.n8n.activation_workflows }}"},
            "ignore_errors": True,
            "register": "bad_plan",
        },
    ]
    names = ("parity_forward", "parity_down", "parity_cross", "drift", "fp", "plan", "activation", "bad_key", "bad_plan")
    play = _save_play(tasks, *names, vars_files=[str(vars_file)])
    play[0]["vars"] = {
        # The target's environment holds the key itself (from Vault): env_drift must not leak it.
        "target_env": {
            "WEBHOOK_URL": "https://new.example.com/",
            "GENERIC_TIMEZONE": "Europe/Berlin",
            "N8N_PORT": 5678,
            "N8N_ENCRYPTION_KEY": "{{ n8n_key }}",  # not trigger-relevant: ignored
            "QUEUE_BULL_REDIS_PASSWORD": "{{ n8n_key }}",  # trigger-relevant and secret: reported redacted
        },
    }
    run = run_playbook(_write(tmp_path, play), extra_vars={"live": live}, verbosity=3, args=["--vault-password-file", str(vault_pass)])
    assert run.ok, run.log[-4000:]
    assert KEY not in run.log
    r = run.results

    assert (r["parity_forward"]["verdict"], r["parity_forward"]["allowed"]) == ("forward", True)
    assert (r["parity_down"]["verdict"], r["parity_down"]["allowed"]) == ("downgrade", False)
    assert "n8n does not refuse a downgrade" in r["parity_down"]["reason"]
    assert (r["parity_cross"]["verdict"], r["parity_cross"]["allowed"]) == ("cross_major", True)

    assert r["drift"]["webhooks_affected"] is True and r["drift"]["schedules_affected"] is False
    assert [(e["name"], e["change"], e["target"]) for e in r["drift"]["drift"]] == [
        ("QUEUE_BULL_REDIS_PASSWORD", "added", "<redacted>"),
        ("WEBHOOK_URL", "changed", "https://new.example.com/"),
    ]

    assert r["fp"] == fingerprint

    assert [(e["id"], e["action"]) for e in r["plan"]] == [
        ("wf-idle", "deactivate"),
        ("wf-echo", "toggle"),
        ("wf-tick", "toggle"),
        ("wf-new", "skip"),
    ]
    assert "env drift touches webhooks" in r["plan"][1]["reasons"]
    assert r["activation"] == [
        {"id": "wf-idle", "active": False, "version_id": None, "toggle": False},
        {"id": "wf-echo", "active": True, "version_id": "pub-1", "toggle": True},
        {"id": "wf-tick", "active": True, "version_id": None, "toggle": True},  # no published version: the current one
    ]

    assert r["bad_key"]["failed"] is True
    assert "got a value of type dict" in r["bad_key"]["msg"]
    assert r["bad_plan"]["failed"] is True
    assert "wf-echo (in the backup but missing from the restored instance" in r["bad_plan"]["msg"]
