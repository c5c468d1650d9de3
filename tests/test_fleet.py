"""The shared budget's rules as pure logic: the fleet's law, the lease table, fairness."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fake_clock import FakeClock
from twilio_conf_insights import ThrottlePolicy
from twilio_conf_insights._throttle import LimitController
from twilio_conf_insights.distributed._fleet import (
    FLEET_DECREASE_FACTOR,
    FLEET_PROBE_INTERVAL,
    FleetLaw,
    LeaseTable,
    admits,
    fleet_policy,
    keeps,
    kept_level,
    quota,
    share,
)

#: A report: ("ok", level) or ("429", level), and how far the clock moves first.
reports = st.lists(
    st.tuples(st.sampled_from(["ok", "429", "503"]), st.integers(1, 80), st.floats(0, 0.5)),
    max_size=120,
)


def _apply(law: Any, kind: str, level: int) -> bool:
    if kind == "ok":
        return bool(law.on_success(level))
    generation = law.generation if level % 3 else max(0, law.generation - 1)  # some stale
    return bool(law.on_throttle(None if kind == "503" else level, generation))


@given(reports)
def test_the_fleet_law_applied_in_turn_by_replicas_is_the_one_law(events: Any) -> None:
    """Members taking turns (load the stored state, apply a report, store) move the limit
    exactly as one LimitController given every report would."""
    clock = FakeClock(1000.0)
    one = LimitController(64, ThrottlePolicy(), clock)
    members = [FleetLaw(64, ThrottlePolicy(), clock) for _ in range(3)]
    stored, version = members[0].dump(), 0
    for index, (kind, level, step) in enumerate(events):
        clock.now += step
        member = members[index % 3]
        member.load(version, stored)
        _apply(one, kind, level)
        if _apply(member, kind, level):
            stored, version = member.dump(), version + 1
        assert json.loads(stored) == one.snapshot()
        assert member.limit == one.limit and member.generation == one.generation


@given(reports)
def test_a_report_says_whether_it_changed_the_state(events: Any) -> None:
    """on_success/on_throttle return True exactly when the stored state would differ."""
    clock = FakeClock(1000.0)
    law = FleetLaw(32, ThrottlePolicy(), clock)
    for kind, level, step in events:
        clock.now += step
        before = law.dump()
        assert _apply(law, kind, level) == (law.dump() != before)


def test_a_restored_controller_keeps_its_own_policy_and_bounds_the_limit() -> None:
    """restore() takes the state, keeps this controller's max and policy, clamps the limit."""
    source = LimitController(200, ThrottlePolicy(initial_limit=150))
    state = source.snapshot()
    target = LimitController(64, ThrottlePolicy(probe_interval=2.0))
    target.restore(state)
    assert target.limit == 64 and target.max == 64
    assert target.policy.probe_interval == 2.0
    target.restore({**state, "limit": 0})
    assert target.limit == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit", "8"),
        ("limit", True),
        ("generation", None),
        ("hold", float("nan")),
        ("contended", 1),
        ("ceiling", 2.5),
    ],
)
def test_a_state_that_is_not_a_snapshot_is_refused_and_changes_nothing(
    field: str, value: object
) -> None:
    """A field of the wrong type (or a missing one) raises ValueError; the replica stays."""
    law = FleetLaw(32, ThrottlePolicy())
    state = json.loads(law.dump())
    law.on_throttle(7, law.generation)
    before = law.dump()
    with pytest.raises(ValueError, match=field):
        law.load(5, json.dumps({**state, field: value}))
    assert law.dump() == before and law.version == 0


@pytest.mark.parametrize("text", ["", "[1, 2]", "{", "null"])
def test_text_that_is_not_a_state_object_is_refused(text: str) -> None:
    """load() refuses text that is not a JSON object."""
    with pytest.raises(ValueError, match="law state"):
        FleetLaw(8).load(1, text)


