"""The waits RetryPolicy chooses, read from RetryScheduled events of real calls.

Every call here runs in the ``fast_retries`` test mode, so dozens of retries with waits of
seconds cost no time: the policy decides each wait, the event reports it, nothing sleeps.
"""

from __future__ import annotations

import pytest

from tests.helpers import ClientFactory, EventLog
from twilio_conf_insights import RetryPolicy, RetryScheduled
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


async def _waits(
    fake: FakeTwilio, make_client: ClientFactory, policy: RetryPolicy, faults: list[Fault]
) -> list[float]:
    """The waits before each retry of one fetch that meets ``faults`` and then succeeds."""
    log = EventLog()
    client = make_client(retry=policy, hooks=[log])
    for fault in faults:
        fake.faults.queue(fault)
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    retries = log.of(RetryScheduled)
    assert [r.attempt for r in retries] == list(range(1, len(faults) + 1))
    return [r.wait for r in retries]


async def test_retry_after_zero_still_backs_off(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """ "Retry-After: 0" does not make a hot loop: the jittered backoff still applies."""
    policy = RetryPolicy(max_attempts=51, initial_backoff=1.0, max_backoff=1.0, max_elapsed=1e6)
    waits = await _waits(
        fake, make_client, policy, [Fault(FaultKind.RATE_LIMIT, retry_after="0")] * 50
    )
    assert all(0 <= w <= 1.0 for w in waits)
    assert max(waits) > 0.5


@pytest.mark.parametrize("fault", [FaultKind.SERVER_ERROR, FaultKind.MALFORMED_JSON])
async def test_full_jitter_backoff_stays_under_the_exponential_ceiling(
    fake: FakeTwilio, make_client: ClientFactory, fault: FaultKind
) -> None:
    """Wait n is full jitter under min(max_backoff, initial_backoff * 2**(n-1)), not clustered."""
    policy = RetryPolicy(max_attempts=41, initial_backoff=0.5, max_backoff=8, max_elapsed=1e6)
    capped: list[float] = []
    for _ in range(3):
        waits = await _waits(fake, make_client, policy, [Fault(fault)] * 40)
        for attempt, wait in enumerate(waits, start=1):
            assert 0 <= wait <= min(8.0, 0.5 * 2 ** (attempt - 1)), attempt
        capped += waits[4:]  # attempts 5 and later: the ceiling is max_backoff
    assert min(capped) < 8 * 0.2 and max(capped) > 8 * 0.8
