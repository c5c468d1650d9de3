"""Shared fixtures: a FakeTwilio on loopback and clients pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from twilio_conf_insights import InsightsClient, RetryPolicy
from twilio_conf_insights.testing import FakeTwilio

#: Retries fast enough for tests; the waits themselves are asserted through events.
FAST_RETRY = RetryPolicy(
    max_attempts=6, initial_backoff=0.001, max_backoff=0.01, max_retry_after=0.05
)

ClientFactory = Callable[..., InsightsClient]

# Stores of every kind (SQLite, and PostgreSQL on a server started for the session).
pytest_plugins = ["tests.store_fixtures"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(conferences=30, participants_per_conference=(2, 6), seed=11) as server:
        yield server


@pytest.fixture
async def make_client(fake: FakeTwilio) -> AsyncIterator[ClientFactory]:
    """Build clients for the fake; every client built is closed at the end of the test."""
    clients: list[InsightsClient] = []

    def build(**options: Any) -> InsightsClient:
        options.setdefault("retry", FAST_RETRY)
        client = InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=fake.insights_base_url,
            api_base_url=fake.api_base_url,
            **options,
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: ClientFactory) -> InsightsClient:
    return make_client()


def leftover_tasks() -> set[asyncio.Task[object]]:
    """Tasks still alive besides the test itself and the fake server's connection handlers."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    }


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What the event loop reported to its exception handler during the test (want: nothing).

    Errors while finalising abandoned generators and never-retrieved task exceptions only
    show up there, not as exceptions in the test.
    """
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    yield reported
    loop.set_exception_handler(previous)
