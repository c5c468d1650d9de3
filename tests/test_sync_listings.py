"""Listings: adjacent windows of one scope listed with one query (pure logic, no I/O).

What a user sees of it, a day of windows listed with one query, is observed through the
fake's requests in ``tests/test_sync.py``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twilio_conf_insights.sync import WorkUnit, cut_windows
from twilio_conf_insights.sync._units import Listing, join_windows

_START = datetime(2025, 6, 1, tzinfo=UTC)
_SUB = "AC" + "c" * 32


def _day(width: timedelta, subaccount: str | None = None) -> list[WorkUnit]:
    return cut_windows(_START, _START + timedelta(days=3), width, subaccount=subaccount)


@settings(deadline=None)
@given(
    hours=st.integers(1, 96),
    width_minutes=st.sampled_from([15, 30, 60, 180, 1440, 2880]),
    span_hours=st.integers(1, 48),
)
def test_listings_keep_every_window_once_in_order(
    hours: int, width_minutes: int, span_hours: int
) -> None:
    """Joined listings hold the planned units in their order, each once, within the span."""
    units = cut_windows(_START, _START + timedelta(hours=hours), timedelta(minutes=width_minutes))
    span = timedelta(hours=span_hours)
    listings = join_windows(units, span)
    assert [u for listing in listings for u in listing.units] == units
    for listing in listings:
        assert len(listing.units) == 1 or listing.end - listing.start <= span
    # Greedy: a listing stops only where the next window would not fit.
    for first, second in itertools.pairwise(listings):
        assert first.end - second.units[0].start > span


def test_windows_of_other_scopes_or_with_gaps_are_not_joined() -> None:
    """A listing never mixes scopes, and never spans a gap between windows."""
    main = _day(timedelta(hours=1))[:2]
    sub = _day(timedelta(hours=1), subaccount=_SUB)[:2]
    assert [len(x.units) for x in join_windows(main + sub)] == [2, 2]
    gapped = [main[0], _day(timedelta(hours=1))[5]]
    assert [len(x.units) for x in join_windows(gapped)] == [1, 1]
    with pytest.raises(ValueError, match="adjacent"):
        Listing((main[0], sub[1]))
    with pytest.raises(ValueError, match="at least one"):
        Listing(())


def test_a_window_wider_than_the_span_is_a_listing_of_its_own() -> None:
    """Two-day windows exceed the one-day span: one listing each, never dropped."""
    units = _day(timedelta(days=2))
    assert [len(x.units) for x in join_windows(units)] == [1] * len(units)


@pytest.mark.parametrize(
    ("create_time", "hour"),
    [
        ("2025-06-03T23:59:59Z", 23),
        ("2025-06-03T05:00:00Z", 5),  # a window's start belongs to it
        ("2025-06-03T05:00:00", 5),  # no offset: UTC
        ("2025-06-03T07:30:00+02:00", 5),
        ("2025-06-03T05:59:59.999+00:00", 5),
    ],
)
def test_a_conference_belongs_to_the_window_of_its_create_time(create_time: str, hour: int) -> None:
    """`unit_of` places a create_time in the window whose [start, end) holds it."""
    (newest, *_) = join_windows(_day(timedelta(hours=1)))
    unit = newest.unit_of(create_time)
    assert unit is not None
    assert unit.start == datetime(2025, 6, 3, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    "create_time", [None, 17, "", "yesterday", "2025-06-04T00:00:00Z", "2025-06-02T23:59:59Z"]
)
def test_a_create_time_that_does_not_place_is_unknown(create_time: object) -> None:
    """A missing, unreadable or out-of-range create_time belongs to no window."""
    (newest, *_) = join_windows(_day(timedelta(hours=1)))
    assert newest.unit_of(create_time) is None
