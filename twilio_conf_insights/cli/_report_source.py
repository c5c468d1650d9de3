"""``report --db``: the report's values read from a store with SQL, never whole models.

A report needs a dozen values of each record (:mod:`._report_values`). Decoding every stored
record into models to read them cost about 130 µs a row; here the database extracts only
those values from the public tables (``conferences`` and ``participant_summaries``, whose
``json`` is the API's JSON), so a store of millions of rows reports in seconds:

* the SIDs of the selected conferences are read first, newest first (``create_time``, then
  SID, descending); then, for each batch of 500 of them, the database answers the values
  of the conferences and of all their participants as JSON arrays it builds itself (one
  row per batch, not one per record);
* **SQLite**: one ``json_extract`` with every path per document (SQLite parses each
  document once), on a read-only connection on a thread of its own, so the event loop
  never waits on the disk, and the next batch is read while the last one is counted. A
  document SQLite cannot parse (a NaN the store kept as the API sent it is not JSON to
  SQLite before 3.42) comes whole and is decoded by the one converter instead;
* **PostgreSQL**: the same paths with ``->`` on ``jsonb``, on a connection of its own in one
  read-only, repeatable-read transaction; the next batch's query is sent before the last
  batch is counted.

Only the public columns are read, so stores written by any version read alike. Filters are
those of ``report --db`` (:class:`~..sync.ReportQuery`); ``--limit`` keeps the newest
conferences.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import json
import re
import sqlite3
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yarl

from .._models import ConferenceSummary, ParticipantSummary
from .._transport import json_loads
from ..sync import ReportQuery, StoreError
from ..sync._filters import conference_filters
from ..sync._guards import check_store_file, translate
from ..sync._open import check_store_path
from ._report_values import (
    CONFERENCE_PATHS,
    PARTICIPANT_PATHS,
    STREAM_PATHS,
    ConferenceValues,
    ParticipantValues,
    conference_values,
    conference_values_from_json,
    participant_values,
    participant_values_from_json,
)

__all__ = [
    "BATCH",
    "Group",
    "ValuesSink",
    "add_stored",
    "postgres_batch_sql",
    "postgres_order_sql",
    "sqlite_conference_sql",
    "sqlite_order_sql",
    "sqlite_participant_sql",
    "stored_values",
]

T = TypeVar("T")

#: Conferences per batch: one ``IN (...)`` of participants each (SQLite allows 999 values).
BATCH = 500

#: A conference's values with those of every participant stored for it.
Group = tuple[ConferenceValues, list[ParticipantValues]]


class ValuesSink(Protocol):
    """What takes a report's values: :class:`~._report.ReportBuilder`, the HTML report's data."""

    def add_values(
        self, conference: ConferenceValues, participants: Sequence[ParticipantValues]
    ) -> None:
        """Count one conference and its participants."""


_KEY = re.compile(r"[a-z_]+")


def _shown(url: str) -> str:
    """A database URL without its password."""
    return str(yarl.URL(url).with_password(None))


def _checked(path: Sequence[str]) -> Sequence[str]:
    # Paths are this module's constants; anything else would need quoting in both dialects.
    if not path or not all(_KEY.fullmatch(key) for key in path):
        raise ValueError(f"not a plain JSON path: {path!r}")
    return path


def _sqlite_paths(paths: Sequence[Sequence[str]]) -> str:
    return ", ".join("'$." + ".".join(_checked(path)) + "'" for path in paths)


# -- SQL -----------------------------------------------------------------------------------
#
# First the SIDs of the selected conferences, newest first. Then, per batch of those SIDs,
# the conferences' and their participants' values, each as a single JSON array built by the
# database (two queries in SQLite, one in PostgreSQL): SQLite's sqlite3 module takes the GIL
# back after each row it steps, so one row per batch, not one per record, lets SQLite work
# on its thread while Python counts the last batch on the other.
#
# A conference is [conference_sid, values, raw]; a participant [conference_sid, values,
# inbound is an object, outbound is an object, raw]. `values` is the array of the values at
# the paths of ._report_values; `raw` is the whole document when SQLite cannot parse it
# (then `values` is null), else null.


def sqlite_order_sql(query: ReportQuery) -> tuple[str, list[Any]]:
    """SQLite's query of the SIDs of the conferences ``query`` selects, newest first."""
    where, params = conference_filters(query, postgres=False)
    order = " ORDER BY create_time DESC, conference_sid DESC"
    return f"SELECT conference_sid FROM conferences{where}{order}", params


def _sqlite_batch(table: str, values: str, unparsed: str, count: int) -> str:
    return (
        f"SELECT json_group_array(CASE WHEN json_valid(json) THEN json_array({values})"
        f" ELSE json_array({unparsed}) END)"
        f" FROM {table} WHERE conference_sid IN ({','.join('?' * count)})"
    )


def sqlite_conference_sql(count: int) -> str:
    """SQLite's query of ``count`` conferences' values (their SIDs bound), as one array."""
    values = f"conference_sid, json_extract(json, {_sqlite_paths(CONFERENCE_PATHS)}), NULL"
    return _sqlite_batch("conferences", values, "conference_sid, NULL, json", count)


