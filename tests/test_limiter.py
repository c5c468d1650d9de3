"""The client-wide limiter: concurrency cap, AIMD throttling, pauses, rate limit, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from twilio_conf_insights import ThrottlePolicy
from twilio_conf_insights._limiter import AdaptiveLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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


def test_throttle_halves_and_successes_grow_back() -> None:
    """A throttle halves the limit once per cooldown; runs of successes add it back up to max."""
    clock = FakeClock()
    changes: list[str] = []
    limiter = AdaptiveLimiter(
        16,
        throttle=ThrottlePolicy(increase_after=4, cooldown=1.0),
        clock=clock,
        on_change=lambda _s, r: changes.append(r),
    )
    limiter.record_throttle(None)
    assert limiter.limit == 8
    limiter.record_throttle(None)  # within the cooldown: the same burst
    assert limiter.limit == 8
    clock.now += 1.5
    limiter.record_throttle(None)
    assert limiter.limit == 4
    for _ in range(4 * 3):
        limiter.record_success()
    assert limiter.limit == 7
    for _ in range(4 * 100):
        limiter.record_success()
    assert limiter.limit == 16  # never above max_concurrency
    assert changes[:2] == ["throttle", "throttle"]
    assert limiter.stats().throttle_events == 2


def test_limit_never_below_one() -> None:
    """Repeated throttling never lowers the limit below one."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(2, throttle=ThrottlePolicy(cooldown=0), clock=clock)
    for _ in range(5):
        limiter.record_throttle(None)
    assert limiter.limit == 1


def test_disabled_policy_keeps_the_limit_but_honours_retry_after() -> None:
    """A disabled throttle policy keeps the limit but still pauses for Retry-After."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, throttle=ThrottlePolicy(enabled=False), clock=clock)
    limiter.record_throttle(2.0)
    assert limiter.limit == 8
    assert limiter.stats().paused_for == pytest.approx(2.0)


async def test_retry_after_pauses_every_new_request() -> None:
    """After a Retry-After, a new slot is granted only once the pause is over."""
    limiter = AdaptiveLimiter(4)
    limiter.record_throttle(0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with limiter.slot():
        waited = loop.time() - start
    assert waited >= 0.045


async def test_rate_limit_spaces_request_starts() -> None:
    """rate_limit spaces slot grants at least 1/rate seconds apart."""
    limiter = AdaptiveLimiter(10, rate_limit=200)  # one start per 5 ms
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def work() -> None:
        async with limiter.slot():
            starts.append(loop.time())

    await asyncio.gather(*(work() for _ in range(6)))
    gaps = [b - a for a, b in zip(sorted(starts), sorted(starts)[1:], strict=False)]
    assert sum(gaps) >= 5 * 0.005 * 0.9


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    """A waiter cancelled before its grant leaves the slot count intact."""
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    assert limiter.in_flight == 0
    async with limiter.slot():
        assert limiter.in_flight == 1


async def test_grant_then_cancel_hands_the_slot_on() -> None:
    """A slot granted to a waiter cancelled before it ran passes to the next waiter."""
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    first = asyncio.ensure_future(limiter.acquire())
    second = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release()  # grants `first`...
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
    assert limiter.try_acquire()
    assert not limiter.try_acquire()  # full
    limiter.release()
    limiter.record_throttle(5.0)
    assert not limiter.try_acquire()  # paused
    clock.now += 6
    assert limiter.try_acquire()
    assert not AdaptiveLimiter(4, rate_limit=10).try_acquire()  # rate-limited: wait in acquire()
