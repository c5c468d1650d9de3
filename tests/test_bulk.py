"""fetch_many and conference_reports: laziness, bounds, order, per-item errors, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.helpers import ClientFactory, leftover_tasks, wait_until
from twilio_conf_insights import (
    InsightsClient,
    InvalidArgumentError,
    NotFoundError,
    RetryExhaustedError,
    RetryPolicy,
)
from twilio_conf_insights._bulk import map_bounded
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


async def test_fetch_many_yields_every_result(fake: FakeTwilio, client: InsightsClient) -> None:
    """fetch_many yields one successful result per SID, each holding that SID's summary."""
    sids = [c["conference_sid"] for c in fake.data.conferences]
    results = [r async for r in client.conferences.fetch_many(sids, concurrency=5)]
    assert sorted(r.sid for r in results) == sorted(sids)
    assert all(r.ok and r.value is not None and r.value.conference_sid == r.sid for r in results)


async def test_fetch_many_ordered(fake: FakeTwilio, make_client: ClientFactory) -> None:
    """ordered=True yields results in input order even though requests overlap."""
    fake.latency = 0.002
    client = make_client()
    sids = [c["conference_sid"] for c in fake.data.conferences]
    results = [r async for r in client.conferences.fetch_many(sids, concurrency=4, ordered=True)]
    assert [r.sid for r in results] == sids


async def test_fetch_many_reports_per_item_errors_and_goes_on(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """An invalid SID, a 404 and exhausted retries become those items' errors; the rest goes on."""
    client = make_client(retry=RetryPolicy(max_attempts=2))
    good = [c["conference_sid"] for c in fake.data.conferences[:5]]
    missing = "CF" + "0" * 32
    sids = [good[0], "not-a-sid", missing, *good[1:]]
    results = {
        r.sid: r async for r in client.conferences.fetch_many(sids, concurrency=1, ordered=True)
    }
    assert isinstance(results["not-a-sid"].error, InvalidArgumentError)
    assert isinstance(results[missing].error, NotFoundError)
    assert all(results[s].ok for s in good)
    fake.faults.queue(Fault(FaultKind.SERVER_ERROR), count=2)
    (exhausted,) = [r async for r in client.conferences.fetch_many([good[0]])]
    assert isinstance(exhausted.error, RetryExhaustedError)


async def test_fetch_many_reads_an_endless_source_lazily(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """An endless SID source is read only as capacity frees up, and leaving early leaves no task."""
    sids = [c["conference_sid"] for c in fake.data.conferences]
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for sid in itertools.cycle(sids):
            pulled += 1
            yield sid

    received = 0
    async with contextlib.aclosing(
        client.conferences.fetch_many(endless(), concurrency=4)
    ) as stream:
        async for _ in stream:
            received += 1
            assert pulled <= received + 2 * 4
            if received == 50:
                break
    assert leftover_tasks() == set()


async def test_fetch_many_ordered_reads_at_most_twice_concurrency_ahead(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """In ordered mode the input is read at most twice the concurrency ahead of what was yielded."""
    sids = [c["conference_sid"] for c in fake.data.conferences]
    pulled = 0

    async def source() -> AsyncIterator[str]:
        nonlocal pulled
        for sid in sids:
            pulled += 1
            yield sid

    received = 0
    async for _ in client.conferences.fetch_many(source(), concurrency=3, ordered=True):
        received += 1
        assert pulled - received <= 2 * 3
    assert received == len(sids)


async def test_cancelling_fetch_many_leaves_no_task(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Cancelling a run with requests in flight drops them all and leaves no task or slot behind."""
    fake.latency = 60  # no answer comes before the cancel (closing the fake cuts it short)
    client = make_client()
    sids = [c["conference_sid"] for c in fake.data.conferences]

    async def consume() -> None:
        async for _ in client.conferences.fetch_many(sids, concurrency=8):
            pass

    task = asyncio.ensure_future(consume())
    await wait_until(lambda: fake.in_flight == 8, "eight requests reached the fake")
    assert client.stats().in_flight == 8
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftover_tasks() == set()
    assert client.stats().in_flight == 0
    await wait_until(lambda: fake.in_flight == 0, "the fake saw every request dropped")
    assert len(fake.requests) == 8


async def test_map_bounded_never_exceeds_concurrency() -> None:
    """The bulk engine keeps exactly `concurrency` items in work at its peak, never more."""
    running = peak = 0

    async def work(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (item % 3))
        running -= 1
        return item * 2

    outcomes = [o async for o in map_bounded(range(100), work, concurrency=7, ordered=True)]
    assert [o[1] for o in outcomes] == [i * 2 for i in range(100)]
    assert peak == 7
    with pytest.raises(ValueError, match="concurrency"):
        [o async for o in map_bounded(range(3), work, concurrency=0)]


async def test_conference_reports_are_complete_across_pages_under_faults(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Under 20% random faults every report arrives once, with all of its participants."""
    client = make_client()
    fake.faults.random(rate=0.2, seed=4)
    reports = [r async for r in client.conference_reports(page_size=4, concurrency=6)]
    assert sum(fake.faults.injected.values()) > 0
    fake.faults.clear()
    assert sorted(r.summary.conference_sid or "" for r in reports) == sorted(
        c["conference_sid"] for c in fake.data.conferences
    )
    for report in reports:
        assert report.ok
        sid = report.summary.conference_sid
        assert sid is not None
        assert [p.to_dict() for p in report.participants] == fake.data.participant_summaries[sid]


async def test_conference_reports_use_every_participant_page() -> None:
    """Reports include participants beyond the first page of 1,000."""
    async with FakeTwilio(conferences=3, participants_per_conference=(1200, 1300), seed=2) as fake:
        async with InsightsClient(
            fake.account_sid, fake.auth_token, insights_base_url=fake.insights_base_url
        ) as client:
            reports = [r async for r in client.conference_reports()]
        for report in reports:
            sid = report.summary.conference_sid
            assert sid is not None
            assert len(report.participants) == len(fake.data.participant_summaries[sid]) > 1000


async def test_conference_reports_ordered(fake: FakeTwilio, make_client: ClientFactory) -> None:
    """ordered=True yields reports in the listing's order."""
    fake.latency = 0.002
    client = make_client()
    reports = [r async for r in client.conference_reports(ordered=True, page_size=7, concurrency=5)]
    assert [r.summary.conference_sid for r in reports] == [
        c["conference_sid"] for c in fake.data.conferences
    ]


async def test_conference_reports_filters_reach_the_listing(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Filters given to conference_reports reach the conference listing's query."""
    reports = [r async for r in client.conference_reports(status="completed")]
    assert {r.summary.status for r in reports} == {"completed"}
    assert fake.requests[0].query["Status"] == ["completed"]


async def test_conference_reports_read_ahead_is_bounded(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    # A slow consumer: what is fetched ahead of it stays within the concurrency and the
    # paginator's one page ahead, whatever the total.
    """A slow consumer keeps the listings fetched ahead within the concurrency plus one page."""
    consumed = 0
    async for _ in client.conference_reports(page_size=5, concurrency=3):
        consumed += 1
        await asyncio.sleep(0.01)
        listings = sum(1 for r in fake.requests if r.path.endswith("/Participants"))
        pages = sum(1 for r in fake.requests if r.path == "/v1/Conferences")
        assert listings <= consumed + 3
        assert pages <= -(-(consumed + 3) // 5) + 1
    assert consumed == len(fake.data.conferences)