def sqlite_participant_sql(count: int) -> str:
    """SQLite's query of the participants of ``count`` conferences, as one array."""
    streams = "".join(
        f", json_type(json, {_sqlite_paths([path])}) = 'object'" for path in STREAM_PATHS
    )
    paths = _sqlite_paths(PARTICIPANT_PATHS)
    values = f"conference_sid, json_extract(json, {paths}){streams}, NULL"
    unparsed = "conference_sid, NULL, NULL, NULL, json"
    return _sqlite_batch("participant_summaries", values, unparsed, count)


def postgres_order_sql(query: ReportQuery) -> tuple[str, list[Any]]:
    """PostgreSQL's query of the SIDs of the conferences ``query`` selects, newest first."""
    where, params = conference_filters(query, postgres=True)
    order = " ORDER BY create_time DESC NULLS LAST, conference_sid DESC"
    return f"SELECT conference_sid FROM conferences{where}{order}", params


#: Sub-objects a PostgreSQL batch reads once per participant (each ``->`` on the stored
#: jsonb copies what it returns: reading the streams once saves copying them per measure).
_POSTGRES_OBJECTS: dict[tuple[str, ...], str] = {
    ("metrics", "inbound"): "i",
    ("metrics", "outbound"): "o",
}


def _postgres_value(path: Sequence[str]) -> str:
    _checked(path)
    column = _POSTGRES_OBJECTS.get(tuple(path[:2]))
    if column is None:
        column, path = "j", path
    else:
        path = path[2:]
    return column + "".join(f" -> '{key}'" for key in path)


def postgres_batch_sql() -> str:
    """PostgreSQL's query of the conferences in ``$1`` (a text array) and their participants.

    One row of two JSON arrays (as text): the conferences', then the participants'.
    """
    conference = ", ".join(_postgres_value(path) for path in CONFERENCE_PATHS)
    participant = ", ".join(_postgres_value(path) for path in PARTICIPANT_PATHS)
    streams = "".join(
        f", jsonb_typeof({_postgres_value(path)}) = 'object'" for path in STREAM_PATHS
    )
    selected = "WHERE conference_sid = ANY($1::text[])"
    # OFFSET 0 keeps each subquery apart, so that its columns are computed once per row.
    return (
        "SELECT (SELECT coalesce(json_agg(json_build_array("
        f"conference_sid, json_build_array({conference}), NULL)), '[]')::text"
        f" FROM (SELECT conference_sid, json AS j FROM conferences {selected} OFFSET 0) AS c),"
        " (SELECT coalesce(json_agg(json_build_array("
        f"conference_sid, json_build_array({participant}){streams}, NULL)), '[]')::text"
        " FROM (SELECT conference_sid, j, m -> 'inbound' AS i, m -> 'outbound' AS o"
        " FROM (SELECT conference_sid, json AS j, json -> 'metrics' AS m"
        f" FROM participant_summaries {selected} OFFSET 0) AS stored OFFSET 0) AS p)"
    )


# -- rows to values ------------------------------------------------------------------------


def _loads(text: str) -> Any:
    try:
        return json_loads(text)  # orjson and json both take str
    except ValueError:
        # orjson refuses a few documents the standard library reads (NaN, integers beyond
        # 64 bits); a store keeps them as the API sent them.
        return json.loads(text)


def _document(raw: str, where: str) -> dict[str, Any]:
    try:
        document = _loads(raw)
    except ValueError:
        document = None
    if type(document) is not dict:
        raise StoreError(f"{where} is not a JSON object: the store is damaged")
    return document


def _matches(document: dict[str, Any], equals: Sequence[tuple[str, str]]) -> bool:
    """The ``equals`` filter in Python, for a document SQL could not filter."""
    return all(document.get(key) == value for key, value in equals)


#: One batch as read: the SIDs in order, the conferences' and the participants' arrays.
_Batch = tuple[Sequence[str], list[list[Any]], list[list[Any]]]


class _Values:
    """Turns batches as read into groups of values; shared by both stores' readers."""

    def __init__(self, query: ReportQuery, limit: int | None, where: str) -> None:
        self._query = query
        self._left = limit
        self._where = where

    @property
    def done(self) -> bool:
        """Whether ``--limit`` conferences have been read."""
        return self._left is not None and self._left <= 0

    def _conference(self, sid: str, values: Any, raw: Any) -> ConferenceValues | None:
        if raw is None:
            return conference_values_from_json(values)
        document = _document(raw, f"{self._where}: conference {sid}")
        if not _matches(document, self._query.equals):
            return None
        return conference_values(ConferenceSummary.from_dict(document))

    def groups(self, batch: _Batch) -> list[Group]:
        """The batch's selected conferences with their participants, in the SIDs' order."""
        order, conference_rows, participant_rows = batch
        by_sid = {row[0]: row for row in conference_rows}
        participants: dict[str, list[ParticipantValues]] = {}
        for sid, values, inbound, outbound, raw in participant_rows:
            if raw is None:
                participant = participant_values_from_json(values, bool(inbound), bool(outbound))
            else:
                document = _document(raw, f"{self._where}: a participant of {sid}")
                participant = participant_values(ParticipantSummary.from_dict(document))
            participants.setdefault(sid, []).append(participant)
        groups = []
        for sid in order:
            if self.done:
                break
            conference = self._conference(*by_sid[sid])
            if conference is not None:
                groups.append((conference, participants.get(sid, [])))
                if self._left is not None:
                    self._left -= 1
        return groups


