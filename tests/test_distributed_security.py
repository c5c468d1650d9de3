"""Whoever can write to the Redis of a run cannot steer its workers nor fake its results.

Real Redis, real PostgreSQL, real worker processes: a captured unit is tampered with one
field at a time and added back (``XADD``); malformed entries are added; results are forged
with another key. Nothing of it reaches the fake Twilio or the store, each is logged once,
and the workers keep serving.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from taskiq import TaskiqResult

from tests.distributed_support import (
    LogRecords,
    drained,
    sync_through_workers,
    within,
    worker_env,
    workers,
)
from tests.servers import RedisServer
from tests.store_fixtures import api_records, stored_records
from twilio_conf_insights.distributed import (
    UNITS_STREAM,
    SigningKey,
    UnitOutcome,
    build_broker,
    queue_status,
)
from twilio_conf_insights.sync import SyncProgress, WindowState, open_store
from twilio_conf_insights.testing import FakeTwilio

Message = dict[str, Any]

REFUSED = "refused queue entry"


async def _queued_messages(redis: Redis) -> list[Message]:
    """The unit messages on the stream, as JSON (an attacker reads them the same way)."""
    entries: Any = await redis.xrange(UNITS_STREAM)
    return [json.loads(fields[b"data"]) for _, fields in entries]


async def _sent_units(
    fake: FakeTwilio, broker: str, db: str, **options: Any
) -> tuple[asyncio.Task[Any], list[SyncProgress]]:
    """A sync started with no worker running, once all its units are on the queue."""
    progress: list[SyncProgress] = []
    sent = asyncio.Event()

    def on_progress(update: SyncProgress) -> None:
        progress.append(update)
        sent.set()  # first called once every unit is on the queue

    task = asyncio.create_task(
        sync_through_workers(fake, broker, db, on_progress=on_progress, **options)
    )
    await within(sent.wait(), "the units to be sent")
    return task, progress


async def _add(redis: Redis, fields: dict[bytes, bytes]) -> str:
    """``XADD`` an entry to the units stream, as anyone who can reach the Redis can."""
    entry_id: Any = await redis.xadd(UNITS_STREAM, fields)  # type: ignore[arg-type]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def _windows(db: str) -> list[WindowState]:
    store = await open_store(db, read_only=True)
    try:
        return sorted(await store.windows(""), key=lambda state: state.unit.start)
    finally:
        await store.aclose()


def _tampered(message: Message) -> dict[str, Message]:
    """The captured ``message`` with one field changed, in each way that would steer a worker."""
    unit = message["kwargs"]["unit"]
    day_earlier = unit["start"].replace(unit["start"][:10], "2000-01-01")

    def changed(edit: Callable[[Message], object]) -> Message:
        copied = copy.deepcopy(message)
        edit(copied)
        return copied

    return {
        "now in 2100 (closes the window for ever)": changed(
            lambda m: m["kwargs"].update(now="2100-01-01T00:00:00Z")
        ),
        "a filter Twilio would pass on": changed(
            lambda m: m["kwargs"]["unit"]["filters"].append(["Foo", "x"])
        ),
        "another subaccount": changed(
            lambda m: m["kwargs"]["unit"].update(subaccount="AC" + "f" * 32)
        ),
        "a subaccount holding SQL": changed(
            lambda m: m["kwargs"]["unit"].update(subaccount="AC'; DROP TABLE conferences; --")
        ),
        "another window": changed(lambda m: m["kwargs"]["unit"].update(start=day_earlier)),
        "refresh turned on": changed(lambda m: m["kwargs"].update(refresh=True)),
        "another task id": changed(lambda m: m.update(task_id="0" * 32)),
        "a made-up signature": changed(lambda m: m["labels"].update(signature="0" * 64)),
        "no signature": changed(lambda m: m["labels"].clear()),
    }


async def test_tampered_and_malformed_units_never_reach_twilio_nor_the_store(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str, redis: Redis
) -> None:
    """Each field tampered, no data, not JSON: refused, logged once, nothing sent or stored."""
    env = worker_env(recent_fake, redis_server.url, database)
    syncing, _ = await _sent_units(recent_fake, redis_server.url, database)
    captured = (await _queued_messages(redis))[0]
    async with workers(env, 1) as (worker,):
        summary = await within(syncing, "the sync")
        await drained(redis_server.url)
        assert summary.ok, summary.line()
        requests, store, windows = (
            len(recent_fake.requests),
            await stored_records(database),
            await _windows(database),
        )
        bad = [{b"data": json.dumps(m).encode()} for m in _tampered(captured).values()]
        bad += [{b"nodata": b"x"}, {b"data": b"not json"}, {b"data": b"\xff\xfe"}]
        ids = [await _add(redis, fields) for fields in bad]
        await worker.wait_for(lambda line: REFUSED in line, "every refusal", count=len(bad))
        await drained(redis_server.url)
        assert len(recent_fake.requests) == requests  # nothing reached Twilio
        assert await stored_records(database) == store
        assert await _windows(database) == windows  # no window closed, opened or moved
        assert (await queue_status(redis_server.url)).length == 0  # refused: removed
        # The same message untouched is run: the worker still serves, and what it
        # refused was the tampering.
        await _add(redis, {b"data": json.dumps(captured).encode()})
        await within(recent_fake.wait_for_requests(1, path_contains="Conferences"), "the replay")
        await drained(redis_server.url)
    logged = [line.split(":", 1)[0] for line in worker.lines(lambda line: REFUSED in line)]
    assert sorted(logged) == sorted(f"{REFUSED} {entry_id}" for entry_id in ids)  # once each
    assert not worker.lines(lambda line: "reconnecting" in line or "Traceback" in line)


async def test_an_entry_without_data_is_acknowledged_and_the_worker_serves_on(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str, redis: Redis
) -> None:
    """`XADD … nodata x`: dropped once, never redelivered, no reconnect loop; a sync runs."""
    env = worker_env(recent_fake, redis_server.url, database)
    async with workers(env, 1, redeliver_after="1s") as (worker,):
        poison = await _add(redis, {b"nodata": b"x"})
        await worker.wait_for(lambda line: poison in line, "the entry to be refused")
        summary = await within(sync_through_workers(recent_fake, redis_server.url, database))
        await drained(redis_server.url)
    assert summary.ok, summary.line()
    assert await stored_records(database) == api_records(recent_fake)
    assert len(worker.lines(lambda line: poison in line)) == 1  # not redelivered
    assert not worker.lines(lambda line: "broker unavailable" in line)
    assert (await queue_status(redis_server.url)).length == 0


async def test_results_signed_with_another_key_are_not_counted(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str, redis: Redis
) -> None:
    """Forged results for every unit are ignored (once each); the real ones are counted."""
    with LogRecords("twilio_conf_insights.distributed") as ignored:
        # Day-wide windows: a few units, all of them among those the sync looks at each round.
        syncing, progress = await _sent_units(
            recent_fake, redis_server.url, database, window=timedelta(days=1)
        )
        task_ids = [m["task_id"] for m in await _queued_messages(redis)]
        forger = build_broker(
            redis_server.url, signing_key=SigningKey.from_passphrase("not the key" * 4)
        )
        forged = UnitOutcome(new=1000, conferences=1000, windows=1).to_dict()
        for task_id in task_ids:
            await forger.result_backend.set_result(
                task_id, TaskiqResult[Any](is_err=False, return_value=forged, execution_time=0)
            )
        await forger.shutdown()
        await ignored.wait_for(len(task_ids), "every forged result to be seen")
        assert all("signature does not match" in message for message in ignored.messages)
        assert [p.windows_done for p in progress] == [0]  # nothing counted
        async with workers(worker_env(recent_fake, redis_server.url, database), 1):
            summary = await within(syncing, "the sync")
    assert summary.ok, summary.line()
    assert summary.new == len(recent_fake.data.conferences)  # not 1000 per unit
    assert len(ignored.messages) == len(task_ids)  # each logged once, however often read


async def test_workers_with_another_key_refuse_everything_and_the_sync_says_so(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """A planner and workers with different keys: nothing is run, the sync ends with errors."""
    env = worker_env(
        recent_fake,
        redis_server.url,
        database,
        TWILIO_CONF_INSIGHTS_SIGNING_KEY="a key only the workers have, 32+ characters",
    )
    async with workers(env, 1) as (worker,):
        summary = await within(
            sync_through_workers(recent_fake, redis_server.url, database, window=timedelta(days=1)),
            "the sync to give up on refused units",
        )
    assert not summary.ok
    assert summary.new == 0
    assert all("another key refused it" in str(error) for error in summary.errors)
    assert recent_fake.requests == []
    assert len(worker.lines(lambda line: "signature does not match" in line)) == len(summary.errors)


async def test_a_planner_with_a_clock_far_ahead_sends_nothing(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """A planner's "now" ahead of real time by hours: its units are not sent, it says why."""
    ahead = recent_fake.now + timedelta(hours=3)
    summary = await within(sync_through_workers(recent_fake, redis_server.url, database, now=ahead))
    assert summary.errors
    assert all("not sent" in str(e) and "ahead" in str(e) for e in summary.errors)
    assert (await queue_status(redis_server.url)).length == 0
