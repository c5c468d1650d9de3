"""The client's hooks: an event for each step of each attempt, and a failing hook is harmless."""

from __future__ import annotations

from tests.helpers import ClientFactory
from twilio_conf_insights import (
    ClientEvent,
    ResponseReceived,
    RetryPolicy,
    RetryScheduled,
    ThrottleChanged,
    ThrottlePolicy,
)
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


async def test_events_describe_every_attempt(fake: FakeTwilio, make_client: ClientFactory) -> None:
    """Hooks see every step in order: sent, received, throttled, retry scheduled, sent, received."""
    events: list[ClientEvent] = []
    # A backoff far below the Retry-After, so the wait is exactly what the server asked.
    client = make_client(
        hooks=[events.append], retry=RetryPolicy(initial_backoff=0.001, throttled_backoff=0.001)
    )
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="0.01"), count=1)
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "RequestSent",
        "ResponseReceived",
        "ThrottleChanged",
        "RetryScheduled",
        "RequestSent",
        "ResponseReceived",
    ]
    first, second = (e for e in events if isinstance(e, ResponseReceived))
    assert (first.status, first.attempt, second.status, second.attempt) == (429, 1, 200, 2)
    retry = next(e for e in events if isinstance(e, RetryScheduled))
    assert retry.wait == 0.01
    assert "429" in retry.cause
    throttle = next(e for e in events if isinstance(e, ThrottleChanged))
    # A 429 at level 1 would say "one is too many": one throttle at most halves the start.
    assert throttle.stats.limit == throttle.stats.ceiling == ThrottlePolicy().initial_limit // 2
    assert client.stats().throttle_events == 1


async def test_a_failing_hook_never_breaks_the_client(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """An exception inside a hook does not fail the request."""

    def broken(_: ClientEvent) -> None:
        raise RuntimeError("observer bug")

    client = make_client(hooks=[broken])
    summary = await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert summary.conference_sid == fake.data.conferences[0]["conference_sid"]