def test_admits_follows_the_limit_the_share_and_the_line() -> None:
    """The admission rule, case by case: the limit, alone, the share, the floor, the line."""
    base = {"in_flight": 10, "limit": 16, "held": 5, "contenders": 3}
    assert not admits(**{**base, "in_flight": 16}, others_wait=False, ahead=0)
    assert admits(**{**base, "held": 15}, others_wait=False, ahead=0)  # nobody else waits
    assert not admits(**{**base, "held": 6}, others_wait=True, ahead=0)  # ceil(16/3) = 6
    assert admits(**{**base, "held": 4}, others_wait=True, ahead=5)  # below floor(16/3) = 5
    # The sixth lease of a member is one of the remainder: only for the first in line.
    assert admits(**base, others_wait=True, ahead=5)  # 6 free leases, 5 before it
    assert not admits(**{**base, "in_flight": 15}, others_wait=True, ahead=1)


def test_quota_and_share_while_others_wait_alone_and_after_a_cut() -> None:
    """The floor share may always be kept; during a turn at the remainder, the whole share
    (ceil); alone, the limit; above the limit (a cut), both come down by the excess."""
    base = {"in_flight": 14, "limit": 16, "held": 3, "contenders": 6}
    assert (quota(**base, others_wait=True), share(**base, others_wait=True)) == (2, 3)
    assert (quota(**base, others_wait=False), share(**base, others_wait=False)) == (16, 16)
    cut = {**base, "in_flight": 18}  # two leases over the limit
    assert quota(**cut, others_wait=True) == share(**cut, others_wait=True) == 1
    even = {**base, "contenders": 4}
    assert quota(**even, others_wait=True) == share(**even, others_wait=True) == 4


def test_a_lease_of_the_remainder_is_kept_only_during_the_turn() -> None:
    """Within the quota a lease is kept; above it, up to the share and only in the turn."""
    assert keeps(held=2, quota=2)
    assert keeps(held=3, quota=2, share=3, in_turn=True)
    assert not keeps(held=3, quota=2, share=3, in_turn=False)  # the turn ended: it goes round
    assert not keeps(held=4, quota=2, share=3, in_turn=True)  # never above the share


def test_a_kept_leases_level_is_the_limit_while_others_wait() -> None:
    """Others waiting (a quota below the limit), the fleet holds its whole limit; alone, the
    last answer's count is the best known."""
    assert kept_level(fleet_in_flight=12, limit=16, quota=2) == 16
    assert kept_level(fleet_in_flight=5, limit=16, quota=16) == 5
    assert kept_level(fleet_in_flight=0, limit=16, quota=16) == 1


def _table(limit: int = 16, ttl: float = 10.0) -> tuple[LeaseTable, FleetLaw]:
    law = FleetLaw(limit, ThrottlePolicy(enabled=False))
    return LeaseTable(law, lease_ttl=ttl, wait_ttl=1.0), law


def test_leases_are_granted_up_to_the_limit_with_the_fleets_level() -> None:
    """Grants carry the fleet's count in flight; beyond the limit the member waits."""
    table, law = _table(limit=4)
    first = table.acquire("a", 3, now=0.0)
    second = table.acquire("b", 3, now=0.0)
    assert [g.level for g in first + second] == [1, 2, 3, 4]
    assert {g.generation for g in first + second} == {law.generation}
    assert table.waiting(0.0) == ["b"]
    assert table.release(first[0].lease, now=0.1)
    assert not table.release(first[0].lease, now=0.1)  # twice: nothing more to give back
    assert table.in_flight(0.1) == 3


