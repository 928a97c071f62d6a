# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Encryption at rest of backup artifacts with a passphrase (private module_utils).

A backup artifact (the database dump, the binary-data and community-node archives, the
workflow export, the environment record) is encrypted into ``<path>.lbenc``, streamed in
chunks: memory use is one chunk, whatever the size of the dump. A directory artifact (a
``pg_dump -Fd`` dump, the workflow export) is first streamed through ``tar``.

The file format (``lbenc`` version 1)::

    offset  size  field
    0       8     magic  b"LBN8NENC"
    8       1     format version (1)
    9       1     payload: 0 a file, 1 a tar stream of a directory
    10      1     scrypt log2(N)
    11      1     scrypt r
    12      1     scrypt p
    13      1     log2(chunk size)
    14      2     reserved (zero)
    16      16    scrypt salt
    32      16    file salt (HKDF)
    48      7     nonce prefix
    55      9     reserved (zero)
    64      16    key check: HKDF(master, file salt, "lifeboat.n8n lbenc1 check")
    80      ...   chunks: AES-256-GCM(plaintext chunk) || 16-byte tag

* ``master = scrypt(passphrase, scrypt salt, N, r, p)`` (32 bytes). One scrypt per salt, so
  every artifact encrypted in one call shares it (a second's work, not one per file).
* ``file key = HKDF-SHA256(master, file salt, info "lifeboat.n8n lbenc1 data")``: every file has
  its own key, so chunks cannot be moved from one file to another.
* Chunk ``i`` (0-based) is sealed with nonce ``prefix || i (4 bytes, big endian) || last`` where
  ``last`` is 1 for the final chunk only, and the whole 80-byte header as associated data (the
  STREAM construction): a changed header, a reordered, dropped or duplicated chunk, a file cut
  at a chunk boundary and appended bytes all fail authentication. Every chunk has the chunk
  size except the final one (0 to chunk size bytes).
* The key check tells a wrong passphrase (refused as such) from a damaged file (refused as such)
  without decrypting anything.

Plaintext is released chunk by chunk as it is authenticated, so output goes to a temporary
name (``<dest>.partial``, 0600 / 0700) that is renamed into place only once the final chunk
has been authenticated; any failure removes it. Nothing here logs or returns the passphrase or
any derived key.
"""

from __future__ import absolute_import, annotations, division, print_function

import hmac
import os
import posixpath
import shutil
import stat
import struct
import tarfile
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, cast

from ansible_collections.lifeboat.n8n.plugins.module_utils._files import is_disk_full
from ansible_collections.lifeboat.n8n.plugins.module_utils._manifest import hash_file

__metaclass__ = type

MAGIC = b"LBN8NENC"
VERSION = 1
SUFFIX = ".lbenc"
HEADER_SIZE = 80
TAG_SIZE = 16
PAYLOAD_FILE = 0
PAYLOAD_TAR = 1
DEFAULT_LOG_N = 17  # scrypt N = 2**17, r = 8, p = 1: 128 MiB and about a second per derivation
DEFAULT_R = 8
DEFAULT_P = 1
DEFAULT_CHUNK_LOG = 20  # 1 MiB chunks
MIN_PASSPHRASE = 12
# Bounds on what a header may ask for, so a crafted file cannot make us allocate gigabytes.
_LOG_N_RANGE = (10, 22)
_R_RANGE = (1, 32)
_P_RANGE = (1, 16)
_CHUNK_LOG_RANGE = (12, 24)
_INFO_DATA = b"lifeboat.n8n lbenc1 data"
_INFO_CHECK = b"lifeboat.n8n lbenc1 check"
_FORMAT_MAX = 32
_IO_CHUNK = 1024 * 1024


class ArtifactCryptError(Exception):
    """Encryption or decryption failed; the message says what and what to do (never a secret)."""


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    except ImportError as exc:  # pragma: no cover - the collection requires cryptography on managed hosts
        raise ArtifactCryptError(
            "Cannot encrypt or decrypt backup artifacts: the Python 'cryptography' package is missing on this host "
            "(%s). Install it (Debian: apt-get install python3-cryptography)." % exc
        ) from exc
    return hashes, AESGCM, HKDF, Scrypt


# --------------------------------------------------------------------------- header


class Header:
    """The parsed 80-byte header of an ``.lbenc`` file."""

    def __init__(self, *, payload: int, log_n: int, r: int, p: int, chunk_log: int, kdf_salt: bytes, file_salt: bytes,
                 nonce_prefix: bytes, check: bytes = b"") -> None:
        self.payload = payload
        self.log_n = log_n
        self.r = r
        self.p = p
        self.chunk_log = chunk_log
        self.kdf_salt = kdf_salt
        self.file_salt = file_salt
        self.nonce_prefix = nonce_prefix
        self.check = check

    @property
    def chunk_size(self) -> int:
        return 1 << self.chunk_log

    def pack(self) -> bytes:
        head = struct.pack(
            ">8sBBBBBB2s16s16s7s9s", MAGIC, VERSION, self.payload, self.log_n, self.r, self.p, self.chunk_log,
            b"\0\0", self.kdf_salt, self.file_salt, self.nonce_prefix, b"\0" * 9,
        )
        return head + self.check

    @classmethod
    def unpack(cls, data: bytes, where: str) -> Header:
        if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
            raise ArtifactCryptError(
                "Cannot decrypt %s: it is not a lifeboat.n8n encrypted artifact (no LBN8NENC header). "
                "The backup is damaged or not encrypted; do not restore it." % where
            )
        if len(data) < HEADER_SIZE:
            raise ArtifactCryptError("Cannot decrypt %s: the file ends inside its header (truncated). Do not restore this backup." % where)
        magic, version, payload, log_n, r, p, chunk_log, reserved, kdf_salt, file_salt, prefix, reserved2 = struct.unpack(
            ">8sBBBBBB2s16s16s7s9s", data[:64]
        )
        del magic
        if version != VERSION:
            raise ArtifactCryptError(
                "Cannot decrypt %s: it uses encryption format version %d and this lifeboat.n8n reads version %d. "
                "Upgrade lifeboat.n8n to restore it." % (where, version, VERSION)
            )
        problems = []
        if payload not in (PAYLOAD_FILE, PAYLOAD_TAR):
            problems.append("payload %d" % payload)
        for name, value, bounds in (("log2(N)", log_n, _LOG_N_RANGE), ("r", r, _R_RANGE), ("p", p, _P_RANGE),
                                    ("chunk size", chunk_log, _CHUNK_LOG_RANGE)):
            if not bounds[0] <= value <= bounds[1]:
                problems.append("%s %d" % (name, value))
        if reserved != b"\0\0" or reserved2 != b"\0" * 9:
            problems.append("reserved bytes set")
        if problems:
            raise ArtifactCryptError(
                "Cannot decrypt %s: its header is invalid (%s): the file was altered or damaged. Do not restore this backup."
                % (where, ", ".join(problems))
            )
        return cls(payload=payload, log_n=log_n, r=r, p=p, chunk_log=chunk_log, kdf_salt=kdf_salt, file_salt=file_salt,
                   nonce_prefix=prefix, check=data[64:HEADER_SIZE])


def read_header(path: str) -> Header:
    with open(path, "rb") as handle:
        return Header.unpack(handle.read(HEADER_SIZE), path)


def is_encrypted_file(path: str) -> bool:
    """Whether ``path`` starts with the lbenc magic (it may still be damaged)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


# --------------------------------------------------------------------------- keys


class KeyRing:
    """Derives keys from one passphrase, one scrypt per (salt, parameters)."""

    def __init__(self, passphrase: str) -> None:
        if not isinstance(passphrase, str) or not passphrase:
            raise ArtifactCryptError("Cannot encrypt or decrypt backup artifacts: the passphrase is empty. Give the archive passphrase.")
        self._secret = passphrase.encode("utf-8")
        self._masters: Dict[Tuple[bytes, int, int, int], bytes] = {}

    def master(self, salt: bytes, log_n: int, r: int, p: int) -> bytes:
        cache_key = (salt, log_n, r, p)
        if cache_key not in self._masters:
            scrypt = _crypto()[3]
            self._masters[cache_key] = scrypt(salt=salt, length=32, n=1 << log_n, r=r, p=p).derive(self._secret)
        return self._masters[cache_key]

    def file_keys(self, header: Header) -> Tuple[bytes, bytes]:
        """(data key, key check) of the file ``header`` describes."""
        hashes, _aesgcm, hkdf, _scrypt = _crypto()
        master = self.master(header.kdf_salt, header.log_n, header.r, header.p)
        data_key = hkdf(algorithm=hashes.SHA256(), length=32, salt=header.file_salt, info=_INFO_DATA).derive(master)
        check = hkdf(algorithm=hashes.SHA256(), length=TAG_SIZE, salt=header.file_salt, info=_INFO_CHECK).derive(master)
        return data_key, check


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= 1 << 32:
        raise ArtifactCryptError("Cannot encrypt: the artifact has more than 2**32 chunks. Raise the chunk size.")
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


# --------------------------------------------------------------------------- streams


class EncryptingWriter:
    """A write-only file object: plaintext in, ``lbenc`` out to ``sink`` (header written at once)."""

    def __init__(self, sink: Any, keyring: KeyRing, *, payload: int = PAYLOAD_FILE, log_n: int = DEFAULT_LOG_N,
                 kdf_salt: Optional[bytes] = None, chunk_log: int = DEFAULT_CHUNK_LOG) -> None:
        aesgcm = _crypto()[1]
        header = Header(payload=payload, log_n=log_n, r=DEFAULT_R, p=DEFAULT_P, chunk_log=chunk_log, kdf_salt=kdf_salt or os.urandom(16),
                        file_salt=os.urandom(16), nonce_prefix=os.urandom(7))
        data_key, header.check = keyring.file_keys(header)
        self._aead = aesgcm(data_key)
        self._header = header.pack()
        self._prefix = header.nonce_prefix
        self._chunk = header.chunk_size
        self._sink = sink
        self._buffer = bytearray()
        self._counter = 0
        self._closed = False
        self.plaintext_size = 0
        self.size = 0
        self._emit(self._header)

    def _emit(self, data: bytes) -> None:
        self._sink.write(data)
        self.size += len(data)

    def _seal(self, chunk: bytes, last: bool) -> None:
        self._emit(self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, self._header))
        self._counter += 1

    def write(self, data: Any) -> int:
        if self._closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = bytes(data)
        self._buffer += view
        self.plaintext_size += len(view)
        # Keep at least one byte back: the final chunk must be sealed as final.
        while len(self._buffer) > self._chunk:
            self._seal(bytes(self._buffer[: self._chunk]), last=False)
            del self._buffer[: self._chunk]
        return len(view)

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer = bytearray()
            self._closed = True

    def flush(self) -> None:
        """Nothing to flush before close (tarfile calls it)."""


