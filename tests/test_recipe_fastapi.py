"""The FastAPI recipe of the README, served by uvicorn on loopback against FakeTwilio."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import uvicorn
from fastapi import FastAPI

from tests.recipes.fastapi_app import Insights, create_app
from tests.web_support import RETRY, QueuePeak, assert_nothing_left, client_for, inbound, until
from twilio_conf_insights import ClientEvent, InsightsClient, ResponseReceived, RetryPolicy
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

MISSING_SID = "CF" + "0" * 32


def client_of(app: FastAPI) -> InsightsClient:
    client: InsightsClient = app.state.insights
    return client


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[aiohttp.ClientSession]:
    """Run ``app`` under uvicorn on a free loopback port, lifespan included."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        http="h11",
        ws="none",
        log_level="warning",
        timeout_graceful_shutdown=10,  # a failed test must not wait for a stalled request
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[listener]))
    try:
        # uvicorn sets no event when it is up; the lifespan has run once it says started.
        await until(lambda: server.started or serving.done())
        assert not serving.done(), "uvicorn stopped while starting"
        async with inbound(f"http://127.0.0.1:{port}") as session:
            yield session
    finally:
        server.should_exit = True
        await serving
        listener.close()
    assert client_of(app).closed
    await assert_nothing_left()


def sids(fake: FakeTwilio) -> list[str]:
    return [conference["conference_sid"] for conference in fake.data.conferences]


async def test_400_concurrent_requests_answered_within_max_concurrency(fake: FakeTwilio) -> None:
    """400 simultaneous callers all get their summary; Twilio never sees more than the cap."""
    fake.latency = 0.01
    peak = QueuePeak()
    app = create_app(client_for(fake, max_concurrency=8, hooks=[peak]), deadline=120.0)
    wanted = [sids(fake)[i % len(sids(fake))] for i in range(400)]
    async with served(app) as session:
        client = client_of(app)
        peak.client = client
        fake.reset_stats()

        async def call(sid: str) -> tuple[int, Any]:
            async with session.get(f"/conferences/{sid}") as response:
                return response.status, await response.json()

        answers = await asyncio.gather(*(call(sid) for sid in wanted))
        assert [status for status, _ in answers] == [200] * 400
        assert [body["conference_sid"] for _, body in answers] == wanted
        assert len(fake.requests) == 400
        assert fake.max_in_flight <= 8
        assert peak.peak > 8  # callers really queued behind the cap, concurrently
        assert client.stats().in_flight == 0


async def test_hang_up_cancels_the_twilio_call_through_unless_hung_up(fake: FakeTwilio) -> None:
    """/conferences/{sid} watches for the disconnect: a hang-up cancels its Twilio request."""
    fake.latency = 600.0
    # No deadline, attempt timeout or retry may end it: only the hang-up can.
    app = create_app(client_for(fake, timeout=600.0), deadline=600.0)
    async with served(app) as session:
        fake.reset_stats()
        caller = asyncio.ensure_future(session.get(f"/conferences/{sids(fake)[0]}"))
        await until(lambda: fake.in_flight == 1)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await until(lambda: fake.in_flight == 0)
        assert client_of(app).stats().in_flight == 0
        assert [request.status for request in fake.requests] == [0]  # never answered


async def test_without_unless_hung_up_a_hang_up_does_not_cancel(fake: FakeTwilio) -> None:
    """As the README says: uvicorn lets a plain endpoint's Twilio call run to its end."""
    app = create_app(client_for(fake, timeout=600.0), deadline=600.0)

    @app.get("/plain/{sid}")
    async def plain(sid: str, client: Insights) -> dict[str, Any]:
        return (await client.conferences.fetch(sid)).to_dict()

    fake.latency = 1.0
    async with served(app) as session:
        fake.reset_stats()
        caller = asyncio.ensure_future(session.get(f"/plain/{sids(fake)[0]}"))
        await until(lambda: fake.in_flight == 1)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await until(lambda: fake.in_flight == 0)
        assert [request.status for request in fake.requests] == [200]  # answered, for nobody


async def test_hang_up_stops_an_ndjson_stream() -> None:
    """Starlette stops a streaming response whose caller left: no further page is fetched."""
    async with FakeTwilio(conferences=320, seed=5) as fake:
        app = create_app(client_for(fake, timeout=600.0), deadline=600.0)
        async with served(app) as session:
            fake.reset_stats()
            response = await session.get("/conferences?limit=300")
            assert response.status == 200
            await response.content.readline()  # the first page is streaming
            fake.latency = 600.0  # the prefetched second page hangs
            await until(lambda: fake.in_flight == 1)
            response.close()  # hang up
            await until(lambda: fake.in_flight == 0)
            assert client_of(app).stats().in_flight == 0


