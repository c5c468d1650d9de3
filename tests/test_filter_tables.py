"""One table per listing spells its filters: the same table types, checks and builds options."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from twilio_conf_insights import ConferenceFilters, InvalidArgumentError
from twilio_conf_insights._resources._query import FilterTable
from twilio_conf_insights._resources.conferences import CONFERENCE_FILTERS
from twilio_conf_insights._resources.participant_summaries import PARTICIPANT_SUMMARY_FILTERS
from twilio_conf_insights._resources.participants import PARTICIPANT_FILTERS
from twilio_conf_insights.cli._options import conference_filters
from twilio_conf_insights.cli._parser import parse_args

from .reference import INSIGHTS_SPEC, TWILIO_2010_SPEC, load_spec

#: Each listing's table, and its path in the reference files.
LISTINGS = [
    (CONFERENCE_FILTERS, INSIGHTS_SPEC, "/v1/Conferences"),
    (
        PARTICIPANT_SUMMARY_FILTERS,
        INSIGHTS_SPEC,
        "/v1/Conferences/{ConferenceSid}/Participants",
    ),
    (
        PARTICIPANT_FILTERS,
        TWILIO_2010_SPEC,
        "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants.json",
    ),
]
_PAGING = {"PageSize", "Page", "PageToken"}


def _query_parameters(spec_name: str, path: str) -> list[str]:
    operations: dict[str, Any] = load_spec(spec_name)["paths"][path]
    parameters = [*operations.get("parameters", []), *operations["get"].get("parameters", [])]
    return [p["name"] for p in parameters if p.get("in") == "query"]


@pytest.mark.parametrize(("table", "spec", "path"), LISTINGS)
def test_each_table_spells_exactly_the_reference_filters(
    table: FilterTable, spec: str, path: str
) -> None:
    """Every query filter of the OpenAPI listing is in its table, spelled as Twilio does."""
    expected = [p for p in _query_parameters(spec, path) if p not in _PAGING]
    assert [f.parameter for f in table] == expected


def test_the_typed_filters_are_the_tables_filters() -> None:
    """``ConferenceFilters`` (what type checkers see) names exactly the table's filters."""
    assert list(typing.get_type_hints(ConferenceFilters)) == CONFERENCE_FILTERS.names()


def test_an_unknown_filter_names_the_known_ones() -> None:
    """A misspelt filter is refused with the list of filters the listing has."""
    with pytest.raises(InvalidArgumentError, match=r"unknown participant filter.*muted, hold"):
        PARTICIPANT_FILTERS.query({"mute": True})


def test_every_conference_filter_has_its_option() -> None:
    """The CLI's options come from the table: each filter reaches list() by its keyword."""
    args = parse_args(
        [
            "conferences",
            "list",
            "--conference-sid",
            "CF" + "a" * 32,
            "--friendly-name",
            "weekly",
            "--status",
            "completed",
            "--created-after",
            "2025-06-01",
            "--created-before",
            "2025-06-02",
            "--mixer-region",
            "us1",
            "--tag",
            "low_mos,high_jitter",
            "--subaccount",
            "AC" + "b" * 32,
            "--detected-issue",
            "call_quality",
            "--end-reason",
            "last_participant_left",
        ]
    )
    given = conference_filters(args)
    assert sorted(given) == sorted(CONFERENCE_FILTERS.names())
    query = CONFERENCE_FILTERS.query(given)
    assert query["Tags"] == "low_mos,high_jitter"
    assert query["CreatedAfter"] == "2025-06-01T00:00:00Z"
