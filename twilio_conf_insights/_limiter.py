"""The client-wide gate every request passes: the limiter protocol and its local implementation.

A client sends each attempt on a *slot* of its :class:`Limiter` and hands the slot back with
the attempt's outcome (:data:`SUCCEEDED`, :data:`FAILED`, or :class:`Throttled`). What a
limiter does with that is its own business; the client only needs the protocol, so a
limiter may be shared: by several clients of one process (pass one
:class:`AdaptiveLimiter` to each), or by a fleet of processes (a budget kept elsewhere, with
leases that a slot returns when it is released).

:class:`AdaptiveLimiter`, the default, belongs to one process and enforces three things:

* at most ``limit`` requests in flight, where ``limit`` is moved by the control law of
  :mod:`._throttle` (it finds Twilio's concurrency cap from 429s, up to
  ``max_concurrency``);
* at most ``rate_limit`` request starts per second, when set;
* a pause for every new request after the server asked for one (``Retry-After``).

Each of its slots carries its *level* (requests in flight when it was granted, itself
included) and the controller's *generation*; the outcome reported through the slot is what
lets the law tell "this many was too many" and "this burst was already counted".
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol, TypeAlias

import attrs

from . import _testmode
from ._throttle import LimitController, ThrottlePolicy
from ._validation import positive_int, positive_number

__all__ = [
    "FAILED",
    "SUCCEEDED",
    "AdaptiveLimiter",
    "Limiter",
    "LimiterListener",
    "LimiterSlot",
    "LimiterStats",
    "Outcome",
    "SlotOutcome",
    "ThrottlePolicy",
    "Throttled",
]


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


class Outcome(enum.Enum):
    """How an attempt ended, when it was not throttled."""

    #: A 2xx answer, with its body: the level it was sent at was fine.
    SUCCEEDED = "succeeded"
    #: Nothing learned about load: another status (a 404...), a connection error, a
    #: timeout, a damaged body, a cancellation.
    FAILED = "failed"


SUCCEEDED = Outcome.SUCCEEDED
FAILED = Outcome.FAILED


@attrs.frozen
class Throttled:
    """The attempt was throttled: a 429 (too many requests in flight) or a 503."""

    #: 429 or 503.
    status: int
    #: The server's ``Retry-After`` in seconds (capped by the call's retry policy), if any.
    retry_after: float | None = None

    @property
    def concurrency(self) -> bool:
        """Whether it speaks of concurrency (a 429); a 503 may have any cause."""
        return self.status == 429


#: What a slot is released with.
SlotOutcome: TypeAlias = Outcome | Throttled
#: Called with the limiter's stats and ``"throttle"`` or ``"increase"`` when it changes.
LimiterListener: TypeAlias = Callable[[LimiterStats, str], None]


class LimiterSlot(Protocol):
    """Permission for one attempt to be on the wire; released exactly once, with its outcome."""

    def release(self, outcome: SlotOutcome) -> Awaitable[None] | None:
        """Give the slot back, saying how the attempt ended.

        Return ``None`` when done at once (the common case, no coroutine), or an awaitable
        the caller awaits (e.g. to return a lease to a shared store). Called even when the
        attempt was cancelled, then with :data:`FAILED`.
        """
        ...


class Limiter(Protocol):
    """What a client needs of a limiter. :class:`AdaptiveLimiter` is the default one."""

    @property
    def max_concurrency(self) -> int:
        """The most requests ever in flight at once: also the size of the connection pool."""
        ...

    def try_acquire(self) -> LimiterSlot | None:
        """A slot at once if nothing stands in the way, else ``None`` (then :meth:`acquire`).

        The uncontended path of every request: it must not need a coroutine.
        """
        ...

    async def acquire(self) -> LimiterSlot:
        """Wait until a request may start; its slot."""
        ...

    def stats(self) -> LimiterStats:
        """A snapshot of the current state (what ``InsightsClient.stats()`` returns)."""
        ...

    def add_listener(self, listener: LimiterListener) -> None:
        """Call ``listener`` whenever the limit or the pause changes."""
        ...

    def remove_listener(self, listener: LimiterListener) -> None:
        """Stop calling ``listener`` (a client that closes removes its own)."""
        ...


class _Slot:
    """A slot of an :class:`AdaptiveLimiter`: its level and generation when granted."""

    __slots__ = ("_limiter", "generation", "level")

    def __init__(self, limiter: AdaptiveLimiter, level: int, generation: int) -> None:
        self._limiter: AdaptiveLimiter | None = limiter
        self.level = level
        self.generation = generation

    def release(self, outcome: SlotOutcome) -> None:
        """Give the slot back and let the control law learn from ``outcome``; idempotent."""
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._released(self, outcome)
        return None

    def __repr__(self) -> str:
        state = "released" if self._limiter is None else "held"
        return f"<slot level={self.level} generation={self.generation} {state}>"


class AdaptiveLimiter:
    """A :class:`Limiter` for one process; see the module documentation.

    A client builds one from its ``max_concurrency``, ``rate_limit`` and ``throttle``
    options. Build one yourself to share it: every client given the same limiter counts
    against the same cap and slows down together.
    """

    def __init__(
        self,
        max_concurrency: int = 32,
        *,
        rate_limit: float | None = None,
        throttle: ThrottlePolicy | None = None,
        on_change: LimiterListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        positive_int(max_concurrency, "max_concurrency")
        if rate_limit is not None:
            positive_number(rate_limit, "rate_limit (requests per second)")
        self._max = max_concurrency
        self._policy = throttle if throttle is not None else ThrottlePolicy()
        self._control = LimitController(max_concurrency, self._policy, clock)
        self._limit = self._control.limit
        self._interval = 1.0 / rate_limit if rate_limit else 0.0
        self._next_start = 0.0
        self._last_start = -math.inf
        self._pause_until = 0.0
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._throttle_events = 0
        self._listeners: list[LimiterListener] = [on_change] if on_change is not None else []
        self._clock = clock

    @property
    def max_concurrency(self) -> int:
        """The configured ceiling of the limit."""
        return self._max

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests in flight now."""
        return self._in_flight

    @property
    def generation(self) -> int:
        """Bumped by every decrease of the limit; each slot remembers the one it was granted in."""
        return self._control.generation

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

    def add_listener(self, listener: LimiterListener) -> None:
        """Call ``listener(stats, reason)`` after every change of the limit or the pause."""
        self._listeners.append(listener)

    def remove_listener(self, listener: LimiterListener) -> None:
        """Stop calling ``listener``; a listener never added is ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[_Slot]:
        """Hold one slot for the duration of the block (released as :data:`SUCCEEDED`)."""
        slot = await self.acquire()
        try:
            yield slot
        finally:
            slot.release(SUCCEEDED)

    def try_acquire(self) -> _Slot | None:
        """A slot at once if nothing stands in the way, or ``None`` (use :meth:`acquire`).

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
            return _Slot(self, self._in_flight, self._control.generation)
        return None

    async def acquire(self) -> _Slot:
        """Wait until a request may start, count it as in flight; its slot."""
        served = 0.0
        while True:
            served = await self._wait_for_pause(served)
            await self._take_slot()
            # A throttle may have arrived while we queued: honour it before sending.
            if self._pause_until <= served or self._clock() >= self._pause_until:
                break
            self._give_back()
        slot = _Slot(self, self._in_flight, self._control.generation)
        if self._interval:
            try:
                await self._space_start()
            except BaseException:
                slot.release(FAILED)
                raise
        return slot

    def _released(self, slot: _Slot, outcome: SlotOutcome) -> None:
        self._in_flight -= 1
        if outcome is SUCCEEDED:
            if self._limit < self._max and self._control.on_success(slot.level):
                self._limit = self._control.limit
                self._notify("increase")
        elif isinstance(outcome, Throttled):
            self._throttled(outcome, slot)
        self._wake()

    def _throttled(self, outcome: Throttled, slot: _Slot) -> None:
        """React to a throttle: pause everyone if asked, and lower the limit.

        Only a 429 carries its slot's level to the law; a 503 says nothing about concurrency.
        """
        level = slot.level if outcome.concurrency else None
        retry_after = outcome.retry_after
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
        if self._control.on_throttle(level, slot.generation, pause):
            self._limit = self._control.limit
            changed = True
        if changed:
            self._throttle_events += 1
            self._notify("throttle")

    def _notify(self, reason: str) -> None:
        if self._listeners:
            stats = self.stats()
            for listener in tuple(self._listeners):
                listener(stats, reason)

    async def _wait_for_pause(self, served: float) -> float:
        """Wait out the client-wide pause; returns the deadline waited for.

        A deadline that later throttles may push back, not a condition to be signalled:
        sleeping until it, then re-reading it, is the simplest correct wait. In the test mode
        the sleep is skipped, and the deadline counts as served all the same.
        """
        sleep = _testmode.sleep(asyncio.sleep)
        while (until := self._pause_until) > served and (remaining := until - self._clock()) > 0:
            await sleep(remaining)
            served = until
        return served

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
                self._give_back()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def _give_back(self) -> None:
        self._in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)

    async def _space_start(self) -> None:
        """Wait until this start is at least ``1 / rate_limit`` after every other one.

        Each start books the next free time, so waiters wake one by one; one that woke late
        must not make the next bunch up behind it, hence the check against the last start.
        """
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + self._interval
        delay = max(start - now, self._last_start + self._interval - now)
        while delay > 0:
            await asyncio.sleep(delay)
            delay = self._last_start + self._interval - self._clock()
        self._last_start = self._clock()
