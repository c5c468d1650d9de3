"""One account's concurrency budget shared by many clients: the rules, as pure logic.

Twilio caps the requests an *account* has in flight. Clients that each find the cap by
themselves (one :class:`~twilio_conf_insights.AdaptiveLimiter` each) each probe above
their share on their own, so the 429s grow with their number, and none of them can go
below one request in flight. A fleet that shares the budget runs the one law of
:mod:`twilio_conf_insights._throttle` on the fleet's total instead:

* **The fleet's limit** is moved by :class:`~twilio_conf_insights._throttle.LimitController`.
  A request's *level* is the number of the fleet's requests in flight when its lease was
  granted, itself included; its *generation* is the fleet's. :class:`FleetLaw` applies the
  law to a state kept elsewhere (Redis): any member may apply a report to it, in turn.
* **Every request holds a lease**, granted while the fleet has fewer requests in flight
  than its limit. A lease expires ``lease_ttl`` after it was granted or last renewed:
  a member renews its own while it lives, so a dead member's leases come back within
  ``lease_ttl``.
* **Fairness.** While other members wait, no member holds more than its share,
  ``ceil(limit / contenders)`` (members holding leases or waiting), and the waiting
  members stand in line: the least-served first, then the longest waiting. Up to
  ``floor(limit / contenders)`` leases each, which every member can have at once, a
  member takes what is free; beyond that (the remainder, which goes round) a member takes
  a free lease only if fewer members stand before it in line than there are free leases.
  A member waits from its first refused request, or from its last one that was served
  (it goes to the back of the line), until ``wait_ttl`` after its last request (it asks
  again while it still wants leases); :meth:`LeaseTable.next_in_line` is whom a freed
  leases should wake.
* **Keeping a lease.** A member whose request ends while another of its requests waits
  may hand the lease straight to that request, without asking the budget, while it holds
  no more than its *quota* (:func:`quota`): every lease it holds while nobody else waits,
  its floor share while others wait, and fewer than it holds when the fleet has more in
  flight than its limit (after a cut). The swap leaves the fleet's total unchanged, and
  within the quota the budget would have granted the lease back to it anyway: it only
  saves the round trip during which the slot would stand idle. Each call's answer brings
  the member's quota; a member that starts waiting tells those holding more than the new
  floor share the new floor share and share (:meth:`LeaseTable.over_share`), which they
  then keep to.
* **A turn at the remainder.** A member granted one lease of the remainder (it then holds
  more than its floor share, and no more than ``ceil(limit / contenders)``, the
  :func:`share` each answer also brings) keeps handing it to its own requests for
  ``REMAINDER_TURN`` seconds, then gives it back to go round. Handing the remainder on at
  every request instead made each of those requests a hand-off through Redis (a release, a
  wake, an acquire) during which the slot stood idle or held no request. Over many turns
  the remainder still goes round evenly; a member that starts waiting gets its share from
  the others' turns' ends, within ``REMAINDER_TURN``.

:class:`LeaseTable` keeps a budget in memory exactly as the Redis scripts of
:mod:`._budget_redis` keep it in Redis: it is the reference the scripts are tested
against, and what the fleet simulation (``benchmarks/fleet_sim.py``) runs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .._throttle import LimitController, ThrottlePolicy

__all__ = [
    "FLEET_DECREASE_FACTOR",
    "FLEET_PROBE_INTERVAL",
    "REMAINDER_TURN",
    "FleetLaw",
    "Grant",
    "LeaseTable",
    "admits",
    "fleet_policy",
    "keeps",
    "kept_level",
    "quota",
    "share",
]

#: The fleet's ``ThrottlePolicy.probe_interval`` unless a policy is given (a client's: 0.15).
FLEET_PROBE_INTERVAL = 0.3


#: The fleet's ``ThrottlePolicy.decrease_factor`` unless a policy is given (a client's: 0.5).
#: A cut of the fleet's limit holds back every member; its levels count leases, held a little
#: longer than Twilio counts the requests, so the first cuts after a burst land a few slots
#: off. Cutting at most a quarter per step, the fleet settles at the cap sooner; in the
#: simulation at a cap of 64 when it was introduced, 92-93% of the cap used instead of 89%
#: (3 workers), 90.5% instead of 88.8% (100), with 0.1% of responses 429 either way.
FLEET_DECREASE_FACTOR = 0.75
#: How long a member keeps a lease of the remainder for its own requests before giving it
#: back to go round (see the module docs): a few of a Twilio request's round trips, and
#: short beside the second over which the fleet's shares are meant to be even.
REMAINDER_TURN = 0.1


def fleet_policy(throttle: ThrottlePolicy | None) -> ThrottlePolicy:
    """The law's settings for a fleet whose members were given ``throttle`` (or none).

    The fleet's levels count every member: a 429 below a level known to be safe says that
    the cap itself is lower, not that another member took capacity, so the law does not
    infer contention (a member's fallback limiter, alone, does). Without settings of its
    own, the fleet also probes less often than one client: it is the account's whole load,
    its cap moves only when Twilio moves it, and each probe above it costs 429s across the
    fleet.
    """
    if throttle is None:
        return ThrottlePolicy(
            infer_contention=False,
            probe_interval=FLEET_PROBE_INTERVAL,
            decrease_factor=FLEET_DECREASE_FACTOR,
        )
    return attrs.evolve(throttle, infer_contention=False)


def admits(
    *, in_flight: int, limit: int, held: int, contenders: int, others_wait: bool, ahead: int
) -> bool:
    """Whether a member holding ``held`` leases may take one more.

    ``contenders`` counts the members holding or waiting, this one included;
    ``others_wait`` says whether another member waits, and ``ahead`` how many waiting
    members stand before this one in line.
    """
    free = limit - in_flight
    if free <= 0:
        return False
    if not others_wait:
        return True
    if held >= -(-limit // contenders):
        return False  # its share is full
    return held < limit // contenders or ahead < free


def keeps(*, held: int, quota: int, share: int = 0, in_turn: bool = False) -> bool:
    """Whether a member may hand an ending request's lease to another of its requests.

    Without asking the budget: ``held`` counts the member's leases, the ending request's
    included; ``quota`` and ``share`` are the member's last answer's, and ``in_turn`` says
    whether its turn at the remainder (``REMAINDER_TURN`` from the grant that took it above
    its quota) still runs.
    """
    return held <= quota or (in_turn and held <= share)


def kept_level(*, fleet_in_flight: int, limit: int, quota: int) -> int:
    """The level of a request on a kept lease: the fleet's total, which the swap leaves as is.

    Not the lease's first level, which may be long out of date: a 429 at a low level would
    cut the limit deep. While others wait (a ``quota`` below the ``limit``), the fleet's
    ``limit``: an upper bound (a waiter takes a lease that comes free unless its share is
    full), and the level at which a 429 is the probe's. Otherwise the last answer's
    ``fleet_in_flight``.
    """
    fleet = limit if quota < limit else fleet_in_flight
    return max(1, fleet_in_flight, fleet)


def quota(*, in_flight: int, limit: int, held: int, contenders: int, others_wait: bool) -> int:
    """How many leases a member holding ``held`` may keep for its own waiting requests.

    All it holds while no other member waits; its floor share, ``floor(limit /
    contenders)``, while others wait (a share :func:`admits` always grants); and, when the
    fleet holds more than ``limit`` (the limit was cut), its holding less the excess, so
    that the fleet comes down to the new limit.
    """
    if in_flight > limit:
        return max(0, held - (in_flight - limit))
    if not others_wait:
        return limit
    return limit // contenders


def share(*, in_flight: int, limit: int, held: int, contenders: int, others_wait: bool) -> int:
    """The most leases a member may keep during its turn at the remainder.

    Its whole share, ``ceil(limit / contenders)``, while others wait (no member holds more:
    :func:`admits`); otherwise what :func:`quota` allows.
    """
    if in_flight > limit or not others_wait:
        return quota(
            in_flight=in_flight, limit=limit, held=held, contenders=contenders, others_wait=False
        )
    return -(-limit // contenders)


class FleetLaw:
    """The fleet's limit law, applied by one member to a state kept in a shared store.

    A replica of the shared :class:`LimitController`: :meth:`load` takes the stored state
    and its ``version``, a report (:meth:`on_success`, :meth:`on_throttle`) moves it and
    says whether the state changed, and :meth:`dump` is what to store (under version + 1,
    if the store still holds ``version``; else load the newer state and apply the report
    again). ``clock`` must be one that every member shares (the wall clock, by default).
    """

    def __init__(
        self,
        max_concurrency: int,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._control = LimitController(
            max_concurrency, policy if policy is not None else ThrottlePolicy(), clock
        )
        #: The version of the stored state this replica reflects (0: none stored yet).
        self.version = 0

    @property
    def limit(self) -> int:
        """The fleet's limit: leases granted at most at once."""
        return self._control.limit

    @property
    def generation(self) -> int:
        """The fleet's generation (bumped by every decrease)."""
        return self._control.generation

    @property
    def ceiling(self) -> int | None:
        """The level learned to be safe (``None`` before any 429)."""
        return self._control.ceiling

    @property
    def max_concurrency(self) -> int:
        """The most the fleet's limit may grow to."""
        return self._control.max

    def load(self, version: int, state: str) -> None:
        """Take over the stored ``state`` (:meth:`dump`'s text) at ``version``.

        Raises :class:`ValueError` on text that is not such a state (this replica stays).
        """
        try:
            parsed = json.loads(state)
        except ValueError:
            raise ValueError("law state: not JSON") from None
        if not isinstance(parsed, dict):
            raise ValueError("law state: not an object")
        self._control.restore(parsed)
        self.version = version

    def dump(self) -> str:
        """The state as text, for the shared store."""
        return json.dumps(self._control.snapshot(), separators=(",", ":"))

    def may_grow(self, level: int) -> bool:
        """Whether a success at ``level`` may change the state (cheap: no snapshot).

        ``False`` where :meth:`LimitController.on_success` returns before touching anything:
        at the top, pinned, or the slots not in use.
        """
        control = self._control
        return control.limit < control.max and control.policy.enabled and 2 * level >= control.limit

    def on_success(self, level: int) -> bool:
        """A response that was not throttled, sent at fleet ``level``; whether the state changed."""
        if not self.may_grow(level):
            return False
        before = self._control.snapshot()
        self._control.on_success(level)
        return self._control.snapshot() != before

    def on_throttle(self, level: int | None, generation: int, pause: float | None = None) -> bool:
        """A 429 at fleet ``level`` (``None``: a 503) sent in ``generation``; whether changed."""
        before = self._control.snapshot()
        self._control.on_throttle(level, generation, pause)
        return self._control.snapshot() != before


@attrs.frozen
class Grant:
    """A lease granted to a member: its id, and the request's level and generation."""

    lease: str
    level: int
    generation: int


class LeaseTable:
    """A fleet's leases in memory, as the Redis scripts keep them (see the module docs).

    ``law`` supplies the fleet's limit and generation; times are the caller's (seconds).
    """

    def __init__(self, law: FleetLaw, *, lease_ttl: float, wait_ttl: float) -> None:
        self.law = law
        self.lease_ttl = lease_ttl
        self.wait_ttl = wait_ttl
        #: lease -> (member, expiry)
        self._leases: dict[str, tuple[str, float]] = {}
        self._held: dict[str, int] = {}
        #: member -> (when it was first refused, when last)
        self._waiting: dict[str, tuple[float, float]] = {}
        self._serial = 0

    def in_flight(self, now: float) -> int:
        """Leases held now (expired ones given back first)."""
        self._expire(now)
        return len(self._leases)

    def held(self, member: str) -> int:
        """Leases ``member`` holds (as of the last call that expired leases)."""
        return self._held.get(member, 0)

    def waiting(self, now: float) -> list[str]:
        """Members waiting now, in line: the least-served first, then the longest waiting."""
        self._expire(now)
        return sorted(self._waiting, key=lambda m: (self.held(m), self._waiting[m][0], m))

    def next_in_line(self, now: float, *, besides: str = "") -> list[str]:
        """The waiting members (other than ``besides``) to wake: one per free lease."""
        free = self.law.limit - self.in_flight(now)
        return [m for m in self.waiting(now) if m != besides][: max(0, free)]

    def acquire(self, member: str, count: int, now: float) -> list[Grant]:
        """Up to ``count`` leases for ``member``; it waits if it got fewer (0: it stops)."""
        self._expire(now)
        grants: list[Grant] = []
        while len(grants) < count and self._admits(member):
            self._serial += 1
            lease = f"{member}|{self._serial}"
            self._leases[lease] = (member, now + self.lease_ttl)
            self._held[member] = self.held(member) + 1
            grants.append(Grant(lease, len(self._leases), self.law.generation))
        if len(grants) < count:
            # Served at all: to the back of the line; refused: its place is kept.
            since = self._waiting.get(member, (now, now))[0] if not grants else now
            self._waiting[member] = (since, now)
        else:
            self._waiting.pop(member, None)
        return grants

    def release(self, lease: str, now: float) -> bool:
        """Give ``lease`` back; ``False`` if it had expired already."""
        self._expire(now)
        entry = self._leases.pop(lease, None)
        if entry is None:
            return False
        self._drop(entry[0])
        return True

    def renew(self, member: str, leases: Iterable[str], now: float) -> int:
        """Push the expiry of ``member``'s live ``leases`` to ``now + lease_ttl``; how many."""
        self._expire(now)
        renewed = 0
        for lease in leases:
            entry = self._leases.get(lease)
            if entry is not None and entry[0] == member:
                self._leases[lease] = (member, now + self.lease_ttl)
                renewed += 1
        return renewed

    def quota(self, member: str, now: float) -> int:
        """How many leases ``member`` may keep for its own waiting requests (:func:`quota`)."""
        return quota(**self._standing(member, now))

    def share(self, member: str, now: float) -> int:
        """How many ``member`` may keep during its turn at the remainder (:func:`share`)."""
        return share(**self._standing(member, now))

    def _standing(self, member: str, now: float) -> dict[str, Any]:
        """What :func:`quota` and :func:`share` need to know of ``member``."""
        self._expire(now)
        return {
            "in_flight": len(self._leases),
            "limit": self.law.limit,
            "held": self.held(member),
            "contenders": len(set(self._held) | set(self._waiting) | {member}),
            "others_wait": any(m != member for m in self._waiting),
        }

    def over_share(self, now: float) -> list[str]:
        """The members to tell the new shares (:meth:`shares`): those above the floor share.

        Asked when a member starts waiting (it was refused, and stood in no line before).
        They keep no more than the floor share from then on, and, during a turn at the
        remainder, no more than the share.
        """
        self._expire(now)
        if not self._waiting:
            return []
        floor, _ = self.shares(now)
        return sorted(m for m, held in self._held.items() if held > floor)

    def shares(self, now: float) -> tuple[int, int]:
        """The floor share and the share of the members holding or waiting now."""
        self._expire(now)
        contenders = max(1, len(set(self._held) | set(self._waiting)))
        return self.law.limit // contenders, -(-self.law.limit // contenders)

    def _admits(self, member: str) -> bool:
        held = self.held(member)
        # Not waiting: at the back of the line among those holding as many.
        mine = (held, self._waiting.get(member, (math.inf, 0.0))[0], member)
        others = [m for m in self._waiting if m != member]
        return admits(
            in_flight=len(self._leases),
            limit=self.law.limit,
            held=held,
            contenders=len(set(self._held) | set(self._waiting) | {member}),
            others_wait=bool(others),
            ahead=sum((self.held(m), self._waiting[m][0], m) < mine for m in others),
        )

    def _expire(self, now: float) -> None:
        for lease, (member, expiry) in list(self._leases.items()):
            if expiry <= now:
                del self._leases[lease]
                self._drop(member)
        for member, (_, last) in list(self._waiting.items()):
            if last + self.wait_ttl <= now:
                del self._waiting[member]

    def _drop(self, member: str) -> None:
        held = self._held[member] - 1
        if held:
            self._held[member] = held
        else:
            del self._held[member]
