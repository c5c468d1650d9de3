"""``report --db``: the report's values read from a store with SQL, never whole models.

A report needs a dozen values of each record (:mod:`._report_values`). Decoding every stored
record into models to read them cost about 130 µs a row; here the database extracts only
those values from the public tables (``conferences`` and ``participant_summaries``, whose
``json`` is the API's JSON), so a store of millions of rows reports in seconds:

* the conferences are read in batches of SIDs, newest first, off the event loop
  (:mod:`._store_reader`); for each batch the database answers the values of the
  conferences and of all their participants as JSON arrays it builds itself (one row per
  batch, not one per record);
* **SQLite**: one ``json_extract`` with every path per document (SQLite parses each
  document once). A document SQLite cannot parse (a NaN the store kept as the API sent it
  is not JSON to SQLite before 3.42) comes whole and is decoded by the one converter
  instead;
* **PostgreSQL**: the same paths with ``->`` on ``jsonb``.

Only the public columns are read, so stores written by any version read alike. Filters are
those of ``report --db`` (:class:`~..sync.ReportQuery`); ``--limit`` keeps the newest
conferences.
"""

from __future__ import annotations

import contextlib
import gc
import re
import sqlite3
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import Any, Protocol

from .._models import ConferenceSummary, ParticipantSummary
from ..sync import ReportQuery
from ..sync._typed import PARTICIPANT_TYPED_COLUMNS
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
    participant_values_from_typed,
)
from ._store_reader import document, is_postgres, loads, matches, shown, store_batches

__all__ = [
    "Group",
    "ValuesSink",
    "add_stored",
    "TYPED_LAYOUT",
    "postgres_conference_sql",
    "postgres_participant_sql",
    "sqlite_conference_sql",
    "sqlite_participant_sql",
    "typed_participant_sql",
    "stored_values",
]

#: The first store layout with typed columns (``sync/_typed.py``), which a report reads
#: instead of the participants' JSON.
TYPED_LAYOUT = 3

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


_POSTGRES_SELECTED = "WHERE conference_sid = ANY($1::text[])"


def postgres_conference_sql() -> str:
    """PostgreSQL's query of the conferences in ``$1`` (a text array), and the store's layout.

    One row: the conferences' values as a JSON array (as text), the layout's version.
    """
    conference = ", ".join(_postgres_value(path) for path in CONFERENCE_PATHS)
    # OFFSET 0 keeps each subquery apart, so that its columns are computed once per row.
    return (
        "SELECT (SELECT coalesce(json_agg(json_build_array("
        f"conference_sid, json_build_array({conference}), NULL)), '[]')::text FROM"
        f" (SELECT conference_sid, json AS j FROM conferences {_POSTGRES_SELECTED} OFFSET 0)"
        " AS c), (SELECT max(schema_version) FROM twilio_conf_insights_store)"
    )


def postgres_participant_sql() -> str:
    """PostgreSQL's query of the participants' values of the conferences in ``$1``, from JSON.

    One row: a JSON array (as text), for a store without typed columns (layout 2 or 1).
    """
    participant = ", ".join(_postgres_value(path) for path in PARTICIPANT_PATHS)
    streams = "".join(
        f", jsonb_typeof({_postgres_value(path)}) = 'object'" for path in STREAM_PATHS
    )
    return (
        "SELECT coalesce(json_agg(json_build_array("
        f"conference_sid, json_build_array({participant}){streams}, NULL)), '[]')::text"
        " FROM (SELECT conference_sid, j, m -> 'inbound' AS i, m -> 'outbound' AS o"
        " FROM (SELECT conference_sid, json AS j, json -> 'metrics' AS m"
        f" FROM participant_summaries {_POSTGRES_SELECTED} OFFSET 0) AS stored OFFSET 0) AS p"
    )


# -- rows to values ------------------------------------------------------------------------


