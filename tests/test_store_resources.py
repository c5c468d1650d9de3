"""No store path leaves a database connection to the garbage collector.

Python 3.13 warns (``ResourceWarning: unclosed database``) when a collected connection
was never closed; earlier versions close it silently, whenever the collector runs. This
test holds the collector off, drives the stores' failure and read paths, and then looks at
the process's open files, so a leak fails on every Python version.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import warnings
from pathlib import Path

import pytest

from twilio_conf_insights.sync import (
    NotAStoreError,
    ReportQuery,
    SQLiteStore,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
)

from .open_files import collector_held, open_under
from .store_child import store_records
from .sync_support import stored


async def _drive_every_path(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.write(store_records(3))
        reports = store.reports(ReportQuery())
        await anext(reports)
        await reports.aclose()  # a reader that stops early
    stored(path)  # the tests' own reading helper
    async with SQLiteStore(path, read_only=True) as reader:
        with pytest.raises(StoreReadOnlyError):
            await reader.write(store_records(1, seed=8))
    with pytest.raises(StoreError, match="no store"):
        await SQLiteStore.open(tmp_path / "missing.db", read_only=True)
    foreign = tmp_path / "foreign.db"
    with contextlib.closing(sqlite3.connect(foreign)) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(NotAStoreError):
        await SQLiteStore.open(foreign)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    with pytest.raises(NotAStoreError):
        await SQLiteStore.open(garbage)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        store = await SQLiteStore.open(path, busy_timeout=0.05)
        try:
            with pytest.raises(StoreBusyError):
                await store.write(store_records(1, seed=9))
        finally:
            await store.aclose()
        holder.execute("ROLLBACK")
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer version"):
        await SQLiteStore.open(path)
    with pytest.raises(StoreError, match="newer version"):
        await SQLiteStore.open(path, read_only=True)


async def test_no_connection_outlives_its_store(tmp_path: Path) -> None:
    """After every open, failure and read path, no store file is open and nothing warns."""
    with collector_held() as unraisable, warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        await _drive_every_path(tmp_path)
        assert open_under(tmp_path) == []
        gc.collect()
    assert unraisable == []
