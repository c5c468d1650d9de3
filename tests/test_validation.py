"""Argument validation: what is accepted, how it is spelled, what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import ConferenceTag, InvalidArgumentError, Region
from twilio_conf_insights import _validation as v
from twilio_conf_insights._resources.conferences import conference_query


def test_sid() -> None:
    """A SID must have the right two-letter prefix and 32 lowercase hex digits."""
    good = "CF" + "a" * 32
    assert v.sid(good, "CF", "x") == good
    for bad in [
        "CA" + "a" * 32,
        "CF" + "g" * 32,
        "CF" + "a" * 31,
        good + "0",
        None,
        5,
        "CF" + "a" * 32 + "\n",
    ]:
        with pytest.raises(InvalidArgumentError):
            v.sid(bad, "CF", "conference_sid")


@pytest.mark.parametrize("size", [0, 1001, -1, 2.5, True, "10", None])
def test_page_size_refused(size: object) -> None:
    """page_size outside 1..1000, or not an integer, is refused."""
    with pytest.raises(InvalidArgumentError, match="page_size"):
        v.page_size(size)


def test_page_size_bounds() -> None:
    """page_size accepts both ends of 1..1000."""
    assert v.page_size(1) == 1 and v.page_size(1000) == 1000


def test_enum_values() -> None:
    """Enum filters take members or their values; an unknown value names the allowed ones."""
    assert v.enum_value(Region.DE1, Region, "r") == "de1"
    assert v.enum_value("de1", Region, "r") == "de1"
    with pytest.raises(InvalidArgumentError, match="us1"):
        v.enum_value("mars", Region, "mixer_region")
    assert (
        v.enum_list(["low_mos", ConferenceTag.HIGH_JITTER], ConferenceTag, "tags")
        == "low_mos,high_jitter"
    )
    assert v.enum_list("low_mos", ConferenceTag, "tags") == "low_mos"
    with pytest.raises(InvalidArgumentError):
        v.enum_list([], ConferenceTag, "tags")


def test_datetimes_must_be_aware_and_go_out_in_utc() -> None:
    """Naive datetimes are refused; aware ones go out as UTC ISO 8601 with a Z."""
    plus_two = timezone(timedelta(hours=2))
    assert (
        v.aware_datetime(datetime(2024, 3, 4, 12, 0, 1, tzinfo=plus_two), "d")
        == "2024-03-04T10:00:01Z"
    )
    assert (
        v.aware_datetime(datetime(2024, 3, 4, 10, 0, 1, 500, tzinfo=UTC), "d")
        == "2024-03-04T10:00:01.000500Z"
    )
    with pytest.raises(InvalidArgumentError, match="timezone-aware"):
        v.aware_datetime(datetime(2024, 3, 4), "created_after")
    with pytest.raises(InvalidArgumentError):
        v.aware_datetime("2024-03-04", "created_after")


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_any_aware_datetime_round_trips(moment: datetime) -> None:
    """Any aware datetime survives the trip to Twilio's spelling and back."""
    text = v.aware_datetime(moment, "d")
    assert datetime.fromisoformat(text) == moment.astimezone(UTC)


def test_conference_filters_spelling() -> None:
    """conference_query spells every filter as Twilio expects."""
    query = conference_query(
        {
            "conference_sid": "CF" + "0" * 32,
            "friendly_name": "x",
            "status": "completed",
            "created_after": datetime(2024, 1, 1, tzinfo=UTC),
            "created_before": datetime(2024, 1, 2, tzinfo=UTC),
            "mixer_region": "us1",
            "tags": ["low_mos"],
            "subaccount": "AC" + "0" * 32,
            "detected_issues": ["call_quality"],
            "end_reason": "last_participant_left",
        }
    )
    assert sorted(query) == sorted(
        [
            "ConferenceSid",
            "FriendlyName",
            "Status",
            "CreatedAfter",
            "CreatedBefore",
            "MixerRegion",
            "Tags",
            "Subaccount",
            "DetectedIssues",
            "EndReason",
        ]
    )
    assert query["CreatedAfter"] == "2024-01-01T00:00:00Z"


def test_boolean_filters() -> None:
    """Boolean filters take real booleans only, sent as "true"/"false"."""
    assert v.boolean(True, "muted") == "true"
    with pytest.raises(InvalidArgumentError):
        v.boolean("true", "muted")


def test_unknown_conference_filter_is_refused() -> None:
    """An unknown conference filter name is refused; None values are dropped."""
    with pytest.raises(InvalidArgumentError, match="unknown conference filter"):
        conference_query({"statuz": "completed"})
    assert conference_query({"status": None}) == {}
