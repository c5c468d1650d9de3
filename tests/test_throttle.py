"""The concurrency control law as pure logic: a fake clock, simulated servers, no sleeps."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fake_clock import FakeClock
from twilio_conf_insights import InvalidArgumentError, ThrottlePolicy
from twilio_conf_insights._throttle import LimitController


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
    assert control.limit == 28  # a new burst: the cut to 32 was not enough (next test)


def test_a_429_at_the_level_the_last_cut_called_safe_cuts_by_an_eighth() -> None:
    """The client counts more in flight than the server does; the cap is found in few steps.

    A 429 at or above the level the last cut called safe (and not a probe's) says that cut
    was not enough: stepping down one slot per round trip would pay a burst per step.
    """
    control = _controller(initial_limit=40)
    control.on_throttle(level=23, generation=control.generation)
    assert control.limit == 22  # the first 429: just below its level
    control.on_throttle(level=22, generation=control.generation)
    assert control.limit == 19  # floor(22 * 7 / 8)
    control.on_throttle(level=19, generation=control.generation)
    assert control.limit == 16
    control.on_throttle(level=3, generation=control.generation)
    assert control.limit == 8  # below the safe level: sharing, but never more than halved
    control = _controller(initial_limit=8)
    control.on_throttle(level=5, generation=control.generation)
    control.on_throttle(level=4, generation=control.generation)
    assert control.limit == 3  # floor(4 * 7 / 8): a small limit steps down a slot


def _busy(control: LimitController, times: int = 100) -> None:
    for _ in range(times):
        control.on_success(level=control.limit)


def test_the_limit_holds_at_the_ceiling_then_probes_by_doubling_steps() -> None:
    """At the ceiling the limit waits probe_interval, then probes 1, 2, 4, 4... slots above."""
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=16, probe_interval=1.0)
    control.on_throttle(level=11, generation=control.generation)
    assert control.limit == 10
    _busy(control)
    assert control.limit == 10  # no time has passed: held
    seen = []
    for _ in range(4):
        clock.now += 1.0
        _busy(control)
        seen.append(control.limit)
    assert seen == [11, 13, 17, 21]
    control.on_throttle(level=21, generation=control.generation)  # the probe found the cap
    assert control.limit == 20
    clock.now += 1.5  # a failed probe doubles the hold: not yet
    _busy(control)
    assert control.limit == 20
    clock.now += 0.5
    _busy(control)
    assert control.limit == 21  # and the step starts again at one


def test_a_429_overtaken_by_a_probe_returns_a_fleets_limit_to_the_safe_level() -> None:
    """During a probe, a 429 at the level held safe, for a law that infers no contention (a
    fleet's), came to a request the probe's own overtook: the limit goes back to the safe
    level, not below it; the failed probe still doubles the hold."""
    level = 16
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=32, probe_interval=1.0, infer_contention=False)
    control.on_throttle(level=17, generation=control.generation)
    assert control.limit == 16
    clock.now += 1.0
    _busy(control)
    assert control.limit == 17  # the probe
    control.on_throttle(level=level, generation=control.generation)
    assert (control.limit, control.ceiling) == (16, 16)
    clock.now += 1.5
    _busy(control)
    assert control.limit == 16  # a failed probe: the hold doubled to 2 s
    clock.now += 0.5
    _busy(control)
    assert control.limit == 17
    control.on_throttle(level=17, generation=control.generation)  # the probe's own excess
    assert control.limit == 16


def test_the_rest_of_a_failed_probes_burst_keeps_a_fleets_safe_level() -> None:
    """More 429s of the same probe (sent before the cut, overtaken too) refine nothing below
    the safe level; a 429 far below it (more than the probe added) says the cap fell."""
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=32, probe_interval=1.0, infer_contention=False)
    control.on_throttle(level=17, generation=control.generation)
    clock.now += 1.0
    _busy(control)
    probe = control.generation
    control.on_throttle(level=16, generation=probe)
    control.on_throttle(level=15, generation=probe)
    control.on_throttle(level=16, generation=probe)
    assert control.limit == 16
    clock.now += 2.0
    _busy(control)
    assert control.limit == 17  # the next probe, by one slot
    control.on_throttle(level=5, generation=control.generation)
    assert control.limit < 16  # not the probe's: the cap fell


def test_a_client_inferring_contention_cuts_below_the_safe_level_after_a_probe() -> None:
    """One client's law reads a 429 at its safe level during a probe as its own excess (or
    another client's share): just below it, as before any fleet."""
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=32, probe_interval=1.0)
    control.on_throttle(level=17, generation=control.generation)
    clock.now += 1.0
    _busy(control)
    assert control.limit == 17
    control.on_throttle(level=16, generation=control.generation)
    assert control.limit == 15


def test_failed_probes_double_the_hold_up_to_eight_intervals() -> None:
    """Against a fixed cap each failed probe waits twice as long, at most 8 probe_intervals."""
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=16, probe_interval=1.0)
    control.on_throttle(level=11, generation=control.generation)
    waits = []
    for _ in range(6):
        waited = 0.0
        while control.limit == 10:
            clock.now += 0.25
            waited += 0.25
            _busy(control)
        waits.append(waited)
        control.on_throttle(level=11, generation=control.generation)  # the probe fails
        assert control.limit == 10
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_probe_that_holds_brings_the_hold_back_down() -> None:
    """After failed probes, each probe that passes without a 429 halves the hold again."""
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=16, probe_interval=1.0)
    control.on_throttle(level=11, generation=control.generation)
    for _ in range(3):  # holds of 1, 2 and 4 s, each probe failing: the next hold is 8 s
        while control.limit == 10:
            clock.now += 0.25
            _busy(control)
        control.on_throttle(level=11, generation=control.generation)
    clock.now += 8.0
    _busy(control)
    assert control.limit == 11  # probed, and this time no 429 comes
    clock.now += 7.9
    _busy(control)
    assert control.limit == 11  # the hold is still 8 s for the probe that is running...
    clock.now += 0.1
    _busy(control)
    assert control.limit == 13  # ...which held: the next hold is 4 s
    clock.now += 3.9
    _busy(control)
    assert control.limit == 13
    clock.now += 0.1
    _busy(control)
    assert control.limit == 17


