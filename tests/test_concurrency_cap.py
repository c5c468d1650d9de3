"""The fake's per-account concurrency cap, and clients finding it, over loopback HTTP.

Requests are held in flight by stalls the test releases itself (``stall_seconds=math.inf``
and :meth:`FakeTwilio.release_stalls`), never by a stall of some length that a loaded
machine might outlast.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import statistics
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.servers import RedisServer
from twilio_conf_insights import InsightsClient, ResponseReceived, RetryPolicy, ThrottleChanged
from twilio_conf_insights.distributed import SharedBudget
from twilio_conf_insights.testing import ConcurrencyCap, FakeTwilio, Fault, FaultKind

from .helpers import API_KEY, API_SECRET, PATIENCE, EventLog, auth_for, client_for, wait_until

#: Holds a request until the test calls ``fake.release_stalls()``.
HOLD = Fault(FaultKind.STALL, stall_seconds=math.inf)


class _Raw:
    """GETs of one conference summary with chosen credentials, kept in flight as tasks."""

    def __init__(self, fake: FakeTwilio, http: aiohttp.ClientSession) -> None:
        self._url = f"{fake.base_url}/v1/Conferences/{fake.data.conferences[0]['conference_sid']}"
        self._http = http
        self._headers = auth_for(fake)

    async def get(self, headers: dict[str, str] | None = None) -> tuple[int, str | None, Any]:
        """The status, the Retry-After header and the JSON body."""
        sent = self._headers if headers is None else headers
        async with self._http.get(self._url, headers=sent) as response:
            return response.status, response.headers.get("Retry-After"), await response.json()

    def hold(self, fake: FakeTwilio, count: int) -> list[asyncio.Task[tuple[int, str | None, Any]]]:
        """Send ``count`` requests that the fake holds until ``release_stalls()``."""
        fake.faults.queue(HOLD, count=count)
        return [asyncio.create_task(self.get()) for _ in range(count)]


@contextlib.asynccontextmanager
async def _raw(fake: FakeTwilio) -> AsyncIterator[_Raw]:
    async with aiohttp.ClientSession() as http:
        yield _Raw(fake, http)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_cap_rejects_nonsense(bad: object) -> None:
    """ConcurrencyCap needs an integer >= 1."""
    with pytest.raises(ValueError, match="limit"):
        ConcurrencyCap(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("retry_after", [None, "3"])
async def test_fake_answers_20429_above_the_cap(fake: FakeTwilio, retry_after: str | None) -> None:
    """Above the cap the fake answers 429 / 20429 (Retry-After as configured), not counted."""
    fake.concurrency_cap = ConcurrencyCap(2, retry_after=retry_after)
    async with _raw(fake) as raw:
        held = raw.hold(fake, 2)
        await wait_until(lambda: fake.stalled == 2, "two requests are held")
        status, header, body = await raw.get()
        assert (status, header, body["code"]) == (429, retry_after, 20429)
        assert fake.cap_rejections == 1
        assert fake.release_stalls() == 2
        assert [result[0] for result in await asyncio.gather(*held)] == [200, 200]
        assert (await raw.get())[0] == 200
    assert fake.cap_admissions == 3
    assert fake.requests[2].status == 429


async def test_the_cap_counts_the_account_not_the_credential() -> None:
    """An API key counts against its account; a request failing auth holds no slot."""
    async with (
        FakeTwilio(conferences=3, api_key=API_KEY, api_secret=API_SECRET) as fake,
        _raw(fake) as raw,
    ):
        fake.concurrency_cap = ConcurrencyCap(2)
        held = raw.hold(fake, 2)
        await wait_until(lambda: fake.stalled == 2, "two requests are held")
        key = {"Authorization": aiohttp.encode_basic_auth(API_KEY, API_SECRET)}
        assert (await raw.get(key))[0] == 429
        wrong = {"Authorization": aiohttp.encode_basic_auth(fake.account_sid, "wrong")}
        assert (await raw.get(wrong))[0] == 401
        assert (fake.cap_admissions, fake.cap_rejections) == (2, 1)
        fake.release_stalls()
        await asyncio.gather(*held)
        assert (await raw.get(key))[0] == 200  # answered requests gave their slots back
        fake.reset_stats()
        assert (fake.cap_admissions, fake.cap_rejections) == (0, 0)


async def test_the_cap_can_change_while_requests_are_in_flight(fake: FakeTwilio) -> None:
    """Lowering the cap mid-run rejects the next request; raising it admits more at once."""
    fake.concurrency_cap = ConcurrencyCap(3)
    async with _raw(fake) as raw:
        held = raw.hold(fake, 2)
        await wait_until(lambda: fake.stalled == 2, "two requests are held")
        fake.concurrency_cap = ConcurrencyCap(2)
        assert (await raw.get())[0] == 429
        fake.concurrency_cap = ConcurrencyCap(4)
        more = raw.hold(fake, 2)
        await wait_until(lambda: fake.stalled == 4, "four requests are held")
        assert (await raw.get())[0] == 429  # 4 in flight: the new cap, reached
        fake.release_stalls()
        assert [r[0] for r in await asyncio.gather(*held, *more)] == [200] * 4
    assert (fake.cap_admissions, fake.cap_rejections) == (4, 2)


async def test_client_over_the_cap_finds_it_and_loses_nothing() -> None:
    """max_concurrency=64 against a cap of 4: every report arrives, the limit settles at 4-5."""
    async with FakeTwilio(conferences=300, participants_per_conference=(1, 3), seed=11) as fake:
        fake.concurrency_cap = ConcurrencyCap(4)
        fake.latency = 0.01
        statuses: list[int | None] = []
        limits: list[int] = []

        def hook(event: object) -> None:
            if isinstance(event, ResponseReceived):
                statuses.append(event.status)
            elif isinstance(event, ThrottleChanged):
                limits.append(event.stats.limit)

        async with client_for(
            fake,
            max_concurrency=64,
            # Two attempts only: a 429 must not use them up.
            retry=RetryPolicy(max_attempts=2, throttled_backoff=0.001),
            hooks=[hook],
        ) as client:
            async with contextlib.aclosing(client.conference_reports(page_size=10)) as reports:
                errors = [report.error async for report in reports]
            stats = client.stats()
    assert errors == [None] * len(fake.data.conferences)
    assert fake.cap_rejections == statuses.count(429) >= 1
    # Found: the safe level learned is the cap, and after the first few changes the limit
    # only moves between the cap and one probe above it.
    assert stats.ceiling == 4
    assert set(limits[-6:]) <= {4, 5}, limits
    assert 4 <= stats.limit <= 5
    # Holding at the cap costs a 429 per probe, not a stream of them (measured: 2.4%).
    assert statuses.count(429) <= 0.05 * len(statuses), (statuses.count(429), len(statuses))


async def _fetch_forever(client: InsightsClient, fake: FakeTwilio) -> None:
    sids = [conference["conference_sid"] for conference in fake.data.conferences]
    async with contextlib.aclosing(client.conferences.fetch_many(itertools.cycle(sids))) as results:
        async for result in results:
            assert result.ok, result.error


async def test_capacity_given_back_is_taken_up() -> None:
    """A client held at a cap of 4 grows to the new cap of 12 once it is raised mid-run.

    How soon is a timing claim: ``benchmarks/given_back.py`` measures it.
    """
    async with FakeTwilio(conferences=50, participants_per_conference=1, seed=11) as fake:
        fake.concurrency_cap = ConcurrencyCap(4)
        fake.latency = 0.01
        events = EventLog()
        async with client_for(fake, max_concurrency=32, hooks=[events]) as client:
            running = asyncio.create_task(_fetch_forever(client, fake))
            try:
                await events.wait_for(ThrottleChanged, 1)
                await wait_until(lambda: client.stats().ceiling == 4, "the client found the cap")
                seen = len(events.events)
                fake.concurrency_cap = ConcurrencyCap(12)
                await wait_until(lambda: client.stats().limit >= 12, "the limit reached 12")
                raised = [e for e in events.events[seen:] if isinstance(e, ThrottleChanged)]
                assert any(e.reason == "increase" for e in raised)
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running


async def test_clients_sharing_a_budget_converge_to_equal_shares(redis_server: RedisServer) -> None:
    """Three clients of one account, one SharedBudget each in one Redis, against a cap of 12:
    each holds a third of the fleet's leases, give or take one.

    Why the bound holds: every client always has requests waiting (64 allowed, 12 at the
    cap), so every sample is taken while the others wait; the budget then grants no member
    more than ``ceil(limit / 3)`` and refuses none below ``floor(limit / 3)`` for long (the
    remainder goes round, the least-served first). Averaged over 1,000 answers, each
    client's leases lie within one of the fleet's mean over three.
    """
    clients = 3
    async with FakeTwilio(conferences=50, participants_per_conference=1, seed=11) as fake:
        fake.concurrency_cap = ConcurrencyCap(12)
        fake.latency = 0.05
        samples: list[list[int]] = [[] for _ in range(clients)]
        async with contextlib.AsyncExitStack() as stack:
            running = []
            for _ in range(clients):
                budget = await stack.enter_async_context(
                    SharedBudget(redis_server.url, account_sid=fake.account_sid, max_concurrency=64)
                )
                client = await stack.enter_async_context(client_for(fake, limiter=budget))
                running.append((budget, asyncio.create_task(_fetch_forever(client, fake))))
            try:
                # Let them find the cap together, then sample each one's leases per answered
                # request until 1,000 more were answered.
                await wait_until(lambda: fake.cap_admissions >= 500, "500 answers")
                assert all(budget.joined for budget, _ in running)
                target = fake.cap_admissions + 1000
                async with asyncio.timeout(PATIENCE):
                    while fake.cap_admissions < target:
                        await fake.wait_for_requests(1)
                        for share, (budget, _) in zip(samples, running, strict=True):
                            share.append(budget.stats().in_flight)
            finally:
                for _, task in running:
                    task.cancel()
                await asyncio.gather(*(task for _, task in running), return_exceptions=True)
    means = [statistics.fmean(share) for share in samples]
    fair = sum(means) / clients
    assert all(abs(mean - fair) <= 1 for mean in means), means
    # Finding the cap together costs a few 429s, not one stream per client (measured: 1%).
    assert fake.cap_rejections <= 0.05 * fake.cap_admissions
