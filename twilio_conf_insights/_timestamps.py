"""Twilio's two timestamp spellings, read into aware datetimes and written back.

Insights writes ISO 8601 (``2024-03-04T10:00:01Z``), the 2010 API RFC 2822
(``Mon, 04 Mar 2024 10:00:07 +0000``). Each family's fields read their own spelling first
and the other one second: Twilio has been seen sending either in either API, and a value
that reads as a moment in time is worth more than a ``None``.

Writing back (:func:`format_iso8601`, :func:`format_rfc2822`) only happens for models built
in Python: a decoded model gives back the spelling it received.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "format_iso8601",
    "format_rfc2822",
    "parse_iso8601",
    "parse_optional_iso8601",
    "parse_rfc2822",
]

# What the standard library raises on text that is no timestamp, or one out of range.
_UNREADABLE = (TypeError, ValueError, IndexError, OverflowError)


def _aware(moment: datetime) -> datetime:
    # A timestamp without an offset is UTC in Twilio's APIs.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(text: str) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(text))
    except _UNREADABLE:
        return None


def _rfc(text: str) -> datetime | None:
    try:
        return _aware(email.utils.parsedate_to_datetime(text))
    except _UNREADABLE:
        return None


def _either(
    value: Any, first: Callable[[str], datetime | None], second: Callable[[str], datetime | None]
) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected a timestamp string, got {type(value).__name__}")
    moment = first(value) or second(value)
    if moment is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return moment


def parse_iso8601(value: Any, _: Any = None) -> datetime:
    """An Insights timestamp: ISO 8601, or failing that RFC 2822."""
    return _either(value, _iso, _rfc)


def parse_rfc2822(value: Any, _: Any = None) -> datetime | None:
    """A 2010 API timestamp (nullable): RFC 2822, or failing that ISO 8601."""
    return None if value is None else _either(value, _rfc, _iso)


def parse_optional_iso8601(value: Any, _: Any = None) -> datetime | None:
    """:func:`parse_iso8601`, with ``null`` allowed."""
    return None if value is None else parse_iso8601(value)


def format_iso8601(value: datetime) -> str:
    """``2024-03-04T10:00:01Z`` (UTC written as ``Z``, as Insights does)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def format_rfc2822(value: datetime | None) -> str | None:
    """``Mon, 04 Mar 2024 10:00:07 +0000`` (whole seconds: RFC 2822 has no fractions)."""
    return None if value is None else email.utils.format_datetime(value)
