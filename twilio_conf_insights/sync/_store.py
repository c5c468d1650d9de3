"""What a sync needs from a store, as a small interface, and the values crossing it.

The engine (``_engine.py``) speaks only to :class:`Store`; :class:`~.SQLiteStore` is the
implementation shipped. Another backend (PostgreSQL for several machines) implements the
same few methods; nothing in the engine changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, Self, runtime_checkable

import attrs

from .._closing import ClosedOnExit
from .._models import ConferenceSummary, ParticipantSummary
from .._results import ConferenceReport
from .._waiting import is_terminal
from ._units import WorkUnit

__all__ = [
    "StoreBase",
    "ConferenceRecord",
    "NotAStoreError",
    "ReportQuery",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoreFullError",
    "StoreReadOnlyError",
    "WindowState",
    "WriteCounts",
]


class StoreError(OSError):
    """A store could not be opened, read or written. The message names the store's path.

    An :class:`OSError`, because a store is a file (or a database) the way any output is.
    A failed write leaves the store as it was before that write's transaction.
    """


class NotAStoreError(StoreError):
    """The path holds something other than a store; it was not modified."""


class StoreBusyError(StoreError):
    """Another sync is writing to the store right now."""


class StoreReadOnlyError(StoreError):
    """The store cannot be written (opened read-only, or a read-only file or file system)."""


class StoreFullError(StoreError):
    """The disk (or the store's size limit) is full; the current transaction was undone."""


@attrs.frozen
class ConferenceRecord:
    """A conference summary with every one of its participant summaries, as fetched.

    Both are the API's JSON objects as received (what ``to_dict()`` of the parsed models
    gives back); :meth:`from_models` builds one from models.
    """

    summary: Mapping[str, Any]
    participants: Sequence[Mapping[str, Any]]

    @classmethod
    def from_models(
        cls, summary: ConferenceSummary, participants: Sequence[ParticipantSummary]
    ) -> ConferenceRecord:
        """A record of parsed models."""
        return cls(summary.to_dict(), [p.to_dict() for p in participants])

    @property
    def conference_sid(self) -> str:
        """The conference's SID."""
        return str(self.summary.get("conference_sid"))

    @property
    def settled(self) -> bool:
        """Whether the summary and all participant summaries have a terminal state."""
        return is_terminal(self.summary.get("processing_state")) and all(
            is_terminal(p.get("processing_state")) for p in self.participants
        )


@attrs.frozen
class WriteCounts:
    """What one write changed in the store."""

    #: Conferences the store did not have.
    new: int = 0
    #: Conferences the store had, whose summary or participants changed.
    updated: int = 0
    #: Conferences the store had unsettled and now has settled.
    settled: int = 0
    #: Conferences written that are still unsettled.
    unsettled: int = 0
    #: Participant summaries written (inserted or changed).
    participants: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True))
        )


@attrs.frozen
class WindowState:
    """What the store knows about one window."""

    unit: WorkUnit
    #: Never listed again: old enough, and everything in it settled (or past retention).
    closed: bool
    #: When it was last listed completely, or ``None`` if never.
    listed_at: datetime | None


@attrs.frozen
class ReportQuery:
    """Which stored conferences to read back (every field optional)."""

    created_after: datetime | None = None
    created_before: datetime | None = None
    account_sid: str | None = None
    #: ``(json key, value)`` pairs the summary must equal (``status``, ``mixer_region``...).
    equals: tuple[tuple[str, str], ...] = ()


@runtime_checkable
class Store(Protocol):
    """The storage a sync writes to. Every method is a coroutine; none blocks the loop."""

    async def windows(self, scope: str) -> list[WindowState]:
        """Every window of ``scope`` the store knows (see :attr:`WorkUnit.scope`)."""
        ...

    async def add_windows(self, units: Sequence[WorkUnit]) -> None:
        """Remember windows about to be synced (those already known are left as they are)."""
        ...

    async def settled(self, conference_sids: Collection[str]) -> set[str]:
        """Which of these conferences the store holds settled."""
        ...

    async def write(self, records: Sequence[ConferenceRecord]) -> WriteCounts:
        """Upsert conferences with their participants, all in one transaction."""
        ...

    async def finish_window(self, unit: WorkUnit, *, closed: bool, listed_at: datetime) -> None:
        """Record that ``unit`` was listed completely, and whether it is now closed."""
        ...

    def reports(self, query: ReportQuery) -> AsyncIterator[ConferenceReport]:
        """Stored conferences with their participants, newest first."""
        ...

    async def aclose(self) -> None:
        """Release the store (and a sync's hold on it)."""
        ...


class StoreBase(ClosedOnExit):
    """What the stores share: ``async with`` opens and closes, a read-only mode, a repr."""

    _read_only: bool

    @property
    def read_only(self) -> bool:
        """Whether the store was opened for reading only."""
        return self._read_only

    def _where(self) -> str:
        """The file or URL to show (never a password)."""
        raise NotImplementedError

    def _is_open(self) -> bool:
        raise NotImplementedError

    async def _start(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        mode = "read-only" if self._read_only else "read-write"
        return f"<{type(self).__name__} {self._where()!r} {mode}>"

    async def __aenter__(self) -> Self:
        if not self._is_open():
            await self._start()
        return self
