"""n8n_workflow_export against real n8n: complete, deterministic, diffable, no secrets.

One n8n per case (each pinned version on SQLite, the newest also on PostgreSQL); every
step goes through ansible-playbook (run_module), as users run it:

1. check mode counts the seeded workflows and writes nothing;
2. the export holds every seeded workflow; on 2.x the 'Lifeboat echo' file carries the
   seeded published version (activeVersionId and its nodes) beside the draft;
3. n8n keeps running its 15 s schedule trigger; a second export is byte-identical and an
   export into the same dest reports changed=false;
4. one workflow edited through the public API (PUT): the next export's diff names exactly
   that workflow and the edited node;
5. n8n stopped: the exported ids equal those of n8n's own `export:workflow --all`;
6. a folder (written into the database: folders need a licence through the API) shows up
   as a path of names and as a `folder` change.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from n8n_harness import N8nInstance, Seeded, pinned_versions, seed
from n8n_harness.ansible import run_module
from n8n_harness.matrix import covering_versions
from n8n_harness.seed import _update, inactive_workflow

MODULE = "lifeboat.n8n.n8n_workflow_export"
VERSIONS = pinned_versions()
CASES = [(version, "sqlite") for version in covering_versions()] + [(VERSIONS[0], "postgres")]
SALTED_PREFIX = "U2FsdGVkX1"  # base64 of "Salted__": the start of every encrypted credential blob


def export(instance: N8nInstance, dest: Path, check: bool = False, **options: Any) -> dict[str, Any]:
    args = {"database": instance.database_option(), "dest": str(dest), **{k: str(v) for k, v in options.items()}}
    result, run = run_module(MODULE, args, check=check)
    assert not result.get("failed"), result.get("msg") or run.log[-3000:]
    return result


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def workflow_file(dest: Path, workflow_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((dest / "workflows" / f"{workflow_id}.json").read_text())
    return data


def execute_sql(instance: N8nInstance, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Write into a stopped n8n's database (test setup only)."""
    if instance.postgres:
        cfg = instance.postgres
        with psycopg.connect(host=cfg.host, port=cfg.port, dbname=cfg.database, user=cfg.user, password=cfg.password) as conn:
            for statement, params in statements:
                conn.execute(statement.replace("?", "%s"), params)
        return
    with sqlite3.connect(instance.sqlite_path) as conn:
        for statement, params in statements:
            conn.execute(statement, params)


def tick_executions(instance: N8nInstance, workflow_id: str) -> int:
    return len(instance.api("GET", "/executions", params={"workflowId": workflow_id, "limit": 250})["data"])


def wait_for_ticks(instance: N8nInstance, workflow_id: str, ticks: int = 2, timeout: float = 90.0) -> None:
    """Let the schedule trigger fire (and save its executions) ``ticks`` more times."""
    start = tick_executions(instance, workflow_id)
    deadline = time.monotonic() + timeout
    while tick_executions(instance, workflow_id) < start + ticks:
        assert time.monotonic() < deadline, f"the schedule trigger did not fire {ticks} times in {timeout:.0f} s"
        time.sleep(2)


def edit_done_node(instance: N8nInstance, seeded: Seeded) -> str:
    """PUT 'Lifeboat inactive' with a note on its 'Done' node, all else as seeded (node ids kept)."""
    workflow_id = seeded.workflows["Lifeboat inactive"]
    existing = instance.api("GET", f"/workflows/{workflow_id}")
    edited = inactive_workflow(seeded.credentials["Lifeboat basic"])
    for node in edited["nodes"]:
        if node["name"] == "Done":
            node["notes"] = "edited by the lifeboat export test"
    _update(instance, existing, edited)
    return workflow_id