def decrypt_chunks(source: Any, keyring: KeyRing, where: str) -> Tuple[Header, Iterator[bytes]]:
    """Check the header and the passphrase, then yield authenticated plaintext chunks.

    Raises :class:`ArtifactCryptError` for a wrong passphrase before yielding anything, and
    while iterating for a damaged, altered or truncated file.
    """
    aesgcm = _crypto()[1]
    raw_header = source.read(HEADER_SIZE)
    header = Header.unpack(raw_header, where)
    data_key, check = keyring.file_keys(header)
    if not hmac.compare_digest(check, header.check):
        raise ArtifactCryptError(
            "Cannot decrypt %s: the passphrase is not the one this backup was encrypted with (or the file's header is damaged). "
            "Give the archive passphrase used for the backup (backup_archive_passphrase)." % where
        )
    aead = aesgcm(data_key)
    sealed = header.chunk_size + TAG_SIZE

    def chunks() -> Iterator[bytes]:
        from cryptography.exceptions import InvalidTag

        counter = 0
        current = source.read(sealed)
        while True:
            following = source.read(sealed) if len(current) == sealed else b""
            last = not following
            if len(current) < TAG_SIZE:
                raise ArtifactCryptError(
                    "Cannot decrypt %s: the file ends early (chunk %d is cut short): it is truncated. Do not restore this backup."
                    % (where, counter)
                )
            try:
                plain = aead.decrypt(_nonce(header.nonce_prefix, counter, last), current, raw_header)
            except InvalidTag:
                raise ArtifactCryptError(
                    "Cannot decrypt %s: chunk %d fails authentication: the file was altered, damaged or truncated. "
                    "Do not restore this backup." % (where, counter)
                ) from None
            yield plain
            if last:
                return
            current = following
            counter += 1

    return header, chunks()


