"""The benchmark runner: ``python -m bench`` (scripts/bench.sh, ``make bench``).

For each database (postgres, sqlite) and size (small, 10k, 100k, 1m) it builds a site (a
real n8n 2.40.7 migrated by n8n, seeded by the harness, filled by bench.generate), then,
RUNS times, measures side by side on the same data and in the same minute:

1. the bare cycle: stop n8n, the fastest raw dump of the role's format, start n8n, wait
   until its webhook answers (the downtime baseline; start-to-registered alone is also
   the restore baseline's second half);
2. playbooks/backup.yml (key escrow + backup, the role's defaults): wall time, the dump
   task, the role's own downtime, peak memory of Ansible, modules and the dump process;
3. playbooks/restore.yml of that backup onto the same host (restore_backup_on_target):
   time until the webhooks are probed registered, and wall time;
4. with n8n stopped: every raw dump variant (pg_dump -Fc with defaults, the role's
   options, zstd pipelines, directory format with jobs; SQLite .backup, the backup API,
   VACUUM INTO), the raw restore (pg_restore -j2 into a scratch database; SQLite: a file
   copy), and ``n8n export:entities --includeExecutionHistoryDataTables=true``;
5. the key check (the collection's check_key) on the live database: credentials per second.

Results are merged into docs/benchmarks.json (a re-run of some sizes keeps the others) and
docs/benchmarks.md is rendered from it (bench.report).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import yaml
from n8n_harness import N8nInstance, seed
from n8n_harness import postgres as pgh
from n8n_harness.inventory import native_host_vars
from psycopg import sql

from . import ctl, measure, report
from .generate import SIZES, Generator, SizeSpec
from .measure import Timed, read_once, run_playbook, settle, timed

ROOT = Path(__file__).resolve().parents[1]
VERSION = "2.40.7"
RESULTS = ROOT / "docs" / "benchmarks.json"
DOC = ROOT / "docs" / "benchmarks.md"
PREFIX = "lifeboat-bench"


def log(message: str) -> None:
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


# ------------------------------------------------------------------------------ site
@dataclass
class Site:
    db: str
    spec: SizeSpec
    base: Path
    state: Path
    pg: Any = None  # PostgresConfig
    api_key: str = ""
    key: str = ""

    @property
    def label(self) -> str:
        return "%s/%s" % (self.db, self.spec.name)

    def instance(self) -> N8nInstance:
        return N8nInstance.load_state(self.state)

    def pg_kwargs(self, database: str | None = None) -> dict[str, Any]:
        assert self.pg is not None
        return {"host": self.pg.host, "port": self.pg.port, "user": self.pg.user, "password": self.pg.password,
                "dbname": database or self.pg.database}

    def tool_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.pg is not None:
            env.update(PGHOST=self.pg.host, PGPORT=str(self.pg.port), PGUSER=self.pg.user, PGPASSWORD=self.pg.password,
                       PGDATABASE=self.pg.database)
        return env

    @property
    def sqlite_path(self) -> Path:
        return self.base / "n8n" / "home" / ".n8n" / "database.sqlite"

    def db_bytes(self) -> int:
        if self.pg is not None:
            with psycopg.connect(**self.pg_kwargs()) as conn:
                return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]
        return sum(p.stat().st_size for p in self.sqlite_path.parent.glob("database.sqlite*"))

    def start(self) -> float:
        """Start n8n with the service command the roles use; seconds until its webhook answers."""
        started = time.monotonic()
        subprocess.run(ctl.command("start", self.state), shell=True, check=True, stdout=subprocess.DEVNULL)
        response = self.instance().wait_webhook("lifeboat-echo", timeout=60)
        if response.status_code == 404:
            raise RuntimeError("%s: the webhook is not registered after start" % self.label)
        return time.monotonic() - started

    def stop(self) -> float:
        """Stop n8n with the service command the roles use."""
        started = time.monotonic()
        subprocess.run(ctl.command("stop", self.state), shell=True, check=True, stdout=subprocess.DEVNULL)
        return time.monotonic() - started

    def running(self) -> bool:
        return bool(self.instance().is_running())

    def drop_restore_snapshots(self) -> list[str]:
        """Drop the schemas a restore kept (restore_keep_snapshot, the default): the previous data.

        Left in place they are in every raw tool's database after the first restore (the role's
        dump leaves them out): on 2026-11-24 at 100k the bare ``pg_dump -Fc -Z1`` wrote 710 MiB
        against the role's 237 MiB and took 2.8 times as long, because it dumped them too.
        """
        if self.pg is None:
            return []
        with psycopg.connect(**self.pg_kwargs(), autocommit=True) as conn:
            names = [str(row[0]) for row in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lifeboat\\_pre\\_restore\\_%' ORDER BY 1").fetchall()]
            for name in names:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        return names


def build_site(db: str, spec: SizeSpec, work: Path, reuse: bool) -> Site:
    base = work / ("%s-%s" % (db, spec.name))
    marker = base / "site.json"
    if reuse and marker.exists():
        data = json.loads(marker.read_text())
        site = Site(db, spec, base, base / "state.json", api_key=data["api_key"], key=data["key"])
        if data.get("pg"):
            site.pg = pgh.PostgresConfig(**data["pg"])
        log("%s: reusing the generated site in %s" % (site.label, base))
        return site
    if base.exists():
        destroy_site_folder(base)
    base.mkdir(parents=True)
    pg = pgh.create_database("bench_%s" % spec.name) if db == "postgres" else None
    instance = N8nInstance(version=VERSION, base_dir=base / "n8n", postgres=pg, extra_env={"EXECUTIONS_DATA_PRUNE": "false"})
    site = Site(db, spec, base, base / "state.json", pg=pg, key=str(instance.encryption_key))
    log("%s: first start (n8n migrates the schema)" % site.label)
    instance.start()
    seeded = seed(instance)
    # The seed's 15-second schedule adds nothing to a benchmark but noise: an execution caught by the
    # stop makes n8n wait its graceful-shutdown timeout. Only the webhooks stay active.
    instance.api("POST", "/workflows/%s/deactivate" % seeded.workflows["Lifeboat tick"])
    site.api_key = str(instance.api_key)
    instance.save_state(site.state)
    instance.stop()
    instance.save_state(site.state)
    marker.write_text(json.dumps({"api_key": site.api_key, "key": site.key, "pg": pg.__dict__ if pg else None,
                                  "workflows": seeded.workflows}))
    marker.chmod(0o600)
    log("%s: generating %d workflows, %d credentials, %d executions" % (site.label, spec.workflows, spec.credentials, spec.executions))
    generator = Generator(site.key, spec, pg=site.pg_kwargs() if pg else None, sqlite_path=None if pg else site.sqlite_path,
                          log=lambda m: log("%s: %s" % (site.label, m)))
    stats = generator.run()
    data = json.loads(marker.read_text())
    data.update(stats)
    marker.write_text(json.dumps(data))
    return site


def destroy_site_folder(base: Path) -> None:
    marker = base / "site.json"
    if marker.exists():
        data = json.loads(marker.read_text())
        state = base / "state.json"
        if state.exists():
            ctl.stop(state)
        if data.get("pg"):
            pgh.drop_database(pgh.PostgresConfig(**data["pg"]))
    shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- playbooks
class Controller:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.root = site.base / "controller"
        for sub in ("host-backups", "escrow", "staging", "snapshots", "logs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        vault_file = self.root / "vault-secret"
        if not vault_file.exists():
            self._private(vault_file, secrets.token_urlsafe(20))
        self.vault = vault_file.read_text()  # the escrow survives between runs: keep its vault secret
        instance = site.instance()
        host = {
            **native_host_vars(instance, site.state),
            "lifeboat_n8n_start_command": ctl.command("start", site.state),
            "lifeboat_n8n_stop_command": ctl.command("stop", site.state),
            "backup_root": str(self.root / "host-backups"),
            "key_escrow_dir": str(self.root / "escrow"),
            "restore_escrow_dir": str(self.root / "escrow"),
            "restore_staging_dir": str(self.root / "staging"),
            "restore_snapshot_root": str(self.root / "snapshots"),
        }
        self.inventory = self._private(self.root / "inventory.yml", yaml.safe_dump({"n8n": {"hosts": {"bench": host}}}))
        self.secrets = self._private(self.root / "secrets.json", json.dumps({
            "key_escrow_vault_secret": self.vault, "restore_vault_secret": self.vault, "lifeboat_n8n_api_key": site.api_key}))

    @staticmethod
    def _private(path: Path, text: str) -> Path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return path

    def play(self, name: str, run: int, **extra: Any) -> Any:
        extra_file = self._private(self.root / ("extra-%s.json" % name), json.dumps(extra))
        result = run_playbook(ROOT / "playbooks" / ("%s.yml" % name), self.inventory, [self.secrets, extra_file],
                              self.root / "logs" / ("%s-%d.log" % (name, run)))
        if result.returncode != 0:
            raise RuntimeError("%s: %s.yml failed (see %s):\n%s" % (self.site.label, name, self.root / "logs", result.log[-4000:]))
        return result

    def newest_backup(self) -> Path:
        folders = sorted(p for p in (self.root / "host-backups").iterdir() if (p / "manifest.json").exists())
        return folders[-1]

    def clean(self) -> None:
        for sub in ("host-backups", "staging", "snapshots"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
            (self.root / sub).mkdir()


# ------------------------------------------------------------------------- raw tools
PG_VARIANTS: dict[str, str] = {
    # name: command writing to $OUT (a file, or a folder for the directory format)
    "pg_dump -Fc (defaults, gzip 6)": "pg_dump -Fc -f \"$OUT\"",
    "pg_dump -Fc -Z1 (the role's options)": "pg_dump -Fc -Z1 --no-owner --no-privileges -f \"$OUT\"",
    "pg_dump -Fc -Z0": "pg_dump -Fc -Z0 --no-owner --no-privileges -f \"$OUT\"",
    "pg_dump -Fc -Z0 | zstd -T2 -3": "pg_dump -Fc -Z0 --no-owner --no-privileges | zstd -q -T2 -3 -o \"$OUT\"",
    "pg_dump -Fc -Z0 | zstd -T2 -1": "pg_dump -Fc -Z0 --no-owner --no-privileges | zstd -q -T2 -1 -o \"$OUT\"",
    "pg_dump -Fp | zstd -T2 -3": "pg_dump -Fp --no-owner --no-privileges | zstd -q -T2 -3 -o \"$OUT\"",
    "pg_dump -Fc -Z0 | lz4 -1": "pg_dump -Fc -Z0 --no-owner --no-privileges | lz4 -q -1 - \"$OUT\"",
    "pg_dump -Fd -j2 -Z1": "pg_dump -Fd -j2 -Z1 --no-owner --no-privileges -f \"$OUT\"",
}
SQLITE_VARIANTS: dict[str, str] = {
    "sqlite3 .backup": "sqlite3 \"$SRC\" \".backup '$OUT'\"",
    "Python backup API (pages=-1)": "python3 -c 'import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); "
                                    "s.backup(d); d.close()' \"$SRC\" \"$OUT\"",
    "VACUUM INTO": "sqlite3 \"$SRC\" \"VACUUM INTO '$OUT'\"",
    report.SQLITE_COPY: "cp \"$SRC\" \"$OUT\"",
    "sqlite3 .backup + zstd -T2 -3": "sqlite3 \"$SRC\" \".backup '$OUT.tmp'\" && zstd -q -T2 -3 --rm -o \"$OUT\" \"$OUT.tmp\"",
}
# The baselines are named once, in report.py, which divides by them.
PG_BASELINE = report.PG_BASELINE
PG_SAME_FORMAT = report.PG_SAME_FORMAT[0]
SQLITE_BASELINE = report.SQLITE_BASELINE


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def raw_dump(site: Site, name: str, out: Path) -> tuple[Timed, int]:
    _remove(out)
    env = site.tool_env()
    env.update(OUT=str(out), SRC=str(site.sqlite_path))
    command = (PG_VARIANTS if site.pg is not None else SQLITE_VARIANTS)[name]
    result = timed(command, env=env)
    return result, _size(out)


def fastest_same_format(site: Site) -> str:
    """The raw dump the bare cycle uses: what the role's dump step does, done by the raw tool."""
    return PG_SAME_FORMAT if site.pg is not None else report.SQLITE_COPY


