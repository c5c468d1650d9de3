"""The unit of work of a sync, and how a time range is cut into them. Pure functions only.

A :class:`WorkUnit` is a plain, immutable value: which account (or subaccount) to read,
with which conference filters, over which created-time window. Anything that can carry
a string (a task queue, a database row) can carry one, so windows can be handed to other
workers or machines without changing the engine that processes them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from .._errors import InvalidArgumentError

__all__ = [
    "CLOSE_AFTER",
    "DEFAULT_UNITS_AT_ONCE",
    "LIST_SPAN",
    "Listing",
    "WorkUnit",
    "api_moment",
    "cut_windows",
    "format_time",
    "join_windows",
    "parse_duration",
    "parse_time",
    "scope_key",
]

#: A window this old that holds only settled conferences is never listed again: a
#: conference's summaries settle within 30 minutes of its end, and conferences older than
#: 24 hours no longer appear in a window.
CLOSE_AFTER = timedelta(hours=24, minutes=30)
#: Adjacent windows of one scope are listed together, this much of them at a time.
LIST_SPAN = timedelta(hours=24)
#: Units a worker runs at once unless told otherwise. A unit's requests come in steps (a
#: listing, then the participants of what it listed, then a write), so a worker running
#: few of them leaves its share of the account's limit idle between steps: in benchmark
#: W8, one worker against a cap of 16 took 1.16x the wall of one process tuned to it with
#: 4 units, 1.02x with 8.
DEFAULT_UNITS_AT_ONCE = 8

_DURATION = re.compile(r"\s*(\d+)\s*([smhd])\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``1h``, ``1d`` (also ``90s``; several parts like ``1h30m``) as a timedelta."""
    position = 0
    seconds = 0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        seconds += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or not text.strip() or seconds <= 0:
        raise InvalidArgumentError(
            f"not a duration: {text!r} (write e.g. 30m, 1h, 1d or 1h30m; more than zero)"
        )
    return timedelta(seconds=seconds)


