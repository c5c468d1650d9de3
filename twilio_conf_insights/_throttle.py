"""The control law of the concurrency limit: how throttling moves it. Pure logic, no I/O.

Twilio caps the requests an account may have in flight, answers 429 (error 20429) above
the cap, publishes no number, and lets several services share one account. The law finds
the cap from the responses alone (additive increase, multiplicative decrease, as TCP and
Netflix's concurrency-limits do), with two twists that waste almost nothing:

* **Every request carries its level**: how many requests of this client were in flight
  when it was sent, itself included. A 429 at level *n* says that *n* was too many, so the
  limit drops straight to ``n - 1`` (never below ``decrease_factor`` of the limit in one
  step). That level becomes the **ceiling**: a level known to be safe. The client counts
  a request in flight until it has read the response, the server only until it sent it, so
  the cap the client sees drifts: a 429 at the level the last cut called safe says that
  cut was not enough, and cuts by an eighth rather than one slot per round trip.
* **One decrease per burst**: every decrease opens a new *generation*; a throttle of a
  request sent in an earlier generation was sent before the client reacted: it counts as
  the same event, and may only refine the cut with its level.

* **A 429 below the last safe level means sharing** (``ThrottlePolicy.infer_contention``).
  A client's own excess is found at or above the level it last learned to be safe; a 429
  below it says that another client of the account took the capacity. From then on the
  client is *contended*: every 429 cuts multiplicatively (to ``contention_factor`` of its
  level), as in TCP's AIMD, and doubles the hold before the next probe (the account is at
  its cap, and every client's probe costs all of them a 429); a client with fewer than 16
  slots holds shorter (down to half), to move clients sharing a cap towards equal shares
  instead of keeping those they started with. They do not reliably get there: two
  clients sharing a cap often hold most and little of it for seconds on end (a known
  limitation; clients that share one ``SharedBudget`` do get there). A probe that holds
  (a whole hold without a 429) ends it. A limiter that shares one budget across every client of the
  account knows their total and turns this inference off: for it, such a 429 means the
  cap itself is lower than the last safe level, and it cuts as for its own excess.

Growth: starting at ``initial_limit``, one more slot per two successes (about 1.5x per
round trip, "slow start") while below the ceiling, as long as the slots are in use. At the
ceiling the limit holds for ``probe_interval`` seconds, then probes above it by 1, 2, then
4 slots per interval while no throttle comes, so capacity that another client of the
account gave back is taken up again within a few intervals. A probe that fails (a 429
above the last safe level) doubles the hold, up to 8 times the base interval, so that a
fixed cap costs few 429s; every successful probe halves it back. For a law that infers no
contention (a fleet's), a 429 during a probe at the safe level, or below it by less than
the probe went above it, came to a request the probe's requests overtook: the limit, and
the rest of that burst, stay at the safe level rather than below it. (A ``Retry-After``
raises the base interval to ten such waits: see below.) A 503 carries no level: it cuts
the limit by ``decrease_factor``.

A 429's ``Retry-After`` delays that request's retry (the retry policy honours it); it
pauses the whole client only when lowering the concurrency cannot explain the 429: when
the request was the only one in flight (a rate limit, or other clients hold the whole cap)
or the limit is pinned. A 503's ``Retry-After`` always pauses the whole client. Either
way a failed probe then costs that wait (the whole client's, or its request's, whose
report may hold up everything behind it): the hold before a probe becomes ten waits, and
counts from the wait's end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._errors import InvalidArgumentError
from ._validation import positive_int

__all__ = ["LimitController", "ThrottlePolicy"]

#: Hold at the ceiling this many times a server-requested wait before probing again.
_PAUSE_TO_HOLD = 10.0
#: Every failed probe, and every 429 of a contended client, doubles the hold at the ceiling,
#: up to this many times its base.
_MAX_HOLD = 8.0
#: The largest probe step, in slots: the same for every client, so that clients sharing an
#: account grow alike (a step that grew with the limit would favour the larger share).
_MAX_PROBE_STEP = 4
#: A contended client with fewer slots than this holds proportionally shorter (down to
#: half): the smaller shares grow faster, which is what evens them out.
_FULL_HOLD_LIMIT = 16
#: The cut of a 429 at the level the last cut called safe (that cut was not enough): small
#: enough to find the cap in two or three round trips, not so deep that it overshoots.
_SHORTFALL_FACTOR = 0.875
#: The law's state, as :meth:`LimitController.snapshot` names it: name -> (attribute, type).
_STATE: dict[str, tuple[str, type]] = {
    "limit": ("limit", int),
    "ceiling": ("ceiling", int),
    "generation": ("generation", int),
    "throttles": ("throttles", int),
    "successes": ("_successes", int),
    "held_since": ("_held_since", float),
    "probe_step": ("_probe_step", int),
    "safe": ("_safe", int),
    "base_hold": ("_base_hold", float),
    "hold": ("_hold", float),
    "burst_floor": ("_burst_floor", int),
    "contended": ("_contended", bool),
    "probe_failed": ("_probe_failed", bool),
}
#: The fields that may be ``None`` (nothing learned yet).
_OPTIONAL = frozenset({"ceiling", "safe"})


def _fraction(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 < value < 1:
        raise InvalidArgumentError(
            f"ThrottlePolicy.{attribute.name} must be between 0 and 1, got {value!r}"
        )


def _positive_int(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    positive_int(value, f"ThrottlePolicy.{attribute.name}")


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidArgumentError(f"ThrottlePolicy.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ThrottlePolicy:
    """How the client, as a whole, finds and keeps below Twilio's concurrency limit.

    ``enabled=False`` pins the concurrency at ``max_concurrency`` (a server-sent
    ``Retry-After`` still pauses the client: it is the server's explicit instruction).
    The documentation's Reliability guide says what each field changes.
    """

    #: Adapt the concurrency limit to throttling.
    enabled: bool = True
    #: The limit a client starts with (capped at ``max_concurrency``); it grows from there.
    #: Low on purpose: slow start reaches a high cap in a few round trips, while clients
    #: of a shared account that all start high meet the cap with a burst of 429s.
    initial_limit: int = attrs.field(default=8, validator=_positive_int)
    #: The most one throttle may cut at once (0.5: at most halve), and the cut of a 503.
    decrease_factor: float = attrs.field(default=0.5, validator=_fraction)
    #: Once a 429 came below the last safe level (another client took the capacity), every
    #: 429 cuts to this fraction of its level, to move clients sharing an account towards
    #: equal shares (which they do not reliably reach: see the module documentation).
    contention_factor: float = attrs.field(default=0.75, validator=_fraction)
    #: Seconds at the learned ceiling, without a throttle, before probing above it.
    probe_interval: float = attrs.field(default=0.15, validator=_non_negative)
    #: Pause every new request of the client for the server's ``Retry-After`` (a 503's,
    #: or a 429's that a lower concurrency cannot explain: see the module documentation).
    pause_on_retry_after: bool = True
    #: Read a 429 below the last level known to be safe as another client of the account
    #: taking capacity, and cut towards a fair share (see the module documentation). A
    #: limiter whose levels already count every client of the account (one budget shared
    #: by the fleet) sets it to ``False``.
    infer_contention: bool = True


class LimitController:
    """The limit, the learned ceiling and the generation; see the module documentation.

    ``clock`` is injectable so the law is tested with a fake clock, without sleeping.
    """

    def __init__(
        self,
        max_concurrency: int,
        policy: ThrottlePolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max = max_concurrency
        self.policy = policy
        self.limit = (
            min(max_concurrency, policy.initial_limit) if policy.enabled else max_concurrency
        )
        #: A level known to be safe, learned from the last 429; ``None`` before any.
        self.ceiling: int | None = None
        #: Bumped by every decrease; requests remember the generation they were sent in.
        self.generation = 0
        self.throttles = 0
        self._clock = clock
        self._successes = 0
        self._held_since = 0.0
        self._probe_step = 1
        #: The level last known to be safe: that of the last cut, or of a whole hold without
        #: a throttle (a probe raises the ceiling above it). ``None`` before any throttle.
        self._safe: int | None = None
        #: The hold at the ceiling before a probe, and what it returns to after a success.
        self._base_hold = policy.probe_interval
        self._hold = self._base_hold
        self._burst_floor = 1
        #: Whether a 429 came below a level known to be safe: the account is shared. Cleared
        #: by a probe that holds (the other clients have gone quiet).
        self._contended = False
        #: Whether a 429 came since the last probe began: the probe failed, or, contended,
        #: the account is at its cap (then the hold is not halved again).
        self._probe_failed = False

    def on_success(self, level: int) -> bool:
        """A response that was not throttled, sent at ``level``; whether the limit rose."""
        if self.limit >= self.max or not self.policy.enabled or 2 * level < self.limit:
            return False  # at the top, pinned, or the slots are not in use: nothing learned
        ceiling = self.ceiling
        if ceiling is not None and self.limit >= ceiling:
            now = self._clock()
            hold = self._hold
            if self._contended:
                hold *= min(1.0, max(0.5, self.limit / _FULL_HOLD_LIMIT))
            if now - self._held_since < hold:
                return False
            # Held long enough without a throttle: the cap may have grown; probe above it.
            self._held_since = now
            self._safe = ceiling
            self.ceiling = ceiling + self._probe_step
            self._probe_step = min(2 * self._probe_step, _MAX_PROBE_STEP)
            if not self._probe_failed:  # the last probe held: the next comes sooner
                self._hold = max(self._base_hold, self._hold / 2)
                self._contended = False
            self._probe_failed = False
            if self.ceiling >= self.max:
                self.ceiling = None
        self._successes += 1
        if self._successes < 2:
            return False
        self._successes = 0
        self.limit += 1
        if self.ceiling is not None and self.limit >= self.ceiling:
            self._held_since = self._clock()
        return True

    def on_throttle(self, level: int | None, generation: int, pause: float | None = None) -> bool:
        """A 429 sent at ``level`` (``None``: a 503, no level) in ``generation``; whether cut.

        ``pause`` is the wait the response asked for (``Retry-After``), if any: of the whole
        client or of this request's retry (see :meth:`pauses_client`).
        """
        if not self.policy.enabled:
            return False
        if pause:
            # When throttles carry a wait (the client's or the request's), a failed probe
            # costs that wait: probe ten times less often than that, counted from its end.
            self._base_hold = max(self.policy.probe_interval, _PAUSE_TO_HOLD * pause)
            self._hold = max(self._hold, self._base_hold)
            self._held_since = max(self._held_since, self._clock() + pause)
        if generation < self.generation:
            return self._same_burst(level)
        floor = max(1, math.ceil(self.limit * self.policy.decrease_factor))
        self._burst_floor = floor
        if level is None:
            lowered = floor if floor < self.limit else max(1, self.limit - 1)
        else:
            safe = self._safe
            # Probing: the ceiling was raised above the safe level (or cleared, when the
            # probe reached max_concurrency).
            probing = safe is not None and (self.ceiling is None or self.ceiling > safe)
            if self._contended or (
                safe is not None and level < safe and self.policy.infer_contention
            ):
                self._contended = True
                # Below a level known to be safe: another client of the account takes
                # capacity. Cut by a fraction, to move clients sharing an account towards
                # equal shares.
                cut = math.floor(level * self.policy.contention_factor)
            elif safe is not None and not probing:
                # At (or above) the level the last cut called safe: that cut was not enough
                # (the server counts fewer requests in flight than the client, which still
                # holds the responses it is reading). One slot per round trip would pay a
                # burst of 429s per step: cut by an eighth instead.
                cut = math.floor(level * _SHORTFALL_FACTOR)
            elif (
                probing
                and safe is not None
                and not self.policy.infer_contention
                and safe - self._probe_excess(safe) < level <= safe
            ):
                # A fleet's probe failed, but this request was sent at a level held safe for a
                # whole hold: overtaken on the way by the probe's requests (a fleet's members
                # send in any order; the server counts requests as they arrive). The probe was
                # the excess: back to the safe level, not below it (which cost the fleet a
                # slot for seconds after each probe). A client that infers contention reads
                # such a 429 as another client's share instead, and cuts below. Only levels the
                # probe's own requests can have overtaken: one far below says the cap fell.
                cut = safe
            else:
                # This client's own excess: the cap lies just below.
                cut = level - 1
            if probing or self._contended:
                # A failed probe (the ceiling was raised above the safe level), or any 429
                # of a shared account (it is at its cap: every client's probe costs all of
                # them), makes the next probe rarer, so that a fixed cap costs little.
                self._hold = min(2 * self._hold, _MAX_HOLD * self._base_hold)
                self._probe_failed = True
            lowered = min(self.limit, max(cut, floor))
            if probing and safe is not None and cut >= safe and not self.policy.infer_contention:
                # A fleet's probe was the excess and the safe level stands: the rest of its
                # burst (same generation, overtaken or not) may not cut below it either.
                self._burst_floor = max(floor, lowered)
            self.ceiling = lowered
            # A cut held up by the floor is not known to be safe: a 429 below it may still be
            # this client's own excess.
            self._safe = lowered if cut >= floor else None
            self._held_since = max(self._held_since, self._clock())
            self._probe_step = 1
        self.generation += 1
        self.throttles += 1
        self._successes = 0
        changed = lowered != self.limit
        self.limit = lowered
        return changed

    def pauses_client(self, level: int | None) -> bool:
        """Whether a throttle's ``Retry-After`` should pause the whole client.

        Only where a lower concurrency cannot be the answer: a 503 (no level), a 429 of a
        request that was alone in flight, or a limit that is pinned.
        """
        return level is None or level <= 1 or not self.policy.enabled

    def snapshot(self) -> dict[str, int | float | bool | None]:
        """The law's whole state as plain values (JSON-ready), for :meth:`restore`.

        With the two, processes that share a budget apply the one law in turn to one state
        kept in a shared store. The clock's readings are part of it: they must share a clock.
        """
        return {name: getattr(self, attribute) for name, (attribute, _) in _STATE.items()}

    def restore(self, state: Mapping[str, object]) -> None:
        """Take over a :meth:`snapshot` (of any controller); this one's policy and max stay.

        The state usually comes from another process: every field is checked, and the
        limit is kept within ``[1, max_concurrency]``. Raises :class:`ValueError` (leaving
        this controller as it was) on a state that is not a snapshot.
        """
        values: dict[str, object] = {}
        for name, (attribute, kind) in _STATE.items():
            value = state.get(name)
            if value is None and name in _OPTIONAL:
                values[attribute] = None
            elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise ValueError(f"law state: {name} is not finite")
                values[attribute] = float(value)
            elif isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
                values[attribute] = value
            else:
                raise ValueError(f"law state: {name} must be {kind.__name__}, got {value!r}")
        limit = values["limit"]
        assert isinstance(limit, int)  # checked above
        values["limit"] = min(self.max, max(1, limit))
        for attribute, value in values.items():
            setattr(self, attribute, value)

    def _probe_excess(self, safe: int) -> int:
        """How far the probe under way went above ``safe`` (1 once it reached the top)."""
        return self.ceiling - safe if self.ceiling is not None else 1

    def _same_burst(self, level: int | None) -> bool:
        """A 429 of a request sent before the last cut: it may only refine the cut.

        Its level is still evidence of where the cap lies (the lowest rejected level is the
        best estimate: the client counts a request in flight until it has read the
        response, a little longer than the server does), but the burst as a whole never
        cuts below the floor set when it was first seen.
        """
        if level is None:
            return False
        lowered = max(level - 1, self._burst_floor)
        if lowered >= self.limit:
            return False
        self.limit = self.ceiling = lowered
        self._safe = lowered if level - 1 >= self._burst_floor else None
        return True
