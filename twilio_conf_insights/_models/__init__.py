"""Typed models of the API's resources, and their enumerations."""

from ._base import JSONValue, TwilioModel
from .conference import ConferenceSummary, DetectedIssues
from .enums import (
    CallDirection,
    CallStatus,
    CallType,
    ConferenceEndReason,
    ConferenceStatus,
    ConferenceTag,
    DetectedIssue,
    JitterBufferSize,
    ParticipantStatus,
    ProcessingState,
    Region,
)
from .participant import Participant
from .participant_summary import (
    AvgMax,
    ParticipantMetrics,
    ParticipantProperties,
    ParticipantSummary,
    StreamMetrics,
)

__all__ = [
    "AvgMax",
    "CallDirection",
    "CallStatus",
    "CallType",
    "ConferenceEndReason",
    "ConferenceStatus",
    "ConferenceSummary",
    "ConferenceTag",
    "DetectedIssue",
    "DetectedIssues",
    "JSONValue",
    "JitterBufferSize",
    "Participant",
    "ParticipantMetrics",
    "ParticipantProperties",
    "ParticipantStatus",
    "ParticipantSummary",
    "ProcessingState",
    "Region",
    "StreamMetrics",
    "TwilioModel",
]
