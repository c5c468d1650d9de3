"""Event Streams over real loopback HTTP: the fake Twilio delivers signed events to the
application factory, which hands them to an in-memory sink; forged, tampered, oversized
and garbled deliveries are refused; the envelope decodes as Twilio's pages show it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import payloads
from tests.helpers import clean_env, command, wait_until
from tests.web_support import aiohttp_site, drained
from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.eventstreams import (
    STATS,
    CloudEvent,
    ConferenceSummaryEvent,
    Delivery,
    DeliveryStats,
    EventType,
    MalformedDeliveryError,
    ParticipantSummaryEvent,
    SinkUnavailableError,
    create_app,
    parse_delivery,
)
from twilio_conf_insights.testing import EventDelivery, FakeTwilio
from twilio_conf_insights.webhooks import SIGNATURE_HEADER, compute_signature, with_body_sha256

TOKEN = "event-streams-test-token-0123456"
#: Quick retries, so redeliveries come within the test.
QUICK = EventDelivery(initial_backoff=0.01, max_backoff=0.05, timeout=2.0)


class MemorySink:
    """An in-memory sink: keeps every delivery; fails the first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self.failures = failures
        self.calls = 0
        self.gate: asyncio.Event | None = None  # when set up, the first call waits for it

    async def __call__(self, delivery: Delivery) -> None:
        self.calls += 1
        if self.gate is not None and self.calls == 1:
            await self.gate.wait()
        if self.calls <= self.failures:
            raise SinkUnavailableError("store is locked", retry_after=2)
        self.deliveries.append(delivery)

    @property
    def records(self) -> list[ConferenceSummaryEvent | ParticipantSummaryEvent]:
        return [record for delivery in self.deliveries for record in delivery.records]


@asynccontextmanager
async def listening(sink: MemorySink, **options: Any) -> AsyncIterator[tuple[str, DeliveryStats]]:
    """The application factory's app on loopback; yields its /events URL and its stats."""
    app = create_app(sink, auth_token=TOKEN, **options)
    async with aiohttp_site(app) as base_url:
        yield f"{base_url}/events", app[STATS]


def fake_for(url: str, delivery: EventDelivery = QUICK, **options: Any) -> FakeTwilio:
    return FakeTwilio(
        conferences=12,
        participants_per_conference=(2, 4),
        seed=3,
        auth_token=TOKEN,
        event_sink=url,
        event_delivery=delivery,
        **options,
    )


def settle_some(fake: FakeTwilio, count: int) -> list[str]:
    """Put ``count`` conferences back in progress, then settle them: their events go out."""
    sids = [c["conference_sid"] for c in fake.data.conferences[:count]]
    for sid in sids:
        fake.data.set_processing_state(sid, "in_progress")
    for sid in sids:
        fake.data.processing.settle(sid)
    return sids


async def test_settled_conferences_arrive_as_decoded_records() -> None:
    """Settling sends the conference's .complete and each participant's, decoded exactly."""
    sink = MemorySink()
    async with listening(sink) as (url, stats), fake_for(url) as fake:
        sids = settle_some(fake, 3)
        await drained(fake)
    conferences = [r for r in sink.records if isinstance(r, ConferenceSummaryEvent)]
    # Two deliveries in flight at a time: the order across batches is not guaranteed.
    assert sorted(r.summary.conference_sid or "" for r in conferences) == sorted(sids)
    assert not any(r.partial for r in conferences)
    for record in conferences:
        served = fake.data.conference(record.summary.conference_sid or "")
        assert record.summary.to_dict() == {**(served or {}), "processing_state": "complete"}
        assert record.time is not None and record.time.tzinfo is not None
    participants = [r for r in sink.records if isinstance(r, ParticipantSummaryEvent)]
    expected = [p["participant_sid"] for sid in sids for p in fake.data.participant_summaries[sid]]
    assert sorted(r.summary.participant_sid or "" for r in participants) == sorted(expected)
    assert all(isinstance(r.summary, ParticipantSummary) for r in participants)
    # Both of Twilio's spellings of the participant event were sent, and both decoded.
    assert {r.event.type for r in participants} == {
        EventType.PARTICIPANT_SUMMARY_COMPLETE,
        EventType.CONFERENCE_PARTICIPANT_SUMMARY_COMPLETE,
    }
    assert stats.records == len(sink.records) == len(sids) + len(expected)
    assert stats.forged == stats.malformed == 0


