"""Listing filters as tables: each filter's keyword, Twilio's spelling and its check.

One table per listing is the only place a filter is written down: the resource builds its
query from it, and the command line builds its options from it (``cli/_options.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from typing import Literal

import attrs

from .. import _validation
from .._errors import InvalidArgumentError

__all__ = ["Filter", "FilterTable", "boolean", "member_of", "members_of", "sid_of", "text"]

#: What a filter's values look like, for whoever reads them from text (the CLI).
Kind = Literal["text", "time", "bool"]


@attrs.frozen
class Filter:
    """One filter of a listing."""

    #: The keyword argument of the resource's ``list()``.
    name: str
    #: Twilio's query parameter.
    parameter: str
    #: Checks a value and spells it as Twilio expects; raises InvalidArgumentError.
    check: Callable[[object, str], str]
    #: What it selects, in a few words.
    summary: str
    #: How a value is written, e.g. ``CF…`` (``None``: no hint).
    metavar: str | None = None
    kind: Kind = "text"
    #: The allowed values, when they are an enum's.
    choices: type[Enum] | None = None
    #: For a filter taking several values: the name of one of them (``tags`` -> ``tag``).
    item: str | None = None


class FilterTable:
    """A listing's filters by keyword, and the query they make."""

    def __init__(self, what: str, filters: Iterable[Filter]) -> None:
        self._what = what
        self.filters: Mapping[str, Filter] = {f.name: f for f in filters}

    def __iter__(self) -> Iterator[Filter]:
        return iter(self.filters.values())

    def names(self) -> list[str]:
        """Every keyword, in the table's order."""
        return list(self.filters)

    def query(self, given: Mapping[str, object]) -> dict[str, str | int]:
        """Check the given filters (``None`` = not given) and spell them for Twilio."""
        unknown = sorted(set(given) - self.filters.keys())
        if unknown:
            raise InvalidArgumentError(
                f"unknown {self._what} filter(s) {', '.join(unknown)}; "
                f"known: {', '.join(self.filters)}"
            )
        query: dict[str, str | int] = {}
        for name, value in given.items():
            if value is not None:
                found = self.filters[name]
                query[found.parameter] = found.check(value, name)
        return query


def sid_of(prefix: str) -> Callable[[object, str], str]:
    """The check of a SID starting with ``prefix``."""
    return lambda value, name: _validation.sid(value, prefix, name)


def member_of(enum: type[Enum]) -> Callable[[object, str], str]:
    """The check of one value of ``enum`` (or any other string Twilio may add)."""
    return lambda value, name: _validation.enum_value(value, enum, name)


def members_of(enum: type[Enum]) -> Callable[[object, str], str]:
    """The check of one value or a list of values of ``enum``."""
    return lambda value, name: _validation.enum_list(value, enum, name)


text = _validation.text
boolean = _validation.boolean
