"""Render docs/benchmarks.md from the runner's results (docs/benchmarks.json). Pure: unit-tested."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stats import Goal, growth, median, ratio, scaling, spread, verdict

SIZE_ORDER = ["small", "10k", "100k", "1m"]
DB_NAMES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
PG_BASELINE = "pg_dump -Fc (defaults, gzip 6)"
PG_SAME_FORMAT = ("pg_dump -Fc -Z1 (the role's options)",)
SQLITE_BASELINE = "sqlite3 .backup"
SQLITE_COPY = "cp (n8n stopped, WAL checkpointed)"
# The role copies a quiesced SQLite database as a file under SQLite's lock, so a plain `cp` of the
# stopped file is among the raw tools it is held against, and the bare cycle dumps with it.
SQLITE_SAME_FORMAT = ("sqlite3 .backup", "Python backup API (pages=-1)", "VACUUM INTO", SQLITE_COPY)
FINDINGS = Path(__file__).resolve().parent / "findings.md"
# Where the goals stand, read before the tables: the current summary, kept apart from the findings' history.
SUMMARY = Path(__file__).resolve().parent / "summary.md"


def _m(site: dict[str, Any], name: str) -> float | None:
    return median(site.get("samples", {}).get(name))


def _size(site: dict[str, Any], name: str) -> float | None:
    return median(site.get("sizes", {}).get(name))


def _sum(*values: float | None) -> float | None:
    if any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def _min(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def export_cut(site: dict[str, Any]) -> bool:
    """Whether n8n's export was stopped at the runner's time limit (its time is then a lower bound)."""
    return bool(site.get("samples", {}).get("export.entities_cut"))


def never_cut(site: dict[str, Any]) -> bool:
    """For values always measured to the end (never a lower bound)."""
    return False


@dataclass(frozen=True)
class Figure:
    name: str
    value: Callable[[dict[str, Any]], float | None]
    baseline_name: Callable[[dict[str, Any]], str]
    baseline: Callable[[dict[str, Any]], float | None]
    goal: Goal
    unit: str = "s"
    on_ratio: bool = True  # the goal applies to value/baseline (else to the value itself)
    note: Callable[[dict[str, Any]], str] = lambda s: ""
    sizes: tuple[str, ...] = tuple(SIZE_ORDER)
    # The baseline was stopped at a time limit: its median is a lower bound, the ratio an upper bound.
    baseline_cut: Callable[[dict[str, Any]], bool] = never_cut


def db_label(site: dict[str, Any]) -> str:
    """The database's name, with the run's tag (e.g. an Ansible setting tried) if any."""
    name = DB_NAMES.get(site["db"], site["db"])
    return "%s (%s)" % (name, site["tag"]) if site.get("tag") else name


def _is_pg(site: dict[str, Any]) -> bool:
    return bool(site.get("db") == "postgres")


def _baseline_key(site: dict[str, Any]) -> str:
    """The samples key of the baseline dump: `pg_dump -Fc` defaults, or `sqlite3 .backup`."""
    return "raw:" + (PG_BASELINE if _is_pg(site) else SQLITE_BASELINE)


def _series(results: dict[str, Any], db: str, sizes: list[str]) -> dict[str, dict[str, Any]]:
    """One database's untagged sites (a tag marks a run that tried a setting) among ``sizes``, by size."""
    return {s["size"]: s for s in results.get("sites", {}).values() if s.get("db") == db and s.get("size") in sizes and not s.get("tag")}


def _same_format_name(site: dict[str, Any]) -> str:
    if _is_pg(site):
        return "`%s`" % PG_SAME_FORMAT[0]
    return "fastest of `.backup`, backup API, `VACUUM INTO`, `cp` of the stopped file"


def _bare_cycle_name(site: dict[str, Any]) -> str:
    dump = "`%s`" % site["bare_dump"] if site.get("bare_dump") else "same-format raw dump"
    return dump + " + bare stop + start-to-registered"


def _same_format(site: dict[str, Any]) -> float | None:
    names = PG_SAME_FORMAT if _is_pg(site) else SQLITE_SAME_FORMAT
    return _min([_m(site, "raw:" + n) for n in names])


