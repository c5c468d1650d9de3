"""Models and the converter: documented shapes, unknown values, round trips, decode errors."""

from __future__ import annotations

import ast
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

import twilio_conf_insights
from tests import payloads
from twilio_conf_insights import (
    AvgMax,
    CallType,
    ConferenceStatus,
    ConferenceSummary,
    ConferenceTag,
    DecodeError,
    DetectedIssues,
    Participant,
    ParticipantMetrics,
    ParticipantProperties,
    ParticipantStatus,
    ParticipantSummary,
    Region,
    StreamMetrics,
)
from twilio_conf_insights._decoding import decode, decode_list


def test_conference_summary_fields_are_typed() -> None:
    """A conference summary's fields decode to their enums, UTC datetimes and nested types."""
    summary = ConferenceSummary.from_dict(payloads.conference_summary())
    assert summary.status is ConferenceStatus.COMPLETED
    assert summary.mixer_region is Region.IE1
    assert summary.mixer_region_requested is None
    assert summary.create_time == datetime(2024, 3, 4, 10, 0, 1, tzinfo=UTC)
    assert summary.tags == [ConferenceTag.HIGH_JITTER, ConferenceTag.LOW_MOS]
    assert summary.detected_issues == DetectedIssues(
        call_quality=2, region_configuration=0, participant_behavior=1
    )
    assert summary.recording_enabled is True
    assert summary.extra == {}


def test_participant_summary_nested_types() -> None:
    """A participant summary's metrics and properties decode typed, unknown keys kept in extra."""
    summary = ParticipantSummary.from_dict(payloads.participant_summary())
    assert summary.from_ == "+15550100"
    assert summary.call_type is CallType.SIP
    assert isinstance(summary.metrics, ParticipantMetrics)
    inbound = summary.metrics.inbound
    assert isinstance(inbound, StreamMetrics)
    assert inbound.mos == 3.2
    assert inbound.jitter == AvgMax(avg=41.5, max=41.5 * 3)
    assert inbound.packet_loss_percentage == 2.5
    assert summary.metrics.outbound is not None
    assert summary.metrics.outbound.extra == {"tags": ["silent"]}
    assert isinstance(summary.properties, ParticipantProperties)
    assert summary.properties.play_early_media is None
    assert summary.properties.extra == {"early_media": True}
    assert "play_early_media" in summary.properties.missing_keys
    assert summary.coached_participants == [payloads.COACHED]
    assert summary.metrics is summary.metrics  # parsed once, on first access


def test_live_participant_rfc2822_dates() -> None:
    """A live participant's RFC 2822 dates parse to UTC datetimes, its status to the enum."""
    participant = Participant.from_dict(payloads.live_participant())
    assert participant.date_created == datetime(2024, 3, 4, 10, 0, 7, tzinfo=UTC)
    assert participant.status is ParticipantStatus.CONNECTED
    assert participant.muted is True


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (ConferenceSummary, payloads.conference_summary()),
        (
            ConferenceSummary,
            payloads.conference_summary(tags=None, start_time=None, detected_issues=None),
        ),
        (ParticipantSummary, payloads.participant_summary()),
        (
            ParticipantSummary,
            payloads.participant_summary(metrics=None, events=None, properties=None, label=None),
        ),
        (Participant, payloads.live_participant()),
        (
            Participant,
            payloads.live_participant(
                call_sid_to_coach=payloads.COACHED, coaching=True, label=None
            ),
        ),
    ],
)
def test_to_dict_reproduces_the_json_exactly(model: Any, body: dict[str, Any]) -> None:
    """to_dict gives back exactly the JSON decoded, nulls included, ints and floats kept apart."""
    parsed = model.from_dict(copy.deepcopy(body))
    assert parsed.to_dict() == body
    # Exactly: the same JSON text, ints stay ints and floats stay floats.
    assert json.dumps(parsed.to_dict(), sort_keys=True) == json.dumps(body, sort_keys=True)


def test_unknown_enum_values_and_keys_survive() -> None:
    """Unknown enum values stay strings and unknown keys go to extra; both round-trip."""
    body = payloads.conference_summary(
        status="archived",
        mixer_region="mars1",
        tags=["low_mos", "brand_new_tag"],
        surprise={"nested": [1, 2]},
    )
    summary = ConferenceSummary.from_dict(body)
    assert summary.status == "archived"
    assert not isinstance(summary.status, ConferenceStatus)
    assert summary.mixer_region == "mars1"
    assert summary.tags == [ConferenceTag.LOW_MOS, "brand_new_tag"]
    assert summary.extra == {"surprise": {"nested": [1, 2]}}
    assert summary.to_dict() == body


def test_absent_keys_are_not_invented() -> None:
    """Keys absent from the JSON read as None and stay absent from to_dict."""
    body = payloads.conference_summary()
    del body["tag_info"], body["links"]
    summary = ConferenceSummary.from_dict(body)
    assert summary.tag_info is None
    assert summary.to_dict() == body


