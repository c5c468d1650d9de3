"""One contract for every store: SQLite and PostgreSQL give the same answers to a sync."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers import ClientFactory
from tests.store_fixtures import StoreFactory, api_records, stored_records
from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.sync import (
    ConferenceRecord,
    ReportQuery,
    StoreReadOnlyError,
    WorkUnit,
    WriteCounts,
    cut_windows,
)
from twilio_conf_insights.testing import FakeTwilio


def _record(fake: FakeTwilio, sid: str) -> ConferenceRecord:
    summary = fake.data.conference(sid)
    assert summary is not None
    return ConferenceRecord.from_models(
        ConferenceSummary.from_dict(summary),
        [ParticipantSummary.from_dict(p) for p in fake.data.participant_summaries[sid]],
    )


async def test_write_counts_new_unchanged_updated_settled(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """Writes count new, updated and settled conferences the same way in every store."""
    store = await make_store()
    sid = next(
        c["conference_sid"]
        for c in fake.data.conferences
        if fake.data.participant_summaries[c["conference_sid"]]
    )
    fake.data.set_processing_state(sid, "in_progress")
    unsettled = _record(fake, sid)
    parts = len(unsettled.participants)
    assert await store.write([unsettled]) == WriteCounts(new=1, unsettled=1, participants=parts)
    assert await store.settled([sid]) == set()
    assert await store.write([unsettled]) == WriteCounts(unsettled=1)  # idempotent
    fake.data.set_processing_state(sid, "complete")
    settled = _record(fake, sid)
    assert await store.write([settled]) == WriteCounts(updated=1, settled=1, participants=parts)
    assert await store.settled([sid, "CF" + "0" * 32]) == {sid}
    assert await store.write([settled]) == WriteCounts()


async def test_participants_that_disappear_are_removed(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """A participant summary no longer listed for its conference leaves the store."""
    store = await make_store()
    sid = next(
        c["conference_sid"]
        for c in fake.data.conferences
        if len(fake.data.participant_summaries[c["conference_sid"]]) >= 2
    )
    full = _record(fake, sid)
    await store.write([full])
    fewer = ConferenceRecord(full.summary, full.participants[1:])
    counts = await store.write([fewer])
    assert counts.updated == 1
    reports = [r async for r in store.reports(ReportQuery())]
    assert [p.participant_sid for p in reports[0].participants] == [
        p["participant_sid"] for p in fewer.participants
    ]


async def test_windows_are_remembered_and_stay_closed(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """Known windows keep their state; a closed window is never reopened by a later finish."""
    store = await make_store()
    now = fake.data.now
    units = cut_windows(now - timedelta(hours=3), now, timedelta(hours=1), subaccount=None)
    await store.add_windows(units)
    await store.finish_window(units[2], closed=True, listed_at=now)
    await store.add_windows(units)  # known: left as they are
    await store.finish_window(units[2], closed=False, listed_at=now + timedelta(hours=1))
    states = {state.unit: state for state in await store.windows(units[0].scope)}
    assert set(states) == set(units)
    assert states[units[2]].closed
    assert states[units[2]].listed_at == now + timedelta(hours=1)
    assert not states[units[0]].closed
    assert states[units[0]].listed_at is None
    other = WorkUnit("AC" + "1" * 32, units[0].start, units[0].end)
    assert await store.windows(other.scope) == []


async def test_reports_filter_and_order(fake: FakeTwilio, make_store: StoreFactory) -> None:
    """Reports come newest first and honour the created range, account and equality filters."""
    store = await make_store()
    await store.write([_record(fake, c["conference_sid"]) for c in fake.data.conferences])
    everything = [r async for r in store.reports(ReportQuery())]
    times = [r.summary.create_time for r in everything]
    assert len(everything) == len(fake.data.conferences)
    assert times == sorted(times, key=lambda t: (t is not None, t), reverse=True)
    middle = everything[len(everything) // 2].summary.create_time
    assert middle is not None
    newer = [r async for r in store.reports(ReportQuery(created_after=middle))]
    assert newer and all(r.summary.create_time and r.summary.create_time >= middle for r in newer)
    status = str(fake.data.conferences[0]["status"])
    same = [r async for r in store.reports(ReportQuery(equals=(("status", status),)))]
    assert len(same) == sum(c["status"] == status for c in fake.data.conferences)
    account = [r async for r in store.reports(ReportQuery(account_sid=fake.account_sid))]
    assert len(account) == sum(c["account_sid"] == fake.account_sid for c in fake.data.conferences)


async def test_sync_copies_the_api_exactly_and_resyncs_only_unsettled(
    fake: FakeTwilio, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    """A sync into either store equals the fake's data; a re-sync lists no settled conference."""
    client = make_client()
    now = fake.data.now
    store = await make_store()
    first = await client.sync(store, created_after=now - timedelta(days=4), now=now)
    await store.aclose()
    assert first.ok
    assert first.new == len(fake.data.conferences)
    assert await stored_records(make_store) == api_records(fake)
    all_sids = [c["conference_sid"] for c in fake.data.conferences]
    store = await make_store(read_only=True)
    unsettled = set(all_sids) - await store.settled(all_sids)
    await store.aclose()
    assert unsettled, "the data set must hold unsettled conferences for this test"
    assert len(unsettled) == first.unsettled
    fake.reset_stats()
    store = await make_store()
    second = await client.sync(store, created_after=now - timedelta(days=4), now=now)
    await store.aclose()
    assert second.new == 0
    fetched = {
        sid for r in fake.requests if "Participants" in r.path for sid in all_sids if sid in r.path
    }
    assert fetched == unsettled
    assert len(fetched) == second.conferences - second.skipped


async def test_read_only_store_refuses_writes(fake: FakeTwilio, make_store: StoreFactory) -> None:
    """A store opened read-only raises StoreReadOnlyError on write and keeps its rows."""
    writer = await make_store()
    record = _record(fake, fake.data.conferences[0]["conference_sid"])
    await writer.write([record])
    await writer.aclose()
    reader = await make_store(read_only=True)
    try:
        await reader.write([record])
    except StoreReadOnlyError:
        pass
    else:
        raise AssertionError("a read-only store accepted a write")
    assert len([r async for r in reader.reports(ReportQuery())]) == 1
