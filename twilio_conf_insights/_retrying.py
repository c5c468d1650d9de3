"""The retry step: attempts until one succeeds, or the call's retry policy gives up.

The first attempt runs before any retry machinery exists: almost every call succeeds at
once, and a tenacity controller costs about as much CPU as the request itself. Only a
retryable failure builds one (:meth:`~._retry.RetryPolicy.retrying`), whose attempt 1 *is*
that first attempt: it reports its failure, so every decision (wait, stop, logging) is
tenacity's from the first failure on, and the time budget counts from when the first
attempt was sent, not from when the call started queueing for a slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import tenacity

from ._errors import RetryExhaustedError, TwilioInsightsError
from ._events import RetryScheduled
from ._pipeline import Request, Response, Transport
from ._retry import is_retryable

__all__ = ["RetryTransport"]

_log = logging.getLogger("twilio_conf_insights")


class RetryTransport:
    """Retries the steps inside it; see the module documentation."""

    __slots__ = ("_inner", "_sleep")

    def __init__(
        self, inner: Transport, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self._inner = inner
        self._sleep = sleep

    async def handle(self, request: Request) -> Response:
        """The first successful attempt's response; the last error if the policy gives up."""
        try:
            return await self._inner.handle(request)
        except TwilioInsightsError as error:
            if not is_retryable(error) or request.options.retry.max_attempts == 1:
                raise
            first_failure = error
        return await self._retry(request, first_failure)

    async def _retry(self, request: Request, first_failure: TwilioInsightsError) -> Response:
        """Attempts 2 and later, under tenacity, after the first attempt failed."""
        started = request.sent_at if request.sent_at is not None else time.monotonic()
        retrying = request.options.retry.retrying(
            sleep=self._sleep, before_sleep=_before_sleep(request), started=started
        )
        last: BaseException | None = None
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    if number == 1:
                        raise first_failure
                    request.attempt = number
                    return await self._inner.handle(request)
        except tenacity.RetryError as exhausted:
            last = exhausted.last_attempt.exception()
            attempts = exhausted.last_attempt.attempt_number
        # Raised outside the except block so tenacity's RetryError is not chained in.
        assert isinstance(last, TwilioInsightsError), "tenacity stops only on our retryable errors"
        if attempts == 1:
            raise last  # nothing was retried (no time left in the budget): the error as is
        raise RetryExhaustedError(attempts, last, elapsed=time.monotonic() - started) from last


def _before_sleep(request: Request) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        wait = state.upcoming_sleep
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        cause = str(error) if error is not None else "unknown"
        _log.info(
            "retrying GET %s in %.2fs after attempt %d: %s (call %d)",
            request.url,
            wait,
            state.attempt_number,
            cause,
            request.call_id,
        )
        if request.events:
            request.events.emit(
                RetryScheduled(
                    method="GET",
                    url=str(request.url),
                    attempt=state.attempt_number,
                    wait=wait,
                    cause=cause,
                    cause_type=type(error).__name__,
                    call_id=request.call_id,
                )
            )

    return before_sleep
