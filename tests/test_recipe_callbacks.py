"""The recipes' status-callback endpoint and summary workers, served for real on loopback
against FakeTwilio, once per framework: signatures, accounts, the bounded queue, merged
duplicates, conferences Insights never knows, and what is stored."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.recipes.worker import SummaryWorkers, json_files
from tests.web_support import (
    CALLBACK_PATH,
    RECIPES,
    Recipe,
    base_url_of,
    client_for,
    post_callback,
    served,
    until,
    workers_of,
)
from twilio_conf_insights import ConferenceSummary, InsightsClient
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind
from twilio_conf_insights.webhooks import (
    HMAC_SHA256,
    SIGNATURE_SETTINGS_HEADER,
    SignatureCheck,
    compute_signature,
)

pytestmark = pytest.mark.parametrize("recipe", RECIPES, ids=str)

END = "conference-end"
UNKNOWN_SID = "CF" + "0" * 32


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


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(tmp_path / "summaries")


def app_for(
    recipe: Recipe,
    fake: FakeTwilio,
    store: RecordingStore,
    make_client: Callable[[], InsightsClient] | None = None,
    **options: Any,
) -> Any:
    """The recipe's app with summary workers checking the fake's signatures."""
    check = SignatureCheck(
        auth_token=fake.auth_token,
        public_url=options.pop("public_url", None),
        shared_keys=options.pop("shared_keys", None),
    )
    options.setdefault("poll_interval", 0.01)
    workers = SummaryWorkers(store, check, **options)
    return recipe.create_app(make_client or client_for(fake), summaries=workers)


def form(fake: FakeTwilio, sid: str, event: str = END, **fields: str) -> dict[str, str]:
    """A conference status callback's parameters, as Twilio sends them."""
    return {
        "AccountSid": fake.account_sid,
        "ConferenceSid": sid,
        "StatusCallbackEvent": event,
        "FriendlyName": "daily standup",
        "Timestamp": "Tue, 02 Dec 2025 10:00:00 +0000",
        **fields,
    }


def polls_of(fake: FakeTwilio, sid: str) -> int:
    return sum(request.path.endswith(sid) for request in fake.requests)


def sids_of(fake: FakeTwilio, count: int) -> list[str]:
    return [conference["conference_sid"] for conference in fake.data.conferences[:count]]


def in_progress(fake: FakeTwilio, sid: str, *, complete_after_polls: int) -> None:
    """Make a conference's summary in progress, complete from the poll after the given one."""
    fake.data.set_processing_state(sid, "in_progress")
    fake.data.processing.settle_after(sid, polls=complete_after_polls)


async def test_conference_end_stores_the_completed_summary(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore
) -> None:
    """A signed callback answers 204 at once; the summary is polled until complete, stored."""
    (sid,) = sids_of(fake, 1)
    in_progress(fake, sid, complete_after_polls=2)
    async with served(app_for(recipe, fake, store)) as session:
        assert await post_callback(session, form(fake, sid), token=fake.auth_token) == 204
        await until(lambda: store.saved == [sid])
    saved = store.read(sid)
    assert saved["processing_state"] == "complete"
    async with client_for(fake)() as client:
        assert saved == (await client.conferences.fetch(sid)).to_dict()
    assert polls_of(fake, sid) == 3 + 1  # two in progress, the complete one, the check above


async def test_only_conference_end_wakes_the_worker(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore
) -> None:
    """Other status callbacks (participant-join...) are acknowledged and ignored."""
    first, second = sids_of(fake, 2)
    fake.data.processing.settle_all()
    async with served(app_for(recipe, fake, store)) as session:
        for event in ("participant-join", "conference-start"):
            assert (
                await post_callback(session, form(fake, first, event), token=fake.auth_token) == 204
            )
        assert await post_callback(session, form(fake, second), token=fake.auth_token) == 204
        await until(lambda: store.saved == [second])
    assert polls_of(fake, first) == 0


@pytest.mark.parametrize("sid", ["", "CA" + "0" * 32, "CF123", "cf" + "0" * 32])
async def test_conference_end_without_a_conference_sid_is_400(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore, sid: str
) -> None:
    """A signed callback whose ConferenceSid is not a conference SID: 400, nothing queued."""
    app = app_for(recipe, fake, store)
    async with served(app) as session:
        assert await post_callback(session, form(fake, sid), token=fake.auth_token) == 400
        assert workers_of(app).queue.empty()
    assert fake.requests == []