def format_time(moment: datetime) -> str:
    """UTC, whole seconds, ``2025-06-01T08:00:00Z``: the form stored and sent."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """The inverse of :func:`format_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def api_moment(value: object) -> datetime | None:
    """An API timestamp (ISO 8601; no offset means UTC) as an aware datetime, or ``None``."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _whole_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def scope_key(account_sid: str | None, filters: Mapping[str, str | int]) -> str:
    """The identity of what a listing covers: the subaccount (or none) and the filters.

    ``filters`` are Twilio's query parameters (already validated and spelled); the created
    range is not part of a scope. A window closed for one scope says nothing about another.
    """
    parts = [f"Subaccount={account_sid}"] if account_sid else []
    parts += [f"{name}={value}" for name, value in sorted(filters.items())]
    return "&".join(parts)


@attrs.frozen
class WorkUnit:
    """One window of one account's conferences: created in ``[start, end)``.

    ``subaccount`` is the subaccount read with the ``Subaccount`` filter, or ``None`` for
    what the credentials' account lists by itself; ``filters`` are the other conference
    filters, in Twilio's spelling. Plain data: :meth:`to_dict` / :meth:`from_dict`
    round-trip it through JSON for a queue.
    """

    subaccount: str | None
    start: datetime
    end: datetime
    filters: tuple[tuple[str, str], ...] = ()

    @property
    def scope(self) -> str:
        """See :func:`scope_key`."""
        return scope_key(self.subaccount, dict(self.filters))

    def query(self) -> dict[str, str]:
        """The Twilio query parameters that list exactly this unit's conferences."""
        query = dict(self.filters)
        if self.subaccount:
            query["Subaccount"] = self.subaccount
        query["CreatedAfter"] = format_time(self.start)
        query["CreatedBefore"] = format_time(self.end)
        return query

    def closable(self, now: datetime) -> bool:
        """Whether the window is old enough to be closed once everything in it settled."""
        return self.end <= now - CLOSE_AFTER

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "subaccount": self.subaccount,
            "start": format_time(self.start),
            "end": format_time(self.end),
            "filters": [list(pair) for pair in self.filters],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkUnit:
        """The inverse of :meth:`to_dict`."""
        return cls(
            subaccount=data.get("subaccount"),
            start=parse_time(data["start"]),
            end=parse_time(data["end"]),
            filters=tuple((str(k), str(v)) for k, v in data.get("filters", ())),
        )


def _aligned_cuts(start: datetime, end: datetime, width: timedelta) -> Iterator[datetime]:
    """``start``, the multiples of ``width`` since the epoch inside the range, ``end``."""
    step = int(width.total_seconds())
    yield start
    first = (int(start.timestamp()) // step + 1) * step
    cut = first
    while cut < end.timestamp():
        yield datetime.fromtimestamp(cut, UTC)
        cut += step
    yield end


def cut_windows(
    start: datetime,
    end: datetime,
    width: timedelta,
    *,
    subaccount: str | None = None,
    filters: Iterable[tuple[str, str]] = (),
) -> list[WorkUnit]:
    """Cut ``[start, end)`` into windows at multiples of ``width`` (newest first).

    Cutting at fixed multiples means two runs over overlapping ranges share their
    windows, so what one run closed the next one recognises. Both ends are taken to the
    whole second.
    """
    if width.total_seconds() < 1:
        raise InvalidArgumentError(f"window must be at least one second, got {width}")
    start, end = _whole_second(start), _whole_second(end)
    if end <= start:
        return []
    frozen = tuple(sorted((str(k), str(v)) for k, v in filters))
    cuts = list(_aligned_cuts(start, end, width))
    units = [
        WorkUnit(subaccount, low, high, frozen)
        for low, high in itertools.pairwise(cuts)
        if low < high
    ]
    units.reverse()
    return units


@attrs.frozen
class Listing:
    """Adjacent windows of one scope, newest first, listed with one query.

    One listing of ``[units[-1].start, units[0].end)`` returns exactly the conferences of
    all its windows, so a day of one-hour windows costs one request (or one per 1000
    conferences) instead of 24. Each conference belongs to the window its ``create_time``
    falls in (:meth:`unit_of`); a listing of one window is that window's own query.
    """

    units: tuple[WorkUnit, ...]

    def __attrs_post_init__(self) -> None:
        if not self.units:
            raise ValueError("a listing holds at least one window")
        for newer, older in itertools.pairwise(self.units):
            if older.end != newer.start or older.scope != newer.scope:
                raise ValueError(f"not adjacent windows of one scope: {older}, {newer}")

    @property
    def start(self) -> datetime:
        """The start of the oldest window."""
        return self.units[-1].start

    @property
    def end(self) -> datetime:
        """The end of the newest window."""
        return self.units[0].end

    def query(self) -> dict[str, str]:
        """The Twilio query parameters that list exactly the conferences of its windows."""
        query = self.units[0].query()
        query["CreatedAfter"] = format_time(self.start)
        return query

    def unit_of(self, create_time: object) -> WorkUnit | None:
        """The window a conference created at ``create_time`` belongs to (``None``: unknown).

        ``None`` for a timestamp that does not read, or lies outside the listing's range.
        """
        moment = api_moment(create_time)
        if moment is None:
            return None
        for unit in self.units:
            if unit.start <= moment < unit.end:
                return unit
        return None


def join_windows(units: Iterable[WorkUnit], span: timedelta = LIST_SPAN) -> list[Listing]:
    """Group ``units`` (newest first, as planned) into listings of adjacent windows.

    A listing takes the next unit while it is of the same scope, ends where the listing
    starts, and keeps the listing within ``span`` (a listing always takes one window, however
    wide). The order of the units is kept.
    """
    groups: list[list[WorkUnit]] = []
    for unit in units:
        group = groups[-1] if groups else None
        if (
            group is not None
            and unit.end == group[-1].start
            and unit.scope == group[-1].scope
            and group[0].end - unit.start <= span
        ):
            group.append(unit)
        else:
            groups.append([unit])
    return [Listing(tuple(group)) for group in groups]
