"""The fake's generated data: exactly the spec's keys, values and order, realistic, reproducible."""

from __future__ import annotations

import re
from datetime import datetime

import aiohttp

from tests.helpers import SUBACCOUNT, get, live_path, own_conferences
from twilio_conf_insights.testing import FakeTwilio, _schema

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
