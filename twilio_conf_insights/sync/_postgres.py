"""The PostgreSQL store: the SQLite store's tables and semantics, for many writers at once.

Needs the optional ``[postgres]`` extra (asyncpg). The public tables ``conferences`` and
``participant_summaries`` have the SQLite store's columns, with native types: ``json`` is
``jsonb``, times are ``timestamptz``, ``settled`` is ``boolean``. Unlike the SQLite store,
which one sync holds exclusively, any number of workers write here at once: every write is
an idempotent upsert in one transaction, so a unit delivered twice leaves the same rows.
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
from .._transport import json_loads
from .._urls import display_url, is_postgres_url
from ._schema import json_text, upsert
from ._store import (
    ConferenceRecord,
    NotAStoreError,
    ReportQuery,
    StoreBase,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
    WindowState,
    WriteCounts,
)
from ._units import WorkUnit

__all__ = ["PostgresStore", "is_postgres_url"]

#: The layout written by this version (kept in ``twilio_conf_insights_store``).
SCHEMA_VERSION = 1
#: Conferences read back per batch by :meth:`PostgresStore.reports`.
_READ_BATCH = 500
#: Any constant: serialises schema creation when several workers start at once.
_SCHEMA_LOCK = 0x54434953

_SCHEMA = """
CREATE TABLE IF NOT EXISTS twilio_conf_insights_store (schema_version integer NOT NULL);
CREATE TABLE IF NOT EXISTS conferences (
    conference_sid   text PRIMARY KEY,
    account_sid      text,
    create_time      timestamptz,
    processing_state text,
    settled          boolean NOT NULL,  -- once it and all its participants are terminal
    synced_at        timestamptz NOT NULL,
    json             jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS conferences_by_create_time ON conferences (create_time);
CREATE TABLE IF NOT EXISTS participant_summaries (
    participant_sid  text PRIMARY KEY,
    conference_sid   text NOT NULL,
    processing_state text,
    json             jsonb NOT NULL,
    -- first-insertion order, as SQLite's rowid: the order the API listed them in
    seq              bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX IF NOT EXISTS participant_summaries_by_conference
    ON participant_summaries (conference_sid);
CREATE TABLE IF NOT EXISTS sync_windows (
    scope        text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    unit         jsonb NOT NULL,
    closed       boolean NOT NULL DEFAULT false,
    listed_at    timestamptz,
    PRIMARY KEY (scope, window_start, window_end)
);
"""

_UPSERT_CONFERENCE = upsert(
    "conferences", ["$1", "$2", "$3::text::timestamptz", "$4", "$5", "$6", "$7::jsonb"]
)
_UPSERT_PARTICIPANT = upsert("participant_summaries", ["$1", "$2", "$3", "$4::jsonb"])


def _state(value: object) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _retryable(error: BaseException) -> bool:
    # Two writers upserting the same rows (a unit delivered twice) may deadlock; one is
    # aborted by the server and simply runs again.
    return isinstance(error, asyncpg.DeadlockDetectedError | asyncpg.SerializationError)


class PostgresStore(StoreBase):
    """A sync store in a PostgreSQL database; several workers may write to it at once.

    ``async with PostgresStore("postgresql://user@host/db") as store:``. The tables are
    created when missing. ``read_only=True`` opens every transaction read-only. The URL's
    password never appears in a repr or an error message.
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
        pool = self._live()
        async with pool.acquire() as conn:
            present = await conn.fetchval(
                "SELECT to_regclass('twilio_conf_insights_store') IS NOT NULL"
            )
            if not present:
                if await conn.fetchval("SELECT to_regclass('conferences') IS NOT NULL"):
                    raise NotAStoreError(
                        f"{self.display_url} has a conferences table that is not a "
                        "twilio-conf-insights store; left untouched"
                    )
                if self._read_only:
                    raise StoreError(f"no store at {self.display_url}")
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                    await conn.execute(_SCHEMA)
                    if await conn.fetchval("SELECT count(*) FROM twilio_conf_insights_store") == 0:
                        await conn.execute(
                            "INSERT INTO twilio_conf_insights_store VALUES ($1)", SCHEMA_VERSION
                        )
            version = await conn.fetchval(
                "SELECT max(schema_version) FROM twilio_conf_insights_store"
            )
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.display_url} was written by a newer version (layout {version}); "
                "upgrade twilio-conf-insights"
            )

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
        """Upsert conferences with their participants, all in one transaction."""
        if not records:
            return WriteCounts()
        if self._read_only:
            raise StoreReadOnlyError(f"store {self.display_url} was opened read-only")
        # One lock order for every writer: fewer deadlocks between duplicate deliveries.
        ordered = sorted(records, key=lambda r: r.conference_sid)
        now = datetime.now(UTC).replace(microsecond=0)
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
                        return await self._write(conn, ordered, now)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise self._translate(error) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _write(
        self, conn: asyncpg.Connection, records: list[ConferenceRecord], now: datetime
    ) -> WriteCounts:
        sids = [r.conference_sid for r in records]
        old = {
            row[0]: (json_loads(row[1]), row[2])
            for row in await conn.fetch(
                "SELECT conference_sid, json::text, settled FROM conferences "
                "WHERE conference_sid = ANY($1) ORDER BY conference_sid FOR UPDATE",
                sids,
            )
        }
        old_parts: dict[str, dict[str, Any]] = {}
        for row in await conn.fetch(
            "SELECT conference_sid, participant_sid, json::text FROM participant_summaries "
            "WHERE conference_sid = ANY($1)",
            sids,
        ):
            old_parts.setdefault(row[0], {})[row[1]] = json_loads(row[2])
        new = updated = settled = unsettled = 0
        conference_rows: list[tuple[Any, ...]] = []
        participant_rows: list[tuple[Any, ...]] = []
        gone_rows: list[tuple[str]] = []
        for record in records:
            summary_dict = record.summary
            sid = record.conference_sid
            is_settled = record.settled
            before = old_parts.get(sid, {})
            changed = [
                (p.get("participant_sid"), sid, _state(p.get("processing_state")), json_text(p))
                for p in record.participants
                if before.get(str(p.get("participant_sid"))) != p
            ]
            gone = set(before) - {p.get("participant_sid") for p in record.participants}
            previous = old.get(sid)
            if previous is None:
                new += 1
            elif previous[0] != summary_dict or changed or gone:
                updated += 1
                settled += int(is_settled and not previous[1])
            unsettled += int(not is_settled)
            if previous is None or previous[0] != summary_dict or previous[1] != is_settled:
                conference_rows.append(
                    (
                        sid,
                        summary_dict.get("account_sid"),
                        summary_dict.get("create_time"),
                        _state(summary_dict.get("processing_state")),
                        is_settled,
                        now,
                        json_text(summary_dict),
                    )
                )
            participant_rows += changed
            gone_rows += [(psid,) for psid in gone]
        if conference_rows:
            await conn.executemany(_UPSERT_CONFERENCE, conference_rows)
        if participant_rows:
            await conn.executemany(_UPSERT_PARTICIPANT, participant_rows)
        if gone_rows:
            await conn.executemany(
                "DELETE FROM participant_summaries WHERE participant_sid = $1", gone_rows
            )
        return WriteCounts(new, updated, settled, unsettled, len(participant_rows))

    # -- reading back -----------------------------------------------------------------------

    async def reports(self, query: ReportQuery) -> AsyncIterator[ConferenceReport]:
        """Stored conferences with their participants, newest first."""
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
                by_conference[conference_sid].append(ParticipantSummary.from_dict(json_loads(text)))
            for sid, _, text in rows:
                yield ConferenceReport(
                    summary=ConferenceSummary.from_dict(json_loads(text)),
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
