"""Fill a real n8n 2.40.7 database with realistic volume, through n8n's own schema.

n8n creates the schema (it is started once on an empty database and migrates it), the
harness seed adds the owner, an API key and the webhook workflows the roles probe; then
this module bulk-inserts, with n8n stopped:

* workflows (``workflow_entity`` + ``shared_workflow``), each with ``HISTORY`` rows of
  ``workflow_history`` (the last one is the current ``versionId``);
* credentials (``credentials_entity`` + ``shared_credentials``), each encrypted with the
  instance key exactly as n8n does (the collection's own cipher, byte-compatible with
  n8n-core), so a key check has real work;
* finished executions (``execution_entity`` + ``execution_data``): ``data`` is a flatted
  run log of a few KB (6% of 6-16 KB, 1% of 40-120 KB) made of JSON structure and text
  drawn at random offsets from a 32 MB corpus of Zipf-distributed words, so compressors
  see text about as redundant as real run data, never the same bytes twice;
  ``workflowData`` is the executed workflow's JSON, as n8n stores it per execution.

PostgreSQL gets COPY (text format, escaped here), SQLite ``executemany`` in one
transaction per batch. Pruning is turned off on the instance (EXECUTIONS_DATA_PRUNE=false):
n8n would otherwise delete most of a large history on its own.
"""

from __future__ import annotations

import io
import json
import random
import secrets
import sqlite3
import string
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

HISTORY = 3
CORPUS_BYTES = 32 * 1024 * 1024
BATCH = 5000
_ALNUM = string.ascii_letters + string.digits


def _load_cipher() -> Any:
    """The collection's n8n cipher (plugins/module_utils/_cipher.py), imported from the checkout."""
    import importlib.util  # noqa: PLC0415

    path = Path(__file__).resolve().parents[1] / "plugins" / "module_utils" / "_cipher.py"
    spec = importlib.util.spec_from_file_location("lifeboat_bench_cipher", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class SizeSpec:
    name: str
    executions: int
    workflows: int
    credentials: int


SIZES: dict[str, SizeSpec] = {
    "small": SizeSpec("small", 1_200, 50, 100),  # about 10 MB: the small-instance figure
    "10k": SizeSpec("10k", 10_000, 1_000, 2_000),
    "100k": SizeSpec("100k", 100_000, 1_000, 2_000),
    "1m": SizeSpec("1m", 1_000_000, 1_000, 2_000),
}


# ----------------------------------------------------------------------------- text
class Corpus:
    """Words with a Zipf-like frequency, concatenated; slices at random offsets never repeat a row."""

    def __init__(self, rng: random.Random, size: int = CORPUS_BYTES) -> None:
        vocab = sorted({"".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 11))) for _word in range(6000)})
        rng.shuffle(vocab)
        weights = [1.0 / (rank + 1) ** 1.05 for rank in range(len(vocab))]
        words: list[str] = []
        length = 0
        while length < size:
            chunk = rng.choices(vocab, weights=weights, k=100_000)
            words.extend(chunk)
            length += sum(len(w) + 1 for w in chunk)
        self.text = " ".join(words)[:size]
        self.words = vocab[:2000]
        self.rng = rng

    def slice(self, length: int) -> str:
        start = self.rng.randrange(0, len(self.text) - length - 1)
        return self.text[start:start + length]


def _nid(rng: random.Random, length: int = 16) -> str:
    return "".join(rng.choices(_ALNUM, k=length))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


NODE_TYPES = [
    ("n8n-nodes-base.httpRequest", 4.2),
    ("n8n-nodes-base.set", 3.4),
    ("n8n-nodes-base.if", 2),
    ("n8n-nodes-base.code", 2),
    ("n8n-nodes-base.merge", 3),
    ("n8n-nodes-base.postgres", 2.5),
    ("n8n-nodes-base.slack", 2.2),
    ("n8n-nodes-base.googleSheets", 4.5),
]


