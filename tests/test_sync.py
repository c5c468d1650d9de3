"""The sync engine over real HTTP: exact data, incremental costs, new data, subaccounts."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twilio_conf_insights import InvalidArgumentError, RetryPolicy
from twilio_conf_insights.sync import (
    SQLiteStore,
    SyncProgress,
    WorkUnit,
    cut_windows,
    parse_duration,
)
from twilio_conf_insights.testing import FaultKind

from .helpers import client_for
from .sync_support import (
    assert_store_matches,
    full_range,
    participant_listings,
    stored,
    sync_fake,
)


async def test_first_sync_then_incremental_costs(tmp_path: Path) -> None:
    """600 conferences, 10% unsettled: the issue's request budgets, and exact final data."""
    path = tmp_path / "store.db"
    async with sync_fake() as fake, client_for(fake) as client:
        unsettled = fake.data.processing.unsettled()
        assert len(unsettled) == 60
        span = full_range(fake)

        async with SQLiteStore(path) as store:
            first = await client.sync(store, now=fake.now, **span)
        first_requests = len(fake.requests)
        assert (first.new, first.unsettled, first.updated) == (600, 60, 0)
        assert first.ok
        assert_store_matches(path, fake)

        # Nothing new: only unsettled work (their participants, and open windows' listings).
        fake.reset_stats()
        async with SQLiteStore(path) as store:
            again = await client.sync(store, now=fake.now, **span)
        assert sorted(participant_listings(fake)) == sorted(unsettled)
        # docs/sync.md's "about 12%": measured 74 of 604 requests (12.25%), the 60 unsettled
        # conferences' participants and 14 listings of the windows they keep open.
        assert len(fake.requests) <= 0.125 * first_requests
        assert (again.new, again.updated, again.unsettled) == (0, 0, 60)

        # Twilio settles them: the store ends with the final records, cheaply.
        fake.data.processing.settle_all()
        fake.reset_stats()
        async with SQLiteStore(path) as store:
            settled = await client.sync(store, now=fake.now, **span)
        assert len(fake.requests) <= 0.125 * first_requests  # the same 74 requests
        assert (settled.settled, settled.updated, settled.unsettled) == (60, 60, 0)
        assert_store_matches(path, fake)

        # Everything settled and old windows closed: only the last 24h30m is listed again.
        fake.reset_stats()
        async with SQLiteStore(path) as store:
            quiet = await client.sync(store, now=fake.now, **span)
        assert participant_listings(fake) == []
        assert len(fake.requests) <= 0.05 * first_requests
        assert (quiet.new, quiet.updated, quiet.settled) == (0, 0, 0)


async def test_adjacent_windows_are_listed_a_day_per_query(tmp_path: Path) -> None:
    """Three days of one-hour windows are listed with three queries, each over its whole day."""
    async with sync_fake(60, unsettled_share=0) as fake, client_for(fake) as client:
        end = fake.now.replace(minute=0, second=0, microsecond=0)
        days = [end - timedelta(days=n) for n in (3, 2, 1, 0)]
        async with SQLiteStore(tmp_path / "store.db") as store:
            summary = await client.sync(
                store,
                now=fake.now,
                window=timedelta(hours=1),
                created_after=days[0],
                created_before=end,
            )
        assert summary.ok
        listed = sorted(
            (request.query["CreatedAfter"], request.query["CreatedBefore"])
            for request in fake.requests
            if request.path == "/v1/Conferences" and "PageToken" not in request.query
        )

    def spelled(moment: datetime) -> list[str]:
        return [moment.strftime("%Y-%m-%dT%H:%M:%SZ")]

    assert listed == [(spelled(start), spelled(stop)) for start, stop in itertools.pairwise(days)]


async def test_new_conferences_are_added_and_settled_ones_not_fetched(tmp_path: Path) -> None:
    """A default-range re-run picks up conferences that appeared since, and no settled ones."""
    path = tmp_path / "store.db"
    async with sync_fake(200) as fake, client_for(fake) as client:
        async with SQLiteStore(path) as store:
            await client.sync(store, now=fake.now, **full_range(fake))
        unsettled = set(fake.data.processing.unsettled())
        added = fake.data.add_conferences(15, seconds=1800)
        fake.reset_stats()
        async with SQLiteStore(path) as store:
            summary = await client.sync(store, now=fake.now)  # from where it left off
        assert summary.new == 15
        assert set(participant_listings(fake)) <= set(added) | unsettled
        assert set(added) <= set(participant_listings(fake))
        assert_store_matches(path, fake)


async def test_refresh_fetches_settled_conferences_again(tmp_path: Path) -> None:
    """--refresh lists every window and refetches every conference, changing nothing stored."""
    path = tmp_path / "store.db"
    async with sync_fake(80, unsettled_share=0) as fake, client_for(fake) as client:
        async with SQLiteStore(path) as store:
            await client.sync(store, now=fake.now, **full_range(fake))
            fake.reset_stats()
            summary = await client.sync(store, now=fake.now, refresh=True, **full_range(fake))
        assert sorted(participant_listings(fake)) == sorted(
            c["conference_sid"] for c in fake.data.conferences
        )
        assert (summary.new, summary.updated) == (0, 0)
        assert_store_matches(path, fake)


