"""Fixtures opening each kind of store: SQLite in a temp dir, PostgreSQL on a test server.

Import the fixtures into a test module (``from tests.store_fixtures import ...``). The
PostgreSQL server is started once per test session; every test gets a database of its own.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.servers import PostgresServer
from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.sync import ReportQuery, Store, open_store
from twilio_conf_insights.testing import FakeTwilio

__all__ = [
    "StoreFactory",
    "api_records",
    "query",
    "stored_rows",
    "fresh_database",
    "postgres_server",
    "store_kind",
    "store_spec",
    "stored_records",
]

#: Opens the test's store (``read_only`` as asked); every store opened is closed after.
StoreFactory = Callable[..., Awaitable[Store]]
#: conference SID -> (summary JSON, [participant summary JSON, ...]), for exact comparisons.
Records = dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]


async def stored_records(source: StoreFactory | str) -> Records:
    """Everything a store holds, read back through a fresh read-only handle."""
    store = await (
        open_store(source, read_only=True) if isinstance(source, str) else source(read_only=True)
    )
    try:
        return {
            report.summary.conference_sid or "": (
                report.summary.to_dict(),
                [p.to_dict() for p in report.participants],
            )
            async for report in store.reports(ReportQuery())
        }
    finally:
        await store.aclose()


def _sqlite_rows(path: str, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(
        sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    ) as db:
        return db.execute(sql).fetchall()


async def query(spec: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` run on the store ``spec`` names, straight through its driver."""
    if not spec.startswith("postgresql://"):
        return _sqlite_rows(spec, sql)
    conn = await asyncpg.connect(spec)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


def _time(value: Any) -> datetime | None:
    """A time column as an aware datetime, whichever store it came from."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


async def stored_rows(spec: str) -> dict[str, dict[str, Any]]:
    """Every row of both public tables, by SID, with values as Python sees them.

    The same for both stores when they hold the same records: times as aware datetimes,
    ``settled`` as a bool, ``json`` parsed.
    """
    conferences = await query(
        spec,
        "SELECT conference_sid, account_sid, create_time, processing_state, unique_participants,"
        " settled, observed_at, json FROM conferences",
    )
    participants = await query(
        spec,
        "SELECT participant_sid, conference_sid, processing_state, observed_at, json"
        " FROM participant_summaries",
    )
    rows: dict[str, dict[str, Any]] = {}
    for sid, account, created, state, expected, settled, observed, text in conferences:
        rows[sid] = {
            "account_sid": account,
            "create_time": _time(created),
            "processing_state": state,
            "unique_participants": expected,
            "settled": bool(settled),
            "observed_at": _time(observed),
            "json": json.loads(text),
        }
    for psid, sid, state, observed, text in participants:
        rows[psid] = {
            "conference_sid": sid,
            "processing_state": state,
            "observed_at": _time(observed),
            "json": json.loads(text),
        }
    return rows


def api_records(fake: FakeTwilio) -> Records:
    """Everything the fake serves, as the SDK's models give it back."""
    return {
        summary["conference_sid"]: (
            ConferenceSummary.from_dict(summary).to_dict(),
            [
                ParticipantSummary.from_dict(p).to_dict()
                for p in fake.data.participant_summaries[summary["conference_sid"]]
            ],
        )
        for summary in fake.data.conferences
    }


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (initdb is slow), stopped by PID at the end."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


async def fresh_database(server: PostgresServer) -> str:
    """A new empty database on ``server``; returns its URL."""
    name = f"tci_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server.url())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.url(name)


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store a contract test runs against."""
    kind: str = request.param
    return kind


@pytest.fixture
async def store_spec(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """What ``--db`` would say for a fresh store of :func:`store_kind`."""
    if store_kind == "sqlite":
        return str(tmp_path / "store.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await fresh_database(server)


@pytest.fixture
async def make_store(store_spec: str) -> AsyncIterator[StoreFactory]:
    """Open the test's store, closing every one opened at the end."""
    opened: list[Store] = []

    async def build(*, read_only: bool = False) -> Store:
        store = await open_store(store_spec, read_only=read_only)
        opened.append(store)
        return store

    yield build
    for store in opened:
        await store.aclose()
