"""The paginator: page boundaries, limit, the one-page prefetch bound, early exit."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from tests.helpers import ClientFactory, EventLog, leftover_tasks, settle, wait_until
from twilio_conf_insights import (
    ConferenceSummary,
    InsightsClient,
    Page,
    RequestSent,
    ResponseReceived,
)
from twilio_conf_insights.testing import FakeTwilio


@pytest.mark.parametrize("page_size", [1, 2, 7, 29, 30, 31, 1000])
async def test_every_item_once_across_page_boundaries(
    fake: FakeTwilio, client: InsightsClient, page_size: int
) -> None:
    """Every conference comes once, in order, whatever the page size, with one request per page."""
    seen = [c.conference_sid async for c in client.conferences.list(page_size=page_size)]
    assert seen == [c["conference_sid"] for c in fake.data.conferences]
    assert len(fake.requests) == max(1, -(-len(seen) // page_size))


async def test_2010_pages_follow_relative_links(fake: FakeTwilio, client: InsightsClient) -> None:
    """2010-style pages follow their relative next-page links on the configured host to the end."""
    conference = max(fake.data.participants, key=lambda k: len(fake.data.participants[k]))
    pages = [page async for page in client.participants.list(conference, page_size=1).pages()]
    assert [p.items[0].to_dict() for p in pages] == fake.data.participants[conference]
    assert all(p.next_url is None or p.next_url.host == "127.0.0.1" for p in pages)
    assert pages[-1].next_url is None


async def test_prefetch_is_at_most_one_page_ahead(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """While a page is being read, exactly one more is fetched ahead, and none after the last."""
    log = EventLog()
    client = make_client(hooks=[log])
    consumed = 0
    async for page in client.conferences.list(page_size=3).pages():
        consumed += 1
        assert isinstance(page, Page)
        expected = min(consumed + 1, 10)
        # Wait until the page fetched ahead has arrived, then give the paginator every
        # chance to start another one before checking that it did not.
        await log.wait_for(ResponseReceived, expected)
        await settle()
        assert log.count(RequestSent) == len(fake.requests) == expected
    assert consumed == 10


async def test_limit_stops_early_and_requests_nothing_beyond(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """limit= stops the listing and fetches no page beyond the one holding the last item wanted."""
    items = await client.conferences.list(page_size=2, limit=5).collect()
    assert len(items) == 5
    assert len(fake.requests) == 3
    fake.reset_stats()
    items = await client.conferences.list(page_size=2, limit=4).collect()
    assert len(items) == 4
    await settle()
    assert len(fake.requests) == 2


async def test_limit_sets_the_page_size_when_none_is_given(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Without page_size, a small limit becomes the PageSize so one request suffices."""
    items = [c async for c in client.conferences.list(limit=3)]
    assert len(items) == 3
    assert fake.requests[0].query["PageSize"] == ["3"]
    assert len(fake.requests) == 1


async def test_limit_zero_sends_nothing(fake: FakeTwilio, client: InsightsClient) -> None:
    """limit=0 yields nothing and sends no request."""
    assert await client.conferences.list(limit=0).collect() == []
    assert fake.requests == []


async def test_await_paginator_collects(fake: FakeTwilio, client: InsightsClient) -> None:
    """Awaiting a paginator returns every item of every page."""
    items: list[ConferenceSummary] = await client.conferences.list(page_size=10)
    assert len(items) == len(fake.data.conferences)


async def test_break_cancels_the_prefetch_and_leaves_no_task(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Breaking out and closing the paginator cancels its prefetch and leaves no task behind."""
    fake.latency = 0.05
    client = make_client()
    paginator = client.conferences.list(page_size=2)
    async for _ in paginator:
        break
    await paginator.aclose()
    await asyncio.sleep(0)
    assert leftover_tasks() == set()


async def test_abandoned_iteration_is_cleaned_up(
    fake: FakeTwilio, make_client: ClientFactory, loop_errors: list[dict[str, Any]]
) -> None:
    """An abandoned iteration is finalised without loop errors; its prefetch is never answered."""
    client = make_client()
    async for _ in client.conferences.list(page_size=2):
        # The prefetch of page two is created but has not run yet: it will find the fake
        # slow enough that it is never answered before the client drops it.
        fake.latency = 60
        break
    # The abandoned generator is finalised by the event loop on its next turns.
    await wait_until(lambda: not leftover_tasks(), "the abandoned listing's tasks are gone")
    # The prefetch was cut off: the fake saw it, and never finished answering it.
    await wait_until(lambda: fake.in_flight == 0, "the fake dropped the cancelled request")
    gc.collect()
    assert loop_errors == []
    assert [r.status for r in fake.requests if r.status] == [200]


async def test_abandoned_paginator_kept_alive_is_closed_cleanly(
    fake: FakeTwilio, make_client: ClientFactory, loop_errors: list[dict[str, Any]]
) -> None:
    """A paginator left mid-way, closed and dropped, leaves no task and no loop error."""
    fake.latency = 0.02
    client = make_client()
    paginator = client.conferences.list(page_size=2)
    seen: list[ConferenceSummary] = []
    async for conference in paginator:
        seen.append(conference)
        if len(seen) == 3:
            break
    await paginator.aclose()
    del paginator
    gc.collect()
    await settle()
    assert loop_errors == []
    assert leftover_tasks() == set()


async def test_iterating_again_restarts(fake: FakeTwilio, client: InsightsClient) -> None:
    """Iterating a paginator a second time starts again from the first page."""
    paginator = client.conferences.list(page_size=50)
    first = [c async for c in paginator]
    second = [c async for c in paginator]
    assert first == second and len(first) == len(fake.data.conferences)
