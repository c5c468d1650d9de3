"""The client-wide limiter: slots, concurrency cap, AIMD throttling, pauses, rate limit."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.fake_clock import FakeClock
from twilio_conf_insights import (
    AdaptiveLimiter,
    LimiterSlot,
    Outcome,
    Throttled,
    ThrottlePolicy,
)
from twilio_conf_insights.testing import fast_retries


def _slots(limiter: AdaptiveLimiter, count: int) -> list[LimiterSlot]:
    """``count`` slots taken at once; the last one's level is ``count`` on an idle limiter."""
    slots = [limiter.try_acquire() for _ in range(count)]
    assert all(slots), "the limiter refused a slot it had room for"
    return [slot for slot in slots if slot is not None]


def _release_at(limiter: AdaptiveLimiter, level: int, outcome: Outcome | Throttled) -> None:
    """Report ``outcome`` for a slot granted at ``level`` (the others end without news)."""
    *others, top = _slots(limiter, level)
    top.release(outcome)
    for slot in others:
        slot.release(Outcome.FAILED)


async def test_never_more_than_limit_in_flight() -> None:
    """Forty concurrent users of a limit-3 limiter never hold more than three slots."""
    limiter = AdaptiveLimiter(3)
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with limiter.slot():
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.001)

    await asyncio.gather(*(work() for _ in range(40)))
    assert peak == 3
    assert limiter.in_flight == 0


def test_a_429_lowers_the_limit_once_per_burst_and_events_report_it() -> None:
    """A 429 at level n sets the limit to n - 1; throttles from the same burst count once."""
    changes: list[tuple[str, int]] = []
    limiter = AdaptiveLimiter(
        64,
        throttle=ThrottlePolicy(initial_limit=16),
        clock=FakeClock(),
        on_change=lambda stats, reason: changes.append((reason, stats.limit)),
    )
    assert limiter.limit == 16
    slots = _slots(limiter, 15)  # one burst: all granted before any cut
    slots[12].release(Throttled(429))  # level 13
    slots[14].release(Throttled(429))  # level 15, sent before the cut
    assert limiter.limit == 12
    assert changes == [("throttle", 12)]
    stats = limiter.stats()
    assert (stats.throttle_events, stats.ceiling) == (1, 12)


def test_a_503_cuts_by_the_decrease_factor_and_never_below_one() -> None:
    """A 503 says nothing about concurrency: it halves the limit, down to one at least."""
    limiter = AdaptiveLimiter(8, throttle=ThrottlePolicy(initial_limit=8), clock=FakeClock())
    for expected in (4, 2, 1, 1):
        _release_at(limiter, 1, Throttled(503))
        assert limiter.limit == expected


def test_disabled_policy_keeps_the_limit_but_honours_retry_after() -> None:
    """ThrottlePolicy(enabled=False) pins max_concurrency; Retry-After still pauses."""
    limiter = AdaptiveLimiter(8, throttle=ThrottlePolicy(enabled=False), clock=FakeClock())
    _release_at(limiter, 8, Throttled(429, retry_after=2.0))
    assert limiter.limit == 8
    assert limiter.stats().paused_for == pytest.approx(2.0)


def test_a_retry_after_that_pauses_nobody_still_makes_probing_rarer() -> None:
    """A 429's Retry-After at a level a lower limit explains delays its request only.

    Nothing is paused, but a failed probe would cost that wait again, so the next probe
    waits ten of them.
    """
    clock = FakeClock()
    limiter = AdaptiveLimiter(
        64, throttle=ThrottlePolicy(initial_limit=16, probe_interval=0.5), clock=clock
    )
    _release_at(limiter, 13, Throttled(429, retry_after=1.0))
    assert (limiter.limit, limiter.stats().paused_for) == (12, 0.0)
    limits = []
    for step in (1.0 + 9.9, 0.1):  # the wait, then just short of ten waits; then past it
        clock.now += step
        for _ in range(4):
            _release_at(limiter, limiter.limit, Outcome.SUCCEEDED)
        limits.append(limiter.limit)
    assert limits == [12, 13]


def test_a_slot_is_released_once_whatever_its_holder_does() -> None:
    """Releasing a slot twice gives back one slot and teaches the law once."""
    limiter = AdaptiveLimiter(4, throttle=ThrottlePolicy(initial_limit=4), clock=FakeClock())
    first, second = _slots(limiter, 2)
    second.release(Throttled(503))
    second.release(Throttled(503))
    assert (limiter.in_flight, limiter.limit, limiter.stats().throttle_events) == (1, 2, 1)
    first.release(Outcome.SUCCEEDED)
    assert limiter.in_flight == 0


@pytest.mark.real_retry_waits
async def test_retry_after_pauses_every_new_request() -> None:
    """After a Retry-After, a new slot is granted only once the pause is over."""
    limiter = AdaptiveLimiter(4)
    _release_at(limiter, 1, Throttled(503, retry_after=0.05))
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with limiter.slot():
        waited = loop.time() - start
    assert waited >= 0.045  # a lower bound: a busy machine only waits longer


async def test_in_test_mode_the_pause_is_kept_but_not_slept() -> None:
    """fast_retries skips the sleep through a pause, not the pause: stats and law keep it."""
    limiter = AdaptiveLimiter(4)
    with fast_retries():
        _release_at(limiter, 1, Throttled(503, retry_after=3600.0))
        assert limiter.try_acquire() is None  # paused: no fast path
        async with asyncio.timeout(60), limiter.slot():
            assert limiter.stats().paused_for > 3000


async def test_rate_limit_spaces_request_starts() -> None:
    """rate_limit spaces slot grants at least 1/rate seconds apart, each one of them."""
    limiter = AdaptiveLimiter(10, rate_limit=100)  # one start per 10 ms
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def work() -> None:
        async with limiter.slot():
            starts.append(loop.time())

    await asyncio.gather(*(work() for _ in range(6)))
    ordered = sorted(starts)
    gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
    assert len(gaps) == 5
    # Each start is read a few microseconds after its grant; 0.2 ms covers that, far below
    # the 10 ms claimed.
    assert all(gap >= 0.010 - 0.0002 for gap in gaps), gaps


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    """A waiter cancelled before its grant leaves the slot count intact."""
    limiter = AdaptiveLimiter(1)
    held = await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    held.release(Outcome.FAILED)
    assert limiter.in_flight == 0
    async with limiter.slot():
        assert limiter.in_flight == 1


async def test_grant_then_cancel_hands_the_slot_on() -> None:
    """A slot granted to a waiter cancelled before it ran passes to the next waiter."""
    limiter = AdaptiveLimiter(1)
    held = await limiter.acquire()
    first = asyncio.ensure_future(limiter.acquire())
    second = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    held.release(Outcome.FAILED)  # grants `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert limiter.in_flight == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_concurrency(bad: object) -> None:
    """max_concurrency must be a positive integer."""
    with pytest.raises(ValueError, match="max_concurrency"):
        AdaptiveLimiter(bad)  # type: ignore[arg-type]


def test_try_acquire_only_when_nothing_stands_in_the_way() -> None:
    """try_acquire succeeds only with a free slot, no pause and no rate limit to wait for."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(1, clock=clock)
    slot = limiter.try_acquire()
    assert slot is not None
    assert limiter.try_acquire() is None  # full
    slot.release(Throttled(429, retry_after=5.0))  # alone in flight: pauses the client
    assert limiter.try_acquire() is None  # paused
    clock.now += 6
    assert limiter.try_acquire() is not None
    assert AdaptiveLimiter(4, rate_limit=10).try_acquire() is None  # rate-limited: acquire()
