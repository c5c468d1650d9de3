"""The PostgreSQL store: the SQLite store's tables and semantics, for many writers at once.

Needs the optional ``[postgres]`` extra (asyncpg). The public tables ``conferences`` and
``participant_summaries`` have the SQLite store's columns, with native types: ``json`` is
``jsonb``, times are ``timestamptz``, ``settled`` is ``boolean``. Any number of workers
write at once. A write locks the conferences it touches (a transaction-scoped advisory lock
per conference, taken in one order by every writer, so that even two first writes of one
conference wait for each other), reads what it merges into, and executes the plan of
``_merge.py``, as the SQLite store does: the same writes leave the same rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, Self

import asyncpg
import tenacity

from .._models import ConferenceSummary, ParticipantSummary
from .._results import ConferenceReport
from .._urls import display_url, is_postgres_url
from ._filters import conference_filters
from ._merge import (
    NEVER,
    ConferenceRecord,
    StoredConference,
    StoredParticipant,
    WriteCounts,
    plan_write,
    touched,
)
from ._postgres_schema import migrate
from ._schema import PARTICIPANT_COLUMNS, json_text, upsert
from ._store import (
    ReportQuery,
    StoreBase,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
    WindowState,
)
from ._typed import stored_json
from ._units import WorkUnit

__all__ = ["CONFERENCE_LOCKS", "PostgresStore", "is_postgres_url"]

#: Conferences read back per batch by :meth:`PostgresStore.reports`.
_READ_BATCH = 500
#: The first key of the store's per-conference advisory locks (the second: the SID's hash).
CONFERENCE_LOCKS = 0x5443

_UPSERT_CONFERENCE = upsert(
    "conferences", ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9::jsonb"]
)
_UPSERT_PARTICIPANT = upsert(
    "participant_summaries",
    ["$1", "$2", "$3", "$4", "$5::jsonb"]
    + [f"${number}" for number in range(6, len(PARTICIPANT_COLUMNS) + 1)],
)
# The subquery sorts: every writer takes its locks in SID order, so none waits in a cycle.
_LOCK_CONFERENCES = (
    "SELECT count(pg_advisory_xact_lock($2, hashtext(sid))) "
    "FROM (SELECT unnest($1::text[]) AS sid ORDER BY 1) AS ordered"
)


def _whole_second(moment: datetime) -> datetime:
    # synced_at in whole seconds, as the SQLite store writes it.
    return moment.replace(microsecond=0)


def _retryable(error: BaseException) -> bool:
    # Writers lock conferences in one order, so they should not deadlock; should the
    # server still abort one (a lock it takes on its own), it simply runs again.
    return isinstance(error, asyncpg.DeadlockDetectedError | asyncpg.SerializationError)


async def _no_reset_query(conn: asyncpg.Connection) -> None:
    """Nothing more to undo when a connection goes back to the pool.

    With a ``reset`` hook, asyncpg still rolls back a transaction left open and drops
    listeners itself; what it no longer does is send its reset query (unlocking session
    advisory locks, ``CLOSE ALL``, ``UNLISTEN *``, ``RESET ALL``), one round trip per
    store call. This store leaves none of that behind: its advisory locks are
    transaction-scoped, it never listens, opens cursors or changes settings.
    """


class PostgresStore(StoreBase):
    """A sync store in a PostgreSQL database; several workers may write to it at once.

    ``async with PostgresStore("postgresql://user@host/db") as store:``. The tables are
    created when missing, and a store of an earlier layout is migrated once.
    ``read_only=True`` opens every transaction read-only. The URL's password never
    appears in a repr or an error message.
    """

    def __init__(self, url: str, *, read_only: bool = False, max_connections: int = 10) -> None:
        if not is_postgres_url(url):
            raise ValueError("a PostgreSQL store needs a postgresql:// URL")
        self._url = url
        self._read_only = read_only
        self._max_connections = max_connections
        self._pool: asyncpg.Pool | None = None

    @property
    def display_url(self) -> str:
        """The URL without its password (in any spelling)."""
        return display_url(self._url)

    def _where(self) -> str:
        return self.display_url

    def _is_open(self) -> bool:
        return self._pool is not None

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, *, read_only: bool = False) -> Self:
        """Connect (creating the tables when missing); a one-line :class:`StoreError` if not."""
        store = cls(url, read_only=read_only)
        await store._start()
        return store

    async def _start(self) -> None:
        if self._pool is not None:
            raise RuntimeError("store already open")
        settings = {"default_transaction_read_only": "on"} if self._read_only else {}
        try:
            self._pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._max_connections,
                server_settings={"application_name": "twilio-conf-insights", **settings},
                reset=_no_reset_query,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
            raise StoreError(
                f"cannot connect to PostgreSQL store {self.display_url}: {reason}"
            ) from None
        try:
            await self._prepare()
        except BaseException:
            await self.aclose()
            raise

    async def _prepare(self) -> None:
        async with self._live().acquire() as conn:
            await migrate(conn, self.display_url, read_only=self._read_only)

    async def aclose(self) -> None:
        """Close the connections. Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _live(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError(f"store {self.display_url} is closed")
        return self._pool

    def _translate(self, error: BaseException) -> StoreError:
        where = self.display_url
        if isinstance(error, asyncpg.ReadOnlySQLTransactionError):
            return StoreReadOnlyError(f"store {where} is read-only ({error})")
        if isinstance(error, asyncpg.DiskFullError | asyncpg.InsufficientResourcesError):
            return StoreFullError(f"store {where}: disk full ({error}); the last write was undone")
        return StoreError(f"store {where}: {str(error).splitlines()[0] if str(error) else error!r}")

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            async with self._live().acquire() as conn:
                rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
                return rows
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise self._translate(error) from None

    async def _execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self._read_only:
            raise StoreReadOnlyError(f"store {self.display_url} was opened read-only")
        try:
            async with self._live().acquire() as conn, conn.transaction():
                await conn.executemany(sql, rows)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise self._translate(error) from None

    # -- the Store interface -----------------------------------------------------------------

    async def windows(self, scope: str) -> list[WindowState]:
        """Every window of ``scope`` the store knows."""
        rows = await self._fetch(
            "SELECT unit::text, closed, listed_at FROM sync_windows WHERE scope = $1 "
            "ORDER BY window_start DESC",
            scope,
        )
        return [
            WindowState(
                unit=WorkUnit.from_dict(json.loads(row[0])),
                closed=row[1],
                listed_at=row[2].astimezone(UTC) if row[2] is not None else None,
            )
            for row in rows
        ]

    async def add_windows(self, units: Sequence[WorkUnit]) -> None:
        """Remember windows about to be synced (known ones are left as they are)."""
        rows = [(u.scope, u.start, u.end, json_text(u.to_dict())) for u in units]
        if rows:
            await self._execute_many(
                "INSERT INTO sync_windows (scope, window_start, window_end, unit) "
                "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING",
                rows,
            )

    async def finish_window(self, unit: WorkUnit, *, closed: bool, listed_at: datetime) -> None:
        """Record that ``unit`` was listed completely, and whether it is now closed."""
        await self._execute_many(
            "UPDATE sync_windows SET closed = closed OR $1, listed_at = $2 "
            "WHERE scope = $3 AND window_start = $4 AND window_end = $5",
            [(closed, listed_at.replace(microsecond=0), unit.scope, unit.start, unit.end)],
        )

    async def settled(self, conference_sids: Collection[str]) -> set[str]:
        """Which of these conferences the store holds settled."""
        rows = await self._fetch(
            "SELECT conference_sid FROM conferences WHERE settled AND conference_sid = ANY($1)",
            list(conference_sids),
        )
        return {row[0] for row in rows}

    async def write(self, records: Sequence[ConferenceRecord]) -> WriteCounts:
        """Merge summaries into the store (see :meth:`Store.write`), in one transaction."""
        if not records:
            return WriteCounts()
        if self._read_only:
            raise StoreReadOnlyError(f"store {self.display_url} was opened read-only")
        batch = list(records)
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(_retryable),
            stop=tenacity.stop_after_attempt(5),
            wait=tenacity.wait_random_exponential(multiplier=0.01, max=0.5),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with self._live().acquire() as conn, conn.transaction():
                        return await self._write(conn, batch)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise self._translate(error) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _write(
        self, conn: asyncpg.Connection, records: list[ConferenceRecord]
    ) -> WriteCounts:
        conference_sids, participant_sids = touched(records)
        # Held until the transaction ends; taken before any read, also for conferences
        # without a row yet, so two first writes of one conference cannot interleave.
        await conn.execute(_LOCK_CONFERENCES, conference_sids, CONFERENCE_LOCKS)
        now = datetime.now(UTC)
        conferences = {
            row[0]: StoredConference(row[1], row[2] or NEVER, row[3], row[4], row[5], row[6])
            for row in await conn.fetch(
                "SELECT conference_sid, processing_state, observed_at, json::text, "
                "unique_participants, settled, synced_at FROM conferences "
                "WHERE conference_sid = ANY($1)",
                conference_sids,
            )
        }
        participants = {
            row[0]: StoredParticipant(row[1], row[2], row[3] or NEVER, row[4])
            for row in await conn.fetch(
                "SELECT participant_sid, conference_sid, processing_state, observed_at, "
                "json::text FROM participant_summaries "
                "WHERE conference_sid = ANY($1) OR participant_sid = ANY($2)",
                conference_sids,
                participant_sids,
            )
        }
        plan = plan_write(records, conferences, participants, now=now)
        if plan.conferences:
            await conn.executemany(
                _UPSERT_CONFERENCE,
                [
                    (
                        row.conference_sid,
                        row.account_sid,
                        row.create_time,
                        row.processing_state,
                        row.unique_participants,
                        row.settled,
                        row.observed_at,
                        _whole_second(row.synced_at),
                        row.json,
                    )
                    for row in plan.conferences
                ],
            )
        if plan.settled:
            await conn.executemany(
                "UPDATE conferences SET settled = $1, synced_at = $2 WHERE conference_sid = $3",
                [(c.settled, _whole_second(c.synced_at), c.conference_sid) for c in plan.settled],
            )
        if plan.participants:
            await conn.executemany(
                _UPSERT_PARTICIPANT,
                [
                    (
                        row.participant_sid,
                        row.conference_sid,
                        row.processing_state,
                        row.observed_at,
                        row.json,
                        *row.typed,
                    )
                    for row in plan.participants
                ],
            )
        return plan.counts

    # -- reading back -----------------------------------------------------------------------

    async def reports(self, query: ReportQuery) -> AsyncIterator[ConferenceReport]:
        """Stored conferences with their participants, newest first."""
        filters, params = conference_filters(query, postgres=True)
        where = [filters.removeprefix(" WHERE ")] if filters else []
        order_key = "coalesce(create_time, '-infinity'::timestamptz)"
        after: tuple[datetime, str] | None = None
        while True:
            clauses = list(where)
            page_params = list(params)
            if after is not None:
                # Keyset paging in (create_time, conference_sid) descending order.
                page_params += list(after)
                n = len(page_params)
                clauses.append(f"({order_key}, conference_sid) < (${n - 1}, ${n})")
            sql = f"SELECT conference_sid, {order_key}, json::text FROM conferences"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            sql += f" ORDER BY {order_key} DESC, conference_sid DESC LIMIT {_READ_BATCH}"
            rows = await self._fetch(sql, *page_params)
            if not rows:
                return
            by_conference: dict[str, list[ParticipantSummary]] = {row[0]: [] for row in rows}
            for conference_sid, text in await self._fetch(
                "SELECT conference_sid, json::text FROM participant_summaries "
                "WHERE conference_sid = ANY($1) ORDER BY seq",
                list(by_conference),
            ):
                by_conference[conference_sid].append(
                    ParticipantSummary.from_dict(stored_json(text))
                )
            for sid, _, text in rows:
                yield ConferenceReport(
                    summary=ConferenceSummary.from_dict(stored_json(text)),
                    participants=by_conference[sid],
                )
            if len(rows) < _READ_BATCH:
                return
            after = (rows[-1][1], rows[-1][0])

    async def counts(self) -> dict[str, int]:
        """How many conferences (settled or not) and participant summaries are stored."""
        rows = await self._fetch(
            "SELECT (SELECT count(*) FROM conferences), "
            "(SELECT count(*) FROM conferences WHERE settled), "
            "(SELECT count(*) FROM participant_summaries)"
        )
        conferences, settled, participants = rows[0]
        return {
            "conferences": conferences,
            "settled": settled,
            "unsettled": conferences - settled,
            "participant_summaries": participants,
        }
