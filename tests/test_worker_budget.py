"""Workers share the account's concurrency budget in the broker's Redis, unless told not to."""

from __future__ import annotations

from redis.asyncio import Redis

from tests.distributed_support import sync_through_workers, within, worker_env, workers
from tests.servers import RedisServer
from tests.store_fixtures import api_records, stored_records
from twilio_conf_insights.distributed._budget_redis import BudgetKeys
from twilio_conf_insights.testing import FakeTwilio


async def _budget_keys(redis_url: str, account: str) -> int:
    async with Redis.from_url(redis_url) as redis:
        return int(await redis.exists(*BudgetKeys.for_account(account).all))


async def test_workers_share_the_accounts_budget_by_default(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """Two workers say they share the budget, store the fleet's law in Redis, sync exactly."""
    env = worker_env(recent_fake, redis_server.url, database)
    async with workers(env, 2) as running:
        assert all("shared budget" in worker.log[-1] for worker in running)
        summary = await within(sync_through_workers(recent_fake, redis_server.url, database))
        async with Redis.from_url(redis_server.url) as redis:
            law = BudgetKeys.for_account(recent_fake.account_sid).all[5]
            version = await redis.hget(law, "version")
    assert summary.ok, summary.line()
    assert await stored_records(database) == api_records(recent_fake)
    assert version is not None and int(version) >= 1  # the members reported to one law


async def test_no_shared_budget_gives_each_worker_its_own_limiter(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """--no-shared-budget: no budget in Redis, the ready line says nothing of one."""
    env = worker_env(recent_fake, redis_server.url, database)
    async with workers(env, 1, flags=["--no-shared-budget"]) as running:
        assert "shared budget" not in running[0].log[-1]
        summary = await within(sync_through_workers(recent_fake, redis_server.url, database))
    assert summary.ok, summary.line()
    assert await stored_records(database) == api_records(recent_fake)
    assert await _budget_keys(redis_server.url, recent_fake.account_sid) == 0
