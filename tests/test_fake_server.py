"""The fake Twilio itself, exercised with raw aiohttp (no SDK code involved)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from tests.helpers import PATIENCE, wait_until
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultInjector, FaultKind, _schema
from twilio_conf_insights.testing._pagination import PageRequest, take_page

SUBACCOUNT = "AC" + "5" * 32
API_KEY = "SK" + "1" * 32
API_SECRET = "not-the-auth-token"

# The property names of each schema, copied from the OpenAPI descriptions by hand so the
# test does not trust the generator's own field lists.
CONFERENCE_KEYS = {
    "conference_sid", "account_sid", "friendly_name", "create_time", "start_time", "end_time",
    "duration_seconds", "connect_duration_seconds", "status", "max_participants",
    "max_concurrent_participants", "unique_participants", "end_reason", "ended_by",
    "mixer_region", "mixer_region_requested", "recording_enabled", "detected_issues", "tags",
    "tag_info", "processing_state", "url", "links",
}  # fmt: skip
PARTICIPANT_SUMMARY_KEYS = {
    "participant_sid", "label", "conference_sid", "call_sid", "account_sid", "call_direction",
    "from", "to", "call_status", "country_code", "is_moderator", "join_time", "leave_time",
    "duration_seconds", "outbound_queue_length", "outbound_time_in_queue", "jitter_buffer_size",
    "is_coach", "coached_participants", "participant_region", "conference_region", "call_type",
    "processing_state", "properties", "events", "metrics", "url",
}  # fmt: skip
LIVE_PARTICIPANT_KEYS = {
    "account_sid", "call_sid", "label", "call_sid_to_coach", "coaching", "conference_sid",
    "date_created", "date_updated", "end_conference_on_exit", "muted", "hold",
    "start_conference_on_enter", "status", "queue_time", "uri",
}  # fmt: skip
META_KEYS = {
    "first_page_url", "key", "next_page_url", "page", "page_size", "previous_page_url", "url",
}  # fmt: skip
LIVE_LIST_KEYS = {
    "end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri",
    "start", "uri", "participants",
}  # fmt: skip
STREAM_KEYS = {
    "total_packets_lost", "total_packets_received", "packet_loss_percentage", "jitter", "latency",
    "mos",
}  # fmt: skip

REGIONS = {"us1", "us2", "au1", "br1", "ie1", "jp1", "sg1", "de1", "in1"}
TAGS = {
    "invalid_requested_region", "duplicate_identity", "start_failure",
    "region_configuration_issues", "quality_warnings", "participant_behavior_issues",
    "high_packet_loss", "high_jitter", "high_latency", "low_mos", "detected_silence",
    "no_concurrent_participants",
}  # fmt: skip
END_REASONS = {
    "last_participant_left", "conference_ended_via_api",
    "participant_with_end_conference_on_exit_left", "last_participant_kicked",
    "participant_with_end_conference_on_exit_kicked",
}  # fmt: skip

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
RFC2822 = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d\d:\d\d:\d\d \+0000"
)


def sid(prefix: str) -> re.Pattern[str]:
    return re.compile(prefix + r"[0-9a-f]{32}")


@pytest.fixture
async def server() -> AsyncIterator[FakeTwilio]:
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


def auth_for(fake: FakeTwilio) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(fake.account_sid, fake.auth_token)}


@pytest.fixture
async def http(server: FakeTwilio) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=auth_for(server)) as session:
        yield session


async def get(
    session: aiohttp.ClientSession, url: str | URL, params: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with session.get(url, params=params) as response:
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        return response.status, await response.json()


def live_path(fake: FakeTwilio, conference: dict[str, Any], tail: str = ".json") -> str:
    return (
        f"{fake.api_base_url}/2010-04-01/Accounts/{conference['account_sid']}"
        f"/Conferences/{conference['conference_sid']}/Participants{tail}"
    )


def own_conferences(fake: FakeTwilio) -> list[dict[str, Any]]:
    return [c for c in fake.data.conferences if c["account_sid"] == fake.account_sid]


# -- shapes -----------------------------------------------------------------------------------


async def test_conference_fetch_and_list_have_exactly_the_spec_keys(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Conference summaries, fetched or listed, carry exactly the OpenAPI properties."""
    conference = server.data.conferences[3]
    url = f"{server.insights_base_url}/v1/Conferences/{conference['conference_sid']}"
    status, body = await get(http, url)
    assert status == 200
    assert set(body) == CONFERENCE_KEYS
    assert body == conference
    assert body["url"] == url
    assert body["links"] == {"conference_participants": f"{url}/Participants"}

    status, page = await get(http, f"{server.insights_base_url}/v1/Conferences")
    assert status == 200
    assert set(page) == {"conferences", "meta"}
    assert set(page["meta"]) == META_KEYS
    assert page["meta"]["key"] == "conferences"
    assert page["meta"]["page"] == 0
    assert page["meta"]["page_size"] == 50  # the default
    assert page["meta"]["previous_page_url"] is None
    assert page["meta"]["next_page_url"] is None  # 40 < 50
    assert page["meta"]["url"] == f"{server.base_url}/v1/Conferences?PageSize=50&Page=0"
    assert page["meta"]["first_page_url"] == page["meta"]["url"]
    assert page["conferences"] == server.data.conferences
    assert all(set(c) == CONFERENCE_KEYS for c in page["conferences"])