@pytest.mark.parametrize(
    "forgery",
    ["unsigned", "wrong-token", "signed-for-other-params", "signed-for-another-url", "garbage"],
)
async def test_a_callback_twilio_did_not_sign_gets_403_and_queues_nothing(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore, forgery: str
) -> None:
    """No signature, another key, a changed parameter or another URL: 403, nothing queued."""
    (sid,) = sids_of(fake, 1)
    app = app_for(recipe, fake, store)
    async with served(app) as session:
        url = base_url_of(session) + CALLBACK_PATH
        params = form(fake, sid)
        signature = {
            "unsigned": "",
            "wrong-token": compute_signature(url, key="not-the-token", params=params),
            "signed-for-other-params": compute_signature(
                url, key=fake.auth_token, params=form(fake, UNKNOWN_SID)
            ),
            "signed-for-another-url": compute_signature(
                url.replace(CALLBACK_PATH, "/elsewhere"), key=fake.auth_token, params=params
            ),
            "garbage": "\u00e9\u00e9 not a signature",
        }[forgery]
        status = await post_callback(session, params, token=fake.auth_token, signature=signature)
        assert status == 403
        assert workers_of(app).queue.empty()
        assert workers_of(app).pending == set()
        assert workers_of(app).check.rejected == 1
    assert fake.requests == []
    assert store.saved == []


async def test_a_callback_for_another_account_gets_403_and_queues_nothing(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore
) -> None:
    """Validly signed, but for an AccountSid that is not the client's: 403, nothing polled."""
    (sid,) = sids_of(fake, 1)
    app = app_for(recipe, fake, store)
    foreign = form(fake, sid, AccountSid="AC" + "9" * 32)
    async with served(app) as session:
        assert await post_callback(session, foreign, token=fake.auth_token) == 403
        assert workers_of(app).queue.empty()
    assert fake.requests == []