#: One batch as read: the SIDs in order, the conferences' and the participants' arrays.
_Batch = tuple[Sequence[str], list[list[Any]], "_Participants"]
#: A batch's participants: typed columns' rows (``True``), or values read from JSON.
_Participants = tuple[bool, Sequence[Sequence[Any]]]


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
        record = document(raw, f"{self._where}: conference {sid}")
        if not matches(record, self._query.equals):
            return None
        return conference_values(ConferenceSummary.from_dict(record))

    def participants(self, batch: _Participants) -> dict[str, list[ParticipantValues]]:
        """A batch's participants' values by conference SID."""
        typed, rows = batch
        participants: dict[str, list[ParticipantValues]] = {}
        if typed:
            for row in rows:
                found = participants.get(row[0])
                if found is None:
                    found = participants[row[0]] = []
                found.append(participant_values_from_typed(row))
            return participants
        for sid, values, inbound, outbound, raw in rows:
            if raw is None:
                participant = participant_values_from_json(values, bool(inbound), bool(outbound))
            else:
                record = document(raw, f"{self._where}: a participant of {sid}")
                participant = participant_values(ParticipantSummary.from_dict(record))
            participants.setdefault(sid, []).append(participant)
        return participants

    def groups(self, batch: _Batch) -> list[Group]:
        """The batch's selected conferences with their participants, in the SIDs' order."""
        order, conference_rows, participant_rows = batch
        by_sid = {row[0]: row for row in conference_rows}
        participants = self.participants(participant_rows)
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


# -- reading --------------------------------------------------------------------------------


#: The columns a typed read takes, in the order of ``participant_values_from_typed``.
_TYPED_SELECT = ", ".join(("conference_sid", "participant_sid", *PARTICIPANT_TYPED_COLUMNS))


def typed_participant_sql(count: int, *, postgres: bool) -> str:
    """The typed columns of the participants of ``count`` conferences (layout 3 on)."""
    selected = "= ANY($1::text[])" if postgres else f"IN ({','.join('?' * count)})"
    return f"SELECT {_TYPED_SELECT} FROM participant_summaries WHERE conference_sid {selected}"


def _read_sqlite(db: sqlite3.Connection, sids: Sequence[str]) -> tuple[list[Any], _Participants]:
    (conferences,) = db.execute(sqlite_conference_sql(len(sids)), sids).fetchone()
    (layout,) = db.execute("PRAGMA user_version").fetchone()
    if layout >= TYPED_LAYOUT:
        return loads(conferences), (
            True,
            db.execute(typed_participant_sql(len(sids), postgres=False), sids).fetchall(),
        )
    (participants,) = db.execute(sqlite_participant_sql(len(sids)), sids).fetchone()
    return loads(conferences), (False, loads(participants))


async def _read_postgres(conn: Any, sids: Sequence[str]) -> tuple[list[Any], _Participants]:
    conferences, layout = await conn.fetchrow(postgres_conference_sql(), sids)
    if layout >= TYPED_LAYOUT:
        rows = await conn.fetch(typed_participant_sql(len(sids), postgres=True), sids)
        return loads(conferences), (True, rows)
    return loads(conferences), (False, loads(await conn.fetchval(postgres_participant_sql(), sids)))


# -- entry points ----------------------------------------------------------------------------


async def stored_values(
    spec: str, query: ReportQuery, *, limit: int | None = None
) -> AsyncGenerator[list[Group], None]:
    """Batches of stored conferences with their participants' values, newest first.

    ``spec`` is ``--db``: a ``postgresql://`` URL or a SQLite file. ``limit`` keeps the
    newest conferences. Close the iterator (``contextlib.aclosing``) to release the store.
    """
    values = _Values(query, limit, f"store {shown(spec) if is_postgres(spec) else spec}")
    batches = store_batches(spec, query, sqlite=_read_sqlite, postgres=_read_postgres)
    try:
        async for order, (conferences, participants) in batches:
            yield values.groups((order, conferences, participants))
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
