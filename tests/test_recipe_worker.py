"""The background-worker recipe of the README, served on loopback against FakeTwilio."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.recipes.worker import QUEUE, create_app, json_files
from tests.web_support import assert_nothing_left, client_for, inbound, until
from twilio_conf_insights import ConferenceSummary, InsightsClient
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

END = "conference-end"


class RecordingStore:
    """The recipe's JSON-file store, counting what it saved."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._save = json_files(directory)
        self.saved: list[str] = []

    async def __call__(self, summary: ConferenceSummary) -> None:
        await self._save(summary)
        assert summary.conference_sid is not None
        self.saved.append(summary.conference_sid)

    def read(self, sid: str) -> Any:
        return json.loads((self.directory / f"{sid}.json").read_text(encoding="utf-8"))


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[aiohttp.ClientSession]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        async with inbound(f"http://127.0.0.1:{runner.addresses[0][1]}") as session:
            yield session
    finally:
        await runner.cleanup()
    await assert_nothing_left()


async def callback(session: aiohttp.ClientSession, sid: str, event: str = END) -> int:
    """Post a conference status callback as Twilio does (form-encoded)."""
    form = {"StatusCallbackEvent": event, "ConferenceSid": sid, "AccountSid": "AC" + "1" * 32}
    async with session.post("/twilio/conference-events", data=form) as response:
        return response.status


def polls_of(fake: FakeTwilio, sid: str) -> int:
    return sum(request.path.endswith(sid) for request in fake.requests)


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(tmp_path / "summaries")


async def test_conference_end_stores_the_completed_summary(
    fake: FakeTwilio, store: RecordingStore
) -> None:
    """The callback answers at once; the worker polls until the summary completes, then saves it."""
    sid = fake.data.conferences[0]["conference_sid"]
    fake.data.set_processing_state(sid, "in_progress")
    fake.data.processing.settle_after(sid, polls=2)
    app = create_app(store, client_for(fake), poll_interval=0.01)
    async with served(app) as session:
        assert await callback(session, sid) == 204
        await until(lambda: store.saved == [sid])
    saved = store.read(sid)
    assert saved["processing_state"] == "complete"
    async with client_for(fake)() as client:
        assert saved == (await client.conferences.fetch(sid)).to_dict()
    assert polls_of(fake, sid) == 3 + 1  # two in progress, the complete one, the check above


async def test_only_conference_end_wakes_the_worker(
    fake: FakeTwilio, store: RecordingStore
) -> None:
    """Other status callbacks (participant-join...) are acknowledged and ignored."""
    first, second = (conference["conference_sid"] for conference in fake.data.conferences[:2])
    fake.data.processing.settle_all()
    app = create_app(store, client_for(fake), poll_interval=0.01)
    async with served(app) as session:
        assert await callback(session, first, "participant-join") == 204
        assert await callback(session, first, "conference-start") == 204
        assert await callback(session, second) == 204
        await until(lambda: store.saved == [second])
    assert polls_of(fake, first) == 0


@pytest.mark.parametrize("sid", ["", "CA" + "0" * 32, "CF123", "cf" + "0" * 32])
async def test_conference_end_without_a_conference_sid_is_400(
    fake: FakeTwilio, store: RecordingStore, sid: str
) -> None:
    """A callback whose ConferenceSid is not a conference SID is refused, nothing queued."""
    app = create_app(store, client_for(fake))
    async with served(app) as session:
        assert await callback(session, sid) == 400
        assert app[QUEUE].empty()
    assert fake.requests == []


async def test_many_callbacks_share_a_bounded_pool_of_workers(
    fake: FakeTwilio, store: RecordingStore
) -> None:
    """30 conferences ending at once: every summary stored, never more than 3 polls at once."""
    sids = [conference["conference_sid"] for conference in fake.data.conferences]
    for sid in sids:
        fake.data.set_processing_state(sid, "in_progress")
        fake.data.processing.settle_after(sid, polls=1)
    # The first three polls are held until all three are in flight: the pool is used whole.
    fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=math.inf), count=3)
    app = create_app(store, client_for(fake), workers=3, poll_interval=0.01)
    async with served(app) as session:
        statuses = await asyncio.gather(*(callback(session, sid) for sid in sids))
        assert statuses == [204] * len(sids)
        await until(lambda: fake.stalled == 3)
        fake.release_stalls()
        await until(lambda: len(store.saved) == len(sids))
    assert sorted(store.saved) == sorted(sids)
    assert all(store.read(sid)["processing_state"] == "complete" for sid in sids)
    assert fake.max_in_flight == 3


async def test_a_summary_that_never_completes_is_logged_and_the_worker_goes_on(
    fake: FakeTwilio, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """At the wait's timeout the SID is logged as not stored; the next conference is stored."""
    stuck, fine = (conference["conference_sid"] for conference in fake.data.conferences[:2])
    fake.data.set_processing_state(stuck, "in_progress")
    fake.data.processing.settle(fine)
    app = create_app(store, client_for(fake), workers=1, timeout=0.5, poll_interval=0.01)
    with caplog.at_level(logging.WARNING, logger="conference_worker"):
        async with served(app) as session:
            assert await callback(session, stuck) == 204
            assert await callback(session, fine) == 204
            await until(lambda: store.saved == [fine])
    assert [record.getMessage() for record in caplog.records] == [
        f"{stuck}: summary not complete after 0.5s; not stored"
    ]
    assert polls_of(fake, stuck) >= 2


async def test_shutdown_cancels_the_waits_and_names_what_was_not_stored(
    fake: FakeTwilio, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping the service cancels every wait, closes the client and logs each lost SID."""
    waiting, queued = (conference["conference_sid"] for conference in fake.data.conferences[:2])
    for sid in (waiting, queued):
        fake.data.set_processing_state(sid, "in_progress")
    clients: list[InsightsClient] = []

    def make() -> InsightsClient:
        clients.append(client_for(fake)())
        return clients[-1]

    app = create_app(store, make, workers=1, poll_interval=600.0)
    with caplog.at_level(logging.WARNING, logger="conference_worker"):
        async with served(app) as session:
            assert await callback(session, waiting) == 204
            assert await callback(session, queued) == 204
            await until(lambda: polls_of(fake, waiting) == 1)  # now sleeping until its next poll
        # served() has stopped the service and found no task left over.
    assert clients[0].closed
    assert store.saved == []
    assert [record.getMessage() for record in caplog.records] == [
        f"{waiting}: not stored (shutting down); a sync will fetch it",
        f"{queued}: not stored (shutting down); a sync will fetch it",
    ]