async def test_deadline_answers_504_without_disturbing_other_requests(fake: FakeTwilio) -> None:
    """A stalled Twilio call becomes a 504 at the deadline; others, and the next try, succeed."""
    slow, other = sids(fake)[:2]
    fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=600.0), path_contains=slow)
    app = create_app(client_for(fake, retry=RETRY), deadline=3.0)
    async with served(app) as session:
        stalled = asyncio.ensure_future(session.get(f"/conferences/{slow}"))
        await until(lambda: fake.in_flight == 1)
        async with session.get(f"/conferences/{other}") as response:
            assert response.status == 200
            assert (await response.json())["conference_sid"] == other
        async with await stalled as response:
            assert response.status == 504
        await until(lambda: fake.in_flight == 0)  # the stalled Twilio call was cancelled
        async with session.get(f"/conferences/{slow}") as response:
            assert response.status == 200
            assert (await response.json())["conference_sid"] == slow
        assert client_of(app).stats().in_flight == 0


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/conferences/{MISSING_SID}", 404),
        ("/conferences/not-a-sid", 400),
        ("/conferences?status=bogus", 400),
        ("/conferences?limit=-1", 400),
        ("/conferences?limit=many", 422),  # FastAPI's own validation
    ],
)
async def test_caller_errors_map_to_4xx(fake: FakeTwilio, path: str, status: int) -> None:
    """NotFoundError answers 404, InvalidArgumentError 400."""
    async with served(create_app(client_for(fake))) as session, session.get(path) as response:
        assert response.status == status


@pytest.mark.parametrize(
    ("fault", "attempts", "retry_after"),
    [
        (Fault(FaultKind.RATE_LIMIT, retry_after="7"), 1, "7"),
        (Fault(FaultKind.RATE_LIMIT), 1, "1"),
        (Fault(FaultKind.SERVICE_UNAVAILABLE, retry_after="3"), 4, "3"),
        (Fault(FaultKind.SERVER_ERROR), 4, "1"),
    ],
    ids=["rate-limited", "rate-limited-no-header", "exhausted-503", "exhausted-500"],
)
async def test_unavailable_twilio_maps_to_503_with_retry_after(
    fake: FakeTwilio, fault: Fault, attempts: int, retry_after: str
) -> None:
    """RateLimitError and RetryExhaustedError answer 503 with Retry-After (Twilio's, or 1)."""
    fake.faults.queue(fault, count=attempts)
    quick = RetryPolicy(
        max_attempts=attempts, initial_backoff=0.001, max_backoff=0.01, max_retry_after=0.05
    )
    app = create_app(client_for(fake, retry=quick))
    async with served(app) as session:
        async with session.get(f"/conferences/{sids(fake)[0]}") as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == retry_after
        assert fake.faults.pending == 0  # every attempt was made, and failed
        async with session.get(f"/conferences/{sids(fake)[0]}") as response:
            assert response.status == 200


async def test_other_twilio_failures_map_to_502(fake: FakeTwilio) -> None:
    """A Twilio error that is neither the caller's nor transient (bad credentials) is a 502."""

    def wrong_token() -> InsightsClient:
        return InsightsClient(
            fake.account_sid, "not-the-token", insights_base_url=fake.insights_base_url
        )

    app = create_app(wrong_token)
    async with served(app) as session, session.get(f"/conferences/{sids(fake)[0]}") as response:
        assert response.status == 502
        assert "not-the-token" not in await response.text()


async def test_listing_streams_ndjson_page_by_page() -> None:
    """/conferences streams every matching summary as one JSON line, over several pages."""
    async with FakeTwilio(conferences=320, seed=5) as fake:
        make = client_for(fake)
        async with make() as direct:
            expected = [
                conference.to_dict()
                async for conference in direct.conferences.list(status="completed", limit=230)
            ]
        async with served(create_app(make)) as session:
            fake.reset_stats()
            async with session.get("/conferences?status=completed&limit=230") as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "application/x-ndjson"
                lines = [json.loads(line) async for line in response.content]
        assert lines == expected
        assert len(expected) == 230
        assert len(fake.requests) == 3  # pages of 100
        assert all(request.query["Status"] == ["completed"] for request in fake.requests)


async def test_failure_after_the_first_page_cuts_the_stream() -> None:
    """A listing that fails mid-stream never ends cleanly: the caller sees a broken body."""
    async with FakeTwilio(conferences=250, seed=5) as fake:

        def fail_later_pages(event: ClientEvent) -> None:
            if isinstance(event, ResponseReceived) and event.status == 200:
                fake.faults.queue(FaultKind.SERVER_ERROR, count=RETRY.max_attempts)

        app = create_app(client_for(fake, retry=RETRY, hooks=[fail_later_pages]))
        async with served(app) as session:
            async with session.get("/conferences?limit=250") as response:
                assert response.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()
            assert client_of(app).stats().in_flight == 0


async def test_startup_and_shutdown_leave_nothing_behind(fake: FakeTwilio) -> None:
    """The client opens with the lifespan and closes with it: nothing left, no warning."""
    app = create_app(client_for(fake))
    async with served(app) as session:
        client = client_of(app)
        assert not client.closed
        async with session.get(f"/conferences/{sids(fake)[0]}") as response:
            assert response.status == 200
    assert client.closed  # served() then checks for leftover tasks and ResourceWarnings
