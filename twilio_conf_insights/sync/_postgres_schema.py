"""The PostgreSQL store's layout, as migration steps, and the migration that applies them.

The layout's version lives in the table ``twilio_conf_insights_store`` (one row), which
also tells a store from a database that happens to have a ``conferences`` table.
:func:`migrate` runs every step above the database's version in one transaction, under
an advisory lock that every worker starting at once takes in turn: PostgreSQL's DDL is
transactional, so a migration killed half way leaves the old layout, and the workers
after the first find nothing left to do. A new store runs every step.

To add columns: say what the new layout changes in ``_schema.LAYOUTS`` and add its
``(statements, fill)`` to :data:`STEPS` here (``fill`` a coroutine function) and in the
SQLite store's list.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ._merge import conference_columns, is_settled
from ._schema import Step, steps
from ._store import NotAStoreError, StoreError
from ._typed import REPORT_INDEX, stored_json, stored_typed, typed_column_types

__all__ = ["SCHEMA_LOCK", "STEPS", "migrate"]

#: Any constant: serialises migrations when several workers start at once.
SCHEMA_LOCK = 0x54434953
#: Conferences the data part of a step handles at a time.
_FILL_BATCH = 1000

_V1 = (
    """CREATE TABLE conferences (
    conference_sid   text PRIMARY KEY,
    account_sid      text,
    create_time      timestamptz,
    processing_state text,
    settled          boolean NOT NULL,  -- once it is complete (see the write planner)
    synced_at        timestamptz NOT NULL,
    json             jsonb NOT NULL
)""",
    "CREATE INDEX conferences_by_create_time ON conferences (create_time)",
    """CREATE TABLE participant_summaries (
    participant_sid  text PRIMARY KEY,
    conference_sid   text NOT NULL,     -- its conference's summary may not be stored yet
    processing_state text,
    json             jsonb NOT NULL,
    -- first-insertion order, as SQLite's rowid: the order the API listed them in
    seq              bigint GENERATED ALWAYS AS IDENTITY
)""",
    "CREATE INDEX participant_summaries_by_conference ON participant_summaries (conference_sid)",
    """CREATE TABLE sync_windows (
    scope        text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    unit         jsonb NOT NULL,
    closed       boolean NOT NULL DEFAULT false,
    listed_at    timestamptz,
    PRIMARY KEY (scope, window_start, window_end)
)""",
)

_V2 = (
    # The summary's participant count: settled needs at least as many participants.
    "ALTER TABLE conferences ADD COLUMN unique_participants integer",
    # When the stored version was fetched or sent: orders versions.
    "ALTER TABLE conferences ADD COLUMN observed_at timestamptz",
    "ALTER TABLE participant_summaries ADD COLUMN observed_at timestamptz",
)


async def _fill_v2(conn: asyncpg.Connection) -> None:
    """Columns of the merging writes, from what an earlier layout stored.

    As the SQLite step: a version was observed when its row was last written, and
    ``create_time`` and ``settled`` follow the shared rules (which an earlier layout's
    cast of the raw text, and its settled rule, did not).
    """
    after = ""
    while True:
        batch = await conn.fetch(
            "SELECT conference_sid, json::text, synced_at FROM conferences "
            "WHERE conference_sid > $1 ORDER BY conference_sid LIMIT $2",
            after,
            _FILL_BATCH,
        )
        if not batch:
            break
        after = batch[-1][0]
        states: dict[str, list[str | None]] = {row[0]: [] for row in batch}
        for sid, state in await conn.fetch(
            "SELECT conference_sid, processing_state FROM participant_summaries "
            "WHERE conference_sid = ANY($1)",
            list(states),
        ):
            states[sid].append(state)
        rows = []
        for sid, text, synced_at in batch:
            # A number beyond float's range is not JSON to orjson: read as the store wrote it.
            create_time, state, expected = conference_columns(stored_json(text))
            settled = is_settled(state, expected, states[sid])
            rows.append((create_time, state, expected, settled, synced_at, sid))
        await conn.executemany(
            "UPDATE conferences SET create_time = $1, processing_state = $2, "
            "unique_participants = $3, settled = $4, observed_at = $5 WHERE conference_sid = $6",
            rows,
        )
    await conn.execute(
        "UPDATE participant_summaries AS p SET observed_at = c.observed_at "
        "FROM conferences AS c WHERE c.conference_sid = p.conference_sid"
    )


_TYPED = typed_column_types(text="text", flag="boolean", number="double precision")
_V3 = (
    "ALTER TABLE participant_summaries "
    + ", ".join(f"ADD COLUMN {name} {kind}" for name, kind in _TYPED),
)


async def _fill_v3(conn: asyncpg.Connection) -> None:
    """The typed columns of the participant summaries an earlier layout stored.

    Computed in Python by the same rules as a write's, copied into a temporary table and
    set by one ``UPDATE``: a million rows take seconds, not an ``UPDATE`` each.
    """
    columns = ", ".join(f"{name} {kind}" for name, kind in _TYPED)
    await conn.execute(
        f"CREATE TEMPORARY TABLE typed_fill (participant_sid text PRIMARY KEY, {columns})"
        " ON COMMIT DROP"
    )
    after = ""
    while True:
        batch = await conn.fetch(
            "SELECT participant_sid, json::text FROM participant_summaries "
            "WHERE participant_sid > $1 ORDER BY participant_sid LIMIT $2",
            after,
            _FILL_BATCH * 5,
        )
        if not batch:
            break
        after = batch[-1][0]
        await conn.copy_records_to_table(
            "typed_fill", records=[(sid, *stored_typed(text)) for sid, text in batch]
        )
    assignments = ", ".join(f"{name} = t.{name}" for name, _ in _TYPED)
    await conn.execute(
        f"UPDATE participant_summaries AS p SET {assignments} FROM typed_fill AS t "
        "WHERE t.participant_sid = p.participant_sid"
    )


_V4 = (
    f"CREATE INDEX {REPORT_INDEX} ON participant_summaries (conference_sid) "
    f"INCLUDE (participant_sid, {', '.join(name for name, _ in _TYPED)})",
)

#: Every layout change, oldest first (see ``_schema.LAYOUTS``); a new store runs them all.
STEPS: tuple[Step, ...] = steps((_V1, None), (_V2, _fill_v2), (_V3, _fill_v3), (_V4, None))

_VERSION_TABLE = "twilio_conf_insights_store"


async def _version(conn: asyncpg.Connection, where: str) -> int | None:
    """The store's layout version; ``None`` for a database without a store."""
    if await conn.fetchval(f"SELECT to_regclass('{_VERSION_TABLE}') IS NOT NULL"):
        version = await conn.fetchval(f"SELECT max(schema_version) FROM {_VERSION_TABLE}")
        return int(version or 0)
    if await conn.fetchval("SELECT to_regclass('conferences') IS NOT NULL"):
        raise NotAStoreError(
            f"{where} has a conferences table that is not a twilio-conf-insights store; "
            "left untouched"
        )
    return None


