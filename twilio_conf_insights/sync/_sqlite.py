"""The SQLite store: one file, WAL, standard-library ``sqlite3`` on one thread of its own.

Every call runs on the store's single worker thread (the connection lives there), so the
event loop never waits on the disk. Writes are one transaction each: a killed process
leaves the last committed transaction in place and nothing of the one in flight.

Guards, before SQLite touches a file: a non-empty file that is not an SQLite database, or
an SQLite database of another application, is refused untouched. A store being synced is
held with an exclusive ``flock`` for as long as the sync has it open, so a second sync
refuses at once (the lock dies with the process, even on ``kill -9``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from .._decoding import decode_list
from .._models import ConferenceSummary, ParticipantSummary
from .._results import ConferenceReport
from .._transport import json_loads
from ._guards import check_store_file, hold_exclusively, translate
from ._schema import APPLICATION_ID, SCHEMA, SCHEMA_VERSION, json_text, upsert
from ._store import (
    ConferenceRecord,
    ReportQuery,
    StoreBase,
    StoreError,
    StoreReadOnlyError,
    WindowState,
    WriteCounts,
)
from ._units import WorkUnit, format_time, parse_time

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_SQLITE_HEADER = b"SQLite format 3\x00"
#: Conferences read back per batch by :meth:`SQLiteStore.reports`.
_READ_BATCH = 500

_UPSERT_CONFERENCE = upsert("conferences", ["?"] * 7)
_UPSERT_PARTICIPANT = upsert("participant_summaries", ["?"] * 4)


def _state(value: object) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _create_time(value: object) -> str | None:
    """The stored, sortable form of an API ``create_time`` (the raw text if unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # drifted spelling: kept, so the record is not lost
    return format_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


class SQLiteStore(StoreBase):
    """A sync store in one SQLite file; also what ``report``/``export --db`` read.

    Open it with ``async with SQLiteStore(path) as store:`` (or :meth:`open` and
    :meth:`aclose`). A missing file is created as an empty store. ``read_only=True``
    opens an existing store for reading only (any number of readers, even during a
    sync); otherwise the store is held exclusively until closed, and a second writer
    gets :class:`StoreBusyError`.

    The tables ``conferences`` and ``participant_summaries`` are public: query the file
    with ``sqlite3``, DuckDB or pandas while no sync holds it, or at any time through
    WAL's snapshot reads.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self._path = Path(path)
        self._read_only = read_only
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

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
    async def open(cls, path: str | os.PathLike[str], *, read_only: bool = False) -> Self:
        """Open (or create) a store; see the class docstring for the errors."""
        store = cls(path, read_only=read_only)
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
        """Close the connection and release the hold on the store. Idempotent."""
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

    def _check_foreign(self) -> bool:
        return check_store_file(self._path, read_only=self._read_only)

    def _hold(self) -> None:
        self._lock_fd = hold_exclusively(self._path)

    def _connect(self) -> None:
        exists = self._check_foreign()
        if not self._read_only:
            self._hold()
        mode = "ro" if self._read_only else "rw"
        uri = f"{self._path.absolute().as_uri()}?mode={mode}"
        try:
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None
        self._db = db
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            if not exists and not self._read_only:
                self._create_schema(db)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self._path} was written by a newer version (layout {version}); "
                    "upgrade twilio-conf-insights"
                )
            if not self._read_only:
                db.execute("PRAGMA journal_mode = WAL")
                # WAL + NORMAL: a killed process never loses a commit; only power loss can.
                db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as error:
            raise translate(error, str(self._path)) from None

    def _create_schema(self, db: sqlite3.Connection) -> None:
        # Identity first, in rollback-journal mode, so it is in the file itself at once
        # (the foreign-file probe reads the file without its WAL).
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        try:
            db.executescript(
                f"BEGIN IMMEDIATE; {SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _disconnect(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # after the connection: closing it releases the flock

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
        for start in range(0, len(sids), 500):  # SQLite's bound-parameter limit
            chunk = sids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0]
                for row in db.execute(
                    f"SELECT conference_sid FROM conferences "
                    f"WHERE settled = 1 AND conference_sid IN ({marks})",
                    chunk,
                )
            )
        return found

    async def write(self, records: Sequence[ConferenceRecord]) -> WriteCounts:
        """Upsert conferences with their participants, all in one transaction."""
        if not records:
            return WriteCounts()
        now = format_time(datetime.now(UTC))
        return await self._call(self._transaction, lambda db: self._write(db, list(records), now))

    def _write(
        self, db: sqlite3.Connection, records: list[ConferenceRecord], now: str
    ) -> WriteCounts:
        new = updated = settled = unsettled = participants_written = 0
        sids = [record.conference_sid for record in records]
        old_rows: dict[str, tuple[str, int]] = {}
        old_participants: dict[str, dict[str, str]] = {}
        # The batch's current rows in a few IN queries, not two queries per conference.
        for start in range(0, len(sids), 500):
            chunk = sids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for sid, text, was_settled in db.execute(
                f"SELECT conference_sid, json, settled FROM conferences "
                f"WHERE conference_sid IN ({marks})",
                chunk,
            ):
                old_rows[sid] = (text, was_settled)
            for sid, psid, text in db.execute(
                f"SELECT conference_sid, participant_sid, json FROM participant_summaries "
                f"WHERE conference_sid IN ({marks})",
                chunk,
            ):
                old_participants.setdefault(sid, {})[psid] = text
        # Rows go in with one executemany per table, not statements per conference (less
        # Python on the store thread, which shares the GIL with the event loop); a deletion
        # first writes the participants queued before it, so statements keep record order.
        conference_rows: list[tuple[Any, ...]] = []
        participant_rows: list[tuple[str, str, str | None, str]] = []
        for record in records:
            summary = record.summary
            sid = record.conference_sid
            summary_json = json_text(summary)
            parts = [(str(p.get("participant_sid")), p, json_text(p)) for p in record.participants]
            is_settled = record.settled
            old = old_rows.get(sid)
            old_parts = old_participants.get(sid, {})
            changed_parts = [
                (psid, sid, _state(p.get("processing_state")), text)
                for psid, p, text in parts
                if old_parts.get(psid) != text
            ]
            gone = set(old_parts) - {psid for psid, _, _ in parts}
            if old is None:
                new += 1
            elif old[0] != summary_json or changed_parts or gone:
                updated += 1
                settled += int(is_settled and not old[1])
            unsettled += int(not is_settled)
            if old is None or old[0] != summary_json or old[1] != int(is_settled):
                conference_rows.append(
                    (
                        sid,
                        summary.get("account_sid"),
                        _create_time(summary.get("create_time")),
                        _state(summary.get("processing_state")),
                        int(is_settled),
                        now,
                        summary_json,
                    )
                )
            participant_rows += changed_parts
            participants_written += len(changed_parts)
            if gone:
                db.executemany(_UPSERT_PARTICIPANT, participant_rows)
                participant_rows = []
                db.executemany(
                    "DELETE FROM participant_summaries WHERE participant_sid = ?",
                    [(psid,) for psid in gone],
                )
        db.executemany(_UPSERT_CONFERENCE, conference_rows)
        db.executemany(_UPSERT_PARTICIPANT, participant_rows)
        return WriteCounts(new, updated, settled, unsettled, participants_written)

    # -- reading back -----------------------------------------------------------------------

    async def reports(self, query: ReportQuery) -> AsyncIterator[ConferenceReport]:
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
            where.append("json_extract(json, ?) = ?")
            params += [f"$.{key}", value]
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
            [json_loads(text) for _, text in rows_of_participants], ParticipantSummary
        )
        by_conference: dict[str, list[ParticipantSummary]] = {sid: [] for sid in sids}
        for (conference_sid, _), participant in zip(
            rows_of_participants, participants, strict=True
        ):
            by_conference[conference_sid].append(participant)
        summaries = decode_list([json_loads(text) for _, _, text in rows], ConferenceSummary)
        reports = [
            ConferenceReport(summary=summary, participants=by_conference[row[0]])
            for row, summary in zip(rows, summaries, strict=True)
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
