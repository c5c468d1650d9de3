"""Stores exactly as the first release (store layout 1) wrote them, for reading tests.

Frozen on purpose: the stores' own code moves on (more columns, migrations), but a user's
store written by that release must stay readable, so these tables and rows are spelled out
here as that release created them, and never follow the current schema.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

__all__ = ["Record", "write_postgres_v1", "write_sqlite_v1", "write_v1"]

#: A conference summary's JSON with its participant summaries' JSON.
Record = tuple[dict[str, Any], Sequence[dict[str, Any]]]

_SQLITE_V1 = """
CREATE TABLE conferences (
    conference_sid   TEXT PRIMARY KEY,
    account_sid      TEXT,
    create_time      TEXT,
    processing_state TEXT,
    settled          INTEGER NOT NULL,
    synced_at        TEXT NOT NULL,
    json             TEXT NOT NULL
);
CREATE INDEX conferences_by_create_time ON conferences (create_time);
CREATE TABLE participant_summaries (
    participant_sid  TEXT PRIMARY KEY,
    conference_sid   TEXT NOT NULL,
    processing_state TEXT,
    json             TEXT NOT NULL
);
CREATE INDEX participant_summaries_by_conference ON participant_summaries (conference_sid);
CREATE TABLE sync_windows (
    scope        TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL,
    unit         TEXT NOT NULL,
    closed       INTEGER NOT NULL DEFAULT 0,
    listed_at    TEXT,
    PRIMARY KEY (scope, window_start, window_end)
);
"""

_POSTGRES_V1 = """
CREATE TABLE twilio_conf_insights_store (schema_version integer NOT NULL);
INSERT INTO twilio_conf_insights_store VALUES (1);
CREATE TABLE conferences (
    conference_sid   text PRIMARY KEY,
    account_sid      text,
    create_time      timestamptz,
    processing_state text,
    settled          boolean NOT NULL,
    synced_at        timestamptz NOT NULL,
    json             jsonb NOT NULL
);
CREATE INDEX conferences_by_create_time ON conferences (create_time);
CREATE TABLE participant_summaries (
    participant_sid  text PRIMARY KEY,
    conference_sid   text NOT NULL,
    processing_state text,
    json             jsonb NOT NULL,
    seq              bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX participant_summaries_by_conference ON participant_summaries (conference_sid);
CREATE TABLE sync_windows (
    scope        text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    unit         jsonb NOT NULL,
    closed       boolean NOT NULL DEFAULT false,
    listed_at    timestamptz,
    PRIMARY KEY (scope, window_start, window_end)
);
"""

#: ``PRAGMA application_id`` of every store ("TCIS").
_APPLICATION_ID = 0x54434953
_SYNCED_AT = "2025-06-01T00:00:00Z"


def _text(document: dict[str, Any]) -> str:
    # As that release wrote it: compact, UTF-8, NaN as the API sent it.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _create_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None  # unreadable: that release kept such a row without a time


def _rows(
    records: Sequence[Record],
) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, Any, str]]]:
    """Conference and participant rows; participants keyed by position (their JSON may lie)."""
    conferences, participants = [], []
    for index, (summary, parts) in enumerate(records):
        sid = str(summary.get("conference_sid", f"CF{index:032x}"))
        moment = _create_time(summary.get("create_time"))
        conferences.append(
            (sid, summary.get("account_sid"), moment, summary.get("processing_state"), summary)
        )
        for number, part in enumerate(parts):
            key = f"CP{index:016x}{number:016x}"
            participants.append((key, sid, part.get("processing_state"), _text(part)))
    return conferences, participants


def write_sqlite_v1(path: Path, records: Sequence[Record]) -> None:
    """A layout-1 SQLite store at ``path`` holding ``records``."""
    conferences, participants = _rows(records)
    db = sqlite3.connect(path)
    try:
        db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
        db.executescript(_SQLITE_V1)
        db.execute("PRAGMA user_version = 1")
        with db:
            db.executemany(
                "INSERT INTO conferences VALUES (?, ?, ?, ?, 1, ?, ?)",
                [
                    (
                        sid,
                        account,
                        moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None,
                        state,
                        _SYNCED_AT,
                        _text(summary),
                    )
                    for sid, account, moment, state, summary in conferences
                ],
            )
            db.executemany("INSERT INTO participant_summaries VALUES (?, ?, ?, ?)", participants)
    finally:
        db.close()


async def write_postgres_v1(url: str, records: Sequence[Record]) -> None:
    """The layout-1 tables in the empty database at ``url``, holding ``records``."""
    conferences, participants = _rows(records)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(_POSTGRES_V1)
            await conn.executemany(
                "INSERT INTO conferences VALUES ($1, $2, $3, $4, true, $5, $6::jsonb)",
                [
                    (sid, account, moment, state, datetime(2025, 6, 1, tzinfo=UTC), _text(summary))
                    for sid, account, moment, state, summary in conferences
                ],
            )
            await conn.executemany(
                "INSERT INTO participant_summaries"
                " (participant_sid, conference_sid, processing_state, json)"
                " VALUES ($1, $2, $3, $4::jsonb)",
                participants,
            )
    finally:
        await conn.close()


async def write_v1(spec: str, records: Sequence[Record]) -> None:
    """The layout-1 tables at ``spec`` (a PostgreSQL URL or a SQLite file), holding ``records``."""
    if spec.startswith(("postgresql://", "postgres://")):
        await write_postgres_v1(spec, records)
    else:
        write_sqlite_v1(Path(spec), records)
