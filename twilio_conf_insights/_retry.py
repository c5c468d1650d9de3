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
from ._validation import positive_int, positive_number

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
    positive_number(value, f"RetryPolicy.{attribute.name}")


def _at_least_one(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    positive_int(value, f"RetryPolicy.{attribute.name}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried.

    Retried: 429, 500, 502, 503 and 504 responses, connection errors, timeouts, truncated
    bodies and bodies that are not JSON. Never retried: any other status (400, 401, 403,
    404, ...) and a well-formed body of the wrong shape.

    The wait before retry *n* (``n`` = 1 for the first retry) is drawn uniformly from
    ``[0, min(max_backoff, initial_backoff * 2 ** (n - 1))]`` ("full jitter"); after a 429
    the scale is ``throttled_backoff`` instead, because the client-wide limiter, not this
    wait, is what brings the requests in flight under Twilio's cap. When the server sent
    ``Retry-After``, the wait is at least that many seconds (capped at ``max_retry_after``).

    Giving up happens after ``max_attempts`` attempts that were not answered 429, or when
    the next wait would end past ``max_elapsed`` seconds since the first attempt. A 429 was
    never processed by Twilio ("always safe to retry"), so a client that is merely over the
    limit is bounded by time, not by a count it would soon run out of.
    """

    #: Attempts not answered 429, the first included. ``1`` disables retrying.
    max_attempts: int = attrs.field(default=5, validator=_at_least_one)
    #: Upper bound, in seconds, on the time spent on one call across its attempts.
    max_elapsed: float = attrs.field(default=120.0, validator=_positive)
    #: Scale of the exponential backoff, in seconds.
    initial_backoff: float = attrs.field(default=0.5, validator=_positive)
    #: Largest backoff between two attempts when the server gave no ``Retry-After``.
    max_backoff: float = attrs.field(default=20.0, validator=_positive)
    #: Largest ``Retry-After`` honoured; a longer one is cut to this.
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)
    #: Scale of the backoff after a 429 without ``Retry-After``, in seconds.
    throttled_backoff: float = attrs.field(default=0.05, validator=_positive)

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
        started: float | None = None,
    ) -> tenacity.AsyncRetrying:
        """A tenacity controller applying this policy to one call; ``sleep`` is injectable.

        ``started`` is the :func:`time.monotonic` time the call's first attempt was sent,
        when that was before the controller existed; ``max_elapsed`` counts from it.
        """
        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(is_retryable),
            wait=_ServerOrJitterWait(self),
            stop=_Budget(self, started),
            sleep=_testmode.sleep(sleep),
            before_sleep=before_sleep,
            reraise=False,
        )


def _failure(retry_state: tenacity.RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None else None


class _Budget(tenacity.stop.stop_base):
    """Stop after ``max_attempts`` failures other than 429, or at ``max_elapsed``.

    One instance per call: it counts the call's 429s as tenacity reports its failures.
    """

    def __init__(self, policy: RetryPolicy, started: float | None) -> None:
        self._policy = policy
        self._started = started
        self._throttled = 0

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if isinstance(_failure(retry_state), RateLimitError):
            self._throttled += 1
        if retry_state.attempt_number - self._throttled >= _testmode.attempts(
            self._policy.max_attempts
        ):
            return True
        started = self._started if self._started is not None else retry_state.start_time
        finished = retry_state.outcome_timestamp
        elapsed = (finished if finished is not None else started) - started
        return elapsed + (retry_state.upcoming_sleep or 0.0) >= self._policy.max_elapsed


class _ServerOrJitterWait(tenacity.wait.wait_base):
    """tenacity's full-jitter exponential wait, raised to the server's Retry-After if larger.

    After a 429 the jitter's scale is ``throttled_backoff``: the limiter lowers the
    concurrency, and the retry then waits for a slot like any other request.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._jitter = tenacity.wait_random_exponential(
            multiplier=policy.initial_backoff, max=policy.max_backoff
        )
        self._throttled_jitter = tenacity.wait_random_exponential(
            multiplier=policy.throttled_backoff, max=policy.max_backoff
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = _failure(retry_state)
        jitter_of = self._throttled_jitter if isinstance(error, RateLimitError) else self._jitter
        jitter = float(jitter_of(retry_state))
        server = self._policy.server_wait(error) if error is not None else None
        # Never sooner than the server asked; never a hot loop on "Retry-After: 0" either.
        return jitter if server is None else max(server, jitter)
