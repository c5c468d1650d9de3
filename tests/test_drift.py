"""Data drift: a value that does not fit never costs its record, and the round trip is exact.

One test per drift case seen in payloads mutated the way Twilio plausibly sends them.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from yarl import URL

from tests import payloads
from tests.helpers import ClientFactory
from twilio_conf_insights import (
    ClientEvent,
    ConferenceSummary,
    DecodeError,
    ForeignOriginError,
    InsightsClient,
    Participant,
    ParticipantSummary,
    RecordProblems,
)
from twilio_conf_insights._pagination import INSIGHTS_PAGES, Paginator
from twilio_conf_insights._pipeline import Response
from twilio_conf_insights.testing import FakeTwilio

GMT_SPELLING = "Fri, 08 Oct 2021 02:58:51 GMT"
OCT_8 = datetime(2021, 10, 8, 2, 58, 51, tzinfo=UTC)


def _decoded(model: Any, body: dict[str, Any]) -> Any:
    """Decode a copy of ``body`` and check the round trip is exact, key order included."""
    parsed = model.from_dict(copy.deepcopy(body))
    assert json.dumps(parsed.to_dict()) == json.dumps(body)
    return parsed


# -- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "not a date"])
def test_insights_timestamp_that_is_no_timestamp_reads_none(value: str) -> None:
    """An empty or unreadable Insights timestamp reads None and is listed, the rest decodes."""
    summary = _decoded(ConferenceSummary, payloads.conference_summary(create_time=value))
    assert summary.create_time is None
    assert list(summary.problems) == ["create_time"]
    assert summary.end_time == datetime(2024, 3, 4, 10, 42, 10, tzinfo=UTC)


def test_insights_timestamp_in_rfc2822_spelling_is_read() -> None:
    """An RFC 2822 timestamp in an Insights field is read as the moment it names."""
    summary = _decoded(ConferenceSummary, payloads.conference_summary(start_time=GMT_SPELLING))
    assert summary.start_time == OCT_8
    assert summary.problems == {}


@pytest.mark.parametrize("value", ["", "garbage"])
def test_2010_timestamp_that_is_no_timestamp_reads_none(value: str) -> None:
    """An empty or unreadable 2010 timestamp reads None and is listed, the rest decodes."""
    participant = _decoded(Participant, payloads.live_participant(date_created=value))
    assert participant.date_created is None
    assert list(participant.problems) == ["date_created"]
    assert participant.date_updated == datetime(2024, 3, 4, 10, 5, tzinfo=UTC)


def test_2010_timestamp_in_iso_spelling_is_read() -> None:
    """An ISO 8601 timestamp in a 2010 field is read as the moment it names."""
    participant = _decoded(
        Participant, payloads.live_participant(date_updated="2011-02-18T21:07:19Z")
    )
    assert participant.date_updated == datetime(2011, 2, 18, 21, 7, 19, tzinfo=UTC)
    assert participant.problems == {}


@pytest.mark.parametrize(
    ("spelling", "moment"),
    [
        ("2024-03-04T10:00:01.123Z", datetime(2024, 3, 4, 10, 0, 1, 123000, tzinfo=UTC)),
        ("2024-03-04T10:00:01.1Z", datetime(2024, 3, 4, 10, 0, 1, 100000, tzinfo=UTC)),
        ("2024-03-04T10:00:01+00:00", datetime(2024, 3, 4, 10, 0, 1, tzinfo=UTC)),
        ("2024-03-04T10:00:01", datetime(2024, 3, 4, 10, 0, 1, tzinfo=UTC)),
        ("2024-03-04", datetime(2024, 3, 4, tzinfo=UTC)),
    ],
)
def test_insights_timestamps_keep_their_spelling(spelling: str, moment: datetime) -> None:
    """Fractions, +00:00, no offset and a bare date come back exactly as they were sent."""
    summary = _decoded(ConferenceSummary, payloads.conference_summary(create_time=spelling))
    assert summary.create_time == moment
    assert summary.to_dict()["create_time"] == spelling


@pytest.mark.parametrize(
    "spelling",
    [
        "Fri, 08 Oct 2021 02:58:51 GMT",
        "Fri, 08 Oct 2021 02:58:51 UT",
        "Fri, 08 Oct 2021 02:58:51 -0000",
        "08 Oct 2021 02:58:51 +0000",
    ],
)
def test_2010_timestamps_keep_their_spelling(spelling: str) -> None:
    """GMT, UT, -0000 and a missing weekday come back exactly as they were sent."""
    participant = _decoded(Participant, payloads.live_participant(date_created=spelling))
    assert participant.date_created == OCT_8
    assert participant.to_dict()["date_created"] == spelling


# -- other type drift ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "body", "field", "value"),
    [
        (ConferenceSummary, payloads.conference_summary, "duration_seconds", 64.5),
        (ConferenceSummary, payloads.conference_summary, "duration_seconds", "64"),
        (ConferenceSummary, payloads.conference_summary, "max_participants", "250"),
        (Participant, payloads.live_participant, "queue_time", 1000),
        (ParticipantSummary, payloads.participant_summary, "from", 15550100),
        (ConferenceSummary, payloads.conference_summary, "recording_enabled", "false"),
        (ConferenceSummary, payloads.conference_summary, "recording_enabled", "true"),
        (ConferenceSummary, payloads.conference_summary, "recording_enabled", 1),
        (ParticipantSummary, payloads.participant_summary, "is_moderator", "false"),
        (Participant, payloads.live_participant, "muted", 1),
        (ConferenceSummary, payloads.conference_summary, "tags", [None]),
        (ConferenceSummary, payloads.conference_summary, "tags", "low_mos"),
        (ParticipantSummary, payloads.participant_summary, "coached_participants", [None]),
        (ParticipantSummary, payloads.participant_summary, "coached_participants", payloads.CALL),
    ],
)
def test_a_value_of_another_type_reads_none_and_the_record_survives(
    model: Any, body: Any, field: str, value: Any
) -> None:
    """Numbers, booleans and lists of the wrong type read None; every other field decodes."""
    expected = model.from_dict(body())
    parsed = _decoded(model, body(**{field: value}))
    assert list(parsed.problems) == [field]
    attribute = "from_" if field == "from" else field
    assert getattr(parsed, attribute) is None
    others = [a for a in expected.__attrs_attrs__ if a.name not in (attribute, "problems", "_raw")]
    for other in others:
        assert getattr(parsed, other.name) == getattr(expected, other.name), other.name
    with pytest.raises(DecodeError) as caught:
        model.from_dict(body(**{field: value}), strict=True)
    assert str(caught.value.field).startswith(f"$.{field}")


def test_an_integral_float_in_an_integer_field_stays_a_float_in_to_dict() -> None:
    """64.0 reads as the integer 64 and comes back as 64.0."""
    summary = _decoded(ConferenceSummary, payloads.conference_summary(duration_seconds=64.0))
    assert summary.duration_seconds == 64
    assert type(summary.to_dict()["duration_seconds"]) is float


def test_key_order_is_kept() -> None:
    """to_dict() gives the keys back in the order they were received."""
    body = dict(reversed(list(payloads.participant_summary(surprise=1).items())))
    assert list(_decoded(ParticipantSummary, body).to_dict()) == list(body)


# -- typed views degrade value by value ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [("mos", "n/a"), ("total_packets_received", 49.5), ("jitter", 0.3)],
)
def test_metrics_degrade_per_value(path: str, value: Any) -> None:
    """One odd metric reads None; the other metrics and the other direction stay typed."""
    body = payloads.participant_summary()
    body["metrics"]["inbound"][path] = value
    summary = _decoded(ParticipantSummary, body)
    assert summary.problems == {}
    metrics = summary.metrics
    assert metrics is not None and metrics.inbound is not None and metrics.outbound is not None
    assert getattr(metrics.inbound, path) is None
    assert list(metrics.problems) == [f"inbound.{path}"]
    assert list(metrics.inbound.problems) == [path]
    assert metrics.inbound.total_packets_lost == 0
    assert metrics.outbound.mos == 4.1


def test_properties_degrade_per_value() -> None:
    """enter_muted: "true" reads None; the other properties stay typed."""
    body = payloads.participant_summary()
    body["properties"]["enter_muted"] = "true"
    properties = _decoded(ParticipantSummary, body).properties
    assert properties is not None
    assert properties.enter_muted is None
    assert properties.beep_on_enter is True
    assert list(properties.problems) == ["enter_muted"]


def test_detected_issues_degrade_per_value() -> None:
    """call_quality: "1" reads None; the other counts stay typed."""
    body = payloads.conference_summary()
    body["detected_issues"]["call_quality"] = "1"
    issues = _decoded(ConferenceSummary, body).detected_issues
    assert issues is not None
    assert issues.call_quality is None
    assert issues.participant_behavior == 1
    assert list(issues.problems) == ["call_quality"]


# -- round trips of models built in Python ---------------------------------------------


def test_to_dict_of_a_model_built_in_python_is_plain_json() -> None:
    """Enum members come out as plain str, and from_dict(to_dict()) gives the model back."""
    summary = ConferenceSummary.from_dict(payloads.conference_summary())
    rebuilt = ConferenceSummary(
        **{a.name: getattr(summary, a.name) for a in summary.__attrs_attrs__ if a.init}
    )
    data = rebuilt.to_dict()
    assert type(data["status"]) is str
    assert all(type(tag) is str for tag in data["tags"])
    assert ConferenceSummary.from_dict(data) == rebuilt
    assert json.loads(json.dumps(data)) == data


# -- pages and clients ---------------------------------------------------------------------


def test_a_page_survives_a_bad_record_but_not_a_bad_shape() -> None:
    """A drifted record decodes with its page; an item that is not an object fails the page."""
    good = payloads.conference_summary()
    bad = payloads.conference_summary(duration_seconds="", create_time="")
    url = URL("https://insights.twilio.com/v1/Conferences")
    body = {"conferences": [good, bad, good], "meta": {"key": "conferences"}}
    page = INSIGHTS_PAGES.parse(body, ConferenceSummary, "conferences", url)
    assert [sorted(item.problems) for item in page.items] == [
        [],
        ["create_time", "duration_seconds"],
        [],
    ]
    with pytest.raises(DecodeError) as caught:
        INSIGHTS_PAGES.parse(
            {"conferences": [good, None], "meta": {}}, ConferenceSummary, "conferences", url
        )
    assert caught.value.field == "$.conferences[1]"


async def test_a_listing_reports_each_drifted_record_once(
    fake: FakeTwilio, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Over HTTP: every record arrives, and each drifted one is one event and one log line."""
    caplog.set_level(logging.WARNING, logger="twilio_conf_insights")
    fake.data.conferences[2]["duration_seconds"] = "64"
    fake.data.conferences[5]["tags"] = [None]
    events: list[ClientEvent] = []
    client = make_client(hooks=[events.append])
    summaries = await client.conferences.list(page_size=4).collect()
    assert [s.to_dict() for s in summaries] == fake.data.conferences
    reported = [event for event in events if isinstance(event, RecordProblems)]
    assert [(e.path, list(e.problems)) for e in reported] == [
        ("$.conferences[2]", ["duration_seconds"]),
        ("$.conferences[1]", ["tags"]),
    ]
    assert all(e.resource == "ConferenceSummary" for e in reported)
    assert len([r for r in caplog.records if "do not fit" in r.getMessage()]) == 2


