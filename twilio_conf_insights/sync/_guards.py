"""Guards of the SQLite store: foreign files, the writer's exclusive hold, error messages."""

from __future__ import annotations

import fcntl
import os
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

__all__ = ["check_store_file", "hold_exclusively", "translate"]

_SQLITE_HEADER = b"SQLite format 3\x00"


def translate(error: sqlite3.Error, path: str) -> StoreError:
    """One clear error for what SQLite reports, naming the store."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(error)
    if primary == sqlite3.SQLITE_FULL:
        return StoreFullError(f"store {path}: disk full ({text}); the last write was undone")
    if primary == sqlite3.SQLITE_READONLY:
        return StoreReadOnlyError(f"store {path} is read-only ({text})")
    if primary == sqlite3.SQLITE_BUSY:
        return StoreBusyError(f"store {path} is busy: another process is writing to it")
    if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return NotAStoreError(f"{path} is not a store or is damaged ({text})")
    if primary == sqlite3.SQLITE_CANTOPEN:
        return StoreError(f"cannot open store {path} ({text})")
    return StoreError(f"store {path}: {text}")


def check_store_file(path: Path, *, read_only: bool) -> bool:
    """Refuse a file that is not a store; return whether the file holds a store already.

    Reads at most the header and, for an SQLite file, its identity with ``immutable=1``
    (no locks, journals or side files): a refused file is never modified.
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
    if not header:
        return False  # an empty file: becomes a store
    if header != _SQLITE_HEADER:
        raise NotAStoreError(f"{path} is not a twilio-conf-insights store; left untouched")
    # immutable=1: read the header without locks, journals or side files.
    probe = sqlite3.connect(f"{path.absolute().as_uri()}?immutable=1", uri=True)
    try:
        application_id = probe.execute("PRAGMA application_id").fetchone()[0]
        tables = probe.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise NotAStoreError(f"{path} is not a twilio-conf-insights store ({error})") from None
    finally:
        probe.close()
    if application_id == APPLICATION_ID:
        return True
    if application_id == 0 and tables == 0:
        return False  # an empty SQLite database: becomes a store
    raise NotAStoreError(
        f"{path} is an SQLite database of another application, not a "
        "twilio-conf-insights store; left untouched"
    )


def hold_exclusively(path: Path) -> int:
    """Take the exclusive hold a writer keeps until it closes the store; its descriptor.

    ``flock`` is separate from SQLite's own (POSIX) locks on Linux, and the kernel
    drops it when the process ends, even on ``kill -9``.
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except PermissionError:
        raise StoreReadOnlyError(f"store {path} is read-only") from None
    except OSError as error:
        raise StoreError(f"cannot open store {path}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreBusyError(
            f"another sync is writing to {path}; try again when it has finished"
        ) from None
    return fd
