"""The concurrency control law as pure logic: a fake clock, simulated servers, no sleeps."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import InvalidArgumentError, ThrottlePolicy
from twilio_conf_insights._throttle import LimitController


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def _controller(
    max_concurrency: int = 64, clock: FakeClock | None = None, **policy: Any
) -> LimitController:
    return LimitController(max_concurrency, ThrottlePolicy(**policy), clock or FakeClock())


def test_slow_start_adds_one_slot_per_two_successes_while_the_slots_are_in_use() -> None:
    """From initial_limit the limit grows by one per two busy successes, and not when idle."""
    control = _controller(initial_limit=4)
    for _ in range(10):
        control.on_success(level=1)  # one request at a time: nothing learned
    assert control.limit == 4
    for _ in range(8):
        control.on_success(level=control.limit)
    assert control.limit == 8


def test_a_429_sets_the_ceiling_just_below_its_level() -> None:
    """A 429 sent at level n lowers the limit straight to n - 1, which becomes the ceiling."""
    control = _controller(initial_limit=40)
    assert control.on_throttle(level=21, generation=control.generation)
    assert (control.limit, control.ceiling) == (20, 20)


def test_one_429_never_cuts_more_than_the_decrease_factor() -> None:
    """A 429 at a low level (another client holds the rest) cuts at most by decrease_factor."""
    control = _controller(initial_limit=40, decrease_factor=0.75)
    control.on_throttle(level=2, generation=control.generation)
    assert control.limit == 30


def test_throttles_of_an_earlier_generation_count_once() -> None:
    """Requests sent before the cut come back throttled too; they do not cut again."""
    control = _controller(initial_limit=40)
    sent_in = control.generation
    assert control.on_throttle(level=33, generation=sent_in)
    assert not control.on_throttle(level=35, generation=sent_in)
    assert not control.on_throttle(level=None, generation=sent_in)
    assert control.limit == 32 and control.throttles == 1
    assert control.on_throttle(level=32, generation=control.generation)
    assert control.limit == 31


def test_the_limit_holds_at_the_ceiling_then_probes_by_doubling_steps() -> None:
    """At the ceiling the limit waits probe_interval, then probes 1, 2, 4... slots above it.

    The step doubles up to a quarter of the ceiling (here 10 // 4 = 2).
    """
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=16, probe_interval=1.0)
    control.on_throttle(level=11, generation=control.generation)
    assert control.limit == 10
    for _ in range(100):
        control.on_success(level=control.limit)
    assert control.limit == 10  # no time has passed: held
    seen = []
    for _ in range(3):
        clock.now += 1.0
        for _ in range(100):
            control.on_success(level=control.limit)
        seen.append(control.limit)
    assert seen == [11, 13, 15]
    control.on_throttle(level=15, generation=control.generation)
    clock.now += 1.0
    for _ in range(100):
        control.on_success(level=control.limit)
    assert control.limit == 15  # the probe step starts again at one


def test_a_503_cuts_by_the_decrease_factor_and_keeps_the_ceiling() -> None:
    """A 503 carries no level: the limit is cut by decrease_factor, the ceiling stays."""
    control = _controller(initial_limit=40)
    control.on_throttle(level=25, generation=control.generation)
    control.on_throttle(level=None, generation=control.generation)
    assert (control.limit, control.ceiling) == (12, 24)


def test_disabled_policy_pins_max_concurrency() -> None:
    """enabled=False: the limit is max_concurrency whatever happens."""
    control = _controller(max_concurrency=48, enabled=False)
    assert control.limit == 48
    assert not control.on_throttle(level=5, generation=control.generation)
    assert control.limit == 48


@pytest.mark.parametrize(
    "policy",
    [{"initial_limit": 0}, {"decrease_factor": 1.0}, {"probe_interval": -1}],
)
def test_policy_rejects_nonsense_with_invalid_argument_error(policy: dict[str, Any]) -> None:
    """A bad ThrottlePolicy field raises InvalidArgumentError naming the field."""
    with pytest.raises(InvalidArgumentError, match=next(iter(policy))):
        ThrottlePolicy(**policy)


@given(
    st.lists(
        st.tuples(st.sampled_from(["success", "429", "503", "tick"]), st.integers(1, 80)),
        max_size=300,
    ),
    st.integers(1, 64),
)
def test_limit_stays_between_one_and_max_concurrency(
    events: list[tuple[str, int]], max_concurrency: int
) -> None:
    """Whatever the sequence of outcomes, 1 <= limit <= max_concurrency."""
    clock = FakeClock()
    control = _controller(max_concurrency, clock)
    for kind, level in events:
        if kind == "success":
            control.on_success(level)
        elif kind == "429":
            control.on_throttle(level, control.generation - level % 2)
        elif kind == "503":
            control.on_throttle(None, control.generation)
        else:
            clock.now += level / 10
        assert 1 <= control.limit <= max_concurrency


def _simulate(cap: int, rounds: int, clock: FakeClock, control: LimitController) -> list[int]:
    """Round trips against a server admitting ``cap`` in flight; the 429 count per round."""
    throttled = []
    for _ in range(rounds):
        generation = control.generation
        levels = range(1, control.limit + 1)  # the window is full every round trip
        outcomes = [(level, level <= cap) for level in levels]
        for level, admitted in outcomes:
            if admitted:
                control.on_success(level)
            else:
                control.on_throttle(level, generation)
        throttled.append(sum(not admitted for _, admitted in outcomes))
        clock.now += 0.02
    return throttled


@pytest.mark.parametrize("cap", [1, 3, 8, 16, 24, 32, 50, 64])
def test_finds_a_servers_cap_and_then_rarely_exceeds_it(cap: int) -> None:
    """Against a fixed cap, max_concurrency=64 settles at the cap with a 429 per probe only."""
    clock = FakeClock()
    control = _controller(64, clock)
    throttled = _simulate(cap, 500, clock, control)  # 10 s of 20 ms round trips
    assert control.limit in (cap, cap + 1)
    # Finding it costs less than the initial window twice over (one 429 at most halves)...
    assert sum(throttled[:50]) < 2 * ThrottlePolicy().initial_limit
    # ...and then at most one probe a second, each costing one 429.
    assert sum(throttled[50:]) <= 10


def test_throttles_that_pause_the_client_make_probing_ten_times_rarer() -> None:
    """With Retry-After pauses, the hold at the ceiling is ten pauses, counted after it."""
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=16, probe_interval=1.0)
    control.on_throttle(level=9, generation=control.generation, pause=2.0)
    assert control.limit == 8
    clock.now += 2.0 + 19.9  # the pause, then just short of ten pauses
    for _ in range(100):
        control.on_success(level=control.limit)
    assert control.limit == 8
    clock.now += 0.2
    for _ in range(100):
        control.on_success(level=control.limit)
    assert control.limit == 9
