"""What the web-recipe tests share: waiting on counters, inbound load, leak checks."""

from __future__ import annotations

import asyncio
import functools
import gc
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests import helpers
from tests.helpers import leftover_tasks, wait_until
from twilio_conf_insights import InsightsClient, RequestSent, RetryPolicy
from twilio_conf_insights.testing import FakeTwilio

#: Retries for the recipes' clients: the suite's fast_retries() skips their waits.
RETRY = RetryPolicy(max_attempts=6)


async def until(condition: Callable[[], bool]) -> None:
    """Return as soon as ``condition()`` holds; fail after :data:`tests.helpers.PATIENCE`."""
    await wait_until(condition, "the recipe's state")


def client_for(fake: FakeTwilio, **options: Any) -> Callable[[], InsightsClient]:
    """A factory of clients pointed at ``fake`` (what the recipes call at startup)."""
    return functools.partial(helpers.client_for, fake, **options)


class QueuePeak:
    """A client hook recording the most requests ever in the client (queued or in flight)."""

    def __init__(self) -> None:
        self.client: InsightsClient | None = None
        self.peak = 0

    def __call__(self, event: object) -> None:
        if isinstance(event, RequestSent) and self.client is not None:
            stats = self.client.stats()
            self.peak = max(self.peak, stats.in_flight + stats.waiting)


@asynccontextmanager
async def inbound(base_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for the service under test, with no cap on connections."""
    async with aiohttp.ClientSession(
        base_url, connector=aiohttp.TCPConnector(limit=0, force_close=True)
    ) as session:
        yield session


async def assert_nothing_left() -> None:
    """No task, connection or session of the service or its client survives shutdown."""
    for _ in range(5):  # let finalisers of closed generators and transports run
        await asyncio.sleep(0)
    assert leftover_tasks() == set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