def workflow_nodes(rng: random.Random, corpus: Corpus) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    count = rng.randint(3, 9)
    trigger = rng.choice(["n8n-nodes-base.scheduleTrigger", "n8n-nodes-base.webhook", "n8n-nodes-base.manualTrigger"])
    nodes: list[dict[str, Any]] = [{
        "id": _uuid(rng), "name": "Trigger", "type": trigger, "typeVersion": 1,
        "position": [0, 300], "parameters": {"rule": {"interval": [{"field": "hours"}]}} if "schedule" in trigger else {},
    }]
    for index in range(1, count):
        node_type, version = rng.choice(NODE_TYPES)
        params: dict[str, Any] = {"options": {}}
        if node_type.endswith("code"):
            params["jsCode"] = "// " + corpus.slice(rng.randint(80, 600)) + "\nreturn $input.all();\n"
        elif node_type.endswith("httpRequest"):
            params.update(url="https://api.example.com/" + "/".join(corpus.slice(30).split()), method=rng.choice(["GET", "POST"]))
        else:
            params["values"] = {"string": [{"name": w, "value": corpus.slice(rng.randint(10, 120))} for w in corpus.slice(60).split()[:4]]}
        nodes.append({
            "id": _uuid(rng), "name": "%s %d" % (node_type.rsplit(".", 1)[-1], index), "type": node_type,
            "typeVersion": version, "position": [220 * index, 300], "parameters": params,
        })
    connections = {
        nodes[i]["name"]: {"main": [[{"node": nodes[i + 1]["name"], "type": "main", "index": 0}]]} for i in range(len(nodes) - 1)
    }
    return nodes, connections


FLATTED_HEAD = (
    '[{"version":1,"startData":"1","resultData":"2","executionData":"3"},{},{"runData":"4","lastNodeExecuted":"5"},'
    '{"contextData":"6","nodeExecutionStack":"7","metadata":"8","waitingExecution":"9","waitingExecutionSource":"10"},'
)


def execution_payload(rng: random.Random, corpus: Corpus, nodes: list[str], started_ms: int) -> str:
    """A flatted run log of a few KB (some large), as n8n 2.x writes execution_data.data."""
    roll = rng.random()
    if roll < 0.01:
        target = rng.randint(40_000, 120_000)
    elif roll < 0.07:
        target = rng.randint(6_000, 16_000)
    else:
        target = rng.randint(1_000, 3_500)
    parts = [FLATTED_HEAD, '{%s},' % ",".join('"%s":"%d"' % (n, 11 + i) for i, n in enumerate(nodes))]
    size = sum(len(p) for p in parts)
    item = 0
    while size < target:
        words = corpus.words
        part = (
            '{"startTime":%d,"executionIndex":%d,"executionTime":%d,"executionStatus":"success","data":{"main":[[{"json":'
            '{"id":%d,"email":"%s@%s.com","name":"%s","amount":%d.%02d,"status":"%s","notes":"%s"},"pairedItem":{"item":%d}}]]}},'
            % (started_ms + item * 7, item, rng.randint(1, 900), rng.randint(1, 10**9), rng.choice(words), rng.choice(words),
               corpus.slice(rng.randint(8, 24)), rng.randint(0, 99999), rng.randint(0, 99), rng.choice(("new", "paid", "open", "sent")),
               corpus.slice(rng.randint(60, 700)), item)
        )
        parts.append(part)
        size += len(part)
        item += 1
    parts.append('"%s"]' % nodes[-1])
    return "".join(parts)


