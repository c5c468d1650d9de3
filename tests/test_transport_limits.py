"""A call's limits: the concurrency cap, the per-attempt timeout and the total time budget."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import ClientFactory, EventLog, wait_until
from twilio_conf_insights import RetryExhaustedError, RetryPolicy, RetryScheduled, TransportError
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


async def test_concurrency_cap_is_never_exceeded_at_the_server(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """The server never sees more than max_concurrency requests of one client at once."""
    fake.latency = 0.05
    client = make_client(max_concurrency=4)
    sids = [c["conference_sid"] for c in fake.data.conferences]
    await asyncio.gather(*(client.conferences.fetch(s) for s in sids))
    await asyncio.gather(*(client.participant_summaries.list(s).collect() for s in sids[:10]))
    assert fake.max_in_flight == 4


async def test_timeout_per_attempt(fake: FakeTwilio, make_client: ClientFactory) -> None:
    """An attempt slower than timeout fails with TransportError(kind="timeout")."""
    client = make_client(timeout=0.1, retry=RetryPolicy.disabled())
    fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=1.0), count=1)
    with pytest.raises(TransportError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert caught.value.kind == "timeout"


@pytest.mark.real_retry_waits
async def test_total_time_budget_bounds_a_call(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """The time budget, not the attempt count, ends a call: every wait taken fit in it."""
    # A budget of a second: many attempts on an idle machine, several on a loaded one (where
    # one attempt may take a good part of a second), never the 1,000 of max_attempts, whose
    # waits alone would average 25 s.
    budget = RetryPolicy(max_attempts=1000, max_elapsed=1.0, initial_backoff=0.05, max_backoff=0.05)
    log = EventLog()
    client = make_client(retry=budget, hooks=[log])
    fake.faults.queue(Fault(FaultKind.SERVER_ERROR), count=2000)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    waits = [event.wait for event in log.of(RetryScheduled)]
    assert 1 < caught.value.attempts < 1000
    assert caught.value.attempts == len(fake.requests) == len(waits) + 1
    assert sum(waits) < budget.max_elapsed  # no wait was started that the budget could not hold
    # It gave up only when the next wait (at most max_backoff) would have crossed the budget;
    # a slower machine only makes the elapsed time longer.
    assert caught.value.elapsed >= budget.max_elapsed - budget.max_backoff


async def test_budget_counts_from_sending_not_from_queueing(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    # One slot, held by a slow request: the second call queues longer than its whole budget,
    # yet still gets its retries once it is sent.
    """Time spent queueing for a slot does not eat into a call's retry budget."""
    fake.latency = 1.5
    client = make_client(
        max_concurrency=1,
        retry=RetryPolicy(max_attempts=3, max_elapsed=1.0, initial_backoff=0.001),
    )
    sid = fake.data.conferences[0]["conference_sid"]
    slow = asyncio.ensure_future(client.conferences.fetch(sid))
    await wait_until(lambda: fake.in_flight == 1, "the slow request holds the only slot")
    fake.latency = 0.0
    fake.faults.queue(Fault(FaultKind.SERVER_ERROR), count=1)
    summary = await client.conferences.fetch(sid)
    assert summary.conference_sid == sid
    await slow
