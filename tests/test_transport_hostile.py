"""A hostile server's foreign next-page links and redirects are refused, never followed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from twilio_conf_insights import ApiError, ForeignOriginError, InsightsClient


@pytest.fixture
async def bystander() -> AsyncIterator[tuple[str, list[str]]]:
    """A second loopback server that must never receive a request."""
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.headers.get("Authorization", ""))
        return web.json_response({})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


@pytest.fixture
async def hostile(bystander: tuple[str, list[str]]) -> AsyncIterator[str]:
    """A Twilio look-alike whose next-page links and redirects point at the bystander."""
    elsewhere, _ = bystander

    async def page(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "conferences": [],
                "meta": {
                    "key": "conferences",
                    "next_page_url": f"{elsewhere}/v1/Conferences?Page=1",
                },
            }
        )

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{elsewhere}/steal")

    app = web.Application()
    app.router.add_get("/v1/Conferences", page)
    app.router.add_get("/v1/Conferences/{sid}", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_foreign_next_page_is_refused_and_not_contacted(
    hostile: str, bystander: tuple[str, list[str]]
) -> None:
    """A next-page link to another host raises ForeignOriginError and that host gets no request."""
    async with InsightsClient("AC" + "a" * 32, "tok", insights_base_url=hostile) as client:
        with pytest.raises(ForeignOriginError):
            await client.conferences.list().collect()
    assert bystander[1] == []


async def test_redirects_are_not_followed(hostile: str, bystander: tuple[str, list[str]]) -> None:
    """A redirect is an ApiError with its status; the redirect target gets no request."""
    async with InsightsClient("AC" + "a" * 32, "tok", insights_base_url=hostile) as client:
        with pytest.raises(ApiError) as caught:
            await client.conferences.fetch("CF" + "a" * 32)
    assert caught.value.status == 302
    assert bystander[1] == []
