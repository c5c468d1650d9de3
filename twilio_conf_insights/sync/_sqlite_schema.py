"""The SQLite store's layout, as migration steps, and the migration that applies them.

A store records its layout in ``PRAGMA user_version`` and its identity in ``PRAGMA
application_id``. :func:`migrate` runs, in one ``BEGIN IMMEDIATE`` transaction, every step
above the file's version and then records the new version: SQLite's DDL is transactional,
so a killed migration leaves the old layout or the new one, never half of one, and a second
process opening the store at the same moment waits, then finds nothing left to do. A new
store is an empty file taken through every step, so it has exactly a migrated store's
layout.

To add columns: say what the new layout changes in ``_schema.LAYOUTS`` and add its
``(statements, fill)`` to :data:`STEPS` here and in the PostgreSQL store's list.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence

from ._merge import conference_columns, instant_text, is_settled
from ._schema import APPLICATION_ID, Step, steps
from ._store import NotAStoreError, StoreError
from ._typed import (
    PARTICIPANT_TYPED_COLUMNS,
    REPORT_INDEX,
    stored_json,
    stored_typed,
    typed_column_types,
)
from ._units import format_time, parse_time

__all__ = ["STEPS", "migrate", "store_version"]

#: Conferences the data part of a step handles at a time.
_FILL_BATCH = 1000

_V1 = (
    """CREATE TABLE conferences (
    conference_sid   TEXT PRIMARY KEY,
    account_sid      TEXT,
    create_time      TEXT,              -- UTC, 2025-06-01T08:00:00Z: sorts as time
    processing_state TEXT,
    settled          INTEGER NOT NULL,  -- 1 once it is complete (see the write planner)
    synced_at        TEXT NOT NULL,     -- when this row last changed
    json             TEXT NOT NULL
)""",
    "CREATE INDEX conferences_by_create_time ON conferences (create_time)",
    """CREATE TABLE participant_summaries (
    participant_sid  TEXT PRIMARY KEY,
    conference_sid   TEXT NOT NULL,     -- its conference's summary may not be stored yet
    processing_state TEXT,
    json             TEXT NOT NULL
)""",
    "CREATE INDEX participant_summaries_by_conference ON participant_summaries (conference_sid)",
    """-- Sync state: which windows of which scope were listed, and which are closed.
