"""The fake's authentication, routing (subaccounts, awkward labels) and Twilio error answers."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
import pytest
from yarl import URL

from tests.helpers import (
    API_KEY,
    API_SECRET,
    SUBACCOUNT,
    auth_for,
    get,
    live_path,
    own_conferences,
)
from twilio_conf_insights.testing import FakeTwilio


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
