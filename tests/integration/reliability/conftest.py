"""Fixtures of the reliability and security suite (issue #6); its tally: ../reliability_tally.py.

Each case injects a real fault into a real deployment and checks what a user relies on:
a clear error that says what to do, n8n left running (or running again), no backup marked
complete that is not, the target untouched or rolled back, and no secret anywhere.

Two *worlds* (reliability_world.World) are built once per worker and shared by the cases that
can honestly share them (each case leaves its world serving, as it found it):

* ``sqlite_world``: n8n 2.40.7 on SQLite, seeded, with one plain backup (and the key escrow)
  taken through playbooks/backup.yml at -vvv. Backup faults are marked
  ``xdist_group("reliability-sqlite")``, restore faults and the secrets checks
  ``xdist_group("reliability-sqlite-restore")``: two groups that xdist may hand to two workers,
  each of which then builds its own SQLite world (a world is per worker).
* ``pg_world``: n8n 2.40.7 on PostgreSQL with 40k generated executions (~45 MB of execution
  data: pg_dump -Z1 runs ~2 s on this 2-core machine, long enough to be killed mid-way once it
  has written 1 MiB, short enough that every dump and restore of the world stays cheap).
  Tests marked ``xdist_group("reliability-pg")``.

Run with ``pytest tests/integration/reliability -n 2``: with ``-n``, this conftest makes xdist
keep each group on one worker (``--dist loadgroup``, what scripts/test.sh passes anyway).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_world import World, close_world, generate_executions, make_world, newest  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability_case(case): the issue #6 case a test proves (for the tally)")
    # -n without --dist hands tests to workers one by one; the worlds are per worker, so keep
    # each xdist_group on one worker (scripts/test.sh passes --dist loadgroup already).
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A keyword travels with the test's reports from xdist workers to the controller.
    for item in items:
        marker = item.get_closest_marker("reliability_case")
        if marker is not None:
            item.keywords[f"reliability-case={marker.args[0]}"] = True


# Measured (2 cores, loaded): 40k rows dump in 2.2 s with -Z1 (24 MB); 150k took ~8 s per dump
# and made every PostgreSQL backup and restore of the suite ~4x slower for no better kill.
PG_WORLD_EXECUTIONS = 40_000


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    # On failure, the n8n log tail of the world the test used: the first thing anyone asks for.
    if call.when == "call" and call.excinfo is not None:
        for name in ("sqlite_world", "pg_world"):
            world = getattr(item, "funcargs", {}).get(name)
            if isinstance(world, World):
                item.add_report_section("call", f"n8n log ({world.name})", world.instance.log_tail(40))


# --------------------------------------------------------------------------- worlds


@pytest.fixture(scope="session")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = make_world(tmp_path_factory.mktemp("rel-sqlite"), "sq", "sqlite")
    try:
        run = world.run("backup.yml")
        assert run.ok, run.log[-6000:]
        world.backup_run = run
        world.backup = newest(world.fetched_root)
        yield world
    finally:
        close_world(world)


@pytest.fixture(scope="session")
def pg_world(tmp_path_factory: pytest.TempPathFactory, pg_available: bool) -> Iterator[World]:
    # No pruning: n8n would otherwise soft-delete the generated history while the cases run.
    world = make_world(tmp_path_factory.mktemp("rel-pg"), "pgs", "postgres", extra_env={"EXECUTIONS_DATA_PRUNE": "false"})
    try:
        assert world.postgres is not None
        generate_executions(world.postgres, PG_WORLD_EXECUTIONS)
        yield world
    finally:
        close_world(world)


@pytest.fixture
def pg_backup(pg_world: World) -> Path:
    """A good backup of the PostgreSQL world (the one case 1 takes after the kill, or a new one)."""
    if pg_world.backup is None or not pg_world.backup.exists():
        run = pg_world.run("backup.yml")
        assert run.ok, run.log[-6000:]
        pg_world.backup = newest(pg_world.fetched_root)
    return pg_world.backup


@pytest.fixture(scope="session")
def encrypted_backup(sqlite_world: World) -> Path:
    """A backup of the SQLite world encrypted at rest (backup_archive_passphrase)."""
    world = sqlite_world
    before = set(world.complete_backups())
    run = world.run("backup.yml", host_extra={"backup_archive_passphrase": world.archive_passphrase})
    assert run.ok, run.log[-6000:]
    world.encrypted_backup_run = run
    new = [p for p in world.complete_backups() if p not in before and p.parent == world.fetched_root]
    assert len(new) == 1, new
    return new[0]
