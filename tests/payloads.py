"""Hand-written payloads in the documented shapes, and hypothesis strategies for random ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

ACCOUNT = "AC" + "1f" * 16
CONFERENCE = "CF" + "2e" * 16
PARTICIPANT = "CP" + "3d" * 16
CALL = "CA" + "4c" * 16
COACHED = "CA" + "5b" * 16


def stream_metrics(
    mos: float = 4.3, *, jitter: float = 1.25, loss: float | int = 0
) -> dict[str, Any]:
    return {
        "total_packets_lost": 0,
        "total_packets_received": 812,
        "packet_loss_percentage": loss,
        "jitter": {"avg": jitter, "max": jitter * 3},
        "latency": {"avg": 0, "max": 0},
        "mos": mos,
    }


def conference_summary(**overrides: Any) -> dict[str, Any]:
    """A summary shaped like the fetch example: every key present, some nulls."""
    body: dict[str, Any] = {
        "conference_sid": CONFERENCE,
        "account_sid": ACCOUNT,
        "friendly_name": "weekly sync",
        "create_time": "2024-03-04T10:00:01Z",
        "start_time": "2024-03-04T10:00:05Z",
        "end_time": "2024-03-04T10:42:10Z",
        "duration_seconds": 2529,
        "connect_duration_seconds": 2525,
        "status": "completed",
        "max_participants": 250,
        "max_concurrent_participants": 5,
        "unique_participants": 6,
        "end_reason": "last_participant_left",
        "ended_by": CALL,
        "mixer_region": "ie1",
        "mixer_region_requested": None,
        "recording_enabled": True,
        "processing_state": "complete",
        "detected_issues": {
            "call_quality": 2,
            "region_configuration": 0,
            "participant_behavior": 1,
        },
        "tags": ["high_jitter", "low_mos"],
        "tag_info": None,
        "url": f"https://insights.twilio.com/v1/Conferences/{CONFERENCE}",
        "links": {
            "conference_participants": f"https://insights.twilio.com/v1/Conferences/{CONFERENCE}/Participants"
        },
    }
    body.update(overrides)
    return body


def participant_summary(**overrides: Any) -> dict[str, Any]:
    """A participant summary shaped like the list example, including an extra metrics key."""
    outbound = stream_metrics(4.1, jitter=0.02)
    outbound["tags"] = ["silent"]  # undocumented key Twilio sends inside metrics
    body: dict[str, Any] = {
        "participant_sid": PARTICIPANT,
        "label": "agent 7",
        "conference_sid": CONFERENCE,
        "call_sid": CALL,
        "account_sid": ACCOUNT,
        "call_direction": "inbound",
        "from": "+15550100",
        "to": "+15550199",
        "call_status": "completed",
        "country_code": "IE",
        "is_moderator": False,
        "join_time": "2024-03-04T10:00:07Z",
        "leave_time": "2024-03-04T10:41:00Z",
        "duration_seconds": 2453,
        "outbound_queue_length": 0,
        "outbound_time_in_queue": 120,
        "jitter_buffer_size": None,
        "is_coach": True,
        "coached_participants": [COACHED],
        "participant_region": "ie1",
        "conference_region": "ie1",
        "call_type": "sip",
        "processing_state": "complete",
        "properties": {
            "start_conference_on_enter": True,
            "end_conference_on_exit": False,
            "early_media": True,  # the list example spells it without "play_"
            "enter_muted": False,
            "beep_on_enter": True,
            "beep_on_exit": False,
        },
        "events": {"mute": [1709546500000, 1709546600000]},
        "metrics": {"inbound": stream_metrics(3.2, jitter=41.5, loss=2.5), "outbound": outbound},
        "url": f"https://insights.twilio.com/v1/Conferences/{CONFERENCE}/Participants/{PARTICIPANT}",
    }
    body.update(overrides)
    return body


def live_participant(**overrides: Any) -> dict[str, Any]:
    """A 2010 participant: RFC 2822 dates, relative uri."""
    body: dict[str, Any] = {
        "account_sid": ACCOUNT,
        "call_sid": CALL,
        "label": "customer",
        "call_sid_to_coach": None,
        "coaching": False,
        "conference_sid": CONFERENCE,
        "date_created": "Mon, 04 Mar 2024 10:00:07 +0000",
        "date_updated": "Mon, 04 Mar 2024 10:05:00 +0000",
        "end_conference_on_exit": False,
        "muted": True,
        "hold": False,
        "start_conference_on_enter": True,
        "status": "connected",
        "queue_time": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Conferences/{CONFERENCE}/Participants/{CALL}.json",
    }
    body.update(overrides)
    return body


# -- random payloads -------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _sid(prefix: str) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda h: prefix + h)


iso_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"))
rfc_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0).strftime("%a, %d %b %Y %H:%M:%S +0000"))


# Known enum values and values Twilio may add later.
def _enum(*values: str) -> st.SearchStrategy[str | None]:
    return st.none() | st.sampled_from(values) | st.text(min_size=1, max_size=12)


numbers = st.integers(0, 10_000) | st.floats(0, 100, allow_nan=False)
avg_max = st.fixed_dictionaries({"avg": numbers, "max": numbers})
stream = st.fixed_dictionaries(
    {
        "total_packets_lost": st.integers(0, 1000),
        "total_packets_received": st.integers(0, 10**6),
        "packet_loss_percentage": numbers,
        "jitter": avg_max,
        "latency": avg_max,
        "mos": st.floats(1, 4.5),
    },
    optional={"tags": st.lists(st.text(max_size=8), max_size=2)},
)
unknown_keys = st.dictionaries(
    st.text(min_size=1, max_size=10).map(lambda k: "x_" + k), json_values, max_size=2
)


def _with_extra(base: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda body, extra: {**body, **extra}, base, unknown_keys)


random_conferences = _with_extra(
    st.fixed_dictionaries(
        {
            "conference_sid": st.none() | _sid("CF"),
            "account_sid": st.none() | _sid("AC"),
            "friendly_name": st.none() | st.text(max_size=64),
            "create_time": st.none() | iso_times,
            "start_time": st.none() | iso_times,
            "end_time": st.none() | iso_times,
            "duration_seconds": st.none() | st.integers(0, 10**6),
            "status": _enum("in_progress", "not_started", "completed", "summary_timeout"),
            "end_reason": _enum("last_participant_left", "conference_ended_via_api"),
            "mixer_region": _enum("us1", "ie1", "au1"),
            "recording_enabled": st.none() | st.booleans(),
            "detected_issues": json_values,
            "tags": st.none()
            | st.lists(_enum("high_jitter", "low_mos").filter(lambda v: v is not None), max_size=3),
            "tag_info": json_values,
            "processing_state": _enum("complete", "in_progress", "timeout"),
            "links": json_values,
        },
        optional={"url": st.none() | st.text(max_size=30), "ended_by": st.none() | _sid("CA")},
    )
)
random_participant_summaries = _with_extra(
    st.fixed_dictionaries(
        {
            "participant_sid": st.none() | _sid("CP"),
            "label": st.none() | st.text(max_size=20),
            "from": st.none() | st.text(max_size=16),
            "call_direction": _enum("inbound", "outbound"),
            "call_status": _enum("answered", "completed", "busy"),
            "join_time": st.none() | iso_times,
            "coached_participants": st.none() | st.lists(_sid("CA"), max_size=2),
            "jitter_buffer_size": _enum("large", "off"),
            "properties": json_values
            | st.fixed_dictionaries(
                {"enter_muted": st.booleans()}, optional={"beep_on_exit": st.booleans()}
            ),
            "events": json_values,
            "metrics": json_values
            | st.fixed_dictionaries({}, optional={"inbound": stream, "outbound": stream}),
        },
        optional={
            "is_coach": st.none() | st.booleans(),
            "duration_seconds": st.none() | st.integers(0, 99999),
        },
    )
)
random_live_participants = _with_extra(
    st.fixed_dictionaries(
        {
            "call_sid": st.none() | _sid("CA"),
            "label": st.none() | st.text(max_size=20),
            "date_created": st.none() | rfc_times,
            "date_updated": st.none() | rfc_times,
            "muted": st.none() | st.booleans(),
            "status": _enum("queued", "connected", "complete"),
            "queue_time": st.none() | st.text(max_size=5),
        },
        optional={"hold": st.booleans(), "uri": st.text(max_size=40)},
    )
)
