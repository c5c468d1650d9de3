"""The planner's hint that a result is saved: heard at once, and never a failure of its own."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tests.distributed_support import within
from tests.servers import RedisServer
from twilio_conf_insights.distributed import SigningKey
from twilio_conf_insights.distributed._broker import RESULTS_CHANNEL, build_broker
from twilio_conf_insights.distributed._coordinator import _Announcements

_KEY = SigningKey.from_secret("a" * 32, account_sid="AC" + "0" * 32)


async def test_garbled_and_foreign_announcements_are_hints_not_failures(
    redis_server: RedisServer, redis: Redis
) -> None:
    """A message that is not UTF-8 reads as an id that matches no unit; the listener goes
    on, hears the next id, and closing it raises nothing."""
    broker = build_broker(redis_server.url, signing_key=_KEY)
    try:
        async with _Announcements(broker) as announced:
            await redis.publish(RESULTS_CHANNEL, b"\xff\xfe not an id")
            await redis.publish(RESULTS_CHANNEL, "task-1")
            heard: list[str] = []
            while "task-1" not in heard:
                heard += await within(announced.next(30), "the announcements")
        assert heard[0] != "task-1" and "\ufffd" in heard[0]
    finally:
        await broker.shutdown()


async def test_an_error_in_the_listener_costs_a_resubscription_not_the_sync(
    redis_server: RedisServer, redis: Redis
) -> None:
    """An unexpected error while handling an announcement is logged; the listener
    subscribes again and hears the next ones, and leaving raises nothing."""
    broker = build_broker(redis_server.url, signing_key=_KEY)
    try:
        async with _Announcements(broker) as announced:
            handle = announced._heard
            failed = False

            def fails_once(data: object) -> None:
                nonlocal failed
                if not failed:
                    failed = True
                    raise RuntimeError("a bug while handling an announcement")
                handle(data)

            announced._heard = fails_once  # type: ignore[method-assign]
            assert await redis.publish(RESULTS_CHANNEL, "task-0") == 1
            heard: list[str] = []
            async with asyncio.timeout(30):
                # Subscribed again after the error: Redis says so by its count of receivers.
                # (A message may still reach the subscription being closed: publish again.)
                while "task-1" not in heard:
                    if await redis.publish(RESULTS_CHANNEL, "task-1"):
                        heard += await announced.next(0.5)
                    else:
                        await asyncio.sleep(0.05)
        assert failed and set(heard) == {"task-1"}
    finally:
        await broker.shutdown()


async def test_announcements_beyond_the_bound_are_dropped(redis_server: RedisServer) -> None:
    """Ids nobody reads pile up to the bound only; the rest are dropped (found by looking)."""
    broker = build_broker(redis_server.url, signing_key=_KEY)
    try:
        announced = _Announcements(broker)
        for n in range(announced._task_ids.maxsize + 5):
            announced._heard(f"task-{n}".encode())
        assert announced._task_ids.qsize() == announced._task_ids.maxsize
        assert (await announced.next(0.01))[0] == "task-0"
    finally:
        await broker.shutdown()
        await asyncio.sleep(0)
