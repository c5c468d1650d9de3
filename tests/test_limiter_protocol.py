"""The limiter as a protocol: a client takes any Limiter, and reports each outcome to it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Any

import pytest

from tests.helpers import ClientFactory
from twilio_conf_insights import (
    AdaptiveLimiter,
    ConfigurationError,
    InsightsClient,
    LimiterStats,
    Outcome,
    SlotOutcome,
    Throttled,
    ThrottlePolicy,
)
from twilio_conf_insights._limiter import LimiterListener
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


class LeasingLimiter:
    """A limiter whose slots are leases returned asynchronously (as a shared store's would)."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self.in_flight = 0
        self.outcomes: list[SlotOutcome] = []
        self.returned = 0
        self.fast_grants = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> Lease | None:
        if self.in_flight >= self.max_concurrency or self._waiters:
            return None
        self.fast_grants += 1
        self.in_flight += 1
        return Lease(self)

    async def acquire(self) -> Lease:
        if self.in_flight < self.max_concurrency and not self._waiters:
            self.in_flight += 1
        else:  # the lease given back is handed to us, in_flight unchanged
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return Lease(self)

    def give_back(self) -> None:
        self.returned += 1
        if self._waiters:
            self._waiters.popleft().set_result(None)
        else:
            self.in_flight -= 1

    def stats(self) -> LimiterStats:
        return LimiterStats(
            limit=self.max_concurrency,
            max_concurrency=self.max_concurrency,
            in_flight=self.in_flight,
            waiting=len(self._waiters),
            throttle_events=sum(isinstance(o, Throttled) for o in self.outcomes),
            paused_for=0.0,
        )

    def add_listener(self, listener: LimiterListener) -> None:
        return None

    def remove_listener(self, listener: LimiterListener) -> None:
        return None


class Lease:
    """A slot of the LeasingLimiter, returned by a coroutine."""

    def __init__(self, limiter: LeasingLimiter) -> None:
        self._limiter = limiter

    def release(self, outcome: SlotOutcome) -> Awaitable[None]:
        self._limiter.outcomes.append(outcome)
        return self._return_lease()

    async def _return_lease(self) -> None:
        await asyncio.sleep(0)  # a round trip to the store that holds the lease
        self._limiter.give_back()


async def test_a_client_uses_the_limiter_it_is_given_and_awaits_its_releases(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """limiter=: every attempt takes a lease and returns it with its outcome, awaited."""
    fake.latency = 0.01
    limiter = LeasingLimiter(2)
    client = make_client(limiter=limiter)
    sids = [c["conference_sid"] for c in fake.data.conferences[:6]]
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="0.5"), count=1)
    fake.faults.queue(Fault(FaultKind.SERVICE_UNAVAILABLE), count=1)
    fake.faults.queue(FaultKind.SERVER_ERROR, count=1)
    summaries = await asyncio.gather(*(client.conferences.fetch(sid) for sid in sids))
    assert [s.conference_sid for s in summaries] == sids
    assert fake.max_in_flight <= 2
    assert limiter.returned == len(limiter.outcomes) == len(fake.requests) == 9
    assert limiter.in_flight == 0
    assert limiter.outcomes.count(Outcome.SUCCEEDED) == 6
    assert limiter.outcomes.count(Outcome.FAILED) == 1  # the 500: nothing about load
    assert Throttled(429, retry_after=0.5) in limiter.outcomes
    assert Throttled(503, retry_after=None) in limiter.outcomes
    assert 0 < limiter.fast_grants < 9  # the first ones without a coroutine, then queued
    assert client.stats() == limiter.stats()


async def test_one_adaptive_limiter_shared_by_two_clients_is_one_cap(fake: FakeTwilio) -> None:
    """Two clients given one AdaptiveLimiter never have more than its cap in flight together."""
    fake.latency = 0.02
    shared = AdaptiveLimiter(3)
    clients = [
        InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=fake.insights_base_url,
            limiter=shared,
        )
        for _ in range(2)
    ]
    sids = [c["conference_sid"] for c in fake.data.conferences[:8]]
    async with clients[0], clients[1]:
        await asyncio.gather(*(c.conferences.fetch(s) for c in clients for s in sids))
        assert clients[0].stats() == clients[1].stats()
    assert len(fake.requests) == 16
    assert fake.max_in_flight == 3


@pytest.mark.parametrize(
    "options",
    [{"max_concurrency": 4}, {"rate_limit": 2.0}, {"throttle": ThrottlePolicy()}],
    ids=["max_concurrency", "rate_limit", "throttle"],
)
def test_limiter_replaces_the_options_that_describe_one(options: dict[str, Any]) -> None:
    """max_concurrency, rate_limit or throttle next to limiter= is refused: one source."""
    with pytest.raises(ConfigurationError, match="to the limiter"):
        InsightsClient("AC" + "1" * 32, "token-token", limiter=AdaptiveLimiter(), **options)


async def test_max_concurrency_has_one_source(fake: FakeTwilio) -> None:
    """The limiter's max_concurrency is the client's: its stats and the bulk calls' width."""
    fake.latency = 0.02
    async with InsightsClient(
        fake.account_sid,
        fake.auth_token,
        insights_base_url=fake.insights_base_url,
        limiter=AdaptiveLimiter(7, throttle=ThrottlePolicy(initial_limit=7)),
    ) as client:
        sids = [c["conference_sid"] for c in fake.data.conferences[:20]]
        results = [r async for r in client.conferences.fetch_many(sids)]
        assert client.stats().max_concurrency == 7
    assert all(r.ok for r in results)
    assert fake.max_in_flight == 7
    assert InsightsClient("AC" + "1" * 32, "token-token").stats().max_concurrency == 32
    with pytest.raises(ConfigurationError, match="Limiter protocol"):
        InsightsClient("AC" + "1" * 32, "token-token", limiter=object())  # type: ignore[arg-type]
