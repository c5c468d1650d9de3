"""One contract for every store: SQLite and PostgreSQL give the same answers to the same writes.

Writes merge: summaries alone, participant summaries alone, in any order, duplicated, from
several writers at once; the most final, then the newest version of each summary stays.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from tests.helpers import ClientFactory
from tests.store_fixtures import StoreFactory, api_records, query, stored_records
from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.sync import (
    ConferenceRecord,
    ReportQuery,
    Store,
    StoreReadOnlyError,
    WorkUnit,
    WriteCounts,
    cut_windows,
)
from twilio_conf_insights.testing import FakeData, FakeTwilio


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


async def test_participants_missing_from_a_later_record_are_kept(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """Merge, not replace: a record without some participant summaries deletes none."""
    store = await make_store()
    sid = next(
        c["conference_sid"]
        for c in fake.data.conferences
        if len(fake.data.participant_summaries[c["conference_sid"]]) >= 2
    )
    full = _record(fake, sid)
    await store.write([full])
    fewer = ConferenceRecord(full.summary, full.participants[1:])
    assert await store.write([fewer]) == WriteCounts(unsettled=int(not full.settled))
    reports = [r async for r in store.reports(ReportQuery())]
    assert [p.to_dict() for p in reports[0].participants] == list(full.participants)


def _version(
    record: ConferenceRecord, state: str, at: datetime, **changes: Any
) -> ConferenceRecord:
    """``record`` with every summary in ``state``, observed at ``at``."""
    assert record.summary is not None
    return ConferenceRecord(
        {**record.summary, "processing_state": state, **changes},
        [{**p, "processing_state": state} for p in record.participants],
        observed_at=at,
    )


def _versions(fake: FakeTwilio, count: int = 8) -> list[list[ConferenceRecord]]:
    """For ``count`` conferences: in_progress, partial, then complete versions, oldest first."""
    start = fake.data.now
    return [
        [
            _version(_record(fake, c["conference_sid"]), state, start + timedelta(minutes=n))
            for n, state in enumerate(("in_progress", "partial", "complete"))
        ]
        for c in fake.data.conferences[:count]
    ]


async def _best_of(versions: list[list[ConferenceRecord]]) -> dict[str, Any]:
    return {v[-1].conference_sid: (v[-1].summary, list(v[-1].participants)) for v in versions}


async def _everything(make_store: StoreFactory) -> dict[str, Any]:
    return {
        sid: (summary, participants)
        for sid, (summary, participants) in (await stored_records(make_store)).items()
    }


async def test_versions_out_of_order_end_with_the_newest_and_most_final(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """Newest first, oldest last, or mixed: the complete version stays and is settled."""
    store = await make_store()
    versions = _versions(fake)
    orders = [list(reversed(v)) if i % 2 else [v[1], v[2], v[0]] for i, v in enumerate(versions)]
    for position in range(3):
        await store.write([order[position] for order in orders])
    assert await _everything(make_store) == await _best_of(versions)
    sids = [v[0].conference_sid for v in versions]
    assert await store.settled(sids) == {v[-1].conference_sid for v in versions if v[-1].settled}


async def test_a_partial_after_complete_changes_nothing(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """A late partial or in_progress, observed later, never replaces a complete version."""
    store = await make_store()
    versions = _versions(fake, 4)
    await store.write([v[-1] for v in versions])
    later = fake.data.now + timedelta(hours=2)
    late = [_version(v[-1], "partial", later, status="late") for v in versions]
    late += [_version(v[-1], "in_progress", later, status="late") for v in versions]
    counts = await store.write(late)
    assert (counts.new, counts.updated, counts.settled, counts.participants) == (0, 0, 0, 0)
    assert await _everything(make_store) == await _best_of(versions)


async def test_duplicates_are_written_once(fake: FakeTwilio, make_store: StoreFactory) -> None:
    """The same record three times in one write, and again later: one conference, no change."""
    store = await make_store()
    record = _record(fake, fake.data.conferences[0]["conference_sid"])
    first = await store.write([record, record, record])
    assert first.new == 1
    assert first.participants == len(record.participants)
    again = await store.write([record, record])
    assert (again.new, again.updated, again.participants) == (0, 0, 0)
    assert await stored_records(make_store) == {
        record.conference_sid: (record.summary, list(record.participants))
    }


async def test_participants_before_their_summary_wait_for_it(
    fake: FakeTwilio, make_store: StoreFactory, store_spec: str
) -> None:
    """Participant events first: stored, in no report and not settled until the summary comes."""
    store = await make_store()
    record = next(
        r
        for r in (_record(fake, c["conference_sid"]) for c in fake.data.conferences)
        if r.settled and len(r.participants) >= 2
    )
    for participant in reversed(record.participants):  # one event each, in any order
        counts = await store.write([ConferenceRecord.of_participant(participant)])
        assert counts == WriteCounts(participants=1)
    assert [r async for r in store.reports(ReportQuery())] == []
    assert await store.settled([record.conference_sid]) == set()
    assert await query(store_spec, "SELECT count(*) FROM conferences") == [(0,)]
    assert record.summary is not None
    counts = await store.write([ConferenceRecord.of_summary(record.summary)])
    assert counts == WriteCounts(new=1)
    assert await store.settled([record.conference_sid]) == {record.conference_sid}
    reports = [r async for r in store.reports(ReportQuery())]
    assert [p.participant_sid for p in reports[0].participants] == [
        p["participant_sid"] for p in reversed(record.participants)
    ]


async def test_a_complete_summary_waits_for_its_announced_participants(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """Complete summary, fewer participants than unique_participants: not settled yet."""
    store = await make_store()
    record = next(
        r
        for r in (_record(fake, c["conference_sid"]) for c in fake.data.conferences)
        if r.settled and r.summary is not None and r.summary["unique_participants"] >= 2
    )
    assert record.summary is not None
    await store.write([ConferenceRecord(record.summary, record.participants[:1])])
    assert await store.settled([record.conference_sid]) == set()
    counts = await store.write([ConferenceRecord(None, record.participants[1:])])
    assert counts.settled == 1
    assert await store.settled([record.conference_sid]) == {record.conference_sid}


async def test_concurrent_writers_end_exactly_with_the_best_versions(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """Four writers at once, each its own order of every version: the same exact end state."""
    versions = _versions(fake, 20)
    stores = [await make_store() for _ in range(4)]

    async def write_all(store: Store, shift: int) -> None:
        flat = [record for versions_of in versions for record in versions_of]
        rotated = flat[shift:] + flat[:shift]
        if shift % 2:
            rotated.reverse()
        for start in range(0, len(rotated), 5):
            await store.write(rotated[start : start + 5])

    await asyncio.gather(*(write_all(store, 17 * i) for i, store in enumerate(stores)))
    assert await _everything(make_store) == await _best_of(versions)


async def test_first_writes_of_one_conference_at_once_keep_every_participant(
    fake: FakeTwilio, make_store: StoreFactory
) -> None:
    """Many writers each bring one participant of a conference nobody has stored yet."""
    record = next(
        r
        for r in (_record(fake, c["conference_sid"]) for c in fake.data.conferences)
        if r.settled and len(r.participants) >= 3
    )
    assert record.summary is not None
    stores = [await make_store() for _ in record.participants]
    writes = [
        store.write([ConferenceRecord(record.summary, [participant])])
        for store, participant in zip(stores, record.participants, strict=True)
    ]
    counts = sum(await asyncio.gather(*writes), WriteCounts())
    assert counts.new == 1
    assert counts.participants == len(record.participants)
    assert counts.settled == 1  # exactly one write completed it
    assert await stores[0].settled([record.conference_sid]) == {record.conference_sid}
    stored = await stored_records(make_store)
    assert sorted(p["participant_sid"] for p in stored[record.conference_sid][1]) == sorted(
        p["participant_sid"] for p in record.participants
    )


async def test_an_unreadable_create_time_is_kept_and_stored_empty(
    fake: FakeTwilio, make_store: StoreFactory, store_spec: str
) -> None:
    """240 conferences, 6 with create_time "not-a-timestamp": all stored, that column NULL."""
    data = FakeData(conferences=240, participants_per_conference=(1, 3), seed=27)
    records = []
    for index, conference in enumerate(data.conferences):
        summary = dict(conference)
        if index % 40 == 7:
            summary["create_time"] = "not-a-timestamp"
        records.append(
            ConferenceRecord(summary, data.participant_summaries[conference["conference_sid"]])
        )
    store = await make_store()
    assert (await store.write(records)).new == 240
    stored = await stored_records(make_store)
    assert len(stored) == 240
    assert sum(s["create_time"] == "not-a-timestamp" for s, _ in stored.values()) == 6
    assert await query(
        store_spec, "SELECT count(*) FROM conferences WHERE create_time IS NULL"
    ) == [(6,)]
    unreadable_last = [r.summary.create_time async for r in store.reports(ReportQuery())][-6:]
    assert unreadable_last == [None] * 6


async def test_drifted_values_are_kept_in_json_and_abort_nothing(
    fake: FakeTwilio, make_store: StoreFactory, store_spec: str
) -> None:
    """Odd types or sizes in columned fields: every record stored, the columns empty."""
    records = [_record(fake, c["conference_sid"]) for c in fake.data.conferences[:4]]
    odd: list[dict[str, Any]] = [
        {"unique_participants": 10**20},
        {"account_sid": 12345},
        {"processing_state": {"state": "complete"}},
        {"unique_participants": "3", "processing_state": 7},
    ]
    drifted = [
        ConferenceRecord({**(r.summary or {}), **change}, r.participants)
        for r, change in zip(records, odd, strict=True)
    ]
    store = await make_store()
    assert (await store.write(drifted)).new == 4
    stored = await stored_records(make_store)
    assert {sid: summary for sid, (summary, _) in stored.items()} == {
        r.conference_sid: r.summary for r in drifted
    }
    columns = await query(
        store_spec,
        "SELECT count(unique_participants), count(account_sid), count(processing_state) "
        "FROM conferences",
    )
    # Two readable counts (not 10**20, not "3"), one odd account, two odd states.
    assert columns == [(2, 3, 2)]


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
