"""The CloudEvent envelope of an Event Streams delivery, and the Voice Insights event types.

The envelope is a model like every other: decoded by the one converter, tolerant (a value
that does not fit reads as ``None`` and is named in ``problems``), unknown keys kept in
``extra``, and ``to_dict()`` gives back exactly what was received.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from .._models import JSONValue, TwilioModel

__all__ = ["CloudEvent", "EventType"]


class EventType(StrEnum):
    """The Voice Insights event types whose ``data`` is a summary this package decodes."""

    #: The conference summary at conference end.
    CONFERENCE_SUMMARY_COMPLETE = "com.twilio.voice.insights.conference-summary.complete"
    #: A partial conference summary at conference start.
    CONFERENCE_SUMMARY_PARTIAL = "com.twilio.voice.insights.conference-summary.partial"
    #: A participant summary when the participant leaves (one of Twilio's two spellings).
    PARTICIPANT_SUMMARY_COMPLETE = "com.twilio.voice.insights.participant-summary.complete"
    #: The same event under the other spelling Twilio's pages use.
    CONFERENCE_PARTICIPANT_SUMMARY_COMPLETE = (
        "com.twilio.voice.insights.conference-participant-summary.complete"
    )


@attrs.frozen
class CloudEvent(TwilioModel):
    """One CloudEvent (specification 1.0) as Event Streams delivers it.

    ``type`` says what happened, ``data`` carries the record (raw JSON: see
    :func:`~twilio_conf_insights.eventstreams.record_of` for the typed summary), ``time``
    is when it happened. Every attribute is optional: a field that is missing or does not
    fit reads as ``None`` (listed in ``problems``); keys the specification's extensions add
    are in ``extra``.
    """

    specversion: str | None = None
    type: str | None = None
    source: str | None = None
    id: str | None = None
    time: datetime | None = None
    dataschema: str | None = None
    datacontenttype: str | None = None
    subject: str | None = None
    data: JSONValue = None
