"""Guards of the SQLite store: foreign files refused untouched, writability, error messages."""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
from pathlib import Path

from ._schema import APPLICATION_ID
from ._store import (
    NotAStoreError,
    StoreBusyError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
)

__all__ = ["check_store_file", "open_writable", "translate"]

_SQLITE_HEADER = b"SQLite format 3\x00"
#: Free space (bytes) below which a failed write is put down to a full file system.
_NO_ROOM = 64 * 1024
_READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


def _side_files(path: str) -> list[str]:
    return [path, f"{path}-wal", f"{path}-journal"]


def _why_no_room(path: str) -> str | None:
    """Why a write to the store at ``path`` found no room, or ``None`` if it did not.

    SQLite says ``SQLITE_FULL`` only for ``ENOSPC``; a file grown to the process's file
    size limit (``RLIMIT_FSIZE``, ``EFBIG``) is a plain write error to it. Python cannot
    read the errno SQLite saw, so this looks at the limit and the free space instead.
    """
    limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit != resource.RLIM_INFINITY:
        for name in _side_files(path):
            try:
                if os.stat(name).st_size + _NO_ROOM >= limit:
                    return "the file size limit is reached"
            except OSError:
                continue
    try:
        space = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return None
    if space.f_bavail * space.f_frsize < _NO_ROOM:
        return "no space left on the file system"
    return None


def translate(error: sqlite3.Error, path: str) -> StoreError:
    """One clear error for what SQLite reports, naming the store."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(error)
    if primary == sqlite3.SQLITE_IOERR and (reason := _why_no_room(path)) is not None:
        return StoreFullError(f"store {path}: disk full ({reason}); the last write was undone")
    if primary == sqlite3.SQLITE_FULL:
        return StoreFullError(f"store {path}: disk full ({text}); the last write was undone")
    if primary == sqlite3.SQLITE_READONLY:
        return StoreReadOnlyError(f"store {path} is read-only ({text})")
    if primary == sqlite3.SQLITE_BUSY:
        return StoreBusyError(
            f"store {path} is busy: another process is writing to it and did not let go"
        )
    if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return NotAStoreError(f"{path} is not a store or is damaged ({text})")
    if primary == sqlite3.SQLITE_CANTOPEN:
        return StoreError(f"cannot open store {path} ({text})")
    return StoreError(f"store {path}: {text}")


def _identity(path: Path, *, whole: bool) -> tuple[int, int]:
    """``(application_id, number of schema objects)`` of an SQLite file, read without writing.

    ``whole=False`` reads the main file alone (``immutable=1``: no locks, journals or side
    files). ``whole=True`` also reads the write-ahead log, where a WAL database keeps its
    latest tables until a checkpoint: a read-only connection, which may update the
    ``-shm`` index but never the database or its log.
    """
    mode = "mode=ro" if whole else "immutable=1"
    probe = sqlite3.connect(f"{path.absolute().as_uri()}?{mode}", uri=True)
    try:
        application_id = probe.execute("PRAGMA application_id").fetchone()[0]
        tables = probe.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise NotAStoreError(f"{path} is not a twilio-conf-insights store ({error})") from None
    finally:
        probe.close()
    return application_id, tables


def check_store_file(path: Path, *, read_only: bool) -> bool:
    """Refuse a file that is not a store; return whether the file holds a store already.

    Reads at most the header and the database's identity, never writing to it: a refused
    file is left exactly as it was (a WAL database's ``-shm`` index aside).
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        if read_only:
            raise StoreError(f"no store at {path}") from None
        return False
    except IsADirectoryError:
        raise NotAStoreError(f"{path} is a directory, not a store") from None
    except OSError as error:
        raise StoreError(f"cannot read {path}: {error.strerror or error}") from None
    if header and header != _SQLITE_HEADER:
        raise NotAStoreError(f"{path} is not a twilio-conf-insights store; left untouched")
    application_id, tables = _identity(path, whole=False) if header else (0, 0)
    wal = Path(f"{path}-wal")
    if header and application_id == 0 and tables == 0 and wal.exists() and wal.stat().st_size:
        # Empty in the main file, but a WAL database keeps new tables in its log.
        application_id, tables = _identity(path, whole=True)
    if application_id == APPLICATION_ID:
        return True
    if application_id == 0 and tables == 0:
        if read_only:
            raise StoreError(f"no store at {path} (an empty database)")
        return False  # an empty file or SQLite database: becomes a store
    raise NotAStoreError(
        f"{path} is an SQLite database of another application, not a "
        "twilio-conf-insights store; left untouched"
    )


def open_writable(path: Path) -> bool:
    """Check that the store at ``path`` can be written, creating it if missing; whether it was.

    A new store file is created readable and writable by its owner only (0600, whatever the
    umask): it holds phone numbers, and SQLite gives its ``-wal`` and ``-shm`` files the
    database file's mode.
    """
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
    created = False
    try:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            created = True
        except FileExistsError:
            fd = os.open(path, flags)
    except OSError as error:
        if error.errno in _READ_ONLY_ERRNOS:
            raise StoreReadOnlyError(f"store {path} is read-only ({error.strerror})") from None
        raise StoreError(f"cannot open store {path}: {error.strerror}") from None
    try:
        if created:
            os.fchmod(fd, 0o600)  # a umask like 0277 would have taken the owner's write
    finally:
        os.close(fd)
    return created
