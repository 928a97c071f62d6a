"""The tally of the reliability and security suite (issue #6), as a pytest plugin.

tests/integration/conftest.py registers it, so the tally prints whether the suite runs alone
(``pytest tests/integration/reliability``) or inside the integration stage. It lives here and not
in reliability/conftest.py because with xdist only the controller prints the summary, and the
controller loads the conftests of the paths it was given, never those of subfolders.
Tests say which case they prove with ``@pytest.mark.reliability_case("N")``; the reliability
conftest turns that into a ``reliability-case=N`` keyword, which travels with each report from
the workers to the controller.
"""

from __future__ import annotations

from typing import Any

import pytest

# The cases of issue #6, for the tally printed at the end of a run (README, "Reliability and security").
CASES = {
    "1": "dump process killed mid-way",
    "2": "backup destination full",
    "3": "execution outlasts the drain timeout",
    "4": "damaged backup (flipped byte, truncation, missing artifact, newer manifest)",
    "5": "wrong escrowed key, env key disagrees with .n8n/config",
    "6": "version skew (downgrade, cross-major)",
    "7": "restore fails after the safety snapshot",
    "8": "two backups at once",
    "9": "host unreachable, wrong PostgreSQL credentials",
    "10": "re-running a backup, restore or escrow",
    "S": "secrets in logs, archive, manifest, controller folder; file modes; escrow vault",
    "E": "encryption at rest",
}


_TALLY: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    case = next((str(kw).split("=", 1)[1] for kw in report.keywords if str(kw).startswith("reliability-case=")), None)
    counted = report.when == "call" or (report.when == "setup" and report.outcome != "passed")
    if case is None or not counted:
        return
    entry = _TALLY.setdefault(case, {"tried": 0, "passed": 0})
    entry["tried"] += 1
    entry["passed"] += int(report.outcome == "passed")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TALLY:
        return
    terminalreporter.section("reliability tally (issue #6)")
    tried = passed = 0
    for case in sorted(_TALLY, key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c)):
        entry = _TALLY[case]
        tried += entry["tried"]
        passed += entry["passed"]
        terminalreporter.write_line(f"{case:>3}  {entry['passed']:>2}/{entry['tried']:<2}  {CASES.get(case, '')}")
    terminalreporter.write_line(f"all  {passed}/{tried} passed")