def test_an_expired_lease_comes_back_and_a_renewed_one_does_not() -> None:
    """Leases end lease_ttl after they were granted or renewed; a dead member's come back."""
    table, _ = _table(limit=4, ttl=3.0)
    dead = table.acquire("dead", 2, now=0.0)
    alive = table.acquire("alive", 2, now=0.0)
    assert table.acquire("late", 1, now=1.0) == []
    assert table.renew("alive", [g.lease for g in alive] + [dead[0].lease], now=2.0) == 2
    assert table.in_flight(2.9) == 4
    assert table.in_flight(3.0) == 2  # the dead member's two, at their expiry
    assert not table.release(dead[0].lease, now=3.0)
    assert len(table.acquire("late", 2, now=3.0)) == 2
    assert table.held("dead") == 0 and table.held("alive") == 2
    assert table.in_flight(5.0) == 2  # renewed at 2.0: until 5.0; "late"'s until 6.0
    assert table.held("alive") == 0


def _steady_state(table: LeaseTable, members: list[str], rounds: int) -> dict[str, int]:
    """Every member always wants more; each round every lease is released and re-asked for.

    Returns how many leases each member was granted over the rounds.
    """
    now = 0.0
    held: dict[str, list[str]] = {m: [] for m in members}
    granted = dict.fromkeys(members, 0)
    for member in members:
        grants = table.acquire(member, 32, now)
        held[member] += [g.lease for g in grants]
        granted[member] += len(grants)
    for _ in range(rounds):
        for member in members:
            now += 0.001
            if held[member]:
                table.release(held[member].pop(0), now)
            # The member asks for more, then whoever was woken asks too.
            for asker in [member, *table.next_in_line(now, besides=member)]:
                grants = table.acquire(asker, 32, now)
                held[asker] += [g.lease for g in grants]
                granted[asker] += len(grants)
    return granted


def test_no_member_holds_more_than_its_share_while_others_wait() -> None:
    """Three greedy members of a budget of 16 end up holding 6, 5 and 5 at most."""
    table, _ = _table(limit=16)
    _steady_state(table, ["a", "b", "c"], rounds=50)
    assert sorted(table.held(m) for m in "abc") == [5, 5, 6]


def test_with_more_members_than_leases_the_leases_go_round() -> None:
    """Twenty members, four leases: over many rounds each member is served about as often."""
    table, _ = _table(limit=4)
    members = [f"m{i}" for i in range(20)]
    granted = _steady_state(table, members, rounds=40)
    assert max(granted.values()) - min(granted.values()) <= 2
    assert table.in_flight(1.0) == 4


def test_a_member_alone_takes_the_whole_budget() -> None:
    """Without anyone else waiting, one member may hold every lease."""
    table, _ = _table(limit=16)
    assert len(table.acquire("solo", 32, now=0.0)) == 16


def test_next_in_line_wakes_one_member_per_free_lease_least_served_first() -> None:
    """A freed lease wakes the waiting member holding least (then the longest waiting)."""
    table, law = _table(limit=6)
    a = table.acquire("a", 4, now=0.0)
    table.acquire("b", 4, now=0.1)
    table.acquire("c", 4, now=0.2)
    assert table.held("b") == 2 and table.held("c") == 0
    assert table.next_in_line(0.3) == []  # nothing free
    table.release(a[0].lease, now=0.3)
    table.release(a[1].lease, now=0.3)
    assert table.next_in_line(0.3, besides="a") == ["c", "b"]
    assert law.limit == 6


def test_the_fleets_law_never_infers_contention_and_probes_less_by_default() -> None:
    """fleet_policy: contention inference off always; slower probing, shallower cuts only by
    default."""
    default = fleet_policy(None)
    assert not default.infer_contention
    assert default.probe_interval == FLEET_PROBE_INTERVAL > ThrottlePolicy().probe_interval
    assert default.decrease_factor == FLEET_DECREASE_FACTOR > ThrottlePolicy().decrease_factor
    given = fleet_policy(ThrottlePolicy(probe_interval=0.2, initial_limit=4))
    assert (given.infer_contention, given.probe_interval, given.initial_limit) == (False, 0.2, 4)
    assert given.decrease_factor == ThrottlePolicy().decrease_factor
