"""The SQLite store: foreign files untouched, shared writers, read-only and full stores."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.sync import (
    ConferenceRecord,
    NotAStoreError,
    ReportQuery,
    SQLiteStore,
    StoreError,
    StoreReadOnlyError,
)
from twilio_conf_insights.sync._schema import json_text
from twilio_conf_insights.sync._units import parse_time
from twilio_conf_insights.testing import FakeData

from .store_limits import file_size_limit, read_only_to
from .sync_support import stored


def _records(count: int = 20, seed: int = 3, padding: int = 0) -> list[ConferenceRecord]:
    """Records of a fake's data (``padding`` characters more in each participant summary)."""
    data = FakeData(conferences=count, participants_per_conference=4, seed=seed)
    return [
        ConferenceRecord.from_models(
            ConferenceSummary.from_dict(conference),
            [
                ParticipantSummary.from_dict({**p, "label": "x" * padding} if padding else p)
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
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE conferences (id INTEGER)")
        db.commit()
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


async def test_two_writers_share_one_store(tmp_path: Path) -> None:
    """Two stores open on one file write overlapping records at once; the end state is exact."""
    path = tmp_path / "s.db"
    records = _records(60)
    async with SQLiteStore(path) as first, SQLiteStore(path) as second:

        async def write_all(store: SQLiteStore, shift: int) -> None:
            rotated = records[shift:] + records[:shift]
            for start in range(0, len(rotated), 7):
                await store.write(rotated[start : start + 7])

        await asyncio.gather(write_all(first, 0), write_all(second, 31))
        async with SQLiteStore(path, read_only=True) as reader:
            assert (await reader.counts())["conferences"] == 60
    conferences, participants = stored(path)
    assert conferences == {r.conference_sid: r.summary for r in records}
    assert participants == {p["participant_sid"]: p for r in records for p in r.participants}


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


def _child(*args: str, prefix: Sequence[str] = (), **options: Any) -> dict[str, Any]:
    """Run ``tests.store_child`` (from the checkout) and return what it printed."""
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "tests.store_child", *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        **options,
    )
    assert done.returncode == 0, done.stderr
    outcome: dict[str, Any] = json.loads(done.stdout)
    return outcome


def test_a_store_file_that_cannot_be_written_is_a_clear_read_only_error(tmp_path: Path) -> None:
    """On a read-only file system: StoreReadOnlyError in one line, the store still reads."""
    directory = tmp_path / "ro"
    directory.mkdir()
    path = directory / "s.db"
    assert _child("fill", str(path), "3") == {"conferences": 3}
    before = _snapshot(directory)
    with read_only_to(directory) as prefix:
        outcome = _child("open", str(path), prefix=prefix)
    assert outcome["error"] == "StoreReadOnlyError"
    assert f"store {path} is read-only" in outcome["message"]
    assert "\n" not in outcome["message"]
    assert outcome["conferences"] == 3  # reading needs no write
    assert _snapshot(directory) == before


def test_a_full_disk_undoes_the_write_and_says_so(tmp_path: Path) -> None:
    """A file size limit reached mid-write: StoreFullError, the store keeps what it had."""
    path = tmp_path / "s.db"
    assert _child("fill", str(path), "2") == {"conferences": 2}
    limit = max(p.stat().st_size for p in tmp_path.iterdir()) + 64 * 1024
    outcome = _child("grow", str(path), preexec_fn=file_size_limit(limit))
    assert outcome["error"] == "StoreFullError", outcome
    assert "disk full (the file size limit is reached)" in outcome["message"]
    assert outcome["conferences"] == 2
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM conferences").fetchone() == (2,)


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


async def test_a_new_store_and_its_side_files_are_private(tmp_path: Path) -> None:
    """Created under umask 022, the store, its -wal and its -shm are 0600: they hold numbers."""
    path = tmp_path / "s.db"
    previous = os.umask(0o022)
    try:
        async with SQLiteStore(path) as store:
            await store.write(_records(2))
            modes = _modes(tmp_path)
    finally:
        os.umask(previous)
    assert modes == {"s.db": 0o600, "s.db-wal": 0o600, "s.db-shm": 0o600}


async def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    """An empty file the user made (e.g. by mktemp, or 0640 for a group) keeps its mode."""
    path = tmp_path / "s.db"
    path.touch()
    path.chmod(0o640)
    async with SQLiteStore(path) as store:
        await store.write(_records(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


async def test_the_file_is_wal_with_its_sync_columns(tmp_path: Path) -> None:
    """The file is in WAL mode; settled, synced_at and processing_state hold what they say."""
    path = tmp_path / "s.db"
    records = _records(6)
    unsettled = records[0].conference_sid
    first = records[0].summary
    assert first is not None
    records[0] = ConferenceRecord(
        {**first, "processing_state": "in_progress"}, records[0].participants
    )
    async with SQLiteStore(path) as store:
        await store.write(records)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = {
            sid: (state, settled, synced_at)
            for sid, state, settled, synced_at in db.execute(
                "SELECT conference_sid, processing_state, settled, synced_at FROM conferences"
            )
        }
        states = dict(
            db.execute("SELECT participant_sid, processing_state FROM participant_summaries")
        )
    assert rows[unsettled][:2] == ("in_progress", 0)
    for record in records:
        state, settled, synced_at = rows[record.conference_sid]
        assert state == (record.summary or {})["processing_state"]
        assert settled == int(record.settled)
        assert synced_at.endswith("Z")
        assert parse_time(synced_at) <= datetime.now(UTC)
        for p in record.participants:
            assert states[p["participant_sid"]] == p["processing_state"]
    assert sum(settled for _, settled, _ in rows.values()) == 5


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
