"""The fake's per-account concurrency cap, and the client finding it, over loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

from twilio_conf_insights import InsightsClient, ResponseReceived, RetryPolicy
from twilio_conf_insights.testing import ConcurrencyCap, FakeTwilio, Fault, FaultKind
from twilio_conf_insights.testing._concurrency import AccountGate

ACCOUNT = "AC" + "0" * 32


def test_gate_admits_up_to_the_cap_per_account() -> None:
    """The gate admits `limit` requests per account, rejects the next, and frees on leave."""
    gate = AccountGate()
    gate.cap = ConcurrencyCap(2)
    assert [gate.enter(ACCOUNT) for _ in range(3)] == [True, True, False]
    assert gate.enter("AC" + "1" * 32)  # another account has its own count
    gate.leave(ACCOUNT)
    assert gate.enter(ACCOUNT)
    assert (gate.admitted, gate.rejected, gate.peak) == (4, 1, 2)
    gate.reset()
    assert (gate.admitted, gate.rejected, gate.peak) == (0, 0, 2)


def test_gate_without_cap_admits_everything() -> None:
    """With no cap set, every request is admitted."""
    gate = AccountGate()
    assert all(gate.enter(ACCOUNT) for _ in range(100))


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_cap_rejects_nonsense(bad: object) -> None:
    """ConcurrencyCap needs an integer >= 1."""
    with pytest.raises(ValueError, match="limit"):
        ConcurrencyCap(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("retry_after", [None, "3"])
async def test_fake_answers_20429_above_the_cap(fake: FakeTwilio, retry_after: str | None) -> None:
    """Above the cap the fake answers 429 / 20429 (Retry-After as configured), not counted."""
    fake.concurrency_cap = ConcurrencyCap(2, retry_after=retry_after)
    fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=0.5), count=2)
    url = f"{fake.base_url}/v1/Conferences/{fake.data.conferences[0]['conference_sid']}"
    headers = {"Authorization": aiohttp.encode_basic_auth(fake.account_sid, fake.auth_token)}
    async with aiohttp.ClientSession() as http:

        async def get() -> tuple[int, str | None, dict[str, object]]:
            async with http.get(url, headers=headers) as response:
                return response.status, response.headers.get("Retry-After"), await response.json()

        held = [asyncio.create_task(get()) for _ in range(2)]
        # The fake exposes a counter, not an event: poll it (the loop runs the server too).
        while fake.cap_admissions < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        status, header, body = await get()
        assert (status, header, body["code"]) == (429, retry_after, 20429)
        assert fake.cap_rejections == 1
        assert [result[0] for result in await asyncio.gather(*held)] == [200, 200]
        assert (await get())[0] == 200
    assert fake.cap_admissions == 3
    assert fake.requests[2].status == 429


async def test_client_over_the_cap_finds_it_and_loses_nothing(fake: FakeTwilio) -> None:
    """max_concurrency=64 against a cap of 4: every report arrives, the limit comes down."""
    fake.concurrency_cap = ConcurrencyCap(4)
    fake.latency = 0.01
    statuses: list[int | None] = []
    async with InsightsClient(
        fake.account_sid,
        fake.auth_token,
        insights_base_url=fake.insights_base_url,
        api_base_url=fake.api_base_url,
        max_concurrency=64,
        # Two attempts only: a 429 must not use them up.
        retry=RetryPolicy(max_attempts=2, throttled_backoff=0.001),
        hooks=[lambda e: statuses.append(e.status) if isinstance(e, ResponseReceived) else None],
    ) as client:
        async with contextlib.aclosing(client.conference_reports(page_size=10)) as reports:
            errors = [report.error async for report in reports]
        stats = client.stats()
    assert errors == [None] * len(fake.data.conferences)
    assert 429 in statuses
    assert fake.cap_rejections == statuses.count(429)
    assert stats.throttle_events >= 1
    assert stats.ceiling is not None and stats.limit < 16
