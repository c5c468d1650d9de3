"""Retry policy: what is retried, how long to wait, and when to give up.

The decisions are pure functions of an error and an attempt number, so tests assert exact
waits; :meth:`RetryPolicy.retrying` turns them into a :class:`tenacity.AsyncRetrying`, which
runs the loop for the transport.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import tenacity

from . import _testmode
from ._errors import (
    ApiError,
    DecodeError,
    RateLimitError,
    ServerError,
    TransportError,
)
from ._validation import positive_int

__all__ = ["RetryPolicy", "is_retryable", "parse_retry_after"]

#: Statuses that say "try again later": throttling and the transient server failures.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    Returns ``None`` when the header is absent or unreadable, and otherwise a finite
    number of seconds, never negative (a date in the past means "now"). Any header value
    gives one of these: the server controls it, so nothing it sends may raise (a year or
    UTC offset too large for ``datetime`` is unreadable, not an ``OverflowError``).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.replace(".", "", 1).isdigit():
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
        if when.tzinfo is None:  # an HTTP date is GMT by definition
            when = when.replace(tzinfo=UTC)
        reference = now if now is not None else datetime.now(UTC)
        seconds = (when - reference).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        # email.utils raises each of these for some malformed or out-of-range date.
        return None
    return max(0.0, seconds)


def is_retryable(error: BaseException) -> bool:
    """Whether a failed attempt may be tried again (all our endpoints are idempotent GETs)."""
    if isinstance(error, TransportError):
        return True
    if isinstance(error, DecodeError):
        return error.retryable
    if isinstance(error, ApiError):
        return error.status in RETRYABLE_STATUSES
    return False


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool)) or not value > 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be a positive number, got {value!r}")


def _at_least_one(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    positive_int(value, f"RetryPolicy.{attribute.name}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried.

    Retried: 429, 500, 502, 503 and 504 responses, connection errors, timeouts, truncated
    bodies and bodies that are not JSON. Never retried: any other status (400, 401, 403,
    404, ...) and a well-formed body of the wrong shape.

    The wait before retry *n* (``n`` = 1 for the first retry) is drawn uniformly from
    ``[0, min(max_backoff, initial_backoff * 2 ** (n - 1))]`` ("full jitter"); when the
    server sent ``Retry-After``, the wait is at least that many seconds (capped at
    ``max_retry_after``).
    Giving up happens after ``max_attempts`` attempts in all, or when the next wait would
    end past ``max_elapsed`` seconds since the first attempt.
    """

    #: Attempts in all, the first included. ``1`` disables retrying.
    max_attempts: int = attrs.field(default=5, validator=_at_least_one)
    #: Upper bound, in seconds, on the time spent on one call across its attempts.
    max_elapsed: float = attrs.field(default=120.0, validator=_positive)
    #: Scale of the exponential backoff, in seconds.
    initial_backoff: float = attrs.field(default=0.5, validator=_positive)
    #: Largest backoff between two attempts when the server gave no ``Retry-After``.
    max_backoff: float = attrs.field(default=20.0, validator=_positive)
    #: Largest ``Retry-After`` honoured; a longer one is cut to this.
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    def cap_retry_after(self, seconds: float | None) -> float | None:
        """A server-requested wait, cut to ``max_retry_after``."""
        return None if seconds is None else min(seconds, self.max_retry_after)

    def server_wait(self, error: BaseException) -> float | None:
        """The wait the server asked for (capped), or ``None`` if it asked for none."""
        if isinstance(error, RateLimitError | ServerError):
            return self.cap_retry_after(error.retry_after)
        return None

    def retrying(
        self,
        *,
        sleep: Callable[[float], Awaitable[None]],
        before_sleep: Callable[[tenacity.RetryCallState], Awaitable[None] | None] | None = None,
    ) -> tenacity.AsyncRetrying:
        """A tenacity controller applying this policy; ``sleep`` is injectable for tests."""
        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(is_retryable),
            wait=_ServerOrJitterWait(self),
            stop=(
                tenacity.stop_after_attempt(_testmode.attempts(self.max_attempts))
                | tenacity.stop_before_delay(self.max_elapsed)
            ),
            sleep=_testmode.sleep(sleep),
            before_sleep=before_sleep,
            reraise=False,
        )


class _ServerOrJitterWait(tenacity.wait.wait_base):
    """tenacity's full-jitter exponential wait, raised to the server's Retry-After if larger."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._jitter = tenacity.wait_random_exponential(
            multiplier=policy.initial_backoff, max=policy.max_backoff
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        jitter = float(self._jitter(retry_state))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        server = self._policy.server_wait(error) if error is not None else None
        # Never sooner than the server asked; never a hot loop on "Retry-After: 0" either.
        return jitter if server is None else max(server, jitter)