async def test_a_failed_conference_is_reported_and_fetched_on_the_next_run(tmp_path: Path) -> None:
    """A failing conference is an error; its window stays open; a re-run fixes it."""
    path = tmp_path / "store.db"
    async with (
        sync_fake(60, unsettled_share=0) as fake,
        client_for(fake, retry=RetryPolicy.disabled()) as client,
    ):
        victim = fake.data.conferences[10]["conference_sid"]
        fake.faults.queue(FaultKind.SERVER_ERROR, count=1, path_contains=f"{victim}/Participants")
        async with SQLiteStore(path) as store:
            first = await client.sync(store, now=fake.now, **full_range(fake))
            assert not first.ok
            assert len(first.errors) == 1
            assert "500" in first.line()
            assert victim not in stored(path)[0]
            fake.reset_stats()
            second = await client.sync(store, now=fake.now, **full_range(fake))
        assert second.ok
        assert participant_listings(fake) == [victim]
        assert_store_matches(path, fake)


async def test_subaccounts_are_synced_each_on_its_own(tmp_path: Path) -> None:
    """Two subaccounts: exactly their conferences are stored, each listed with Subaccount=."""
    sub_a, sub_b = "AC" + "a" * 32, "AC" + "b" * 32
    path = tmp_path / "store.db"
    async with sync_fake(150, subaccount_sid=[sub_a, sub_b]) as fake, client_for(fake) as client:
        async with SQLiteStore(path) as store:
            summary = await client.sync(
                store, now=fake.now, subaccounts=[sub_a, sub_b], **full_range(fake)
            )
        listings = [r for r in fake.requests if r.path == "/v1/Conferences"]
        assert {r.param("Subaccount") for r in listings} == {sub_a, sub_b}
        theirs = [
            c["conference_sid"]
            for c in fake.data.conferences
            if c["account_sid"] != fake.account_sid
        ]
        assert summary.new == len(theirs) > 0
        assert_store_matches(path, fake, theirs)


async def test_progress_reaches_every_window(tmp_path: Path) -> None:
    """on_progress ends with every window done and every conference counted."""
    seen: list[SyncProgress] = []
    async with (
        sync_fake(50) as fake,
        client_for(fake) as client,
        SQLiteStore(tmp_path / "s.db") as store,
    ):
        summary = await client.sync(
            store,
            now=fake.now,
            on_progress=seen.append,
            window=timedelta(hours=6),
            **full_range(fake),
        )
    last = seen[-1]
    assert last.windows_done == last.windows_total == summary.windows
    assert last.conferences == last.fetched == 50


async def test_bad_arguments_fail_before_any_request(tmp_path: Path) -> None:
    """Naive datetimes, bad subaccounts and unknown filters are ValueErrors; nothing is sent."""
    async with (
        sync_fake(5) as fake,
        client_for(fake) as client,
        SQLiteStore(tmp_path / "s.db") as store,
    ):
        with pytest.raises(InvalidArgumentError):
            await client.sync(store, created_after=datetime(2025, 1, 1))
        with pytest.raises(InvalidArgumentError):
            await client.sync(store, subaccounts=["AC1"])
        with pytest.raises(InvalidArgumentError):
            await client.sync(store, status="nonsense-status-value!")
        assert fake.requests == []


# -- the unit of work: pure -------------------------------------------------------------------

_moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@settings(deadline=None)
@given(start=_moments, length=st.integers(0, 2 * 86400), width=st.integers(60, 3 * 86400))
def test_windows_tile_the_range_at_aligned_cuts(start: datetime, length: int, width: int) -> None:
    """Windows cover [start, end) exactly, without overlap, cut at multiples of the width."""
    end = start + timedelta(seconds=length)
    units = cut_windows(start, end, timedelta(seconds=width))
    ordered = sorted(units, key=lambda u: u.start)
    floor_start, floor_end = start.replace(microsecond=0), end.replace(microsecond=0)
    if floor_end <= floor_start:
        assert units == []
        return
    assert ordered[0].start == floor_start
    assert ordered[-1].end == floor_end
    for before, after in itertools.pairwise(ordered):
        assert before.end == after.start
        assert int(after.start.timestamp()) % width == 0
    assert all(u.start < u.end for u in units)


def test_a_unit_of_work_is_a_plain_value() -> None:
    """A WorkUnit survives JSON (as a task queue would carry it) and keys a dict."""
    unit = cut_windows(
        datetime(2025, 6, 1, tzinfo=UTC),
        datetime(2025, 6, 1, 3, tzinfo=UTC),
        timedelta(hours=1),
        subaccount="AC" + "c" * 32,
        filters=[("Status", "completed")],
    )[0]
    copy = WorkUnit.from_dict(json.loads(json.dumps(unit.to_dict())))
    assert copy == unit
    assert {unit: 1}[copy] == 1
    assert copy.query()["CreatedAfter"] == "2025-06-01T02:00:00Z"
    assert copy.query()["Subaccount"] == "AC" + "c" * 32


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h", 3600), ("1d", 86400), ("1h30m", 5400), ("90s", 90)]
)
def test_durations(text: str, seconds: int) -> None:
    """Durations are written like 30m, 1h, 1d (parts may combine)."""
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0m", "1", "h", "1w", "-1h", "1h 30", "1.5h"])
def test_bad_durations(text: str) -> None:
    """Anything else is a usage error naming the value."""
    with pytest.raises(InvalidArgumentError):
        parse_duration(text)
