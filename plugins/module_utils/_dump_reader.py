# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read n8n tables out of a PostgreSQL dump without restoring it (private module_utils).

A key check on a backup artifact needs a few tables (credentials_entity, deployment_key,
settings, ...) out of a dump that may be gigabytes of execution history. Formats:

* custom (``pg_dump -Fc``), directory (``-Fd``) and tar (``-Ft``): ``pg_restore --data-only
  --schema=<schema> --table=<prefixed name>... -f -`` extracts just those tables (custom and
  directory dumps seek straight to them); ``pg_restore --list`` says which tables exist.
* plain SQL (``-Fp``): read once, line by line, picking out the ``COPY ... FROM stdin``
  blocks of the wanted tables.

A whole-file zstd or gzip compression (``dump.sql.zst``, ``dump.pgdump.gz``) is undone on
the fly (the ``zstd`` / ``gzip`` tools, or Python's gzip module), never to disk.

Rows come from PostgreSQL's COPY text format: tab-separated fields, ``\\N`` for NULL,
backslash escapes (``\\b \\f \\n \\r \\t \\v \\\\``, octal ``\\ooo``, hex ``\\xhh``, any other
``\\c`` is ``c``), a ``\\.`` line at the end of the data. :func:`parse_copy_line` does it.
Values stay in memory one row at a time; callers iterate.
"""

from __future__ import absolute_import, annotations, division, print_function

import gzip
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

__metaclass__ = type

FORMATS = ("auto", "sqlite", "custom", "directory", "tar", "plain")
DUMP_FORMATS = ("custom", "directory", "tar", "plain")
COMPRESSIONS = ("zstd", "gzip")

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_CUSTOM_MAGIC = b"PGDMP"

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_COPY_HEADER = re.compile(
    r"^COPY (?P<schema>%s)\.(?P<table>%s)(?: \((?P<columns>.*)\))? FROM stdin;$" % (_IDENT, _IDENT)
)
_COLUMN = re.compile(_IDENT)
_ENCODING = re.compile(r"^SET client_encoding = '(?P<encoding>[^']+)';$")
_TOC_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (?P<schema>\S+) (?P<table>\S+) ")
_INSERT = re.compile(r"^INSERT INTO (?P<schema>%s)\.(?P<table>%s)[ (]" % (_IDENT, _IDENT))
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
# PostgreSQL encoding names -> Python codecs (pg_dump writes UTF8 unless told otherwise).
_CODECS = {"UTF8": "utf-8", "UNICODE": "utf-8", "SQL_ASCII": "utf-8", "LATIN1": "latin-1", "WIN1252": "cp1252"}


class DumpError(Exception):
    """A dump could not be read; the message says what to do."""


@dataclass
class TableBlock:
    """The rows of one table: ``columns`` are the requested columns the dump has, in request order."""

    table: str  # n8n's name, prefix stripped
    columns: List[str]
    rows: Iterator[Tuple[Optional[str], ...]]


# ---------------------------------------------------------------- COPY text format
def _unescape_match(match: Any) -> bytes:
    octal, hexa, char = match.group(1), match.group(2), match.group(3)
    if octal is not None:
        return bytes((int(octal, 8) & 0xFF,))
    if hexa is not None:
        return bytes((int(hexa, 16),))
    return _SIMPLE_ESCAPES.get(char, char)  # type: ignore[no-any-return]


def unescape_copy_field(raw: bytes) -> bytes:
    """Undo COPY text-format backslash escapes in one field (NULL handled by the caller)."""
    if b"\\" not in raw:
        return raw
    return _ESCAPE.sub(_unescape_match, raw)


def parse_copy_line(line: bytes, encoding: str = "utf-8") -> List[Optional[str]]:
    """One COPY text-format data line -> field values (``None`` for ``\\N``)."""
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):  # COPY accepts CRLF line ends; a CR in data is escaped as \r
            line = line[:-1]
    values: List[Optional[str]] = []
    for raw in line.split(b"\t"):
        if raw == b"\\N":
            values.append(None)
        elif b"\\" in raw:
            values.append(_ESCAPE.sub(_unescape_match, raw).decode(encoding))
        else:
            values.append(raw.decode(encoding))
    return values


def _unquote(ident: str) -> str:
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident


def parse_copy_header(line: str) -> Optional[Tuple[str, str, List[str]]]:
    """``COPY schema.table (cols) FROM stdin;`` -> (schema, table, columns), unquoted; else None."""
    match = _COPY_HEADER.match(line.rstrip("\r\n"))
    if not match:
        return None
    columns = [_unquote(c) for c in _COLUMN.findall(match.group("columns") or "")]
    return _unquote(match.group("schema")), _unquote(match.group("table")), columns


# ---------------------------------------------------------------- detection
def _sniff(path: str, size: int = 512) -> Tuple[Optional[str], bytes]:
    """(outer compression, first bytes of the decompressed content)."""
    with open(path, "rb") as handle:
        head = handle.read(size)
    if head.startswith(_GZIP_MAGIC):
        with gzip.open(path, "rb") as handle:
            return "gzip", handle.read(size)
    if head.startswith(_ZSTD_MAGIC):
        with _decompressed(path, "zstd") as stream:
            return "zstd", stream.read(size)
    return None, head


def detect_format(path: str) -> Tuple[str, Optional[str]]:
    """(format, compression) of a backup artifact: sqlite, custom, directory, tar or plain."""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "toc.dat")):
            return "directory", None
        raise DumpError("Cannot read %s: a folder, but not a pg_dump directory-format dump (no toc.dat)" % path)
    if not os.path.exists(path):
        raise DumpError("Cannot read %s: no such file" % path)
    compression, head = _sniff(path)
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite", compression
    if head.startswith(_CUSTOM_MAGIC):
        return "custom", compression
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar", compression
    text = head.decode("utf-8", "replace")  # a plain dump may be in another client_encoding
    if text.lstrip().startswith(("--", "SET ", "\\", "COPY ", "CREATE ", "SELECT ", "BEGIN")):
        return "plain", compression
    raise DumpError(
        "Cannot read %s: not a SQLite database or a pg_dump artifact (custom, directory, tar or plain SQL, "
        "optionally zstd/gzip-compressed). Give artifact_format explicitly if it is one" % path
    )


# ---------------------------------------------------------------- processes
def _stdout(proc: "subprocess.Popen[bytes]") -> IO[bytes]:
    if proc.stdout is None:  # pragma: no cover - always a pipe here
        raise DumpError("Internal error: no pipe from %r" % (proc.args,))
    return proc.stdout


def _open_stream(stack: ExitStack, path: str, compression: Optional[str]) -> IO[bytes]:
    """The file's content, decompressed on the fly; closed with ``stack``."""
    if compression is None:
        return stack.enter_context(open(path, "rb"))
    tool = "zstd" if compression == "zstd" else "gzip"
    if shutil.which(tool) is None:
        if compression == "gzip":
            handle: Any = gzip.open(path, "rb")  # stdlib fallback when the gzip tool is missing (a GzipFile)
            stack.callback(handle.close)
            return handle  # type: ignore[no-any-return]
        raise DumpError("Cannot read %s: it is zstd-compressed and the zstd tool is not installed (apt install zstd)" % path)
    return _stdout(stack.enter_context(_process([tool, "-dc", path], stdin=None, what="%s -dc" % tool)))


@contextmanager
def _decompressed(path: str, compression: Optional[str]) -> Iterator[IO[bytes]]:
    """A binary stream of the file's content, decompressed on the fly."""
    with ExitStack() as stack:
        yield _open_stream(stack, path, compression)


@contextmanager
def _process(argv: Sequence[str], stdin: Optional[IO[bytes]], what: str) -> Iterator["subprocess.Popen[bytes]"]:
    """Run a reader process; on early exit terminate it, on normal exit check its status."""
    errors = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(
            list(argv), stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
        )
    except OSError as exc:
        errors.close()
        raise DumpError("Cannot run %s: %s" % (what, exc)) from exc
    finished = False
    try:
        yield proc
        finished = True
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        if not finished:
            proc.terminate()
        code = proc.wait()
        errors.seek(0)
        detail = errors.read().decode("utf-8", "replace").strip()[-1500:]
        errors.close()
    # A reader that was closed early dies of SIGPIPE/SIGTERM: not an error.
    if finished and code not in (0, -13):
        raise DumpError("%s failed (exit %s): %s" % (what, code, detail or "no message"))


# ---------------------------------------------------------------- the reader
@dataclass
class PgDump:
    """A PostgreSQL dump of n8n's database, read table by table."""

    path: str
    format: str = "auto"
    schema: str = "public"
    table_prefix: str = ""
    pg_restore: str = "pg_restore"
    prefetch: Tuple[str, ...] = ("deployment_key",)  # small tables a plain dump's index pass keeps
    compression: Optional[str] = None
    _tables: Optional[Dict[str, List[str]]] = field(default=None, repr=False)  # name -> columns ([] if unknown)
    _cache: Dict[str, List[Tuple[Optional[str], ...]]] = field(default_factory=dict, repr=False)
    _cache_columns: Dict[str, List[str]] = field(default_factory=dict, repr=False)
    _inserts: List[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise DumpError("Unknown artifact format %r: use one of %s" % (self.format, ", ".join(FORMATS)))
        detected, compression = detect_format(self.path)
        if self.format == "auto":
            self.format = detected
        self.compression = compression
        if self.format == "sqlite":
            raise DumpError("%s is a SQLite database, not a PostgreSQL dump: open it as a database" % self.path)
        if self.format != "directory" and os.path.isdir(self.path):
            raise DumpError("Cannot read %s as a %s dump: it is a folder" % (self.path, self.format))
        if self.format == "directory" and compression:
            raise DumpError("A directory-format dump cannot be compressed as a whole")

    def describe(self) -> str:
        extra = ", %s-compressed" % self.compression if self.compression else ""
        return "pg_dump %s artifact %s (schema %s%s)" % (self.format, self.path, self.schema, extra)

    def _name(self, table: str) -> str:
        return self.table_prefix + table

    def _strip(self, schema: str, name: str) -> Optional[str]:
        if schema != self.schema or not name.startswith(self.table_prefix):
            return None
        return name[len(self.table_prefix):]

    # ------------------------------------------------------------ tables
    def tables(self) -> Dict[str, List[str]]:
        """n8n tables (prefix stripped) with data in this dump -> their columns, when already known."""
        if self._tables is None:
            if self.format == "plain":
                self._index_plain()
            else:
                self._tables = self._toc_tables()
        if self._tables is None:  # pragma: no cover - set by both branches above
            raise DumpError("Internal error: no table list for %s" % self.path)
        return self._tables

    def _toc_tables(self) -> Dict[str, List[str]]:
        found: Dict[str, List[str]] = {}
        with self._restore(["--list"]) as lines:
            for raw in lines:
                match = _TOC_DATA.match(raw.decode("utf-8", "replace"))
                if match:
                    table = self._strip(match.group("schema"), match.group("table"))
                    if table is not None:
                        found[table] = []
        return found

    @contextmanager
    def _restore(self, args: List[str]) -> Iterator[IO[bytes]]:
        if shutil.which(self.pg_restore) is None and not os.path.exists(self.pg_restore):
            raise DumpError(
                "Cannot read %s: pg_restore is not installed on this host (postgresql-client, same or newer "
                "major version than the pg_dump that made it)" % self.path
            )
        what = "pg_restore %s" % " ".join(a for a in args if a.startswith("--list") or a.startswith("--data"))
        with ExitStack() as stack:
            # Closed in reverse: pg_restore first, then the decompressor feeding it.
            if self.compression:
                stdin: Optional[IO[bytes]] = _open_stream(stack, self.path, self.compression)
                argv = [self.pg_restore, *args, "-f", "-"]
            else:
                stdin, argv = None, [self.pg_restore, *args, "-f", "-", self.path]
            yield _stdout(stack.enter_context(_process(argv, stdin=stdin, what=what)))

    # ------------------------------------------------------------ rows
    def read(self, requests: Dict[str, Sequence[str]]) -> Iterator[TableBlock]:
        """Blocks of the requested tables (name -> columns) in dump order; consume each before the next."""
        wanted = {t: list(c) for t, c in requests.items() if t in self.tables()}
        if not wanted:
            return
        cached = [t for t in wanted if t in self._cache]
        for table in cached:
            yield self._cached_block(table, wanted.pop(table))
        if not wanted:
            return
        if self.format == "plain":
            with _decompressed(self.path, self.compression) as stream:
                yield from self._blocks(stream, wanted)
        else:
            args = ["--data-only", "--schema=%s" % self.schema]
            args += ["--table=%s" % self._name(t) for t in sorted(wanted)]
            with self._restore(args) as stream:
                yield from self._blocks(stream, wanted)
        if self._inserts:
            raise DumpError(
                "Cannot read %s: tables %s are dumped as INSERT statements (pg_dump --inserts); "
                "make the dump with COPY (the default)" % (self.path, ", ".join(sorted(set(self._inserts))))
            )

    def _cached_block(self, table: str, columns: List[str]) -> TableBlock:
        have = self._cache_columns[table]
        present = [c for c in columns if c in have]
        idx = [have.index(c) for c in present]
        rows = (tuple(row[i] for i in idx) for row in self._cache[table])
        return TableBlock(table, present, rows)

    def _blocks(self, stream: Iterable[bytes], wanted: Dict[str, List[str]]) -> Iterator[TableBlock]:
        lines = iter(stream)
        encoding = "utf-8"
        for raw in lines:
            if raw.startswith(b"SET client_encoding"):
                match = _ENCODING.match(raw.decode("ascii", "replace").strip())
                if match:
                    encoding = _CODECS.get(match.group("encoding").upper(), "utf-8")
                continue
            if raw.startswith(b"INSERT INTO "):
                match = _INSERT.match(raw.decode(encoding, "replace"))
                if match:
                    table = self._strip(_unquote(match.group("schema")), _unquote(match.group("table")))
                    if table in wanted:
                        self._inserts.append(table)
                continue
            if not raw.startswith(b"COPY "):
                continue
            header = parse_copy_header(raw.decode(encoding, "replace"))
            if header is None:
                continue
            table = self._strip(header[0], header[1])
            if table is None or table not in wanted:
                _skip_copy_data(lines)
                continue
            present = [c for c in wanted[table] if c in header[2]]
            idx = [header[2].index(c) for c in present]
            rows = _copy_rows(lines, idx, encoding)
            yield TableBlock(table, present, rows)
            for _row in rows:  # the caller may stop early: finish the block
                pass

    def _index_plain(self) -> None:
        """One pass over a plain dump: which tables have data, and the small prefetch tables' rows."""
        found: Dict[str, List[str]] = {}
        with _decompressed(self.path, self.compression) as stream:
            lines = iter(stream)
            encoding = "utf-8"
            for raw in lines:
                if raw.startswith(b"SET client_encoding"):
                    match = _ENCODING.match(raw.decode("ascii", "replace").strip())
                    if match:
                        encoding = _CODECS.get(match.group("encoding").upper(), "utf-8")
                    continue
                if raw.startswith(b"INSERT INTO "):
                    match = _INSERT.match(raw.decode(encoding, "replace"))
                    if match:
                        table = self._strip(_unquote(match.group("schema")), _unquote(match.group("table")))
                        if table is not None:
                            found.setdefault(table, [])
                            self._inserts.append(table)
                    continue
                if not raw.startswith(b"COPY "):
                    continue
                header = parse_copy_header(raw.decode(encoding, "replace"))
                if header is None:
                    continue
                table = self._strip(header[0], header[1])
                if table is None:
                    _skip_copy_data(lines)
                    continue
                found[table] = header[2]
                if table in self.prefetch:
                    self._cache_columns[table] = header[2]
                    self._cache[table] = [tuple(r) for r in _copy_rows(lines, list(range(len(header[2]))), encoding)]
                else:
                    _skip_copy_data(lines)
        self._tables = found
        # INSERT-style tables are reported when they are read.
        self._inserts = [t for t in self._inserts if t not in found or not found[t]]


_END_OF_DATA = (b"\\.\n", b"\\.\r\n", b"\\.")


def _skip_copy_data(lines: Iterator[bytes]) -> None:
    for raw in lines:
        if raw in _END_OF_DATA:
            return


def _copy_rows(lines: Iterator[bytes], idx: List[int], encoding: str) -> Iterator[Tuple[Optional[str], ...]]:
    for raw in lines:
        if raw in _END_OF_DATA:
            return
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        fields = line.split(b"\t")
        out: List[Optional[str]] = []
        for i in idx:
            value = fields[i]
            if value == b"\\N":
                out.append(None)
            elif b"\\" in value:
                out.append(_ESCAPE.sub(_unescape_match, value).decode(encoding))
            else:
                out.append(value.decode(encoding))
        yield tuple(out)