async def test_new_conferences_send_partial_summaries() -> None:
    """A conference that appears sends conference-summary.partial, a ConferenceSummary."""
    sink = MemorySink()
    async with listening(sink) as (url, _), fake_for(url) as fake:
        added = fake.data.add_conferences(2, seconds=60)
        await drained(fake)
    partial = [r for r in sink.records if isinstance(r, ConferenceSummaryEvent) and r.partial]
    assert sorted(r.summary.conference_sid or "" for r in partial) == sorted(added)
    assert all(isinstance(r.summary, ConferenceSummary) for r in partial)


async def test_time_based_settling_is_delivered_without_any_request() -> None:
    """settle_after(seconds=...) settles on time while events flow, and sends its events."""
    sink = MemorySink()
    async with listening(sink) as (url, _), fake_for(url) as fake:
        sid = fake.data.conferences[0]["conference_sid"]
        fake.data.set_processing_state(sid, "in_progress")
        fake.data.processing.settle_after(sid, seconds=0.05)
        await wait_until(lambda: any(r.summary for r in sink.records), "a record arrived")
        await drained(fake)
        assert fake.requests == []  # nobody polled: the fake's own clock settled it
    assert sink.records[0].summary.conference_sid == sid


async def test_a_sink_that_cannot_commit_gets_503_and_the_delivery_again() -> None:
    """SinkUnavailableError answers 503 with Retry-After; the fake retries until a 2xx."""
    sink = MemorySink(failures=2)
    async with listening(sink) as (url, stats), fake_for(url) as fake:
        settle_some(fake, 1)
        await drained(fake)
        assert fake.events is not None
        statuses = [attempt.status for attempt in fake.events.attempts]
    assert statuses.count(503) == 2
    assert statuses[-1] == 204
    assert stats.unavailable == 2
    # Every event was committed once, after the failures: nothing lost, nothing doubled.
    ids = [record.event.id for record in sink.records]
    assert len(ids) == len(set(ids)) == fake.events.emitted


async def test_a_delivery_not_answered_in_time_is_delivered_again() -> None:
    """The fake gives up on a slow answer after its timeout and delivers again."""
    sink = MemorySink()
    sink.gate = asyncio.Event()  # the first call hangs until the test releases it
    slow = EventDelivery(timeout=0.2, initial_backoff=0.01, concurrency=1)
    async with listening(sink, deadline=30.0) as (url, _), fake_for(url, slow) as fake:
        settle_some(fake, 1)
        events = fake.events
        assert events is not None
        await wait_until(lambda: any(a.ok for a in events.attempts), "a redelivery")
        assert events.attempts[0].status is None  # the first POST timed out
        assert events.attempts[0].error == "TimeoutError"
        sink.gate.set()
        await drained(fake)


async def test_other_event_types_are_acknowledged_counted_and_not_passed_on() -> None:
    """An unrelated event type gets a 2xx, is counted by type, and never reaches the sink."""
    sink = MemorySink()
    async with listening(sink) as (url, stats), fake_for(url) as fake:
        assert fake.events is not None
        sent = fake.events.emit_unrelated()
        await drained(fake)
    assert sink.calls == 0
    assert stats.other == {sent["type"]: 1}
    assert stats.accepted == 1


async def test_on_demand_the_fake_sends_duplicates_stale_partials_and_unrelated_events() -> None:
    """duplicates/out_of_order/unrelated: the same ids twice, a partial after its complete,
    and events of other types, all acknowledged."""
    sink = MemorySink()
    chaos = EventDelivery(duplicates=1.0, out_of_order=1.0, unrelated=1.0, initial_backoff=0.01)
    async with listening(sink) as (url, stats), fake_for(url, chaos) as fake:
        (new,) = fake.data.add_conferences(1, seconds=60)
        await drained(fake)
        fake.data.set_processing_state(new, "in_progress")
        fake.data.processing.settle(new)
        await drained(fake)
    ids = [record.event.id for record in sink.records]
    # Every event delivered at least twice (stale partials come on top).
    assert all(ids.count(event_id) >= 2 for event_id in set(ids))
    assert sum(stats.other.values()) >= 1
    stale_after_complete = False
    for delivery in sink.deliveries:
        kinds = [r.partial for r in delivery.conferences if r.summary.conference_sid == new]
        if False in kinds and True in kinds[kinds.index(False) :]:
            stale_after_complete = True
    assert stale_after_complete, "no .partial arrived after its .complete"