FIGURES = [
    Figure("database dump step", lambda s: _m(s, "col.dump_step"),
           lambda s: "`pg_dump -Fc` defaults" if _is_pg(s) else "`sqlite3 .backup`",
           lambda s: _m(s, _baseline_key(s)), Goal("<=", 0.55)),
    Figure("database dump step", lambda s: _m(s, "col.dump_step"), _same_format_name, _same_format, Goal("<=", 1.05)),
    Figure("backup downtime (first stop to webhooks registered)", lambda s: _m(s, "col.downtime"),
           _bare_cycle_name, lambda s: _m(s, "bare.cycle"), Goal("<=", 1.15)),
    Figure("whole backup (backup.yml, key escrow included)", lambda s: _m(s, "col.backup_wall"),
           lambda s: "`n8n export:entities --includeExecutionHistoryDataTables`", lambda s: _m(s, "export.entities"), Goal("<=", 0.1),
           baseline_cut=export_cut),
    Figure("restore to webhooks registered (restore.yml)", lambda s: _m(s, "col.restore_registered"),
           lambda s: ("`pg_restore -j2`" if _is_pg(s) else "file copy") + " + bare start-to-registered",
           lambda s: _sum(_m(s, "raw.restore"), _m(s, "bare.start_registered")), Goal("<=", 1.2)),
    Figure("key check", lambda s: _m(s, "keycheck.rate"), lambda s: "-", lambda s: None, Goal(">=", 20000), unit="credentials/s",
           on_ratio=False, note=lambda s: "" if _m(s, "keycheck.rate_best") is None else " (best: %s)" % fmt_s(_m(s, "keycheck.rate_best"), "/s")),
    Figure("small instance: whole backup playbook", lambda s: _m(s, "col.backup_wall"), lambda s: "-", lambda s: None,
           Goal("<=", 30), on_ratio=False, sizes=("small",)),
    Figure("small instance: backup downtime", lambda s: _m(s, "col.downtime"), lambda s: "-", lambda s: None,
           Goal("<=", 8), on_ratio=False, sizes=("small",)),
]


def fmt_s(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "n/m"
    if unit != "s":
        return f"{value:,.0f} {unit}"
    return "%.2f s" % value if value < 10 else "%.1f s" % value


def fmt_ratio(value: float | None) -> str:
    return "n/m" if value is None else "%.2f" % value


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "n/m"
    if value >= 1 << 30:
        return "%.2f GiB" % (value / (1 << 30))
    return "%.1f MiB" % (value / (1 << 20))


def fmt_mb(value: float | None) -> str:
    return "n/m" if value is None else "%.0f MiB" % value


def _spread_note(site: dict[str, Any], name: str) -> str:
    values = site.get("samples", {}).get(name)
    rng = spread(values)
    if not rng or len(values or []) < 2:
        return ""
    return " (%s-%s)" % (("%.2f" % rng[0]).rstrip("0").rstrip("."), ("%.2f" % rng[1]).rstrip("0").rstrip("."))


def figure_rows(site: dict[str, Any]) -> list[list[str]]:
    rows = []
    for fig in FIGURES:
        if site.get("size") not in fig.sizes:
            continue
        value = fig.value(site)
        base = fig.baseline(site)
        measured = ratio(value, base) if fig.on_ratio else value
        result = verdict(fig.goal, measured)
        base_text, ratio_text = fmt_s(base), fmt_ratio(measured)
        if fig.on_ratio and fig.baseline_cut(site) and measured is not None:
            # Only an upper bound of the ratio is known: it can prove "<=" goals, not refute them.
            base_text, ratio_text = "> %s (stopped)" % base_text, "< %s" % ratio_text
            if fig.goal.op != "<=" or not fig.goal.met(measured):
                result = "n/m"
        rows.append([
            fig.name, db_label(site), fmt_s(value, fig.unit) + fig.note(site), fig.baseline_name(site),
            base_text if fig.on_ratio else "-", ratio_text if fig.on_ratio else "-",
            str(fig.goal) + ("" if fig.on_ratio else " " + fig.unit), result,
        ])
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _column in header) + "|"]
    # GitHub's tables split cells at every bare "|", even inside code spans (a shell pipe).
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _sites_of_size(results: dict[str, Any], size: str) -> list[dict[str, Any]]:
    sites = [s for s in results.get("sites", {}).values() if s.get("size") == size]
    return sorted(sites, key=lambda s: (list(DB_NAMES).index(s["db"]) if s["db"] in DB_NAMES else 9, s.get("tag", "")))


