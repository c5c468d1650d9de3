"""Twilio's per-account concurrency limit: 429 (error 20429) above N requests in flight.

Twilio publishes no number for it and answers every request beyond the limit with 429,
which "is never processed and is always safe to retry". :class:`ConcurrencyCap` describes
the limit; :class:`AccountGate` counts the requests each account has in flight and
decides, on arrival, whether a request is admitted. A rejected request is not counted:
it holds no slot on the server.
"""

from __future__ import annotations

import collections

import attrs

__all__ = ["AccountGate", "ConcurrencyCap"]


def _at_least_one(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an integer >= 1, got {value!r}")


@attrs.frozen
class ConcurrencyCap:
    """At most ``limit`` requests of one account in flight; the rest get 429 / 20429.

    ``retry_after`` is sent verbatim as the ``Retry-After`` header of those 429s (``None``:
    no header, as Twilio usually answers).
    """

    limit: int = attrs.field(validator=_at_least_one)
    retry_after: str | None = None


class AccountGate:
    """Admits requests per account under a :class:`ConcurrencyCap` and counts the outcome."""

    def __init__(self) -> None:
        self.cap: ConcurrencyCap | None = None
        self._in_flight: collections.Counter[str] = collections.Counter()
        #: Requests admitted and rejected since the last :meth:`reset`.
        self.admitted = 0
        self.rejected = 0
        #: The most requests of one account ever admitted at once.
        self.peak = 0

    def enter(self, account: str) -> bool:
        """Count a request of ``account`` in flight; ``False`` means answer 429 instead."""
        cap = self.cap
        if cap is not None and self._in_flight[account] >= cap.limit:
            self.rejected += 1
            return False
        self._in_flight[account] += 1
        self.admitted += 1
        self.peak = max(self.peak, self._in_flight[account])
        return True

    def leave(self, account: str) -> None:
        """The admitted request of ``account`` was answered."""
        self._in_flight[account] -= 1

    def reset(self) -> None:
        """Restart the tallies (requests in flight stay counted)."""
        self.admitted = self.rejected = 0
        self.peak = max(self._in_flight.values(), default=0)
