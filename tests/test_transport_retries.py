"""Which answers the client retries, how long it waits, and when it stops, over real HTTP."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.helpers import ClientFactory, serving
from twilio_conf_insights import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientEvent,
    InsightsClient,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryExhaustedError,
    RetryPolicy,
    RetryScheduled,
    ServerError,
)
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

RETRYABLE = [
    Fault(FaultKind.RATE_LIMIT),
    Fault(FaultKind.RATE_LIMIT, retry_after="0"),
    Fault(FaultKind.SERVER_ERROR),
    Fault(FaultKind.BAD_GATEWAY),
    Fault(FaultKind.SERVICE_UNAVAILABLE),
    Fault(FaultKind.GATEWAY_TIMEOUT),
    Fault(FaultKind.CONNECTION_RESET),
    Fault(FaultKind.TRUNCATED_BODY),
    Fault(FaultKind.MALFORMED_JSON),
    # Far longer than the client's timeout below, so it always trips it.
    Fault(FaultKind.STALL, stall_seconds=60),
]


@pytest.mark.parametrize("fault", RETRYABLE, ids=lambda f: f"{f.kind.name}-{f.retry_after}")
async def test_each_retryable_fault_is_retried_to_success(
    fake: FakeTwilio, make_client: ClientFactory, fault: Fault
) -> None:
    """Each retryable fault, twice in a row, is retried until the real answer comes back."""
    events: list[ClientEvent] = []
    # A timeout a normal answer never needs, even on a loaded machine: only stalls trip it.
    client = make_client(timeout=1.0, hooks=[events.append])
    conference = fake.data.conferences[0]
    fake.faults.queue(fault, count=2)
    summary = await client.conferences.fetch(conference["conference_sid"])
    assert summary.to_dict() == conference
    assert len(fake.requests) == 3
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    if fault.kind is FaultKind.CONNECTION_RESET:
        # aiohttp itself silently resends an idempotent request once when a reused
        # keep-alive connection turns out dead, so it may absorb one of the resets.
        assert [r.attempt for r in retries] in ([1], [1, 2])
    else:
        assert [r.attempt for r in retries] == [1, 2]
    assert fake.faults.injected[fault.kind] == 2


async def test_exhaustion_raises_with_attempts_and_last_cause(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Persistent 500s end after max_attempts with RetryExhaustedError carrying the cause."""
    client = make_client(retry=RetryPolicy(max_attempts=3))
    fake.faults.queue(Fault(FaultKind.SERVER_ERROR), count=10)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert caught.value.attempts == 3
    assert isinstance(caught.value.last_error, ServerError)
    assert caught.value.__cause__ is caught.value.last_error
    assert len(fake.requests) == 3


async def test_429s_are_retried_past_max_attempts(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Ten 429s in a row do not use up max_attempts=3: the eleventh attempt succeeds."""
    client = make_client(retry=RetryPolicy(max_attempts=3, throttled_backoff=0.001))
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT), count=10)
    sid = fake.data.conferences[0]["conference_sid"]
    summary = await client.conferences.fetch(sid)
    assert summary.conference_sid == sid
    assert [request.status for request in fake.requests] == [429] * 10 + [200]


async def test_a_429_storm_ends_at_max_elapsed(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """429s without end are bounded by max_elapsed: RetryExhaustedError, RateLimitError last."""
    client = make_client(
        retry=RetryPolicy(max_attempts=3, max_elapsed=0.2, throttled_backoff=0.005)
    )
    fake.faults.throttle_for(3600, retry_after=None)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert isinstance(caught.value.last_error, RateLimitError)
    assert caught.value.attempts == len(fake.requests) > 3


async def test_retry_after_seconds_is_the_wait(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A Retry-After in seconds is the wait before the next attempt, cut to max_retry_after."""
    events: list[ClientEvent] = []
    client = make_client(
        hooks=[events.append],
        # Both jitter scales far below the Retry-After values, so the server's value is the wait.
        retry=RetryPolicy(max_retry_after=0.25, initial_backoff=0.001, throttled_backoff=0.001),
    )
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="0.04"), count=1)
    fake.faults.queue(Fault(FaultKind.SERVICE_UNAVAILABLE, retry_after="0.02"), count=1)
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="30"), count=1)  # capped to 0.25
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    waits = [e.wait for e in events if isinstance(e, RetryScheduled)]
    assert waits == [0.04, 0.02, 0.25]


async def test_retry_after_http_date_is_honoured(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A Retry-After given as an HTTP date is honoured (and capped when far in the future)."""
    events: list[ClientEvent] = []
    client = make_client(
        hooks=[events.append], retry=RetryPolicy(max_retry_after=0.2, initial_backoff=0.001)
    )
    fake.faults.queue(
        Fault(FaultKind.RATE_LIMIT, retry_after="Wed, 21 Oct 2099 07:28:00 GMT"), count=1
    )
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    (retry,) = [e for e in events if isinstance(e, RetryScheduled)]
    assert retry.wait == 0.2  # far-future date: capped
    assert retry.cause_type == "RateLimitError"


@pytest.mark.parametrize(
    ("setup", "error"),
    [("bad_credentials", AuthenticationError), ("missing", NotFoundError)],
)
async def test_client_errors_are_never_retried(
    fake: FakeTwilio, make_client: ClientFactory, setup: str, error: type[Exception]
) -> None:
    """A 401 and a 404 from the fake raise their typed error after exactly one request."""
    if setup == "bad_credentials":
        client = InsightsClient(
            fake.account_sid,
            "wrong-token",
            insights_base_url=fake.insights_base_url,
            api_base_url=fake.api_base_url,
        )
        async with client:
            with pytest.raises(error) as caught:
                await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
        assert caught.value.code == 20003  # type: ignore[attr-defined]
    else:
        with pytest.raises(error):
            await make_client().conferences.fetch("CF" + "9" * 32)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [(400, 20001, BadRequestError), (403, 20403, PermissionDeniedError)],
)
async def test_400_and_403_responses_are_typed_and_never_retried(
    status: int, code: int, error: type[ApiError]
) -> None:
    """A Twilio 400 or 403 body becomes BadRequestError or PermissionDeniedError, not retried."""
    hits: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response(
            {"code": code, "message": "refused", "more_info": "", "status": status},
            status=status,
        )

    async with (
        serving(refuse) as url,
        InsightsClient("AC" + "a" * 32, "token", insights_base_url=url) as client,
    ):
        with pytest.raises(error) as caught:
            await client.conferences.fetch("CF" + "a" * 32)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        status,
        code,
        "refused",
    )
    assert hits == ["/v1/Conferences/CF" + "a" * 32]
