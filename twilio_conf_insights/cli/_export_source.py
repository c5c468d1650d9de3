"""``export --db``: the stored records as their JSON, never decoded into models.

A store's ``json`` columns hold each record's ``to_dict()`` (the API's JSON), which is what
an export writes: the records are read in the stores' order (newest first, participants in
the order they were listed) through :mod:`._store_reader` and handed to the export's
writer as text. Decoding them into models and back cost about 130 µs a row (two
and a half minutes for a year of a million participants).

A JSON Lines or JSON export copies SQLite's compact texts as they are stored, the
participants spliced into their conference's object (see
:meth:`._export.StoredJson.text`); CSV, and PostgreSQL's ``jsonb`` (which reads back
re-spelled), are parsed and written again, without models.

Filters are those of ``export --db`` (:class:`~..sync.ReportQuery`): SQL applies them, and
Python to a document SQLite cannot parse (a NaN before SQLite 3.42 passes SQL's ``json``
filters); ``--limit`` keeps the newest conferences.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from ..sync import ReportQuery
from ._export import StoredJson
from ._store_reader import (
    PostgresBatch,
    SQLiteBatch,
    document,
    is_postgres,
    matches,
    shown,
    store_batches,
)

__all__ = ["stored_records"]

#: One batch as read: the conferences' ``(sid, json, whether SQL could filter it)``, and
#: the participants' ``(conference sid, json)`` in listing order.
_Texts = tuple[list[tuple[str, str, bool]], list[tuple[str, str]]]


def _sqlite_reader(with_participants: bool) -> SQLiteBatch[_Texts]:
    def read(db: sqlite3.Connection, sids: Sequence[str]) -> _Texts:
        marks = ",".join("?" * len(sids))
        conferences = [
            (sid, text, bool(valid))
            for sid, text, valid in db.execute(
                "SELECT conference_sid, json, json_valid(json) FROM conferences "
                f"WHERE conference_sid IN ({marks})",
                sids,
            )
        ]
        if not with_participants:
            return conferences, []
        # Sorted here, not by ORDER BY rowid: that clause makes SQLite scan the whole table
        # in rowid order instead of looking the batch up by conference.
        rows = sorted(
            db.execute(
                "SELECT rowid, conference_sid, json FROM participant_summaries "
                f"WHERE conference_sid IN ({marks})",
                sids,
            )
        )
        return conferences, [(sid, text) for _, sid, text in rows]

    return read


def _postgres_reader(with_participants: bool) -> PostgresBatch[_Texts]:
    async def read(conn: Any, sids: Sequence[str]) -> _Texts:
        conferences = await conn.fetch(
            "SELECT conference_sid, json::text FROM conferences WHERE conference_sid = ANY($1)",
            sids,
        )
        participants: list[Any] = []
        if with_participants:
            participants = await conn.fetch(
                "SELECT conference_sid, json::text FROM participant_summaries "
                "WHERE conference_sid = ANY($1) ORDER BY seq",
                sids,
            )
        return [(sid, text, True) for sid, text in conferences], [
            (sid, text) for sid, text in participants
        ]

    return read


async def stored_records(
    spec: str, query: ReportQuery, *, with_participants: bool, limit: int | None = None
) -> AsyncGenerator[list[StoredJson], None]:
    """Batches of the stored conferences ``query`` selects, newest first, as their JSON.

    ``spec`` is ``--db``: a ``postgresql://`` URL or a SQLite file. ``limit`` keeps the
    newest conferences. Close the iterator (``contextlib.aclosing``) to release the store.
    """
    postgres = is_postgres(spec)
    where = f"store {shown(spec) if postgres else spec}"
    left = limit
    batches = store_batches(
        spec,
        query,
        sqlite=_sqlite_reader(with_participants),
        postgres=_postgres_reader(with_participants),
    )
    try:
        async for order, (conference_rows, participant_rows) in batches:
            if left is not None and left <= 0:
                return
            participants: dict[str, list[str]] = {}
            for sid, text in participant_rows:
                participants.setdefault(sid, []).append(text)
            conferences = {sid: (text, filtered) for sid, text, filtered in conference_rows}
            records: list[StoredJson] = []
            for sid in order:
                if left is not None and left <= 0:
                    break
                text, filtered = conferences[sid]
                if (
                    query.equals
                    and not filtered
                    and not matches(document(text, f"{where}: conference {sid}"), query.equals)
                ):
                    continue
                if left is not None:
                    left -= 1
                own = participants.get(sid, []) if with_participants else None
                records.append(StoredJson(text, own, compact=not postgres, where=where, sid=sid))
            yield records
    finally:
        await batches.aclose()
