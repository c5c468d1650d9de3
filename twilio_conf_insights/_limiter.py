"""The client-wide gate every request passes: concurrency, request rate, and throttling.

One :class:`AdaptiveLimiter` belongs to one client and is shared by every call made through
it, bulk or not. It enforces three things:

* at most ``limit`` requests in flight, where ``limit`` starts at ``max_concurrency``;
* at most ``rate_limit`` request starts per second, when set;
* a pause for every new request after the server asked for one (``Retry-After``).

With a :class:`ThrottlePolicy` it is adaptive (additive increase, multiplicative decrease):
a throttling response halves ``limit`` and each run of ``increase_after`` successes adds one
back, up to ``max_concurrency``. So under 429s the whole client slows down, not just the
request that was throttled.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs

from ._validation import positive_int

__all__ = ["AdaptiveLimiter", "LimiterStats", "ThrottlePolicy"]


def _fraction(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"ThrottlePolicy.{attribute.name} must be between 0 and 1, got {value!r}")


def _positive_int(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    positive_int(value, f"ThrottlePolicy.{attribute.name}")


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"ThrottlePolicy.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ThrottlePolicy:
    """How the client reacts, as a whole, to throttling (a 429 or 503 response).

    ``enabled=False`` keeps the concurrency fixed at ``max_concurrency`` (a server-sent
    ``Retry-After`` still pauses the client: it is the server's explicit instruction).
    """

    #: Adapt the concurrency limit to throttling.
    enabled: bool = True
    #: Factor applied to the limit on a throttle (0.5 halves it).
    decrease_factor: float = attrs.field(default=0.5, validator=_fraction)
    #: Successful responses needed to add one to the limit again.
    increase_after: int = attrs.field(default=8, validator=_positive_int)
    #: Throttles closer together than this count once: requests already in flight when the
    #: server started throttling all come back throttled and must not collapse the limit.
    cooldown: float = attrs.field(default=0.5, validator=_non_negative)
    #: Pause every new request of the client for the server's ``Retry-After``.
    pause_on_retry_after: bool = True


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
        if rate_limit is not None and not rate_limit > 0:
            raise ValueError(
                f"rate_limit must be a positive number of requests per second, got {rate_limit!r}"
            )
        self._max = max_concurrency
        self._limit = max_concurrency
        self._policy = throttle if throttle is not None else ThrottlePolicy()
        self._interval = 1.0 / rate_limit if rate_limit else 0.0
        self._next_start = 0.0
        self._pause_until = 0.0
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._successes = 0
        self._last_decrease = float("-inf")
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
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot for the duration of the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def try_acquire(self) -> bool:
        """Take a slot at once if nothing stands in the way; ``False`` means use :meth:`acquire`.

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
            return True
        return False

    async def acquire(self) -> None:
        """Wait until a request may start, then count it as in flight."""
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

    def release(self) -> None:
        """Give a slot back."""
        self._in_flight -= 1
        self._wake()

    def record_success(self) -> None:
        """Count a response that was not throttled; grows the limit back over time."""
        if not self._policy.enabled or self._limit >= self._max:
            return
        self._successes += 1
        if self._successes >= self._policy.increase_after:
            self._successes = 0
            self._limit += 1
            self._wake()
            self._notify("increase")

    def record_throttle(self, retry_after: float | None) -> None:
        """React to a throttling response: pause everyone and lower the limit."""
        now = self._clock()
        changed = False
        if retry_after is not None and retry_after > 0 and self._policy.pause_on_retry_after:
            until = now + retry_after
            if until > self._pause_until:
                self._pause_until = until
                changed = True
        if self._policy.enabled and now - self._last_decrease >= self._policy.cooldown:
            self._last_decrease = now
            self._successes = 0
            lowered = max(1, int(self._limit * self._policy.decrease_factor))
            if lowered < self._limit:
                self._limit = lowered
                changed = True
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