async def test_a_full_queue_answers_503_and_keeps_what_it_holds(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """With the one worker busy and the queue at its bound, the next callback gets 503."""
    busy, first, second, refused = sids_of(fake, 4)
    for sid in (busy, first, second, refused):
        fake.data.set_processing_state(sid, "in_progress")
    app = app_for(recipe, fake, store, workers=1, queue_size=2, poll_interval=600.0)
    with caplog.at_level(logging.WARNING, logger="conference_worker"):
        async with served(app) as session:
            assert await post_callback(session, form(fake, busy), token=fake.auth_token) == 204
            await until(lambda: polls_of(fake, busy) == 1)  # the worker holds it now
            for sid in (first, second):
                assert await post_callback(session, form(fake, sid), token=fake.auth_token) == 204
            assert await post_callback(session, form(fake, refused), token=fake.auth_token) == 503
            assert workers_of(app).pending == {busy, first, second}
            assert workers_of(app).queue.qsize() == 2
    assert f"{refused}: not queued (queue full); a sync will fetch it" in caplog.messages
    assert polls_of(fake, refused) == 0


async def test_duplicate_callbacks_are_merged_into_one_wait(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore
) -> None:
    """The same conference-end five times at once: one wait, one set of polls, one store."""
    (sid,) = sids_of(fake, 1)
    in_progress(fake, sid, complete_after_polls=3)
    app = app_for(recipe, fake, store, workers=4)
    async with served(app) as session:
        statuses = await asyncio.gather(
            *(post_callback(session, form(fake, sid), token=fake.auth_token) for _ in range(5))
        )
        assert statuses == [204] * 5
        await until(lambda: store.saved == [sid])
        assert workers_of(app).pending == set()
    assert polls_of(fake, sid) == 3 + 1  # one chain of polls: three in progress, then complete


async def test_a_conference_insights_never_knows_is_given_up_and_logged(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A SID still 404 after ``unknown_after`` is given up and logged; the next is stored."""
    (known,) = sids_of(fake, 1)
    fake.data.processing.settle(known)
    app = app_for(recipe, fake, store, workers=1, unknown_after=0.3, timeout=600.0)
    with caplog.at_level(logging.WARNING, logger="conference_worker"):
        async with served(app) as session:
            for sid in (UNKNOWN_SID, known):
                assert await post_callback(session, form(fake, sid), token=fake.auth_token) == 204
            await until(lambda: store.saved == [known])
            polled = polls_of(fake, UNKNOWN_SID)
            assert workers_of(app).pending == set()
    assert caplog.messages == [f"{UNKNOWN_SID}: still not found after 0.3s; given up"]
    assert polled >= 2
    assert all(r.status == 404 for r in fake.requests if r.path.endswith(UNKNOWN_SID))


async def test_many_callbacks_share_a_bounded_pool_of_workers(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore
) -> None:
    """30 conferences ending at once: every summary stored, never more than 3 polls at once."""
    sids = sids_of(fake, 30)
    for sid in sids:
        in_progress(fake, sid, complete_after_polls=1)
    # The first three requests are held until all three are in flight: the pool is used
    # whole, and a fourth worker would show as a fourth request in flight meanwhile.
    fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=math.inf), count=3)
    async with served(app_for(recipe, fake, store, workers=3)) as session:
        statuses = await asyncio.gather(
            *(post_callback(session, form(fake, sid), token=fake.auth_token) for sid in sids)
        )
        assert statuses == [204] * len(sids)
        await until(lambda: fake.stalled == 3)
        fake.release_stalls()
        await until(lambda: len(store.saved) == len(sids))
    assert sorted(store.saved) == sorted(sids)
    assert all(store.read(sid)["processing_state"] == "complete" for sid in sids)
    assert fake.max_in_flight == 3


async def test_a_summary_that_never_completes_is_logged_and_the_worker_goes_on(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """At the wait's timeout the SID is logged as not stored; the next conference is stored."""
    stuck, fine = sids_of(fake, 2)
    fake.data.set_processing_state(stuck, "in_progress")
    fake.data.processing.settle(fine)
    app = app_for(recipe, fake, store, workers=1, timeout=0.5, unknown_after=0.2)
    with caplog.at_level(logging.WARNING, logger="conference_worker"):
        async with served(app) as session:
            for sid in (stuck, fine):
                assert await post_callback(session, form(fake, sid), token=fake.auth_token) == 204
            await until(lambda: store.saved == [fine])
    assert caplog.messages == [f"{stuck}: summary not complete after 0.5s; not stored"]
    assert polls_of(fake, stuck) >= 2


async def test_shutdown_cancels_the_waits_and_names_what_was_not_stored(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping the service cancels every wait, closes the client and logs each lost SID."""
    waiting, queued = sids_of(fake, 2)
    for sid in (waiting, queued):
        fake.data.set_processing_state(sid, "in_progress")
    clients: list[InsightsClient] = []

    def make() -> InsightsClient:
        clients.append(client_for(fake)())
        return clients[-1]

    app = app_for(recipe, fake, store, make, workers=1, poll_interval=600.0)
    with caplog.at_level(logging.WARNING, logger="conference_worker"):
        async with served(app) as session:
            for sid in (waiting, queued):
                assert await post_callback(session, form(fake, sid), token=fake.auth_token) == 204
            await until(lambda: polls_of(fake, waiting) == 1)  # now sleeping until its next poll
        # served() has stopped the service and found no task left over.
    assert clients[0].closed
    assert store.saved == []
    assert caplog.messages == [
        f"{waiting}: not stored (shutting down); a sync will fetch it",
        f"{queued}: not stored (shutting down); a sync will fetch it",
    ]


async def test_behind_a_proxy_the_public_url_is_what_is_signed(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore
) -> None:
    """With public_url set, Twilio's URL (with the proxy's prefix) validates; ours does not."""
    (sid,) = sids_of(fake, 1)
    fake.data.processing.settle(sid)
    public = "https://hooks.example.com/insights"
    app = app_for(recipe, fake, store, public_url=public)
    async with served(app) as session:
        internal = base_url_of(session) + CALLBACK_PATH
        params = form(fake, sid)
        assert (
            await post_callback(session, params, token=fake.auth_token, signed_url=internal) == 403
        )
        # Twilio may sign it with the default port: both spellings are accepted.
        for url in (
            public + CALLBACK_PATH,
            "https://hooks.example.com:443/insights" + CALLBACK_PATH,
        ):
            assert (
                await post_callback(session, params, token=fake.auth_token, signed_url=url) == 204
            )
        await until(lambda: store.saved == [sid])


async def test_a_callback_signed_with_a_shared_key_is_accepted(
    recipe: Recipe, fake: FakeTwilio, store: RecordingStore
) -> None:
    """Under a Webhook Rule with a SharedKey (HMAC-SHA256), the named key's secret validates."""
    (sid,) = sids_of(fake, 1)
    fake.data.processing.settle(sid)
    keys = {"webhooks_sharedkey_a": "shared-secret"}
    app = app_for(recipe, fake, store, shared_keys=keys)
    async with served(app) as session:
        url = base_url_of(session) + CALLBACK_PATH
        params = form(fake, sid)
        signature = compute_signature(
            url, key="shared-secret", params=params, algorithm=HMAC_SHA256
        )
        headers = {
            "X-Twilio-Signature": signature,
            SIGNATURE_SETTINGS_HEADER: "key=webhooks_sharedkey_a,algorithm=HMAC_SHA256",
        }
        async with session.post(CALLBACK_PATH, data=params, headers=headers) as response:
            assert response.status == 204
        # The same signature without the header is checked against the auth token: refused.
        async with session.post(
            CALLBACK_PATH, data=params, headers={"X-Twilio-Signature": signature}
        ) as response:
            assert response.status == 403
        await until(lambda: store.saved == [sid])
