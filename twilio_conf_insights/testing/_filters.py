"""List filters: Twilio query parameters turned into predicates over the served JSON.

Each builder returns the predicate (``None`` when nothing filters) and the filters it
applied, as ``(name, value)`` pairs in Twilio's spelling, for the page links.

The parameter names are written out here again on purpose, copied from Twilio's API
reference rather than imported from the SDK's filter tables (``_resources/_query.py``): a
fake that shared the SDK's spellings would agree with the SDK's mistakes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ._data import JSONDict, iso8601
from ._errors import ErrorResponse

__all__ = [
    "LIVE_PARTICIPANT_FILTERS",
    "Filters",
    "conference_filters",
    "insights_participant_filters",
    "live_participant_filters",
]

Predicate = Callable[[JSONDict], bool]
Filters = tuple[Predicate | None, list[tuple[str, str]]]

LIVE_PARTICIPANT_FILTERS = ("Muted", "Hold", "Coaching")

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")


def _given(query: Mapping[str, str], names: tuple[str, ...]) -> list[tuple[str, str]]:
    # An empty value is how form encoders spell "not set"; Twilio ignores it too.
    return [(name, query[name]) for name in names if query.get(name)]


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def _all_of(predicates: list[Predicate]) -> Predicate | None:
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    first, *rest = predicates

    # A listing tries every conference of the data set: the first (most selective) test
    # alone, before a generator is made, keeps that cheap for a benchmark's large fake.
    def matches(item: JSONDict) -> bool:
        return first(item) and all(predicate(item) for predicate in rest)

    return matches


def _equals(key: str, value: Any) -> Predicate:
    return lambda item: item.get(key) == value


def _created_since(moment: str) -> Predicate:
    # Served timestamps share one fixed-width UTC format, so string order is time order.
    return lambda conference: (conference.get("create_time") or "") >= moment


def _created_before(moment: str) -> Predicate:
    return lambda conference: (conference.get("create_time") or "~") < moment


def _has_any(key: str, names: frozenset[str]) -> Predicate:
    """``item[key]`` (a list, or an object's keys) shares a name with ``names``."""
    return lambda item: not names.isdisjoint(item.get(key) or ())


def _has_issue(names: frozenset[str]) -> Predicate:
    def matches(conference: JSONDict) -> bool:
        issues = conference.get("detected_issues") or {}
        return any((issues.get(name) or 0) > 0 for name in names)

    return matches


def _timestamp(name: str, value: str) -> str:
    """``value`` as the served ISO form, rounded up to the second, so strings compare."""
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise ErrorResponse.bad_request(
            f"{name} must be an ISO 8601 timestamp like 2021-10-09T17:20:53Z, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso8601(math.ceil(moment.timestamp()))


def _subaccount(name: str, value: str) -> Predicate:
    if not _ACCOUNT_SID.fullmatch(value):
        raise ErrorResponse.bad_request(f"{name} must be an AC SID, got {value!r}")
    return _equals("account_sid", value)


#: Each filter of ``GET /v1/Conferences``, by Twilio's name: its predicate.
_CONFERENCE_PREDICATES: dict[str, Callable[[str, str], Predicate]] = {
    "ConferenceSid": lambda _, value: _equals("conference_sid", value),
    "FriendlyName": lambda _, value: _equals("friendly_name", value),
    "Status": lambda _, value: _equals("status", value),
    "CreatedAfter": lambda name, value: _created_since(_timestamp(name, value)),
    "CreatedBefore": lambda name, value: _created_before(_timestamp(name, value)),
    "MixerRegion": lambda _, value: _equals("mixer_region", value),
    "Tags": lambda _, value: _has_any("tags", _csv(value)),
    "Subaccount": _subaccount,
    "DetectedIssues": lambda _, value: _has_issue(_csv(value)),
    "EndReason": lambda _, value: _equals("end_reason", value),
}

#: Each filter of ``GET /v1/Conferences/{sid}/Participants``: its predicate.
_INSIGHTS_PARTICIPANT_PREDICATES: dict[str, Callable[[str, str], Predicate]] = {
    "ParticipantSid": lambda _, value: _equals("participant_sid", value),
    "Label": lambda _, value: _equals("label", value),
    "Events": lambda _, value: _has_any("events", _csv(value)),
}


_MOST_SELECTIVE = frozenset({"ConferenceSid", "ParticipantSid", "Subaccount"})


def _filters(
    query: Mapping[str, str], predicates: Mapping[str, Callable[[str, str], Predicate]]
) -> Filters:
    given = _given(query, tuple(predicates))
    built = [(name, predicates[name](name, value)) for name, value in given]  # validates
    # Tried most selective first: an identity or an account rules out most items at once.
    built.sort(key=lambda pair: pair[0] not in _MOST_SELECTIVE)
    return _all_of([predicate for _, predicate in built]), given


def conference_filters(query: Mapping[str, str]) -> Filters:
    """Filters of ``GET /v1/Conferences``.

    ``CreatedAfter`` is inclusive and ``CreatedBefore`` exclusive; ``Tags`` and
    ``DetectedIssues`` take comma-separated names and match any of them.
    """
    return _filters(query, _CONFERENCE_PREDICATES)


def insights_participant_filters(query: Mapping[str, str]) -> Filters:
    """Filters of ``GET /v1/Conferences/{sid}/Participants``.

    ``Events`` takes comma-separated event names and matches participants whose
    ``events`` object has any of them.
    """
    return _filters(query, _INSIGHTS_PARTICIPANT_PREDICATES)


def _boolean(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ErrorResponse.bad_request(f"{name} must be true or false, got {value!r}")
    return lowered == "true"


def live_participant_filters(query: Mapping[str, str]) -> Filters:
    """Filters of ``GET /2010-04-01/…/Participants.json`` (``true``/``false`` each)."""
    given = _given(query, LIVE_PARTICIPANT_FILTERS)
    predicates = [_equals(name.lower(), _boolean(name, value)) for name, value in given]
    return _all_of(predicates), given