# ----------------------------------------------------------------------------- runs
class Recorder:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self.sizes: dict[str, list[int]] = {}
        self.tasks: dict[str, dict[str, list[float]]] = {"backup": {}, "restore": {}}
        self.caches_dropped = True

    def cold(self) -> None:
        """Start the next timed step from an empty page cache (see measure.settle)."""
        self.caches_dropped = settle() and self.caches_dropped

    def add(self, name: str, value: float | None) -> None:
        if value is not None:
            self.samples.setdefault(name, []).append(round(float(value), 3))

    def size(self, name: str, value: int) -> None:
        self.sizes.setdefault(name, []).append(int(value))

    def playbook_tasks(self, kind: str, timing: Any) -> None:
        for task in timing.tasks:
            if task.get("start") is None or task["status"] == "skipped":
                continue
            self.tasks[kind].setdefault(task["name"], []).append(round(task["end"] - task["start"], 3))


def measure_site(site: Site, runs: int, export_runs: int, export_limit: float = 7200.0) -> dict[str, Any]:
    rec = Recorder()
    ctl = Controller(site)
    scratch = site.base / "scratch"
    scratch.mkdir(exist_ok=True)
    same = fastest_same_format(site)
    variants = list(PG_VARIANTS if site.pg is not None else SQLITE_VARIANTS)
    if not site.running():
        site.start()
    site.drop_restore_snapshots()  # a reused site (BENCH_KEEP) may hold an earlier run's
    primed = ""
    if site.pg is None:
        # Kept so runs stay comparable with those before ec0dfcf; the slow first read it was added
        # for was free page reporting, which settle() now waits out (measure.read_once).
        settle()  # from the disk, not from what the generator left in the page cache
        seconds = read_once(sorted(site.sqlite_path.parent.glob("database.sqlite*")))
        log("%s: database read once before the first timed step (%.1f s)" % (site.label, seconds))
        primed = "; the database read once before the first (%.1f s)" % seconds
    for run in range(runs):
        tag = "%s: run %d/%d" % (site.label, run + 1, runs)
        log("%s: backup.yml" % tag)
        backup_run(site, ctl, rec, run)
        log("%s: restore.yml" % tag)
        restore_run(site, ctl, rec, run)
        rec.cold()
        ansible_floor(ctl, rec)

        # The bare cycle: stop, the same-format raw dump, (untimed: the other raw tools, the raw
        # restore, n8n's export, with n8n stopped as they need), start until the webhook answers.
        log("%s: bare cycle and raw tools" % tag)
        rec.cold()
        rec.add("bare.stop", site.stop())
        dumped, _dump_size = raw_dump(site, same, scratch / "cycle.dump")
        rec.add("bare.dump", dumped.seconds)
        _remove(scratch / "cycle.dump")
        raw_tools(site, rec, variants, same, scratch)
        if run < export_runs:
            log("%s: n8n export:entities --includeExecutionHistoryDataTables=true" % tag)
            out = scratch / "export"
            _remove(out)
            instance = site.instance()
            rec.cold()
            started = time.monotonic()
            try:
                instance.cli("export:entities", "--outputDir=%s" % out, "--includeExecutionHistoryDataTables=true", timeout=export_limit)
            except subprocess.TimeoutExpired:
                # n8n's export grows faster than the data (1M on SQLite: 13 GB written after 28 min).
                # Past the limit its time is a lower bound, and the ratio against it an upper bound.
                rec.add("export.entities_cut", 1.0)
                log("%s: n8n's export stopped at the %.0f s limit (a lower bound)" % (tag, export_limit))
            rec.add("export.entities", time.monotonic() - started)
            rec.size("export.entities", _size(out))
            _remove(out)
        rec.cold()
        rec.add("keycheck.rate", key_check(site, rec))
        rec.cold()
        rec.add("bare.start_registered", site.start())
        rec.add("bare.cycle", rec.samples["bare.stop"][-1] + rec.samples["bare.dump"][-1] + rec.samples["bare.start_registered"][-1])
        log("%s: bare cycle %.1f s (stop %.1f, dump %.1f, start to registered %.1f)" % (
            tag, rec.samples["bare.cycle"][-1], rec.samples["bare.stop"][-1], rec.samples["bare.dump"][-1],
            rec.samples["bare.start_registered"][-1]))
    shutil.rmtree(scratch, ignore_errors=True)
    handed_back = " once the freed memory was handed back (free page reporting)" if measure.PAGE_REPORTING.exists() else ""
    page_cache = ("emptied before each timed step" + handed_back if rec.caches_dropped else "kept (the kernel refused drop_caches)") + primed
    return {"samples": rec.samples, "sizes": rec.sizes, "tasks": rec.tasks, "page_cache": page_cache, "bare_dump": same}