async def test_a_sink_url_with_basic_credentials_requires_them() -> None:
    """The fake sends the sink URL's user info as Basic auth and signs that URL; the app
    accepts it, and refuses a delivery without the credentials (401)."""
    sink = MemorySink()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    public = f"http://hook:s3cret@127.0.0.1:{listener.getsockname()[1]}"
    app = create_app(sink, auth_token=TOKEN, public_url=public)
    async with aiohttp_site(app, listener) as base, fake_for(public + "/events") as fake:
        settle_some(fake, 1)
        await drained(fake)
        async with aiohttp.ClientSession() as session:
            body = b"[]"
            signed = with_body_sha256(public + "/events", body)
            headers = {SIGNATURE_HEADER: compute_signature(signed, key=TOKEN)}
            target = with_body_sha256(f"{base}/events", body)
            async with session.post(target, data=body, headers=headers) as response:
                assert response.status == 401
            headers["Authorization"] = aiohttp.encode_basic_auth("hook", "wrong")
            async with session.post(target, data=body, headers=headers) as response:
                assert response.status == 401
    assert sink.records
    assert app[STATS].unauthorized == 2


async def capture() -> tuple[bytes, dict[str, str], str]:
    """A genuine delivery (body, headers, URL as posted), recorded from the fake."""
    seen: list[tuple[bytes, dict[str, str], str]] = []

    async def record(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append((await request.read(), dict(request.headers), str(request.rel_url)))
        return aiohttp.web.Response(status=204)

    app = aiohttp.web.Application()
    app.router.add_post("/events", record)
    async with aiohttp_site(app) as base, fake_for(f"{base}/events") as fake:
        settle_some(fake, 1)
        await drained(fake)
    body, headers, path = seen[0]
    return body, headers, path


async def test_forged_tampered_oversized_and_garbled_deliveries_are_refused() -> None:
    """Forged 403, replayed with a tampered body 403, oversized 413, garbled 400: no records."""
    sink = MemorySink()
    async with listening(sink, max_body_bytes=64 * 1024) as (url, stats):
        base = url.removesuffix("/events")
        # A genuine delivery, made for another sink, replayed here with its body changed.
        body, _, _ = await capture()

        def signed(payload: bytes) -> tuple[str, dict[str, str]]:
            target = with_body_sha256(url, payload)
            return target, {SIGNATURE_HEADER: compute_signature(target, key=TOKEN)}

        async with aiohttp.ClientSession() as session:

            async def post(target: str, payload: bytes, head: dict[str, str]) -> int:
                async with session.post(target, data=payload, headers=head) as response:
                    return response.status

            target, good = signed(body)
            forged = {SIGNATURE_HEADER: compute_signature(target, key="not-the-token")}
            assert await post(target, body, forged) == 403
            assert await post(target, body, {}) == 403
            tampered = body.replace(b"complete", b"partial", 1)
            assert await post(target, tampered, good) == 403  # bodySHA256 no longer matches
            retargeted = with_body_sha256(url, tampered)  # hash fixed, signature not
            assert await post(retargeted, tampered, good) == 403
            assert await post(f"{base}/events?bodySHA256=00", body, good) == 403
            big = b"[" + b" " * (64 * 1024) + b"]"
            assert await post(*signed(big)[:1], big, signed(big)[1]) == 413
            for garbled in (b"not json", b'{"type": "x"}', b"[1, 2]"):
                assert await post(*signed(garbled)[:1], garbled, signed(garbled)[1]) == 400
            # The genuine delivery itself is accepted.
            assert await post(target, body, good) == 204
    assert (stats.forged, stats.oversized, stats.malformed, stats.accepted) == (5, 1, 3, 1)
    assert len(sink.deliveries) == 1


def test_the_envelope_decodes_twilio_s_documented_example_tolerantly() -> None:
    """Twilio's example (a timestamp in datacontenttype, no time) decodes; extras are kept."""
    example = {
        "specversion": "1.0",
        "type": "com.twilio.voice.insights.conference-summary.complete",
        "source": "AB00000000000000000000000001",
        "id": "NO00000000000000000000000001",
        "dataschema": "https://events-schemas.twilio.com/VoiceInsights.ConferenceSummary/2",
        "datacontenttype": "2025-10-08T07:17:02.363Z",
        "traceparent": "00-abc-def-01",
        "data": {"conference_sid": "CF" + "1" * 32, "duration_seconds": "64"},
    }
    delivery = parse_delivery(json.dumps([example]))
    (event,) = delivery.events
    assert isinstance(event, CloudEvent)
    assert event.time is None
    assert event.extra == {"traceparent": "00-abc-def-01"}
    assert event.to_dict() == example
    (record,) = delivery.conferences
    assert record.summary.duration_seconds is None
    assert "duration_seconds" in record.summary.problems
    assert record.summary.to_dict() == example["data"]


_ENVELOPE_STRINGS = ("specversion", "type", "source", "id", "dataschema", "datacontenttype")


@settings(max_examples=100, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            **dict.fromkeys(_ENVELOPE_STRINGS, st.text(max_size=8) | payloads.json_values),
            "subject": st.none() | st.text(max_size=8),
            "time": st.sampled_from(["2026-06-10T06:02:54.377Z", "2026-06-10T06:02:54Z", ""]),
            "data": payloads.json_values,
            "traceparent": payloads.json_values,
        },
    )
)
def test_any_envelope_round_trips_and_names_exactly_its_misfits(fields: dict[str, Any]) -> None:
    """Any values in any envelope field: it decodes, to_dict() is exact, misfits are named."""
    sent = json.dumps(fields)
    event = CloudEvent.from_dict(json.loads(sent))
    assert json.dumps(event.to_dict()) == sent
    misfits = {key for key in _ENVELOPE_STRINGS if type(fields.get(key)) not in (str, type(None))}
    if fields.get("time") == "":
        misfits.add("time")
    assert set(event.problems) == misfits
    assert CloudEvent.from_dict(event.to_dict()) == event
    if not misfits:  # built in Python, to_dict() comes from the attributes
        built = attrs.evolve(event)
        assert CloudEvent.from_dict(built.to_dict()) == built