# -- SQLite --------------------------------------------------------------------------------


class _SQLiteReader:
    """The SQLite side: every method runs on the reader's own thread."""

    def __init__(self, path: Path, query: ReportQuery) -> None:
        self._path = path
        self._query = query
        self._db: sqlite3.Connection | None = None
        self._order: list[str] = []
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
            self._order = [sid for (sid,) in self._db.execute(sql, params)]
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None

    def next_batch(self) -> _Batch | None:
        if self._db is None or self._next >= len(self._order):
            return None
        sids = self._order[self._next : self._next + BATCH]
        self._next += len(sids)
        try:
            (conferences,) = self._db.execute(sqlite_conference_sql(len(sids)), sids).fetchone()
            (participants,) = self._db.execute(sqlite_participant_sql(len(sids)), sids).fetchone()
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None
        return sids, _loads(conferences), _loads(participants)

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()


async def _sqlite_batches(path: str, query: ReportQuery) -> AsyncGenerator[_Batch, None]:
    reader = _SQLiteReader(Path(path), query)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tci-report")
    loop = asyncio.get_running_loop()

    def run(function: Callable[[], T]) -> asyncio.Future[T]:
        return loop.run_in_executor(executor, function)

    pending: asyncio.Future[_Batch | None] | None = None
    try:
        await run(reader.open)
        pending = run(reader.next_batch)
        while (batch := await pending) is not None:
            # The next batch is read (by SQLite, without the GIL) while this one is counted.
            pending = run(reader.next_batch)
            yield batch
    finally:
        if pending is not None and not pending.done():
            await asyncio.wait([pending])
        await run(reader.close)
        executor.shutdown(wait=False)


# -- PostgreSQL ----------------------------------------------------------------------------


async def _postgres_batches(url: str, query: ReportQuery) -> AsyncGenerator[_Batch, None]:
    try:
        import asyncpg
    except ImportError:
        raise StoreError(
            "a PostgreSQL store needs asyncpg: pip install 'twilio-conf-insights[postgres]'"
        ) from None
    where = f"store {_shown(url)}"
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
        batch_sql = postgres_batch_sql()
        # One snapshot for every query: a sync writing meanwhile is not seen half-way.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            order = [row[0] for row in await conn.fetch(sql, *params)]

            def fetch(start: int) -> asyncio.Future[Any] | None:
                if start >= len(order):
                    return None
                sids = order[start : start + BATCH]
                task: asyncio.Future[Any] = asyncio.ensure_future(conn.fetchrow(batch_sql, sids))
                return task

            pending = fetch(0)
            try:
                for start in range(0, len(order), BATCH):
                    assert pending is not None
                    row = await pending
                    pending = fetch(start + BATCH)
                    if pending is not None:
                        # Let it send the next query: the server works while this batch is
                        # counted.
                        await asyncio.sleep(0)
                    yield order[start : start + BATCH], _loads(row[0]), _loads(row[1])
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


# -- entry points ----------------------------------------------------------------------------


async def stored_values(
    spec: str, query: ReportQuery, *, limit: int | None = None
) -> AsyncGenerator[list[Group], None]:
    """Batches of stored conferences with their participants' values, newest first.

    ``spec`` is ``--db``: a ``postgresql://`` URL or a SQLite file. ``limit`` keeps the
    newest conferences. Close the iterator (``contextlib.aclosing``) to release the store.
    """
    postgres = spec.startswith(("postgresql://", "postgres://"))
    values = _Values(query, limit, f"store {_shown(spec) if postgres else spec}")
    batches = _postgres_batches(spec, query) if postgres else _sqlite_batches(spec, query)
    try:
        async for batch in batches:
            yield values.groups(batch)
            if values.done:
                return
    finally:
        await batches.aclose()


@contextlib.contextmanager
def _rare_collections() -> Iterator[None]:
    """Cycle collections made rare for a while, then as they were.

    A report makes a few short-lived containers per stored row, millions in a year's
    store, none of them in a cycle: reference counting frees them all, while the cycle
    collector, run every 700 allocations by default, would spend a fifth of the time
    scanning them for nothing.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 100_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def add_stored(
    spec: str, query: ReportQuery, sink: ValuesSink, *, limit: int | None = None
) -> None:
    """Count the stored conferences ``query`` selects (at most ``limit``) into ``sink``."""
    batches = stored_values(spec, query, limit=limit)
    try:
        with _rare_collections():
            async for batch in batches:
                for conference, participants in batch:
                    sink.add_values(conference, participants)
    finally:
        await batches.aclose()