def test_a_429_below_the_ceiling_means_sharing_and_cuts_by_the_contention_factor() -> None:
    """Below a level known to be safe a 429 is another client's doing: a fractional cut.

    From then on every 429 cuts so and doubles the hold before the next probe (the account
    is at its cap), and a client with few slots holds shorter, down to half.
    """
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=40, probe_interval=1.0)
    control.on_throttle(level=25, generation=control.generation)
    assert control.limit == 24  # its own excess: just below the level
    control.on_throttle(level=20, generation=control.generation)
    assert control.limit == 15  # below it: floor(20 * 0.75); the hold doubles to 2 s
    clock.now += 1.5
    _busy(control)
    assert control.limit == 15  # 15 of 16 slots: 1.875 s of hold, not over yet
    clock.now += 0.5
    _busy(control)
    assert control.limit == 16  # probed
    control.on_throttle(level=16, generation=control.generation)
    assert control.limit == 12  # a contended client's failed probe: floor(16 * 0.75)
    control.on_throttle(level=8, generation=control.generation)
    assert control.limit == 6  # the hold is now at its cap, 8 s
    clock.now += 3.9
    _busy(control)
    assert control.limit == 6
    clock.now += 0.1  # 6 of 16 slots: 3 s would do, but never less than half
    _busy(control)
    assert control.limit == 7


def test_without_contention_inference_a_429_below_the_safe_level_is_the_clients_own() -> None:
    """infer_contention=False (a budget shared by the fleet): no fair-share cut, no longer hold.

    The same 429s that make a lone client contended (the test above) here read as the cap
    itself being lower: cut by an eighth, then one slot below a probe's level.
    """
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=40, probe_interval=1.0, infer_contention=False)
    control.on_throttle(level=25, generation=control.generation)
    assert control.limit == 24
    control.on_throttle(level=20, generation=control.generation)
    assert control.limit == 17  # floor(20 * 0.875), not the contended floor(20 * 0.75)
    clock.now += 1.0  # the base hold (a contended client would hold 2 s)
    _busy(control)
    assert control.limit == 18  # probed
    control.on_throttle(level=18, generation=control.generation)
    assert control.limit == 17  # the probe's own excess: one slot