def size_section(results: dict[str, Any], size: str) -> str:
    sites = _sites_of_size(results, size)
    if not sites:
        return ""
    out = ["## %s" % ("Small instance (about 10 MB)" if size == "small" else "%s executions" % size.upper().replace("M", "M"))]
    for site in sites:
        spec = site.get("spec", {})
        export_note = ""
        if site.get("export_runs", site.get("runs")) != site.get("runs"):
            export_note = "; `export:entities` ran %d time(s)" % int(site.get("export_runs") or 0)
        out.append(
            "- %s: database %s (%s executions, %s workflows with 3 history rows each, %s credentials), "
            "generated in %s s; %d run(s)%s; load average %s before, %s after; page cache %s; measured %s, %.0f min."
            % (db_label(site), fmt_bytes(site.get("db_bytes")), "{:,}".format(spec.get("executions", 0)),
               "{:,}".format(spec.get("workflows", 0)), "{:,}".format(spec.get("credentials", 0)), site.get("generate_s"),
               site.get("runs", 0), export_note, "/".join("%.1f" % x for x in site.get("load_before", [])),
               "/".join("%.1f" % x for x in site.get("load_after", [])), site.get("page_cache", "kept"),
               site.get("measured_at", "?"), site.get("minutes", 0))
        )
    out.append("")
    rows = [row for site in sites for row in figure_rows(site)]
    out.append(table(["figure", "db", "lifeboat (median)", "baseline", "baseline (median)", "ratio", "goal", "result"], rows))
    out.append("")
    out.append("Sizes and memory (medians):")
    out.append("")
    size_rows = []
    for site in sites:
        artifact = _size(site, "col.database_artifact")
        raw = _size(site, _baseline_key(site))
        size_rows.append([
            db_label(site), fmt_bytes(artifact), fmt_bytes(raw), fmt_ratio(ratio(artifact, raw)),
            fmt_bytes(_size(site, "raw:pg_dump -Fp (uncompressed)")) if _is_pg(site) else "-",
            fmt_bytes(_size(site, "col.backup_folder")), ("> " if export_cut(site) else "") + fmt_bytes(_size(site, "export.entities")),
            fmt_mb(_m(site, "mem.backup_ansible_mb")), fmt_mb(_m(site, "mem.backup_module_mb")),
            fmt_mb(_m(site, "mem.backup_dump_mb")), fmt_mb(_m(site, "mem.raw_baseline_mb")),
            fmt_mb(_m(site, "mem.restore_restore_mb") if _is_pg(site) else None),
        ])
    out.append(table(["db", "database artifact", "raw baseline dump", "artifact / raw", "plain SQL", "whole backup folder",
                      "n8n export", "peak RSS Ansible", "peak RSS modules", "peak RSS dump process", "peak RSS raw baseline",
                      "peak RSS restore tool"], size_rows))
    out.append("")
    out.append(detail_section(sites))
    return "\n".join(out)


def detail_section(sites: list[dict[str, Any]]) -> str:
    """Every raw variant tried, and the parts of the figures."""
    rows = []
    for site in sites:
        db = db_label(site)
        base = _m(site, _baseline_key(site))
        for name in sorted(k for k in site.get("samples", {}) if k.startswith("raw:")):
            value = _m(site, name)
            rows.append([db, "`%s`" % name[4:], fmt_s(value) + _spread_note(site, name), fmt_bytes(_size(site, name)), fmt_ratio(ratio(value, base))])
        for label, key in (("second read for a checksum (`sha256sum` of the same-format dump)", "raw.sha256_second_read"),
                           ("`PRAGMA integrity_check` of the copy", "raw.integrity_check"),
                           ("raw restore (`pg_restore -j2` / file copy)", "raw.restore"),
                           ("bare n8n stop", "bare.stop"), ("bare n8n start to webhook registered", "bare.start_registered"),
                           ("bare cycle: stop + dump + start to registered", "bare.cycle"),
                           ("role downtime as the role reports it", "col.downtime_role"),
                           ("backup: quiesce start (drain included) to webhooks registered", "col.quiesce_to_registered"),
                           ("whole restore.yml (wall)", "col.restore_wall"),
                           ("restore downtime: first stop to webhooks probed (no goal in the issue)", "col.restore_downtime"),
                           ("key check of the live database (all categories, one run)", "keycheck.seconds"),
                           ("Ansible floor: `ansible-playbook` of an empty play", "floor.playbook_empty"),
                           ("Ansible floor: one module task (`command: true`, mean of ten)", "floor.module_task")):
            value = _m(site, key)
            if value is not None:
                rows.append([db, label, fmt_s(value) + _spread_note(site, key), "", fmt_ratio(ratio(value, base)) if key.startswith("raw") else ""])
    return "<details><summary>Every variant tried and the parts of each figure</summary>\n\n" + table(
        ["db", "what", "time (median, min-max)", "size", "vs baseline dump"], rows) + "\n\n</details>\n"


