"""Every endpoint and filter, over real HTTP to the fake Twilio."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.helpers import UnreachableHosts
from twilio_conf_insights import (
    ConferenceStatus,
    ConferenceSummary,
    ConferenceTag,
    InsightsClient,
    InvalidArgumentError,
    NotFoundError,
    Participant,
    ParticipantSummary,
    Region,
    RetryPolicy,
    TransportError,
)
from twilio_conf_insights.testing import FakeTwilio


def _last_query(fake: FakeTwilio) -> dict[str, list[str]]:
    return fake.requests[-1].query


async def test_fetch_conference_matches_the_served_json(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Fetching a conference decodes exactly the JSON the server sent, from the documented path."""
    body = fake.data.conferences[3]
    summary = await client.conferences.fetch(body["conference_sid"])
    assert isinstance(summary, ConferenceSummary)
    assert summary.to_dict() == body
    assert fake.requests[-1].path == f"/v1/Conferences/{body['conference_sid']}"


async def test_list_conferences_collects_every_summary(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Listing conferences collects every served summary with one request per page."""
    summaries = await client.conferences.list(page_size=7).collect()
    assert [s.to_dict() for s in summaries] == fake.data.conferences
    assert len(fake.requests) == -(-len(fake.data.conferences) // 7)


async def test_every_conference_filter_reaches_twilio_spelled_its_way(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Each of the ten conference filters reaches the query in Twilio's spelling and format."""
    after = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    await client.conferences.list(
        conference_sid="CF" + "a" * 32,
        friendly_name="team sync",
        status=ConferenceStatus.COMPLETED,
        created_after=after,
        created_before=after + timedelta(days=1),
        mixer_region="ie1",
        tags=[ConferenceTag.LOW_MOS, "high_jitter"],
        subaccount="AC" + "b" * 32,
        detected_issues=["call_quality", "participant_behavior"],
        end_reason="last_participant_left",
        page_size=5,
    ).collect()
    assert _last_query(fake) == {
        "ConferenceSid": ["CF" + "a" * 32],
        "FriendlyName": ["team sync"],
        "Status": ["completed"],
        "CreatedAfter": ["2024-01-02T03:04:05Z"],
        "CreatedBefore": ["2024-01-03T03:04:05Z"],
        "MixerRegion": ["ie1"],
        "Tags": ["low_mos,high_jitter"],
        "Subaccount": ["AC" + "b" * 32],
        "DetectedIssues": ["call_quality,participant_behavior"],
        "EndReason": ["last_participant_left"],
        "PageSize": ["5"],
    }


async def test_filter_values_cannot_add_query_parameters(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """A filter value full of & # ? and % stays one parameter's value."""
    sneaky = "x&Status=completed#frag?PageSize=1000 %26"
    await client.conferences.list(friendly_name=sneaky, page_size=3).collect()
    assert _last_query(fake) == {"FriendlyName": [sneaky], "PageSize": ["3"]}
    assert fake.requests[-1].path == "/v1/Conferences"


async def test_filters_select_what_the_server_selects(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Filtered listings return exactly the records the server's filter selects."""
    expected = [
        c
        for c in fake.data.conferences
        if c["status"] == "completed" and c["mixer_region"] == "us1"
    ]
    got = await client.conferences.list(
        status="completed", mixer_region=Region.US1, page_size=4
    ).collect()
    assert [g.to_dict() for g in got] == expected
    assert all(g.status is ConferenceStatus.COMPLETED for g in got)


async def test_participant_summaries_fetch_and_list(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Participant summaries list and fetch (with events and metrics) to the served JSON."""
    conference = fake.data.conferences[0]["conference_sid"]
    served = fake.data.participant_summaries[conference]
    listed = await client.participant_summaries.list(conference, page_size=2).collect()
    assert [p.to_dict() for p in listed] == served
    one = await client.participant_summaries.fetch(
        conference, served[1]["participant_sid"], events="true", metrics="true"
    )
    assert isinstance(one, ParticipantSummary)
    assert one.to_dict() == served[1]
    assert _last_query(fake) == {"Events": ["true"], "Metrics": ["true"]}


async def test_participant_summary_filters(fake: FakeTwilio, client: InsightsClient) -> None:
    """Participant-summary filters reach the query in Twilio's spelling."""
    conference = fake.data.conferences[0]["conference_sid"]
    target = fake.data.participant_summaries[conference][0]
    await client.participant_summaries.list(
        conference,
        participant_sid=target["participant_sid"],
        label="customer",
        events="mute",
        page_size=10,
    ).collect()
    assert _last_query(fake) == {
        "ParticipantSid": [target["participant_sid"]],
        "Label": ["customer"],
        "Events": ["mute"],
        "PageSize": ["10"],
    }


async def test_live_participants_fetch_by_sid_and_label_and_list(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Live participants can be fetched by call SID or label and listed."""
    conference = fake.data.conferences[1]["conference_sid"]
    served = fake.data.participants[conference]
    listed = await client.participants.list(conference, page_size=1).collect()
    assert [p.to_dict() for p in listed] == served
    assert fake.requests[-1].path.endswith("/Participants.json")
    by_sid = await client.participants.fetch(conference, served[0]["call_sid"])
    assert isinstance(by_sid, Participant)
    assert by_sid.to_dict() == served[0]
    labelled = next(p for p in served if p["label"])
    by_label = await client.participants.fetch(conference, labelled["label"])
    assert by_label.to_dict() == labelled
    assert fake.requests[-1].path == (
        f"/2010-04-01/Accounts/{fake.account_sid}/Conferences/{conference}/Participants/{labelled['label']}.json"
    )


async def test_live_participant_filters_spelled_as_booleans(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """Boolean live-participant filters go out as "true"/"false"."""
    conference = fake.data.conferences[1]["conference_sid"]
    muted = await client.participants.list(
        conference, muted=True, hold=False, coaching=False
    ).collect()
    assert _last_query(fake) == {"Muted": ["true"], "Hold": ["false"], "Coaching": ["false"]}
    assert all(p.muted for p in muted)


async def test_live_participants_of_another_account(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """account_sid= directs a 2010 call to that account's path."""
    other = "AC" + "c" * 32
    with pytest.raises(NotFoundError):
        await client.participants.list(
            fake.data.conferences[0]["conference_sid"], account_sid=other
        ).collect()
    assert fake.requests[-1].path.startswith(f"/2010-04-01/Accounts/{other}/")


@pytest.mark.parametrize(
    "label",
    ["agent/7", "../../Conferences", "..", "who?x=1", "#frag", "100%", "Zoë ☎ support", "a+b&c"],
)
async def test_adversarial_labels_stay_one_path_segment(
    fake: FakeTwilio, client: InsightsClient, label: str
) -> None:
    """Labels with slashes, dots, ? # % + & and non-ASCII stay a single path segment."""
    conference = fake.data.conferences[0]["conference_sid"]
    fake.data.participants[conference][0]["label"] = label
    participant = await client.participants.fetch(conference, label)
    assert participant.label == label
    (request,) = fake.requests
    assert request.query == {}
    assert request.path == (
        f"/2010-04-01/Accounts/{fake.account_sid}/Conferences/{conference}/Participants/{label}.json"
    )


async def test_missing_resources_raise_not_found(fake: FakeTwilio, client: InsightsClient) -> None:
    """A missing conference raises NotFoundError with Twilio's code and link, not retried."""
    with pytest.raises(NotFoundError) as caught:
        await client.conferences.fetch("CF" + "0" * 32)
    assert caught.value.status == 404
    assert caught.value.code == 20404
    assert caught.value.more_info == "https://www.twilio.com/docs/errors/20404"
    assert len(fake.requests) == 1  # never retried


BAD_CALLS: list[tuple[str, Any]] = [
    ("bad conference sid", lambda c: c.conferences.fetch("CF123")),
    ("lowercase prefix", lambda c: c.conferences.fetch("cf" + "a" * 32)),
    (
        "participant sid prefix",
        lambda c: c.participant_summaries.fetch("CF" + "a" * 32, "CA" + "a" * 32),
    ),
    ("empty label", lambda c: c.participants.fetch("CF" + "a" * 32, "")),
    ("label with newline", lambda c: c.participants.fetch("CF" + "a" * 32, "x\ny")),
    ("subaccount", lambda c: c.conferences.list(subaccount="AC1").collect()),
    ("page size 0", lambda c: c.conferences.list(page_size=0).collect()),
    ("page size 1001", lambda c: c.conferences.list(page_size=1001).collect()),
    ("naive datetime", lambda c: c.conferences.list(created_after=datetime(2024, 1, 1)).collect()),
    ("unknown status", lambda c: c.conferences.list(status="finished").collect()),
    ("unknown tag", lambda c: c.conferences.list(tags=["low_mos", "nope"]).collect()),
    ("muted not bool", lambda c: c.participants.list("CF" + "a" * 32, muted="yes").collect()),
    ("negative limit", lambda c: c.conferences.list(limit=-1).collect()),
]


@pytest.mark.parametrize(("name", "call"), BAD_CALLS, ids=[name for name, _ in BAD_CALLS])
async def test_bad_arguments_fail_before_any_request(
    fake: FakeTwilio, client: InsightsClient, name: str, call: Any
) -> None:
    """Invalid arguments raise InvalidArgumentError before anything is sent."""
    with pytest.raises(InvalidArgumentError):
        await call(client)
    assert fake.requests == []


async def test_regional_and_edge_hosts_are_used_for_requests() -> None:
    """region= and edge= send each call to {product}.{edge}.{region}.twilio.com."""
    hosts = UnreachableHosts()
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=hosts)) as session,
        InsightsClient(
            "AC" + "a" * 32,
            "token",
            region="au1",
            edge="sydney",
            session=session,
            retry=RetryPolicy.disabled(),
        ) as client,
    ):
        assert client.insights_base_url == "https://insights.sydney.au1.twilio.com"
        assert client.api_base_url == "https://api.sydney.au1.twilio.com"
        for call in (
            client.conferences.fetch("CF" + "a" * 32),
            client.participants.list("CF" + "a" * 32).collect(),
        ):
            with pytest.raises(TransportError) as caught:
                await call
            assert caught.value.kind == "connect"
    assert hosts.asked == ["insights.sydney.au1.twilio.com", "api.sydney.au1.twilio.com"]