class _ChunkReader:
    """A read-only file object over authenticated plaintext chunks (what tarfile reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._current = b""
        self._pos = 0
        self._eof = False

    def _fill(self) -> bool:
        """Make unread bytes available; False at the end of the stream."""
        while self._pos >= len(self._current):
            if self._eof:
                return False
            try:
                self._current, self._pos = next(self._chunks), 0
            except StopIteration:
                self._eof = True
                self._current, self._pos = b"", 0
        return True

    def read(self, size: int = -1) -> bytes:
        # An offset into the current chunk, not a shrinking buffer: tarfile reads in small
        # blocks, and slicing the rest of a 1 MiB chunk each time would copy it again and again.
        parts = []
        wanted = size
        while wanted != 0 and self._fill():
            available = len(self._current) - self._pos
            take = available if wanted < 0 else min(available, wanted)
            parts.append(self._current[self._pos:self._pos + take])
            self._pos += take
            if wanted > 0:
                wanted -= take
        return b"".join(parts)

    def drain(self) -> int:
        """Read to the end (authenticating every chunk); returns how many bytes were left."""
        left = 0
        while self._fill():
            left += len(self._current) - self._pos
            self._pos = len(self._current)
        return left


# --------------------------------------------------------------------------- files


def _free_mib(path: str) -> str:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return "unknown"
    return "%.1f MiB" % (usage.free / 1048576.0)


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
    except OSError:
        pass


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _open_private(path: str) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _walk_entries(root: str) -> Iterator[Tuple[str, str, bool]]:
    """``(full path, relative path, is_dir)`` of every entry below ``root``, sorted; refuses special files."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            mode = os.lstat(full).st_mode
            if stat.S_ISDIR(mode):
                yield full, rel, True
            elif stat.S_ISREG(mode):
                yield full, rel, False
            else:
                raise ArtifactCryptError(
                    "Cannot encrypt %s: %s is neither a regular file nor a directory (symbolic links and special files "
                    "are not archived). Remove it from the backup." % (root, rel)
                )