async def migrate(
    conn: asyncpg.Connection, where: str, *, read_only: bool, steps: Sequence[Step] = STEPS
) -> int:
    """Bring the store to the last step's layout (creating it if missing); the version found.

    Read-only: nothing is changed; a store of an earlier layout is read as it is (reading
    uses only the public columns). Raises :class:`NotAStoreError` for a database whose
    ``conferences`` table is not a store's, :class:`StoreError` for a store of a newer
    version or (read-only) no store at all.
    """
    latest = steps[-1].version if steps else 0
    found = await _version(conn, where)
    if found is not None and found > latest:
        raise StoreError(
            f"store {where} was written by a newer version (layout {found}); "
            "upgrade twilio-conf-insights"
        )
    if read_only:
        if found is None:
            raise StoreError(f"no store at {where}")
        return found
    if found == latest:
        return found
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        # Again under the lock: another worker may have migrated meanwhile.
        version = await _version(conn, where) or 0
        if version < latest:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_VERSION_TABLE} (schema_version integer NOT NULL)"
            )
            for step in steps:
                if step.version > version:
                    for statement in step.statements:
                        await conn.execute(statement)
                    if step.fill is not None:
                        await step.fill(conn)
            await conn.execute(f"DELETE FROM {_VERSION_TABLE}")
            await conn.execute(f"INSERT INTO {_VERSION_TABLE} VALUES ($1)", latest)
    return found or 0
