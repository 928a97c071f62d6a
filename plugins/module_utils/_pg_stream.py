# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Stream n8n's PostgreSQL database to a dump file and back (private module_utils).

When PostgreSQL runs in a container, its own ``pg_dump`` / ``pg_restore`` / ``psql`` (always the
server's version) run *inside* the database container through ``docker exec -i``, and the bytes
stream through the docker CLI's stdout/stdin to and from a file on the docker host: no Python
and no temporary copy in the container, no shared volume, no client tools needed on the host.
Without a container the same commands run on the managed host.

Secrets. The password never appears in an argv (``ps`` shows every argv, and
``docker exec -e PGPASSWORD=...`` would put it in the docker CLI's): the commands run under
``sh -c 'IFS= read -r PGPASSWORD && export PGPASSWORD && exec "$@"'`` and the password is the
first line written to their stdin. ``read`` takes exactly that line; for a restore the dump
bytes follow on the same stdin. Every tool also gets ``--no-password``, so a missing or wrong
password fails at once instead of waiting for a prompt.

Dump (:func:`dump`): ``pg_dump --no-owner --no-privileges`` writes to its stdout; Python reads
the stream, hashes it (SHA-256, no second read) and writes ``<dest>.partial`` (mode ``mode``,
same folder), then fsyncs it and renames it to ``dest``. Compression:

* ``gzip:<0-9>``: pg_dump's own compression (``--compress``): per-table zlib inside a custom
  archive (``pg_restore`` undoes it), the whole stream for plain SQL;
* ``zstd:<1-19>``: pg_dump writes uncompressed and ``zstd -T0 -<level>`` on the managed host
  compresses the stream (pg_dump 15 has no zstd of its own);
* ``none``.

pg_dump's exit status and the compressor's are both checked (no shell pipeline whose status
hides the first command's failure). On any failure, including a killed pg_dump and a full file
system (the message names the destination and its free space), the partial file is removed:
a file named ``dest`` is always a complete dump.

What is dumped. With ``DB_POSTGRESDB_SCHEMA`` other than ``public``, only that schema
(``--schema``): the dump creates the schema itself (``CREATE SCHEMA <schema>``). With ``public``,
the whole database: pg_dump 15 emits ``CREATE SCHEMA public`` (and its comment) as soon as
``--schema=public`` is given, which fails against any database (every database has a public
schema), whereas a whole-database dump never creates ``public``; it does, however, carry every
other schema of that database, if any.

Restore (:func:`restore`) is mechanics only (the restore role runs the preflight checks):

1. the format and the outer compression are read from the file (zstd or gzip magic, then
   ``PGDMP`` for a custom archive, anything else is plain SQL);
2. the target schema is reset over a psycopg connection from the managed host:
   ``DROP SCHEMA <schema> CASCADE`` and ``CREATE SCHEMA <schema> AUTHORIZATION CURRENT_USER``,
   for ``public`` too. ``pg_restore --clean`` is not enough: it drops only the objects the dump
   mentions, so a target on which a newer n8n ran keeps that version's extra tables (and its
   ``migrations`` rows stay consistent with the dump's while the tables do not), and the next
   n8n start trips over them;
3. the file streams into ``pg_restore --no-owner --no-privileges --exit-on-error
   --single-transaction --schema=<schema>`` (``--schema`` restores exactly the objects of the
   n8n schema: not the dump's own ``CREATE SCHEMA``, not other schemas of a whole-database dump)
   or, for plain SQL, ``psql -v ON_ERROR_STOP=1`` inside ``BEGIN`` ... ``COMMIT`` that this
   module writes around the dump (``psql --single-transaction`` commits whatever it read when its
   input ends early: a cut stream or a truncated file would be committed half-restored). A plain
   dump that creates the schema itself (a non-public schema) gets the schema dropped but not
   recreated, so that its ``CREATE SCHEMA`` succeeds (and, without owner statements, makes the
   connecting user the owner, as the reset would). zstd is undone on the managed host
   (``zstd -dc``), plain gzip in Python. The file is read once while it streams and hashed; an
   expected SHA-256 is checked *before* the reset too (one more read), because ``pg_restore``
   commits as soon as it has read the archive's last entry, without waiting for the end of its
   input;
4. the tables of the schema are counted.

The reset and the restore are two transactions: a restore that fails after the reset leaves the
schema empty (the restore itself is one transaction, all or nothing). Back up the target first.
"""

from __future__ import absolute_import, annotations, division, print_function

import hashlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ansible_collections.lifeboat.n8n.plugins.module_utils._files import create_exact, free_bytes, fsync_path, is_disk_full, remove_file

from ._db import DatabaseConfig, DatabaseError, N8nDatabase

__metaclass__ = type

FORMATS = ("custom", "plain")
COMPRESSIONS = ("none", "gzip", "zstd")
DEFAULT_COMPRESSION = "gzip:1"
PARTIAL_SUFFIX = ".partial"
CHUNK = 1024 * 1024
PIPE_SIZE = 1024 * 1024  # F_SETPIPE_SZ where allowed: fewer wake-ups per MiB
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
CUSTOM_MAGIC = b"PGDMP"
PLAIN_HEAD = 256 * 1024  # how much of a plain dump is read before deciding how to reset
# The restore's safety snapshots (_pg_schema_snapshot) are schemas named this way.
SNAPSHOT_SCHEMA_PREFIX = "lifeboat_pre_restore_"
ENV_FROM_STDIN_SH = 'IFS= read -r PGPASSWORD && export PGPASSWORD && exec "$@"'
_MIB = 1024.0 * 1024.0
_F_SETPIPE_SZ = 1031

Spawn = Callable[..., Any]  # subprocess.Popen or a stand-in with its signature
Connect = Callable[[DatabaseConfig], Any]  # returns an N8nDatabase-like context manager


class PgStreamError(Exception):
    """A dump or restore failed; the message says what and what to do. No partial file is left."""


# --------------------------------------------------------------------------- pure helpers
@dataclass(frozen=True)
class Compression:
    kind: str  # none | gzip | zstd
    level: int = 0

    def __str__(self) -> str:
        return self.kind if self.kind == "none" else "%s:%d" % (self.kind, self.level)


_LEVELS = {"gzip": (0, 9, 6), "zstd": (1, 19, 3)}


def parse_compression(value: Optional[str]) -> Compression:
    """``none``, ``gzip[:0-9]`` or ``zstd[:1-19]`` (default levels 6 and 3)."""
    text = (value or "none").strip().lower()
    kind, _colon, level_text = text.partition(":")
    if kind == "none" and not level_text:
        return Compression("none")
    if kind not in _LEVELS:
        raise PgStreamError(
            "Cannot use compression %r: give none, gzip:<0-9> or zstd:<1-19> (for example gzip:1 or zstd:3)" % value
        )
    low, high, default = _LEVELS[kind]
    if not level_text:
        return Compression(kind, default)
    if not level_text.isdigit() or not low <= int(level_text) <= high:
        raise PgStreamError("Cannot use compression %r: the %s level must be a number from %d to %d" % (value, kind, low, high))
    level = int(level_text)
    if kind == "gzip" and level == 0:
        return Compression("none")
    return Compression(kind, level)


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, always double-quoted (case kept, quotes doubled)."""
    if not name or "\x00" in name:
        raise PgStreamError("Cannot quote the identifier %r: it is empty or holds a NUL byte" % (name,))
    return '"%s"' % name.replace('"', '""')


def quote_conninfo_value(value: str) -> str:
    """A libpq connection-string value: single-quoted, backslash and quote escaped."""
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "\\'")


def conninfo(config: DatabaseConfig) -> str:
    """The ``dbname=...`` connection string for ``-d`` (never the password)."""
    parts = ["dbname=%s" % quote_conninfo_value(config.name)]
    if config.connect_timeout:
        parts.append("connect_timeout=%d" % int(config.connect_timeout))
    if config.ssl_mode:
        parts.append("sslmode=%s" % quote_conninfo_value(config.ssl_mode))
    parts.append("application_name='lifeboat.n8n'")
    return " ".join(parts)


def connection_args(config: DatabaseConfig) -> List[str]:
    return [
        "--host=%s" % config.host,
        "--port=%d" % int(config.port),
        "--username=%s" % config.user,
        "--no-password",
        "--dbname=%s" % conninfo(config),
    ]


def dumps_schema_only(config: DatabaseConfig, schema_only_n8n: Optional[bool] = None) -> bool:
    """Whether pg_dump gets ``--schema``: by default only when the schema is not ``public``."""
    return config.schema != "public" if schema_only_n8n is None else bool(schema_only_n8n)


def schema_pattern(schema: str) -> str:
    """pg_dump's ``--schema`` takes a pattern: double quotes make it the exact, case-kept name."""
    return quote_ident(schema)


def pg_dump_args(config: DatabaseConfig, fmt: str, compression: Compression, schema_only: bool) -> List[str]:
    """pg_dump's argv (no password, no container wrapper)."""
    if fmt not in FORMATS:
        raise PgStreamError("Cannot dump in format %r: use custom or plain" % (fmt,))
    level = compression.level if compression.kind == "gzip" else 0
    argv = ["pg_dump", "--format=%s" % fmt, "--compress=%d" % level, "--no-owner", "--no-privileges"]
    if schema_only:
        argv.append("--schema=%s" % schema_pattern(config.schema))
    else:
        # A whole-database dump would carry a kept restore snapshot: the previous data, again.
        argv.append("--exclude-schema=%s*" % SNAPSHOT_SCHEMA_PREFIX)
    return argv + connection_args(config)


def pg_restore_args(config: DatabaseConfig) -> List[str]:
    """pg_restore's argv for a custom archive on stdin (no password, no container wrapper)."""
    return [
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        # pg_restore's --schema is an exact name, not a pattern.
        "--schema=%s" % config.schema,
    ] + connection_args(config)


def psql_args(config: DatabaseConfig) -> List[str]:
    """psql's argv for plain SQL on stdin (no password, no container wrapper)."""
    # No --single-transaction: restore() writes BEGIN/COMMIT itself (see the module docstring).
    return ["psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1"] + connection_args(config)


def wrap(argv: List[str], container: Optional[str], with_password: bool) -> List[str]:
    """Run ``argv`` in ``container`` (``docker exec -i``) and/or read the password from stdin."""
    inner = ["sh", "-c", ENV_FROM_STDIN_SH, "sh"] + argv if with_password else list(argv)
    if container:
        if container.startswith("-"):
            raise PgStreamError("Cannot use the container name %r: it looks like an option" % container)
        return ["docker", "exec", "-i", container] + inner
    return inner


def zstd_compress_args(level: int) -> List[str]:
    return ["zstd", "-q", "-c", "-T0", "-%d" % level]


def zstd_decompress_args() -> List[str]:
    return ["zstd", "-q", "-d", "-c"]


def password_line(password: Optional[str]) -> bytes:
    """What is written first to a wrapped command's stdin."""
    if password is None:
        return b""
    if "\n" in password or "\r" in password or "\x00" in password:
        raise PgStreamError("Cannot pass the database password on stdin: it contains a line break or NUL byte")
    return password.encode("utf-8") + b"\n"


def reset_schema_sql(schema: str, recreate: bool = True) -> List[str]:
    """The statements that empty the target schema (quoted: safe for any name)."""
    statements = ["DROP SCHEMA IF EXISTS %s CASCADE" % quote_ident(schema)]
    if recreate:
        statements.append("CREATE SCHEMA %s AUTHORIZATION CURRENT_USER" % quote_ident(schema))
    return statements


def detect_compression(head: bytes) -> str:
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return "none"


def detect_format(head: bytes) -> str:
    return "custom" if head.startswith(CUSTOM_MAGIC) else "plain"


def archive_compression(head: bytes) -> Optional[str]:
    """The compression inside a custom archive, from its header (None if unreadable).

    Header: ``PGDMP``, version (major, minor, revision), int size, offset size, format, then
    archive 1.15+ (pg_dump 16+) one byte naming the algorithm, older ones the zlib level as an
    int (a sign byte, then ``int size`` bytes, least significant first).
    """
    if not head.startswith(CUSTOM_MAGIC) or len(head) < 11:
        return None
    minor, int_size = head[6], head[8]
    if (head[5], minor) >= (1, 15):
        return {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}.get(head[11] if len(head) > 11 else -1)
    if len(head) < 12 + int_size:
        return None
    level = int.from_bytes(head[12:12 + int_size], "little")
    return "none" if level == 0 else "gzip"


def stored_compression(outer: str, head: bytes) -> str:
    """How a dump is compressed: the file's own (zstd, gzip), else a custom archive's inside."""
    if outer != "none":
        return outer
    return archive_compression(head) or "none"


def plain_creates_schema(head: bytes, schema: str) -> bool:
    """Whether a plain dump's first bytes hold its own ``CREATE SCHEMA <schema>;`` line.

    pg_dump writes schemas first, quoting a name only when it must (``fmtId``).
    """
    names = [re.escape(quote_ident(schema).encode("utf-8"))]
    if re.match(r"^[a-z_][a-z0-9_$]*$", schema):
        names.append(re.escape(schema.encode("utf-8")))
    pattern = rb"^CREATE SCHEMA (?:" + b"|".join(names) + rb");\r?$"
    return re.search(pattern, head, re.MULTILINE) is not None


def describe_status(name: str, returncode: Optional[int], in_container: bool = False) -> str:
    if returncode is None:
        return "%s did not finish" % name
    if returncode < 0:
        try:
            signame = signal.Signals(-returncode).name
        except ValueError:
            signame = "signal %d" % -returncode
        return "%s was killed by %s" % (name, signame)
    if returncode in (126, 127):
        return "%s exited with %d (command not found or not executable)" % (name, returncode)
    if in_container and returncode > 128:
        try:
            signame = signal.Signals(returncode - 128).name
        except ValueError:
            signame = "signal %d" % (returncode - 128)
        return "%s exited with %d (killed by %s in the container)" % (name, returncode, signame)
    return "%s exited with %d" % (name, returncode)


# ------------------------------------------------------------------------- process plumbing
def _enlarge_pipe(handle: Any) -> None:
    try:
        import fcntl

        fcntl.fcntl(handle.fileno(), _F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, OSError, ValueError, AttributeError):
        pass


def _tail(handle: Any, limit: int = 2000) -> str:
    try:
        handle.flush()
        handle.seek(0)
        text = handle.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""
    text = "\n".join(line for line in text.strip().splitlines() if line.strip())
    return text[-limit:]


def _stop(proc: Any, timeout: float = 5.0) -> None:
    """Terminate a child that is still running (then kill it) and reap it."""
    if proc is None:
        return
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except OSError:
            pass


def _spawn(run: Spawn, argv: List[str], what: str, **kwargs: Any) -> Any:
    try:
        return run(argv, **kwargs)
    except FileNotFoundError as exc:
        hint = {
            "docker": "install the docker CLI on the managed host, or leave container unset to run the PostgreSQL tools locally",
            "zstd": "install zstd on the managed host (Debian: apt-get install zstd), or use gzip compression",
        }.get(argv[0], "install the PostgreSQL client tools matching the server on the managed host, or give the database container")
        raise PgStreamError("Cannot run %s: %s is not installed (%s). %s" % (what, argv[0], exc.strerror, hint[:1].upper() + hint[1:])) from exc


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# ------------------------------------------------------------------------------------ dump
def dump_commands(
    config: DatabaseConfig,
    container: Optional[str] = None,
    fmt: str = "custom",
    compression: str = DEFAULT_COMPRESSION,
    schema_only_n8n: Optional[bool] = None,
) -> List[List[str]]:
    """The argv of each process a dump runs, in pipeline order (safe to show: no password)."""
    if config.type != "postgresdb":
        raise PgStreamError("Cannot dump %s with pg_dump: the database is not PostgreSQL" % config.describe())
    comp = parse_compression(compression)
    argv = wrap(pg_dump_args(config, fmt, comp, dumps_schema_only(config, schema_only_n8n)), container, config.password is not None)
    commands = [argv]
    if comp.kind == "zstd":
        commands.append(zstd_compress_args(comp.level))
    return commands


class _PartialFile:
    """``<dest>.partial``: written, hashed and counted chunk by chunk, then renamed to ``dest``."""

    def __init__(self, dest: str, mode: int) -> None:
        self.dest = dest
        self.path = dest + PARTIAL_SUFFIX
        self.sha = hashlib.sha256()
        self.size = 0
        remove_file(self.path)  # left by a run that was killed
        self.fd: Optional[int] = create_exact(self.path, mode)  # the umask must not change what was asked

    def copy_from(self, reader: int) -> None:
        if self.fd is None:
            raise PgStreamError("Cannot write %s: it was closed already" % self.path)
        while True:
            chunk = os.read(reader, CHUNK)
            if not chunk:
                return
            self.sha.update(chunk)
            _write_all(self.fd, chunk)
            self.size += len(chunk)

    def commit(self) -> None:
        if self.fd is None:
            raise PgStreamError("Cannot finish %s: it was closed already" % self.path)
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        os.replace(self.path, self.dest)
        fsync_path(os.path.dirname(self.dest), directory=True)

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        remove_file(self.path)


class _DumpPipeline:
    """pg_dump (in the container or not), then zstd when asked; both statuses are checked."""

    def __init__(self, run: Spawn, commands: List[List[str]], secret: bytes) -> None:
        self.commands = commands
        self.dump_err = tempfile.TemporaryFile()
        self.zstd_err = tempfile.TemporaryFile()
        self.compressor: Any = None
        self.producer: Any = _spawn(
            run, commands[0], "pg_dump", stdin=subprocess.PIPE if secret else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self.dump_err, bufsize=0,
        )
        _enlarge_pipe(self.producer.stdout)
        if secret:
            try:
                self.producer.stdin.write(secret)
                self.producer.stdin.close()
            except BrokenPipeError:
                pass  # it exited already: its status and stderr say why
        self.output = self.producer.stdout
        if len(commands) > 1:
            try:
                self.compressor = _spawn(run, commands[1], "zstd", stdin=self.producer.stdout, stdout=subprocess.PIPE, stderr=self.zstd_err, bufsize=0)
            except BaseException:
                self.close()
                raise
            self.producer.stdout.close()  # zstd holds the read end now: pg_dump gets SIGPIPE if zstd dies
            self.output = self.compressor.stdout
            _enlarge_pipe(self.output)

    def wait(self) -> None:
        self.producer.wait()
        if self.compressor is not None:
            self.compressor.wait()

    def failure(self, container: Optional[str]) -> Optional[str]:
        """What went wrong, or None when every process exited 0."""
        if self.producer.returncode != 0:
            where = " in container %s" % container if container else ""
            detail = _tail(self.dump_err) or "no message"
            if self.compressor is not None and self.compressor.returncode not in (0, None):
                detail += "; %s: %s" % (describe_status("zstd", self.compressor.returncode), _tail(self.zstd_err) or "no message")
            return "%s%s: %s. Check the connection settings and that the database is reachable%s" % (
                describe_status("pg_dump", self.producer.returncode, bool(container)), where, detail, where)
        if self.compressor is not None and self.compressor.returncode != 0:
            return "%s: %s" % (describe_status("zstd", self.compressor.returncode), _tail(self.zstd_err) or "no message")
        return None

    def close(self) -> None:
        _stop(self.compressor)
        _stop(self.producer)
        self.dump_err.close()
        self.zstd_err.close()


def dump(
    config: DatabaseConfig,
    dest: str,
    container: Optional[str] = None,
    fmt: str = "custom",
    compression: str = DEFAULT_COMPRESSION,
    *,
    schema_only_n8n: Optional[bool] = None,
    mode: int = 0o600,
    run: Spawn = subprocess.Popen,
) -> Dict[str, Any]:
    """Dump n8n's PostgreSQL database to ``dest``; see the module docstring.

    Returns ``{"dest", "size", "sha256", "duration_s", "format", "compression", "executed"}``:
    ``executed`` holds the argv of each process (pg_dump, then zstd if any), without secrets.
    """
    started = time.monotonic()
    dest = os.path.abspath(dest)
    folder = os.path.dirname(dest)
    comp = parse_compression(compression)
    commands = dump_commands(config, container, fmt, str(comp), schema_only_n8n)
    secret = password_line(config.password)
    if not os.path.isdir(folder):
        raise PgStreamError("Cannot dump %s to %s: the folder %s does not exist. Create it first" % (config.describe(), dest, folder))
    partial: Optional[_PartialFile] = None
    pipeline: Optional[_DumpPipeline] = None
    try:
        partial = _PartialFile(dest, mode)
        pipeline = _DumpPipeline(run, commands, secret)
        partial.copy_from(pipeline.output.fileno())
        pipeline.wait()
        problem = pipeline.failure(container)
        if problem is None and partial.size == 0:
            problem = "pg_dump wrote nothing although it reported success"
        if problem is not None:
            raise PgStreamError("Cannot dump %s to %s: %s; no partial dump was left" % (config.describe(), dest, problem))
        partial.commit()
    except BaseException as exc:
        if pipeline is not None:
            pipeline.close()
            pipeline = None
        if partial is not None:
            partial.discard()
        if is_disk_full(exc):
            free = free_bytes(folder)
            raise PgStreamError(
                "Cannot dump %s to %s: the file system of %s is full (%s MiB free now; the dump had reached %.1f MiB). "
                "Free space there or choose another path; no partial dump was left"
                % (config.describe(), dest, folder, "?" if free is None else "%.1f" % (free / _MIB), (partial.size if partial else 0) / _MIB)
            ) from exc
        if isinstance(exc, OSError):
            raise PgStreamError("Cannot dump %s to %s: %s; no partial dump was left" % (config.describe(), dest, exc)) from exc
        raise
    finally:
        if pipeline is not None:
            pipeline.close()
    return {
        "dest": dest,
        "size": partial.size,
        "sha256": partial.sha.hexdigest(),
        "duration_s": round(time.monotonic() - started, 3),
        "format": fmt,
        "compression": str(comp),
        "executed": commands,
    }


# ---------------------------------------------------------------------------------- restore
def file_sha256(path: str) -> Tuple[int, str]:
    """Size and SHA-256 of a file, read once."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def _same_sha(digest: str, expected: Optional[str]) -> bool:
    return not expected or digest.lower() == expected.strip().lower()


class _Source:
    """A dump file's bytes, decompressed on the fly and hashed as they come off the disk."""

    def __init__(self, path: str, run: Spawn) -> None:
        self.path = path
        self.sha = hashlib.sha256()
        self.size = 0
        self.handle = open(path, "rb", buffering=0)
        self.compression = detect_compression(self.handle.read(len(ZSTD_MAGIC)))
        self.handle.seek(0)
        self.proc: Any = None
        self.feeder: Optional[threading.Thread] = None
        self.feed_error: Optional[BaseException] = None
        self._err = tempfile.TemporaryFile()
        if self.compression == "zstd":
            self.proc = _spawn(run, zstd_decompress_args(), "zstd", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, bufsize=0)
            _enlarge_pipe(self.proc.stdout)
            self.feeder = threading.Thread(target=self._feed, name="lifeboat-zstd-feed", daemon=True)
            self.feeder.start()

    def _read_file(self) -> Iterator[bytes]:
        while True:
            chunk = self.handle.read(CHUNK)
            if not chunk:
                return
            self.sha.update(chunk)
            self.size += len(chunk)
            yield chunk

    def _feed(self) -> None:
        try:
            for chunk in self._read_file():
                _write_all(self.proc.stdin.fileno(), chunk)
        except BaseException as exc:  # reported by chunks() with zstd's status
            self.feed_error = exc
        finally:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def chunks(self) -> Iterator[bytes]:
        """The decompressed bytes; raises at the end if the file did not decompress cleanly."""
        if self.compression == "zstd":
            return self._zstd_chunks()
        if self.compression == "gzip":
            return self._gzip_chunks()
        return self._read_file()

    def _zstd_chunks(self) -> Iterator[bytes]:
        reader = self.proc.stdout.fileno()
        while True:
            chunk = os.read(reader, CHUNK)
            if not chunk:
                break
            yield chunk
        if self.feeder is not None:
            self.feeder.join()
        self.proc.wait()
        if self.proc.returncode != 0 or self.feed_error is not None:
            raise PgStreamError(
                "Cannot decompress %s: %s: %s. Check the file with zstd -t"
                % (self.path, describe_status("zstd -d", self.proc.returncode), _tail(self._err) or self.feed_error or "no message")
            )

    def _gzip_chunks(self) -> Iterator[bytes]:
        inflater = zlib.decompressobj(wbits=31)
        for chunk in self._read_file():
            data = chunk
            while data:
                try:
                    out = inflater.decompress(data)
                except zlib.error as exc:
                    raise PgStreamError("Cannot decompress %s: %s. The gzip stream is damaged" % (self.path, exc)) from exc
                if out:
                    yield out
                data = inflater.unused_data
                if data:  # another gzip member follows
                    inflater = zlib.decompressobj(wbits=31)
        if not inflater.eof:
            raise PgStreamError("Cannot decompress %s: the gzip stream is truncated" % self.path)

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()  # unblocks the feeder (EPIPE)
            if self.feeder is not None:
                self.feeder.join(timeout=30)
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc.wait()
        self.handle.close()
        self._err.close()


def _head(chunks: Iterator[bytes], wanted: int) -> Tuple[bytes, bool]:
    """At least ``wanted`` bytes from ``chunks`` (fewer if it ends first), and whether it ended."""
    parts: List[bytes] = []
    have = 0
    for chunk in chunks:
        parts.append(chunk)
        have += len(chunk)
        if have >= wanted:
            return b"".join(parts), False
    return b"".join(parts), True


def _peek(path: str, run: Spawn, wanted: int) -> Tuple[str, bytes]:
    """(outer compression, up to ``wanted`` decompressed first bytes) of a dump file."""
    # Unbuffered: zstd gets the file descriptor itself, whose offset a buffered seek would not reset.
    with open(path, "rb", buffering=0) as handle:
        compression = detect_compression(handle.read(len(ZSTD_MAGIC)))
        handle.seek(0)
        if compression == "gzip":
            try:
                return compression, zlib.decompressobj(wbits=31).decompress(handle.read(64 * 1024), wanted)
            except zlib.error as exc:
                raise PgStreamError("Cannot read %s: %s. The gzip stream is damaged" % (path, exc)) from exc
        if compression == "none":
            return compression, handle.read(wanted)
        proc = _spawn(run, zstd_decompress_args(), "zstd", stdin=handle, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        try:
            head = _head(iter(lambda: proc.stdout.read(CHUNK), b""), wanted)[0]
        finally:
            _stop(proc, timeout=1)
        return compression, head[:wanted]


def peek_dump(path: str, run: Spawn = subprocess.Popen) -> Tuple[str, str]:
    """(format, compression) of a dump file, from its first bytes, changing nothing."""
    outer, head = _peek(path, run, 32)
    return detect_format(head), stored_compression(outer, head)


def inspect_dump(path: str, expected_sha256: Optional[str] = None, run: Spawn = subprocess.Popen) -> Dict[str, Any]:
    """Size, SHA-256 (compared with ``expected_sha256``), format and compression of a dump file."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise PgStreamError("Cannot restore from %s: no such file. Give the dump's path on the managed host" % path)
    fmt, compression = peek_dump(path, run)
    size, digest = file_sha256(path)
    if not _same_sha(digest, expected_sha256):
        raise PgStreamError(
            "Cannot restore from %s: its SHA-256 is %s, not the expected %s. The file changed or is another backup; "
            "nothing was restored" % (path, digest, (expected_sha256 or "").strip().lower())
        )
    return {"src": path, "size": size, "sha256": digest, "format": fmt, "compression": compression}


def dump_plan(config: DatabaseConfig, dest: str, container: Optional[str] = None, fmt: str = "custom",
              compression: str = DEFAULT_COMPRESSION) -> Dict[str, Any]:
    """What :func:`dump` would do (check mode): the result's shape, nothing run, nothing written."""
    return {
        "dest": os.path.abspath(dest),
        "size": None,
        "sha256": None,
        "duration_s": 0.0,
        "format": fmt,
        "compression": str(parse_compression(compression)),
        "executed": dump_commands(config, container, fmt, compression),
    }


def restore_plan(config: DatabaseConfig, src: str, container: Optional[str] = None, expected_sha256: Optional[str] = None,
                 run: Spawn = subprocess.Popen) -> Dict[str, Any]:
    """What :func:`restore` would do (check mode): the file is read and checked, nothing changes."""
    result = inspect_dump(src, expected_sha256, run)
    outer, head = _peek(result["src"], run, PLAIN_HEAD)
    recreate = result["format"] == "custom" or not plain_creates_schema(head, config.schema)
    result.update(
        duration_s=0.0,
        tables=None,
        executed=restore_commands(config, result["format"], outer, container),
        executed_queries=reset_schema_sql(config.schema, recreate=recreate),
    )
    return result


def restore_command(config: DatabaseConfig, fmt: str, container: Optional[str] = None) -> List[str]:
    """The argv that reads the dump from stdin (safe to show: no password)."""
    if config.type != "postgresdb":
        raise PgStreamError("Cannot restore into %s with pg_restore: the database is not PostgreSQL" % config.describe())
    argv = pg_restore_args(config) if fmt == "custom" else psql_args(config)
    return wrap(argv, container, config.password is not None)


def restore_commands(config: DatabaseConfig, fmt: str, compression: str, container: Optional[str] = None) -> List[List[str]]:
    """The argv of each process a restore runs, in pipeline order (zstd first if any)."""
    return ([zstd_decompress_args()] if compression == "zstd" else []) + [restore_command(config, fmt, container)]


def _connect(config: DatabaseConfig) -> Any:
    return N8nDatabase(config)


def reset_schema(config: DatabaseConfig, statements: List[str], connect: Connect = _connect) -> None:
    """Run the reset statements in one transaction over a connection from the managed host."""
    try:
        with connect(config) as db:
            for statement in statements:
                db.execute(statement).close()
    except DatabaseError as exc:
        raise PgStreamError("Cannot reset schema %s before the restore: %s. Nothing was restored" % (config.schema, exc)) from exc


def count_tables(config: DatabaseConfig, connect: Connect = _connect) -> int:
    with connect(config) as db:
        count = db.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'",
            (config.schema,),
        )
    return int(count or 0)


def _prepare(source: _Source, config: DatabaseConfig) -> Tuple[str, bytes, Iterator[bytes], List[str]]:
    """Read the dump's first bytes: its format, the bytes read so far, the rest, the reset SQL."""
    chunks = source.chunks()
    head, ended = _head(chunks, 32)
    if not head:
        raise PgStreamError("Cannot restore from %s: the dump is empty" % source.path)
    fmt = detect_format(head)
    if fmt == "plain" and not ended:
        more, ended = _head(chunks, PLAIN_HEAD - len(head))
        head += more
    recreate = fmt == "custom" or not plain_creates_schema(head, config.schema)
    return fmt, head, chunks, reset_schema_sql(config.schema, recreate=recreate)


def _feed(consumer: Any, secret: bytes, fmt: str, head: bytes, chunks: Iterator[bytes]) -> bool:
    """Write password, dump (framed in BEGIN/COMMIT for psql, COMMIT left to the caller).

    Returns True when the consumer stopped reading before the end (the rest is still hashed).
    """
    sink = consumer.stdin.fileno()
    try:
        _write_all(sink, secret)
        if fmt == "plain":
            # Our own transaction, not psql --single-transaction: that one COMMITs at the end
            # of its input even when the input was cut short (a killed stream, a truncated
            # file). COMMIT is sent only once every byte went through.
            _write_all(sink, b"BEGIN;\n")
        _write_all(sink, head)
        for chunk in chunks:
            _write_all(sink, chunk)
    except BrokenPipeError:
        for _rest in chunks:  # it exited (its status says why): hash the rest of the file all the same
            pass
        return True
    return False


def _finish(consumer: Any, fmt: str, commit: bool) -> bool:
    """Send psql its COMMIT (if ``commit``), end the input, wait. False if it had stopped reading."""
    reading = True
    try:
        if fmt == "plain" and commit:
            _write_all(consumer.stdin.fileno(), b"\nCOMMIT;\n")
        consumer.stdin.close()
    except BrokenPipeError:
        reading = False
    consumer.wait()
    return reading


def restore(
    config: DatabaseConfig,
    src: str,
    container: Optional[str] = None,
    expected_sha256: Optional[str] = None,
    *,
    run: Spawn = subprocess.Popen,
    connect: Connect = _connect,
) -> Dict[str, Any]:
    """Reset the n8n schema and stream ``src`` into it; see the module docstring.

    Returns ``{"src", "size", "sha256", "duration_s", "format", "compression", "tables",
    "executed", "executed_queries"}``: ``tables`` counts the schema's tables after the restore,
    ``executed`` holds the argv of each process (zstd first if any), ``executed_queries`` the
    reset statements.
    """
    started = time.monotonic()
    src = os.path.abspath(src)
    if config.type != "postgresdb":
        raise PgStreamError("Cannot restore into %s with pg_restore: the database is not PostgreSQL" % config.describe())
    secret = password_line(config.password)
    if expected_sha256:
        # pg_restore commits as soon as it has read the archive's last entry, without waiting
        # for the end of its input: a checksum known only at the end could not stop it.
        inspect_dump(src, expected_sha256, run)
    elif not os.path.isfile(src):
        raise PgStreamError("Cannot restore from %s: no such file. Give the dump's path on the managed host" % src)
    source = _Source(src, run)
    consumer: Any = None
    try:
        with tempfile.TemporaryFile() as restore_err:
            fmt, head, chunks, statements = _prepare(source, config)
            executed = restore_commands(config, fmt, source.compression, container)
            tool = "pg_restore" if fmt == "custom" else "psql"
            reset_schema(config, statements, connect)
            consumer = _spawn(run, executed[-1], tool, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=restore_err, bufsize=0)
            _enlarge_pipe(consumer.stdin)
            stopped = _feed(consumer, secret, fmt, head, chunks)
            digest = source.sha.hexdigest()
            verified = _same_sha(digest, expected_sha256)
            stopped = not _finish(consumer, fmt, commit=verified and not stopped) or stopped
            if not verified:
                raise PgStreamError(
                    "Cannot restore from %s: the file changed while it was restored (SHA-256 %s, expected %s). %s"
                    % (src, digest, (expected_sha256 or "").strip().lower(),
                       "psql rolled the restore back; schema %s was reset and is now empty" % config.schema if fmt == "plain"
                       else "pg_restore may have committed what it read: restore again from an unchanged file")
                )
            if consumer.returncode != 0 or (fmt == "plain" and stopped):
                raise PgStreamError(
                    "Cannot restore %s into %s: %s%s: %s. The restore ran in one transaction and was rolled back; "
                    "schema %s was reset and is now empty. Fix the cause and restore again, or restore the target's own backup"
                    % (src, config.describe(), describe_status(tool, consumer.returncode, bool(container)),
                       " in container %s" % container if container else "", _tail(restore_err) or "it stopped reading its input",
                       config.schema)
                )
    except BaseException as exc:
        _stop(consumer)  # input ends without COMMIT: psql rolls back, pg_restore finds the archive cut short
        if isinstance(exc, OSError):
            raise PgStreamError("Cannot restore %s into %s: %s" % (src, config.describe(), exc)) from exc
        raise
    finally:
        source.close()
    return {
        "src": src,
        "size": source.size,
        "sha256": digest,
        "duration_s": round(time.monotonic() - started, 3),
        "format": fmt,
        "compression": stored_compression(source.compression, head),
        "tables": count_tables(config, connect),
        "executed": executed,
        "executed_queries": statements,
    }
