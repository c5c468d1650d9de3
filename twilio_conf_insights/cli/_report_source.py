"""``report --db``: the report's values read from a store with SQL, never whole models.

A report needs a dozen values of each record (:mod:`._report_values`). Decoding every stored
record into models to read them cost about 130 µs a row; here SQL extracts only those values
from the public tables (``conferences`` and ``participant_summaries``, whose ``json`` is the
API's JSON), so a store of millions of rows reports in seconds:

* **SQLite**: one ``json_extract`` with every path per row (SQLite parses each document
  once), read on a thread of its own through a read-only connection, so the event loop
  never waits on the disk; the next batch is read while the last one is counted. A
  document SQLite cannot parse (the NaN a store keeps as the API sent it is not JSON to
  SQLite) is read whole and decoded by the one converter instead, so no record is lost.
* **PostgreSQL**: the same paths as one ``jsonb_build_array`` per row, on a connection of
  its own in one read-only, repeatable-read transaction.

Only the public columns are read, so stores written by any version read alike. Conferences
come newest first (``create_time``, then SID, descending) and each with every participant
stored for it; filters are those of ``report --db`` (:class:`~..sync.ReportQuery`), and
``--limit`` keeps the newest conferences.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import sqlite3
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .._models import ConferenceSummary, ParticipantSummary
from .._transport import json_loads
from ..sync import ReportQuery, StoreError
from ..sync._guards import check_store_file, translate
from ..sync._units import format_time
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
    "postgres_conference_sql",
    "postgres_participant_sql",
    "sqlite_conference_sql",
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


def _checked(path: Sequence[str]) -> Sequence[str]:
    # Paths are this module's constants; anything else would need quoting in both dialects.
    if not path or not all(_KEY.fullmatch(key) for key in path):
        raise ValueError(f"not a plain JSON path: {path!r}")
    return path


def _sqlite_paths(paths: Sequence[Sequence[str]]) -> str:
    return ", ".join("'$." + ".".join(_checked(path)) + "'" for path in paths)


def _postgres_path(path: Sequence[str]) -> str:
    return "json #> '{" + ",".join(_checked(path)) + "}'"


# -- SQL -----------------------------------------------------------------------------------
#
# Each conference row is (conference_sid, values, raw); each participant row is
# (conference_sid, values, inbound is an object, outbound is an object, raw). `values` is a
# JSON array of the values at the paths of ._report_values; `raw` is the whole document
# when SQLite cannot parse it (then `values` is NULL), else NULL.


def _sqlite_where(query: ReportQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.created_after is not None:
        where.append("create_time >= ?")
        params.append(format_time(query.created_after))
    if query.created_before is not None:
        where.append("create_time < ?")
        params.append(format_time(query.created_before))
    if query.account_sid is not None:
        where.append("account_sid = ?")
        params.append(query.account_sid)
    for key, value in query.equals:
        # A document SQLite cannot parse passes here and is matched in Python (_matches).
        where.append("CASE WHEN json_valid(json) THEN json_extract(json, ?) = ? ELSE 1 END")
        params += ["$." + ".".join(_checked((key,))), value]
    return where, params


def sqlite_conference_sql(query: ReportQuery) -> tuple[str, list[Any]]:
    """SQLite's query of the conferences ``query`` selects, newest first, and its parameters."""
    where, params = _sqlite_where(query)
    sql = (
        "SELECT conference_sid,"
        f" CASE WHEN json_valid(json) THEN json_extract(json, {_sqlite_paths(CONFERENCE_PATHS)})"
        " END,"
        " CASE WHEN json_valid(json) THEN NULL ELSE json END"
        " FROM conferences"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY create_time DESC, conference_sid DESC", params


def sqlite_participant_sql(count: int) -> str:
    """SQLite's query of the participants of ``count`` conferences (their SIDs bound)."""
    streams = "".join(
        f" CASE WHEN json_valid(json) THEN json_type(json, {_sqlite_paths([path])}) = 'object' END,"
        for path in STREAM_PATHS
    )
    return (
        "SELECT conference_sid,"
        f" CASE WHEN json_valid(json) THEN json_extract(json, {_sqlite_paths(PARTICIPANT_PATHS)})"
        f" END,{streams}"
        " CASE WHEN json_valid(json) THEN NULL ELSE json END"
        " FROM participant_summaries"
        f" WHERE conference_sid IN ({','.join('?' * count)})"
    )


def postgres_conference_sql(query: ReportQuery) -> tuple[str, list[Any]]:
    """PostgreSQL's query of the conferences ``query`` selects, newest first, and parameters."""
    where: list[str] = []
    params: list[Any] = []

    def bind(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if query.created_after is not None:
        where.append(f"create_time >= {bind(query.created_after)}")
    if query.created_before is not None:
        where.append(f"create_time < {bind(query.created_before)}")
    if query.account_sid is not None:
        where.append(f"account_sid = {bind(query.account_sid)}")
    for key, value in query.equals:
        where.append(f"json ->> {bind(key)} = {bind(value)}")
    values = ", ".join(_postgres_path(path) for path in CONFERENCE_PATHS)
    sql = f"SELECT conference_sid, jsonb_build_array({values})::text, NULL FROM conferences"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY create_time DESC NULLS LAST, conference_sid DESC", params


def postgres_participant_sql() -> str:
    """PostgreSQL's query of the participants of the conferences in ``$1`` (a text array)."""
    values = ", ".join(_postgres_path(path) for path in PARTICIPANT_PATHS)
    streams = "".join(
        f" coalesce(jsonb_typeof({_postgres_path(path)}) = 'object', false),"
        for path in STREAM_PATHS
    )
    return (
        f"SELECT conference_sid, jsonb_build_array({values})::text,{streams} NULL"
        " FROM participant_summaries WHERE conference_sid = ANY($1::text[])"
    )


# -- rows to values ------------------------------------------------------------------------


def _loads(text: str) -> Any:
    try:
        return json_loads(text)  # type: ignore[arg-type]  # orjson and json both take str
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


class _Batches:
    """Turns the rows of the two queries into groups; shared by both stores' readers."""

    def __init__(self, query: ReportQuery, limit: int | None, where: str) -> None:
        self._query = query
        self._left = limit
        self._where = where

    @property
    def done(self) -> bool:
        """Whether ``--limit`` conferences have been read."""
        return self._left is not None and self._left <= 0

    def conferences(self, rows: Sequence[Sequence[Any]]) -> dict[str, ConferenceValues]:
        """The conferences of ``rows`` that pass the filters, by SID, in order."""
        found: dict[str, ConferenceValues] = {}
        for sid, values, raw in rows:
            if self.done:
                break
            if raw is None:
                conference = conference_values_from_json(_loads(values))
            else:
                document = _document(raw, f"{self._where}: conference {sid}")
                if not _matches(document, self._query.equals):
                    continue
                conference = conference_values(ConferenceSummary.from_dict(document))
            found[sid] = conference
            if self._left is not None:
                self._left -= 1
        return found

    def groups(
        self, conferences: dict[str, ConferenceValues], rows: Sequence[Sequence[Any]]
    ) -> list[Group]:
        """The conferences with the participants of ``rows``, in the conferences' order."""
        participants: dict[str, list[ParticipantValues]] = {sid: [] for sid in conferences}
        for sid, values, inbound, outbound, raw in rows:
            if raw is None:
                participant = participant_values_from_json(
                    _loads(values), bool(inbound), bool(outbound)
                )
            else:
                document = _document(raw, f"{self._where}: a participant of {sid}")
                participant = participant_values(ParticipantSummary.from_dict(document))
            participants[sid].append(participant)
        return [(conference, participants[sid]) for sid, conference in conferences.items()]


# -- SQLite --------------------------------------------------------------------------------


class _SQLiteReader:
    """The SQLite side: every method runs on the reader's own thread."""

    def __init__(self, path: Path, query: ReportQuery, limit: int | None) -> None:
        self._path = path
        self._query = query
        self._batches = _Batches(query, limit, f"store {path}")
        self._db: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None

    def open(self) -> None:
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
            sql, params = sqlite_conference_sql(self._query)
            self._cursor = self._db.execute(sql, params)
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None

    def next_batch(self) -> list[Group] | None:
        if self._cursor is None or self._db is None or self._batches.done:
            return None
        try:
            rows = self._cursor.fetchmany(BATCH)
            if not rows:
                return None
            conferences = self._batches.conferences(rows)
            sids = list(conferences)
            found = self._db.execute(sqlite_participant_sql(len(sids)), sids).fetchall()
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None
        return self._batches.groups(conferences, found)

    def close(self) -> None:
        db, self._db, self._cursor = self._db, None, None
        if db is not None:
            db.close()


async def _sqlite_batches(
    path: str, query: ReportQuery, limit: int | None
) -> AsyncGenerator[list[Group], None]:
    reader = _SQLiteReader(Path(path), query, limit)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tci-report")
    loop = asyncio.get_running_loop()

    def run(function: Callable[[], T]) -> asyncio.Future[T]:
        return loop.run_in_executor(executor, function)

    pending: asyncio.Future[list[Group] | None] | None = None
    try:
        await run(reader.open)
        pending = run(reader.next_batch)
        while (batch := await pending) is not None:
            # The next batch is read (SQLite parses without the GIL) while this one is counted.
            pending = run(reader.next_batch)
            yield batch
    finally:
        if pending is not None and not pending.done():
            await asyncio.wait([pending])
        await run(reader.close)
        executor.shutdown(wait=False)


# -- PostgreSQL ----------------------------------------------------------------------------


async def _postgres_batches(
    url: str, query: ReportQuery, limit: int | None
) -> AsyncGenerator[list[Group], None]:
    try:
        import asyncpg
    except ImportError:
        raise StoreError(
            "a PostgreSQL store needs asyncpg: pip install 'twilio-conf-insights[postgres]'"
        ) from None
    import yarl

    where = f"store {yarl.URL(url).with_password(None)}"
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
    batches = _Batches(query, limit, where)
    try:
        if not await conn.fetchval("SELECT to_regclass('twilio_conf_insights_store') IS NOT NULL"):
            raise StoreError(f"no store at {where.removeprefix('store ')}")
        sql, params = postgres_conference_sql(query)
        participants_sql = postgres_participant_sql()
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await conn.cursor(sql, *params)
            while not batches.done:
                rows = await cursor.fetch(BATCH)
                if not rows:
                    break
                conferences = batches.conferences(rows)
                found = await conn.fetch(participants_sql, list(conferences))
                yield batches.groups(conferences, found)
    except StoreError:
        raise
    except failures as error:
        message = str(error).splitlines()[0] if str(error) else repr(error)
        raise StoreError(f"{where}: {message}") from None
    finally:
        await conn.close()


# -- entry points ----------------------------------------------------------------------------


def stored_values(
    spec: str, query: ReportQuery, *, limit: int | None = None
) -> AsyncGenerator[list[Group], None]:
    """Batches of stored conferences with their participants' values, newest first.

    ``spec`` is ``--db``: a ``postgresql://`` URL or a SQLite file. ``limit`` keeps the
    newest conferences. Close the iterator (``contextlib.aclosing``) to release the store.
    """
    if spec.startswith(("postgresql://", "postgres://")):
        return _postgres_batches(spec, query, limit)
    return _sqlite_batches(spec, query, limit)


async def add_stored(
    spec: str, query: ReportQuery, sink: ValuesSink, *, limit: int | None = None
) -> None:
    """Count the stored conferences ``query`` selects (at most ``limit``) into ``sink``."""
    batches = stored_values(spec, query, limit=limit)
    try:
        async for batch in batches:
            for conference, participants in batch:
                sink.add_values(conference, participants)
    finally:
        await batches.aclose()
