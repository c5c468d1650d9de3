"""Tracing with OpenTelemetry: one span per call, retries as its events, read back from the
SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode

from tests.helpers import ClientFactory, EventLog
from twilio_conf_insights import (
    InsightsClient,
    NotFoundError,
    ResponseReceived,
    RetryExhaustedError,
    RetryPolicy,
)
from twilio_conf_insights.otel import instrument, url_template
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Where the test's spans end up."""
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A tracer provider of the test's own (the global one is left alone)."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture
def traced(make_client: ClientFactory, provider: TracerProvider) -> ClientFactory:
    """Clients for the fake, instrumented with the test's provider."""

    def build(**options: Any) -> InsightsClient:
        client = make_client(**options)
        instrument(client, tracer_provider=provider)
        return client

    return build


def _calls(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The SDK's spans, oldest first."""
    return [span for span in exporter.get_finished_spans() if span.kind is SpanKind.CLIENT]


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_fetch_is_one_span_with_the_calls_attributes(
    fake: FakeTwilio,
    make_client: ClientFactory,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """One CLIENT span, child of the caller's, named by route, with method, URL, status, id."""
    log = EventLog()
    client = make_client(hooks=[log])
    instrument(client, tracer_provider=provider)
    instrument(client, tracer_provider=provider)  # twice: still one span per call
    sid = fake.data.conferences[0]["conference_sid"]
    with provider.get_tracer("test").start_as_current_span("handler") as parent:
        await client.conferences.fetch(sid)
    (span,) = _calls(exporter)
    assert span.name == "GET /v1/Conferences/{sid}"
    assert _parent_id(span) == parent.get_span_context().span_id
    assert span.status.status_code is StatusCode.UNSET
    (received,) = log.of(ResponseReceived)
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": f"{fake.base_url}/v1/Conferences/{sid}",
        "url.template": "/v1/Conferences/{sid}",
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "http.response.status_code": 200,
        "twilio.request_id": received.request_id,
        "twilio.attempts": 1,
    }


async def test_each_page_is_a_span_and_its_url_is_redacted(
    traced: ClientFactory, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A listing of three pages: three spans under the caller's, page tokens redacted."""
    client = traced()
    with provider.get_tracer("test").start_as_current_span("listing") as parent:
        pages = [page async for page in client.conferences.list(page_size=10).pages()]
    spans = _calls(exporter)
    assert len(spans) == len(pages) == 3
    assert {_parent_id(span) for span in spans} == {parent.get_span_context().span_id}
    assert [span.attributes["twilio.request_id"] for span in spans if span.attributes] == [
        page.request_id for page in pages
    ]
    later = [str(span.attributes["url.full"]) for span in spans[1:] if span.attributes]
    assert all("PageToken=<redacted>" in url for url in later), later
    assert all("PageToken=" in str(page.url) for page in pages[1:])


async def test_retries_are_events_of_the_one_span(
    fake: FakeTwilio, traced: ClientFactory, exporter: InMemorySpanExporter
) -> None:
    """A 429 then a 500 then a 200: one span, two retry events with cause and wait."""
    client = traced()
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="2"), count=1)
    fake.faults.queue(FaultKind.SERVER_ERROR, count=1)
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    (span,) = _calls(exporter)
    assert span.attributes is not None
    assert span.attributes["twilio.attempts"] == 3
    assert span.attributes["http.response.status_code"] == 200
    retries = [event for event in span.events if event.name == "retry"]
    assert [event.attributes["error.type"] for event in retries if event.attributes] == [
        "RateLimitError",
        "ServerError",
    ]
    first = retries[0].attributes or {}
    assert first["twilio.retry.wait"] == 2.0
    assert first["twilio.retry.attempt"] == 1
    assert "HTTP 429" in str(first["twilio.retry.cause"])


async def test_a_failed_call_ends_in_error_with_the_exception(
    fake: FakeTwilio, traced: ClientFactory, exporter: InMemorySpanExporter
) -> None:
    """A 404 and an exhausted retry budget: status ERROR, the exception recorded, ids kept."""
    client = traced(retry=RetryPolicy(max_attempts=2))
    with pytest.raises(NotFoundError) as missing:
        await client.conferences.fetch("CF" + "0" * 32)
    fake.faults.queue(FaultKind.SERVER_ERROR, count=2)
    with pytest.raises(RetryExhaustedError) as exhausted:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    not_found, gave_up = _calls(exporter)
    for span, error in ((not_found, missing.value), (gave_up, exhausted.value)):
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None
        assert span.attributes["error.type"] == type(error).__name__
        assert span.attributes["twilio.request_id"] == error.request_id
        (recorded,) = [event for event in span.events if event.name == "exception"]
        assert recorded.attributes is not None
        assert str(recorded.attributes["exception.type"]).endswith(type(error).__name__)
    assert not_found.attributes and not_found.attributes["http.response.status_code"] == 404
    assert gave_up.attributes and gave_up.attributes["twilio.attempts"] == 2


async def test_calls_queued_in_the_limiter_stay_children_of_their_callers(
    fake: FakeTwilio, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Eight handlers, one slot: each call's span is its own handler's child."""
    fake.latency = 0.01
    tracer = provider.get_tracer("test")
    sid = fake.data.conferences[0]["conference_sid"]
    async with InsightsClient(
        fake.account_sid,
        fake.auth_token,
        insights_base_url=fake.insights_base_url,
        max_concurrency=1,
    ) as client:
        instrument(client, tracer_provider=provider)
        view = client.with_options(timeout=10)  # views share the instrumented chain

        async def handler(number: int) -> int:
            with tracer.start_as_current_span(f"handler {number}") as span:
                await (view if number % 2 else client).conferences.fetch(sid)
                return span.get_span_context().span_id

        parents = await asyncio.gather(*(handler(n) for n in range(8)))
        assert client.stats().max_concurrency == 1
    spans = _calls(exporter)
    assert len(spans) == 8
    assert sorted(_parent_id(span) or 0 for span in spans) == sorted(parents)
    assert fake.max_in_flight == 1


def test_the_span_name_is_the_route_with_records_replaced() -> None:
    """SIDs and participant labels become {sid}; the rest of the path stays."""
    assert url_template("/v1/Conferences") == "/v1/Conferences"
    assert url_template("/v1/Conferences/CF1/Participants/CP2") == (
        "/v1/Conferences/{sid}/Participants/{sid}"
    )
    assert url_template("/2010-04-01/Accounts/AC1/Conferences/CF2/Participants/agent%207.json") == (
        "/2010-04-01/Accounts/{sid}/Conferences/{sid}/Participants/{sid}.json"
    )
    assert url_template("/2010-04-01/Accounts/AC1/Conferences/CF2/Participants.json") == (
        "/2010-04-01/Accounts/{sid}/Conferences/{sid}/Participants.json"
    )


async def test_without_an_sdk_instrumenting_changes_nothing(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """The API's no-op provider: calls, retries and failures behave as without tracing."""
    client = make_client(retry=RetryPolicy(max_attempts=2))
    instrument(client, tracer_provider=NoOpTracerProvider())
    fake.faults.queue(FaultKind.SERVER_ERROR, count=1)
    sid = fake.data.conferences[0]["conference_sid"]
    assert (await client.conferences.fetch(sid)).conference_sid == sid
    with pytest.raises(NotFoundError):
        await client.conferences.fetch("CF" + "0" * 32)
    assert [request.status for request in fake.requests] == [500, 200, 404]
