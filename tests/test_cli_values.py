"""The CLI's option value types as plain functions: what each accepts and how it refuses."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights.cli._values import (
    count_or_all,
    int_at_least,
    non_negative_float,
    parse_bool,
    parse_datetime,
    port,
    split_commas,
)


@pytest.mark.parametrize(
    ("parse", "text", "says"),
    [
        (int_at_least(1), "two", "not an integer: 'two'"),
        (int_at_least(1), "0", "must be >= 1, got 0"),
        (count_or_all, "-1", "must be >= 0, got -1"),
        (count_or_all, "some", "not an integer: 'some'"),
        (port, "65536", "must be a TCP port (0-65535), got 65536"),
        (port, "http", "not an integer: 'http'"),
        (non_negative_float, "fast", "not a number: 'fast'"),
        (non_negative_float, "-0.5", "must be a finite number >= 0, got '-0.5'"),
        (non_negative_float, "nan", "must be a finite number >= 0, got 'nan'"),
        (non_negative_float, "inf", "must be a finite number >= 0, got 'inf'"),
        (parse_bool, "yes", "expected true or false, got 'yes'"),
    ],
)
def test_bad_values_are_refused_with_what_was_given(
    parse: Callable[[str], object], text: str, says: str
) -> None:
    """Every refusal is an argparse error (a usage line, exit 2) quoting the value."""
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse(text)
    assert str(caught.value) == says


def test_good_values_parse() -> None:
    """The accepted spellings give the values the commands use."""
    assert count_or_all(" ALL ") == "all"
    assert count_or_all("0") == 0
    assert port("0") == 0 and port("65535") == 65535
    assert parse_bool(" True ") is True and parse_bool("false") is False
    assert int_at_least(3)("3") == 3


@given(st.floats(min_value=0, allow_infinity=False, allow_nan=False))
def test_non_negative_float_takes_every_finite_number_from_zero(value: float) -> None:
    """Whatever repr a finite non-negative float has, it parses back to itself."""
    assert non_negative_float(repr(value)) == value


@given(st.floats().filter(lambda value: not (math.isfinite(value) and value >= 0)))
def test_non_negative_float_refuses_the_rest(value: float) -> None:
    """Negative numbers, NaN and infinities are refused."""
    with pytest.raises(argparse.ArgumentTypeError):
        non_negative_float(repr(value))


def test_timestamps_without_an_offset_are_utc() -> None:
    """A date or date-time with no offset is taken as UTC; a wrong one says what to write."""
    assert parse_datetime("2025-06-01") == datetime(2025, 6, 1, tzinfo=UTC)
    assert parse_datetime("2025-06-01T08:00:00+02:00") == datetime(2025, 6, 1, 6, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match=r"e\.g\. 2025-06-01"):
        parse_datetime("June")


def test_repeated_and_comma_separated_values_are_one_list() -> None:
    """`--tag a --tag b,c` and `--tag a,b,c` are the same list; no option is None."""
    assert split_commas(["a", "b, c", ","]) == ["a", "b", "c"]
    assert split_commas(None) is None
