"""Next-page links from a broken server: loops and endless empty pages end with a typed error."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from twilio_conf_insights import InsightsClient, PaginationLoopError
from twilio_conf_insights._pagination import MAX_EMPTY_PAGES

ACCOUNT = "AC" + "1" * 32
TOKEN = "f" * 32
CONFERENCE = "CF" + "c" * 32

#: What a page handler returns: the items of the page and its next link (or None).
PagePlan = Callable[[web.Request, int], tuple[list[dict[str, Any]], str | None]]


def conference(n: int) -> dict[str, Any]:
    return {"conference_sid": f"CF{n:032x}", "account_sid": ACCOUNT}


def participant(n: int) -> dict[str, Any]:
    return {"call_sid": f"CA{n:032x}", "conference_sid": CONFERENCE, "account_sid": ACCOUNT}


@contextlib.asynccontextmanager
async def looping_server(plan: PagePlan, counter: list[int]) -> AsyncIterator[str]:
    """Serves both list routes; each page's items and next link come from ``plan``."""

    async def insights(request: web.Request) -> web.Response:
        counter[0] += 1
        items, link = plan(request, counter[0])
        next_url = str(request.url.origin().join(URL(link))) if link is not None else None
        meta = {"key": "conferences", "next_page_url": next_url, "page": 0, "page_size": 50}
        return web.json_response({"conferences": items, "meta": meta})

    async def legacy(request: web.Request) -> web.Response:
        counter[0] += 1
        items, link = plan(request, counter[0])
        return web.json_response({"participants": items, "next_page_uri": link})

    app = web.Application()
    app.router.add_get("/v1/Conferences", insights)
    app.router.add_get(
        f"/2010-04-01/Accounts/{ACCOUNT}/Conferences/{CONFERENCE}/Participants.json", legacy
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def client_for(base: str) -> InsightsClient:
    return InsightsClient(ACCOUNT, TOKEN, insights_base_url=base, api_base_url=base)


async def drain(
    client: InsightsClient, family: str, limit: int | None = None, into: list[str] | None = None
) -> list[str]:
    """Iterate a listing, appending each SID to ``into`` as it is yielded."""
    seen: list[str] = [] if into is None else into
    if family == "insights":
        async for item in client.conferences.list(limit=limit):
            seen.append(str(item.conference_sid))
    else:
        async for live in client.participants.list(CONFERENCE, limit=limit):
            seen.append(str(live.call_sid))
    return seen


def path_of(family: str) -> str:
    if family == "insights":
        return "/v1/Conferences"
    return f"/2010-04-01/Accounts/{ACCOUNT}/Conferences/{CONFERENCE}/Participants.json"


def item(family: str, n: int) -> dict[str, Any]:
    return conference(n) if family == "insights" else participant(n)


FAMILIES = ["insights", "2010"]


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_page_linking_to_itself_raises_and_yields_each_item_once(family: str) -> None:
    """A page whose next link is its own URL raises PaginationLoopError naming the link."""
    counter = [0]

    def plan(request: web.Request, _: int) -> tuple[list[dict[str, Any]], str | None]:
        return [item(family, 1), item(family, 2)], str(request.rel_url)

    yielded: list[str] = []
    async with looping_server(plan, counter) as base, client_for(base) as client:
        with pytest.raises(PaginationLoopError) as caught:
            await drain(client, family, into=yielded)
    assert counter[0] == 1
    assert len(yielded) == len(set(yielded)) == 2
    assert "links back to a page already fetched" in str(caught.value)
    assert path_of(family) in caught.value.link


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_to_b_to_a_raises_after_b_and_never_repeats_an_item(family: str) -> None:
    """A→B→A: A's and B's items are yielded once each, then the link back to A raises."""
    counter = [0]
    yielded: list[str] = []

    def plan(request: web.Request, _: int) -> tuple[list[dict[str, Any]], str | None]:
        if "PageToken" in request.query:  # page B links back to the first page
            return [item(family, 2)], path_of(family)
        return [item(family, 1)], f"{path_of(family)}?PageToken=PBsecret&Page=1"

    async with looping_server(plan, counter) as base, client_for(base) as client:
        with pytest.raises(PaginationLoopError) as caught:
            await drain(client, family, into=yielded)
    assert len(yielded) == len(set(yielded)) == 2
    assert counter[0] == 2
    assert path_of(family) in caught.value.link


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_repeated_page_token_raises_with_the_token_redacted(family: str) -> None:
    """Links that change the URL but repeat a PageToken are a loop; the token is not shown."""
    counter = [0]

    def plan(request: web.Request, n: int) -> tuple[list[dict[str, Any]], str | None]:
        return [item(family, n)], f"{path_of(family)}?PageToken=PTsecretcursor&Page={n}"

    async with looping_server(plan, counter) as base, client_for(base) as client:
        with pytest.raises(PaginationLoopError) as caught:
            await drain(client, family)
    assert counter[0] == 2
    assert "PageToken" in str(caught.value)
    assert "PTsecretcursor" not in str(caught.value)
    assert "PTsecretcursor" not in caught.value.link


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("limit", [None, 5])
async def test_endless_empty_pages_are_bounded(family: str, limit: int | None) -> None:
    """Empty pages with ever-new links stop after MAX_EMPTY_PAGES requests, limit or not."""
    counter = [0]

    def plan(request: web.Request, n: int) -> tuple[list[dict[str, Any]], str | None]:
        return [], f"{path_of(family)}?PageToken=P{n}&Page={n}"

    async with looping_server(plan, counter) as base, client_for(base) as client:
        with pytest.raises(PaginationLoopError, match="empty pages in a row"):
            await drain(client, family, limit=limit)
    assert counter[0] == MAX_EMPTY_PAGES


async def test_a_few_empty_pages_between_full_ones_are_followed() -> None:
    """Empty pages short of the bound are followed: the listing ends normally."""
    counter = [0]

    def plan(request: web.Request, n: int) -> tuple[list[dict[str, Any]], str | None]:
        if n > 3 * MAX_EMPTY_PAGES:
            return [conference(n)], None
        items = [conference(n)] if n % (MAX_EMPTY_PAGES - 1) == 0 else []
        return items, f"/v1/Conferences?PageToken=P{n}&Page={n}"

    async with looping_server(plan, counter) as base, client_for(base) as client:
        seen = await client.conferences.list().collect()
    assert len(seen) == len({c.conference_sid for c in seen}) == 4