# ------------------------------------------------------------------------- database
def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _ts(value: datetime, sqlite: bool) -> str:
    if sqlite:
        return value.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (value.microsecond // 1000)
    return value.isoformat()


@dataclass
class Workflow:
    id: str
    name: str
    version_id: str
    json: str  # what execution_data.workflowData holds
    nodes: list[str]


class Generator:
    """Bulk inserts into one n8n database (``pg`` = psycopg connection kwargs, or ``sqlite_path``)."""

    def __init__(self, key: str, spec: SizeSpec, pg: dict[str, Any] | None = None, sqlite_path: Path | None = None,
                 seed_value: int = 9, log: Callable[[str], None] = print) -> None:
        self.key = key
        self.spec = spec
        self.pg = pg
        self.sqlite_path = sqlite_path
        self.rng = random.Random(seed_value)
        self.log = log
        self.cipher = _load_cipher()
        started = time.monotonic()
        self.corpus = Corpus(self.rng)
        self.log("corpus: %d MB in %.1f s" % (len(self.corpus.text) >> 20, time.monotonic() - started))
        self.now = datetime.now(timezone.utc)

    # -- plumbing
    def _connect(self) -> Any:
        if self.pg is not None:
            return psycopg.connect(**self.pg)
        conn = sqlite3.connect(str(self.sqlite_path), isolation_level=None)
        conn.execute("PRAGMA synchronous = OFF")
        return conn

    def _rows(self, conn: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        cols = ", ".join('"%s"' % c for c in columns)
        if self.pg is not None:
            buf = io.StringIO()
            for row in rows:
                buf.write("\t".join("\\N" if v is None else _copy_escape(str(v)) for v in row))
                buf.write("\n")
            with conn.cursor() as cur, cur.copy("COPY %s (%s) FROM STDIN" % (table, cols)) as copy:
                copy.write(buf.getvalue())
        else:
            marks = ", ".join("?" for _column in columns)
            conn.executemany("INSERT INTO %s (%s) VALUES (%s)" % (table, cols, marks), rows)

    def _begin(self, conn: Any) -> None:
        if self.pg is None:
            conn.execute("BEGIN")

    def _commit(self, conn: Any) -> None:
        if self.pg is None:
            conn.execute("COMMIT")
        else:
            conn.commit()

    def _bool(self, value: bool) -> Any:
        if self.pg is not None:
            return "t" if value else "f"
        return 1 if value else 0

    # -- content
    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        with self._connect() as conn:
            project = self._project(conn)
            workflows = self.workflows(conn, project)
            self.log("workflows: %d (+%d history rows) in %.1f s" % (len(workflows), len(workflows) * HISTORY, time.monotonic() - started))
            mark = time.monotonic()
            self.credentials(conn, project)
            self.log("credentials: %d in %.1f s" % (self.spec.credentials, time.monotonic() - mark))
            mark = time.monotonic()
            data_bytes = self.executions(conn, workflows)
            self.log("executions: %d (%.0f MB of execution data) in %.1f s" % (self.spec.executions, data_bytes / 1e6, time.monotonic() - mark))
            self._finish(conn)
        return {"generate_s": round(time.monotonic() - started, 1), "execution_data_bytes": data_bytes}

    def _project(self, conn: Any) -> str:
        row = conn.execute("SELECT id FROM project WHERE type = 'personal' ORDER BY \"createdAt\" LIMIT 1").fetchone()
        assert row, "the seed made no personal project"
        return str(row[0])

    def workflows(self, conn: Any, project: str) -> list[Workflow]:
        rng, sqlite = self.rng, self.pg is None
        entity, history, shared, made = [], [], [], []
        for index in range(self.spec.workflows):
            wid = _nid(rng)
            name = "Bench %05d %s" % (index, self.corpus.slice(20).strip())
            created = self.now - timedelta(days=rng.randint(30, 400))
            versions = [_uuid(rng) for _version in range(HISTORY)]
            for number, version in enumerate(versions):
                nodes, connections = workflow_nodes(rng, self.corpus)
                stamp = _ts(created + timedelta(days=number), sqlite)
                history.append((version, wid, "Bench Owner", stamp, stamp, json.dumps(nodes), json.dumps(connections), name,
                                self._bool(False), "[]"))
            settings = json.dumps({"executionOrder": "v1", "saveDataSuccessExecution": "all"})
            stamp = _ts(created + timedelta(days=HISTORY - 1), sqlite)
            entity.append((wid, name, self._bool(False), json.dumps(nodes), json.dumps(connections), stamp, stamp, settings,
                           versions[-1], 0, self._bool(False), HISTORY, "[]"))
            shared.append((wid, project, "workflow:owner", stamp, stamp))
            made.append(Workflow(wid, name, versions[-1], json.dumps({
                "id": wid, "name": name, "nodes": nodes, "connections": connections,
                "settings": json.loads(settings), "nodeGroups": [],
            }, separators=(",", ":")), [n["name"] for n in nodes]))
        self._begin(conn)
        self._rows(conn, "workflow_entity", ["id", "name", "active", "nodes", "connections", "createdAt", "updatedAt", "settings",
                                             "versionId", "triggerCount", "isArchived", "versionCounter", "nodeGroups"], entity)
        self._rows(conn, "workflow_history", ["versionId", "workflowId", "authors", "createdAt", "updatedAt", "nodes", "connections",
                                              "name", "autosaved", "nodeGroups"], history)
        self._rows(conn, "shared_workflow", ["workflowId", "projectId", "role", "createdAt", "updatedAt"], shared)
        self._commit(conn)
        return made

    CREDENTIAL_TYPES = (
        ("httpHeaderAuth", lambda r: {"name": "Authorization", "value": "Bearer " + secrets.token_urlsafe(32)}),
        ("httpBasicAuth", lambda r: {"user": "svc-%d" % r.randint(1, 9999), "password": secrets.token_urlsafe(18)}),
        ("postgres", lambda r: {"host": "db%d.internal" % r.randint(1, 99), "database": "app", "user": "app",
                                "password": secrets.token_urlsafe(18), "port": 5432, "ssl": "require"}),
        ("slackApi", lambda r: {"accessToken": "xoxb-" + secrets.token_hex(24)}),
        ("oAuth2Api", lambda r: {"clientId": secrets.token_hex(12), "clientSecret": secrets.token_urlsafe(32),
                                 "accessTokenUrl": "https://auth.example.com/token", "authUrl": "https://auth.example.com/authorize",
                                 "oauthTokenData": {"access_token": secrets.token_urlsafe(48), "refresh_token": secrets.token_urlsafe(48),
                                                    "expires_in": 3600, "token_type": "Bearer"}}),
    )

    def credentials(self, conn: Any, project: str) -> None:
        rng, sqlite = self.rng, self.pg is None
        rows, shared = [], []
        for index in range(self.spec.credentials):
            cred_type, make = self.CREDENTIAL_TYPES[index % len(self.CREDENTIAL_TYPES)]
            cid = _nid(rng)
            stamp = _ts(self.now - timedelta(days=rng.randint(1, 400)), sqlite)
            data = self.cipher.encrypt(json.dumps(make(rng)), self.key)
            rows.append((cid, "Bench %s %05d" % (cred_type, index), data, cred_type, stamp, stamp))
            shared.append((cid, project, "credential:owner", stamp, stamp))
        self._begin(conn)
        self._rows(conn, "credentials_entity", ["id", "name", "data", "type", "createdAt", "updatedAt"], rows)
        self._rows(conn, "shared_credentials", ["credentialsId", "projectId", "role", "createdAt", "updatedAt"], shared)
        self._commit(conn)

    def _execution_batches(self, workflows: list[Workflow], first_id: int) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]]:
        rng, sqlite = self.rng, self.pg is None
        span = 10 * 24 * 3600  # the last ten days
        total = self.spec.executions
        data_cache = {w.id: (_copy_escape(w.json) if not sqlite else w.json) for w in workflows}
        for batch_start in range(0, total, BATCH):
            entity, data = [], []
            size = 0
            for offset in range(batch_start, min(total, batch_start + BATCH)):
                eid = first_id + offset
                workflow = workflows[rng.randrange(len(workflows))]
                started = self.now - timedelta(seconds=span * (total - offset) / total)
                stopped = started + timedelta(milliseconds=rng.randint(20, 5000))
                payload = execution_payload(rng, self.corpus, workflow.nodes, int(started.timestamp() * 1000))
                size += len(payload) + len(workflow.json)
                status = "error" if rng.random() < 0.1 else "success"
                entity.append((eid, self._bool(True), rng.choice(("trigger", "webhook", "trigger", "manual")), _ts(started, sqlite),
                               _ts(stopped, sqlite), status, workflow.id, _ts(started, sqlite), "db", len(payload), workflow.version_id))
                data.append((eid, data_cache[workflow.id], payload, workflow.version_id))
            yield entity, data, size

    def executions(self, conn: Any, workflows: list[Workflow]) -> int:
        first = int(conn.execute("SELECT coalesce(max(id), 0) FROM execution_entity").fetchone()[0]) + 1
        total = 0
        entity_cols = ["id", "finished", "mode", "startedAt", "stoppedAt", "status", "workflowId", "createdAt", "storedAt",
                       "jsonSizeBytes", "workflowVersionId"]
        data_cols = ["executionId", "workflowData", "data", "workflowVersionId"]
        for count, (entity, data, size) in enumerate(self._execution_batches(workflows, first), 1):
            self._begin(conn)
            if self.pg is not None:
                # workflowData is pre-escaped for COPY: write the rows as they are.
                self._rows(conn, "execution_entity", entity_cols, entity)
                buf = io.StringIO()
                for eid, wf, payload, version in data:
                    buf.write("%d\t%s\t%s\t%s\n" % (eid, wf, _copy_escape(payload), version))
                with conn.cursor() as cur, cur.copy('COPY execution_data ("executionId", "workflowData", "data", "workflowVersionId") FROM STDIN') as copy:
                    copy.write(buf.getvalue())
            else:
                self._rows(conn, "execution_entity", entity_cols, entity)
                self._rows(conn, "execution_data", data_cols, data)
            self._commit(conn)
            total += size
            if count % 20 == 0:
                self.log("  %d executions" % (count * BATCH))
        if self.pg is not None:
            conn.execute("SELECT setval('execution_entity_id_seq', (SELECT max(id) FROM execution_entity))")
            conn.commit()
        return total

    def _finish(self, conn: Any) -> None:
        if self.pg is not None:
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM (ANALYZE)")  # sets hint bits now, not during the first timed dump
        else:
            conn.execute("ANALYZE")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def main(argv: list[str]) -> int:  # pragma: no cover - used by hand: python -m bench.generate
    print("use python -m bench (bench/run.py); this module is driven by the runner", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
