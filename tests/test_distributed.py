"""Syncing with worker processes over a real Redis and PostgreSQL: exact, and survives faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.servers import PostgresServer, RedisServer, free_port
from tests.store_fixtures import api_records, fresh_database, stored_records
from twilio_conf_insights.cli import main
from twilio_conf_insights.distributed import sync_with_workers
from twilio_conf_insights.distributed._broker import QUEUE
from twilio_conf_insights.sync import SyncProgress, SyncSummary, open_store
from twilio_conf_insights.testing import FakeTwilio

GROUP = "twilio-conf-insights"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
async def database(postgres_server: PostgresServer) -> str:
    return await fresh_database(postgres_server)


@pytest.fixture
async def slow_fake() -> AsyncIterator[FakeTwilio]:
    # Latency, so that a unit takes long enough to be interrupted in its middle.
    async with FakeTwilio(conferences=80, participants_per_conference=(2, 5), seed=21) as fake:
        fake.latency = 0.02
        yield fake


class Worker:
    """A ``twilio-conf-insights worker`` subprocess pointed at the fake."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, fake: FakeTwilio, broker: str, db: str) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        env |= {
            "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token,
            "TWILIO_INSIGHTS_BASE_URL": fake.insights_base_url,
            "TWILIO_API_BASE_URL": fake.api_base_url,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "twilio_conf_insights", "worker",
            "--broker", broker, "--db", db, "--units", "2", "--redeliver-after", "2s",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        worker = cls(process)
        assert process.stderr is not None
        while True:
            line = (await process.stderr.readline()).decode()
            if not line:
                raise AssertionError(f"worker exited before ready: {worker.log}")
            worker.log.append(line)
            if line.startswith("worker ready"):
                break
        worker._drain = asyncio.create_task(worker._read_rest())
        return worker

    async def _read_rest(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.log.append(line.decode())

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` to this worker's PID and wait for it to end."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await self.process.wait()
        if self._drain is not None:
            await self._drain
        return code


@contextlib.asynccontextmanager
async def workers(
    fake: FakeTwilio, broker: str, db: str, count: int
) -> AsyncIterator[list[Worker]]:
    started = [await Worker.start(fake, broker, db) for _ in range(count)]
    try:
        yield started
    finally:
        for worker in started:
            await worker.stop()


async def _sync(fake: FakeTwilio, broker: str, db: str, **options: Any) -> SyncSummary:
    store = await open_store(db)
    try:
        return await sync_with_workers(
            store,
            broker,
            now=fake.data.now,
            filters={"created_after": fake.data.now - timedelta(days=4)},
            **options,
        )
    finally:
        await store.aclose()


async def _pending(redis_url: str) -> int:
    async with Redis.from_url(redis_url) as redis:
        info: Any = await redis.xpending(QUEUE, GROUP)
        count: int = info["pending"]
        return count


async def _unfinished(redis_url: str) -> int:
    """Units delivered but not acknowledged, plus units not delivered yet."""
    async with Redis.from_url(redis_url) as redis:
        groups: Any = await redis.xinfo_groups(QUEUE)
        group = next(g for g in groups if g["name"] in (GROUP, GROUP.encode()))
        return int(group["pending"]) + int(group["lag"] or 0)


async def _drained(redis_url: str) -> None:
    """Wait until no unit is delivered and unacknowledged (a duplicate may still be running)."""
    deadline = asyncio.get_running_loop().time() + 120
    while (pending := await _pending(redis_url)) != 0:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{pending} units never acknowledged")
        await asyncio.sleep(0.1)


async def test_two_workers_sync_exactly(
    slow_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """Two worker processes fill the PostgreSQL store exactly with the fake's data."""
    async with workers(slow_fake, redis_server.url, database, 2):
        summary = await _sync(slow_fake, redis_server.url, database)
        await _drained(redis_server.url)
    assert summary.ok, summary.line()
    assert summary.new == len(slow_fake.data.conferences)
    assert await stored_records(database) == api_records(slow_fake)


async def test_worker_killed_mid_unit_is_redelivered(
    slow_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """kill -9 of the only worker while it holds units: another worker runs them; store exact."""
    sent = asyncio.Event()

    def on_progress(progress: SyncProgress) -> None:
        sent.set()  # first called once every unit is on the queue

    syncing = asyncio.create_task(
        _sync(slow_fake, redis_server.url, database, on_progress=on_progress)
    )
    await sent.wait()
    first = await Worker.start(slow_fake, redis_server.url, database)
    await slow_fake.wait_for_requests(20, path_contains="Participants")
    assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    stranded = await _pending(redis_server.url)
    assert stranded >= 1  # it died holding units it had not acknowledged
    async with workers(slow_fake, redis_server.url, database, 1):
        summary = await syncing
        await _drained(redis_server.url)
    assert summary.ok, summary.line()
    assert await stored_records(database) == api_records(slow_fake)


async def test_redis_restart_mid_run(
    slow_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """Redis stopped and started again mid-run: workers reconnect, the sync finishes exactly."""
    sent = asyncio.Event()

    def on_progress(progress: SyncProgress) -> None:
        sent.set()

    async with workers(slow_fake, redis_server.url, database, 2) as running:
        syncing = asyncio.create_task(
            _sync(slow_fake, redis_server.url, database, on_progress=on_progress)
        )
        await sent.wait()
        await slow_fake.wait_for_requests(5, path_contains="Participants")
        redis_server.stop()
        redis_server.start()
        # Work was left: only workers talking to the restarted Redis can finish it.
        assert await _unfinished(redis_server.url) > 0
        summary = await syncing
        await _drained(redis_server.url)
        assert all(w.process.returncode is None for w in running)
    assert summary.ok, summary.line()
    assert await stored_records(database) == api_records(slow_fake)


def test_worker_with_postgres_down_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`worker` with no PostgreSQL listening: exit 1 and one line, without the password."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-not-used")
    db = f"postgresql://sync:pg-secret@127.0.0.1:{free_port()}/insights"
    status = main(["worker", "--broker", f"redis://127.0.0.1:{free_port()}/0", "--db", db])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.count("\n") == 1
    assert "cannot connect to PostgreSQL store postgresql://sync@127.0.0.1" in captured.err
    assert "pg-secret" not in captured.err


async def _cli(fake: FakeTwilio, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env |= {
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_INSIGHTS_BASE_URL": fake.insights_base_url,
        "TWILIO_API_BASE_URL": fake.api_base_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "twilio_conf_insights", *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_sync_with_broker_and_report_from_postgres(
    slow_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """`sync --broker --db postgresql://` with a worker fills the store; `report --db` reads it."""
    after = (slow_fake.data.now - timedelta(days=4)).isoformat()
    before = slow_fake.data.now.isoformat()
    async with workers(slow_fake, redis_server.url, database, 1):
        status, out, err = await _cli(
            slow_fake, "sync", "--broker", redis_server.url, "--db", database,
            "--created-after", after, "--created-before", before,
        )  # fmt: skip
    assert status == 0, err
    assert out.startswith(f"sync: {len(slow_fake.data.conferences)} new,")
    assert await stored_records(database) == api_records(slow_fake)
    status, out, err = await _cli(slow_fake, "report", "--db", database, "--format", "json")
    assert status == 0, err
    report = json.loads(out)
    assert report["conferences"] == len(slow_fake.data.conferences)
    assert report["participants"] == sum(len(p) for _, p in api_records(slow_fake).values())


async def test_cli_sync_into_postgres_without_workers(slow_fake: FakeTwilio, database: str) -> None:
    """`sync --db postgresql://…` alone syncs from this process into PostgreSQL, exactly."""
    status, _, err = await _cli(
        slow_fake, "sync", "--db", database,
        "--created-after", (slow_fake.data.now - timedelta(days=4)).isoformat(),
        "--created-before", slow_fake.data.now.isoformat(),
    )  # fmt: skip
    assert status == 0, err
    assert await stored_records(database) == api_records(slow_fake)


def test_broker_with_a_file_store_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """Workers cannot share a file: `sync --broker --db FILE` is exit 2, one line."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-not-used")
    store = tmp_path / "store.db"
    status = main(["sync", "--broker", "redis://127.0.0.1:1/0", "--db", str(store)])
    assert status == 2
    assert "postgresql://" in capsys.readouterr().err
    assert not store.exists()


async def test_sync_with_postgres_down_sends_nothing_and_says_so_in_one_line(
    slow_fake: FakeTwilio, redis_server: RedisServer
) -> None:
    """`sync --broker` with no PostgreSQL: exit 1, one line, no unit queued, nothing done."""
    db = f"postgresql://sync:pg-secret@127.0.0.1:{free_port()}/insights"
    status, out, err = await _cli(
        slow_fake, "sync", "--broker", redis_server.url, "--db", db,
        "--created-after", (slow_fake.data.now - timedelta(days=2)).isoformat(),
    )  # fmt: skip
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "cannot connect to PostgreSQL store postgresql://sync@127.0.0.1" in err
    assert "pg-secret" not in err
    redis = Redis.from_url(redis_server.url)
    try:
        assert await redis.exists(QUEUE) == 0
    finally:
        await redis.aclose()
    assert slow_fake.requests == []
