"""What only the PostgreSQL store has to prove: errors, foreign tables, types, many writers.

And that it holds exactly what the SQLite store holds for the same writes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.servers import PostgresServer, free_port
from tests.store_fixtures import fresh_database, stored_rows
from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.sync import (
    ConferenceRecord,
    NotAStoreError,
    PostgresStore,
    ReportQuery,
    SQLiteStore,
    StoreError,
    open_store,
)
from twilio_conf_insights.testing import FakeData, FakeTwilio


async def test_unreachable_server_is_one_line_without_password() -> None:
    """Nothing listening: a one-line StoreError naming the server, never the password."""
    url = f"postgresql://sync:s3cret-pw@127.0.0.1:{free_port()}/insights"
    with pytest.raises(StoreError) as caught:
        await open_store(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "s3cret-pw" not in message
    assert f"postgresql://sync@127.0.0.1:{url.split(':')[3].split('/')[0]}/insights" in message
    assert "s3cret-pw" not in repr(PostgresStore(url))


async def test_foreign_conferences_table_is_refused_untouched(
    postgres_server: PostgresServer,
) -> None:
    """A database whose conferences table is not ours is refused and left as it was."""
    url = await fresh_database(postgres_server)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE conferences (id int)")
        with pytest.raises(NotAStoreError):
            await open_store(url)
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )
        assert [t[0] for t in tables] == ["conferences"]
    finally:
        await conn.close()


async def test_many_writers_of_the_same_records_leave_exact_rows(
    postgres_server: PostgresServer,
) -> None:
    """Eight stores writing the same conferences at once (a unit delivered again) end exact."""
    url = await fresh_database(postgres_server)
    async with FakeTwilio(conferences=40, participants_per_conference=(1, 4), seed=5) as fake:
        records = [
            ConferenceRecord.from_models(
                ConferenceSummary.from_dict(c),
                [
                    ParticipantSummary.from_dict(p)
                    for p in fake.data.participant_summaries[c["conference_sid"]]
                ],
            )
            for c in fake.data.conferences
        ]
    stores = [await PostgresStore.open(url) for _ in range(8)]
    try:
        # Each writer its own order of the same records, in small batches.
        async def write_all(store: PostgresStore, shift: int) -> None:
            rotated = records[shift:] + records[:shift]
            for start in range(0, len(rotated), 7):
                await store.write(rotated[start : start + 7])

        await asyncio.gather(*(write_all(s, 5 * i) for i, s in enumerate(stores)))
        stored = {
            r.summary.conference_sid: (r.summary.to_dict(), [p.to_dict() for p in r.participants])
            async for r in stores[0].reports(ReportQuery())
        }
        assert stored == {r.conference_sid: (r.summary, list(r.participants)) for r in records}
        counts = await stores[0].counts()
        assert counts["participant_summaries"] == sum(len(r.participants) for r in records)
    finally:
        for store in stores:
            await store.aclose()


async def test_columns_have_native_types_and_json_is_queryable(
    postgres_server: PostgresServer,
) -> None:
    """json is jsonb (json->>'status' works), times are timestamptz, settled is boolean."""
    url = await fresh_database(postgres_server)
    data = FakeData(conferences=12, participants_per_conference=2, seed=4)
    records = [
        ConferenceRecord(c, data.participant_summaries[c["conference_sid"]])
        for c in data.conferences
    ]
    async with PostgresStore(url) as store:
        await store.write(records)
    conn = await asyncpg.connect(url)
    try:
        types = {
            (table, column): kind
            for table, column, kind in await conn.fetch(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_name IN ('conferences', 'participant_summaries')"
            )
        }
        by_status = dict(
            await conn.fetch("SELECT json->>'status', count(*) FROM conferences GROUP BY 1")
        )
        created = await conn.fetchval("SELECT min(create_time) FROM conferences")
        participant = await conn.fetchval(
            "SELECT json->>'participant_sid' FROM participant_summaries WHERE participant_sid = $1",
            records[0].participants[0]["participant_sid"],
        )
    finally:
        await conn.close()
    assert types[("conferences", "json")] == "jsonb"
    assert types[("participant_summaries", "json")] == "jsonb"
    for column in ("create_time", "synced_at", "observed_at"):
        assert types[("conferences", column)] == "timestamp with time zone"
    assert types[("participant_summaries", "observed_at")] == "timestamp with time zone"
    assert types[("conferences", "settled")] == "boolean"
    assert by_status == {
        status: sum(c["status"] == status for c in data.conferences)
        for status in {c["status"] for c in data.conferences}
    }
    assert created == min(
        ConferenceSummary.from_dict(c).create_time or created for c in data.conferences
    )
    assert participant == records[0].participants[0]["participant_sid"]


def _mixed_writes() -> list[list[ConferenceRecord]]:
    """Whole records, versions out of order, participants first, an unreadable create_time."""
    data = FakeData(conferences=30, participants_per_conference=(1, 4), seed=13)
    start = data.now
    batches: list[list[ConferenceRecord]] = [[], [], []]
    for index, conference in enumerate(data.conferences):
        summary = dict(conference)
        if index % 10 == 3:
            summary["create_time"] = "not-a-timestamp"
        parts = data.participant_summaries[conference["conference_sid"]]
        at = start + timedelta(seconds=index)
        if index % 3 == 0:  # participant events first, then the summary
            batches[0] += [ConferenceRecord.of_participant(p, observed_at=at) for p in parts]
            batches[1].append(ConferenceRecord.of_summary(summary, observed_at=at))
        elif index % 3 == 1:  # a complete record, then an older in_progress one
            batches[0].append(ConferenceRecord(summary, parts, observed_at=at))
            earlier = {**summary, "processing_state": "in_progress", "status": "in_progress"}
            batches[2].append(ConferenceRecord(earlier, observed_at=at - timedelta(minutes=5)))
        else:
            batches[2].append(ConferenceRecord(summary, parts, observed_at=at))
    return batches


async def test_both_stores_hold_the_same_rows_for_the_same_writes(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """SQLite and PostgreSQL given the same writes hold equal rows, column for column."""
    url = await fresh_database(postgres_server)
    path = str(tmp_path / "s.db")
    async with PostgresStore(url) as postgres, SQLiteStore(path) as sqlite:
        for batch in _mixed_writes():
            assert await postgres.write(batch) == await sqlite.write(batch)
    on_sqlite = await stored_rows(path)
    assert len(on_sqlite) > 30
    assert sum(row.get("create_time", 0) is None for row in on_sqlite.values()) == 3
    assert await stored_rows(url) == on_sqlite
