"""Shared by the many-machine tests: real Redis, a PostgreSQL database, worker subprocesses.

A pytest plugin (see ``conftest.py``): its fixtures are available to every test module.

Workers are ``twilio-conf-insights worker`` processes given their Redis and store through
``TWILIO_CONF_INSIGHTS_BROKER`` and ``TWILIO_CONF_INSIGHTS_DB``, as the README tells users
to (no password on a command line). Every wait has a deadline (:data:`tests.helpers.PATIENCE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis

from tests.helpers import PATIENCE, fake_env, start_cli
from tests.servers import PostgresServer, RedisServer
from tests.store_fixtures import fresh_database
from tests.sync_support import now_utc
from twilio_conf_insights.distributed import SigningKey, queue_status, sync_with_workers
from twilio_conf_insights.sync import SyncSummary, open_store
from twilio_conf_insights.testing import FakeTwilio

__all__ = [
    "SPAN",
    "LogRecords",
    "Worker",
    "database",
    "drained",
    "eventually",
    "recent_fake",
    "redis",
    "redis_server",
    "signing_key_of",
    "sync_through_workers",
    "within",
    "worker_env",
    "workers",
]

T = TypeVar("T")

#: The range every sync here covers: all of a fake's data (it spans three days).
SPAN = timedelta(days=4)


async def within(awaitable: Awaitable[T], what: str = "it") -> T:
    """``await awaitable``, failing the test after :data:`PATIENCE` seconds instead of hanging."""
    try:
        async with asyncio.timeout(PATIENCE):
            return await awaitable
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what} after {PATIENCE:.0f}s") from None


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Return once ``await condition()`` holds (it reads a server's state: no event to await)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting until {what}")
        await asyncio.sleep(0.02)


async def drained(broker: str) -> None:
    """Wait until no unit is waiting or held by a worker (a duplicate may still be running)."""

    async def done() -> bool:
        return (await queue_status(broker)).unfinished == 0

    await eventually(done, "every unit is acknowledged")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis of the test's own (append-only, so it keeps the queue across a restart)."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client of the test's Redis, closed after the test."""
    client = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def database(postgres_server: PostgresServer) -> str:
    """A fresh PostgreSQL database on the session's server."""
    return await fresh_database(postgres_server)


@pytest.fixture
async def recent_fake() -> AsyncIterator[FakeTwilio]:
    """A fake whose data leads up to now (workers refuse units far from their clock).

    Latency, so that a unit takes long enough to be interrupted in its middle.
    """
    fake = FakeTwilio(conferences=80, participants_per_conference=(2, 5), seed=21, now=now_utc())
    async with fake:
        fake.latency = 0.02
        yield fake


def signing_key_of(fake: FakeTwilio) -> SigningKey:
    """The key the workers of ``fake`` derive from its credentials."""
    return SigningKey.from_secret(fake.auth_token, account_sid=fake.account_sid)


def worker_env(fake: FakeTwilio, broker: str, db: str, **extra: str) -> dict[str, str]:
    """The environment of a worker or planner of ``fake``: credentials, Redis and store."""
    return fake_env(fake, TWILIO_CONF_INSIGHTS_BROKER=broker, TWILIO_CONF_INSIGHTS_DB=db, **extra)


async def sync_through_workers(
    fake: FakeTwilio, broker: str, db: str, **options: Any
) -> SyncSummary:
    """``sync_with_workers`` over all of ``fake``'s data, signed with its credentials' key."""
    options.setdefault("signing_key", signing_key_of(fake))
    store = await open_store(db)
    try:
        return await sync_with_workers(
            store, broker, filters={"created_after": fake.now - SPAN}, **options
        )
    finally:
        await store.aclose()


class Worker:
    """A ``twilio-conf-insights worker`` subprocess; its stderr lines as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log: list[str] = []
        self._line = asyncio.Event()
        self._drain = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        env: dict[str, str],
        *,
        units: int = 2,
        redeliver_after: str = "2s",
        flags: Sequence[str] = (),
    ) -> Worker:
        """Start a worker with ``env`` (and ``flags``) and wait until it says it is ready."""
        process = await start_cli(
            "worker",
            "--units",
            str(units),
            "--redeliver-after",
            redeliver_after,
            *flags,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
        )
        worker = cls(process)
        try:
            await worker.wait_for(lambda line: line.startswith("worker ready"), "worker ready")
        except BaseException:
            await worker.stop(signal.SIGKILL)
            raise
        return worker

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.log.append(line.decode())
            self._line.set()
        self._line.set()  # the end: waiters see it too

    def lines(self, predicate: Callable[[str], bool]) -> list[str]:
        """The lines logged so far that match ``predicate``."""
        return [line for line in self.log if predicate(line)]

    async def wait_for(
        self, predicate: Callable[[str], bool], what: str, *, count: int = 1
    ) -> list[str]:
        """Wait until ``count`` lines match ``predicate``; fail if the worker ends first."""

        async def matched() -> list[str]:
            while len(found := self.lines(predicate)) < count:
                if self._drain.done():
                    raise AssertionError(f"worker ended before {what}: {''.join(self.log)}")
                self._line.clear()
                await self._line.wait()
            return found

        return await within(matched(), what)

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` to this worker's PID and wait for it to end."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await within(self.process.wait(), "the worker to end")
        await within(self._drain, "the worker's stderr to close")
        return code


@contextlib.asynccontextmanager
async def workers(env: dict[str, str], count: int, **options: Any) -> AsyncIterator[list[Worker]]:
    """``count`` workers started with ``env``, stopped (SIGTERM) on the way out."""
    started: list[Worker] = []
    try:
        for _ in range(count):
            started.append(await Worker.start(env, **options))
        yield started
    finally:
        for worker in started:
            await worker.stop()


class LogRecords(logging.Handler):
    """The records of one logger during a ``with`` block; a test can wait for them."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self._logger = logging.getLogger(name)
        self.messages: list[str] = []
        self._arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self._arrived.set()

    def __enter__(self) -> LogRecords:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)

    async def wait_for(self, count: int, what: str) -> None:
        """Wait until at least ``count`` records arrived."""

        async def arrived() -> None:
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await within(arrived(), what)