async def test_participant_summary_fetch_and_list_have_exactly_the_spec_keys(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Participant summaries, fetched or listed, carry exactly the OpenAPI properties."""
    conference_sid = server.data.conferences[0]["conference_sid"]
    summaries = server.data.participant_summaries[conference_sid]
    list_url = f"{server.base_url}/v1/Conferences/{conference_sid}/Participants"
    status, page = await get(http, list_url)
    assert status == 200
    assert set(page) == {"participants", "meta"}
    assert set(page["meta"]) == META_KEYS
    assert page["meta"]["key"] == "participants"
    assert page["participants"] == summaries

    one = summaries[-1]
    status, body = await get(http, one["url"], {"Events": "mute", "Metrics": "inbound"})
    assert status == 200
    assert set(body) == PARTICIPANT_SUMMARY_KEYS
    assert body == one
    assert one["url"] == f"{list_url}/{one['participant_sid']}"
    assert server.requests[-1].query == {"Events": ["mute"], "Metrics": ["inbound"]}


async def test_live_participant_fetch_and_list_have_exactly_the_spec_keys(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Live (2010) participants, fetched or listed, carry exactly the OpenAPI properties."""
    conference = own_conferences(server)[0]
    participants = server.data.participants[conference["conference_sid"]]
    status, page = await get(http, live_path(server, conference))
    assert status == 200
    assert set(page) == LIVE_LIST_KEYS
    assert page["participants"] == participants
    assert page["uri"].startswith("/2010-04-01/Accounts/")
    assert (page["page"], page["page_size"], page["start"]) == (0, 50, 0)
    assert page["end"] == len(participants) - 1

    for participant in participants:
        status, body = await get(http, server.api_base_url + participant["uri"])
        assert status == 200
        assert set(body) == LIVE_PARTICIPANT_KEYS
        assert body == participant


async def test_every_generated_value_follows_the_spec(server: FakeTwilio) -> None:
    """Every generated value has the type, format and enum values the spec allows."""
    for conference in server.data.conferences:
        assert set(conference) == CONFERENCE_KEYS
        assert sid("CF").fullmatch(conference["conference_sid"])
        assert conference["account_sid"] in {server.account_sid, SUBACCOUNT}
        assert conference["status"] in {
            "in_progress",
            "not_started",
            "completed",
            "summary_timeout",
        }
        assert conference["end_reason"] in END_REASONS | {None}
        assert conference["processing_state"] in {"complete", "in_progress", "timeout"}
        assert conference["mixer_region"] in REGIONS | {None}
        assert conference["mixer_region_requested"] in REGIONS | {None}
        assert conference["tags"] is None or (
            conference["tags"] and set(conference["tags"]) <= TAGS
        )
        assert set(conference["detected_issues"]) == {
            "call_quality",
            "region_configuration",
            "participant_behavior",
        }
        assert ISO.fullmatch(conference["create_time"])
        for key in ("start_time", "end_time"):
            assert conference[key] is None or ISO.fullmatch(conference[key])
        if conference["status"] == "not_started":
            assert conference["start_time"] is None
        if conference["status"] == "in_progress":
            assert conference["end_reason"] is None
            assert conference["end_time"] is None
        assert conference["ended_by"] is None or sid("CA").fullmatch(conference["ended_by"])
        assert conference["create_time"] < server.base_time.strftime("%Y-%m-%dT%H:%M:%SZ")

        cf = conference["conference_sid"]
        summaries = server.data.participant_summaries[cf]
        live = server.data.participants[cf]
        assert [s["call_sid"] for s in summaries] == [p["call_sid"] for p in live]
        assert [s["label"] for s in summaries] == [p["label"] for p in live]
        labels = [p["label"] for p in live if p["label"] is not None]
        assert len(labels) == len(set(labels))
        for summary in summaries:
            assert set(summary) == PARTICIPANT_SUMMARY_KEYS
            assert sid("CP").fullmatch(summary["participant_sid"])
            assert summary["conference_sid"] == cf
            assert summary["account_sid"] == conference["account_sid"]
            assert summary["call_direction"] in {"inbound", "outbound"}
            assert summary["call_type"] in {"carrier", "client", "sip"}
            assert summary["jitter_buffer_size"] in {"large", "small", "medium", "off", None}
            assert summary["participant_region"] in REGIONS
            assert summary["call_status"] in {
                "answered", "completed", "busy", "fail", "noanswer", "ringing", "canceled",
            }  # fmt: skip
            assert {
                "start_conference_on_enter", "end_conference_on_exit", "play_early_media",
                "enter_muted", "beep_on_enter", "beep_on_exit",
            } <= set(summary["properties"])  # fmt: skip
            if summary["metrics"] is not None:
                for direction in ("inbound", "outbound"):
                    stream = summary["metrics"][direction]
                    assert set(stream) >= STREAM_KEYS
                    assert 1.0 <= stream["mos"] <= 4.5
                    assert stream["jitter"]["max"] >= stream["jitter"]["avg"] >= 0
        for participant in live:
            assert set(participant) == LIVE_PARTICIPANT_KEYS
            assert participant["status"] in {
                "queued", "connecting", "ringing", "connected", "complete", "failed",
            }  # fmt: skip
            assert RFC2822.fullmatch(participant["date_created"])
            assert RFC2822.fullmatch(participant["date_updated"])
            assert participant["queue_time"] is None
            assert participant["uri"] == (
                f"/2010-04-01/Accounts/{conference['account_sid']}/Conferences/{cf}"
                f"/Participants/{participant['call_sid']}.json"
            )


def test_json_fields_come_in_the_documented_order(server: FakeTwilio) -> None:
    """Records serialise their fields in the order the spec documents them."""
    assert set(_schema.CONFERENCE_FIELDS) == CONFERENCE_KEYS
    assert set(_schema.PARTICIPANT_SUMMARY_FIELDS) == PARTICIPANT_SUMMARY_KEYS
    assert set(_schema.LIVE_PARTICIPANT_FIELDS) == LIVE_PARTICIPANT_KEYS
    assert set(_schema.REGIONS) == REGIONS
    assert set(_schema.TAGS) == TAGS
    assert set(_schema.END_REASONS) == END_REASONS
    for conference in server.data.conferences:
        assert tuple(conference) == _schema.CONFERENCE_FIELDS
        cf = conference["conference_sid"]
        for summary in server.data.participant_summaries[cf]:
            assert tuple(summary) == _schema.PARTICIPANT_SUMMARY_FIELDS
        for participant in server.data.participants[cf]:
            assert tuple(participant) == _schema.LIVE_PARTICIPANT_FIELDS


def test_distributions_look_like_real_traffic() -> None:
    """Generated data is skewed like real traffic: mostly completed, mostly us1, plausible MOS."""
    fake = FakeTwilio(conferences=1500, participants_per_conference=(2, 6), seed=3)
    conferences = fake.data.conferences
    statuses = [c["status"] for c in conferences]
    assert statuses.count("completed") > 0.75 * len(conferences)
    assert {"in_progress", "not_started", "summary_timeout"} <= set(statuses)
    regions = [c["mixer_region"] for c in conferences if c["mixer_region"]]
    assert max(set(regions), key=regions.count) == "us1"
    assert sum(c["tags"] is None for c in conferences) > 0.3 * len(conferences)
    mos = [
        s["metrics"]["inbound"]["mos"]
        for s in fake.data.all_participant_summaries()
        if s["metrics"] is not None
    ]
    degraded = sum(m < 3.6 for m in mos) / len(mos)
    assert 0.05 < degraded < 0.2
    # Tags agree with the participants' metrics.
    for conference in conferences[:300]:
        summaries = fake.data.participant_summaries[conference["conference_sid"]]
        low = any(
            s["metrics"] is not None and s["metrics"]["inbound"]["mos"] < 3.6 for s in summaries
        )
        assert low == ("low_mos" in (conference["tags"] or []))
    times = sorted(c["create_time"] for c in conferences)
    first = datetime.fromisoformat(times[0])
    assert (fake.base_time - first).total_seconds() < 3 * 86400 + 3600


# -- pagination -------------------------------------------------------------------------------


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


# -- filters ----------------------------------------------------------------------------------

ConferencePredicate = Callable[[dict[str, Any]], bool]


def conference_filter_cases(fake: FakeTwilio) -> list[tuple[dict[str, str], ConferencePredicate]]:
    data = fake.data.conferences
    middle = sorted(c["create_time"] for c in data)[len(data) // 2]
    some = data[7]
    tagged = next(c for c in data if c["tags"])
    return [
        ({"ConferenceSid": some["conference_sid"]}, lambda c: c is some),
        (
            {"FriendlyName": some["friendly_name"]},
            lambda c: c["friendly_name"] == some["friendly_name"],
        ),
        ({"Status": "completed"}, lambda c: c["status"] == "completed"),
        ({"Status": "in_progress"}, lambda c: c["status"] == "in_progress"),
        ({"CreatedAfter": middle}, lambda c: c["create_time"] >= middle),
        ({"CreatedBefore": middle}, lambda c: c["create_time"] < middle),
        (
            {
                "CreatedAfter": middle.replace("Z", "+00:00"),
                "CreatedBefore": data[0]["create_time"],
            },
            lambda c: middle <= c["create_time"] < data[0]["create_time"],
        ),
        ({"MixerRegion": "us1"}, lambda c: c["mixer_region"] == "us1"),
        ({"Tags": tagged["tags"][0]}, lambda c: tagged["tags"][0] in (c["tags"] or [])),
        (
            {"Tags": "low_mos,high_jitter"},
            lambda c: bool({"low_mos", "high_jitter"} & set(c["tags"] or [])),
        ),
        ({"Subaccount": SUBACCOUNT}, lambda c: c["account_sid"] == SUBACCOUNT),
        ({"DetectedIssues": "call_quality"}, lambda c: c["detected_issues"]["call_quality"] > 0),
        (
            {"EndReason": "last_participant_left"},
            lambda c: c["end_reason"] == "last_participant_left",
        ),
        (
            {"Status": "completed", "MixerRegion": "us1"},
            lambda c: c["status"] == "completed" and c["mixer_region"] == "us1",
        ),
    ]


async def test_conference_filters_narrow_exactly(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Each conference filter returns exactly the records its predicate selects."""
    for params, predicate in conference_filter_cases(server):
        status, page = await get(
            http, f"{server.base_url}/v1/Conferences", {**params, "PageSize": "1000"}
        )
        assert status == 200, params
        expected = [c for c in server.data.conferences if predicate(c)]
        assert page["conferences"] == expected, params
        assert 0 < len(expected) < len(server.data.conferences) or "ConferenceSid" in params


async def test_participant_filters_narrow_exactly(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Each participant-summary filter returns exactly the records its predicate selects."""
    conferences = own_conferences(server)
    all_summaries = [
        s for c in conferences for s in server.data.participant_summaries[c["conference_sid"]]
    ]
    with_events = next(s for s in all_summaries if s["events"])
    labelled = next(s for s in all_summaries if s["label"])
    for target, params in [
        (with_events, {"Events": next(iter(with_events["events"]))}),
        (labelled, {"Label": labelled["label"]}),
        (labelled, {"ParticipantSid": labelled["participant_sid"]}),
    ]:
        cf = target["conference_sid"]
        url = f"{server.base_url}/v1/Conferences/{cf}/Participants"
        _, page = await get(http, url, params)
        name, value = next(iter(params.items()))
        key = {"Events": "events", "Label": "label", "ParticipantSid": "participant_sid"}[name]
        expected = [
            s
            for s in server.data.participant_summaries[cf]
            if (value in (s[key] or {}) if name == "Events" else s[key] == value)
        ]
        assert target in page["participants"]
        assert page["participants"] == expected

    for name in ("Muted", "Hold", "Coaching"):
        for flag in ("true", "false"):
            found = 0
            for conference in conferences:
                _, page = await get(http, live_path(server, conference), {name: flag})
                expected = [
                    p
                    for p in server.data.participants[conference["conference_sid"]]
                    if p[name.lower()] is (flag == "true")
                ]
                assert page["participants"] == expected
                assert f"{name}={flag}" in page["uri"]
                found += len(expected)
            assert found > 0, (name, flag)


# -- auth and errors --------------------------------------------------------------------------


async def test_missing_or_wrong_credentials_get_401(server: FakeTwilio) -> None:
    """Missing, malformed or wrong credentials get Twilio's 401 body and challenge."""
    url = f"{server.base_url}/v1/Conferences"
    attempts: list[dict[str, str]] = [
        {},
        {"Authorization": aiohttp.encode_basic_auth(server.account_sid, "wrong")},
        {"Authorization": aiohttp.encode_basic_auth("AC" + "0" * 32, server.auth_token)},
        {"Authorization": aiohttp.encode_basic_auth(API_KEY, server.auth_token)},
        {"Authorization": "Bearer " + server.auth_token},
        {"Authorization": "Basic !!!"},
    ]
    async with aiohttp.ClientSession() as session:
        for headers in attempts:
            async with session.get(url, headers=headers) as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
                assert await response.json() == {
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                }
    records = server.requests
    assert [r.authorized for r in records] == [False] * len(attempts)
    assert [r.has_authorization for r in records] == [False] + [True] * (len(attempts) - 1)
    for record in records:
        assert "authorization" not in {name.lower() for name in record.headers}
        assert server.auth_token not in repr(record)
    assert server.auth_token not in repr(server)


async def test_api_key_credentials_are_accepted(server: FakeTwilio) -> None:
    """An API key and secret configured on the fake authenticate."""
    headers = {"Authorization": aiohttp.encode_basic_auth(API_KEY, API_SECRET)}
    async with aiohttp.ClientSession(headers=headers) as session:
        status, _ = await get(session, f"{server.base_url}/v1/Conferences")
    assert status == 200
    (record,) = server.requests
    assert record.authorized
    assert record.username == API_KEY
    assert API_SECRET not in repr(record)


async def test_unknown_or_malformed_resources_get_404(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Unknown SIDs and malformed paths get Twilio's 404 body."""
    own = own_conferences(server)[0]
    sub = next(c for c in server.data.conferences if c["account_sid"] == SUBACCOUNT)
    cf = own["conference_sid"]
    base = server.base_url
    paths = [
        f"/v1/Conferences/CF{'0' * 32}",
        "/v1/Conferences/CF123",
        f"/v1/Conferences/{cf.lower().replace('cf', 'CA', 1)}",
        f"/v1/Conferences/{cf}/Participants/CP{'0' * 32}",
        f"/v1/Conferences/{cf}/Participants/not-a-sid",
        f"/v1/Conferences/CF{'0' * 32}/Participants",
        f"/2010-04-01/Accounts/AC{'0' * 32}/Conferences/{cf}/Participants.json",
        f"/2010-04-01/Accounts/{server.account_sid}/Conferences/CF{'0' * 32}/Participants.json",
        f"/2010-04-01/Accounts/{server.account_sid}/Conferences/{cf}/Participants/nobody.json",
        f"/2010-04-01/Accounts/{server.account_sid}/Conferences/{cf}/Participants/CA{'0' * 32}.json",  # noqa: E501
        # A subaccount's conference is not reachable through the parent account's path.
        f"/2010-04-01/Accounts/{server.account_sid}/Conferences/{sub['conference_sid']}/Participants.json",
        f"/2010-04-01/Accounts/{server.account_sid}/Conferences/{cf}/Participants",
        "/v2/Conferences",
        "/",
    ]
    for path in paths:
        status, body = await get(http, base + path)
        assert status == 404, path
        assert body == {
            "code": 20404,
            "message": f"The requested resource {path} was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        }


async def test_subaccount_resources(server: FakeTwilio, http: aiohttp.ClientSession) -> None:
    """A subaccount's live participants are served under that subaccount's path."""
    sub = next(c for c in server.data.conferences if c["account_sid"] == SUBACCOUNT)
    status, page = await get(http, live_path(server, sub))
    assert status == 200
    assert page["participants"] == server.data.participants[sub["conference_sid"]]
    assert page["uri"].startswith(f"/2010-04-01/Accounts/{SUBACCOUNT}/")


async def test_invalid_parameters_get_400(server: FakeTwilio, http: aiohttp.ClientSession) -> None:
    """Out-of-range or malformed query parameters get Twilio's 400 body."""
    conference = own_conferences(server)[0]
    cases: list[tuple[str, dict[str, str]]] = [
        (f"{server.base_url}/v1/Conferences", {"PageSize": "0"}),
        (f"{server.base_url}/v1/Conferences", {"PageSize": "1001"}),
        (f"{server.base_url}/v1/Conferences", {"PageSize": "ten"}),
        (f"{server.base_url}/v1/Conferences", {"Page": "-1"}),
        (f"{server.base_url}/v1/Conferences", {"PageToken": "garbage"}),
        (f"{server.base_url}/v1/Conferences", {"CreatedAfter": "yesterday"}),
        (f"{server.base_url}/v1/Conferences", {"CreatedBefore": "2021-13-45T00:00:00Z"}),
        (f"{server.base_url}/v1/Conferences", {"Subaccount": "AC1"}),
        (live_path(server, conference), {"Muted": "yes"}),
        (live_path(server, conference), {"PageSize": "2000"}),
    ]
    for url, params in cases:
        status, body = await get(http, url, params)
        assert status == 400, params
        assert set(body) == {"code", "message", "more_info", "status"}
        assert body["code"] == 20001
        assert body["status"] == 400
        assert body["more_info"] == "https://www.twilio.com/docs/errors/20001"
        assert next(iter(params)) in body["message"]
    async with http.get(
        f"{server.base_url}/v1/Conferences", params={"PageSize": "1000", "Page": "0"}
    ) as response:
        assert response.status == 200


async def test_other_methods_get_405(server: FakeTwilio, http: aiohttp.ClientSession) -> None:
    """Methods other than GET and HEAD get 405 with an Allow header."""
    async with http.post(f"{server.base_url}/v1/Conferences") as response:
        assert response.status == 405
        assert (await response.json())["code"] == 20004


AWKWARD_LABELS = [
    "agent/7",
    "who?x=1",
    "#frag",
    "100%",
    "..",
    "a/../b",
    "with space",
    "Zoë ☎ 客服",
    "a+b&c=d",
    "%2F",
    "x.json",
]


async def test_labels_are_decoded_from_the_raw_path() -> None:
    """Percent-encoded participant labels in the path find their participant."""
    fake = FakeTwilio(conferences=4, participants_per_conference=3, seed=9, labels=AWKWARD_LABELS)
    async with fake, aiohttp.ClientSession(headers=auth_for(fake)) as session:
        seen = 0
        for conference in fake.data.conferences:
            for participant in fake.data.participants[conference["conference_sid"]]:
                label = participant["label"]
                if label not in AWKWARD_LABELS:
                    continue
                url = URL(
                    live_path(fake, conference, f"/{quote(label, safe='')}.json"), encoded=True
                )
                status, body = await get(session, url)
                assert status == 200, label
                assert body == participant
                assert fake.requests[-1].path.endswith(f"/Participants/{label}.json")
                assert fake.requests[-1].query == {}
                seen += 1
        assert seen == len(AWKWARD_LABELS)
        summaries = [
            s["label"]
            for c in fake.data.conferences
            for s in fake.data.participant_summaries[c["conference_sid"]]
        ]
        assert summaries[: len(AWKWARD_LABELS)] == AWKWARD_LABELS


def test_labels_must_be_unique_within_a_conference() -> None:
    """Pinned labels that would repeat within a conference are refused."""
    with pytest.raises(ValueError, match="repeat"):
        FakeTwilio(conferences=1, participants_per_conference=3, labels=["a", "a"])
    with pytest.raises(ValueError, match="fewer participants"):
        FakeTwilio(conferences=1, participants_per_conference=1, labels=["a", "b"])


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code", "message"),
    [
        (FaultKind.RATE_LIMIT, 429, 20429, "Too Many Requests"),
        (FaultKind.SERVER_ERROR, 500, 20500, "Internal Server Error"),
        (FaultKind.BAD_GATEWAY, 502, 20502, "Bad Gateway"),
        (FaultKind.SERVICE_UNAVAILABLE, 503, 20503, "Service Unavailable"),
        (FaultKind.GATEWAY_TIMEOUT, 504, 20504, "Gateway Timeout"),
    ],
)
async def test_status_faults(
    server: FakeTwilio,
    http: aiohttp.ClientSession,
    kind: FaultKind,
    status: int,
    code: int,
    message: str,
) -> None:
    """Status faults answer with their status, Twilio body and Retry-After when configured."""
    server.faults.queue(Fault(kind, retry_after="2"))
    server.faults.queue(Fault(kind))
    url = f"{server.base_url}/v1/Conferences"
    for expected_retry_after in ("2", None):
        async with http.get(url) as response:
            assert response.status == status
            assert await response.json() == {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            }
            if kind in (FaultKind.RATE_LIMIT, FaultKind.SERVICE_UNAVAILABLE):
                assert response.headers.get("Retry-After") == expected_retry_after
            else:
                assert "Retry-After" not in response.headers
    async with http.get(url) as response:
        assert response.status == 200
    assert server.faults.injected == {kind: 2}
    assert [(r.status, r.fault) for r in server.requests] == [
        (status, kind),
        (status, kind),
        (200, None),
    ]


async def test_faults_apply_before_authentication(server: FakeTwilio) -> None:
    """An edge fault (503) comes before authentication; the next request is checked again."""
    server.faults.queue(FaultKind.SERVICE_UNAVAILABLE)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.base_url}/v1/Conferences") as response:
            assert response.status == 503
        async with session.get(f"{server.base_url}/v1/Conferences") as response:
            assert response.status == 401
    assert [(r.status, r.authorized) for r in server.requests] == [(503, False), (401, False)]


async def test_connection_reset_surfaces_as_a_connection_error(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    # aiohttp silently retries an idempotent request once after a disconnect, so it
    # takes two resets in a row for the caller to see one.
    """A reset fault drops the connection before any response byte."""
    server.faults.queue(Fault(FaultKind.CONNECTION_RESET), count=2)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"{server.base_url}/v1/Conferences") as response:
            await response.read()
    assert [(r.status, r.fault) for r in server.requests] == [(0, FaultKind.CONNECTION_RESET)] * 2
    status, _ = await get(http, f"{server.base_url}/v1/Conferences")
    assert status == 200


async def test_truncated_body_surfaces_as_a_payload_error(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """A truncated-body fault promises more bytes than it sends."""
    server.faults.queue(Fault(FaultKind.TRUNCATED_BODY))
    async with http.get(f"{server.base_url}/v1/Conferences") as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) > 0
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert server.requests[-1].fault is FaultKind.TRUNCATED_BODY
    status, _ = await get(http, f"{server.base_url}/v1/Conferences")
    assert status == 200


async def test_malformed_json_is_not_json(server: FakeTwilio, http: aiohttp.ClientSession) -> None:
    """A malformed-JSON fault sends a 200 whose body does not parse."""
    server.faults.queue(FaultKind.MALFORMED_JSON)
    async with http.get(f"{server.base_url}/v1/Conferences") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            await response.json()


async def test_stall_trips_a_client_timeout_then_answers(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """A stall outlasts a short client timeout; a short stall is just a slow 200."""
    server.faults.queue(Fault(FaultKind.STALL, stall_seconds=5.0))
    url = f"{server.base_url}/v1/Conferences"
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=0.2)) as response:
            await response.read()
    assert server.requests[-1].fault is FaultKind.STALL

    server.faults.queue(Fault(FaultKind.STALL, stall_seconds=0.1))
    started = time.monotonic()
    status, _ = await get(http, url)
    assert status == 200
    assert time.monotonic() - started >= 0.1
    assert server.requests[-1].status == 200


async def test_queue_is_fifo_and_honours_path_filters(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Queued faults apply in order, each only to paths matching its filter."""
    cf = server.data.conferences[0]["conference_sid"]
    server.faults.queue(FaultKind.SERVER_ERROR, count=1, path_contains="/Participants")
    server.faults.queue(FaultKind.BAD_GATEWAY, count=2)
    assert server.faults.pending == 3
    statuses = []
    for path in ("/v1/Conferences", f"/v1/Conferences/{cf}/Participants", "/v1/Conferences"):
        async with http.get(server.base_url + path) as response:
            statuses.append(response.status)
    async with http.get(f"{server.base_url}/v1/Conferences/{cf}/Participants") as response:
        statuses.append(response.status)
    # The first entry only matches /Participants, so it does not block the second.
    assert statuses == [502, 500, 502, 200]
    assert server.faults.pending == 0


async def test_random_faults_are_reproducible_per_seed(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Random faults are the same sequence for the same seed."""

    async def run() -> list[tuple[int, FaultKind | None]]:
        server.reset_stats()
        server.faults.clear()
        server.faults.random(0.5, kinds=[FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR], seed=7)
        for _ in range(30):
            async with http.get(f"{server.base_url}/v1/Conferences?PageSize=1") as response:
                await response.read()
        return [(r.status, r.fault) for r in server.requests]

    first = await run()
    assert first == await run()
    assert {status for status, _ in first} == {200, 429, 500}
    assert sum(server.faults.injected.values()) == sum(f is not None for _, f in first)
    limited = [r for r in server.requests if r.status == 429]
    assert len(limited) >= 2
    server.faults.random(0)
    async with http.get(f"{server.base_url}/v1/Conferences") as response:
        assert response.status == 200


def test_random_faults_default_kinds_exclude_stall() -> None:
    """Random faults default to every kind but stalls, alternating Retry-After "0" and none."""
    injector = FaultInjector()
    injector.random(1.0, seed=3)
    kinds = {fault.kind for fault in (injector.pick("/x") for _ in range(300)) if fault}
    assert kinds == set(FaultKind) - {FaultKind.STALL}
    limits = [injector.pick("/x") for _ in range(300)]
    retry_afters = {f.retry_after for f in limits if f and f.kind is FaultKind.RATE_LIMIT}
    assert retry_afters == {"0", None}


async def test_throttle_for_a_time_window(server: FakeTwilio, http: aiohttp.ClientSession) -> None:
    """throttle_for answers 429 with its Retry-After until the window ends, then normally."""
    now = [100.0]
    server.faults = FaultInjector(clock=lambda: now[0])
    server.faults.throttle_for(0.3, retry_after="1")
    url = f"{server.base_url}/v1/Conferences"
    async with http.get(url) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"
    now[0] += 0.29
    async with http.get(url) as response:
        assert response.status == 429
    now[0] += 0.01
    async with http.get(url) as response:
        assert response.status == 200
    server.faults.throttle_for(10)
    server.faults.clear()
    async with http.get(url) as response:
        assert response.status == 200
    assert server.faults.injected == {}


# -- determinism, concurrency, scale, recording -----------------------------------------------


def test_same_seed_same_data_and_credentials() -> None:
    """The same seed gives the same data and credentials; another seed gives others."""
    one = FakeTwilio(conferences=25, seed=77)
    two = FakeTwilio(conferences=25, seed=77)
    other = FakeTwilio(conferences=25, seed=78)
    assert one.data.conferences == two.data.conferences
    assert (one.account_sid, one.auth_token) == (two.account_sid, two.auth_token)
    assert sid("AC").fullmatch(one.account_sid)
    assert re.fullmatch(r"[0-9a-f]{32}", one.auth_token)
    assert one.base_time == two.base_time
    # Participants do not depend on the order in which conferences are first accessed.
    sids = [c["conference_sid"] for c in one.data.conferences]
    for cf in reversed(sids):
        assert two.data.participants[cf]  # build two's in reverse order
    for cf in sids:
        assert one.data.participant_summaries[cf] == two.data.participant_summaries[cf]
        assert one.data.participants[cf] == two.data.participants[cf]
    assert other.data.conferences != one.data.conferences
    assert other.account_sid != one.account_sid


async def test_max_in_flight_counts_concurrent_requests(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """in_flight and max_in_flight count the requests being handled at once."""
    server.latency = 3600  # none answers: all eight are in flight together, however slow
    urls = [f"{server.base_url}/v1/Conferences?PageSize={n}" for n in range(1, 9)]
    calls = [asyncio.ensure_future(get(http, url)) for url in urls]
    await wait_until(lambda: server.in_flight == 8, "eight requests are being handled")
    assert server.max_in_flight == 8
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    await wait_until(lambda: server.in_flight == 0, "the dropped requests were let go")
    assert server.max_in_flight == 8
    server.reset_stats()
    assert server.max_in_flight == 0
    assert server.requests == []
    server.latency = 0
    with pytest.raises(ValueError, match="latency"):
        server.latency = -1


async def test_requests_are_recorded_in_twilio_spelling(
    server: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    """Recorded requests keep the raw path, the query as sent and who authenticated."""
    url = URL(f"{server.base_url}/v1/Conferences").with_query(
        [("Tags", "low_mos"), ("Tags", "high_jitter"), ("PageSize", "2")]
    )
    async with http.get(url, headers={"User-Agent": "tester/1.0"}) as response:
        assert response.status == 200
        assert response.headers["Twilio-Request-Id"].startswith("RQ")
    (record,) = server.requests
    assert record.method == "GET"
    assert record.path == "/v1/Conferences"
    assert record.raw_path == "/v1/Conferences?Tags=low_mos&Tags=high_jitter&PageSize=2"
    assert record.query == {"Tags": ["low_mos", "high_jitter"], "PageSize": ["2"]}
    assert record.user_agent == "tester/1.0"
    assert record.authorized and record.has_authorization
    assert record.username == server.account_sid
    assert (record.status, record.fault) == (200, None)


async def test_large_data_sets_generate_and_serve() -> None:
    """4,000 conferences generate and serve their first and last pages."""
    fake = FakeTwilio(conferences=4000, participants_per_conference=5, seed=1)
    assert sum(1 for _ in fake.data.all_participant_summaries()) == 20_000
    async with fake, aiohttp.ClientSession(headers=auth_for(fake)) as session:
        status, page = await get(session, f"{fake.base_url}/v1/Conferences", {"PageSize": "1000"})
        assert status == 200
        assert len(page["conferences"]) == 1000
        status, page = await get(
            session,
            f"{fake.base_url}/v1/Conferences",
            {"PageSize": "1000", "Status": "in_progress"},
        )
        assert page["conferences"]
        assert all(c["status"] == "in_progress" for c in page["conferences"])


async def test_lifecycle_and_configuration() -> None:
    """The fake starts once, closes without waiting for stalls, and refuses bad configuration."""
    fake = FakeTwilio(conferences=2, seed=4)
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.base_url
    await fake.start()
    try:
        assert fake.base_url == f"http://127.0.0.1:{fake.port}"
        assert fake.insights_base_url == fake.api_base_url == fake.base_url
        assert fake.data.conferences[0]["url"].startswith(fake.base_url + "/v1/")
        with pytest.raises(RuntimeError, match="already"):
            await fake.start()
        # Closing does not wait for a stalled request to finish its stall (of an hour: were
        # close() to wait for it, the deadline below would fail the test).
        fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=3600))
        async with aiohttp.ClientSession(headers=auth_for(fake)) as session:
            pending = asyncio.ensure_future(session.get(f"{fake.base_url}/v1/Conferences"))
            await wait_until(lambda: fake.in_flight == 1, "the stalled request reached the fake")
            async with asyncio.timeout(PATIENCE):
                await fake.close()
            try:
                response = await pending
                response.release()
            except aiohttp.ClientError:
                pass
    finally:
        await fake.close()
    await fake.close()  # idempotent

    with pytest.raises(ValueError, match="loopback"):
        FakeTwilio(host="0.0.0.0")
    with pytest.raises(ValueError, match="account_sid"):
        FakeTwilio(account_sid="AC123")
    with pytest.raises(ValueError, match="api_key"):
        FakeTwilio(api_key=API_KEY)
    custom = FakeTwilio(conferences=1, account_sid="AC" + "a" * 32, auth_token="t" * 32)
    assert custom.data.conferences[0]["account_sid"] == "AC" + "a" * 32
    assert custom.auth_token == "t" * 32
    assert custom.now == custom.base_time
    assert custom.base_time.tzinfo is UTC


async def test_standalone_entry_point_serves_until_interrupted() -> None:
    """The `python -m twilio_conf_insights.testing` server serves, then exits 0 on Ctrl-C."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "twilio_conf_insights.testing",
        "--conferences",
        "3",
        "--seed",
        "5",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        lines = [
            (await asyncio.wait_for(process.stdout.readline(), PATIENCE)).decode() for _ in range(4)
        ]
        banner = "".join(lines)
        base_url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert base_url is not None
        expected = FakeTwilio(seed=5)
        assert expected.account_sid in banner
        assert expected.auth_token in banner

        headers = {
            "Authorization": aiohttp.encode_basic_auth(expected.account_sid, expected.auth_token)
        }
        async with aiohttp.ClientSession(headers=headers) as session:
            status, page = await get(session, f"{base_url.group(0)}/v1/Conferences")
        assert status == 200
        assert len(page["conferences"]) == 3
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), PATIENCE)
        assert process.returncode == 0
        assert "Traceback" not in stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