def backup_run(site: Site, ctl: Controller, rec: Recorder, run: int) -> None:
    rec.cold()
    backup = ctl.play("backup", run)
    rec.add("col.backup_wall", backup.seconds)
    dump_task = "Dump PostgreSQL with community.postgresql" if site.pg is not None else "Copy the SQLite database"
    rec.add("col.dump_step", backup.task_seconds(dump_task))
    if site.pg is None:
        rec.add("col.copy_check", backup.task_seconds("Make the SQLite copy durable and check its integrity"))
    resumed = backup.task("Expose the result to the playbook")
    rec.add("col.downtime_role", float(resumed["downtime_s"]) if resumed and resumed.get("downtime_s") is not None else None)
    # The downtime runs from the first stop (n8n serves while the drain looks for executions in
    # progress, as the bare cycle has no drain) to the webhooks answering: the wait probes them
    # itself when the probe host is this machine, else a probe task follows it.
    first_stop = backup.task("Note that n8n processes are being stopped")
    quiesce_start = backup.task("Remember which processes run now")
    registered = _last_end(backup, "Wait until n8n is ready and has activated", "Probe the webhooks of active workflows")
    if first_stop and registered:
        rec.add("col.downtime", registered - first_stop["start"])
    if quiesce_start and registered:
        rec.add("col.quiesce_to_registered", registered - quiesce_start["start"])
    for kind, kb in backup.peaks_kb.items():
        rec.add("mem.backup_%s_mb" % kind, kb / 1024)
    rec.playbook_tasks("backup", backup)
    folder = ctl.newest_backup()
    manifest = json.loads((folder / "manifest.json").read_text())
    database = next(a for a in manifest["artifacts"] if a["kind"] == "database")
    rec.size("col.database_artifact", _size(folder / database["path"]))
    # The dump module's own time (the manifest's timings): the dump step less it is Ansible's share.
    rec.add("col.dump_module", (manifest.get("timings") or {}).get("dump_s"))
    rec.size("col.backup_folder", _size(folder))
    log("%s: backup.yml %.1f s, downtime %.1f s, dump step %.1f s" % (
        site.label, backup.seconds, (rec.samples.get("col.downtime") or [0])[-1], (rec.samples.get("col.dump_step") or [0])[-1]))


