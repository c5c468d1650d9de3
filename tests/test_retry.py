"""RetryPolicy and Retry-After as pure logic, without a server (waits: test_retry_waits.py)."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import (
    AuthenticationError,
    BadRequestError,
    DecodeError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from twilio_conf_insights._retry import is_retryable, parse_retry_after

NOW = datetime(2024, 3, 4, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Mon, 04 Mar 2024 10:00:30 GMT", 30.0),
        ("Mon, 04 Mar 2024 09:59:00 GMT", 0.0),  # in the past: now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    """Retry-After is read as delay-seconds or an HTTP date; anything else is None."""
    assert parse_retry_after(header, now=NOW) == seconds


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises_or_goes_negative(header: str) -> None:
    """No header text makes Retry-After parsing raise or return a negative wait."""
    value = parse_retry_after(header, now=NOW)
    assert value is None or value >= 0


def _api(cls: type[Exception], status: int, retry_after: float | None = None) -> Exception:
    return cls(status, None, "x", retry_after=retry_after)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (_api(RateLimitError, 429), True),
        (_api(ServerError, 500), True),
        (_api(ServerError, 502), True),
        (_api(ServerError, 503), True),
        (_api(ServerError, 504), True),
        (_api(ServerError, 501), False),
        (_api(BadRequestError, 400), False),
        (_api(AuthenticationError, 401), False),
        (_api(PermissionDeniedError, 403), False),
        (_api(NotFoundError, 404), False),
        (TransportError("reset", kind="disconnected"), True),
        (TransportError("slow", kind="timeout"), True),
        (DecodeError("not json", retryable=True), True),
        (DecodeError("wrong shape"), False),
        (ValueError("x"), False),
    ],
)
def test_what_is_retried(error: Exception, retryable: bool) -> None:
    """429, 500, 502-504, transport errors and non-JSON bodies are retried; nothing else is."""
    assert is_retryable(error) is retryable


def _state(policy: RetryPolicy, attempt: int, error: BaseException) -> tenacity.RetryCallState:
    retrying = policy.retrying(sleep=_no_sleep)
    state = tenacity.RetryCallState(retrying, fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


async def _no_sleep(_: float) -> None:
    return None


def test_retry_after_is_the_wait_and_is_capped() -> None:
    """A 429's or 503's Retry-After is the wait, capped at max_retry_after."""
    policy = RetryPolicy(max_retry_after=10, initial_backoff=0.001, max_backoff=0.002)
    wait = policy.retrying(sleep=_no_sleep).wait
    assert wait(_state(policy, 1, _api(RateLimitError, 429, retry_after=3.0))) == 3.0
    assert wait(_state(policy, 1, _api(ServerError, 503, retry_after=7.0))) == 7.0
    assert wait(_state(policy, 2, _api(RateLimitError, 429, retry_after=3600.0))) == 10.0


def test_retry_after_zero_still_backs_off() -> None:
    """Retry-After: 0 still gets the jittered backoff (the 429 scale after a 429), no hot loop."""
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=1.0, throttled_backoff=0.5)
    wait = policy.retrying(sleep=_no_sleep).wait
    random.seed(3)
    waits = [wait(_state(policy, 1, _api(ServerError, 503, retry_after=0.0))) for _ in range(50)]
    assert all(0 <= w <= 1.0 for w in waits)
    assert max(waits) > 0.5  # the jittered backoff, not a hot loop
    waits = [wait(_state(policy, 1, _api(RateLimitError, 429, retry_after=0.0))) for _ in range(50)]
    assert all(0 <= w <= 0.5 for w in waits)
    assert max(waits) > 0.25


def test_429s_do_not_use_up_the_attempts_only_the_time_budget() -> None:
    """A 429 was never processed: max_attempts counts other failures, max_elapsed bounds all."""
    policy = RetryPolicy(max_attempts=3, max_elapsed=60)
    stop = policy.retrying(sleep=_no_sleep, started=0.0).stop
    throttled = _api(RateLimitError, 429)
    for attempt in range(1, 40):
        state = _state(policy, attempt, throttled)
        state.outcome_timestamp = attempt * 1.0
        state.upcoming_sleep = 0.5
        assert not stop(state)
    state = _state(policy, 40, throttled)
    state.outcome_timestamp = 59.8  # the next wait would end past 60 s since ``started``
    state.upcoming_sleep = 0.5
    assert stop(state)
    stop = policy.retrying(sleep=_no_sleep, started=0.0).stop
    server_error = _api(ServerError, 500)
    verdicts = []
    for attempt, error in enumerate([server_error, throttled, throttled, server_error], 1):
        state = _state(policy, attempt, error)
        state.outcome_timestamp, state.upcoming_sleep = float(attempt), 0.1
        verdicts.append(stop(state))
    assert verdicts == [False, False, False, False]
    state = _state(policy, 5, server_error)
    state.outcome_timestamp, state.upcoming_sleep = 5.0, 0.1
    assert stop(state)  # the third failure that was not a 429


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10, 40])
def test_full_jitter_backoff_is_within_the_exponential_ceiling(attempt: int) -> None:
    """Backoff waits spread from near 0 to near the attempt's exponential ceiling, never above."""
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=8)
    wait = policy.retrying(sleep=_no_sleep).wait
    ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
    random.seed(attempt)
    waits = [wait(_state(policy, attempt, TransportError("x"))) for _ in range(200)]
    assert all(0 <= w <= ceiling for w in waits)
    # Full jitter: spread over the whole range, not clustered at the ceiling.
    assert min(waits) < ceiling * 0.2 and max(waits) > ceiling * 0.8


def test_policy_rejects_nonsense() -> None:
    """Bad RetryPolicy fields raise InvalidArgumentError (a ValueError) naming the field."""
    with pytest.raises(InvalidArgumentError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidArgumentError, match="initial_backoff"):
        RetryPolicy(initial_backoff=-1)
    with pytest.raises(InvalidArgumentError, match="throttled_backoff"):
        RetryPolicy(throttled_backoff=True)
    assert RetryPolicy.disabled().max_attempts == 1


def test_api_error_takes_the_documented_fields_in_order() -> None:
    """ApiError takes its fields positionally in the documented order and survives pickling."""
    error = NotFoundError(
        404, 20404, "gone", "https://www.twilio.com/docs/errors/20404", "GET", "https://x/y"
    )
    assert (error.status, error.code, error.message, error.more_info, error.method, error.url) == (
        404,
        20404,
        "gone",
        "https://www.twilio.com/docs/errors/20404",
        "GET",
        "https://x/y",
    )
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, NotFoundError) and copy.code == 20404 and str(copy) == str(error)
