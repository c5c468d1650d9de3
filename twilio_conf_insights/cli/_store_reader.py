"""Reading a store's public tables batch by batch, for ``report --db`` and ``export --db``.

Both commands read the conferences a :class:`~..sync.ReportQuery` selects, newest first
(``create_time`` then SID, descending, as the stores' own ``reports()``), with their
participants, and neither needs models: they read the public tables (``conferences``,
``participant_summaries``) with SQL of their own. What they share is here:

* the SIDs of the selected conferences are read first, in order; then each batch of
  :data:`BATCH` of them is handed to the caller's batch function, which runs its queries;
* **SQLite**: a read-only connection on a thread of its own, in one read transaction (a
  sync writing meanwhile is not seen half-way); the next batch is read while the caller
  works on the last one;
* **PostgreSQL**: a connection of its own in one read-only, repeatable-read transaction;
  the next batch's queries are sent before the caller works on the last one.

Only the public columns are read, so stores written by any version read alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import yarl

from .._transport import json_loads
from ..sync import ReportQuery, StoreError
from ..sync._filters import conference_filters, matches_equals
from ..sync._guards import check_store_file, translate
from ..sync._open import check_store_path

__all__ = [
    "BATCH",
    "PostgresBatch",
    "SQLiteBatch",
    "document",
    "is_postgres",
    "loads",
    "matches",
    "parsed",
    "plain_document",
    "postgres_order_sql",
    "shown",
    "sqlite_order_sql",
    "store_batches",
]

T = TypeVar("T")

#: Conferences per batch: one ``IN (...)`` of participants each (SQLite allows 999 values).
BATCH = 500

#: What reads one batch from SQLite: the connection and the batch's SIDs (on the reader's
#: thread).
SQLiteBatch = Callable[[sqlite3.Connection, Sequence[str]], T]
#: What reads one batch from PostgreSQL: the connection and the batch's SIDs.
PostgresBatch = Callable[[Any, Sequence[str]], Awaitable[T]]


def is_postgres(spec: str) -> bool:
    """Whether ``--db`` names a PostgreSQL store (else a SQLite file)."""
    return spec.startswith(("postgresql://", "postgres://"))


def shown(url: str) -> str:
    """A database URL without its password."""
    return str(yarl.URL(url).with_password(None))


def parsed(text: str) -> tuple[Any, bool]:
    """A stored JSON text, read as the stores read it, and whether it is plain JSON.

    Plain: orjson read it, so it holds no NaN, infinity or integer beyond 64 bits (orjson
    refuses those, and the standard library reads them instead).
    """
    try:
        return json_loads(text), json_loads is not json.loads  # orjson and json take str
    except ValueError:
        # orjson refuses a few documents the standard library reads (NaN, integers beyond
        # 64 bits); a store keeps them as the API sent them.
        return json.loads(text), False


def loads(text: str) -> Any:
    """A stored JSON text, read as the stores read it."""
    return parsed(text)[0]


def document(raw: str, where: str) -> dict[str, Any]:
    """A stored record's JSON object; :class:`StoreError` when it is not one."""
    return plain_document(raw, where)[0]


def plain_document(raw: str, where: str) -> tuple[dict[str, Any], bool]:
    """:func:`document`, and whether it is plain JSON (see :func:`parsed`)."""
    try:
        found, plain = parsed(raw)
    except ValueError:
        found, plain = None, False
    if type(found) is not dict:
        raise StoreError(f"{where} is not a JSON object: the store is damaged")
    return found, plain


def matches(record: dict[str, Any], equals: Sequence[tuple[str, str]]) -> bool:
    """The ``equals`` filter in Python, for a document SQL could not filter."""
    return matches_equals(record, equals)


def sqlite_order_sql(query: ReportQuery) -> tuple[str, list[Any]]:
    """SQLite's query of the SIDs of the conferences ``query`` selects, newest first."""
    where, params = conference_filters(query, postgres=False)
    order = " ORDER BY coalesce(create_time, '') DESC, conference_sid DESC"
    return f"SELECT conference_sid FROM conferences{where}{order}", params


def postgres_order_sql(query: ReportQuery) -> tuple[str, list[Any]]:
    """PostgreSQL's query of the SIDs of the conferences ``query`` selects, newest first."""
    where, params = conference_filters(query, postgres=True)
    order = " ORDER BY create_time DESC NULLS LAST, conference_sid DESC"
    return f"SELECT conference_sid FROM conferences{where}{order}", params


# -- SQLite --------------------------------------------------------------------------------


