"""Conference summary (Voice Insights v1): ``/v1/Conferences/{ConferenceSid}``."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property

import attrs

from ._base import JSONValue, TwilioModel, known_shape
from .enums import ConferenceEndReason, ConferenceStatus, ConferenceTag, ProcessingState, Region

__all__ = ["ConferenceSummary", "DetectedIssues"]


@attrs.frozen
class DetectedIssues(TwilioModel):
    """Counts of potential issues Twilio detected, by category."""

    call_quality: int | None = None
    region_configuration: int | None = None
    participant_behavior: int | None = None


@attrs.frozen
class ConferenceSummary(TwilioModel):
    """Metadata and quality overview of one conference.

    Every field is optional: Twilio sends ``null`` for what it does not know (yet).
    Timestamps are timezone-aware. ``status``, ``end_reason``, ``mixer_region``... are enum
    members when known and the raw string when Twilio added a value since this release.
    """

    conference_sid: str | None = None
    account_sid: str | None = None
    friendly_name: str | None = None
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_seconds: int | None = None
    connect_duration_seconds: int | None = None
    status: ConferenceStatus | str | None = None
    max_participants: int | None = None
    max_concurrent_participants: int | None = None
    unique_participants: int | None = None
    end_reason: ConferenceEndReason | str | None = None
    #: Call SID (``CA…``) of the participant whose actions ended the conference.
    ended_by: str | None = None
    mixer_region: Region | str | None = None
    mixer_region_requested: Region | str | None = None
    recording_enabled: bool | None = None
    #: ``detected_issues`` as sent (the API leaves it untyped); see :attr:`detected_issues`.
    detected_issues_json: JSONValue = attrs.field(
        default=None, metadata={"json": "detected_issues", "shape": DetectedIssues}
    )
    tags: list[ConferenceTag | str] | None = None
    #: Details of the tags, including severity (shape not documented: raw JSON).
    tag_info: JSONValue = None
    processing_state: ProcessingState | str | None = None
    url: str | None = None
    #: Links to nested resources, e.g. ``conference_participants``.
    links: dict[str, JSONValue] | None = None

    @cached_property
    def detected_issues(self) -> DetectedIssues | None:
        """Issue counts by category, or ``None`` if absent or not of the documented shape."""
        return known_shape(DetectedIssues, self.detected_issues_json)
