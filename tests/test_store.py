"""The SQLite store: foreign files untouched, one writer, read-only and full stores, upserts."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.sync import (
    ConferenceRecord,
    NotAStoreError,
    ReportQuery,
    SQLiteStore,
    StoreBusyError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
)
from twilio_conf_insights.sync._schema import json_text
from twilio_conf_insights.testing import FakeData

from .sync_support import stored


def _records(count: int = 20, seed: int = 3) -> list[ConferenceRecord]:
    data = FakeData(conferences=count, participants_per_conference=4, seed=seed)
    return [
        ConferenceRecord.from_models(
            ConferenceSummary.from_dict(conference),
            [
                ParticipantSummary.from_dict(p)
                for p in data.participant_summaries[conference["conference_sid"]]
            ],
        )
        for conference in data.conferences
    ]


def _content(path: Path, new: bytes | None = None) -> bytes:
    """The file's bytes (after writing ``new`` to it, if given)."""
    if new is not None:
        path.write_bytes(new)
    return path.read_bytes()


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


@pytest.mark.parametrize(
    "content",
    [b"hello, not a database\n", b"SQLite format 2\x00" + b"\x00" * 100, b"\x00" * 4096],
)
async def test_a_file_that_is_not_a_store_is_refused_untouched(
    tmp_path: Path, content: bytes
) -> None:
    """Any non-empty non-SQLite file: NotAStoreError, same bytes and mtime, no side files."""
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    before = _snapshot(tmp_path)
    with pytest.raises(NotAStoreError) as caught:
        await SQLiteStore.open(path)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)
    assert _snapshot(tmp_path) == before


async def test_another_applications_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    """An SQLite database with tables of its own is not ours: refused, nothing changed."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE conferences (id INTEGER)")
    db.close()
    before = _snapshot(tmp_path)
    for read_only in (False, True):
        with pytest.raises(NotAStoreError, match="another application"):
            await SQLiteStore.open(path, read_only=read_only)
    assert _snapshot(tmp_path) == before


async def test_a_store_reopens_and_writes_are_idempotent(tmp_path: Path) -> None:
    """Writing the same records twice changes nothing the second time; reads come back equal."""
    path = tmp_path / "s.db"
    records = _records()
    async with SQLiteStore(path) as store:
        first = await store.write(records)
    async with SQLiteStore(path) as store:
        second = await store.write(records)
        back = [r async for r in store.reports(ReportQuery())]
    assert first.new == len(records)
    assert (second.new, second.updated, second.participants) == (0, 0, 0)
    assert [r.summary.to_dict() for r in back] == [r.summary for r in records]
    assert [[p.to_dict() for p in r.participants] for r in back] == [
        list(r.participants) for r in records
    ]
    conferences, participants = stored(path)
    assert conferences == {r.conference_sid: r.summary for r in records}
    assert len(participants) == sum(len(r.participants) for r in records)


async def test_a_second_writer_is_refused_with_one_line(tmp_path: Path) -> None:
    """While one sync holds the store another gets StoreBusyError; readers still read."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as first:
        await first.write(_records(5))
        with pytest.raises(StoreBusyError) as caught:
            await SQLiteStore.open(path)
        assert "another sync" in str(caught.value)
        assert "\n" not in str(caught.value)
        async with SQLiteStore(path, read_only=True) as reader:
            assert (await reader.counts())["conferences"] == 5
    async with SQLiteStore(path) as again:  # released on close
        assert (await again.counts())["conferences"] == 5


async def test_a_store_opened_read_only_refuses_writes(tmp_path: Path) -> None:
    """read_only=True: every write raises StoreReadOnlyError and the file is unchanged."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.write(_records(3))
    before = _content(path)
    async with SQLiteStore(path, read_only=True) as store:
        with pytest.raises(StoreReadOnlyError):
            await store.write(_records(2, seed=9))
    assert _content(path) == before
    with pytest.raises(StoreError, match="no store"):
        await SQLiteStore.open(tmp_path / "missing.db", read_only=True)


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A real store file even root cannot write: the file system's immutable attribute."""
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed: cannot make a file immutable")
    path = tmp_path / "s.db"
    asyncio.run(_fill(path))
    done = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"this file system has no immutable attribute: {done.stderr!r}")
    try:
        yield path
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


async def _fill(path: Path) -> None:
    async with SQLiteStore(path) as store:
        await store.write(_records(3))


async def test_an_immutable_store_file_is_a_clear_read_only_error(immutable: Path) -> None:
    """A store file that cannot be opened for writing: StoreReadOnlyError, file unchanged."""
    before = _content(immutable)
    with pytest.raises(StoreReadOnlyError, match="read-only"):
        await SQLiteStore.open(immutable)
    async with SQLiteStore(immutable, read_only=True) as reader:  # still readable
        assert (await reader.counts())["conferences"] == 3
    assert _content(immutable) == before


async def test_a_full_disk_undoes_the_write_and_says_so(tmp_path: Path) -> None:
    """SQLITE_FULL (here: the store's page limit) is StoreFullError; the store keeps its data."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.write(_records(2))
        pages = (await store.counts())["conferences"]
        assert pages == 2
        # The same error SQLite raises when the file system is full: no room for new pages.
        await store._call(lambda: store._conn().execute("PRAGMA max_page_count = 1"))
        with pytest.raises(StoreFullError, match="disk full"):
            await store.write(_records(200, seed=5))
        assert (await store.counts())["conferences"] == 2
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


async def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    """A zero-byte file (e.g. from mktemp) is taken as a new, empty store."""
    path = tmp_path / "new.db"
    _content(path, b"")
    async with SQLiteStore(path) as store:
        assert await store.counts() == {
            "conferences": 0,
            "settled": 0,
            "unsettled": 0,
            "participant_summaries": 0,
        }
    assert len(_content(path)) > 0


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
)
def test_json_column_text_reads_back_as_the_record(record: object) -> None:
    """What a ``json`` column holds parses back to the record (big integers included)."""
    assert json.loads(json_text(record)) == record
