"""``--db`` to a store: a PostgreSQL URL opens PostgreSQL, a file path a SQLite store.

What ``--db`` names is decided before anything is opened. A URL is PostgreSQL's (in any
spelling asyncpg or SQLAlchemy users write) or refused; a path must be a regular file, or
not exist yet. SQLite would block for ever reading a FIFO or ``/dev/stdout`` on a pipe,
and write a store into whatever file stdout was redirected to; ``os.stat`` tells them
apart without opening (a FIFO's ``stat`` never blocks).
"""

from __future__ import annotations

import os
import stat

from .._urls import POSTGRES_SCHEMES, connection_url, url_scheme
from ._store import NotAStoreError, Store, StoreError

__all__ = ["check_store_path", "open_store"]

#: What each kind of file that is not a regular file is called in the error.
_KINDS = {
    stat.S_IFIFO: "a pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
}


def check_store_path(path: str) -> None:
    """Refuse a store path that names anything but a regular file (or nothing yet).

    Raises :class:`NotAStoreError` for a pipe, a device, a directory or a socket (symlinks
    are followed), and for the file this process's stdin, stdout or stderr is: ``--db
    /dev/stdout > out.db`` would interleave the store with the command's own output.
    """
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return  # a new store
    except OSError as error:
        raise StoreError(f"cannot open store {path}: {error.strerror}") from None
    if not stat.S_ISREG(found.st_mode):
        kind = _KINDS.get(stat.S_IFMT(found.st_mode), "not a regular file")
        raise NotAStoreError(f"{path} is {kind}, not a store: --db takes a regular file")
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            stream = os.fstat(fd)
        except OSError:
            continue
        if (stream.st_dev, stream.st_ino) == (found.st_dev, found.st_ino):
            raise NotAStoreError(f"{path} is this command's {name}, not a store")


async def open_store(spec: str, *, read_only: bool = False) -> Store:
    """Open the store ``spec`` names; PostgreSQL needs the ``[postgres]`` extra.

    ``postgresql://`` and ``postgres://`` (any case; also SQLAlchemy's
    ``postgresql+asyncpg://``) open PostgreSQL; any other ``scheme://`` is refused with
    :class:`~twilio_conf_insights.InvalidArgumentError`. Anything else is a SQLite file,
    refused by :func:`check_store_path` unless it is a regular file or does not exist.
    """
    if url_scheme(spec) is not None:
        url = connection_url(spec, POSTGRES_SCHEMES, what="PostgreSQL")
        try:
            from ._postgres import PostgresStore
        except ImportError:
            raise StoreError(
                "a PostgreSQL store needs asyncpg: pip install 'twilio-conf-insights[postgres]'"
            ) from None
        return await PostgresStore.open(url, read_only=read_only)
    check_store_path(spec)
    from ._sqlite import SQLiteStore

    return await SQLiteStore.open(spec, read_only=read_only)
