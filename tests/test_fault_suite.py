"""Bulk runs over real loopback HTTP with mixed faults: every record exactly once.

The figures in the README's Reliability section come from this module; run
``python -m pytest tests/test_fault_suite.py -s`` to print them. Retries run in the
``fast_retries`` test mode (see conftest) unless a test is about the waits themselves.

Only the tests with stalls set a short client ``timeout``, and then one a normal answer
never needs even on a loaded machine: a timed-out normal answer would be an unplanned fault.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from twilio_conf_insights import (
    ClientEvent,
    ConferenceSummary,
    FetchResult,
    InsightsClient,
    RetryExhaustedError,
    RetryPolicy,
    RetryScheduled,
    ThrottleChanged,
)
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

from .helpers import PATIENCE, EventLog, client_for

CONFERENCES = 400
PARTICIPANTS = 5  # 400 summaries + 2,000 participant summaries = 2,400 records
# Enough attempts that 50% faults never exhaust the budget (0.5**14 per request).
PATIENT = RetryPolicy(max_attempts=14)
ALL_KINDS = list(FaultKind)  # stalls included: they exceed the client timeout
#: The client timeout when stalls are injected, and how long a stall lasts: far apart, so
#: a stall always times out and a normal answer never does.
STALL_TIMEOUT = 0.5
STALL_SECONDS = 30.0


@pytest.fixture
async def big_fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(
        conferences=CONFERENCES, participants_per_conference=PARTICIPANTS, seed=21
    ) as fake:
        yield fake


def _client(
    fake: FakeTwilio,
    events: list[ClientEvent],
    retry: RetryPolicy = PATIENT,
    timeout: float = 30.0,
) -> InsightsClient:
    return client_for(fake, max_concurrency=16, timeout=timeout, retry=retry, hooks=[events.append])


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
async def test_reports_arrive_exactly_once_under_mixed_faults(
    big_fake: FakeTwilio, rate: float
) -> None:
    """Under 5-50% faults of every kind, every conference and participant arrives exactly once."""
    events: list[ClientEvent] = []
    big_fake.faults.random(
        rate=rate, kinds=ALL_KINDS, seed=int(rate * 100), stall_seconds=STALL_SECONDS
    )
    started = time.monotonic()
    async with _client(big_fake, events, timeout=STALL_TIMEOUT) as client:
        reports = [r async for r in client.conference_reports(page_size=25, concurrency=16)]
    injected = sum(big_fake.faults.injected.values())
    kinds = {k for k, n in big_fake.faults.injected.items() if n}
    big_fake.faults.clear()

    conference_sids = [r.summary.conference_sid for r in reports]
    assert Counter(conference_sids) == Counter(
        c["conference_sid"] for c in big_fake.data.conferences
    )
    participants = [p.participant_sid for r in reports for p in r.participants]
    expected = [
        p["participant_sid"] for ps in big_fake.data.participant_summaries.values() for p in ps
    ]
    assert len(participants) == len(set(participants)) == len(expected)  # none lost, none twice
    assert set(participants) == set(expected)
    for report in reports:
        assert report.ok
        sid = report.summary.conference_sid
        assert sid is not None
        assert [p.to_dict() for p in report.participants] == big_fake.data.participant_summaries[
            sid
        ]
    retries = sum(isinstance(e, RetryScheduled) for e in events)
    minimum = -(-CONFERENCES // 25) + CONFERENCES
    print(
        f"\nfault rate {rate:.0%}: records {len(reports) + len(participants)},"
        f" faults injected {injected}"
        f" ({len(kinds)} kinds), requests {len(big_fake.requests)} (minimum {minimum}),"
        f" retries {retries}, lost 0, duplicated 0, {time.monotonic() - started:.1f}s"
    )
    assert injected > rate * minimum * 0.5
    if rate >= 0.2:
        assert kinds == set(ALL_KINDS)


@pytest.fixture
async def many_fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(conferences=2000, participants_per_conference=1, seed=22) as fake:
        yield fake


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
async def test_fetch_many_errors_only_where_the_budget_is_exhausted(
    many_fake: FakeTwilio, rate: float
) -> None:
    """fetch_many over 2,000 SIDs: an item fails only when all three of its attempts met a fault."""
    events: list[ClientEvent] = []
    budget = RetryPolicy(max_attempts=3)
    # No stalls, and no short timeout: every failed attempt is an injected fault, never a
    # normal answer that a loaded machine served late.
    kinds = [k for k in FaultKind if k is not FaultKind.STALL]
    many_fake.faults.random(rate=rate, kinds=kinds, seed=7 + int(rate * 10))
    sids = [c["conference_sid"] for c in many_fake.data.conferences]
    async with _client(many_fake, events, retry=budget) as client:
        results = [r async for r in client.conferences.fetch_many(sids, concurrency=16)]
    many_fake.faults.clear()

    assert Counter(r.sid for r in results) == Counter(sids)
    served = {c["conference_sid"]: c for c in many_fake.data.conferences}
    attempts_by_path = Counter(req.path for req in many_fake.requests)
    faulted_by_path = Counter(req.path for req in many_fake.requests if req.fault is not None)
    throttled_by_path = Counter(
        req.path for req in many_fake.requests if req.fault is FaultKind.RATE_LIMIT
    )
    failures = 0
    for result in results:
        path = f"/v1/Conferences/{result.sid}"
        if result.ok:
            assert result.value is not None
            assert result.value.to_dict() == served[result.sid]
            continue
        failures += 1
        # A typed error only where every attempt of the budget failed; 429s (never
        # processed by Twilio) are not counted against it.
        assert isinstance(result.error, RetryExhaustedError)
        assert result.error.attempts >= 3
        assert faulted_by_path[path] - throttled_by_path[path] >= 3
        assert faulted_by_path[path] == attempts_by_path[path]
    print(
        f"\nfetch_many at {rate:.0%}: {len(results)} records, {len(many_fake.requests)} requests,"
        f" {failures} exhausted after 3 attempts other than 429, lost 0, duplicated 0"
    )


@pytest.mark.real_retry_waits
async def test_a_429_storm_costs_at_most_1_2x_the_minimum_requests(big_fake: FakeTwilio) -> None:
    """A 429 storm lasting until the client pauses as a whole keeps requests within 1.2x.

    The storm ends when the test sees the client-wide pause that ``Retry-After`` asks for,
    not after some wall time: a client that kept sending instead would never end it, and
    the test would fail at its deadline.
    """
    events = EventLog()
    sids = [c["conference_sid"] for c in big_fake.data.conferences]
    storm = RetryPolicy(max_attempts=10, initial_backoff=0.05, max_backoff=1.0, max_retry_after=2.0)
    async with client_for(big_fake, max_concurrency=32, retry=storm, hooks=[events]) as client:
        big_fake.faults.throttle_for(math.inf, retry_after="1")

        async def fetch_all() -> list[FetchResult[ConferenceSummary]]:
            return [r async for r in client.conferences.fetch_many(sids, concurrency=32)]

        running = asyncio.create_task(fetch_all())
        await events.wait_until(
            lambda: any(e.stats.paused_for > 0 for e in events.of(ThrottleChanged)),
            "the client paused as a whole",
        )
        throttled = big_fake.faults.injected[FaultKind.RATE_LIMIT]
        big_fake.faults.throttle_for(0)  # the storm is over
        async with asyncio.timeout(PATIENCE):
            results = await running
        stats = client.stats()
    assert all(r.ok for r in results)
    big_fake.faults.clear()
    total = len(big_fake.requests)
    print(f"\n429 storm: {total} requests for {len(sids)} records ({throttled} throttled)")
    assert total <= 1.2 * len(sids)
    assert stats.throttle_events >= 1


@pytest.mark.real_retry_waits
async def test_throttling_slows_the_whole_client(big_fake: FakeTwilio) -> None:
    """429s to some calls lower the concurrency limit that every call of the client shares."""
    events = EventLog()
    patient = RetryPolicy(max_attempts=10, initial_backoff=0.05, max_backoff=0.5)
    sids = [c["conference_sid"] for c in big_fake.data.conferences]
    async with client_for(big_fake, max_concurrency=16, retry=patient, hooks=[events]) as client:
        await asyncio.gather(*(client.conferences.fetch(s) for s in sids[:100]))
        before = client.stats().limit
        assert before > 8  # grown from where it started: room to come down
        seen = len(events.events)
        # Only the participant listings are throttled; the limit they lower is the client's.
        big_fake.faults.queue(
            Fault(FaultKind.RATE_LIMIT, retry_after="0"), count=4, path_contains="/Participants"
        )
        await asyncio.gather(
            *(client.conferences.fetch(s) for s in sids[100:200]),
            *(client.participant_summaries.list(s).collect() for s in sids[:8]),
        )
    decreases = [
        e for e in events.events[seen:] if isinstance(e, ThrottleChanged) and e.reason == "throttle"
    ]
    assert decreases, "no 429 lowered the limit"
    assert min(e.stats.limit for e in decreases) < before
