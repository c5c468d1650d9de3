"""Request ids (``Twilio-Request-Id``) on errors, events and pages; call ids on events."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import ClientFactory, EventLog, assert_one_line_error, cli, fake_env
from twilio_conf_insights import (
    NotFoundError,
    RequestSent,
    ResponseReceived,
    RetryExhaustedError,
    RetryPolicy,
    RetryScheduled,
)
from twilio_conf_insights.testing import FakeTwilio, FaultKind

MISSING = "CF" + "0" * 32


async def test_an_api_error_carries_the_request_id_of_its_response(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A 404's request id is on the error, in its str(), and on its ResponseReceived event."""
    log = EventLog()
    client = make_client(hooks=[log])
    with pytest.raises(NotFoundError) as caught:
        await client.conferences.fetch(MISSING)
    (received,) = log.of(ResponseReceived)
    assert received.request_id is not None
    assert received.request_id.startswith("RQ")
    assert caught.value.request_id == received.request_id
    assert f"request {received.request_id}" in str(caught.value)


async def test_retry_exhausted_carries_the_last_responses_request_id(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """After the last 500, the RetryExhaustedError has that response's id, not an earlier one."""
    log = EventLog()
    client = make_client(hooks=[log], retry=RetryPolicy(max_attempts=3))
    fake.faults.queue(FaultKind.SERVER_ERROR, count=3)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    ids = [event.request_id for event in log.of(ResponseReceived)]
    assert len(set(ids)) == 3
    assert caught.value.request_id == ids[-1]


async def test_every_attempt_of_a_call_shares_its_call_id(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Two concurrent calls to one URL, one retried: each event names its call, ids differ."""
    log = EventLog()
    client = make_client(hooks=[log])
    sid = fake.data.conferences[0]["conference_sid"]
    fake.faults.queue(FaultKind.SERVER_ERROR, count=1)
    await asyncio.gather(client.conferences.fetch(sid), client.conferences.fetch(sid))
    calls: dict[int, list[str]] = {}
    for event in log.events:
        if isinstance(event, RequestSent | ResponseReceived | RetryScheduled):
            calls.setdefault(event.call_id, []).append(type(event).__name__)
    assert len(calls) == 2
    assert 0 not in calls
    assert sorted(calls.values(), key=len) == [
        ["RequestSent", "ResponseReceived"],
        ["RequestSent", "ResponseReceived", "RetryScheduled", "RequestSent", "ResponseReceived"],
    ]
    received = log.of(ResponseReceived)
    assert all(event.request_id for event in received)
    assert len({event.request_id for event in received}) == 3


async def test_every_page_carries_its_request_id_and_read_only_headers(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Page.request_id is that page's response's; Page.headers are its headers, read-only."""
    log = EventLog()
    client = make_client(hooks=[log])
    pages = [page async for page in client.conferences.list(page_size=10).pages()]
    received = [event.request_id for event in log.of(ResponseReceived)]
    assert [page.request_id for page in pages] == received
    assert len(set(received)) == len(pages) == 3
    first = pages[0]
    assert first.headers["twilio-request-id"] == first.request_id  # case-insensitive
    assert first.headers["Content-Type"].startswith("application/json")
    with pytest.raises(TypeError):
        first.headers["Twilio-Request-Id"] = "RQ-forged"  # type: ignore[index]


async def test_the_command_lines_one_line_error_shows_the_request_id(cli_fake: FakeTwilio) -> None:
    """A 404 on the command line: one line naming the response's request id."""
    run = await cli("conferences", "get", MISSING, env=fake_env(cli_fake))
    assert run.returncode == 1
    assert_one_line_error(run)
    assert " request RQ" in run.stderr
    assert "HTTP 404" in run.stderr
