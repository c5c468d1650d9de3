"""Events and sync are two ways into one store: after a listener (a child process) received a
period's events, a sync over that period only reconciles (at most 10% of a cold sync's
requests) and the store ends equal to the API, record for record; conferences whose events
never came are fetched by the sync; a sync running while events arrive ends exact too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.helpers import client_for
from tests.listen_support import QUICK, drained, fake_for, listening
from tests.sync_support import (
    assert_store_matches,
    full_range,
    participant_listings,
)
from twilio_conf_insights.sync import SQLiteStore, SyncSummary
from twilio_conf_insights.testing import FakeTwilio


async def synced(fake: FakeTwilio, path: Path) -> tuple[SyncSummary, int]:
    """Sync all of the fake's data into ``path``: the summary, and the requests it made."""
    before = len(fake.requests)
    async with client_for(fake) as client, SQLiteStore(path) as store:
        summary = await client.sync(store, **full_range(fake))
    return summary, len(fake.requests) - before


def fetched(fake: FakeTwilio) -> set[str]:
    """The conferences whose participant summaries were listed (fetched by a sync)."""
    return set(participant_listings(fake))


async def test_a_sync_after_listening_makes_a_tenth_of_a_cold_sync_s_requests(
    tmp_path: Path,
) -> None:
    """Every conference came by events: the sync skips them all (<= 10%), the store is exact."""
    db = tmp_path / "listened.db"
    async with (
        listening(str(db)) as listener,
        fake_for(listener.url, conferences=200, delivery=QUICK) as fake,
    ):
        fake.data.processing.settle_all()
        await drained(fake)
        await listener.stop()
        after_events, warm = await synced(fake, db)
        assert fetched(fake) == set()
        cold_summary, cold = await synced(fake, tmp_path / "cold.db")
    assert (cold_summary.conferences, cold_summary.skipped, cold_summary.new) == (200, 0, 200)
    assert (after_events.skipped, after_events.new, after_events.updated) == (200, 0, 0)
    assert warm <= cold / 10, (warm, cold)
    assert_store_matches(db, fake)
    assert_store_matches(tmp_path / "cold.db", fake)


async def test_the_sync_fetches_what_no_event_brought_even_while_events_arrive(
    tmp_path: Path,
) -> None:
    """A sync running while events arrive: what never came by event is fetched; exact."""
    db = tmp_path / "s.db"
    async with listening(str(db)) as listener:
        fake = fake_for(listener.url, conferences=120, delivery=QUICK, missed_every=10)
        evented = set(fake.data.processing.unsettled())
        missed = [
            c["conference_sid"] for c in fake.data.conferences if c["conference_sid"] not in evented
        ]
        assert 5 <= len(missed) <= 12
        async with fake:
            sync = asyncio.ensure_future(synced(fake, db))
            fake.data.processing.settle_all()
            await drained(fake)
            summary, _ = await sync
            await listener.stop()
    assert summary.ok
    assert set(missed) <= fetched(fake)
    assert_store_matches(db, fake)
