"""The fake's list filters: each narrows conferences and participants to exactly its matches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from tests.helpers import SUBACCOUNT, get, live_path, own_conferences
from twilio_conf_insights.testing import FakeTwilio

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
