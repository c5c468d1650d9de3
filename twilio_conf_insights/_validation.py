"""Argument checks and their conversion to query values, run before any request is sent.

Each function returns the value in the form Twilio expects, or raises
:class:`~.errors.InvalidArgumentError` (a :class:`ValueError`) saying what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum

from ._errors import InvalidArgumentError

__all__ = [
    "MAX_PAGE_SIZE",
    "aware_datetime",
    "boolean",
    "enum_list",
    "enum_value",
    "limit",
    "page_size",
    "positive_int",
    "positive_number",
    "sid",
    "text",
]

MAX_PAGE_SIZE = 1000

_SID_PATTERNS: dict[str, re.Pattern[str]] = {}


def sid(value: object, prefix: str, name: str) -> str:
    """A Twilio SID: ``prefix`` followed by 32 hex digits (e.g. ``CF…``)."""
    pattern = _SID_PATTERNS.get(prefix)
    if pattern is None:
        pattern = _SID_PATTERNS[prefix] = re.compile(rf"{prefix}[0-9a-fA-F]{{32}}")
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = (
            repr(value)
            if isinstance(value, str) and len(value) <= 64
            else f"a {type(value).__name__}"
        )
        raise InvalidArgumentError(
            f"{name} must be '{prefix}' followed by 32 hex digits, got {shown}"
        )
    return value


def is_sid(value: str, prefix: str) -> bool:
    """Whether ``value`` has the shape of a ``prefix`` SID."""
    try:
        sid(value, prefix, "value")
    except InvalidArgumentError:
        return False
    return True


def text(value: object, name: str) -> str:
    """A non-empty string filter value."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{name} must be a non-empty string, got {value!r}")
    return value


def boolean(value: object, name: str) -> str:
    """A boolean filter as Twilio spells it: ``"true"`` / ``"false"``."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, got {value!r}")
    return "true" if value else "false"


def page_size(value: object) -> int:
    """``PageSize``: an integer from 1 to 1000."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(
            f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {value!r}"
        )
    return value


def positive_int(value: object, name: str) -> int:
    """An integer >= 1 (``True`` is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def positive_number(value: object, name: str) -> float:
    """A finite or infinite number > 0 (``True`` is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}")
    return value


def limit(value: object) -> int:
    """A paginator's ``limit``: a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"limit must be a non-negative integer, got {value!r}")
    return value


def enum_value(value: object, enum: type[Enum], name: str) -> str:
    """A member of ``enum``, given as the member or its string value."""
    if isinstance(value, enum):
        return str(value.value)
    if isinstance(value, str) and value in enum._value2member_map_:
        return value
    allowed = ", ".join(str(member.value) for member in enum)
    raise InvalidArgumentError(f"{name} must be one of: {allowed}; got {value!r}")


def enum_list(value: object, enum: type[Enum], name: str) -> str:
    """One or more members of ``enum``, sent comma-separated."""
    if isinstance(value, str | Enum):
        items: list[object] = [value]
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise InvalidArgumentError(f"{name} must be a value or a list of values of {enum.__name__}")
    if not items:
        raise InvalidArgumentError(f"{name} must not be empty")
    return ",".join(enum_value(item, enum, name) for item in items)


def aware_datetime(value: object, name: str) -> str:
    """A timezone-aware datetime, sent as ISO 8601 in UTC (``2021-10-09T17:20:53Z``)."""
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(
            f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)); "
            "a naive datetime is ambiguous"
        )
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise InvalidArgumentError(f"{name} is out of range in UTC: {value!r}") from None
    return (
        utc.replace(tzinfo=None).isoformat(
            timespec="microseconds" if utc.microsecond else "seconds"
        )
        + "Z"
    )
