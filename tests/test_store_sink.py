"""StoreSink over loopback HTTP (the application factory in this process, a real SQLite
store): each delivery's summaries become store records; concurrent deliveries share a
transaction and are answered only after it committed; a transaction that fails answers 503
for each of its deliveries with nothing written; one delivery the store refuses fails alone;
a request that gave up is not written; stopping refuses what waits and finishes what runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import wait_until
from tests.listen_support import (
    TOKEN,
    assert_store_exact,
    drained,
    fake_for,
    post,
    signed_delivery,
    summary_event,
)
from tests.store_fixtures import query
from tests.web_support import aiohttp_site
from twilio_conf_insights._validation import is_sid
from twilio_conf_insights.eventstreams import (
    StoreSink,
    create_app,
    parse_delivery,
    records_of,
)
from twilio_conf_insights.sync import (
    ConferenceRecord,
    SQLiteStore,
    StoreBusyError,
    StoreError,
    StoreFullError,
    WriteCounts,
)
from twilio_conf_insights.testing import FakeData, FakeTwilio


class GatedStore(SQLiteStore):
    """A SQLite store whose writes can be held at a gate, or made to fail."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.gate.set()
        self.writes: list[int] = []  # records per write attempted
        #: What the next writes raise, in order (``None``: that write succeeds).
        self.failures: list[Exception | None] = []
        self.refused_sid: str | None = None  # a write holding this conference fails

    async def write(self, records: Sequence[ConferenceRecord]) -> WriteCounts:
        self.writes.append(len(records))
        await self.gate.wait()
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        if any(record.conference_sid == self.refused_sid for record in records):
            raise StoreError("invalid input syntax for type json")
        return await super().write(records)


@asynccontextmanager
async def sink_app(
    store: SQLiteStore, **options: Any
) -> AsyncIterator[tuple[str, StoreSink, aiohttp.ClientSession]]:
    """The application factory over a StoreSink on loopback: (events URL, sink, session)."""
    async with StoreSink(store) as sink:
        app = create_app(sink, auth_token=TOKEN, **options)
        async with aiohttp_site(app) as base, aiohttp.ClientSession() as session:
            yield f"{base}/events", sink, session


def delivering(
    session: aiohttp.ClientSession, fake: FakeTwilio, url: str, index: int = 0
) -> asyncio.Future[int]:
    """POST the ``index``-th conference's summary as a signed delivery, in the background."""
    return asyncio.ensure_future(post(session, *signed_delivery([summary_event(fake, index)], url)))


async def stored_sids(path: Path) -> set[str]:
    """The conference SIDs a store holds."""
    return {row[0] for row in await query(str(path), "SELECT conference_sid FROM conferences")}


#: Event times as Twilio writes them, without an offset, missing, and not a time at all.
TIMES = ["2025-06-01T08:00:00.250Z", "2025-06-01T08:00:01", None, "yesterday"]


def _event(type_: str, data: Any, time: str | None = TIMES[0]) -> dict[str, Any]:
    return {"specversion": "1.0", "type": type_, "id": "EV1", "time": time, "data": data}


def test_each_summary_event_becomes_a_record_of_its_data_at_its_time() -> None:
    """The event's data as sent, observed at its time; a naive time is UTC; SID-less: counted."""
    data = FakeData(conferences=1, participants_per_conference=2, seed=4)
    summary = data.conferences[0]
    participant = data.participant_summaries[summary["conference_sid"]][0]
    prefix = "com.twilio.voice.insights."
    body = [
        _event(prefix + "conference-summary.complete", summary),
        _event(prefix + "participant-summary.complete", participant, "2025-06-01T08:00:01"),
        _event(prefix + "conference-summary.partial", {**summary, "conference_sid": "nope"}),
        _event(prefix + "participant-summary.complete", {**participant, "participant_sid": 7}),
        _event(prefix + "call-summary.complete", {"call_sid": "CA1"}),
    ]
    records, unstorable = records_of(parse_delivery(json.dumps(body)))
    assert unstorable == 2
    assert [(r.summary, list(r.participants)) for r in records] == [
        (summary, []),
        (None, [participant]),
    ]
    assert [r.observed_at for r in records] == [
        datetime(2025, 6, 1, 8, 0, 0, 250000, tzinfo=UTC),
        datetime(2025, 6, 1, 8, 0, 1, tzinfo=UTC),
    ]


_SUMMARY_TYPES = [
    "com.twilio.voice.insights.conference-summary.complete",
    "com.twilio.voice.insights.conference-summary.partial",
    "com.twilio.voice.insights.participant-summary.complete",
    "com.twilio.voice.insights.conference-participant-summary.complete",
]
_SIDS = st.one_of(
    st.from_regex(r"\ACF[0-9a-f]{32}\Z"),
    st.from_regex(r"\ACP[0-9a-f]{32}\Z"),
    st.text(max_size=40),
    st.integers(),
    st.none(),
)
_DATA = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={"conference_sid": _SIDS, "participant_sid": _SIDS, "processing_state": _SIDS},
    ),
    st.lists(st.integers(), max_size=2),
    st.text(max_size=5),
)