@pytest.mark.parametrize(("version", "db"), CASES, ids=[f"{v}-{d}" for v, d in CASES])
def test_workflow_export_against_real_n8n(n8n_factory, tmp_path: Path, version: str, db: str) -> None:
    instance = n8n_factory(version, db)
    instance.start(timeout=300)  # the 2 cores are shared: starts take minutes under load
    seeded = seed(instance)
    ids = set(seeded.workflows.values())
    tick_id = seeded.workflows["Lifeboat tick"]
    tags = [instance.api("POST", "/tags", json={"name": name}, expect=(200, 201)) for name in ("nightly", "audit")]
    instance.api("PUT", f"/workflows/{tick_id}/tags", json=[{"id": tag["id"]} for tag in tags])
    out = tmp_path / "exports"
    out.mkdir()

    # 1. Check mode: counted, nothing written.
    checked = export(instance, out / "one", check=True)
    assert (checked["changed"], checked["count"]) == (True, 4)
    assert not (out / "one").exists()

    # 2. The export.
    one = export(instance, out / "one")
    assert one["changed"] is True
    assert {entry["id"] for entry in one["index"]} == ids
    assert one["diff"] is None and one["diff_path"] is None
    files = tree(out / "one")
    assert sorted(files) == ["index.json"] + sorted(f"workflows/{i}.json" for i in ids)
    everything = b"".join(files.values())
    for secret in [*seeded.secrets, str(instance.encryption_key), SALTED_PREFIX]:
        assert secret.encode() not in everything
    assert b"staticData" not in everything and b"updatedAt" not in everything and b"triggerCount" not in everything

    tick = workflow_file(out / "one", tick_id)
    assert tick["tags"] == ["audit", "nightly"]
    assert tick["project"] == "Life Boat <owner@lifeboat.test>"
    echo_id = seeded.workflows["Lifeboat echo"]
    echo = workflow_file(out / "one", echo_id)
    compute = {n["name"]: n for n in echo["nodes"]}["Compute"]["parameters"]["jsCode"]
    credentials = {n["name"]: n for n in echo["nodes"]}["Webhook"]["credentials"]
    assert credentials == {"httpHeaderAuth": {"id": seeded.credentials["Lifeboat token"], "name": "Lifeboat token"}}
    if instance.major >= 2:
        assert echo["activeVersionId"] == seeded.echo_published_version_id
        assert echo["versionId"] == seeded.echo_draft_version_id
        assert echo["published"]["versionId"] == seeded.echo_published_version_id
        published = {n["name"]: n for n in echo["published"]["nodes"]}["Compute"]["parameters"]["jsCode"]
        assert "version: 'published'" in published
        assert "version: 'draft'" in compute
        assert echo["published"]["connections"] == echo["connections"]
    else:
        assert echo["activeVersionId"] == echo["versionId"] == seeded.echo_published_version_id
        assert "published" not in echo
        assert "version: 'published'" in compute

    # 3. n8n keeps running its schedule trigger: nothing in the export moves.
    wait_for_ticks(instance, tick_id)
    again = export(instance, out / "one")
    assert again["changed"] is False
    two = export(instance, out / "two", previous=out / "one")
    assert two["diff"] == {"added": [], "removed": [], "changed": [], "unchanged": 4}
    two_files = tree(out / "two")
    assert two_files.pop("diff.txt").decode().splitlines()[-1] == "# added: 0, removed: 0, changed: 0, unchanged: 4"
    assert two_files == files

    # 4. One workflow edited through the API.
    edited_id = edit_done_node(instance, seeded)
    three = export(instance, out / "three", previous=out / "two")
    assert three["diff"]["added"] == three["diff"]["removed"] == []
    assert three["diff"]["unchanged"] == 3
    (changed,) = three["diff"]["changed"]
    assert (changed["id"], changed["name"]) == (edited_id, "Lifeboat inactive")
    assert (changed["nodes_changed"], changed["nodes_added"], changed["nodes_removed"]) == (["Done"], [], [])
    assert changed["fields"] == ["nodes", "versionId"]
    diff_text = (out / "three" / "diff.txt").read_text()
    assert f"--- previous/workflows/{edited_id}.json" in diff_text
    assert '+      "notes": "edited by the lifeboat export test",' in diff_text

    # 5. n8n's own export lists the same workflows.
    instance.stop()
    cli_file = tmp_path / "n8n-export.json"
    instance.cli("export:workflow", "--all", f"--output={cli_file}")
    assert {w["id"] for w in json.loads(cli_file.read_text())} == {entry["id"] for entry in three["index"]} == ids

    # 6. Folders (their API needs a licence): a nested folder written into the database.
    in_project = 'SELECT ?, ?, %s, "projectId" FROM shared_workflow WHERE "workflowId" = ?'
    execute_sql(
        instance,
        [
            ('INSERT INTO folder (id, name, "parentFolderId", "projectId") ' + in_project % "NULL", ("lbfolder1", "Clients", tick_id)),
            ('INSERT INTO folder (id, name, "parentFolderId", "projectId") ' + in_project % "?", ("lbfolder2", "Acme", "lbfolder1", tick_id)),
            ('UPDATE workflow_entity SET "parentFolderId" = ? WHERE id = ?', ("lbfolder2", tick_id)),
        ],
    )
    four = export(instance, out / "four", previous=out / "three")
    assert workflow_file(out / "four", tick_id)["folder"] == ["Clients", "Acme"]
    assert [(c["id"], c["fields"]) for c in four["diff"]["changed"]] == [(tick_id, ["folder"])]
