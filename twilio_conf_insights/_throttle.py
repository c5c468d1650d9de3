"""The control law of the concurrency limit: how throttling moves it. Pure logic, no I/O.

Twilio caps the requests an account may have in flight, answers 429 (error 20429) above
the cap, publishes no number, and lets several services share one account. The law finds
the cap from the responses alone (additive increase, multiplicative decrease, as TCP and
Netflix's concurrency-limits do), with two twists that waste almost nothing:

* **Every request carries its level**: how many requests of this client were in flight
  when it was sent, itself included. A 429 at level *n* says that *n* was too many, so the
  limit drops straight to ``n - 1`` (never below ``decrease_factor`` of the limit in one
  step). That level becomes the **ceiling**: a level known to be safe.
* **One decrease per burst**: every decrease opens a new *generation*; a throttle of a
  request sent in an earlier generation was sent before the client reacted: it counts as
  the same event, and may only refine the cut with its level.

Growth: starting at ``initial_limit``, one more slot per two successes (about 1.5x per
round trip, "slow start") while below the ceiling, as long as the slots are in use. At the
ceiling the limit holds for ``probe_interval`` seconds, then probes above it by 1, 2, 4 ...
slots per interval (at most a quarter of the limit) while no throttle comes, so a cap that
grew (another service on the account went quiet) is found again in a few intervals.
A 503 carries no level: it cuts the limit by ``decrease_factor``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import attrs

from ._errors import InvalidArgumentError
from ._validation import positive_int

__all__ = ["LimitController", "ThrottlePolicy"]

#: Hold at the ceiling this many times a server-requested pause before probing again.
_PAUSE_TO_HOLD = 10.0


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
    See the README's Reliability section for what each field changes.
    """

    #: Adapt the concurrency limit to throttling.
    enabled: bool = True
    #: The limit a client starts with (capped at ``max_concurrency``); it grows from there.
    initial_limit: int = attrs.field(default=16, validator=_positive_int)
    #: The most one throttle may cut at once (0.5: at most halve), and the cut of a 503.
    decrease_factor: float = attrs.field(default=0.5, validator=_fraction)
    #: Seconds at the learned ceiling, without a throttle, before probing above it.
    probe_interval: float = attrs.field(default=1.0, validator=_non_negative)
    #: Pause every new request of the client for the server's ``Retry-After``.
    pause_on_retry_after: bool = True


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
        self._hold = policy.probe_interval
        # Doubling probes find a grown cap fast, but in an account shared by several
        # clients a big step grabs the others' share: cap it at a quarter of the limit.
        self._max_probe_step = max(1, self.limit // 4)
        self._burst_floor = 1

    def on_success(self, level: int) -> bool:
        """A response that was not throttled, sent at ``level``; whether the limit rose."""
        if self.limit >= self.max or not self.policy.enabled or 2 * level < self.limit:
            return False  # at the top, pinned, or the slots are not in use: nothing learned
        ceiling = self.ceiling
        if ceiling is not None and self.limit >= ceiling:
            now = self._clock()
            if now - self._held_since < self._hold:
                return False
            # Held long enough without a throttle: the cap may have grown; probe above it.
            self._held_since = now
            self.ceiling = ceiling + self._probe_step
            self._probe_step = min(2 * self._probe_step, self._max_probe_step)
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

        ``pause`` is the client-wide pause the response asked for (``Retry-After``), if any.
        """
        if not self.policy.enabled:
            return False
        if pause:
            # When throttles pause the whole client, a failed probe costs that pause:
            # probe ten times less often than that, and count the hold from its end.
            self._hold = max(self.policy.probe_interval, _PAUSE_TO_HOLD * pause)
            self._held_since = max(self._held_since, self._clock() + pause)
        if generation < self.generation:
            return self._same_burst(level)
        floor = max(1, math.ceil(self.limit * self.policy.decrease_factor))
        self._burst_floor = floor
        if level is None:
            lowered = floor if floor < self.limit else max(1, self.limit - 1)
        else:
            lowered = min(self.limit, max(level - 1, floor))
            self.ceiling = lowered
            self._held_since = max(self._held_since, self._clock())
            self._probe_step = 1
            self._max_probe_step = max(1, lowered // 4)
        self.generation += 1
        self.throttles += 1
        self._successes = 0
        changed = lowered != self.limit
        self.limit = lowered
        return changed

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
        return True