class _SQLiteReader(Generic[T]):
    """The SQLite side: every method runs on the reader's own thread."""

    def __init__(self, path: Path, query: ReportQuery, read: SQLiteBatch[T]) -> None:
        self._path = path
        self._query = query
        self._read = read
        self._db: sqlite3.Connection | None = None
        self._order: Sequence[str] = ()
        self._next = 0

    def open(self) -> None:
        # A pipe or a device would block the read for ever: refused before anything opens it.
        check_store_path(str(self._path))
        check_store_file(self._path, read_only=True)  # refuses what is not a store, untouched
        uri = f"{self._path.absolute().as_uri()}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 10000")
            tables = {
                name
                for (name,) in self._db.execute(
                    "SELECT name FROM sqlite_schema WHERE type = 'table'"
                )
            }
            if not {"conferences", "participant_summaries"} <= tables:
                raise StoreError(f"no store at {self._path}")
            # One read transaction: a sync writing meanwhile is not seen half-way.
            self._db.execute("BEGIN")
            sql, params = sqlite_order_sql(self._query)
            self._order = tuple(sid for (sid,) in self._db.execute(sql, params))
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None

    def next_batch(self) -> tuple[Sequence[str], T] | None:
        if self._db is None or self._next >= len(self._order):
            return None
        sids = self._order[self._next : self._next + BATCH]
        self._next += len(sids)
        try:
            return sids, self._read(self._db, sids)
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()


async def _sqlite_batches(
    path: str, query: ReportQuery, read: SQLiteBatch[T]
) -> AsyncGenerator[tuple[Sequence[str], T], None]:
    reader = _SQLiteReader(Path(path), query, read)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tci-store")
    loop = asyncio.get_running_loop()

    def run(function: Callable[[], Any]) -> asyncio.Future[Any]:
        return loop.run_in_executor(executor, function)

    pending: asyncio.Future[tuple[Sequence[str], T] | None] | None = None
    try:
        await run(reader.open)
        pending = run(reader.next_batch)
        while (batch := await pending) is not None:
            # The next batch is read (by SQLite, without the GIL) while this one is used.
            pending = run(reader.next_batch)
            yield batch
    finally:
        if pending is not None and not pending.done():
            await asyncio.wait([pending])
        await run(reader.close)
        executor.shutdown(wait=False)


# -- PostgreSQL ----------------------------------------------------------------------------


async def _postgres_batches(
    url: str, query: ReportQuery, read: PostgresBatch[T]
) -> AsyncGenerator[tuple[Sequence[str], T], None]:
    try:
        import asyncpg
    except ImportError:
        raise StoreError(
            "a PostgreSQL store needs asyncpg: pip install 'twilio-conf-insights[postgres]'"
        ) from None
    where = f"store {shown(url)}"
    failures = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
    try:
        conn = await asyncpg.connect(
            url,
            server_settings={
                "application_name": "twilio-conf-insights",
                "default_transaction_read_only": "on",
            },
        )
    except failures as error:
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise StoreError(f"cannot connect to PostgreSQL {where}: {reason}") from None
    try:
        if not await conn.fetchval("SELECT to_regclass('twilio_conf_insights_store') IS NOT NULL"):
            raise StoreError(f"no store at {where.removeprefix('store ')}")
        sql, params = postgres_order_sql(query)
        # One snapshot for every query: a sync writing meanwhile is not seen half-way.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            order = [row[0] for row in await conn.fetch(sql, *params)]

            def fetch(start: int) -> asyncio.Future[T] | None:
                if start >= len(order):
                    return None
                return asyncio.ensure_future(read(conn, order[start : start + BATCH]))

            pending = fetch(0)
            try:
                for start in range(0, len(order), BATCH):
                    assert pending is not None
                    batch = await pending
                    pending = fetch(start + BATCH)
                    if pending is not None:
                        # Let it send the next query: the server works while this batch is
                        # used.
                        await asyncio.sleep(0)
                    yield order[start : start + BATCH], batch
            finally:
                if pending is not None:  # closed early (--limit): let the query end first
                    await asyncio.gather(pending, return_exceptions=True)
    except StoreError:
        raise
    except failures as error:
        message = str(error).splitlines()[0] if str(error) else repr(error)
        raise StoreError(f"{where}: {message}") from None
    finally:
        await conn.close()


def store_batches(
    spec: str, query: ReportQuery, *, sqlite: SQLiteBatch[T], postgres: PostgresBatch[T]
) -> AsyncGenerator[tuple[Sequence[str], T], None]:
    """The selected conferences' SIDs in batches, newest first, each with what was read.

    ``spec`` is ``--db``: a ``postgresql://`` URL or a SQLite file; ``sqlite`` or
    ``postgres`` reads each batch. Close the iterator (``contextlib.aclosing``) to release
    the store.
    """
    if is_postgres(spec):
        return _postgres_batches(spec, query, postgres)
    return _sqlite_batches(spec, query, sqlite)
