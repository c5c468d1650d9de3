"""Shared fixtures: a FakeTwilio on loopback, clients pointed at it, retries without waits.

Every test runs inside :func:`twilio_conf_insights.testing.fast_retries` (the public test
mode: retries happen, their waits are decided and reported but not slept), except tests
marked ``real_retry_waits``, which are about the time those waits take.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.helpers import API_KEY, API_SECRET, SUBACCOUNT, ClientFactory, auth_for, client_for
from twilio_conf_insights import InsightsClient
from twilio_conf_insights.testing import FakeTwilio, fast_retries


@pytest.fixture(autouse=True)
def _retries_without_waits(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("real_retry_waits") is not None:
        yield
        return
    with fast_retries():
        yield


@pytest.fixture(autouse=True)
def _subprocesses_hear_ctrl_c() -> Iterator[None]:
    """Subprocesses started by a test get SIGINT's default action, as from a terminal.

    A suite started in the background of a non-interactive shell (``pytest &``, some CI
    runners) inherits SIGINT *ignored*, and so would every CLI it starts: Ctrl-C tests
    would then wait forever. A handler, unlike "ignore", is reset to the default by exec.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# Stores of every kind (SQLite, and PostgreSQL on a server started for the session), and
# Redis and worker processes for the many-machine tests.
pytest_plugins = ["tests.store_fixtures", "tests.distributed_support"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(conferences=30, participants_per_conference=(2, 6), seed=11) as server:
        yield server


@pytest.fixture
async def make_client(fake: FakeTwilio) -> AsyncIterator[ClientFactory]:
    """Build clients for the fake; every client built is closed at the end of the test."""
    clients: list[InsightsClient] = []

    def build(**options: Any) -> InsightsClient:
        client = client_for(fake, **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: ClientFactory) -> InsightsClient:
    return make_client()


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


# -- the fake-server tests (raw aiohttp): a fake with a subaccount and an API key ---------


@pytest.fixture
async def server() -> AsyncIterator[FakeTwilio]:
    """A FakeTwilio of 40 conferences, with a subaccount and an API key besides."""
    fake = FakeTwilio(
        conferences=40,
        participants_per_conference=(2, 6),
        seed=42,
        subaccount_sid=SUBACCOUNT,
        api_key=API_KEY,
        api_secret=API_SECRET,
    )
    async with fake:
        yield fake


@pytest.fixture
async def http(server: FakeTwilio) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session that sends the ``server`` fixture's credentials."""
    async with aiohttp.ClientSession(headers=auth_for(server)) as session:
        yield session


# -- the command-line tests ----------------------------------------------------------------


@pytest.fixture
async def cli_fake() -> AsyncIterator[FakeTwilio]:
    """The FakeTwilio (24 conferences) that the CLI's subprocesses are pointed at."""
    async with FakeTwilio(conferences=24, participants_per_conference=(1, 5), seed=2024) as fake:
        yield fake
