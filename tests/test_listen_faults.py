"""Faults with real processes: a listener killed with SIGKILL in the middle of a delivery's
write, a SQLite store locked by another process's write transaction, a PostgreSQL server
stopped and started again. Twilio (the fake) delivers again what was not acknowledged, and
the store ends equal to the API, record for record."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

from tests.helpers import PATIENCE, wait_until
from tests.listen_support import assert_store_exact, drained, fake_for, listening
from tests.servers import PostgresServer, free_port
from tests.store_fixtures import fresh_database, query
from twilio_conf_insights.sync import open_store
from twilio_conf_insights.sync._postgres import CONFERENCE_LOCKS
from twilio_conf_insights.testing import FakeTwilio

#: Sessions waiting for an advisory lock (a conference another writer holds).
_WAITING_FOR_A_LOCK = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


async def create_store(spec: str) -> None:
    """Create the store's tables now, so another connection can lock them."""
    store = await open_store(spec)
    await store.aclose()


@contextlib.contextmanager
def sqlite_write_lock(path: str) -> Iterator[None]:
    """Another connection holding the SQLite store's write lock (BEGIN IMMEDIATE)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


def got_503(fake: FakeTwilio) -> bool:
    """Whether the sink answered a delivery 503."""
    assert fake.events is not None
    return any(attempt.status == 503 for attempt in fake.events.attempts)


@contextlib.asynccontextmanager
async def conference_lock(url: str, conference_sid: str) -> AsyncIterator[None]:
    """Another session holding a conference's advisory lock, as a PostgreSQL writer does."""
    holder = await asyncpg.connect(url)
    try:
        await holder.execute(
            "SELECT pg_advisory_lock($1, hashtext($2))", CONFERENCE_LOCKS, conference_sid
        )
        yield
    finally:
        await holder.close()


async def test_a_listener_killed_mid_delivery_loses_nothing(store_spec: str) -> None:
    """SIGKILL while a delivery's write waits on a lock: redelivered to a new listener, exact."""
    await create_store(store_spec)
    port = free_port()
    postgres = store_spec.startswith("postgresql://")
    async with contextlib.AsyncExitStack() as lock, listening(store_spec, "-v", port=port) as first:
        fake = fake_for(first.url, conferences=10)
        async with fake:
            if postgres:
                # The listener's transaction, already begun, waits inside the database.
                sid = fake.data.conferences[0]["conference_sid"]
                await lock.enter_async_context(conference_lock(store_spec, sid))
            else:
                lock.enter_context(sqlite_write_lock(store_spec))
            fake.data.processing.settle_all()
            await first.logged("writing ")
            if postgres:
                await until_rows(store_spec, _WAITING_FOR_A_LOCK)
            await first.kill()
            async with listening(store_spec, port=port) as second:
                await lock.aclose()
                await drained(fake)
                await second.stop()
    assert fake.events is not None
    cut = [attempt for attempt in fake.events.attempts if attempt.status is None]
    assert cut, "no delivery was cut by the kill"
    await assert_store_exact(store_spec, fake)


async def until_rows(spec: str, sql: str) -> None:
    """Return once ``sql`` (a count) is above zero; fail after PATIENCE."""
    async with asyncio.timeout(PATIENCE):
        while not (await query(spec, sql))[0][0]:
            pass


async def test_a_locked_sqlite_store_answers_503_then_recovers(tmp_path: Path) -> None:
    """Another process's write transaction: 503s while it lasts, then everything, exactly."""
    db = str(tmp_path / "s.db")
    await create_store(db)
    async with listening(db) as listener, fake_for(listener.url, conferences=10) as fake:
        with sqlite_write_lock(db):
            fake.data.processing.settle_all()
            await wait_until(lambda: got_503(fake), "a delivery answered 503")
        await drained(fake)
        run = await listener.stop()
    await assert_store_exact(db, fake)
    assert int(re.search(r"(\d+) answered 503", run.stdout).group(1)) >= 1  # type: ignore[union-attr]


async def test_a_postgresql_server_stopped_and_started_again_loses_nothing() -> None:
    """The server goes away: 503s; it comes back: the listener reconnects, the store is exact."""
    server = PostgresServer()
    try:
        server.start()
        url = await fresh_database(server)
        async with listening(url) as listener, fake_for(listener.url, conferences=12) as fake:
            early = [c["conference_sid"] for c in fake.data.conferences[:6]]
            for sid in early:
                fake.data.processing.settle(sid)
            await drained(fake)
            server.stop()
            fake.data.processing.settle_all()
            await wait_until(lambda: got_503(fake), "a delivery answered 503")
            server.start()
            await drained(fake)
            run = await listener.stop()
        await assert_store_exact(url, fake)
        assert "answered 503" in run.stdout
    finally:
        server.close()
