"""The fake as a server: in-flight counts, request records, scale, start and close, its CLI."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from datetime import UTC

import aiohttp
import pytest
from yarl import URL

from tests.helpers import API_KEY, PATIENCE, auth_for, finish, get, start, wait_until
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


async def test_max_in_flight_counts_concurrent_requests(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """in_flight and max_in_flight count the requests being handled at once."""
    server.latency = 3600  # none answers: all eight are in flight together, however slow
    urls = [f"{server.base_url}/v1/Conferences?PageSize={n}" for n in range(1, 9)]
    calls = [asyncio.ensure_future(get(http, url)) for url in urls]
    await wait_until(lambda: server.in_flight == 8, "eight requests are being handled")
    assert server.max_in_flight == 8
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    await wait_until(lambda: server.in_flight == 0, "the dropped requests were let go")
    assert server.max_in_flight == 8
    server.reset_stats()
    assert server.max_in_flight == 0
    assert server.requests == []
    server.latency = 0
    with pytest.raises(ValueError, match="latency"):
        server.latency = -1


async def test_requests_are_recorded_in_twilio_spelling(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Recorded requests keep the raw path, the query as sent and who authenticated."""
    url = URL(f"{server.base_url}/v1/Conferences").with_query(
        [("Tags", "low_mos"), ("Tags", "high_jitter"), ("PageSize", "2")]
    )
    async with http.get(url, headers={"User-Agent": "tester/1.0"}) as response:
        assert response.status == 200
        assert response.headers["Twilio-Request-Id"].startswith("RQ")
    (record,) = server.requests
    assert record.method == "GET"
    assert record.path == "/v1/Conferences"
    assert record.raw_path == "/v1/Conferences?Tags=low_mos&Tags=high_jitter&PageSize=2"
    assert record.query == {"Tags": ["low_mos", "high_jitter"], "PageSize": ["2"]}
    assert record.user_agent == "tester/1.0"
    assert record.authorized and record.has_authorization
    assert record.username == server.account_sid
    assert (record.status, record.fault) == (200, None)


async def test_large_data_sets_generate_and_serve() -> None:
    """4,000 conferences generate and serve their first and last pages."""
    fake = FakeTwilio(conferences=4000, participants_per_conference=5, seed=1)
    assert sum(1 for _ in fake.data.all_participant_summaries()) == 20_000
    async with fake, aiohttp.ClientSession(headers=auth_for(fake)) as session:
        status, page = await get(session, f"{fake.base_url}/v1/Conferences", {"PageSize": "1000"})
        assert status == 200
        assert len(page["conferences"]) == 1000
        status, page = await get(
            session,
            f"{fake.base_url}/v1/Conferences",
            {"PageSize": "1000", "Status": "in_progress"},
        )
        assert page["conferences"]
        assert all(c["status"] == "in_progress" for c in page["conferences"])


async def test_lifecycle_and_configuration() -> None:
    """The fake starts once, closes without waiting for stalls, and refuses bad configuration."""
    fake = FakeTwilio(conferences=2, seed=4)
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.base_url
    await fake.start()
    try:
        assert fake.base_url == f"http://127.0.0.1:{fake.port}"
        assert fake.insights_base_url == fake.api_base_url == fake.base_url
        assert fake.data.conferences[0]["url"].startswith(fake.base_url + "/v1/")
        with pytest.raises(RuntimeError, match="already"):
            await fake.start()
        # Closing does not wait for a stalled request to finish its stall (of an hour: were
        # close() to wait for it, the deadline below would fail the test).
        fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=3600))
        async with aiohttp.ClientSession(headers=auth_for(fake)) as session:
            pending = asyncio.ensure_future(session.get(f"{fake.base_url}/v1/Conferences"))
            await wait_until(lambda: fake.in_flight == 1, "the stalled request reached the fake")
            async with asyncio.timeout(PATIENCE):
                await fake.close()
            try:
                response = await pending
                response.release()
            except aiohttp.ClientError:
                pass
    finally:
        await fake.close()
    await fake.close()  # idempotent

    with pytest.raises(ValueError, match="loopback"):
        FakeTwilio(host="0.0.0.0")
    with pytest.raises(ValueError, match="account_sid"):
        FakeTwilio(account_sid="AC123")
    with pytest.raises(ValueError, match="api_key"):
        FakeTwilio(api_key=API_KEY)
    custom = FakeTwilio(conferences=1, account_sid="AC" + "a" * 32, auth_token="t" * 32)
    assert custom.data.conferences[0]["account_sid"] == "AC" + "a" * 32
    assert custom.auth_token == "t" * 32
    assert custom.now == custom.base_time
    assert custom.base_time.tzinfo is UTC


async def test_standalone_entry_point_serves_until_interrupted() -> None:
    """The `python -m twilio_conf_insights.testing` server serves, then exits 0 on Ctrl-C."""
    process = await start(
        [sys.executable, "-m", "twilio_conf_insights.testing", "--conferences", "3", "--seed", "5"]
    )
    try:
        assert process.stdout is not None
        lines = [
            (await asyncio.wait_for(process.stdout.readline(), PATIENCE)).decode() for _ in range(4)
        ]
        banner = "".join(lines)
        base_url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert base_url is not None
        expected = FakeTwilio(seed=5)
        assert expected.account_sid in banner
        assert expected.auth_token in banner

        headers = {
            "Authorization": aiohttp.encode_basic_auth(expected.account_sid, expected.auth_token)
        }
        async with aiohttp.ClientSession(headers=headers) as session:
            status, page = await get(session, f"{base_url.group(0)}/v1/Conferences")
        assert status == 200
        assert len(page["conferences"]) == 3
        process.send_signal(signal.SIGINT)
    finally:
        stopped = await finish(process)
    assert stopped.returncode == 0
    assert "Traceback" not in stopped.stderr