def _last_end(timing: Any, *fragments: str) -> float | None:
    """The latest end among the last tasks named like each fragment (None when none ran)."""
    ends = [task["end"] for task in (timing.task(f, last=True) for f in fragments) if task and task.get("end") is not None]
    return max(ends) if ends else None


def restore_run(site: Site, ctl: Controller, rec: Recorder, run: int) -> None:
    folder = ctl.newest_backup()
    rec.cold()
    restore = ctl.play("restore", run, restore_backup=str(folder), restore_backup_on_target=True, restore_confirm=True)
    rec.add("col.restore_wall", restore.seconds)
    rec.add("col.restore_registered", restore.until("Probe every active webhook from outside"))
    # The restore's own downtime, as the backup's: from the first stop to the webhook probe.
    stopping = restore.task("Note that n8n processes are being stopped")
    probed = restore.task("Probe every active webhook from outside", last=True)
    if stopping and probed:
        rec.add("col.restore_downtime", probed["end"] - stopping["start"])
    for kind, kb in restore.peaks_kb.items():
        rec.add("mem.restore_%s_mb" % kind, kb / 1024)
    rec.playbook_tasks("restore", restore)
    key_task = restore.task("Prove the key decrypts the backup's credentials")
    if key_task and key_task.get("start"):
        rec.add("keycheck.restore_task_s", key_task["end"] - key_task["start"])
    ctl.clean()
    dropped = site.drop_restore_snapshots()
    log("%s: restore.yml %.1f s%s" % (site.label, restore.seconds, "; dropped its kept snapshot %s" % ", ".join(dropped) if dropped else ""))


