"""What a sync (and any other writer) needs from a store, as a small interface.

The engine (``_engine.py``) speaks only to :class:`Store`; :class:`~.SQLiteStore` and
:class:`~.PostgresStore` implement it. The write contract's values (:class:`ConferenceRecord`
in, :class:`WriteCounts` out) and its rules live in ``_merge.py``, which both stores execute.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Protocol, Self, runtime_checkable

import attrs

from .._closing import ClosedOnExit
from .._results import ConferenceReport
from ._merge import ConferenceRecord, WriteCounts
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
    """Another writer held the store longer than the store waits for it (``busy_timeout``)."""


class StoreReadOnlyError(StoreError):
    """The store cannot be written (opened read-only, or a read-only file or file system)."""


class StoreFullError(StoreError):
    """The disk (or the store's size limit) is full; the current transaction was undone."""


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
        """Merge summaries into the store, all in one transaction; what that changed.

        Each record holds a conference summary, participant summaries or both, in any
        order across writes and writers; every summary is kept or dropped by the rules of
        ``_merge.py`` (the most final, then the latest version wins; nothing is deleted).
        """
        ...

    async def finish_window(self, unit: WorkUnit, *, closed: bool, listed_at: datetime) -> None:
        """Record that ``unit`` was listed completely, and whether it is now closed."""
        ...

    def reports(self, query: ReportQuery) -> AsyncIterator[ConferenceReport]:
        """Stored conferences with their participants, newest first."""
        ...

    async def aclose(self) -> None:
        """Release the store's connections."""
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