@pytest.mark.parametrize(
    "untyped",
    [[1, 2, 3], "text", 7, {"inbound": {"mos": "excellent"}}, {"anything": {"goes": None}}, True],
)
def test_untyped_fields_accept_any_json(untyped: Any) -> None:
    """Untyped fields take and round-trip any JSON; typed views read what does not fit as None."""
    body = payloads.participant_summary(metrics=untyped, properties=untyped, events=untyped)
    summary = ParticipantSummary.from_dict(body)
    assert summary.to_dict() == body
    assert summary.metrics_json == untyped
    assert summary.events == untyped
    assert summary.problems == {}
    # The typed views only exist for objects; inside, a value that does not fit reads as None.
    if not isinstance(untyped, dict):
        assert summary.metrics is None
    elif "inbound" in untyped:
        assert summary.metrics is not None and summary.metrics.inbound is not None
        assert summary.metrics.inbound.mos is None
        assert set(summary.metrics.problems) == {"inbound.mos"}
    conference = ConferenceSummary.from_dict(
        payloads.conference_summary(detected_issues=untyped, tag_info=untyped, links=untyped)
    )
    assert conference.to_dict()["detected_issues"] == untyped


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_seconds", "76"),
        ("duration_seconds", 7.5),
        ("recording_enabled", "false"),
        ("create_time", "yesterday"),
        ("create_time", 1700000000),
        ("status", 3),
        ("tags", "low_mos"),
        ("friendly_name", ["a"]),
    ],
)
def test_wrong_shape_raises_decode_error_naming_resource_and_field(field: str, value: Any) -> None:
    """strict=True: a value of the wrong type raises a DecodeError naming model and field."""
    with pytest.raises(DecodeError) as caught:
        ConferenceSummary.from_dict(payloads.conference_summary(**{field: value}), strict=True)
    assert caught.value.resource == "ConferenceSummary"
    assert caught.value.field == f"$.{field}"
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_seconds", "76"),
        ("duration_seconds", 7.5),
        ("recording_enabled", "false"),
        ("create_time", "yesterday"),
        ("create_time", 1700000000),
        ("status", 3),
        ("tags", "low_mos"),
        ("friendly_name", ["a"]),
    ],
)
def test_wrong_shape_reads_none_and_is_listed_by_default(field: str, value: Any) -> None:
    """By default the same values read as None, are listed in problems and round-trip."""
    body = payloads.conference_summary(**{field: value})
    summary = ConferenceSummary.from_dict(copy.deepcopy(body))
    assert getattr(summary, field) is None
    assert set(summary.problems) == {field}
    assert summary.to_dict() == body
    assert summary.conference_sid == payloads.CONFERENCE


def test_top_level_wrong_type_is_a_decode_error() -> None:
    """A non-object where a record belongs raises DecodeError naming the model."""
    bad_values: list[object] = [[], "x", None, 3]
    for bad in bad_values:
        with pytest.raises(DecodeError) as caught:
            decode(bad, Participant)
        assert caught.value.resource == "Participant"


def test_decode_list_names_the_index() -> None:
    """A strict decode_list error names the failing item's index and field."""
    items = [payloads.live_participant(), payloads.live_participant(muted="yes")]
    with pytest.raises(DecodeError) as caught:
        decode_list(items, Participant, path="$.participants", strict=True)
    assert caught.value.field == "$.participants[1].muted"


def test_integral_floats_are_integers_and_bool_is_not_a_number() -> None:
    """An integral float reads as an int; a bool is no number (strict: DecodeError, else None)."""
    summary = ConferenceSummary.from_dict(payloads.conference_summary(duration_seconds=10.0))
    assert summary.duration_seconds == 10
    with pytest.raises(DecodeError):
        ConferenceSummary.from_dict(payloads.conference_summary(duration_seconds=True), strict=True)
    lenient = ConferenceSummary.from_dict(payloads.conference_summary(duration_seconds=True))
    assert lenient.duration_seconds is None
    assert list(lenient.problems) == ["duration_seconds"]


def test_iso_timestamps_with_offsets_and_fractions_parse_aware() -> None:
    """ISO timestamps with offset and fraction convert to UTC; one without an offset is aware."""
    summary = ConferenceSummary.from_dict(
        payloads.conference_summary(
            create_time="2024-03-04T12:00:01.250+02:00", start_time="2024-03-04T10:00:05"
        )
    )
    assert summary.create_time == datetime(2024, 3, 4, 10, 0, 1, 250000, tzinfo=UTC)
    assert summary.start_time is not None and summary.start_time.tzinfo is not None


def test_models_are_frozen() -> None:
    """Models are frozen (assigning raises AttributeError), and their repr shows the SID."""
    summary = ConferenceSummary.from_dict(payloads.conference_summary())
    with pytest.raises(AttributeError):
        summary.status = "x"  # type: ignore[misc]
    assert "CF" in repr(summary)


@settings(max_examples=150, deadline=None)
@given(payloads.random_conferences)
def test_random_conferences_round_trip(body: dict[str, Any]) -> None:
    """Any generated conference summary round-trips through from_dict and to_dict unchanged."""
    assert ConferenceSummary.from_dict(copy.deepcopy(body)).to_dict() == body


@settings(max_examples=150, deadline=None)
@given(payloads.random_participant_summaries)
def test_random_participant_summaries_round_trip(body: dict[str, Any]) -> None:
    """Any generated participant summary round-trips through from_dict and to_dict unchanged."""
    assert ParticipantSummary.from_dict(copy.deepcopy(body)).to_dict() == body


@settings(max_examples=150, deadline=None)
@given(payloads.random_live_participants)
def test_random_live_participants_round_trip(body: dict[str, Any]) -> None:
    """Any generated live participant round-trips through from_dict and to_dict unchanged."""
    assert Participant.from_dict(copy.deepcopy(body)).to_dict() == body


def test_the_converter_does_not_import_the_models() -> None:
    """The converter and decoding modules never import the models: no import cycle."""
    package = Path(twilio_conf_insights.__file__).parent
    for module in ("_converter.py", "_decoding.py", "_timestamps.py"):
        tree = ast.parse((package / module).read_text(encoding="utf-8"))
        imported = [
            node.module or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level > 0
        ]
        assert not [name for name in imported if name.startswith("_models")], module