FLOOR_TASKS = 10


def ansible_floor(ctl: Controller, rec: Recorder) -> None:
    """What any playbook costs on this host, whatever it does: an empty play, and one module task.

    Against the same inventory as the roles (local connection, the same interpreter). A module
    task is the mean of ten ``ansible.builtin.command: true`` beyond the empty play. Below 1M these
    two, with n8n's own start, are most of every figure (bench/findings.md, "Goals no playbook can
    meet here").
    """

    def play(tasks: int) -> float:
        path = ctl.root / ("floor-%d.yml" % tasks)
        task = {"name": "Run true", "ansible.builtin.command": "true", "changed_when": False}
        path.write_text(yaml.safe_dump([{"name": "Floor", "hosts": "all", "gather_facts": False, "tasks": [task] * tasks}]))
        return timed("ansible-playbook -i %s %s >/dev/null" % (shlex.quote(str(ctl.inventory)), shlex.quote(str(path)))).seconds

    empty = play(0)
    rec.add("floor.playbook_empty", empty)
    rec.add("floor.module_task", (play(FLOOR_TASKS) - empty) / FLOOR_TASKS)


def raw_tools(site: Site, rec: Recorder, variants: list[str], same: str, scratch: Path) -> None:
    """Every raw dump variant (n8n stopped), the second-read checksum, the raw restore."""
    for name in variants:
        if "lz4" in name and shutil.which("lz4") is None:
            continue  # optional: lz4 is not among the tools the setup installs
        rec.cold()
        result, size = raw_dump(site, name, scratch / "raw.dump")
        rec.add("raw:" + name, result.seconds)
        rec.size("raw:" + name, size)
        if name in (PG_BASELINE, SQLITE_BASELINE):
            rec.add("mem.raw_baseline_mb", result.peak_rss_kb / 1024)
        if name == same:
            env = {**os.environ, "OUT": str(scratch / "raw.dump")}
            rec.add("raw.sha256_second_read", timed("sha256sum \"$OUT\" >/dev/null", env=env).seconds)
            if site.pg is None:
                rec.add("raw.integrity_check", timed("sqlite3 \"$OUT\" 'PRAGMA integrity_check' >/dev/null", env=env).seconds)
            rec.cold()
            rec.add("raw.restore", raw_restore(site, scratch / "raw.dump", scratch))
        _remove(scratch / "raw.dump")
    if site.pg is not None:
        rec.size("raw:pg_dump -Fp (uncompressed)", plain_size(site))


