"""The SQLite store: one file, WAL, standard-library ``sqlite3`` on one thread of its own.

Every call runs on the store's single worker thread (the connection lives there), so the
event loop never waits on the disk. Writes are one ``BEGIN IMMEDIATE`` transaction each:
a killed process leaves the last committed transaction in place and nothing of the one in
flight. Several writers share one file (a sync and a webhook listener, two syncs): SQLite
lets one write at a time, the others wait for it (``busy_timeout``), and each write reads
what it merges into under the same lock (``_merge.py`` decides).

Guards, before SQLite touches a file: a non-empty file that is not an SQLite database, or
an SQLite database of another application (its write-ahead log included), is refused
untouched. A store made by an earlier version is migrated once, when opened for writing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from .._decoding import decode_list
from .._models import ConferenceSummary, ParticipantSummary
from .._results import ConferenceReport
from ._filters import conference_filters, matches_equals
from ._guards import check_store_file, open_writable, translate
from ._merge import (
    ConferenceRecord,
    StoredConference,
    StoredParticipant,
    WriteCounts,
    instant_text,
    parse_instant,
    plan_write,
    touched,
)
from ._schema import APPLICATION_ID, PARTICIPANT_COLUMNS, SCHEMA_VERSION, json_text, upsert
from ._sqlite_schema import migrate, store_version
from ._store import (
    NotAStoreError,
    ReportQuery,
    StoreBase,
    StoreError,
    StoreReadOnlyError,
    WindowState,
)
from ._typed import stored_json
from ._units import WorkUnit, format_time, parse_time

__all__ = ["SQLiteStore"]

T = TypeVar("T")

#: Conferences read back per batch by :meth:`SQLiteStore.reports`.
_READ_BATCH = 500
#: Keys per ``IN (...)`` query.
_CHUNK = 500
#: How long a write waits for another writer's transaction before StoreBusyError.
DEFAULT_BUSY_TIMEOUT = 30.0

_UPSERT_CONFERENCE = upsert("conferences", ["?"] * 9)
_UPSERT_PARTICIPANT = upsert("participant_summaries", ["?"] * len(PARTICIPANT_COLUMNS))


def _chunks(keys: Sequence[str]) -> list[Sequence[str]]:
    return [keys[start : start + _CHUNK] for start in range(0, len(keys), _CHUNK)]


def _marks(keys: Sequence[str]) -> str:
    return ",".join("?" * len(keys))


class SQLiteStore(StoreBase):
    """A sync store in one SQLite file; also what ``report``/``export --db`` read.

    Open it with ``async with SQLiteStore(path) as store:`` (or :meth:`open` and
    :meth:`aclose`). A missing file is created as an empty store, readable by its owner
    only. ``read_only=True`` opens an existing store for reading only. Any number of
    readers and writers may have the store open at once, in any processes: a write waits
    up to ``busy_timeout`` seconds for another one to commit, then raises
    :class:`StoreBusyError`.

    The tables ``conferences`` and ``participant_summaries`` are public: query the file
    with ``sqlite3``, DuckDB or pandas at any time (WAL gives readers a snapshot).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self._path = Path(path)
        self._read_only = read_only
        self._busy_timeout = busy_timeout
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    def _where(self) -> str:
        return str(self._path)

    def _is_open(self) -> bool:
        return self._executor is not None

    @property
    def path(self) -> Path:
        """The store's file."""
        return self._path

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> Self:
        """Open (or create) a store; see the class docstring for the errors."""
        store = cls(path, read_only=read_only, busy_timeout=busy_timeout)
        await store._start()
        return store

    async def _start(self) -> None:
        if self._executor is not None:
            raise RuntimeError("store already open")
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tci-store"
        )
        try:
            await self._call(self._connect)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection. Idempotent."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, self._disconnect)
        finally:
            executor.shutdown(wait=False)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError(f"store {self._path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    # -- worker-thread side: opening ---------------------------------------------------------

    def _connect(self) -> None:
        check_store_file(self._path, read_only=self._read_only)
        if not self._read_only:
            open_writable(self._path)
        mode = "ro" if self._read_only else "rw"
        uri = f"{self._path.absolute().as_uri()}?mode={mode}"
        try:
            db = sqlite3.connect(
                uri,
                uri=True,
                isolation_level=None,
                check_same_thread=True,
                timeout=self._busy_timeout,
            )
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None
        self._db = db  # from here on, aclose() closes it, whatever fails next
        try:
            if self._read_only:
                self._check_readable(db)
            else:
                migrate(db, str(self._path))
                # WAL: readers never wait for a writer, nor a writer for readers.
                db.execute("PRAGMA journal_mode = WAL")
                # WAL + NORMAL: a killed process never loses a commit; only power loss can.
                db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None

    def _check_readable(self, db: sqlite3.Connection) -> None:
        # An earlier layout reads as well: reading uses only the public columns, which
        # every layout has; it is migrated by the next writer.
        application_id, version = store_version(db)
        if application_id != APPLICATION_ID:
            raise NotAStoreError(f"{self._path} is not a twilio-conf-insights store")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self._path} was written by a newer version (layout {version}); "
                "upgrade twilio-conf-insights"
            )

    def _disconnect(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"store {self._path} is closed")
        return self._db

    def _writable(self) -> sqlite3.Connection:
        if self._read_only:
            raise StoreReadOnlyError(f"store {self._path} was opened read-only")
        return self._conn()

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._writable()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                if db.in_transaction:  # SQLite undoes some failures (SQLITE_FULL) by itself
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as error:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise translate(error, str(self._path)) from None
        return result

    # -- the Store interface -----------------------------------------------------------------

    async def windows(self, scope: str) -> list[WindowState]:
        """Every window of ``scope`` the store knows."""
        return await self._call(self._windows, scope)

    def _windows(self, scope: str) -> list[WindowState]:
        rows = self._conn().execute(
            "SELECT unit, closed, listed_at FROM sync_windows WHERE scope = ? "
            "ORDER BY window_start DESC",
            (scope,),
        )
        return [
            WindowState(
                unit=WorkUnit.from_dict(json.loads(unit)),
                closed=bool(closed),
                listed_at=parse_time(listed_at) if listed_at else None,
            )
            for unit, closed, listed_at in rows
        ]

    async def add_windows(self, units: Sequence[WorkUnit]) -> None:
        """Remember windows about to be synced."""
        rows = [
            (u.scope, format_time(u.start), format_time(u.end), json_text(u.to_dict()))
            for u in units
        ]
        if rows:
            await self._call(
                self._transaction,
                lambda db: db.executemany(
                    "INSERT OR IGNORE INTO sync_windows (scope, window_start, window_end, unit) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                ),
            )

    async def finish_window(self, unit: WorkUnit, *, closed: bool, listed_at: datetime) -> None:
        """Record that ``unit`` was listed completely, and whether it is now closed."""
        values = (
            int(closed),
            format_time(listed_at),
            unit.scope,
            format_time(unit.start),
            format_time(unit.end),
        )
        await self._call(
            self._transaction,
            lambda db: db.execute(
                "UPDATE sync_windows SET closed = max(closed, ?), listed_at = ? "
                "WHERE scope = ? AND window_start = ? AND window_end = ?",
                values,
            ),
        )

    async def settled(self, conference_sids: Collection[str]) -> set[str]:
        """Which of these conferences the store holds settled."""
        return await self._call(self._settled, list(conference_sids))

    def _settled(self, sids: list[str]) -> set[str]:
        db = self._conn()
        found: set[str] = set()
        for chunk in _chunks(sids):  # SQLite's bound-parameter limit
            found.update(
                row[0]
                for row in db.execute(
                    "SELECT conference_sid FROM conferences "
                    f"WHERE settled = 1 AND conference_sid IN ({_marks(chunk)})",
                    chunk,
                )
            )
        return found

    async def write(self, records: Sequence[ConferenceRecord]) -> WriteCounts:
        """Merge summaries into the store (see :meth:`Store.write`), in one transaction."""
        if not records:
            return WriteCounts()
        batch = list(records)
        return await self._call(self._transaction, lambda db: self._write(db, batch))

    def _write(self, db: sqlite3.Connection, records: list[ConferenceRecord]) -> WriteCounts:
        # Under the write lock: what is read here is what the plan merges into.
        now = datetime.now(UTC)
        conference_sids, participant_sids = touched(records)
        conferences: dict[str, StoredConference] = {}
        participants: dict[str, StoredParticipant] = {}
        for chunk in _chunks(conference_sids):
            for sid, state, observed, text, expected, settled, synced in db.execute(
                "SELECT conference_sid, processing_state, observed_at, json, "
                "unique_participants, settled, synced_at FROM conferences "
                f"WHERE conference_sid IN ({_marks(chunk)})",
                chunk,
            ):
                stamps = parse_instant(observed), parse_instant(synced)
                conferences[sid] = StoredConference(
                    state, stamps[0], text, expected, bool(settled), stamps[1]
                )
        # Every participant summary of these conferences (settled counts them all), and
        # those written wherever they are stored (each is merged with its stored version).
        queries = [("conference_sid", chunk) for chunk in _chunks(conference_sids)]
        queries += [("participant_sid", chunk) for chunk in _chunks(participant_sids)]
        for column, chunk in queries:
            for psid, sid, state, observed, text in db.execute(
                "SELECT participant_sid, conference_sid, processing_state, observed_at, json "
                f"FROM participant_summaries WHERE {column} IN ({_marks(chunk)})",
                chunk,
            ):
                participants[psid] = StoredParticipant(sid, state, parse_instant(observed), text)
        plan = plan_write(records, conferences, participants, now=now)
        db.executemany(
            _UPSERT_CONFERENCE,
            [
                (
                    row.conference_sid,
                    row.account_sid,
                    None if row.create_time is None else format_time(row.create_time),
                    row.processing_state,
                    row.unique_participants,
                    int(row.settled),
                    instant_text(row.observed_at),
                    format_time(row.synced_at),
                    row.json,
                )
                for row in plan.conferences
            ],
        )
        db.executemany(
            "UPDATE conferences SET settled = ?, synced_at = ? WHERE conference_sid = ?",
            [(int(c.settled), format_time(c.synced_at), c.conference_sid) for c in plan.settled],
        )
        db.executemany(
            _UPSERT_PARTICIPANT,
            [
                (
                    row.participant_sid,
                    row.conference_sid,
                    row.processing_state,
                    instant_text(row.observed_at),
                    row.json,
                    *row.typed,
                )
                for row in plan.participants
            ],
        )
        return plan.counts

    # -- reading back -----------------------------------------------------------------------

    async def reports(self, query: ReportQuery) -> AsyncGenerator[ConferenceReport, None]:
        """Stored conferences with their participants, newest first, decoded off the loop."""
        after: tuple[str, str] | None = None
        while True:
            batch, after = await self._call(self._read_batch, query, after)
            for report in batch:
                yield report
            if after is None:
                return

    def _read_batch(
        self, query: ReportQuery, after: tuple[str, str] | None
    ) -> tuple[list[ConferenceReport], tuple[str, str] | None]:
        db = self._conn()
        filters, params = conference_filters(query, postgres=False)
        where = [filters.removeprefix(" WHERE ")] if filters else []
        if after is not None:
            # Keyset paging in (create_time, conference_sid) descending order.
            where.append("(coalesce(create_time, ''), conference_sid) < (?, ?)")
            params += list(after)
        sql = "SELECT conference_sid, coalesce(create_time, ''), json FROM conferences"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY coalesce(create_time, '') DESC, conference_sid DESC LIMIT ?"
        rows = db.execute(sql, [*params, _READ_BATCH]).fetchall()
        if not rows:
            return [], None
        sids = [row[0] for row in rows]
        marks = ",".join("?" * len(sids))
        # Sorted here, not by ORDER BY rowid: that clause makes SQLite scan the whole table
        # in rowid order instead of looking the batch up in participant_summaries_by_conference.
        rows_of_participants = [
            row[1:]
            for row in sorted(
                db.execute(
                    "SELECT rowid, conference_sid, json FROM participant_summaries "
                    f"WHERE conference_sid IN ({marks})",
                    sids,
                )
            )
        ]
        # One decode per batch: the converter is much faster on a list than item by item.
        participants = decode_list(
            [stored_json(text) for _, text in rows_of_participants], ParticipantSummary
        )
        by_conference: dict[str, list[ParticipantSummary]] = {sid: [] for sid in sids}
        for (conference_sid, _), participant in zip(
            rows_of_participants, participants, strict=True
        ):
            by_conference[conference_sid].append(participant)
        documents = [stored_json(text) for _, _, text in rows]
        summaries = decode_list(documents, ConferenceSummary)
        reports = [
            ConferenceReport(summary=summary, participants=by_conference[row[0]])
            for row, summary, document in zip(rows, summaries, documents, strict=True)
            # SQL let through a document SQLite cannot parse (a NaN): filtered here.
            if matches_equals(document, query.equals)
        ]
        last = rows[-1]
        return reports, ((last[1], last[0]) if len(rows) == _READ_BATCH else None)

    async def counts(self) -> dict[str, int]:
        """How many conferences (settled or not) and participant summaries are stored."""
        return await self._call(self._counts)

    def _counts(self) -> dict[str, int]:
        db = self._conn()
        conferences, settled = db.execute(
            "SELECT count(*), coalesce(sum(settled), 0) FROM conferences"
        ).fetchone()
        (participants,) = db.execute("SELECT count(*) FROM participant_summaries").fetchone()
        return {
            "conferences": conferences,
            "settled": settled,
            "unsettled": conferences - settled,
            "participant_summaries": participants,
        }