def test_a_cut_held_up_by_the_floor_is_not_known_to_be_safe() -> None:
    """A lone client against a cap far below its limit is not mistaken for a shared one."""
    control = _controller(initial_limit=40)
    control.on_throttle(level=2, generation=control.generation)
    assert control.limit == 20  # at most halved, though the 429 came at level 2
    control.on_throttle(level=2, generation=control.generation)
    assert control.limit == 10  # halved again: 2 was never below a level known to be safe
    control.on_throttle(level=10, generation=control.generation)
    assert control.limit == 9  # its own excess, not a contended client's cut to 7


def test_a_probe_that_holds_ends_the_contention() -> None:
    """Once the other clients have gone quiet, a 429 is this client's own excess again."""
    clock = FakeClock()
    control = _controller(clock=clock, initial_limit=40, probe_interval=1.0)
    control.on_throttle(level=30, generation=control.generation)
    control.on_throttle(level=20, generation=control.generation)  # below 29: contended
    assert control.limit == 15
    for _ in range(2):  # the first probe starts; the second starts only if the first held
        clock.now += 8.0
        _busy(control)
    assert control.limit == 18  # probed by 1, then by 2
    control.on_throttle(level=18, generation=control.generation)
    assert control.limit == 17  # a probe's own excess: one slot, not floor(18 * 0.75)


def test_a_stray_429_below_the_safe_level_does_not_cost_a_fixed_cap_for_good() -> None:
    """After one 429 of another client, a lone client still settles at the cap."""
    clock = FakeClock()
    control = _controller(64, clock)
    _simulate(32, 100, clock, control)
    control.on_throttle(level=5, generation=control.generation)  # someone else, once
    throttled = _simulate(32, 1000, clock, control)
    assert control.limit in (32, 33)
    assert sum(throttled[500:]) <= 10


@pytest.mark.parametrize(
    ("level", "enabled", "pauses"),
    [(None, True, True), (1, True, True), (2, True, False), (5, False, True)],
    ids=["503", "alone-in-flight", "lower-concurrency-explains-it", "pinned"],
)
def test_retry_after_pauses_the_client_only_where_a_lower_limit_cannot_help(
    level: int | None, enabled: bool, pauses: bool
) -> None:
    """A 503's Retry-After pauses the client, a 429's only when alone in flight or pinned."""
    assert _controller(enabled=enabled).pauses_client(level) is pauses


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
    [
        {"initial_limit": 0},
        {"decrease_factor": 1.0},
        {"contention_factor": 0.0},
        {"probe_interval": -1},
    ],
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


@pytest.mark.parametrize(
    ("cap", "max_concurrency"),
    [
        *[(cap, 64) for cap in (1, 3, 8, 16, 24, 32, 50, 64)],
        *[(15, 16), (31, 32), (63, 64)],  # a cap just below max_concurrency: probes reach it
    ],
)
def test_finds_a_servers_cap_and_then_rarely_exceeds_it(cap: int, max_concurrency: int) -> None:
    """Against a fixed cap the client settles at the cap with a 429 per (ever rarer) probe."""
    clock = FakeClock()
    control = _controller(max_concurrency, clock)
    throttled = _simulate(cap, 500, clock, control)  # 10 s of 20 ms round trips
    assert control.limit in (cap, cap + 1)
    # Finding it costs less than the initial window twice over (one 429 at most halves)...
    assert sum(throttled[:50]) < 2 * ThrottlePolicy().initial_limit
    # ...and then ever rarer probes (the hold doubles up to 8 probe_intervals), one 429 each.
    assert sum(throttled[50:]) <= 10
    assert sum(throttled[250:]) <= 5


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
