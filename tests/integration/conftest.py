"""Fixtures that give tests real, pinned n8n instances (see harness/n8n_harness)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.nodeid import coerce_node_id  # pytest 9's node id parser (see _apply_xdist_groups)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "harness"))

from n8n_harness import N8nInstance, pinned_versions  # noqa: E402
from n8n_harness import postgres as pg  # noqa: E402
from n8n_harness.installs import is_installed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reliability_tally  # noqa: E402

VERSIONS = pinned_versions()
LATEST = VERSIONS[0]
V1 = next(v for v in VERSIONS if v.startswith("1."))
DB_KINDS = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    # The reliability suite's tally, printed by whichever process prints the summary.
    if not config.pluginmanager.has_plugin("lifeboat-reliability-tally"):
        config.pluginmanager.register(reliability_tally, "lifeboat-reliability-tally")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A missing install or database is a setup error, not a reason to skip: fail loudly.
    for version in VERSIONS:
        if not is_installed(version):
            raise pytest.UsageError(f"n8n {version} is not installed: run scripts/setup.sh n8n")
    _apply_xdist_groups(config, items)


def _apply_xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` keep each ``xdist_group`` on one worker again.

    pytest-xdist 3.8 groups tests by appending ``@<group>`` to ``item._nodeid``; pytest 9 keeps
    the node id in ``item._id``, so the suffix is silently lost and groups are scattered over the
    workers like ``--dist load`` (fixtures shared by a group are then built on every worker).
    Remove this once the pinned pytest-xdist sets the id pytest 9 reads.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def pg_available() -> bool:
    if not pg.available():
        raise pytest.UsageError(f"PostgreSQL is not reachable at {pg.admin_dsn()}: run scripts/setup.sh postgres")
    return True


class InstanceFactory:
    """Builds (does not start) isolated instances; the fixture stops and drops them all."""

    def __init__(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.tmp_path = tmp_path
        self.request = request
        self.instances: list[N8nInstance] = []
        self.databases: list[pg.PostgresConfig] = []

    def __call__(
        self, version: str = LATEST, db: str = "sqlite", name: str | None = None, **kwargs: Any
    ) -> N8nInstance:
        postgres = kwargs.pop("postgres", None)
        if db == "postgres" and postgres is None:
            self.request.getfixturevalue("pg_available")
            postgres = pg.create_database()
            self.databases.append(postgres)
        base = self.tmp_path / (name or f"n8n-{len(self.instances)}")
        base.mkdir(parents=True, exist_ok=True)
        instance = N8nInstance(version=version, base_dir=base, postgres=postgres, **kwargs)
        self.instances.append(instance)
        return instance

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
        for database in self.databases:
            pg.drop_database(database)


@pytest.fixture
def n8n_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[InstanceFactory]:
    factory = InstanceFactory(tmp_path, request)
    yield factory
    factory.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    # On failure, show each instance's log tail: the first thing anyone asks for.
    if call.when == "call" and call.excinfo is not None:
        factory = getattr(item, "funcargs", {}).get("n8n_factory")
        for instance in getattr(factory, "instances", []):
            item.add_report_section("call", f"n8n {instance.version} log", instance.log_tail(40))


os.environ.setdefault("LIFEBOAT_ROOT", str(ROOT))