async def test_strict_client_raises_the_precise_decode_error(fake: FakeTwilio) -> None:
    """strict=True restores raising, naming the resource and the field."""
    fake.data.conferences[1]["recording_enabled"] = "true"
    sid = fake.data.conferences[1]["conference_sid"]
    async with InsightsClient(
        fake.account_sid,
        fake.auth_token,
        insights_base_url=fake.insights_base_url,
        api_base_url=fake.api_base_url,
        strict=True,
    ) as client:
        with pytest.raises(DecodeError) as caught:
            await client.conferences.fetch(sid)
        assert caught.value.resource == "ConferenceSummary"
        assert caught.value.field == "$.recording_enabled"
        with pytest.raises(DecodeError) as listed:
            await client.conferences.list().collect()
        assert listed.value.field == "$.conferences[1].recording_enabled"


async def test_a_foreign_next_link_costs_no_record_of_its_page() -> None:
    """The page's records are yielded; the refused next link raises only after them."""
    first = URL("https://insights.twilio.com/v1/Conferences")
    body = {
        "conferences": [payloads.conference_summary(), payloads.conference_summary()],
        "meta": {"key": "conferences", "next_page_url": "https://elsewhere.example/v1/x"},
    }
    fetched: list[URL] = []

    async def fetch_page(url: URL) -> Response:
        fetched.append(url)
        return Response(status=200, headers={}, json=copy.deepcopy(body), url=url)

    listing = Paginator(
        fetch_page,
        first,
        item_type=ConferenceSummary,
        items_key="conferences",
        page_format=INSIGHTS_PAGES,
    )
    seen: list[ConferenceSummary] = []

    async def consume() -> None:
        async for summary in listing:
            seen.append(summary)

    with pytest.raises(ForeignOriginError):
        await consume()
    assert len(seen) == 2
    assert fetched == [first]
