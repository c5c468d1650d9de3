"""The SQLite store's guards as plain functions: SQLite's real errors, foreign and odd files."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from twilio_conf_insights.sync import (
    NotAStoreError,
    StoreBusyError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
)
from twilio_conf_insights.sync._guards import check_store_file, hold_exclusively, translate


def _read_only(tmp: Path) -> None:
    path = tmp / "ro.db"
    sqlite3.connect(path).close()
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        connection.execute("CREATE TABLE t (x)")
    finally:
        connection.close()


def _busy(tmp: Path) -> None:
    path = tmp / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute("CREATE TABLE t (x)")
    finally:
        other.close()
        holder.close()


def _not_a_database(tmp: Path) -> None:
    path = tmp / "garbage.db"
    path.write_bytes(b"this is no database " * 50)
    connection = sqlite3.connect(path)
    try:
        connection.execute("SELECT * FROM sqlite_schema")
    finally:
        connection.close()


def _cannot_open(tmp: Path) -> None:
    sqlite3.connect(tmp / "no-such-directory" / "store.db")


def _full(tmp: Path) -> None:
    connection = sqlite3.connect(tmp / "full.db")
    try:
        connection.execute("CREATE TABLE t (x)")
        connection.execute("PRAGMA max_page_count = 2")
        connection.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    finally:
        connection.close()


def _syntax(tmp: Path) -> None:
    connection = sqlite3.connect(tmp / "syntax.db")
    try:
        connection.execute("SELEKT 1")
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("provoke", "expected", "says"),
    [
        (_read_only, StoreReadOnlyError, "is read-only"),
        (_busy, StoreBusyError, "another process is writing"),
        (_not_a_database, NotAStoreError, "is not a store or is damaged"),
        (_cannot_open, StoreError, "cannot open store"),
        (_full, StoreFullError, "disk full"),
        (_syntax, StoreError, "store s.db: near"),
    ],
)
def test_sqlite_errors_translate_to_one_clear_error(
    tmp_path: Path, provoke: Callable[[Path], None], expected: type[StoreError], says: str
) -> None:
    """Each error SQLite really raises becomes the store error that names its cause."""
    with pytest.raises(sqlite3.Error) as caught:
        provoke(tmp_path)
    error = translate(caught.value, "s.db")
    assert type(error) is expected
    assert says in str(error)
    assert "\n" not in str(error)


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    """A directory given as the store is refused by name, not with an OS traceback."""
    with pytest.raises(NotAStoreError, match="is a directory"):
        check_store_file(tmp_path, read_only=False)


def test_a_missing_store_is_an_error_only_for_readers(tmp_path: Path) -> None:
    """Reading needs a store; writing creates one."""
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="no store at"):
        check_store_file(missing, read_only=True)
    assert check_store_file(missing, read_only=False) is False
    assert not missing.exists()


def test_a_damaged_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    """An SQLite header over garbage: refused, and not a byte of it changes."""
    path = tmp_path / "damaged.db"
    content = b"SQLite format 3\x00" + b"\xff" * 2000
    path.write_bytes(content)
    with pytest.raises(NotAStoreError, match="not a twilio-conf-insights store"):
        check_store_file(path, read_only=False)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.db"]


def test_an_empty_sqlite_database_becomes_a_store(tmp_path: Path) -> None:
    """A fresh SQLite file with no tables and no application id is taken, not refused."""
    path = tmp_path / "empty.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 0")
    connection.execute("VACUUM")  # writes the header: a real, empty database file
    connection.close()
    assert path.stat().st_size > 0
    assert check_store_file(path, read_only=False) is False


def test_the_hold_cannot_be_taken_where_no_file_can_be(tmp_path: Path) -> None:
    """A store path in a directory that does not exist: one line, no OS traceback."""
    with pytest.raises(StoreError, match="cannot open store"):
        hold_exclusively(tmp_path / "no-such-directory" / "store.db")
