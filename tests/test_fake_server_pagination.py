"""The fake's paging: next/previous links, Page and PageToken, every record once."""

from __future__ import annotations

from typing import Any

import aiohttp
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from tests.helpers import get, live_path, own_conferences
from twilio_conf_insights.testing import FakeTwilio
from twilio_conf_insights.testing._pagination import PageRequest, take_page


async def walk_insights(
    http: aiohttp.ClientSession, fake: FakeTwilio, url: str, key: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        assert next_url.startswith(fake.base_url + "/")  # absolute on the fake
        status, page = await get(http, URL(next_url, encoded=True))
        assert status == 200
        assert page["meta"]["key"] == key
        assert page["meta"]["page"] == pages
        assert (page["meta"]["previous_page_url"] is None) == (pages == 0)
        items.extend(page[key])
        next_url = page["meta"]["next_page_url"]
        pages += 1
        assert pages < 1000
    return items


async def test_walking_conference_pages_visits_each_record_once(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Following next_page_url visits every conference exactly once."""
    items = await walk_insights(
        http, server, f"{server.base_url}/v1/Conferences?PageSize=7", "conferences"
    )
    assert [c["conference_sid"] for c in items] == [
        c["conference_sid"] for c in server.data.conferences
    ]
    create_times = [c["create_time"] for c in items]
    assert create_times == sorted(create_times, reverse=True)  # newest first


async def test_page_links_follow_twilio_conventions(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Page links carry Twilio's PageSize, Page and PageToken parameters and absolute URLs."""
    url = f"{server.base_url}/v1/Conferences"
    _, first = await get(http, url, {"PageSize": "5", "Status": "completed", "MixerRegion": "us1"})
    meta = first["meta"]
    assert meta["url"] == f"{url}?MixerRegion=us1&Status=completed&PageSize=5&Page=0"
    next_url = URL(meta["next_page_url"], encoded=True)
    assert next_url.query["MixerRegion"] == "us1"
    assert next_url.query["Status"] == "completed"
    assert next_url.query["PageSize"] == "5"
    assert next_url.query["Page"] == "1"
    assert next_url.query["PageToken"].startswith("PA")

    _, second = await get(http, next_url)
    assert second["meta"]["url"] == meta["next_page_url"]
    assert second["meta"]["first_page_url"] == meta["url"]
    previous = URL(second["meta"]["previous_page_url"], encoded=True)
    assert previous.query["Page"] == "0"
    assert previous.query["PageToken"].startswith("PB")
    _, back = await get(http, previous)
    assert back["conferences"] == first["conferences"]

    _, timestamps = await get(http, url, {"CreatedAfter": "2021-10-09T17:20:53Z"})
    assert "CreatedAfter=2021-10-09T17%3A20%3A53Z&PageSize=50&Page=0" in timestamps["meta"]["url"]


async def test_page_number_without_token_offsets_by_page_size(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Page=N without a token returns the N-th page of PageSize items."""
    _, page = await get(http, f"{server.base_url}/v1/Conferences", {"PageSize": "5", "Page": "2"})
    assert page["conferences"] == server.data.conferences[10:15]
    assert page["meta"]["page"] == 2


async def test_walking_participant_summaries_and_live_participants(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Both participant listings walk to the end with every record once."""
    for conference in own_conferences(server)[:5]:
        cf = conference["conference_sid"]
        url = f"{server.base_url}/v1/Conferences/{cf}/Participants?PageSize=2"
        summaries = await walk_insights(http, server, url, "participants")
        assert summaries == server.data.participant_summaries[cf]

        live: list[dict[str, Any]] = []
        first = live_path(server, conference).removeprefix(server.base_url)
        uri: str | None = f"{first}?PageSize=1"
        number = 0
        while uri is not None:
            assert uri.startswith("/2010-04-01/Accounts/")  # relative to the API host
            _, page = await get(http, URL(server.api_base_url + uri, encoded=True))
            assert page["page"] == number
            assert page["start"] == number * page["page_size"]
            assert page["end"] == page["start"] + len(page["participants"]) - 1
            assert (page["previous_page_uri"] is None) == (number == 0)
            live.extend(page["participants"])
            uri = page["next_page_uri"]
            number += 1
        assert live == server.data.participants[cf]
        assert number == len(live)


async def test_filtered_walk_keeps_filters_in_every_link(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Filters given on the first page are kept in every next-page link."""
    url = f"{server.base_url}/v1/Conferences?Status=completed&PageSize=3"
    items = await walk_insights(http, server, url, "conferences")
    expected = [c for c in server.data.conferences if c["status"] == "completed"]
    assert items == expected
    followed = [r for r in server.requests if r.param("PageToken")]
    assert followed
    assert all(r.param("Status") == "completed" for r in followed)


@given(
    size=st.integers(0, 60),
    page_size=st.integers(1, 9),
    modulus=st.integers(1, 4),
)
def test_take_page_covers_the_matches_exactly_once(size: int, page_size: int, modulus: int) -> None:
    """Paging any filtered sequence yields each match exactly once, in order."""
    items = list(range(size))

    def match(n: int) -> bool:
        return n % modulus == 0

    seen: list[int] = []
    request = PageRequest(page_size=page_size)
    while True:
        page = take_page(items, match, request)
        seen.extend(page.items)
        if page.next_start is None:
            break
        token = f"PA{page.next_start:032x}"
        request = PageRequest(page_size=page_size, page=request.page + 1, token=token)
    assert seen == [n for n in items if match(n)]
