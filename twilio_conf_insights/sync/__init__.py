"""Keeping a local copy: an incremental, resumable sync of conference insights to a store.

::

    from twilio_conf_insights import InsightsClient
    from twilio_conf_insights.sync import SQLiteStore

    async with InsightsClient.from_env() as client, SQLiteStore("insights.db") as store:
        summary = await client.sync(store)          # from where the store left off to now
        print(summary.line())

A conference is *settled* when it is complete: its summary and all its participant
summaries have a terminal ``processing_state``, and there are at least as many participant
summaries as the summary's ``unique_participants``; settled conferences are never fetched
again. The range is cut into :class:`WorkUnit` windows (plain values); a window older than
24 h 30 min that holds only settled conferences is closed and never listed again.

Writes merge and never regress: :meth:`Store.write` takes :class:`ConferenceRecord` values
holding a conference summary, participant summaries or both (a sync writes whole records,
a webhook listener one event at a time), in any order, from several writers at once; of
every summary the store keeps the most final, then the latest version. Any object
implementing :class:`Store` can take the SQLite store's place; :class:`PostgresStore` (the
``[postgres]`` extra) is one, for many workers writing at once.
"""

from typing import TYPE_CHECKING, Any

from ._engine import DEFAULT_WINDOW, SyncProgress, SyncSummary
from ._open import open_store
from ._sqlite import SQLiteStore
from ._store import (
    ConferenceRecord,
    NotAStoreError,
    ReportQuery,
    Store,
    StoreBusyError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
    WindowState,
    WriteCounts,
)
from ._units import CLOSE_AFTER, WorkUnit, cut_windows, parse_duration

__all__ = [
    "CLOSE_AFTER",
    "DEFAULT_WINDOW",
    "ConferenceRecord",
    "NotAStoreError",
    "PostgresStore",
    "ReportQuery",
    "SQLiteStore",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoreFullError",
    "StoreReadOnlyError",
    "SyncProgress",
    "SyncSummary",
    "WindowState",
    "WorkUnit",
    "WriteCounts",
    "cut_windows",
    "open_store",
    "parse_duration",
]

if TYPE_CHECKING:
    from ._postgres import PostgresStore


def __getattr__(name: str) -> Any:
    # PostgresStore needs asyncpg (the [postgres] extra): imported only when asked for.
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
