"""The fake's support for syncs: a movable "now", new conferences, windows, subaccounts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from twilio_conf_insights.testing import FakeData, FakeTwilio

from .helpers import client_for

SUB_A = "AC" + "a" * 32
SUB_B = "AC" + "b" * 32


def test_now_pins_the_data_without_changing_the_rest() -> None:
    """``now`` moves every timestamp relative to it; the same seed gives the same SIDs."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    pinned = FakeData(conferences=20, seed=5, now=now)
    default = FakeData(conferences=20, seed=5)
    assert pinned.base_time == now
    assert [c["conference_sid"] for c in pinned.conferences] == [
        c["conference_sid"] for c in default.conferences
    ]
    assert all(c["create_time"] <= "2026-03-01T12:00:00Z" for c in pinned.conferences)


def test_added_conferences_appear_first_within_the_elapsed_time() -> None:
    """add_conferences() advances now and serves the new conferences, created after the old now."""
    data = FakeData(conferences=30, seed=8)
    before = data.base_time
    old = [c["conference_sid"] for c in data.conferences]
    new = data.add_conferences(12, seconds=1800)
    assert data.base_time == before + timedelta(seconds=1800)
    assert [c["conference_sid"] for c in data.conferences] == [*new, *old]
    lower, upper = (
        before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        data.base_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    for sid in new:
        conference = data.conference(sid)
        assert conference is not None
        assert lower <= conference["create_time"] <= upper
        end = conference["end_time"]
        assert end is None or end <= upper
        assert data.participant_summaries[sid] is not None
    created = [c["create_time"] for c in data.conferences]
    assert created == sorted(created, reverse=True)


def test_several_subaccounts_share_the_data() -> None:
    """Each of several subaccounts owns some conferences; one subaccount keeps the old data."""
    data = FakeData(conferences=300, seed=2, subaccount_sid=[SUB_A, SUB_B])
    owners = {c["account_sid"] for c in data.conferences}
    assert owners == {data.account_sid, SUB_A, SUB_B}
    one = FakeData(conferences=50, seed=2, subaccount_sid=SUB_A)
    same = FakeData(conferences=50, seed=2, subaccount_sid=[SUB_A])
    assert one.conferences == same.conferences


async def test_created_window_and_subaccount_filters_over_http() -> None:
    """CreatedAfter (inclusive), CreatedBefore (exclusive) and Subaccount select exactly."""
    async with (
        FakeTwilio(conferences=120, seed=4, subaccount_sid=[SUB_A, SUB_B]) as fake,
        client_for(fake) as client,
    ):
        start = fake.now - timedelta(hours=30)
        end = fake.now - timedelta(hours=6)
        got = await client.conferences.list(
            created_after=start, created_before=end, subaccount=SUB_B, page_size=1000
        ).collect()
        iso = "%Y-%m-%dT%H:%M:%SZ"
        expected = [
            c
            for c in fake.data.conferences
            if start.strftime(iso) <= c["create_time"] < end.strftime(iso)
            and c["account_sid"] == SUB_B
        ]
        assert expected
        assert [c.to_dict() for c in got] == expected


async def test_wait_for_requests_wakes_on_the_counted_path() -> None:
    """wait_for_requests() returns once enough matching requests arrived, ignoring others."""
    async with FakeTwilio(conferences=10, seed=4) as fake, client_for(fake) as client:
        waiter = asyncio.ensure_future(fake.wait_for_requests(2, path_contains="/Participants"))
        await client.conferences.list().collect()
        await asyncio.sleep(0)
        assert not waiter.done()
        for conference in fake.data.conferences[:2]:
            await client.participant_summaries.list(conference["conference_sid"]).collect()
        await asyncio.wait_for(waiter, 10)
