"""The fake's injected faults: error statuses, resets, bad bodies, stalls, queues, randomness."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.helpers import get
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultInjector, FaultKind


@pytest.mark.parametrize(
    ("kind", "status", "code", "message"),
    [
        (FaultKind.RATE_LIMIT, 429, 20429, "Too Many Requests"),
        (FaultKind.SERVER_ERROR, 500, 20500, "Internal Server Error"),
        (FaultKind.BAD_GATEWAY, 502, 20502, "Bad Gateway"),
        (FaultKind.SERVICE_UNAVAILABLE, 503, 20503, "Service Unavailable"),
        (FaultKind.GATEWAY_TIMEOUT, 504, 20504, "Gateway Timeout"),
    ],
)
async def test_status_faults(
    server: FakeTwilio,
    http: aiohttp.ClientSession,
    kind: FaultKind,
    status: int,
    code: int,
    message: str,
) -> None:
    """Status faults answer with their status, Twilio body and Retry-After when configured."""
    server.faults.queue(Fault(kind, retry_after="2"))
    server.faults.queue(Fault(kind))
    url = f"{server.base_url}/v1/Conferences"
    for expected_retry_after in ("2", None):
        async with http.get(url) as response:
            assert response.status == status
            assert await response.json() == {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            }
            if kind in (FaultKind.RATE_LIMIT, FaultKind.SERVICE_UNAVAILABLE):
                assert response.headers.get("Retry-After") == expected_retry_after
            else:
                assert "Retry-After" not in response.headers
    async with http.get(url) as response:
        assert response.status == 200
    assert server.faults.injected == {kind: 2}
    assert [(r.status, r.fault) for r in server.requests] == [
        (status, kind),
        (status, kind),
        (200, None),
    ]


async def test_faults_apply_before_authentication(server: FakeTwilio) -> None:
    """An edge fault (503) comes before authentication; the next request is checked again."""
    server.faults.queue(FaultKind.SERVICE_UNAVAILABLE)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.base_url}/v1/Conferences") as response:
            assert response.status == 503
        async with session.get(f"{server.base_url}/v1/Conferences") as response:
            assert response.status == 401
    assert [(r.status, r.authorized) for r in server.requests] == [(503, False), (401, False)]


async def test_connection_reset_surfaces_as_a_connection_error(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    # aiohttp silently retries an idempotent request once after a disconnect, so it
    # takes two resets in a row for the caller to see one.
    """A reset fault drops the connection before any response byte."""
    server.faults.queue(Fault(FaultKind.CONNECTION_RESET), count=2)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"{server.base_url}/v1/Conferences") as response:
            await response.read()
    assert [(r.status, r.fault) for r in server.requests] == [(0, FaultKind.CONNECTION_RESET)] * 2
    status, _ = await get(http, f"{server.base_url}/v1/Conferences")
    assert status == 200


async def test_truncated_body_surfaces_as_a_payload_error(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """A truncated-body fault promises more bytes than it sends."""
    server.faults.queue(Fault(FaultKind.TRUNCATED_BODY))
    async with http.get(f"{server.base_url}/v1/Conferences") as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) > 0
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert server.requests[-1].fault is FaultKind.TRUNCATED_BODY
    status, _ = await get(http, f"{server.base_url}/v1/Conferences")
    assert status == 200


async def test_malformed_json_is_not_json(server: FakeTwilio, http: aiohttp.ClientSession) -> None:
    """A malformed-JSON fault sends a 200 whose body does not parse."""
    server.faults.queue(FaultKind.MALFORMED_JSON)
    async with http.get(f"{server.base_url}/v1/Conferences") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            await response.json()


async def test_stall_trips_a_client_timeout_then_answers(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """A stall outlasts a short client timeout; a short stall is just a slow 200."""
    server.faults.queue(Fault(FaultKind.STALL, stall_seconds=5.0))
    url = f"{server.base_url}/v1/Conferences"
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=0.2)) as response:
            await response.read()
    assert server.requests[-1].fault is FaultKind.STALL

    server.faults.queue(Fault(FaultKind.STALL, stall_seconds=0.1))
    started = time.monotonic()
    status, _ = await get(http, url)
    assert status == 200
    assert time.monotonic() - started >= 0.1
    assert server.requests[-1].status == 200


async def test_queue_is_fifo_and_honours_path_filters(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Queued faults apply in order, each only to paths matching its filter."""
    cf = server.data.conferences[0]["conference_sid"]
    server.faults.queue(FaultKind.SERVER_ERROR, count=1, path_contains="/Participants")
    server.faults.queue(FaultKind.BAD_GATEWAY, count=2)
    assert server.faults.pending == 3
    statuses = []
    for path in ("/v1/Conferences", f"/v1/Conferences/{cf}/Participants", "/v1/Conferences"):
        async with http.get(server.base_url + path) as response:
            statuses.append(response.status)
    async with http.get(f"{server.base_url}/v1/Conferences/{cf}/Participants") as response:
        statuses.append(response.status)
    # The first entry only matches /Participants, so it does not block the second.
    assert statuses == [502, 500, 502, 200]
    assert server.faults.pending == 0


async def test_random_faults_are_reproducible_per_seed(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Random faults are the same sequence for the same seed."""

    async def run() -> list[tuple[int, FaultKind | None]]:
        server.reset_stats()
        server.faults.clear()
        server.faults.random(0.5, kinds=[FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR], seed=7)
        for _ in range(30):
            async with http.get(f"{server.base_url}/v1/Conferences?PageSize=1") as response:
                await response.read()
        return [(r.status, r.fault) for r in server.requests]

    first = await run()
    assert first == await run()
    assert {status for status, _ in first} == {200, 429, 500}
    assert sum(server.faults.injected.values()) == sum(f is not None for _, f in first)
    limited = [r for r in server.requests if r.status == 429]
    assert len(limited) >= 2
    server.faults.random(0)
    async with http.get(f"{server.base_url}/v1/Conferences") as response:
        assert response.status == 200


def test_random_faults_default_kinds_exclude_stall() -> None:
    """Random faults default to every kind but stalls, alternating Retry-After "0" and none."""
    injector = FaultInjector()
    injector.random(1.0, seed=3)
    kinds = {fault.kind for fault in (injector.pick("/x") for _ in range(300)) if fault}
    assert kinds == set(FaultKind) - {FaultKind.STALL}
    limits = [injector.pick("/x") for _ in range(300)]
    retry_afters = {f.retry_after for f in limits if f and f.kind is FaultKind.RATE_LIMIT}
    assert retry_afters == {"0", None}


async def test_throttle_for_a_time_window(server: FakeTwilio, http: aiohttp.ClientSession) -> None:
    """throttle_for answers 429 with its Retry-After until the window ends, then normally."""
    now = [100.0]
    server.faults = FaultInjector(clock=lambda: now[0])
    server.faults.throttle_for(0.3, retry_after="1")
    url = f"{server.base_url}/v1/Conferences"
    async with http.get(url) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"
    now[0] += 0.29
    async with http.get(url) as response:
        assert response.status == 429
    now[0] += 0.01
    async with http.get(url) as response:
        assert response.status == 200
    server.faults.throttle_for(10)
    server.faults.clear()
    async with http.get(url) as response:
        assert response.status == 200
    assert server.faults.injected == {}
