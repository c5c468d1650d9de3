"""Stores made by the first release migrate once, crash-safe, and read back what they held.

``tests/data/store_v1.db`` and ``tests/data/store_v1.postgres.sql`` were written by the first
release (layout 1; see ``tests/data/README.md``): a sync of 12 conferences, three of them
unsettled, plus one conference its rule took for settled although its summary announces 5
participants and only 1 is stored (and, in SQLite, whose create_time does not read).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import pytest

from tests.servers import PostgresServer
from tests.store_fixtures import fresh_database, stored_records
from twilio_conf_insights.sync import PostgresStore, SQLiteStore, StoreError, WorkUnit
from twilio_conf_insights.sync._postgres_schema import STEPS as POSTGRES_STEPS
from twilio_conf_insights.sync._postgres_schema import migrate as migrate_postgres
from twilio_conf_insights.sync._schema import SCHEMA_VERSION, Step
from twilio_conf_insights.sync._sqlite_schema import STEPS as SQLITE_STEPS
from twilio_conf_insights.sync._sqlite_schema import migrate as migrate_sqlite

DATA = Path(__file__).resolve().parent / "data"
#: The conference the first release held settled with 1 of its 5 announced participants.
SHORT = "CF" + "e" * 32
ROOT = Path(__file__).resolve().parent.parent


def _sqlite(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        return db.execute(sql, params).fetchall()


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def _raw(path: Path) -> dict[str, Any]:
    """What a layout-1 file holds, read with plain SQL (the public columns only)."""
    participants: dict[str, list[Any]] = {}
    for sid, text in _sqlite(
        path, "SELECT conference_sid, json FROM participant_summaries ORDER BY rowid"
    ):
        participants.setdefault(sid, []).append(json.loads(text))
    return {
        sid: (json.loads(text), participants.get(sid, []))
        for sid, text in _sqlite(path, "SELECT conference_sid, json FROM conferences")
    }


def _layout(path: Path) -> dict[str, Any]:
    """Every table's columns (name, type, not null, default, key) and every index."""
    tables = [row[0] for row in _sqlite(path, "SELECT name FROM sqlite_schema WHERE type='table'")]
    return {
        "columns": {t: _sqlite(path, f"PRAGMA table_info({t})") for t in sorted(tables)},
        "indexes": sorted(
            _sqlite(path, "SELECT name, tbl_name FROM sqlite_schema WHERE type='index'")
        ),
        "version": _sqlite(path, "PRAGMA user_version"),
    }


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    """A copy of the first release's store file."""
    path = tmp_path / "v1.db"
    shutil.copyfile(DATA / "store_v1.db", path)
    assert _sqlite(path, "PRAGMA user_version") == [(1,)]
    return path


def test_both_stores_step_to_the_version_this_release_writes() -> None:
    """The two stores' step lists are numbered 1..SCHEMA_VERSION, in order."""
    for steps in (SQLITE_STEPS, POSTGRES_STEPS):
        assert [step.version for step in steps] == list(range(1, SCHEMA_VERSION + 1))


async def test_a_first_release_store_migrates_and_reads_back_equal(
    v1_store: Path, tmp_path: Path
) -> None:
    """Same records and windows after the migration, the layout of a new store, settled fixed."""
    before = _raw(v1_store)
    windows = _sqlite(v1_store, "SELECT * FROM sync_windows ORDER BY 1, 2, 3")
    settled_before = dict(_sqlite(v1_store, "SELECT conference_sid, settled FROM conferences"))
    async with SQLiteStore(v1_store) as store:
        after = await stored_records(str(v1_store))
        scope = WorkUnit.from_dict(json.loads(windows[0][3])).scope
        assert len(await store.windows(scope)) == len(windows) == 97
    assert after == before
    assert _sqlite(v1_store, "SELECT * FROM sync_windows ORDER BY 1, 2, 3") == windows
    async with SQLiteStore(tmp_path / "new.db"):
        pass
    assert _layout(v1_store) == _layout(tmp_path / "new.db")
    settled_after = dict(_sqlite(v1_store, "SELECT conference_sid, settled FROM conferences"))
    assert settled_before[SHORT] == 1
    assert settled_after == {**settled_before, SHORT: 0}
    assert _sqlite(
        v1_store,
        "SELECT create_time, unique_participants FROM conferences WHERE conference_sid = ?",
        SHORT,
    ) == [(None, 5)]
    assert _sqlite(v1_store, "SELECT count(*) FROM conferences WHERE observed_at IS NULL") == [(0,)]
    assert _sqlite(
        v1_store, "SELECT count(*) FROM participant_summaries WHERE observed_at IS NULL"
    ) == [(0,)]


