"""The web-service recipes of both frameworks (aiohttp.web, FastAPI), served for real on
loopback against FakeTwilio: every test here runs once per framework."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.web_support import (
    RECIPES,
    RETRY,
    QueuePeak,
    Recipe,
    client_for,
    hang_up_during_twilio_call,
    served,
    until,
)
from twilio_conf_insights import ClientEvent, InsightsClient, ResponseReceived, RetryPolicy
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

MISSING_SID = "CF" + "0" * 32

pytestmark = pytest.mark.parametrize("recipe", RECIPES, ids=str)


def sids(fake: FakeTwilio) -> list[str]:
    return [conference["conference_sid"] for conference in fake.data.conferences]


async def test_400_concurrent_requests_answered_within_max_concurrency(
    recipe: Recipe, fake: FakeTwilio
) -> None:
    """400 simultaneous callers all get their summary; Twilio never sees more than the cap."""
    fake.latency = 0.01
    peak = QueuePeak()
    app = recipe.create_app(client_for(fake, max_concurrency=8, hooks=[peak]), deadline=120.0)
    wanted = [sids(fake)[i % len(sids(fake))] for i in range(400)]
    async with served(app) as session:
        client = recipe.client_of(app)
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


async def test_hang_up_cancels_the_twilio_request(recipe: Recipe, fake: FakeTwilio) -> None:
    """A caller that disconnects cancels the Twilio request its handler waits for.

    aiohttp does it with handler_cancellation; FastAPI's endpoint through unless_hung_up().
    """
    fake.latency = 600.0
    # No deadline, attempt timeout or retry may end it: only the hang-up can.
    app = recipe.create_app(client_for(fake, timeout=600.0), deadline=600.0)
    async with served(app) as session:
        fake.reset_stats()
        await hang_up_during_twilio_call(session, f"/conferences/{sids(fake)[0]}", fake)
        assert recipe.client_of(app).stats().in_flight == 0
        assert [request.status for request in fake.requests] == [0]  # never answered


async def test_deadline_answers_504_without_disturbing_other_requests(
    recipe: Recipe, fake: FakeTwilio
) -> None:
    """A stalled Twilio call becomes a 504 at the deadline; others, and the next try, succeed."""
    slow, other = sids(fake)[:2]
    fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=600.0), path_contains=slow)
    app = recipe.create_app(client_for(fake, retry=RETRY), deadline=3.0)
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
        assert recipe.client_of(app).stats().in_flight == 0


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/conferences/{MISSING_SID}", 404),
        ("/conferences/not-a-sid", 400),
        ("/conferences?status=bogus", 400),
        ("/conferences?limit=-1", 400),
        ("/conferences?limit=many", 400),
    ],
)
async def test_caller_errors_map_to_4xx(
    recipe: Recipe, fake: FakeTwilio, path: str, status: int
) -> None:
    """NotFoundError answers 404, InvalidArgumentError (and a bad query) 400."""
    if recipe.name == "fastapi" and path.endswith("many"):
        status = 422  # FastAPI's own validation of the int parameter
    app = recipe.create_app(client_for(fake))
    async with served(app) as session, session.get(path) as response:
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
    recipe: Recipe, fake: FakeTwilio, fault: Fault, attempts: int, retry_after: str
) -> None:
    """RateLimitError and RetryExhaustedError answer 503 with Retry-After (Twilio's, or 1)."""
    fake.faults.queue(fault, count=attempts)
    quick = RetryPolicy(
        max_attempts=attempts, initial_backoff=0.001, max_backoff=0.01, max_retry_after=0.05
    )
    app = recipe.create_app(client_for(fake, retry=quick))
    async with served(app) as session:
        async with session.get(f"/conferences/{sids(fake)[0]}") as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == retry_after
        assert fake.faults.pending == 0  # every attempt was made, and failed
        async with session.get(f"/conferences/{sids(fake)[0]}") as response:
            assert response.status == 200


async def test_other_twilio_failures_map_to_502(recipe: Recipe, fake: FakeTwilio) -> None:
    """A Twilio error that is neither the caller's nor transient (bad credentials) is a 502."""

    def wrong_token() -> InsightsClient:
        return InsightsClient(
            fake.account_sid, "not-the-token", insights_base_url=fake.insights_base_url
        )

    app = recipe.create_app(wrong_token)
    async with served(app) as session, session.get(f"/conferences/{sids(fake)[0]}") as response:
        assert response.status == 502
        assert "not-the-token" not in await response.text()


async def test_listing_streams_ndjson_page_by_page(recipe: Recipe) -> None:
    """/conferences streams every matching summary as one JSON line, over several pages."""
    async with FakeTwilio(conferences=320, seed=5) as fake:
        make = client_for(fake)
        async with make() as direct:
            expected = [
                conference.to_dict()
                async for conference in direct.conferences.list(status="completed", limit=230)
            ]
        async with served(recipe.create_app(make)) as session:
            fake.reset_stats()
            async with session.get("/conferences?status=completed&limit=230") as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "application/x-ndjson"
                lines = [json.loads(line) async for line in response.content]
        assert lines == expected
        assert len(expected) == 230
        assert len(fake.requests) == 3  # pages of 100
        assert all(request.query["Status"] == ["completed"] for request in fake.requests)


async def test_failure_after_the_first_page_cuts_the_stream(recipe: Recipe) -> None:
    """A listing that fails mid-stream never ends cleanly: the caller sees a broken body."""
    async with FakeTwilio(conferences=250, seed=5) as fake:

        def fail_later_pages(event: ClientEvent) -> None:
            if isinstance(event, ResponseReceived) and event.status == 200:
                fake.faults.queue(FaultKind.SERVER_ERROR, count=RETRY.max_attempts)

        app = recipe.create_app(client_for(fake, retry=RETRY, hooks=[fail_later_pages]))
        async with served(app) as session:
            async with session.get("/conferences?limit=250") as response:
                assert response.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()
            assert recipe.client_of(app).stats().in_flight == 0


async def test_startup_and_shutdown_leave_nothing_behind(recipe: Recipe, fake: FakeTwilio) -> None:
    """The client opens with the app and closes with it: no session, task or warning left."""
    app = recipe.create_app(client_for(fake))
    async with served(app) as session:
        client = recipe.client_of(app)
        assert not client.closed
        async with session.get(f"/conferences/{sids(fake)[0]}") as response:
            assert response.status == 200
    assert client.closed  # served() then checks for leftover tasks and ResourceWarnings
