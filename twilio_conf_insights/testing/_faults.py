"""Fault injection: which request gets which failure.

The injector only *decides*; the server (``_server.py``) turns a decision into bytes on the
wire. Keeping the two apart lets the decision rules be tested without sockets.
"""

from __future__ import annotations

import collections
import enum
import random
import time
from collections.abc import Callable, Iterable

import attrs

__all__ = ["Fault", "FaultInjector", "FaultKind"]


class FaultKind(enum.StrEnum):
    """The failures :class:`FakeTwilio` can inject.

    The value is the HTTP status for the status-code faults and a short word for the
    transport-level ones.
    """

    #: 429 with Twilio's 20429 body; ``Retry-After`` when the :class:`Fault` carries one.
    RATE_LIMIT = "429"
    #: 500 with a Twilio error body.
    SERVER_ERROR = "500"
    #: 502 with a Twilio error body.
    BAD_GATEWAY = "502"
    #: 503 with a Twilio error body; ``Retry-After`` when the :class:`Fault` carries one.
    SERVICE_UNAVAILABLE = "503"
    #: 504 with a Twilio error body.
    GATEWAY_TIMEOUT = "504"
    #: The TCP connection is aborted before any response byte is sent. Note that
    #: ``aiohttp.ClientSession`` itself retries an idempotent request once after such a
    #: disconnect, so queue two in a row for a single GET to surface the error.
    CONNECTION_RESET = "reset"
    #: 200 whose ``Content-Length`` promises more bytes than are sent before the close.
    TRUNCATED_BODY = "truncated"
    #: 200 ``application/json`` whose body is not valid JSON.
    MALFORMED_JSON = "malformed"
    #: The normal answer, but only after :attr:`Fault.stall_seconds` (to trip timeouts).
    STALL = "stall"

    @property
    def status(self) -> int | None:
        """The HTTP status this fault answers with, or ``None`` for transport faults."""
        return int(self.value) if self.value.isdigit() else None


#: Kinds that answer with a Twilio error body and status instead of the real response.
STATUS_FAULTS = frozenset(kind for kind in FaultKind if kind.status is not None)

#: Statuses for which Twilio (and HTTP) define ``Retry-After``.
RETRY_AFTER_KINDS = frozenset({FaultKind.RATE_LIMIT, FaultKind.SERVICE_UNAVAILABLE})


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class Fault:
    """One failure to inject.

    ``retry_after`` is sent verbatim as the ``Retry-After`` header of a 429 or 503
    (seconds such as ``"1"`` or an HTTP date); ``stall_seconds`` is how long a
    :attr:`FaultKind.STALL` waits before answering normally.
    """

    kind: FaultKind = attrs.field(converter=FaultKind)
    retry_after: str | None = None
    stall_seconds: float = attrs.field(default=5.0, validator=_non_negative)


@attrs.define
class _Queued:
    fault: Fault
    remaining: int
    path_contains: str | None

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path


@attrs.define
class _RandomPolicy:
    rate: float
    kinds: tuple[FaultKind, ...]
    rng: random.Random
    retry_after: str | None
    stall_seconds: float
    # Alternating keeps both "429 with Retry-After" and "429 without" in every run.
    with_retry_after_next: bool = True


class FaultInjector:
    """Decides, per request, whether and how :class:`FakeTwilio` fails it.

    Precedence: a matching queued fault first (FIFO), then an active
    :meth:`throttle_for` window, then the :meth:`random` policy. Every fault actually
    applied is tallied in :attr:`injected`.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._queue: collections.deque[_Queued] = collections.deque()
        self._random: _RandomPolicy | None = None
        self._throttle_until: float | None = None
        self._throttle_retry_after: str | None = None
        self.injected: collections.Counter[FaultKind] = collections.Counter()
        """How many faults of each kind were applied so far."""

    def queue(
        self, fault: Fault | FaultKind, count: int = 1, path_contains: str | None = None
    ) -> None:
        """Fail the next ``count`` requests whose path contains ``path_contains``.

        The path is the percent-decoded request path without the query; ``None`` matches
        every path. Entries are consumed in the order they were queued;
        an entry whose filter does not match a request does not block later entries.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        if not isinstance(fault, Fault):
            fault = Fault(FaultKind(fault))
        self._queue.append(_Queued(fault, count, path_contains))

    def random(
        self,
        rate: float,
        kinds: Iterable[FaultKind] | None = None,
        seed: int = 0,
        retry_after: str | None = None,
        stall_seconds: float = 5.0,
    ) -> None:
        """From now on, fail each request with probability ``rate`` (seeded, reproducible).

        The kind is drawn uniformly from ``kinds`` (default: every kind but STALL, which
        would make a chaos run as slow as its timeouts). Rate-limit and 503 faults alternate
        between carrying ``Retry-After`` (``retry_after``, or ``"0"`` to keep runs fast) and
        carrying none. ``rate=0`` switches the policy off.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate!r}")
        chosen = (
            tuple(kind for kind in FaultKind if kind is not FaultKind.STALL)
            if kinds is None
            else tuple(FaultKind(kind) for kind in kinds)
        )
        if not chosen:
            raise ValueError("kinds must name at least one FaultKind")
        if stall_seconds < 0:
            raise ValueError(f"stall_seconds must be >= 0, got {stall_seconds!r}")
        self._random = (
            _RandomPolicy(rate, chosen, random.Random(seed), retry_after, stall_seconds)
            if rate > 0
            else None
        )

    def throttle_for(self, seconds: float, retry_after: str | None = "1") -> None:
        """Answer every request with 429 for the next ``seconds`` of wall time."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._throttle_until = self._clock() + seconds
        self._throttle_retry_after = retry_after

    def clear(self) -> None:
        """Drop queued faults, the random policy, any throttle window and the tally."""
        self._queue.clear()
        self._random = None
        self._throttle_until = None
        self.injected.clear()

    @property
    def pending(self) -> int:
        """How many queued faults have not been applied yet."""
        return sum(entry.remaining for entry in self._queue)

    def pick(self, path: str) -> Fault | None:
        """Choose the fault for a request to ``path`` (and count it), or ``None``."""
        fault = self._pick_queued(path) or self._pick_throttle() or self._pick_random()
        if fault is not None:
            self.injected[fault.kind] += 1
        return fault

    def _pick_queued(self, path: str) -> Fault | None:
        for entry in self._queue:
            if entry.matches(path):
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._queue.remove(entry)
                return entry.fault
        return None

    def _pick_throttle(self) -> Fault | None:
        if self._throttle_until is None:
            return None
        if self._clock() >= self._throttle_until:
            self._throttle_until = None
            return None
        return Fault(FaultKind.RATE_LIMIT, retry_after=self._throttle_retry_after)

    def _pick_random(self) -> Fault | None:
        policy = self._random
        if policy is None or policy.rng.random() >= policy.rate:
            return None
        kind = policy.rng.choice(policy.kinds)
        retry_after = None
        if kind in RETRY_AFTER_KINDS:
            if policy.with_retry_after_next:
                retry_after = policy.retry_after if policy.retry_after is not None else "0"
            policy.with_retry_after_next = not policy.with_retry_after_next
        return Fault(kind, retry_after=retry_after, stall_seconds=policy.stall_seconds)
