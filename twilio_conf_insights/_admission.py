"""The limiter step: every attempt goes on the wire on a slot of the client's limiter.

The slot is taken without a coroutine when nothing stands in the way
(:meth:`~._limiter.Limiter.try_acquire`), and released with the attempt's outcome: a 429 or
503 as :class:`~._limiter.Throttled` (with its ``Retry-After``, capped by the call's retry
policy, so a huge one cannot freeze the whole client), a 2xx answer with its JSON as
:data:`~._limiter.SUCCEEDED`, anything else (another status, a failure below HTTP, a
damaged body, a cancellation) as :data:`~._limiter.FAILED`. An attempt holds its slot
while it is on the wire and never while it waits to be retried: the retry step is outside
this one.
"""

from __future__ import annotations

from ._errors import ApiError
from ._limiter import FAILED, SUCCEEDED, Limiter, SlotOutcome, Throttled
from ._pipeline import Request, Response, Transport

__all__ = ["THROTTLE_STATUSES", "AdmissionTransport"]

#: Statuses by which Twilio says "too much": they slow the whole client down.
THROTTLE_STATUSES = frozenset({429, 503})


def outcome_of(error: BaseException, request: Request) -> SlotOutcome:
    """What a failed attempt tells the limiter."""
    if isinstance(error, ApiError) and error.status in THROTTLE_STATUSES:
        return Throttled(error.status, request.options.retry.cap_retry_after(error.retry_after))
    return FAILED


class AdmissionTransport:
    """Holds a limiter slot around each attempt; see the module documentation."""

    __slots__ = ("_inner", "_limiter")

    def __init__(self, inner: Transport, limiter: Limiter) -> None:
        self._inner = inner
        self._limiter = limiter

    async def handle(self, request: Request) -> Response:
        """Send one attempt on a slot, and release the slot with its outcome."""
        limiter = self._limiter
        slot = limiter.try_acquire() or await limiter.acquire()
        try:
            response = await self._inner.handle(request)
        except BaseException as error:
            releasing = slot.release(outcome_of(error, request))
            if releasing is not None:
                await releasing
            raise
        releasing = slot.release(SUCCEEDED)
        if releasing is not None:
            await releasing
        return response
