"""The report's values: from stored JSON exactly what models give, and figures in one order.

A report reads a dozen values per record either off models (the API) or from the JSON at
a few paths (a store, with SQL). These tests hold the two to the same values over arbitrary
odd JSON, and the figures to the same result whatever order the records come in.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests import payloads
from tests.report_data import conference_documents, participant_documents, pick
from twilio_conf_insights import ConferenceReport, ConferenceSummary, ParticipantSummary
from twilio_conf_insights.cli._html_data import build_content, histogram, percentile_of_two
from twilio_conf_insights.cli._report import Thresholds, build_report, percentile, poor_order
from twilio_conf_insights.cli._report_values import (
    CONFERENCE_PATHS,
    PARTICIPANT_PATHS,
    STREAM_PATHS,
    ConferenceValues,
    ParticipantValues,
    conference_values,
    conference_values_from_json,
    finite_number,
    participant_values,
    participant_values_from_json,
)


def _from_json_conference(document: dict[str, Any]) -> ConferenceValues:
    return conference_values_from_json([pick(document, path) for path in CONFERENCE_PATHS])


def _from_json_participant(document: dict[str, Any]) -> ParticipantValues:
    inbound, outbound = (type(pick(document, path)) is dict for path in STREAM_PATHS)
    values = [pick(document, path) for path in PARTICIPANT_PATHS]
    return participant_values_from_json(values, inbound, outbound)


@settings(max_examples=300)
@given(conference_documents())
def test_conference_values_from_json_equal_those_of_the_model(document: dict[str, Any]) -> None:
    """A conference's values from its JSON are what its decoded model gives, odd values too."""
    model = ConferenceSummary.from_dict(copy.deepcopy(document))
    assert _from_json_conference(document) == conference_values(model)


@settings(max_examples=300)
@given(participant_documents())
def test_participant_values_from_json_equal_those_of_the_model(document: dict[str, Any]) -> None:
    """A participant's values from its JSON are what its decoded model gives, odd values too."""
    model = ParticipantSummary.from_dict(copy.deepcopy(document))
    assert _from_json_participant(document) == participant_values(model)


def test_drifted_values_read_as_none_on_both_paths() -> None:
    """Strings, bools, NaN and huge integers are no measures; 3.0 counts as an issue count."""
    stream = {"mos": "3.1", "packet_loss_percentage": True, "jitter": {"avg": float("nan")}}
    stream["latency"] = {"avg": 10**400}
    document = payloads.participant_summary(metrics={"inbound": stream, "outbound": "x"})
    values = _from_json_participant(document)
    assert values == participant_values(ParticipantSummary.from_dict(document))
    assert values.inbound is not None
    assert (values.inbound.mos, values.inbound.packet_loss, values.inbound.jitter) == (None,) * 3
    assert values.inbound.latency is None
    assert values.outbound is None
    summary = payloads.conference_summary(
        detected_issues={"call_quality": 3.0, "region_configuration": True}, tags=["a", None]
    )
    conference = _from_json_conference(summary)
    assert conference == conference_values(ConferenceSummary.from_dict(summary))
    assert conference.issues == ("call_quality",)
    assert conference.tags == ()


@given(st.floats(allow_nan=True) | st.integers() | st.booleans() | st.text(max_size=2))
def test_finite_number_takes_finite_numbers_only(value: Any) -> None:
    """finite_number keeps finite ints and floats (as floats) and nothing else."""
    result = finite_number(value)
    if type(value) is float:
        assert result == value if math.isfinite(value) else result is None
    elif type(value) is int:
        try:
            expected: float | None = float(value)
        except OverflowError:  # beyond float's range: no finite number
            expected = None
        assert result == expected
    else:  # booleans and text
        assert result is None