def _tar_directory(root: str, sink: Any) -> None:
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for full, rel, is_dir in _walk_entries(root):
            info = tarfile.TarInfo(rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = int(os.lstat(full).st_mtime)
            if is_dir:
                info.type = tarfile.DIRTYPE
                info.mode = 0o700
                archive.addfile(info)
            else:
                info.mode = 0o600
                info.size = os.path.getsize(full)
                with open(full, "rb") as handle:
                    archive.addfile(info, handle)


def _safe_member(name: str, where: str) -> str:
    normal = posixpath.normpath(name)
    if name.startswith("/") or normal == ".." or normal.startswith("../") or "\0" in name or normal in ("", "."):
        raise ArtifactCryptError(
            "Cannot decrypt %s: its archive holds an unsafe path %r: the file was crafted or damaged. Do not restore it." % (where, name)
        )
    return normal


def _untar(reader: _ChunkReader, dest: str, where: str) -> None:
    os.mkdir(dest, 0o700)
    with tarfile.open(fileobj=cast(Any, reader), mode="r|") as archive:  # noqa: S202 - members are checked one by one below
        for member in archive:
            rel = _safe_member(member.name, where)
            target = os.path.join(dest, *rel.split("/"))
            if member.isdir():
                if not os.path.isdir(target):
                    os.makedirs(target, 0o700)
            elif member.isfile():
                parent = os.path.dirname(target)
                if not os.path.isdir(parent):
                    os.makedirs(parent, 0o700)
                extracted = archive.extractfile(member)
                if extracted is None:  # pragma: no cover - isfile() members always have data
                    raise ArtifactCryptError("Cannot decrypt %s: %s has no data." % (where, member.name))
                with _open_private(target) as out:
                    shutil.copyfileobj(extracted, out, _IO_CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
            else:
                raise ArtifactCryptError(
                    "Cannot decrypt %s: its archive holds %r, which is neither a file nor a directory: the file was crafted. "
                    "Do not restore it." % (where, member.name)
                )
    # tarfile stops at the end-of-archive blocks: read the rest so the final chunk is authenticated.
    reader.drain()


def encrypt_path(src: str, dest: str, keyring: KeyRing, *, log_n: int = DEFAULT_LOG_N, kdf_salt: Optional[bytes] = None,
                 chunk_log: int = DEFAULT_CHUNK_LOG) -> Dict[str, Any]:
    """Encrypt the file or directory ``src`` into the new file ``dest``; returns the plaintext and output sizes."""
    is_dir = os.path.isdir(src)
    partial = dest + ".partial"
    _remove(partial)
    try:
        with _open_private(partial) as handle:
            writer = EncryptingWriter(handle, keyring, payload=PAYLOAD_TAR if is_dir else PAYLOAD_FILE, log_n=log_n, kdf_salt=kdf_salt,
                                      chunk_log=chunk_log)
            if is_dir:
                _tar_directory(src, writer)
            else:
                with open(src, "rb") as source:
                    while True:
                        block = source.read(_IO_CHUNK)
                        if not block:
                            break
                        writer.write(block)
            writer.close()
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(partial, dest)
        _fsync_dir(os.path.dirname(os.path.abspath(dest)))
    except BaseException as exc:
        _remove(partial)
        if is_disk_full(exc):
            raise ArtifactCryptError(
                "Cannot encrypt %s into %s: the file system is full (%s free). Free space or point the backup elsewhere."
                % (src, dest, _free_mib(os.path.dirname(os.path.abspath(dest))))
            ) from exc
        if isinstance(exc, ArtifactCryptError):
            raise
        if isinstance(exc, OSError):
            raise ArtifactCryptError("Cannot encrypt %s into %s: %s." % (src, dest, exc.strerror or exc)) from exc
        raise
    return {"plaintext_size": writer.plaintext_size, "size": writer.size, "payload": "tar" if is_dir else "file"}


def decrypt_path(src: str, dest: str, keyring: KeyRing) -> Dict[str, Any]:
    """Decrypt the ``.lbenc`` file ``src`` into ``dest`` (a file, or a directory for a tar payload)."""
    partial = dest + ".partial"
    _remove(partial)
    try:
        with open(src, "rb") as source:
            header, chunks = decrypt_chunks(source, keyring, src)
            if header.payload == PAYLOAD_TAR:
                _untar(_ChunkReader(chunks), partial, src)
            else:
                with _open_private(partial) as out:
                    for chunk in chunks:
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        elif os.path.lexists(dest):
            os.remove(dest)
        os.rename(partial, dest)
        _fsync_dir(os.path.dirname(os.path.abspath(dest)))
    except BaseException as exc:
        _remove(partial)
        if is_disk_full(exc):
            raise ArtifactCryptError(
                "Cannot decrypt %s into %s: the file system is full (%s free). Free space or stage elsewhere."
                % (src, dest, _free_mib(os.path.dirname(os.path.abspath(dest))))
            ) from exc
        if isinstance(exc, tarfile.TarError):
            raise ArtifactCryptError("Cannot decrypt %s: its archive is unreadable (%s). Do not restore this backup." % (src, exc)) from exc
        if isinstance(exc, ArtifactCryptError):
            raise
        if isinstance(exc, OSError):
            raise ArtifactCryptError("Cannot decrypt %s into %s: %s." % (src, dest, exc.strerror or exc)) from exc
        raise
    return {"payload": "tar" if header.payload == PAYLOAD_TAR else "file"}


# --------------------------------------------------------------------------- artifacts


def is_encrypted_artifact(artifact: Mapping[str, Any]) -> bool:
    """Whether a manifest artifact record describes an encrypted artifact (``<format>.lbenc``)."""
    fmt = artifact.get("format")
    return isinstance(fmt, str) and fmt.endswith(SUFFIX)


def _relpath(path: Any, what: str) -> str:
    if not isinstance(path, str) or not path:
        raise ArtifactCryptError("Cannot %s: an artifact has no path." % what)
    normal = posixpath.normpath(path)
    if path.startswith("/") or normal == ".." or normal.startswith("../"):
        raise ArtifactCryptError("Cannot %s: the artifact path %r is not inside the backup directory." % (what, path))
    return normal


def encrypt_artifacts(backup_dir: str, artifacts: Iterable[Mapping[str, Any]], passphrase: str, *, remove_source: bool = False,
                      log_n: int = DEFAULT_LOG_N, check_mode: bool = False) -> Dict[str, Any]:
    """Encrypt each artifact ``{name, path, kind, format}`` of ``backup_dir`` into ``<path>.lbenc``.

    Returns ``{changed, artifacts, encrypted, bytes, duration_s}`` where ``artifacts`` are the
    records to put in the manifest: path and format with ``.lbenc`` appended (the manifest then
    hashes the encrypted files). An artifact already encrypted (its format ends in ``.lbenc``,
    or only its ``.lbenc`` file exists) is left as it is.
    """
    if len(passphrase or "") < MIN_PASSPHRASE:
        raise ArtifactCryptError(
            "Cannot encrypt the backup: the archive passphrase has fewer than %d characters. "
            "Use a long random passphrase from Ansible Vault." % MIN_PASSPHRASE
        )
    if not _LOG_N_RANGE[0] <= log_n <= _LOG_N_RANGE[1]:
        raise ArtifactCryptError("Cannot encrypt the backup: the scrypt cost must be between %d and %d, got %r." % (_LOG_N_RANGE + (log_n,)))
    keyring = KeyRing(passphrase)
    kdf_salt = os.urandom(16)
    started = time.time()
    result: List[Dict[str, Any]] = []
    done: List[str] = []
    total = 0
    for artifact in artifacts:
        record = dict(artifact)
        relpath = _relpath(record.get("path"), "encrypt the backup")
        if is_encrypted_artifact(record):
            result.append(record)
            continue
        fmt = str(record.get("format") or "file")
        if len(fmt) + len(SUFFIX) > _FORMAT_MAX:
            raise ArtifactCryptError("Cannot encrypt artifact %r: its format name %r is too long to mark as encrypted." % (record.get("name"), fmt))
        src = os.path.join(backup_dir, relpath)
        dest = src + SUFFIX
        record.update(path=relpath + SUFFIX, format=fmt + SUFFIX)
        for field in ("sha256", "size"):
            record.pop(field, None)
        if not os.path.lexists(src) and os.path.exists(dest):
            result.append(record)  # encrypted by an earlier run
            continue
        if not os.path.lexists(src):
            raise ArtifactCryptError("Cannot encrypt artifact %r: %s does not exist." % (record.get("name"), src))
        if not check_mode:
            info = encrypt_path(src, dest, keyring, log_n=log_n, kdf_salt=kdf_salt)
            total += int(info["plaintext_size"])
            if remove_source:
                _remove(src)
        done.append(str(record.get("name")))
        result.append(record)
    duration = time.time() - started
    return {
        "changed": bool(done),
        "artifacts": result,
        "processed": done,
        "bytes": total,
        "duration_s": round(duration, 3),
    }


def _hash(path: str) -> Tuple[str, int]:
    digest, size = hash_file(path)
    return str(digest), int(size)


def decrypt_artifacts(backup_dir: str, artifacts: Iterable[Mapping[str, Any]], passphrase: str, *, dest_dir: Optional[str] = None,
                      names: Optional[Iterable[str]] = None, remove_source: bool = False, check_mode: bool = False) -> Dict[str, Any]:
    """Decrypt the encrypted artifacts (``<format>.lbenc``) of ``backup_dir`` into ``dest_dir``.

    Returns ``{changed, artifacts, processed, bytes, duration_s}``: ``artifacts`` are the records
    of the plaintext (path and format without ``.lbenc``, SHA-256 and size of what was written),
    the records of artifacts that were not encrypted unchanged (copied to ``dest_dir`` when it is
    another folder). ``names`` limits the work to those artifacts (the others are left out of the
    result). The source files are kept unless ``remove_source`` and ``dest_dir`` is ``backup_dir``.
    """
    dest_dir = dest_dir or backup_dir
    same = os.path.abspath(dest_dir) == os.path.abspath(backup_dir)
    wanted = set(names) if names is not None else None
    keyring = KeyRing(passphrase)
    started = time.time()
    result: List[Dict[str, Any]] = []
    done: List[str] = []
    total = 0
    for artifact in artifacts:
        record = dict(artifact)
        if wanted is not None and record.get("name") not in wanted:
            continue
        relpath = _relpath(record.get("path"), "decrypt the backup")
        src = os.path.join(backup_dir, relpath)
        if not is_encrypted_artifact(record):
            if not same and not check_mode:
                dest = os.path.join(dest_dir, relpath)
                _remove(dest)
                os.makedirs(os.path.dirname(dest) or dest_dir, 0o700, exist_ok=True)
                if os.path.isdir(src):
                    shutil.copytree(src, dest)
                else:
                    shutil.copy2(src, dest)
            result.append(record)
            continue
        if not relpath.endswith(SUFFIX):
            raise ArtifactCryptError(
                "Cannot decrypt artifact %r: its format says encrypted but its path %r does not end in %s. The manifest is inconsistent; "
                "do not restore this backup." % (record.get("name"), relpath, SUFFIX)
            )
        plain_rel = relpath[: -len(SUFFIX)]
        dest = os.path.join(dest_dir, plain_rel)
        record.update(path=plain_rel, format=str(record["format"])[: -len(SUFFIX)])
        if check_mode:
            read_header(src)
            record.update(sha256=None, size=None)
        else:
            os.makedirs(os.path.dirname(dest) or dest_dir, 0o700, exist_ok=True)
            decrypt_path(src, dest, keyring)
            digest, size = _hash(dest)
            record.update(sha256=digest, size=size)
            total += size
            if remove_source and same:
                _remove(src)
        done.append(str(record.get("name")))
        result.append(record)
    if wanted is not None:
        missing = sorted(wanted - {str(r.get("name")) for r in result})
        if missing:
            raise ArtifactCryptError("Cannot decrypt the backup: it has no artifact named %s." % ", ".join(missing))
    return {
        "changed": bool(done) and not check_mode,
        "artifacts": result,
        "processed": done,
        "bytes": total,
        "duration_s": round(time.time() - started, 3),
    }