CREATE TABLE sync_windows (
    scope        TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL,
    unit         TEXT NOT NULL,         -- the WorkUnit as JSON
    closed       INTEGER NOT NULL DEFAULT 0,
    listed_at    TEXT,
    PRIMARY KEY (scope, window_start, window_end)
)""",
)

_V2 = (
    # The summary's participant count: settled needs at least as many participants.
    "ALTER TABLE conferences ADD COLUMN unique_participants INTEGER",
    # When the stored version was fetched or sent (UTC, microseconds): orders versions.
    "ALTER TABLE conferences ADD COLUMN observed_at TEXT",
    "ALTER TABLE participant_summaries ADD COLUMN observed_at TEXT",
)


def _fill_v2(db: sqlite3.Connection) -> None:
    """Columns of the merging writes, from what an earlier layout stored.

    A stored version was observed when its row was last written (``synced_at``); its
    participant summaries with it. ``create_time`` is normalised again (an unreadable one
    is empty now, as in PostgreSQL), and ``settled`` follows the planner's rule, which
    also counts the participants.
    """
    after = ""
    while True:
        batch = db.execute(
            "SELECT conference_sid, json, synced_at FROM conferences "
            "WHERE conference_sid > ? ORDER BY conference_sid LIMIT ?",
            (after, _FILL_BATCH),
        ).fetchall()
        if not batch:
            break
        after = batch[-1][0]
        states: dict[str, list[str | None]] = {sid: [] for sid, _, _ in batch}
        marks = ",".join("?" * len(batch))
        for sid, state in db.execute(
            "SELECT conference_sid, processing_state FROM participant_summaries "
            f"WHERE conference_sid IN ({marks})",
            list(states),
        ):
            states[sid].append(state)
        rows = []
        for sid, text, synced_at in batch:
            # A stored NaN is not JSON to orjson: read as the store wrote it.
            create_time, state, expected = conference_columns(stored_json(text))
            rows.append(
                (
                    None if create_time is None else format_time(create_time),
                    state,
                    expected,
                    int(is_settled(state, expected, states[sid])),
                    instant_text(parse_time(synced_at)),
                    sid,
                )
            )
        db.executemany(
            "UPDATE conferences SET create_time = ?, processing_state = ?, "
            "unique_participants = ?, settled = ?, observed_at = ? WHERE conference_sid = ?",
            rows,
        )
    db.execute(
        "UPDATE participant_summaries SET observed_at = (SELECT c.observed_at FROM conferences "
        "AS c WHERE c.conference_sid = participant_summaries.conference_sid)"
    )


_V3 = tuple(
    f"ALTER TABLE participant_summaries ADD COLUMN {name} {kind}"
    for name, kind in typed_column_types(text="TEXT", flag="INTEGER", number="REAL")
)


def _fill_v3(db: sqlite3.Connection) -> None:
    """The typed columns of the participant summaries an earlier layout stored."""
    assignments = ", ".join(f"{name} = ?" for name in PARTICIPANT_TYPED_COLUMNS)
    after = 0
    while True:
        batch = db.execute(
            "SELECT rowid, json FROM participant_summaries WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, _FILL_BATCH * 5),
        ).fetchall()
        if not batch:
            break
        after = batch[-1][0]
        db.executemany(
            f"UPDATE participant_summaries SET {assignments} WHERE rowid = ?",
            [(*stored_typed(text), rowid) for rowid, text in batch],
        )


_V4 = (
    f"CREATE INDEX {REPORT_INDEX} ON participant_summaries "
    f"(conference_sid, participant_sid, {', '.join(PARTICIPANT_TYPED_COLUMNS)})",
)

#: Every layout change, oldest first (see ``_schema.LAYOUTS``); a new store runs them all.
STEPS: tuple[Step, ...] = steps((_V1, None), (_V2, _fill_v2), (_V3, _fill_v3), (_V4, None))


def store_version(db: sqlite3.Connection) -> tuple[int, int]:
    """``(application_id, user_version)`` of the database ``db`` is connected to."""
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    return application_id, version


def migrate(db: sqlite3.Connection, where: str, *, steps: Sequence[Step] = STEPS) -> int:
    """Bring the store ``db`` holds to the last step's layout; the version it had.

    ``db`` is in autocommit mode (``isolation_level=None``). A database that is not empty
    and not a store is refused (:class:`NotAStoreError`) and left as it was; one written by
    a newer version too (:class:`StoreError`). Errors are SQLite's own otherwise.
    """
    latest = steps[-1].version if steps else 0
    application_id, version = store_version(db)
    if application_id == APPLICATION_ID and version == latest:
        return version  # the usual case: no write lock taken
    db.execute("BEGIN IMMEDIATE")
    try:
        # Again under the write lock: another process may have migrated meanwhile.
        application_id, version = store_version(db)
        if application_id != APPLICATION_ID:
            tables = db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
            if application_id != 0 or tables:
                raise NotAStoreError(
                    f"{where} is an SQLite database of another application, not a "
                    "twilio-conf-insights store; left untouched"
                )
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            version = 0
        if version > latest:
            raise StoreError(
                f"store {where} was written by a newer version (layout {version}); "
                "upgrade twilio-conf-insights"
            )
        for step in steps:
            if step.version > version:
                for statement in step.statements:
                    db.execute(statement)
                if step.fill is not None:
                    step.fill(db)
        db.execute(f"PRAGMA user_version = {latest}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise
    return version