def plain_size(site: Site) -> int:
    out = timed("pg_dump -Fp --no-owner --no-privileges | wc -c", env=site.tool_env())
    return int(out.output.strip() or 0)


def raw_restore(site: Site, dump: Path, scratch: Path) -> float:
    if site.pg is None:
        target = scratch / "restored.sqlite"
        result = timed("cp \"$SRC\" \"$OUT\"", env={**os.environ, "SRC": str(dump), "OUT": str(target)})
        _remove(target)
        return result.seconds
    database = "bench_scratch_%s" % secrets.token_hex(4)
    with psycopg.connect(pgh.admin_dsn(), autocommit=True) as conn:
        conn.execute('CREATE DATABASE "%s"' % database)
    try:
        env = site.tool_env()
        env.update(PGDATABASE=database, DUMP=str(dump))
        return timed("pg_restore -j2 --no-owner --no-privileges --exit-on-error -d \"$PGDATABASE\" \"$DUMP\"", env=env).seconds
    finally:
        with psycopg.connect(pgh.admin_dsn(), autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database)


def key_check(site: Site, rec: Recorder) -> float:
    """The collection's key check on the live database, in this process: credentials verified per second."""
    sys.path.insert(0, os.environ.get("LIFEBOAT_CHECKOUT_LINK", ""))
    from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase  # noqa: PLC0415
    from ansible_collections.lifeboat.n8n.plugins.module_utils._key_check import check_key  # noqa: PLC0415

    if site.pg is not None:
        config = DatabaseConfig(type="postgresdb", host=site.pg.host, port=site.pg.port, name=site.pg.database, user=site.pg.user,
                                password=site.pg.password, schema="public")
    else:
        config = DatabaseConfig(type="sqlite", path=str(site.sqlite_path))
    with N8nDatabase(config, readonly=True) as db:
        report_ = check_key(db, site.key)  # every category n8n encrypts, as the restore runs it
        assert report_.passed, report_.summary()
        rec.add("keycheck.seconds", report_.elapsed_seconds)
        rec.add("keycheck.credentials", report_.categories["credentials"].total)
        # Credentials alone, five times: the load of a shared machine only ever slows a run down,
        # so the best of five is the closest to the check's own speed; the median is kept too.
        rates = []
        for _attempt in range(5):
            only = check_key(db, site.key, categories=["credentials"])
            rates.append(only.rate("credentials"))
        rec.add("keycheck.rate_best", max(rates))
    return float(sorted(rates)[len(rates) // 2])


# ---------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    def first(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": first(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "postgres": first(["pg_dump", "--version"]),
        "sqlite": first(["sqlite3", "--version"]).split(" ")[0],
        "zstd": first(["zstd", "--version"]).strip("* ").split(",")[0],
        "ansible": first(["ansible", "--version"]),
        "python": platform.python_version(),
        "n8n": VERSION,
        "disk": first(["sh", "-c", "df -h --output=size,avail / | tail -1"]),
    }


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# ------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default=os.environ.get("SIZES", "small,10k,100k"), help="comma-separated: " + ", ".join(SIZES))
    parser.add_argument("--dbs", default=os.environ.get("DBS", "postgres,sqlite"))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    parser.add_argument("--runs-small", type=int, default=int(os.environ.get("RUNS_SMALL", "1")), help="runs at small (default 1)")
    parser.add_argument("--runs-1m", type=int, default=int(os.environ.get("RUNS_1M", "1")), help="runs at 1m (default 1)")
    parser.add_argument("--export-runs", type=int, default=int(os.environ.get("EXPORT_RUNS", "99")),
                        help="runs of n8n's export below 1m (default: every run)")
    parser.add_argument("--export-runs-1m", type=int, default=int(os.environ.get("EXPORT_RUNS_1M", "1")))
    parser.add_argument("--export-limit", type=float, default=float(os.environ.get("EXPORT_LIMIT", "7200")),
                        help="seconds after which n8n's export is stopped and its time kept as a lower bound")
    parser.add_argument("--work", default=os.environ.get("BENCH_WORK", "/var/tmp/%s" % PREFIX))
    parser.add_argument("--keep", action="store_true", default=os.environ.get("BENCH_KEEP") == "1",
                        help="keep the generated sites (and reuse them next time)")
    parser.add_argument("--keycheck-only", action="store_true", help="re-measure only the key check on kept sites")
    parser.add_argument("--render-only", action="store_true", help="render docs/benchmarks.md from docs/benchmarks.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"sites": {}}
    if args.keycheck_only:
        # Re-measure the key check on kept sites (BENCH_KEEP=1) without the rest.
        for label, data in results["sites"].items():
            base = Path(args.work) / ("%s-%s" % (data["db"], data["size"]))
            marker = base / "site.json"
            if not marker.exists() or data.get("tag"):
                continue
            site = build_site(data["db"], SIZES[data["size"]], Path(args.work), reuse=True)
            rec = Recorder()
            rec.add("keycheck.rate", key_check(site, rec))
            data["samples"].update(rec.samples)
            log("%s: key check %.0f credentials/s (best %.0f)" % (label, rec.samples["keycheck.rate"][0], rec.samples["keycheck.rate_best"][0]))
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        DOC.write_text(report.render(results))
        return 0
    if args.render_only:
        DOC.write_text(report.render(results))
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results["machine"] = machine()
    for size in args.sizes.split(","):
        spec = SIZES[size.strip()]
        for db_text in args.dbs.split(","):
            db = db_text.strip()
            load_before = loadavg()
            started = time.monotonic()
            site = build_site(db, spec, work, reuse=args.keep)
            marker = json.loads((site.base / "site.json").read_text())
            runs = {"1m": args.runs_1m, "small": args.runs_small}.get(spec.name, args.runs)
            export_runs = args.export_runs_1m if spec.name == "1m" else min(runs, args.export_runs)
            try:
                measured = measure_site(site, runs, export_runs, args.export_limit)
                site.stop()
                db_bytes = site.db_bytes()
            finally:
                if not args.keep:
                    destroy_site_folder(site.base)
                elif site.running():
                    site.stop()
            tag = os.environ.get("BENCH_TAG", "")
            results["sites"][site.label + ("+" + tag if tag else "")] = {
                "tag": tag, "db": db, "size": spec.name, "spec": spec.__dict__, "runs": runs, "export_runs": min(export_runs, runs),
                "db_bytes": db_bytes, "generate_s": marker.get("generate_s"), "execution_data_bytes": marker.get("execution_data_bytes"),
                "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "load_before": load_before, "load_after": loadavg(),
                "minutes": round((time.monotonic() - started) / 60, 1), **measured,
            }
            RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
            DOC.write_text(report.render(results))
            log("%s: done in %.1f min; %s updated" % (site.label, (time.monotonic() - started) / 60, DOC.relative_to(ROOT)))
    return 0