def growth_section(results: dict[str, Any]) -> str:
    cols = [s for s in SIZE_ORDER if s != "small"]
    rows = []
    for db, db_name in DB_NAMES.items():
        sites = _series(results, db, cols)
        sizes = [s for s in cols if s in sites]
        if len(sizes) < 2:
            continue
        data = growth(sites[sizes[0]].get("db_bytes"), sites[sizes[-1]].get("db_bytes"))
        # (label, value, format, whether a site's value is only a lower bound)
        metrics: list[tuple[str, Callable[[dict[str, Any]], float | None], Callable[[float | None], str], Callable[[dict[str, Any]], bool]]] = [
            ("database size", lambda s: s.get("db_bytes"), fmt_bytes, never_cut),
            ("dump step", lambda s: _m(s, "col.dump_step"), fmt_s, never_cut),
            ("raw baseline dump", lambda s: _m(s, _baseline_key(s)), fmt_s, never_cut),
            ("backup downtime", lambda s: _m(s, "col.downtime"), fmt_s, never_cut),
            ("whole backup", lambda s: _m(s, "col.backup_wall"), fmt_s, never_cut),
            ("n8n export:entities", lambda s: _m(s, "export.entities"), fmt_s, export_cut),
            ("restore to registered", lambda s: _m(s, "col.restore_registered"), fmt_s, never_cut),
            ("peak RSS Ansible", lambda s: _m(s, "mem.backup_ansible_mb"), fmt_mb, never_cut),
            ("peak RSS dump process", lambda s: _m(s, "mem.backup_dump_mb"), fmt_mb, never_cut),
        ]
        first, last = sites[sizes[0]], sites[sizes[-1]]
        for label, get, fmt, lower_bound in metrics:
            cells = [("> " if lower_bound(sites[c]) else "") + fmt(get(sites[c])) if c in sites else "n/m" for c in cols]
            grown = growth(get(first), get(last))
            grown_text, per_data_text = fmt_ratio(grown), fmt_ratio(scaling(grown, data))
            if lower_bound(first):
                grown_text = per_data_text = "n/m"  # a lower bound at the start bounds the growth neither way
            elif lower_bound(last):
                grown_text, per_data_text = "> " + grown_text, "> " + per_data_text
            rows.append([db_name, label] + cells + ["%s -> %s" % (sizes[0], sizes[-1]), grown_text, per_data_text])
    if not rows:
        return ""
    return "\n".join([
        "## Growth with the data",
        "",
        "Growth of each figure divided by the growth of the database: 1.00 is linear, below 1 fixed costs "
        "(Ansible, n8n start) still dominate, above 1 worse than linear. `>`: n8n's export was stopped at the "
        "runner's time limit, so its time and its growth are lower bounds.",
        "",
        table(["db", "figure"] + cols + ["from -> to", "growth", "per data growth"], rows),
        "",
    ])


def variants_section(results: dict[str, Any]) -> str:
    """Every raw dump variant at every size, side by side: what each codec and format gains as the data grows."""
    cols = [s for s in SIZE_ORDER if s != "small"]
    out = ["## Dump variants at every size", "",
           "Each raw variant's median time, its size, and its time as a share of the baseline dump (`pg_dump -Fc` "
           "defaults, `sqlite3 .backup`) on the same data; the role's own dump step is the first row.", ""]
    for db, db_name in DB_NAMES.items():
        sites = _series(results, db, cols)
        sizes = [c for c in cols if c in sites]
        if not sizes:
            continue
        names = sorted({k for c in sizes for k in sites[c].get("samples", {}) if k.startswith("raw:")})
        rows = []
        own = [("the role's dump step", "col.dump_step", "col.database_artifact")]
        if any(_m(sites[c], "col.dump_module") is not None for c in sizes):
            # The step less the module's own time is Ansible's: module transfer, fork, result.
            own.append(("its dump module alone (the module's own clock)", "col.dump_module", "col.database_artifact"))
        if any(_m(sites[c], "col.copy_check") is not None for c in sizes):
            # Outside the downtime since the SQLite copy is checked after resume; shown so nothing is hidden.
            own.append(("the role's flush and integrity check of the copy (after resume)", "col.copy_check", "col.database_artifact"))
        for label, key, size_key in own + [("`%s`" % n[4:], n, n) for n in names]:
            cells = []
            for c in sizes:
                value, base = _m(sites[c], key), _m(sites[c], _baseline_key(sites[c]))
                cells.append("n/m" if value is None else "%s, %s, %s" % (fmt_s(value), fmt_bytes(_size(sites[c], size_key)), fmt_ratio(ratio(value, base))))
            rows.append([label] + cells)
        out += ["%s:" % db_name, "", table(["variant"] + ["%s (time, size, vs baseline)" % c for c in sizes], rows), ""]
    return "\n".join(out) + "\n"