async def test_the_migration_runs_once(v1_store: Path) -> None:
    """Two writers opening the old store at once both open it; the next open changes nothing."""
    first, second = await asyncio.gather(SQLiteStore.open(v1_store), SQLiteStore.open(v1_store))
    await first.aclose()
    await second.aclose()
    assert _sqlite(v1_store, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    content = _bytes(v1_store)
    async with SQLiteStore(v1_store):
        pass
    assert _bytes(v1_store) == content


async def test_a_reader_reads_the_old_layout_without_migrating_it(v1_store: Path) -> None:
    """report --db on an old store: read as it is, not a byte written."""
    content = _bytes(v1_store)
    records = await stored_records(str(v1_store))
    assert records == _raw(v1_store)
    assert _bytes(v1_store) == content
    assert _sqlite(v1_store, "PRAGMA user_version") == [(1,)]


def test_a_killed_migration_leaves_the_old_layout(v1_store: Path) -> None:
    """SIGKILL inside the migration's transaction: layout 1 and its data, then a clean migration."""
    before = _raw(v1_store)
    layout = _layout(v1_store)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store_child", "stall-migration", str(v1_store)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert json.loads(child.stdout.readline()) == {"migrating": True}
        child.kill()
    finally:
        child.wait(timeout=60)
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
    assert child.returncode == -9
    assert _layout(v1_store) == layout
    assert _raw(v1_store) == before
    asyncio.run(_open_and_close(v1_store))
    assert _sqlite(v1_store, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _sqlite(v1_store, "PRAGMA integrity_check") == [("ok",)]


async def _open_and_close(path: Path) -> None:
    async with SQLiteStore(path):
        pass


def _failing(steps: Sequence[Step], fill: Any) -> tuple[Step, ...]:
    return (*steps[:-1], attrs.evolve(steps[-1], fill=fill))


def test_a_failed_migration_step_undoes_the_whole_migration(v1_store: Path) -> None:
    """An error in the last step: nothing of any step stays, the version is the old one."""
    layout = _layout(v1_store)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("UPDATE conferences SET settled = 0")
        raise RuntimeError("step failed")

    with contextlib.closing(sqlite3.connect(v1_store, isolation_level=None)) as db:
        with pytest.raises(RuntimeError, match="step failed"):
            migrate_sqlite(db, str(v1_store), steps=_failing(SQLITE_STEPS, broken))
        assert not db.in_transaction
    assert _layout(v1_store) == layout
    assert _sqlite(v1_store, "SELECT count(*) FROM conferences WHERE settled = 1") == [(10,)]


# -- PostgreSQL --------------------------------------------------------------------------------


async def _v1_database(server: PostgresServer) -> str:
    """A new database holding the first release's PostgreSQL store (from its dump)."""
    url = await fresh_database(server)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute((DATA / "store_v1.postgres.sql").read_text())
    finally:
        await conn.close()
    return url


async def _pg(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(sql, *params)]
    finally:
        await conn.close()


async def _pg_layout(url: str) -> list[tuple[Any, ...]]:
    return await _pg(
        url,
        "SELECT table_name, column_name, ordinal_position, data_type, is_nullable, "
        "column_default FROM information_schema.columns WHERE table_schema = 'public' "
        "ORDER BY 1, 3",
    )


async def test_a_first_release_postgres_store_migrates_and_reads_back_equal(
    postgres_server: PostgresServer,
) -> None:
    """The dump of a layout-1 store: same records, a new store's layout, settled fixed."""
    url = await _v1_database(postgres_server)
    before = await stored_records(url)  # read-only: the old layout is read as it is
    assert await _pg(url, "SELECT schema_version FROM twilio_conf_insights_store") == [(1,)]
    settled_before = dict(await _pg(url, "SELECT conference_sid, settled FROM conferences"))
    stores = [await PostgresStore.open(url) for _ in range(1)]
    stores += await asyncio.gather(*(PostgresStore.open(url) for _ in range(3)))
    for store in stores:
        await store.aclose()
    assert await stored_records(url) == before
    assert len(before) == 13
    fresh = await fresh_database(postgres_server)
    async with PostgresStore(fresh):
        pass
    assert await _pg_layout(url) == await _pg_layout(fresh)
    assert await _pg(url, "SELECT schema_version FROM twilio_conf_insights_store") == [
        (SCHEMA_VERSION,)
    ]
    settled_after = dict(await _pg(url, "SELECT conference_sid, settled FROM conferences"))
    assert settled_before[SHORT] is True
    assert settled_after == {**settled_before, SHORT: False}
    assert await _pg(
        url, "SELECT count(*) FROM participant_summaries WHERE observed_at IS NULL"
    ) == [(0,)]


async def test_a_failed_postgres_migration_undoes_the_whole_migration(
    postgres_server: PostgresServer,
) -> None:
    """An error in the last step: layout 1 and version 1 stay."""
    url = await _v1_database(postgres_server)
    layout = await _pg_layout(url)

    async def broken(conn: asyncpg.Connection) -> None:
        await conn.execute("UPDATE conferences SET settled = false")
        raise RuntimeError("step failed")

    conn = await asyncpg.connect(url)
    try:
        with pytest.raises(RuntimeError, match="step failed"):
            await migrate_postgres(
                conn, "the store", read_only=False, steps=_failing(POSTGRES_STEPS, broken)
            )
    finally:
        await conn.close()
    assert await _pg_layout(url) == layout
    assert await _pg(url, "SELECT schema_version FROM twilio_conf_insights_store") == [(1,)]
    assert await _pg(url, "SELECT count(*) FROM conferences WHERE settled") == [(10,)]


async def test_a_store_of_a_newer_layout_is_refused(postgres_server: PostgresServer) -> None:
    """A version this release does not know: one line saying to upgrade, for both stores."""
    url = await _v1_database(postgres_server)
    await _pg(url, "UPDATE twilio_conf_insights_store SET schema_version = 99")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="newer version \\(layout 99\\); upgrade"):
            await PostgresStore.open(url, read_only=read_only)
