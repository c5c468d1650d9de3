"""Waiting for a summary to settle: poll until ``processing_state`` is terminal.

Twilio builds a conference's summaries after it ends (``processing_state`` is
``in_progress`` for up to about 30 minutes, then ``complete``, or ``timeout`` after 24
hours). :func:`wait_until_terminal` polls one summary with a growing interval, through
**tenacity** (a retry on the *result*), until it is terminal or the deadline passes.

The schedule is a pure function of the poll number and the last failure, so tests assert
exact waits (:class:`PollSchedule`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import attrs
import tenacity

from ._errors import (
    ApiError,
    InvalidArgumentError,
    NotFoundError,
    RateLimitError,
    RetryExhaustedError,
    ServerError,
    TransportError,
    TwilioInsightsError,
)

__all__ = [
    "TERMINAL_STATES",
    "PollSchedule",
    "WaitTimeoutError",
    "is_terminal",
    "wait_until_terminal",
]

#: The ``processing_state`` values after which a summary no longer changes.
TERMINAL_STATES = frozenset({"complete", "timeout"})


class _Summary(Protocol):
    @property
    def processing_state(self) -> Any: ...


S = TypeVar("S", bound=_Summary)


def is_terminal(state: object) -> bool:
    """Whether a ``processing_state`` (enum member, raw string or ``None``) is final."""
    return state is not None and str(getattr(state, "value", state)) in TERMINAL_STATES


class WaitTimeoutError(TwilioInsightsError, TimeoutError):
    """A summary was still not terminal when the wait's deadline passed.

    Also a :class:`TimeoutError`, so ``except TimeoutError`` catches it. ``last_state`` is
    the ``processing_state`` seen last (``None`` if no poll succeeded), ``last_error`` the
    failure of the last poll if it failed (a 404 before Insights has the conference, a
    transport error...), ``polls`` the number of requests made.
    """

    def __init__(
        self,
        what: str,
        *,
        timeout: float,
        polls: int,
        last_state: str | None,
        last_error: BaseException | None,
    ) -> None:
        self.what = what
        self.timeout = timeout
        self.polls = polls
        self.last_state = last_state
        self.last_error = last_error
        seen = (
            f"processing_state still {last_state!r}" if last_state is not None else "no summary yet"
        )
        cause = f"; last poll failed: {last_error}" if last_error is not None else ""
        super().__init__(
            f"{what} not terminal after {timeout:g}s ({polls} poll{'s' if polls != 1 else ''}, "
            f"{seen}){cause}"
        )


def _check_seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(f"{name} must be a positive number of seconds, got {value!r}")
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be finite, got {value!r}")
    return float(value)


def _pending_error(error: BaseException) -> bool:
    """A failed poll that may succeed later: keep waiting (until the deadline)."""
    if isinstance(error, NotFoundError):
        # Right after a conference ends, Insights may not know it yet.
        return True
    if isinstance(error, RetryExhaustedError | TransportError):
        return True
    return isinstance(error, RateLimitError | ServerError)


def _server_wait(error: BaseException | None) -> float:
    """The ``Retry-After`` a failed poll carried (directly or as its last cause), or 0."""
    if isinstance(error, RetryExhaustedError):
        error = error.last_error
    if isinstance(error, ApiError) and error.retry_after is not None:
        return error.retry_after
    return 0.0


@attrs.frozen
class PollSchedule:
    """When to poll again.

    ``poll_interval`` growing by ``growth`` per poll, up to ``max_interval``; never sooner
    than ``poll_interval`` or the server's ``Retry-After``.
    """

    poll_interval: float
    max_interval: float
    growth: float = 1.5

    def interval(self, polls: int) -> float:
        """The wait after the ``polls``-th poll (1-based) when nothing else constrains it."""
        exponent = min(polls - 1, 64)  # beyond this the cap applies anyway
        grown = self.poll_interval * self.growth**exponent
        return max(self.poll_interval, min(self.max_interval, grown))

    def wait(self, polls: int, error: BaseException | None) -> float:
        """The wait after the ``polls``-th poll, given that poll's failure (if it failed).

        ``max_interval`` does not cap a longer ``Retry-After``: the server's word wins.
        A wait that would end past the deadline is cut short by the deadline itself,
        never by polling early.
        """
        return max(self.interval(polls), _server_wait(error))


async def wait_until_terminal(
    fetch: Callable[[], Awaitable[S]],
    *,
    what: str,
    timeout: float,  # noqa: ASYNC109 - the waiters' documented option, passed through
    poll_interval: float,
    max_interval: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> S:
    """Poll ``fetch`` until its result's ``processing_state`` is terminal; return it.

    Failures that may pass (404, 429, 5xx, transport errors, exhausted retries) are polled
    through; any other error is raised at once. At ``timeout`` seconds (a poll in flight
    is cancelled) raises :class:`WaitTimeoutError`.
    """
    timeout = _check_seconds(timeout, "timeout")
    poll_interval = _check_seconds(poll_interval, "poll_interval")
    ceiling = (
        _check_seconds(max_interval, "max_interval")
        if max_interval is not None
        else max(poll_interval, 60.0)
    )
    if ceiling < poll_interval:
        raise InvalidArgumentError(
            f"max_interval ({ceiling:g}) must be at least poll_interval ({poll_interval:g})"
        )
    schedule = PollSchedule(poll_interval, ceiling)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: dict[str, Any] = {"state": None, "error": None, "polls": 0}

    def next_wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        return schedule.wait(state.attempt_number, error)

    def past_deadline(_: tenacity.RetryCallState) -> bool:
        return loop.time() >= deadline

    async def poll() -> S:
        seen["polls"] += 1
        try:
            summary = await fetch()
        except BaseException as error:
            seen["error"] = error
            raise
        seen["error"] = None
        state = summary.processing_state
        seen["state"] = None if state is None else str(getattr(state, "value", state))
        return summary

    retrying = tenacity.AsyncRetrying(
        retry=(
            tenacity.retry_if_exception(_pending_error)
            | tenacity.retry_if_result(lambda summary: not is_terminal(summary.processing_state))
        ),
        wait=next_wait,
        stop=past_deadline,
        sleep=sleep,
        reraise=True,
    )

    def expired() -> WaitTimeoutError:
        return WaitTimeoutError(
            what,
            timeout=timeout,
            polls=seen["polls"],
            last_state=seen["state"],
            last_error=seen["error"],
        )

    try:
        async with asyncio.timeout_at(deadline):
            result: S = await retrying(poll)
    except TimeoutError:
        raise expired() from None
    except tenacity.RetryError:
        # Stopped at the deadline while the summary was still in progress.
        raise expired() from None
    except TwilioInsightsError as error:
        if _pending_error(error):  # the last poll before the deadline failed transiently
            raise expired() from error
        raise
    return result
