"""RetryPolicy and Retry-After as pure logic, without a server (waits: test_retry_waits.py)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import (
    AuthenticationError,
    BadRequestError,
    DecodeError,
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


def test_policy_rejects_nonsense() -> None:
    """RetryPolicy refuses zero attempts and negative backoffs; disabled() makes one attempt."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="initial_backoff"):
        RetryPolicy(initial_backoff=-1)
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
