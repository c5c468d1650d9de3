"""One Event Streams delivery: a JSON array of CloudEvents, sorted into summary records.

:func:`parse_delivery` is pure (no I/O): the application factory and any other web
framework use it the same way. A body that is not a JSON array of objects raises
:class:`MalformedDeliveryError` (answer 400). Each event of a Voice Insights summary type
has its ``data`` decoded through the one converter, tolerantly like every response: values
that do not fit are listed in the record's ``problems`` and logged once. Events of any other
type are kept apart (and only counted by the application); a summary event whose ``data`` is
not an object cannot become a record and is kept apart too.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import attrs

from .._decoding import decode
from .._errors import DecodeError
from .._models import ConferenceSummary, ParticipantSummary
from ._envelope import CloudEvent, EventType

__all__ = [
    "ConferenceSummaryEvent",
    "Delivery",
    "MalformedDeliveryError",
    "ParticipantSummaryEvent",
    "SummaryEvent",
    "parse_delivery",
    "record_of",
]

_log = logging.getLogger("twilio_conf_insights.eventstreams")

_CONFERENCE_TYPES = frozenset(
    {EventType.CONFERENCE_SUMMARY_COMPLETE, EventType.CONFERENCE_SUMMARY_PARTIAL}
)
_PARTICIPANT_TYPES = frozenset(
    {EventType.PARTICIPANT_SUMMARY_COMPLETE, EventType.CONFERENCE_PARTICIPANT_SUMMARY_COMPLETE}
)


class MalformedDeliveryError(ValueError):
    """A delivery body that is not a JSON array of objects (answer 400)."""


@attrs.frozen
class ConferenceSummaryEvent:
    """A conference summary event: the envelope and its decoded summary."""

    event: CloudEvent
    summary: ConferenceSummary

    @property
    def partial(self) -> bool:
        """Whether this is the ``.partial`` summary sent at conference start."""
        return self.event.type == EventType.CONFERENCE_SUMMARY_PARTIAL

    @property
    def time(self) -> datetime | None:
        """When the event happened (the envelope's ``time``), if it said."""
        return self.event.time


@attrs.frozen
class ParticipantSummaryEvent:
    """A participant summary ``.complete`` event: the envelope and its decoded summary."""

    event: CloudEvent
    summary: ParticipantSummary

    @property
    def time(self) -> datetime | None:
        """When the event happened (the envelope's ``time``), if it said."""
        return self.event.time


#: A summary record carried by an event, with its event.
SummaryEvent = ConferenceSummaryEvent | ParticipantSummaryEvent


@attrs.frozen
class Delivery:
    """The events of one delivery, sorted out, in the order they came."""

    #: Every event, as received.
    events: tuple[CloudEvent, ...]
    #: The summary records (conference and participant summaries), in delivery order.
    records: tuple[SummaryEvent, ...]
    #: Events of other types: acknowledged, never stored.
    other: tuple[CloudEvent, ...] = ()
    #: Summary events whose ``data`` is not an object: no record can come of them.
    undecodable: tuple[CloudEvent, ...] = ()

    @property
    def conferences(self) -> tuple[ConferenceSummaryEvent, ...]:
        """The conference summary records (``.complete`` and ``.partial``)."""
        return tuple(r for r in self.records if isinstance(r, ConferenceSummaryEvent))

    @property
    def participants(self) -> tuple[ParticipantSummaryEvent, ...]:
        """The participant summary records."""
        return tuple(r for r in self.records if isinstance(r, ParticipantSummaryEvent))


def record_of(event: CloudEvent, *, path: str = "$") -> SummaryEvent | None:
    """The typed record an event carries, or ``None`` for an event of another type.

    Raises :class:`~twilio_conf_insights.DecodeError` when a summary event's ``data`` is
    not a JSON object. ``path`` names the event in log lines (``$[3]``).
    """
    where = f"{path}.data"
    if event.type in _CONFERENCE_TYPES:
        return ConferenceSummaryEvent(event, decode(event.data, ConferenceSummary, path=where))
    if event.type in _PARTICIPANT_TYPES:
        return ParticipantSummaryEvent(event, decode(event.data, ParticipantSummary, path=where))
    return None


def _json(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedDeliveryError("the body is not JSON") from None


def parse_delivery(body: bytes | str) -> Delivery:
    """Decode one delivery body (a JSON array of CloudEvents) into a :class:`Delivery`."""
    items = _json(body)
    if type(items) is not list:
        raise MalformedDeliveryError("the body is not a JSON array")
    events: list[CloudEvent] = []
    records: list[SummaryEvent] = []
    other: list[CloudEvent] = []
    undecodable: list[CloudEvent] = []
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise MalformedDeliveryError(f"event {index} is not a JSON object")
        event = decode(item, CloudEvent, path=f"$[{index}]")
        events.append(event)
        try:
            record = record_of(event, path=f"$[{index}]")
        except DecodeError:
            _log.warning("event %s (%s): data is not an object; skipped", event.id, event.type)
            undecodable.append(event)
            continue
        if record is None:
            other.append(event)
        else:
            records.append(record)
    return Delivery(tuple(events), tuple(records), tuple(other), tuple(undecodable))
