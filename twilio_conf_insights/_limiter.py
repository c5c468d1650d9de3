"""The client-wide gate every request passes: concurrency, request rate, and throttling.

One :class:`AdaptiveLimiter` belongs to one client and is shared by every call made through
it, bulk or not. It enforces three things:

* at most ``limit`` requests in flight, where ``limit`` is moved by the control law of
  :mod:`._throttle` (it finds Twilio's concurrency cap from 429s, up to
  ``max_concurrency``);
* at most ``rate_limit`` request starts per second, when set;
* a pause for every new request after the server asked for one (``Retry-After``).

A granted slot comes with its *level* (requests in flight at that moment, itself included)
and the controller's *generation*; the transport hands both back with the outcome, which
is what lets the law tell "this many was too many" and "this burst was already counted".
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import attrs

from ._throttle import LimitController, ThrottlePolicy
from ._validation import positive_int, positive_number

__all__ = ["AdaptiveLimiter", "LimiterStats", "ThrottlePolicy"]


@attrs.frozen
class LimiterStats:
    """A snapshot of the limiter, for observing a client under load."""

    #: Requests allowed in flight now.
    limit: int
    #: The configured ceiling of ``limit``.
    max_concurrency: int
    #: Requests in flight now.
    in_flight: int
    #: Requests waiting for a slot now.
    waiting: int
    #: Times the limit was lowered or a pause was set because of throttling.
    throttle_events: int
    #: Seconds left in the current client-wide pause (0 when none).
    paused_for: float
    #: The level learned to be safe from the last 429 (``None`` before any).
    ceiling: int | None = None


class AdaptiveLimiter:
    """Grants request slots; see the module documentation."""

    def __init__(
        self,
        max_concurrency: int,
        *,
        rate_limit: float | None = None,
        throttle: ThrottlePolicy | None = None,
        on_change: Callable[[LimiterStats, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        positive_int(max_concurrency, "max_concurrency")
        if rate_limit is not None:
            positive_number(rate_limit, "rate_limit (requests per second)")
        self._max = max_concurrency
        self._policy = throttle if throttle is not None else ThrottlePolicy()
        self._control = LimitController(max_concurrency, self._policy, clock)
        self._limit = self._control.limit
        #: Bumped by every decrease of the limit; a throttle hands back the value its
        #: request's slot was granted under. (A plain attribute: read on every request.)
        self.generation = self._control.generation
        self._interval = 1.0 / rate_limit if rate_limit else 0.0
        self._next_start = 0.0
        self._pause_until = 0.0
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._throttle_events = 0
        self._on_change = on_change
        self._clock = clock

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests in flight now."""
        return self._in_flight

    def stats(self) -> LimiterStats:
        """A snapshot of the current state."""
        return LimiterStats(
            limit=self._limit,
            max_concurrency=self._max,
            in_flight=self._in_flight,
            waiting=len(self._waiters),
            throttle_events=self._throttle_events,
            paused_for=max(0.0, self._pause_until - self._clock()),
            ceiling=self._control.ceiling,
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot for the duration of the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def try_acquire(self) -> int:
        """Take a slot at once if nothing stands in the way: its level, or 0 (use :meth:`acquire`).

        The uncontended case costs no coroutine, which matters at thousands of requests a
        second.
        """
        if (
            self._in_flight < self._limit
            and not self._waiters
            and not self._interval
            and self._clock() >= self._pause_until
        ):
            self._in_flight += 1
            return self._in_flight
        return 0

    async def acquire(self) -> int:
        """Wait until a request may start, count it as in flight; returns its level."""
        while True:
            await self._wait_for_pause()
            await self._take_slot()
            # A throttle may have arrived while we queued: honour it before sending.
            if self._clock() >= self._pause_until:
                break
            self.release()
        if self._interval:
            delay = self._reserve_start()
            if delay > 0:
                try:
                    await asyncio.sleep(delay)
                except BaseException:
                    self.release()
                    raise
        return self._in_flight

    def release(self) -> None:
        """Give a slot back."""
        self._in_flight -= 1
        self._wake()

    def record_success(self, level: int) -> None:
        """Count a response that was not throttled, sent at ``level``; may raise the limit."""
        if self._limit >= self._max:
            return  # the common case, kept to one comparison
        if self._control.on_success(level):
            self._limit = self._control.limit
            self._wake()
            self._notify("increase")

    def record_throttle(
        self, retry_after: float | None, *, level: int | None, generation: int
    ) -> None:
        """React to a throttling response: pause everyone if asked, and lower the limit.

        ``level`` is that of a 429's request (``None`` for a 503, which says nothing about
        concurrency); ``generation`` is :attr:`generation` when its slot was granted.
        """
        changed = False
        pause = None
        if retry_after is not None and retry_after > 0 and self._policy.pause_on_retry_after:
            # The wait the server asked for: of the whole client where a lower concurrency
            # cannot help, else of this request's retry. Either way a failed probe costs it,
            # which the control law takes into account.
            pause = retry_after
            until = self._clock() + retry_after
            if until > self._pause_until and self._control.pauses_client(level):
                self._pause_until = until
                changed = True
        if self._control.on_throttle(level, generation, pause):
            self._limit = self._control.limit
            changed = True
        self.generation = self._control.generation
        if changed:
            self._throttle_events += 1
            self._notify("throttle")

    def _notify(self, reason: str) -> None:
        if self._on_change is not None:
            self._on_change(self.stats(), reason)

    async def _wait_for_pause(self) -> None:
        # A deadline that later throttles may push back, not a condition to be signalled:
        # sleeping until it, then re-reading it, is the simplest correct wait.
        while (remaining := self._pause_until - self._clock()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(remaining)

    async def _take_slot(self) -> None:
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was granted just as we were cancelled: hand it on.
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)

    def _reserve_start(self) -> float:
        """Book the next start time allowed by the rate limit; returns the wait until it."""
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + self._interval
        return start - now
