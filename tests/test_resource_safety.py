"""No leaked task, session, connector or transport, whenever a run is stopped; capped bodies."""

from __future__ import annotations

import asyncio
import gc
import gzip
import warnings
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.helpers import EventLog, leftover_tasks, settle
from twilio_conf_insights import (
    ClientClosedError,
    DecodeError,
    InsightsClient,
    RetryExhaustedError,
    TwilioInsightsError,
)
from twilio_conf_insights.testing import FakeTwilio


def _client(fake: FakeTwilio, log: EventLog | None = None) -> InsightsClient:
    return InsightsClient(
        fake.account_sid,
        fake.auth_token,
        insights_base_url=fake.insights_base_url,
        max_concurrency=8,
        hooks=[log] if log is not None else [],
    )


async def _assert_nothing_left(client: InsightsClient) -> None:
    assert client.closed
    await settle()  # let finalisers of abandoned generators run
    assert leftover_tasks() == set()
    assert client.stats().in_flight == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.fixture
async def slow_fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(
        conferences=120, participants_per_conference=3, seed=8, latency=0.01
    ) as fake:
        yield fake


# Points of a run by the events seen so far (a run of 132 requests has 264): before the
# first request, between a request and its answer, and later, with pages and listings
# in flight.
STOP_POINTS = [0, 1, 2, 3, 5, 8, 13, 21, 40, 77]


@pytest.mark.parametrize("events", STOP_POINTS)
async def test_cancel_a_bulk_run_at_any_point(slow_fake: FakeTwilio, events: int) -> None:
    """Cancelling conference_reports at any point leaves no task, slot, session or socket."""
    log = EventLog()
    client = _client(slow_fake, log)

    async def run() -> int:
        return len([r async for r in client.conference_reports(page_size=10, concurrency=8)])

    task = asyncio.ensure_future(run())
    await log.wait_for_any(events)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.aclose()
    await _assert_nothing_left(client)


@pytest.mark.parametrize("after", [1, 5, 17, 59])
async def test_break_out_of_a_bulk_run(slow_fake: FakeTwilio, after: int) -> None:
    """Leaving fetch_many or conference_reports early with break leaves nothing behind."""
    client = _client(slow_fake)
    sids = [c["conference_sid"] for c in slow_fake.data.conferences]
    seen = 0
    async for _ in client.conferences.fetch_many(sids, concurrency=8):
        seen += 1
        if seen == after:
            break
    async for _ in client.conference_reports(page_size=7):
        seen += 1
        if seen == 2 * after:
            break
    await client.aclose()
    await _assert_nothing_left(client)


@pytest.mark.parametrize("events", [1, 2, 8, 40])
async def test_close_the_client_in_the_middle_of_a_run(slow_fake: FakeTwilio, events: int) -> None:
    """Closing the client under a running bulk call ends it with a typed error, leaving nothing."""
    log = EventLog()
    client = _client(slow_fake, log)

    async def run() -> None:
        async for report in client.conference_reports(page_size=10):
            assert report.ok or isinstance(report.error, TwilioInsightsError)

    task = asyncio.ensure_future(run())
    await log.wait_for_any(events)
    await client.aclose()
    with pytest.raises(TwilioInsightsError) as caught:
        await task
    # The stream ends with a typed error (the client is closed), never aiohttp's RuntimeError.
    assert isinstance(caught.value, ClientClosedError | RetryExhaustedError)
    await _assert_nothing_left(client)


# -- response body caps ----------------------------------------------------------------

CAP = 10_000


@pytest.fixture
async def oversized() -> AsyncIterator[tuple[str, list[str]]]:
    """A server answering with bodies over the cap: plain, gzip-bombed and chunked."""
    hits: list[str] = []
    big = b'{"conference_sid": "' + b"a" * (CAP * 5) + b'"}'

    async def plain(request: web.Request) -> web.Response:
        hits.append("plain")
        return web.Response(body=big, content_type="application/json")

    async def bomb(request: web.Request) -> web.Response:
        hits.append("gzip")
        # 1,000 compressed bytes that inflate to 5 MB.
        body = gzip.compress(b'{"x": "' + b" " * 5_000_000 + b'"}')
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async def chunked(request: web.Request) -> web.StreamResponse:
        hits.append("chunked")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(50):
            await response.write(b" " * 1000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/Conferences/CF" + "1" * 32, plain)
    app.router.add_get("/v1/Conferences/CF" + "2" * 32, bomb)
    app.router.add_get("/v1/Conferences/CF" + "3" * 32, chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", hits
    await runner.cleanup()


@pytest.mark.parametrize("digit", ["1", "2", "3"], ids=["content-length", "gzip-bomb", "chunked"])
async def test_response_bodies_are_capped(oversized: tuple[str, list[str]], digit: str) -> None:
    """Bodies over max_body_bytes (declared, gzip-inflated or chunked) are refused, not retried."""
    url, hits = oversized
    async with InsightsClient(
        "AC" + "a" * 32, "token", insights_base_url=url, max_body_bytes=CAP
    ) as client:
        with pytest.raises(DecodeError, match="max_body_bytes"):
            await client.conferences.fetch("CF" + digit * 32)
    assert len(hits) == 1  # an oversized body is not retried
