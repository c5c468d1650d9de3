"""What the web-recipe tests share: the recipes of both frameworks, serving an app on
loopback (aiohttp's AppRunner or uvicorn), signed Twilio callbacks, waiting on counters,
inbound load, leak checks."""

from __future__ import annotations

import asyncio
import functools
import gc
import socket
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import attrs
import pytest
import uvicorn
from aiohttp import web

from tests import helpers
from tests.helpers import PATIENCE, leftover_tasks, wait_until
from tests.recipes import aiohttp_app, fastapi_app
from tests.recipes.worker import SummaryWorkers
from twilio_conf_insights import InsightsClient, RequestSent, RetryPolicy
from twilio_conf_insights.testing import FakeTwilio
from twilio_conf_insights.webhooks import SIGNATURE_HEADER, compute_signature

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


@attrs.frozen
class Recipe:
    """One framework's web-service recipe, and how a test reaches into a running app."""

    name: str
    create_app: Callable[..., Any]
    client_of: Callable[[Any], InsightsClient]

    def __str__(self) -> str:
        return self.name


def _aiohttp_client(app: Any) -> InsightsClient:
    client: InsightsClient = app[aiohttp_app.CLIENT]
    return client


def _fastapi_client(app: Any) -> InsightsClient:
    client: InsightsClient = app.state.insights
    return client


#: The aiohttp.web and FastAPI recipes: the suites that hold for both run over this list.
RECIPES = [
    Recipe("aiohttp", aiohttp_app.create_app, _aiohttp_client),
    Recipe("fastapi", fastapi_app.create_app, _fastapi_client),
]


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[aiohttp.ClientSession]:
    """Serve ``app`` on a free loopback port as its recipe's ``main()`` does; yield a session.

    An ``aiohttp.web.Application`` runs under an ``AppRunner`` with handler_cancellation on,
    anything else (FastAPI) under uvicorn with its lifespan. On the way out, no task, session
    or ResourceWarning of the service may be left.
    """
    serve = aiohttp_site if isinstance(app, web.Application) else _served_by_uvicorn
    async with serve(app) as base_url, inbound(base_url) as session:
        _BASE_URLS[session] = base_url
        yield session
    await assert_nothing_left()


_BASE_URLS: weakref.WeakKeyDictionary[aiohttp.ClientSession, str] = weakref.WeakKeyDictionary()


def base_url_of(session: aiohttp.ClientSession) -> str:
    """``http://127.0.0.1:PORT``: where :func:`served` serves the app ``session`` calls."""
    return _BASE_URLS[session]


@asynccontextmanager
async def aiohttp_site(
    app: web.Application, listener: socket.socket | None = None
) -> AsyncIterator[str]:
    """Serve an aiohttp.web ``app`` on a free loopback port (or ``listener``, a socket bound
    on loopback); yield its base URL."""
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = (
            web.TCPSite(runner, "127.0.0.1", 0)
            if listener is None
            else web.SockSite(runner, listener)
        )
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _served_by_uvicorn(app: Any) -> AsyncIterator[str]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    config = uvicorn.Config(
        app,
        lifespan="on",
        http="h11",
        ws="none",
        log_level="warning",
        timeout_graceful_shutdown=10,  # a failed test must not wait for a stalled request
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[listener]))
    try:
        # uvicorn sets no event when it is up; the lifespan has run once it says started.
        await until(lambda: server.started or serving.done())
        assert not serving.done(), "uvicorn stopped while starting"
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving
        listener.close()


#: The path of the recipes' status-callback endpoint.
CALLBACK_PATH = "/twilio/conference-events"


async def post_callback(
    session: aiohttp.ClientSession,
    form: Mapping[str, str],
    *,
    token: str,
    signed_url: str | None = None,
    signature: str | None = None,
) -> int:
    """POST a conference status callback as Twilio does: form-encoded and signed.

    The signature is over ``signed_url`` (default: the URL the session posts to), unless an
    explicit ``signature`` is given (``""``: none at all).
    """
    url = base_url_of(session) + CALLBACK_PATH if signed_url is None else signed_url
    if signature is None:
        signature = compute_signature(url, key=token, params=form)
    headers = {SIGNATURE_HEADER: signature} if signature else {}
    async with session.post(CALLBACK_PATH, data=dict(form), headers=headers) as response:
        return response.status


def workers_of(app: Any) -> SummaryWorkers:
    """The recipe app's summary workers."""
    if isinstance(app, web.Application):
        return app[aiohttp_app.SUMMARIES]
    workers: SummaryWorkers = app.state.summaries
    return workers


async def hang_up_during_twilio_call(
    session: aiohttp.ClientSession, path: str, fake: FakeTwilio
) -> None:
    """GET ``path`` and hang up while its Twilio request is in flight; return once the fake
    has no request in flight any more."""
    caller = asyncio.ensure_future(session.get(path))
    await until(lambda: fake.in_flight == 1)
    caller.cancel()  # closes the connection mid-request
    with pytest.raises(asyncio.CancelledError):
        await caller
    await until(lambda: fake.in_flight == 0)


async def drained(fake: FakeTwilio) -> None:
    """Return once the fake's sink acknowledged every event emitted so far."""
    assert fake.events is not None, "the fake has no event sink"
    async with asyncio.timeout(PATIENCE):
        await fake.events.drain()
