"""The public retry test mode, ``twilio_conf_insights.testing.fast_retries``."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import PATIENCE, ClientFactory, EventLog
from twilio_conf_insights import (
    InsightsClient,
    InvalidArgumentError,
    RetryExhaustedError,
    RetryPolicy,
    RetryScheduled,
    ServerError,
)
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind, fast_retries

#: Waits no test could sit through: if one were slept, the test would hit PATIENCE and fail.
HOUR = 3600.0


async def test_waits_are_decided_and_reported_but_not_slept(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """In test mode an hour-long backoff and Retry-After cost nothing, yet are reported and kept.

    The limiter still records the hour-long client-wide pause the lone 429 asked for (as in
    production); only the sleeping through it is skipped, so a later call goes at once.
    """
    log = EventLog()
    client = make_client(
        hooks=[log],
        retry=RetryPolicy(
            initial_backoff=HOUR, max_backoff=HOUR, max_retry_after=HOUR, max_elapsed=3 * HOUR
        ),
    )
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after=str(int(HOUR))))
    fake.faults.queue(FaultKind.SERVER_ERROR)
    with fast_retries():
        async with asyncio.timeout(PATIENCE):
            summary = await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert summary.to_dict() == fake.data.conferences[0]
    waits = [event.wait for event in log.of(RetryScheduled)]
    assert waits[0] == HOUR  # the server's Retry-After, as the policy decided it
    assert 0 <= waits[1] <= HOUR
    assert client.stats().paused_for > HOUR - PATIENCE  # the pause is the limiter's, as ever
    with fast_retries():
        async with asyncio.timeout(PATIENCE):
            await client.conferences.fetch(fake.data.conferences[1]["conference_sid"])
    assert len(fake.requests) == 4


@pytest.mark.parametrize(("cap", "policy_attempts", "made"), [(1, 5, 1), (2, 5, 2), (9, 3, 3)])
async def test_attempts_caps_every_call_but_never_raises_the_policy(
    fake: FakeTwilio, make_client: ClientFactory, cap: int, policy_attempts: int, made: int
) -> None:
    """attempts=N makes at most N attempts per call, and never more than the policy allows."""
    client = make_client(retry=RetryPolicy(max_attempts=policy_attempts))
    fake.faults.queue(FaultKind.SERVER_ERROR, count=100)
    with fast_retries(attempts=cap), pytest.raises((ServerError, RetryExhaustedError)) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert len(fake.requests) == made
    if made == 1:
        assert isinstance(caught.value, ServerError)  # no retry: the error as it came
    else:
        assert isinstance(caught.value, RetryExhaustedError)
        assert caught.value.attempts == made


async def test_a_nested_block_replaces_the_settings_until_it_ends(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Leaving a nested fast_retries block restores the settings of the enclosing one."""
    sid = fake.data.conferences[0]["conference_sid"]
    with fast_retries():
        with fast_retries(attempts=1):
            fake.faults.queue(FaultKind.SERVER_ERROR)
            with pytest.raises(ServerError):
                await client.conferences.fetch(sid)
        fake.faults.queue(FaultKind.SERVER_ERROR)
        assert (await client.conferences.fetch(sid)).conference_sid == sid
    assert [r.status for r in fake.requests] == [500, 500, 200]


@pytest.mark.real_retry_waits
async def test_outside_the_mode_the_waits_are_slept(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Without fast_retries a Retry-After is really waited for before the next attempt."""
    client = make_client(retry=RetryPolicy(initial_backoff=0.001))
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="0.2"))
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    first, second = (r.received_at for r in fake.requests)
    assert second - first >= 0.2  # a lower bound: a busy machine only waits longer


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_attempts_must_be_a_positive_integer(bad: object) -> None:
    """fast_retries(attempts=...) refuses anything but a positive integer, before any call."""
    with (
        pytest.raises(InvalidArgumentError, match="attempts"),
        fast_retries(attempts=bad),  # type: ignore[arg-type]
    ):
        pass
