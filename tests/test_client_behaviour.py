"""Documented client behaviour, each over real loopback HTTP: failure kinds, a failed
conference in a report, rate limit, throttling, the retry log and the JSON parser.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import orjson
import pytest

from tests.helpers import ClientFactory, EventLog
from twilio_conf_insights import (
    DecodeError,
    InsightsClient,
    ResponseReceived,
    RetryExhaustedError,
    RetryPolicy,
    ServerError,
    ThrottleChanged,
    ThrottlePolicy,
    TransportError,
)
from twilio_conf_insights._transport import json_loads, parse_json_body
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind, fast_retries


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_connection_refused_is_a_connect_transport_error(refusing_port: int) -> None:
    """A refused connection raises TransportError(kind="connect"), with the URL and no retry."""
    url = f"http://127.0.0.1:{refusing_port}"
    async with InsightsClient(
        "AC" + "a" * 32, "token", insights_base_url=url, retry=RetryPolicy.disabled()
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.conferences.fetch("CF" + "a" * 32)
    assert caught.value.kind == "connect"
    assert caught.value.url == f"{url}/v1/Conferences/CF{'a' * 32}"


@pytest.mark.parametrize(
    ("fault", "kind"),
    [(FaultKind.CONNECTION_RESET, "disconnected"), (FaultKind.TRUNCATED_BODY, "payload")],
)
async def test_transport_failure_kinds(
    fake: FakeTwilio, client: InsightsClient, fault: FaultKind, kind: str
) -> None:
    """A connection dropped before the answer is kind "disconnected"; a cut body is "payload"."""
    # Two: aiohttp itself resends an idempotent GET once on a dropped keep-alive connection.
    fake.faults.queue(fault, count=2)
    with fast_retries(attempts=1), pytest.raises(TransportError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert caught.value.kind == kind


async def test_a_failed_conference_is_its_report_error(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A conference whose participants cannot be listed is a report with the error, not a gap."""
    client = make_client(retry=RetryPolicy(max_attempts=2))
    broken = fake.data.conferences[3]["conference_sid"]
    fake.faults.queue(FaultKind.SERVER_ERROR, count=1000, path_contains=f"{broken}/Participants")
    reports = {r.summary.conference_sid: r async for r in client.conference_reports(page_size=7)}
    assert set(reports) == {c["conference_sid"] for c in fake.data.conferences}
    failed = reports.pop(broken)
    assert not failed.ok
    assert failed.participants == []
    assert isinstance(failed.error, RetryExhaustedError)
    assert isinstance(failed.error.last_error, ServerError)
    assert failed.summary.to_dict() == fake.data.conferences[3]
    for sid, report in reports.items():
        assert report.ok and sid is not None
        assert [p.to_dict() for p in report.participants] == fake.data.participant_summaries[sid]


async def test_rate_limit_spaces_the_requests_the_server_receives(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """rate_limit=50 on the client: the server receives at most one request per 20 ms."""
    client = make_client(rate_limit=50)
    for conference in fake.data.conferences[:6]:
        await client.conferences.fetch(conference["conference_sid"])
    arrivals = sorted(r.received_at for r in fake.requests)
    # A lower bound only: a slower machine spaces them further, never closer.
    assert arrivals[-1] - arrivals[0] >= 5 * 0.020 * 0.9


@pytest.mark.parametrize(
    ("throttle", "limit_after_429"),
    [
        (ThrottlePolicy(initial_limit=16), 8),
        (ThrottlePolicy(enabled=False), 16),
        (ThrottlePolicy(initial_limit=16, decrease_factor=0.25), 4),
    ],
    ids=["default", "disabled", "quarter"],
)
async def test_throttle_policy_decides_how_far_a_429_lowers_the_limit(
    fake: FakeTwilio,
    make_client: ClientFactory,
    throttle: ThrottlePolicy | None,
    limit_after_429: int,
) -> None:
    """throttle= on the client: a lone 429 halves the limit; a disabled policy keeps it."""
    client = make_client(max_concurrency=16, throttle=throttle)
    fake.faults.queue(FaultKind.RATE_LIMIT)
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert client.stats().limit == limit_after_429
    assert len(fake.requests) == 2


@pytest.mark.real_retry_waits
async def test_503_with_retry_after_holds_back_every_request_of_the_client(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A 503 with Retry-After pauses the whole client (other calls too) and lowers its limit."""
    log = EventLog()
    client = make_client(max_concurrency=8, hooks=[log])
    first, other = (c["conference_sid"] for c in fake.data.conferences[:2])
    fake.faults.queue(Fault(FaultKind.SERVICE_UNAVAILABLE, retry_after="0.3"))
    task = asyncio.ensure_future(client.conferences.fetch(first))
    await log.wait_for(ResponseReceived, 1)
    # A call started during the pause waits for it too.
    await client.conferences.fetch(other)
    await task
    (throttled,) = log.of(ThrottleChanged)
    assert throttled.reason == "throttle"
    assert throttled.stats.limit == 4
    assert throttled.stats.paused_for > 0
    by_path = {r.path: r.received_at for r in fake.requests if r.status == 200}
    unavailable = next(r.received_at for r in fake.requests if r.status == 503)
    # Lower bounds only: the pause started after the 503 arrived.
    assert by_path[f"/v1/Conferences/{other}"] - unavailable >= 0.3
    assert by_path[f"/v1/Conferences/{first}"] - unavailable >= 0.3


async def test_each_retry_is_logged_at_info(
    fake: FakeTwilio, client: InsightsClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry writes one INFO line: the URL, the wait, the attempt and the cause."""
    caplog.set_level(logging.INFO, logger="twilio_conf_insights")
    sid = fake.data.conferences[0]["conference_sid"]
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="2"))
    await client.conferences.fetch(sid)
    (record,) = [r for r in caplog.records if r.levelno == logging.INFO]
    message = record.getMessage()
    assert message.startswith(f"retrying GET {fake.base_url}/v1/Conferences/{sid} in 2.00s")
    assert "after attempt 1: HTTP 429" in message
    assert fake.auth_token not in message


def test_the_fast_extra_parses_with_orjson() -> None:
    """With orjson installed (the fast extra) it parses bodies; what it refuses, json does."""
    assert json_loads is orjson.loads
    big = 2**70  # beyond orjson's 64-bit integers
    assert parse_json_body(b'{"n": %d, "s": "\xc3\xa9"}' % big) == {"n": big, "s": "\u00e9"}
    with pytest.raises(DecodeError) as caught:
        parse_json_body(b"<html>502</html>", url="http://127.0.0.1/x")
    assert caught.value.retryable
