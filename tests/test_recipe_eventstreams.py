"""The Event Streams FastAPI recipe, served by uvicorn on loopback: the fake Twilio delivers
to it (with duplicates, stale partials and unrelated events), forgeries are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from tests.recipes.eventstreams_fastapi import LatestSummaries, create_app
from tests.web_support import base_url_of, drained, served
from twilio_conf_insights.eventstreams import Delivery, SinkUnavailableError
from twilio_conf_insights.testing import EventDelivery, FakeTwilio
from twilio_conf_insights.webhooks import (
    SIGNATURE_HEADER,
    SignatureCheck,
    compute_signature,
    with_body_sha256,
)

TOKEN = "event-streams-recipe-token-01234"
CHAOS = EventDelivery(duplicates=0.5, out_of_order=0.5, unrelated=0.5, initial_backoff=0.01)


class Flaky(LatestSummaries):
    """The recipe's sink, unable to commit its first ``failures`` deliveries."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def __call__(self, delivery: Delivery) -> None:
        if self.failures:
            self.failures -= 1
            raise SinkUnavailableError("database is locked")
        await super().__call__(delivery)


@asynccontextmanager
async def recipe_with_fake(
    sink: LatestSummaries, delivery: EventDelivery = CHAOS
) -> AsyncIterator[tuple[aiohttp.ClientSession, FakeTwilio]]:
    """The recipe under uvicorn, and a fake Twilio delivering its events to it."""
    app = create_app(sink, SignatureCheck(auth_token=TOKEN, max_body_bytes=256 * 1024))
    async with served(app) as session:
        fake = FakeTwilio(
            conferences=10,
            seed=9,
            auth_token=TOKEN,
            event_sink=base_url_of(session) + "/events",
            event_delivery=delivery,
        )
        async with fake:
            yield session, fake


async def test_the_recipe_keeps_the_newest_summaries_through_duplicates_and_disorder() -> None:
    """Every settled summary is kept complete, equal to the API's; no stale event wins."""
    sink = LatestSummaries()
    async with recipe_with_fake(sink) as (_, fake):
        added = fake.data.add_conferences(3, seconds=60)
        await drained(fake)
        for sid in added:
            fake.data.set_processing_state(sid, "in_progress")
            fake.data.processing.settle(sid)
        await drained(fake)
    assert sorted(sink.conferences) == sorted(added)
    for sid in added:
        served_now = fake.data.conference(sid)
        assert sink.conferences[sid].to_dict() == served_now
    expected = {
        p["participant_sid"]: p for sid in added for p in fake.data.participant_summaries[sid]
    }
    assert {sid: s.to_dict() for sid, s in sink.participants.items()} == expected


async def test_a_sink_that_cannot_commit_answers_503_and_gets_the_delivery_again() -> None:
    """SinkUnavailableError: 503, the fake delivers again, and the summary arrives."""
    sink = Flaky(failures=2)
    async with recipe_with_fake(sink, EventDelivery(initial_backoff=0.01)) as (_, fake):
        sid = fake.data.conferences[0]["conference_sid"]
        fake.data.set_processing_state(sid, "in_progress")
        fake.data.processing.settle(sid)
        await drained(fake)
        assert fake.events is not None
        assert [a.status for a in fake.events.attempts].count(503) == 2
    assert sink.conferences[sid].to_dict() == fake.data.conference(sid)


async def test_forged_oversized_and_garbled_deliveries_change_nothing() -> None:
    """403 for a bad signature, 413 over the limit, 400 for a body that is not an array."""
    sink = LatestSummaries()
    async with recipe_with_fake(sink) as (session, _):
        url = base_url_of(session) + "/events"

        async def post(body: bytes, key: str = TOKEN) -> int:
            target = with_body_sha256(url, body)
            headers = {SIGNATURE_HEADER: compute_signature(target, key=key)}
            async with session.post(target, data=body, headers=headers) as response:
                return response.status

        assert await post(b"[]", key="not-the-token") == 403
        assert await post(b"[" + b" " * 300 * 1024 + b"]") == 413
        assert await post(b'{"not": "an array"}') == 400
        assert await post(b"[]") == 204
    assert sink.conferences == {} and sink.participants == {}
