"""A unit received from the queue, checked as strictly as the command line checks arguments.

A signature says who sent a unit, not that it is sane: a planner with a wrong clock or a
bug must not make a worker close a window for ever or list another account's data. A unit
is read from its JSON form field by field (nothing missing, nothing extra, every type as
sent), its subaccount SID by pattern, its filters by the conference listing's filter table
(the table the command line's options come from), its window and its "now" against this
machine's clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from .._errors import InvalidArgumentError
from .._resources._query import Filter
from .._resources.conferences import CONFERENCE_FILTERS
from .._validation import sid
from ..sync._units import WorkUnit, format_time, parse_time

__all__ = [
    "CLOCK_SKEW",
    "MAX_QUEUED",
    "MAX_WINDOW",
    "RETENTION",
    "check_unit",
    "time_from_wire",
    "unit_from_wire",
]

#: How far a unit's "now" or start may be ahead of this machine's clock.
CLOCK_SKEW = timedelta(minutes=5)
#: How old a unit's "now" may be: it may wait in the queue, but a unit older than its
#: result is kept (a week) has no one waiting for it.
MAX_QUEUED = timedelta(days=7)
#: Twilio keeps Insights data 30 days (one more for time zones and slow queues): a window
#: that ended before has nothing left to list.
RETENTION = timedelta(days=31)
#: The widest window a unit may cover (its listing is one query; Twilio keeps 30 days).
MAX_WINDOW = timedelta(days=31)

_UNIT_FIELDS = frozenset({"subaccount", "start", "end", "filters"})
#: Conference filters a unit may carry, by Twilio's name. The created range is the unit's
#: window and the subaccount its own field: neither may come as a filter too.
_UNIT_FILTERS: Mapping[str, Filter] = {
    spec.parameter: spec
    for spec in CONFERENCE_FILTERS
    if spec.kind != "time" and spec.name != "subaccount"
}


def time_from_wire(value: object, name: str) -> datetime:
    """A time as ``format_time`` writes it; :class:`InvalidArgumentError` otherwise."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a UTC time like 2025-06-01T08:00:00Z")
    try:
        return parse_time(value)
    except ValueError:
        raise InvalidArgumentError(
            f"{name} must be a UTC time like 2025-06-01T08:00:00Z, got {value[:40]!r}"
        ) from None


def _filters(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise InvalidArgumentError("filters must be a list of [name, value] pairs")
    pairs: list[tuple[str, str]] = []
    for pair in value:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(part, str) for part in pair)
        ):
            raise InvalidArgumentError("filters must be a list of [name, value] pairs of text")
        name, text = pair
        spec = _UNIT_FILTERS.get(name)
        if spec is None:
            raise InvalidArgumentError(
                f"unknown conference filter {name[:40]!r}; known: {', '.join(_UNIT_FILTERS)}"
            )
        given: object = text.split(",") if spec.item is not None else text
        if spec.check(given, name) != text:  # the check's spelling is the one a planner sends
            raise InvalidArgumentError(f"filter {name} is not spelled as Twilio's: {text[:40]!r}")
        pairs.append((name, text))
    if len({name for name, _ in pairs}) != len(pairs):
        raise InvalidArgumentError("a filter is given twice")
    return tuple(pairs)


def unit_from_wire(data: object) -> WorkUnit:
    """The :class:`WorkUnit` of a unit's JSON form (:meth:`WorkUnit.to_dict`), read strictly.

    Raises :class:`InvalidArgumentError` saying what is wrong.
    """
    if not isinstance(data, dict) or set(data) != _UNIT_FIELDS:
        raise InvalidArgumentError(
            f"a unit has exactly the fields {', '.join(sorted(_UNIT_FIELDS))}"
        )
    subaccount = data["subaccount"]
    if subaccount is not None:
        subaccount = sid(subaccount, "AC", "subaccount")
    return WorkUnit(
        subaccount=subaccount,
        start=time_from_wire(data["start"], "start"),
        end=time_from_wire(data["end"], "end"),
        filters=_filters(data["filters"]),
    )


def check_unit(unit: WorkUnit, now: datetime, *, clock: datetime) -> None:
    """Refuse a unit whose window or "now" no planner on a sane clock would send.

    ``now`` is the planner's moment the unit is judged against (whether its window may
    close); ``clock`` is this machine's time. Raises :class:`InvalidArgumentError`.
    """
    if now > clock + CLOCK_SKEW:
        raise InvalidArgumentError(
            f"its now ({format_time(now)}) is ahead of this machine's clock "
            f"({format_time(clock)}) by more than {_minutes(CLOCK_SKEW)}: "
            "a window would be closed too early"
        )
    if now < clock - MAX_QUEUED:
        raise InvalidArgumentError(
            f"its now ({format_time(now)}) is more than {MAX_QUEUED.days} days old"
        )
    if unit.start >= unit.end:
        raise InvalidArgumentError(
            f"its window starts ({format_time(unit.start)}) at or after its end"
        )
    if unit.end - unit.start > MAX_WINDOW:
        raise InvalidArgumentError(f"its window is wider than {MAX_WINDOW.days} days")
    if unit.start > clock + CLOCK_SKEW:
        raise InvalidArgumentError(f"its window starts in the future ({format_time(unit.start)})")
    if unit.end < clock - RETENTION:
        raise InvalidArgumentError(
            f"its window ended {(clock - unit.end).days} days ago ({format_time(unit.end)}); "
            f"Twilio keeps 30 days of Insights data"
        )


def _minutes(span: timedelta) -> str:
    return f"{int(span.total_seconds() // 60)} minutes"
