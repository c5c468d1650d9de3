"""What the bulk calls yield: one fetch's outcome, one conference with its participants.

:func:`~._bulk.map_bounded` turns each item into ``(input, value, error)``; the resources
wrap those in these types, which are part of the public API.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

from ._models import ConferenceSummary, ParticipantSummary

__all__ = ["ConferenceReport", "FetchResult"]

T = TypeVar("T")


@attrs.frozen
class FetchResult(Generic[T]):
    """The outcome of one item of a bulk fetch: a value, or the error that stopped it."""

    #: The SID as it was given.
    sid: str
    #: The fetched object, or ``None`` when the fetch failed.
    value: T | None
    #: Why it failed: an API, transport or decode error, or an invalid SID (``ValueError``).
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the fetch succeeded."""
        return self.error is None


@attrs.frozen
class ConferenceReport:
    """A conference summary with every one of its participant summaries.

    ``participants`` is complete (every page) or, when listing them failed after the retry
    budget, empty with ``error`` set: never a silent partial list.
    """

    summary: ConferenceSummary
    participants: list[ParticipantSummary]
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the participants were listed completely."""
        return self.error is None