@given(
    st.lists(st.tuples(st.sampled_from(_SUMMARY_TYPES), _DATA, st.sampled_from(TIMES)), max_size=12)
)
@settings(max_examples=200, deadline=None)
def test_any_delivery_gives_storable_records_or_counts_them(
    events: list[tuple[str, Any, str | None]],
) -> None:
    """Whatever the events carry: each summary is a record naming its SIDs, or counted."""
    body = json.dumps([_event(type_, data, time) for type_, data, time in events])
    delivery = parse_delivery(body)
    records, unstorable = records_of(delivery)
    assert len(records) + unstorable == len(delivery.records)
    for record in records:
        assert is_sid(record.conference_sid, "CF")
        assert record.observed_at is None or record.observed_at.utcoffset() is not None
        for participant in record.participants:
            assert is_sid(participant["participant_sid"], "CP")


async def test_deliveries_arriving_during_a_write_share_the_next_transaction(
    tmp_path: Path,
) -> None:
    """While one write is held, the others wait; none is answered before its commit."""
    async with GatedStore(tmp_path / "s.db") as store, sink_app(store) as (url, sink, session):
        fake = fake_for(url, conferences=20)
        store.gate.clear()
        posts = [delivering(session, fake, url)]
        await wait_until(lambda: len(store.writes) == 1, "the first write")
        posts += [delivering(session, fake, url, i) for i in range(1, 20)]
        await wait_until(lambda: sink.waiting == 19, "19 deliveries waiting")
        assert not any(task.done() for task in posts)
        assert await stored_sids(tmp_path / "s.db") == set()
        store.gate.set()
        assert await asyncio.gather(*posts) == [204] * 20
        assert store.writes == [1, 19]
        assert sink.stats.transactions == 2
        assert sink.stats.deliveries == 20
    assert len(await stored_sids(tmp_path / "s.db")) == 20


async def test_a_store_that_cannot_commit_answers_503_then_recovers(tmp_path: Path) -> None:
    """Full, then busy: every delivery of those transactions 503, nothing kept; then exact."""
    async with GatedStore(tmp_path / "s.db") as store, sink_app(store) as (url, sink, _):
        store.failures = [StoreFullError("disk full"), StoreBusyError("database is locked")]
        async with fake_for(url, conferences=8) as fake:
            fake.data.processing.settle_all()
            await drained(fake)
            assert fake.events is not None
            statuses = [attempt.status for attempt in fake.events.attempts]
        assert statuses.count(503) >= 2
        assert sink.stats.unavailable >= 2
    await assert_store_exact(str(tmp_path / "s.db"), fake)


@pytest.mark.parametrize("busy", [False, True], ids=["refused", "busy"])
async def test_a_delivery_the_store_refuses_fails_alone_unless_the_store_is_busy(
    tmp_path: Path, busy: bool
) -> None:
    """A refused delivery is retried alone (the others commit); busy fails the whole group."""
    async with GatedStore(tmp_path / "s.db") as store, sink_app(store) as (url, sink, session):
        fake = fake_for(url, conferences=4)
        sids = [c["conference_sid"] for c in fake.data.conferences]
        store.gate.clear()
        first = delivering(session, fake, url)
        await wait_until(lambda: len(store.writes) == 1, "the first write")
        grouped = [delivering(session, fake, url, i) for i in (1, 2, 3)]
        await wait_until(lambda: sink.waiting == 3, "three deliveries waiting")
        if busy:
            store.failures = [None, StoreBusyError("database is locked")]
        else:
            store.refused_sid = sids[2]
        store.gate.set()
        assert await first == 204
        statuses = await asyncio.gather(*grouped)
    if busy:
        assert statuses == [503, 503, 503]
        assert store.writes == [1, 3]
    else:
        assert statuses == [204, 503, 204]
        assert store.writes == [1, 3, 1, 1, 1]
        assert await stored_sids(tmp_path / "s.db") == {sids[0], sids[1], sids[3]}


async def test_a_delivery_whose_request_gave_up_before_its_write_is_not_written(
    tmp_path: Path,
) -> None:
    """Past the deadline both are answered 503; the one being written commits, the other not."""
    async with (
        GatedStore(tmp_path / "s.db") as store,
        sink_app(store, deadline=0.5) as (url, sink, session),
    ):
        fake = fake_for(url, conferences=2)
        store.gate.clear()
        taken = delivering(session, fake, url)
        await wait_until(lambda: len(store.writes) == 1, "the first write")
        waiting = await post(session, *signed_delivery([summary_event(fake, 1)], url))
        assert (await taken, waiting) == (503, 503)
        store.gate.set()
        await wait_until(lambda: sink.stats.transactions == 1, "the held write's commit")
        assert store.writes == [1]
    # Answered 503 yet committed: Twilio delivers it again, which then changes nothing.
    assert await stored_sids(tmp_path / "s.db") == {fake.data.conferences[0]["conference_sid"]}


async def test_stopping_refuses_what_waits_and_finishes_what_is_being_written(
    tmp_path: Path,
) -> None:
    """aclose(): the waiting delivery is answered 503 at once; the held one commits, 204."""
    async with GatedStore(tmp_path / "s.db") as store, sink_app(store) as (url, sink, session):
        fake = fake_for(url, conferences=2)
        store.gate.clear()
        held = delivering(session, fake, url)
        await wait_until(lambda: len(store.writes) == 1, "the first write")
        queued = delivering(session, fake, url, 1)
        await wait_until(lambda: sink.waiting == 1, "a delivery waiting")
        closing = asyncio.ensure_future(sink.aclose())
        assert await queued == 503
        assert not held.done()
        store.gate.set()
        await closing
        assert await held == 204
        late = await post(session, *signed_delivery([summary_event(fake, 1)], url))
        assert late == 503
    assert len(await stored_sids(tmp_path / "s.db")) == 1
