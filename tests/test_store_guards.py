"""The SQLite store's guards through its public API: SQLite's real errors, foreign and odd files."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from twilio_conf_insights.sync import (
    NotAStoreError,
    SQLiteStore,
    StoreBusyError,
    StoreError,
)

from .test_store import _records


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


async def test_a_writer_waits_then_says_the_store_is_busy(tmp_path: Path) -> None:
    """Another process holding the write lock past busy_timeout: StoreBusyError in one line."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.write(_records(2))
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        async with SQLiteStore(path, busy_timeout=0.05) as store:
            with pytest.raises(StoreBusyError) as caught:
                await store.write(_records(1, seed=4))
        holder.execute("ROLLBACK")
    assert "another process is writing" in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_a_store_where_no_file_can_be_is_one_line(tmp_path: Path) -> None:
    """A store path in a directory that does not exist: one line, no OS traceback."""
    with pytest.raises(StoreError, match="cannot open store") as caught:
        await SQLiteStore.open(tmp_path / "no-such-directory" / "store.db")
    assert "\n" not in str(caught.value)


async def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    """A directory given as the store is refused by name, not with an OS traceback."""
    with pytest.raises(NotAStoreError, match="is a directory"):
        await SQLiteStore.open(tmp_path)


async def test_a_missing_store_is_an_error_only_for_readers(tmp_path: Path) -> None:
    """Reading needs a store (and creates nothing); writing creates one."""
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="no store at"):
        await SQLiteStore.open(missing, read_only=True)
    assert not missing.exists()
    async with SQLiteStore(missing) as store:
        assert (await store.counts())["conferences"] == 0


async def test_a_damaged_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    """An SQLite header over garbage: refused, and not a byte of it changes."""
    path = tmp_path / "damaged.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    before = _files(tmp_path)
    for read_only in (False, True):
        with pytest.raises(NotAStoreError, match="not a twilio-conf-insights store"):
            await SQLiteStore.open(path, read_only=read_only)
    assert _files(tmp_path) == before


async def test_an_empty_sqlite_database_becomes_a_store(tmp_path: Path) -> None:
    """A fresh SQLite file with no tables and no application id is taken, not refused."""
    path = tmp_path / "empty.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("VACUUM")  # writes the header: a real, empty database file
    assert path.stat().st_size > 0
    async with SQLiteStore(path) as store:
        await store.write(_records(2))
    async with SQLiteStore(path, read_only=True) as store:
        assert (await store.counts())["conferences"] == 2


@contextlib.contextmanager
def _wal_database(path: Path, *statements: str) -> Iterator[sqlite3.Connection]:
    """A WAL database whose changes stay in its -wal file: its writer stays connected."""
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA wal_autocheckpoint = 0")  # keep everything in the log
        for statement in statements:
            writer.execute(statement)
        yield writer
    finally:
        writer.close()


def _database_and_log(path: Path) -> tuple[bytes, bytes]:
    return path.read_bytes(), Path(f"{path}-wal").read_bytes()


async def test_an_applications_wal_database_is_refused_untouched(tmp_path: Path) -> None:
    """Tables only in another application's -wal: refused, database and log unchanged."""
    path = tmp_path / "walapp.db"
    with _wal_database(
        path,
        "PRAGMA user_version = 7",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO items (name) VALUES ('kept')",
    ) as writer:
        before = _database_and_log(path)
        assert before[1], "the table must be in the log only"
        for read_only in (False, True):
            with pytest.raises(NotAStoreError, match="another application"):
                await SQLiteStore.open(path, read_only=read_only)
        assert _database_and_log(path) == before
        assert writer.execute("PRAGMA user_version").fetchone() == (7,)
        assert writer.execute("PRAGMA application_id").fetchone() == (0,)
        assert [row[0] for row in writer.execute("SELECT name FROM sqlite_schema")] == ["items"]


async def test_a_store_made_in_a_wal_database_is_recognised_from_its_log(tmp_path: Path) -> None:
    """An empty WAL database becomes a store while its log holds the store's identity."""
    path = tmp_path / "shared.db"
    with _wal_database(path, "CREATE TABLE t (x)", "DROP TABLE t"):
        async with SQLiteStore(path) as store:
            await store.write(_records(2))
        async with SQLiteStore(path) as again, SQLiteStore(path, read_only=True) as reader:
            await again.write(_records(1, seed=6))
            assert (await reader.counts())["conferences"] == 3
