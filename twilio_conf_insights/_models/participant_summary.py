"""Conference participant summary (Voice Insights v1).

``/v1/Conferences/{ConferenceSid}/Participants/{ParticipantSid}``.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property

import attrs

from ._base import JSONValue, TwilioModel, known_shape
from .enums import CallDirection, CallStatus, CallType, JitterBufferSize, ProcessingState, Region

__all__ = [
    "AvgMax",
    "ParticipantMetrics",
    "ParticipantProperties",
    "ParticipantSummary",
    "StreamMetrics",
]


@attrs.frozen
class AvgMax(TwilioModel):
    """Average and maximum of a measure over the call (jitter, latency: milliseconds)."""

    avg: float | None = None
    max: float | None = None


@attrs.frozen
class StreamMetrics(TwilioModel):
    """Quality of one direction of a participant's media stream."""

    total_packets_lost: int | None = None
    total_packets_received: int | None = None
    #: Percentage of packets lost, 0-100.
    packet_loss_percentage: float | None = None
    jitter: AvgMax | None = None
    latency: AvgMax | None = None
    #: Mean opinion score, 1.0 (bad) to 4.5 (excellent).
    mos: float | None = None


@attrs.frozen
class ParticipantMetrics(TwilioModel):
    """Call quality of a participant, per direction."""

    inbound: StreamMetrics | None = None
    outbound: StreamMetrics | None = None


@attrs.frozen
class ParticipantProperties(TwilioModel):
    """How the participant was configured to join."""

    start_conference_on_enter: bool | None = None
    end_conference_on_exit: bool | None = None
    play_early_media: bool | None = None
    enter_muted: bool | None = None
    beep_on_enter: bool | None = None
    beep_on_exit: bool | None = None


@attrs.frozen
class ParticipantSummary(TwilioModel):
    """Quality summary of one participant of a conference.

    The API's ``from`` field is ``from_`` here. The API leaves ``metrics`` and
    ``properties`` untyped: they are kept as sent in ``metrics_json`` and ``properties_json``
    (so ``to_dict()`` gives them back exactly, and a change on Twilio's side never breaks
    parsing), and :attr:`metrics` and :attr:`properties` are their typed views.
    """

    participant_sid: str | None = None
    label: str | None = None
    conference_sid: str | None = None
    call_sid: str | None = None
    account_sid: str | None = None
    call_direction: CallDirection | str | None = None
    from_: str | None = attrs.field(default=None, metadata={"json": "from"})
    to: str | None = None
    call_status: CallStatus | str | None = None
    country_code: str | None = None
    is_moderator: bool | None = None
    join_time: datetime | None = None
    leave_time: datetime | None = None
    duration_seconds: int | None = None
    outbound_queue_length: int | None = None
    outbound_time_in_queue: int | None = None
    jitter_buffer_size: JitterBufferSize | str | None = None
    is_coach: bool | None = None
    coached_participants: list[str] | None = None
    participant_region: Region | str | None = None
    conference_region: Region | str | None = None
    call_type: CallType | str | None = None
    processing_state: ProcessingState | str | None = None
    #: ``properties`` as sent; see :attr:`properties`.
    properties_json: JSONValue = attrs.field(
        default=None, metadata={"json": "properties", "shape": ParticipantProperties}
    )
    #: Participant actions, e.g. ``{"mute": [epoch_ms, ...]}`` (shape not documented).
    events: JSONValue = None
    #: ``metrics`` as sent; see :attr:`metrics`.
    metrics_json: JSONValue = attrs.field(
        default=None, metadata={"json": "metrics", "shape": ParticipantMetrics}
    )
    url: str | None = None

    @cached_property
    def metrics(self) -> ParticipantMetrics | None:
        """Call quality per direction, or ``None`` if absent or not of the documented shape."""
        return known_shape(ParticipantMetrics, self.metrics_json)

    @cached_property
    def properties(self) -> ParticipantProperties | None:
        """How the participant joined, or ``None`` if absent or not of the documented shape."""
        return known_shape(ParticipantProperties, self.properties_json)
