"""The benchmark report's pure logic: medians, ratios, goals, growth and rendering (no timing asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench import report  # noqa: E402
from bench.stats import Goal, growth, median, ratio, scaling, verdict  # noqa: E402


@pytest.mark.parametrize(
    ("values", "expected"),
    [([], None), (None, None), ([3.0], 3.0), ([3.0, 1.0, 2.0], 2.0), ([1.0, 2.0, 3.0, 10.0], 2.5)],
)
def test_median(values, expected):
    assert median(values) == expected


@pytest.mark.parametrize(
    ("value", "baseline", "expected"),
    [(1.0, 2.0, 0.5), (None, 2.0, None), (1.0, None, None), (1.0, 0.0, None), (3.0, 1.5, 2.0)],
)
def test_ratio(value, baseline, expected):
    assert ratio(value, baseline) == expected


@pytest.mark.parametrize(
    ("goal", "value", "expected"),
    [
        (Goal("<=", 0.55), 0.5, "pass"),
        (Goal("<=", 0.55), 0.55, "pass"),
        (Goal("<=", 0.55), 0.56, "**miss**"),
        (Goal(">=", 20000), 25000.0, "pass"),
        (Goal(">=", 20000), 100.0, "**miss**"),
        (Goal("<=", 1.2), None, "n/m"),
    ],
)
def test_verdict(goal, value, expected):
    assert verdict(goal, value) == expected


def test_goal_text():
    assert str(Goal("<=", 0.55)) == "≤ 0.55"
    assert str(Goal(">=", 20000)) == "≥ 20000"


def test_unknown_goal_operator():
    with pytest.raises(ValueError, match="operator"):
        Goal("<", 1).met(0.5)


def test_growth_and_scaling():
    assert growth(2.0, 20.0) == 10.0
    assert scaling(10.0, 100.0) == 0.1
    assert scaling(None, 100.0) is None


def _site(db: str, size: str, scale: float) -> dict:
    pg = db == "postgres"
    base = report.PG_BASELINE if pg else report.SQLITE_BASELINE
    same = report.PG_SAME_FORMAT[0] if pg else report.SQLITE_SAME_FORMAT[1]
    return {
        "db": db, "size": size, "runs": 3, "export_runs": 3, "db_bytes": int(100e6 * scale), "generate_s": 1.0,
        "spec": {"executions": int(10_000 * scale), "workflows": 1000, "credentials": 2000},
        "load_before": [1.0, 1.0, 1.0], "load_after": [2.0, 2.0, 2.0], "measured_at": "now", "minutes": 1,
        "samples": {
            "col.dump_step": [1.0 * scale, 1.2 * scale, 0.8 * scale],
            "raw:" + base: [2.0 * scale] * 3,
            "raw:" + same: [0.9 * scale] * 3,
            "col.downtime": [10.0], "bare.cycle": [9.0],
            "col.backup_wall": [20.0], "export.entities": [100.0 * scale],
            "col.restore_registered": [30.0], "raw.restore": [5.0], "bare.start_registered": [20.0],
            "keycheck.rate": [30000.0],
        },
        "sizes": {"col.database_artifact": [50e6], "raw:" + base: [40e6]},
        "tasks": {"backup": {"a task": [1.0, 2.0]}, "restore": {}},
    }


def test_figure_rows_ratios_and_verdicts():
    rows = {(r[0], r[3]): r for r in report.figure_rows(_site("postgres", "10k", 1.0))}
    dump_vs_default = rows[("database dump step", "`pg_dump -Fc` defaults")]
    assert dump_vs_default[5] == "0.50" and dump_vs_default[7] == "pass"
    dump_vs_same = rows[("database dump step", "`pg_dump -Fc -Z1 (the role's options)`")]
    assert dump_vs_same[5] == "1.11" and dump_vs_same[7] == "**miss**"
    assert rows[("whole backup (backup.yml, key escrow included)", "`n8n export:entities --includeExecutionHistoryDataTables`")][7] == "miss".join(
        ["**", "**"])
    restore = next(r for r in rows.values() if r[0].startswith("restore"))
    assert restore[4] == "25.0 s" and restore[5] == "1.20" and restore[7] == "pass"
    assert not any(r[0].startswith("small") for r in rows.values())


def test_small_instance_rows_only_for_the_small_size():
    names = [r[0] for r in report.figure_rows(_site("sqlite", "small", 0.1))]
    assert "small instance: whole backup playbook" in names and "small instance: backup downtime" in names


def test_render_has_every_section():
    results = {"machine": {"cpu": "test cpu", "cores": 2},
               "sites": {"postgres/10k": _site("postgres", "10k", 1.0), "postgres/100k": _site("postgres", "100k", 10.0),
                         "sqlite/10k": _site("sqlite", "10k", 1.0)}}
    text = report.render(results)
    assert "# Benchmarks" in text and "test cpu" in text
    assert "## 10K executions" in text and "## 100K executions" in text and "## 1M" not in text
    assert "## Growth with the data" in text and "10k -> 100k" in text
    assert "## Where the time goes" in text
    assert text.endswith("\n")


def test_render_without_results():
    assert report.render({"sites": {}}).startswith("# Benchmarks")


def test_shared_line_names_busy_and_idle_sites():
    sites = {"sqlite/small": {"load_before": [0.2, 1.9, 4.7]}, "postgres/10k": {"load_before": [20.0, 16.2, 11.2]}, "x/1m": {}}
    line = report.shared_line(sites, 2)
    assert "postgres/10k measured while other test suites ran" in line and "above 2 when" in line
    assert "sqlite/small, x/1m measured on an otherwise idle machine" in line
    assert "idle" not in report.shared_line({"a": {"load_before": [9.0]}}, 2)


def test_a_stopped_export_gives_an_upper_bound_ratio():
    site = _site("sqlite", "1m", 1.0)
    site["samples"]["export.entities"] = [1200.0]
    site["samples"]["col.backup_wall"] = [110.0]
    site["samples"]["export.entities_cut"] = [1.0]
    row = next(r for r in report.figure_rows(site) if r[0].startswith("whole backup"))
    assert row[4] == "> 1200.0 s (stopped)" and row[5] == "< 0.09" and row[7] == "pass"
    # An upper bound above the goal proves nothing either way.
    site["samples"]["col.backup_wall"] = [600.0]
    row = next(r for r in report.figure_rows(site) if r[0].startswith("whole backup"))
    assert row[5] == "< 0.50" and row[7] == "n/m"
    assert "> " in report.size_section({"sites": {"sqlite/1m": site}}, "1m")


def test_variants_section_lines_up_every_size():
    results = {"sites": {"postgres/10k": _site("postgres", "10k", 1.0), "postgres/100k": _site("postgres", "100k", 10.0)}}
    text = report.variants_section(results)
    assert "| variant | 10k (time, size, vs baseline) | 100k (time, size, vs baseline) |" in text
    role = next(line for line in text.splitlines() if line.startswith("| the role's dump step"))
    assert "1.00 s, 47.7 MiB, 0.50" in role and "10.0 s, 47.7 MiB, 0.50" in role
    assert "SQLite" not in text


def test_a_pipe_in_a_cell_does_not_split_it():
    assert report.table(["what"], [["`a | b`"]]).splitlines()[-1] == "| `a \\| b` |"


def test_a_stopped_export_makes_its_growth_a_lower_bound():
    stopped = _site("sqlite", "1m", 100.0)
    stopped["samples"]["export.entities_cut"] = [1.0]
    results = {"sites": {"sqlite/10k": _site("sqlite", "10k", 1.0), "sqlite/1m": stopped}}
    lines = report.growth_section(results).splitlines()
    row = next(line for line in lines if "n8n export" in line)
    assert row == "| SQLite | n8n export:entities | 100.0 s | n/m | > 10000.0 s | 10k -> 1m | > 100.00 | > 1.00 |"
    dump = next(line for line in lines if "| dump step" in line)
    assert "| > " not in dump


def test_each_site_says_whether_its_page_cache_was_emptied():
    site = _site("sqlite", "1m", 1.0)
    assert "page cache kept;" in report.size_section({"sites": {"sqlite/1m": site}}, "1m")  # sites measured before
    site["page_cache"] = "emptied before each timed step"
    assert "page cache emptied before each timed step;" in report.size_section({"sites": {"sqlite/1m": site}}, "1m")


def test_the_downtime_row_names_the_bare_cycle_dump_when_the_site_recorded_it():
    site = _site("sqlite", "10k", 1.0)
    downtime = next(r for r in report.figure_rows(site) if r[0].startswith("backup downtime"))
    assert downtime[3] == "same-format raw dump + bare stop + start-to-registered"
    site["bare_dump"] = report.SQLITE_COPY
    downtime = next(r for r in report.figure_rows(site) if r[0].startswith("backup downtime"))
    assert downtime[3] == "`cp (n8n stopped, WAL checkpointed)` + bare stop + start-to-registered"
    assert report.SQLITE_COPY in report.SQLITE_SAME_FORMAT