def test_an_unparseable_time_is_a_problem_not_a_failure() -> None:
    """A ``time`` that is not a timestamp reads as None and is listed in problems."""
    (event,) = parse_delivery(b'[{"type": "x", "time": "yesterday", "id": "1"}]').events
    assert event.time is None
    assert "time" in event.problems


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"{}", "not a JSON array"),
        (b'[{"type": "x"}, "oops"]', "event 1 is not a JSON object"),
    ],
)
def test_a_body_that_is_not_an_array_of_objects_is_malformed(body: bytes, message: str) -> None:
    """parse_delivery refuses what is not a JSON array of objects, naming what is wrong."""
    with pytest.raises(MalformedDeliveryError, match=message):
        parse_delivery(body)


def test_a_summary_event_whose_data_is_not_an_object_is_set_apart() -> None:
    """data that cannot be a summary costs that event only: the others become records."""
    events = [
        {"type": EventType.CONFERENCE_SUMMARY_COMPLETE, "id": "a", "data": "garbage"},
        {
            "type": EventType.CONFERENCE_SUMMARY_PARTIAL,
            "id": "b",
            "data": {"conference_sid": "CF1"},
        },
    ]
    delivery = parse_delivery(json.dumps(events))
    assert [event.id for event in delivery.undecodable] == ["a"]
    assert [record.event.id for record in delivery.records] == ["b"]


def test_sink_unavailable_survives_pickle() -> None:
    """The public exception keeps its message and retry_after through pickle."""
    import pickle

    error = pickle.loads(pickle.dumps(SinkUnavailableError("locked", retry_after=3)))
    assert (str(error), error.retry_after) == ("locked", 3)


async def test_fake_server_sink_option_delivers_events() -> None:
    """``fake-server --sink URL`` delivers signed events as its unsettled conferences settle."""
    sink = MemorySink()
    token = FakeTwilio(seed=7).auth_token  # the command's fake: the --demo seed
    app = create_app(sink, auth_token=token)
    async with aiohttp_site(app) as base:
        url, stats = f"{base}/events", app[STATS]
        process = await asyncio.create_subprocess_exec(
            *command("fake-server", "--conferences", "60", "--sink", url),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(),
        )
        try:
            assert process.stdout is not None
            exports = dict(
                line.decode().removeprefix("export ").strip().split("=", 1)
                for line in [await process.stdout.readline() for _ in range(4)]
            )
            assert exports["TWILIO_AUTH_TOKEN"].strip("'") == token
            await wait_until(lambda: stats.records > 0, "a delivery")
        finally:
            process.terminate()
            await asyncio.wait_for(process.communicate(), timeout=60)
    assert stats.forged == 0
    assert isinstance(sink.records[0], ConferenceSummaryEvent)
