"""What several test modules share: waiting on state, collecting events, leftover tasks.

Waiting never means sleeping a fixed time: :class:`EventLog` wakes on each event a client
emits, and :func:`wait_until` re-checks a condition (typically one of the fake's counters)
until it holds, failing the test only after a generous deadline that a busy machine never
reaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from aiohttp import abc, web

from twilio_conf_insights import ClientEvent, InsightsClient

__all__ = [
    "PATIENCE",
    "ClientFactory",
    "EventLog",
    "UnreachableHosts",
    "leftover_tasks",
    "serving",
    "settle",
    "wait_until",
]

E = TypeVar("E", bound=ClientEvent)

#: Seconds before a wait gives up: far beyond what any state change here takes, even on a
#: loaded machine; reaching it means the state never came.
PATIENCE = 60.0

#: ``make_client(**options)``: an InsightsClient for the ``fake`` fixture, closed after the test.
ClientFactory = Callable[..., InsightsClient]


class EventLog:
    """A client hook that keeps every event and lets a test wait for the ones it needs.

    Pass the log itself in ``hooks=[log]``.
    """

    def __init__(self) -> None:
        self.events: list[ClientEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: ClientEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    def of(self, kind: type[E]) -> list[E]:
        """The events of one type, oldest first."""
        return [event for event in self.events if isinstance(event, kind)]

    def count(self, kind: type[ClientEvent]) -> int:
        """How many events of one type arrived."""
        return sum(isinstance(event, kind) for event in self.events)

    async def wait_for(self, kind: type[ClientEvent], count: int) -> None:
        """Return once at least ``count`` events of type ``kind`` arrived."""
        await self._wait(lambda: self.count(kind) >= count)

    async def wait_for_any(self, count: int) -> None:
        """Return once at least ``count`` events of any type arrived."""
        await self._wait(lambda: len(self.events) >= count)

    async def _wait(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(PATIENCE):
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Return once ``condition()`` holds, re-checking it every event-loop turn or so."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting until {what}")
        # A short poll, not a guess at how long the state takes: the loop checks again
        # until the condition holds, however slow the machine.
        await asyncio.sleep(0.001)


async def settle() -> None:
    """Let every callback already scheduled run to its next await (no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


def leftover_tasks() -> set[asyncio.Task[object]]:
    """Tasks still alive besides the test itself and the fake server's connection handlers."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    }


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A loopback server answering every GET with ``handler``; yields its base URL.

    For answers FakeTwilio never gives (a 403, a body it would not send).
    """
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class UnreachableHosts(abc.AbstractResolver):
    """A DNS resolver for an ``aiohttp.ClientSession`` that records each host name asked for
    and resolves none, so a request to a real Twilio host shows where it was going and
    fails at once (``TransportError(kind="connect")``) without leaving the machine.
    """

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[abc.ResolveResult]:
        self.asked.append(host)
        raise OSError(f"{host}: no name resolution in tests")

    async def close(self) -> None:
        return None
