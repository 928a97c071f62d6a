"""Which n8n version x database combinations a test run covers.

Every combination of the pinned versions and both databases is the *full* matrix
(``LIFEBOAT_FULL_MATRIX=1``). ``make test`` runs a covering subset instead, so CI stays inside
its time budget on two cores: every n8n *major* once (its newest pinned version), both databases
on the newest version, SQLite (n8n's default) below it. Versions of one major share their schema
lineage and cipher, so a second 2.x adds little to a module test; the pinned 2.38.7 is there for
version skew (a downgrade, a forward migration), which the tests that need it list explicitly
(tests/integration/reliability, test_reencrypt.py, the Molecule version_skew scenario).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from .installs import pinned_versions

DB_KINDS = ("sqlite", "postgres")


def full_matrix() -> bool:
    """True when the run asks for every combination (LIFEBOAT_FULL_MATRIX=1)."""
    return os.environ.get("LIFEBOAT_FULL_MATRIX", "0") == "1"


def newest_of_each_major(versions: Iterable[str]) -> list[str]:
    """The newest version of every major among ``versions`` (given newest first), in that order.

    >>> newest_of_each_major(["2.40.7", "2.38.7", "1.123.81"])
    ['2.40.7', '1.123.81']
    """
    seen: set[str] = set()
    newest: list[str] = []
    for version in versions:
        major = version.split(".", 1)[0]
        if major not in seen:
            seen.add(major)
            newest.append(version)
    return newest


def covering_versions(versions: Iterable[str] | None = None) -> list[str]:
    """The versions a per-version test runs: all of them in a full run, else each major's newest."""
    ordered = list(versions if versions is not None else pinned_versions())
    return ordered if full_matrix() else newest_of_each_major(ordered)


def covering_cases(versions: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Each major once, the newest version on both databases, alternating databases below it.

    >>> covering_cases(["2.40.7", "2.38.7", "1.123.81"])
    [('2.40.7', 'sqlite'), ('2.40.7', 'postgres'), ('1.123.81', 'sqlite')]
    """
    ordered = newest_of_each_major(versions if versions is not None else pinned_versions())
    if not ordered:
        return []
    cases = [(ordered[0], "sqlite"), (ordered[0], "postgres")]
    for index, version in enumerate(ordered[1:]):
        cases.append((version, "sqlite" if index % 2 == 0 else "postgres"))
    return cases


def every_case(versions: Iterable[str]) -> list[tuple[str, str]]:
    """Every version on every database: the full matrix of ``versions``.

    >>> every_case(["2.40.7", "1.123.81"])
    [('2.40.7', 'sqlite'), ('2.40.7', 'postgres'), ('1.123.81', 'sqlite'), ('1.123.81', 'postgres')]
    """
    return [(version, db) for version in versions for db in DB_KINDS]


def version_db_cases(versions: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """The version x database cases of this run: all of them, or the covering subset."""
    ordered = list(versions if versions is not None else pinned_versions())
    return every_case(ordered) if full_matrix() else covering_cases(ordered)


def pick(every: Iterable[tuple[str, str]], covering: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """A test's own cases: ``every`` in a full run, ``covering`` otherwise."""
    return list(every) if full_matrix() else list(covering)


def role_cases(newest: str, oldest: str) -> list[tuple[str, str]]:
    """Cases of a whole-role test (native backup and restore, key rotation), the costliest kind.

    A full run takes both databases on both versions; otherwise each version and each database
    runs once: the newest on PostgreSQL, the oldest on SQLite.

    >>> role_cases("2.40.7", "1.123.81")
    [('2.40.7', 'postgres'), ('1.123.81', 'sqlite')]
    """
    return pick(every_case((newest, oldest)), [(newest, "postgres"), (oldest, "sqlite")])


def restore_cases(newest: str, oldest: str) -> list[tuple[str, str]]:
    """Cases of the native backup-then-restore test: both versions on PostgreSQL.

    The SQLite restore path is the same on every version and is proven on the newest by the
    Molecule scenarios and ``make demo``; the oldest version's SQLite schema by the module tests
    and key rotation. PostgreSQL on the oldest version has no other end-to-end proof.

    >>> restore_cases("2.40.7", "1.123.81")
    [('2.40.7', 'postgres'), ('1.123.81', 'postgres')]
    """
    return pick(every_case((newest, oldest)), [(newest, "postgres"), (oldest, "postgres")])


def case_ids(cases: Iterable[tuple[str, str]]) -> list[str]:
    """pytest ids for version x database cases ("2.40.7-sqlite")."""
    return [f"{version}-{db}" for version, db in cases]
