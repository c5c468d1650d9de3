"""BatchWriter: one write in flight, batches of what arrived meanwhile, ``min_batch`` held.

And what a distributed sync's unit makes of it: its window in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import PATIENCE, client_for, conference_records, settle
from twilio_conf_insights.distributed._unit import UNIT_BATCH, run_unit
from twilio_conf_insights.sync import ConferenceRecord, SQLiteStore, WorkUnit, WriteCounts
from twilio_conf_insights.sync._writer import BatchWriter, WriterClosedError
from twilio_conf_insights.testing import FakeData, FakeTwilio


class CountingStore(SQLiteStore):
    """A SQLite store that records the size of every write, and can hold writes at a gate."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, records: Sequence[ConferenceRecord]) -> WriteCounts:
        self.writes.append(len(records))
        await self.gate.wait()
        return await super().write(records)


def _records(count: int) -> list[ConferenceRecord]:
    return conference_records(FakeData(conferences=count, participants_per_conference=(1, 2)))


async def test_records_arriving_during_a_write_go_together_in_the_next(tmp_path: Path) -> None:
    """One write in flight: the records that came meanwhile are the next write, together."""
    records = _records(5)
    async with CountingStore(tmp_path / "s.db") as store:
        writer = BatchWriter(store)
        store.gate.clear()
        writer.add(records[0])  # starts a write at once, held at the gate
        await settle()
        for record in records[1:]:
            writer.add(record)
        await settle()
        assert store.writes == [1]
        store.gate.set()
        await writer.flush()
        assert store.writes == [1, 4]
        assert writer.counts.new == 5


async def test_min_batch_holds_records_until_a_batch_or_a_flush(tmp_path: Path) -> None:
    """With min_batch=3, nothing is written short of 3 records unless a flush asks."""
    records = _records(7)
    async with CountingStore(tmp_path / "s.db") as store:
        writer = BatchWriter(store, min_batch=3)
        writer.add(records[0])
        writer.add(records[1])
        await settle()
        assert store.writes == []  # short of a batch: nothing written yet
        writer.add(records[2])
        await settle()
        assert store.writes == [3]
        writer.add(records[3])
        await settle()
        assert store.writes == [3]
        await writer.flush()  # the rest, short of a batch, written by the flush
        assert store.writes == [3, 1]
        for record in records[4:]:
            writer.add(record)
        await writer.flush()
        assert store.writes == [3, 1, 3]
        assert writer.counts.new == 7
        await writer.aclose()


async def test_a_flush_during_a_write_also_takes_what_is_short_of_a_batch(
    tmp_path: Path,
) -> None:
    """A flush waiting on a write in flight also gets the records short of a batch written."""
    records = _records(5)
    async with CountingStore(tmp_path / "s.db") as store:
        writer = BatchWriter(store, min_batch=3)
        store.gate.clear()
        for record in records[:3]:
            writer.add(record)
        await settle()
        writer.add(records[3])  # arrives while the first batch is held
        flushed = asyncio.ensure_future(writer.flush())
        await settle()
        assert not flushed.done()
        store.gate.set()
        await flushed
        assert store.writes == [3, 1]
        writer.add(records[4])  # after the flush: held again
        await settle()
        assert store.writes == [3, 1]
        await writer.aclose()


async def test_a_closed_writer_drops_what_it_held_and_says_so(tmp_path: Path) -> None:
    """Closing drops held records and a write not yet started; a flush then raises at once."""
    records = _records(3)
    async with CountingStore(tmp_path / "s.db") as store:
        holding = BatchWriter(store, min_batch=5)
        holding.add(records[0])
        holding.add(records[1])
        await holding.aclose()
        with pytest.raises(WriterClosedError):
            await asyncio.wait_for(holding.flush(), PATIENCE)
        starting = BatchWriter(store)
        starting.add(records[2])  # its write is scheduled, and cancelled before it starts
        await starting.aclose()
        with pytest.raises(WriterClosedError):
            await asyncio.wait_for(starting.flush(), PATIENCE)
        assert store.writes == []


def test_min_batch_must_be_positive(tmp_path: Path) -> None:
    """min_batch below 1 is refused at construction."""
    with pytest.raises(ValueError, match="min_batch"):
        BatchWriter(SQLiteStore(tmp_path / "s.db"), min_batch=0)


async def test_a_unit_commits_its_window_in_one_transaction(tmp_path: Path) -> None:
    """A unit of a distributed sync: every conference of its window in a single write."""
    async with (
        FakeTwilio(conferences=40, participants_per_conference=(1, 3), seed=43) as fake,
        client_for(fake) as client,
        CountingStore(tmp_path / "s.db") as store,
    ):
        now = fake.data.now
        unit = WorkUnit(None, now - timedelta(days=60), now)
        listed = await client.conferences.list_raw(unit.query(), page_size=1000).collect()
        assert 1 < len(listed) < UNIT_BATCH
        outcome = await run_unit(client, store, unit, now=now, refresh=False)
        assert outcome.errors == ()
        assert store.writes == [len(listed)]
        assert outcome.new == len(listed)
        assert outcome.windows == 1