def _tied_reports() -> list[ConferenceReport]:
    """Conferences whose participants tie on every measure, several per conference."""
    reports = []
    for c in range(6):
        conference = payloads.conference_summary(
            conference_sid=f"CF{c:032x}",
            tags=["low_mos", "high_jitter"][: c % 3],
            status=["completed", "in_progress"][c % 2],
            mixer_region=["us1", "ie1", None][c % 3],
            detected_issues={"call_quality": c % 2, "participant_behavior": 1},
            start_time=f"2024-03-0{1 + c % 3}T10:00:05Z",
        )
        participants = []
        for p in range(5):
            metrics = {
                "inbound": payloads.stream_metrics(2.5 if p % 2 else 4.2, jitter=40.0, loss=3),
                "outbound": payloads.stream_metrics(3.0, jitter=p * 10.0),
            }
            participants.append(
                ParticipantSummary.from_dict(
                    payloads.participant_summary(
                        participant_sid=f"CP{c:016x}{p:016x}",
                        conference_sid=conference["conference_sid"],
                        participant_region=[None, "us1", "ie1"][p % 3],
                        call_type=["sip", "carrier"][p % 2],
                        metrics=metrics if p != 4 else None,
                    )
                )
            )
        reports.append(ConferenceReport(ConferenceSummary.from_dict(conference), participants))
    return reports


def _shuffled(reports: list[ConferenceReport], seed: int) -> list[ConferenceReport]:
    rng = random.Random(seed)
    shuffled = [
        ConferenceReport(r.summary, rng.sample(r.participants, len(r.participants)))
        for r in reports
    ]
    rng.shuffle(shuffled)
    return shuffled


@settings(max_examples=25)
@given(st.integers(0, 10**6))
def test_figures_do_not_depend_on_the_order_records_come_in(seed: int) -> None:
    """Text and HTML figures are equal, orders included, however the records are shuffled."""
    reports = _tied_reports()
    shuffled = _shuffled(reports, seed)
    assert build_report(shuffled) == build_report(reports)
    html, html_shuffled = build_content(reports, top=None), build_content(shuffled, top=None)
    assert html_shuffled == html
    for content in (html, html_shuffled):  # orders, which == on dicts does not see
        assert list(content.detected_issues.items()) == list(html.detected_issues.items())
        assert list(content.call_types.items()) == list(html.call_types.items())
    for name in ("by_status", "by_mixer_region", "by_tag"):
        assert list(getattr(build_report(shuffled), name)) == list(getattr(html.quality, name))


def test_ties_on_every_measure_are_ordered_by_participant_then_conference() -> None:
    """Poor participants equal in MOS, loss and jitter are listed by participant SID."""
    report = build_report(_tied_reports(), Thresholds())
    poor = report.poor_participants
    assert len(poor) > 10
    assert list(poor) == sorted(poor, key=poor_order)
    same = [p for p in poor if (p.mos, p.packet_loss_percentage, p.jitter_avg) == (2.5, 3, 40.0)]
    assert len(same) > 2
    sids = [p.participant_sid or "" for p in same]
    assert sids == sorted(sids)


def _binned_one_by_one(values: list[float], cap: float) -> tuple[float, tuple[int, ...], int]:
    """The histogram's bins counted value by value, as the definition says."""
    top = max(cap, 1e-9)
    width = histogram([top], cap=top).width
    counts = [0] * max(1, math.ceil(top / width))
    overflow = 0
    for value in values:
        index = max(0, math.floor(value / width))
        if index >= len(counts):
            overflow += value > len(counts) * width
            index = len(counts) - 1
        counts[index] += 1
    return width, tuple(counts), overflow


_measures = st.lists(
    st.floats(min_value=-1, max_value=1e4, allow_nan=False)
    | st.sampled_from([0.0, 0.1, 0.3, 0.7, 1.0, 30.0]),
    min_size=1,
    max_size=300,
)


@given(_measures, st.none() | st.floats(min_value=0, max_value=1e3, allow_nan=False))
def test_histogram_bins_like_counting_value_by_value(
    values: list[float], cap: float | None
) -> None:
    """Binary searches over sorted values give exactly the bins of a value-by-value count."""
    result = histogram(values, cap=cap)
    top = cap if cap is not None else percentile(sorted(values), 0.99)
    assert (result.width, result.counts, result.overflow) == _binned_one_by_one(values, top)


@given(_measures, _measures, st.floats(min_value=0, max_value=1))
def test_percentile_of_two_sorted_runs_is_that_of_their_union(
    first: list[float], second: list[float], q: float
) -> None:
    """The percentile of two sorted runs equals that of the sorted union, bit for bit."""
    union = sorted(first + second)
    assert percentile_of_two(sorted(first), sorted(second), q) == percentile(union, q)
    assert percentile_of_two([], sorted(second), q) == percentile(sorted(second), q)
