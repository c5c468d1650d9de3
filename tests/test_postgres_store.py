"""What only the PostgreSQL store has to prove: connection errors, foreign tables, many writers."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.servers import PostgresServer, free_port
from tests.store_fixtures import fresh_database
from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.sync import (
    ConferenceRecord,
    NotAStoreError,
    PostgresStore,
    ReportQuery,
    StoreError,
    open_store,
)
from twilio_conf_insights.testing import FakeTwilio


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
