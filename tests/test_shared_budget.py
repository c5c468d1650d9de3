"""SharedBudget: clients in one account share a budget in a real Redis, and survive its loss."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator

import pytest

from tests.helpers import wait_until
from tests.servers import RedisServer, free_port
from twilio_conf_insights import (
    ConferenceReport,
    InsightsClient,
    InvalidArgumentError,
    ThrottlePolicy,
)
from twilio_conf_insights.distributed import SharedBudget
from twilio_conf_insights.testing import ConcurrencyCap, FakeTwilio


@pytest.fixture
async def capped_fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(conferences=40, participants_per_conference=2, seed=26) as fake:
        fake.latency = 0.01
        fake.concurrency_cap = ConcurrencyCap(6)
        yield fake


def _client(fake: FakeTwilio, budget: SharedBudget) -> InsightsClient:
    return InsightsClient(
        fake.account_sid,
        fake.auth_token,
        insights_base_url=fake.insights_base_url,
        api_base_url=fake.api_base_url,
        limiter=budget,
    )


async def test_clients_sharing_a_budget_never_exceed_it_together(
    capped_fake: FakeTwilio, redis_server: RedisServer
) -> None:
    """Three clients of 8 each, one budget pinned at the account's cap of 6: no 429 at all."""
    pinned = ThrottlePolicy(enabled=False)
    budgets = [
        SharedBudget(
            redis_server.url,
            account_sid=capped_fake.account_sid,
            max_concurrency=8,
            fleet_max_concurrency=6,
            throttle=pinned,
        )
        for _ in range(3)
    ]
    sids = [c["conference_sid"] for c in capped_fake.data.conferences]
    async with contextlib.AsyncExitStack() as stack:
        for budget in budgets:
            await stack.enter_async_context(budget)
        clients = [await stack.enter_async_context(_client(capped_fake, b)) for b in budgets]
        await asyncio.gather(*(c.conferences.fetch(s) for c in clients for s in sids))
        assert all(budget.joined for budget in budgets)
        assert clients[0].stats().limit == 6
    assert capped_fake.cap_rejections == 0
    assert capped_fake.max_in_flight <= 6
    assert capped_fake.cap_admissions == 3 * len(sids)


async def test_the_fleet_finds_the_accounts_cap_by_the_law(
    capped_fake: FakeTwilio, redis_server: RedisServer
) -> None:
    """Unpinned, two clients' budget learns the cap from 429s; every report comes back."""
    budgets = [
        SharedBudget(redis_server.url, account_sid=capped_fake.account_sid, max_concurrency=16)
        for _ in range(2)
    ]
    async with budgets[0], budgets[1]:
        clients = [_client(capped_fake, b) for b in budgets]
        async with clients[0], clients[1]:

            async def all_reports(client: InsightsClient) -> list[ConferenceReport]:
                return [report async for report in client.conference_reports(page_size=10)]

            reports = await asyncio.gather(*(all_reports(c) for c in clients))
            assert [len(batch) for batch in reports] == [40, 40]
            assert all(r.error is None for batch in reports for r in batch)
            assert capped_fake.cap_rejections > 0  # the budget started above the cap
            assert clients[0].stats().ceiling is not None
            assert clients[0].stats().limit <= 8


async def test_redis_stopped_and_restarted_mid_run_falls_back_and_rejoins(
    capped_fake: FakeTwilio, redis_server: RedisServer
) -> None:
    """Redis gone: requests go on under the process's own limiter; back: the budget again."""
    capped_fake.concurrency_cap = None
    budget = SharedBudget(
        redis_server.url,
        account_sid=capped_fake.account_sid,
        max_concurrency=4,
        call_timeout=0.5,
        rejoin_interval=0.1,
    )
    sids = [c["conference_sid"] for c in capped_fake.data.conferences]
    done = 0
    stop = asyncio.Event()

    async def keep_fetching(client: InsightsClient) -> None:
        nonlocal done
        while not stop.is_set():
            await client.conferences.fetch(sids[done % len(sids)])
            done += 1

    async with budget, _client(capped_fake, budget) as client:
        runners = [asyncio.create_task(keep_fetching(client)) for _ in range(4)]
        try:
            await wait_until(lambda: budget.joined and done > 20, "the budget is in use")
            redis_server.stop()
            await wait_until(lambda: budget.fallbacks == 1 and not budget.joined, "fallback")
            during = done
            await wait_until(lambda: done > during + 20, "requests go on without Redis")
            redis_server.start()
            await wait_until(lambda: budget.joined, "the budget is rejoined")
            after = done
            await wait_until(lambda: done > after + 20, "requests go on with Redis back")
        finally:
            stop.set()
            await asyncio.gather(*runners)
    assert budget.fallbacks == 1


async def test_a_hung_redis_delays_no_request_past_the_call_deadline(
    capped_fake: FakeTwilio, redis_server: RedisServer
) -> None:
    """Redis stopped by SIGSTOP (answers nothing): the first call misses its deadline and the
    request is sent under the fallback; it never waits for ever."""
    capped_fake.concurrency_cap = None
    budget = SharedBudget(redis_server.url, account_sid=capped_fake.account_sid, call_timeout=0.3)
    sid = capped_fake.data.conferences[0]["conference_sid"]
    pid = redis_server.pid
    assert pid is not None
    async with budget, _client(capped_fake, budget) as client:
        await client.conferences.fetch(sid)
        assert budget.joined
        os.kill(pid, signal.SIGSTOP)
        try:
            async with asyncio.timeout(30):  # a bound, not a timing claim: never for ever
                await asyncio.gather(*(client.conferences.fetch(sid) for _ in range(5)))
            assert not budget.joined and budget.fallbacks == 1
        finally:
            os.kill(pid, signal.SIGCONT)


async def test_a_redis_away_from_the_start_costs_one_attempt_not_one_per_request(
    capped_fake: FakeTwilio,
) -> None:
    """Nothing listens at the URL: requests run under the fallback after one failed join."""
    capped_fake.concurrency_cap = None
    budget = SharedBudget(
        f"redis://127.0.0.1:{free_port()}/0",
        account_sid=capped_fake.account_sid,
        rejoin_interval=60.0,
    )
    sids = [c["conference_sid"] for c in capped_fake.data.conferences[:10]]
    async with budget, _client(capped_fake, budget) as client:
        for sid in sids:
            await client.conferences.fetch(sid)
        assert not budget.joined
    assert budget.fallbacks == 1
    assert len(capped_fake.requests) == len(sids)


def test_the_redis_password_stays_out_of_the_repr() -> None:
    """A password in the URL never shows in the budget's repr."""
    budget = SharedBudget("redis://:hunter2@127.0.0.1:1/0", account_sid="AC" + "0" * 32)
    assert "hunter2" not in repr(budget) and "127.0.0.1" in repr(budget)


@pytest.mark.parametrize(
    ("url", "sid", "match"),
    [
        ("http://127.0.0.1:1/0", "AC" + "0" * 32, "redis://"),
        ("postgresql://u:secret@db/x", "AC" + "0" * 32, "redis://"),
        ("redis://127.0.0.1:1/0", "AC123", "account_sid"),
        ("redis://127.0.0.1:1/0", "CA" + "0" * 32, "account_sid"),
    ],
)
def test_a_budget_refuses_what_is_not_a_redis_url_or_an_account(
    url: str, sid: str, match: str
) -> None:
    """A URL of another scheme or a SID that is not an account's is refused, secrets unsaid."""
    with pytest.raises(InvalidArgumentError, match=match) as caught:
        SharedBudget(url, account_sid=sid)
    assert "secret" not in str(caught.value)