def tasks_section(results: dict[str, Any]) -> str:
    """Where the time goes: the slowest tasks of backup.yml and restore.yml at the largest size of each database."""
    out = ["## Where the time goes", ""]
    for db, db_name in DB_NAMES.items():
        sites = [s for s in results.get("sites", {}).values() if s.get("db") == db and s.get("tasks") and not s.get("tag")]
        if not sites:
            continue
        site = max(sites, key=lambda s: SIZE_ORDER.index(s["size"]) if s["size"] in SIZE_ORDER else -1)
        for kind in ("backup", "restore"):
            tasks = site["tasks"].get(kind, {})
            ranked = sorted(((median(v) or 0.0, name) for name, v in tasks.items()), reverse=True)[:10]
            out.append("%s %s, %s.yml, slowest tasks (median s): " % (db_name, site["size"], kind)
                       + "; ".join("%s %.1f" % (name.replace("|", "/"), value) for value, name in ranked))
            out.append("")
    return "\n".join(out) + "\n"


def shared_line(sites: dict[str, Any], cores: Any) -> str:
    """Which sites were measured beside other work: a 1-min load average above the core count."""
    limit = float(cores or 1)
    busy = sorted(label for label, s in sites.items() if (s.get("load_before") or [0.0])[0] > limit)
    idle = sorted(label for label in sites if label not in busy)
    parts = []
    if busy:
        parts.append("%s measured while other test suites ran on the same cores (load average above %s when "
                     "the measurement began), so their absolute times are noisy upper bounds" % (", ".join(busy), cores))
    if idle:
        parts.append("%s measured on an otherwise idle machine" % ", ".join(idle))
    return ("- Other work on the machine: " + "; ".join(parts) + ". Every figure is a ratio against its baseline "
            "measured in the same run, on the same data, minutes apart.")


def machine_section(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    loads = ["%s %s" % (label, "/".join("%.1f" % x for x in s.get("load_before", [])))
             for label, s in sorted(results.get("sites", {}).items())]
    return "\n".join([
        "## Machine",
        "",
        "- CPU: %s, %s cores; memory %s GB; disk (size, free) %s" % (m.get("cpu"), m.get("cores"), m.get("memory_gb"), m.get("disk")),
        "- %s, kernel %s; %s; SQLite %s; %s; %s; Python %s; n8n %s" % (
            m.get("os"), m.get("kernel"), m.get("postgres"), m.get("sqlite"), m.get("zstd"), m.get("ansible"), m.get("python"), m.get("n8n")),
        shared_line(results.get("sites", {}), m.get("cores")),
        "- Load average (1/5/15 min) when each site's measurement began: " + "; ".join(loads),
        "",
    ])


def render(results: dict[str, Any]) -> str:
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (scripts/bench.sh -> python -m bench) from docs/benchmarks.json; "
        "the prose sections come from bench/findings.md. Do not edit by hand. -->",
        "",
        "Every figure is measured side by side with its baseline: same data, same run, the tool's defaults "
        "for the baseline, medians over the runs (min-max in the details). `n/m` means not measured.",
        "",
    ]
    if SUMMARY.exists():
        parts.append(SUMMARY.read_text())
    parts.append(machine_section(results))
    for size in SIZE_ORDER:
        section = size_section(results, size)
        if section:
            parts.append(section)
    parts.append(growth_section(results))
    parts.append(variants_section(results))
    parts.append(tasks_section(results))
    if FINDINGS.exists():
        parts.append(FINDINGS.read_text())
    return "\n".join(parts).rstrip() + "\n"
